//! The border router as a 6LoWPAN border router (RFC 6775, RFC 8505) towards 6LoWPAN hosts
//! and routers: Router Solicitations, address registrations (NS with ARO or EARO),
//! duplicate address detection, relayed registrations (DAR/DAC), expiry, a bounded table
//! under a flood, periodic RAs, and nothing of ND reaching the TUN.
//!
//! The hosts are frames built here as a 6LoWPAN node builds them (IPHC with context 0,
//! fragments); the border router is the real sans-IO `BorderRouter`; the clock is virtual.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant, SystemTime};

use lowpan::icmpv6::Icmpv6Repr;
use lowpan::ieee802154::{self as mac, FrameRepr};
use lowpan::ip::{self, Icmpv6Packet, Ipv6Packet};
use lowpan::ndisc::dar::{self, DuplicateAddress};
use lowpan::ndisc::{
    AddressRegistration, LinkLayerAddress, NdiscRepr, NeighborFlags, Rovr, aro_status,
};
use lowpan::{Address, ContextTable, Eui64, LinkAddrs, UdpRepr};
use lowpan_br::bridge::{Bridge, BridgeConfig};
use lowpan_br::nd::RaParams;
use lowpan_br::router::{BorderRouter, Transmit};

const PAN: u16 = 0xabcd;
const OWN: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0xff, 0x01]);
const HOST_A: Eui64 = Eui64([0x02, 0x0a, 0, 0, 0, 0, 0, 0x0a]);
const HOST_B: Eui64 = Eui64([0x02, 0x0b, 0, 0, 0, 0, 0, 0x0b]);
const ROUTER: Eui64 = Eui64([0x02, 0x0c, 0, 0, 0, 0, 0, 0x0c]);

fn prefix() -> Ipv6Addr {
    "fd00:aaaa::".parse().unwrap()
}

fn br_addr() -> Ipv6Addr {
    "fd00:aaaa::1".parse().unwrap()
}

fn internet() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}

/// An address whose interface identifier is not derived from any link address: only a
/// registration tells the border router where it is.
fn opaque(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0xaaaa, 0, 0, 0x1234, 0x5678, 0x9abc, n)
}

fn link_local(eui: Eui64) -> Ipv6Addr {
    ip::link_local_from_eui64(eui)
}

fn config(max_registrations: usize, ra_interval: Option<Duration>) -> BridgeConfig {
    BridgeConfig {
        pan_id: PAN,
        prefix: prefix(),
        mtu: 1280,
        ra: RaParams {
            prefix: prefix(),
            cur_hop_limit: 64,
            router_lifetime_s: 1800,
            valid_lifetime_s: 86_400,
            preferred_lifetime_s: 14_400,
            context_lifetime_min: 60,
            border_router: br_addr(),
            abro_version: 1,
        },
        motes: vec![],
        max_learned_motes: 64,
        max_registrations,
        ra_interval,
        ra_delay_max: Duration::ZERO,
        initial_seq: 0,
        initial_tag: 1,
    }
}

fn router_from(cfg: BridgeConfig, t0: Instant) -> BorderRouter {
    let mut bridge = Bridge::new(cfg);
    bridge.set_own_eui64(OWN);
    bridge.start(t0);
    BorderRouter::new(bridge, None, br_addr())
}

fn router_with(
    max_registrations: usize,
    ra_interval: Option<Duration>,
    t0: Instant,
) -> BorderRouter {
    router_from(config(max_registrations, ra_interval), t0)
}

fn router() -> BorderRouter {
    router_with(8, None, Instant::now())
}

/// Frames a node sends: IPHC with context 0, fragments, 802.15.4 data frames.
fn frames_from(src: Eui64, dst: Address, packet: &[u8]) -> Vec<Vec<u8>> {
    let mut enc = lowpan::Encoder::new(ContextTable::with_prefix(prefix(), 64));
    let links = LinkAddrs {
        src: Address::Extended(src),
        dst,
    };
    let header = FrameRepr::data(PAN, links.src, dst, 0, !dst.is_broadcast());
    enc.encode(packet, links, mac::max_frame_payload(&header))
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            mac::build_data_frame(
                &FrameRepr {
                    sequence_number: i as u8,
                    ..header
                },
                p,
            )
        })
        .collect()
}

/// What the border router sent: packets on the radio (reassembled, with their link
/// destination) and packets to the TUN.
#[derive(Debug, Default)]
struct Sent {
    radio: Vec<(Address, Vec<u8>)>,
    tun: Vec<Vec<u8>>,
}

fn drain(r: &mut BorderRouter) -> Sent {
    let mut reasm = lowpan::Reassembler::new(ContextTable::with_prefix(prefix(), 64));
    let mut sent = Sent::default();
    let now = Instant::now();
    while let Some(t) = r.poll_transmit() {
        match t {
            Transmit::Radio(d) => {
                for f in d.frames {
                    let (repr, payload) = mac::parse_frame(&f).unwrap();
                    assert!(f.len() <= mac::MAX_FRAME_NO_FCS);
                    let links = LinkAddrs {
                        src: repr.src_addr,
                        dst: repr.dst_addr,
                    };
                    if let Some(p) = reasm.accept(now, links, payload).unwrap() {
                        sent.radio.push((repr.dst_addr, p));
                    }
                }
            }
            Transmit::Tun(p) => sent.tun.push(p),
            Transmit::Redirect { .. } => panic!("no IoTSSP here"),
        }
    }
    sent
}

