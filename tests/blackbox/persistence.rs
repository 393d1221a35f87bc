//! The append-only file: crash safety with appendfsync always, rewrites, torn and damaged
//! files, check-aof.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::*;

/// Writes `SET w:<i> <i>` (i counting up from `first`) on several connections until `stop`;
/// returns the acknowledged numbers and counts them in `acked_count` as they come.
fn write_until(
    port: u16,
    first: u64,
    stop: Arc<AtomicBool>,
    acked_count: Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<Vec<u64>>> {
    (0..4u64)
        .map(|t| {
            let stop = stop.clone();
            let acked_count = acked_count.clone();
            std::thread::spawn(move || {
                let mut c = RawConn::connect(port);
                let mut acked = Vec::new();
                let mut i = first + t;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w:{i}");
                    if c.stream
                        .write_all(&encode(&[b"SET", key.as_bytes(), i.to_string().as_bytes()]))
                        .is_err()
                    {
                        break;
                    }
                    let mut buf = [0u8; 5];
                    match std::io::Read::read_exact(&mut c.stream, &mut buf) {
                        Ok(()) if &buf == b"+OK\r\n" => {
                            acked.push(i);
                            acked_count.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => break,
                    }
                    i += 4;
                }
                acked
            })
        })
        .collect()
}

#[test]
fn sigkill_with_appendfsync_always_loses_no_acknowledged_write() {
    let mut server = TestServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut all_acked: Vec<u64> = Vec::new();
    for round in 0..5u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let acked_count = Arc::new(AtomicU64::new(0));
        // Each round writes fresh keys, so a write lost now is not hidden by an older one.
        let writers = write_until(
            server.port,
            round * 1_000_000_000,
            stop.clone(),
            acked_count.clone(),
        );
        // Kill mid-stream once enough writes are acknowledged, at a varying moment.
        wait_for("acknowledged writes", Duration::from_secs(20), || {
            (acked_count.load(Ordering::Relaxed) >= 40 + round * 13).then_some(())
        });
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            all_acked.extend(w.join().unwrap());
        }
        server.restart(&["--appendonly", "yes", "--appendfsync", "always"]);
        let mut c = server.raw();
        let mut batch = Vec::new();
        for i in &all_acked {
            batch.extend(encode(&[b"EXISTS", format!("w:{i}").as_bytes()]));
        }
        c.send(&batch);
        let missing = all_acked
            .iter()
            .filter(|_| c.read() != Resp::Int(1))
            .count();
        assert_eq!(
            missing,
            0,
            "round {round}: {missing} of {} acknowledged writes lost",
            all_acked.len()
        );
    }
    assert!(
        all_acked.len() > 100,
        "too few writes to mean anything: {}",
        all_acked.len()
    );
}

