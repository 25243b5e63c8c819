//! One emulated mote: an IEEE 802.15.4 node running 6LoWPAN (the team's `lowpan` codec,
//! fragmentation both ways), a host's share of Neighbour Discovery (RS at start and until
//! an RA arrives; prefix and context 0 from the RA), ICMPv6 echo, and UDP services from a
//! port table (echo on 7, CoAP on 5683). A mote may also be one of the paper's DTLS
//! devices ([`secure`]: delegated, DCert, CDPSK), which then owns the DTLS ports (5684,
//! and the transfer port 5685 of a delegated mote).
//!
//! Sans-IO: frames (802.15.4 without FCS) and time in, frames out, one deadline. The mote
//! never sees FCS, ACKs or retries: the channel model does those.

pub mod coap;
pub mod rpl;
pub mod secure;
pub mod service;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use lowpan::UdpRepr;
use lowpan::icmpv6::{DstUnreachable, Icmpv6Repr, msg_type};
use lowpan::ieee802154::{self, Address, Eui64, FrameRepr, FrameType};
use lowpan::ip::{self, Icmpv6Packet, Ipv6Packet, UdpPacket, next_header};
use lowpan::iphc::{Context, ContextTable};
use lowpan::ndisc::dar::{self, DuplicateAddress};
use lowpan::ndisc::{
    ALL_NODES, ALL_ROUTERS, AddressRegistration, AuthoritativeBorderRouter, LinkLayerAddress,
    NdiscRepr, NeighborFlags, PrefixFlags, PrefixInformation, RouterFlags, SixLowpanContext,
    aro_status,
};
use lowpan::{Encoder, LinkAddrs, Reassembler};

use crate::dedupe::{DEFAULT_LIFETIME, DuplicateFilter};
use secure::{DeviceKind, SecureDevice, SecurityCounters};
use service::{Echo, Peer, PortTable};

/// UDP echo port (RFC 862).
pub const ECHO_PORT: u16 = 7;
/// CoAP port (RFC 7252).
pub const COAP_PORT: u16 = 5683;

/// First Router Solicitation retry interval (RFC 4861 RTR_SOLICITATION_INTERVAL).
const RS_INTERVAL: Duration = Duration::from_secs(4);
/// Retries back off to this and continue until an RA arrives (the border router may
/// start after the motes).
const RS_MAX_INTERVAL: Duration = Duration::from_secs(30);
/// A 6LoWPAN host's NS with ARO is sent again after this until an NA answers.
const REGISTRATION_RETRY: Duration = Duration::from_secs(5);
/// IPv6 minimum MTU: what we answer with and what an ICMP error may quote.
const IPV6_MIN_MTU: usize = 1280;
/// Hosts a 6LoWPAN router keeps registrations for.
const MAX_HOSTS: usize = 16;

/// Static description of a mote.
#[derive(Clone, Debug)]
pub struct MoteConfig {
    /// 1-based position, for names and to make sensor readings differ.
    pub index: u32,
    pub eui64: Eui64,
    pub pan_id: u16,
    /// The border router's link address (the slip-radio's EUI-64): the default route
    /// until an RA names another.
    pub router: Eui64,
    /// A configured global prefix (/64). Without one the mote takes it from the RA.
    pub prefix: Option<Ipv6Addr>,
    /// An RPL router or leaf ([`rpl`]): joins from DIOs instead of sending RSs.
    pub rpl: bool,
    /// A 6LoWPAN host (RFC 6775): the global address from the RA stays tentative until
    /// the router's NA answers its NS with ARO (this lifetime, minutes) with status 0, and
    /// is registered again before the lifetime ends. `None`: used at once, never
    /// registered.
    pub register_lifetime_min: Option<u16>,
    /// A 6LoWPAN router (RFC 6775 6LR) for the hosts that hear it: answers their RSs with
    /// the border router's prefix, context and ABRO, relays their registrations to the
    /// border router as DARs and its DACs back as NAs, and forwards their packets.
    pub sixlowpan_router: bool,
}

/// What a mote did, for the statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MoteCounters {
    pub frames_in: u64,
    pub bytes_in: u64,
    pub frames_out: u64,
    pub bytes_out: u64,
    /// Frames that carried a 6LoWPAN fragment (FRAG1 or FRAGN header), received and sent;
    /// a datagram that fits one frame is not fragmented and not counted here.
    pub fragments_in: u64,
    pub fragments_out: u64,
    /// Frames (and their bytes) of the UDP datagrams to or from the ports the mote's DTLS
    /// device owns (5684, a delegated mote's transfer port): its handshakes and sessions,
    /// without Neighbour Discovery and other services. A fragmented datagram's frames count
    /// when it is complete.
    pub secure_frames_in: u64,
    pub secure_bytes_in: u64,
    pub secure_frames_out: u64,
    pub secure_bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub echo_requests: u64,
    pub rs_sent: u64,
    pub ra_received: u64,
    /// NS with ARO sent, and NAs that accepted the registration (status 0).
    pub registrations_sent: u64,
    pub registrations_accepted: u64,
    /// 6LR: registrations relayed to the border router (DARs) and packets forwarded for
    /// the hosts.
    pub registrations_relayed: u64,
    pub forwarded: u64,
    /// Datagrams served per UDP service name ("echo", "coap", ...).
    pub served: BTreeMap<&'static str, u64>,
    /// Dropped input by stable reason name.
    pub drops: BTreeMap<&'static str, u64>,
}

impl MoteCounters {
    fn drop(&mut self, reason: MoteDrop) {
        *self.drops.entry(reason.as_str()).or_default() += 1;
    }
}

