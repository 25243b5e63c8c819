//! Records an off-path attacker can forge or alter: plaintext epoch-0 records with any
//! sequence number, unauthenticated alerts, and protected records that fail their MAC. None
//! may stall or end a handshake whose peer already proved itself (RFC 6347 4.1.2.6/4.1.2.7).
//! The tamper helpers follow rustls-test's `transfer_altered`: take the datagrams one side
//! queued, alter a copy, and hand it to the other side.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use dtls::alert::{Alert, AlertDescription};
use dtls::codec::Codec;
use dtls::record::{ContentType, ProtocolVersion, RecordHeader, records};
use dtls::{CloseReason, Event};

/// A plaintext epoch-0 record, as anyone can forge it.
fn forged(ct: ContentType, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    RecordHeader {
        content_type: ct,
        version: ProtocolVersion::DTLS1_2,
        epoch: 0,
        sequence_number: seq,
    }
    .emit(body, &mut d);
    d
}

fn forged_fatal_alert(seq: u64) -> Vec<u8> {
    forged(
        ContentType::Alert,
        seq,
        &Alert::fatal(AlertDescription::HandshakeFailure).get_encoding(),
    )
}

/// Delivers a forged datagram to `to`, as if it came from the other side.
fn inject(p: &mut Pair, to: Side, datagram: &[u8]) {
    match to {
        Side::Server => p.server.handle_datagram(p.now, p.client_addr, datagram),
        Side::Client => p.client.handle_datagram(p.now, p.server_addr, datagram),
    }
}

/// Delivers `datagram` altered by `alter` to the side it was meant for.
fn transfer_altered(p: &mut Pair, from: Side, datagram: &[u8], alter: impl FnOnce(&mut Vec<u8>)) {
    let mut d = datagram.to_vec();
    alter(&mut d);
    let to = if from == Side::Client {
        Side::Server
    } else {
        Side::Client
    };
    inject(p, to, &d);
}

fn has_epoch1_record(datagram: &[u8]) -> bool {
    records(datagram).flatten().any(|r| r.epoch() == 1)
}

fn closed(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::Closed(_)))
}

#[test]
fn forged_epoch0_record_with_the_top_sequence_number_stalls_nothing() {
    let mut p = Pair::new(psk_server());
    p.connect(psk_client(b"0123456789abcdef"));
    // Before the HelloVerifyRequest reaches the client.
    inject(
        &mut p,
        Side::Client,
        &forged(ContentType::Handshake, RecordHeader::MAX_SEQUENCE, b"junk"),
    );
    p.step(); // ClientHello -> HelloVerifyRequest -> cookie'd ClientHello queued.
    p.step(); // the cookie'd hello makes the server's connection.
    assert!(p.server.connection(&p.client_addr).is_some());
    inject(
        &mut p,
        Side::Server,
        &forged(ContentType::Handshake, RecordHeader::MAX_SEQUENCE, b"junk"),
    );
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
}

#[test]
fn forged_epoch0_record_after_the_peers_ccs_moves_nothing() {
    let mut p = Pair::new(psk_server());
    p.connect(psk_client(b"0123456789abcdef"));
    p.drive();
    assert!(p.handshake_complete());
    for to in [Side::Server, Side::Client] {
        inject(
            &mut p,
            to,
            &forged(ContentType::Handshake, RecordHeader::MAX_SEQUENCE, b"junk"),
        );
        inject(
            &mut p,
            to,
            &forged(
                ContentType::ApplicationData,
                RecordHeader::MAX_SEQUENCE,
                b"junk",
            ),
        );
    }
    let sa = p.server_addr;
    p.client.send_application_data(&sa, b"after").unwrap();
    p.drive();
    assert!(
        p.server_events
            .contains(&Event::ApplicationData(b"after".to_vec())),
        "{:?}",
        p.server_events
    );
    let s = p
        .server
        .connection(&p.client_addr)
        .unwrap()
        .export_session()
        .unwrap();
    assert_eq!(s.read_epoch, 1);
}

