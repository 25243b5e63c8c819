use super::*;
use crate::config::{DeviceConfig, DevicePolicy, HrmConfig, SspConfig};
use crate::flow::FlowState;
use crate::router::{Decision, Diversion, Hrm};
use dtls_wire::{ContentType, ProtocolVersion, Record};
use lowpan::ip::{self, Ipv6Packet, UdpPacket};
use std::net::Ipv6Addr;

/// The border router's cookie secret from a fixed seed: the tests replay exactly.
fn rng() -> std::sync::Arc<dyn dtls::provider::SecureRandom> {
    dtls::provider::SeededRandom::shared([0x5e; 32])
}

fn ip(bytes: &[u8]) -> lowpan::CheckedIpv6Packet<&[u8]> {
    lowpan::CheckedIpv6Packet::parse(bytes).expect("an IPv6 packet")
}

const MOTE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

fn hrm() -> Hrm {
    Hrm::new(
        &HrmConfig {
            max_flows: 4,
            ssps: vec![SspConfig {
                name: "ssp".into(),
                addresses: vec![],
            }],
            devices: vec![DeviceConfig {
                mote: MOTE,
                policy: DevicePolicy::Delegate { ssp: "ssp".into() },
                dtls_port: None,
            }],
            ..HrmConfig::default()
        },
        rng(),
    )
    .unwrap()
}

fn flow(peer_port: u16) -> FlowTag {
    FlowTag {
        peer_addr: PEER,
        peer_port,
        mote_addr: MOTE,
        mote_port: 5684,
    }
}

/// A ClientHello record header with a 1-byte handshake body stub (type 1).
fn client_hello_packet(peer_port: u16) -> Vec<u8> {
    let dtls = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
    crate::build_udp_packet((PEER, peer_port), (MOTE, 5684), 64, &dtls).unwrap()
}

fn divert(hrm: &mut Hrm, now: Instant, peer_port: u16) -> Diversion {
    match hrm.handle_inbound(now, &ip(&client_hello_packet(peer_port))) {
        Decision::Divert(d) => d,
        other => panic!("not diverted: {other:?}"),
    }
}

#[test]
fn alert_record_matches_the_document() {
    let doc = redirect::doc_examples::hex_after("### R12: a down IoTSSP's handshakes get an alert");
    assert_eq!(doc, ssp_down_alert());
    let r = Record::new_checked(&doc[..]).unwrap();
    assert_eq!(r.content_type(), ContentType::Alert);
    assert_eq!(
        (r.epoch(), r.sequence_number(), r.version()),
        (0, 1 << 47, ProtocolVersion(0xfefd))
    );
    assert_eq!(r.fragment(), &[2, 80]);
}

#[test]
fn down_ssp_answers_a_client_hello_from_the_mote_once_a_second() {
    let mut h = hrm();
    let t0 = Instant::now();
    let d = divert(&mut h, t0, 40000);
    assert_eq!(h.flow_state(&d.flow), Some(FlowState::Delegating));
    let pkt = h.answer_ssp_down(t0, &d).expect("an alert");
    let v6 = Ipv6Packet::new_checked(&pkt[..]).unwrap();
    assert_eq!((v6.src_addr(), v6.dst_addr()), (MOTE, PEER));
    let udp = UdpPacket::new_checked(v6.payload()).unwrap();
    assert_eq!((udp.src_port(), udp.dst_port()), (5684, 40000));
    assert!(ip::verify_checksum(
        &MOTE,
        &PEER,
        ip::next_header::UDP,
        v6.payload()
    ));
    assert_eq!(udp.payload(), ssp_down_alert());
    // The handshake is abandoned.
    assert_eq!(h.flow_state(&d.flow), None);
    assert_eq!(h.counters().ssp_down_alerts, 1);
    // A retransmission within the second: silent; after it: answered again.
    let d = divert(&mut h, t0 + Duration::from_millis(500), 40000);
    assert_eq!(h.answer_ssp_down(t0 + Duration::from_millis(500), &d), None);
    assert_eq!(h.counters().ssp_down_silent, 1);
    let d = divert(&mut h, t0 + ALERT_INTERVAL, 40000);
    assert!(h.answer_ssp_down(t0 + ALERT_INTERVAL, &d).is_some());
    assert_eq!(h.counters().ssp_down_alerts, 2);
    // Another flow is limited on its own.
    let d = divert(&mut h, t0 + Duration::from_millis(500), 40001);
    assert!(
        h.answer_ssp_down(t0 + Duration::from_millis(500), &d)
            .is_some()
    );
}

#[test]
fn alerts_are_not_answered_and_transferred_flows_keep_their_session() {
    let mut h = hrm();
    let t0 = Instant::now();
    // A plaintext alert from the client: never answered with an alert.
    let alert =
        crate::build_udp_packet((PEER, 40000), (MOTE, 5684), 64, &ssp_down_alert()).unwrap();
    let Decision::Divert(d) = h.handle_inbound(t0, &ip(&alert)) else {
        panic!("R4 diverts")
    };
    assert_eq!(h.answer_ssp_down(t0, &d), None);
    // A transferred flow: its retransmitted final flight is not answered, the session stays.
    let f = flow(40002);
    h.handle_ssp_message(
        t0,
        &crate::SspName::new("ssp"),
        &redirect::RedirectMessage::FlowTransferred {
            flow: f,
            final_flight: &[],
        },
    )
    .unwrap();
    let finished = [22, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    let pkt = crate::build_udp_packet((PEER, 40002), (MOTE, 5684), 64, &finished).unwrap();
    let Decision::Divert(d) = h.handle_inbound(t0, &ip(&pkt)) else {
        panic!("R2 diverts")
    };
    assert_eq!(h.answer_ssp_down(t0, &d), None);
    assert_eq!(h.flow_state(&f), Some(FlowState::Transferred));
    // Its application data still goes to the mote.
    let app = crate::build_udp_packet(
        (PEER, 40002),
        (MOTE, 5684),
        64,
        &[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 9],
    )
    .unwrap();
    assert_eq!(h.handle_inbound(t0, &ip(&app)), Decision::Forward);
    // A fresh ClientHello on it (Rehandshaking) is answered; the old session stays.
    let d = divert(&mut h, t0, 40002);
    assert_eq!(h.flow_state(&f), Some(FlowState::Rehandshaking));
    assert!(h.answer_ssp_down(t0, &d).is_some());
    assert_eq!(h.flow_state(&f), Some(FlowState::Transferred));
    assert_eq!(h.counters().ssp_down_alerts, 1);
    assert_eq!(h.counters().ssp_down_silent, 2);
}

#[test]
fn limiter_is_bounded_and_frees_old_entries() {
    let mut l = AlertLimiter::new(2);
    let t0 = Instant::now();
    assert!(l.allow(&flow(1), t0));
    assert!(l.allow(&flow(2), t0));
    // Full of recent entries: a third flow gets nothing, the table does not grow.
    assert!(!l.allow(&flow(3), t0));
    assert_eq!(l.len(), 2);
    // A second later the old entries make room.
    assert!(l.allow(&flow(3), t0 + ALERT_INTERVAL));
    assert!(l.len() <= 2);
}
