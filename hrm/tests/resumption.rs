//! Resumption at the mote, the HRM's half (docs/protocol.md, "Resumption at the mote"):
//! the IoTSSP names resumable sessions, a resuming ClientHello is challenged with the border
//! router's own cookie and only then handed to the mote, the mote's answer ends the
//! abbreviated handshake, and everything the HRM cannot vouch for takes the usual way to the
//! IoTSSP (the full delegated handshake is the fallback).

use dtls::codec::Codec;
use dtls::handshake::msgs::{ClientHello, HandshakeHeader, HandshakeType, HelloVerifyRequest};
use dtls::record::ProtocolVersion;
use dtls_wire::{ContentType, RecordHeader};
use hrm::record::RecordSummary;
use hrm::{
    Decision, DeviceConfig, DevicePolicy, FlowState, Hrm, HrmConfig, RecordRoute, SspConfig,
    SspName, SspReject, UnknownFlowPolicy, build_udp_packet, route_record,
};
use lowpan::{CheckedIpv6Packet, Transport};
use redirect::{FlowTag, RedirectMessage};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// The border router's cookie secret from a fixed seed: the tests replay exactly.
fn rng() -> std::sync::Arc<dyn dtls::provider::SecureRandom> {
    dtls::provider::SeededRandom::shared([0x5e; 32])
}

const ID: [u8; 16] = [0x1d; 16];

fn mote() -> Ipv6Addr {
    "2001:db8:1::2".parse().unwrap()
}
fn other_mote() -> Ipv6Addr {
    "2001:db8:1::4".parse().unwrap()
}

fn config(max_flows: usize) -> HrmConfig {
    let delegate = |mote, ssp: &str| DeviceConfig {
        mote,
        policy: DevicePolicy::Delegate { ssp: ssp.into() },
        dtls_port: None,
    };
    HrmConfig {
        max_flows,
        ssps: vec![
            SspConfig {
                name: "ssp-a".into(),
                addresses: vec![],
            },
            SspConfig {
                name: "ssp-b".into(),
                addresses: vec![],
            },
        ],
        devices: vec![delegate(mote(), "ssp-a"), delegate(other_mote(), "ssp-b")],
        ..HrmConfig::default()
    }
}

fn flow(peer_port: u16) -> FlowTag {
    FlowTag {
        peer_addr: "2001:db8:ffff::9".parse().unwrap(),
        peer_port,
        mote_addr: mote(),
        mote_port: 5684,
    }
}

fn ssp_a() -> SspName {
    SspName::new("ssp-a")
}

fn record(content: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    RecordHeader {
        content_type: ContentType::from(content),
        version: dtls_wire::ProtocolVersion::DTLS1_2,
        epoch,
        sequence_number: seq,
    }
    .emit(body, &mut b);
    b
}

fn handshake(msg_type: HandshakeType, message_seq: u16, body: &[u8]) -> Vec<u8> {
    let mut hs = Vec::new();
    HandshakeHeader {
        msg_type,
        length: body.len() as u32,
        message_seq,
        fragment_offset: 0,
        fragment_length: body.len() as u32,
    }
    .encode(&mut hs);
    hs.extend_from_slice(body);
    hs
}

/// A whole ClientHello record, as OpenSSL sends its first (`cookie` empty) and second one.
fn hello(session_id: &[u8], cookie: &[u8], seq: u64) -> Vec<u8> {
    let ch = ClientHello {
        client_version: ProtocolVersion::DTLS1_2,
        random: [7; 32],
        session_id: session_id.to_vec(),
        cookie: cookie.to_vec(),
        cipher_suites: vec![0xc0ae],
        compression_methods: vec![0],
        extensions: vec![],
    };
    record(
        22,
        0,
        seq,
        &handshake(HandshakeType::ClientHello, seq as u16, &ch.get_encoding()),
    )
}

fn to_mote(f: &FlowTag, payload: &[u8]) -> Vec<u8> {
    build_udp_packet(
        (f.peer_addr, f.peer_port),
        (f.mote_addr, f.mote_port),
        60,
        payload,
    )
    .unwrap()
}

fn from_mote(f: &FlowTag, payload: &[u8]) -> Vec<u8> {
    build_udp_packet(
        (f.mote_addr, f.mote_port),
        (f.peer_addr, f.peer_port),
        64,
        payload,
    )
    .unwrap()
}

