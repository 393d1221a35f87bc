//! Server commands: INFO, CONFIG, COMMAND, TIME, SLOWLOG, LATENCY, MEMORY, MONITOR, DEBUG,
//! SHUTDOWN, WAIT, LASTSAVE.

use std::sync::atomic::Ordering::Relaxed;

use super::args::{float, int, is, reply_help as help, ArgParser};
use super::flags::{self, *};
use super::{CommandSpec, CommandTable, KeySpec, TABLE};
use crate::config::ConfigError;
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::keyspace::{Expiry, Value};

const ACL_ADMIN: &[&str] = &["@admin", "@slow", "@dangerous"];

static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "config|get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        config_get,
    )
    .doc(
        "server",
        "2.0.0",
        "Returns the effective values of configuration parameters.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "config|set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        config_set,
    )
    .doc(
        "server",
        "2.0.0",
        "Sets configuration parameters in-flight.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "config|resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        config_resetstat,
    )
    .doc("server", "2.0.0", "Resets the server's statistics.")
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "config|rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        config_rewrite,
    )
    .doc(
        "server",
        "2.8.0",
        "Persists the effective configuration to file.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "config|help",
        2,
        LOADING | STALE,
        KeySpec::NONE,
        config_help,
    )
    .doc(
        "server",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    )
    .acl(&["@slow"]),
];

static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "command|count",
        2,
        LOADING | STALE,
        KeySpec::NONE,
        command_count,
    )
    .doc("server", "2.8.13", "Returns a count of commands.")
    .acl(&["@slow", "@connection"]),
    CommandSpec::new(
        "command|list",
        -2,
        LOADING | STALE,
        KeySpec::NONE,
        command_list,
    )
    .doc("server", "7.0.0", "Returns a list of command names.")
    .acl(&["@slow", "@connection"]),
    CommandSpec::new(
        "command|info",
        -2,
        LOADING | STALE,
        KeySpec::NONE,
        command_info,
    )
    .doc(
        "server",
        "2.8.13",
        "Returns information about one, multiple or all commands.",
    )
    .acl(&["@slow", "@connection"]),
    CommandSpec::new(
        "command|docs",
        -2,
        LOADING | STALE,
        KeySpec::NONE,
        command_docs,
    )
    .doc(
        "server",
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
    )
    .acl(&["@slow", "@connection"]),
    CommandSpec::new(
        "command|getkeys",
        -3,
        LOADING | STALE,
        KeySpec::NONE,
        command_getkeys,
    )
    .doc(
        "server",
        "2.8.13",
        "Extracts the key names from an arbitrary command.",
    )
    .acl(&["@slow", "@connection"]),
    CommandSpec::new(
        "command|getkeysandflags",
        -3,
        LOADING | STALE,
        KeySpec::NONE,
        command_getkeysandflags,
    )
    .doc(
        "server",
        "7.0.0",
        "Extracts the key names and access flags for an arbitrary command.",
    )
    .acl(&["@slow", "@connection"]),
    CommandSpec::new(
        "command|help",
        2,
        LOADING | STALE,
        KeySpec::NONE,
        command_help,
    )
    .doc(
        "server",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    )
    .acl(&["@slow", "@connection"]),
];

static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "slowlog|get",
        -2,
        ADMIN | LOADING | STALE,
        KeySpec::NONE,
        slowlog_get,
    )
    .doc("server", "2.2.12", "Returns the slow log's entries.")
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "slowlog|len",
        2,
        ADMIN | LOADING | STALE,
        KeySpec::NONE,
        slowlog_len,
    )
    .doc(
        "server",
        "2.2.12",
        "Returns the number of entries in the slow log.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "slowlog|reset",
        2,
        ADMIN | LOADING | STALE,
        KeySpec::NONE,
        slowlog_reset,
    )
    .doc("server", "2.2.12", "Clears all entries from the slow log.")
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "slowlog|help",
        2,
        LOADING | STALE,
        KeySpec::NONE,
        slowlog_help,
    )
    .doc(
        "server",
        "6.2.0",
        "Show helpful text about the different subcommands",
    )
    .acl(&["@slow"]),
];

static LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "latency|latest",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        latency_latest,
    )
    .doc(
        "server",
        "2.8.13",
        "Returns the latest latency samples for all events.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "latency|history",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        latency_history,
    )
    .doc(
        "server",
        "2.8.13",
        "Returns timestamp-latency samples for an event.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "latency|reset",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        latency_reset,
    )
    .doc(
        "server",
        "2.8.13",
        "Resets the latency data for one or more events.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "latency|doctor",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        latency_doctor,
    )
    .doc(
        "server",
        "2.8.13",
        "Returns a human-readable latency analysis report.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "latency|help",
        2,
        LOADING | STALE,
        KeySpec::NONE,
        latency_help,
    )
    .doc(
        "server",
        "2.8.13",
        "Returns helpful text about the different subcommands.",
    )
    .acl(&["@slow"]),
];

static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "memory|usage",
        -3,
        READONLY,
        KeySpec::at(2, 2, 1),
        memory_usage,
    )
    .doc("server", "4.0.0", "Estimates the memory usage of a key.")
    .acl(&["@read", "@slow"]),
    CommandSpec::new("memory|stats", 2, 0, KeySpec::NONE, memory_stats)
        .doc("server", "4.0.0", "Returns details about memory usage.")
        .acl(&["@slow"]),
    CommandSpec::new("memory|doctor", 2, 0, KeySpec::NONE, memory_doctor)
        .doc("server", "4.0.0", "Outputs a memory problems report.")
        .acl(&["@slow"]),
    CommandSpec::new("memory|malloc-stats", 2, 0, KeySpec::NONE, memory_doctor)
        .doc("server", "4.0.0", "Returns the allocator statistics.")
        .acl(&["@slow"]),
    CommandSpec::new("memory|purge", 2, 0, KeySpec::NONE, memory_purge)
        .doc("server", "4.0.0", "Asks the allocator to release memory.")
        .acl(&["@slow"]),
    CommandSpec::new(
        "memory|help",
        2,
        LOADING | STALE,
        KeySpec::NONE,
        memory_help,
    )
    .doc(
        "server",
        "4.0.0",
        "Returns helpful text about the different subcommands.",
    )
    .acl(&["@slow"]),
];

/// The server commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("info", -1, LOADING | STALE, KeySpec::NONE, info)
        .doc(
            "server",
            "1.0.0",
            "Returns information and statistics about the server.",
        )
        .acl(&["@slow", "@dangerous"]),
    CommandSpec::container("config", -2, CONFIG_SUBCOMMANDS).doc(
        "server",
        "2.0.0",
        "A container for server configuration commands.",
    ),
    CommandSpec::container("command", -1, COMMAND_SUBCOMMANDS)
        .bare(command_bare)
        .doc(
            "server",
            "2.8.13",
            "Returns detailed information about all commands.",
        ),
    CommandSpec::new(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | NO_MULTI,
        KeySpec::NONE,
        bgrewriteaof,
    )
    .doc(
        "server",
        "1.0.0",
        "Asynchronously rewrites the append-only file to disk.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new("time", 1, LOADING | STALE | FAST, KeySpec::NONE, time)
        .doc("server", "2.6.0", "Returns the server time.")
        .acl(&["@fast"]),
    CommandSpec::new("save", 1, ADMIN | NOSCRIPT | NO_MULTI, KeySpec::NONE, save)
        .doc(
            "server",
            "1.0.0",
            "Synchronously saves the database(s) to disk.",
        )
        .acl(ACL_ADMIN),
    CommandSpec::new("bgsave", -1, ADMIN | NOSCRIPT, KeySpec::NONE, bgsave)
        .doc(
            "server",
            "1.0.0",
            "Asynchronously saves the database(s) to disk.",
        )
        .acl(ACL_ADMIN),
    CommandSpec::new(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        KeySpec::NONE,
        lastsave,
    )
    .doc(
        "server",
        "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk.",
    )
    .acl(&["@admin", "@fast", "@dangerous"]),
    CommandSpec::container("slowlog", -2, SLOWLOG_SUBCOMMANDS).doc(
        "server",
        "2.2.12",
        "A container for slow log commands.",
    ),
    CommandSpec::container("latency", -2, LATENCY_SUBCOMMANDS).doc(
        "server",
        "2.8.13",
        "A container for latency diagnostics commands.",
    ),
    CommandSpec::container("memory", -2, MEMORY_SUBCOMMANDS).doc(
        "server",
        "4.0.0",
        "A container for memory diagnostics commands.",
    ),
    CommandSpec::new(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        monitor,
    )
    .doc(
        "server",
        "1.0.0",
        "Listens for all requests received by the server in real-time.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        KeySpec::NONE,
        shutdown,
    )
    .doc(
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE | KEYSPACE_WIDE,
        KeySpec::NONE,
        debug,
    )
    .doc("server", "1.0.0", "A container for debugging commands.")
    .acl(ACL_ADMIN),
];

