//! Seeded random mutations of simulated sign-ins and audits (wrong types, nulls, numbers as
//! strings, odd number literals, out-of-range times, unknown and deleted members, reordered and
//! repeated keys), fed the way ingest feeds them: through `append_tape`, falling back to `append`
//! after a bail, on one builder; through `append` only on another. Builders are reused across
//! `finish` and bails follow each other, so a bail that leaves anything behind, or a row the two
//! paths store differently, shows up as differing batches. `FUZZ_ITERS` and `FUZZ_SEED` widen it.

use arrow::record_batch::RecordBatch;
use gatehouse_formats::fast::recognize;
use gatehouse_formats::tape::Tape;
use gatehouse_model::time::parse_timestamp;
use gatehouse_model::{LogKind, TableSchema};
use gatehouse_sim::{stream_day, SimOptions, Tenant};
use gatehouse_store::convert::{SystemFields, TableBuilder};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const SYS: SystemFields<'static> = SystemFields {
    tenant_id: "t",
    ingested_at_ns: 7,
    source: "graph",
    envelope: None,
};

/// xorshift64: deterministic for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A string leaf starting with this is written as the raw JSON text after it (number literals
/// `serde_json` would normalise).
const RAW: &str = "__RAW__";

/// A random replacement value.
fn leaves(rng: &mut Rng) -> Value {
    let opts: Vec<Value> = vec![
        Value::Null,
        json!("x"),
        json!(""),
        json!("Zo\u{00eb} \"q\" \\ \u{1F600}"),
        json!(true),
        json!(false),
        json!("TRUE"),
        json!("maybe"),
        json!(0),
        json!(-5),
        json!(3000000000u64),
        json!(" 42 "),
        json!("4.0"),
        json!(1.5),
        json!(5.0),
        json!([]),
        json!({}),
        json!({"zz": 1, "a": "b"}),
        json!({"k": "v", "a": null}),
        json!({"k": 1}),
        json!(["a", "b"]),
        json!([1, "a", null, {"x": 1}]),
        json!([{}]),
        json!([{"unknownMember": 1}]),
        json!([null]),
        json!("2024-01-01T00:00:00Z"),
        json!("2500-01-01T00:00:00Z"),
        json!("0001-01-01T00:00:00Z"),
        json!("not a time"),
        json!(format!("{RAW}-0")),
        json!(format!("{RAW}1E2")),
        json!(format!("{RAW}12345678901234567890")),
        json!(format!("{RAW}9007199254740993")),
        json!(format!("{RAW}-9223372036854775808")),
        json!(format!("{RAW}9.1e15")),
        json!(format!("{RAW}2147483648")),
        json!(format!("{RAW}-2147483648")),
        json!(format!("{RAW}1.0e0")),
    ];
    opts[rng.below(opts.len())].clone()
}

