//! The cluster bus protocol: Cinnabar's own binary messages.
//!
//! A frame is `"CNBR"`, a format version (u16), the message length (u32, whole frame), a
//! CRC-32 of the body (u32), then the body. Every field of the body is validated while it is
//! decoded ([`decode`]); a message that fails validation is dropped whole, never half-applied.
//!
//! Body: type (u8), the sender's view of itself ([`Header`]), gossip entries about other
//! nodes ([`Gossip`]), then the type's payload ([`Payload`]).

use crate::node::NodeId;
use crate::SLOT_COUNT;

const MAGIC: &[u8; 4] = b"CNBR";
/// Format version written by this build.
pub const VERSION: u16 = 1;
const FRAME_HEAD: usize = 14;
/// Largest accepted frame.
pub const MAX_FRAME: usize = 1 << 20;
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not a Cinnabar bus frame.
    #[error("bad magic")]
    BadMagic,
    /// A format version this build does not speak.
    #[error("unsupported bus version {0}")]
    Version(u16),
    /// Length out of bounds.
    #[error("bad frame length {0}")]
    Length(usize),
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// The body is malformed.
    #[error("malformed body: {0}")]
    Body(&'static str),
}

/// Message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Liveness probe carrying state and gossip.
    Ping = 0,
    /// Answer to PING or MEET.
    Pong = 1,
    /// Like PING, and asks the receiver to add the sender.
    Meet = 2,
    /// A node was marked FAIL.
    Fail = 3,
    /// A slot-ownership correction for a node with a stale configuration.
    Update = 4,
    /// PUBLISH propagated to every node.
    Publish = 5,
    /// A replica asks primaries for a failover vote.
    AuthRequest = 6,
    /// A primary grants its vote.
    AuthAck = 7,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            0 => Kind::Ping,
            1 => Kind::Pong,
            2 => Kind::Meet,
            3 => Kind::Fail,
            4 => Kind::Update,
            5 => Kind::Publish,
            6 => Kind::AuthRequest,
            7 => Kind::AuthAck,
            _ => return None,
        })
    }
}

/// A slot bitmap.
pub type Slots = Box<[u8; SLOT_COUNT / 8]>;

/// An empty slot bitmap.
pub fn empty_slots() -> Slots {
    Box::new([0u8; SLOT_COUNT / 8])
}

/// Whether bit `slot` is set.
#[inline]
pub fn has_slot(slots: &Slots, slot: usize) -> bool {
    slots[slot / 8] & (1 << (slot % 8)) != 0
}

/// Sets bit `slot`.
#[inline]
pub fn set_slot(slots: &mut Slots, slot: usize) {
    slots[slot / 8] |= 1 << (slot % 8);
}

/// The sender's view of itself, carried by every message.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Sender id.
    pub id: NodeId,
    /// Sender IP (empty: use the connection's peer address).
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Bus port.
    pub cport: u16,
    /// Announced hostname.
    pub hostname: String,
    /// Node flags.
    pub flags: u16,
    /// Its primary, for replicas.
    pub primary: Option<NodeId>,
    /// Its configuration epoch (for replicas, their primary's).
    pub config_epoch: u64,
    /// Its current epoch.
    pub current_epoch: u64,
    /// Its replication offset.
    pub repl_offset: u64,
    /// Slots it claims (for replicas, their primary's).
    pub slots: Slots,
}

/// What the sender knows about another node.
#[derive(Debug, Clone, PartialEq)]
pub struct Gossip {
    /// Node id.
    pub id: NodeId,
    /// Its IP.
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Bus port.
    pub cport: u16,
    /// Flags as the sender sees them.
    pub flags: u16,
    /// Milliseconds since the sender last got a PONG from it.
    pub pong_age: u64,
}

/// Type-specific content.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// PING, PONG, MEET carry nothing more.
    None,
    /// FAIL: the failed node.
    Fail(NodeId),
    /// UPDATE: a node's slots and configuration epoch.
    Update {
        /// The node.
        id: NodeId,
        /// Its configuration epoch.
        config_epoch: u64,
        /// Its slots.
        slots: Slots,
    },
    /// PUBLISH: channel and message.
    Publish {
        /// Channel.
        channel: Vec<u8>,
        /// Message.
        message: Vec<u8>,
    },
    /// Failover vote request or grant: the epoch it is for, and whether the request is a
    /// manual failover (granted although the primary is not failing).
    Vote(u64, bool),
}

