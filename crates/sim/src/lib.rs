//! Gatehouse simulator: a deterministic generator of a realistic Microsoft Entra ID tenant's
//! logs (interactive, non-interactive, service principal, managed identity and AD FS sign-ins,
//! directory audits, provisioning events) with labelled attacks and benign look-alikes.
//!
//! Output is either bare Graph beta records or Azure Monitor diagnostic-settings envelopes
//! (the storage-account blob layout). The same options always produce the same bytes: every
//! day is generated from its own seed, days are generated in parallel and written in order.
//!
//! ```no_run
//! use gatehouse_sim::{simulate_to_dir, SimOptions};
//! let opts = SimOptions { users: 50, days: 2, ..SimOptions::default() };
//! let summary = simulate_to_dir(&opts, std::path::Path::new("/tmp/sim"), &mut |_, _, _| {})?;
//! println!("{} interactive sign-ins", summary.interactive_user);
//! # Ok::<(), gatehouse_sim::SimError>(())
//! ```

mod attacks;
mod audit;
mod catalog;
mod day;
mod json;
mod output;
mod provisioning;
mod rng;
mod signin;
mod tenant;

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::Serialize;

pub use attacks::Scenario;
pub use output::{simulate_to_dir, SimSummary};
pub use tenant::{
    App, AppKind, CaPolicy, Credential, Device, DeviceKind, Group, ManagedIdentity, Office,
    ProvisioningJob, RelyingParty, ServicePrincipal, Tenant, User,
};

use json::{Ticks, TimeFmt, TICKS_PER_HOUR};
use signin::Kind;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// An option is out of range or malformed.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// An unknown scenario name in an attack list.
    #[error("unknown attack scenario '{0}' (known: {1})")]
    UnknownScenario(String, String),
    /// Writing output failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Serialising the tenant directory or labels failed.
    #[error("serialisation error: {0}")]
    Json(#[from] serde_json::Error),
}

/// Output record shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Bare Microsoft Graph beta records (`signIn`, `directoryAudit`, `provisioningObjectSummary`).
    #[default]
    Graph,
    /// Azure Monitor diagnostic-settings envelopes, laid out like the storage-account export.
    Diagnostic,
}

impl FromStr for OutputFormat {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "graph" => Ok(OutputFormat::Graph),
            "diagnostic" | "diag" | "azure-monitor" | "monitor" => Ok(OutputFormat::Diagnostic),
            other => Err(SimError::InvalidOption(format!(
                "format '{other}' (expected graph or diagnostic)"
            ))),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Graph => "graph",
            OutputFormat::Diagnostic => "diagnostic",
        })
    }
}

/// Which labelled scenarios to inject.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum AttackSelection {
    /// All scenarios (attacks and benign look-alikes).
    #[default]
    Default,
    /// A clean tenant: no scenarios, no labels.
    None,
    /// Exactly these scenarios.
    List(Vec<Scenario>),
}

/// Simulation options.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Number of user accounts (members, guests and disabled accounts included).
    pub users: u32,
    /// Number of days to simulate.
    pub days: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// First simulated day (UTC).
    pub start: NaiveDate,
    /// Tenant id (GUID). Empty: derived from the seed.
    pub tenant_id: String,
    /// Output record shape.
    pub format: OutputFormat,
    /// Labelled scenarios to inject.
    pub attacks: AttackSelection,
    /// Gzip the output files (`.gz` suffix).
    pub gzip: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            users: 200,
            days: 7,
            seed: 1,
            start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
            tenant_id: tenant_id_for_seed(1),
            format: OutputFormat::Graph,
            attacks: AttackSelection::Default,
            gzip: false,
        }
    }
}

impl SimOptions {
    /// The tenant id in use: `tenant_id` lower-cased, or one derived from the seed if empty.
    pub fn effective_tenant_id(&self) -> String {
        if self.tenant_id.trim().is_empty() {
            tenant_id_for_seed(self.seed)
        } else {
            self.tenant_id.trim().to_ascii_lowercase()
        }
    }

