//! Small helpers for parsing command arguments.

use crate::error::CommandError;
use crate::resp::decode::parse_i64;

/// Parses an integer argument (`ERR value is not an integer or out of range`).
pub fn int(arg: &[u8]) -> Result<i64, CommandError> {
    parse_i64(arg).ok_or(CommandError::NotInteger)
}

/// Parses a float argument the way Redis does (`inf`, `-inf`, exponents; no NaN).
pub fn float(arg: &[u8]) -> Result<f64, CommandError> {
    let s = std::str::from_utf8(arg).map_err(|_| CommandError::NotFloat)?;
    if s.is_empty() || s.trim() != s {
        return Err(CommandError::NotFloat);
    }
    let v = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse::<f64>().map_err(|_| CommandError::NotFloat)?,
    };
    if v.is_nan() {
        return Err(CommandError::NotFloat);
    }
    Ok(v)
}

/// Parses the optional count of LPOP/SPOP/ZPOPMIN-style commands (non-negative).
pub fn pop_count(arg: &[u8]) -> Result<usize, CommandError> {
    let bad = || CommandError::err("value is out of range, must be positive");
    let n = int(arg).map_err(|_| bad())?;
    usize::try_from(n).map_err(|_| bad())
}

/// Replies with a HELP text: an array of simple strings.
pub fn reply_help(ctx: &mut crate::dispatch::Ctx<'_>, lines: &[&str]) -> crate::error::CmdResult {
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l);
    }
    Ok(())
}

/// Picks random elements the way SRANDMEMBER / HRANDFIELD / ZRANDMEMBER do with a count:
/// distinct elements for a positive count, repeats allowed for a negative one.
pub fn random_picks<T: Clone>(items: &[T], count: i64) -> Vec<T> {
    use rand::seq::SliceRandom;
    use rand::Rng;
    let mut rng = rand::thread_rng();
    if count >= 0 {
        items
            .choose_multiple(&mut rng, count as usize)
            .cloned()
            .collect()
    } else if items.is_empty() {
        Vec::new()
    } else {
        (0..count.unsigned_abs())
            .map(|_| items[rng.gen_range(0..items.len())].clone())
            .collect()
    }
}

/// Case-insensitive comparison of an argument with an option name.
#[inline]
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// A cursor over option arguments (`EX 10 NX GET ...`).
pub struct ArgParser<'a, 'b> {
    args: &'a [&'b [u8]],
    pos: usize,
}

impl<'a, 'b> ArgParser<'a, 'b> {
    /// Parses `args[from..]`.
    pub fn new(args: &'a [&'b [u8]], from: usize) -> Self {
        ArgParser { args, pos: from }
    }

    /// The next argument, if any.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<&'b [u8]> {
        let a = self.args.get(self.pos).copied();
        self.pos += a.is_some() as usize;
        a
    }

    /// The next argument, or a syntax error.
    pub fn value(&mut self) -> Result<&'b [u8], CommandError> {
        self.next().ok_or(CommandError::Syntax)
    }

    /// The next argument as an integer.
    pub fn int(&mut self) -> Result<i64, CommandError> {
        int(self.value()?)
    }
}
