//! Conversions between Lua values and RESP, as Redis documents them.
//!
//! RESP → Lua (what `redis.call` returns; the script picks RESP2 or RESP3 with
//! `redis.setresp`): integer → number, bulk → string, array → table, status → `{ok=...}`,
//! error → `{err=...}`, RESP2 nulls → `false`; with RESP3 also null → `nil`, map →
//! `{map={...}}`, set → `{set={k=true}}`, double → `{double=n}`, boolean → boolean,
//! big number → `{big_number=s}`, verbatim → `{verbatim_string={format=, string=}}`.
//!
//! Lua → RESP (what a script returns): number → integer (truncated), string → bulk,
//! `true` → 1 (a RESP3 client gets a boolean), `false`/`nil` → null, `{ok=}` → status,
//! `{err=}` → error, `{map=}`/`{set=}`/`{double=}`/`{big_number=}` → those types, any
//! other table → array of its elements up to the first `nil`.

use mlua::{Lua, Table, Value};

use crate::resp::Reply;

/// How deep nested tables are followed before they are answered as null.
const MAX_DEPTH: u32 = 100;

/// Parses one reply from `buf[*pos..]` (written by our own reply writer) into a Lua value.
pub(crate) fn reply_to_lua(lua: &Lua, buf: &[u8], pos: &mut usize) -> mlua::Result<Value> {
    let line = read_line(buf, pos);
    let Some((&kind, rest)) = line.split_first() else {
        return Ok(Value::Boolean(false));
    };
    let text = || String::from_utf8_lossy(rest).into_owned();
    let number = || {
        std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    };
    Ok(match kind {
        b'+' => single(lua, "ok", Value::String(lua.create_string(rest)?))?,
        b'-' => single(lua, "err", Value::String(lua.create_string(rest)?))?,
        b':' => Value::Number(number().unwrap_or(0) as f64),
        b'$' | b'=' => match number() {
            Some(n) if n >= 0 => {
                let n = n as usize;
                let data = &buf[*pos..(*pos + n).min(buf.len())];
                *pos = (*pos + n + 2).min(buf.len());
                if kind == b'=' && data.len() >= 4 {
                    let inner = lua.create_table()?;
                    inner.raw_set("format", lua.create_string(&data[..3])?)?;
                    inner.raw_set("string", lua.create_string(&data[4..])?)?;
                    single(lua, "verbatim_string", Value::Table(inner))?
                } else {
                    Value::String(lua.create_string(data)?)
                }
            }
            _ => Value::Boolean(false),
        },
        b'*' | b'>' => match number() {
            Some(n) if n >= 0 => {
                let t = lua.create_table_with_capacity(n as usize, 0)?;
                for i in 1..=n {
                    t.raw_set(i, reply_to_lua(lua, buf, pos)?)?;
                }
                Value::Table(t)
            }
            _ => Value::Boolean(false),
        },
        b'~' => {
            let t = lua.create_table()?;
            for _ in 0..number().unwrap_or(0) {
                t.raw_set(reply_to_lua(lua, buf, pos)?, true)?;
            }
            single(lua, "set", Value::Table(t))?
        }
        b'%' => {
            let t = lua.create_table()?;
            for _ in 0..number().unwrap_or(0) {
                let k = reply_to_lua(lua, buf, pos)?;
                let v = reply_to_lua(lua, buf, pos)?;
                t.raw_set(k, v)?;
            }
            single(lua, "map", Value::Table(t))?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(rest == b"t"),
        b',' => {
            let v = text().parse::<f64>().unwrap_or(0.0);
            single(lua, "double", Value::Number(v))?
        }
        b'(' => single(lua, "big_number", Value::String(lua.create_string(rest)?))?,
        _ => Value::Boolean(false),
    })
}

fn read_line<'b>(buf: &'b [u8], pos: &mut usize) -> &'b [u8] {
    let start = (*pos).min(buf.len());
    let end = buf[start..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(buf.len(), |i| start + i);
    *pos = (end + 2).min(buf.len());
    &buf[start..end]
}

fn single(lua: &Lua, field: &str, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(field, value)?;
    Ok(Value::Table(t))
}

/// Writes what a script returned.
pub(crate) fn lua_to_reply(out: &mut Reply<'_>, value: &Value) {
    write_value(out, value, 0);
}

fn write_value(out: &mut Reply<'_>, value: &Value, depth: u32) {
    match value {
        Value::Nil => out.null(),
        Value::Boolean(b) => {
            if out.is_resp3() {
                out.boolean(*b);
            } else if *b {
                out.int(1);
            } else {
                out.null();
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(truncate(*n)),
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Table(t) if depth < MAX_DEPTH => write_table(out, t, depth),
        Value::Error(e) => out.error(&error_text(&e.to_string())),
        _ => out.null(),
    }
}

fn write_table(out: &mut Reply<'_>, t: &Table, depth: u32) {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        out.error(&String::from_utf8_lossy(&e.as_bytes()));
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        let text = String::from_utf8_lossy(&s.as_bytes()).replace(['\r', '\n'], " ");
        out.simple(&text);
        return;
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            write_value(out, k, depth + 1);
            write_value(out, v, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let members: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| k)
            .collect();
        out.set(members.len());
        for m in &members {
            write_value(out, m, depth + 1);
        }
        return;
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(n)) => return out.double(n),
        Ok(Value::Integer(n)) => return out.double(n as f64),
        _ => {}
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        return out.big_number(&String::from_utf8_lossy(&s.as_bytes()));
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in &items {
        write_value(out, v, depth + 1);
    }
}

/// A Lua number as Redis truncates it to an integer.
pub(crate) fn truncate(n: f64) -> i64 {
    if n.is_nan() {
        0
    } else {
        n as i64
    }
}

/// An error message as a reply: an error code (`ERR`, `WRONGTYPE`...) is kept, else `ERR `
/// is prefixed.
pub(crate) fn error_text(msg: &str) -> String {
    let msg = msg.trim_start_matches("runtime error: ");
    let first = msg.split(' ').next().unwrap_or("");
    if !first.is_empty() && first.len() > 1 && first.bytes().all(|b| b.is_ascii_uppercase()) {
        msg.to_string()
    } else {
        format!("ERR {msg}")
    }
}

/// The argument of a `redis.call`: strings as they are, numbers as Lua prints them.
pub(crate) fn lua_arg(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(format_number(*n).into_bytes()),
        _ => None,
    }
}

/// Formats a Lua number as `tostring` would (`%.14g`).
pub(crate) fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return (n as i64).to_string();
    }
    if n.is_nan() {
        return "nan".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.into();
    }
    let s = format!("{:.13e}", n);
    // Back to the shortest plain form when the exponent is moderate.
    let v: f64 = s.parse().unwrap_or(n);
    let plain = format!("{v}");
    if plain.len() <= 17 {
        plain
    } else {
        s
    }
}
