//! Set commands.

use rand::seq::SliceRandom;

use super::args::{int, is, pop_count, ArgParser};
use super::flags::*;
use super::hashes::scan_options;
use super::typed::{create_set, drop_if_empty, numkeys_positions, read_set, write_set};
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::glob::glob_match;
use crate::keyspace::{Expiry, Value};
use crate::notify;
use crate::types::SetValue;

const R: &[&str] = &["@read", "@set", "@fast"];
const RS: &[&str] = &["@read", "@set", "@slow"];
const W: &[&str] = &["@write", "@set", "@fast"];
const WS: &[&str] = &["@write", "@set", "@slow"];

/// The set commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, WRITE | DENYOOM | FAST, KeySpec::ONE, sadd)
        .doc("set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.").acl(W),
    CommandSpec::new("srem", -3, WRITE | FAST, KeySpec::ONE, srem)
        .doc("set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.").acl(W),
    CommandSpec::new("sismember", 3, READONLY | FAST, KeySpec::ONE, sismember)
        .doc("set", "1.0.0", "Determines whether a member belongs to a set.").acl(R),
    CommandSpec::new("smismember", -3, READONLY | FAST, KeySpec::ONE, smismember)
        .doc("set", "6.2.0", "Determines whether multiple members belong to a set.").acl(R),
    CommandSpec::new("smembers", 2, READONLY, KeySpec::ONE, smembers)
        .doc("set", "1.0.0", "Returns all members of a set.").acl(RS),
    CommandSpec::new("scard", 2, READONLY | FAST, KeySpec::ONE, scard)
        .doc("set", "1.0.0", "Returns the number of members in a set.").acl(R),
    CommandSpec::new("spop", -2, WRITE | FAST, KeySpec::ONE, spop)
        .doc("set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.").acl(W),
    CommandSpec::new("srandmember", -2, READONLY, KeySpec::ONE, srandmember)
        .doc("set", "1.0.0", "Get one or multiple random members from a set").acl(RS),
    CommandSpec::new("smove", 4, WRITE | FAST, KeySpec::TWO, smove)
        .doc("set", "1.0.0", "Moves a member from one set to another.").acl(W),
    CommandSpec::new("sinter", -2, READONLY, KeySpec::ALL, sinter)
        .doc("set", "1.0.0", "Returns the intersect of multiple sets.").acl(RS),
    CommandSpec::new("sintercard", -3, READONLY, KeySpec::NONE, sintercard)
        .movable(sintercard_keys)
        .doc("set", "7.0.0", "Returns the number of members of the intersect of multiple sets.").acl(RS),
    CommandSpec::new("sinterstore", -3, WRITE | DENYOOM, KeySpec::ALL, sinterstore)
        .doc("set", "1.0.0", "Stores the intersect of multiple sets in a key.").acl(WS),
    CommandSpec::new("sunion", -2, READONLY, KeySpec::ALL, sunion)
        .doc("set", "1.0.0", "Returns the union of multiple sets.").acl(RS),
    CommandSpec::new("sunionstore", -3, WRITE | DENYOOM, KeySpec::ALL, sunionstore)
        .doc("set", "1.0.0", "Stores the union of multiple sets in a key.").acl(WS),
    CommandSpec::new("sdiff", -2, READONLY, KeySpec::ALL, sdiff)
        .doc("set", "1.0.0", "Returns the difference of multiple sets.").acl(RS),
    CommandSpec::new("sdiffstore", -3, WRITE | DENYOOM, KeySpec::ALL, sdiffstore)
        .doc("set", "1.0.0", "Stores the difference of multiple sets in a key.").acl(WS),
    CommandSpec::new("sscan", -3, READONLY, KeySpec::ONE, sscan)
        .doc("set", "2.8.0", "Iterates over members of a set.").acl(RS),
];

fn sintercard_keys(args: &[&[u8]]) -> Option<Vec<usize>> {
    numkeys_positions(args, 1)
}

fn sadd(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let limits = ctx.settings.encoding;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    if t.peek(&k, ctx.now_ms).is_none() {
        t.set(
            &k,
            Value::Set(Box::new(SetValue::for_member(args[2]))),
            Expiry::None,
            ctx.now_ms,
        );
    }
    let s = create_set(&mut t, &k, ctx.now_ms)?;
    let added: i64 = args[2..].iter().map(|m| s.insert(m, &limits) as i64).sum();
    drop(t);
    if added > 0 {
        ctx.notify(notify::SET, "sadd", args[1]);
    }
    ctx.out.int(added);
    Ok(())
}

