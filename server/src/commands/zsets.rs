//! Sorted-set commands.

use rand::seq::SliceRandom;

use super::args::{float, int, is, pop_count, ArgParser};
use super::flags::*;
use super::hashes::scan_options;
use super::typed::{create_zset, drop_if_empty, numkeys_positions, read_zset, timeout, write_zset};
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::glob::glob_match;
use crate::keyspace::{Expiry, Value, ValueRef};
use crate::notify;
use crate::types::ZSetValue;

const R: &[&str] = &["@read", "@sortedset", "@fast"];
const RS: &[&str] = &["@read", "@sortedset", "@slow"];
const W: &[&str] = &["@write", "@sortedset", "@fast"];
const WS: &[&str] = &["@write", "@sortedset", "@slow"];
const B: &[&str] = &["@write", "@sortedset", "@fast", "@blocking"];

/// The sorted-set commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, WRITE | DENYOOM | FAST, KeySpec::ONE, zadd)
        .doc("sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.").acl(W),
    CommandSpec::new("zincrby", 4, WRITE | DENYOOM | FAST, KeySpec::ONE, zincrby)
        .doc("sorted-set", "1.2.0", "Increments the score of a member in a sorted set.").acl(W),
    CommandSpec::new("zscore", 3, READONLY | FAST, KeySpec::ONE, zscore)
        .doc("sorted-set", "1.2.0", "Returns the score of a member in a sorted set.").acl(R),
    CommandSpec::new("zmscore", -3, READONLY | FAST, KeySpec::ONE, zmscore)
        .doc("sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.").acl(R),
    CommandSpec::new("zrank", -3, READONLY | FAST, KeySpec::ONE, zrank)
        .doc("sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.").acl(R),
    CommandSpec::new("zrevrank", -3, READONLY | FAST, KeySpec::ONE, zrevrank)
        .doc("sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.").acl(R),
    CommandSpec::new("zcard", 2, READONLY | FAST, KeySpec::ONE, zcard)
        .doc("sorted-set", "1.2.0", "Returns the number of members in a sorted set.").acl(R),
    CommandSpec::new("zcount", 4, READONLY | FAST, KeySpec::ONE, zcount)
        .doc("sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.").acl(R),
    CommandSpec::new("zlexcount", 4, READONLY | FAST, KeySpec::ONE, zlexcount)
        .doc("sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.").acl(R),
    CommandSpec::new("zrange", -4, READONLY, KeySpec::ONE, zrange)
        .doc("sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.").acl(RS),
    CommandSpec::new("zrangestore", -5, WRITE | DENYOOM, KeySpec::TWO, zrangestore)
        .doc("sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.").acl(WS),
    CommandSpec::new("zrevrange", -4, READONLY, KeySpec::ONE, zrevrange)
        .doc("sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.").acl(RS),
    CommandSpec::new("zrangebyscore", -4, READONLY, KeySpec::ONE, zrangebyscore)
        .doc("sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.").acl(RS),
    CommandSpec::new("zrevrangebyscore", -4, READONLY, KeySpec::ONE, zrevrangebyscore)
        .doc("sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.").acl(RS),
    CommandSpec::new("zrangebylex", -4, READONLY, KeySpec::ONE, zrangebylex)
        .doc("sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.").acl(RS),
    CommandSpec::new("zrevrangebylex", -4, READONLY, KeySpec::ONE, zrevrangebylex)
        .doc("sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.").acl(RS),
    CommandSpec::new("zrem", -3, WRITE | FAST, KeySpec::ONE, zrem)
        .doc("sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.").acl(W),
    CommandSpec::new("zremrangebyrank", 4, WRITE, KeySpec::ONE, zremrangebyrank)
        .doc("sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.").acl(WS),
    CommandSpec::new("zremrangebyscore", 4, WRITE, KeySpec::ONE, zremrangebyscore)
        .doc("sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.").acl(WS),
    CommandSpec::new("zremrangebylex", 4, WRITE, KeySpec::ONE, zremrangebylex)
        .doc("sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.").acl(WS),
    CommandSpec::new("zpopmin", -2, WRITE | FAST, KeySpec::ONE, zpopmin)
        .doc("sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.").acl(W),
    CommandSpec::new("zpopmax", -2, WRITE | FAST, KeySpec::ONE, zpopmax)
        .doc("sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.").acl(W),
    CommandSpec::new("zmpop", -4, WRITE, KeySpec::NONE, zmpop)
        .movable(zmpop_keys)
        .doc("sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.").acl(WS),
    CommandSpec::new("bzpopmin", -3, WRITE | FAST | BLOCKING, KeySpec::at(1, -2, 1), bzpopmin)
        .doc("sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.").acl(B),
    CommandSpec::new("bzpopmax", -3, WRITE | FAST | BLOCKING, KeySpec::at(1, -2, 1), bzpopmax)
        .doc("sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.").acl(B),
    CommandSpec::new("bzmpop", -5, WRITE | BLOCKING, KeySpec::NONE, bzmpop)
        .movable(bzmpop_keys)
        .doc("sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.").acl(B),
    CommandSpec::new("zrandmember", -2, READONLY, KeySpec::ONE, zrandmember)
        .doc("sorted-set", "6.2.0", "Returns one or more random members from a sorted set.").acl(RS),
    CommandSpec::new("zunion", -3, READONLY, KeySpec::NONE, zunion)
        .movable(zcombine_keys)
        .doc("sorted-set", "6.2.0", "Returns the union of multiple sorted sets.").acl(RS),
    CommandSpec::new("zinter", -3, READONLY, KeySpec::NONE, zinter)
        .movable(zcombine_keys)
        .doc("sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.").acl(RS),
    CommandSpec::new("zdiff", -3, READONLY, KeySpec::NONE, zdiff)
        .movable(zcombine_keys)
        .doc("sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.").acl(RS),
    CommandSpec::new("zunionstore", -4, WRITE | DENYOOM, KeySpec::NONE, zunionstore)
        .movable(zstore_keys)
        .doc("sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.").acl(WS),
    CommandSpec::new("zinterstore", -4, WRITE | DENYOOM, KeySpec::NONE, zinterstore)
        .movable(zstore_keys)
        .doc("sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.").acl(WS),
    CommandSpec::new("zdiffstore", -4, WRITE | DENYOOM, KeySpec::NONE, zdiffstore)
        .movable(zstore_keys)
        .doc("sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.").acl(WS),
    CommandSpec::new("zintercard", -3, READONLY, KeySpec::NONE, zintercard)
        .movable(zcombine_keys)
        .doc("sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.").acl(RS),
    CommandSpec::new("zscan", -3, READONLY, KeySpec::ONE, zscan)
        .doc("sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.").acl(RS),
];

