//! The delegated mote's record layer: two installed sessions (CCM-8 and ChaCha20-Poly1305)
//! driven by `[selector][len][bytes]*` steps: datagrams to the session port from either
//! client or a stranger, datagrams to the association port, time passing, application
//! data sent. The CCM-8 session is resumable, so a datagram that starts with a handshake
//! record runs the mote's side of the abbreviated handshake (ClientHello parsing, the
//! fallback HelloVerifyRequest, the client's Finished). Must never panic, never deliver application data from a datagram the
//! clients' keys did not seal, and never hold more sessions than slots.
#![no_main]

use core::time::Duration;

use delegated_mote::{Address, Config, Credentials, DelegatedMote, Instant, LocalPort, Random};
use libfuzzer_sys::fuzz_target;
use mote_assoc::crypto::{SoftAes, SoftEcdh};
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

const SSP: Address = Address {
    addr: [0xfd; 16],
    port: 5686,
};

fn client(port: u16) -> Address {
    Address {
        addr: [0x20; 16],
        port,
    }
}

fn body(keys: SessionKeys, port: u16) -> TransferBody {
    TransferBody {
        keys,
        may_evict: false,
        client_addr: client(port).addr,
        client_port: port,
        sequence: None,
        mote_is_client: false,
        resumption: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let config = Config {
        iotssp: Some(SSP),
        suites: Config::ALL_SUITES,
        slots: 2,
        session_idle: Duration::from_secs(300),
        session_evict_after: Duration::from_secs(30),
    };
    let Ok(creds) = Credentials::new::<SoftAes>(&[7; 16], [1; 8]) else {
        return;
    };
    let mut mote: DelegatedMote<SoftAes, SoftEcdh, Rng, 2, 512> =
        DelegatedMote::new(config, creds, SoftEcdh, Rng(1));
    let b16 = KeyBlock {
        client_write_key: [1; 16],
        server_write_key: [2; 16],
        client_write_iv: [3; 4],
        server_write_iv: [4; 4],
    };
    let b32 = KeyBlock {
        client_write_key: [5; 32],
        server_write_key: [6; 32],
        client_write_iv: [7; 12],
        server_write_iv: [8; 12],
    };
    mote.set_resumption_slots(2);
    let mut resumable = body(SessionKeys::Ccm8(b16), 1);
    resumable.resumption = Resumption::new(&[9; 16], [0x11; 48], true, 600);
    mote.install_session(Instant::ZERO, &resumable);
    mote.install_session(Instant::ZERO, &body(SessionKeys::ChaCha20Poly1305(b32), 2));
    let mut now = 0u64;
    let mut rest = data;
    let mut buf = [0u8; 600];
    while let [selector, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        match selector % 6 {
            0 => {
                mote.handle_datagram(
                    Instant::from_millis(now),
                    LocalPort::Session,
                    &client(1),
                    bytes,
                );
            }
            1 => {
                mote.handle_datagram(
                    Instant::from_millis(now),
                    LocalPort::Session,
                    &client(2),
                    bytes,
                );
            }
            2 => {
                mote.handle_datagram(
                    Instant::from_millis(now),
                    LocalPort::Session,
                    &client(3),
                    bytes,
                );
            }
            3 => {
                mote.handle_datagram(
                    Instant::from_millis(now),
                    LocalPort::Association,
                    &SSP,
                    bytes,
                );
            }
            4 => {
                now += u64::from(*len) * 10_000;
                mote.handle_timeout(Instant::from_millis(now));
            }
            _ => {
                let _ = mote.send(&client(1 + u16::from(*len % 2)), bytes);
            }
        }
        // Forged datagrams cannot carry application data in (2^-64 per AEAD tag aside).
        assert!(mote.recv(&mut buf).is_none());
        while mote.poll_transmit(&mut buf).is_some() {}
        assert!(mote.sessions().len() <= 2);
    }
});
