//! One test per bad-input rule: the offending connection gets the documented outcome while
//! a second connection keeps working.

use std::io::Write;
use std::time::Duration;

use crate::harness::*;

/// Sends `bytes` on a fresh connection, expects `-ERR Protocol error: <reason>` and a
/// closed connection, then checks that another connection still works.
fn expect_protocol_error(server: &TestServer, bytes: &[u8], reason: &str) {
    let mut other = server.raw();
    let mut c = server.raw();
    c.send(bytes);
    assert_eq!(c.read(), error(&format!("ERR Protocol error: {reason}")));
    assert!(c.is_closed(), "connection must be closed after {reason}");
    assert_eq!(other.cmd_str("PING"), simple("PONG"));
}

#[test]
fn malformed_lengths() {
    let server = TestServer::start(&[]);
    expect_protocol_error(&server, b"*abc\r\n", "invalid multibulk length");
    expect_protocol_error(&server, b"*1\r\n$-7\r\n", "invalid bulk length");
    expect_protocol_error(&server, b"*1\r\n$xyz\r\n", "invalid bulk length");
    expect_protocol_error(&server, b"*1\r\n+PING\r\n", "expected '$', got '+'");
    expect_protocol_error(&server, b"*3000000000\r\n", "invalid multibulk length");
}

#[test]
fn bulk_larger_than_proto_max_bulk_len() {
    let server = TestServer::start(&["--proto-max-bulk-len", "1mb"]);
    expect_protocol_error(
        &server,
        b"*2\r\n$3\r\nGET\r\n$2000000\r\n",
        "invalid bulk length",
    );
    // Just under the limit is fine.
    let mut c = server.raw();
    let big = vec![b'x'; 1024 * 1024];
    assert_eq!(c.cmd(&[b"SET", b"big", &big]), simple("OK"));
    assert_eq!(c.cmd(&[b"STRLEN", b"big"]), Resp::Int(1024 * 1024));
}

#[test]
fn oversized_header_lines_and_inline_requests() {
    let server = TestServer::start(&[]);
    let mut long = b"*".to_vec();
    long.extend(std::iter::repeat_n(b'1', 70_000));
    expect_protocol_error(&server, &long, "too big mbulk count string");
    let mut bulk_header = b"*1\r\n$".to_vec();
    bulk_header.extend(std::iter::repeat_n(b'1', 70_000));
    expect_protocol_error(&server, &bulk_header, "too big bulk count string");
    let inline = vec![b'a'; 70_000];
    expect_protocol_error(&server, &inline, "too big inline request");
    expect_protocol_error(
        &server,
        b"SET k \"unterminated\r\n",
        "unbalanced quotes in request",
    );
}

#[test]
fn unterminated_frame_waits_without_harming_others() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.send(b"*2\r\n$3\r\nGET\r\n$10\r\nabc");
    let mut other = server.raw();
    assert_eq!(other.cmd_str("SET x 1"), simple("OK"));
    // Completing the frame later gets the answer.
    c.send(b"defghij\r\n");
    assert_eq!(c.read(), Resp::Nil);
}

#[test]
fn claim_of_a_million_elements_allocates_nothing_up_front() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.send(b"*1000000\r\n$4\r\nPING\r\n");
    let mut other = server.raw();
    assert_eq!(other.cmd_str("PING"), simple("PONG"));
    let used: i64 = other
        .cmd_str("INFO memory")
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    assert!(used < 200 * 1024 * 1024, "used_memory {used}");
    drop(c);
    assert_eq!(other.cmd_str("PING"), simple("PONG"));
}

#[test]
fn binary_garbage_is_refused() {
    let server = TestServer::start(&[]);
    let mut other = server.raw();
    let mut rng: u64 = 0x9E3779B97F4A7C15;
    for _ in 0..20 {
        let mut c = server.raw();
        let mut garbage = vec![b'*'];
        for _ in 0..512 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            garbage.push(rng as u8);
        }
        garbage.extend_from_slice(b"\r\n");
        let _ = c.stream.write_all(&garbage);
        drop(c);
        assert_eq!(other.cmd_str("PING"), simple("PONG"));
    }
}

#[test]
fn client_that_never_reads_replies() {
    let server = TestServer::start(&[]);
    let mut setup = server.raw();
    let value = vec![b'v'; 64 * 1024];
    assert_eq!(setup.cmd(&[b"SET", b"big", &value]), simple("OK"));
    let c = server.raw();
    c.stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let request = encode(&[b"GET", b"big"]);
    let mut writer = &c.stream;
    // Keep asking without ever reading until the socket pushes back.
    for _ in 0..20_000 {
        if writer.write_all(&request).is_err() {
            break;
        }
    }
    let mut other = server.raw();
    assert_eq!(other.cmd_str("PING"), simple("PONG"));
    assert_eq!(other.cmd(&[b"STRLEN", b"big"]), Resp::Int(64 * 1024));
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let server = TestServer::start(&["--client-query-buffer-limit", "1mb"]);
    let mut c = server.raw();
    // A bulk that claims 4 MB: the query buffer passes the 1 MB limit before it completes.
    c.send(b"*2\r\n$3\r\nGET\r\n$4000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..40 {
        if c.stream.write_all(&chunk).is_err() {
            break;
        }
    }
    assert!(c.is_closed());
    assert_eq!(server.raw().cmd_str("PING"), simple("PONG"));
}

#[test]
fn output_buffer_hard_limit_closes_the_client() {
    let server = TestServer::start(&["--client-output-buffer-limit", "normal 1mb 0 0"]);
    let mut c = server.raw();
    let value = vec![b'v'; 512 * 1024];
    assert_eq!(c.cmd(&[b"SET", b"big", &value]), simple("OK"));
    // Three replies of 512 KB in one batch pass the 1 MB hard limit.
    c.send(&encode(&[b"GET", b"big"]).repeat(3));
    assert!(c.is_closed());
    let mut other = server.raw();
    assert_eq!(other.cmd_str("PING"), simple("PONG"));
}
