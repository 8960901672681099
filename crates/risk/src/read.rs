//! Reading the stored sign-ins the engine looks at straight from their Parquet files: only the
//! leaf columns its rules use (a `location` or `deviceDetail` struct is read for the two or three
//! fields needed, not whole), files read in parallel, laid out as the flat columns
//! [`crate::event`] reads.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StructArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::{Result, RiskError};

/// The columns read (dotted paths select those leaves of a struct).
const LEAVES: &[&str] = &[
    "id",
    "createdDateTime",
    "_ingestedAt",
    "signInEventTypes",
    "isInteractive",
    "userId",
    "userPrincipalName",
    "userDisplayName",
    "servicePrincipalId",
    "servicePrincipalName",
    "appId",
    "appDisplayName",
    "ipAddress",
    "autonomousSystemNumber",
    "location.city",
    "location.countryOrRegion",
    "location.geoCoordinates.latitude",
    "location.geoCoordinates.longitude",
    "deviceDetail.deviceId",
    "deviceDetail.operatingSystem",
    "deviceDetail.browser",
    "status.errorCode",
    "clientAppUsed",
    "sessionId",
    "networkLocationDetails",
    "servicePrincipalCredentialKeyId",
    "userAgent",
];

fn parquet_err(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> RiskError + '_ {
    move |e| RiskError::Invalid(format!("{}: {e}", path.display()))
}

/// Reads one file's sign-ins as flat batches (the names [`flatten`] gives), handing each to
/// `each` as it is decoded.
fn read_file(path: &Path, each: &mut dyn FnMut(RecordBatch) -> bool) -> Result<()> {
    let file = File::open(path).map_err(|e| RiskError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_err(path))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), LEAVES.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(16 * 1024)
        .build()
        .map_err(parquet_err(path))?;
    for batch in reader {
        if !each(flatten(&batch?)?) {
            break;
        }
    }
    Ok(())
}

/// What a reading thread sends back: a batch, or that a file is done.
enum Msg {
    Batch(RecordBatch),
    Done(Result<()>),
}

/// Threads that read files for the whole of one poll (their allocator heaps live as long, so
/// the memory of the batches they decode is reused day after day instead of piling up in the
/// heaps of threads that ended).
pub(crate) struct ReaderPool {
    work: crossbeam_channel::Sender<std::path::PathBuf>,
    results: crossbeam_channel::Receiver<Msg>,
}

impl ReaderPool {
    /// Reads `paths` and hands their batches to `each` on this thread as they come (a few
    /// batches in flight at most).
    pub(crate) fn read(
        &self,
        root: &Path,
        paths: &[String],
        each: &mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        for p in paths {
            self.work
                .send(root.join(p))
                .map_err(|_| RiskError::Invalid("the reading threads stopped".into()))?;
        }
        let mut outcome = Ok(());
        let mut done = 0;
        while done < paths.len() {
            match self.results.recv() {
                Ok(Msg::Batch(b)) => {
                    if outcome.is_ok() {
                        outcome = each(b);
                    }
                }
                Ok(Msg::Done(r)) => {
                    done += 1;
                    if outcome.is_ok() {
                        outcome = r;
                    }
                }
                Err(_) => return Err(RiskError::Invalid("the reading threads stopped".into())),
            }
        }
        outcome
    }
}

