//! Lists, hashes, sets and sorted sets: semantics, edge cases and encodings.

use crate::harness::*;

fn arr(items: &[&str]) -> Resp {
    Resp::Array(items.iter().map(|s| bulk(s)).collect())
}

#[test]
fn lists() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("RPUSH l a b c"), Resp::Int(3));
    assert_eq!(c.cmd_str("LPUSH l z"), Resp::Int(4));
    assert_eq!(c.cmd_str("LRANGE l 0 -1"), arr(&["z", "a", "b", "c"]));
    assert_eq!(c.cmd_str("LRANGE l -2 100"), arr(&["b", "c"]));
    assert_eq!(c.cmd_str("LRANGE l 5 10"), arr(&[]));
    assert_eq!(c.cmd_str("LINDEX l -1"), bulk("c"));
    assert_eq!(c.cmd_str("LINDEX l 99"), Resp::Nil);
    assert_eq!(c.cmd_str("LSET l 1 A"), simple("OK"));
    assert_eq!(c.cmd_str("LSET l 99 x"), error("ERR index out of range"));
    assert_eq!(c.cmd_str("LSET nolist 0 x"), error("ERR no such key"));
    assert_eq!(c.cmd_str("LINSERT l BEFORE b B"), Resp::Int(5));
    assert_eq!(c.cmd_str("LINSERT l AFTER nope x"), Resp::Int(-1));
    assert_eq!(c.cmd_str("LPOS l b"), Resp::Int(3));
    assert_eq!(c.cmd_str("RPUSH l b b"), Resp::Int(7));
    assert_eq!(c.cmd_str("LPOS l b RANK -1"), Resp::Int(6));
    assert_eq!(
        c.cmd_str("LPOS l b COUNT 0"),
        Resp::Array(vec![Resp::Int(3), Resp::Int(5), Resp::Int(6)])
    );
    assert!(
        matches!(c.cmd_str("LPOS l b RANK 0"), Resp::Error(e) if e.starts_with("ERR RANK can't be zero"))
    );
    assert_eq!(c.cmd_str("LREM l -2 b"), Resp::Int(2));
    assert_eq!(c.cmd_str("LRANGE l 0 -1"), arr(&["z", "A", "B", "b", "c"]));
    assert_eq!(c.cmd_str("LTRIM l 1 -2"), simple("OK"));
    assert_eq!(c.cmd_str("LRANGE l 0 -1"), arr(&["A", "B", "b"]));
    assert_eq!(c.cmd_str("LPOP l 2"), arr(&["A", "B"]));
    assert_eq!(c.cmd_str("RPOP l"), bulk("b"));
    assert_eq!(c.cmd_str("EXISTS l"), Resp::Int(0));
    assert_eq!(c.cmd_str("LPOP l"), Resp::Nil);
    assert_eq!(c.cmd_str("LPOP l 2"), Resp::Nil);
    assert_eq!(
        c.cmd_str("LPOP l -1"),
        error("ERR value is out of range, must be positive")
    );
    assert_eq!(c.cmd_str("LPUSHX l x"), Resp::Int(0));
    c.cmd_str("RPUSH src 1 2 3");
    assert_eq!(c.cmd_str("LMOVE src dst RIGHT LEFT"), bulk("3"));
    assert_eq!(c.cmd_str("RPOPLPUSH src dst"), bulk("2"));
    assert_eq!(c.cmd_str("LRANGE dst 0 -1"), arr(&["2", "3"]));
    assert_eq!(
        c.cmd_str("LMPOP 2 nothing dst LEFT COUNT 5"),
        Resp::Array(vec![bulk("dst"), arr(&["2", "3"])])
    );
    assert_eq!(c.cmd_str("LMPOP 1 nothing LEFT"), Resp::Nil);
    assert_eq!(
        c.cmd_str("LMPOP 0 x LEFT"),
        error("ERR numkeys should be greater than 0")
    );
    c.cmd_str("SET str v");
    assert_eq!(
        c.cmd_str("LPUSH str x"),
        error("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        c.cmd_str("GET src"),
        error("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(c.cmd_str("TYPE src"), simple("list"));
    assert_eq!(c.cmd_str("OBJECT ENCODING src"), bulk("listpack"));
    let big = "x".repeat(9000);
    c.cmd(&[b"RPUSH", b"big", big.as_bytes()]);
    assert_eq!(c.cmd_str("OBJECT ENCODING big"), bulk("quicklist"));
}

#[test]
fn hashes() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("HSET h a 1 b 2"), Resp::Int(2));
    assert_eq!(c.cmd_str("HSET h a 10 c 3"), Resp::Int(1));
    assert_eq!(
        c.cmd_str("HSET h a"),
        error("ERR wrong number of arguments for 'hset' command")
    );
    assert_eq!(c.cmd_str("HGET h a"), bulk("10"));
    assert_eq!(
        c.cmd_str("HMGET h a nope c"),
        Resp::Array(vec![bulk("10"), Resp::Nil, bulk("3")])
    );
    assert_eq!(c.cmd_str("HLEN h"), Resp::Int(3));
    assert_eq!(c.cmd_str("HSETNX h a 5"), Resp::Int(0));
    assert_eq!(c.cmd_str("HEXISTS h b"), Resp::Int(1));
    assert_eq!(c.cmd_str("HINCRBY h a 5"), Resp::Int(15));
    assert_eq!(c.cmd_str("HINCRBYFLOAT h f 1.5"), bulk("1.5"));
    c.cmd_str("HSET h s abc");
    assert_eq!(
        c.cmd_str("HINCRBY h s 1"),
        error("ERR hash value is not an integer")
    );
    assert_eq!(
        c.cmd_str("HINCRBYFLOAT h s 1"),
        error("ERR hash value is not a float")
    );
    assert_eq!(c.cmd_str("HSTRLEN h s"), Resp::Int(3));
    assert_eq!(c.cmd_str("HDEL h a b nope"), Resp::Int(2));
    let Resp::Array(all) = c.cmd_str("HGETALL h") else {
        panic!()
    };
    assert_eq!(all.len(), 6);
    assert_eq!(c.cmd_str("OBJECT ENCODING h"), bulk("listpack"));
    assert_eq!(
        c.cmd_str("CONFIG SET hash-max-listpack-entries 4"),
        simple("OK")
    );
    c.cmd_str("HSET h x 1 y 2");
    assert_eq!(c.cmd_str("OBJECT ENCODING h"), bulk("hashtable"));
    assert_eq!(c.cmd_str("HDEL h c f s x y"), Resp::Int(5));
    assert_eq!(c.cmd_str("EXISTS h"), Resp::Int(0));
    let mut r3 = server.raw();
    r3.cmd_str("HELLO 3");
    r3.cmd_str("HSET m k v");
    assert_eq!(
        r3.cmd_str("HGETALL m"),
        Resp::Map(vec![(bulk("k"), bulk("v"))])
    );
    assert_eq!(r3.cmd_str("HRANDFIELD m"), bulk("k"));
    assert_eq!(
        r3.cmd_str("HRANDFIELD m 1 WITHVALUES"),
        Resp::Array(vec![Resp::Array(vec![bulk("k"), bulk("v")])])
    );
    assert_eq!(
        c.cmd_str("HSCAN m 0 MATCH k*"),
        Resp::Array(vec![bulk("0"), arr(&["k", "v"])])
    );
}

