//! The sans-IO bridge core: IPv6 packets from the TUN become 802.15.4 frames for motes, and
//! frames from motes become IPv6 packets for the TUN. Neighbour Discovery from motes stays
//! on the radio side: Router Solicitations are answered with our Router Advertisement,
//! address registrations (NS with ARO, DAR) with their status ([`crate::registrations`]),
//! and no ND message is written to the TUN.
//!
//! No sockets, no clock, no tokio: callers pass `now` in and do the IO with what comes out.
//! Every input that is not bridged is counted under a stable drop reason.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use lowpan::ieee802154::{self as mac, FrameRepr, FrameType};
use lowpan::ip::{self, Ipv6Packet};
use lowpan::{Address, CheckedIpv6Packet, Eui64, Icmpv6Repr, LinkAddrs, NextHeader, UpperLayer};
use slip::LinkQuality;

use crate::config::Config;
use crate::counters::{Counters, DropReason};
use crate::nd::{self, RaParams, RadioNd};
use crate::neighbours::{Learned, NeighbourTable};
use crate::registrations::{Outcome, Registrations, Request, Via};
use crate::rpl::{self, RplRoot, RplSettings, SourceRouteForm};

/// A mote known from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownMote {
    pub eui64: Eui64,
    pub short: Option<u16>,
    pub name: String,
}

/// Everything the bridge core needs to know; see [`BridgeConfig::from_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    pub pan_id: u16,
    /// The /64 mesh prefix, also 6LoWPAN context 0.
    pub prefix: Ipv6Addr,
    /// Largest IPv6 packet accepted from the TUN.
    pub mtu: usize,
    pub ra: RaParams,
    pub motes: Vec<KnownMote>,
    pub max_learned_motes: usize,
    /// Upper bound on address registrations (RFC 6775 section 6.5) held at once.
    pub max_registrations: usize,
    /// Period of unsolicited Router Advertisements to all nodes; `None`: only solicited.
    pub ra_interval: Option<Duration>,
    /// Solicited Router Advertisements wait a random time below this (RFC 4861 section
    /// 6.2.6, MAX_RA_DELAY_TIME); zero answers at once.
    pub ra_delay_max: Duration,
    /// First 802.15.4 sequence number (the daemon picks a random one so that a restart does
    /// not look like duplicates to motes).
    pub initial_seq: u8,
    /// First RFC 4944 datagram tag, for the same reason.
    pub initial_tag: u16,
}

impl BridgeConfig {
    /// From a validated [`Config`].
    pub fn from_config(c: &Config, initial_seq: u8, initial_tag: u16) -> Self {
        let prefix = c.prefix().network();
        BridgeConfig {
            pan_id: c.radio.pan_id,
            prefix,
            mtu: c.tun.mtu as usize,
            ra: RaParams {
                prefix,
                cur_hop_limit: c.network.ra_hop_limit,
                router_lifetime_s: c.network.ra_router_lifetime_s,
                valid_lifetime_s: c.network.ra_valid_lifetime_s,
                preferred_lifetime_s: c.network.ra_preferred_lifetime_s,
                context_lifetime_min: c.network.context_lifetime_min,
                border_router: c.network.address,
                abro_version: 1,
            },
            motes: c
                .motes
                .iter()
                .map(|m| KnownMote {
                    eui64: m.eui64,
                    short: m.short,
                    name: m.name.clone(),
                })
                .collect(),
            max_learned_motes: c.network.max_learned_motes,
            max_registrations: c.network.max_registrations,
            ra_interval: (c.network.ra_interval_s > 0)
                .then(|| Duration::from_secs(c.network.ra_interval_s.into())),
            ra_delay_max: nd::MAX_RA_DELAY,
            initial_seq,
            initial_tag,
        }
    }
}

/// What a received radio frame produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RadioOutput {
    /// A whole IPv6 packet to write to the TUN, parsed once here for whoever looks at it
    /// on the way.
    pub to_tun: Option<CheckedIpv6Packet<Vec<u8>>>,
    /// The 802.15.4 source of `to_tun` (every fragment of a datagram has the same one).
    pub link_src: Option<Address>,
    /// Frames (without FCS) to send on the radio, e.g. a Router Advertisement.
    pub frames: Vec<Vec<u8>>,
}

pub struct Bridge {
    cfg: BridgeConfig,
    own: Option<Eui64>,
    seq: u8,
    encoder: lowpan::Encoder,
    reassembler: lowpan::Reassembler,
    /// `reassembler.evictions()` already counted as `reassembly_evicted` drops.
    evictions_counted: u64,
    neighbours: NeighbourTable,
    registrations: Registrations,
    /// Solicited Router Advertisements waiting for their delay: when, to which IPv6 and
    /// link address. At most [`MAX_PENDING_RAS`], one per destination.
    pending_ras: Vec<(Instant, Ipv6Addr, Address)>,
    /// Draws the RA delays (xorshift; seeded from the restart seed).
    delay_state: u32,
    /// When the next unsolicited Router Advertisement is due (with `ra_interval`).
    next_ra: Option<Instant>,
    counters: Counters,
    /// The RPL root, when `[rpl]` is enabled ([`Bridge::enable_rpl`]).
    rpl: Option<RplRoot>,
}

impl Bridge {
    pub fn new(cfg: BridgeConfig) -> Self {
        let mut neighbours = NeighbourTable::new(cfg.max_learned_motes);
        for m in &cfg.motes {
            neighbours.add_configured(m.eui64, m.short, Some(&m.name));
        }
        let contexts = lowpan::iphc::ContextTable::with_prefix(cfg.prefix, 64);
        Bridge {
            seq: cfg.initial_seq,
            encoder: lowpan::Encoder::with_initial_tag(contexts.clone(), cfg.initial_tag),
            reassembler: lowpan::Reassembler::new(contexts),
            evictions_counted: 0,
            neighbours,
            registrations: Registrations::new(cfg.max_registrations),
            next_ra: None,
            pending_ras: Vec::new(),
            delay_state: (u32::from(cfg.initial_tag) << 8 | u32::from(cfg.initial_seq)) | 1,
            counters: Counters::default(),
            own: None,
            rpl: None,
            cfg,
        }
    }

    /// Makes the bridge an RPL root with `settings`, its Trickle timer starting at `now`
    /// (`seed` spreads its DIOs).
    pub fn enable_rpl(&mut self, settings: RplSettings, now: Instant, seed: u64) {
        // RFC 8138 tunnels from motes compress their encapsulator against our address.
        self.reassembler.set_rpl_root(Some(settings.dodag_id));
        self.rpl = Some(RplRoot::new(settings, now, seed));
    }

    pub fn rpl(&self) -> Option<&RplRoot> {
        self.rpl.as_ref()
    }

    /// Our own link address, as the radio reported it (`!M`) or as configured (ZEP).
    /// Until it is known no frame can be built: TUN packets are dropped ("radio_not_ready").
    pub fn set_own_eui64(&mut self, eui: Eui64) {
        self.own = Some(eui);
    }

