//! `redis.call` / `redis.pcall`: the gates a command passes inside a script, in order:
//!
//! 1. arguments are strings or numbers, at least one;
//! 2. the command exists, has the right arity, and may run from a script (not `noscript`);
//! 3. writes: refused in read-only scripts (`*_RO`, `no-writes`) and on replicas;
//! 4. keys: in cluster mode every key is in the script's one slot, served here; standalone,
//!    a key outside the declared slots has its slot locked for the rest of the script;
//! 5. maxmemory, for commands that may grow memory;
//! 6. execute, with the reply written in the script's RESP version and parsed into Lua.
//!
//! Errors come back as `{err=...}` tables (marked so that `redis.call` raises them).

use std::time::Duration;

use mlua::{Lua, MultiValue, Table, Value};
use parking_lot::RwLockReadGuard;

use super::convert::{lua_arg, reply_to_lua};
use super::engine::{note_write, script_resp3};
use crate::commands::flags;
use crate::dispatch::{execute, resolve, Ctx};
use crate::keyspace::SlotHold;
use crate::replication::StreamGuard;
use crate::resp::Reply;

/// How long a script waits for the lock of a slot it did not declare.
const UNDECLARED_LOCK_WAIT: Duration = Duration::from_secs(1);

/// The running script's side of its commands: the calling client, the locks it holds.
pub(crate) struct CallState<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    read_only: bool,
    declared: Vec<u16>,
    script_slot: Option<u16>,
    held_slots: Vec<u16>,
    holds: Vec<SlotHold<'a>>,
    stream: Option<StreamGuard<'a>>,
    _gate: Option<RwLockReadGuard<'a, ()>>,
    multi_open: bool,
    was_in_exec: bool,
}

impl<'c, 'a> CallState<'c, 'a> {
    /// Takes the locks a script starts with: the replication gate and stream (if it may
    /// write), then its declared slots, in the order single writes take them.
    pub(crate) fn new(ctx: &'c mut Ctx<'a>, declared: &[u16], read_only: bool) -> Self {
        let server = ctx.server;
        let stats = ctx.stats;
        let gate = (!read_only).then(|| stats.repl_gate.read_recursive());
        let stream =
            (!read_only && server.replication.is_active()).then(|| server.replication.lock());
        let mut held_slots = declared.to_vec();
        held_slots.sort_unstable();
        held_slots.dedup();
        let holds = server.keyspace.hold_slots(held_slots.iter().copied());
        let was_in_exec = ctx.client.in_exec;
        ctx.client.in_exec = true;
        CallState {
            ctx,
            read_only,
            declared: declared.to_vec(),
            script_slot: declared.first().copied(),
            held_slots,
            holds,
            stream,
            _gate: gate,
            multi_open: false,
            was_in_exec,
        }
    }

    /// Closes the MULTI block of the script's effects and releases the locks.
    pub(crate) fn finish(self) -> &'c mut Ctx<'a> {
        let CallState {
            ctx,
            stream,
            holds,
            multi_open,
            was_in_exec,
            ..
        } = self;
        if let (true, Some(guard)) = (multi_open, &stream) {
            let position = ctx.server.replication.append(guard, &[b"EXEC"]);
            if position > 0 {
                ctx.client.aof_position = position;
            }
        }
        drop(holds);
        drop(stream);
        ctx.client.in_exec = was_in_exec;
        ctx
    }

    /// Runs one `redis.call` / `redis.pcall`.
    pub(crate) fn call(&mut self, lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
        match self.gates_and_run(lua, args)? {
            Ok(v) => Ok(v),
            Err(msg) => error_table(lua, &msg),
        }
    }

