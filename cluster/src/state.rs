//! The cluster state machine: membership, slot ownership, epochs and failure detection.
//!
//! It does no I/O and reads no clock. The driver feeds it messages ([`Cluster::handle`]) and
//! timer ticks ([`Cluster::tick`]) with the current time, and carries out the [`Action`]s it
//! returns: messages to send, "save nodes.conf", messages to deliver locally. Administrative
//! changes (CLUSTER ADDSLOTS, SETSLOT, MEET, ...) are methods that return an error text or
//! the actions to carry out. The same code therefore runs over real sockets and over a
//! simulated network in tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::message::{
    self, empty_slots, has_slot, set_slot, Gossip, Header, Kind, Message, Payload, Slots,
};
use crate::node::{flags, random_id, Node, NodeId};
use crate::SLOT_COUNT;

/// Redis's default `repl-ping-replica-period`, part of the replica validity rule.
const REPL_PING_PERIOD_MS: u64 = 10_000;

/// A slot owner's node id, shared by all the slots it owns.
pub type SlotOwner = Arc<str>;

/// Tells which slot owners are one node, comparing bytes once per run of slots that
/// share an owner allocation instead of once per slot.
pub(crate) struct OwnerMatcher<'a> {
    id: &'a str,
    last: Option<SlotOwner>,
    answer: bool,
}

impl<'a> OwnerMatcher<'a> {
    /// A matcher for `id`.
    pub(crate) fn new(id: &'a str) -> OwnerMatcher<'a> {
        OwnerMatcher {
            id,
            last: None,
            answer: false,
        }
    }

    /// Whether `owner` is the node this matcher looks for.
    pub(crate) fn is(&mut self, owner: &Option<SlotOwner>) -> bool {
        let Some(o) = owner else {
            return false;
        };
        if !self.last.as_ref().is_some_and(|l| Arc::ptr_eq(l, o)) {
            self.answer = **o == *self.id;
            self.last = Some(o.clone());
        }
        self.answer
    }
}

/// Settings the state machine needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `cluster-node-timeout` in milliseconds.
    pub node_timeout: u64,
    /// `cluster-require-full-coverage`.
    pub require_full_coverage: bool,
    /// The IP to announce (empty: learned from peers).
    pub announce_ip: String,
    /// Client port to announce.
    pub port: u16,
    /// Bus port to announce.
    pub cport: u16,
    /// Hostname to announce.
    pub hostname: String,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a message to a known node.
    Send {
        /// Recipient.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// Send a message to an address whose node id is not known yet (MEET).
    SendAddr {
        /// IP.
        ip: String,
        /// Bus port.
        cport: u16,
        /// The message.
        msg: Message,
    },
    /// Persist nodes.conf now.
    Save,
    /// Log a protocol event (failover steps, refused votes) at notice level.
    Log(String),
    /// Deliver a PUBLISH received from the bus to local subscribers.
    Deliver {
        /// Channel.
        channel: Vec<u8>,
        /// Message.
        message: Vec<u8>,
    },
}

/// A node being met: known by address only.
#[derive(Debug, Clone)]
struct Handshake {
    ip: String,
    port: u16,
    cport: u16,
    started: u64,
    last_meet: u64,
}

/// One node's view of the cluster.
pub struct Cluster {
    /// This node's id.
    pub myself: NodeId,
    /// The cluster's current epoch as this node knows it.
    pub current_epoch: u64,
    /// The last epoch this node voted in.
    pub last_vote_epoch: u64,
    /// Every known node, this one included.
    pub nodes: BTreeMap<NodeId, Node>,
    /// The owner of each slot. The slots of one owner share one allocation, so scans
    /// compare each run of slots once.
    pub owners: Vec<Option<SlotOwner>>,
    /// For each slot another node owns: the configEpoch of the claim that gave it that
    /// owner. Conflicts are judged with it, not with the owner's current configEpoch: a
    /// node that was away can know an owner's new epoch together with an old slot it has
    /// since lost, and must not defend that slot with the new epoch. (Our own slots are
    /// judged with our own configEpoch.)
    slot_epochs: Vec<u64>,
    /// Slots this node is migrating away, to which node.
    pub migrating: BTreeMap<u16, NodeId>,
    /// Slots this node is importing, from which node.
    pub importing: BTreeMap<u16, NodeId>,
    /// Settings.
    pub settings: Settings,
    handshakes: Vec<Handshake>,
    forgotten: BTreeMap<NodeId, u64>,
    rng: SmallRng,
    state_ok: bool,
    election: Option<Election>,
    /// When this node last voted for a replica of each primary.
    voted_for_primary: BTreeMap<NodeId, u64>,
    /// `cluster-replica-no-failover`.
    pub no_failover: bool,
    /// `cluster-replica-validity-factor` (0: a replica's data is always fresh enough).
    pub validity_factor: u64,
    /// For how long this replica has had no link to its primary (0: connected), set by
    /// the driver every tick.
    pub primary_link_down_ms: u64,
    /// When the last "data too old" refusal was logged.
    last_validity_log: u64,
    /// `cluster-migration-barrier`: replicas a primary keeps before one may migrate to an
    /// orphaned primary (negative: never migrate).
    pub migration_barrier: i64,
    /// Primaries seen with at least one replica (only those count as orphaned later).
    had_replicas: std::collections::BTreeSet<NodeId>,
    /// Since when an orphaned primary this replica could migrate to has been seen.
    orphan_since: Option<(NodeId, u64)>,
    /// Failovers this node won (for tests and INFO).
    pub failovers_won: u64,
}

/// A failover this replica is running or has scheduled.
#[derive(Debug, Clone)]
struct Election {
    /// When to ask for votes.
    start_at: u64,
    /// The epoch asked for (0 until the request is sent).
    epoch: u64,
    /// When the request was sent.
    sent_at: u64,
    /// Primaries that granted their vote.
    votes: Vec<NodeId>,
    /// A manual failover (CLUSTER FAILOVER): votes are granted although the primary works.
    forced: bool,
}

impl Cluster {
    /// A fresh node that knows only itself.
    pub fn new(settings: Settings, seed: u64) -> Cluster {
        let mut rng = SmallRng::seed_from_u64(seed);
        let myself = random_id(&mut rng);
        let mut c = Cluster {
            myself: myself.clone(),
            current_epoch: 0,
            last_vote_epoch: 0,
            nodes: BTreeMap::new(),
            owners: vec![None; SLOT_COUNT],
            slot_epochs: vec![0; SLOT_COUNT],
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            settings,
            handshakes: Vec::new(),
            forgotten: BTreeMap::new(),
            rng,
            state_ok: false,
            election: None,
            voted_for_primary: BTreeMap::new(),
            no_failover: false,
            validity_factor: 10,
            primary_link_down_ms: 0,
            last_validity_log: 0,
            migration_barrier: 1,
            had_replicas: Default::default(),
            orphan_since: None,
            failovers_won: 0,
        };
        let me = c.myself_node();
        c.nodes.insert(myself, me);
        c.update_state(0);
        c
    }