fn srem(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let mut removed = 0;
    if let Some(s) = write_set(&mut t, &k, ctx.now_ms)? {
        removed = args[2..].iter().map(|m| s.remove(m) as i64).sum();
        drop_if_empty(&mut t, &k, ctx.now_ms);
    }
    drop(t);
    if removed > 0 {
        ctx.notify(notify::SET, "srem", args[1]);
    }
    ctx.out.int(removed);
    Ok(())
}

fn sismember(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let found = read_set(&mut t, &k, ctx.now_ms)?.is_some_and(|s| s.contains(args[2]));
    drop(t);
    ctx.out.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let s = read_set(&mut t, &k, ctx.now_ms)?;
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        ctx.out.int(s.is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

fn reply_members(ctx: &mut Ctx<'_>, members: &[Vec<u8>]) {
    ctx.out.set(members.len());
    for m in members {
        ctx.out.bulk(m);
    }
}

fn smembers(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let members = read_set(&mut t, &k, ctx.now_ms)?
        .map(|s| s.members())
        .unwrap_or_default();
    drop(t);
    reply_members(ctx, &members);
    Ok(())
}

fn scard(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let n = read_set(&mut t, &k, ctx.now_ms)?.map_or(0, |s| s.len());
    drop(t);
    ctx.out.int(n as i64);
    Ok(())
}

fn spop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = args.get(2).map(|c| pop_count(c)).transpose()?;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let mut popped = Vec::new();
    if let Some(s) = write_set(&mut t, &k, ctx.now_ms)? {
        let mut members = s.members();
        members.shuffle(&mut rand::thread_rng());
        members.truncate(count.unwrap_or(1));
        for m in &members {
            s.remove(m);
        }
        popped = members;
        drop_if_empty(&mut t, &k, ctx.now_ms);
    }
    drop(t);
    // Replicas must remove the same members: propagate SREM, not the random SPOP.
    let mut srem: Vec<&[u8]> = vec![b"SREM", args[1]];
    srem.extend(popped.iter().map(|m| m.as_slice()));
    ctx.propagate_as(Vec::new());
    if !popped.is_empty() {
        ctx.propagate_also(&srem);
        ctx.notify(notify::SET, "spop", args[1]);
    }
    match count {
        None => match popped.first() {
            Some(m) => ctx.out.bulk(m),
            None => ctx.out.null(),
        },
        Some(_) => reply_members(ctx, &popped),
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = match args.get(2) {
        Some(c) => Some(int(c)?),
        None => None,
    };
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let members = read_set(&mut t, &k, ctx.now_ms)?
        .map(|s| s.members())
        .unwrap_or_default();
    drop(t);
    let mut rng = rand::thread_rng();
    match count {
        None => match members.choose(&mut rng) {
            Some(m) => ctx.out.bulk(m),
            None => ctx.out.null(),
        },
        Some(n) => {
            let picked = super::args::random_picks(&members, n);
            ctx.out.array(picked.len());
            for m in &picked {
                ctx.out.bulk(m);
            }
        }
    }
    Ok(())
}

fn smove(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let limits = ctx.settings.encoding;
    let (ks, kd) = (ctx.key(args[1]), ctx.key(args[2]));
    let mut locks = ctx.server.keyspace.lock_slots([ks.slot, kd.slot]);
    let src_has = match read_set(locks.table(ks.slot), &ks, ctx.now_ms)? {
        None => false,
        Some(s) => s.contains(args[3]),
    };
    read_set(locks.table(kd.slot), &kd, ctx.now_ms)?;
    if !src_has {
        drop(locks);
        ctx.out.int(0);
        return Ok(());
    }
    if ks.key != kd.key {
        if let Some(s) = write_set(locks.table(ks.slot), &ks, ctx.now_ms)? {
            s.remove(args[3]);
        }
        drop_if_empty(locks.table(ks.slot), &ks, ctx.now_ms);
        create_set(locks.table(kd.slot), &kd, ctx.now_ms)?.insert(args[3], &limits);
    }
    drop(locks);
    ctx.notify(notify::SET, "srem", args[1]);
    ctx.notify(notify::SET, "sadd", args[2]);
    ctx.out.int(1);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Computes an intersection, union or difference of the sets at `keys`.
fn combine(ctx: &Ctx<'_>, keys: &[&[u8]], op: Op) -> Result<Vec<Vec<u8>>, CommandError> {
    let refs: Vec<_> = keys.iter().map(|k| ctx.key(k)).collect();
    let mut locks = ctx.server.keyspace.lock_slots(refs.iter().map(|k| k.slot));
    let mut sets: Vec<Option<SetValue>> = Vec::with_capacity(refs.len());
    for k in &refs {
        sets.push(read_set(locks.table(k.slot), k, ctx.now_ms)?.cloned());
    }
    drop(locks);
    let mut result: Vec<Vec<u8>> = match (op, sets.first()) {
        (_, None) => return Ok(Vec::new()),
        (_, Some(None)) if op != Op::Union => return Ok(Vec::new()),
        (_, Some(first)) => first.as_ref().map(|s| s.members()).unwrap_or_default(),
    };
    for s in &sets[1..] {
        match op {
            Op::Inter => match s {
                None => return Ok(Vec::new()),
                Some(s) => result.retain(|m| s.contains(m)),
            },
            Op::Diff => {
                if let Some(s) = s {
                    result.retain(|m| !s.contains(m));
                }
            }
            Op::Union => {
                if let Some(s) = s {
                    for m in s.members() {
                        result.push(m);
                    }
                }
            }
        }
    }
    if op == Op::Union {
        result.sort();
        result.dedup();
    }
    Ok(result)
}

fn store(ctx: &mut Ctx<'_>, dest: &[u8], members: Vec<Vec<u8>>, event: &str) -> CmdResult {
    let limits = ctx.settings.encoding;
    let k = ctx.key(dest);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let n = members.len();
    if members.is_empty() {
        t.remove(&k, ctx.now_ms);
    } else {
        let set = SetValue::from_members(members.iter().map(|m| m.as_slice()), &limits);
        t.set(&k, Value::Set(Box::new(set)), Expiry::None, ctx.now_ms);
    }
    drop(t);
    ctx.notify(notify::SET, event, dest);
    ctx.out.int(n as i64);
    Ok(())
}

fn sinter(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let r = combine(ctx, &args[1..], Op::Inter)?;
    reply_members(ctx, &r);
    Ok(())
}

fn sunion(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let r = combine(ctx, &args[1..], Op::Union)?;
    reply_members(ctx, &r);
    Ok(())
}

fn sdiff(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let r = combine(ctx, &args[1..], Op::Diff)?;
    reply_members(ctx, &r);
    Ok(())
}

fn sinterstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let r = combine(ctx, &args[2..], Op::Inter)?;
    store(ctx, args[1], r, "sinterstore")
}

fn sunionstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let r = combine(ctx, &args[2..], Op::Union)?;
    store(ctx, args[1], r, "sunionstore")
}

fn sdiffstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let r = combine(ctx, &args[2..], Op::Diff)?;
    store(ctx, args[1], r, "sdiffstore")
}

