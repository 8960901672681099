//! The Graph connector against a local server that behaves like Microsoft Graph: Gatehouse's own
//! Graph API serves the logs (paging by `@odata.nextLink`), behind a small proxy in this test that
//! plays the token endpoint (client credentials), expires tokens early, and throttles every
//! tenth request with `429 Retry-After`. Records logged late are caught by the lookback; nothing
//! is stored twice.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Gh, Served};

/// What the fake Graph saw.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    throttled: AtomicU64,
    expired: AtomicU64,
    tokens: AtomicU64,
    refused: AtomicU64,
}

/// A Graph look-alike on loopback in front of a Gatehouse server.
struct FakeGraph {
    url: String,
    seen: Arc<Seen>,
}

impl FakeGraph {
    fn start(source: String, source_token: String) -> FakeGraph {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Seen::default());
        let tokens: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let (me, s) = (url.clone(), Arc::clone(&seen));
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (me, source, source_token, s, tokens) = (
                    me.clone(),
                    source.clone(),
                    source_token.clone(),
                    Arc::clone(&s),
                    Arc::clone(&tokens),
                );
                std::thread::spawn(move || {
                    let _ = serve(stream, &me, &source, &source_token, &s, &tokens);
                });
            }
        });
        FakeGraph { url, seen }
    }
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: application/json\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn serve(
    mut stream: TcpStream,
    me: &str,
    source: &str,
    source_token: &str,
    seen: &Seen,
    tokens: &Mutex<Vec<(String, Instant)>>,
) -> std::io::Result<()> {
    let common::Request {
        method,
        target,
        headers,
        body,
    } = common::read_request(&stream)?;
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    if method == "POST" && target.ends_with("/oauth2/v2.0/token") {
        let form = String::from_utf8_lossy(&body).to_string();
        let field = |k: &str| {
            form.split('&')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .unwrap_or("")
                .to_string()
        };
        if field("client_id") != "gatehouse-app"
            || field("client_secret") != "s3cret"
            || field("grant_type") != "client_credentials"
        {
            seen.refused.fetch_add(1, Ordering::Relaxed);
            respond(
                &mut stream,
                "401 Unauthorized",
                &[],
                br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
            );
            return Ok(());
        }
        let n = seen.tokens.fetch_add(1, Ordering::Relaxed);
        let token = format!("fake-{n}");
        // Announced for an hour, expired after two seconds: the connector must renew on 401.
        tokens
            .lock()
            .unwrap()
            .push((token.clone(), Instant::now() + Duration::from_secs(2)));
        let answer =
            format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{token}"}}"#);
        respond(&mut stream, "200 OK", &[], answer.as_bytes());
        return Ok(());
    }
    let n = seen.requests.fetch_add(1, Ordering::Relaxed);
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    let valid = tokens
        .lock()
        .unwrap()
        .iter()
        .any(|(t, until)| t == token && *until > Instant::now());
    if !valid {
        seen.expired.fetch_add(1, Ordering::Relaxed);
        respond(
            &mut stream,
            "401 Unauthorized",
            &[],
            br#"{"error":{"code":"InvalidAuthenticationToken","message":"Lifetime validation failed, the token is expired."}}"#,
        );
        return Ok(());
    }
    if n % 10 == 9 {
        seen.throttled.fetch_add(1, Ordering::Relaxed);
        respond(
            &mut stream,
            "429 Too Many Requests",
            &[("Retry-After", "1".into())],
            br#"{"error":{"code":"TooManyRequests","message":"Too many requests."}}"#,
        );
        return Ok(());
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("{source}{target}"))
        .header("Authorization", &format!("Bearer {source_token}"))
        .call()
        .map_err(std::io::Error::other)?;
    let status = r.status();
    let text = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .map_err(std::io::Error::other)?;
    // Links point at this server, as Graph's point at Graph.
    let text = text.replace(source, me);
    respond(
        &mut stream,
        &format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
        &[],
        text.as_bytes(),
    );
    Ok(())
}

/// Rows per table and per sign-in type.
fn counts(query: impl Fn(&str) -> i64) -> Vec<i64> {
    let mut out = vec![
        query("SELECT count(*) FROM audits"),
        query("SELECT count(*) FROM provisioning"),
    ];
    for kind in [
        "interactiveUser",
        "nonInteractiveUser",
        "servicePrincipal",
        "managedIdentity",
    ] {
        out.push(query(&format!(
            "SELECT count(*) FROM signins WHERE array_has(\"signInEventTypes\", '{kind}')"
        )));
    }
    out
}

