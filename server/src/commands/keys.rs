//! Generic key commands: existence, deletion, renaming, expiry, iteration, serialization.

use rand::Rng;

use super::args::{int, is, ArgParser};
use super::flags::*;
use super::strings::expire_time;
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::glob::glob_match;
use crate::keyspace::{Expiry, KeyRef};
use crate::notify;

const ACL_KEY_READ: &[&str] = &["@keyspace", "@read", "@fast"];
const ACL_KEY_WRITE: &[&str] = &["@keyspace", "@write", "@fast"];
const ACL_KEY_SLOW: &[&str] = &["@keyspace", "@write", "@slow"];

/// OBJECT subcommands.
static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "object|encoding",
        3,
        READONLY,
        KeySpec::at(2, 2, 1),
        object_encoding,
    )
    .doc(
        "generic",
        "2.2.3",
        "Returns the internal encoding of a Redis object.",
    )
    .acl(&["@keyspace", "@read", "@slow"]),
    CommandSpec::new(
        "object|idletime",
        3,
        READONLY,
        KeySpec::at(2, 2, 1),
        object_idletime,
    )
    .doc(
        "generic",
        "2.2.3",
        "Returns the time since the last access to a Redis object.",
    )
    .acl(&["@keyspace", "@read", "@slow"]),
    CommandSpec::new(
        "object|freq",
        3,
        READONLY,
        KeySpec::at(2, 2, 1),
        object_freq,
    )
    .doc(
        "generic",
        "4.0.0",
        "Returns the logarithmic access frequency counter of a Redis object.",
    )
    .acl(&["@keyspace", "@read", "@slow"]),
    CommandSpec::new(
        "object|refcount",
        3,
        READONLY,
        KeySpec::at(2, 2, 1),
        object_refcount,
    )
    .doc(
        "generic",
        "2.2.3",
        "Returns the reference count of a value of a key.",
    )
    .acl(&["@keyspace", "@read", "@slow"]),
    CommandSpec::new(
        "object|help",
        2,
        LOADING | STALE,
        KeySpec::NONE,
        object_help,
    )
    .doc(
        "generic",
        "6.2.0",
        "Returns helpful text about the different subcommands.",
    )
    .acl(&["@keyspace", "@slow"]),
];

