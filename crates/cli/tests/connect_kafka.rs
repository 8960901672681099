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

/// Starts Tansu listening on `port` and advertising `advertised`, with SQLite storage in `dir`
/// (which survives a restart), requiring SASL with `auth`; waits until it listens.
fn tansu_sqlite(dir: &Path, port: u16, advertised: u16, auth: bool) -> Child {
    // Tansu opens a SQLite path relative to its working directory.
    tansu_broker(port, advertised, "sqlite://tansu.db", Some(dir), auth)
}

/// Starts Tansu on `port`, advertising `advertised`, with `storage` (an engine URL; relative
/// paths from `dir`), requiring SASL with `auth`; waits until it listens.
fn tansu_broker(
    port: u16,
    advertised: u16,
    storage: &str,
    dir: Option<&Path>,
    auth: bool,
) -> Child {
    let mut c = Command::new(tansu());
    c.args([
        "broker",
        "--listener-url",
        &format!("tcp://127.0.0.1:{port}"),
    ])
    .args([
        "--advertised-listener-url",
        &format!("tcp://127.0.0.1:{advertised}"),
    ])
    .args(["--storage-engine", storage, "--silent"]);
    if let Some(dir) = dir {
        c.current_dir(dir);
    }
    if auth {
        c.arg("--authentication");
    }
    let child = c
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tansu");
    wait_for_port(port, "Tansu");
    child
}

impl Broker {
    fn start() -> Broker {
        let port = free_port();
        Broker {
            child: tansu_broker(port, port, "memory://tansu/", None, false),
            bootstrap: format!("127.0.0.1:{port}"),
        }
    }

    /// Produces a diagnostic tree as `{"records": […]}` messages over `partitions` partitions.
    fn produce(&self, tree: &Path, partitions: u32) -> u64 {
        produce_to(&self.bootstrap, tree, partitions)
    }
}

/// Produces a diagnostic tree to [`TOPIC`] of `bootstrap` as `{"records": […]}` messages over
/// `partitions` partitions (creating the topic when it does not exist); returns the records.
fn produce_to(bootstrap: &str, tree: &Path, partitions: u32) -> u64 {
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kafka_produce.py"),
    )
    .unwrap();
    let v = run_python(
        &python(),
        &script,
        &[
            bootstrap.as_ref(),
            TOPIC.as_ref(),
            partitions.to_string().as_ref(),
            tree.as_os_str(),
            "25".as_ref(),
        ],
    );
    v["records"].as_u64().unwrap()
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

/// Runs `kafka_consume.py` with these arguments.
fn kafka_script(broker: &Broker, topic: &str, args: &[&str]) -> serde_json::Value {
    kafka_script_at(&broker.bootstrap, topic, args)
}

/// Runs `kafka_consume.py` against `bootstrap` with these arguments.
fn kafka_script_at(bootstrap: &str, topic: &str, args: &[&str]) -> serde_json::Value {
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/kafka_consume.py"),
    )
    .unwrap();
    let mut all: Vec<&std::ffi::OsStr> = vec![bootstrap.as_ref(), topic.as_ref()];
    all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
    run_python(&python(), &script, &all)
}

