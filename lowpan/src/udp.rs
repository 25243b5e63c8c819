//! UDP over IPv6 as a high-level [`UdpRepr`] (RFC 768, checksum over the IPv6 pseudo-header
//! as RFC 8200 section 8.1 requires) over the [`UdpPacket`] view.

use std::net::Ipv6Addr;

use crate::ip::{self, Error, UDP_HEADER_LEN, UdpPacket, next_header};
use crate::ipv6::{Ipv6Repr, NextHeader};

/// Largest UDP payload an IPv6 packet without jumbograms can carry.
pub const MAX_UDP_PAYLOAD: usize = u16::MAX as usize - UDP_HEADER_LEN;

/// A UDP datagram: ports and the payload it borrows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// A checked view sent from `src` to `dst`; the checksum must verify (a zero checksum,
    /// "none" in IPv4, is not allowed in IPv6).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&'a T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) -> Result<Self, Error> {
        packet.check_len()?;
        let datagram = &packet.as_bytes()[..usize::from(packet.len())];
        if packet.checksum() == 0 || !ip::verify_checksum(src, dst, next_header::UDP, datagram) {
            return Err(Error::BadChecksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: &datagram[UDP_HEADER_LEN..],
        })
    }

    /// Header and payload.
    pub const fn buffer_len(&self) -> usize {
        UDP_HEADER_LEN + self.payload.len()
    }

    /// Writes the datagram with its checksum into the first [`UdpRepr::buffer_len`] bytes
    /// of `packet`. A payload over [`MAX_UDP_PAYLOAD`] cannot be described by the length
    /// field: [`UdpRepr::emit_ipv6_packet`] refuses it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) {
        let len = self.buffer_len();
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(u16::try_from(len).unwrap_or(0));
        packet.set_checksum(0);
        let buf = &mut packet.as_bytes_mut()[..len];
        buf[UDP_HEADER_LEN..].copy_from_slice(self.payload);
        let checksum = ip::udp_checksum(src, dst, buf);
        packet.set_checksum(checksum);
    }

    /// The whole IPv6 packet carrying this datagram from `src` to `dst` (no traffic class,
    /// no flow label). [`Error::TooLong`] when the payload exceeds [`MAX_UDP_PAYLOAD`].
    pub fn emit_ipv6_packet(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
    ) -> Result<Vec<u8>, Error> {
        let header = Ipv6Repr::new(src, dst, NextHeader::Udp, hop_limit, 0);
        self.emit_after(&header)
    }

    /// The whole IPv6 packet with the fields of `header` (its `next_header` and
    /// `payload_len` are set here).
    pub fn emit_after(&self, header: &Ipv6Repr) -> Result<Vec<u8>, Error> {
        if self.payload.len() > MAX_UDP_PAYLOAD {
            return Err(Error::TooLong);
        }
        let header = Ipv6Repr {
            next_header: NextHeader::Udp,
            ..*header
        };
        header.emit_packet(self.buffer_len(), |upper| {
            self.emit(
                &mut UdpPacket::new_unchecked(upper),
                &header.src_addr,
                &header.dst_addr,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::{IPV6_HEADER_LEN, Ipv6Packet};
    use proptest::prelude::*;

    fn a() -> Ipv6Addr {
        "fe80::1".parse().unwrap()
    }
    fn b() -> Ipv6Addr {
        "fe80::2".parse().unwrap()
    }

    /// fe80::1 -> fe80::2, ports 1234 -> 5678, payload "abc". The checksum worked by hand:
    /// pseudo-header 0xfe80+0x0001+0xfe80+0x0002+0x000b+0x0011, UDP header
    /// 0x04d2+0x162e+0x000b, data 0x6162+0x6300 = 0x2dc8c; folded 0xdc8e; complement 0x2371.
    const DATAGRAM: [u8; 11] = [
        0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0b, 0x23, 0x71, b'a', b'b', b'c',
    ];

    #[test]
    fn checksum_vector_both_ways() {
        let repr = UdpRepr {
            src_port: 1234,
            dst_port: 5678,
            payload: b"abc",
        };
        let mut out = [0u8; 11];
        assert_eq!(repr.buffer_len(), out.len());
        repr.emit(&mut UdpPacket::new_unchecked(&mut out[..]), &a(), &b());
        assert_eq!(out, DATAGRAM);
        let view = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(UdpRepr::parse(&view, &a(), &b()), Ok(repr));
        // The same bytes between other addresses do not verify.
        assert_eq!(UdpRepr::parse(&view, &b(), &b()), Err(Error::BadChecksum));
    }

    #[test]
    fn zero_checksum_truncated_and_bad_length_are_errors() {
        let mut d = DATAGRAM;
        d[6..8].copy_from_slice(&[0, 0]);
        let view = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(UdpRepr::parse(&view, &a(), &b()), Err(Error::BadChecksum));
        for n in 0..DATAGRAM.len() {
            let view = UdpPacket::new_unchecked(&DATAGRAM[..n]);
            assert_eq!(
                UdpRepr::parse(&view, &a(), &b()),
                Err(Error::Truncated),
                "{n}"
            );
        }
        let mut d = DATAGRAM;
        d[5] = 7;
        assert_eq!(
            UdpRepr::parse(&UdpPacket::new_unchecked(&d[..]), &a(), &b()),
            Err(Error::BadLength)
        );
    }

    #[test]
    fn whole_packet_and_oversize() {
        let repr = UdpRepr {
            src_port: 1234,
            dst_port: 5678,
            payload: b"abc",
        };
        let p = repr.emit_ipv6_packet(a(), b(), 1).unwrap();
        assert_eq!(p.len(), IPV6_HEADER_LEN + 11);
        assert_eq!(&p[..8], &[0x60, 0, 0, 0, 0, 11, 17, 1]);
        assert_eq!(&p[IPV6_HEADER_LEN..], &DATAGRAM);
        let big = vec![0u8; MAX_UDP_PAYLOAD + 1];
        let repr = UdpRepr {
            payload: &big,
            ..repr
        };
        assert_eq!(repr.emit_ipv6_packet(a(), b(), 1), Err(Error::TooLong));
        let max = &big[..MAX_UDP_PAYLOAD];
        assert!(
            UdpRepr {
                payload: max,
                ..repr
            }
            .emit_ipv6_packet(a(), b(), 1)
            .is_ok()
        );
    }

    proptest! {
        #[test]
        fn round_trip(sp in any::<u16>(), dp in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..300),
                      s in any::<[u8; 16]>(), d in any::<[u8; 16]>()) {
            let (src, dst) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
            let repr = UdpRepr { src_port: sp, dst_port: dp, payload: &payload };
            let p = repr.emit_ipv6_packet(src, dst, 64).unwrap();
            let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
            let header = Ipv6Repr::parse(&ip).unwrap();
            prop_assert_eq!(header, Ipv6Repr::new(src, dst, NextHeader::Udp, 64, repr.buffer_len() as u16));
            let udp = UdpPacket::new_checked(ip.payload()).unwrap();
            prop_assert_eq!(UdpRepr::parse(&udp, &src, &dst), Ok(repr));
        }
    }
}
