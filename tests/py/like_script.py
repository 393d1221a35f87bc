"""The seed's atomic like (INCR the counter, SADD the user, one Lua script under the
{post:<id>} hash tag) through redis-py's eval and register_script, from concurrent clients.

Usage: python3 like_script.py <port> [--cluster]
Exits non-zero if, for any post, the counter differs from the set's cardinality.
"""
import sys
import threading

import redis
from redis.cluster import RedisCluster

LIKE = """
local count = redis.call('INCR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
return count
"""

POSTS = [f"p{i}" for i in range(8)]
THREADS = 6
LIKES_PER_THREAD = 150


def connect(port, cluster):
    if cluster:
        return RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True)


def worker(port, cluster, t, errors):
    try:
        r = connect(port, cluster)
        like = r.register_script(LIKE)
        for i in range(LIKES_PER_THREAD):
            post = POSTS[i % len(POSTS)]
            keys = [f"{{post:{post}}}:likes:count", f"{{post:{post}}}:likes:users"]
            user = f"user:{t}:{i}"
            if i % 2:
                count = like(keys=keys, args=[user])
            else:
                count = r.eval(LIKE, 2, *keys, user)
            if not isinstance(count, int) or count < 1:
                errors.append(f"bad count {count!r}")
    except Exception as e:  # noqa: BLE001 - report any client failure
        errors.append(repr(e))


def main():
    port = int(sys.argv[1])
    cluster = "--cluster" in sys.argv
    errors = []
    threads = [threading.Thread(target=worker, args=(port, cluster, t, errors))
               for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        sys.exit(f"errors: {errors[:5]}")
    r = connect(port, cluster)
    total = 0
    for post in POSTS:
        count = int(r.get(f"{{post:{post}}}:likes:count"))
        members = r.scard(f"{{post:{post}}}:likes:users")
        if count != members:
            sys.exit(f"post {post}: counter {count} but {members} users")
        total += count
    if total != THREADS * LIKES_PER_THREAD:
        sys.exit(f"total likes {total}, expected {THREADS * LIKES_PER_THREAD}")
    # A script touching keys in two slots is refused in cluster mode.
    if cluster:
        try:
            r.eval(LIKE, 2, "{post:a}:likes:count", "{post:b}:likes:users", "x")
            sys.exit("cross-slot script was accepted")
        except redis.exceptions.RedisClusterException:
            pass
        except redis.exceptions.ResponseError as e:
            if "CROSSSLOT" not in str(e):
                sys.exit(f"unexpected error {e}")
    print(f"ok {total} likes")


if __name__ == "__main__":
    main()
