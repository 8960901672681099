#!/usr/bin/env python3
"""Graph API benchmark: filtered pages, uncapped exports and 32 concurrent clients over a store
of at least 10 million simulated sign-ins, with DuckDB running the same page queries and export
in-process over the same Parquet files in the same run.

Usage (from the repository root, after `cargo build --release`; it reads bench/soak.py's store of
a 2,000-user month, or any store with a `bench` tenant of 10M+ sign-ins, and builds one like it
when the store does not exist: `gatehouse simulate` of the whole month in one run, gzip-compressed,
then `gatehouse ingest --tenant bench`, the files deleted once stored):

    .venv/bin/python bench/graph.py [--store bench-out/soak/store] [--seconds 60] [--clients 32]

The result replaces the Graph section of BENCHMARKS.md.
"""

import argparse
import datetime
import glob
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BIN, ROOT, Serve, fmt_int, percentile, write_section  # noqa: E402

BEGIN = "<!-- graph: written by bench/graph.py -->"
END = "<!-- /graph -->"


def get(conn, path, token, headers=None):
    """GET on a kept-alive connection: (status, body bytes, seconds)."""
    h = {"Authorization": f"Bearer {token}"}
    h.update(headers or {})
    start = time.perf_counter()
    conn.request("GET", path, headers=h)
    r = conn.getresponse()
    body = r.read()
    return r.status, body, time.perf_counter() - start


def path_of(url):
    p = urllib.parse.urlsplit(url)
    return p.path + ("?" + p.query if p.query else "")


def q(s):
    return urllib.parse.quote(s, safe="")


