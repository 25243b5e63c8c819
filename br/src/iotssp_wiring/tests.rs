//! The wiring core with the real sans-IO parts (HRM, attached `Iotssp`, redirect
//! channels) and no sockets: packets in, actions out.

use super::*;
use crate::config::Config;
use dtls::cert::ChainVerifier;
use dtls::{ClientConfig, Connection};
use lowpan::CheckedIpv6Packet;
use lowpan::ip::{Ipv6Packet, UdpPacket};
use redirect::{ChannelConfig, FlowTag, KeyRing, RedirectChannel, RedirectKey, RedirectMessage};
use std::sync::Arc;
use std::time::Duration;

const PEER: &str = "fd00:beef::2";
const OWN: &str = "fd00:aaaa::1";
/// Mote 1 (EUI-64 00:12:4b:00:00:00:00:01) under fd00:aaaa::/64: delegated.
const MOTE1: &str = "fd00:aaaa::212:4b00:0:1";
/// Mote 2: passthrough.
const MOTE2: &str = "fd00:aaaa::212:4b00:0:2";
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn data(name: &str) -> String {
    format!("{}/../dtls/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A br configuration with mote 1 delegated to an attached IoTSSP and mote 2 passthrough,
/// plus `extra` (remote IoTSSPs...). The directory holds the iotssp file.
pub(crate) fn setup(extra: &str) -> (tempfile::TempDir, IotsspWiring) {
    let dir = tempfile::tempdir().unwrap();
    let ssp = format!(
        r#"name = "ssp-a"
[[motes]]
name = "mote-1"
address = "{MOTE1}"
certificate_chain = "{}"
private_key = "{}"
psk_identity = "mote-1"
psk = "30313233343536373839616263646566"
leg = "psk-handshake"
[trust]
anchors = "{}"
[authorization]
default = "allow"
"#,
        data("server.pem"),
        data("server.key"),
        data("ca.pem")
    );
    let ssp_path = dir.path().join("iotssp.toml");
    std::fs::write(&ssp_path, ssp).unwrap();
    let text = format!(
        r#"[network]
prefix = "fd00:aaaa::/64"
address = "{OWN}"
[[mote]]
eui64 = "00:12:4b:00:00:00:00:01"
policy = "delegate"
iotssp = "ssp-a"
[[mote]]
eui64 = "00:12:4b:00:00:00:00:02"
[[iotssp]]
name = "ssp-a"
attached = true
config = "{}"
{extra}"#,
        ssp_path.display()
    );
    let cfg = Config::load_str(&text, Path::new("t.toml"), Vec::<(String, String)>::new()).unwrap();
    let r = build(
        &cfg,
        Instant::now(),
        SystemTime::now(),
        7,
        dtls::provider::SeededRandom::shared([0x5e; 32]),
    )
    .unwrap()
    .expect("IoTSSPs configured");
    (dir, r)
}

fn client() -> Connection {
    let verifier =
        ChainVerifier::from_pem(&std::fs::read_to_string(data("ca.pem")).unwrap()).unwrap();
    let cfg = Arc::new(ClientConfig::ecdhe(verifier, None));
    Connection::connect(Instant::now(), SocketAddr::new(a(MOTE1).into(), 5684), cfg).unwrap()
}

/// The packet as the border router hands it over: parsed once.
pub(crate) fn ip(bytes: &[u8]) -> CheckedIpv6Packet<&[u8]> {
    CheckedIpv6Packet::parse(bytes).expect("an IPv6 packet")
}

pub(crate) fn udp(src: (&str, u16), dst: (&str, u16), payload: &[u8]) -> Vec<u8> {
    hrm::build_udp_packet((a(src.0), src.1), (a(dst.0), dst.1), 64, payload).unwrap()
}

/// Parses an IPv6/UDP packet, checks its UDP checksum, returns (src, sport, dst, dport, payload).
fn parse_udp(p: &[u8]) -> (Ipv6Addr, u16, Ipv6Addr, u16, Vec<u8>) {
    let v6 = Ipv6Packet::new_checked(p).unwrap();
    assert_eq!(v6.next_header(), ip::next_header::UDP);
    assert!(
        ip::verify_checksum(
            &v6.src_addr(),
            &v6.dst_addr(),
            ip::next_header::UDP,
            v6.payload()
        ),
        "bad UDP checksum"
    );
    let u = UdpPacket::new_checked(v6.payload()).unwrap();
    (
        v6.src_addr(),
        u.src_port(),
        v6.dst_addr(),
        u.dst_port(),
        u.payload().to_vec(),
    )
}

fn actions(r: &mut IotsspWiring) -> Vec<Action> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

#[test]
fn client_hello_to_a_delegated_mote_is_diverted_and_the_cookie_comes_from_the_mote() {
    let (_d, mut r) = setup("");
    let mut c = client();
    let hello = c.poll_transmit().unwrap().contents;
    let now = Instant::now();
    let v = r.handle_tun_packet(
        now,
        SystemTime::now(),
        &ip(&udp((PEER, 40000), (MOTE1, 5684), &hello)),
    );
    assert_eq!(v, Inbound::Handled);
    assert_eq!(r.counters().diverted, 1);
    assert_eq!(r.hrm().counters().divert, 1);
    let acts = actions(&mut r);
    assert_eq!(acts.len(), 1, "{acts:?}");
    let Action::ToTun(p) = &acts[0] else {
        panic!("{acts:?}")
    };
    let (src, sport, dst, dport, payload) = parse_udp(p);
    assert_eq!((src, sport, dst, dport), (a(MOTE1), 5684, a(PEER), 40000));
    // A handshake record carrying a HelloVerifyRequest (type 3).
    assert_eq!((payload[0], payload[13]), (22, 3));
    assert_eq!(r.counters().emitted, 1);
    assert_eq!(r.attached("ssp-a").unwrap().counters().cookies_sent, 1);
}

#[test]
fn authenticated_client_makes_the_attached_iotssp_talk_to_the_mote_from_the_border_router() {
    let (_d, mut r) = setup("");
    let chain = std::fs::read_to_string(data("client.pem")).unwrap();
    let key = std::fs::read_to_string(data("client.key")).unwrap();
    let verifier =
        ChainVerifier::from_pem(&std::fs::read_to_string(data("ca.pem")).unwrap()).unwrap();
    let certified = Arc::new(dtls::cert::CertifiedKey::from_pem(&chain, &key).unwrap());
    let cfg = Arc::new(ClientConfig::ecdhe(verifier, Some(certified)));
    let mut c =
        Connection::connect(Instant::now(), SocketAddr::new(a(MOTE1).into(), 5684), cfg).unwrap();
    let now = Instant::now();
    let hello = c.poll_transmit().unwrap().contents;
    r.handle_tun_packet(
        now,
        SystemTime::now(),
        &ip(&udp((PEER, 40000), (MOTE1, 5684), &hello)),
    );
    let Some(Action::ToTun(p)) = r.poll_action() else {
        panic!("no cookie")
    };
    c.handle_datagram(now, &parse_udp(&p).4);
    // The cookie'd hello, then the client's flights, until the IoTSSP reaches for the mote:
    // only once the client's Finished is verified (it is authenticated and authorised).
    let mut to_mote = Vec::new();
    let mut flights_before_the_mote = 0;
    for _ in 0..8 {
        let mut sent = false;
        while let Some(t) = c.poll_transmit() {
            sent = true;
            r.handle_tun_packet(
                now,
                SystemTime::now(),
                &ip(&udp((PEER, 40000), (MOTE1, 5684), &t.contents)),
            );
        }
        for act in actions(&mut r) {
            match act {
                Action::ToTun(p) => c.handle_datagram(now, &parse_udp(&p).4),
                Action::ToMote(p) => to_mote.push(parse_udp(&p)),
                _ => {}
            }
        }
        if !to_mote.is_empty() || !sent {
            break;
        }
        flights_before_the_mote += 1;
    }
    assert_eq!(
        flights_before_the_mote, 1,
        "the cookie'd hello reaches nothing; the Certificate..Finished flight does"
    );
    assert!(!to_mote.is_empty());
    let (src, sport, dst, dport, payload) = &to_mote[0];
    assert_eq!(
        (*src, *sport, *dst, *dport),
        (a(OWN), DEFAULT_PORT, a(MOTE1), 5685)
    );
    assert_eq!(payload[0], 22, "the PSK ClientHello to the mote");
    assert_eq!(r.counters().attached_to_mote as usize, to_mote.len());
    assert_eq!(
        r.hrm().flow_state(&FlowTag {
            peer_addr: a(PEER),
            peer_port: 40000,
            mote_addr: a(MOTE1),
            mote_port: 5684
        }),
        Some(hrm::FlowState::Delegating)
    );
}

const DEFAULT_PORT: u16 = crate::config::DEFAULT_ATTACHED_PORT;

#[test]
fn passthrough_motes_and_other_traffic_are_bridged_untouched() {
    let (_d, mut r) = setup("");
    let hello = client().poll_transmit().unwrap().contents;
    let now = Instant::now();
    let w = SystemTime::now();
    assert_eq!(
        r.handle_tun_packet(now, w, &ip(&udp((PEER, 40000), (MOTE2, 5684), &hello))),
        Inbound::Bridge
    );
    assert_eq!(
        r.handle_tun_packet(now, w, &ip(&udp((PEER, 40000), (MOTE1, 5683), &hello))),
        Inbound::Bridge
    );
    // Not UDP (an ICMPv6 message) to a delegated mote. Bytes that are not IPv6 never reach
    // the wiring: the border router parses them once, first.
    let mut icmp = udp((PEER, 40000), (MOTE1, 5684), &hello);
    icmp[6] = lowpan::ip::next_header::ICMPV6;
    assert_eq!(r.handle_tun_packet(now, w, &ip(&icmp)), Inbound::Bridge);
    // Application data to a delegated mote goes to the mote, never to the IoTSSP.
    let app = [23u8, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 5, 0, 3, 1, 2, 3];
    assert_eq!(
        r.handle_tun_packet(now, w, &ip(&udp((PEER, 40000), (MOTE1, 5684), &app))),
        Inbound::Bridge
    );
    assert!(actions(&mut r).is_empty());
    assert_eq!(r.counters().diverted, 0);
    assert_eq!(
        r.attached("ssp-a")
            .unwrap()
            .counters()
            .app_data_records_received,
        0
    );
    assert_eq!(r.hrm().counters().forward_passthrough, 1);
}

#[test]
fn malformed_dtls_to_a_delegated_mote_is_dropped_and_counted() {
    let (_d, mut r) = setup("");
    let v = r.handle_tun_packet(
        Instant::now(),
        SystemTime::now(),
        &ip(&udp((PEER, 1), (MOTE1, 5684), &[22, 0xfe])),
    );
    assert_eq!(v, Inbound::Handled);
    assert_eq!(
        r.hrm()
            .drop_counters()
            .find(|(k, _)| *k == "dtls_truncated_header")
            .unwrap()
            .1,
        1
    );
    assert!(
        r.summary(Instant::now())
            .contains("hrm.drop.dtls_truncated_header=1")
    );
}

#[test]
fn mote_replies_to_the_attached_address_go_to_the_iotssp_not_the_tun() {
    let (_d, mut r) = setup("");
    let now = Instant::now();
    let to_ssp = udp((MOTE1, 5685), (OWN, DEFAULT_PORT), &[22, 0xfe, 0xfd]);
    assert!(r.handle_radio_packet(now, SystemTime::now(), &ip(&to_ssp)));
    assert_eq!(r.counters().mote_to_attached, 1);
    assert_eq!(r.attached("ssp-a").unwrap().counters().mote_datagrams, 1);
    // Another port of ours, or the Internet: the TUN.
    assert!(!r.handle_radio_packet(
        now,
        SystemTime::now(),
        &ip(&udp((MOTE1, 5685), (OWN, 5683), b"x"))
    ));
    assert!(!r.handle_radio_packet(
        now,
        SystemTime::now(),
        &ip(&udp((MOTE1, 5684), (PEER, 40000), b"x"))
    ));
    // A corrupt checksum is consumed and counted, never handed to the IoTSSP.
    let mut bad = to_ssp.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(r.handle_radio_packet(now, SystemTime::now(), &ip(&bad)));
    assert_eq!(r.counters().mote_to_attached_invalid, 1);
    assert_eq!(r.attached("ssp-a").unwrap().counters().mote_datagrams, 1);
}

fn remote_extra() -> String {
    format!(
        "[[iotssp]]\nname = \"ssp-b\"\naddress = \"[fd00:5::1]:7700\"\nkey = \"{KEY}\"\n\
         [[mote]]\neui64 = \"00:12:4b:00:00:00:00:03\"\npolicy = \"delegate\"\niotssp = \"ssp-b\"\n\
         [hrm]\nredirect_listen = \"[::]:7701\"\n"
    )
}

const MOTE3: &str = "fd00:aaaa::212:4b00:0:3";

#[test]
fn remote_iotssp_gets_sealed_diversions_and_its_authentic_emits_come_from_the_mote() {
    let (_d, mut r) = setup(&remote_extra());
    let now = Instant::now();
    let w = SystemTime::now();
    let hello = client().poll_transmit().unwrap().contents;
    assert_eq!(
        r.handle_tun_packet(now, w, &ip(&udp((PEER, 40000), (MOTE3, 5684), &hello))),
        Inbound::Handled
    );
    let acts = actions(&mut r);
    let [Action::Redirect { to, bytes }] = &acts[..] else {
        panic!("{acts:?}")
    };
    assert_eq!(*to, "[fd00:5::1]:7700".parse().unwrap());
    // The IoTSSP's side of the channel.
    let mut ssp = RedirectChannel::new(
        ChannelConfig::default(),
        redirect::Role::Iotssp,
        KeyRing::new(RedirectKey::from_hex(1, KEY).unwrap()),
        99,
        now,
        w,
    );
    let got = ssp.open(now, w, bytes).unwrap();
    let flow = got.message.flow();
    assert!(
        matches!(got.message, RedirectMessage::Divert { datagram, .. } if datagram == &hello[..])
    );
    let emit = ssp
        .seal(
            now,
            w,
            &RedirectMessage::Emit {
                flow,
                datagram: b"cookie",
            },
        )
        .unwrap();
    let from: SocketAddr = "[fd00:5::1]:7700".parse().unwrap();
    r.handle_redirect_datagram(now, w, from, &emit);
    let acts = actions(&mut r);
    let [Action::ToTun(p)] = &acts[..] else {
        panic!("{acts:?}")
    };
    assert_eq!(
        parse_udp(p),
        (a(MOTE3), 5684, a(PEER), 40000, b"cookie".to_vec())
    );
    // A replay: counted, nothing emitted.
    r.handle_redirect_datagram(now, w, from, &emit);
    assert!(actions(&mut r).is_empty());
    let c = r.all_counters(now);
    let get = |k: &str| c.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    assert_eq!(get("iotssp.ssp-b.redirect_replays"), Some(1));
    assert_eq!(get("redirection.emitted"), Some(1));
    // The remote IoTSSP cannot speak for the attached IoTSSP's mote.
    let flow1 = FlowTag {
        mote_addr: a(MOTE1),
        ..flow
    };
    let steal = ssp
        .seal(
            now,
            w,
            &RedirectMessage::FlowTransferred {
                flow: flow1,
                final_flight: b"x",
            },
        )
        .unwrap();
    r.handle_redirect_datagram(now, w, from, &steal);
    assert!(actions(&mut r).is_empty());
    assert_eq!(r.counters().ssp_rejected, 1);
    assert_eq!(r.hrm().flow_state(&flow1), None);
}

#[test]
fn forged_redirect_messages_are_counted_and_create_no_state() {
    let (_d, mut r) = setup(&remote_extra());
    let now = Instant::now();
    let w = SystemTime::now();
    let from: SocketAddr = "[fd00:5::1]:7700".parse().unwrap();
    let flow = FlowTag {
        peer_addr: a(PEER),
        peer_port: 1,
        mote_addr: a(MOTE3),
        mote_port: 5684,
    };
    let wrong_key = "ff".repeat(32);
    let mut forger = RedirectChannel::new(
        ChannelConfig::default(),
        redirect::Role::Iotssp,
        KeyRing::new(RedirectKey::from_hex(1, &wrong_key).unwrap()),
        5,
        now,
        w,
    );
    let forged = forger
        .seal(
            now,
            w,
            &RedirectMessage::FlowTransferred {
                flow,
                final_flight: b"fin",
            },
        )
        .unwrap();
    r.handle_redirect_datagram(now, w, from, &forged);
    r.handle_redirect_datagram(now, w, from, b"garbage");
    // From an address that is no IoTSSP.
    r.handle_redirect_datagram(now, w, "[fd00:6::1]:7700".parse().unwrap(), &forged);
    assert!(actions(&mut r).is_empty());
    assert_eq!(r.hrm().flow_count(), 0);
    assert_eq!(r.counters().redirect_unknown_source, 1);
    let c = r.all_counters(now);
    assert!(
        c.contains(&("iotssp.ssp-b.redirect_auth_failures".to_string(), 2)),
        "{c:?}"
    );
}

#[test]
fn no_panic_on_arbitrary_input() {
    use proptest::prelude::*;
    let (_d, r) = setup(&remote_extra());
    let r = std::cell::RefCell::new(r);
    let now = Instant::now();
    let w = SystemTime::now();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let header = udp((PEER, 40000), (MOTE1, 5684), &[]);
    runner
        .run(
            &(proptest::collection::vec(any::<u8>(), 0..300), any::<u8>()),
            |(bytes, how)| {
                // Raw bytes, and bytes behind a valid IPv6/UDP header to the delegated mote.
                let mut framed = header.clone();
                framed.extend_from_slice(&bytes);
                let len = (framed.len() - 40) as u16;
                framed[4..6].copy_from_slice(&len.to_be_bytes());
                framed[44..46].copy_from_slice(&len.to_be_bytes());
                let input = if how % 2 == 0 {
                    &framed[..]
                } else {
                    &bytes[..]
                };
                let mut r = r.borrow_mut();
                if let Ok(input) = CheckedIpv6Packet::parse(input) {
                    r.handle_tun_packet(now, w, &input);
                    r.handle_radio_packet(now, SystemTime::now(), &input);
                }
                r.handle_redirect_datagram(now, w, "[fd00:5::1]:7700".parse().unwrap(), input);
                while r.poll_action().is_some() {}
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        r.borrow()
            .attached("ssp-a")
            .unwrap()
            .counters()
            .app_data_records_received,
        0
    );
}

// ---- rule R12: a down remote IoTSSP ----------------------------------------------------

/// The alert record of docs/protocol.md rule R12, spelled out: Alert, DTLS 1.2, epoch 0,
/// sequence 2^47, length 2, fatal, internal_error.
const SSP_DOWN_ALERT: [u8; 15] = [0x15, 0xfe, 0xfd, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 2, 2, 80];

fn counter(r: &IotsspWiring, now: Instant, k: &str) -> u64 {
    r.all_counters(now)
        .into_iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no counter {k}"))
}

fn remote_channel(now: Instant, w: SystemTime) -> RedirectChannel {
    RedirectChannel::new(
        ChannelConfig::default(),
        redirect::Role::Iotssp,
        KeyRing::new(RedirectKey::from_hex(1, KEY).unwrap()),
        99,
        now,
        w,
    )
}

const SSP_B: &str = "[fd00:5::1]:7700";

#[test]
fn dead_iotssp_client_hello_is_answered_with_an_alert_from_the_mote_once_a_second() {
    let (_d, mut r) = setup(&remote_extra());
    let w = SystemTime::now();
    // The IoTSSP never answered the first Hello, for longer than dead_after.
    let t = Instant::now() + ChannelConfig::default().dead_after + Duration::from_millis(500);
    let hello = client().poll_transmit().unwrap().contents;
    assert_eq!(
        r.handle_tun_packet(t, w, &ip(&udp((PEER, 40000), (MOTE3, 5684), &hello))),
        Inbound::Handled
    );
    let acts = actions(&mut r);
    let [Action::ToTun(p)] = &acts[..] else {
        panic!("{acts:?}")
    };
    // From the mote's address and DTLS port, valid checksum (parse_udp checks), exact bytes.
    assert_eq!(
        parse_udp(p),
        (a(MOTE3), 5684, a(PEER), 40000, SSP_DOWN_ALERT.to_vec())
    );
    assert_eq!(counter(&r, t, "hrm.ssp_down_alerts"), 1);
    let flow = FlowTag {
        peer_addr: a(PEER),
        peer_port: 40000,
        mote_addr: a(MOTE3),
        mote_port: 5684,
    };
    assert_eq!(r.hrm().flow_state(&flow), None, "the flow is abandoned");
    // The client's retransmission within the second: nothing, not even to the IoTSSP.
    let t1 = t + Duration::from_millis(400);
    assert_eq!(
        r.handle_tun_packet(t1, w, &ip(&udp((PEER, 40000), (MOTE3, 5684), &hello))),
        Inbound::Handled
    );
    assert!(actions(&mut r).is_empty());
    assert_eq!(counter(&r, t1, "hrm.ssp_down_alerts"), 1);
    assert_eq!(counter(&r, t1, "hrm.ssp_down_silent"), 1);
    // A second later: answered again.
    let t2 = t + Duration::from_secs(1);
    r.handle_tun_packet(t2, w, &ip(&udp((PEER, 40000), (MOTE3, 5684), &hello)));
    assert!(matches!(&actions(&mut r)[..], [Action::ToTun(_)]));
    assert_eq!(counter(&r, t2, "hrm.ssp_down_alerts"), 2);
}

#[test]
fn iotssp_not_yet_heard_at_start_or_alive_gets_the_diversion() {
    let (_d, mut r) = setup(&remote_extra());
    let now = Instant::now();
    let w = SystemTime::now();
    let hello = client().poll_transmit().unwrap().contents;
    let divert_at = |r: &mut IotsspWiring, t: Instant, port: u16| {
        r.handle_tun_packet(t, w, &ip(&udp((PEER, port), (MOTE3, 5684), &hello)));
        actions(r)
    };
    // Start-up, before the first Hello round trip could fail: diverted, no alert.
    assert!(matches!(
        &divert_at(&mut r, now, 40000)[..],
        [Action::Redirect { .. }]
    ));
    // The IoTSSP answers late (after dead_after), so it is alive from then on.
    let mut ssp = remote_channel(now, w);
    let late = now + Duration::from_secs(10);
    let from: SocketAddr = SSP_B.parse().unwrap();
    r.handle_redirect_datagram(late, w, from, &ssp.poll_transmit(late, w).unwrap());
    assert!(matches!(
        &divert_at(&mut r, late + Duration::from_secs(1), 40001)[..],
        [Action::Redirect { .. }]
    ));
    // Silent for dead_after: down again, alert.
    let dead = late + ChannelConfig::default().dead_after;
    assert!(matches!(
        &divert_at(&mut r, dead, 40002)[..],
        [Action::ToTun(_)]
    ));
    assert_eq!(counter(&r, dead, "hrm.ssp_down_alerts"), 1);
    assert_eq!(counter(&r, dead, "iotssp.ssp-b.alive"), 0);
}

#[test]
fn own_messages_reflected_from_the_iotssp_address_keep_no_dead_iotssp_alive() {
    let (_d, mut r) = setup(&remote_extra());
    let now = Instant::now();
    let w = SystemTime::now();
    let from: SocketAddr = SSP_B.parse().unwrap();
    // A reflector at (or spoofing) the IoTSSP's address, with no key, sends back every
    // message the border router sends it: its Hellos and its diversions.
    let hello = client().poll_transmit().unwrap().contents;
    let mut reflected = 0;
    for s in 0..6u64 {
        let t = now + Duration::from_secs(s);
        r.handle_timeout(t, w);
        r.handle_tun_packet(
            t,
            w,
            &ip(&udp((PEER, 40000 + s as u16), (MOTE3, 5684), &hello)),
        );
        for act in actions(&mut r) {
            if let Action::Redirect { bytes, .. } = act {
                r.handle_redirect_datagram(t, w, from, &bytes);
                reflected += 1;
            }
        }
    }
    assert!(reflected >= 3, "{reflected}");
    let t = now + Duration::from_secs(6);
    assert_eq!(counter(&r, t, "iotssp.ssp-b.alive"), 0);
    assert_eq!(
        counter(&r, t, "iotssp.ssp-b.redirect_auth_failures"),
        reflected
    );
    assert!(
        counter(&r, t, "hrm.ssp_down_alerts") >= 1,
        "clients of the dead IoTSSP get the alert"
    );
}

#[test]
fn transferred_flow_keeps_working_when_its_iotssp_dies() {
    let (_d, mut r) = setup(&remote_extra());
    let now = Instant::now();
    let w = SystemTime::now();
    let from: SocketAddr = SSP_B.parse().unwrap();
    let mut ssp = remote_channel(now, w);
    let flow = FlowTag {
        peer_addr: a(PEER),
        peer_port: 40000,
        mote_addr: a(MOTE3),
        mote_port: 5684,
    };
    let done = ssp
        .seal(
            now,
            w,
            &RedirectMessage::FlowTransferred {
                flow,
                final_flight: &[],
            },
        )
        .unwrap();
    r.handle_redirect_datagram(now, w, from, &done);
    assert_eq!(r.hrm().flow_state(&flow), Some(hrm::FlowState::Transferred));
    let dead = now + Duration::from_secs(60);
    // Application data still goes to the mote, untouched.
    let app = udp(
        (PEER, 40000),
        (MOTE3, 5684),
        &[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 9],
    );
    assert_eq!(r.handle_tun_packet(dead, w, &ip(&app)), Inbound::Bridge);
    // A retransmitted final flight (epoch-1 Finished) gets no alert; the session stays.
    let fin = udp(
        (PEER, 40000),
        (MOTE3, 5684),
        &[22, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 2, 0, 1, 0],
    );
    assert_eq!(r.handle_tun_packet(dead, w, &ip(&fin)), Inbound::Handled);
    assert!(actions(&mut r).is_empty());
    assert_eq!(r.hrm().flow_state(&flow), Some(hrm::FlowState::Transferred));
    assert_eq!(counter(&r, dead, "hrm.ssp_down_alerts"), 0);
}

#[test]
fn remote_channel_takes_keepalive_and_dead_after_from_the_config() {
    let (_d, r) = setup(
        &remote_extra().replace("key = ", "keepalive_ms = 250\ndead_after_ms = 1500\nkey = "),
    );
    let Endpoint::Remote { channel, .. } = &r
        .links()
        .iter()
        .find(|l| l.name.as_str() == "ssp-b")
        .unwrap()
        .endpoint
    else {
        panic!("remote")
    };
    assert_eq!(
        (channel.config().keepalive, channel.config().dead_after),
        (Duration::from_millis(250), Duration::from_millis(1500))
    );
}

/// A remote IoTSSP's mote leg travels inside its channel both ways: its MoteDatagram goes to
/// its own mote's transfer port from its mote source, the mote's answer to that source comes
/// back as a MoteDatagram, and nothing of it goes to the TUN. Other motes and ports are
/// refused both ways.
#[test]
fn remote_iotssp_mote_leg_travels_inside_the_redirect_channel() {
    let (_d, mut r) = setup(&remote_extra());
    let now = Instant::now();
    let w = SystemTime::now();
    let from: SocketAddr = SSP_B.parse().unwrap();
    let mut ssp = remote_channel(now, w);
    let source = mote_source(from, a(OWN));
    assert_eq!(source, (a("fd00:5::1"), 7700));
    let to = |m: &str, port: u16| FlowTag {
        peer_addr: Ipv6Addr::UNSPECIFIED,
        peer_port: 0,
        mote_addr: a(m),
        mote_port: port,
    };
    let msg = ssp
        .seal(
            now,
            w,
            &RedirectMessage::MoteDatagram {
                flow: to(MOTE3, 5685),
                datagram: b"hello mote",
            },
        )
        .unwrap();
    r.handle_redirect_datagram(now, w, from, &msg);
    let acts = actions(&mut r);
    let [Action::ToMote(p)] = &acts[..] else {
        panic!("{acts:?}")
    };
    assert_eq!(
        parse_udp(p),
        (a("fd00:5::1"), 7700, a(MOTE3), 5685, b"hello mote".to_vec())
    );
    // Not its mote, not the transfer port: refused.
    for (m, port) in [(MOTE1, 5685), (MOTE3, 5684)] {
        let msg = ssp
            .seal(
                now,
                w,
                &RedirectMessage::MoteDatagram {
                    flow: to(m, port),
                    datagram: b"x",
                },
            )
            .unwrap();
        r.handle_redirect_datagram(now, w, from, &msg);
        assert!(actions(&mut r).is_empty());
    }
    assert_eq!(r.counters().ssp_rejected, 2);
    // The mote's answer to the mote source: wrapped, not for the TUN.
    assert!(r.handle_radio_packet(
        now,
        w,
        &ip(&udp((MOTE3, 5685), ("fd00:5::1", 7700), b"answer"))
    ));
    let acts = actions(&mut r);
    let [Action::Redirect { to: dst, bytes }] = &acts[..] else {
        panic!("{acts:?}")
    };
    assert_eq!(*dst, from);
    let got = ssp.open(now, w, bytes).unwrap();
    assert_eq!(
        got.message,
        RedirectMessage::MoteDatagram {
            flow: to(MOTE3, 5685),
            datagram: b"answer"
        }
    );
    // Another mote, or another port of the mote, to the mote source: dropped, not wrapped.
    assert!(r.handle_radio_packet(now, w, &ip(&udp((MOTE1, 5685), ("fd00:5::1", 7700), b"x"))));
    assert!(r.handle_radio_packet(now, w, &ip(&udp((MOTE3, 5683), ("fd00:5::1", 7700), b"x"))));
    assert!(actions(&mut r).is_empty());
    assert_eq!(
        (
            r.counters().remote_to_mote,
            r.counters().mote_to_remote,
            r.counters().mote_to_remote_refused
        ),
        (1, 1, 2)
    );
    // A loopback or IPv4 redirect address stands for the IoTSSP as the border router's own.
    assert_eq!(
        mote_source("127.0.0.1:7700".parse().unwrap(), a(OWN)),
        (a(OWN), 7700)
    );
    assert_eq!(
        mote_source("[::1]:7700".parse().unwrap(), a(OWN)),
        (a(OWN), 7700)
    );
}

/// Nothing from the TUN reaches a delegated mote's transfer port, whatever its source (the
/// Internet, the remote IoTSSP's own address, the border router's host).
#[test]
fn transfer_port_is_closed_from_the_tun() {
    let (_d, mut r) = setup(&remote_extra());
    let now = Instant::now();
    let w = SystemTime::now();
    let hello = client().poll_transmit().unwrap().contents;
    for (src, mote) in [
        (PEER, MOTE1),
        (PEER, MOTE3),
        ("fd00:5::1", MOTE3),
        (OWN, MOTE1),
        (OWN, MOTE3),
    ] {
        assert_eq!(
            r.handle_tun_packet(now, w, &ip(&udp((src, 7700), (mote, 5685), &hello))),
            Inbound::Handled,
            "{src} -> {mote}"
        );
    }
    assert!(actions(&mut r).is_empty());
    assert_eq!(counter(&r, now, "hrm.drop.transfer_port_from_internet"), 5);
    // The passthrough mote's port 5685 is not the HRM's business.
    assert_eq!(
        r.handle_tun_packet(now, w, &ip(&udp((PEER, 7700), (MOTE2, 5685), &hello))),
        Inbound::Bridge
    );
}

/// A remote IoTSSP's SessionResumable is acknowledged with a ResumableAck over its channel,
/// each accepted copy again (the IoTSSP sends it until acknowledged); a copy that arrives
/// before the flow's FlowTransferred, a forged one, or one from an IoTSSP that does not
/// serve the mote is neither applied nor acknowledged.
#[test]
fn a_remote_iotssps_session_resumable_is_acknowledged_once_applied() {
    let (_d, mut r) = setup(&remote_extra());
    let now = Instant::now();
    let w = SystemTime::now();
    let from: SocketAddr = SSP_B.parse().unwrap();
    let mut ssp = remote_channel(now, w);
    let flow = FlowTag {
        peer_addr: a(PEER),
        peer_port: 40000,
        mote_addr: a(MOTE3),
        mote_port: 5684,
    };
    let id = [0x1d; 16];
    let resumable = |ssp: &mut RedirectChannel, flow: FlowTag| {
        ssp.seal(
            now,
            w,
            &RedirectMessage::SessionResumable {
                flow,
                lifetime_secs: 3600,
                session_id: &id,
            },
        )
        .unwrap()
    };
    let acks = |r: &mut IotsspWiring, ssp: &mut RedirectChannel| -> Vec<(FlowTag, Vec<u8>)> {
        actions(r)
            .into_iter()
            .map(|act| {
                let Action::Redirect { to, bytes } = act else {
                    panic!("{act:?}")
                };
                assert_eq!(to, from);
                match ssp.open(now, w, &bytes).unwrap().message {
                    RedirectMessage::ResumableAck { flow, session_id } => {
                        (flow, session_id.to_vec())
                    }
                    m => panic!("{m:?}"),
                }
            })
            .collect()
    };
    // Before its FlowTransferred (reordered): not applied, not acknowledged.
    let early = resumable(&mut ssp, flow);
    r.handle_redirect_datagram(now, w, from, &early);
    assert!(acks(&mut r, &mut ssp).is_empty());
    assert_eq!(counter(&r, now, "hrm.resumables_without_session"), 1);
    let transferred = ssp
        .seal(
            now,
            w,
            &RedirectMessage::FlowTransferred {
                flow,
                final_flight: &[],
            },
        )
        .unwrap();
    r.handle_redirect_datagram(now, w, from, &transferred);
    // The next copy: applied and acknowledged; a later one acknowledged again.
    for _ in 0..2 {
        let copy = resumable(&mut ssp, flow);
        r.handle_redirect_datagram(now, w, from, &copy);
        assert_eq!(acks(&mut r, &mut ssp), [(flow, id.to_vec())]);
    }
    assert_eq!(counter(&r, now, "hrm.resumables_added"), 1);
    assert_eq!(counter(&r, now, "hrm.resumables_repeated"), 1);
    assert_eq!(r.counters().resumable_acks, 2);
    // A copy replayed, one under a key nobody configured, one for the attached IoTSSP's
    // mote: nothing applied, nothing acknowledged.
    let copy = resumable(&mut ssp, flow);
    r.handle_redirect_datagram(now, w, from, &copy);
    let _ = actions(&mut r);
    r.handle_redirect_datagram(now, w, from, &copy);
    let mut forger = RedirectChannel::new(
        ChannelConfig::default(),
        redirect::Role::Iotssp,
        KeyRing::new(RedirectKey::from_hex(1, &"ff".repeat(32)).unwrap()),
        5,
        now,
        w,
    );
    let forged = resumable(&mut forger, flow);
    r.handle_redirect_datagram(now, w, from, &forged);
    let theirs = FlowTag {
        mote_addr: a(MOTE1),
        ..flow
    };
    let stolen = resumable(&mut ssp, theirs);
    r.handle_redirect_datagram(now, w, from, &stolen);
    assert!(actions(&mut r).is_empty());
    assert_eq!(r.counters().resumable_acks, 3);
    assert_eq!(counter(&r, now, "hrm.resumables_added"), 1);
}
