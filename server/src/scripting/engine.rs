//! One sandboxed Lua 5.1 VM per worker thread, and running a script or function in it.
//!
//! The sandbox: `base` (without `dofile`, `loadfile`, `load`, `loadstring`, `require`,
//! `module`, `setfenv`, `getfenv`), `string`, `table`, `math`, `bit`, `cjson` and `redis`;
//! the global table refuses new globals (`Script attempted to create global variable`) and
//! reading missing ones. A count hook checks the time: past `busy-reply-threshold` the script
//! is registered as busy (other clients get `-BUSY`, SCRIPT KILL may stop it).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use super::call::CallState;
use super::convert::{error_text, lua_to_reply};
use super::functions::{FunctionInfo, KNOWN_FLAGS};
use super::BusyScript;
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::server::Server;

/// How long a library may take to load.
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// A worker's VM and what it has compiled.
struct Vm {
    lua: Lua,
    /// `redis.call` / `redis.pcall` reach the running command through `hidden.raw`.
    hidden: Table,
    runner: Function,
    compiled: HashMap<String, Function>,
    generation: u64,
    libs_version: Option<u64>,
    functions: HashMap<String, Function>,
}

/// What the count hook needs to know about the script running on this thread.
struct RunMeta {
    started: Instant,
    threshold: Option<Duration>,
    load_deadline: Option<Instant>,
    is_function: bool,
    name: String,
    command: &'static str,
    worker: usize,
    wrote: bool,
    busy: Option<Arc<BusyScript>>,
}

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    static RUN: RefCell<Option<RunMeta>> = const { RefCell::new(None) };
    static SCRIPT_RESP3: Cell<bool> = const { Cell::new(false) };
    static REGISTERING: RefCell<Option<Vec<(FunctionInfo, Function)>>> = const { RefCell::new(None) };
}

/// Whether the running script asked for RESP3 replies from `redis.call`.
pub(crate) fn script_resp3() -> bool {
    SCRIPT_RESP3.with(Cell::get)
}

/// Records that the running script wrote (a busy script that wrote cannot be killed).
pub(crate) fn note_write() {
    RUN.with(|r| {
        if let Some(meta) = r.borrow_mut().as_mut() {
            meta.wrote = true;
            if let Some(busy) = &meta.busy {
                busy.wrote.store(true, Ordering::Relaxed);
            }
        }
    });
}

fn runtime_error(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}

impl Vm {
    fn new(server: Weak<Server>) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::STRING | StdLib::TABLE | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let globals = lua.globals();
        for name in [
            "dofile",
            "loadfile",
            "load",
            "loadstring",
            "require",
            "module",
            "setfenv",
            "getfenv",
            "newproxy",
        ] {
            globals.raw_set(name, Value::Nil)?;
        }
        super::libs::install(&lua, &globals)?;
        let hidden = lua.create_table()?;
        globals.raw_set("redis", redis_table(&lua)?)?;
        let setup: Function = lua
            .load(
                r#"
local hidden, redis = ...
local type, error, rawget = type, error, rawget
redis.call = function(...)
  local r = hidden.raw(...)
  if type(r) == 'table' and rawget(r, '__cinnabar_error') then
    r.__cinnabar_error = nil
    error(r, 0)
  end
  return r
end
redis.pcall = function(...)
  local r = hidden.raw(...)
  if type(r) == 'table' then r.__cinnabar_error = nil end
  return r
end
hidden.raw = function() error('redis.call can only be called inside a script invocation', 2) end
local pcall = pcall
return function(f, ...) return pcall(f, ...) end
"#,
            )
            .set_name("=cinnabar")
            .into_function()?;
        let redis: Table = globals.raw_get("redis")?;
        let runner: Function = setup.call((hidden.clone(), redis))?;
        let protect: Function = lua
            .load(
                r#"
setmetatable(_G, {
  __newindex = function(_, k) error("Script attempted to create global variable '" .. tostring(k) .. "'", 2) end,
  __index = function(_, k) error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2) end,
})
"#,
            )
            .set_name("=cinnabar")
            .into_function()?;
        protect.call::<()>(())?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            move |_, _| check_time(&server),
        );
        Ok(Vm {
            lua,
            hidden,
            runner,
            compiled: HashMap::new(),
            generation: 0,
            libs_version: None,
            functions: HashMap::new(),
        })
    }

    /// The compiled script `sha`, compiling `body` (or the cached source) if needed.
    fn script(
        &mut self,
        server: &Server,
        sha: &str,
        body: Option<&[u8]>,
    ) -> Result<Function, CommandError> {
        let generation = server.scripts.flush_generation();
        if generation != self.generation {
            self.compiled.clear();
            self.generation = generation;
        }
        if let Some(f) = self.compiled.get(sha) {
            return Ok(f.clone());
        }
        let source = match body {
            Some(b) => Arc::new(b.to_vec()),
            None => server.scripts.source(sha).ok_or_else(|| {
                CommandError::Other("NOSCRIPT No matching script. Please use EVAL.".into())
            })?,
        };
        let code = strip_shebang(&source);
        let f = self
            .lua
            .load(&code[..])
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                CommandError::err(format!(
                    "Error compiling script (new function): {}",
                    compile_message(&e)
                ))
            })?;
        self.compiled.insert(sha.to_string(), f.clone());
        Ok(f)
    }

    /// Loads every library of the registry again if it changed since the last time.
    fn refresh_functions(&mut self, server: &Server) {
        let libs = server.scripts.libraries.read();
        if self.libs_version == Some(libs.version) {
            return;
        }
        self.functions.clear();
        for lib in libs.libs.values() {
            if let Ok(found) = load_library(&self.lua, &lib.code) {
                for (info, f) in found {
                    self.functions.insert(info.name, f);
                }
            }
        }
        self.libs_version = Some(libs.version);
    }
}

