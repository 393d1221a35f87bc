//! Cinnabar's server crate: a Redis-compatible cache server.
//!
//! A request travels through these modules, in order:
//!
//! 1. [`net`]: the acceptor hands each connection to a worker thread; the connection loop
//!    reads, decodes every complete command in the buffer and writes all replies at once;
//! 2. [`resp`]: the streaming RESP decoder and the RESP2/RESP3 reply writer;
//! 3. [`dispatch`]: the ordered chain of gates (lookup, arity, auth, pause) and accounting;
//! 4. [`commands`]: the command table and one small handler per command;
//! 5. [`keyspace`]: 16384 slot tables with short locks, lazy and active expiry.
//!
//! Around them: [`config`] (redis.conf, CONFIG), [`server`] (shared state), [`client`]
//! (connected clients), [`stats`] and [`info`] (INFO), [`clock`] (the one wall clock).

pub mod aof;
pub mod blocking;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod dispatch;
pub mod dump;
pub mod error;
pub mod evict;
pub mod glob;
pub mod info;
pub mod keyspace;
pub mod memory;
pub mod net;
pub mod notify;
pub mod pubsub;
pub mod replication;
pub mod resp;
pub mod scripting;
pub mod server;
pub mod slot_snapshot;
pub mod snapshot;
pub mod stats;
pub mod types;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use config::Config;
use server::Server;

/// The Redis version Cinnabar reports, so that clients enable the 7.2 features it implements.
pub const REDIS_VERSION: &str = "7.2.4";
/// Cinnabar's own version.
pub const CINNABAR_VERSION: &str = env!("CARGO_PKG_VERSION");

fn usage() {
    println!(
        "Usage: cinnabar [/path/to/redis.conf] [options] [-]\n       cinnabar -v or --version\n       cinnabar -h or --help\n\nExamples:\n       cinnabar (run the server with default conf)\n       cinnabar /etc/redis/6379.conf\n       cinnabar --port 7777\n       cinnabar /etc/myredis.conf --loglevel verbose"
    );
}

/// Reads the configuration from the command line (`[conf-file] [--opt value ...]`).
fn load_config(args: &[String]) -> Result<Config, String> {
    let (file, opts) = match args.first() {
        Some(first) if !first.starts_with("--") => (Some(first.clone()), &args[1..]),
        _ => (None, args),
    };
    let file = file.map(|f| {
        let p = PathBuf::from(&f);
        if p.is_absolute() {
            p
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        }
    });
    let config = Config::new(file.clone());
    let mut directives = Vec::new();
    if let Some(path) = &file {
        directives.extend(config::file::read_file(path, 0).map_err(|e| e.to_string())?);
    }
    directives.extend(config::file::options_to_directives(opts));
    config::file::apply(&config, &directives).map_err(|e| e.to_string())?;
    Ok(config)
}

