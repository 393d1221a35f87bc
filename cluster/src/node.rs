//! Cluster nodes as one node sees them.

use std::collections::BTreeMap;

/// Node flags, as CLUSTER NODES prints them.
pub mod flags {
    /// This node.
    pub const MYSELF: u16 = 1 << 0;
    /// A primary.
    pub const PRIMARY: u16 = 1 << 1;
    /// A replica.
    pub const REPLICA: u16 = 1 << 2;
    /// Possibly failing (no PONG within the node timeout).
    pub const PFAIL: u16 = 1 << 3;
    /// Failing (a majority of primaries agreed).
    pub const FAIL: u16 = 1 << 4;
    /// Being met; its real id is not known yet.
    pub const HANDSHAKE: u16 = 1 << 5;
    /// Its address is not known.
    pub const NOADDR: u16 = 1 << 6;
    /// A replica that never fails over.
    pub const NOFAILOVER: u16 = 1 << 7;
}

/// The name of a node: 40 lower-case hex digits.
pub type NodeId = String;

/// What this node knows about one node of the cluster (itself included).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its id.
    pub id: NodeId,
    /// Its IP as announced or learned (empty if unknown).
    pub ip: String,
    /// Its client port.
    pub port: u16,
    /// Its cluster-bus port.
    pub cport: u16,
    /// Its announced hostname (may be empty).
    pub hostname: String,
    /// [`flags`] bits.
    pub flags: u16,
    /// The primary it replicates, for replicas.
    pub primary: Option<NodeId>,
    /// When we sent a PING still unanswered (ms; 0: none pending).
    pub ping_sent: u64,
    /// When we last got a PONG (ms).
    pub pong_received: u64,
    /// When we last sent a PING (ms).
    pub last_ping: u64,
    /// When we last heard anything from it (ms).
    pub seen: u64,
    /// Its configuration epoch.
    pub config_epoch: u64,
    /// Whether our bus link to it is up.
    pub link_connected: bool,
    /// Its replication offset as last reported.
    pub repl_offset: u64,
    /// Failure reports from other primaries: reporter id -> time (ms).
    pub fail_reports: BTreeMap<NodeId, u64>,
    /// When it was marked FAIL (ms).
    pub fail_time: u64,
}

impl Node {
    /// A node with only an id and address known.
    pub fn new(id: NodeId, ip: &str, port: u16, cport: u16, flags: u16) -> Node {
        Node {
            id,
            ip: ip.to_string(),
            port,
            cport,
            hostname: String::new(),
            flags,
            primary: None,
            ping_sent: 0,
            pong_received: 0,
            last_ping: 0,
            seen: 0,
            config_epoch: 0,
            link_connected: false,
            repl_offset: 0,
            fail_reports: BTreeMap::new(),
            fail_time: 0,
        }
    }

    /// Whether any flag in `mask` is set.
    #[inline]
    pub fn has(&self, mask: u16) -> bool {
        self.flags & mask != 0
    }

    /// Whether the node is a primary.
    pub fn is_primary(&self) -> bool {
        self.has(flags::PRIMARY)
    }

    /// The flags as CLUSTER NODES prints them (`myself,master`, `slave,fail?` ...).
    pub fn flag_names(&self) -> String {
        let mut names = Vec::new();
        for (bit, name) in [
            (flags::MYSELF, "myself"),
            (flags::PRIMARY, "master"),
            (flags::REPLICA, "slave"),
            (flags::PFAIL, "fail?"),
            (flags::FAIL, "fail"),
            (flags::HANDSHAKE, "handshake"),
            (flags::NOADDR, "noaddr"),
            (flags::NOFAILOVER, "nofailover"),
        ] {
            if self.flags & bit != 0 {
                names.push(name);
            }
        }
        if names.is_empty() {
            "noflags".into()
        } else {
            names.join(",")
        }
    }

    /// Parses a flag list as written by [`Node::flag_names`].
    pub fn parse_flags(text: &str) -> u16 {
        text.split(',')
            .map(|f| match f {
                "myself" => flags::MYSELF,
                "master" => flags::PRIMARY,
                "slave" => flags::REPLICA,
                "fail?" => flags::PFAIL,
                "fail" => flags::FAIL,
                "handshake" => flags::HANDSHAKE,
                "noaddr" => flags::NOADDR,
                "nofailover" => flags::NOFAILOVER,
                _ => 0,
            })
            .fold(0, |a, b| a | b)
    }

    /// `ip:port@cport[,hostname]`.
    pub fn address(&self) -> String {
        let mut s = format!("{}:{}@{}", self.ip, self.port, self.cport);
        if !self.hostname.is_empty() {
            s.push(',');
            s.push_str(&self.hostname);
        }
        s
    }
}

/// Generates a random node id.
pub fn random_id(rng: &mut impl rand::Rng) -> NodeId {
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}
