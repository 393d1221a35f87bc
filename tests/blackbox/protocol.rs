//! RESP framing: pipelining, frames split at every byte, inline commands, RESP3.

use std::io::Read;
use std::time::Duration;

use crate::harness::*;

#[test]
fn every_frame_split_at_every_byte() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let pipeline: Vec<u8> = [
        encode(&[b"SET", b"k", b"hello\r\nworld"]),
        encode(&[b"GET", b"k"]),
        b"PING\r\n".to_vec(),
        encode(&[b"ECHO", b""]),
        encode(&[b"INCRBY", b"n", b"-5"]),
    ]
    .concat();
    for cut in 0..=pipeline.len() {
        c.send(&pipeline[..cut]);
        std::thread::sleep(Duration::from_millis(1));
        c.send(&pipeline[cut..]);
        assert_eq!(c.read(), simple("OK"));
        assert_eq!(c.read(), bulk("hello\r\nworld"));
        assert_eq!(c.read(), simple("PONG"));
        assert_eq!(c.read(), bulk(""));
        assert_eq!(c.read(), Resp::Int(-5 * (cut as i64 + 1)));
    }
}

#[test]
fn byte_by_byte_delivery() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let frame = encode(&[b"SET", b"key", b"value"]);
    for b in &frame {
        c.send(&[*b]);
    }
    assert_eq!(c.read(), simple("OK"));
    assert_eq!(c.cmd(&[b"GET", b"key"]), bulk("value"));
}

#[test]
fn pipeline_of_ten_thousand_commands_in_one_write() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        batch.extend(encode(&[b"INCR", b"counter"]));
        if i % 1000 == 0 {
            batch.extend(encode(&[b"GET", b"counter"]));
        }
    }
    c.send(&batch);
    let mut ints = 0;
    for i in 0..10_000 {
        match c.read() {
            Resp::Int(n) => {
                ints += 1;
                assert_eq!(n, ints);
            }
            other => panic!("reply {i}: {other:?}"),
        }
        if i % 1000 == 0 {
            assert_eq!(c.read(), bulk(&ints.to_string()));
        }
    }
    assert_eq!(c.cmd(&[b"GET", b"counter"]), bulk("10000"));
}

#[test]
fn inline_commands_with_quotes() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.send(b"SET greeting \"hello world\\n\"\r\n");
    assert_eq!(c.read(), simple("OK"));
    c.send(b"GET greeting\n");
    assert_eq!(c.read(), bulk("hello world\n"));
    c.send(b"\r\n   \r\nPING\r\n");
    assert_eq!(c.read(), simple("PONG"));
}

#[test]
fn unknown_command_and_wrong_arity_texts() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(
        c.cmd_str("FOOBAR a b"),
        error("ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        c.cmd_str("GET"),
        error("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        c.cmd_str("GET a b"),
        error("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        c.cmd_str("CONFIG NOPE"),
        error("ERR unknown subcommand 'NOPE'. Try CONFIG HELP.")
    );
    assert_eq!(
        c.cmd_str("CONFIG GET"),
        error("ERR wrong number of arguments for 'config|get' command")
    );
    // The connection goes on after errors.
    assert_eq!(c.cmd_str("PING"), simple("PONG"));
}

#[test]
fn hello_switches_to_resp3_types() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    match c.cmd_str("HELLO 3") {
        Resp::Map(fields) => {
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(key, _)| key.text() == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("HELLO lacks {k}"))
            };
            assert_eq!(get("server"), bulk("redis"));
            assert_eq!(get("version"), bulk("7.2.4"));
            assert_eq!(get("proto"), Resp::Int(3));
            assert_eq!(get("mode"), bulk("standalone"));
            assert_eq!(get("role"), bulk("master"));
            assert!(matches!(get("id"), Resp::Int(_)));
        }
        other => panic!("HELLO 3 answered {other:?}"),
    }
    assert_eq!(c.cmd_str("GET missing"), Resp::Nil);
    assert!(matches!(c.cmd_str("CONFIG GET port"), Resp::Map(_)));
    assert!(matches!(c.cmd_str("INFO server"), Resp::Verbatim(_)));
    c.cmd_str("SET f 1.5");
    assert_eq!(c.cmd_str("INCRBYFLOAT f 1"), bulk("2.5"));
    assert_eq!(
        c.cmd_str("HELLO 4"),
        error("NOPROTO unsupported protocol version")
    );
    // Back to RESP2: a flat array and `$-1`.
    assert!(matches!(c.cmd_str("HELLO 2"), Resp::Array(a) if a.len() == 14));
    c.send(b"GET missing\r\n");
    let mut raw = [0u8; 5];
    c.stream.read_exact(&mut raw).unwrap();
    assert_eq!(&raw, b"$-1\r\n");
}

#[test]
fn hello_with_auth_and_setname() {
    let server = TestServer::start(&["--requirepass", "s3cret"]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("GET k"), error("NOAUTH Authentication required."));
    assert!(matches!(c.cmd_str("HELLO 3"), Resp::Error(e) if e.starts_with("NOAUTH")));
    assert_eq!(
        c.cmd_str("HELLO 3 AUTH default wrong"),
        error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert!(matches!(
        c.cmd_str("HELLO 3 AUTH default s3cret SETNAME app1"),
        Resp::Map(_)
    ));
    assert_eq!(c.cmd_str("CLIENT GETNAME"), bulk("app1"));
    assert_eq!(c.cmd_str("GET k"), Resp::Nil);
    let mut d = server.raw();
    assert_eq!(d.cmd_str("AUTH s3cret"), simple("OK"));
    assert_eq!(d.cmd_str("PING"), simple("PONG"));
}