/// Why a mote dropped a frame or packet. [`MoteDrop::as_str`] names are stable (stats file and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoteDrop {
    /// 6LoWPAN decompression or reassembly refused the frame.
    Decode(lowpan::DecodeError),
    /// A UDP or ICMPv6 checksum that does not verify.
    BadChecksum,
    /// A frame whose 802.15.4 header does not parse.
    BadFrame,
    /// An ICMPv6 message that does not parse.
    BadIcmpv6,
    /// An IPv6 header that does not parse or match.
    BadIpv6,
    /// A Neighbor Solicitation that does not parse.
    BadNeighborSolicitation,
    /// A Router Advertisement that does not parse.
    BadRouterAdvert,
    /// A UDP header that does not parse.
    BadUdp,
    /// DTLS to a multicast address.
    DtlsToMulticast,
    /// A frame already received (same source and sequence number).
    Duplicate,
    /// 6LoWPAN compression or fragmentation failed.
    EncodeFailed,
    /// An ICMPv6 type the mote ignores.
    Icmpv6Ignored,
    /// A frame that is not a data frame.
    NotData,
    /// A frame for another PAN or node.
    NotForUs,
    /// A packet for another address.
    NotOurAddress,
    /// A frame the mote sent itself.
    OwnFrame,
    /// A reply that does not fit the frames a mote may send.
    ReplyTooBig,
    /// UDP to a port without a service.
    UdpNoService,
    /// A next header the mote does not handle.
    UnsupportedNextHeader,
    /// A partial datagram not completed in time.
    ReassemblyTimeout,
    /// The secure device could not be set up.
    DeviceSetupFailed,
    /// The router refused our address registration (duplicate, neighbour cache full).
    RegistrationRefused,
}

impl MoteDrop {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MoteDrop::Decode(e) => e.as_str(),
            MoteDrop::BadChecksum => "bad_checksum",
            MoteDrop::BadFrame => "bad_frame",
            MoteDrop::BadIcmpv6 => "bad_icmpv6",
            MoteDrop::BadIpv6 => "bad_ipv6",
            MoteDrop::BadNeighborSolicitation => "bad_neighbor_solicitation",
            MoteDrop::BadRouterAdvert => "bad_router_advert",
            MoteDrop::BadUdp => "bad_udp",
            MoteDrop::DtlsToMulticast => "dtls_to_multicast",
            MoteDrop::Duplicate => "duplicate",
            MoteDrop::EncodeFailed => "encode_failed",
            MoteDrop::Icmpv6Ignored => "icmpv6_ignored",
            MoteDrop::NotData => "not_data",
            MoteDrop::NotForUs => "not_for_us",
            MoteDrop::NotOurAddress => "not_our_address",
            MoteDrop::OwnFrame => "own_frame",
            MoteDrop::ReplyTooBig => "reply_too_big",
            MoteDrop::UdpNoService => "udp_no_service",
            MoteDrop::UnsupportedNextHeader => "unsupported_next_header",
            MoteDrop::ReassemblyTimeout => "reassembly_timeout",
            MoteDrop::DeviceSetupFailed => "device_setup_failed",
            MoteDrop::RegistrationRefused => "registration_refused",
        }
    }
}

/// The mote state machine.
pub struct Mote {
    cfg: MoteConfig,
    router: Eui64,
    global: Option<Ipv6Addr>,
    contexts: ContextTable,
    encoder: Encoder,
    reassembler: Reassembler,
    dedupe: DuplicateFilter,
    ports: PortTable,
    /// The security personality (DTLS ports), if the mote is not a plain one.
    device: Option<Box<dyn SecureDevice>>,
    seq: u8,
    /// Frames and bytes received so far of datagrams still being reassembled, by link
    /// source and datagram tag (a few at a time; the oldest is forgotten first).
    partial: Vec<(Address, u16, u64, u64)>,
    next_rs: Option<Instant>,
    rs_interval: Duration,
    /// 6LoWPAN host: the address waiting for its registration to be accepted, the router
    /// it registers with (the RA's source) and when the next NS with ARO is due.
    tentative: Option<Ipv6Addr>,
    registrar: Option<Ipv6Addr>,
    next_registration: Option<Instant>,
    counters: MoteCounters,
    rpl: Option<rpl::RplNode>,
    /// The border router's ABRO, from its RA: where a 6LR sends its DARs.
    abro: Option<AuthoritativeBorderRouter>,
    /// A 6LR's hosts whose registration the border router confirmed: address -> link.
    hosts: HashMap<Ipv6Addr, Eui64>,
}

impl std::fmt::Debug for Mote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mote")
            .field("cfg", &self.cfg)
            .field("global", &self.global)
            .finish_non_exhaustive()
    }
}

impl Mote {
    /// A mote that boots at `now`: its first Router Solicitation is due at once.
    pub fn new(cfg: MoteConfig, now: Instant) -> Self {
        let contexts = match cfg.prefix {
            Some(p) => ContextTable::with_prefix(p, 64),
            None => ContextTable::new(),
        };
        let mut ports = PortTable::default();
        ports.bind(ECHO_PORT, Box::new(Echo));
        ports.bind(COAP_PORT, Box::new(coap::CoapServer::new(cfg.index)));
        Mote {
            router: cfg.router,
            global: cfg
                .prefix
                .map(|p| with_iid(p, ip::iid_from_eui64(cfg.eui64))),
            // Distinct initial tags keep fragments of different motes apart in captures.
            encoder: Encoder::with_initial_tag(
                contexts.clone(),
                (cfg.index as u16).wrapping_mul(0x1000),
            ),
            reassembler: Reassembler::new(contexts.clone()),
            contexts,
            dedupe: DuplicateFilter::new(32, DEFAULT_LIFETIME),
            ports,
            device: None,
            seq: (cfg.index as u8).wrapping_mul(37),
            partial: Vec::new(),
            next_rs: (!cfg.rpl).then_some(now),
            rs_interval: RS_INTERVAL,
            tentative: None,
            registrar: None,
            next_registration: None,
            counters: MoteCounters::default(),
            rpl: cfg.rpl.then(|| rpl::RplNode::new(cfg.eui64, now)),
            abro: None,
            hosts: HashMap::new(),
            cfg,
        }
    }

