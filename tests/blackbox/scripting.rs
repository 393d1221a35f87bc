//! Lua scripting: EVAL / EVALSHA / SCRIPT, FUNCTION / FCALL, conversions, errors, the
//! sandbox, busy scripts, atomicity, replication of effects, cluster mode.

use std::time::Duration;

use crate::harness::*;

fn eval(c: &mut RawConn, script: &str, keys: &[&str], args: &[&str]) -> Resp {
    let n = keys.len().to_string();
    let mut cmd: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), n.as_bytes()];
    cmd.extend(keys.iter().map(|k| k.as_bytes()));
    cmd.extend(args.iter().map(|a| a.as_bytes()));
    c.cmd(&cmd)
}

/// Sends `line` on a new connection and returns the connection and reply if the reply comes
/// within a second (a connection that landed on a worker stuck in a script does not answer;
/// it is left behind).
fn try_new_connection(port: u16, line: &str) -> Option<(RawConn, Resp)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let line = line.to_string();
    std::thread::spawn(move || {
        let mut c = RawConn::connect(port);
        let reply = c.cmd_str(&line);
        let _ = tx.send((c, reply));
    });
    rx.recv_timeout(Duration::from_secs(1)).ok()
}

/// Every string in a reply, nested ones included, joined by spaces.
fn flat(r: &Resp) -> String {
    match r {
        Resp::Array(v) | Resp::Set(v) | Resp::Push(v) => {
            v.iter().map(flat).collect::<Vec<_>>().join(" ")
        }
        Resp::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{} {}", flat(k), flat(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.text(),
    }
}

fn err_text(r: Resp) -> String {
    match r {
        Resp::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn lua_to_resp_conversions_in_both_protocols() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(eval(&mut c, "return 42", &[], &[]), Resp::Int(42));
    assert_eq!(eval(&mut c, "return 3.99", &[], &[]), Resp::Int(3));
    assert_eq!(eval(&mut c, "return -2.5", &[], &[]), Resp::Int(-2));
    assert_eq!(eval(&mut c, "return 'hi'", &[], &[]), bulk("hi"));
    assert_eq!(eval(&mut c, "return true", &[], &[]), Resp::Int(1));
    assert_eq!(eval(&mut c, "return false", &[], &[]), Resp::Nil);
    assert_eq!(eval(&mut c, "return nil", &[], &[]), Resp::Nil);
    assert_eq!(
        eval(&mut c, "return {1, 'two', {3, 'four'}, nil, 5}", &[], &[]),
        Resp::Array(vec![
            Resp::Int(1),
            bulk("two"),
            Resp::Array(vec![Resp::Int(3), bulk("four")])
        ])
    );
    assert_eq!(eval(&mut c, "return {ok='FINE'}", &[], &[]), simple("FINE"));
    assert_eq!(
        eval(&mut c, "return redis.status_reply('DONE')", &[], &[]),
        simple("DONE")
    );
    assert_eq!(
        eval(&mut c, "return {err='MYERR custom'}", &[], &[]),
        error("MYERR custom")
    );
    assert_eq!(
        eval(
            &mut c,
            "return redis.error_reply('OOPS it failed')",
            &[],
            &[]
        ),
        error("OOPS it failed")
    );
    assert_eq!(
        eval(
            &mut c,
            "return {KEYS[1], ARGV[1], ARGV[2]}",
            &["k"],
            &["a", "b"]
        ),
        Resp::Array(vec![bulk("k"), bulk("a"), bulk("b")])
    );
    // RESP → Lua: replies of redis.call come back as Lua values and out again.
    c.cmd_str("RPUSH l a b");
    c.cmd_str("SET n 7");
    assert_eq!(
        eval(
            &mut c,
            "return {redis.call('lrange', KEYS[1], 0, -1), redis.call('get', 'n') + 1, type(redis.call('get', 'missing'))}",
            &["l"],
            &[]
        ),
        Resp::Array(vec![
            Resp::Array(vec![bulk("a"), bulk("b")]),
            Resp::Int(8),
            bulk("boolean")
        ])
    );
    assert_eq!(
        eval(&mut c, "return redis.call('set', 'x', 1).ok", &[], &[]),
        bulk("OK")
    );
    // RESP3: the client gets booleans, maps and doubles; the script asks for RESP3 replies.
    assert!(matches!(c.cmd_str("HELLO 3"), Resp::Map(_)));
    c.cmd_str("HSET h f v");
    assert_eq!(eval(&mut c, "return true", &[], &[]), Resp::Bool(true));
    assert_eq!(eval(&mut c, "return false", &[], &[]), Resp::Bool(false));
    assert_eq!(
        eval(&mut c, "return {double=3.5}", &[], &[]),
        Resp::Double("3.5".into())
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3); local m = redis.call('hgetall', KEYS[1]); return {map={f=m.map.f}}",
            &["h"],
            &[]
        ),
        Resp::Map(vec![(bulk("f"), bulk("v"))])
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3); return redis.call('get', 'missing') == nil",
            &[],
            &[]
        ),
        Resp::Bool(true)
    );
}

