//! INFO: the sections and field names that tools parse, as Redis writes them.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use crate::clock;
use crate::commands::TABLE;
use crate::memory;
use crate::server::Server;

/// Sections shown by a plain `INFO` (and `INFO default`).
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Every section, in order.
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Resolves INFO's arguments to the sections to render.
pub fn sections_for(args: &[&[u8]]) -> Vec<&'static str> {
    if args.is_empty() {
        return DEFAULT_SECTIONS.to_vec();
    }
    let mut out: Vec<&'static str> = Vec::new();
    for a in args {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        let add: Vec<&'static str> = match a.as_str() {
            "all" | "everything" => ALL_SECTIONS.to_vec(),
            "default" => DEFAULT_SECTIONS.to_vec(),
            other => ALL_SECTIONS
                .iter()
                .filter(|s| **s == other)
                .copied()
                .collect(),
        };
        for s in add {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out.sort_by_key(|s| ALL_SECTIONS.iter().position(|x| x == s));
    out
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

fn render_replication(server: &Server, now: u64, s: &mut String) {
    let repl = &server.replication;
    let (replid, replid2, offset, second, first, histlen, size) = repl.with_log(|l| {
        (
            l.replid.clone(),
            l.replid2.clone(),
            l.offset,
            l.second_offset,
            l.backlog_first_offset(),
            l.backlog.len(),
            l.backlog_size,
        )
    });
    s.push_str("# Replication\r\n");
    let primary = repl.primary.lock().clone();
    match &primary {
        Some(p) => {
            let _ = write!(
                s,
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\nslave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
                p.host,
                p.port,
                if p.link_up { "up" } else { "down" },
                if p.last_io_ms == 0 { -1 } else { (now.saturating_sub(p.last_io_ms) / 1000) as i64 },
                p.syncing as u8,
                server.config.get_i64("replica-priority"),
                server.config.get_bool("replica-read-only") as u8,
            );
        }
        None => s.push_str("role:master\r\n"),
    }
    let replicas = repl.replicas();
    let _ = write!(s, "connected_slaves:{}\r\n", replicas.len());
    for (i, r) in replicas.iter().enumerate() {
        let ack = r.ack_offset.load(Relaxed);
        let lag = now.saturating_sub(r.last_ack_ms.load(Relaxed)) / 1000;
        let _ = write!(
            s,
            "slave{i}:ip={},port={},state=online,offset={ack},lag={lag}\r\n",
            r.addr.ip(),
            r.listening_port
        );
    }
    let _ = write!(
        s,
        "master_failover_state:no-failover\r\nmaster_replid:{replid}\r\nmaster_replid2:{replid2}\r\nmaster_repl_offset:{offset}\r\nsecond_repl_offset:{second}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{size}\r\nrepl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{histlen}\r\n",
        repl.is_active() as u8
    );
}

/// Renders the given sections.
pub fn render(server: &Server, sections: &[&str]) -> String {
    let mut s = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            s.push_str("\r\n");
        }
        render_section(server, section, &mut s);
    }
    s
}

