//! The Graph resources served ([`GraphResource`]), the API versions ([`ApiVersion`]) and which
//! properties each version shows.

use std::collections::HashSet;

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

/// A log collection under `/auditLogs` or `/identityProtection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphResource {
    /// `/auditLogs/signIns` (Graph `signIn`).
    SignIns,
    /// `/auditLogs/directoryAudits` (Graph `directoryAudit`).
    DirectoryAudits,
    /// `/auditLogs/provisioning` (Graph `provisioningObjectSummary`).
    Provisioning,
    /// `/identityProtection/riskDetections` (Graph `riskDetection`: users' detections).
    RiskDetections,
    /// `/identityProtection/servicePrincipalRiskDetections` (Graph
    /// `servicePrincipalRiskDetection`: workload identities' detections).
    ServicePrincipalRiskDetections,
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
/// `servicePrincipalRiskDetection` properties a user's `riskDetection` lacks, and the reverse.
const RISK_SP_ONLY: &[&str] = &[
    "servicePrincipalId",
    "servicePrincipalDisplayName",
    "appId",
    "keyIds",
];
const RISK_USER_ONLY: &[&str] = &["userId", "userDisplayName", "userPrincipalName", "userType"];

impl GraphResource {
    /// The resources under `/auditLogs`.
    pub const ALL: [GraphResource; 3] = [
        GraphResource::SignIns,
        GraphResource::DirectoryAudits,
        GraphResource::Provisioning,
    ];

    /// The resources under `/identityProtection` that are lists of stored records.
    pub const IDENTITY_PROTECTION: [GraphResource; 2] = [
        GraphResource::RiskDetections,
        GraphResource::ServicePrincipalRiskDetections,
    ];

    /// The path segment after `/auditLogs/` or `/identityProtection/`.
    pub fn segment(self) -> &'static str {
        match self {
            GraphResource::SignIns => "signIns",
            GraphResource::DirectoryAudits => "directoryAudits",
            GraphResource::Provisioning => "provisioning",
            GraphResource::RiskDetections => "riskDetections",
            GraphResource::ServicePrincipalRiskDetections => "servicePrincipalRiskDetections",
        }
    }

    /// The segment before [`GraphResource::segment`]: `auditLogs` or `identityProtection`.
    pub fn parent(self) -> &'static str {
        match self {
            GraphResource::SignIns
            | GraphResource::DirectoryAudits
            | GraphResource::Provisioning => "auditLogs",
            GraphResource::RiskDetections | GraphResource::ServicePrincipalRiskDetections => {
                "identityProtection"
            }
        }
    }

    /// The `/auditLogs` resource a path segment names (Graph paths are case-insensitive).
    pub fn from_segment(s: &str) -> Option<GraphResource> {
        GraphResource::ALL
            .into_iter()
            .find(|r| r.segment().eq_ignore_ascii_case(s))
    }

    /// The `/identityProtection` resource a path segment names.
    pub fn from_identity_protection_segment(s: &str) -> Option<GraphResource> {
        GraphResource::IDENTITY_PROTECTION
            .into_iter()
            .find(|r| r.segment().eq_ignore_ascii_case(s))
    }

    /// The table that holds it.
    pub fn log(self) -> LogKind {
        match self {
            GraphResource::SignIns => LogKind::SignIns,
            GraphResource::DirectoryAudits => LogKind::Audits,
            GraphResource::Provisioning => LogKind::Provisioning,
            GraphResource::RiskDetections | GraphResource::ServicePrincipalRiskDetections => {
                LogKind::RiskDetections
            }
        }
    }

    /// The property carrying the event time (the paging order).
    pub fn time_property(self) -> &'static str {
        self.log().time_column()
    }

    /// The top-level properties `version` has, in column order.
    pub fn properties(self, version: ApiVersion) -> Vec<&'static str> {
        TableSchema::of(self.log())
            .columns
            .iter()
            .map(|c| c.name)
            .filter(|n| !n.starts_with('_'))
            .filter(|n| match (version, self) {
                (ApiVersion::Beta, _) => true,
                (ApiVersion::V1, GraphResource::SignIns) => SIGNIN_V1.contains(n),
                (ApiVersion::V1, GraphResource::DirectoryAudits) => !AUDIT_BETA_ONLY.contains(n),
                (ApiVersion::V1, GraphResource::Provisioning) => {
                    !PROVISIONING_BETA_ONLY.contains(n)
                }
                (ApiVersion::V1, GraphResource::RiskDetections) => !RISK_SP_ONLY.contains(n),
                (ApiVersion::V1, GraphResource::ServicePrincipalRiskDetections) => {
                    !RISK_USER_ONLY.contains(n)
                }
            })
            .collect()
    }

    /// Whether `version` has the top-level property `name`.
    pub fn has_property(self, version: ApiVersion, name: &str) -> bool {
        self.properties(version).contains(&name)
    }

    /// The fields a record shows in `version`: `None` for beta (every field, unknown ones kept
    /// from the source included), v1.0's properties otherwise. Computed once per request.
    pub fn shown(self, version: ApiVersion) -> Option<HashSet<&'static str>> {
        match version {
            ApiVersion::Beta => None,
            ApiVersion::V1 => Some(self.properties(version).into_iter().collect()),
        }
    }
}
