//! Neighbour Discovery options (RFC 4861 section 4.6) with the 6LoWPAN forms of RFC 4944
//! section 8 (802.15.4 link-layer addresses) and RFC 6775 section 4.2 (6LoWPAN Context).
//!
//! Every option is `type, length (units of 8 bytes), data`. [`NdiscOption::parse`] reads
//! one and refuses a zero length, a length running past the message, and a length its type
//! does not allow (RFC 4861 section 4.6: such a message is dropped). The Address
//! Registration option is read in its RFC 8505 form (EARO), of which the RFC 6775 ARO is
//! the case with no flags, TID 0 and an EUI-64 as the 8-byte ROVR. Types without a repr
//! here (Redirected Header and any other) come back as [`NdiscOption::Unknown`].

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

/// Registration Ownership Verifier of an EARO (RFC 8505 section 5.3): 8, 16, 24 or 32
/// bytes. In an RFC 6775 ARO it is the registering node's EUI-64.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Rovr {
    len: u8,
    bytes: [u8; 32],
}

impl Rovr {
    /// `None` unless `bytes` is 8, 16, 24 or 32 bytes long.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if !matches!(bytes.len(), 8 | 16 | 24 | 32) {
            return None;
        }
        let mut b = [0u8; 32];
        b[..bytes.len()].copy_from_slice(bytes);
        Some(Rovr {
            len: bytes.len() as u8,
            bytes: b,
        })
    }

    /// The ROVR of an RFC 6775 ARO: the EUI-64 itself.
    pub const fn from_eui64(eui: Eui64) -> Self {
        let mut bytes = [0u8; 32];
        let mut i = 0;
        while i < 8 {
            bytes[i] = eui.0[i];
            i += 1;
        }
        Rovr { len: 8, bytes }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The EUI-64 when this is an 8-byte ROVR (the RFC 6775 form).
    pub fn eui64(&self) -> Option<Eui64> {
        (self.len == 8).then(|| {
            let mut e = [0u8; 8];
            e.copy_from_slice(&self.bytes[..8]);
            Eui64(e)
        })
    }
}

/// Status of an address registration (RFC 6775 section 4.1, RFC 8505 section 12.6).
pub mod aro_status {
    pub const SUCCESS: u8 = 0;
    pub const DUPLICATE: u8 = 1;
    pub const NEIGHBOR_CACHE_FULL: u8 = 2;
    /// RFC 8505: the registration is not the freshest (its TID is older than the one held).
    pub const MOVED: u8 = 3;
}

/// Address Registration option (RFC 6775 section 4.1, extended by RFC 8505 section 4.1).
/// `status` is 0 in an NS; the router answers in the NA's copy.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AddressRegistration {
    pub status: u8,
    /// Opaque field handed to the routing protocol named by `i` (RFC 8505).
    pub opaque: u8,
    /// I: 2 bits, what `opaque` is for (0: abstract topology).
    pub i: u8,
    /// R: the registering node asks to be routed to (it is not a router itself).
    pub r: bool,
    /// T: `tid` is meaningful (the option is an EARO).
    pub t: bool,
    /// Transaction ID, a sequence counter of the registrations (RFC 8505 section 5.2).
    pub tid: u8,
    /// Units of 60 seconds; 0 deregisters.
    pub lifetime: u16,
    pub rovr: Rovr,
}

impl AddressRegistration {
    /// An RFC 6775 ARO: no flags, the EUI-64 as ROVR.
    pub const fn aro(status: u8, lifetime: u16, eui: Eui64) -> Self {
        AddressRegistration {
            status,
            opaque: 0,
            i: 0,
            r: false,
            t: false,
            tid: 0,
            lifetime,
            rovr: Rovr::from_eui64(eui),
        }
    }
}