fn info(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let sections = crate::info::sections_for(&args[1..]);
    let text = crate::info::render(ctx.server, &sections);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn config_get(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pattern in &args[2..] {
        for (k, v) in ctx.server.config.get_matching(pattern) {
            if !pairs.iter().any(|(n, _)| *n == k) {
                pairs.push((k, v));
            }
        }
    }
    ctx.out.map(pairs.len());
    for (k, v) in &pairs {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity("config|set".into()));
    }
    let pairs: Vec<(String, String)> = args[2..]
        .chunks(2)
        .map(|p| {
            (
                String::from_utf8_lossy(p[0]).into_owned(),
                String::from_utf8_lossy(p[1]).into_owned(),
            )
        })
        .collect();
    // Validate everything first so that a bad pair changes nothing.
    let mut seen = Vec::new();
    for (name, value) in &pairs {
        let fail = |e: ConfigError| match e {
            ConfigError::BadDirective => CommandError::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            )),
            e => CommandError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {e}"
            )),
        };
        let param = ctx.server.config.validate(name, value).map_err(fail)?;
        if seen.contains(&param.name) {
            return Err(CommandError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            )));
        }
        seen.push(param.name);
    }
    for (name, value) in &pairs {
        ctx.server
            .config
            .set(name, value)
            .map_err(|e| CommandError::err(format!("CONFIG SET failed - {e}")))?;
        if let Some(node) = &ctx.server.cluster {
            let config = &ctx.server.config;
            node.with(|c| {
                c.settings.node_timeout = config.get_i64("cluster-node-timeout").max(1) as u64;
                c.settings.require_full_coverage = config.get_bool("cluster-require-full-coverage");
                ((), Vec::new())
            });
        }
        if name.eq_ignore_ascii_case("appendonly") {
            let server = ctx.server.self_arc();
            let on = ctx.server.config.get_bool("appendonly");
            let current = server.replication.aof.read().clone();
            match (on, current) {
                (true, None) => crate::start_aof(&server, false).map_err(CommandError::err)?,
                (false, Some(aof)) => {
                    aof.flush();
                    *server.replication.aof.write() = None;
                }
                _ => {}
            }
        }
        if name.eq_ignore_ascii_case("appendfsync") {
            if let Some(aof) = ctx.server.replication.aof.read().as_ref() {
                aof.set_policy(crate::aof::Policy::parse(
                    &ctx.server.config.get("appendfsync").unwrap_or_default(),
                ));
            }
        }
        if name.eq_ignore_ascii_case("dir") {
            std::env::set_current_dir(value).map_err(|e| {
                CommandError::err(format!(
                    "CONFIG SET failed (possibly related to argument 'dir') - {e}"
                ))
            })?;
        }
    }
    ctx.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let s = ctx.server;
    s.stats.reset();
    s.stats
        .expired_offset
        .store(s.keyspace.expired_total(), Relaxed);
    s.slowlog.lock().entries.clear();
    ctx.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    if ctx.server.config.file.is_none() {
        return Err(CommandError::err(
            "The server is running without a config file",
        ));
    }
    crate::config::file::rewrite(&ctx.server.config)
        .map_err(|e| CommandError::err(format!("Rewriting config file: {e}")))?;
    tracing::info!("CONFIG REWRITE executed with success.");
    ctx.out.ok();
    Ok(())
}