fn send(r: &mut BorderRouter, now: Instant, from: Eui64, packet: &[u8]) -> Sent {
    for f in frames_from(from, Address::Extended(OWN), packet) {
        r.handle_radio_frame(now, SystemTime::now(), &f);
    }
    drain(r)
}

fn icmp(packet: &[u8]) -> Icmpv6Repr<'_> {
    let v = Ipv6Packet::new_checked(packet).unwrap();
    let (src, dst) = (v.src_addr(), v.dst_addr());
    let payload = &packet[40..];
    Icmpv6Repr::parse(&src, &dst, &Icmpv6Packet::new_checked(payload).unwrap()).unwrap()
}

fn ns(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    lladdr: Option<Eui64>,
    aro: Option<AddressRegistration>,
) -> Vec<u8> {
    let lladdr = lladdr.map(LinkLayerAddress::Eui64);
    Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr,
        aro,
    })
    .emit_ipv6_packet(src, dst, 255)
    .unwrap()
}

/// An RFC 6775 registration: NS from the address to the router's link-local with SLLAO
/// and ARO, as RIOT's 6LN sends it.
fn register(host: Eui64, address: Ipv6Addr, lifetime: u16) -> Vec<u8> {
    ns(
        address,
        link_local(OWN),
        address,
        Some(host),
        Some(AddressRegistration::aro(0, lifetime, host)),
    )
}

/// The NA the border router sent, with its IPv6 source, destination and link destination.
fn the_na(
    sent: &Sent,
) -> (
    Address,
    Ipv6Addr,
    Ipv6Addr,
    NeighborFlags,
    Ipv6Addr,
    Option<LinkLayerAddress>,
    Option<AddressRegistration>,
) {
    assert!(
        sent.tun.is_empty(),
        "nothing of ND reaches the TUN: {:?}",
        sent.tun
    );
    assert_eq!(sent.radio.len(), 1, "one answer: {:?}", sent.radio);
    let (link, p) = &sent.radio[0];
    let v = Ipv6Packet::new_checked(&p[..]).unwrap();
    assert_eq!(v.hop_limit(), 255);
    match icmp(p) {
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags,
            target_addr,
            lladdr,
            aro,
        }) => (
            *link,
            v.src_addr(),
            v.dst_addr(),
            flags,
            target_addr,
            lladdr,
            aro,
        ),
        other => panic!("not an NA: {other:?}"),
    }
}

fn udp_to(dst: Ipv6Addr) -> Vec<u8> {
    UdpRepr {
        src_port: 40000,
        dst_port: 5683,
        payload: b"hello",
    }
    .emit_ipv6_packet(internet(), dst, 64)
    .unwrap()
}

/// Where a packet from the Internet to `dst` goes on the radio (`None`: dropped).
fn route_of(r: &mut BorderRouter, now: Instant, dst: Ipv6Addr) -> Option<Address> {
    r.handle_tun_packet(now, SystemTime::now(), &udp_to(dst));
    let sent = drain(r);
    sent.radio.first().map(|(link, _)| *link)
}

#[test]
fn router_solicitation_gets_a_unicast_ra_with_abro_and_6co() {
    let mut r = router();
    let rs = Icmpv6Repr::Ndisc(NdiscRepr::RouterSolicit {
        lladdr: Some(LinkLayerAddress::Eui64(HOST_A)),
    })
    .emit_ipv6_packet(link_local(HOST_A), lowpan::ndisc::ALL_ROUTERS, 255)
    .unwrap();
    let mut sent = Sent::default();
    for f in frames_from(HOST_A, Address::BROADCAST, &rs) {
        r.handle_radio_frame(Instant::now(), SystemTime::now(), &f);
        let s = drain(&mut r);
        sent.radio.extend(s.radio);
        sent.tun.extend(s.tun);
    }
    assert!(sent.tun.is_empty());
    assert_eq!(sent.radio.len(), 1);
    let (link, p) = &sent.radio[0];
    assert_eq!(*link, Address::Extended(HOST_A));
    let v = Ipv6Packet::new_checked(&p[..]).unwrap();
    assert_eq!(
        v.src_addr(),
        link_local(OWN),
        "from the router address the host then registers with"
    );
    assert_eq!(v.dst_addr(), link_local(HOST_A));
    match icmp(p) {
        Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert {
            abro,
            contexts,
            prefix_infos,
            lladdr,
            ..
        }) => {
            let abro = abro.expect("ABRO");
            assert_eq!(
                (abro.version, abro.valid_lifetime, abro.border_router),
                (1, 60, br_addr())
            );
            assert_eq!(contexts.len(), 1);
            assert_eq!((contexts[0].cid, contexts[0].valid_lifetime), (0, 60));
            assert_eq!(prefix_infos[0].prefix, prefix());
            // RIOT's 6LN takes the router's neighbour cache entry from it, without which
            // it drops the NA to its registration.
            assert_eq!(lladdr, Some(LinkLayerAddress::Eui64(OWN)));
        }
        other => panic!("not an RA: {other:?}"),
    }
}

