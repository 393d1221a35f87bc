//! redis.conf syntax: reading a config file (with `include`) plus command-line overrides, and
//! writing it back for `CONFIG REWRITE`.

use std::path::{Path, PathBuf};

use super::{params, Config};
use crate::resp::split_args;

/// One directive, with where it came from for error messages.
#[derive(Debug, Clone)]
pub struct Directive {
    /// The directive name as written.
    pub name: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The file it came from, or `None` for the command line.
    pub file: Option<PathBuf>,
    /// 1-based line number within that file (or option index on the command line).
    pub line: usize,
    /// The line as written.
    pub text: String,
}

/// A fatal configuration error, printed as Redis does before exiting.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "\n*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***\nReading the configuration file{location}, at line {line}\n>>> '{text}'\n{reason}"
)]
pub struct FatalConfigError {
    /// ` in <file>` or ` on the command line`.
    pub location: String,
    /// Line number.
    pub line: usize,
    /// The offending text.
    pub text: String,
    /// Why it was refused.
    pub reason: String,
}

fn fatal(d: &Directive, reason: impl Into<String>) -> FatalConfigError {
    FatalConfigError {
        location: match &d.file {
            Some(f) => format!(" {}", f.display()),
            None => " (command line options)".into(),
        },
        line: d.line,
        text: d.text.clone(),
        reason: reason.into(),
    }
}

/// Reads the directives of `path`, following `include` lines.
pub fn read_file(path: &Path, depth: usize) -> Result<Vec<Directive>, FatalConfigError> {
    let here = Directive {
        name: String::new(),
        args: vec![],
        file: Some(path.to_path_buf()),
        line: 0,
        text: String::new(),
    };
    if depth > 16 {
        return Err(fatal(&here, "include nesting too deep"));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        fatal(
            &here,
            format!(
                "Fatal error, can't open config file '{}': {e}",
                path.display()
            ),
        )
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut d = Directive {
            name: String::new(),
            args: vec![],
            file: Some(path.to_path_buf()),
            line: i + 1,
            text: trimmed.to_string(),
        };
        let words = split_args(trimmed.as_bytes())
            .map_err(|_| fatal(&d, "Unbalanced quotes in configuration line"))?;
        let mut words = words
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned());
        d.name = words.next().unwrap_or_default();
        d.args = words.collect();
        if d.name.eq_ignore_ascii_case("include") {
            if d.args.len() != 1 {
                return Err(fatal(&d, "Bad directive or wrong number of arguments"));
            }
            let mut inc = PathBuf::from(&d.args[0]);
            if inc.is_relative() {
                inc = std::env::current_dir().unwrap_or_default().join(inc);
            }
            out.extend(read_file(&inc, depth + 1)?);
            continue;
        }
        out.push(d);
    }
    Ok(out)
}

/// Turns `--name value ...` command-line options into directives.
pub fn options_to_directives(opts: &[String]) -> Vec<Directive> {
    let mut out: Vec<Directive> = Vec::new();
    for (i, opt) in opts.iter().enumerate() {
        if let Some(name) = opt.strip_prefix("--") {
            out.push(Directive {
                name: name.to_string(),
                args: vec![],
                file: None,
                line: i + 1,
                text: opt.clone(),
            });
        } else if let Some(last) = out.last_mut() {
            last.args.push(opt.clone());
            last.text.push(' ');
            last.text.push_str(opt);
        } else {
            out.push(Directive {
                name: opt.clone(),
                args: vec![],
                file: None,
                line: i + 1,
                text: opt.clone(),
            });
        }
    }
    // `--save` alone means "no save rules", as in redis-server.
    for d in &mut out {
        if d.name.eq_ignore_ascii_case("save") && d.args.is_empty() {
            d.args.push(String::new());
        }
    }
    out
}

/// Applies directives in order; the first bad one is fatal.
pub fn apply(config: &Config, directives: &[Directive]) -> Result<(), FatalConfigError> {
    for d in directives {
        config
            .apply_directive(&d.name, &d.args)
            .map_err(|e| fatal(d, e.to_string()))?;
    }
    Ok(())
}

fn quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
    {
        return value.to_string();
    }
    let mut s = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// The config lines that express a parameter's value.
fn lines_for(name: &str, value: &str) -> Vec<String> {
    match name {
        "save" if value.is_empty() => vec!["save \"\"".into()],
        "save" => value
            .split_whitespace()
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|pair| format!("save {}", pair.join(" ")))
            .collect(),
        "client-output-buffer-limit" => value
            .split_whitespace()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|g| format!("client-output-buffer-limit {}", g.join(" ")))
            .collect(),
        "bind"
        | "replicaof"
        | "oom-score-adj-values"
        | "latency-tracking-info-percentiles"
        | "shutdown-on-sigint"
        | "shutdown-on-sigterm" => {
            if value.is_empty() {
                vec![]
            } else {
                vec![format!("{name} {value}")]
            }
        }
        _ => vec![format!("{name} {}", quote(value))],
    }
}

/// Rewrites the config file to hold the current configuration: lines of known directives are
/// replaced in place, other lines and comments are kept, and changed parameters that the file
/// did not mention are appended. The file is replaced atomically.
pub fn rewrite(config: &Config) -> std::io::Result<()> {
    let path = config
        .file
        .clone()
        .ok_or_else(|| std::io::Error::other("The server is running without a config file"))?;
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut written: std::collections::HashSet<&'static str> = Default::default();
    let mut out: Vec<String> = Vec::new();
    for raw in old.lines() {
        let trimmed = raw.trim();
        if raw.starts_with("# Generated by CONFIG REWRITE") {
            continue;
        }
        let name = trimmed.split_whitespace().next().unwrap_or("");
        let param = (!trimmed.starts_with('#'))
            .then(|| params::find(name))
            .flatten();
        let Some(param) = param else {
            out.push(raw.to_string());
            continue;
        };
        // The first line of a directive carries its current value; repeats are dropped.
        if written.insert(param.name) {
            let value = config.get(param.name).unwrap_or_default();
            out.extend(lines_for(param.name, &value));
        }
    }
    let mut header = false;
    for (name, value) in config.non_defaults() {
        if written.contains(name) {
            continue;
        }
        if !header {
            out.push("# Generated by CONFIG REWRITE".into());
            header = true;
        }
        out.extend(lines_for(name, &value));
    }
    let tmp = path.with_extension("rewrite.tmp");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(out.join("\n").as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_directives() {
        let opts: Vec<String> = ["--port", "7000", "--save", "--maxmemory", "1mb"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let d = options_to_directives(&opts);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].name, "port");
        assert_eq!(d[0].args, vec!["7000"]);
        assert_eq!(d[1].args, vec![""]);
    }

    #[test]
    fn bad_directive_is_fatal_with_line() {
        let dir = std::env::temp_dir().join(format!("cinnabar-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.conf");
        std::fs::write(&path, "port 7000\n# comment\nfoo bar\n").unwrap();
        let config = Config::new(Some(path.clone()));
        let err = apply(&config, &read_file(&path, 0).unwrap()).unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.reason, "Bad directive or wrong number of arguments");
        let msg = err.to_string();
        assert!(msg.contains("bad.conf"), "{msg}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
