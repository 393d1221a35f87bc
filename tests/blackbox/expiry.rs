//! Lazy and active expiry.

use std::time::Duration;

use crate::harness::*;

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let server = TestServer::start(&["--hz", "50"]);
    let mut c = server.raw();
    let mut batch = Vec::new();
    for i in 0..5000 {
        batch.extend(encode(&[
            b"SET",
            format!("k{i}").as_bytes(),
            b"v",
            b"PX",
            b"100",
        ]));
    }
    for i in 0..100 {
        batch.extend(encode(&[b"SET", format!("keep{i}").as_bytes(), b"v"]));
    }
    c.send(&batch);
    for _ in 0..5100 {
        assert_eq!(c.read(), simple("OK"));
    }
    wait_for("active expiry", Duration::from_secs(10), || {
        (c.cmd_str("DBSIZE") == Resp::Int(100)).then_some(())
    });
    assert_eq!(c.info_field("expired_keys"), 5000);
    assert!(!c.cmd_str("INFO keyspace").text().contains("expires=1"));
}

#[test]
fn lazy_expiry_when_active_expiry_is_off() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("DEBUG SET-ACTIVE-EXPIRE 0"), simple("OK"));
    c.cmd_str("SET k v PX 50");
    c.cmd_str("SET other v");
    let info = c.cmd_str("INFO keyspace").text();
    assert!(info.contains("db0:keys=2,expires=1"), "{info}");
    wait_for("k to expire", Duration::from_secs(5), || {
        (c.cmd_str("PTTL k") == Resp::Int(-2)).then_some(())
    });
    assert_eq!(c.cmd_str("GET k"), Resp::Nil);
    assert_eq!(c.cmd_str("DBSIZE"), Resp::Int(1));
    assert_eq!(c.info_field("expired_keys"), 1);
}
