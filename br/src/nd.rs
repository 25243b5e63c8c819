//! Neighbour Discovery on the radio side: recognising Router Solicitations from motes and
//! building the border router's Router Advertisement (RFC 4861 section 4.2) with the
//! 6LoWPAN additions motes need to autoconfigure: a source link-layer address option
//! carrying our EUI-64 (RFC 4944 section 8), a Prefix Information Option and a 6LoWPAN
//! Context Option for context 0 (RFC 6775 section 4.2), and the Authoritative Border Router
//! option (RFC 6775 section 4.3) without which 6LoWPAN routers ignore the RA.
//!
//! As the 6LoWPAN border router (6LBR) it also reads the other ND messages motes send
//! ([`classify`]): Neighbour Solicitations with an Address Registration option, which it
//! answers with a Neighbour Advertisement carrying the registration's status
//! ([`build_neighbour_advertisement`]), Duplicate Address Requests relayed by 6LoWPAN
//! routers, answered with a Confirmation ([`build_duplicate_address_confirmation`]), and
//! everything else of ND, which stays on the mesh: none of it is for the host behind the
//! TUN (RFC 6775 nodes never resolve addresses by multicast NS).

use std::net::Ipv6Addr;

use lowpan::Eui64;
use lowpan::icmpv6::{Icmpv6Repr, msg_type};
use lowpan::ip::{self, Icmpv6Packet, Ipv6Packet, next_header};
use lowpan::ndisc::dar::{self, DuplicateAddress};
use lowpan::ndisc::{
    AddressRegistration, AuthoritativeBorderRouter, LinkLayerAddress, NdiscRepr, NeighborFlags,
    PrefixFlags, PrefixInformation, RouterFlags, SixLowpanContext,
};

pub use lowpan::ndisc::ALL_NODES;

/// What goes into our Router Advertisements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaParams {
    /// The /64 prefix (context 0).
    pub prefix: Ipv6Addr,
    pub cur_hop_limit: u8,
    pub router_lifetime_s: u16,
    pub valid_lifetime_s: u32,
    pub preferred_lifetime_s: u32,
    /// 6CO valid lifetime, units of 60 s; also the ABRO's valid lifetime.
    pub context_lifetime_min: u16,
    /// Our global address, the 6LBR address of the ABRO (RFC 6775 section 4.3).
    pub border_router: Ipv6Addr,
    /// ABRO version: what we announce does not change while we run, so it stays put.
    pub abro_version: u32,
}

/// MAX_RA_DELAY_TIME (RFC 4861 section 10): solicited RAs wait a random time below it.
pub const MAX_RA_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// Why a packet that looked like a Router Solicitation was not accepted (RFC 4861 6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsError {
    HopLimitNot255,
    BadCode,
    BadChecksum,
    Truncated,
    /// A zero-length or wrongly sized option.
    BadOption,
}

impl RsError {
    pub fn as_str(&self) -> &'static str {
        match self {
            RsError::HopLimitNot255 => "rs_hop_limit_not_255",
            RsError::BadCode => "rs_bad_code",
            RsError::BadChecksum => "rs_bad_checksum",
            RsError::Truncated => "rs_truncated",
            RsError::BadOption => "rs_bad_option",
        }
    }
}

/// `Ok(Some(src))` when `packet` is a valid Router Solicitation (with its IPv6 source),
/// `Ok(None)` when it is something else, `Err` when it is an invalid RS.
pub fn parse_router_solicitation(packet: &Ipv6Packet<&[u8]>) -> Result<Option<Ipv6Addr>, RsError> {
    if packet.next_header() != next_header::ICMPV6 {
        return Ok(None);
    }
    let Ok(icmp) = Icmpv6Packet::new_checked(packet.payload()) else {
        return Ok(None);
    };
    if icmp.msg_type() != msg_type::ROUTER_SOLICIT {
        return Ok(None);
    }
    if packet.hop_limit() != 255 {
        return Err(RsError::HopLimitNot255);
    }
    if icmp.msg_code() != 0 {
        return Err(RsError::BadCode);
    }
    let src = packet.src_addr();
    match Icmpv6Repr::parse(&src, &packet.dst_addr(), &icmp) {
        Ok(_) => Ok(Some(src)),
        Err(ip::Error::BadChecksum) => Err(RsError::BadChecksum),
        Err(ip::Error::Truncated) => Err(RsError::Truncated),
        Err(_) => Err(RsError::BadOption),
    }
}

