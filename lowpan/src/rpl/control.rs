//! RPL control messages (RFC 6550 section 6): the body of an ICMPv6 message of type 155,
//! after type, code and checksum. Secure variants (codes 0x80..) are not handled.

use super::RplError;
use std::net::Ipv6Addr;

/// Message codes.
pub mod code {
    pub const DIS: u8 = 0x00;
    pub const DIO: u8 = 0x01;
    pub const DAO: u8 = 0x02;
    pub const DAO_ACK: u8 = 0x03;
}

/// Option types.
pub mod option_type {
    pub const PAD1: u8 = 0x00;
    pub const PADN: u8 = 0x01;
    pub const DODAG_CONFIGURATION: u8 = 0x04;
    pub const TARGET: u8 = 0x05;
    pub const TRANSIT: u8 = 0x06;
    pub const SOLICITED_INFO: u8 = 0x07;
    pub const PREFIX_INFO: u8 = 0x08;
}

/// Options one message may carry (a DAO lists targets and transits; ours stay far below).
pub const MAX_OPTIONS: usize = 32;

/// Mode of operation: non-storing (RFC 6550 section 6.3.1).
pub const MOP_NON_STORING: u8 = 1;
/// Mode of operation: storing without multicast support.
pub const MOP_STORING: u8 = 2;
/// Objective Code Point of OF0 (RFC 6552).
pub const OCP_OF0: u16 = 0;
/// Rank of a DODAG root with the default MinHopRankIncrease (RFC 6550 section 17).
pub const ROOT_RANK: u16 = 256;
/// Rank that means "not in the DODAG".
pub const INFINITE_RANK: u16 = 0xffff;

/// The T flag of the DODAG Configuration option (RFC 9035): flag bit 2 of its first byte.
const CONFIG_FLAG_RFC8138: u8 = 0x20;

/// DODAG Configuration (section 6.7.6).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DodagConfig {
    /// RFC 9035's T flag (bit 2 of the flags): RFC 8138 compression is used in the instance.
    pub rfc8138_compression: bool,
    pub authentication: bool,
    pub path_control_size: u8,
    pub dio_interval_doublings: u8,
    pub dio_interval_min: u8,
    pub dio_redundancy: u8,
    pub max_rank_increase: u16,
    pub min_hop_rank_increase: u16,
    pub objective_code_point: u16,
    pub default_lifetime: u8,
    pub lifetime_unit: u16,
}

/// Prefix Information (section 6.7.10).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PrefixInfo {
    pub prefix_len: u8,
    pub on_link: bool,
    pub autonomous: bool,
    pub router_address: bool,
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
    pub prefix: Ipv6Addr,
}

/// One option of a control message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RplOption {
    DodagConfig(DodagConfig),
    PrefixInfo(PrefixInfo),
    /// RPL Target (section 6.7.7): a prefix (an address when 128 bits).
    Target {
        prefix_len: u8,
        prefix: Ipv6Addr,
    },
    /// Transit Information (section 6.7.8); the parent is present in non-storing mode.
    Transit {
        external: bool,
        path_control: u8,
        path_sequence: u8,
        path_lifetime: u8,
        parent: Option<Ipv6Addr>,
    },
    /// Solicited Information (section 6.7.9).
    SolicitedInfo {
        instance: u8,
        version: Option<u8>,
        instance_match: bool,
        dodag_id: Option<Ipv6Addr>,
    },
    /// Any other option, kept as it is.
    Unknown {
        kind: u8,
        data: Vec<u8>,
    },
}

/// A DODAG Information Object (section 6.3).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Dio {
    pub instance: u8,
    pub version: u8,
    pub rank: u16,
    pub grounded: bool,
    pub mode_of_operation: u8,
    pub preference: u8,
    pub dtsn: u8,
    pub dodag_id: Ipv6Addr,
    pub options: Vec<RplOption>,
}

/// A Destination Advertisement Object (section 6.4).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Dao {
    pub instance: u8,
    /// K: the sender wants a DAO-ACK.
    pub ack_requested: bool,
    /// Present when the D flag is set.
    pub dodag_id: Option<Ipv6Addr>,
    pub sequence: u8,
    pub options: Vec<RplOption>,
}

