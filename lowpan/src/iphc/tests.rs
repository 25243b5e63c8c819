//! Byte vectors worked out from the RFC 6282 bit layouts, plus round trips.
use super::*;
use crate::ieee802154::Eui64;
use crate::testgen;
use proptest::prelude::*;

fn ext(last: u8) -> Address {
    Address::Extended(Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, last]))
}

fn links_ext() -> LinkAddrs {
    LinkAddrs {
        src: ext(1),
        dst: ext(2),
    }
}

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn packet(src: &str, dst: &str, tc: u8, fl: u32, nh: u8, hl: u8, payload: &[u8]) -> Vec<u8> {
    testgen::ipv6(a(src), a(dst), tc, fl, nh, hl, payload)
}

fn compress_vec(ctx: &ContextTable, links: &LinkAddrs, p: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = compress(ctx, links, p, &mut out).unwrap();
    out.extend_from_slice(&p[n..]);
    out
}

fn roundtrip(ctx: &ContextTable, links: &LinkAddrs, p: &[u8]) -> Vec<u8> {
    let c = compress_vec(ctx, links, p);
    assert_eq!(decompress_packet(ctx, links, &c).unwrap(), p);
    c
}

#[test]
fn contiki_echo_request_link_local() {
    // 7a = 011 TF=11 NH=0 HLIM=10(64); 33 = SAM=11 DAM=11; 3a = ICMPv6 inline.
    let p = packet(
        "fe80::212:4b00:0:1",
        "fe80::212:4b00:0:2",
        0,
        0,
        58,
        64,
        &[128, 0, 0xab, 0xcd, 0, 1, 0, 7],
    );
    let c = roundtrip(&ContextTable::new(), &links_ext(), &p);
    assert_eq!(c, [0x7a, 0x33, 0x3a, 128, 0, 0xab, 0xcd, 0, 1, 0, 7]);
}

#[test]
fn rpl_dio_to_ff02_1a() {
    // 7b = TF=11 NH inline HLIM=11(255); 3b = SAM=11, M=1 DAM=11 (ff02::XX, 8 bits inline).
    let p = packet(
        "fe80::212:4b00:0:1",
        "ff02::1a",
        0,
        0,
        58,
        255,
        &[155, 1, 0, 0],
    );
    let c = roundtrip(
        &ContextTable::new(),
        &LinkAddrs {
            src: ext(1),
            dst: Address::BROADCAST,
        },
        &p,
    );
    assert_eq!(c, [0x7b, 0x3b, 0x3a, 0x1a, 155, 1, 0, 0]);
}

#[test]
fn multicast_forms() {
    let l = LinkAddrs {
        src: ext(1),
        dst: Address::BROADCAST,
    };
    let t = ContextTable::new();
    // DAM=10: ffXX::00XX:XXXX -> 4 bytes (scope byte + 24 bits).
    let c = roundtrip(
        &t,
        &l,
        &packet("fe80::212:4b00:0:1", "ff05::1:3", 0, 0, 59, 64, &[]),
    );
    assert_eq!(c, [0x7a, 0x3a, 59, 0x05, 0x01, 0x00, 0x03]);
    // DAM=01: ffXX::00XX:XXXX:XXXX -> 6 bytes.
    let c = roundtrip(
        &t,
        &l,
        &packet(
            "fe80::212:4b00:0:1",
            "ff0e::12:3456:789a",
            0,
            0,
            59,
            64,
            &[],
        ),
    );
    assert_eq!(c, [0x7a, 0x39, 59, 0x0e, 0x12, 0x34, 0x56, 0x78, 0x9a]);
    // DAM=00: inline.
    let c = roundtrip(
        &t,
        &l,
        &packet("fe80::212:4b00:0:1", "ff02:1::1", 0, 0, 59, 64, &[]),
    );
    assert_eq!(&c[..3], [0x7a, 0x38, 59]);
    assert_eq!(c.len(), 3 + 16);
}

#[test]
fn unicast_prefix_based_multicast_dac1() {
    // DAC=1 M=1 DAM=00: ffXX:XXLL:PPPP:PPPP:PPPP:PPPP:XXXX:XXXX, 48 bits inline.
    let t = ContextTable::with_prefix(a("2001:db8::"), 64);
    let wire = [0x7a, 0x3c, 59, 0x3e, 0x00, 0x12, 0x34, 0x56, 0x78];
    let (h, used) = decompress(&t, &links_ext(), &wire).unwrap();
    assert_eq!(used, wire.len());
    assert_eq!(h.dst_addr(), a("ff3e:40:2001:db8::1234:5678"));
    // and we encode it the same way
    let p = packet(
        "fe80::212:4b00:0:1",
        "ff3e:40:2001:db8::1234:5678",
        0,
        0,
        59,
        64,
        &[],
    );
    assert_eq!(roundtrip(&t, &links_ext(), &p), wire);
    // DAC=1 M=1 DAM=01 is reserved
    assert_eq!(
        decompress(&t, &links_ext(), &[0x7a, 0x3d, 59, 0, 0, 0, 0, 0, 0]).unwrap_err(),
        IphcError::ReservedMode
    );
}

