//! MIGRATE and RESTORE-ASKING: moving keys between nodes during resharding.
//!
//! MIGRATE serializes the keys (the DUMP payload), sends them to the target as
//! RESTORE-ASKING commands over a plain connection, and deletes them here once the target
//! acknowledged them (unless COPY).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::args::{int, is, ArgParser};
use super::flags::*;
use super::{CommandSpec, KeySpec};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};

/// The migration commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("migrate", -6, WRITE, KeySpec::at(3, 3, 1), migrate)
        .movable(migrate_keys)
        .doc(
            "generic",
            "2.6.0",
            "Atomically transfers a key from one Redis instance to another.",
        )
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"]),
    CommandSpec::new(
        "restore-asking",
        -4,
        WRITE | DENYOOM,
        KeySpec::ONE,
        restore_asking,
    )
    .doc(
        "server",
        "3.0.0",
        "An internal command for migrating keys in a cluster.",
    )
    .acl(&["@keyspace", "@write", "@slow", "@dangerous"]),
];

fn migrate_keys(args: &[&[u8]]) -> Option<Vec<usize>> {
    if args.len() < 6 {
        return None;
    }
    let keys_at = args.iter().position(|a| is(a, "KEYS"));
    match keys_at {
        Some(i) if args[3].is_empty() => Some((i + 1..args.len()).collect()),
        Some(_) => None,
        None => Some(vec![3]),
    }
}

fn restore_asking(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    super::keys::restore_command(ctx, args)
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one simple reply line (`+OK` / `-ERR ...`); bulk replies are not expected.
fn read_line(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("connection closed"));
    }
    Ok(line.trim_end().to_string())
}

fn migrate(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let host = String::from_utf8_lossy(args[1]).into_owned();
    let port = int(args[2])?;
    let db = int(args[4])?;
    let timeout = int(args[5])?.max(1) as u64;
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<(Option<Vec<u8>>, Vec<u8>)> = None;
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut p = ArgParser::new(args, 6);
    while let Some(opt) = p.next() {
        if is(opt, "COPY") {
            copy = true;
        } else if is(opt, "REPLACE") {
            replace = true;
        } else if is(opt, "AUTH") {
            auth = Some((None, p.value()?.to_vec()));
        } else if is(opt, "AUTH2") {
            let user = p.value()?.to_vec();
            auth = Some((Some(user), p.value()?.to_vec()));
        } else if is(opt, "KEYS") {
            if !args[3].is_empty() {
                return Err(CommandError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys.extend(std::iter::from_fn(|| p.next()));
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if keys.is_empty() {
        keys.push(args[3]);
    }
    // Serialize what exists.
    let mut payloads: Vec<(&[u8], Vec<u8>, i64)> = Vec::new();
    for key in &keys {
        let k = ctx.key(key);
        let mut t = ctx.server.keyspace.lock(k.slot);
        if let Some(e) = t.get(&k, ctx.now_ms) {
            let ttl = e
                .expire_at()
                .map_or(0, |at| at.saturating_sub(ctx.now_ms).max(1) as i64);
            payloads.push((key, crate::dump::dump(e.value()), ttl));
        }
    }
    if payloads.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    let io_err =
        |what: &str| CommandError::Other(format!("IOERR error or timeout {what} target instance"));
    let addr = format!("{host}:{port}");
    let sock_addr = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| io_err("connecting to"))?;
    let stream =
        TcpStream::connect_timeout(&sock_addr, Duration::from_millis(timeout)).map_err(|_| {
            CommandError::Other("IOERR error or timeout connecting to the client".into())
        })?;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(timeout)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(timeout)));
    let mut writer = stream.try_clone().map_err(|_| io_err("writing to"))?;
    let mut reader = BufReader::new(stream);
    let mut batch = Vec::new();
    let mut expected = 0;
    if let Some((user, pass)) = &auth {
        match user {
            Some(u) => batch.extend(encode(&[b"AUTH", u, pass])),
            None => batch.extend(encode(&[b"AUTH", pass])),
        }
        expected += 1;
    }
    if db != 0 {
        batch.extend(encode(&[
            b"SELECT",
            itoa::Buffer::new().format(db).as_bytes(),
        ]));
        expected += 1;
    }
    let setup = expected;
    for (key, payload, ttl) in &payloads {
        let ttl = itoa::Buffer::new().format(*ttl).to_string();
        let mut cmd: Vec<&[u8]> = vec![b"RESTORE-ASKING", key, ttl.as_bytes(), payload];
        if replace {
            cmd.push(b"REPLACE");
        }
        batch.extend(encode(&cmd));
        expected += 1;
    }
    writer.write_all(&batch).map_err(|_| io_err("writing to"))?;
    let mut first_error: Option<String> = None;
    let mut done: Vec<&[u8]> = Vec::new();
    for i in 0..expected {
        let line = read_line(&mut reader).map_err(|_| io_err("reading from"))?;
        if let Some(err) = line.strip_prefix('-') {
            first_error.get_or_insert_with(|| err.to_string());
        } else if i >= setup {
            done.push(payloads[i - setup].0);
        }
    }
    if !copy {
        for key in &done {
            let k = ctx.key(key);
            ctx.server.keyspace.lock(k.slot).remove(&k, ctx.now_ms);
        }
    }
    match first_error {
        Some(e) => Err(CommandError::err(format!(
            "Target instance replied with error: {e}"
        ))),
        None => {
            ctx.out.ok();
            Ok(())
        }
    }
}
