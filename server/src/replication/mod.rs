//! Replication: the write stream, its backlog, the replicas attached to this node, and the
//! link to this node's primary when it is a replica.
//!
//! Every write command that runs on a primary is appended, RESP-encoded, to one stream
//! ([`Replication::append`]) while the stream's lock is held around the command, so the
//! stream's order is the order writes were applied. The stream feeds every attached replica
//! and a backlog (`repl-backlog-size`) that lets a replica that was briefly away continue
//! with a partial resync. Offsets count stream bytes, as Redis's do; a promoted replica keeps
//! its primary's replication id as `master_replid2` (PSYNC2), so the other replicas can
//! continue from it.
//!
//! - [`primary`]: PSYNC on the primary side (full and partial sync) and the replica links;
//! - [`replica`]: the replica side: handshake, snapshot load, applying the stream, ACKs.

pub mod primary;
pub mod replica;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, ReentrantMutex, ReentrantMutexGuard};
use tokio::sync::mpsc;

/// The stream and its backlog.
pub struct Log {
    /// Current replication id.
    pub replid: String,
    /// Previous replication id (after a promotion).
    pub replid2: String,
    /// Bytes ever appended under `replid`.
    pub offset: u64,
    /// Last offset valid for `replid2` (-1: none).
    pub second_offset: i64,
    /// The most recent stream bytes (between `backlog_size` and twice that, trimmed in
    /// bulk so that appending stays amortized O(1)).
    pub backlog: Vec<u8>,
    /// Backlog capacity.
    pub backlog_size: usize,
}

impl Log {
    /// Offset of the first byte still in the backlog.
    pub fn backlog_first_offset(&self) -> u64 {
        self.offset + 1 - self.backlog.len() as u64
    }

    /// Appends bytes to the backlog, dropping the oldest beyond its size.
    fn push(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        self.backlog.extend_from_slice(bytes);
        if self.backlog.len() > 2 * self.backlog_size {
            let excess = self.backlog.len() - self.backlog_size;
            self.backlog.drain(..excess);
        }
    }
}

/// A replica attached to this node.
pub struct ReplicaLink {
    /// Its client id.
    pub client_id: u64,
    /// Its address.
    pub addr: SocketAddr,
    /// The port it listens on (REPLCONF listening-port).
    pub listening_port: u16,
    /// Stream bytes to send it.
    pub tx: mpsc::UnboundedSender<Vec<u8>>,
    /// The offset it acknowledged.
    pub ack_offset: AtomicU64,
    /// When it last acknowledged (Unix ms).
    pub last_ack_ms: AtomicU64,
    /// Stream bytes queued for it and not yet written to its socket.
    pub queued: AtomicU64,
    /// `client-output-buffer-limit replica <hard> <soft> <seconds>` when it attached.
    pub limits: OutputLimits,
    /// Since when `queued` has been over the soft limit (Unix ms, 0: it is not).
    pub over_soft_since_ms: AtomicU64,
    /// Set when it went over a limit: nothing more is queued and its link is closed.
    pub over_limit: std::sync::atomic::AtomicBool,
}

/// An output-buffer limit class (bytes, bytes, seconds; 0 disables each).
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputLimits {
    /// Close at once beyond this many queued bytes.
    pub hard: u64,
    /// Close when over this many bytes for `soft_seconds`.
    pub soft: u64,
    /// See `soft`.
    pub soft_seconds: u64,
}

