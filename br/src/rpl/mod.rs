//! The RPL root (RFC 6550) in non-storing mode, sans-IO: DIOs paced by Trickle with the
//! prefix (PIO) and the DODAG configuration, DIS answered (a unicast DIO, or a Trickle
//! reset for a multicast one), DAOs with their transit information building the bounded
//! route table, DAO-ACKs when asked, and the packet rewriting at the border: a source
//! routing header (RFC 6554) on downward packets beyond one hop, and upward packets freed
//! of the RPL option, a consumed routing header and an IPv6-in-IPv6 tunnel to the root
//! before they reach the TUN (Linux drops packets with an unknown hop-by-hop option of
//! type 0x63).
//!
//! Motes that use RS/RA only are not in the route table: they are reached directly, as
//! before. The wire formats are in `lowpan::rpl`.

pub mod routes;
pub mod trickle;

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use lowpan::ip::{IPV6_HEADER_LEN, next_header};
use lowpan::rpl::control::{
    self, Dao, DaoAck, Dio, DodagConfig, PrefixInfo, RplControl, RplOption,
};
use lowpan::rpl::option::{RplOptionRepr, only_rpl_options};
use lowpan::rpl::srh::{self, SrhRepr};
use lowpan::rpl::{ALL_RPL_NODES, RplError};

use routes::{RouteRefused, RouteTable};
use trickle::Trickle;

/// How a downward source route is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRouteForm {
    /// An RFC 6554 routing header, compressed with the RFC 6282 extension-header NHC.
    Rfc6554,
    /// RFC 8138: the packet goes into an IPv6-in-IPv6 tunnel from the root to its last hop
    /// with the RPL option and the source route ([`RplRoot::tunnel`]), and leaves as a
    /// page-1 frame (IP-in-IP, RH3 and RPI 6LoRHs); the DIOs carry RFC 9035's T flag.
    Rfc8138,
}

/// What the root announces and how it keeps routes; see `[rpl]` in `lowpan-br.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RplSettings {
    pub instance: u8,
    /// The DODAG ID: the root's global address.
    pub dodag_id: Ipv6Addr,
    pub version: u8,
    /// Imin = 2^dio_interval_min ms.
    pub dio_interval_min: u8,
    pub dio_interval_doublings: u8,
    pub dio_redundancy: u8,
    /// Route lifetime = default_lifetime x lifetime_unit_s seconds (DAO lifetimes count in
    /// the same unit).
    pub default_lifetime: u8,
    pub lifetime_unit_s: u16,
    pub min_hop_rank_increase: u16,
    pub max_rank_increase: u16,
    /// The /64 announced in the DIO's Prefix Information option.
    pub prefix: Ipv6Addr,
    pub valid_lifetime_s: u32,
    pub preferred_lifetime_s: u32,
    pub max_routes: usize,
    /// The mode of operation announced in the DIO: `control::MOP_NON_STORING` or
    /// `control::MOP_STORING`.
    pub mode_of_operation: u8,
    pub source_routing: SourceRouteForm,
}

impl RplSettings {
    /// The root `cfg` describes, `None` when `[rpl]` is not enabled.
    pub fn from_config(cfg: &crate::config::Config) -> Option<Self> {
        let r = &cfg.rpl;
        if !r.enabled {
            return None;
        }
        Some(RplSettings {
            instance: r.instance_id,
            dodag_id: r.dodag_id.unwrap_or(cfg.network.address),
            version: r.version,
            dio_interval_min: r.dio_interval_min,
            dio_interval_doublings: r.dio_interval_doublings,
            dio_redundancy: r.dio_redundancy,
            default_lifetime: r.default_lifetime,
            lifetime_unit_s: r.lifetime_unit_s,
            min_hop_rank_increase: r.min_hop_rank_increase,
            max_rank_increase: r.max_rank_increase,
            prefix: cfg.prefix().network(),
            valid_lifetime_s: cfg.network.ra_valid_lifetime_s,
            preferred_lifetime_s: cfg.network.ra_preferred_lifetime_s,
            max_routes: r.max_routes,
            mode_of_operation: match r.mode {
                crate::config::RplMode::NonStoring => control::MOP_NON_STORING,
                crate::config::RplMode::Storing => control::MOP_STORING,
            },
            source_routing: match r.source_routing {
                crate::config::SourceRouting::Rfc6554 => SourceRouteForm::Rfc6554,
                crate::config::SourceRouting::Rfc8138 => SourceRouteForm::Rfc8138,
            },
        })
    }
}