#[test]
fn call_raises_pcall_returns_and_errors_are_clear() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str("SET s notanumber");
    let e = err_text(eval(&mut c, "return redis.call('incr', 's')", &[], &[]));
    assert!(e.starts_with("ERR value is not an integer"), "{e}");
    // pcall hands the error to the script as a table.
    assert_eq!(
        eval(
            &mut c,
            "local r = redis.pcall('incr', 's'); return r.err",
            &[],
            &[]
        ),
        bulk("ERR value is not an integer or out of range")
    );
    c.cmd_str("RPUSH list x");
    let e = err_text(eval(&mut c, "return redis.call('get', 'list')", &[], &[]));
    assert!(e.starts_with("WRONGTYPE"), "{e}");
    let e = err_text(eval(&mut c, "return redis.call('nosuch')", &[], &[]));
    assert!(
        e.contains("Unknown Redis command called from script"),
        "{e}"
    );
    let e = err_text(eval(&mut c, "return redis.call('get')", &[], &[]));
    assert!(e.contains("Wrong number of args"), "{e}");
    let e = err_text(eval(&mut c, "return redis.call()", &[], &[]));
    assert!(e.contains("at least one argument"), "{e}");
    let e = err_text(eval(&mut c, "return redis.call('get', {})", &[], &[]));
    assert!(e.contains("must be strings or integers"), "{e}");
    let e = err_text(eval(
        &mut c,
        "return redis.call('eval', 'return 1', 0)",
        &[],
        &[],
    ));
    assert!(e.contains("not allowed from script"), "{e}");
    let e = err_text(eval(&mut c, "error('boom')", &[], &[]));
    assert!(e.starts_with("ERR user_script:1: boom"), "{e}");
    let e = err_text(eval(&mut c, "return +", &[], &[]));
    assert!(e.starts_with("ERR Error compiling script"), "{e}");
    let e = err_text(c.cmd(&[b"EVAL", b"return 1", b"-1"]));
    assert!(e.contains("can't be negative"), "{e}");
    let e = err_text(c.cmd(&[b"EVAL", b"return 1", b"3", b"a"]));
    assert!(e.contains("greater than number of args"), "{e}");
    let e = err_text(c.cmd(&[b"EVAL_RO", b"return redis.call('set', 'a', 'b')", b"0"]));
    assert!(
        e.contains("Write commands are not allowed from read-only scripts"),
        "{e}"
    );
    let e = err_text(c.cmd(&[
        b"EVAL",
        b"#!lua flags=no-writes\nreturn redis.call('set', 'a', 'b')",
        b"0",
    ]));
    assert!(e.contains("Write commands are not allowed"), "{e}");
    // A failed script leaves the connection usable.
    assert_eq!(c.cmd_str("PING"), simple("PONG"));
}

