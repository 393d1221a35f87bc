//! Hashes: a packed field/value vector while small, a hash map past the thresholds.

use hashbrown::HashMap;

use super::EncodingLimits;

/// A hash value.
#[derive(Debug, Clone, PartialEq)]
pub enum HashValue {
    /// Packed pairs in insertion order (`listpack`).
    Small(Vec<(Vec<u8>, Vec<u8>)>),
    /// A hash table (`hashtable`).
    Large(HashMap<Vec<u8>, Vec<u8>>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Small(Vec::new())
    }
}

impl HashValue {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            HashValue::Small(v) => v.len(),
            HashValue::Large(m) => m.len(),
        }
    }

    /// Whether the hash is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
            HashValue::Small(v) => v
                .iter()
                .find(|(f, _)| f.as_slice() == field)
                .map(|(_, v)| v.as_slice()),
            HashValue::Large(m) => m.get(field).map(|v| v.as_slice()),
        }
    }

    /// Sets a field; returns true if it is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8], limits: &EncodingLimits) -> bool {
        if let HashValue::Small(v) = self {
            if let Some(slot) = v.iter_mut().find(|(f, _)| f.as_slice() == field) {
                slot.1 = value.to_vec();
                self.maybe_convert(field.len().max(value.len()), limits);
                return false;
            }
            v.push((field.to_vec(), value.to_vec()));
            self.maybe_convert(field.len().max(value.len()), limits);
            return true;
        }
        let HashValue::Large(m) = self else {
            unreachable!()
        };
        m.insert(field.to_vec(), value.to_vec()).is_none()
    }

    fn maybe_convert(&mut self, longest: usize, limits: &EncodingLimits) {
        if let HashValue::Small(v) = self {
            if v.len() > limits.hash_entries || longest > limits.hash_value {
                let map = std::mem::take(v).into_iter().collect();
                *self = HashValue::Large(map);
            }
        }
    }

    /// Removes a field; returns whether it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Small(v) => match v.iter().position(|(f, _)| f.as_slice() == field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            HashValue::Large(m) => m.remove(field).is_some(),
        }
    }

    /// Every field and value.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        match self {
            HashValue::Small(v) => v
                .iter()
                .map(|(f, v)| (f.as_slice(), v.as_slice()))
                .collect(),
            HashValue::Large(m) => m
                .iter()
                .map(|(f, v)| (f.as_slice(), v.as_slice()))
                .collect(),
        }
    }

    /// Bytes used (an estimate for MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        self.pairs()
            .iter()
            .map(|(f, v)| f.len() + v.len() + 48)
            .sum::<usize>()
            + 32
    }
}
