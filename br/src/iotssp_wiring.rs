//! The IoTSSP wiring of the border router: the sans-IO HRM (`hrm::Hrm`) wired to the
//! IoTSSPs that delegated motes name, attached (an `ssp::Iotssp` inside this process) or
//! remote (an `iotssp` service behind the authenticated redirect protocol). The
//! [`BorderRouter`](crate::router::BorderRouter) owns it and decides when it is asked.
//!
//! Packets from the TUN to a mote pass through [`IotsspWiring::handle_tun_packet`] before the
//! bridge: forwarded ones go on to the bridge, diverted ones to the mote's IoTSSP, dropped
//! ones are counted. What the IoTSSPs answer comes out of [`IotsspWiring::poll_action`]:
//! packets to write into the TUN (built by the HRM, sourced from the mote's address and
//! port), packets for the radio side (an IoTSSP's mote leg: an attached IoTSSP talking to
//! its motes from the border router's own address and `hrm.attached_port`, a remote one
//! from its mote source, its datagrams carried as MoteDatagram redirect messages both
//! ways), and sealed redirect messages. No IoTSSP's mote leg ever passes the TUN.
//!
//! Sans-IO: no socket, no clock (`Instant` and wall time are passed in). It must never panic
//! on anything from the TUN, the radio or the redirect socket, send application data to an
//! IoTSSP (the HRM guarantees it), or log a key.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use dtls::provider::SecureRandom;
use hrm::{Decision, DeviceConfig, DevicePolicy, Diversion, Hrm, HrmConfig, SspName};
use lowpan::ip;
use lowpan::{CheckedIpv6Packet, NextHeader, Transport};
use redirect::{ChannelConfig, KeyRing, RedirectChannel, RedirectKey, RedirectMessage};
use ssp::{Iotssp, Output};

use crate::config::{Config, ConfigIssue, IotsspKind, KeySource, MotePolicy, RemoteIotssp};

/// Hop limit of packets an attached IoTSSP sends to its motes (they are one hop away).
const TO_MOTE_HOP_LIMIT: u8 = 64;

/// What to do with a packet read from the TUN.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Bridge the packet as read (the common case: no copy).
    Bridge,
    /// Bridge this packet instead (the mote's records of a split datagram).
    BridgeRebuilt(Vec<u8>),
    /// Diverted to an IoTSSP or dropped (counted): nothing to bridge.
    Handled,
}

/// What the wiring asks the border router to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// An IPv6 packet to write into the TUN: an IoTSSP's datagram, from the mote's address.
    ToTun(Vec<u8>),
    /// An IPv6 packet for a mote: an IoTSSP's datagram to its transfer port, for the
    /// bridge's radio side.
    ToMote(Vec<u8>),
    /// A sealed redirect message for a remote IoTSSP, to send from the redirect socket.
    Redirect { to: SocketAddr, bytes: Vec<u8> },
}

/// What the wiring itself counts (the HRM, the channels and the IoTSSPs count the rest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WiringCounters {
    /// Datagrams (or the IoTSSP's records of one) handed to an IoTSSP.
    pub diverted: u64,
    /// Packets written into the TUN on an IoTSSP's behalf (Emit and final flights).
    pub emitted: u64,
    /// FlowTransferred / FlowAbandoned applied to the HRM.
    pub transferred: u64,
    pub abandoned: u64,
    /// IoTSSP messages the HRM refused (not the owner, wrong direction, too long...).
    pub ssp_rejected: u64,
    /// Packets from an attached IoTSSP to its motes / datagrams from motes to it.
    pub attached_to_mote: u64,
    pub mote_to_attached: u64,
    /// Radio packets to the attached IoTSSP's address and port that were not valid UDP.
    pub mote_to_attached_invalid: u64,
    /// An attached IoTSSP addressed a mote by IPv4 or an unusable address.
    pub attached_bad_destination: u64,
    /// MoteDatagrams of a remote IoTSSP sent to its motes / datagrams of motes to a remote
    /// IoTSSP's mote source wrapped into MoteDatagrams.
    pub remote_to_mote: u64,
    pub mote_to_remote: u64,
    /// Radio packets to a remote IoTSSP's mote source that are not its mote leg (another
    /// source port, a mote not delegated to it, bad UDP), dropped.
    pub mote_to_remote_refused: u64,
    /// Redirect datagrams from an address that is no configured IoTSSP.
    pub redirect_unknown_source: u64,
    /// Redirect messages that could not be sealed.
    pub redirect_seal_errors: u64,
    /// ResumableAcks sent to remote IoTSSPs: one per SessionResumable the HRM accepted,
    /// later copies included (the IoTSSP sends it until acknowledged).
    pub resumable_acks: u64,
}

