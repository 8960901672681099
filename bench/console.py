#!/usr/bin/env python3
"""Console benchmark: the web console in headless Chromium (driven over WebDriver by
chromedriver) against `gatehouse serve` over a store of at least 10 million simulated sign-ins,
timed in the browser: first rows on screen after opening the sign-in logs (from the start of
the page's navigation: HTML, script, who-am-I, the first page, rendering), new rows after a
filter change (from the change to the rows rendered), and the next page while scrolling. DuckDB
runs the equivalent SQL (the same rows: newest 100 matching) in-process over the same Parquet
files in the same run, for scale.

Usage (from the repository root, after `cargo build --release`; it reads bench/soak.py's store of
a 2,000-user month, the one bench/graph.py and bench/insights.py use; needs Debian's chromium
and chromium-driver):

    .venv/bin/python bench/console.py [--store bench-out/soak/store] [--repeat 5]

The result replaces the console section of BENCHMARKS.md.
"""

import argparse
import base64
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BIN, ROOT, Serve, write_section  # noqa: E402

BEGIN = "<!-- console: written by bench/console.py -->"
END = "<!-- /console -->"
INTERRUPTS = "50074, 50076, 50079, 50072, 50125, 50140, 50158, 50199, 50097, 50058, 16000, 16001"


class Browser:
    """Headless Chromium through chromedriver (W3C WebDriver over HTTP)."""

    def __init__(self):
        driver = shutil.which("chromedriver")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if not driver or not chromium:
            sys.exit("needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if self._call("GET", "/status")["value"]["ready"]:
                    break
            except OSError:
                time.sleep(0.05)
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"]}}}}
        self.session = self._call("POST", "/session", caps)["value"]["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            return json.load(urllib.request.urlopen(req, timeout=300))
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.read()[:500]!r}")

    def call(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)["value"]

    def goto(self, url):
        self.call("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_js(self, script, timeout=120):
        started = time.time()
        while time.time() - started < timeout:
            v = self.js(script)
            if v:
                return v
            time.sleep(0.02)
        self.screenshot("/tmp/gatehouse-console-bench-timeout.png")
        sys.exit(f"timed out: {script}")

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.call("GET", "/screenshot")))

    def close(self):
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=os.path.join(ROOT, "bench-out", "soak", "store"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    if not os.path.exists(args.store):
        sys.exit(f"no store at {args.store}: run bench/graph.py (or bench/soak.py) first")
    import duckdb
    from deltalake import DeltaTable

    server = Serve(args.store)
    conn = server.connection()
    url = f"http://{server.host}:{server.port}"

    def sql(query):
        body = server.post(conn, "/gatehouse/sql", server.reader_token, query.encode())
        return [json.loads(line) for line in body.decode().splitlines()]

    total = sql("SELECT count(*) AS n FROM signins")[0]["n"]
    if total < 10_000_000:
        sys.exit(f"the store holds {total:,} sign-ins; the benchmark wants at least 10 million")
    newest = sql("SELECT CAST(max(\"createdDateTime\") AS VARCHAR) AS t FROM signins")[0]["t"]
    end = datetime.datetime.fromisoformat(newest.replace("Z", "+00:00").replace(" ", "T"))
    if end.tzinfo is None:
        end = end.replace(tzinfo=datetime.timezone.utc)
    to = (end + datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    week = (end - datetime.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    inter = "\"signInEventTypes\"[1] = 'interactiveUser'"
    app = sql(f"SELECT appDisplayName AS a, count(*) AS n FROM signins WHERE {inter.replace(chr(34), '')} "
              "GROUP BY 1 ORDER BY 2 DESC LIMIT 3")[2]["a"]
    user = sql(f"SELECT userPrincipalName AS u FROM signins WHERE {inter.replace(chr(34), '')} LIMIT 1")[0]["u"]
    files = DeltaTable(os.path.join(args.store, "tenants", "bench", "signins")).file_uris()
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    duck.execute(f"CREATE VIEW signins AS SELECT * FROM read_parquet({files!r})")

    link = subprocess.run([BIN, "--data", args.store, "token", "login-link", "--tenant", "bench", "--url", url],
                          capture_output=True, text=True, check=True).stdout.strip()
    browser = Browser()
    browser.goto(link)
    browser.wait_js("return document.querySelector('#who') && document.querySelector('#who').textContent.includes('bench')")

    q = lambda s: "'" + s.replace("'", "''") + "'"  # noqa: E731
    week_range = {"range": "custom", "from": week, "to": to}
    # The views: (name, URL parameters, the equivalent SQL condition on top of the tab's type).
    views = [
        ("all retained, interactive (the page as opened)", {"range": "all"}, inter),
        ("last 7 days of the data", week_range, f"{inter} AND \"createdDateTime\" >= TIMESTAMPTZ '{week}'"),
        ("+ application chip", dict(week_range, f=f"appDisplayName~eq~{app}"), f"{inter} AND \"createdDateTime\" >= TIMESTAMPTZ '{week}' AND appDisplayName = {q(app)}"),
        ("+ status: failure chip", dict(week_range, f=["appDisplayName~eq~" + app, "status~eq~failure"]),
         f"{inter} AND \"createdDateTime\" >= TIMESTAMPTZ '{week}' AND appDisplayName = {q(app)} AND status.errorCode <> 0 AND status.errorCode NOT IN ({INTERRUPTS})"),
        ("user chip instead", dict(week_range, f=f"userPrincipalName~eq~{user}"), f"{inter} AND \"createdDateTime\" >= TIMESTAMPTZ '{week}' AND userPrincipalName = {q(user)}"),
        ("non-interactive tab", dict(week_range, tab="nonInteractiveUser"), f"\"signInEventTypes\"[1] = 'nonInteractiveUser' AND \"createdDateTime\" >= TIMESTAMPTZ '{week}'"),
        ("IP address starts with", dict(week_range, f="ipAddress~startswith~10."), f"{inter} AND \"createdDateTime\" >= TIMESTAMPTZ '{week}' AND starts_with(ipAddress, '10.')"),
    ]

    def hash_of(params):
        pairs = []
        for k, v in params.items():
            for item in (v if isinstance(v, list) else [v]):
                pairs.append((k, item))
        return "#/signins?" + urllib.parse.urlencode(pairs)

    def newest_ms(what, since):
        return browser.wait_js(
            f"const e = window.gatehouseTimings.filter(t => t.what === '{what}' && t.t > {since}); "
            "const b = document.querySelector('#rows tbody'); "
            "return e.length && b.dataset.state === 'done' ? [e[e.length - 1].t, e[e.length - 1].ms, Number(b.dataset.loaded)] : null")

    def duck_time(cond):
        t = time.perf_counter()
        rows = duck.execute(f"SELECT * FROM signins WHERE {cond} ORDER BY \"createdDateTime\" DESC LIMIT 100").fetchall()
        return time.perf_counter() - t, len(rows)

    results = []
    # Opening the sign-in logs: a fresh page load each time (the session is kept in the tab).
    opens, duck_open = [], []
    for i in range(args.repeat + 1):
        browser.goto("about:blank")
        browser.goto(url + "/" + hash_of(views[0][1]))
        t, _, n = newest_ms("signins:firstRows", 0)
        d, dn = duck_time(views[0][2])
        if i > 0:
            opens.append(t / 1e3)
            duck_open.append(d)
        print(f"open: {t:.0f} ms ({n} rows), DuckDB {d * 1e3:.0f} ms ({dn} rows)", flush=True)
    results.append(("opening the sign-in logs (all retained): first rows on screen", opens, duck_open))
    # Filter changes, each from the view before it, in the page as a user would.
    changes = {name: ([], []) for name, _, _ in views[1:]}
    for i in range(args.repeat + 1):
        browser.goto(url + "/" + hash_of(views[0][1]))
        newest_ms("signins:firstRows", 0)
        for name, params, cond in views[1:]:
            since = browser.js("return performance.now()")
            started = browser.js("const t = performance.now(); location.hash = arguments[0]; return t", hash_of(params))
            end_t, _, n = newest_ms("signins:firstRows", since)
            d, dn = duck_time(cond)
            if i > 0:
                changes[name][0].append((end_t - started) / 1e3)
                changes[name][1].append(d)
            print(f"{name}: {end_t - started:.0f} ms ({n} rows), DuckDB {d * 1e3:.0f} ms ({dn} rows)", flush=True)
    for name, (ours, theirs) in changes.items():
        results.append((f"filter change: {name}", ours, theirs))
    # Scrolling: the next page (keyset paging) after the first.
    scrolls = []
    for i in range(args.repeat + 1):
        browser.goto(url + "/" + hash_of(views[1][1]))
        newest_ms("signins:firstRows", 0)
        t0 = browser.js("const s = document.querySelector('.table-scroll'); const t = performance.now(); s.scrollTop = s.scrollHeight; return t")
        t1 = browser.wait_js("return Number(document.querySelector('#rows tbody').dataset.loaded) > 100 && performance.now()")
        if i > 0:
            scrolls.append((t1 - t0) / 1e3)
    d_scroll = [duck_time(f"{views[1][2]} AND \"createdDateTime\" < TIMESTAMPTZ '{end.strftime('%Y-%m-%d %H:%M:%S')}+00'")[0] for _ in range(args.repeat)]
    results.append(("scrolling: the next 100 rows on screen", scrolls, d_scroll))
    browser.screenshot(os.path.join(ROOT, "bench-out", "console-bench.png"))
    browser.close()
    server.stop()

    ms = lambda s: f"{s * 1e3:,.0f} ms"  # noqa: E731
    lines = [BEGIN, "## Console", "",
             f"`.venv/bin/python bench/console.py` over the store of the Graph section ({total:,} sign-ins, "
             f"a month of a 2,000-user tenant ending {end:%Y-%m-%d}): the console in headless Chromium "
             "(chromedriver, 1280×800) on the same machine as the server, timed in the page "
             "(`performance.now()`): opening the sign-in logs from the start of the navigation (HTML, "
             "script, who-am-I, the first Graph page of 100 rows, rendering), a filter change from the "
             "change of the URL's filters to the new rows rendered, one after another as a user adds "
             "them, and the next page when the table is scrolled to its end. DuckDB runs the equivalent "
             "SQL (the newest 100 matching rows) in-process over the same Parquet files in the same run, "
             f"for scale. {args.repeat} runs after a first one; median and slowest.", "",
             "| step | console, median | slowest | DuckDB SQL, median | ratio |",
             "|---|---:|---:|---:|---:|"]
    for name, ours, theirs in results:
        g, dk = statistics.median(ours), statistics.median(theirs)
        lines.append(f"| {name} | {ms(g)} | {ms(max(ours))} | {ms(dk)} | {g / dk:.2f}x |")
    lines += ["", "Targets (issue #15): first rows under 1 s after opening the sign-in logs, a filter "
              "change's rows under 500 ms, on 10M+ sign-ins.", END]
    write_section(args.write, BEGIN, END, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
