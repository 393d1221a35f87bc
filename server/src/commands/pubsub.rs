//! Pub/Sub commands: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBE, PUBLISH,
//! SPUBLISH, PUBSUB.

use super::flags::*;
use super::{CommandSpec, KeySpec};
use crate::client::ClientState;
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};
use crate::pubsub::{encode_push, Kind};
use crate::server::Server;

const ACL: &[&str] = &["@pubsub", "@slow"];

static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "pubsub|channels",
        -2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_channels,
    )
    .doc("pubsub", "2.8.0", "Returns the active channels.")
    .acl(ACL),
    CommandSpec::new(
        "pubsub|numsub",
        -2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_numsub,
    )
    .doc(
        "pubsub",
        "2.8.0",
        "Returns a count of subscribers to channels.",
    )
    .acl(ACL),
    CommandSpec::new(
        "pubsub|numpat",
        2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_numpat,
    )
    .doc(
        "pubsub",
        "2.8.0",
        "Returns a count of unique pattern subscriptions.",
    )
    .acl(ACL),
    CommandSpec::new(
        "pubsub|shardchannels",
        -2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_shardchannels,
    )
    .doc("pubsub", "7.0.0", "Returns the active shard channels.")
    .acl(ACL),
    CommandSpec::new(
        "pubsub|shardnumsub",
        -2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_shardnumsub,
    )
    .doc(
        "pubsub",
        "7.0.0",
        "Returns the count of subscribers of shard channels.",
    )
    .acl(ACL),
    CommandSpec::new(
        "pubsub|help",
        2,
        LOADING | STALE,
        KeySpec::NONE,
        pubsub_help,
    )
    .doc(
        "pubsub",
        "6.2.0",
        "Returns helpful text about the different subcommands.",
    )
    .acl(ACL),
];

/// The pub/sub commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        subscribe,
    )
    .doc(
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels.",
    )
    .acl(ACL),
    CommandSpec::new(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        unsubscribe,
    )
    .doc(
        "pubsub",
        "2.0.0",
        "Stops listening to messages posted to channels.",
    )
    .acl(ACL),
    CommandSpec::new(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        psubscribe,
    )
    .doc(
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
    )
    .acl(ACL),
    CommandSpec::new(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        punsubscribe,
    )
    .doc(
        "pubsub",
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
    )
    .acl(ACL),
    CommandSpec::new(
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        KeySpec::ALL,
        ssubscribe,
    )
    .doc(
        "pubsub",
        "7.0.0",
        "Listens for messages published to shard channels.",
    )
    .acl(ACL),
    CommandSpec::new(
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        KeySpec::ALL,
        sunsubscribe,
    )
    .doc(
        "pubsub",
        "7.0.0",
        "Stops listening to messages posted to shard channels.",
    )
    .acl(ACL),
    CommandSpec::new(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        KeySpec::NONE,
        publish,
    )
    .doc("pubsub", "2.0.0", "Posts a message to a channel.")
    .acl(&["@pubsub", "@fast"]),
    CommandSpec::new(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        KeySpec::ONE,
        spublish,
    )
    .doc("pubsub", "7.0.0", "Post a message to a shard channel")
    .acl(&["@pubsub", "@fast"]),
    CommandSpec::container("pubsub", -2, PUBSUB_SUBCOMMANDS).doc(
        "pubsub",
        "2.8.0",
        "A container for Pub/Sub commands.",
    ),
];

fn set_of(client: &mut ClientState, kind: Kind) -> &mut std::collections::HashSet<Vec<u8>> {
    match kind {
        Kind::Channel => &mut client.channels,
        Kind::Pattern => &mut client.patterns,
        Kind::Shard => &mut client.shard_channels,
    }
}

fn confirm(ctx: &mut Ctx<'_>, word: &[u8], name: Option<&[u8]>) {
    let count = ctx.client.subscription_count() as i64;
    let bytes = encode_push(ctx.client.resp3, &[Some(word), name], Some(count));
    ctx.out.raw(&bytes);
}