fn init_logging(config: &Config) {
    use tracing_subscriber::filter::LevelFilter;
    let level = match config.get("loglevel").as_deref() {
        Some("debug") | Some("verbose") => LevelFilter::DEBUG,
        Some("warning") => LevelFilter::WARN,
        Some("nothing") => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(false);
    let logfile = config.get("logfile").unwrap_or_default();
    if logfile.is_empty() {
        builder.with_writer(std::io::stdout).init();
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)
        {
            Ok(f) => builder.with_writer(std::sync::Mutex::new(f)).init(),
            Err(e) => {
                eprintln!("Can't open the log file: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// Runs the server with redis-server's command line; returns the process exit code.
pub fn run(args: Vec<String>) -> i32 {
    match args.first().map(String::as_str) {
        Some("-v") | Some("--version") => {
            println!(
                "Cinnabar server v={CINNABAR_VERSION} (Redis-compatible v={REDIS_VERSION}) bits=64"
            );
            return 0;
        }
        Some("-h") | Some("--help") => {
            usage();
            return 0;
        }
        _ => {}
    }
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    init_logging(&config);
    let dir = config.get("dir").unwrap_or_else(|| ".".into());
    if let Err(e) = std::env::set_current_dir(&dir) {
        tracing::warn!("Can't chdir to '{dir}': {e}");
        return 1;
    }
    let workers = match config.get_i64("worker-threads") {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n as usize,
    };
    let cluster_setup = if config.get_bool("cluster-enabled") {
        match setup_cluster(&config) {
            Ok(setup) => Some(setup),
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("{e}");
                return 1;
            }
        }
    } else {
        None
    };
    let cluster_node = cluster_setup.as_ref().map(|s| s.node.clone());
    let server = Arc::new(Server::new(config, workers, cluster_node));
    let _ = server.me.set(Arc::downgrade(&server));
    evict::start_monitor(server.clone());
    tracing::info!(
        "Cinnabar {CINNABAR_VERSION} (Redis {REDIS_VERSION} compatible) starting, pid={}, workers={workers}",
        std::process::id()
    );
    let listeners = match net::bind_all(&server) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{e}");
            return 1;
        }
    };
    let port = listeners[0].local_addr().map(|a| a.port()).unwrap_or(0);
    server
        .port
        .store(port as u64, std::sync::atomic::Ordering::Relaxed);
    let pidfile = server.config.get("pidfile").unwrap_or_default();
    if !pidfile.is_empty() {
        let _ = std::fs::write(&pidfile, format!("{}\n", std::process::id()));
    }
    let senders = Arc::new(net::start_workers(&server));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("main runtime");
    let _ = server.runtime.set(rt.handle().clone());
    let replicaof = server.config.get("replicaof").unwrap_or_default();
    let loaded = rt.block_on(async {
        // Clients connect while the data set loads and get -LOADING (INFO says loading:1).
        server
            .loading
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for l in listeners {
            tokio::spawn(net::accept_loop(server.clone(), l, senders.clone()));
        }
        let srv = server.clone();
        let result = tokio::task::spawn_blocking(move || load_data(&srv))
            .await
            .unwrap_or_else(|e| Err(format!("loading failed: {e}")));
        server
            .loading
            .store(false, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = result {
            tracing::error!("{e}");
            eprintln!("{e}");
            return false;
        }
        if let Some((host, port)) = replicaof.split_once(' ') {
            if let Ok(port) = port.trim().parse::<u16>() {
                replication::replica::start(&server, host.to_string(), port);
            }
        }
        tokio::spawn(cron(server.clone()));
        if let Some(setup) = cluster_setup {
            tokio::spawn(cluster::driver::run(
                setup.node,
                server.clone(),
                setup.listener,
                setup.actions,
            ));
        }
        tracing::info!("Ready to accept connections tcp");
        wait_for_shutdown(&server).await;
        true
    });
    if !loaded {
        rt.shutdown_background();
        return 1;
    }
    if let Some(aof) = server.replication.aof.read().as_ref() {
        aof.flush();
        tracing::info!("Calling fsync() on the AOF file.");
    }
    // As Redis: save on the way out when SHUTDOWN SAVE asks, or when `save` rules exist
    // (unless SHUTDOWN NOSAVE).
    let mode = server
        .shutdown_save
        .load(std::sync::atomic::Ordering::Relaxed);
    if mode == 1 || (mode == 0 && !snapshot::rules(&server).is_empty()) {
        tracing::info!("Saving the final snapshot before exiting.");
        if let Err(e) = snapshot::save(&server) {
            tracing::warn!("Error trying to save the DB, can't exit: {e}");
        }
    }
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    tracing::info!("Cinnabar is now ready to exit, bye bye...");
    // Do not wait for background work (an expiry step may be waiting for a slot that a busy
    // script holds: SHUTDOWN NOSAVE must still exit).
    rt.shutdown_background();
    0
}

/// Loads the data set at start-up: the AOF when `appendonly yes`, else the snapshot.
fn load_data(server: &Arc<Server>) -> Result<(), String> {
    if server.config.get_bool("appendonly") {
        start_aof(server, true)
    } else {
        snapshot::load(server).map(|_| ())
    }
}

/// Opens the AOF: replays it first when `load` (start-up), otherwise writes the current data
/// set as its base (turning `appendonly` on at run time). Writes are streamed from then on.
pub fn start_aof(server: &Arc<Server>, load: bool) -> Result<(), String> {
    let config = &server.config;
    let dir = PathBuf::from(
        config
            .get("appenddirname")
            .unwrap_or_else(|| "appendonlydir".into()),
    );
    let name = config
        .get("appendfilename")
        .unwrap_or_else(|| "appendonly.aof".into());
    let aof_dir = persistence::AofDir::open(dir, &name).map_err(|e| e.to_string())?;
    if load {
        aof::load(server, &aof_dir, config.get_bool("aof-load-truncated"))?;
    }
    let gates: Vec<&parking_lot::RwLock<()>> =
        server.stats.workers.iter().map(|w| &w.repl_gate).collect();
    server.replication.activate(&gates);
    let policy = aof::Policy::parse(&config.get("appendfsync").unwrap_or_default());
    let aof = aof::Aof::start(aof_dir, policy)?;
    *server.replication.aof.write() = Some(aof.clone());
    if !load {
        aof.rewrite(server);
    }
    Ok(())
}

/// What cluster mode needs at start-up.
struct ClusterSetup {
    node: Arc<cluster::ClusterNode>,
    listener: std::net::TcpListener,
    actions: tokio::sync::mpsc::UnboundedReceiver<::cluster::Action>,
}

/// Loads (or creates) nodes.conf and binds the cluster bus port.
fn setup_cluster(config: &Config) -> Result<ClusterSetup, String> {
    let port = config.get_i64("port") as u16;
    let cport = match config.get_i64("cluster-port") {
        0 => port
            .checked_add(10000)
            .ok_or("the cluster bus port (port + 10000) is out of range; set cluster-port")?,
        p => p as u16,
    };
    let announced_cport = match config.get_i64("cluster-announce-bus-port") {
        0 => cport,
        p => p as u16,
    };
    let announced_port = match config.get_i64("cluster-announce-port") {
        0 => port,
        p => p as u16,
    };
    let settings = ::cluster::Settings {
        node_timeout: config.get_i64("cluster-node-timeout").max(1) as u64,
        require_full_coverage: config.get_bool("cluster-require-full-coverage"),
        announce_ip: config.get("cluster-announce-ip").unwrap_or_default(),
        port: announced_port,
        cport: announced_cport,
        hostname: config.get("cluster-announce-hostname").unwrap_or_default(),
    };
    let seed = rand::random::<u64>();
    let mut state = ::cluster::Cluster::new(settings, seed);
    let path = PathBuf::from(
        config
            .get("cluster-config-file")
            .unwrap_or_else(|| "nodes.conf".into()),
    );
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            let loaded = ::cluster::nodes_conf::parse_file(&text).map_err(|e| {
                format!(
                    "Unrecoverable error: corrupted cluster config file \"{}\": {e}",
                    path.display()
                )
            })?;
            state.restore(loaded);
            tracing::info!("Node configuration loaded, I'm {}", state.myself);
        }
        _ => tracing::info!("No cluster configuration found, I'm {}", state.myself),
    }
    let bind = config.get("bind").unwrap_or_default();
    let addr = net::bind_addresses(&bind, cport)
        .into_iter()
        .map(|(a, _)| a)
        .next()
        .ok_or("no address to bind the cluster bus to")?;
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|e| format!("Could not create the cluster bus listening socket {addr}: {e}"))?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let node = Arc::new(cluster::ClusterNode::new(state, path, tx));
    node.save()
        .map_err(|e| format!("Could not save the cluster configuration: {e}"))?;
    Ok(ClusterSetup {
        node,
        listener,
        actions: rx,
    })
}