    pub fn own_eui64(&self) -> Option<Eui64> {
        self.own
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Lets the driver count drops that happen outside the core (queue full, TUN write...).
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    pub fn neighbours(&self) -> &NeighbourTable {
        &self.neighbours
    }

    pub fn config(&self) -> &BridgeConfig {
        &self.cfg
    }

    pub fn registrations(&self) -> &Registrations {
        &self.registrations
    }

    /// The known motes of a reloaded configuration: new ones are added, renamed ones
    /// renamed; traffic counters stay. Motes are never removed while running.
    pub fn set_motes(&mut self, motes: Vec<KnownMote>) {
        for m in &motes {
            self.neighbours.configure(m.eui64, m.short, Some(&m.name));
        }
        self.cfg.motes = motes;
    }

    /// Starts the unsolicited Router Advertisements, the first one at `now`, when
    /// `ra_interval` is configured.
    pub fn start(&mut self, now: Instant) {
        if self.cfg.ra_interval.is_some() {
            self.next_ra = Some(now);
        }
    }

    /// The next time [`Bridge::handle_timeout`] wants to run: the oldest partial datagram,
    /// the first registration to run out, the next unsolicited RA, the RPL root's next DIO
    /// or route expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let rpl = self.rpl.as_ref().map(RplRoot::poll_timeout);
        let solicited = self.pending_ras.iter().map(|(at, ..)| *at).min();
        [
            self.reassembler.poll_timeout(),
            self.registrations.poll_timeout(),
            self.next_ra,
            solicited,
            rpl,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Expires partial datagrams past their reassembly timeout and registrations past
    /// their lifetime (with the learned neighbours only they used), runs the RPL root's
    /// timers; returns the frames of an unsolicited Router Advertisement and of a
    /// multicast DIO when they are due.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let dropped = self.reassembler.expire(now) as u64;
        self.counters.reassembly_timeouts += dropped;
        self.counters.drop_n(DropReason::ReassemblyTimeout, dropped);
        for (_, gone) in self.registrations.expire(now) {
            self.counters.registrations_expired += 1;
            self.forget_unused(now, gone.via);
        }
        let mut frames = Vec::new();
        let due: Vec<(Instant, Ipv6Addr, Address)> = self
            .pending_ras
            .iter()
            .filter(|(at, ..)| *at <= now)
            .copied()
            .collect();
        self.pending_ras.retain(|(at, ..)| *at > now);
        for (_, dst_ip, dst_link) in due {
            frames.extend(self.advertise(dst_ip, dst_link));
        }
        match (self.next_ra, self.cfg.ra_interval) {
            (Some(due), Some(interval)) if due <= now => {
                self.next_ra = Some(now + interval);
                frames.extend(self.advertise(nd::ALL_NODES, Address::BROADCAST));
            }
            _ => {}
        }
        if let (Some(root), Some(own)) = (&mut self.rpl, self.own)
            && let Some(dio) = root.handle_timeout(now, ip::link_local_from_eui64(own))
        {
            frames.extend(self.frames_for(&dio, own, Address::BROADCAST));
        }
        frames
    }

    /// Forgets a learned neighbour once no registration is sent through it any more.
    fn forget_unused(&mut self, now: Instant, via: Via) {
        if let Via::Link(link) = via
            && !self.registrations.uses(now, &via)
        {
            self.neighbours.forget_learned(&link);
        }
    }

    /// An IPv6 packet read from the TUN. Returns the frames (without FCS, at most 125 bytes
    /// each) to send on the radio, in order; empty when the packet was dropped.
    pub fn handle_tun_packet(&mut self, now: Instant, packet: &[u8]) -> Vec<Vec<u8>> {
        match CheckedIpv6Packet::parse(packet) {
            Ok(ip) => self.handle_tun_ipv6(now, &ip),
            Err(e) => {
                self.refuse_tun_packet(packet.len(), e);
                Vec::new()
            }
        }
    }

    /// [`Bridge::handle_tun_packet`] for a packet the caller has already parsed.
    pub fn handle_tun_ipv6<T: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        ip: &CheckedIpv6Packet<T>,
    ) -> Vec<Vec<u8>> {
        self.counters.tun_rx_packets += 1;
        self.counters.tun_rx_bytes += ip.as_bytes().len() as u64;
        self.send_checked(now, ip)
    }

    /// Counts a TUN read of `len` bytes that did not parse as IPv6 (why: `error`).
    pub fn refuse_tun_packet(&mut self, len: usize, error: ip::Error) {
        self.counters.tun_rx_packets += 1;
        self.counters.tun_rx_bytes += len as u64;
        self.counters.drop(unparsed_reason(error));
    }

    /// An IPv6 packet the border router itself sends towards the motes (an attached
    /// IoTSSP's datagram): checked, routed and framed like a TUN packet, with the same drop
    /// reasons, but not counted as TUN input.
    pub fn send_to_mote(&mut self, now: Instant, packet: &[u8]) -> Vec<Vec<u8>> {
        match CheckedIpv6Packet::parse(packet) {
            Ok(ip) => self.send_checked(now, &ip),
            Err(e) => {
                self.counters.drop(unparsed_reason(e));
                Vec::new()
            }
        }
    }

