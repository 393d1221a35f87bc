//! The server's error type. Every error a command can answer is a variant here, and its
//! `Display` is the exact wire text after the `-` (Redis's wording, code first).

/// An error answered to a client; the connection goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The key holds a value of another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// An argument or a stored value is not a 64-bit integer.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// An argument or a stored value is not a float.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// INCR-style overflow.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// A malformed option list.
    #[error("ERR syntax error")]
    Syntax,
    /// The command got the wrong number of arguments.
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    /// The command does not exist.
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand {
        /// The name as sent (truncated).
        name: String,
        /// The first arguments, each quoted and followed by a space.
        args: String,
    },
    /// A container command got an unknown subcommand.
    #[error("ERR unknown subcommand '{sub}'. Try {cmd} HELP.")]
    UnknownSubcommand {
        /// The container command, upper case.
        cmd: String,
        /// The subcommand as sent (truncated).
        sub: String,
    },
    /// The key does not exist (RENAME and friends).
    #[error("ERR no such key")]
    NoSuchKey,
    /// An expire time out of range.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(String),
    /// A string would grow past `proto-max-bulk-len`.
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    /// A key that must not exist does (RESTORE, COPY without REPLACE).
    #[error("BUSYKEY Target key name already exists.")]
    BusyKey,
    /// The client is not authenticated.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// Wrong password.
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    /// A cluster redirect or refusal.
    #[error("{}", redirect_text(.0))]
    Redirect(crate::cluster::routing::Redirect),
    /// Any other error; the text carries its own code (`ERR ...`).
    #[error("{0}")]
    Other(String),
}

/// The wire text of a cluster redirect.
fn redirect_text(r: &crate::cluster::routing::Redirect) -> String {
    use crate::cluster::routing::Redirect;
    match r {
        Redirect::Moved { slot, addr } => format!("MOVED {slot} {addr}"),
        Redirect::Ask { slot, addr } => format!("ASK {slot} {addr}"),
        Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
        Redirect::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
        Redirect::Unserved => "CLUSTERDOWN Hash slot not served".into(),
        Redirect::Down => "CLUSTERDOWN The cluster is down".into(),
    }
}

impl CommandError {
    /// An `ERR`-coded error with free text.
    pub fn err(text: impl std::fmt::Display) -> Self {
        CommandError::Other(format!("ERR {text}"))
    }

    /// The error code: the first word of the wire text (`ERR`, `WRONGTYPE`, ...), as INFO
    /// errorstats reports it.
    pub fn code(&self) -> String {
        let text = self.to_string();
        text.split(' ').next().unwrap_or("ERR").to_string()
    }
}

/// The result of executing one command (the reply is already written on success).
pub type CmdResult = Result<(), CommandError>;

/// Quotes the first arguments the way Redis's unknown-command error shows them.
pub fn describe_args(args: &[&[u8]]) -> String {
    let mut s = String::new();
    for a in args.iter().take(20) {
        let mut text: String = String::from_utf8_lossy(a).into();
        if text.len() > 128 {
            let mut cut = 128;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        s.push('\'');
        s.push_str(&text);
        s.push_str("' ");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_text() {
        assert_eq!(
            CommandError::WrongArity("get".into()).to_string(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(CommandError::WrongType.code(), "WRONGTYPE");
        let e = CommandError::UnknownCommand {
            name: "foo".into(),
            args: describe_args(&[b"a", b"b"]),
        };
        assert_eq!(
            e.to_string(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
    }
}
