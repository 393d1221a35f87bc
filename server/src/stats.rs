//! Server statistics for INFO, split per worker thread so that the hot path only touches
//! counters no other thread writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Counters for one command (INFO commandstats).
#[derive(Default)]
pub struct CommandStats {
    /// Successful and failed calls.
    pub calls: AtomicU64,
    /// Total microseconds spent.
    pub usec: AtomicU64,
    /// Calls refused before execution (arity, auth, ...).
    pub rejected: AtomicU64,
    /// Calls that ran and answered an error.
    pub failed: AtomicU64,
}

/// Counters written by one worker thread.
pub struct WorkerStats {
    /// Commands processed.
    pub commands: AtomicU64,
    /// Bytes read from clients.
    pub net_input: AtomicU64,
    /// Bytes written to clients.
    pub net_output: AtomicU64,
    /// Successful key lookups.
    pub keyspace_hits: AtomicU64,
    /// Failed key lookups.
    pub keyspace_misses: AtomicU64,
    /// Per-command counters, indexed by command id.
    pub per_command: Box<[CommandStats]>,
    /// Held (shared) by this worker while a write runs and replication is not streaming
    /// yet; see `Replication::activate`.
    pub repl_gate: parking_lot::RwLock<()>,
    /// This worker's position in `Stats::workers`.
    pub index: usize,
    /// Set while this worker runs a script: new connections go to other workers, so that
    /// SCRIPT KILL reaches one that is not stuck in a long script.
    pub script_running: std::sync::atomic::AtomicBool,
    /// Successful writes (for `rdb_changes_since_last_save` and the `save` rules).
    pub dirty: AtomicU64,
}

impl WorkerStats {
    fn new(commands: usize, index: usize) -> Self {
        WorkerStats {
            commands: AtomicU64::new(0),
            net_input: AtomicU64::new(0),
            net_output: AtomicU64::new(0),
            keyspace_hits: AtomicU64::new(0),
            keyspace_misses: AtomicU64::new(0),
            per_command: (0..commands).map(|_| CommandStats::default()).collect(),
            repl_gate: parking_lot::RwLock::new(()),
            index,
            script_running: Default::default(),
            dirty: AtomicU64::new(0),
        }
    }

    /// Adds one to a counter owned by this worker.
    #[inline]
    pub fn bump(counter: &AtomicU64, by: u64) {
        counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
    }
}

/// All statistics.
pub struct Stats {
    /// One block per worker thread (plus one for the main thread's own work).
    pub workers: Box<[WorkerStats]>,
    /// Connections accepted.
    pub connections_received: AtomicU64,
    /// Connections refused because of `maxclients`.
    pub rejected_connections: AtomicU64,
    /// Keys evicted by maxmemory.
    pub evicted_keys: AtomicU64,
    /// Error replies by error code.
    pub errors: Mutex<HashMap<String, u64>>,
    /// Recent (time_ms, commands) samples for `instantaneous_ops_per_sec`.
    pub ops_samples: Mutex<Vec<(u64, u64)>>,
    /// Expired keys counted before the last `CONFIG RESETSTAT`.
    pub expired_offset: AtomicU64,
}

impl Stats {
    /// Statistics for `workers` worker threads and `commands` command ids.
    pub fn new(workers: usize, commands: usize) -> Self {
        Stats {
            workers: (0..workers + 1)
                .map(|i| WorkerStats::new(commands, i))
                .collect(),
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            evicted_keys: AtomicU64::new(0),
            errors: Mutex::new(HashMap::new()),
            ops_samples: Mutex::new(Vec::new()),
            expired_offset: AtomicU64::new(0),
        }
    }

    /// Sum of a per-worker counter.
    pub fn sum(&self, f: impl Fn(&WorkerStats) -> &AtomicU64) -> u64 {
        self.workers.iter().map(|w| f(w).load(Relaxed)).sum()
    }

    /// Sum of one command's counters over all workers: (calls, usec, rejected, failed).
    pub fn command(&self, id: usize) -> (u64, u64, u64, u64) {
        let mut t = (0, 0, 0, 0);
        for w in self.workers.iter() {
            let c = &w.per_command[id];
            t.0 += c.calls.load(Relaxed);
            t.1 += c.usec.load(Relaxed);
            t.2 += c.rejected.load(Relaxed);
            t.3 += c.failed.load(Relaxed);
        }
        t
    }

    /// Counts one error reply by code.
    pub fn count_error(&self, code: &str) {
        let mut errors = self.errors.lock();
        if let Some(n) = errors.get_mut(code) {
            *n += 1;
        } else if errors.len() < 128 {
            errors.insert(code.to_string(), 1);
        } else {
            *errors.entry("ERRORSTATS_OVERFLOW".into()).or_default() += 1;
        }
    }

    /// Records a sample for `instantaneous_ops_per_sec`.
    pub fn sample_ops(&self, now_ms: u64) {
        let total = self.sum(|w| &w.commands);
        let mut s = self.ops_samples.lock();
        s.push((now_ms, total));
        if s.len() > 16 {
            s.remove(0);
        }
    }

    /// Operations per second over the recent samples.
    pub fn ops_per_sec(&self) -> u64 {
        let s = self.ops_samples.lock();
        match (s.first(), s.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) * 1000 / (b.0 - a.0),
            _ => 0,
        }
    }

    /// `CONFIG RESETSTAT`.
    pub fn reset(&self) {
        for w in self.workers.iter() {
            for c in [
                &w.commands,
                &w.net_input,
                &w.net_output,
                &w.keyspace_hits,
                &w.keyspace_misses,
            ] {
                c.store(0, Relaxed);
            }
            for c in w.per_command.iter() {
                c.calls.store(0, Relaxed);
                c.usec.store(0, Relaxed);
                c.rejected.store(0, Relaxed);
                c.failed.store(0, Relaxed);
            }
        }
        self.connections_received.store(0, Relaxed);
        self.rejected_connections.store(0, Relaxed);
        self.evicted_keys.store(0, Relaxed);
        self.errors.lock().clear();
    }
}
