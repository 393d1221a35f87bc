//! Feeds arbitrary bytes to the RESP decoder, split into arbitrary chunks, the way a
//! connection receives them. The decoder must never panic and must never report a command
//! longer than the bytes it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::resp::{Decoded, Decoder, Limits};

fuzz_target!(|data: &[u8]| {
    let (cuts, payload) = data.split_at(data.len().min(4));
    let limits = Limits {
        max_bulk_len: 4096,
        ..Limits::default()
    };
    let mut decoder = Decoder::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut steps = cuts.iter().map(|c| *c as usize + 1).cycle();
    while fed < payload.len() {
        let take = steps.next().unwrap_or(1).min(payload.len() - fed);
        buf.extend_from_slice(&payload[fed..fed + take]);
        fed += take;
        loop {
            match decoder.decode(&buf, &limits) {
                Decoded::Incomplete => break,
                Decoded::Skip(n) => {
                    assert!(n <= buf.len());
                    buf.drain(..n);
                }
                Decoded::Command(n) => {
                    assert!(n <= buf.len());
                    let args = decoder.args(&buf);
                    assert!(!args.is_empty());
                    drop(args);
                    buf.drain(..n);
                }
                Decoded::Error(_) => return,
            }
        }
    }
});
