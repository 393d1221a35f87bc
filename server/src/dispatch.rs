//! Dispatch: the ordered chain of gates every command passes before it runs.
//!
//! The order is Redis's (`processCommand`), because clients depend on which error wins:
//!
//! 1. look the command up (`-ERR unknown command`), resolving container subcommands
//!    (`-ERR unknown subcommand`);
//! 2. arity (`-ERR wrong number of arguments`);
//! 3. authentication (`-NOAUTH`);
//!    3a. while the data set loads at start-up, only `loading` commands (`-LOADING`);
//!    3b. a script running past `busy-reply-threshold` (`-BUSY`, except ALLOW_BUSY commands);
//! 4. cluster routing (MOVED / ASK / CROSSSLOT / CLUSTERDOWN) — arrives with cluster mode;
//! 5. maxmemory (`-OOM`) — arrives with eviction;
//! 6. a RESP2 connection in subscribed mode accepts only the subscribe family;
//! 7. inside MULTI, commands are queued (`+QUEUED`) instead of run;
//! 8. client pause (the command waits; the caller retries it);
//! 9. execute ([`execute`]), then account: statistics, slow log, latency monitor, MONITOR;
//! 10. serve clients blocked on keys the command made ready.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::blocking::BlockRequest;
use crate::client::{ClientState, ReplyMode};
use crate::commands::{flags, transactions, CommandSpec, CommandTable, TABLE};
use crate::config::Settings;
use crate::error::{describe_args, CommandError};
use crate::keyspace::KeyRef;
use crate::resp::Reply;
use crate::server::Server;
use crate::stats::WorkerStats;

/// Everything a command handler can reach.
pub struct Ctx<'a> {
    /// Shared server state.
    pub server: &'a Server,
    /// The calling connection.
    pub client: &'a mut ClientState,
    /// Where the reply goes.
    pub out: Reply<'a>,
    /// The time the command started, Unix ms.
    pub now_ms: u64,
    /// This worker's counters.
    pub stats: &'a WorkerStats,
    /// The configuration snapshot the connection uses.
    pub settings: &'a Arc<Settings>,
    /// Keys this command made ready for blocked clients.
    pub ready: Vec<Vec<u8>>,
    /// What to propagate to replicas instead of the command itself (for commands whose
    /// effect must not be recomputed: blocking pops, SPOP, ...).
    pub propagate: Option<Vec<Vec<Vec<u8>>>>,
}

impl Ctx<'_> {
    /// Computes slot and hash of a key.
    #[inline]
    pub fn key<'k>(&self, key: &'k [u8]) -> KeyRef<'k> {
        KeyRef::new(key)
    }

    /// Counts a keyspace hit or miss.
    #[inline]
    pub fn count_lookup(&self, hit: bool) {
        let c = if hit {
            &self.stats.keyspace_hits
        } else {
            &self.stats.keyspace_misses
        };
        WorkerStats::bump(c, 1);
    }

    /// Records that `key` may now satisfy a blocked client.
    #[inline]
    pub fn signal_ready(&mut self, key: &[u8]) {
        if self.server.blocking.has_waiters() {
            self.ready.push(key.to_vec());
        }
    }

    /// Publishes a keyspace notification if the configuration asks for its class.
    #[inline]
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        if self.settings.notify_flags != 0 {
            crate::notify::notify(self.server, self.settings.notify_flags, class, event, key);
        }
    }

    /// Replaces what is propagated for this command.
    pub fn propagate_as(&mut self, commands: Vec<Vec<Vec<u8>>>) {
        self.propagate = Some(commands);
    }

    /// Adds one command to what this command propagates (instead of itself).
    pub fn propagate_also(&mut self, command: &[&[u8]]) {
        self.propagate
            .get_or_insert_with(Vec::new)
            .push(command.iter().map(|a| a.to_vec()).collect());
    }

    /// Blocks the client on `keys` (a blocking command found nothing). `timeout` of `None`
    /// waits forever; `timeout_reply` writes what to answer when the time runs out. Inside
    /// EXEC the command does not block and answers the timeout reply at once.
    pub fn block(
        &mut self,
        keys: Vec<Vec<u8>>,
        timeout: Option<Duration>,
        timeout_reply: impl FnOnce(&mut Reply<'_>),
    ) {
        if self.client.in_exec {
            timeout_reply(&mut self.out);
            return;
        }
        let mut encoded = Vec::new();
        timeout_reply(&mut Reply::new(&mut encoded, self.client.resp3));
        self.client.block = Some(BlockRequest {
            keys,
            deadline: timeout.map(|t| Instant::now() + t),
            timeout_reply: encoded,
        });
    }
}

