//! Hash commands.

use rand::seq::SliceRandom;

use super::args::{float, int, is, ArgParser};
use super::flags::*;
use super::typed::{create_hash, drop_if_empty, read_hash, write_hash};
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::glob::glob_match;
use crate::notify;

const R: &[&str] = &["@read", "@hash", "@fast"];
const RS: &[&str] = &["@read", "@hash", "@slow"];
const W: &[&str] = &["@write", "@hash", "@fast"];

/// The hash commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, WRITE | DENYOOM | FAST, KeySpec::ONE, hset)
        .doc("hash", "2.0.0", "Creates or modifies the value of a field in a hash.").acl(W),
    CommandSpec::new("hmset", -4, WRITE | DENYOOM | FAST, KeySpec::ONE, hmset)
        .doc("hash", "2.0.0", "Sets the values of multiple fields.").acl(W),
    CommandSpec::new("hsetnx", 4, WRITE | DENYOOM | FAST, KeySpec::ONE, hsetnx)
        .doc("hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.").acl(W),
    CommandSpec::new("hget", 3, READONLY | FAST, KeySpec::ONE, hget)
        .doc("hash", "2.0.0", "Returns the value of a field in a hash.").acl(R),
    CommandSpec::new("hmget", -3, READONLY | FAST, KeySpec::ONE, hmget)
        .doc("hash", "2.0.0", "Returns the values of all fields in a hash.").acl(R),
    CommandSpec::new("hgetall", 2, READONLY, KeySpec::ONE, hgetall)
        .doc("hash", "2.0.0", "Returns all fields and values in a hash.").acl(RS),
    CommandSpec::new("hdel", -3, WRITE | FAST, KeySpec::ONE, hdel)
        .doc("hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.").acl(W),
    CommandSpec::new("hexists", 3, READONLY | FAST, KeySpec::ONE, hexists)
        .doc("hash", "2.0.0", "Determines whether a field exists in a hash.").acl(R),
    CommandSpec::new("hlen", 2, READONLY | FAST, KeySpec::ONE, hlen)
        .doc("hash", "2.0.0", "Returns the number of fields in a hash.").acl(R),
    CommandSpec::new("hkeys", 2, READONLY, KeySpec::ONE, hkeys)
        .doc("hash", "2.0.0", "Returns all fields in a hash.").acl(RS),
    CommandSpec::new("hvals", 2, READONLY, KeySpec::ONE, hvals)
        .doc("hash", "2.0.0", "Returns all values in a hash.").acl(RS),
    CommandSpec::new("hincrby", 4, WRITE | DENYOOM | FAST, KeySpec::ONE, hincrby)
        .doc("hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.").acl(W),
    CommandSpec::new("hincrbyfloat", 4, WRITE | DENYOOM | FAST, KeySpec::ONE, hincrbyfloat)
        .doc("hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.").acl(W),
    CommandSpec::new("hstrlen", 3, READONLY | FAST, KeySpec::ONE, hstrlen)
        .doc("hash", "3.2.0", "Returns the length of the value of a field.").acl(R),
    CommandSpec::new("hrandfield", -2, READONLY, KeySpec::ONE, hrandfield)
        .doc("hash", "6.2.0", "Returns one or more random fields from a hash.").acl(RS),
    CommandSpec::new("hscan", -3, READONLY, KeySpec::ONE, hscan)
        .doc("hash", "2.8.0", "Iterates over fields and values of a hash.").acl(RS),
];

fn set_fields(ctx: &mut Ctx<'_>, args: &[&[u8]], cmd: &str) -> Result<usize, CommandError> {
    if !(args.len() - 2).is_multiple_of(2) {
        return Err(CommandError::WrongArity(cmd.into()));
    }
    let limits = ctx.settings.encoding;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let h = create_hash(&mut t, &k, ctx.now_ms)?;
    let mut added = 0;
    for pair in args[2..].chunks(2) {
        added += h.insert(pair[0], pair[1], &limits) as usize;
    }
    drop(t);
    ctx.notify(notify::HASH, "hset", args[1]);
    Ok(added)
}

fn hset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let added = set_fields(ctx, args, "hset")?;
    ctx.out.int(added as i64);
    Ok(())
}

