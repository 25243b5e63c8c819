//! The mote against a border router made of the same `lowpan` codec: packets in as
//! frames, frames out decoded back to packets and checked field by field.

use super::*;
use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};

const ROUTER: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0xff, 0x01]);
const MOTE: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x01]);
const PAN: u16 = 0xabcd;

fn prefix() -> Ipv6Addr {
    "fd00:aaaa::".parse().unwrap()
}

fn inet() -> Ipv6Addr {
    "fd00:beef::2".parse().unwrap()
}

fn mote_global() -> Ipv6Addr {
    with_iid(prefix(), ip::iid_from_eui64(MOTE))
}

fn mote(prefix: Option<Ipv6Addr>, now: Instant) -> Mote {
    Mote::new(
        MoteConfig {
            index: 1,
            eui64: MOTE,
            pan_id: PAN,
            router: ROUTER,
            prefix,
            rpl: false,
            register_lifetime_min: None,
            sixlowpan_router: false,
        },
        now,
    )
}

/// The border router's end of the link.
struct Router {
    encoder: Encoder,
    reassembler: Reassembler,
    seq: u8,
}

impl Router {
    fn new() -> Self {
        let ctx = ContextTable::with_prefix(prefix(), 64);
        Router {
            encoder: Encoder::new(ctx.clone()),
            reassembler: Reassembler::new(ctx),
            seq: 0,
        }
    }

    fn frames(&mut self, packet: &[u8], dst: Address) -> Vec<Vec<u8>> {
        let src = Address::Extended(ROUTER);
        let probe = FrameRepr::data(PAN, src, dst, 0, false);
        let payloads = self
            .encoder
            .encode(
                packet,
                LinkAddrs { src, dst },
                ieee802154::max_frame_payload(&probe),
            )
            .unwrap();
        payloads
            .iter()
            .map(|p| {
                self.seq = self.seq.wrapping_add(1);
                ieee802154::build_data_frame(
                    &FrameRepr::data(PAN, src, dst, self.seq, !dst.is_broadcast()),
                    p,
                )
            })
            .collect()
    }

    /// Frames the mote sent, back to packets.
    fn packets(&mut self, now: Instant, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for f in frames {
            assert!(f.len() <= ieee802154::MAX_FRAME_NO_FCS);
            let (repr, payload) = ieee802154::parse_frame(f).unwrap();
            assert_eq!(repr.src_addr, Address::Extended(MOTE));
            assert_eq!(repr.ack_request, !repr.dst_addr.is_broadcast());
            let links = LinkAddrs {
                src: repr.src_addr,
                dst: repr.dst_addr,
            };
            if let Some(p) = self.reassembler.accept(now, links, payload).unwrap() {
                out.push(p);
            }
        }
        out
    }
}

fn exchange(m: &mut Mote, r: &mut Router, now: Instant, packet: &[u8]) -> Vec<Vec<u8>> {
    let mut sent = Vec::new();
    for f in r.frames(packet, Address::Extended(MOTE)) {
        sent.extend(m.handle_frame(now, &f));
    }
    r.packets(now, &sent)
}

fn echo_request(src: Ipv6Addr, dst: Ipv6Addr, data_len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..data_len).map(|i| i as u8).collect();
    let msg = Icmpv6Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 1,
        data: &data,
    };
    icmp_packet(src, dst, 64, &msg)
}

fn check_icmp(packet: &[u8]) -> (Ipv6Addr, Ipv6Addr, Vec<u8>) {
    let p = Ipv6Packet::new_checked(packet).unwrap();
    assert_eq!(p.next_header(), next_header::ICMPV6);
    assert!(
        ip::verify_checksum(
            &p.src_addr(),
            &p.dst_addr(),
            next_header::ICMPV6,
            p.payload()
        ),
        "bad checksum"
    );
    (p.src_addr(), p.dst_addr(), p.payload().to_vec())
}

