//! maxmemory policies: what each one evicts, seen from a client.

use std::time::Duration;

use crate::harness::*;

/// SETs `keys` (1000-byte values) in pipelined batches, with `EX ttl(i)` when given.
fn fill(
    c: &mut RawConn,
    prefix: &str,
    keys: std::ops::Range<usize>,
    ttl: Option<&dyn Fn(usize) -> u64>,
) {
    let value = vec![b'v'; 1000];
    let all: Vec<usize> = keys.collect();
    for chunk in all.chunks(100) {
        let mut batch = Vec::new();
        for &i in chunk {
            let key = format!("{prefix}{i}");
            match ttl {
                Some(f) => {
                    let secs = f(i).to_string();
                    batch.extend(encode(&[
                        b"SET",
                        key.as_bytes(),
                        &value,
                        b"EX",
                        secs.as_bytes(),
                    ]))
                }
                None => batch.extend(encode(&[b"SET", key.as_bytes(), &value])),
            }
        }
        c.send(&batch);
        for _ in chunk {
            assert_eq!(c.read(), simple("OK"));
        }
    }
}

/// How many of `prefix{range}` still exist.
fn surviving(c: &mut RawConn, prefix: &str, keys: std::ops::Range<usize>) -> usize {
    keys.filter(|i| {
        matches!(
            c.cmd(&[b"EXISTS", format!("{prefix}{i}").as_bytes()]),
            Resp::Int(1)
        )
    })
    .count()
}

/// 300 hot keys read 5 times each, then a flood of 30 MB of cold keys into 8 MB.
fn hot_keys_kept_under(policy: &str) -> usize {
    let server = TestServer::start(&["--maxmemory", "8mb", "--maxmemory-policy", policy]);
    let mut c = server.raw();
    fill(&mut c, "hot:", 0..300, None);
    for _ in 0..5 {
        for i in 0..300 {
            c.cmd(&[b"GET", format!("hot:{i}").as_bytes()]);
        }
    }
    fill(&mut c, "cold:", 0..30_000, None);
    surviving(&mut c, "hot:", 0..300)
}

#[test]
fn allkeys_lfu_keeps_a_hot_set_that_allkeys_random_loses() {
    let lfu = hot_keys_kept_under("allkeys-lfu");
    let random = hot_keys_kept_under("allkeys-random");
    assert!(lfu >= 270, "allkeys-lfu kept only {lfu} of 300 hot keys");
    assert!(random < 150, "allkeys-random kept {random} of 300 hot keys");
}

#[test]
fn allkeys_tinylfu_keeps_a_hot_set_through_a_flood_of_cold_keys() {
    let tinylfu = hot_keys_kept_under("allkeys-tinylfu");
    assert!(
        tinylfu >= 270,
        "allkeys-tinylfu kept only {tinylfu} of 300 hot keys"
    );
}

#[test]
fn object_freq_reports_the_sketch_under_tinylfu() {
    let server = TestServer::start(&[
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "allkeys-tinylfu",
    ]);
    let mut c = server.raw();
    c.cmd_str("SET k v");
    for _ in 0..6 {
        c.cmd_str("GET k");
    }
    // One write and six reads; the 4-bit sketch may overcount on a collision, never under.
    assert!(matches!(c.cmd_str("OBJECT FREQ k"), Resp::Int(n) if (7..=15).contains(&n)));
    // A key written once has been requested once.
    c.cmd_str("SET other v");
    assert!(matches!(c.cmd_str("OBJECT FREQ other"), Resp::Int(n) if (1..=15).contains(&n)));
}

#[test]
fn object_freq_counts_accesses_under_lfu() {
    // lfu-log-factor 0 makes every access count, so the counter is exact.
    let server = TestServer::start(&["--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0"]);
    let mut c = server.raw();
    c.cmd_str("SET k v");
    assert_eq!(c.cmd_str("OBJECT FREQ k"), Resp::Int(5));
    for _ in 0..10 {
        c.cmd_str("GET k");
    }
    assert_eq!(c.cmd_str("OBJECT FREQ k"), Resp::Int(15));
    assert!(
        matches!(c.cmd_str("OBJECT IDLETIME k"), Resp::Error(e) if e.starts_with("ERR An LFU maxmemory policy is selected"))
    );
}

#[test]
fn volatile_ttl_evicts_only_expiring_keys_soonest_first() {
    let server = TestServer::start(&["--maxmemory", "8mb", "--maxmemory-policy", "volatile-ttl"]);
    let mut c = server.raw();
    // 1000 keys without a TTL (about 1 MB) must all survive.
    fill(&mut c, "keep:", 0..1000, None);
    // Then 30 MB of keys whose TTL grows with their number.
    fill(&mut c, "ttl:", 0..30_000, Some(&|i| 10_000 + i as u64));
    assert_eq!(surviving(&mut c, "keep:", 0..1000), 1000);
    let early = surviving(&mut c, "ttl:", 0..3000);
    let late = surviving(&mut c, "ttl:", 27_000..30_000);
    assert!(
        early < late / 4,
        "soonest-expiring keys should go first: {early} early vs {late} late survivors"
    );
}