    /// Checks ranges and the tenant id format.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.users == 0 || self.users > 1_000_000 {
            return Err(SimError::InvalidOption(format!(
                "users must be 1..=1000000, got {}",
                self.users
            )));
        }
        if self.days == 0 || self.days > 3660 {
            return Err(SimError::InvalidOption(format!(
                "days must be 1..=3660, got {}",
                self.days
            )));
        }
        if json::parse_guid(&self.effective_tenant_id()).is_none() {
            return Err(SimError::InvalidOption(format!(
                "tenant id '{}' is not a GUID",
                self.tenant_id
            )));
        }
        Ok(())
    }
}

/// A deterministic tenant id for a seed.
pub fn tenant_id_for_seed(seed: u64) -> String {
    let mut r = rng::Rng::from_parts(&[seed, 0x007E_4A1D]);
    json::guid_string(r.guid())
}

/// Parses `"default"`, `"none"` or a comma-separated list of scenario names
/// (e.g. `"password_spray,brute_force"`).
pub fn parse_attack_list(s: &str) -> Result<AttackSelection, SimError> {
    let t = s.trim().to_ascii_lowercase();
    match t.as_str() {
        "" | "default" | "all" => return Ok(AttackSelection::Default),
        "none" | "off" => return Ok(AttackSelection::None),
        _ => {}
    }
    let mut v = Vec::new();
    for part in t.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match Scenario::from_name(part) {
            Some(sc) => {
                if !v.contains(&sc) {
                    v.push(sc)
                }
            }
            None => {
                let known: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                return Err(SimError::UnknownScenario(
                    part.to_string(),
                    known.join(", "),
                ));
            }
        }
    }
    Ok(AttackSelection::List(v))
}

/// Ground truth for one identity in one scenario.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Label {
    /// Scenario name (see [`Scenario::name`]).
    pub scenario: String,
    /// Human-readable description with the indicators (IPs, places).
    pub description: String,
    /// UPN of the user, or display name of the service principal.
    pub identity: String,
    /// `id` of every sign-in / audit record that belongs to the scenario for this identity.
    pub record_ids: Vec<String>,
    /// Time of the first record.
    #[serde(serialize_with = "ser_time")]
    pub start: chrono::DateTime<chrono::Utc>,
    /// Time of the last record.
    #[serde(serialize_with = "ser_time")]
    pub end: chrono::DateTime<chrono::Utc>,
    /// False for benign look-alikes.
    pub malicious: bool,
}

fn ser_time<S: serde::Serializer>(
    t: &chrono::DateTime<chrono::Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let ticks = t.timestamp() * json::TICKS_PER_SEC + (t.timestamp_subsec_nanos() / 100) as i64;
    s.serialize_str(&json::time_string(ticks, TimeFmt::Frac7Z))
}

/// Record counts of one day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DayCounts {
    /// Interactive user sign-ins (AD FS included).
    pub interactive_user: u64,
    /// Non-interactive user sign-ins.
    pub non_interactive_user: u64,
    /// Service principal sign-ins.
    pub service_principal: u64,
    /// Managed identity sign-ins.
    pub managed_identity: u64,
    /// AD FS sign-ins (a subset of `interactive_user`).
    pub adfs: u64,
    /// User sign-ins with a non-zero error code.
    pub user_failures: u64,
    /// Directory audit records.
    pub audits: u64,
    /// Provisioning records.
    pub provisioning: u64,
    /// Labels.
    pub labels: u64,
}

impl DayCounts {
    /// All sign-ins of the day.
    pub fn signins(&self) -> u64 {
        self.interactive_user
            + self.non_interactive_user
            + self.service_principal
            + self.managed_identity
    }
}

/// The three record streams of a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Signins = 0,
    Audits = 1,
    Provisioning = 2,
}