async fn wait_for_shutdown(server: &Server) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("Received SIGTERM scheduling shutdown..."),
        _ = int.recv() => tracing::info!("Received SIGINT scheduling shutdown..."),
        _ = server.shutdown.notified() => tracing::info!("User requested shutdown..."),
    }
}

/// Starts an AOF rewrite when the AOF grew past `auto-aof-rewrite-percentage` of its base
/// and past `auto-aof-rewrite-min-size`.
fn maybe_rewrite_aof(server: &Arc<Server>) {
    let Some(aof) = server.replication.aof.read().clone() else {
        return;
    };
    if aof.rewriting.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let pct = server.config.get_i64("auto-aof-rewrite-percentage");
    let min = server.config.get_i64("auto-aof-rewrite-min-size") as u64;
    let (total, base) = aof.sizes();
    if pct > 0 && total >= min && total > base + base * pct as u64 / 100 {
        tracing::info!("Starting automatic rewriting of AOF on {}% growth", pct);
        aof.rewrite(server);
    }
}

/// Background work, `hz` times a second: active expiry, statistics samples, memory peak.
async fn cron(server: Arc<Server>) {
    let mut cursor = 0usize;
    loop {
        let hz = server.config.settings().hz.max(1);
        let period = Duration::from_millis(1000 / hz);
        tokio::time::sleep(period).await;
        let now = clock::unix_ms();
        server.stats.sample_ops(now);
        memory::update_peak(&server);
        maybe_rewrite_aof(&server);
        snapshot::maybe_save(&server, now / 1000);
        if server
            .active_expire
            .load(std::sync::atomic::Ordering::Relaxed)
            && !server.replication.is_replica()
        {
            let effort = server.config.settings().active_expire_effort;
            // Up to a quarter of the period (more with a higher effort), as Redis does.
            let budget = period.mul_f64(0.25 * (1.0 + (effort as f64 - 1.0) / 9.0));
            let srv = server.clone();
            let _ = tokio::task::spawn_blocking(move || {
                srv.keyspace.active_expire_step(now, budget, &mut cursor);
                cursor
            })
            .await
            .map(|c| cursor = c);
        }
    }
}