fn zmpop_keys(args: &[&[u8]]) -> Option<Vec<usize>> {
    numkeys_positions(args, 1)
}

fn bzmpop_keys(args: &[&[u8]]) -> Option<Vec<usize>> {
    numkeys_positions(args, 2)
}

fn zcombine_keys(args: &[&[u8]]) -> Option<Vec<usize>> {
    numkeys_positions(args, 1)
}

fn zstore_keys(args: &[&[u8]]) -> Option<Vec<usize>> {
    let mut keys = vec![1];
    keys.extend(numkeys_positions(args, 2)?);
    Some(keys)
}

/// An entry as returned to the client.
type Item = (f64, Vec<u8>);

/// Writes members, with scores when asked (flat in RESP2, pairs in RESP3).
fn reply_items(ctx: &mut Ctx<'_>, items: &[Item], with_scores: bool) {
    if with_scores && ctx.out.is_resp3() {
        ctx.out.array(items.len());
        for (s, m) in items {
            ctx.out.array(2);
            ctx.out.bulk(m);
            ctx.out.double(*s);
        }
    } else {
        ctx.out.array(items.len() * if with_scores { 2 } else { 1 });
        for (s, m) in items {
            ctx.out.bulk(m);
            if with_scores {
                ctx.out.double(*s);
            }
        }
    }
}

fn score_arg(arg: &[u8]) -> Result<f64, CommandError> {
    float(arg)
}

