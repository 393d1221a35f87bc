//! The access stamp every entry carries for eviction: LRU or LFU, as the policy says.
//!
//! 24 bits per entry (packed into the entry's header). Under an LFU policy (`allkeys-lfu`,
//! `volatile-lfu`) it holds what Redis documents for LFU: the minutes clock of the last
//! access in the upper 16 bits and a logarithmic access counter in the low 8 bits. A new key starts at 5; each access first
//! takes one off the counter per `lfu-decay-time` minutes since the last access, then adds
//! one with probability 1 / ((counter - 5) x `lfu-log-factor` + 1), so that about a million
//! hits reach 255 with the default factor of 10. Under every other policy the stamp is the
//! last access in seconds, modulo 2^24 (about 194 days, as Redis's LRU clock; `OBJECT
//! IDLETIME`). Switching policy at runtime reinterprets the
//! stamps, as in Redis ("LRU and LFU data will take some time to adjust").
//!
//! The mode and its parameters are process-wide, set from the configuration
//! ([`configure`]), so the keyspace's lookups take no settings argument.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The counter a new key starts with (so that it is not evicted before its second hit).
const LFU_INIT: u8 = 5;

static LFU: AtomicBool = AtomicBool::new(false);
static LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static DECAY_MINUTES: AtomicU32 = AtomicU32::new(1);

/// Sets the stamp mode from `maxmemory-policy`, `lfu-log-factor` and `lfu-decay-time`.
pub fn configure(policy: &str, log_factor: i64, decay_minutes: i64) {
    LFU.store(keeps_lfu_counters(policy), Ordering::Relaxed);
    LOG_FACTOR.store(
        log_factor.clamp(0, u32::MAX as i64) as u32,
        Ordering::Relaxed,
    );
    DECAY_MINUTES.store(
        decay_minutes.clamp(0, u32::MAX as i64) as u32,
        Ordering::Relaxed,
    );
}

/// Whether `policy` keeps LFU counters in the entries (`allkeys-tinylfu` keeps access
/// times: its frequencies live in the sketch).
pub fn keeps_lfu_counters(policy: &str) -> bool {
    matches!(policy, "allkeys-lfu" | "volatile-lfu")
}

/// Whether stamps are LFU pairs.
#[inline]
pub fn is_lfu() -> bool {
    LFU.load(Ordering::Relaxed)
}

const STAMP_BITS: u32 = 0xFF_FFFF;

fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

fn seconds(now_ms: u64) -> u32 {
    ((now_ms / 1000) as u32) & STAMP_BITS
}

/// The stamp of a key created now.
#[inline]
pub(crate) fn fresh(now_ms: u64) -> u32 {
    if is_lfu() {
        (minutes(now_ms) << 8) | LFU_INIT as u32
    } else {
        seconds(now_ms)
    }
}

/// The stamp after an access at `now_ms`.
#[inline]
pub(crate) fn touched(stamp: u32, now_ms: u64) -> u32 {
    if !is_lfu() {
        return seconds(now_ms);
    }
    let counter = log_increment(decayed_counter(stamp, now_ms));
    (minutes(now_ms) << 8) | counter as u32
}

/// Seconds since the access `stamp` records (LRU stamps). Threads read the clock at
/// slightly different times, so a stamp up to a minute ahead of `now_ms` reads as 0, not as
/// a wrap-around of the 24-bit clock.
pub fn idle_secs(stamp: u32, now_ms: u64) -> u64 {
    let idle = seconds(now_ms).wrapping_sub(stamp) & STAMP_BITS;
    if idle > STAMP_BITS - 60 {
        0
    } else {
        idle as u64
    }
}

/// The LFU counter of `stamp` after the decay since its last access (`OBJECT FREQ`; what
/// the LFU policies compare).
pub fn decayed_counter(stamp: u32, now_ms: u64) -> u8 {
    let counter = (stamp & 0xFF) as u8;
    let period = DECAY_MINUTES.load(Ordering::Relaxed);
    if period == 0 {
        return counter;
    }
    let idle = minutes(now_ms).wrapping_sub(stamp >> 8) & 0xFFFF;
    // A stamp a little ahead (another thread's clock) is not a wrap-around.
    let idle = if idle > 0xFFFF - 2 { 0 } else { idle };
    let steps = idle / period;
    counter.saturating_sub(steps.min(255) as u8)
}

fn log_increment(counter: u8) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = counter.saturating_sub(LFU_INIT) as f64;
    let p = 1.0 / (base * LOG_FACTOR.load(Ordering::Relaxed) as f64 + 1.0);
    if unit_random() < p {
        counter + 1
    } else {
        counter
    }
}

/// A cheap per-thread random number in [0, 1) (xorshift seeded once per thread).
fn unit_random() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(rand::random::<u64>() | 1);
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}
