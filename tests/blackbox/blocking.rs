//! Blocking pops: timeouts, FIFO service, wake-ups by pushes, transactions and moves.

use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn blpop_times_out_with_subsecond_precision() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let start = Instant::now();
    assert_eq!(c.cmd_str("BLPOP empty 0.2"), Resp::Nil);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(180) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(
        c.cmd_str("BLPOP empty -1"),
        error("ERR timeout is negative")
    );
    assert_eq!(
        c.cmd_str("BLPOP empty abc"),
        error("ERR timeout is not a float or out of range")
    );
    c.cmd_str("RPUSH full a");
    assert_eq!(
        c.cmd_str("BRPOP empty full 1"),
        Resp::Array(vec![bulk("full"), bulk("a")])
    );
}

#[test]
fn blocked_clients_are_served_in_fifo_order() {
    let server = TestServer::start(&[]);
    let mut first = server.raw();
    let mut second = server.raw();
    let mut pusher = server.raw();
    first.send(b"BLPOP q 5\r\n");
    wait_for("first to block", Duration::from_secs(5), || {
        let info = pusher.cmd_str("INFO clients").text();
        info.contains("blocked_clients:1").then_some(())
    });
    second.send(b"BLPOP q 5\r\n");
    wait_for("second to block", Duration::from_secs(5), || {
        let info = pusher.cmd_str("INFO clients").text();
        info.contains("blocked_clients:2").then_some(())
    });
    assert_eq!(pusher.cmd_str("RPUSH q one two"), Resp::Int(2));
    assert_eq!(first.read(), Resp::Array(vec![bulk("q"), bulk("one")]));
    assert_eq!(second.read(), Resp::Array(vec![bulk("q"), bulk("two")]));
    assert_eq!(pusher.cmd_str("LLEN q"), Resp::Int(0));
}

#[test]
fn woken_by_transactions_and_moves() {
    let server = TestServer::start(&[]);
    let mut blocked = server.raw();
    let mut other = server.raw();
    blocked.send(b"BLMOVE src dst LEFT RIGHT 5\r\n");
    wait_for("client to block", Duration::from_secs(5), || {
        other
            .cmd_str("INFO clients")
            .text()
            .contains("blocked_clients:1")
            .then_some(())
    });
    other.send(b"MULTI\r\nRPUSH src a\r\nRPUSH src b\r\nEXEC\r\n");
    for _ in 0..4 {
        other.read();
    }
    assert_eq!(blocked.read(), bulk("a"));
    assert_eq!(
        other.cmd_str("LRANGE dst 0 -1"),
        Resp::Array(vec![bulk("a")])
    );
    assert_eq!(
        other.cmd_str("LRANGE src 0 -1"),
        Resp::Array(vec![bulk("b")])
    );
    // Sorted sets.
    blocked.send(b"BZPOPMIN zs 5\r\n");
    wait_for("client to block", Duration::from_secs(5), || {
        other
            .cmd_str("INFO clients")
            .text()
            .contains("blocked_clients:1")
            .then_some(())
    });
    other.cmd_str("ZADD zs 2 b 1 a");
    assert_eq!(
        blocked.read(),
        Resp::Array(vec![bulk("zs"), bulk("a"), bulk("1")])
    );
    // Inside MULTI a blocking command does not block.
    other.cmd_str("MULTI");
    other.cmd_str("BLPOP nothing 0");
    assert_eq!(other.cmd_str("EXEC"), Resp::Array(vec![Resp::Nil]));
}