#[test]
fn sets() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("SADD s 3 1 2 2"), Resp::Int(3));
    assert_eq!(c.cmd_str("OBJECT ENCODING s"), bulk("intset"));
    assert_eq!(c.cmd_str("SMEMBERS s"), arr(&["1", "2", "3"]));
    assert_eq!(c.cmd_str("SADD s x"), Resp::Int(1));
    assert_eq!(c.cmd_str("OBJECT ENCODING s"), bulk("listpack"));
    assert_eq!(c.cmd_str("SISMEMBER s x"), Resp::Int(1));
    assert_eq!(
        c.cmd_str("SMISMEMBER s 1 9"),
        Resp::Array(vec![Resp::Int(1), Resp::Int(0)])
    );
    assert_eq!(c.cmd_str("SCARD s"), Resp::Int(4));
    assert_eq!(c.cmd_str("SREM s 1 9"), Resp::Int(1));
    c.cmd_str("SADD t 2 3 4");
    let sorted = |r: Resp| -> Vec<String> {
        let Resp::Array(v) = r else { panic!("{r:?}") };
        let mut v: Vec<String> = v.iter().map(|x| x.text()).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(c.cmd_str("SINTER s t")), vec!["2", "3"]);
    assert_eq!(sorted(c.cmd_str("SUNION s t")), vec!["2", "3", "4", "x"]);
    assert_eq!(sorted(c.cmd_str("SDIFF s t")), vec!["x"]);
    assert_eq!(c.cmd_str("SINTERCARD 2 s t LIMIT 1"), Resp::Int(1));
    assert_eq!(c.cmd_str("SINTERSTORE dest s t"), Resp::Int(2));
    assert_eq!(c.cmd_str("SINTERSTORE dest s nope"), Resp::Int(0));
    assert_eq!(c.cmd_str("EXISTS dest"), Resp::Int(0));
    assert_eq!(c.cmd_str("SMOVE s t x"), Resp::Int(1));
    assert_eq!(c.cmd_str("SMOVE s t x"), Resp::Int(0));
    let Resp::Bulk(_) = c.cmd_str("SRANDMEMBER t") else {
        panic!()
    };
    let Resp::Array(five) = c.cmd_str("SRANDMEMBER t -5") else {
        panic!()
    };
    assert_eq!(five.len(), 5);
    let Resp::Array(popped) = c.cmd_str("SPOP t 10") else {
        panic!()
    };
    assert_eq!(popped.len(), 4);
    assert_eq!(c.cmd_str("EXISTS t"), Resp::Int(0));
    c.cmd_str("SET str v");
    assert_eq!(
        c.cmd_str("SADD str a"),
        error("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
}

#[test]
fn sorted_sets() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("ZADD z 1 a 2 b 3 c"), Resp::Int(3));
    assert_eq!(c.cmd_str("ZADD z CH 5 a 2 b 4 d"), Resp::Int(2));
    assert_eq!(
        c.cmd_str("ZADD z NX XX 1 a"),
        error("ERR XX and NX options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd_str("ZADD z GT LT 1 a"),
        error("ERR GT, LT, and/or NX options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd_str("ZADD z 1 a nan b"),
        error("ERR value is not a valid float")
    );
    assert_eq!(c.cmd_str("ZADD z GT 1 a"), Resp::Int(0));
    assert_eq!(c.cmd_str("ZSCORE z a"), bulk("5"));
    assert_eq!(c.cmd_str("ZADD z INCR 2.5 a"), bulk("7.5"));
    assert_eq!(c.cmd_str("ZADD z XX INCR 1 nope"), Resp::Nil);
    assert_eq!(c.cmd_str("ZINCRBY z 0.1 b"), bulk("2.1"));
    assert_eq!(
        c.cmd_str("ZRANGE z 0 -1 WITHSCORES"),
        arr(&["b", "2.1", "c", "3", "d", "4", "a", "7.5"])
    );
    assert_eq!(c.cmd_str("ZREVRANGE z 0 1"), arr(&["a", "d"]));
    assert_eq!(c.cmd_str("ZRANK z d"), Resp::Int(2));
    assert_eq!(
        c.cmd_str("ZREVRANK z d WITHSCORE"),
        Resp::Array(vec![Resp::Int(1), bulk("4")])
    );
    assert_eq!(c.cmd_str("ZRANK z nope"), Resp::Nil);
    assert_eq!(c.cmd_str("ZCOUNT z (2.1 +inf"), Resp::Int(3));
    assert_eq!(
        c.cmd_str("ZRANGEBYSCORE z -inf 4 LIMIT 1 5"),
        arr(&["c", "d"])
    );
    assert_eq!(
        c.cmd_str("ZREVRANGEBYSCORE z +inf (3 WITHSCORES"),
        arr(&["a", "7.5", "d", "4"])
    );
    assert_eq!(c.cmd_str("ZRANGE z (3 +inf BYSCORE"), arr(&["d", "a"]));
    assert_eq!(
        c.cmd_str("ZRANGE z +inf (3 BYSCORE REV LIMIT 0 1"),
        arr(&["a"])
    );
    assert_eq!(
        c.cmd_str("ZRANGE z 0 -1 LIMIT 0 1"),
        error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    );
    assert_eq!(
        c.cmd_str("ZRANGEBYSCORE z x 1"),
        error("ERR min or max is not a float")
    );
    assert_eq!(
        c.cmd_str("ZMSCORE z a nope"),
        Resp::Array(vec![bulk("7.5"), Resp::Nil])
    );
    c.cmd_str("ZADD lex 0 a 0 b 0 c 0 d");
    assert_eq!(c.cmd_str("ZRANGEBYLEX lex [b (d"), arr(&["b", "c"]));
    assert_eq!(
        c.cmd_str("ZREVRANGEBYLEX lex + - LIMIT 0 2"),
        arr(&["d", "c"])
    );
    assert_eq!(c.cmd_str("ZLEXCOUNT lex - +"), Resp::Int(4));
    assert_eq!(
        c.cmd_str("ZRANGEBYLEX lex b d"),
        error("ERR min or max not valid string range item")
    );
    assert_eq!(c.cmd_str("ZREMRANGEBYLEX lex [a [b"), Resp::Int(2));
    assert_eq!(c.cmd_str("ZPOPMIN z"), arr(&["b", "2.1"]));
    assert_eq!(c.cmd_str("ZPOPMAX z 2"), arr(&["a", "7.5", "d", "4"]));
    assert_eq!(c.cmd_str("ZCARD z"), Resp::Int(1));
    c.cmd_str("ZADD z1 1 a 2 b");
    c.cmd_str("ZADD z2 10 b 20 c");
    assert_eq!(
        c.cmd_str("ZUNION 2 z1 z2 WITHSCORES"),
        arr(&["a", "1", "b", "12", "c", "20"])
    );
    assert_eq!(
        c.cmd_str("ZINTER 2 z1 z2 AGGREGATE MAX WITHSCORES"),
        arr(&["b", "10"])
    );
    assert_eq!(c.cmd_str("ZDIFF 2 z1 z2"), arr(&["a"]));
    assert_eq!(
        c.cmd_str("ZUNIONSTORE out 2 z1 z2 WEIGHTS 2 1"),
        Resp::Int(3)
    );
    assert_eq!(c.cmd_str("ZSCORE out b"), bulk("14"));
    assert_eq!(c.cmd_str("ZINTERCARD 2 z1 z2"), Resp::Int(1));
    assert_eq!(c.cmd_str("ZRANGESTORE top out 0 0 REV"), Resp::Int(1));
    assert_eq!(c.cmd_str("ZRANGE top 0 -1"), arr(&["c"]));
    assert_eq!(
        c.cmd_str("ZMPOP 2 nope out MAX COUNT 2"),
        Resp::Array(vec![
            bulk("out"),
            Resp::Array(vec![arr(&["c", "20"]), arr(&["b", "14"])])
        ])
    );
    c.cmd_str("ZADD inf -inf lo +inf hi");
    assert_eq!(
        c.cmd_str("ZRANGE inf 0 -1 WITHSCORES"),
        arr(&["lo", "-inf", "hi", "inf"])
    );
    assert_eq!(c.cmd_str("OBJECT ENCODING inf"), bulk("listpack"));
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend(encode(&[
            b"ZADD",
            b"large",
            i.to_string().as_bytes(),
            format!("m{i}").as_bytes(),
        ]));
    }
    c.send(&batch);
    for _ in 0..200 {
        c.read();
    }
    assert_eq!(c.cmd_str("OBJECT ENCODING large"), bulk("skiplist"));
    assert_eq!(c.cmd_str("ZRANK large m150"), Resp::Int(150));
    assert_eq!(c.cmd_str("ZREMRANGEBYRANK large 0 99"), Resp::Int(100));
    assert_eq!(c.cmd_str("ZRANGE large 0 0"), arr(&["m100"]));
    // RESP3 scores are doubles, WITHSCORES pairs are nested.
    let mut r3 = server.raw();
    r3.cmd_str("HELLO 3");
    assert_eq!(r3.cmd_str("ZSCORE z1 a"), Resp::Double("1".into()));
    assert_eq!(
        r3.cmd_str("ZRANGE z1 0 -1 WITHSCORES"),
        Resp::Array(vec![
            Resp::Array(vec![bulk("a"), Resp::Double("1".into())]),
            Resp::Array(vec![bulk("b"), Resp::Double("2".into())]),
        ])
    );
}