/// One bus message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Its type.
    pub kind: Kind,
    /// The sender's state.
    pub header: Header,
    /// Gossip about other nodes.
    pub gossip: Vec<Gossip>,
    /// Type-specific content.
    pub payload: Payload,
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.0.extend_from_slice(b);
    }
    fn id(&mut self, id: &str) {
        self.bytes(id.as_bytes());
    }
}

/// Encodes a message into one frame.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(2600));
    w.u8(msg.kind as u8);
    let h = &msg.header;
    w.id(&h.id);
    w.bytes(h.ip.as_bytes());
    w.u16(h.port);
    w.u16(h.cport);
    w.bytes(h.hostname.as_bytes());
    w.u16(h.flags);
    w.id(h.primary.as_deref().unwrap_or(""));
    w.u64(h.config_epoch);
    w.u64(h.current_epoch);
    w.u64(h.repl_offset);
    w.0.extend_from_slice(&h.slots[..]);
    w.u16(msg.gossip.len() as u16);
    for g in &msg.gossip {
        w.id(&g.id);
        w.bytes(g.ip.as_bytes());
        w.u16(g.port);
        w.u16(g.cport);
        w.u16(g.flags);
        w.u64(g.pong_age);
    }
    match &msg.payload {
        Payload::None => w.u8(0),
        Payload::Fail(id) => {
            w.u8(1);
            w.id(id);
        }
        Payload::Update {
            id,
            config_epoch,
            slots,
        } => {
            w.u8(2);
            w.id(id);
            w.u64(*config_epoch);
            w.0.extend_from_slice(&slots[..]);
        }
        Payload::Publish { channel, message } => {
            w.u8(3);
            w.bytes(channel);
            w.bytes(message);
        }
        Payload::Vote(epoch, forced) => {
            w.u8(4);
            w.u64(*epoch);
            w.u8(*forced as u8);
        }
    }
    let body = w.0;
    let mut frame = Vec::with_capacity(FRAME_HEAD + body.len());
    frame.extend_from_slice(MAGIC);
    frame.extend_from_slice(&VERSION.to_le_bytes());
    frame.extend_from_slice(&((FRAME_HEAD + body.len()) as u32).to_le_bytes());
    frame.extend_from_slice(&CRC32.checksum(&body).to_le_bytes());
    frame.extend_from_slice(&body);
    frame
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, rest) = self
            .data
            .split_at_checked(n)
            .ok_or(DecodeError::Body(what))?;
        self.data = rest;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| DecodeError::Body(what))?,
        ))
    }
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let b = self.take(4, what)?;
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        self.take(n, what)
    }
    fn text(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let b = self.bytes(what)?;
        if b.len() > 255 {
            return Err(DecodeError::Body(what));
        }
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Body(what))
    }
    fn id(&mut self, what: &'static str, optional: bool) -> Result<String, DecodeError> {
        let s = self.text(what)?;
        let valid = s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if valid || (optional && s.is_empty()) {
            Ok(s)
        } else {
            Err(DecodeError::Body(what))
        }
    }
    fn slots(&mut self) -> Result<Slots, DecodeError> {
        let b = self.take(SLOT_COUNT / 8, "slots")?;
        let mut s = empty_slots();
        s.copy_from_slice(b);
        Ok(s)
    }
}

