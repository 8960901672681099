//! Detections: what the engine found, at which level, and the evidence (the observed values and
//! the baseline they broke), written as Graph `riskDetection` records.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// The kinds of detection, named with Identity Protection's `riskEventType` where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RiskEventType {
    /// Many accounts failing with bad passwords from shared addresses (`passwordSpray`).
    PasswordSpray,
    /// Many bad passwords against one account (no Identity Protection name: `bruteForce`).
    BruteForce,
    /// Two sign-ins too far apart for the time between them (`unlikelyTravel`).
    UnlikelyTravel,
    /// Address, network, country, device and browser all new for the user (`unfamiliarFeatures`).
    UnfamiliarFeatures,
    /// A country neither the user nor the tenant signed in from before (`newCountry`).
    NewCountry,
    /// An address on the admin's anonymiser list (`anonymizedIPAddress`).
    AnonymizedIpAddress,
    /// An address with a high rate of failed sign-ins across the tenant (`maliciousIPAddress`).
    MaliciousIpAddress,
    /// Repeated denied or unanswered MFA prompts, then an approval (`mfaFatigue`).
    MfaFatigue,
    /// IMAP, POP, SMTP, Exchange ActiveSync and other basic-auth clients (`legacyAuthentication`).
    LegacyAuthentication,
    /// Sign-in attempts on a disabled account (`disabledAccountSignIn`).
    DisabledAccount,
    /// A session's token redeemed from a place the user never was (`anomalousToken`).
    AnomalousToken,
    /// A workload identity signing in from a new network or country, or with a new credential
    /// (`suspiciousSignins`, Identity Protection's workload-identity name).
    SuspiciousWorkloadSignIn,
}

impl RiskEventType {
    /// Every type.
    pub const ALL: [RiskEventType; 12] = [
        RiskEventType::PasswordSpray,
        RiskEventType::BruteForce,
        RiskEventType::UnlikelyTravel,
        RiskEventType::UnfamiliarFeatures,
        RiskEventType::NewCountry,
        RiskEventType::AnonymizedIpAddress,
        RiskEventType::MaliciousIpAddress,
        RiskEventType::MfaFatigue,
        RiskEventType::LegacyAuthentication,
        RiskEventType::DisabledAccount,
        RiskEventType::AnomalousToken,
        RiskEventType::SuspiciousWorkloadSignIn,
    ];

    /// The `riskEventType` value.
    pub fn name(self) -> &'static str {
        match self {
            RiskEventType::PasswordSpray => "passwordSpray",
            RiskEventType::BruteForce => "bruteForce",
            RiskEventType::UnlikelyTravel => "unlikelyTravel",
            RiskEventType::UnfamiliarFeatures => "unfamiliarFeatures",
            RiskEventType::NewCountry => "newCountry",
            RiskEventType::AnonymizedIpAddress => "anonymizedIPAddress",
            RiskEventType::MaliciousIpAddress => "maliciousIPAddress",
            RiskEventType::MfaFatigue => "mfaFatigue",
            RiskEventType::LegacyAuthentication => "legacyAuthentication",
            RiskEventType::DisabledAccount => "disabledAccountSignIn",
            RiskEventType::AnomalousToken => "anomalousToken",
            RiskEventType::SuspiciousWorkloadSignIn => "suspiciousSignins",
        }
    }

    /// Parses a `riskEventType` value (any case).
    pub fn from_name(s: &str) -> Option<RiskEventType> {
        RiskEventType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// Found per event as it arrives (`realtime`) or over a window of events (`nearRealtime`).
    pub fn timing(self) -> &'static str {
        match self {
            RiskEventType::PasswordSpray
            | RiskEventType::BruteForce
            | RiskEventType::MaliciousIpAddress
            | RiskEventType::MfaFatigue
            | RiskEventType::UnlikelyTravel => "nearRealtime",
            _ => "realtime",
        }
    }

    /// MITRE ATT&CK techniques the detection points to.
    pub fn mitre(self) -> &'static str {
        match self {
            RiskEventType::PasswordSpray => "T1110.003",
            RiskEventType::BruteForce => "T1110.001",
            RiskEventType::MfaFatigue => "T1621",
            RiskEventType::AnomalousToken => "T1550.001",
            RiskEventType::LegacyAuthentication => "T1078,T1110",
            RiskEventType::AnonymizedIpAddress => "T1090.003",
            _ => "T1078",
        }
    }
}

