//! Helpers shared by the CLI integration tests: running the real `gatehouse` binary against a
//! temporary data directory, reading its summaries and rejections back, and a timestamp parser
//! written independently of the product's.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Map, Value};

/// Every table of the store, as `gatehouse sql` names them.
pub const TABLES: &[&str] = &[
    "signins",
    "audits",
    "provisioning",
    "riskyUsers",
    "riskDetections",
];

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gatehouse"))
}

/// The repository's `testdata/` (samples of each shape and fixtures; sources in
/// `testdata/NOTICE.md`).
pub fn testdata() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    p.canonicalize()
        .unwrap_or_else(|e| panic!("test data missing at {}: {e}", p.display()))
}

/// How to make the Python the tests use.
pub const HOW: &str = "create it with: cd <workspace> && python3 -m venv .venv && \
.venv/bin/pip install -r scripts/requirements.txt (or point GATEHOUSE_PYTHON at a python that \
has duckdb and deltalake)";

/// A Python with `duckdb` and `deltalake`: `$GATEHOUSE_PYTHON` when set, else the workspace's
/// `.venv/bin/python`; the test fails saying how to make one when there is none.
pub fn python() -> PathBuf {
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    // An explicit choice is the only candidate; the workspace venv is the default.
    match std::env::var_os("GATEHOUSE_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => candidates.push(PathBuf::from(p)),
        None => {
            candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"))
        }
    }
    for p in candidates {
        let ok = Command::new(&p)
            .args(["-c", "import duckdb, deltalake"])
            .output()
            .map(|o| o.status.success());
        match ok {
            Ok(true) => return p,
            Ok(false) => tried.push(format!("{} (no duckdb or deltalake module)", p.display())),
            Err(e) => tried.push(format!("{} ({e})", p.display())),
        }
    }
    panic!(
        "no Python with duckdb and deltalake found; tried {}. {HOW}",
        tried.join(", ")
    );
}