    fn send_checked<T: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        ip: &CheckedIpv6Packet<T>,
    ) -> Vec<Vec<u8>> {
        let packet = ip.as_bytes();
        if packet.len() > self.cfg.mtu {
            self.counters.drop(DropReason::TunTooBig);
            return Vec::new();
        }
        if !ip.is_exact() {
            // A TUN read is exactly one packet; trailing or missing bytes mean something is off.
            self.counters.drop(DropReason::TunBadIpv6);
            return Vec::new();
        }
        if is_mld_listener_message(&ip.view()) {
            // The kernel reports the TUN's multicast memberships as on any Ethernet, but
            // nothing on a 6LoWPAN link listens to MLD (RFC 6775 nodes use none): each
            // report would only cost every node a broadcast frame.
            self.counters.drop(DropReason::TunMldNotSent);
            return Vec::new();
        }
        let Some(own) = self.own else {
            self.counters.drop(DropReason::RadioNotReady);
            return Vec::new();
        };
        // An RPL node more than one hop away: its source route, the first hop on the link.
        // With RFC 8138 the packet goes in a tunnel from the root, sent as 6LoRHs.
        let routed = self.rpl.as_mut().and_then(|root| {
            let path = root.path(&ip.dst_addr())?;
            let rfc8138 = root.settings().source_routing == SourceRouteForm::Rfc8138;
            let rewritten = if rfc8138 {
                root.tunnel(packet, &path)
            } else {
                root.source_route(packet, &path)
            };
            let lorh_root = rfc8138
                .then_some(root.settings().dodag_id)
                .filter(|_| rewritten.is_some());
            Some((path[0], rewritten, lorh_root))
        });
        let (next_hop, packet, lorh_root) = match &routed {
            Some((first, Some(rewritten), lorh_root)) => (*first, &rewritten[..], *lorh_root),
            Some((first, None, _)) => (*first, packet, None),
            None => (ip.dst_addr(), packet, None),
        };
        let dst = match self.link_destination(now, &next_hop) {
            Ok(d) => d,
            Err(reason) => {
                self.counters.drop(reason);
                return Vec::new();
            }
        };
        self.frames_for_rpl(packet, own, dst, lorh_root)
    }

    /// Compress, fragment and frame one IPv6 packet for `dst`.
    fn frames_for(&mut self, packet: &[u8], own: Eui64, dst: Address) -> Vec<Vec<u8>> {
        self.frames_for_rpl(packet, own, dst, None)
    }

    /// [`Bridge::frames_for`], with the RFC 8138 forms (page 1) when `lorh_root` names the
    /// DODAG root whose tunnel the packet is.
    fn frames_for_rpl(
        &mut self,
        packet: &[u8],
        own: Eui64,
        dst: Address,
        lorh_root: Option<Ipv6Addr>,
    ) -> Vec<Vec<u8>> {
        let src = Address::Extended(own);
        let ack = !dst.is_broadcast();
        let header = FrameRepr::data(self.cfg.pan_id, src, dst, 0, ack);
        let room = mac::max_frame_payload(&header);
        let links = LinkAddrs { src, dst };
        let encoded = match lorh_root {
            Some(root) => self.encoder.encode_rfc8138(packet, links, room, root),
            None => self.encoder.encode(packet, links, room),
        };
        let payloads = match encoded {
            Ok(p) => p,
            Err(e) => {
                self.counters.drop(DropReason::Encode(e));
                return Vec::new();
            }
        };
        let mut frames = Vec::with_capacity(payloads.len());
        for payload in &payloads {
            let repr = FrameRepr {
                sequence_number: self.next_seq(),
                ..header
            };
            let frame = mac::build_data_frame(&repr, payload);
            self.counters.radio_tx_frames += 1;
            self.counters.radio_tx_bytes += frame.len() as u64;
            frames.push(frame);
        }
        if let Some(n) = self.neighbours.get_mut(&dst) {
            n.stats.tx_frames += frames.len() as u64;
            n.stats.tx_bytes += frames.iter().map(|f| f.len() as u64).sum::<u64>();
        }
        frames
    }

    fn next_seq(&mut self) -> u8 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        s
    }

    /// Which link address an IPv6 destination maps to, or the drop reason.
    fn link_destination(&self, now: Instant, dst: &Ipv6Addr) -> Result<Address, DropReason> {
        let o = dst.octets();
        if dst.is_multicast() {
            // Link-local (ff02) and realm-local (ff03, RFC 7346: the PAN) scopes stay on this link.
            return match o[1] & 0x0f {
                2 | 3 => Ok(Address::BROADCAST),
                _ => Err(DropReason::MulticastScopeNotLink),
            };
        }
        let on_link =
            o[..8] == self.cfg.prefix.octets()[..8] || o[..8] == [0xfe, 0x80, 0, 0, 0, 0, 0, 0];
        if !on_link {
            return Err(DropReason::NoRoute);
        }
        if let Some(link) = self.registered_link(now, dst) {
            return Ok(link);
        }
        let mut iid = [0u8; 8];
        iid.copy_from_slice(&o[8..]);
        self.neighbours
            .lookup_iid(iid)
            .ok_or(DropReason::UnknownMote)
    }

    /// The link address a registered address is reached through: the node's own, or that
    /// of the 6LoWPAN router that registered it (itself registered or known by its IID).
    fn registered_link(&self, now: Instant, dst: &Ipv6Addr) -> Option<Address> {
        match self.registrations.get(now, dst)?.via {
            Via::Link(link) => Some(link),
            Via::Router(router) => match self.registrations.get(now, &router).map(|r| r.via) {
                Some(Via::Link(link)) => Some(link),
                _ => {
                    let iid: [u8; 8] = router.octets()[8..].try_into().ok()?;
                    self.neighbours.lookup_iid(iid)
                }
            },
        }
    }

    /// A frame received from the radio (802.15.4 MAC header + payload, no FCS).
    pub fn handle_radio_frame(&mut self, now: Instant, frame: &[u8]) -> RadioOutput {
        self.handle_radio_reception(now, frame, LinkQuality::default())
    }

    /// [`Bridge::handle_radio_frame`] with what the radio reported of the reception, kept as
    /// the sending neighbour's last link quality.
    pub fn handle_radio_reception(
        &mut self,
        now: Instant,
        frame: &[u8],
        quality: LinkQuality,
    ) -> RadioOutput {
        let mut out = RadioOutput::default();
        self.counters.radio_rx_frames += 1;
        self.counters.radio_rx_bytes += frame.len() as u64;
        let (repr, payload) = match mac::parse_frame(frame) {
            Ok(x) => x,
            Err(e) => {
                self.counters.drop(DropReason::Mac(e));
                return out;
            }
        };
        if repr.frame_type != FrameType::Data {
            self.counters.drop(DropReason::MacNotData);
            return out;
        }
        if !self.is_for_us(&repr) {
            self.counters.drop(DropReason::NotForUs);
            return out;
        }
        if matches!(repr.src_addr, Address::Absent) || repr.src_addr.is_broadcast() {
            self.counters.drop(DropReason::MacNoSource);
            return out;
        }
        if self
            .own
            .is_some_and(|o| repr.src_addr == Address::Extended(o))
        {
            self.counters.drop(DropReason::OwnFrame);
            return out;
        }
        match self.neighbours.learn(repr.src_addr) {
            Learned::New => self.counters.motes_learned += 1,
            Learned::TableFull => self.counters.drop(DropReason::NeighbourTableFullNotLearned),
            Learned::Known | Learned::NotUnicast => {}
        }
        if let Some(n) = self.neighbours.get_mut(&repr.src_addr) {
            n.stats.rx_frames += 1;
            n.stats.rx_bytes += frame.len() as u64;
            n.stats.last_heard = Some(now);
            n.stats.last_quality = quality;
        }
        let links = LinkAddrs {
            src: repr.src_addr,
            dst: repr.dst_addr,
        };
        let accepted = self.reassembler.accept(now, links, payload);
        // A new datagram may have evicted stale partial ones (e.g. forged FRAG1s) to fit.
        let evictions = self.reassembler.evictions();
        self.counters.drop_n(
            DropReason::ReassemblyEvicted,
            evictions - self.evictions_counted,
        );
        self.evictions_counted = evictions;
        let packet = match accepted {
            Ok(Some(p)) => p,
            Ok(None) => return out,
            Err(e) => {
                self.counters.drop(DropReason::Decode(e));
                return out;
            }
        };
        let Ok(mut packet) = CheckedIpv6Packet::parse(packet) else {
            self.counters.drop(DropReason::RadioBadIpv6);
            return out;
        };
        if !packet.is_exact() {
            self.counters.drop(DropReason::RadioBadIpv6);
            return out;
        }
        if self.rpl.is_some() {
            if let Some(answer) = self.rpl_control(now, &packet) {
                out.frames = answer;
                return out;
            }
            let stripped = self.strip_rpl_headers(packet.into_inner());
            let Ok(p) = CheckedIpv6Packet::parse(stripped) else {
                self.counters.drop(DropReason::RadioBadIpv6);
                return out;
            };
            packet = p;
        }
        let view = packet.view();
        match nd::parse_router_solicitation(&view) {
            Ok(Some(rs_src)) => {
                self.counters.router_solicitations += 1;
                out.frames = self.answer_router_solicitation(now, rs_src, repr.src_addr);
                return out;
            }
            Ok(None) => {}
            Err(e) => {
                self.counters.drop(DropReason::Rs(e));
                return out;
            }
        }
        match nd::classify(&view) {
            Ok(Some(msg)) => {
                out.frames = self.answer_nd(now, msg, repr.src_addr);
                return out;
            }
            Ok(None) => {}
            Err(e) => {
                self.counters.drop(DropReason::Nd(e));
                return out;
            }
        }
        if view.src_addr().is_multicast() {
            self.counters.drop(DropReason::RadioMulticastSource);
            return out;
        }
        self.counters.tun_tx_packets += 1;
        self.counters.tun_tx_bytes += packet.as_bytes().len() as u64;
        out.to_tun = Some(packet);
        out.link_src = Some(repr.src_addr);
        out
    }

    /// An RPL control message for the root: handled here (never written to the TUN), its
    /// answers routed to the motes. `None` when `packet` is not one.
    fn rpl_control(
        &mut self,
        now: Instant,
        packet: &CheckedIpv6Packet<Vec<u8>>,
    ) -> Option<Vec<Vec<u8>>> {
        let UpperLayer::Protocol(NextHeader::Icmpv6, msg) = packet.upper_layer() else {
            return None;
        };
        if msg.first() != Some(&lowpan::rpl::ICMPV6_RPL) {
            return None;
        }
        let (src, dst) = (packet.src_addr(), packet.dst_addr());
        let icmp = ip::Icmpv6Packet::new_checked(msg).ok()?;
        let Ok(Icmpv6Repr::Unknown { msg_code, body, .. }) = Icmpv6Repr::parse(&src, &dst, &icmp)
        else {
            self.counters.drop(DropReason::Rpl(rpl::RplDrop::Malformed(
                lowpan::rpl::RplError::Malformed,
            )));
            return Some(Vec::new());
        };
        let own_ll = ip::link_local_from_eui64(self.own?);
        let root = self.rpl.as_mut()?;
        let answers = match root.handle_control(now, src, dst, msg_code, body, own_ll) {
            Ok(a) => a,
            Err(reason) => {
                self.counters.drop(DropReason::Rpl(reason));
                return Some(Vec::new());
            }
        };
        let mut frames = Vec::new();
        for a in answers {
            frames.extend(self.send_to_mote(now, &a));
        }
        Some(frames)
    }

    /// [`rpl::strip_for_tun`] with this root's DODAG ID and the host's address.
    fn strip_rpl_headers(&self, packet: Vec<u8>) -> Vec<u8> {
        let Some(root) = &self.rpl else { return packet };
        rpl::strip_for_tun(packet, |a| {
            root.is_root(a) || *a == self.cfg.ra.border_router
        })
    }

    fn is_for_us(&self, repr: &FrameRepr) -> bool {
        let pan_ok = matches!(repr.dst_pan, Some(p) if p == self.cfg.pan_id || p == 0xffff);
        let addr_ok = match repr.dst_addr {
            Address::Short(0xffff) => true,
            Address::Extended(e) => self.own == Some(e),
            _ => false,
        };
        pan_ok && addr_ok
    }

    /// RFC 4861 6.2.6: unicast to the solicitor when its source is known, else all-nodes,
    /// after a random delay below `ra_delay_max`. The delay also keeps the RA from arriving
    /// while the soliciting node is still finishing its own transmission (RIOT's native
    /// ZEP radio asserts on a frame received in that window).
    fn answer_router_solicitation(
        &mut self,
        now: Instant,
        rs_src: Ipv6Addr,
        mote: Address,
    ) -> Vec<Vec<u8>> {
        let (dst_ip, dst_link) = if rs_src.is_unspecified() {
            (nd::ALL_NODES, Address::BROADCAST)
        } else {
            (rs_src, mote)
        };
        let max_ms = self.cfg.ra_delay_max.as_millis() as u32;
        if max_ms == 0 {
            return self.advertise(dst_ip, dst_link);
        }
        if self
            .pending_ras
            .iter()
            .any(|(_, ip, link)| *ip == dst_ip && *link == dst_link)
        {
            return Vec::new();
        }
        if self.pending_ras.len() >= MAX_PENDING_RAS {
            self.counters.drop(DropReason::RsBacklogFull);
            return Vec::new();
        }
        let mut x = self.delay_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.delay_state = x;
        let delay = Duration::from_millis(u64::from(x % max_ms));
        self.pending_ras.push((now + delay, dst_ip, dst_link));
        Vec::new()
    }

    fn advertise(&mut self, dst_ip: Ipv6Addr, dst_link: Address) -> Vec<Vec<u8>> {
        let Some(own) = self.own else {
            self.counters.drop(DropReason::RadioNotReady);
            return Vec::new();
        };
        let ra = nd::build_router_advertisement(own, dst_ip, &self.cfg.ra);
        let frames = self.frames_for(&ra, own, dst_link);
        if !frames.is_empty() {
            self.counters.router_advertisements += 1;
        }
        frames
    }

    /// Acts on an ND message (other than an RS) from the radio neighbour `from`; returns the
    /// frames of the answer. Nothing of ND reaches the TUN.
    fn answer_nd(&mut self, now: Instant, msg: RadioNd, from: Address) -> Vec<Vec<u8>> {
        let Some(own) = self.own else {
            self.counters.drop(DropReason::RadioNotReady);
            return Vec::new();
        };
        match msg {
            RadioNd::Registration {
                src,
                target,
                aro,
                sllao,
            } => {
                // RFC 8505 section 5.5: an EARO (T flag) registers the NS's target; an RFC
                // 6775 ARO registers the NS's source, and its target is whatever the host
                // solicited (RIOT's hosts: the router itself, fe80::<our IID>).
                let registered = if aro.t { target } else { src };
                if !self.is_mesh_address(&registered) {
                    self.counters.drop(DropReason::RegistrationNotOnMesh);
                    return Vec::new();
                }
                let link = sllao.map_or(from, link_address);
                let outcome = if self.is_own_address(own, &registered)
                    || self.configured_mote_other_than(&registered, Some(link))
                {
                    // Our addresses are ours and a configured mote's is its own, registered
                    // or not.
                    self.counters.registrations_refused += 1;
                    Outcome::Duplicate
                } else {
                    let req = Request {
                        address: registered,
                        rovr: aro.rovr,
                        tid: aro.tid,
                        lifetime_min: aro.lifetime,
                        via: Via::Link(link),
                    };
                    self.apply_registration(now, &req)
                };
                let answer = lowpan::ndisc::AddressRegistration {
                    status: outcome.status(),
                    ..aro
                };
                let na = nd::build_neighbour_advertisement(own, src, target, Some(answer));
                self.frames_for(&na, own, link)
            }
            RadioNd::Solicitation { src, target, sllao } => {
                let ours = self.is_own_address(own, &target);
                if !ours || src.is_unspecified() {
                    self.counters.drop(DropReason::NdNotForwarded);
                    return Vec::new();
                }
                let na = nd::build_neighbour_advertisement(own, src, target, None);
                self.frames_for(&na, own, sllao.map_or(from, link_address))
            }
            RadioNd::DuplicateAddressRequest { src, dst, dar } => {
                let ours = self.is_own_address(own, &dst);
                if !ours || !self.is_mesh_address(&dar.registered) || !self.is_mesh_address(&src) {
                    self.counters.drop(DropReason::RegistrationNotOnMesh);
                    return Vec::new();
                }
                self.counters.duplicate_address_requests += 1;
                let req = Request {
                    address: dar.registered,
                    rovr: dar.rovr,
                    tid: dar.tid,
                    lifetime_min: dar.lifetime,
                    via: Via::Router(src),
                };
                let status = if self.is_own_address(own, &dar.registered)
                    || self.configured_mote_other_than(&dar.registered, None)
                {
                    self.counters.registrations_refused += 1;
                    Outcome::Duplicate.status()
                } else {
                    self.apply_registration(now, &req).status()
                };
                let dac = nd::build_duplicate_address_confirmation(
                    self.cfg.ra.border_router,
                    src,
                    &dar,
                    status,
                );
                self.frames_for(&dac, own, from)
            }
            RadioNd::Other => {
                self.counters.drop(DropReason::NdNotForwarded);
                Vec::new()
            }
        }
    }

    /// Registers (or refreshes, or removes) one address and feeds the neighbour table.
    fn apply_registration(&mut self, now: Instant, req: &Request) -> Outcome {
        let outcome = self.registrations.register(now, req);
        match outcome {
            Outcome::Registered => {
                self.counters.address_registrations += 1;
                if let Via::Link(link) = req.via
                    && self.neighbours.learn(link) == Learned::New
                {
                    self.counters.motes_learned += 1;
                }
            }
            Outcome::Deregistered => {
                self.counters.address_deregistrations += 1;
                self.forget_unused(now, req.via);
            }
            Outcome::Duplicate | Outcome::TableFull | Outcome::Stale => {
                self.counters.registrations_refused += 1
            }
        }
        outcome
    }

    /// Whether `a`'s interface identifier is that of a configured mote whose link address
    /// is not `link`.
    fn configured_mote_other_than(&self, a: &Ipv6Addr, link: Option<Address>) -> bool {
        let iid: [u8; 8] = a.octets()[8..].try_into().unwrap_or_default();
        self.neighbours.lookup_iid(iid).is_some_and(|m| {
            Some(m) != link && self.neighbours.get(&m).is_some_and(|n| n.configured)
        })
    }

    /// Our link-local address (the RA's source) or the host's address on the TUN.
    fn is_own_address(&self, own: Eui64, a: &Ipv6Addr) -> bool {
        *a == ip::link_local_from_eui64(own) || *a == self.cfg.ra.border_router
    }

    /// In the mesh prefix or link-local.
    fn is_mesh_address(&self, a: &Ipv6Addr) -> bool {
        let o = a.octets();
        !a.is_multicast()
            && (o[..8] == self.cfg.prefix.octets()[..8] || o[..8] == [0xfe, 0x80, 0, 0, 0, 0, 0, 0])
    }
}