/// Removes a `#!lua ...` first line (keeping the line count).
fn strip_shebang(source: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if source.starts_with(b"#!") {
        let end = source
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(source.len());
        std::borrow::Cow::Owned(source[end..].to_vec())
    } else {
        std::borrow::Cow::Borrowed(source)
    }
}

/// The flags of an EVAL script's `#!lua flags=a,b` line.
pub(crate) fn shebang_flags(source: &[u8]) -> Result<Vec<String>, CommandError> {
    if !source.starts_with(b"#!") {
        return Ok(Vec::new());
    }
    let line_end = source
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(source.len());
    let line = String::from_utf8_lossy(&source[2..line_end]).into_owned();
    let mut parts = line.split_whitespace();
    let engine = parts.next().unwrap_or("");
    if engine != "lua" {
        return Err(CommandError::err(format!(
            "Could not find engine '{engine}'"
        )));
    }
    let mut flags = Vec::new();
    for part in parts {
        match part.split_once('=') {
            Some(("flags", list)) => {
                for f in list.split(',').filter(|f| !f.is_empty()) {
                    if !KNOWN_FLAGS.contains(&f) {
                        return Err(CommandError::err(format!(
                            "Unexpected flag in script shebang: {f}"
                        )));
                    }
                    flags.push(f.to_string());
                }
            }
            _ => {
                return Err(CommandError::err(format!(
                    "Unknown lua shebang option: {part}"
                )))
            }
        }
    }
    Ok(flags)
}

fn compile_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The count hook: load timeout, busy registration, SCRIPT KILL.
fn check_time(server: &Weak<Server>) -> mlua::Result<VmState> {
    RUN.with(|r| {
        let mut r = r.borrow_mut();
        let Some(meta) = r.as_mut() else {
            return Ok(VmState::Continue);
        };
        if meta.load_deadline.is_some_and(|d| Instant::now() > d) {
            return Err(runtime_error("FUNCTION LOAD timeout"));
        }
        if meta.busy.is_none() {
            if let Some(threshold) = meta.threshold {
                if meta.started.elapsed() > threshold {
                    if let Some(server) = server.upgrade() {
                        let busy = Arc::new(BusyScript {
                            started: meta.started,
                            is_function: meta.is_function,
                            name: meta.name.clone(),
                            command: meta.command,
                            wrote: meta.wrote.into(),
                            kill: Default::default(),
                            worker: meta.worker,
                        });
                        tracing::warn!(
                            "Slow script detected: still in execution after {} milliseconds.",
                            meta.started.elapsed().as_millis()
                        );
                        server.scripts.mark_busy(busy.clone());
                        meta.busy = Some(busy);
                    }
                }
            }
        }
        if let Some(busy) = &meta.busy {
            if busy.kill.load(Ordering::Relaxed) {
                let by = if busy.is_function {
                    "FUNCTION KILL"
                } else {
                    "SCRIPT KILL"
                };
                return Err(runtime_error(format!("Script killed by user with {by}...")));
            }
        }
        Ok(VmState::Continue)
    })
}

