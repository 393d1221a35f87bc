//! Start-up configuration and CONFIG GET / SET / REWRITE / RESETSTAT.

use std::process::Command;

use crate::harness::*;

#[test]
fn config_file_with_quotes_units_include_and_overrides() {
    let dir = temp_dir("conf");
    let included = dir.join("extra.conf");
    std::fs::write(&included, "maxmemory-policy allkeys-lru\n").unwrap();
    let conf = format!(
        "# comment\nmaxmemory 100mb\nhz 20\ninclude {}\nslowlog-log-slower-than \"5000\"\nsave 900 1\nsave 300 10\n",
        included.display()
    );
    let server = TestServer::start_with(Some(&conf), &["--hz", "15"]);
    let mut c = server.raw();
    let get = |c: &mut RawConn, name: &str| match c.cmd(&[b"CONFIG", b"GET", name.as_bytes()]) {
        Resp::Array(v) => v[1].text(),
        other => panic!("{other:?}"),
    };
    assert_eq!(get(&mut c, "maxmemory"), (100 * 1024 * 1024).to_string());
    assert_eq!(get(&mut c, "maxmemory-policy"), "allkeys-lru");
    assert_eq!(get(&mut c, "hz"), "15");
    assert_eq!(get(&mut c, "slowlog-log-slower-than"), "5000");
    assert_eq!(get(&mut c, "save"), "900 1 300 10");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_directive_stops_start_up_with_file_line_and_reason() {
    let dir = temp_dir("badconf");
    let path = dir.join("bad.conf");
    std::fs::write(&path, "port 7777\n\nmaxmemory lots\n").unwrap();
    let out = Command::new(binary()).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FATAL CONFIG FILE ERROR"), "{err}");
    assert!(err.contains("bad.conf"), "{err}");
    assert!(err.contains("at line 3"), "{err}");
    assert!(err.contains("maxmemory lots"), "{err}");
    assert!(err.contains("argument must be a memory value"), "{err}");

    std::fs::write(&path, "no-such-directive yes\n").unwrap();
    let out = Command::new(binary()).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Bad directive or wrong number of arguments"),
        "{err}"
    );

    let out = Command::new(binary())
        .args(["--port", "notaport"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn config_get_globs_and_set_many() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let Resp::Array(items) = c.cmd_str("CONFIG GET maxmemory*") else {
        panic!()
    };
    let names: Vec<String> = items.iter().step_by(2).map(|i| i.text()).collect();
    for n in ["maxmemory", "maxmemory-policy", "maxmemory-samples"] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
    assert_eq!(
        c.cmd_str("CONFIG SET maxmemory 10mb maxmemory-policy allkeys-lfu"),
        simple("OK")
    );
    assert_eq!(
        c.cmd_str("CONFIG GET maxmemory"),
        Resp::Array(vec![bulk("maxmemory"), bulk("10485760")])
    );
    // A bad pair changes nothing.
    assert!(matches!(
        c.cmd_str("CONFIG SET maxmemory 20mb maxmemory-policy bogus"),
        Resp::Error(e) if e.starts_with("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy')")
    ));
    assert_eq!(
        c.cmd_str("CONFIG GET maxmemory"),
        Resp::Array(vec![bulk("maxmemory"), bulk("10485760")])
    );
    assert_eq!(
        c.cmd_str("CONFIG SET nonexistent 1"),
        error("ERR Unknown option or number of arguments for CONFIG SET - 'nonexistent'")
    );
    assert!(
        matches!(c.cmd_str("CONFIG SET port 1"), Resp::Error(e) if e.contains("can't set immutable config"))
    );
    assert_eq!(c.cmd_str("CONFIG SET slave-read-only no"), simple("OK"));
    assert_eq!(
        c.cmd_str("CONFIG GET replica-read-only"),
        Resp::Array(vec![bulk("replica-read-only"), bulk("no")])
    );
}

#[test]
fn config_rewrite_keeps_comments_and_persists_changes() {
    let server = TestServer::start_with(Some("# my settings\nhz 10\nmaxmemory 1mb\n"), &[]);
    let mut c = server.raw();
    assert_eq!(
        c.cmd_str("CONFIG SET hz 50 maxmemory-policy allkeys-lru"),
        simple("OK")
    );
    assert_eq!(c.cmd_str("CONFIG REWRITE"), simple("OK"));
    let text = std::fs::read_to_string(server.dir.join("redis.conf")).unwrap();
    assert!(text.contains("# my settings"), "{text}");
    assert!(text.contains("hz 50"), "{text}");
    assert!(!text.contains("hz 10"), "{text}");
    assert!(text.contains("maxmemory 1048576"), "{text}");
    assert!(text.contains("maxmemory-policy allkeys-lru"), "{text}");
    // The rewritten file starts a server with the same settings.
    let again = TestServer::start_with(Some(&text), &[]);
    assert_eq!(
        again.raw().cmd_str("CONFIG GET hz"),
        Resp::Array(vec![bulk("hz"), bulk("50")])
    );
    let plain = TestServer::start(&[]);
    assert_eq!(
        plain.raw().cmd_str("CONFIG REWRITE"),
        error("ERR The server is running without a config file")
    );
}

#[test]
fn config_resetstat_clears_counters() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str("GET nope");
    c.cmd_str("NOPE");
    let info = c.cmd_str("INFO all").text();
    assert!(info.contains("keyspace_misses:1"), "{info}");
    assert!(info.contains("cmdstat_get:calls=1"), "{info}");
    assert!(info.contains("errorstat_ERR:count=1"), "{info}");
    assert_eq!(c.cmd_str("CONFIG RESETSTAT"), simple("OK"));
    let info = c.cmd_str("INFO all").text();
    assert!(info.contains("keyspace_misses:0"), "{info}");
    assert!(!info.contains("cmdstat_get:"), "{info}");
    assert!(!info.contains("errorstat_ERR"), "{info}");
}