/// A DAO acknowledgement (section 6.5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DaoAck {
    pub instance: u8,
    pub dodag_id: Option<Ipv6Addr>,
    pub sequence: u8,
    /// 0 accepted; 1..127 accepted with a warning; 128.. rejected.
    pub status: u8,
}

/// An RPL control message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RplControl {
    Dis { options: Vec<RplOption> },
    Dio(Dio),
    Dao(Dao),
    DaoAck(DaoAck),
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl RplOption {
    fn parse(kind: u8, d: &[u8]) -> Result<Self, RplError> {
        use option_type::*;
        Ok(match kind {
            DODAG_CONFIGURATION => {
                if d.len() < 14 {
                    return Err(RplError::Truncated);
                }
                RplOption::DodagConfig(DodagConfig {
                    rfc8138_compression: d[0] & CONFIG_FLAG_RFC8138 != 0,
                    authentication: d[0] & 0x08 != 0,
                    path_control_size: d[0] & 0x07,
                    dio_interval_doublings: d[1],
                    dio_interval_min: d[2],
                    dio_redundancy: d[3],
                    max_rank_increase: be16(&d[4..]),
                    min_hop_rank_increase: be16(&d[6..]),
                    objective_code_point: be16(&d[8..]),
                    default_lifetime: d[11],
                    lifetime_unit: be16(&d[12..]),
                })
            }
            PREFIX_INFO => {
                if d.len() < 30 {
                    return Err(RplError::Truncated);
                }
                if d[0] > 128 {
                    return Err(RplError::Malformed);
                }
                RplOption::PrefixInfo(PrefixInfo {
                    prefix_len: d[0],
                    on_link: d[1] & 0x80 != 0,
                    autonomous: d[1] & 0x40 != 0,
                    router_address: d[1] & 0x20 != 0,
                    valid_lifetime: be32(&d[2..]),
                    preferred_lifetime: be32(&d[6..]),
                    prefix: addr(&d[14..]),
                })
            }
            TARGET => {
                if d.len() < 2 {
                    return Err(RplError::Truncated);
                }
                let prefix_len = d[1];
                let bytes = usize::from(prefix_len).div_ceil(8);
                if prefix_len > 128 || d.len() - 2 < bytes {
                    return Err(RplError::Malformed);
                }
                let mut a = [0u8; 16];
                a[..bytes].copy_from_slice(&d[2..2 + bytes]);
                RplOption::Target {
                    prefix_len,
                    prefix: Ipv6Addr::from(a),
                }
            }
            TRANSIT => {
                if d.len() < 4 {
                    return Err(RplError::Truncated);
                }
                let parent = match d.len() {
                    4 => None,
                    20 => Some(addr(&d[4..])),
                    _ => return Err(RplError::Malformed),
                };
                RplOption::Transit {
                    external: d[0] & 0x80 != 0,
                    path_control: d[1],
                    path_sequence: d[2],
                    path_lifetime: d[3],
                    parent,
                }
            }
            SOLICITED_INFO => {
                if d.len() < 19 {
                    return Err(RplError::Truncated);
                }
                RplOption::SolicitedInfo {
                    instance: d[0],
                    version: (d[1] & 0x80 != 0).then_some(d[18]),
                    instance_match: d[1] & 0x40 != 0,
                    dodag_id: (d[1] & 0x20 != 0).then(|| addr(&d[2..])),
                }
            }
            _ => RplOption::Unknown {
                kind,
                data: d.to_vec(),
            },
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        use option_type::*;
        let start = out.len();
        out.extend_from_slice(&[0, 0]);
        match self {
            RplOption::DodagConfig(c) => {
                out[start] = DODAG_CONFIGURATION;
                let t = if c.rfc8138_compression {
                    CONFIG_FLAG_RFC8138
                } else {
                    0
                };
                out.push(t | u8::from(c.authentication) << 3 | (c.path_control_size & 0x07));
                out.extend_from_slice(&[
                    c.dio_interval_doublings,
                    c.dio_interval_min,
                    c.dio_redundancy,
                ]);
                out.extend_from_slice(&c.max_rank_increase.to_be_bytes());
                out.extend_from_slice(&c.min_hop_rank_increase.to_be_bytes());
                out.extend_from_slice(&c.objective_code_point.to_be_bytes());
                out.extend_from_slice(&[0, c.default_lifetime]);
                out.extend_from_slice(&c.lifetime_unit.to_be_bytes());
            }
            RplOption::PrefixInfo(p) => {
                out[start] = PREFIX_INFO;
                out.push(p.prefix_len);
                out.push(
                    u8::from(p.on_link) << 7
                        | u8::from(p.autonomous) << 6
                        | u8::from(p.router_address) << 5,
                );
                out.extend_from_slice(&p.valid_lifetime.to_be_bytes());
                out.extend_from_slice(&p.preferred_lifetime.to_be_bytes());
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&p.prefix.octets());
            }
            RplOption::Target { prefix_len, prefix } => {
                out[start] = TARGET;
                let len = (*prefix_len).min(128);
                out.extend_from_slice(&[0, len]);
                out.extend_from_slice(&prefix.octets()[..usize::from(len).div_ceil(8)]);
            }
            RplOption::Transit {
                external,
                path_control,
                path_sequence,
                path_lifetime,
                parent,
            } => {
                out[start] = TRANSIT;
                out.extend_from_slice(&[
                    u8::from(*external) << 7,
                    *path_control,
                    *path_sequence,
                    *path_lifetime,
                ]);
                if let Some(p) = parent {
                    out.extend_from_slice(&p.octets());
                }
            }
            RplOption::SolicitedInfo {
                instance,
                version,
                instance_match,
                dodag_id,
            } => {
                out[start] = SOLICITED_INFO;
                let flags = u8::from(version.is_some()) << 7
                    | u8::from(*instance_match) << 6
                    | u8::from(dodag_id.is_some()) << 5;
                out.extend_from_slice(&[*instance, flags]);
                out.extend_from_slice(&dodag_id.unwrap_or(Ipv6Addr::UNSPECIFIED).octets());
                out.push(version.unwrap_or(0));
            }
            RplOption::Unknown { kind, data } => {
                out[start] = *kind;
                out.extend_from_slice(&data[..data.len().min(255)]);
            }
        }
        out[start + 1] = (out.len() - start - 2) as u8;
    }
}

fn parse_options(mut b: &[u8]) -> Result<Vec<RplOption>, RplError> {
    let mut options = Vec::new();
    while let Some(&kind) = b.first() {
        if kind == option_type::PAD1 {
            b = &b[1..];
            continue;
        }
        let len = usize::from(*b.get(1).ok_or(RplError::Truncated)?);
        let data = b.get(2..2 + len).ok_or(RplError::Truncated)?;
        b = &b[2 + len..];
        if kind == option_type::PADN {
            continue;
        }
        if options.len() == MAX_OPTIONS {
            return Err(RplError::TooMany);
        }
        options.push(RplOption::parse(kind, data)?);
    }
    Ok(options)
}

impl RplControl {
    /// Reads the message of ICMPv6 code `code` from `body` (after type, code, checksum).
    pub fn parse(code: u8, body: &[u8]) -> Result<Self, RplError> {
        let need = |n: usize| {
            if body.len() < n {
                Err(RplError::Truncated)
            } else {
                Ok(())
            }
        };
        Ok(match code {
            code::DIS => {
                need(2)?;
                RplControl::Dis {
                    options: parse_options(&body[2..])?,
                }
            }
            code::DIO => {
                need(24)?;
                RplControl::Dio(Dio {
                    instance: body[0],
                    version: body[1],
                    rank: be16(&body[2..]),
                    grounded: body[4] & 0x80 != 0,
                    mode_of_operation: (body[4] >> 3) & 0x07,
                    preference: body[4] & 0x07,
                    dtsn: body[5],
                    dodag_id: addr(&body[8..]),
                    options: parse_options(&body[24..])?,
                })
            }
            code::DAO => {
                need(4)?;
                let d = body[1] & 0x40 != 0;
                let fixed = if d { 20 } else { 4 };
                need(fixed)?;
                RplControl::Dao(Dao {
                    instance: body[0],
                    ack_requested: body[1] & 0x80 != 0,
                    dodag_id: d.then(|| addr(&body[4..])),
                    sequence: body[3],
                    options: parse_options(&body[fixed..])?,
                })
            }
            code::DAO_ACK => {
                need(4)?;
                let d = body[1] & 0x80 != 0;
                let fixed = if d { 20 } else { 4 };
                need(fixed)?;
                parse_options(&body[fixed..])?;
                RplControl::DaoAck(DaoAck {
                    instance: body[0],
                    dodag_id: d.then(|| addr(&body[4..])),
                    sequence: body[2],
                    status: body[3],
                })
            }
            _ => return Err(RplError::Unsupported),
        })
    }

    /// The ICMPv6 code.
    pub fn code(&self) -> u8 {
        match self {
            RplControl::Dis { .. } => code::DIS,
            RplControl::Dio(_) => code::DIO,
            RplControl::Dao(_) => code::DAO,
            RplControl::DaoAck(_) => code::DAO_ACK,
        }
    }

    /// The message body (after type, code and checksum).
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let options = match self {
            RplControl::Dis { options } => {
                out.extend_from_slice(&[0, 0]);
                &options[..]
            }
            RplControl::Dio(d) => {
                out.extend_from_slice(&[d.instance, d.version]);
                out.extend_from_slice(&d.rank.to_be_bytes());
                out.push(
                    u8::from(d.grounded) << 7 | (d.mode_of_operation & 7) << 3 | (d.preference & 7),
                );
                out.extend_from_slice(&[d.dtsn, 0, 0]);
                out.extend_from_slice(&d.dodag_id.octets());
                &d.options[..]
            }
            RplControl::Dao(d) => {
                let flags = u8::from(d.ack_requested) << 7 | u8::from(d.dodag_id.is_some()) << 6;
                out.extend_from_slice(&[d.instance, flags, 0, d.sequence]);
                if let Some(id) = d.dodag_id {
                    out.extend_from_slice(&id.octets());
                }
                &d.options[..]
            }
            RplControl::DaoAck(a) => {
                out.extend_from_slice(&[
                    a.instance,
                    u8::from(a.dodag_id.is_some()) << 7,
                    a.sequence,
                    a.status,
                ]);
                if let Some(id) = a.dodag_id {
                    out.extend_from_slice(&id.octets());
                }
                &[][..]
            }
        };
        for o in options {
            o.emit(&mut out);
        }
        out
    }

    /// The whole IPv6 packet carrying this message from `src` to `dst`.
    pub fn emit_ipv6_packet(&self, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
        let body = self.body();
        let msg = crate::Icmpv6Repr::Unknown {
            msg_type: super::ICMPV6_RPL,
            msg_code: self.code(),
            body: &body,
        };
        let header = crate::Ipv6Repr::new(src, dst, crate::NextHeader::Icmpv6, hop_limit, 0);
        // An RPL message is a few dozen bytes: far from the IPv6 length limit.
        msg.emit_after(&header).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn dio() -> Dio {
        Dio {
            instance: 0x1e,
            version: 240,
            rank: ROOT_RANK,
            grounded: true,
            mode_of_operation: MOP_NON_STORING,
            preference: 0,
            dtsn: 240,
            dodag_id: a("fd00::1"),
            options: vec![
                RplOption::DodagConfig(DodagConfig {
                    rfc8138_compression: false,
                    authentication: false,
                    path_control_size: 0,
                    dio_interval_doublings: 8,
                    dio_interval_min: 12,
                    dio_redundancy: 10,
                    max_rank_increase: 1792,
                    min_hop_rank_increase: 256,
                    objective_code_point: OCP_OF0,
                    default_lifetime: 30,
                    lifetime_unit: 60,
                }),
                RplOption::PrefixInfo(PrefixInfo {
                    prefix_len: 64,
                    on_link: false,
                    autonomous: true,
                    router_address: false,
                    valid_lifetime: 86400,
                    preferred_lifetime: 14400,
                    prefix: a("fd00::"),
                }),
            ],
        }
    }

    #[test]
    fn dio_bytes_as_contiki_sends_them() {
        let body = RplControl::Dio(dio()).body();
        assert_eq!(&body[..8], &[0x1e, 240, 1, 0, 0x88, 240, 0, 0]);
        assert_eq!(
            &body[24..40],
            &[
                4, 14, 0, 8, 12, 10, 0x07, 0x00, 0x01, 0x00, 0, 0, 0, 30, 0, 60
            ]
        );
        assert_eq!(&body[40..44], &[8, 30, 64, 0x40]);
        assert_eq!(body.len(), 24 + 16 + 32);
        assert_eq!(
            RplControl::parse(code::DIO, &body),
            Ok(RplControl::Dio(dio()))
        );
    }

    #[test]
    fn the_rfc9035_t_flag_is_bit_2_of_the_configuration_flags() {
        let mut d = dio();
        if let RplOption::DodagConfig(c) = &mut d.options[0] {
            c.rfc8138_compression = true;
            c.path_control_size = 7;
        }
        let body = RplControl::Dio(d.clone()).body();
        // Flags T (bit 2), A (bit 4) clear, PCS 7.
        assert_eq!(body[24..27], [4, 14, 0x27]);
        assert_eq!(RplControl::parse(code::DIO, &body), Ok(RplControl::Dio(d)));
    }

    #[test]
    fn dao_with_target_and_transit_and_ack() {
        let dao = RplControl::Dao(Dao {
            instance: 0x1e,
            ack_requested: true,
            dodag_id: Some(a("fd00::1")),
            sequence: 7,
            options: vec![
                RplOption::Target {
                    prefix_len: 128,
                    prefix: a("fd00::212:4b00:0:3"),
                },
                RplOption::Transit {
                    external: false,
                    path_control: 0,
                    path_sequence: 1,
                    path_lifetime: 30,
                    parent: Some(a("fd00::212:4b00:0:2")),
                },
            ],
        });
        let body = dao.body();
        assert_eq!(&body[..4], &[0x1e, 0xc0, 0, 7]);
        assert_eq!(&body[20..24], &[5, 18, 0, 128]);
        assert_eq!(&body[40..46], &[6, 20, 0, 0, 1, 30]);
        assert_eq!(RplControl::parse(code::DAO, &body), Ok(dao));
        let ack = RplControl::DaoAck(DaoAck {
            instance: 0x1e,
            dodag_id: None,
            sequence: 7,
            status: 0,
        });
        assert_eq!(ack.body(), [0x1e, 0, 7, 0]);
        assert_eq!(RplControl::parse(code::DAO_ACK, &ack.body()), Ok(ack));
        let dis = RplControl::Dis { options: vec![] };
        assert_eq!(RplControl::parse(code::DIS, &dis.body()), Ok(dis));
    }

    #[test]
    fn bad_messages_are_errors() {
        assert_eq!(
            RplControl::parse(code::DIO, &[0; 23]),
            Err(RplError::Truncated)
        );
        assert_eq!(
            RplControl::parse(0x80, &[0; 40]),
            Err(RplError::Unsupported)
        );
        let mut body = RplControl::Dio(dio()).body();
        body.truncate(50);
        assert_eq!(
            RplControl::parse(code::DIO, &body),
            Err(RplError::Truncated)
        );
        // 40 PadN-free unknown options are more than we hold.
        let mut many = vec![0u8, 0];
        for _ in 0..40 {
            many.extend_from_slice(&[0x0a, 0]);
        }
        assert_eq!(RplControl::parse(code::DIS, &many), Err(RplError::TooMany));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_reparses(code in 0u8..5, bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(m) = RplControl::parse(code, &bytes) {
                prop_assert_eq!(RplControl::parse(m.code(), &m.body()), Ok(m));
            }
        }
    }
}
