//! Times each stage of the fast path on one thread over an NDJSON file held in memory
//! (`cargo run --profile profiling -p gatehouse-store --example stage_costs -- FILE`).

use std::time::Instant;

use gatehouse_formats::fast;
use gatehouse_formats::tape::Tape;
use gatehouse_model::schema::TableSchema;
use gatehouse_model::LogKind;
use gatehouse_store::convert::{SystemFields, TableBuilder};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: stage_costs FILE [STAGES]");
    // How many stages to run (for `perf stat` on a prefix of the pipeline); all by default.
    let stages: usize = std::env::args()
        .nth(2)
        .map_or(5, |s| s.parse().expect("STAGES is a number"));
    let data = std::fs::read(&path).expect("read");
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mb = data.len() as f64 / 1e6;
    let report = |name: &str, t: Instant| {
        let s = t.elapsed().as_secs_f64();
        println!("{name:<28} {s:6.2} s  {:7.0} MB/s", mb / s);
    };
    let t = Instant::now();
    for l in &lines {
        simdutf8::basic::from_utf8(l).unwrap();
    }
    report("utf8", t);
    if stages < 2 {
        return;
    }
    let mut tape = Tape::new();
    let t = Instant::now();
    for l in &lines {
        let s = simdutf8::basic::from_utf8(l).unwrap();
        tape.parse(s).unwrap();
    }
    report("utf8+tape", t);
    if stages < 3 {
        return;
    }
    let t = Instant::now();
    let mut n = 0;
    for l in &lines {
        let s = simdutf8::basic::from_utf8(l).unwrap();
        tape.parse(s).unwrap();
        n += fast::recognize(&tape, s, None).is_some() as usize;
    }
    report("utf8+tape+recognize", t);
    assert_eq!(n, lines.len());
    if stages < 4 {
        return;
    }
    let table = TableSchema::of(LogKind::SignIns);
    let sys = SystemFields {
        tenant_id: "bench",
        ingested_at_ns: 0,
        source: "graph",
        envelope: None,
    };
    let mut batches = Vec::new();
    let t = Instant::now();
    let mut b = TableBuilder::new(&table);
    for l in &lines {
        let s = simdutf8::basic::from_utf8(l).unwrap();
        tape.parse(s).unwrap();
        let rec = fast::recognize(&tape, s, None).unwrap();
        b.append_tape(&tape, s, rec.object, "createdDateTime", 0, &sys)
            .unwrap();
        if b.len() == 700 {
            batches.push(b.finish());
        }
    }
    batches.push(b.finish());
    report("..+append_tape", t);
    if stages < 5 {
        return;
    }
    let t = Instant::now();
    let props = gatehouse_store::writer::writer_properties();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::io::sink(), batches[0].schema(), Some(props))
            .unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    report("parquet (store props)", t);
    if stages < 6 {
        return;
    }
    // Writer settings compared on the same batches: (name, properties).
    use parquet::file::properties::WriterProperties;
    let base = || {
        WriterProperties::builder()
            .set_compression(parquet::basic::Compression::ZSTD(
                parquet::basic::ZstdLevel::try_new(1).unwrap(),
            ))
            .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
    };
    let variants: Vec<(&str, WriterProperties)> = vec![
        ("store", gatehouse_store::writer::writer_properties()),
        ("dictionary, no stats", base().build()),
        ("store", gatehouse_store::writer::writer_properties()),
        ("dictionary, no stats", base().build()),
        (
            "time column page stats",
            base()
                .set_column_statistics_enabled(
                    parquet::schema::types::ColumnPath::from("createdDateTime"),
                    parquet::file::properties::EnabledStatistics::Page,
                )
                .build(),
        ),
    ];
    for (name, props) in variants {
        let t = Instant::now();
        let mut out = Vec::new();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(&mut out, batches[0].schema(), Some(props))
                .unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.close().unwrap();
        let s = t.elapsed().as_secs_f64();
        println!(
            "writer {name:<22} {s:6.2} s  {:6.1} MB",
            out.len() as f64 / 1e6
        );
    }
}
