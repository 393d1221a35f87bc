//! Configuration: redis.conf parsing, `CONFIG GET/SET/REWRITE`, and the typed settings the
//! rest of the server reads.
//!
//! - [`params`]: the table of every accepted directive (type, default, aliases, mutability);
//! - [`file`]: the redis.conf syntax (quotes, `include`, units) and `CONFIG REWRITE`;
//! - this module: [`Config`], the live store. Values are kept in normalized text form (what
//!   `CONFIG GET` prints); every change rebuilds an immutable [`Settings`] snapshot that hot
//!   paths read without parsing (connections re-fetch it when [`Config::version`] moves).

pub mod file;
pub mod params;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use params::{Kind, Param, PARAMS};

/// Why a directive or `CONFIG SET` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The directive does not exist or has the wrong number of arguments.
    #[error("Bad directive or wrong number of arguments")]
    BadDirective,
    /// The value does not parse for the parameter's type.
    #[error("{0}")]
    BadValue(String),
    /// The parameter cannot change at run time.
    #[error("can't set immutable config")]
    Immutable,
}

/// Parses a memory amount: a number with an optional unit (`k kb m mb g gb`, any case).
pub fn parse_memory(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mul: i64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n: i64 = num.parse().ok()?;
    if n < 0 {
        return None;
    }
    n.checked_mul(mul)
}

/// Validates `value` for `param` and returns its normalized form.
pub fn normalize(param: &Param, value: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| Err(ConfigError::BadValue(why.to_string()));
    match param.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => bad("argument must be 'yes' or 'no'"),
        },
        Kind::Int { min, max } => {
            let v = parse_memory(value)
                .or_else(|| value.parse::<i64>().ok())
                .filter(|_| !value.is_empty());
            match v {
                Some(v) if v >= min && v <= max => Ok(v.to_string()),
                Some(_) => Err(ConfigError::BadValue(format!(
                    "argument must be between {min} and {max} inclusive"
                ))),
                None => bad("argument couldn't be parsed into an integer"),
            }
        }
        Kind::Memory => match parse_memory(value) {
            Some(v) => Ok(v.to_string()),
            None => bad("argument must be a memory value"),
        },
        Kind::Str => Ok(value.to_string()),
        Kind::Words => Ok(value.split_whitespace().collect::<Vec<_>>().join(" ")),
        Kind::Enum(options) => {
            let lower = value.to_ascii_lowercase();
            if options.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err(ConfigError::BadValue(format!(
                    "argument(s) must be one of the following: {}",
                    options.join(", ")
                )))
            }
        }
        Kind::Save => {
            let words: Vec<&str> = value.split_whitespace().collect();
            if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<u64>().is_err()) {
                return bad("Invalid save parameters");
            }
            Ok(words.join(" "))
        }
        Kind::OutputBufferLimit => Ok(value.to_string()),
        Kind::EventFlags => match crate::notify::parse_flags(value) {
            Some(_) => Ok(value.to_string()),
            None => bad("Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
        },
    }
}

