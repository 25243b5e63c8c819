//! The mote against the `dtls` engine's record layer (the client's side of a session the
//! IoTSSP negotiated) and against the IoTSSP's association machine, in process.

use std::prelude::rust_2024::*;

use core::time::Duration;

use dtls::record::{ContentType as DtlsContentType, RecordAead, records as dtls_records};
use dtls::{RecordLayer, Role, SessionKeys as DtlsKeys, SessionState};
use mote_assoc::crypto::{SoftAes, SoftEcdh};
use mote_assoc::wire::{KeyBlock, SequenceNumbers, SessionKeys, TransferBody};
use mote_assoc::{SspAssoc, SspEvent};
use proptest::prelude::*;

use super::*;

#[derive(Clone)]
pub(crate) struct TestRng(pub u64);

impl Random for TestRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
}

type Mote = DelegatedMote<SoftAes, SoftEcdh, TestRng, 2, 1024>;

const PSK: [u8; 16] = *b"0123456789abcdef";
const MOTE_ID: [u8; 8] = [2, 0, 0, 0, 0, 0, 0, 7];
const SSP: Address = Address {
    addr: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    port: 5686,
};

fn client_at(port: u16) -> Address {
    Address {
        addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
        port,
    }
}

fn creds() -> Credentials {
    Credentials::new::<SoftAes>(&PSK, MOTE_ID).unwrap()
}