/// RFC 4861 section 6.2.6: solicited RAs wait a random time below MAX_RA_DELAY_TIME; a
/// second RS from the same node meanwhile adds no second RA.
#[test]
fn solicited_router_advertisements_wait_a_random_delay() {
    let t0 = Instant::now();
    let mut r = router_from(
        BridgeConfig {
            ra_delay_max: lowpan_br::nd::MAX_RA_DELAY,
            ..config(8, None)
        },
        t0,
    );
    let rs = Icmpv6Repr::Ndisc(NdiscRepr::RouterSolicit {
        lladdr: Some(LinkLayerAddress::Eui64(HOST_A)),
    })
    .emit_ipv6_packet(link_local(HOST_A), lowpan::ndisc::ALL_ROUTERS, 255)
    .unwrap();
    for _ in 0..2 {
        for f in frames_from(HOST_A, Address::BROADCAST, &rs) {
            r.handle_radio_frame(t0, SystemTime::now(), &f);
        }
        assert!(drain(&mut r).radio.is_empty(), "not at once");
    }
    let due = r.poll_timeout().expect("the answer is scheduled");
    assert!(due >= t0 && due < t0 + lowpan_br::nd::MAX_RA_DELAY);
    r.handle_timeout(due, SystemTime::now());
    let sent = drain(&mut r);
    assert_eq!(sent.radio.len(), 1);
    assert_eq!(sent.radio[0].0, Address::Extended(HOST_A));
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(
        (
            r.counters().router_solicitations,
            r.counters().router_advertisements
        ),
        (2, 1)
    );
}

#[test]
fn registration_is_answered_with_status_0_and_routes_the_address() {
    let mut r = router();
    let now = Instant::now();
    let addr = opaque(1);
    assert_eq!(
        route_of(&mut r, now, addr),
        None,
        "unknown before it registers"
    );
    let sent = send(&mut r, now, HOST_A, &register(HOST_A, addr, 15));
    let (link, src, dst, flags, target, tllao, aro) = the_na(&sent);
    assert_eq!(link, Address::Extended(HOST_A));
    assert_eq!(
        src,
        link_local(OWN),
        "from the router the host knows from the RA"
    );
    assert_eq!(
        dst, addr,
        "to the registered address, which is how RIOT finds it"
    );
    assert_eq!(target, addr);
    assert!(flags.contains(NeighborFlags::SOLICITED) && flags.contains(NeighborFlags::ROUTER));
    assert_eq!(tllao, None);
    assert_eq!(
        aro,
        Some(AddressRegistration::aro(aro_status::SUCCESS, 15, HOST_A)),
        "lifetime and ROVR kept"
    );
    assert_eq!(route_of(&mut r, now, addr), Some(Address::Extended(HOST_A)));
    let c = r.counters();
    assert_eq!(c.address_registrations, 1);
    assert_eq!(r.bridge().registrations().len(), 1);
    assert_eq!(
        r.bridge()
            .neighbours()
            .get(&Address::Extended(HOST_A))
            .map(|n| n.configured),
        Some(false)
    );
}

#[test]
fn an_address_registered_by_one_owner_is_a_duplicate_for_another() {
    let mut r = router();
    let now = Instant::now();
    let addr = opaque(2);
    let (.., aro) = the_na(&send(&mut r, now, HOST_A, &register(HOST_A, addr, 10)));
    assert_eq!(aro.unwrap().status, aro_status::SUCCESS);
    let (link, _, dst, _, _, _, aro) =
        the_na(&send(&mut r, now, HOST_B, &register(HOST_B, addr, 10)));
    assert_eq!(
        link,
        Address::Extended(HOST_B),
        "the refusal goes to the node that asked"
    );
    assert_eq!(dst, addr);
    assert_eq!(
        aro,
        Some(AddressRegistration::aro(aro_status::DUPLICATE, 10, HOST_B))
    );
    assert_eq!(
        route_of(&mut r, now, addr),
        Some(Address::Extended(HOST_A)),
        "the owner keeps it"
    );
    // The owner refreshing is no duplicate.
    let (.., aro) = the_na(&send(&mut r, now, HOST_A, &register(HOST_A, addr, 10)));
    assert_eq!(aro.unwrap().status, aro_status::SUCCESS);
    assert_eq!(r.counters().registrations_refused, 1);
}

#[test]
fn earo_keeps_its_tid_flags_and_long_rovr() {
    let mut r = router();
    let now = Instant::now();
    let addr = opaque(3);
    let earo = AddressRegistration {
        status: 0,
        opaque: 0,
        i: 0,
        r: true,
        t: true,
        tid: 42,
        lifetime: 5,
        rovr: Rovr::new(&[0x5a; 16]).unwrap(),
    };
    let (.., aro) = the_na(&send(
        &mut r,
        now,
        HOST_A,
        &ns(addr, link_local(OWN), addr, Some(HOST_A), Some(earo)),
    ));
    assert_eq!(aro, Some(earo), "status 0 and everything else echoed");
    // Another ROVR for the same address is a duplicate, even from the same link address.
    let other = AddressRegistration {
        rovr: Rovr::new(&[0xa5; 16]).unwrap(),
        ..earo
    };
    let (.., aro) = the_na(&send(
        &mut r,
        now,
        HOST_A,
        &ns(addr, link_local(OWN), addr, Some(HOST_A), Some(other)),
    ));
    assert_eq!(aro.unwrap().status, aro_status::DUPLICATE);
}