impl WiringCounters {
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("diverted", self.diverted),
            ("emitted", self.emitted),
            ("transferred", self.transferred),
            ("abandoned", self.abandoned),
            ("ssp_rejected", self.ssp_rejected),
            ("attached_to_mote", self.attached_to_mote),
            ("mote_to_attached", self.mote_to_attached),
            ("mote_to_attached_invalid", self.mote_to_attached_invalid),
            ("attached_bad_destination", self.attached_bad_destination),
            ("remote_to_mote", self.remote_to_mote),
            ("mote_to_remote", self.mote_to_remote),
            ("mote_to_remote_refused", self.mote_to_remote_refused),
            ("redirect_unknown_source", self.redirect_unknown_source),
            ("redirect_seal_errors", self.redirect_seal_errors),
            ("resumable_acks", self.resumable_acks),
        ]
        .into_iter()
    }
}

/// How the border router reaches one IoTSSP.
pub enum Endpoint {
    Attached(Box<Iotssp>),
    /// `mote_source`: the address and port that stand for the IoTSSP on the 6LoWPAN side
    /// (see [`mote_source`]).
    Remote {
        address: SocketAddr,
        mote_source: (Ipv6Addr, u16),
        channel: Box<RedirectChannel>,
    },
}

/// One configured IoTSSP.
pub struct SspLink {
    pub name: SspName,
    pub endpoint: Endpoint,
}

impl std::fmt::Debug for SspLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.endpoint {
            Endpoint::Attached(_) => "attached".to_string(),
            Endpoint::Remote { address, .. } => format!("remote {address}"),
        };
        f.debug_struct("SspLink")
            .field("name", &self.name)
            .field("endpoint", &kind)
            .finish()
    }
}

/// The HRM and the IoTSSPs, wired together.
#[derive(Debug)]
pub struct IotsspWiring {
    hrm: Hrm,
    links: Vec<SspLink>,
    /// The border router's TUN address: an attached IoTSSP's source towards motes.
    own_addr: Ipv6Addr,
    attached_port: u16,
    out: VecDeque<Action>,
    counters: WiringCounters,
    /// Per link: an attached IoTSSP rebuilt by a reload, waiting for the running one's
    /// handshakes to end (a handshake cannot move between instances).
    pending: Vec<Option<Box<Iotssp>>>,
}

impl IotsspWiring {
    /// `links` must name every IoTSSP of `hrm_config` (the builder guarantees it). `rng`
    /// draws the HRM's cookie secret (the daemon passes the OS source).
    pub fn new(
        hrm_config: &HrmConfig,
        links: Vec<SspLink>,
        own_addr: Ipv6Addr,
        attached_port: u16,
        rng: Arc<dyn SecureRandom>,
    ) -> Result<Self, String> {
        let hrm = Hrm::new(hrm_config, rng).map_err(|e| e.to_string())?;
        for n in hrm.ssps() {
            if !links.iter().any(|l| &l.name == n) {
                return Err(format!("IoTSSP {n} has no endpoint"));
            }
        }
        let pending = links.iter().map(|_| None).collect();
        Ok(IotsspWiring {
            hrm,
            links,
            own_addr,
            attached_port,
            out: VecDeque::new(),
            counters: WiringCounters::default(),
            pending,
        })
    }

    pub fn hrm(&self) -> &Hrm {
        &self.hrm
    }

    pub fn links(&self) -> &[SspLink] {
        &self.links
    }

    pub fn counters(&self) -> &WiringCounters {
        &self.counters
    }

    /// Whether any IoTSSP is remote (the daemon then needs the redirect socket).
    pub fn has_remote(&self) -> bool {
        self.links
            .iter()
            .any(|l| matches!(l.endpoint, Endpoint::Remote { .. }))
    }

    /// `hrm.attached_port` when an attached IoTSSP is configured: with the border router's
    /// own address, the source of its datagrams to motes.
    pub fn attached_port(&self) -> Option<u16> {
        let attached = self
            .links
            .iter()
            .any(|l| matches!(l.endpoint, Endpoint::Attached(_)));
        attached.then_some(self.attached_port)
    }

    /// The attached IoTSSP called `name`, if any.
    pub fn attached(&self, name: &str) -> Option<&Iotssp> {
        self.links.iter().find_map(|l| match &l.endpoint {
            Endpoint::Attached(i) if l.name.as_str() == name => Some(&**i),
            _ => None,
        })
    }