/// Runs `f` with `threads` reading threads.
pub(crate) fn with_readers<R>(threads: usize, f: impl FnOnce(&ReaderPool) -> R) -> R {
    let (work_tx, work_rx) = crossbeam_channel::unbounded::<std::path::PathBuf>();
    let (result_tx, result_rx) = crossbeam_channel::bounded::<Msg>(threads.max(1) * 2);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            let work = work_rx.clone();
            let results = result_tx.clone();
            s.spawn(move || {
                for path in work {
                    let mut send = |b: RecordBatch| results.send(Msg::Batch(b)).is_ok();
                    let r = read_file(&path, &mut send);
                    if results.send(Msg::Done(r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(result_tx);
        let pool = ReaderPool {
            work: work_tx,
            results: result_rx,
        };
        let out = f(&pool);
        // Closing the work queue ends the threads.
        drop(pool);
        out
    })
}

fn child(batch: &RecordBatch, parent: &str, name: &str) -> Option<ArrayRef> {
    let s = batch.column_by_name(parent)?.as_struct_opt()?;
    struct_child(s, name)
}

fn struct_child(s: &StructArray, name: &str) -> Option<ArrayRef> {
    let c = s.column_by_name(name)?.clone();
    // A null struct makes its fields null too.
    match s.nulls() {
        Some(n) if n.null_count() > 0 => {
            let merged = arrow::buffer::NullBuffer::union(Some(n), c.nulls());
            let data = c.to_data().into_builder().nulls(merged).build().ok()?;
            Some(arrow::array::make_array(data))
        }
        _ => Some(c),
    }
}

/// The sign-in kind of each row: 3 managed identity, 2 service principal, 1 non-interactive,
/// 0 interactive (from `signInEventTypes`, else `isInteractive`).
fn kinds(batch: &RecordBatch) -> Int32Array {
    let n = batch.num_rows();
    let list = batch
        .column_by_name("signInEventTypes")
        .and_then(|c| c.as_list_opt::<i32>().cloned());
    let interactive = batch
        .column_by_name("isInteractive")
        .and_then(|c| c.as_boolean_opt().cloned());
    let items = list
        .as_ref()
        .and_then(|l| arrow::compute::cast(l.values(), &DataType::Utf8).ok());
    let items = items.as_ref().map(|i| i.as_string::<i32>());
    (0..n)
        .map(|row| {
            let mut code = None;
            if let (Some(l), Some(items)) = (&list, items) {
                if l.is_valid(row) {
                    let offsets = l.value_offsets();
                    for i in offsets[row] as usize..offsets[row + 1] as usize {
                        let c = match items.value(i) {
                            "managedIdentity" => 3,
                            "servicePrincipal" => 2,
                            "nonInteractiveUser" => 1,
                            "interactiveUser" => 0,
                            _ => continue,
                        };
                        code = Some(code.map_or(c, |x: i32| x.max(c)));
                    }
                }
            }
            Some(code.unwrap_or_else(|| match &interactive {
                Some(b) if b.is_valid(row) && !b.value(row) => 1,
                _ => 0,
            }))
        })
        .collect()
}

/// The nested batch as the flat columns the reader takes.
fn flatten(batch: &RecordBatch) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let null_str: ArrayRef = arrow::array::new_null_array(&DataType::Utf8, n);
    let null_f64: ArrayRef = arrow::array::new_null_array(&DataType::Float64, n);
    let null_i32: ArrayRef = arrow::array::new_null_array(&DataType::Int32, n);
    let top = |name: &str, null: &ArrayRef| -> ArrayRef {
        batch
            .column_by_name(name)
            .cloned()
            .unwrap_or_else(|| null.clone())
    };
    let time = |name: &str| -> Result<ArrayRef> {
        match batch.column_by_name(name) {
            Some(c) => Ok(arrow::compute::cast(c, &DataType::Int64)?),
            None => Ok(arrow::array::new_null_array(&DataType::Int64, n)),
        }
    };
    let geo = batch
        .column_by_name("location")
        .and_then(|c| c.as_struct_opt().cloned())
        .and_then(|l| struct_child(&l, "geoCoordinates"))
        .and_then(|g| g.as_struct_opt().cloned());
    let geo_child = |name: &str| -> ArrayRef {
        geo.as_ref()
            .and_then(|g| struct_child(g, name))
            .unwrap_or_else(|| null_f64.clone())
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", top("id", &null_str)),
        ("t", time("createdDateTime")?),
        ("ingested", time("_ingestedAt")?),
        ("kind", Arc::new(kinds(batch))),
        ("userId", top("userId", &null_str)),
        ("userPrincipalName", top("userPrincipalName", &null_str)),
        ("userDisplayName", top("userDisplayName", &null_str)),
        ("servicePrincipalId", top("servicePrincipalId", &null_str)),
        (
            "servicePrincipalName",
            top("servicePrincipalName", &null_str),
        ),
        ("appId", top("appId", &null_str)),
        ("appDisplayName", top("appDisplayName", &null_str)),
        ("ipAddress", top("ipAddress", &null_str)),
        ("asn", top("autonomousSystemNumber", &null_i32)),
        (
            "country",
            child(batch, "location", "countryOrRegion").unwrap_or_else(|| null_str.clone()),
        ),
        (
            "city",
            child(batch, "location", "city").unwrap_or_else(|| null_str.clone()),
        ),
        ("lat", geo_child("latitude")),
        ("lon", geo_child("longitude")),
        (
            "device_id",
            child(batch, "deviceDetail", "deviceId").unwrap_or_else(|| null_str.clone()),
        ),
        (
            "os",
            child(batch, "deviceDetail", "operatingSystem").unwrap_or_else(|| null_str.clone()),
        ),
        (
            "browser",
            child(batch, "deviceDetail", "browser").unwrap_or_else(|| null_str.clone()),
        ),
        (
            "code",
            child(batch, "status", "errorCode").unwrap_or_else(|| null_i32.clone()),
        ),
        ("clientAppUsed", top("clientAppUsed", &null_str)),
        ("sessionId", top("sessionId", &null_str)),
        (
            "networkLocationDetails",
            top(
                "networkLocationDetails",
                &arrow::array::new_null_array(&DataType::Null, n),
            ),
        ),
        (
            "servicePrincipalCredentialKeyId",
            top("servicePrincipalCredentialKeyId", &null_str),
        ),
        ("userAgent", top("userAgent", &null_str)),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )?)
}
