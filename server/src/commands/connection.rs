//! Connection commands: PING, ECHO, QUIT, RESET, SELECT, HELLO, AUTH and CLIENT.

use std::sync::atomic::Ordering::Relaxed;

use super::args::{int, is, ArgParser};
use super::flags::*;
use super::{CommandSpec, KeySpec, TABLE};
use crate::client::{ClientInfo, ReplyMode};
use crate::dispatch::Ctx;
use crate::error::{CmdResult, CommandError};

const ACL_CONN: &[&str] = &["@fast", "@connection"];
const ACL_CONN_SLOW: &[&str] = &["@slow", "@connection"];
const ACL_ADMIN: &[&str] = &["@admin", "@slow", "@dangerous", "@connection"];

static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "client|id",
        2,
        NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_id,
    )
    .doc(
        "connection",
        "5.0.0",
        "Returns the unique client ID of the connection.",
    )
    .acl(ACL_CONN_SLOW),
    CommandSpec::new(
        "client|setname",
        3,
        NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_setname,
    )
    .doc("connection", "2.6.9", "Sets the connection name.")
    .acl(ACL_CONN_SLOW),
    CommandSpec::new(
        "client|getname",
        2,
        NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_getname,
    )
    .doc("connection", "2.6.9", "Returns the name of the connection.")
    .acl(ACL_CONN_SLOW),
    CommandSpec::new(
        "client|list",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_list,
    )
    .doc("connection", "2.4.0", "Lists open connections.")
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "client|info",
        2,
        NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_info,
    )
    .doc(
        "connection",
        "6.2.0",
        "Returns information about the connection.",
    )
    .acl(ACL_CONN_SLOW),
    CommandSpec::new(
        "client|kill",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_kill,
    )
    .doc("connection", "2.4.0", "Terminates open connections.")
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "client|setinfo",
        4,
        NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_setinfo,
    )
    .doc(
        "connection",
        "7.2.0",
        "Sets information specific to the client or connection.",
    )
    .acl(ACL_CONN_SLOW),
    CommandSpec::new(
        "client|reply",
        3,
        NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_reply,
    )
    .doc(
        "connection",
        "3.2.0",
        "Instructs the server whether to reply to commands.",
    )
    .acl(ACL_CONN_SLOW),
    CommandSpec::new(
        "client|no-evict",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_no_evict,
    )
    .doc(
        "connection",
        "7.0.0",
        "Sets the client eviction mode of the connection.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "client|no-touch",
        3,
        NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_no_touch,
    )
    .doc(
        "connection",
        "7.2.0",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
    )
    .acl(ACL_CONN_SLOW),
    CommandSpec::new(
        "client|pause",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_pause,
    )
    .doc("connection", "3.0.0", "Suspends commands processing.")
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "client|unpause",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_unpause,
    )
    .doc(
        "connection",
        "6.2.0",
        "Resumes processing commands from paused clients.",
    )
    .acl(ACL_ADMIN),
    CommandSpec::new(
        "client|getredir",
        2,
        NOSCRIPT | LOADING | STALE,
        KeySpec::NONE,
        client_getredir,
    )
    .doc(
        "connection",
        "6.0.0",
        "Returns the client ID to which the connection's tracking notifications are redirected.",
    )
    .acl(ACL_CONN_SLOW),
    CommandSpec::new(
        "client|help",
        2,
        LOADING | STALE,
        KeySpec::NONE,
        client_help,
    )
    .doc(
        "connection",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    )
    .acl(ACL_CONN_SLOW),
];

