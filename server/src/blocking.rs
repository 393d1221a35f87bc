//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, ...).
//!
//! A blocking command that finds nothing leaves a [`BlockRequest`]; the connection registers
//! a [`Waiter`] on each key. When a command makes one of those keys ready (a push, a move),
//! the waiters of that key are served in the order they blocked: their command runs again on
//! the pushing client's thread and the reply travels through the blocked client's push
//! channel. A waiter is answered exactly once ([`Waiter::state`]): by a server of a ready
//! key, or by its own connection when the timeout passes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::client::ClientInfo;

/// What a blocking command asks to wait for.
#[derive(Debug, Clone)]
pub struct BlockRequest {
    /// The keys to watch.
    pub keys: Vec<Vec<u8>>,
    /// When to give up (`None`: never).
    pub deadline: Option<Instant>,
    /// The encoded reply to send on timeout.
    pub timeout_reply: Vec<u8>,
}

/// A blocked client.
pub struct Waiter {
    /// The client.
    pub client: Arc<ClientInfo>,
    /// The blocked command, to run again when a key is ready.
    pub args: Vec<Vec<u8>>,
    /// The keys it waits on.
    pub keys: Vec<Vec<u8>>,
    /// Whether the waiter was answered (served or timed out). Whoever answers holds this
    /// lock while deciding, so a waiter is answered exactly once.
    pub state: Mutex<bool>,
}

impl Waiter {
    /// Creates a waiter.
    pub fn new(client: Arc<ClientInfo>, args: Vec<Vec<u8>>, keys: Vec<Vec<u8>>) -> Arc<Waiter> {
        Arc::new(Waiter {
            client,
            args,
            keys,
            state: Mutex::new(false),
        })
    }
}

/// The registry of blocked clients, by key.
#[derive(Default)]
pub struct Blocking {
    by_key: Mutex<HashMap<Vec<u8>, VecDeque<Arc<Waiter>>>>,
    count: AtomicUsize,
}

impl Blocking {
    /// Whether any client is blocked (checked before collecting ready keys).
    #[inline]
    pub fn has_waiters(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Number of blocked clients.
    pub fn blocked_clients(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Number of keys with blocked clients.
    pub fn blocking_keys(&self) -> usize {
        self.by_key.lock().len()
    }

    /// Registers a waiter on each of its keys.
    pub fn register(&self, waiter: &Arc<Waiter>) {
        let mut map = self.by_key.lock();
        for k in &waiter.keys {
            map.entry(k.clone()).or_default().push_back(waiter.clone());
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Removes a waiter from every key.
    pub fn unregister(&self, waiter: &Arc<Waiter>) {
        let mut map = self.by_key.lock();
        let mut found = false;
        for k in &waiter.keys {
            if let Some(q) = map.get_mut(k) {
                let before = q.len();
                q.retain(|w| !Arc::ptr_eq(w, waiter));
                found |= q.len() != before;
                if q.is_empty() {
                    map.remove(k);
                }
            }
        }
        if found {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The first live waiter on `key`, dropping answered ones.
    pub fn front(&self, key: &[u8]) -> Option<Arc<Waiter>> {
        let mut map = self.by_key.lock();
        let q = map.get_mut(key)?;
        match q.front() {
            Some(w) => Some(w.clone()),
            None => {
                map.remove(key);
                None
            }
        }
    }
}
