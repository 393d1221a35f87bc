//! Hashes: one packed byte buffer while small, a hash map past the thresholds.
//!
//! The small form (`listpack` in Redis's terms) keeps every field and value in a single
//! allocation, each prefixed by its length as a LEB128 varint, in insertion order: a hash
//! of ten short fields costs one allocation instead of twenty.

use hashbrown::HashMap;

use super::EncodingLimits;

/// A hash value.
#[derive(Debug, Clone, PartialEq)]
pub enum HashValue {
    /// Packed `[len][field][len][value]` pairs in insertion order (`listpack`).
    Small(Vec<u8>),
    /// A hash table (`hashtable`).
    Large(HashMap<Vec<u8>, Vec<u8>>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Small(Vec::new())
    }
}

/// Appends `bytes` with its length prefix.
fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
    let mut n = bytes.len();
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
    buf.extend_from_slice(bytes);
}

/// Reads one length-prefixed item at `at`: the item and where the next one starts.
fn take(buf: &[u8], mut at: usize) -> (&[u8], usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[at];
        at += 1;
        n |= ((b & 0x7F) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (&buf[at..at + n], at + n)
}

/// The pairs of a packed buffer with the byte range each occupies.
fn packed(buf: &[u8]) -> impl Iterator<Item = (&[u8], &[u8], std::ops::Range<usize>)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let start = at;
        let (field, next) = take(buf, at);
        let (value, next) = take(buf, next);
        at = next;
        Some((field, value, start..next))
    })
}

impl HashValue {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            HashValue::Small(buf) => packed(buf).count(),
            HashValue::Large(m) => m.len(),
        }
    }

    /// Whether the hash is empty.
    pub fn is_empty(&self) -> bool {
        match self {
            HashValue::Small(buf) => buf.is_empty(),
            HashValue::Large(m) => m.is_empty(),
        }
    }

    /// Redis's encoding name.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Small(_) => "listpack",
            HashValue::Large(_) => "hashtable",
        }
    }

    /// The value of a field.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Small(buf) => packed(buf).find(|(f, _, _)| *f == field).map(|(_, v, _)| v),
            HashValue::Large(m) => m.get(field).map(|v| v.as_slice()),
        }
    }

    /// Sets a field; returns true if it is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8], limits: &EncodingLimits) -> bool {
        match self {
            HashValue::Small(buf) => {
                let found = packed(buf).find(|(f, _, _)| *f == field).map(|(_, _, r)| r);
                let mut entry = Vec::with_capacity(field.len() + value.len() + 4);
                put(&mut entry, field);
                put(&mut entry, value);
                let is_new = found.is_none();
                match found {
                    // Replaced in place, keeping the field's position.
                    Some(range) => {
                        buf.splice(range, entry);
                    }
                    None => {
                        buf.reserve_exact(entry.len());
                        buf.extend_from_slice(&entry);
                    }
                }
                self.maybe_convert(field.len().max(value.len()), limits);
                is_new
            }
            HashValue::Large(m) => m.insert(field.to_vec(), value.to_vec()).is_none(),
        }
    }

    fn maybe_convert(&mut self, longest: usize, limits: &EncodingLimits) {
        if let HashValue::Small(buf) = self {
            if longest > limits.hash_value || packed(buf).nth(limits.hash_entries).is_some() {
                let map = packed(buf)
                    .map(|(f, v, _)| (f.to_vec(), v.to_vec()))
                    .collect();
                *self = HashValue::Large(map);
            } else if buf.capacity() > buf.len() + buf.len() / 8 + 16 {
                buf.shrink_to_fit();
            }
        }
    }

    /// Removes a field; returns whether it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Small(buf) => {
                let found = packed(buf).find(|(f, _, _)| *f == field).map(|(_, _, r)| r);
                match found {
                    Some(range) => {
                        buf.drain(range);
                        true
                    }
                    None => false,
                }
            }
            HashValue::Large(m) => m.remove(field).is_some(),
        }
    }

    /// Every field and value.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        match self {
            HashValue::Small(buf) => packed(buf).map(|(f, v, _)| (f, v)).collect(),
            HashValue::Large(m) => m
                .iter()
                .map(|(f, v)| (f.as_slice(), v.as_slice()))
                .collect(),
        }
    }

    /// Bytes used (an estimate for MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        match self {
            HashValue::Small(buf) => buf.capacity() + 32,
            HashValue::Large(m) => {
                m.iter().map(|(f, v)| f.len() + v.len() + 48).sum::<usize>() + 32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: usize, value: usize) -> EncodingLimits {
        EncodingLimits {
            hash_entries: entries,
            hash_value: value,
            ..Default::default()
        }
    }

    #[test]
    fn packed_form_keeps_order_replaces_in_place_and_removes() {
        let l = limits(128, 64);
        let mut h = HashValue::default();
        assert!(h.insert(b"a", b"1", &l));
        assert!(h.insert(b"b", &[b'x'; 200][..60], &l));
        assert!(h.insert(b"", b"", &l));
        assert!(!h.insert(b"a", b"one", &l));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.len(), 3);
        assert_eq!(h.get(b"a"), Some(&b"one"[..]));
        assert_eq!(h.get(b""), Some(&b""[..]));
        assert_eq!(h.get(b"zz"), None);
        let fields: Vec<&[u8]> = h.pairs().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec![&b"a"[..], b"b", b""]);
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.len(), 2);
        assert!(h.remove(b"a") && h.remove(b""));
        assert!(h.is_empty());
    }

    #[test]
    fn long_items_use_multi_byte_lengths() {
        let l = limits(128, 100_000);
        let mut h = HashValue::default();
        let long = vec![7u8; 20_000];
        h.insert(b"f", &long, &l);
        h.insert(&long[..300], b"v", &l);
        assert_eq!(h.get(b"f"), Some(&long[..]));
        assert_eq!(h.get(&long[..300]), Some(&b"v"[..]));
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn converts_past_the_thresholds() {
        let l = limits(4, 8);
        let mut h = HashValue::default();
        for i in 0..4 {
            h.insert(format!("f{i}").as_bytes(), b"v", &l);
        }
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"f4", b"v", &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        let mut g = HashValue::default();
        g.insert(b"f", b"a value longer than 8", &l);
        assert_eq!(g.encoding(), "hashtable");
        assert_eq!(g.get(b"f"), Some(&b"a value longer than 8"[..]));
    }
}
