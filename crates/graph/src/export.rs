//! Uncapped exports: every record a filter matches, from one snapshot, streamed as NDJSON, a JSON
//! array, CSV (the Entra admin center's download columns) or Parquet, with bounded memory.
//!
//! An export reads the table version current when it starts, a day partition at a time in day
//! order (newest day first unless asked otherwise); within a day, rows come in no set order (the
//! day's files are read in parallel), so memory stays bounded without a sort. A compaction or retention run during the export changes nothing in it. Unlike the Graph
//! list, it has no default population: a sign-in export without a filter holds all four kinds of
//! sign-in. Rows are encoded on every core, a slice of each batch per thread.

use std::str::FromStr;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures_util::{stream, Stream, StreamExt, TryStreamExt};
use gatehouse_export::{cell_text, record_to_json, GraphJson, Properties};
use gatehouse_model::error_codes::Outcome;
use gatehouse_odata::Filter;
use gatehouse_query::QueryService;
use gatehouse_store::StoreSnapshot;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::filter;
use crate::page::{column, days_in_order, table_frame, within, DAY_US};
use crate::resource::GraphResource;
use crate::GraphError;

/// The formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One Graph JSON object per line.
    NdJson,
    /// A JSON array of Graph objects (the admin center's JSON download).
    Json,
    /// The admin center's CSV download columns ([`csv_columns`]).
    Csv,
    /// Parquet (zstd) with the stored Graph columns and `_extra` (unknown fields, as JSON).
    Parquet,
}

impl FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<ExportFormat, String> {
        match s.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" => Ok(ExportFormat::NdJson),
            "json" => Ok(ExportFormat::Json),
            "csv" => Ok(ExportFormat::Csv),
            "parquet" => Ok(ExportFormat::Parquet),
            _ => Err(format!(
                "unknown export format {s:?}: ndjson, json, csv or parquet"
            )),
        }
    }
}

impl ExportFormat {
    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::NdJson => "application/x-ndjson",
            ExportFormat::Json => "application/json",
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::NdJson => "ndjson",
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportQuery {
    /// The log.
    pub resource: GraphResource,
    /// Only the records this matches (all when `None`).
    pub filter: Option<Filter>,
    /// Oldest day first (default: newest day first, as the admin center downloads).
    pub ascending: bool,
    /// The encoding.
    pub format: ExportFormat,
}

/// Streams an export of `tenant`'s records (or every tenant's, for `None`) from `current`.
/// Planning errors (a bad filter) come back at once; later ones end the stream with an error.
pub async fn export(
    queries: &QueryService,
    current: &StoreSnapshot,
    tenant: Option<&str>,
    q: &ExportQuery,
) -> Result<impl Stream<Item = Result<Vec<u8>, GraphError>> + Send + 'static, GraphError> {
    let log = q.resource.log();
    let snapshot = Arc::new(StoreSnapshot::new(
        current
            .tables()
            .filter(|t| t.log == log && tenant.is_none_or(|w| t.tenant.eq_ignore_ascii_case(w)))
            .cloned(),
    ));
    let days = days_in_order(
        snapshot.files_for(log, tenant, None).map(|f| f.day),
        q.ascending,
    );
    let (_, table) = table_frame(queries, Arc::clone(&snapshot), tenant, log).await?;
    let matching = match &q.filter {
        Some(f) => {
            let p = filter::to_expr(f, q.resource, crate::ApiVersion::Beta, &table)?;
            table.filter(p).map_err(GraphError::from_datafusion)?
        }
        None => table,
    };
    // Planned once here so that a bad filter fails the request, not the stream.
    let schema: SchemaRef = Arc::new(matching.schema().as_arrow().clone());
    let time = column(q.resource.time_property());
    let day_streams = stream::iter(days).then(move |day| {
        let matching = matching.clone();
        let time = time.clone();
        async move {
            let lo = i64::from(day) * DAY_US;
            let df = matching
                .filter(within(&time, lo, lo + DAY_US))
                .map_err(GraphError::from_datafusion)?;
            let s: SendableRecordBatchStream = df
                .execute_stream()
                .await
                .map_err(GraphError::from_datafusion)?;
            Ok::<_, GraphError>(s.map_err(GraphError::from_datafusion))
        }
    });
    let batches = day_streams.try_flatten();
    let mut encoder = Encoder::new(q.format, q.resource, &schema)?;
    let body = batches
        .map(Some)
        .chain(stream::once(async { None }))
        .map(move |item| match item {
            Some(Ok(batch)) => encoder.batch(&batch),
            Some(Err(e)) => Err(e),
            None => encoder.finish(),
        })
        .try_filter(|bytes| std::future::ready(!bytes.is_empty()));
    Ok(body)
}

