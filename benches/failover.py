#!/usr/bin/env python3
"""Failover timing: cinnabar against redis-server clusters started the same way, one run.

    python3 benches/failover.py [--timeouts 15000,5000,1000,500]

For each cluster-node-timeout and each server: start 3 primaries + 3 replicas, join them
with redis-cli --cluster create, write to keys of one primary's slots while recording every
acknowledged write, SIGKILL that primary, and measure the seconds until its replica reports
role master (promotion) and until the replica accepts a write to those slots (first
successful write). Then count acknowledged writes that are missing after the failover.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p < 55000:
            return p


def run_cluster(binary, timeout, workdir):
    ports = [free_port() for _ in range(6)]
    procs = []
    for p in ports:
        d = os.path.join(workdir, str(p))
        os.makedirs(d)
        procs.append(subprocess.Popen(
            [binary, "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-node-timeout", str(timeout), "--dir", d, "--save", "", "--appendonly", "no"],
            cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in ports:
        for _ in range(200):
            try:
                if redis.Redis(port=p).ping():
                    break
            except redis.RedisError:
                time.sleep(0.05)
    subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                    "--cluster-replicas", "1", "--cluster-yes"], capture_output=True, check=True)
    for _ in range(600):
        if all(b"cluster_state:ok" in redis.Redis(port=p).execute_command("CLUSTER INFO") for p in ports):
            break
        time.sleep(0.05)
    return ports, procs


def measure(binary, timeout):
    workdir = tempfile.mkdtemp(prefix="failover-")
    ports, procs = run_cluster(binary, timeout, workdir)
    try:
        nodes = [redis.Redis(port=p, decode_responses=True) for p in ports]
        # The victim: the primary on ports[1]; its replica: whichever replicates it.
        victim = nodes[1]
        victim_id = victim.execute_command("CLUSTER MYID")
        replica_port = None
        for p, n in zip(ports, nodes):
            role = n.execute_command("ROLE")
            if role[0] == "slave" and int(role[2]) == ports[1]:
                replica_port = p
        replica = redis.Redis(port=replica_port, decode_responses=True)
        slot_range = next(s for s in victim.execute_command("CLUSTER SLOTS") if s[2][2] == victim_id)
        keys = []
        i = 0
        while len(keys) < 2001:
            k = f"key:{i}"
            if slot_range[0] <= victim.execute_command("CLUSTER KEYSLOT", k) <= slot_range[1]:
                keys.append(k)
            i += 1
        probe = keys.pop()
        acked = []
        stop = threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                k = keys[n % len(keys)]
                try:
                    victim.set(k, n)
                    acked.append((k, n))
                except redis.RedisError:
                    return
                n += 1

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(1.0)
        procs[1].send_signal(signal.SIGKILL)
        killed = time.time()
        stop.set()
        t.join()
        promoted = first_write = None
        while time.time() - killed < timeout / 1000 * 4 + 30:
            now = time.time()
            if promoted is None:
                try:
                    if replica.execute_command("ROLE")[0] == "master":
                        promoted = now - killed
                except redis.RedisError:
                    pass
            if first_write is None:
                try:
                    replica.set(probe, 1)
                    first_write = now - killed
                except redis.RedisError:
                    pass
            if promoted is not None and first_write is not None:
                break
            time.sleep(0.005)
        last = {}
        for k, n in acked:
            last[k] = n
        lost = sum(1 for k, n in last.items() if replica.get(k) is None or int(replica.get(k)) < n)
        return promoted, first_write, lost, len(acked)
    finally:
        for p in procs:
            try:
                p.kill()
                p.wait(5)
            except Exception:
                pass
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeouts", default="500,1000,5000,15000")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binaries = {"redis-server": shutil.which("redis-server"), "cinnabar": os.path.join(ROOT, "target/release/cinnabar")}
    print(f"{'timeout':>8} {'server':>13} {'promotion s':>12} {'first write s':>14} {'lost/acked':>12}")
    for timeout in [int(t) for t in args.timeouts.split(",")]:
        for name, binary in binaries.items():
            promoted, first, lost, acked = measure(binary, timeout)
            fmt = lambda v: f"{v:.2f}" if v is not None else "none"
            print(f"{timeout:>8} {name:>13} {fmt(promoted):>12} {fmt(first):>14} {lost:>5}/{acked:<6}", flush=True)


if __name__ == "__main__":
    main()
