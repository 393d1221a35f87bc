//! Keyspace notifications (`notify-keyspace-events`): events published on
//! `__keyspace@0__:<key>` and `__keyevent@0__:<event>`.

/// Generic commands (DEL, EXPIRE, RENAME, ...).
pub const GENERIC: u32 = 1 << 0;
/// String commands.
pub const STRING: u32 = 1 << 1;
/// List commands.
pub const LIST: u32 = 1 << 2;
/// Set commands.
pub const SET: u32 = 1 << 3;
/// Hash commands.
pub const HASH: u32 = 1 << 4;
/// Sorted-set commands.
pub const ZSET: u32 = 1 << 5;
/// Expired events.
pub const EXPIRED: u32 = 1 << 6;
/// Evicted events.
pub const EVICTED: u32 = 1 << 7;
/// Stream commands.
pub const STREAM: u32 = 1 << 8;
/// Key-miss events.
pub const KEY_MISS: u32 = 1 << 9;
/// Module events.
pub const MODULE: u32 = 1 << 10;
/// New-key events.
pub const NEW: u32 = 1 << 11;
/// Publish on `__keyspace@0__`.
pub const KEYSPACE: u32 = 1 << 12;
/// Publish on `__keyevent@0__`.
pub const KEYEVENT: u32 = 1 << 13;

/// Parses the `notify-keyspace-events` letters; `None` on an unknown letter.
pub fn parse_flags(text: &str) -> Option<u32> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => {
                GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE
            }
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            _ => return None,
        };
    }
    Some(flags)
}

/// Publishes one event if the configuration asks for its class.
pub fn notify(server: &crate::server::Server, flags: u32, class: u32, event: &str, key: &[u8]) {
    if flags & class == 0 || flags & (KEYSPACE | KEYEVENT) == 0 {
        return;
    }
    if flags & KEYSPACE != 0 {
        let mut channel = b"__keyspace@0__:".to_vec();
        channel.extend_from_slice(key);
        server.pubsub.publish(&channel, event.as_bytes(), false);
    }
    if flags & KEYEVENT != 0 {
        let channel = format!("__keyevent@0__:{event}");
        server.pubsub.publish(channel.as_bytes(), key, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters() {
        assert_eq!(parse_flags(""), Some(0));
        assert_eq!(parse_flags("Kx"), Some(KEYSPACE | EXPIRED));
        assert!(parse_flags("KEA").unwrap() & LIST != 0);
        assert_eq!(parse_flags("Q"), None);
    }
}
