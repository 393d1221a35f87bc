//! Lists: a double-ended queue of byte strings.

use std::collections::VecDeque;

/// A list value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListValue {
    /// The elements, head first.
    pub items: VecDeque<Vec<u8>>,
}

impl ListValue {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Redis's encoding name: `listpack` while the list fits one listpack node.
    pub fn encoding(&self, size_limit: i64) -> &'static str {
        let fits = if size_limit > 0 {
            self.items.len() <= size_limit as usize
        } else {
            let bytes: usize = self.items.iter().map(|i| i.len() + 11).sum();
            let limit = 4096usize << ((-size_limit).clamp(1, 5) - 1);
            bytes <= limit
        };
        if fits {
            "listpack"
        } else {
            "quicklist"
        }
    }

    /// Bytes used by the elements (an estimate for MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        self.items.iter().map(|i| i.capacity() + 24).sum::<usize>() + 16
    }
}
