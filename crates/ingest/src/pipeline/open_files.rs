//! The ingest writer thread's files: one open Parquet file per partition, into which accepted
//! rows are streamed as they arrive, so memory holds a row group being encoded per partition
//! rather than every row of a file waiting to be written.
//!
//! A partition's sign-ins go to one file per sign-in type (`gatehouse_store::writer::PartitionFile`).
//! A file is closed when it holds [`IngestOptions::file_rows`] rows, when the open files
//! together hold more than [`IngestOptions::max_buffered_bytes`] (the partitions that went
//! longest without new rows first, until half is left), when rows arrive for a partition while
//! [`IngestOptions::max_open_files`] are open (the coldest first: each open file holds a file
//! descriptor), and at the end of the input; closed files are finished on a thread of their own
//! (`ingest-close`) while new rows go on into new files, and each is reported to the ingesting
//! thread, in order, which commits it.
//!
//! A batch run's files keep their rows in time order. Rows of a partition older than the latest
//! of their sign-in type's open file end its streamed files, and from then on that partition's
//! files gather their rows in memory and are sorted when closed, as every file was before
//! streaming. (One type after another, as per-type exports come, streams.)
//!
//! A running service's files ([`OpenFiles::in_arrival_order`]) hold the rows of one commit
//! interval each, and take them in the order they arrive, each batch sorted: the partitions of
//! a Kafka topic each deliver rows in time order but interleave, and gathering them to sort each
//! second's file copied every row once more (a tenth of the CPU of a catch-up), for files whose
//! statistics span the same times either way (a second's rows of a type rarely fill more than
//! one row group: 2 files of 45 in a 1.9 GB catch-up). Compaction merges such files oldest
//! first, as it merges any.
//!
//! [`IngestOptions::file_rows`]: super::IngestOptions::file_rows
//! [`IngestOptions::max_buffered_bytes`]: super::IngestOptions::max_buffered_bytes
//! [`IngestOptions::max_open_files`]: super::IngestOptions::max_open_files

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, Sender};

use gatehouse_store::layout::PartitionKey;
use gatehouse_store::writer::{
    is_sorted_by_time, sort_by_time, write_partition_file, PartitionFile,
};
use gatehouse_store::DataFile;

use crate::Result;

/// What the ingesting thread sends the writer thread.
pub(super) enum ToWriter {
    /// Accepted rows of one partition (duplicates already dropped).
    Rows {
        key: PartitionKey,
        batch: RecordBatch,
    },
    /// Close every open file, and say so (with [`WriteDone::flushed`]) even if none was open.
    Flush,
}

/// Files the writer thread closed, with what each holds, for one commit.
#[derive(Default)]
pub(super) struct WriteDone {
    pub(super) added: Vec<DataFile>,
    /// The partitions the files hold rows of, and how many.
    pub(super) parts: Vec<(PartitionKey, usize)>,
    /// The answer to a [`ToWriter::Flush`]: no file was open once these closed.
    pub(super) flushed: bool,
}

/// An open file and what it holds.
struct Open {
    body: Body,
    rows: usize,
    /// When rows last arrived (a message count), to find cold partitions.
    last_used: u64,
}

enum Body {
    /// Rows encoded into the file as they come (they arrive in time order).
    Streaming(Box<PartitionFile>),
    /// Rows gathered in memory, sorted and written when the file closes.
    Gathered {
        batches: Vec<RecordBatch>,
        bytes: usize,
    },
}

impl Open {
    fn memory_size(&self) -> usize {
        match &self.body {
            Body::Streaming(f) => f.memory_size(),
            Body::Gathered { bytes, .. } => *bytes,
        }
    }
}

/// The writer thread's state.
pub(super) struct OpenFiles {
    root: PathBuf,
    file_rows: usize,
    max_bytes: usize,
    max_open: usize,
    open: HashMap<PartitionKey, Open>,
    /// Partitions whose rows arrived out of order: their files are gathered and sorted.
    unsorted: HashSet<PartitionKey>,
    /// Rows out of time order stream on into the open files (see the module's comment).
    arrival_order: bool,
    messages: u64,
}

