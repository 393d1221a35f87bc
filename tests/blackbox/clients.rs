//! Client management: maxclients, idle timeout, CLIENT subcommands, pause, MONITOR, AUTH.

use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn maxclients_refuses_extra_connections() {
    let server = TestServer::start(&["--maxclients", "2"]);
    let mut a = server.raw();
    assert_eq!(a.cmd_str("PING"), simple("PONG"));
    // The harness's own start-up connection may still be closing.
    wait_for(
        "the start-up probe to leave",
        Duration::from_secs(5),
        || {
            a.cmd_str("INFO clients")
                .text()
                .contains("connected_clients:1\r\n")
                .then_some(())
        },
    );
    let mut b = server.raw();
    assert_eq!(b.cmd_str("PING"), simple("PONG"));
    let mut c = server.raw();
    assert_eq!(c.read(), error("ERR max number of clients reached"));
    assert!(c.is_closed());
    drop(b);
    wait_for("a free client slot", Duration::from_secs(5), || {
        let mut d = server.raw();
        d.send(b"PING\r\n");
        (d.read() == simple("PONG")).then_some(())
    });
    assert!(a
        .cmd_str("INFO stats")
        .text()
        .contains("rejected_connections:"));
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let server = TestServer::start(&["--timeout", "1"]);
    let mut idle = server.raw();
    assert_eq!(idle.cmd_str("PING"), simple("PONG"));
    let start = Instant::now();
    assert!(idle.is_closed());
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert_eq!(server.raw().cmd_str("PING"), simple("PONG"));
}

#[test]
fn client_subcommands() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let Resp::Int(id) = c.cmd_str("CLIENT ID") else {
        panic!()
    };
    assert_eq!(c.cmd_str("CLIENT GETNAME"), Resp::Nil);
    assert_eq!(c.cmd_str("CLIENT SETNAME worker-1"), simple("OK"));
    assert!(matches!(
        c.cmd_str("CLIENT SETNAME \"bad name\""),
        Resp::Error(_)
    ));
    c.send(b"CLIENT SETNAME \"bad name\"\r\n");
    assert!(matches!(c.read(), Resp::Error(e) if e.contains("cannot contain spaces")));
    assert_eq!(c.cmd_str("CLIENT SETINFO lib-name mylib"), simple("OK"));
    let list = c.cmd_str("CLIENT LIST").text();
    let line = list
        .lines()
        .find(|l| l.contains(&format!("id={id} ")))
        .expect("own line");
    assert!(line.contains("name=worker-1"), "{line}");
    assert!(line.contains("lib-name=mylib"), "{line}");
    assert!(line.contains("cmd=client|setinfo"), "{line}");
    assert!(c
        .cmd_str("CLIENT INFO")
        .text()
        .contains(&format!("id={id} ")));
    let mut victim = server.raw();
    let Resp::Int(vid) = victim.cmd_str("CLIENT ID") else {
        panic!()
    };
    assert_eq!(c.cmd_str(&format!("CLIENT KILL ID {vid}")), Resp::Int(1));
    assert!(victim.is_closed());
    assert_eq!(
        c.cmd_str("CLIENT KILL 1.2.3.4:5"),
        error("ERR No such client")
    );
    // CLIENT REPLY OFF / SKIP / ON.
    c.send(b"CLIENT REPLY SKIP\r\nSET a 1\r\nGET a\r\n");
    assert_eq!(c.read(), bulk("1"));
    c.send(b"CLIENT REPLY OFF\r\nSET a 2\r\nCLIENT REPLY ON\r\n");
    assert_eq!(c.read(), simple("OK"));
    assert_eq!(c.cmd_str("GET a"), bulk("2"));
}

#[test]
fn client_pause_write_delays_writes_not_reads() {
    let server = TestServer::start(&[]);
    let mut admin = server.raw();
    let mut other = server.raw();
    assert_eq!(admin.cmd_str("CLIENT PAUSE 500 WRITE"), simple("OK"));
    let start = Instant::now();
    assert_eq!(other.cmd_str("GET a"), Resp::Nil);
    assert!(start.elapsed() < Duration::from_millis(400));
    assert_eq!(other.cmd_str("SET a 1"), simple("OK"));
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(admin.cmd_str("CLIENT PAUSE 10000"), simple("OK"));
    other.send(b"GET a\r\n");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(admin.cmd_str("CLIENT UNPAUSE"), simple("OK"));
    assert_eq!(other.read(), bulk("1"));
}

#[test]
fn monitor_streams_commands() {
    let server = TestServer::start(&[]);
    let mut mon = server.raw();
    assert_eq!(mon.cmd_str("MONITOR"), simple("OK"));
    let mut c = server.raw();
    c.cmd(&[b"SET", b"watched", b"va\"lue"]);
    let Resp::Simple(line) = mon.read() else {
        panic!()
    };
    assert!(line.contains("\"SET\" \"watched\" \"va\\\"lue\""), "{line}");
    assert!(line.contains("[0 127.0.0.1:"), "{line}");
}