/// Merges `client-output-buffer-limit` groups in `update` into `current`.
fn merge_output_buffer_limit(current: &str, update: &str) -> Result<String, ConfigError> {
    let bad = || ConfigError::BadValue("Invalid client-output-buffer-limit parameters".into());
    let mut classes: Vec<(String, [i64; 3])> = Vec::new();
    for text in [current, update] {
        let words: Vec<&str> = text.split_whitespace().collect();
        if !words.len().is_multiple_of(4) || words.is_empty() {
            return Err(bad());
        }
        for group in words.chunks(4) {
            let class = match group[0].to_ascii_lowercase().as_str() {
                "normal" => "normal",
                "slave" | "replica" => "slave",
                "pubsub" => "pubsub",
                _ => return Err(bad()),
            };
            let hard = parse_memory(group[1]).ok_or_else(bad)?;
            let soft = parse_memory(group[2]).ok_or_else(bad)?;
            let secs: i64 = group[3].parse().map_err(|_| bad())?;
            match classes.iter_mut().find(|(c, _)| c == class) {
                Some(entry) => entry.1 = [hard, soft, secs],
                None => classes.push((class.to_string(), [hard, soft, secs])),
            }
        }
    }
    Ok(classes
        .iter()
        .map(|(c, [h, s, t])| format!("{c} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The typed, immutable view of the configuration that the hot paths read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `maxclients`.
    pub maxclients: usize,
    /// `timeout` in seconds (0: never).
    pub timeout_secs: u64,
    /// `proto-max-bulk-len`.
    pub proto_max_bulk_len: usize,
    /// `client-query-buffer-limit`.
    pub client_query_buffer_limit: usize,
    /// Hard output-buffer limit for normal clients (0: none).
    pub normal_output_hard_limit: usize,
    /// `client-output-buffer-limit replica ...`.
    pub replica_output_limits: crate::replication::OutputLimits,
    /// `slowlog-log-slower-than` in microseconds (negative: off).
    pub slowlog_slower_than: i64,
    /// `slowlog-max-len`.
    pub slowlog_max_len: usize,
    /// `busy-reply-threshold` in milliseconds (0: never busy).
    pub busy_reply_threshold_ms: u64,
    /// `latency-monitor-threshold` in milliseconds (0: off).
    pub latency_threshold_ms: u64,
    /// `requirepass` (empty: no password).
    pub requirepass: String,
    /// `maxmemory` in bytes (0: no limit).
    pub maxmemory: u64,
    /// `maxmemory-policy`.
    pub maxmemory_policy: String,
    /// `maxmemory-samples` (at least 1).
    pub maxmemory_samples: usize,
    /// How long one eviction step on the write path may take
    /// (`maxmemory-eviction-tenacity`, see [`crate::evict::eviction_budget`]).
    pub eviction_budget: std::time::Duration,
    /// `hz`.
    pub hz: u64,
    /// `enable-debug-command` is `yes` or `local`.
    pub debug_enabled: bool,
    /// `enable-debug-command` is exactly `local`.
    pub debug_local_only: bool,
    /// `active-expire-effort`.
    pub active_expire_effort: u64,
    /// Compact-encoding thresholds.
    pub encoding: crate::types::EncodingLimits,
    /// `notify-keyspace-events` as a bit set (see `notify::parse_flags`).
    pub notify_flags: u32,
    /// `min-replicas-to-write`.
    pub min_replicas_to_write: usize,
    /// `min-replicas-max-lag` in milliseconds.
    pub min_replicas_max_lag_ms: u64,
    /// `replica-serve-stale-data`.
    pub replica_serve_stale_data: bool,
    /// `replica-ignore-maxmemory`.
    pub replica_ignore_maxmemory: bool,
    /// `cluster-allow-reads-when-down`.
    pub cluster_allow_reads_when_down: bool,
}

/// The live configuration.
pub struct Config {
    values: RwLock<HashMap<&'static str, String>>,
    settings: RwLock<Arc<Settings>>,
    version: AtomicU64,
    /// Whether a `save` directive was read (the first one replaces the default rules).
    save_seen: AtomicBool,
    /// The config file given on the command line, if any (absolute).
    pub file: Option<PathBuf>,
}

impl Config {
    /// A configuration with every default; `file` is the config file it was read from.
    pub fn new(file: Option<PathBuf>) -> Self {
        let values = PARAMS
            .iter()
            .map(|p| (p.name, p.default.to_string()))
            .collect();
        let config = Config {
            values: RwLock::new(values),
            settings: RwLock::new(Arc::new(Self::placeholder_settings())),
            version: AtomicU64::new(0),
            save_seen: AtomicBool::new(false),
            file,
        };
        config.rebuild();
        config
    }

    fn placeholder_settings() -> Settings {
        Settings {
            maxclients: 10000,
            timeout_secs: 0,
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            normal_output_hard_limit: 0,
            replica_output_limits: crate::replication::OutputLimits {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            slowlog_slower_than: 10000,
            slowlog_max_len: 128,
            busy_reply_threshold_ms: 5000,
            latency_threshold_ms: 0,
            requirepass: String::new(),
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: 5,
            eviction_budget: crate::evict::eviction_budget(10),
            hz: 10,
            debug_enabled: false,
            debug_local_only: false,
            active_expire_effort: 1,
            encoding: Default::default(),
            notify_flags: 0,
            min_replicas_to_write: 0,
            min_replicas_max_lag_ms: 10_000,
            replica_serve_stale_data: true,
            replica_ignore_maxmemory: true,
            cluster_allow_reads_when_down: false,
        }
    }

    /// Applies one directive as read at start-up (immutable parameters included).
    pub fn apply_directive(&self, name: &str, args: &[String]) -> Result<(), ConfigError> {
        let param = params::find(name).ok_or(ConfigError::BadDirective)?;
        if args.is_empty()
            && !matches!(
                param.kind,
                Kind::Str | Kind::Save | Kind::Words | Kind::EventFlags
            )
        {
            return Err(ConfigError::BadDirective);
        }
        let joined = args.join(" ");
        // Repeated `save` lines add rules; a `save ""` clears them.
        if matches!(param.kind, Kind::Save) && !joined.trim().is_empty() {
            let current = self.get(param.name).unwrap_or_default();
            let combined = if self.seen_save_directive() {
                format!("{current} {joined}")
            } else {
                joined.clone()
            };
            self.mark_save_directive();
            return self.store(param, &combined);
        }
        if matches!(param.kind, Kind::Save) {
            self.mark_save_directive();
        }
        self.store(param, &joined)
    }

    fn seen_save_directive(&self) -> bool {
        self.save_seen.load(Ordering::Relaxed)
    }

    fn mark_save_directive(&self) {
        self.save_seen.store(true, Ordering::Relaxed);
    }

    fn store(&self, param: &'static Param, value: &str) -> Result<(), ConfigError> {
        let normalized = match param.kind {
            Kind::OutputBufferLimit => {
                let current = self.get(param.name).unwrap_or_default();
                merge_output_buffer_limit(&current, value)?
            }
            _ => normalize(param, value)?,
        };
        self.values.write().insert(param.name, normalized);
        self.rebuild();
        Ok(())
    }

    /// `CONFIG SET` of one parameter.
    pub fn set(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let param = params::find(name).ok_or(ConfigError::BadDirective)?;
        if !param.mutable {
            return Err(ConfigError::Immutable);
        }
        self.store(param, value)
    }

    /// Checks a `CONFIG SET` without applying it.
    pub fn validate(&self, name: &str, value: &str) -> Result<&'static Param, ConfigError> {
        let param = params::find(name).ok_or(ConfigError::BadDirective)?;
        if !param.mutable {
            return Err(ConfigError::Immutable);
        }
        match param.kind {
            Kind::OutputBufferLimit => {
                merge_output_buffer_limit(&self.get(param.name).unwrap_or_default(), value)?;
            }
            _ => {
                normalize(param, value)?;
            }
        }
        Ok(param)
    }

    /// The normalized value of a parameter (by canonical name or alias).
    pub fn get(&self, name: &str) -> Option<String> {
        let param = params::find(name)?;
        self.values.read().get(param.name).cloned()
    }

    /// Every `(name, value)` whose name or alias matches the glob `pattern`.
    pub fn get_matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        let values = self.values.read();
        let mut out = Vec::new();
        for p in PARAMS {
            let names = std::iter::once(&p.name).chain(p.aliases.iter());
            for name in names {
                if crate::glob::glob_match(pattern, name.as_bytes(), true) {
                    out.push((name.to_string(), values[p.name].clone()));
                }
            }
        }
        out
    }

    /// An integer parameter's value (0 if it does not parse).
    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// A boolean parameter's value.
    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name).as_deref() == Some("yes")
    }

    /// The current typed snapshot.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// A number that changes every time the configuration does.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn rebuild(&self) {
        let v = self.values.read();
        let num = |k: &str| v.get(k).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        let obl = v
            .get("client-output-buffer-limit")
            .cloned()
            .unwrap_or_default();
        let words: Vec<&str> = obl.split_whitespace().collect();
        let normal_hard = words
            .chunks(4)
            .find(|g| g[0] == "normal")
            .and_then(|g| g[1].parse().ok())
            .unwrap_or(0);
        let replica_limits = words
            .chunks(4)
            .find(|g| g.len() == 4 && (g[0] == "replica" || g[0] == "slave"))
            .map(|g| crate::replication::OutputLimits {
                hard: g[1].parse().unwrap_or(0),
                soft: g[2].parse().unwrap_or(0),
                soft_seconds: g[3].parse().unwrap_or(0),
            })
            .unwrap_or_default();
        let debug = v.get("enable-debug-command").cloned().unwrap_or_default();
        let settings = Settings {
            maxclients: num("maxclients") as usize,
            timeout_secs: num("timeout") as u64,
            proto_max_bulk_len: num("proto-max-bulk-len") as usize,
            client_query_buffer_limit: num("client-query-buffer-limit") as usize,
            normal_output_hard_limit: normal_hard,
            replica_output_limits: replica_limits,
            slowlog_slower_than: num("slowlog-log-slower-than"),
            slowlog_max_len: num("slowlog-max-len") as usize,
            busy_reply_threshold_ms: num("busy-reply-threshold").max(0) as u64,
            latency_threshold_ms: num("latency-monitor-threshold") as u64,
            requirepass: v.get("requirepass").cloned().unwrap_or_default(),
            maxmemory: num("maxmemory") as u64,
            maxmemory_policy: v.get("maxmemory-policy").cloned().unwrap_or_default(),
            maxmemory_samples: num("maxmemory-samples").max(1) as usize,
            eviction_budget: crate::evict::eviction_budget(num("maxmemory-eviction-tenacity")),
            hz: num("hz").max(1) as u64,
            debug_enabled: debug == "yes" || debug == "local",
            debug_local_only: debug == "local",
            active_expire_effort: num("active-expire-effort").max(1) as u64,
            encoding: crate::types::EncodingLimits {
                hash_entries: num("hash-max-listpack-entries") as usize,
                hash_value: num("hash-max-listpack-value") as usize,
                set_intset_entries: num("set-max-intset-entries") as usize,
                set_entries: num("set-max-listpack-entries") as usize,
                set_value: num("set-max-listpack-value") as usize,
                zset_entries: num("zset-max-listpack-entries") as usize,
                zset_value: num("zset-max-listpack-value") as usize,
                list_size: num("list-max-listpack-size"),
            },
            notify_flags: crate::notify::parse_flags(
                v.get("notify-keyspace-events")
                    .map(String::as_str)
                    .unwrap_or(""),
            )
            .unwrap_or(0),
            min_replicas_to_write: num("min-replicas-to-write").max(0) as usize,
            min_replicas_max_lag_ms: num("min-replicas-max-lag").max(0) as u64 * 1000,
            replica_serve_stale_data: v.get("replica-serve-stale-data").map(String::as_str)
                != Some("no"),
            replica_ignore_maxmemory: v.get("replica-ignore-maxmemory").map(String::as_str)
                != Some("no"),
            cluster_allow_reads_when_down: v
                .get("cluster-allow-reads-when-down")
                .map(String::as_str)
                == Some("yes"),
        };
        crate::keyspace::sketch::configure(
            settings.maxmemory_policy == "allkeys-tinylfu",
            settings.maxmemory,
        );
        crate::keyspace::access::configure(
            &settings.maxmemory_policy,
            num("lfu-log-factor"),
            num("lfu-decay-time"),
        );
        drop(v);
        *self.settings.write() = Arc::new(settings);
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Every parameter whose value differs from its default, in table order.
    pub fn non_defaults(&self) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        PARAMS
            .iter()
            .filter(|p| values[p.name] != p.default)
            .map(|p| (p.name, values[p.name].clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory("100mb"), Some(100 << 20));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("1xb"), None);
        assert_eq!(parse_memory("-1"), None);
    }

    #[test]
    fn set_and_get() {
        let c = Config::new(None);
        c.set("maxmemory", "1mb").unwrap();
        assert_eq!(c.get("maxmemory").unwrap(), "1048576");
        assert_eq!(c.settings().maxmemory, 1 << 20);
        assert_eq!(c.set("port", "1"), Err(ConfigError::Immutable));
        assert!(c.set("maxmemory-policy", "bogus").is_err());
        c.set("slave-read-only", "no").unwrap();
        assert_eq!(c.get("replica-read-only").unwrap(), "no");
        c.set("client-output-buffer-limit", "normal 1mb 0 0")
            .unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit").unwrap(),
            "normal 1048576 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        let got = c.get_matching(b"maxmemory-p*");
        assert_eq!(got, vec![("maxmemory-policy".into(), "noeviction".into())]);
    }

    #[test]
    fn save_lines_accumulate() {
        let c = Config::new(None);
        c.apply_directive("save", &["900".into(), "1".into()])
            .unwrap();
        c.apply_directive("save", &["300".into(), "10".into()])
            .unwrap();
        assert_eq!(c.get("save").unwrap(), "900 1 300 10");
        c.apply_directive("save", &["".into()]).unwrap();
        assert_eq!(c.get("save").unwrap(), "");
    }
}
