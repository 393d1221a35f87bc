//! Connected clients: the per-connection state a command may change ([`ClientState`]) and
//! the shared registry behind `CLIENT LIST`, `CLIENT KILL` and `INFO clients`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

/// What the registry knows about a client; shared with the connection task.
pub struct ClientInfo {
    /// Unique id (`CLIENT ID`).
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// Connection time, Unix ms.
    pub created_ms: u64,
    /// Last command time, Unix ms.
    pub last_interaction_ms: AtomicU64,
    /// Id of the last command run.
    pub last_cmd: AtomicUsize,
    /// `CLIENT SETNAME`.
    pub name: Mutex<String>,
    /// `CLIENT SETINFO lib-name / lib-ver`.
    pub lib: Mutex<(String, String)>,
    /// Protocol version (2 or 3).
    pub resp: AtomicUsize,
    /// Bytes waiting in the query buffer.
    pub qbuf: AtomicUsize,
    /// Bytes waiting in the output buffer.
    pub omem: AtomicUsize,
    /// Set by `CLIENT KILL`; the connection closes at its next wake-up.
    pub killed: AtomicBool,
    /// Wakes the connection task when it is killed.
    pub kill: Notify,
    /// Whether the client is in MONITOR mode.
    pub monitor: AtomicBool,
    /// Whether `CLIENT NO-EVICT on` was sent.
    pub no_evict: AtomicBool,
    /// Out-of-band messages to this client (MONITOR lines, pub/sub messages, replies for a
    /// blocked command served by another client), already encoded.
    pub push: mpsc::UnboundedSender<Vec<u8>>,
    /// Number of channel, pattern and shard-channel subscriptions.
    pub subscriptions: AtomicUsize,
}

impl ClientInfo {
    /// Whether the client speaks RESP3.
    pub fn is_resp3(&self) -> bool {
        self.resp.load(Relaxed) == 3
    }

    /// Queues already-encoded bytes for the client.
    pub fn send(&self, bytes: Vec<u8>) {
        let _ = self.push.send(bytes);
    }

    /// Marks the client killed and wakes its task.
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        self.kill.notify_one();
    }
}

/// How replies are sent (`CLIENT REPLY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Every reply is sent.
    On,
    /// No reply is sent.
    Off,
    /// The next command's reply is not sent.
    SkipNext,
    /// This command's reply is not sent, then back to `On`.
    Skip,
}

/// Per-connection state that commands read and change.
pub struct ClientState {
    /// The shared part.
    pub info: Arc<ClientInfo>,
    /// Whether the connection speaks RESP3.
    pub resp3: bool,
    /// Whether the client passed AUTH (or no password is set).
    pub authenticated: bool,
    /// `CLIENT REPLY` mode.
    pub reply_mode: ReplyMode,
    /// Close the connection once the pending replies are written.
    pub close_after_reply: bool,
    /// Receives what [`ClientInfo::push`] sends.
    pub push_rx: mpsc::UnboundedReceiver<Vec<u8>>,
    /// The transaction being queued (`MULTI`), if any.
    pub multi: Option<crate::commands::transactions::Queued>,
    /// Keys watched by `WATCH`: (key, slot, slot version when watched).
    pub watched: Vec<(Vec<u8>, u16, u64)>,
    /// Subscribed channels.
    pub channels: std::collections::HashSet<Vec<u8>>,
    /// Subscribed patterns.
    pub patterns: std::collections::HashSet<Vec<u8>>,
    /// Subscribed shard channels.
    pub shard_channels: std::collections::HashSet<Vec<u8>>,
    /// Set by a blocking command that found nothing: what to wait for.
    pub block: Option<crate::blocking::BlockRequest>,
    /// Whether commands run inside EXEC (blocking commands then do not block).
    pub in_exec: bool,
    /// Whether the client sent READONLY (cluster replicas serve reads).
    pub readonly: bool,
    /// Whether the client sent ASKING for its next command.
    pub asking: bool,
    /// The cluster routing snapshot this connection uses, with its version.
    pub routing: Option<(u64, Arc<crate::cluster::routing::Routing>)>,
    /// Whether this is the link from this node's primary (its writes are applied, not
    /// refused, and not propagated again).
    pub is_primary_link: bool,
    /// The port this client (a replica) listens on, from REPLCONF listening-port.
    pub listening_port: u16,
    /// Set by PSYNC: the connection turns into a replica link.
    pub become_replica: Option<(
        Arc<crate::replication::ReplicaLink>,
        mpsc::UnboundedReceiver<Vec<u8>>,
    )>,
    /// Set by WAIT: (stream offset, replicas wanted, deadline).
    pub wait: Option<(u64, usize, Option<std::time::Instant>)>,
    /// AOF position of this client's last write (replies wait for it under `always`).
    pub aof_position: u64,
}