#[test]
fn sandbox_refuses_escapes_and_new_globals() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    for script in [
        "return os.time()",
        "return io.open('/etc/passwd')",
        "return require('os')",
        "return loadstring('return 1')()",
        "return dofile('/etc/passwd')",
        "return loadfile('/etc/passwd')",
        "return setfenv(1, {})",
    ] {
        let e = err_text(eval(&mut c, script, &[], &[]));
        assert!(
            e.contains("Script attempted to access nonexistent global variable"),
            "{script}: {e}"
        );
    }
    let e = err_text(eval(&mut c, "leak = 1", &[], &[]));
    assert!(
        e.contains("Script attempted to create global variable 'leak'"),
        "{e}"
    );
    let e = err_text(eval(&mut c, "function f() end", &[], &[]));
    assert!(
        e.contains("Script attempted to create global variable 'f'"),
        "{e}"
    );
    // Hostile values get errors or truncated replies, never a crash.
    for script in [
        "local t = {} t[1] = t return t",
        "local t = {} t.map = t return t",
        "local t = {} t[1] = t return cjson.encode(t)",
        "return cjson.decode(string.rep('[', 100000))",
        "local function f() return f() + 1 end return f()",
        "return redis.call('get', string.rep('x', 100000))",
    ] {
        eval(&mut c, script, &[], &[]);
        assert_eq!(c.cmd_str("PING"), simple("PONG"), "after {script}");
    }
    // Locals are fine, and the libraries scripts use are there.
    assert_eq!(
        eval(
            &mut c,
            "local t = cjson.decode(ARGV[1]); return {cjson.encode({n=t.n}), bit.band(t.n, 6), bit.tohex(255, 2), redis.sha1hex('')}",
            &[],
            &["{\"n\":7}"]
        ),
        Resp::Array(vec![
            bulk("{\"n\":7}"),
            Resp::Int(6),
            bulk("ff"),
            bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709")
        ])
    );
    assert_eq!(
        eval(
            &mut c,
            "return string.format('%d-%s', 5, table.concat({'a','b'}, ','))",
            &[],
            &[]
        ),
        bulk("5-a,b")
    );
}

#[test]
fn evalsha_script_cache_and_flush() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let body = "return redis.call('incrby', KEYS[1], ARGV[1])";
    let Resp::Bulk(sha) = c.cmd(&[b"SCRIPT", b"LOAD", body.as_bytes()]) else {
        panic!()
    };
    assert_eq!(sha.len(), 40);
    assert_eq!(
        c.cmd(&[b"EVALSHA", sha.as_slice(), b"1", b"k", b"5"]),
        Resp::Int(5)
    );
    assert_eq!(
        c.cmd(&[
            b"EVALSHA",
            sha.to_ascii_uppercase().as_slice(),
            b"1",
            b"k",
            b"5"
        ]),
        Resp::Int(10)
    );
    assert_eq!(
        c.cmd(&[
            b"SCRIPT",
            b"EXISTS",
            sha.as_slice(),
            b"ffffffffffffffffffffffffffffffffffffffff"
        ]),
        Resp::Array(vec![Resp::Int(1), Resp::Int(0)])
    );
    // EVAL caches too.
    eval(&mut c, "return 'cached'", &[], &[]);
    assert!(c
        .cmd_str("INFO memory")
        .text()
        .contains("number_of_cached_scripts:2\r\n"));
    assert_eq!(c.cmd_str("SCRIPT FLUSH"), simple("OK"));
    assert!(c
        .cmd_str("INFO memory")
        .text()
        .contains("number_of_cached_scripts:0\r\n"));
    assert_eq!(
        c.cmd(&[b"EVALSHA", sha.as_slice(), b"1", b"k", b"5"]),
        error("NOSCRIPT No matching script. Please use EVAL.")
    );
    let e = err_text(c.cmd(&[b"SCRIPT", b"LOAD", b"return +"]));
    assert!(e.starts_with("ERR Error compiling script"), "{e}");
    // A second connection (maybe another worker thread) sees the same cache.
    let Resp::Bulk(sha) = c.cmd(&[b"SCRIPT", b"LOAD", b"return 'x'"]) else {
        panic!()
    };
    let mut other = server.raw();
    assert_eq!(other.cmd(&[b"EVALSHA", sha.as_slice(), b"0"]), bulk("x"));
}

