//! Neighbour Discovery options (RFC 4861 section 4.6) with the 6LoWPAN forms of RFC 4944
//! section 8 (802.15.4 link-layer addresses) and RFC 6775 section 4.2 (6LoWPAN Context).
//!
//! Every option is `type, length (units of 8 bytes), data`. [`NdiscOption::parse`] reads
//! one and refuses a zero length, a length running past the message, and a length its type
//! does not allow (RFC 4861 section 4.6: such a message is dropped). Types without a repr
//! here (Redirected Header, the Address Registration and Authoritative Border Router
//! options of RFC 6775 until they get theirs) come back as [`NdiscOption::Unknown`].

use std::net::Ipv6Addr;

use crate::ieee802154::Eui64;
use crate::ip::Error;

/// Option type values.
pub mod option_type {
    pub const SOURCE_LINK_LAYER_ADDR: u8 = 1;
    pub const TARGET_LINK_LAYER_ADDR: u8 = 2;
    pub const PREFIX_INFORMATION: u8 = 3;
    pub const REDIRECTED_HEADER: u8 = 4;
    pub const MTU: u8 = 5;
    /// RFC 6775 section 4.1 (ARO).
    pub const ADDRESS_REGISTRATION: u8 = 33;
    /// RFC 6775 section 4.2 (6CO).
    pub const SIXLOWPAN_CONTEXT: u8 = 34;
    /// RFC 6775 section 4.3 (ABRO).
    pub const AUTHORITATIVE_BORDER_ROUTER: u8 = 35;
}

/// An 802.15.4 link-layer address as ND options carry it (RFC 4944 section 8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LinkLayerAddress {
    /// Option length 1: 2 address bytes and 4 of padding.
    Short(u16),
    /// Option length 2: 8 address bytes (canonical order) and 6 of padding.
    Eui64(Eui64),
}

/// Flags of a Prefix Information option.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct PrefixFlags(pub u8);

impl PrefixFlags {
    /// L: the prefix is on-link (RFC 6775 section 5.4: a 6LoWPAN router does not set it).
    pub const ON_LINK: PrefixFlags = PrefixFlags(0x80);
    /// A: the prefix may be used for stateless address autoconfiguration.
    pub const AUTONOMOUS: PrefixFlags = PrefixFlags(0x40);

    pub const fn contains(self, other: PrefixFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for PrefixFlags {
    type Output = PrefixFlags;
    fn bitor(self, rhs: PrefixFlags) -> PrefixFlags {
        PrefixFlags(self.0 | rhs.0)
    }
}

/// Prefix Information option (RFC 4861 section 4.6.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PrefixInformation {
    pub prefix_len: u8,
    pub flags: PrefixFlags,
    /// Seconds; 0xffffffff is infinity.
    pub valid_lifetime: u32,
    /// Seconds; 0xffffffff is infinity.
    pub preferred_lifetime: u32,
    pub prefix: Ipv6Addr,
}

/// 6LoWPAN Context option (RFC 6775 section 4.2): the prefix behind a context identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SixLowpanContext {
    /// Bits of `prefix` that are the context (0..=128).
    pub context_len: u8,
    /// C: the context may be used for compression, not only decompression.
    pub compress: bool,
    /// CID, 0..=15 (only the low 4 bits are emitted).
    pub cid: u8,
    /// Units of 60 seconds; 0 withdraws the context.
    pub valid_lifetime: u16,
    /// Bytes past the option's prefix field (past 8 or 16) read as zero.
    pub prefix: Ipv6Addr,
}

impl SixLowpanContext {
    /// Option length in 8-byte units: a context of up to 64 bits fits in 2.
    const fn units(&self) -> usize {
        if self.context_len <= 64 { 2 } else { 3 }
    }
}

