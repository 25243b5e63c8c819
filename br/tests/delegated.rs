//! The delegated handshake end to end, with the real parts all the way: an unmodified dtls
//! ECDHE client with a client certificate (as OpenSSL would be) <-> the `BorderRouter` (the
//! HRM's per-record routing: application data to the mote, the rest diverted to the
//! attached IoTSSP) <-> `Iotssp` <-> motesim's delegated mote (PSK with its IoTSSP, takes
//! over the transferred session and serves CoAP over it), behind the emulated slip-radio
//! and channel.
//!
//! Deterministic: virtual time, no sockets, no sleeping (see `simnet`).

mod simnet;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use dtls::CloseReason;
use dtls::alert::AlertDescription;
use dtls::record::records;
use hrm::FlowState;
use lowpan::ieee802154;
use redirect::FlowTag;
use simnet::{Hop, MoteKind, Net, Setup, coap_roundtrip};

fn net_with(setup: Setup) -> (Net, usize) {
    let mut net = Net::new(setup);
    let c = net.add_client("client.pem", "client.key", 40000);
    (net, c)
}

fn rule(client: &str) -> Setup {
    Setup {
        rule_client: client.into(),
        ..Setup::default()
    }
}

fn transferred(net: &Net, flow: &FlowTag) -> bool {
    net.wiring().hrm().flow_state(flow) == Some(FlowState::Transferred)
}

/// The flow was given up by the IoTSSP (and so forgotten by the HRM), once.
fn abandoned_once(net: &Net, flow: &FlowTag) -> bool {
    net.wiring().counters().abandoned == 1 && net.wiring().hrm().flow_state(flow).is_none()
}

fn closed_with(net: &Net, i: usize) -> Option<CloseReason> {
    net.clients[i].closed_with()
}

#[test]
fn delegated_handshake_then_application_data_end_to_end() {
    let (mut net, c) = net_with(Setup::default());
    assert!(
        net.drive(Duration::from_secs(30), |n| n.client_complete(c)),
        "handshake completes"
    );
    assert_eq!(
        net.clients[c].conn.cipher_suite().map(|s| s.id()),
        Some(0xC0AE)
    );
    let flow = net.clients[c].flow;
    assert!(transferred(&net, &flow));
    // Let the retained flight expire, then exchange data with the mote directly.
    net.drive(Duration::from_secs(10), |_| false);
    assert!(
        coap_roundtrip(&mut net, c, 1),
        "answer from the mote's record layer"
    );
    assert!(
        coap_roundtrip(&mut net, c, 2),
        "answer from the mote's record layer"
    );
    let counters = net.iotssp().counters();
    assert_eq!(
        counters.app_data_records_received, 0,
        "no application data reached the IoTSSP"
    );
    assert_eq!(net.iotssp().keys_held(), 0);
    assert_eq!(
        net.iotssp().delegation_count(),
        0,
        "the retained final flight expired"
    );
    assert_eq!(counters.transfers_completed, 1);
    assert_eq!(counters.handshakes_completed, 1);
    assert_eq!(counters.cookies_sent, 1);
    let mote = net.mote();
    assert_eq!(mote.certificates_seen, 0, "the mote saw no certificate");
    assert_eq!(
        (mote.sessions_transferred, mote.transfers_repeated),
        (1, 0),
        "one TransferSession"
    );
    assert_eq!(
        mote.app_data_in,
        1 + 2,
        "the TransferSession and the two requests"
    );
    assert!(net.wiring().hrm().counters().records_to_mote >= 2);
    assert_eq!(net.wiring().counters().abandoned, 0);
}

#[test]
fn keys_are_gone_right_after_the_transfer() {
    let (mut net, c) = net_with(Setup::default());
    let flow = net.clients[c].flow;
    assert!(net.drive(Duration::from_secs(30), |n| transferred(n, &flow)));
    assert_eq!(
        net.iotssp().keys_held(),
        0,
        "only the sealed flight is retained"
    );
    assert_eq!(net.iotssp().delegation_count(), 1);
}