    /// The next IO to perform.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// An IPv6 packet read from the TUN (parsed once by the border router), before the
    /// bridge sees it.
    pub fn handle_tun_packet<T: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        wall: SystemTime,
        packet: &CheckedIpv6Packet<T>,
    ) -> Inbound {
        match self.hrm.handle_inbound(now, packet) {
            Decision::Forward => Inbound::Bridge,
            Decision::Divert(d) => {
                self.divert(now, wall, d);
                Inbound::Handled
            }
            Decision::Split { divert, to_mote } => {
                if let Some(d) = divert {
                    self.divert(now, wall, d);
                }
                match to_mote {
                    Some(p) => Inbound::BridgeRebuilt(p),
                    None => Inbound::Handled,
                }
            }
            // The HRM counts drops by reason.
            Decision::Drop(_) => Inbound::Handled,
            Decision::Answer(p) => {
                self.out.push_back(Action::ToTun(p));
                Inbound::Handled
            }
        }
    }

    fn divert(&mut self, now: Instant, wall: SystemTime, d: Diversion) {
        let Some(i) = self.links.iter().position(|l| l.name == d.ssp) else {
            return;
        };
        self.counters.diverted += 1;
        match &mut self.links[i].endpoint {
            Endpoint::Attached(iotssp) => iotssp.handle_divert(now, d.flow, &d.datagram),
            // Rule R12 (docs/protocol.md): a known-down IoTSSP would swallow the datagram
            // and leave the client waiting for its own timer; answer it with an alert from
            // the mote instead (the HRM abandons the flow, rate-limits and counts).
            Endpoint::Remote { channel, .. } if channel.peer_down(now) => {
                if let Some(p) = self.hrm.answer_ssp_down(now, &d) {
                    self.out.push_back(Action::ToTun(p));
                }
            }
            Endpoint::Remote {
                address, channel, ..
            } => match channel.seal(now, wall, &d.message()) {
                Ok(bytes) => self.out.push_back(Action::Redirect {
                    to: *address,
                    bytes,
                }),
                Err(_) => self.counters.redirect_seal_errors += 1,
            },
        }
        self.drain_attached(now, i);
    }

    /// An IPv6 packet reassembled from the radio, before it is written into the TUN.
    /// Returns true when it was for an IoTSSP's mote leg (attached: handed over; remote:
    /// wrapped into a MoteDatagram) or refused, and must not go to the TUN.
    pub fn handle_radio_packet<T: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        wall: SystemTime,
        v6: &CheckedIpv6Packet<T>,
    ) -> bool {
        if let Some(i) = self.remote_for_source(v6) {
            self.wrap_for_remote(now, wall, i, v6);
            return true;
        }
        if v6.dst_addr() != self.own_addr || v6.header().next_header != NextHeader::Udp {
            self.hrm.handle_outbound(now, v6);
            return false;
        }
        let Some(i) = self.attached_for(&v6.src_addr()) else {
            return false;
        };
        let src = v6.src_addr();
        let Transport::Udp(udp) = v6.transport() else {
            // To our address but not even a UDP header: not ours to judge, the kernel will.
            return false;
        };
        if udp.dst_port() != self.attached_port {
            return false;
        }
        let udp_bytes = &udp.as_bytes()[..usize::from(udp.len())];
        if !ip::verify_checksum(&src, &self.own_addr, ip::next_header::UDP, udp_bytes) {
            self.counters.mote_to_attached_invalid += 1;
            return true;
        }
        self.counters.mote_to_attached += 1;
        let from = SocketAddr::new(IpAddr::V6(src), udp.src_port());
        if let Endpoint::Attached(iotssp) = &mut self.links[i].endpoint {
            iotssp.handle_mote_datagram(now, from, udp.payload());
        }
        self.drain_attached(now, i);
        true
    }

    /// The remote IoTSSP whose mote source a UDP packet from the radio is addressed to.
    fn remote_for_source<T: AsRef<[u8]>>(&self, v6: &CheckedIpv6Packet<T>) -> Option<usize> {
        let Transport::Udp(udp) = v6.transport() else {
            return None;
        };
        let dst = (v6.dst_addr(), udp.dst_port());
        self.links.iter().position(
            |l| matches!(&l.endpoint, Endpoint::Remote { mote_source, .. } if *mote_source == dst),
        )
    }

    /// A mote's datagram to remote IoTSSP `i`'s mote source: into a MoteDatagram if it is
    /// that IoTSSP's mote leg (a mote delegated to it, from its transfer port), else dropped.
    fn wrap_for_remote<T: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        wall: SystemTime,
        i: usize,
        v6: &CheckedIpv6Packet<T>,
    ) {
        let src = v6.src_addr();
        let dst = v6.dst_addr();
        let Transport::Udp(udp) = v6.transport() else {
            self.counters.mote_to_remote_refused += 1;
            return;
        };
        let udp_bytes = &udp.as_bytes()[..usize::from(udp.len())];
        let link = &mut self.links[i];
        if !self.hrm.is_mote_leg(&link.name, &src, udp.src_port())
            || !ip::verify_checksum(&src, &dst, ip::next_header::UDP, udp_bytes)
            || udp.payload().is_empty()
        {
            self.counters.mote_to_remote_refused += 1;
            return;
        }
        let Endpoint::Remote {
            address, channel, ..
        } = &mut link.endpoint
        else {
            return;
        };
        let flow = redirect::FlowTag {
            peer_addr: Ipv6Addr::UNSPECIFIED,
            peer_port: 0,
            mote_addr: src,
            mote_port: udp.src_port(),
        };
        match channel.seal(
            now,
            wall,
            &RedirectMessage::MoteDatagram {
                flow,
                datagram: udp.payload(),
            },
        ) {
            Ok(bytes) => {
                self.counters.mote_to_remote += 1;
                self.out.push_back(Action::Redirect {
                    to: *address,
                    bytes,
                });
            }
            Err(_) => self.counters.redirect_seal_errors += 1,
        }
    }

    /// The attached IoTSSP a mote's datagram belongs to: the one it is delegated to, or
    /// the first attached one.
    fn attached_for(&self, mote: &Ipv6Addr) -> Option<usize> {
        let attached = |l: &SspLink| matches!(l.endpoint, Endpoint::Attached(_));
        if let Some(name) = self.hrm.delegate_of(mote)
            && let Some(i) = self
                .links
                .iter()
                .position(|l| &l.name == name && attached(l))
        {
            return Some(i);
        }
        self.links.iter().position(attached)
    }

    /// A datagram received on the redirect socket from `from`.
    pub fn handle_redirect_datagram(
        &mut self,
        now: Instant,
        wall: SystemTime,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        let from = canonical(from);
        let remote_addr = |l: &SspLink| match &l.endpoint {
            Endpoint::Remote { address, .. } => Some(canonical(*address)),
            Endpoint::Attached(_) => None,
        };
        let i = self
            .links
            .iter()
            .position(|l| remote_addr(l) == Some(from))
            .or_else(|| {
                self.links
                    .iter()
                    .position(|l| remote_addr(l).is_some_and(|a| a.ip() == from.ip()))
            });
        let Some(i) = i else {
            self.counters.redirect_unknown_source += 1;
            return;
        };
        let link = &mut self.links[i];
        let Endpoint::Remote { channel, .. } = &mut link.endpoint else {
            return;
        };
        // The channel counts every refusal by reason and changes no state for it.
        let Ok(repr) = channel.open(now, wall, bytes) else {
            return;
        };
        let name = link.name.clone();
        if let RedirectMessage::MoteDatagram { flow, datagram } = repr.message {
            let Endpoint::Remote { mote_source, .. } = &link.endpoint else {
                return;
            };
            match self
                .hrm
                .packet_to_mote(&name, &flow, datagram, *mote_source)
            {
                Ok(p) => {
                    self.counters.remote_to_mote += 1;
                    self.out.push_back(Action::ToMote(p));
                }
                Err(e) => {
                    self.counters.ssp_rejected += 1;
                    tracing::debug!(iotssp = %name, reason = e.as_str(), "IoTSSP mote datagram refused");
                }
            }
            return;
        }
        let accepted = apply(
            &mut self.hrm,
            &mut self.counters,
            &mut self.out,
            now,
            &name,
            &repr.message,
        );
        // A SessionResumable is the one message an IoTSSP sends again until the border
        // router answers: acknowledge every accepted copy, the first and the repeated.
        if let (
            true,
            RedirectMessage::SessionResumable {
                flow, session_id, ..
            },
        ) = (accepted, repr.message)
        {
            let Endpoint::Remote {
                address, channel, ..
            } = &mut self.links[i].endpoint
            else {
                return;
            };
            let ack = RedirectMessage::ResumableAck { flow, session_id };
            match channel.seal(now, wall, &ack) {
                Ok(bytes) => {
                    self.counters.resumable_acks += 1;
                    self.out.push_back(Action::Redirect {
                        to: *address,
                        bytes,
                    });
                }
                Err(_) => self.counters.redirect_seal_errors += 1,
            }
        }
    }

    /// When `handle_timeout` next wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let links = self.links.iter().filter_map(|l| match &l.endpoint {
            Endpoint::Attached(i) => i.poll_timeout(),
            Endpoint::Remote { channel, .. } => channel.poll_timeout(),
        });
        links.chain(self.hrm.poll_timeout()).min()
    }

    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        self.hrm.handle_timeout(now);
        for i in 0..self.links.len() {
            match &mut self.links[i].endpoint {
                Endpoint::Attached(iotssp) => {
                    if iotssp.poll_timeout().is_some_and(|t| t <= now) {
                        iotssp.handle_timeout(now);
                    }
                }
                Endpoint::Remote {
                    address, channel, ..
                } => {
                    channel.handle_timeout(now);
                    if let Some(bytes) = channel.poll_transmit(now, wall) {
                        self.out.push_back(Action::Redirect {
                            to: *address,
                            bytes,
                        });
                    }
                }
            }
            self.drain_attached(now, i);
        }
    }

    /// What a reloaded configuration changes here, applied only when all of it is valid:
    /// the device policies (the HRM keeps its flows, so transferred sessions stay), the
    /// remote IoTSSPs' redirect keys (the old key is still accepted, as in a rotation),
    /// and each attached IoTSSP rebuilt from its files (certificates, PSKs, trust,
    /// authorization), which takes over once the running one has no handshake left.
    /// `cfg` must name the same IoTSSPs, in the same order, as the running configuration.
    /// Returns what changed, in words.
    pub fn reload(&mut self, cfg: &Config, now: Instant) -> Result<Vec<String>, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut keys = Vec::new();
        let mut rebuilt = Vec::new();
        let hrm_cfg = hrm_config(cfg);
        if cfg.iotssps.len() != self.links.len() {
            return Err(vec![ConfigIssue {
                key: "iotssp".into(),
                reason: "the IoTSSPs cannot change while running".into(),
            }]);
        }
        for (i, (s, link)) in cfg.iotssps.iter().zip(&self.links).enumerate() {
            match (&s.kind, &link.endpoint) {
                (IotsspKind::Remote(r), Endpoint::Remote { channel, .. }) => match load_key(i, r) {
                    Ok(k) if !k.same_as(&channel.keys().current) => keys.push((i, k)),
                    Ok(_) => {}
                    Err(e) => issues.push(e),
                },
                (IotsspKind::Attached { config: path }, Endpoint::Attached(_)) => {
                    match load_attached(path) {
                        Ok((conf, iotssp)) => {
                            check_attached_motes(cfg, &hrm_cfg, &s.name, path, &conf, &mut issues);
                            rebuilt.push((i, Box::new(iotssp)));
                        }
                        Err(problems) => {
                            issues.extend(problems.into_iter().map(|why| ConfigIssue {
                                key: format!("iotssp[{i}].config"),
                                reason: why,
                            }))
                        }
                    }
                }
                _ => issues.push(ConfigIssue {
                    key: format!("iotssp[{i}]"),
                    reason: "its kind cannot change while running".into(),
                }),
            }
        }
        if issues.is_empty()
            && let Err(e) = hrm_cfg.validate()
        {
            issues.push(ConfigIssue {
                key: "hrm".into(),
                reason: e.to_string(),
            });
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let mut changes = Vec::new();
        if let Err(e) = self.hrm.set_devices(&hrm_cfg) {
            return Err(vec![ConfigIssue {
                key: "hrm".into(),
                reason: e.to_string(),
            }]);
        }
        changes.push("device policies".to_string());
        for (i, key) in keys {
            if let Endpoint::Remote { channel, .. } = &mut self.links[i].endpoint {
                let previous = Some(channel.keys().current.clone());
                channel.set_keys(KeyRing {
                    current: key,
                    previous,
                });
                changes.push(format!("redirect key of IoTSSP {}", self.links[i].name));
            }
        }
        for (i, iotssp) in rebuilt {
            changes.push(format!(
                "IoTSSP {} (certificates, PSKs, trust, authorization)",
                self.links[i].name
            ));
            self.pending[i] = Some(iotssp);
            self.drain_attached(now, i);
        }
        Ok(changes)
    }

    /// Attached IoTSSPs rebuilt by a reload and still waiting for handshakes to end.
    pub fn reloads_pending(&self) -> usize {
        self.pending.iter().filter(|p| p.is_some()).count()
    }

    /// Turns an attached IoTSSP's outputs into HRM state changes and packets; then, if a
    /// reload rebuilt it and it has no handshake left, puts the new instance in its place.
    fn drain_attached(&mut self, now: Instant, i: usize) {
        self.drain_attached_outputs(now, i);
        if let Endpoint::Attached(running) = &mut self.links[i].endpoint
            && running.delegation_count() == 0
            && let Some(new) = self.pending[i].take()
        {
            *running = new;
            // The new instance has none of the running one's associations.
            running.start_epoch(now, ssp::iotssp::epoch_of(std::time::SystemTime::now()));
            tracing::info!(iotssp = %self.links[i].name, "reloaded IoTSSP in service");
        }
    }

    fn drain_attached_outputs(&mut self, now: Instant, i: usize) {
        let IotsspWiring {
            hrm,
            links,
            own_addr,
            attached_port,
            out,
            counters,
            ..
        } = self;
        let link = &mut links[i];
        let Endpoint::Attached(iotssp) = &mut link.endpoint else {
            return;
        };
        while let Some(o) = iotssp.poll_output() {
            match &o {
                Output::ToMote { mote, datagram } => {
                    let SocketAddr::V6(mote) = canonical(*mote) else {
                        counters.attached_bad_destination += 1;
                        continue;
                    };
                    match hrm::build_udp_packet(
                        (*own_addr, *attached_port),
                        (*mote.ip(), mote.port()),
                        TO_MOTE_HOP_LIMIT,
                        datagram,
                    ) {
                        Ok(p) => {
                            counters.attached_to_mote += 1;
                            out.push_back(Action::ToMote(p));
                        }
                        Err(_) => counters.attached_bad_destination += 1,
                    }
                }
                other => {
                    if let Some(msg) = other.as_redirect() {
                        // In-process: nothing is lost, so nothing is acknowledged.
                        apply(hrm, counters, out, now, &link.name, &msg);
                    }
                }
            }
        }
    }

    /// Counters of the HRM, the redirect channels and the attached IoTSSPs as
    /// `(name, value)`, names dotted (`hrm.divert`, `iotssp.ssp-a.keys_held`).
    pub fn all_counters(&self, now: Instant) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = Vec::new();
        v.extend(
            self.counters
                .iter()
                .map(|(k, n)| (format!("redirection.{k}"), n)),
        );
        v.extend(
            self.hrm
                .counters()
                .iter()
                .map(|(k, n)| (format!("hrm.{k}"), n)),
        );
        v.extend(
            self.hrm
                .drop_counters()
                .map(|(k, n)| (format!("hrm.drop.{k}"), n)),
        );
        v.push(("hrm.flows".into(), self.hrm.flow_count() as u64));
        for l in &self.links {
            let p = format!("iotssp.{}", l.name);
            match &l.endpoint {
                Endpoint::Attached(i) => {
                    for (k, n) in ssp::status::counter_list(i) {
                        v.push((format!("{p}.{k}"), n));
                    }
                }
                Endpoint::Remote { channel, .. } => {
                    let c = channel.counters();
                    v.push((format!("{p}.redirect_auth_failures"), auth_failures(c)));
                    v.push((format!("{p}.redirect_replays"), replays(c)));
                    v.extend(c.iter().map(|(k, n)| (format!("{p}.channel.{k}"), n)));
                    let alive = matches!(channel.liveness(now), redirect::Liveness::Alive);
                    v.push((format!("{p}.alive"), u64::from(alive)));
                }
            }
        }
        v
    }

    /// One line for the log: non-zero counters, plus the ones that must be seen to be zero.
    pub fn summary(&self, now: Instant) -> String {
        let mut s = String::new();
        for (k, n) in self.all_counters(now) {
            let always = k.ends_with(".app_data_records_received")
                || k.ends_with(".keys_held")
                || k.ends_with(".private_keys_held")
                || k == "hrm.app_data_to_ssp";
            if n != 0 || always {
                let _ = write!(s, "{}{k}={n}", if s.is_empty() { "" } else { " " });
            }
        }
        s
    }

    /// The HRM's, the redirect channels' and the IoTSSPs' metrics.
    pub fn add_metrics(&self, s: &mut ops::metrics::Snapshot, now: Instant) {
        let counter = |k: &str| vec![("counter", k.to_owned())];
        s.counters(
            "lowpan_br_redirection",
            "Decisions of the IoTSSP wiring.",
            self.counters
                .iter()
                .map(|(k, n)| (counter(k), n))
                .collect::<Vec<_>>(),
        );
        s.counters(
            "lowpan_br_hrm",
            "The HRM's decisions.",
            self.hrm
                .counters()
                .iter()
                .map(|(k, n)| (counter(k), n))
                .collect::<Vec<_>>(),
        );
        let drops = self
            .hrm
            .drop_counters()
            .map(|(k, n)| (vec![("reason", k.to_owned())], n));
        s.counters(
            "lowpan_br_hrm_drops",
            "Packets the HRM dropped, by reason.",
            drops.collect::<Vec<_>>(),
        );
        s.gauge(
            "lowpan_br_hrm_flows",
            "Flows the HRM tracks.",
            self.hrm.flow_count() as i64,
        );
        let (mut totals, mut keys_held, mut delegations, mut alive) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for l in &self.links {
            let name = l.name.as_str();
            let labels = |k: &str| vec![("iotssp", name.to_owned()), ("counter", k.to_owned())];
            match &l.endpoint {
                Endpoint::Attached(i) => {
                    for (k, n) in ssp::status::counter_list(i) {
                        match k.as_str() {
                            "keys_held" => {
                                keys_held.push((vec![("iotssp", name.to_owned())], n as i64))
                            }
                            "delegations" => {
                                delegations.push((vec![("iotssp", name.to_owned())], n as i64))
                            }
                            _ => totals.push((labels(&k), n)),
                        }
                    }
                }
                Endpoint::Remote { channel, .. } => {
                    let c = channel.counters();
                    totals.push((labels("redirect_auth_failures"), auth_failures(c)));
                    totals.push((labels("redirect_replays"), replays(c)));
                    totals.extend(c.iter().map(|(k, n)| (labels(&format!("channel_{k}")), n)));
                    let up = matches!(channel.liveness(now), redirect::Liveness::Alive);
                    alive.push((vec![("iotssp", name.to_owned())], i64::from(up)));
                }
            }
        }
        s.counters(
            "lowpan_br_iotssp",
            "Each IoTSSP's counters: an attached one's own, a remote one's redirect channel.",
            totals,
        );
        if !keys_held.is_empty() {
            s.gauges(
                "lowpan_br_iotssp_keys_held",
                "Session keys an attached IoTSSP holds.",
                keys_held,
            );
            s.gauges(
                "lowpan_br_iotssp_delegations",
                "Delegations an attached IoTSSP serves.",
                delegations,
            );
        }
        if !alive.is_empty() {
            s.gauges(
                "lowpan_br_iotssp_alive",
                "1 while a remote IoTSSP's redirect channel is alive.",
                alive,
            );
        }
    }
}