fn zadd(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        if is(a, "NX") {
            nx = true;
        } else if is(a, "XX") {
            xx = true;
        } else if is(a, "GT") {
            gt = true;
        } else if is(a, "LT") {
            lt = true;
        } else if is(a, "CH") {
            ch = true;
        } else if is(a, "INCR") {
            incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    if nx && xx {
        return Err(CommandError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(CommandError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && pairs.len() > 2 {
        return Err(CommandError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let scores: Vec<f64> = pairs
        .chunks(2)
        .map(|p| score_arg(p[0]))
        .collect::<Result<_, _>>()?;
    let limits = ctx.settings.encoding;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    if xx && read_zset(&mut t, &k, ctx.now_ms)?.is_none() {
        drop(t);
        if incr {
            ctx.out.null();
        } else {
            ctx.out.int(0);
        }
        return Ok(());
    }
    let z = create_zset(&mut t, &k, ctx.now_ms)?;
    let (mut added, mut changed) = (0i64, 0i64);
    let mut incr_result: Option<f64> = None;
    for (pair, score) in pairs.chunks(2).zip(scores) {
        let member = pair[1];
        let old = z.score(member);
        let mut new = score;
        if incr {
            new = old.unwrap_or(0.0) + score;
            if new.is_nan() {
                drop_if_empty(&mut t, &k, ctx.now_ms);
                return Err(CommandError::err("resulting score is not a number (NaN)"));
            }
        }
        let allowed = match old {
            None => !xx,
            Some(o) => !nx && (!gt || new > o) && (!lt || new < o),
        };
        if !allowed {
            continue;
        }
        match old {
            None => {
                z.insert(member, new, &limits);
                added += 1;
            }
            Some(o) if o != new => {
                z.insert(member, new, &limits);
                changed += 1;
            }
            Some(_) => {}
        }
        incr_result = Some(new);
    }
    drop_if_empty(&mut t, &k, ctx.now_ms);
    drop(t);
    if added + changed > 0 {
        ctx.notify(notify::ZSET, if incr { "zincr" } else { "zadd" }, args[1]);
        ctx.signal_ready(args[1]);
    }
    if incr {
        match incr_result {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if ch { added + changed } else { added });
    }
    Ok(())
}

fn zincrby(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = score_arg(args[2])?;
    let limits = ctx.settings.encoding;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let z = create_zset(&mut t, &k, ctx.now_ms)?;
    let new = z.score(args[3]).unwrap_or(0.0) + by;
    if new.is_nan() {
        drop_if_empty(&mut t, &k, ctx.now_ms);
        return Err(CommandError::err("resulting score is not a number (NaN)"));
    }
    z.insert(args[3], new, &limits);
    drop(t);
    ctx.notify(notify::ZSET, "zincr", args[1]);
    ctx.signal_ready(args[1]);
    ctx.out.double(new);
    Ok(())
}

fn zscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    match read_zset(&mut t, &k, ctx.now_ms)?.and_then(|z| z.score(args[2])) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let z = read_zset(&mut t, &k, ctx.now_ms)?;
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn rank_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], rev: bool) -> CmdResult {
    let with_score = match args.len() {
        3 => false,
        4 if is(args[3], "WITHSCORE") => true,
        _ => return Err(CommandError::Syntax),
    };
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let found = read_zset(&mut t, &k, ctx.now_ms)?.and_then(|z| {
        let r = z.rank(args[2])?;
        let r = if rev { z.len() - 1 - r } else { r };
        Some((r, z.score(args[2])?))
    });
    drop(t);
    match (found, with_score) {
        (None, false) => ctx.out.null(),
        (None, true) => ctx.out.null_array(),
        (Some((r, _)), false) => ctx.out.int(r as i64),
        (Some((r, s)), true) => {
            ctx.out.array(2);
            ctx.out.int(r as i64);
            ctx.out.double(s);
        }
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, args, true)
}

fn zcard(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let n = read_zset(&mut t, &k, ctx.now_ms)?.map_or(0, |z| z.len());
    drop(t);
    ctx.out.int(n as i64);
    Ok(())
}

/// One end of a score range.
#[derive(Debug, Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

fn score_bound(arg: &[u8]) -> Result<ScoreBound, CommandError> {
    let bad = || CommandError::err("min or max is not a float");
    let (exclusive, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let value = float(text).map_err(|_| bad())?;
    Ok(ScoreBound { value, exclusive })
}

/// One end of a lexicographic range.
#[derive(Debug, Clone)]
enum LexBound {
    Min,
    Max,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

fn lex_bound(arg: &[u8]) -> Result<LexBound, CommandError> {
    match arg.first() {
        Some(b'-') if arg.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if arg.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Inclusive(arg[1..].to_vec())),
        Some(b'(') => Ok(LexBound::Exclusive(arg[1..].to_vec())),
        _ => Err(CommandError::err("min or max not valid string range item")),
    }
}

fn above_min(m: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(v) => m >= v.as_slice(),
        LexBound::Exclusive(v) => m > v.as_slice(),
    }
}

fn below_max(m: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(v) => m <= v.as_slice(),
        LexBound::Exclusive(v) => m < v.as_slice(),
    }
}

/// How a range is chosen.
enum RangeBy {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// The entries in a range (ascending order of the set), before REV and LIMIT.
fn select<'z>(z: &'z ZSetValue, by: &RangeBy) -> Vec<&'z Item> {
    match by {
        RangeBy::Rank(start, stop) => match super::strings::clamp_range(*start, *stop, z.len()) {
            Some((s, e)) => z.range(s, e),
            None => Vec::new(),
        },
        RangeBy::Score(min, max) => {
            let from = z.first_rank_with_score(min.value, !min.exclusive);
            z.iter()
                .skip(from)
                .take_while(|(s, _)| {
                    if max.exclusive {
                        *s < max.value
                    } else {
                        *s <= max.value
                    }
                })
                .collect()
        }
        RangeBy::Lex(min, max) => z
            .iter()
            .filter(|(_, m)| above_min(m, min) && below_max(m, max))
            .collect(),
    }
}

/// Parsed ZRANGE-family options.
struct RangeQuery {
    by: RangeBy,
    rev: bool,
    limit: Option<(i64, i64)>,
    with_scores: bool,
}

fn apply(z: Option<&ZSetValue>, q: &RangeQuery) -> Vec<Item> {
    let Some(z) = z else { return Vec::new() };
    let mut items: Vec<&Item> = match (&q.by, q.rev) {
        // REV with ranks counts from the top.
        (RangeBy::Rank(start, stop), true) => {
            let len = z.len() as i64;
            match super::strings::clamp_range(*start, *stop, z.len()) {
                Some((s, e)) => {
                    let (s, e) = (len - 1 - e as i64, len - 1 - s as i64);
                    let mut v = z.range(s as usize, e as usize);
                    v.reverse();
                    v
                }
                None => Vec::new(),
            }
        }
        (by, rev) => {
            let mut v = select(z, by);
            if rev {
                v.reverse();
            }
            v
        }
    };
    if let Some((offset, count)) = q.limit {
        if offset < 0 {
            return Vec::new();
        }
        let offset = offset as usize;
        items = items.into_iter().skip(offset).collect();
        if count >= 0 {
            items.truncate(count as usize);
        }
    }
    items.into_iter().cloned().collect()
}

/// Parses `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT o c] [WITHSCORES]` from
/// `args[at..]` (start at `at`).
fn parse_zrange(args: &[&[u8]], at: usize, allow_scores: bool) -> Result<RangeQuery, CommandError> {
    let (min, max) = (args[at], args[at + 1]);
    let (mut byscore, mut bylex, mut rev, mut limit, mut with_scores) =
        (false, false, false, None, false);
    let mut p = ArgParser::new(args, at + 2);
    while let Some(opt) = p.next() {
        if is(opt, "BYSCORE") {
            byscore = true;
        } else if is(opt, "BYLEX") {
            bylex = true;
        } else if is(opt, "REV") {
            rev = true;
        } else if is(opt, "LIMIT") {
            limit = Some((p.int()?, p.int()?));
        } else if is(opt, "WITHSCORES") && allow_scores {
            with_scores = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if byscore && bylex {
        return Err(CommandError::Syntax);
    }
    if limit.is_some() && !byscore && !bylex {
        return Err(CommandError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && bylex {
        return Err(CommandError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // With REV, BYSCORE/BYLEX take max first.
    let (lo, hi) = if rev && (byscore || bylex) {
        (max, min)
    } else {
        (min, max)
    };
    let by = if byscore {
        RangeBy::Score(score_bound(lo)?, score_bound(hi)?)
    } else if bylex {
        RangeBy::Lex(lex_bound(lo)?, lex_bound(hi)?)
    } else {
        RangeBy::Rank(int(min)?, int(max)?)
    };
    Ok(RangeQuery {
        by,
        rev,
        limit,
        with_scores,
    })
}

fn run_range(ctx: &mut Ctx<'_>, key: &[u8], q: &RangeQuery) -> Result<Vec<Item>, CommandError> {
    let k = ctx.key(key);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let z = read_zset(&mut t, &k, ctx.now_ms)?;
    Ok(apply(z, q))
}

fn zrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let q = parse_zrange(args, 2, true)?;
    let items = run_range(ctx, args[1], &q)?;
    reply_items(ctx, &items, q.with_scores);
    Ok(())
}

fn zrangestore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let q = parse_zrange(args, 3, false)?;
    let items = run_range(ctx, args[2], &q)?;
    store_items(ctx, args[1], items, "zrangestore")
}

/// Parses the legacy forms (ZREVRANGE, ZRANGEBYSCORE, ...).
fn legacy(ctx: &mut Ctx<'_>, args: &[&[u8]], kind: u8, rev: bool) -> CmdResult {
    let (mut with_scores, mut limit) = (false, None);
    let mut p = ArgParser::new(args, 4);
    while let Some(opt) = p.next() {
        if is(opt, "WITHSCORES") && kind != b'l' {
            with_scores = true;
        } else if is(opt, "LIMIT") && kind != b'r' {
            limit = Some((p.int()?, p.int()?));
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let (lo, hi) = if rev && kind != b'r' {
        (args[3], args[2])
    } else {
        (args[2], args[3])
    };
    let by = match kind {
        b'r' => RangeBy::Rank(int(lo)?, int(hi)?),
        b's' => RangeBy::Score(score_bound(lo)?, score_bound(hi)?),
        _ => RangeBy::Lex(lex_bound(lo)?, lex_bound(hi)?),
    };
    let q = RangeQuery {
        by,
        rev,
        limit,
        with_scores,
    };
    let items = run_range(ctx, args[1], &q)?;
    reply_items(ctx, &items, with_scores);
    Ok(())
}

fn zrevrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    legacy(ctx, args, b'r', true)
}

fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    legacy(ctx, args, b's', false)
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    legacy(ctx, args, b's', true)
}

fn zrangebylex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    legacy(ctx, args, b'l', false)
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    legacy(ctx, args, b'l', true)
}

fn count_in(ctx: &mut Ctx<'_>, key: &[u8], by: RangeBy) -> CmdResult {
    let k = ctx.key(key);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let n = read_zset(&mut t, &k, ctx.now_ms)?.map_or(0, |z| select(z, &by).len());
    drop(t);
    ctx.out.int(n as i64);
    Ok(())
}

fn zcount(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = RangeBy::Score(score_bound(args[2])?, score_bound(args[3])?);
    count_in(ctx, args[1], by)
}

fn zlexcount(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = RangeBy::Lex(lex_bound(args[2])?, lex_bound(args[3])?);
    count_in(ctx, args[1], by)
}

fn zrem(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let mut removed = 0;
    if let Some(z) = write_zset(&mut t, &k, ctx.now_ms)? {
        removed = args[2..].iter().filter(|m| z.remove(m).is_some()).count();
        drop_if_empty(&mut t, &k, ctx.now_ms);
    }
    drop(t);
    if removed > 0 {
        ctx.notify(notify::ZSET, "zrem", args[1]);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn remove_range(ctx: &mut Ctx<'_>, key: &[u8], by: RangeBy, event: &str) -> CmdResult {
    let k = ctx.key(key);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let mut removed = 0;
    if let Some(z) = write_zset(&mut t, &k, ctx.now_ms)? {
        let members: Vec<Vec<u8>> = select(z, &by).into_iter().map(|(_, m)| m.clone()).collect();
        for m in &members {
            z.remove(m);
        }
        removed = members.len();
        drop_if_empty(&mut t, &k, ctx.now_ms);
    }
    drop(t);
    if removed > 0 {
        ctx.notify(notify::ZSET, event, key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = RangeBy::Rank(int(args[2])?, int(args[3])?);
    remove_range(ctx, args[1], by, "zremrangebyrank")
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = RangeBy::Score(score_bound(args[2])?, score_bound(args[3])?);
    remove_range(ctx, args[1], by, "zremrangebyscore")
}

fn zremrangebylex(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let by = RangeBy::Lex(lex_bound(args[2])?, lex_bound(args[3])?);
    remove_range(ctx, args[1], by, "zremrangebylex")
}

/// Pops up to `count` lowest (or highest) members; `None` if the key is missing.
fn pop_items(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    max: bool,
    count: usize,
) -> Result<Option<Vec<Item>>, CommandError> {
    let k = ctx.key(key);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let Some(z) = write_zset(&mut t, &k, ctx.now_ms)? else {
        return Ok(None);
    };
    let n = count.min(z.len());
    let picked: Vec<Item> = if max {
        z.iter().rev().take(n).cloned().collect()
    } else {
        z.iter().take(n).cloned().collect()
    };
    for (_, m) in &picked {
        z.remove(m);
    }
    drop_if_empty(&mut t, &k, ctx.now_ms);
    drop(t);
    if !picked.is_empty() {
        ctx.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    }
    Ok(Some(picked))
}

fn zpop(ctx: &mut Ctx<'_>, args: &[&[u8]], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = args.get(2).map(|c| pop_count(c)).transpose()?;
    let items = pop_items(ctx, args[1], max, count.unwrap_or(1))?.unwrap_or_default();
    if count.is_none() && ctx.out.is_resp3() {
        // Without COUNT, RESP3 answers a flat [member, score].
        match items.first() {
            Some((s, m)) => {
                ctx.out.array(2);
                ctx.out.bulk(m);
                ctx.out.double(*s);
            }
            None => ctx.out.array(0),
        }
    } else {
        reply_items(ctx, &items, true);
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    zpop(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    zpop(ctx, args, true)
}

fn min_max(arg: &[u8]) -> Result<bool, CommandError> {
    if is(arg, "MIN") {
        Ok(false)
    } else if is(arg, "MAX") {
        Ok(true)
    } else {
        Err(CommandError::Syntax)
    }
}

/// Parses `numkeys key... MIN|MAX [COUNT n]` from `at`.
fn zmpop_args<'a>(
    args: &[&'a [u8]],
    at: usize,
) -> Result<(Vec<&'a [u8]>, bool, usize), CommandError> {
    let n = int(args[at]).map_err(|_| CommandError::err("numkeys should be greater than 0"))?;
    if n <= 0 {
        return Err(CommandError::err("numkeys should be greater than 0"));
    }
    let n = n as usize;
    if args.len() < at + 2 + n {
        return Err(CommandError::Syntax);
    }
    let keys = args[at + 1..at + 1 + n].to_vec();
    let max = min_max(args[at + 1 + n])?;
    let mut count = 1;
    let mut p = ArgParser::new(args, at + 2 + n);
    while let Some(opt) = p.next() {
        if is(opt, "COUNT") {
            let c = p.int()?;
            if c <= 0 {
                return Err(CommandError::err("count should be greater than 0"));
            }
            count = c as usize;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok((keys, max, count))
}

fn zmpop_first(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    max: bool,
    count: usize,
) -> Result<bool, CommandError> {
    ctx.propagate_as(Vec::new());
    for key in keys {
        if let Some(items) = pop_items(ctx, key, max, count)? {
            if !items.is_empty() {
                let pop: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
                let n = items.len().to_string();
                ctx.propagate_also(&[pop, key, n.as_bytes()]);
                ctx.out.array(2);
                ctx.out.bulk(key);
                ctx.out.array(items.len());
                for (s, m) in &items {
                    ctx.out.array(2);
                    ctx.out.bulk(m);
                    ctx.out.double(*s);
                }
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn zmpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (keys, max, count) = zmpop_args(args, 1)?;
    if !zmpop_first(ctx, &keys, max, count)? {
        ctx.out.null_array();
    }
    Ok(())
}

fn bzpop(ctx: &mut Ctx<'_>, args: &[&[u8]], max: bool) -> CmdResult {
    let wait = timeout(args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    ctx.propagate_as(Vec::new());
    for key in keys {
        if let Some(items) = pop_items(ctx, key, max, 1)? {
            if let Some((s, m)) = items.first() {
                let pop: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
                ctx.propagate_also(&[pop, key]);
                ctx.out.array(3);
                ctx.out.bulk(key);
                ctx.out.bulk(m);
                ctx.out.double(*s);
                return Ok(());
            }
        }
    }
    ctx.block(keys.iter().map(|k| k.to_vec()).collect(), wait, |r| {
        r.null_array()
    });
    Ok(())
}

fn bzpopmin(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    bzpop(ctx, args, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    bzpop(ctx, args, true)
}

fn bzmpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let wait = timeout(args[1])?;
    let (keys, max, count) = zmpop_args(args, 2)?;
    if !zmpop_first(ctx, &keys, max, count)? {
        ctx.block(keys.iter().map(|k| k.to_vec()).collect(), wait, |r| {
            r.null_array()
        });
    }
    Ok(())
}

fn zrandmember(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let count = match args.get(2) {
        Some(c) => Some(int(c)?),
        None => None,
    };
    let with_scores = match args.get(3) {
        Some(a) if is(a, "WITHSCORES") => true,
        Some(_) => return Err(CommandError::Syntax),
        None => false,
    };
    if args.len() > 4 {
        return Err(CommandError::Syntax);
    }
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let all: Vec<Item> = read_zset(&mut t, &k, ctx.now_ms)?
        .map(|z| z.iter().cloned().collect())
        .unwrap_or_default();
    drop(t);
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        match all.choose(&mut rng) {
            Some((_, m)) => ctx.out.bulk(m),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let picked = super::args::random_picks(&all, count);
    reply_items(ctx, &picked, with_scores);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Reads `numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]` from `at` and
/// computes the result, sorted.
fn combine(
    ctx: &mut Ctx<'_>,
    args: &[&[u8]],
    at: usize,
    op: SetOp,
    allow_scores: bool,
) -> Result<(Vec<Item>, bool), CommandError> {
    let n = int(args[at]).map_err(|_| CommandError::err("numkeys should be greater than 0"))?;
    if n <= 0 {
        return Err(CommandError::err(
            "at least 1 input key is needed for this command",
        ));
    }
    let n = n as usize;
    if args.len() < at + 1 + n {
        return Err(CommandError::Syntax);
    }
    let keys = &args[at + 1..at + 1 + n];
    let mut weights = vec![1.0; n];
    let mut agg = Aggregate::Sum;
    let mut with_scores = false;
    let mut p = ArgParser::new(args, at + 1 + n);
    while let Some(opt) = p.next() {
        if is(opt, "WEIGHTS") && op != SetOp::Diff {
            for w in weights.iter_mut() {
                *w = float(p.value()?)
                    .map_err(|_| CommandError::err("weight value is not a float"))?;
            }
        } else if is(opt, "AGGREGATE") && op != SetOp::Diff {
            let a = p.value()?;
            agg = if is(a, "SUM") {
                Aggregate::Sum
            } else if is(a, "MIN") {
                Aggregate::Min
            } else if is(a, "MAX") {
                Aggregate::Max
            } else {
                return Err(CommandError::Syntax);
            };
        } else if is(opt, "WITHSCORES") && allow_scores {
            with_scores = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    // Inputs may be sorted sets or plain sets (score 1).
    let mut inputs: Vec<Option<Vec<Item>>> = Vec::with_capacity(n);
    for key in keys {
        let k = ctx.key(key);
        let mut t = ctx.server.keyspace.lock(k.slot);
        let items = match t.get(&k, ctx.now_ms).map(|e| e.value()) {
            None => None,
            Some(ValueRef::ZSet(z)) => Some(z.iter().cloned().collect()),
            Some(ValueRef::Set(s)) => Some(s.members().into_iter().map(|m| (1.0, m)).collect()),
            Some(_) => return Err(CommandError::WrongType),
        };
        inputs.push(items);
    }
    let mut acc: hashbrown::HashMap<Vec<u8>, f64> = hashbrown::HashMap::new();
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    match op {
        SetOp::Union => {
            for (items, w) in inputs.iter().zip(&weights) {
                for (s, m) in items.iter().flatten() {
                    let v = weighted(*s, *w);
                    acc.entry(m.clone())
                        .and_modify(|cur| *cur = aggregate(agg, *cur, v))
                        .or_insert(v);
                }
            }
        }
        SetOp::Inter => {
            if let Some(Some(first)) = inputs.first() {
                'members: for (s, m) in first {
                    let mut v = weighted(*s, weights[0]);
                    for (items, w) in inputs.iter().zip(&weights).skip(1) {
                        let Some(items) = items else { break 'members };
                        match items.iter().find(|(_, o)| o == m) {
                            Some((os, _)) => v = aggregate(agg, v, weighted(*os, *w)),
                            None => continue 'members,
                        }
                    }
                    acc.insert(m.clone(), v);
                }
                if inputs.iter().any(|i| i.is_none()) {
                    acc.clear();
                }
            }
        }
        SetOp::Diff => {
            if let Some(Some(first)) = inputs.first() {
                for (s, m) in first {
                    let elsewhere = inputs[1..]
                        .iter()
                        .flatten()
                        .any(|items| items.iter().any(|(_, o)| o == m));
                    if !elsewhere {
                        acc.insert(m.clone(), *s);
                    }
                }
            }
        }
    }
    let mut items: Vec<Item> = acc.into_iter().map(|(m, s)| (s, m)).collect();
    items.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.1.cmp(&b.1))
    });
    Ok((items, with_scores))
}

fn aggregate(agg: Aggregate, a: f64, b: f64) -> f64 {
    match agg {
        Aggregate::Sum => {
            let v = a + b;
            if v.is_nan() {
                0.0
            } else {
                v
            }
        }
        Aggregate::Min => a.min(b),
        Aggregate::Max => a.max(b),
    }
}

fn zunion(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (items, ws) = combine(ctx, args, 1, SetOp::Union, true)?;
    reply_items(ctx, &items, ws);
    Ok(())
}

fn zinter(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (items, ws) = combine(ctx, args, 1, SetOp::Inter, true)?;
    reply_items(ctx, &items, ws);
    Ok(())
}

fn zdiff(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (items, ws) = combine(ctx, args, 1, SetOp::Diff, true)?;
    reply_items(ctx, &items, ws);
    Ok(())
}

fn store_items(ctx: &mut Ctx<'_>, dest: &[u8], items: Vec<Item>, event: &str) -> CmdResult {
    let limits = ctx.settings.encoding;
    let k = ctx.key(dest);
    let n = items.len();
    let mut t = ctx.server.keyspace.lock(k.slot);
    if items.is_empty() {
        t.remove(&k, ctx.now_ms);
    } else {
        let mut z = ZSetValue::default();
        for (s, m) in &items {
            z.insert(m, *s, &limits);
        }
        t.set(&k, Value::ZSet(Box::new(z)), Expiry::None, ctx.now_ms);
    }
    drop(t);
    ctx.notify(notify::ZSET, event, dest);
    ctx.out.int(n as i64);
    Ok(())
}

fn zunionstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (items, _) = combine(ctx, args, 2, SetOp::Union, false)?;
    store_items(ctx, args[1], items, "zunionstore")
}

fn zinterstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (items, _) = combine(ctx, args, 2, SetOp::Inter, false)?;
    store_items(ctx, args[1], items, "zinterstore")
}

fn zdiffstore(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (items, _) = combine(ctx, args, 2, SetOp::Diff, false)?;
    store_items(ctx, args[1], items, "zdiffstore")
}

fn zintercard(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    // Split off LIMIT, which `combine` does not know.
    let mut limit = 0usize;
    let mut end = args.len();
    if args.len() >= 2 && is(args[args.len() - 2], "LIMIT") {
        let l = int(args[args.len() - 1])?;
        if l < 0 {
            return Err(CommandError::err("LIMIT can't be negative"));
        }
        limit = l as usize;
        end -= 2;
    }
    let (items, _) = combine(ctx, &args[..end], 1, SetOp::Inter, false)?;
    let n = if limit > 0 {
        items.len().min(limit)
    } else {
        items.len()
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn zscan(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let opts = scan_options(args, false)?;
    let k = ctx.key(args[1]);
    let mut t = ctx.server.keyspace.lock(k.slot);
    let items: Vec<Item> = read_zset(&mut t, &k, ctx.now_ms)?
        .map(|z| z.iter().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, m)| opts.pattern.is_none_or(|p| glob_match(p, m, false)))
        .collect();
    drop(t);
    ctx.out.array(2);
    ctx.out.bulk(b"0");
    ctx.out.array(items.len() * 2);
    for (s, m) in &items {
        ctx.out.bulk(m);
        ctx.out
            .bulk(crate::resp::reply::format_double(*s).as_bytes());
    }
    Ok(())
}
