//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Commands sent after MULTI are checked (lookup, arity) and queued. EXEC takes the locks of
//! every slot the queued commands touch (all slots when one of them walks the keyspace)
//! before checking the watched keys and running the queue, so no other client sees the
//! transaction half done. WATCH records each key's slot version; any change to that slot
//! after WATCH aborts EXEC (a change to another key of the same slot does too, which is
//! safe: the client retries).

use super::flags::*;
use super::{CommandSpec, KeySpec};
use crate::dispatch::{execute, Ctx};
use crate::error::{CmdResult, CommandError};

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct Queued {
    /// The queued commands, owned.
    pub commands: Vec<Vec<Vec<u8>>>,
    /// Set when a queued command was refused; EXEC then aborts.
    pub failed: bool,
}

/// The transaction commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        KeySpec::NONE,
        multi,
    )
    .doc("transactions", "1.2.0", "Starts a transaction.")
    .acl(&["@fast", "@transaction"]),
    CommandSpec::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        KeySpec::NONE,
        exec,
    )
    .doc(
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction.",
    )
    .acl(&["@slow", "@transaction"]),
    CommandSpec::new(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        KeySpec::NONE,
        discard,
    )
    .doc("transactions", "2.0.0", "Discards a transaction.")
    .acl(&["@fast", "@transaction"]),
    CommandSpec::new(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        KeySpec::ALL,
        watch,
    )
    .doc(
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
    )
    .acl(&["@fast", "@transaction"]),
    CommandSpec::new(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        KeySpec::NONE,
        unwatch,
    )
    .doc(
        "transactions",
        "2.2.0",
        "Forgets about watched keys of a transaction.",
    )
    .acl(&["@fast", "@transaction"]),
];

/// Whether a command is handled at once even inside MULTI.
pub fn runs_inside_multi(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

fn multi(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CommandError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Queued::default());
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CommandError::err("DISCARD without MULTI"));
    }
    ctx.client.watched.clear();
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CommandError::err("WATCH inside MULTI is not allowed"));
    }
    for key in &args[1..] {
        let k = ctx.key(key);
        let mut t = ctx.server.keyspace.lock(k.slot);
        t.peek(&k, ctx.now_ms);
        let version = t.version();
        drop(t);
        ctx.client.watched.push((key.to_vec(), k.slot, version));
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.client.watched.clear();
    ctx.out.ok();
    Ok(())
}

fn exec(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let Some(queued) = ctx.client.multi.take() else {
        return Err(CommandError::err("EXEC without MULTI"));
    };
    let watched = std::mem::take(&mut ctx.client.watched);
    if queued.failed {
        return Err(CommandError::Other(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    // Resolve every command and the slots it touches.
    let mut resolved = Vec::with_capacity(queued.commands.len());
    let mut slots: Vec<u16> = watched.iter().map(|w| w.1).collect();
    let mut all_slots = false;
    for cmd in &queued.commands {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
        let spec = crate::dispatch::resolve(&args).ok();
        if let Some(spec) = spec {
            if spec.has(KEYSPACE_WIDE) {
                all_slots = true;
            }
            if let Some(positions) = spec.key_positions(&args) {
                slots.extend(positions.iter().map(|&p| cluster::key_hash_slot(args[p])));
            }
        }
        resolved.push(spec);
    }
    // The stream lock first, then the slots, in the order single writes take them.
    let server = ctx.server;
    let stats = ctx.stats;
    let _gate = stats.repl_gate.read_recursive();
    let _stream = server
        .replication
        .is_active()
        .then(|| server.replication.lock());
    let keyspace = &ctx.server.keyspace;
    let _holds = if all_slots {
        keyspace.hold_slots(0..cluster::SLOT_COUNT as u16)
    } else {
        keyspace.hold_slots(slots)
    };
    for (key, slot, version) in &watched {
        let k = ctx.key(key);
        let mut t = keyspace.lock(*slot);
        t.peek(&k, ctx.now_ms);
        if t.version() != *version {
            drop(t);
            ctx.out.null_array();
            return Ok(());
        }
    }
    ctx.out.array(queued.commands.len());
    ctx.client.in_exec = true;
    for (cmd, spec) in queued.commands.iter().zip(resolved) {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
        match spec {
            Some(spec) => execute(ctx, spec, &args),
            None => ctx.out.error("ERR unknown command"),
        }
    }
    ctx.client.in_exec = false;
    Ok(())
}