#[test]
fn rewrite_under_load_loses_nothing_and_shrinks_the_file() {
    let mut server = TestServer::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let mut c = server.raw();
    // Many overwrites of few keys: the rewrite must be much smaller than the log.
    let mut batch = Vec::new();
    for i in 0..20_000 {
        batch.extend(encode(&[
            b"SET",
            format!("k{}", i % 100).as_bytes(),
            i.to_string().as_bytes(),
        ]));
    }
    c.send(&batch);
    for _ in 0..20_000 {
        c.read();
    }
    let size = |c: &mut RawConn| -> u64 {
        c.cmd_str("INFO persistence")
            .text()
            .lines()
            .find_map(|l| l.strip_prefix("aof_current_size:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    wait_for("the AOF to be written", Duration::from_secs(5), || {
        (size(&mut c) > 100_000).then_some(())
    });
    let before = size(&mut c);
    let stop = Arc::new(AtomicBool::new(false));
    let acked_count = Arc::new(AtomicU64::new(0));
    let writers = write_until(server.port, 0, stop.clone(), acked_count.clone());
    wait_for("writes under way", Duration::from_secs(10), || {
        (acked_count.load(Ordering::Relaxed) >= 100).then_some(())
    });
    assert_eq!(
        c.cmd_str("BGREWRITEAOF"),
        simple("Background append only file rewriting started")
    );
    wait_for("the rewrite to finish", Duration::from_secs(20), || {
        c.cmd_str("INFO persistence")
            .text()
            .contains("aof_rewrites:1")
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(size(&mut c) < before, "rewrite did not shrink the AOF");
    // Restart from the rewritten AOF (SIGTERM flushes it).
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    server.restart(&["--appendonly", "yes"]);
    let mut c = server.raw();
    for i in &acked {
        assert_eq!(
            c.cmd(&[b"GET", format!("w:{i}").as_bytes()]),
            bulk(&i.to_string())
        );
    }
    assert_eq!(c.cmd_str("GET k99"), bulk("19999"));
}

#[test]
fn torn_tail_loads_damaged_middle_is_refused_and_check_aof_fixes() {
    let mut server = TestServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = server.raw();
    for i in 0..10 {
        c.cmd(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    let dir = server.dir.join("appendonlydir");
    let incr = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .unwrap();
    let good = std::fs::read(&incr).unwrap();
    // A torn tail: half a command at the end.
    let mut torn = good.clone();
    torn.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$2\r\nk");
    std::fs::write(&incr, &torn).unwrap();
    server.restart(&["--appendonly", "yes"]);
    assert_eq!(server.raw().cmd_str("DBSIZE"), Resp::Int(10));
    assert!(server.log().contains("truncating"), "{}", server.log());
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(10));
    // Damage in the middle: start-up stops with the file, offset and reason.
    let mut damaged = good.clone();
    damaged[4] = b'!';
    std::fs::write(&incr, &damaged).unwrap();
    let mut child = std::process::Command::new(binary())
        .args([
            "--port",
            &free_port().to_string(),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
        ])
        .args(["--dir", server.dir.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for("start-up to be refused", Duration::from_secs(10), || {
        child.try_wait().unwrap()
    });
    if status.success() {
        let _ = child.kill();
    }
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("Bad file format") && err.contains("at offset"),
        "{err}"
    );
    // check-aof reports, then repairs by truncating at the damage.
    let check = std::process::Command::new(binary())
        .args(["check-aof", incr.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stdout).contains("is not valid"));
    let fix = std::process::Command::new(binary())
        .args(["check-aof", "--fix", incr.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        fix.status.success(),
        "{}",
        String::from_utf8_lossy(&fix.stdout)
    );
    server.restart(&["--appendonly", "yes"]);
    assert!(matches!(server.raw().cmd_str("DBSIZE"), Resp::Int(n) if n < 10));
}

#[test]
fn cluster_node_restarted_from_aof_keeps_data_and_identity() {
    let bus = free_port().to_string();
    let mut node = TestServer::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        &bus,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let mut c = node.raw();
    assert_eq!(c.cmd_str("CLUSTER ADDSLOTSRANGE 0 16383"), simple("OK"));
    let Resp::Bulk(id) = c.cmd_str("CLUSTER MYID") else {
        panic!()
    };
    wait_for("cluster ok", Duration::from_secs(10), || {
        c.cmd_str("CLUSTER INFO")
            .text()
            .contains("cluster_state:ok")
            .then_some(())
    });
    c.cmd_str("SET {user:alice}:profile hi");
    node.kill();
    node.restart(&[
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        &bus,
        "--appendonly",
        "yes",
    ]);
    let mut c = node.raw();
    assert_eq!(c.cmd_str("CLUSTER MYID"), Resp::Bulk(id));
    wait_for("cluster ok", Duration::from_secs(10), || {
        c.cmd_str("CLUSTER INFO")
            .text()
            .contains("cluster_state:ok")
            .then_some(())
    });
    assert_eq!(c.cmd_str("GET {user:alice}:profile"), bulk("hi"));
}

#[test]
fn relative_expiries_are_logged_as_absolute_times() {
    let mut server = TestServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("SET short v PX 400"), simple("OK"));
    assert_eq!(c.cmd_str("SETEX long 1000 v"), simple("OK"));
    assert_eq!(c.cmd_str("SET other v"), simple("OK"));
    assert_eq!(c.cmd_str("PEXPIRE other 400"), Resp::Int(1));
    let written = std::time::Instant::now();
    server.kill();
    // Restart once the short expiries have passed: a replay must not give them new life.
    wait_for("the expiry time to pass", Duration::from_secs(5), || {
        (written.elapsed() > Duration::from_millis(600)).then_some(())
    });
    server.restart(&["--appendonly", "yes"]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("EXISTS short other"), Resp::Int(0));
    assert!(matches!(c.cmd_str("TTL long"), Resp::Int(t) if t > 990 && t <= 1000));
}

#[test]
fn save_bgsave_and_the_snapshot_loaded_at_start_up() {
    let mut server = TestServer::start(&["--save", "", "--appendonly", "no"]);
    let mut c = server.raw();
    c.cmd_str("RPUSH list a b c");
    c.cmd_str("SET ttl v EX 1000");
    c.cmd_str("HSET h f v");
    let lib = "#!lua name=lib\nredis.register_function('one', function() return 1 end)";
    assert_eq!(c.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]), bulk("lib"));
    let field = |c: &mut RawConn, name: &str| -> String {
        c.cmd_str("INFO persistence")
            .text()
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    assert_eq!(field(&mut c, "rdb_changes_since_last_save"), "4");
    let Resp::Int(before) = c.cmd_str("LASTSAVE") else {
        panic!()
    };
    assert_eq!(c.cmd_str("SAVE"), simple("OK"));
    assert_eq!(field(&mut c, "rdb_changes_since_last_save"), "0");
    assert!(matches!(c.cmd_str("LASTSAVE"), Resp::Int(t) if t >= before));
    c.cmd_str("SET after-save 1");
    assert_eq!(c.cmd_str("BGSAVE"), simple("Background saving started"));
    wait_for("the background save", Duration::from_secs(10), || {
        (field(&mut c, "rdb_bgsave_in_progress") == "0"
            && field(&mut c, "rdb_changes_since_last_save") == "0")
            .then_some(())
    });
    assert_eq!(field(&mut c, "rdb_last_bgsave_status"), "ok");
    // Written after the last save and lost on SIGKILL: snapshots are points in time.
    c.cmd_str("SET lost 1");
    server.kill();
    server.restart(&["--save", "", "--appendonly", "no"]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("DBSIZE"), Resp::Int(4));
    assert_eq!(
        c.cmd_str("LRANGE list 0 -1"),
        Resp::Array(vec![bulk("a"), bulk("b"), bulk("c")])
    );
    assert!(matches!(c.cmd_str("TTL ttl"), Resp::Int(t) if t > 990));
    assert_eq!(c.cmd_str("FCALL one 0"), Resp::Int(1));
    assert_eq!(c.cmd_str("GET lost"), Resp::Nil);
    // SHUTDOWN SAVE writes a final snapshot even without `save` rules.
    c.cmd_str("SET at-shutdown 1");
    c.send(b"SHUTDOWN SAVE\r\n");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    server.restart(&["--save", "", "--appendonly", "no"]);
    assert_eq!(server.raw().cmd_str("GET at-shutdown"), bulk("1"));
    // A damaged snapshot stops start-up with a clear reason.
    server.kill();
    let path = server.dir.join("dump.rdb");
    let mut data = std::fs::read(&path).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let out = std::process::Command::new(binary())
        .args(["--port", &free_port().to_string(), "--save", ""])
        .args(["--dir", server.dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("checksum mismatch"), "{text}");
}

/// Counters bumped (INCR, RPUSH: not idempotent) by several connections while `stop` is
/// unset; returns how many times each counter was acknowledged.
fn bump_counters(
    port: u16,
    stop: Arc<AtomicBool>,
    bumps: Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<Vec<u64>>> {
    (0..3)
        .map(|t| {
            let stop = stop.clone();
            let bumps = bumps.clone();
            std::thread::spawn(move || {
                let mut c = RawConn::connect(port);
                let mut acked = vec![0u64; 64];
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let k = i % 64;
                    let ok = c.cmd(&[b"INCR", format!("counter:{k}").as_bytes()]) != Resp::Nil
                        && matches!(
                            c.cmd(&[b"RPUSH", format!("list:{k}").as_bytes(), b"x"]),
                            Resp::Int(_)
                        );
                    if !ok {
                        break;
                    }
                    acked[k as usize] += 1;
                    bumps.fetch_add(1, Ordering::Relaxed);
                    i += 7;
                }
                acked
            })
        })
        .collect()
}

#[test]
fn rewrite_and_bgsave_under_non_idempotent_writes_replay_exactly() {
    let mut server = TestServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = server.raw();
    // Enough keys that the slot-by-slot snapshot overlaps the writes.
    assert_eq!(c.cmd_str("DEBUG POPULATE 200000"), simple("OK"));
    let stop = Arc::new(AtomicBool::new(false));
    let bumps = Arc::new(AtomicU64::new(0));
    let writers = bump_counters(server.port, stop.clone(), bumps.clone());
    wait_for("writes under way", Duration::from_secs(10), || {
        (bumps.load(Ordering::Relaxed) >= 50).then_some(())
    });
    assert_eq!(
        c.cmd_str("BGREWRITEAOF"),
        simple("Background append only file rewriting started")
    );
    assert_eq!(c.cmd_str("BGSAVE"), simple("Background saving started"));
    let field = |c: &mut RawConn, name: &str| -> String {
        c.cmd_str("INFO persistence")
            .text()
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    wait_for("the rewrite and the save", Duration::from_secs(60), || {
        (field(&mut c, "aof_rewrite_in_progress") == "0"
            && field(&mut c, "rdb_bgsave_in_progress") == "0")
            .then_some(())
    });
    let at_end = bumps.load(Ordering::Relaxed);
    wait_for(
        "more writes after the rewrite",
        Duration::from_secs(10),
        || (bumps.load(Ordering::Relaxed) >= at_end + 50).then_some(()),
    );
    stop.store(true, Ordering::Relaxed);
    let mut acked = vec![0u64; 64];
    for w in writers {
        for (k, n) in w.join().unwrap().into_iter().enumerate() {
            acked[k] += n;
        }
    }
    server.kill();
    // From the AOF (a base written while the bumps went on, plus the incr file): every
    // acknowledged bump exactly once.
    server.restart(&["--appendonly", "yes"]);
    let mut c = server.raw();
    for (k, &n) in acked.iter().enumerate() {
        let got = match c.cmd(&[b"GET", format!("counter:{k}").as_bytes()]) {
            Resp::Bulk(v) => String::from_utf8_lossy(&v).parse::<u64>().unwrap(),
            _ => 0,
        };
        assert_eq!(got, n, "counter:{k}");
        let Resp::Int(len) = c.cmd(&[b"LLEN", format!("list:{k}").as_bytes()]) else {
            panic!()
        };
        assert_eq!(len as u64, n, "list:{k}");
    }
    assert_eq!(c.cmd_str("DBSIZE"), Resp::Int(200_000 + 128));
}

#[test]
fn clients_get_loading_while_a_large_aof_loads() {
    let mut server = TestServer::start(&["--appendonly", "yes"]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("DEBUG POPULATE 300000"), simple("OK"));
    assert_eq!(
        c.cmd_str("BGREWRITEAOF"),
        simple("Background append only file rewriting started")
    );
    wait_for("the rewrite", Duration::from_secs(60), || {
        c.cmd_str("INFO persistence")
            .text()
            .contains("aof_rewrite_in_progress:0")
            .then_some(())
    });
    server.kill();
    // Start without waiting for readiness: poll from the first moment the port answers.
    let port = server.port;
    let dir = server.dir.clone();
    let mut child = std::process::Command::new(binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
        ])
        .args(["--dir", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut saw_loading = false;
    let mut saw_info_loading = false;
    let done = wait_for("the load to finish", Duration::from_secs(60), || {
        let mut conn = RawConn::try_connect(port)?;
        match conn.cmd_str("DBSIZE") {
            Resp::Error(e) if e.starts_with("LOADING") => {
                saw_loading = true;
                if conn
                    .cmd_str("INFO persistence")
                    .text()
                    .contains("loading:1")
                {
                    saw_info_loading = true;
                }
                None
            }
            Resp::Int(n) => Some(n),
            _ => None,
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(done, 300_000);
    assert!(saw_loading, "no client saw -LOADING while 300k keys loaded");
    assert!(saw_info_loading, "INFO never said loading:1");
}

/// Runs tests/py/acked_writes.py against `port` until the server dies; returns it and the
/// path of its record of acknowledged writes.
fn spawn_py_writer(
    port: u16,
    prefix: &str,
    dir: &std::path::Path,
) -> (std::process::Child, std::path::PathBuf) {
    let out = dir.join(format!("acked-{prefix}.txt"));
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/py/acked_writes.py");
    let child = std::process::Command::new("python3")
        .arg(script)
        .args([&port.to_string(), prefix, out.to_str().unwrap(), "60"])
        .spawn()
        .expect("python3");
    (child, out)
}

/// The acknowledged writes a writer recorded: key and acknowledgement time (Unix s).
fn read_acked(path: &std::path::Path) -> Vec<(String, f64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, t) = l.split_once(' ')?;
            Some((k.to_string(), t.parse().ok()?))
        })
        .collect()
}

/// Acknowledged keys that are missing now, with their acknowledgement times.
fn missing(c: &mut RawConn, acked: &[(String, f64)]) -> Vec<(String, f64)> {
    let mut batch = Vec::new();
    for (k, _) in acked {
        batch.extend(encode(&[b"EXISTS", k.as_bytes()]));
    }
    c.send(&batch);
    acked
        .iter()
        .filter(|_| c.read() != Resp::Int(1))
        .cloned()
        .collect()
}

#[test]
fn redis_py_writes_survive_twenty_sigkills_with_appendfsync_always() {
    let mut server = TestServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let dir = server.dir.clone();
    let mut total = 0;
    for round in 0..20 {
        let (mut writer, record) = spawn_py_writer(server.port, &format!("r{round}"), &dir);
        let started = record.with_extension("txt.started");
        wait_for("redis-py writes to flow", Duration::from_secs(30), || {
            started.exists().then_some(())
        });
        // A varying moment: after a few more acknowledged writes.
        let target = 10 + (round * 17) % 60;
        wait_for("more writes", Duration::from_secs(30), || {
            (read_acked(&record).len() >= target).then_some(())
        });
        server.kill();
        let _ = writer.wait();
        let acked = read_acked(&record);
        server.restart(&["--appendonly", "yes", "--appendfsync", "always"]);
        let lost = missing(&mut server.raw(), &acked);
        assert!(
            lost.is_empty(),
            "round {round}: {} of {} acknowledged writes lost",
            lost.len(),
            acked.len()
        );
        total += acked.len();
    }
    assert!(total >= 20 * 10);
}

#[test]
fn appendfsync_everysec_loses_at_most_about_the_last_second() {
    let mut server = TestServer::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let dir = server.dir.clone();
    let (mut writer, record) = spawn_py_writer(server.port, "es", &dir);
    let started = record.with_extension("txt.started");
    wait_for("redis-py writes to flow", Duration::from_secs(30), || {
        started.exists().then_some(())
    });
    // Run past a couple of fsyncs, then SIGKILL.
    let first = read_acked(&record)[0].1;
    wait_for("2.5 s of writes", Duration::from_secs(30), || {
        let acked = read_acked(&record);
        (acked.last().is_some_and(|(_, t)| t - first > 2.5)).then_some(())
    });
    let killed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    server.kill();
    let _ = writer.wait();
    let acked = read_acked(&record);
    server.restart(&["--appendonly", "yes"]);
    let lost = missing(&mut server.raw(), &acked);
    let oldest_lost = lost
        .iter()
        .map(|(_, t)| killed_at - t)
        .fold(0.0f64, f64::max);
    println!(
        "appendfsync everysec: {} of {} acknowledged writes lost; the oldest was acknowledged {:.2} s before the SIGKILL",
        lost.len(),
        acked.len(),
        oldest_lost
    );
    assert!(
        oldest_lost <= 2.0,
        "lost a write acknowledged {oldest_lost:.2} s before the crash"
    );
}
