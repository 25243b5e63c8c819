//! Any bytes as an IPv6 packet: Ipv6Repr, UdpRepr and Icmpv6Repr (with ND and its 6LoWPAN
//! options: ARO/EARO, ABRO, 6CO) never panic on parse, and whatever parses emits into
//! exactly `buffer_len` bytes and parses back equal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lowpan::ip::{Icmpv6Packet, Ipv6Packet, UdpPacket};
use lowpan::ipv6::{NextHeader, UpperLayer, upper_layer};
use lowpan::{Icmpv6Repr, Ipv6Repr, UdpRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(ip) = Ipv6Packet::new_checked(data) else {
        return;
    };
    let Ok(header) = Ipv6Repr::parse(&ip) else {
        return;
    };
    let (src, dst) = (header.src_addr, header.dst_addr);
    let UpperLayer::Protocol(nh, upper) = upper_layer(header.next_header, ip.payload()) else {
        return;
    };
    match nh {
        NextHeader::Udp => {
            let Ok(view) = UdpPacket::new_checked(upper) else {
                return;
            };
            if let Ok(udp) = UdpRepr::parse(&view, &src, &dst) {
                let mut out = vec![0u8; udp.buffer_len()];
                udp.emit(&mut UdpPacket::new_unchecked(&mut out[..]), &src, &dst);
                let again = UdpRepr::parse(&UdpPacket::new_unchecked(&out[..]), &src, &dst);
                assert_eq!(again, Ok(udp));
            }
        }
        NextHeader::Icmpv6 => {
            let Ok(view) = Icmpv6Packet::new_checked(upper) else {
                return;
            };
            if let Ok(icmp) = Icmpv6Repr::parse(&src, &dst, &view) {
                let mut out = vec![0u8; icmp.buffer_len()];
                icmp.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut out[..]));
                let again = Icmpv6Repr::parse(&src, &dst, &Icmpv6Packet::new_unchecked(&out[..]));
                assert_eq!(again, Ok(icmp));
            }
        }
        _ => {}
    }
});
