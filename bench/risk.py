#!/usr/bin/env python3
"""Risk engine benchmark: what scoring costs beside ingest, and how good it is at full size.

1. Cost. bench/run.py's input (bench-out/signins.jsonl: 1M simulated sign-ins with the default
   attack mix) is ingested into a fresh store with `gatehouse ingest` (risk off), then
   `gatehouse risk scan` reads every stored sign-in back and scores it (risk on = both). The
   overhead is the scan's time over the ingest's, best of N alternating runs. For scale, DuckDB
   reads the same projection of the same Parquet files (the table's live files) in the same run.
2. Quality at full size. `gatehouse simulate --users 5000 --days 30 --into-store` (the default
   attack mix, with benign look-alikes), `risk scan`, `risk evaluate` against its labels; then an
   attack-free month of the same size with only the benign look-alikes (travel on the corporate
   VPN, a new phone): its false detections per 1,000 users per day.

Usage (from the repository root, after `cargo build --release` and bench/run.py, whose input it
reuses):

    .venv/bin/python bench/risk.py [--repeat 3] [--users 5000] [--days 30] [--reuse]

The result replaces the risk section of BENCHMARKS.md.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BIN, ROOT, run_timed, warm, write_section  # noqa: E402

BEGIN = "<!-- risk: written by bench/risk.py -->"
END = "<!-- /risk -->"
OUT = os.path.join(ROOT, "bench-out", "risk")


def gh(data, *args, check=True):
    p = subprocess.run([BIN, "--data", data, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.exit(f"gatehouse {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return p


def duck_read(store):
    """DuckDB reading the engine's projection of the store's sign-ins (its live Parquet files)."""
    import duckdb
    files = []
    for dirpath, _, names in os.walk(os.path.join(store, "tenants")):
        if "/signins" in dirpath and "_delta_log" not in dirpath:
            files += [os.path.join(dirpath, n) for n in names if n.endswith(".parquet")]
    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(
        "SELECT count(*), count(DISTINCT userId), count(DISTINCT ipAddress), sum(status.errorCode), "
        "sum(length(location.countryOrRegion)), sum(length(location.city)), sum(location.geoCoordinates.latitude), "
        "sum(length(deviceDetail.browser)), sum(length(deviceDetail.operatingSystem)), sum(length(deviceDetail.deviceId)), "
        "sum(length(sessionId)), sum(length(id)), sum(length(appId)), sum(autonomousSystemNumber), "
        "sum(length(clientAppUsed)), sum(length(servicePrincipalCredentialKeyId)), sum(length(userPrincipalName)) "
        f"FROM read_parquet({files!r})").fetchall()
    return time.perf_counter() - start


def cost(args):
    src = os.path.join(ROOT, "bench-out", "signins.jsonl")
    if not os.path.exists(src):
        sys.exit("no bench-out/signins.jsonl: run bench/run.py first")
    records = sum(1 for _ in open(src, "rb"))
    ingest_runs, scan_runs, duck_runs, found = [], [], [], None
    for _ in range(args.repeat):
        store = os.path.join(OUT, "cost-store")
        shutil.rmtree(store, ignore_errors=True)
        warm(src)
        wall, _, _ = run_timed([BIN, "--data", store, "ingest", "--tenant", "bench", src])
        ingest_runs.append(wall)
        wall, rss, out = run_timed([BIN, "--data", store, "risk", "scan"])
        scan_runs.append((wall, rss))
        m = re.search(r"(\d+) new detections stored", out)
        found = int(m.group(1)) if m else None
        duck_runs.append(duck_read(store))
    return records, ingest_runs, scan_runs, duck_runs, found


def quality(args, attacks, name):
    data = os.path.join(OUT, name)
    sim = os.path.join(OUT, name + "-sim")
    stamp = os.path.join(OUT, name + ".json")
    same = os.path.exists(stamp) and json.load(open(stamp)).get("args") == [args.users, args.days, attacks]
    if args.reuse and same:
        # The simulated store of an earlier run: only the risk engine's tables go.
        for table in ("riskDetections", "riskyUsers"):
            for tenant in os.listdir(os.path.join(data, "tenants")):
                shutil.rmtree(os.path.join(data, "tenants", tenant, table), ignore_errors=True)
        sim_wall = json.load(open(stamp))["sim_wall"]
    else:
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(sim, ignore_errors=True)
        sim_args = ["simulate", "--users", str(args.users), "--days", str(args.days), "--seed", "21",
                    "--into-store", "--out", sim]
        if attacks:
            sim_args += ["--attacks", attacks]
        start = time.perf_counter()
        gh(data, *sim_args)
        sim_wall = time.perf_counter() - start
        json.dump({"args": [args.users, args.days, attacks], "sim_wall": sim_wall}, open(stamp, "w"))
    sign_ins = int(json.loads(gh(data, "sql", "SELECT count(*) AS n FROM signins", "--format", "json").stdout)[0]["n"])
    wall, rss, out = run_timed([BIN, "--data", data, "risk", "scan"])
    ev = gh(data, "risk", "evaluate", "--labels", os.path.join(sim, "labels.jsonl")).stdout
    return {"sim_wall": sim_wall, "sign_ins": sign_ins, "scan_wall": wall, "scan_rss": rss,
            "scan": out, "evaluate": ev}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--write", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--reuse", action="store_true",
                    help="score the simulated stores of an earlier run again instead of simulating anew")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)

    records, ingest_runs, scan_runs, duck_runs, found = cost(args)
    attacks = quality(args, None, "attacks")
    benign = quality(args, "vpn_travel,new_phone", "benign")

    best_ingest = min(ingest_runs)
    best_scan = min(w for w, _ in scan_runs)
    lines = [BEGIN, "## Risk engine", "",
             "Regenerate with `.venv/bin/python bench/risk.py` (after bench/run.py, whose input it reuses).", "",
             "### What scoring costs beside ingest", "",
             f"bench/run.py's input ({records:,} sign-ins, the default attack mix) ingested into a fresh store "
             "(`gatehouse ingest`, risk off), then every stored sign-in read back and scored (`gatehouse risk scan`); "
             f"best of {args.repeat} runs. DuckDB reads the same columns of the same Parquet files in the same run (summing their lengths, so that every value is read).", "",
             "| | time | sign-ins/s |", "|---|---:|---:|",
             f"| ingest (risk off) | {best_ingest:.2f} s | {records / best_ingest:,.0f} |",
             f"| risk scan (read back + score) | {best_scan:.2f} s | {records / best_scan:,.0f} |",
             f"| DuckDB reading the same columns | {min(duck_runs):.2f} s | {records / min(duck_runs):,.0f} |",
             "",
             f"**Risk adds {best_scan / best_ingest * 100:.0f}% to ingest time** (target: at most 20%); "
             f"{found} detections. Runs (s): ingest {', '.join(f'{x:.2f}' for x in ingest_runs)}; "
             f"scan {', '.join(f'{w:.2f}' for w, _ in scan_runs)}; peak memory of the scan "
             f"{max(r for _, r in scan_runs) / 2**20:,.0f} MiB.", ""]
    for title, r in [(f"### Quality: {args.users:,} users, {args.days} days, the default attack mix", attacks),
                     (f"### Quality: an attack-free {args.users:,}-user month with benign travel, VPNs and new phones", benign)]:
        lines += [title, "",
                  f"{r['sign_ins']:,} sign-ins (simulated and stored in {r['sim_wall']:.0f} s); `risk scan` "
                  f"{r['scan_wall']:.1f} s ({r['sign_ins'] / r['scan_wall']:,.0f} sign-ins/s, peak "
                  f"{r['scan_rss'] / 2**20:,.0f} MiB). `gatehouse risk evaluate --labels labels.jsonl`:", "",
                  "```", r["evaluate"].rstrip(), "```", ""]
    lines += ["Targets (issue #14): precision and recall at least 0.9 for every scenario, no benign look-alike "
              "flagged; at most 1 false detection per 1,000 users per day on an attack-free month.", END]
    block = write_section(args.write, BEGIN, END, lines)
    print(block)


if __name__ == "__main__":
    main()