#[test]
fn lifetime_0_deregisters_and_lifetimes_expire() {
    let t0 = Instant::now();
    let mut r = router_with(8, None, t0);
    let (a, b) = (opaque(4), opaque(5));
    the_na(&send(&mut r, t0, HOST_A, &register(HOST_A, a, 1)));
    the_na(&send(&mut r, t0, HOST_B, &register(HOST_B, b, 2)));
    // HOST_A leaves: answered with status 0 and lifetime 0, and the route is gone.
    let (.., aro) = the_na(&send(&mut r, t0, HOST_A, &register(HOST_A, a, 0)));
    assert_eq!(
        aro,
        Some(AddressRegistration::aro(aro_status::SUCCESS, 0, HOST_A))
    );
    assert_eq!(route_of(&mut r, t0, a), None);
    assert_eq!(r.counters().address_deregistrations, 1);
    assert!(
        r.bridge()
            .neighbours()
            .get(&Address::Extended(HOST_A))
            .is_none(),
        "its learned neighbour went with it"
    );
    // HOST_B's registration runs out after 2 minutes, on the border router's timer.
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(120)));
    let t1 = t0 + Duration::from_secs(119);
    assert_eq!(route_of(&mut r, t1, b), Some(Address::Extended(HOST_B)));
    let t2 = t0 + Duration::from_secs(120);
    assert_eq!(
        route_of(&mut r, t2, b),
        None,
        "not routed past its lifetime"
    );
    r.handle_timeout(t2, SystemTime::now());
    assert_eq!(r.counters().registrations_expired, 1);
    assert!(r.bridge().registrations().is_empty());
    assert_eq!(r.poll_timeout(), None);
    // Anyone may now take the address.
    let (.., aro) = the_na(&send(&mut r, t2, HOST_A, &register(HOST_A, b, 1)));
    assert_eq!(aro.unwrap().status, aro_status::SUCCESS);
}

#[test]
fn a_flood_of_registrations_fills_a_bounded_table_and_is_refused_with_cache_full() {
    let t0 = Instant::now();
    let mut r = router_with(4, None, t0);
    let mut statuses = Vec::new();
    for n in 0..200u16 {
        let eui = Eui64([0x02, 0xee, 0, 0, 0, 0, (n >> 8) as u8, n as u8]);
        let (.., aro) = the_na(&send(
            &mut r,
            t0,
            eui,
            &register(eui, opaque(0x100 + n), 10),
        ));
        statuses.push(aro.unwrap().status);
    }
    assert!(statuses[..4].iter().all(|&s| s == aro_status::SUCCESS));
    assert!(
        statuses[4..]
            .iter()
            .all(|&s| s == aro_status::NEIGHBOR_CACHE_FULL),
        "{statuses:?}"
    );
    assert_eq!(r.bridge().registrations().len(), 4);
    assert_eq!(r.counters().registrations_refused, 196);
    // A registered node still refreshes; the first registered address is still routed.
    let first = Eui64([0x02, 0xee, 0, 0, 0, 0, 0, 0]);
    let (.., aro) = the_na(&send(
        &mut r,
        t0,
        first,
        &register(first, opaque(0x100), 10),
    ));
    assert_eq!(aro.unwrap().status, aro_status::SUCCESS);
    assert_eq!(
        route_of(&mut r, t0, opaque(0x100)),
        Some(Address::Extended(first))
    );
    // Once they run out, newcomers get their place.
    let later = t0 + Duration::from_secs(600);
    let late = Eui64([0x02, 0xef, 0, 0, 0, 0, 0, 1]);
    let (.., aro) = the_na(&send(
        &mut r,
        later,
        late,
        &register(late, opaque(0x999), 10),
    ));
    assert_eq!(aro.unwrap().status, aro_status::SUCCESS);
    assert!(r.bridge().registrations().len() <= 4);
}

fn dar_packet(from: Ipv6Addr, registered: Ipv6Addr, owner: Eui64, lifetime: u16) -> Vec<u8> {
    let d = DuplicateAddress {
        status: 0,
        tid: 0,
        lifetime,
        rovr: Rovr::from_eui64(owner),
        registered,
        extended: false,
    };
    let body = d.to_body();
    Icmpv6Repr::Unknown {
        msg_type: dar::msg_type::DUPLICATE_ADDRESS_REQUEST,
        msg_code: 0,
        body: &body,
    }
    .emit_ipv6_packet(from, br_addr(), dar::MULTIHOP_HOPLIMIT)
    .unwrap()
}

fn the_dac(sent: &Sent) -> (Address, Ipv6Addr, u8, DuplicateAddress) {
    assert!(
        sent.tun.is_empty(),
        "a DAR is the border router's, not the host's"
    );
    assert_eq!(sent.radio.len(), 1);
    let (link, p) = &sent.radio[0];
    let v = Ipv6Packet::new_checked(&p[..]).unwrap();
    assert_eq!(v.src_addr(), br_addr());
    assert_eq!(v.hop_limit(), dar::MULTIHOP_HOPLIMIT);
    match icmp(p) {
        Icmpv6Repr::Unknown {
            msg_type: dar::msg_type::DUPLICATE_ADDRESS_CONFIRMATION,
            msg_code,
            body,
        } => (
            *link,
            v.dst_addr(),
            msg_code,
            DuplicateAddress::parse(msg_code, body).unwrap(),
        ),
        other => panic!("not a DAC: {other:?}"),
    }
}