/// Our Router Advertisement: our EUI-64 in the source link-layer address option (RFC 4944
/// section 8), the prefix for autoconfiguration and as 6LoWPAN context 0 (RFC 6775 4.2),
/// and the ABRO.
///
/// The SLLAO is never left out, although RFC 4861 section 4.2 allows it and a 6LoWPAN node
/// could derive our link-layer address from our EUI-64-based source: RIOT's 6LN creates
/// its neighbour cache entry for the router only from the RA's SLLAO, and drops the NA that
/// answers its address registration when that entry is missing, so its address stays
/// tentative. Between two extended addresses the RA then takes two fragments.
pub fn router_advertisement(own: Eui64, p: &RaParams) -> NdiscRepr {
    NdiscRepr::RouterAdvert {
        hop_limit: p.cur_hop_limit,
        flags: RouterFlags::default(),
        router_lifetime: p.router_lifetime_s,
        // 0: unspecified.
        reachable_time: 0,
        retrans_time: 0,
        lladdr: Some(LinkLayerAddress::Eui64(own)),
        mtu: None,
        prefix_infos: vec![PrefixInformation {
            prefix_len: 64,
            // A only: RFC 6775 section 5.4 — 6LoWPAN hosts must not treat the prefix as on-link.
            flags: PrefixFlags::AUTONOMOUS,
            valid_lifetime: p.valid_lifetime_s,
            preferred_lifetime: p.preferred_lifetime_s,
            prefix: p.prefix,
        }],
        contexts: vec![SixLowpanContext {
            context_len: 64,
            compress: true,
            cid: 0,
            valid_lifetime: p.context_lifetime_min,
            prefix: lowpan::Prefix64::of(&p.prefix).network(),
        }],
        abro: Some(AuthoritativeBorderRouter {
            version: p.abro_version,
            valid_lifetime: p.context_lifetime_min,
            border_router: p.border_router,
        }),
    }
}

/// Length of the RA we build: IPv6 header + RA header 16 + SLLAO 16 + PIO 32 + 6CO 16 +
/// ABRO 24.
pub const RA_PACKET_LEN: usize = ip::IPV6_HEADER_LEN + 16 + 16 + 32 + 16 + 24;

/// The whole IPv6 packet of a Router Advertisement from `fe80::<our IID>` to `dst`.
pub fn build_router_advertisement(own: Eui64, dst: Ipv6Addr, p: &RaParams) -> Vec<u8> {
    let src = ip::link_local_from_eui64(own);
    Icmpv6Repr::Ndisc(router_advertisement(own, p))
        .emit_ipv6_packet(src, dst, 255)
        // 104 bytes of ICMPv6 always fit an IPv6 packet.
        .unwrap_or_default()
}

/// An ND message (or DAR/DAC) received from the radio, as the 6LBR acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadioNd {
    /// A Neighbour Solicitation carrying an (E)ARO: `src` registers `target`.
    Registration {
        src: Ipv6Addr,
        target: Ipv6Addr,
        aro: AddressRegistration,
        sllao: Option<LinkLayerAddress>,
    },
    /// A Neighbour Solicitation without ARO (address resolution or reachability).
    Solicitation {
        src: Ipv6Addr,
        target: Ipv6Addr,
        sllao: Option<LinkLayerAddress>,
    },
    /// A Duplicate Address Request from the 6LoWPAN router `src` to `dst`.
    DuplicateAddressRequest {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        dar: DuplicateAddress,
    },
    /// Router or Neighbour Advertisement, Redirect or Duplicate Address Confirmation: not
    /// ours to act on, and never the host's.
    Other,
}

/// Why a packet that looked like ND was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdError {
    /// An NS/NA/RA/Redirect not sent with hop limit 255 (RFC 4861 section 7.1.1).
    HopLimitNot255,
    /// A bad checksum, code, option or length.
    Malformed,
    /// An ARO in an NS from the unspecified address or without a source link-layer
    /// address option (RFC 6775 section 6.5.1: a registration needs both).
    AroWithoutSource,
}

impl NdError {
    pub fn as_str(&self) -> &'static str {
        match self {
            NdError::HopLimitNot255 => "nd_hop_limit_not_255",
            NdError::Malformed => "nd_malformed",
            NdError::AroWithoutSource => "nd_aro_without_source",
        }
    }
}

const REDIRECT: u8 = 137;

