//! The state shared by every connection and worker: configuration, keyspace, clients,
//! statistics, the slow log and latency monitor, and the pause and shutdown switches.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::client::ClientRegistry;
use crate::clock;
use crate::commands::TABLE;
use crate::config::Config;
use crate::keyspace::Keyspace;
use crate::stats::Stats;

/// One slow-log entry.
#[derive(Debug, Clone)]
pub struct SlowLogEntry {
    /// Increasing id.
    pub id: u64,
    /// Unix time in seconds.
    pub time: u64,
    /// Duration in microseconds.
    pub micros: u64,
    /// Arguments (at most 32, each at most 128 bytes, as Redis trims them).
    pub args: Vec<Vec<u8>>,
    /// Client address.
    pub addr: String,
    /// Client name.
    pub name: String,
}

/// The slow log (`SLOWLOG`).
#[derive(Default)]
pub struct SlowLog {
    /// Newest first.
    pub entries: VecDeque<SlowLogEntry>,
    /// Next id.
    pub next_id: u64,
}

/// One latency event's record (`LATENCY`).
#[derive(Debug, Clone, Default)]
pub struct LatencyEvent {
    /// (Unix seconds, milliseconds) samples, oldest first, at most 160.
    pub samples: VecDeque<(u64, u64)>,
    /// Largest latency seen.
    pub max: u64,
}

/// Client pause state (`CLIENT PAUSE`).
pub struct Pause {
    /// Unix ms until which clients are paused (0: not paused).
    pub until_ms: AtomicU64,
    /// Whether every command is paused, not only writes.
    pub all: AtomicBool,
    /// Wakes paused clients on `CLIENT UNPAUSE`.
    pub unpaused: Notify,
}

/// Everything the server shares.
pub struct Server {
    /// Live configuration.
    pub config: Config,
    /// All keys.
    pub keyspace: Keyspace,
    /// Connected clients.
    pub clients: ClientRegistry,
    /// Counters.
    pub stats: Stats,
    /// The slow log.
    pub slowlog: Mutex<SlowLog>,
    /// The latency monitor, by event name.
    pub latency: Mutex<std::collections::BTreeMap<String, LatencyEvent>>,
    /// Start instant.
    pub started: Instant,
    /// Start time, Unix ms.
    pub started_unix_ms: u64,
    /// Random 40-hex-digit run id.
    pub run_id: String,
    /// The TCP port actually listened on.
    pub port: AtomicU64,
    /// Client pause.
    pub pause: Pause,
    /// Whether the active expiry cycle runs (`DEBUG SET-ACTIVE-EXPIRE`).
    pub active_expire: AtomicBool,
    /// Unix seconds of the last successful save.
    pub lastsave: AtomicU64,
    /// Peak of `used_memory`.
    pub peak_memory: AtomicU64,
    /// Set when shutdown was requested; the main loop exits.
    pub shutdown: Notify,
    /// Number of worker threads.
    pub workers: usize,
    /// Pub/Sub subscriptions.
    pub pubsub: crate::pubsub::PubSub,
    /// Clients blocked on keys.
    pub blocking: crate::blocking::Blocking,
    /// Cluster mode, when `cluster-enabled yes`.
    pub cluster: Option<std::sync::Arc<crate::cluster::ClusterNode>>,
    /// The replication stream, attached replicas and the link to a primary.
    pub replication: crate::replication::Replication,
    /// The main runtime, for background tasks started by commands.
    pub runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// A handle on the `Arc` this server lives in.
    pub me: std::sync::OnceLock<std::sync::Weak<Server>>,
    /// maxmemory watcher.
    pub evictor: crate::evict::Evictor,
    /// Snapshots being written slot by slot (see [`crate::slot_snapshot`]).
    pub slot_snapshots: Mutex<Vec<std::sync::Arc<dyn crate::slot_snapshot::SlotSerializer>>>,
    /// `slot_snapshots.len()`, read on every write.
    pub slot_snapshot_count: std::sync::atomic::AtomicUsize,
    /// Set while the AOF or the snapshot is loaded at start-up (`-LOADING`, `loading:1`).
    pub loading: AtomicBool,
    /// SAVE / BGSAVE state.
    pub snapshot: crate::snapshot::SnapshotState,
    /// What SHUTDOWN asked for: 0 default (save if `save` rules exist), 1 SAVE, 2 NOSAVE.
    pub shutdown_save: std::sync::atomic::AtomicU8,
    /// Script cache, function libraries, busy scripts.
    pub scripts: crate::scripting::Scripts,
}

