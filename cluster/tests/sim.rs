//! The cluster state machine over an in-process network with a virtual clock.
//!
//! Nodes exchange encoded frames through a queue; the test controls time, drops links and
//! crashes nodes. Seeds are printed on failure so a run can be replayed.

mod common;

use cluster::node::flags;
use common::Net;

#[test]
fn six_nodes_meet_and_agree() {
    for seed in 0..20 {
        let mut net = Net::new(6, seed, 2000);
        net.create();
        assert!(net.converged(), "seed {seed}: not converged");
        for n in &net.nodes {
            assert_eq!(
                n.nodes.len(),
                6,
                "seed {seed}: node knows {} nodes",
                n.nodes.len()
            );
            assert_eq!(n.primaries_with_slots(), 3);
        }
        let replicas = net.nodes[0]
            .nodes
            .values()
            .filter(|n| n.has(flags::REPLICA))
            .count();
        assert_eq!(replicas, 3, "seed {seed}");
    }
}

#[test]
fn gossip_converges_despite_message_loss() {
    for seed in 0..20 {
        let mut net = Net::new(6, seed, 2000);
        net.drop_rate = 0.2;
        net.create();
        net.run(10_000);
        let views: Vec<String> = net
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "known={} ok={} owners={}",
                    n.nodes.len(),
                    n.is_ok(),
                    n.primaries_with_slots()
                )
            })
            .collect();
        assert!(
            net.converged(),
            "seed {seed}: not converged with 20% loss: {views:?}"
        );
    }
}

#[test]
fn a_dead_primary_is_marked_fail_by_the_majority() {
    // Primaries only: without a replica to take over, the cluster stays down until the
    // primary returns.
    for seed in 0..20 {
        let mut net = Net::new(3, seed, 1000);
        net.create();
        net.down[1] = true;
        let dead = net.nodes[1].myself.clone();
        net.run(5000);
        for (i, n) in net.nodes.iter().enumerate() {
            if i == 1 {
                continue;
            }
            assert!(
                n.nodes[&dead].has(flags::FAIL),
                "seed {seed}: node {i} did not mark FAIL"
            );
            assert!(
                !n.is_ok(),
                "seed {seed}: cluster should be down without failover"
            );
        }
        // It comes back: FAIL clears (no failover happened) and the cluster is ok again.
        net.down[1] = false;
        net.run(5000);
        assert!(net.converged(), "seed {seed}: did not recover");
    }
}

#[test]
fn slot_moves_with_a_higher_epoch_win() {
    let mut net = Net::new(3, 7, 2000);
    let n = 3;
    let _ = n;
    net.nodes[0]
        .add_slots(&(0..8192).collect::<Vec<_>>())
        .unwrap();
    net.nodes[1]
        .add_slots(&(8192..16384).collect::<Vec<_>>())
        .unwrap();
    net.nodes[0].set_config_epoch(1).unwrap();
    net.nodes[1].set_config_epoch(2).unwrap();
    for i in 1..3 {
        let now = net.now;
        let a = net.nodes[i].meet("127.0.0.1", 7000, 17000, now).unwrap();
        net.route(i, a);
    }
    net.run(3000);
    assert!(net.converged());
    // Migrate slot 100 from node 0 to node 1 the way redis-cli does.
    let (id0, id1) = (net.nodes[0].myself.clone(), net.nodes[1].myself.clone());
    net.nodes[1]
        .set_slot(100, "importing", Some(&id0), 0)
        .unwrap();
    net.nodes[0]
        .set_slot(100, "migrating", Some(&id1), 5)
        .unwrap();
    assert!(net.nodes[0].set_slot(100, "node", Some(&id1), 5).is_err());
    net.nodes[1].set_slot(100, "node", Some(&id1), 0).unwrap();
    net.nodes[0].set_slot(100, "node", Some(&id1), 0).unwrap();
    net.run(2000);
    for node in &net.nodes {
        assert_eq!(node.owners[100].as_deref(), Some(id1.as_str()));
        assert_eq!(node.owners[99].as_deref(), Some(id0.as_str()));
    }
}