def build_store(store, users, days, start):
    """A month of a simulated tenant ingested into `store` under the tenant `bench`: simulated in
    one run (gzip-compressed files, about a tenth of the JSON's size), then ingested at once."""
    sim = store.rstrip("/") + "-sim"
    shutil.rmtree(sim, ignore_errors=True)
    subprocess.run([BIN, "simulate", "--users", str(users), "--days", str(days), "--seed", "7",
                    "--start", start, "--gzip", "--out", sim], check=True, capture_output=True)
    print(f"simulated {days} days", flush=True)
    files = sorted(glob.glob(os.path.join(sim, "graph", "*", "*.jsonl.gz")))
    subprocess.run([BIN, "--data", store, "ingest", "--tenant", "bench", *files],
                   check=True, capture_output=True)
    shutil.rmtree(sim, ignore_errors=True)
    print(f"built {store}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=os.path.join(ROOT, "bench-out", "soak", "store"))
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=6)
    ap.add_argument("--write", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--users", type=int, default=2000, help="users of a store it builds")
    ap.add_argument("--days", type=int, default=30, help="days of a store it builds")
    ap.add_argument("--start", default="2026-10-01", help="first day of a store it builds")
    args = ap.parse_args()
    if not os.path.exists(args.store):
        build_store(args.store, args.users, args.days, args.start)
    # What a running server's background maintenance leaves: small files merged, interactive
    # sign-in files copied clustered by user (done here first so that it does not run during
    # the timings).
    subprocess.run([BIN, "--data", args.store, "compact"], check=True)
    import duckdb
    from deltalake import DeltaTable

    server = Serve(args.store)
    token = server.reader_token
    conn = server.connection()

    def sql(query):
        body = server.post(conn, "/gatehouse/sql", token, query.encode())
        return [json.loads(line) for line in body.decode().splitlines()]

    total = sql("SELECT count(*) AS n FROM signins")[0]["n"]
    if total < 10_000_000:
        sys.exit(f"the store holds {total:,} sign-ins; the benchmark wants at least 10 million")
    interactive = sql("SELECT count(*) AS n FROM signins WHERE array_has(\"signInEventTypes\", 'interactiveUser')")[0]["n"]
    pick = sql("SELECT \"userPrincipalName\" AS u, \"appDisplayName\" AS a, CAST(max(\"createdDateTime\") AS VARCHAR) AS t "
               "FROM signins WHERE array_has(\"signInEventTypes\", 'interactiveUser') GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1")[0]
    upn, app = pick["u"], pick["a"]
    last_day = sql("SELECT CAST(CAST(max(\"createdDateTime\") AS DATE) AS VARCHAR) AS d FROM signins")[0]["d"]
    table = DeltaTable(os.path.join(args.store, "tenants", "bench", "signins"))
    files = table.file_uris()
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    duck.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet({files!r})")

    inter = "list_contains(\"signInEventTypes\", 'interactiveUser')"
    # (name, OData $filter or None, the same rows in DuckDB's SQL)
    filters = [
        ("newest interactive sign-ins (no filter)", None, inter),
        ("failed: status/errorCode ne 0", "status/errorCode ne 0", f"{inter} AND status.errorCode <> 0"),
        ("one user: userPrincipalName eq", f"userPrincipalName eq '{upn}'", f"{inter} AND \"userPrincipalName\" = '{upn}'"),
        ("startswith(appDisplayName)", f"startswith(appDisplayName, '{app[:6]}')", f"{inter} AND starts_with(\"appDisplayName\", '{app[:6]}')"),
        ("one day: createdDateTime ge/lt", f"createdDateTime ge {last_day}T00:00:00Z and createdDateTime lt {last_day}T12:00:00Z",
         f"{inter} AND \"createdDateTime\" >= TIMESTAMPTZ '{last_day} 00:00:00+00' AND \"createdDateTime\" < TIMESTAMPTZ '{last_day} 12:00:00+00'"),
        ("service principals: signInEventTypes/any", "signInEventTypes/any(t: t eq 'servicePrincipal')",
         "list_contains(\"signInEventTypes\", 'servicePrincipal')"),
        ("non-interactive, failed", "signInEventTypes/any(t: t eq 'nonInteractiveUser') and status/errorCode ne 0",
         "list_contains(\"signInEventTypes\", 'nonInteractiveUser') AND status.errorCode <> 0"),
    ]

    # Pages: the first page and four more by nextLink, `repeat` times per filter (the first walk
    # of each is dropped as the cold one).
    page_rows = []
    all_first, all_next = [], []
    for name, odata, duck_where in filters:
        first, nexts, duck_t = [], [], []
        for i in range(args.repeat + 1):
            path = "/beta/auditLogs/signIns?$top=1000" + (f"&$filter={q(odata)}" if odata else "")
            status, body, t = get(conn, path, token)
            if status != 200:
                sys.exit(f"{path}: {status} {body[:300]!r}")
            page = json.loads(body)
            walk = []
            for _ in range(4):
                nl = page.get("@odata.nextLink")
                if not nl:
                    break
                status, body, tn = get(conn, path_of(nl), token)
                if status != 200:
                    sys.exit(f"{nl}: {status} {body[:300]!r}")
                page = json.loads(body)
                walk.append(tn)
            s = time.perf_counter()
            duck.execute(f"SELECT * FROM t WHERE {duck_where} ORDER BY \"createdDateTime\" DESC, id DESC LIMIT 1000").fetchall()
            dt = time.perf_counter() - s
            if i == 0:
                continue
            first.append(t)
            nexts.extend(walk)
            duck_t.append(dt)
        all_first.extend(first)
        all_next.extend(nexts)
        page_rows.append((name, percentile(first, 50), percentile(first, 99), percentile(nexts, 50) if nexts else None,
                          percentile(nexts, 99) if nexts else None, percentile(duck_t, 50)))
        print(f"{name}: first page p50 {percentile(first, 50)*1000:.1f} ms, next pages p50 "
              f"{(percentile(nexts, 50)*1000 if nexts else 0):.1f} ms; DuckDB {percentile(duck_t, 50)*1000:.1f} ms", flush=True)

    # Export: every sign-in as NDJSON over HTTP, then DuckDB writing the same rows as NDJSON.
    econn = server.connection()
    start = time.perf_counter()
    econn.request("GET", "/gatehouse/export/signIns?format=ndjson", headers={"Authorization": f"Bearer {token}"})
    r = econn.getresponse()
    rows, nbytes = 0, 0
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        rows += chunk.count(b"\n")
        nbytes += len(chunk)
    export_s = time.perf_counter() - start
    if r.status != 200 or rows != total:
        sys.exit(f"export: {r.status}, {rows:,} rows of {total:,}")
    print(f"export: {rows:,} rows in {export_s:.1f} s", flush=True)
    # To /dev/null: DuckDB's NDJSON of this table (every null written out) is over 40 GB.
    start = time.perf_counter()
    duck.execute("COPY (SELECT * FROM t) TO '/dev/null' (FORMAT json)")
    duck_export_s = time.perf_counter() - start
    csv_start = time.perf_counter()
    econn = server.connection()
    week = f"createdDateTime ge {last_day}T00:00:00Z"
    econn.request("GET", f"/gatehouse/export/signIns?format=csv&$filter={q(week)}",
                  headers={"Authorization": f"Bearer {token}"})
    r = econn.getresponse()
    csv_rows = r.read().count(b"\n") - 1
    csv_s = time.perf_counter() - csv_start

    # 32 clients for a minute: each walks a random filter's pages (up to five) over and over.
    stop = threading.Event()
    lat, errors, lock = [], [], threading.Lock()

    def client(seed):
        rnd = random.Random(seed)
        c = server.connection()
        while not stop.is_set():
            _, odata, _ = rnd.choice(filters)
            path = "/beta/auditLogs/signIns?$top=1000" + (f"&$filter={q(odata)}" if odata else "")
            for _ in range(5):
                try:
                    status, body, t = get(c, path, token)
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errors.append(repr(e))
                    c = server.connection()
                    break
                with lock:
                    lat.append(t)
                    if status != 200:
                        errors.append(f"{status} {body[:200]!r}")
                if status != 200 or stop.is_set():
                    break
                nl = json.loads(body).get("@odata.nextLink")
                if not nl:
                    break
                path = path_of(nl)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    load_s = time.perf_counter() - start
    rss = server.rss()
    server.stop()
    print(f"load: {len(lat):,} requests, {len(errors)} errors", flush=True)

    ms = lambda s: f"{s * 1000:.1f} ms" if s is not None else "–"  # noqa: E731
    lines = [BEGIN, "## The Graph API", "",
             f"`.venv/bin/python bench/graph.py`: `gatehouse serve` over a store of a 2,000-user month "
             "(bench/soak.py's, or, when there is none, one built by `gatehouse simulate` and `gatehouse ingest` day by day: "
             f"**{fmt_int(total)} sign-ins**, {fmt_int(interactive)} of them interactive, in {len(files)} Parquet files; "
             "`gatehouse compact` first does what the server's background maintenance would: small files merged, "
             "and the interactive sign-in files copied clustered by user, which one-user pages read instead), "
             "requests over HTTP on loopback from Python's `http.client` on kept-alive connections, timed from "
             "request to the last byte of the answer. DuckDB runs the same page as SQL "
             "(`… WHERE <filter> ORDER BY createdDateTime DESC, id DESC LIMIT 1000`) in-process over the "
             "table's live Parquet files.", "",
             f"### Pages of 1,000 (`$top=1000`, beta, every property), {args.repeat} walks of five pages per filter", "",
             "| filter | first page p50 / p99 | next pages p50 / p99 | DuckDB, the first page in-process, p50 |",
             "|---|---:|---:|---:|"]
    for name, f50, f99, n50, n99, d50 in page_rows:
        lines.append(f"| {name} | {ms(f50)} / {ms(f99)} | {ms(n50)} / {ms(n99)} | {ms(d50)} |")
    lines += ["", f"All pages: p50 {ms(percentile(all_first + all_next, 50))}, p99 {ms(percentile(all_first + all_next, 99))} "
              "(target: p99 under 100 ms).", "",
              "### Export", "",
              f"- `GET /gatehouse/export/signIns?format=ndjson`, every sign-in: **{fmt_int(rows)} rows in {export_s:.1f} s, "
              f"{fmt_int(int(rows / export_s))} rows/s** ({nbytes / export_s / 1e6:.0f} MB/s of Graph JSON; target 100,000 rows/s, "
              "200 times Graph's ~500 rows/s).",
              f"- DuckDB writing the same rows as NDJSON (`COPY (SELECT * …) TO … (FORMAT json)`), in-process: "
              f"{duck_export_s:.1f} s, {fmt_int(int(total / duck_export_s))} rows/s (written to /dev/null: its JSON of these rows is over 40 GB).",
              f"- `format=csv` (the admin center's 57 columns) of the last day: {fmt_int(csv_rows)} rows in {csv_s:.1f} s, "
              f"{fmt_int(int(csv_rows / csv_s))} rows/s.", "",
              f"### {args.clients} concurrent clients for {args.seconds} s", "",
              "Each client walks up to five pages of a random filter above, again and again; the server runs "
              "`max_running_queries` (by default, the cores) pages at once and queues the others in arrival order: "
              f"**{fmt_int(len(lat))} requests** "
              f"({len(lat) / load_s:.0f}/s), **{len(errors)} errors**; latency p50 {ms(percentile(lat, 50))}, "
              f"p90 {ms(percentile(lat, 90))}, p99 {ms(percentile(lat, 99))}, max {ms(max(lat))}; "
              f"server RSS at the end {rss / 2**20:,.0f} MiB.", END]
    write_section(args.write, BEGIN, END, lines)
    if errors:
        print("errors:", errors[:5])
        sys.exit(1)


if __name__ == "__main__":
    main()
