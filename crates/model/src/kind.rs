//! The kinds of log Gatehouse keeps, and the four kinds of sign-in.

use std::fmt;
use std::str::FromStr;

/// A log (one SQL table, one folder per tenant in the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogKind {
    /// Graph `signIn`: interactive, non-interactive, service principal and managed identity sign-ins.
    SignIns,
    /// Graph `directoryAudit`: directory changes.
    Audits,
    /// Graph `provisioningObjectSummary`: provisioning events.
    Provisioning,
    /// Identity Protection `riskyUser` states (diagnostic category `RiskyUsers`).
    RiskyUsers,
    /// Identity Protection `riskDetection` events (diagnostic category `UserRiskEvents`).
    RiskDetections,
}

impl LogKind {
    /// Every log kind, in table order.
    pub const ALL: [LogKind; 5] = [
        LogKind::SignIns,
        LogKind::Audits,
        LogKind::Provisioning,
        LogKind::RiskyUsers,
        LogKind::RiskDetections,
    ];

    /// The SQL table name and the folder name in the store.
    pub fn table_name(self) -> &'static str {
        match self {
            LogKind::SignIns => "signins",
            LogKind::Audits => "audits",
            LogKind::Provisioning => "provisioning",
            LogKind::RiskyUsers => "riskyUsers",
            LogKind::RiskDetections => "riskDetections",
        }
    }

    /// The Graph property that carries the record's event time.
    pub fn time_column(self) -> &'static str {
        match self {
            LogKind::SignIns => "createdDateTime",
            LogKind::Audits | LogKind::Provisioning => "activityDateTime",
            LogKind::RiskyUsers => "riskLastUpdatedDateTime",
            LogKind::RiskDetections => "activityDateTime",
        }
    }
}

impl fmt::Display for LogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.table_name())
    }
}

impl FromStr for LogKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "signins" | "signin" | "sign-ins" => Ok(LogKind::SignIns),
            "audits" | "audit" | "directoryaudits" => Ok(LogKind::Audits),
            "provisioning" => Ok(LogKind::Provisioning),
            "riskyusers" => Ok(LogKind::RiskyUsers),
            "riskdetections" => Ok(LogKind::RiskDetections),
            other => Err(format!(
                "unknown log `{other}` (expected signins, audits, provisioning, riskyUsers or riskDetections)"
            )),
        }
    }
}

/// The four sign-in types of Entra ID, as in Graph's `signInEventTypes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignInKind {
    /// A user signing in with credentials or a prompt (`interactiveUser`).
    InteractiveUser,
    /// A client signing in on a user's behalf, e.g. with a refresh token (`nonInteractiveUser`).
    NonInteractiveUser,
    /// An application signing in as itself (`servicePrincipal`).
    ServicePrincipal,
    /// An Azure resource signing in with a managed identity (`managedIdentity`).
    ManagedIdentity,
}

impl SignInKind {
    /// All four kinds.
    pub const ALL: [SignInKind; 4] = [
        SignInKind::InteractiveUser,
        SignInKind::NonInteractiveUser,
        SignInKind::ServicePrincipal,
        SignInKind::ManagedIdentity,
    ];

    /// The Graph `signInEventTypes` value.
    pub fn graph_name(self) -> &'static str {
        match self {
            SignInKind::InteractiveUser => "interactiveUser",
            SignInKind::NonInteractiveUser => "nonInteractiveUser",
            SignInKind::ServicePrincipal => "servicePrincipal",
            SignInKind::ManagedIdentity => "managedIdentity",
        }
    }

    /// Parses a Graph `signInEventTypes` value spelled exactly as Graph spells it (what the store
    /// files by: [`SignInKind::from_graph_name`] accepts any case).
    pub fn from_exact_graph_name(s: &str) -> Option<SignInKind> {
        SignInKind::ALL.into_iter().find(|k| k.graph_name() == s)
    }

    /// Parses a Graph `signInEventTypes` value.
    pub fn from_graph_name(s: &str) -> Option<SignInKind> {
        SignInKind::ALL
            .into_iter()
            .find(|k| k.graph_name().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for SignInKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.graph_name())
    }
}

/// Whether a tenant id can name a tenant's folder in the store: letters, digits, `-`, `_` and `.`
/// (not first), 1 to 128 characters. GUIDs and names like `contoso` qualify; placeholders like
/// `<tenant id>` and hostile values like `../x` do not.
pub fn is_valid_tenant_id(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 128
        && !tenant.starts_with('.')
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
