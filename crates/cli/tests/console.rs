//! The web console in a real browser: headless Chromium driven over WebDriver against
//! `gatehouse serve` on loopback, over a simulated tenant. Every figure the console shows is
//! compared with the server's API; a screenshot of each page is written to
//! `$CARGO_TARGET_TMPDIR/console-screenshots/`.

mod common;
mod webdriver;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{Gh, Served};
use serde_json::{json, Value};
use webdriver::Browser;

const TENANT: &str = "contoso";

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The ids of the rows on screen, in order.
fn row_ids(b: &Browser) -> Vec<String> {
    b.js(
        "return [...document.querySelectorAll('#rows tbody tr[data-id]')].map(r => r.dataset.id)",
        vec![],
    )
    .as_array()
    .unwrap()
    .iter()
    .map(|v| v.as_str().unwrap().to_string())
    .collect()
}

/// The texts of one column of the rows on screen (by header label).
fn column(b: &Browser, label: &str) -> Vec<String> {
    b.js(
        "const i = [...document.querySelectorAll('#rows thead th')].findIndex(h => h.textContent === arguments[0]);
         return [...document.querySelectorAll('#rows tbody tr[data-id]')].map(r => r.children[i].textContent)",
        vec![json!(label)],
    )
    .as_array()
    .unwrap()
    .iter()
    .map(|v| v.as_str().unwrap_or_default().to_string())
    .collect()
}

/// Waits until the table finished loading after a change (its status line names a count).
fn wait_loaded(b: &Browser, what: &str) -> u64 {
    b.wait_js(
        what,
        "const t = document.querySelector('#rows tbody');
         return t && t.dataset.state === 'done' && t.dataset.view === location.hash
           ? Number(t.dataset.loaded || 0) + 1 : 0",
    )
    .as_u64()
    .unwrap()
        - 1
}

/// No error in the browser's console since the last look.
fn no_console_errors(b: &Browser, page: &str) {
    let severe: Vec<_> = b
        .console_log()
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "{page}: console errors {severe:?}");
}

fn shot(b: &Browser, name: &str) {
    let path = b.screenshot_to(&screenshots().join(format!("{name}.png")));
    assert!(
        std::fs::metadata(&path).unwrap().len() > 10_000,
        "{name}: an empty screenshot"
    );
}

fn set_select(b: &Browser, css: &str, value: &str) {
    b.js(
        "const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![json!(css), json!(value)],
    );
}