/// The generic key commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, KeySpec::ALL, del)
        .doc("generic", "1.0.0", "Deletes one or more keys.")
        .acl(ACL_KEY_SLOW),
    CommandSpec::new("unlink", -2, WRITE | FAST, KeySpec::ALL, del)
        .doc("generic", "4.0.0", "Asynchronously deletes one or more keys.")
        .acl(ACL_KEY_WRITE),
    CommandSpec::new("exists", -2, READONLY | FAST, KeySpec::ALL, exists)
        .doc("generic", "1.0.0", "Determines whether one or more keys exist.")
        .acl(ACL_KEY_READ),
    CommandSpec::new("touch", -2, READONLY | FAST, KeySpec::ALL, exists)
        .doc("generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.")
        .acl(ACL_KEY_READ),
    CommandSpec::new("type", 2, READONLY | FAST, KeySpec::ONE, type_)
        .doc("generic", "1.0.0", "Determines the type of value stored at a key.")
        .acl(ACL_KEY_READ),
    CommandSpec::new("rename", 3, WRITE, KeySpec::TWO, rename)
        .doc("generic", "1.0.0", "Renames a key and overwrites the destination.")
        .acl(ACL_KEY_SLOW),
    CommandSpec::new("renamenx", 3, WRITE | FAST, KeySpec::TWO, renamenx)
        .doc("generic", "1.0.0", "Renames a key only when the target key name doesn't exist.")
        .acl(ACL_KEY_WRITE),
    CommandSpec::new("copy", -3, WRITE | DENYOOM, KeySpec::TWO, copy)
        .doc("generic", "6.2.0", "Copies the value of a key to a new key.")
        .acl(ACL_KEY_SLOW),
    CommandSpec::new("keys", 2, READONLY | KEYSPACE_WIDE, KeySpec::NONE, keys)
        .doc("generic", "1.0.0", "Returns all key names that match a pattern.")
        .acl(&["@keyspace", "@read", "@slow", "@dangerous"]),
    CommandSpec::new("scan", -2, READONLY | KEYSPACE_WIDE, KeySpec::NONE, scan)
        .doc("generic", "2.8.0", "Iterates over the key names in the database.")
        .acl(&["@keyspace", "@read", "@slow"]),
    CommandSpec::new("randomkey", 1, READONLY | KEYSPACE_WIDE, KeySpec::NONE, randomkey)
        .doc("generic", "1.0.0", "Returns a random key name from the database.")
        .acl(&["@keyspace", "@read", "@slow"]),
    CommandSpec::new("dbsize", 1, READONLY | FAST | KEYSPACE_WIDE, KeySpec::NONE, dbsize)
        .doc("server", "1.0.0", "Returns the number of keys in the database.")
        .acl(ACL_KEY_READ),
    CommandSpec::new("flushdb", -1, WRITE | KEYSPACE_WIDE, KeySpec::NONE, flushall)
        .doc("server", "1.0.0", "Remove all keys from the current database.")
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"]),
    CommandSpec::new("flushall", -1, WRITE | KEYSPACE_WIDE, KeySpec::NONE, flushall)
        .doc("server", "1.0.0", "Removes all keys from all databases.")
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"]),
    CommandSpec::new("expire", -3, WRITE | FAST, KeySpec::ONE, expire)
        .doc("generic", "1.0.0", "Sets the expiration time of a key in seconds.")
        .acl(ACL_KEY_WRITE),
    CommandSpec::new("pexpire", -3, WRITE | FAST, KeySpec::ONE, pexpire)
        .doc("generic", "2.6.0", "Sets the expiration time of a key in milliseconds.")
        .acl(ACL_KEY_WRITE),
    CommandSpec::new("expireat", -3, WRITE | FAST, KeySpec::ONE, expireat)
        .doc("generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.")
        .acl(ACL_KEY_WRITE),
    CommandSpec::new("pexpireat", -3, WRITE | FAST, KeySpec::ONE, pexpireat)
        .doc("generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.")
        .acl(ACL_KEY_WRITE),
    CommandSpec::new("ttl", 2, READONLY | FAST, KeySpec::ONE, ttl)
        .doc("generic", "1.0.0", "Returns the expiration time in seconds of a key.")
        .acl(ACL_KEY_READ),
    CommandSpec::new("pttl", 2, READONLY | FAST, KeySpec::ONE, pttl)
        .doc("generic", "2.6.0", "Returns the expiration time in milliseconds of a key.")
        .acl(ACL_KEY_READ),
    CommandSpec::new("expiretime", 2, READONLY | FAST, KeySpec::ONE, expiretime)
        .doc("generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.")
        .acl(ACL_KEY_READ),
    CommandSpec::new("pexpiretime", 2, READONLY | FAST, KeySpec::ONE, pexpiretime)
        .doc("generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.")
        .acl(ACL_KEY_READ),
    CommandSpec::new("persist", 2, WRITE | FAST, KeySpec::ONE, persist)
        .doc("generic", "2.2.0", "Removes the expiration time of a key.")
        .acl(ACL_KEY_WRITE),
    CommandSpec::container("object", -2, OBJECT_SUBCOMMANDS)
        .doc("generic", "2.2.3", "A container for object introspection commands."),
    CommandSpec::new("dump", 2, READONLY, KeySpec::ONE, dump)
        .doc("generic", "2.6.0", "Returns a serialized representation of the value stored at a key.")
        .acl(&["@keyspace", "@read", "@slow"]),
    CommandSpec::new("restore", -4, WRITE | DENYOOM, KeySpec::ONE, restore)
        .doc("generic", "2.6.0", "Creates a key from the serialized representation of a value.")
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"]),
];

