//! Seeded chaos runs of failure detection and failover over the simulated network.
//!
//! Each run builds a 3+3 cluster (sometimes 3+4), then for 30 s of virtual time throws
//! random faults at it: crashes and restarts from nodes.conf (also right after granting a
//! vote), pauses, partitions, message loss, delays up to twice the node timeout, manual
//! failovers. The network checks the
//! safety invariants after every delivery (no two primaries claim a slot with the same
//! configEpoch, at most one election winner per epoch, no node votes twice in an epoch);
//! after the faults stop and every node is back, the run must converge: every node ok and
//! agreeing on who owns every slot, and every owner a primary in everyone's view.
//!
//! `CHAOS_RUNS=n` sets how many seeds run (default 500), `CHAOS_THREADS=t` on how many
//! threads (default 1), `CHAOS_SEED=s` replays one seed and prints its fault schedule
//! and every change of role or slot ownership.

mod common;

use cluster::node::flags;
use common::Net;
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// What a node is doing, from the test's point of view.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Life {
    Running,
    Paused,
    Crashed,
}

/// One seeded run; returns how many elections were won in it.
fn chaos_run(seed: u64, verbose: bool) -> usize {
    let timeouts = [500, 1000, 2000];
    let timeout = timeouts[(seed % 3) as usize];
    let size = if seed % 5 == 4 { 7 } else { 6 };
    let mut net = Net::new(size, seed, timeout);
    net.create();
    assert!(net.converged(), "seed {seed}: the cluster did not form");
    let mut life = vec![Life::Running; size];
    let mut log: Vec<String> = Vec::new();
    let mut traced = vec![String::new(); size];
    let chaos_end = net.now + 30_000;
    while net.now < chaos_end {
        let wait = net.rng.gen_range(1..30) * 100;
        if verbose {
            for _ in 0..wait / 100 {
                net.step(100);
                trace(&net, &mut traced);
            }
        } else {
            net.run(wait);
        }
        let n = net.rng.gen_range(0..size);
        let event = match net.rng.gen_range(0..11) {
            0 if life[n] == Life::Running && down_count(&life) < 3 => {
                net.crash(n);
                life[n] = Life::Crashed;
                format!("crash {n}")
            }
            1 => match life.iter().position(|l| *l == Life::Crashed) {
                Some(c) => {
                    net.restart(c);
                    life[c] = Life::Running;
                    format!("restart {c}")
                }
                None => continue,
            },
            2 if life[n] == Life::Running && down_count(&life) < 3 => {
                net.pause(n);
                life[n] = Life::Paused;
                format!("pause {n}")
            }
            3 => match life.iter().position(|l| *l == Life::Paused) {
                Some(p) => {
                    net.resume(p);
                    life[p] = Life::Running;
                    format!("resume {p}")
                }
                None => continue,
            },
            4 => {
                for s in net.side.iter_mut() {
                    *s = 0;
                }
                let cut = net.rng.gen_range(1..size);
                let mut members = Vec::new();
                for _ in 0..cut {
                    let m = net.rng.gen_range(0..size);
                    net.side[m] = 1;
                    members.push(m);
                }
                members.sort();
                members.dedup();
                format!("partition {members:?} from the rest")
            }
            5 => {
                for s in net.side.iter_mut() {
                    *s = 0;
                }
                "heal partition".to_string()
            }
            6 => {
                net.drop_rate = [0.0, 0.05, 0.2, 0.5][net.rng.gen_range(0..4)];
                format!("drop rate {}", net.drop_rate)
            }
            7 => {
                net.max_delay =
                    [0, 20, 100, timeout / 2, timeout, 2 * timeout][net.rng.gen_range(0..6)];
                format!("max delay {} ms", net.max_delay)
            }
            8 => {
                net.crash_after_vote = [0.0, 0.3, 1.0][net.rng.gen_range(0..3)];
                format!(
                    "crash after voting with probability {}",
                    net.crash_after_vote
                )
            }
            9 | 10 if life[n] == Life::Running && net.nodes[n].me().has(flags::REPLICA) => {
                let now = net.now;
                match net.nodes[n].manual_failover(false, now) {
                    Ok(actions) => {
                        net.route(n, actions);
                        format!("CLUSTER FAILOVER on {n}")
                    }
                    Err(e) => format!("CLUSTER FAILOVER on {n} refused: {e}"),
                }
            }
            _ => continue,
        };
        if verbose {
            eprintln!("{:>7} ms: {event}", net.now);
        }
        log.push(format!("{} ms: {event}", net.now));
    }
    // The faults stop: everyone comes back on a clean network.
    for (i, l) in life.iter_mut().enumerate() {
        match l {
            Life::Crashed => net.restart(i),
            Life::Paused => net.resume(i),
            Life::Running => {}
        }
        *l = Life::Running;
    }
    for s in net.side.iter_mut() {
        *s = 0;
    }
    net.drop_rate = 0.0;
    net.max_delay = 0;
    net.crash_after_vote = 0.0;
    let heal_deadline = net.now + 60_000;
    while !(settled(&net)) && net.now < heal_deadline {
        net.step(100);
        if verbose {
            trace(&net, &mut traced);
        }
    }
    assert!(
        settled(&net),
        "seed {seed}: no convergence 60 s after the faults stopped; faults were:\n{}\nviews:\n{}",
        log.join("\n"),
        views(&net)
    );
    net.elections_won()
}

