//! FUNCTION (library management) and FCALL / FCALL_RO (see [`crate::scripting`]).

use super::args::{is, reply_help};
use super::flags::*;
use super::scripting::{script_keys, split_keys};
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::glob::glob_match;
use crate::scripting::engine::{check_library, run, Target};
use crate::scripting::functions::Library;
use crate::server::Server;

const ACL: &[&str] = &["@slow", "@scripting"];

static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "function|load",
        -3,
        NOSCRIPT | WRITE | DENYOOM,
        KeySpec::NONE,
        function_load,
    )
    .doc("scripting", "7.0.0", "Creates a library.")
    .acl(ACL),
    CommandSpec::new(
        "function|delete",
        3,
        NOSCRIPT | WRITE,
        KeySpec::NONE,
        function_delete,
    )
    .doc("scripting", "7.0.0", "Deletes a library and its functions.")
    .acl(ACL),
    CommandSpec::new("function|list", -2, NOSCRIPT, KeySpec::NONE, function_list)
        .doc(
            "scripting",
            "7.0.0",
            "Returns information about all libraries.",
        )
        .acl(ACL),
    CommandSpec::new("function|dump", 2, NOSCRIPT, KeySpec::NONE, function_dump)
        .doc(
            "scripting",
            "7.0.0",
            "Dumps all libraries into a serialized binary payload.",
        )
        .acl(ACL),
    CommandSpec::new(
        "function|restore",
        -3,
        NOSCRIPT | WRITE | DENYOOM,
        KeySpec::NONE,
        function_restore,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Restores all libraries from a payload.",
    )
    .acl(ACL),
    CommandSpec::new(
        "function|flush",
        -2,
        NOSCRIPT | WRITE,
        KeySpec::NONE,
        function_flush,
    )
    .doc("scripting", "7.0.0", "Deletes all libraries and functions.")
    .acl(ACL),
    CommandSpec::new(
        "function|kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        KeySpec::NONE,
        function_kill,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Terminates a function during execution.",
    )
    .acl(ACL),
    CommandSpec::new(
        "function|stats",
        2,
        NOSCRIPT | ALLOW_BUSY,
        KeySpec::NONE,
        function_stats,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Returns information about a function during execution.",
    )
    .acl(ACL),
    CommandSpec::new("function|help", 2, STALE, KeySpec::NONE, function_help)
        .doc(
            "scripting",
            "7.0.0",
            "Returns helpful text about the different subcommands.",
        )
        .acl(ACL),
];

/// FUNCTION, FCALL and FCALL_RO.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::container("function", -2, FUNCTION_SUBCOMMANDS).doc(
        "scripting",
        "7.0.0",
        "A container for function commands.",
    ),
    CommandSpec::new(
        "fcall",
        -3,
        NOSCRIPT | MAY_REPLICATE | STALE,
        KeySpec::NONE,
        fcall,
    )
    .movable(script_keys)
    .doc("scripting", "7.0.0", "Invokes a function.")
    .acl(ACL),
    CommandSpec::new(
        "fcall_ro",
        -3,
        NOSCRIPT | READONLY | STALE,
        KeySpec::NONE,
        fcall_ro,
    )
    .movable(script_keys)
    .doc("scripting", "7.0.0", "Invokes a read-only function.")
    .acl(ACL),
];

/// The FUNCTION DUMP payload of the current libraries, `None` when there are none.
pub fn dump_payload(server: &Server) -> Option<Vec<u8>> {
    let libs = server.scripts.libraries.read();
    if libs.libs.is_empty() {
        return None;
    }
    let sources: Vec<&[u8]> = libs.libs.values().map(|l| l.code.as_slice()).collect();
    Some(crate::dump::dump_libraries(&sources))
}