/// A stream out to a topic: every failed user sign-in (a Graph `$filter`) becomes one message
/// keyed by its id, through a `kill -9` of the server while it produces.
#[test]
fn failed_sign_ins_stream_out_to_a_topic_through_a_kill() {
    use std::collections::BTreeSet;
    let gh = Gh::new();
    let sim = gh.simulate(&["--users", "30", "--days", "1", "--seed", "9"]);
    let tenant: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.join("tenant.json")).unwrap()).unwrap();
    let tenant = tenant["tenantId"].as_str().unwrap().to_string();
    let broker = Broker::start();
    let topic = "gatehouse-failures";
    kafka_script(&broker, topic, &["create", "3"]);
    let filter = "status/errorCode ne 0 and signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')";
    let config = gh.write(
        "gatehouse.toml",
        format!(
            "[[outbound.kafka]]\nname = \"failures-out\"\nfeed = \"signIns\"\nfilter = \"{filter}\"\n\
             start = \"beginning\"\nbatch = 200\nevery_ms = 200\ntimeout_seconds = 10\n\
             compression = \"gzip\"\nbrokers = \"{}\"\ntopic = \"{topic}\"\n",
            broker.bootstrap
        ),
    );
    let config = config.to_str().unwrap().to_string();
    let ingest = gh.token(&tenant, "ingest");
    let reader = gh.token(&tenant, "reports-reader");
    let files: Vec<PathBuf> = std::fs::read_dir(sim.join("graph/signins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    let half = lines.len() / 2;
    let server = common::Served::start(&gh, &["--config", &config]);
    let a = server.post(
        "/gatehouse/ingest",
        Some(&ingest),
        &[],
        lines[..half].join("\n").as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    std::thread::sleep(std::time::Duration::from_millis(700));
    server.kill9();
    let server = common::Served::start(&gh, &["--config", &config]);
    let a = server.post(
        "/gatehouse/ingest",
        Some(&ingest),
        &[],
        lines[half..].join("\n").as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", a.text());

    let a = server.get(
        &format!(
            "/gatehouse/export/signIns?$filter={}",
            filter.replace(' ', "%20").replace('\'', "%27")
        ),
        Some(&reader),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let expected: BTreeSet<String> = a
        .text()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{}|{}", v["id"].as_str().unwrap(), v["status"]["errorCode"])
        })
        .collect();
    assert!(expected.len() > 50, "{} failed sign-ins", expected.len());
    let got = kafka_script(&broker, topic, &["read", &expected.len().to_string(), "90"]);
    let messages = got["messages"].as_array().unwrap();
    let keys: BTreeSet<String> = messages
        .iter()
        .map(|m| format!("{}|{}", m["id"].as_str().unwrap(), m["errorCode"]))
        .collect();
    let missing: Vec<&String> = expected.difference(&keys).take(5).collect();
    let extra: Vec<&String> = keys.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} messages, {} distinct, {} expected; missing {missing:?}, unexpected {extra:?}\n{}",
        messages.len(),
        keys.len(),
        expected.len(),
        server.log()
    );
    let partitions: BTreeSet<i64> = messages
        .iter()
        .map(|m| m["partition"].as_i64().unwrap())
        .collect();
    assert!(partitions.len() > 1, "every message went to one partition");
    for m in messages {
        assert_eq!(m["key"], m["id"]);
        assert_eq!(m["headers"]["gatehouse-tenant"], tenant.as_str());
        assert_eq!(m["headers"]["gatehouse-feed"], "signIns");
        assert!(m["headers"]["gatehouse-delivery"]
            .as_str()
            .is_some_and(|d| d.len() == 32));
    }
    eprintln!(
        "{} failed sign-ins produced as {} messages",
        expected.len(),
        messages.len()
    );
    server.stop();
}

/// A Tansu broker that requires SASL (SCRAM-SHA-512 user `alice`), reached over TLS through
/// socat (Tansu 0.6 has no TLS listener of its own): clients connect to the TLS port, which the
/// broker advertises. Killed when dropped.
struct SecureBroker {
    broker: Child,
    tls: Child,
    bootstrap: String,
    ca_file: PathBuf,
}

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-scram-pw";

