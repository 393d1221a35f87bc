//! The DUMP / RESTORE payload: Cinnabar's own serialization of one value.
//!
//! Layout: a type byte, the type's encoding, then a 2-byte little-endian format version and
//! an 8-byte little-endian CRC-64 (Jones, as Redis uses) of everything before it. RESTORE
//! refuses a payload whose version or checksum is wrong.

use crate::keyspace::Value;

/// Format version of DUMP payloads written by this build.
pub const DUMP_VERSION: u16 = 1;

const TYPE_STRING: u8 = 0;
const TYPE_INT: u8 = 1;

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

/// Serializes a value.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::Int(n) => {
            out.push(TYPE_INT);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(TYPE_STRING);
            put_len(&mut out, s.len());
            out.extend_from_slice(s);
        }
    }
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Deserializes a payload; `None` if its version, checksum or body is wrong.
pub fn restore(payload: &[u8]) -> Option<Value> {
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
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        for v in [Value::Int(-42), Value::Str(b"hello".to_vec())] {
            let mut p = dump(&v);
            assert_eq!(restore(&p), Some(v));
            p[1] ^= 1;
            assert_eq!(restore(&p), None);
        }
        assert_eq!(restore(b"short"), None);
    }
}
