//! The routing snapshot and every redirect rule, in one place.
//!
//! The cluster state machine publishes an immutable [`Routing`] after each change; each
//! connection keeps the latest one and checks every keyed command against it with
//! [`Routing::route`]. The outcome is a typed [`Redirect`] turned into Redis's wire text
//! (`-MOVED 3999 127.0.0.1:7001`, `-ASK ...`, `-CROSSSLOT ...`) by `CommandError`.

use std::collections::HashMap;

use cluster::{Cluster, SLOT_COUNT};

/// Why a command cannot run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The slot lives elsewhere.
    Moved {
        /// Slot.
        slot: u16,
        /// `ip:port` of the owner.
        addr: String,
    },
    /// The slot is migrating and the key is not here: ask the target.
    Ask {
        /// Slot.
        slot: u16,
        /// `ip:port` of the target.
        addr: String,
    },
    /// Keys in different slots.
    CrossSlot,
    /// A multi-key command on a slot being migrated with its keys split.
    TryAgain,
    /// Nobody serves the slot.
    Unserved,
    /// The cluster is down.
    Down,
}

/// An immutable view of slot ownership for routing.
#[derive(Debug, Clone)]
pub struct Routing {
    /// Owner of each slot, an index into `addrs` (`u16::MAX`: none).
    owner: Vec<u16>,
    /// `ip:port` of each node in `owner`.
    addrs: Vec<String>,
    /// This node's index.
    myself: u16,
    /// The primary this node replicates, if it is a replica.
    my_primary: Option<u16>,
    /// Slots this node migrates away, with the target's index.
    migrating: HashMap<u16, u16>,
    /// Slots this node imports.
    importing: HashMap<u16, u16>,
    /// `cluster_state:ok`.
    pub ok: bool,
}

/// What the router needs to know about the command.
pub struct Request<'a> {
    /// The slots of its keys, in order.
    pub slots: &'a [u16],
    /// Whether each key exists here (only consulted for migrating/importing slots).
    pub key_exists: &'a dyn Fn(usize) -> bool,
    /// Whether the command only reads.
    pub readonly: bool,
    /// Whether the client sent ASKING (or the command is RESTORE-ASKING).
    pub asking: bool,
    /// Whether the client sent READONLY.
    pub client_readonly: bool,
    /// `cluster-allow-reads-when-down`.
    pub reads_when_down: bool,
}

impl Routing {
    /// Builds the snapshot from the state machine.
    pub fn from_state(c: &Cluster) -> Routing {
        let mut index: HashMap<&str, u16> = HashMap::new();
        let mut addrs = Vec::new();
        for (i, n) in c.nodes.values().enumerate() {
            index.insert(n.id.as_str(), i as u16);
            addrs.push(format!("{}:{}", n.ip, n.port));
        }
        let owner = c
            .owners
            .iter()
            .map(|o| {
                o.as_deref()
                    .and_then(|id| index.get(id).copied())
                    .unwrap_or(u16::MAX)
            })
            .collect();
        let idx = |id: &str| index.get(id).copied();
        Routing {
            owner,
            addrs,
            myself: idx(&c.myself).unwrap_or(u16::MAX),
            my_primary: c.me().primary.as_deref().and_then(idx),
            migrating: c
                .migrating
                .iter()
                .filter_map(|(s, id)| Some((*s, idx(id)?)))
                .collect(),
            importing: c
                .importing
                .iter()
                .filter_map(|(s, id)| Some((*s, idx(id)?)))
                .collect(),
            ok: c.is_ok(),
        }
    }

    /// A snapshot for a node with no cluster (everything is local).
    pub fn empty() -> Routing {
        Routing {
            owner: vec![u16::MAX; SLOT_COUNT],
            addrs: Vec::new(),
            myself: 0,
            my_primary: None,
            migrating: HashMap::new(),
            importing: HashMap::new(),
            ok: false,
        }
    }

    /// Decides where a keyed command runs.
    pub fn route(&self, req: &Request<'_>) -> Result<(), Redirect> {
        let Some(&slot) = req.slots.first() else {
            return Ok(());
        };
        if req.slots.iter().any(|s| *s != slot) {
            return Err(Redirect::CrossSlot);
        }
        if !(self.ok || req.readonly && req.reads_when_down) {
            return Err(Redirect::Down);
        }
        let owner = self.owner[slot as usize];
        if owner == u16::MAX {
            return Err(Redirect::Unserved);
        }
        let present = || {
            (0..req.slots.len())
                .filter(|i| (req.key_exists)(*i))
                .count()
        };
        if owner == self.myself {
            if let Some(&target) = self.migrating.get(&slot) {
                let n = present();
                if n == req.slots.len() {
                    return Ok(());
                }
                if n == 0 {
                    return Err(Redirect::Ask {
                        slot,
                        addr: self.addrs[target as usize].clone(),
                    });
                }
                return Err(Redirect::TryAgain);
            }
            return Ok(());
        }
        if req.asking && self.importing.contains_key(&slot) {
            if req.slots.len() > 1 && present() != req.slots.len() {
                return Err(Redirect::TryAgain);
            }
            return Ok(());
        }
        if req.readonly && req.client_readonly && self.my_primary == Some(owner) {
            return Ok(());
        }
        Err(Redirect::Moved {
            slot,
            addr: self.addrs[owner as usize].clone(),
        })
    }
}