/// The connection commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, FAST, KeySpec::NONE, ping)
        .doc(
            "connection",
            "1.0.0",
            "Returns the server's liveliness response.",
        )
        .acl(ACL_CONN),
    CommandSpec::new("echo", 2, FAST, KeySpec::NONE, echo)
        .doc("connection", "1.0.0", "Returns the given string.")
        .acl(ACL_CONN),
    CommandSpec::new(
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        KeySpec::NONE,
        quit,
    )
    .doc("connection", "1.0.0", "Closes the connection.")
    .acl(ACL_CONN),
    CommandSpec::new(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        KeySpec::NONE,
        reset,
    )
    .doc("connection", "6.2.0", "Resets the connection.")
    .acl(ACL_CONN),
    CommandSpec::new("select", 2, LOADING | STALE | FAST, KeySpec::NONE, select)
        .doc("connection", "1.0.0", "Changes the selected database.")
        .acl(ACL_CONN),
    CommandSpec::new(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        KeySpec::NONE,
        hello,
    )
    .doc("connection", "6.0.0", "Handshakes with the Redis server.")
    .acl(ACL_CONN),
    CommandSpec::new(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        KeySpec::NONE,
        auth,
    )
    .doc("connection", "1.0.0", "Authenticates the connection.")
    .acl(ACL_CONN),
    CommandSpec::container("client", -2, CLIENT_SUBCOMMANDS).doc(
        "connection",
        "2.4.0",
        "A container for client connection commands.",
    ),
];

