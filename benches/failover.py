#!/usr/bin/env python3
"""Failover timing: cinnabar against redis-server clusters started the same way, one run.

    python3 benches/failover.py [--timeouts 15000,5000,1000,500]

For each cluster-node-timeout and each server: start 3 primaries + 3 replicas, join them
with redis-cli --cluster create, write to keys of one primary's slots while recording every
acknowledged write, SIGKILL that primary, and measure the seconds until its replica reports
role master (promotion) and until the replica accepts a write to those slots (first
successful write). Then count acknowledged writes that are missing after the failover.

Then the failback: restart the killed primary from its own directory (nodes.conf kept) and
time until it is a replica of the winner with its link up (rejoin), then send it CLUSTER
FAILOVER while a writer keeps writing to its slots (following -MOVED), and time until it
is the primary again and accepts writes (failback); acknowledged writes missing after the
failback are counted too (target: 0).
"""
import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import redis

from benchlib import CINNABAR, ROOT, free_port  # noqa: E402


def start_node(binary, port, timeout, workdir):
    d = os.path.join(workdir, str(port))
    os.makedirs(d, exist_ok=True)
    return subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
         "--cluster-node-timeout", str(timeout), "--dir", d, "--save", "", "--appendonly", "no"],
        cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_cluster(binary, timeout, workdir):
    ports = [free_port() for _ in range(6)]
    procs = [start_node(binary, p, timeout, workdir) for p in ports]
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
        stop = threading.Event()
        t, acked = start_writer(ports[1], keys, stop,
                                follow_moved=False)
        poll(30, lambda: len(acked) >= 1000)
        procs[1].send_signal(signal.SIGKILL)
        killed = time.time()
        # The writer notices the death only after redis-py's own reconnect retries
        # (seconds): poll now and collect it afterwards.
        stop.set()
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
        t.join()
        lost = count_lost(replica, acked)
        failback = measure_failback(binary, timeout, workdir, ports, procs, keys)
        return (promoted, first_write, lost, len(acked)) + failback
    finally:
        for p in procs:
            try:
                p.kill()
                p.wait(5)
            except Exception:
                pass
        shutil.rmtree(workdir, ignore_errors=True)


def count_lost(node, acked):
    """Acknowledged writes whose value is missing or older on `node`."""
    last = {}
    for k, n in acked:
        last[k] = n
    return sum(1 for k, n in last.items() if node.get(k) is None or int(node.get(k)) < n)


def start_writer(port, keys, stop, follow_moved):
    """Writes keys[n % len] = n in a loop until `stop`, recording every acknowledged write.

    Without `follow_moved` the writer stops at its first error (the node died); with it, it
    follows -MOVED to the slots' new owner and retries other errors."""
    acked = []

    def run():
        target = redis.Redis(port=port, decode_responses=True)
        n = 0
        while not stop.is_set():
            k = keys[n % len(keys)]
            try:
                target.set(k, n)
                acked.append((k, n))
                n += 1
            except redis.exceptions.MovedError as e:
                if not follow_moved:
                    return
                target = redis.Redis(host=e.host, port=e.port, decode_responses=True)
            except redis.RedisError:
                if not follow_moved:
                    return
                time.sleep(0.001)

    t = threading.Thread(target=run)
    t.start()
    return t, acked


def poll(deadline_s, probe):
    """Polls `probe` every 5 ms until it returns a value or the deadline passes."""
    start = time.time()
    while time.time() - start < deadline_s:
        try:
            v = probe()
            if v:
                return time.time()
        except redis.RedisError:
            pass
        time.sleep(0.005)
    return None


def measure_failback(binary, timeout, workdir, ports, procs, keys):
    """Restarts the killed primary, waits for it to follow the winner, fails back."""
    restarted = time.time()
    procs[1] = start_node(binary, ports[1], timeout, workdir)
    old = redis.Redis(port=ports[1], decode_responses=True)

    def following():
        info = old.info("replication")
        return info.get("role") == "slave" and info.get("master_link_status") == "up"

    joined = poll(timeout / 1000 * 4 + 30, following)
    if joined is None:
        return None, None, None, 0
    rejoin = joined - restarted
    stop = threading.Event()
    t, acked = start_writer(int(old.info("replication")["master_port"]), keys, stop, follow_moved=True)
    poll(30, lambda: len(acked) >= 1000)
    asked = time.time()
    old.execute_command("CLUSTER FAILOVER")
    probe_key = keys[-1]
    back = poll(timeout / 1000 * 4 + 30,
                lambda: old.execute_command("ROLE")[0] == "master" and old.set(probe_key, -1))
    # Keep writing a little after the failback: those writes must land too.
    after = len(acked)
    poll(30, lambda: len(acked) >= after + 1000)
    stop.set()
    t.join()
    failback = None if back is None else back - asked
    acked = [(k, n) for k, n in acked if k != probe_key]
    return rejoin, failback, count_lost(old, acked), len(acked)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeouts", default="500,1000,5000,15000")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binaries = {"redis-server": shutil.which("redis-server"), "cinnabar": CINNABAR}
    print(f"{'timeout':>8} {'server':>13} {'promotion s':>12} {'first write s':>14} {'lost/acked':>12}"
          f" {'rejoin s':>9} {'failback s':>11} {'lost/acked':>12}")
    for timeout in [int(t) for t in args.timeouts.split(",")]:
        for name, binary in binaries.items():
            promoted, first, lost, acked, rejoin, back, back_lost, back_acked = measure(binary, timeout)
            fmt = lambda v: f"{v:.2f}" if v is not None else "none"
            print(f"{timeout:>8} {name:>13} {fmt(promoted):>12} {fmt(first):>14} {lost:>5}/{acked:<6}"
                  f" {fmt(rejoin):>9} {fmt(back):>11} {back_lost!s:>5}/{back_acked:<6}", flush=True)


if __name__ == "__main__":
    main()