#[test]
fn udp_nhc_port_forms_and_checksum_inline() {
    let t = ContextTable::new();
    let l = links_ext();
    let udp = |sp: u16, dp: u16| {
        testgen::udp_packet(
            a("fe80::212:4b00:0:1"),
            a("fe80::212:4b00:0:2"),
            0,
            0,
            64,
            sp,
            dp,
            b"hi",
        )
    };
    // 4-bit form: 11110 C=0 P=11, then ssss dddd.
    let p = udp(0xf0b1, 0xf0b2);
    let c = roundtrip(&t, &l, &p);
    assert_eq!(&c[..4], [0x7e, 0x33, 0xf3, 0x12]);
    assert_eq!(&c[4..6], &p[46..48], "checksum carried as is");
    assert_eq!(&c[6..], b"hi");
    // dst in 0xf0XX (8 bits), src inline: P=01.
    let c = roundtrip(&t, &l, &udp(0x1633, 0xf012));
    assert_eq!(&c[2..6], [0xf1, 0x16, 0x33, 0x12]);
    // src in 0xf0XX, dst inline: P=10.
    let c = roundtrip(&t, &l, &udp(0xf0c4, 0x1633));
    assert_eq!(&c[2..6], [0xf2, 0xc4, 0x16, 0x33]);
    // both inline: P=00.
    let c = roundtrip(&t, &l, &udp(5683, 5684));
    assert_eq!(&c[2..7], [0xf0, 0x16, 0x33, 0x16, 0x34]);
    // one port in 0xf0bX, the other only in 0xf0XX: 8-bit dst form.
    let c = roundtrip(&t, &l, &udp(0xf0b1, 0xf0c2));
    assert_eq!(&c[2..6], [0xf1, 0xf0, 0xb1, 0xc2]);
}

#[test]
fn elided_udp_checksum_is_recomputed() {
    let p = testgen::udp_packet(
        a("fe80::212:4b00:0:1"),
        a("fe80::212:4b00:0:2"),
        0,
        0,
        64,
        0xf0b1,
        0xf0b2,
        b"abc",
    );
    // C=1: f7 = 11110 1 11
    let wire = [0x7e, 0x33, 0xf7, 0x12, b'a', b'b', b'c'];
    assert_eq!(
        decompress_packet(&ContextTable::new(), &links_ext(), &wire).unwrap(),
        p
    );
}

#[test]
fn traffic_class_and_flow_label_forms() {
    let t = ContextTable::new();
    let l = links_ext();
    let (s, d) = ("fe80::212:4b00:0:1", "fe80::212:4b00:0:2");
    // TF=00: tc 0xb7 = DSCP 0x2d ECN 3 -> ECN|DSCP = 0xed, then 4 pad bits + 20-bit label.
    let c = roundtrip(&t, &l, &packet(s, d, 0xb7, 0xabcde, 59, 64, &[]));
    assert_eq!(c, [0x62, 0x33, 0xed, 0x0a, 0xbc, 0xde, 59]);
    // TF=01: DSCP 0, ECN 1, full 20-bit label in 3 bytes.
    let c = roundtrip(&t, &l, &packet(s, d, 0x01, 0xfffff, 59, 64, &[]));
    assert_eq!(c, [0x6a, 0x33, 0x4f, 0xff, 0xff, 59]);
    // TF=10: label 0, one byte ECN|DSCP.
    let c = roundtrip(&t, &l, &packet(s, d, 0xb7, 0, 59, 64, &[]));
    assert_eq!(c, [0x72, 0x33, 0xed, 59]);
}

#[test]
fn hop_limit_inline() {
    let c = roundtrip(
        &ContextTable::new(),
        &links_ext(),
        &packet(
            "fe80::212:4b00:0:1",
            "fe80::212:4b00:0:2",
            0,
            0,
            59,
            17,
            &[],
        ),
    );
    assert_eq!(c, [0x78, 0x33, 59, 17]);
}

#[test]
fn short_address_forms() {
    let t = ContextTable::new();
    let short = LinkAddrs {
        src: Address::Short(0x1234),
        dst: Address::Short(0x0001),
    };
    // both derived from the short addresses: SAM=DAM=11
    let p = packet("fe80::ff:fe00:1234", "fe80::ff:fe00:1", 0, 0, 59, 64, &[]);
    assert_eq!(roundtrip(&t, &short, &p), [0x7a, 0x33, 59]);
    // with extended link addresses they take the 16-bit form: SAM=DAM=10
    assert_eq!(
        roundtrip(&t, &links_ext(), &p),
        [0x7a, 0x22, 59, 0x12, 0x34, 0x00, 0x01]
    );
    // 64-bit form: SAM=01, DAM=01
    let p = packet("fe80::1:2:3:4", "fe80::5:6:7:8", 0, 0, 59, 64, &[]);
    let c = roundtrip(&t, &short, &p);
    assert_eq!(&c[..3], [0x7a, 0x11, 59]);
    assert_eq!(c.len(), 3 + 16);
    // not compressible link-local (non-zero bits 10..64): inline
    let p = packet("fe80:0:0:1::1", "fe80::ff:fe00:1", 0, 0, 59, 64, &[]);
    assert_eq!(&roundtrip(&t, &short, &p)[..3], [0x7a, 0x03, 59]);
}

