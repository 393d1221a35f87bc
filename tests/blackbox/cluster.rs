//! Cluster mode with real processes: redis-cli --cluster create/check/reshard/add-node,
//! redis-py RedisCluster, redirects, restart.

use std::process::Command;
use std::time::Duration;

use crate::harness::*;

/// Runs tests/py/write_load.py against the cluster for `secs` seconds in the background; it
/// records every acknowledged key in `acked_file`.
fn spawn_write_load(
    port: u16,
    secs: u32,
    acked_file: std::path::PathBuf,
) -> std::thread::JoinHandle<std::process::Output> {
    std::thread::spawn(move || {
        Command::new("python3")
            .arg(
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../tests/py/write_load.py"),
            )
            .args([
                &port.to_string(),
                &secs.to_string(),
                acked_file.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    })
}

/// The slots a node lists for itself in CLUSTER NODES (its `myself` line, from field 9 on).
fn own_slots(node: &TestServer) -> String {
    let text = String::from_utf8_lossy(&node.cli(&["cluster", "nodes"]).stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("myself"))
        .expect("a myself line")
        .to_string();
    line.split_whitespace()
        .skip(8)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bus port a node recorded for itself in its nodes.conf.
fn bus_port(node: &TestServer) -> String {
    let conf = std::fs::read_to_string(node.dir.join("nodes.conf")).unwrap();
    conf.lines()
        .find(|l| l.contains("myself"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|a| a.split('@').nth(1))
        .map(|p| p.split(',').next().unwrap().to_string())
        .expect("a myself line with a bus port")
}

fn py(cluster: &TestCluster, code: &str) -> String {
    let script = format!(
        "from redis.cluster import RedisCluster\nr = RedisCluster(host='127.0.0.1', port={}, decode_responses=True)\n{code}",
        cluster.nodes[0].port
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "python failed:\n{text}");
    text
}

#[test]
fn create_check_redirects_and_redis_py() {
    let cluster = TestCluster::start(3, 1, &[]);
    let check = cluster.check();
    assert!(!check.contains("[ERR]"), "{check}");
    // Who owns "foo" (slot 12182)? Everyone else answers MOVED with its address.
    let mut moved = 0;
    for n in &cluster.nodes[..3] {
        let mut c = n.raw();
        match c.cmd_str("SET foo bar") {
            Resp::Simple(s) => assert_eq!(s, "OK"),
            Resp::Error(e) => {
                assert!(e.starts_with("MOVED 12182 127.0.0.1:"), "{e}");
                moved += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(moved, 2);
    let mut c = cluster.nodes[0].raw();
    assert_eq!(
        c.cmd_str("MGET {user:alice}:feed:all foo"),
        error("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(c.cmd_str("CLUSTER KEYSLOT foo"), Resp::Int(12182));
    assert_eq!(
        c.cmd_str("CLUSTER KEYSLOT {user1000}.following"),
        c.cmd_str("CLUSTER KEYSLOT {user1000}.followers")
    );
    assert!(c
        .cmd_str("INFO cluster")
        .text()
        .contains("cluster_enabled:1"));
    assert_eq!(
        c.cmd_str("SELECT 1"),
        error("ERR SELECT is not allowed in cluster mode")
    );
    let info = c.cmd_str("CLUSTER INFO").text();
    assert!(
        info.contains("cluster_known_nodes:6") && info.contains("cluster_size:3"),
        "{info}"
    );
    // redis-py writes and reads 10k keys over every slot, hash tags keep a user's keys
    // together, pipelines and MGET on one tag work.
    let out = py(
        &cluster,
        "for i in range(10000): r.set(f'key:{i}', i)\n\
         assert all(r.get(f'key:{i}') == str(i) for i in range(10000))\n\
         assert r.keyslot('{user:alice}:feed:all') == r.keyslot('{user:alice}:profile')\n\
         p = r.pipeline()\n\
         p.set('{user:alice}:feed:all', 'a'); p.set('{user:alice}:profile', 'b'); p.execute()\n\
         assert r.mget(['{user:alice}:feed:all', '{user:alice}:profile']) == ['a', 'b']\n\
         print('py ok', r.dbsize())",
    );
    assert!(out.contains("py ok"), "{out}");
    // redis-cli -c follows redirects.
    for n in &cluster.nodes[..3] {
        let out = n.cli(&["-c", "GET", "{user:alice}:profile"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "b");
    }
    // Replicas redirect to their primary.
    let out = cluster.nodes[3].cli(&["GET", "{user:alice}:profile"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MOVED") || text.trim() == "b", "{text}");
}

#[test]
fn social_feed_example_on_the_cluster() {
    let cluster = TestCluster::start(3, 1, &[]);
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/social_feed.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(["--port", &cluster.nodes[0].port.to_string(), "--cluster"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("social feed ok"),
        "{text}"
    );
}

#[test]
fn reshard_under_load_loses_nothing() {
    let cluster = TestCluster::start(3, 0, &[]);
    py(&cluster, "for i in range(3000): r.set(f'k{i}', i)");
    let port = cluster.nodes[0].port;
    let loader = std::thread::spawn(move || {
        let code = format!(
            "import time\nfrom redis.cluster import RedisCluster\n\
             r = RedisCluster(host='127.0.0.1', port={port}, decode_responses=True)\n\
             n = 0\nt = time.time()\n\
             while time.time() - t < 8:\n    r.set(f'load{{n}}', n)\n    assert r.get(f'load{{n}}') == str(n)\n    n += 1\n\
             print('written', n)"
        );
        Command::new("python3")
            .arg("-c")
            .arg(code)
            .output()
            .unwrap()
    });
    let (from, to) = (cluster.id(0), cluster.id(1));
    let out = Command::new("redis-cli")
        .args(["--cluster", "reshard", &format!("127.0.0.1:{port}")])
        .args(["--cluster-from", &from, "--cluster-to", &to])
        .args(["--cluster-slots", "1000", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let load = loader.join().unwrap();
    let text =
        String::from_utf8_lossy(&load.stdout).into_owned() + &String::from_utf8_lossy(&load.stderr);
    assert!(load.status.success() && text.contains("written"), "{text}");
    let written: usize = text.split_whitespace().last().unwrap().parse().unwrap();
    cluster.wait_healthy();
    let out = py(
        &cluster,
        &format!(
            "assert all(r.get(f'k{{i}}') == str(i) for i in range(3000))\n\
             assert all(r.get(f'load{{i}}') == str(i) for i in range({written}))\nprint('verified')"
        ),
    );
    assert!(out.contains("verified"));
    let slots =
        String::from_utf8_lossy(&cluster.nodes[1].cli(&["cluster", "nodes"]).stdout).into_owned();
    let me = slots
        .lines()
        .find(|l| l.contains("myself"))
        .unwrap()
        .to_string();
    assert!(me.contains("0-999"), "{me}");
}

#[test]
fn ask_redirect_during_migration() {
    let cluster = TestCluster::start(3, 0, &[]);
    let (src, dst) = (&cluster.nodes, cluster.id(1));
    // Find which node owns slot 12182 ("foo") and move it by hand.
    let owner = (0..3)
        .find(|&i| {
            src[i].raw().cmd_str("CLUSTER COUNTKEYSINSLOT 12182") == Resp::Int(0) && {
                let mut c = src[i].raw();
                c.cmd_str("SET foo 1") == simple("OK")
            }
        })
        .expect("owner");
    let target = if owner == 1 { 2 } else { 1 };
    let target_id = if owner == 1 { cluster.id(2) } else { dst };
    let owner_id = cluster.id(owner);
    let mut o = src[owner].raw();
    let mut t = src[target].raw();
    assert_eq!(
        t.cmd(&[
            b"CLUSTER",
            b"SETSLOT",
            b"12182",
            b"IMPORTING",
            owner_id.as_bytes()
        ]),
        simple("OK")
    );
    assert_eq!(
        o.cmd(&[
            b"CLUSTER",
            b"SETSLOT",
            b"12182",
            b"MIGRATING",
            target_id.as_bytes()
        ]),
        simple("OK")
    );
    // A missing key in a migrating slot gets ASK; an existing one is served here.
    let ask = o.cmd_str("GET nokey{foo}");
    assert_eq!(
        ask,
        error(&format!("ASK 12182 127.0.0.1:{}", src[target].port))
    );
    assert_eq!(o.cmd_str("GET foo"), bulk("1"));
    // The target refuses without ASKING, serves with it.
    assert!(matches!(t.cmd_str("GET nokey{foo}"), Resp::Error(e) if e.starts_with("MOVED 12182")));
    assert_eq!(t.cmd_str("ASKING"), simple("OK"));
    assert_eq!(t.cmd_str("SET nokey{foo} x"), simple("OK"));
    // Multi-key with keys split across the two nodes: TRYAGAIN.
    assert_eq!(
        o.cmd_str("MGET foo nokey{foo}"),
        error("TRYAGAIN Multiple keys request during rehashing of slot")
    );
    // MIGRATE moves the remaining key; then the slot is handed over.
    let port = src[target].port.to_string();
    assert_eq!(
        o.cmd(&[
            b"MIGRATE",
            b"127.0.0.1",
            port.as_bytes(),
            b"",
            b"0",
            b"5000",
            b"KEYS",
            b"foo"
        ]),
        simple("OK")
    );
    assert_eq!(o.cmd_str("CLUSTER COUNTKEYSINSLOT 12182"), Resp::Int(0));
    for n in &cluster.nodes {
        let mut c = n.raw();
        assert_eq!(
            c.cmd(&[
                b"CLUSTER",
                b"SETSLOT",
                b"12182",
                b"NODE",
                target_id.as_bytes()
            ]),
            simple("OK")
        );
    }
    assert_eq!(t.cmd_str("GET foo"), bulk("1"));
    assert_eq!(
        o.cmd_str("GET foo"),
        error(&format!("MOVED 12182 127.0.0.1:{}", src[target].port))
    );
    cluster.wait_healthy();
}

#[test]
fn restart_all_nodes_keeps_ids_and_slots() {
    let mut cluster = TestCluster::start(3, 1, &[]);
    let before: Vec<String> = (0..6).map(|i| cluster.id(i)).collect();
    let slots_before: Vec<String> = cluster.nodes.iter().map(own_slots).collect();
    let mut restarted = Vec::new();
    for n in cluster.nodes.drain(..) {
        let mut n = n;
        n.signal("TERM");
        assert_eq!(n.wait_exit(Duration::from_secs(10)), Some(0));
        restarted.push(n);
    }
    // Start each again in the same directory with the same ports.
    for n in &mut restarted {
        let cport = bus_port(n);
        n.restart(&["--cluster-enabled", "yes", "--cluster-port", &cport]);
    }
    let cluster = TestCluster { nodes: restarted };
    cluster.wait_healthy();
    let after: Vec<String> = (0..6).map(|i| cluster.id(i)).collect();
    assert_eq!(before, after);
    let slots_after: Vec<String> = cluster.nodes.iter().map(own_slots).collect();
    assert_eq!(slots_before, slots_after);
}

/// Reads back every key listed in `file` and returns how many are missing.
fn missing_writes(cluster: &TestCluster, file: &std::path::Path) -> usize {
    let out = py(
        cluster,
        &format!(
            "keys = [k for k in open('{}').read().split() if k]\n\
             missing = sum(1 for k in keys if r.get(k) is None)\n\
             print('missing', missing, 'of', len(keys))",
            file.display()
        ),
    );
    out.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Waits until the write load has recorded `n` acknowledged writes in `file`.
fn wait_for_acked_writes(file: &std::path::Path, n: usize) {
    wait_for(
        "the write load to get writes acknowledged",
        Duration::from_secs(20),
        || {
            let acked = std::fs::read_to_string(file).map_or(0, |t| t.lines().count());
            (acked >= n).then_some(())
        },
    );
}

/// The index of the node that replicates `primary_id`.
fn replica_of(cluster: &TestCluster, primary_id: &str) -> usize {
    (0..cluster.nodes.len())
        .find(|&i| {
            let out = String::from_utf8_lossy(&cluster.nodes[i].cli(&["cluster", "nodes"]).stdout)
                .into_owned();
            out.lines()
                .any(|l| l.contains("myself") && l.contains("slave") && l.contains(primary_id))
        })
        .expect("a replica of the primary")
}

fn role_of(node: &TestServer) -> String {
    String::from_utf8_lossy(&node.cli(&["role"]).stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn sigkill_a_primary_its_replica_takes_over_and_failback_loses_nothing() {
    let mut cluster = TestCluster::start(3, 1, &["--cluster-node-timeout", "2000"]);
    let dir = temp_dir("load");
    let port = cluster.nodes[0].port;
    let load_file = dir.join("acked-1");
    let lf = load_file.clone();
    let load = spawn_write_load(port, 8, lf);
    wait_for_acked_writes(&load_file, 300);
    // Kill the primary that is not our entry point.
    let victim = 1;
    let victim_id = cluster.id(victim);
    cluster.nodes[victim].kill();
    let replica = replica_of(&cluster, &victim_id);
    wait_for(
        "the replica to be promoted",
        Duration::from_secs(20),
        || (role_of(&cluster.nodes[replica]) == "master").then_some(()),
    );
    let out = load.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Writes to the moved slots succeed again.
    py(&cluster, "for i in range(200): r.set(f'after:{i}', i)\nassert all(r.get(f'after:{i}') == str(i) for i in range(200))");
    let lost_on_kill = missing_writes(&cluster, &load_file);
    // The old primary comes back as a replica of the winner and catches up.
    let cport = bus_port(&cluster.nodes[victim]);
    cluster.nodes[victim].restart(&[
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        &cport,
        "--cluster-node-timeout",
        "2000",
    ]);
    wait_for(
        "the old primary to become a replica",
        Duration::from_secs(20),
        || {
            let out = cluster.nodes[victim].cli(&["info", "replication"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            (text.contains("role:slave") && text.contains("master_link_status:up")).then_some(())
        },
    );
    // Fail back with CLUSTER FAILOVER under a second write load: nothing acknowledged is lost.
    let load_file2 = dir.join("acked-2");
    let lf2 = load_file2.clone();
    let load2 = spawn_write_load(port, 5, lf2);
    wait_for_acked_writes(&load_file2, 300);
    let mut c = cluster.nodes[victim].raw();
    assert_eq!(c.cmd_str("CLUSTER FAILOVER"), simple("OK"));
    wait_for("roles to swap back", Duration::from_secs(20), || {
        (role_of(&cluster.nodes[victim]) == "master" && role_of(&cluster.nodes[replica]) == "slave")
            .then_some(())
    });
    assert!(load2.join().unwrap().status.success());
    cluster.wait_healthy();
    assert_eq!(
        missing_writes(&cluster, &load_file2),
        0,
        "acknowledged writes lost on manual failover"
    );
    eprintln!("acknowledged writes lost on SIGKILL failover: {lost_on_kill}");
    assert!(lost_on_kill < 50, "lost {lost_on_kill} acknowledged writes");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn slot_hashing_agrees_with_redis_server() {
    // The reference: a real redis-server in cluster mode.
    let dir = temp_dir("redis-ref");
    let (port, bus) = (free_port(), free_port());
    let mut reference = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--cluster-enabled", "yes"])
        .args([
            "--cluster-port",
            &bus.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server)");
    struct Reap<'a>(&'a mut std::process::Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _reap = Reap(&mut reference);
    let mut theirs = wait_for("redis-server", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| RawConn::connect(port))
    });
    let ours_server = TestServer::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        &free_port().to_string(),
    ]);
    let mut ours = ours_server.raw();
    let mut keys: Vec<Vec<u8>> = [
        "{}",
        "{{a}}",
        "a{}b{c}",
        "{a}{b}",
        "}{",
        "{",
        "}",
        "",
        "foo{bar}{zap}",
        "{user1000}.following",
    ]
    .iter()
    .map(|k| k.as_bytes().to_vec())
    .collect();
    let mut x: u32 = 12345;
    for i in 0..3000 {
        let mut k = format!("key:{i}:{{tag{}}}", i % 97).into_bytes();
        for _ in 0..(i % 7) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            k.push((x & 0xff) as u8);
        }
        keys.push(k);
    }
    let batch: Vec<u8> = keys
        .iter()
        .flat_map(|k| encode(&[b"CLUSTER", b"KEYSLOT", k]))
        .collect();
    ours.send(&batch);
    theirs.send(&batch);
    for k in &keys {
        assert_eq!(
            ours.read(),
            theirs.read(),
            "slot of {:?}",
            String::from_utf8_lossy(k)
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sigstop_a_primary_past_the_timeout_then_sigcont_it_steps_down() {
    let cluster = TestCluster::start(3, 1, &["--cluster-node-timeout", "1000"]);
    let victim = 1;
    let victim_id = cluster.id(victim);
    let replica = replica_of(&cluster, &victim_id);
    let replica_id = cluster.id(replica);
    py(&cluster, "for i in range(300): r.set(f'before:{i}', i)");
    cluster.nodes[victim].signal("STOP");
    wait_for(
        "the replica to be promoted",
        Duration::from_secs(20),
        || (role_of(&cluster.nodes[replica]) == "master").then_some(()),
    );
    cluster.nodes[victim].signal("CONT");
    // The frozen primary wakes up to a newer epoch: it steps down and follows the winner.
    wait_for(
        "the old primary to follow the new one",
        Duration::from_secs(20),
        || {
            let out = cluster.nodes[victim].cli(&["info", "replication"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let nodes =
                String::from_utf8_lossy(&cluster.nodes[victim].cli(&["cluster", "nodes"]).stdout)
                    .into_owned();
            let follows = nodes
                .lines()
                .any(|l| l.contains("myself") && l.contains("slave") && l.contains(&replica_id));
            (follows && text.contains("master_link_status:up")).then_some(())
        },
    );
    cluster.wait_healthy();
    py(
        &cluster,
        "assert all(r.get(f'before:{i}') == str(i) for i in range(300))\nfor i in range(100): r.set(f'after:{i}', i)",
    );
}
