//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (see [`crate::scripting`]).

use super::args::{is, reply_help};
use super::flags::*;
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::scripting::engine::{run, shebang_flags, Target};

const ACL: &[&str] = &["@slow", "@scripting"];

/// The scripting commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "eval",
        -3,
        NOSCRIPT | MAY_REPLICATE | STALE,
        KeySpec::NONE,
        eval,
    )
    .movable(script_keys)
    .doc("scripting", "2.6.0", "Executes a server-side Lua script.")
    .acl(ACL),
    CommandSpec::new(
        "evalsha",
        -3,
        NOSCRIPT | MAY_REPLICATE | STALE,
        KeySpec::NONE,
        evalsha,
    )
    .movable(script_keys)
    .doc(
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script by SHA1 digest.",
    )
    .acl(ACL),
    CommandSpec::new(
        "eval_ro",
        -3,
        NOSCRIPT | READONLY | STALE,
        KeySpec::NONE,
        eval_ro,
    )
    .movable(script_keys)
    .doc(
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script.",
    )
    .acl(ACL),
    CommandSpec::new(
        "evalsha_ro",
        -3,
        NOSCRIPT | READONLY | STALE,
        KeySpec::NONE,
        evalsha_ro,
    )
    .movable(script_keys)
    .doc(
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script by SHA1 digest.",
    )
    .acl(ACL),
    CommandSpec::container("script", -2, SCRIPT_SUBCOMMANDS).doc(
        "scripting",
        "2.6.0",
        "A container for Lua scripts management commands.",
    ),
];

static SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "script|load",
        3,
        NOSCRIPT | STALE,
        KeySpec::NONE,
        script_load,
    )
    .doc(
        "scripting",
        "2.6.0",
        "Loads a server-side Lua script to the script cache.",
    )
    .acl(ACL),
    CommandSpec::new(
        "script|exists",
        -3,
        NOSCRIPT | STALE,
        KeySpec::NONE,
        script_exists,
    )
    .doc(
        "scripting",
        "2.6.0",
        "Determines whether server-side Lua scripts exist in the script cache.",
    )
    .acl(ACL),
    CommandSpec::new("script|flush", -2, NOSCRIPT, KeySpec::NONE, script_flush)
        .doc(
            "scripting",
            "2.6.0",
            "Removes all server-side Lua scripts from the script cache.",
        )
        .acl(ACL),
    CommandSpec::new(
        "script|kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        KeySpec::NONE,
        script_kill,
    )
    .doc(
        "scripting",
        "2.6.0",
        "Terminates a server-side Lua script during execution.",
    )
    .acl(ACL),
    CommandSpec::new("script|debug", 3, NOSCRIPT, KeySpec::NONE, script_debug)
        .doc(
            "scripting",
            "3.2.0",
            "Sets the debug mode of server-side Lua scripts.",
        )
        .acl(ACL),
    CommandSpec::new("script|help", 2, STALE, KeySpec::NONE, script_help)
        .doc(
            "scripting",
            "5.0.0",
            "Returns helpful text about the different subcommands.",
        )
        .acl(ACL),
];

/// Key positions of `EVAL script numkeys key... arg...` (and FCALL's same shape).
pub fn script_keys(args: &[&[u8]]) -> Option<Vec<usize>> {
    let n = crate::resp::decode::parse_i64(args.get(2)?)?;
    if n < 0 || 3 + n as usize > args.len() {
        return None;
    }
    Some((3..3 + n as usize).collect())
}

/// A script's keys and its other arguments.
pub type KeysAndArgs<'a> = (&'a [&'a [u8]], &'a [&'a [u8]]);

/// Splits `numkeys key... arg...` (from `args[2]`) into keys and arguments.
pub fn split_keys<'a>(args: &'a [&'a [u8]]) -> Result<KeysAndArgs<'a>, CommandError> {
    let n = crate::resp::decode::parse_i64(args[2]).ok_or(CommandError::NotInteger)?;
    if n < 0 {
        return Err(CommandError::err("Number of keys can't be negative"));
    }
    let n = n as usize;
    if n > args.len() - 3 {
        return Err(CommandError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    Ok((&args[3..3 + n], &args[3 + n..]))
}

fn eval_body(ctx: &mut Ctx<'_>, args: &[&[u8]], read_only: bool) -> CmdResult {
    let (keys, argv) = split_keys(args)?;
    let body = args[1];
    let flags = shebang_flags(body)?;
    let sha = ctx.server.scripts.store(body);
    let read_only = read_only || flags.iter().any(|f| f == "no-writes");
    run(
        ctx,
        Target::Script {
            sha: &sha,
            body: Some(body),
        },
        keys,
        argv,
        read_only,
    )
}

fn eval_sha(ctx: &mut Ctx<'_>, args: &[&[u8]], read_only: bool) -> CmdResult {
    let (keys, argv) = split_keys(args)?;
    let sha = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
    let Some(source) = (sha.len() == 40)
        .then(|| ctx.server.scripts.source(&sha))
        .flatten()
    else {
        return Err(CommandError::Other(
            "NOSCRIPT No matching script. Please use EVAL.".into(),
        ));
    };
    let flags = shebang_flags(&source)?;
    let read_only = read_only || flags.iter().any(|f| f == "no-writes");
    run(
        ctx,
        Target::Script {
            sha: &sha,
            body: None,
        },
        keys,
        argv,
        read_only,
    )
}

fn eval(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    eval_body(ctx, args, false)
}

fn eval_ro(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    eval_body(ctx, args, true)
}

fn evalsha(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    eval_sha(ctx, args, false)
}

fn evalsha_ro(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    eval_sha(ctx, args, true)
}

fn script_load(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    shebang_flags(args[2])?;
    // Compile it now so that a syntax error is reported here, not at EVALSHA.
    let sha = crate::scripting::sha1_hex(args[2]);
    crate::scripting::engine::compile(ctx.server, &sha, args[2])?;
    ctx.server.scripts.store(args[2]);
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    ctx.out.array(args.len() - 2);
    for sha in &args[2..] {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        ctx.out.int(ctx.server.scripts.exists(&sha) as i64);
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if let Some(mode) = args.get(2) {
        if args.len() > 3 || !(is(mode, "ASYNC") || is(mode, "SYNC")) {
            return Err(CommandError::err(
                "SCRIPT FLUSH only support SYNC|ASYNC option",
            ));
        }
    }
    ctx.server.scripts.flush();
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.server.scripts.kill(false)?;
    ctx.out.ok();
    Ok(())
}

fn script_debug(_ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if is(args[2], "NO") {
        _ctx.out.ok();
        return Ok(());
    }
    Err(CommandError::err(
        "SCRIPT DEBUG is not supported by Cinnabar; only SCRIPT DEBUG NO",
    ))
}

fn script_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        &[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Print this help.",
        ],
    )
}
