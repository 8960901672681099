//! The Kafka connector against Tansu (a Kafka-compatible broker, installed by `scripts/test.sh`
//! with `cargo install tansu`), with the kafka-python client producing the simulator's diagnostic
//! export as Event Hubs carries it (`{"records": […]}` messages) over several partitions:
//! consumed in a consumer group to the end, `kill -9` at random moments, two consumers sharing
//! the partitions and one taking over when the other dies.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{free_port, python, reference_counts, run_python, wait_for_port, Gh};

const TOPIC: &str = "entra-logs";

/// A Tansu broker on a free loopback port (memory storage); killed when dropped.
struct Broker {
    child: Child,
    bootstrap: String,
}

fn tansu() -> PathBuf {
    let candidates = [
        std::env::var_os("GATEHOUSE_TANSU").map(PathBuf::from),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gatehouse-tools/bin/tansu")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .expect("Tansu is not installed (scripts/test.sh installs it: cargo install tansu --root ~/.cache/gatehouse-tools)")
}

impl Broker {
    fn start() -> Broker {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu");
        wait_for_port(port, "Tansu");
        Broker {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
        }
    }

    /// Produces a diagnostic tree as `{"records": […]}` messages over `partitions` partitions.
    fn produce(&self, tree: &Path, partitions: u32) -> u64 {
        let script = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kafka_produce.py"),
        )
        .unwrap();
        let v = run_python(
            &python(),
            &script,
            &[
                self.bootstrap.as_ref(),
                TOPIC.as_ref(),
                partitions.to_string().as_ref(),
                tree.as_os_str(),
                "25".as_ref(),
            ],
        );
        v["records"].as_u64().unwrap()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn consume_once(gh: &Gh, broker: &Broker, group: &str) -> String {
    let r = gh.run(&[
        "connect",
        "kafka",
        "--brokers",
        &broker.bootstrap,
        "--topic",
        TOPIC,
        "--group",
        group,
        "--tenant",
        "contoso",
        "--once",
    ]);
    r.expect_code(0, "connect kafka --once");
    r.stderr.clone()
}

#[test]
fn a_topic_is_consumed_once_across_partitions_and_kills() {
    let gh = Gh::new();
    let tree = gh.simulate_diagnostic(40, 3, 31);
    let expected = reference_counts(&tree, "contoso");
    let broker = Broker::start();
    let records = broker.produce(&tree, 3);
    assert!(records > 1000);
    let out = consume_once(&gh, &broker, "gatehouse-a");
    assert_eq!(gh.log_counts(), expected, "{out}");
    // Again: nothing new; the positions hold.
    let out = consume_once(&gh, &broker, "gatehouse-a");
    assert!(out.contains("0 messages"), "{out}");
    let status = gh.run(&["status"]);
    for p in 0..3 {
        assert!(
            status
                .stdout
                .contains(&format!("contoso/kafka:{TOPIC}/{p}")),
            "{}",
            status.stdout
        );
    }

    // Another store, consumed with kill -9 at random moments, then to the end.
    let other = Gh::new();
    let total: i64 = expected.values().map(|(n, _)| n).sum();
    let args = [
        "connect",
        "kafka",
        "--brokers",
        &broker.bootstrap,
        "--topic",
        TOPIC,
        "--group",
        "gatehouse-b",
        "--tenant",
        "contoso",
    ];
    let midway = other.kill_repeatedly(&args, 8, 1000, 1500, total);
    consume_once(&other, &broker, "gatehouse-b");
    assert_eq!(other.log_counts(), expected, "after the kills");
    assert!(midway > 0, "no kill landed while records were being stored");
}