/// The static part of the `redis` table.
fn redis_table(lua: &Lua) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    let reply = |lua: &Lua, field: &'static str| {
        lua.create_function(move |lua, msg: mlua::String| {
            let t = lua.create_table()?;
            t.raw_set(field, msg)?;
            Ok(t)
        })
    };
    redis.raw_set("error_reply", reply(lua, "err")?)?;
    redis.raw_set("status_reply", reply(lua, "ok")?)?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|_, s: mlua::String| Ok(super::sha1_hex(&s.as_bytes())))?,
    )?;
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.raw_set(name, level)?;
    }
    redis.raw_set(
        "log",
        lua.create_function(|_, args: MultiValue| {
            let mut it = args.into_iter();
            let level = match it.next() {
                Some(Value::Integer(l)) => l,
                Some(Value::Number(l)) => l as i64,
                _ => {
                    return Err(runtime_error(
                        "First argument must be a number (log level).",
                    ))
                }
            };
            let text: Vec<String> = it
                .map(|v| match v {
                    Value::String(s) => s.to_string_lossy(),
                    Value::Integer(i) => i.to_string(),
                    Value::Number(n) => super::convert::format_number(n),
                    other => format!("{other:?}"),
                })
                .collect();
            let line = text.join(" ");
            match level {
                0 => tracing::debug!("script: {line}"),
                1 | 2 => tracing::info!("script: {line}"),
                3 => tracing::warn!("script: {line}"),
                _ => return Err(runtime_error("Invalid debug level.")),
            }
            Ok(())
        })?,
    )?;
    redis.raw_set(
        "setresp",
        lua.create_function(|_, v: i64| match v {
            2 | 3 => {
                SCRIPT_RESP3.with(|c| c.set(v == 3));
                Ok(())
            }
            _ => Err(runtime_error("RESP version must be 2 or 3.")),
        })?,
    )?;
    for (name, v) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, v)?;
    }
    redis.raw_set("set_repl", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.raw_set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    redis.raw_set(
        "breakpoint",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.raw_set("REDIS_VERSION", crate::REDIS_VERSION)?;
    redis.raw_set("REDIS_VERSION_NUM", 0x0007_0204)?;
    redis.raw_set(
        "register_function",
        lua.create_function(|_, args: MultiValue| register_function(args))?,
    )?;
    Ok(redis)
}

/// `redis.register_function(name, fn)` or `redis.register_function{function_name=,
/// callback=, flags=, description=}` while a library loads.
fn register_function(args: MultiValue) -> mlua::Result<()> {
    let mut it = args.into_iter();
    let (name, callback, flags, description) = match (it.next(), it.next()) {
        (Some(Value::String(name)), Some(Value::Function(f))) => {
            (name.to_string_lossy(), f, Vec::new(), None)
        }
        (Some(Value::Table(t)), None) => {
            let mut name = None;
            let mut callback = None;
            let mut flags = Vec::new();
            let mut description = None;
            for pair in t.pairs::<String, Value>() {
                let (k, v) = pair?;
                match (k.as_str(), v) {
                    ("function_name", Value::String(s)) => name = Some(s.to_string_lossy()),
                    ("callback", Value::Function(f)) => callback = Some(f),
                    ("description", Value::String(s)) => description = Some(s.to_string_lossy()),
                    ("flags", Value::Table(list)) => {
                        for f in list.sequence_values::<String>() {
                            let f = f?;
                            if !KNOWN_FLAGS.contains(&f.as_str()) {
                                return Err(runtime_error("unknown flag given"));
                            }
                            flags.push(f);
                        }
                    }
                    (other, _) => {
                        return Err(runtime_error(format!(
                            "unknown argument given to redis.register_function: {other}"
                        )))
                    }
                }
            }
            let name = name.ok_or_else(|| {
                runtime_error("redis.register_function must get a function name argument")
            })?;
            let callback = callback.ok_or_else(|| {
                runtime_error("redis.register_function must get a callback argument")
            })?;
            (name, callback, flags, description)
        }
        _ => {
            return Err(runtime_error(
                "wrong arguments given to redis.register_function",
            ))
        }
    };
    super::functions::check_name(&name, "Function names")
        .map_err(|e| runtime_error(e.to_string()))?;
    REGISTERING.with(|r| {
        let mut r = r.borrow_mut();
        let Some(list) = r.as_mut() else {
            return Err(runtime_error(
                "redis.register_function can only be called on FUNCTION LOAD command",
            ));
        };
        if list.iter().any(|(i, _)| i.name == name) {
            return Err(runtime_error("Function already exists in the library"));
        }
        list.push((
            FunctionInfo {
                name,
                flags,
                description,
            },
            callback,
        ));
        Ok(())
    })
}

/// Runs a library's code and returns the functions it registered.
fn load_library(lua: &Lua, code: &[u8]) -> Result<Vec<(FunctionInfo, Function)>, CommandError> {
    let body = strip_shebang(code);
    let chunk = lua
        .load(&body[..])
        .set_name("@user_function")
        .into_function()
        .map_err(|e| {
            CommandError::err(format!("Error compiling function: {}", compile_message(&e)))
        })?;
    REGISTERING.with(|r| *r.borrow_mut() = Some(Vec::new()));
    RUN.with(|r| {
        *r.borrow_mut() = Some(RunMeta {
            started: Instant::now(),
            threshold: None,
            load_deadline: Some(Instant::now() + LOAD_TIMEOUT),
            is_function: true,
            name: String::new(),
            command: "function",
            worker: usize::MAX,
            wrote: false,
            busy: None,
        })
    });
    let result = chunk.call::<()>(());
    RUN.with(|r| *r.borrow_mut() = None);
    let found = REGISTERING
        .with(|r| r.borrow_mut().take())
        .unwrap_or_default();
    if let Err(e) = result {
        return Err(CommandError::err(format!(
            "Error registering functions: {}",
            first_line(&e.to_string())
        )));
    }
    if found.is_empty() {
        return Err(CommandError::err("No functions registered"));
    }
    Ok(found)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Runs `f` with this thread's VM (created on first use).
fn with_vm<R>(
    server: &Server,
    f: impl FnOnce(&mut Vm) -> Result<R, CommandError>,
) -> Result<R, CommandError> {
    VM.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| CommandError::err("This Redis command is not allowed from script"))?;
        if slot.is_none() {
            let weak = server.me.get().cloned().unwrap_or_default();
            let vm = Vm::new(weak).map_err(|e| CommandError::err(format!("Lua: {e}")))?;
            *slot = Some(vm);
        }
        f(slot.as_mut().expect("just created"))
    })
}

