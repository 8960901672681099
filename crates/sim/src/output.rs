//! Writing a whole simulation to disk. Days are planned and rendered in parallel (rayon), each
//! streaming straight into its own files through small buffers, so memory stays bounded by
//! the number of worker threads times one day's plan (~100 bytes per sign-in), never by the
//! size of the output. Every file belongs to exactly one day and its bytes depend only on the
//! options, so the output is byte-identical whatever the thread schedule; `labels.jsonl` and
//! the progress callback follow day order.
//!
//! Layout:
//! * Graph: `graph/{signins,audits,provisioning}/YYYY-MM-DD.jsonl[.gz]` (a stream without records
//!   that day has no file)
//! * Diagnostic: `insights-logs-<category>/tenantId=<tid>/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json[.gz]`
//! * Always: `tenant.json` (the directory) and `labels.jsonl` (ground truth).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;
use serde::Serialize;

use crate::{
    day, render_day, DayCounts, LineSink, OutputFormat, SimError, SimOptions, Stream, Tenant,
};

/// Totals of a simulation run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SimSummary {
    /// Days generated.
    pub days: u32,
    /// Interactive user sign-ins (AD FS included).
    pub interactive_user: u64,
    /// Non-interactive user sign-ins.
    pub non_interactive_user: u64,
    /// Service principal sign-ins.
    pub service_principal: u64,
    /// Managed identity sign-ins.
    pub managed_identity: u64,
    /// AD FS sign-ins (subset of `interactive_user`).
    pub adfs: u64,
    /// Directory audit records.
    pub audits: u64,
    /// Provisioning records.
    pub provisioning: u64,
    /// Labels written.
    pub labels: u64,
    /// Files written.
    pub files: u64,
    /// Bytes written (after compression).
    pub bytes_written: u64,
}

impl SimSummary {
    /// All sign-ins.
    pub fn signins(&self) -> u64 {
        self.interactive_user
            + self.non_interactive_user
            + self.service_principal
            + self.managed_identity
    }

    fn add(&mut self, c: &DayCounts) {
        self.days += 1;
        self.interactive_user += c.interactive_user;
        self.non_interactive_user += c.non_interactive_user;
        self.service_principal += c.service_principal;
        self.managed_identity += c.managed_identity;
        self.adfs += c.adfs;
        self.audits += c.audits;
        self.provisioning += c.provisioning;
        self.labels += c.labels;
    }
}

fn io_err(path: &Path, source: io::Error) -> SimError {
    SimError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Counts bytes reaching the file (after compression).
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// An output file, plain or gzipped.
enum OutFile {
    Plain(BufWriter<Counting<File>>),
    Gz(Box<flate2::write::GzEncoder<BufWriter<Counting<File>>>>),
}

impl OutFile {
    fn create(path: &Path, gzip: bool) -> io::Result<OutFile> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let f = BufWriter::with_capacity(
            1 << 20,
            Counting {
                inner: File::create(path)?,
                bytes: 0,
            },
        );
        Ok(if gzip {
            OutFile::Gz(Box::new(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(f, flate2::Compression::new(1)),
            ))
        } else {
            OutFile::Plain(f)
        })
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            OutFile::Plain(w) => w.write_all(data),
            OutFile::Gz(w) => w.write_all(data),
        }
    }

    /// Flushes and closes; returns the bytes on disk.
    fn finish(self) -> io::Result<u64> {
        let w = match self {
            OutFile::Plain(w) => w,
            OutFile::Gz(w) => w.finish()?,
        };
        let c = w.into_inner().map_err(|e| e.into_error())?;
        Ok(c.bytes)
    }
}

/// One open output of the day: a stream/category with its current hour and file.
struct Slot {
    stream: Stream,
    category: &'static str,
    hour: u8,
    path: PathBuf,
    file: Option<OutFile>,
    pending: Vec<u8>,
}

