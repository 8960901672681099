//! Day partials: a question's grouped rows for one UTC day, kept while that day's files stay
//! the same.
//!
//! A question groups sign-ins (by application and user, by browser, OS and user, …) and folds
//! the groups into its report. Over a long period most of the work is grouping days that have
//! not changed since the last time: [`DayPartials`] keeps each whole day's groups, keyed by the
//! question (its SQL and parameters), the tenant, the day, and a fingerprint of the day's live
//! files. A day whose files change (records arrive for it, late or not; compaction or retention
//! rewrites it) has another fingerprint and is grouped again, so answers are exactly those of
//! grouping the whole period at once: the files are the truth, and a duplicate record never
//! reaches them. The period's partial days at its two ends are grouped every time, with their
//! exact bounds. Memory is bounded (least recently used days go first).

use std::collections::HashMap;
use std::sync::Mutex;

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use datafusion::scalar::ScalarValue;
use gatehouse_model::LogKind;
use gatehouse_query::QueryEngine;

use crate::questions::{run, timestamp};
use crate::{Period, Result};

const DAY_US: i64 = 86_400_000_000;

/// What a question reads: an engine over one snapshot (seeing `tenant`'s rows, or every
/// tenant's), and a server's [`DayPartials`] when there is one.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The engine.
    pub engine: &'a QueryEngine,
    /// The tenant the engine sees (`None`: every tenant).
    pub tenant: Option<&'a str>,
    /// Grouped days kept between questions (`None`: group everything each time).
    pub partials: Option<&'a DayPartials>,
}

impl<'a> Source<'a> {
    /// A source without kept days (a one-shot command).
    pub fn new(engine: &'a QueryEngine, tenant: Option<&'a str>) -> Source<'a> {
        Source {
            engine,
            tenant,
            partials: None,
        }
    }
}

type Key = (String, String, i64, u64);

struct Entry {
    batches: Vec<RecordBatch>,
    bytes: usize,
    used: u64,
}

/// Grouped rows of whole days, bounded in memory.
pub struct DayPartials {
    max_bytes: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    bytes: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

impl DayPartials {
    /// Keeps at most `max_bytes` of grouped rows.
    pub fn new(max_bytes: usize) -> DayPartials {
        DayPartials {
            max_bytes,
            state: Mutex::default(),
        }
    }

    /// Days answered from memory and days grouped, since the start.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.hits, s.misses)
    }

    fn get(&self, key: &Key) -> Option<Vec<RecordBatch>> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.clock += 1;
        let clock = s.clock;
        let found = s.entries.get_mut(key).map(|e| {
            e.used = clock;
            e.batches.clone()
        });
        if found.is_some() {
            s.hits += 1;
        } else {
            s.misses += 1;
        }
        found
    }

    fn put(&self, key: Key, batches: Vec<RecordBatch>) {
        let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        if bytes > self.max_bytes / 4 {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.clock += 1;
        let used = s.clock;
        if let Some(old) = s.entries.insert(
            key,
            Entry {
                batches,
                bytes,
                used,
            },
        ) {
            s.bytes -= old.bytes;
        }
        s.bytes += bytes;
        while s.bytes > self.max_bytes {
            let Some(oldest) = s
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = s.entries.remove(&oldest) {
                s.bytes -= e.bytes;
            }
        }
    }
}

/// The grouped rows of `period`: `sql(condition)` is the question's SQL with `condition` (a time
/// range on `createdDateTime`) in its `WHERE`. With day partials, whole UTC days come from them
/// (or are grouped and kept), and the partial days at the ends are grouped with their exact
/// bounds; callers fold rows of one group appearing in several days.
pub(crate) async fn grouped(
    src: &Source<'_>,
    period: Period,
    sql: &(dyn Fn(&str) -> String + Sync),
    params: Vec<ScalarValue>,
) -> Result<Vec<RecordBatch>> {
    let range = |from: i64, to: i64| {
        format!(
            "createdDateTime >= {} AND createdDateTime < {}",
            timestamp(micros_time(from)),
            timestamp(micros_time(to))
        )
    };
    let (from, to) = (period.from_micros(), period.to_micros());
    let first_whole = from.div_euclid(DAY_US) + i64::from(from.rem_euclid(DAY_US) != 0);
    let end_whole = to.div_euclid(DAY_US);
    let Some(partials) = src.partials.filter(|_| first_whole < end_whole) else {
        return run(src.engine, &sql(&range(from, to)), params).await;
    };
    let mut out = Vec::new();
    if from < first_whole * DAY_US {
        out.extend(
            run(
                src.engine,
                &sql(&range(from, first_whole * DAY_US)),
                params.clone(),
            )
            .await?,
        );
    }
    if end_whole * DAY_US < to {
        out.extend(
            run(
                src.engine,
                &sql(&range(end_whole * DAY_US, to)),
                params.clone(),
            )
            .await?,
        );
    }
    let question = format!("{}{params:?}", sql(""));
    let tenant = src.tenant.unwrap_or("").to_ascii_lowercase();
    let snapshot = src.engine.snapshot();
    // The whole days that have files (a day without any has no rows).
    let mut days: std::collections::BTreeMap<i64, Vec<&str>> = Default::default();
    for f in snapshot.files_for(LogKind::SignIns, src.tenant, None) {
        let day = i64::from(f.day);
        if (first_whole..end_whole).contains(&day) {
            days.entry(day).or_default().push(f.path.as_str());
        }
    }
    for (day, mut paths) in days {
        paths.sort_unstable();
        let fingerprint = xxhash_rust::xxh3::xxh3_64(paths.join("\n").as_bytes());
        let key = (question.clone(), tenant.clone(), day, fingerprint);
        match partials.get(&key) {
            Some(batches) => out.extend(batches),
            None => {
                let batches = run(
                    src.engine,
                    &sql(&range(day * DAY_US, (day + 1) * DAY_US)),
                    params.clone(),
                )
                .await?;
                // One batch of exactly its rows: the grouped output's batches are slices of the
                // aggregation's buffers, and each would otherwise keep (and count) all of them.
                let batches = match batches.first().map(RecordBatch::schema) {
                    Some(schema) => {
                        vec![arrow::compute::concat_batches(&schema, &batches)
                            .map_err(datafusion::error::DataFusionError::from)?]
                    }
                    None => batches,
                };
                partials.put(key, batches.clone());
                out.extend(batches);
            }
        }
    }
    Ok(out)
}

fn micros_time(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}
