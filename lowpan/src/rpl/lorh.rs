//! The RFC 8138 6LoWPAN routing headers (6LoRH) of dispatch page 1: RPI-6LoRH (the RPL
//! option), RH3-6LoRH (a source route whose addresses are compressed against the one before)
//! and IP-in-IP 6LoRH (an encapsulating IPv6 header), and the page-switch dispatch.
//!
//! Layout: `10E LLLLL | type | ...`, E set for elective headers. A RH3-6LoRH of type T
//! carries `L + 1` addresses of `2^T` bytes; each is the previous address (the reference
//! for the first) with its last `2^T` bytes replaced. The RPI-6LoRH's five bits are
//! O, R, F, I (instance 0, elided) and K (rank in one byte, its high-order byte).

use super::RplError;
use super::option::{RplOptionRepr, only_rpl_options};
use super::srh::{self, SrhRepr};
use crate::ip::{IPV6_HEADER_LEN, next_header};
use crate::iphc::Expanded;
use std::net::Ipv6Addr;

/// Page-switch dispatches: `1111 PPPP`.
pub const PAGE_SWITCH_MASK: u8 = 0xf0;
pub const PAGE_SWITCH: u8 = 0xf0;
/// The dispatch that switches to page 1, where the 6LoRHs live.
pub const PAGE_1: u8 = 0xf1;
/// A 6LoRH in page 1: `10xxxxxx`.
pub const LORH_MASK: u8 = 0xc0;
pub const LORH: u8 = 0x80;
const ELECTIVE: u8 = 0x20;

pub const TYPE_RPI: u8 = 5;
pub const TYPE_IP_IN_IP: u8 = 6;
/// RH3-6LoRH types 0..=4: addresses of 1, 2, 4, 8 or 16 bytes.
pub const TYPE_RH3_MAX: u8 = 4;
/// Addresses in one RH3-6LoRH (Size is 5 bits).
pub const MAX_RH3_ADDRESSES: usize = 32;
/// 6LoRHs one packet may carry before its IPHC.
pub const MAX_HEADERS: usize = 8;

/// One 6LoRH.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Lorh {
    Rpi(RplOptionRepr),
    /// Compressed addresses, all of the same size (1, 2, 4, 8 or 16 bytes).
    Rh3 {
        size: usize,
        addresses: Vec<[u8; 16]>,
    },
    /// Hop limit and the compressed encapsulator (empty: the root, elided).
    IpInIp {
        hop_limit: u8,
        encapsulator: Vec<u8>,
    },
    /// Another type, kept as it is (critical ones cannot be processed).
    Unknown {
        elective: bool,
        bits: u8,
        kind: u8,
        data: Vec<u8>,
    },
}

impl Lorh {
    /// Reads one 6LoRH at the start of `b`; returns it and its length.
    pub fn parse(b: &[u8]) -> Result<(Self, usize), RplError> {
        let (&b0, &kind) = (
            b.first().ok_or(RplError::Truncated)?,
            b.get(1).ok_or(RplError::Truncated)?,
        );
        if b0 & LORH_MASK != LORH {
            return Err(RplError::Malformed);
        }
        let elective = b0 & ELECTIVE != 0;
        let bits = b0 & 0x1f;
        let rest = &b[2..];
        match (elective, kind) {
            (false, 0..=TYPE_RH3_MAX) => {
                let size = 1usize << kind;
                let n = usize::from(bits) + 1;
                let data = rest.get(..n * size).ok_or(RplError::Truncated)?;
                let addresses = data
                    .chunks_exact(size)
                    .map(|c| {
                        let mut a = [0u8; 16];
                        a[16 - size..].copy_from_slice(c);
                        a
                    })
                    .collect();
                Ok((Lorh::Rh3 { size, addresses }, 2 + n * size))
            }
            (false, TYPE_RPI) => {
                let (o, r, f, i, k) = (
                    bits & 0x10,
                    bits & 0x08,
                    bits & 0x04,
                    bits & 0x02,
                    bits & 0x01,
                );
                let mut at = 0;
                let instance = if i != 0 {
                    0
                } else {
                    at += 1;
                    *rest.first().ok_or(RplError::Truncated)?
                };
                let sender_rank = if k != 0 {
                    u16::from(*rest.get(at).ok_or(RplError::Truncated)?) << 8
                } else {
                    let s = rest.get(at..at + 2).ok_or(RplError::Truncated)?;
                    u16::from_be_bytes([s[0], s[1]])
                };
                let used = at + if k != 0 { 1 } else { 2 };
                let repr = RplOptionRepr {
                    down: o != 0,
                    rank_error: r != 0,
                    forwarding_error: f != 0,
                    instance,
                    sender_rank,
                };
                Ok((Lorh::Rpi(repr), 2 + used))
            }
            (true, TYPE_IP_IN_IP) => {
                let len = usize::from(bits);
                if len == 0 {
                    return Err(RplError::Malformed);
                }
                let data = rest.get(..len).ok_or(RplError::Truncated)?;
                if len - 1 > 16 {
                    return Err(RplError::Malformed);
                }
                Ok((
                    Lorh::IpInIp {
                        hop_limit: data[0],
                        encapsulator: data[1..].to_vec(),
                    },
                    2 + len,
                ))
            }
            (true, _) => {
                let len = usize::from(bits);
                let data = rest.get(..len).ok_or(RplError::Truncated)?;
                Ok((
                    Lorh::Unknown {
                        elective,
                        bits,
                        kind,
                        data: data.to_vec(),
                    },
                    2 + len,
                ))
            }
            (false, _) => Err(RplError::Unsupported),
        }
    }

