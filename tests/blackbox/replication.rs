//! Replication with real processes: full sync, the write stream, read-only replicas, WAIT,
//! partial resync after a dropped link, ROLE and INFO.

use std::time::Duration;

use crate::harness::*;

fn info(c: &mut RawConn, field: &str) -> String {
    let text = c.cmd_str("INFO replication").text() + &c.cmd_str("INFO stats").text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO lacks {field}:\n{text}"))
        .trim()
        .to_string()
}

fn wait_same_offset(primary: &TestServer, replica: &TestServer) {
    wait_for("replica to catch up", Duration::from_secs(15), || {
        let p = info(&mut primary.raw(), "master_repl_offset");
        let r = info(&mut replica.raw(), "master_repl_offset");
        (p == r).then_some(())
    });
}

#[test]
fn full_sync_stream_readonly_and_wait() {
    let primary = TestServer::start(&[]);
    let mut p = primary.raw();
    assert_eq!(p.cmd_str("DEBUG POPULATE 2000"), simple("OK"));
    p.cmd_str("RPUSH list a b c");
    p.cmd_str("SET ttl v EX 100");
    let port = primary.port.to_string();
    let replica = TestServer::start(&["--replicaof", "127.0.0.1", &port]);
    wait_link_up(&replica);
    let mut r = replica.raw();
    assert_eq!(r.cmd_str("DBSIZE"), Resp::Int(2002));
    assert_eq!(
        r.cmd_str("LRANGE list 0 -1"),
        Resp::Array(vec![bulk("a"), bulk("b"), bulk("c")])
    );
    assert!(matches!(r.cmd_str("TTL ttl"), Resp::Int(t) if t > 90));
    // The stream: every kind of write, including ones that must not be re-run as is.
    p.cmd_str("SET counter 10");
    p.cmd_str("INCRBY counter 5");
    p.cmd_str("SADD s a b c d e");
    let Resp::Bulk(popped) = p.cmd_str("SPOP s") else {
        panic!()
    };
    p.cmd_str("DEL key:1");
    p.cmd_str("MULTI");
    p.cmd_str("HSET h f v");
    p.cmd_str("ZADD z 1 m");
    p.cmd_str("EXEC");
    assert_eq!(p.cmd_str("WAIT 1 5000"), Resp::Int(1));
    assert_eq!(r.cmd_str("GET counter"), bulk("15"));
    assert_eq!(r.cmd(&[b"SISMEMBER", b"s", &popped]), Resp::Int(0));
    assert_eq!(r.cmd_str("SCARD s"), Resp::Int(4));
    assert_eq!(r.cmd_str("EXISTS key:1"), Resp::Int(0));
    assert_eq!(r.cmd_str("HGET h f"), bulk("v"));
    assert_eq!(r.cmd_str("ZSCORE z m"), bulk("1"));
    assert_eq!(
        r.cmd_str("SET x 1"),
        error("READONLY You can't write against a read only replica.")
    );
    assert_eq!(info(&mut r, "role"), "slave");
    assert_eq!(info(&mut p, "connected_slaves"), "1");
    assert!(info(&mut p, "slave0")
        .starts_with(&format!("ip=127.0.0.1,port={},state=online", replica.port)));
    let Resp::Array(role) = r.cmd_str("ROLE") else {
        panic!()
    };
    assert_eq!(role[0], bulk("slave"));
    assert_eq!(role[3], bulk("connected"));
    let Resp::Array(role) = p.cmd_str("ROLE") else {
        panic!()
    };
    assert_eq!(role[0], bulk("master"));
    wait_same_offset(&primary, &replica);
    // A blocked client served by a push: the replica sees the pop, not the BLPOP.
    let mut blocked = primary.raw();
    blocked.send(b"BLPOP queue 5\r\n");
    wait_for("client to block", Duration::from_secs(5), || {
        p.cmd_str("INFO clients")
            .text()
            .contains("blocked_clients:1")
            .then_some(())
    });
    p.cmd_str("RPUSH queue job1 job2");
    assert_eq!(
        blocked.read(),
        Resp::Array(vec![bulk("queue"), bulk("job1")])
    );
    wait_same_offset(&primary, &replica);
    assert_eq!(
        r.cmd_str("LRANGE queue 0 -1"),
        Resp::Array(vec![bulk("job2")])
    );
    // REPLICAOF NO ONE promotes: writes are accepted, the old id becomes replid2.
    let old_id = info(&mut r, "master_replid");
    assert_eq!(r.cmd_str("REPLICAOF NO ONE"), simple("OK"));
    assert_eq!(r.cmd_str("SET x 1"), simple("OK"));
    assert_eq!(info(&mut r, "master_replid2"), old_id);
}

