//! Neighbour Discovery messages (RFC 4861 section 4) as a high-level [`NdiscRepr`], with
//! the options a 6LoWPAN host and border router use ([`option`]).
//!
//! [`NdiscRepr`] is the ICMPv6 message body after type, code and checksum; it is reached
//! through [`crate::icmpv6::Icmpv6Repr::Ndisc`], which checks the checksum. Options of a
//! type we do not represent are skipped on parse, as RFC 4861 section 4.6 requires.

pub mod dar;
pub mod option;

use std::net::Ipv6Addr;

use crate::ip::Error;
pub use dar::DuplicateAddress;
pub use option::{
    AddressRegistration, AuthoritativeBorderRouter, LinkLayerAddress, NdiscOption, PrefixFlags,
    PrefixInformation, Rovr, SixLowpanContext, aro_status,
};

/// ICMPv6 types of the ND messages.
pub mod msg_type {
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// ff02::1
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ff02::2
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// Flags of a Router Advertisement.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct RouterFlags(pub u8);

impl RouterFlags {
    /// M: addresses are available via DHCPv6.
    pub const MANAGED: RouterFlags = RouterFlags(0x80);
    /// O: other configuration is available via DHCPv6.
    pub const OTHER: RouterFlags = RouterFlags(0x40);
}

/// Flags of a Neighbour Advertisement.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct NeighborFlags(pub u8);

impl NeighborFlags {
    pub const ROUTER: NeighborFlags = NeighborFlags(0x80);
    pub const SOLICITED: NeighborFlags = NeighborFlags(0x40);
    pub const OVERRIDE: NeighborFlags = NeighborFlags(0x20);

