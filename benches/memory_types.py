#!/usr/bin/env python3
"""Memory of aggregate types: 100k hashes of 10 small fields and 100k sorted sets of 10
members, RSS growth in cinnabar against redis-server started the same way, in one run.

    python3 benches/memory_types.py
"""
import subprocess
import sys
import time

import redis

from benchlib import CINNABAR, ROOT, free_port, rss_bytes  # noqa: E402


def load(r, kind, n):
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        if kind == "hash":
            pipe.hset(f"h:{i}", mapping={f"field{j}": f"value{j}" for j in range(10)})
        else:
            pipe.zadd(f"z:{i}", {f"member{j}": j for j in range(10)})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for kind in ("hash", "zset"):
        # Fresh servers per kind: RSS does not shrink after FLUSHALL, so reuse would hide growth.
        servers = {}
        for name, argv in (("redis", ["redis-server"]), ("cinnabar", [CINNABAR])):
            port = free_port()
            proc = subprocess.Popen(argv + ["--port", str(port), "--save", "", "--bind", "127.0.0.1"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            r = redis.Redis(port=port)
            for _ in range(100):
                try:
                    r.ping()
                    break
                except redis.RedisError:
                    time.sleep(0.05)
            servers[name] = (proc, r)
        try:
            growth = {}
            for name, (proc, r) in servers.items():
                time.sleep(0.3)
                before = rss_bytes(proc.pid)
                load(r, kind, n)
                time.sleep(0.3)
                growth[name] = (rss_bytes(proc.pid) - before) / n
                growth[name + "_enc"] = r.object("encoding", "h:0" if kind == "hash" else "z:0")
            print(f"{n} {kind} keys of 10 elements: RSS/key redis {growth['redis']:.0f} B ({growth['redis_enc']}), "
                  f"cinnabar {growth['cinnabar']:.0f} B ({growth['cinnabar_enc']}) = "
                  f"{growth['cinnabar'] / growth['redis']:.2f}x")
        finally:
            for proc, _ in servers.values():
                proc.terminate()


if __name__ == "__main__":
    main()
