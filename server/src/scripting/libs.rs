//! The libraries scripts in the wild use besides Lua's own: `bit` (LuaBitOp's API, 32-bit
//! operations on numbers) and `cjson` (`encode` / `decode`, with `cjson.null`).

use mlua::{Lua, LuaSerdeExt, Table, Value, Variadic};

/// Installs `bit` and `cjson` in `globals`.
pub(crate) fn install(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    globals.raw_set("bit", bit(lua)?)?;
    globals.raw_set("cjson", cjson(lua)?)?;
    Ok(())
}

/// Normalises a Lua number to a signed 32-bit integer, wrapping like LuaBitOp.
fn to_bit(n: f64) -> i32 {
    if !n.is_finite() {
        return 0;
    }
    (n.trunc() as i64 as u64 & 0xFFFF_FFFF) as u32 as i32
}

fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", lua.create_function(|_, n: f64| Ok(to_bit(n)))?)?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (n, digits): (f64, Option<i64>)| {
            let digits = digits.unwrap_or(8);
            let upper = digits < 0;
            let width = digits.unsigned_abs().clamp(1, 8) as usize;
            let v = to_bit(n) as u32 as u64 & ((1u64 << (4 * width)) - 1);
            Ok(if upper {
                format!("{v:0width$X}")
            } else {
                format!("{v:0width$x}")
            })
        })?,
    )?;
    t.raw_set("bnot", lua.create_function(|_, n: f64| Ok(!to_bit(n)))?)?;
    let fold = |lua: &Lua, f: fn(i32, i32) -> i32| {
        lua.create_function(move |_, args: Variadic<f64>| {
            let mut it = args.iter();
            let first = it
                .next()
                .ok_or_else(|| mlua::Error::runtime("bad argument #1 (number expected)"))?;
            Ok(it.fold(to_bit(*first), |acc, n| f(acc, to_bit(*n))))
        })
    };
    t.raw_set("band", fold(lua, |a, b| a & b)?)?;
    t.raw_set("bor", fold(lua, |a, b| a | b)?)?;
    t.raw_set("bxor", fold(lua, |a, b| a ^ b)?)?;
    let shift = |lua: &Lua, f: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (n, s): (f64, f64)| Ok(f(to_bit(n), to_bit(s) as u32 & 31)))
    };
    t.raw_set("lshift", shift(lua, |v, s| ((v as u32) << s) as i32)?)?;
    t.raw_set("rshift", shift(lua, |v, s| ((v as u32) >> s) as i32)?)?;
    t.raw_set("arshift", shift(lua, |v, s| v >> s)?)?;
    t.raw_set("rol", shift(lua, |v, s| (v as u32).rotate_left(s) as i32)?)?;
    t.raw_set("ror", shift(lua, |v, s| (v as u32).rotate_right(s) as i32)?)?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, n: f64| Ok(to_bit(n).swap_bytes()))?,
    )?;
    Ok(t)
}

fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let json: serde_json::Value = lua
                .from_value(v)
                .map_err(|e| mlua::Error::runtime(format!("Cannot serialise: {e}")))?;
            Ok(json.to_string())
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let json: serde_json::Value = serde_json::from_slice(&s.as_bytes())
                .map_err(|e| mlua::Error::runtime(format!("Expected value but found {e}")))?;
            lua.to_value(&json)
        })?,
    )?;
    t.raw_set("null", lua.null())?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::to_bit;

    #[test]
    fn tobit_wraps_like_luabitop() {
        assert_eq!(to_bit(0xFFFF_FFFFu32 as f64), -1);
        assert_eq!(to_bit(4294967296.0 + 5.0), 5);
        assert_eq!(to_bit(-1.0), -1);
        assert_eq!(to_bit(f64::NAN), 0);
    }
}
