//! The storage-account connector against Azurite (the Azure Storage emulator, from npm), with
//! blobs written by the Azure Storage SDK for Python: incremental reads of growing append blobs,
//! account key, SAS and connection string, `kill -9` at random moments, the connector inside
//! `gatehouse serve` (metrics, status), and the storage account going away and coming back.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, python, reference_counts, run_python, wait_for_port, Gh, Served};

/// Azurite's documented development account and key.
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The Azurite blob service, started on a free port over a folder; killed when dropped.
struct Azurite {
    child: Child,
    port: u16,
    folder: PathBuf,
}

fn azurite_bin() -> PathBuf {
    let p = std::env::var_os("GATEHOUSE_AZURITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.azurite/node_modules/.bin/azurite-blob")
        });
    assert!(
        p.exists(),
        "Azurite is not installed at {} (scripts/test.sh installs it: npm install --prefix .azurite azurite)",
        p.display()
    );
    p
}

impl Azurite {
    fn start(folder: &Path, port: Option<u16>) -> Azurite {
        let port = port.unwrap_or_else(free_port);
        std::fs::create_dir_all(folder).unwrap();
        let child = Command::new(azurite_bin())
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(folder)
            .args(["--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Azurite");
        wait_for_port(port, "Azurite");
        Azurite {
            child,
            port,
            folder: folder.to_path_buf(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={};",
            self.url()
        )
    }

    fn stop(mut self) -> (PathBuf, u16) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.folder.clone(), self.port)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends lines `[from%, to%)` of every file of `tree` to its blob, with the Python SDK.
fn upload(az: &Azurite, tree: &Path, from: u32, to: u32) -> u64 {
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/blob_upload.py"),
    )
    .unwrap();
    let v = run_python(
        &python(),
        &script,
        &[
            az.connection_string().as_ref(),
            tree.as_os_str(),
            from.to_string().as_ref(),
            to.to_string().as_ref(),
        ],
    );
    v["lines"].as_u64().unwrap()
}

fn connect_once(gh: &Gh, az: &Azurite) -> String {
    let r = gh.run(&[
        "connect",
        "blob",
        "--connection-string",
        &az.connection_string(),
        "--tenant",
        "contoso",
        "--once",
    ]);
    r.expect_code(0, "connect blob --once");
    r.stderr.clone()
}

#[test]
fn blobs_are_read_incrementally_once_each() {
    let gh = Gh::new();
    let tree = gh.simulate_diagnostic(15, 1, 11);
    let expected = reference_counts(&tree, "contoso");
    let az = Azurite::start(&gh.dir.join("azurite"), None);
    // Half of every blob, then the rest: the second read takes only what grew.
    let first = upload(&az, &tree, 0, 50);
    let out = connect_once(&gh, &az);
    assert!(out.contains(&format!("{first} records stored")), "{out}");
    let second = upload(&az, &tree, 50, 100);
    let out = connect_once(&gh, &az);
    assert!(
        out.contains(&format!("{second} records stored, 0 already stored")),
        "{out}"
    );
    assert_eq!(gh.log_counts(), expected, "the store holds the tree, once");
    // Nothing new: nothing read.
    let out = connect_once(&gh, &az);
    assert!(out.contains("0 batches"), "{out}");
    // A line still being written (no newline yet) waits; once it ends, it is read.
    let partial = gh.write(
        "partial/insights-logs-auditlogs/x/PT1H.json",
        std::fs::read_to_string(walk(&tree.join("insights-logs-auditlogs")).first().unwrap())
            .unwrap()
            .lines()
            .next()
            .unwrap()
            // Another record: its id changed.
            .replacen("\"id\":\"", "\"id\":\"f", 1),
    );
    let _ = partial;
    upload(&az, &gh.dir.join("partial"), 0, 100);
    let out = connect_once(&gh, &az);
    assert!(
        out.contains("0 batches") && !out.contains(" 0 bytes wait"),
        "{out}"
    );
    std::fs::write(
        gh.dir.join("partial/insights-logs-auditlogs/x/PT1H.json"),
        "\n",
    )
    .unwrap();
    upload(&az, &gh.dir.join("partial"), 0, 100);
    let out = connect_once(&gh, &az);
    assert!(out.contains("1 records stored"), "{out}");
    // Positions are where the sources got to.
    let status = gh.run(&["status"]);
    status.expect_code(0, "status");
    assert!(
        status
            .stdout
            .contains("contoso/blob:insights-logs-signinlogs/"),
        "{}",
        status.stdout
    );

    // The same account through a SAS (list and read) and through the URL and key.
    let sas = run_python(
        &python(),
        "import sys, json, datetime\n\
         from azure.storage.blob import generate_account_sas, ResourceTypes, AccountSasPermissions\n\
         sas = generate_account_sas(sys.argv[1], sys.argv[2], ResourceTypes(service=True, container=True, object=True),\n\
             AccountSasPermissions(read=True, list=True), datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))\n\
         print(json.dumps({'sas': sas}))",
        &[ACCOUNT.as_ref(), KEY.as_ref()],
    );
    for (flag, secret) in [
        ("--sas", sas["sas"].as_str().unwrap()),
        ("--account-key", KEY),
    ] {
        let other = Gh::new();
        let r = other.run(&[
            "connect",
            "blob",
            "--url",
            &az.url(),
            flag,
            secret,
            "--tenant",
            "contoso",
            "--once",
            "--container",
            "insights-logs-signinlogs",
        ]);
        r.expect_code(0, flag);
        assert_eq!(
            other.sql_int("SELECT count(*) FROM signins"),
            gh.sql_int(
                "SELECT count(*) FROM signins WHERE array_has(\"signInEventTypes\", 'interactiveUser')"
            ),
            "{flag}: the interactive sign-ins' container"
        );
    }
    // A wrong key is refused, and said so.
    let r = Gh::new().run(&[
        "connect",
        "blob",
        "--url",
        &az.url(),
        "--account-key",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
        "--once",
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("access denied"), "{}", r.stderr);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn killed_at_any_moment_nothing_is_lost_or_stored_twice() {
    let gh = Gh::new();
    let tree = gh.simulate_diagnostic(25, 2, 12);
    let expected = reference_counts(&tree, "contoso");
    let az = Azurite::start(&gh.dir.join("azurite"), None);
    upload(&az, &tree, 0, 100);
    let total: i64 = expected.values().map(|(n, _)| n).sum();
    let connection = az.connection_string();
    let args = [
        "connect",
        "blob",
        "--connection-string",
        &connection,
        "--tenant",
        "contoso",
        "--every-seconds",
        "1",
    ];
    let midway = gh.kill_repeatedly(&args, 8, 300, 1200, total);
    assert!(midway > 0, "no kill landed while the connector was reading");
    connect_once(&gh, &az);
    assert_eq!(gh.log_counts(), expected, "after 8 kills");
}

#[test]
fn the_server_runs_the_connector_and_rides_out_an_outage() {
    let gh = Gh::new();
    let tree = gh.simulate_diagnostic(10, 1, 13);
    let expected = reference_counts(&tree, "contoso");
    let az = Azurite::start(&gh.dir.join("azurite"), None);
    std::fs::create_dir_all(&gh.data).unwrap();
    std::fs::write(
        gh.data.join("gatehouse.toml"),
        format!(
            "[[connectors.blob]]\nname = \"diagnostics\"\nurl = \"{}\"\naccount_key = \"env:TEST_BLOB_KEY\"\ntenant = \"contoso\"\nevery_seconds = 1\n",
            az.url()
        ),
    )
    .unwrap();
    std::env::set_var("TEST_BLOB_KEY", KEY);
    let server = Served::start(&gh, &[]);
    let token = gh.token("contoso", "global-reader");
    let other = gh.token("fabrikam", "global-reader");
    upload(&az, &tree, 0, 100);
    let started = Instant::now();
    let total: i64 = expected.values().map(|(n, _)| n).sum();
    let stored = |server: &Served| -> i64 {
        ["signins", "audits", "provisioning"]
            .iter()
            .map(|t| server.sql_int(&token, &format!("SELECT count(*) FROM {t}")))
            .sum()
    };
    while stored(&server) < total {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the connector stored {} of {total}",
            stored(&server)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = server.get("/metrics", Some(&token)).text();
    assert!(
        metrics.contains(&format!(
            "gatehouse_connector_records_total{{connector=\"diagnostics\",kind=\"blob\"}} {total}"
        )),
        "{metrics}"
    );
    assert!(
        !server
            .get("/metrics", Some(&other))
            .text()
            .contains("gatehouse_connector"),
        "another tenant does not see the connector"
    );
    let status = gh.run(&["status"]);
    assert!(
        status.stdout.contains(&format!(
            "Connector diagnostics (blob): {total} records stored"
        )),
        "{}",
        status.stdout
    );
    // The account goes away: errors are reported; it comes back: the connector catches up.
    let (folder, port) = az.stop();
    let health = |s: &Served| s.get("/healthz", Some(&token)).json()["connectors"][0].clone();
    let started = Instant::now();
    while health(&server)["errors"].as_u64().unwrap() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no error reported"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(health(&server)["lastError"]["message"]
        .as_str()
        .unwrap()
        .contains("unreachable"));
    let az = Azurite::start(&folder, Some(port));
    let gh2 = Gh::new();
    let more = gh2.simulate(&[
        "--users",
        "10",
        "--days",
        "1",
        "--seed",
        "14",
        "--format",
        "diagnostic",
        "--start",
        "2026-11-20",
    ]);
    let added: i64 = reference_counts(&more, "contoso")
        .values()
        .map(|(n, _)| n)
        .sum();
    upload(&az, &more, 0, 100);
    let started = Instant::now();
    while stored(&server) < total + added {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "caught up to {} of {}",
            stored(&server),
            total + added
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stored(&server), total + added, "and nothing twice");
    let log = server.stop();
    assert!(!log.contains("panicked"), "{log}");
}