impl Server {
    /// Builds the shared state for `workers` worker threads.
    pub fn new(
        config: Config,
        workers: usize,
        cluster: Option<std::sync::Arc<crate::cluster::ClusterNode>>,
    ) -> Self {
        let now = clock::unix_ms();
        let config_backlog = config.get_i64("repl-backlog-size");
        let run_id: String = {
            use rand::Rng;
            let mut rng = rand::thread_rng();
            (0..40)
                .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
                .collect()
        };
        Server {
            config,
            keyspace: Keyspace::new(),
            clients: ClientRegistry::default(),
            stats: Stats::new(workers, TABLE.all.len()),
            slowlog: Mutex::new(SlowLog::default()),
            latency: Mutex::new(Default::default()),
            started: Instant::now(),
            started_unix_ms: now,
            run_id,
            port: AtomicU64::new(0),
            pause: Pause {
                until_ms: AtomicU64::new(0),
                all: AtomicBool::new(false),
                unpaused: Notify::new(),
            },
            active_expire: AtomicBool::new(true),
            lastsave: AtomicU64::new(now / 1000),
            peak_memory: AtomicU64::new(0),
            shutdown: Notify::new(),
            workers,
            pubsub: Default::default(),
            blocking: Default::default(),
            cluster,
            replication: crate::replication::Replication::new(config_backlog.max(0) as usize),
            runtime: std::sync::OnceLock::new(),
            me: std::sync::OnceLock::new(),
            evictor: Default::default(),
            scripts: Default::default(),
            snapshot: Default::default(),
            loading: AtomicBool::new(false),
            slot_snapshots: Default::default(),
            slot_snapshot_count: Default::default(),
            shutdown_save: Default::default(),
        }
    }

    /// Whether a command of this kind must wait because clients are paused.
    #[inline]
    pub fn paused_for(&self, is_write: bool, now_ms: u64) -> bool {
        let until = self.pause.until_ms.load(Relaxed);
        until != 0 && now_ms < until && (is_write || self.pause.all.load(Relaxed))
    }

    /// Waits until the pause ends (or is lifted).
    pub async fn wait_unpaused(&self) {
        let until = self.pause.until_ms.load(Relaxed);
        let now = clock::unix_ms();
        if until > now {
            let wait = Duration::from_millis((until - now).min(100));
            let _ = tokio::time::timeout(wait, self.pause.unpaused.notified()).await;
        }
    }

    /// Adds a slow-log entry (the caller checked the threshold), keeping `max_len` entries.
    pub fn slowlog_add(&self, max_len: usize, micros: u64, args: &[&[u8]], addr: &str, name: &str) {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i == 31 && args.len() > 32 {
                kept.push(format!("... ({} more arguments)", args.len() - 31).into_bytes());
                break;
            }
            if a.len() > 128 {
                let mut v = a[..128].to_vec();
                v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
                kept.push(v);
            } else {
                kept.push(a.to_vec());
            }
        }
        let mut log = self.slowlog.lock();
        let id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(SlowLogEntry {
            id,
            time: clock::unix_ms() / 1000,
            micros,
            args: kept,
            addr: addr.to_string(),
            name: name.to_string(),
        });
        while log.entries.len() > max_len {
            log.entries.pop_back();
        }
    }

    /// Records a latency event (the caller checked `latency-monitor-threshold`).
    pub fn latency_add(&self, event: &str, millis: u64) {
        let now = clock::unix_ms() / 1000;
        let mut lat = self.latency.lock();
        let e = lat.entry(event.to_string()).or_default();
        match e.samples.back_mut() {
            Some(last) if last.0 == now => last.1 = last.1.max(millis),
            _ => e.samples.push_back((now, millis)),
        }
        while e.samples.len() > 160 {
            e.samples.pop_front();
        }
        e.max = e.max.max(millis);
    }

    /// The `Arc` this server lives in (set right after construction).
    pub fn self_arc(&self) -> std::sync::Arc<Server> {
        self.me
            .get()
            .and_then(|w| w.upgrade())
            .expect("the server lives in an Arc")
    }

    /// Successful writes since start-up, all workers.
    pub fn dirty(&self) -> u64 {
        self.stats
            .workers
            .iter()
            .map(|w| w.dirty.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }

    /// Asks the main loop to exit.
    pub fn request_shutdown(&self) {
        self.shutdown.notify_one();
    }
}