/// Applies one IoTSSP message to the HRM and queues the packet it yields. Returns whether
/// the HRM accepted it.
fn apply(
    hrm: &mut Hrm,
    counters: &mut WiringCounters,
    out: &mut VecDeque<Action>,
    now: Instant,
    from: &SspName,
    msg: &RedirectMessage<'_>,
) -> bool {
    match hrm.handle_ssp_message(now, from, msg) {
        Ok(packet) => {
            match msg {
                RedirectMessage::FlowTransferred { .. } => counters.transferred += 1,
                RedirectMessage::FlowAbandoned { .. } => counters.abandoned += 1,
                _ => {}
            }
            if let Some(p) = packet {
                counters.emitted += 1;
                out.push_back(Action::ToTun(p));
            }
            true
        }
        Err(e) => {
            counters.ssp_rejected += 1;
            tracing::debug!(iotssp = %from, reason = e.as_str(), "IoTSSP message refused");
            false
        }
    }
}

/// Forged, corrupt or unknown-key messages.
fn auth_failures(c: &redirect::ChannelCounters) -> u64 {
    c.rejected_wire + c.rejected_unknown_key + c.rejected_bad_tag + c.rejected_reflected
}

/// Authentic bytes refused for freshness: replays and stale or time-shifted copies.
fn replays(c: &redirect::ChannelCounters) -> u64 {
    c.rejected_replayed
        + c.rejected_too_old
        + c.rejected_retired_instance
        + c.rejected_stale
        + c.rejected_predates_receiver
        + c.rejected_from_future
}