/// What the connection does after a command.
#[derive(Debug)]
pub enum Flow {
    /// Go on with the next command.
    Continue,
    /// Clients are paused: wait, then dispatch the same command again.
    Paused,
    /// The command blocks: wait for a key to be ready or the timeout.
    Block(BlockRequest),
    /// The connection became a replica link (PSYNC).
    Replica,
    /// WAIT: poll replica acknowledgements until enough or the deadline.
    Wait,
    /// Write what is pending, then close the connection.
    Close,
}

/// Resolves a command name (and subcommand) to its spec, or the error to answer.
pub fn resolve(args: &[&[u8]]) -> Result<&'static CommandSpec, CommandError> {
    let name = args[0];
    let Some(spec) = TABLE.lookup(name) else {
        let shown: String = String::from_utf8_lossy(&name[..name.len().min(128)]).into();
        return Err(CommandError::UnknownCommand {
            name: shown,
            args: describe_args(&args[1..]),
        });
    };
    if spec.subcommands.is_empty() {
        return Ok(spec);
    }
    if args.len() < 2 {
        // A container with arity -1 also runs on its own (bare `COMMAND`).
        return if spec.arity == -1 {
            Ok(spec)
        } else {
            Err(CommandError::WrongArity(spec.name.into()))
        };
    }
    CommandTable::lookup_sub(spec, args[1]).ok_or_else(|| CommandError::UnknownSubcommand {
        cmd: spec.container_name(),
        sub: String::from_utf8_lossy(&args[1][..args[1].len().min(128)]).into(),
    })
}

/// The replication-health refusals (see step 5c of [`dispatch`]).
fn replication_gate(ctx: &Ctx<'_>, spec: &CommandSpec) -> Option<CommandError> {
    if ctx.client.is_primary_link {
        return None;
    }
    let repl = &ctx.server.replication;
    if repl.is_replica() {
        if ctx.settings.replica_serve_stale_data || spec.has(flags::STALE) {
            return None;
        }
        let link_up = repl.primary.lock().as_ref().is_some_and(|p| p.link_up);
        if !link_up {
            return Some(CommandError::Other(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                    .into(),
            ));
        }
        return None;
    }
    if spec.has(flags::WRITE) {
        let wanted = ctx.settings.min_replicas_to_write;
        if wanted > 0 {
            let max_lag_ms = ctx.settings.min_replicas_max_lag_ms;
            let good = repl
                .replicas()
                .iter()
                .filter(|r| {
                    ctx.now_ms
                        .saturating_sub(r.last_ack_ms.load(std::sync::atomic::Ordering::Relaxed))
                        <= max_lag_ms
                })
                .count();
            if good < wanted {
                return Some(CommandError::Other(
                    "NOREPLICAS Not enough good replicas to write.".into(),
                ));
            }
        }
    }
    None
}

/// Checks a command against the cluster's slot map (see [`crate::cluster::routing`]).
fn route(
    ctx: &mut Ctx<'_>,
    node: &crate::cluster::ClusterNode,
    spec: &CommandSpec,
    args: &[&[u8]],
) -> Result<(), CommandError> {
    if spec.name == "exec" {
        return Ok(());
    }
    let Some(positions) = spec.key_positions(args) else {
        return Ok(());
    };
    if positions.is_empty() {
        return Ok(());
    }
    let version = node.version();
    let routing = match &ctx.client.routing {
        Some((v, r)) if *v == version => r.clone(),
        _ => {
            let r = node.routing();
            ctx.client.routing = Some((version, r.clone()));
            r
        }
    };
    let slots: Vec<u16> = positions
        .iter()
        .map(|&p| cluster::key_hash_slot(args[p]))
        .collect();
    let now = ctx.now_ms;
    let keyspace = &ctx.server.keyspace;
    let exists = |i: usize| {
        let k = KeyRef::new(args[positions[i]]);
        keyspace.lock(k.slot).contains(&k, now)
    };
    let req = crate::cluster::routing::Request {
        slots: &slots,
        key_exists: &exists,
        readonly: !spec.has(flags::WRITE),
        asking: ctx.client.asking || spec.name == "restore-asking",
        client_readonly: ctx.client.readonly,
        reads_when_down: ctx.settings.cluster_allow_reads_when_down,
    };
    routing.route(&req).map_err(CommandError::Redirect)
}

