//! Point-in-time snapshots without fork and without stopping writes: serialize on touch.
//!
//! A snapshot starts under the replication stream lock (the point in time). From then on a
//! background thread writes the slots out one by one; a write that is about to change a
//! slot the snapshot has not written yet writes that slot first (under the slot's lock),
//! so the file holds every slot exactly as it was at the start. Each slot costs at most one
//! serialization, whoever does it; memory stays at one slot's worth of output.
//!
//! The hook is [`before_write`], called by `dispatch::execute` for every write command
//! after it took the stream lock (so a write either happened before the start, or sees the
//! running snapshot). Deletions that do not come from commands (expiry, eviction) need no
//! hook: they are logged as DEL, which is safe to replay whether or not the snapshot holds
//! the key.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::server::Server;

/// A running snapshot writing to `W`.
pub struct SlotSnapshot<W: Write + Send> {
    done: Box<[AtomicBool]>,
    out: Mutex<Option<W>>,
    failed: AtomicBool,
    now_ms: u64,
}

/// What the write path sees of a running snapshot.
pub trait SlotSerializer: Send + Sync {
    /// Writes `slot` out unless it already is.
    fn ensure(&self, server: &Server, slot: u16);
}

impl<W: Write + Send> SlotSerializer for SlotSnapshot<W> {
    fn ensure(&self, server: &Server, slot: u16) {
        let cell = &self.done[slot as usize];
        if cell.load(Ordering::Acquire) {
            return;
        }
        let t = server.keyspace.lock(slot);
        if cell.load(Ordering::Acquire) {
            return;
        }
        let mut buf = Vec::new();
        for e in t.iter() {
            if e.is_expired(self.now_ms) {
                continue;
            }
            crate::replication::primary::write_restore(&mut buf, e);
        }
        if let Some(out) = self.out.lock().as_mut() {
            if out.write_all(&buf).is_err() {
                self.failed.store(true, Ordering::Relaxed);
            }
        }
        cell.store(true, Ordering::Release);
        drop(t);
    }
}

impl<W: Write + Send + 'static> SlotSnapshot<W> {
    /// Starts a snapshot into `out` and registers it with the write path. Call with the
    /// stream lock held.
    pub fn start(server: &Server, out: W, now_ms: u64) -> Arc<SlotSnapshot<W>> {
        let snap = Arc::new(SlotSnapshot {
            done: (0..cluster::SLOT_COUNT)
                .map(|_| AtomicBool::new(false))
                .collect(),
            out: Mutex::new(Some(out)),
            failed: AtomicBool::new(false),
            now_ms,
        });
        let job: Arc<dyn SlotSerializer> = snap.clone();
        let mut jobs = server.slot_snapshots.lock();
        jobs.push(job);
        server
            .slot_snapshot_count
            .store(jobs.len(), Ordering::Release);
        snap
    }

    /// Writes every remaining slot, unregisters, and hands the writer back (with an error
    /// if a write failed).
    pub fn finish(self: &Arc<Self>, server: &Server) -> std::io::Result<W> {
        for slot in 0..cluster::SLOT_COUNT as u16 {
            self.ensure(server, slot);
        }
        {
            let mut jobs = server.slot_snapshots.lock();
            let me: Arc<dyn SlotSerializer> = self.clone();
            jobs.retain(|j| !Arc::ptr_eq(j, &me));
            server
                .slot_snapshot_count
                .store(jobs.len(), Ordering::Release);
        }
        let out = self
            .out
            .lock()
            .take()
            .ok_or_else(|| std::io::Error::other("snapshot already finished"))?;
        if self.failed.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("writing the snapshot failed"));
        }
        Ok(out)
    }
}

/// Called before a write command runs: writes out the slots of `args`' keys for every
/// running snapshot that has not written them yet.
#[inline]
pub fn before_write(server: &Server, spec: &crate::commands::CommandSpec, args: &[&[u8]]) {
    if server.slot_snapshot_count.load(Ordering::Acquire) == 0 {
        return;
    }
    let Some(positions) = spec.key_positions(args) else {
        return;
    };
    let jobs = server.slot_snapshots.lock().clone();
    for p in positions {
        let slot = cluster::key_hash_slot(args[p]);
        for job in &jobs {
            job.ensure(server, slot);
        }
    }
}
