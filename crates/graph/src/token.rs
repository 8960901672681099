//! The `$skiptoken` of a page: where the next page starts, in which snapshot, for which query.
//!
//! It is opaque to clients (base64url of a small JSON object) and checked when it comes back: a
//! token given with another query than the one that made it, or altered, is refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Where a page walk stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipToken {
    /// The Delta version of the table the walk reads (every page reads this version).
    #[serde(rename = "v")]
    pub version: i64,
    /// Event time of the last row returned (µs since the epoch).
    #[serde(rename = "t")]
    pub time_us: i64,
    /// Id of the last row returned.
    #[serde(rename = "i")]
    pub id: String,
    /// Content hash of the last row returned: rows sharing an id and a time (versions of one
    /// record) are ordered by it too.
    #[serde(rename = "h")]
    pub content_hash: i64,
    /// Fingerprint of the query the walk answers.
    #[serde(rename = "q")]
    pub query: u64,
}

/// Tokens longer than this are not ours.
const MAX_TOKEN_LEN: usize = 4096;

impl SkipToken {
    /// The token as text for a `$skiptoken=` parameter.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a token serialises");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a token; `None` when it is not one this server made.
    pub fn decode(text: &str) -> Option<SkipToken> {
        if text.len() > MAX_TOKEN_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let t = SkipToken {
            version: 12,
            time_us: 1_727_740_800_123_456,
            id: "a'b\"c".into(),
            content_hash: -5,
            query: u64::MAX,
        };
        assert_eq!(SkipToken::decode(&t.encode()), Some(t.clone()));
        assert!(t
            .encode()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        for bad in ["", "abc", "!!!!", &"A".repeat(10_000), "e30"] {
            assert_eq!(SkipToken::decode(bad), None, "{bad:?}");
        }
    }
}