#[test]
fn busy_script_gets_busy_replies_and_script_kill() {
    let server = TestServer::start(&["--busy-reply-threshold", "100"]);
    let mut runner = server.raw();
    runner.send(&encode(&[
        b"EVAL",
        b"local i = 0 while true do i = i + 1 end",
        b"0",
    ]));
    // New connections go to a worker that is not stuck in the script.
    let mut other =
        wait_for(
            "the script to be busy",
            Duration::from_secs(10),
            || match try_new_connection(server.port, "GET k")? {
                (c, Resp::Error(e)) if e.starts_with("BUSY ") => Some(c),
                _ => None,
            },
        );
    let Resp::Error(e) = other.cmd_str("SET k v") else {
        panic!()
    };
    assert!(e.contains("SCRIPT KILL"), "{e}");
    assert!(flat(&other.cmd_str("FUNCTION STATS")).contains("running_script"));
    assert_eq!(other.cmd_str("SCRIPT KILL"), simple("OK"));
    let e = err_text(runner.read());
    assert!(e.contains("Script killed by user with SCRIPT KILL"), "{e}");
    assert_eq!(runner.cmd_str("PING"), simple("PONG"));
    wait_for("the server to serve again", Duration::from_secs(5), || {
        (other.cmd_str("SET k v") == simple("OK")).then_some(())
    });
    assert_eq!(
        other.cmd_str("SCRIPT KILL"),
        error("NOTBUSY No scripts in execution right now.")
    );
    // A script that wrote cannot be killed; it ends by itself.
    runner.send(&encode(&[
        b"EVAL",
        b"redis.call('set', 'w', 1) local t = redis.call('time')[1] + 0 while redis.call('time')[1] + 0 < t + 2 do end return 'done'",
        b"0",
    ]));
    let mut watcher = wait_for(
        "the writing script to be busy",
        Duration::from_secs(10),
        || match try_new_connection(server.port, "PING")? {
            (c, Resp::Error(e)) if e.starts_with("BUSY ") => Some(c),
            _ => None,
        },
    );
    let e = err_text(watcher.cmd_str("SCRIPT KILL"));
    assert!(e.starts_with("UNKILLABLE"), "{e}");
    assert_eq!(runner.read(), bulk("done"));
}

#[test]
fn a_script_is_atomic_for_other_clients() {
    let server = TestServer::start(&[]);
    let port = server.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A reader checks that it never sees one key moved without the other.
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = RawConn::connect(port);
            let mut checks = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Resp::Array(v) = c.cmd_str("MGET {a}x {a}y") else {
                    panic!()
                };
                let n = |r: &Resp| match r {
                    Resp::Bulk(s) => String::from_utf8_lossy(s).parse::<i64>().unwrap(),
                    _ => 0,
                };
                assert_eq!(n(&v[0]) + n(&v[1]), 0, "saw a half-run script");
                checks += 1;
            }
            checks
        })
    };
    let mut c = server.raw();
    for _ in 0..2000 {
        let r = eval(
            &mut c,
            "redis.call('incr', KEYS[1]) for i = 1, 200 do end redis.call('decr', KEYS[2]) return 1",
            &["{a}x", "{a}y"],
            &[],
        );
        assert_eq!(r, Resp::Int(1));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(c.cmd_str("GET {a}x"), bulk("2000"));
}