impl SecureBroker {
    fn start(dir: &Path) -> SecureBroker {
        let (port, tls_port) = (free_port(), free_port());
        let broker = |auth: bool| tansu_sqlite(dir, port, tls_port, auth);
        // The user is created while the broker is open, then it restarts requiring SASL.
        let mut open = broker(false);
        let made = Command::new(tansu())
            .args(["user", "create", USER, PASSWORD, "--mechanism", "scram512"])
            .args(["--broker", &format!("tcp://127.0.0.1:{port}")])
            .output()
            .expect("tansu user create");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let _ = open.kill();
        let _ = open.wait();
        let broker = broker(true);
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let pem = dir.join("server.pem");
        std::fs::write(
            &pem,
            [std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()].concat(),
        )
        .unwrap();
        let tls = Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{tls_port},bind=127.0.0.1,reuseaddr,fork,cert={},verify=0",
                pem.display()
            ))
            .arg(format!("TCP:127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat (scripts/test.sh installs it)");
        wait_for_port(tls_port, "socat");
        SecureBroker {
            broker,
            tls,
            bootstrap: format!("127.0.0.1:{tls_port}"),
            ca_file: cert,
        }
    }

    /// kafka-python's settings for it.
    fn python_auth(&self) -> String {
        serde_json::json!({
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": USER,
            "sasl_plain_password": PASSWORD,
            "ssl_cafile": self.ca_file,
        })
        .to_string()
    }
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        for c in [&mut self.broker, &mut self.tls] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// SASL SCRAM over TLS both ways: a server streams sign-ins out to a topic of a broker that
/// requires both, and `gatehouse connect kafka` reads them into another store; a wrong password
/// and an untrusted certificate are refused with errors that say so.
#[test]
fn sasl_over_tls_is_spoken_both_ways_and_wrong_credentials_are_refused() {
    let gh = Gh::new();
    let dir = gh.dir.join("broker");
    std::fs::create_dir_all(&dir).unwrap();
    let broker = SecureBroker::start(&dir);
    let topic = "secure-signins";
    let auth = broker.python_auth();
    kafka_script_at(&broker.bootstrap, topic, &["create", "2", &auth]);

    let sim = gh.simulate(&["--users", "20", "--days", "1", "--seed", "4"]);
    let tenant: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.join("tenant.json")).unwrap()).unwrap();
    let tenant = tenant["tenantId"].as_str().unwrap().to_string();
    let filter = "signInEventTypes/any(t: t eq 'interactiveUser')";
    let config = gh.write(
        "gatehouse.toml",
        format!(
            "[[outbound.kafka]]\nname = \"secure\"\nfeed = \"signIns\"\nfilter = \"{filter}\"\n\
             start = \"beginning\"\nevery_ms = 200\ntimeout_seconds = 10\nbrokers = \"{}\"\n\
             topic = \"{topic}\"\nsecurity_protocol = \"sasl_ssl\"\nsasl_mechanism = \"SCRAM-SHA-512\"\n\
             username = \"{USER}\"\npassword = \"{PASSWORD}\"\nca_file = \"{}\"\n",
            broker.bootstrap,
            broker.ca_file.display()
        ),
    );
    let ingest = gh.token(&tenant, "ingest");
    let server = common::Served::start(&gh, &["--config", config.to_str().unwrap()]);
    let body: String = std::fs::read_dir(sim.join("graph/signins"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let a = server.post("/gatehouse/ingest", Some(&ingest), &[], body.as_bytes());
    assert_eq!(a.status, 200, "{}", a.text());
    let interactive = body
        .lines()
        .filter(|l| l.contains("\"interactiveUser\""))
        .count();
    let got = kafka_script_at(
        &broker.bootstrap,
        topic,
        &["read", &interactive.to_string(), "60", &auth],
    );
    assert_eq!(
        got["messages"].as_array().unwrap().len(),
        interactive,
        "{}",
        server.log()
    );
    server.stop();

    // Read back with the connector, SCRAM over TLS.
    let other = Gh::new();
    let ca = broker.ca_file.to_str().unwrap().to_string();
    let connect = |password: &str, ca: &str| {
        other.run(&[
            "connect",
            "kafka",
            "--brokers",
            &broker.bootstrap,
            "--topic",
            topic,
            "--security-protocol",
            "sasl_ssl",
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--username",
            USER,
            "--password",
            password,
            "--ca-file",
            ca,
            "--tenant",
            "contoso",
            "--once",
        ])
    };
    let r = connect(PASSWORD, &ca);
    r.expect_code(0, "connect kafka over SASL_SSL");
    assert_eq!(other.count("signins"), interactive as i64, "{}", r.stderr);

    let wrong = connect("not-the-password", &ca);
    wrong.no_panic("a wrong password");
    assert_ne!(wrong.code, Some(0));
    eprintln!("a wrong password: {}", wrong.stderr.trim());
    let last = |r: &common::Run| r.stderr.trim().lines().last().unwrap_or("").to_lowercase();
    assert!(
        last(&wrong).contains("access denied") && last(&wrong).contains("authentication"),
        "{}",
        wrong.stderr
    );
    // A CA that did not sign the broker's certificate.
    let other_ca = gh.dir.join("other-ca.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=other",
        ])
        .arg("-keyout")
        .arg(gh.dir.join("other-key.pem"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    assert!(made.status.success());
    let untrusted = connect(PASSWORD, other_ca.to_str().unwrap());
    untrusted.no_panic("an untrusted certificate");
    assert_ne!(untrusted.code, Some(0));
    eprintln!("an untrusted certificate: {}", untrusted.stderr.trim());
    assert!(
        last(&untrusted).contains("access denied") && last(&untrusted).contains("certificate"),
        "{}",
        untrusted.stderr
    );
    assert_eq!(other.count("signins"), interactive as i64);
}

/// A broker that goes away for a minute: the connector inside `serve` reports the failures,
/// retries, and once the broker is back reads what was produced meanwhile; the store then equals
/// a file ingest of everything produced.
#[test]
fn the_connector_reports_a_broker_outage_and_catches_up() {
    let gh = Gh::new();
    let first = gh.simulate_diagnostic(25, 2, 51);
    let other = Gh::new();
    let second = other.simulate_diagnostic(25, 1, 52);
    let mut expected = reference_counts(&first, "contoso");
    for (table, (n, v)) in reference_counts(&second, "contoso") {
        let e = expected.entry(table).or_default();
        e.0 += n;
        e.1 += v;
    }
    // A broker with SQLite storage, so that what it holds survives its restart.
    let dir = gh.dir.join("broker");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let start = || tansu_sqlite(&dir, port, port, false);
    let bootstrap = format!("127.0.0.1:{port}");
    let mut broker = start();
    produce_to(&bootstrap, &first, 3);
    let config = gh.write(
        "gatehouse.toml",
        format!(
            "[[connectors.kafka]]\nname = \"hub\"\nbrokers = \"{bootstrap}\"\ntopics = [\"{TOPIC}\"]\n\
             group = \"outage\"\ntenant = \"contoso\"\n[risk]\nenabled = false\n"
        ),
    );
    let server = common::Served::start(&gh, &["--config", config.to_str().unwrap()]);
    let admin = gh.token("contoso", "global-reader");
    let wait_for = |want: &std::collections::BTreeMap<String, (i64, i64)>, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        loop {
            let now = gh.log_counts();
            if now == *want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {now:?}, expected {want:?}\n{}",
                server.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    };
    wait_for(&reference_counts(&first, "contoso"), "before the outage");

    // The broker goes away for a minute; the connector says so.
    let _ = broker.kill();
    let _ = broker.wait();
    let went = std::time::Instant::now();
    let mut reported = serde_json::Value::Null;
    while went.elapsed() < std::time::Duration::from_secs(60) {
        let h = server.get("/healthz", Some(&admin)).json();
        if h["connectors"][0]["errors"].as_u64().unwrap_or(0) > 0 {
            reported = h["connectors"][0].clone();
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    assert!(
        reported["lastError"]["message"].as_str().is_some(),
        "no error reported while the broker was away: {reported}"
    );
    eprintln!("reported during the outage: {reported}");
    let errors = reported["errors"].as_u64().unwrap_or(0);
    assert!(
        errors <= 12,
        "{errors} errors counted in a minute: a repeated error is counted once per 30 s"
    );
    let mut broker = start();
    produce_to(&bootstrap, &second, 3);
    wait_for(&expected, "after the outage");
    let h = server.get("/healthz", Some(&admin)).json();
    assert_eq!(h["connectors"][0]["name"], "hub");
    server.stop();
    let _ = broker.kill();
    let _ = broker.wait();
}

/// The (id, content hash) pairs of a store's sign-ins, audits and provisioning records.
fn stored_versions(gh: &Gh) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for t in ["signins", "audits", "provisioning"] {
        for row in gh.sql(&format!("SELECT id, \"_contentHash\" AS h FROM {t}")) {
            out.insert(format!("{t}|{}|{}", row["id"], row["h"]));
        }
    }
    out
}

/// Two connectors in one consumer group, each with its own store, share the partitions while
/// records arrive; when one leaves the group (Ctrl-C), the other takes its partitions over from
/// the offsets committed to the group. Every record ends up in one store or the other.
#[test]
fn two_consumers_share_a_group_and_one_takes_over_when_the_other_leaves() {
    let parts: Vec<(Gh, PathBuf)> = (0..3)
        .map(|i| {
            let g = Gh::new();
            let tree = g.simulate_diagnostic(15, 1, 61 + i);
            (g, tree)
        })
        .collect();
    let mut expected = 0i64;
    for (_, tree) in &parts {
        expected += reference_counts(tree, "contoso")
            .values()
            .map(|(_, v)| v)
            .sum::<i64>();
    }
    let broker = Broker::start();
    let (a, b) = (Gh::new(), Gh::new());
    let consumer = |gh: &Gh| {
        gh.cmd()
            .args([
                "connect",
                "kafka",
                "--brokers",
                &broker.bootstrap,
                "--topic",
                TOPIC,
            ])
            .args(["--group", "shared", "--tenant", "contoso"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("connect kafka")
    };
    produce_to(&broker.bootstrap, &parts[0].1, 3);
    let mut first = consumer(&a);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut second = consumer(&b);
    // Both members in the group, records arriving.
    std::thread::sleep(std::time::Duration::from_secs(8));
    produce_to(&broker.bootstrap, &parts[1].1, 3);
    std::thread::sleep(std::time::Duration::from_secs(8));
    let (in_a, in_b) = (stored_versions(&a).len(), stored_versions(&b).len());
    // The first leaves the group; the second takes every partition.
    let _ = Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status();
    let status = first.wait().unwrap();
    assert!(
        status.success(),
        "the first consumer did not stop cleanly: {status:?}"
    );
    produce_to(&broker.bootstrap, &parts[2].1, 3);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let union = loop {
        let union: std::collections::BTreeSet<String> = stored_versions(&a)
            .union(&stored_versions(&b))
            .cloned()
            .collect();
        if union.len() as i64 >= expected || std::time::Instant::now() > deadline {
            break union;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    let _ = second.kill();
    let _ = second.wait();
    let overlap = stored_versions(&a)
        .intersection(&stored_versions(&b))
        .count();
    eprintln!(
        "while both ran: {in_a} records in the first store, {in_b} in the second; at the end {} in all, {overlap} in both",
        union.len()
    );
    assert_eq!(union.len() as i64, expected);
    assert!(
        in_a > 0 && in_b > 0,
        "the partitions were not shared: {in_a} / {in_b}"
    );
}