/// Solicited Router Advertisements waiting for their delay, at most.
const MAX_PENDING_RAS: usize = 32;

/// The 802.15.4 address an ND link-layer address option names.
fn link_address(l: lowpan::ndisc::LinkLayerAddress) -> Address {
    match l {
        lowpan::ndisc::LinkLayerAddress::Short(s) => Address::Short(s),
        lowpan::ndisc::LinkLayerAddress::Eui64(e) => Address::Extended(e),
    }
}

/// The drop reason of a TUN-side packet that is not IPv6.
fn unparsed_reason(error: ip::Error) -> DropReason {
    match error {
        ip::Error::NotIpv6 => DropReason::TunNotIpv6,
        _ => DropReason::TunBadIpv6,
    }
}

/// Whether `packet` is an MLD Listener Report or Done (MLDv1 131/132, MLDv2 143) to a
/// link-scope multicast group, after any Hop-by-Hop or Destination Options headers (the
/// kernel sends them with a Router Alert).
fn is_mld_listener_message(packet: &Ipv6Packet<&[u8]>) -> bool {
    const MLD_REPORT: u8 = 131;
    const MLD_DONE: u8 = 132;
    const MLDV2_REPORT: u8 = 143;
    let dst = packet.dst_addr().octets();
    if dst[0] != 0xff || dst[1] & 0x0f != 2 {
        return false;
    }
    let mut next = packet.next_header();
    let mut rest = packet.payload();
    // Two option headers are all a well-formed packet may carry before its upper layer.
    for _ in 0..2 {
        if next != ip::next_header::HOP_BY_HOP && next != ip::next_header::DEST_OPTS {
            break;
        }
        let Some(&[nh, len]) = rest.first_chunk::<2>() else {
            return false;
        };
        let Some(after) = rest.get((usize::from(len) + 1) * 8..) else {
            return false;
        };
        (next, rest) = (nh, after);
    }
    next == ip::next_header::ICMPV6
        && matches!(rest.first(), Some(&(MLD_REPORT | MLD_DONE | MLDV2_REPORT)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lowpan::iphc::ContextTable;
    use lowpan::{Prefix64, UdpRepr};
    use proptest::prelude::*;
    use std::time::Duration;

    pub(crate) const OWN: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x01]);
    pub(crate) const MOTE: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x02]);
    const STRANGER: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x07]);
    pub(crate) const PAN: u16 = 0xabcd;

    pub(crate) fn prefix() -> Ipv6Addr {
        "fd00:aaaa::".parse().unwrap()
    }

    fn ra_params() -> RaParams {
        RaParams {
            prefix: prefix(),
            cur_hop_limit: 64,
            router_lifetime_s: 1800,
            valid_lifetime_s: 86_400,
            preferred_lifetime_s: 14_400,
            context_lifetime_min: 60,
            border_router: "fd00:aaaa::1".parse().unwrap(),
            abro_version: 1,
        }
    }

    pub(crate) fn bridge() -> Bridge {
        let mut b = Bridge::new(BridgeConfig {
            pan_id: PAN,
            prefix: prefix(),
            mtu: 1280,
            ra: ra_params(),
            motes: vec![KnownMote {
                eui64: MOTE,
                short: Some(0x0002),
                name: "kitchen".into(),
            }],
            max_learned_motes: 16,
            max_registrations: 8,
            ra_interval: None,
            ra_delay_max: Duration::ZERO,
            initial_seq: 250,
            initial_tag: 7,
        });
        b.set_own_eui64(OWN);
        b
    }

    /// The IPv6 global address of a mote in the prefix.
    pub(crate) fn global(eui: Eui64) -> Ipv6Addr {
        Prefix64::of(&prefix()).with_iid(ip::iid_from_eui64(eui))
    }

    pub(crate) fn udp_packet(src: Ipv6Addr, dst: Ipv6Addr, payload_len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
        UdpRepr {
            src_port: 5683,
            dst_port: 61616,
            payload: &payload,
        }
        .emit_ipv6_packet(src, dst, 64)
        .unwrap()
    }

    /// A mote-side sender: compress, fragment and frame like a mote would.
    pub(crate) fn mote_frames(src: Eui64, dst: Address, packet: &[u8]) -> Vec<Vec<u8>> {
        let mut enc = lowpan::Encoder::new(ContextTable::with_prefix(prefix(), 64));
        let links = LinkAddrs {
            src: Address::Extended(src),
            dst,
        };
        let header = FrameRepr::data(PAN, links.src, dst, 0, !dst.is_broadcast());
        enc.encode(packet, links, mac::max_frame_payload(&header))
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                mac::build_data_frame(
                    &FrameRepr {
                        sequence_number: i as u8,
                        ..header
                    },
                    p,
                )
            })
            .collect()
    }

    /// A mote-side receiver: parse frames and reassemble.
    pub(crate) fn mote_receive(frames: &[Vec<u8>]) -> Option<Vec<u8>> {
        let mut r = lowpan::Reassembler::new(ContextTable::with_prefix(prefix(), 64));
        let now = Instant::now();
        let mut out = None;
        for f in frames {
            let (repr, payload) = mac::parse_frame(f).unwrap();
            if let Some(p) = r
                .accept(
                    now,
                    LinkAddrs {
                        src: repr.src_addr,
                        dst: repr.dst_addr,
                    },
                    payload,
                )
                .unwrap()
            {
                out = Some(p);
            }
        }
        out
    }

    #[test]
    fn router_solicitation_is_answered_with_a_router_advertisement() {
        let mut b = bridge();
        let mote_ll = ip::link_local_from_eui64(MOTE);
        let rs = crate::nd::tests::rs_packet(mote_ll, 255);
        let frames = mote_frames(MOTE, Address::BROADCAST, &rs);
        assert_eq!(frames.len(), 1);
        let out = b.handle_radio_frame(Instant::now(), &frames[0]);
        assert_eq!(out.to_tun, None, "an RS is answered, not forwarded");
        // Between extended addresses the RA with its SLLAO (104 bytes of ICMPv6, 3 of IPHC)
        // takes 107 of the frame's 104 bytes: two fragments.
        assert_eq!(out.frames.len(), 2);
        let (repr, _) = mac::parse_frame(&out.frames[0]).unwrap();
        assert_eq!(repr.frame_type, FrameType::Data);
        assert_eq!(repr.version, 1);
        assert_eq!(repr.src_addr, Address::Extended(OWN));
        assert_eq!(repr.dst_addr, Address::Extended(MOTE));
        assert_eq!(repr.dst_pan, Some(PAN));
        assert!(repr.pan_id_compression);
        assert!(repr.ack_request);
        assert!(out.frames[0].len() <= mac::MAX_FRAME_NO_FCS);
        let ra = mote_receive(&out.frames).expect("RA reassembles");
        // With our SLLAO: RIOT's 6LN takes the router's neighbour cache entry from it, and
        // without that entry drops the NA answering its registration.
        assert_eq!(
            ra,
            nd::build_router_advertisement(OWN, mote_ll, &ra_params())
        );
        assert_eq!(ra.len(), nd::RA_PACKET_LEN);
        // Field checks of what the mote gets: source is our link-local, 6CO for context 0.
        let v = Ipv6Packet::new_checked(&ra[..]).unwrap();
        assert_eq!(v.src_addr(), ip::link_local_from_eui64(OWN));
        assert_eq!(v.dst_addr(), mote_ll);
        assert_eq!(v.hop_limit(), 255);
        let icmp = v.payload();
        assert_eq!(icmp[0], lowpan::icmpv6::msg_type::ROUTER_ADVERT);
        // SLLAO, PIO, 6CO and ABRO, in that order, right after the RA header.
        assert_eq!(&icmp[16..26], &[1, 2, 0x00, 0x12, 0x4b, 0, 0, 0, 0, 1]);
        assert_eq!(
            &icmp[32..36],
            &[3, 4, 64, lowpan::ndisc::PrefixFlags::AUTONOMOUS.0]
        );
        assert_eq!(&icmp[64..72], &[34, 2, 64, 0x10, 0, 0, 0, 60]);
        assert_eq!(&icmp[80..82], &[35, 3]);
        assert_eq!(b.counters().router_solicitations, 1);
        assert_eq!(b.counters().router_advertisements, 1);
        assert_eq!(b.counters().tun_tx_packets, 0);
    }

    /// A mote's RFC 8138 page-1 packet (its RPL option as an RPI-6LoRH) reaches the TUN
    /// with the option restored as a Hop-by-Hop header.
    #[test]
    fn a_page_1_packet_from_a_mote_reaches_the_tun() {
        let mut b = bridge();
        let udp = udp_packet(global(MOTE), "2001:db8::5".parse().unwrap(), 20);
        let rpi = lowpan::rpl::option::RplOptionRepr {
            instance: 0x1e,
            sender_rank: 0x200,
            ..Default::default()
        };
        let mut packet = udp[..40].to_vec();
        packet[6] = ip::next_header::HOP_BY_HOP;
        packet.extend_from_slice(&rpi.hop_by_hop(ip::next_header::UDP));
        packet.extend_from_slice(&udp[40..]);
        let plen = (packet.len() - 40) as u16;
        packet[4..6].copy_from_slice(&plen.to_be_bytes());
        let mut enc = lowpan::Encoder::new(ContextTable::with_prefix(prefix(), 64));
        let links = LinkAddrs {
            src: Address::Extended(MOTE),
            dst: Address::Extended(OWN),
        };
        let header = FrameRepr::data(PAN, links.src, links.dst, 0, true);
        let payloads = enc
            .encode_rfc8138(
                &packet,
                links,
                mac::max_frame_payload(&header),
                "fd00:aaaa::1".parse().unwrap(),
            )
            .unwrap();
        assert_eq!(payloads[0][0], lowpan::rpl::lorh::PAGE_1);
        let out = b.handle_radio_frame(
            Instant::now(),
            &mac::build_data_frame(&header, &payloads[0]),
        );
        assert_eq!(out.to_tun.map(|p| p.into_inner()), Some(packet));
    }

    /// Every RA carries our SLLAO. The multicast one and one to a short address leave in one
    /// 802.15.4 frame (127 bytes with the FCS), one to an extended address in two fragments.
    #[test]
    fn router_advertisements_carry_the_sllao() {
        let cases = [
            (ip::link_local_from_eui64(MOTE), Address::Extended(MOTE), 2),
            (nd::ALL_NODES, Address::BROADCAST, 1),
            ("fe80::ff:fe00:2".parse().unwrap(), Address::Short(2), 1),
        ];
        for (dst_ip, dst_link, frame_count) in cases {
            let mut b = bridge();
            let frames = b.advertise(dst_ip, dst_link);
            assert_eq!(frames.len(), frame_count, "RA to {dst_ip}");
            assert!(
                frames
                    .iter()
                    .all(|f| f.len() + mac::FCS_LEN <= mac::MAX_PSDU)
            );
            let (repr, payload) = mac::parse_frame(&frames[0]).unwrap();
            assert_eq!(repr.dst_addr, dst_link);
            assert_eq!(
                payload[0] & 0xf8 == lowpan::frag::FRAG1_DISPATCH,
                frame_count > 1,
                "fragmented"
            );
            let ra = mote_receive(&frames).unwrap();
            let v = Ipv6Packet::new_checked(&ra[..]).unwrap();
            let icmp = ip::Icmpv6Packet::new_checked(v.payload()).unwrap();
            let repr = Icmpv6Repr::parse(&v.src_addr(), &v.dst_addr(), &icmp);
            let Ok(Icmpv6Repr::Ndisc(lowpan::NdiscRepr::RouterAdvert {
                lladdr,
                prefix_infos,
                contexts,
                abro,
                ..
            })) = repr
            else {
                panic!("not an RA: {repr:?}");
            };
            assert_eq!(
                lladdr,
                Some(lowpan::ndisc::LinkLayerAddress::Eui64(OWN)),
                "RA to {dst_ip}"
            );
            assert_eq!(
                (prefix_infos.len(), contexts.len(), abro.is_some()),
                (1, 1, true)
            );
        }
    }

    #[test]
    fn rs_from_unspecified_source_gets_multicast_ra() {
        let mut b = bridge();
        let rs = crate::nd::tests::rs_packet(Ipv6Addr::UNSPECIFIED, 255);
        let frames = mote_frames(MOTE, Address::BROADCAST, &rs);
        let out = b.handle_radio_frame(Instant::now(), &frames[0]);
        let (repr, _) = mac::parse_frame(&out.frames[0]).unwrap();
        assert_eq!(repr.dst_addr, Address::BROADCAST);
        assert!(!repr.ack_request);
        let ra = mote_receive(&out.frames).unwrap();
        assert_eq!(
            Ipv6Packet::new_checked(&ra[..]).unwrap().dst_addr(),
            nd::ALL_NODES
        );
    }

    #[test]
    fn tun_packet_is_fragmented_framed_and_reassembles() {
        let mut b = bridge();
        let packet = udp_packet("fd00:aaaa::1".parse().unwrap(), global(MOTE), 1000);
        let frames = b.handle_tun_packet(Instant::now(), &packet);
        assert!(frames.len() > 1, "1048 bytes need fragments");
        let mut expected_seq = 250u8;
        for f in &frames {
            assert!(
                f.len() <= mac::MAX_FRAME_NO_FCS,
                "frame of {} bytes",
                f.len()
            );
            let (repr, _) = mac::parse_frame(f).unwrap();
            assert_eq!(
                repr.sequence_number, expected_seq,
                "sequence numbers increment (and wrap)"
            );
            expected_seq = expected_seq.wrapping_add(1);
            assert_eq!(repr.dst_addr, Address::Extended(MOTE));
            assert_eq!(repr.src_addr, Address::Extended(OWN));
            assert!(repr.ack_request, "unicast asks for an ACK");
            assert!(repr.pan_id_compression);
            assert_eq!(repr.version, 1);
        }
        assert_eq!(mote_receive(&frames), Some(packet));
        assert_eq!(b.counters().radio_tx_frames, frames.len() as u64);
        assert_eq!(
            b.neighbours()
                .get(&Address::Extended(MOTE))
                .unwrap()
                .stats
                .tx_frames,
            frames.len() as u64
        );
    }

    #[test]
    fn small_packet_to_short_address_and_link_local() {
        let mut b = bridge();
        let short_ip: Ipv6Addr = "fd00:aaaa::ff:fe00:2".parse().unwrap();
        let p = udp_packet("fd00:aaaa::1".parse().unwrap(), short_ip, 10);
        let frames = b.handle_tun_packet(Instant::now(), &p);
        assert_eq!(frames.len(), 1);
        assert_eq!(
            mac::parse_frame(&frames[0]).unwrap().0.dst_addr,
            Address::Short(2)
        );
        assert_eq!(mote_receive(&frames), Some(p));

        let ll = ip::link_local_from_eui64(MOTE);
        let p = udp_packet("fe80::1".parse().unwrap(), ll, 10);
        let frames = b.handle_tun_packet(Instant::now(), &p);
        assert_eq!(
            mac::parse_frame(&frames[0]).unwrap().0.dst_addr,
            Address::Extended(MOTE)
        );
    }

    #[test]
    fn unknown_mote_is_dropped_and_counted() {
        let mut b = bridge();
        let p = udp_packet("fd00:aaaa::1".parse().unwrap(), global(STRANGER), 10);
        assert!(b.handle_tun_packet(Instant::now(), &p).is_empty());
        assert_eq!(b.counters().dropped("unknown_mote"), 1);
        let p = udp_packet(
            "fd00:aaaa::1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            10,
        );
        assert!(b.handle_tun_packet(Instant::now(), &p).is_empty());
        assert_eq!(b.counters().dropped("no_route"), 1);
    }

    #[test]
    fn multicast_goes_to_broadcast_without_ack_request() {
        let mut b = bridge();
        let p = udp_packet("fe80::1".parse().unwrap(), "ff02::1".parse().unwrap(), 20);
        let frames = b.handle_tun_packet(Instant::now(), &p);
        assert_eq!(frames.len(), 1);
        let (repr, _) = mac::parse_frame(&frames[0]).unwrap();
        assert_eq!(repr.dst_addr, Address::BROADCAST);
        assert_eq!(repr.dst_pan, Some(PAN));
        assert!(!repr.ack_request, "no ACK request for broadcast");
        assert_eq!(mote_receive(&frames), Some(p));
        let p = udp_packet(
            "fd00:aaaa::1".parse().unwrap(),
            "ff05::1".parse().unwrap(),
            20,
        );
        assert!(b.handle_tun_packet(Instant::now(), &p).is_empty());
        assert_eq!(b.counters().dropped("multicast_scope_not_link"), 1);
    }

    /// An MLD message as the kernel sends it: Hop-by-Hop Router Alert, then ICMPv6.
    fn mld_packet(dst: Ipv6Addr, icmp_type: u8) -> Vec<u8> {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let hbh = [ip::next_header::ICMPV6, 0, 5, 2, 0, 0, 1, 0];
        let icmp = [icmp_type, 0, 0, 0, 0, 0, 0, 1];
        let mut p = vec![
            0x60,
            0,
            0,
            0,
            0,
            (hbh.len() + icmp.len()) as u8,
            ip::next_header::HOP_BY_HOP,
            1,
        ];
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&hbh);
        p.extend_from_slice(&icmp);
        p
    }

    #[test]
    fn mld_listener_messages_from_the_host_are_not_sent_on_the_radio() {
        let mut b = bridge();
        let all_mld_routers: Ipv6Addr = "ff02::16".parse().unwrap();
        let solicited_node: Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
        let all_routers: Ipv6Addr = "ff02::2".parse().unwrap();
        for (dst, t) in [
            (all_mld_routers, 143),
            (solicited_node, 131),
            (all_routers, 132),
        ] {
            assert!(
                b.handle_tun_packet(Instant::now(), &mld_packet(dst, t))
                    .is_empty(),
                "type {t}"
            );
        }
        assert_eq!(b.counters().dropped("tun_mld_not_sent"), 3);
        // Anything else to those groups still goes out.
        let udp = udp_packet("fe80::1".parse().unwrap(), all_mld_routers, 20);
        assert_eq!(b.handle_tun_packet(Instant::now(), &udp).len(), 1);
    }

    #[test]
    fn tun_input_that_cannot_be_bridged_is_counted() {
        let mut b = Bridge::new(BridgeConfig {
            initial_seq: 0,
            ..bridge().cfg.clone()
        });
        let p = udp_packet("fd00:aaaa::1".parse().unwrap(), global(MOTE), 10);
        assert!(b.handle_tun_packet(Instant::now(), &p).is_empty());
        assert_eq!(b.counters().dropped("radio_not_ready"), 1);
        b.set_own_eui64(OWN);
        let mut v4 = p.clone();
        v4[0] = 0x45;
        assert!(b.handle_tun_packet(Instant::now(), &v4).is_empty());
        assert_eq!(b.counters().dropped("tun_not_ipv6"), 1);
        assert!(b.handle_tun_packet(Instant::now(), &p[..30]).is_empty());
        assert!(
            b.handle_tun_packet(Instant::now(), &p[..p.len() - 1])
                .is_empty()
        );
        assert_eq!(b.counters().dropped("tun_bad_ipv6"), 2);
        let big = udp_packet("fd00:aaaa::1".parse().unwrap(), global(MOTE), 1300);
        assert!(b.handle_tun_packet(Instant::now(), &big).is_empty());
        assert_eq!(b.counters().dropped("tun_too_big"), 1);
        assert_eq!(b.counters().tun_rx_packets, 5);
    }

    #[test]
    fn frames_from_motes_reach_the_tun_and_teach_the_neighbour_table() {
        let mut b = bridge();
        let p = udp_packet(global(STRANGER), "2001:db8::1".parse().unwrap(), 300);
        let frames = mote_frames(STRANGER, Address::Extended(OWN), &p);
        assert!(frames.len() > 1);
        let now = Instant::now();
        let mut got = None;
        for f in &frames {
            let out = b.handle_radio_frame(now, f);
            assert!(out.frames.is_empty());
            if out.to_tun.is_some() {
                got = out.to_tun.map(CheckedIpv6Packet::into_inner);
            }
        }
        assert_eq!(got, Some(p));
        assert_eq!(b.counters().motes_learned, 1);
        assert_eq!(b.counters().tun_tx_packets, 1);
        // Now the stranger is reachable.
        let reply = udp_packet("2001:db8::1".parse().unwrap(), global(STRANGER), 10);
        assert_eq!(b.handle_tun_packet(now, &reply).len(), 1);
        assert_eq!(b.counters().dropped("unknown_mote"), 0);
    }

    #[test]
    fn radio_frames_not_for_us_or_malformed_are_counted() {
        let mut b = bridge();
        let now = Instant::now();
        let p = udp_packet(global(MOTE), "2001:db8::1".parse().unwrap(), 10);
        let to_other = mote_frames(MOTE, Address::Extended(STRANGER), &p);
        assert_eq!(
            b.handle_radio_frame(now, &to_other[0]),
            RadioOutput::default()
        );
        let mut other_pan = mote_frames(MOTE, Address::Extended(OWN), &p)[0].clone();
        other_pan[3] = 0x11; // dst PAN low byte
        b.handle_radio_frame(now, &other_pan);
        assert_eq!(b.counters().dropped("not_for_us"), 2);
        b.handle_radio_frame(now, &mac::imm_ack(5, false));
        assert_eq!(b.counters().dropped("mac_not_data"), 1);
        b.handle_radio_frame(now, &[0x41]);
        assert_eq!(b.counters().dropped("mac_truncated"), 1);
        // Our own frame reflected back.
        let own = mote_frames(OWN, Address::BROADCAST, &p);
        b.handle_radio_frame(now, &own[0]);
        assert_eq!(b.counters().dropped("own_frame"), 1);
        // A data frame with a payload that is not 6LoWPAN.
        let header = FrameRepr::data(
            PAN,
            Address::Extended(MOTE),
            Address::Extended(OWN),
            1,
            true,
        );
        b.handle_radio_frame(now, &mac::build_data_frame(&header, &[0x00, 1, 2, 3]));
        assert_eq!(b.counters().dropped("not_lowpan"), 1);
        assert_eq!(b.counters().tun_tx_packets, 0);
    }

    #[test]
    fn partial_datagrams_expire_and_are_counted() {
        let mut b = bridge();
        let p = udp_packet(global(MOTE), "2001:db8::1".parse().unwrap(), 300);
        let frames = mote_frames(MOTE, Address::Extended(OWN), &p);
        let t0 = Instant::now();
        assert_eq!(b.handle_radio_frame(t0, &frames[0]).to_tun, None);
        let deadline = b.poll_timeout().expect("a partial datagram arms the timer");
        b.handle_timeout(deadline + Duration::from_secs(1));
        assert_eq!(b.counters().reassembly_timeouts, 1);
        assert_eq!(b.counters().dropped("reassembly_timeout"), 1);
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn evicted_partial_datagrams_are_counted() {
        let mut b = bridge();
        let p = udp_packet(global(MOTE), "2001:db8::1".parse().unwrap(), 1000);
        let first = mote_frames(MOTE, Address::Extended(OWN), &p).swap_remove(0);
        let t0 = Instant::now();
        // The per-source cap holds 4 partial datagrams; 10 more FRAG1s evict the stalest.
        let mac_len = FrameRepr::data(
            PAN,
            Address::Extended(MOTE),
            Address::Extended(OWN),
            0,
            true,
        )
        .buffer_len();
        for tag in 100..114u8 {
            let mut f = first.clone();
            f[mac_len + 3] = tag; // low byte of the FRAG1's datagram_tag
            assert_eq!(b.handle_radio_frame(t0, &f).to_tun, None);
        }
        assert_eq!(b.counters().dropped("reassembly_evicted"), 10);
        assert_eq!(b.counters().dropped("reassembly_memory"), 0);
        // The real datagram still completes.
        let frames = mote_frames(MOTE, Address::Extended(OWN), &p);
        let mut out = None;
        for f in &frames {
            out = b
                .handle_radio_frame(t0, f)
                .to_tun
                .map(CheckedIpv6Packet::into_inner);
        }
        assert_eq!(out.as_deref(), Some(&p[..]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn arbitrary_radio_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b = bridge();
            let now = Instant::now();
            let out = b.handle_radio_frame(now, &bytes);
            for f in out.frames { prop_assert!(f.len() <= mac::MAX_FRAME_NO_FCS); }
            b.handle_timeout(now + Duration::from_secs(120));
        }

        #[test]
        fn arbitrary_frames_for_us_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..104)) {
            let mut b = bridge();
            let header = FrameRepr::data(PAN, Address::Extended(MOTE), Address::Extended(OWN), 1, true);
            let _ = b.handle_radio_frame(Instant::now(), &mac::build_data_frame(&header, &payload));
        }

        #[test]
        fn arbitrary_tun_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
            let mut b = bridge();
            if bytes.len() >= 40 {
                // Make many of them look like IPv6 to the mote so they get past the first checks.
                bytes[0] = 0x60;
                let len = (bytes.len() - 40) as u16;
                bytes[4..6].copy_from_slice(&len.to_be_bytes());
                bytes[24..40].copy_from_slice(&global(MOTE).octets());
            }
            for f in b.handle_tun_packet(Instant::now(), &bytes) {
                prop_assert!(f.len() <= mac::MAX_FRAME_NO_FCS);
            }
        }
    }
}