impl ReplicaLink {
    /// Queues stream bytes unless that takes it over its output-buffer limits (then the
    /// link is marked to be closed and nothing more is queued).
    fn queue(&self, bytes: &[u8], now_ms: u64) {
        if self.over_limit.load(Ordering::Relaxed) {
            return;
        }
        let queued =
            self.queued.fetch_add(bytes.len() as u64, Ordering::Relaxed) + bytes.len() as u64;
        let l = self.limits;
        let mut over = l.hard > 0 && queued > l.hard;
        if l.soft > 0 && queued > l.soft {
            let since = self.over_soft_since_ms.load(Ordering::Relaxed);
            if since == 0 {
                self.over_soft_since_ms.store(now_ms, Ordering::Relaxed);
            } else if now_ms.saturating_sub(since) >= l.soft_seconds * 1000 {
                over = true;
            }
        } else {
            self.over_soft_since_ms.store(0, Ordering::Relaxed);
        }
        if over {
            self.over_limit.store(true, Ordering::Relaxed);
            tracing::warn!(
                "Client id={} addr={} (replica) scheduled to be closed ASAP for overcoming of output buffer limits ({queued} bytes queued).",
                self.client_id,
                self.addr
            );
            // An empty message wakes the link so that it closes.
            let _ = self.tx.send(Vec::new());
            return;
        }
        let _ = self.tx.send(bytes.to_vec());
    }
}

/// This node as a replica: where its primary is and how the link is doing.
#[derive(Debug, Clone, Default)]
pub struct PrimaryInfo {
    /// Primary host.
    pub host: String,
    /// Primary port.
    pub port: u16,
    /// Whether the link is up and synced.
    pub link_up: bool,
    /// Whether a full sync is in progress.
    pub syncing: bool,
    /// Last time anything came from the primary (Unix ms).
    pub last_io_ms: u64,
    /// Since when the link has been down (Unix ms; 0 while it is up).
    pub down_since_ms: u64,
}

/// Replication state of this node.
pub struct Replication {
    log: ReentrantMutex<std::cell::RefCell<Log>>,
    replicas: Mutex<Vec<Arc<ReplicaLink>>>,
    /// `Some` while this node is a replica.
    pub primary: Mutex<Option<PrimaryInfo>>,
    /// Bumped whenever the primary changes, so an old link task stops.
    pub primary_epoch: AtomicU64,
    /// Full syncs served.
    pub sync_full: AtomicU64,
    /// Partial resyncs accepted.
    pub sync_partial_ok: AtomicU64,
    /// Partial resyncs refused.
    pub sync_partial_err: AtomicU64,
    has_replicas: AtomicBool,
    /// Whether writes are streamed at all: off until the first replica attaches (as Redis
    /// creates its backlog then), so a lone primary pays nothing for replication.
    active: AtomicBool,
    replica_flag: AtomicBool,
    /// The append-only file, fed from the same stream.
    pub aof: parking_lot::RwLock<Option<Arc<crate::aof::Aof>>>,
}

/// Holding this keeps the stream's order while a write runs.
pub type StreamGuard<'a> = ReentrantMutexGuard<'a, std::cell::RefCell<Log>>;

