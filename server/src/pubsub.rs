//! Pub/Sub: who listens to which channel or pattern, and message delivery.
//!
//! Messages are encoded for each receiver in the protocol it speaks (a RESP3 push or a
//! RESP2 array) and queued on its push channel; its connection task writes them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::client::ClientInfo;
use crate::glob::glob_match;
use crate::resp::Reply;

/// The kind of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE (sharded).
    Shard,
}

type Subscribers = HashMap<Vec<u8>, Vec<Arc<ClientInfo>>>;

/// The subscription registry.
#[derive(Default)]
pub struct PubSub {
    channels: Mutex<Subscribers>,
    patterns: Mutex<Subscribers>,
    shards: Mutex<Subscribers>,
    pattern_count: AtomicUsize,
}

/// Encodes a push message (`message`, `pmessage`, `subscribe` ...) for one receiver.
pub fn encode_push(resp3: bool, parts: &[Option<&[u8]>], count: Option<i64>) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut r = Reply::new(&mut buf, resp3);
    r.push(parts.len() + count.is_some() as usize);
    for p in parts {
        match p {
            Some(b) => r.bulk(b),
            None => r.null(),
        }
    }
    if let Some(c) = count {
        r.int(c);
    }
    buf
}

impl PubSub {
    fn map(&self, kind: Kind) -> &Mutex<Subscribers> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shards,
        }
    }

    /// Adds a subscription.
    pub fn subscribe(&self, kind: Kind, name: &[u8], client: &Arc<ClientInfo>) {
        self.map(kind)
            .lock()
            .entry(name.to_vec())
            .or_default()
            .push(client.clone());
        if kind == Kind::Pattern {
            self.pattern_count.fetch_add(1, Relaxed);
        }
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], client_id: u64) {
        let mut map = self.map(kind).lock();
        if let Some(list) = map.get_mut(name) {
            let before = list.len();
            list.retain(|c| c.id != client_id);
            if kind == Kind::Pattern && list.len() < before {
                self.pattern_count.fetch_sub(before - list.len(), Relaxed);
            }
            if list.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Delivers a message to channel (or shard-channel) subscribers and matching pattern
    /// subscribers; returns how many received it.
    pub fn publish(&self, channel: &[u8], message: &[u8], shard: bool) -> usize {
        let mut receivers = 0;
        let (map, kind) = if shard {
            (&self.shards, &b"smessage"[..])
        } else {
            (&self.channels, &b"message"[..])
        };
        if let Some(list) = map.lock().get(channel) {
            for c in list {
                c.send(encode_push(
                    c.is_resp3(),
                    &[Some(kind), Some(channel), Some(message)],
                    None,
                ));
                receivers += 1;
            }
        }
        if !shard && self.pattern_count.load(Relaxed) > 0 {
            for (pattern, list) in self.patterns.lock().iter() {
                if glob_match(pattern, channel, false) {
                    for c in list {
                        c.send(encode_push(
                            c.is_resp3(),
                            &[
                                Some(b"pmessage"),
                                Some(pattern),
                                Some(channel),
                                Some(message),
                            ],
                            None,
                        ));
                        receivers += 1;
                    }
                }
            }
        }
        receivers
    }

    /// Whether anybody could receive a message (a cheap check before formatting one).
    pub fn has_listeners(&self) -> bool {
        self.pattern_count.load(Relaxed) > 0 || !self.channels.lock().is_empty()
    }

    /// Active channels (or shard channels) matching an optional pattern.
    pub fn channels(&self, pattern: Option<&[u8]>, shard: bool) -> Vec<Vec<u8>> {
        let map = if shard { &self.shards } else { &self.channels };
        map.lock()
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of a channel (or shard channel).
    pub fn numsub(&self, channel: &[u8], shard: bool) -> usize {
        let map = if shard { &self.shards } else { &self.channels };
        map.lock().get(channel).map_or(0, |l| l.len())
    }

    /// Number of pattern subscriptions.
    pub fn numpat(&self) -> usize {
        self.pattern_count.load(Relaxed)
    }
}
