//! Where a stream stands in each table's Delta log, saved atomically after every delivery.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::OutboundError;

/// Where a stream stands in one table: every commit before `version` is delivered, and of
/// commit `version`'s new files, the first `file` are, and `row` matching rows of the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TablePosition {
    /// The next commit to read.
    pub version: i64,
    /// Files of that commit delivered.
    pub file: u32,
    /// Matching rows of the next file delivered.
    pub row: u64,
}

impl std::fmt::Display for TablePosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.f{}.r{}", self.version, self.file, self.row)
    }
}

/// A stream's positions, per table (`<tenant>/<table>`), as saved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    /// Positions per table.
    pub tables: BTreeMap<String, TablePosition>,
    /// Whether the stream has started: a table first seen later is read from its first commit
    /// (it was created while the stream ran), one seen at the first start from where `start`
    /// says.
    pub started: bool,
    /// Records delivered since the stream was created.
    pub delivered: u64,
    /// Commits or files that were gone when the stream came to them (log cleanup or vacuum
    /// after a long stop): their rows were not delivered.
    #[serde(default)]
    pub gaps: u64,
}

impl Cursor {
    /// The cursor file of stream `name` in the data directory `root`.
    pub fn path(root: &Path, name: &str) -> PathBuf {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        root.join("_gatehouse")
            .join("outbound")
            .join(format!("{safe}.json"))
    }

    /// Reads a cursor (a new one when the file does not exist).
    pub fn load(path: &Path) -> Result<Cursor, OutboundError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| OutboundError::Cursor {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cursor::default()),
            Err(e) => Err(OutboundError::Cursor {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        }
    }

    /// Saves the cursor: written aside, synced, then renamed over the old one, so a crash
    /// leaves either the old cursor or the new.
    pub fn save(&self, path: &Path) -> Result<(), OutboundError> {
        let err = |e: std::io::Error| OutboundError::Cursor {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let tmp = path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(err)?;
            f.write_all(&serde_json::to_vec_pretty(self).unwrap_or_default())
                .map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, path).map_err(err)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_a_save_and_a_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = Cursor::path(dir.path(), "soc/failures");
        assert!(path.ends_with("_gatehouse/outbound/soc_failures.json"));
        assert_eq!(Cursor::load(&path).unwrap(), Cursor::default());
        let mut c = Cursor {
            started: true,
            delivered: 7,
            ..Cursor::default()
        };
        c.tables.insert(
            "contoso/signins".into(),
            TablePosition {
                version: 3,
                file: 1,
                row: 40,
            },
        );
        c.save(&path).unwrap();
        assert_eq!(Cursor::load(&path).unwrap(), c);
        std::fs::write(&path, b"{not json").unwrap();
        let e = Cursor::load(&path).unwrap_err().to_string();
        assert!(e.contains("soc_failures.json"), "{e}");
    }
}
