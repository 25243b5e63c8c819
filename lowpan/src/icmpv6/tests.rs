//! ICMPv6 and ND byte vectors (checksums computed independently of this crate), round
//! trips, and truncated or garbled input.

use super::*;
use crate::ieee802154::Eui64;
use crate::ip::Ipv6Packet;
use crate::ndisc::{
    ALL_ROUTERS, AddressRegistration, AuthoritativeBorderRouter, LinkLayerAddress, NeighborFlags,
    PrefixFlags, PrefixInformation, RouterFlags, SixLowpanContext, aro_status,
};
use proptest::prelude::*;

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn parse<'a>(src: &str, dst: &str, msg: &'a [u8]) -> Result<Icmpv6Repr<'a>, Error> {
    Icmpv6Repr::parse(&addr(src), &addr(dst), &Icmpv6Packet::new_unchecked(msg))
}

/// Checks both directions and that every truncation is an error.
fn vector(src: &str, dst: &str, repr: Icmpv6Repr<'_>, wire: &[u8]) {
    let mut out = vec![0x55; repr.buffer_len()];
    repr.emit(
        &addr(src),
        &addr(dst),
        &mut Icmpv6Packet::new_unchecked(&mut out[..]),
    );
    assert_eq!(out, wire);
    assert_eq!(parse(src, dst, wire), Ok(repr));
    for n in 0..wire.len() {
        assert!(parse(src, dst, &wire[..n]).is_err(), "cut at {n}");
    }
}

/// Echo request fe80::1 -> fe80::2, id 0x1234, seq 1, "abcd".
#[test]
fn echo_request_vector() {
    let wire = [128, 0, 0xab, 0xb8, 0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd'];
    let repr = Icmpv6Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 1,
        data: b"abcd",
    };
    vector("fe80::1", "fe80::2", repr, &wire);
    let mut bad = wire;
    bad[9] ^= 1;
    assert_eq!(parse("fe80::1", "fe80::2", &bad), Err(Error::BadChecksum));
}

/// The Router Advertisement lowpan-br sends (RFC 4861 section 4.2, RFC 6775): hop limit
/// 64, lifetime 1800 s, SLLAO with its EUI-64 (RFC 4944 section 8), PIO fd00:aaaa::/64 with
/// A only (RFC 6775 section 5.4), 6CO context 0 /64 with C, 60 minutes.
const RA: [u8; 80] = [
    134, 0, 0xd0, 0x82, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, //
    1, 2, 0x00, 0x12, 0x4b, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, //
    3, 4, 64, 0x40, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0, //
    0xfd, 0, 0xaa, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    34, 2, 64, 0x10, 0, 0, 0, 60, 0xfd, 0, 0xaa, 0xaa, 0, 0, 0, 0,
];

fn ra_repr() -> NdiscRepr {
    NdiscRepr::RouterAdvert {
        hop_limit: 64,
        flags: RouterFlags::default(),
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_time: 0,
        lladdr: Some(LinkLayerAddress::Eui64(Eui64([
            0x00, 0x12, 0x4b, 0, 0, 0, 0, 1,
        ]))),
        mtu: None,
        prefix_infos: vec![PrefixInformation {
            prefix_len: 64,
            flags: PrefixFlags::AUTONOMOUS,
            valid_lifetime: 86_400,
            preferred_lifetime: 14_400,
            prefix: addr("fd00:aaaa::"),
        }],
        contexts: vec![SixLowpanContext {
            context_len: 64,
            compress: true,
            cid: 0,
            valid_lifetime: 60,
            prefix: addr("fd00:aaaa::"),
        }],
        abro: None,
    }
}

#[test]
fn router_advertisement_vector() {
    vector(
        "fe80::212:4b00:0:1",
        "fe80::212:4b00:0:2",
        Icmpv6Repr::Ndisc(ra_repr()),
        &RA,
    );
}

