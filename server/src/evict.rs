//! maxmemory: watching the allocator and evicting keys.
//!
//! A monitor thread reads jemalloc's `stats.allocated` (every millisecond near the limit,
//! see [`next_tick`]) and raises
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
//! sample gets closer to an exact policy. Each thread keeps its own pool: a shared one made
//! threads wait on each other and free each other's allocations, which cost a third of the
//! throughput of a write flood. A candidate is scored again before it goes, so a
//! key used since it was sampled is not evicted on stale information. Slots are only ever
//! try-locked: eviction never waits on a slot a script or transaction holds.
//!
//! `allkeys-tinylfu` ranks keys by the frequency sketch of [`crate::keyspace::sketch`]
//! (requests to the key, whether stored or not, in a recent window) and breaks ties by idle
//! time.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::cell::RefCell;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::Settings;
use crate::dispatch::Ctx;
use crate::error::CommandError;
use crate::keyspace::sketch::FrequencySketch;
use crate::keyspace::{Entry, KeyRef};
use crate::server::Server;
use crate::stats::WorkerStats;

/// Memory watcher state (on its own cache lines: every command reads `over_limit`).
#[derive(Default)]
#[repr(align(64))]
pub struct Evictor {
    /// Raised while `used_memory` exceeds `maxmemory`.
    pub over_limit: AtomicBool,
    /// The last allocator reading.
    pub used: AtomicU64,
    /// What evicting threads write, kept off the cache line every command reads.
    shared: CacheLine<Sampling>,
}

/// A value alone on its cache line.
#[derive(Default)]
#[repr(align(64))]
struct CacheLine<T>(T);

/// State shared by the threads that evict.
#[derive(Default)]
struct Sampling {
    /// Eviction steps taken on the write path (the monitor steps in when none are).
    write_path_steps: AtomicU64,
    /// About the number of keys in the fullest slot (for weighted sampling).
    largest_slot_hint: AtomicUsize,
}

/// Starts the monitor thread. Besides raising the flag, it evicts in the background (1 ms
/// per tick) when memory stays over the limit and no write evicted since the last tick, for
/// example after `CONFIG SET maxmemory` lowered the limit, or with a zero tenacity. Under a
/// write flood it stays out of the way of the write path.
pub fn start_monitor(server: Arc<Server>) {
    let _ = std::thread::Builder::new()
        .name("memory-monitor".into())
        .spawn(move || {
            // The counters block of the main thread's own work (see `Stats::workers`).
            let stats = server
                .stats
                .workers
                .last()
                .expect("one stats block at least");
            let mut steps_seen = 0;
            let mut last_used = 0;
            loop {
                let settings = server.config.settings();
                let max = settings.maxmemory;
                let used = crate::memory::used_memory();
                server.evictor.used.store(used, Ordering::Relaxed);
                let over = max > 0 && used > max;
                let was_over = server.evictor.over_limit.swap(over, Ordering::Relaxed);
                let steps = server
                    .evictor
                    .shared
                    .0
                    .write_path_steps
                    .load(Ordering::Relaxed);
                let idle_writers = std::mem::replace(&mut steps_seen, steps) == steps;
                if over && was_over && idle_writers && !server.loading.load(Ordering::Relaxed) {
                    // Still over since the last tick and no write evicted meanwhile.
                    let now_ms = crate::clock::unix_ms();
                    evict(&server, &settings, stats, now_ms, Duration::from_millis(1));
                }
                let growth = used.saturating_sub(std::mem::replace(&mut last_used, used));
                std::thread::sleep(next_tick(max, used, growth));
            }
        });
}

/// How long the monitor sleeps before its next reading: every millisecond near the limit,
/// less often while memory is far below it, and rarely without a limit (each reading wakes
/// a thread and merges the allocator's statistics, which costs an idle server a few percent
/// of a core at 1 kHz).
///
/// "Far" means more than a quarter of `maxmemory` and more than 20 times what the last
/// interval allocated, so the 10 ms wait cannot be overrun by the current rate of growth.
pub(crate) fn next_tick(maxmemory: u64, used: u64, growth_since_last: u64) -> Duration {
    const NEAR: Duration = Duration::from_millis(1);
    const FAR: Duration = Duration::from_millis(10);
    const UNLIMITED: Duration = Duration::from_millis(100);
    if maxmemory == 0 {
        return UNLIMITED;
    }
    let headroom = maxmemory.saturating_sub(used);
    if headroom > maxmemory / 4 && headroom > growth_since_last.saturating_mul(20) {
        FAR
    } else {
        NEAR
    }
}

/// The OOM error.
pub fn oom() -> CommandError {
    CommandError::Other("OOM command not allowed when used memory > 'maxmemory'.".into())
}

/// How many candidates the pool keeps between rounds.
const POOL_SIZE: usize = 16;

