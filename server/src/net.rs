//! Networking: the listener, the worker threads and the per-connection loop.
//!
//! One acceptor (on the main thread's runtime) hands each new connection to a worker thread
//! in turn. Every worker runs a single-threaded tokio runtime and owns its connections, so a
//! connection's state never crosses threads. A connection reads whatever is available,
//! decodes and executes every complete command in the buffer (pipelining), and writes all the
//! replies with one write.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::client::ClientState;
use crate::clock;
use crate::dispatch::{dispatch, Ctx, Flow};
use crate::resp::{Decoded, Decoder, Limits, Reply};
use crate::server::Server;
use crate::stats::WorkerStats;

/// Parses the `bind` directive into addresses; a leading `-` marks an optional address.
pub fn bind_addresses(bind: &str, port: u16) -> Vec<(SocketAddr, bool)> {
    bind.split_whitespace()
        .filter_map(|word| {
            let (optional, word) = match word.strip_prefix('-') {
                Some(w) => (true, w),
                None => (false, word),
            };
            let ip: IpAddr = match word {
                "*" => "0.0.0.0".parse().ok()?,
                "::*" => "::".parse().ok()?,
                w => w.parse().ok()?,
            };
            Some((SocketAddr::new(ip, port), optional))
        })
        .collect()
}

/// Binds one listening socket.
fn listen(addr: SocketAddr, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds every configured address; fails if a required one cannot be bound.
pub fn bind_all(server: &Server) -> std::io::Result<Vec<std::net::TcpListener>> {
    let port = server.config.get_i64("port") as u16;
    let backlog = server.config.get_i64("tcp-backlog") as i32;
    let bind = server.config.get("bind").unwrap_or_default();
    let mut out = Vec::new();
    for (addr, optional) in bind_addresses(&bind, port) {
        match listen(addr, backlog) {
            Ok(l) => out.push(l),
            Err(e) if optional => {
                tracing::warn!("Warning: Could not create server TCP listening socket {addr}: {e}")
            }
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("Could not create server TCP listening socket {addr}: {e}"),
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(std::io::Error::other("no address to listen on"));
    }
    Ok(out)
}

/// Starts `server.workers` worker threads; returns the channels that feed them connections.
pub fn start_workers(server: &Arc<Server>) -> Vec<mpsc::UnboundedSender<std::net::TcpStream>> {
    (0..server.workers)
        .map(|index| {
            let (tx, mut rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
            let server = server.clone();
            std::thread::Builder::new()
                .name(format!("worker-{index}"))
                // Room for deep Lua scripts and nested replies (virtual until touched).
                .stack_size(16 << 20)
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("worker runtime");
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&rt, async move {
                        while let Some(stream) = rx.recv().await {
                            let server = server.clone();
                            tokio::task::spawn_local(async move {
                                if let Ok(stream) = TcpStream::from_std(stream) {
                                    serve(server, index, stream).await;
                                }
                            });
                        }
                    });
                })
                .expect("spawn worker thread");
            tx
        })
        .collect()
}

/// Accepts connections on `listener` and deals them out to the workers.
pub async fn accept_loop(
    server: Arc<Server>,
    listener: std::net::TcpListener,
    workers: Arc<Vec<mpsc::UnboundedSender<std::net::TcpStream>>>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("listener: {e}");
            return;
        }
    };
    let mut next = 0usize;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        server.stats.connections_received.fetch_add(1, Relaxed);
        let max = server.config.settings().maxclients;
        if server.clients.len() >= max {
            server.stats.rejected_connections.fetch_add(1, Relaxed);
            let mut stream = stream;
            let _ = stream
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
            continue;
        }
        let _ = stream.set_nodelay(true);
        let Ok(std_stream) = stream.into_std() else {
            continue;
        };
        // A worker stuck in a busy script cannot serve; new connections (SCRIPT KILL...)
        // go to another one.
        let count = workers.len();
        let target = (0..count)
            .map(|i| (next + i) % count)
            .find(|&w| !server.stats.workers[w].script_running.load(Relaxed))
            .unwrap_or(next % count);
        let _ = workers[target].send(std_stream);
        next = next.wrapping_add(1);
    }
}