#[test]
fn router_solicitation_at_start_and_retried() {
    let t0 = Instant::now();
    let mut m = mote(None, t0);
    assert_eq!(m.poll_timeout(), Some(t0));
    let frames = m.handle_timeout(t0);
    assert_eq!(frames.len(), 1);
    let (repr, _) = ieee802154::parse_frame(&frames[0]).unwrap();
    assert_eq!(repr.dst_addr, Address::BROADCAST);
    let mut r = Router::new();
    let packets = r.packets(t0, &frames);
    let (src, dst, msg) = check_icmp(&packets[0]);
    assert_eq!(src, ip::link_local_from_eui64(MOTE));
    assert_eq!(dst, ALL_ROUTERS);
    assert_eq!(msg[0], msg_type::ROUTER_SOLICIT);
    assert_eq!(
        Ipv6Packet::new_checked(&packets[0][..])
            .unwrap()
            .hop_limit(),
        255
    );
    // Nothing until the retry, then another.
    assert!(m.handle_timeout(t0 + Duration::from_secs(1)).is_empty());
    let next = m.poll_timeout().unwrap();
    assert_eq!(m.handle_timeout(next).len(), 1);
    assert_eq!(m.counters().rs_sent, 2);
}

fn router_advert() -> Vec<u8> {
    let msg = Icmpv6Repr::Ndisc(sample_ra(ROUTER));
    icmp_packet(ip::link_local_from_eui64(ROUTER), ALL_NODES, 255, &msg)
}

#[test]
fn router_advert_configures_prefix_and_context() {
    let t0 = Instant::now();
    let mut m = mote(None, t0);
    m.handle_timeout(t0);
    assert_eq!(m.global(), None);
    let mut r = Router::new();
    for f in r.frames(&router_advert(), Address::BROADCAST) {
        assert!(m.handle_frame(t0, &f).is_empty());
    }
    assert_eq!(m.global(), Some(mote_global()));
    assert_eq!(m.counters().ra_received, 1);
    assert_eq!(
        m.contexts.get(0).map(|c| (c.prefix, c.len)),
        Some((prefix(), 64))
    );
    // No more solicitations.
    assert!(m.handle_timeout(t0 + Duration::from_secs(3600)).is_empty());
    // And the global address answers, with context-0 compression towards the router.
    let replies = exchange(&mut m, &mut r, t0, &echo_request(inet(), mote_global(), 8));
    assert_eq!(check_icmp(&replies[0]).0, mote_global());
}

#[test]
fn echo_request_gets_reply_with_valid_checksum() {
    let t0 = Instant::now();
    let mut m = mote(Some(prefix()), t0);
    let mut r = Router::new();
    let req = echo_request(inet(), mote_global(), 16);
    let replies = exchange(&mut m, &mut r, t0, &req);
    assert_eq!(replies.len(), 1);
    let (src, dst, msg) = check_icmp(&replies[0]);
    assert_eq!((src, dst), (mote_global(), inet()));
    assert_eq!(msg[0], msg_type::ECHO_REPLY);
    let req_msg = &req[ip::IPV6_HEADER_LEN..];
    assert_eq!(
        &msg[4..],
        &req_msg[4..],
        "identifier, sequence and data echoed"
    );
    assert_eq!(m.counters().echo_requests, 1);
    // Link-local echo from the router's link-local address.
    let ll = ip::link_local_from_eui64(ROUTER);
    let req = echo_request(ll, m.link_local(), 4);
    let replies = exchange(&mut m, &mut r, t0, &req);
    assert_eq!(check_icmp(&replies[0]).1, ll);
}

#[test]
fn big_echo_is_fragmented_both_ways() {
    let t0 = Instant::now();
    let mut m = mote(Some(prefix()), t0);
    let mut r = Router::new();
    let req = echo_request(inet(), mote_global(), 1232);
    assert_eq!(req.len(), 40 + 8 + 1232);
    let in_frames = r.frames(&req, Address::Extended(MOTE));
    assert!(in_frames.len() > 10);
    let mut out = Vec::new();
    for f in &in_frames {
        out.extend(m.handle_frame(t0, f));
    }
    assert!(out.len() > 10, "reply fragmented");
    let replies = r.packets(t0, &out);
    assert_eq!(replies.len(), 1);
    let (_, _, msg) = check_icmp(&replies[0]);
    assert_eq!(msg.len(), 8 + 1232);
    assert_eq!(m.counters().frames_out, out.len() as u64);
}

fn udp_to_mote(dport: u16, payload: &[u8]) -> Vec<u8> {
    udp_packet(inet(), 40000, mote_global(), dport, payload)
}

