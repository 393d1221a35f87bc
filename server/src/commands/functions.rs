//! FUNCTION: the library registry. Cinnabar has no scripting engine yet, so the registry is
//! always empty; FUNCTION DUMP / RESTORE / LIST / FLUSH behave as Redis's do on an empty
//! registry, which is what `redis-cli --cluster add-node` needs.

use super::flags::*;
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};

const ACL: &[&str] = &["@slow", "@scripting"];

static FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
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
];

/// The FUNCTION container.
pub static COMMANDS: &[CommandSpec] =
    &[
        CommandSpec::container("function", -2, FUNCTION_SUBCOMMANDS).doc(
            "scripting",
            "7.0.0",
            "A container for function commands.",
        ),
    ];

/// The serialized form of an empty library set: a marker, the format version and a CRC.
fn empty_payload() -> Vec<u8> {
    crate::dump::dump_libraries(&[])
}

fn function_list(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.array(0);
    Ok(())
}

fn function_dump(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(&empty_payload());
    Ok(())
}

fn function_restore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if crate::dump::restore_libraries(args[2]).is_none() {
        return Err(CommandError::err("payload version or checksum are wrong"));
    }
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

fn function_stats(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.map(2);
    ctx.out.bulk(b"running_script");
    ctx.out.null();
    ctx.out.bulk(b"engines");
    ctx.out.map(0);
    Ok(())
}