impl OpenFiles {
    pub(super) fn new(
        root: PathBuf,
        file_rows: usize,
        max_bytes: usize,
        max_open: usize,
    ) -> OpenFiles {
        OpenFiles {
            root,
            file_rows: file_rows.max(1),
            max_bytes,
            max_open: max_open.max(1),
            open: HashMap::new(),
            unsorted: HashSet::new(),
            arrival_order: false,
            messages: 0,
        }
    }

    /// Files take rows in the order they arrive, each batch sorted by time, rather than
    /// gathering a partition whose rows arrive out of order to sort it: for a running service,
    /// whose commits close every file each interval (see the module's comment).
    pub(super) fn in_arrival_order(mut self, yes: bool) -> OpenFiles {
        self.arrival_order = yes;
        self
    }

    /// Handles messages until the ingesting thread hangs up, then closes what is open. Reports
    /// each set of closed files, in the order of the messages that closed them; stops at the
    /// first error, which it reports.
    ///
    /// Files are finished (their last rows encoded, the footer written, flushed to disk) on a
    /// thread of their own, `ingest-close`, while this one takes the next rows into new files:
    /// a commit every second closes every open file, and finishing them here stopped the whole
    /// pipeline for as long (parsing waits for this thread once its queue is full).
    pub(super) fn run(mut self, messages: Receiver<ToWriter>, done: Sender<Result<WriteDone>>) {
        let root = self.root.clone();
        let (close_tx, close_rx) = crossbeam_channel::bounded::<Result<Closing>>(2);
        std::thread::scope(|scope| {
            let closer = std::thread::Builder::new()
                .name("ingest-close".into())
                .spawn_scoped(scope, {
                    let done = done.clone();
                    move || finish_closings(&root, close_rx, done)
                });
            if let Err(e) = closer {
                let _ = done.send(Err(crate::IngestError::Invalid(format!(
                    "cannot start a thread: {e}"
                ))));
                return;
            }
            drop(done);
            for message in messages {
                let result = match message {
                    ToWriter::Rows { key, batch } => self.rows(key, batch),
                    ToWriter::Flush => {
                        let mut c = self.close_all();
                        c.done.flushed = true;
                        Ok(c)
                    }
                };
                let failed = result.is_err();
                // A closed channel: the closing thread stopped at an error it reported.
                if close_tx.send(result).is_err() || failed {
                    return;
                }
            }
            let _ = close_tx.send(Ok(self.close_all()));
            // The closing thread ends once the channel is closed (the scope waits for it).
            drop(close_tx);
        });
    }

    fn rows(&mut self, key: PartitionKey, batch: RecordBatch) -> Result<Closing> {
        self.messages += 1;
        let mut done = Closing::default();
        let time_column = key.log.time_column();
        let mut batch = batch;
        if !self.unsorted.contains(&key) {
            if !is_sorted_by_time(std::slice::from_ref(&batch), time_column) {
                batch = sort_by_time(&batch, time_column)?;
            }
            let behind = match self.open.get(&key).map(|o| &o.body) {
                Some(Body::Streaming(f)) => !self.arrival_order && !f.keeps_time_order(&batch),
                _ => false,
            };
            if behind {
                // Rows older than their file's latest (each sign-in type has its file): the
                // streamed files end here (they are sorted), and this partition's files are
                // sorted in memory from now on.
                self.unsorted.insert(key.clone());
                self.close(&key, &mut done);
            }
        }
        if !self.open.contains_key(&key) && self.open.len() >= self.max_open {
            let coldest = self
                .open
                .iter()
                .min_by_key(|(_, o)| o.last_used)
                .map(|(k, _)| k.clone());
            if let Some(coldest) = coldest {
                self.close(&coldest, &mut done);
            }
        }
        let open = match self.open.get_mut(&key) {
            Some(open) => open,
            None => {
                let body = if self.unsorted.contains(&key) {
                    Body::Gathered {
                        batches: Vec::new(),
                        bytes: 0,
                    }
                } else {
                    Body::Streaming(Box::new(
                        PartitionFile::new(&self.root, &key).with_max_rows(self.file_rows as u64),
                    ))
                };
                self.open.entry(key.clone()).or_insert(Open {
                    body,
                    rows: 0,
                    last_used: 0,
                })
            }
        };
        open.rows += batch.num_rows();
        open.last_used = self.messages;
        match &mut open.body {
            Body::Streaming(f) => {
                // A streamed partition's files (one per sign-in type) are finished one by one
                // as each reaches the row limit, the others staying open.
                f.append(&batch)?;
                let full = f.take_finished();
                if !full.is_empty() {
                    let rows = full.iter().map(|f| f.rows as usize).sum::<usize>();
                    open.rows = open.rows.saturating_sub(rows);
                    done.done.added.extend(full);
                    done.done.parts.push((key.clone(), rows));
                }
            }
            Body::Gathered { batches, bytes } => {
                *bytes += batch.get_array_memory_size();
                batches.push(batch);
                if open.rows >= self.file_rows {
                    self.close(&key, &mut done);
                }
            }
        }
        self.close_coldest(&mut done);
        Ok(done)
    }