/// Decodes one frame from the start of `buf`: the message and the bytes it used, or `None`
/// if the frame is not complete yet.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    if buf.len() < FRAME_HEAD {
        return Ok(None);
    }
    if &buf[..4] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = u16::from_le_bytes([buf[4], buf[5]]);
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let len = u32::from_le_bytes([buf[6], buf[7], buf[8], buf[9]]) as usize;
    if !(FRAME_HEAD + 1..=MAX_FRAME).contains(&len) {
        return Err(DecodeError::Length(len));
    }
    if buf.len() < len {
        return Ok(None);
    }
    let crc = u32::from_le_bytes([buf[10], buf[11], buf[12], buf[13]]);
    let body = &buf[FRAME_HEAD..len];
    if CRC32.checksum(body) != crc {
        return Err(DecodeError::Checksum);
    }
    let mut r = Reader { data: body };
    let kind = Kind::from_u8(r.u8("type")?).ok_or(DecodeError::Body("type"))?;
    let id = r.id("sender id", false)?;
    let ip = r.text("ip")?;
    let port = r.u16("port")?;
    let cport = r.u16("cport")?;
    let hostname = r.text("hostname")?;
    let flags = r.u16("flags")?;
    let primary = r.id("primary", true)?;
    let header = Header {
        id,
        ip,
        port,
        cport,
        hostname,
        flags,
        primary: (!primary.is_empty()).then_some(primary),
        config_epoch: r.u64("config epoch")?,
        current_epoch: r.u64("current epoch")?,
        repl_offset: r.u64("repl offset")?,
        slots: r.slots()?,
    };
    let count = r.u16("gossip count")? as usize;
    let mut gossip = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        gossip.push(Gossip {
            id: r.id("gossip id", false)?,
            ip: r.text("gossip ip")?,
            port: r.u16("gossip port")?,
            cport: r.u16("gossip cport")?,
            flags: r.u16("gossip flags")?,
            pong_age: r.u64("gossip pong age")?,
        });
    }
    let payload = match r.u8("payload")? {
        0 => Payload::None,
        1 => Payload::Fail(r.id("fail id", false)?),
        2 => Payload::Update {
            id: r.id("update id", false)?,
            config_epoch: r.u64("update epoch")?,
            slots: r.slots()?,
        },
        3 => Payload::Publish {
            channel: r.bytes("channel")?.to_vec(),
            message: r.bytes("message")?.to_vec(),
        },
        4 => Payload::Vote(r.u64("vote epoch")?, r.u8("vote flag")? != 0),
        _ => return Err(DecodeError::Body("payload")),
    };
    if !r.data.is_empty() {
        return Err(DecodeError::Body("trailing bytes"));
    }
    let consistent = matches!(
        (kind, &payload),
        (Kind::Ping | Kind::Pong | Kind::Meet, Payload::None)
            | (Kind::Fail, Payload::Fail(_))
            | (Kind::Update, Payload::Update { .. })
            | (Kind::Publish, Payload::Publish { .. })
            | (Kind::AuthRequest | Kind::AuthAck, Payload::Vote(..))
    );
    if !consistent {
        return Err(DecodeError::Body("payload does not match type"));
    }
    Ok(Some((
        Message {
            kind,
            header,
            gossip,
            payload,
        },
        len,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        let mut slots = empty_slots();
        set_slot(&mut slots, 0);
        set_slot(&mut slots, 16383);
        Message {
            kind: Kind::Ping,
            header: Header {
                id: "a".repeat(40),
                ip: "127.0.0.1".into(),
                port: 7000,
                cport: 17000,
                hostname: String::new(),
                flags: 2,
                primary: None,
                config_epoch: 3,
                current_epoch: 5,
                repl_offset: 99,
                slots,
            },
            gossip: vec![Gossip {
                id: "b".repeat(40),
                ip: "127.0.0.1".into(),
                port: 7001,
                cport: 17001,
                flags: 2,
                pong_age: 10,
            }],
            payload: Payload::None,
        }
    }

    #[test]
    fn round_trip_and_partial_frames() {
        let msg = sample();
        let frame = encode(&msg);
        for cut in 0..frame.len() {
            assert_eq!(decode(&frame[..cut]), Ok(None));
        }
        let (back, used) = decode(&frame).unwrap().unwrap();
        assert_eq!(used, frame.len());
        assert_eq!(back, msg);
        assert!(has_slot(&back.header.slots, 16383));
    }

    #[test]
    fn corruption_is_refused() {
        let mut frame = encode(&sample());
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        assert_eq!(decode(&frame), Err(DecodeError::Checksum));
        let mut frame = encode(&sample());
        frame[0] = b'X';
        assert_eq!(decode(&frame), Err(DecodeError::BadMagic));
        let mut bad = sample();
        bad.header.id = "not-hex".into();
        assert!(matches!(decode(&encode(&bad)), Err(DecodeError::Body(_))));
    }
}