fn check_udp(packet: &[u8]) -> (u16, u16, Vec<u8>) {
    let p = Ipv6Packet::new_checked(packet).unwrap();
    assert_eq!(p.next_header(), next_header::UDP);
    assert!(ip::verify_checksum(
        &p.src_addr(),
        &p.dst_addr(),
        next_header::UDP,
        p.payload()
    ));
    let u = UdpPacket::new_checked(p.payload()).unwrap();
    (u.src_port(), u.dst_port(), u.payload().to_vec())
}

#[test]
fn udp_echo_on_port_7() {
    let t0 = Instant::now();
    let mut m = mote(Some(prefix()), t0);
    let mut r = Router::new();
    let replies = exchange(&mut m, &mut r, t0, &udp_to_mote(ECHO_PORT, b"hello mote"));
    assert_eq!(
        check_udp(&replies[0]),
        (ECHO_PORT, 40000, b"hello mote".to_vec())
    );
    assert_eq!(m.counters().served.get("echo"), Some(&1));
}

fn coap_get(path: &str, mid: u16) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(RequestType::Get);
    p.header.message_id = mid;
    p.set_token(vec![1, 2, 3, 4]);
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
    }
    p.to_bytes().unwrap()
}

#[test]
fn coap_well_known_core_and_temperature() {
    let t0 = Instant::now();
    let mut m = mote(Some(prefix()), t0);
    let mut r = Router::new();
    let replies = exchange(
        &mut m,
        &mut r,
        t0,
        &udp_to_mote(COAP_PORT, &coap_get("/.well-known/core", 10)),
    );
    let (sport, _, body) = check_udp(&replies[0]);
    assert_eq!(sport, COAP_PORT);
    let resp = Packet::from_bytes(&body).unwrap();
    assert_eq!(resp.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(resp.header.message_id, 10);
    assert_eq!(
        resp.header.code,
        MessageClass::Response(ResponseType::Content)
    );
    assert!(
        String::from_utf8(resp.payload)
            .unwrap()
            .contains("</sensors/temp>")
    );

    let replies = exchange(
        &mut m,
        &mut r,
        t0,
        &udp_to_mote(COAP_PORT, &coap_get("/sensors/temp", 11)),
    );
    let resp = Packet::from_bytes(&check_udp(&replies[0]).2).unwrap();
    assert_eq!(
        resp.header.code,
        MessageClass::Response(ResponseType::Content)
    );
    let t: f32 = String::from_utf8(resp.payload).unwrap().parse().unwrap();
    assert!((20.0..25.0).contains(&t));

    let replies = exchange(
        &mut m,
        &mut r,
        t0,
        &udp_to_mote(COAP_PORT, &coap_get("/missing", 12)),
    );
    let resp = Packet::from_bytes(&check_udp(&replies[0]).2).unwrap();
    assert_eq!(
        resp.header.code,
        MessageClass::Response(ResponseType::NotFound)
    );
    assert_eq!(m.counters().served.get("coap"), Some(&3));
}

#[test]
fn closed_port_gets_port_unreachable() {
    let t0 = Instant::now();
    let mut m = mote(Some(prefix()), t0);
    let mut r = Router::new();
    let replies = exchange(&mut m, &mut r, t0, &udp_to_mote(9999, b"x"));
    let (_, dst, msg) = check_icmp(&replies[0]);
    assert_eq!(dst, inet());
    assert_eq!(&msg[..2], &[msg_type::DST_UNREACHABLE, 4]);
}

#[test]
fn duplicates_and_strangers_are_dropped() {
    let t0 = Instant::now();
    let mut m = mote(Some(prefix()), t0);
    let mut r = Router::new();
    let frames = r.frames(
        &echo_request(inet(), mote_global(), 8),
        Address::Extended(MOTE),
    );
    assert_eq!(m.handle_frame(t0, &frames[0]).len(), 1);
    assert!(m.handle_frame(t0, &frames[0]).is_empty());
    assert_eq!(m.counters().drops.get("duplicate"), Some(&1));
    let other = r.frames(
        &echo_request(inet(), mote_global(), 8),
        Address::Extended(Eui64([9; 8])),
    );
    assert!(m.handle_frame(t0, &other[0]).is_empty());
    assert_eq!(m.counters().drops.get("not_for_us"), Some(&1));
    // Right link address, wrong IPv6 address.
    let wrong = echo_request(inet(), "fd00:aaaa::99".parse().unwrap(), 8);
    assert!(exchange(&mut m, &mut r, t0, &wrong).is_empty());
    assert_eq!(m.counters().drops.get("not_our_address"), Some(&1));
}

#[test]
fn bad_checksum_is_dropped() {
    let t0 = Instant::now();
    let mut m = mote(Some(prefix()), t0);
    let mut r = Router::new();
    let mut req = echo_request(inet(), mote_global(), 8);
    let last = req.len() - 1;
    req[last] ^= 0xff;
    assert!(exchange(&mut m, &mut r, t0, &req).is_empty());
    assert_eq!(m.counters().drops.get("bad_checksum"), Some(&1));
}

#[test]
fn arbitrary_frames_never_panic() {
    let t0 = Instant::now();
    let mut m = mote(Some(prefix()), t0);
    let mut rng = crate::rng::SimRng::new(77);
    let header = ieee802154::build_data_frame(
        &FrameRepr::data(
            PAN,
            Address::Extended(ROUTER),
            Address::Extended(MOTE),
            0,
            true,
        ),
        &[],
    );
    for i in 0..5000u32 {
        let len = rng.below(130) as usize;
        let mut f: Vec<u8> = if i % 2 == 0 {
            header.clone()
        } else {
            Vec::new()
        };
        f.extend((0..len).map(|_| rng.next_u64() as u8));
        if f.len() > 2 && i % 2 == 0 {
            f[2] = i as u8; // vary the sequence number so dedupe does not hide everything
        }
        let _ = m.handle_frame(t0, &f);
    }
    let _ = m.handle_timeout(t0 + Duration::from_secs(120));
}

/// An RA as the border router sends it: lifetime 1800, SLLAO, PIO fd00:aaaa::/64 with
/// L and A, 6CO cid 0 /64 with C.
fn sample_ra(router: Eui64) -> NdiscRepr {
    NdiscRepr::RouterAdvert {
        hop_limit: 64,
        flags: Default::default(),
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_time: 0,
        lladdr: Some(LinkLayerAddress::Eui64(router)),
        mtu: None,
        prefix_infos: vec![PrefixInformation {
            prefix_len: 64,
            flags: PrefixFlags::ON_LINK | PrefixFlags::AUTONOMOUS,
            valid_lifetime: 3600,
            preferred_lifetime: 1800,
            prefix: prefix(),
        }],
        contexts: vec![SixLowpanContext {
            context_len: 64,
            compress: true,
            cid: 0,
            valid_lifetime: 0xffff,
            prefix: prefix(),
        }],
        abro: None,
    }
}

#[test]
fn solicitation_carries_sllao() {
    let rs = router_solicitation(Eui64([2, 0, 0, 0, 0, 0, 0, 1]));
    let mut m = vec![0u8; rs.buffer_len()];
    let a = Ipv6Addr::UNSPECIFIED;
    rs.emit(&a, &a, &mut Icmpv6Packet::new_unchecked(&mut m[..]));
    assert_eq!(m.len(), 24);
    assert_eq!(&m[8..18], &[1, 2, 2, 0, 0, 0, 0, 0, 0, 1]);
}

fn registration_answer(status: u8, lifetime: u16) -> Vec<u8> {
    let na = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags: NeighborFlags::ROUTER | NeighborFlags::SOLICITED,
        target_addr: mote_global(),
        lladdr: None,
        aro: Some(AddressRegistration::aro(status, lifetime, MOTE)),
    });
    icmp_packet(ip::link_local_from_eui64(ROUTER), mote_global(), 255, &na)
}