fn hmset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    set_fields(ctx, args, "hmset")?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let limits = ctx.settings.encoding;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let h = create_hash(&mut t, &k, ctx.now_ms)?;
    let added = h.get(args[2]).is_none() && h.insert(args[2], args[3], &limits);
    drop(t);
    if added {
        ctx.notify(notify::HASH, "hset", args[1]);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn hget(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    match read_hash(&mut t, &k, ctx.now_ms)?.and_then(|h| h.get(args[2])) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let h = read_hash(&mut t, &k, ctx.now_ms)?;
    ctx.out.array(args.len() - 2);
    for f in &args[2..] {
        match h.and_then(|h| h.get(f)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn hgetall(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let pairs = read_hash(&mut t, &k, ctx.now_ms)?
        .map(|h| h.pairs())
        .unwrap_or_default();
    ctx.out.map(pairs.len());
    for (f, v) in pairs {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
    Ok(())
}

fn hdel(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let mut removed = 0;
    if let Some(h) = write_hash(&mut t, &k, ctx.now_ms)? {
        for f in &args[2..] {
            removed += h.remove(f) as i64;
        }
        drop_if_empty(&mut t, &k, ctx.now_ms);
    }
    drop(t);
    if removed > 0 {
        ctx.notify(notify::HASH, "hdel", args[1]);
    }
    ctx.out.int(removed);
    Ok(())
}

fn hexists(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let found = read_hash(&mut t, &k, ctx.now_ms)?.is_some_and(|h| h.get(args[2]).is_some());
    drop(t);
    ctx.out.int(found as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let n = read_hash(&mut t, &k, ctx.now_ms)?.map_or(0, |h| h.len());
    drop(t);
    ctx.out.int(n as i64);
    Ok(())
}

fn keys_or_values(ctx: &mut Ctx<'_>, args: &[&[u8]], values: bool) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let pairs = read_hash(&mut t, &k, ctx.now_ms)?
        .map(|h| h.pairs())
        .unwrap_or_default();
    ctx.out.array(pairs.len());
    for (f, v) in pairs {
        ctx.out.bulk(if values { v } else { f });
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    keys_or_values(ctx, args, false)
}

fn hvals(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    keys_or_values(ctx, args, true)
}

fn hincrby(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = int(args[3])?;
    let limits = ctx.settings.encoding;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let h = create_hash(&mut t, &k, ctx.now_ms)?;
    let current = match h.get(args[2]) {
        None => 0,
        Some(v) => crate::resp::decode::parse_i64(v)
            .ok_or_else(|| CommandError::err("hash value is not an integer"))?,
    };
    let next = current.checked_add(by).ok_or(CommandError::Overflow)?;
    h.insert(
        args[2],
        itoa::Buffer::new().format(next).as_bytes(),
        &limits,
    );
    drop(t);
    ctx.notify(notify::HASH, "hincrby", args[1]);
    ctx.out.int(next);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = float(args[3])?;
    let limits = ctx.settings.encoding;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let h = create_hash(&mut t, &k, ctx.now_ms)?;
    let current = match h.get(args[2]) {
        None => 0.0,
        Some(v) => float(v).map_err(|_| CommandError::err("hash value is not a float"))?,
    };
    let next = current + by;
    if !next.is_finite() {
        drop_if_empty(&mut t, &k, ctx.now_ms);
        return Err(CommandError::err("increment would produce NaN or Infinity"));
    }
    let text = format!("{next}");
    h.insert(args[2], text.as_bytes(), &limits);
    drop(t);
    ctx.notify(notify::HASH, "hincrbyfloat", args[1]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

fn hstrlen(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let n = read_hash(&mut t, &k, ctx.now_ms)?
        .and_then(|h| h.get(args[2]))
        .map_or(0, |v| v.len());
    drop(t);
    ctx.out.int(n as i64);
    Ok(())
}

fn hrandfield(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let count = match args.get(2) {
        Some(c) => Some(int(c)?),
        None => None,
    };
    let with_values = match args.get(3) {
        Some(a) if is(a, "WITHVALUES") => true,
        Some(_) => return Err(CommandError::Syntax),
        None => false,
    };
    if args.len() > 4 {
        return Err(CommandError::Syntax);
    }
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = read_hash(&mut t, &k, ctx.now_ms)?
        .map(|h| {
            h.pairs()
                .into_iter()
                .map(|(f, v)| (f.to_vec(), v.to_vec()))
                .collect()
        })
        .unwrap_or_default();
    drop(t);
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        match pairs.choose(&mut rng) {
            Some((f, _)) => ctx.out.bulk(f),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let picked = super::args::random_picks(&pairs, count);
    if with_values && ctx.out.is_resp3() {
        ctx.out.array(picked.len());
        for (f, v) in &picked {
            ctx.out.array(2);
            ctx.out.bulk(f);
            ctx.out.bulk(v);
        }
    } else {
        ctx.out
            .array(picked.len() * if with_values { 2 } else { 1 });
        for (f, v) in &picked {
            ctx.out.bulk(f);
            if with_values {
                ctx.out.bulk(v);
            }
        }
    }
    Ok(())
}

/// The options of the SCAN family after the cursor: MATCH, COUNT, NOVALUES.
pub(crate) struct ScanOptions<'a> {
    pub pattern: Option<&'a [u8]>,
    pub novalues: bool,
}

/// Parses a collection SCAN's cursor and options.
pub(crate) fn scan_options<'a>(
    args: &[&'a [u8]],
    allow_novalues: bool,
) -> Result<ScanOptions<'a>, CommandError> {
    std::str::from_utf8(args[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CommandError::err("invalid cursor"))?;
    let mut opts = ScanOptions {
        pattern: None,
        novalues: false,
    };
    let mut p = ArgParser::new(args, 3);
    while let Some(opt) = p.next() {
        if is(opt, "MATCH") {
            opts.pattern = Some(p.value()?);
        } else if is(opt, "COUNT") {
            if p.int()? < 1 {
                return Err(CommandError::Syntax);
            }
        } else if allow_novalues && is(opt, "NOVALUES") {
            opts.novalues = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(opts)
}

/// HSCAN returns the whole hash in one call (cursor 0), which keeps Redis's guarantee that
/// every element present for the whole scan is returned.
fn hscan(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let opts = scan_options(args, true)?;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let pairs: Vec<(&[u8], &[u8])> = read_hash(&mut t, &k, ctx.now_ms)?
        .map(|h| h.pairs())
        .unwrap_or_default()
        .into_iter()
        .filter(|(f, _)| opts.pattern.is_none_or(|p| glob_match(p, f, false)))
        .collect();
    ctx.out.array(2);
    ctx.out.bulk(b"0");
    ctx.out
        .array(pairs.len() * if opts.novalues { 1 } else { 2 });
    for (f, v) in pairs {
        ctx.out.bulk(f);
        if !opts.novalues {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}
