//! The few pieces of IPv6 Neighbour Discovery a 6LoWPAN host needs (RFC 4861, RFC 6775):
//! Router Solicitation out, Router Advertisement in (Prefix Information and 6LoWPAN
//! Context options), Neighbour Solicitation in and Advertisement out.
//!
//! Parsing here reads options defensively: a zero-length option or one running past the
//! message ends the walk (RFC 4861 says drop the message; we keep what was read before).

use std::net::Ipv6Addr;

use lowpan::ieee802154::Eui64;

pub const ROUTER_SOLICITATION: u8 = 133;
pub const ROUTER_ADVERTISEMENT: u8 = 134;
pub const NEIGHBOR_SOLICITATION: u8 = 135;
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;

const OPT_SOURCE_LLA: u8 = 1;
const OPT_TARGET_LLA: u8 = 2;
const OPT_PREFIX_INFO: u8 = 3;
const OPT_6LOWPAN_CONTEXT: u8 = 34;

/// ff02::2
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// ff02::1
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A link-layer address option for an EUI-64 (RFC 4944 section 8: 8 bytes + 6 padding).
fn lla_option(kind: u8, eui: Eui64) -> [u8; 16] {
    let mut o = [0u8; 16];
    o[0] = kind;
    o[1] = 2;
    o[2..10].copy_from_slice(&eui.0);
    o
}

/// ICMPv6 body (type, code, zero checksum, rest) of a Router Solicitation with our
/// source link-layer address.
pub fn router_solicitation(own: Eui64) -> Vec<u8> {
    let mut m = vec![ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&lla_option(OPT_SOURCE_LLA, own));
    m
}

/// ICMPv6 Neighbour Advertisement for `target` (solicited, override).
pub fn neighbor_advertisement(target: Ipv6Addr, own: Eui64, solicited: bool) -> Vec<u8> {
    let flags = if solicited { 0x60 } else { 0x20 };
    let mut m = vec![NEIGHBOR_ADVERTISEMENT, 0, 0, 0, flags, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&lla_option(OPT_TARGET_LLA, own));
    m
}

/// The target of a Neighbour Solicitation (whole ICMPv6 message given).
pub fn solicitation_target(msg: &[u8]) -> Option<Ipv6Addr> {
    let t: [u8; 16] = msg.get(8..24)?.try_into().ok()?;
    Some(Ipv6Addr::from(t))
}

/// A prefix from a Prefix Information option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixInfo {
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub autonomous: bool,
    pub valid_lifetime: u32,
}

/// A 6LoWPAN Context option (RFC 6775 section 4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextInfo {
    pub cid: u8,
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub compress: bool,
    pub valid_lifetime_minutes: u16,
}

/// What a Router Advertisement told us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterAdvert {
    pub router_lifetime: u16,
    pub source_lla: Option<Eui64>,
    pub prefixes: Vec<PrefixInfo>,
    pub contexts: Vec<ContextInfo>,
}