    pub fn eui64(&self) -> Eui64 {
        self.cfg.eui64
    }

    pub fn config(&self) -> &MoteConfig {
        &self.cfg
    }

    pub fn link_local(&self) -> Ipv6Addr {
        ip::link_local_from_eui64(self.cfg.eui64)
    }

    /// prefix::IID once a prefix is known.
    pub fn global(&self) -> Option<Ipv6Addr> {
        self.global
    }

    /// The link address packets leave through (the border router).
    pub fn router(&self) -> Eui64 {
        self.router
    }

    pub fn counters(&self) -> &MoteCounters {
        &self.counters
    }

    /// The RPL side of an RPL mote.
    pub fn rpl(&self) -> Option<&rpl::RplNode> {
        self.rpl.as_ref()
    }

    /// Bind a UDP service (a later DTLS mode binds 5684 here).
    pub fn bind(&mut self, port: u16, svc: Box<dyn service::UdpService>) {
        self.ports.bind(port, svc);
    }

    /// Make this mote a DTLS device (delegated, DCert, CDPSK); it takes the ports it owns.
    pub fn set_device(&mut self, device: Box<dyn SecureDevice>) {
        self.device = Some(device);
    }

    pub fn device_kind(&self) -> DeviceKind {
        self.device.as_ref().map_or(DeviceKind::Plain, |d| d.kind())
    }

    /// The device's counters (all zero for a plain mote).
    pub fn security_counters(&self) -> SecurityCounters {
        self.device
            .as_ref()
            .map(|d| d.counters().clone())
            .unwrap_or_default()
    }

    /// Count a problem found while setting the mote up (a device that could not start).
    pub fn count_drop(&mut self, reason: MoteDrop) {
        self.counters.drop(reason);
    }

