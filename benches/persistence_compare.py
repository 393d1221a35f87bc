#!/usr/bin/env python3
"""Persistence side by side: cinnabar against redis-server on this machine, in one run.

    python3 benches/persistence_compare.py [--keys 1000000]

Measures, for both servers started the same way (AOF on, `save ""`, free loopback ports,
each in its own temporary directory):
  - `redis-benchmark -t set -n 500000 -c 50 -r 1000000` throughput with appendfsync always
    and everysec;
  - start-up time to load an AOF of N keys (DEBUG POPULATE, BGREWRITEAOF, SIGKILL, restart,
    time until DBSIZE answers N);
  - peak RSS (the server plus any child it forks) during BGREWRITEAOF and BGSAVE of N keys,
    against the RSS before, and the worst SET latency a client writing meanwhile sees.
Prints cinnabar / redis-server ratios.
"""
import argparse
import csv
import io
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import CINNABAR, ROOT, cli, free_port, rss_bytes


def rss_tree(pid):
    """RSS of `pid` and its children (Redis's fork shows up as a child)."""
    total = 0
    pids = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            total += rss_bytes(p)
        except OSError:
            pass
    return total


class Server:
    def __init__(self, name, binary, extra):
        self.name, self.binary, self.extra = name, binary, extra
        self.dir = tempfile.mkdtemp(prefix=f"persist-{name}-")
        self.port = free_port()
        self.proc = None

    def start(self, wait_keys=None):
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--enable-debug-command", "yes", *self.extra]
        started = time.time()
        self.proc = subprocess.Popen(argv, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = started + 300
        while time.time() < deadline:
            reply = cli(self.port, "dbsize", timeout=5)
            if reply.isdigit() and (wait_keys is None or int(reply) >= wait_keys):
                return time.time() - started
            time.sleep(0.01)
        sys.exit(f"{self.name} did not start")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def set_throughput(server):
    out = subprocess.run(["redis-benchmark", "-p", str(server.port), "-t", "set", "-n", "500000", "-c", "50",
                          "-r", "1000000", "--csv"], capture_output=True, text=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return float(dict(zip(rows[0], rows[1]))["rps"])


def server_binaries():
    """The two servers compared: redis-server from PATH and the release build."""
    return {"redis": shutil.which("redis-server"), "cinnabar": CINNABAR}


def aof_throughput():
    """SET requests per second with the AOF on, appendfsync always and everysec, for both
    servers; printed as ratios and returned as {policy: {server: rps}}."""
    binaries = server_binaries()
    results = {}
    for policy in ("always", "everysec"):
        results[policy] = {}
        for name in ("redis", "cinnabar"):
            s = Server(name, binaries[name], ["--appendonly", "yes", "--appendfsync", policy])
            try:
                s.start()
                results[policy][name] = set_throughput(s)
            finally:
                s.stop()
        r, c = results[policy]["redis"], results[policy]["cinnabar"]
        print(f"SET appendfsync {policy:8s} rps {r:>9.0f} / {c:>9.0f} = {c / r:.2f}x", flush=True)
    return results


def wait_idle(server, field):
    while True:
        info = cli(server.port, "info", "persistence")
        if f"{field}:0" in info:
            return
        time.sleep(0.01)


def peak_during(server, command, field):
    """Peak RSS and the worst SET latency seen by a client writing in a loop meanwhile."""
    import threading
    sock = socket.create_connection(("127.0.0.1", server.port))
    worst = [0.0]
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            t = time.perf_counter()
            sock.sendall(b"*3\r\n$3\r\nSET\r\n$5\r\nprobe\r\n$1\r\n1\r\n")
            sock.recv(64)
            worst[0] = max(worst[0], time.perf_counter() - t)

    th = threading.Thread(target=writer)
    th.start()
    time.sleep(0.2)
    worst[0] = 0.0
    before = rss_tree(server.proc.pid)
    cli(server.port, command)
    peak = before
    time.sleep(0.005)
    while True:
        peak = max(peak, rss_tree(server.proc.pid))
        if f"{field}:0" in cli(server.port, "info", "persistence"):
            break
        time.sleep(0.005)
    time.sleep(0.1)
    stop.set()
    th.join()
    sock.close()
    return before, peak, worst[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    args = ap.parse_args()
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: apt-get install -y redis-server redis-tools")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    aof_throughput()
    binaries = server_binaries()
    results = {}
    n = args.keys
    for name in ("redis", "cinnabar"):
        s = Server(name, binaries[name], ["--appendonly", "yes", "--appendfsync", "everysec"])
        try:
            s.start()
            cli(s.port, "debug", "populate", str(n), timeout=300)
            rewrite = peak_during(s, "bgrewriteaof", "aof_rewrite_in_progress")
            wait_idle(s, "aof_rewrite_in_progress")
            save = peak_during(s, "bgsave", "rdb_bgsave_in_progress")
            time.sleep(1.5)  # let everysec fsync the tail before the SIGKILL
            s.kill()
            load = s.start(wait_keys=n)
            results[name] = {"rewrite": rewrite, "save": save, "load": load}
        finally:
            s.stop()
    r, c = results["redis"], results["cinnabar"]
    print(f"load {n} keys from AOF: {r['load']:.2f} s / {c['load']:.2f} s = {c['load'] / r['load']:.2f}x")
    for what in ("rewrite", "save"):
        (rb, rp, rw), (cb, cp, cw) = r[what], c[what]
        print(f"peak RSS during {what:7s}: redis {rb / 1e6:.0f} -> {rp / 1e6:.0f} MB ({rp / rb:.2f}x), "
              f"cinnabar {cb / 1e6:.0f} -> {cp / 1e6:.0f} MB ({cp / cb:.2f}x); "
              f"worst SET latency meanwhile {rw * 1e3:.1f} / {cw * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
