//! String commands with Redis's edge cases and error texts.

use crate::harness::*;

#[test]
fn set_options() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("SET k v NX"), simple("OK"));
    assert_eq!(c.cmd_str("SET k w NX"), Resp::Nil);
    assert_eq!(c.cmd_str("SET k w XX GET"), bulk("v"));
    assert_eq!(c.cmd_str("SET missing w XX"), Resp::Nil);
    assert_eq!(c.cmd_str("SET k v NX XX"), error("ERR syntax error"));
    assert_eq!(c.cmd_str("SET k v EX 10 PX 100"), error("ERR syntax error"));
    assert_eq!(c.cmd_str("SET k v BOGUS"), error("ERR syntax error"));
    assert_eq!(
        c.cmd_str("SET k v EX 0"),
        error("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        c.cmd_str("SET k v EX abc"),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd_str("SET k v EX 100"), simple("OK"));
    assert_eq!(c.cmd_str("SET k v2 KEEPTTL"), simple("OK"));
    assert!(matches!(c.cmd_str("TTL k"), Resp::Int(t) if (99..=100).contains(&t)));
    assert_eq!(c.cmd_str("SET k v3"), simple("OK"));
    assert_eq!(c.cmd_str("TTL k"), Resp::Int(-1));
    assert_eq!(c.cmd_str("SET k v PXAT 1"), simple("OK"));
    assert_eq!(c.cmd_str("GET k"), Resp::Nil);
    assert_eq!(
        c.cmd_str("SETEX k 0 v"),
        error("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(c.cmd_str("PSETEX k 1000 v"), simple("OK"));
    assert_eq!(c.cmd_str("SETNX k other"), Resp::Int(0));
    assert_eq!(c.cmd_str("GETSET k new"), bulk("v"));
    assert_eq!(c.cmd_str("GETDEL k"), bulk("new"));
    assert_eq!(c.cmd_str("EXISTS k"), Resp::Int(0));
}

#[test]
fn counters() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("INCR n"), Resp::Int(1));
    assert_eq!(c.cmd_str("INCRBY n 41"), Resp::Int(42));
    assert_eq!(c.cmd_str("DECR n"), Resp::Int(41));
    assert_eq!(c.cmd_str("DECRBY n 50"), Resp::Int(-9));
    assert_eq!(c.cmd_str("SET n 9223372036854775807"), simple("OK"));
    assert_eq!(
        c.cmd_str("INCR n"),
        error("ERR increment or decrement would overflow")
    );
    assert_eq!(c.cmd_str("SET s abc"), simple("OK"));
    assert_eq!(
        c.cmd_str("INCR s"),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd_str("SET s 007"), simple("OK"));
    assert_eq!(
        c.cmd_str("INCR s"),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd_str("INCRBY n notanumber"),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd_str("SET f 10.50"), simple("OK"));
    assert_eq!(c.cmd_str("INCRBYFLOAT f 0.1"), bulk("10.6"));
    assert_eq!(c.cmd_str("INCRBYFLOAT f -5"), bulk("5.6"));
    assert_eq!(c.cmd_str("SET f 5.0e3"), simple("OK"));
    assert_eq!(c.cmd_str("INCRBYFLOAT f 2.0e2"), bulk("5200"));
    assert_eq!(
        c.cmd_str("INCRBYFLOAT f abc"),
        error("ERR value is not a valid float")
    );
    assert_eq!(c.cmd_str("INCRBYFLOAT s 1"), bulk("8"));
    assert_eq!(c.cmd_str("SET s abc"), simple("OK"));
    assert_eq!(
        c.cmd_str("INCRBYFLOAT s 1"),
        error("ERR value is not a valid float")
    );
    assert_eq!(c.cmd_str("SET big 1e308"), simple("OK"));
    assert_eq!(
        c.cmd_str("INCRBYFLOAT big 1e308"),
        error("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(c.cmd_str("OBJECT ENCODING n"), bulk("int"));
    assert_eq!(c.cmd_str("OBJECT ENCODING s"), bulk("embstr"));
}

#[test]
fn append_strlen_ranges() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("APPEND s Hello"), Resp::Int(5));
    assert_eq!(c.cmd_str("APPEND s World"), Resp::Int(10));
    assert_eq!(c.cmd_str("STRLEN s"), Resp::Int(10));
    assert_eq!(c.cmd_str("STRLEN nothing"), Resp::Int(0));
    assert_eq!(c.cmd_str("GETRANGE s 0 4"), bulk("Hello"));
    assert_eq!(c.cmd_str("GETRANGE s -5 -1"), bulk("World"));
    assert_eq!(c.cmd_str("GETRANGE s 5 100"), bulk("World"));
    assert_eq!(c.cmd_str("GETRANGE s -1 -5"), bulk(""));
    assert_eq!(c.cmd_str("GETRANGE nothing 0 -1"), bulk(""));
    assert_eq!(c.cmd_str("SETRANGE s 5 Redis"), Resp::Int(10));
    assert_eq!(c.cmd_str("GET s"), bulk("HelloRedis"));
    assert_eq!(c.cmd_str("SETRANGE pad 3 x"), Resp::Int(4));
    assert_eq!(c.cmd_str("GET pad"), Resp::Bulk(b"\0\0\0x".to_vec()));
    assert_eq!(
        c.cmd_str("SETRANGE s -1 x"),
        error("ERR offset is out of range")
    );
    assert_eq!(
        c.cmd_str("SETRANGE s 536870911 xx"),
        error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_eq!(c.cmd_str("SET n 12"), simple("OK"));
    assert_eq!(c.cmd_str("APPEND n 3"), Resp::Int(3));
    assert_eq!(c.cmd_str("INCR n"), Resp::Int(124));
}

#[test]
fn multi_key_strings() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("MSET a 1 b 2 {t}c 3"), simple("OK"));
    assert_eq!(
        c.cmd_str("MGET a b nope {t}c"),
        Resp::Array(vec![bulk("1"), bulk("2"), Resp::Nil, bulk("3")])
    );
    assert_eq!(
        c.cmd_str("MSET a 1 b"),
        error("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(c.cmd_str("MSETNX a 5 z 6"), Resp::Int(0));
    assert_eq!(c.cmd_str("EXISTS z"), Resp::Int(0));
    assert_eq!(c.cmd_str("MSETNX y 5 z 6"), Resp::Int(1));
    assert_eq!(
        c.cmd_str("MGET y z"),
        Resp::Array(vec![bulk("5"), bulk("6")])
    );
}

#[test]
fn getex_and_lcs() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str("SET k v");
    assert_eq!(c.cmd_str("GETEX k EX 100"), bulk("v"));
    assert!(matches!(c.cmd_str("TTL k"), Resp::Int(t) if t > 90));
    assert_eq!(c.cmd_str("GETEX k PERSIST"), bulk("v"));
    assert_eq!(c.cmd_str("TTL k"), Resp::Int(-1));
    assert_eq!(c.cmd_str("GETEX k EX 1 PX 5"), error("ERR syntax error"));
    assert_eq!(c.cmd_str("GETEX missing"), Resp::Nil);
    c.cmd_str("MSET key1 ohmytext key2 mynewtext");
    assert_eq!(c.cmd_str("LCS key1 key2"), bulk("mytext"));
    assert_eq!(c.cmd_str("LCS key1 key2 LEN"), Resp::Int(6));
    let idx = c.cmd_str("LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN");
    assert_eq!(
        idx,
        Resp::Array(vec![
            bulk("matches"),
            Resp::Array(vec![Resp::Array(vec![
                Resp::Array(vec![Resp::Int(4), Resp::Int(7)]),
                Resp::Array(vec![Resp::Int(5), Resp::Int(8)]),
                Resp::Int(4),
            ])]),
            bulk("len"),
            Resp::Int(6),
        ])
    );
}
