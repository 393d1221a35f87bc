//! One stored key: its name, value, expiry and access metadata.

use crate::types::{EncodingLimits, HashValue, ListValue, SetValue, ZSetValue};

/// A stored value. Strings that look like 64-bit integers are kept as integers.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string holding the canonical decimal form of an integer.
    Int(i64),
    /// Any other string.
    Str(Vec<u8>),
    /// A list.
    List(Box<ListValue>),
    /// A hash.
    Hash(Box<HashValue>),
    /// A set.
    Set(Box<SetValue>),
    /// A sorted set.
    ZSet(Box<ZSetValue>),
}

impl Value {
    /// Builds a string value, storing canonical integers as integers.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = crate::resp::decode::parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::Str(bytes.to_vec())
    }

    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// Whether the value is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Str(_))
    }

    /// The encoding `OBJECT ENCODING` reports (Redis's names).
    pub fn encoding(&self, limits: &EncodingLimits) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if s.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
            Value::List(l) => l.encoding(limits.list_size),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }

    /// The string bytes, borrowed when stored as bytes or formatted into `buf` when an
    /// integer. `None` for non-string types.
    pub fn as_bytes<'a>(&'a self, buf: &'a mut itoa::Buffer) -> Option<&'a [u8]> {
        match self {
            Value::Int(n) => Some(buf.format(*n).as_bytes()),
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Heap bytes this value uses beyond the entry itself (an estimate for MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str(s) => s.capacity(),
            Value::List(l) => l.heap_size(),
            Value::Hash(h) => h.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
        }
    }
}

/// A key with its value and metadata, as stored in a slot table.
#[derive(Debug)]
pub struct Entry {
    pub(crate) key: Box<[u8]>,
    /// The value.
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 when the key does not expire.
    pub(crate) expire_at: u64,
    /// Last access, in seconds since the Unix epoch (truncated to 32 bits).
    pub(crate) lru: u32,
}

impl Entry {
    /// The key name.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Absolute expiry in Unix milliseconds, if any.
    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    /// Whether the key is logically gone at `now_ms`.
    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    /// The access counter the LFU policies use, decayed to `now_ms`.
    pub fn lfu_counter(&self, now_ms: u64) -> u8 {
        super::access::decayed_counter(self.lru, now_ms)
    }

    /// Seconds since the last access.
    pub fn idle_secs(&self, now_ms: u64) -> u64 {
        ((now_ms / 1000) as u32).wrapping_sub(self.lru) as u64
    }
}
