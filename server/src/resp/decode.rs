//! Streaming request decoder.
//!
//! The decoder is handed the unread part of a connection's read buffer, starting at the
//! first byte of a command. It answers:
//!
//! - [`Decoded::Incomplete`]: the command is not all here yet; read more and call again with
//!   the same start (the bytes seen so far are remembered, not parsed again);
//! - [`Decoded::Command`]: one complete command of `consumed` bytes; its arguments are read
//!   with [`Decoder::args`];
//! - [`Decoded::Skip`]: an empty command (`*0`, `*-1`, a blank inline line) to drop;
//! - [`Decoded::Error`]: the bytes break the protocol; the connection must be closed after
//!   the error is sent.

use smallvec::SmallVec;

use super::split::split_args;

/// Size limits applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted bulk string (`proto-max-bulk-len`).
    pub max_bulk_len: usize,
    /// Largest accepted multibulk element count.
    pub max_multibulk_len: usize,
    /// Longest accepted inline command and header line.
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
            max_inline_len: 64 * 1024,
        }
    }
}

/// A protocol violation; its text follows `-ERR Protocol error: ` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An inline command longer than the limit.
    #[error("too big inline request")]
    InlineTooBig,
    /// Unbalanced quotes in an inline command.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A multibulk count line without an end in sight.
    #[error("too big mbulk count string")]
    MultibulkCountTooBig,
    /// A bulk length line without an end in sight.
    #[error("too big bulk count string")]
    BulkCountTooBig,
    /// A malformed or out-of-range multibulk count.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// A malformed or out-of-range bulk length.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// An element of a multibulk that is not a bulk string.
    #[error("expected '$', got '{0}'")]
    ExpectedBulk(char),
    /// A bulk string not followed by CRLF.
    #[error("expected CRLF after bulk data")]
    ExpectedCrlf,
}

/// What one call to [`Decoder::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// More bytes are needed.
    Incomplete,
    /// A complete command of this many bytes.
    Command(usize),
    /// An empty command of this many bytes, to be dropped.
    Skip(usize),
    /// A protocol error.
    Error(ProtocolError),
}

/// The arguments of one command, borrowed from the read buffer (or from the decoder for
/// inline commands).
pub type Args<'a> = SmallVec<[&'a [u8]; 8]>;

/// A resumable RESP request decoder. One per connection.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Element spans (start, end) relative to the start of the current frame.
    spans: Vec<(usize, usize)>,
    /// Arguments of the last inline command (they may be unescaped, so they are owned).
    inline: Vec<Vec<u8>>,
    /// Set while a multibulk frame is partially received.
    partial: Option<Partial>,
    /// Whether the last complete command was inline.
    last_inline: bool,
    /// Bytes the current partial frame still needs at least (a hint for buffer reservation).
    wanted: usize,
}

#[derive(Debug, Clone, Copy)]
struct Partial {
    expected: usize,
    cursor: usize,
}

enum Line<'a> {
    Found(&'a [u8], usize),
    Missing,
}

/// Finds the line starting at `from`: the bytes up to `\r\n` and the offset just after it.
fn line_at(buf: &[u8], from: usize) -> Line<'_> {
    let hay = &buf[from..];
    match hay.iter().position(|&b| b == b'\r') {
        Some(i) if i + 1 < hay.len() => Line::Found(&hay[..i], from + i + 2),
        _ => Line::Missing,
    }
}

/// Parses a decimal integer the way Redis's `string2ll` does (no spaces, no plus sign).
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = (d - b'0') as i64;
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    if neg && v == 0 {
        return None;
    }
    Some(v)
}

impl Decoder {
    /// A decoder with no partial frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// A lower bound on the bytes still missing for the frame being received, if known.
    pub fn wanted(&self) -> usize {
        self.wanted
    }

    /// Whether a frame is partially received.
    pub fn in_frame(&self) -> bool {
        self.partial.is_some()
    }