impl fmt::Display for RiskEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Graph `riskLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RiskLevel {
    /// No risk.
    None,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl RiskLevel {
    /// The Graph value.
    pub fn name(self) -> &'static str {
        match self {
            RiskLevel::None => "none",
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    /// Parses a Graph value (`hidden` and unknown values are `None`).
    pub fn from_name(s: &str) -> RiskLevel {
        match s.to_ascii_lowercase().as_str() {
            "low" => RiskLevel::Low,
            "medium" => RiskLevel::Medium,
            "high" => RiskLevel::High,
            _ => RiskLevel::None,
        }
    }
}

/// Who a detection is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// A user (or an account name that does not exist: `id` empty).
    User {
        /// `userId`.
        id: String,
        /// `userPrincipalName`.
        upn: String,
        /// `userDisplayName`.
        display: String,
    },
    /// A service principal.
    ServicePrincipal {
        /// `servicePrincipalId`.
        id: String,
        /// Its display name.
        name: String,
        /// Its application id.
        app_id: String,
    },
}

/// One detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Stable id: the same finding always gets the same id.
    pub id: String,
    /// What was found.
    pub event_type: RiskEventType,
    /// How risky.
    pub level: RiskLevel,
    /// Who.
    pub subject: Subject,
    /// When the triggering sign-in happened (µs since the epoch).
    pub activity_time: i64,
    /// The sign-in that triggered it (`requestId`).
    pub request_id: String,
    /// The other sign-ins the evidence rests on.
    pub related: Vec<String>,
    /// The triggering sign-in's address.
    pub ip: String,
    /// Its country.
    pub country: String,
    /// Its city.
    pub city: String,
    /// Its coordinates.
    pub coords: Option<(f64, f64)>,
    /// One sentence: why.
    pub reason: String,
    /// What was observed.
    pub observed: Value,
    /// The baseline it broke (what was known before).
    pub baseline: Value,
}

/// µs since the epoch as Graph writes times.
pub fn graph_time(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// 32 hex digits written as a hyphenated GUID (8-4-4-4-12).
pub(crate) fn guid_from_hex(h: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A stable id from the parts that name a finding.
pub fn detection_id(parts: &[&str]) -> String {
    let mut text = String::new();
    for p in parts {
        text.push_str(p);
        text.push('\u{1f}');
    }
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()))
}

impl Detection {
    /// The detection as a Graph `riskDetection` record (service principal detections carry
    /// `servicePrincipalId`, `servicePrincipalDisplayName`, `appId` and `keyIds` as Graph's
    /// `servicePrincipalRiskDetection` does). The evidence is in `additionalInfo`, the JSON
    /// key/value list Identity Protection uses, under `reason`, `observed`, `baseline` and
    /// `signInIds`.
    pub fn to_graph(&self, tenant: &str, detected_at: i64) -> Value {
        let mut info = vec![
            json!({"Key": "reason", "Value": self.reason}),
            json!({"Key": "observed", "Value": self.observed}),
            json!({"Key": "baseline", "Value": self.baseline}),
            json!({"Key": "mitreTechniques", "Value": self.event_type.mitre()}),
        ];
        if !self.related.is_empty() {
            info.push(json!({"Key": "signInIds", "Value": self.related}));
        }
        let additional = Value::Array(info).to_string();
        let location = json!({
            "city": self.city,
            "countryOrRegion": self.country,
            "geoCoordinates": self.coords.map(|(lat, lon)| json!({"latitude": lat, "longitude": lon})),
        });
        let mut v = json!({
            "id": self.id,
            "requestId": self.request_id,
            "correlationId": "",
            "riskType": self.event_type.name(),
            "riskEventType": self.event_type.name(),
            "riskState": "atRisk",
            "riskLevel": self.level.name(),
            "riskDetail": "none",
            "source": "gatehouse",
            "detectionTimingType": self.event_type.timing(),
            "activity": "signin",
            "tokenIssuerType": "AzureAD",
            "ipAddress": self.ip,
            "location": location,
            "activityDateTime": graph_time(self.activity_time),
            "detectedDateTime": graph_time(detected_at),
            "lastUpdatedDateTime": graph_time(detected_at),
            "additionalInfo": additional,
            "resourceTenantId": tenant,
            "homeTenantId": tenant,
        });
        match &self.subject {
            Subject::User { id, upn, display } => {
                v["userId"] = json!(id);
                v["userPrincipalName"] = json!(upn);
                v["userDisplayName"] = json!(display);
                v["userType"] = json!("member");
            }
            Subject::ServicePrincipal { id, name, app_id } => {
                v["servicePrincipalId"] = json!(id);
                v["servicePrincipalDisplayName"] = json!(name);
                v["appId"] = json!(app_id);
                v["userDisplayName"] = json!(name);
                v["activity"] = json!("servicePrincipal");
                let key = self.observed.get("keyId").and_then(Value::as_str);
                v["keyIds"] = json!(key.into_iter().collect::<Vec<_>>());
            }
        }
        v
    }
}