/// Streams a day's lines into its files.
struct FileSink<'a> {
    out: &'a Path,
    graph: bool,
    gzip: bool,
    tenant_id: &'a str,
    date: NaiveDate,
    slots: Vec<Slot>,
    files: u64,
    bytes: u64,
    error: Option<(PathBuf, io::Error)>,
}

const FLUSH_AT: usize = 1 << 20;

impl FileSink<'_> {
    fn path_for(&self, stream: Stream, category: &str, hour: u8) -> PathBuf {
        let ext = if self.gzip { ".gz" } else { "" };
        if self.graph {
            let kind = match stream {
                Stream::Signins => "signins",
                Stream::Audits => "audits",
                Stream::Provisioning => "provisioning",
            };
            self.out
                .join("graph")
                .join(kind)
                .join(format!("{}.jsonl{ext}", self.date.format("%Y-%m-%d")))
        } else {
            self.out
                .join(format!("insights-logs-{}", category.to_ascii_lowercase()))
                .join(format!("tenantId={}", self.tenant_id))
                .join(format!("y={:04}", self.date.year()))
                .join(format!("m={:02}", self.date.month()))
                .join(format!("d={:02}", self.date.day()))
                .join(format!("h={hour:02}"))
                .join("m=00")
                .join(format!("PT1H.json{ext}"))
        }
    }

    fn slot_index(&mut self, stream: Stream, category: &'static str) -> usize {
        let found = self
            .slots
            .iter()
            .position(|s| s.stream == stream && (self.graph || s.category == category));
        match found {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    stream,
                    category,
                    hour: u8::MAX,
                    path: PathBuf::new(),
                    file: None,
                    pending: Vec::with_capacity(FLUSH_AT + 64 * 1024),
                });
                self.slots.len() - 1
            }
        }
    }

    fn flush_slot(&mut self, i: usize) -> io::Result<()> {
        let s = &mut self.slots[i];
        if s.pending.is_empty() {
            return Ok(());
        }
        if s.file.is_none() {
            s.file = Some(OutFile::create(&s.path, self.gzip)?);
            self.files += 1;
        }
        if let Some(f) = s.file.as_mut() {
            f.write_all(&s.pending)?;
        }
        s.pending.clear();
        Ok(())
    }

    fn close_slot(&mut self, i: usize) -> io::Result<()> {
        self.flush_slot(i)?;
        if let Some(f) = self.slots[i].file.take() {
            self.bytes += f.finish()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        for i in 0..self.slots.len() {
            self.close_slot(i)?;
        }
        Ok(())
    }

    fn record_error(&mut self, i: usize, e: io::Error) {
        if self.error.is_none() {
            self.error = Some((self.slots[i].path.clone(), e));
        }
    }
}

impl LineSink for FileSink<'_> {
    fn line(&mut self, stream: Stream, category: &'static str, hour: u8) -> &mut Vec<u8> {
        let i = self.slot_index(stream, category);
        let hour = if self.graph { 0 } else { hour };
        if self.slots[i].hour != hour {
            // Records arrive in time order: a new hour closes the previous hourly blob.
            if let Err(e) = self.close_slot(i) {
                self.record_error(i, e);
            }
            let path = self.path_for(stream, category, hour);
            let s = &mut self.slots[i];
            s.hour = hour;
            s.path = path;
        }
        &mut self.slots[i].pending
    }

    fn end_line(&mut self, stream: Stream, category: &'static str, _hour: u8) -> io::Result<()> {
        if let Some((_, e)) = self.error.take() {
            return Err(e);
        }
        let i = self.slot_index(stream, category);
        if self.slots[i].pending.len() >= FLUSH_AT {
            self.flush_slot(i)?;
        }
        Ok(())
    }
}

/// What one day produced.
struct DayResult {
    labels: Vec<u8>,
    counts: DayCounts,
    files: u64,
    bytes: u64,
}