#[test]
fn registrations_relayed_by_a_6lr_are_confirmed_and_routed_through_it() {
    let mut r = router();
    let now = Instant::now();
    // The 6LoWPAN router registers its own address first, as RIOT's 6LR does.
    let router_addr = opaque(0x6c);
    the_na(&send(
        &mut r,
        now,
        ROUTER,
        &register(ROUTER, router_addr, 30),
    ));
    let host = opaque(0x77);
    let (link, dst, code, dac) = the_dac(&send(
        &mut r,
        now,
        ROUTER,
        &dar_packet(router_addr, host, HOST_A, 20),
    ));
    assert_eq!(link, Address::Extended(ROUTER));
    assert_eq!(dst, router_addr);
    assert_eq!(code, 0);
    assert_eq!(
        (dac.status, dac.lifetime, dac.registered),
        (aro_status::SUCCESS, 20, host)
    );
    assert_eq!(dac.rovr, Rovr::from_eui64(HOST_A));
    assert_eq!(
        route_of(&mut r, now, host),
        Some(Address::Extended(ROUTER)),
        "the host is reached through its router"
    );
    assert_eq!(r.counters().duplicate_address_requests, 1);

    // Another owner, directly or through the router, is a duplicate.
    let (.., dac) = the_dac(&send(
        &mut r,
        now,
        ROUTER,
        &dar_packet(router_addr, host, HOST_B, 20),
    ));
    assert_eq!(dac.status, aro_status::DUPLICATE);
    let (.., aro) = the_na(&send(&mut r, now, HOST_B, &register(HOST_B, host, 20)));
    assert_eq!(aro.unwrap().status, aro_status::DUPLICATE);

    // An EDAR with a 32-byte ROVR is answered in kind.
    let edar = DuplicateAddress {
        status: 0,
        tid: 7,
        lifetime: 3,
        rovr: Rovr::new(&[9; 32]).unwrap(),
        registered: opaque(0x78),
        extended: true,
    };
    let body = edar.to_body();
    let p = Icmpv6Repr::Unknown {
        msg_type: dar::msg_type::DUPLICATE_ADDRESS_REQUEST,
        msg_code: edar.code(),
        body: &body,
    }
    .emit_ipv6_packet(router_addr, br_addr(), 64)
    .unwrap();
    let (_, _, code, dac) = the_dac(&send(&mut r, now, ROUTER, &p));
    assert_eq!(code, 4);
    assert_eq!(dac, edar);
    // Lifetime 0 through the router removes it.
    let (.., dac) = the_dac(&send(
        &mut r,
        now,
        ROUTER,
        &dar_packet(router_addr, host, HOST_A, 0),
    ));
    assert_eq!((dac.status, dac.lifetime), (aro_status::SUCCESS, 0));
    assert_eq!(route_of(&mut r, now, host), None);
}

#[test]
fn nothing_of_nd_from_the_radio_reaches_the_tun() {
    let mut r = router();
    let now = Instant::now();
    let a = opaque(9);
    let na = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags: NeighborFlags::SOLICITED,
        target_addr: a,
        lladdr: Some(LinkLayerAddress::Eui64(HOST_A)),
        aro: None,
    })
    .emit_ipv6_packet(a, br_addr(), 255)
    .unwrap();
    let ns_other = ns(a, opaque(10), opaque(10), Some(HOST_A), None);
    let ns_multicast = ns(
        a,
        "ff02::1:ff00:10".parse().unwrap(),
        opaque(10),
        Some(HOST_A),
        None,
    );
    let ra = lowpan_br::nd::build_router_advertisement(
        HOST_B,
        lowpan::ndisc::ALL_NODES,
        &RaParams {
            prefix: prefix(),
            cur_hop_limit: 64,
            router_lifetime_s: 0,
            valid_lifetime_s: 1,
            preferred_lifetime_s: 1,
            context_lifetime_min: 1,
            border_router: a,
            abro_version: 9,
        },
    );
    let dac = {
        let d = DuplicateAddress {
            status: 0,
            tid: 0,
            lifetime: 1,
            rovr: Rovr::from_eui64(HOST_A),
            registered: a,
            extended: false,
        };
        let body = d.to_body();
        Icmpv6Repr::Unknown {
            msg_type: dar::msg_type::DUPLICATE_ADDRESS_CONFIRMATION,
            msg_code: 0,
            body: &body,
        }
        .emit_ipv6_packet(a, br_addr(), 64)
        .unwrap()
    };
    let redirect = Icmpv6Repr::Unknown {
        msg_type: 137,
        msg_code: 0,
        body: &[0u8; 36],
    }
    .emit_ipv6_packet(link_local(HOST_A), link_local(OWN), 255)
    .unwrap();
    for p in [&na, &ns_other, &ns_multicast, &ra, &dac, &redirect] {
        let sent = send(&mut r, now, HOST_A, p);
        assert!(sent.tun.is_empty() && sent.radio.is_empty(), "{sent:?}");
    }
    assert_eq!(r.counters().dropped("nd_not_forwarded"), 6);
    // Invalid ND is dropped, not forwarded either: an ARO without SLLAO, a hop limit of 64,
    // a bad checksum.
    let no_sllao = ns(
        a,
        link_local(OWN),
        a,
        None,
        Some(AddressRegistration::aro(0, 1, HOST_A)),
    );
    assert!(send(&mut r, now, HOST_A, &no_sllao).tun.is_empty());
    assert_eq!(r.counters().dropped("nd_aro_without_source"), 1);
    let mut hop64 = register(HOST_A, a, 1);
    hop64[7] = 64;
    assert!(send(&mut r, now, HOST_A, &hop64).tun.is_empty());
    assert_eq!(r.counters().dropped("nd_hop_limit_not_255"), 1);
    let mut bad = register(HOST_A, a, 1);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(send(&mut r, now, HOST_A, &bad).tun.is_empty());
    assert_eq!(r.counters().dropped("nd_malformed"), 1);
    // A registration outside the mesh is refused.
    let outside: Ipv6Addr = "2001:db8::99".parse().unwrap();
    assert!(
        send(&mut r, now, HOST_A, &register(HOST_A, outside, 1))
            .radio
            .is_empty()
    );
    assert_eq!(r.counters().dropped("registration_not_on_mesh"), 1);
    assert_eq!(r.counters().tun_tx_packets, 0);
    // Ordinary ICMPv6 (an echo reply) still goes to the TUN.
    let echo = Icmpv6Repr::EchoReply {
        ident: 1,
        seq_no: 1,
        data: b"x",
    }
    .emit_ipv6_packet(a, internet(), 64)
    .unwrap();
    assert_eq!(send(&mut r, now, HOST_A, &echo).tun, vec![echo]);
}

