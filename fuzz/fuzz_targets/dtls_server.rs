//! The server state machine fed arbitrary datagrams: the stateless endpoint path, and a
//! connection created directly (past the cookie) so the fuzzer reaches the handshake.
//! Input: a sequence of [len u8][datagram] chunks.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::{Connection, Endpoint, PskTable, ServerConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut table = PskTable::new();
    table.insert(b"id", b"0123456789abcdef");
    let cfg = Arc::new(ServerConfig::psk(Arc::new(table)));
    let peer = "192.0.2.1:5684".parse().unwrap();
    let now = Instant::now();
    let mut ep = Endpoint::new(Some(cfg.clone())).unwrap();
    let mut conn: Option<Connection> = None;
    let mut rest = data;
    let mut t = now;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (len as usize).min(tail.len());
        let (d, tail) = tail.split_at(n);
        rest = tail;
        ep.handle_datagram(t, peer, d);
        match conn.as_mut() {
            None => conn = Connection::accept(t, peer, cfg.clone(), d, 0, 0).ok(),
            Some(c) => c.handle_datagram(t, d),
        }
        t += Duration::from_millis(700);
        ep.handle_timeout(t);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
        if let Some(c) = conn.as_mut() {
            c.handle_timeout(t);
            while c.poll_transmit().is_some() {}
            while c.poll_event().is_some() {}
        }
    }
});
