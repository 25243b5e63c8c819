//! The delegated mote against an IoTSSP-side test client that behaves as ssp's HEM does
//! after the PSK handshake: it sends the TransferSession again (new record, same bytes) until
//! a confirmation comes, 2 s then doubling, and gives up 10 s after the first. The device is
//! driven directly (no radio) on a simulated clock, so datagrams can be lost one by one.

use super::*;
use crate::mote::secure::delegated::{DEFAULT_PSK_LINGER, DelegatedDevice};

/// The IoTSSP's first resend interval towards a mote (ssp `mote_retransmit_ms`).
const RESEND_INITIAL: Duration = Duration::from_secs(2);
/// The IoTSSP's confirmation deadline (ssp `confirm_timeout_ms`).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

fn mote_at(port: u16) -> SocketAddr {
    SocketAddr::new("fd00:aaaa::1".parse::<Ipv6Addr>().unwrap().into(), port)
}

type LoseFn = Box<dyn FnMut(&[u8]) -> bool>;

struct Bench {
    now: Instant,
    mote: DelegatedDevice,
    iotssp: Endpoint,
    iotssp_addr: SocketAddr,
    events: Vec<Event>,
    /// What the mote sent to anyone but the IoTSSP (the Internet clients).
    to_inet: Vec<Datagram>,
    /// Return true to lose a datagram from the mote to the IoTSSP.
    lose_to_iotssp: LoseFn,
}

impl Bench {
    fn new(slots: usize) -> Self {
        let DeviceSpec::Delegated(cfg) = delegated_spec(slots) else {
            unreachable!()
        };
        Bench {
            now: Instant::now(),
            mote: DelegatedDevice::new(
                &cfg,
                1,
                [0x02, 0x12, 0x4b, 0, 0, 0, 0, 1],
                Arc::new(dtls::provider::SeededRandom::from_u64(0, 1)),
            )
            .unwrap(),
            iotssp: Endpoint::new(None).unwrap(),
            iotssp_addr: "[fd00::5]:61616".parse().unwrap(),
            events: Vec::new(),
            to_inet: Vec::new(),
            lose_to_iotssp: Box::new(|_| false),
        }
    }