    /// When the open files hold more than the limit, closes the ones that went longest without
    /// new rows until at most half of it is left.
    fn close_coldest(&mut self, done: &mut Closing) {
        let mut held: usize = self.open.values().map(Open::memory_size).sum();
        if held <= self.max_bytes {
            return;
        }
        let mut by_age: Vec<(u64, usize, PartitionKey)> = self
            .open
            .iter()
            .map(|(k, o)| (o.last_used, o.memory_size(), k.clone()))
            .collect();
        by_age.sort();
        for (_, bytes, key) in by_age {
            if held <= self.max_bytes / 2 {
                break;
            }
            held = held.saturating_sub(bytes);
            self.close(&key, done);
        }
    }

    fn close_all(&mut self) -> Closing {
        let mut done = Closing::default();
        let mut keys: Vec<PartitionKey> = self.open.keys().cloned().collect();
        keys.sort();
        for key in keys {
            self.close(&key, &mut done);
        }
        done
    }

    /// Hands the file of `key` (if open) to the closing thread, by way of `done`.
    fn close(&mut self, key: &PartitionKey, done: &mut Closing) {
        if let Some(open) = self.open.remove(key) {
            done.to_close.push((key.clone(), open));
        }
    }
}

/// What one message to the writer thread leaves for the closing thread: the files it finished
/// already (full ones), and the open files it closed, to finish.
#[derive(Default)]
struct Closing {
    done: WriteDone,
    to_close: Vec<(PartitionKey, Open)>,
}

impl Closing {
    /// Finishes the files to close (moved into their partition folders, not live until a
    /// commit names them) and says what all of them hold.
    fn finish(self, root: &std::path::Path) -> Result<WriteDone> {
        let mut done = self.done;
        for (key, open) in self.to_close {
            let entry = match open.body {
                Body::Streaming(f) => (*f).finish()?,
                Body::Gathered { batches, .. } => write_partition_file(root, &key, batches)?,
            };
            done.added.extend(entry);
            done.parts.push((key, open.rows));
        }
        Ok(done)
    }
}

