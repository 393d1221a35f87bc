//! MULTI / EXEC / DISCARD / WATCH.

use std::time::Duration;

use crate::harness::*;

#[test]
fn queue_exec_and_errors() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("MULTI"), simple("OK"));
    assert_eq!(
        c.cmd_str("MULTI"),
        error("ERR MULTI calls can not be nested")
    );
    assert_eq!(c.cmd_str("SET a 1"), simple("QUEUED"));
    assert_eq!(c.cmd_str("INCR a"), simple("QUEUED"));
    assert_eq!(c.cmd_str("LPUSH a x"), simple("QUEUED"));
    assert_eq!(
        c.cmd_str("EXEC"),
        Resp::Array(vec![
            simple("OK"),
            Resp::Int(2),
            error("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ])
    );
    // A queue-time error aborts the whole transaction.
    c.cmd_str("MULTI");
    c.cmd_str("SET b 1");
    assert!(matches!(c.cmd_str("NOSUCHCMD"), Resp::Error(_)));
    assert_eq!(
        c.cmd_str("EXEC"),
        error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.cmd_str("EXISTS b"), Resp::Int(0));
    assert_eq!(c.cmd_str("EXEC"), error("ERR EXEC without MULTI"));
    assert_eq!(c.cmd_str("DISCARD"), error("ERR DISCARD without MULTI"));
    c.cmd_str("MULTI");
    c.cmd_str("SET b 1");
    assert_eq!(c.cmd_str("DISCARD"), simple("OK"));
    assert_eq!(c.cmd_str("EXISTS b"), Resp::Int(0));
}

#[test]
fn watch_is_broken_by_other_writers_and_expiry() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let mut other = server.raw();
    c.cmd_str("SET k 1");
    assert_eq!(c.cmd_str("WATCH k"), simple("OK"));
    other.cmd_str("SET k 2");
    c.cmd_str("MULTI");
    c.cmd_str("SET k 3");
    assert_eq!(c.cmd_str("EXEC"), Resp::Nil);
    assert_eq!(c.cmd_str("GET k"), bulk("2"));
    // Untouched watch: EXEC runs.
    c.cmd_str("WATCH k");
    c.cmd_str("MULTI");
    c.cmd_str("SET k 3");
    assert_eq!(c.cmd_str("EXEC"), Resp::Array(vec![simple("OK")]));
    // Expiry breaks WATCH.
    c.cmd_str("DEBUG SET-ACTIVE-EXPIRE 0");
    c.cmd_str("SET t 1 PX 50");
    c.cmd_str("WATCH t");
    wait_for("t to expire", Duration::from_secs(5), || {
        (other.cmd_str("PTTL t") == Resp::Int(-2)).then_some(())
    });
    c.cmd_str("MULTI");
    c.cmd_str("SET t 2");
    assert_eq!(c.cmd_str("EXEC"), Resp::Nil);
    // FLUSHALL breaks WATCH.
    c.cmd_str("SET f 1");
    c.cmd_str("WATCH f");
    other.cmd_str("FLUSHALL");
    c.cmd_str("MULTI");
    c.cmd_str("SET f 2");
    assert_eq!(c.cmd_str("EXEC"), Resp::Nil);
    assert_eq!(c.cmd_str("MULTI"), simple("OK"));
    assert_eq!(
        c.cmd_str("WATCH x"),
        error("ERR WATCH inside MULTI is not allowed")
    );
}

#[test]
fn exec_is_atomic_for_other_clients() {
    let server = TestServer::start(&[]);
    let port = server.port;
    // One client moves 1 between two counters in transactions; readers must always see
    // the sum stay at 0.
    let writer = std::thread::spawn(move || {
        let mut c = RawConn::connect(port);
        for _ in 0..2000 {
            c.send(b"MULTI\r\nINCR {a}x\r\nDECR {b}y\r\nEXEC\r\n");
            for _ in 0..4 {
                c.read();
            }
        }
    });
    let mut reader = server.raw();
    let mut checks = 0;
    while !writer.is_finished() {
        let Resp::Array(v) = reader.cmd_str("MGET {a}x {b}y") else {
            panic!()
        };
        let n = |r: &Resp| match r {
            Resp::Nil => 0,
            other => other.text().parse::<i64>().unwrap(),
        };
        assert_eq!(n(&v[0]) + n(&v[1]), 0, "saw a partial transaction");
        checks += 1;
    }
    writer.join().unwrap();
    assert!(checks > 0);
}
