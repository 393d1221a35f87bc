//! List commands, the blocking pops included.

use super::args::{int, is, pop_count, ArgParser};
use super::flags::*;
use super::strings::clamp_range;
use super::typed::{create_list, drop_if_empty, numkeys_positions, read_list, timeout, write_list};
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::notify;

const R: &[&str] = &["@read", "@list", "@fast"];
const RS: &[&str] = &["@read", "@list", "@slow"];
const W: &[&str] = &["@write", "@list", "@fast"];
const WS: &[&str] = &["@write", "@list", "@slow"];
const B: &[&str] = &["@write", "@list", "@slow", "@blocking"];

/// The list commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, WRITE | DENYOOM | FAST, KeySpec::ONE, lpush)
        .doc("list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.").acl(W),
    CommandSpec::new("rpush", -3, WRITE | DENYOOM | FAST, KeySpec::ONE, rpush)
        .doc("list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.").acl(W),
    CommandSpec::new("lpushx", -3, WRITE | DENYOOM | FAST, KeySpec::ONE, lpushx)
        .doc("list", "2.2.0", "Prepends one or more elements to a list only when the list exists.").acl(W),
    CommandSpec::new("rpushx", -3, WRITE | DENYOOM | FAST, KeySpec::ONE, rpushx)
        .doc("list", "2.2.0", "Appends an element to a list only when the list exists.").acl(W),
    CommandSpec::new("lpop", -2, WRITE | FAST, KeySpec::ONE, lpop)
        .doc("list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.").acl(W),
    CommandSpec::new("rpop", -2, WRITE | FAST, KeySpec::ONE, rpop)
        .doc("list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.").acl(W),
    CommandSpec::new("lrange", 4, READONLY, KeySpec::ONE, lrange)
        .doc("list", "1.0.0", "Returns a range of elements from a list.").acl(RS),
    CommandSpec::new("llen", 2, READONLY | FAST, KeySpec::ONE, llen)
        .doc("list", "1.0.0", "Returns the length of a list.").acl(R),
    CommandSpec::new("lindex", 3, READONLY, KeySpec::ONE, lindex)
        .doc("list", "1.0.0", "Returns an element from a list by its index.").acl(RS),
    CommandSpec::new("lset", 4, WRITE | DENYOOM, KeySpec::ONE, lset)
        .doc("list", "1.0.0", "Sets the value of an element in a list by its index.").acl(WS),
    CommandSpec::new("lrem", 4, WRITE, KeySpec::ONE, lrem)
        .doc("list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.").acl(WS),
    CommandSpec::new("ltrim", 4, WRITE, KeySpec::ONE, ltrim)
        .doc("list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.").acl(WS),
    CommandSpec::new("linsert", 5, WRITE | DENYOOM, KeySpec::ONE, linsert)
        .doc("list", "2.2.0", "Inserts an element before or after another element in a list.").acl(WS),
    CommandSpec::new("lpos", -3, READONLY, KeySpec::ONE, lpos)
        .doc("list", "6.0.6", "Returns the index of matching elements in a list.").acl(RS),
    CommandSpec::new("lmove", 5, WRITE | DENYOOM, KeySpec::TWO, lmove)
        .doc("list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.").acl(WS),
    CommandSpec::new("rpoplpush", 3, WRITE | DENYOOM, KeySpec::TWO, rpoplpush)
        .doc("list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.").acl(WS),
    CommandSpec::new("lmpop", -4, WRITE, KeySpec::NONE, lmpop)
        .movable(lmpop_keys)
        .doc("list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.").acl(WS),
    CommandSpec::new("blpop", -3, WRITE | BLOCKING, KeySpec::at(1, -2, 1), blpop)
        .doc("list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.").acl(B),
    CommandSpec::new("brpop", -3, WRITE | BLOCKING, KeySpec::at(1, -2, 1), brpop)
        .doc("list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.").acl(B),
    CommandSpec::new("blmove", 6, WRITE | DENYOOM | BLOCKING, KeySpec::TWO, blmove)
        .doc("list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.").acl(B),
    CommandSpec::new("brpoplpush", 4, WRITE | DENYOOM | BLOCKING, KeySpec::TWO, brpoplpush)
        .doc("list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.").acl(B),
    CommandSpec::new("blmpop", -5, WRITE | BLOCKING, KeySpec::NONE, blmpop)
        .movable(blmpop_keys)
        .doc("list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.").acl(B),
];

fn lmpop_keys(args: &[&[u8]]) -> Option<Vec<usize>> {
    numkeys_positions(args, 1)
}