#[test]
fn dump_restore_every_type() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str("RPUSH l a b");
    c.cmd_str("HSET h f v");
    c.cmd_str("SADD s x y");
    c.cmd_str("ZADD z 1.5 m");
    for key in ["l", "h", "s", "z"] {
        let Resp::Bulk(payload) = c.cmd(&[b"DUMP", key.as_bytes()]) else {
            panic!()
        };
        let copy = format!("{key}-copy");
        assert_eq!(
            c.cmd(&[b"RESTORE", copy.as_bytes(), b"0", &payload]),
            simple("OK")
        );
        assert_eq!(
            c.cmd(&[b"TYPE", copy.as_bytes()]),
            c.cmd(&[b"TYPE", key.as_bytes()])
        );
    }
    assert_eq!(c.cmd_str("LRANGE l-copy 0 -1"), arr(&["a", "b"]));
    assert_eq!(c.cmd_str("ZSCORE z-copy m"), bulk("1.5"));
    assert_eq!(c.cmd_str("COPY z z2"), Resp::Int(1));
    assert_eq!(c.cmd_str("ZSCORE z2 m"), bulk("1.5"));
    assert_eq!(c.cmd_str("RENAME h h2"), simple("OK"));
    assert_eq!(c.cmd_str("HGET h2 f"), bulk("v"));
    let Resp::Array(parts) = c.cmd_str("SCAN 0 COUNT 1000 TYPE zset") else {
        panic!()
    };
    let Resp::Array(keys) = &parts[1] else {
        panic!()
    };
    assert_eq!(keys.len(), 3);
}
