//! Times the stages of the fast path on one thread over an NDJSON file held in memory, each the
//! best of three runs (`cargo run --profile profiling -p gatehouse-store --example stage_costs --
//! FILE [STAGES]`). Every stage includes the ones before it, so differences give each stage's cost.
//! With `DIRECT=1` it times the direct path instead (`append_direct`, which checks UTF-8 as it reads).

use std::time::Instant;

use gatehouse_formats::fast;
use gatehouse_formats::tape::Tape;
use gatehouse_ingest::{SystemFields, TableBuilder};
use gatehouse_model::schema::TableSchema;
use gatehouse_model::LogKind;

/// The allocator the `gatehouse` binary uses, so timings match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rows per batch, about what one 4 MiB input chunk holds.
const BATCH_ROWS: usize = 700;

/// The Gatehouse columns of every row.
const SYS: SystemFields<'static> = SystemFields {
    tenant_id: "bench",
    ingested_at_ns: 0,
    source: "graph",
    envelope: None,
};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: stage_costs FILE [STAGES]");
    // How many stages to run; all by default.
    let stages: usize = std::env::args()
        .nth(2)
        .map_or(5, |s| s.parse().expect("STAGES is a number"));
    let data = std::fs::read(&path).expect("read");
    let lines: Vec<&str> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| std::str::from_utf8(l).expect("UTF-8"))
        .collect();
    let mb = data.len() as f64 / 1e6;
    if stages == 0 {
        return append_alone(&lines, mb);
    }
    if std::env::var_os("DIRECT").is_some() {
        return direct(&lines, mb);
    }
    let table = TableSchema::of(LogKind::SignIns);
    let mut tape = Tape::new();
    let mut builder = TableBuilder::new(&table);
    let mut batches = Vec::new();
    // The Parquet stage's input, made once.
    let mut parquet_input: Option<Vec<arrow::record_batch::RecordBatch>> = None;
    let names = ["utf8", "+tape", "+recognize", "+append", "+parquet"];
    let mut previous = 0.0;
    for (stage, name) in names.iter().enumerate().take(stages) {
        let mut best = f64::MAX;
        for _ in 0..3 {
            batches.clear();
            let t = Instant::now();
            if stage < 4 {
                for line in &lines {
                    simdutf8::basic::from_utf8(line.as_bytes()).expect("UTF-8");
                    if stage == 0 {
                        continue;
                    }
                    tape.parse(line).expect("JSON");
                    if stage == 1 {
                        continue;
                    }
                    let rec = fast::recognize(&tape, line, None).expect("a Graph record");
                    if stage == 2 {
                        continue;
                    }
                    builder
                        .append_tape(&tape, line, rec.object, "createdDateTime", 0, &SYS)
                        .expect("fast path");
                    if builder.len() == BATCH_ROWS {
                        batches.push(builder.finish());
                    }
                }
                if stage == 3 {
                    batches.push(builder.finish());
                }
            } else {
                let all = parquet_input
                    .get_or_insert_with(|| batches_for_parquet(&lines, &mut tape, &mut builder));
                let props = gatehouse_store::writer::writer_properties();
                let mut w = parquet::arrow::ArrowWriter::try_new(
                    std::io::sink(),
                    all[0].schema(),
                    Some(props),
                )
                .expect("writer");
                let t = Instant::now();
                for b in all.iter() {
                    w.write(b).expect("write");
                }
                w.close().expect("close");
                best = best.min(t.elapsed().as_secs_f64());
                continue;
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        let own = if stage < 4 { best - previous } else { best };
        println!("{name:<12} {own:6.2} s  {:7.0} MB/s", mb / own);
        if stage < 4 {
            previous = best;
        }
    }
}

/// The best of five timings of `run`, in seconds.
fn best_of_five(mut run: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

/// Times the direct path (`append_direct`, which checks UTF-8 as it reads; batches finished as
/// ingest does): best of five.
fn direct(lines: &[&str], mb: f64) {
    let mut builder = TableBuilder::new(&TableSchema::of(LogKind::SignIns));
    let mut tape = Tape::new();
    let best = best_of_five(|| {
        for line in lines {
            builder
                .append_direct(line.as_bytes(), &mut tape, &SYS, |_| true)
                .expect("direct path");
            if builder.len() == BATCH_ROWS {
                drop(builder.finish());
            }
        }
        drop(builder.finish());
    });
    println!("direct       {best:6.3} s  {:7.0} MB/s", mb / best);
}

/// Times the tape alone, then the append stage alone over tapes made beforehand (for the first 20,000 records, so
/// that they fit in memory): best of five.
fn append_alone(lines: &[&str], _mb: f64) {
    let lines = &lines[..lines.len().min(20_000)];
    let mb = lines.iter().map(|l| l.len() + 1).sum::<usize>() as f64 / 1e6;
    let tapes: Vec<(Tape, usize)> = lines
        .iter()
        .map(|line| {
            let mut tape = Tape::new();
            tape.parse(line).expect("JSON");
            let object = fast::recognize(&tape, line, None)
                .expect("a Graph record")
                .object;
            (tape, object)
        })
        .collect();
    let mut scratch = Tape::new();
    let best = best_of_five(|| {
        for line in lines {
            scratch.parse(line).expect("JSON");
        }
    });
    println!("tape alone   {best:6.3} s  {:7.0} MB/s", mb / best);
    let mut builder = TableBuilder::new(&TableSchema::of(LogKind::SignIns));
    let best = best_of_five(|| {
        for (line, (tape, object)) in lines.iter().zip(&tapes) {
            builder
                .append_tape(tape, line, *object, "createdDateTime", 0, &SYS)
                .expect("fast path");
            if builder.len() == BATCH_ROWS {
                drop(builder.finish());
            }
        }
        drop(builder.finish());
    });
    println!("append alone {best:6.3} s  {:7.0} MB/s", mb / best);
    if std::env::var_os("WRITER_VARIANTS").is_some() {
        writer_variants(lines);
    }
}

/// Compares Parquet writer settings on the same batches (best of five each, interleaved).
fn writer_variants(lines: &[&str]) {
    use parquet::file::properties::{WriterProperties, WriterVersion};
    let mut builder = TableBuilder::new(&TableSchema::of(LogKind::SignIns));
    let batches = batches_for_parquet(lines, &mut Tape::new(), &mut builder);
    let store = gatehouse_store::writer::writer_properties;
    let variants: Vec<(&str, WriterProperties)> = vec![
        ("store", store()),
        (
            "v2 pages",
            store()
                .into_builder()
                .set_writer_version(WriterVersion::PARQUET_2_0)
                .build(),
        ),
        (
            "write batch 8192",
            store().into_builder().set_write_batch_size(8192).build(),
        ),
        (
            "no page index",
            store()
                .into_builder()
                .set_offset_index_disabled(true)
                .build(),
        ),
    ];
    let mut best = vec![(f64::MAX, 0usize); variants.len()];
    for _ in 0..5 {
        for (v, (_, props)) in variants.iter().enumerate() {
            let t = Instant::now();
            let mut out = Vec::new();
            let mut w = parquet::arrow::ArrowWriter::try_new(
                &mut out,
                batches[0].schema(),
                Some(props.clone()),
            )
            .expect("writer");
            for b in &batches {
                w.write(b).expect("write");
            }
            w.close().expect("close");
            let s = t.elapsed().as_secs_f64();
            if s < best[v].0 {
                best[v] = (s, out.len());
            }
        }
    }
    for ((name, _), (s, bytes)) in variants.iter().zip(best) {
        println!("writer {name:<18} {s:6.3} s  {:6.1} MB", bytes as f64 / 1e6);
    }
}

/// The batches the append stage makes (for timing the Parquet writer alone).
fn batches_for_parquet(
    lines: &[&str],
    tape: &mut Tape,
    builder: &mut TableBuilder,
) -> Vec<arrow::record_batch::RecordBatch> {
    let mut out = Vec::new();
    for line in lines {
        tape.parse(line).expect("JSON");
        let rec = fast::recognize(tape, line, None).expect("a Graph record");
        builder
            .append_tape(tape, line, rec.object, "createdDateTime", 0, &SYS)
            .expect("fast path");
        if builder.len() == BATCH_ROWS {
            out.push(builder.finish());
        }
    }
    out.push(builder.finish());
    out
}