    fn myself_node(&self) -> Node {
        let mut n = Node::new(
            self.myself.clone(),
            &self.settings.announce_ip,
            self.settings.port,
            self.settings.cport,
            flags::MYSELF | flags::PRIMARY,
        );
        n.hostname = self.settings.hostname.clone();
        n.link_connected = true;
        n
    }

    /// This node's record.
    pub fn me(&self) -> &Node {
        &self.nodes[&self.myself]
    }

    fn me_mut(&mut self) -> &mut Node {
        self.nodes
            .get_mut(&self.myself)
            .expect("myself is always known")
    }

    /// Whether the cluster is usable (`cluster_state:ok`).
    pub fn is_ok(&self) -> bool {
        self.state_ok
    }

    /// Whether this node is a replica.
    pub fn is_replica(&self) -> bool {
        self.me().has(flags::REPLICA)
    }

    /// Slots owned by `id`.
    pub fn slots_of(&self, id: &str) -> Vec<u16> {
        let mut mine = OwnerMatcher::new(id);
        (0..SLOT_COUNT as u16)
            .filter(|&s| mine.is(&self.owners[s as usize]))
            .collect()
    }

    fn slot_bitmap(&self, id: &str) -> Slots {
        let mut b = empty_slots();
        let mut mine = OwnerMatcher::new(id);
        for (s, owner) in self.owners.iter().enumerate() {
            if mine.is(owner) {
                set_slot(&mut b, s);
            }
        }
        b
    }

    /// The distinct slot owners, and whether every slot has one.
    fn owner_summary(&self) -> (Vec<&str>, bool) {
        let mut distinct: Vec<&str> = Vec::new();
        let mut covered = true;
        let mut last: Option<&SlotOwner> = None;
        for o in &self.owners {
            match o {
                None => covered = false,
                Some(id) => {
                    if !last.is_some_and(|l| Arc::ptr_eq(l, id)) && !distinct.contains(&&**id) {
                        distinct.push(id);
                    }
                    last = Some(id);
                }
            }
        }
        (distinct, covered)
    }

    /// The configEpoch slot `s`'s ownership stands on: ours for our own slots, else the
    /// epoch of the claim that gave it its owner. `mine` matches this node's id.
    fn claim_epoch(&self, s: usize, mine: &mut OwnerMatcher) -> u64 {
        if mine.is(&self.owners[s]) {
            self.me().config_epoch
        } else {
            self.slot_epochs[s]
        }
    }

    /// The slots `id` owns by a claim of configEpoch `epoch`.
    fn claim_bitmap(&self, id: &str, epoch: u64) -> Slots {
        let mut b = empty_slots();
        let mut owner = OwnerMatcher::new(id);
        let mut mine = OwnerMatcher::new(&self.myself);
        for s in 0..SLOT_COUNT {
            if owner.is(&self.owners[s]) && self.claim_epoch(s, &mut mine) == epoch {
                set_slot(&mut b, s);
            }
        }
        b
    }

    /// The allocation `id`'s other slots share, or a new one.
    fn shared_owner(&self, id: &str) -> SlotOwner {
        let mut matcher = OwnerMatcher::new(id);
        self.owners
            .iter()
            .find(|o| matcher.is(o))
            .and_then(|o| o.clone())
            .unwrap_or_else(|| Arc::from(id))
    }

    /// Whether `id` owns at least one slot.
    pub fn owns_slots(&self, id: &str) -> bool {
        let mut mine = OwnerMatcher::new(id);
        self.owners.iter().any(|o| mine.is(o))
    }

    /// Number of primaries that own at least one slot.
    pub fn primaries_with_slots(&self) -> usize {
        self.owner_summary().0.len()
    }

    fn header(&self) -> Header {
        let me = self.me();
        // Replicas advertise their primary's slots and epoch, as Redis does.
        let (slots_of, config_epoch) = match (&me.primary, me.has(flags::REPLICA)) {
            (Some(p), true) => (p.as_str(), self.nodes.get(p).map_or(0, |n| n.config_epoch)),
            _ => (self.myself.as_str(), me.config_epoch),
        };
        Header {
            id: self.myself.clone(),
            ip: me.ip.clone(),
            port: me.port,
            cport: me.cport,
            hostname: me.hostname.clone(),
            flags: me.flags & !(flags::MYSELF),
            primary: me.primary.clone(),
            config_epoch,
            current_epoch: self.current_epoch,
            repl_offset: me.repl_offset,
            slots: self.slot_bitmap(slots_of),
        }
    }

    fn gossip(&mut self, now: u64, exclude: &str) -> Vec<Gossip> {
        let mut candidates: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && n.id != exclude && !n.has(flags::HANDSHAKE))
            .collect();
        candidates.shuffle(&mut self.rng);
        // Suspected nodes first, so failure reports travel even in large clusters.
        candidates.sort_by_key(|n| !n.has(flags::PFAIL | flags::FAIL));
        candidates
            .into_iter()
            .take(10)
            .map(|n| Gossip {
                id: n.id.clone(),
                ip: n.ip.clone(),
                port: n.port,
                cport: n.cport,
                flags: n.flags,
                pong_age: now.saturating_sub(n.pong_received),
            })
            .collect()
    }

    /// Builds a message of `kind` from this node.
    pub fn message(&mut self, kind: Kind, payload: Payload, now: u64, to: &str) -> Message {
        let gossip = if matches!(kind, Kind::Ping | Kind::Pong | Kind::Meet) {
            self.gossip(now, to)
        } else {
            Vec::new()
        };
        Message {
            kind,
            header: self.header(),
            gossip,
            payload,
        }
    }

    /// How often each node is pinged. Frequent enough that every node hears from a live
    /// peer well within the node timeout, so that all primaries notice a dead one at about
    /// the same moment (their failure reports then agree at once).
    fn ping_interval(&self) -> u64 {
        (self.settings.node_timeout / 4).clamp(100, 500)
    }