/// One eviction candidate: its key and how good a victim it is (lower is better).
struct Candidate {
    key: Vec<u8>,
    score: u64,
    /// The clock the score was taken with (threads' clocks differ by a little).
    scored_at: u64,
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

thread_local! {
    /// A cheap generator for sampling (no need for a cryptographic one).
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_entropy());
    /// This thread's pool of the best candidates seen across rounds, best first.
    static POOL: RefCell<Vec<Candidate>> = const { RefCell::new(Vec::new()) };
}

/// Offers a key with its score to the pool (kept sorted, best first); the key is copied
/// only if it gets in.
fn offer(pool: &mut Vec<Candidate>, key: &[u8], score: u64, scored_at: u64) {
    if pool.len() >= POOL_SIZE && pool.last().is_some_and(|w| w.score <= score) {
        return;
    }
    if let Some(i) = pool.iter().position(|p| p.key == key) {
        pool.remove(i);
    }
    let at = pool.partition_point(|p| p.score <= score);
    pool.insert(
        at,
        Candidate {
            key: key.to_vec(),
            score,
            scored_at,
        },
    );
    pool.truncate(POOL_SIZE);
}

/// Samples about `samples` keys into the pool. Slots are drawn in proportion to their
/// number of keys (rejection sampling against the largest slot seen lately); an accepted
/// slot gives consecutive keys from a random position, as many as the round still needs.
fn sample_into_pool(
    server: &Server,
    rank: Rank,
    volatile: bool,
    samples: usize,
    now_ms: u64,
    pool: &mut Vec<Candidate>,
    rng: &mut SmallRng,
) -> usize {
    let hint = &server.evictor.shared.0.largest_slot_hint;
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
        let wanted = samples - looked;
        let start = rng.gen_range(0..usize::MAX);
        let picked = t
            .iter_from(start)
            .filter(|e| !volatile || e.expire_at().is_some())
            .take(wanted);
        for e in picked {
            offer(pool, e.key(), rank.score(e, now_ms, rng), now_ms);
            looked += 1;
        }
    }
    // Let the hint shrink slowly after deletions.
    let next = largest - largest / 64;
    if next != hint.load(Ordering::Relaxed) {
        hint.store(next, Ordering::Relaxed);
    }
    looked
}

/// Evicts one key: samples into this thread's pool and removes its best candidate that
/// still exists and has not been used since it was scored. Returns the key and its entry, or
/// `None` when no key qualifies.
fn evict_one(
    server: &Server,
    rank: Rank,
    volatile: bool,
    samples: usize,
    now_ms: u64,
) -> Option<(Vec<u8>, Entry)> {
    RNG.with_borrow_mut(|rng| {
        POOL.with_borrow_mut(|pool| {
            let mut local = Vec::new();
            let (pool, samples) = match rank {
                // Random eviction needs no pool: any sampled key will do.
                Rank::Random => (&mut local, 1),
                _ => (pool, samples),
            };
            // A few rounds: candidates can vanish or be busy between sampling and eviction. The
            // last round takes the best candidate as it is.
            const ROUNDS: usize = 8;
            for round in 0..ROUNDS {
                let looked = sample_into_pool(server, rank, volatile, samples, now_ms, pool, rng);
                if looked == 0 && pool.is_empty() {
                    return None;
                }
                while !pool.is_empty() {
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
                    if !matches!(rank, Rank::Random) && round + 1 < ROUNDS {
                        // Scored again on the same clock: a better score means it was used since.
                        if rank.score(e, best.scored_at, rng) > best.score {
                            let now = rank.score(e, now_ms, rng);
                            drop(t);
                            offer(pool, &best.key, now, now_ms);
                            break;
                        }
                    }
                    if let Some(entry) = t.remove(&k, now_ms) {
                        return Some((best.key, entry));
                    }
                }
            }
            None
        })
    })
}

/// What one eviction run achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Evicted {
    /// About the overage was freed (or there was none).
    Enough,
    /// The time budget ran out first.
    OutOfTime,
    /// No key qualifies (`volatile-*` without keys that have a TTL), or the policy is
    /// `noeviction`.
    NothingEvictable,
}

/// The time one eviction run may take, from `maxmemory-eviction-tenacity` (0..=100) as
/// Redis documents it: 50 us per step up to 10 (500 us, the default), then 15 % more per
/// step, and no limit at 100.
pub fn eviction_budget(tenacity: i64) -> Duration {
    match tenacity {
        t if t <= 10 => Duration::from_micros(50 * t.max(0) as u64),
        t if t < 100 => Duration::from_micros((500.0 * 1.15f64.powi(t as i32 - 10)) as u64),
        _ => Duration::MAX,
    }
}