/// Validates a library on this thread's VM; returns its name and function metadata.
pub(crate) fn check_library(
    server: &Server,
    code: &[u8],
) -> Result<(String, Vec<FunctionInfo>), CommandError> {
    let name = super::functions::parse_header(code)?;
    with_vm(server, |vm| {
        let found = load_library(&vm.lua, code)?;
        Ok((name, found.into_iter().map(|(i, _)| i).collect()))
    })
}

/// What to run.
pub(crate) enum Target<'a> {
    /// An EVAL script: its SHA1 and, for EVAL, its body.
    Script {
        sha: &'a str,
        body: Option<&'a [u8]>,
    },
    /// A function by name.
    Function(&'a str),
}

/// Runs a script or function with `keys` and `argv`; the reply goes to `ctx.out`.
pub(crate) fn run(
    ctx: &mut Ctx<'_>,
    target: Target<'_>,
    keys: &[&[u8]],
    argv: &[&[u8]],
    read_only: bool,
) -> CmdResult {
    let server = ctx.server;
    with_vm(server, |vm| {
        let (function, name, is_function) = match target {
            Target::Script { sha, body } => (vm.script(server, sha, body)?, sha.to_string(), false),
            Target::Function(name) => {
                vm.refresh_functions(server);
                let f = vm
                    .functions
                    .get(name)
                    .cloned()
                    .ok_or_else(|| CommandError::err("Function not found"))?;
                (f, name.to_string(), true)
            }
        };
        let lua = &vm.lua;
        let to_table = |items: &[&[u8]]| -> mlua::Result<Table> {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(item)?)?;
            }
            Ok(t)
        };
        let lua_err = |e: mlua::Error| CommandError::err(e.to_string());
        let keys_table = to_table(keys).map_err(lua_err)?;
        let argv_table = to_table(argv).map_err(lua_err)?;
        if !is_function {
            let globals = lua.globals();
            globals
                .raw_set("KEYS", keys_table.clone())
                .map_err(lua_err)?;
            globals
                .raw_set("ARGV", argv_table.clone())
                .map_err(lua_err)?;
        }
        SCRIPT_RESP3.with(|c| c.set(false));
        let ms = ctx.settings.busy_reply_threshold_ms;
        let threshold = (ms > 0).then(|| Duration::from_millis(ms));
        RUN.with(|r| {
            *r.borrow_mut() = Some(RunMeta {
                started: Instant::now(),
                threshold,
                load_deadline: None,
                is_function,
                name,
                command: if is_function { "fcall" } else { "eval" },
                worker: ctx.stats.index,
                wrote: false,
                busy: None,
            })
        });
        let running = &ctx.stats.script_running;
        running.store(true, Ordering::Relaxed);
        let declared: Vec<u16> = keys.iter().map(|k| cluster::key_hash_slot(k)).collect();
        let state = RefCell::new(CallState::new(ctx, &declared, read_only));
        let outcome = lua.scope(|scope| {
            let raw = scope
                .create_function(|lua, args: MultiValue| state.borrow_mut().call(lua, args))?;
            vm.hidden.raw_set("raw", raw)?;
            let result = if is_function {
                vm.runner.call::<MultiValue>((
                    function.clone(),
                    keys_table.clone(),
                    argv_table.clone(),
                ))
            } else {
                vm.runner.call::<MultiValue>(function.clone())
            };
            let _ = vm.hidden.raw_set("raw", Value::Nil);
            result
        });
        running.store(false, Ordering::Relaxed);
        let meta = RUN.with(|r| r.borrow_mut().take()).expect("set above");
        let (busy, name) = (meta.busy, meta.name);
        if let Some(busy) = &busy {
            server.scripts.unmark_busy(busy);
        }
        let state = state.into_inner();
        let ctx = state.finish();
        let mut values = match outcome {
            Ok(v) => v.into_iter(),
            Err(e) => return Err(CommandError::Other(error_text(first_line(&e.to_string())))),
        };
        let ok = matches!(values.next(), Some(Value::Boolean(true)));
        let value = values.next().unwrap_or(Value::Nil);
        if ok {
            lua_to_reply(&mut ctx.out, &value);
            return Ok(());
        }
        Err(CommandError::Other(script_error(
            &value,
            &name,
            is_function,
        )))
    })
}

/// The error reply for a script that raised `value`.
fn script_error(value: &Value, name: &str, is_function: bool) -> String {
    match value {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => error_text(&s.to_string_lossy()),
            _ => "ERR Error running script: error object is not a string".into(),
        },
        Value::String(s) => {
            let msg = s.to_string_lossy();
            let location = if is_function {
                "user_function"
            } else {
                "user_script"
            };
            let line = msg
                .strip_prefix(&format!("{location}:"))
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse::<u32>().ok());
            let what = if is_function { "function" } else { "script" };
            match line {
                Some(line) => format!("ERR {msg} {what}: {name}, on @{location}:{line}."),
                None => format!("ERR {msg} {what}: {name}"),
            }
        }
        Value::Error(e) => error_text(first_line(&e.to_string())),
        other => format!("ERR Error running script: {other:?}"),
    }
}

/// Compiles a script on this thread's VM (SCRIPT LOAD reports syntax errors at once).
pub(crate) fn compile(server: &Server, sha: &str, body: &[u8]) -> CmdResult {
    with_vm(server, |vm| vm.script(server, sha, Some(body)).map(|_| ()))
}