fn blmpop_keys(args: &[&[u8]]) -> Option<Vec<usize>> {
    numkeys_positions(args, 2)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

fn end(arg: &[u8]) -> Result<End, CommandError> {
    if is(arg, "LEFT") {
        Ok(End::Left)
    } else if is(arg, "RIGHT") {
        Ok(End::Right)
    } else {
        Err(CommandError::Syntax)
    }
}

fn push(ctx: &mut Ctx<'_>, args: &[&[u8]], at: End, only_existing: bool) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let list = if only_existing {
        match write_list(&mut t, &k, ctx.now_ms)? {
            Some(l) => l,
            None => {
                drop(t);
                ctx.out.int(0);
                return Ok(());
            }
        }
    } else {
        create_list(&mut t, &k, ctx.now_ms)?
    };
    for v in &args[2..] {
        match at {
            End::Left => list.items.push_front(v.to_vec()),
            End::Right => list.items.push_back(v.to_vec()),
        }
    }
    let len = list.len();
    drop(t);
    ctx.notify(
        notify::LIST,
        if at == End::Left { "lpush" } else { "rpush" },
        args[1],
    );
    ctx.signal_ready(args[1]);
    ctx.out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    push(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    push(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    push(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    push(ctx, args, End::Right, true)
}

/// Pops up to `count` elements from one end; `None` if the key is missing.
fn pop_n(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    from: End,
    count: usize,
) -> Result<Option<Vec<Vec<u8>>>, CommandError> {
    let k = ctx.key(key);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let Some(list) = write_list(&mut t, &k, ctx.now_ms)? else {
        return Ok(None);
    };
    let n = count.min(list.len());
    let popped: Vec<Vec<u8>> = match from {
        End::Left => list.items.drain(..n).collect(),
        End::Right => {
            let mut v: Vec<Vec<u8>> = list.items.drain(list.len() - n..).collect();
            v.reverse();
            v
        }
    };
    drop_if_empty(&mut t, &k, ctx.now_ms);
    drop(t);
    if !popped.is_empty() {
        ctx.notify(
            notify::LIST,
            if from == End::Left { "lpop" } else { "rpop" },
            key,
        );
    }
    Ok(Some(popped))
}

fn pop(ctx: &mut Ctx<'_>, args: &[&[u8]], from: End) -> CmdResult {
    if args.len() > 3 {
        return Err(CommandError::WrongArity(
            String::from_utf8_lossy(args[0]).to_ascii_lowercase(),
        ));
    }
    let count = args.get(2).map(|c| pop_count(c)).transpose()?;
    let popped = pop_n(ctx, args[1], from, count.unwrap_or(1))?;
    match (popped, count) {
        (None, None) => ctx.out.null(),
        (None, Some(_)) => ctx.out.null_array(),
        (Some(v), None) => match v.first() {
            Some(e) => ctx.out.bulk(e),
            None => ctx.out.null(),
        },
        (Some(v), Some(_)) => {
            ctx.out.array(v.len());
            for e in &v {
                ctx.out.bulk(e);
            }
        }
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    pop(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    pop(ctx, args, End::Right)
}

fn lrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (start, stop) = (int(args[2])?, int(args[3])?);
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let Some(list) = read_list(&mut t, &k, ctx.now_ms)? else {
        drop(t);
        ctx.out.array(0);
        return Ok(());
    };
    match clamp_range(start, stop, list.len()) {
        None => ctx.out.array(0),
        Some((s, e)) => {
            ctx.out.array(e - s + 1);
            for item in list.items.range(s..=e) {
                ctx.out.bulk(item);
            }
        }
    }
    Ok(())
}

fn llen(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let n = read_list(&mut t, &k, ctx.now_ms)?.map_or(0, |l| l.len());
    drop(t);
    ctx.out.int(n as i64);
    Ok(())
}

fn index_of(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let index = int(args[2])?;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    match read_list(&mut t, &k, ctx.now_ms)?
        .and_then(|l| index_of(l.len(), index).map(|i| &l.items[i]))
    {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let index = int(args[2])?;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let list = write_list(&mut t, &k, ctx.now_ms)?.ok_or(CommandError::NoSuchKey)?;
    let i = index_of(list.len(), index).ok_or_else(|| CommandError::err("index out of range"))?;
    list.items[i] = args[3].to_vec();
    drop(t);
    ctx.notify(notify::LIST, "lset", args[1]);
    ctx.out.ok();
    Ok(())
}

fn lrem(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let count = int(args[2])?;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let Some(list) = write_list(&mut t, &k, ctx.now_ms)? else {
        drop(t);
        ctx.out.int(0);
        return Ok(());
    };
    let target = args[3];
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut removed = 0;
    if count >= 0 {
        let mut i = 0;
        while i < list.items.len() && removed < limit {
            if list.items[i] == target {
                list.items.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = list.items.len();
        while i > 0 && removed < limit {
            i -= 1;
            if list.items[i] == target {
                list.items.remove(i);
                removed += 1;
            }
        }
    }
    drop_if_empty(&mut t, &k, ctx.now_ms);
    drop(t);
    if removed > 0 {
        ctx.notify(notify::LIST, "lrem", args[1]);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (start, stop) = (int(args[2])?, int(args[3])?);
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    if let Some(list) = write_list(&mut t, &k, ctx.now_ms)? {
        match clamp_range(start, stop, list.len()) {
            None => list.items.clear(),
            Some((s, e)) => {
                list.items.truncate(e + 1);
                list.items.drain(..s);
            }
        }
        drop_if_empty(&mut t, &k, ctx.now_ms);
        drop(t);
        ctx.notify(notify::LIST, "ltrim", args[1]);
    }
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let after = if is(args[2], "AFTER") {
        true
    } else if is(args[2], "BEFORE") {
        false
    } else {
        return Err(CommandError::Syntax);
    };
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let Some(list) = write_list(&mut t, &k, ctx.now_ms)? else {
        drop(t);
        ctx.out.int(0);
        return Ok(());
    };
    let Some(pos) = list.items.iter().position(|v| v.as_slice() == args[3]) else {
        drop(t);
        ctx.out.int(-1);
        return Ok(());
    };
    list.items.insert(pos + after as usize, args[4].to_vec());
    let len = list.len();
    drop(t);
    ctx.notify(notify::LIST, "linsert", args[1]);
    ctx.out.int(len as i64);
    Ok(())
}

fn lpos(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (mut rank, mut count, mut maxlen): (i64, Option<i64>, i64) = (1, None, 0);
    let mut p = ArgParser::new(args, 3);
    while let Some(opt) = p.next() {
        if is(opt, "RANK") {
            rank = p.int()?;
            if rank == 0 {
                return Err(CommandError::err("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
            if rank == i64::MIN {
                return Err(CommandError::err("value is out of range"));
            }
        } else if is(opt, "COUNT") {
            let c = p.int()?;
            if c < 0 {
                return Err(CommandError::err("COUNT can't be negative"));
            }
            count = Some(c);
        } else if is(opt, "MAXLEN") {
            maxlen = p.int()?;
            if maxlen < 0 {
                return Err(CommandError::err("MAXLEN can't be negative"));
            }
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let mut found: Vec<i64> = Vec::new();
    if let Some(list) = read_list(&mut t, &k, ctx.now_ms)? {
        let want = match count {
            Some(0) => usize::MAX,
            Some(c) => c as usize,
            None => 1,
        };
        let mut skip = rank.unsigned_abs() as usize - 1;
        let len = list.len();
        let scan = if maxlen == 0 {
            len
        } else {
            (maxlen as usize).min(len)
        };
        for step in 0..scan {
            let i = if rank > 0 { step } else { len - 1 - step };
            if list.items[i] == args[2] {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                found.push(i as i64);
                if found.len() >= want {
                    break;
                }
            }
        }
    }
    drop(t);
    match count {
        None => match found.first() {
            Some(i) => ctx.out.int(*i),
            None => ctx.out.null(),
        },
        Some(_) => {
            ctx.out.array(found.len());
            for i in found {
                ctx.out.int(i);
            }
        }
    }
    Ok(())
}

/// Moves one element between lists; `None` if the source is missing or empty.
fn move_one(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<Vec<u8>>, CommandError> {
    let (ks, kd) = (ctx.key(src), ctx.key(dst));
    let mut locks = ctx.server.keyspace.lock_slots([ks.slot, kd.slot]);
    // Check the destination's type before popping anything.
    if let Some(e) = locks.table(kd.slot).peek(&kd, ctx.now_ms) {
        if !matches!(e.value(), crate::keyspace::ValueRef::List(_)) {
            return Err(CommandError::WrongType);
        }
    }
    let Some(list) = write_list(locks.table(ks.slot), &ks, ctx.now_ms)? else {
        return Ok(None);
    };
    let Some(v) = (match from {
        End::Left => list.items.pop_front(),
        End::Right => list.items.pop_back(),
    }) else {
        return Ok(None);
    };
    drop_if_empty(locks.table(ks.slot), &ks, ctx.now_ms);
    let dst_list = create_list(locks.table(kd.slot), &kd, ctx.now_ms)?;
    match to {
        End::Left => dst_list.items.push_front(v.clone()),
        End::Right => dst_list.items.push_back(v.clone()),
    }
    drop(locks);
    ctx.notify(
        notify::LIST,
        if from == End::Left { "lpop" } else { "rpop" },
        src,
    );
    ctx.notify(
        notify::LIST,
        if to == End::Left { "lpush" } else { "rpush" },
        dst,
    );
    ctx.signal_ready(dst);
    Ok(Some(v))
}

fn reply_moved(ctx: &mut Ctx<'_>, v: Option<Vec<u8>>) {
    match v {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
}

fn lmove(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (from, to) = (end(args[3])?, end(args[4])?);
    let v = move_one(ctx, args[1], args[2], from, to)?;
    reply_moved(ctx, v);
    Ok(())
}

fn rpoplpush(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let v = move_one(ctx, args[1], args[2], End::Right, End::Left)?;
    reply_moved(ctx, v);
    Ok(())
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT n]` starting at `at`.
fn mpop_args<'a>(
    args: &[&'a [u8]],
    at: usize,
) -> Result<(Vec<&'a [u8]>, End, usize), CommandError> {
    let n = int(args[at]).map_err(|_| CommandError::err("numkeys should be greater than 0"))?;
    if n <= 0 {
        return Err(CommandError::err("numkeys should be greater than 0"));
    }
    let n = n as usize;
    if args.len() < at + 1 + n + 1 {
        return Err(CommandError::Syntax);
    }
    let keys = args[at + 1..at + 1 + n].to_vec();
    let from = end(args[at + 1 + n])?;
    let mut count = 1;
    let mut p = ArgParser::new(args, at + 2 + n);
    let mut seen_count = false;
    while let Some(opt) = p.next() {
        if is(opt, "COUNT") && !seen_count {
            let c = p.int()?;
            if c <= 0 {
                return Err(CommandError::err("count should be greater than 0"));
            }
            count = c as usize;
            seen_count = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok((keys, from, count))
}

/// Pops from the first non-empty list; replies `[key, [elements]]`; false if all empty.
fn mpop_first(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    from: End,
    count: usize,
) -> Result<bool, CommandError> {
    ctx.propagate_as(Vec::new());
    for key in keys {
        if let Some(v) = pop_n(ctx, key, from, count)? {
            if !v.is_empty() {
                let pop: &[u8] = if from == End::Left { b"LPOP" } else { b"RPOP" };
                let n = v.len().to_string();
                ctx.propagate_also(&[pop, key, n.as_bytes()]);
                ctx.out.array(2);
                ctx.out.bulk(key);
                ctx.out.array(v.len());
                for e in &v {
                    ctx.out.bulk(e);
                }
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn lmpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (keys, from, count) = mpop_args(args, 1)?;
    if !mpop_first(ctx, &keys, from, count)? {
        ctx.out.null_array();
    }
    Ok(())
}

fn bpop(ctx: &mut Ctx<'_>, args: &[&[u8]], from: End) -> CmdResult {
    let wait = timeout(args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    ctx.propagate_as(Vec::new());
    for key in keys {
        if let Some(v) = pop_n(ctx, key, from, 1)? {
            if let Some(e) = v.first() {
                let pop: &[u8] = if from == End::Left { b"LPOP" } else { b"RPOP" };
                ctx.propagate_also(&[pop, key]);
                ctx.out.array(2);
                ctx.out.bulk(key);
                ctx.out.bulk(e);
                return Ok(());
            }
        }
    }
    ctx.block(keys.iter().map(|k| k.to_vec()).collect(), wait, |r| {
        r.null_array()
    });
    Ok(())
}

fn blpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    bpop(ctx, args, End::Left)
}

fn brpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    bpop(ctx, args, End::Right)
}

fn blmove_generic(
    ctx: &mut Ctx<'_>,
    args: &[&[u8]],
    from: End,
    to: End,
    wait_arg: &[u8],
) -> CmdResult {
    let wait = timeout(wait_arg)?;
    ctx.propagate_as(Vec::new());
    match move_one(ctx, args[1], args[2], from, to)? {
        Some(v) => {
            let side = |e: End| -> &'static [u8] {
                if e == End::Left {
                    b"LEFT"
                } else {
                    b"RIGHT"
                }
            };
            ctx.propagate_also(&[b"LMOVE", args[1], args[2], side(from), side(to)]);
            ctx.out.bulk(&v)
        }
        None => ctx.block(vec![args[1].to_vec()], wait, |r| r.null()),
    }
    Ok(())
}

fn blmove(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (from, to) = (end(args[3])?, end(args[4])?);
    blmove_generic(ctx, args, from, to, args[5])
}

fn brpoplpush(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    blmove_generic(ctx, args, End::Right, End::Left, args[3])
}

fn blmpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let wait = timeout(args[1])?;
    let (keys, from, count) = mpop_args(args, 2)?;
    if !mpop_first(ctx, &keys, from, count)? {
        ctx.block(keys.iter().map(|k| k.to_vec()).collect(), wait, |r| {
            r.null_array()
        });
    }
    Ok(())
}
