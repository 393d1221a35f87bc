"""redis-py against a standalone cinnabar: basic commands in RESP2 or RESP3.

Usage: python3 foundation.py <port> <protocol>
"""
import sys

import redis


def main() -> None:
    port, proto = int(sys.argv[1]), int(sys.argv[2])
    r = redis.Redis(host="127.0.0.1", port=port, protocol=proto, decode_responses=True)
    assert r.ping() is True
    r.flushall()
    assert r.set("k", "v") is True
    assert r.get("k") == "v"
    assert r.get("missing") is None
    assert r.set("k", "w", nx=True) is None
    assert r.set("k", "w", xx=True, get=True) == "v"
    assert r.incr("n") == 1
    assert r.incrby("n", 10) == 11
    assert r.incrbyfloat("f", 1.5) == 1.5
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget(["a", "b", "zz"]) == ["1", "2", None]
    assert r.setex("t", 100, "x") is True
    assert 99 <= r.ttl("t") <= 100
    assert r.expire("t", 200, gt=True) is True
    assert r.persist("t") is True
    assert r.ttl("t") == -1
    assert r.exists("a", "b", "nope") == 2
    assert r.type("a") == "string"
    assert r.delete("a", "b") == 2
    assert r.append("s", "ab") == 2
    assert r.getrange("s", 0, 0) == "a"
    assert sorted(r.keys("*")) == sorted(["k", "n", "f", "t", "s"])
    assert sorted(r.scan_iter(match="*", count=2)) == sorted(["k", "n", "f", "t", "s"])
    assert r.dbsize() == 5
    info = r.info()
    assert info["redis_version"] == "7.2.4"
    assert info["db0"]["keys"] == 5
    assert r.info("memory")["used_memory"] > 0
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    assert r.config_set("maxmemory", "100mb") is True
    assert r.config_get("maxmemory") == {"maxmemory": str(100 * 1024 * 1024)}
    assert r.config_set("maxmemory", "0") is True
    assert r.client_setname("py") is True
    assert r.client_getname() == "py"
    assert any(c["name"] == "py" for c in r.client_list())
    assert isinstance(r.client_id(), int)
    assert r.echo("hi") == "hi"
    assert len(r.time()) == 2
    assert r.command_count() > 60
    assert r.object("encoding", "n") == "int"
    dumped = redis.Redis(host="127.0.0.1", port=port, protocol=proto).dump("k")
    assert r.restore("k2", 0, dumped) in (True, "OK")
    assert r.get("k2") == "w"
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"p{i}", i)
    pipe.get("p99")
    assert pipe.execute()[-1] == "99"
    try:
        r.execute_command("NOSUCHCOMMAND")
        raise AssertionError("expected an error")
    except redis.ResponseError as e:
        assert "unknown command" in str(e)
    try:
        r.incr("k")
        raise AssertionError("expected an error")
    except redis.ResponseError as e:
        assert str(e) == "value is not an integer or out of range"
    print(f"foundation ok (RESP{proto})")


if __name__ == "__main__":
    main()