    fn pump(&mut self) {
        let iotssp = peer_of(self.iotssp_addr);
        loop {
            let mut moved = false;
            while let Some(t) = self.iotssp.poll_transmit() {
                moved = true;
                self.mote
                    .handle_datagram(self.now, t.destination.port(), iotssp, &t.contents);
            }
            while let Some(d) = self.mote.poll_transmit(self.now) {
                moved = true;
                if d.peer != iotssp {
                    self.to_inet.push(d);
                } else if !(self.lose_to_iotssp)(&d.payload) {
                    self.iotssp
                        .handle_datagram(self.now, mote_at(d.local_port), &d.payload);
                }
            }
            while let Some((_, e)) = self.iotssp.poll_event() {
                moved = true;
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs the clock up to `until`, firing timers as they fall due.
    fn advance_to(&mut self, until: Instant) {
        loop {
            self.pump();
            let next = min_deadline(self.iotssp.poll_timeout(), self.mote.poll_timeout());
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.iotssp.handle_timeout(self.now);
                    self.mote.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
        self.pump();
    }

    fn confirms(&self) -> Vec<TransferConfirmRepr> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ApplicationData(d) => match TransferMessage::parse(d) {
                    Ok(TransferMessage::Confirm(c)) => Some(c),
                    other => panic!("{other:?}"),
                },
                _ => None,
            })
            .collect()
    }

    /// PSK handshake with the ticket offer; the mote must accept.
    fn handshake(&mut self) {
        self.events.clear();
        self.iotssp
            .connect(
                self.now,
                mote_at(DEFAULT_TRANSFER_PORT),
                Arc::new(iotssp_client(b"iotssp-1", true)),
            )
            .unwrap();
        self.advance_to(self.now + Duration::from_secs(20));
        assert!(self.events.contains(&Event::HandshakeComplete));
        let accepted = self.events.iter().any(|e| {
            matches!(e, Event::ServerHelloExtensions(x)
                if SttAnswerRepr::find(x).and_then(Result::ok).map(|a| a.status) == Some(SttStatus::Accept))
        });
        assert!(accepted, "{:?}", self.events);
        self.events.clear();
    }

    fn send(&mut self, msg: &TransferSessionRepr) {
        self.iotssp
            .send_application_data(&mote_at(DEFAULT_TRANSFER_PORT), &msg.to_bytes())
            .unwrap();
        self.pump();
    }

    /// The IoTSSP's confirming stage: (the confirmation, TransferSessions sent).
    fn transfer_until_confirmed(
        &mut self,
        msg: &TransferSessionRepr,
    ) -> Option<(TransferConfirmRepr, u32)> {
        let deadline = self.now + CONFIRM_TIMEOUT;
        let mut interval = RESEND_INITIAL;
        let mut sent = 0;
        loop {
            self.send(msg);
            sent += 1;
            let resend_at = (self.now + interval).min(deadline);
            interval *= 2;
            while self.now < resend_at {
                let step = (self.now + Duration::from_millis(100)).min(resend_at);
                self.advance_to(step);
                if let Some(c) = self.confirms().first() {
                    return Some((*c, sent));
                }
            }
            if self.now >= deadline {
                return None;
            }
        }
    }

    /// An Internet client's GET on 5684, sealed with `layer`; the mote's answers to it,
    /// opened: (epoch, seq, plaintext).
    fn get(
        &mut self,
        from: SocketAddr,
        layer: &mut RecordLayer,
        mid: u16,
    ) -> Vec<(u16, u64, Vec<u8>)> {
        let req = seal(
            layer,
            ContentType::ApplicationData,
            &coap_get("/sensors/temp", mid),
        );
        let before = self.to_inet.len();
        self.mote
            .handle_datagram(self.now, COAPS_PORT, peer_of(from), &req);
        self.pump();
        let mut out = Vec::new();
        for d in &self.to_inet[before..] {
            assert_eq!((d.peer, d.local_port), (peer_of(from), COAPS_PORT));
            for r in records(&d.payload) {
                let r = r.unwrap();
                let o = layer.open(&r).unwrap().expect("a record of the session");
                out.push((r.epoch(), r.sequence_number(), o.plaintext));
            }
        }
        out
    }
}

/// The first application-data datagram from the mote to the IoTSSP is lost.
fn lose_first_confirm() -> LoseFn {
    let mut lost = false;
    Box::new(move |d| {
        if !lost && d.first() == Some(&23) {
            lost = true;
            return true;
        }
        false
    })
}

fn expected_confirm(msg: &TransferSessionRepr) -> TransferConfirmRepr {
    TransferConfirmRepr {
        transfer_id: msg.transfer_id,
        status: ConfirmStatus::Installed,
        key_check: key_check(&msg.keys, msg.transfer_id),
    }
}

#[test]
fn a_lost_confirm_is_answered_again_and_the_session_installed_once() {
    let mut b = Bench::new(2);
    b.handshake();
    b.lose_to_iotssp = lose_first_confirm();
    let inet = inet_client(0);
    let msg = transfer_message(inet, session_keys(1), 0x5eed_0001);
    let (confirm, sent) = b.transfer_until_confirmed(&msg).expect("confirmed");
    assert_eq!(
        sent, 2,
        "the first confirmation was lost, the resend answered"
    );
    assert_eq!(confirm, expected_confirm(&msg));
    assert!(confirm.confirms(&msg));
    assert_eq!(b.confirms().len(), 1);

    let c = b.mote.counters().clone();
    assert_eq!(
        (
            c.sessions_transferred,
            c.transfers_repeated,
            c.transfers_refused,
            c.sessions_evicted
        ),
        (1, 1, 0, 0),
        "{c:?}"
    );
    assert_eq!((c.ecc_operations, c.certificates_seen), (0, 0));
    assert_eq!(b.mote.sessions().len(), 1);
    assert_eq!(b.mote.psk_sessions(), 1, "kept until the IoTSSP closes it");

    // The session works, from the sequence number after the IoTSSP's Finished.
    let mut client = client_layer(session_keys(1));
    let got = b.get(inet, &mut client, 700);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0, got[0].1), (1, 1));
    assert_temperature(&got[0].2, 700);

    // A copy of the TransferSession that was late in the network: the same confirmation,
    // and the session is not installed again (its write sequence does not restart at 1,
    // which would reuse a nonce under the same key).
    b.events.clear();
    b.send(&msg);
    assert_eq!(b.confirms(), vec![expected_confirm(&msg)]);
    let got = b.get(inet, &mut client, 701);
    assert_eq!((got[0].0, got[0].1), (1, 2));
    let c = b.mote.counters();
    assert_eq!((c.sessions_transferred, c.transfers_repeated), (1, 2));
    assert_eq!(b.mote.sessions().len(), 1);
}

#[test]
fn without_any_confirm_the_iotssp_gives_up_and_nothing_is_installed_twice() {
    let mut b = Bench::new(2);
    b.handshake();
    b.lose_to_iotssp = Box::new(|d| d.first() == Some(&23));
    let msg = transfer_message(inet_client(0), session_keys(1), 77);
    assert!(b.transfer_until_confirmed(&msg).is_none());
    let c = b.mote.counters();
    // Sent at 0 s, 2 s and 6 s; the 10 s deadline comes before a fourth.
    assert_eq!(
        (c.sessions_transferred, c.transfers_repeated),
        (1, 2),
        "{c:?}"
    );
    assert_eq!(b.mote.sessions().len(), 1);
}