#[test]
fn neighbour_solicitations_for_the_router_are_answered_with_its_link_address() {
    let mut r = router();
    let now = Instant::now();
    for target in [link_local(OWN), br_addr()] {
        let p = ns(link_local(HOST_A), target, target, Some(HOST_A), None);
        let (link, src, dst, flags, t, tllao, aro) = the_na(&send(&mut r, now, HOST_A, &p));
        assert_eq!(
            (link, src, dst, t),
            (
                Address::Extended(HOST_A),
                link_local(OWN),
                link_local(HOST_A),
                target
            )
        );
        assert!(
            flags.contains(
                NeighborFlags::ROUTER | NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE
            )
        );
        assert_eq!(tllao, Some(LinkLayerAddress::Eui64(OWN)));
        assert_eq!(aro, None);
    }
}

#[test]
fn unsolicited_router_advertisements_go_to_all_nodes_when_configured() {
    let t0 = Instant::now();
    let quiet = router_with(8, None, t0);
    assert_eq!(quiet.poll_timeout(), None, "none unless configured");
    let mut r = router_with(8, Some(Duration::from_secs(60)), t0);
    let mut times = Vec::new();
    while let Some(now) = r
        .poll_timeout()
        .filter(|&due| due < t0 + Duration::from_secs(200))
    {
        r.handle_timeout(now, SystemTime::now());
        let sent = drain(&mut r);
        assert_eq!(sent.radio.len(), 1);
        let (link, p) = &sent.radio[0];
        assert_eq!(*link, Address::BROADCAST);
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.dst_addr(), lowpan::ndisc::ALL_NODES);
        assert!(matches!(
            icmp(p),
            Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert { abro: Some(_), .. })
        ));
        times.push(now.duration_since(t0).as_secs());
    }
    assert_eq!(times, vec![0, 60, 120, 180]);
    assert_eq!(r.counters().router_advertisements, 4);
}

/// RIOT's 6LoWPAN hosts and routers register with an RFC 6775 ARO in an NS whose target is
/// the router they solicit (fe80::<our IID>) and whose source is the address they
/// register; an EARO (T flag) registers the target instead (RFC 8505 section 5.5). Our own
/// addresses are never given away.
#[test]
fn an_aro_registers_the_ns_source_and_an_earo_its_target() {
    let mut r = router();
    let now = Instant::now();
    let (a, b) = (opaque(0x21), opaque(0x22));
    for host in [HOST_A, HOST_B] {
        let addr = if host == HOST_A { a } else { b };
        let p = ns(
            addr,
            link_local(OWN),
            link_local(OWN),
            Some(host),
            Some(AddressRegistration::aro(0, 15, host)),
        );
        let (link, _, dst, _, target, _, aro) = the_na(&send(&mut r, now, host, &p));
        assert_eq!(
            (link, dst, target),
            (Address::Extended(host), addr, link_local(OWN)),
            "the NS's target echoed"
        );
        assert_eq!(
            aro.unwrap().status,
            aro_status::SUCCESS,
            "two hosts soliciting the same router are no duplicates"
        );
        assert_eq!(route_of(&mut r, now, addr), Some(Address::Extended(host)));
    }
    assert_eq!(r.bridge().registrations().len(), 2);
    // EARO: the target is registered, the source may be the host's link-local address.
    let c = opaque(0x23);
    let earo = AddressRegistration {
        t: true,
        tid: 1,
        ..AddressRegistration::aro(0, 15, HOST_A)
    };
    let (.., aro) = the_na(&send(
        &mut r,
        now,
        HOST_A,
        &ns(
            link_local(HOST_A),
            link_local(OWN),
            c,
            Some(HOST_A),
            Some(earo),
        ),
    ));
    assert_eq!(aro.unwrap().status, aro_status::SUCCESS);
    assert_eq!(route_of(&mut r, now, c), Some(Address::Extended(HOST_A)));
    // Our link-local address and the host's address are ours.
    for ours in [link_local(OWN), br_addr()] {
        let (.., aro) = the_na(&send(&mut r, now, HOST_B, &register(HOST_B, ours, 15)));
        assert_eq!(aro.unwrap().status, aro_status::DUPLICATE);
        let earo = AddressRegistration {
            t: true,
            ..AddressRegistration::aro(0, 15, HOST_B)
        };
        let (.., aro) = the_na(&send(
            &mut r,
            now,
            HOST_B,
            &ns(
                link_local(HOST_B),
                link_local(OWN),
                ours,
                Some(HOST_B),
                Some(earo),
            ),
        ));
        assert_eq!(aro.unwrap().status, aro_status::DUPLICATE);
    }
    assert_eq!(r.bridge().registrations().len(), 3);
}

