//! The keyspace: 16384 slot tables, each behind its own short lock.
//!
//! Every key lives in the table of its hash slot (see [`cluster::key_hash_slot`]), so that
//! per-slot operations (count, list, migrate, flush) are cheap and two connections on two
//! cores rarely contend. A command computes each key's slot and hash once ([`KeyRef`]),
//! takes the lock of that slot, and never holds it across an `.await`. Commands that touch
//! several slots take the locks in ascending slot order ([`Keyspace::lock_slots`]).

pub mod access;
mod cell;
mod entry;
mod expire;
mod index;
pub mod sketch;
mod table;

pub use cell::{SlotHold, TableGuard};

pub use entry::{Entry, Value, ValueRef, INLINE_MAX};
pub use table::{Expiry, SlotTable};

use std::sync::OnceLock;

use cell::SlotCell;
use cluster::SLOT_COUNT;

/// A key with its slot and table hash computed once.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    /// The key bytes.
    pub key: &'a [u8],
    /// Its hash slot.
    pub slot: u16,
    /// Its hash within the slot table.
    pub hash: u64,
}

/// Asks the CPU to start loading the cache line at `p` (a hint: nothing is read, and no
/// address can fault, so a stale one only wastes the prefetch).
#[inline]
pub(crate) fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching never faults and has no effect on memory, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

static HASHER: OnceLock<foldhash::fast::RandomState> = OnceLock::new();

/// The table hash of a key (randomly seeded per process).
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    HASHER.get_or_init(Default::default).hash_one(key)
}

impl<'a> KeyRef<'a> {
    /// Computes slot and hash of `key`.
    #[inline]
    pub fn new(key: &'a [u8]) -> Self {
        KeyRef {
            key,
            slot: cluster::key_hash_slot(key),
            hash: hash_key(key),
        }
    }
}

/// All the keys of the server.
pub struct Keyspace {
    slots: Box<[SlotCell]>,
}

impl Default for Keyspace {
    fn default() -> Self {
        Self::new()
    }
}

/// Several slot locks held at once, taken in ascending slot order.
pub struct SlotLocks<'a> {
    guards: Vec<(u16, TableGuard<'a>)>,
}

impl SlotLocks<'_> {
    /// The table of `slot`, which must be one of the locked slots.
    pub fn table(&mut self, slot: u16) -> &mut SlotTable {
        let i = self
            .guards
            .binary_search_by_key(&slot, |(s, _)| *s)
            .expect("slot was locked");
        &mut self.guards[i].1
    }
}

impl Keyspace {
    /// An empty keyspace.
    pub fn new() -> Self {
        let slots = (0..SLOT_COUNT).map(|_| SlotCell::default()).collect();
        Keyspace { slots }
    }