/// The upper-layer protocol and its bytes, after at most two Hop-by-Hop or Destination
/// Options headers (an RPL option travels in the first).
pub fn upper_layer<'a>(packet: &'a Ipv6Packet<&[u8]>) -> Option<(u8, &'a [u8])> {
    let mut next = packet.next_header();
    let mut rest: &'a [u8] = packet.payload();
    for _ in 0..2 {
        if next != next_header::HOP_BY_HOP && next != next_header::DEST_OPTS {
            break;
        }
        let &[nh, len] = rest.first_chunk::<2>()?;
        rest = rest.get((usize::from(len) + 1) * 8..)?;
        next = nh;
    }
    Some((next, rest))
}

/// `Ok(Some(_))` when `packet` is an ND message other than a Router Solicitation (which
/// [`parse_router_solicitation`] reads) or a DAR/DAC, `Ok(None)` when it is not ND.
pub fn classify(packet: &Ipv6Packet<&[u8]>) -> Result<Option<RadioNd>, NdError> {
    let Some((next_header::ICMPV6, msg)) = upper_layer(packet) else {
        return Ok(None);
    };
    let Some(&kind) = msg.first() else {
        return Ok(None);
    };
    let (src, dst) = (packet.src_addr(), packet.dst_addr());
    match kind {
        msg_type::NEIGHBOR_SOLICIT
        | msg_type::NEIGHBOR_ADVERT
        | msg_type::ROUTER_ADVERT
        | REDIRECT => {
            if packet.hop_limit() != 255 {
                return Err(NdError::HopLimitNot255);
            }
        }
        dar::msg_type::DUPLICATE_ADDRESS_REQUEST
        | dar::msg_type::DUPLICATE_ADDRESS_CONFIRMATION => {}
        _ => return Ok(None),
    }
    let icmp = Icmpv6Packet::new_checked(msg).map_err(|_| NdError::Malformed)?;
    let repr = Icmpv6Repr::parse(&src, &dst, &icmp).map_err(|_| NdError::Malformed)?;
    Ok(Some(match repr {
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr,
            lladdr,
            aro: Some(aro),
        }) => {
            if src.is_unspecified() || lladdr.is_none() {
                return Err(NdError::AroWithoutSource);
            }
            RadioNd::Registration {
                src,
                target: target_addr,
                aro,
                sllao: lladdr,
            }
        }
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr,
            lladdr,
            aro: None,
        }) => RadioNd::Solicitation {
            src,
            target: target_addr,
            sllao: lladdr,
        },
        Icmpv6Repr::Unknown {
            msg_type: dar::msg_type::DUPLICATE_ADDRESS_REQUEST,
            msg_code,
            body,
        } => {
            let dar = DuplicateAddress::parse(msg_code, body).map_err(|_| NdError::Malformed)?;
            RadioNd::DuplicateAddressRequest { src, dst, dar }
        }
        _ => RadioNd::Other,
    }))
}

/// A solicited Neighbour Advertisement from `fe80::<our IID>` (the router address motes
/// learned from our RA) to `dst` for `target`: with the registration's answer when `aro`
/// is given, else with our link-layer address (target link-layer address option).
pub fn build_neighbour_advertisement(
    own: Eui64,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    aro: Option<AddressRegistration>,
) -> Vec<u8> {
    let src = ip::link_local_from_eui64(own);
    let (flags, lladdr) = match aro {
        Some(_) => (NeighborFlags::ROUTER | NeighborFlags::SOLICITED, None),
        None => (
            NeighborFlags::ROUTER | NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE,
            Some(LinkLayerAddress::Eui64(own)),
        ),
    };
    Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags,
        target_addr: target,
        lladdr,
        aro,
    })
    .emit_ipv6_packet(src, dst, 255)
    // At most 72 bytes of ICMPv6.
    .unwrap_or_default()
}