/// The closing thread: finishes each message's files in order and reports them (nothing for a
/// message that neither closed a file nor answers a flush); stops at the first error, which it
/// reports.
fn finish_closings(
    root: &std::path::Path,
    closings: Receiver<Result<Closing>>,
    done: Sender<Result<WriteDone>>,
) {
    for closing in closings {
        match closing.and_then(|c| c.finish(root)) {
            Ok(d) if d.added.is_empty() && d.parts.is_empty() && !d.flushed => {}
            Ok(d) => {
                if done.send(Ok(d)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = done.send(Err(e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{SystemFields, TableBuilder};
    use arrow::array::{Array, TimestampMicrosecondArray};
    use gatehouse_model::{LogKind, SignInKind, TableSchema};
    use gatehouse_store::writer::read_file;

    fn times(batch: &RecordBatch, time_column: &str) -> Option<TimestampMicrosecondArray> {
        batch
            .column_by_name(time_column)?
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .cloned()
    }

    /// Sign-ins `ids` at second `t0 + id` of 2024-01-01, as one batch.
    fn batch(ids: impl Iterator<Item = u32>, t0: u32) -> RecordBatch {
        let table = TableSchema::of(LogKind::SignIns);
        let mut b = TableBuilder::new(&table);
        let sys = SystemFields::TEST;
        for id in ids {
            let s = t0 + id;
            let record = serde_json::json!({
                "id": format!("id-{id}"),
                "createdDateTime": format!("2024-01-01T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60),
                "userPrincipalName": format!("u{}", id % 7),
            });
            b.append(record.as_object().unwrap(), "createdDateTime", &sys)
                .unwrap();
        }
        b.finish()
    }

    fn key() -> PartitionKey {
        PartitionKey {
            tenant: "t".into(),
            log: LogKind::SignIns,
            day: 19723,
        }
    }

    /// Runs the writer thread's loop over `batches` and returns what it reported.
    fn run(
        dir: &std::path::Path,
        file_rows: usize,
        max_bytes: usize,
        batches: Vec<RecordBatch>,
    ) -> Vec<WriteDone> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        for batch in batches {
            tx.send(ToWriter::Rows { key: key(), batch }).unwrap();
        }
        drop(tx);
        OpenFiles::new(dir.to_path_buf(), file_rows, max_bytes, usize::MAX).run(rx, done_tx);
        done_rx.iter().map(|d| d.unwrap()).collect()
    }

    fn times_of(dir: &std::path::Path, entry: &DataFile) -> Vec<i64> {
        read_file(&dir.join(&entry.path))
            .unwrap()
            .iter()
            .flat_map(|b| times(b, "createdDateTime").unwrap().values().to_vec())
            .map(|us| us * 1000)
            .collect()
    }

    #[test]
    fn rows_in_order_stream_into_files_of_file_rows() {
        let dir = tempfile::tempdir().unwrap();
        let batches = (0..10).map(|n| batch(n * 100..(n + 1) * 100, 0)).collect();
        let done = run(dir.path(), 300, usize::MAX, batches);
        let files: Vec<&DataFile> = done.iter().flat_map(|d| &d.added).collect();
        // Closed at 300 rows (at a batch boundary: 300, 300, 300), the rest at the end.
        assert_eq!(
            files.iter().map(|f| f.rows).collect::<Vec<_>>(),
            [300, 300, 300, 100]
        );
        let rows: usize = done.iter().flat_map(|d| &d.parts).map(|p| p.1).sum();
        assert_eq!(rows, 1000);
        for f in files {
            let t = times_of(dir.path(), f);
            assert!(t.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!((t[0], *t.last().unwrap()), (f.min_time_ns, f.max_time_ns));
        }
    }

    /// A partition's sign-ins of each type stream into a file of their own; a type's file is
    /// finished when it reaches the row limit while the other types' files stay open.
    #[test]
    fn each_sign_in_type_streams_into_files_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let table = TableSchema::of(LogKind::SignIns);
        let batches = (0..10)
            .map(|n| {
                let mut b = TableBuilder::new(&table);
                for id in n * 100..(n + 1) * 100 {
                    let kind = if id % 10 == 0 { "servicePrincipal" } else { "nonInteractiveUser" };
                    let record = serde_json::json!({
                        "id": format!("id-{id}"),
                        "createdDateTime": format!("2024-01-01T00:{:02}:{:02}Z", id / 60 % 60, id % 60),
                        "signInEventTypes": [kind],
                    });
                    b.append(record.as_object().unwrap(), "createdDateTime", &SystemFields::TEST)
                        .unwrap();
                }
                b.finish()
            })
            .collect();
        let done = run(dir.path(), 300, usize::MAX, batches);
        let files: Vec<(Option<SignInKind>, u64)> = done
            .iter()
            .flat_map(|d| &d.added)
            .map(|f| (f.sign_in_kind, f.rows))
            .collect();
        // 90 non-interactive rows a batch: a file of them is finished at 360 rows; the service
        // principals' file stays open until the end.
        use gatehouse_model::SignInKind::{NonInteractiveUser, ServicePrincipal};
        assert_eq!(
            files,
            [
                (Some(NonInteractiveUser), 360),
                (Some(NonInteractiveUser), 360),
                (Some(ServicePrincipal), 100),
                (Some(NonInteractiveUser), 180),
            ]
        );
        let rows: usize = done.iter().flat_map(|d| &d.parts).map(|p| p.1).sum();
        assert_eq!(rows, 1000);
    }

    /// Sign-ins of `kind`, ids `ids` at second `t0 + id` of 2024-01-01, as one batch.
    fn typed_batch(ids: std::ops::Range<u32>, t0: u32, kind: &str) -> RecordBatch {
        let table = TableSchema::of(LogKind::SignIns);
        let mut b = TableBuilder::new(&table);
        for id in ids {
            let s = t0 + id;
            let record = serde_json::json!({
                "id": format!("id-{id}"),
                "createdDateTime": format!("2024-01-01T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60),
                "signInEventTypes": [kind],
            });
            b.append(
                record.as_object().unwrap(),
                "createdDateTime",
                &SystemFields::TEST,
            )
            .unwrap();
        }
        b.finish()
    }

    /// An export of one type after another (interactive sign-ins of a day, then the day's
    /// non-interactive ones) streams: each type's file stays in time order, whatever the other's
    /// times; rows older than their own type's file end the streamed files.
    #[test]
    fn time_order_is_kept_per_sign_in_type() {
        let dir = tempfile::tempdir().unwrap();
        let streamed = vec![
            typed_batch(0..100, 1000, "interactiveUser"),
            typed_batch(100..200, 0, "nonInteractiveUser"),
            typed_batch(200..300, 2000, "interactiveUser"),
        ];
        let done = run(dir.path(), usize::MAX, usize::MAX, streamed);
        // All three at the end, in one close: nothing was behind.
        assert_eq!(done.len(), 1);
        let rows: Vec<u64> = done[0].added.iter().map(|f| f.rows).collect();
        assert_eq!(rows, [200, 100]);

        let dir = tempfile::tempdir().unwrap();
        let behind = vec![
            typed_batch(0..100, 1000, "interactiveUser"),
            typed_batch(100..200, 0, "nonInteractiveUser"),
            typed_batch(200..300, 0, "interactiveUser"),
        ];
        let done = run(dir.path(), usize::MAX, usize::MAX, behind);
        let files: Vec<&DataFile> = done.iter().flat_map(|d| &d.added).collect();
        assert_eq!(files.len(), 3, "the streamed files end, the rest is sorted");
        for f in files {
            let t = times_of(dir.path(), f);
            assert!(t.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn rows_out_of_order_end_the_streamed_file_and_are_sorted_from_then_on() {
        let dir = tempfile::tempdir().unwrap();
        let batches = vec![
            batch(0..100, 1000),
            // Unsorted within itself, but after the first batch once sorted: still streamed.
            batch((100..200).rev(), 1000),
            // Older than what the file holds: the file ends; the partition is gathered.
            batch(200..300, 0),
            batch(300..400, 2000),
            batch(400..500, 500),
        ];
        let done = run(dir.path(), usize::MAX, usize::MAX, batches);
        let files: Vec<&DataFile> = done.iter().flat_map(|d| &d.added).collect();
        assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), [200, 300]);
        for f in &files {
            let t = times_of(dir.path(), f);
            assert!(
                t.windows(2).all(|w| w[0] <= w[1]),
                "a file out of time order"
            );
        }
    }

    /// A running service's files take rows as they arrive: three sources (a topic's partitions),
    /// each in time order, interleaved, stream into one file, nothing gathered; each batch's rows
    /// are sorted, and the file's times span every row. A batch run gathers and sorts them.
    #[test]
    fn a_running_service_streams_interleaved_sources_in_arrival_order() {
        let mut batches = Vec::new();
        for n in 0..20u32 {
            for source in 0..3u32 {
                // Source s holds the ids equal to s modulo 3, ten to a batch, in reverse.
                batches.push(batch((0..10).rev().map(|j| n * 30 + source + 3 * j), 0));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut files = OpenFiles::new(dir.path().to_path_buf(), usize::MAX, usize::MAX, 128)
            .in_arrival_order(true);
        for b in &batches {
            let done = files.rows(key(), b.clone()).unwrap();
            assert!(done.to_close.is_empty() && done.done.added.is_empty());
        }
        assert!(files.unsorted.is_empty(), "the partition was gathered");
        let done = files.close_all().finish(dir.path()).unwrap();
        assert_eq!(done.added.len(), 1);
        let file = &done.added[0];
        assert_eq!(file.rows, 600);
        let t = times_of(dir.path(), file);
        for (n, batch) in t.chunks(10).enumerate() {
            assert!(
                batch.windows(2).all(|w| w[0] < w[1]),
                "batch {n} not sorted"
            );
        }
        assert!(
            !t.windows(2).all(|w| w[0] <= w[1]),
            "arrival order, not sorted"
        );
        let (lo, hi) = (*t.iter().min().unwrap(), *t.iter().max().unwrap());
        assert_eq!((file.min_time_ns, file.max_time_ns), (lo, hi));
        assert_eq!(hi - lo, 599_000_000_000);

        let dir = tempfile::tempdir().unwrap();
        let done = run(dir.path(), usize::MAX, usize::MAX, batches);
        let files: Vec<&DataFile> = done.iter().flat_map(|d| &d.added).collect();
        // The first batch streams; the second is behind it, and the rest are gathered.
        assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), [10, 590]);
        for f in files {
            let t = times_of(dir.path(), f);
            assert!(t.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn at_most_max_open_files_are_open_the_coldest_closing_first() {
        let dir = tempfile::tempdir().unwrap();
        const CAP: usize = 4;
        let mut files = OpenFiles::new(dir.path().to_path_buf(), usize::MAX, usize::MAX, CAP);
        let day_key = |d: i32| PartitionKey {
            day: 19723 + d,
            ..key()
        };
        let mut closed = Vec::new();
        // Days 0-3 fill the open files; day 0 is used again, so day 1 is the coldest when day 4
        // arrives, then day 2 when day 5 arrives.
        for (n, d) in [0, 1, 2, 3, 0, 4, 5].into_iter().enumerate() {
            let n = n as u32;
            let done = files
                .rows(day_key(d), batch(n * 10..(n + 1) * 10, 0))
                .unwrap();
            closed.extend(done.to_close.iter().map(|(k, _)| k.day - 19723));
            assert!(files.open.len() <= CAP, "{} files open", files.open.len());
        }
        assert_eq!(closed, [1, 2]);
        let done = files.close_all().finish(dir.path()).unwrap();
        let rows: usize = done.parts.iter().map(|p| p.1).sum();
        assert_eq!((done.added.len(), rows), (CAP, 50));
    }

    #[test]
    fn flushes_are_answered_in_order_while_rows_go_on_into_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let day = |d: i32| PartitionKey {
            day: 19723 + d,
            ..key()
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        // Rows of day 0, a flush, rows of days 0 and 1, a flush, rows of day 1, the end.
        let rows = |d: i32, n: u32| ToWriter::Rows {
            key: day(d),
            batch: batch(n * 10..(n + 1) * 10, 0),
        };
        for m in [
            rows(0, 0),
            ToWriter::Flush,
            rows(0, 1),
            rows(1, 2),
            ToWriter::Flush,
            ToWriter::Flush,
            rows(1, 3),
        ] {
            tx.send(m).unwrap();
        }
        drop(tx);
        OpenFiles::new(dir.path().to_path_buf(), usize::MAX, usize::MAX, usize::MAX)
            .run(rx, done_tx);
        let answers: Vec<(bool, Vec<(i32, usize)>)> = done_rx
            .iter()
            .map(|d| {
                let d = d.unwrap();
                assert_eq!(d.added.len(), d.parts.len());
                let parts = d.parts.iter().map(|(k, n)| (k.day - 19723, *n)).collect();
                (d.flushed, parts)
            })
            .collect();
        assert_eq!(
            answers,
            [
                (true, vec![(0, 10)]),
                (true, vec![(0, 10), (1, 10)]),
                // A flush with nothing open is answered all the same.
                (true, vec![]),
                (false, vec![(1, 10)]),
            ]
        );
        // Every file was finished and moved into its partition folder.
        let files: usize = (0..2)
            .map(|d| {
                std::fs::read_dir(dir.path().join(day(d).dir()))
                    .unwrap()
                    .count()
            })
            .sum();
        assert_eq!(files, 4);
    }

    #[test]
    fn open_files_over_the_memory_limit_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        let batches = (0..6).map(|n| batch(n * 500..(n + 1) * 500, 0)).collect();
        // Every batch puts the open file over the limit: each is closed at once.
        let done = run(dir.path(), usize::MAX, 1, batches);
        let files: Vec<&DataFile> = done.iter().flat_map(|d| &d.added).collect();
        assert_eq!(files.len(), 6);
        assert!(files.iter().all(|f| f.rows == 500));
    }
}