/// IPv4-mapped IPv6 addresses compare equal to their IPv4 form; scope ids are ignored.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => SocketAddr::new(IpAddr::V6(*v6.ip()), v6.port()),
        },
        v4 => v4,
    }
}

/// The HRM configuration a validated `Config` describes (IoTSSP names, their source
/// addresses towards motes, and every configured mote's policy).
pub fn hrm_config(cfg: &Config) -> HrmConfig {
    let h = &cfg.hrm;
    HrmConfig {
        dtls_port: h.dtls_port,
        transfer_port: hrm::DEFAULT_TRANSFER_PORT,
        max_flows: h.max_flows,
        handshake_idle_secs: h.handshake_idle_secs,
        session_idle_secs: h.session_idle_secs,
        unknown_flow: h.unknown_flow,
        ssps: cfg
            .iotssps
            .iter()
            .map(|s| hrm::SspConfig {
                name: s.name.clone(),
                // No IoTSSP sends to its motes through the TUN (attached: straight to the
                // radio side; remote: MoteDatagram inside the redirect channel), so no source
                // is exempt from the HRM's rules.
                addresses: Vec::new(),
            })
            .collect(),
        devices: cfg
            .motes
            .iter()
            .map(|m| {
                let policy = match (m.policy, &m.iotssp) {
                    (MotePolicy::Delegate, Some(ssp)) => {
                        DevicePolicy::Delegate { ssp: ssp.clone() }
                    }
                    _ => DevicePolicy::Passthrough,
                };
                DeviceConfig {
                    mote: cfg.mote_address(m),
                    policy,
                    dtls_port: m.dtls_port,
                }
            })
            .collect(),
    }
}

