//! A mote's share of RPL (RFC 6550, non-storing mode) as a router or leaf: DIS until a DIO
//! arrives, joining the DODAG with the DIO's sender as parent (the prefix and context 0 from
//! its Prefix Information option: only what the border router announces), a DAO with
//! transit information to the root (refreshed before its lifetime ends, acknowledged with a
//! DAO-ACK), DIOs of its own so that motes further away join through it, DIS answered, and
//! forwarding: upward by the default route to the parent, downward by the source routing
//! header the root wrote.
//!
//! In a storing-mode DODAG (MOP 2 in the root's DIO) the mote is a storing router instead:
//! its DAO goes to its parent's link-local address with no parent in the transit
//! information and lists its own address and every descendant's; the DAOs of its children
//! are acknowledged here and kept as routes (bounded, expiring), and packets for a
//! descendant go down to the child that announced it, with no source routing header.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use lowpan::ieee802154::Eui64;
use lowpan::ip::{self, IPV6_HEADER_LEN, next_header};
use lowpan::rpl::control::{self, Dao, DaoAck, Dio, RplControl, RplOption};
use lowpan::rpl::option::{RplOptionRepr, only_rpl_options};
use lowpan::rpl::srh::{self, SrhRepr};
use lowpan::rpl::{ALL_RPL_NODES, ICMPV6_RPL};

/// DIS retries until a DIO arrives.
const DIS_INTERVAL: Duration = Duration::from_secs(2);
const DIS_MAX_INTERVAL: Duration = Duration::from_secs(16);
/// Our own DIOs: first soon after joining, then doubling up to the maximum.
const DIO_FIRST: Duration = Duration::from_millis(500);
const DIO_MAX_INTERVAL: Duration = Duration::from_secs(60);
/// DAO retries until a DAO-ACK arrives.
const DAO_RETRY: Duration = Duration::from_secs(3);
/// Lifetime we ask for, in the DODAG's lifetime units.
const DAO_LIFETIME: u8 = 30;
/// Descendants a storing router keeps routes to; a DAO for more is refused.
pub const MAX_STORED_ROUTES: usize = 32;
/// DAO-ACK status "unable to accept" (RFC 6550 section 6.5: 128 and above reject).
const DAO_REJECTED: u8 = 128;

/// Tunnels (IPv6-in-IPv6) to this mote opened in one received packet.
const MAX_DECAPSULATIONS: usize = 2;

/// A storing router's route to a descendant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StoredRoute {
    /// The child that announced it (the next hop down).
    child: Eui64,
    expires: Instant,
}

/// What the mote learned from the DIO it joined with.
#[derive(Debug, Clone)]
pub struct Joined {
    pub parent: Eui64,
    /// The parent's global address (the DODAG ID when the parent is the root).
    pub parent_global: Ipv6Addr,
    pub rank: u16,
    pub dio: Dio,
    pub prefix: Ipv6Addr,
    pub lifetime_unit_s: u16,
}

/// Counters of the RPL side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RplCounters {
    pub dis_sent: u64,
    pub dio_sent: u64,
    pub dio_received: u64,
    pub dao_sent: u64,
    pub dao_acked: u64,
    pub forwarded_up: u64,
    pub forwarded_down: u64,
    /// Storing mode: DAOs from children accepted, and refused for a full table.
    pub child_dao_received: u64,
    pub child_dao_refused: u64,
}

/// A mote's RPL state.
#[derive(Debug, Clone)]
pub struct RplNode {
    eui64: Eui64,
    joined: Option<Joined>,
    next_dis: Option<Instant>,
    dis_interval: Duration,
    next_dio: Option<Instant>,
    dio_interval: Duration,
    next_dao: Option<Instant>,
    dao_seq: u8,
    dao_acked: bool,
    /// Storing mode: descendant -> the child it is reached through.
    routes: HashMap<Ipv6Addr, StoredRoute>,
    pub counters: RplCounters,
}

/// What the mote must do with a received packet, as RPL sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Routing {
    /// For this mote: the packet with the RPL option and spent routing header removed.
    Deliver(Vec<u8>),
    /// To send on to `next` (a link neighbour).
    Forward { packet: Vec<u8>, next: Eui64 },
    /// Nothing to do (hop limit spent, no parent, a bad header).
    Drop,
}

