//! Function libraries: the `#!lua name=<lib>` header and the shared registry.
//!
//! The registry keeps each library's source and the metadata of the functions it
//! registered; every worker's VM loads the sources again when the registry's `version`
//! changes (see [`super::engine`]).

use std::collections::BTreeMap;

use crate::error::CommandError;

/// One function registered by a library.
#[derive(Clone, Debug)]
pub struct FunctionInfo {
    /// Its name.
    pub name: String,
    /// Its flags (`no-writes`, `allow-oom`, `allow-stale`, `no-cluster`, ...).
    pub flags: Vec<String>,
    /// Its description, if given.
    pub description: Option<String>,
}

impl FunctionInfo {
    /// Whether the function declared that it never writes.
    pub fn no_writes(&self) -> bool {
        self.flags.iter().any(|f| f == "no-writes")
    }
}

/// A loaded library.
#[derive(Clone, Debug)]
pub struct Library {
    /// The whole source, header included.
    pub code: Vec<u8>,
    /// Its functions, in registration order.
    pub functions: Vec<FunctionInfo>,
}

/// Every library, by name.
#[derive(Default)]
pub struct Libraries {
    /// Libraries by name.
    pub libs: BTreeMap<String, Library>,
    /// Bumped on every change.
    pub version: u64,
}

impl Libraries {
    /// The library and function called `name`.
    pub fn function(&self, name: &str) -> Option<(&str, &FunctionInfo)> {
        self.libs.iter().find_map(|(lib, l)| {
            l.functions
                .iter()
                .find(|f| f.name == name)
                .map(|f| (lib.as_str(), f))
        })
    }

    /// Adds (or with `replace`, replaces) a library, checking its function names against
    /// the other libraries.
    pub fn insert(
        &mut self,
        name: String,
        lib: Library,
        replace: bool,
    ) -> Result<(), CommandError> {
        if !replace && self.libs.contains_key(&name) {
            return Err(CommandError::err(format!(
                "Library '{name}' already exists"
            )));
        }
        for f in &lib.functions {
            if let Some((owner, _)) = self.function(&f.name) {
                if owner != name {
                    return Err(CommandError::err(format!(
                        "Function {} already exists",
                        f.name
                    )));
                }
            }
        }
        self.libs.insert(name, lib);
        self.version += 1;
        Ok(())
    }

    /// Removes every library.
    pub fn clear(&mut self) {
        self.libs.clear();
        self.version += 1;
    }
}

/// The metadata line of a library: `#!lua name=<lib>`; returns the library name.
pub fn parse_header(code: &[u8]) -> Result<String, CommandError> {
    let text = String::from_utf8_lossy(code);
    let Some(first) = text.lines().next().filter(|l| l.starts_with("#!")) else {
        return Err(CommandError::err("Missing library metadata"));
    };
    let mut parts = first[2..].split_whitespace();
    let engine = parts.next().unwrap_or("");
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(CommandError::err(format!("Engine '{engine}' not found")));
    }
    let mut name = None;
    for part in parts {
        match part.split_once('=') {
            Some(("name", v)) => name = Some(v.to_string()),
            _ => {
                return Err(CommandError::err(format!(
                    "Invalid metadata value given: {part}"
                )))
            }
        }
    }
    let Some(name) = name else {
        return Err(CommandError::err("Library name was not given"));
    };
    check_name(&name, "Library names")?;
    Ok(name)
}

/// Function and library names: letters, digits and underscores, not empty.
pub fn check_name(name: &str, what: &str) -> Result<(), CommandError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(CommandError::err(format!(
            "{what} can only contain letters, numbers, or underscores(_) and must be at least one character long"
        )));
    }
    Ok(())
}

/// The flags a script or function may declare.
pub const KNOWN_FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            parse_header(b"#!lua name=mylib\nreturn 1").unwrap(),
            "mylib"
        );
        assert!(parse_header(b"return 1").is_err());
        assert!(parse_header(b"#!js name=x\n").is_err());
        assert!(parse_header(b"#!lua name=bad-name\n").is_err());
        assert!(parse_header(b"#!lua\n").is_err());
    }
}
