//! The mote's and the IoTSSP's association machines, associated over a lossless link, then
//! driven by `[selector][len][bytes]*` steps: datagrams to either side, time passing,
//! transfers started, the pair exchanging what they queued. Must never panic; nothing the
//! fuzzer writes may install a session (only transfers the IoTSSP started can), and the
//! mote's counter never goes back within an association.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_assoc::crypto::{Random, SoftAes, SoftEcdh};
use mote_assoc::keys::Credentials;
use mote_assoc::wire::{KeyBlock, SessionKeys, SuiteSet, TransferBody};
use mote_assoc::{Installation, Instant, MAX_DATAGRAM_LEN, MoteAssoc, SessionTable, SspAssoc};

#[derive(Clone)]
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

#[derive(Default)]
struct Sessions {
    installed: u64,
}
impl SessionTable for Sessions {
    fn free_slots(&self) -> u8 {
        4
    }
    fn suites(&self) -> SuiteSet {
        SuiteSet(0x0f)
    }
    fn install(&mut self, _: &TransferBody) -> Installation {
        self.installed += 1;
        Installation::Installed
    }
}

type Mote = MoteAssoc<SoftAes, SoftEcdh, Rng>;
type Ssp = SspAssoc<SoftAes, SoftEcdh, Rng>;

/// Moves every queued datagram both ways until neither side has anything to send.
fn exchange(now: Instant, mote: &mut Mote, ssp: &mut Ssp, sessions: &mut Sessions) {
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    for _ in 0..16 {
        let mut busy = false;
        while let Some(len) = mote.poll_transmit(&mut buf) {
            let _ = ssp.handle_datagram(now, &buf[..len]);
            busy = true;
        }
        while let Some(len) = ssp.poll_transmit(&mut buf) {
            let _ = mote.handle_datagram(now, &buf[..len], sessions);
            busy = true;
        }
        if !busy {
            break;
        }
    }
}

fn body(port: u16) -> TransferBody {
    TransferBody {
        keys: SessionKeys::Ccm8(KeyBlock {
            client_write_key: [1; 16],
            server_write_key: [2; 16],
            client_write_iv: [3; 4],
            server_write_iv: [4; 4],
        }),
        may_evict: true,
        client_addr: [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        client_port: port,
        sequence: None,
        mote_is_client: false,
        resumption: None,
    }
}

/// The pair once associated (four ECC operations), cloned for every input.
fn associated() -> &'static (Mote, Ssp) {
    static PAIR: std::sync::OnceLock<(Mote, Ssp)> = std::sync::OnceLock::new();
    PAIR.get_or_init(|| {
        let creds = Credentials::new::<SoftAes>(&[7; 16], [1; 8]).unwrap();
        let mut mote: Mote = MoteAssoc::new(creds.clone(), SoftEcdh, Rng(1));
        let mut ssp: Ssp = SspAssoc::new(creds, SoftEcdh, Rng(2));
        mote.handle_timeout(Instant::ZERO);
        exchange(Instant::ZERO, &mut mote, &mut ssp, &mut Sessions::default());
        assert!(mote.association().is_some() && ssp.association().is_some());
        (mote, ssp)
    })
}

fuzz_target!(|data: &[u8]| {
    let (mut mote, mut ssp) = associated().clone();
    let mut sessions = Sessions::default();
    let mut now = Instant::ZERO;
    let mut started = 0u64;
    let mut last = mote.association();
    let mut rest = data;
    while let [selector, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        match selector % 5 {
            0 => {
                let _ = mote.handle_datagram(now, bytes, &mut sessions);
            }
            1 => {
                let _ = ssp.handle_datagram(now, bytes);
            }
            2 => {
                now = now
                    + core::time::Duration::from_millis(
                        u64::from(*bytes.first().unwrap_or(&0)) * 100,
                    );
                mote.handle_timeout(now);
                let _ = ssp.handle_timeout(now);
            }
            3 => {
                if ssp.start_transfer(now, body(u16::from(len as u8))).is_ok() {
                    started += 1;
                }
            }
            _ => exchange(now, &mut mote, &mut ssp, &mut sessions),
        }
        let a = mote.association();
        if let (Some(before), Some(after)) = (last, a)
            && before.id == after.id
        {
            assert!(after.n >= before.n, "the mote's counter went back");
        }
        last = a;
        assert!(
            sessions.installed <= started,
            "a session the IoTSSP never sent was installed"
        );
        let _ = (
            mote.poll_timeout(),
            ssp.poll_timeout(),
            mote.stats(),
            ssp.stats(),
        );
    }
});