    /// Advances time: sends PINGs and MEETs, detects failures.
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        // Pending handshakes.
        let limit = (self.settings.node_timeout * 2).max(10_000);
        self.handshakes
            .retain(|h| now.saturating_sub(h.started) < limit);
        self.forgotten.retain(|_, until| *until > now);
        let mut meets = Vec::new();
        for h in &mut self.handshakes {
            if now.saturating_sub(h.last_meet) >= 1000 || h.last_meet == 0 {
                h.last_meet = now;
                meets.push((h.ip.clone(), h.cport));
            }
        }
        for (ip, cport) in meets {
            let msg = self.message(Kind::Meet, Payload::None, now, "");
            actions.push(Action::SendAddr { ip, cport, msg });
        }
        // Pings.
        let interval = self.ping_interval();
        for id in self.others() {
            // A PING is due `interval` after the last sign of life, and is repeated every
            // `interval` while unanswered; `ping_sent` keeps the first unanswered one, which
            // failure detection measures from.
            let due = {
                let n = &self.nodes[&id];
                let last = n.pong_received.max(n.seen).max(n.last_ping);
                now.saturating_sub(last) >= interval
            };
            if due {
                let msg = self.message(Kind::Ping, Payload::None, now, &id);
                if let Some(n) = self.nodes.get_mut(&id) {
                    if n.ping_sent == 0 {
                        n.ping_sent = now;
                    }
                    n.last_ping = now;
                }
                actions.push(Action::Send { to: id, msg });
            }
        }
        // Failure detection: a node that has said nothing for node-timeout although a PING
        // to it is pending is PFAIL. Silence is measured from the last thing heard from it
        // (its PONGs and its own PINGs), not from our pending PING, so that detection takes
        // node-timeout after the death rather than node-timeout after our next PING.
        let timeout = self.settings.node_timeout;
        let mut changed = false;
        for n in self.nodes.values_mut() {
            if n.id == self.myself || n.ping_sent == 0 || n.has(flags::PFAIL | flags::FAIL) {
                continue;
            }
            let heard = n.pong_received.max(n.seen);
            let silent_since = if heard == 0 { n.ping_sent } else { heard };
            if now.saturating_sub(silent_since) > timeout {
                n.flags |= flags::PFAIL;
                changed = true;
            }
        }
        if changed {
            // Tell everyone now rather than at the next PING: the other primaries' reports
            // are what turns PFAIL into FAIL.
            actions.extend(self.broadcast(Kind::Ping, Payload::None, now));
        }
        actions.extend(self.check_failures(now));
        if changed {
            self.update_state(now);
        }
        actions.extend(self.failover_step(now));
        actions.extend(self.replica_migration_step(now));
        actions
    }

    /// Working replicas of `primary` (not failing).
    fn ok_replicas(&self, primary: &str) -> Vec<&NodeId> {
        self.nodes
            .values()
            .filter(|n| {
                n.primary.as_deref() == Some(primary)
                    && n.has(flags::REPLICA)
                    && !n.has(flags::PFAIL | flags::FAIL)
            })
            .map(|n| &n.id)
            .collect()
    }

    /// Replica migration (Redis's `cluster-migration-barrier`): when a primary with slots
    /// has lost all its replicas, the replica with the smallest id among those of the
    /// primary with the most replicas (more than the barrier) moves to it, after 5 s.
    fn replica_migration_step(&mut self, now: u64) -> Vec<Action> {
        const MIGRATION_DELAY_MS: u64 = 5000;
        let primaries: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.is_primary() && !n.has(flags::FAIL))
            .map(|n| n.id.clone())
            .collect();
        for p in &primaries {
            if !self.ok_replicas(p).is_empty() {
                self.had_replicas.insert(p.clone());
            }
        }
        let me = self.me().clone();
        let Some(my_primary) = me.primary.clone().filter(|_| me.has(flags::REPLICA)) else {
            self.orphan_since = None;
            return Vec::new();
        };
        if !self.state_ok || self.migration_barrier < 0 || self.election.is_some() {
            self.orphan_since = None;
            return Vec::new();
        }
        let mine: Vec<NodeId> = self.ok_replicas(&my_primary).into_iter().cloned().collect();
        let max = primaries
            .iter()
            .map(|p| self.ok_replicas(p).len())
            .max()
            .unwrap_or(0);
        let smallest = mine.iter().min().map(|id| id.as_str());
        if (mine.len() as i64) <= self.migration_barrier
            || mine.len() < max
            || smallest != Some(self.myself.as_str())
        {
            self.orphan_since = None;
            return Vec::new();
        }
        let orphan = primaries.iter().find(|p| {
            **p != my_primary
                && self.owns_slots(p)
                && self.had_replicas.contains(*p)
                && self.ok_replicas(p).is_empty()
                && self.nodes.get(*p).is_some_and(|n| !n.has(flags::PFAIL))
        });
        let Some(orphan) = orphan.cloned() else {
            self.orphan_since = None;
            return Vec::new();
        };
        match &self.orphan_since {
            Some((id, since)) if *id == orphan => {
                if now.saturating_sub(*since) < MIGRATION_DELAY_MS {
                    return Vec::new();
                }
            }
            _ => {
                self.orphan_since = Some((orphan, now));
                return Vec::new();
            }
        }
        self.orphan_since = None;
        let mut actions = vec![Action::Log(format!(
            "Migrating to orphaned master {orphan} (my master {my_primary} keeps {} working replicas, barrier {}).",
            mine.len() - 1,
            self.migration_barrier
        ))];
        let n = self.me_mut();
        n.primary = Some(orphan);
        actions.push(Action::Save);
        self.update_state(now);
        actions
    }

    /// The fixed part of the failover delay (Redis uses 500 ms). It only has to let the FAIL
    /// broadcast reach the other primaries before they are asked to vote, which takes a
    /// round trip, so it is at most 100 ms and scales down with small node timeouts.
    fn failover_base_delay(&self) -> u64 {
        (self.settings.node_timeout / 20).clamp(10, 100)
    }

    /// Replicas of my primary that have more data than me.
    fn replica_rank(&self) -> u64 {
        let me = self.me();
        let Some(primary) = &me.primary else { return 0 };
        self.nodes
            .values()
            .filter(|n| {
                n.id != self.myself
                    && n.primary.as_ref() == Some(primary)
                    && n.has(flags::REPLICA)
                    && !n.has(flags::FAIL | flags::PFAIL)
                    && n.repl_offset > me.repl_offset
            })
            .count() as u64
    }

    /// Drives an automatic or manual failover on a replica.
    fn failover_step(&mut self, now: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        let me = self.me().clone();
        let primary_failed = me.has(flags::REPLICA)
            && me
                .primary
                .as_ref()
                .and_then(|p| self.nodes.get(p))
                .is_some_and(|p| p.has(flags::FAIL))
            && me.primary.as_ref().is_some_and(|p| self.owns_slots(p));
        let forced = self.election.as_ref().is_some_and(|e| e.forced);
        if !forced && (!primary_failed || self.no_failover) {
            self.election = None;
            return actions;
        }
        let timeout = self.settings.node_timeout;
        if !forced && self.election.is_none() && !self.data_is_fresh() {
            if now.saturating_sub(self.last_validity_log) >= 10_000 {
                self.last_validity_log = now;
                actions.push(Action::Log(format!(
                    "Disconnected from the primary for {} ms: my data is too old to fail over (cluster-replica-validity-factor {}).",
                    self.primary_link_down_ms, self.validity_factor
                )));
            }
            return actions;
        }
        if self.election.is_none() {
            let base = self.failover_base_delay();
            let jitter = self.rng.gen_range(0..=base);
            let rank = self.replica_rank();
            let delay = base + jitter + rank * base * 2;
            actions.push(Action::Log(format!(
                "Start of election delayed for {delay} milliseconds (rank #{rank}, offset {}).",
                me.repl_offset
            )));
            self.election = Some(Election {
                start_at: now + delay,
                epoch: 0,
                sent_at: 0,
                votes: Vec::new(),
                forced: false,
            });
        }
        let Some(e) = self.election.clone() else {
            return actions;
        };
        if e.epoch == 0 {
            if now < e.start_at {
                return actions;
            }
            self.current_epoch += 1;
            let epoch = self.current_epoch;
            if let Some(el) = self.election.as_mut() {
                el.epoch = epoch;
                el.sent_at = now;
            }
            let primaries: Vec<NodeId> = self
                .nodes
                .values()
                .filter(|n| n.is_primary() && n.id != self.myself && !n.has(flags::FAIL))
                .map(|n| n.id.clone())
                .collect();
            actions.push(Action::Save);
            actions.push(Action::Log(format!(
                "Starting a failover election for epoch {epoch}{}",
                if e.forced { " (manual)" } else { "" }
            )));
            for to in primaries {
                let msg = self.message(Kind::AuthRequest, Payload::Vote(epoch, e.forced), now, &to);
                actions.push(Action::Send { to, msg });
            }
            return actions;
        }
        let needed = self.primaries_with_slots() / 2 + 1;
        if e.votes.len() >= needed {
            actions.extend(self.promote_myself(e.epoch, now));
            return actions;
        }
        if now.saturating_sub(e.sent_at) > (timeout * 2).max(1000) {
            // Lost or split vote: try again later with a new epoch.
            let base = self.failover_base_delay();
            let jitter = self.rng.gen_range(0..=base);
            if let Some(el) = self.election.as_mut() {
                el.epoch = 0;
                el.votes.clear();
                el.start_at = now + timeout + jitter;
            }
        }
        actions
    }

    /// Takes over the slots of this replica's primary with `epoch` as configuration epoch.
    fn promote_myself(&mut self, epoch: u64, now: u64) -> Vec<Action> {
        let Some(old) = self.me().primary.clone() else {
            return Vec::new();
        };
        let me: SlotOwner = Arc::from(self.myself.as_str());
        let mut old_owner = OwnerMatcher::new(&old);
        for owner in self.owners.iter_mut() {
            if old_owner.is(owner) {
                *owner = Some(me.clone());
            }
        }
        {
            let n = self.me_mut();
            n.flags = (n.flags & !flags::REPLICA) | flags::PRIMARY;
            n.primary = None;
            n.config_epoch = epoch;
        }
        if self.current_epoch < epoch {
            self.current_epoch = epoch;
        }
        self.election = None;
        self.failovers_won += 1;
        self.update_state(now);
        let mut actions = vec![
            Action::Save,
            Action::Log(format!(
                "Failover election won: I'm the new master, config epoch {epoch}, taking over the slots of {old}"
            )),
        ];
        actions.extend(self.broadcast(Kind::Pong, Payload::None, now));
        actions
    }

    /// CLUSTER FAILOVER on a replica: `takeover` claims the slots at once with a new epoch;
    /// otherwise an election starts now, whose votes are granted although the primary works.
    pub fn manual_failover(&mut self, takeover: bool, now: u64) -> Result<Vec<Action>, String> {
        let me = self.me();
        if !me.has(flags::REPLICA) {
            return Err("You should send CLUSTER FAILOVER to a replica".into());
        }
        let Some(primary) = me.primary.clone() else {
            return Err("I'm a replica but my master is unknown to me".into());
        };
        if !self.nodes.contains_key(&primary) {
            return Err("I'm a replica but my master is unknown to me".into());
        }
        if takeover {
            self.current_epoch += 1;
            let epoch = self.current_epoch;
            return Ok(self.promote_myself(epoch, now));
        }
        self.election = Some(Election {
            start_at: now,
            epoch: 0,
            sent_at: 0,
            votes: Vec::new(),
            forced: true,
        });
        Ok(self.failover_step(now))
    }

    /// Handles a vote request from a replica; returns the grant to send, if any.
    fn handle_vote_request(
        &mut self,
        sender: &str,
        epoch: u64,
        forced: bool,
        claimed_epoch: u64,
        slots: &Slots,
        now: u64,
    ) -> Vec<Action> {
        let me = self.me();
        let refuse = |why: String| {
            vec![Action::Log(format!(
                "Failover auth denied to {sender} for epoch {epoch}: {why}"
            ))]
        };
        if !me.is_primary() || !self.owns_slots(&self.myself) {
            return Vec::new();
        }
        if epoch < self.current_epoch {
            return refuse(format!(
                "request epoch {epoch} < current epoch {}",
                self.current_epoch
            ));
        }
        if self.last_vote_epoch >= epoch {
            return refuse(format!("already voted for epoch {}", self.last_vote_epoch));
        }
        let Some(requester) = self.nodes.get(sender) else {
            return refuse("unknown node".into());
        };
        let Some(primary) = requester
            .primary
            .clone()
            .filter(|_| requester.has(flags::REPLICA))
        else {
            return refuse("the requester is not a replica".into());
        };
        let primary_failed = self.nodes.get(&primary).is_some_and(|p| p.has(flags::FAIL));
        if !primary_failed && !forced {
            return refuse("its primary is not failing".into());
        }
        if let Some(t) = self.voted_for_primary.get(&primary) {
            if now.saturating_sub(*t) < self.settings.node_timeout * 2 {
                return refuse("voted for a replica of the same primary recently".into());
            }
        }
        let mut mine = OwnerMatcher::new(&self.myself);
        for s in 0..SLOT_COUNT {
            if !has_slot(slots, s) {
                continue;
            }
            if self.owners[s].is_some() {
                let owner_epoch = self.claim_epoch(s, &mut mine);
                if owner_epoch > claimed_epoch {
                    return refuse(format!("slot {s} has a newer configuration (epoch {owner_epoch} > {claimed_epoch})"));
                }
            }
        }
        self.last_vote_epoch = epoch;
        if self.current_epoch < epoch {
            self.current_epoch = epoch;
        }
        self.voted_for_primary.insert(primary, now);
        let msg = self.message(Kind::AuthAck, Payload::Vote(epoch, forced), now, sender);
        // nodes.conf (lastVoteEpoch) is saved before the grant is sent.
        vec![
            Action::Save,
            Action::Send {
                to: sender.to_string(),
                msg,
            },
            Action::Log(format!(
                "Failover auth granted to {sender} for epoch {epoch}"
            )),
        ]
    }

    /// Marks PFAIL nodes FAIL when a majority of primaries agree, and broadcasts it.
    fn check_failures(&mut self, now: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        let candidates: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.has(flags::PFAIL) && !n.has(flags::FAIL))
            .map(|n| n.id.clone())
            .collect();
        if candidates.is_empty() {
            return actions;
        }
        let owners: Vec<String> = self
            .owner_summary()
            .0
            .into_iter()
            .map(String::from)
            .collect();
        let needed = owners.len() / 2 + 1;
        let window = self.settings.node_timeout * 2;
        let me_counts = self.me().is_primary() && owners.contains(&self.myself);
        for id in candidates {
            let reports = {
                let owners_primary = |r: &str| {
                    self.nodes.get(r).is_some_and(|n| n.is_primary())
                        && owners.iter().any(|o| o == r)
                };
                self.nodes[&id]
                    .fail_reports
                    .iter()
                    .filter(|(r, t)| now.saturating_sub(**t) <= window && owners_primary(r))
                    .count()
            } + me_counts as usize;
            if reports >= needed {
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.flags = (n.flags & !flags::PFAIL) | flags::FAIL;
                    n.fail_time = now;
                }
                actions.extend(self.broadcast(Kind::Fail, Payload::Fail(id.clone()), now));
                actions.push(Action::Save);
                self.update_state(now);
            }
        }
        actions
    }

    /// Recomputes `cluster_state`.
    fn update_state(&mut self, _now: u64) {
        let (owners, covered) = self.owner_summary();
        let mut ok = !owners.is_empty() && (covered || !self.settings.require_full_coverage);
        if ok
            && owners
                .iter()
                .any(|id| self.nodes.get(*id).is_none_or(|n| n.has(flags::FAIL)))
        {
            ok = false;
        }
        // A primary cut off from the majority of primaries stops serving.
        if ok {
            let reachable = owners
                .iter()
                .filter(|id| {
                    self.nodes
                        .get(**id)
                        .is_some_and(|n| n.is_primary() && !n.has(flags::PFAIL | flags::FAIL))
                })
                .count();
            if reachable < owners.len() / 2 + 1 {
                ok = false;
            }
        }
        self.state_ok = ok;
    }

    /// Handles one message received on the bus; `peer_ip` is the connection's remote
    /// address, `local_ip` the local one (used to learn this node's own IP).
    pub fn handle(&mut self, now: u64, msg: Message, peer_ip: &str, local_ip: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        let h = &msg.header;
        if h.id == self.myself || self.forgotten.contains_key(&h.id) {
            return actions;
        }
        let mut dirty = false;
        if self.me().ip.is_empty() && !local_ip.is_empty() {
            self.me_mut().ip = local_ip.to_string();
            dirty = true;
        }
        let sender_ip = if h.ip.is_empty() {
            peer_ip.to_string()
        } else {
            h.ip.clone()
        };
        let known = self.nodes.contains_key(&h.id);
        if !known {
            let from_handshake = msg.kind == Kind::Pong
                && self
                    .handshakes
                    .iter()
                    .any(|hs| hs.port == h.port && (hs.ip == sender_ip || hs.ip == peer_ip));
            if msg.kind == Kind::Meet || from_handshake {
                let role = if h.flags & flags::REPLICA != 0 {
                    flags::REPLICA
                } else {
                    flags::PRIMARY
                };
                let mut n = Node::new(h.id.clone(), &sender_ip, h.port, h.cport, role);
                n.hostname = h.hostname.clone();
                self.nodes.insert(h.id.clone(), n);
                self.handshakes
                    .retain(|hs| !(hs.port == h.port && (hs.ip == sender_ip || hs.ip == peer_ip)));
                dirty = true;
            } else {
                return actions;
            }
        }
        // What the sender says about itself.
        {
            let n = self.nodes.get_mut(&h.id).expect("known");
            n.seen = now;
            if msg.kind == Kind::Pong {
                n.pong_received = now;
                n.ping_sent = 0;
            }
            if n.has(flags::PFAIL) {
                n.flags &= !flags::PFAIL;
            }
            if (n.ip != sender_ip || n.port != h.port || n.cport != h.cport)
                && !sender_ip.is_empty()
            {
                n.ip = sender_ip.clone();
                n.port = h.port;
                n.cport = h.cport;
                dirty = true;
            }
            n.hostname = h.hostname.clone();
            n.repl_offset = h.repl_offset;
            let was_flags = n.flags;
            if h.flags & flags::REPLICA != 0 {
                n.flags = (n.flags & !flags::PRIMARY) | flags::REPLICA;
                if n.primary != h.primary {
                    n.primary = h.primary.clone();
                    dirty = true;
                }
            } else {
                n.flags = (n.flags & !flags::REPLICA) | flags::PRIMARY;
                n.primary = None;
                if n.config_epoch != h.config_epoch {
                    n.config_epoch = h.config_epoch;
                    dirty = true;
                }
            }
            n.flags = (n.flags & !flags::NOFAILOVER) | (h.flags & flags::NOFAILOVER);
            if n.flags != was_flags {
                dirty = true;
            }
        }
        self.clear_fail_if_back(&h.id.clone(), now);
        if h.current_epoch > self.current_epoch {
            self.current_epoch = h.current_epoch;
            dirty = true;
        }
        // Slot claims (replicas advertise their primary's slots, which we do not apply).
        if h.flags & flags::REPLICA == 0 {
            let sender = h.id.clone();
            let epoch = h.config_epoch;
            let slots = h.slots.clone();
            let (changed, stale_owner) = self.apply_claims(&sender, epoch, &slots, now);
            dirty |= changed;
            if let Some((owner, owner_epoch)) = stale_owner {
                // Only the slots we know the owner claimed with that epoch.
                let update = Payload::Update {
                    id: owner.clone(),
                    config_epoch: owner_epoch,
                    slots: self.claim_bitmap(&owner, owner_epoch),
                };
                let msg = self.message(Kind::Update, update, now, &sender);
                actions.push(Action::Send {
                    to: sender.clone(),
                    msg,
                });
            }
            // Epoch collision between two primaries: the one with the greater id moves on.
            let me = self.me();
            if me.is_primary() && me.config_epoch == epoch && epoch != 0 && sender < self.myself {
                self.current_epoch += 1;
                let e = self.current_epoch;
                self.me_mut().config_epoch = e;
                dirty = true;
            }
        }
        // Gossip: failure reports and new nodes.
        let reporter_is_primary = self
            .nodes
            .get(&msg.header.id)
            .is_some_and(|n| n.is_primary());
        for g in &msg.gossip {
            if g.id == self.myself {
                continue;
            }
            if let Some(n) = self.nodes.get_mut(&g.id) {
                if reporter_is_primary {
                    if g.flags & (flags::PFAIL | flags::FAIL) != 0 {
                        n.fail_reports.insert(msg.header.id.clone(), now);
                    } else {
                        n.fail_reports.remove(&msg.header.id);
                    }
                }
            } else if !g.ip.is_empty()
                && g.flags & (flags::HANDSHAKE | flags::NOADDR) == 0
                && !self.forgotten.contains_key(&g.id)
            {
                self.start_handshake(&g.ip, g.port, g.cport, now);
            }
        }
        // Type-specific work.
        match (&msg.kind, &msg.payload) {
            (Kind::Ping | Kind::Meet, _) => {
                let to = msg.header.id.clone();
                let reply = self.message(Kind::Pong, Payload::None, now, &to);
                actions.push(Action::Send { to, msg: reply });
            }
            (Kind::Fail, Payload::Fail(id)) if *id != self.myself => {
                if let Some(n) = self.nodes.get_mut(id) {
                    if !n.has(flags::FAIL) {
                        n.flags = (n.flags & !flags::PFAIL) | flags::FAIL;
                        n.fail_time = now;
                        dirty = true;
                    }
                }
            }
            (
                Kind::Update,
                Payload::Update {
                    id,
                    config_epoch,
                    slots,
                },
            ) if self.nodes.contains_key(id) => {
                if let Some(n) = self.nodes.get_mut(id) {
                    if *config_epoch > n.config_epoch {
                        n.config_epoch = *config_epoch;
                    }
                }
                let (changed, _) = self.apply_claims(&id.clone(), *config_epoch, slots, now);
                dirty |= changed;
            }
            (Kind::AuthRequest, Payload::Vote(epoch, forced)) => {
                let sender = msg.header.id.clone();
                let (claimed, slots) = (msg.header.config_epoch, msg.header.slots.clone());
                actions.extend(
                    self.handle_vote_request(&sender, *epoch, *forced, claimed, &slots, now),
                );
            }
            (Kind::AuthAck, Payload::Vote(epoch, _)) => {
                let sender = msg.header.id.clone();
                let counts = self.nodes.get(&sender).is_some_and(|n| n.is_primary())
                    && self.owns_slots(&sender);
                if let Some(e) = self.election.as_mut() {
                    if e.epoch == *epoch && counts && !e.votes.contains(&sender) {
                        e.votes.push(sender);
                    }
                }
                actions.extend(self.failover_step(now));
            }
            (Kind::Publish, Payload::Publish { channel, message }) => {
                actions.push(Action::Deliver {
                    channel: channel.clone(),
                    message: message.clone(),
                });
            }
            _ => {}
        }
        actions.extend(self.check_failures(now));
        self.update_state(now);
        if dirty {
            actions.push(Action::Save);
        }
        actions
    }

    /// Clears FAIL on a node that is reachable again: at once for replicas and primaries
    /// without slots; for primaries with slots once twice the node timeout has passed.
    fn clear_fail_if_back(&mut self, id: &str, now: u64) {
        let slotless = !self.owns_slots(id);
        let timeout = self.settings.node_timeout;
        if let Some(n) = self.nodes.get_mut(id) {
            if n.has(flags::FAIL)
                && (n.has(flags::REPLICA)
                    || slotless
                    || now.saturating_sub(n.fail_time) > timeout * 2)
            {
                n.flags &= !flags::FAIL;
                n.fail_reports.clear();
            }
        }
    }

    /// Applies `sender`'s claims on `slots` made with `epoch`. Returns whether anything
    /// changed and, if the sender claims a slot whose owner has a newer epoch, that owner.
    fn apply_claims(
        &mut self,
        sender: &str,
        epoch: u64,
        slots: &Slots,
        _now: u64,
    ) -> (bool, Option<(NodeId, u64)>) {
        let mut changed = false;
        let mut stale_owner = None;
        let had_slots = self.owns_slots(&self.myself);
        let mut lost_mine = false;
        let my_primary = self.me().primary.clone();
        let mut primary_lost = false;
        let sender_owner: SlotOwner = Arc::from(sender);
        let mut is_sender = OwnerMatcher::new(sender);
        let myself = self.myself.clone();
        let mut mine = OwnerMatcher::new(&myself);
        for s in 0..SLOT_COUNT {
            let claimed = has_slot(slots, s);
            if !claimed {
                // A slot the sender stops claiming keeps its owner until another node claims
                // it (as in Redis): messages can arrive late, and a late PING must not undo
                // a SETSLOT NODE that was already applied.
                continue;
            }
            if is_sender.is(&self.owners[s]) {
                // A fresh claim of a slot it already has: remember the newer epoch.
                self.slot_epochs[s] = self.slot_epochs[s].max(epoch);
                continue;
            }
            if self.importing.contains_key(&(s as u16)) {
                continue;
            }
            match self.owners[s].clone() {
                None => {
                    self.owners[s] = Some(sender_owner.clone());
                    self.slot_epochs[s] = epoch;
                    changed = true;
                }
                Some(o) => {
                    let owner_epoch = self.claim_epoch(s, &mut mine);
                    if epoch > owner_epoch {
                        if *o == *self.myself {
                            self.migrating.remove(&(s as u16));
                            lost_mine = true;
                        }
                        if my_primary.as_deref() == Some(&*o) {
                            primary_lost = true;
                        }
                        self.owners[s] = Some(sender_owner.clone());
                        self.slot_epochs[s] = epoch;
                        changed = true;
                    } else if owner_epoch > epoch && stale_owner.is_none() {
                        stale_owner = Some((o.to_string(), owner_epoch));
                    }
                }
            }
        }
        // Replicas of a primary that lost its slots to the sender follow the sender.
        if let Some(p) = my_primary {
            if primary_lost && p != sender && !self.owns_slots(&p) && self.me().has(flags::REPLICA)
            {
                self.me_mut().primary = Some(sender.to_string());
                self.election = None;
                changed = true;
            }
        }
        // A primary that lost all its slots to another primary follows it.
        if had_slots && lost_mine && !self.owns_slots(&self.myself) && self.me().is_primary() {
            let me = self.myself.clone();
            let n = self.me_mut();
            n.flags = (n.flags & !flags::PRIMARY) | flags::REPLICA;
            n.primary = Some(sender.to_string());
            let _ = me;
            changed = true;
        }
        if changed {
            self.update_state(0);
        }
        (changed, stale_owner)
    }

    fn start_handshake(&mut self, ip: &str, port: u16, cport: u16, now: u64) {
        let known = self.nodes.values().any(|n| n.ip == ip && n.port == port)
            || self.handshakes.iter().any(|h| h.ip == ip && h.port == port);
        if !known {
            self.handshakes.push(Handshake {
                ip: ip.to_string(),
                port,
                cport,
                started: now,
                last_meet: 0,
            });
        }
    }

    // ---- Administrative changes (CLUSTER ...). Errors are Redis's texts, without "ERR ".

    /// CLUSTER MEET.
    pub fn meet(
        &mut self,
        ip: &str,
        port: u16,
        cport: u16,
        now: u64,
    ) -> Result<Vec<Action>, String> {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("Invalid node address specified: {ip}:{port}"));
        }
        self.handshakes.retain(|h| !(h.ip == ip && h.port == port));
        self.handshakes.push(Handshake {
            ip: ip.to_string(),
            port,
            cport,
            started: now,
            last_meet: now,
        });
        let msg = self.message(Kind::Meet, Payload::None, now, "");
        Ok(vec![Action::SendAddr {
            ip: ip.to_string(),
            cport,
            msg,
        }])
    }

    /// CLUSTER ADDSLOTS / ADDSLOTSRANGE.
    pub fn add_slots(&mut self, slots: &[u16]) -> Result<Vec<Action>, String> {
        for &s in slots {
            if self.owners[s as usize].is_some() {
                return Err(format!("Slot {s} is already busy"));
            }
        }
        let me: SlotOwner = Arc::from(self.myself.as_str());
        for &s in slots {
            self.owners[s as usize] = Some(me.clone());
            self.importing.remove(&s);
        }
        self.update_state(0);
        Ok(vec![Action::Save])
    }

    /// CLUSTER DELSLOTS / DELSLOTSRANGE.
    pub fn del_slots(&mut self, slots: &[u16]) -> Result<Vec<Action>, String> {
        for &s in slots {
            if self.owners[s as usize].is_none() {
                return Err(format!("Slot {s} is already unassigned"));
            }
        }
        for &s in slots {
            self.owners[s as usize] = None;
            self.migrating.remove(&s);
            self.importing.remove(&s);
        }
        self.update_state(0);
        Ok(vec![Action::Save])
    }

    /// CLUSTER FLUSHSLOTS.
    pub fn flush_slots(&mut self) -> Vec<Action> {
        let mine = self.slots_of(&self.myself);
        for s in mine {
            self.owners[s as usize] = None;
        }
        self.update_state(0);
        vec![Action::Save]
    }

    /// `CLUSTER SETSLOT <slot> IMPORTING|MIGRATING|NODE|STABLE`. `keys_in_slot` is how many
    /// keys this node holds in the slot.
    pub fn set_slot(
        &mut self,
        slot: u16,
        action: &str,
        node: Option<&str>,
        keys_in_slot: usize,
    ) -> Result<Vec<Action>, String> {
        let owner = self.owners[slot as usize].clone();
        let lookup = |c: &Cluster, id: &str| -> Result<(), String> {
            if c.nodes.contains_key(id) {
                Ok(())
            } else {
                Err(format!("I don't know about node {id}"))
            }
        };
        match (action, node) {
            ("migrating", Some(id)) => {
                if owner.as_deref() != Some(self.myself.as_str()) {
                    return Err(format!("I'm not the owner of hash slot {slot}"));
                }
                lookup(self, id)?;
                if self.nodes[id].has(flags::REPLICA) {
                    return Err("Target node is not a master".into());
                }
                self.migrating.insert(slot, id.to_string());
            }
            ("importing", Some(id)) => {
                if owner.as_deref() == Some(self.myself.as_str()) {
                    return Err(format!("I'm already the owner of hash slot {slot}"));
                }
                lookup(self, id)?;
                if self.nodes[id].has(flags::REPLICA) {
                    return Err("Target node is not a master".into());
                }
                self.importing.insert(slot, id.to_string());
            }
            ("stable", None) => {
                self.migrating.remove(&slot);
                self.importing.remove(&slot);
            }
            ("node", Some(id)) => {
                lookup(self, id)?;
                if self.nodes[id].has(flags::REPLICA) {
                    return Err("Target node is not a master".into());
                }
                if owner.as_deref() == Some(self.myself.as_str())
                    && id != self.myself
                    && keys_in_slot > 0
                {
                    return Err(format!(
                        "Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                    ));
                }
                if id != self.myself {
                    self.migrating.remove(&slot);
                }
                let was_importing = self.importing.remove(&slot).is_some();
                self.owners[slot as usize] = Some(self.shared_owner(id));
                self.slot_epochs[slot as usize] = self.nodes[id].config_epoch;
                if was_importing && id == self.myself {
                    // Make the new claim win without a vote, as Redis does.
                    self.bump_epoch_unconditionally();
                }
            }
            _ => {
                return Err(
                    "Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"
                        .into(),
                )
            }
        }
        self.update_state(0);
        Ok(vec![Action::Save])
    }

    fn bump_epoch_unconditionally(&mut self) {
        let max_epoch = self
            .nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0);
        let me = self.me().config_epoch;
        if me == 0
            || me != max_epoch
            || self.nodes.values().filter(|n| n.config_epoch == me).count() > 1
        {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
        }
    }

    /// CLUSTER BUMPEPOCH: `(bumped, epoch)`.
    pub fn bump_epoch(&mut self) -> (bool, u64) {
        let max_epoch = self
            .nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0);
        let me = self.me().config_epoch;
        if me == 0 || me != max_epoch {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
            (true, e)
        } else {
            (false, me)
        }
    }

    /// CLUSTER SET-CONFIG-EPOCH.
    pub fn set_config_epoch(&mut self, epoch: u64) -> Result<Vec<Action>, String> {
        if self.nodes.len() > 1 {
            return Err("The user can assign a config epoch only when the node does not know any other node.".into());
        }
        if self.me().config_epoch != 0 {
            return Err("Node config epoch is already non-zero".into());
        }
        self.me_mut().config_epoch = epoch;
        if self.current_epoch < epoch {
            self.current_epoch = epoch;
        }
        Ok(vec![Action::Save])
    }

    /// CLUSTER FORGET.
    pub fn forget(&mut self, id: &str, now: u64) -> Result<Vec<Action>, String> {
        if id == self.myself {
            return Err("I tried hard but I can't forget myself...".into());
        }
        if !self.nodes.contains_key(id) {
            return Err(format!("Unknown node {id}"));
        }
        if self.me().primary.as_deref() == Some(id) {
            return Err("Can't forget my master!".into());
        }
        self.nodes.remove(id);
        let mut forgotten = OwnerMatcher::new(id);
        for owner in self.owners.iter_mut() {
            if forgotten.is(owner) {
                *owner = None;
            }
        }
        self.forgotten.insert(id.to_string(), now + 60_000);
        self.update_state(now);
        Ok(vec![Action::Save])
    }

    /// CLUSTER REPLICATE. `has_keys`: whether this node holds keys.
    pub fn replicate(&mut self, id: &str, has_keys: bool) -> Result<Vec<Action>, String> {
        if id == self.myself {
            return Err("Can't replicate myself".into());
        }
        let Some(target) = self.nodes.get(id) else {
            return Err(format!("Unknown node {id}"));
        };
        if target.has(flags::REPLICA) {
            return Err("I can only replicate a master, not a replica.".into());
        }
        if self.me().is_primary() && (self.owns_slots(&self.myself) || has_keys) {
            return Err(
                "To set a master the node must be empty and without assigned slots.".into(),
            );
        }
        let n = self.me_mut();
        n.flags = (n.flags & !flags::PRIMARY) | flags::REPLICA;
        n.primary = Some(id.to_string());
        self.update_state(0);
        Ok(vec![Action::Save])
    }

    /// CLUSTER RESET [HARD|SOFT].
    pub fn reset(&mut self, hard: bool) -> Vec<Action> {
        let myself = self.me().clone();
        self.nodes.clear();
        self.owners = vec![None; SLOT_COUNT];
        self.slot_epochs = vec![0; SLOT_COUNT];
        self.migrating.clear();
        self.importing.clear();
        self.handshakes.clear();
        let mut me = myself;
        me.flags = flags::MYSELF | flags::PRIMARY;
        me.primary = None;
        if hard {
            me.id = random_id(&mut self.rng);
            me.config_epoch = 0;
            self.current_epoch = 0;
            self.last_vote_epoch = 0;
        }
        self.myself = me.id.clone();
        self.nodes.insert(me.id.clone(), me);
        self.update_state(0);
        vec![Action::Save]
    }

    /// Whether this replica's data is recent enough to fail over (Redis's rule: the time
    /// without its primary, minus node-timeout, is at most the replication ping period plus
    /// node-timeout times `cluster-replica-validity-factor`).
    fn data_is_fresh(&self) -> bool {
        if self.validity_factor == 0 {
            return true;
        }
        let timeout = self.settings.node_timeout;
        let age = self.primary_link_down_ms.saturating_sub(timeout);
        age <= REPL_PING_PERIOD_MS + timeout * self.validity_factor
    }

    /// Records this node's replication offset (sent in headers).
    pub fn set_repl_offset(&mut self, offset: u64) {
        self.me_mut().repl_offset = offset;
    }

    /// Builds PUBLISH messages to every other node.
    pub fn publish(&mut self, channel: &[u8], message: &[u8], now: u64) -> Vec<Action> {
        let payload = Payload::Publish {
            channel: channel.to_vec(),
            message: message.to_vec(),
        };
        self.broadcast(Kind::Publish, payload, now)
    }

    /// Every known node but this one.
    fn others(&self) -> Vec<NodeId> {
        self.nodes
            .keys()
            .filter(|k| **k != self.myself)
            .cloned()
            .collect()
    }

    /// The same message, to every other node.
    fn broadcast(&mut self, kind: Kind, payload: Payload, now: u64) -> Vec<Action> {
        self.others()
            .into_iter()
            .map(|to| {
                let msg = self.message(kind, payload.clone(), now, &to);
                Action::Send { to, msg }
            })
            .collect()
    }

    /// Number of failure reports about a node.
    pub fn failure_reports(&self, id: &str) -> Option<usize> {
        self.nodes.get(id).map(|n| n.fail_reports.len())
    }

    /// Marks the bus link to a node up or down (for CLUSTER NODES).
    pub fn set_link(&mut self, id: &str, up: bool) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.link_connected = up;
        }
    }

    /// Replaces the whole state with one loaded from nodes.conf.
    pub fn restore(&mut self, loaded: crate::nodes_conf::Loaded) {
        self.myself = loaded.myself;
        self.nodes = loaded.nodes;
        self.owners = loaded.owners;
        // What the file knew: each owner's slots as of its configEpoch then.
        self.slot_epochs = self
            .owners
            .iter()
            .map(|o| {
                o.as_deref()
                    .and_then(|id| self.nodes.get(id))
                    .map_or(0, |n| n.config_epoch)
            })
            .collect();
        self.migrating = loaded.migrating;
        self.importing = loaded.importing;
        self.current_epoch = loaded.current_epoch;
        self.last_vote_epoch = loaded.last_vote_epoch;
        let (port, cport) = (self.settings.port, self.settings.cport);
        let announce = self.settings.announce_ip.clone();
        let me = self.me_mut();
        me.port = port;
        me.cport = cport;
        if !announce.is_empty() {
            me.ip = announce;
        }
        me.link_connected = true;
        for n in self.nodes.values_mut() {
            n.flags &= !(flags::PFAIL);
            n.ping_sent = 0;
        }
        self.update_state(0);
    }

    /// Validates a message before it is handled (the spec's "is valid packet" step).
    pub fn accepts(msg: &Message) -> bool {
        msg.header.port != 0 || msg.header.flags & flags::NOADDR != 0
    }
}

/// Re-exported for the driver.
pub use message::decode as decode_frame;