fn sintercard(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let n = int(args[1]).map_err(|_| CommandError::err("numkeys should be greater than 0"))?;
    if n <= 0 {
        return Err(CommandError::err("numkeys should be greater than 0"));
    }
    let n = n as usize;
    if args.len() < 2 + n {
        return Err(CommandError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut p = ArgParser::new(args, 2 + n);
    while let Some(opt) = p.next() {
        if is(opt, "LIMIT") {
            let l = p.int()?;
            if l < 0 {
                return Err(CommandError::err("LIMIT can't be negative"));
            }
            limit = l as usize;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let r = combine(ctx, &args[2..2 + n], Op::Inter)?;
    let count = if limit > 0 {
        r.len().min(limit)
    } else {
        r.len()
    };
    ctx.out.int(count as i64);
    Ok(())
}

fn sscan(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let opts = scan_options(args, false)?;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let members: Vec<Vec<u8>> = read_set(&mut t, &k, ctx.now_ms)?
        .map(|s| s.members())
        .unwrap_or_default()
        .into_iter()
        .filter(|m| opts.pattern.is_none_or(|p| glob_match(p, m, false)))
        .collect();
    drop(t);
    ctx.out.array(2);
    ctx.out.bulk(b"0");
    ctx.out.array(members.len());
    for m in &members {
        ctx.out.bulk(m);
    }
    Ok(())
}