/// Why an RPL message or packet was dropped. Names are stable (drop counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RplDrop {
    /// A control message that does not parse.
    Malformed(RplError),
    /// For another RPL instance or DODAG.
    OtherDodag,
    /// A DAO whose target could not be stored (the table is full).
    RouteTableFull,
    /// DIO or DAO-ACK at the root: nothing for it to do.
    NotForRoot,
}

impl RplDrop {
    pub fn as_str(self) -> &'static str {
        match self {
            RplDrop::Malformed(e) => e.as_str(),
            RplDrop::OtherDodag => "rpl_other_dodag",
            RplDrop::RouteTableFull => "rpl_route_table_full",
            RplDrop::NotForRoot => "rpl_not_for_root",
        }
    }
}

/// Monotonic counters of the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RplCounters {
    pub dio_sent: u64,
    pub dis_received: u64,
    pub dao_received: u64,
    pub dao_ack_sent: u64,
    pub routes_expired: u64,
    pub source_routed: u64,
}

/// The root's state.
#[derive(Debug, Clone)]
pub struct RplRoot {
    s: RplSettings,
    trickle: Trickle,
    routes: RouteTable,
    dtsn: u8,
    counters: RplCounters,
}

/// Hop limit of RPL control messages (link-local ones must not be forwarded anyway).
const CONTROL_HOP_LIMIT: u8 = 64;

impl RplRoot {
    pub fn new(s: RplSettings, now: Instant, seed: u64) -> Self {
        let trickle = Trickle::new(
            now,
            s.dio_interval_min,
            s.dio_interval_doublings,
            s.dio_redundancy,
            seed,
        );
        RplRoot {
            routes: RouteTable::new(s.max_routes),
            trickle,
            dtsn: 240,
            counters: RplCounters::default(),
            s,
        }
    }

    pub fn settings(&self) -> &RplSettings {
        &self.s
    }