/// Runs a Python script with `args` and parses the JSON it prints.
///
/// A script that ends normally leaves through `os._exit(0)` once its output is flushed: DuckDB's
/// Python module can abort in its own teardown at interpreter exit ("terminate called without an
/// active exception", seen in CI) after the script has done its work. An exception in the script
/// still fails it.
pub fn run_python(py: &Path, script: &str, args: &[&std::ffi::OsStr]) -> Value {
    let script = format!(
        "{script}\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_sys.stderr.flush()\n_os._exit(0)\n"
    );
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "python script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A `gatehouse serve` of a data directory, on a free loopback port; killed when dropped.
pub struct Served {
    /// The process.
    pub child: std::process::Child,
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    agent: ureq::Agent,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answer is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Served {
    /// Starts `gatehouse serve` with extra arguments and waits until it listens.
    pub fn start(gh: &Gh, args: &[&str]) -> Served {
        use std::io::BufRead;
        let mut child = gh
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env(
                "RUST_LOG",
                "gatehouse_server=info,gatehouse_ingest=info,gatehouse_outbound=info",
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning gatehouse serve");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("Listening on ") {
                        break url.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("gatehouse serve did not start:\n{}", log.lock().unwrap());
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Served {
            child,
            url,
            agent,
            stderr: log,
        }
    }

    /// What the server wrote to standard error so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = r
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .expect("reading the body");
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// GET `path` with a token (or none).
    pub fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.get_with(path, token, &[])
    }

    /// GET `path` with a token (or none) and headers.
    pub fn get_with(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.agent.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Served::answer(req.call().expect("GET"))
    }

    /// POST `body` to `path` with a token (or none) and headers.
    pub fn post(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut req = self.agent.post(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Served::answer(req.send(body).expect("POST"))
    }

    /// Pushes records (NDJSON) with an ingest token; panics unless they are stored.
    pub fn push(&self, token: &str, records: &[Value]) {
        let a = self.post(
            "/gatehouse/ingest",
            Some(token),
            &[],
            ndjson(records).as_bytes(),
        );
        assert_eq!(a.status, 200, "push: {}", a.text());
    }

    /// Runs SQL as `token` and returns the rows (JSON lines).
    pub fn sql(&self, token: &str, q: &str) -> Vec<Value> {
        let a = self.post("/gatehouse/sql", Some(token), &[], q.as_bytes());
        assert_eq!(a.status, 200, "{q}: {}", a.text());
        a.text()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// One integer from SQL as `token`.
    pub fn sql_int(&self, token: &str, q: &str) -> i64 {
        let rows = self.sql(token, q);
        let row = rows.first().and_then(Value::as_object).expect("one row");
        row.values()
            .next()
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("{q}: {rows:?}"))
    }

    /// Stops it with SIGTERM and waits; panics if it does not stop cleanly.
    pub fn stop(mut self) -> String {
        unsafe_kill(self.child.id(), 15);
        let status = self.child.wait().expect("wait");
        let log = self.log();
        assert!(status.success(), "serve exited with {status:?}:\n{log}");
        log
    }

    /// Kills it with SIGKILL.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal with kill(1) (no libc in the tests).
fn unsafe_kill(pid: u32, signal: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

impl Gh {
    /// `gatehouse simulate` with `args` into a folder of the test's directory; returns it.
    pub fn simulate(&self, args: &[&str]) -> PathBuf {
        let out = self.dir.join("sim");
        let mut all: Vec<&std::ffi::OsStr> = vec!["simulate".as_ref()];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        all.extend(["--out".as_ref(), out.as_os_str()]);
        self.run(&all).expect_code(0, "simulate");
        remove_empty_files(&out);
        out
    }

    /// `gatehouse simulate --format diagnostic` (an Azure Monitor blob tree) of a small tenant.
    pub fn simulate_diagnostic(&self, users: u32, days: u32, seed: u64) -> PathBuf {
        self.simulate(&[
            "--users",
            &users.to_string(),
            "--days",
            &days.to_string(),
            "--seed",
            &seed.to_string(),
            "--format",
            "diagnostic",
        ])
    }

    /// Rows per log table (sign-ins, audits, provisioning), each with its distinct (id, content)
    /// versions: the two are equal when nothing is stored twice.
    pub fn log_counts(&self) -> BTreeMap<String, (i64, i64)> {
        ["signins", "audits", "provisioning"]
            .iter()
            .map(|t| {
                let n = self.sql_int(&format!("SELECT count(*) FROM {t}"));
                let versions = self.sql_int(&format!(
                    "SELECT count(*) FROM (SELECT DISTINCT id, \"_contentHash\" FROM {t})"
                ));
                (t.to_string(), (n, versions))
            })
            .collect()
    }

    /// Runs `gatehouse ARGS` (a connector that reads until stopped) `rounds` times, killing it
    /// with SIGKILL after a random delay in `[min_ms, min_ms + spread_ms)` each time; returns how
    /// many kills landed with some but not all of `total` rows stored. Until one has, a round
    /// whose delay passes before its first commit waits for that commit (up to 15 s) and kills
    /// 0-200 ms after it: how long a connector takes to start (a group to join, a debug build on
    /// a busy machine) must not decide whether any kill lands while records are being stored.
    pub fn kill_repeatedly(
        &self,
        args: &[&str],
        rounds: u32,
        min_ms: u64,
        spread_ms: u64,
        total: i64,
    ) -> u32 {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut midway = 0;
        for round in 0..rounds {
            let commits = self.commits_adding_files();
            let started = std::time::Instant::now();
            let mut child = self
                .cmd()
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawning a connector");
            let delay = std::time::Duration::from_millis(min_ms + next() % spread_ms.max(1));
            std::thread::sleep(delay);
            if midway == 0 && self.commits_adding_files() == commits {
                while started.elapsed() < delay + std::time::Duration::from_secs(15) {
                    if self.commits_adding_files() > commits {
                        std::thread::sleep(std::time::Duration::from_millis(next() % 200));
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            let now: i64 = self.log_counts().values().map(|(n, _)| n).sum();
            eprintln!(
                "round {round}: killed after {:?} with {now} of {total} rows stored",
                started.elapsed()
            );
            if now > 0 && now < total {
                midway += 1;
            }
        }
        midway
    }

    /// How many Delta commits adding files the data directory's tables hold (a cheap sign that
    /// rows are being stored).
    pub fn commits_adding_files(&self) -> usize {
        let tenants = std::fs::read_dir(self.data.join("tenants"))
            .into_iter()
            .flatten();
        tenants
            .flatten()
            .flat_map(|tenant| std::fs::read_dir(tenant.path()).into_iter().flatten())
            .flatten()
            .flat_map(|table| {
                std::fs::read_dir(table.path().join("_delta_log"))
                    .into_iter()
                    .flatten()
            })
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|text| text.contains("{\"add\":"))
            })
            .count()
    }

    /// Creates a token with `gatehouse token create`.
    pub fn token(&self, tenant: &str, role: &str) -> String {
        let r = self.run(&["token", "create", "--tenant", tenant, "--role", role]);
        r.expect_code(0, "token create");
        let token = r.stdout.trim().to_string();
        assert!(token.starts_with("gh_") && !token.contains('\n'), "{token}");
        token
    }
}

/// The [`Gh::log_counts`] of a tree ingested from its files by `gatehouse ingest --tenant`
/// into a fresh data directory: what a connector reading the same records must store.
pub fn reference_counts(tree: &Path, tenant: &str) -> BTreeMap<String, (i64, i64)> {
    let gh = Gh::new();
    gh.ingest(&["--tenant".as_ref(), tenant.as_ref(), tree.as_os_str()])
        .expect_code(0, "reference ingest");
    gh.log_counts()
}

/// A loopback port free at the time of asking (for a server a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits (up to 30 s) until something accepts connections on a loopback port.
pub fn wait_for_port(port: u16, what: &str) {
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{what} did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from_output(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts the run neither panicked nor died of a signal, and exited with `code`.
    pub fn expect_code(&self, code: i32, what: &str) -> &Run {
        self.no_panic(what);
        assert_eq!(
            self.code,
            Some(code),
            "{what}: expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            clip(&self.stdout),
            clip(&self.stderr)
        );
        self
    }

    /// Asserts the process did not panic (exit 101 or a panic message).
    pub fn no_panic(&self, what: &str) -> &Run {
        assert!(
            self.code != Some(101) && !self.stderr.contains("panicked"),
            "{what}: the binary panicked (exit {:?})\n--- stderr\n{}",
            self.code,
            clip(&self.stderr)
        );
        assert!(
            self.code.is_some(),
            "{what}: killed by a signal\n--- stderr\n{}",
            clip(&self.stderr)
        );
        self
    }

    /// The ingest summary on standard output.
    pub fn summary(&self) -> Summary {
        Summary::parse(&self.stdout)
            .unwrap_or_else(|| panic!("no ingest summary in output:\n{}", clip(&self.stdout)))
    }
}

/// Shortens long outputs in assertion messages.
pub fn clip(s: &str) -> String {
    const MAX: usize = 6000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes more)", &s[..end], s.len() - end)
}

/// A data directory in a temporary folder, and the commands run against it.
pub struct Gh {
    _tmp: tempfile::TempDir,
    /// The temporary folder (inputs may be written here).
    pub dir: PathBuf,
    /// The data directory (`dir/data`).
    pub data: PathBuf,
}

impl Default for Gh {
    fn default() -> Self {
        Gh::new()
    }
}

impl Gh {
    /// A fresh, empty data directory.
    pub fn new() -> Gh {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let data = dir.join("data");
        Gh {
            _tmp: tmp,
            dir,
            data,
        }
    }

    /// A command for the binary with `--data` set and a quiet, colourless log.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--data")
            .arg(&self.data)
            .env_remove("RUST_LOG")
            .env_remove("GATEHOUSE_DATA")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// Runs the binary with these arguments.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Run {
        let out = self.cmd().args(args).output().expect("running gatehouse");
        Run::from_output(out)
    }

    /// Runs the binary with `stdin` as standard input.
    pub fn run_stdin<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], stdin: &[u8]) -> Run {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning gatehouse");
        let mut input = child.stdin.take().expect("stdin");
        let bytes = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&bytes);
        });
        let out = child.wait_with_output().expect("waiting for gatehouse");
        writer.join().expect("stdin writer");
        Run::from_output(out)
    }

    /// `gatehouse ingest ARGS…`.
    pub fn ingest<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Run {
        let mut all: Vec<std::ffi::OsString> = vec!["ingest".into()];
        all.extend(args.iter().map(|a| a.as_ref().to_os_string()));
        self.run(&all)
    }

    /// `gatehouse sql Q --format json`, parsed; panics unless it succeeds.
    pub fn sql(&self, q: &str) -> Vec<Map<String, Value>> {
        let r = self.run(&["sql", q, "--format", "json"]);
        r.expect_code(0, &format!("sql {q}"));
        let v: Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("sql {q}: output is not JSON ({e}):\n{}", clip(&r.stdout)));
        match v {
            Value::Array(rows) => rows
                .into_iter()
                .map(|r| match r {
                    Value::Object(o) => o,
                    other => panic!("sql {q}: row is not an object: {other}"),
                })
                .collect(),
            other => panic!("sql {q}: not an array: {other}"),
        }
    }

    /// A query returning one integer (first column of the only row).
    pub fn sql_int(&self, q: &str) -> i64 {
        let rows = self.sql(q);
        assert_eq!(rows.len(), 1, "sql {q}: expected one row, got {rows:?}");
        let v = rows[0].values().next().cloned().unwrap_or(Value::Null);
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("sql {q}: not an integer: {v}"))
    }

    /// Rows in a table.
    pub fn count(&self, table: &str) -> i64 {
        self.sql_int(&format!("SELECT count(*) AS n FROM \"{table}\""))
    }

    /// `gatehouse export --log LOG`, one JSON object per line.
    pub fn export(&self, log: &str) -> Vec<Map<String, Value>> {
        let r = self.run(&["export", "--log", log]);
        r.expect_code(0, &format!("export --log {log}"));
        r.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(Value::Object(o)) => o,
                Ok(other) => panic!("export --log {log}: line is not an object: {other}"),
                Err(e) => panic!("export --log {log}: bad JSON line ({e}): {}", clip(l)),
            })
            .collect()
    }

    /// Writes a file in the temporary folder and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, bytes).expect("writing input");
        p
    }

    /// The actions of each commit of a table's Delta log (`tenants/<tenant>/<table>`), version by
    /// version, read here from its JSON commit files, independently of the product (and of
    /// delta-rs). Versions must follow one another from 0.
    pub fn commits(&self, tenant: &str, table: &str) -> Vec<Vec<Value>> {
        let log = self
            .data
            .join("tenants")
            .join(tenant)
            .join(table)
            .join("_delta_log");
        let mut out = Vec::new();
        while let Ok(text) = std::fs::read_to_string(log.join(format!("{:020}.json", out.len()))) {
            let version = out.len();
            out.push(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| {
                        serde_json::from_str(l).unwrap_or_else(|e| {
                            panic!(
                                "{}: version {version} is not JSON ({e}): {l}",
                                log.display()
                            )
                        })
                    })
                    .collect(),
            );
        }
        let later = std::fs::read_dir(&log)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json")?.parse::<usize>().ok()
            })
            .filter(|v| *v >= out.len())
            .count();
        assert_eq!(
            later,
            0,
            "{}: commit {} is missing",
            log.display(),
            out.len()
        );
        out
    }

    /// The live data files of every table (paths relative to the data directory), by replaying
    /// their Delta logs' [`Gh::commits`]: `add` makes a file live, `remove` ends it.
    pub fn live_files(&self) -> Vec<String> {
        let mut live = std::collections::BTreeSet::new();
        for tenant in std::fs::read_dir(self.data.join("tenants"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let tenant = tenant.file_name().to_string_lossy().into_owned();
            for table in TABLES {
                for commit in self.commits(&tenant, table) {
                    for action in commit {
                        if let Some(path) = action["add"]["path"].as_str() {
                            live.insert(format!("tenants/{tenant}/{table}/{path}"));
                        }
                        if let Some(path) = action["remove"]["path"].as_str() {
                            live.remove(&format!("tenants/{tenant}/{table}/{path}"));
                        }
                    }
                }
            }
        }
        live.into_iter().collect()
    }

    /// The rows of one table at each version of its Delta log: the `numRecords` of its live files.
    pub fn rows_by_version(&self, tenant: &str, table: &str) -> BTreeMap<u64, u64> {
        let mut live: BTreeMap<String, u64> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for (version, commit) in self.commits(tenant, table).into_iter().enumerate() {
            for action in commit {
                if let Some(add) = action.get("add") {
                    let stats: Value = serde_json::from_str(add["stats"].as_str().expect("stats"))
                        .expect("stats JSON");
                    live.insert(
                        add["path"].as_str().unwrap().to_string(),
                        stats["numRecords"].as_u64().expect("numRecords"),
                    );
                }
                if let Some(path) = action["remove"]["path"].as_str() {
                    live.remove(path);
                }
            }
            out.insert(version as u64, live.values().sum());
        }
        out
    }

    /// The operation of each commit of a table's Delta log (`WRITE`, `OPTIMIZE`, `DELETE`, …).
    pub fn operations(&self, tenant: &str, table: &str) -> Vec<String> {
        self.commits(tenant, table)
            .into_iter()
            .filter_map(|commit| {
                commit
                    .iter()
                    .find_map(|a| a["commitInfo"]["operation"].as_str().map(str::to_string))
            })
            .collect()
    }

    /// Every data file (`*.parquet` outside `_delta_log`) under `DATA/tenants`, as `/`-separated
    /// paths relative to the data dir.
    pub fn parquet_on_disk(&self) -> Vec<String> {
        // The Delta log's checkpoints are Parquet too, but not data.
        let files = files_under(&self.data.join("tenants"), &|d| !d.ends_with("_delta_log"));
        let mut out = Vec::new();
        for p in files {
            if p.extension().is_some_and(|x| x == "parquet") {
                let rel = p.strip_prefix(&self.data).expect("under data");
                out.push(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
        out.sort();
        out
    }
}

/// The summary `gatehouse ingest` prints.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// "Stored N records".
    pub stored: u64,
    /// Per table lines ("  signins 35").
    pub per_table: std::collections::BTreeMap<String, u64>,
    /// "Duplicates skipped: N".
    pub duplicates: u64,
    /// "Stored under an id derived from their content: N".
    pub derived_ids: u64,
    /// The rejections listed after "Rejected: N".
    pub rejected: Vec<Rejection>,
}

/// One `file:line: reason` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The file as printed.
    pub file: String,
    /// The line (0 when none was printed).
    pub line: u64,
    /// The reason.
    pub reason: String,
}

impl Summary {
    /// Parses the summary; `None` when the output has none.
    pub fn parse(stdout: &str) -> Option<Summary> {
        let mut s = Summary::default();
        let mut lines = stdout.lines();
        let first = lines.by_ref().find(|l| l.starts_with("Stored "))?;
        s.stored = first.split_whitespace().nth(1)?.parse().ok()?;
        let mut rejected_count = None;
        for l in lines.by_ref() {
            if let Some(n) = l.strip_prefix("Duplicates skipped: ") {
                s.duplicates = n.trim().parse().ok()?;
            } else if let Some(n) =
                l.strip_prefix("Stored under an id derived from their content: ")
            {
                s.derived_ids = n.trim().parse().ok()?;
            } else if let Some(n) = l.strip_prefix("Rejected: ") {
                rejected_count = Some(n.trim().parse::<usize>().ok()?);
                break;
            } else if let Some(rest) = l.strip_prefix("  ") {
                let mut parts = rest.split_whitespace();
                if let (Some(name), Some(n), None) = (parts.next(), parts.next(), parts.next()) {
                    if !rest.starts_with(' ') {
                        if let Ok(n) = n.parse() {
                            s.per_table.insert(name.to_string(), n);
                        }
                    }
                }
            }
        }
        let n = rejected_count?;
        for l in lines {
            if let Some(r) = l.strip_prefix("  ") {
                s.rejected.push(Rejection::parse(r));
            }
        }
        assert_eq!(
            s.rejected.len(),
            n,
            "\"Rejected: {n}\" but {} rejection lines:\n{}",
            s.rejected.len(),
            clip(stdout)
        );
        Some(s)
    }

    /// Rows stored in a table by this run (0 when the table is not listed).
    pub fn table(&self, name: &str) -> u64 {
        self.per_table.get(name).copied().unwrap_or(0)
    }
}

impl Rejection {
    /// Parses `file:line: reason` (or `file: reason`).
    pub fn parse(text: &str) -> Rejection {
        let mut search = 0;
        while let Some(pos) = text[search..].find(": ").map(|p| p + search) {
            let head = &text[..pos];
            if let Some(colon) = head.rfind(':') {
                let digits = &head[colon + 1..];
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Rejection {
                        file: head[..colon].to_string(),
                        line: digits.parse().unwrap_or(0),
                        reason: text[pos + 2..].to_string(),
                    };
                }
            }
            search = pos + 2;
        }
        match text.split_once(": ") {
            Some((file, reason)) => Rejection {
                file: file.to_string(),
                line: 0,
                reason: reason.to_string(),
            },
            None => Rejection {
                file: String::new(),
                line: 0,
                reason: text.to_string(),
            },
        }
    }
}

