#!/usr/bin/env python3
"""Eviction side by side with redis-server, in one run:

1. hit ratio of `redis-cli --lru-test 1000000` at `maxmemory 30mb` for allkeys-lru with
   maxmemory-samples 5 and 10, allkeys-lfu, and Cinnabar's allkeys-tinylfu (the mean of the
   per-second hit % once the cache has filled), with the number of keys each server holds;
   then Cinnabar again at the smaller maxmemory where it holds as many keys as redis-server
   did, which compares the eviction algorithms alone. Each line also gives the hit % of an
   exact LRU holding the same number of keys, simulated here on the same workload (for
   redis-server's 328k keys: 90.85 %);
2. a write flood at ten times the limit (`redis-benchmark -t set -r 10000000 -n 2000000 -P 16`,
   100-byte values, allkeys-lru): throughput, the highest `used_memory` seen while it runs
   (polled every 20 ms) and the final RSS, against `maxmemory`.

    python3 benches/eviction.py [--seconds 20] [--flood-rounds 3] [--json results/eviction.json]
"""
import argparse
import json
import os
import random
import re
import subprocess
import threading
import time
from collections import OrderedDict

from benchlib import CINNABAR, ROOT, cli, cpu_seconds, free_port, rss_bytes  # noqa: E402

MAXMEMORY = 30 * 1024 * 1024
# Per-second lines of --lru-test left out while the cache fills (it is full after about 3).
WARMUP_LINES = 5
SERVERS = {"redis": ["redis-server"], "cinnabar": [CINNABAR]}


def lru_test_key(r, keyspace=1_000_000, alpha=6.2):
    """The key number --lru-test draws for a uniform r: a power law over 1..keyspace
    (inverse CDF of a density growing as x^alpha, reflected so that low numbers are hot)."""
    top = keyspace + 1
    x = ((top ** (alpha + 1) - 1) * r + 1) ** (1 / (alpha + 1))
    return top - 1 - int(x) + 1


def exact_lru_hit_pct(capacity, ops=12_000_000, seed=7):
    """The GET hit % of an exact LRU holding `capacity` keys under the --lru-test workload
    (batches of 250 SETs then 250 GETs), measured over the last two thirds of `ops`."""
    rnd = random.Random(seed)
    cache = OrderedDict()
    hits = gets = 0
    done = 0
    while done < ops:
        for _ in range(250):
            k = lru_test_key(rnd.random())
            cache[k] = True
            cache.move_to_end(k)
            if len(cache) > capacity:
                cache.popitem(last=False)
        counting = done > ops // 3
        for _ in range(250):
            k = lru_test_key(rnd.random())
            if k in cache:
                cache.move_to_end(k)
                hits += counting
            gets += counting
        done += 500
    return 100.0 * hits / gets


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


def lru_test(name, policy, samples, seconds, maxmemory=MAXMEMORY):
    port, proc = start(name, policy, samples, maxmemory)
    try:
        base = info_field(port, "used_memory")
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
        return {"hit_pct": sum(steady) / max(len(steady), 1), "keys": keys, "maxmemory": maxmemory,
                "base_used": base, "used": info_field(port, "used_memory"),
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
        cpu_before = cpu_seconds(proc.pid)
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-r", "10000000",
                              "-n", "2000000", "-P", "16", "-d", "100", "-q", "--csv"],
                             capture_output=True, text=True).stdout
        cpu = cpu_seconds(proc.pid) - cpu_before
        done.set()
        watcher.join()
        rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
        return {"rps": rps, "cpu_us_per_set": cpu * 1e6 / 2_000_000, "peak_used": peak[0], "peak_over_pct": 100.0 * (peak[0] - MAXMEMORY) / MAXMEMORY,
                "rss": rss_bytes(proc.pid), "keys": int(cli(port, "dbsize") or 0)}
    finally:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--json", default=os.path.join(ROOT, "results", "eviction.json"))
    ap.add_argument("--skip-flood", action="store_true")
    ap.add_argument("--skip-lru-test", action="store_true")
    ap.add_argument("--flood-rounds", type=int, default=3)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "lru_test": {}, "flood": {}}

    def report(label, r):
        r["exact_lru_hit_pct"] = exact_lru_hit_pct(r["keys"]) if r["evicted"] else None
        results["lru_test"][label] = r
        exact = f"{r['exact_lru_hit_pct']:.2f} %" if r["evicted"] else "n/a (cache not full yet)"
        print(f"lru-test {label:48}: {r['hit_pct']:.2f} % hits; {r['keys']} keys held in "
              f"maxmemory {r['maxmemory']}, {r['evicted']} evicted; exact LRU of as many keys: {exact}",
              flush=True)

    cases = [("redis", "allkeys-lru", 5), ("cinnabar", "allkeys-lru", 5),
             ("redis", "allkeys-lru", 10), ("cinnabar", "allkeys-lru", 10),
             ("redis", "allkeys-lfu", 5), ("cinnabar", "allkeys-lfu", 5),
             ("cinnabar", "allkeys-tinylfu", 5)]
    for name, policy, samples in [] if args.skip_lru_test else cases:
        r = lru_test(name, policy, samples, args.seconds)
        report(f"{name} {policy} samples={samples}", r)
    # Cinnabar fits more keys in 30mb, which alone raises its hit ratio. To compare the
    # eviction algorithms themselves, run it again at the maxmemory that holds as many keys
    # as redis-server held (exact LRU at that size hits 90.85 %, see the module docs).
    equal_cases = [("allkeys-lru", 5), ("allkeys-lru", 10), ("allkeys-lfu", 5), ("allkeys-tinylfu", 5)]
    if args.skip_lru_test:
        equal_cases = []
    redis_keys = results["lru_test"].get("redis allkeys-lru samples=5", {}).get("keys", 0)
    ours = results["lru_test"].get("cinnabar allkeys-lru samples=5", {"used": 0, "base_used": 0, "keys": 0})
    per_key = (ours["used"] - ours["base_used"]) / max(ours["keys"], 1)
    equal = int(ours["base_used"] + redis_keys * per_key)
    for policy, samples in equal_cases:
        r = lru_test("cinnabar", policy, samples, args.seconds, equal)
        report(f"cinnabar {policy} samples={samples} equal-keys", r)
    if not args.skip_flood:
        runs = {name: [] for name in SERVERS}
        for _ in range(args.flood_rounds):
            for name in SERVERS:
                runs[name].append(flood(name))
        for name, rs in runs.items():
            # The run with the median throughput (rounds alternate between the servers).
            r = sorted(rs, key=lambda x: x["rps"])[len(rs) // 2]
            r["all_rps"] = [x["rps"] for x in rs]
            results["flood"][name] = r
            print(f"flood {name:8}: {r['rps']:.0f} SET/s, {r['cpu_us_per_set']:.2f} us CPU per SET, peak used_memory {r['peak_used']} "
                  f"({r['peak_over_pct']:+.1f} % of maxmemory), RSS {r['rss']}, {r['keys']} keys "
                  f"(median of {len(rs)} rounds)", flush=True)
        ratio = results["flood"]["cinnabar"]["rps"] / results["flood"]["redis"]["rps"]
        cpu_ratio = results["flood"]["cinnabar"]["cpu_us_per_set"] / results["flood"]["redis"]["cpu_us_per_set"]
        print(f"flood cinnabar/redis: throughput {ratio:.2f}x, CPU per SET {cpu_ratio:.2f}x")
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