#[test]
fn a_6lowpan_host_uses_its_address_only_once_registered() {
    let t0 = Instant::now();
    let mut m = Mote::new(
        MoteConfig {
            register_lifetime_min: Some(1),
            ..mote(None, t0).config().clone()
        },
        t0,
    );
    let mut r = Router::new();
    m.handle_timeout(t0);
    let mut sent = Vec::new();
    for f in r.frames(&router_advert(), Address::BROADCAST) {
        sent.extend(m.handle_frame(t0, &f));
    }
    // The RA's prefix makes a tentative address, registered with an NS carrying an ARO.
    assert_eq!(m.global(), None);
    let packets = r.packets(t0, &sent);
    assert_eq!(packets.len(), 1);
    let (src, dst, msg) = check_icmp(&packets[0]);
    assert_eq!(
        (src, dst),
        (mote_global(), ip::link_local_from_eui64(ROUTER))
    );
    let v = Ipv6Packet::new_checked(&packets[0][..]).unwrap();
    let icmp = Icmpv6Packet::new_checked(&msg[..]).unwrap();
    let Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr,
        lladdr,
        aro: Some(aro),
    })) = Icmpv6Repr::parse(&v.src_addr(), &v.dst_addr(), &icmp)
    else {
        panic!("not an NS with ARO");
    };
    assert_eq!(target_addr, mote_global());
    assert_eq!(lladdr, Some(LinkLayerAddress::Eui64(MOTE)));
    assert_eq!(aro, AddressRegistration::aro(0, 1, MOTE));
    // Nothing is answered on the tentative address.
    assert!(exchange(&mut m, &mut r, t0, &echo_request(inet(), mote_global(), 8)).is_empty());
    // Unanswered, the NS is sent again.
    assert_eq!(m.poll_timeout(), Some(t0 + REGISTRATION_RETRY));
    assert_eq!(
        r.packets(t0, &m.handle_timeout(t0 + REGISTRATION_RETRY))
            .len(),
        1
    );
    // Status 0: the address is valid and answers; re-registered at half the one-minute lifetime.
    let t1 = t0 + REGISTRATION_RETRY;
    assert!(exchange(&mut m, &mut r, t1, &registration_answer(0, 1)).is_empty());
    assert_eq!(m.global(), Some(mote_global()));
    assert_eq!(
        exchange(&mut m, &mut r, t1, &echo_request(inet(), mote_global(), 8)).len(),
        1
    );
    assert_eq!(m.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    assert_eq!(m.counters().registrations_sent, 2);
    assert_eq!(m.counters().registrations_accepted, 1);
    // A refusal (duplicate) takes the address away.
    exchange(
        &mut m,
        &mut r,
        t1,
        &registration_answer(aro_status::DUPLICATE, 1),
    );
    assert_eq!(m.global(), None);
    assert_eq!(m.counters().drops.get("registration_refused"), Some(&1));
}