fn del(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let refs: Vec<KeyRef> = args[1..].iter().map(|k| ctx.key(k)).collect();
    let mut locks = ctx.server.keyspace.lock_slots(refs.iter().map(|k| k.slot));
    let removed: Vec<&KeyRef> = refs
        .iter()
        .filter(|k| locks.table(k.slot).remove(k, ctx.now_ms).is_some())
        .collect();
    drop(locks);
    for k in &removed {
        ctx.notify(notify::GENERIC, "del", k.key);
    }
    let removed = removed.len();
    ctx.out.int(removed as i64);
    Ok(())
}

fn exists(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let refs: Vec<KeyRef> = args[1..].iter().map(|k| ctx.key(k)).collect();
    let mut locks = ctx.server.keyspace.lock_slots(refs.iter().map(|k| k.slot));
    let found = refs
        .iter()
        .filter(|k| locks.table(k.slot).get(k, ctx.now_ms).is_some())
        .count();
    drop(locks);
    ctx.out.int(found as i64);
    Ok(())
}

fn type_(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let name = ctx
        .server
        .keyspace
        .lock(k.slot)
        .peek(&k, ctx.now_ms)
        .map(|e| e.value().type_name())
        .unwrap_or("none");
    ctx.out.simple(name);
    Ok(())
}

/// Moves `src` to `dst`, keeping the TTL; `only_if_new` is RENAMENX.
fn rename_impl(ctx: &mut Ctx<'_>, args: &[&[u8]], only_if_new: bool) -> Result<bool, CommandError> {
    let (src, dst) = (ctx.key(args[1]), ctx.key(args[2]));
    let mut locks = ctx.server.keyspace.lock_slots([src.slot, dst.slot]);
    if !locks.table(src.slot).contains(&src, ctx.now_ms) {
        return Err(CommandError::NoSuchKey);
    }
    if src.key == dst.key {
        return Ok(!only_if_new);
    }
    if only_if_new && locks.table(dst.slot).contains(&dst, ctx.now_ms) {
        return Ok(false);
    }
    let entry = locks
        .table(src.slot)
        .remove(&src, ctx.now_ms)
        .ok_or(CommandError::NoSuchKey)?;
    let expiry = entry.expire_at().map_or(Expiry::None, Expiry::At);
    locks
        .table(dst.slot)
        .set(&dst, entry.into_value(), expiry, ctx.now_ms);
    drop(locks);
    ctx.notify(notify::GENERIC, "rename_from", src.key);
    ctx.notify(notify::GENERIC, "rename_to", dst.key);
    ctx.signal_ready(dst.key);
    Ok(true)
}

fn rename(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    rename_impl(ctx, args, false)?;
    ctx.out.ok();
    Ok(())
}

fn renamenx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let done = rename_impl(ctx, args, true)?;
    ctx.out.int(done as i64);
    Ok(())
}

