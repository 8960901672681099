//! `gatehouse.toml`: how `gatehouse serve` runs (command-line flags override it).
//!
//! ```toml
//! listen = "127.0.0.1:8080"      # address to listen on
//! max_body_mb = 256              # largest push body accepted
//! query_memory_mb = 2048         # memory all running queries may hold together
//! metadata_cache_mb = 512        # Parquet footers and page indexes kept in memory
//! insights_cache_mb = 512        # questions' grouped rows of whole days kept in memory
//! max_running_queries = 2        # queries run at once, the rest wait in turn (default: the cores)
//!
//! [ingest]
//! commit_interval_ms = 1000      # every accepted row is committed within this long
//! threads = 2                    # parsing threads (default: the cores)
//! index_rows = 8388608           # rows the dedup index keeps in memory
//!
//! [retention]
//! days = 365                     # remove days older than this (0 or absent: keep everything)
//! logs = ["signins", "audits"]   # which logs (default: all)
//!
//! [maintenance]
//! compact_every_minutes = 10     # merge small files of every partition
//! vacuum_every_minutes = 60      # delete files replaced longer than the grace period ago
//! vacuum_grace_hours = 24        # how long replaced files stay for older snapshots
//! checkpoint_interval = 100      # a Delta checkpoint every this many commits (new tables)
//! cluster_every_seconds = 10     # copy new interactive sign-in files clustered by user (0: never)
//! insights_warm_every_seconds = 60  # group new days of the everyday questions ahead (0: never)
//!
//! [risk]
//! enabled = true                 # run the risk engine over new sign-ins
//! every_ms = 1000                # how often it looks for them
//!
//! [watch]
//! dir = "/srv/landing"           # ingest files dropped here, then move them to done/ or rejected/
//! tenant = "contoso"             # store them under this tenant (default: the tenant they name)
//!
//! [[outbound.webhook]]           # new records out, at least once (see gatehouse_outbound)
//! name = "soc-failures"          # in metrics, status and the cursor's file
//! feed = "signIns"               # directoryAudits, provisioning, riskDetections, alerts, ...
//! filter = "status/errorCode ne 0"   # a Graph $filter (sign-ins: interactive unless it names signInEventTypes)
//! url = "https://soc.example.com/hooks/gatehouse"
//! secret = "a-long-random-shared-secret"   # HMAC key (or env:NAME)
//! tenant = "contoso"             # only this tenant's records (default: every tenant's)
//!
//! [[outbound.kafka]]
//! name = "risky-users"
//! feed = "alerts"                # users whose risk reached min_level
//! min_level = "medium"
//! brokers = "127.0.0.1:9092"     # or connection_string = "env:EVENTHUB_CONNECTION" (Event Hubs)
//! topic = "gatehouse-alerts"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_model::LogKind;
use serde::Deserialize;

/// The server's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest push body accepted, in MiB.
    pub max_body_mb: u64,
    /// Memory all running queries together may hold, in MiB (sorts past it spill to disk).
    pub query_memory_mb: u64,
    /// Parquet footers and page indexes kept in memory, in MiB (least recently used go first).
    pub metadata_cache_mb: u64,
    /// The everyday questions' grouped rows of whole days kept in memory, in MiB (least
    /// recently used go first; 0 groups every day at every question).
    pub insights_cache_mb: u64,
    /// Queries (Graph pages and records, SQL) that run at once; the others wait in arrival
    /// order (0: the number of cores).
    pub max_running_queries: usize,
    /// Ingest.
    pub ingest: IngestConfig,
    /// Retention.
    pub retention: RetentionConfig,
    /// Background maintenance.
    pub maintenance: MaintenanceConfig,
    /// The risk engine.
    pub risk: RiskSettings,
    /// The watched folder, if any.
    pub watch: Option<WatchConfig>,
    /// Live connectors (`[[connectors.blob]]`, `[[connectors.kafka]]`, `[[connectors.graph]]`).
    pub connectors: gatehouse_connect::ConnectorSettings,
    /// Streams out (`[[outbound.webhook]]`, `[[outbound.kafka]]`).
    pub outbound: gatehouse_outbound::OutboundSettings,
}

/// `[risk]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskSettings {
    /// Run the risk engine over new sign-ins (detections within seconds of ingest).
    pub enabled: bool,
    /// How often it looks for new sign-ins, in milliseconds.
    pub every_ms: u64,
}

impl Default for RiskSettings {
    fn default() -> Self {
        RiskSettings {
            enabled: true,
            every_ms: 1000,
        }
    }
}

/// `[ingest]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Every accepted row is committed within this long.
    pub commit_interval_ms: u64,
    /// Parsing threads (0: the number of cores).
    pub threads: usize,
    /// Rows the dedup index keeps in memory.
    pub index_rows: usize,
}

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Remove days older than this many days (0: keep everything).
    pub days: u32,
    /// Which logs (empty: all).
    pub logs: Vec<String>,
}

