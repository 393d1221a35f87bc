//! Typed access to stored values: look a key up expecting a type, answer `WRONGTYPE` for any
//! other, create the value on first write, delete aggregates that become empty.

use crate::error::CommandError;
use crate::keyspace::{Expiry, KeyRef, SlotTable, Value, ValueRef};
use crate::types::{HashValue, ListValue, SetValue, ZSetValue};

macro_rules! typed_access {
    ($read:ident, $write:ident, $create:ident, $variant:ident, $ty:ty, $make:expr) => {
        /// The value at the key for reading; `None` if missing, `WRONGTYPE` if another type.
        pub fn $read<'t>(
            t: &'t mut SlotTable,
            k: &KeyRef,
            now_ms: u64,
        ) -> Result<Option<&'t $ty>, CommandError> {
            match t.get(k, now_ms) {
                None => Ok(None),
                Some(e) => match e.value() {
                    ValueRef::$variant(v) => Ok(Some(v)),
                    _ => Err(CommandError::WrongType),
                },
            }
        }

        /// The value at the key for changing in place; `None` if missing.
        pub fn $write<'t>(
            t: &'t mut SlotTable,
            k: &KeyRef,
            now_ms: u64,
        ) -> Result<Option<&'t mut $ty>, CommandError> {
            match t.get_mut(k, now_ms) {
                None => Ok(None),
                Some(e) => match e.value_mut() {
                    Some(Value::$variant(v)) => Ok(Some(v)),
                    _ => Err(CommandError::WrongType),
                },
            }
        }

        /// The value at the key for changing, created empty if missing.
        pub fn $create<'t>(
            t: &'t mut SlotTable,
            k: &KeyRef,
            now_ms: u64,
        ) -> Result<&'t mut $ty, CommandError> {
            if $write(t, k, now_ms)?.is_none() {
                t.set(k, Value::$variant(Box::new($make)), Expiry::None, now_ms);
            }
            Ok($write(t, k, now_ms)?.expect("just created"))
        }
    };
}

typed_access!(
    read_list,
    write_list,
    create_list,
    List,
    ListValue,
    ListValue::default()
);
typed_access!(
    read_hash,
    write_hash,
    create_hash,
    Hash,
    HashValue,
    HashValue::default()
);
typed_access!(
    read_set,
    write_set,
    create_set,
    Set,
    SetValue,
    SetValue::Ints(Vec::new())
);
typed_access!(
    read_zset,
    write_zset,
    create_zset,
    ZSet,
    ZSetValue,
    ZSetValue::default()
);

/// Deletes the key if it holds an empty aggregate (Redis never keeps empty ones).
pub fn drop_if_empty(t: &mut SlotTable, k: &KeyRef, now_ms: u64) -> bool {
    let empty = match t.peek(k, now_ms).map(|e| e.value()) {
        Some(ValueRef::List(l)) => l.is_empty(),
        Some(ValueRef::Hash(h)) => h.is_empty(),
        Some(ValueRef::Set(s)) => s.is_empty(),
        Some(ValueRef::ZSet(z)) => z.is_empty(),
        _ => false,
    };
    if empty {
        t.remove(k, now_ms);
    }
    empty
}

/// Parses a blocking timeout in seconds (sub-second precision); 0 means forever.
pub fn timeout(arg: &[u8]) -> Result<Option<std::time::Duration>, CommandError> {
    let v = super::args::float(arg)
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| CommandError::err("timeout is not a float or out of range"))?;
    if v < 0.0 {
        return Err(CommandError::err("timeout is negative"));
    }
    Ok((v > 0.0).then(|| std::time::Duration::from_secs_f64(v)))
}

/// Parses `numkeys` followed by that many keys starting at `at`; returns the key positions.
pub fn numkeys_positions(args: &[&[u8]], at: usize) -> Option<Vec<usize>> {
    let n = crate::resp::decode::parse_i64(args.get(at)?)?;
    if n <= 0 || at + n as usize > args.len() {
        return None;
    }
    let first = at + 1;
    let last = at + n as usize;
    if last >= args.len() {
        return None;
    }
    Some((first..=last).collect())
}