#[test]
fn functions_load_call_list_dump_restore() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let lib = "#!lua name=feed\n\
        local function like(keys, args)\n\
          local n = redis.call('INCR', keys[1])\n\
          redis.call('SADD', keys[2], args[1])\n\
          return n\n\
        end\n\
        redis.register_function('like', like)\n\
        redis.register_function{function_name='likes', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}, description='reads'}\n";
    assert_eq!(c.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]), bulk("feed"));
    let e = err_text(c.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]));
    assert!(e.contains("Library 'feed' already exists"), "{e}");
    assert_eq!(
        c.cmd(&[b"FUNCTION", b"LOAD", b"REPLACE", lib.as_bytes()]),
        bulk("feed")
    );
    assert_eq!(c.cmd_str("FCALL like 2 {p}c {p}u alice"), Resp::Int(1));
    assert_eq!(c.cmd_str("FCALL like 2 {p}c {p}u bob"), Resp::Int(2));
    assert_eq!(c.cmd_str("FCALL_RO likes 1 {p}c"), bulk("2"));
    let e = err_text(c.cmd_str("FCALL_RO like 2 {p}c {p}u carol"));
    assert!(e.contains("write flag"), "{e}");
    assert_eq!(c.cmd_str("FCALL nope 0"), error("ERR Function not found"));
    let e = err_text(c.cmd(&[b"FUNCTION", b"LOAD", b"return 1"]));
    assert!(e.contains("Missing library metadata"), "{e}");
    let e = err_text(c.cmd(&[b"FUNCTION", b"LOAD", b"#!lua name=empty\nlocal x = 1"]));
    assert!(e.contains("No functions registered"), "{e}");
    let e = err_text(c.cmd(&[
        b"FUNCTION",
        b"LOAD",
        b"#!lua name=other\nredis.register_function('like', function() return 1 end)",
    ]));
    assert!(e.contains("Function like already exists"), "{e}");
    let list = flat(&c.cmd_str("FUNCTION LIST WITHCODE"));
    for part in [
        "feed",
        "like",
        "likes",
        "no-writes",
        "reads",
        "library_code",
        "LUA",
    ] {
        assert!(list.contains(part), "FUNCTION LIST lacks {part}: {list}");
    }
    // DUMP on one server, RESTORE on another (what redis-cli --cluster add-node does).
    let dump: Vec<u8> = redis::cmd("FUNCTION")
        .arg("DUMP")
        .query(&mut server.client())
        .expect("FUNCTION DUMP");
    let target = TestServer::start(&[]);
    let mut t = target.raw();
    assert_eq!(t.cmd(&[b"FUNCTION", b"RESTORE", &dump]), simple("OK"));
    assert_eq!(t.cmd_str("FCALL like 2 {p}c {p}u x"), Resp::Int(1));
    let e = err_text(t.cmd(&[b"FUNCTION", b"RESTORE", &dump]));
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(
        t.cmd(&[b"FUNCTION", b"RESTORE", &dump, b"REPLACE"]),
        simple("OK")
    );
    assert_eq!(t.cmd_str("FUNCTION DELETE feed"), simple("OK"));
    assert_eq!(
        t.cmd_str("FUNCTION DELETE feed"),
        error("ERR Library not found")
    );
    assert_eq!(t.cmd_str("FCALL like 0"), error("ERR Function not found"));
    assert_eq!(c.cmd_str("FUNCTION FLUSH"), simple("OK"));
    assert_eq!(c.cmd_str("FUNCTION LIST"), Resp::Array(vec![]));
}