fn ip(bytes: &[u8]) -> CheckedIpv6Packet<&[u8]> {
    CheckedIpv6Packet::parse(bytes).expect("an IPv6 packet")
}

fn inbound(h: &mut Hrm, now: Instant, f: &FlowTag, payload: &[u8]) -> Decision {
    h.handle_inbound(now, &ip(&to_mote(f, payload)))
}

/// The IoTSSP's FlowTransferred for `f` (no final flight).
fn transferred(h: &mut Hrm, now: Instant, f: &FlowTag) {
    let msg = RedirectMessage::FlowTransferred {
        flow: *f,
        final_flight: &[],
    };
    assert_eq!(h.handle_ssp_message(now, &ssp_a(), &msg), Ok(None));
}

/// The flow's session transferred, then made resumable with [`ID`].
fn resumable(h: &mut Hrm, now: Instant, f: &FlowTag, lifetime_secs: u32) {
    transferred(h, now, f);
    let msg = RedirectMessage::SessionResumable {
        flow: *f,
        lifetime_secs,
        session_id: &ID,
    };
    assert_eq!(h.handle_ssp_message(now, &ssp_a(), &msg), Ok(None));
}

/// The cookie of the border router's HelloVerifyRequest in `decision`, after checking the
/// packet goes from the mote's DTLS port to the peer of `f` and echoes the hello's numbers.
fn challenged(decision: Decision, f: &FlowTag, seq: u64) -> Vec<u8> {
    let Decision::Answer(pkt) = decision else {
        panic!("expected the border router's HelloVerifyRequest, got {decision:?}");
    };
    let p = ip(&pkt);
    assert_eq!((p.src_addr(), p.dst_addr()), (f.mote_addr, f.peer_addr));
    let Transport::Udp(udp) = p.transport() else {
        panic!("not UDP")
    };
    assert_eq!((udp.src_port(), udp.dst_port()), (f.mote_port, f.peer_port));
    let rec = udp.payload();
    assert_eq!(rec[0], 22);
    assert_eq!(
        u64::from_be_bytes([0, 0, rec[5], rec[6], rec[7], rec[8], rec[9], rec[10]]),
        seq
    );
    let hs = &rec[13..];
    assert_eq!(hs[0], 3, "HelloVerifyRequest");
    assert_eq!(
        u16::from_be_bytes([hs[4], hs[5]]),
        seq as u16,
        "message_seq"
    );
    HelloVerifyRequest::read_bytes(&hs[12..]).unwrap().cookie
}

fn diverted(d: Decision) {
    assert!(
        matches!(d, Decision::Divert(_)),
        "expected Divert, got {d:?}"
    );
}

/// The mote's answer to a resuming hello: ServerHello (stand-in), ChangeCipherSpec, Finished.
fn mote_flight() -> Vec<u8> {
    [
        record(
            22,
            0,
            1,
            &handshake(HandshakeType::ServerHello, 1, &[0; 40]),
        ),
        record(20, 0, 2, &[1]),
        record(22, 1, 0, &[0x5f; 40]),
    ]
    .concat()
}

#[test]
fn resuming_hello_is_challenged_then_handed_to_the_mote_and_ends_transferred() {
    let mut h = Hrm::new(&config(16), rng()).unwrap();
    let t = Instant::now();
    let f = flow(40001);
    resumable(&mut h, t, &flow(40000), 3600);
    assert_eq!(h.counters().resumables_added, 1);

    // First hello: answered by the border router itself; no state, nothing to anyone else.
    let cookie = challenged(inbound(&mut h, t, &f, &hello(&ID, &[], 0)), &f, 0);
    assert_eq!(cookie.len(), 16);
    assert_eq!(h.flow_state(&f), None);
    assert_eq!(h.counters().resume_challenges, 1);
    // The same hello again gets the same cookie (stateless, bound to address and hello).
    assert_eq!(
        challenged(inbound(&mut h, t, &f, &hello(&ID, &[], 0)), &f, 0),
        cookie
    );

    // Second hello, with the cookie: to the mote, which runs the abbreviated handshake.
    assert_eq!(
        inbound(&mut h, t, &f, &hello(&ID, &cookie, 1)),
        Decision::Forward
    );
    assert_eq!(h.flow_state(&f), Some(FlowState::Resuming));
    assert_eq!(h.counters().resume_to_mote, 1);
    h.handle_outbound(t, &ip(&from_mote(&f, &mote_flight())));
    assert_eq!(h.flow_state(&f), Some(FlowState::Resuming));

    // The client's ChangeCipherSpec and Finished go to the mote too, and its first request.
    let last_flight = [record(20, 0, 2, &[1]), record(22, 1, 0, &[0x3c; 40])].concat();
    assert_eq!(inbound(&mut h, t, &f, &last_flight), Decision::Forward);
    assert_eq!(
        inbound(&mut h, t, &f, &record(23, 1, 1, &[0xa5; 24])),
        Decision::Forward
    );
    // The mote's application data shows the session: Transferred, like after a transfer.
    h.handle_outbound(t, &ip(&from_mote(&f, &record(23, 1, 1, &[0x77; 24]))));
    assert_eq!(h.flow_state(&f), Some(FlowState::Transferred));
    assert_eq!(h.counters().resumed, 1);
    assert_eq!(
        h.counters().divert,
        0,
        "the IoTSSP saw nothing of the resumption"
    );
    assert_eq!(h.counters().app_data_to_ssp, 0);
}