fn render_section(server: &Server, section: &str, s: &mut String) {
    let now = clock::unix_ms();
    let config = &server.config;
    let uptime = server.started.elapsed().as_secs();
    match section {
        "server" => {
            let port = server.port.load(Relaxed);
            let cluster = server.cluster.is_some();
            let _ = write!(
                s,
                "# Server\r\nredis_version:{}\r\ncinnabar_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:{}\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nworker_threads:{}\r\n",
                crate::REDIS_VERSION,
                crate::CINNABAR_VERSION,
                if cluster { "cluster" } else { "standalone" },
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                server.run_id,
                port,
                clock::unix_us(),
                uptime,
                uptime / 86400,
                config.settings().hz,
                config.settings().hz,
                (now / 1000) & 0xFF_FFFF,
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                config
                    .file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                server.workers,
            );
        }
        "clients" => {
            let _ = write!(
                s,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\ntotal_blocking_keys:{}\r\ntotal_blocking_keys_on_nokey:0\r\n",
                server.clients.len(),
                config.settings().maxclients,
                server.blocking.blocked_clients(),
                server.blocking.blocking_keys(),
            );
        }
        "memory" => {
            let used = memory::used_memory();
            let rss = memory::rss();
            server.peak_memory.fetch_max(used, Relaxed);
            let peak = server.peak_memory.load(Relaxed);
            let maxmemory = config.settings().maxmemory;
            let total = {
                // SAFETY: sysconf has no preconditions.
                let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
                let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
                (pages.max(0) as u64) * (size.max(0) as u64)
            };
            let (functions, libraries) = {
                let libs = server.scripts.libraries.read();
                (
                    libs.libs.values().map(|l| l.functions.len()).sum::<usize>(),
                    libs.libs.len(),
                )
            };
            let frag = if used > 0 {
                rss as f64 / used as f64
            } else {
                1.0
            };
            let _ = write!(
                s,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:0\r\nused_memory_startup:0\r\nused_memory_dataset:{used}\r\nused_memory_dataset_perc:100.00%\r\ntotal_system_memory:{total}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:31744\r\nused_memory_scripts:{}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_allocated:{used}\r\nmem_fragmentation_ratio:{frag:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_allocator:jemalloc\r\nlazyfree_pending_objects:0\r\n",
                memory::human(used),
                memory::human(rss),
                memory::human(peak),
                if peak > 0 { used as f64 * 100.0 / peak as f64 } else { 100.0 },
                memory::human(total),
                server.scripts.cached_bytes(),
                server.scripts.cached(),
                functions,
                libraries,
                memory::human(maxmemory),
                config.settings().maxmemory_policy,
                rss as i64 - used as i64,
            );
        }
        "persistence" => {
            let aof = server.replication.aof.read().clone();
            let _ = write!(
                s,
                "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:-1\r\n",
                server.loading.load(Relaxed) as u8,
                crate::snapshot::changes_since_save(server),
                server.snapshot.in_progress.load(Relaxed) as u8,
                server.lastsave.load(Relaxed),
                if server.snapshot.last_failed.load(Relaxed) { "err" } else { "ok" },
                match server.snapshot.last_duration_s.load(Relaxed) { u64::MAX => -1, d => d as i64 },
            );
            match aof {
                None => s.push_str("aof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\naof_last_write_status:ok\r\n"),
                Some(a) => {
                    let (total, base) = a.sizes();
                    let last = a.last_rewrite_secs.load(Relaxed);
                    let _ = write!(
                        s,
                        "aof_enabled:1\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_last_write_status:{}\r\naof_current_size:{total}\r\naof_base_size:{base}\r\naof_pending_rewrite:0\r\naof_buffer_length:0\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
                        a.rewriting.load(Relaxed) as u8,
                        if last == u64::MAX { -1 } else { last as i64 },
                        if a.rewrite_failed.load(Relaxed) { "err" } else { "ok" },
                        a.rewrites.load(Relaxed),
                        if a.write_failed.load(Relaxed) { "err" } else { "ok" },
                    );
                }
            }
        }
        "stats" => {
            let st = &server.stats;
            let expired = server
                .keyspace
                .expired_total()
                .saturating_sub(st.expired_offset.load(Relaxed));
            let _ = write!(
                s,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ninstantaneous_input_kbps:0.00\r\ninstantaneous_output_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nevicted_keys:{}\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\ntracking_total_prefixes:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
                st.connections_received.load(Relaxed),
                st.sum(|w| &w.commands),
                st.ops_per_sec(),
                st.sum(|w| &w.net_input),
                st.sum(|w| &w.net_output),
                st.rejected_connections.load(Relaxed),
                server.replication.sync_full.load(Relaxed),
                server.replication.sync_partial_ok.load(Relaxed),
                server.replication.sync_partial_err.load(Relaxed),
                expired,
                st.evicted_keys.load(Relaxed),
                st.sum(|w| &w.keyspace_hits),
                st.sum(|w| &w.keyspace_misses),
                server.pubsub.channels(None, false).len(),
                server.pubsub.numpat(),
                server.pubsub.channels(None, true).len(),
                st.errors.lock().values().sum::<u64>(),
            );
        }
        "replication" => render_replication(server, now, s),
        "cpu" => {
            let (sys, user) = cpu_times();
            let _ = write!(
                s,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{sys:.6}\r\nused_cpu_user_main_thread:{user:.6}\r\n"
            );
        }
        "modules" => s.push_str("# Modules\r\n"),
        "commandstats" => {
            s.push_str("# Commandstats\r\n");
            for (id, spec) in TABLE.all.iter().enumerate() {
                let (calls, usec, rejected, failed) = server.stats.command(id);
                if calls + rejected == 0 {
                    continue;
                }
                let per = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    s,
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                    spec.name
                );
            }
        }
        "errorstats" => {
            s.push_str("# Errorstats\r\n");
            let errors = server.stats.errors.lock();
            let mut codes: Vec<_> = errors.iter().collect();
            codes.sort();
            for (code, n) in codes {
                let _ = write!(s, "errorstat_{code}:count={n}\r\n");
            }
        }
        "cluster" => {
            let _ = write!(
                s,
                "# Cluster\r\ncluster_enabled:{}\r\n",
                server.cluster.is_some() as u8
            );
        }
        "keyspace" => {
            s.push_str("# Keyspace\r\n");
            let keys = server.keyspace.len();
            if keys > 0 {
                let _ = write!(
                    s,
                    "db0:keys={keys},expires={},avg_ttl={}\r\n",
                    server.keyspace.expires(),
                    server.keyspace.avg_ttl(now)
                );
            }
        }
        _ => {}
    }
}