    /// The next time [`Mote::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let rpl = self.rpl.as_ref().and_then(rpl::RplNode::poll_timeout);
        let own = [
            self.next_rs,
            self.reassembler.poll_timeout(),
            rpl,
            self.next_registration,
        ]
        .into_iter()
        .flatten()
        .min();
        secure::min_deadline(own, self.device.as_ref().and_then(|d| d.poll_timeout()))
    }

    /// The PAN the mote's deployment uses (follows the radio's when the host sets it).
    pub fn set_pan_id(&mut self, pan: u16) {
        self.cfg.pan_id = pan;
    }

    /// Timers: Router Solicitation retries, reassembly expiry. Returns frames to send.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if self.next_rs.is_some_and(|t| t <= now) {
            self.counters.rs_sent += 1;
            let rs = router_solicitation(self.cfg.eui64);
            let packet = icmp_packet(self.link_local(), ALL_ROUTERS, 255, &rs);
            self.send_ipv6(&packet, &mut out);
            self.next_rs = Some(now + self.rs_interval);
            self.rs_interval = (self.rs_interval * 2).min(RS_MAX_INTERVAL);
        }
        if self.next_registration.is_some_and(|t| t <= now) {
            self.register(now, &mut out);
        }
        if let Some(r) = self.rpl.as_mut()
            && r.poll_timeout().is_some_and(|t| t <= now)
        {
            for packet in r.handle_timeout(now) {
                self.send_ipv6(&packet, &mut out);
            }
        }
        if self.reassembler.poll_timeout().is_some_and(|t| t <= now) {
            let dropped = self.reassembler.expire(now) as u64;
            if dropped > 0 {
                *self
                    .counters
                    .drops
                    .entry(MoteDrop::ReassemblyTimeout.as_str())
                    .or_default() += dropped;
            }
        }
        if let Some(d) = self.device.as_mut()
            && d.poll_timeout().is_some_and(|t| t <= now)
        {
            d.handle_timeout(now);
        }
        self.drain_device(now, &mut out);
        out
    }

    /// Send what the device may send now, from the address its peer reaches us at.
    fn drain_device(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        let mut sent = Vec::new();
        if let Some(d) = self.device.as_mut() {
            while let Some(dg) = d.poll_transmit(now) {
                sent.push(dg);
            }
        }
        for dg in sent {
            if dg.payload.len() + ip::UDP_HEADER_LEN + ip::IPV6_HEADER_LEN > IPV6_MIN_MTU {
                self.counters.drop(MoteDrop::ReplyTooBig);
                continue;
            }
            let from = if dg.peer.addr.is_unicast_link_local() {
                self.link_local()
            } else {
                self.global.unwrap_or(self.link_local())
            };
            let packet = udp_packet(from, dg.local_port, dg.peer.addr, dg.peer.port, &dg.payload);
            self.send_ipv6(&packet, out);
        }
    }

    /// A frame (no FCS) the radio received. Returns frames to send.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let Ok((repr, payload)) = ieee802154::parse_frame(frame) else {
            self.counters.drop(MoteDrop::BadFrame);
            return out;
        };
        if repr.frame_type != FrameType::Data {
            self.counters.drop(MoteDrop::NotData);
            return out;
        }
        let for_us = match repr.dst_addr {
            Address::Extended(e) => e == self.cfg.eui64,
            Address::Short(s) => s == 0xffff,
            Address::Absent => false,
        };
        let pan_ok = matches!(repr.dst_pan, Some(p) if p == self.cfg.pan_id || p == 0xffff);
        if !for_us || !pan_ok {
            self.counters.drop(MoteDrop::NotForUs);
            return out;
        }
        if repr.src_addr == Address::Extended(self.cfg.eui64) {
            self.counters.drop(MoteDrop::OwnFrame);
            return out;
        }
        if self
            .dedupe
            .is_duplicate(now, repr.src_addr, repr.sequence_number)
        {
            self.counters.drop(MoteDrop::Duplicate);
            return out;
        }
        self.counters.frames_in += 1;
        self.counters.bytes_in += frame.len() as u64;
        if is_fragment(payload) {
            self.counters.fragments_in += 1;
        }
        let links = LinkAddrs {
            src: repr.src_addr,
            dst: repr.dst_addr,
        };
        let (frames, bytes) = self.frames_of_datagram(repr.src_addr, payload, frame.len() as u64);
        match self.reassembler.accept(now, links, payload) {
            Ok(Some(packet)) => {
                if is_fragment(payload) && payload.len() >= 4 {
                    let tag = u16::from_be_bytes([payload[2], payload[3]]);
                    self.partial
                        .retain(|p| !(p.0 == repr.src_addr && p.1 == tag));
                }
                if self.is_secure_datagram(&packet) {
                    self.counters.secure_frames_in += frames;
                    self.counters.secure_bytes_in += bytes;
                }
                self.handle_ipv6(now, &packet, repr.src_addr, &mut out)
            }
            Ok(None) => {}
            Err(e) => self.counters.drop(MoteDrop::Decode(e)),
        }
        out
    }

    /// The frames and bytes of the datagram this frame completes (or belongs to): one for
    /// an unfragmented frame; for a fragment, its datagram's so far, this one included.
    fn frames_of_datagram(&mut self, src: Address, payload: &[u8], len: u64) -> (u64, u64) {
        const PARTIAL_LIMIT: usize = 8;
        if !is_fragment(payload) || payload.len() < 4 {
            return (1, len);
        }
        let tag = u16::from_be_bytes([payload[2], payload[3]]);
        let i = match self.partial.iter().position(|p| p.0 == src && p.1 == tag) {
            Some(i) => i,
            None => {
                if self.partial.len() >= PARTIAL_LIMIT {
                    self.partial.remove(0);
                }
                self.partial.push((src, tag, 0, 0));
                self.partial.len() - 1
            }
        };
        self.partial[i].2 += 1;
        self.partial[i].3 += len;
        (self.partial[i].2, self.partial[i].3)
    }

    /// UDP to or from a port the DTLS device owns.
    fn is_secure_datagram(&self, packet: &[u8]) -> bool {
        if packet.len() < 44 || packet[6] != next_header::UDP {
            return false;
        }
        let sport = u16::from_be_bytes([packet[40], packet[41]]);
        let dport = u16::from_be_bytes([packet[42], packet[43]]);
        self.device
            .as_ref()
            .is_some_and(|d| d.owns_port(sport) || d.owns_port(dport))
    }

    fn is_ours(&self, a: &Ipv6Addr) -> bool {
        let iid = ip::iid_from_eui64(self.cfg.eui64);
        let o = a.octets();
        *a == self.link_local()
            || Some(*a) == self.global
            || Some(*a) == self.tentative
            || *a == ALL_NODES
            || (self.cfg.sixlowpan_router && *a == ALL_ROUTERS)
            || (self.rpl.is_some() && *a == lowpan::rpl::ALL_RPL_NODES)
            // Solicited-node multicast ff02::1:ffXX:XXXX of our IID.
            || (o[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff] && o[13..] == iid[5..])
    }

    /// Our address to answer from when a packet was sent to `dst` by `peer`.
    fn source_for(&self, dst: Ipv6Addr, peer: Ipv6Addr) -> Ipv6Addr {
        if !dst.is_multicast() {
            return dst;
        }
        if peer.is_unicast_link_local() {
            self.link_local()
        } else {
            self.global.unwrap_or(self.link_local())
        }
    }

    fn handle_ipv6(
        &mut self,
        now: Instant,
        packet: &[u8],
        link_src: Address,
        out: &mut Vec<Vec<u8>>,
    ) {
        let routed;
        let packet = match self.rpl.is_some() {
            false => packet,
            true => {
                let (ll, global, iid) = (
                    self.link_local(),
                    self.global,
                    ip::iid_from_eui64(self.cfg.eui64),
                );
                let ours = |a: &Ipv6Addr| {
                    let o = a.octets();
                    *a == ll
                        || Some(*a) == global
                        || a.is_multicast()
                            && (o[1] & 0x0f) <= 2
                            && (o[..13] != [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
                                || o[13..] == iid[5..])
                };
                let Some(r) = self.rpl.as_mut() else { return };
                match r.route(packet, ours) {
                    rpl::Routing::Deliver(p) => {
                        routed = p;
                        &routed[..]
                    }
                    rpl::Routing::Forward { packet, next } => {
                        self.send_frames(&packet, Address::Extended(next), out);
                        return;
                    }
                    rpl::Routing::Drop => {
                        self.counters.drop(MoteDrop::NotOurAddress);
                        return;
                    }
                }
            }
        };
        let Ok(ipv6) = Ipv6Packet::new_checked(packet) else {
            self.counters.drop(MoteDrop::BadIpv6);
            return;
        };
        let (src, dst) = (ipv6.src_addr(), ipv6.dst_addr());
        if self.cfg.sixlowpan_router && !self.is_ours(&dst) {
            self.forward_for_hosts(packet, link_src, out);
            return;
        }
        if !self.is_ours(&dst) {
            self.counters.drop(MoteDrop::NotOurAddress);
            return;
        }
        let nh = ipv6.next_header();
        let body = ipv6.payload();
        if (nh == next_header::ICMPV6 || nh == next_header::UDP)
            && !ip::verify_checksum(&src, &dst, nh, body)
        {
            self.counters.drop(MoteDrop::BadChecksum);
            return;
        }
        // A tentative address receives nothing but the answer to its registration.
        let is_na = nh == next_header::ICMPV6 && body.first() == Some(&msg_type::NEIGHBOR_ADVERT);
        if Some(dst) == self.tentative && !is_na {
            self.counters.drop(MoteDrop::NotOurAddress);
            return;
        }
        self.counters.packets_in += 1;
        if nh == next_header::ICMPV6 && body.first() == Some(&lowpan::rpl::ICMPV6_RPL) {
            self.handle_rpl_control(now, src, dst, body, link_src, out);
            return;
        }
        match nh {
            next_header::ICMPV6 => self.handle_icmp(now, &ipv6, link_src, out),
            next_header::UDP => self.handle_udp(now, &ipv6, out),
            _ => self.counters.drop(MoteDrop::UnsupportedNextHeader),
        }
    }

    fn handle_icmp(
        &mut self,
        now: Instant,
        ipv6: &Ipv6Packet<&[u8]>,
        link_src: Address,
        out: &mut Vec<Vec<u8>>,
    ) {
        let (src, dst) = (ipv6.src_addr(), ipv6.dst_addr());
        let msg = ipv6.payload();
        let Ok(icmp) = Icmpv6Packet::new_checked(msg) else {
            self.counters.drop(MoteDrop::BadIcmpv6);
            return;
        };
        match (icmp.msg_type(), icmp.msg_code()) {
            (msg_type::ECHO_REQUEST, 0) => {
                self.counters.echo_requests += 1;
                let Ok(Icmpv6Repr::EchoRequest {
                    ident,
                    seq_no,
                    data,
                }) = Icmpv6Repr::parse(&src, &dst, &icmp)
                else {
                    self.counters.drop(MoteDrop::BadIcmpv6);
                    return;
                };
                let reply = Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                let packet = icmp_packet(self.source_for(dst, src), src, 64, &reply);
                self.send_ipv6(&packet, out);
            }
            // An RPL mote's default route is its DODAG parent, not whoever advertises.
            (msg_type::ROUTER_ADVERT, 0)
                if ipv6.hop_limit() == 255 && src.is_unicast_link_local() && self.rpl.is_none() =>
            {
                let Ok(Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert {
                    lladdr,
                    prefix_infos,
                    contexts,
                    abro,
                    ..
                })) = Icmpv6Repr::parse(&src, &dst, &icmp)
                else {
                    self.counters.drop(MoteDrop::BadRouterAdvert);
                    return;
                };
                self.apply_router_advert(lladdr, &prefix_infos, &contexts, link_src);
                if abro.is_some() {
                    self.abro = abro;
                }
                if self.cfg.register_lifetime_min.is_some() {
                    self.registrar = Some(src);
                    if self.next_registration.is_none() {
                        self.register(now, out);
                    }
                }
            }
            (msg_type::NEIGHBOR_ADVERT, 0) if ipv6.hop_limit() == 255 => {
                if let Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert { aro: Some(aro), .. })) =
                    Icmpv6Repr::parse(&src, &dst, &icmp)
                    && aro.rovr.eui64() == Some(self.cfg.eui64)
                {
                    self.registration_answered(now, dst, aro.status, aro.lifetime);
                } else {
                    self.counters.drop(MoteDrop::Icmpv6Ignored);
                }
            }
            (msg_type::NEIGHBOR_SOLICIT, 0) if ipv6.hop_limit() == 255 => {
                let Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
                    target_addr, aro, ..
                })) = Icmpv6Repr::parse(&src, &dst, &icmp)
                else {
                    self.counters.drop(MoteDrop::BadNeighborSolicitation);
                    return;
                };
                if self.cfg.sixlowpan_router
                    && let Some(aro) = aro
                    && !src.is_unspecified()
                    && !src.is_unicast_link_local()
                    && !self.is_ours(&src)
                {
                    self.relay_registration(src, &aro, out);
                    return;
                }
                let target = target_addr;
                if target.is_multicast() || !self.is_ours(&target) {
                    return;
                }
                let solicited = !src.is_unspecified();
                let to = if solicited { src } else { ALL_NODES };
                let flags = if solicited {
                    NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE
                } else {
                    NeighborFlags::OVERRIDE
                };
                let na = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                    flags,
                    target_addr: target,
                    lladdr: Some(LinkLayerAddress::Eui64(self.cfg.eui64)),
                    aro: None,
                });
                let packet = icmp_packet(target, to, 255, &na);
                self.send_ipv6(&packet, out);
            }
            (msg_type::ROUTER_SOLICIT, 0)
                if ipv6.hop_limit() == 255 && self.cfg.sixlowpan_router =>
            {
                self.advertise_to_host(src, out);
            }
            (dar::msg_type::DUPLICATE_ADDRESS_CONFIRMATION, _) if self.cfg.sixlowpan_router => {
                let dac = match Icmpv6Repr::parse(&src, &dst, &icmp) {
                    Ok(Icmpv6Repr::Unknown { msg_code, body, .. }) => {
                        DuplicateAddress::parse(msg_code, body).ok()
                    }
                    _ => None,
                };
                match dac {
                    Some(dac) => self.confirm_registration(&dac, out),
                    None => self.counters.drop(MoteDrop::BadIcmpv6),
                }
            }
            _ => self.counters.drop(MoteDrop::Icmpv6Ignored),
        }
    }

    /// 6LR: an RA to a host that solicited one, with what the border router announced
    /// (prefix, context 0, ABRO) and our link address; nothing before we know it.
    fn advertise_to_host(&mut self, rs_src: Ipv6Addr, out: &mut Vec<Vec<u8>>) {
        let (Some(global), Some(abro), Some(context)) =
            (self.global, self.abro, self.contexts.get(0))
        else {
            self.counters.drop(MoteDrop::Icmpv6Ignored);
            return;
        };
        let prefix = with_iid(global, [0; 8]);
        let ra = Icmpv6Repr::Ndisc(NdiscRepr::RouterAdvert {
            hop_limit: 64,
            flags: RouterFlags::default(),
            router_lifetime: 1800,
            reachable_time: 0,
            retrans_time: 0,
            lladdr: Some(LinkLayerAddress::Eui64(self.cfg.eui64)),
            mtu: None,
            prefix_infos: vec![PrefixInformation {
                prefix_len: 64,
                flags: PrefixFlags::AUTONOMOUS,
                valid_lifetime: 86_400,
                preferred_lifetime: 14_400,
                prefix,
            }],
            contexts: vec![SixLowpanContext {
                context_len: context.len,
                compress: context.compress,
                cid: 0,
                valid_lifetime: abro.valid_lifetime,
                prefix: context.prefix,
            }],
            abro: Some(abro),
        });
        let to = if rs_src.is_unspecified() {
            ALL_NODES
        } else {
            rs_src
        };
        let packet = icmp_packet(self.link_local(), to, 255, &ra);
        self.send_ipv6(&packet, out);
    }

    /// 6LR: a host's NS with ARO for `addr` goes to the border router as a DAR (RFC 6775
    /// section 8.2.1); its DAC answers the host.
    fn relay_registration(
        &mut self,
        addr: Ipv6Addr,
        aro: &AddressRegistration,
        out: &mut Vec<Vec<u8>>,
    ) {
        let (Some(global), Some(abro)) = (self.global, self.abro) else {
            self.counters.drop(MoteDrop::Icmpv6Ignored);
            return;
        };
        let request = DuplicateAddress {
            status: 0,
            tid: aro.tid,
            lifetime: aro.lifetime,
            rovr: aro.rovr,
            registered: addr,
            extended: aro.t,
        };
        let body = request.to_body();
        let msg = Icmpv6Repr::Unknown {
            msg_type: dar::msg_type::DUPLICATE_ADDRESS_REQUEST,
            msg_code: request.code(),
            body: &body,
        };
        let packet = icmp_packet(global, abro.border_router, dar::MULTIHOP_HOPLIMIT, &msg);
        self.counters.registrations_relayed += 1;
        self.send_ipv6(&packet, out);
    }

    /// 6LR: the border router's DAC, passed to the host as the NA to its registration; a
    /// confirmed host is routed to from then on, a refused or expired one no more.
    fn confirm_registration(&mut self, dac: &DuplicateAddress, out: &mut Vec<Vec<u8>>) {
        let Some(host) = dac.rovr.eui64() else {
            self.counters.drop(MoteDrop::Icmpv6Ignored);
            return;
        };
        if dac.status == aro_status::SUCCESS && dac.lifetime > 0 {
            if self.hosts.len() >= MAX_HOSTS && !self.hosts.contains_key(&dac.registered) {
                self.counters.drop(MoteDrop::Icmpv6Ignored);
                return;
            }
            self.hosts.insert(dac.registered, host);
        } else {
            self.hosts.remove(&dac.registered);
        }
        let mut aro = AddressRegistration::aro(dac.status, dac.lifetime, host);
        aro.tid = dac.tid;
        aro.rovr = dac.rovr;
        aro.t = dac.extended;
        let na = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NeighborFlags::SOLICITED | NeighborFlags::ROUTER,
            target_addr: dac.registered,
            lladdr: None,
            aro: Some(aro),
        });
        let packet = icmp_packet(self.link_local(), dac.registered, 255, &na);
        self.send_frames(&packet, Address::Extended(host), out);
    }

    /// 6LR: a packet for one of our hosts goes to it, one from them up to our router.
    fn forward_for_hosts(&mut self, packet: &[u8], link_src: Address, out: &mut Vec<Vec<u8>>) {
        let Ok(view) = Ipv6Packet::new_checked(packet) else {
            return;
        };
        let (src, dst) = (view.src_addr(), view.dst_addr());
        let from_host =
            matches!(link_src, Address::Extended(e) if self.hosts.get(&src) == Some(&e));
        let next = match self.hosts.get(&dst) {
            Some(host) => *host,
            None if from_host && !dst.is_multicast() && !dst.is_unicast_link_local() => self.router,
            None => {
                self.counters.drop(MoteDrop::NotOurAddress);
                return;
            }
        };
        if view.hop_limit() <= 1 {
            self.counters.drop(MoteDrop::NotOurAddress);
            return;
        }
        let mut p = packet.to_vec();
        p[7] -= 1;
        self.counters.forwarded += 1;
        self.send_frames(&p, Address::Extended(next), out);
    }

    /// Sends an NS with ARO for the tentative (or registered) global address to the router,
    /// and retries until an NA answers.
    fn register(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        let (Some(lifetime), Some(router)) = (self.cfg.register_lifetime_min, self.registrar)
        else {
            self.next_registration = None;
            return;
        };
        let Some(addr) = self.tentative.or(self.global) else {
            self.next_registration = None;
            return;
        };
        self.counters.registrations_sent += 1;
        let ns = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr: addr,
            lladdr: Some(LinkLayerAddress::Eui64(self.cfg.eui64)),
            aro: Some(AddressRegistration::aro(0, lifetime, self.cfg.eui64)),
        });
        let packet = icmp_packet(addr, router, 255, &ns);
        self.send_ipv6(&packet, out);
        self.next_registration = Some(now + REGISTRATION_RETRY);
    }

    /// The router's answer to our registration of `addr`.
    fn registration_answered(
        &mut self,
        now: Instant,
        addr: Ipv6Addr,
        status: u8,
        lifetime_min: u16,
    ) {
        if Some(addr) != self.tentative && Some(addr) != self.global {
            self.counters.drop(MoteDrop::Icmpv6Ignored);
            return;
        }
        if status == aro_status::SUCCESS && lifetime_min > 0 {
            self.counters.registrations_accepted += 1;
            self.global = Some(addr);
            self.tentative = None;
            // Again a minute before the lifetime ends (half of it when it is one minute).
            let lifetime = Duration::from_secs(u64::from(lifetime_min) * 60);
            let margin = Duration::from_secs(60).min(lifetime / 2);
            self.next_registration = Some(now + lifetime - margin);
        } else {
            // Refused (duplicate, cache full): the address is not ours to use.
            self.counters.drop(MoteDrop::RegistrationRefused);
            self.global = None;
            self.tentative = None;
            self.next_registration = None;
        }
    }

    fn apply_router_advert(
        &mut self,
        lladdr: Option<LinkLayerAddress>,
        prefix_infos: &[PrefixInformation],
        contexts: &[SixLowpanContext],
        link_src: Address,
    ) {
        self.counters.ra_received += 1;
        self.next_rs = None;
        if let Some(LinkLayerAddress::Eui64(e)) = lladdr {
            self.router = e;
        } else if let Address::Extended(e) = link_src {
            self.router = e;
        }
        if self.cfg.prefix.is_none()
            && let Some(p) = prefix_infos.iter().find(|p| {
                p.flags.contains(PrefixFlags::AUTONOMOUS)
                    && p.prefix_len == 64
                    && p.valid_lifetime > 0
            })
        {
            let addr = with_iid(p.prefix, ip::iid_from_eui64(self.cfg.eui64));
            if self.cfg.register_lifetime_min.is_none() {
                self.global = Some(addr);
            } else if self.global != Some(addr) {
                self.tentative = Some(addr);
            }
            if self.contexts.get(0).is_none() {
                self.contexts = ContextTable::with_prefix(p.prefix, 64);
            }
        }
        for c in contexts {
            if c.valid_lifetime == 0 {
                self.contexts.remove(c.cid);
            } else {
                self.contexts.set(
                    c.cid,
                    Context {
                        prefix: c.prefix,
                        len: c.context_len,
                        compress: c.compress,
                    },
                );
            }
        }
        *self.encoder.contexts_mut() = self.contexts.clone();
        *self.reassembler.contexts_mut() = self.contexts.clone();
    }

    fn handle_udp(&mut self, now: Instant, ipv6: &Ipv6Packet<&[u8]>, out: &mut Vec<Vec<u8>>) {
        let (src, dst) = (ipv6.src_addr(), ipv6.dst_addr());
        let Ok(udp) = UdpPacket::new_checked(ipv6.payload()) else {
            self.counters.drop(MoteDrop::BadUdp);
            return;
        };
        let (sport, dport) = (udp.src_port(), udp.dst_port());
        if let Some(d) = self.device.as_mut()
            && d.owns_port(dport)
        {
            if dst.is_multicast() {
                self.counters.drop(MoteDrop::DtlsToMulticast);
                return;
            }
            let peer = Peer {
                addr: src,
                port: sport,
            };
            d.handle_datagram(now, dport, peer, udp.payload());
            *self.counters.served.entry(d.kind().as_str()).or_default() += 1;
            self.drain_device(now, out);
            return;
        }
        let Some(svc) = self.ports.get_mut(dport) else {
            self.counters.drop(MoteDrop::UdpNoService);
            if !dst.is_multicast() {
                // Port unreachable, quoting as much of the packet as fits the minimum MTU.
                let quoted = &ipv6.packet()[..ipv6.packet().len().min(IPV6_MIN_MTU - 48)];
                let m = Icmpv6Repr::DstUnreachable {
                    reason: DstUnreachable::PortUnreachable,
                    data: quoted,
                };
                let packet = icmp_packet(dst, src, 64, &m);
                self.send_ipv6(&packet, out);
            }
            return;
        };
        let name = svc.name();
        let replies = svc.handle(
            now,
            Peer {
                addr: src,
                port: sport,
            },
            udp.payload(),
        );
        *self.counters.served.entry(name).or_default() += 1;
        let from = self.source_for(dst, src);
        for payload in replies {
            if payload.len() + ip::UDP_HEADER_LEN + ip::IPV6_HEADER_LEN > IPV6_MIN_MTU {
                self.counters.drop(MoteDrop::ReplyTooBig);
                continue;
            }
            let packet = udp_packet(from, dport, src, sport, &payload);
            self.send_ipv6(&packet, out);
        }
    }

    /// An RPL control message (checksum already verified).
    fn handle_rpl_control(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        msg: &[u8],
        link_src: Address,
        out: &mut Vec<Vec<u8>>,
    ) {
        let Some(r) = self.rpl.as_mut() else {
            self.counters.drop(MoteDrop::Icmpv6Ignored);
            return;
        };
        let from = match link_src {
            Address::Extended(e) => Some(e),
            _ => None,
        };
        let (joined, packets) =
            r.handle_control(now, src, dst, msg[1], msg.get(4..).unwrap_or(&[]), from);
        if let Some(prefix) = joined {
            // Context 0 and the global address only from what the border router announces.
            self.global = Some(with_iid(prefix, ip::iid_from_eui64(self.cfg.eui64)));
            self.contexts.set(
                0,
                Context {
                    prefix,
                    len: 64,
                    compress: true,
                },
            );
            *self.encoder.contexts_mut() = self.contexts.clone();
            *self.reassembler.contexts_mut() = self.contexts.clone();
            // The root's address, which RFC 8138 tunnels from it elide.
            let root = self
                .rpl
                .as_ref()
                .and_then(|r| r.joined())
                .map(|j| j.dio.dodag_id);
            self.reassembler.set_rpl_root(root);
            if let Some(e) = from {
                self.router = e;
            }
        }
        for p in packets {
            self.send_ipv6(&p, out);
        }
    }

    /// Compress, fragment and frame an IPv6 packet this mote originates (an RPL mote adds
    /// the RPL option on its way up).
    fn send_ipv6(&mut self, packet: &[u8], out: &mut Vec<Vec<u8>>) {
        let with_option;
        let packet = match &self.rpl {
            Some(r) => {
                with_option = r.outgoing(packet.to_vec());
                &with_option[..]
            }
            None => packet,
        };
        let Ok(ipv6) = Ipv6Packet::new_checked(packet) else {
            return;
        };
        let dst = ipv6.dst_addr();
        let link_dst = if dst.is_multicast() {
            Address::BROADCAST
        } else if dst.is_unicast_link_local() {
            let iid: [u8; 8] = dst.octets()[8..].try_into().unwrap_or([0; 8]);
            Address::Extended(ip::eui64_from_iid(iid))
        } else {
            Address::Extended(self.router)
        };
        self.send_frames(packet, link_dst, out);
    }

    /// Compress, fragment and frame an IPv6 packet for the link neighbour `link_dst`.
    fn send_frames(&mut self, packet: &[u8], link_dst: Address, out: &mut Vec<Vec<u8>>) {
        let src = Address::Extended(self.cfg.eui64);
        let probe = FrameRepr::data(self.cfg.pan_id, src, link_dst, 0, false);
        let room = ieee802154::max_frame_payload(&probe);
        let links = LinkAddrs { src, dst: link_dst };
        // In a DODAG that uses RFC 8138 (the root's T flag), RPL headers leave as 6LoRHs.
        let encoded = match self.rpl.as_ref().and_then(|r| r.rfc8138_root()) {
            Some(root) => self.encoder.encode_rfc8138(packet, links, room, root),
            None => self.encoder.encode(packet, links, room),
        };
        let payloads = match encoded {
            Ok(p) => p,
            Err(_) => {
                self.counters.drop(MoteDrop::EncodeFailed);
                return;
            }
        };
        self.counters.packets_out += 1;
        let secure = self.is_secure_datagram(packet);
        for p in payloads {
            if is_fragment(&p) {
                self.counters.fragments_out += 1;
            }
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            let repr = FrameRepr::data(
                self.cfg.pan_id,
                src,
                link_dst,
                seq,
                !link_dst.is_broadcast(),
            );
            let frame = ieee802154::build_data_frame(&repr, &p);
            self.counters.frames_out += 1;
            self.counters.bytes_out += frame.len() as u64;
            if secure {
                self.counters.secure_frames_out += 1;
                self.counters.secure_bytes_out += frame.len() as u64;
            }
            out.push(frame);
        }
    }
}

