//! The DUMP / RESTORE payload: Cinnabar's own serialization of one value.
//!
//! Layout: a type byte, the type's encoding, then a 2-byte little-endian format version and
//! an 8-byte little-endian CRC-64 (Jones, as Redis uses) of everything before it. RESTORE
//! refuses a payload whose version or checksum is wrong.

use crate::keyspace::{Value, ValueRef};
use crate::types::{EncodingLimits, HashValue, ListValue, SetValue, ZSetValue};

/// Format version of DUMP payloads written by this build.
pub const DUMP_VERSION: u16 = 1;

const TYPE_STRING: u8 = 0;
const TYPE_INT: u8 = 1;
const TYPE_LIST: u8 = 2;
const TYPE_HASH: u8 = 3;
const TYPE_SET: u8 = 4;
const TYPE_ZSET: u8 = 5;

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len());
    out.extend_from_slice(b);
}

/// A cursor over a payload body.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.data.split_at_checked(8)?;
        self.data = rest;
        Some(u64::from_le_bytes(head.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        let (head, rest) = self.data.split_at_checked(n)?;
        self.data = rest;
        Some(head)
    }

    /// An element count, refused when the payload cannot hold that many elements.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n <= self.data.len() / 8).then_some(n)
    }
}

/// Serializes a value.
pub fn dump(value: ValueRef<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        ValueRef::Int(n) => {
            out.push(TYPE_INT);
            out.extend_from_slice(&n.to_le_bytes());
        }
        ValueRef::Str(s) => {
            out.push(TYPE_STRING);
            put_len(&mut out, s.len());
            out.extend_from_slice(s);
        }
        ValueRef::List(l) => {
            out.push(TYPE_LIST);
            put_len(&mut out, l.len());
            for item in &l.items {
                put_bytes(&mut out, item);
            }
        }
        ValueRef::Hash(h) => {
            out.push(TYPE_HASH);
            let pairs = h.pairs();
            put_len(&mut out, pairs.len());
            for (f, v) in pairs {
                put_bytes(&mut out, f);
                put_bytes(&mut out, v);
            }
        }
        ValueRef::Set(set) => {
            out.push(TYPE_SET);
            let members = set.members();
            put_len(&mut out, members.len());
            for m in &members {
                put_bytes(&mut out, m);
            }
        }
        ValueRef::ZSet(z) => {
            out.push(TYPE_ZSET);
            put_len(&mut out, z.len());
            for (score, m) in z.iter() {
                out.extend_from_slice(&score.to_bits().to_le_bytes());
                put_bytes(&mut out, m);
            }
        }
    }
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Deserializes a payload; `None` if its version, checksum or body is wrong.
pub fn restore(payload: &[u8], limits: &EncodingLimits) -> Option<Value> {
    if payload.len() < 11 {
        return None;
    }
    let (body, crc) = payload.split_at(payload.len() - 8);
    if CRC64.checksum(body).to_le_bytes() != crc {
        return None;
    }
    let (data, version) = body.split_at(body.len() - 2);
    if u16::from_le_bytes([version[0], version[1]]) != DUMP_VERSION {
        return None;
    }
    let (&kind, rest) = data.split_first()?;
    match kind {
        TYPE_INT if rest.len() == 8 => Some(Value::Int(i64::from_le_bytes(rest.try_into().ok()?))),
        TYPE_STRING if rest.len() >= 8 => {
            let n = u64::from_le_bytes(rest[..8].try_into().ok()?) as usize;
            (rest.len() == 8 + n).then(|| Value::Str(rest[8..].to_vec()))
        }
        TYPE_LIST => {
            let mut r = Reader { data: rest };
            let n = r.count()?;
            let mut l = ListValue::default();
            for _ in 0..n {
                l.items.push_back(r.bytes()?.to_vec());
            }
            (r.data.is_empty() && n > 0).then(|| Value::List(Box::new(l)))
        }
        TYPE_HASH => {
            let mut r = Reader { data: rest };
            let n = r.count()?;
            let mut h = HashValue::default();
            for _ in 0..n {
                let f = r.bytes()?;
                let v = r.bytes()?;
                h.insert(f, v, limits);
            }
            (r.data.is_empty() && n > 0).then(|| Value::Hash(Box::new(h)))
        }
        TYPE_SET => {
            let mut r = Reader { data: rest };
            let n = r.count()?;
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(r.bytes()?);
            }
            let set = SetValue::from_members(members, limits);
            (r.data.is_empty() && n > 0).then(|| Value::Set(Box::new(set)))
        }
        TYPE_ZSET => {
            let mut r = Reader { data: rest };
            let n = r.count()?;
            let mut z = ZSetValue::default();
            for _ in 0..n {
                let score = f64::from_bits(r.u64()?);
                if score.is_nan() {
                    return None;
                }
                z.insert(r.bytes()?, score, limits);
            }
            (r.data.is_empty() && n > 0).then(|| Value::ZSet(Box::new(z)))
        }
        _ => None,
    }
}

const TYPE_LIBRARIES: u8 = 0xF5;

/// Serializes a set of function libraries (their source texts).
pub fn dump_libraries(sources: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![TYPE_LIBRARIES];
    put_len(&mut out, sources.len());
    for s in sources {
        put_bytes(&mut out, s);
    }
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads back [`dump_libraries`]; `None` if the payload is damaged.
pub fn restore_libraries(payload: &[u8]) -> Option<Vec<Vec<u8>>> {
    if payload.len() < 11 {
        return None;
    }
    let (body, crc) = payload.split_at(payload.len() - 8);
    if CRC64.checksum(body).to_le_bytes() != crc {
        return None;
    }
    let (data, version) = body.split_at(body.len() - 2);
    if u16::from_le_bytes([version[0], version[1]]) != DUMP_VERSION {
        return None;
    }
    let (&kind, rest) = data.split_first()?;
    if kind != TYPE_LIBRARIES {
        return None;
    }
    let mut r = Reader { data: rest };
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.bytes()?.to_vec());
    }
    r.data.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let limits = EncodingLimits::default();
        let mut z = ZSetValue::default();
        z.insert(b"a", 1.5, &limits);
        let mut l = ListValue::default();
        l.items.push_back(b"x".to_vec());
        for v in [
            Value::Int(-42),
            Value::Str(b"hello".to_vec()),
            Value::ZSet(Box::new(z)),
            Value::List(Box::new(l)),
        ] {
            let mut p = dump(v.as_ref());
            assert_eq!(restore(&p, &limits), Some(v));
            p[1] ^= 1;
            assert_eq!(restore(&p, &limits), None);
        }
        assert_eq!(restore(b"short", &limits), None);
    }
}
