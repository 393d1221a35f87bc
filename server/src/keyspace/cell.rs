//! A slot table behind a re-entrant lock, the whole cell on one cache line.
//!
//! A transaction (EXEC) or a script takes the locks of every slot it will touch up front
//! ([`SlotCell::hold`]) so that no other client sees it half done; the commands it runs then
//! lock those slots again from the same thread, which a re-entrant lock allows. The table
//! itself is handed out by [`TableGuard`], at most one at a time per slot.
//!
//! Every command touches one random cell among 16384, so the cell's size is a cache miss
//! per command: the lock is a one-byte parking mutex plus a 32-bit owner token and a 16-bit
//! depth (not `parking_lot::ReentrantMutex`'s two words), which with the table fits the cell
//! in 64 bytes, aligned so that one line holds it.

use std::cell::{Cell, UnsafeCell};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::lock_api::{RawMutex as _, RawMutexTimed as _};
use parking_lot::RawMutex;

use super::SlotTable;

/// Pause instructions a contended lock spins through before parking the thread.
const SPINS_BEFORE_PARKING: u32 = 500;

/// One slot's table and its lock.
#[repr(align(64))]
pub struct SlotCell {
    table: UnsafeCell<SlotTable>,
    /// The token of the thread holding `raw` (0: none).
    owner: AtomicU32,
    /// How many times the owner holds the lock (a transaction, a script and a command at
    /// most: every caller de-duplicates its slots).
    depth: Cell<u16>,
    raw: RawMutex,
    borrowed: Cell<bool>,
    /// A copy of the table's [`SlotTable::index_hint`], refreshed when a table guard is
    /// dropped: what a batch's prefetch reads without taking the lock.
    index_hint: AtomicUsize,
}

const _: () = assert!(std::mem::size_of::<SlotCell>() == 64);

impl Default for SlotCell {
    fn default() -> Self {
        SlotCell {
            table: UnsafeCell::default(),
            owner: AtomicU32::new(0),
            depth: Cell::new(0),
            raw: RawMutex::INIT,
            borrowed: Cell::new(false),
            index_hint: AtomicUsize::new(0),
        }
    }
}

// SAFETY: `table`, `depth` and `borrowed` are only touched by the thread that holds `raw`
// (the one whose token is in `owner`), and `borrowed` guarantees that thread hands out one
// `&mut SlotTable` at a time.
unsafe impl Sync for SlotCell {}
// SAFETY: as above; the cell owns its table.
unsafe impl Send for SlotCell {}

/// This thread's lock-owner token: non-zero and never shared with another live thread.
#[inline]
fn thread_token() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    thread_local! {
        static TOKEN: Cell<u32> = const { Cell::new(0) };
    }
    TOKEN.with(|t| {
        let token = t.get();
        if token != 0 {
            return token;
        }
        // Four billion threads would have to start before a token repeats.
        let token = NEXT.fetch_add(1, Ordering::Relaxed).max(1);
        t.set(token);
        token
    })
}

/// The lock of a slot held without touching its table (see the module docs).
pub struct SlotHold<'a> {
    cell: &'a SlotCell,
}

/// Exclusive access to one slot's table.
pub struct TableGuard<'a> {
    hold: SlotHold<'a>,
}