/// Asserts a run rejected exactly one record, in `file` at `line`, with a reason containing each
/// of `reason_parts`.
pub fn assert_one_rejection(run: &Run, file: &Path, line: u64, reason_parts: &[&str]) {
    let s = run.summary();
    assert_eq!(
        s.rejected.len(),
        1,
        "expected one rejection, got:\n{}",
        clip(&run.stdout)
    );
    let r = &s.rejected[0];
    assert_eq!(
        r.file,
        file.display().to_string(),
        "rejection names the file"
    );
    assert_eq!(r.line, line, "rejection line number: {r:?}");
    for part in reason_parts {
        assert!(
            r.reason.contains(part),
            "rejection reason {:?} does not mention {part:?}",
            r.reason
        );
    }
}

/// A small but valid Graph sign-in (beta shape) with a given id and time.
pub fn signin(id: &str, created: &str) -> Value {
    serde_json::json!({
        "id": id,
        "createdDateTime": created,
        "userDisplayName": "Test User",
        "userPrincipalName": "test.user@contoso.example",
        "userId": "11111111-2222-3333-4444-555555555555",
        "appId": "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
        "appDisplayName": "Graph Explorer",
        "ipAddress": "203.0.113.7",
        "clientAppUsed": "Browser",
        "isInteractive": true,
        "signInEventTypes": ["interactiveUser"],
        "status": {"errorCode": 0},
        "deviceDetail": {"browser": "Edge 120.0.0", "operatingSystem": "Windows10"},
        "location": {"city": "Oslo", "countryOrRegion": "NO"}
    })
}

