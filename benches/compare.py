#!/usr/bin/env python3
"""Side-by-side benchmark: cinnabar against redis-server on this machine, in one run.

    python3 benches/compare.py            # full run (about 11 minutes)
    python3 benches/compare.py --quick    # fewer workloads and rounds (about 2 minutes)
    python3 benches/compare.py --scripting  # EVAL / EVALSHA workloads only

It builds the release binary, starts redis-server and cinnabar with the same settings on
free loopback ports (persistence off), and runs the same redis-benchmark workloads against
each, alternating A B A B for several rounds, taking medians. For every run it reads the
server's CPU time from /proc/<pid>/stat and reports CPU microseconds per request, plus p50
and p99 latency from redis-benchmark's CSV output. It also measures RSS per key after
loading 1M keys (10-byte and 100-byte values). Read workloads first get the data their
write counterpart creates (SET before GET, LPUSH before LPOP and LRANGE), untimed. A full
run then measures SET throughput with the AOF on (appendfsync always and everysec, as
benches/persistence_compare.py) and the cluster case (3+3 of each, redis-benchmark
--cluster, as benches/cluster_compare.py); --no-extras skips those two. Results go to
results/compare-<time>.json and
a PNG chart (when matplotlib is installed); the ratio table is printed (cinnabar/redis).
"""
import argparse
import csv
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import CINNABAR, ROOT, cli, cpu_seconds, free_port, rss_bytes

import cluster_compare  # noqa: E402
import persistence_compare  # noqa: E402


class Server:
    def __init__(self, name, argv, port, workdir):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            if cli(port, "ping") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_pair(workdir, cores=None):
    common = ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--enable-debug-command", "yes"]
    rport, cport = free_port(), free_port()
    taskset = ["taskset", "-c", cores] if cores else []
    redis = Server("redis", taskset + ["redis-server", "--port", str(rport), *common], rport, workdir)
    cinnabar = Server("cinnabar", taskset + [CINNABAR, "--port", str(cport), *common],
                      cport, workdir)
    return redis, cinnabar


LIKE_SCRIPT = "local count = redis.call('INCR', KEYS[1]) redis.call('SADD', KEYS[2], ARGV[1]) return count"

# Script workloads (--scripting): the EVAL of INCR on one key, and the seed's like
# script by EVALSHA on random posts.
SCRIPT_TESTS = {
    "eval_incr": lambda port: ["eval", "return redis.call('incr',KEYS[1])", "1", "k"],
    "evalsha_like": lambda port: ["evalsha", cli(port, "script", "load", LIKE_SCRIPT), "2",
                                  "{post:__rand_int__}:c", "{post:__rand_int__}:u", "user:__rand_int__"],
}


def prefill(server, test, size, requests):
    """Writes what a read test reads, as redis-benchmark's default sequence does (SET before
    GET, LPUSH before LPOP and LRANGE), so that reads measure hits rather than misses."""
    fill = {
        # About 63 % of the 1M random keys, as after redis-benchmark's own SET test.
        "get": ["-t", "set", "-n", "1000000", "-r", "1000000", "-P", "16"],
        # One element per pop, so that every LPOP pops something.
        "lpop": ["-t", "lpush", "-n", str(requests), "-P", "16"],
        "lrange_100": ["-t", "lpush", "-n", "20000"],
    }.get(test)
    if fill:
        subprocess.run(["redis-benchmark", "-p", str(server.port), "-c", "50", "-d", str(size),
                        "-q", *fill], capture_output=True)