impl RplNode {
    pub fn new(eui64: Eui64, now: Instant) -> Self {
        RplNode {
            eui64,
            joined: None,
            next_dis: Some(now),
            dis_interval: DIS_INTERVAL,
            next_dio: None,
            dio_interval: DIO_FIRST,
            next_dao: None,
            dao_seq: 240,
            dao_acked: false,
            routes: HashMap::new(),
            counters: RplCounters::default(),
        }
    }

    pub fn joined(&self) -> Option<&Joined> {
        self.joined.as_ref()
    }

    pub fn dao_acked(&self) -> bool {
        self.dao_acked
    }

    /// Whether the DODAG we joined is in storing mode.
    pub fn storing(&self) -> bool {
        self.joined
            .as_ref()
            .is_some_and(|j| j.dio.mode_of_operation == control::MOP_STORING)
    }

    /// Storing mode: the descendants we hold routes to, with the child each goes through.
    pub fn stored_routes(&self) -> Vec<(Ipv6Addr, Eui64)> {
        let mut r: Vec<_> = self.routes.iter().map(|(t, r)| (*t, r.child)).collect();
        r.sort();
        r
    }

    fn link_local(&self) -> Ipv6Addr {
        ip::link_local_from_eui64(self.eui64)
    }

    fn global(&self) -> Option<Ipv6Addr> {
        let j = self.joined.as_ref()?;
        Some(lowpan::Prefix64::of(&j.prefix).with_iid(ip::iid_from_eui64(self.eui64)))
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_dis, self.next_dio, self.next_dao]
            .into_iter()
            .flatten()
            .min()
    }

    /// Timers; returns IPv6 packets to send (DIS, DIO, DAO).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if self.next_dis.is_some_and(|t| t <= now) {
            self.counters.dis_sent += 1;
            out.push(RplControl::Dis { options: vec![] }.emit_ipv6_packet(
                self.link_local(),
                ALL_RPL_NODES,
                255,
            ));
            self.next_dis = Some(now + self.dis_interval);
            self.dis_interval = (self.dis_interval * 2).min(DIS_MAX_INTERVAL);
        }
        if self.next_dio.is_some_and(|t| t <= now) {
            if let Some(dio) = self.own_dio() {
                self.counters.dio_sent += 1;
                out.push(dio.emit_ipv6_packet(self.link_local(), ALL_RPL_NODES, 255));
            }
            self.dio_interval = (self.dio_interval * 2).min(DIO_MAX_INTERVAL);
            self.next_dio = Some(now + self.dio_interval);
        }
        if self.next_dao.is_some_and(|t| t <= now) {
            self.routes.retain(|_, r| r.expires > now);
            out.extend(self.dao(now));
        }
        out
    }

    fn own_dio(&self) -> Option<RplControl> {
        let j = self.joined.as_ref()?;
        Some(RplControl::Dio(Dio {
            rank: j.rank,
            ..j.dio.clone()
        }))
    }

    fn dao(&mut self, now: Instant) -> Option<Vec<u8>> {
        let j = self.joined.as_ref()?;
        let me = self.global()?;
        let (instance, dodag_id, parent) = (j.dio.instance, j.dio.dodag_id, j.parent_global);
        let unit = Duration::from_secs(u64::from(j.lifetime_unit_s.max(1)));
        self.dao_seq = self.dao_seq.wrapping_add(1);
        self.counters.dao_sent += 1;
        // Retry until acknowledged, then refresh at half the lifetime.
        self.next_dao = Some(
            now + if self.dao_acked {
                unit * u32::from(DAO_LIFETIME) / 2
            } else {
                DAO_RETRY
            },
        );
        let storing = self.storing();
        // Non-storing: to the root, naming our parent. Storing: to the parent, for us and
        // every descendant we route to (RFC 6550 section 9.8).
        let mut options = vec![RplOption::Target {
            prefix_len: 128,
            prefix: me,
        }];
        if storing {
            let mut below: Vec<Ipv6Addr> = self
                .routes
                .iter()
                .filter(|(_, r)| r.expires > now)
                .map(|(t, _)| *t)
                .collect();
            below.sort();
            options.extend(below.into_iter().map(|prefix| RplOption::Target {
                prefix_len: 128,
                prefix,
            }));
        }
        options.push(RplOption::Transit {
            external: false,
            path_control: 0,
            path_sequence: self.dao_seq,
            path_lifetime: DAO_LIFETIME,
            parent: (!storing).then_some(parent),
        });
        let dao = RplControl::Dao(Dao {
            instance,
            ack_requested: true,
            dodag_id: None,
            sequence: self.dao_seq,
            options,
        });
        Some(if storing {
            dao.emit_ipv6_packet(self.link_local(), ip::link_local_from_eui64(j.parent), 255)
        } else {
            dao.emit_ipv6_packet(me, dodag_id, 64)
        })
    }

    /// Storing mode: a child's DAO, heard from the link neighbour `from`. Its targets are
    /// routed through `from` (or forgotten, for a lifetime of 0), it is acknowledged when
    /// asked, and our own DAO tells our parent at once.
    fn child_dao(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dao: Dao,
        from: Option<Eui64>,
    ) -> Vec<Vec<u8>> {
        let (Some(j), Some(from)) = (&self.joined, from) else {
            return Vec::new();
        };
        if dao.instance != j.dio.instance || !self.storing() || from == j.parent {
            return Vec::new();
        }
        let unit = Duration::from_secs(u64::from(j.lifetime_unit_s.max(1)));
        let own = self.global();
        let mut targets = Vec::new();
        let mut refused = false;
        for o in &dao.options {
            match o {
                RplOption::Target {
                    prefix_len: 128,
                    prefix,
                } if Some(*prefix) != own => targets.push(*prefix),
                RplOption::Transit { path_lifetime, .. } => {
                    for t in targets.drain(..) {
                        if *path_lifetime == 0 {
                            self.routes.remove(&t);
                        } else if self.routes.len() < MAX_STORED_ROUTES
                            || self.routes.contains_key(&t)
                        {
                            let expires = now + unit * u32::from(*path_lifetime);
                            self.routes.insert(
                                t,
                                StoredRoute {
                                    child: from,
                                    expires,
                                },
                            );
                        } else {
                            refused = true;
                        }
                    }
                }
                _ => {}
            }
        }
        self.counters.child_dao_received += 1;
        let mut out = Vec::new();
        if dao.ack_requested {
            if refused {
                self.counters.child_dao_refused += 1;
            }
            let ack = RplControl::DaoAck(DaoAck {
                instance: dao.instance,
                dodag_id: dao.dodag_id,
                sequence: dao.sequence,
                status: if refused { DAO_REJECTED } else { 0 },
            });
            out.push(ack.emit_ipv6_packet(self.link_local(), src, 255));
        }
        // Our parent learns the change at once, retried until acknowledged.
        self.dao_acked = false;
        out.extend(self.dao(now));
        out
    }

    /// An RPL control message (ICMPv6 type 155) from `src` to `dst`, heard from the link
    /// neighbour `from`. Returns the global prefix when the mote just joined, and packets
    /// to send.
    pub fn handle_control(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        code: u8,
        body: &[u8],
        from: Option<Eui64>,
    ) -> (Option<Ipv6Addr>, Vec<Vec<u8>>) {
        let Ok(msg) = RplControl::parse(code, body) else {
            return (None, Vec::new());
        };
        match msg {
            RplControl::Dio(dio) => {
                self.counters.dio_received += 1;
                if self.joined.is_some() || dio.rank >= control::INFINITE_RANK - 256 {
                    return (None, Vec::new());
                }
                let Some(from) = from else {
                    return (None, Vec::new());
                };
                let Some((prefix, unit, increase)) = prefix_and_config(&dio) else {
                    return (None, Vec::new());
                };
                let parent_global = if dio.rank <= increase {
                    dio.dodag_id
                } else {
                    lowpan::Prefix64::of(&prefix).with_iid(ip::iid_from_eui64(from))
                };
                let rank = dio.rank.saturating_add(increase);
                self.joined = Some(Joined {
                    parent: from,
                    parent_global,
                    rank,
                    dio,
                    prefix,
                    lifetime_unit_s: unit,
                });
                self.next_dis = None;
                self.next_dio = Some(now + DIO_FIRST);
                self.dio_interval = DIO_FIRST;
                self.dao_acked = false;
                let dao = self.dao(now);
                (Some(prefix), dao.into_iter().collect())
            }
            RplControl::Dis { .. } => {
                let Some(dio) = self.own_dio() else {
                    return (None, Vec::new());
                };
                if dst.is_multicast() {
                    // Answer soon, with the next DIO.
                    self.dio_interval = DIO_FIRST;
                    self.next_dio = Some(now + DIO_FIRST);
                    return (None, Vec::new());
                }
                self.counters.dio_sent += 1;
                (
                    None,
                    vec![dio.emit_ipv6_packet(self.link_local(), src, 255)],
                )
            }
            RplControl::DaoAck(ack) => {
                if ack.status < 128 && ack.sequence == self.dao_seq {
                    self.counters.dao_acked += 1;
                    self.dao_acked = true;
                    if let Some(j) = &self.joined {
                        let unit = Duration::from_secs(u64::from(j.lifetime_unit_s.max(1)));
                        self.next_dao = Some(now + unit * u32::from(DAO_LIFETIME) / 2);
                    }
                }
                (None, Vec::new())
            }
            RplControl::Dao(dao) => (None, self.child_dao(now, src, dao, from)),
        }
    }

    /// A packet originated here, as it leaves: with the RPL option (upward, in our instance).
    pub fn outgoing(&self, packet: Vec<u8>) -> Vec<u8> {
        let Some(j) = &self.joined else { return packet };
        let Ok(view) = ip::Ipv6Packet::new_checked(&packet[..]) else {
            return packet;
        };
        let dst = view.dst_addr();
        if dst.is_multicast()
            || dst.is_unicast_link_local()
            || view.next_header() == next_header::HOP_BY_HOP
        {
            return packet;
        }
        let opt = RplOptionRepr {
            instance: j.dio.instance,
            sender_rank: j.rank,
            ..Default::default()
        };
        let hbh = opt.hop_by_hop(view.next_header());
        let mut out = Vec::with_capacity(packet.len() + hbh.len());
        out.extend_from_slice(&packet[..IPV6_HEADER_LEN]);
        out.extend_from_slice(&hbh);
        out.extend_from_slice(&packet[IPV6_HEADER_LEN..]);
        out[6] = next_header::HOP_BY_HOP;
        let plen = (out.len() - IPV6_HEADER_LEN) as u16;
        out[4..6].copy_from_slice(&plen.to_be_bytes());
        out
    }

    /// The DODAG root when the DODAG uses RFC 8138 compression (RFC 9035's T flag in the
    /// DODAG Configuration of the DIO we joined with): our frames then carry 6LoRHs, whose
    /// IP-in-IP encapsulator the root's address elides.
    pub fn rfc8138_root(&self) -> Option<Ipv6Addr> {
        let j = self.joined.as_ref()?;
        let t = j
            .dio
            .options
            .iter()
            .any(|o| matches!(o, RplOption::DodagConfig(c) if c.rfc8138_compression));
        t.then_some(j.dio.dodag_id)
    }

    /// Where a received packet goes: to us (its RPL headers removed, and a tunnel that ends
    /// here opened), on down the source route, or up to the parent. `ours` says which
    /// addresses are this mote's.
    pub fn route(&mut self, packet: &[u8], ours: impl Fn(&Ipv6Addr) -> bool) -> Routing {
        let mut routing = self.route_one(packet, &ours);
        for _ in 0..MAX_DECAPSULATIONS {
            match &routing {
                Routing::Deliver(p) if p.get(6) == Some(&next_header::IPV6) => {
                    routing = self.route_one(&p[IPV6_HEADER_LEN..], &ours);
                }
                _ => break,
            }
        }
        routing
    }

    /// [`RplNode::route`] for one IPv6 header: a tunnel to us is delivered as it is.
    fn route_one(&mut self, packet: &[u8], ours: &dyn Fn(&Ipv6Addr) -> bool) -> Routing {
        let Ok(view) = ip::Ipv6Packet::new_checked(packet) else {
            return Routing::Drop;
        };
        let mut dst = view.dst_addr();
        if !ours(&dst) {
            // Down to the child a stored route names (storing mode), else upward by the
            // default route (or down a route we do not hold: non-storing).
            let Some(j) = &self.joined else {
                return Routing::Drop;
            };
            if view.hop_limit() <= 1 || dst.is_multicast() {
                return Routing::Drop;
            }
            let mut p = packet.to_vec();
            p[7] -= 1;
            if let Some(r) = self.routes.get(&dst) {
                self.counters.forwarded_down += 1;
                return Routing::Forward {
                    packet: p,
                    next: r.child,
                };
            }
            self.counters.forwarded_up += 1;
            return Routing::Forward {
                packet: p,
                next: j.parent,
            };
        }
        // Walk a hop-by-hop header to a routing header.
        let mut p = packet.to_vec();
        let mut nh_at = 6;
        let mut at = IPV6_HEADER_LEN;
        if p[6] == next_header::HOP_BY_HOP {
            let Some(&len) = p.get(at + 1) else {
                return Routing::Drop;
            };
            let len = (usize::from(len) + 1) * 8;
            if p.len() < at + len {
                return Routing::Drop;
            }
            if only_rpl_options(&p[at..at + len]) {
                p[6] = p[at];
                p.drain(at..at + len);
            } else {
                nh_at = at;
                at += len;
            }
        }
        if p[nh_at] == next_header::ROUTING && p.get(at + 2) == Some(&srh::ROUTING_TYPE) {
            let len = (usize::from(p[at + 1]) + 1) * 8;
            let Some(header) = p.get(at..at + len) else {
                return Routing::Drop;
            };
            let Ok(mut srh) = SrhRepr::parse(header, &dst) else {
                return Routing::Drop;
            };
            if srh.segments_left > 0 {
                let Some(next) = srh.advance(&mut dst) else {
                    return Routing::Drop;
                };
                if view.hop_limit() <= 1 {
                    return Routing::Drop;
                }
                let mut out = p[..at].to_vec();
                if self.rfc8138_root().is_some() {
                    // RFC 8138: the hops visited leave the source route (the RH3-6LoRH
                    // holds only those still to come); none left, no routing header.
                    let visited = srh.addresses.len() - usize::from(srh.segments_left);
                    srh.addresses.drain(..visited);
                }
                if srh.addresses.is_empty() {
                    out[nh_at] = srh.next_header;
                } else {
                    let Some(new_header) = srh.emit(&dst) else {
                        return Routing::Drop;
                    };
                    out.extend_from_slice(&new_header);
                }
                out.extend_from_slice(&p[at + len..]);
                out[24..40].copy_from_slice(&dst.octets());
                out[7] -= 1;
                let plen = (out.len() - IPV6_HEADER_LEN) as u16;
                out[4..6].copy_from_slice(&plen.to_be_bytes());
                self.counters.forwarded_down += 1;
                let iid: [u8; 8] = next.octets()[8..].try_into().unwrap_or([0; 8]);
                return Routing::Forward {
                    packet: out,
                    next: ip::eui64_from_iid(iid),
                };
            }
            p[nh_at] = srh.next_header;
            p.drain(at..at + len);
        }
        let plen = (p.len() - IPV6_HEADER_LEN) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        Routing::Deliver(p)
    }
}

