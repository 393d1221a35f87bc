//! Cluster commands: CLUSTER <subcommand>, ASKING, READONLY, READWRITE.

use std::sync::Arc;

use cluster::node::flags as node_flags;
use cluster::nodes_conf::{ranges, render_nodes};
use cluster::{Cluster, SLOT_COUNT};

use super::args::{int, is};
use super::flags::*;
use super::{CommandSpec, KeySpec};
use crate::cluster::ClusterNode;
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};

const ACL: &[&str] = &["@admin", "@slow", "@dangerous"];
const ACL_RO: &[&str] = &["@slow"];

macro_rules! sub {
    ($name:literal, $arity:expr, $flags:expr, $handler:ident, $summary:literal) => {
        CommandSpec::new($name, $arity, $flags, KeySpec::NONE, $handler)
            .doc("cluster", "3.0.0", $summary)
            .acl(ACL)
    };
}

static CLUSTER_SUBCOMMANDS: &[CommandSpec] = &[
    sub!(
        "cluster|info",
        2,
        LOADING | STALE,
        cluster_info,
        "Returns information about the state of a node."
    )
    .acl(ACL_RO),
    sub!(
        "cluster|nodes",
        2,
        LOADING | STALE,
        cluster_nodes,
        "Returns the cluster configuration for a node."
    )
    .acl(ACL_RO),
    sub!(
        "cluster|slots",
        2,
        LOADING | STALE,
        cluster_slots,
        "Returns the mapping of cluster slots to nodes."
    )
    .acl(ACL_RO),
    sub!(
        "cluster|shards",
        2,
        LOADING | STALE,
        cluster_shards,
        "Returns the mapping of cluster slots to shards."
    )
    .acl(ACL_RO),
    sub!(
        "cluster|myid",
        2,
        LOADING | STALE,
        cluster_myid,
        "Returns the ID of a node."
    )
    .acl(ACL_RO),
    sub!(
        "cluster|myshardid",
        2,
        LOADING | STALE,
        cluster_myshardid,
        "Returns the shard ID of a node."
    )
    .acl(ACL_RO),
    sub!(
        "cluster|keyslot",
        3,
        STALE,
        cluster_keyslot,
        "Returns the hash slot for a key."
    )
    .acl(ACL_RO),
    sub!(
        "cluster|countkeysinslot",
        3,
        STALE,
        cluster_countkeysinslot,
        "Returns the number of keys in a hash slot."
    )
    .acl(ACL_RO),
    sub!(
        "cluster|getkeysinslot",
        4,
        STALE,
        cluster_getkeysinslot,
        "Returns the key names in a hash slot."
    )
    .acl(ACL_RO),
    sub!(
        "cluster|addslots",
        -3,
        ADMIN | STALE,
        cluster_addslots,
        "Assigns new hash slots to a node."
    ),
    sub!(
        "cluster|addslotsrange",
        -4,
        ADMIN | STALE,
        cluster_addslotsrange,
        "Assigns new hash slot ranges to a node."
    ),
    sub!(
        "cluster|delslots",
        -3,
        ADMIN | STALE,
        cluster_delslots,
        "Sets hash slots as unbound for a node."
    ),
    sub!(
        "cluster|delslotsrange",
        -4,
        ADMIN | STALE,
        cluster_delslotsrange,
        "Sets hash slot ranges as unbound for a node."
    ),
    sub!(
        "cluster|flushslots",
        2,
        ADMIN | STALE,
        cluster_flushslots,
        "Deletes all slots information from a node."
    ),
    sub!(
        "cluster|meet",
        -4,
        ADMIN | STALE,
        cluster_meet,
        "Forces a node to handshake with another node."
    ),
    sub!(
        "cluster|forget",
        3,
        ADMIN | STALE,
        cluster_forget,
        "Removes a node from the nodes table."
    ),
    sub!(
        "cluster|replicate",
        3,
        ADMIN | STALE,
        cluster_replicate,
        "Configure a node as replica of a master node."
    ),
    sub!(
        "cluster|replicas",
        3,
        ADMIN | STALE,
        cluster_replicas,
        "Lists the replica nodes of a master node."
    ),
    sub!(
        "cluster|slaves",
        3,
        ADMIN | STALE,
        cluster_replicas,
        "Lists the replica nodes of a master node."
    ),
    sub!(
        "cluster|reset",
        -2,
        ADMIN | STALE | NOSCRIPT,
        cluster_reset,
        "Resets a node."
    ),
    sub!(
        "cluster|saveconfig",
        2,
        ADMIN | STALE,
        cluster_saveconfig,
        "Forces a node to save the cluster configuration to disk."
    ),
    sub!(
        "cluster|set-config-epoch",
        3,
        ADMIN | STALE,
        cluster_set_config_epoch,
        "Sets the configuration epoch for a new node."
    ),
    sub!(
        "cluster|bumpepoch",
        2,
        ADMIN | STALE,
        cluster_bumpepoch,
        "Advances the cluster config epoch."
    ),
    sub!(
        "cluster|setslot",
        -4,
        ADMIN | STALE,
        cluster_setslot,
        "Binds a hash slot to a node."
    ),
    sub!(
        "cluster|count-failure-reports",
        3,
        ADMIN | STALE,
        cluster_count_failure_reports,
        "Returns the number of active failure reports active for a node."
    ),
    sub!(
        "cluster|links",
        2,
        STALE,
        cluster_links,
        "Returns a list of all TCP links to and from peer nodes."
    ),
    sub!(
        "cluster|failover",
        -2,
        ADMIN | STALE,
        cluster_failover,
        "Forces a replica to perform a manual failover of its master."
    ),
    sub!(
        "cluster|help",
        2,
        LOADING | STALE,
        cluster_help,
        "Returns helpful text about the different subcommands."
    )
    .acl(ACL_RO),
];