/// One ND option.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum NdiscOption<'a> {
    SourceLinkLayerAddr(LinkLayerAddress),
    TargetLinkLayerAddr(LinkLayerAddress),
    PrefixInformation(PrefixInformation),
    Mtu(u32),
    SixLowpanContext(SixLowpanContext),
    /// Any other type; `data` is everything after the type and length bytes.
    Unknown {
        option_type: u8,
        data: &'a [u8],
    },
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn addr16(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

impl<'a> NdiscOption<'a> {
    /// Reads the option at the start of `bytes`; returns it and what follows it.
    pub fn parse(bytes: &'a [u8]) -> Result<(Self, &'a [u8]), Error> {
        use option_type::*;
        let (&kind, &units) = match bytes {
            [kind, units, ..] => (kind, units),
            _ => return Err(Error::Truncated),
        };
        let len = usize::from(units) * 8;
        if len == 0 {
            return Err(Error::Malformed);
        }
        let Some(opt) = bytes.get(..len) else {
            return Err(Error::Truncated);
        };
        let rest = &bytes[len..];
        let option = match (kind, units) {
            (SOURCE_LINK_LAYER_ADDR | TARGET_LINK_LAYER_ADDR, 1 | 2) => {
                let lladdr = if units == 1 {
                    LinkLayerAddress::Short(u16::from_be_bytes([opt[2], opt[3]]))
                } else {
                    let mut e = [0u8; 8];
                    e.copy_from_slice(&opt[2..10]);
                    LinkLayerAddress::Eui64(Eui64(e))
                };
                if kind == SOURCE_LINK_LAYER_ADDR {
                    NdiscOption::SourceLinkLayerAddr(lladdr)
                } else {
                    NdiscOption::TargetLinkLayerAddr(lladdr)
                }
            }
            (PREFIX_INFORMATION, 4) => NdiscOption::PrefixInformation(PrefixInformation {
                prefix_len: opt[2],
                flags: PrefixFlags(opt[3]),
                valid_lifetime: be32(&opt[4..8]),
                preferred_lifetime: be32(&opt[8..12]),
                prefix: addr16(&opt[16..32]),
            }),
            (MTU, 1) => NdiscOption::Mtu(be32(&opt[4..8])),
            (SIXLOWPAN_CONTEXT, 2 | 3) => {
                let context_len = opt[2];
                if usize::from(context_len) > (len - 8) * 8 {
                    return Err(Error::Malformed);
                }
                let mut prefix = [0u8; 16];
                prefix[..len - 8].copy_from_slice(&opt[8..len]);
                NdiscOption::SixLowpanContext(SixLowpanContext {
                    context_len,
                    compress: opt[3] & 0x10 != 0,
                    cid: opt[3] & 0x0f,
                    valid_lifetime: u16::from_be_bytes([opt[6], opt[7]]),
                    prefix: Ipv6Addr::from(prefix),
                })
            }
            (SOURCE_LINK_LAYER_ADDR | TARGET_LINK_LAYER_ADDR | PREFIX_INFORMATION | MTU, _)
            | (SIXLOWPAN_CONTEXT, _) => return Err(Error::Malformed),
            (option_type, _) => NdiscOption::Unknown {
                option_type,
                data: &opt[2..],
            },
        };
        Ok((option, rest))
    }

    /// Length on the wire. An `Unknown` option is padded to a multiple of 8 bytes.
    pub const fn buffer_len(&self) -> usize {
        match self {
            NdiscOption::SourceLinkLayerAddr(a) | NdiscOption::TargetLinkLayerAddr(a) => match a {
                LinkLayerAddress::Short(_) => 8,
                LinkLayerAddress::Eui64(_) => 16,
            },
            NdiscOption::PrefixInformation(_) => 32,
            NdiscOption::Mtu(_) => 8,
            NdiscOption::SixLowpanContext(c) => c.units() * 8,
            NdiscOption::Unknown { data, .. } => (data.len() + 2).div_ceil(8) * 8,
        }
    }

    /// Writes the option into the first [`NdiscOption::buffer_len`] bytes of `buf` (which
    /// must hold that many). An `Unknown` option longer than 2040 bytes cannot be described
    /// by the length field; its length byte is then 0.
    pub fn emit(&self, buf: &mut [u8]) {
        use option_type::*;
        let len = self.buffer_len();
        let buf = &mut buf[..len];
        buf.fill(0);
        buf[1] = u8::try_from(len / 8).unwrap_or(0);
        match self {
            NdiscOption::SourceLinkLayerAddr(a) | NdiscOption::TargetLinkLayerAddr(a) => {
                buf[0] = if matches!(self, NdiscOption::SourceLinkLayerAddr(_)) {
                    SOURCE_LINK_LAYER_ADDR
                } else {
                    TARGET_LINK_LAYER_ADDR
                };
                match a {
                    LinkLayerAddress::Short(s) => buf[2..4].copy_from_slice(&s.to_be_bytes()),
                    LinkLayerAddress::Eui64(e) => buf[2..10].copy_from_slice(&e.0),
                }
            }
            NdiscOption::PrefixInformation(p) => {
                buf[0] = PREFIX_INFORMATION;
                buf[2] = p.prefix_len;
                buf[3] = p.flags.0;
                buf[4..8].copy_from_slice(&p.valid_lifetime.to_be_bytes());
                buf[8..12].copy_from_slice(&p.preferred_lifetime.to_be_bytes());
                buf[16..32].copy_from_slice(&p.prefix.octets());
            }
            NdiscOption::Mtu(mtu) => {
                buf[0] = MTU;
                buf[4..8].copy_from_slice(&mtu.to_be_bytes());
            }
            NdiscOption::SixLowpanContext(c) => {
                buf[0] = SIXLOWPAN_CONTEXT;
                buf[2] = c.context_len;
                buf[3] = if c.compress { 0x10 } else { 0 } | (c.cid & 0x0f);
                buf[6..8].copy_from_slice(&c.valid_lifetime.to_be_bytes());
                buf[8..].copy_from_slice(&c.prefix.octets()[..len - 8]);
            }
            NdiscOption::Unknown { option_type, data } => {
                buf[0] = *option_type;
                buf[2..2 + data.len()].copy_from_slice(data);
            }
        }
    }
}

/// Reads every option of `bytes` (an ND message's option area) in order.
pub fn parse_all(mut bytes: &[u8]) -> impl Iterator<Item = Result<NdiscOption<'_>, Error>> {
    core::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        match NdiscOption::parse(bytes) {
            Ok((option, rest)) => {
                bytes = rest;
                Some(Ok(option))
            }
            Err(e) => {
                bytes = &[];
                Some(Err(e))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(o: NdiscOption<'_>, wire: &[u8]) {
        let mut buf = vec![0xaa; o.buffer_len()];
        o.emit(&mut buf);
        assert_eq!(buf, wire, "{o:?}");
        assert_eq!(NdiscOption::parse(wire), Ok((o, &[][..])));
        for n in 0..wire.len() {
            assert!(NdiscOption::parse(&wire[..n]).is_err(), "{o:?} cut at {n}");
        }
    }

    #[test]
    fn link_layer_addresses_rfc4944() {
        let eui = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 1]);
        round_trip(
            NdiscOption::SourceLinkLayerAddr(LinkLayerAddress::Eui64(eui)),
            &[1, 2, 0x00, 0x12, 0x4b, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
        );
        round_trip(
            NdiscOption::TargetLinkLayerAddr(LinkLayerAddress::Short(0x0102)),
            &[2, 1, 1, 2, 0, 0, 0, 0],
        );
    }

    /// RFC 4861 section 4.6.2 layout: fd00:aaaa::/64, A only, 86400 s / 14400 s.
    #[test]
    fn prefix_information() {
        let mut wire = vec![
            3, 4, 64, 0x40, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0,
        ];
        wire.extend_from_slice(&[0xfd, 0, 0xaa, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        round_trip(
            NdiscOption::PrefixInformation(PrefixInformation {
                prefix_len: 64,
                flags: PrefixFlags::AUTONOMOUS,
                valid_lifetime: 86_400,
                preferred_lifetime: 14_400,
                prefix: "fd00:aaaa::".parse().unwrap(),
            }),
            &wire,
        );
    }

    #[test]
    fn mtu_and_unknown() {
        round_trip(NdiscOption::Mtu(1280), &[5, 1, 0, 0, 0, 0, 5, 0]);
        // An ABRO (RFC 6775 section 4.3) until it has a repr: kept whole.
        let abro = [
            35, 3, 0, 1, 0, 2, 0, 0x3c, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        round_trip(
            NdiscOption::Unknown {
                option_type: 35,
                data: &abro[2..],
            },
            &abro,
        );
    }

    /// RFC 6775 section 4.2: context 0, C, /64 in a length-2 option; a /80 needs length 3.
    #[test]
    fn sixlowpan_context() {
        let ctx = SixLowpanContext {
            context_len: 64,
            compress: true,
            cid: 0,
            valid_lifetime: 60,
            prefix: "fd00:aaaa::".parse().unwrap(),
        };
        round_trip(
            NdiscOption::SixLowpanContext(ctx),
            &[
                34, 2, 64, 0x10, 0, 0, 0, 60, 0xfd, 0, 0xaa, 0xaa, 0, 0, 0, 0,
            ],
        );
        let long = SixLowpanContext {
            context_len: 80,
            compress: false,
            cid: 3,
            prefix: "2001:db8:1:2:3::".parse().unwrap(),
            ..ctx
        };
        let mut wire = vec![34, 3, 80, 0x03, 0, 0, 0, 60];
        wire.extend_from_slice(&long.prefix.octets());
        round_trip(NdiscOption::SixLowpanContext(long), &wire);
        // A context longer than its prefix field is refused.
        let mut bad = wire[..16].to_vec();
        bad[1] = 2;
        assert_eq!(NdiscOption::parse(&bad), Err(Error::Malformed));
    }

    #[test]
    fn bad_lengths_are_refused() {
        assert_eq!(
            NdiscOption::parse(&[1, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::Malformed)
        );
        assert_eq!(
            NdiscOption::parse(&[3, 1, 0, 0, 0, 0, 0, 0]),
            Err(Error::Malformed)
        );
        assert_eq!(
            NdiscOption::parse(&[1, 3, 0, 0, 0, 0, 0, 0]),
            Err(Error::Truncated)
        );
        assert_eq!(NdiscOption::parse(&[1]), Err(Error::Truncated));
        let all: Vec<_> = parse_all(&[5, 1, 0, 0, 0, 0, 5, 0, 1, 0]).collect();
        assert_eq!(all, vec![Ok(NdiscOption::Mtu(1280)), Err(Error::Malformed)]);
    }
}
