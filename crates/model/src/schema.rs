//! Explicit schemas of the stored tables.
//!
//! Each table's columns are the Graph property names, spelled as Graph spells them, with nested
//! objects as structs and collections as lists, so `status.errorCode` works in SQL and the Parquet
//! files are self-describing for DuckDB or Spark. Fields the schema does not know are never dropped:
//! they go to the `_extra` column (see [`EXTRA_COLUMN`]) and come back on read.
//!
//! A handful of Graph properties are polymorphic or documented inconsistently (e.g.
//! `conditionalAccessAudiences` is `String[]` in the docs but objects in the diagnostic export); they
//! are [`ColumnKind::Json`]: stored as JSON text, returned as the JSON they were.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::LogKind;

/// Column holding the tenant the record belongs to (the partition it is stored under).
pub const TENANT_COLUMN: &str = "_tenantId";
/// Column holding when Gatehouse stored the record.
pub const INGESTED_COLUMN: &str = "_ingestedAt";
/// Column naming the export shape the record came from (`graph`, `diagnostic:SignInLogs`, …).
pub const SOURCE_COLUMN: &str = "_source";
/// Column holding, as a JSON object, every top-level field that the typed columns cannot hold
/// exactly (unknown fields, or known fields with unknown nested members).
pub const EXTRA_COLUMN: &str = "_extra";
/// Column holding the Azure Monitor envelope (everything but `properties`) of diagnostic records.
pub const ENVELOPE_COLUMN: &str = "_envelope";
/// Column holding the hash of the record's stored values: two records are duplicates when their
/// `id` and content hash are equal (see the store's `content` module).
pub const CONTENT_HASH_COLUMN: &str = "_contentHash";
/// Column marking, with `true`, a record that came without an `id` and is stored under one derived
/// from its content hash (`derived-<16 hex digits>`).
pub const ID_DERIVED_COLUMN: &str = "_idDerived";
/// Arrow field metadata key marking a Utf8 column that holds JSON text.
pub const JSON_METADATA_KEY: &str = "gatehouse.json";

/// The type of a column in Gatehouse's model.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// UTF-8 string.
    Str,
    /// 32-bit integer.
    Int32,
    /// 64-bit integer.
    Int64,
    /// Double.
    Float64,
    /// Boolean.
    Bool,
    /// UTC timestamp with microsecond precision (as Delta Lake, Spark and Fabric store them).
    Timestamp,
    /// Any JSON value, kept as JSON text.
    Json,
    /// An open string-to-string object (Graph `detailsInfo`).
    StrMap,
    /// A collection.
    List(Box<ColumnKind>),
    /// A complex type.
    Struct(Vec<Column>),
}

/// A named column (or struct member).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The Graph property name.
    pub name: &'static str,
    /// Its type.
    pub kind: ColumnKind,
}

impl Column {
    /// The Arrow field for this column (always nullable: Graph properties are nullable).
    pub fn arrow_field(&self) -> Field {
        let field = Field::new(self.name, self.kind.arrow_type(), true);
        if self.kind == ColumnKind::Json {
            field.with_metadata([(JSON_METADATA_KEY.to_string(), "true".to_string())].into())
        } else {
            field
        }
    }
}

impl ColumnKind {
    /// The Arrow type that stores this kind.
    pub fn arrow_type(&self) -> DataType {
        match self {
            ColumnKind::Str | ColumnKind::Json => DataType::Utf8,
            ColumnKind::Int32 => DataType::Int32,
            ColumnKind::Int64 => DataType::Int64,
            ColumnKind::Float64 => DataType::Float64,
            ColumnKind::Bool => DataType::Boolean,
            ColumnKind::Timestamp => timestamp_type(),
            ColumnKind::StrMap => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("keys", DataType::Utf8, false),
                        Field::new("values", DataType::Utf8, true),
                    ])),
                    false,
                )),
                false,
            ),
            ColumnKind::List(item) => {
                let mut f = Field::new("item", item.arrow_type(), true);
                if **item == ColumnKind::Json {
                    f = f.with_metadata(
                        [(JSON_METADATA_KEY.to_string(), "true".to_string())].into(),
                    );
                }
                DataType::List(Arc::new(f))
            }
            ColumnKind::Struct(cols) => {
                DataType::Struct(cols.iter().map(Column::arrow_field).collect())
            }
        }
    }
}

