//! String commands: GET, SET and its variants, counters, ranges, LCS.

use super::args::{float, int, is, ArgParser};
use super::flags::*;
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::keyspace::{Expiry, SlotTable, Value, ValueRef};
use crate::notify;

const ACL_READ: &[&str] = &["@read", "@string", "@fast"];
const ACL_WRITE: &[&str] = &["@write", "@string", "@fast"];
const ACL_SLOW_WRITE: &[&str] = &["@write", "@string", "@slow"];

/// The string commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, READONLY | FAST, KeySpec::ONE, get)
        .doc("string", "1.0.0", "Returns the string value of a key.")
        .acl(ACL_READ),
    CommandSpec::new("set", -3, WRITE | DENYOOM, KeySpec::ONE, set)
        .doc("string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.")
        .acl(ACL_SLOW_WRITE),
    CommandSpec::new("setnx", 3, WRITE | DENYOOM | FAST, KeySpec::ONE, setnx)
        .doc("string", "1.0.0", "Set the string value of a key only when the key doesn't exist.")
        .acl(ACL_WRITE),
    CommandSpec::new("setex", 4, WRITE | DENYOOM, KeySpec::ONE, setex)
        .doc("string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.")
        .acl(ACL_SLOW_WRITE),
    CommandSpec::new("psetex", 4, WRITE | DENYOOM, KeySpec::ONE, psetex)
        .doc("string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.")
        .acl(ACL_SLOW_WRITE),
    CommandSpec::new("getset", 3, WRITE | DENYOOM | FAST, KeySpec::ONE, getset)
        .doc("string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.")
        .acl(ACL_WRITE),
    CommandSpec::new("getdel", 2, WRITE | FAST, KeySpec::ONE, getdel)
        .doc("string", "6.2.0", "Returns the string value of a key after deleting the key.")
        .acl(ACL_WRITE),
    CommandSpec::new("getex", -2, WRITE | FAST, KeySpec::ONE, getex)
        .doc("string", "6.2.0", "Returns the string value of a key after setting its expiration time.")
        .acl(ACL_WRITE),
    CommandSpec::new("mget", -2, READONLY | FAST, KeySpec::ALL, mget)
        .doc("string", "1.0.0", "Atomically returns the string values of one or more keys.")
        .acl(ACL_READ),
    CommandSpec::new("mset", -3, WRITE | DENYOOM, KeySpec::PAIRS, mset)
        .doc("string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.")
        .acl(ACL_SLOW_WRITE),
    CommandSpec::new("msetnx", -3, WRITE | DENYOOM, KeySpec::PAIRS, msetnx)
        .doc("string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.")
        .acl(ACL_SLOW_WRITE),
    CommandSpec::new("append", 3, WRITE | DENYOOM | FAST, KeySpec::ONE, append)
        .doc("string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.")
        .acl(ACL_WRITE),
    CommandSpec::new("strlen", 2, READONLY | FAST, KeySpec::ONE, strlen)
        .doc("string", "2.2.0", "Returns the length of a string value.")
        .acl(ACL_READ),
    CommandSpec::new("incr", 2, WRITE | DENYOOM | FAST, KeySpec::ONE, incr)
        .doc("string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.")
        .acl(ACL_WRITE),
    CommandSpec::new("decr", 2, WRITE | DENYOOM | FAST, KeySpec::ONE, decr)
        .doc("string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.")
        .acl(ACL_WRITE),
    CommandSpec::new("incrby", 3, WRITE | DENYOOM | FAST, KeySpec::ONE, incrby)
        .doc("string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.")
        .acl(ACL_WRITE),
    CommandSpec::new("decrby", 3, WRITE | DENYOOM | FAST, KeySpec::ONE, decrby)
        .doc("string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.")
        .acl(ACL_WRITE),
    CommandSpec::new("incrbyfloat", 3, WRITE | DENYOOM | FAST, KeySpec::ONE, incrbyfloat)
        .doc("string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.")
        .acl(ACL_WRITE),
    CommandSpec::new("getrange", 4, READONLY, KeySpec::ONE, getrange)
        .doc("string", "2.4.0", "Returns a substring of the string stored at a key.")
        .acl(&["@read", "@string", "@slow"]),
    CommandSpec::new("substr", 4, READONLY, KeySpec::ONE, getrange)
        .doc("string", "1.0.0", "Returns a substring from a string value.")
        .acl(&["@read", "@string", "@slow"]),
    CommandSpec::new("setrange", 4, WRITE | DENYOOM, KeySpec::ONE, setrange)
        .doc("string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.")
        .acl(ACL_SLOW_WRITE),
    CommandSpec::new("lcs", -3, READONLY, KeySpec::TWO, lcs)
        .doc("string", "7.0.0", "Finds the longest common substring.")
        .acl(&["@read", "@string", "@slow"]),
];

