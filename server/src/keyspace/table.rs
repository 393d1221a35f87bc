//! One slot's table of keys.
//!
//! Lookups expire keys lazily: a key past its expiry is removed the moment it is looked up
//! and reported as missing. The table keeps the count of keys with an expiry so that INFO and
//! the active expiry cycle need not walk it.

use super::entry::{Entry, Value};
use super::index::EntryIndex;
use super::KeyRef;

/// How a write treats the key's existing expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No expiry (the write clears any existing one).
    None,
    /// Keep whatever expiry the key had (`SET ... KEEPTTL`, `APPEND`, `INCR`).
    Keep,
    /// Expire at this absolute Unix time in milliseconds.
    At(u64),
}

/// The keys of one hash slot.
#[derive(Default)]
pub struct SlotTable {
    table: EntryIndex,
    /// Keys with an expiry (u32 keeps the slot's cell within one cache line; a slot cannot
    /// hold four billion keys in any memory this server runs in).
    expires: u32,
    /// Keys removed because they were found expired (lazily or actively).
    pub(crate) expired_total: u64,
    /// Bumped by every change to any key of the slot; WATCH compares it.
    version: u64,
}

fn eq<'a>(key: &'a [u8]) -> impl Fn(&Entry) -> bool + 'a {
    move |e: &Entry| e.key() == key
}

impl SlotTable {
    /// Number of keys (expired ones not yet removed included).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the slot holds no keys.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Number of keys with an expiry.
    pub fn expires(&self) -> usize {
        self.expires as usize
    }

    /// The slot's change counter (see WATCH).
    pub fn version(&self) -> u64 {
        self.version
    }

    fn find_live(&mut self, key: &KeyRef, now_ms: u64) -> Option<&mut Entry> {
        super::sketch::record(key.hash);
        let i = self.live_position(key, now_ms)?;
        let e = self.table.at_mut(i);
        e.touch(now_ms);
        Some(e)
    }

    /// Where `key`'s entry is in the index, unless it is missing or expired (an expired one
    /// is removed now).
    fn live_position(&mut self, key: &KeyRef, now_ms: u64) -> Option<usize> {
        let i = self.table.find(key.hash, eq(key.key))?;
        if !self.table.at(i).is_expired(now_ms) {
            return Some(i);
        }
        drop(self.table.remove_at(i));
        self.expires -= 1;
        self.expired_total += 1;
        self.version += 1;
        None
    }

    /// The live entry for `key`, for reading; touches its access time and removes it if it
    /// has expired.
    pub fn get(&mut self, key: &KeyRef, now_ms: u64) -> Option<&Entry> {
        self.find_live(key, now_ms).map(|e| &*e)
    }

    /// The live entry for `key`, for changing its value in place (counts as a write).
    /// (A miss also bumps the slot's version: write commands that miss create the key.)
    pub fn get_mut(&mut self, key: &KeyRef, now_ms: u64) -> Option<&mut Entry> {
        self.version += 1;
        self.find_live(key, now_ms)
    }

    /// Like [`SlotTable::get`] without touching the access time (`OBJECT`, `TTL`-style reads
    /// keep it too in Redis, but introspection must not).
    pub fn peek(&mut self, key: &KeyRef, now_ms: u64) -> Option<&Entry> {
        let i = self.live_position(key, now_ms)?;
        Some(self.table.at(i))
    }

    /// Whether the key exists (and is not expired).
    pub fn contains(&mut self, key: &KeyRef, now_ms: u64) -> bool {
        self.peek(key, now_ms).is_some()
    }

    /// Stores `value` under `key`, replacing any previous value. Returns whether the key
    /// existed (and was live).
    pub fn set(&mut self, key: &KeyRef, value: Value, expiry: Expiry, now_ms: u64) -> bool {
        self.version += 1;
        super::sketch::record(key.hash);
        let tag = Entry::tag_of(key.hash);
        match self.table.find_or_vacant(key.hash, eq(key.key)) {
            Ok(i) => {
                let e = self.table.at_mut(i);
                let was_live = !e.is_expired(now_ms);
                let old_expire = e.expire_at().unwrap_or(0);
                let new_expire = match expiry {
                    Expiry::None => 0,
                    Expiry::Keep if was_live => old_expire,
                    Expiry::Keep => 0,
                    Expiry::At(at) => at,
                };
                if old_expire != 0 && new_expire == 0 {
                    self.expires -= 1;
                } else if old_expire == 0 && new_expire != 0 {
                    self.expires += 1;
                }
                if !was_live {
                    self.expired_total += 1;
                }
                // An overwrite is an access: an LFU counter carries over, as in Redis.
                let stamp = if was_live {
                    super::access::touched(e.stamp(), now_ms)
                } else {
                    super::access::fresh(now_ms)
                };
                *e = Entry::new(key.key, value, new_expire, stamp, tag);
                was_live
            }
            Err(i) => {
                let expire_at = match expiry {
                    Expiry::At(at) => at,
                    _ => 0,
                };
                if expire_at != 0 {
                    self.expires += 1;
                }
                let fresh = super::access::fresh(now_ms);
                let entry = Entry::new(key.key, value, expire_at, fresh, tag);
                self.table.insert_at(i, entry);
                false
            }
        }
    }

    /// Removes `key`; returns its entry if it was live.
    pub fn remove(&mut self, key: &KeyRef, now_ms: u64) -> Option<Entry> {
        let i = self.table.find(key.hash, eq(key.key))?;
        let entry = self.table.remove_at(i);
        self.version += 1;
        self.table.maybe_shrink();
        if entry.expire_at().is_some() {
            self.expires -= 1;
        }
        if entry.is_expired(now_ms) {
            self.expired_total += 1;
            None
        } else {
            Some(entry)
        }
    }

    /// Sets or clears the expiry of a live key; returns false if the key is missing.
    pub fn set_expire(&mut self, key: &KeyRef, at: Option<u64>, now_ms: u64) -> bool {
        let Some(e) = self.get_mut(key, now_ms) else {
            return false;
        };
        let had = e.expire_at().is_some();
        e.set_expire_raw(at.unwrap_or(0));
        let has = at.is_some_and(|at| at != 0);
        match (had, has) {
            (false, true) => self.expires += 1,
            (true, false) => self.expires -= 1,
            _ => {}
        }
        true
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.table.clear();
        self.expires = 0;
        self.version += 1;
    }

    /// Iterates over all entries, expired ones included.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }

    /// Removes every expired key; returns how many were removed.
    pub fn purge_expired(&mut self, now_ms: u64) -> usize {
        if self.expires == 0 {
            return 0;
        }
        let removed = self.table.retain(|e| !e.is_expired(now_ms));
        if removed > 0 {
            self.version += 1;
            self.table.maybe_shrink();
        }
        self.expires -= removed as u32;
        self.expired_total += removed as u64;
        removed
    }

    /// All entries, expired ones included, from a position given by `start` (any number;
    /// it wraps) around the table once: a random start gives a random sample without
    /// walking the table.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &Entry> {
        self.table.iter_from(start)
    }

    /// Where the index array is, for prefetching without the lock (0: no keys; see
    /// [`super::SlotCell`]'s copy of it).
    #[inline]
    pub(crate) fn index_hint(&self) -> usize {
        self.table.hint()
    }

    /// Starts loading the entry `hash` most likely names (reads the index line, which a
    /// batch prefetched through the cell's index hint first).
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) {
        self.table.prefetch_entry(hash);
    }
}