/// `[maintenance]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    /// Merge the small files of every partition this often (0: only after ingest flushes).
    pub compact_every_minutes: u64,
    /// Vacuum this often (0: never).
    pub vacuum_every_minutes: u64,
    /// How long replaced files stay for readers of older snapshots.
    pub vacuum_grace_hours: u64,
    /// Look this often for interactive sign-in files committed since the last look and write
    /// their copies clustered by user (`gatehouse_store::clustered`; 0: never).
    pub cluster_every_seconds: u64,
    /// How often the server groups the everyday questions' whole days that changed (default
    /// filters, the newest 30 days of each tenant, and all days for service principal
    /// activity) into its day partials ahead of the questions, so that first answers are warm
    /// too (0: only when asked).
    pub insights_warm_every_seconds: u64,
    /// A Delta checkpoint every this many commits (for tables created from now on).
    pub checkpoint_interval: u64,
}

/// `[watch]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// The folder.
    pub dir: PathBuf,
    /// Store its records under this tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_mb: 256,
            query_memory_mb: 2048,
            metadata_cache_mb: 512,
            insights_cache_mb: 512,
            max_running_queries: 0,
            ingest: IngestConfig::default(),
            retention: RetentionConfig::default(),
            maintenance: MaintenanceConfig::default(),
            risk: RiskSettings::default(),
            watch: None,
            connectors: gatehouse_connect::ConnectorSettings::default(),
            outbound: gatehouse_outbound::OutboundSettings::default(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            commit_interval_ms: 1000,
            threads: 0,
            index_rows: gatehouse_ingest::DEFAULT_INDEX_ROWS,
        }
    }
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            compact_every_minutes: 10,
            vacuum_every_minutes: 60,
            vacuum_grace_hours: 24,
            cluster_every_seconds: 10,
            insights_warm_every_seconds: 60,
            checkpoint_interval: 100,
        }
    }
}

impl ServerConfig {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<ServerConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ServerConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the text of a config file.
    pub fn parse(text: &str) -> Result<ServerConfig, String> {
        let config: ServerConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.retention_logs()?;
        for c in config.connectors.build().map_err(|e| e.to_string())? {
            if let Some(t) = &c.tenant {
                gatehouse_store::layout::check_tenant_id(t)
                    .map_err(|e| format!("connector {}: {e}", c.name))?;
            }
        }
        for s in config.outbound.build().map_err(|e| e.to_string())? {
            if let Some(t) = &s.tenant {
                gatehouse_store::layout::check_tenant_id(t)
                    .map_err(|e| format!("stream {}: {e}", s.name))?;
            }
        }
        if let Some(t) = config.watch.as_ref().and_then(|w| w.tenant.as_deref()) {
            gatehouse_store::layout::check_tenant_id(t)?;
        }
        Ok(config)
    }

    /// The commit interval.
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.ingest.commit_interval_ms.max(1))
    }

    /// The logs retention applies to.
    pub fn retention_logs(&self) -> Result<Vec<LogKind>, String> {
        if self.retention.logs.is_empty() {
            return Ok(LogKind::ALL.to_vec());
        }
        self.retention.logs.iter().map(|l| l.parse()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let c = ServerConfig::parse(&example).unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(c.retention.days, 365);
        assert_eq!(
            c.retention_logs().unwrap(),
            [LogKind::SignIns, LogKind::Audits]
        );
        assert_eq!(c.watch.as_ref().unwrap().tenant.as_deref(), Some("contoso"));
        assert_eq!(c.commit_interval(), Duration::from_secs(1));
        assert_eq!(c.outbound.build().unwrap().len(), 2);
        assert_eq!(ServerConfig::parse("").unwrap(), ServerConfig::default());
        assert!(ServerConfig::parse("nope = 1").is_err());
        assert!(ServerConfig::parse("[retention]\nlogs = [\"x\"]").is_err());
        assert!(ServerConfig::parse("[watch]\ndir = \"d\"\ntenant = \"../x\"").is_err());
    }

    #[test]
    fn connectors_are_checked_when_the_config_is_read() {
        let blob = |name: &str| {
            format!("[[connectors.blob]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:1/acct\"\n")
        };
        let kafka =
            "[[connectors.kafka]]\nname = \"k\"\nbrokers = \"127.0.0.1:9092\"\ntopics = [\"t\"]\n";
        let c = ServerConfig::parse(&format!("{}{kafka}", blob("b"))).unwrap();
        let built = c.connectors.build().unwrap();
        assert_eq!(
            built
                .iter()
                .map(|c| (c.name.as_str(), c.connector.kind()))
                .collect::<Vec<_>>(),
            [("b", "blob"), ("k", "kafka")]
        );
        // Names are unique across kinds; settings that cannot work are refused with the name.
        let e = ServerConfig::parse(&format!("{}{}", blob("k"), kafka)).unwrap_err();
        assert!(e.contains("two connectors are named \"k\""), "{e}");
        let e =
            ServerConfig::parse(&format!("{kafka}security_protocol = \"smoke\"\n")).unwrap_err();
        assert!(e.contains("connector k") && e.contains("smoke"), "{e}");
        let e = ServerConfig::parse(&format!("{}tenant = \"../x\"\n", blob("b"))).unwrap_err();
        assert!(e.contains("connector b"), "{e}");
    }
}