/// The connection loop.
async fn serve(server: Arc<Server>, worker: usize, mut stream: TcpStream) {
    let (Ok(addr), Ok(laddr)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let mut client = server.clients.register(addr, laddr, clock::unix_ms());
    let info = client.info.clone();
    run_connection(&server, worker, &mut stream, &mut client).await;
    crate::commands::pubsub::unsubscribe_all(&server, &mut client);
    server.clients.unregister(info.id);
    let _ = stream.shutdown().await;
}

/// Polls replica acknowledgements until `wanted` replicas reached `offset` or the deadline.
async fn wait_acks(
    server: &Server,
    offset: u64,
    wanted: usize,
    deadline: Option<std::time::Instant>,
) -> usize {
    loop {
        let n = server.replication.acked(offset);
        if n >= wanted || deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until a blocked command is answered (by a client that made a key ready, or by its
/// timeout) and writes the answer; false if the connection must close.
async fn wait_blocked(
    server: &Server,
    stats: &WorkerStats,
    settings: &Arc<crate::config::Settings>,
    stream: &mut TcpStream,
    client: &mut ClientState,
    args: Vec<Vec<u8>>,
    req: crate::blocking::BlockRequest,
) -> bool {
    let waiter = crate::blocking::Waiter::new(client.info.clone(), args, req.keys.clone());
    server.blocking.register(&waiter);
    // A key may have become ready between the command and the registration.
    crate::dispatch::serve_blocked(server, stats, settings, req.keys.clone());
    let info = client.info.clone();
    let mut deadline_at = req.deadline;
    loop {
        let deadline = async {
            match deadline_at {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = info.kill.notified() => {
                *waiter.state.lock() = true;
                server.blocking.unregister(&waiter);
                return false;
            }
            msg = client.push_rx.recv() => {
                let Some(msg) = msg else { return false };
                if stream.write_all(&msg).await.is_err() {
                    server.blocking.unregister(&waiter);
                    return false;
                }
                if *waiter.state.lock() {
                    return true;
                }
            }
            _ = deadline => {
                let timed_out = {
                    let mut answered = waiter.state.lock();
                    !std::mem::replace(&mut *answered, true)
                };
                if timed_out {
                    server.blocking.unregister(&waiter);
                    return stream.write_all(&req.timeout_reply).await.is_ok();
                }
                // Served just now: the reply is on its way through the push channel.
                deadline_at = None;
            }
        }
    }
}

/// Starts loading what the pipelined commands in `buf` will touch (for the first argument
/// after the name, where nearly every command has its key), so that the batch's cache
/// misses overlap instead of coming one after the other: first every key's slot cell, then
/// (the cells having arrived meanwhile) the index line of each slot table where the key's
/// probe begins, found through the cell's hint without taking the lock, then (under a
/// try-lock) the entry that line points to. A wrong guess (a command without a key
/// there) costs a few useless prefetches.
fn prefetch_batch(server: &Server, scout: &mut Decoder, buf: &[u8], limits: &Limits) {
    const MAX_AHEAD: usize = 64;
    let mut keys = [(0u16, 0u64); MAX_AHEAD];
    let mut found = 0;
    let mut pos = 0;
    for _ in 0..MAX_AHEAD {
        match scout.decode(&buf[pos..], limits) {
            Decoded::Command(n) => {
                if let Some(key) = scout.args(&buf[pos..]).get(1) {
                    let k = crate::keyspace::KeyRef::new(key);
                    server.keyspace.prefetch(k.slot);
                    keys[found] = (k.slot, k.hash);
                    found += 1;
                }
                pos += n;
            }
            Decoded::Skip(n) => pos += n,
            Decoded::Incomplete | Decoded::Error(_) => break,
        }
    }
    // Only the keys whose slot holds something go on to the third step.
    let mut filled = 0;
    for i in 0..found {
        let (slot, hash) = keys[i];
        if server.keyspace.prefetch_home(slot, hash) {
            keys[filled] = (slot, hash);
            filled += 1;
        }
    }
    for &(slot, hash) in &keys[..filled] {
        server.keyspace.prefetch_entry(slot, hash);
    }
    // Leave the scout clean for the next batch if it stopped inside a frame.
    if scout.in_frame() {
        *scout = Decoder::new();
    }
}

/// The time the commands of one batch run at: one clock reading serves up to `REUSE`
/// commands (a vDSO call per command showed in profiles), and anything that waited
/// ([`BatchClock::invalidate`]) makes the next command read the clock again. Each reading
/// is also the client's last interaction time.
struct BatchClock<'a> {
    now_ms: u64,
    uses: u32,
    last_interaction_ms: &'a std::sync::atomic::AtomicU64,
}

impl<'a> BatchClock<'a> {
    const REUSE: u32 = 32;

    fn new(last_interaction_ms: &'a std::sync::atomic::AtomicU64) -> Self {
        BatchClock {
            now_ms: 0,
            uses: Self::REUSE,
            last_interaction_ms,
        }
    }

    /// The time for the next command.
    fn now(&mut self) -> u64 {
        if self.uses >= Self::REUSE {
            self.now_ms = clock::unix_ms();
            self.last_interaction_ms.store(self.now_ms, Relaxed);
            self.uses = 0;
        }
        self.uses += 1;
        self.now_ms
    }

    /// Forgets the reading (after a wait).
    fn invalidate(&mut self) {
        self.uses = Self::REUSE;
    }
}

enum Wake {
    Read(std::io::Result<usize>),
    Push(Option<Vec<u8>>),
    Killed,
    Idle,
}

async fn run_connection(
    server: &Arc<Server>,
    worker: usize,
    stream: &mut TcpStream,
    client: &mut ClientState,
) {
    let stats: &WorkerStats = &server.stats.workers[worker];
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut decoder = Decoder::new();
    let mut scout = Decoder::new();
    let mut settings = server.config.settings();
    let mut version = server.config.version();
    let info = client.info.clone();
    loop {
        if server.config.version() != version {
            version = server.config.version();
            settings = server.config.settings();
        }
        let idle = (settings.timeout_secs > 0 && !info.monitor.load(Relaxed))
            .then(|| Duration::from_secs(settings.timeout_secs));
        let wake = {
            let push = client.push_rx.recv();
            let idle_timer = async {
                match idle {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = info.kill.notified() => Wake::Killed,
                msg = push => Wake::Push(msg),
                r = stream.read_buf(&mut rbuf) => Wake::Read(r),
                _ = idle_timer => Wake::Idle,
            }
        };
        match wake {
            Wake::Killed | Wake::Idle => return,
            Wake::Push(None) => return,
            Wake::Push(Some(msg)) => {
                if stream.write_all(&msg).await.is_err() {
                    return;
                }
                continue;
            }
            Wake::Read(Ok(0)) | Wake::Read(Err(_)) => return,
            Wake::Read(Ok(n)) => WorkerStats::bump(&stats.net_input, n as u64),
        }
        if info.killed.load(Relaxed) {
            return;
        }
        let limits = Limits {
            max_bulk_len: settings.proto_max_bulk_len,
            ..Limits::default()
        };
        let mut pos = 0;
        let mut close = false;
        let mut clock = BatchClock::new(&info.last_interaction_ms);
        loop {
            match decoder.decode(&rbuf[pos..], &limits) {
                Decoded::Incomplete => {
                    let want = decoder.wanted();
                    if want > 0 && want < settings.client_query_buffer_limit {
                        rbuf.reserve(want);
                    }
                    break;
                }
                Decoded::Skip(n) => pos += n,
                Decoded::Error(e) => {
                    tracing::debug!("Protocol error ({e}) from client {addr}", addr = info.addr);
                    Reply::new(&mut out, client.resp3).error(&format!("ERR Protocol error: {e}"));
                    close = true;
                    break;
                }
                Decoded::Command(n) => {
                    if pos == 0 && n < rbuf.len() {
                        prefetch_batch(server, &mut scout, &rbuf, &limits);
                    }
                    let args = decoder.args(&rbuf[pos..]);
                    loop {
                        let flow = {
                            let resp3 = client.resp3;
                            let mut ctx = Ctx {
                                server,
                                client: &mut *client,
                                out: Reply::new(&mut out, resp3),
                                now_ms: clock.now(),
                                stats,
                                settings: &settings,
                                ready: Vec::new(),
                                propagate: None,
                            };
                            dispatch(&mut ctx, &args)
                        };
                        match flow {
                            Flow::Continue => break,
                            Flow::Close => {
                                close = true;
                                break;
                            }
                            Flow::Replica => {
                                if !out.is_empty() {
                                    if stream.write_all(&out).await.is_err() {
                                        return;
                                    }
                                    out.clear();
                                }
                                if let Some((link, rx)) = client.become_replica.take() {
                                    let leftover = rbuf[pos + n..].to_vec();
                                    crate::replication::primary::serve_link(
                                        server, stream, link, rx, leftover, &info,
                                    )
                                    .await;
                                }
                                return;
                            }
                            Flow::Wait => {
                                if !out.is_empty() {
                                    if stream.write_all(&out).await.is_err() {
                                        return;
                                    }
                                    out.clear();
                                }
                                if let Some((offset, wanted, deadline)) = client.wait.take() {
                                    let n = wait_acks(server, offset, wanted, deadline).await;
                                    clock.invalidate();
                                    Reply::new(&mut out, client.resp3).int(n as i64);
                                }
                                break;
                            }
                            Flow::Block(req) => {
                                if !out.is_empty() {
                                    if stream.write_all(&out).await.is_err() {
                                        return;
                                    }
                                    out.clear();
                                }
                                let owned: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
                                if !wait_blocked(
                                    server, stats, &settings, stream, client, owned, req,
                                )
                                .await
                                {
                                    return;
                                }
                                clock.invalidate();
                                break;
                            }
                            Flow::Paused => {
                                if !out.is_empty() {
                                    if stream.write_all(&out).await.is_err() {
                                        return;
                                    }
                                    out.clear();
                                }
                                server.wait_unpaused().await;
                                // The command runs again, later.
                                clock.invalidate();
                                if info.killed.load(Relaxed) {
                                    return;
                                }
                            }
                        }
                    }
                    pos += n;
                    if close {
                        break;
                    }
                }
            }
        }
        rbuf.advance(pos);
        info.qbuf.store(rbuf.len(), Relaxed);
        if rbuf.len() > settings.client_query_buffer_limit {
            tracing::warn!(
                "Closing client that reached max query buffer length: addr={} qbuf={}",
                info.addr,
                rbuf.len()
            );
            return;
        }
        let hard_limit = settings.normal_output_hard_limit;
        if hard_limit > 0 && out.len() > hard_limit {
            tracing::warn!(
                "Client id={} addr={} closed for overcoming of output buffer limits.",
                info.id,
                info.addr
            );
            return;
        }
        if client.aof_position > 0 {
            let aof = server.replication.aof.read().clone();
            if let Some(aof) = aof {
                if aof.policy() == crate::aof::Policy::Always {
                    aof.wait_synced(client.aof_position).await;
                }
            }
            client.aof_position = 0;
        }
        if !out.is_empty() {
            WorkerStats::bump(&stats.net_output, out.len() as u64);
            info.omem.store(out.len(), Relaxed);
            if stream.write_all(&out).await.is_err() {
                return;
            }
            info.omem.store(0, Relaxed);
            out.clear();
            if out.capacity() > 1 << 20 {
                out = Vec::with_capacity(16 * 1024);
            }
        }
        if rbuf.is_empty() && rbuf.capacity() > 1 << 20 {
            rbuf = BytesMut::with_capacity(16 * 1024);
        }
        if close {
            return;
        }
    }
}