/// The cluster commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::container("cluster", -2, CLUSTER_SUBCOMMANDS).doc(
        "cluster",
        "3.0.0",
        "A container for Redis Cluster commands.",
    ),
    CommandSpec::new("asking", 1, FAST, KeySpec::NONE, asking)
        .doc(
            "cluster",
            "3.0.0",
            "Signals that a cluster client is following an -ASK redirect.",
        )
        .acl(&["@fast", "@connection"]),
    CommandSpec::new(
        "readonly",
        1,
        LOADING | STALE | FAST,
        KeySpec::NONE,
        readonly,
    )
    .doc(
        "cluster",
        "3.0.0",
        "Enables read-only queries for a connection to a Redis Cluster replica node.",
    )
    .acl(&["@fast", "@connection"]),
    CommandSpec::new(
        "readwrite",
        1,
        LOADING | STALE | FAST,
        KeySpec::NONE,
        readwrite,
    )
    .doc(
        "cluster",
        "3.0.0",
        "Enables read-write queries for a connection to a Reids Cluster replica node.",
    )
    .acl(&["@fast", "@connection"]),
];

fn node<'a>(ctx: &Ctx<'a>) -> Result<&'a Arc<ClusterNode>, CommandError> {
    ctx.server
        .cluster
        .as_ref()
        .ok_or_else(|| CommandError::err("This instance has cluster support disabled"))
}

fn cluster_err(text: String) -> CommandError {
    CommandError::err(text)
}

fn slot_arg(arg: &[u8]) -> Result<u16, CommandError> {
    match int(arg) {
        Ok(v) if (0..SLOT_COUNT as i64).contains(&v) => Ok(v as u16),
        _ => Err(CommandError::err("Invalid or out of range slot")),
    }
}

fn asking(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    node(ctx)?;
    ctx.client.asking = true;
    ctx.out.ok();
    Ok(())
}

fn readonly(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    node(ctx)?;
    ctx.client.readonly = true;
    ctx.out.ok();
    Ok(())
}

fn readwrite(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    node(ctx)?;
    ctx.client.readonly = false;
    ctx.out.ok();
    Ok(())
}

/// The CLUSTER INFO text.
pub fn info_text(c: &Cluster) -> String {
    let assigned = c.owners.iter().filter(|o| o.is_some()).count();
    let failing = |flag: u16| {
        c.owners
            .iter()
            .flatten()
            .filter(|id| c.nodes.get(&***id).is_some_and(|n| n.has(flag)))
            .count()
    };
    let pfail = failing(node_flags::PFAIL);
    let fail = failing(node_flags::FAIL);
    format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n",
        if c.is_ok() { "ok" } else { "fail" },
        assigned - pfail - fail,
        c.nodes.len(),
        c.primaries_with_slots(),
        c.current_epoch,
        match (&c.me().primary, c.is_replica()) {
            (Some(p), true) => c.nodes.get(p).map_or(0, |n| n.config_epoch),
            _ => c.me().config_epoch,
        },
    )
}

