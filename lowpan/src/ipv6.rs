//! The IPv6 fixed header as a high-level [`Ipv6Repr`] (RFC 8200 section 3) over the
//! [`Ipv6Packet`] view, and [`NextHeader`] with its unknown values kept.

use core::fmt;
use std::net::Ipv6Addr;

use crate::ip::{Error, IPV6_HEADER_LEN, Ipv6Packet, UdpPacket, next_header};

/// The Next Header field: the extension header or upper-layer protocol that follows.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum NextHeader {
    HopByHop,
    Tcp,
    Udp,
    Ipv6,
    Routing,
    Fragment,
    Icmpv6,
    NoNextHeader,
    DestinationOptions,
    Unknown(u8),
}

impl From<u8> for NextHeader {
    fn from(v: u8) -> Self {
        match v {
            next_header::HOP_BY_HOP => NextHeader::HopByHop,
            next_header::TCP => NextHeader::Tcp,
            next_header::UDP => NextHeader::Udp,
            next_header::IPV6 => NextHeader::Ipv6,
            next_header::ROUTING => NextHeader::Routing,
            next_header::FRAGMENT => NextHeader::Fragment,
            next_header::ICMPV6 => NextHeader::Icmpv6,
            next_header::NO_NEXT => NextHeader::NoNextHeader,
            next_header::DEST_OPTS => NextHeader::DestinationOptions,
            other => NextHeader::Unknown(other),
        }
    }
}

impl From<NextHeader> for u8 {
    fn from(v: NextHeader) -> u8 {
        match v {
            NextHeader::HopByHop => next_header::HOP_BY_HOP,
            NextHeader::Tcp => next_header::TCP,
            NextHeader::Udp => next_header::UDP,
            NextHeader::Ipv6 => next_header::IPV6,
            NextHeader::Routing => next_header::ROUTING,
            NextHeader::Fragment => next_header::FRAGMENT,
            NextHeader::Icmpv6 => next_header::ICMPV6,
            NextHeader::NoNextHeader => next_header::NO_NEXT,
            NextHeader::DestinationOptions => next_header::DEST_OPTS,
            NextHeader::Unknown(other) => other,
        }
    }
}

impl fmt::Display for NextHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHeader::Unknown(v) => write!(f, "next header {v}"),
            known => write!(f, "{known:?}"),
        }
    }
}