#[test]
fn replica_takes_over_a_dead_primary_and_the_old_primary_follows_it() {
    for seed in 0..30 {
        let mut net = Net::new(6, seed, 1000);
        net.create();
        let victim = (seed % 3) as usize;
        let victim_id = net.nodes[victim].myself.clone();
        let slots_before = net.nodes[victim].slots_of(&victim_id);
        net.down[victim] = true;
        let mut promoted = None;
        for _ in 0..100 {
            net.step(100);
            promoted = net.nodes.iter().position(|n| n.failovers_won > 0);
            if promoted.is_some() && net.converged() {
                break;
            }
        }
        let winner = promoted.unwrap_or_else(|| panic!("seed {seed}: no replica was promoted"));
        assert!(
            net.converged(),
            "seed {seed}: cluster not ok after failover"
        );
        let winner_id = net.nodes[winner].myself.clone();
        for n in net
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| !net.down[*i])
            .map(|(_, n)| n)
        {
            for s in &slots_before {
                assert_eq!(
                    n.owners[*s as usize].as_deref(),
                    Some(winner_id.as_str()),
                    "seed {seed}"
                );
            }
        }
        // The old primary comes back and becomes a replica of the winner.
        net.down[victim] = false;
        net.run(5000);
        let old = net.nodes[victim].me();
        assert!(
            old.has(flags::REPLICA),
            "seed {seed}: old primary did not step down"
        );
        assert_eq!(
            old.primary.as_deref(),
            Some(winner_id.as_str()),
            "seed {seed}"
        );
        assert!(net.converged(), "seed {seed}");
    }
}

#[test]
fn manual_failover_swaps_roles() {
    let mut net = Net::new(6, 3, 2000);
    net.create();
    let replica = 3;
    let primary_id = net.nodes[replica].me().primary.clone().unwrap();
    let now = net.now;
    let actions = net.nodes[replica].manual_failover(false, now).unwrap();
    net.route(replica, actions);
    net.run(3000);
    assert!(net.nodes[replica].me().is_primary());
    let old = net.index_of(&primary_id).unwrap();
    assert!(net.nodes[old].me().has(flags::REPLICA));
    assert!(net.converged());
}

#[test]
fn a_replica_with_too_old_data_does_not_fail_over_unless_the_factor_is_zero() {
    for seed in 0..5 {
        let mut net = Net::new(6, seed, 1000);
        net.create();
        let victim = 0;
        let victim_id = net.nodes[victim].myself.clone();
        let replicas: Vec<usize> = (0..net.nodes.len())
            .filter(|&i| net.nodes[i].me().primary.as_deref() == Some(victim_id.as_str()))
            .collect();
        assert!(
            !replicas.is_empty(),
            "seed {seed}: the victim has no replica"
        );
        // Cut off from the primary long before it died: node-timeout + ping period +
        // node-timeout x factor, and a bit more.
        for &r in &replicas {
            net.nodes[r].validity_factor = 10;
            net.nodes[r].primary_link_down_ms = 1000 + 10_000 + 10 * 1000 + 1;
        }
        net.down[victim] = true;
        net.run(10_000);
        assert!(
            net.nodes.iter().all(|n| n.failovers_won == 0),
            "seed {seed}: a replica with stale data was promoted"
        );
        // With factor 0 the same replica always tries (as Redis).
        for &r in &replicas {
            net.nodes[r].validity_factor = 0;
        }
        let mut promoted = false;
        for _ in 0..100 {
            net.step(100);
            if replicas.iter().any(|&r| net.nodes[r].failovers_won > 0) {
                promoted = true;
                break;
            }
        }
        assert!(promoted, "seed {seed}: factor 0 did not allow the failover");
    }
}

#[test]
fn a_spare_replica_migrates_to_an_orphaned_primary() {
    for seed in 0..5 {
        // Primary 0 has two replicas (3 and 6); primaries 1 and 2 one each (4, 5).
        let mut net = Net::new(7, seed, 1000);
        net.create();
        let p0 = net.nodes[0].myself.clone();
        let p1 = net.nodes[1].myself.clone();
        assert_eq!(net.nodes[6].me().primary.as_deref(), Some(p0.as_str()));
        // Primary 1 loses its only replica.
        net.down[4] = true;
        let mut migrated = None;
        for _ in 0..200 {
            net.step(100);
            migrated = [3, 6]
                .into_iter()
                .find(|&i| net.nodes[i].me().primary.as_deref() == Some(p1.as_str()));
            if migrated.is_some() {
                break;
            }
        }
        let migrated = migrated.unwrap_or_else(|| panic!("seed {seed}: no replica migrated"));
        // The one with the smaller id moved; the other stays with primary 0.
        let other = if migrated == 3 { 6 } else { 3 };
        assert!(
            net.nodes[migrated].myself < net.nodes[other].myself,
            "seed {seed}"
        );
        assert_eq!(net.nodes[other].me().primary.as_deref(), Some(p0.as_str()));
        // Everyone learns the new topology.
        net.run(3000);
        let migrated_id = net.nodes[migrated].myself.clone();
        for (i, n) in net.nodes.iter().enumerate() {
            if net.down[i] {
                continue;
            }
            assert_eq!(
                n.nodes[&migrated_id].primary.as_deref(),
                Some(p1.as_str()),
                "seed {seed}: node {i} has not seen the migration"
            );
        }
        // With the barrier at 1 the last replica of primary 0 does not move again.
        net.run(10_000);
        assert_eq!(net.nodes[other].me().primary.as_deref(), Some(p0.as_str()));
    }
}