fn cluster_info(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let text = node(ctx)?.read(info_text);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn cluster_nodes(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let text = node(ctx)?.read(render_nodes);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn cluster_myid(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let id = node(ctx)?.read(|c| c.myself.clone());
    ctx.out.bulk(id.as_bytes());
    Ok(())
}

fn shard_id(c: &Cluster) -> String {
    match (&c.me().primary, c.is_replica()) {
        (Some(p), true) => p.clone(),
        _ => c.myself.clone(),
    }
}

fn cluster_myshardid(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let id = node(ctx)?.read(shard_id);
    ctx.out.bulk(id.as_bytes());
    Ok(())
}

/// Writes one node entry of CLUSTER SLOTS: `[ip, port, id, {}]`.
fn write_slot_node(ctx: &mut Ctx<'_>, n: &cluster::Node) {
    ctx.out.array(4);
    ctx.out.bulk(n.ip.as_bytes());
    ctx.out.int(n.port as i64);
    ctx.out.bulk(n.id.as_bytes());
    ctx.out.map(0);
}

fn cluster_slots(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let (entries, nodes) = node(ctx)?.read(|c| {
        let mut entries: Vec<(u16, u16, String)> = Vec::new();
        for id in c.nodes.keys() {
            for (a, b) in ranges(&c.slots_of(id)) {
                entries.push((a, b, id.clone()));
            }
        }
        entries.sort();
        (entries, c.nodes.clone())
    });
    ctx.out.array(entries.len());
    for (a, b, id) in entries {
        let replicas: Vec<&cluster::Node> = nodes
            .values()
            .filter(|n| n.primary.as_deref() == Some(id.as_str()) && !n.has(node_flags::FAIL))
            .collect();
        ctx.out.array(3 + replicas.len());
        ctx.out.int(a as i64);
        ctx.out.int(b as i64);
        write_slot_node(ctx, &nodes[&id]);
        for r in replicas {
            write_slot_node(ctx, r);
        }
    }
    Ok(())
}

/// One shard of CLUSTER SHARDS: its slot ranges and its nodes, primary first.
type Shard = (Vec<(u16, u16)>, Vec<cluster::Node>);

fn cluster_shards(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let shards = node(ctx)?.read(|c| {
        let mut shards: Vec<Shard> = Vec::new();
        for n in c.nodes.values().filter(|n| n.is_primary()) {
            let mut members = vec![n.clone()];
            members.extend(
                c.nodes
                    .values()
                    .filter(|r| r.primary.as_deref() == Some(n.id.as_str()))
                    .cloned(),
            );
            shards.push((ranges(&c.slots_of(&n.id)), members));
        }
        shards
    });
    ctx.out.array(shards.len());
    for (slots, members) in shards {
        ctx.out.map(2);
        ctx.out.bulk(b"slots");
        ctx.out.array(slots.len() * 2);
        for (a, b) in slots {
            ctx.out.int(a as i64);
            ctx.out.int(b as i64);
        }
        ctx.out.bulk(b"nodes");
        ctx.out.array(members.len());
        for n in members {
            ctx.out.map(7);
            ctx.out.bulk(b"id");
            ctx.out.bulk(n.id.as_bytes());
            ctx.out.bulk(b"port");
            ctx.out.int(n.port as i64);
            ctx.out.bulk(b"ip");
            ctx.out.bulk(n.ip.as_bytes());
            ctx.out.bulk(b"endpoint");
            ctx.out.bulk(n.ip.as_bytes());
            ctx.out.bulk(b"role");
            ctx.out.bulk(if n.is_primary() {
                b"master"
            } else {
                b"replica"
            });
            ctx.out.bulk(b"replication-offset");
            ctx.out.int(n.repl_offset as i64);
            ctx.out.bulk(b"health");
            ctx.out.bulk(if n.has(node_flags::FAIL) {
                b"fail"
            } else {
                b"online"
            });
        }
    }
    Ok(())
}

fn cluster_keyslot(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    node(ctx)?;
    ctx.out.int(cluster::key_hash_slot(args[2]) as i64);
    Ok(())
}

fn cluster_countkeysinslot(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    node(ctx)?;
    let slot = slot_arg(args[2])?;
    ctx.out.int(ctx.server.keyspace.count_in_slot(slot) as i64);
    Ok(())
}

fn cluster_getkeysinslot(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    node(ctx)?;
    let slot = slot_arg(args[2])?;
    let count = int(args[3])
        .ok()
        .filter(|c| *c >= 0)
        .ok_or_else(|| CommandError::err("Invalid number of keys"))?;
    let keys: Vec<Vec<u8>> = ctx
        .server
        .keyspace
        .lock(slot)
        .iter()
        .filter(|e| !e.is_expired(ctx.now_ms))
        .take(count as usize)
        .map(|e| e.key().to_vec())
        .collect();
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn parse_slots(args: &[&[u8]]) -> Result<Vec<u16>, CommandError> {
    let mut slots = Vec::with_capacity(args.len());
    for a in args {
        let s = slot_arg(a)?;
        if slots.contains(&s) {
            return Err(CommandError::err(format!(
                "Slot {s} specified multiple times"
            )));
        }
        slots.push(s);
    }
    Ok(slots)
}

fn parse_ranges(args: &[&[u8]]) -> Result<Vec<u16>, CommandError> {
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity("cluster|addslotsrange".into()));
    }
    let mut slots = Vec::new();
    for pair in args.chunks(2) {
        let (a, b) = (slot_arg(pair[0])?, slot_arg(pair[1])?);
        if a > b {
            return Err(CommandError::err(format!(
                "start slot number {a} is greater than end slot number {b}"
            )));
        }
        for s in a..=b {
            if slots.contains(&s) {
                return Err(CommandError::err(format!(
                    "Slot {s} specified multiple times"
                )));
            }
            slots.push(s);
        }
    }
    Ok(slots)
}

fn change(
    ctx: &mut Ctx<'_>,
    f: impl FnOnce(&mut Cluster) -> Result<Vec<cluster::Action>, String>,
) -> CmdResult {
    let n = node(ctx)?;
    n.with(|c| match f(c) {
        Ok(actions) => (Ok(()), actions),
        Err(e) => (Err(cluster_err(e)), Vec::new()),
    })?;
    ctx.out.ok();
    Ok(())
}

fn cluster_addslots(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let slots = parse_slots(&args[2..])?;
    change(ctx, |c| c.add_slots(&slots))
}

fn cluster_addslotsrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let slots = parse_ranges(&args[2..])?;
    change(ctx, |c| c.add_slots(&slots))
}