/// Whether a frame's payload starts with a 6LoWPAN FRAG1 (11000) or FRAGN (11100) header.
fn is_fragment(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|d| matches!(d & 0xf8, 0xc0 | 0xe0))
}

/// prefix (upper 64 bits) + IID.
fn with_iid(prefix: Ipv6Addr, iid: [u8; 8]) -> Ipv6Addr {
    lowpan::Prefix64::of(&prefix).with_iid(iid)
}

/// The Router Solicitation a mote sends, with its EUI-64 as source link-layer address.
fn router_solicitation(own: Eui64) -> Icmpv6Repr<'static> {
    Icmpv6Repr::Ndisc(NdiscRepr::RouterSolicit {
        lladdr: Some(LinkLayerAddress::Eui64(own)),
    })
}

/// An ICMPv6 packet (no traffic class, no flow label). Empty, and so not sent, if over
/// 65535 bytes, which the callers' 1280-byte bound rules out.
fn icmp_packet(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, msg: &Icmpv6Repr<'_>) -> Vec<u8> {
    msg.emit_ipv6_packet(src, dst, hop_limit)
        .unwrap_or_default()
}

/// A UDP packet with its checksum, hop limit 64. Empty, and so not sent, if over 65535
/// bytes, which the callers' 1280-byte bound rules out.
fn udp_packet(src: Ipv6Addr, sport: u16, dst: Ipv6Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload,
    }
    .emit_ipv6_packet(src, dst, 64)
    .unwrap_or_default()
}

#[cfg(test)]
mod tests;