/// Every frame the border router sends as the 6LBR (the RA with ABRO and 6CO, NAs with an
/// ARO and an EARO, a DAC, a periodic RA) and the hosts' frames it answers decode in
/// tshark's dissectors with the fields we wrote and no malformed packet. Skips when tshark
/// is missing, except under CI=true.
#[test]
fn tshark_decodes_the_6lbr_frames_without_malformed_packets() {
    if std::process::Command::new("tshark")
        .arg("-v")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "tshark missing under CI=true (apt-get install tshark)"
        );
        eprintln!("SKIPPED: no tshark");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sixlowpan-nd-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("radio.pcap");
    let mut cap = lowpan_br::capture::Capture::create(&pcap).unwrap();
    let t0 = Instant::now();
    let mut r = router_with(8, Some(Duration::from_secs(60)), t0);
    let mut at = 0u64;
    let mut record = |cap: &mut lowpan_br::capture::Capture<_>, f: &[u8]| {
        at += 1;
        cap.record(Duration::from_millis(at), f).unwrap();
    };
    let mut feed = |r: &mut BorderRouter,
                    cap: &mut lowpan_br::capture::Capture<_>,
                    from: Eui64,
                    dst: Address,
                    p: &[u8]| {
        for f in frames_from(from, dst, p) {
            record(cap, &f);
            r.handle_radio_frame(t0, SystemTime::now(), &f);
        }
        while let Some(t) = r.poll_transmit() {
            if let Transmit::Radio(d) = t {
                d.frames.iter().for_each(|f| record(cap, f));
            }
        }
    };
    let rs = Icmpv6Repr::Ndisc(NdiscRepr::RouterSolicit {
        lladdr: Some(LinkLayerAddress::Eui64(HOST_A)),
    })
    .emit_ipv6_packet(link_local(HOST_A), lowpan::ndisc::ALL_ROUTERS, 255)
    .unwrap();
    feed(&mut r, &mut cap, HOST_A, Address::BROADCAST, &rs);
    let a = opaque(0x31);
    let to_router = Address::Extended(OWN);
    feed(
        &mut r,
        &mut cap,
        HOST_A,
        to_router,
        &register(HOST_A, a, 15),
    );
    let earo = AddressRegistration {
        t: true,
        tid: 3,
        ..AddressRegistration::aro(0, 15, HOST_B)
    };
    feed(
        &mut r,
        &mut cap,
        HOST_B,
        to_router,
        &ns(
            link_local(HOST_B),
            link_local(OWN),
            opaque(0x32),
            Some(HOST_B),
            Some(earo),
        ),
    );
    feed(
        &mut r,
        &mut cap,
        HOST_B,
        to_router,
        &register(HOST_B, a, 15),
    );
    feed(
        &mut r,
        &mut cap,
        ROUTER,
        to_router,
        &register(ROUTER, opaque(0x6c), 15),
    );
    feed(
        &mut r,
        &mut cap,
        ROUTER,
        to_router,
        &dar_packet(opaque(0x6c), opaque(0x33), HOST_A, 10),
    );
    r.handle_timeout(t0, SystemTime::now());
    while let Some(Transmit::Radio(d)) = r.poll_transmit() {
        for f in &d.frames {
            cap.record(Duration::from_secs(1), f).unwrap();
        }
    }
    cap.flush().unwrap();
    drop(cap);

    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-o", "6lowpan.context0:fd00:aaaa::/64"])
        .args(["-Y", "icmpv6 && !_ws.malformed"])
        .args(["-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
            "-e",
            "icmpv6.type",
            "-e",
            "icmpv6.checksum.status",
        ])
        .args([
            "-e",
            "icmpv6.opt.aro.status",
            "-e",
            "icmpv6.opt.aro.registration_lifetime",
            "-e",
            "icmpv6.opt.abro.6lbr_address",
        ])
        .args([
            "-e",
            "icmpv6.opt.6co.context_prefix",
            "-e",
            "icmpv6.6lowpannd.da.status",
            "-e",
            "icmpv6.6lowpannd.da.reg_addr",
        ])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let malformed = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-o", "6lowpan.context0:fd00:aaaa::/64"])
        .args(["-Y", "_ws.malformed || _ws.expert.severity == error"])
        .output()
        .unwrap();
    let malformed = String::from_utf8_lossy(&malformed.stdout).to_string();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        malformed.trim().is_empty(),
        "malformed or in error:\n{malformed}\nall:\n{text}"
    );
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    let ours = link_local(OWN).to_string();
    let find = |f: &dyn Fn(&Vec<&str>) -> bool| rows.iter().any(f);
    assert!(
        rows.iter().all(|r| r[3] == "1"),
        "every ICMPv6 checksum good:\n{text}"
    );
    assert!(
        find(&|r| r[0] == ours
            && r[2] == "134"
            && r[6] == "fd00:aaaa::1"
            && r[7].starts_with("fd00:aaaa::")),
        "the RA with ABRO and 6CO:\n{text}"
    );
    assert!(
        find(&|r| r[0] == ours
            && r[1] == a.to_string()
            && r[2] == "136"
            && r[4] == "0"
            && r[5] == "15"),
        "NA with ARO status 0:\n{text}"
    );
    assert!(
        find(&|r| r[2] == "136" && r[4] == "1"),
        "NA with ARO status 1 (duplicate):\n{text}"
    );
    assert!(
        find(&|r| r[1] == link_local(HOST_B).to_string() && r[2] == "136" && r[4] == "0"),
        "NA with the EARO:\n{text}"
    );
    assert!(
        find(&|r| r[2] == "158"
            && r[0] == br_addr().to_string()
            && r[9] == opaque(0x33).to_string()),
        "DAC:\n{text}"
    );
    assert!(
        find(&|r| r[2] == "134" && r[1] == "ff02::1"),
        "the periodic RA:\n{text}"
    );
}

