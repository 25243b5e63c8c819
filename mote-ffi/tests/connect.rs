//! Outbound delegation through the C API, in process: a mote set up with `mote_init` asks
//! its IoTSSP (the Rust `SspAssoc`) for a session with a server (`mote_connect`); the
//! IoTSSP transfers a session in which the mote is the client, which the mote then holds
//! (`mote_is_client_of`); a refused Connect comes back as `MOTE_EVENT_CONNECT_FAILED`.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

use mote_assoc::crypto::{Random, SoftAes, SoftEcdh};
use mote_assoc::keys::Credentials;
use mote_assoc::wire::{ConnectFailure, KeyBlock, SessionKeys, TransferBody};
use mote_assoc::{MAX_DATAGRAM_LEN, SspAssoc, SspEvent};
use mote_ffi::*;

const PSK: [u8; 16] = *b"mote-ffi-connect";
const EUI64: [u8; 8] = [0x02, 0x12, 0x4b, 0, 0, 0, 0, 0x43];
const IOTSSP: MoteEndpoint = MoteEndpoint {
    addr: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    port: 5690,
};
const SERVER: MoteEndpoint = MoteEndpoint {
    addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    port: 5684,
};

static NOW_MS: AtomicU64 = AtomicU64::new(1000);

unsafe extern "C" fn now_ms(_: *mut c_void) -> u64 {
    NOW_MS.load(Ordering::Relaxed)
}

unsafe extern "C" fn random(_: *mut c_void, buf: *mut u8, len: usize) {
    // SAFETY: the library passes `len` writable bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    Rng(0xc0ffee ^ len as u64).fill(buf);
}

struct Rng(u64);
impl Random for Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
}

fn now() -> mote_assoc::Instant {
    mote_assoc::Instant::from_millis(NOW_MS.load(Ordering::Relaxed))
}

/// Moves datagrams between the mote and the IoTSSP until neither has one to send;
/// returns the mote's events and the IoTSSP's.
fn exchange(
    mote: &mut Mote,
    ssp: &mut SspAssoc<SoftAes, SoftEcdh, Rng>,
) -> (Vec<i32>, Vec<SspEvent>) {
    let (mut mote_events, mut ssp_events) = (Vec::new(), Vec::new());
    loop {
        let mut moved = false;
        let mut buf = [0u8; MOTE_MAX_DATAGRAM];
        let mut to = MoteEndpoint {
            addr: [0; 16],
            port: 0,
        };
        let mut local = 0u8;
        loop {
            // SAFETY: valid pointers and the buffer's length.
            let n = unsafe {
                mote_poll_transmit(mote, buf.as_mut_ptr(), buf.len(), &mut to, &mut local)
            };
            if n <= 0 {
                break;
            }
            assert_eq!(
                (to.addr, to.port, local),
                (IOTSSP.addr, IOTSSP.port, MOTE_LOCAL_ASSOCIATION)
            );
            ssp_events.extend(ssp.handle_datagram(now(), &buf[..n as usize]));
            moved = true;
        }
        let mut out = [0u8; MAX_DATAGRAM_LEN];
        while let Some(n) = ssp.poll_transmit(&mut out) {
            // SAFETY: valid pointers and the datagram's length.
            let ev = unsafe {
                mote_handle_datagram(mote, MOTE_LOCAL_ASSOCIATION, &IOTSSP, out.as_ptr(), n)
            };
            assert!(ev >= 0, "mote_handle_datagram: {ev}");
            if ev != MOTE_EVENT_NONE {
                mote_events.push(ev);
            }
            moved = true;
        }
        if !moved {
            return (mote_events, ssp_events);
        }
    }
}

fn counters(mote: &mut Mote) -> MoteCounters {
    let mut c = MoteCounters::default();
    // SAFETY: valid pointers.
    assert_eq!(unsafe { mote_counters(mote, &mut c) }, MOTE_OK);
    c
}