/// Whether `spec` may run on a RESP2 connection in subscribed mode.
fn allowed_while_subscribed(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// Runs one command through the gates and executes it.
pub fn dispatch(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Flow {
    // 1. Lookup.
    let spec = match resolve(args) {
        Ok(spec) => spec,
        Err(e) => {
            reject(ctx, None, &e);
            return Flow::Continue;
        }
    };
    // 2. Arity.
    let n = args.len() as i32;
    if (spec.arity > 0 && n != spec.arity) || n < -spec.arity {
        reject(ctx, Some(spec), &CommandError::WrongArity(spec.name.into()));
        return Flow::Continue;
    }
    // 3. Authentication.
    if !ctx.client.authenticated && !spec.has(flags::NO_AUTH) {
        if ctx.settings.requirepass.is_empty() {
            ctx.client.authenticated = true;
        } else {
            reject(ctx, Some(spec), &CommandError::NoAuth);
            return Flow::Continue;
        }
    }
    // 3a. While the data set loads, only commands flagged `loading` run.
    if spec.flags & flags::LOADING == 0
        && ctx
            .server
            .loading
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        reject(
            ctx,
            Some(spec),
            &CommandError::Other("LOADING Redis is loading the dataset in memory".into()),
        );
        return Flow::Continue;
    }
    // 3b. A script running past busy-reply-threshold: only ALLOW_BUSY commands run.
    if ctx.server.scripts.is_busy() && !spec.has(flags::ALLOW_BUSY) {
        reject(ctx, Some(spec), &busy_error(ctx.server));
        return Flow::Continue;
    }
    // 4. Cluster routing.
    if let Some(node) = &ctx.server.cluster {
        if let Err(e) = route(ctx, node, spec, args) {
            reject(ctx, Some(spec), &e);
            return Flow::Continue;
        }
    }
    // 5. maxmemory: evict, or refuse commands that may grow memory.
    if ctx.settings.maxmemory > 0
        && !ctx.client.is_primary_link
        && ctx
            .server
            .evictor
            .over_limit
            .load(std::sync::atomic::Ordering::Relaxed)
        && ctx.client.multi.is_none()
    {
        if let Err(e) = crate::evict::make_room(ctx, spec.has(flags::DENYOOM)) {
            reject(ctx, Some(spec), &e);
            return Flow::Continue;
        }
    }
    // 5b. A replica refuses writes from its clients.
    if spec.has(flags::WRITE)
        && !ctx.client.is_primary_link
        && ctx.server.cluster.is_none()
        && ctx.server.replication.is_replica()
        && ctx.server.config.get_bool("replica-read-only")
    {
        reject(
            ctx,
            Some(spec),
            &CommandError::Other("READONLY You can't write against a read only replica.".into()),
        );
        return Flow::Continue;
    }
    // 5c. Replication health: a replica cut off from its primary with
    // replica-serve-stale-data no serves nothing but INFO-like commands; a primary with
    // min-replicas-to-write refuses writes without enough fresh replicas.
    if let Some(e) = replication_gate(ctx, spec) {
        reject(ctx, Some(spec), &e);
        return Flow::Continue;
    }
    // 6. Subscribed RESP2 connections.
    if !ctx.client.resp3 && ctx.client.subscription_count() > 0 && !allowed_while_subscribed(spec) {
        let e = CommandError::err(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        ));
        reject(ctx, Some(spec), &e);
        return Flow::Continue;
    }
    // 7. MULTI queueing.
    if ctx.client.multi.is_some() && !transactions::runs_inside_multi(spec) {
        if spec.has(flags::NO_MULTI) {
            reject(
                ctx,
                Some(spec),
                &CommandError::err("Command not allowed inside a transaction"),
            );
            return Flow::Continue;
        }
        if let Some(q) = ctx.client.multi.as_mut() {
            q.commands.push(args.iter().map(|a| a.to_vec()).collect());
        }
        let start = ctx.out.len();
        ctx.out.simple("QUEUED");
        apply_reply_mode(ctx, start);
        return Flow::Continue;
    }
    // 8. Client pause.
    if ctx
        .server
        .paused_for(spec.has(flags::WRITE | flags::MAY_REPLICATE), ctx.now_ms)
    {
        return Flow::Paused;
    }
    // 9. Execute and account.
    let reply_start = ctx.out.len();
    execute(ctx, spec, args);
    apply_reply_mode(ctx, reply_start);
    if spec.name != "asking" {
        ctx.client.asking = false;
    }
    // 10. Serve blocked clients.
    if !ctx.ready.is_empty() {
        let ready = std::mem::take(&mut ctx.ready);
        serve_blocked(ctx.server, ctx.stats, ctx.settings, ready);
    }
    if let Some(req) = ctx.client.block.take() {
        return Flow::Block(req);
    }
    if ctx.client.become_replica.is_some() {
        return Flow::Replica;
    }
    if ctx.client.wait.is_some() {
        return Flow::Wait;
    }
    if ctx.client.close_after_reply {
        Flow::Close
    } else {
        Flow::Continue
    }
}

