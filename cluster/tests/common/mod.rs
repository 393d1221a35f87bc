//! An in-process network of cluster state machines with a virtual clock.
//!
//! Every node is a [`Cluster`]; the network carries encoded bus frames between them and the
//! test controls everything the real world would: time, message loss, delays (per-link FIFO,
//! as TCP keeps order), partitions, pauses (SIGSTOP: state kept) and crashes (SIGKILL: the
//! node comes back from the last nodes.conf it wrote). It also checks the safety invariants
//! after every delivery, so a violation is caught at the step that caused it.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use cluster::message::{decode, encode, Kind, Payload};
use cluster::nodes_conf::{parse_file, render_file};
use cluster::{Action, Cluster, Settings};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A frame in flight: (deliver at, sequence, from, to, recipient incarnation, bytes).
type InFlight = (u64, u64, usize, usize, u64, Vec<u8>);

/// The simulated cluster.
pub struct Net {
    /// The nodes' state machines, indexed as their ports (7000 + i).
    pub nodes: Vec<Cluster>,
    /// Nodes that do not run (paused or crashed): they neither tick nor receive.
    pub down: Vec<bool>,
    /// Partition side of each node: frames only flow between nodes on the same side.
    pub side: Vec<u8>,
    /// Probability that a frame is lost.
    pub drop_rate: f64,
    /// Each frame is delayed by 0..=max_delay ms (never overtaking an earlier frame on the
    /// same link).
    pub max_delay: u64,
    /// The virtual clock, in ms.
    pub now: u64,
    /// Probability that a node is killed and restarted right after it grants a vote
    /// (the grant is already on the wire), to prove votes are persisted before they leave.
    pub crash_after_vote: f64,
    /// Nodes to kill and restart once the current delivery is done.
    pending_restarts: Vec<usize>,
    /// The run's random source (delays, drops, and the test's own choices).
    pub rng: SmallRng,
    /// The seed of this run, printed in every invariant failure.
    pub seed: u64,
    timeout: u64,
    /// The last nodes.conf each node wrote.
    saved: Vec<Option<String>>,
    /// Bumped when a node crashes or restarts: frames sent to an earlier incarnation are
    /// lost, as its TCP links were (frames it sent before dying still arrive).
    incarnation: Vec<u64>,
    queue: BinaryHeap<Reverse<InFlight>>,
    sequence: u64,
    /// Latest delivery time per (from, to) link, to keep each link in order.
    link_tail: BTreeMap<(usize, usize), u64>,
    /// Who won which epoch (for "at most one winner per epoch").
    winners: BTreeMap<u64, String>,
    /// Failovers each node had won when last looked at.
    wins_seen: Vec<u64>,
    /// (voter, epoch) -> candidate, from every vote that left a node.
    votes: BTreeMap<(String, u64), String>,
}

impl Net {
    /// `n` fresh nodes with `cluster-node-timeout` = `timeout` ms.
    pub fn new(n: usize, seed: u64, timeout: u64) -> Net {
        let nodes = (0..n).map(|i| fresh_node(i, seed, timeout)).collect();
        Net {
            nodes,
            down: vec![false; n],
            side: vec![0; n],
            drop_rate: 0.0,
            max_delay: 0,
            crash_after_vote: 0.0,
            pending_restarts: Vec::new(),
            now: 1_000,
            rng: SmallRng::seed_from_u64(seed),
            seed,
            timeout,
            saved: vec![None; n],
            incarnation: vec![0; n],
            queue: BinaryHeap::new(),
            sequence: 0,
            link_tail: BTreeMap::new(),
            winners: BTreeMap::new(),
            wins_seen: vec![0; n],
            votes: BTreeMap::new(),
        }
    }

