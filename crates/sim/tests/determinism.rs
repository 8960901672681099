//! Same options give byte-identical output; a different seed gives different output.

mod common;

use common::{read_tree, small};
use gatehouse_sim::{generate_day, AttackSelection, OutputFormat, SimOptions, Tenant};

#[test]
fn same_seed_same_bytes_graph() {
    let opts = small(OutputFormat::Graph, AttackSelection::Default);
    let (_a, ta) = common::run(&opts);
    let (_b, tb) = common::run(&opts);
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(tb[k] == *v, "{k} differs between identical runs");
    }
    assert!(ta.contains_key("tenant.json") && ta.contains_key("labels.jsonl"));
}

#[test]
fn same_seed_same_bytes_diagnostic_gzip() {
    let mut opts = small(OutputFormat::Diagnostic, AttackSelection::Default);
    opts.days = 2;
    opts.gzip = true;
    let (_a, ta) = common::run(&opts);
    let (_b, tb) = common::run(&opts);
    assert_eq!(ta, tb);
    assert!(ta.keys().any(|k| k.ends_with("PT1H.json.gz")));
}

#[test]
fn days_are_independent_of_generation_order() {
    let opts = small(OutputFormat::Graph, AttackSelection::Default);
    let t = Tenant::generate(&opts);
    let d2_first = generate_day(&t, &opts, 2);
    let _ = generate_day(&t, &opts, 0);
    let d2_again = generate_day(&t, &opts, 2);
    assert_eq!(d2_first.signins, d2_again.signins);
    assert_eq!(d2_first.audits, d2_again.audits);
    assert_eq!(d2_first.labels, d2_again.labels);
}

#[test]
fn different_seed_different_bytes() {
    let opts = small(OutputFormat::Graph, AttackSelection::None);
    let other = SimOptions {
        seed: 8,
        ..opts.clone()
    };
    let a = generate_day(&Tenant::generate(&opts), &opts, 1);
    let b = generate_day(&Tenant::generate(&other), &other, 1);
    assert_ne!(a.signins, b.signins);
    assert_ne!(
        gatehouse_sim::SimOptions::default().effective_tenant_id(),
        SimOptions {
            seed: 2,
            tenant_id: String::new(),
            ..SimOptions::default()
        }
        .effective_tenant_id()
    );
}

#[test]
fn tree_reader_sees_graph_layout() {
    let mut opts = small(OutputFormat::Graph, AttackSelection::None);
    opts.days = 1;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = gatehouse_sim::simulate_to_dir(&opts, dir.path(), &mut |_, _, _| {}).expect("sim");
    let tree = read_tree(dir.path());
    assert!(tree.contains_key("graph/signins/2026-11-02.jsonl"));
    assert!(tree.contains_key("graph/audits/2026-11-02.jsonl"));
    // No file for a stream without records (ingest rejects empty files).
    assert!(
        tree.iter()
            .all(|(name, v)| !name.starts_with("graph/") || !v.is_empty()),
        "an empty log file was written"
    );
    let bytes: u64 = tree.values().map(|v| v.len() as u64).sum();
    assert_eq!(bytes, s.bytes_written);
    assert_eq!(s.labels, 0);
}

#[test]
fn streamed_files_equal_generate_day() {
    let opts = small(OutputFormat::Graph, AttackSelection::Default);
    let (_d, tree) = common::run(&opts);
    let t = Tenant::generate(&opts);
    let mut labels = Vec::new();
    for day in 0..opts.days {
        let d = generate_day(&t, &opts, day);
        let date = d.date.format("%Y-%m-%d").to_string();
        assert!(
            tree[&format!("graph/signins/{date}.jsonl")] == d.signins,
            "signins {date}"
        );
        assert!(
            tree[&format!("graph/audits/{date}.jsonl")] == d.audits,
            "audits {date}"
        );
        assert!(
            tree[&format!("graph/provisioning/{date}.jsonl")] == d.provisioning,
            "provisioning {date}"
        );
        for l in &d.labels {
            labels.extend(serde_json::to_vec(l).expect("label"));
            labels.push(b'\n');
        }
    }
    assert!(tree["labels.jsonl"] == labels);
}

#[test]
fn stream_day_chunks_concatenate_to_generate_day() {
    let opts = small(OutputFormat::Diagnostic, AttackSelection::Default);
    let t = Tenant::generate(&opts);
    let whole = generate_day(&t, &opts, 1);
    let mut parts: [Vec<u8>; 3] = Default::default();
    let mut chunks = 0;
    let meta = gatehouse_sim::stream_day(&t, &opts, 1, 64 * 1024, &mut |kind, data| {
        assert_eq!(data.last(), Some(&b'\n'), "chunks hold whole lines");
        chunks += 1;
        let i = match kind {
            gatehouse_sim::RecordKind::SignIns => 0,
            gatehouse_sim::RecordKind::Audits => 1,
            gatehouse_sim::RecordKind::Provisioning => 2,
        };
        parts[i].extend_from_slice(data);
        Ok(())
    })
    .expect("stream");
    assert!(chunks > 3);
    assert!(
        parts[0] == whole.signins && parts[1] == whole.audits && parts[2] == whole.provisioning
    );
    assert_eq!(meta.counts, whole.counts);
    assert_eq!(meta.labels, whole.labels);
    assert_eq!(meta.date, whole.date);
}
