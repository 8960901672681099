//! Snapshots: which data files make up each table at one committed version.
//!
//! A [`StoreSnapshot`] holds one [`TableSnapshot`] per Delta table (a tenant's log). It never
//! changes: a commit makes a new one, so a query planned over a snapshot reads exactly the rows
//! that were committed when it started, whatever commits, compactions or retention runs happen
//! meanwhile (their removed files stay on disk until a vacuum after the grace period).

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_model::{LogKind, SignInKind};

use crate::layout::PartitionKey;

/// One data file of a table, as its `add` action in the Delta log describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// Path relative to the data directory, `/`-separated.
    pub path: String,
    /// Tenant.
    pub tenant: String,
    /// Table.
    pub log: LogKind,
    /// Days since the epoch (UTC) of every row in the file (the `date` partition).
    pub day: i32,
    /// Rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// No event time in the file is earlier (ns since the epoch).
    pub min_time_ns: i64,
    /// No event time in the file is later (ns since the epoch).
    pub max_time_ns: i64,
    /// The Delta `stats` JSON of the file.
    pub stats: Arc<str>,
    /// Sign-ins: every row's `signInEventTypes` is exactly this one type (the file's `add`
    /// action carries it as the tag [`SIGN_IN_KIND_TAG`]); `None` when the file may hold any.
    pub sign_in_kind: Option<SignInKind>,
}

/// The `add` action tag naming the one sign-in type of a file's rows ([`DataFile::sign_in_kind`]).
pub const SIGN_IN_KIND_TAG: &str = "gatehouse.signInEventType";

impl DataFile {
    /// The partition the file belongs to.
    pub fn partition(&self) -> PartitionKey {
        PartitionKey {
            tenant: self.tenant.clone(),
            log: self.log,
            day: self.day,
        }
    }
}

/// One table (a tenant's log) at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSnapshot {
    /// Tenant.
    pub tenant: String,
    /// Log.
    pub log: LogKind,
    /// The Delta table version.
    pub version: i64,
    /// Its live files.
    pub files: Vec<DataFile>,
}

impl TableSnapshot {
    /// Rows in the table.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

/// Every table of a data directory, each at the version it had when the snapshot was taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreSnapshot {
    tables: BTreeMap<(String, LogKind), Arc<TableSnapshot>>,
}

impl StoreSnapshot {
    /// A snapshot of these tables.
    pub fn new(tables: impl IntoIterator<Item = Arc<TableSnapshot>>) -> StoreSnapshot {
        StoreSnapshot {
            tables: tables
                .into_iter()
                .map(|t| ((t.tenant.clone(), t.log), t))
                .collect(),
        }
    }

    /// The same snapshot with one table replaced (or added).
    pub fn with_table(&self, table: Arc<TableSnapshot>) -> StoreSnapshot {
        let mut tables = self.tables.clone();
        tables.insert((table.tenant.clone(), table.log), table);
        StoreSnapshot { tables }
    }

    /// One table, if it exists.
    pub fn table(&self, tenant: &str, log: LogKind) -> Option<&Arc<TableSnapshot>> {
        self.tables.get(&(tenant.to_string(), log))
    }

    /// Every table.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableSnapshot>> {
        self.tables.values()
    }

    /// Live files of a log, optionally of one tenant (tenant ids are case-insensitive) and
    /// overlapping a time range (ns).
    pub fn files_for<'a>(
        &'a self,
        log: LogKind,
        tenant: Option<&'a str>,
        range: Option<(i64, i64)>,
    ) -> impl Iterator<Item = &'a DataFile> + 'a {
        self.tables
            .values()
            .filter(move |t| {
                t.log == log && tenant.is_none_or(|want| t.tenant.eq_ignore_ascii_case(want))
            })
            .flat_map(|t| t.files.iter())
            .filter(move |f| {
                range.is_none_or(|(lo, hi)| f.max_time_ns >= lo && f.min_time_ns <= hi)
            })
    }

    /// Every live file.
    pub fn files(&self) -> impl Iterator<Item = &DataFile> {
        self.tables.values().flat_map(|t| t.files.iter())
    }

    /// Tenants that have tables.
    pub fn tenants(&self) -> Vec<String> {
        let mut t: Vec<String> = self.tables.keys().map(|(t, _)| t.clone()).collect();
        t.dedup();
        t
    }

    /// Rows stored in a log, over all tenants.
    pub fn rows(&self, log: LogKind) -> u64 {
        self.files_for(log, None, None).map(|f| f.rows).sum()
    }

    /// The sum of the table versions: it grows with every commit, so two snapshots of one store
    /// with the same generation are the same.
    pub fn generation(&self) -> i64 {
        self.tables.values().map(|t| t.version + 1).sum()
    }
}
