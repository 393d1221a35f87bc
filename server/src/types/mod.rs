//! The aggregate data types and their compact encodings.
//!
//! Small collections use a packed form (a short vector, as Redis's listpack/intset) and
//! switch to a hashed or indexed form past the thresholds that `CONFIG SET` controls
//! (`hash-max-listpack-entries` and friends); `OBJECT ENCODING` reports Redis's names.

pub mod hash;
pub mod list;
pub mod set;
pub mod zset;

pub use hash::HashValue;
pub use list::ListValue;
pub use set::SetValue;
pub use zset::ZSetValue;

/// The thresholds that decide when a compact encoding converts.
#[derive(Debug, Clone, Copy)]
pub struct EncodingLimits {
    /// `hash-max-listpack-entries`.
    pub hash_entries: usize,
    /// `hash-max-listpack-value`.
    pub hash_value: usize,
    /// `set-max-intset-entries`.
    pub set_intset_entries: usize,
    /// `set-max-listpack-entries`.
    pub set_entries: usize,
    /// `set-max-listpack-value`.
    pub set_value: usize,
    /// `zset-max-listpack-entries`.
    pub zset_entries: usize,
    /// `zset-max-listpack-value`.
    pub zset_value: usize,
    /// `list-max-listpack-size` (negative: a byte limit, -1 = 4 KB ... -5 = 64 KB).
    pub list_size: i64,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            hash_entries: 128,
            hash_value: 64,
            set_intset_entries: 512,
            set_entries: 128,
            set_value: 64,
            zset_entries: 128,
            zset_value: 64,
            list_size: -2,
        }
    }
}