/// The /64 of the DIO's Prefix Information option, the lifetime unit and the rank
/// increase of its DODAG Configuration (defaults when absent).
fn prefix_and_config(dio: &Dio) -> Option<(Ipv6Addr, u16, u16)> {
    let prefix = dio.options.iter().find_map(|o| match o {
        RplOption::PrefixInfo(p) if p.prefix_len == 64 && p.autonomous && p.valid_lifetime > 0 => {
            Some(p.prefix)
        }
        _ => None,
    })?;
    let (unit, increase) = dio
        .options
        .iter()
        .find_map(|o| match o {
            RplOption::DodagConfig(c) => Some((c.lifetime_unit, c.min_hop_rank_increase.max(1))),
            _ => None,
        })
        .unwrap_or((60, 256));
    Some((prefix, unit, increase))
}

/// Whether an ICMPv6 message type is RPL's.
pub fn is_rpl(msg_type: u8) -> bool {
    msg_type == ICMPV6_RPL
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowpan::rpl::control::PrefixInfo;

    const ME: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 1]);
    const ROOT: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0xa]);
    const CHILD: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 2]);

    fn prefix() -> Ipv6Addr {
        "fd00:aaaa::".parse().unwrap()
    }

    fn global(e: Eui64) -> Ipv6Addr {
        lowpan::Prefix64::of(&prefix()).with_iid(ip::iid_from_eui64(e))
    }

    fn dio(mop: u8) -> (u8, Vec<u8>) {
        let dio = RplControl::Dio(Dio {
            instance: 30,
            version: 1,
            rank: 256,
            grounded: true,
            mode_of_operation: mop,
            preference: 0,
            dtsn: 0,
            dodag_id: "fd00:aaaa::1".parse().unwrap(),
            options: vec![RplOption::PrefixInfo(PrefixInfo {
                prefix_len: 64,
                on_link: false,
                autonomous: true,
                router_address: false,
                valid_lifetime: 3600,
                preferred_lifetime: 3600,
                prefix: prefix(),
            })],
        });
        control_body(&dio.emit_ipv6_packet(ip::link_local_from_eui64(ROOT), ALL_RPL_NODES, 255))
    }

    /// The code and body of the RPL message an IPv6 packet carries.
    fn control_body(packet: &[u8]) -> (u8, Vec<u8>) {
        (
            packet[IPV6_HEADER_LEN + 1],
            packet[IPV6_HEADER_LEN + 4..].to_vec(),
        )
    }

    fn parse(packet: &[u8]) -> (ip::Ipv6Packet<&[u8]>, RplControl) {
        let v = ip::Ipv6Packet::new_checked(packet).unwrap();
        let (code, body) = control_body(packet);
        (v, RplControl::parse(code, &body).unwrap())
    }

    #[test]
    fn a_storing_router_keeps_its_childrens_routes_and_announces_them_to_its_parent() {
        let t0 = Instant::now();
        let mut me = RplNode::new(ME, t0);
        let (code, body) = dio(control::MOP_STORING);
        let (joined, out) = me.handle_control(
            t0,
            ip::link_local_from_eui64(ROOT),
            ALL_RPL_NODES,
            code,
            &body,
            Some(ROOT),
        );
        assert_eq!(joined, Some(prefix()));
        assert!(me.storing());
        // Our DAO goes to the parent's link-local address, with no parent in its transit.
        let (v, dao) = parse(&out[0]);
        assert_eq!(
            (v.src_addr(), v.dst_addr()),
            (
                ip::link_local_from_eui64(ME),
                ip::link_local_from_eui64(ROOT)
            )
        );
        let RplControl::Dao(dao) = dao else {
            panic!("not a DAO")
        };
        assert!(
            matches!(dao.options[..], [RplOption::Target { prefix, .. }, RplOption::Transit { parent: None, .. }] if prefix == global(ME))
        );

        // A child's DAO is acknowledged, stored, and passed up in ours.
        let child_dao = RplControl::Dao(Dao {
            instance: 30,
            ack_requested: true,
            dodag_id: None,
            sequence: 9,
            options: vec![
                RplOption::Target {
                    prefix_len: 128,
                    prefix: global(CHILD),
                },
                RplOption::Transit {
                    external: false,
                    path_control: 0,
                    path_sequence: 9,
                    path_lifetime: 30,
                    parent: None,
                },
            ],
        });
        let child_ll = ip::link_local_from_eui64(CHILD);
        let (code, body) =
            control_body(&child_dao.emit_ipv6_packet(child_ll, ip::link_local_from_eui64(ME), 255));
        let (_, out) = me.handle_control(
            t0,
            child_ll,
            ip::link_local_from_eui64(ME),
            code,
            &body,
            Some(CHILD),
        );
        assert_eq!(me.stored_routes(), vec![(global(CHILD), CHILD)]);
        let (v, ack) = parse(&out[0]);
        assert_eq!(v.dst_addr(), child_ll);
        assert!(matches!(
            ack,
            RplControl::DaoAck(DaoAck {
                sequence: 9,
                status: 0,
                ..
            })
        ));
        let (_, RplControl::Dao(up)) = parse(&out[1]) else {
            panic!("not a DAO")
        };
        let targets: Vec<_> = up
            .options
            .iter()
            .filter_map(|o| match o {
                RplOption::Target { prefix, .. } => Some(*prefix),
                _ => None,
            })
            .collect();
        assert_eq!(targets, vec![global(ME), global(CHILD)]);

        // Packets for the child go down to it unchanged (but for the hop limit), others up.
        let to_child = lowpan::UdpRepr {
            src_port: 1,
            dst_port: 7,
            payload: b"x",
        }
        .emit_ipv6_packet("2001:db8::1".parse().unwrap(), global(CHILD), 64)
        .unwrap();
        let ours = |a: &Ipv6Addr| *a == global(ME);
        assert!(
            matches!(me.route(&to_child, ours), Routing::Forward { next: CHILD, ref packet } if packet[7] == 63)
        );
        let up_packet = lowpan::UdpRepr {
            src_port: 1,
            dst_port: 7,
            payload: b"x",
        }
        .emit_ipv6_packet(global(CHILD), "2001:db8::1".parse().unwrap(), 64)
        .unwrap();
        assert!(matches!(
            me.route(&up_packet, ours),
            Routing::Forward { next: ROOT, .. }
        ));

        // A lifetime of 0 takes the route away.
        let no_path = RplControl::Dao(Dao {
            sequence: 10,
            options: vec![
                RplOption::Target {
                    prefix_len: 128,
                    prefix: global(CHILD),
                },
                RplOption::Transit {
                    external: false,
                    path_control: 0,
                    path_sequence: 10,
                    path_lifetime: 0,
                    parent: None,
                },
            ],
            ..match child_dao {
                RplControl::Dao(d) => d,
                _ => unreachable!(),
            }
        });
        let (code, body) =
            control_body(&no_path.emit_ipv6_packet(child_ll, ip::link_local_from_eui64(ME), 255));
        me.handle_control(
            t0,
            child_ll,
            ip::link_local_from_eui64(ME),
            code,
            &body,
            Some(CHILD),
        );
        assert!(me.stored_routes().is_empty());
    }

    #[test]
    fn a_non_storing_mote_stores_nothing_and_names_its_parent_to_the_root() {
        let t0 = Instant::now();
        let mut me = RplNode::new(ME, t0);
        let (code, body) = dio(control::MOP_NON_STORING);
        let (_, out) = me.handle_control(
            t0,
            ip::link_local_from_eui64(ROOT),
            ALL_RPL_NODES,
            code,
            &body,
            Some(ROOT),
        );
        let (v, RplControl::Dao(dao)) = parse(&out[0]) else {
            panic!("not a DAO")
        };
        assert_eq!(v.dst_addr(), "fd00:aaaa::1".parse::<Ipv6Addr>().unwrap());
        assert!(dao.options.iter().any(|o| matches!(
            o,
            RplOption::Transit {
                parent: Some(_),
                ..
            }
        )));
        let child_dao = RplControl::Dao(Dao {
            instance: 30,
            ack_requested: true,
            dodag_id: None,
            sequence: 9,
            options: vec![RplOption::Target {
                prefix_len: 128,
                prefix: global(CHILD),
            }],
        });
        let child_ll = ip::link_local_from_eui64(CHILD);
        let (code, body) =
            control_body(&child_dao.emit_ipv6_packet(child_ll, ip::link_local_from_eui64(ME), 255));
        let (_, out) = me.handle_control(
            t0,
            child_ll,
            ip::link_local_from_eui64(ME),
            code,
            &body,
            Some(CHILD),
        );
        assert!(out.is_empty());
        assert!(me.stored_routes().is_empty());
    }

    /// With RFC 9035's T flag in the DIO, a tunnel from the root is forwarded with the hops
    /// already visited taken out of its source route (as RFC 8138's RH3-6LoRH carries only
    /// those to come), and a tunnel that ends here is opened.
    #[test]
    fn an_rfc8138_dodag_forwards_tunnels_without_visited_hops_and_opens_its_own() {
        let t0 = Instant::now();
        let mut me = RplNode::new(ME, t0);
        let root: Ipv6Addr = "fd00:aaaa::1".parse().unwrap();
        let mut dio = Dio {
            instance: 30,
            version: 1,
            rank: 256,
            grounded: true,
            mode_of_operation: control::MOP_NON_STORING,
            preference: 0,
            dtsn: 0,
            dodag_id: root,
            options: Vec::new(),
        };
        let (code, body) = self::dio(control::MOP_NON_STORING);
        let RplControl::Dio(plain) = RplControl::parse(code, &body).unwrap() else {
            panic!("not a DIO")
        };
        dio.options = plain.options;
        dio.options
            .push(RplOption::DodagConfig(control::DodagConfig {
                rfc8138_compression: true,
                authentication: false,
                path_control_size: 0,
                dio_interval_doublings: 8,
                dio_interval_min: 12,
                dio_redundancy: 10,
                max_rank_increase: 1792,
                min_hop_rank_increase: 256,
                objective_code_point: control::OCP_OF0,
                default_lifetime: 30,
                lifetime_unit: 60,
            }));
        let (code, body) = control_body(&RplControl::Dio(dio).emit_ipv6_packet(
            ip::link_local_from_eui64(ROOT),
            ALL_RPL_NODES,
            255,
        ));
        assert_eq!(me.rfc8138_root(), None, "not before joining");
        me.handle_control(
            t0,
            ip::link_local_from_eui64(ROOT),
            ALL_RPL_NODES,
            code,
            &body,
            Some(ROOT),
        );
        assert_eq!(me.rfc8138_root(), Some(root));

        let tunnel = |hops: &[Ipv6Addr], inner: &[u8]| {
            let srh = (hops.len() > 1).then(|| {
                SrhRepr {
                    next_header: next_header::IPV6,
                    segments_left: (hops.len() - 1) as u8,
                    addresses: hops[1..].to_vec(),
                }
                .emit(&hops[0])
                .unwrap()
            });
            let mut p = vec![
                0x60,
                0,
                0,
                0,
                0,
                0,
                if srh.is_some() {
                    next_header::ROUTING
                } else {
                    next_header::IPV6
                },
                64,
            ];
            p.extend_from_slice(&root.octets());
            p.extend_from_slice(&hops[0].octets());
            p.extend_from_slice(srh.as_deref().unwrap_or_default());
            p.extend_from_slice(inner);
            let plen = (p.len() - IPV6_HEADER_LEN) as u16;
            p[4..6].copy_from_slice(&plen.to_be_bytes());
            p
        };
        let ours = |a: &Ipv6Addr| *a == global(ME);
        let to_child = lowpan::UdpRepr {
            src_port: 1,
            dst_port: 7,
            payload: b"x",
        }
        .emit_ipv6_packet("2001:db8::1".parse().unwrap(), global(CHILD), 63)
        .unwrap();
        let Routing::Forward { packet, next } =
            me.route(&tunnel(&[global(ME), global(CHILD)], &to_child), ours)
        else {
            panic!("not forwarded")
        };
        assert_eq!(next, CHILD);
        // Outer header to the child, no routing header left, the inner packet unchanged.
        assert_eq!((packet[6], packet[7]), (next_header::IPV6, 63));
        assert_eq!(packet[24..40], global(CHILD).octets());
        assert_eq!(packet[IPV6_HEADER_LEN..], to_child[..]);
        let mut enc = lowpan::Encoder::new(lowpan::iphc::ContextTable::with_prefix(prefix(), 64));
        let links = lowpan::LinkAddrs {
            src: lowpan::Address::Extended(ME),
            dst: lowpan::Address::Extended(CHILD),
        };
        let payloads = enc.encode_rfc8138(&packet, links, 100, root).unwrap();
        assert_eq!(
            payloads[0][0],
            lowpan::rpl::lorh::PAGE_1,
            "it leaves as page 1"
        );

        let to_me = lowpan::UdpRepr {
            src_port: 1,
            dst_port: 7,
            payload: b"y",
        }
        .emit_ipv6_packet("2001:db8::1".parse().unwrap(), global(ME), 63)
        .unwrap();
        assert_eq!(
            me.route(&tunnel(&[global(ME)], &to_me), ours),
            Routing::Deliver(to_me)
        );
    }
}
