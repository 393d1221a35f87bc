//! The cluster-bus driver: sockets and timer around the state machine.
//!
//! Every node keeps one outbound link per peer and only writes on it; peers answer on their
//! own outbound links, which arrive here as inbound connections that are only read. Each
//! received frame is decoded and validated, then handed to the state machine with the
//! current time; the actions it returns (send, save nodes.conf, deliver PUBLISH) come back
//! through the action channel and are carried out here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cluster::message::{decode, encode};
use cluster::Action;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::ClusterNode;
use crate::clock;
use crate::server::Server;

/// Runs the bus until the process exits.
pub async fn run(
    node: Arc<ClusterNode>,
    server: Arc<Server>,
    listener: std::net::TcpListener,
    mut actions: mpsc::UnboundedReceiver<Action>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        tracing::warn!("cluster bus: cannot use the listening socket");
        return;
    };
    tokio::spawn(accept_loop(node.clone(), listener));
    let mut links: HashMap<String, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
    // Redis's cluster cron runs at 10 Hz; small node timeouts get a faster clock so that
    // timeouts, failover delays and elections are not rounded up to 100 ms steps.
    let period_ms = node.read(|c| c.settings.node_timeout / 10).clamp(20, 100);
    let mut tick = tokio::time::interval(Duration::from_millis(period_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut following: Option<(String, u16)> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = clock::unix_ms();
                let offset = server.replication.with_log(|l| l.offset);
                let no_failover = server.config.get_bool("cluster-replica-no-failover");
                let migration_barrier = server.config.get_i64("cluster-migration-barrier");
                let validity_factor = server.config.get_i64("cluster-replica-validity-factor").max(0) as u64;
                let link_down_ms = server.replication.primary.lock().as_ref().map_or(0, |p| {
                    if p.link_up || p.down_since_ms == 0 {
                        0
                    } else {
                        now.saturating_sub(p.down_since_ms)
                    }
                });
                node.with(|c| {
                    c.set_repl_offset(offset);
                    c.no_failover = no_failover;
                    c.validity_factor = validity_factor;
                    c.migration_barrier = migration_barrier;
                    c.primary_link_down_ms = link_down_ms;
                    ((), c.tick(now))
                });
                follow_primary(&node, &server, &mut following);
            }
            action = actions.recv() => {
                let Some(action) = action else { return };
                if matches!(action, Action::Save) {
                    // The configuration changed (it is on disk already), so this node's
                    // role may have too: follow it now rather than at the next tick, so a
                    // won election serves writes at once.
                    follow_primary(&node, &server, &mut following);
                } else {
                    carry_out(&node, &server, &mut links, action);
                }
            }
        }
    }
}

/// Keeps replication in line with the cluster's view of this node: replicate the primary
/// the cluster says this node follows, or become a primary.
fn follow_primary(
    node: &Arc<ClusterNode>,
    server: &Arc<Server>,
    following: &mut Option<(String, u16)>,
) {
    let wanted = node.read(|c| {
        let me = c.me();
        if !me.has(cluster::node::flags::REPLICA) {
            return None;
        }
        let p = c.nodes.get(me.primary.as_ref()?)?;
        (!p.ip.is_empty()).then(|| (p.ip.clone(), p.port))
    });
    if wanted == *following {
        return;
    }
    match &wanted {
        Some((ip, port)) => crate::replication::replica::start(server, ip.clone(), *port),
        None => {
            if server.replication.is_replica() {
                server.replication.promote();
            }
        }
    }
    *following = wanted;
}

fn carry_out(
    node: &Arc<ClusterNode>,
    server: &Arc<Server>,
    links: &mut HashMap<String, mpsc::UnboundedSender<Vec<u8>>>,
    action: Action,
) {
    match action {
        Action::Send { to, msg } => {
            let addr = node.read(|c| c.nodes.get(&to).map(|n| (n.ip.clone(), n.cport)));
            let Some((ip, cport)) = addr else { return };
            if ip.is_empty() {
                return;
            }
            let key = format!("{to}@{ip}:{cport}");
            send(
                node,
                links,
                key,
                Some(to),
                format!("{ip}:{cport}"),
                encode(&msg),
            );
        }
        Action::SendAddr { ip, cport, msg } => {
            let key = format!("meet@{ip}:{cport}");
            send(
                node,
                links,
                key,
                None,
                format!("{ip}:{cport}"),
                encode(&msg),
            );
        }
        // Saved already by `ClusterNode::with`; handled in the driver loop.
        Action::Save => {}
        Action::Log(line) => tracing::info!("{line}"),
        Action::Deliver { channel, message } => {
            server.pubsub.publish(&channel, &message, false);
        }
    }
}

fn send(
    node: &Arc<ClusterNode>,
    links: &mut HashMap<String, mpsc::UnboundedSender<Vec<u8>>>,
    key: String,
    id: Option<String>,
    addr: String,
    frame: Vec<u8>,
) {
    if let Some(tx) = links.get(&key) {
        if tx.send(frame.clone()).is_ok() {
            return;
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(frame);
    links.insert(key, tx);
    tokio::spawn(link(node.clone(), id, addr, rx));
}

/// One outbound link: connects on demand and writes frames in order.
async fn link(
    node: Arc<ClusterNode>,
    id: Option<String>,
    addr: String,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(first) = rx.recv().await {
        let connected =
            tokio::time::timeout(Duration::from_millis(1000), TcpStream::connect(&addr)).await;
        let Ok(Ok(mut stream)) = connected else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        if let Some(id) = &id {
            node.with(|c| {
                c.set_link(id, true);
                ((), Vec::new())
            });
        }
        let mut pending = Some(first);
        loop {
            let frame = match pending.take() {
                Some(f) => f,
                None => match rx.recv().await {
                    Some(f) => f,
                    None => return,
                },
            };
            if stream.write_all(&frame).await.is_err() {
                break;
            }
        }
        if let Some(id) = &id {
            node.with(|c| {
                c.set_link(id, false);
                ((), Vec::new())
            });
        }
    }
}

async fn accept_loop(node: Arc<ClusterNode>, listener: TcpListener) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let local = stream
            .local_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        tokio::spawn(read_link(
            node.clone(),
            stream,
            peer.ip().to_string(),
            local,
        ));
    }
}

/// Reads frames from an inbound link and feeds them to the state machine.
async fn read_link(
    node: Arc<ClusterNode>,
    mut stream: TcpStream,
    peer_ip: String,
    local_ip: String,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16384];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match decode(&buf) {
                Ok(None) => break,
                Ok(Some((msg, used))) => {
                    buf.drain(..used);
                    if !cluster::Cluster::accepts(&msg) {
                        continue;
                    }
                    let now = clock::unix_ms();
                    node.with(|c| ((), c.handle(now, msg, &peer_ip, &local_ip)));
                }
                Err(e) => {
                    tracing::debug!("cluster bus: dropping link from {peer_ip}: {e}");
                    return;
                }
            }
        }
    }
}
