//! Cinnabar's cluster crate.
//!
//! It knows nothing of values, RESP or files. Today it holds the piece every other part of
//! the server needs first:
//!
//! - [`slot`]: mapping a key to one of the [`SLOT_COUNT`] hash slots (CRC16-XMODEM of the
//!   key, or of its first non-empty `{hash tag}`), exactly as Redis Cluster does.
//!
//! The slot map, the routing decisions and the cluster bus (gossip, failure detection,
//! elections) will live here too, as a state machine that takes `now` and messages in and
//! returns actions (see `ARCHITECTURE.md`).

pub mod slot;

pub use slot::{key_hash_slot, SLOT_COUNT};
