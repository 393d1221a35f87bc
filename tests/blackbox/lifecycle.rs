//! Start-up, readiness log line and clean exits.

use std::time::Duration;

use crate::harness::*;

#[test]
fn logs_ready_and_exits_cleanly_on_sigterm() {
    let mut server = TestServer::start(&[]);
    assert!(server.log().contains("Ready to accept connections"));
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn exits_cleanly_on_sigint() {
    let mut server = TestServer::start(&[]);
    server.signal("INT");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn shutdown_command_stops_the_server() {
    let mut server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(
        c.cmd_str("SHUTDOWN ABORT"),
        error("ERR No shutdown in progress.")
    );
    assert_eq!(c.cmd_str("SHUTDOWN BOGUS"), error("ERR syntax error"));
    c.send(b"SHUTDOWN NOSAVE\r\n");
    assert!(c.is_closed());
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn port_in_use_fails_start_up() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let out = std::process::Command::new(binary())
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Could not create server TCP listening socket"),
        "{err}"
    );
}
