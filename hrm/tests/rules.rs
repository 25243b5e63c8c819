//! The HRM rules of docs/protocol.md ("HRM rules"), row by row, then as whole-packet
//! scenarios through `Hrm`, plus flow expiry, table bounds and no-panic properties.

use dtls_wire::{ContentType, HandshakeType, ProtocolVersion, RecordHeader};
use hrm::record::RecordSummary;
use hrm::{
    Decision, DeviceConfig, DevicePolicy, DropReason, FlowState, Hrm, HrmConfig, RecordRoute,
    SspConfig, SspName, SspReject, UnknownFlowPolicy, build_udp_packet, route_record,
};
use lowpan::CheckedIpv6Packet;
use lowpan::ip::{Ipv6Packet, UdpPacket, next_header, verify_checksum};
use proptest::prelude::*;
use redirect::{AbandonReason, FlowTag, RedirectMessage};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// The border router's cookie secret from a fixed seed: the tests replay exactly.
fn rng() -> std::sync::Arc<dyn dtls::provider::SecureRandom> {
    dtls::provider::SeededRandom::shared([0x5e; 32])
}

// ---- the rule table ------------------------------------------------------------------

const HS: u8 = 22;
const CCS: u8 = 20;
const ALERT: u8 = 21;
const APP: u8 = 23;

fn summary(content: u8, epoch: u16, hs_type: Option<u8>) -> RecordSummary {
    RecordSummary {
        content_type: ContentType::from(content),
        epoch,
        sequence_number: 0,
        handshake_type: hs_type.map(HandshakeType::from),
        range: 0..13,
    }
}

#[test]
fn rule_table() {
    use FlowState::*;
    use RecordRoute::*;
    use UnknownFlowPolicy::{Drop as DropUnknown, Forward as TrustUnknown};
    let none: Option<FlowState> = None;
    type Row = (
        &'static str,
        Option<FlowState>,
        u8,
        u16,
        Option<u8>,
        UnknownFlowPolicy,
        RecordRoute,
    );
    #[rustfmt::skip]
    let rows: &[Row] = &[
        // row name (docs/protocol.md)              state               type   ep  hs       policy        route
        ("R1 ClientHello, new flow",                none,               HS,    0,  Some(1), TrustUnknown, Ssp),
        ("R1 ClientHello, delegating",              Some(Delegating),   HS,    0,  Some(1), TrustUnknown, Ssp),
        ("R1 fresh ClientHello after transfer",     Some(Transferred),  HS,    0,  Some(1), TrustUnknown, Ssp),
        ("R1 ClientHello while rehandshaking",      Some(Rehandshaking),HS,    0,  Some(1), DropUnknown,  Ssp),
        ("R2 final flight, epoch 0 handshake",      Some(Delegating),   HS,    0,  Some(16),TrustUnknown, Ssp),
        ("R2 retransmitted flight after transfer",  Some(Transferred),  HS,    0,  Some(11),TrustUnknown, Ssp),
        ("R2 epoch-1 Finished, delegating",         Some(Delegating),   HS,    1,  None,    TrustUnknown, Ssp),
        ("R2 epoch-1 Finished after transfer",      Some(Transferred),  HS,    1,  None,    TrustUnknown, Ssp),
        ("R2 epoch-1 handshake, unknown flow",      none,               HS,    1,  None,    DropUnknown,  Ssp),
        ("R3 CCS, delegating",                      Some(Delegating),   CCS,   0,  None,    TrustUnknown, Ssp),
        ("R3 CCS after transfer",                   Some(Transferred),  CCS,   0,  None,    TrustUnknown, Ssp),
        ("R3 CCS, unknown flow",                    none,               CCS,   0,  None,    DropUnknown,  Ssp),
        ("R4 plaintext alert, delegating",          Some(Delegating),   ALERT, 0,  None,    TrustUnknown, Ssp),
        ("R4 plaintext alert after transfer",       Some(Transferred),  ALERT, 0,  None,    TrustUnknown, Ssp),
        ("R5 encrypted alert after transfer",       Some(Transferred),  ALERT, 1,  None,    TrustUnknown, Mote),
        ("R5 encrypted alert after transfer (drop)",Some(Transferred),  ALERT, 1,  None,    DropUnknown,  Mote),
        ("R5 encrypted alert, epoch 7",             Some(Transferred),  ALERT, 7,  None,    TrustUnknown, Mote),
        ("R6 encrypted alert, delegating (drop)",   Some(Delegating),   ALERT, 1,  None,    DropUnknown,  Ssp),
        ("R6 encrypted alert, unknown (drop)",      none,               ALERT, 1,  None,    DropUnknown,  Ssp),
        ("R7 encrypted alert, rehandshaking",       Some(Rehandshaking),ALERT, 1,  None,    TrustUnknown, Both),
        ("R7 encrypted alert, delegating (trust)",  Some(Delegating),   ALERT, 1,  None,    TrustUnknown, Both),
        ("R7 encrypted alert, unknown (trust)",     none,               ALERT, 1,  None,    TrustUnknown, Both),
        ("R8 app data after transfer",              Some(Transferred),  APP,   1,  None,    TrustUnknown, Mote),
        ("R8 app data after transfer (drop)",       Some(Transferred),  APP,   1,  None,    DropUnknown,  Mote),
        ("R8 app data while rehandshaking",         Some(Rehandshaking),APP,   1,  None,    DropUnknown,  Mote),
        ("R9 app data, unknown flow (trust)",       none,               APP,   1,  None,    TrustUnknown, Mote),
        ("R9 app data, delegating (trust)",         Some(Delegating),   APP,   1,  None,    TrustUnknown, Mote),
        ("R10 app data, unknown flow (drop)",       none,               APP,   1,  None,    DropUnknown,  Drop(DropReason::NoSessionAtMote)),
        ("R10 app data, delegating (drop)",         Some(Delegating),   APP,   1,  None,    DropUnknown,  Drop(DropReason::NoSessionAtMote)),
        ("R11 unknown content type (tls12_cid)",    Some(Transferred),  25,    1,  None,    TrustUnknown, Drop(DropReason::UnknownContentType)),
        ("R11 unknown content type, new flow",      none,               0,     0,  None,    TrustUnknown, Drop(DropReason::UnknownContentType)),
    ];
    for (name, state, ct, epoch, hs, policy, want) in rows {
        let got = route_record(*state, &summary(*ct, *epoch, *hs), *policy);
        assert_eq!(got, *want, "{name}");
    }
}

