//! Criterion benchmarks of the hot path, without sockets: RESP decoding of a pipelined
//! batch, reply encoding, slot hashing, and GET/SET through dispatch and the keyspace.
//!
//! Run with `cargo bench -p server` (HTML reports under target/criterion).

use std::net::SocketAddr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use server::config::Config;
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

fn commands(c: &mut Criterion) {
    let server = Arc::new(Server::new(Config::new(None), 1, None));
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let mut client = server.clients.register(addr, addr, 0);
    client.authenticated = true;
    let settings = server.config.settings();
    let stats = &server.stats.workers[0];
    let mut run = |args: &[&[u8]], out: &mut Vec<u8>| {
        let mut ctx = Ctx {
            server: &server,
            client: &mut client,
            out: Reply::new(out, false),
            now_ms: server::clock::unix_ms(),
            stats,
            settings: &settings,
            ready: Vec::new(),
            propagate: None,
        };
        dispatch(&mut ctx, args);
    };
    let mut out = Vec::with_capacity(1024);
    for i in 0..10_000 {
        run(
            &[b"SET", format!("key:{i}").as_bytes(), b"0123456789"],
            &mut out,
        );
    }
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
                        run(&[b"SET", key.as_bytes(), b"0123456789"], &mut out);
                    } else {
                        run(&[b"GET", key.as_bytes()], &mut out);
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, decode, slots, commands);
criterion_main!(benches);
