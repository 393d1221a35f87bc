//! Sets: a sorted integer vector (`intset`), a packed vector (`listpack`), or a hash set.

use hashbrown::HashSet;

use super::EncodingLimits;
use crate::resp::decode::parse_i64;

/// A set value.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    /// Sorted integers (`intset`).
    Ints(Vec<i64>),
    /// Packed members in insertion order (`listpack`).
    Small(Vec<Vec<u8>>),
    /// A hash set (`hashtable`).
    Large(HashSet<Vec<u8>>),
}

impl SetValue {
    /// An empty set in the encoding its first member calls for.
    pub fn for_member(member: &[u8]) -> SetValue {
        if parse_i64(member).is_some() {
            SetValue::Ints(Vec::new())
        } else {
            SetValue::Small(Vec::new())
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            SetValue::Ints(v) => v.len(),
            SetValue::Small(v) => v.len(),
            SetValue::Large(s) => s.len(),
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's encoding name.
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Ints(_) => "intset",
            SetValue::Small(_) => "listpack",
            SetValue::Large(_) => "hashtable",
        }
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(v) => parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            SetValue::Small(v) => v.iter().any(|m| m.as_slice() == member),
            SetValue::Large(s) => s.contains(member),
        }
    }

    /// Adds a member; returns true if it is new.
    pub fn insert(&mut self, member: &[u8], limits: &EncodingLimits) -> bool {
        if let SetValue::Ints(v) = self {
            if let Some(n) = parse_i64(member) {
                return match v.binary_search(&n) {
                    Ok(_) => false,
                    Err(pos) => {
                        v.insert(pos, n);
                        if v.len() > limits.set_intset_entries {
                            self.convert_to_large();
                        }
                        true
                    }
                };
            }
            // A non-integer member: leave the intset.
            let members: Vec<Vec<u8>> = v.iter().map(|n| n.to_string().into_bytes()).collect();
            *self = SetValue::Small(members);
            if self.len() >= limits.set_entries {
                self.convert_to_large();
            }
        }
        if let SetValue::Small(v) = self {
            if v.iter().any(|m| m.as_slice() == member) {
                return false;
            }
            v.push(member.to_vec());
            if v.len() > limits.set_entries || member.len() > limits.set_value {
                self.convert_to_large();
            }
            return true;
        }
        let SetValue::Large(s) = self else {
            unreachable!()
        };
        s.insert(member.to_vec())
    }

    fn convert_to_large(&mut self) {
        let members = self.members();
        *self = SetValue::Large(members.into_iter().collect());
    }

    /// Removes a member; returns whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(v) => match parse_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(i)) => {
                    v.remove(i);
                    true
                }
                _ => false,
            },
            SetValue::Small(v) => match v.iter().position(|m| m.as_slice() == member) {
                Some(i) => {
                    v.swap_remove(i);
                    true
                }
                None => false,
            },
            SetValue::Large(s) => s.remove(member),
        }
    }

    /// Every member (integers formatted).
    pub fn members(&self) -> Vec<Vec<u8>> {
        match self {
            SetValue::Ints(v) => v.iter().map(|n| n.to_string().into_bytes()).collect(),
            SetValue::Small(v) => v.clone(),
            SetValue::Large(s) => s.iter().cloned().collect(),
        }
    }

    /// Builds a set from members in the encoding Redis would pick.
    pub fn from_members<'a>(
        members: impl IntoIterator<Item = &'a [u8]>,
        limits: &EncodingLimits,
    ) -> SetValue {
        let mut iter = members.into_iter().peekable();
        let mut set = match iter.peek() {
            Some(first) => SetValue::for_member(first),
            None => SetValue::Ints(Vec::new()),
        };
        for m in iter {
            set.insert(m, limits);
        }
        set
    }

    /// Bytes used (an estimate for MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        match self {
            SetValue::Ints(v) => v.capacity() * 8 + 16,
            SetValue::Small(v) => v.iter().map(|m| m.capacity() + 24).sum::<usize>() + 16,
            SetValue::Large(s) => s.iter().map(|m| m.capacity() + 40).sum::<usize>() + 32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_convert() {
        let limits = EncodingLimits {
            set_intset_entries: 3,
            set_entries: 3,
            ..Default::default()
        };
        let mut s = SetValue::for_member(b"1");
        for m in [&b"3"[..], b"2", b"1"] {
            s.insert(m, &limits);
        }
        assert_eq!(s.encoding(), "intset");
        assert_eq!(
            s.members(),
            vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
        );
        s.insert(b"x", &limits);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"2") && s.contains(b"x"));
        let mut t = SetValue::for_member(b"a");
        t.insert(b"a", &limits);
        t.insert(b"b", &limits);
        assert_eq!(t.encoding(), "listpack");
        assert!(t.remove(b"a"));
        assert_eq!(t.len(), 1);
    }
}