#[test]
fn dropped_link_resumes_with_a_partial_resync() {
    let primary = TestServer::start(&[]);
    let port = primary.port.to_string();
    let replica = TestServer::start(&["--replicaof", "127.0.0.1", &port]);
    wait_link_up(&replica);
    let mut p = primary.raw();
    for i in 0..100 {
        p.cmd(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    wait_same_offset(&primary, &replica);
    // Cut the link from the primary's side; the replica reconnects and continues.
    let list = p.cmd_str("CLIENT LIST").text();
    let replica_link = list
        .lines()
        .find(|l| l.contains("cmd=psync"))
        .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("id=")))
        .map(String::from);
    let id = replica_link.expect("the replica's link in CLIENT LIST");
    assert_eq!(
        p.cmd(&[b"CLIENT", b"KILL", b"ID", id.as_bytes()]),
        Resp::Int(1)
    );
    for i in 100..200 {
        p.cmd(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    wait_for("a partial resync", Duration::from_secs(15), || {
        (info(&mut p, "sync_partial_ok") == "1").then_some(())
    });
    wait_same_offset(&primary, &replica);
    assert_eq!(replica.raw().cmd_str("DBSIZE"), Resp::Int(200));
    assert_eq!(info(&mut p, "sync_full"), "1");
}

#[test]
fn min_replicas_to_write_and_stale_replicas() {
    let primary = TestServer::start(&[
        "--min-replicas-to-write",
        "1",
        "--min-replicas-max-lag",
        "10",
    ]);
    let mut p = primary.raw();
    assert_eq!(
        p.cmd_str("SET k v"),
        error("NOREPLICAS Not enough good replicas to write.")
    );
    assert_eq!(p.cmd_str("GET k"), Resp::Nil);
    let port = primary.port.to_string();
    let replica = TestServer::start(&[
        "--replicaof",
        "127.0.0.1",
        &port,
        "--replica-serve-stale-data",
        "no",
    ]);
    wait_link_up(&replica);
    wait_for("a good replica", Duration::from_secs(10), || {
        (p.cmd_str("SET k v") == simple("OK")).then_some(())
    });
    // The replica loses its primary: with replica-serve-stale-data no it refuses reads.
    let mut r = replica.raw();
    drop(p);
    drop(primary);
    wait_for("MASTERDOWN", Duration::from_secs(10), || {
        matches!(r.cmd_str("GET k"), Resp::Error(e) if e.starts_with("MASTERDOWN")).then_some(())
    });
    assert!(matches!(r.cmd_str("INFO replication"), Resp::Bulk(_)));
}

#[test]
fn replica_restarted_from_its_snapshot_resyncs_partially() {
    let primary = TestServer::start(&["--repl-backlog-size", "10mb"]);
    let port = primary.port.to_string();
    let mut replica = TestServer::start(&["--replicaof", "127.0.0.1", &port]);
    wait_link_up(&replica);
    let mut p = primary.raw();
    for i in 0..500 {
        p.cmd(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    wait_same_offset(&primary, &replica);
    // A clean stop writes the snapshot (default `save` rules), with the replication offset.
    replica.signal("TERM");
    assert_eq!(replica.wait_exit(Duration::from_secs(10)), Some(0));
    for i in 500..800 {
        p.cmd(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    replica.restart(&["--replicaof", "127.0.0.1", &port]);
    wait_for("a partial resync", Duration::from_secs(15), || {
        (info(&mut p, "sync_partial_ok") == "1").then_some(())
    });
    wait_same_offset(&primary, &replica);
    assert_eq!(replica.raw().cmd_str("DBSIZE"), Resp::Int(800));
    assert_eq!(info(&mut p, "sync_full"), "1");
}

#[test]
fn a_replica_over_its_output_buffer_limit_is_disconnected_and_resyncs() {
    let primary = TestServer::start(&["--client-output-buffer-limit", "replica 1mb 0 0"]);
    let port = primary.port.to_string();
    let replica = TestServer::start(&["--replicaof", "127.0.0.1", &port]);
    wait_link_up(&replica);
    // A frozen replica stops reading its stream; the primary must not queue without bound.
    replica.signal("STOP");
    let mut p = primary.raw();
    let value = vec![b'x'; 2000];
    let mut batch = Vec::new();
    for i in 0..3000 {
        batch.extend(encode(&[b"SET", format!("big:{i}").as_bytes(), &value]));
    }
    p.send(&batch);
    for _ in 0..3000 {
        assert_eq!(p.read(), simple("OK"));
    }
    wait_for(
        "the primary to drop the replica",
        Duration::from_secs(10),
        || {
            primary
                .log()
                .contains("scheduled to be closed ASAP for overcoming of output buffer limits")
                .then_some(())
        },
    );
    replica.signal("CONT");
    wait_link_up(&replica);
    wait_same_offset(&primary, &replica);
    assert_eq!(replica.raw().cmd_str("DBSIZE"), Resp::Int(3000));
}
