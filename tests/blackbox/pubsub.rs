//! Pub/Sub and keyspace notifications.

use crate::harness::*;

#[test]
fn subscribe_publish_patterns_resp2() {
    let server = TestServer::start(&[]);
    let mut sub = server.raw();
    assert_eq!(
        sub.cmd_str("SUBSCRIBE news"),
        Resp::Array(vec![bulk("subscribe"), bulk("news"), Resp::Int(1)])
    );
    sub.send(b"PSUBSCRIBE n*\r\n");
    assert_eq!(
        sub.read(),
        Resp::Array(vec![bulk("psubscribe"), bulk("n*"), Resp::Int(2)])
    );
    assert_eq!(
        sub.cmd_str("GET x"),
        error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    );
    assert_eq!(
        sub.cmd_str("PING"),
        Resp::Array(vec![bulk("pong"), bulk("")])
    );
    let mut publisher = server.raw();
    assert_eq!(publisher.cmd_str("PUBLISH news hello"), Resp::Int(2));
    assert_eq!(
        sub.read(),
        Resp::Array(vec![bulk("message"), bulk("news"), bulk("hello")])
    );
    assert_eq!(
        sub.read(),
        Resp::Array(vec![
            bulk("pmessage"),
            bulk("n*"),
            bulk("news"),
            bulk("hello")
        ])
    );
    assert_eq!(
        publisher.cmd_str("PUBSUB NUMSUB news other"),
        Resp::Array(vec![
            bulk("news"),
            Resp::Int(1),
            bulk("other"),
            Resp::Int(0)
        ])
    );
    assert_eq!(publisher.cmd_str("PUBSUB NUMPAT"), Resp::Int(1));
    assert_eq!(
        publisher.cmd_str("PUBSUB CHANNELS"),
        Resp::Array(vec![bulk("news")])
    );
    assert_eq!(
        sub.cmd_str("UNSUBSCRIBE"),
        Resp::Array(vec![bulk("unsubscribe"), bulk("news"), Resp::Int(1)])
    );
    assert_eq!(
        sub.cmd_str("PUNSUBSCRIBE"),
        Resp::Array(vec![bulk("punsubscribe"), bulk("n*"), Resp::Int(0)])
    );
    assert_eq!(sub.cmd_str("GET x"), Resp::Nil);
    assert_eq!(publisher.cmd_str("PUBLISH news again"), Resp::Int(0));
}

#[test]
fn resp3_push_messages_and_shard_channels() {
    let server = TestServer::start(&[]);
    let mut sub = server.raw();
    sub.cmd_str("HELLO 3");
    assert_eq!(
        sub.cmd_str("SSUBSCRIBE orders"),
        Resp::Push(vec![bulk("ssubscribe"), bulk("orders"), Resp::Int(1)])
    );
    // RESP3 clients may run other commands while subscribed.
    assert_eq!(sub.cmd_str("SET k v"), simple("OK"));
    let mut publisher = server.raw();
    assert_eq!(publisher.cmd_str("SPUBLISH orders o1"), Resp::Int(1));
    assert_eq!(
        sub.read(),
        Resp::Push(vec![bulk("smessage"), bulk("orders"), bulk("o1")])
    );
    assert_eq!(
        publisher.cmd_str("PUBSUB SHARDCHANNELS"),
        Resp::Array(vec![bulk("orders")])
    );
}

#[test]
fn keyspace_notifications() {
    let server = TestServer::start(&["--notify-keyspace-events", "KEA"]);
    let mut sub = server.raw();
    sub.cmd_str("PSUBSCRIBE __key*__:*");
    let mut c = server.raw();
    c.cmd_str("SET k v");
    assert_eq!(
        sub.read(),
        Resp::Array(vec![
            bulk("pmessage"),
            bulk("__key*__:*"),
            bulk("__keyspace@0__:k"),
            bulk("set")
        ])
    );
    assert_eq!(
        sub.read(),
        Resp::Array(vec![
            bulk("pmessage"),
            bulk("__key*__:*"),
            bulk("__keyevent@0__:set"),
            bulk("k")
        ])
    );
    c.cmd_str("LPUSH l a");
    let Resp::Array(m) = sub.read() else { panic!() };
    assert_eq!(m[3], bulk("lpush"));
    sub.read();
    c.cmd_str("DEL k");
    let Resp::Array(m) = sub.read() else { panic!() };
    assert_eq!(m[3], bulk("del"));
    sub.read();
    assert!(matches!(
        c.cmd_str("CONFIG SET notify-keyspace-events Q"),
        Resp::Error(e) if e.contains("notify-keyspace-events")
    ));
}