/// Moves frames between motesim's mote and the border router until neither has anything
/// left at `now`; returns the packets the border router wrote to the TUN.
fn settle(m: &mut motesim::mote::Mote, r: &mut BorderRouter, now: Instant) -> Vec<Vec<u8>> {
    let mut tun = Vec::new();
    let mut to_br = m.handle_timeout(now);
    r.handle_timeout(now, SystemTime::now());
    for _ in 0..100 {
        let mut to_mote = Vec::new();
        for f in to_br.drain(..) {
            r.handle_radio_frame(now, SystemTime::now(), &f);
        }
        while let Some(t) = r.poll_transmit() {
            match t {
                Transmit::Radio(d) => to_mote.extend(d.frames),
                Transmit::Tun(p) => tun.push(p),
                Transmit::Redirect { .. } => {}
            }
        }
        if to_mote.is_empty() {
            break;
        }
        for f in to_mote {
            to_br.extend(m.handle_frame(now, &f));
        }
    }
    tun
}

/// motesim's 6LoWPAN host (its per-mote registration mode) against the real border router:
/// RS, RA, NS with ARO; its address is used only once the NA accepts it, then answers a
/// ping from the Internet, and is registered again before each lifetime ends, so it never
/// runs out.
#[test]
fn a_motesim_6lowpan_host_registers_and_stays_registered() {
    let t0 = Instant::now();
    let mut r = router_with(8, None, t0);
    let eui = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x42]);
    let mut m = motesim::mote::Mote::new(
        motesim::mote::MoteConfig {
            index: 1,
            eui64: eui,
            pan_id: PAN,
            router: OWN,
            prefix: None,
            register_lifetime_min: Some(2),
            rpl: false,
            sixlowpan_router: false,
        },
        t0,
    );
    let global = Ipv6Addr::new(0xfd00, 0xaaaa, 0, 0, 0x0212, 0x4b00, 0, 0x42);
    settle(&mut m, &mut r, t0);
    assert_eq!(
        m.global(),
        Some(global),
        "valid after the NA: {:?}",
        m.counters()
    );
    assert_eq!(
        (
            m.counters().registrations_sent,
            m.counters().registrations_accepted
        ),
        (1, 1)
    );
    assert_eq!(
        r.bridge().registrations().get(t0, &global).map(|g| g.via),
        Some(lowpan_br::registrations::Via::Link(Address::Extended(eui)))
    );
    // Ten minutes on a two-minute lifetime: re-registered in time, always routed.
    let mut now = t0;
    let end = t0 + Duration::from_secs(600);
    while now < end {
        let next = [m.poll_timeout(), r.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end)
            .min(end);
        now = next.max(now + Duration::from_millis(1));
        settle(&mut m, &mut r, now);
        assert!(
            r.bridge().registrations().get(now, &global).is_some(),
            "registration lapsed at {:?}",
            now - t0
        );
    }
    assert!(
        m.counters().registrations_accepted >= 10,
        "{:?}",
        m.counters()
    );
    assert_eq!(r.counters().registrations_expired, 0);
    // A ping from the Internet reaches it and its answer comes back through the TUN.
    let ping = Icmpv6Repr::EchoRequest {
        ident: 7,
        seq_no: 1,
        data: &[0x5a; 1232],
    }
    .emit_ipv6_packet(internet(), global, 64)
    .unwrap();
    r.handle_tun_packet(now, SystemTime::now(), &ping);
    let mut tun = Vec::new();
    let mut to_mote = Vec::new();
    while let Some(t) = r.poll_transmit() {
        if let Transmit::Radio(d) = t {
            to_mote.extend(d.frames);
        }
    }
    for f in to_mote {
        for g in m.handle_frame(now, &f) {
            r.handle_radio_frame(now, SystemTime::now(), &g);
        }
    }
    while let Some(t) = r.poll_transmit() {
        if let Transmit::Tun(p) = t {
            tun.push(p);
        }
    }
    assert_eq!(tun.len(), 1);
    assert!(
        matches!(icmp(&tun[0]), Icmpv6Repr::EchoReply { ident: 7, data, .. } if data.len() == 1232)
    );
}
