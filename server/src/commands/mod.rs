//! The command table and the command implementations.
//!
//! Every command is one small unit: a handler function (parse the arguments, execute against
//! the keyspace, write the reply) next to its [`CommandSpec`] (name, arity, flags, where the
//! keys are, documentation). The specs drive arity checks, key extraction, `COMMAND`,
//! `COMMAND INFO/DOCS/GETKEYS` and per-command statistics. Modules group commands by family:
//!
//! - [`strings`]: GET, SET, INCR, APPEND, LCS, ...
//! - [`keys`]: DEL, EXPIRE, SCAN, RENAME, DUMP/RESTORE, OBJECT, ...
//! - [`lists`], [`hashes`], [`sets`], [`zsets`]: the aggregate types;
//! - [`transactions`]: MULTI, EXEC, WATCH, ...; [`pubsub`]: SUBSCRIBE, PUBLISH, ...
//! - [`connection`]: PING, HELLO, AUTH, CLIENT, ...
//! - [`server`]: INFO, CONFIG, COMMAND, SLOWLOG, DEBUG, SHUTDOWN, ...

pub mod cluster;
pub mod connection;
pub mod functions;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod migrate;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod strings;
pub mod transactions;
mod typed;
pub mod zsets;

mod args;

use std::collections::HashMap;
use std::sync::LazyLock;

pub use args::ArgParser;

use crate::dispatch::Ctx;
use crate::error::CmdResult;

/// A command handler: parses `args` (the command name included at index 0), executes, and
/// writes the reply through the context.
pub type Handler = fn(&mut Ctx<'_>, &[&[u8]]) -> CmdResult;

/// Finds the positions of the keys of a command whose keys move (`numkeys`-style).
pub type KeyFinder = fn(&[&[u8]]) -> Option<Vec<usize>>;

/// Command flags, as `COMMAND INFO` reports them.
pub mod flags {
    /// May modify the keyspace.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory; refused under `-OOM`.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/Sub related.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while loading.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 8;
    /// Not shown to MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 9;
    /// Not logged in the slow log.
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// O(1) or O(log n).
    pub const FAST: u32 = 1 << 11;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 12;
    /// Keys are found by a key finder, not by first/last/step.
    pub const MOVABLEKEYS: u32 = 1 << 13;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 14;
    /// Allowed while the server is busy with a script.
    pub const ALLOW_BUSY: u32 = 1 << 15;
    /// Allowed while clients are paused for writes.
    pub const MAY_REPLICATE: u32 = 1 << 16;
    /// Walks the whole keyspace (EXEC then locks every slot); not shown by COMMAND INFO.
    pub const KEYSPACE_WIDE: u32 = 1 << 17;

    /// Flag names in `COMMAND INFO` order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Where a command's keys are: `first`, `last` (negative counts from the end) and `step`,
/// as in `COMMAND INFO`. All zero for commands without keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Position of the first key.
    pub first: i32,
    /// Position of the last key (-1: the last argument).
    pub last: i32,
    /// Distance between keys.
    pub step: i32,
}

impl KeySpec {
    /// No keys.
    pub const NONE: KeySpec = KeySpec {
        first: 0,
        last: 0,
        step: 0,
    };
    /// One key at position 1.
    pub const ONE: KeySpec = KeySpec {
        first: 1,
        last: 1,
        step: 1,
    };
    /// Every argument from position 1 is a key.
    pub const ALL: KeySpec = KeySpec {
        first: 1,
        last: -1,
        step: 1,
    };
    /// Keys at positions 1 and 2.
    pub const TWO: KeySpec = KeySpec {
        first: 1,
        last: 2,
        step: 1,
    };
    /// Key-value pairs from position 1.
    pub const PAIRS: KeySpec = KeySpec {
        first: 1,
        last: -1,
        step: 2,
    };

    /// A spec with explicit positions.
    pub const fn at(first: i32, last: i32, step: i32) -> KeySpec {
        KeySpec { first, last, step }
    }
}

/// The static description of one command (or subcommand).
pub struct CommandSpec {
    /// Lower-case name; subcommands are `container|sub`.
    pub name: &'static str,
    /// Arity: exact if positive, minimum if negative (the name counts).
    pub arity: i32,
    /// [`flags`] bits.
    pub flags: u32,
    /// Key positions.
    pub keys: KeySpec,
    /// Key finder for commands with movable keys.
    pub key_finder: Option<KeyFinder>,
    /// The implementation.
    pub handler: Handler,
    /// ACL categories, as `COMMAND INFO` reports them.
    pub acl: &'static [&'static str],
    /// Command group for `COMMAND DOCS`.
    pub group: &'static str,
    /// One-line summary for `COMMAND DOCS`.
    pub summary: &'static str,
    /// First Redis version with the command.
    pub since: &'static str,
    /// Subcommands of a container command.
    pub subcommands: &'static [CommandSpec],
}

fn container_handler(_: &mut Ctx<'_>, _: &[&[u8]]) -> CmdResult {
    // Containers are resolved to their subcommand before execution.
    Err(crate::error::CommandError::Syntax)
}