#[test]
fn the_psk_session_ends_on_the_iotssp_close_notify() {
    let mut b = Bench::new(2);
    b.handshake();
    let inet = inet_client(0);
    let msg = transfer_message(inet, session_keys(1), 5);
    let (confirm, sent) = b.transfer_until_confirmed(&msg).unwrap();
    assert_eq!((confirm.status, sent), (ConfirmStatus::Installed, 1));
    assert_eq!(b.mote.psk_sessions(), 1);
    assert!(b.mote.poll_timeout().is_some(), "the linger timer runs");

    b.iotssp.close(&mote_at(DEFAULT_TRANSFER_PORT));
    b.pump();
    assert_eq!(b.mote.psk_sessions(), 0, "keys gone with the session");
    assert_eq!(b.mote.poll_timeout(), None, "no linger timer left");
    let c = b.mote.counters();
    assert_eq!(
        (c.psk_sessions_closed, c.psk_sessions_expired),
        (1, 0),
        "{c:?}"
    );
    assert_eq!(c.sessions_closed, 0, "the transferred session lives on");

    let mut client = client_layer(session_keys(1));
    let got = b.get(inet, &mut client, 3);
    assert_eq!((got[0].0, got[0].1), (1, 1));
}

#[test]
fn the_psk_session_is_dropped_when_the_close_notify_never_comes() {
    let mut b = Bench::new(2);
    b.handshake();
    let msg = transfer_message(inet_client(0), session_keys(1), 6);
    b.transfer_until_confirmed(&msg).unwrap();
    // The linger time counts from the last TransferSession: a late copy 5 s on.
    b.advance_to(b.now + Duration::from_secs(5));
    b.events.clear();
    b.send(&msg);
    assert_eq!(b.confirms().len(), 1);
    let expiry = b.now + DEFAULT_PSK_LINGER;
    assert_eq!(b.mote.poll_timeout(), Some(expiry));

    b.advance_to(expiry - Duration::from_millis(1));
    assert_eq!(b.mote.psk_sessions(), 1);
    b.advance_to(expiry);
    assert_eq!(b.mote.psk_sessions(), 0);
    let c = b.mote.counters();
    assert_eq!(
        (c.psk_sessions_expired, c.psk_sessions_closed),
        (1, 0),
        "{c:?}"
    );
    assert!(
        b.events.contains(&Event::Closed(CloseReason::CloseNotify)),
        "the mote says so: {:?}",
        b.events
    );
    assert_eq!(b.mote.poll_timeout(), None);
    assert_eq!(
        b.mote.sessions().len(),
        1,
        "the transferred session is not affected"
    );
}

#[test]
fn one_psk_session_carries_one_transfer() {
    let mut b = Bench::new(2);
    b.handshake();
    let inet = inet_client(0);
    let msg = transfer_message(inet, session_keys(1), 10);
    b.transfer_until_confirmed(&msg).unwrap();
    // Another transfer id, and the same id with other keys: the ticket is spent.
    for other in [
        transfer_message(inet, session_keys(2), 11),
        transfer_message(inet, session_keys(2), 10),
    ] {
        b.events.clear();
        b.send(&other);
        let c = b.confirms();
        assert_eq!(
            (c[0].transfer_id, c[0].status),
            (other.transfer_id, ConfirmStatus::Busy)
        );
    }
    let c = b.mote.counters();
    assert_eq!(
        (
            c.sessions_transferred,
            c.transfers_repeated,
            c.transfers_refused
        ),
        (1, 0, 2)
    );
    // Still the first session's keys.
    let mut client = client_layer(session_keys(1));
    assert_eq!(b.get(inet, &mut client, 1).len(), 1);
}

#[test]
fn a_new_transfer_for_the_same_peer_replaces_the_session() {
    let mut b = Bench::new(2);
    b.handshake();
    let inet = inet_client(0);
    b.transfer_until_confirmed(&transfer_message(inet, session_keys(1), 20))
        .unwrap();
    // The IoTSSP's close_notify is lost; it starts a new delegation for the same client
    // (same address and port), from the same address: the association restarts.
    b.handshake();
    let msg = transfer_message(inet, session_keys(2), 21);
    let (confirm, _) = b.transfer_until_confirmed(&msg).unwrap();
    assert_eq!(confirm, expected_confirm(&msg));
    let c = b.mote.counters();
    assert_eq!((c.sessions_transferred, c.transfers_repeated), (2, 0));
    assert_eq!(b.mote.sessions().len(), 1);
    assert_eq!(b.mote.psk_sessions(), 1);

    let mut old = client_layer(session_keys(1));
    assert!(b.get(inet, &mut old, 1).is_empty(), "the old keys are gone");
    let mut new = client_layer(session_keys(2));
    let got = b.get(inet, &mut new, 2);
    assert_eq!((got[0].0, got[0].1), (1, 1));
    assert_eq!(b.mote.counters().dtls_drops.get("decrypt_failed"), Some(&1));
}