/// All paths to nodes of `v`.
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(o) => {
            for (k, c) in o {
                prefix.push(json!(k));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                prefix.push(json!(i));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// The node at `path`.
fn at<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    let mut cur = v;
    for p in path {
        cur = match p {
            Value::String(k) => cur.get_mut(k.as_str()).unwrap(),
            Value::Number(n) => cur.get_mut(n.as_u64().unwrap() as usize).unwrap(),
            _ => unreachable!(),
        };
    }
    cur
}

/// One random change somewhere in `v` (the top-level members named in `keep` stay).
fn mutate(rng: &mut Rng, v: &mut Value, keep: &[&str]) {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    let p = &all[rng.below(all.len())];
    if p.len() == 1 && keep.contains(&p[0].as_str().unwrap_or("")) {
        return;
    }
    let node = at(v, p);
    match rng.below(6) {
        0..=2 => *node = leaves(rng),
        3 => {
            if let Value::Object(o) = node {
                o.insert(format!("unknown{}", rng.below(3)), leaves(rng));
            } else if let Value::Array(a) = node {
                let c = a.first().cloned().unwrap_or(Value::Null);
                a.push(c);
            }
        }
        4 => {
            if let Value::Object(o) = node {
                if !o.is_empty() && !p.is_empty() {
                    let k = o.keys().nth(rng.below(o.len())).unwrap().clone();
                    o.remove(&k);
                }
            } else if let Value::Array(a) = node {
                if !a.is_empty() {
                    a.remove(rng.below(a.len()));
                }
            }
        }
        _ => {
            let c = node.clone();
            *node = json!([c.clone(), c]);
        }
    }
}

/// Writes `v` with members sometimes shuffled and, when `dup`, sometimes one repeated.
fn write(rng: &mut Rng, v: &Value, out: &mut String, dup: bool, top: bool) {
    match v {
        Value::String(s) if s.starts_with(RAW) => out.push_str(&s[RAW.len()..]),
        Value::Object(o) => {
            let mut members: Vec<(&String, &Value)> = o.iter().collect();
            if rng.below(3) == 0 {
                for i in (1..members.len()).rev() {
                    let j = rng.below(i + 1);
                    members.swap(i, j);
                }
            }
            if dup && !members.is_empty() && rng.below(8) == 0 {
                let m = members[rng.below(members.len())];
                if !(top && (m.0 == "id" || m.0 == "createdDateTime" || m.0 == "activityDateTime"))
                {
                    members.push(m);
                }
            }
            out.push('{');
            for (n, (k, c)) in members.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                write(rng, c, out, dup, false);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (n, c) in a.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write(rng, c, out, dup, false);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn same(a: &RecordBatch, b: &RecordBatch, what: &str) {
    assert_eq!(a.num_rows(), b.num_rows(), "{what}");
    for (i, f) in a.schema().fields().iter().enumerate() {
        assert_eq!(a.column(i), b.column(i), "{what}: column {}", f.name());
    }
}

#[test]
fn random_mutations_store_the_same_rows_on_both_paths() {
    let opts = SimOptions {
        users: 20,
        days: 1,
        ..SimOptions::default()
    };
    let tenant = Tenant::generate(&opts);
    let mut bases: Vec<(LogKind, Value)> = Vec::new();
    stream_day(&tenant, &opts, 0, 1 << 20, &mut |_, bytes| {
        for line in std::str::from_utf8(bytes).unwrap().lines() {
            if line.trim().is_empty() {
                continue;
            }
            let mut tape = Tape::new();
            tape.parse(line).unwrap();
            if let Some(r) = recognize(&tape, line, None) {
                bases.push((r.log, serde_json::from_str(line).unwrap()));
            }
        }
        Ok(())
    })
    .unwrap();
    assert!(bases.len() > 100);
    let iters: usize = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6000);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e3779b97f4a7c15);
    let mut rng = Rng(seed);
    let mut builders: HashMap<LogKind, (TableBuilder, TableBuilder, Vec<String>)> = HashMap::new();
    let (mut fast, mut bail, mut rejected) = (0, 0, 0);
    let mut tape = Tape::new();
    for iter in 0..iters {
        let (log, base) = &bases[rng.below(bases.len())];
        let time_column = log.time_column();
        let mut v = base.clone();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut v, &["id", time_column]);
        }
        let mut text = String::new();
        let dup = rng.below(4) == 0;
        write(&mut rng, &v, &mut text, dup, true);
        let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let body: Map<String, Value> = body;
        let schema = TableSchema::of(*log);
        let (f, g, texts) = builders.entry(*log).or_insert_with(|| {
            (
                TableBuilder::new(&schema),
                TableBuilder::new(&schema),
                Vec::new(),
            )
        });
        let time_ns = body
            .get(time_column)
            .and_then(|t| t.as_str())
            .and_then(|s| parse_timestamp(s).ok())
            .and_then(|t| t.timestamp_nanos_opt());
        tape.parse(&text).unwrap();
        let took_fast = match time_ns {
            Some(ns) => match f.append_tape(&tape, &text, 0, time_column, ns, &SYS) {
                Ok(a) => {
                    let r = g.append(&body, time_column, &SYS);
                    match r {
                        Ok(s) => assert_eq!(s.id, a.id),
                        Err(e) => panic!("fast stored what general rejects ({e}): {text}"),
                    }
                    fast += 1;
                    true
                }
                Err(_) => {
                    bail += 1;
                    false
                }
            },
            None => false,
        };
        if !took_fast {
            let rf = f.append(&body, time_column, &SYS);
            let rg = g.append(&body, time_column, &SYS);
            assert_eq!(rf.is_ok(), rg.is_ok());
            if rf.is_err() {
                rejected += 1;
            }
        }
        assert_eq!(f.len(), g.len());
        texts.push(text);
        if iter % 97 == 0 || iter + 1 == iters {
            for (log, (f, g, texts)) in builders.iter_mut() {
                let what = format!("{log:?} batch ending at iter {iter}");
                let fb = f.finish();
                let gb = g.finish();
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| same(&gb, &fb, &what)))
                    .is_err()
                {
                    panic!("{what} (seed {seed}); its records:\n{}", texts.join("\n"));
                }
                fb.columns()
                    .iter()
                    .for_each(|c| c.to_data().validate_full().unwrap());
                texts.clear();
            }
        }
    }
    // The mutations must exercise all three outcomes, or the test proves little.
    assert!(fast > iters / 10, "fast {fast} of {iters}");
    assert!(bail > iters / 50, "bail {bail} of {iters}");
    assert!(rejected > 0, "rejected {rejected} of {iters}");
}