    /// Locks one slot's table.
    #[inline]
    pub fn lock(&self, slot: u16) -> TableGuard<'_> {
        self.slots[slot as usize].lock()
    }

    /// Asks the CPU to start loading one slot's cell (its lock and table header), so that
    /// a batch of commands waits for their cells' cache misses together instead of one
    /// after the other. A hint only: nothing is read or locked.
    #[inline]
    pub fn prefetch(&self, slot: u16) {
        prefetch_line(std::ptr::from_ref(self.cell(slot)).cast());
    }

    /// A slot's cell (`slot` taken modulo the slot count: the batch prefetch passes slots it
    /// computed itself, and a hint must never index out of bounds).
    #[inline]
    fn cell(&self, slot: u16) -> &SlotCell {
        &self.slots[slot as usize & (SLOT_COUNT - 1)]
    }

    /// Second step of a batch's prefetch, once the cell has arrived: starts loading the
    /// index line where `hash`'s probe in `slot` begins, from the cell's hint (no lock).
    /// Returns false when the slot held no keys, so that the third step can be skipped.
    #[inline]
    pub fn prefetch_home(&self, slot: u16, hash: u64) -> bool {
        let hint = self.cell(slot).index_hint();
        if hint != 0 {
            index::prefetch_home(hint, hash);
        }
        hint != 0
    }

    /// Third step, once the index line has arrived: starts loading the entry `hash` most
    /// likely names. Skipped when the slot is busy.
    #[inline]
    pub fn prefetch_entry(&self, slot: u16, hash: u64) {
        if let Some(t) = self.cell(slot).try_lock() {
            t.prefetch_entry(hash);
        }
    }

    /// Locks one slot's table unless it is busy (see [`SlotCell::try_lock`]); for
    /// background work such as eviction, which must never wait on a slot that a script or
    /// transaction holds.
    #[inline]
    pub fn try_lock(&self, slot: u16) -> Option<TableGuard<'_>> {
        self.slots[slot as usize].try_lock()
    }

    /// Holds the locks of `slots` (ascending, de-duplicated) without borrowing the tables,
    /// so that a transaction's commands run with no other client in between.
    pub fn hold_slots(&self, slots: impl IntoIterator<Item = u16>) -> Vec<SlotHold<'_>> {
        let mut wanted: Vec<u16> = slots.into_iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted
            .into_iter()
            .map(|s| self.slots[s as usize].hold())
            .collect()
    }

    /// Holds one slot's lock unless another thread keeps it longer than `timeout` (for
    /// locks taken out of ascending order, which could otherwise deadlock).
    pub fn try_hold_for(&self, slot: u16, timeout: std::time::Duration) -> Option<SlotHold<'_>> {
        self.slots[slot as usize].try_hold_for(timeout)
    }

    /// Locks the tables of all `slots` (duplicates allowed) in ascending order.
    pub fn lock_slots(&self, slots: impl IntoIterator<Item = u16>) -> SlotLocks<'_> {
        let mut wanted: Vec<u16> = slots.into_iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        SlotLocks {
            guards: wanted.into_iter().map(|s| (s, self.lock(s))).collect(),
        }
    }

    /// Number of keys in all slots.
    pub fn len(&self) -> usize {
        self.slots.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.lock().is_empty())
    }

    /// Number of keys with an expiry.
    pub fn expires(&self) -> usize {
        self.slots.iter().map(|s| s.lock().expires()).sum()
    }

    /// Keys removed so far because they expired.
    pub fn expired_total(&self) -> u64 {
        self.slots.iter().map(|s| s.lock().expired_total).sum()
    }

    /// Number of keys in one slot.
    pub fn count_in_slot(&self, slot: u16) -> usize {
        self.lock(slot).len()
    }

    /// Removes every key.
    pub fn flush(&self) {
        for s in self.slots.iter() {
            let mut t = s.lock();
            if !t.is_empty() {
                t.clear();
            }
        }
    }

    /// Average remaining TTL in milliseconds over a sample of keys with an expiry (0 if none).
    pub fn avg_ttl(&self, now_ms: u64) -> u64 {
        let (mut sum, mut n) = (0u128, 0u128);
        for s in self.slots.iter() {
            let t = s.lock();
            if t.expires() == 0 {
                continue;
            }
            for e in t.iter() {
                if let Some(at) = e.expire_at() {
                    sum += at.saturating_sub(now_ms) as u128;
                    n += 1;
                }
            }
            if n >= 10_000 {
                break;
            }
        }
        sum.checked_div(n).unwrap_or(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_expire() {
        let ks = Keyspace::new();
        let k = KeyRef::new(b"foo");
        assert_eq!(k.slot, 12182);
        let mut t = ks.lock(k.slot);
        assert!(!t.set(&k, Value::from_bytes(b"1"), Expiry::At(1000), 0));
        assert_eq!(t.expires(), 1);
        assert_eq!(
            t.get(&k, 999).unwrap().value().to_owned_value(),
            Value::Int(1)
        );
        assert!(t.get(&k, 1000).is_none());
        assert_eq!(t.len(), 0);
        assert_eq!(t.expires(), 0);
        assert_eq!(t.expired_total, 1);
    }

    #[test]
    fn keep_ttl_and_clear() {
        let ks = Keyspace::new();
        let k = KeyRef::new(b"k");
        let mut t = ks.lock(k.slot);
        t.set(&k, Value::from_bytes(b"a"), Expiry::At(5000), 0);
        t.set(&k, Value::from_bytes(b"b"), Expiry::Keep, 0);
        assert_eq!(t.get(&k, 0).unwrap().expire_at(), Some(5000));
        t.set(&k, Value::from_bytes(b"c"), Expiry::None, 0);
        assert_eq!(t.get(&k, 0).unwrap().expire_at(), None);
        assert_eq!(t.expires(), 0);
    }
}
