//! maxmemory: watching the allocator and evicting keys.
//!
//! A monitor thread reads jemalloc's `stats.allocated` every 2 ms and raises
//! [`Evictor::over_limit`] when it passes `maxmemory`. While the flag is up, every command
//! that may grow memory first evicts keys ([`make_room`]) with a small time budget, choosing
//! victims by the configured `maxmemory-policy` among `maxmemory-samples` keys sampled from
//! random slots; under `noeviction` (or when nothing can be evicted) such commands get
//! `-OOM`. Evicted keys reach replicas and the AOF as DEL, count in `evicted_keys` and fire
//! `evicted` keyspace notifications.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::dispatch::Ctx;
use crate::error::CommandError;
use crate::keyspace::KeyRef;
use crate::server::Server;

/// Memory watcher state.
#[derive(Default)]
pub struct Evictor {
    /// Raised while `used_memory` exceeds `maxmemory`.
    pub over_limit: AtomicBool,
    /// The last allocator reading.
    pub used: AtomicU64,
}

/// Starts the monitor thread.
pub fn start_monitor(server: Arc<Server>) {
    let _ = std::thread::Builder::new()
        .name("memory-monitor".into())
        .spawn(move || loop {
            let max = server.config.settings().maxmemory;
            let used = crate::memory::used_memory();
            server.evictor.used.store(used, Ordering::Relaxed);
            server
                .evictor
                .over_limit
                .store(max > 0 && used > max, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(2));
        });
}

/// The OOM error.
pub fn oom() -> CommandError {
    CommandError::Other("OOM command not allowed when used memory > 'maxmemory'.".into())
}

/// One eviction candidate: its key and how good a victim it is (lower is better).
struct Candidate {
    key: Vec<u8>,
    score: u64,
}

/// Samples keys and returns the best victim under `policy`, if any key qualifies.
fn pick(server: &Server, policy: &str, samples: usize, now_ms: u64) -> Option<Candidate> {
    let volatile = policy.starts_with("volatile");
    let random = policy.ends_with("random");
    let by_ttl = policy == "volatile-ttl";
    let by_frequency = policy.ends_with("lfu");
    let mut rng = rand::thread_rng();
    let mut best: Option<Candidate> = None;
    let mut looked = 0;
    let mut tries = 0;
    while looked < samples && tries < samples * 64 {
        tries += 1;
        let slot = rng.gen_range(0..cluster::SLOT_COUNT) as u16;
        let t = server.keyspace.lock(slot);
        if t.is_empty() || (volatile && t.expires() == 0) {
            continue;
        }
        let n = t.len();
        let start = rng.gen_range(0..n);
        for e in t.iter().skip(start).chain(t.iter().take(start)) {
            if volatile && e.expire_at().is_none() {
                continue;
            }
            let score = if random {
                rng.gen()
            } else if by_ttl {
                e.expire_at().unwrap_or(u64::MAX)
            } else if by_frequency {
                // Least frequently used first.
                e.lfu_counter(now_ms) as u64
            } else {
                // Least recently used first: the larger the idle time, the better.
                u64::MAX - e.idle_secs(now_ms)
            };
            if best.as_ref().is_none_or(|b| score < b.score) {
                best = Some(Candidate {
                    key: e.key().to_vec(),
                    score,
                });
            }
            looked += 1;
            break;
        }
    }
    best
}

/// Evicts keys until memory is under `maxmemory` or the time budget runs out. Returns an
/// OOM error when the command may not run.
pub fn make_room(ctx: &mut Ctx<'_>, may_grow: bool) -> Result<(), CommandError> {
    let server = ctx.server;
    let settings = ctx.settings;
    if settings.maxmemory == 0 || !server.evictor.over_limit.load(Ordering::Relaxed) {
        return Ok(());
    }
    let policy = settings.maxmemory_policy.as_str();
    if policy == "noeviction" {
        return if may_grow { Err(oom()) } else { Ok(()) };
    }
    let samples = server.config.get_i64("maxmemory-samples").max(1) as usize;
    let started = Instant::now();
    let budget = Duration::from_micros(500);
    // Free about the overage the monitor last saw (estimated from entry sizes, since the
    // allocator's counters lag), then let the monitor look again.
    let overage = server
        .evictor
        .used
        .load(Ordering::Relaxed)
        .saturating_sub(settings.maxmemory)
        .max(1);
    let mut freed = 0u64;
    loop {
        if freed >= overage {
            server.evictor.over_limit.store(false, Ordering::Relaxed);
            break;
        }
        if started.elapsed() > budget {
            break;
        }
        let Some(victim) = pick(server, policy, samples, ctx.now_ms) else {
            // Nothing evictable (volatile-* without TTLs).
            return if may_grow { Err(oom()) } else { Ok(()) };
        };
        let k = KeyRef::new(&victim.key);
        let _gate = ctx.stats.repl_gate.read_recursive();
        let guard = server
            .replication
            .is_active()
            .then(|| server.replication.lock());
        let removed = server.keyspace.lock(k.slot).remove(&k, ctx.now_ms);
        if let Some(entry) = removed {
            freed += (entry.packed_size() + entry.value().heap_size() + 16) as u64;
            if let Some(g) = &guard {
                server.replication.append(g, &[b"DEL", &victim.key]);
            }
            drop(guard);
            server.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
            ctx.notify(crate::notify::EVICTED, "evicted", &victim.key);
        }
    }
    Ok(())
}