#[test]
fn what_the_hrm_cannot_vouch_for_goes_to_the_iotssp() {
    let mut h = Hrm::new(&config(16), rng()).unwrap();
    let t = Instant::now();
    let f = flow(40001);
    // Nothing resumable yet: a hello with an id goes the usual way.
    diverted(inbound(&mut h, t, &f, &hello(&ID, &[], 0)));
    resumable(&mut h, t, &flow(40000), 10);
    // An unknown id, no id, a cookie that is not the border router's (the IoTSSP's, the
    // mote's "full"): the usual way.
    diverted(inbound(&mut h, t, &flow(1), &hello(&[9; 16], &[], 0)));
    diverted(inbound(&mut h, t, &flow(2), &hello(&[], &[], 0)));
    diverted(inbound(&mut h, t, &flow(3), &hello(&ID, b"full", 1)));
    diverted(inbound(&mut h, t, &flow(4), &hello(&ID, &[0xcc; 16], 1)));
    // A cookie made for another client address or port does not transfer.
    let cookie = challenged(
        inbound(&mut h, t, &flow(5), &hello(&ID, &[], 0)),
        &flow(5),
        0,
    );
    diverted(inbound(&mut h, t, &flow(6), &hello(&ID, &cookie, 1)));
    // The same id at another mote is another session.
    let elsewhere = FlowTag {
        mote_addr: other_mote(),
        ..flow(7)
    };
    diverted(inbound(&mut h, t, &elsewhere, &hello(&ID, &[], 0)));
    // Expired: the usual way, and the sweep forgets it.
    let later = t + Duration::from_secs(10);
    diverted(inbound(&mut h, later, &flow(8), &hello(&ID, &[], 0)));
    h.handle_timeout(later + Duration::from_secs(1));
    assert_eq!(h.counters().resumables_expired, 1);
    assert_eq!(h.counters().resume_to_mote, 0);
}

#[test]
fn an_iotssp_names_sessions_only_of_its_own_motes() {
    let mut h = Hrm::new(&config(16), rng()).unwrap();
    let t = Instant::now();
    let theirs = FlowTag {
        mote_addr: other_mote(),
        ..flow(40000)
    };
    let msg = RedirectMessage::SessionResumable {
        flow: theirs,
        lifetime_secs: 60,
        session_id: &ID,
    };
    assert!(matches!(
        h.handle_ssp_message(t, &ssp_a(), &msg),
        Err(SspReject::NotOwner { .. })
    ));
    assert_eq!(h.counters().resumables_added, 0);
    diverted(inbound(&mut h, t, &theirs, &hello(&ID, &[], 0)));
}

