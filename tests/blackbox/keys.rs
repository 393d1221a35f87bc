//! Generic key commands: DEL, EXISTS, TYPE, RENAME, COPY, KEYS, SCAN, EXPIRE family,
//! DUMP/RESTORE, OBJECT, FLUSHALL.

use std::collections::HashSet;

use crate::harness::*;

#[test]
fn delete_exists_type_rename_copy() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str("MSET a 1 b 2 c 3");
    assert_eq!(c.cmd_str("EXISTS a a b nope"), Resp::Int(3));
    assert_eq!(c.cmd_str("DEL a nope"), Resp::Int(1));
    assert_eq!(c.cmd_str("UNLINK b"), Resp::Int(1));
    assert_eq!(c.cmd_str("TYPE c"), simple("string"));
    assert_eq!(c.cmd_str("TYPE nope"), simple("none"));
    assert_eq!(c.cmd_str("RENAME nope x"), error("ERR no such key"));
    c.cmd_str("EXPIRE c 100");
    assert_eq!(c.cmd_str("RENAME c d"), simple("OK"));
    assert!(matches!(c.cmd_str("TTL d"), Resp::Int(t) if t > 90));
    c.cmd_str("SET e 5");
    assert_eq!(c.cmd_str("RENAMENX d e"), Resp::Int(0));
    assert_eq!(c.cmd_str("RENAMENX d f"), Resp::Int(1));
    assert_eq!(c.cmd_str("COPY f g"), Resp::Int(1));
    assert_eq!(c.cmd_str("COPY f e"), Resp::Int(0));
    assert_eq!(c.cmd_str("COPY f e REPLACE"), Resp::Int(1));
    assert_eq!(c.cmd_str("GET e"), bulk("3"));
    assert_eq!(
        c.cmd_str("COPY f h DB 1"),
        error("ERR DB index is out of range")
    );
    assert_eq!(c.cmd_str("DBSIZE"), Resp::Int(3));
    assert_eq!(c.cmd_str("FLUSHALL SYNC"), simple("OK"));
    assert_eq!(c.cmd_str("DBSIZE"), Resp::Int(0));
    assert_eq!(c.cmd_str("FLUSHDB BOGUS"), error("ERR syntax error"));
    assert_eq!(c.cmd_str("RANDOMKEY"), Resp::Nil);
    c.cmd_str("SET only 1");
    assert_eq!(c.cmd_str("RANDOMKEY"), bulk("only"));
    assert_eq!(c.cmd_str("SELECT 0"), simple("OK"));
    assert!(
        matches!(c.cmd_str("SELECT 1"), Resp::Error(e) if e.starts_with("ERR DB index is out of range"))
    );
}

#[test]
fn keys_patterns() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str(
        "MSET {post:1}:likes:count 5 {post:2}:likes:count 7 {post:1}:likes:users x hello 1 hallo 2",
    );
    let mut got = |p: &str| -> HashSet<String> {
        match c.cmd(&[b"KEYS", p.as_bytes()]) {
            Resp::Array(items) => items.iter().map(|i| i.text()).collect(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(got("*").len(), 5);
    assert_eq!(
        got("{post:*}:likes:count"),
        HashSet::from(["{post:1}:likes:count".into(), "{post:2}:likes:count".into()])
    );
    assert_eq!(
        got("{post:1}:*"),
        HashSet::from(["{post:1}:likes:count".into(), "{post:1}:likes:users".into()])
    );
    assert_eq!(
        got("h[ae]llo"),
        HashSet::from(["hello".into(), "hallo".into()])
    );
    assert!(got("nomatch*").is_empty());
}

#[test]
fn scan_returns_every_key_once_per_pass_even_while_growing() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.extend(encode(&[b"SET", format!("key:{i}").as_bytes(), b"v"]));
    }
    c.send(&batch);
    for _ in 0..2000 {
        c.read();
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        let reply = c.cmd(&[
            b"SCAN",
            cursor.as_bytes(),
            b"COUNT",
            b"50",
            b"MATCH",
            b"key:*",
        ]);
        let Resp::Array(parts) = reply else { panic!() };
        cursor = parts[0].text();
        let Resp::Array(keys) = &parts[1] else {
            panic!()
        };
        for k in keys {
            seen.insert(k.text());
        }
        // Grow the table while iterating: the original keys must still all be returned.
        round += 1;
        c.cmd(&[b"SET", format!("extra:{round}").as_bytes(), b"v"]);
        if cursor == "0" {
            break;
        }
    }
    for i in 0..2000 {
        assert!(seen.contains(&format!("key:{i}")), "key:{i} missing");
    }
    assert!(seen.iter().all(|k| k.starts_with("key:")));
    assert_eq!(c.cmd_str("SCAN abc"), error("ERR invalid cursor"));
    assert_eq!(c.cmd_str("SCAN 0 COUNT 0"), error("ERR syntax error"));
    let Resp::Array(parts) = c.cmd_str("SCAN 0 COUNT 100000 TYPE string") else {
        panic!()
    };
    let Resp::Array(keys) = &parts[1] else {
        panic!()
    };
    assert!(keys.len() >= 2000);
    let Resp::Array(parts) = c.cmd_str("SCAN 0 COUNT 100000 TYPE list") else {
        panic!()
    };
    assert_eq!(parts[1], Resp::Array(vec![]));
}