impl ClientState {
    /// A state for running a command on behalf of a client from another task (serving a
    /// blocked client); it shares the client's registry entry.
    pub fn detached(info: Arc<ClientInfo>) -> ClientState {
        let (_tx, rx) = mpsc::unbounded_channel();
        ClientState {
            resp3: info.is_resp3(),
            info,
            authenticated: true,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            push_rx: rx,
            multi: None,
            watched: Vec::new(),
            channels: Default::default(),
            patterns: Default::default(),
            shard_channels: Default::default(),
            block: None,
            in_exec: false,
            readonly: false,
            asking: false,
            routing: None,
            is_primary_link: false,
            listening_port: 0,
            become_replica: None,
            wait: None,
            aof_position: 0,
        }
    }

    /// Total subscriptions (channels, patterns, shard channels).
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}

/// Every connected client.
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    monitors: Mutex<Vec<Arc<ClientInfo>>>,
    monitor_count: AtomicUsize,
}

impl Default for ClientRegistry {
    fn default() -> Self {
        ClientRegistry {
            clients: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            monitors: Mutex::new(Vec::new()),
            monitor_count: AtomicUsize::new(0),
        }
    }
}

impl ClientRegistry {
    /// Registers a new connection.
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr, now_ms: u64) -> ClientState {
        let id = self.next_id.fetch_add(1, Relaxed);
        let (push, push_rx) = mpsc::unbounded_channel();
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            created_ms: now_ms,
            last_interaction_ms: AtomicU64::new(now_ms),
            last_cmd: AtomicUsize::new(usize::MAX),
            name: Mutex::new(String::new()),
            lib: Mutex::new((String::new(), String::new())),
            resp: AtomicUsize::new(2),
            qbuf: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            monitor: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            push,
            subscriptions: AtomicUsize::new(0),
        });
        self.clients.lock().insert(id, info.clone());
        let mut state = ClientState::detached(info);
        state.push_rx = push_rx;
        state.authenticated = false;
        state.resp3 = false;
        state
    }

    /// Removes a closed connection.
    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
        let mut monitors = self.monitors.lock();
        let before = monitors.len();
        monitors.retain(|m| m.id != id);
        if monitors.len() != before {
            self.monitor_count.store(monitors.len(), Relaxed);
        }
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.clients.lock().is_empty()
    }

    /// A snapshot of every client, by id.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }

    /// Turns a client into a monitor.
    pub fn add_monitor(&self, state: &mut ClientState) {
        if state.info.monitor.swap(true, Relaxed) {
            return;
        }
        let mut monitors = self.monitors.lock();
        monitors.push(state.info.clone());
        self.monitor_count.store(monitors.len(), Relaxed);
    }

    /// Whether any client is monitoring (checked on the hot path before formatting).
    #[inline]
    pub fn has_monitors(&self) -> bool {
        self.monitor_count.load(Relaxed) > 0
    }

    /// Sends a MONITOR line to every monitor.
    pub fn feed_monitors(&self, line: &[u8]) {
        let monitors = self.monitors.lock();
        for m in monitors.iter() {
            m.send(line.to_vec());
        }
    }
}
