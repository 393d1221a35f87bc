//! The primary side: answering PSYNC with a full or partial sync and feeding the replica.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{encode_command, ReplicaLink};
use crate::client::ClientInfo;
use crate::server::Server;

/// Serializes the whole keyspace as commands that rebuild it: `FLUSHALL`, the function
/// libraries (`FUNCTION FLUSH`, `FUNCTION RESTORE`), then one
/// `RESTORE key <abs-ms|0> <payload> REPLACE ABSTTL` per key. The caller holds the stream
/// lock, so the snapshot matches the stream offset exactly.
///
/// (The AOF rewrite and snapshots write the same commands slot by slot instead, see
/// [`crate::slot_snapshot`].)
pub fn snapshot_commands(server: &Server, now_ms: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(server, &mut out).expect("writing to memory");
    for slot in 0..cluster::SLOT_COUNT as u16 {
        let t = server.keyspace.lock(slot);
        for e in t.iter() {
            if !e.is_expired(now_ms) {
                write_restore(&mut out, e);
            }
        }
    }
    out
}

/// The part of a snapshot before the keys: `FLUSHALL` and the function libraries.
pub fn write_header(server: &Server, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    out.write_all(&encode_command(&[b"FLUSHALL"]))?;
    out.write_all(&encode_command(&[b"FUNCTION", b"FLUSH"]))?;
    if let Some(payload) = crate::commands::functions::dump_payload(server) {
        out.write_all(&encode_command(&[b"FUNCTION", b"RESTORE", &payload]))?;
    }
    Ok(())
}

/// Appends the `RESTORE key <abs-ms|0> <payload> REPLACE ABSTTL` that recreates `e`.
pub fn write_restore(buf: &mut Vec<u8>, e: &crate::keyspace::Entry) {
    let payload = crate::dump::dump(e.value());
    let ttl = e.expire_at().unwrap_or(0).to_string();
    buf.extend_from_slice(&encode_command(&[
        b"RESTORE",
        e.key(),
        ttl.as_bytes(),
        &payload,
        b"REPLACE",
        b"ABSTTL",
    ]));
}

/// Handles PSYNC: returns the bytes to send first (`+FULLRESYNC ...` and the snapshot, or
/// `+CONTINUE ...` and the missing stream) and registers the replica, whose stream arrives
/// on the returned receiver from then on.
pub fn psync(
    server: &Server,
    client: &Arc<ClientInfo>,
    replid: &[u8],
    offset: i64,
    listening_port: u16,
    now_ms: u64,
) -> (Vec<u8>, Arc<ReplicaLink>, mpsc::UnboundedReceiver<Vec<u8>>) {
    let repl = &server.replication;
    let gates: Vec<&parking_lot::RwLock<()>> =
        server.stats.workers.iter().map(|w| &w.repl_gate).collect();
    repl.activate(&gates);
    let guard = repl.lock();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut head = Vec::new();
    let (partial, start) = {
        let log = guard.borrow();
        let same_history = replid == log.replid.as_bytes()
            || (replid == log.replid2.as_bytes() && offset <= log.second_offset);
        let in_backlog =
            offset >= log.backlog_first_offset() as i64 && offset <= log.offset as i64 + 1;
        if same_history && in_backlog && offset > 0 {
            head.extend_from_slice(format!("+CONTINUE {}\r\n", log.replid).as_bytes());
            let skip = (offset as u64 - log.backlog_first_offset()) as usize;
            head.extend_from_slice(&log.backlog[skip..]);
            (true, log.offset)
        } else {
            head.extend_from_slice(
                format!("+FULLRESYNC {} {}\r\n", log.replid, log.offset).as_bytes(),
            );
            (false, log.offset)
        }
    };
    if partial {
        repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
    } else {
        if offset != -1 {
            repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
        }
        repl.sync_full.fetch_add(1, Ordering::Relaxed);
        let snapshot = snapshot_commands(server, now_ms);
        head.extend_from_slice(format!("${}\r\n", snapshot.len()).as_bytes());
        head.extend(snapshot);
        head.extend_from_slice(b"\r\n");
    }
    let link = Arc::new(ReplicaLink {
        client_id: client.id,
        addr: client.addr,
        listening_port,
        tx,
        ack_offset: AtomicU64::new(if partial { start } else { 0 }),
        last_ack_ms: AtomicU64::new(now_ms),
        queued: AtomicU64::new(0),
        limits: server.config.settings().replica_output_limits,
        over_soft_since_ms: AtomicU64::new(0),
        over_limit: Default::default(),
    });
    repl.add_replica(link.clone());
    drop(guard);
    tracing::info!(
        "Replica {}:{} asks for synchronization: {}",
        client.addr.ip(),
        listening_port,
        if partial {
            "partial resynchronization accepted"
        } else {
            "full resync"
        }
    );
    (head, link, rx)
}

/// Feeds an attached replica: writes the stream, reads its REPLCONF ACKs.
pub async fn serve_link(
    server: &Server,
    stream: &mut tokio::net::TcpStream,
    link: Arc<ReplicaLink>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    leftover: Vec<u8>,
    client: &ClientInfo,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = leftover;
    let mut chunk = vec![0u8; 4096];
    loop {
        tokio::select! {
            _ = client.kill.notified() => break,
            msg = rx.recv() => {
                let Some(mut bytes) = msg else { break };
                while let Ok(more) = rx.try_recv() {
                    bytes.extend_from_slice(&more);
                    if bytes.len() > 1 << 20 {
                        break;
                    }
                }
                if link.over_limit.load(Ordering::Relaxed) {
                    break;
                }
                if stream.write_all(&bytes).await.is_err() {
                    break;
                }
                link.queued.fetch_sub(bytes.len() as u64, Ordering::Relaxed);
            }
            n = stream.read(&mut chunk) => {
                let n = match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut decoder = crate::resp::Decoder::new();
                let limits = crate::resp::Limits::default();
                let mut pos = 0;
                loop {
                    let used = match decoder.decode(&buf[pos..], &limits) {
                        crate::resp::Decoded::Command(used) => used,
                        crate::resp::Decoded::Skip(used) => {
                            pos += used;
                            continue;
                        }
                        _ => break,
                    };
                    let args = decoder.args(&buf[pos..]);
                    if args.len() == 3
                        && args[0].eq_ignore_ascii_case(b"REPLCONF")
                        && args[1].eq_ignore_ascii_case(b"ACK")
                    {
                        if let Some(off) = crate::resp::decode::parse_i64(args[2]) {
                            link.ack_offset.store(off.max(0) as u64, Ordering::Relaxed);
                            link.last_ack_ms.store(crate::clock::unix_ms(), Ordering::Relaxed);
                        }
                    }
                    pos += used;
                }
                buf.drain(..pos);
            }
        }
    }
    server.replication.remove_replica(link.client_id);
    tracing::info!("Connection with replica {} lost.", link.addr);
}