/// Prints each node's role and its view of the first slot of every shard when they change.
fn trace(net: &Net, last: &mut [String]) {
    for (i, n) in net.nodes.iter().enumerate() {
        let short = |o: &Option<cluster::state::SlotOwner>| {
            o.as_deref()
                .map_or("none".to_string(), |id| id[..6].to_string())
        };
        let view = format!(
            "{} {} e{} primary={:?} slot0={} slot6000={} slot12000={}",
            &n.myself[..6],
            if n.me().is_primary() { "P" } else { "R" },
            n.me().config_epoch,
            n.me().primary.as_deref().map(|p| &p[..6]),
            short(&n.owners[0]),
            short(&n.owners[6000]),
            short(&n.owners[12000]),
        );
        if view != last[i] {
            eprintln!(
                "{:>7} ms: node {i}{} {view}",
                net.now,
                if net.down[i] { " (down)" } else { "" }
            );
            last[i] = view;
        }
    }
}

fn down_count(life: &[Life]) -> usize {
    life.iter().filter(|l| **l != Life::Running).count()
}

/// Every node is ok and agrees on every slot's owner, which everyone sees as a primary.
fn settled(net: &Net) -> bool {
    if !net.converged() {
        return false;
    }
    let owners = &net.nodes[0].owners;
    owners.iter().all(|o| {
        o.as_ref().is_some_and(|id| {
            net.nodes
                .iter()
                .all(|n| n.nodes.get(&**id).is_some_and(|node| node.is_primary()))
        })
    })
}

fn views(net: &Net) -> String {
    net.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            // Slot ranges this node believes each owner has.
            let mut owners: Vec<(String, usize)> = Vec::new();
            for o in &n.owners {
                let name = o.as_deref().map_or("none".to_string(), |id| id[..8].to_string());
                match owners.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, count)) => *count += 1,
                    None => owners.push((name, 1)),
                }
            }
            let roles: Vec<String> = n
                .nodes
                .values()
                .map(|x| format!("{}:{}:{:#x}", &x.id[..8], x.config_epoch, x.flags))
                .collect();
            format!(
                "node {i} {}: ok={} epoch={} config_epoch={} primary={:?} owners={owners:?} nodes={roles:?}",
                &n.myself[..8],
                n.is_ok(),
                n.current_epoch,
                n.me().config_epoch,
                n.me().primary.as_deref().map(|p| &p[..8]),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn failover_survives_seeded_chaos() {
    if let Some(seed) = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let won = chaos_run(seed, true);
        eprintln!("seed {seed}: {won} elections won");
        return;
    }
    let runs: u64 = std::env::var("CHAOS_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    // Seeds are independent: spread them over the cores; the first failure stops the rest.
    let next = AtomicU64::new(0);
    let elections = AtomicU64::new(0);
    let failed = Mutex::new(None::<u64>);
    // One thread unless told otherwise: in CI this test runs beside multi-process tests
    // whose node timeouts must not starve.
    let threads: usize = std::env::var("CHAOS_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= runs || failed.lock().unwrap().is_some() {
                    return;
                }
                match std::panic::catch_unwind(|| chaos_run(seed, false)) {
                    Ok(won) => {
                        elections.fetch_add(won as u64, Ordering::Relaxed);
                    }
                    Err(_) => {
                        failed.lock().unwrap().get_or_insert(seed);
                    }
                }
            });
        }
    });
    if let Some(seed) = failed.into_inner().unwrap() {
        panic!(
            "chaos seed {seed} failed (its message is above); replay it with \
             CHAOS_SEED={seed} cargo test -p cluster --test chaos -- --nocapture"
        );
    }
    // The faults must actually exercise failover, or the invariants prove nothing.
    let won = elections.into_inner();
    eprintln!("{runs} chaos runs, {won} elections won");
    assert!(
        won >= runs,
        "only {won} elections won in {runs} runs: the chaos is too gentle"
    );
}