/// Receives rendered lines: `line` hands out the buffer to append one record to, `end_line`
/// is called once the record (with its trailing newline) is complete.
pub(crate) trait LineSink {
    fn line(&mut self, stream: Stream, category: &'static str, hour: u8) -> &mut Vec<u8>;
    fn end_line(&mut self, stream: Stream, category: &'static str, hour: u8)
        -> std::io::Result<()>;
}

/// Renders a planned day into a sink, in time order. Returns the day's counts.
pub(crate) fn render_day(
    tenant: &Tenant,
    graph: bool,
    mut d: day::Day,
    sink: &mut dyn LineSink,
) -> std::io::Result<(DayCounts, Vec<Label>)> {
    let day = d.day;
    d.evs.sort_unstable_by_key(|e| (e.t, e.seq));
    d.audits.sort_by_key(|a| (a.t, a.seq));
    d.provs.sort_by_key(|p| (p.t, p.seq));
    let start = d.start;
    let hour_of = |t: Ticks| ((t - start) / TICKS_PER_HOUR).clamp(0, 23) as u8;
    let mut counts = DayCounts::default();
    for ev in &d.evs {
        let ov = if ev.ov == 0 {
            None
        } else {
            d.customs.get(ev.ov as usize)
        };
        let (cat, hour) = (ev.kind.category(), hour_of(ev.t));
        let b = sink.line(Stream::Signins, cat, hour);
        if graph {
            signin::render_graph(b, tenant, ev, ov, day);
        } else {
            signin::render_diag(b, tenant, ev, ov, day);
        }
        b.push(b'\n');
        sink.end_line(Stream::Signins, cat, hour)?;
        match ev.kind {
            Kind::Interactive => counts.interactive_user += 1,
            Kind::Adfs => {
                counts.interactive_user += 1;
                counts.adfs += 1
            }
            Kind::NonInteractive => counts.non_interactive_user += 1,
            Kind::ServicePrincipal => counts.service_principal += 1,
            Kind::ManagedIdentity => counts.managed_identity += 1,
        }
        if ev.code != 0
            && matches!(
                ev.kind,
                Kind::Interactive | Kind::NonInteractive | Kind::Adfs
            )
        {
            counts.user_failures += 1;
        }
    }
    for a in &d.audits {
        let hour = hour_of(a.t);
        let b = sink.line(Stream::Audits, "AuditLogs", hour);
        audit::render(b, tenant, a, graph);
        b.push(b'\n');
        sink.end_line(Stream::Audits, "AuditLogs", hour)?;
    }
    counts.audits = d.audits.len() as u64;
    for p in &d.provs {
        let hour = hour_of(p.t);
        let b = sink.line(Stream::Provisioning, "ProvisioningLogs", hour);
        provisioning::render(b, tenant, p, graph);
        b.push(b'\n');
        sink.end_line(Stream::Provisioning, "ProvisioningLogs", hour)?;
    }
    counts.provisioning = d.provs.len() as u64;
    counts.labels = d.labels.len() as u64;
    Ok((counts, d.labels))
}

/// Date of day `day` of the window.
pub(crate) fn day_date(tenant: &Tenant, day: u32) -> NaiveDate {
    let (y, m, dd) = json::civil_from_days(tenant.start_day + day as i64);
    NaiveDate::from_ymd_opt(y as i32, m, dd).unwrap_or_default()
}

/// In-memory sink behind [`generate_day`].
struct MemSink {
    bufs: [Vec<u8>; 3],
}

impl LineSink for MemSink {
    fn line(&mut self, stream: Stream, _: &'static str, _: u8) -> &mut Vec<u8> {
        &mut self.bufs[stream as usize]
    }
    fn end_line(&mut self, _: Stream, _: &'static str, _: u8) -> std::io::Result<()> {
        Ok(())
    }
}

/// One simulated day.
#[derive(Clone, Debug)]
pub struct DayOutput {
    /// The UTC date.
    pub date: NaiveDate,
    /// Sign-in records, NDJSON, sorted by time.
    pub signins: Vec<u8>,
    /// Directory audit records, NDJSON, sorted by time.
    pub audits: Vec<u8>,
    /// Provisioning records, NDJSON, sorted by time.
    pub provisioning: Vec<u8>,
    /// Labels of the scenarios that happened on this day.
    pub labels: Vec<Label>,
    /// Record counts.
    pub counts: DayCounts,
}

/// The record stream a chunk belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// Sign-ins (all kinds).
    SignIns,
    /// Directory audits.
    Audits,
    /// Provisioning events.
    Provisioning,
}

/// Date, counts and labels of a streamed day.
#[derive(Clone, Debug)]
pub struct DayMeta {
    /// The UTC date.
    pub date: NaiveDate,
    /// Record counts.
    pub counts: DayCounts,
    /// Labels of the scenarios that happened on this day.
    pub labels: Vec<Label>,
}

/// Chunking sink behind [`stream_day`].
struct ChunkSink<'a> {
    bufs: [Vec<u8>; 3],
    chunk: usize,
    emit: &'a mut dyn FnMut(RecordKind, &[u8]) -> std::io::Result<()>,
}

