//! The replica side: connect to the primary, handshake, load the snapshot, apply the stream.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{encode_command, PrimaryInfo};
use crate::client::ClientState;
use crate::clock;
use crate::dispatch::{execute, resolve, Ctx};
use crate::resp::{Decoded, Decoder, Limits, Reply};
use crate::server::Server;

/// Makes this node a replica of `host:port` and starts the link task.
pub fn start(server: &Arc<Server>, host: String, port: u16) {
    let repl = &server.replication;
    let epoch = repl.primary_epoch.fetch_add(1, Ordering::AcqRel) + 1;
    *repl.primary.lock() = Some(PrimaryInfo {
        host: host.clone(),
        port,
        ..Default::default()
    });
    repl.set_replica(true);
    tracing::info!("Connecting to MASTER {host}:{port}");
    let server = server.clone();
    if let Some(rt) = server.runtime.get() {
        rt.spawn(run(server.clone(), host, port, epoch));
    }
}

fn current(server: &Server, epoch: u64) -> bool {
    server.replication.primary_epoch.load(Ordering::Acquire) == epoch
}

async fn run(server: Arc<Server>, host: String, port: u16, epoch: u64) {
    let mut failures = 0u32;
    while current(&server, epoch) {
        match sync_once(&server, &host, port, epoch).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(10) {
                    tracing::warn!("MASTER <-> REPLICA sync with {host}:{port} failed: {e} (attempt {failures})");
                }
            }
        }
        set_link(&server, epoch, false, false);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn set_link(server: &Server, epoch: u64, up: bool, syncing: bool) {
    if !current(server, epoch) {
        return;
    }
    if let Some(p) = server.replication.primary.lock().as_mut() {
        let now = clock::unix_ms();
        if up {
            p.down_since_ms = 0;
        } else if p.link_up || p.down_since_ms == 0 {
            p.down_since_ms = now;
        }
        p.link_up = up;
        p.syncing = syncing;
        p.last_io_ms = now;
    }
}

async fn read_line(r: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    let n = tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .map_err(|_| "timeout reading from the primary".to_string())?
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed by the primary".into());
    }
    Ok(line.trim_end().to_string())
}

async fn send(r: &mut BufReader<TcpStream>, args: &[&[u8]]) -> Result<String, String> {
    r.get_mut()
        .write_all(&encode_command(args))
        .await
        .map_err(|e| e.to_string())?;
    read_line(r).await
}

/// Runs one command as the primary link / loader would: no gates, no propagation.
fn run_one(
    server: &Server,
    client: &mut ClientState,
    args: &[&[u8]],
    settings: &std::sync::Arc<crate::config::Settings>,
) {
    let stats = &server.stats.workers[server.workers];
    if let Ok(spec) = resolve(args) {
        let mut sink = Vec::new();
        let mut ctx = Ctx {
            server,
            client,
            out: Reply::new(&mut sink, false),
            now_ms: clock::unix_ms(),
            stats,
            settings,
            ready: Vec::new(),
            propagate: None,
        };
        execute(&mut ctx, spec, args);
        let ready = std::mem::take(&mut ctx.ready);
        if !ready.is_empty() {
            crate::dispatch::serve_blocked(server, stats, settings, ready);
        }
    }
}

/// The client that replays a file at start-up: authenticated, and treated like a primary
/// link (its writes are applied, not propagated again).
pub fn loading_client(server: &Server) -> ClientState {
    let mut client = server.clients.register(
        "127.0.0.1:0".parse().expect("address"),
        "127.0.0.1:0".parse().expect("address"),
        clock::unix_ms(),
    );
    client.authenticated = true;
    client.is_primary_link = true;
    client
}

/// Replays the commands of an AOF file; returns the bytes of complete commands, or the
/// offset and reason of the first malformed one. `count` receives the number replayed.
pub fn replay(
    server: &Server,
    client: &mut ClientState,
    buf: &[u8],
    count: &mut usize,
) -> Result<usize, (usize, String)> {
    let mut decoder = Decoder::new();
    let limits = Limits::default();
    let settings = server.config.settings();
    let mut pos = 0;
    loop {
        match decoder.decode(&buf[pos..], &limits) {
            Decoded::Incomplete => return Ok(pos),
            Decoded::Error(e) => return Err((pos, e.to_string())),
            Decoded::Skip(n) => pos += n,
            Decoded::Command(n) => {
                let args = decoder.args(&buf[pos..]);
                run_one(server, client, &args, &settings);
                *count += 1;
                pos += n;
            }
        }
    }
}

/// Applies commands found in `buf`; returns the bytes consumed. With `log`, each command's
/// raw bytes are appended to this node's own stream.
fn apply(
    server: &Server,
    client: &mut ClientState,
    buf: &[u8],
    log: bool,
    acks: &mut Vec<u64>,
) -> usize {
    let mut decoder = Decoder::new();
    let limits = Limits::default();
    let settings = server.config.settings();
    let mut pos = 0;
    loop {
        match decoder.decode(&buf[pos..], &limits) {
            Decoded::Incomplete | Decoded::Error(_) => return pos,
            Decoded::Skip(n) => pos += n,
            Decoded::Command(n) => {
                let args = decoder.args(&buf[pos..]);
                let guard = server.replication.lock();
                let is_getack = args.len() >= 2
                    && args[0].eq_ignore_ascii_case(b"REPLCONF")
                    && args[1].eq_ignore_ascii_case(b"GETACK");
                if !is_getack {
                    run_one(server, client, &args, &settings);
                }
                if log {
                    server.replication.append_raw(&guard, &buf[pos..pos + n]);
                }
                drop(guard);
                pos += n;
                if is_getack {
                    acks.push(pos as u64);
                }
            }
        }
    }
}