fn mote() -> Mote {
    let config = Config {
        iotssp: Some(SSP),
        suites: Config::ALL_SUITES,
        slots: 2,
        session_idle: Duration::from_secs(300),
        session_evict_after: Config::DEFAULT_SESSION_EVICT_AFTER,
    };
    DelegatedMote::new(config, creds(), SoftEcdh, TestRng(7))
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// Distinct key bytes per suite and seed.
fn body(suite: Suite, port: u16, seed: u8, may_evict: bool) -> TransferBody {
    let b16 = || KeyBlock::<16, 4> {
        client_write_key: [seed; 16],
        server_write_key: [seed ^ 0x55; 16],
        client_write_iv: [seed ^ 0x0f; 4],
        server_write_iv: [seed ^ 0xf0; 4],
    };
    let keys = match suite {
        Suite::Ccm8 => SessionKeys::Ccm8(b16()),
        Suite::Ccm => SessionKeys::Ccm(b16()),
        Suite::Gcm => SessionKeys::Gcm(b16()),
        Suite::ChaCha20Poly1305 => SessionKeys::ChaCha20Poly1305(KeyBlock {
            client_write_key: [seed; 32],
            server_write_key: [seed ^ 0x55; 32],
            client_write_iv: [seed ^ 0x0f; 12],
            server_write_iv: [seed ^ 0xf0; 12],
        }),
    };
    TransferBody {
        keys,
        may_evict,
        client_addr: client_at(port).addr,
        client_port: port,
        sequence: Some(SequenceNumbers {
            highest_received: 3,
            next_write: 5,
        }),
        mote_is_client: false,
        resumption: None,
    }
}

/// The client's record layer for the session `body` carries: it wrote up to 3 and read the
/// server's records up to 4.
fn dtls_client(body: &TransferBody) -> RecordLayer {
    let (aead, ck, sk, ci, si): (_, &[u8], &[u8], &[u8], &[u8]) = match &body.keys {
        SessionKeys::Ccm8(b) => (
            RecordAead::Aes128Ccm8,
            &b.client_write_key,
            &b.server_write_key,
            &b.client_write_iv,
            &b.server_write_iv,
        ),
        SessionKeys::Ccm(b) => (
            RecordAead::Aes128Ccm,
            &b.client_write_key,
            &b.server_write_key,
            &b.client_write_iv,
            &b.server_write_iv,
        ),
        SessionKeys::Gcm(b) => (
            RecordAead::Aes128Gcm,
            &b.client_write_key,
            &b.server_write_key,
            &b.client_write_iv,
            &b.server_write_iv,
        ),
        SessionKeys::ChaCha20Poly1305(b) => (
            RecordAead::Chacha20Poly1305,
            &b.client_write_key,
            &b.server_write_key,
            &b.client_write_iv,
            &b.server_write_iv,
        ),
    };
    RecordLayer::from_session(&SessionState {
        role: Role::Client,
        keys: DtlsKeys::new(aead, ck, sk, ci, si).unwrap(),
        read_epoch: 1,
        read_highest_seq: Some(4),
        read_replay_bitmap: 1,
        write_epoch: 1,
        next_write_seq: 4,
    })
    .unwrap()
}

fn seal(client: &mut RecordLayer, ct: DtlsContentType, data: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    client.write_record(1, ct, data, &mut d).unwrap();
    d
}

/// Every datagram the mote sends now.
fn transmits(mote: &mut Mote) -> Vec<(Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Some(t) = mote.poll_transmit(&mut buf) {
        out.push((t, buf[..t.len].to_vec()));
    }
    out
}

/// Opens every record of `datagram` with the client's layer: (content type, plaintext).
fn client_open(client: &mut RecordLayer, datagram: &[u8]) -> Vec<(DtlsContentType, Vec<u8>)> {
    dtls_records(datagram)
        .map(|r| {
            let o = client
                .open(&r.unwrap())
                .unwrap()
                .expect("a record of the current epoch");
            (o.content_type, o.plaintext)
        })
        .collect()
}

fn install(mote: &mut Mote, now: Instant, body: &TransferBody) -> mote_assoc::Installation {
    mote.install_session(now, body)
}

#[test]
fn every_suite_interoperates_with_the_dtls_record_layer() {
    for suite in Suite::ALL {
        let mut mote = mote();
        let b = body(suite, 40000, suite.code() + 1, false);
        assert_eq!(
            install(&mut mote, at(0), &b),
            mote_assoc::Installation::Installed
        );
        let mut client = dtls_client(&b);
        let peer = client_at(40000);

        let d = seal(&mut client, DtlsContentType::ApplicationData, b"hello mote");
        assert_eq!(
            mote.handle_datagram(at(1), LocalPort::Session, &peer, &d),
            None
        );
        let mut buf = [0u8; 64];
        let r = mote.recv(&mut buf).expect("application data");
        assert_eq!(
            (r.from, &buf[..r.len]),
            (peer, &b"hello mote"[..]),
            "{suite:?}"
        );
        assert!(mote.recv(&mut buf).is_none());

        mote.send(&peer, b"hello client").unwrap();
        let out = transmits(&mut mote);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].0.local, out[0].0.remote),
            (LocalPort::Session, peer)
        );
        let rec = dtls_records(&out[0].1).next().unwrap().unwrap();
        assert_eq!(
            rec.sequence_number(),
            5,
            "continues the IoTSSP's write sequence"
        );
        assert_eq!(
            client_open(&mut client, &out[0].1),
            vec![(DtlsContentType::ApplicationData, b"hello client".to_vec())],
            "{suite:?}"
        );

        // A replay, a tampered record and one of the handshake's epoch go nowhere.
        mote.handle_datagram(at(2), LocalPort::Session, &peer, &d);
        let mut bad = seal(&mut client, DtlsContentType::ApplicationData, b"x");
        *bad.last_mut().unwrap() ^= 1;
        mote.handle_datagram(at(2), LocalPort::Session, &peer, &bad);
        let mut epoch0 = Vec::new();
        let mut plain = RecordLayer::new(Role::Client);
        plain
            .write_record(0, DtlsContentType::Handshake, b"hs", &mut epoch0)
            .unwrap();
        mote.handle_datagram(at(2), LocalPort::Session, &peer, &epoch0);
        assert!(mote.recv(&mut buf).is_none());
        let s = mote.session_stats();
        assert_eq!(
            (s.replayed, s.decrypt_failed, s.unknown_epoch),
            (1, 1, 1),
            "{suite:?}"
        );

        // The client's close_notify is answered in kind and frees the slot.
        let close = seal(&mut client, DtlsContentType::Alert, &[1, 0]);
        mote.handle_datagram(at(3), LocalPort::Session, &peer, &close);
        let out = transmits(&mut mote);
        assert_eq!(
            client_open(&mut client, &out[0].1),
            vec![(DtlsContentType::Alert, vec![1, 0])]
        );
        assert!(mote.sessions().is_empty());
        assert_eq!(mote.session_stats().closed, 1);
        assert_eq!(mote.send(&peer, b"late"), Err(SendError::NoSession));
    }
}