#[test]
fn application_data_never_goes_to_the_ssp() {
    let states = [
        None,
        Some(FlowState::Delegating),
        Some(FlowState::Transferred),
        Some(FlowState::Rehandshaking),
    ];
    for state in states {
        for policy in [UnknownFlowPolicy::Forward, UnknownFlowPolicy::Drop] {
            for epoch in [0, 1, 2, 0xffff] {
                let r = route_record(state, &summary(APP, epoch, None), policy);
                assert!(
                    !matches!(r, RecordRoute::Ssp | RecordRoute::Both),
                    "{state:?} {policy:?} {epoch}"
                );
            }
        }
    }
}

// ---- whole packets through Hrm ---------------------------------------------------------

fn mote() -> Ipv6Addr {
    "2001:db8:1::2".parse().unwrap()
}
fn passthrough_mote() -> Ipv6Addr {
    "2001:db8:1::3".parse().unwrap()
}
fn other_ssp_mote() -> Ipv6Addr {
    "2001:db8:1::4".parse().unwrap()
}
fn peer() -> Ipv6Addr {
    "2001:db8:ffff::9".parse().unwrap()
}
fn ssp_addr() -> Ipv6Addr {
    "2001:db8:5::1".parse().unwrap()
}

fn config() -> HrmConfig {
    HrmConfig {
        ssps: vec![
            SspConfig {
                name: "ssp-a".into(),
                addresses: vec![ssp_addr()],
            },
            SspConfig {
                name: "ssp-b".into(),
                addresses: vec![],
            },
        ],
        devices: vec![
            DeviceConfig {
                mote: mote(),
                policy: DevicePolicy::Delegate {
                    ssp: "ssp-a".into(),
                },
                dtls_port: None,
            },
            DeviceConfig {
                mote: passthrough_mote(),
                policy: DevicePolicy::Passthrough,
                dtls_port: None,
            },
            DeviceConfig {
                mote: other_ssp_mote(),
                policy: DevicePolicy::Delegate {
                    ssp: "ssp-b".into(),
                },
                dtls_port: Some(6000),
            },
        ],
        ..HrmConfig::default()
    }
}