fn ping(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if args.len() > 2 {
        return Err(CommandError::WrongArity("ping".into()));
    }
    if !ctx.client.resp3 && ctx.client.subscription_count() > 0 {
        // In subscribed mode a RESP2 PING answers like a message: ["pong", <arg>].
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(args.get(1).copied().unwrap_or(b""));
        return Ok(());
    }
    match args.len() {
        1 => ctx.out.raw(b"+PONG\r\n"),
        2 => ctx.out.bulk(args[1]),
        _ => return Err(CommandError::WrongArity("ping".into())),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(args[1]);
    Ok(())
}

fn quit(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

fn reset(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.client.resp3 = false;
    ctx.out.set_resp3(false);
    ctx.client.info.resp.store(2, Relaxed);
    ctx.client.reply_mode = ReplyMode::On;
    ctx.client.authenticated = ctx.settings.requirepass.is_empty();
    ctx.client.info.name.lock().clear();
    ctx.client.info.no_evict.store(false, Relaxed);
    ctx.out.simple("RESET");
    Ok(())
}

fn select(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let db = int(args[1]).map_err(|_| CommandError::err("invalid DB index"))?;
    if db != 0 && ctx.server.cluster.is_some() {
        return Err(CommandError::err("SELECT is not allowed in cluster mode"));
    }
    if db != 0 {
        return Err(CommandError::err(
            "DB index is out of range (Cinnabar serves database 0 only)",
        ));
    }
    ctx.out.ok();
    Ok(())
}

/// Checks a username/password pair against `requirepass` (the `default` user only).
fn check_password(ctx: &Ctx<'_>, user: Option<&[u8]>, pass: &[u8]) -> Result<(), CommandError> {
    let required = &ctx.settings.requirepass;
    let user_ok = user.is_none_or(|u| u == b"default");
    if user_ok && (required.is_empty() || required.as_bytes() == pass) {
        Ok(())
    } else {
        Err(CommandError::WrongPass)
    }
}

fn auth(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let (user, pass) = match args.len() {
        2 => (None, args[1]),
        3 => (Some(args[1]), args[2]),
        _ => return Err(CommandError::Syntax),
    };
    if user.is_none() && ctx.settings.requirepass.is_empty() {
        return Err(CommandError::err("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
    }
    check_password(ctx, user, pass)?;
    ctx.client.authenticated = true;
    ctx.out.ok();
    Ok(())
}

fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn hello(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut proto = if ctx.client.resp3 { 3 } else { 2 };
    if args.len() > 1 {
        proto = match int(args[1]) {
            Ok(v @ (2 | 3)) => v,
            Ok(_) => {
                return Err(CommandError::Other(
                    "NOPROTO unsupported protocol version".into(),
                ))
            }
            Err(_) => {
                return Err(CommandError::err(
                    "Protocol version is not an integer or out of range",
                ))
            }
        };
    }
    let mut name: Option<&[u8]> = None;
    let mut p = ArgParser::new(args, 2);
    while let Some(opt) = p.next() {
        if is(opt, "AUTH") {
            let user = p.value()?;
            let pass = p.value()?;
            check_password(ctx, Some(user), pass)?;
            ctx.client.authenticated = true;
        } else if is(opt, "SETNAME") {
            let n = p.value()?;
            if !valid_name(n) {
                return Err(CommandError::err(
                    "Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            name = Some(n);
        } else {
            return Err(CommandError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if !ctx.client.authenticated && !ctx.settings.requirepass.is_empty() {
        return Err(CommandError::Other("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()));
    }
    if let Some(n) = name {
        *ctx.client.info.name.lock() = String::from_utf8_lossy(n).into();
    }
    ctx.client.resp3 = proto == 3;
    ctx.client.info.resp.store(proto as usize, Relaxed);
    ctx.out.set_resp3(proto == 3);
    let cluster = ctx.server.config.get_bool("cluster-enabled");
    ctx.out.map(7);
    ctx.out.bulk(b"server");
    ctx.out.bulk(b"redis");
    ctx.out.bulk(b"version");
    ctx.out.bulk(crate::REDIS_VERSION.as_bytes());
    ctx.out.bulk(b"proto");
    ctx.out.int(proto);
    ctx.out.bulk(b"id");
    ctx.out.int(ctx.client.info.id as i64);
    ctx.out.bulk(b"mode");
    ctx.out
        .bulk(if cluster { b"cluster" } else { b"standalone" });
    ctx.out.bulk(b"role");
    ctx.out.bulk(b"master");
    ctx.out.bulk(b"modules");
    ctx.out.array(0);
    Ok(())
}

fn client_id(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.info.id as i64);
    Ok(())
}

fn client_setname(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if !valid_name(args[2]) {
        return Err(CommandError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *ctx.client.info.name.lock() = String::from_utf8_lossy(args[2]).into();
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let name = ctx.client.info.name.lock().clone();
    if name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(name.as_bytes());
    }
    Ok(())
}

/// One `CLIENT LIST` line.
fn describe(info: &ClientInfo, now_ms: u64) -> String {
    let last = info.last_cmd.load(Relaxed);
    let cmd = TABLE.all.get(last).map(|s| s.name).unwrap_or("NULL");
    let (lib_name, lib_ver) = info.lib.lock().clone();
    let flags = if info.monitor.load(Relaxed) { "O" } else { "N" };
    format!(
        "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={flags} db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={cmd} user=default redir=-1 resp={} lib-name={lib_name} lib-ver={lib_ver}",
        info.id,
        info.addr,
        info.laddr,
        info.name.lock(),
        now_ms.saturating_sub(info.created_ms) / 1000,
        now_ms.saturating_sub(info.last_interaction_ms.load(Relaxed)) / 1000,
        info.qbuf.load(Relaxed),
        info.omem.load(Relaxed),
        info.resp.load(Relaxed),
    )
}

fn client_list(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut p = ArgParser::new(args, 2);
    while let Some(opt) = p.next() {
        if is(opt, "TYPE") {
            let t = p.value()?;
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|k| is(t, k))
            {
                return Err(CommandError::err(format!(
                    "Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                )));
            }
            if !is(t, "normal") {
                ids = Some(Vec::new());
            }
        } else if is(opt, "ID") {
            let mut list = Vec::new();
            while let Some(v) = p.next() {
                let id = int(v).map_err(|_| CommandError::err("Invalid client ID"))?;
                list.push(id as u64);
            }
            ids = Some(list);
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let mut text = String::new();
    for c in ctx.server.clients.all() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        text.push_str(&describe(&c, ctx.now_ms));
        text.push('\n');
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn client_info(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let mut text = describe(&ctx.client.info, ctx.now_ms);
    text.push('\n');
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn client_kill(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let me = ctx.client.info.id;
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(args[2]);
        let target = ctx
            .server
            .clients
            .all()
            .into_iter()
            .find(|c| c.addr.to_string() == addr);
        return match target {
            Some(c) => {
                if c.id == me {
                    ctx.client.close_after_reply = true;
                }
                c.kill();
                ctx.out.ok();
                Ok(())
            }
            None => Err(CommandError::err("No such client")),
        };
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut maxage) = (
        None::<u64>,
        None::<String>,
        None::<String>,
        true,
        None::<u64>,
    );
    let mut p = ArgParser::new(args, 2);
    while let Some(opt) = p.next() {
        let v = p.value()?;
        if is(opt, "ID") {
            id = Some(
                int(v).map_err(|_| CommandError::err("client-id should be greater than 0"))? as u64,
            );
        } else if is(opt, "ADDR") {
            addr = Some(String::from_utf8_lossy(v).into());
        } else if is(opt, "LADDR") {
            laddr = Some(String::from_utf8_lossy(v).into());
        } else if is(opt, "SKIPME") {
            skipme = if is(v, "yes") {
                true
            } else if is(v, "no") {
                false
            } else {
                return Err(CommandError::Syntax);
            };
        } else if is(opt, "MAXAGE") {
            maxage = Some(int(v)? as u64);
        } else if is(opt, "USER") || is(opt, "TYPE") {
            // Every client is the default user and of the normal type.
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let mut killed = 0;
    for c in ctx.server.clients.all() {
        let matches = id.is_none_or(|i| i == c.id)
            && addr.as_ref().is_none_or(|a| *a == c.addr.to_string())
            && laddr.as_ref().is_none_or(|a| *a == c.laddr.to_string())
            && maxage.is_none_or(|m| ctx.now_ms.saturating_sub(c.created_ms) / 1000 >= m)
            && !(skipme && c.id == me);
        if matches {
            if c.id == me {
                ctx.client.close_after_reply = true;
            }
            c.kill();
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

fn client_setinfo(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let value = String::from_utf8_lossy(args[3]).into_owned();
    if !valid_name(args[3]) && !args[3].is_empty() {
        return Err(CommandError::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(args[2])
        )));
    }
    let mut lib = ctx.client.info.lib.lock();
    if is(args[2], "lib-name") {
        lib.0 = value;
    } else if is(args[2], "lib-ver") {
        lib.1 = value;
    } else {
        return Err(CommandError::err(format!(
            "Unrecognized option '{}'",
            String::from_utf8_lossy(args[2])
        )));
    }
    drop(lib);
    ctx.out.ok();
    Ok(())
}

fn client_reply(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    if is(args[2], "ON") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if is(args[2], "OFF") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if is(args[2], "SKIP") {
        ctx.client.reply_mode = ReplyMode::SkipNext;
    } else {
        return Err(CommandError::Syntax);
    }
    Ok(())
}

fn on_off(arg: &[u8]) -> Result<bool, CommandError> {
    if is(arg, "ON") {
        Ok(true)
    } else if is(arg, "OFF") {
        Ok(false)
    } else {
        Err(CommandError::Syntax)
    }
}

fn client_no_evict(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let on = on_off(args[2])?;
    ctx.client.info.no_evict.store(on, Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_no_touch(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    on_off(args[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_pause(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> CmdResult {
    let ms = int(args[2])
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| CommandError::err("timeout is not an integer or out of range"))?;
    let all = match args.get(3) {
        None => true,
        Some(a) if is(a, "ALL") => true,
        Some(a) if is(a, "WRITE") => false,
        Some(_) => return Err(CommandError::Syntax),
    };
    if args.len() > 4 {
        return Err(CommandError::Syntax);
    }
    let pause = &ctx.server.pause;
    pause.all.store(all, Relaxed);
    pause
        .until_ms
        .store(ctx.now_ms.saturating_add(ms as u64), Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.server.pause.until_ms.store(0, Relaxed);
    ctx.server.pause.unpaused.notify_waiters();
    ctx.out.ok();
    Ok(())
}

fn client_getredir(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(-1);
    Ok(())
}

fn client_help(ctx: &mut Ctx<'_>, _args: &[&[u8]]) -> CmdResult {
    let lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID, ADDR, LADDR, SKIPME, MAXAGE.",
        "LIST [options ...]",
        "    Return information about client connections. Options: TYPE, ID.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "NO-TOUCH (ON|OFF)",
        "    Will not touch LRU/LFU stats when this mode is on.",
        "HELP",
        "    Print this help.",
    ];
    super::args::reply_help(ctx, &lines)
}
