//! The Graph resources served ([`GraphResource`]), the API versions ([`ApiVersion`]) and which
//! properties each version shows.

use gatehouse_model::schema::TableSchema;
use gatehouse_model::LogKind;

/// `v1.0` or `beta`: the first segment of a Graph path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `/v1.0`: only the properties of Graph's v1.0 metadata.
    V1,
    /// `/beta`: every property.
    Beta,
}

impl ApiVersion {
    /// The path segment (`v1.0`, `beta`).
    pub fn segment(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }

    /// The version a path segment names.
    pub fn from_segment(s: &str) -> Option<ApiVersion> {
        match s {
            "v1.0" => Some(ApiVersion::V1),
            "beta" => Some(ApiVersion::Beta),
            _ => None,
        }
    }
}

/// A log collection under `/auditLogs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphResource {
    /// `/auditLogs/signIns` (Graph `signIn`).
    SignIns,
    /// `/auditLogs/directoryAudits` (Graph `directoryAudit`).
    DirectoryAudits,
    /// `/auditLogs/provisioning` (Graph `provisioningObjectSummary`).
    Provisioning,
}

/// Graph v1.0 `signIn` properties (everything else is beta only).
const SIGNIN_V1: &[&str] = &[
    "id",
    "createdDateTime",
    "appDisplayName",
    "appId",
    "appliedConditionalAccessPolicies",
    "clientAppUsed",
    "conditionalAccessStatus",
    "correlationId",
    "deviceDetail",
    "ipAddress",
    "isInteractive",
    "location",
    "resourceDisplayName",
    "resourceId",
    "riskDetail",
    "riskEventTypes",
    "riskEventTypes_v2",
    "riskLevelAggregated",
    "riskLevelDuringSignIn",
    "riskState",
    "status",
    "userDisplayName",
    "userId",
    "userPrincipalName",
];

/// Properties of the stored records that Graph v1.0 does not have, for the resources whose v1.0
/// is their beta minus a few.
const AUDIT_BETA_ONLY: &[&str] = &["userAgent"];
const PROVISIONING_BETA_ONLY: &[&str] = &["action", "statusInfo"];

impl GraphResource {
    /// Every resource.
    pub const ALL: [GraphResource; 3] = [
        GraphResource::SignIns,
        GraphResource::DirectoryAudits,
        GraphResource::Provisioning,
    ];

    /// The path segment after `/auditLogs/`.
    pub fn segment(self) -> &'static str {
        match self {
            GraphResource::SignIns => "signIns",
            GraphResource::DirectoryAudits => "directoryAudits",
            GraphResource::Provisioning => "provisioning",
        }
    }

    /// The resource a path segment names (Graph paths are case-insensitive).
    pub fn from_segment(s: &str) -> Option<GraphResource> {
        GraphResource::ALL
            .into_iter()
            .find(|r| r.segment().eq_ignore_ascii_case(s))
    }

    /// The table that holds it.
    pub fn log(self) -> LogKind {
        match self {
            GraphResource::SignIns => LogKind::SignIns,
            GraphResource::DirectoryAudits => LogKind::Audits,
            GraphResource::Provisioning => LogKind::Provisioning,
        }
    }

    /// The property carrying the event time (the paging order).
    pub fn time_property(self) -> &'static str {
        self.log().time_column()
    }

    /// Whether `version` has the top-level property `name`.
    pub fn has_property(self, version: ApiVersion, name: &str) -> bool {
        let stored = TableSchema::of(self.log()).column(name).is_some() && !name.starts_with('_');
        match (version, self) {
            (ApiVersion::Beta, _) => stored,
            (ApiVersion::V1, GraphResource::SignIns) => SIGNIN_V1.contains(&name),
            (ApiVersion::V1, GraphResource::DirectoryAudits) => {
                stored && !AUDIT_BETA_ONLY.contains(&name)
            }
            (ApiVersion::V1, GraphResource::Provisioning) => {
                stored && !PROVISIONING_BETA_ONLY.contains(&name)
            }
        }
    }

    /// Whether a record's field (a stored column or an unknown field kept from the source) is
    /// shown in `version`: beta shows every field, v1.0 only its own properties.
    pub fn shows(self, version: ApiVersion, field: &str) -> bool {
        match version {
            ApiVersion::Beta => true,
            ApiVersion::V1 => self.has_property(ApiVersion::V1, field),
        }
    }
}