#[test]
fn spoofed_client_hello_without_cookie_creates_no_state_and_nothing_reaches_the_mote() {
    let (mut net, c) = net_with(Setup::default());
    // A spoofer never sees the HelloVerifyRequest: drop everything towards the client.
    net.lose = Box::new(|hop, _| matches!(hop, Hop::RouterToClient(_)));
    net.drive(Duration::from_secs(20), |_| false);
    let counters = net.iotssp().counters();
    assert!(
        counters.cookies_sent >= 2,
        "every hello answered statelessly: {counters:?}"
    );
    assert_eq!(counters.handshakes_started, 0);
    assert_eq!(net.iotssp().delegation_count(), 0);
    assert_eq!(
        net.wiring().counters().attached_to_mote,
        0,
        "zero datagrams to the mote"
    );
    assert!(!net.client_complete(c));
}

#[test]
fn unauthorized_client_gets_access_denied_and_the_mote_no_session() {
    let (mut net, c) = net_with(rule("cn:someone-else.example"));
    assert!(net.drive(Duration::from_secs(30), |n| closed_with(n, c).is_some()));
    assert_eq!(
        closed_with(&net, c),
        Some(CloseReason::PeerAlert(AlertDescription::AccessDenied))
    );
    assert_eq!(
        net.mote().sessions_transferred,
        0,
        "the mote got no TransferSession"
    );
    assert_eq!(net.iotssp().counters().failures("access_denied"), 1);
    assert_eq!(net.iotssp().am().denied, 1);
    assert!(abandoned_once(&net, &net.clients[c].flow));
    assert_eq!(net.iotssp().keys_held(), 0);
    assert_eq!(net.wiring().counters().transferred, 0);
}

#[test]
fn expired_client_certificate_gets_certificate_expired() {
    // The IoTSSP's calendar says 2047: every test certificate has expired.
    let year_2047 = SystemTime::UNIX_EPOCH + Duration::from_secs(2_446_416_000);
    let (mut net, c) = net_with(Setup {
        iotssp_calendar: Some(year_2047),
        ..Setup::default()
    });
    assert!(net.drive(Duration::from_secs(30), |n| closed_with(n, c).is_some()));
    assert_eq!(
        closed_with(&net, c),
        Some(CloseReason::PeerAlert(AlertDescription::CertificateExpired))
    );
    assert_eq!(
        net.iotssp().cam().rejections().get("cert_expired"),
        Some(&1)
    );
    assert_eq!(net.iotssp().counters().failures("cert_expired"), 1);
    assert_eq!(net.mote().sessions_transferred, 0);
    assert_eq!(net.iotssp().keys_held(), 0);
}

#[test]
fn client_from_an_unknown_ca_is_refused() {
    let mut net = Net::new(rule("*"));
    let c = net.add_client("rogue.pem", "rogue.key", 40000);
    assert!(net.drive(Duration::from_secs(30), |n| closed_with(n, c).is_some()));
    assert_eq!(
        closed_with(&net, c),
        Some(CloseReason::PeerAlert(AlertDescription::UnknownCa))
    );
    assert_eq!(
        net.iotssp().cam().rejections().get("cert_unknown_issuer"),
        Some(&1)
    );
    assert_eq!(net.mote().sessions_transferred, 0);
}

#[test]
fn silent_mote_means_a_fatal_alert_for_the_client_after_the_timeout() {
    let (mut net, c) = net_with(Setup {
        iotssp_extra: "[timers]\nmote_timeout_ms = 5000\n".into(),
        ..Setup::default()
    });
    // The mote never answers anything: nothing it sends reaches the border router.
    net.lose = Box::new(|hop, _| hop == Hop::RadioToRouter);
    assert!(net.drive(Duration::from_secs(60), |n| closed_with(n, c).is_some()));
    assert_eq!(
        closed_with(&net, c),
        Some(CloseReason::PeerAlert(AlertDescription::InternalError))
    );
    assert_eq!(
        net.iotssp().counters().failures("mote_timeout"),
        1,
        "{:?}",
        net.iotssp().counters()
    );
    assert!(abandoned_once(&net, &net.clients[c].flow));
    assert_eq!(net.mote().sessions_transferred, 0);
    assert_eq!(net.iotssp().keys_held(), 0);
}

