//! A slot table behind a re-entrant lock.
//!
//! A transaction (EXEC) or a script takes the locks of every slot it will touch up front
//! ([`SlotCell::hold`]) so that no other client sees it half done; the commands it runs then
//! lock those slots again from the same thread, which a re-entrant lock allows. The table
//! itself is handed out by [`TableGuard`], at most one at a time per slot.

use std::cell::{Cell, UnsafeCell};
use std::ops::{Deref, DerefMut};

use parking_lot::{ReentrantMutex, ReentrantMutexGuard};

use super::SlotTable;

/// One slot's table and its lock.
#[derive(Default)]
pub struct SlotCell {
    lock: ReentrantMutex<()>,
    table: UnsafeCell<SlotTable>,
    borrowed: Cell<bool>,
}

// SAFETY: `table` and `borrowed` are only touched by the thread that holds `lock`, and
// `borrowed` guarantees that thread hands out one `&mut SlotTable` at a time.
unsafe impl Sync for SlotCell {}
// SAFETY: as above; the cell owns its table.
unsafe impl Send for SlotCell {}

/// Exclusive access to one slot's table.
pub struct TableGuard<'a> {
    _lock: ReentrantMutexGuard<'a, ()>,
    cell: &'a SlotCell,
}

/// The lock of a slot held without touching its table (see the module docs).
pub type SlotHold<'a> = ReentrantMutexGuard<'a, ()>;

impl SlotCell {
    /// Locks the slot and borrows its table.
    ///
    /// Panics if this thread already borrows the same table: that is a programming error
    /// (take several slots at once with `Keyspace::lock_slots`, which de-duplicates them).
    #[inline]
    pub fn lock(&self) -> TableGuard<'_> {
        let guard = self.lock.lock();
        assert!(
            !self.borrowed.replace(true),
            "slot table borrowed twice by one thread"
        );
        TableGuard {
            _lock: guard,
            cell: self,
        }
    }

    /// Like [`SlotCell::lock`], but `None` instead of waiting when another thread holds the
    /// lock or this thread already borrows the table.
    pub fn try_lock(&self) -> Option<TableGuard<'_>> {
        let guard = self.lock.try_lock()?;
        if self.borrowed.replace(true) {
            return None;
        }
        Some(TableGuard {
            _lock: guard,
            cell: self,
        })
    }

    /// Takes the slot's lock without borrowing the table.
    pub fn hold(&self) -> SlotHold<'_> {
        self.lock.lock()
    }

    /// Like [`SlotCell::hold`], giving up after `timeout`.
    pub fn try_hold_for(&self, timeout: std::time::Duration) -> Option<SlotHold<'_>> {
        self.lock.try_lock_for(timeout)
    }
}

impl Deref for TableGuard<'_> {
    type Target = SlotTable;
    #[inline]
    fn deref(&self) -> &SlotTable {
        // SAFETY: this thread holds the lock and the single borrow (see `SlotCell::lock`).
        unsafe { &*self.cell.table.get() }
    }
}

impl DerefMut for TableGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut SlotTable {
        // SAFETY: as in `deref`; `&mut self` makes this the only live reference.
        unsafe { &mut *self.cell.table.get() }
    }
}

impl Drop for TableGuard<'_> {
    fn drop(&mut self) {
        self.cell.borrowed.set(false);
    }
}
