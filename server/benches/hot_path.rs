//! Criterion benchmarks of the hot path, without sockets: RESP decoding of a pipelined
//! batch, reply encoding, slot hashing, GET/SET through dispatch and the keyspace, a SET
//! that must first evict a key (sampling, pool, removal), and appending to the AOF.
//!
//! Run with `cargo bench -p server` (HTML reports under target/criterion).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use server::client::ClientState;
use server::config::{Config, Settings};
use server::dispatch::{dispatch, Ctx};
use server::resp::{Decoded, Decoder, Limits, Reply};
use server::server::Server;

/// `n` pipelined `SET key:<i> value` commands in RESP.
fn pipeline(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let key = format!("key:{i}");
        out.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$10\r\n0123456789\r\n",
                key.len()
            )
            .as_bytes(),
        );
    }
    out
}

fn decode(c: &mut Criterion) {
    let batch = pipeline(16);
    let limits = Limits::default();
    let mut g = c.benchmark_group("resp");
    g.throughput(Throughput::Elements(16));
    g.bench_function("decode 16 pipelined SETs", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new();
            let mut pos = 0;
            let mut n = 0;
            while let Decoded::Command(used) = decoder.decode(&batch[pos..], &limits) {
                n += decoder.args(&batch[pos..]).len();
                pos += used;
            }
            n
        })
    });
    g.bench_function("encode 16 bulk replies", |b| {
        let mut buf = Vec::with_capacity(1024);
        b.iter(|| {
            buf.clear();
            let mut out = Reply::new(&mut buf, false);
            for _ in 0..16 {
                out.bulk(b"0123456789");
            }
            buf.len()
        })
    });
    g.finish();
}

fn slots(c: &mut Criterion) {
    let keys: Vec<String> = (0..1024).map(|i| format!("{{user:{i}}}:feed")).collect();
    let mut g = c.benchmark_group("cluster");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("key_hash_slot x1024 (hash tags)", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| cluster::key_hash_slot(k.as_bytes()) as u64)
                .sum::<u64>()
        })
    });
    g.finish();
}

/// A server without sockets and one client, to run commands through `dispatch`.
struct Harness {
    server: Arc<Server>,
    client: ClientState,
    settings: Arc<Settings>,
}

impl Harness {
    /// A server with `config` applied (`CONFIG SET`-style pairs).
    fn new(config: &[(&str, &str)]) -> Harness {
        let server = Arc::new(Server::new(Config::new(None), 1, None));
        for (name, value) in config {
            server.config.set(name, value).expect("valid config");
        }
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut client = server.clients.register(addr, addr, 0);
        client.authenticated = true;
        let settings = server.config.settings();
        Harness {
            server,
            client,
            settings,
        }
    }

    /// Runs one command, its reply going to `out`.
    fn run(&mut self, args: &[&[u8]], out: &mut Vec<u8>) {
        let mut ctx = Ctx {
            server: &self.server,
            client: &mut self.client,
            out: Reply::new(out, false),
            now_ms: server::clock::unix_ms(),
            stats: &self.server.stats.workers[0],
            settings: &self.settings,
            ready: Vec::new(),
            propagate: None,
        };
        dispatch(&mut ctx, args);
    }

    /// `SET key:<i> 0123456789` for every i in `keys`.
    fn fill(&mut self, keys: std::ops::Range<usize>) {
        let mut out = Vec::with_capacity(64);
        for i in keys {
            out.clear();
            self.run(
                &[b"SET", format!("key:{i}").as_bytes(), b"0123456789"],
                &mut out,
            );
        }
    }
}

fn commands(c: &mut Criterion) {
    let mut h = Harness::new(&[]);
    h.fill(0..10_000);
    let mut out = Vec::with_capacity(1024);
    let mut g = c.benchmark_group("dispatch");
    for name in ["SET", "GET"] {
        g.bench_function(format!("{name} through the gates"), |b| {
            let mut i = 0u64;
            b.iter_batched(
                || {
                    i = (i + 1) % 10_000;
                    format!("key:{i}")
                },
                |key| {
                    out.clear();
                    if name == "SET" {
                        h.run(&[b"SET", key.as_bytes(), b"0123456789"], &mut out);
                    } else {
                        h.run(&[b"GET", key.as_bytes()], &mut out);
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// A SET of a new key while over `maxmemory`: it first evicts one key (the memory monitor
/// is not running here, so the bench raises its flag by hand before each SET). The limit
/// is tiny so that the eviction run's margin (1/512 of maxmemory) is less than one key:
/// each SET then evicts one key and the keyspace keeps its size.
fn eviction(c: &mut Criterion) {
    const KEYS: usize = 200_000;
    let mut g = c.benchmark_group("eviction");
    for (policy, samples) in [
        ("allkeys-lru", "5"),
        ("allkeys-lru", "10"),
        ("allkeys-random", "5"),
        ("allkeys-tinylfu", "5"),
    ] {
        let mut h = Harness::new(&[
            ("maxmemory", "16kb"),
            ("maxmemory-policy", policy),
            ("maxmemory-samples", samples),
        ]);
        h.fill(0..KEYS);
        let over = h.settings.maxmemory + 1;
        let mut out = Vec::with_capacity(64);
        let mut next = KEYS;
        g.bench_function(
            format!("SET evicting one key ({policy}, {samples} samples)"),
            |b| {
                b.iter_batched(
                    || {
                        next += 1;
                        format!("key:{next}")
                    },
                    |key| {
                        let evictor = &h.server.evictor;
                        evictor.used.store(over, Ordering::Relaxed);
                        evictor.over_limit.store(true, Ordering::Relaxed);
                        out.clear();
                        h.run(&[b"SET", key.as_bytes(), b"0123456789"], &mut out);
                    },
                    BatchSize::SmallInput,
                )
            },
        );
        let evicted = h.server.stats.evicted_keys.load(Ordering::Relaxed);
        let sets = (next - KEYS) as u64;
        // (No SETs ran when a filter skipped this bench.)
        assert!(
            evicted >= sets / 2 && evicted <= sets * 2,
            "{policy}: {evicted} keys evicted for {sets} SETs"
        );
    }
    g.finish();
}

/// Appending a SET to the AOF under `appendfsync everysec` (the writer thread drains the
/// buffer to the file in the background).
fn aof(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("cinnabar-bench-aof-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let aof_dir = persistence::AofDir::open(dir.clone(), "appendonly.aof").expect("aof dir");
    let aof = server::aof::Aof::start(aof_dir, server::aof::Policy::EverySec).expect("aof");
    let record = b"*3\r\n$3\r\nSET\r\n$10\r\nkey:123456\r\n$10\r\n0123456789\r\n";
    let mut g = c.benchmark_group("aof");
    g.throughput(Throughput::Bytes(record.len() as u64));
    g.bench_function("append one SET (everysec)", |b| {
        b.iter(|| aof.append(record))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, decode, slots, commands, eviction, aof);
criterion_main!(benches);