fn copy(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut replace = false;
    let mut p = ArgParser::new(args, 3);
    while let Some(opt) = p.next() {
        if is(opt, "REPLACE") {
            replace = true;
        } else if is(opt, "DB") {
            if p.int()? != 0 {
                return Err(CommandError::err("DB index is out of range"));
            }
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let (src, dst) = (ctx.key(args[1]), ctx.key(args[2]));
    if src.key == dst.key {
        return Err(CommandError::err(
            "source and destination objects are the same",
        ));
    }
    let mut locks = ctx.server.keyspace.lock_slots([src.slot, dst.slot]);
    let Some(e) = locks.table(src.slot).get(&src, ctx.now_ms) else {
        drop(locks);
        ctx.out.int(0);
        return Ok(());
    };
    let (value, expiry) = (
        e.value().to_owned_value(),
        e.expire_at().map_or(Expiry::None, Expiry::At),
    );
    if !replace && locks.table(dst.slot).contains(&dst, ctx.now_ms) {
        drop(locks);
        ctx.out.int(0);
        return Ok(());
    }
    locks.table(dst.slot).set(&dst, value, expiry, ctx.now_ms);
    drop(locks);
    ctx.notify(notify::GENERIC, "copy_to", dst.key);
    ctx.out.int(1);
    Ok(())
}

/// If every key matching `pattern` must share one slot (a literal hash tag), that slot.
fn pattern_slot(pattern: &[u8]) -> Option<u16> {
    let open = pattern.iter().position(|&b| b == b'{')?;
    let close = open + 1 + pattern[open + 1..].iter().position(|&b| b == b'}')?;
    let prefix_and_tag = &pattern[..close];
    if close == open + 1
        || prefix_and_tag
            .iter()
            .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
    {
        return None;
    }
    Some(cluster::key_hash_slot(&pattern[open..=close]))
}

fn keys(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let pattern = args[1];
    let all = pattern == b"*";
    let mut found: Vec<Vec<u8>> = Vec::new();
    let slots: Box<dyn Iterator<Item = u16>> = match pattern_slot(pattern) {
        Some(slot) => Box::new(std::iter::once(slot)),
        None => Box::new(0..cluster::SLOT_COUNT as u16),
    };
    for slot in slots {
        let t = ctx.server.keyspace.lock(slot);
        for e in t.iter() {
            if !e.is_expired(ctx.now_ms) && (all || glob_match(pattern, e.key(), false)) {
                found.push(e.key().to_vec());
            }
        }
    }
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// SCAN's cursor is the next slot to visit; whole slots are returned at once, so a key
/// present for the whole iteration is always returned, however the tables grow.
fn scan(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let cursor: u64 = std::str::from_utf8(args[1])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CommandError::err("invalid cursor"))?;
    let (mut pattern, mut count, mut kind): (Option<&[u8]>, usize, Option<&[u8]>) =
        (None, 10, None);
    let mut p = ArgParser::new(args, 2);
    while let Some(opt) = p.next() {
        if is(opt, "MATCH") {
            pattern = Some(p.value()?);
        } else if is(opt, "COUNT") {
            let c = p.int()?;
            if c < 1 {
                return Err(CommandError::Syntax);
            }
            count = c as usize;
        } else if is(opt, "TYPE") {
            kind = Some(p.value()?);
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let mut slot = cursor.min(cluster::SLOT_COUNT as u64) as usize;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut scanned = 0usize;
    while slot < cluster::SLOT_COUNT && scanned < count {
        let t = ctx.server.keyspace.lock(slot as u16);
        for e in t.iter() {
            scanned += 1;
            if e.is_expired(ctx.now_ms) {
                continue;
            }
            if let Some(pat) = pattern {
                if !glob_match(pat, e.key(), false) {
                    continue;
                }
            }
            if let Some(kind) = kind {
                if !kind.eq_ignore_ascii_case(e.value().type_name().as_bytes()) {
                    continue;
                }
            }
            found.push(e.key().to_vec());
        }
        slot += 1;
    }
    let next = if slot >= cluster::SLOT_COUNT { 0 } else { slot };
    ctx.out.array(2);
    ctx.out.bulk_int(next as i64);
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let mut rng = rand::thread_rng();
    let start = rng.gen_range(0..cluster::SLOT_COUNT);
    for i in 0..cluster::SLOT_COUNT {
        let slot = ((start + i) % cluster::SLOT_COUNT) as u16;
        let t = ctx.server.keyspace.lock(slot);
        let live: Vec<&[u8]> = t
            .iter()
            .filter(|e| !e.is_expired(ctx.now_ms))
            .map(|e| e.key())
            .collect();
        if !live.is_empty() {
            let k = live[rng.gen_range(0..live.len())].to_vec();
            drop(t);
            ctx.out.bulk(&k);
            return Ok(());
        }
    }
    ctx.out.null();
    Ok(())
}

fn dbsize(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.keyspace.len() as i64);
    Ok(())
}

fn flushall(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    match args.get(1) {
        None => {}
        Some(a) if is(a, "ASYNC") || is(a, "SYNC") => {}
        Some(_) => return Err(CommandError::Syntax),
    }
    if args.len() > 2 {
        return Err(CommandError::Syntax);
    }
    ctx.server.keyspace.flush();
    ctx.out.ok();
    Ok(())
}

/// The shared body of EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT.
fn expire_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], millis: bool, absolute: bool) -> CmdResult {
    let amount = int(args[2])?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        if is(opt, "NX") {
            nx = true;
        } else if is(opt, "XX") {
            xx = true;
        } else if is(opt, "GT") {
            gt = true;
        } else if is(opt, "LT") {
            lt = true;
        } else {
            return Err(CommandError::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CommandError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let name = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
    let invalid = || CommandError::InvalidExpire(name.clone());
    let ms = if millis {
        amount
    } else {
        amount.checked_mul(1000).ok_or_else(invalid)?
    };
    let at: i64 = if absolute {
        ms
    } else {
        ms.checked_add(ctx.now_ms as i64).ok_or_else(invalid)?
    };
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let Some(e) = t.get(&k, ctx.now_ms) else {
        drop(t);
        ctx.out.int(0);
        return Ok(());
    };
    let current = e.expire_at();
    let allowed = if nx {
        current.is_none()
    } else {
        (!xx || current.is_some())
            && (!gt || current.is_some_and(|c| at > c as i64))
            && (!lt || current.is_none_or(|c| at < c as i64))
    };
    if !allowed {
        drop(t);
        ctx.out.int(0);
        return Ok(());
    }
    let deleted = at <= ctx.now_ms as i64;
    if deleted {
        t.remove(&k, ctx.now_ms);
    } else {
        t.set_expire(&k, Some(at as u64), ctx.now_ms);
    }
    drop(t);
    // Propagated as an absolute time (or the deletion it caused).
    let at_text = at.to_string();
    ctx.propagate_as(Vec::new());
    if deleted {
        ctx.propagate_also(&[b"DEL", args[1]]);
    } else {
        ctx.propagate_also(&[b"PEXPIREAT", args[1], at_text.as_bytes()]);
    }
    ctx.notify(
        notify::GENERIC,
        if deleted { "del" } else { "expire" },
        args[1],
    );
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, false, false)
}

fn pexpire(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, true, false)
}

fn expireat(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, false, true)
}