    /// Appends this 6LoRH. An RH3 with no or more than [`MAX_RH3_ADDRESSES`] addresses, or
    /// with a size that is not a power of two up to 16, writes nothing.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Lorh::Rpi(r) => {
                let i = r.instance == 0;
                let k = r.sender_rank & 0xff == 0;
                let bits = u8::from(r.down) << 4
                    | u8::from(r.rank_error) << 3
                    | u8::from(r.forwarding_error) << 2
                    | u8::from(i) << 1
                    | u8::from(k);
                out.extend_from_slice(&[LORH | bits, TYPE_RPI]);
                if !i {
                    out.push(r.instance);
                }
                if k {
                    out.push((r.sender_rank >> 8) as u8);
                } else {
                    out.extend_from_slice(&r.sender_rank.to_be_bytes());
                }
            }
            Lorh::Rh3 { size, addresses } => {
                let Some(kind) = [1, 2, 4, 8, 16].iter().position(|s| s == size) else {
                    return;
                };
                if addresses.is_empty() || addresses.len() > MAX_RH3_ADDRESSES {
                    return;
                }
                out.extend_from_slice(&[LORH | (addresses.len() - 1) as u8, kind as u8]);
                for a in addresses {
                    out.extend_from_slice(&a[16 - size..]);
                }
            }
            Lorh::IpInIp {
                hop_limit,
                encapsulator,
            } => {
                let e = &encapsulator[..encapsulator.len().min(16)];
                out.extend_from_slice(&[
                    LORH | ELECTIVE | (1 + e.len()) as u8,
                    TYPE_IP_IN_IP,
                    *hop_limit,
                ]);
                out.extend_from_slice(e);
            }
            Lorh::Unknown {
                elective,
                bits,
                kind,
                data,
            } => {
                out.extend_from_slice(&[LORH | u8::from(*elective) << 5 | (bits & 0x1f), *kind]);
                out.extend_from_slice(data);
            }
        }
    }
}

/// The addresses of consecutive RH3-6LoRHs, each decompressed against the one before and
/// the first against `reference`.
pub fn expand_route(reference: Ipv6Addr, headers: &[Lorh]) -> Vec<Ipv6Addr> {
    let mut prev = reference.octets();
    let mut out = Vec::new();
    for h in headers {
        if let Lorh::Rh3 { size, addresses } = h {
            for a in addresses {
                prev[16 - size..].copy_from_slice(&a[16 - size..]);
                out.push(Ipv6Addr::from(prev));
            }
        }
    }
    out
}

