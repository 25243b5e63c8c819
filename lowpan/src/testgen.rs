//! Packet builders and proptest strategies shared by the unit tests.
use crate::LinkAddrs;
use crate::icmpv6::{Icmpv6Repr, msg_type};
use crate::ieee802154::{Address, Eui64};
use crate::ip::{self, next_header};
use crate::iphc::{Context, ContextTable};
use crate::ipv6::{Ipv6Repr, NextHeader};
use crate::udp::UdpRepr;
use proptest::prelude::*;
use std::net::Ipv6Addr;

fn header(src: Ipv6Addr, dst: Ipv6Addr, tc: u8, fl: u32, nh: u8, hl: u8) -> Ipv6Repr {
    Ipv6Repr {
        traffic_class: tc,
        flow_label: fl,
        ..Ipv6Repr::new(src, dst, NextHeader::from(nh), hl, 0)
    }
}

pub fn ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    tc: u8,
    fl: u32,
    nh: u8,
    hl: u8,
    payload: &[u8],
) -> Vec<u8> {
    header(src, dst, tc, fl, nh, hl)
        .emit_packet(payload.len(), |p| p.copy_from_slice(payload))
        .unwrap()
}

#[allow(clippy::too_many_arguments)]
pub fn udp_packet(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    tc: u8,
    fl: u32,
    hl: u8,
    sp: u16,
    dp: u16,
    data: &[u8],
) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: sp,
        dst_port: dp,
        payload: data,
    };
    udp.emit_after(&header(src, dst, tc, fl, next_header::UDP, hl))
        .unwrap()
}

/// An echo request whose body (`data`) may be shorter than an echo's identifier and
/// sequence number, hence emitted as a message of type 128 that is not parsed as an echo.
pub fn icmp_packet(src: Ipv6Addr, dst: Ipv6Addr, tc: u8, fl: u32, hl: u8, data: &[u8]) -> Vec<u8> {
    let msg = Icmpv6Repr::Unknown {
        msg_type: msg_type::ECHO_REQUEST,
        msg_code: 0,
        body: data,
    };
    msg.emit_after(&header(src, dst, tc, fl, next_header::ICMPV6, hl))
        .unwrap()
}

#[derive(Clone, Debug)]
pub struct Case {
    pub contexts: ContextTable,
    pub links: LinkAddrs,
    pub packet: Vec<u8>,
}

fn arb_link() -> impl Strategy<Value = Address> {
    prop_oneof![
        3 => any::<[u8; 8]>().prop_map(|b| Address::Extended(Eui64(b))),
        2 => any::<u16>().prop_map(Address::Short),
        1 => Just(Address::Absent),
    ]
}

/// Address kinds, interpreted against the link address and the contexts.
fn unicast(kind: u8, rnd: [u8; 16], ll: Address, ctx0: [u8; 16], ctx3: [u8; 16]) -> Ipv6Addr {
    let ll_iid = ip::iid_from_link(ll).unwrap_or([rnd[8], rnd[9], 0, 0, 0, 0, 0, 1]);
    let mut a = rnd;
    match kind % 9 {
        0 => {
            a[..8].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
            a[8..].copy_from_slice(&ll_iid);
        }
        1 => a[..8].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0]),
        2 => {
            a[..8].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
            a[8..14].copy_from_slice(&[0, 0, 0, 0xff, 0xfe, 0]);
        }
        3 => {
            a[..8].copy_from_slice(&ctx0[..8]);
            a[8..].copy_from_slice(&ll_iid);
        }
        4 => a[..8].copy_from_slice(&ctx0[..8]),
        5 => {
            a[..8].copy_from_slice(&ctx0[..8]);
            a[8..14].copy_from_slice(&[0, 0, 0, 0xff, 0xfe, 0]);
        }
        6 => a[..6].copy_from_slice(&ctx3[..6]),
        7 => a = [0; 16],
        _ => {
            if a[0] == 0xff {
                a[0] = 0x20;
            }
        }
    }
    Ipv6Addr::from(a)
}

fn multicast(kind: u8, rnd: [u8; 16], ctx0: [u8; 16]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a[0] = 0xff;
    match kind % 5 {
        0 => {
            a[1] = 0x02;
            a[15] = rnd[15];
        }
        1 => {
            a[1] = rnd[1];
            a[13..].copy_from_slice(&rnd[13..]);
        }
        2 => {
            a[1] = rnd[1];
            a[11..].copy_from_slice(&rnd[11..]);
        }
        3 => {
            a[1] = rnd[1];
            a[2] = rnd[2];
            a[3] = 64;
            a[4..12].copy_from_slice(&ctx0[..8]);
            a[12..].copy_from_slice(&rnd[12..]);
        }
        _ => {
            a[1..].copy_from_slice(&rnd[1..]);
        }
    }
    Ipv6Addr::from(a)
}

prop_compose! {
    fn arb_header()(src_kind in 0u8..9, dst_kind in 0u8..14, rs in any::<[u8; 16]>(), rd in any::<[u8; 16]>(),
                    ctx0 in any::<[u8; 16]>(), ctx3 in any::<[u8; 16]>(), ctx3_len in 0u8..=128,
                    lsrc in arb_link(), ldst in arb_link(),
                    tc in prop_oneof![Just(0u8), any::<u8>(), (0u8..4)], fl in prop_oneof![Just(0u32), 0u32..0x10_0000],
                    hl in prop_oneof![Just(1u8), Just(64), Just(255), any::<u8>()])
        -> (ContextTable, LinkAddrs, Ipv6Addr, Ipv6Addr, u8, u32, u8) {
        let mut t = ContextTable::with_prefix(Ipv6Addr::from(ctx0), 64);
        t.set(3, Context { prefix: Ipv6Addr::from(ctx3), len: ctx3_len, compress: true });
        let src = unicast(src_kind, rs, lsrc, ctx0, ctx3);
        let dst = if dst_kind < 9 { unicast(dst_kind, rd, ldst, ctx0, ctx3) } else { multicast(dst_kind - 9, rd, ctx0) };
        (t, LinkAddrs { src: lsrc, dst: ldst }, src, dst, tc, fl, hl)
    }
}

fn arb_port() -> impl Strategy<Value = u16> {
    prop_oneof![
        any::<u16>(),
        (0xf0b0u16..=0xf0bf),
        (0xf000u16..=0xf0ff),
        Just(5683u16),
        Just(5684u16)
    ]
}

prop_compose! {
    /// A packet of up to 1280 bytes: UDP, ICMPv6 or another next header.
    pub fn arb_case()(h in arb_header(), kind in 0u8..4, sp in arb_port(), dp in arb_port(), other_nh in any::<u8>(),
                      len in prop_oneof![0usize..64, 0usize..=1232], fill in any::<u8>()) -> Case {
        let (contexts, links, src, dst, tc, fl, hl) = h;
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(fill)).collect();
        let packet = match kind {
            0 | 1 => udp_packet(src, dst, tc, fl, hl, sp, dp, &data),
            2 => icmp_packet(src, dst, tc, fl, hl, &data),
            _ => ipv6(src, dst, tc, fl, other_nh, hl, &data),
        };
        Case { contexts, links, packet }
    }
}