    pub const fn contains(self, other: NeighborFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for NeighborFlags {
    type Output = NeighborFlags;
    fn bitor(self, rhs: NeighborFlags) -> NeighborFlags {
        NeighborFlags(self.0 | rhs.0)
    }
}

/// An ND message. Options are emitted in the order of the fields (link-layer address,
/// MTU, prefixes, contexts, then the ABRO or ARO). When a message carries an option that
/// has one field more than once, the last one is kept.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum NdiscRepr {
    RouterSolicit {
        lladdr: Option<LinkLayerAddress>,
    },
    RouterAdvert {
        /// Cur Hop Limit for hosts; 0 is unspecified.
        hop_limit: u8,
        flags: RouterFlags,
        /// Seconds; 0: not a default router.
        router_lifetime: u16,
        /// Milliseconds; 0 is unspecified.
        reachable_time: u32,
        /// Milliseconds; 0 is unspecified.
        retrans_time: u32,
        lladdr: Option<LinkLayerAddress>,
        mtu: Option<u32>,
        prefix_infos: Vec<PrefixInformation>,
        contexts: Vec<SixLowpanContext>,
        /// RFC 6775 section 4.3; a 6LoWPAN router ignores RAs without it.
        abro: Option<AuthoritativeBorderRouter>,
    },
    NeighborSolicit {
        target_addr: Ipv6Addr,
        lladdr: Option<LinkLayerAddress>,
        /// The (E)ARO of an address registration (RFC 6775 section 5.5).
        aro: Option<AddressRegistration>,
    },
    NeighborAdvert {
        flags: NeighborFlags,
        target_addr: Ipv6Addr,
        lladdr: Option<LinkLayerAddress>,
        /// The router's answer to a registration, with its status.
        aro: Option<AddressRegistration>,
    },
}

/// Bytes of each message before its options (after type, code and checksum).
const fn fixed_len(msg_type: u8) -> Option<usize> {
    match msg_type {
        msg_type::ROUTER_SOLICIT => Some(4),
        msg_type::ROUTER_ADVERT => Some(12),
        msg_type::NEIGHBOR_SOLICIT | msg_type::NEIGHBOR_ADVERT => Some(20),
        _ => None,
    }
}

fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl NdiscRepr {
    /// The ICMPv6 type this message is sent with.
    pub const fn msg_type(&self) -> u8 {
        match self {
            NdiscRepr::RouterSolicit { .. } => msg_type::ROUTER_SOLICIT,
            NdiscRepr::RouterAdvert { .. } => msg_type::ROUTER_ADVERT,
            NdiscRepr::NeighborSolicit { .. } => msg_type::NEIGHBOR_SOLICIT,
            NdiscRepr::NeighborAdvert { .. } => msg_type::NEIGHBOR_ADVERT,
        }
    }

    /// Minimum body length of an ND message type (after type, code and checksum), `None`
    /// when the type is not an ND message.
    pub const fn min_body_len(msg_type: u8) -> Option<usize> {
        fixed_len(msg_type)
    }

    /// Reads the message body of ICMPv6 type `msg_type` and code `msg_code`. The caller
    /// checks the checksum (see [`crate::icmpv6::Icmpv6Repr::parse`]).
    pub fn parse(msg_type: u8, msg_code: u8, body: &[u8]) -> Result<Self, Error> {
        let fixed = fixed_len(msg_type).ok_or(Error::Malformed)?;
        if body.len() < fixed {
            return Err(Error::Truncated);
        }
        if msg_code != 0 {
            return Err(Error::Malformed);
        }
        let mut src_lladdr = None;
        let mut tgt_lladdr = None;
        let mut mtu = None;
        let mut prefix_infos = Vec::new();
        let mut contexts = Vec::new();
        let mut abro = None;
        let mut aro = None;
        for opt in option::parse_all(&body[fixed..]) {
            match opt? {
                NdiscOption::SourceLinkLayerAddr(a) => src_lladdr = Some(a),
                NdiscOption::TargetLinkLayerAddr(a) => tgt_lladdr = Some(a),
                NdiscOption::Mtu(m) => mtu = Some(m),
                NdiscOption::PrefixInformation(p) => prefix_infos.push(p),
                NdiscOption::SixLowpanContext(c) => contexts.push(c),
                NdiscOption::AddressRegistration(a) => aro = Some(a),
                NdiscOption::AuthoritativeBorderRouter(b) => abro = Some(b),
                NdiscOption::Unknown { .. } => {}
            }
        }
        Ok(match msg_type {
            msg_type::ROUTER_SOLICIT => NdiscRepr::RouterSolicit { lladdr: src_lladdr },
            msg_type::ROUTER_ADVERT => NdiscRepr::RouterAdvert {
                hop_limit: body[0],
                flags: RouterFlags(body[1]),
                router_lifetime: u16::from_be_bytes([body[2], body[3]]),
                reachable_time: be32(body, 4),
                retrans_time: be32(body, 8),
                lladdr: src_lladdr,
                mtu,
                prefix_infos,
                contexts,
                abro,
            },
            msg_type::NEIGHBOR_SOLICIT => NdiscRepr::NeighborSolicit {
                target_addr: addr_at(body, 4),
                lladdr: src_lladdr,
                aro,
            },
            _ => NdiscRepr::NeighborAdvert {
                flags: NeighborFlags(body[0]),
                target_addr: addr_at(body, 4),
                lladdr: tgt_lladdr,
                aro,
            },
        })
    }

    fn options(&self) -> impl Iterator<Item = NdiscOption<'static>> + '_ {
        type Fields<'r> = (
            Option<NdiscOption<'static>>,
            Option<NdiscOption<'static>>,
            &'r [PrefixInformation],
            &'r [SixLowpanContext],
            Option<NdiscOption<'static>>,
        );
        let (lladdr, mtu, prefixes, contexts, last): Fields<'_> = match self {
            NdiscRepr::RouterSolicit { lladdr } => (
                lladdr.map(NdiscOption::SourceLinkLayerAddr),
                None,
                &[],
                &[],
                None,
            ),
            NdiscRepr::NeighborSolicit { lladdr, aro, .. } => (
                lladdr.map(NdiscOption::SourceLinkLayerAddr),
                None,
                &[],
                &[],
                aro.map(NdiscOption::AddressRegistration),
            ),
            NdiscRepr::NeighborAdvert { lladdr, aro, .. } => (
                lladdr.map(NdiscOption::TargetLinkLayerAddr),
                None,
                &[],
                &[],
                aro.map(NdiscOption::AddressRegistration),
            ),
            NdiscRepr::RouterAdvert {
                lladdr,
                mtu,
                prefix_infos,
                contexts,
                abro,
                ..
            } => (
                lladdr.map(NdiscOption::SourceLinkLayerAddr),
                mtu.map(NdiscOption::Mtu),
                prefix_infos,
                contexts,
                abro.map(NdiscOption::AuthoritativeBorderRouter),
            ),
        };
        lladdr
            .into_iter()
            .chain(mtu)
            .chain(prefixes.iter().map(|p| NdiscOption::PrefixInformation(*p)))
            .chain(contexts.iter().map(|c| NdiscOption::SixLowpanContext(*c)))
            .chain(last)
    }

    /// Length of the body [`NdiscRepr::emit`] writes (after type, code and checksum).
    pub fn buffer_len(&self) -> usize {
        fixed_len(self.msg_type()).unwrap_or(0)
            + self.options().map(|o| o.buffer_len()).sum::<usize>()
    }

    /// Writes the body into the first [`NdiscRepr::buffer_len`] bytes of `body`.
    pub fn emit(&self, body: &mut [u8]) {
        let fixed = fixed_len(self.msg_type()).unwrap_or(0);
        body[..fixed].fill(0);
        match self {
            NdiscRepr::RouterSolicit { .. } => {}
            NdiscRepr::RouterAdvert {
                hop_limit,
                flags,
                router_lifetime,
                reachable_time,
                retrans_time,
                ..
            } => {
                body[0] = *hop_limit;
                body[1] = flags.0;
                body[2..4].copy_from_slice(&router_lifetime.to_be_bytes());
                body[4..8].copy_from_slice(&reachable_time.to_be_bytes());
                body[8..12].copy_from_slice(&retrans_time.to_be_bytes());
            }
            NdiscRepr::NeighborSolicit { target_addr, .. } => {
                body[4..20].copy_from_slice(&target_addr.octets());
            }
            NdiscRepr::NeighborAdvert {
                flags, target_addr, ..
            } => {
                body[0] = flags.0;
                body[4..20].copy_from_slice(&target_addr.octets());
            }
        }
        let mut at = fixed;
        for o in self.options() {
            let len = o.buffer_len();
            o.emit(&mut body[at..at + len]);
            at += len;
        }
    }
}