/// The RH3-6LoRHs for `route` (at most [`MAX_HEADERS`] x [`MAX_RH3_ADDRESSES`] hops), each
/// address compressed against the one before and the first against `reference`.
pub fn compress_route(reference: Ipv6Addr, route: &[Ipv6Addr]) -> Vec<Lorh> {
    let mut headers: Vec<Lorh> = Vec::new();
    let mut prev = reference.octets();
    for hop in route {
        let o = hop.octets();
        let shared = prev
            .iter()
            .zip(o.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let size = [1usize, 2, 4, 8, 16]
            .into_iter()
            .find(|s| 16 - s <= shared)
            .unwrap_or(16);
        let mut a = [0u8; 16];
        a[16 - size..].copy_from_slice(&o[16 - size..]);
        match headers.last_mut() {
            Some(Lorh::Rh3 { size: s, addresses })
                if *s == size && addresses.len() < MAX_RH3_ADDRESSES =>
            {
                addresses.push(a)
            }
            _ => headers.push(Lorh::Rh3 {
                size,
                addresses: vec![a],
            }),
        }
        prev = o;
    }
    headers
}

/// The 6LoRHs after a page-1 dispatch, up to the first byte that is not one (the IPHC).
/// Returns them and how many bytes they took.
pub fn parse_headers(b: &[u8]) -> Result<(Vec<Lorh>, usize), RplError> {
    let mut at = 0;
    let mut headers = Vec::new();
    while b.get(at).is_some_and(|&d| d & LORH_MASK == LORH) {
        if headers.len() == MAX_HEADERS {
            return Err(RplError::TooMany);
        }
        let (h, used) = Lorh::parse(&b[at..])?;
        headers.push(h);
        at += used;
    }
    Ok((headers, at))
}

/// Puts the uncompressed headers that a page-1 payload's 6LoRHs stand for around the
/// packet its IPHC expanded to (RFC 8138).
///
/// - An RPI-6LoRH alone is a Hop-by-Hop header with the RPL option (RFC 6553) after the
///   IPv6 header.
/// - An IP-in-IP 6LoRH is an encapsulating IPv6 header with its hop limit, from the
///   encapsulator it carries (compressed against `root`) or, when elided, from `root` (the
///   DODAG root, the 6LBR). Its RH3-6LoRHs are the hops still to visit, the first compressed
///   against the encapsulator: the first is the outer destination and the rest an RFC 6554
///   source routing header; without them the outer destination is the inner one. An
///   RPI-6LoRH then belongs to the outer header.
/// - RH3-6LoRHs without an IP-in-IP 6LoRH are refused (`Unsupported`), as is a tunnel
///   whose encapsulator needs a `root` that is not known. Elective 6LoRHs of other types are
///   ignored (RFC 8138 section 4.2).
pub fn expand_into(
    headers: &[Lorh],
    expanded: &mut Expanded,
    root: Option<Ipv6Addr>,
) -> Result<(), RplError> {
    let mut rpi = None;
    let mut tunnel = None;
    let mut route_headers = Vec::new();
    for h in headers {
        match h {
            Lorh::Rpi(r) if rpi.is_none() => rpi = Some(*r),
            Lorh::IpInIp {
                hop_limit,
                encapsulator,
            } if tunnel.is_none() => tunnel = Some((*hop_limit, encapsulator)),
            Lorh::Rpi(_) | Lorh::IpInIp { .. } => return Err(RplError::Malformed),
            Lorh::Rh3 { .. } => route_headers.push(h.clone()),
            Lorh::Unknown { .. } => {}
        }
    }
    let Some((hop_limit, encapsulator)) = tunnel else {
        if !route_headers.is_empty() {
            return Err(RplError::Unsupported);
        }
        if let Some(r) = rpi {
            let hbh = r.hop_by_hop(expanded.next_header());
            expanded.insert_headers(IPV6_HEADER_LEN, &hbh, false);
            expanded.set_next_header(next_header::HOP_BY_HOP);
        }
        return Ok(());
    };
    let src = match encapsulator.len() {
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(encapsulator);
            Ipv6Addr::from(a)
        }
        // `parse` bounds it to 16 bytes; a `Lorh` built by hand may not be.
        n if n > 16 => return Err(RplError::Malformed),
        n => {
            let mut a = root.ok_or(RplError::Unsupported)?.octets();
            a[16 - n..].copy_from_slice(encapsulator);
            Ipv6Addr::from(a)
        }
    };
    let route = expand_route(src, &route_headers);
    let dst = route
        .first()
        .copied()
        .unwrap_or_else(|| expanded.dst_addr());
    let routing = match route.get(1..) {
        Some(rest) if !rest.is_empty() => {
            let srh = SrhRepr {
                next_header: next_header::IPV6,
                segments_left: u8::try_from(rest.len()).map_err(|_| RplError::TooMany)?,
                addresses: rest.to_vec(),
            };
            Some(srh.emit(&dst).ok_or(RplError::TooMany)?)
        }
        _ => None,
    };
    let after_hbh = if routing.is_some() {
        next_header::ROUTING
    } else {
        next_header::IPV6
    };
    let mut outer = vec![0x60, 0, 0, 0, 0, 0, 0, hop_limit];
    outer[6] = if rpi.is_some() {
        next_header::HOP_BY_HOP
    } else {
        after_hbh
    };
    outer.extend_from_slice(&src.octets());
    outer.extend_from_slice(&dst.octets());
    if let Some(r) = rpi {
        outer.extend_from_slice(&r.hop_by_hop(after_hbh));
    }
    if let Some(h) = routing {
        outer.extend_from_slice(&h);
    }
    expanded.insert_headers(0, &outer, true);
    Ok(())
}