#[test]
fn expire_family() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str("SET k v");
    assert_eq!(c.cmd_str("TTL k"), Resp::Int(-1));
    assert_eq!(c.cmd_str("TTL nope"), Resp::Int(-2));
    assert_eq!(c.cmd_str("EXPIRE k 100 XX"), Resp::Int(0));
    assert_eq!(c.cmd_str("EXPIRE k 100 NX"), Resp::Int(1));
    assert_eq!(c.cmd_str("EXPIRE k 50 GT"), Resp::Int(0));
    assert_eq!(c.cmd_str("EXPIRE k 200 GT"), Resp::Int(1));
    assert_eq!(c.cmd_str("EXPIRE k 300 LT"), Resp::Int(0));
    assert_eq!(
        c.cmd_str("EXPIRE k 10 NX XX"),
        error("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd_str("EXPIRE k 10 GT LT"),
        error("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd_str("EXPIRE k 10 FOO"),
        error("ERR Unsupported option FOO")
    );
    assert!(matches!(c.cmd_str("PTTL k"), Resp::Int(t) if t > 190_000 && t <= 200_000));
    assert!(matches!(c.cmd_str("EXPIRETIME k"), Resp::Int(t) if t > 1_700_000_000));
    assert_eq!(c.cmd_str("PERSIST k"), Resp::Int(1));
    assert_eq!(c.cmd_str("PERSIST k"), Resp::Int(0));
    assert_eq!(c.cmd_str("EXPIRETIME k"), Resp::Int(-1));
    assert_eq!(c.cmd_str("PEXPIREAT k 1"), Resp::Int(1));
    assert_eq!(c.cmd_str("EXISTS k"), Resp::Int(0));
    c.cmd_str("SET k v");
    assert_eq!(
        c.cmd_str("EXPIRE k 9223372036854775807"),
        error("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(c.cmd_str("EXPIRE k -1"), Resp::Int(1));
    assert_eq!(c.cmd_str("GET k"), Resp::Nil);
    assert_eq!(c.cmd_str("EXPIRE nope 10"), Resp::Int(0));
}

#[test]
fn dump_restore_object() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str("SET s hello");
    c.cmd_str("SET n 42");
    let Resp::Bulk(payload) = c.cmd_str("DUMP s") else {
        panic!()
    };
    assert_eq!(c.cmd(&[b"RESTORE", b"s2", b"0", &payload]), simple("OK"));
    assert_eq!(c.cmd_str("GET s2"), bulk("hello"));
    assert_eq!(
        c.cmd(&[b"RESTORE", b"s2", b"0", &payload]),
        error("BUSYKEY Target key name already exists.")
    );
    assert_eq!(
        c.cmd(&[b"RESTORE", b"s2", b"5000", &payload, b"REPLACE"]),
        simple("OK")
    );
    assert!(matches!(c.cmd_str("PTTL s2"), Resp::Int(t) if t > 4000));
    let mut bad = payload.clone();
    bad[2] ^= 0xff;
    assert_eq!(
        c.cmd(&[b"RESTORE", b"s3", b"0", &bad]),
        error("ERR DUMP payload version or checksum are wrong")
    );
    assert_eq!(
        c.cmd(&[b"RESTORE", b"s3", b"-1", &payload]),
        error("ERR Invalid TTL value, must be >= 0")
    );
    let Resp::Bulk(npayload) = c.cmd_str("DUMP n") else {
        panic!()
    };
    assert_eq!(c.cmd(&[b"RESTORE", b"n2", b"0", &npayload]), simple("OK"));
    assert_eq!(c.cmd_str("INCR n2"), Resp::Int(43));
    assert_eq!(c.cmd_str("DUMP nope"), Resp::Nil);
    assert_eq!(c.cmd_str("OBJECT ENCODING n"), bulk("int"));
    assert_eq!(c.cmd_str("OBJECT ENCODING nope"), Resp::Nil);
    assert!(matches!(c.cmd_str("OBJECT IDLETIME s"), Resp::Int(t) if t < 5));
    assert_eq!(c.cmd_str("OBJECT REFCOUNT s"), Resp::Int(1));
    assert!(
        matches!(c.cmd_str("OBJECT FREQ s"), Resp::Error(e) if e.starts_with("ERR An LFU maxmemory policy is not selected"))
    );
    let long = "x".repeat(100);
    c.cmd(&[b"SET", b"long", long.as_bytes()]);
    assert_eq!(c.cmd_str("OBJECT ENCODING long"), bulk("raw"));
}