fn cluster_delslots(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let slots = parse_slots(&args[2..])?;
    change(ctx, |c| c.del_slots(&slots))
}

fn cluster_delslotsrange(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let slots = parse_ranges(&args[2..])?;
    change(ctx, |c| c.del_slots(&slots))
}

fn cluster_flushslots(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    if !ctx.server.keyspace.is_empty() {
        return Err(CommandError::err(
            "DB must be empty to perform CLUSTER FLUSHSLOTS.",
        ));
    }
    change(ctx, |c| Ok(c.flush_slots()))
}

fn cluster_meet(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if args.len() > 5 {
        return Err(CommandError::WrongArity("cluster|meet".into()));
    }
    let ip = String::from_utf8_lossy(args[2]).into_owned();
    let bad_port = || {
        CommandError::err(format!(
            "Invalid base port specified: {}",
            String::from_utf8_lossy(args[3])
        ))
    };
    let port = int(args[3])
        .ok()
        .filter(|p| (1..65536).contains(p))
        .ok_or_else(bad_port)? as u16;
    let cport = match args.get(4) {
        Some(c) => int(c)
            .ok()
            .filter(|p| (1..65536).contains(p))
            .ok_or_else(|| {
                CommandError::err(format!(
                    "Invalid bus port specified: {}",
                    String::from_utf8_lossy(c)
                ))
            })? as u16,
        None => port.checked_add(10000).ok_or_else(bad_port)?,
    };
    let now = ctx.now_ms;
    change(ctx, |c| c.meet(&ip, port, cport, now))
}