fn flow() -> FlowTag {
    FlowTag {
        peer_addr: peer(),
        peer_port: 40000,
        mote_addr: mote(),
        mote_port: 5684,
    }
}

fn flow_from(port: u16) -> FlowTag {
    FlowTag {
        peer_port: port,
        ..flow()
    }
}

/// One record: header + `body` (for epoch-0 handshake, body[0] is the message type).
fn record(content: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    RecordHeader {
        content_type: ContentType::from(content),
        version: ProtocolVersion::DTLS1_2,
        epoch,
        sequence_number: seq,
    }
    .emit(body, &mut b);
    b
}

fn client_hello() -> Vec<u8> {
    record(HS, 0, 0, &[1, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 40])
}
fn app_data(seq: u64) -> Vec<u8> {
    record(APP, 1, seq, &[0xa5; 24])
}
/// Certificate + ClientKeyExchange + CertificateVerify (stand-ins) + CCS + epoch-1 Finished.
fn final_flight() -> Vec<u8> {
    [
        record(HS, 0, 2, &[11, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 3, 9, 9, 9]),
        record(HS, 0, 3, &[16, 0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 1, 7]),
        record(HS, 0, 4, &[15, 0, 0, 1, 0, 4, 0, 0, 0, 0, 0, 1, 8]),
        record(CCS, 0, 5, &[1]),
        record(HS, 1, 0, &[0x3c; 40]),
    ]
    .concat()
}

/// The packet as the border router hands it over: parsed once.
fn ip(bytes: &[u8]) -> CheckedIpv6Packet<&[u8]> {
    CheckedIpv6Packet::parse(bytes).expect("an IPv6 packet")
}

fn packet(f: &FlowTag, payload: &[u8]) -> Vec<u8> {
    build_udp_packet(
        (f.peer_addr, f.peer_port),
        (f.mote_addr, f.mote_port),
        60,
        payload,
    )
    .unwrap()
}

fn ssp_a() -> SspName {
    SspName::new("ssp-a")
}

fn diverted(d: Decision) -> Vec<u8> {
    match d {
        Decision::Divert(div) => {
            assert_eq!(div.ssp, ssp_a());
            assert_eq!(div.flow, flow());
            div.datagram
        }
        other => panic!("expected Divert, got {other:?}"),
    }
}

/// Runs a whole delegated handshake to the point where the flow is transferred.
fn transferred(h: &mut Hrm, now: Instant) {
    diverted(h.handle_inbound(now, &ip(&packet(&flow(), &client_hello()))));
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Delegating));
    diverted(h.handle_inbound(now, &ip(&packet(&flow(), &final_flight()))));
    let msg = RedirectMessage::FlowTransferred {
        flow: flow(),
        final_flight: &[],
    };
    assert_eq!(h.handle_ssp_message(now, &ssp_a(), &msg), Ok(None));
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Transferred));
}

#[test]
fn handshake_of_a_session_being_set_up_goes_to_the_ssp() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    let ch = client_hello();
    assert_eq!(
        diverted(h.handle_inbound(now, &ip(&packet(&flow(), &ch)))),
        ch
    );
    let ff = final_flight();
    assert_eq!(
        diverted(h.handle_inbound(now, &ip(&packet(&flow(), &ff)))),
        ff
    );
    let alert = record(ALERT, 0, 6, &[2, 40]);
    assert_eq!(
        diverted(h.handle_inbound(now, &ip(&packet(&flow(), &alert)))),
        alert
    );
    assert_eq!(h.counters().divert, 3);
    assert_eq!(h.counters().handshakes_begun, 1);
}

#[test]
fn after_transfer_app_data_goes_to_the_mote_and_the_final_flight_to_the_ssp() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    transferred(&mut h, now);
    // Application data: forwarded unchanged.
    assert_eq!(
        h.handle_inbound(now, &ip(&packet(&flow(), &app_data(1)))),
        Decision::Forward
    );
    // The client did not get the IoTSSP's Finished and retransmits its final flight.
    let ff = final_flight();
    assert_eq!(
        diverted(h.handle_inbound(now, &ip(&packet(&flow(), &ff)))),
        ff
    );
    // Encrypted alert (close_notify): the mote's session.
    assert_eq!(
        h.handle_inbound(
            now,
            &ip(&packet(&flow(), &record(ALERT, 1, 2, &[0x11; 26])))
        ),
        Decision::Forward
    );
    // Plaintext alert: about a handshake, so the IoTSSP.
    diverted(h.handle_inbound(now, &ip(&packet(&flow(), &record(ALERT, 0, 9, &[2, 10])))));
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Transferred));
    assert_eq!(h.counters().app_data_to_ssp, 0);
}

