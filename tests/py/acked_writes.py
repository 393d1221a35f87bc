"""Writes keys through redis-py until the server goes away (or a deadline), recording every
acknowledged write with the time it was acknowledged.

Usage: python3 acked_writes.py <port> <prefix> <out-file> [<max-seconds>]
<out-file> gets one "<key> <unix-time>" line per acknowledged SET; the first line is
"started" once the first write is acknowledged (the caller polls for it).
"""
import sys
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def main() -> None:
    port, prefix, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    deadline = time.time() + (float(sys.argv[4]) if len(sys.argv) > 4 else 30.0)
    # No retries: a write is either acknowledged by this server process or not at all.
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, retry=Retry(NoBackoff(), 0))
    n = 0
    with open(out, "w", buffering=1) as f:
        try:
            while time.time() < deadline:
                key = f"{prefix}:{n}"
                if r.set(key, n):
                    f.write(f"{key} {time.time():.6f}\n")
                    if n == 9:
                        # Tell the caller that writes are flowing (10 acknowledged).
                        open(out + ".started", "w").close()
                n += 1
        except redis.exceptions.ConnectionError:
            pass


if __name__ == "__main__":
    main()