/// Frames from the link neighbour `src` to the mote, numbered from `seq`.
fn frames_from(src: Eui64, seq: u8, packet: &[u8]) -> Vec<Vec<u8>> {
    let (src, dst) = (Address::Extended(src), Address::Extended(MOTE));
    let probe = FrameRepr::data(PAN, src, dst, 0, true);
    let mut enc = Encoder::new(ContextTable::with_prefix(prefix(), 64));
    enc.encode(
        packet,
        LinkAddrs { src, dst },
        ieee802154::max_frame_payload(&probe),
    )
    .unwrap()
    .iter()
    .enumerate()
    .map(|(i, p)| {
        ieee802154::build_data_frame(&FrameRepr::data(PAN, src, dst, seq + i as u8, true), p)
    })
    .collect()
}

/// As a 6LoWPAN router the mote answers a host's RS with the border router's prefix,
/// context and ABRO, relays its registration as a DAR to the border router and the DAC
/// back as the host's NA, then forwards between the host and the border router.
#[test]
fn a_6lowpan_router_relays_its_hosts_registrations_and_packets() {
    const HOST: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x02]);
    let host_global = with_iid(prefix(), ip::iid_from_eui64(HOST));
    let host_ll = ip::link_local_from_eui64(HOST);
    let br: Ipv6Addr = "fd00:aaaa::1".parse().unwrap();
    let t0 = Instant::now();
    let mut m = Mote::new(
        MoteConfig {
            register_lifetime_min: Some(1),
            sixlowpan_router: true,
            ..mote(None, t0).config().clone()
        },
        t0,
    );
    let mut r = Router::new();
    m.handle_timeout(t0);
    let abro = AuthoritativeBorderRouter {
        version: 1,
        valid_lifetime: 60,
        border_router: br,
    };
    let mut repr = sample_ra(ROUTER);
    if let NdiscRepr::RouterAdvert { abro: a, .. } = &mut repr {
        *a = Some(abro);
    }
    let ra = icmp_packet(
        ip::link_local_from_eui64(ROUTER),
        ALL_NODES,
        255,
        &Icmpv6Repr::Ndisc(repr),
    );
    for f in r.frames(&ra, Address::BROADCAST) {
        m.handle_frame(t0, &f);
    }
    exchange(&mut m, &mut r, t0, &registration_answer(0, 1));
    assert_eq!(m.global(), Some(mote_global()));

    // The host's RS gets our RA.
    let rs = icmp_packet(host_ll, ALL_ROUTERS, 255, &router_solicitation(HOST));
    let sent: Vec<_> = frames_from(HOST, 10, &rs)
        .iter()
        .flat_map(|f| m.handle_frame(t0, f))
        .collect();
    let (repr, _) = ieee802154::parse_frame(&sent[0]).unwrap();
    assert_eq!(repr.dst_addr, Address::Extended(HOST));
    let p = &r.packets(t0, &sent)[0];
    let (src, dst, msg) = check_icmp(p);
    assert_eq!((src, dst), (m.link_local(), host_ll));
    let icmp = Icmpv6Packet::new_checked(&msg[..]).unwrap();
    let Ok(Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert {
        lladdr,
        prefix_infos,
        contexts,
        abro: got_abro,
        ..
    })) = Icmpv6Repr::parse(&src, &dst, &icmp)
    else {
        panic!("not an RA");
    };
    assert_eq!(lladdr, Some(LinkLayerAddress::Eui64(MOTE)));
    assert_eq!(
        (prefix_infos[0].prefix, contexts[0].prefix, got_abro),
        (prefix(), prefix(), Some(abro))
    );

    // Its NS with ARO goes to the border router as a DAR.
    let ns = icmp_packet(
        host_global,
        m.link_local(),
        255,
        &Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr: host_global,
            lladdr: Some(LinkLayerAddress::Eui64(HOST)),
            aro: Some(AddressRegistration::aro(0, 5, HOST)),
        }),
    );
    let sent: Vec<_> = frames_from(HOST, 20, &ns)
        .iter()
        .flat_map(|f| m.handle_frame(t0, f))
        .collect();
    let p = &r.packets(t0, &sent)[0];
    let (src, dst, msg) = check_icmp(p);
    assert_eq!(
        (src, dst, msg[0]),
        (mote_global(), br, dar::msg_type::DUPLICATE_ADDRESS_REQUEST)
    );
    let request = DuplicateAddress::parse(msg[1], &msg[4..]).unwrap();
    assert_eq!(
        (request.registered, request.lifetime, request.rovr.eui64()),
        (host_global, 5, Some(HOST))
    );

    // The DAC comes back to the host as its NA.
    let dac_body = DuplicateAddress {
        status: 0,
        ..request
    }
    .to_body();
    let dac = icmp_packet(
        br,
        mote_global(),
        64,
        &Icmpv6Repr::Unknown {
            msg_type: dar::msg_type::DUPLICATE_ADDRESS_CONFIRMATION,
            msg_code: 0,
            body: &dac_body,
        },
    );
    let sent: Vec<_> = r
        .frames(&dac, Address::Extended(MOTE))
        .iter()
        .flat_map(|f| m.handle_frame(t0, f))
        .collect();
    let (repr, _) = ieee802154::parse_frame(&sent[0]).unwrap();
    assert_eq!(repr.dst_addr, Address::Extended(HOST));
    let p = &r.packets(t0, &sent)[0];
    let (src, dst, msg) = check_icmp(p);
    let icmp = Icmpv6Packet::new_checked(&msg[..]).unwrap();
    let Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        aro: Some(aro),
        target_addr,
        ..
    })) = Icmpv6Repr::parse(&src, &dst, &icmp)
    else {
        panic!("not an NA with ARO");
    };
    assert_eq!(
        (dst, target_addr, aro.status, aro.lifetime, aro.rovr.eui64()),
        (host_global, host_global, 0, 5, Some(HOST))
    );

    // Packets for the host go down to it, the host's go up to the border router.
    let sent = exchange(&mut m, &mut r, t0, &echo_request(inet(), host_global, 8));
    let v = Ipv6Packet::new_checked(&sent[0][..]).unwrap();
    assert_eq!((v.dst_addr(), v.hop_limit()), (host_global, 63));
    let up: Vec<_> = frames_from(HOST, 30, &echo_request(host_global, inet(), 8))
        .iter()
        .flat_map(|f| m.handle_frame(t0, f))
        .collect();
    let (repr, _) = ieee802154::parse_frame(&up[0]).unwrap();
    assert_eq!(repr.dst_addr, Address::Extended(ROUTER));
    assert_eq!(m.counters().registrations_relayed, 1);
    assert_eq!(m.counters().forwarded, 2);
}