/// Encodes batches in one format, a batch at a time.
struct Encoder {
    format: ExportFormat,
    resource: GraphResource,
    rows: u64,
    /// Writes into its own buffer, whose bytes are taken out after every batch.
    parquet: Option<ArrowWriter<Vec<u8>>>,
    /// Columns of the Parquet output (Graph columns and `_extra`).
    keep: Vec<usize>,
}

impl Encoder {
    fn new(
        format: ExportFormat,
        resource: GraphResource,
        schema: &SchemaRef,
    ) -> Result<Encoder, GraphError> {
        let keep: Vec<usize> = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !f.name().starts_with('_') || f.name() == gatehouse_model::schema::EXTRA_COLUMN
            })
            .map(|(i, _)| i)
            .collect();
        let parquet = if format == ExportFormat::Parquet {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_max_row_group_row_count(Some(128 * 1024))
                .build();
            let projected = Arc::new(
                schema
                    .project(&keep)
                    .map_err(|e| GraphError::Internal(e.to_string()))?,
            );
            Some(
                ArrowWriter::try_new(Vec::new(), projected, Some(props))
                    .map_err(|e| GraphError::Internal(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(Encoder {
            format,
            resource,
            rows: 0,
            parquet,
            keep,
        })
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, GraphError> {
        let rows = batch.num_rows();
        let out = match self.format {
            ExportFormat::NdJson | ExportFormat::Json | ExportFormat::Csv => {
                let mut out = Vec::new();
                if self.format == ExportFormat::Csv && self.rows == 0 {
                    out = csv_header(self.resource)?;
                }
                // A slice of the batch per thread, joined in order.
                let threads = rayon::current_num_threads().max(1);
                let per = rows.div_ceil(threads).max(256);
                let starts: Vec<usize> = (0..rows).step_by(per).collect();
                let (format, resource, before) = (self.format, self.resource, self.rows);
                let parts: Vec<Result<Vec<u8>, GraphError>> = starts
                    .into_par_iter()
                    .map(|a| encode_rows(format, resource, batch, a, (a + per).min(rows), before))
                    .collect();
                for part in parts {
                    out.extend_from_slice(&part?);
                }
                out
            }
            ExportFormat::Parquet => {
                let projected = batch
                    .project(&self.keep)
                    .map_err(|e| GraphError::Internal(e.to_string()))?;
                let writer = self.parquet.as_mut().expect("a parquet writer");
                writer
                    .write(&projected)
                    .map_err(|e| GraphError::Internal(e.to_string()))?;
                // The writer counts the bytes it wrote itself: taking them out keeps its offsets.
                std::mem::take(writer.inner_mut())
            }
        };
        self.rows += rows as u64;
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<u8>, GraphError> {
        Ok(match self.format {
            ExportFormat::NdJson => Vec::new(),
            ExportFormat::Json if self.rows == 0 => b"[]\n".to_vec(),
            ExportFormat::Json => b"\n]\n".to_vec(),
            ExportFormat::Csv if self.rows == 0 => csv_header(self.resource)?,
            ExportFormat::Csv => Vec::new(),
            ExportFormat::Parquet => match self.parquet.take() {
                Some(writer) => writer
                    .into_inner()
                    .map_err(|e| GraphError::Internal(e.to_string()))?,
                None => Vec::new(),
            },
        })
    }
}

/// The CSV header line of a resource.
fn csv_header(resource: GraphResource) -> Result<Vec<u8>, GraphError> {
    let mut out = Vec::new();
    let mut w = csv::WriterBuilder::new().from_writer(&mut out);
    w.write_record(csv_columns(resource).iter().map(|(h, _)| *h))
        .map_err(|e| GraphError::Internal(e.to_string()))?;
    w.flush().map_err(|e| GraphError::Internal(e.to_string()))?;
    drop(w);
    Ok(out)
}

/// Rows `from..to` of a batch in a text format; `before` rows of the export came earlier (the
/// JSON array's first row has no comma before it).
fn encode_rows(
    format: ExportFormat,
    resource: GraphResource,
    batch: &RecordBatch,
    from: usize,
    to: usize,
    before: u64,
) -> Result<Vec<u8>, GraphError> {
    let internal = |e: &dyn std::fmt::Display| GraphError::Internal(e.to_string());
    let mut out = Vec::with_capacity((to - from) * 2048);
    if format == ExportFormat::Csv {
        let mut w = csv::WriterBuilder::new().from_writer(&mut out);
        for row in from..to {
            let record = record_to_json(batch, row);
            w.write_record(
                csv_columns(resource)
                    .iter()
                    .map(|(_, cell)| cell.text(&record)),
            )
            .map_err(|e| internal(&e))?;
        }
        w.flush().map_err(|e| internal(&e))?;
        drop(w);
        return Ok(out);
    }
    let json = GraphJson::default();
    let mut writer = json
        .writer(batch, Properties::All)
        .map_err(|e| internal(&e))?;
    for row in from..to {
        if format == ExportFormat::Json {
            out.extend_from_slice(if before == 0 && row == 0 {
                b"[\n"
            } else {
                b",\n"
            });
        }
        writer.write(row, &mut out);
        if format == ExportFormat::NdJson {
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// How a CSV cell is made from a Graph record.
#[derive(Debug, Clone, Copy)]
pub enum Cell {
    /// The value at a `/`-separated path (empty when absent; objects and lists as JSON).
    Path(&'static str),
    /// A boolean at a path as `Yes` / `No`, as the admin center writes them.
    YesNo(&'static str),
    /// `City, State, CC`.
    Location,
    /// `Success`, `Failure` or `Interrupted` from `status/errorCode`.
    Status,
    /// The first item's value at a path inside a list (`targetResources` → first target).
    First(&'static str, &'static str),
    /// Always empty: the admin center column has no stored counterpart.
    Empty,
}

impl Cell {
    fn text(&self, r: &Map<String, Value>) -> String {
        let at = |path: &str| -> Option<&Value> {
            let mut parts = path.split('/');
            let mut v = r.get(parts.next()?)?;
            for p in parts {
                v = v.get(p)?;
            }
            Some(v)
        };
        match self {
            Cell::Path(p) => cell_text(at(p)),
            Cell::YesNo(p) => match at(p).and_then(Value::as_bool) {
                Some(true) => "Yes".into(),
                Some(false) => "No".into(),
                None => String::new(),
            },
            Cell::Location => [
                "location/city",
                "location/state",
                "location/countryOrRegion",
            ]
            .iter()
            .filter_map(|p| at(p).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
            Cell::Status => match at("status/errorCode").and_then(Value::as_i64) {
                None => String::new(),
                // The portal's Status, from the one error-code catalogue.
                Some(c) => match i32::try_from(c).map(gatehouse_model::error_codes::outcome) {
                    Ok(Outcome::Success) => "Success".into(),
                    Ok(Outcome::Interrupted) => "Interrupted".into(),
                    _ => "Failure".into(),
                },
            },
            Cell::First(list, member) => cell_text(
                at(list)
                    .and_then(Value::as_array)
                    .and_then(|l| l.first())
                    .and_then(|x| x.get(*member)),
            ),
            Cell::Empty => String::new(),
        }
    }
}

/// The CSV columns of a resource's export: for sign-ins the admin center's 57-column sign-in
/// download, quirks included (`Application ID ` and `Resource ID ` end with a space,
/// `Autonomous system  number` has two, `Incoming token type` appears twice), so that scripts
/// written for the downloads read it; for audits and provisioning, Gatehouse's own columns.
pub fn csv_columns(resource: GraphResource) -> &'static [(&'static str, Cell)] {
    match resource {
        GraphResource::SignIns => SIGNIN_CSV,
        GraphResource::DirectoryAudits => AUDIT_CSV,
        GraphResource::Provisioning => PROVISIONING_CSV,
        GraphResource::RiskDetections | GraphResource::ServicePrincipalRiskDetections => RISK_CSV,
    }
}

const RISK_CSV: &[(&str, Cell)] = &[
    ("Detection time (UTC)", Cell::Path("detectedDateTime")),
    ("Activity time (UTC)", Cell::Path("activityDateTime")),
    ("Id", Cell::Path("id")),
    ("Request ID", Cell::Path("requestId")),
    ("Risk event type", Cell::Path("riskEventType")),
    ("Risk level", Cell::Path("riskLevel")),
    ("Risk state", Cell::Path("riskState")),
    ("User", Cell::Path("userDisplayName")),
    ("Username", Cell::Path("userPrincipalName")),
    ("User ID", Cell::Path("userId")),
    ("Service principal ID", Cell::Path("servicePrincipalId")),
    ("IP address", Cell::Path("ipAddress")),
    ("Location", Cell::Location),
    ("Source", Cell::Path("source")),
    ("Detection timing type", Cell::Path("detectionTimingType")),
    ("Additional info", Cell::Path("additionalInfo")),
];

const SIGNIN_CSV: &[(&str, Cell)] = &[
    ("Date (UTC)", Cell::Path("createdDateTime")),
    ("Request ID", Cell::Path("id")),
    ("User agent", Cell::Path("userAgent")),
    ("Correlation ID", Cell::Path("correlationId")),
    ("User ID", Cell::Path("userId")),
    ("User", Cell::Path("userDisplayName")),
    ("Username", Cell::Path("userPrincipalName")),
    ("User type", Cell::Path("userType")),
    (
        "Cross tenant access type",
        Cell::Path("crossTenantAccessType"),
    ),
    ("Incoming token type", Cell::Path("incomingTokenType")),
    (
        "Authentication Protocol",
        Cell::Path("authenticationProtocol"),
    ),
    (
        "Unique token identifier",
        Cell::Path("uniqueTokenIdentifier"),
    ),
    (
        "Original transfer method",
        Cell::Path("originalTransferMethod"),
    ),
    ("Client credential type", Cell::Path("clientCredentialType")),
    (
        "Token Protection - Sign In Session",
        Cell::Path("tokenProtectionStatusDetails/signInSessionStatus"),
    ),
    (
        "Token Protection - Sign In Session StatusCode",
        Cell::Path("tokenProtectionStatusDetails/signInSessionStatusCode"),
    ),
    ("Application", Cell::Path("appDisplayName")),
    ("Application ID ", Cell::Path("appId")),
    ("App owner tenant ID", Cell::Path("appOwnerTenantId")),
    ("Resource", Cell::Path("resourceDisplayName")),
    ("Resource ID ", Cell::Path("resourceId")),
    ("Resource tenant ID", Cell::Path("resourceTenantId")),
    (
        "Resource owner tenant ID",
        Cell::Path("resourceOwnerTenantId"),
    ),
    ("Home tenant ID", Cell::Path("homeTenantId")),
    ("Home tenant name", Cell::Path("homeTenantName")),
    ("IP address", Cell::Path("ipAddress")),
    ("Location", Cell::Location),
    ("Status", Cell::Status),
    ("Sign-in error code", Cell::Path("status/errorCode")),
    ("Failure reason", Cell::Path("status/failureReason")),
    ("Client app", Cell::Path("clientAppUsed")),
    ("Device ID", Cell::Path("deviceDetail/deviceId")),
    ("Browser", Cell::Path("deviceDetail/browser")),
    (
        "Operating System",
        Cell::Path("deviceDetail/operatingSystem"),
    ),
    ("Compliant", Cell::YesNo("deviceDetail/isCompliant")),
    ("Managed", Cell::YesNo("deviceDetail/isManaged")),
    ("Join Type", Cell::Path("deviceDetail/trustType")),
    (
        "Multifactor authentication result",
        Cell::Path("status/additionalDetails"),
    ),
    (
        "Multifactor authentication auth method",
        Cell::Path("mfaDetail/authMethod"),
    ),
    (
        "Multifactor authentication auth detail",
        Cell::Path("mfaDetail/authDetail"),
    ),
    (
        "Authentication requirement",
        Cell::Path("authenticationRequirement"),
    ),
    ("Sign-in identifier", Cell::Path("signInIdentifier")),
    ("Session ID", Cell::Path("sessionId")),
    (
        "IP address (seen by resource)",
        Cell::Path("ipAddressFromResourceProvider"),
    ),
    (
        "Through Global Secure Access",
        Cell::YesNo("isThroughGlobalSecureAccess"),
    ),
    (
        "Global Secure Access IP address",
        Cell::Path("globalSecureAccessIpAddress"),
    ),
    (
        "Autonomous system  number",
        Cell::Path("autonomousSystemNumber"),
    ),
    ("Flagged for review", Cell::YesNo("flaggedForReview")),
    ("Token issuer type", Cell::Path("tokenIssuerType")),
    ("Incoming token type", Cell::Path("incomingTokenType")),
    ("Token issuer name", Cell::Path("tokenIssuerName")),
    ("Latency", Cell::Path("processingTimeInMilliseconds")),
    ("Conditional Access", Cell::Path("conditionalAccessStatus")),
    (
        "Managed Identity type",
        Cell::Path("managedServiceIdentity/msiType"),
    ),
    (
        "Associated Resource Id",
        Cell::Path("managedServiceIdentity/associatedResourceId"),
    ),
    (
        "Federated Token Id",
        Cell::Path("managedServiceIdentity/federatedTokenId"),
    ),
    (
        "Federated Token Issuer",
        Cell::Path("managedServiceIdentity/federatedTokenIssuer"),
    ),
];

const AUDIT_CSV: &[(&str, Cell)] = &[
    ("Date (UTC)", Cell::Path("activityDateTime")),
    ("Id", Cell::Path("id")),
    ("CorrelationId", Cell::Path("correlationId")),
    ("Service", Cell::Path("loggedByService")),
    ("Category", Cell::Path("category")),
    ("Activity", Cell::Path("activityDisplayName")),
    ("Result", Cell::Path("result")),
    ("ResultReason", Cell::Path("resultReason")),
    ("OperationType", Cell::Path("operationType")),
    (
        "ActorUserPrincipalName",
        Cell::Path("initiatedBy/user/userPrincipalName"),
    ),
    ("ActorUserId", Cell::Path("initiatedBy/user/id")),
    (
        "ActorAppDisplayName",
        Cell::Path("initiatedBy/app/displayName"),
    ),
    ("ActorAppId", Cell::Path("initiatedBy/app/appId")),
    ("IPAddress", Cell::Path("initiatedBy/user/ipAddress")),
    ("Target1Type", Cell::First("targetResources", "type")),
    (
        "Target1DisplayName",
        Cell::First("targetResources", "displayName"),
    ),
    ("Target1ObjectId", Cell::First("targetResources", "id")),
    (
        "Target1UserPrincipalName",
        Cell::First("targetResources", "userPrincipalName"),
    ),
    ("TargetResources", Cell::Path("targetResources")),
    ("AdditionalDetails", Cell::Path("additionalDetails")),
];

const PROVISIONING_CSV: &[(&str, Cell)] = &[
    ("Date (UTC)", Cell::Path("activityDateTime")),
    ("Id", Cell::Path("id")),
    ("Job ID", Cell::Path("jobId")),
    ("Cycle ID", Cell::Path("cycleId")),
    ("Change ID", Cell::Path("changeId")),
    ("Action", Cell::Path("provisioningAction")),
    ("Status", Cell::Path("provisioningStatusInfo/status")),
    (
        "Error code",
        Cell::Path("provisioningStatusInfo/errorInformation/errorCode"),
    ),
    (
        "Error reason",
        Cell::Path("provisioningStatusInfo/errorInformation/reason"),
    ),
    ("Source system", Cell::Path("sourceSystem/displayName")),
    ("Target system", Cell::Path("targetSystem/displayName")),
    ("Source identity ID", Cell::Path("sourceIdentity/id")),
    (
        "Source identity name",
        Cell::Path("sourceIdentity/displayName"),
    ),
    (
        "Source identity type",
        Cell::Path("sourceIdentity/identityType"),
    ),
    ("Target identity ID", Cell::Path("targetIdentity/id")),
    (
        "Target identity name",
        Cell::Path("targetIdentity/displayName"),
    ),
    (
        "Target identity type",
        Cell::Path("targetIdentity/identityType"),
    ),
    (
        "Service principal",
        Cell::Path("servicePrincipal/displayName"),
    ),
    ("Initiated by", Cell::Path("initiatedBy/displayName")),
    ("Duration (ms)", Cell::Path("durationInMilliseconds")),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_follow_the_admin_center() {
        let r = json!({"location": {"city": "Oslo", "state": null, "countryOrRegion": "NO"},
            "status": {"errorCode": 50074}, "deviceDetail": {"isCompliant": true},
            "targetResources": [{"type": "User"}, {"type": "Group"}]});
        let r = r.as_object().unwrap();
        assert_eq!(Cell::Location.text(r), "Oslo, NO");
        assert_eq!(Cell::Status.text(r), "Interrupted");
        assert_eq!(Cell::YesNo("deviceDetail/isCompliant").text(r), "Yes");
        assert_eq!(Cell::YesNo("deviceDetail/isManaged").text(r), "");
        assert_eq!(Cell::First("targetResources", "type").text(r), "User");
        assert_eq!(SIGNIN_CSV.len(), 57, "the admin center's 57 columns");
        let header: Vec<&str> = SIGNIN_CSV.iter().map(|(h, _)| *h).collect();
        let sample = include_str!(
            "../../../testdata/formats/entra-portal-interactivesignins-csv-header.csv"
        );
        assert_eq!(header.join(","), sample.lines().next().unwrap().trim_end());
    }
}