#[test]
fn router_advertisement_errors() {
    let (src, dst) = ("fe80::212:4b00:0:1", "fe80::212:4b00:0:2");
    // A non-zero code is refused once the checksum is right.
    let mut m = RA;
    m[1] = 1;
    let c = ip::icmpv6_checksum(&addr(src), &addr(dst), &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(parse(src, dst, &m), Err(Error::Malformed));
    // A zero-length option makes the whole message invalid (RFC 4861 section 4.6).
    let mut m = RA;
    m[17] = 0;
    let c = ip::icmpv6_checksum(&addr(src), &addr(dst), &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(parse(src, dst, &m), Err(Error::Malformed));
    // An unknown option (type 253, RFC 4727 experimental) is skipped.
    let mut m = RA.to_vec();
    m.extend_from_slice(&[253, 3, 0, 1, 0, 2, 0, 60]);
    m.extend_from_slice(&addr("fd00:aaaa::1").octets());
    m[2..4].fill(0);
    let c = ip::icmpv6_checksum(&addr(src), &addr(dst), &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(parse(src, dst, &m), Ok(Icmpv6Repr::Ndisc(ra_repr())));
}

/// The same RA with an ABRO (RFC 6775 section 4.3) last: version 0x00020001, 60 minutes,
/// 6LBR fd00:aaaa::1.
#[test]
fn router_advertisement_with_abro() {
    let (src, dst) = ("fe80::212:4b00:0:1", "fe80::212:4b00:0:2");
    let mut m = RA.to_vec();
    m.extend_from_slice(&[35, 3, 0, 1, 0, 2, 0, 60]);
    m.extend_from_slice(&addr("fd00:aaaa::1").octets());
    m[2..4].fill(0);
    let c = ip::icmpv6_checksum(&addr(src), &addr(dst), &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let NdiscRepr::RouterAdvert { abro: none, .. } = ra_repr() else {
        unreachable!()
    };
    assert_eq!(none, None);
    let mut repr = ra_repr();
    if let NdiscRepr::RouterAdvert { abro, .. } = &mut repr {
        *abro = Some(AuthoritativeBorderRouter {
            version: 0x0002_0001,
            valid_lifetime: 60,
            border_router: addr("fd00:aaaa::1"),
        });
    }
    vector(src, dst, Icmpv6Repr::Ndisc(repr), &m);
}

/// A RIOT-style registration: NS for fd00:aaaa::7 from itself to the router with SLLAO
/// and ARO (status 0, 60 minutes), and a router NA refusing it as a duplicate (status 1).
#[test]
fn address_registration_ns_and_na() {
    let eui = Eui64([2, 0, 0, 0, 0, 0, 0, 7]);
    let (mote, router) = ("fd00:aaaa::7", "fe80::212:4b00:0:1");
    let aro = AddressRegistration::aro(aro_status::SUCCESS, 60, eui);
    let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
    ns.extend_from_slice(&addr(mote).octets());
    ns.extend_from_slice(&[1, 2, 2, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0]);
    ns.extend_from_slice(&[33, 2, 0, 0, 0, 0, 0, 60, 2, 0, 0, 0, 0, 0, 0, 7]);
    let c = ip::icmpv6_checksum(&addr(mote), &addr(router), &ns);
    ns[2..4].copy_from_slice(&c.to_be_bytes());
    let repr = NdiscRepr::NeighborSolicit {
        target_addr: addr(mote),
        lladdr: Some(LinkLayerAddress::Eui64(eui)),
        aro: Some(aro),
    };
    vector(mote, router, Icmpv6Repr::Ndisc(repr), &ns);

    let mut na = vec![136, 0, 0, 0, 0x40, 0, 0, 0];
    na.extend_from_slice(&addr(mote).octets());
    na.extend_from_slice(&[33, 2, 1, 0, 0, 0, 0, 60, 2, 0, 0, 0, 0, 0, 0, 7]);
    let c = ip::icmpv6_checksum(&addr(router), &addr(mote), &na);
    na[2..4].copy_from_slice(&c.to_be_bytes());
    let repr = NdiscRepr::NeighborAdvert {
        flags: NeighborFlags::SOLICITED,
        target_addr: addr(mote),
        lladdr: None,
        aro: Some(AddressRegistration::aro(aro_status::DUPLICATE, 60, eui)),
    };
    vector(router, mote, Icmpv6Repr::Ndisc(repr), &na);
}

/// A mote's Router Solicitation: fe80::1 -> ff02::2 with its EUI-64 in an SLLAO.
#[test]
fn router_solicitation_vector() {
    let wire = [
        133, 0, 0x7a, 0x23, 0, 0, 0, 0, 1, 2, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
    ];
    let repr = NdiscRepr::RouterSolicit {
        lladdr: Some(LinkLayerAddress::Eui64(Eui64([2, 0, 0, 0, 0, 0, 0, 1]))),
    };
    vector(
        "fe80::1",
        &ALL_ROUTERS.to_string(),
        Icmpv6Repr::Ndisc(repr),
        &wire,
    );
}

/// A solicited, override Neighbour Advertisement for fd00:aaaa::1 with a TLLAO.
#[test]
fn neighbor_advertisement_vector() {
    let mut wire = vec![136, 0, 0xc5, 0xbd, 0x60, 0, 0, 0];
    wire.extend_from_slice(&addr("fd00:aaaa::1").octets());
    wire.extend_from_slice(&[2, 2, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    let repr = NdiscRepr::NeighborAdvert {
        flags: NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE,
        target_addr: addr("fd00:aaaa::1"),
        lladdr: Some(LinkLayerAddress::Eui64(Eui64([2, 0, 0, 0, 0, 0, 0, 1]))),
        aro: None,
    };
    vector("fd00:aaaa::1", "fe80::2", Icmpv6Repr::Ndisc(repr), &wire);
}

#[test]
fn neighbor_solicitation_and_unreachable_round_trip() {
    let (src, dst) = (addr("fe80::2"), addr("ff02::1:ff00:1"));
    let quoted = [0x60u8, 0, 0, 0, 0, 0, 17, 64];
    for repr in [
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr: addr("fd00::1"),
            lladdr: None,
            aro: None,
        }),
        Icmpv6Repr::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            data: &quoted,
        },
        Icmpv6Repr::DstUnreachable {
            reason: DstUnreachable::Unknown(9),
            data: &[],
        },
        Icmpv6Repr::EchoReply {
            ident: 7,
            seq_no: 9,
            data: &[],
        },
        Icmpv6Repr::Unknown {
            msg_type: 200,
            msg_code: 3,
            body: &[1, 2, 3],
        },
    ] {
        let p = repr.emit_ipv6_packet(src, dst, 255).unwrap();
        let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(
            Ipv6Repr::parse(&ip).unwrap().next_header,
            NextHeader::Icmpv6
        );
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(Icmpv6Repr::parse(&src, &dst, &icmp), Ok(repr));
    }
}

fn arb_lladdr() -> impl Strategy<Value = Option<LinkLayerAddress>> {
    prop_oneof![
        Just(None),
        any::<u16>().prop_map(|s| Some(LinkLayerAddress::Short(s))),
        any::<[u8; 8]>().prop_map(|e| Some(LinkLayerAddress::Eui64(Eui64(e)))),
    ]
}

prop_compose! {
    fn arb_context()(context_len in 0u8..=128, compress in any::<bool>(), cid in 0u8..16,
                     valid_lifetime in any::<u16>(), p in any::<[u8; 16]>()) -> SixLowpanContext {
        let mut prefix = p;
        if context_len <= 64 {
            prefix[8..].fill(0);
        }
        SixLowpanContext { context_len, compress, cid, valid_lifetime, prefix: prefix.into() }
    }
}

prop_compose! {
    fn arb_prefix_info()(prefix_len in any::<u8>(), flags in any::<u8>(), valid in any::<u32>(),
                         preferred in any::<u32>(), p in any::<[u8; 16]>()) -> PrefixInformation {
        PrefixInformation { prefix_len, flags: PrefixFlags(flags), valid_lifetime: valid,
                            preferred_lifetime: preferred, prefix: p.into() }
    }
}

proptest! {
    #[test]
    fn router_advert_round_trip(hop_limit in any::<u8>(), flags in any::<u8>(), router_lifetime in any::<u16>(),
                                reachable_time in any::<u32>(), retrans_time in any::<u32>(),
                                lladdr in arb_lladdr(), mtu in proptest::option::of(any::<u32>()),
                                prefix_infos in proptest::collection::vec(arb_prefix_info(), 0..3),
                                contexts in proptest::collection::vec(arb_context(), 0..4),
                                abro in proptest::option::of((any::<u32>(), any::<u16>(), any::<[u8; 16]>()))) {
        let abro = abro.map(|(version, valid_lifetime, a)| AuthoritativeBorderRouter {
            version, valid_lifetime, border_router: Ipv6Addr::from(a),
        });
        let repr = Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert {
            hop_limit, flags: RouterFlags(flags), router_lifetime, reachable_time, retrans_time,
            lladdr, mtu, prefix_infos, contexts, abro,
        });
        let (src, dst) = (addr("fe80::1"), addr("ff02::1"));
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        prop_assert_eq!(Icmpv6Repr::parse(&src, &dst, &Icmpv6Packet::new_unchecked(&buf[..])), Ok(repr));
    }

    #[test]
    fn arbitrary_bytes_never_panic(kind in prop_oneof![Just(1u8), 128u8..=136, any::<u8>()],
                                   mut bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Some(b) = bytes.first_mut() {
            *b = kind;
        }
        let (src, dst) = (addr("fe80::1"), addr("fe80::2"));
        if bytes.len() >= 4 {
            bytes[2..4].fill(0);
            let c = ip::icmpv6_checksum(&src, &dst, &bytes);
            bytes[2..4].copy_from_slice(&c.to_be_bytes());
        }
        if let Ok(repr) = Icmpv6Repr::parse(&src, &dst, &Icmpv6Packet::new_unchecked(&bytes[..])) {
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut out[..]));
        }
    }
}