/// Authoritative Border Router option (RFC 6775 section 4.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AuthoritativeBorderRouter {
    /// Version Low in the low 16 bits, Version High in the high 16: bumped by the 6LBR
    /// whenever what it announces (prefixes, contexts) changes.
    pub version: u32,
    /// Units of 60 seconds; 0 means the default of 10000 (RFC 6775 section 4.3).
    pub valid_lifetime: u16,
    /// The 6LBR's own address.
    pub border_router: Ipv6Addr,
}

/// One ND option.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum NdiscOption<'a> {
    SourceLinkLayerAddr(LinkLayerAddress),
    TargetLinkLayerAddr(LinkLayerAddress),
    PrefixInformation(PrefixInformation),
    Mtu(u32),
    SixLowpanContext(SixLowpanContext),
    AddressRegistration(AddressRegistration),
    AuthoritativeBorderRouter(AuthoritativeBorderRouter),
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
            (ADDRESS_REGISTRATION, 2..=5) => {
                NdiscOption::AddressRegistration(AddressRegistration {
                    status: opt[2],
                    opaque: opt[3],
                    i: (opt[4] >> 2) & 0x03,
                    r: opt[4] & 0x02 != 0,
                    t: opt[4] & 0x01 != 0,
                    tid: opt[5],
                    lifetime: u16::from_be_bytes([opt[6], opt[7]]),
                    rovr: Rovr::new(&opt[8..]).ok_or(Error::Malformed)?,
                })
            }
            (AUTHORITATIVE_BORDER_ROUTER, 3) => {
                let low = u16::from_be_bytes([opt[2], opt[3]]);
                let high = u16::from_be_bytes([opt[4], opt[5]]);
                NdiscOption::AuthoritativeBorderRouter(AuthoritativeBorderRouter {
                    version: (u32::from(high) << 16) | u32::from(low),
                    valid_lifetime: u16::from_be_bytes([opt[6], opt[7]]),
                    border_router: addr16(&opt[8..24]),
                })
            }
            (SOURCE_LINK_LAYER_ADDR | TARGET_LINK_LAYER_ADDR | PREFIX_INFORMATION | MTU, _)
            | (SIXLOWPAN_CONTEXT | ADDRESS_REGISTRATION | AUTHORITATIVE_BORDER_ROUTER, _) => {
                return Err(Error::Malformed);
            }
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
            NdiscOption::AddressRegistration(a) => 8 + a.rovr.len as usize,
            NdiscOption::AuthoritativeBorderRouter(_) => 24,
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
            NdiscOption::AddressRegistration(a) => {
                buf[0] = ADDRESS_REGISTRATION;
                buf[2] = a.status;
                buf[3] = a.opaque;
                buf[4] = ((a.i & 0x03) << 2) | (u8::from(a.r) << 1) | u8::from(a.t);
                buf[5] = a.tid;
                buf[6..8].copy_from_slice(&a.lifetime.to_be_bytes());
                buf[8..].copy_from_slice(a.rovr.as_bytes());
            }
            NdiscOption::AuthoritativeBorderRouter(b) => {
                buf[0] = AUTHORITATIVE_BORDER_ROUTER;
                buf[2..4].copy_from_slice(&(b.version as u16).to_be_bytes());
                buf[4..6].copy_from_slice(&((b.version >> 16) as u16).to_be_bytes());
                buf[6..8].copy_from_slice(&b.valid_lifetime.to_be_bytes());
                buf[8..24].copy_from_slice(&b.border_router.octets());
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
        // A Redirected Header (RFC 4861 section 4.6.3) has no repr: kept whole.
        let redirected = [4, 1, 0, 0, 0, 0, 0, 0];
        round_trip(
            NdiscOption::Unknown {
                option_type: 4,
                data: &redirected[2..],
            },
            &redirected,
        );
    }

    /// RFC 6775 section 4.3: type 35, length 3, Version Low 1, Version High 2, Valid
    /// Lifetime 60 (minutes), 6LBR address fd00::1.
    #[test]
    fn authoritative_border_router_rfc6775() {
        let abro = [
            35, 3, 0, 1, 0, 2, 0, 0x3c, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        round_trip(
            NdiscOption::AuthoritativeBorderRouter(AuthoritativeBorderRouter {
                version: 0x0002_0001,
                valid_lifetime: 60,
                border_router: "fd00::1".parse().unwrap(),
            }),
            &abro,
        );
        let mut short = abro[..16].to_vec();
        short[1] = 2;
        assert_eq!(NdiscOption::parse(&short), Err(Error::Malformed));
        let mut long = abro.to_vec();
        long.extend_from_slice(&[0; 8]);
        long[1] = 4;
        assert_eq!(NdiscOption::parse(&long), Err(Error::Malformed));
    }

    /// RFC 6775 section 4.1: type 33, length 2, Status 0, Reserved (3 bytes), Registration
    /// Lifetime 0x0e10 (60 hours in minutes), EUI-64.
    #[test]
    fn address_registration_rfc6775() {
        let eui = Eui64([0x02, 0x12, 0x4b, 0, 0, 0, 0, 7]);
        let wire = [
            33, 2, 0, 0, 0, 0, 0x0e, 0x10, 0x02, 0x12, 0x4b, 0, 0, 0, 0, 7,
        ];
        let aro = AddressRegistration::aro(aro_status::SUCCESS, 3600, eui);
        round_trip(NdiscOption::AddressRegistration(aro), &wire);
        assert_eq!(aro.rovr.eui64(), Some(eui));
        // The router's answer: status 1 (duplicate).
        let mut dup = wire;
        dup[2] = 1;
        round_trip(
            NdiscOption::AddressRegistration(AddressRegistration {
                status: aro_status::DUPLICATE,
                ..aro
            }),
            &dup,
        );
        // Length 1 leaves no room for the EUI-64; length 6 is a ROVR longer than 256 bits.
        assert_eq!(
            NdiscOption::parse(&[33, 1, 0, 0, 0, 0, 0, 0]),
            Err(Error::Malformed)
        );
        let mut six = vec![33, 6];
        six.resize(48, 0);
        assert_eq!(NdiscOption::parse(&six), Err(Error::Malformed));
    }

    /// RFC 8505 section 4.1: type 33, length 4 (a 192-bit ROVR), Status 0,
    /// Opaque 5, I=1 R T, TID 9, Registration Lifetime 10, 24-byte ROVR.
    #[test]
    fn extended_address_registration_rfc8505() {
        let rovr: Vec<u8> = (1..=24).collect();
        let mut wire = vec![33, 4, 0, 5, 0b0000_0111, 9, 0, 10];
        wire.extend_from_slice(&rovr);
        let earo = AddressRegistration {
            status: 0,
            opaque: 5,
            i: 1,
            r: true,
            t: true,
            tid: 9,
            lifetime: 10,
            rovr: Rovr::new(&rovr).unwrap(),
        };
        round_trip(NdiscOption::AddressRegistration(earo), &wire);
        assert_eq!(earo.rovr.eui64(), None);
        for len in [16usize, 32] {
            let rovr = vec![0xab; len];
            let mut wire = vec![33, (8 + len as u8) / 8, 0, 0, 1, 0, 0, 1];
            wire.extend_from_slice(&rovr);
            let (NdiscOption::AddressRegistration(a), rest) = NdiscOption::parse(&wire).unwrap()
            else {
                panic!("not an ARO")
            };
            assert!(rest.is_empty());
            assert_eq!(a.rovr.as_bytes(), &rovr[..]);
            assert!(a.t && !a.r);
        }
        assert_eq!(Rovr::new(&[0; 12]), None);
        // Reserved flag bits are not kept: they are emitted as zero.
        let mut reserved = wire.clone();
        reserved[4] |= 0xf0;
        assert_eq!(
            NdiscOption::parse(&reserved),
            Ok((NdiscOption::AddressRegistration(earo), &[][..]))
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
