//! The open-addressing index of one slot's entries.
//!
//! One array of 8-byte words, each empty (null), a tombstone (address 1) or an [`Entry`],
//! whose pointer carries 16 bits of the key's hash in its unused top bits (see
//! [`Entry::tag`]). A lookup starts at the word the hash's low bits pick and walks forward
//! (linear probing), comparing tags before touching an entry. So a lookup costs two cache
//! misses, the index line and the entry (a table with separate control bytes and buckets
//! costs three), and a pipelined batch can start both early: [`prefetch_home`],
//! then [`EntryIndex::prefetch_entry`] once that line has arrived.
//!
//! The index holds at most 4/5 of its words in use (entries plus tombstones), so a probe
//! always ends at an empty word; growing doubles it, and a rehash at the same size clears
//! tombstones when most of the use is tombstones.

use std::ptr;

use super::entry::{Entry, ADDR_BITS, ADDR_MASK};
use super::prefetch_line;

/// A word of the array: null (empty), [`TOMB`] or an entry's tagged pointer.
type Word = *mut u8;

/// The address of a tombstone: a removed entry that probes must walk past.
const TOMB: usize = 1;

/// The smallest array allocated.
const MIN_CAPACITY: usize = 8;

#[inline]
fn is_entry(w: Word) -> bool {
    w.addr() > TOMB
}

/// The entries of one slot, found by their keys' hashes.
#[derive(Default)]
pub(crate) struct EntryIndex {
    /// A power of two long, or empty.
    words: Box<[Word]>,
    /// Entries held.
    len: u32,
    /// Tombstones among the words.
    tombs: u32,
}

// SAFETY: the index exclusively owns the entries its words point to (`Entry` is Send + Sync);
// the raw pointers are only their storage.
unsafe impl Send for EntryIndex {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for EntryIndex {}

/// The array length that holds `items` entries within the load limit.
fn capacity_for(items: usize) -> usize {
    if items == 0 {
        return 0;
    }
    (items * 5 / 4 + 1).next_power_of_two().max(MIN_CAPACITY)
}

impl EntryIndex {
    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Number of words in the array.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.words.len()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.words.len().wrapping_sub(1)
    }

    #[inline]
    fn word(&self, i: usize) -> Word {
        debug_assert!(i < self.words.len());
        // SAFETY: callers pass positions masked by `mask`, within the non-empty array.
        unsafe { *self.words.get_unchecked(i) }
    }

    /// The entry at position `i`, which must hold one.
    #[inline]
    pub(crate) fn at(&self, i: usize) -> &Entry {
        assert!(is_entry(self.words[i]), "no entry at this position");
        // SAFETY: `Entry` is a transparent non-null pointer and the word holds one.
        unsafe { &*ptr::from_ref(&self.words[i]).cast::<Entry>() }
    }

    /// The entry at position `i`, for changing (a replacement must keep the key: its tag
    /// is what finds it).
    #[inline]
    pub(crate) fn at_mut(&mut self, i: usize) -> &mut Entry {
        assert!(is_entry(self.words[i]), "no entry at this position");
        // SAFETY: as in `at`; `&mut self` makes this the only reference.
        unsafe { &mut *ptr::from_mut(&mut self.words[i]).cast::<Entry>() }
    }