/// A deterministic GUID-like id for record `n` of series `series`.
pub fn guid(series: u32, n: u64) -> String {
    let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (u64::from(series) << 40);
    format!(
        "{series:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (n >> 32) & 0xffff,
        (n >> 20) & 0xfff,
        (n >> 8) & 0xfff,
        h & 0xffff_ffff_ffff
    )
}

/// Graph-style UTC timestamp of `secs` seconds after the epoch.
pub fn ts(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("valid time")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// NDJSON text of these records.
pub fn ndjson(records: &[Value]) -> String {
    let mut s = String::new();
    for r in records {
        s.push_str(&r.to_string());
        s.push('\n');
    }
    s
}

/// Parses any timestamp form Entra exports use into nanoseconds since the epoch (UTC), rounded
/// down to the microsecond as Gatehouse stores timestamps: ISO 8601 with `Z`, an offset or none,
/// 0–9 fractional digits, an unpadded hour; US `M/d/yyyy[,] h:mm[:ss[.fff]] [AM|PM]`. Independent
/// of the product's parser on purpose.
pub fn parse_instant(s: &str) -> Option<i64> {
    parse_instant_ns(s).map(|ns| ns - ns.rem_euclid(1000))
}

fn parse_instant_ns(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDateTime};
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return t.timestamp_nanos_opt();
        }
    }
    let plain = s.trim_end_matches(['Z', 'z']);
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%m/%d/%Y, %I:%M:%S%.f %p",
        "%m/%d/%Y %I:%M:%S%.f %p",
        "%m/%d/%Y %I:%M %p",
        "%m/%d/%Y %H:%M:%S%.f",
        "%m/%d/%Y, %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(plain, f) {
            return t.and_utc().timestamp_nanos_opt();
        }
    }
    None
}