    pub fn counters(&self) -> &RplCounters {
        &self.counters
    }

    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// When [`RplRoot::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Instant {
        let t = self.trickle.next_deadline();
        self.routes.next_expiry().map_or(t, |e| e.min(t))
    }

    /// Runs the timers; returns a multicast DIO to send from `own_link_local` when one is due.
    pub fn handle_timeout(&mut self, now: Instant, own_link_local: Ipv6Addr) -> Option<Vec<u8>> {
        self.counters.routes_expired += self.routes.expire(now) as u64;
        if self.trickle.poll(now) {
            self.counters.dio_sent += 1;
            return Some(self.dio().emit_ipv6_packet(
                own_link_local,
                ALL_RPL_NODES,
                CONTROL_HOP_LIMIT,
            ));
        }
        None
    }

    fn dio(&self) -> RplControl {
        let s = &self.s;
        RplControl::Dio(Dio {
            instance: s.instance,
            version: s.version,
            rank: s.min_hop_rank_increase,
            grounded: true,
            mode_of_operation: s.mode_of_operation,
            preference: 0,
            dtsn: self.dtsn,
            dodag_id: s.dodag_id,
            options: vec![
                RplOption::DodagConfig(DodagConfig {
                    rfc8138_compression: s.source_routing == SourceRouteForm::Rfc8138,
                    authentication: false,
                    path_control_size: 0,
                    dio_interval_doublings: s.dio_interval_doublings,
                    dio_interval_min: s.dio_interval_min,
                    dio_redundancy: s.dio_redundancy,
                    max_rank_increase: s.max_rank_increase,
                    min_hop_rank_increase: s.min_hop_rank_increase,
                    objective_code_point: control::OCP_OF0,
                    default_lifetime: s.default_lifetime,
                    lifetime_unit: s.lifetime_unit_s,
                }),
                RplOption::PrefixInfo(PrefixInfo {
                    prefix_len: 64,
                    on_link: false,
                    autonomous: true,
                    router_address: false,
                    valid_lifetime: s.valid_lifetime_s,
                    preferred_lifetime: s.preferred_lifetime_s,
                    prefix: s.prefix,
                }),
            ],
        })
    }

    /// Whether `a` is the root (the DODAG ID).
    pub fn is_root(&self, a: &Ipv6Addr) -> bool {
        *a == self.s.dodag_id
    }

    /// An RPL control message (ICMPv6 type 155, code `code`, `body` after the checksum)
    /// from `src` to `dst`. Returns the IPv6 packets to send in answer (a unicast DIO
    /// from `own_link_local`, a DAO-ACK from the DODAG ID), to be routed like any other.
    pub fn handle_control(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        code: u8,
        body: &[u8],
        own_link_local: Ipv6Addr,
    ) -> Result<Vec<Vec<u8>>, RplDrop> {
        match RplControl::parse(code, body).map_err(RplDrop::Malformed)? {
            RplControl::Dis { .. } => {
                self.counters.dis_received += 1;
                if dst.is_multicast() {
                    // RFC 6550 section 8.3: a multicast DIS resets the Trickle timer.
                    self.trickle.reset(now);
                    return Ok(Vec::new());
                }
                self.counters.dio_sent += 1;
                Ok(vec![self.dio().emit_ipv6_packet(
                    own_link_local,
                    src,
                    CONTROL_HOP_LIMIT,
                )])
            }
            RplControl::Dio(d) => {
                if d.instance == self.s.instance
                    && d.dodag_id == self.s.dodag_id
                    && d.version == self.s.version
                {
                    self.trickle.hear_consistent();
                }
                Err(RplDrop::NotForRoot)
            }
            RplControl::Dao(dao) => self.handle_dao(now, src, dao),
            RplControl::DaoAck(_) => Err(RplDrop::NotForRoot),
        }
    }

    fn handle_dao(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dao: Dao,
    ) -> Result<Vec<Vec<u8>>, RplDrop> {
        self.counters.dao_received += 1;
        if dao.instance != self.s.instance || dao.dodag_id.is_some_and(|id| id != self.s.dodag_id) {
            return Err(RplDrop::OtherDodag);
        }
        let unit = Duration::from_secs(u64::from(self.s.lifetime_unit_s.max(1)));
        let mut targets: Vec<Ipv6Addr> = Vec::new();
        let mut full = false;
        let mut transit_seen = false;
        // The sender among all the DAO's targets: RIOT groups its own target with any one
        // of its children's under a transit option.
        let all_targets: Vec<Ipv6Addr> = dao
            .options
            .iter()
            .filter_map(|o| match o {
                RplOption::Target {
                    prefix_len: 128,
                    prefix,
                } => Some(*prefix),
                _ => None,
            })
            .collect();
        let sender = self.storing_sender(src, &all_targets);
        for o in &dao.options {
            match o {
                RplOption::Target {
                    prefix_len: 128,
                    prefix,
                } => {
                    if transit_seen {
                        targets.clear();
                        transit_seen = false;
                    }
                    targets.push(*prefix);
                }
                RplOption::Transit {
                    path_sequence,
                    path_lifetime,
                    parent,
                    ..
                } => {
                    transit_seen = true;
                    let via_sender = parent.is_none().then_some(sender);
                    for t in &targets {
                        if *path_lifetime == 0 {
                            self.routes.remove(t);
                            continue;
                        }
                        let expires = (*path_lifetime != 0xff)
                            .then(|| now + unit * u32::from(*path_lifetime));
                        let stored = match (parent, via_sender) {
                            (Some(p), _) => self.routes.update(*t, *p, *path_sequence, expires),
                            (None, Some(Some(sender))) if *t == sender => {
                                self.routes
                                    .update(*t, self.s.dodag_id, *path_sequence, expires)
                            }
                            (None, Some(Some(sender))) => {
                                self.routes
                                    .update_forwarded(*t, sender, *path_sequence, expires)
                            }
                            (None, _) if src.is_unicast_link_local() => self
                                .routes
                                .update_forwarded(*t, src, *path_sequence, expires),
                            (None, _) => self.routes.update(*t, src, *path_sequence, expires),
                        };
                        if stored == Err(RouteRefused::TableFull) {
                            full = true;
                        }
                    }
                }
                _ => {}
            }
        }
        let status = if full { 128 } else { 0 };
        let mut out = Vec::new();
        if dao.ack_requested {
            let ack = RplControl::DaoAck(DaoAck {
                instance: self.s.instance,
                dodag_id: dao.dodag_id,
                sequence: dao.sequence,
                status,
            });
            self.counters.dao_ack_sent += 1;
            out.push(ack.emit_ipv6_packet(self.s.dodag_id, src, CONTROL_HOP_LIMIT));
        }
        if full && out.is_empty() {
            return Err(RplDrop::RouteTableFull);
        }
        Ok(out)
    }

    /// For a DAO whose transit information names no parent, sent from the link-local
    /// `src`: the target that is the sender itself (same interface identifier), when one
    /// is. Such a DAO is built as in storing mode (RIOT's gnrc_rpl does so whatever the
    /// DODAG's mode): it went to the sender's parent, so the sender is a child of the root,
    /// and it lists the targets the sender forwards to by its own routes.
    fn storing_sender(&self, src: Ipv6Addr, targets: &[Ipv6Addr]) -> Option<Ipv6Addr> {
        if !src.is_unicast_link_local() {
            return None;
        }
        let iid = &src.octets()[8..];
        targets.iter().copied().find(|t| &t.octets()[8..] == iid)
    }

    /// The source route to `dst` when it is an RPL node more than one hop away: the hops
    /// from the root's child to `dst`. `Some` with one hop for a child of the root.
    pub fn path(&self, dst: &Ipv6Addr) -> Option<Vec<Ipv6Addr>> {
        self.routes.path(dst, |a| self.is_root(a))
    }

    /// `packet` (an exact IPv6 packet to the last hop of `path`) rewritten to travel the
    /// path: its destination the first hop, followed by a source routing header listing
    /// the rest. `None` when the packet or route cannot carry one.
    pub fn source_route(&mut self, packet: &[u8], path: &[Ipv6Addr]) -> Option<Vec<u8>> {
        let (first, rest) = path.split_first()?;
        if rest.is_empty()
            || path
                .last()
                .is_some_and(|t| self.routes.forwarded_by_parent(t))
        {
            return None;
        }
        // The routing header goes after a hop-by-hop header (RFC 8200 section 4.1).
        let mut at = IPV6_HEADER_LEN;
        let mut nh_at = 6;
        if packet.get(6) == Some(&next_header::HOP_BY_HOP) {
            let len = (usize::from(*packet.get(IPV6_HEADER_LEN + 1)?) + 1) * 8;
            nh_at = IPV6_HEADER_LEN;
            at += len;
        }
        let next = *packet.get(nh_at)?;
        let srh = SrhRepr {
            next_header: next,
            segments_left: rest.len() as u8,
            addresses: rest.to_vec(),
        };
        let header = srh.emit(first)?;
        let mut out = Vec::with_capacity(packet.len() + header.len());
        out.extend_from_slice(packet.get(..at)?);
        out.extend_from_slice(&header);
        out.extend_from_slice(&packet[at..]);
        out[nh_at] = next_header::ROUTING;
        let plen = u16::try_from(out.len() - IPV6_HEADER_LEN).ok()?;
        out[4..6].copy_from_slice(&plen.to_be_bytes());
        out[24..40].copy_from_slice(&first.octets());
        self.counters.source_routed += 1;
        Some(out)
    }

    /// `packet` (an exact IPv6 packet to the last hop of `path`) inside an IPv6-in-IPv6
    /// tunnel from the root to that last hop, as RFC 8138 (and RFC 9008 for packets from
    /// outside the DODAG) has the root send it: the outer header from the DODAG ID to the
    /// first hop, a Hop-by-Hop header with the RPL option (down, our instance and rank), and
    /// a source routing header with the remaining hops, all of which
    /// [`lowpan::Encoder::encode_rfc8138`] turns into 6LoRHs. The inner packet is unchanged.
    /// `None` for a child of the root (no source route) or a packet too long to wrap.
    pub fn tunnel(&mut self, packet: &[u8], path: &[Ipv6Addr]) -> Option<Vec<u8>> {
        let (first, rest) = path.split_first()?;
        if rest.is_empty()
            || path
                .last()
                .is_some_and(|t| self.routes.forwarded_by_parent(t))
        {
            return None;
        }
        let srh = SrhRepr {
            next_header: next_header::IPV6,
            segments_left: u8::try_from(rest.len()).ok()?,
            addresses: rest.to_vec(),
        };
        let routing = srh.emit(first)?;
        let rpi = RplOptionRepr {
            down: true,
            instance: self.s.instance,
            sender_rank: self.s.min_hop_rank_increase,
            ..Default::default()
        };
        let hop_by_hop = rpi.hop_by_hop(next_header::ROUTING);
        let payload_len = u16::try_from(hop_by_hop.len() + routing.len() + packet.len()).ok()?;
        let mut out = Vec::with_capacity(IPV6_HEADER_LEN + usize::from(payload_len));
        out.extend_from_slice(&[0x60, 0, 0, 0]);
        out.extend_from_slice(&payload_len.to_be_bytes());
        out.extend_from_slice(&[next_header::HOP_BY_HOP, TUNNEL_HOP_LIMIT]);
        out.extend_from_slice(&self.s.dodag_id.octets());
        out.extend_from_slice(&first.octets());
        out.extend_from_slice(&hop_by_hop);
        out.extend_from_slice(&routing);
        out.extend_from_slice(packet);
        self.counters.source_routed += 1;
        Some(out)
    }
}

