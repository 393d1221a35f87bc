//! Sorted sets: members ordered by (score, member).
//!
//! The order is kept in sorted chunks of at most [`CHUNK`] entries, so inserts and removals
//! move at most one chunk's worth of entries and rank queries sum chunk lengths. Small sets
//! (`listpack` in Redis's terms) find a member's score by scanning; past
//! `zset-max-listpack-entries` / `-value` a member-to-score map is added (`skiplist`).

use std::cmp::Ordering;

use hashbrown::HashMap;

use super::EncodingLimits;

/// Largest chunk before it splits.
const CHUNK: usize = 128;

/// One member with its score.
pub type Scored = (f64, Vec<u8>);

fn cmp(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

/// A sorted-set value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSetValue {
    chunks: Vec<Vec<Scored>>,
    len: usize,
    dict: Option<HashMap<Vec<u8>, f64>>,
}

impl ZSetValue {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Redis's encoding name.
    pub fn encoding(&self) -> &'static str {
        if self.dict.is_some() {
            "skiplist"
        } else {
            "listpack"
        }
    }

    /// The score of a member.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.dict {
            Some(d) => d.get(member).copied(),
            None => self
                .chunks
                .iter()
                .flatten()
                .find(|(_, m)| m.as_slice() == member)
                .map(|(s, _)| *s),
        }
    }

    /// (chunk, index) of the first entry not less than `key`.
    fn lower_bound(&self, key: (f64, &[u8])) -> (usize, usize) {
        let c = self.chunks.partition_point(|ch| {
            cmp((ch[ch.len() - 1].0, &ch[ch.len() - 1].1), key) == Ordering::Less
        });
        if c == self.chunks.len() {
            return (c, 0);
        }
        let i = self.chunks[c].partition_point(|(s, m)| cmp((*s, m), key) == Ordering::Less);
        (c, i)
    }

    fn position_to_rank(&self, (c, i): (usize, usize)) -> usize {
        self.chunks[..c].iter().map(|ch| ch.len()).sum::<usize>() + i
    }

    /// Sets a member's score; returns the previous score if the member existed.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &EncodingLimits) -> Option<f64> {
        let old = self.score(member);
        if let Some(old_score) = old {
            if old_score == score {
                return old;
            }
            self.remove_entry(old_score, member);
        }
        let (mut c, i) = self.lower_bound((score, member));
        if self.chunks.is_empty() {
            self.chunks.reserve_exact(1);
            self.chunks.push(Vec::new());
        }
        let i = if c == self.chunks.len() {
            c -= 1;
            self.chunks[c].len()
        } else {
            i
        };
        if self.dict.is_none() {
            // Small sets grow one entry at a time, as a listpack would: no spare capacity.
            self.chunks[c].reserve_exact(1);
        }
        self.chunks[c].insert(i, (score, member.to_vec()));
        if self.chunks[c].len() > CHUNK {
            let tail = self.chunks[c].split_off(CHUNK / 2);
            self.chunks.insert(c + 1, tail);
        }
        self.len += 1;
        match &mut self.dict {
            Some(d) => {
                d.insert(member.to_vec(), score);
            }
            None => {
                if self.len > limits.zset_entries || member.len() > limits.zset_value {
                    let d = self
                        .chunks
                        .iter()
                        .flatten()
                        .map(|(s, m)| (m.clone(), *s))
                        .collect();
                    self.dict = Some(d);
                }
            }
        }
        old
    }

    fn remove_entry(&mut self, score: f64, member: &[u8]) {
        let (c, i) = self.lower_bound((score, member));
        if c < self.chunks.len() && i < self.chunks[c].len() {
            self.chunks[c].remove(i);
            if self.chunks[c].is_empty() {
                self.chunks.remove(c);
            }
            self.len -= 1;
        }
    }

    /// Removes a member; returns its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = self.score(member)?;
        self.remove_entry(score, member);
        if let Some(d) = &mut self.dict {
            d.remove(member);
        }
        Some(score)
    }

    /// The 0-based rank of a member in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.position_to_rank(self.lower_bound((score, member))))
    }

    /// The entry at a rank.
    pub fn at(&self, rank: usize) -> Option<&Scored> {
        let mut r = rank;
        for ch in &self.chunks {
            if r < ch.len() {
                return Some(&ch[r]);
            }
            r -= ch.len();
        }
        None
    }

    /// Entries with ranks `start..=end` (ascending).
    pub fn range(&self, start: usize, end: usize) -> Vec<&Scored> {
        if start > end || start >= self.len {
            return Vec::new();
        }
        self.iter().skip(start).take(end - start + 1).collect()
    }

    /// All entries in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Scored> + '_ {
        self.chunks.iter().flatten()
    }

    /// Rank of the first entry whose score is above `min` (or at least `min` when
    /// `inclusive`).
    pub fn first_rank_with_score(&self, min: f64, inclusive: bool) -> usize {
        let c = self.chunks.partition_point(|ch| {
            let s = ch[ch.len() - 1].0;
            if inclusive {
                s < min
            } else {
                s <= min
            }
        });
        if c == self.chunks.len() {
            return self.len;
        }
        let i =
            self.chunks[c].partition_point(|(s, _)| if inclusive { *s < min } else { *s <= min });
        self.position_to_rank((c, i))
    }

    /// Rank of the first entry whose member sorts after `min` (or equal when `inclusive`);
    /// meaningful when all scores are equal, as ZRANGEBYLEX requires.
    pub fn first_rank_with_member(&self, min: &[u8], inclusive: bool) -> usize {
        self.iter()
            .position(|(_, m)| {
                if inclusive {
                    m.as_slice() >= min
                } else {
                    m.as_slice() > min
                }
            })
            .unwrap_or(self.len)
    }

    /// Bytes used (an estimate for MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        let per = if self.dict.is_some() { 80 } else { 32 };
        self.iter().map(|(_, m)| m.len() + per).sum::<usize>() + 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_rank_and_conversion() {
        let limits = EncodingLimits::default();
        let mut z = ZSetValue::default();
        for i in (0..1000).rev() {
            z.insert(format!("m{i:04}").as_bytes(), i as f64, &limits);
        }
        assert_eq!(z.len(), 1000);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.rank(b"m0000"), Some(0));
        assert_eq!(z.rank(b"m0999"), Some(999));
        assert_eq!(z.at(500).unwrap().1, b"m0500");
        assert_eq!(z.insert(b"m0000", 2000.0, &limits), Some(0.0));
        assert_eq!(z.rank(b"m0000"), Some(999));
        assert_eq!(z.remove(b"m0001"), Some(1.0));
        assert_eq!(z.len(), 999);
        assert_eq!(z.first_rank_with_score(10.0, true), 8);
        assert_eq!(z.first_rank_with_score(10.0, false), 9);
        let scores: Vec<f64> = z.iter().map(|(s, _)| *s).collect();
        assert!(scores.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn ties_order_by_member() {
        let limits = EncodingLimits::default();
        let mut z = ZSetValue::default();
        for m in ["c", "a", "b"] {
            z.insert(m.as_bytes(), 1.0, &limits);
        }
        let members: Vec<&[u8]> = z.iter().map(|(_, m)| m.as_slice()).collect();
        assert_eq!(members, vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(z.encoding(), "listpack");
    }
}