impl SlotCell {
    /// Takes the lock: again at once if this thread holds it already, else through `take`,
    /// which locks the raw mutex (or gives up and returns false).
    #[inline]
    fn acquire(&self, take: impl FnOnce(&RawMutex) -> bool) -> Option<SlotHold<'_>> {
        let me = thread_token();
        if self.owner.load(Ordering::Relaxed) == me {
            let depth = self.depth.get().checked_add(1).expect("slot lock depth");
            self.depth.set(depth);
        } else if take(&self.raw) {
            self.owner.store(me, Ordering::Relaxed);
            self.depth.set(1);
        } else {
            return None;
        }
        Some(SlotHold { cell: self })
    }

    /// Takes the slot's lock without borrowing the table.
    #[inline]
    pub fn hold(&self) -> SlotHold<'_> {
        self.acquire(|raw| {
            if !raw.try_lock() {
                // Critical sections are a command long: spin (without yielding the core)
                // before parking, so that a contended hot key hands over in nanoseconds.
                for _ in 0..SPINS_BEFORE_PARKING {
                    std::hint::spin_loop();
                    if !raw.is_locked() && raw.try_lock() {
                        return true;
                    }
                }
                raw.lock();
            }
            true
        })
        .expect("a blocking lock always succeeds")
    }

    /// Like [`SlotCell::hold`], giving up after `timeout`.
    pub fn try_hold_for(&self, timeout: Duration) -> Option<SlotHold<'_>> {
        self.acquire(|raw| raw.try_lock_for(timeout))
    }

    /// Locks the slot and borrows its table.
    ///
    /// Panics if this thread already borrows the same table: that is a programming error
    /// (take several slots at once with `Keyspace::lock_slots`, which de-duplicates them).
    #[inline]
    pub fn lock(&self) -> TableGuard<'_> {
        let hold = self.hold();
        assert!(
            !self.borrowed.replace(true),
            "slot table borrowed twice by one thread"
        );
        TableGuard { hold }
    }

    /// Where the table's index array was when the lock was last released (see
    /// [`SlotTable::index_hint`]; 0: the table was empty). Read without the lock, so it may
    /// be stale: only for prefetching.
    #[inline]
    pub fn index_hint(&self) -> usize {
        self.index_hint.load(Ordering::Relaxed)
    }

    /// Like [`SlotCell::lock`], but `None` instead of waiting when another thread holds the
    /// lock or this thread already borrows the table.
    pub fn try_lock(&self) -> Option<TableGuard<'_>> {
        let hold = self.acquire(|raw| raw.try_lock())?;
        if self.borrowed.replace(true) {
            return None;
        }
        Some(TableGuard { hold })
    }
}

impl Drop for SlotHold<'_> {
    #[inline]
    fn drop(&mut self) {
        let cell = self.cell;
        let depth = cell.depth.get() - 1;
        cell.depth.set(depth);
        if depth == 0 {
            cell.owner.store(0, Ordering::Relaxed);
            // SAFETY: this thread took `raw` (depth was counted from its lock call).
            unsafe { cell.raw.unlock() };
        }
    }
}

impl Deref for TableGuard<'_> {
    type Target = SlotTable;
    #[inline]
    fn deref(&self) -> &SlotTable {
        // SAFETY: this thread holds the lock and the single borrow (see `SlotCell::lock`).
        unsafe { &*self.hold.cell.table.get() }
    }
}

impl DerefMut for TableGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut SlotTable {
        // SAFETY: as in `deref`; `&mut self` makes this the only live reference.
        unsafe { &mut *self.hold.cell.table.get() }
    }
}

impl Drop for TableGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Runs before the `hold` field is dropped, so still under the lock.
        let cell = self.hold.cell;
        cell.index_hint
            .store((**self).index_hint(), Ordering::Relaxed);
        cell.borrowed.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::{Expiry, KeyRef, Value};
    use std::sync::Arc;

    #[test]
    fn reentrant_on_one_thread_exclusive_across_threads() {
        let cell = Arc::new(SlotCell::default());
        let outer = cell.hold();
        let inner = cell.lock();
        assert!(cell.try_lock().is_none(), "table already borrowed");
        drop(inner);
        assert!(cell.try_lock().is_some());
        let other = cell.clone();
        let blocked = std::thread::spawn(move || {
            (
                other.try_lock().is_none(),
                other.try_hold_for(Duration::from_millis(20)).is_none(),
            )
        })
        .join()
        .unwrap();
        assert_eq!(blocked, (true, true));
        drop(outer);
        let other = cell.clone();
        let free = std::thread::spawn(move || other.try_lock().is_some())
            .join()
            .unwrap();
        assert!(free);
    }

    #[test]
    fn threads_serialize_on_the_table() {
        let cell = Arc::new(SlotCell::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cell = cell.clone();
                std::thread::spawn(move || {
                    for i in 0..2000u32 {
                        let key = format!("k{t}-{i}");
                        let key = KeyRef::new(key.as_bytes());
                        let _hold = cell.hold();
                        cell.lock().set(&key, Value::Int(1), Expiry::None, 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(cell.lock().len(), 8000);
    }
}