/// The 6LoRHs (RFC 8138) that stand for the headers in front of `packet`'s innermost part,
/// and that part: the reverse of [`expand_into`]. `root` is the DODAG root, whose address
/// as encapsulator is elided. `None` when the packet has nothing a 6LoRH stands for, or
/// headers that [`expand_into`] would not give back as they are (an outer header with a
/// traffic class or flow label, a source route outside a tunnel, other options).
pub fn compress_packet(packet: &[u8], root: Ipv6Addr) -> Option<(Vec<u8>, Vec<u8>)> {
    let fixed = packet.get(..IPV6_HEADER_LEN)?;
    if fixed[0] >> 4 != 6
        || usize::from(u16::from_be_bytes([fixed[4], fixed[5]])) + IPV6_HEADER_LEN != packet.len()
    {
        return None;
    }
    let addr = |b: &[u8]| -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ipv6Addr::from(a)
    };
    let (src, dst) = (addr(&fixed[8..24]), addr(&fixed[24..40]));
    let mut nh = fixed[6];
    let mut at = IPV6_HEADER_LEN;
    let mut rpi = None;
    let mut srh = None;
    if nh == next_header::HOP_BY_HOP {
        let len = (usize::from(*packet.get(at + 1)?) + 1) * 8;
        let hbh = packet.get(at..at + len)?;
        if !only_rpl_options(hbh) || hbh != RplOptionRepr::find_in(hbh).ok()??.hop_by_hop(hbh[0]) {
            return None;
        }
        rpi = RplOptionRepr::find_in(hbh).ok()?;
        nh = hbh[0];
        at += len;
    }
    if nh == next_header::ROUTING {
        let len = (usize::from(*packet.get(at + 1)?) + 1) * 8;
        let header = packet.get(at..at + len)?;
        let parsed = SrhRepr::parse(header, &dst).ok()?;
        if parsed.emit(&dst).as_deref() != Some(header)
            || parsed.segments_left as usize != parsed.addresses.len()
        {
            return None;
        }
        nh = parsed.next_header;
        srh = Some(parsed);
        at += len;
    }
    let mut out = Vec::new();
    if nh != next_header::IPV6 {
        // No tunnel: only an RPL option can go, its Hop-by-Hop header taken out.
        let r = rpi.filter(|_| srh.is_none())?;
        Lorh::Rpi(r).emit(&mut out);
        let mut inner = packet[..IPV6_HEADER_LEN].to_vec();
        inner[6] = nh;
        let plen = u16::try_from(packet.len() - at).ok()?;
        inner[4..6].copy_from_slice(&plen.to_be_bytes());
        inner.extend_from_slice(&packet[at..]);
        return Some((out, inner));
    }
    let inner = &packet[at..];
    if fixed[1..4] != [0, 0, 0] || fixed[0] != 0x60 || inner.len() < IPV6_HEADER_LEN {
        return None;
    }
    let inner_dst = addr(&inner[24..40]);
    let mut route = vec![dst];
    if let Some(s) = &srh {
        route.extend_from_slice(&s.addresses);
    }
    if route.len() > srh::MAX_ADDRESSES {
        return None;
    }
    let encapsulator = if src == root {
        Vec::new()
    } else {
        src.octets().to_vec()
    };
    Lorh::IpInIp {
        hop_limit: fixed[7],
        encapsulator,
    }
    .emit(&mut out);
    if srh.is_some() || dst != inner_dst {
        let headers = compress_route(src, &route);
        if headers.len() > MAX_HEADERS - 2 {
            return None;
        }
        headers.iter().for_each(|h| h.emit(&mut out));
    }
    if let Some(r) = rpi {
        Lorh::Rpi(r).emit(&mut out);
    }
    Some((out, inner.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn rpi_rh3_and_ip_in_ip_bytes() {
        let rpi = Lorh::Rpi(RplOptionRepr {
            down: true,
            instance: 0,
            sender_rank: 0x0100,
            ..Default::default()
        });
        let mut out = Vec::new();
        rpi.emit(&mut out);
        // O, I and K set: 100 10011, type 5, rank byte 1.
        assert_eq!(out, [0x93, 5, 1]);
        assert_eq!(Lorh::parse(&out).unwrap(), (rpi, 3));

        let root = a("fd00::1");
        let route = [
            a("fd00::212:4b00:0:2"),
            a("fd00::212:4b00:0:3"),
            a("fd00::212:4b00:1:4"),
        ];
        let headers = compress_route(root, &route);
        let mut out = Vec::new();
        headers.iter().for_each(|h| h.emit(&mut out));
        // The first hop shares 8 bytes with the root (8 bytes carried), the second 15 with
        // the first (1 byte), the third 13 with the second (4 bytes).
        assert_eq!(out[..2], [0x80, 3]);
        assert_eq!(out[10..15], [0x80, 0, 3, 0x80, 2]);
        assert_eq!(out.len(), 10 + 3 + 6);
        let (parsed, used) = parse_headers(&out).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(expand_route(root, &parsed), route);

        let tunnel = Lorh::IpInIp {
            hop_limit: 64,
            encapsulator: vec![],
        };
        let mut out = Vec::new();
        tunnel.emit(&mut out);
        assert_eq!(out, [0xa1, 6, 64]);
        assert_eq!(Lorh::parse(&out).unwrap(), (tunnel, 3));
        assert_eq!(Lorh::parse(&[0xa0, 6]), Err(RplError::Malformed));
        assert_eq!(Lorh::parse(&[0x80, 9]), Err(RplError::Unsupported));
        assert_eq!(Lorh::parse(&[0x81, 4, 0]), Err(RplError::Truncated));
    }

    /// An IPv6-in-IPv6 packet from `root` down `route`, with an RPL option when given,
    /// carrying a UDP datagram to the route's last hop.
    fn tunnelled(
        root: Ipv6Addr,
        route: &[Ipv6Addr],
        rpi: Option<RplOptionRepr>,
        hop_limit: u8,
        len: usize,
    ) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let inner = crate::UdpRepr {
            src_port: 40000,
            dst_port: 7,
            payload: &payload,
        }
        .emit_ipv6_packet(
            "2001:db8:77::5".parse().unwrap(),
            *route.last().unwrap(),
            63,
        )
        .unwrap();
        let routing = (route.len() > 1).then(|| {
            SrhRepr {
                next_header: next_header::IPV6,
                segments_left: (route.len() - 1) as u8,
                addresses: route[1..].to_vec(),
            }
            .emit(&route[0])
            .unwrap()
        });
        let after_hbh = if routing.is_some() {
            next_header::ROUTING
        } else {
            next_header::IPV6
        };
        let mut p = vec![
            0x60,
            0,
            0,
            0,
            0,
            0,
            if rpi.is_some() { 0 } else { after_hbh },
            hop_limit,
        ];
        p.extend_from_slice(&root.octets());
        p.extend_from_slice(&route[0].octets());
        if let Some(r) = rpi {
            p.extend_from_slice(&r.hop_by_hop(after_hbh));
        }
        if let Some(h) = routing {
            p.extend_from_slice(&h);
        }
        p.extend_from_slice(&inner);
        let plen = (p.len() - IPV6_HEADER_LEN) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        p
    }

    fn links() -> crate::LinkAddrs {
        use crate::ieee802154::{Address, Eui64};
        crate::LinkAddrs {
            src: Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1])),
            dst: Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 2])),
        }
    }

    fn contexts() -> crate::ContextTable {
        crate::ContextTable::with_prefix("fd00::".parse().unwrap(), 64)
    }

    /// What a receiver made of the payloads: the packet once whole, or why not.
    type Decoded = Result<Option<Vec<u8>>, crate::DecodeError>;

    /// Encodes `packet` with the RFC 8138 forms and decodes it back with `root` known.
    fn round_trip(packet: &[u8], root: Ipv6Addr, room: usize) -> (Vec<Vec<u8>>, Decoded) {
        let mut enc = crate::Encoder::new(contexts());
        let payloads = enc.encode_rfc8138(packet, links(), room, root).unwrap();
        let mut r = crate::Reassembler::new(contexts());
        r.set_rpl_root(Some(root));
        let mut got = Ok(None);
        for p in &payloads {
            got = r
                .accept(std::time::Instant::now(), links(), p)
                .map(|g| g.or(got.clone().ok().flatten()));
        }
        (payloads, got)
    }

    #[test]
    fn a_tunnel_from_the_root_leaves_as_6lorhs_and_comes_back() {
        let root = a("fd00::1");
        let route = [
            a("fd00::212:4b00:0:2"),
            a("fd00::212:4b00:0:3"),
            a("fd00::212:4b00:0:4"),
        ];
        let rpi = RplOptionRepr {
            down: true,
            instance: 0x1e,
            sender_rank: 0x0100,
            ..Default::default()
        };
        let packet = tunnelled(root, &route, Some(rpi), 64, 10);
        let (payloads, got) = round_trip(&packet, root, 104);
        assert_eq!(payloads.len(), 1);
        // Page 1, IP-in-IP with the root elided, RH3-6LoRHs (8 bytes, then two of 1),
        // RPI-6LoRH (instance, 1-byte rank), then the IPHC.
        assert_eq!(payloads[0][..6], [PAGE_1, 0xa1, TYPE_IP_IN_IP, 64, 0x80, 3]);
        assert_eq!(payloads[0][14..18], [0x81, 0, 3, 4]);
        assert_eq!(payloads[0][18..22], [0x91, TYPE_RPI, 0x1e, 1]);
        assert_eq!(payloads[0][22] & 0xe0, 0x60);
        assert_eq!(got.unwrap().unwrap(), packet);
        assert!(payloads[0].len() + 40 < packet.len());

        // Without the root the elided encapsulator cannot be restored.
        let mut r = crate::Reassembler::new(contexts());
        assert_eq!(
            r.accept(std::time::Instant::now(), links(), &payloads[0]),
            Err(crate::DecodeError::Lorh(RplError::Unsupported))
        );
        // A source route without its tunnel is not one we expand.
        let mut bare = vec![PAGE_1];
        compress_route(root, &route)
            .iter()
            .for_each(|h| h.emit(&mut bare));
        bare.extend_from_slice(&payloads[0][22..]);
        let mut r = crate::Reassembler::new(contexts());
        r.set_rpl_root(Some(root));
        assert_eq!(
            r.accept(std::time::Instant::now(), links(), &bare),
            Err(crate::DecodeError::Lorh(RplError::Unsupported))
        );
        // A packet with nothing a 6LoRH stands for leaves as page 0.
        let plain = crate::UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload: b"x",
        }
        .emit_ipv6_packet(root, route[0], 64)
        .unwrap();
        assert_ne!(round_trip(&plain, root, 104).0[0][0], PAGE_1);
    }

    proptest! {
        #[test]
        fn tunnels_round_trip_through_the_codec(
            iids in proptest::collection::vec(any::<[u8; 8]>(), 1..6),
            shared in 0usize..8,
            rpi in proptest::option::of((any::<bool>(), any::<bool>(), any::<bool>(), any::<u8>(), any::<u16>())),
            hop_limit in any::<u8>(),
            len in 0usize..400,
            room in 60usize..=116,
            root_is_encapsulator in any::<bool>(),
        ) {
            let root = a("fd00::1");
            let route: Vec<Ipv6Addr> = iids
                .iter()
                .map(|iid| {
                    let mut o = a("fd00::212:4b00:0:0").octets();
                    o[8 + shared..].copy_from_slice(&iid[shared..]);
                    Ipv6Addr::from(o)
                })
                .collect();
            let rpi = rpi.map(|(down, rank_error, forwarding_error, instance, sender_rank)| RplOptionRepr {
                down, rank_error, forwarding_error, instance, sender_rank,
            });
            let mut packet = tunnelled(root, &route, rpi, hop_limit, len);
            if !root_is_encapsulator {
                packet[8..24].copy_from_slice(&a("2001:db8::9").octets());
            }
            let (payloads, got) = round_trip(&packet, root, room);
            prop_assert_eq!(got.unwrap(), Some(packet));
            // A compressed header too long for a small first fragment leaves as page 0.
            let first = &payloads[0];
            let page = if payloads.len() > 1 { first.get(4).copied() } else { first.first().copied() };
            if root_is_encapsulator && room >= 100 {
                prop_assert_eq!(page, Some(PAGE_1));
            }
        }

        #[test]
        fn an_upward_rpl_option_round_trips_as_an_rpi_6lorh(
            instance in any::<u8>(),
            sender_rank in any::<u16>(),
            down in any::<bool>(),
            len in 0usize..300,
        ) {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let udp = crate::UdpRepr { src_port: 7, dst_port: 40000, payload: &payload }
                .emit_ipv6_packet(a("fd00::212:4b00:0:3"), a("2001:db8::5"), 63)
                .unwrap();
            let rpi = RplOptionRepr { down, instance, sender_rank, ..Default::default() };
            let mut packet = udp[..IPV6_HEADER_LEN].to_vec();
            packet[6] = next_header::HOP_BY_HOP;
            packet.extend_from_slice(&rpi.hop_by_hop(next_header::UDP));
            packet.extend_from_slice(&udp[IPV6_HEADER_LEN..]);
            let plen = (packet.len() - IPV6_HEADER_LEN) as u16;
            packet[4..6].copy_from_slice(&plen.to_be_bytes());
            let (payloads, got) = round_trip(&packet, a("fd00::1"), 104);
            prop_assert_eq!(got.unwrap(), Some(packet));
            prop_assert!(payloads[0][0] == PAGE_1 || payloads[0][4] == PAGE_1);
        }

        #[test]
        fn page_1_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut p = vec![PAGE_1];
            p.extend_from_slice(&bytes);
            let mut r = crate::Reassembler::new(contexts());
            r.set_rpl_root(Some(a("fd00::1")));
            let _ = r.accept(std::time::Instant::now(), links(), &p);
            let mut frag1 = vec![0xc0 | 0x01, 0x00, 0x12, 0x34, PAGE_1];
            frag1.extend_from_slice(&bytes);
            let _ = r.accept(std::time::Instant::now(), links(), &frag1);
        }

        #[test]
        fn routes_round_trip(r in any::<[u8; 16]>(), hops in proptest::collection::vec(any::<[u8; 16]>(), 0..40)) {
            let route: Vec<Ipv6Addr> = hops.into_iter().map(Ipv6Addr::from).collect();
            let headers = compress_route(Ipv6Addr::from(r), &route);
            let mut out = Vec::new();
            headers.iter().for_each(|h| h.emit(&mut out));
            if let Ok((parsed, used)) = parse_headers(&out) {
                prop_assert_eq!(used, out.len());
                prop_assert_eq!(expand_route(Ipv6Addr::from(r), &parsed), route);
            } else {
                prop_assert!(headers.len() > MAX_HEADERS);
            }
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok((headers, _)) = parse_headers(&bytes) {
                let mut out = Vec::new();
                headers.iter().for_each(|h| h.emit(&mut out));
                let (again, _) = parse_headers(&out).unwrap();
                prop_assert_eq!(again.len(), headers.len());
            }
        }
    }
}
