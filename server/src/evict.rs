//! maxmemory: watching the allocator and evicting keys.
//!
//! A monitor thread reads jemalloc's `stats.allocated` every 2 ms and raises
//! [`Evictor::over_limit`] when it passes `maxmemory`. While the flag is up, every command
//! that may grow memory first evicts keys ([`make_room`]) within a small time budget; under
//! `noeviction` (or when nothing can be evicted) such commands get `-OOM`. Evicted keys
//! reach replicas and the AOF as DEL, count in `evicted_keys` and fire `evicted` keyspace
//! notifications.
//!
//! Choosing a victim: each round samples `maxmemory-samples` keys, picking slots with a
//! probability proportional to their number of keys (rejection sampling against the
//! largest slot seen lately, so every key is equally likely whatever the slot layout), and
//! offers them to a pool of the best candidates kept across rounds (as Redis does): a larger
//! sample gets closer to an exact policy. A candidate is scored again before it goes, so a
//! key used since it was sampled is not evicted on stale information. Slots are only ever
//! try-locked: eviction never waits on a slot a script or transaction holds.
//!
//! `allkeys-tinylfu` ranks keys by the frequency sketch of [`crate::keyspace::sketch`]
//! (requests to the key, whether stored or not, in a recent window) and breaks ties by idle
//! time.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::dispatch::Ctx;
use crate::error::CommandError;
use crate::keyspace::sketch::FrequencySketch;
use crate::keyspace::{Entry, KeyRef};
use crate::server::Server;
use parking_lot::Mutex;

/// Memory watcher state.
#[derive(Default)]
pub struct Evictor {
    /// Raised while `used_memory` exceeds `maxmemory`.
    pub over_limit: AtomicBool,
    /// The last allocator reading.
    pub used: AtomicU64,
    /// The best victims seen across sampling rounds, best first.
    pool: Mutex<Vec<Candidate>>,
    /// About the number of keys in the fullest slot (for weighted sampling).
    largest_slot_hint: AtomicUsize,
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

/// How many candidates the pool keeps between rounds.
const POOL_SIZE: usize = 16;

/// One eviction candidate: its key and how good a victim it is (lower is better).
#[derive(Debug)]
struct Candidate {
    key: Vec<u8>,
    score: u64,
}

/// How a policy ranks keys; lower scores are evicted first.
#[derive(Clone, Copy)]
enum Rank {
    Random,
    Ttl,
    Frequency,
    Recency,
    Sketch(&'static FrequencySketch),
}

impl Rank {
    fn of(policy: &str) -> Rank {
        if policy.ends_with("random") {
            Rank::Random
        } else if policy == "volatile-ttl" {
            Rank::Ttl
        } else if policy == "allkeys-tinylfu" {
            match crate::keyspace::sketch::active() {
                Some(s) => Rank::Sketch(s),
                None => Rank::Recency,
            }
        } else if crate::keyspace::access::keeps_lfu_counters(policy) {
            Rank::Frequency
        } else {
            Rank::Recency
        }
    }

