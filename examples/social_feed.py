"""The Red K social-network cache backend (see the seed document), on Cinnabar.

Feeds are cached as lists with a 60 s TTL and invalidated on new posts and follows; likes
use a pipeline INCR + SADD + ZINCRBY with double-like protection; trending is a sorted set
read with ZREVRANGE WITHSCORES; comments are cached with a TTL; DM conversations are a
sorted set by timestamp; suggestions are cached with a TTL; a periodic job syncs like
counters with `scan_iter("{post:*}:likes:count")`.

Usage:
    python3 examples/social_feed.py --port 6379            # a standalone server
    python3 examples/social_feed.py --port 7000 --cluster  # a cluster (RedisCluster)
Running it executes a scripted scenario and checks every answer; it prints
"social feed ok" at the end.
"""
import argparse
import json
import time

import redis
from redis.cluster import RedisCluster


class FeedCache:
    """The cache operations the backend performs, with the seed's key names and TTLs."""

    FEED_TTL = 60
    COMMENTS_TTL = 120
    MESSAGES_TTL = 300
    CONVERSATIONS_TTL = 600
    SUGGESTIONS_TTL = 600
    TRENDING_TTL = 300

    def __init__(self, client):
        self.r = client

    # Feeds: LIST of JSON posts, TTL 60 s.
    def set_user_feed(self, username, mode, posts):
        key = f"{{user:{username}}}:feed:{mode}"
        pipe = self.r.pipeline()
        pipe.delete(key)
        if posts:
            pipe.rpush(key, *[json.dumps(p) for p in posts])
        pipe.expire(key, self.FEED_TTL)
        pipe.execute()

    def get_user_feed(self, username, mode="all"):
        items = self.r.lrange(f"{{user:{username}}}:feed:{mode}", 0, -1)
        return [json.loads(i) for i in items] if items else None

    def invalidate_user_feed(self, username):
        self.r.delete(
            f"{{user:{username}}}:feed:all",
            f"{{user:{username}}}:feed:following",
            f"{{user:{username}}}:feed:self",
        )

    def on_new_post(self, author):
        self.r.delete(f"{{user:{author}}}:feed:all")
        self.r.delete(f"{{user:{author}}}:feed:self")

    def on_follow(self, follower):
        self.r.delete(f"{{user:{follower}}}:feed:all")
        self.r.delete(f"{{user:{follower}}}:feed:following")
        self.r.delete(f"{{user:{follower}}}:suggestions")

    # Likes and trending.
    def like(self, post_id, username):
        if self.r.sismember(f"{{post:{post_id}}}:likes:users", username):
            return -1
        pipe = self.r.pipeline()
        pipe.incr(f"{{post:{post_id}}}:likes:count")
        pipe.sadd(f"{{post:{post_id}}}:likes:users", username)
        pipe.execute()
        self.r.zincrby("trending:posts", 1, post_id)
        self.r.expire("trending:posts", self.TRENDING_TTL)
        return int(self.r.get(f"{{post:{post_id}}}:likes:count"))

    def trending(self, limit=10):
        rows = self.r.zrevrange("trending:posts", 0, limit - 1, withscores=True)
        return [{"post_id": p, "likes": int(s)} for p, s in rows]

    # Comments: LIST + counter, TTL 120 s.
    def add_comment(self, post_id, comment):
        pipe = self.r.pipeline()
        pipe.lpush(f"{{post:{post_id}}}:comments", json.dumps(comment))
        pipe.incr(f"{{post:{post_id}}}:comments:count")
        pipe.expire(f"{{post:{post_id}}}:comments", self.COMMENTS_TTL)
        pipe.expire(f"{{post:{post_id}}}:comments:count", self.COMMENTS_TTL)
        pipe.execute()

    def comments(self, post_id):
        return [json.loads(c) for c in self.r.lrange(f"{{post:{post_id}}}:comments", 0, -1)]

    # Direct messages.
    def send_message(self, sender, receiver, text, ts):
        a, b = sorted([sender, receiver])
        conv = f"{{conv:{a}::{b}}}"
        pipe = self.r.pipeline()
        pipe.rpush(f"{conv}:messages", json.dumps({"from": sender, "text": text, "ts": ts}))
        pipe.incr(f"{conv}:unread")
        pipe.expire(f"{conv}:messages", self.MESSAGES_TTL)
        pipe.execute()
        for me, other in ((sender, receiver), (receiver, sender)):
            self.r.zadd(f"{{user:{me}}}:conversations", {other: ts})
            self.r.expire(f"{{user:{me}}}:conversations", self.CONVERSATIONS_TTL)

    def conversations(self, username):
        return self.r.zrevrange(f"{{user:{username}}}:conversations", 0, -1)

    # Suggestions: LIST of JSON, TTL 600 s.
    def set_suggestions(self, username, suggestions):
        key = f"{{user:{username}}}:suggestions"
        pipe = self.r.pipeline()
        pipe.delete(key)
        pipe.rpush(key, *[json.dumps(s) for s in suggestions])
        pipe.expire(key, self.SUGGESTIONS_TTL)
        pipe.execute()

    def suggestions(self, username):
        return [json.loads(s) for s in self.r.lrange(f"{{user:{username}}}:suggestions", 0, -1)]

    # The periodic like-counter sync.
    def sync_likes(self):
        synced = {}
        for key in self.r.scan_iter("{post:*}:likes:count"):
            post_id = key.split(":")[1].strip("{}")
            synced[post_id] = int(self.r.get(key))
        return synced


