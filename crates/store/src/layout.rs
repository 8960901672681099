//! Where things live in a data directory.
//!
//! ```text
//! DATA/
//!   .writer.lock                        held by the one process writing
//!   _staging/                           files being written (never read)
//!   _gatehouse/positions.json           where each ingest source has got to
//!   tenants/<tenant>/<table>/           one Delta table per tenant and log
//!     _delta_log/                       its transaction log (commits, checkpoints)
//!     date=YYYY-MM-DD/part-<uuid>.parquet
//! ```
//! `<table>` is `signins`, `audits`, `provisioning`, `riskyUsers` or `riskDetections`; the date is
//! the UTC day of the record's event time (the table's `date` partition column). Which files are
//! live is what the Delta log says; a folder may also hold files a compaction replaced (until a
//! vacuum deletes them), so other engines read the tables as Delta tables, not as folders.

use std::path::{Path, PathBuf};

use gatehouse_model::LogKind;

/// Gatehouse's own state beside the tables (positions of sources, tokens, the server's address).
pub const STATE_DIR: &str = "_gatehouse";
/// Where ingest sources have got to ([`crate::StoreWriter::record_positions`]).
pub const POSITIONS_FILE: &str = "_gatehouse/positions.json";
/// The writer lock file.
pub const LOCK_FILE: &str = ".writer.lock";
/// Where files are written before they are moved into place.
pub const STAGING_DIR: &str = "_staging";
/// The folder holding one folder per tenant.
pub const TENANTS_DIR: &str = "tenants";

/// The tenant used for records that name none and were ingested without `--tenant`.
pub const DEFAULT_TENANT: &str = "default";

/// One partition: a tenant's table on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    /// Tenant id (validated with [`check_tenant_id`]).
    pub tenant: String,
    /// Table.
    pub log: LogKind,
    /// Days since 1970-01-01 (UTC).
    pub day: i32,
}

impl PartitionKey {
    /// The partition's folder, relative to the data directory.
    pub fn dir(&self) -> PathBuf {
        table_dir(&self.tenant, self.log).join(format!("date={}", day_to_string(self.day)))
    }
}

/// A tenant's table of one log, relative to the data directory.
pub fn table_dir(tenant: &str, log: LogKind) -> PathBuf {
    Path::new(TENANTS_DIR).join(tenant).join(log.table_name())
}

/// The day number of a `YYYY-MM-DD` date.
pub fn parse_day(date: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let days = d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?);
    i32::try_from(days.num_days()).ok()
}

/// Days since the epoch of a nanosecond timestamp.
pub fn day_of(time_ns: i64) -> i32 {
    time_ns.div_euclid(86_400_000_000_000) as i32
}

/// `YYYY-MM-DD` of a day number.
pub fn day_to_string(day: i32) -> String {
    let date = chrono::DateTime::from_timestamp(i64::from(day) * 86_400, 0)
        .map(|d| d.date_naive())
        .unwrap_or_default();
    date.format("%Y-%m-%d").to_string()
}

/// Tenant ids become folder names: only letters, digits, `-`, `_` and `.` (not leading), at most
/// 128 characters.
pub fn check_tenant_id(tenant: &str) -> Result<(), String> {
    if gatehouse_model::is_valid_tenant_id(tenant) {
        Ok(())
    } else {
        let shown: String = tenant.chars().take(60).collect();
        Err(format!(
            "tenant id {shown:?} is not usable: only letters, digits, '-', '_' and '.' (not first), at most 128 characters"
        ))
    }
}

/// A path relative to the data directory, with `/` separators (as [`crate::DataFile`] holds it).
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dir() {
        let k = PartitionKey {
            tenant: "t1".into(),
            log: LogKind::SignIns,
            day: day_of(1_700_000_000_000_000_000),
        };
        assert_eq!(k.dir(), Path::new("tenants/t1/signins/date=2023-11-14"));
        assert_eq!(day_of(-1), -1);
        assert_eq!(parse_day("2023-11-14"), Some(k.day));
        assert_eq!(parse_day("1969-12-31"), Some(-1));
        assert_eq!(parse_day("2023-13-01"), None);
    }

    #[test]
    fn hostile_tenants() {
        for bad in ["", "..", "../x", "a/b", ".hidden", "a b", &"x".repeat(200)] {
            assert!(check_tenant_id(bad).is_err(), "{bad}");
        }
        check_tenant_id("4bbb79f7-5724-4c9e-95f3-de075f6ec090").unwrap();
    }
}