    fn score(self, e: &Entry, now_ms: u64, rng: &mut impl Rng) -> u64 {
        match self {
            Rank::Random => rng.gen(),
            Rank::Ttl => e.expire_at().unwrap_or(u64::MAX),
            Rank::Frequency => e.lfu_counter(now_ms) as u64,
            // The larger the idle time, the better.
            Rank::Recency => u64::MAX - e.idle_secs(now_ms),
            // Least often requested first, the longest idle among equals.
            Rank::Sketch(s) => {
                let freq = s.estimate(crate::keyspace::hash_key(e.key())) as u64;
                (freq << 32) | (u32::MAX as u64 - e.idle_secs(now_ms).min(u32::MAX as u64))
            }
        }
    }
}

/// Adds `c` to the pool (kept sorted, best first) if it is among the best seen.
fn offer(pool: &mut Vec<Candidate>, c: Candidate) {
    if let Some(i) = pool.iter().position(|p| p.key == c.key) {
        pool.remove(i);
    }
    if pool.len() >= POOL_SIZE && pool.last().is_some_and(|w| w.score <= c.score) {
        return;
    }
    let at = pool.partition_point(|p| p.score <= c.score);
    pool.insert(at, c);
    pool.truncate(POOL_SIZE);
}

/// Samples `samples` keys, each slot weighted by its number of keys (rejection sampling
/// against the largest slot seen lately), and offers them to the pool.
fn sample_into_pool(
    server: &Server,
    rank: Rank,
    volatile: bool,
    samples: usize,
    now_ms: u64,
    pool: &mut Vec<Candidate>,
) -> usize {
    let mut rng = rand::thread_rng();
    let hint = &server.evictor.largest_slot_hint;
    let mut largest = hint.load(Ordering::Relaxed).max(1);
    let mut looked = 0;
    let mut tries = 0;
    while looked < samples && tries < samples * 256 {
        tries += 1;
        let slot = rng.gen_range(0..cluster::SLOT_COUNT) as u16;
        let Some(t) = server.keyspace.try_lock(slot) else {
            continue;
        };
        let n = t.len();
        if n == 0 || (volatile && t.expires() == 0) {
            continue;
        }
        largest = largest.max(n);
        // Accept this slot with probability n / largest: every key equally likely.
        let at = rng.gen_range(0..largest);
        if at >= n {
            continue;
        }
        let picked = if volatile {
            // Keys with a TTL only: the first one from the drawn position on.
            t.iter()
                .skip(at)
                .chain(t.iter().take(at))
                .find(|e| e.expire_at().is_some())
        } else {
            t.nth(at)
        };
        if let Some(e) = picked {
            let score = rank.score(e, now_ms, &mut rng);
            offer(
                pool,
                Candidate {
                    key: e.key().to_vec(),
                    score,
                },
            );
            looked += 1;
        }
    }
    // Let the hint shrink slowly after deletions.
    hint.store(largest - largest / 64, Ordering::Relaxed);
    looked
}

/// Picks the next victim: samples into the shared pool and takes its best candidate that
/// still exists and has not been used since it was scored. `None` when no key qualifies.
fn pick(server: &Server, policy: &str, samples: usize, now_ms: u64) -> Option<Vec<u8>> {
    let rank = Rank::of(policy);
    let volatile = policy.starts_with("volatile");
    if matches!(rank, Rank::Random) {
        // No pool: any sampled key is as good as another.
        let mut one = Vec::with_capacity(1);
        sample_into_pool(server, rank, volatile, 1, now_ms, &mut one);
        return one.pop().map(|c| c.key);
    }
    // Threads that find the shared pool busy sample into their own for this round.
    let mut local = Vec::new();
    let mut shared = server.evictor.pool.try_lock();
    let pool = match shared.as_mut() {
        Some(p) => &mut **p,
        None => &mut local,
    };
    let looked = sample_into_pool(server, rank, volatile, samples, now_ms, pool);
    if looked == 0 && pool.is_empty() {
        return None;
    }
    let mut rng = rand::thread_rng();
    for _ in 0..POOL_SIZE {
        if pool.is_empty() {
            return None;
        }
        let best = pool.remove(0);
        let k = KeyRef::new(&best.key);
        let Some(mut t) = server.keyspace.try_lock(k.slot) else {
            continue;
        };
        let Some(e) = t.peek(&k, now_ms) else {
            continue;
        };
        if volatile && e.expire_at().is_none() {
            continue;
        }
        let now = rank.score(e, now_ms, &mut rng);
        if now > best.score {
            // Used since it was scored: rank it again.
            drop(t);
            offer(
                pool,
                Candidate {
                    key: best.key,
                    score: now,
                },
            );
            continue;
        }
        return Some(best.key);
    }
    None
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
        let k = KeyRef::new(&victim);
        let _gate = ctx.stats.repl_gate.read_recursive();
        let guard = server
            .replication
            .is_active()
            .then(|| server.replication.lock());
        let removed = server
            .keyspace
            .try_lock(k.slot)
            .and_then(|mut t| t.remove(&k, ctx.now_ms));
        if let Some(entry) = removed {
            freed += (entry.packed_size() + entry.value().heap_size() + 16) as u64;
            if let Some(g) = &guard {
                server.replication.append(g, &[b"DEL", &victim]);
            }
            drop(guard);
            server.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
            ctx.notify(crate::notify::EVICTED, "evicted", &victim);
        }
    }
    Ok(())
}