/// The Arrow type of every timestamp column: microseconds since the epoch, UTC. Delta Lake's
/// `timestamp` is microseconds, and Spark (hence Databricks and Fabric) cannot read nanosecond
/// Parquet timestamps, so a seventh fractional digit (100 ns, which only the Azure Monitor and Log
/// Analytics exports carry) is not kept.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A stored table: its Graph columns plus Gatehouse's own (`_tenantId`, `_ingestedAt`, `_source`,
/// `_envelope`, `_extra`, `_contentHash`, `_idDerived`).
#[derive(Debug, Clone)]
pub struct TableSchema {
    /// Which log.
    pub log: LogKind,
    /// The Graph columns, in Graph's order.
    pub columns: Vec<Column>,
    arrow: SchemaRef,
}

impl TableSchema {
    /// The schema of a log's table.
    pub fn of(log: LogKind) -> TableSchema {
        let columns = match log {
            LogKind::SignIns => signin_columns(),
            LogKind::Audits => audit_columns(),
            LogKind::Provisioning => provisioning_columns(),
            LogKind::RiskyUsers => risky_user_columns(),
            LogKind::RiskDetections => risk_detection_columns(),
        };
        let mut fields: Vec<Field> = columns.iter().map(Column::arrow_field).collect();
        fields.extend(system_columns().iter().map(Column::arrow_field));
        TableSchema {
            log,
            columns,
            arrow: Arc::new(Schema::new(fields)),
        }
    }

    /// The full Arrow schema, Graph columns first, then the system columns.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.arrow.clone()
    }

    /// Looks up a Graph column by its exact name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Gatehouse's own columns, present in every table after the Graph columns.
pub fn system_columns() -> Vec<Column> {
    vec![
        col(TENANT_COLUMN, ColumnKind::Str),
        col(INGESTED_COLUMN, ColumnKind::Timestamp),
        col(SOURCE_COLUMN, ColumnKind::Str),
        col(ENVELOPE_COLUMN, ColumnKind::Json),
        col(EXTRA_COLUMN, ColumnKind::Json),
        col(CONTENT_HASH_COLUMN, ColumnKind::Int64),
        col(ID_DERIVED_COLUMN, ColumnKind::Bool),
    ]
}

fn col(name: &'static str, kind: ColumnKind) -> Column {
    Column { name, kind }
}
fn s(name: &'static str) -> Column {
    col(name, ColumnKind::Str)
}
fn i32c(name: &'static str) -> Column {
    col(name, ColumnKind::Int32)
}
fn i64c(name: &'static str) -> Column {
    col(name, ColumnKind::Int64)
}
fn f64c(name: &'static str) -> Column {
    col(name, ColumnKind::Float64)
}
fn b(name: &'static str) -> Column {
    col(name, ColumnKind::Bool)
}
fn ts(name: &'static str) -> Column {
    col(name, ColumnKind::Timestamp)
}
fn json(name: &'static str) -> Column {
    col(name, ColumnKind::Json)
}
fn strs(name: &'static str) -> Column {
    col(name, ColumnKind::List(Box::new(ColumnKind::Str)))
}
fn st(name: &'static str, members: Vec<Column>) -> Column {
    col(name, ColumnKind::Struct(members))
}
fn list_of(name: &'static str, members: Vec<Column>) -> Column {
    col(
        name,
        ColumnKind::List(Box::new(ColumnKind::Struct(members))),
    )
}
fn key_values(name: &'static str) -> Column {
    list_of(name, vec![s("key"), s("value")])
}
fn modified_properties() -> Column {
    list_of(
        "modifiedProperties",
        vec![s("displayName"), s("oldValue"), s("newValue")],
    )
}