#[test]
fn scripts_reach_replicas_and_the_aof_as_effects() {
    let mut primary = TestServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let port = primary.port.to_string();
    let replica = TestServer::start(&["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.raw();
    wait_link_up(&replica);
    // Non-deterministic: which member SPOP takes. The replica must get the same result.
    p.cmd_str("SADD {x}pool a b c d e f g h");
    let Resp::Bulk(popped) = eval(
        &mut p,
        "local m = redis.call('spop', KEYS[1]) redis.call('set', KEYS[2], m) return m",
        &["{x}pool", "{x}chosen"],
        &[],
    ) else {
        panic!("eval failed")
    };
    let lib = "#!lua name=counter\nredis.register_function('bump', function(keys) return redis.call('INCR', keys[1]) end)";
    assert_eq!(
        p.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]),
        bulk("counter")
    );
    assert_eq!(p.cmd_str("FCALL bump 1 hits"), Resp::Int(1));
    assert_eq!(p.cmd_str("WAIT 1 5000"), Resp::Int(1));
    let mut r = replica.raw();
    assert_eq!(r.cmd_str("GET {x}chosen"), Resp::Bulk(popped.clone()));
    assert_eq!(r.cmd_str("SCARD {x}pool"), Resp::Int(7));
    assert_eq!(
        r.cmd(&[b"SISMEMBER", b"{x}pool", popped.as_slice()]),
        Resp::Int(0)
    );
    assert_eq!(r.cmd_str("GET hits"), bulk("1"));
    assert!(flat(&r.cmd_str("FUNCTION LIST")).contains("counter"));
    // The AOF replays the effects (and the library) after a crash.
    primary.kill();
    primary.restart(&["--appendonly", "yes"]);
    let mut p = primary.raw();
    assert_eq!(p.cmd_str("GET {x}chosen"), Resp::Bulk(popped.clone()));
    assert_eq!(p.cmd_str("SCARD {x}pool"), Resp::Int(7));
    assert_eq!(p.cmd_str("FCALL bump 1 hits"), Resp::Int(2));
}

#[test]
fn cluster_scripts_stay_in_one_slot_and_the_seed_like_script_counts_right() {
    let cluster = TestCluster::start(3, 1, &[]);
    let port = cluster.nodes[0].port.to_string();
    let out = run_python("like_script.py", &[&port, "--cluster"]);
    assert!(out.contains("ok 900 likes"), "{out}");
    // Keys in two slots: CROSSSLOT before the script runs; an undeclared key in another
    // slot is refused inside it.
    let mut c = cluster.nodes[0].raw();
    let owner_of = |key: &str| -> usize {
        (0..3)
            .find(|&i| {
                !matches!(cluster.nodes[i].raw().cmd(&[b"GET", key.as_bytes()]), Resp::Error(e) if e.starts_with("MOVED"))
            })
            .expect("some primary owns the key")
    };
    let node = owner_of("{post:1}:a");
    let mut c2 = cluster.nodes[node].raw();
    let e = err_text(eval(
        &mut c2,
        "return 1",
        &["{post:1}:a", "{post:2}:b"],
        &[],
    ));
    assert!(e.starts_with("CROSSSLOT"), "{e}");
    let e = err_text(eval(
        &mut c2,
        "return redis.call('get', '{post:2}:b')",
        &["{post:1}:a"],
        &[],
    ));
    assert!(e.contains("do not hash to the same slot"), "{e}");
    assert_eq!(c.cmd_str("PING"), simple("PONG"));
}

#[test]
fn shutdown_nosave_stops_a_server_stuck_in_an_unkillable_script() {
    let mut server = TestServer::start(&["--busy-reply-threshold", "100"]);
    let mut runner = server.raw();
    runner.send(&encode(&[
        b"EVAL",
        b"redis.call('set', 'w', 1) while true do end",
        b"0",
    ]));
    let mut other =
        wait_for(
            "the script to be busy",
            Duration::from_secs(10),
            || match try_new_connection(server.port, "PING")? {
                (c, Resp::Error(e)) if e.starts_with("BUSY ") => Some(c),
                _ => None,
            },
        );
    assert!(err_text(other.cmd_str("SCRIPT KILL")).starts_with("UNKILLABLE"));
    other.send(b"SHUTDOWN NOSAVE\r\n");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}
