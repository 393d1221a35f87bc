//! The active expiry cycle: removes expired keys that nobody looks up.
//!
//! Unlike Redis's random sampling, slots are small, so the cycle walks slots in order from a
//! cursor and purges every expired key of each slot it visits, stopping when its time budget
//! runs out. Every expired key is found within one pass over the slots; the budget keeps each
//! step short so that clients are never held up for long.

use std::time::{Duration, Instant};

use cluster::SLOT_COUNT;

use super::Keyspace;

impl Keyspace {
    /// Runs one active-expiry step from `cursor` for at most `budget`; returns the keys removed.
    pub fn active_expire_step(&self, now_ms: u64, budget: Duration, cursor: &mut usize) -> usize {
        let start = Instant::now();
        let mut removed = 0;
        for visited in 0..SLOT_COUNT {
            let slot = *cursor;
            *cursor = (*cursor + 1) % SLOT_COUNT;
            removed += self.lock(slot as u16).purge_expired(now_ms);
            if visited % 64 == 63 && start.elapsed() >= budget {
                break;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Expiry, KeyRef, Value};
    use super::*;

    #[test]
    fn purges_expired_keys_only() {
        let ks = Keyspace::new();
        for i in 0..1000 {
            let name = format!("k{i}");
            let k = KeyRef::new(name.as_bytes());
            let exp = if i % 2 == 0 {
                Expiry::At(10)
            } else {
                Expiry::None
            };
            ks.lock(k.slot).set(&k, Value::Int(i), exp, 0);
        }
        let mut cursor = 0;
        let removed = ks.active_expire_step(11, Duration::from_secs(10), &mut cursor);
        assert_eq!(removed, 500);
        assert_eq!(ks.len(), 500);
        assert_eq!(ks.expires(), 0);
    }
}
