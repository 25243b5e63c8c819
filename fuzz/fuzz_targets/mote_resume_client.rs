//! The mote as the client of an abbreviated handshake (its outbound session resumed with
//! the server itself, `mote/src/resume_client.rs`), driven by `[selector][len][bytes]*`
//! steps: datagrams from the server or from a stranger, and time passing (retransmissions,
//! the flight kept for a repeating server, giving up). Must never panic, and never count a
//! resumption as done: no input here can produce the server's Finished, which takes the
//! session's master secret.
#![no_main]

use core::time::Duration;

use delegated_mote::{Address, Instant, Random, SessionLayer, SuiteSet};
use libfuzzer_sys::fuzz_target;
use mote_assoc::crypto::SoftAes;
use mote_assoc::wire::{KeyBlock, Resumption, SessionKeys, TransferBody};

struct Rng(u64);
impl Random for Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0 >> 24) as u8;
        }
    }
}

const SERVER: Address = Address {
    addr: [0x30; 16],
    port: 5684,
};
const STRANGER: Address = Address {
    addr: [0x31; 16],
    port: 40000,
};

fuzz_target!(|data: &[u8]| {
    let mut layer: SessionLayer<SoftAes, 2, 1024> =
        SessionLayer::new(SuiteSet(0b1111), Duration::from_secs(300), 2);
    layer.set_resumption_slots(2);
    // The outbound session the mote holds with the server, resumable with this id (with or
    // without the extended master secret, as the first byte says).
    let ems = data.first().is_some_and(|b| b & 1 == 1);
    let body = TransferBody {
        keys: SessionKeys::Ccm8(KeyBlock {
            client_write_key: [1; 16],
            server_write_key: [2; 16],
            client_write_iv: [3; 4],
            server_write_iv: [4; 4],
        }),
        may_evict: true,
        client_addr: SERVER.addr,
        client_port: SERVER.port,
        sequence: None,
        mote_is_client: true,
        resumption: Resumption::new(&[0x77; 16], [0x5a; 48], ems, 60),
    };
    let mut now = 0u64;
    layer.install(Instant::from_millis(now), &body);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    if layer
        .resume_outbound(Instant::from_millis(now), &SERVER, &mut rng)
        .is_err()
    {
        return;
    }
    let mut buf = [0u8; 1024];
    let mut rest = data.get(1..).unwrap_or_default();
    while let [selector, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        match selector % 4 {
            0 | 1 => {
                layer.handle_datagram_resuming(Instant::from_millis(now), &SERVER, bytes, &mut rng)
            }
            2 => layer.handle_datagram_resuming(
                Instant::from_millis(now),
                &STRANGER,
                bytes,
                &mut rng,
            ),
            _ => {
                now += u64::from(*len) * 100;
                layer.handle_timeout(Instant::from_millis(now));
            }
        }
        while layer.poll_transmit(&mut buf).is_some() {}
        let _ = layer.poll_outbound_outcome();
    }
    assert_eq!(
        layer.outbound_resumption().stats().resumed,
        0,
        "resumed without the server's Finished"
    );
});
