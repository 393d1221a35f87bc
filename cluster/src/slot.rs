//! Key to hash-slot mapping.
//!
//! Redis Cluster assigns every key to one of 16384 slots: `CRC16(key) mod 16384`, where CRC16
//! is the XMODEM variant (polynomial 0x1021, initial value 0). When the key holds a `{...}`
//! section with at least one byte between the first `{` and the next `}`, only that section
//! is hashed, so `{user1000}.following` and `{user1000}.followers` share a slot.

/// Number of hash slots in a cluster.
pub const SLOT_COUNT: usize = 16384;

/// The part of `key` that is hashed: the first non-empty `{tag}`, or the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(0) | None => key,
        Some(close) => &rest[..close],
    }
}

/// The hash slot (0..16384) that owns `key`.
#[inline]
pub fn key_hash_slot(key: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(hash_tag(key)) & 0x3FFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_known_vector() {
        assert_eq!(
            crc16::State::<crc16::XMODEM>::calculate(b"123456789"),
            0x31C3
        );
    }

    #[test]
    fn known_slots() {
        assert_eq!(key_hash_slot(b"foo"), 12182);
        assert_eq!(key_hash_slot(b"bar"), 5061);
        assert_eq!(key_hash_slot(b""), 0);
    }

    #[test]
    fn hash_tags_group_keys() {
        assert_eq!(
            key_hash_slot(b"{user1000}.following"),
            key_hash_slot(b"{user1000}.followers")
        );
        assert_eq!(
            key_hash_slot(b"{user1000}.following"),
            key_hash_slot(b"user1000")
        );
    }

    #[test]
    fn tag_edge_cases() {
        // An empty tag hashes the whole key.
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        // Only the first `{` counts, and the first `}` after it.
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"a{}b{c}"), b"a{}b{c}");
        // No closing brace: the whole key.
        assert_eq!(hash_tag(b"foo{bar"), b"foo{bar");
        assert_eq!(hash_tag(b"}{"), b"}{");
    }
}