    /// The index of the node with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.myself == id)
    }

    /// Carries out what node `from` asked for: frames go on the wire, saves are kept.
    pub fn route(&mut self, from: usize, actions: Vec<Action>) {
        for a in actions {
            let (to, msg) = match a {
                Action::Send { to, msg } => match self.index_of(&to) {
                    Some(i) => (i, msg),
                    None => continue,
                },
                Action::SendAddr { cport, msg, .. } => ((cport - 17000) as usize, msg),
                Action::Save => {
                    self.saved[from] = Some(render_file(&self.nodes[from]));
                    continue;
                }
                Action::Log(_) | Action::Deliver { .. } => continue,
            };
            if let (Kind::AuthAck, Payload::Vote(epoch, _)) = (msg.kind, &msg.payload) {
                self.record_vote(from, to, *epoch);
                if self.crash_after_vote > 0.0 && self.rng.gen_bool(self.crash_after_vote) {
                    self.pending_restarts.push(from);
                }
            }
            let delay = if self.max_delay == 0 {
                0
            } else {
                self.rng.gen_range(0..=self.max_delay)
            };
            let tail = self.link_tail.entry((from, to)).or_insert(0);
            let at = (self.now + delay).max(*tail);
            *tail = at;
            self.sequence += 1;
            let frame = encode(&msg);
            self.queue.push(Reverse((
                at,
                self.sequence,
                from,
                to,
                self.incarnation[to],
                frame,
            )));
        }
    }

    /// Advances the clock by `ms`: frames due before the end are delivered in time order,
    /// then every running node ticks at the end time and the frames that became due are
    /// delivered too. Invariants are checked after every delivery and tick.
    pub fn step(&mut self, ms: u64) {
        let end = self.now + ms;
        self.deliver_until(end);
        self.now = end;
        for i in 0..self.nodes.len() {
            if !self.down[i] {
                let actions = self.nodes[i].tick(self.now);
                self.route(i, actions);
                self.check_winners(i);
            }
        }
        self.deliver_until(end);
        self.check_slot_claims();
    }

    fn deliver_until(&mut self, end: u64) {
        while let Some(Reverse(top)) = self.queue.peek() {
            if top.0 > end {
                break;
            }
            let Reverse((at, _, from, to, to_inc, frame)) = self.queue.pop().expect("peeked");
            self.now = self.now.max(at);
            let lost = self.down[to]
                || self.incarnation[to] != to_inc
                || self.side[from] != self.side[to]
                || (self.drop_rate > 0.0 && self.rng.gen_bool(self.drop_rate));
            if lost {
                continue;
            }
            let (msg, _) = decode(&frame)
                .expect("valid frame")
                .expect("complete frame");
            let actions = self.nodes[to].handle(self.now, msg, "127.0.0.1", "127.0.0.1");
            self.route(to, actions);
            self.check_winners(to);
            for i in std::mem::take(&mut self.pending_restarts) {
                self.crash(i);
                self.restart(i);
            }
        }
    }

    /// Runs `ms` of virtual time in 100 ms steps (the driver's tick period).
    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms / 100 {
            self.step(100);
        }
    }

    /// Builds a 3-primary cluster with slots split as redis-cli does; nodes 3.. become
    /// replicas of primaries 0, 1, 2 in turn.
    pub fn create(&mut self) {
        let n = self.nodes.len();
        let per = 16384 / 3;
        for p in 0..3 {
            let start = p * per;
            let end = if p == 2 { 16384 } else { (p + 1) * per };
            let slots: Vec<u16> = (start as u16..end as u16).collect();
            let a = self.nodes[p].add_slots(&slots).unwrap();
            self.route(p, a);
            let a = self.nodes[p].set_config_epoch(p as u64 + 1).unwrap();
            self.route(p, a);
        }
        for i in 1..n {
            let now = self.now;
            let actions = self.nodes[i].meet("127.0.0.1", 7000, 17000, now).unwrap();
            self.route(i, actions);
        }
        self.run(3000);
        for r in 3..n {
            let primary = self.nodes[(r - 3) % 3].myself.clone();
            // With message loss the replica may not know its primary yet: retry, as
            // redis-cli waits for the cluster to join before configuring replicas.
            let mut tries = 0;
            loop {
                match self.nodes[r].replicate(&primary, false) {
                    Ok(a) => {
                        self.route(r, a);
                        break;
                    }
                    Err(_) => {
                        tries += 1;
                        assert!(tries < 100, "node {r} never learned its primary");
                        self.run(500);
                    }
                }
            }
        }
        self.run(2000);
    }

    /// Every running node sees the cluster ok with the same slot owners.
    pub fn converged(&self) -> bool {
        let live: Vec<&Cluster> = self
            .nodes
            .iter()
            .zip(&self.down)
            .filter(|(_, d)| !**d)
            .map(|(n, _)| n)
            .collect();
        live.iter().all(|n| n.owners == live[0].owners && n.is_ok())
    }

    /// SIGSTOP: the node stops running but keeps its state.
    pub fn pause(&mut self, i: usize) {
        self.down[i] = true;
    }

    /// SIGCONT after [`Net::pause`].
    pub fn resume(&mut self, i: usize) {
        self.down[i] = false;
    }

    /// SIGKILL: the node's memory is gone; its links break.
    pub fn crash(&mut self, i: usize) {
        self.down[i] = true;
        self.incarnation[i] += 1;
    }

    /// Starts a crashed node again from the last nodes.conf it wrote (or empty, if it
    /// never wrote one).
    pub fn restart(&mut self, i: usize) {
        let mut node = fresh_node(i, self.seed * 7919 + self.incarnation[i], self.timeout);
        if let Some(text) = &self.saved[i] {
            node.restore(parse_file(text).expect("nodes.conf written by the node parses"));
        }
        self.nodes[i] = node;
        self.wins_seen[i] = 0;
        self.incarnation[i] += 1;
        self.down[i] = false;
    }

    fn record_vote(&mut self, voter: usize, candidate: usize, epoch: u64) {
        let voter_id = self.nodes[voter].myself.clone();
        let candidate_id = self.nodes[candidate].myself.clone();
        if let Some(earlier) = self.votes.get(&(voter_id.clone(), epoch)) {
            assert_eq!(
                earlier, &candidate_id,
                "seed {}: node {voter} voted twice in epoch {epoch} (at {} ms)",
                self.seed, self.now
            );
        }
        self.votes.insert((voter_id, epoch), candidate_id);
    }

    /// How many elections were won (distinct epochs) so far.
    pub fn elections_won(&self) -> usize {
        self.winners.len()
    }

    /// At most one election winner per epoch.
    fn check_winners(&mut self, i: usize) {
        let won = self.nodes[i].failovers_won;
        if won <= self.wins_seen[i] {
            return;
        }
        self.wins_seen[i] = won;
        let epoch = self.nodes[i].me().config_epoch;
        let me = self.nodes[i].myself.clone();
        if let Some(other) = self.winners.get(&epoch) {
            assert_eq!(
                other, &me,
                "seed {}: two failover winners in epoch {epoch} (at {} ms)",
                self.seed, self.now
            );
        }
        self.winners.insert(epoch, me);
    }

    /// No two nodes claim one slot for themselves with the same configEpoch.
    pub fn check_slot_claims(&self) {
        let primaries: Vec<(usize, u64)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.me().is_primary() && n.me().config_epoch != 0)
            .map(|(i, n)| (i, n.me().config_epoch))
            .collect();
        for (a, &(i, epoch_i)) in primaries.iter().enumerate() {
            for &(j, epoch_j) in &primaries[a + 1..] {
                if epoch_i != epoch_j {
                    continue;
                }
                let (ni, nj) = (&self.nodes[i], &self.nodes[j]);
                let shared = (0..cluster::SLOT_COUNT).find(|&s| {
                    ni.owners[s].as_deref() == Some(ni.myself.as_str())
                        && nj.owners[s].as_deref() == Some(nj.myself.as_str())
                });
                assert!(
                    shared.is_none(),
                    "seed {}: nodes {i} and {j} both claim slot {} with config epoch {epoch_i} (at {} ms)",
                    self.seed,
                    shared.unwrap_or(0),
                    self.now
                );
            }
        }
    }
}

fn fresh_node(i: usize, seed: u64, timeout: u64) -> Cluster {
    Cluster::new(
        Settings {
            node_timeout: timeout,
            require_full_coverage: true,
            announce_ip: "127.0.0.1".into(),
            port: 7000 + i as u16,
            cport: 17000 + i as u16,
            hostname: String::new(),
        },
        seed * 100 + i as u64,
    )
}