fn subscribe_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], kind: Kind, word: &[u8]) -> CmdResult {
    for name in &args[1..] {
        if set_of(ctx.client, kind).insert(name.to_vec()) {
            ctx.server.pubsub.subscribe(kind, name, &ctx.client.info);
        }
        confirm(ctx, word, Some(name));
    }
    ctx.client.info.subscriptions.store(
        ctx.client.subscription_count(),
        std::sync::atomic::Ordering::Relaxed,
    );
    Ok(())
}

fn unsubscribe_generic(ctx: &mut Ctx<'_>, args: &[&[u8]], kind: Kind, word: &[u8]) -> CmdResult {
    let names: Vec<Vec<u8>> = if args.len() > 1 {
        args[1..].iter().map(|a| a.to_vec()).collect()
    } else {
        set_of(ctx.client, kind).iter().cloned().collect()
    };
    if names.is_empty() {
        confirm(ctx, word, None);
    }
    for name in names {
        if set_of(ctx.client, kind).remove(&name) {
            ctx.server
                .pubsub
                .unsubscribe(kind, &name, ctx.client.info.id);
        }
        confirm(ctx, word, Some(&name));
    }
    ctx.client.info.subscriptions.store(
        ctx.client.subscription_count(),
        std::sync::atomic::Ordering::Relaxed,
    );
    Ok(())
}

/// Drops every subscription of a closing client.
pub fn unsubscribe_all(server: &Server, client: &mut ClientState) {
    let id = client.info.id;
    for (kind, set) in [
        (Kind::Channel, std::mem::take(&mut client.channels)),
        (Kind::Pattern, std::mem::take(&mut client.patterns)),
        (Kind::Shard, std::mem::take(&mut client.shard_channels)),
    ] {
        for name in set {
            server.pubsub.unsubscribe(kind, &name, id);
        }
    }
}

fn subscribe(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, args, Kind::Channel, b"subscribe")
}

fn unsubscribe(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, args, Kind::Channel, b"unsubscribe")
}

fn psubscribe(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, args, Kind::Pattern, b"psubscribe")
}

fn punsubscribe(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, args, Kind::Pattern, b"punsubscribe")
}

fn ssubscribe(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, args, Kind::Shard, b"ssubscribe")
}

fn sunsubscribe(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, args, Kind::Shard, b"sunsubscribe")
}

fn publish(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let n = ctx.server.pubsub.publish(args[1], args[2], false);
    // In cluster mode every node's subscribers get the message, over the bus.
    if let Some(node) = &ctx.server.cluster {
        let now = ctx.now_ms;
        node.with(|c| ((), c.publish(args[1], args[2], now)));
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let n = ctx.server.pubsub.publish(args[1], args[2], true);
    ctx.out.int(n as i64);
    Ok(())
}

fn reply_names(ctx: &mut Ctx<'_>, names: Vec<Vec<u8>>) {
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(&n);
    }
}

fn pubsub_channels(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(CommandError::WrongArity("pubsub|channels".into()));
    }
    let names = ctx.server.pubsub.channels(args.get(2).copied(), false);
    reply_names(ctx, names);
    Ok(())
}

fn pubsub_shardchannels(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(CommandError::WrongArity("pubsub|shardchannels".into()));
    }
    let names = ctx.server.pubsub.channels(args.get(2).copied(), true);
    reply_names(ctx, names);
    Ok(())
}

fn numsub(ctx: &mut Ctx<'_>, args: &[&[u8]], shard: bool) -> CmdResult {
    ctx.out.map(args.len() - 2);
    for ch in &args[2..] {
        ctx.out.bulk(ch);
        let n = ctx.server.pubsub.numsub(ch, shard);
        ctx.out.int(n as i64);
    }
    Ok(())
}

fn pubsub_numsub(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    numsub(ctx, args, false)
}

fn pubsub_shardnumsub(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    numsub(ctx, args, true)
}

fn pubsub_numpat(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.pubsub.numpat() as i64);
    Ok(())
}

fn pubsub_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Print this help.",
    ];
    super::args::reply_help(ctx, &lines)
}