fn rule_satisfied(name: &'static str) -> Column {
    list_of(
        name,
        vec![s("conditionalAccessCondition"), s("ruleSatisfied")],
    )
}

fn location() -> Column {
    st(
        "location",
        vec![
            s("city"),
            s("state"),
            s("countryOrRegion"),
            st(
                "geoCoordinates",
                vec![f64c("altitude"), f64c("latitude"), f64c("longitude")],
            ),
        ],
    )
}

/// Graph beta `signIn`, every documented property plus the members observed in diagnostic exports.
pub fn signin_columns() -> Vec<Column> {
    vec![
        s("id"),
        ts("createdDateTime"),
        s("appDisplayName"),
        s("appId"),
        list_of(
            "appliedConditionalAccessPolicies",
            vec![
                s("id"),
                s("displayName"),
                strs("enforcedGrantControls"),
                strs("enforcedSessionControls"),
                strs("sessionControlsNotSatisfied"),
                s("result"),
                s("conditionsSatisfied"),
                s("conditionsNotSatisfied"),
                rule_satisfied("includeRulesSatisfied"),
                rule_satisfied("excludeRulesSatisfied"),
                st(
                    "authenticationStrength",
                    vec![
                        s("authenticationStrengthId"),
                        s("displayName"),
                        s("authenticationStrengthResult"),
                    ],
                ),
            ],
        ),
        s("clientAppUsed"),
        s("conditionalAccessStatus"),
        s("correlationId"),
        st(
            "deviceDetail",
            vec![
                s("deviceId"),
                s("displayName"),
                s("operatingSystem"),
                s("browser"),
                b("isCompliant"),
                b("isManaged"),
                s("trustType"),
                s("browserId"),
            ],
        ),
        s("ipAddress"),
        b("isInteractive"),
        location(),
        s("resourceDisplayName"),
        s("resourceId"),
        s("riskDetail"),
        strs("riskEventTypes"),
        strs("riskEventTypes_v2"),
        s("riskLevelAggregated"),
        s("riskLevelDuringSignIn"),
        s("riskState"),
        st(
            "status",
            vec![
                i32c("errorCode"),
                s("failureReason"),
                s("additionalDetails"),
            ],
        ),
        s("userDisplayName"),
        s("userId"),
        s("userPrincipalName"),
        // beta
        st(
            "agent",
            vec![
                s("agentType"),
                s("agentSubjectType"),
                s("agentSubjectParentId"),
                s("parentAppId"),
            ],
        ),
        s("appOwnerTenantId"),
        s("appTokenProtectionStatus"),
        list_of(
            "appliedEventListeners",
            vec![
                s("eventType"),
                s("executedListenerId"),
                json("handlerResult"),
            ],
        ),
        st(
            "authenticationAppDeviceDetails",
            vec![
                s("appVersion"),
                s("clientApp"),
                s("deviceId"),
                s("operatingSystem"),
            ],
        ),
        list_of(
            "authenticationAppPolicyEvaluationDetails",
            vec![
                s("adminConfiguration"),
                s("authenticationEvaluation"),
                s("policyName"),
                s("status"),
            ],
        ),
        list_of(
            "authenticationContextClassReferences",
            vec![s("id"), s("detail")],
        ),
        list_of(
            "authenticationDetails",
            vec![
                s("authenticationMethod"),
                s("authenticationMethodDetail"),
                ts("authenticationStepDateTime"),
                s("authenticationStepRequirement"),
                s("authenticationStepResultDetail"),
                b("succeeded"),
                i64c("StatusSequence"),
                i64c("RequestSequence"),
            ],
        ),
        strs("authenticationMethodsUsed"),
        key_values("authenticationProcessingDetails"),
        s("authenticationProtocol"),
        s("authenticationRequirement"),
        list_of(
            "authenticationRequirementPolicies",
            vec![s("requirementProvider"), s("detail")],
        ),
        i32c("autonomousSystemNumber"),
        s("azureResourceId"),
        s("clientCredentialType"),
        json("conditionalAccessAudiences"),
        s("crossTenantAccessType"),
        s("federatedCredentialId"),
        b("flaggedForReview"),
        s("globalSecureAccessIpAddress"),
        s("homeTenantId"),
        s("homeTenantName"),
        s("incomingTokenType"),
        s("ipAddressFromResourceProvider"),
        b("isTenantRestricted"),
        b("isThroughGlobalSecureAccess"),
        st(
            "managedServiceIdentity",
            vec![
                s("msiType"),
                s("associatedResourceId"),
                s("federatedTokenId"),
                s("federatedTokenIssuer"),
            ],
        ),
        st("mfaDetail", vec![s("authMethod"), s("authDetail")]),
        list_of(
            "networkLocationDetails",
            vec![s("networkType"), strs("networkNames")],
        ),
        s("originalRequestId"),
        s("originalTransferMethod"),
        st(
            "privateLinkDetails",
            vec![
                s("policyId"),
                s("policyName"),
                s("policyTenantId"),
                s("resourceId"),
            ],
        ),
        i64c("processingTimeInMilliseconds"),
        s("resourceOwnerTenantId"),
        s("resourceServicePrincipalId"),
        s("resourceTenantId"),
        s("servicePrincipalCredentialKeyId"),
        s("servicePrincipalCredentialThumbprint"),
        s("servicePrincipalId"),
        s("servicePrincipalName"),
        s("sessionId"),
        list_of(
            "sessionLifetimePolicies",
            vec![s("expirationRequirement"), s("detail")],
        ),
        strs("signInEventTypes"),
        s("signInIdentifier"),
        s("signInIdentifierType"),
        s("signInTokenProtectionStatus"),
        s("tokenIssuerName"),
        s("tokenIssuerType"),
        st(
            "tokenProtectionStatusDetails",
            vec![s("signInSessionStatus"), i32c("signInSessionStatusCode")],
        ),
        s("uniqueTokenIdentifier"),
        s("userAgent"),
        s("userType"),
        // observed in diagnostic exports, not in Graph metadata
        s("alternateSignInName"),
        s("appServicePrincipalId"),
        json("authenticationStrengths"),
        s("redirectUrl"),
        i32c("rngcStatus"),
        s("sourceAppClientId"),
        s("ssoExtensionVersion"),
        s("tenantId"),
    ]
}