#[test]
fn fresh_client_hello_on_a_transferred_flow_starts_a_new_handshake_and_keeps_the_old_session() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    transferred(&mut h, now);
    diverted(h.handle_inbound(now, &ip(&packet(&flow(), &client_hello()))));
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Rehandshaking));
    assert_eq!(h.counters().rehandshakes, 1);
    // The old session at the mote still gets its application data.
    assert_eq!(
        h.handle_inbound(now, &ip(&packet(&flow(), &app_data(7)))),
        Decision::Forward
    );
    // An encrypted alert may belong to either: both get it.
    let alert = record(ALERT, 1, 8, &[0x22; 26]);
    match h.handle_inbound(now, &ip(&packet(&flow(), &alert))) {
        Decision::Split {
            divert: Some(d),
            to_mote: Some(p),
        } => {
            assert_eq!(d.datagram, alert);
            assert_eq!(udp_payload(&p), alert);
        }
        other => panic!("{other:?}"),
    }
    // The IoTSSP gives the new handshake up: the old session stays.
    let abandon = RedirectMessage::FlowAbandoned {
        flow: flow(),
        reason: AbandonReason::Unauthorized,
    };
    assert_eq!(h.handle_ssp_message(now, &ssp_a(), &abandon), Ok(None));
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Transferred));
    // A new handshake that completes replaces it.
    diverted(h.handle_inbound(now, &ip(&packet(&flow(), &client_hello()))));
    let msg = RedirectMessage::FlowTransferred {
        flow: flow(),
        final_flight: &[],
    };
    h.handle_ssp_message(now, &ssp_a(), &msg).unwrap();
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Transferred));
}

fn udp_payload(pkt: &[u8]) -> Vec<u8> {
    let ip = Ipv6Packet::new_checked(pkt).unwrap();
    assert!(verify_checksum(
        &ip.src_addr(),
        &ip.dst_addr(),
        next_header::UDP,
        ip.payload()
    ));
    UdpPacket::new_checked(ip.payload())
        .unwrap()
        .payload()
        .to_vec()
}

#[test]
fn mixed_datagram_is_split_per_record() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    transferred(&mut h, now);
    // App data, a retransmitted handshake record, an unknown type, more app data.
    let hs = record(HS, 0, 3, &[16, 0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 1, 7]);
    let dgram = [
        app_data(3),
        hs.clone(),
        record(25, 1, 4, &[0; 5]),
        app_data(5),
    ]
    .concat();
    match h.handle_inbound(now, &ip(&packet(&flow(), &dgram))) {
        Decision::Split {
            divert: Some(d),
            to_mote: Some(p),
        } => {
            assert_eq!(d.datagram, hs);
            assert_eq!(d.flow, flow());
            assert_eq!(udp_payload(&p), [app_data(3), app_data(5)].concat());
            let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
            assert_eq!(
                (ip.src_addr(), ip.dst_addr(), ip.hop_limit()),
                (peer(), mote(), 60)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.counters().split, 1);
    assert_eq!(h.counters().records_dropped, 1);
    assert_eq!(h.counters().app_data_to_ssp, 0);
}

#[test]
fn untouched_traffic() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    // The IoTSSP's own PSK handshake with the mote: never diverted.
    let from_ssp = FlowTag {
        peer_addr: ssp_addr(),
        ..flow()
    };
    assert_eq!(
        h.handle_inbound(now, &ip(&packet(&from_ssp, &client_hello()))),
        Decision::Forward
    );
    // Passthrough mote (DCert / CDPSK): untouched.
    let pt = FlowTag {
        mote_addr: passthrough_mote(),
        ..flow()
    };
    assert_eq!(
        h.handle_inbound(now, &ip(&packet(&pt, &client_hello()))),
        Decision::Forward
    );
    // Another port of a delegated mote (plain CoAP): untouched.
    let coap = FlowTag {
        mote_port: 5683,
        ..flow()
    };
    assert_eq!(
        h.handle_inbound(now, &ip(&packet(&coap, b"\x40\x01\x00\x01"))),
        Decision::Forward
    );
    // A mote nobody configured.
    let other = FlowTag {
        mote_addr: "2001:db8:9::1".parse().unwrap(),
        ..flow()
    };
    assert_eq!(
        h.handle_inbound(now, &ip(&packet(&other, &client_hello()))),
        Decision::Forward
    );
    // Configured DTLS port per device: 5684 is not ssp-b's mote's DTLS port, 6000 is.
    let b = FlowTag {
        mote_addr: other_ssp_mote(),
        ..flow()
    };
    assert_eq!(
        h.handle_inbound(now, &ip(&packet(&b, &client_hello()))),
        Decision::Forward
    );
    let b6000 = FlowTag {
        mote_port: 6000,
        ..b
    };
    assert!(
        matches!(h.handle_inbound(now, &ip(&packet(&b6000, &client_hello()))), Decision::Divert(d) if d.ssp.as_str() == "ssp-b")
    );
    // Not UDP (an ICMPv6 message to the delegated mote): not the HRM's business. Bytes
    // that are not IPv6 cannot reach it (the border router parses first; see lowpan-br's
    // router tests).
    let mut icmp = packet(&flow(), &client_hello());
    icmp[6] = next_header::ICMPV6;
    assert_eq!(h.handle_inbound(now, &ip(&icmp)), Decision::Forward);
    let c = h.counters();
    assert_eq!(
        (
            c.forward_from_ssp,
            c.forward_passthrough,
            c.forward_other_port,
            c.forward_unconfigured,
            c.forward_not_udp
        ),
        (1, 1, 2, 1, 1)
    );
    assert_eq!(h.flow_count(), 1);
}

