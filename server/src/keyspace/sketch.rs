//! The frequency sketch behind `maxmemory-policy allkeys-tinylfu`.
//!
//! A count-min sketch of 4-bit counters that records every request for a key by its hash:
//! hits, misses and writes alike. Unlike the per-entry LFU counter, the sketch remembers
//! keys that are not stored, so a popular key that was evicted comes back with its history
//! instead of starting cold (the idea of TinyLFU, Einziger et al.). Each key maps to four
//! counters in one 64-byte block; an increment raises only the smallest of them
//! (conservative update) and the estimate is their minimum. After `10 x counters / 4`
//! increments every counter is halved, so the sketch follows a changing popularity.
//!
//! One sketch serves the process, sized from `maxmemory` when the policy is first chosen
//! (one 4-bit counter per 32 bytes of `maxmemory`, between 64 Ki and 64 Mi counters, so at
//! most 1/64 of `maxmemory`). Counters are updated with relaxed atomics; a lost race costs
//! a count, never correctness.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Counters per 64-byte block (8 words of 16 nibbles).
const WORDS_PER_BLOCK: usize = 8;

/// A count-min sketch of 4-bit counters.
pub struct FrequencySketch {
    words: Box<[AtomicU64]>,
    block_mask: usize,
    additions: AtomicUsize,
    reset_at: usize,
}

static ACTIVE: AtomicBool = AtomicBool::new(false);
static SKETCH: OnceLock<FrequencySketch> = OnceLock::new();

/// Turns recording on (creating the sketch sized for `maxmemory`) or off.
pub fn configure(active: bool, maxmemory: u64) {
    if active {
        SKETCH.get_or_init(|| {
            let counters = (maxmemory / 32).clamp(1 << 16, 1 << 26).next_power_of_two();
            FrequencySketch::new(counters as usize)
        });
    }
    ACTIVE.store(active, Ordering::Relaxed);
}

/// The sketch, while the policy that uses it is active.
#[inline]
pub fn active() -> Option<&'static FrequencySketch> {
    if ACTIVE.load(Ordering::Relaxed) {
        SKETCH.get()
    } else {
        None
    }
}

/// Records one request for the key with table hash `hash`, if the sketch is active.
#[inline]
pub fn record(hash: u64) {
    if let Some(s) = active() {
        s.increment(hash);
    }
}

impl FrequencySketch {
    /// A sketch of `counters` 4-bit counters (rounded up to whole blocks).
    pub fn new(counters: usize) -> Self {
        let blocks = (counters / (16 * WORDS_PER_BLOCK))
            .max(1)
            .next_power_of_two();
        let words = (0..blocks * WORDS_PER_BLOCK)
            .map(|_| AtomicU64::new(0))
            .collect();
        FrequencySketch {
            words,
            block_mask: blocks - 1,
            additions: AtomicUsize::new(0),
            reset_at: 10 * blocks * WORDS_PER_BLOCK * 16 / 4,
        }
    }

    /// The four (word, shift) positions of a key's counters.
    #[inline]
    fn positions(&self, hash: u64) -> [(usize, u32); 4] {
        // Re-mix: the table hash's high bits already pick hashbrown's groups.
        let h = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
        let block = (h as usize >> 32) & self.block_mask;
        let mut out = [(0, 0); 4];
        for (i, slot) in out.iter_mut().enumerate() {
            let bits = (h >> (i * 8)) as usize;
            // Counter i lives in word 2i or 2i+1 of the block: four distinct words.
            let word = block * WORDS_PER_BLOCK + i * 2 + (bits & 1);
            let nibble = ((bits >> 1) & 15) as u32;
            *slot = (word, nibble * 4);
        }
        out
    }

    #[inline]
    fn counter(&self, (word, shift): (usize, u32)) -> u64 {
        (self.words[word].load(Ordering::Relaxed) >> shift) & 15
    }

    /// The estimated request count of the key (0..=15).
    #[inline]
    pub fn estimate(&self, hash: u64) -> u8 {
        self.positions(hash)
            .iter()
            .map(|&p| self.counter(p))
            .min()
            .unwrap_or(0) as u8
    }

    /// Counts one request for the key.
    pub fn increment(&self, hash: u64) {
        let positions = self.positions(hash);
        let min = positions
            .iter()
            .map(|&p| self.counter(p))
            .min()
            .unwrap_or(0);
        if min == 15 {
            return;
        }
        for &(word, shift) in &positions {
            let w = &self.words[word];
            // Conservative update: only the counters at the minimum grow.
            let _ = w.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                ((v >> shift) & 15 == min).then_some(v + (1 << shift))
            });
        }
        if self.additions.fetch_add(1, Ordering::Relaxed) + 1 >= self.reset_at {
            self.halve();
        }
    }

    /// Halves every counter (aging).
    fn halve(&self) {
        self.additions.store(0, Ordering::Relaxed);
        for w in self.words.iter() {
            let _ = w.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some((v >> 1) & 0x7777_7777_7777_7777)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_counts_and_age() {
        let s = FrequencySketch::new(1 << 16);
        for _ in 0..9 {
            s.increment(42);
        }
        s.increment(7);
        assert_eq!(s.estimate(42), 9);
        assert_eq!(s.estimate(7), 1);
        assert_eq!(s.estimate(1234), 0);
        for _ in 0..100 {
            s.increment(42);
        }
        assert_eq!(s.estimate(42), 15, "saturates at 15");
        s.halve();
        assert_eq!(s.estimate(42), 7);
        assert_eq!(s.estimate(7), 0);
    }

    #[test]
    fn many_keys_keep_their_order() {
        let s = FrequencySketch::new(1 << 16);
        // 2000 keys seen once, 20 keys seen 8 times: the hot ones must stand out.
        for k in 0..2000u64 {
            s.increment(crate::keyspace::hash_key(&k.to_le_bytes()));
        }
        for _ in 0..8 {
            for k in 5000..5020u64 {
                s.increment(crate::keyspace::hash_key(&k.to_le_bytes()));
            }
        }
        let hot = (5000..5020u64)
            .filter(|k| s.estimate(crate::keyspace::hash_key(&k.to_le_bytes())) >= 8)
            .count();
        let cold_high = (0..2000u64)
            .filter(|k| s.estimate(crate::keyspace::hash_key(&k.to_le_bytes())) >= 4)
            .count();
        assert_eq!(hot, 20);
        assert!(cold_high < 20, "{cold_high} cold keys look hot");
    }
}
