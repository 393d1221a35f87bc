//! Replication commands: REPLICAOF / SLAVEOF, PSYNC, REPLCONF, ROLE, WAIT.

use std::sync::atomic::Ordering;

use super::args::{int, is};
use super::flags::*;
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};

const ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

/// The replication commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("replicaof", 3, ADMIN | NOSCRIPT | STALE | NO_MULTI, KeySpec::NONE, replicaof)
        .doc("server", "5.0.0", "Configures a server as replica of another, or promotes it to a master.").acl(ACL),
    CommandSpec::new("slaveof", 3, ADMIN | NOSCRIPT | STALE | NO_MULTI, KeySpec::NONE, replicaof)
        .doc("server", "1.0.0", "Sets a Redis server as a replica of another, or promotes it to being a master.").acl(ACL),
    CommandSpec::new("psync", -3, ADMIN | NOSCRIPT | NO_MULTI, KeySpec::NONE, psync)
        .doc("server", "2.8.0", "An internal command used in replication.").acl(ACL),
    CommandSpec::new("sync", 1, ADMIN | NOSCRIPT | NO_MULTI, KeySpec::NONE, sync)
        .doc("server", "1.0.0", "An internal command used in replication.").acl(ACL),
    CommandSpec::new("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY, KeySpec::NONE, replconf)
        .doc("server", "3.0.0", "An internal command for configuring the replication stream.").acl(ACL),
    CommandSpec::new("role", 1, NOSCRIPT | LOADING | STALE | FAST, KeySpec::NONE, role)
        .doc("server", "2.8.12", "Returns the replication role.").acl(&["@admin", "@fast", "@dangerous"]),
    CommandSpec::new("wait", 3, 0, KeySpec::NONE, wait)
        .doc("generic", "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.")
        .acl(&["@slow", "@connection"]),
];

fn replicaof(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if ctx.server.cluster.is_some() {
        return Err(CommandError::err("REPLICAOF not allowed in cluster mode."));
    }
    if is(args[1], "NO") && is(args[2], "ONE") {
        if ctx.server.replication.is_replica() {
            ctx.server.replication.promote();
            tracing::info!("MASTER MODE enabled (user request)");
        }
        ctx.out.ok();
        return Ok(());
    }
    let host = String::from_utf8_lossy(args[1]).into_owned();
    let port = int(args[2])
        .ok()
        .filter(|p| (1..65536).contains(p))
        .ok_or_else(|| CommandError::err("Invalid master port"))? as u16;
    let same = ctx
        .server
        .replication
        .primary
        .lock()
        .as_ref()
        .is_some_and(|p| p.host == host && p.port == port);
    if !same {
        let server = ctx.server.self_arc();
        crate::replication::replica::start(&server, host, port);
    }
    ctx.out.simple(if same {
        "OK Already connected to specified master"
    } else {
        "OK"
    });
    Ok(())
}

fn psync(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let offset = int(args[2]).unwrap_or(-1);
    let (head, link, rx) = crate::replication::primary::psync(
        ctx.server,
        &ctx.client.info,
        args[1],
        offset,
        ctx.client.listening_port,
        ctx.now_ms,
    );
    ctx.out.raw(&head);
    ctx.client.become_replica = Some((link, rx));
    Ok(())
}

fn sync(_ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    Err(CommandError::err(
        "SYNC is not supported; replicas must use PSYNC",
    ))
}

fn replconf(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if !(args.len() - 1).is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    for pair in args[1..].chunks(2) {
        if is(pair[0], "listening-port") {
            ctx.client.listening_port = int(pair[1])?.clamp(0, 65535) as u16;
        } else if is(pair[0], "ack") || is(pair[0], "getack") {
            // Acknowledgements arrive on replica links, handled there; nothing to answer.
            return Ok(());
        } else if !(is(pair[0], "capa") || is(pair[0], "ip-address") || is(pair[0], "rdb-only")) {
            return Err(CommandError::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(pair[0])
            )));
        }
    }
    ctx.out.ok();
    Ok(())
}

fn role(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let repl = &ctx.server.replication;
    let offset = repl.with_log(|l| l.offset);
    if let Some(p) = repl.primary.lock().clone() {
        ctx.out.array(5);
        ctx.out.bulk(b"slave");
        ctx.out.bulk(p.host.as_bytes());
        ctx.out.int(p.port as i64);
        ctx.out.bulk(if p.link_up {
            b"connected"
        } else if p.syncing {
            b"sync"
        } else {
            b"connect"
        });
        ctx.out.int(offset as i64);
        return Ok(());
    }
    let replicas = repl.replicas();
    ctx.out.array(3);
    ctx.out.bulk(b"master");
    ctx.out.int(offset as i64);
    ctx.out.array(replicas.len());
    for r in replicas {
        ctx.out.array(3);
        ctx.out.bulk(r.addr.ip().to_string().as_bytes());
        ctx.out.bulk(r.listening_port.to_string().as_bytes());
        ctx.out
            .bulk(r.ack_offset.load(Ordering::Relaxed).to_string().as_bytes());
    }
    Ok(())
}

fn wait(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let wanted = int(args[1])?.max(0) as usize;
    let timeout = int(args[2])?;
    if timeout < 0 {
        return Err(CommandError::err("timeout is negative"));
    }
    if ctx.server.replication.is_replica() {
        return Err(CommandError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let repl = &ctx.server.replication;
    let offset = repl.with_log(|l| l.offset);
    let acked = repl.acked(offset);
    if acked >= wanted || ctx.client.in_exec {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    repl.request_acks();
    let deadline = (timeout > 0)
        .then(|| std::time::Instant::now() + std::time::Duration::from_millis(timeout as u64));
    ctx.client.wait = Some((offset, wanted, deadline));
    Ok(())
}