#[test]
fn malformed_and_unclassifiable_datagrams_are_dropped_with_a_reason() {
    use hrm::record::MalformedDatagram as M;
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (vec![], DropReason::Malformed(M::Empty)),
        (
            client_hello()[..10].to_vec(),
            DropReason::Malformed(M::TruncatedHeader),
        ),
        (
            client_hello()[..20].to_vec(),
            DropReason::Malformed(M::TruncatedRecord),
        ),
        (
            b"GET / HTTP/1.1\r\n".to_vec(),
            DropReason::Malformed(M::NotDtls),
        ),
        (record(25, 1, 0, &[0; 8]), DropReason::UnknownContentType),
    ];
    for (payload, reason) in &cases {
        assert_eq!(
            h.handle_inbound(now, &ip(&packet(&flow(), payload))),
            Decision::Drop(*reason),
            "{reason}"
        );
    }
    // An IPv6 fragment to the delegated mote cannot be classified.
    let mut frag = packet(&flow(), &client_hello());
    frag[6] = next_header::FRAGMENT;
    assert_eq!(
        h.handle_inbound(now, &ip(&frag)),
        Decision::Drop(DropReason::Ipv6Fragment)
    );
    // A bad UDP length.
    let mut bad = packet(&flow(), &client_hello());
    bad[44..46].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(
        h.handle_inbound(now, &ip(&bad)),
        Decision::Drop(DropReason::UdpMalformed)
    );
    let drops: Vec<_> = h.drop_counters().filter(|(_, n)| *n > 0).collect();
    assert_eq!(drops.len(), 7, "{drops:?}");
    assert_eq!(h.counters().drop, 7);
    assert_eq!(h.flow_count(), 0);
}

#[test]
fn unknown_flow_policy_drop() {
    let mut h = Hrm::new(
        &HrmConfig {
            unknown_flow: UnknownFlowPolicy::Drop,
            ..config()
        },
        rng(),
    )
    .unwrap();
    let now = Instant::now();
    assert_eq!(
        h.handle_inbound(now, &ip(&packet(&flow(), &app_data(1)))),
        Decision::Drop(DropReason::NoSessionAtMote)
    );
    // With the default, a border-router restart does not cut transferred sessions off.
    let mut h = Hrm::new(&config(), rng()).unwrap();
    assert_eq!(
        h.handle_inbound(now, &ip(&packet(&flow(), &app_data(1)))),
        Decision::Forward
    );
}

// ---- IoTSSP messages -------------------------------------------------------------------

