//! The RFC 8138 6LoWPAN routing headers (6LoRH) of dispatch page 1: RPI-6LoRH (the RPL
//! option), RH3-6LoRH (a source route whose addresses are compressed against the one before)
//! and IP-in-IP 6LoRH (an encapsulating IPv6 header), and the page-switch dispatch.
//!
//! Layout: `10E LLLLL | type | ...`, E set for elective headers. A RH3-6LoRH of type T
//! carries `L + 1` addresses of `2^T` bytes; each is the previous address (the reference
//! for the first) with its last `2^T` bytes replaced. The RPI-6LoRH's five bits are
//! O, R, F, I (instance 0, elided) and K (rank in one byte, its high-order byte).

use super::RplError;
use super::option::RplOptionRepr;
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

    proptest! {
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
