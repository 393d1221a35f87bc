//! Real clients and tools used unchanged: redis-cli (RESP2 and RESP3), redis-benchmark,
//! redis-py (RESP2 and RESP3) and the `redis` crate.

use std::process::Command;

use redis::Commands;

use crate::harness::*;

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_plain_and_resp3() {
    let server = TestServer::start(&[]);
    assert_eq!(stdout(&server.cli(&["PING"])).trim(), "PONG");
    assert_eq!(
        stdout(&server.cli(&["SET", "greeting", "hola"])).trim(),
        "OK"
    );
    assert_eq!(stdout(&server.cli(&["GET", "greeting"])).trim(), "hola");
    assert_eq!(stdout(&server.cli(&["INCRBY", "n", "5"])).trim(), "5");
    assert_eq!(stdout(&server.cli(&["GET", "nothing"])).trim(), "");
    let err = stdout(&server.cli(&["GET"]));
    assert!(
        err.contains("ERR wrong number of arguments for 'get' command"),
        "{err}"
    );
    // RESP3: nulls, maps and verbatim strings as redis-cli -3 prints them.
    assert_eq!(
        stdout(&server.cli(&["-3", "--no-raw", "GET", "nothing"])).trim(),
        "(nil)"
    );
    let hello = stdout(&server.cli(&["-3", "HELLO", "3"]));
    assert!(hello.contains("proto") && hello.contains('3'), "{hello}");
    let info = stdout(&server.cli(&["-3", "INFO", "server"]));
    assert!(info.contains("redis_version:7.2.4"), "{info}");
    // Interactive-style piped input.
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'SET a 1\\nINCR a\\nGET a\\n' | redis-cli -p {}",
            server.port
        ))
        .output()
        .unwrap();
    assert_eq!(stdout(&piped), "OK\n2\n2\n");
}

#[test]
fn redis_benchmark_runs_without_errors() {
    let server = TestServer::start(&[]);
    let out = Command::new("redis-benchmark")
        .args(["-p", &server.port.to_string()])
        .args([
            "-t",
            "set,get,incr,mset,ping",
            "-n",
            "200000",
            "-P",
            "16",
            "-q",
        ])
        .output()
        .expect("redis-benchmark must be installed (apt-get install redis-tools)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for test in [
        "SET:",
        "GET:",
        "INCR:",
        "MSET (10 keys):",
        "PING_INLINE:",
        "PING_MBULK:",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().contains(test) && l.contains("requests per second")),
            "no {test} result in:\n{text}"
        );
    }
    assert!(!text.to_lowercase().contains("error"), "{text}");
}

#[test]
fn redis_py_resp2_and_resp3() {
    let server = TestServer::start(&[]);
    let port = server.port.to_string();
    let out = run_python("foundation.py", &[&port, "2"]);
    assert!(out.contains("foundation ok (RESP2)"), "{out}");
    let out = run_python("foundation.py", &[&port, "3"]);
    assert!(out.contains("foundation ok (RESP3)"), "{out}");
}

#[test]
fn redis_crate_typed_api() {
    let server = TestServer::start(&[]);
    let mut con = server.client();
    let _: () = con.set("user:1", "alice").unwrap();
    let name: String = con.get("user:1").unwrap();
    assert_eq!(name, "alice");
    let n: i64 = con.incr("visits", 3).unwrap();
    assert_eq!(n, 3);
    let _: () = con.set_ex("session", "x", 100).unwrap();
    let ttl: i64 = con.ttl("session").unwrap();
    assert!((99..=100).contains(&ttl));
    let values: Vec<Option<String>> = con.mget(&["user:1", "missing"]).unwrap();
    assert_eq!(values, vec![Some("alice".to_string()), None]);
    let mut keys: Vec<String> = con.scan_match("user:*").unwrap().collect();
    keys.sort();
    assert_eq!(keys, vec!["user:1".to_string()]);
    let deleted: i64 = con.del(&["user:1", "visits"]).unwrap();
    assert_eq!(deleted, 2);
    let err = redis::cmd("INCR")
        .arg("session")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn social_feed_example_runs_standalone() {
    let server = TestServer::start(&[]);
    let port = server.port.to_string();
    for proto in ["2", "3"] {
        let script =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/social_feed.py");
        let out = Command::new("python3")
            .arg(&script)
            .args(["--port", &port, "--protocol", proto])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("social feed ok"),
            "{text}"
        );
    }
}