#[test]
fn mote_connect_gets_a_client_session_or_a_refusal() {
    let mut mote = Box::new(Mote {
        opaque: [0; MOTE_STORAGE_WORDS],
    });
    let platform = MotePlatform {
        ctx: std::ptr::null_mut(),
        aes128_encrypt: Some(mote_soft_aes128_encrypt),
        random: Some(random),
        now_ms: Some(now_ms),
        p256_generate: Some(mote_soft_p256_generate),
        p256_agree: Some(mote_soft_p256_agree),
        ecdsa_sign: None,
    };
    let config = MoteConfig {
        psk: PSK.as_ptr(),
        psk_len: PSK.len(),
        eui64: EUI64,
        has_iotssp: 1,
        iotssp: IOTSSP,
        suites: 0,
        session_idle_ms: 0,
    };
    // SAFETY: valid pointers; the PSK outlives the call.
    assert_eq!(
        unsafe { mote_init(&mut *mote, &platform, &config) },
        MOTE_OK
    );
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { mote_connect(&mut *mote, &SERVER) },
        MOTE_ERR_NOT_ASSOCIATED
    );

    let creds = Credentials::new::<SoftAes>(&PSK, EUI64).unwrap();
    let mut ssp = SspAssoc::new(creds, SoftEcdh, Rng(0x5eed));
    // SAFETY: a set-up mote.
    unsafe { mote_handle_timeout(&mut *mote) };
    let (mote_events, ssp_events) = exchange(&mut mote, &mut ssp);
    assert_eq!(mote_events, [MOTE_EVENT_ASSOCIATED]);
    assert!(
        matches!(ssp_events[..], [SspEvent::Associated { .. }]),
        "{ssp_events:?}"
    );

    // SAFETY: valid pointers.
    assert_eq!(unsafe { mote_connect(&mut *mote, &SERVER) }, MOTE_OK);
    assert_eq!(unsafe { mote_connect(&mut *mote, &SERVER) }, MOTE_ERR_BUSY);
    assert_eq!(unsafe { mote_is_client_of(&mut *mote, &SERVER) }, 0);
    let (_, ssp_events) = exchange(&mut mote, &mut ssp);
    let [
        SspEvent::ConnectRequested {
            server_addr,
            server_port,
            ..
        },
    ] = ssp_events[..]
    else {
        panic!("no Connect at the IoTSSP: {ssp_events:?}");
    };
    assert_eq!((server_addr, server_port), (SERVER.addr, SERVER.port));

    // The IoTSSP ran the client handshake with the server: the session's keys (made up).
    let block = KeyBlock::<16, 4> {
        client_write_key: *b"client-write-key",
        server_write_key: *b"server-write-key",
        client_write_iv: *b"civ!",
        server_write_iv: *b"siv!",
    };
    let body = TransferBody {
        keys: SessionKeys::Ccm8(block),
        may_evict: false,
        client_addr: SERVER.addr,
        client_port: SERVER.port,
        sequence: None,
        mote_is_client: true,
        resumption: None,
    };
    ssp.start_transfer(now(), body).unwrap();
    let (mote_events, ssp_events) = exchange(&mut mote, &mut ssp);
    assert_eq!(mote_events, [MOTE_EVENT_SESSION_INSTALLED]);
    assert!(
        matches!(ssp_events[..], [SspEvent::Confirmed { .. }]),
        "{ssp_events:?}"
    );
    // SAFETY: valid pointers.
    assert_eq!(unsafe { mote_is_client_of(&mut *mote, &SERVER) }, 1);
    let c = counters(&mut mote);
    assert_eq!(
        (c.connects_started, c.connects_completed, c.connects_failed),
        (1, 1, 0)
    );

    // A Connect the IoTSSP's policy does not allow.
    let other = MoteEndpoint {
        port: 5685,
        ..SERVER
    };
    // SAFETY: valid pointers.
    assert_eq!(unsafe { mote_connect(&mut *mote, &other) }, MOTE_OK);
    let (_, ssp_events) = exchange(&mut mote, &mut ssp);
    let [SspEvent::ConnectRequested { r, .. }] = ssp_events[..] else {
        panic!("no Connect at the IoTSSP: {ssp_events:?}");
    };
    ssp.refuse_connect(r, ConnectFailure::NotPermitted);
    let (mote_events, _) = exchange(&mut mote, &mut ssp);
    assert_eq!(mote_events, [MOTE_EVENT_CONNECT_FAILED]);
    // SAFETY: valid pointers.
    assert_eq!(unsafe { mote_is_client_of(&mut *mote, &other) }, 0);
    let c = counters(&mut mote);
    assert_eq!(
        (c.connects_started, c.connects_completed, c.connects_failed),
        (2, 1, 1)
    );
    // SAFETY: the mote is ours.
    unsafe { mote_deinit(&mut *mote) };
}