/// Graph `directoryAudit` (v1.0 = beta core) plus `userAgent`.
pub fn audit_columns() -> Vec<Column> {
    vec![
        s("id"),
        ts("activityDateTime"),
        s("activityDisplayName"),
        key_values("additionalDetails"),
        s("category"),
        s("correlationId"),
        st(
            "initiatedBy",
            vec![
                st(
                    "user",
                    vec![
                        s("id"),
                        s("displayName"),
                        s("userPrincipalName"),
                        s("ipAddress"),
                        s("userType"),
                        s("homeTenantId"),
                        s("homeTenantName"),
                    ],
                ),
                st(
                    "app",
                    vec![
                        s("appId"),
                        s("displayName"),
                        s("servicePrincipalId"),
                        s("servicePrincipalName"),
                    ],
                ),
            ],
        ),
        s("loggedByService"),
        s("operationType"),
        s("result"),
        s("resultReason"),
        list_of(
            "targetResources",
            vec![
                s("id"),
                s("displayName"),
                s("type"),
                s("userPrincipalName"),
                s("groupType"),
                modified_properties(),
                json("administrativeUnits"),
            ],
        ),
        s("userAgent"),
    ]
}

fn identity(name: &'static str) -> Column {
    st(
        name,
        vec![
            s("id"),
            s("displayName"),
            s("identityType"),
            col("details", ColumnKind::StrMap),
        ],
    )
}

fn system(name: &'static str) -> Column {
    st(
        name,
        vec![
            s("id"),
            s("displayName"),
            col("details", ColumnKind::StrMap),
        ],
    )
}