#[test]
fn emit_builds_a_packet_from_the_mote() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    let hvr = record(
        HS,
        0,
        0,
        &[3, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0xfe, 0xff, 0],
    );
    let msg = RedirectMessage::Emit {
        flow: flow(),
        datagram: &hvr,
    };
    let pkt = h.handle_ssp_message(now, &ssp_a(), &msg).unwrap().unwrap();
    let ip = Ipv6Packet::new_checked(&pkt[..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (mote(), peer()));
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!((udp.src_port(), udp.dst_port()), (5684, 40000));
    assert_eq!(udp_payload(&pkt), hvr);
    // Emit creates no flow: a HelloVerifyRequest must not cost state.
    assert_eq!(h.flow_count(), 0);
}

#[test]
fn flow_transferred_carries_the_final_flight_atomically() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    diverted(h.handle_inbound(now, &ip(&packet(&flow(), &client_hello()))));
    let ccs_fin = [record(CCS, 0, 9, &[1]), record(HS, 1, 0, &[0x44; 40])].concat();
    let msg = RedirectMessage::FlowTransferred {
        flow: flow(),
        final_flight: &ccs_fin,
    };
    let pkt = h.handle_ssp_message(now, &ssp_a(), &msg).unwrap().unwrap();
    assert_eq!(udp_payload(&pkt), ccs_fin);
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Transferred));
    // Sent again (the answer to a retransmitted client flight): same result, idempotent.
    assert!(h.handle_ssp_message(now, &ssp_a(), &msg).unwrap().is_some());
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Transferred));
    assert_eq!(h.counters().transfers, 2);
}

#[test]
fn an_ssp_speaks_only_for_its_own_motes() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    let b = SspName::new("ssp-b");
    let cases = [
        RedirectMessage::Emit {
            flow: flow(),
            datagram: b"x",
        },
        RedirectMessage::FlowTransferred {
            flow: flow(),
            final_flight: b"",
        },
        RedirectMessage::FlowAbandoned {
            flow: flow(),
            reason: AbandonReason::Timeout,
        },
    ];
    for m in &cases {
        assert!(
            matches!(
                h.handle_ssp_message(now, &b, m),
                Err(SspReject::NotOwner { .. })
            ),
            "{m:?}"
        );
    }
    // Its own mote but not the DTLS port.
    let wrong_port = FlowTag {
        mote_port: 5683,
        ..flow()
    };
    let m = RedirectMessage::Emit {
        flow: wrong_port,
        datagram: b"x",
    };
    assert!(matches!(
        h.handle_ssp_message(now, &ssp_a(), &m),
        Err(SspReject::NotOwner { .. })
    ));
    let m = RedirectMessage::Divert {
        flow: flow(),
        datagram: b"x",
    };
    assert!(matches!(
        h.handle_ssp_message(now, &ssp_a(), &m),
        Err(SspReject::WrongDirection { .. })
    ));
    assert_eq!(h.flow_count(), 0);
    assert_eq!(h.counters().ssp_rejects, 5);
    assert_eq!(
        h.handle_ssp_message(now, &ssp_a(), &RedirectMessage::Hello),
        Ok(None)
    );
}

// ---- expiry and bounds -------------------------------------------------------------------

#[test]
fn flows_expire_when_idle() {
    let cfg = HrmConfig {
        handshake_idle_secs: 10,
        session_idle_secs: 100,
        ..config()
    };
    let mut h = Hrm::new(&cfg, rng()).unwrap();
    let t0 = Instant::now();
    assert_eq!(h.poll_timeout(), None);
    assert!(matches!(
        h.handle_inbound(t0, &ip(&packet(&flow_from(1), &client_hello()))),
        Decision::Divert(_)
    ));
    transferred(&mut h, t0);
    let first = h.poll_timeout().unwrap();
    assert!(first > t0);
    // At 9 s nothing expires; at 10 s the handshake does, the session does not.
    h.handle_timeout(t0 + Duration::from_secs(9));
    assert_eq!(h.flow_count(), 2);
    h.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(h.flow_state(&flow_from(1)), None);
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Transferred));
    assert_eq!(h.counters().handshakes_expired, 1);
    // Traffic from the mote keeps the session alive.
    let out = build_udp_packet((mote(), 5684), (peer(), 40000), 64, &app_data(1)).unwrap();
    h.handle_outbound(t0 + Duration::from_secs(90), &ip(&out));
    h.handle_timeout(t0 + Duration::from_secs(150));
    assert_eq!(h.flow_state(&flow()), Some(FlowState::Transferred));
    h.handle_timeout(t0 + Duration::from_secs(190));
    assert_eq!(h.flow_state(&flow()), None);
    assert_eq!(h.counters().sessions_expired, 1);
    assert_eq!(h.poll_timeout(), None);
}