#[test]
fn mote_that_ignores_the_ticket_gets_no_session() {
    let (mut net, c) = net_with(Setup {
        mote: MoteKind::KnowsNoTicket,
        ..Setup::default()
    });
    assert!(net.drive(Duration::from_secs(60), |n| closed_with(n, c).is_some()));
    assert_eq!(
        closed_with(&net, c),
        Some(CloseReason::PeerAlert(AlertDescription::InternalError))
    );
    assert_eq!(
        net.iotssp().counters().failures("mote_refused"),
        1,
        "{:?}",
        net.iotssp().counters()
    );
    assert_eq!(net.mote().sessions_transferred, 0);
    assert_eq!(net.iotssp().keys_held(), 0);
}

#[test]
fn concurrent_mote_legs_per_mote_are_capped_and_the_client_beyond_gets_an_alert() {
    let mut net = Net::new(Setup {
        iotssp_extra: "[limits]\nmax_per_mote = 1\n".into(),
        ..rule("*")
    });
    let a = net.add_client("client.pem", "client.key", 40000);
    let b = net.add_client("client2-chain.pem", "client2.key", 40001);
    // Both Internet handshakes run (they cost the mote nothing); once both are authorised,
    // one holds the mote's link and the other is beyond the cap of one: a clear alert.
    let mut max_links = 0;
    let ok = net.drive(Duration::from_secs(120), |n| {
        max_links = max_links.max(
            n.iotssp()
                .delegations()
                .filter(|d| d.holds_mote_link())
                .count(),
        );
        (n.client_complete(a) || closed_with(n, a).is_some())
            && (n.client_complete(b) || closed_with(n, b).is_some())
    });
    assert!(ok);
    assert_eq!(
        max_links, 1,
        "never more than one PSK handshake with the mote"
    );
    let done = [a, b].iter().filter(|&&c| net.client_complete(c)).count();
    let refused: Vec<_> = [a, b]
        .iter()
        .filter_map(|&c| closed_with(&net, c))
        .collect();
    assert_eq!(done + refused.len(), 2);
    assert!(done >= 1, "the first authorised client gets the mote");
    for r in &refused {
        assert_eq!(
            *r,
            CloseReason::PeerAlert(AlertDescription::InternalError),
            "never silence"
        );
    }
    assert_eq!(
        net.iotssp().counters().failures("mote_busy"),
        refused.len() as u64,
        "{:?}",
        net.iotssp().counters()
    );
    assert_eq!(net.iotssp().counters().transfers_completed, done as u64);
    assert_eq!(net.iotssp().keys_held(), 0);
}

/// The paper's flow: cookie'd ClientHellos that never present a certificate
/// (or give up, or send their own alert) start nothing at the mote: its PSK handshake waits
/// for an authenticated, authorised client. So they hold no cap, and a legitimate client
/// completes at once while they stall.
#[test]
fn cookied_hellos_without_a_certificate_cost_the_mote_nothing_psk_leg() {
    let mut net = Net::new(rule("cn:client.example"));
    let stalled: Vec<usize> = (0..4)
        .map(|i| net.add_client("client.pem", "client.key", 41000 + i))
        .collect();
    // Their cookie exchanges happen; then they are silenced before their Certificate.
    assert!(net.drive(
        Duration::from_secs(5),
        |n| n.iotssp().counters().handshakes_started >= 4
    ));
    let muted = stalled.clone();
    net.lose = Box::new(move |hop, _| matches!(hop, Hop::ClientToRouter(i) if muted.contains(&i)));
    net.drive(Duration::from_secs(5), |_| false);
    assert_eq!(
        net.iotssp().counters().mote_handshakes_started,
        0,
        "no PSK handshake for them"
    );
    assert_eq!(net.mote().dtls_handshakes, 0);
    assert_eq!(
        net.wiring().counters().attached_to_mote,
        0,
        "zero datagrams to the mote"
    );
    let c = net.add_client("client.pem", "client.key", 40000);
    let flow = net.clients[c].flow;
    assert!(
        net.drive(Duration::from_secs(30), |n| n.client_complete(c)
            && transferred(n, &flow)),
        "the legitimate client completes"
    );
    assert_eq!(
        net.iotssp().counters().mote_handshakes_started,
        1,
        "one PSK handshake: the legitimate client's"
    );
    assert_eq!(net.iotssp().counters().dropped("mote_busy"), 0);
}