#[test]
fn several_records_in_one_datagram_are_all_read() {
    let mut mote = mote();
    let b = body(Suite::Ccm8, 40000, 1, false);
    install(&mut mote, at(0), &b);
    let mut client = dtls_client(&b);
    let mut d = seal(&mut client, DtlsContentType::ApplicationData, b"one");
    d.extend(seal(&mut client, DtlsContentType::ApplicationData, b"two"));
    mote.handle_datagram(at(1), LocalPort::Session, &client_at(40000), &d);
    let mut buf = [0u8; 8];
    let got: Vec<Vec<u8>> =
        core::iter::from_fn(|| mote.recv(&mut buf).map(|r| buf[..r.len].to_vec())).collect();
    assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn a_fatal_alert_frees_the_slot_and_a_warning_does_not() {
    let mut mote = mote();
    let b = body(Suite::Gcm, 40000, 1, false);
    install(&mut mote, at(0), &b);
    let mut client = dtls_client(&b);
    let peer = client_at(40000);
    mote.handle_datagram(
        at(1),
        LocalPort::Session,
        &peer,
        &seal(&mut client, DtlsContentType::Alert, &[1, 90]),
    );
    assert!(mote.sessions().contains(&peer));
    mote.handle_datagram(
        at(1),
        LocalPort::Session,
        &peer,
        &seal(&mut client, DtlsContentType::Alert, &[2, 20]),
    );
    assert!(!mote.sessions().contains(&peer));
    assert!(
        transmits(&mut mote).is_empty(),
        "no answer to a fatal alert"
    );
}

/// Sends application data from the client of `body` at `now`: the session is in use.
fn use_session(mote: &mut Mote, now: Instant, client: &mut RecordLayer, port: u16) {
    let d = seal(client, DtlsContentType::ApplicationData, b"GET");
    mote.handle_datagram(now, LocalPort::Session, &client_at(port), &d);
    let mut buf = [0u8; 16];
    assert!(mote.recv(&mut buf).is_some(), "the record was read");
}

const EVICT_AFTER: u64 = 30_000;
const IDLE: u64 = 300_000;

#[test]
fn slots_fill_idle_sessions_yield_and_expire() {
    let mut mote = mote();
    assert_eq!(
        mote.sessions().evict_after(),
        Duration::from_millis(EVICT_AFTER)
    );
    assert_eq!(
        install(&mut mote, at(0), &body(Suite::Ccm8, 1, 1, false)),
        mote_assoc::Installation::Installed
    );
    assert_eq!(
        install(&mut mote, at(10), &body(Suite::Ccm8, 2, 2, false)),
        mote_assoc::Installation::Installed
    );
    assert_eq!(
        install(&mut mote, at(20), &body(Suite::Ccm8, 3, 3, false)),
        mote_assoc::Installation::Full
    );
    // Once both are idle, a transfer that may evict takes the least recently used's slot.
    assert_eq!(mote.sessions().free_for_new(at(10 + EVICT_AFTER)), 2);
    assert_eq!(
        install(
            &mut mote,
            at(10 + EVICT_AFTER),
            &body(Suite::Ccm8, 3, 3, true)
        ),
        mote_assoc::Installation::Installed
    );
    assert_eq!(mote.session_stats().evicted, 1);
    assert!(
        !mote.sessions().contains(&client_at(1)),
        "the least recently used went"
    );
    // Idle sessions expire at the idle time.
    assert_eq!(mote.sessions().next_expiry(), Some(at(10 + IDLE)));
    mote.handle_timeout(at(10 + IDLE));
    assert_eq!(mote.sessions().len(), 1);
    assert_eq!(mote.session_stats().expired, 1);
}

/// A full mote whose sessions are in use refuses a new transfer, even one that may evict:
/// a client that just authenticated never pushes out one that is talking.
#[test]
fn a_session_in_use_never_gives_way() {
    let mut mote = mote();
    let (b1, b2) = (body(Suite::Gcm, 1, 1, true), body(Suite::Gcm, 2, 2, true));
    install(&mut mote, at(0), &b1);
    install(&mut mote, at(0), &b2);
    let (mut c1, mut c2) = (dtls_client(&b1), dtls_client(&b2));
    // Both clients keep talking, each more often than the eviction time.
    let mut t = 0;
    while t < 2 * IDLE {
        t += EVICT_AFTER - 1;
        use_session(&mut mote, at(t), &mut c1, 1);
        use_session(&mut mote, at(t), &mut c2, 2);
        assert_eq!(mote.sessions().free_for_new(at(t + 1)), 0);
        assert_eq!(
            install(&mut mote, at(t + 1), &body(Suite::Gcm, 3, 3, true)),
            mote_assoc::Installation::Full,
            "at {t} ms"
        );
    }
    let s = mote.session_stats();
    assert_eq!((s.evicted, s.expired), (0, 0));
    assert!(s.refused_full > 0);
    assert!(mote.sessions().contains(&client_at(1)) && mote.sessions().contains(&client_at(2)));
}

/// With one session in use and one idle, a new transfer takes the idle one's slot, however
/// recently the idle one was installed compared with the one in use.
#[test]
fn only_an_idle_session_gives_way() {
    let mut mote = mote();
    let (b1, b2) = (body(Suite::Ccm, 1, 1, true), body(Suite::Ccm, 2, 2, true));
    install(&mut mote, at(0), &b1);
    install(&mut mote, at(1_000), &b2);
    let mut c1 = dtls_client(&b1);
    use_session(&mut mote, at(EVICT_AFTER), &mut c1, 1);
    // Client 2 is quiet but not yet idle.
    assert_eq!(
        install(&mut mote, at(EVICT_AFTER), &body(Suite::Ccm, 3, 3, true)),
        mote_assoc::Installation::Full
    );
    assert_eq!(mote.sessions().free_for_new(at(1_000 + EVICT_AFTER)), 1);
    assert_eq!(
        install(
            &mut mote,
            at(1_000 + EVICT_AFTER),
            &body(Suite::Ccm, 3, 3, true)
        ),
        mote_assoc::Installation::Installed
    );
    assert!(mote.sessions().contains(&client_at(1)), "in use: kept");
    assert!(!mote.sessions().contains(&client_at(2)), "idle: gave way");
    let s = mote.session_stats();
    assert_eq!((s.evicted, s.refused_full), (1, 1));
}

/// The eviction time comes from the mote's configuration, and never exceeds the idle time.
#[test]
fn the_eviction_time_is_configured_per_mote() {
    let config = |evict_secs, idle_secs| Config {
        iotssp: Some(SSP),
        suites: Config::ALL_SUITES,
        slots: 1,
        session_idle: Duration::from_secs(idle_secs),
        session_evict_after: Duration::from_secs(evict_secs),
    };
    let mut mote: Mote = DelegatedMote::new(config(5, 60), creds(), SoftEcdh, TestRng(7));
    install(&mut mote, at(0), &body(Suite::Ccm8, 1, 1, true));
    assert_eq!(
        install(&mut mote, at(4_999), &body(Suite::Ccm8, 2, 2, true)),
        mote_assoc::Installation::Full
    );
    assert_eq!(
        install(&mut mote, at(5_000), &body(Suite::Ccm8, 2, 2, true)),
        mote_assoc::Installation::Installed
    );
    let mote: Mote = DelegatedMote::new(config(600, 60), creds(), SoftEcdh, TestRng(7));
    assert_eq!(mote.sessions().evict_after(), Duration::from_secs(60));
}

/// A client that comes back from the same address and port replaces its own session, full
/// mote or not.
#[test]
fn the_same_client_replaces_its_session_in_a_full_mote() {
    let mut mote = mote();
    install(&mut mote, at(0), &body(Suite::Ccm8, 1, 1, false));
    install(&mut mote, at(0), &body(Suite::Ccm8, 2, 2, false));
    assert_eq!(
        install(&mut mote, at(10), &body(Suite::Ccm8, 2, 9, false)),
        mote_assoc::Installation::Installed
    );
    let s = mote.session_stats();
    assert_eq!((s.replaced, s.evicted, s.refused_full), (1, 0, 0));
}

/// Through the association: a full mote with every session in use answers the Transfer
/// with Confirm(full), so the IoTSSP can send its client an alert at once; its Confirms
/// tell the IoTSSP how many slots a new transfer could take.
#[test]
fn a_full_mote_refuses_the_transfer_and_the_iotssp_learns_it() {
    let mut mote = mote();
    let mut ssp = SspAssoc::new(creds(), SoftEcdh, TestRng(99));
    mote.handle_timeout(at(0));
    pump(at(0), &mut mote, &mut ssp);
    let b1 = body(Suite::Ccm8, 1, 1, true);
    ssp.start_transfer(at(1), b1.clone()).unwrap();
    let events = pump(at(1), &mut mote, &mut ssp);
    assert!(
        matches!(events[..], [SspEvent::Confirmed { free_slots: 1, .. }]),
        "{events:?}"
    );
    ssp.start_transfer(at(2), body(Suite::Ccm8, 2, 2, true))
        .unwrap();
    let events = pump(at(2), &mut mote, &mut ssp);
    assert!(
        matches!(events[..], [SspEvent::Confirmed { free_slots: 0, .. }]),
        "{events:?}"
    );
    assert_eq!(ssp.association().map(|a| a.free_slots), Some(0));

    let mut c1 = dtls_client(&b1);
    use_session(&mut mote, at(20_000), &mut c1, 1);
    // At 25 s neither session is idle: refused, and the mote keeps both.
    ssp.start_transfer(at(25_000), body(Suite::Ccm8, 3, 3, true))
        .unwrap();
    let events = pump(at(25_000), &mut mote, &mut ssp);
    assert!(
        matches!(
            events[..],
            [SspEvent::TransferFailed(
                mote_assoc::TransferFailure::Refused {
                    status: ConfirmStatus::Full,
                    free_slots: 0,
                    ..
                }
            )]
        ),
        "{events:?}"
    );
    assert_eq!(mote.sessions().len(), 2);
    // At 31 s client 2 (quiet since its install at 2 ms) is idle and gives way.
    ssp.start_transfer(at(31_000), body(Suite::Ccm8, 3, 3, true))
        .unwrap();
    let events = pump(at(31_000), &mut mote, &mut ssp);
    assert!(
        matches!(events[..], [SspEvent::Confirmed { free_slots: 0, .. }]),
        "{events:?}"
    );
    assert!(mote.sessions().contains(&client_at(1)));
    assert!(mote.sessions().contains(&client_at(3)));
    assert_eq!(mote.session_stats().evicted, 1);
}

#[test]
fn unsupported_suites_are_refused() {
    let config = Config {
        iotssp: Some(SSP),
        suites: SuiteSet(0).with(Suite::Ccm8),
        slots: 2,
        session_idle: Duration::from_secs(300),
        session_evict_after: Config::DEFAULT_SESSION_EVICT_AFTER,
    };
    let mut mote: Mote = DelegatedMote::new(config, creds(), SoftEcdh, TestRng(1));
    assert_eq!(
        install(
            &mut mote,
            at(0),
            &body(Suite::ChaCha20Poly1305, 1, 1, false)
        ),
        mote_assoc::Installation::UnsupportedSuite
    );
}

#[test]
fn the_suites_reported_are_those_compiled_in() {
    let sessions: crate::Sessions<1> =
        crate::Sessions::new(Config::ALL_SUITES, Duration::from_secs(300), 1);
    assert_eq!(sessions.suites(), crate::protection::COMPILED_SUITES);
    let only_ccm8 = SuiteSet(0).with(Suite::Ccm8);
    let sessions: crate::Sessions<1> =
        crate::Sessions::new(SuiteSet(only_ccm8.0 | 0xf0), Duration::from_secs(300), 1);
    assert_eq!(sessions.suites(), only_ccm8);
}

#[test]
fn a_full_transmit_queue_refuses_without_spending_a_nonce_twice() {
    let mut mote: DelegatedMote<SoftAes, SoftEcdh, TestRng, 1, 128> = DelegatedMote::new(
        Config {
            iotssp: Some(SSP),
            suites: Config::ALL_SUITES,
            slots: 1,
            session_idle: Duration::from_secs(300),
            session_evict_after: Config::DEFAULT_SESSION_EVICT_AFTER,
        },
        creds(),
        SoftEcdh,
        TestRng(1),
    );
    let b = body(Suite::Ccm8, 40000, 1, false);
    mote.install_session(at(0), &b);
    let peer = client_at(40000);
    assert_eq!(mote.send(&peer, &[0; 200]), Err(SendError::QueueFull));
    mote.send(&peer, &[1; 40]).unwrap();
    assert_eq!(mote.send(&peer, &[2; 60]), Err(SendError::QueueFull));
    let mut client = dtls_client(&b);
    let mut buf = [0u8; 128];
    let t = mote.poll_transmit(&mut buf).unwrap();
    assert_eq!(
        client_open(&mut client, &buf[..t.len]),
        vec![(DtlsContentType::ApplicationData, vec![1; 40])]
    );
    mote.send(&peer, &[3; 60]).unwrap();
    let t = mote.poll_transmit(&mut buf).unwrap();
    assert_eq!(
        client_open(&mut client, &buf[..t.len]),
        vec![(DtlsContentType::ApplicationData, vec![3; 60])]
    );
}

/// Moves every datagram between the mote and the IoTSSP until both are quiet.
fn pump(
    now: Instant,
    mote: &mut Mote,
    ssp: &mut SspAssoc<SoftAes, SoftEcdh, TestRng>,
) -> Vec<SspEvent> {
    let mut events = Vec::new();
    for _ in 0..16 {
        let mut moved = false;
        for (t, d) in transmits(mote) {
            assert_eq!((t.local, t.remote), (LocalPort::Association, SSP));
            events.extend(ssp.handle_datagram(now, &d));
            moved = true;
        }
        let mut buf = [0u8; mote_assoc::MAX_DATAGRAM_LEN];
        while let Some(n) = ssp.poll_transmit(&mut buf) {
            mote.handle_datagram(now, LocalPort::Association, &SSP, &buf[..n]);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    events
}

#[test]
fn associates_takes_a_transfer_and_serves_the_session() {
    let mut mote = mote();
    let mut ssp = SspAssoc::new(creds(), SoftEcdh, TestRng(99));
    assert_eq!(mote.poll_timeout(), Some(at(0)));
    mote.handle_timeout(at(0));
    let events = pump(at(0), &mut mote, &mut ssp);
    assert!(
        matches!(
            events[..],
            [SspEvent::Associated {
                free_slots: 2,
                suites: SuiteSet(0b1111),
                ..
            }]
        ),
        "{events:?}"
    );
    assert!(mote.association().is_some());

    let b = body(Suite::ChaCha20Poly1305, 40000, 9, false);
    ssp.start_transfer(at(5), b.clone()).unwrap();
    let events = pump(at(5), &mut mote, &mut ssp);
    assert!(
        matches!(events[..], [SspEvent::Confirmed { free_slots: 1, .. }]),
        "{events:?}"
    );

    let mut client = dtls_client(&b);
    let peer = client_at(40000);
    mote.handle_datagram(
        at(6),
        LocalPort::Session,
        &peer,
        &seal(&mut client, DtlsContentType::ApplicationData, b"GET"),
    );
    let mut buf = [0u8; 16];
    let r = mote.recv(&mut buf).unwrap();
    assert_eq!(&buf[..r.len], b"GET");
    mote.send(&peer, b"2.05").unwrap();
    let out = transmits(&mut mote);
    assert_eq!(
        client_open(&mut client, &out[0].1),
        vec![(DtlsContentType::ApplicationData, b"2.05".to_vec())]
    );
}

#[test]
fn the_association_port_takes_only_the_iotssp() {
    let mut mote = mote();
    mote.handle_datagram(at(0), LocalPort::Association, &client_at(1), &[0; 40]);
    assert_eq!(mote.device_stats().not_from_iotssp, 1);
    assert_eq!(mote.association_stats().malformed, 0);
}

fn arbitrary_datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        // Well-formed record headers of the session's epoch with junk inside.
        (
            any::<u8>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..80)
        )
            .prop_map(|(ct, seq, body)| {
                let mut d = vec![20 + ct % 5, 0xfe, 0xfd, 0, 1];
                d.extend_from_slice(&(seq & 0xffff_ffff_ffff).to_be_bytes()[2..]);
                d.extend_from_slice(&(body.len() as u16).to_be_bytes());
                d.extend(body);
                d
            }),
    ]
}