def bench(server, test, pipeline, size, requests, clients=50):
    cli(server.port, "flushall")
    prefill(server, test, size, requests)
    if test.startswith("lrange"):
        # Each LRANGE_100 moves 100 elements: keep the data volume comparable to the others.
        requests = max(requests // 20, 1000)
    what = SCRIPT_TESTS[test](server.port) if test in SCRIPT_TESTS else ["-t", test]
    before = cpu_seconds(server.proc.pid)
    out = subprocess.run(
        ["redis-benchmark", "-p", str(server.port), "-n", str(requests), "-c", str(clients),
         "-P", str(pipeline), "-r", "1000000", "-d", str(size), "--csv", *what],
        capture_output=True, text=True).stdout
    cpu = cpu_seconds(server.proc.pid) - before
    rows = list(csv.reader(io.StringIO(out)))
    header, data = rows[0], rows[1]
    rec = dict(zip(header, data))
    rps = float(rec["rps"])
    return {"rps": rps, "p50": float(rec["p50_latency_ms"]), "p99": float(rec["p99_latency_ms"]),
            "cpu_us": cpu * 1e6 / requests}


def memory_per_key(server, keys, size):
    cli(server.port, "flushall")
    time.sleep(0.5)
    before = rss_bytes(server.proc.pid)
    used_before = int(cli(server.port, "info", "memory").split("used_memory:")[1].split()[0])
    cli(server.port, "debug", "populate", str(keys), "key", str(size))
    time.sleep(0.5)
    after = rss_bytes(server.proc.pid)
    used_after = int(cli(server.port, "info", "memory").split("used_memory:")[1].split()[0])
    assert cli(server.port, "dbsize") == str(keys)
    return {"rss_per_key": (after - before) / keys, "used_per_key": (used_after - used_before) / keys}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--cores", default=None, help="pin both servers to these cores (taskset list)")
    ap.add_argument("--memory-only", action="store_true", help="only the RSS-per-key measurement")
    ap.add_argument("--scripting", action="store_true", help="only the EVAL / EVALSHA workloads")
    ap.add_argument("--no-extras", action="store_true",
                    help="skip the AOF (always / everysec) and 3+3 cluster steps of a full run")
    args = ap.parse_args()
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: apt-get install -y redis-server redis-tools")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    tests = ["ping_mbulk", "set", "get", "incr", "mset", "lpush", "lpop", "sadd", "hset", "zadd", "lrange_100"]
    sizes = [10, 1024]
    pipelines = [1, 16]
    rounds = args.rounds or 3
    requests = {1: 100_000, 16: 1_000_000}
    if args.quick:
        tests = ["ping_mbulk", "set", "get", "lpush", "hset", "lrange_100"]
        sizes = [10]
        rounds = args.rounds or 2
        requests = {1: 50_000, 16: 500_000}
    workdir = tempfile.mkdtemp(prefix="cinnabar-compare-")
    redis, cinnabar = start_pair(workdir, args.cores)
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{os.cpu_count()} cores",
               "redis_version": cli(redis.port, "info", "server").split("redis_version:")[1].split()[0],
               "workloads": {}, "memory": {}}
    if args.memory_only:
        tests = []
    if args.scripting:
        tests, sizes, requests = list(SCRIPT_TESTS), [10], {1: 100_000, 16: 200_000}
    try:
        for size in sizes:
            for pipeline in pipelines:
                for test in tests:
                    name = f"{test} -P {pipeline} -d {size}"
                    runs = {"redis": [], "cinnabar": []}
                    for _ in range(rounds):
                        for server in (redis, cinnabar):
                            runs[server.name].append(bench(server, test, pipeline, size, requests[pipeline]))
                    med = {s: {k: statistics.median(r[k] for r in runs[s]) for k in runs[s][0]} for s in runs}
                    results["workloads"][name] = med
                    ratio = med["cinnabar"]["rps"] / med["redis"]["rps"]
                    cpu = med["cinnabar"]["cpu_us"] / med["redis"]["cpu_us"]
                    print(f"{name:32s} rps {med['redis']['rps']:>11.0f} / {med['cinnabar']['rps']:>11.0f} = {ratio:5.2f}x"
                          f"   cpu/req {cpu:5.2f}x   p99 {med['redis']['p99']:.3f} / {med['cinnabar']['p99']:.3f} ms",
                          flush=True)
        for size in ((10, 100) if not args.scripting else ()):
            keys = 1_000_000 if not args.quick else 200_000
            # Fresh servers for each size: pages freed by FLUSHALL may still be resident.
            fresh = start_pair(workdir, args.cores)
            try:
                mem = {s.name: memory_per_key(s, keys, size) for s in fresh}
            finally:
                for s in fresh:
                    s.stop()
            results["memory"][f"{keys} keys, {size} B values"] = mem
            print(f"memory {keys} keys x {size} B: RSS/key {mem['redis']['rss_per_key']:.0f} / "
                  f"{mem['cinnabar']['rss_per_key']:.0f} B = {mem['cinnabar']['rss_per_key'] / mem['redis']['rss_per_key']:.2f}x;"
                  f" used_memory/key {mem['redis']['used_per_key']:.0f} / {mem['cinnabar']['used_per_key']:.0f} B", flush=True)
    finally:
        redis.stop()
        cinnabar.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if not (args.quick or args.memory_only or args.scripting or args.no_extras):
        # The persistence and cluster cases, each in its own fresh servers.
        results["aof"] = persistence_compare.aof_throughput()
        results["cluster"] = cluster_compare.compare_clusters(1_000_000)
    os.makedirs(os.path.join(ROOT, "results"), exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(ROOT, "results", f"compare-{stamp}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {path}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        names = list(results["workloads"])
        ratios = [results["workloads"][n]["cinnabar"]["rps"] / results["workloads"][n]["redis"]["rps"] for n in names]
        fig, ax = plt.subplots(figsize=(10, max(4, len(names) * 0.3)))
        ax.barh(names, ratios)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("throughput ratio cinnabar / redis-server")
        fig.tight_layout()
        png = path.replace(".json", ".png")
        fig.savefig(png)
        print(f"wrote {png}")
    except ImportError:
        print("matplotlib not installed: no chart (pip install matplotlib)")


if __name__ == "__main__":
    main()