/// A SessionResumable counts only for the session the mote holds on its flow, from that
/// mote's IoTSSP, once: a copy before the FlowTransferred (reordered), after the flow was
/// forgotten, for a mote another IoTSSP serves or one no IoTSSP serves keeps nothing, and
/// a later copy of an applied one changes nothing, even after the mote's fallback made the
/// border router forget the id. No client hello naming such an id reaches a mote.
#[test]
fn a_session_resumable_counts_only_once_for_a_session_its_iotssp_transferred() {
    let mut h = Hrm::new(
        &HrmConfig {
            session_idle_secs: 60,
            ..config(16)
        },
        rng(),
    )
    .unwrap();
    let t = Instant::now();
    let f = flow(40000);
    let msg = |f: FlowTag, id: &'static [u8]| RedirectMessage::SessionResumable {
        flow: f,
        lifetime_secs: 3600,
        session_id: id,
    };
    // Before its FlowTransferred (a reordered copy): refused, nothing kept.
    diverted(inbound(&mut h, t, &f, &hello(&[], &[], 0)));
    assert!(matches!(
        h.handle_ssp_message(t, &ssp_a(), &msg(f, &ID)),
        Err(SspReject::NoSession { .. })
    ));
    assert_eq!(h.counters().resumables_without_session, 1);
    diverted(inbound(&mut h, t, &flow(1), &hello(&ID, &[], 0)));
    // After it: applied; later copies are accepted (the IoTSSP is acknowledged) and
    // change nothing.
    transferred(&mut h, t, &f);
    for _ in 0..3 {
        assert_eq!(h.handle_ssp_message(t, &ssp_a(), &msg(f, &ID)), Ok(None));
    }
    assert_eq!(h.counters().resumables_added, 1);
    assert_eq!(h.counters().resumables_repeated, 2);
    // The same FlowTransferred again keeps the mark.
    transferred(&mut h, t, &f);
    assert_eq!(h.handle_ssp_message(t, &ssp_a(), &msg(f, &ID)), Ok(None));
    assert_eq!(h.counters().resumables_added, 1);

    // The mote does not hold it any more: its fallback makes the border router forget it,
    // and a late copy does not bring it back.
    let c = flow(2);
    let cookie = challenged(inbound(&mut h, t, &c, &hello(&ID, &[], 0)), &c, 0);
    assert_eq!(
        inbound(&mut h, t, &c, &hello(&ID, &cookie, 1)),
        Decision::Forward
    );
    let full = record(
        22,
        0,
        1,
        &handshake(
            HandshakeType::HelloVerifyRequest,
            1,
            &[0xfe, 0xff, 4, b'f', b'u', b'l', b'l'],
        ),
    );
    h.handle_outbound(t, &ip(&from_mote(&c, &full)));
    assert_eq!(h.counters().resume_mote_fallbacks, 1);
    assert_eq!(h.handle_ssp_message(t, &ssp_a(), &msg(f, &ID)), Ok(None));
    diverted(inbound(&mut h, t, &flow(3), &hello(&ID, &[], 0)));

    // Another IoTSSP, for a session this mote holds: refused, whatever the id.
    let b = SspName::new("ssp-b");
    for id in [&ID[..], &[0x42; 32][..]] {
        let m = RedirectMessage::SessionResumable {
            flow: f,
            lifetime_secs: 3600,
            session_id: id,
        };
        assert!(matches!(
            h.handle_ssp_message(t, &b, &m),
            Err(SspReject::NotOwner { .. })
        ));
    }
    diverted(inbound(&mut h, t, &flow(4), &hello(&[0x42; 32], &[], 0)));
    // A mote no IoTSSP serves, or the mote's other ports: refused.
    for flow in [
        FlowTag {
            mote_addr: "2001:db8:1::77".parse().unwrap(),
            ..f
        },
        FlowTag {
            mote_port: 5685,
            ..f
        },
    ] {
        assert!(matches!(
            h.handle_ssp_message(t, &ssp_a(), &msg(flow, &[0x42; 32])),
            Err(SspReject::NotOwner { .. })
        ));
    }
    // An acknowledgement is the border router's to send, not an IoTSSP's.
    let ack = RedirectMessage::ResumableAck {
        flow: f,
        session_id: &ID,
    };
    assert!(matches!(
        h.handle_ssp_message(t, &ssp_a(), &ack),
        Err(SspReject::WrongDirection { .. })
    ));

    // The session forgotten idle: a copy keeps nothing.
    let later = t + Duration::from_secs(61);
    h.handle_timeout(later);
    assert_eq!(h.flow_state(&f), None);
    assert!(matches!(
        h.handle_ssp_message(later, &ssp_a(), &msg(f, &[0x42; 32])),
        Err(SspReject::NoSession { .. })
    ));
    diverted(inbound(
        &mut h,
        later,
        &flow(5),
        &hello(&[0x42; 32], &[], 0),
    ));
    assert_eq!(h.counters().resumables_added, 1);
    assert_eq!(h.counters().resume_to_mote, 1);
}

