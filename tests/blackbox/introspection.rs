//! INFO, COMMAND, SLOWLOG, LATENCY, MEMORY, DEBUG, TIME.

use std::time::Duration;

use crate::harness::*;

#[test]
fn info_has_the_fields_tools_parse() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str("SET a 1");
    c.cmd_str("GET a");
    c.cmd_str("GET b");
    // The start-up probe's connection may still be closing on another worker.
    let info = wait_for(
        "the probe connection to close",
        Duration::from_secs(5),
        || {
            let info = c.cmd_str("INFO").text();
            info.contains("connected_clients:1\r\n").then_some(info)
        },
    );
    for field in [
        "redis_version:7.2.4",
        "cinnabar_version:",
        "redis_mode:standalone",
        "process_id:",
        &format!("tcp_port:{}", server.port),
        "uptime_in_seconds:",
        "connected_clients:1",
        "used_memory:",
        "used_memory_human:",
        "used_memory_rss:",
        "used_memory_peak:",
        "maxmemory:0",
        "maxmemory_human:0B",
        "maxmemory_policy:noeviction",
        "mem_fragmentation_ratio:",
        "total_connections_received:",
        "total_commands_processed:",
        "instantaneous_ops_per_sec:",
        "keyspace_hits:1",
        "keyspace_misses:1",
        "expired_keys:0",
        "evicted_keys:0",
        "role:master",
        "cluster_enabled:0",
        "db0:keys=1,expires=0,avg_ttl=0",
        "# Errorstats",
    ] {
        assert!(info.contains(field), "INFO lacks {field}");
    }
    assert!(!info.contains("# Commandstats"));
    let stats = c.cmd_str("INFO commandstats").text();
    assert!(stats.contains("cmdstat_get:calls=2,usec="), "{stats}");
    assert!(stats.contains("rejected_calls=0,failed_calls=0"), "{stats}");
    let two = c.cmd_str("INFO server clients").text();
    assert!(two.contains("# Server") && two.contains("# Clients") && !two.contains("# Memory"));
    c.cmd_str("FLUSHALL");
    assert!(!c.cmd_str("INFO keyspace").text().contains("db0:"));
}

#[test]
fn command_introspection() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let Resp::Int(count) = c.cmd_str("COMMAND COUNT") else {
        panic!()
    };
    assert!(count > 60);
    let Resp::Array(all) = c.cmd_str("COMMAND") else {
        panic!()
    };
    assert_eq!(all.len() as i64, count);
    let Resp::Array(info) = c.cmd_str("COMMAND INFO get mset nosuch") else {
        panic!()
    };
    let Resp::Array(get) = &info[0] else { panic!() };
    assert_eq!(get[0], bulk("get"));
    assert_eq!(get[1], Resp::Int(2));
    assert_eq!(&get[3..6], &[Resp::Int(1), Resp::Int(1), Resp::Int(1)]);
    let Resp::Array(flags) = &get[2] else {
        panic!()
    };
    assert!(flags.contains(&simple("readonly")) && flags.contains(&simple("fast")));
    let Resp::Array(mset) = &info[1] else {
        panic!()
    };
    assert_eq!(&mset[1..2], &[Resp::Int(-3)]);
    assert_eq!(&mset[3..6], &[Resp::Int(1), Resp::Int(-1), Resp::Int(2)]);
    assert_eq!(info[2], Resp::Nil);
    assert_eq!(
        c.cmd_str("COMMAND GETKEYS MSET a 1 b 2"),
        Resp::Array(vec![bulk("a"), bulk("b")])
    );
    assert_eq!(
        c.cmd_str("COMMAND GETKEYS OBJECT ENCODING k"),
        Resp::Array(vec![bulk("k")])
    );
    assert_eq!(
        c.cmd_str("COMMAND GETKEYS PING"),
        error("ERR The command has no key arguments")
    );
    assert_eq!(
        c.cmd_str("COMMAND GETKEYS NOSUCH a"),
        error("ERR Invalid command specified")
    );
    assert_eq!(
        c.cmd_str("COMMAND GETKEYS GET"),
        error("ERR Invalid number of arguments specified for command")
    );
    let Resp::Array(docs) = c.cmd_str("COMMAND DOCS get") else {
        panic!()
    };
    assert_eq!(docs[0], bulk("get"));
    let Resp::Array(list) = c.cmd_str("COMMAND LIST FILTERBY PATTERN client*") else {
        panic!()
    };
    assert!(list.contains(&bulk("client|list")));
}