    /// The position of the entry whose hash is `hash` and for which `eq` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, eq: impl Fn(&Entry) -> bool) -> Option<usize> {
        self.probe(hash, usize::MAX, eq)
    }

    /// Walks `hash`'s probe (at most `steps` words, up to the first empty one) and returns
    /// the first position whose tag matches and whose entry satisfies `eq`.
    #[inline]
    fn probe(&self, hash: u64, steps: usize, eq: impl Fn(&Entry) -> bool) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let tag = Entry::tag_of(hash);
        let mut i = hash as usize & mask;
        for _ in 0..steps {
            let w = self.word(i);
            if w.is_null() {
                return None;
            }
            if is_entry(w) && Entry::word_tag(w) == tag && eq(self.at(i)) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Like [`EntryIndex::find`], or else the position where such an entry goes (room for
    /// it is made first, so the position stays valid for [`EntryIndex::insert_at`]).
    #[inline]
    pub(crate) fn find_or_vacant(
        &mut self,
        hash: u64,
        eq: impl Fn(&Entry) -> bool,
    ) -> Result<usize, usize> {
        self.reserve_one();
        let mask = self.mask();
        let tag = Entry::tag_of(hash);
        let mut i = hash as usize & mask;
        let mut first_tomb = None;
        loop {
            let w = self.word(i);
            if w.is_null() {
                return Err(first_tomb.unwrap_or(i));
            }
            if !is_entry(w) {
                first_tomb.get_or_insert(i);
            } else if Entry::word_tag(w) == tag && eq(self.at(i)) {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Stores `entry` at a position [`EntryIndex::find_or_vacant`] returned as vacant.
    pub(crate) fn insert_at(&mut self, i: usize, entry: Entry) {
        let w = self.words[i];
        assert!(!is_entry(w), "position already holds an entry");
        if !w.is_null() {
            self.tombs -= 1;
        }
        self.words[i] = entry.into_raw();
        self.len += 1;
    }

    /// Takes the entry at position `i` out.
    pub(crate) fn remove_at(&mut self, i: usize) -> Entry {
        let w = self.words[i];
        assert!(is_entry(w), "no entry at this position");
        let mask = self.mask();
        self.len -= 1;
        if self.word((i + 1) & mask).is_null() {
            // No probe passes this word to reach a later one, nor the tombstones just
            // before it: they all become empty.
            self.words[i] = ptr::null_mut();
            let mut j = i.wrapping_sub(1) & mask;
            while self.word(j).addr() == TOMB {
                self.words[j] = ptr::null_mut();
                self.tombs -= 1;
                j = j.wrapping_sub(1) & mask;
            }
        } else {
            self.words[i] = ptr::without_provenance_mut(TOMB);
            self.tombs += 1;
        }
        // SAFETY: the word held an entry made by `Entry::into_raw`, now out of the array.
        unsafe { Entry::from_raw(w) }
    }

    /// Makes room for one more entry: doubles the array when entries fill 2/5 of it,
    /// else rehashes in place when tombstones fill the rest of the 4/5 allowed.
    #[inline]
    fn reserve_one(&mut self) {
        let cap = self.words.len();
        let used = self.len as usize + self.tombs as usize + 1;
        if used * 5 <= cap * 4 {
            return;
        }
        let live = self.len as usize + 1;
        let new_cap = if live * 5 > cap * 2 {
            (cap * 2).max(MIN_CAPACITY)
        } else {
            cap
        };
        self.rehash(new_cap);
    }

    /// Moves every entry into a fresh array of `new_cap` words (0: none).
    fn rehash(&mut self, new_cap: usize) {
        debug_assert!(new_cap == 0 || new_cap.is_power_of_two());
        debug_assert!(self.len as usize * 5 <= new_cap * 4);
        let old = std::mem::replace(
            &mut self.words,
            vec![ptr::null_mut(); new_cap].into_boxed_slice(),
        );
        self.tombs = 0;
        let mask = self.mask();
        for &w in old.iter().filter(|&&w| is_entry(w)) {
            // SAFETY: a full word is a live entry; it is only read here.
            let entry = unsafe { &*ptr::from_ref(&w).cast::<Entry>() };
            let mut i = super::hash_key(entry.key()) as usize & mask;
            while !self.word(i).is_null() {
                i = (i + 1) & mask;
            }
            self.words[i] = w;
        }
    }

    /// Gives memory back when at most a quarter of the array holds entries.
    pub(crate) fn maybe_shrink(&mut self) {
        let cap = self.words.len();
        let len = self.len as usize;
        if cap >= 16 && len * 4 < cap {
            self.rehash(capacity_for(len * 2));
        }
    }

    /// Drops every entry and the array.
    pub(crate) fn clear(&mut self) {
        *self = EntryIndex::default();
    }

    /// The entries in array order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.iter_from(0)
    }

    /// The entries in array order starting at word `start` and wrapping around (a random
    /// start gives eviction a random sample without walking the table).
    pub(crate) fn iter_from(&self, start: usize) -> impl Iterator<Item = &Entry> + '_ {
        let cap = self.words.len();
        let start = if cap == 0 { 0 } else { start % cap };
        (start..cap)
            .chain(0..start)
            .filter(|&i| is_entry(self.words[i]))
            .map(|i| self.at(i))
    }

    /// Removes the entries for which `keep` is false; returns how many.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> usize {
        let mut removed = 0;
        for i in 0..self.words.len() {
            if is_entry(self.words[i]) && !keep(self.at(i)) {
                drop(self.remove_at(i));
                removed += 1;
            }
        }
        removed
    }

    /// Where the array is and how long, for prefetching without the slot's lock (see
    /// [`prefetch_home`]): the array's address with log2 of its length in the top 16 bits,
    /// or 0 when the index holds nothing.
    #[inline]
    pub(crate) fn hint(&self) -> usize {
        if self.len == 0 {
            return 0;
        }
        let bits = self.words.len().trailing_zeros() as usize;
        self.words.as_ptr().addr() | bits << ADDR_BITS
    }

    /// Starts loading the entry that `hash`'s tag points to first along its probe (reads
    /// the index line, so call it after [`prefetch_home`] had time to land).
    #[inline]
    pub(crate) fn prefetch_entry(&self, hash: u64) {
        // A few words: past them the probe has left the line anyway.
        if let Some(i) = self.probe(hash, 8, |_| true) {
            prefetch_line(Entry::untagged(self.word(i)));
        }
    }
}

/// Starts loading the index line where `hash`'s probe begins, in the array `hint`
/// ([`EntryIndex::hint`], non-zero) described when it was read. A hint may be stale: the
/// address is only prefetched, never read.
#[inline]
pub(crate) fn prefetch_home(hint: usize, hash: u64) {
    let mask = (1usize << (hint >> ADDR_BITS)) - 1;
    let words = hint & ADDR_MASK;
    prefetch_line(ptr::without_provenance::<u8>(
        words + (hash as usize & mask) * std::mem::size_of::<Word>(),
    ));
}

impl Drop for EntryIndex {
    fn drop(&mut self) {
        for &w in self.words.iter().filter(|&&w| is_entry(w)) {
            // SAFETY: each full word owns its entry; the array goes right after.
            drop(unsafe { Entry::from_raw(w) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::{hash_key, Value};

    fn entry(key: &[u8]) -> Entry {
        Entry::new(key, Value::Int(7), 0, 0, Entry::tag_of(hash_key(key)))
    }

    fn find(ix: &EntryIndex, key: &[u8]) -> Option<usize> {
        ix.find(hash_key(key), |e| e.key() == key)
    }

    #[test]
    fn inserts_finds_removes_and_shrinks() {
        let mut ix = EntryIndex::default();
        let keys: Vec<Vec<u8>> = (0..5000).map(|i| format!("key:{i}").into_bytes()).collect();
        for k in &keys {
            let at = ix.find_or_vacant(hash_key(k), |e| e.key() == &k[..]);
            ix.insert_at(at.expect_err("new key"), entry(k));
        }
        assert_eq!(ix.len(), 5000);
        assert!(ix.capacity() * 4 >= 5000 * 5);
        for k in &keys {
            let i = find(&ix, k).expect("present");
            assert_eq!(ix.at(i).key(), &k[..]);
            assert_eq!(ix.find_or_vacant(hash_key(k), |e| e.key() == &k[..]), Ok(i));
        }
        assert!(find(&ix, b"absent").is_none());
        for k in keys.iter().step_by(2) {
            let i = find(&ix, k).unwrap();
            assert_eq!(ix.remove_at(i).key(), &k[..]);
        }
        assert_eq!(ix.len(), 2500);
        for (n, k) in keys.iter().enumerate() {
            assert_eq!(find(&ix, k).is_some(), n % 2 == 1, "key {n}");
        }
        assert_eq!(ix.iter().count(), 2500);
        let removed = ix.retain(|e| e.key().len() % 2 == 0);
        assert_eq!(ix.len() + removed, 2500);
        ix.maybe_shrink();
        assert_eq!(ix.iter().count(), ix.len());
        for e in ix.iter() {
            assert!(find(&ix, e.key()).is_some());
        }
        ix.clear();
        assert_eq!((ix.len(), ix.capacity()), (0, 0));
    }

    #[test]
    fn tombstones_are_reused_and_never_fill_the_array() {
        let mut ix = EntryIndex::default();
        // Churn: insert and remove far more keys than the array ever holds.
        for round in 0..20_000u32 {
            let k = format!("churn:{round}").into_bytes();
            let at = ix.find_or_vacant(hash_key(&k), |e| e.key() == &k[..]);
            ix.insert_at(at.unwrap_err(), entry(&k));
            if round >= 10 {
                let old = format!("churn:{}", round - 10).into_bytes();
                let i = find(&ix, &old).unwrap();
                drop(ix.remove_at(i));
            }
            assert!((ix.len + ix.tombs) as usize * 5 <= ix.capacity() * 4);
        }
        assert_eq!(ix.len(), 10);
        assert!(ix.capacity() <= 32, "capacity {}", ix.capacity());
        for round in 19_990..20_000u32 {
            assert!(find(&ix, format!("churn:{round}").as_bytes()).is_some());
        }
    }

    #[test]
    fn iter_from_wraps_around_once() {
        let mut ix = EntryIndex::default();
        for i in 0..100 {
            let k = format!("w{i}").into_bytes();
            let at = ix.find_or_vacant(hash_key(&k), |e| e.key() == &k[..]);
            ix.insert_at(at.unwrap_err(), entry(&k));
        }
        for start in [0, 1, 77, ix.capacity() - 1, ix.capacity() * 3] {
            let mut seen: Vec<&[u8]> = ix.iter_from(start).map(|e| e.key()).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 100);
        }
    }
}
