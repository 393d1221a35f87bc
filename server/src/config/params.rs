//! The table of configuration parameters: every redis.conf directive Cinnabar accepts, with
//! its type, default, aliases and whether `CONFIG SET` may change it.
//!
//! Directives that Redis has but that do not change Cinnabar's behaviour yet are accepted and
//! reported by `CONFIG GET`, so that existing redis.conf files and tools keep working; the
//! README's compatibility table lists them.

/// The type of a parameter's value, which decides how it is parsed and normalized.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// An integer within bounds.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A byte count with optional unit (`100mb`, `1g`); normalized to plain bytes.
    Memory,
    /// Free text.
    Str,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// `save`: pairs of `<seconds> <changes>`, or empty.
    Save,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <soft-seconds>` groups.
    OutputBufferLimit,
    /// Several words kept as given (joined by one space).
    Words,
    /// `notify-keyspace-events` letters.
    EventFlags,
}

/// One configuration parameter.
#[derive(Debug)]
pub struct Param {
    /// Canonical name.
    pub name: &'static str,
    /// Other accepted names (`slaveof` for `replicaof`).
    pub aliases: &'static [&'static str],
    /// Value type.
    pub kind: Kind,
    /// Default value, in normalized form.
    pub default: &'static str,
    /// Whether `CONFIG SET` may change it at run time.
    pub mutable: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        aliases: &[],
        kind,
        default,
        mutable: true,
    }
}

const fn fixed(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        aliases: &[],
        kind,
        default,
        mutable: false,
    }
}

const fn alias(
    name: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    default: &'static str,
) -> Param {
    Param {
        name,
        aliases,
        kind,
        default,
        mutable: true,
    }
}

const B: Kind = Kind::Bool;
const S: Kind = Kind::Str;
const M: Kind = Kind::Memory;
const W: Kind = Kind::Words;
const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}
const U: Kind = int(0, i64::MAX);
const I32: Kind = int(0, i32::MAX as i64);

/// The maxmemory policies Redis documents.
pub const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
    // Cinnabar's own: see `keyspace::sketch`.
    "allkeys-tinylfu",
];

/// Every parameter, in the order `CONFIG REWRITE` appends them.
pub static PARAMS: &[Param] = &[
    // Network.
    p("bind", W, "* -::*"),
    p("bind-source-addr", S, ""),
    p("protected-mode", B, "yes"),
    fixed("port", int(0, 65535), "6379"),
    fixed("tcp-backlog", I32, "511"),
    fixed("unixsocket", S, ""),
    fixed("unixsocketperm", I32, "0"),
    p("timeout", I32, "0"),
    p("tcp-keepalive", I32, "300"),
    p("socket-mark-id", I32, "0"),
    // General.
    fixed("daemonize", B, "no"),
    fixed(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
    ),
    p("pidfile", S, ""),
    p(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
        "notice",
    ),
    fixed("logfile", S, ""),
    fixed("syslog-enabled", B, "no"),
    fixed("syslog-ident", S, "redis"),
    fixed("syslog-facility", S, "local0"),
    p("crash-log-enabled", B, "yes"),
    p("crash-memcheck-enabled", B, "yes"),
    fixed("databases", int(1, i32::MAX as i64), "16"),
    fixed("always-show-logo", B, "no"),
    p("set-proc-title", B, "yes"),
    p(
        "proc-title-template",
        S,
        "{title} {listen-addr} {server-mode}",
    ),
    p("locale-collate", S, ""),
    // Snapshots.
    p("save", Kind::Save, "3600 1 300 100 60 10000"),
    p("stop-writes-on-bgsave-error", B, "yes"),
    p("rdbcompression", B, "yes"),
    p("rdbchecksum", B, "yes"),
    p(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
    ),
    p("dbfilename", S, "dump.rdb"),
    p("rdb-del-sync-files", B, "no"),
    p("dir", S, "."),
    p("rdb-save-incremental-fsync", B, "yes"),
    // Replication.
    alias("replicaof", &["slaveof"], W, ""),
    p("masterauth", S, ""),
    p("masteruser", S, ""),
    alias(
        "replica-serve-stale-data",
        &["slave-serve-stale-data"],
        B,
        "yes",
    ),
    alias("replica-read-only", &["slave-read-only"], B, "yes"),
    p("repl-diskless-sync", B, "yes"),
    p("repl-diskless-sync-delay", I32, "5"),
    p("repl-diskless-sync-max-replicas", I32, "0"),
    p(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
    ),
    alias(
        "repl-ping-replica-period",
        &["repl-ping-slave-period"],
        int(1, i32::MAX as i64),
        "10",
    ),
    p("repl-timeout", int(1, i32::MAX as i64), "60"),
    p("repl-disable-tcp-nodelay", B, "no"),
    p("repl-backlog-size", M, "1048576"),
    p("repl-backlog-ttl", I32, "3600"),
    alias("replica-priority", &["slave-priority"], I32, "100"),
    p(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
    ),
    p("replica-ignore-disk-write-errors", B, "no"),
    p("replica-announced", B, "yes"),
    alias("min-replicas-to-write", &["min-slaves-to-write"], I32, "0"),
    alias("min-replicas-max-lag", &["min-slaves-max-lag"], I32, "10"),
    alias("replica-announce-ip", &["slave-announce-ip"], S, ""),
    alias(
        "replica-announce-port",
        &["slave-announce-port"],
        int(0, 65535),
        "0",
    ),
    alias("replica-lazy-flush", &["slave-lazy-flush"], B, "no"),
    // Security and clients.
    p("requirepass", S, ""),
    p("acllog-max-len", I32, "128"),
    fixed("aclfile", S, ""),
    p("maxclients", int(1, i32::MAX as i64), "10000"),
    // Memory.
    p("maxmemory", M, "0"),
    p(
        "maxmemory-policy",
        Kind::Enum(MAXMEMORY_POLICIES),
        "noeviction",
    ),
    p("maxmemory-samples", int(1, 64), "5"),
    p("maxmemory-eviction-tenacity", int(0, 100), "10"),
    alias(
        "replica-ignore-maxmemory",
        &["slave-ignore-maxmemory"],
        B,
        "yes",
    ),
    p("active-expire-effort", int(1, 10), "1"),
    p("lfu-log-factor", I32, "10"),
    p("lfu-decay-time", I32, "1"),
    p("lazyfree-lazy-eviction", B, "no"),
    p("lazyfree-lazy-expire", B, "no"),
    p("lazyfree-lazy-server-del", B, "no"),
    p("lazyfree-lazy-user-del", B, "no"),
    p("lazyfree-lazy-user-flush", B, "no"),
    // Threads.
    fixed("io-threads", int(1, 128), "1"),
    fixed("io-threads-do-reads", B, "no"),
    fixed("worker-threads", int(0, 1024), "0"),
    p(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
    ),
    p("oom-score-adj-values", W, "0 200 800"),
    fixed("disable-thp", B, "yes"),
    // Append only file.
    p("appendonly", B, "no"),
    fixed("appendfilename", S, "appendonly.aof"),
    fixed("appenddirname", S, "appendonlydir"),
    p(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        "everysec",
    ),
    p("no-appendfsync-on-rewrite", B, "no"),
    p("auto-aof-rewrite-percentage", I32, "100"),
    p("auto-aof-rewrite-min-size", M, "67108864"),
    p("aof-load-truncated", B, "yes"),
    p("aof-use-rdb-preamble", B, "yes"),
    p("aof-timestamp-enabled", B, "no"),
    p("aof-rewrite-incremental-fsync", B, "yes"),
    p("shutdown-timeout", I32, "10"),
    p("shutdown-on-sigint", W, "default"),
    p("shutdown-on-sigterm", W, "default"),
    alias("busy-reply-threshold", &["lua-time-limit"], U, "5000"),
    // Cluster.
    fixed("cluster-enabled", B, "no"),
    fixed("cluster-config-file", S, "nodes.conf"),
    p("cluster-node-timeout", int(1, i64::MAX), "15000"),
    fixed("cluster-port", int(0, 65535), "0"),
    alias(
        "cluster-replica-validity-factor",
        &["cluster-slave-validity-factor"],
        I32,
        "10",
    ),
    p("cluster-migration-barrier", I32, "1"),
    p("cluster-allow-replica-migration", B, "yes"),
    p("cluster-require-full-coverage", B, "yes"),
    alias(
        "cluster-replica-no-failover",
        &["cluster-slave-no-failover"],
        B,
        "no",
    ),
    p("cluster-allow-reads-when-down", B, "no"),
    p("cluster-allow-pubsubshard-when-down", B, "yes"),
    p("cluster-link-sendbuf-limit", M, "0"),
    p("cluster-announce-ip", S, ""),
    p("cluster-announce-port", int(0, 65535), "0"),
    p("cluster-announce-bus-port", int(0, 65535), "0"),
    p("cluster-announce-tls-port", int(0, 65535), "0"),
    p("cluster-announce-hostname", S, ""),
    p("cluster-announce-human-nodename", S, ""),
    p(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
    ),
    // Introspection.
    p("slowlog-log-slower-than", int(-1, i64::MAX), "10000"),
    p("slowlog-max-len", U, "128"),
    p("latency-monitor-threshold", U, "0"),
    p("latency-tracking", B, "yes"),
    p("latency-tracking-info-percentiles", W, "50 99 99.9"),
    p("notify-keyspace-events", Kind::EventFlags, ""),
    // Encodings (used by the data-type issue).
    alias(
        "hash-max-listpack-entries",
        &["hash-max-ziplist-entries"],
        U,
        "128",
    ),
    alias(
        "hash-max-listpack-value",
        &["hash-max-ziplist-value"],
        U,
        "64",
    ),
    alias(
        "list-max-listpack-size",
        &["list-max-ziplist-size"],
        int(i32::MIN as i64, i32::MAX as i64),
        "-2",
    ),
    p("list-compress-depth", I32, "0"),
    p("set-max-intset-entries", U, "512"),
    p("set-max-listpack-entries", U, "128"),
    p("set-max-listpack-value", U, "64"),
    alias(
        "zset-max-listpack-entries",
        &["zset-max-ziplist-entries"],
        U,
        "128",
    ),
    alias(
        "zset-max-listpack-value",
        &["zset-max-ziplist-value"],
        U,
        "64",
    ),
    p("hll-sparse-max-bytes", M, "3000"),
    p("stream-node-max-bytes", M, "4096"),
    p("stream-node-max-entries", U, "100"),
    p("activerehashing", B, "yes"),
    p(
        "client-output-buffer-limit",
        Kind::OutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    p("client-query-buffer-limit", M, "1073741824"),
    p("proto-max-bulk-len", M, "536870912"),
    p("hz", int(1, 500), "10"),
    p("dynamic-hz", B, "yes"),
    p("jemalloc-bg-thread", B, "yes"),
    p("activedefrag", B, "no"),
    p("active-defrag-ignore-bytes", M, "104857600"),
    p("active-defrag-threshold-lower", int(0, 1000), "10"),
    p("active-defrag-threshold-upper", int(0, 1000), "100"),
    p("active-defrag-cycle-min", int(1, 99), "1"),
    p("active-defrag-cycle-max", int(1, 99), "25"),
    p("active-defrag-max-scan-fields", U, "1000"),
    p("max-new-connections-per-cycle", int(1, 1000), "10"),
    p("max-new-tls-connections-per-cycle", int(1, 1000), "1"),
    fixed(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    fixed(
        "enable-protected-configs",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    fixed(
        "enable-module-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    p("tracking-table-max-keys", U, "1000000"),
    p("ignore-warnings", S, ""),
];

/// Finds a parameter by name or alias, ignoring case.
pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| {
        p.name.eq_ignore_ascii_case(name) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}