/// Executes a resolved command and accounts for it; errors become error replies.
pub fn execute(ctx: &mut Ctx<'_>, spec: &'static CommandSpec, args: &[&[u8]]) {
    // The TSC-based clock: two reads per command cost a few ns instead of two vDSO calls.
    let started = quanta::Instant::now();
    // Writes run under the stream lock and are appended before it is released, so the
    // replication stream has them in the order they were applied.
    let propagating = spec.has(flags::WRITE) && !ctx.client.is_primary_link;
    let server = ctx.server;
    let stats = ctx.stats;
    let _gate = propagating.then(|| stats.repl_gate.read_recursive());
    let guard = (propagating && server.replication.is_active()).then(|| server.replication.lock());
    ctx.propagate = None;
    if spec.has(flags::WRITE) {
        // After the stream lock: a running snapshot writes these keys' slots out first.
        crate::slot_snapshot::before_write(server, spec, args);
    }
    let result = (spec.handler)(ctx, args);
    if let (Some(g), Ok(())) = (&guard, &result) {
        let mut position = 0;
        match ctx.propagate.take() {
            Some(cmds) => {
                for c in &cmds {
                    let parts: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
                    position = server.replication.append(g, &parts);
                }
            }
            None => position = server.replication.append(g, args),
        }
        if position > 0 {
            ctx.client.aof_position = position;
        }
    }
    drop(guard);
    let micros = started.elapsed().as_micros() as u64;
    let id = TABLE.id(spec);
    let cs = &ctx.stats.per_command[id];
    WorkerStats::bump(&cs.calls, 1);
    WorkerStats::bump(&cs.usec, micros);
    WorkerStats::bump(&ctx.stats.commands, 1);
    ctx.client
        .info
        .last_cmd
        .store(id, std::sync::atomic::Ordering::Relaxed);
    if result.is_ok() && spec.has(flags::WRITE) {
        WorkerStats::bump(&ctx.stats.dirty, 1);
    }
    if let Err(e) = &result {
        WorkerStats::bump(&cs.failed, 1);
        ctx.server.stats.count_error(&e.code());
        ctx.out.error(&e.to_string());
    }
    if !spec.has(flags::SKIP_SLOWLOG) {
        let threshold = ctx.settings.slowlog_slower_than;
        if threshold >= 0 && micros as i64 >= threshold {
            let name = ctx.client.info.name.lock().clone();
            let addr = ctx.client.info.addr.to_string();
            ctx.server
                .slowlog_add(ctx.settings.slowlog_max_len, micros, args, &addr, &name);
        }
    }
    let lat = ctx.settings.latency_threshold_ms;
    if lat != 0 && micros / 1000 >= lat {
        let event = if spec.has(flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        ctx.server.latency_add(event, micros / 1000);
    }
    if ctx.server.clients.has_monitors() && !spec.has(flags::SKIP_MONITOR | flags::ADMIN) {
        feed_monitor(ctx, args);
    }
}

/// Serves clients blocked on `ready` keys, in the order they blocked (see
/// [`crate::blocking`]).
pub fn serve_blocked(
    server: &Server,
    stats: &WorkerStats,
    settings: &Arc<Settings>,
    mut ready: Vec<Vec<u8>>,
) {
    while let Some(key) = ready.pop() {
        while let Some(waiter) = server.blocking.front(&key) {
            let mut answered = waiter.state.lock();
            if *answered {
                drop(answered);
                server.blocking.unregister(&waiter);
                continue;
            }
            let mut state = ClientState::detached(waiter.client.clone());
            let mut out = Vec::new();
            let args: Vec<&[u8]> = waiter.args.iter().map(|a| a.as_slice()).collect();
            let resp3 = state.resp3;
            let mut ctx = Ctx {
                server,
                client: &mut state,
                out: Reply::new(&mut out, resp3),
                now_ms: crate::clock::unix_ms(),
                stats,
                settings,
                ready: Vec::new(),
                propagate: None,
            };
            match resolve(&args) {
                Ok(spec) => execute(&mut ctx, spec, &args),
                Err(e) => ctx.out.error(&e.to_string()),
            }
            let more = std::mem::take(&mut ctx.ready);
            if state.block.is_some() {
                // Still nothing for the first waiter: the others wait behind it.
                break;
            }
            *answered = true;
            drop(answered);
            server.blocking.unregister(&waiter);
            waiter.client.send(out);
            ready.extend(more);
        }
    }
}

/// The `-BUSY` refusal, naming the command that can stop the busy script.
fn busy_error(server: &Server) -> CommandError {
    let function = server
        .scripts
        .busy_scripts()
        .first()
        .is_some_and(|s| s.is_function);
    let kill = if function {
        "FUNCTION KILL"
    } else {
        "SCRIPT KILL"
    };
    CommandError::Other(format!(
        "BUSY Redis is busy running a script. You can only call {kill} or SHUTDOWN NOSAVE."
    ))
}

/// Answers an error for a command refused before execution.
fn reject(ctx: &mut Ctx<'_>, spec: Option<&CommandSpec>, e: &CommandError) {
    if let Some(spec) = spec {
        WorkerStats::bump(&ctx.stats.per_command[TABLE.id(spec)].rejected, 1);
    }
    if let Some(q) = ctx.client.multi.as_mut() {
        q.failed = true;
    }
    ctx.server.stats.count_error(&e.code());
    let start = ctx.out.len();
    ctx.out.error(&e.to_string());
    apply_reply_mode(ctx, start);
}

/// Drops the reply just written when `CLIENT REPLY OFF|SKIP` says so.
fn apply_reply_mode(ctx: &mut Ctx<'_>, start: usize) {
    match ctx.client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => ctx.out.truncate(start),
        ReplyMode::Skip => {
            ctx.out.truncate(start);
            ctx.client.reply_mode = ReplyMode::On;
        }
        ReplyMode::SkipNext => ctx.client.reply_mode = ReplyMode::Skip,
    }
}

/// Formats a MONITOR line: `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`.
fn feed_monitor(ctx: &Ctx<'_>, args: &[&[u8]]) {
    let us = crate::clock::unix_us();
    let mut line = format!(
        "+{}.{:06} [0 {}]",
        us / 1_000_000,
        us % 1_000_000,
        ctx.client.info.addr
    )
    .into_bytes();
    for a in args {
        line.extend_from_slice(b" \"");
        for &b in a.iter() {
            match b {
                b'"' => line.extend_from_slice(b"\\\""),
                b'\\' => line.extend_from_slice(b"\\\\"),
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b'\t' => line.extend_from_slice(b"\\t"),
                0x20..=0x7e => line.push(b),
                _ => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            }
        }
        line.push(b'"');
    }
    line.extend_from_slice(b"\r\n");
    ctx.server.clients.feed_monitors(&line);
}
