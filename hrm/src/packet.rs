//! The IPv6/UDP packets the border router writes into the TUN on a mote's behalf. Packets
//! come in already parsed (lowpan's [`CheckedIpv6Packet`](lowpan::CheckedIpv6Packet)).

use lowpan::UdpRepr;
use std::net::Ipv6Addr;

/// Hop limit of packets the border router originates in a mote's name (RFC 8200 suggests
/// the interface default; 64 is Linux's).
pub const EMIT_HOP_LIMIT: u8 = 64;
pub use lowpan::udp::MAX_UDP_PAYLOAD;

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
    use lowpan::ip::{Ipv6Packet, next_header, verify_checksum};
    use lowpan::{CheckedIpv6Packet, Transport};

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
        match CheckedIpv6Packet::parse(&pkt[..]).unwrap().transport() {
            Transport::Udp(udp) => {
                assert_eq!(
                    (udp.src_port(), udp.dst_port(), udp.payload()),
                    (5684, 40000, &b"hello"[..])
                );
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
}
