#!/usr/bin/env python3
"""Soak: a month of a simulated tenant streamed into `gatehouse serve` by push, with queries running.

Usage (from the repository root, after `cargo build --release`):

    .venv/bin/python bench/soak.py [--users 2000] [--days 30] [--out bench-out/soak]

Day by day, `gatehouse simulate --users N --days 1 --start <day>` writes the tenant's logs (every
record type), four clients push them to `POST /gatehouse/ingest` in bodies of 1,000 records as fast
as the server answers, and the day's files are deleted. Meanwhile one client runs the everyday
questions over `POST /gatehouse/sql` in a loop, and the server's resident memory is sampled every
five seconds. Any error ends the run. The result replaces the soak section of BENCHMARKS.md.
"""

import argparse
import datetime
import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import BIN, QUERIES, ROOT, SOAK_BEGIN, SOAK_END, Serve, fmt_int, push_bodies  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--start", default="2026-10-01")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-out", "soak"))
    ap.add_argument("--write", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    store = os.path.join(args.out, "store")
    server = Serve(store)
    stop = threading.Event()
    errors, samples, queries = [], [], [0]
    pushed = [0, 0]  # records, bytes
    started = time.perf_counter()

    def sampler():
        while not stop.is_set():
            samples.append((time.perf_counter() - started, pushed[0], server.rss()))
            stop.wait(5)

    def querier():
        conn = server.connection()
        upn = None
        while not stop.is_set():
            for name, gsql, _ in QUERIES:
                if "{upn}" in gsql:
                    if upn is None:
                        r = server.post(conn, "/gatehouse/sql", server.reader_token,
                                        b"SELECT userPrincipalName AS u, CAST(createdDateTime AS DATE) AS d FROM signins WHERE userPrincipalName <> '' LIMIT 1")
                        rows = [json.loads(l) for l in r.splitlines()]
                        if not rows:
                            continue
                        upn = rows[0]
                    gsql = gsql.format(upn=upn["u"], day=upn["d"])
                try:
                    server.post(conn, "/gatehouse/sql", server.reader_token, gsql.encode())
                    queries[0] += 1
                except SystemExit as e:
                    errors.append(f"query {name}: {e}")
                    stop.set()
                    return

    side = [threading.Thread(target=sampler), threading.Thread(target=querier)]
    for t in side:
        t.start()
    day0 = datetime.date.fromisoformat(args.start)
    sim_time = 0.0
    try:
        for d in range(args.days):
            day = (day0 + datetime.timedelta(days=d)).isoformat()
            sim = os.path.join(args.out, "day")
            shutil.rmtree(sim, ignore_errors=True)
            s = time.perf_counter()
            subprocess.run([BIN, "simulate", "--users", str(args.users), "--days", "1", "--seed", "7",
                            "--start", day, "--out", sim], check=True, capture_output=True)
            sim_time += time.perf_counter() - s
            bodies = push_bodies(sorted(glob.glob(os.path.join(sim, "graph", "*", "*.jsonl"))))
            lock = threading.Lock()

            def pusher():
                conn = server.connection()
                while not stop.is_set():
                    with lock:
                        if not bodies:
                            return
                        body = bodies.pop()
                    try:
                        v = json.loads(server.post(conn, "/gatehouse/ingest", server.ingest_token, body,
                                                   {"Content-Type": "application/x-ndjson"}))
                    except SystemExit as e:
                        errors.append(f"push: {e}")
                        stop.set()
                        return
                    if v["rejected"]:
                        errors.append(f"push rejected records: {v['rejected'][:3]}")
                        stop.set()
                        return
                    with lock:
                        pushed[0] += v["stored"] + v["duplicates"]
                        pushed[1] += len(body)
            pushers = [threading.Thread(target=pusher) for _ in range(4)]
            for t in pushers:
                t.start()
            for t in pushers:
                t.join()
            shutil.rmtree(sim, ignore_errors=True)
            print(f"day {d + 1}/{args.days}: {fmt_int(pushed[0])} records, RSS {server.rss() / 2**20:.0f} MiB", flush=True)
            if errors:
                break
    finally:
        wall = time.perf_counter() - started
        stop.set()
        for t in side:
            t.join()
        samples.append((wall, pushed[0], server.rss()))
        conn = server.connection()
        stored = json.loads(server.post(conn, "/gatehouse/sql", server.reader_token,
                                        b"SELECT (SELECT count(*) FROM signins) + (SELECT count(*) FROM audits) + (SELECT count(*) FROM provisioning) AS n").splitlines()[0])["n"]
        server.stop()
    lines = [SOAK_BEGIN, "## Soak", ""]
    w = lines.append
    w(f"`.venv/bin/python bench/soak.py --users {args.users} --days {args.days}`: a month of a simulated {args.users}-user")
    w("tenant (every record type) streamed into one `gatehouse serve` by push, day by day, from four")
    w("clients as fast as it answers, while a fifth runs the everyday questions over HTTP in a loop.")
    w("")
    w(f"- Records pushed: **{fmt_int(pushed[0])}** ({pushed[1] / 1e9:,.1f} GB of JSON); stored: {fmt_int(stored)}")
    w(f"- Wall time {wall / 60:,.1f} min (of which simulating the input {sim_time / 60:,.1f} min); "
      f"{fmt_int(int(pushed[0] / max(wall - sim_time, 1e-9)))} records/s while pushing")
    w(f"- Queries answered meanwhile: {fmt_int(queries[0])}; errors: {len(errors)}"
      + (f" ({'; '.join(errors[:3])})" if errors else ""))
    w("")
    w("Resident memory of the server over the run:")
    w("")
    w("| elapsed | records pushed | RSS |")
    w("|---:|---:|---:|")
    step = max(1, len(samples) // 12)
    for t, n, rss in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        w(f"| {t / 60:,.1f} min | {fmt_int(n)} | {rss / 2**20:,.0f} MiB |")
    w("")
    w(SOAK_END)
    section = "\n".join(lines)
    text = open(args.write).read() if os.path.exists(args.write) else ""
    if SOAK_BEGIN in text and SOAK_END in text:
        text = text[:text.index(SOAK_BEGIN)] + section + text[text.index(SOAK_END) + len(SOAK_END):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    with open(args.write, "w") as f:
        f.write(text)
    print(section)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