fn config_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Print this help.",
        ],
    )
}

fn bgrewriteaof(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let server = ctx.server.self_arc();
    let aof = server.replication.aof.read().clone();
    match aof {
        None => {
            // Like Redis, a rewrite with AOF off writes the file and turns nothing on.
            return Err(CommandError::err(
                "Background append only file rewriting needs appendonly yes",
            ));
        }
        Some(aof) => {
            if !aof.rewrite(&server) {
                return Err(CommandError::err(
                    "Background append only file rewriting already in progress",
                ));
            }
        }
    }
    ctx.out
        .simple("Background append only file rewriting started");
    Ok(())
}

fn time(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let us = crate::clock::unix_us();
    ctx.out.array(2);
    ctx.out.bulk_int((us / 1_000_000) as i64);
    ctx.out.bulk_int((us % 1_000_000) as i64);
    Ok(())
}

fn save(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    if ctx.server.snapshot.in_progress.load(Relaxed) {
        return Err(CommandError::err("Background save already in progress"));
    }
    crate::snapshot::save(ctx.server)
        .map_err(|_| CommandError::err("Error saving the snapshot; see the server log"))?;
    ctx.out.ok();
    Ok(())
}

fn bgsave(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let schedule = match args.get(1) {
        None => false,
        Some(a) if args.len() == 2 && is(a, "SCHEDULE") => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    let Some(server) = ctx.server.me.get().and_then(|w| w.upgrade()) else {
        return Err(CommandError::err("Background save is not available"));
    };
    if crate::snapshot::bgsave(&server) {
        ctx.out.simple("Background saving started");
    } else if schedule {
        ctx.out.simple("Background saving scheduled");
    } else {
        return Err(CommandError::err("Background save already in progress"));
    }
    Ok(())
}

fn lastsave(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.lastsave.load(Relaxed) as i64);
    Ok(())
}

/// Writes one `COMMAND INFO` entry.
fn write_command_info(ctx: &mut Ctx<'_>, spec: &CommandSpec) {
    ctx.out.array(10);
    ctx.out.bulk(spec.name.as_bytes());
    ctx.out.int(spec.arity as i64);
    let names: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    ctx.out.set(names.len());
    for n in names {
        ctx.out.simple(n);
    }
    ctx.out.int(spec.keys.first as i64);
    ctx.out.int(spec.keys.last as i64);
    ctx.out.int(spec.keys.step as i64);
    ctx.out.set(spec.acl.len());
    for a in spec.acl {
        ctx.out.simple(a);
    }
    ctx.out.array(0);
    if spec.keys.first > 0 {
        let key_flags: &[&str] = if spec.has(WRITE) {
            &["RW", "UPDATE"]
        } else {
            &["RO", "ACCESS"]
        };
        ctx.out.array(1);
        ctx.out.map(3);
        ctx.out.bulk(b"flags");
        ctx.out.set(key_flags.len());
        for f in key_flags {
            ctx.out.simple(f);
        }
        ctx.out.bulk(b"begin_search");
        ctx.out.map(2);
        ctx.out.bulk(b"type");
        ctx.out.bulk(b"index");
        ctx.out.bulk(b"spec");
        ctx.out.map(1);
        ctx.out.bulk(b"index");
        ctx.out.int(spec.keys.first as i64);
        ctx.out.bulk(b"find_keys");
        ctx.out.map(2);
        ctx.out.bulk(b"type");
        ctx.out.bulk(b"range");
        ctx.out.bulk(b"spec");
        ctx.out.map(3);
        ctx.out.bulk(b"lastkey");
        let last = if spec.keys.last < 0 {
            spec.keys.last
        } else {
            spec.keys.last - spec.keys.first
        };
        ctx.out.int(last as i64);
        ctx.out.bulk(b"keystep");
        ctx.out.int(spec.keys.step as i64);
        ctx.out.bulk(b"limit");
        ctx.out.int(0);
    } else {
        ctx.out.array(0);
    }
    ctx.out.array(spec.subcommands.len());
    for sub in spec.subcommands {
        write_command_info(ctx, sub);
    }
}