#[test]
fn unauthenticated_alert_after_the_peer_is_authenticated_is_ignored_and_counted() {
    let mut p = Pair::new(ecdhe_server());
    p.connect(ecdhe_client("client.pem", "client.key"));
    p.drive();
    assert!(p.handshake_complete());
    inject(&mut p, Side::Server, &forged_fatal_alert(100));
    inject(&mut p, Side::Client, &forged_fatal_alert(100));
    p.drive();
    assert!(
        !closed(&p.server_events) && !closed(&p.client_events),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
    assert_eq!(
        p.server
            .connection(&p.client_addr)
            .unwrap()
            .unauthenticated_alerts,
        1
    );
    assert_eq!(
        p.client
            .connection(&p.server_addr)
            .unwrap()
            .unauthenticated_alerts,
        1
    );
    let sa = p.server_addr;
    p.client.send_application_data(&sa, b"still here").unwrap();
    p.drive();
    assert!(
        p.server_events
            .contains(&Event::ApplicationData(b"still here".to_vec()))
    );
}

#[test]
fn unauthenticated_alert_between_the_peers_ccs_and_finished_is_ignored() {
    // The server holds keys and reads epoch 1 once the client's ChangeCipherSpec came; an
    // epoch-0 alert that arrives before the client's Finished cannot end the handshake.
    let held: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let mut p = Pair::new(psk_server());
    let h = held.clone();
    p.deliver = Box::new(move |side, _, d| {
        if side == Side::Client && has_epoch1_record(d) && h.borrow().is_empty() {
            h.borrow_mut().push(d.to_vec());
            return false;
        }
        true
    });
    p.connect(psk_client(b"0123456789abcdef"));
    p.settle();
    let flight5 = held.borrow()[0].clone();
    // Only the epoch-0 part of the flight (the ChangeCipherSpec moves the read epoch).
    let epoch0: Vec<u8> = records(&flight5)
        .flatten()
        .filter(|r| r.epoch() == 0)
        .flat_map(|r| {
            let mut d = Vec::new();
            RecordHeader {
                content_type: r.content_type(),
                version: r.version(),
                epoch: 0,
                sequence_number: r.sequence_number(),
            }
            .emit(r.fragment(), &mut d);
            d
        })
        .collect();
    inject(&mut p, Side::Server, &epoch0);
    inject(&mut p, Side::Server, &forged_fatal_alert(99));
    inject(&mut p, Side::Server, &flight5);
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
}

#[test]
fn unauthenticated_alert_during_the_hellos_still_ends_the_handshake() {
    // Documented choice: before the peer writes protected records, its refusals come as
    // epoch-0 alerts, and they are honoured.
    let mut p = Pair::new(psk_server());
    p.connect(psk_client(b"0123456789abcdef"));
    p.step();
    p.step();
    inject(&mut p, Side::Server, &forged_fatal_alert(5));
    p.settle();
    assert!(
        p.server_events
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::HandshakeFailure
            ))),
        "{:?}",
        p.server_events
    );
}

fn finished_altered_then_genuine(server: dtls::ServerConfig, client: dtls::ClientConfig) {
    let held: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let mut p = Pair::new(server);
    let h = held.clone();
    p.deliver = Box::new(move |side, _, d| {
        if side == Side::Client && has_epoch1_record(d) && h.borrow().is_empty() {
            h.borrow_mut().push(d.to_vec());
            return false;
        }
        true
    });
    p.connect(client);
    p.settle();
    let flight5 = held.borrow()[0].clone();
    // The Finished is the flight's last record: a flipped bit in its tag fails the MAC.
    transfer_altered(&mut p, Side::Client, &flight5, |d| {
        *d.last_mut().unwrap() ^= 1
    });
    p.settle();
    assert!(!closed(&p.server_events), "{:?}", p.server_events);
    let s = p.server.connection(&p.client_addr).unwrap();
    assert_eq!(s.finished_auth_failures, 1);
    inject(&mut p, Side::Server, &flight5);
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
}

#[test]
fn finished_failing_its_mac_is_dropped_and_the_genuine_one_completes_psk() {
    finished_altered_then_genuine(psk_server(), psk_client(b"0123456789abcdef"));
}

#[test]
fn finished_failing_its_mac_is_dropped_and_the_genuine_one_completes_ecdhe() {
    finished_altered_then_genuine(ecdhe_server(), ecdhe_client("client.pem", "client.key"));
}

#[test]
fn close_notify_is_answered() {
    let mut p = Pair::new(psk_server());
    p.connect(psk_client(b"0123456789abcdef"));
    p.drive();
    assert!(p.handshake_complete());
    let sa = p.server_addr;
    let sent_by_server = p.sent[1];
    p.client.close(&sa);
    p.drive();
    assert!(
        p.server_events
            .contains(&Event::Closed(CloseReason::CloseNotify)),
        "{:?}",
        p.server_events
    );
    assert_eq!(
        p.sent[1],
        sent_by_server + 1,
        "the server answers with one datagram: its close_notify"
    );
    assert!(p.server.connection(&p.client_addr).is_none());
}

#[test]
fn close_notify_answered_by_the_client_too() {
    let mut p = Pair::new(psk_server());
    p.connect(psk_client(b"0123456789abcdef"));
    p.drive();
    let ca = p.client_addr;
    let sent_by_client = p.sent[0];
    p.server.close(&ca);
    p.drive();
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::CloseNotify)),
        "{:?}",
        p.client_events
    );
    assert_eq!(p.sent[0], sent_by_client + 1);
}