#[test]
fn table_is_bounded() {
    let mut h = Hrm::new(
        &HrmConfig {
            max_flows: 2,
            ..config()
        },
        rng(),
    )
    .unwrap();
    let now = Instant::now();
    for port in 1..=3 {
        // Even a refused flow's ClientHello is diverted: routing needs no state.
        let d = h.handle_inbound(now, &ip(&packet(&flow_from(port), &client_hello())));
        assert!(matches!(d, Decision::Divert(_)));
    }
    assert_eq!(h.flow_count(), 2);
    assert_eq!(h.counters().flows_refused, 1);
    // An authenticated transfer makes room by evicting the oldest handshake...
    let t = |p: u16| RedirectMessage::FlowTransferred {
        flow: flow_from(p),
        final_flight: &[],
    };
    h.handle_ssp_message(now + Duration::from_secs(1), &ssp_a(), &t(10))
        .unwrap();
    assert_eq!(h.counters().evicted_handshakes, 1);
    h.handle_ssp_message(now + Duration::from_secs(2), &ssp_a(), &t(11))
        .unwrap();
    assert_eq!(h.counters().evicted_handshakes, 2);
    // ...and, when only sessions are left, the oldest idle session.
    h.handle_ssp_message(now + Duration::from_secs(3), &ssp_a(), &t(12))
        .unwrap();
    assert_eq!(h.counters().evicted_sessions, 1);
    assert_eq!(h.flow_state(&flow_from(10)), None);
    assert_eq!(h.flow_state(&flow_from(11)), Some(FlowState::Transferred));
    assert_eq!(h.flow_count(), 2);
    // Unauthenticated ClientHellos never evict a session.
    h.handle_inbound(now, &ip(&packet(&flow_from(99), &client_hello())));
    assert_eq!(h.flow_count(), 2);
    assert_eq!(h.flow_state(&flow_from(12)), Some(FlowState::Transferred));
}

// ---- no panics, and the invariant under random traffic -----------------------------------

