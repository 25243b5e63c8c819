//! IPv6/UDP plumbing around the HRM: find the UDP datagram in a packet headed for a mote,
//! and build the packets the border router writes into the TUN on a mote's behalf.

use lowpan::UdpRepr;
use lowpan::ip::{Ipv6Packet, UDP_HEADER_LEN, UdpPacket};
use lowpan::ipv6::{NextHeader, UpperLayer, upper_layer};
use std::net::Ipv6Addr;

/// Hop limit of packets the border router originates in a mote's name (RFC 8200 suggests
/// the interface default; 64 is Linux's).
pub const EMIT_HOP_LIMIT: u8 = 64;
pub use lowpan::udp::MAX_UDP_PAYLOAD;

/// Where the UDP datagram of an IPv6 packet is, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transport<'a> {
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
    /// Not UDP (ICMPv6, TCP, ...): not the HRM's business.
    Other,
    /// An IPv6 fragment: the UDP header may be in another packet, the HRM cannot classify it.
    Fragment,
    /// An extension-header chain that is truncated or too long.
    BadExtension,
    /// Next header is UDP but the UDP header is truncated or its length is wrong.
    BadUdp,
}

/// The UDP datagram past the extension headers (lowpan's [`upper_layer`]).
pub(crate) fn transport_of<T: AsRef<[u8]>>(ip: &Ipv6Packet<T>) -> Transport<'_> {
    match upper_layer(NextHeader::from(ip.next_header()), ip.payload()) {
        UpperLayer::Protocol(NextHeader::Udp, rest) => match UdpPacket::new_checked(rest) {
            Ok(udp) => Transport::Udp {
                src_port: udp.src_port(),
                dst_port: udp.dst_port(),
                payload: &rest[UDP_HEADER_LEN..usize::from(udp.len())],
            },
            Err(_) => Transport::BadUdp,
        },
        UpperLayer::Protocol(..) => Transport::Other,
        UpperLayer::Fragment => Transport::Fragment,
        UpperLayer::BadExtension => Transport::BadExtension,
    }
}

/// The UDP payload is too long for one IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadTooLong {
    pub len: usize,
}

impl core::fmt::Display for PayloadTooLong {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "UDP payload of {} bytes exceeds {MAX_UDP_PAYLOAD}",
            self.len
        )
    }
}

impl std::error::Error for PayloadTooLong {}

/// A complete IPv6+UDP packet with a correct checksum (lowpan's [`UdpRepr`]).
pub fn build_udp_packet(
    src: (Ipv6Addr, u16),
    dst: (Ipv6Addr, u16),
    hop_limit: u8,
    payload: &[u8],
) -> Result<Vec<u8>, PayloadTooLong> {
    UdpRepr {
        src_port: src.1,
        dst_port: dst.1,
        payload,
    }
    .emit_ipv6_packet(src.0, dst.0, hop_limit)
    .map_err(|_| PayloadTooLong { len: payload.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowpan::ip::{next_header, verify_checksum};

    #[test]
    fn built_packet_parses_and_checksums() {
        let mote: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
        let peer: Ipv6Addr = "2001:db8:ffff::9".parse().unwrap();
        let pkt = build_udp_packet((mote, 5684), (peer, 40000), 64, b"hello").unwrap();
        let ip = Ipv6Packet::new_checked(&pkt[..]).unwrap();
        assert_eq!(ip.src_addr(), mote);
        assert_eq!(ip.dst_addr(), peer);
        assert_eq!(ip.hop_limit(), 64);
        assert!(verify_checksum(
            &mote,
            &peer,
            next_header::UDP,
            ip.payload()
        ));
        match transport_of(&ip) {
            Transport::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                assert_eq!((src_port, dst_port, payload), (5684, 40000, &b"hello"[..]));
            }
            t => panic!("{t:?}"),
        }
    }

    /// A known checksum: fe80::1 -> fe80::2, ports 1234 -> 5678, payload "abc".
    /// Worked by hand: pseudo-header sum 0xfe80+0x0001+0xfe80+0x0002+0x000b+0x0011, UDP
    /// header 0x04d2+0x162e+0x000b, data 0x6162+0x6300; folded and complemented.
    #[test]
    fn checksum_vector() {
        let a: Ipv6Addr = "fe80::1".parse().unwrap();
        let b: Ipv6Addr = "fe80::2".parse().unwrap();
        let pkt = build_udp_packet((a, 1234), (b, 5678), 1, b"abc").unwrap();
        let sum: u32 = 0xfe80
            + 0x0001
            + 0xfe80
            + 0x0002
            + 0x000b
            + 0x0011
            + 0x04d2
            + 0x162e
            + 0x000b
            + 0x6162
            + 0x6300;
        let folded = (sum & 0xffff) + (sum >> 16);
        let folded = (folded & 0xffff) + (folded >> 16);
        let expect = !(folded as u16);
        assert_eq!(u16::from_be_bytes([pkt[46], pkt[47]]), expect);
    }

    #[test]
    fn oversize_payload_is_refused() {
        let a = Ipv6Addr::LOCALHOST;
        assert_eq!(
            build_udp_packet((a, 1), (a, 2), 1, &vec![0; MAX_UDP_PAYLOAD + 1]),
            Err(PayloadTooLong {
                len: MAX_UDP_PAYLOAD + 1
            })
        );
        assert!(build_udp_packet((a, 1), (a, 2), 1, &vec![0; MAX_UDP_PAYLOAD]).is_ok());
    }

    #[test]
    fn extension_headers_are_walked() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut pkt = build_udp_packet((a, 1), (a, 5684), 9, b"x").unwrap();
        // Insert an 8-byte destination-options header (PadN) before UDP.
        let mut ext = vec![next_header::UDP, 0, 1, 4, 0, 0, 0, 0];
        let udp = pkt.split_off(40);
        pkt[6] = next_header::DEST_OPTS;
        let plen = (udp.len() + 8) as u16;
        pkt[4..6].copy_from_slice(&plen.to_be_bytes());
        pkt.append(&mut ext);
        pkt.extend_from_slice(&udp);
        let ip = Ipv6Packet::new_checked(&pkt[..]).unwrap();
        assert!(matches!(
            transport_of(&ip),
            Transport::Udp { dst_port: 5684, .. }
        ));
        // Truncate the extension header's claimed length.
        let mut bad = pkt.clone();
        bad[41] = 200;
        let ip = Ipv6Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(transport_of(&ip), Transport::BadExtension);
        let mut frag = pkt.clone();
        frag[6] = next_header::FRAGMENT;
        let ip = Ipv6Packet::new_checked(&frag[..]).unwrap();
        assert_eq!(transport_of(&ip), Transport::Fragment);
    }
}