/// The string stored at the key, `None` if missing, `WRONGTYPE` for other types.
fn read_string<'t>(
    table: &'t mut SlotTable,
    ctx: &Ctx<'_>,
    key: &[u8],
) -> Result<Option<ValueRef<'t>>, CommandError> {
    let k = ctx.key(key);
    let found = table.get(&k, ctx.now_ms);
    ctx.count_lookup(found.is_some());
    match found {
        None => Ok(None),
        Some(e) => match e.value() {
            v @ (ValueRef::Int(_) | ValueRef::Str(_)) => Ok(Some(v)),
            _ => Err(CommandError::WrongType),
        },
    }
}

/// Writes a string value as a bulk reply.
fn reply_value(ctx: &mut Ctx<'_>, v: ValueRef<'_>) {
    let mut buf = itoa::Buffer::new();
    match v.as_bytes(&mut buf) {
        Some(b) => ctx.out.bulk(b),
        None => ctx.out.null(),
    }
}

fn get(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    match read_string(&mut t, ctx, args[1])? {
        Some(v) => reply_value(ctx, v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Computes an absolute expiry from a relative or absolute time in seconds or milliseconds.
pub(crate) fn expire_time(
    now_ms: u64,
    amount: i64,
    millis: bool,
    absolute: bool,
    cmd: &str,
) -> Result<u64, CommandError> {
    let invalid = || CommandError::InvalidExpire(cmd.to_string());
    if amount <= 0 {
        return Err(invalid());
    }
    let ms = if millis {
        amount
    } else {
        amount.checked_mul(1000).ok_or_else(invalid)?
    };
    if absolute {
        Ok(ms as u64)
    } else {
        (now_ms as i64)
            .checked_add(ms)
            .map(|v| v as u64)
            .ok_or_else(invalid)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    IfMissing,
    IfExists,
}

fn set(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut cond = Condition::Always;
    let mut want_old = false;
    let mut expiry = Expiry::None;
    let mut expiry_set = false;
    let mut p = ArgParser::new(args, 3);
    while let Some(opt) = p.next() {
        if is(opt, "NX") && cond != Condition::IfExists {
            cond = Condition::IfMissing;
        } else if is(opt, "XX") && cond != Condition::IfMissing {
            cond = Condition::IfExists;
        } else if is(opt, "GET") {
            want_old = true;
        } else if is(opt, "KEEPTTL") && !expiry_set {
            expiry = Expiry::Keep;
            expiry_set = true;
        } else if !expiry_set
            && (is(opt, "EX") || is(opt, "PX") || is(opt, "EXAT") || is(opt, "PXAT"))
        {
            let amount = p.int()?;
            let millis = is(opt, "PX") || is(opt, "PXAT");
            let absolute = is(opt, "EXAT") || is(opt, "PXAT");
            expiry = Expiry::At(expire_time(ctx.now_ms, amount, millis, absolute, "set")?);
            expiry_set = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let old = if want_old {
        read_string(&mut t, ctx, args[1])?.map(|v| v.to_owned_value())
    } else {
        None
    };
    let exists = if want_old {
        old.is_some()
    } else {
        cond != Condition::Always && t.contains(&k, ctx.now_ms)
    };
    let proceed = match cond {
        Condition::Always => true,
        Condition::IfMissing => !exists,
        Condition::IfExists => exists,
    };
    if proceed {
        t.set(&k, Value::from_bytes(args[2]), expiry, ctx.now_ms);
    }
    drop(t);
    // Replicas and the AOF get the effect with an absolute expiry, so a replay later does
    // not extend the key's life.
    propagate_set(ctx, args[1], args[2], proceed, expiry);
    if proceed {
        ctx.notify(notify::STRING, "set", args[1]);
        if matches!(expiry, Expiry::At(_)) {
            ctx.notify(notify::GENERIC, "expire", args[1]);
        }
    }
    if want_old {
        match old {
            Some(v) => reply_value(ctx, v.as_ref()),
            None => ctx.out.null(),
        }
    } else if proceed {
        ctx.out.ok();
    } else {
        ctx.out.null();
    }
    Ok(())
}

/// Propagates a SET that took effect as `SET key value [PXAT <abs>|KEEPTTL]`, and nothing
/// when it did not.
fn propagate_set(ctx: &mut Ctx<'_>, key: &[u8], value: &[u8], applied: bool, expiry: Expiry) {
    ctx.propagate_as(Vec::new());
    if !applied {
        return;
    }
    match expiry {
        Expiry::At(at) => {
            let at = at.to_string();
            ctx.propagate_also(&[b"SET", key, value, b"PXAT", at.as_bytes()]);
        }
        Expiry::Keep => ctx.propagate_also(&[b"SET", key, value, b"KEEPTTL"]),
        Expiry::None => ctx.propagate_also(&[b"SET", key, value]),
    }
}

fn setnx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    if t.contains(&k, ctx.now_ms) {
        ctx.out.int(0);
    } else {
        t.set(&k, Value::from_bytes(args[2]), Expiry::None, ctx.now_ms);
        drop(t);
        ctx.notify(notify::STRING, "set", args[1]);
        ctx.out.int(1);
    }
    Ok(())
}

fn set_with_ttl(ctx: &mut Ctx<'_>, args: &[&[u8]], millis: bool, cmd: &str) -> CmdResult {
    let amount = int(args[2])?;
    let at = expire_time(ctx.now_ms, amount, millis, false, cmd)?;
    let k = ctx.key(args[1]);
    ctx.server.keyspace.lock(k.slot).set(
        &k,
        Value::from_bytes(args[3]),
        Expiry::At(at),
        ctx.now_ms,
    );
    propagate_set(ctx, args[1], args[3], true, Expiry::At(at));
    ctx.out.ok();
    Ok(())
}

fn setex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    set_with_ttl(ctx, args, false, "setex")
}

fn psetex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    set_with_ttl(ctx, args, true, "psetex")
}

fn getset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let old = read_string(&mut t, ctx, args[1])?.map(|v| v.to_owned_value());
    t.set(&k, Value::from_bytes(args[2]), Expiry::None, ctx.now_ms);
    drop(t);
    ctx.notify(notify::STRING, "set", args[1]);
    match old {
        Some(v) => reply_value(ctx, v.as_ref()),
        None => ctx.out.null(),
    }
    Ok(())
}

fn getdel(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let old = read_string(&mut t, ctx, args[1])?.map(|v| v.to_owned_value());
    if old.is_some() {
        t.remove(&k, ctx.now_ms);
    }
    drop(t);
    if old.is_some() {
        ctx.notify(notify::GENERIC, "del", args[1]);
    }
    match old {
        Some(v) => reply_value(ctx, v.as_ref()),
        None => ctx.out.null(),
    }
    Ok(())
}

fn getex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut change: Option<Option<u64>> = None;
    let mut p = ArgParser::new(args, 2);
    while let Some(opt) = p.next() {
        if change.is_some() {
            return Err(CommandError::Syntax);
        }
        if is(opt, "PERSIST") {
            change = Some(None);
        } else if is(opt, "EX") || is(opt, "PX") || is(opt, "EXAT") || is(opt, "PXAT") {
            let amount = p.int()?;
            let millis = is(opt, "PX") || is(opt, "PXAT");
            let absolute = is(opt, "EXAT") || is(opt, "PXAT");
            change = Some(Some(expire_time(
                ctx.now_ms, amount, millis, absolute, "getex",
            )?));
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let Some(v) = read_string(&mut t, ctx, args[1])?.map(|v| v.to_owned_value()) else {
        drop(t);
        ctx.out.null();
        return Ok(());
    };
    ctx.propagate_as(Vec::new());
    match change {
        Some(Some(at)) if at <= ctx.now_ms => {
            t.remove(&k, ctx.now_ms);
            ctx.propagate_also(&[b"DEL", args[1]]);
        }
        Some(Some(at)) => {
            t.set_expire(&k, Some(at), ctx.now_ms);
            let at = at.to_string();
            ctx.propagate_also(&[b"PEXPIREAT", args[1], at.as_bytes()]);
        }
        Some(None) => {
            t.set_expire(&k, None, ctx.now_ms);
            ctx.propagate_also(&[b"PERSIST", args[1]]);
        }
        None => {}
    }
    drop(t);
    reply_value(ctx, v.as_ref());
    Ok(())
}

fn mget(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let keys = &args[1..];
    let refs: Vec<_> = keys.iter().map(|k| ctx.key(k)).collect();
    let mut locks = ctx.server.keyspace.lock_slots(refs.iter().map(|k| k.slot));
    ctx.out.array(keys.len());
    let mut buf = itoa::Buffer::new();
    for k in &refs {
        let found = locks.table(k.slot).get(k, ctx.now_ms);
        ctx.count_lookup(found.is_some());
        match found.and_then(|e| e.value().as_bytes(&mut buf)) {
            Some(b) => ctx.out.bulk(b),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_impl(ctx: &mut Ctx<'_>, args: &[&[u8]], only_new: bool) -> Result<bool, CommandError> {
    if args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(
            (if only_new { "msetnx" } else { "mset" }).into(),
        ));
    }
    let refs: Vec<_> = args[1..].iter().step_by(2).map(|k| ctx.key(k)).collect();
    let mut locks = ctx.server.keyspace.lock_slots(refs.iter().map(|k| k.slot));
    if only_new
        && refs
            .iter()
            .any(|k| locks.table(k.slot).contains(k, ctx.now_ms))
    {
        return Ok(false);
    }
    for (i, k) in refs.iter().enumerate() {
        let value = Value::from_bytes(args[2 + 2 * i]);
        locks.table(k.slot).set(k, value, Expiry::None, ctx.now_ms);
    }
    drop(locks);
    for k in &refs {
        ctx.notify(notify::STRING, "set", k.key);
    }
    Ok(true)
}

fn mset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    mset_impl(ctx, args, false)?;
    ctx.out.ok();
    Ok(())
}

fn msetnx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let done = mset_impl(ctx, args, true)?;
    ctx.out.int(done as i64);
    Ok(())
}

fn append(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let max = ctx.settings.proto_max_bulk_len;
    let len = match t.get_mut(&k, ctx.now_ms) {
        None => {
            if args[2].len() > max {
                return Err(CommandError::StringTooLong);
            }
            t.set(&k, Value::from_bytes(args[2]), Expiry::None, ctx.now_ms);
            args[2].len()
        }
        Some(e) => {
            let mut bytes = e.take_string().ok_or(CommandError::WrongType)?;
            if bytes.len() + args[2].len() > max {
                e.set_value(Value::Str(bytes));
                return Err(CommandError::StringTooLong);
            }
            bytes.extend_from_slice(args[2]);
            let len = bytes.len();
            e.set_value(Value::Str(bytes));
            len
        }
    };
    drop(t);
    ctx.notify(notify::STRING, "append", args[1]);
    ctx.out.int(len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let len = match read_string(&mut t, ctx, args[1])? {
        None => 0,
        Some(ValueRef::Int(n)) => itoa::Buffer::new().format(n).len(),
        Some(ValueRef::Str(s)) => s.len(),
        Some(_) => 0,
    };
    drop(t);
    ctx.out.int(len as i64);
    Ok(())
}

/// Adds `by` to the integer at the key and replies with the result.
fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> CmdResult {
    let k = ctx.key(key);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let result = match t.get_mut(&k, ctx.now_ms) {
        None => {
            t.set(&k, Value::Int(by), Expiry::None, ctx.now_ms);
            by
        }
        Some(e) => {
            let current = match e.value() {
                ValueRef::Int(n) => n,
                ValueRef::Str(s) => {
                    crate::resp::decode::parse_i64(s).ok_or(CommandError::NotInteger)?
                }
                _ => return Err(CommandError::WrongType),
            };
            let next = current.checked_add(by).ok_or(CommandError::Overflow)?;
            e.set_value(Value::Int(next));
            next
        }
    };
    drop(t);
    ctx.notify(notify::STRING, "incrby", key);
    ctx.out.int(result);
    Ok(())
}

fn incr(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    incr_by(ctx, args[1], 1)
}

fn decr(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    incr_by(ctx, args[1], -1)
}

fn incrby(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = int(args[2])?;
    incr_by(ctx, args[1], by)
}

fn decrby(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = int(args[2])?;
    let by = by.checked_neg().ok_or(CommandError::Overflow)?;
    incr_by(ctx, args[1], by)
}

fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = float(args[2])?;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let current = match t.get(&k, ctx.now_ms) {
        None => 0.0,
        Some(e) => match e.value() {
            ValueRef::Int(n) => n as f64,
            ValueRef::Str(s) => float(s).map_err(|_| CommandError::NotFloat)?,
            _ => return Err(CommandError::WrongType),
        },
    };
    let next = current + by;
    if !next.is_finite() {
        return Err(CommandError::err("increment would produce NaN or Infinity"));
    }
    let text = format!("{next}");
    t.set(
        &k,
        Value::from_bytes(text.as_bytes()),
        Expiry::Keep,
        ctx.now_ms,
    );
    drop(t);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// Clamps Redis-style inclusive `start..=end` indexes (negative from the end) to `len`.
pub(crate) fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e < 0 {
        e = 0;
    }
    if e >= len {
        e = len - 1;
    }
    if len == 0 || s > e || s >= len {
        return None;
    }
    Some((s as usize, e as usize))
}

fn getrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let start = int(args[2])?;
    let end = int(args[3])?;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let mut buf = itoa::Buffer::new();
    let Some(v) = read_string(&mut t, ctx, args[1])? else {
        drop(t);
        ctx.out.bulk(b"");
        return Ok(());
    };
    let bytes = v.as_bytes(&mut buf).unwrap_or_default();
    // Both negative and start > end: empty (Redis special case).
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    match clamp_range(start, end, bytes.len()) {
        Some((s, e)) => ctx.out.bulk(&bytes[s..=e]),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let offset = int(args[2])?;
    if offset < 0 {
        return Err(CommandError::err("offset is out of range"));
    }
    let offset = offset as usize;
    let piece = args[3];
    let max = ctx.settings.proto_max_bulk_len;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let existing = t.get_mut(&k, ctx.now_ms);
    if existing.is_none() && piece.is_empty() {
        drop(t);
        ctx.out.int(0);
        return Ok(());
    }
    if !piece.is_empty() && offset + piece.len() > max {
        return Err(CommandError::StringTooLong);
    }
    let len = match existing {
        None => {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(piece);
            let len = bytes.len();
            t.set(&k, Value::Str(bytes), Expiry::None, ctx.now_ms);
            len
        }
        Some(e) => {
            let mut bytes = e.take_string().ok_or(CommandError::WrongType)?;
            if !piece.is_empty() {
                if bytes.len() < offset + piece.len() {
                    bytes.resize(offset + piece.len(), 0);
                }
                bytes[offset..offset + piece.len()].copy_from_slice(piece);
            }
            let len = bytes.len();
            e.set_value(Value::Str(bytes));
            len
        }
    };
    drop(t);
    ctx.out.int(len as i64);
    Ok(())
}

/// One LCS match: the range in the first string, the range in the second, the length.
type LcsMatch = ((usize, usize), (usize, usize), usize);

fn lcs(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (mut want_len, mut want_idx, mut with_len, mut min_len) = (false, false, false, 0i64);
    let mut p = ArgParser::new(args, 3);
    while let Some(opt) = p.next() {
        if is(opt, "LEN") {
            want_len = true;
        } else if is(opt, "IDX") {
            want_idx = true;
        } else if is(opt, "WITHMATCHLEN") {
            with_len = true;
        } else if is(opt, "MINMATCHLEN") {
            min_len = p.int()?.max(0);
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if want_len && want_idx {
        return Err(CommandError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let fetch = |ctx: &Ctx<'_>, key: &[u8]| -> Result<Vec<u8>, CommandError> {
        let k = ctx.key(key);
        let mut t = ctx.server.keyspace.lock(k.slot);
        let mut buf = itoa::Buffer::new();
        Ok(read_string(&mut t, ctx, key)?
            .and_then(|v| v.as_bytes(&mut buf).map(|b| b.to_vec()))
            .unwrap_or_default())
    };
    let a = fetch(ctx, args[1])?;
    let b = fetch(ctx, args[2])?;
    let cells = (a.len() + 1).saturating_mul(b.len() + 1);
    if cells.saturating_mul(4) > ctx.settings.proto_max_bulk_len || cells > u32::MAX as usize {
        return Err(CommandError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let w = b.len() + 1;
    let mut dp = vec![0u32; cells];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            dp[i * w + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let total = dp[a.len() * w + b.len()] as usize;
    if want_len {
        ctx.out.int(total as i64);
        return Ok(());
    }
    // Walk back, collecting the common string and the matching ranges.
    let mut common = vec![0u8; total];
    let mut idx = total;
    let (mut i, mut j) = (a.len(), b.len());
    let mut matches: Vec<LcsMatch> = Vec::new();
    let mut current: Option<((usize, usize), (usize, usize))> = None;
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            idx -= 1;
            common[idx] = a[i - 1];
            current = match current {
                Some(((as_, ae), (bs, be))) if as_ == i && bs == j => {
                    Some(((i - 1, ae), (j - 1, be)))
                }
                Some(m) => {
                    let len = m.0 .1 - m.0 .0 + 1;
                    if len as i64 >= min_len {
                        matches.push((m.0, m.1, len));
                    }
                    Some(((i - 1, i - 1), (j - 1, j - 1)))
                }
                None => Some(((i - 1, i - 1), (j - 1, j - 1))),
            };
            i -= 1;
            j -= 1;
        } else if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    if let Some(m) = current {
        let len = m.0 .1 - m.0 .0 + 1;
        if len as i64 >= min_len {
            matches.push((m.0, m.1, len));
        }
    }
    if !want_idx {
        ctx.out.bulk(&common);
        return Ok(());
    }
    ctx.out.map(2);
    ctx.out.bulk(b"matches");
    ctx.out.array(matches.len());
    for (ra, rb, len) in &matches {
        ctx.out.array(if with_len { 3 } else { 2 });
        ctx.out.array(2);
        ctx.out.int(ra.0 as i64);
        ctx.out.int(ra.1 as i64);
        ctx.out.array(2);
        ctx.out.int(rb.0 as i64);
        ctx.out.int(rb.1 as i64);
        if with_len {
            ctx.out.int(*len as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-3, -1, 5), Some((2, 4)));
        assert_eq!(clamp_range(3, 1, 5), None);
        assert_eq!(clamp_range(0, 100, 5), Some((0, 4)));
        assert_eq!(clamp_range(0, 0, 0), None);
    }

    #[test]
    fn expire_times() {
        assert_eq!(expire_time(1000, 5, false, false, "set").unwrap(), 6000);
        assert_eq!(expire_time(1000, 5, true, true, "set").unwrap(), 5);
        assert!(expire_time(1000, 0, false, false, "set").is_err());
        assert!(expire_time(1000, i64::MAX, false, false, "set").is_err());
    }
}
