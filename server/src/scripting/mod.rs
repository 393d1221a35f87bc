//! Lua scripting: EVAL scripts and FUNCTION libraries.
//!
//! - this module: what all worker threads share — the script cache (SHA1 → source), the
//!   function libraries, and the scripts running past `busy-reply-threshold`;
//! - [`engine`]: one sandboxed Lua 5.1 VM per worker thread (compiled scripts and loaded
//!   libraries are cached per VM and refreshed when the shared registry changes);
//! - [`call`]: `redis.call` / `redis.pcall` — the gates a command passes inside a script;
//! - [`convert`]: Lua ⇄ RESP conversions as Redis documents them;
//! - [`libs`]: the `bit` and `cjson` libraries;
//! - [`functions`]: library metadata (`#!lua name=`) and the function registry.
//!
//! Atomicity: a script runs with the locks of its declared keys' slots held (and, if it may
//! write while replication or the AOF is on, the replication stream lock first, as EXEC
//! does), so no other client sees a half-run script. Effects, not scripts, are propagated:
//! each write the script runs is appended to the stream, wrapped in MULTI/EXEC.

pub(crate) mod call;
pub(crate) mod convert;
pub mod engine;
pub mod functions;
pub(crate) mod libs;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

/// The lower-case hex SHA1 of `data` (script ids).
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// A script or function that ran past `busy-reply-threshold`.
pub struct BusyScript {
    /// When it started.
    pub started: Instant,
    /// `true` for FCALL (FUNCTION KILL), `false` for EVAL (SCRIPT KILL).
    pub is_function: bool,
    /// The function name or the script's SHA1.
    pub name: String,
    /// The command that runs it (`eval`, `fcall`).
    pub command: &'static str,
    /// Set once the script has run a write command: it can no longer be killed.
    pub wrote: AtomicBool,
    /// Set by SCRIPT KILL / FUNCTION KILL; the script stops at its next hook.
    pub kill: AtomicBool,
    /// The worker thread it runs on.
    pub worker: usize,
}

/// What all workers share about scripting.
#[derive(Default)]
pub struct Scripts {
    cache: RwLock<HashMap<String, Arc<Vec<u8>>>>,
    /// Bumped by SCRIPT FLUSH so each VM drops its compiled scripts.
    flush_generation: AtomicU64,
    /// The function libraries.
    pub libraries: RwLock<functions::Libraries>,
    busy: Mutex<Vec<Arc<BusyScript>>>,
    busy_count: AtomicUsize,
}

impl Scripts {
    /// Adds a script to the cache; returns its SHA1.
    pub fn store(&self, body: &[u8]) -> String {
        let sha = sha1_hex(body);
        if !self.cache.read().contains_key(&sha) {
            self.cache
                .write()
                .entry(sha.clone())
                .or_insert_with(|| Arc::new(body.to_vec()));
        }
        sha
    }

    /// The source of a cached script (`sha` in lower case).
    pub fn source(&self, sha: &str) -> Option<Arc<Vec<u8>>> {
        self.cache.read().get(sha).cloned()
    }

    /// Whether a script is cached.
    pub fn exists(&self, sha: &str) -> bool {
        self.cache.read().contains_key(sha)
    }

    /// Number of cached scripts.
    pub fn cached(&self) -> usize {
        self.cache.read().len()
    }

    /// Bytes of cached script sources.
    pub fn cached_bytes(&self) -> usize {
        self.cache.read().values().map(|s| s.len()).sum()
    }

    /// SCRIPT FLUSH: forgets every cached script.
    pub fn flush(&self) {
        self.cache.write().clear();
        self.flush_generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn flush_generation(&self) -> u64 {
        self.flush_generation.load(Ordering::Acquire)
    }

    /// Whether a script is running past the busy threshold (other clients get `-BUSY`).
    #[inline]
    pub fn is_busy(&self) -> bool {
        self.busy_count.load(Ordering::Relaxed) > 0
    }

    /// The busy scripts, oldest first.
    pub fn busy_scripts(&self) -> Vec<Arc<BusyScript>> {
        self.busy.lock().clone()
    }

    pub(crate) fn mark_busy(&self, script: Arc<BusyScript>) {
        self.busy.lock().push(script);
        self.busy_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn unmark_busy(&self, script: &Arc<BusyScript>) {
        let mut busy = self.busy.lock();
        busy.retain(|s| !Arc::ptr_eq(s, script));
        self.busy_count.store(busy.len(), Ordering::Relaxed);
    }

    /// SCRIPT KILL / FUNCTION KILL: stops the busy scripts of that kind, unless one wrote.
    pub fn kill(&self, functions: bool) -> Result<(), crate::error::CommandError> {
        use crate::error::CommandError;
        let busy = self.busy.lock();
        let targets: Vec<_> = busy.iter().filter(|s| s.is_function == functions).collect();
        if targets.is_empty() {
            return Err(CommandError::Other(
                "NOTBUSY No scripts in execution right now.".into(),
            ));
        }
        if targets.iter().any(|s| s.wrote.load(Ordering::Relaxed)) {
            return Err(CommandError::Other(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.".into(),
            ));
        }
        for s in targets {
            s.kill.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}