#[test]
fn volatile_lru_without_expiring_keys_answers_oom_and_keeps_serving_reads() {
    let server = TestServer::start(&["--maxmemory", "4mb", "--maxmemory-policy", "volatile-lru"]);
    let mut c = server.raw();
    let value = vec![b'v'; 1000];
    let mut oom = None;
    for i in 0..20_000 {
        if let Resp::Error(e) = c.cmd(&[b"SET", format!("k{i}").as_bytes(), &value]) {
            oom = Some((i, e));
            break;
        }
    }
    let (written, error) = oom.expect("no OOM although no key can be evicted");
    assert_eq!(
        error,
        "OOM command not allowed when used memory > 'maxmemory'."
    );
    // Nothing was evicted, reads and deletes still work.
    assert_eq!(surviving(&mut c, "k", 0..written), written);
    assert_eq!(c.cmd_str("DEL k0"), Resp::Int(1));
}

#[test]
fn lowering_maxmemory_evicts_in_the_background_without_writes() {
    // Tenacity 0 gives the write path no time to evict: only the background can.
    let server = TestServer::start(&[
        "--maxmemory-policy",
        "allkeys-lru",
        "--maxmemory-eviction-tenacity",
        "0",
    ]);
    let mut c = server.raw();
    fill(&mut c, "k:", 0..20_000, None);
    let limit = 4 * 1024 * 1024;
    assert!(c.info_field("used_memory") > 2 * limit);
    assert_eq!(c.cmd_str("CONFIG SET maxmemory 4mb"), simple("OK"));
    let used = wait_for(
        "used_memory to fall under 4mb",
        Duration::from_secs(10),
        || {
            let used = c.info_field("used_memory");
            (used <= limit + limit / 20).then_some(used)
        },
    );
    assert!(used > 0);
    assert!(c.info_field("evicted_keys") > 10_000);
    assert!(matches!(c.cmd_str("DBSIZE"), Resp::Int(n) if n < 5_000));
}

#[test]
fn evictions_reach_the_replica_the_aof_and_subscribers() {
    // Room for the server's own ~1.5 MB and the 1 MB replication backlog, which count.
    let primary = TestServer::start(&[
        "--maxmemory",
        "12mb",
        "--maxmemory-policy",
        "allkeys-lru",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--notify-keyspace-events",
        "Ee",
    ]);
    let port = primary.port.to_string();
    let replica = TestServer::start(&["--replicaof", "127.0.0.1", &port]);
    wait_link_up(&replica);
    let mut sub = primary.raw();
    assert_eq!(
        sub.cmd_str("SUBSCRIBE __keyevent@0__:evicted"),
        Resp::Array(vec![
            bulk("subscribe"),
            bulk("__keyevent@0__:evicted"),
            Resp::Int(1)
        ])
    );
    let mut c = primary.raw();
    // 30 MB of unique keys into 12 MB.
    fill(&mut c, "k:", 0..30_000, None);
    assert!(c.info_field("evicted_keys") > 1000);

    // The subscriber hears of an evicted key, which is gone.
    let Resp::Array(message) = sub.read() else {
        panic!("no eviction notification")
    };
    assert_eq!(
        message[..2],
        [bulk("message"), bulk("__keyevent@0__:evicted")]
    );
    let Resp::Bulk(key) = &message[2] else {
        panic!("notification without a key: {message:?}")
    };
    assert_eq!(c.cmd(&[b"EXISTS", key]), Resp::Int(0));

    // The replica (which has no maxmemory of its own) drops the same keys: it got DELs.
    let mut r = replica.raw();
    wait_for(
        "the replica to drop the evicted keys",
        Duration::from_secs(15),
        || (r.cmd_str("DBSIZE") == c.cmd_str("DBSIZE")).then_some(()),
    );
    assert_eq!(r.cmd(&[b"EXISTS", key]), Resp::Int(0));
    assert_eq!(r.info_field("evicted_keys"), 0);

    // The AOF (fsynced before each reply) records the eviction as a DEL of that key.
    let mut del = b"$3\r\nDEL\r\n".to_vec();
    del.extend(format!("${}\r\n", key.len()).as_bytes());
    del.extend(key);
    let aof: Vec<u8> = std::fs::read_dir(primary.dir.join("appendonlydir"))
        .expect("appendonlydir")
        .flat_map(|f| std::fs::read(f.expect("entry").path()).expect("read AOF"))
        .collect();
    assert!(
        aof.windows(del.len()).any(|w| w.eq_ignore_ascii_case(&del)),
        "no DEL of the evicted key in the AOF"
    );
}