/// Graph `provisioningObjectSummary` plus the deprecated `action` the diagnostic export still sends.
pub fn provisioning_columns() -> Vec<Column> {
    vec![
        s("id"),
        ts("activityDateTime"),
        s("tenantId"),
        s("jobId"),
        s("cycleId"),
        s("changeId"),
        i32c("durationInMilliseconds"),
        s("provisioningAction"),
        st(
            "initiatedBy",
            vec![s("id"), s("displayName"), s("initiatorType")],
        ),
        st("servicePrincipal", vec![s("id"), s("displayName")]),
        identity("sourceIdentity"),
        identity("targetIdentity"),
        system("sourceSystem"),
        system("targetSystem"),
        st(
            "provisioningStatusInfo",
            vec![
                s("status"),
                st(
                    "errorInformation",
                    vec![
                        s("errorCode"),
                        s("reason"),
                        s("additionalDetails"),
                        s("recommendedAction"),
                        s("errorCategory"),
                    ],
                ),
            ],
        ),
        list_of(
            "provisioningSteps",
            vec![
                s("name"),
                s("description"),
                col("details", ColumnKind::StrMap),
                s("provisioningStepType"),
                s("status"),
            ],
        ),
        modified_properties(),
        s("action"),
    ]
}

/// Graph `riskyUser` as sent by the `RiskyUsers` diagnostic category.
pub fn risky_user_columns() -> Vec<Column> {
    vec![
        s("id"),
        ts("riskLastUpdatedDateTime"),
        s("userDisplayName"),
        s("userPrincipalName"),
        s("riskState"),
        s("riskDetail"),
        s("riskLevel"),
        b("isDeleted"),
        b("isProcessing"),
        // History items (Graph `riskyUserHistoryItem`): who changed the state, and why.
        s("userId"),
        s("initiatedBy"),
        st("activity", vec![s("detail"), strs("riskEventTypes")]),
    ]
}

/// Graph `riskDetection` as sent by the `UserRiskEvents` diagnostic category.
pub fn risk_detection_columns() -> Vec<Column> {
    vec![
        s("id"),
        ts("activityDateTime"),
        s("requestId"),
        s("correlationId"),
        s("riskType"),
        s("riskEventType"),
        s("riskState"),
        s("riskLevel"),
        s("riskDetail"),
        s("source"),
        s("detectionTimingType"),
        s("activity"),
        s("ipAddress"),
        location(),
        ts("detectedDateTime"),
        ts("lastUpdatedDateTime"),
        s("userId"),
        s("userDisplayName"),
        s("userPrincipalName"),
        s("additionalInfo"),
        s("tokenIssuerType"),
        s("resourceTenantId"),
        s("homeTenantId"),
        s("userType"),
        s("crossTenantAccessType"),
        // Workload identities (Graph `servicePrincipalRiskDetection`).
        s("servicePrincipalId"),
        s("servicePrincipalDisplayName"),
        s("appId"),
        strs("keyIds"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_id_time_and_system_columns() {
        for log in LogKind::ALL {
            let t = TableSchema::of(log);
            let schema = t.arrow_schema();
            assert_eq!(schema.field(0).name(), "id");
            assert_eq!(
                schema
                    .field_with_name(log.time_column())
                    .unwrap()
                    .data_type(),
                &timestamp_type()
            );
            for c in system_columns() {
                assert!(schema.field_with_name(c.name).is_ok(), "{log}: {}", c.name);
            }
            let mut names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
            names.sort();
            names.dedup();
            assert_eq!(
                names.len(),
                schema.fields().len(),
                "{log}: duplicate column"
            );
        }
    }

    #[test]
    fn nested_status_error_code_is_int() {
        let t = TableSchema::of(LogKind::SignIns);
        let status = t.arrow_schema().field_with_name("status").unwrap().clone();
        let DataType::Struct(fields) = status.data_type() else {
            panic!("status is a struct")
        };
        assert_eq!(fields[0].name(), "errorCode");
        assert_eq!(fields[0].data_type(), &DataType::Int32);
    }
}