/// Evicts keys under the configured policy until about the overage the monitor last saw
/// is freed, or `budget` runs out. `stats` is the calling thread's counters block (its
/// replication gate orders the DELs with the stream).
pub fn evict(
    server: &Server,
    settings: &Settings,
    stats: &WorkerStats,
    now_ms: u64,
    budget: Duration,
) -> Evicted {
    let policy = settings.maxmemory_policy.as_str();
    if policy == "noeviction" {
        return Evicted::NothingEvictable;
    }
    if server.replication.is_replica() && settings.replica_ignore_maxmemory {
        // A replica's keys follow its primary, which sends the DELs of its own evictions.
        return Evicted::Enough;
    }
    let rank = Rank::of(policy);
    let volatile = policy.starts_with("volatile");
    let samples = settings.maxmemory_samples;
    let started = Instant::now();
    // Free about the overage the monitor last saw (estimated from entry sizes, since the
    // allocator's counters lag) plus 1/512 of maxmemory for the writes that arrive before
    // it looks again, then let it look again.
    let overage = server
        .evictor
        .used
        .load(Ordering::Relaxed)
        .saturating_sub(settings.maxmemory)
        + settings.maxmemory / 512
        + 1;
    let mut freed = 0u64;
    for round in 0usize.. {
        if freed >= overage {
            server.evictor.over_limit.store(false, Ordering::Relaxed);
            return Evicted::Enough;
        }
        // The clock is read every few evictions (each takes about a microsecond).
        if round % 8 == 0 && started.elapsed() > budget {
            return Evicted::OutOfTime;
        }
        let _gate = stats.repl_gate.read_recursive();
        let guard = server
            .replication
            .is_active()
            .then(|| server.replication.lock());
        let Some((victim, entry)) = evict_one(server, rank, volatile, samples, now_ms) else {
            return Evicted::NothingEvictable;
        };
        freed += (entry.packed_size() + entry.value().heap_size() + 16) as u64;
        drop(entry);
        if let Some(g) = &guard {
            server.replication.append(g, &[b"DEL", &victim]);
        }
        drop(guard);
        server.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
        if settings.notify_flags != 0 {
            crate::notify::notify(
                server,
                settings.notify_flags,
                crate::notify::EVICTED,
                "evicted",
                &victim,
            );
        }
    }
    Evicted::OutOfTime
}

/// The write path's step: while over `maxmemory`, evicts within the tenacity budget before
/// the command runs. Returns an OOM error when a command that may grow memory must not run
/// (`noeviction`, or nothing evictable).
pub fn make_room(ctx: &mut Ctx<'_>, may_grow: bool) -> Result<(), CommandError> {
    let server = ctx.server;
    let settings = ctx.settings;
    if settings.maxmemory == 0 || !server.evictor.over_limit.load(Ordering::Relaxed) {
        return Ok(());
    }
    match evict(
        server,
        settings,
        ctx.stats,
        ctx.now_ms,
        settings.eviction_budget,
    ) {
        Evicted::NothingEvictable if may_grow => Err(oom()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_reads_often_only_near_the_limit() {
        let ms = Duration::from_millis;
        assert_eq!(next_tick(0, 1 << 30, 0), ms(100));
        assert_eq!(next_tick(1000, 100, 0), ms(10));
        // Within a quarter of the limit, or growing fast enough to get there soon.
        assert_eq!(next_tick(1000, 800, 0), ms(1));
        assert_eq!(next_tick(1000, 100, 50), ms(1));
        assert_eq!(next_tick(1000, 1200, 0), ms(1));
    }

    #[test]
    fn tenacity_maps_to_redis_budgets() {
        assert_eq!(eviction_budget(0), Duration::ZERO);
        assert_eq!(eviction_budget(10), Duration::from_micros(500));
        assert_eq!(eviction_budget(11), Duration::from_micros(575));
        assert!(eviction_budget(99) > Duration::from_secs(1));
        assert_eq!(eviction_budget(100), Duration::MAX);
    }

    #[test]
    fn pool_keeps_the_best_candidates_once_each() {
        let mut pool = Vec::new();
        for (i, score) in [50u64, 10, 30, 10, 70].into_iter().enumerate() {
            offer(&mut pool, format!("k{}", i % 4).as_bytes(), score, 0);
        }
        // k0 offered again (70) replaced its first entry; equal scores keep arrival order.
        let got: Vec<(&[u8], u64)> = pool.iter().map(|c| (&c.key[..], c.score)).collect();
        assert_eq!(
            got,
            vec![(&b"k1"[..], 10), (b"k3", 10), (b"k2", 30), (b"k0", 70)]
        );
        for i in 0..40 {
            offer(&mut pool, format!("x{i}").as_bytes(), 100 + i, 0);
        }
        assert_eq!(pool.len(), POOL_SIZE);
        assert_eq!(
            pool.last().map(|c| c.score),
            Some(100 + (POOL_SIZE as u64 - 5))
        );
    }
}
