//! The Redis serialization protocol (RESP2 and RESP3).
//!
//! - [`decode`]: a streaming request decoder. It is handed the unread part of a connection's
//!   read buffer and either finds one complete command (multibulk or inline), says that more
//!   bytes are needed ("incomplete" is normal control flow), or reports a protocol error.
//!   Partially received multibulk frames are resumed, not re-parsed, so a large frame that
//!   arrives in many reads costs linear time.
//! - [`reply`]: the reply writer. Replies are appended straight into the connection's output
//!   buffer in the protocol the connection chose with `HELLO`.
//! - [`split`]: Redis's argument splitting (quotes and escapes), used by inline commands and
//!   the config file parser.

pub mod decode;
pub mod reply;
pub mod split;

pub use decode::{Decoded, Decoder, Limits, ProtocolError};

/// The length of the longest prefix of `data` made of complete, well-formed commands.
pub fn scan_commands(data: &[u8]) -> usize {
    let mut decoder = Decoder::new();
    let limits = Limits::default();
    let mut pos = 0;
    loop {
        match decoder.decode(&data[pos..], &limits) {
            Decoded::Command(n) | Decoded::Skip(n) => pos += n,
            Decoded::Incomplete | Decoded::Error(_) => return pos,
        }
    }
}
pub use reply::Reply;
pub use split::split_args;