fn command_all(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.array(TABLE.count());
    for spec in TABLE.top_level() {
        write_command_info(ctx, spec);
    }
    Ok(())
}

fn command_bare(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    command_all(ctx)
}

fn command_count(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(TABLE.count() as i64);
    Ok(())
}

fn command_list(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut filter: Option<(bool, &[u8])> = None;
    if args.len() > 2 {
        if args.len() != 5 || !is(args[2], "FILTERBY") {
            return Err(CommandError::Syntax);
        }
        if is(args[3], "PATTERN") {
            filter = Some((true, args[4]));
        } else if is(args[3], "ACLCAT") {
            filter = Some((false, args[4]));
        } else if is(args[3], "MODULE") {
            ctx.out.array(0);
            return Ok(());
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let names: Vec<&str> = TABLE
        .all
        .iter()
        .filter(|s| match filter {
            None => true,
            Some((true, pat)) => crate::glob::glob_match(pat, s.name.as_bytes(), true),
            Some((false, cat)) => s.acl.iter().any(|a| {
                a.trim_start_matches('@')
                    .as_bytes()
                    .eq_ignore_ascii_case(cat)
            }),
        })
        .map(|s| s.name)
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn command_info(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if args.len() == 2 {
        return command_all(ctx);
    }
    ctx.out.array(args.len() - 2);
    for name in &args[2..] {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        match TABLE.all.iter().find(|s| s.name == lower) {
            Some(spec) => write_command_info(ctx, spec),
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

fn write_docs(ctx: &mut Ctx<'_>, spec: &CommandSpec) {
    let subs = !spec.subcommands.is_empty();
    ctx.out.map(3 + subs as usize);
    ctx.out.bulk(b"summary");
    ctx.out.bulk(spec.summary.as_bytes());
    ctx.out.bulk(b"since");
    ctx.out.bulk(spec.since.as_bytes());
    ctx.out.bulk(b"group");
    ctx.out.bulk(spec.group.as_bytes());
    if subs {
        ctx.out.bulk(b"subcommands");
        ctx.out.map(spec.subcommands.len());
        for sub in spec.subcommands {
            ctx.out.bulk(sub.name.as_bytes());
            write_docs(ctx, sub);
        }
    }
}

fn command_docs(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let specs: Vec<&CommandSpec> = if args.len() == 2 {
        TABLE.top_level().collect()
    } else {
        args[2..]
            .iter()
            .filter_map(|n| {
                let lower = String::from_utf8_lossy(n).to_ascii_lowercase();
                TABLE.all.iter().find(|s| s.name == lower).copied()
            })
            .collect()
    };
    ctx.out.map(specs.len());
    for spec in specs {
        ctx.out.bulk(spec.name.as_bytes());
        write_docs(ctx, spec);
    }
    Ok(())
}

/// Resolves the command in `COMMAND GETKEYS` arguments and returns its key positions.
fn getkeys_positions(args: &[&[u8]]) -> Result<(&'static CommandSpec, Vec<usize>), CommandError> {
    let cmd_args = &args[2..];
    let mut spec = TABLE
        .lookup(cmd_args[0])
        .ok_or_else(|| CommandError::err("Invalid command specified"))?;
    if !spec.subcommands.is_empty() && cmd_args.len() > 1 {
        spec = CommandTable::lookup_sub(spec, cmd_args[1])
            .ok_or_else(|| CommandError::err("Invalid command specified"))?;
    }
    let n = cmd_args.len() as i32;
    if (spec.arity > 0 && n != spec.arity) || n < -spec.arity {
        return Err(CommandError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let positions = spec
        .key_positions(cmd_args)
        .ok_or_else(|| CommandError::err("Invalid arguments specified for command"))?;
    if positions.is_empty() {
        return Err(CommandError::err("The command has no key arguments"));
    }
    Ok((spec, positions))
}

fn command_getkeys(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (_, positions) = getkeys_positions(args)?;
    ctx.out.array(positions.len());
    for p in positions {
        ctx.out.bulk(args[2 + p]);
    }
    Ok(())
}

fn command_getkeysandflags(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (spec, positions) = getkeys_positions(args)?;
    let key_flags: &[&str] = if spec.has(WRITE) {
        &["RW", "UPDATE"]
    } else {
        &["RO", "ACCESS"]
    };
    ctx.out.array(positions.len());
    for p in positions {
        ctx.out.array(2);
        ctx.out.bulk(args[2 + p]);
        ctx.out.set(key_flags.len());
        for f in key_flags {
            ctx.out.simple(f);
        }
    }
    Ok(())
}

fn command_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "HELP",
            "    Print this help.",
        ],
    )
}

fn slowlog_get(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let count = match args.get(2) {
        None => 10,
        Some(a) => {
            let n = int(a)
                .map_err(|_| CommandError::err("count should be greater than or equal to -1"))?;
            if n < -1 {
                return Err(CommandError::err(
                    "count should be greater than or equal to -1",
                ));
            }
            if n == -1 {
                usize::MAX
            } else {
                n as usize
            }
        }
    };
    let entries: Vec<_> = ctx
        .server
        .slowlog
        .lock()
        .entries
        .iter()
        .take(count)
        .cloned()
        .collect();
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.micros as i64);
        ctx.out.array(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(e.name.as_bytes());
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let n = ctx.server.slowlog.lock().entries.len();
    ctx.out.int(n as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.server.slowlog.lock().entries.clear();
    ctx.out.ok();
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Print this help.",
        ],
    )
}

fn latency_latest(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let events: Vec<(String, (u64, u64), u64)> = ctx
        .server
        .latency
        .lock()
        .iter()
        .filter_map(|(name, e)| e.samples.back().map(|s| (name.clone(), *s, e.max)))
        .collect();
    ctx.out.array(events.len());
    for (name, (time, ms), max) in events {
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(max as i64);
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(args[2]).into_owned();
    let samples: Vec<(u64, u64)> = ctx
        .server
        .latency
        .lock()
        .get(&name)
        .map(|e| e.samples.iter().copied().collect())
        .unwrap_or_default();
    ctx.out.array(samples.len());
    for (time, ms) in samples {
        ctx.out.array(2);
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut lat = ctx.server.latency.lock();
    let removed = if args.len() == 2 {
        let n = lat.len();
        lat.clear();
        n
    } else {
        args[2..]
            .iter()
            .filter(|n| lat.remove(&*String::from_utf8_lossy(n)).is_some())
            .count()
    };
    drop(lat);
    ctx.out.int(removed as i64);
    Ok(())
}

fn latency_doctor(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let lat = ctx.server.latency.lock();
    let text = if lat.is_empty() {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n".to_string()
    } else {
        lat.iter()
            .map(|(name, e)| {
                format!(
                    "{name}: {} latency spikes (max {} ms).\n",
                    e.samples.len(),
                    e.max
                )
            })
            .collect()
    };
    drop(lat);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn latency_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "HELP",
            "    Print this help.",
        ],
    )
}

fn memory_usage(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut p = ArgParser::new(args, 3);
    while let Some(opt) = p.next() {
        if is(opt, "SAMPLES") {
            p.int()?;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let k = ctx.key(args[2]);
    let size = ctx
        .server
        .keyspace
        .lock(k.slot)
        .peek(&k, ctx.now_ms)
        .map(|e| std::mem::size_of_val(e) + e.packed_size() + e.value().heap_size() + 1);
    match size {
        Some(s) => ctx.out.int(s as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn memory_stats(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let used = crate::memory::used_memory();
    let keys = ctx.server.keyspace.len() as u64;
    let peak = ctx.server.peak_memory.load(Relaxed).max(used);
    let rss = crate::memory::rss();
    let fields: [(&str, u64); 6] = [
        ("peak.allocated", peak),
        ("total.allocated", used),
        ("keys.count", keys),
        ("keys.bytes-per-key", used.checked_div(keys).unwrap_or(0)),
        ("dataset.bytes", used),
        ("rss", rss),
    ];
    ctx.out.map(fields.len());
    for (k, v) in fields {
        ctx.out.bulk(k.as_bytes());
        ctx.out.int(v as i64);
    }
    Ok(())
}

fn memory_doctor(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let used = crate::memory::used_memory();
    let rss = crate::memory::rss();
    let text = format!(
        "Memory report: {} allocated by jemalloc, {} resident. No problems detected.\n",
        crate::memory::human(used),
        crate::memory::human(rss)
    );
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn memory_purge(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

fn memory_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        &[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value.",
            "HELP",
            "    Print this help.",
        ],
    )
}

fn monitor(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.server.clients.add_monitor(ctx.client);
    ctx.out.ok();
    Ok(())
}

fn shutdown(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    for a in &args[1..] {
        if is(a, "ABORT") {
            return Err(CommandError::err("No shutdown in progress."));
        }
        if !["NOSAVE", "SAVE", "NOW", "FORCE"].iter().any(|w| is(a, w)) {
            return Err(CommandError::Syntax);
        }
    }
    let mode = if args[1..].iter().any(|a| is(a, "NOSAVE")) {
        2
    } else if args[1..].iter().any(|a| is(a, "SAVE")) {
        1
    } else {
        0
    };
    ctx.server.shutdown_save.store(mode, Relaxed);
    tracing::info!("User requested shutdown...");
    ctx.server.request_shutdown();
    ctx.client.close_after_reply = true;
    Ok(())
}

fn debug(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if !ctx.settings.debug_enabled
        || (ctx.settings.debug_local_only && !ctx.client.info.addr.ip().is_loopback())
    {
        return Err(CommandError::err("DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    let sub = args[1];
    if is(sub, "SLEEP") {
        let secs = float(args.get(2).ok_or(CommandError::Syntax)?)?;
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.max(0.0)));
        ctx.out.ok();
    } else if is(sub, "SET-ACTIVE-EXPIRE") {
        let on = int(args.get(2).ok_or(CommandError::Syntax)?)? != 0;
        ctx.server.active_expire.store(on, Relaxed);
        ctx.out.ok();
    } else if is(sub, "POPULATE") {
        let count = int(args.get(2).ok_or(CommandError::Syntax)?)?;
        if count < 0 {
            return Err(CommandError::err("count must be >= 0"));
        }
        let prefix = args.get(3).copied().unwrap_or(b"key");
        let size = match args.get(4) {
            Some(s) => Some(int(s)?.max(0) as usize),
            None => None,
        };
        for i in 0..count {
            let mut key = prefix.to_vec();
            key.push(b':');
            key.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            let k = ctx.key(&key);
            let mut t = ctx.server.keyspace.lock(k.slot);
            if t.contains(&k, ctx.now_ms) {
                continue;
            }
            let mut value = b"value:".to_vec();
            value.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            if let Some(size) = size {
                value.resize(size, 0);
            }
            t.set(&k, Value::from_bytes(&value), Expiry::None, ctx.now_ms);
        }
        ctx.out.ok();
    } else if is(sub, "OBJECT") {
        let key = args.get(2).ok_or(CommandError::Syntax)?;
        let k = ctx.key(key);
        let desc = ctx.server.keyspace.lock(k.slot).peek(&k, ctx.now_ms).map(|e| {
            format!(
                "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                e.value().encoding(&ctx.settings.encoding),
                e.value().heap_size().max(1),
                e.stamp(),
                e.idle_secs(ctx.now_ms)
            )
        });
        match desc {
            Some(d) => ctx.out.simple(&d),
            None => return Err(CommandError::err("no such key")),
        }
    } else if is(sub, "HELP") {
        return help(ctx, &[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not accessed.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ]);
    } else {
        // Subcommands Cinnabar does not model are accepted so that test suites written for
        // Redis can run; they change nothing.
        ctx.out.ok();
    }
    Ok(())
}