fn run_day(
    out: &Path,
    opts: &SimOptions,
    tenant: &Tenant,
    day: u32,
) -> Result<DayResult, SimError> {
    let graph = opts.format == OutputFormat::Graph;
    let mut sink = FileSink {
        out,
        graph,
        gzip: opts.gzip,
        tenant_id: &tenant.tenant_id,
        date: crate::day_date(tenant, day),
        slots: Vec::new(),
        files: 0,
        bytes: 0,
        error: None,
    };
    let plan = day::plan_day(tenant, day);
    let res = (|| -> io::Result<(DayCounts, Vec<crate::Label>)> {
        // A stream with no records that day gets no file (Gatehouse's ingest rejects an empty
        // file as `empty_input`, as it would a truncated export).
        let r = render_day(tenant, graph, plan, &mut sink)?;
        sink.finish()?;
        Ok(r)
    })();
    let (counts, labels) = res.map_err(|e| {
        let path = sink
            .error
            .take()
            .map(|(p, _)| p)
            .unwrap_or_else(|| out.to_path_buf());
        io_err(&path, e)
    })?;
    let mut lbytes = Vec::new();
    for l in &labels {
        serde_json::to_writer(&mut lbytes, l)?;
        lbytes.push(b'\n');
    }
    Ok(DayResult {
        labels: lbytes,
        counts,
        files: sink.files,
        bytes: sink.bytes,
    })
}

/// Generates the whole window into `out` (see the module docs for the layout) and returns the
/// totals. `progress(days_done, days_total, signins_so_far)` is called on the calling thread
/// after each day, in day order. Identical options give byte-identical output.
pub fn simulate_to_dir(
    opts: &SimOptions,
    out: &Path,
    progress: &mut dyn FnMut(u32, u32, u64),
) -> Result<SimSummary, SimError> {
    opts.validate()?;
    fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let tenant = Tenant::generate(opts);
    let dir = tenant.directory_json()?;
    let tpath = out.join("tenant.json");
    fs::write(&tpath, dir.as_bytes()).map_err(|e| io_err(&tpath, e))?;
    let lpath = out.join("labels.jsonl");
    let mut labels = BufWriter::new(File::create(&lpath).map_err(|e| io_err(&lpath, e))?);
    let mut summary = SimSummary {
        bytes_written: dir.len() as u64,
        files: 2,
        ..SimSummary::default()
    };
    let total = opts.days;
    let abort = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel::<(u32, Result<DayResult, SimError>)>();
    let mut first_err: Option<SimError> = None;
    std::thread::scope(|s| {
        let tenant = &tenant;
        let abort = &abort;
        s.spawn(move || {
            (0..total).into_par_iter().for_each_with(tx, |tx, day| {
                if abort.load(Ordering::Relaxed) {
                    return;
                }
                let r = run_day(out, opts, tenant, day);
                let _ = tx.send((day, r));
            });
        });
        // Results arrive in any order; labels and progress follow day order.
        let mut waiting: BTreeMap<u32, Result<DayResult, SimError>> = BTreeMap::new();
        let mut next = 0u32;
        for (day, r) in rx {
            waiting.insert(day, r);
            while let Some(r) = waiting.remove(&next) {
                next += 1;
                if first_err.is_some() {
                    continue;
                }
                match r {
                    Ok(d) => {
                        if let Err(e) = labels.write_all(&d.labels) {
                            first_err = Some(io_err(&lpath, e));
                            abort.store(true, Ordering::Relaxed);
                            continue;
                        }
                        summary.add(&d.counts);
                        summary.files += d.files;
                        summary.bytes_written += d.bytes + d.labels.len() as u64;
                        progress(next, total, summary.signins());
                    }
                    Err(e) => {
                        first_err = Some(e);
                        abort.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    if let Some(e) = first_err {
        return Err(e);
    }
    labels.flush().map_err(|e| io_err(&lpath, e))?;
    Ok(summary)
}
