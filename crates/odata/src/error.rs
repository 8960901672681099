//! The error type: which option failed, where in its value, and why.

use std::fmt;

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text does not follow the grammar (unexpected token or character, unterminated string).
    Syntax,
    /// Well-formed but meaningless: an unknown function or variable, a date out of range, an
    /// integer that overflows, a non-boolean where a condition is needed, `$top=0`.
    Invalid,
    /// A [`Limits`](crate::Limits) bound was exceeded (length, depth, nodes, string, list).
    Limit,
    /// A `$`-prefixed query option this crate does not support, such as `$expand`.
    UnknownOption,
    /// The same option was given twice (`$top` and `top` count as the same option).
    RepeatedOption,
}

/// A query option that could not be parsed.
///
/// `position`, when present, is a 0-based byte offset into the option's (decoded) value, always
/// on a char boundary and at most the value's length (the length itself means "at the end").
/// Display gives `"$filter: at position 17: expected a value after 'eq', found end of input"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// The option's name as the client wrote it (`$filter` for [`parse_filter`](crate::parse_filter)).
    pub option: String,
    /// 0-based byte offset into the option's value, if the problem has a place.
    pub position: Option<usize>,
    /// The kind of problem.
    pub kind: ErrorKind,
    /// What was expected and what was found, without the option name or position.
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}: at position {}: {}", self.option, p, self.message),
            None => write!(f, "{}: {}", self.option, self.message),
        }
    }
}

/// An error inside one option's value, before the option's name is known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fail {
    pub pos: usize,
    pub kind: ErrorKind,
    pub msg: String,
}

impl Fail {
    pub(crate) fn syntax(pos: usize, msg: impl Into<String>) -> Fail {
        Fail {
            pos,
            kind: ErrorKind::Syntax,
            msg: msg.into(),
        }
    }

    pub(crate) fn invalid(pos: usize, msg: impl Into<String>) -> Fail {
        Fail {
            pos,
            kind: ErrorKind::Invalid,
            msg: msg.into(),
        }
    }

    pub(crate) fn limit(pos: usize, msg: impl Into<String>) -> Fail {
        Fail {
            pos,
            kind: ErrorKind::Limit,
            msg: msg.into(),
        }
    }

    pub(crate) fn into_error(self, option: &str) -> Error {
        Error {
            option: option.to_string(),
            position: Some(self.pos),
            kind: self.kind,
            message: self.msg,
        }
    }
}