/// The fields of an IPv6 fixed header. Extension headers are payload to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ipv6Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    pub next_header: NextHeader,
    /// Length of everything after the fixed header.
    pub payload_len: u16,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20 bits; the upper bits are ignored on emit.
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// A header with no traffic class and no flow label, as our nodes originate them.
    pub fn new(
        src_addr: Ipv6Addr,
        dst_addr: Ipv6Addr,
        next_header: NextHeader,
        hop_limit: u8,
        payload_len: u16,
    ) -> Self {
        Ipv6Repr {
            src_addr,
            dst_addr,
            next_header,
            payload_len,
            hop_limit,
            traffic_class: 0,
            flow_label: 0,
        }
    }

    /// The header of a checked view (version and lengths are checked by
    /// [`Ipv6Packet::new_checked`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Self, Error> {
        packet.check_len()?;
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: NextHeader::from(packet.next_header()),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Length of the header [`Ipv6Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        IPV6_HEADER_LEN
    }

    /// Writes the fixed header into the first [`IPV6_HEADER_LEN`] bytes of `packet`
    /// (which must hold at least that many).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        packet.set_version_tc_flow(self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(u8::from(self.next_header));
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }

    /// A whole packet: this header, with `payload_len` set to `upper_len`, followed by
    /// `upper_len` bytes written by `emit_upper`. Refuses more than 65535 payload bytes.
    pub fn emit_packet(
        &self,
        upper_len: usize,
        emit_upper: impl FnOnce(&mut [u8]),
    ) -> Result<Vec<u8>, Error> {
        let payload_len = u16::try_from(upper_len).map_err(|_| Error::TooLong)?;
        let mut buf = vec![0u8; IPV6_HEADER_LEN + upper_len];
        let (header, upper) = buf.split_at_mut(IPV6_HEADER_LEN);
        Ipv6Repr {
            payload_len,
            ..*self
        }
        .emit(&mut Ipv6Packet::new_unchecked(header));
        emit_upper(upper);
        Ok(buf)
    }
}

/// Extension headers [`upper_layer`] walks before giving up.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// Where a packet's upper-layer header is, past the extension headers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UpperLayer<'a> {
    /// The upper-layer protocol and its bytes (header and payload).
    Protocol(NextHeader, &'a [u8]),
    /// A Fragment header: the upper-layer header may be in another packet.
    Fragment,
    /// An extension-header chain that is truncated or longer than
    /// [`MAX_EXTENSION_HEADERS`].
    BadExtension,
}

/// Walks the hop-by-hop, routing and destination-options headers that follow a fixed
/// header whose Next Header is `next_header`, over `payload` (the packet after the fixed
/// header), to the upper layer.
pub fn upper_layer(next_header: NextHeader, payload: &[u8]) -> UpperLayer<'_> {
    let mut nh = next_header;
    let mut rest = payload;
    for _ in 0..=MAX_EXTENSION_HEADERS {
        match nh {
            NextHeader::Fragment => return UpperLayer::Fragment,
            NextHeader::HopByHop | NextHeader::Routing | NextHeader::DestinationOptions => {
                let (Some(&next), Some(&len)) = (rest.first(), rest.get(1)) else {
                    return UpperLayer::BadExtension;
                };
                let Some(after) = rest.get((usize::from(len) + 1) * 8..) else {
                    return UpperLayer::BadExtension;
                };
                nh = NextHeader::from(next);
                rest = after;
            }
            other => return UpperLayer::Protocol(other, rest),
        }
    }
    UpperLayer::BadExtension
}

/// An IPv6 packet parsed once: its fixed header as an [`Ipv6Repr`] and where its upper layer
/// starts past the extension headers ([`upper_layer`]). [`CheckedIpv6Packet::parse`] is the
/// only way to make one, so a function that takes it never sees bytes whose header does not
/// parse, and nothing downstream parses the header again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
    header: Ipv6Repr,
    upper: UpperAt,
}

/// [`UpperLayer`] with the protocol's bytes as an offset into the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpperAt {
    Protocol(NextHeader, usize),
    Fragment,
    BadExtension,
}

impl<T: AsRef<[u8]>> CheckedIpv6Packet<T> {
    /// Checks the fixed header (version 6, the buffer holds the payload it claims; trailing
    /// bytes are tolerated, see [`CheckedIpv6Packet::is_exact`]) and walks the extension
    /// headers once.
    pub fn parse(buffer: T) -> Result<Self, Error> {
        let view = Ipv6Packet::new_checked(buffer.as_ref())?;
        let header = Ipv6Repr::parse(&view)?;
        let payload = view.payload();
        let upper = match upper_layer(header.next_header, payload) {
            // `rest` is a suffix of the payload, which ends where the header says.
            UpperLayer::Protocol(nh, rest) => {
                UpperAt::Protocol(nh, IPV6_HEADER_LEN + payload.len() - rest.len())
            }
            UpperLayer::Fragment => UpperAt::Fragment,
            UpperLayer::BadExtension => UpperAt::BadExtension,
        };
        Ok(CheckedIpv6Packet {
            buffer,
            header,
            upper,
        })
    }

    pub fn header(&self) -> &Ipv6Repr {
        &self.header
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        self.header.src_addr
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        self.header.dst_addr
    }

    /// The buffer as given, trailing bytes included.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The zero-copy view over the same bytes (already checked).
    pub fn view(&self) -> Ipv6Packet<&[u8]> {
        Ipv6Packet::new_unchecked(self.buffer.as_ref())
    }

    /// Nothing past the payload the header claims (what a TUN read or a reassembled
    /// datagram must be).
    pub fn is_exact(&self) -> bool {
        self.view().is_exact()
    }

    /// Where the upper layer is, as [`upper_layer`] found it.
    pub fn upper_layer(&self) -> UpperLayer<'_> {
        match self.upper {
            UpperAt::Protocol(nh, at) => {
                let end = IPV6_HEADER_LEN + usize::from(self.header.payload_len);
                UpperLayer::Protocol(nh, self.buffer.as_ref().get(at..end).unwrap_or(&[]))
            }
            UpperAt::Fragment => UpperLayer::Fragment,
            UpperAt::BadExtension => UpperLayer::BadExtension,
        }
    }

    /// The UDP datagram past the extension headers, or why there is none.
    pub fn transport(&self) -> Transport<'_> {
        match self.upper_layer() {
            UpperLayer::Protocol(NextHeader::Udp, rest) => match UdpPacket::new_checked(rest) {
                Ok(udp) => Transport::Udp(udp),
                Err(_) => Transport::BadUdp,
            },
            UpperLayer::Protocol(nh, _) => Transport::Other(nh),
            UpperLayer::Fragment => Transport::Fragment,
            UpperLayer::BadExtension => Transport::BadExtension,
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// What [`CheckedIpv6Packet::transport`] found after the extension headers.
#[derive(Debug, Clone)]
pub enum Transport<'a> {
    /// A UDP header whose length field fits the packet (the checksum is not verified: that
    /// is [`UdpRepr::parse`](crate::UdpRepr::parse)'s job, for whoever consumes it).
    Udp(UdpPacket<&'a [u8]>),
    /// Another upper-layer protocol (ICMPv6, TCP...).
    Other(NextHeader),
    /// A Fragment header: the UDP header may be in another packet.
    Fragment,
    /// A truncated or too long extension-header chain.
    BadExtension,
    /// Next header is UDP but its header is truncated or its length field wrong.
    BadUdp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A header as Wireshark shows it: 2001:db8::1 -> ff02::1, UDP, tc 0xb7, flow 0xabcde.
    const HEADER: [u8; 40] = [
        0x6b, 0x7a, 0xbc, 0xde, 0x00, 0x04, 0x11, 0x40, //
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ];

    fn repr() -> Ipv6Repr {
        Ipv6Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "ff02::1".parse().unwrap(),
            next_header: NextHeader::Udp,
            payload_len: 4,
            hop_limit: 64,
            traffic_class: 0xb7,
            flow_label: 0xabcde,
        }
    }

    #[test]
    fn parse_and_emit_bytes() {
        let mut packet = HEADER.to_vec();
        packet.extend_from_slice(&[1, 2, 3, 4]);
        let view = Ipv6Packet::new_checked(&packet[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&view), Ok(repr()));
        let mut out = [0u8; 40];
        assert_eq!(repr().buffer_len(), out.len());
        repr().emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, HEADER);
        let whole = repr()
            .emit_packet(4, |p| p.copy_from_slice(&[1, 2, 3, 4]))
            .unwrap();
        assert_eq!(whole, packet);
    }

    #[test]
    fn truncated_and_wrong_version_are_errors() {
        let mut packet = HEADER.to_vec();
        packet.extend_from_slice(&[1, 2, 3, 4]);
        for n in 0..packet.len() {
            let view = Ipv6Packet::new_unchecked(&packet[..n]);
            assert_eq!(Ipv6Repr::parse(&view), Err(Error::Truncated), "{n}");
        }
        packet[0] = 0x4b;
        let view = Ipv6Packet::new_unchecked(&packet[..]);
        assert_eq!(Ipv6Repr::parse(&view), Err(Error::NotIpv6));
        assert_eq!(repr().emit_packet(65536, |_| ()), Err(Error::TooLong));
    }

    #[test]
    fn next_header_keeps_unknown_values() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(NextHeader::from(v)), v);
        }
        assert_eq!(NextHeader::from(253), NextHeader::Unknown(253));
        assert_eq!(NextHeader::from(58), NextHeader::Icmpv6);
    }

    #[test]
    fn extension_headers_are_walked() {
        // Destination options (PadN), then hop-by-hop of 16 bytes, then UDP.
        let mut chain = vec![0u8, 0, 1, 4, 0, 0, 0, 0];
        chain.extend_from_slice(&[17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        chain.extend_from_slice(b"udp");
        let nh = NextHeader::DestinationOptions;
        assert_eq!(
            upper_layer(nh, &chain),
            UpperLayer::Protocol(NextHeader::Udp, b"udp")
        );
        assert_eq!(
            upper_layer(NextHeader::Tcp, b"x"),
            UpperLayer::Protocol(NextHeader::Tcp, b"x")
        );
        assert_eq!(upper_layer(NextHeader::Fragment, b""), UpperLayer::Fragment);
        for n in 0..24 {
            assert_eq!(
                upper_layer(nh, &chain[..n]),
                UpperLayer::BadExtension,
                "{n}"
            );
        }
        // Nine extension headers are one too many.
        let headers = |n: usize| {
            let mut c = [0u8, 0, 0, 0, 0, 0, 0, 0].repeat(n);
            c[(n - 1) * 8] = 17;
            c
        };
        assert_eq!(
            upper_layer(NextHeader::HopByHop, &headers(8)),
            UpperLayer::Protocol(NextHeader::Udp, &[])
        );
        assert_eq!(
            upper_layer(NextHeader::HopByHop, &headers(9)),
            UpperLayer::BadExtension
        );
    }

    fn udp_packet(src: Ipv6Addr, dst: Ipv6Addr, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        crate::UdpRepr {
            src_port: 1,
            dst_port,
            payload,
        }
        .emit_ipv6_packet(src, dst, 9)
        .unwrap()
    }

    #[test]
    fn checked_packet_finds_udp_past_extension_headers() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut pkt = udp_packet(a, a, 5684, b"x");
        let p = CheckedIpv6Packet::parse(&pkt[..]).unwrap();
        assert_eq!(p.header().hop_limit, 9);
        assert!(p.is_exact());
        match p.transport() {
            Transport::Udp(u) => assert_eq!(
                (u.src_port(), u.dst_port(), u.payload()),
                (1, 5684, &b"x"[..])
            ),
            t => panic!("{t:?}"),
        }
        // Insert an 8-byte destination-options header (PadN) before UDP.
        let mut ext = vec![next_header::UDP, 0, 1, 4, 0, 0, 0, 0];
        let udp = pkt.split_off(40);
        pkt[6] = next_header::DEST_OPTS;
        let plen = (udp.len() + 8) as u16;
        pkt[4..6].copy_from_slice(&plen.to_be_bytes());
        pkt.append(&mut ext);
        pkt.extend_from_slice(&udp);
        let p = CheckedIpv6Packet::parse(&pkt[..]).unwrap();
        assert!(matches!(p.transport(), Transport::Udp(u) if u.dst_port() == 5684));
        // Truncate the extension header's claimed length.
        let mut bad = pkt.clone();
        bad[41] = 200;
        let p = CheckedIpv6Packet::parse(&bad[..]).unwrap();
        assert!(matches!(p.transport(), Transport::BadExtension));
        let mut frag = pkt.clone();
        frag[6] = next_header::FRAGMENT;
        let p = CheckedIpv6Packet::parse(&frag[..]).unwrap();
        assert!(matches!(p.transport(), Transport::Fragment));
        // A UDP length field beyond the packet.
        let mut bad_udp = udp_packet(a, a, 5684, b"x");
        bad_udp[44..46].copy_from_slice(&3u16.to_be_bytes());
        let p = CheckedIpv6Packet::parse(&bad_udp[..]).unwrap();
        assert!(matches!(p.transport(), Transport::BadUdp));
        let mut icmp = udp_packet(a, a, 5684, b"x");
        icmp[6] = next_header::ICMPV6;
        let p = CheckedIpv6Packet::parse(&icmp[..]).unwrap();
        assert!(matches!(
            p.transport(),
            Transport::Other(NextHeader::Icmpv6)
        ));
    }

    #[test]
    fn checked_packet_refuses_what_the_view_refuses_and_keeps_trailing_bytes() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let pkt = udp_packet(a, a, 5684, b"xyz");
        for n in 0..pkt.len() {
            assert_eq!(
                CheckedIpv6Packet::parse(&pkt[..n]),
                Err(Error::Truncated),
                "{n}"
            );
        }
        let mut v4 = pkt.clone();
        v4[0] = 0x45;
        assert_eq!(CheckedIpv6Packet::parse(&v4[..]), Err(Error::NotIpv6));
        let mut long = pkt.clone();
        long.push(0);
        let p = CheckedIpv6Packet::parse(long).unwrap();
        assert!(!p.is_exact());
        assert!(matches!(p.transport(), Transport::Udp(u) if u.payload() == b"xyz"));
        assert_eq!(p.into_inner().len(), pkt.len() + 1);
    }

    proptest! {
        #[test]
        fn round_trip(src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), nh in any::<u8>(),
                      len in 0u16..300, hl in any::<u8>(), tc in any::<u8>(), fl in 0u32..0x10_0000) {
            let r = Ipv6Repr {
                src_addr: src.into(), dst_addr: dst.into(), next_header: nh.into(),
                payload_len: len, hop_limit: hl, traffic_class: tc, flow_label: fl,
            };
            let p = r.emit_packet(usize::from(len), |_| ()).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_unchecked(&p[..])), Ok(r));
        }
    }
}
