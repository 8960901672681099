#!/usr/bin/env python3
"""Insights benchmark: the everyday questions (GET /gatehouse/insights/...) and the Usage &
insights reports (GET /beta/reports/...) over a store of at least 10 million simulated sign-ins,
timed over HTTP on a kept-alive connection, side by side with DuckDB running equivalent SQL
in-process over the same Parquet files (the table's live files, from its Delta log) in the same
run.

Usage (from the repository root, after `cargo build --release`; it reads bench/soak.py's store of
a 2,000-user month, the one bench/graph.py uses):

    .venv/bin/python bench/insights.py [--store bench-out/soak/store] [--repeat 6]

The result replaces the insights section of BENCHMARKS.md.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BIN, ROOT, Serve, write_section  # noqa: E402
from graph import get  # noqa: E402

BEGIN = "<!-- insights: written by bench/insights.py -->"
END = "<!-- /insights -->"
INTERRUPTS = "50074, 50076, 50079, 50072, 50125, 50140, 50158, 50199, 50097, 50058, 16000, 16001"


def wait_grouped(server, conn, token, limit=900):
    """Waits until the server's round of grouping the questions' days ahead is over (its count of
    days grouped stays put for three seconds); the seconds it took."""
    start = time.perf_counter()
    seen, since = None, time.perf_counter()
    while time.perf_counter() - start < limit:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
        text = conn.getresponse().read().decode()
        now = [line for line in text.splitlines() if line.startswith("gatehouse_insights_days_total")]
        if now != seen:
            seen, since = now, time.perf_counter()
        elif time.perf_counter() - since >= 3:
            return time.perf_counter() - start
        time.sleep(0.5)
    sys.exit("gatehouse serve: the questions' days were not grouped ahead")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=os.path.join(ROOT, "bench-out", "soak", "store"))
    ap.add_argument("--repeat", type=int, default=6)
    ap.add_argument("--write", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    if not os.path.exists(args.store):
        sys.exit(f"no store at {args.store}: run bench/graph.py (or bench/soak.py) first")
    subprocess.run([BIN, "--data", args.store, "compact"], check=True, capture_output=True)
    import duckdb
    from deltalake import DeltaTable

    server = Serve(args.store)
    token = server.reader_token
    conn = server.connection()

    def sql(query):
        body = server.post(conn, "/gatehouse/sql", token, query.encode())
        return [json.loads(line) for line in body.decode().splitlines()]

    # A server that has run a while: the risk engine's replay of the store and the first round
    # of grouping the questions' days ahead are done (a fresh store has no kept days yet).
    waited = server.wait_idle()
    waited += wait_grouped(server, conn, token)
    print(f"server idle after {waited:.1f} s", flush=True)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    kept_mb = next((float(line.split()[-1]) / 2**20 for line in conn.getresponse().read().decode().splitlines()
                    if line.startswith("gatehouse_insights_memory_bytes")), 0.0)
    total = sql("SELECT count(*) AS n FROM signins")[0]["n"]
    if total < 10_000_000:
        sys.exit(f"the store holds {total:,} sign-ins; the benchmark wants at least 10 million")
    end = sql("SELECT CAST(CAST(max(\"createdDateTime\") AS DATE) AS VARCHAR) AS d FROM signins")[0]["d"]
    # The period ends at the midnight after the newest sign-in.
    import datetime
    to_day = (datetime.date.fromisoformat(end) + datetime.timedelta(days=1)).isoformat()
    to = f"{to_day}T00:00:00Z"
    files = DeltaTable(os.path.join(args.store, "tenants", "bench", "signins")).file_uris()
    audit_files = DeltaTable(os.path.join(args.store, "tenants", "bench", "audits")).file_uris()
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    duck.execute(f"CREATE VIEW signins AS SELECT * FROM read_parquet({files!r})")
    duck.execute(f"CREATE VIEW audits AS SELECT * FROM read_parquet({audit_files!r}, union_by_name=true)")

    def window(days=None, hours=None):
        span = f"INTERVAL {days} DAY" if days else f"INTERVAL {hours} HOUR"
        return (f"\"createdDateTime\" >= TIMESTAMPTZ '{to_day} 00:00:00+00' - {span} "
                f"AND \"createdDateTime\" < TIMESTAMPTZ '{to_day} 00:00:00+00'")

    users = "\"signInEventTypes\"[1] IN ('interactiveUser', 'nonInteractiveUser')"
    apps = "\"signInEventTypes\"[1] IN ('servicePrincipal', 'managedIdentity')"
    inter = "\"signInEventTypes\"[1] = 'interactiveUser'"
    outcomes = (f"sum(CASE WHEN status.errorCode = 0 THEN 1 ELSE 0 END), "
                f"sum(CASE WHEN status.errorCode IN ({INTERRUPTS}) THEN 1 ELSE 0 END), "
                f"sum(CASE WHEN status.errorCode <> 0 AND status.errorCode NOT IN ({INTERRUPTS}) THEN 1 ELSE 0 END)")

    def applications(w):
        return [f"SELECT appId, appDisplayName, count(DISTINCT NULLIF(userId, '')), count(*), {outcomes} "
                f"FROM signins WHERE {w} AND {users} GROUP BY 1, 2",
                f"SELECT count(DISTINCT NULLIF(userId, '')), count(*), {outcomes} FROM signins WHERE {w} AND {users}"]

    def failures(w):
        return [f"SELECT status.errorCode, lower(userPrincipalName), userId, appId, appDisplayName, ipAddress, "
                f"location.countryOrRegion, count(*) FROM signins WHERE {w} AND status.errorCode <> 0 "
                f"AND status.errorCode NOT IN ({INTERRUPTS}) GROUP BY ALL",
                f"SELECT count(*) FROM signins WHERE {w} AND status.errorCode IN ({INTERRUPTS})"]

    def clients(w):
        return [f"SELECT deviceDetail.browser, deviceDetail.operatingSystem, count(*), count(DISTINCT userId) "
                f"FROM signins WHERE {w} AND {users} GROUP BY 1, 2"]

    def workloads(w):
        return [f"SELECT \"signInEventTypes\"[1], servicePrincipalId, servicePrincipalName, resourceId, "
                f"resourceDisplayName, count(*), sum(CASE WHEN status.errorCode <> 0 THEN 1 ELSE 0 END), "
                f"min(createdDateTime), max(createdDateTime) FROM signins WHERE {w} AND {apps} GROUP BY ALL"]

    def summarized(window_us, w):
        # Every group of the newest window: a first page is 1,000 of them when it has more.
        return (f"SELECT epoch_us(createdDateTime) // {window_us}, NULLIF(userPrincipalName, ''), NULLIF(appId, ''), "
                "NULLIF(appDisplayName, ''), NULLIF(ipAddress, ''), NULLIF(conditionalAccessStatus, ''), "
                "NULLIF(resourceDisplayName, ''), NULLIF(resourceId, ''), NULLIF(servicePrincipalName, ''), "
                "NULLIF(servicePrincipalId, ''), status.errorCode, NULLIF(managedServiceIdentity.msiType, ''), "
                "NULLIF(managedServiceIdentity.associatedResourceId, ''), count(*), min(createdDateTime), "
                "max(resourceTenantId), max(status.failureReason), max(status.additionalDetails) "
                f"FROM signins WHERE {w} AND \"signInEventTypes\"[1] = 'nonInteractiveUser' GROUP BY ALL")

    to_time = datetime.datetime.fromisoformat(to.replace("Z", "+00:00"))
    summary_from = (to_time - datetime.timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    week_from = (to_time - datetime.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")

    some_id = sql("SELECT id FROM signins WHERE createdDateTime >= TIMESTAMP '" + end + "T12:00:00Z' "
                  "AND status.errorCode <> 0 LIMIT 1")[0]["id"]
    upn = sql("SELECT userPrincipalName AS u, count(*) AS n FROM signins "
              "WHERE userPrincipalName <> '' GROUP BY 1 ORDER BY 2 DESC LIMIT 1")[0]["u"]
    one_user = f"lower(userPrincipalName) = lower('{upn}')"
    one_app = "lower(appDisplayName) = 'microsoft teams'"
    cases = [
        ("Users per application, last 7 days", f"/gatehouse/insights/applications?since=7d&to={to}", applications(window(7))),
        ("Failed sign-ins, last 24 hours", f"/gatehouse/insights/failures?since=24h&to={to}", failures(window(hours=24))),
        ("Browsers and OS, last 7 days", f"/gatehouse/insights/clients?since=7d&to={to}", clients(window(7))),
        ("Workload identities' resources, last 7 days", f"/gatehouse/insights/workloads?since=7d&to={to}", workloads(window(7))),
        ("Users per application, 30 days", f"/gatehouse/insights/applications?since=30d&to={to}", applications(window(30))),
        ("Failed sign-ins, 30 days", f"/gatehouse/insights/failures?since=30d&to={to}", failures(window(30))),
        ("Browsers and OS, 30 days", f"/gatehouse/insights/clients?since=30d&to={to}", clients(window(30))),
        ("One application's users (app=Microsoft Teams), 30 days",
         f"/gatehouse/insights/applications?since=30d&to={to}&app=Microsoft%20Teams",
         applications(f"{window(30)} AND {one_app}")),
        ("One user's failed sign-ins (user=UPN), 30 days",
         f"/gatehouse/insights/failures?since=30d&to={to}&user={upn}",
         failures(f"{window(30)} AND {one_user}")),
        ("One user's browsers and OS (user=UPN), 30 days",
         f"/gatehouse/insights/clients?since=30d&to={to}&user={upn}",
         clients(f"{window(30)} AND {one_user}")),
        ("getAzureADApplicationSignInSummary(period='D30')",
         f"/beta/reports/getAzureADApplicationSignInSummary(period='D30')?asOf={to}",
         [f"SELECT appId, max(appDisplayName), sum(CASE WHEN status.errorCode = 0 THEN 1 ELSE 0 END), "
          f"sum(CASE WHEN status.errorCode <> 0 THEN 1 ELSE 0 END) FROM signins WHERE {window(30)} AND {inter} GROUP BY 1"]),
        ("applicationSignInDetailedSummary (all history)", "/beta/reports/applicationSignInDetailedSummary",
         [f"SELECT appId, max(appDisplayName), date_trunc('day', createdDateTime), status.errorCode, count(*), "
          f"max(status.failureReason), max(status.additionalDetails) FROM signins WHERE {inter} GROUP BY 1, 3, 4"]),
        ("servicePrincipalSignInActivities (all history)", "/beta/reports/servicePrincipalSignInActivities",
         [f"SELECT {role}, {col}, max(createdDateTime), arg_max(id, createdDateTime) FROM signins "
          f"WHERE {kinds} AND {col} <> '' GROUP BY 2" for role, col, kinds in
          [(0, "appId", users), (1, "resourceId", users), (2, "appId", apps), (3, "resourceId", apps)]]),
        ("appCredentialSignInActivities (all history)", "/beta/reports/appCredentialSignInActivities",
         ["SELECT appId, servicePrincipalId, servicePrincipalCredentialKeyId, max(clientCredentialType), count(*), "
          "max(createdDateTime), arg_max(id, createdDateTime), arg_max(resourceId, createdDateTime) FROM signins "
          "WHERE \"signInEventTypes\"[1] = 'servicePrincipal' AND servicePrincipalCredentialKeyId <> '' GROUP BY 1, 2, 3",
          "SELECT * FROM audits WHERE activityDisplayName LIKE '%Certificates and secrets management%' ORDER BY activityDateTime"]),
        ("userSignInsByAuthMethodSummary(period='D30')",
         f"/beta/reports/authenticationMethods/userSignInsByAuthMethodSummary(period='D30')?asOf={to}",
         [f"SELECT d.authenticationMethod, count(*) FROM (SELECT unnest(authenticationDetails) AS d FROM signins "
          f"WHERE {window(30)} AND {inter} AND status.errorCode = 0) WHERE d.succeeded GROUP BY 1"]),
        ("Daily sign-ins per type, 30 days", f"/gatehouse/insights/daily?since=30d&to={to}",
         [f"SELECT date_trunc('day', createdDateTime), " + ", ".join(
             f"sum(CASE WHEN \"signInEventTypes\"[1] = '{k}' THEN 1 ELSE 0 END)" for k in
             ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"]) +
          f", sum(CASE WHEN status.errorCode <> 0 AND status.errorCode NOT IN ({INTERRUPTS}) THEN 1 ELSE 0 END) "
          f"FROM signins WHERE {window(30)} GROUP BY 1"]),
        ("getRelyingPartyDetailedSummary(period='D30') (AD FS)",
         f"/beta/reports/getRelyingPartyDetailedSummary(period='D30')?asOf={to}",
         [f"SELECT resourceId, max(resourceDisplayName), tokenIssuerName, "
          f"sum(CASE WHEN status.errorCode = 0 THEN 1 ELSE 0 END), sum(CASE WHEN status.errorCode <> 0 THEN 1 ELSE 0 END), "
          f"count(DISTINCT NULLIF(userId, '')) FROM signins WHERE {window(30)} "
          f"AND tokenIssuerType = 'ADFederationServices' AND resourceId <> '' GROUP BY resourceId, tokenIssuerName"]),
        ("userRegistrationDetails (all history)", "/beta/reports/authenticationMethods/userRegistrationDetails",
         ["SELECT * FROM audits WHERE activityDisplayName LIKE 'User % security info%' ORDER BY activityDateTime"]),
        ("A failed sign-in explained (by id)", f"/gatehouse/signIns/{some_id}/explain",
         [f"SELECT * FROM signins WHERE id = '{some_id}'"]),
        ("getSummarizedNonInteractiveSignIns(aggregationWindow='h1'), 24 hours, first page",
         "/beta/auditLogs/getSummarizedNonInteractiveSignIns(aggregationWindow='h1')"
         f"?$filter=aggregationDateTime%20ge%20{summary_from}%20and%20aggregationDateTime%20lt%20{to}",
         [summarized(3_600_000_000, window(hours=1))]),
        ("getSummarizedNonInteractiveSignIns(aggregationWindow='d1'), 7 days, first page",
         "/beta/auditLogs/getSummarizedNonInteractiveSignIns(aggregationWindow='d1')"
         f"?$filter=aggregationDateTime%20ge%20{week_from}%20and%20aggregationDateTime%20lt%20{to}",
         [summarized(86_400_000_000, window(1))]),
    ]

    rows = []
    for name, path, duck_sql in cases:
        ours, theirs, cold = [], [], None
        for i in range(args.repeat + 1):
            status, body, t = get(conn, path, token)
            if status != 200:
                sys.exit(f"{path}: {status} {body[:300]!r}")
            start = time.perf_counter()
            for s in duck_sql:
                duck.execute(s).fetchall()
            d = time.perf_counter() - start
            if i > 0:  # the first of each is the cold one
                ours.append(t)
                theirs.append(d)
            else:
                cold = (t, d)
        g, dk = statistics.median(ours), statistics.median(theirs)
        rows.append((name, g, dk, cold))
        print(f"{name}: Gatehouse {g * 1e3:.0f} ms (first {cold[0] * 1e3:.0f}), DuckDB {dk * 1e3:.0f} ms (first {cold[1] * 1e3:.0f})", flush=True)
    server.stop()

    ms = lambda s: f"{s * 1e3:,.0f} ms"  # noqa: E731
    lines = [BEGIN, "## Insights and reports", "",
             f"`.venv/bin/python bench/insights.py` over the store bench/graph.py builds ({total:,} sign-ins, every id distinct, "
             f"a month of a 2,000-user tenant ending {end}): each question or report asked over HTTP "
             "(`GET`, JSON back, kept-alive connection, timed from request to last byte) and DuckDB running "
             "equivalent SQL in-process over the same Parquet files (the tables' live files, from their Delta "
             f"logs), alternately, {args.repeat} warm runs each after a first one. Periods end at "
             f"{to} (`to=` for the questions, Gatehouse's `asOf=` for Graph's now-relative report periods). "
             "Gatehouse's answers are exact, whole reports (the DuckDB side returns the grouped rows the "
             "report is folded from; for a summarized sign-ins page, every group of the newest window, which "
             "holds more than the page's 1,000). The server keeps each whole day's groups of a question while the "
             "day's files stay the same (`insights_cache_mb`) and groups the newest 30 days of the "
             "questions ahead at start and after changes (`insights_warm_every_seconds`); answers read "
             "them and group only the period's partial end days; an `app` or `user` filter reads the same "
             "kept days (their groups carry the columns the filters test). Timing starts once the server "
             f"is idle ({waited:.0f} s after its start: the risk engine's replay of the store and the first "
             "round of grouping ahead, which a server that has run a while has long done); the kept days "
             f"then held {kept_mb:,.0f} MiB of memory (`insights_cache_mb`, default 512; days that do not fit "
             "are read from their files, and days in use are not pushed out for them). The first "
             "answer of each question is shown too (after the idle server handed its freed memory back "
             "to the system, a first answer faults it in again).", "",
             "| question or report | Gatehouse over HTTP, warm median | first | DuckDB in-process, warm median | first | ratio (warm) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, g, dk, (cg, cd) in rows:
        lines.append(f"| {name} | {ms(g)} | {ms(cg)} | {ms(dk)} | {ms(cd)} | {g / dk:.2f}x |")
    lines += ["", "Targets (issue #13): each under 300 ms on 10M+ sign-ins, and no slower than DuckDB.", END]
    write_section(args.write, BEGIN, END, lines)


if __name__ == "__main__":
    main()