proptest! {
    #[test]
    fn no_datagram_panics(
        inputs in proptest::collection::vec((any::<bool>(), 0u16..3, arbitrary_datagram(), 0u64..400_000), 1..24)
    ) {
        let mut mote = mote();
        let b = body(Suite::Ccm8, 1, 1, false);
        install(&mut mote, at(0), &b);
        let mut client = dtls_client(&b);
        let mut now = 0;
        let mut buf = [0u8; 1024];
        for (assoc, port, d, dt) in inputs {
            now += dt;
            let (local, from) = if assoc { (LocalPort::Association, SSP) } else { (LocalPort::Session, client_at(port)) };
            mote.handle_datagram(at(now), local, &from, &d);
            // And genuine traffic in between still works while the session lives.
            if mote.sessions().contains(&client_at(1)) {
                let g = seal(&mut client, DtlsContentType::ApplicationData, b"ok");
                mote.handle_datagram(at(now), LocalPort::Session, &client_at(1), &g);
                let _ = mote.send(&client_at(1), b"back");
            }
            while mote.recv(&mut buf).is_some() {}
            while mote.poll_transmit(&mut buf).is_some() {}
            mote.handle_timeout(at(now));
        }
    }
}

/// An outbound session (`mote_is_client`): the mote writes with the client's keys and reads
/// the server's, as the dtls engine's server role expects.
#[test]
fn a_client_session_talks_to_a_dtls_server() {
    let mut mote = mote();
    let mut b = body(Suite::Ccm8, 5684, 9, false);
    b.mote_is_client = true;
    assert_eq!(
        install(&mut mote, at(0), &b),
        mote_assoc::Installation::Installed
    );
    let SessionKeys::Ccm8(k) = &b.keys else {
        unreachable!()
    };
    let mut server = RecordLayer::from_session(&SessionState {
        role: Role::Server,
        keys: DtlsKeys::new(
            RecordAead::Aes128Ccm8,
            &k.client_write_key,
            &k.server_write_key,
            &k.client_write_iv,
            &k.server_write_iv,
        )
        .unwrap(),
        read_epoch: 1,
        read_highest_seq: Some(4),
        read_replay_bitmap: 1,
        write_epoch: 1,
        next_write_seq: 4,
    })
    .unwrap();
    let peer = client_at(5684);
    mote.send(&peer, b"GET /time").unwrap();
    let sent = transmits(&mut mote);
    assert_eq!(
        client_open(&mut server, &sent[0].1),
        vec![(DtlsContentType::ApplicationData, b"GET /time".to_vec())]
    );
    let d = seal(&mut server, DtlsContentType::ApplicationData, b"12:00");
    assert_eq!(
        mote.handle_datagram(at(1), LocalPort::Session, &peer, &d),
        None
    );
    let mut buf = [0u8; 64];
    let r = mote.recv(&mut buf).expect("application data");
    assert_eq!(&buf[..r.len], b"12:00");
}