#[test]
fn the_motes_fallback_forgets_the_session_and_the_client_gets_a_full_handshake() {
    let mut h = Hrm::new(&config(16), rng()).unwrap();
    let t = Instant::now();
    let f = flow(40001);
    resumable(&mut h, t, &flow(40000), 3600);
    let cookie = challenged(inbound(&mut h, t, &f, &hello(&ID, &[], 0)), &f, 0);
    assert_eq!(
        inbound(&mut h, t, &f, &hello(&ID, &cookie, 1)),
        Decision::Forward
    );
    // The mote lost the session (rebooted, evicted): its HelloVerifyRequest "full".
    let full = record(
        22,
        0,
        1,
        &handshake(
            HandshakeType::HelloVerifyRequest,
            1,
            &[0xfe, 0xff, 4, b'f', b'u', b'l', b'l'],
        ),
    );
    h.handle_outbound(t, &ip(&from_mote(&f, &full)));
    assert_eq!(h.flow_state(&f), None);
    assert_eq!(h.counters().resume_mote_fallbacks, 1);
    // The client's hello with the mote's cookie, and any later hello naming the id: IoTSSP.
    diverted(inbound(&mut h, t, &f, &hello(&ID, b"full", 2)));
    assert_eq!(h.flow_state(&f), Some(FlowState::Delegating));
    diverted(inbound(&mut h, t, &flow(9), &hello(&ID, &[], 0)));
}

#[test]
fn a_mote_is_woken_at_most_once_per_spacing_and_not_for_unanswered_retries() {
    let mut h = Hrm::new(&config(16), rng()).unwrap();
    let t = Instant::now();
    resumable(&mut h, t, &flow(40000), 3600);
    let (a, b) = (flow(1), flow(2));
    let ca = challenged(inbound(&mut h, t, &a, &hello(&ID, &[], 0)), &a, 0);
    let cb = challenged(inbound(&mut h, t, &b, &hello(&ID, &[], 0)), &b, 0);
    assert_eq!(
        inbound(&mut h, t, &a, &hello(&ID, &ca, 1)),
        Decision::Forward
    );
    // Another client within the spacing: the IoTSSP's full handshake instead.
    diverted(inbound(
        &mut h,
        t + Duration::from_millis(50),
        &b,
        &hello(&ID, &cb, 1),
    ));
    assert_eq!(h.counters().resume_to_ssp, 1);
    // A's retransmission a second later still goes to the mote; the mote never answers,
    // so the next one goes to the IoTSSP.
    assert_eq!(
        inbound(&mut h, t + Duration::from_secs(1), &a, &hello(&ID, &ca, 1)),
        Decision::Forward
    );
    diverted(inbound(
        &mut h,
        t + Duration::from_secs(3),
        &a,
        &hello(&ID, &ca, 1),
    ));
    assert_eq!(h.flow_state(&a), Some(FlowState::Delegating));
    assert_eq!(h.counters().resume_to_mote, 2);
}

#[test]
fn resuming_flows_are_bounded_by_the_table_and_expire_idle() {
    let mut h = Hrm::new(
        &HrmConfig {
            handshake_idle_secs: 5,
            ..config(2)
        },
        rng(),
    )
    .unwrap();
    let t = Instant::now();
    // Three sessions into a table of two: the one closer to its end makes room.
    resumable(&mut h, t, &flow(40000), 100);
    for id in [[3; 8], [2; 8]] {
        let msg = RedirectMessage::SessionResumable {
            flow: flow(40000),
            lifetime_secs: 3600,
            session_id: &id,
        };
        h.handle_ssp_message(t, &ssp_a(), &msg).unwrap();
    }
    assert_eq!(h.counters().resumables_evicted, 1);
    diverted(inbound(&mut h, t, &flow(1), &hello(&ID, &[], 0)));
    let c = challenged(
        inbound(&mut h, t, &flow(1), &hello(&[2; 8], &[], 0)),
        &flow(1),
        0,
    );
    assert_eq!(
        inbound(&mut h, t, &flow(1), &hello(&[2; 8], &c, 1)),
        Decision::Forward
    );
    // The flow table (max_flows 2) is full: another resuming client gets no entry and
    // takes the usual way.
    let later = t + Duration::from_secs(1);
    let c2 = challenged(
        inbound(&mut h, later, &flow(2), &hello(&[2; 8], &[], 0)),
        &flow(2),
        0,
    );
    diverted(inbound(&mut h, later, &flow(2), &hello(&[2; 8], &c2, 1)));
    assert!(h.counters().flows_refused >= 1);
    // Idle for handshake_idle_secs: forgotten.
    h.handle_timeout(t + Duration::from_secs(6));
    assert_eq!(h.flow_state(&flow(1)), None);
    assert_eq!(h.counters().resumes_expired, 1);
}