fn record_kind(i: usize) -> RecordKind {
    match i {
        0 => RecordKind::SignIns,
        1 => RecordKind::Audits,
        _ => RecordKind::Provisioning,
    }
}

impl LineSink for ChunkSink<'_> {
    fn line(&mut self, stream: Stream, _: &'static str, _: u8) -> &mut Vec<u8> {
        &mut self.bufs[stream as usize]
    }
    fn end_line(&mut self, stream: Stream, _: &'static str, _: u8) -> std::io::Result<()> {
        let i = stream as usize;
        if self.bufs[i].len() >= self.chunk {
            (self.emit)(record_kind(i), &self.bufs[i])?;
            self.bufs[i].clear();
        }
        Ok(())
    }
}

/// Generates one day like [`generate_day`] but hands the NDJSON to `emit` in time-ordered
/// chunks of whole lines (about `chunk_bytes` each) instead of holding the day in memory:
/// memory stays at one day's plan plus three chunks. The concatenated chunks of each kind are
/// byte-identical to the corresponding [`DayOutput`] buffer.
pub fn stream_day(
    tenant: &Tenant,
    opts: &SimOptions,
    day: u32,
    chunk_bytes: usize,
    emit: &mut dyn FnMut(RecordKind, &[u8]) -> std::io::Result<()>,
) -> Result<DayMeta, SimError> {
    let graph = opts.format == OutputFormat::Graph;
    let chunk = chunk_bytes.max(1);
    let d = day::plan_day(tenant, day);
    let mut sink = ChunkSink {
        bufs: [
            Vec::with_capacity(chunk + 64 * 1024),
            Vec::new(),
            Vec::new(),
        ],
        chunk,
        emit,
    };
    let io = |e: std::io::Error| SimError::Io {
        path: format!("<stream of day {day}>"),
        source: e,
    };
    let (counts, labels) = render_day(tenant, graph, d, &mut sink).map_err(io)?;
    for i in 0..3 {
        if !sink.bufs[i].is_empty() {
            (sink.emit)(record_kind(i), &sink.bufs[i]).map_err(io)?;
        }
    }
    Ok(DayMeta {
        date: day_date(tenant, day),
        counts,
        labels,
    })
}

/// Generates one day (0-based index into the window). Fully determined by the tenant, the
/// options and the day index, independent of other days.
pub fn generate_day(tenant: &Tenant, opts: &SimOptions, day: u32) -> DayOutput {
    let graph = opts.format == OutputFormat::Graph;
    let d = day::plan_day(tenant, day);
    let mut sink = MemSink {
        bufs: [
            Vec::with_capacity(d.evs.len() * if graph { 6000 } else { 5100 }),
            Vec::with_capacity(d.audits.len() * 1500),
            Vec::with_capacity(d.provs.len() * 2500),
        ],
    };
    // Writing into memory cannot fail.
    let (counts, labels) = render_day(tenant, graph, d, &mut sink).unwrap_or_default();
    let [signins, audits, provisioning] = sink.bufs;
    DayOutput {
        date: day_date(tenant, day),
        signins,
        audits,
        provisioning,
        labels,
        counts,
    }
}
