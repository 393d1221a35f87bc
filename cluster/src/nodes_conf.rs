//! CLUSTER NODES lines and the nodes.conf file (the same lines plus a `vars` line).
//!
//! Line format, field by field as redis-cli parses it:
//! `<id> <ip:port@cport[,hostname]> <flags> <primary|-> <ping-sent> <pong-recv>
//! <config-epoch> <link-state> <slot> <slot> ...`, where a slot is `n`, `a-b`, and for this
//! node `[n->-id]` (migrating) or `[n-<-id]` (importing).

use std::collections::BTreeMap;

use crate::node::{flags, Node, NodeId};
use crate::state::Cluster;
use crate::SLOT_COUNT;

/// Compresses sorted slots into `(start, end)` ranges.
pub fn ranges(slots: &[u16]) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for &s in slots {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == s => *end = s,
            _ => out.push((s, s)),
        }
    }
    out
}

fn node_line(c: &Cluster, n: &Node) -> String {
    let primary = n.primary.clone().unwrap_or_else(|| "-".into());
    let mut line = format!(
        "{} {} {} {} {} {} {} {}",
        n.id,
        n.address(),
        n.flag_names(),
        primary,
        n.ping_sent,
        n.pong_received,
        n.config_epoch,
        if n.link_connected || n.id == c.myself {
            "connected"
        } else {
            "disconnected"
        }
    );
    for (a, b) in ranges(&c.slots_of(&n.id)) {
        if a == b {
            line.push_str(&format!(" {a}"));
        } else {
            line.push_str(&format!(" {a}-{b}"));
        }
    }
    if n.id == c.myself {
        for (s, to) in &c.migrating {
            line.push_str(&format!(" [{s}->-{to}]"));
        }
        for (s, from) in &c.importing {
            line.push_str(&format!(" [{s}-<-{from}]"));
        }
    }
    line
}

/// The CLUSTER NODES text (myself first, then by id), each line ending with `\n`.
pub fn render_nodes(c: &Cluster) -> String {
    let mut out = String::new();
    out.push_str(&node_line(c, c.me()));
    out.push('\n');
    for n in c.nodes.values() {
        if n.id != c.myself && !n.has(flags::HANDSHAKE) {
            out.push_str(&node_line(c, n));
            out.push('\n');
        }
    }
    out
}

/// The nodes.conf content.
pub fn render_file(c: &Cluster) -> String {
    let mut s = render_nodes(c);
    s.push_str(&format!(
        "vars currentEpoch {} lastVoteEpoch {}\n",
        c.current_epoch, c.last_vote_epoch
    ));
    s
}

/// A state read back from nodes.conf.
#[derive(Debug)]
pub struct Loaded {
    /// This node's id.
    pub myself: NodeId,
    /// Every node.
    pub nodes: BTreeMap<NodeId, Node>,
    /// Slot owners.
    pub owners: Vec<Option<crate::state::SlotOwner>>,
    /// Migrating slots.
    pub migrating: BTreeMap<u16, NodeId>,
    /// Importing slots.
    pub importing: BTreeMap<u16, NodeId>,
    /// currentEpoch.
    pub current_epoch: u64,
    /// lastVoteEpoch.
    pub last_vote_epoch: u64,
}

fn parse_addr(text: &str) -> Option<(String, u16, u16, String)> {
    let (addr, hostname) = match text.split_once(',') {
        Some((a, h)) => (a, h.to_string()),
        None => (text, String::new()),
    };
    let (hostport, cport) = addr.split_once('@')?;
    let (ip, port) = hostport.rsplit_once(':')?;
    Some((
        ip.to_string(),
        port.parse().ok()?,
        cport.parse().ok()?,
        hostname,
    ))
}

/// Parses nodes.conf; the error names the line and the reason.
pub fn parse_file(text: &str) -> Result<Loaded, String> {
    let mut loaded = Loaded {
        myself: String::new(),
        nodes: BTreeMap::new(),
        owners: vec![None; SLOT_COUNT],
        migrating: BTreeMap::new(),
        importing: BTreeMap::new(),
        current_epoch: 0,
        last_vote_epoch: 0,
    };
    for (i, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("line {}: {why}: {line}", i + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields[0] == "vars" {
            for pair in fields[1..].chunks(2) {
                let value: u64 = pair
                    .get(1)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad("bad vars"))?;
                match pair[0] {
                    "currentEpoch" => loaded.current_epoch = value,
                    "lastVoteEpoch" => loaded.last_vote_epoch = value,
                    _ => {}
                }
            }
            continue;
        }
        if fields.len() < 8 {
            return Err(bad("too few fields"));
        }
        let id = fields[0].to_string();
        if id.len() != 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("bad node id"));
        }
        let (ip, port, cport, hostname) =
            parse_addr(fields[1]).ok_or_else(|| bad("bad address"))?;
        let flags = Node::parse_flags(fields[2]);
        let mut n = Node::new(id.clone(), &ip, port, cport, flags);
        n.hostname = hostname;
        n.primary = (fields[3] != "-").then(|| fields[3].to_string());
        n.config_epoch = fields[6].parse().map_err(|_| bad("bad config epoch"))?;
        if flags & flags::MYSELF != 0 {
            loaded.myself = id.clone();
        }
        let owner: crate::state::SlotOwner = std::sync::Arc::from(id.as_str());
        for slot in &fields[8..] {
            if let Some(inner) = slot.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                if let Some((s, to)) = inner.split_once("->-") {
                    loaded
                        .migrating
                        .insert(s.parse().map_err(|_| bad("bad slot"))?, to.to_string());
                } else if let Some((s, from)) = inner.split_once("-<-") {
                    loaded
                        .importing
                        .insert(s.parse().map_err(|_| bad("bad slot"))?, from.to_string());
                }
                continue;
            }
            let (a, b) = match slot.split_once('-') {
                Some((a, b)) => (a, b),
                None => (*slot, *slot),
            };
            let (a, b): (usize, usize) = (
                a.parse().map_err(|_| bad("bad slot"))?,
                b.parse().map_err(|_| bad("bad slot"))?,
            );
            if a > b || b >= SLOT_COUNT {
                return Err(bad("slot out of range"));
            }
            for s in a..=b {
                loaded.owners[s] = Some(owner.clone());
            }
        }
        loaded.nodes.insert(id, n);
    }
    if loaded.myself.is_empty() {
        return Err("no line with the myself flag".into());
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Settings;

    fn settings(port: u16) -> Settings {
        Settings {
            node_timeout: 15000,
            require_full_coverage: true,
            announce_ip: "127.0.0.1".into(),
            port,
            cport: port + 10000,
            hostname: String::new(),
        }
    }

    #[test]
    fn ranges_compress() {
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8]), vec![(0, 2), (5, 5), (7, 8)]);
    }

    #[test]
    fn file_round_trip() {
        let mut c = Cluster::new(settings(7000), 1);
        c.add_slots(&(0..5461).collect::<Vec<_>>()).unwrap();
        c.set_config_epoch(1).unwrap();
        let text = render_file(&c);
        assert!(
            text.starts_with(&format!(
                "{} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n",
                c.myself
            )),
            "{text}"
        );
        let loaded = parse_file(&text).unwrap();
        assert_eq!(loaded.myself, c.myself);
        assert_eq!(loaded.owners[5460].as_deref(), Some(c.myself.as_str()));
        assert_eq!(loaded.owners[5461], None);
        assert_eq!(loaded.current_epoch, 1);
        assert!(parse_file("garbage line\n").is_err());
    }
}