/// Removes ANSI colour sequences (in case the log is coloured despite `NO_COLOR`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The `stored=N` of a "committed" log line, if it is one.
pub fn committed_stored(line: &str) -> Option<u64> {
    let line = strip_ansi(line);
    if !line.contains("committed") {
        return None;
    }
    let pos = line.find("stored=")?;
    let digits: String = line[pos + 7..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// One HTTP/1.1 request as a test's small server reads it.
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// Reads one request from a connection.
pub fn read_request(stream: &std::net::TcpStream) -> std::io::Result<Request> {
    use std::io::{BufRead, Read};
    let mut reader = std::io::BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Removes the empty files under `dir`. The simulator writes a Graph file for every log and day,
/// empty on a day without such records (a quiet weekend's audits, or a last day that ends now),
/// and ingest rightly rejects an empty file (exit 2): tests whose simulated days depend on the
/// date they run would otherwise pass or fail by the calendar.
fn remove_empty_files(dir: &Path) {
    for path in files_under(dir, &|_| true) {
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

/// The files under `root`, at any depth of the folders `descend` accepts (none if `root` cannot
/// be read).
fn files_under(root: &Path, descend: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if descend(&p) {
                    stack.push(p);
                }
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_lines() {
        let r = Rejection::parse("/tmp/a b/x.json:12: field `x`: expected a: b");
        assert_eq!(r.file, "/tmp/a b/x.json");
        assert_eq!(r.line, 12);
        assert_eq!(r.reason, "field `x`: expected a: b");
        let r = Rejection::parse("/tmp/x.json: no such file");
        assert_eq!((r.file.as_str(), r.line), ("/tmp/x.json", 0));
    }

    #[test]
    fn instants() {
        let z = parse_instant("2022-01-24T05:10:08.6816663Z").unwrap();
        assert_eq!(z, parse_instant("2022-01-24T05:10:08.681666Z").unwrap());
        assert_eq!(parse_instant("2022-01-24T05:10:08.6816663+00:00"), Some(z));
        assert_eq!(parse_instant("2022-01-24T07:10:08.6816663+02:00"), Some(z));
        assert_eq!(
            parse_instant("4/28/2021, 2:08:45.221 PM"),
            parse_instant("2021-04-28T14:08:45.221Z")
        );
        assert_eq!(
            parse_instant("12/12/2025 3:03:58 PM"),
            parse_instant("2025-12-12T15:03:58Z")
        );
        assert_eq!(
            parse_instant("2021-06-03T9:54:27.739Z"),
            parse_instant("2021-06-03T09:54:27.739Z")
        );
        assert_eq!(parse_instant("yesterday"), None);
    }
}