def scenario(cache: FeedCache) -> None:
    r = cache.r
    users = ["alice", "bob", "charlie", "dave"]
    for u in users:
        cache.invalidate_user_feed(u)
    for p in ["p1", "p2", "p3"]:
        r.delete(f"{{post:{p}}}:likes:count", f"{{post:{p}}}:likes:users",
                 f"{{post:{p}}}:comments", f"{{post:{p}}}:comments:count")
    r.delete("trending:posts")
    for a, b in [("alice", "bob"), ("alice", "charlie")]:
        r.delete(f"{{conv:{a}::{b}}}:messages", f"{{conv:{a}::{b}}}:unread")
    for u in users:
        r.delete(f"{{user:{u}}}:conversations", f"{{user:{u}}}:suggestions")

    # Feed caching with TTL, then invalidation on a new post and on a follow.
    posts = [{"id": "p1", "author": "alice", "text": "hola"}, {"id": "p2", "author": "bob", "text": "hi"}]
    cache.set_user_feed("alice", "all", posts)
    cache.set_user_feed("alice", "self", posts[:1])
    assert cache.get_user_feed("alice") == posts
    assert 0 < r.ttl("{user:alice}:feed:all") <= 60
    cache.on_new_post("alice")
    assert cache.get_user_feed("alice") is None
    assert cache.get_user_feed("alice", "self") is None
    cache.set_user_feed("bob", "following", posts)
    cache.on_follow("bob")
    assert cache.get_user_feed("bob", "following") is None

    # Likes with double-like protection, and trending.
    assert cache.like("p1", "alice") == 1
    assert cache.like("p1", "bob") == 2
    assert cache.like("p1", "alice") == -1
    assert cache.like("p2", "charlie") == 1
    assert r.scard("{post:p1}:likes:users") == 2
    top = cache.trending()
    assert top[0] == {"post_id": "p1", "likes": 2}, top
    assert top[1] == {"post_id": "p2", "likes": 1}, top
    assert 0 < r.ttl("trending:posts") <= 300

    # Comments with TTL.
    cache.add_comment("p1", {"author": "bob", "content": "Great post!"})
    cache.add_comment("p1", {"author": "dave", "content": "+1"})
    assert [c["author"] for c in cache.comments("p1")] == ["dave", "bob"]
    assert r.get("{post:p1}:comments:count") == "2"
    assert 0 < r.ttl("{post:p1}:comments") <= 120

    # DMs: conversations ordered by last message time.
    now = int(time.time())
    cache.send_message("alice", "bob", "hey", now)
    cache.send_message("charlie", "alice", "yo", now + 5)
    assert cache.conversations("alice") == ["charlie", "bob"]
    assert r.llen("{conv:alice::bob}:messages") == 1
    assert r.get("{conv:alice::bob}:unread") == "1"

    # Suggestions, invalidated by a follow.
    cache.set_suggestions("dave", [{"username": "bob", "score": 15.0, "mutual_connections": 3}])
    assert cache.suggestions("dave")[0]["username"] == "bob"
    assert 0 < r.ttl("{user:dave}:suggestions") <= 600
    cache.on_follow("dave")
    assert cache.suggestions("dave") == []

    # The periodic sync finds every like counter.
    assert cache.sync_likes() == {"p1": 2, "p2": 1}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--read-from-replicas", action="store_true")
    parser.add_argument("--protocol", type=int, default=3)
    args = parser.parse_args()
    if args.cluster:
        client = RedisCluster(host=args.host, port=args.port, decode_responses=True,
                              read_from_replicas=args.read_from_replicas, protocol=args.protocol)
    else:
        client = redis.Redis(host=args.host, port=args.port, decode_responses=True,
                             protocol=args.protocol)
    scenario(FeedCache(client))
    print("social feed ok")


if __name__ == "__main__":
    main()