fn function_load(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (replace, code) = match args.len() {
        3 => (false, args[2]),
        4 if is(args[2], "REPLACE") => (true, args[3]),
        _ => return Err(CommandError::Syntax),
    };
    let (name, functions) = check_library(ctx.server, code)?;
    ctx.server.scripts.libraries.write().insert(
        name.clone(),
        Library {
            code: code.to_vec(),
            functions,
        },
        replace,
    )?;
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn function_delete(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(args[2]).into_owned();
    let mut libs = ctx.server.scripts.libraries.write();
    if libs.libs.remove(&name).is_none() {
        return Err(CommandError::err("Library not found"));
    }
    libs.version += 1;
    ctx.out.ok();
    Ok(())
}

fn function_list(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut i = 2;
    while i < args.len() {
        if is(args[i], "WITHCODE") && !with_code {
            with_code = true;
        } else if is(args[i], "LIBRARYNAME") && pattern.is_none() && i + 1 < args.len() {
            i += 1;
            pattern = Some(args[i]);
        } else {
            return Err(CommandError::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(args[i])
            )));
        }
        i += 1;
    }
    let libs = ctx.server.scripts.libraries.read();
    let chosen: Vec<(&String, &Library)> = libs
        .libs
        .iter()
        .filter(|(name, _)| pattern.is_none_or(|p| glob_match(p, name.as_bytes(), false)))
        .collect();
    let out = &mut ctx.out;
    out.array(chosen.len());
    for (name, lib) in chosen {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            out.set(f.flags.len());
            for flag in &f.flags {
                out.bulk(flag.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn function_dump(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let payload = dump_payload(ctx.server).unwrap_or_else(|| crate::dump::dump_libraries(&[]));
    ctx.out.bulk(&payload);
    Ok(())
}

fn function_restore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy = match args.get(3) {
        None => Policy::Append,
        Some(p) if args.len() == 4 && is(p, "APPEND") => Policy::Append,
        Some(p) if args.len() == 4 && is(p, "REPLACE") => Policy::Replace,
        Some(p) if args.len() == 4 && is(p, "FLUSH") => Policy::Flush,
        Some(_) => {
            return Err(CommandError::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let Some(sources) = crate::dump::restore_libraries(args[2]) else {
        return Err(CommandError::err("payload version or checksum are wrong"));
    };
    // Check every library first; apply all or nothing.
    let mut loaded = Vec::with_capacity(sources.len());
    for code in sources {
        let (name, functions) = check_library(ctx.server, &code)?;
        loaded.push((name, Library { code, functions }));
    }
    let mut libs = ctx.server.scripts.libraries.write();
    let mut next = crate::scripting::functions::Libraries {
        libs: if policy == Policy::Flush {
            Default::default()
        } else {
            libs.libs.clone()
        },
        version: libs.version,
    };
    for (name, lib) in loaded {
        next.insert(name, lib, policy != Policy::Append)?;
    }
    libs.libs = next.libs;
    libs.version += 1;
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if let Some(mode) = args.get(2) {
        if args.len() > 3 || !(is(mode, "ASYNC") || is(mode, "SYNC")) {
            return Err(CommandError::err(
                "FUNCTION FLUSH only supports SYNC|ASYNC option",
            ));
        }
    }
    ctx.server.scripts.libraries.write().clear();
    ctx.out.ok();
    Ok(())
}

fn function_kill(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.server.scripts.kill(true)?;
    ctx.out.ok();
    Ok(())
}

fn function_stats(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let running = ctx.server.scripts.busy_scripts().into_iter().next();
    let (libraries, functions) = {
        let libs = ctx.server.scripts.libraries.read();
        let f: usize = libs.libs.values().map(|l| l.functions.len()).sum();
        (libs.libs.len(), f)
    };
    let out = &mut ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match running {
        Some(s) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(s.name.as_bytes());
            out.bulk(b"command");
            out.array(1);
            out.bulk(s.command.as_bytes());
            out.bulk(b"duration_ms");
            out.int(s.started.elapsed().as_millis() as i64);
        }
        None => out.null(),
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(functions as i64);
    Ok(())
}

fn function_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        &[
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOAD [REPLACE] <FUNCTION CODE>",
            "DELETE <LIBRARY NAME>",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "FLUSH [ASYNC|SYNC]",
            "DUMP",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "STATS",
            "KILL",
            "HELP",
        ],
    )
}

fn fcall_with(ctx: &mut Ctx<'_>, args: &[&[u8]], read_only_command: bool) -> CmdResult {
    let (keys, argv) = split_keys(args)?;
    let name = String::from_utf8_lossy(args[1]).into_owned();
    let no_writes = {
        let libs = ctx.server.scripts.libraries.read();
        let (_, info) = libs
            .function(&name)
            .ok_or_else(|| CommandError::err("Function not found"))?;
        info.no_writes()
    };
    if read_only_command && !no_writes {
        return Err(CommandError::err(
            "Can not execute a script with write flag using *_ro command.",
        ));
    }
    run(ctx, Target::Function(&name), keys, argv, no_writes)
}

fn fcall(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    fcall_with(ctx, args, false)
}

fn fcall_ro(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    fcall_with(ctx, args, true)
}