    /// Decodes the command that starts at `buf[0]`.
    pub fn decode(&mut self, buf: &[u8], limits: &Limits) -> Decoded {
        self.wanted = 0;
        if self.partial.is_none() {
            if buf.is_empty() {
                return Decoded::Incomplete;
            }
            if buf[0] != b'*' {
                return self.decode_inline(buf, limits);
            }
            let (count, next) = match line_at(buf, 1) {
                Line::Missing => {
                    if buf.len() > limits.max_inline_len {
                        return Decoded::Error(ProtocolError::MultibulkCountTooBig);
                    }
                    return Decoded::Incomplete;
                }
                Line::Found(line, next) => (line, next),
            };
            let Some(count) = parse_i64(count) else {
                return Decoded::Error(ProtocolError::InvalidMultibulkLength);
            };
            if count > limits.max_multibulk_len as i64 {
                return Decoded::Error(ProtocolError::InvalidMultibulkLength);
            }
            if count <= 0 {
                return Decoded::Skip(next);
            }
            self.spans.clear();
            self.spans.reserve((count as usize).min(1024));
            self.partial = Some(Partial {
                expected: count as usize,
                cursor: next,
            });
        }
        let mut partial = self.partial.expect("set above");
        while self.spans.len() < partial.expected {
            let at = partial.cursor;
            if at >= buf.len() {
                self.partial = Some(partial);
                return Decoded::Incomplete;
            }
            if buf[at] != b'$' {
                self.partial = None;
                return Decoded::Error(ProtocolError::ExpectedBulk(buf[at] as char));
            }
            let (len, data_start) = match line_at(buf, at + 1) {
                Line::Missing => {
                    self.partial = Some(partial);
                    if buf.len() - at > limits.max_inline_len {
                        self.partial = None;
                        return Decoded::Error(ProtocolError::BulkCountTooBig);
                    }
                    return Decoded::Incomplete;
                }
                Line::Found(line, next) => (line, next),
            };
            let len = match parse_i64(len) {
                Some(l) if l >= 0 && (l as usize) <= limits.max_bulk_len => l as usize,
                _ => {
                    self.partial = None;
                    return Decoded::Error(ProtocolError::InvalidBulkLength);
                }
            };
            let end = data_start + len;
            if end + 2 > buf.len() {
                self.wanted = end + 2 - buf.len();
                self.partial = Some(partial);
                return Decoded::Incomplete;
            }
            if &buf[end..end + 2] != b"\r\n" {
                self.partial = None;
                return Decoded::Error(ProtocolError::ExpectedCrlf);
            }
            self.spans.push((data_start, end));
            partial.cursor = end + 2;
        }
        self.partial = None;
        self.last_inline = false;
        Decoded::Command(partial.cursor)
    }

    fn decode_inline(&mut self, buf: &[u8], limits: &Limits) -> Decoded {
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > limits.max_inline_len {
                return Decoded::Error(ProtocolError::InlineTooBig);
            }
            return Decoded::Incomplete;
        };
        if nl > limits.max_inline_len {
            return Decoded::Error(ProtocolError::InlineTooBig);
        }
        let mut line = &buf[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        match split_args(line) {
            Err(_) => Decoded::Error(ProtocolError::UnbalancedQuotes),
            Ok(args) if args.is_empty() => Decoded::Skip(nl + 1),
            Ok(args) => {
                self.inline = args;
                self.last_inline = true;
                Decoded::Command(nl + 1)
            }
        }
    }

    /// The arguments of the command last returned by [`Decoder::decode`]; `buf` must be the
    /// same buffer that was decoded.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        if self.last_inline {
            self.inline.iter().map(|a| a.as_slice()).collect()
        } else {
            self.spans.iter().map(|&(s, e)| &buf[s..e]).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut d = Decoder::new();
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            match d.decode(&input[pos..], &Limits::default()) {
                Decoded::Incomplete => break,
                Decoded::Skip(n) => pos += n,
                Decoded::Command(n) => {
                    out.push(d.args(&input[pos..]).iter().map(|a| a.to_vec()).collect());
                    pos += n;
                }
                Decoded::Error(e) => panic!("{e}"),
            }
        }
        out
    }

    #[test]
    fn multibulk_and_inline() {
        let cmds = decode_all(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\n\r\n*0\r\nset k \"v v\"\n");
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"a".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(
            cmds[2],
            vec![b"set".to_vec(), b"k".to_vec(), b"v v".to_vec()]
        );
    }

    #[test]
    fn errors() {
        let l = Limits::default();
        let mut d = Decoder::new();
        assert_eq!(
            d.decode(b"*x\r\n", &l),
            Decoded::Error(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            d.decode(b"*1\r\n$-5\r\n", &l),
            Decoded::Error(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            d.decode(b"*1\r\n:5\r\n", &l),
            Decoded::Error(ProtocolError::ExpectedBulk(':'))
        );
        let small = Limits {
            max_bulk_len: 4,
            ..l
        };
        assert_eq!(
            d.decode(b"*1\r\n$5\r\n", &small),
            Decoded::Error(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(d.decode(b"*1000000\r\n", &l), Decoded::Incomplete);
    }

    #[test]
    fn parse_i64_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b""[..], b"+1", b" 1", b"01", b"-0", b"1a", b"-"] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    proptest::proptest! {
        /// Every pipeline split at every byte decodes to the same commands.
        #[test]
        fn split_anywhere(args in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..20), 1..6), cut in 0usize..400) {
            let mut wire = Vec::new();
            for _ in 0..2 {
                wire.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                for a in &args {
                    wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                    wire.extend_from_slice(a);
                    wire.extend_from_slice(b"\r\n");
                }
            }
            let cut = cut % (wire.len() + 1);
            let mut d = Decoder::new();
            let mut buf = wire[..cut].to_vec();
            let mut got = Vec::new();
            let mut pos = 0;
            let mut fed = cut;
            loop {
                match d.decode(&buf[pos..], &Limits::default()) {
                    Decoded::Command(n) => {
                        got.push(d.args(&buf[pos..]).iter().map(|a| a.to_vec()).collect::<Vec<_>>());
                        pos += n;
                    }
                    Decoded::Incomplete if fed < wire.len() => {
                        buf.push(wire[fed]);
                        fed += 1;
                    }
                    Decoded::Incomplete => break,
                    other => panic!("{other:?}"),
                }
            }
            proptest::prop_assert_eq!(got.len(), 2);
            proptest::prop_assert_eq!(&got[0], &args);
            proptest::prop_assert_eq!(&got[1], &args);
        }
    }
}