fn cluster_forget(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let id = String::from_utf8_lossy(args[2]).into_owned();
    let now = ctx.now_ms;
    change(ctx, |c| c.forget(&id, now))
}

fn cluster_replicate(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let id = String::from_utf8_lossy(args[2]).into_owned();
    let has_keys = !ctx.server.keyspace.is_empty();
    change(ctx, |c| c.replicate(&id, has_keys))
}

fn cluster_replicas(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let id = String::from_utf8_lossy(args[2]).into_owned();
    let lines = node(ctx)?.read(|c| {
        let Some(n) = c.nodes.get(&id) else {
            return Err(format!("Unknown node {id}"));
        };
        if !n.is_primary() {
            return Err("The specified node is not a master".into());
        }
        let text = render_nodes(c);
        Ok(text
            .lines()
            .filter(|l| l.split(' ').nth(3) == Some(id.as_str()))
            .map(String::from)
            .collect::<Vec<_>>())
    });
    let lines = lines.map_err(cluster_err)?;
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
}

fn cluster_reset(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let hard = match args.get(2) {
        None => false,
        Some(a) if is(a, "HARD") => true,
        Some(a) if is(a, "SOFT") => false,
        Some(_) => return Err(CommandError::Syntax),
    };
    let n = node(ctx)?;
    let primary = n.read(|c| !c.is_replica());
    if primary && !ctx.server.keyspace.is_empty() {
        return Err(CommandError::err(
            "CLUSTER RESET can't be called with master nodes containing keys",
        ));
    }
    if !primary {
        ctx.server.keyspace.flush();
    }
    change(ctx, |c| Ok(c.reset(hard)))
}

fn cluster_saveconfig(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    node(ctx)?
        .save()
        .map_err(|e| CommandError::err(format!("error saving the cluster node config: {e}")))?;
    ctx.out.ok();
    Ok(())
}

fn cluster_set_config_epoch(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let epoch = int(args[2]).ok().filter(|e| *e >= 0).ok_or_else(|| {
        CommandError::err(format!(
            "Invalid config epoch specified: {}",
            String::from_utf8_lossy(args[2])
        ))
    })?;
    change(ctx, |c| c.set_config_epoch(epoch as u64))
}

fn cluster_bumpepoch(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let (bumped, epoch) = node(ctx)?.with(|c| {
        let r = c.bump_epoch();
        (r, vec![cluster::Action::Save])
    });
    ctx.out.simple(&format!(
        "{} {epoch}",
        if bumped { "BUMPED" } else { "STILL" }
    ));
    Ok(())
}

fn cluster_setslot(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let slot = slot_arg(args[2])?;
    let action = String::from_utf8_lossy(args[3]).to_ascii_lowercase();
    let target = args.get(4).map(|a| String::from_utf8_lossy(a).into_owned());
    if args.len() > 5 || (action == "stable") != target.is_none() {
        return Err(CommandError::err(
            "Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
        ));
    }
    let keys = ctx.server.keyspace.count_in_slot(slot);
    change(ctx, |c| c.set_slot(slot, &action, target.as_deref(), keys))
}

fn cluster_count_failure_reports(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let id = String::from_utf8_lossy(args[2]).into_owned();
    let n = node(ctx)?
        .read(|c| c.failure_reports(&id))
        .ok_or_else(|| CommandError::err(format!("Unknown node {id}")))?;
    ctx.out.int(n as i64);
    Ok(())
}

fn cluster_links(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let peers = node(ctx)?.read(|c| {
        c.nodes
            .values()
            .filter(|n| n.id != c.myself)
            .map(|n| (n.id.clone(), n.link_connected))
            .collect::<Vec<_>>()
    });
    ctx.out.array(peers.len());
    for (id, _up) in peers {
        ctx.out.map(6);
        ctx.out.bulk(b"direction");
        ctx.out.bulk(b"to");
        ctx.out.bulk(b"node");
        ctx.out.bulk(id.as_bytes());
        ctx.out.bulk(b"create-time");
        ctx.out.int(0);
        ctx.out.bulk(b"events");
        ctx.out.bulk(b"rw");
        ctx.out.bulk(b"send-buffer-allocated");
        ctx.out.int(0);
        ctx.out.bulk(b"send-buffer-used");
        ctx.out.int(0);
    }
    Ok(())
}