fn pexpireat(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, true, true)
}

/// The expiry of a key: `Err(-2)` missing, `Err(-1)` no expiry, `Ok(at_ms)` otherwise.
fn expiry_of(ctx: &Ctx<'_>, key: &[u8]) -> Result<u64, i64> {
    let k = ctx.key(key);
    let mut t = ctx.server.keyspace.lock(k.slot);
    match t.peek(&k, ctx.now_ms) {
        None => Err(-2),
        Some(e) => e.expire_at().ok_or(-1),
    }
}

fn ttl(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let v = match expiry_of(ctx, args[1]) {
        Ok(at) => ((at.saturating_sub(ctx.now_ms) + 500) / 1000) as i64,
        Err(code) => code,
    };
    ctx.out.int(v);
    Ok(())
}

fn pttl(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let v = match expiry_of(ctx, args[1]) {
        Ok(at) => at.saturating_sub(ctx.now_ms) as i64,
        Err(code) => code,
    };
    ctx.out.int(v);
    Ok(())
}

fn expiretime(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let v = match expiry_of(ctx, args[1]) {
        Ok(at) => (at / 1000) as i64,
        Err(code) => code,
    };
    ctx.out.int(v);
    Ok(())
}

fn pexpiretime(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let v = match expiry_of(ctx, args[1]) {
        Ok(at) => at as i64,
        Err(code) => code,
    };
    ctx.out.int(v);
    Ok(())
}

fn persist(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let had = t
        .peek(&k, ctx.now_ms)
        .is_some_and(|e| e.expire_at().is_some());
    if had {
        t.set_expire(&k, None, ctx.now_ms);
    }
    drop(t);
    if had {
        ctx.notify(notify::GENERIC, "persist", args[1]);
    }
    ctx.out.int(had as i64);
    Ok(())
}