#[test]
fn the_console_in_a_real_browser() {
    let gh = Gh::new();
    // Three days up to yesterday, so that the console's default periods show them.
    let start = (chrono::Utc::now() - chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let sim = gh.simulate(&[
        "--users", "40", "--days", "3", "--seed", "7", "--start", &start,
    ]);
    gh.ingest(&["--tenant".as_ref(), TENANT.as_ref(), sim.as_os_str()])
        .expect_code(0, "ingest");
    // Another tenant's records, which the console must never show.
    let other = gh.write(
        "other.json",
        serde_json::to_vec(&json!({"value": [{
            "id": "99999999-0000-0000-0000-000000000001",
            "createdDateTime": (chrono::Utc::now() - chrono::Duration::hours(1))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "userPrincipalName": "intruder@zz9-plural-z-alpha.example",
            "appDisplayName": "Zz9 Plural Z Alpha Secret App",
            "status": {"errorCode": 0},
            "signInEventTypes": ["interactiveUser"]
        }]}))
        .unwrap(),
    );
    gh.ingest(&["--tenant".as_ref(), "fabrikam".as_ref(), other.as_os_str()])
        .expect_code(0, "ingest other tenant");
    let server = Served::start(&gh, &[]);
    let api_token = gh.token(TENANT, "global-reader");
    let api = |path: &str| -> Value {
        let a = server.get(path, Some(&api_token));
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        a.json()
    };
    let downloads = gh.dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let b = Browser::start(1280, 800, &downloads);

    // Not signed in: the sign-in form, and nothing else is asked of the server.
    b.goto(&format!("{}/", server.url));
    b.wait_for("form #token");
    assert!(b.find("#rows").is_none());
    // A made-up login code is refused with a message.
    b.goto(&format!("{}/#login=00112233", server.url));
    let alert = b.wait_for(".signin .error");
    assert!(b.text(&alert).contains("login link"), "{}", b.text(&alert));
    shot(&b, "00-sign-in");
    // A wrong token: refused.
    let input = b.wait_for("#token");
    b.type_text(
        &input,
        "gh_00000000_0000000000000000000000000000000000000000000000000000000000000000\n",
    );
    b.wait_for(".signin .error");
    // The browser reports the two refusals as failed loads; nothing else went wrong.
    for (level, message) in b.console_log() {
        assert!(
            level != "SEVERE" || message.contains("status of 401"),
            "{level}: {message}"
        );
    }

    // The login link signs in (once).
    let link = gh.run(&[
        "token",
        "login-link",
        "--tenant",
        TENANT,
        "--role",
        "security-admin",
        "--url",
        &server.url,
    ]);
    link.expect_code(0, "login-link");
    let link = link.stdout.trim().to_string();
    assert!(
        link.starts_with(&format!("{}/#login=", server.url)),
        "{link}"
    );
    b.goto(&link);
    let who = b.wait_for("#who");
    b.wait("the tenant in the header", || {
        b.text(&who).contains(TENANT).then_some(())
    });
    assert!(
        !b.url().contains("login="),
        "the code leaves the address bar"
    );

    // Sign-in logs, interactive tab, last 7 days: the newest page equals the API's.
    b.goto(&format!(
        "{}/#/signins?tab=interactiveUser&range=7d",
        server.url
    ));
    let loaded = wait_loaded(&b, "interactive sign-ins");
    assert_eq!(loaded, 100, "a first page of 100");
    let seen = row_ids(&b);
    let filter = b.js(
        "return document.querySelector('#status') && window.gatehouseTimings.length",
        vec![],
    );
    assert!(filter.as_u64().unwrap() > 0, "timings recorded");
    let since = api(&format!(
        "/beta/auditLogs/signIns?$top=1&$filter={}",
        enc("signInEventTypes/any(t: t eq 'interactiveUser')")
    ));
    assert_eq!(
        since["value"][0]["id"],
        json!(seen[0]),
        "the newest interactive sign-in comes first"
    );
    for id in seen.iter().take(5) {
        let r = api(&format!("/beta/auditLogs/signIns/{id}"));
        assert_eq!(r["signInEventTypes"], json!(["interactiveUser"]), "{id}");
    }
    assert!(!b
        .js("return document.body.innerText", vec![])
        .as_str()
        .unwrap()
        .contains("Zz9"));
    no_console_errors(&b, "sign-ins");
    shot(&b, "01-signins-interactive");

    // Scrolling loads the next pages (keyset paging): no row twice, in time order.
    b.js(
        "const s = document.querySelector('.table-scroll'); s.scrollTop = s.scrollHeight;",
        vec![],
    );
    b.wait_js(
        "a second page",
        "return Number(document.querySelector('#rows tbody').dataset.loaded) > 100",
    );
    b.js(
        "const s = document.querySelector('.table-scroll'); s.scrollTop = s.scrollHeight;",
        vec![],
    );
    b.wait_js(
        "a third page",
        "return Number(document.querySelector('#rows tbody').dataset.loaded) > 200",
    );
    let ids = row_ids(&b);
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no row twice");
    let times: Vec<String> = b
        .js("return [...document.querySelectorAll('#rows tbody tr[data-id] time')].map(t => t.getAttribute('datetime'))", vec![])
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first across pages"
    );
    // Times in the viewer's zone, UTC on hover.
    let title = b.js(
        "return document.querySelector('#rows tbody time').title",
        vec![],
    );
    assert!(title.as_str().unwrap().ends_with("Z (UTC)"), "{title}");

    // The detail pane, by keyboard: Enter on a row, every tab, Escape closes.
    let first = seen[0].clone();
    b.js(
        "document.querySelector('#rows tbody tr[data-id]').focus()",
        vec![],
    );
    b.press("\u{E007}");
    b.wait_js(
        "the detail pane",
        "return !document.querySelector('#detail').hidden",
    );
    for (i, label) in [
        "Basic info",
        "Location",
        "Device info",
        "Authentication details",
        "Conditional Access",
        "Who, how, what",
        "Raw JSON",
    ]
    .iter()
    .enumerate()
    {
        let tab = b.wait_for(&format!("#detail-tab-{i}"));
        assert_eq!(&b.text(&tab), label);
        b.click(&tab);
        b.wait_js(
            label,
            "return !/^Loading/.test(document.querySelector('#detail-body').textContent)",
        );
        if *label == "Who, how, what" {
            let summary = b.wait_for("#diagnosis-summary");
            let explained = api(&format!("/gatehouse/signIns/{first}/explain"));
            assert_eq!(
                b.text(&summary),
                explained["diagnosis"]["summary"].as_str().unwrap()
            );
            shot(&b, "02-signin-detail-explain");
        }
        if *label == "Raw JSON" {
            let raw: Value =
                serde_json::from_str(b.text(&b.wait_for("#raw-json")).as_str()).unwrap();
            assert_eq!(raw["id"], json!(first));
        }
    }
    b.press("\u{E00C}");
    b.wait_js(
        "the pane closed",
        "return document.querySelector('#detail').hidden",
    );

    // A filter chip: the application of the first row. Every row then shows it; the URL holds it.
    let app = column(&b, "Application")[0].clone();
    b.click(&b.find("#add-filter").unwrap());
    b.wait_for("#filter-field");
    let index = b.js(
        "return [...document.querySelectorAll('#filter-field option')].find(o => o.textContent === 'Application').value",
        vec![],
    );
    set_select(&b, "#filter-field", index.as_str().unwrap());
    set_select(&b, "#filter-op", "eq");
    b.type_text(&b.find("#filter-value").unwrap(), &app);
    b.click(&b.find("#filter-apply").unwrap());
    b.wait_js(
        "the chip",
        "return document.querySelectorAll('#chips .chip').length === 1",
    );
    let n = wait_loaded(&b, "filtered rows");
    assert!(n > 0);
    assert!(
        column(&b, "Application").iter().all(|a| *a == app),
        "every row is {app}"
    );
    assert!(
        b.url().contains("f="),
        "the filter lives in the URL: {}",
        b.url()
    );
    let shared = b.url();
    let expected = api(&format!(
        "/beta/auditLogs/signIns?$top=1&$count=true&$filter={}",
        enc(&format!(
            "signInEventTypes/any(t: t eq 'interactiveUser') and appDisplayName eq '{}' and createdDateTime ge {}",
            app.replace('\'', "''"),
            b.js("return new Date(Date.now() - 7*86400e3).toISOString().replace(/\\.\\d{3}Z$/, 'Z')", vec![]).as_str().unwrap()
        ))
    ));
    assert_eq!(expected["value"][0]["id"], json!(row_ids(&b)[0]));
    shot(&b, "03-signins-filtered");
    // A second filter on status, then remove the first: the status chip stays.
    b.click(&b.find("#add-filter").unwrap());
    b.wait_for("#filter-field");
    let index = b.js(
        "return [...document.querySelectorAll('#filter-field option')].find(o => o.textContent === 'Status').value",
        vec![],
    );
    set_select(&b, "#filter-field", index.as_str().unwrap());
    set_select(&b, "#filter-value", "failure");
    b.click(&b.find("#filter-apply").unwrap());
    b.wait_js(
        "two chips",
        "return document.querySelectorAll('#chips .chip').length === 2",
    );
    wait_loaded(&b, "failures of the app");
    assert!(column(&b, "Status").iter().all(|s| s == "Failure"));
    b.click(&b.find("#chips .chip button").unwrap());
    b.wait_js(
        "one chip",
        "return document.querySelectorAll('#chips .chip').length === 1",
    );
    wait_loaded(&b, "all failures");
    assert!(column(&b, "Status").iter().all(|s| s == "Failure"));
    assert!(
        column(&b, "Application").iter().any(|a| *a != app) || column(&b, "Application").len() < 3
    );
    // The shared URL opens the same view in a fresh load.
    b.goto(&shared);
    b.wait_js(
        "the shared view",
        "return document.querySelectorAll('#chips .chip').length === 1",
    );
    wait_loaded(&b, "the shared view's rows");
    assert!(column(&b, "Application").iter().all(|a| *a == app));

    // Free text.
    let user = api(&format!(
        "/beta/auditLogs/signIns?$top=1&$filter={}",
        enc("signInEventTypes/any(t: t eq 'interactiveUser')")
    ))["value"][0]["userPrincipalName"]
        .as_str()
        .unwrap()
        .to_string();
    b.goto(&format!("{}/#/signins?range=7d", server.url));
    wait_loaded(&b, "unfiltered");
    b.type_text(&b.wait_for("#search"), &user);
    b.wait_js("search applied", "return location.hash.includes('q=')");
    wait_loaded(&b, "searched rows");
    assert!(!column(&b, "User").is_empty());
    let names: BTreeSet<String> = column(&b, "User").into_iter().collect();
    assert_eq!(names.len(), 1, "one user's sign-ins: {names:?}");

    // Columns: add "Browser", which shows the browser of each row.
    b.click(&b.find("#columns").unwrap());
    b.wait_for("input[data-column=browser]");
    b.js(
        "document.querySelector('input[data-column=browser]').checked = true",
        vec![],
    );
    b.click(&b.find("#columns-apply").unwrap());
    b.wait_js("the browser column", "return [...document.querySelectorAll('#rows thead th')].some(h => h.textContent === 'Browser')");
    wait_loaded(&b, "rows with browsers");
    let ids = row_ids(&b);
    let browsers = column(&b, "Browser");
    let r = api(&format!("/beta/auditLogs/signIns/{}", ids[0]));
    assert_eq!(
        browsers[0],
        r["deviceDetail"]["browser"].as_str().unwrap_or("")
    );

    // Tabs: non-interactive rows; then grouped by hour and expanded to the group's sign-ins.
    b.goto(&format!("{}/#/signins?range=7d", server.url));
    wait_loaded(&b, "interactive again");
    b.click(&b.wait_for("#tab-nonInteractiveUser"));
    b.wait_js(
        "the tab",
        "return location.hash.includes('tab=nonInteractiveUser')",
    );
    wait_loaded(&b, "non-interactive sign-ins");
    let id = row_ids(&b)[0].clone();
    assert_eq!(
        api(&format!("/beta/auditLogs/signIns/{id}"))["signInEventTypes"],
        json!(["nonInteractiveUser"])
    );
    shot(&b, "04-signins-noninteractive");
    set_select(&b, "#group", "h1");
    wait_loaded(&b, "groups");
    let groups = b.js(
        "return document.querySelectorAll('#rows tbody tr.group').length",
        vec![],
    );
    assert!(groups.as_u64().unwrap() > 0, "groups shown");
    let count: u64 = b
        .js("return document.querySelector('#rows tbody tr.group td.num').textContent.replace(/\\D/g, '')", vec![])
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    b.click(&b.find("#rows tbody tr.group .expand").unwrap());
    let children = b.wait_js(
        "the group's sign-ins",
        "return document.querySelectorAll('#rows tbody tr.group-child').length",
    );
    assert_eq!(
        children.as_u64().unwrap(),
        count.min(1000),
        "a group expands to its sign-ins"
    );
    shot(&b, "05-signins-grouped");
    for tab in ["servicePrincipal", "managedIdentity"] {
        b.click(&b.find(&format!("#tab-{tab}")).unwrap());
        b.wait_js(
            "the tab",
            &format!("return location.hash.includes('tab={tab}')"),
        );
        let n = wait_loaded(&b, tab);
        assert!(n > 0, "{tab} rows");
        let id = row_ids(&b)[0].clone();
        assert_eq!(
            api(&format!("/beta/auditLogs/signIns/{id}"))["signInEventTypes"],
            json!([tab])
        );
        shot(&b, &format!("06-signins-{tab}"));
    }

    // Download the current view as CSV: the same records as the API's export of that view.
    b.goto(&format!(
        "{}/#/signins?tab=servicePrincipal&range=7d",
        server.url
    ));
    wait_loaded(&b, "service principal sign-ins");
    set_select(&b, "#download", "csv");
    let file = b.wait("the downloaded CSV", || {
        std::fs::read_dir(&downloads)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "csv"))
    });
    let filter = b.js("return window.gatehouseLastDownload.filter", vec![]);
    let downloaded = std::fs::read_to_string(&file).unwrap();
    let exported = server
        .get(
            &format!(
                "/gatehouse/export/signIns?format=csv&$filter={}",
                enc(filter.as_str().unwrap())
            ),
            Some(&api_token),
        )
        .text();
    let lines = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert!(downloaded.lines().count() > 10, "{downloaded}");
    assert_eq!(
        lines(&downloaded),
        lines(&exported),
        "the download is the API's export"
    );
    // A ticket is good once.
    let used = b.js("return window.gatehouseLastDownload.url", vec![]);
    let again = server.get(used.as_str().unwrap(), None);
    assert_eq!(again.status, 401, "a spent ticket");
    no_console_errors(&b, "downloads");

    // Audit logs: rows, a category filter, the detail pane.
    b.goto(&format!("{}/#/audits?range=all", server.url));
    let n = wait_loaded(&b, "audits");
    assert!(n > 0);
    let category = column(&b, "Category")[0].clone();
    b.click(&b.find("#add-filter").unwrap());
    b.wait_for("#filter-field");
    set_select(&b, "#filter-field", "category");
    b.type_text(&b.find("#filter-value").unwrap(), &category);
    b.click(&b.find("#filter-apply").unwrap());
    b.wait_js(
        "audit chip",
        "return document.querySelectorAll('#chips .chip').length === 1",
    );
    wait_loaded(&b, "audits of a category");
    assert!(column(&b, "Category").iter().all(|c| *c == category));
    b.click(&b.find("#rows tbody tr[data-id]").unwrap());
    b.wait_js(
        "audit detail",
        "return !document.querySelector('#detail').hidden",
    );
    b.click(&b.wait_for("#detail-tab-1"));
    shot(&b, "07-audits");
    no_console_errors(&b, "audits");

    // Provisioning logs.
    b.goto(&format!("{}/#/provisioning?range=all", server.url));
    let n = wait_loaded(&b, "provisioning");
    assert!(n > 0, "provisioning rows");
    b.click(&b.find("#rows tbody tr[data-id]").unwrap());
    b.wait_js(
        "provisioning detail",
        "return !document.querySelector('#detail').hidden",
    );
    shot(&b, "08-provisioning");
    no_console_errors(&b, "provisioning");

    // Usage & insights: each page loads, without an error, with the API's figures.
    let pages = [
        (
            "insights",
            "09-insights-overview",
            vec![
                "#q-applications",
                "#q-failures",
                "#q-clients",
                "#q-workloads",
                "#q-daily",
            ],
        ),
        (
            "insights/applications?period=D30",
            "10-insights-applications",
            vec!["#apps-summary", "#apps-daily"],
        ),
        (
            "insights/adfs?period=D30",
            "11-insights-adfs",
            vec!["#adfs"],
        ),
        (
            "insights/authmethods",
            "12-insights-authmethods",
            vec!["#methods-registered", "#methods-used", "#methods-users"],
        ),
        (
            "insights/serviceprincipals",
            "13-insights-serviceprincipals",
            vec!["#sp-activity"],
        ),
        (
            "insights/credentials",
            "14-insights-credentials",
            vec!["#credentials"],
        ),
        ("risk/users", "16-risky-users", vec!["#risky-users"]),
    ];
    for (path, name, cards) in pages {
        b.goto(&format!("{}/#/{path}", server.url));
        for card in &cards {
            b.wait_js(
                card,
                &format!("const c = document.querySelector('{card}'); return c && c.textContent && !/^Loading/.test(c.textContent)"),
            );
            let err = b.js(&format!("const e = document.querySelector('{card} .error'); return e ? e.textContent : null"), vec![]);
            assert!(err.is_null(), "{path} {card}: {err}");
        }
        no_console_errors(&b, path);
        shot(&b, name);
    }
    // Figures against the API.
    b.goto(&format!("{}/#/insights", server.url));
    let users = b.wait_js(
        "users",
        "const e = document.querySelector('#q-applications .big'); return e && e.textContent",
    );
    let answer = api("/gatehouse/insights/applications?since=7d&top=10");
    assert_eq!(
        users
            .as_str()
            .unwrap()
            .replace([',', '.', '\u{a0}', ' '], ""),
        answer["total"]["users"].to_string()
    );
    b.goto(&format!(
        "{}/#/insights/applications?period=D30",
        server.url
    ));
    b.wait_for("#apps-table tbody tr");
    let summary = api("/beta/reports/getAzureADApplicationSignInSummary(period='D30')");
    let first_app = b.js(
        "return document.querySelector('#apps-table tbody tr td').textContent",
        vec![],
    );
    assert_eq!(first_app, summary["value"][0]["appDisplayName"]);
    let charts = b.js(
        "return document.querySelectorAll('svg.chart rect').length",
        vec![],
    );
    assert!(charts.as_u64().unwrap() > 0, "charts drawn");

    // Risk detections: rows from the risk engine's table (once it has scored the tenant).
    b.goto(&format!("{}/#/risk/detections?range=all", server.url));
    wait_loaded(&b, "risk detections");
    shot(&b, "15-risk-detections");
    no_console_errors(&b, "risk detections");

    // A narrow window: the menu folds away behind a button, the table still works.
    b.resize(520, 800);
    b.goto(&format!("{}/#/signins?range=7d", server.url));
    wait_loaded(&b, "narrow");
    assert!(b.js("return window.innerWidth", vec![]).as_u64().unwrap() < 900);
    b.wait_js(
        "the menu folded away",
        "return document.querySelector('#nav').getBoundingClientRect().right <= 0",
    );
    b.click(&b.find("#menu-toggle").unwrap());
    b.wait_js(
        "menu open",
        "return document.querySelector('#nav').classList.contains('open')",
    );
    shot(&b, "17-narrow-menu");
    b.resize(1280, 800);

    // Every control has a name a screen reader can say.
    let unlabelled = b.js(
        "return [...document.querySelectorAll('button, select, input')].filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).map(e => e.outerHTML)",
        vec![],
    );
    assert_eq!(unlabelled, json!([]), "unlabelled controls");

    // Signing out forgets the session.
    b.click(&b.find("#signout").unwrap());
    b.wait_for("form #token");
    b.goto(&format!("{}/#/signins", server.url));
    b.wait_for("form #token");
    // The login link was good once.
    b.goto(&link);
    b.wait_for(".signin .error");
    // A reports reader is not offered the risk pages (its role may not read them).
    let reader = gh.run(&[
        "token",
        "login-link",
        "--tenant",
        TENANT,
        "--role",
        "reports-reader",
        "--url",
        &server.url,
    ]);
    reader.expect_code(0, "login-link");
    b.goto(reader.stdout.trim());
    b.wait_js(
        "signed in as a reports reader",
        "const w = document.querySelector('#who'); return w && w.textContent.includes('reports-reader')",
    );
    let hidden = b.js(
        "return [...document.querySelectorAll('#nav [data-log], #nav [data-needs]')].map(a => a.hidden)",
        vec![],
    );
    assert_eq!(hidden, json!([true, true, true]));
    assert_eq!(
        b.js(
            "return document.querySelector('#nav a[data-page=audits]').hidden",
            vec![]
        ),
        json!(false)
    );
    drop(b);
    let log = server.stop();
    assert!(!log.contains("panicked"), "{log}");
}

/// `gatehouse demo` keeps serving and prints a link that opens the console signed in.
#[test]
fn the_demo_prints_a_link_that_opens_the_console_signed_in() {
    use std::io::BufRead;
    let gh = Gh::new();
    let mut child = gh
        .cmd()
        .args([
            "demo",
            "--users",
            "25",
            "--days",
            "2",
            "--serve",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("demo");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let link = loop {
        let line = lines
            .next()
            .expect("the demo ended without a console link")
            .unwrap();
        if let Some(at) = line.find("http://") {
            if line.contains("#login=") {
                break line[at..].trim().to_string();
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let downloads = gh.dir.join("downloads");
    let b = Browser::start(1280, 800, &downloads);
    b.goto(&link);
    b.wait_js(
        "signed in, on the sign-in logs",
        "const w = document.querySelector('#who'); return w && /Tenant .+ · security-admin/.test(w.textContent) && document.querySelector('#rows')",
    );
    wait_loaded(&b, "the demo's sign-ins");
    no_console_errors(&b, "demo");
    drop(b);
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the demo stops cleanly on Ctrl-C: {status:?}"
    );
}