    fn gates_and_run(
        &mut self,
        lua: &Lua,
        args: MultiValue,
    ) -> mlua::Result<Result<Value, String>> {
        let mut argv = Vec::with_capacity(args.len());
        for a in args.iter() {
            match lua_arg(a) {
                Some(bytes) => argv.push(bytes),
                None => {
                    return Ok(Err(
                        "ERR Lua redis lib command arguments must be strings or integers".into(),
                    ))
                }
            }
        }
        if argv.is_empty() {
            return Ok(Err(
                "ERR Please specify at least one argument for this redis lib call".into(),
            ));
        }
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let Ok(spec) = resolve(&refs) else {
            return Ok(Err("ERR Unknown Redis command called from script".into()));
        };
        let n = refs.len() as i32;
        if (spec.arity > 0 && n != spec.arity) || n < -spec.arity {
            return Ok(Err(
                "ERR Wrong number of args calling Redis command from script".into(),
            ));
        }
        if spec.has(flags::NOSCRIPT) {
            return Ok(Err(
                "ERR This Redis command is not allowed from script".into()
            ));
        }
        let write = spec.has(flags::WRITE);
        if write {
            if self.read_only {
                return Ok(Err(
                    "ERR Write commands are not allowed from read-only scripts.".into(),
                ));
            }
            let server = self.ctx.server;
            if !self.ctx.client.is_primary_link
                && server.replication.is_replica()
                && (server.cluster.is_some() || server.config.get_bool("replica-read-only"))
            {
                return Ok(Err(
                    "READONLY You can't write against a read only replica.".into()
                ));
            }
        }
        if let Err(msg) = self.check_keys(spec, &refs, write) {
            return Ok(Err(msg));
        }
        if spec.has(flags::DENYOOM) && self.ctx.settings.maxmemory > 0 {
            if let Err(e) = crate::evict::make_room(self.ctx, true) {
                return Ok(Err(e.to_string()));
            }
        }
        if write {
            note_write();
            if let (false, Some(guard)) = (self.multi_open, &self.stream) {
                self.ctx.server.replication.append(guard, &[b"MULTI"]);
                self.multi_open = true;
            }
        }
        let mut buf = Vec::new();
        {
            let ctx = &mut *self.ctx;
            let mut inner = Ctx {
                server: ctx.server,
                client: &mut *ctx.client,
                out: Reply::new(&mut buf, script_resp3()),
                now_ms: ctx.now_ms,
                stats: ctx.stats,
                settings: ctx.settings,
                ready: Vec::new(),
                propagate: None,
            };
            execute(&mut inner, spec, &refs);
            let ready = std::mem::take(&mut inner.ready);
            ctx.ready.extend(ready);
        }
        let mut pos = 0;
        let value = reply_to_lua(lua, &buf, &mut pos)?;
        if let Value::Table(t) = &value {
            if t.raw_get::<Value>("err")?.is_string() {
                t.raw_set("__cinnabar_error", true)?;
            }
        }
        Ok(Ok(value))
    }

    /// Gate 4: the slots of the command's keys.
    fn check_keys(
        &mut self,
        spec: &crate::commands::CommandSpec,
        args: &[&[u8]],
        write: bool,
    ) -> Result<(), String> {
        let Some(positions) = spec.key_positions(args) else {
            return Ok(());
        };
        for p in positions {
            let slot = cluster::key_hash_slot(args[p]);
            if let Some(node) = &self.ctx.server.cluster {
                match self.script_slot {
                    Some(s) if s != slot => {
                        return Err(
                            "ERR Script attempted to access keys that do not hash to the same slot"
                                .into(),
                        )
                    }
                    Some(_) => {}
                    None => self.script_slot = Some(slot),
                }
                if self.declared.is_empty() {
                    let exists = |_: usize| true;
                    let req = crate::cluster::routing::Request {
                        slots: &[slot],
                        key_exists: &exists,
                        readonly: !write,
                        asking: self.ctx.client.asking,
                        client_readonly: self.ctx.client.readonly,
                        reads_when_down: self.ctx.settings.cluster_allow_reads_when_down,
                    };
                    if node.routing().route(&req).is_err() {
                        return Err(
                            "ERR Script attempted to access a non local key in a cluster node script"
                                .into(),
                        );
                    }
                }
            }
            if self.held_slots.binary_search(&slot).is_err() {
                let Some(hold) = self
                    .ctx
                    .server
                    .keyspace
                    .try_hold_for(slot, UNDECLARED_LOCK_WAIT)
                else {
                    return Err(
                        "ERR Script could not lock an undeclared key's slot; declare the keys the script uses in KEYS"
                            .into(),
                    );
                };
                self.holds.push(hold);
                let at = self.held_slots.binary_search(&slot).unwrap_or_else(|i| i);
                self.held_slots.insert(at, slot);
            }
        }
        Ok(())
    }
}

fn error_table(lua: &Lua, msg: &str) -> mlua::Result<Value> {
    let t: Table = lua.create_table_with_capacity(0, 2)?;
    t.raw_set("err", msg)?;
    t.raw_set("__cinnabar_error", true)?;
    Ok(Value::Table(t))
}