/// The hop limit of the tunnel header the root puts around a downward packet.
const TUNNEL_HOP_LIMIT: u8 = 64;

/// Most tunnels [`strip_for_tun`] opens.
const MAX_DECAPSULATIONS: usize = 2;

/// An upward packet as the Internet may see it: a tunnel to `root` opened, a hop-by-hop
/// header with only the RPL option (and padding) removed, a routing header with no
/// segments left removed. Returns the packet unchanged when there is nothing to remove.
pub fn strip_for_tun(packet: Vec<u8>, is_root: impl Fn(&Ipv6Addr) -> bool) -> Vec<u8> {
    let mut p = packet;
    for _ in 0..=MAX_DECAPSULATIONS {
        p = strip_headers(p);
        let Ok(view) = lowpan::ip::Ipv6Packet::new_checked(&p[..]) else {
            return p;
        };
        if view.next_header() != next_header::IPV6 || !is_root(&view.dst_addr()) {
            return p;
        }
        let inner = view.payload();
        match lowpan::ip::Ipv6Packet::new_checked(inner) {
            Ok(i) if i.is_exact() => p = inner.to_vec(),
            _ => return p,
        }
    }
    p
}

/// Removes an RPL-only hop-by-hop header and a spent type 3 routing header right after
/// the fixed header.
fn strip_headers(mut p: Vec<u8>) -> Vec<u8> {
    for _ in 0..2 {
        if p.len() < IPV6_HEADER_LEN + 8 {
            return p;
        }
        let nh = p[6];
        let ext = &p[IPV6_HEADER_LEN..];
        let len = (usize::from(ext[1]) + 1) * 8;
        if ext.len() < len {
            return p;
        }
        let remove = match nh {
            next_header::HOP_BY_HOP => only_rpl_options(&ext[..len]),
            next_header::ROUTING => ext[2] == srh::ROUTING_TYPE && ext[3] == 0,
            _ => false,
        };
        if !remove {
            return p;
        }
        p[6] = ext[0];
        p.drain(IPV6_HEADER_LEN..IPV6_HEADER_LEN + len);
        let plen = (p.len() - IPV6_HEADER_LEN) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
    }
    p
}

#[cfg(test)]
mod tests;