#[test]
fn every_record_of_a_resuming_flow_goes_to_the_mote() {
    for content in [20u8, 21, 22, 23] {
        for epoch in [0, 1] {
            for policy in [UnknownFlowPolicy::Forward, UnknownFlowPolicy::Drop] {
                let r = RecordSummary {
                    content_type: ContentType::from(content),
                    epoch,
                    sequence_number: 0,
                    handshake_type: None,
                    range: 0..13,
                };
                assert_eq!(
                    route_record(Some(FlowState::Resuming), &r, policy),
                    RecordRoute::Mote
                );
            }
        }
    }
}

/// Outbound resumption by the mote: its own ClientHello with a session id makes the flow
/// Resuming, so the server's HelloVerifyRequest and flight go to the mote, not the IoTSSP;
/// the mote's application data ends it Transferred. A server that does not resume sends the
/// mote back to its IoTSSP, whose Emit on the flow makes the server's handshake its own again.
#[test]
fn a_mote_that_resumes_with_its_server_gets_the_servers_answers() {
    let mut h = Hrm::new(&config(16), rng()).unwrap();
    let t = Instant::now();
    let server = flow(5684);
    // Without a hello from the mote, a server's handshake goes to the IoTSSP.
    diverted(inbound(&mut h, t, &server, &mote_flight()));
    assert_eq!(h.flow_state(&server), None);

    h.handle_outbound(t, &ip(&from_mote(&server, &hello(&ID, &[], 0))));
    assert_eq!(h.flow_state(&server), Some(FlowState::Resuming));
    assert_eq!(h.counters().mote_resumes_started, 1);
    let hvr = record(
        22,
        0,
        0,
        &handshake(HandshakeType::HelloVerifyRequest, 0, &[0xfe, 0xff, 2, 9, 9]),
    );
    assert_eq!(inbound(&mut h, t, &server, &hvr), Decision::Forward);
    // The hello again with the server's cookie: the same abbreviated handshake.
    h.handle_outbound(t, &ip(&from_mote(&server, &hello(&ID, &[9, 9], 1))));
    assert_eq!(h.counters().mote_resumes_started, 1);
    assert_eq!(
        inbound(&mut h, t, &server, &mote_flight()),
        Decision::Forward
    );
    let last_flight = [record(20, 0, 2, &[1]), record(22, 1, 0, &[0x3c; 40])].concat();
    h.handle_outbound(t, &ip(&from_mote(&server, &last_flight)));
    assert_eq!(h.flow_state(&server), Some(FlowState::Resuming));
    h.handle_outbound(t, &ip(&from_mote(&server, &record(23, 1, 1, &[0x77; 24]))));
    assert_eq!(h.flow_state(&server), Some(FlowState::Transferred));
    assert_eq!(
        inbound(&mut h, t, &server, &record(23, 1, 1, &[0xa5; 24])),
        Decision::Forward
    );
    assert_eq!(
        h.counters().divert,
        1,
        "only the first, before the mote's hello"
    );

    // Another server does not resume: the mote asks its IoTSSP, whose ClientHello (an Emit)
    // ends the mote's attempt, and the server's answers go to the IoTSSP again.
    let other = flow(5685);
    h.handle_outbound(t, &ip(&from_mote(&other, &hello(&ID, &[], 0))));
    assert_eq!(h.flow_state(&other), Some(FlowState::Resuming));
    let emit = RedirectMessage::Emit {
        flow: other,
        datagram: &hello(&[], &[], 0),
    };
    assert!(h.handle_ssp_message(t, &ssp_a(), &emit).unwrap().is_some());
    assert_eq!(h.flow_state(&other), None);
    diverted(inbound(&mut h, t, &other, &mote_flight()));
    // A hello without an id from the radio changes nothing.
    let third = flow(5686);
    h.handle_outbound(t, &ip(&from_mote(&third, &hello(&[], &[], 0))));
    assert_eq!(h.flow_state(&third), None);
    assert_eq!(h.counters().mote_resumes_started, 2);
}