/// What a retransmission has in common with the first copy. A DTLS retransmission carries
/// new record sequence numbers (and new ciphertext), so per record: the type, epoch and
/// length, and for plaintext handshake records the handshake header. On the radio a copy
/// of a datagram comes in frames of the same lengths and the same 6LoWPAN fragment sizes
/// and offsets (sequence numbers, datagram tags and checksums differ).
fn shape(hop: Hop, d: &[u8]) -> Vec<u8> {
    let mut shape = Vec::new();
    match hop {
        Hop::ClientToRouter(_) | Hop::RouterToClient(_) => {
            for r in records(d).flatten() {
                shape.push(u8::from(r.content_type()));
                shape.extend_from_slice(&r.epoch().to_be_bytes());
                shape.extend_from_slice(&r.length().to_be_bytes());
                if r.epoch() == 0 {
                    shape.extend(r.fragment().iter().take(12));
                }
            }
        }
        Hop::RouterToRadio | Hop::RadioToRouter => {
            shape.extend_from_slice(&(d.len() as u16).to_be_bytes());
            if let Ok((_, payload)) = ieee802154::parse_frame(d) {
                match payload.first().map(|b| b & 0xf8) {
                    // FRAG1: datagram size; FRAGN: datagram size and offset.
                    Some(0xc0) => shape.extend(payload.iter().take(2)),
                    Some(0xe0) => shape.extend(payload.iter().take(2).chain(payload.get(4))),
                    _ => {}
                }
            }
        }
    }
    shape
}

#[test]
fn loss_of_first_copies_still_completes() {
    let (mut net, c) = net_with(Setup::default());
    let mut seen: HashSet<(Hop, Vec<u8>)> = HashSet::new();
    // Drop the first copy of every datagram on every hop, and of every frame on the radio.
    net.lose = Box::new(move |hop, d| seen.insert((hop, shape(hop, d))));
    assert!(
        net.drive(Duration::from_secs(120), |n| n.client_complete(c)),
        "completes despite loss: {:?}",
        net.iotssp().counters()
    );
    net.lose = Box::new(|_, _| false);
    net.drive(Duration::from_secs(10), |_| false);
    assert!(
        coap_roundtrip(&mut net, c, 3),
        "answer from the mote's record layer"
    );
    assert_eq!(net.iotssp().keys_held(), 0);
    assert_eq!(net.iotssp().counters().app_data_records_received, 0);
    assert!(
        net.iotssp().counters().transfers_resent >= 1,
        "the lost TransferSession was sent again"
    );
    assert!(net.mote().sessions_transferred >= 1);
}

#[test]
fn lost_final_flight_is_answered_from_the_retained_bytes() {
    let (mut net, c) = net_with(Setup::default());
    let flow = net.clients[c].flow;
    // Drop the first FlowTransferred flight on its way to the client (it carries the CCS).
    let mut dropped = false;
    net.lose = Box::new(move |hop, d| {
        let ccs = || {
            records(d)
                .flatten()
                .any(|r| r.content_type() == dtls::record::ContentType::ChangeCipherSpec)
        };
        if matches!(hop, Hop::RouterToClient(_)) && !dropped && ccs() {
            dropped = true;
            return true;
        }
        false
    });
    assert!(net.drive(Duration::from_secs(30), |n| n.client_complete(c)));
    assert!(transferred(&net, &flow));
    assert!(net.iotssp().counters().final_flight_resent >= 1);
    assert_eq!(net.iotssp().keys_held(), 0);
    net.drive(Duration::from_secs(10), |_| false);
    assert!(
        coap_roundtrip(&mut net, c, 4),
        "answer from the mote's record layer"
    );
}
