//! Cinnabar's cluster crate. It knows nothing of values, RESP or files.
//!
//! - [`slot`]: mapping a key to one of the [`SLOT_COUNT`] hash slots (CRC16-XMODEM of the
//!   key, or of its first non-empty `{hash tag}`), exactly as Redis Cluster does;
//! - [`node`]: what one node knows about another (address, flags, epochs);
//! - [`message`]: the cluster-bus wire format, validated completely before use;
//! - [`state`]: the state machine — membership, slot ownership, epochs, failure detection —
//!   that takes `now` and messages in and returns actions, with no I/O and no clock;
//! - [`nodes_conf`]: CLUSTER NODES lines and the nodes.conf file.

pub mod message;
pub mod node;
pub mod nodes_conf;
pub mod slot;
pub mod state;

pub use node::{Node, NodeId};
pub use slot::{key_hash_slot, SLOT_COUNT};
pub use state::{Action, Cluster, Settings};