/// Outbound delegation: the reporter asks for the session once associated, a refusal comes
/// back as ConnectFailed and the next Connect waits an interval; the transferred client
/// session makes a report due at once and then every interval.
#[test]
fn a_reporter_connects_retries_after_a_refusal_and_reports_every_interval() {
    let mut mote = mote();
    let mut ssp = SspAssoc::new(creds(), SoftEcdh, TestRng(99));
    let server = client_at(5684);
    let mut reporter = Reporter::new(server, Duration::from_secs(10));
    assert_eq!(
        reporter.handle_timeout(at(0), &mut mote),
        ReportAction::Idle
    );
    assert_eq!(reporter.poll_timeout(&mote), None, "not associated yet");
    mote.handle_timeout(at(0));
    pump(at(0), &mut mote, &mut ssp);
    assert!(mote.association().is_some());

    assert_eq!(reporter.poll_timeout(&mote), Some(at(0)));
    let ReportAction::Connecting(r) = reporter.handle_timeout(at(0), &mut mote) else {
        unreachable!("no Connect")
    };
    assert_eq!(
        reporter.handle_timeout(at(1), &mut mote),
        ReportAction::Idle
    );
    let mut events = Vec::new();
    for (_, d) in transmits(&mut mote) {
        events.extend(ssp.handle_datagram(at(1), &d));
    }
    assert_eq!(
        events,
        [SspEvent::ConnectRequested {
            r,
            server_addr: server.addr,
            server_port: 5684
        }]
    );
    ssp.refuse_connect(r, ConnectFailure::HandshakeFailed);
    let mut buf = [0u8; mote_assoc::MAX_DATAGRAM_LEN];
    let n = ssp.poll_transmit(&mut buf).unwrap();
    assert_eq!(
        mote.handle_datagram(at(2), LocalPort::Association, &SSP, &buf[..n]),
        Some(MoteEvent::ConnectFailed {
            r,
            reason: ConnectFailure::HandshakeFailed
        })
    );
    assert_eq!(
        reporter.handle_timeout(at(2), &mut mote),
        ReportAction::Idle
    );
    assert_eq!(reporter.poll_timeout(&mote), Some(at(10_000)));

    let ReportAction::Connecting(r2) = reporter.handle_timeout(at(10_000), &mut mote) else {
        unreachable!("no second Connect")
    };
    let events = pump(at(10_000), &mut mote, &mut ssp);
    assert!(
        matches!(events[..], [SspEvent::ConnectRequested { r, .. }] if r == r2),
        "{events:?}"
    );
    let mut b = body(Suite::Ccm8, 5684, 3, false);
    b.mote_is_client = true;
    ssp.start_transfer(at(10_100), b).unwrap();
    let events = pump(at(10_100), &mut mote, &mut ssp);
    assert!(
        matches!(events[..], [SspEvent::Confirmed { .. }]),
        "{events:?}"
    );
    assert!(mote.sessions().is_client_of(&server));
    assert_eq!(mote.pending_connect(), None);
    assert_eq!(reporter.poll_timeout(&mote), Some(Instant::ZERO));
    assert_eq!(
        reporter.handle_timeout(at(10_100), &mut mote),
        ReportAction::Report
    );
    assert_eq!(
        reporter.handle_timeout(at(15_000), &mut mote),
        ReportAction::Idle
    );
    assert_eq!(reporter.poll_timeout(&mote), Some(at(20_100)));
    assert_eq!(
        reporter.handle_timeout(at(20_100), &mut mote),
        ReportAction::Report
    );
    assert_eq!(mote.association_stats().connects_started, 2);
    assert_eq!(mote.association_stats().connects_failed, 1);
}