impl CommandSpec {
    /// A spec with the given shape; documentation and extras come from the builder methods.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: KeySpec,
        handler: Handler,
    ) -> Self {
        CommandSpec {
            name,
            arity,
            flags,
            keys,
            key_finder: None,
            handler,
            acl: &[],
            group: "generic",
            summary: "",
            since: "1.0.0",
            subcommands: &[],
        }
    }

    /// A container command (CONFIG, CLIENT, ...) whose work is done by `subcommands`.
    pub const fn container(
        name: &'static str,
        arity: i32,
        subcommands: &'static [CommandSpec],
    ) -> Self {
        let mut spec = Self::new(name, arity, 0, KeySpec::NONE, container_handler);
        spec.subcommands = subcommands;
        spec
    }

    /// Runs `handler` when the container is called with no subcommand (bare `COMMAND`).
    pub const fn bare(mut self, handler: Handler) -> Self {
        self.handler = handler;
        self
    }

    /// Sets the documentation fields.
    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
    ) -> Self {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self
    }

    /// Sets the ACL categories.
    pub const fn acl(mut self, acl: &'static [&'static str]) -> Self {
        self.acl = acl;
        self
    }

    /// Sets a key finder (and the `movablekeys` flag).
    pub const fn movable(mut self, finder: KeyFinder) -> Self {
        self.key_finder = Some(finder);
        self.flags |= flags::MOVABLEKEYS;
        self
    }

    /// Whether any flag in `mask` is set.
    #[inline]
    pub fn has(&self, mask: u32) -> bool {
        self.flags & mask != 0
    }

    /// The upper-case container name for error messages (`CONFIG` for `config|get`).
    pub fn container_name(&self) -> String {
        self.name
            .split('|')
            .next()
            .unwrap_or(self.name)
            .to_ascii_uppercase()
    }

    /// Positions of the keys in `args`, or `None` if the arguments do not parse.
    pub fn key_positions(&self, args: &[&[u8]]) -> Option<Vec<usize>> {
        if let Some(finder) = self.key_finder {
            return finder(args);
        }
        let KeySpec { first, last, step } = self.keys;
        if first == 0 {
            return Some(Vec::new());
        }
        let n = args.len() as i32;
        let last = if last < 0 { n + last } else { last };
        if first >= n || last >= n || step <= 0 {
            return if first >= n { Some(Vec::new()) } else { None };
        }
        Some(
            (first..=last)
                .step_by(step as usize)
                .map(|i| i as usize)
                .collect(),
        )
    }
}

/// All commands, indexed for lookup; every spec (subcommands included) has a stable id used
/// by the per-command statistics.
pub struct CommandTable {
    by_name: FastMap<&'static str, &'static CommandSpec>,
    /// Every spec, containers and subcommands included, in id order.
    pub all: Vec<&'static CommandSpec>,
    ids: FastMap<&'static str, usize>,
}

/// Maps looked up on every command: a fast fixed hash (the keys are our own names).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Every top-level command.
static TOP_LEVEL: &[&[CommandSpec]] = &[
    strings::COMMANDS,
    keys::COMMANDS,
    lists::COMMANDS,
    hashes::COMMANDS,
    sets::COMMANDS,
    zsets::COMMANDS,
    transactions::COMMANDS,
    pubsub::COMMANDS,
    cluster::COMMANDS,
    migrate::COMMANDS,
    replication::COMMANDS,
    scripting::COMMANDS,
    functions::COMMANDS,
    connection::COMMANDS,
    server::COMMANDS,
];

/// The process-wide command table.
pub static TABLE: LazyLock<CommandTable> = LazyLock::new(|| {
    let mut by_name = FastMap::default();
    let mut all = Vec::new();
    let mut ids = FastMap::default();
    for group in TOP_LEVEL {
        for spec in group.iter() {
            by_name.insert(spec.name, spec);
            ids.insert(spec.name, all.len());
            all.push(spec);
            for sub in spec.subcommands {
                ids.insert(sub.name, all.len());
                all.push(sub);
            }
        }
    }
    CommandTable { by_name, all, ids }
});

impl CommandTable {
    /// Finds a top-level command by name, ignoring case, without allocating.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
        self.by_name.get(lower).copied()
    }

    /// Finds a subcommand of `container` by name, ignoring case.
    pub fn lookup_sub(container: &'static CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
        container.subcommands.iter().find(|s| {
            let short = s.name.split('|').nth(1).unwrap_or("");
            short.as_bytes().eq_ignore_ascii_case(sub)
        })
    }

    /// The stable id of a spec (for statistics).
    pub fn id(&self, spec: &CommandSpec) -> usize {
        self.ids[spec.name]
    }

    /// Number of top-level commands.
    pub fn count(&self) -> usize {
        self.by_name.len()
    }

    /// Top-level commands, in a stable order.
    pub fn top_level(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        TOP_LEVEL.iter().flat_map(|g| g.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(TABLE.lookup(b"GeT").unwrap().name, "get");
        assert!(TABLE.lookup(b"nope").is_none());
        let config = TABLE.lookup(b"config").unwrap();
        assert_eq!(
            CommandTable::lookup_sub(config, b"GET").unwrap().name,
            "config|get"
        );
    }

    #[test]
    fn key_positions() {
        let mset = TABLE.lookup(b"mset").unwrap();
        let args: Vec<&[u8]> = vec![b"mset", b"a", b"1", b"b", b"2"];
        assert_eq!(mset.key_positions(&args), Some(vec![1, 3]));
        let get = TABLE.lookup(b"get").unwrap();
        assert_eq!(get.key_positions(&[b"get", b"k"]), Some(vec![1]));
    }

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for spec in &TABLE.all {
            assert!(seen.insert(spec.name), "duplicate {}", spec.name);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.arity != 0, "{}", spec.name);
        }
    }
}