/// The RA body a mote reads (after type, code, checksum): lifetime 1800, SLLAO, PIO
/// fd00:aaaa::/64 with L and A, valid 3600 s, 6CO cid 0 /64 with C, lifetime 0xffff.
fn mote_sample_ra(router: Eui64) -> Vec<u8> {
    let mut m = vec![64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[1, 2]);
    m.extend_from_slice(&router.0);
    m.extend_from_slice(&[0; 6]);
    m.extend_from_slice(&[
        3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x07, 0x08, 0, 0, 0, 0,
    ]);
    m.extend_from_slice(&addr("fd00:aaaa::").octets());
    m.extend_from_slice(&[34, 2, 64, 0x10, 0, 0, 0xff, 0xff]);
    m.extend_from_slice(&addr("fd00:aaaa::").octets()[..8]);
    m
}

#[test]
fn parses_pio_6co_and_sllao() {
    let router = Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1]);
    let ra = NdiscRepr::parse(msg_type::ROUTER_ADVERT, 0, &mote_sample_ra(router)).unwrap();
    let NdiscRepr::RouterAdvert {
        router_lifetime,
        lladdr,
        prefix_infos,
        contexts,
        ..
    } = ra
    else {
        panic!("{ra:?}")
    };
    assert_eq!(router_lifetime, 1800);
    assert_eq!(lladdr, Some(LinkLayerAddress::Eui64(router)));
    let pfx = addr("fd00:aaaa::");
    assert_eq!(prefix_infos.len(), 1);
    let p = prefix_infos[0];
    assert_eq!(
        (
            p.prefix,
            p.prefix_len,
            p.flags.contains(PrefixFlags::AUTONOMOUS),
            p.valid_lifetime
        ),
        (pfx, 64, true, 3600)
    );
    assert_eq!(
        contexts,
        vec![SixLowpanContext {
            cid: 0,
            prefix: pfx,
            context_len: 64,
            compress: true,
            valid_lifetime: 0xffff
        }]
    );
}

#[test]
fn truncated_or_garbage_options_do_not_panic() {
    let ra = mote_sample_ra(Eui64([1; 8]));
    for n in 0..ra.len() {
        let _ = NdiscRepr::parse(msg_type::ROUTER_ADVERT, 0, &ra[..n]);
    }
    let mut x = 3u64;
    for _ in 0..3000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = (x >> 33) as usize % 80;
        let m: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8 ^ i as u8).collect();
        let _ = NdiscRepr::parse(msg_type::ROUTER_ADVERT, 0, &m);
        let _ = NdiscRepr::parse(msg_type::NEIGHBOR_SOLICIT, 0, &m);
    }
}