/// CLUSTER FAILOVER [FORCE|TAKEOVER]. The default, coordinated form pauses writes on the
/// primary, waits until this replica has every write the primary acknowledged, then holds
/// an election; FORCE skips the pause, TAKEOVER also skips the election.
fn cluster_failover(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mode = match args.get(2) {
        None => "",
        Some(a) if is(a, "FORCE") => "force",
        Some(a) if is(a, "TAKEOVER") => "takeover",
        Some(_) => return Err(CommandError::Syntax),
    };
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let n = node(ctx)?;
    let primary = n.read(|c| {
        let me = c.me();
        if !me.has(node_flags::REPLICA) {
            return Err("You should send CLUSTER FAILOVER to a replica".to_string());
        }
        let p = me
            .primary
            .as_ref()
            .and_then(|p| c.nodes.get(p))
            .ok_or("I'm a replica but my master is unknown to me")?;
        Ok((p.ip.clone(), p.port, p.has(node_flags::FAIL)))
    });
    let (ip, port, failed) = primary.map_err(cluster_err)?;
    if mode.is_empty() {
        if failed {
            return Err(CommandError::err(
                "Master is down or failed, please use CLUSTER FAILOVER FORCE",
            ));
        }
        catch_up_with_primary(ctx, &ip, port)?;
    }
    let now = ctx.now_ms;
    let takeover = mode == "takeover";
    change(ctx, |c| c.manual_failover(takeover, now))
}

/// Pauses writes on the primary and waits until this replica has applied its whole stream.
fn catch_up_with_primary(ctx: &Ctx<'_>, ip: &str, port: u16) -> Result<(), CommandError> {
    use std::io::{BufRead, BufReader, Read, Write};
    let timeout = ctx.server.config.get_i64("cluster-node-timeout").max(1000) as u64;
    let fail = |why: &str| CommandError::err(format!("Manual failover failed: {why}"));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(ip, port))
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| fail("bad primary address"))?;
    let stream =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(timeout))
            .map_err(|_| fail("cannot reach the primary"))?;
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(timeout)));
    let mut w = stream.try_clone().map_err(|_| fail("socket"))?;
    let mut r = BufReader::new(stream);
    let pause = (timeout * 2).to_string();
    let cmd =
        crate::replication::encode_command(&[b"CLIENT", b"PAUSE", pause.as_bytes(), b"WRITE"]);
    w.write_all(&cmd)
        .map_err(|_| fail("cannot pause the primary"))?;
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(|_| fail("cannot pause the primary"))?;
    w.write_all(&crate::replication::encode_command(&[
        b"INFO",
        b"replication",
    ]))
    .map_err(|_| fail("cannot read the primary's offset"))?;
    line.clear();
    r.read_line(&mut line)
        .map_err(|_| fail("cannot read the primary's offset"))?;
    let len: usize = line
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| fail("bad INFO reply"))?;
    let mut body = vec![0u8; len + 2];
    r.read_exact(&mut body)
        .map_err(|_| fail("bad INFO reply"))?;
    let text = String::from_utf8_lossy(&body);
    let target: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| fail("no offset in INFO"))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout);
    while ctx.server.replication.with_log(|l| l.offset) < target {
        if std::time::Instant::now() > deadline {
            return Err(fail("timed out waiting for the replica to catch up"));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

fn cluster_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let lines = [
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ADDSLOTS <slot> [<slot> ...]",
        "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "BUMPEPOCH",
        "COUNT-FAILURE-REPORTS <node-id>",
        "COUNTKEYSINSLOT <slot>",
        "DELSLOTS <slot> [<slot> ...]",
        "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "FLUSHSLOTS",
        "FORGET <node-id>",
        "GETKEYSINSLOT <slot> <count>",
        "INFO",
        "KEYSLOT <key>",
        "LINKS",
        "MEET <ip> <port> [<bus-port>]",
        "MYID",
        "MYSHARDID",
        "NODES",
        "REPLICATE <node-id>",
        "REPLICAS <node-id>",
        "RESET [HARD|SOFT]",
        "SAVECONFIG",
        "SET-CONFIG-EPOCH <epoch>",
        "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
        "SHARDS",
        "SLOTS",
        "HELP",
    ];
    super::args::reply_help(ctx, &lines)
}