/// The Duplicate Address Confirmation answering `dar` with `status`, from our address
/// `src` to the 6LoWPAN router `dst` that asked (same code, TID, ROVR and address).
pub fn build_duplicate_address_confirmation(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    dar: &DuplicateAddress,
    status: u8,
) -> Vec<u8> {
    let dac = DuplicateAddress { status, ..*dar };
    let body = dac.to_body();
    Icmpv6Repr::Unknown {
        msg_type: dar::msg_type::DUPLICATE_ADDRESS_CONFIRMATION,
        msg_code: dac.code(),
        body: &body,
    }
    .emit_ipv6_packet(src, dst, dar::MULTIHOP_HOPLIMIT)
    // At most 56 bytes of ICMPv6.
    .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const OWN: Eui64 = Eui64([0x00, 0x12, 0x4b, 0x00, 0x00, 0x00, 0x00, 0x01]);

    fn params() -> RaParams {
        RaParams {
            prefix: "fd00:aaaa::".parse().unwrap(),
            cur_hop_limit: 64,
            router_lifetime_s: 1800,
            valid_lifetime_s: 86_400,
            preferred_lifetime_s: 14_400,
            context_lifetime_min: 60,
            border_router: "fd00:aaaa::1".parse().unwrap(),
            abro_version: 1,
        }
    }

    /// RS from fe80::212:4b00:0:2 to ff02::2 with no options.
    pub(crate) fn rs_packet(src: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
        let dst = lowpan::ndisc::ALL_ROUTERS;
        Icmpv6Repr::Ndisc(NdiscRepr::RouterSolicit { lladdr: None })
            .emit_ipv6_packet(src, dst, hop_limit)
            .unwrap()
    }

    #[test]
    fn ra_bytes_field_by_field() {
        let dst: Ipv6Addr = "fe80::212:4b00:0:2".parse().unwrap();
        let ra = build_router_advertisement(OWN, dst, &params());
        assert_eq!(ra.len(), RA_PACKET_LEN);
        assert_eq!(ra.len(), 144);
        // IPv6 header
        assert_eq!(&ra[0..4], &[0x60, 0, 0, 0]);
        assert_eq!(&ra[4..6], &[0, 104]); // payload length
        assert_eq!(ra[6], 58);
        assert_eq!(ra[7], 255);
        assert_eq!(
            &ra[8..24],
            &"fe80::212:4b00:0:1".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(&ra[24..40], &dst.octets());
        // RA header
        let icmp = &ra[40..];
        assert_eq!(&icmp[0..2], &[134, 0]);
        assert!(ip::verify_checksum(
            &ip::link_local_from_eui64(OWN),
            &dst,
            58,
            icmp
        ));
        assert_eq!(icmp[4], 64);
        assert_eq!(icmp[5], 0);
        assert_eq!(&icmp[6..8], &[0x07, 0x08]); // 1800
        assert_eq!(&icmp[8..16], &[0; 8]);
        // SLLAO
        assert_eq!(
            &icmp[16..32],
            &[1, 2, 0x00, 0x12, 0x4b, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        );
        // PIO
        let pio = &icmp[32..64];
        assert_eq!(&pio[0..4], &[3, 4, 64, 0x40]);
        assert_eq!(&pio[4..8], &86_400u32.to_be_bytes());
        assert_eq!(&pio[8..12], &14_400u32.to_be_bytes());
        assert_eq!(&pio[12..16], &[0; 4]);
        assert_eq!(
            &pio[16..32],
            &"fd00:aaaa::".parse::<Ipv6Addr>().unwrap().octets()
        );
        // 6CO: type 34, len 2, context length 64, C=1 CID=0, reserved, lifetime 60 min, prefix
        let co = &icmp[64..80];
        assert_eq!(
            co,
            &[
                34, 2, 64, 0x10, 0, 0, 0, 60, 0xfd, 0, 0xaa, 0xaa, 0, 0, 0, 0
            ]
        );
        // ABRO: type 35, len 3, version low 1, high 0, lifetime 60 min, 6LBR fd00:aaaa::1
        let abro = &icmp[80..104];
        assert_eq!(&abro[..8], &[35, 3, 0, 1, 0, 0, 0, 60]);
        assert_eq!(
            &abro[8..],
            &"fd00:aaaa::1".parse::<Ipv6Addr>().unwrap().octets()
        );
    }

    #[test]
    fn rs_recognised_and_validated() {
        let src: Ipv6Addr = "fe80::212:4b00:0:2".parse().unwrap();
        let p = rs_packet(src, 255);
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(parse_router_solicitation(&v), Ok(Some(src)));

        let p = rs_packet(src, 64);
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(parse_router_solicitation(&v), Err(RsError::HopLimitNot255));

        let mut p = rs_packet(src, 255);
        p[44] ^= 1;
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(parse_router_solicitation(&v), Err(RsError::BadChecksum));

        let ra = build_router_advertisement(OWN, src, &params());
        let v = Ipv6Packet::new_checked(&ra[..]).unwrap();
        assert_eq!(parse_router_solicitation(&v), Ok(None));
    }
}