async fn sync_once(server: &Arc<Server>, host: &str, port: u16, epoch: u64) -> Result<(), String> {
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect((host, port)))
        .await
        .map_err(|_| "timeout connecting".to_string())?
        .map_err(|e| format!("error connecting: {e}"))?;
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().map_err(|e| e.to_string())?;
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(stream);
    let pong = send(&mut r, &[b"PING"]).await?;
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") {
        return Err(format!("PING failed: {pong}"));
    }
    let config = &server.config;
    let masterauth = config.get("masterauth").unwrap_or_default();
    if !masterauth.is_empty() {
        let user = config.get("masteruser").unwrap_or_default();
        let reply = if user.is_empty() {
            send(&mut r, &[b"AUTH", masterauth.as_bytes()]).await?
        } else {
            send(&mut r, &[b"AUTH", user.as_bytes(), masterauth.as_bytes()]).await?
        };
        if reply.starts_with('-') {
            return Err(format!("AUTH failed: {reply}"));
        }
    }
    let my_port = server.port.load(Ordering::Relaxed).to_string();
    let reply = send(
        &mut r,
        &[b"REPLCONF", b"listening-port", my_port.as_bytes()],
    )
    .await?;
    if reply.starts_with('-') {
        return Err(format!("REPLCONF listening-port failed: {reply}"));
    }
    send(&mut r, &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]).await?;
    let (replid, offset) = server
        .replication
        .with_log(|l| (l.replid.clone(), l.offset));
    let psync_offset = (offset + 1).to_string();
    let reply = send(
        &mut r,
        &[b"PSYNC", replid.as_bytes(), psync_offset.as_bytes()],
    )
    .await?;
    let mut client = server.clients.register(peer, local, clock::unix_ms());
    client.authenticated = true;
    client.is_primary_link = true;
    let result = stream_loop(server, epoch, &mut r, &mut client, &reply).await;
    server.clients.unregister(client.info.id);
    result
}

async fn stream_loop(
    server: &Arc<Server>,
    epoch: u64,
    r: &mut BufReader<TcpStream>,
    client: &mut ClientState,
    reply: &str,
) -> Result<(), String> {
    let repl = &server.replication;
    // A replica keeps the stream it receives, so that after a promotion its own replicas
    // can continue from it.
    let gates: Vec<&parking_lot::RwLock<()>> =
        server.stats.workers.iter().map(|w| &w.repl_gate).collect();
    repl.activate(&gates);
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut parts = rest.split_whitespace();
        let id = parts.next().ok_or("bad FULLRESYNC")?.to_string();
        let off: u64 = parts
            .next()
            .and_then(|o| o.parse().ok())
            .ok_or("bad FULLRESYNC offset")?;
        set_link(server, epoch, false, true);
        let header = read_line(r).await?;
        let len: usize = header
            .strip_prefix('$')
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| format!("bad snapshot header {header}"))?;
        let mut snapshot = vec![0u8; len + 2];
        tokio::time::timeout(Duration::from_secs(600), r.read_exact(&mut snapshot))
            .await
            .map_err(|_| "timeout reading the snapshot".to_string())?
            .map_err(|e| e.to_string())?;
        let mut ignored = Vec::new();
        let used = apply(server, client, &snapshot[..len], false, &mut ignored);
        if used != len {
            return Err("corrupt snapshot".into());
        }
        repl.with_log_mut(|log| {
            log.replid = id;
            log.offset = off;
            log.backlog.clear();
            log.replid2 = "0".repeat(40);
            log.second_offset = -1;
        });
        tracing::info!(
            "MASTER <-> REPLICA sync: Finished with success ({} bytes loaded)",
            len
        );
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        if !new_id.is_empty() {
            repl.with_log_mut(|log| {
                if log.replid != new_id {
                    log.replid2 = std::mem::replace(&mut log.replid, new_id.to_string());
                    log.second_offset = log.offset as i64 + 1;
                }
            });
        }
        tracing::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
    } else {
        return Err(format!("unexpected reply to PSYNC: {reply}"));
    }
    set_link(server, epoch, true, false);
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut ack_timer = tokio::time::interval(Duration::from_secs(1));
    loop {
        if !current(server, epoch) {
            return Ok(());
        }
        tokio::select! {
            n = r.read(&mut chunk) => {
                let n = n.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed by the primary".into());
                }
                buf.extend_from_slice(&chunk[..n]);
                let mut acks = Vec::new();
                let used = apply(server, client, &buf, true, &mut acks);
                buf.drain(..used);
                set_link(server, epoch, true, false);
                if !acks.is_empty() {
                    let offset = repl.with_log(|l| l.offset).to_string();
                    r.get_mut()
                        .write_all(&encode_command(&[b"REPLCONF", b"ACK", offset.as_bytes()]))
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            _ = ack_timer.tick() => {
                let offset = repl.with_log(|l| l.offset).to_string();
                r.get_mut()
                    .write_all(&encode_command(&[b"REPLCONF", b"ACK", offset.as_bytes()]))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
    }
}
