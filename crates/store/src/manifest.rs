//! The manifest: the list of live Parquet files, replaced atomically.
//!
//! A commit writes `manifest.json.tmp`, flushes it to disk, renames it over `manifest.json` and
//! flushes the directory. POSIX rename is atomic, so readers and crash recovery always see either
//! the old or the new list, never a mix.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use gatehouse_model::LogKind;
use serde::{Deserialize, Serialize};

use crate::layout::MANIFEST_FILE;
use crate::{io_err, Result, StoreError};

/// One live Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the data directory, `/`-separated.
    pub path: String,
    /// Tenant.
    pub tenant: String,
    /// Table name (`signins`, …).
    pub table: String,
    /// Days since the epoch (UTC) of every row in the file.
    pub day: i32,
    /// Rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Earliest event time, ns since the epoch.
    pub min_time_ns: i64,
    /// Latest event time, ns since the epoch.
    pub max_time_ns: i64,
}

impl FileEntry {
    /// The log kind of the file's table.
    pub fn log(&self) -> Option<LogKind> {
        LogKind::ALL
            .into_iter()
            .find(|l| l.table_name() == self.table)
    }
}

/// The committed state of the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Store format version.
    pub format: u32,
    /// Incremented at every commit.
    pub version: u64,
    /// Live files.
    pub files: Vec<FileEntry>,
}

/// The current store format.
pub const FORMAT_VERSION: u32 = 1;

impl Manifest {
    /// Loads the manifest of a data directory; an absent manifest is an empty store.
    pub fn load(root: &Path) -> Result<Manifest> {
        let path = root.join(MANIFEST_FILE);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest {
                    format: FORMAT_VERSION,
                    ..Manifest::default()
                })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let m: Manifest =
            serde_json::from_slice(&text).map_err(|e| StoreError::CorruptManifest {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if m.format != FORMAT_VERSION {
            return Err(StoreError::CorruptManifest {
                path,
                reason: format!(
                    "store format {} is not supported (this gatehouse reads format {FORMAT_VERSION})",
                    m.format
                ),
            });
        }
        Ok(m)
    }

    /// Writes the manifest atomically (tmp file, fsync, rename, fsync directory).
    pub fn save(&self, root: &Path) -> Result<()> {
        let tmp = root.join(format!("{MANIFEST_FILE}.tmp"));
        let dest = root.join(MANIFEST_FILE);
        let mut m = self.clone();
        m.format = FORMAT_VERSION;
        let text = serde_json::to_vec(&m).map_err(|e| StoreError::Invalid(e.to_string()))?;
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&text).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        sync_dir(root)?;
        Ok(())
    }

    /// Live files of a table, optionally of one tenant (tenant ids are case-insensitive) and
    /// overlapping a time range (ns).
    pub fn files_for<'a>(
        &'a self,
        log: LogKind,
        tenant: Option<&'a str>,
        range: Option<(i64, i64)>,
    ) -> impl Iterator<Item = &'a FileEntry> + 'a {
        self.files.iter().filter(move |f| {
            f.table == log.table_name()
                && tenant.is_none_or(|t| f.tenant.eq_ignore_ascii_case(t))
                && range.is_none_or(|(lo, hi)| f.max_time_ns >= lo && f.min_time_ns <= hi)
        })
    }

    /// Tenants that have data.
    pub fn tenants(&self) -> Vec<String> {
        let mut t: Vec<String> = self.files.iter().map(|f| f.tenant.clone()).collect();
        t.sort();
        t.dedup();
        t
    }

    /// Rows stored in a table.
    pub fn rows(&self, log: LogKind) -> u64 {
        self.files_for(log, None, None).map(|f| f.rows).sum()
    }
}

/// Flushes a directory entry (after a rename into it).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(io_err(dir))?;
        d.sync_all().map_err(io_err(dir))?;
    }
    Ok(())
}