/// Outbound resumption first: a reporter whose mote lost its session but may resume it
/// starts the abbreviated handshake with the server itself (no Connect, no IoTSSP); a server
/// that does not answer makes the mote give the session up, and the next step is the
/// Connect to the IoTSSP at once.
#[cfg(feature = "resumption")]
#[test]
fn a_reporter_resumes_with_the_server_before_it_asks_the_iotssp() {
    let mut mote = mote();
    mote.set_resumption_slots(2);
    let mut ssp = SspAssoc::new(creds(), SoftEcdh, TestRng(99));
    mote.handle_timeout(at(0));
    pump(at(0), &mut mote, &mut ssp);
    assert!(mote.association().is_some());
    let server = client_at(5684);
    let mut session = body(Suite::Ccm8, 5684, 3, true);
    session.mote_is_client = true;
    session.resumption = mote_assoc::wire::Resumption::new(&[0x42; 16], [9; 48], true, 600);
    assert_eq!(
        mote.install_session(at(0), &session),
        mote_assoc::Installation::Installed
    );
    let mut reporter = Reporter::new(server, Duration::from_secs(10));
    assert_eq!(
        reporter.handle_timeout(at(0), &mut mote),
        ReportAction::Report
    );
    // The session ends; the mote still holds what resumes it.
    mote.close(&server).unwrap();
    transmits(&mut mote);
    assert!(mote.can_resume_outbound(at(1), &server));
    assert_eq!(
        reporter.handle_timeout(at(1), &mut mote),
        ReportAction::Resuming
    );
    let sent = transmits(&mut mote);
    assert_eq!(sent.len(), 1);
    let (t, hello) = &sent[0];
    assert_eq!((t.local, t.remote), (LocalPort::Session, server));
    // A ClientHello (epoch 0) naming the session.
    assert_eq!((hello[0], hello[13]), (22, 1));
    assert!(hello.windows(16).any(|w| w == [0x42; 16]));
    assert_eq!(
        reporter.handle_timeout(at(2), &mut mote),
        ReportAction::Idle
    );
    assert_eq!(mote.association_stats().connects_started, 0);

    // No answer: the hello three times more, then the mote gives the session up.
    let mut t = 2;
    while mote.can_resume_outbound(at(t), &server) && t < 60_000 {
        t = mote
            .poll_timeout()
            .map_or(t + 1000, |n| n.as_millis().max(t + 1));
        mote.handle_timeout(at(t));
    }
    assert!(!mote.can_resume_outbound(at(t), &server));
    assert_eq!(mote.outbound_resumption_stats().abandoned, 1);
    let ReportAction::Connecting(_) = reporter.handle_timeout(at(t), &mut mote) else {
        unreachable!("no Connect after the server did not resume")
    };
    assert_eq!(mote.association_stats().connects_started, 1);
}