#[test]
fn graph_is_polled_with_paging_throttling_token_renewal_and_late_records() {
    // The source: a tenant's last days, some sign-ins held back to be logged late.
    let source = Gh::new();
    let start = (chrono::Utc::now() - chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let sim = source.simulate(&[
        "--users", "12", "--days", "2", "--seed", "21", "--start", &start,
    ]);
    let (mut now, mut late) = (String::new(), String::new());
    for entry in std::fs::read_dir(sim.join("graph/signins")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (i, line) in text.lines().enumerate() {
            let out = if i % 9 == 4 { &mut late } else { &mut now };
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::remove_dir_all(sim.join("graph/signins")).unwrap();
    let on_time = source.write("on-time/signins.json", &now);
    let late_file = source.write("late/signins.json", &late);
    source
        .ingest(&["--tenant".as_ref(), "source".as_ref(), sim.as_os_str()])
        .expect_code(0, "source ingest");
    source
        .ingest(&["--tenant".as_ref(), "source".as_ref(), on_time.as_os_str()])
        .expect_code(0, "source ingest");
    // Its risk engine off: the risk it would join into sign-ins changes their content as late
    // records are scored, and a changed record is rightly stored as another version (as a
    // riskState changed in Graph would be); here every record must arrive exactly once.
    std::fs::write(
        source.data.join("gatehouse.toml"),
        "[risk]\nenabled = false\n",
    )
    .unwrap();
    let server = Served::start(&source, &[]);
    let token = source.token("source", "global-reader");
    let graph = FakeGraph::start(server.url.clone(), token.clone());

    let dest = Gh::new();
    let connect = |secret: &str| {
        let mut cmd = dest.cmd();
        cmd.args([
            "connect",
            "graph",
            "--entra-tenant",
            "contoso.onmicrosoft.com",
            "--client-id",
            "gatehouse-app",
            "--client-secret",
            "env:TEST_GRAPH_SECRET",
            "--authority",
            &graph.url,
            "--graph-url",
            &graph.url,
            "--tenant",
            "contoso",
            "--page-size",
            "150",
            "--initial-days",
            "4",
            "--lookback-minutes",
            "4320",
            "--once",
        ])
        .env("TEST_GRAPH_SECRET", secret);
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let source_counts = || counts(|q| server.sql_int(&token, q));
    let (code, out) = connect("s3cret");
    assert_eq!(code, Some(0), "{out}");
    let expected = source_counts();
    assert!(expected[3] > 1000, "{expected:?}");
    assert_eq!(counts(|q| dest.sql_int(q)), expected, "{out}");
    assert!(
        graph.seen.throttled.load(Ordering::Relaxed) > 0,
        "throttled"
    );
    assert!(
        out.contains("throttled") && !out.contains("throttled 0 times"),
        "{out}"
    );
    // Pages: more requests than feeds (150 per page).
    assert!(graph.seen.requests.load(Ordering::Relaxed) > 20);

    // Late records (event times inside what was read) arrive; tokens expire meanwhile.
    std::thread::sleep(Duration::from_secs(3));
    source
        .ingest(&[
            "--tenant".as_ref(),
            "source".as_ref(),
            late_file.as_os_str(),
        ])
        .expect_code(0, "late records");
    let with_late = source_counts();
    assert!(with_late[3] > expected[3], "late records were added");
    let (code, out) = connect("s3cret");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        counts(|q| dest.sql_int(q)),
        with_late,
        "late records caught, none twice: {out}"
    );
    assert!(out.contains("already stored"), "{out}");
    assert!(
        graph.seen.expired.load(Ordering::Relaxed) > 0,
        "an expired token was refused and renewed"
    );
    let distinct =
        dest.sql_int("SELECT count(*) FROM (SELECT DISTINCT id, \"_contentHash\" FROM signins)");
    assert_eq!(distinct, dest.sql_int("SELECT count(*) FROM signins"));

    // A wrong secret: refused, with the authority's reason.
    let (code, out) = connect("wrong");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("access denied") && out.contains("AADSTS7000215"),
        "{out}"
    );
    assert!(graph.seen.refused.load(Ordering::Relaxed) > 0);
    server.stop();
}