#[test]
fn context_based() {
    let mut t = ContextTable::with_prefix(a("2001:db8::"), 64);
    let l = links_ext();
    // SAC=1 SAM=11 / DAC=1 DAM=11, context 0 without CID byte.
    let p = packet(
        "2001:db8::212:4b00:0:1",
        "2001:db8::212:4b00:0:2",
        0,
        0,
        59,
        64,
        &[],
    );
    assert_eq!(roundtrip(&t, &l, &p), [0x7a, 0x77, 59]);
    // Context 3 for the destination: CID=1, byte 0x03, DAC=1 DAM=01.
    assert!(t.set(
        3,
        Context {
            prefix: a("2001:db8:1::"),
            len: 64,
            compress: true
        }
    ));
    let p = packet(
        "2001:db8::212:4b00:0:1",
        "2001:db8:1::42",
        0,
        0,
        59,
        64,
        &[],
    );
    assert_eq!(
        roundtrip(&t, &l, &p),
        [0x7a, 0xf5, 0x03, 59, 0, 0, 0, 0, 0, 0, 0, 0x42]
    );
    // Unspecified source: SAC=1 SAM=00.
    let p = packet("::", "ff02::2", 0, 0, 58, 255, &[133, 0, 0, 0]);
    assert_eq!(roundtrip(&t, &l, &p)[..4], [0x7b, 0x4b, 0x3a, 0x02]);
    // A global address outside every context goes inline.
    let p = packet("2001:db8:2::1", "2001:db8::212:4b00:0:2", 0, 0, 59, 64, &[]);
    assert_eq!(roundtrip(&t, &l, &p)[..2], [0x7a, 0x07]);
    // A context id that is not configured.
    assert_eq!(
        decompress(&t, &l, &[0x7a, 0xf5, 0x05, 59, 0, 0, 0, 0, 0, 0, 0, 0x42]).unwrap_err(),
        IphcError::BadContext(5)
    );
    // SAM=11 without a link-layer source.
    let none = LinkAddrs {
        src: Address::Absent,
        dst: Address::Absent,
    };
    assert_eq!(
        decompress(&t, &none, &[0x7a, 0x33, 59]).unwrap_err(),
        IphcError::NoLinkAddress
    );
}

#[test]
fn context_longer_than_64_bits_wins_over_inline_iid() {
    let mut t = ContextTable::new();
    assert!(t.set(
        0,
        Context {
            prefix: a("2001:db8::aaaa:0:0:0"),
            len: 80,
            compress: true
        }
    ));
    let p = packet(
        "2001:db8::aaaa:0:ff:1",
        "2001:db8::aaaa:0:0:2",
        0,
        0,
        59,
        64,
        &[],
    );
    roundtrip(&t, &links_ext(), &p);
}

#[test]
fn truncated_and_unsupported() {
    let t = ContextTable::new();
    assert_eq!(
        decompress(&t, &links_ext(), &[0x7a]).unwrap_err(),
        IphcError::Truncated
    );
    assert_eq!(
        decompress(&t, &links_ext(), &[0x41, 0]).unwrap_err(),
        IphcError::NotIphc
    );
    // NH=1 with an IPv6 extension-header NHC whose next header is missing.
    assert_eq!(
        decompress(&t, &links_ext(), &[0x7e, 0x33, 0xe0]).unwrap_err(),
        IphcError::Truncated
    );
    // The Mobility header (EID 4) and reserved EIDs are not handled.
    assert_eq!(
        decompress(&t, &links_ext(), &[0x7e, 0x33, 0xe8]).unwrap_err(),
        IphcError::UnsupportedNhc(0xe8)
    );
    assert_eq!(
        decompress(&t, &links_ext(), &[0x7e, 0x33, 0xea]).unwrap_err(),
        IphcError::UnsupportedNhc(0xea)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn compress_roundtrip(case in testgen::arb_case()) {
        let mut out = Vec::new();
        let n = compress(&case.contexts, &case.links, &case.packet, &mut out).unwrap();
        out.extend_from_slice(&case.packet[n..]);
        prop_assert!(out.len() <= case.packet.len() + 3);
        prop_assert_eq!(decompress_packet(&case.contexts, &case.links, &out).unwrap(), case.packet);
    }

    #[test]
    fn decompress_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), short in any::<bool>()) {
        let t = ContextTable::with_prefix(a("2001:db8::"), 64);
        let l = if short { LinkAddrs { src: Address::Short(1), dst: Address::Absent } } else { links_ext() };
        let mut b = bytes;
        if let Some(x) = b.first_mut() { *x = 0x60 | (*x & 0x1f); }
        // Whatever decodes must re-encode to something that decodes the same.
        if let Ok(p) = decompress_packet(&t, &l, &b) {
            let c = compress_vec(&t, &l, &p);
            prop_assert_eq!(decompress_packet(&t, &l, &c).unwrap(), p);
        }
    }
}