fn arb_record() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(20u8), Just(21), Just(22), Just(23), any::<u8>()],
        0u16..3,
        proptest::collection::vec(any::<u8>(), 0..30),
    )
        .prop_map(|(ct, epoch, body)| record(ct, epoch, 0, &body))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Stand-in for the `hrm_classify` fuzz target: random IPv6 packets.
    #[test]
    fn no_panic_on_random_packets(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let mut h = Hrm::new(&config(), rng()).unwrap();
        if let Ok(p) = CheckedIpv6Packet::parse(&bytes[..]) {
            let _ = h.handle_inbound(Instant::now(), &p);
            h.handle_outbound(Instant::now(), &p);
        }
    }

    /// Random UDP payloads to the delegated mote's DTLS port.
    #[test]
    fn no_panic_on_random_datagrams(payload in proptest::collection::vec(any::<u8>(), 0..120)) {
        let mut h = Hrm::new(&config(), rng()).unwrap();
        let _ = h.handle_inbound(Instant::now(), &ip(&packet(&flow(), &payload)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random sequences of well-formed records and IoTSSP instructions: application data
    /// never reaches the IoTSSP, and every diverted or forwarded datagram is made of whole
    /// records of the input.
    #[test]
    fn app_data_never_diverted(steps in proptest::collection::vec(
        (0u8..4, proptest::collection::vec(arb_record(), 1..5)), 1..30)) {
        let mut h = Hrm::new(&config(), rng()).unwrap();
        let now = Instant::now();
        for (op, records) in steps {
            match op {
                0 => { let _ = h.handle_ssp_message(now, &ssp_a(), &RedirectMessage::FlowTransferred { flow: flow(), final_flight: &[] }); }
                1 => { let _ = h.handle_ssp_message(now, &ssp_a(), &RedirectMessage::FlowAbandoned { flow: flow(), reason: AbandonReason::Timeout }); }
                _ => {
                    let dgram = records.concat();
                    match h.handle_inbound(now, &ip(&packet(&flow(), &dgram))) {
                        Decision::Divert(d) => prop_assert!(no_app_data(&d.datagram)),
                        Decision::Split { divert: Some(d), .. } => prop_assert!(no_app_data(&d.datagram)),
                        _ => {}
                    }
                }
            }
        }
        prop_assert_eq!(h.counters().app_data_to_ssp, 0);
    }
}

fn no_app_data(datagram: &[u8]) -> bool {
    hrm::record::parse_datagram(datagram)
        .unwrap()
        .iter()
        .all(|r| r.content_type != ContentType::ApplicationData)
}

/// A delegated mote's transfer port is closed to everything from the TUN, its IoTSSP's
/// configured address included: the IoTSSP's mote leg never passes the TUN (an attached one
/// goes straight to the radio side, a remote one travels inside the redirect channel).
/// Four cookie'd-looking hellos to it can no longer fill the mote's tables.
#[test]
fn transfer_port_is_closed_to_everything_from_the_tun() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let now = Instant::now();
    let hello = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 4, 1, 0, 0, 0];
    let to_transfer =
        |src: Ipv6Addr| build_udp_packet((src, 40000), (mote(), 5685), 64, &hello).unwrap();
    for src in [peer(), ssp_addr(), mote()] {
        assert_eq!(
            h.handle_inbound(now, &ip(&to_transfer(src))),
            Decision::Drop(DropReason::TransferPortFromInternet),
            "from {src}"
        );
    }
    assert_eq!(
        h.drop_counters()
            .find(|(k, _)| *k == "transfer_port_from_internet"),
        Some(("transfer_port_from_internet", 3))
    );
    assert_eq!(h.counters().forward_from_ssp, 0);
    // Other ports of the mote, and other motes' transfer ports, stay as they were.
    let other = build_udp_packet((peer(), 40000), (mote(), 5683), 64, b"coap").unwrap();
    assert_eq!(h.handle_inbound(now, &ip(&other)), Decision::Forward);
    let passthrough =
        build_udp_packet((peer(), 40000), (passthrough_mote(), 5685), 64, &hello).unwrap();
    assert_eq!(h.handle_inbound(now, &ip(&passthrough)), Decision::Forward);
}

/// A remote IoTSSP's MoteDatagram becomes a packet from its source to its own motes'
/// transfer port only.
#[test]
fn mote_datagrams_reach_only_the_iotssps_own_motes_transfer_port() {
    let mut h = Hrm::new(&config(), rng()).unwrap();
    let source = (ssp_addr(), 5700);
    let flow = |mote: Ipv6Addr, port: u16| FlowTag {
        peer_addr: Ipv6Addr::UNSPECIFIED,
        peer_port: 0,
        mote_addr: mote,
        mote_port: port,
    };
    let p = h
        .packet_to_mote(&ssp_a(), &flow(mote(), 5685), b"assoc", source)
        .unwrap();
    let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (ssp_addr(), mote()));
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (udp.src_port(), udp.dst_port(), udp.payload()),
        (5700, 5685, &b"assoc"[..])
    );
    assert!(verify_checksum(
        &ssp_addr(),
        &mote(),
        next_header::UDP,
        ip.payload()
    ));
    assert!(h.is_mote_leg(&ssp_a(), &mote(), 5685));
    for (m, port) in [
        (mote(), 5684),
        (other_ssp_mote(), 5685),
        (passthrough_mote(), 5685),
    ] {
        assert!(
            matches!(
                h.packet_to_mote(&ssp_a(), &flow(m, port), b"x", source),
                Err(SspReject::NotOwner { .. })
            ),
            "{m} {port}"
        );
        assert!(!h.is_mote_leg(&ssp_a(), &m, port));
    }
    assert!(matches!(
        h.packet_to_mote(&ssp_a(), &flow(mote(), 5685), b"", source),
        Err(SspReject::EmptyDatagram { .. })
    ));
    assert_eq!(h.counters().ssp_rejects, 4);
    // The HRM itself takes no MoteDatagram: it changes no flow.
    assert!(
        h.handle_ssp_message(
            Instant::now(),
            &ssp_a(),
            &RedirectMessage::MoteDatagram {
                flow: flow(mote(), 5685),
                datagram: b"x"
            }
        )
        .is_err()
    );
}