/// Builds the IoTSSP wiring of a validated configuration: reads each attached IoTSSP's
/// configuration, certificates and keys and each remote key file. `None` when no IoTSSP is
/// configured (every mote is passthrough: the HRM is skipped altogether). Errors name the
/// key at fault and never contain a key.
pub fn build(
    cfg: &Config,
    now: Instant,
    wall: SystemTime,
    instance: u64,
    rng: Arc<dyn SecureRandom>,
) -> Result<Option<IotsspWiring>, Vec<ConfigIssue>> {
    if cfg.iotssps.is_empty() {
        return Ok(None);
    }
    let mut issues = Vec::new();
    let mut links = Vec::new();
    let hrm_cfg = hrm_config(cfg);
    for (i, s) in cfg.iotssps.iter().enumerate() {
        let name = SspName::new(&s.name);
        let issue = |f: &str, reason: String| ConfigIssue {
            key: format!("iotssp[{i}].{f}"),
            reason,
        };
        match &s.kind {
            IotsspKind::Attached { config: path } => match load_attached(path) {
                Ok((conf, mut iotssp)) => {
                    check_attached_motes(cfg, &hrm_cfg, &s.name, path, &conf, &mut issues);
                    // A new epoch: every mote re-associates now, not when its first client comes.
                    iotssp.start_epoch(now, ssp::iotssp::epoch_of(wall));
                    links.push(SspLink {
                        name,
                        endpoint: Endpoint::Attached(Box::new(iotssp)),
                    });
                }
                Err(problems) => {
                    issues.extend(problems.into_iter().map(|why| issue("config", why)))
                }
            },
            IotsspKind::Remote(r) => match load_key(i, r) {
                Ok(k) => {
                    let channel = RedirectChannel::new(
                        channel_config(r),
                        redirect::Role::BorderRouter,
                        KeyRing::new(k),
                        instance,
                        now,
                        wall,
                    );
                    let address = r.address;
                    let mote_source = mote_source(address, cfg.host_address());
                    links.push(SspLink {
                        name,
                        endpoint: Endpoint::Remote {
                            address,
                            mote_source,
                            channel: Box::new(channel),
                        },
                    });
                }
                Err(e) => issues.push(e),
            },
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    IotsspWiring::new(
        &hrm_cfg,
        links,
        cfg.host_address(),
        cfg.hrm.attached_port,
        rng,
    )
    .map(Some)
    .map_err(|reason| {
        vec![ConfigIssue {
            key: "hrm".into(),
            reason,
        }]
    })
}

/// The address and port that stand for a remote IoTSSP (redirect `address`) on the
/// 6LoWPAN side: what its MoteDatagrams come from and what its motes answer to. Its own
/// address when that is a global IPv6 address (a mote may know it from provisioning), else
/// (IPv4, loopback, link-local) the border router's `own` address; the port is the
/// redirect address's in both cases.
pub fn mote_source(address: SocketAddr, own: Ipv6Addr) -> (Ipv6Addr, u16) {
    let ip = match canonical(address).ip() {
        IpAddr::V6(v6)
            if !v6.is_loopback()
                && !v6.is_unspecified()
                && !v6.is_unicast_link_local()
                && !v6.is_multicast() =>
        {
            v6
        }
        _ => own,
    };
    (ip, address.port())
}

/// The redirect key of the remote `iotssp[i]`, from the file or from a key file.
fn load_key(i: usize, r: &RemoteIotssp) -> Result<RedirectKey, ConfigIssue> {
    let issue = |f: &str, reason: String| ConfigIssue {
        key: format!("iotssp[{i}].{f}"),
        reason,
    };
    match &r.key {
        KeySource::Hex(k) => {
            RedirectKey::from_hex(r.key_id, &k.0).map_err(|e| issue("key", e.to_string()))
        }
        KeySource::File(p) => match std::fs::read_to_string(p) {
            Ok(text) => {
                let text = zeroize::Zeroizing::new(text);
                RedirectKey::from_hex(r.key_id, text.trim())
                    .map_err(|e| issue("key_file", format!("{}: {e}", p.display())))
            }
            Err(e) => Err(issue("key_file", format!("{}: {e}", p.display()))),
        },
    }
}

/// The redirect channel of a remote `[[iotssp]]`: its keepalive and dead-after, defaults
/// for the rest.
pub fn channel_config(s: &RemoteIotssp) -> ChannelConfig {
    ChannelConfig {
        keepalive: s.keepalive,
        dead_after: s.dead_after,
        ..ChannelConfig::default()
    }
}

/// An attached IoTSSP's configuration and the IoTSSP it builds, or every problem of that
/// file (each as `path: key: reason`).
fn load_attached(path: &Path) -> Result<(ssp::config::SspConfig, Iotssp), Vec<String>> {
    let problems = |e: ssp::config::ConfigError| {
        e.issues
            .iter()
            .map(|i| format!("{}: {i}", path.display()))
            .collect::<Vec<_>>()
    };
    let conf = ssp::config::SspConfig::from_file(path).map_err(problems)?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let iotssp = conf.build(&base).map_err(problems)?;
    Ok((conf, iotssp))
}

/// Every mote delegated to an attached IoTSSP must be one of its motes (same address and
/// DTLS port), or its handshakes would be diverted to an IoTSSP that drops them.
fn check_attached_motes(
    cfg: &Config,
    hrm_cfg: &HrmConfig,
    name: &str,
    path: &Path,
    conf: &ssp::config::SspConfig,
    issues: &mut Vec<ConfigIssue>,
) {
    for (i, m) in cfg.motes.iter().enumerate() {
        if m.policy != MotePolicy::Delegate || m.iotssp.as_deref() != Some(name) {
            continue;
        }
        let addr = cfg.mote_address(m);
        let port = m.dtls_port.unwrap_or(hrm_cfg.dtls_port);
        if !conf
            .motes
            .iter()
            .any(|s| s.address == addr && s.dtls_port == port)
        {
            issues.push(ConfigIssue {
                key: format!("mote[{i}].iotssp"),
                reason: format!(
                    "IoTSSP {name:?} ({}) has no [[motes]] entry for [{addr}]:{port}",
                    path.display()
                ),
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