/// A random 40-hex-digit replication id.
pub fn new_replid() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Encodes a command as RESP.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Replication {
    /// A primary with an empty stream.
    pub fn new(backlog_size: usize) -> Replication {
        Replication {
            log: ReentrantMutex::new(std::cell::RefCell::new(Log {
                replid: new_replid(),
                replid2: "0".repeat(40),
                offset: 0,
                second_offset: -1,
                backlog: Vec::new(),
                backlog_size: backlog_size.max(16 * 1024),
            })),
            replicas: Mutex::new(Vec::new()),
            primary: Mutex::new(None),
            primary_epoch: AtomicU64::new(0),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            has_replicas: AtomicBool::new(false),
            active: AtomicBool::new(false),
            aof: parking_lot::RwLock::new(None),
            replica_flag: AtomicBool::new(false),
        }
    }

    /// Takes the stream lock (re-entrant: EXEC and the commands it runs share it).
    pub fn lock(&self) -> StreamGuard<'_> {
        self.log.lock()
    }

    /// Appends raw stream bytes (already RESP) and sends them to the replicas. The caller
    /// holds [`Replication::lock`].
    pub fn append_raw(&self, guard: &StreamGuard<'_>, bytes: &[u8]) -> u64 {
        guard.borrow_mut().push(bytes);
        let aof_position = match self.aof.read().as_ref() {
            Some(aof) => aof.append(bytes),
            None => 0,
        };
        if self.has_replicas.load(Ordering::Relaxed) {
            let now = crate::clock::unix_ms();
            for r in self.replicas.lock().iter() {
                r.queue(bytes, now);
            }
        }
        aof_position
    }

    /// Appends one command to the stream; returns the AOF position to wait for (0: none).
    pub fn append(&self, guard: &StreamGuard<'_>, args: &[&[u8]]) -> u64 {
        self.append_raw(guard, &encode_command(args))
    }

    /// Reads the log.
    pub fn with_log<R>(&self, f: impl FnOnce(&Log) -> R) -> R {
        let g = self.log.lock();
        let log = g.borrow();
        f(&log)
    }

    /// Sets the replication id and offset this node's data corresponds to (loaded from a
    /// snapshot), with an empty backlog.
    pub fn restore_position(&self, replid: String, offset: u64) {
        self.with_log_mut(|log| {
            log.replid = replid;
            log.offset = offset;
            log.backlog.clear();
        });
    }

    /// Runs `f` on the stream log, mutably.
    pub fn with_log_mut<R>(&self, f: impl FnOnce(&mut Log) -> R) -> R {
        let g = self.log.lock();
        let mut log = g.borrow_mut();
        f(&mut log)
    }

    /// Attached replicas.
    pub fn replicas(&self) -> Vec<Arc<ReplicaLink>> {
        self.replicas.lock().clone()
    }

    /// Whether writes are streamed (a replica attached at some point, or this node is or was
    /// a replica).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Turns streaming on. Writers that checked the flag before hold their worker's gate
    /// while they run, so taking every gate here waits for them: no write can slip between
    /// the snapshot and the stream.
    pub fn activate(&self, gates: &[&parking_lot::RwLock<()>]) {
        if self.is_active() {
            return;
        }
        let held: Vec<_> = gates.iter().map(|g| g.write()).collect();
        self.active.store(true, Ordering::Release);
        drop(held);
    }

    /// Attaches a replica.
    pub fn add_replica(&self, link: Arc<ReplicaLink>) {
        let mut r = self.replicas.lock();
        r.push(link);
        self.has_replicas.store(true, Ordering::Relaxed);
    }

    /// Detaches a replica.
    pub fn remove_replica(&self, client_id: u64) {
        let mut r = self.replicas.lock();
        r.retain(|l| l.client_id != client_id);
        self.has_replicas.store(!r.is_empty(), Ordering::Relaxed);
    }

    /// Whether this node is a replica (a lock-free read for the hot path).
    #[inline]
    pub fn is_replica(&self) -> bool {
        self.replica_flag.load(Ordering::Relaxed)
    }

    /// Records whether this node is a replica; call after changing `primary`.
    pub fn set_replica(&self, replica: bool) {
        self.replica_flag.store(replica, Ordering::Relaxed);
    }

    /// Becomes a primary (REPLICAOF NO ONE, failover): the old id becomes `replid2`.
    pub fn promote(&self) {
        *self.primary.lock() = None;
        self.set_replica(false);
        self.primary_epoch.fetch_add(1, Ordering::AcqRel);
        self.with_log_mut(|log| {
            log.replid2 = std::mem::replace(&mut log.replid, new_replid());
            log.second_offset = log.offset as i64 + 1;
        });
    }

    /// Number of replicas whose acknowledged offset reached `offset`.
    pub fn acked(&self, offset: u64) -> usize {
        self.replicas
            .lock()
            .iter()
            .filter(|r| r.ack_offset.load(Ordering::Relaxed) >= offset)
            .count()
    }

    /// Asks every replica for an acknowledgement.
    pub fn request_acks(&self) {
        let _g = self.lock();
        let cmd = encode_command(&[b"REPLCONF", b"GETACK", b"*"]);
        // Not a write: the AOF keeps it too, and replay ignores it.
        self.append_raw(&_g, &cmd);
    }
}
