"""Writes numbered keys to a cluster for a while and reports which writes were acknowledged.

Usage: python3 write_load.py <port> <seconds> <out-file>
Each acknowledged key is appended to <out-file> as soon as it is acknowledged, one per line,
so that the caller can watch the load's progress and check afterwards that every
acknowledged write is still readable after failovers.
"""
import sys
import time

from redis.cluster import RedisCluster
from redis.exceptions import RedisError


def main() -> None:
    port, seconds, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    r = RedisCluster(host="127.0.0.1", port=port, decode_responses=True,
                     cluster_error_retry_attempts=10)
    acked, errors, n = 0, 0, 0
    deadline = time.time() + seconds
    with open(out, "w") as f:
        while time.time() < deadline:
            key = f"w:{n}"
            try:
                if r.set(key, n):
                    f.write(key + "\n")
                    f.flush()
                    acked += 1
            except RedisError:
                errors += 1
                time.sleep(0.05)
            n += 1
    print(f"acked {acked} errors {errors}")


if __name__ == "__main__":
    main()
