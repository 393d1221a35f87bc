#!/usr/bin/env python3
"""redis-benchmark --cluster against a 3+3 cinnabar cluster and a 3+3 redis-server cluster,
started the same way, in one run.

    python3 benches/cluster_compare.py [-n 1000000]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import CINNABAR, ROOT  # noqa: E402
from failover import run_cluster  # noqa: E402


def bench(port, pipeline, n):
    out = subprocess.run(
        ["redis-benchmark", "--cluster", "-p", str(port), "-t", "set,get", "-n", str(n), "-c", "50",
         "-P", str(pipeline), "-r", "1000000", "-q"],
        capture_output=True, text=True).stdout.replace("\r", "\n")
    return {l.split(":")[0].strip(): float(l.split(":")[1].split()[0]) for l in out.splitlines()
            if "requests per second" in l}


def compare_clusters(n):
    """Both 3+3 clusters, one after the other: SET and GET requests per second at -P 1
    (n / 5 requests) and -P 16 (n), printed as ratios and returned by server name."""
    binaries = {"redis-server": shutil.which("redis-server"), "cinnabar": CINNABAR}
    results = {}
    for name, binary in binaries.items():
        workdir = tempfile.mkdtemp(prefix="cluster-bench-")
        ports, procs = run_cluster(binary, 5000, workdir)
        try:
            results[name] = {p: bench(ports[0], p, n if p == 16 else n // 5) for p in (1, 16)}
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
            shutil.rmtree(workdir, ignore_errors=True)
    for p in (1, 16):
        for t in ("SET", "GET"):
            r, c = results["redis-server"][p].get(t, 0), results["cinnabar"][p].get(t, 0)
            print(f"cluster {t} -P {p}: redis {r:.0f}/s cinnabar {c:.0f}/s = {c / r if r else 0:.2f}x", flush=True)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1_000_000)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    compare_clusters(args.n)


if __name__ == "__main__":
    main()