#[test]
fn slowlog_and_latency() {
    let server = TestServer::start(&[
        "--slowlog-log-slower-than",
        "0",
        "--latency-monitor-threshold",
        "1",
    ]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("SLOWLOG RESET"), simple("OK"));
    c.cmd_str("SET slow 1");
    let Resp::Array(entries) = c.cmd_str("SLOWLOG GET 1") else {
        panic!()
    };
    let Resp::Array(e) = &entries[0] else {
        panic!()
    };
    assert_eq!(
        e[3],
        Resp::Array(vec![bulk("SET"), bulk("slow"), bulk("1")])
    );
    assert!(matches!(c.cmd_str("SLOWLOG LEN"), Resp::Int(n) if n >= 1));
    assert_eq!(c.cmd_str("DEBUG SLEEP 0.02"), simple("OK"));
    let Resp::Array(latest) = c.cmd_str("LATENCY LATEST") else {
        panic!()
    };
    assert!(!latest.is_empty());
    let Resp::Array(hist) = c.cmd_str("LATENCY HISTORY command") else {
        panic!()
    };
    assert!(!hist.is_empty());
    assert!(matches!(c.cmd_str("LATENCY RESET"), Resp::Int(n) if n >= 1));
    assert_eq!(c.cmd_str("LATENCY LATEST"), Resp::Array(vec![]));
}

#[test]
fn debug_is_gated_and_populates() {
    let dir = temp_dir("dbg");
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("DEBUG POPULATE 1000"), simple("OK"));
    assert_eq!(c.cmd_str("DBSIZE"), Resp::Int(1000));
    assert_eq!(c.cmd_str("GET key:7"), bulk("value:7"));
    assert_eq!(c.cmd_str("DEBUG SOMETHING-ELSE"), simple("OK"));
    assert!(matches!(c.cmd_str("MEMORY USAGE key:7"), Resp::Int(n) if n > 0));
    assert_eq!(c.cmd_str("MEMORY USAGE nope"), Resp::Nil);
    let _ = std::fs::remove_dir_all(dir);
    // Without enable-debug-command, DEBUG is refused.
    let locked = TestServer::start(&["--enable-debug-command", "no"]);
    assert!(matches!(
        locked.raw().cmd_str("DEBUG SLEEP 0"),
        Resp::Error(e) if e.starts_with("ERR DEBUG command not allowed")
    ));
    let Resp::Array(t) = c.cmd_str("TIME") else {
        panic!()
    };
    assert_eq!(t.len(), 2);
}

#[test]
fn maxmemory_evicts_under_allkeys_lru_and_refuses_under_noeviction() {
    let server = TestServer::start(&["--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = server.raw();
    let value = vec![b'v'; 1000];
    for chunk in 0..300 {
        let mut batch = Vec::new();
        for i in chunk * 100..(chunk + 1) * 100 {
            batch.extend(encode(&[b"SET", format!("k{i}").as_bytes(), &value]));
        }
        c.send(&batch);
        for _ in 0..100 {
            assert_eq!(c.read(), simple("OK"));
        }
    }
    assert!(c.info_field("evicted_keys") > 10_000);
    let used = c.info_field("used_memory");
    assert!(
        used < 12 * 1024 * 1024,
        "used_memory {used} far above maxmemory"
    );
    let Resp::Int(keys) = c.cmd_str("DBSIZE") else {
        panic!()
    };
    assert!(keys > 1000 && keys < 30_000, "{keys} keys");
    // noeviction: writes that grow memory get OOM once over the limit; reads still work.
    assert_eq!(
        c.cmd_str("CONFIG SET maxmemory-policy noeviction"),
        simple("OK")
    );
    let mut oom = false;
    for i in 0..30_000 {
        match c.cmd(&[b"SET", format!("n{i}").as_bytes(), &value]) {
            Resp::Error(e) => {
                assert_eq!(e, "OOM command not allowed when used memory > 'maxmemory'.");
                oom = true;
                break;
            }
            _ => continue,
        }
    }
    assert!(oom, "no OOM under noeviction");
    assert!(matches!(c.cmd_str("GET k29999"), Resp::Bulk(_) | Resp::Nil));
    assert!(matches!(c.cmd_str("DEL k29999"), Resp::Int(_)));
}
