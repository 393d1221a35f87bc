#!/usr/bin/env python3
"""Eviction side by side with redis-server, in one run:

1. hit ratio of `redis-cli --lru-test 1000000` at `maxmemory 30mb` for allkeys-lru with
   maxmemory-samples 5 and 10, allkeys-lfu, and Cinnabar's allkeys-tinylfu (the mean of the
   per-second hit % once the cache has filled), with the number of keys each server holds;
2. a write flood at ten times the limit (`redis-benchmark -t set -r 10000000 -n 2000000 -P 16`,
   100-byte values, allkeys-lru): throughput, the highest `used_memory` seen while it runs
   (polled every 20 ms) and the final RSS, against `maxmemory`.

    python3 benches/eviction.py [--seconds 20] [--json results/eviction.json]
"""
import argparse
import json
import os
import re
import subprocess
import threading
import time

from benchlib import ROOT, cli, free_port, rss_bytes  # noqa: E402

MAXMEMORY = 30 * 1024 * 1024
# Per-second lines of --lru-test left out while the cache fills (it is full after about 3).
WARMUP_LINES = 5
SERVERS = {"redis": ["redis-server"], "cinnabar": [os.path.join(ROOT, "target/release/cinnabar")]}


def start(name, policy, samples, maxmemory=MAXMEMORY):
    port = free_port()
    proc = subprocess.Popen(SERVERS[name] + ["--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                             "--appendonly", "no", "--maxmemory", str(maxmemory),
                                             "--maxmemory-policy", policy,
                                             "--maxmemory-samples", str(samples)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while cli(port, "ping", timeout=2) != "PONG":
        if time.time() > deadline:
            proc.kill()
            raise SystemExit(f"{name} did not start")
        time.sleep(0.05)
    return port, proc


def info_field(port, field):
    text = cli(port, "info", "memory")
    m = re.search(rf"^{field}:(\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def lru_test(name, policy, samples, seconds):
    port, proc = start(name, policy, samples)
    try:
        # Line-buffered: redis-cli's stdout to a pipe is otherwise flushed every few KB.
        run = subprocess.Popen(["stdbuf", "-oL", "redis-cli", "-p", str(port), "--lru-test", "1000000"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        hits = []
        deadline = time.time() + seconds
        for line in run.stdout:
            m = re.search(r"Hits: \d+ \(([\d.]+)%\)", line)
            if m:
                hits.append(float(m.group(1)))
            if time.time() > deadline:
                break
        run.kill()
        run.wait()
        keys = int(cli(port, "dbsize") or 0)
        # The first seconds are the cache filling up.
        steady = hits[WARMUP_LINES:]
        return {"hit_pct": sum(steady) / max(len(steady), 1), "keys": keys,
                "evicted": int(re.search(r"evicted_keys:(\d+)", cli(port, "info", "stats")).group(1))}
    finally:
        proc.kill()
        proc.wait()


def flood(name):
    port, proc = start(name, "allkeys-lru", 5)
    try:
        peak = [0]
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], info_field(port, "used_memory"))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-r", "10000000",
                              "-n", "2000000", "-P", "16", "-d", "100", "-q", "--csv"],
                             capture_output=True, text=True).stdout
        done.set()
        watcher.join()
        rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
        return {"rps": rps, "peak_used": peak[0], "peak_over_pct": 100.0 * (peak[0] - MAXMEMORY) / MAXMEMORY,
                "rss": rss_bytes(proc.pid), "keys": int(cli(port, "dbsize") or 0)}
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--json", default=os.path.join(ROOT, "results", "eviction.json"))
    ap.add_argument("--skip-flood", action="store_true")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "lru_test": {}, "flood": {}}
    cases = [("redis", "allkeys-lru", 5), ("cinnabar", "allkeys-lru", 5),
             ("redis", "allkeys-lru", 10), ("cinnabar", "allkeys-lru", 10),
             ("redis", "allkeys-lfu", 5), ("cinnabar", "allkeys-lfu", 5),
             ("cinnabar", "allkeys-tinylfu", 5)]
    for name, policy, samples in cases:
        r = lru_test(name, policy, samples, args.seconds)
        results["lru_test"][f"{name} {policy} samples={samples}"] = r
        print(f"lru-test {name:8} {policy:16} samples={samples:<2}: {r['hit_pct']:.2f} % hits, "
              f"{r['keys']} keys held, {r['evicted']} evicted", flush=True)
    if not args.skip_flood:
        for name in SERVERS:
            r = flood(name)
            results["flood"][name] = r
            print(f"flood {name:8}: {r['rps']:.0f} SET/s, peak used_memory {r['peak_used']} "
                  f"({r['peak_over_pct']:+.1f} % of maxmemory), RSS {r['rss']}, {r['keys']} keys", flush=True)
        ratio = results["flood"]["cinnabar"]["rps"] / results["flood"]["redis"]["rps"]
        print(f"flood throughput ratio cinnabar/redis: {ratio:.2f}x")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