/// Read a Router Advertisement (whole ICMPv6 message). `None` if it is too short.
pub fn parse_router_advert(msg: &[u8]) -> Option<RouterAdvert> {
    if msg.len() < 16 || msg[0] != ROUTER_ADVERTISEMENT {
        return None;
    }
    let mut ra = RouterAdvert {
        router_lifetime: u16::from_be_bytes([msg[6], msg[7]]),
        ..Default::default()
    };
    let mut opts = &msg[16..];
    // Each option has a non-zero length in 8-byte units, so this loop ends.
    while opts.len() >= 2 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            break;
        }
        let (opt, rest) = opts.split_at(len);
        opts = rest;
        match opt[0] {
            OPT_SOURCE_LLA if len == 16 => {
                let mut e = [0u8; 8];
                e.copy_from_slice(&opt[2..10]);
                ra.source_lla = Some(Eui64(e));
            }
            OPT_PREFIX_INFO if len == 32 => {
                let mut p = [0u8; 16];
                p.copy_from_slice(&opt[16..32]);
                ra.prefixes.push(PrefixInfo {
                    prefix: Ipv6Addr::from(p),
                    len: opt[2],
                    autonomous: opt[3] & 0x40 != 0,
                    valid_lifetime: u32::from_be_bytes([opt[4], opt[5], opt[6], opt[7]]),
                });
            }
            OPT_6LOWPAN_CONTEXT if len == 16 || len == 24 => {
                let ctx_len = opt[2];
                // The prefix field holds at least ctx_len bits.
                if usize::from(ctx_len) > (len - 8) * 8 {
                    continue;
                }
                let mut p = [0u8; 16];
                p[..len - 8].copy_from_slice(&opt[8..len]);
                ra.contexts.push(ContextInfo {
                    cid: opt[3] & 0x0f,
                    compress: opt[3] & 0x10 != 0,
                    prefix: Ipv6Addr::from(p),
                    len: ctx_len,
                    valid_lifetime_minutes: u16::from_be_bytes([opt[6], opt[7]]),
                });
            }
            _ => {}
        }
    }
    Some(ra)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RA as the border router sends it: lifetime 1800, SLLAO, PIO fd00:aaaa::/64 with
    /// L and A, 6CO cid 0 /64 with C.
    pub(crate) fn sample_ra(router: Eui64) -> Vec<u8> {
        let mut m = vec![
            ROUTER_ADVERTISEMENT,
            0,
            0,
            0,
            64,
            0,
            0x07,
            0x08,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        m.extend_from_slice(&lla_option(OPT_SOURCE_LLA, router));
        m.extend_from_slice(&[
            OPT_PREFIX_INFO,
            4,
            64,
            0xc0,
            0,
            0,
            0x0e,
            0x10,
            0,
            0,
            0x07,
            0x08,
            0,
            0,
            0,
            0,
        ]);
        m.extend_from_slice(&"fd00:aaaa::".parse::<Ipv6Addr>().unwrap().octets());
        m.extend_from_slice(&[OPT_6LOWPAN_CONTEXT, 2, 64, 0x10, 0, 0, 0xff, 0xff]);
        m.extend_from_slice(&"fd00:aaaa::".parse::<Ipv6Addr>().unwrap().octets()[..8]);
        m
    }

    #[test]
    fn parses_pio_6co_and_sllao() {
        let router = Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1]);
        let ra = parse_router_advert(&sample_ra(router)).unwrap();
        assert_eq!(ra.router_lifetime, 1800);
        assert_eq!(ra.source_lla, Some(router));
        let pfx: Ipv6Addr = "fd00:aaaa::".parse().unwrap();
        assert_eq!(
            ra.prefixes,
            vec![PrefixInfo {
                prefix: pfx,
                len: 64,
                autonomous: true,
                valid_lifetime: 3600
            }]
        );
        assert_eq!(
            ra.contexts,
            vec![ContextInfo {
                cid: 0,
                prefix: pfx,
                len: 64,
                compress: true,
                valid_lifetime_minutes: 0xffff
            }]
        );
    }

    #[test]
    fn truncated_or_garbage_options_do_not_panic() {
        let ra = sample_ra(Eui64([1; 8]));
        for n in 0..ra.len() {
            let _ = parse_router_advert(&ra[..n]);
        }
        let mut rng = crate::rng::SimRng::new(3);
        for _ in 0..3000 {
            let len = rng.below(80) as usize;
            let mut m: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Some(b) = m.first_mut() {
                *b = ROUTER_ADVERTISEMENT;
            }
            let _ = parse_router_advert(&m);
            let _ = solicitation_target(&m);
        }
    }

    #[test]
    fn solicitation_carries_sllao() {
        let rs = router_solicitation(Eui64([2, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(rs.len(), 24);
        assert_eq!(&rs[8..18], &[1, 2, 2, 0, 0, 0, 0, 0, 0, 1]);
    }
}