/// Runs `f` on the entry of `args[2]` without touching it; replies nil when missing.
fn with_object(
    ctx: &mut Ctx<'_>,
    args: &[&[u8]],
    f: impl FnOnce(&mut Ctx<'_>, &crate::keyspace::Entry) -> CmdResult,
) -> CmdResult {
    let k = ctx.key(args[2]);
    let server = ctx.server;
    let mut t = server.keyspace.lock(k.slot);
    match t.peek(&k, ctx.now_ms) {
        None => {
            drop(t);
            ctx.out.null();
            Ok(())
        }
        Some(e) => f(ctx, e),
    }
}

/// Whether entries carry LFU counters instead of access times.
fn is_lfu(ctx: &Ctx<'_>) -> bool {
    crate::keyspace::access::keeps_lfu_counters(&ctx.settings.maxmemory_policy)
}

fn object_encoding(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    with_object(ctx, args, |ctx, e| {
        let enc = e.value().encoding(&ctx.settings.encoding);
        ctx.out.bulk(enc.as_bytes());
        Ok(())
    })
}

fn object_idletime(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if is_lfu(ctx) {
        return Err(CommandError::err("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    with_object(ctx, args, |ctx, e| {
        let idle = e.idle_secs(ctx.now_ms);
        ctx.out.int(idle as i64);
        Ok(())
    })
}

fn object_freq(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let sketch = crate::keyspace::sketch::active();
    if !is_lfu(ctx) && sketch.is_none() {
        return Err(CommandError::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    with_object(ctx, args, |ctx, e| {
        // allkeys-tinylfu: what its sketch estimates for the key.
        let freq = match sketch {
            Some(s) => s.estimate(crate::keyspace::hash_key(e.key())),
            None => e.lfu_counter(ctx.now_ms),
        };
        ctx.out.int(freq as i64);
        Ok(())
    })
}

fn object_refcount(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    with_object(ctx, args, |ctx, _e| {
        ctx.out.int(1);
        Ok(())
    })
}

fn object_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Print this help.",
    ];
    super::args::reply_help(ctx, &lines)
}

fn dump(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let payload = ctx
        .server
        .keyspace
        .lock(k.slot)
        .get(&k, ctx.now_ms)
        .map(|e| crate::dump::dump(e.value()));
    match payload {
        Some(p) => ctx.out.bulk(&p),
        None => ctx.out.null(),
    }
    Ok(())
}

fn restore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    restore_command(ctx, args)
}

/// RESTORE (and RESTORE-ASKING, which differs only in routing).
pub(crate) fn restore_command(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let ttl = int(args[2])?;
    let (mut replace, mut absttl) = (false, false);
    let mut p = ArgParser::new(args, 4);
    while let Some(opt) = p.next() {
        if is(opt, "REPLACE") {
            replace = true;
        } else if is(opt, "ABSTTL") {
            absttl = true;
        } else if is(opt, "IDLETIME") {
            if p.int()? < 0 {
                return Err(CommandError::err("Invalid IDLETIME value, must be >= 0"));
            }
        } else if is(opt, "FREQ") {
            let f = p.int()?;
            if !(0..=255).contains(&f) {
                return Err(CommandError::err(
                    "Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if ttl < 0 {
        return Err(CommandError::err("Invalid TTL value, must be >= 0"));
    }
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    if !replace && t.contains(&k, ctx.now_ms) {
        return Err(CommandError::BusyKey);
    }
    let value = crate::dump::restore(args[3], &ctx.settings.encoding)
        .ok_or_else(|| CommandError::err("DUMP payload version or checksum are wrong"))?;
    let expiry = match (ttl, absttl) {
        (0, _) => Expiry::None,
        (at, true) => Expiry::At(at as u64),
        (rel, false) => Expiry::At(expire_time(ctx.now_ms, rel, true, false, "restore")?),
    };
    match expiry {
        Expiry::At(at) if at <= ctx.now_ms => {
            t.remove(&k, ctx.now_ms);
        }
        _ => {
            t.set(&k, value, expiry, ctx.now_ms);
        }
    }
    drop(t);
    ctx.notify(notify::GENERIC, "restore", args[1]);
    ctx.signal_ready(args[1]);
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pattern_slot;

    #[test]
    fn literal_tags_pin_one_slot() {
        assert_eq!(
            pattern_slot(b"{post:1}:likes:*"),
            Some(cluster::key_hash_slot(b"{post:1}"))
        );
        assert_eq!(pattern_slot(b"{post:*}:likes:count"), None);
        assert_eq!(pattern_slot(b"*{a}"), None);
        assert_eq!(pattern_slot(b"{}x"), None);
    }
}
