//! The Handshake Redirection Module proper: per-device policy, per-record routing rules,
//! the flow table, and the IoTSSP's instructions (emit, transferred, abandoned).
//!
//! The rules (docs/protocol.md, "HRM rules", is the reference; `tests::rule_table` checks
//! every row) route each record of a datagram to the IoTSSP, the mote, both, or nowhere,
//! from its content type and epoch and what the flow table knows:
//! - handshake (any epoch) and ChangeCipherSpec: IoTSSP. After a transfer this is the
//!   client's retransmitted final flight, which the IoTSSP answers from its sealed copy, or
//!   a fresh ClientHello, which starts a new handshake there;
//! - plaintext (epoch 0) alerts: IoTSSP (they concern a handshake);
//! - encrypted (epoch >= 1) alerts: to whoever may own the keys: the mote if it may hold a
//!   session, the IoTSSP if a handshake may be in progress, both if both (each end
//!   authenticates the record and silently discards what it cannot);
//! - application data: the mote if it may hold a session, never the IoTSSP;
//! - unknown content types: dropped.

use crate::config::{ConfigError, DevicePolicy, HrmConfig, SspName, UnknownFlowPolicy};
use crate::flow::{Admission, FlowState, FlowTable};
use crate::packet::{EMIT_HOP_LIMIT, PayloadTooLong, build_udp_packet};
use crate::record::{MalformedDatagram, RecordSummary, parse_datagram};
use crate::resume::{HelloVerdict, MAX_UNANSWERED, Resumables, ResumeKey};
use crate::ssp_down::{AlertLimiter, ssp_down_alert};
use core::fmt;
use dtls::provider::SecureRandom;
use dtls_wire::{ContentType, HandshakeType};
use lowpan::{CheckedIpv6Packet, Transport};
use redirect::{FlowTag, RedirectMessage, named_counters};
use std::collections::{HashMap, HashSet};
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often idle flows are swept. Expiry is therefore late by at most this much.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Why the HRM dropped a datagram or a record. Stable names for counters and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The UDP payload is not a well-formed sequence of DTLS records.
    Malformed(MalformedDatagram),
    /// Bad UDP header or length in a packet to a delegated mote's DTLS port.
    UdpMalformed,
    /// An IPv6 fragment to a delegated mote: its records cannot be classified.
    Ipv6Fragment,
    /// A truncated or too long extension-header chain to a delegated mote.
    Ipv6BadExtension,
    /// Application data (or an encrypted alert) on a flow whose mote holds no session, with
    /// `unknown_flow = "drop"`.
    NoSessionAtMote,
    /// A content type neither the IoTSSP nor the mote handles (e.g. tls12_cid).
    UnknownContentType,
    /// UDP from the TUN to a delegated mote's transfer port: only its IoTSSP talks to it
    /// there, and never through the TUN (attached: straight to the radio side; remote:
    /// inside the redirect channel as MoteDatagram).
    TransferPortFromInternet,
}

impl DropReason {
    pub const ALL: [DropReason; 11] = [
        DropReason::Malformed(MalformedDatagram::Empty),
        DropReason::Malformed(MalformedDatagram::TruncatedHeader),
        DropReason::Malformed(MalformedDatagram::TruncatedRecord),
        DropReason::Malformed(MalformedDatagram::NotDtls),
        DropReason::Malformed(MalformedDatagram::RecordTooLong),
        DropReason::UdpMalformed,
        DropReason::Ipv6Fragment,
        DropReason::Ipv6BadExtension,
        DropReason::NoSessionAtMote,
        DropReason::UnknownContentType,
        DropReason::TransferPortFromInternet,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::Malformed(m) => m.as_str(),
            DropReason::UdpMalformed => "udp_malformed",
            DropReason::Ipv6Fragment => "ipv6_fragment",
            DropReason::Ipv6BadExtension => "ipv6_bad_extension",
            DropReason::NoSessionAtMote => "no_session_at_mote",
            DropReason::UnknownContentType => "unknown_content_type",
            DropReason::TransferPortFromInternet => "transfer_port_from_internet",
        }
    }

    fn index(&self) -> usize {
        // ALL is small and fixed; a linear search keeps the list the single source.
        DropReason::ALL.iter().position(|r| r == self).unwrap_or(0)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRoute {
    Ssp,
    Mote,
    Both,
    Drop(DropReason),
}

/// The routing rule for one record given what is known of its flow (`None`: no entry).
/// Pure, so the rule table can be tested on its own.
pub fn route_record(
    state: Option<FlowState>,
    record: &RecordSummary,
    unknown: UnknownFlowPolicy,
) -> RecordRoute {
    let trust_unknown = unknown == UnknownFlowPolicy::Forward;
    let (mote_may_hold_session, handshake_may_run) = match state {
        None | Some(FlowState::Delegating) => (trust_unknown, true),
        Some(FlowState::Transferred) => (true, false),
        Some(FlowState::Rehandshaking) => (true, true),
        Some(FlowState::Resuming) => {
            // The mote runs the whole abbreviated handshake: every record is its.
            return match record.content_type {
                ContentType::Unknown(_) => RecordRoute::Drop(DropReason::UnknownContentType),
                _ => RecordRoute::Mote,
            };
        }
    };
    match record.content_type {
        ContentType::Handshake | ContentType::ChangeCipherSpec => RecordRoute::Ssp,
        ContentType::Alert if record.epoch == 0 => RecordRoute::Ssp,
        ContentType::Alert => match (mote_may_hold_session, handshake_may_run) {
            (true, true) => RecordRoute::Both,
            (true, false) => RecordRoute::Mote,
            (false, _) => RecordRoute::Ssp,
        },
        ContentType::ApplicationData if mote_may_hold_session => RecordRoute::Mote,
        ContentType::ApplicationData => RecordRoute::Drop(DropReason::NoSessionAtMote),
        ContentType::Unknown(_) => RecordRoute::Drop(DropReason::UnknownContentType),
    }
}

/// A datagram (or the records of one) for an IoTSSP, tagged with its real endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diversion {
    pub ssp: SspName,
    pub flow: FlowTag,
    pub datagram: Vec<u8>,
}

impl Diversion {
    /// The redirect message that carries it (remote mode seals it, attached mode hands it over).
    pub fn message(&self) -> RedirectMessage<'_> {
        RedirectMessage::Divert {
            flow: self.flow,
            datagram: &self.datagram,
        }
    }
}

/// What to do with a packet from the Internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send the packet to the mote unchanged.
    Forward,
    /// Send the whole UDP payload to the IoTSSP; nothing to the mote.
    Divert(Diversion),
    /// The datagram's records go different ways (RFC 6347 4.1.1 allows several records per
    /// datagram): the IoTSSP's records as a diversion, the mote's records as a rebuilt
    /// IPv6 packet (same addresses, ports and hop limit), dropped records nowhere.
    Split {
        divert: Option<Diversion>,
        to_mote: Option<Vec<u8>>,
    },
    Drop(DropReason),
    /// Send this IPv6 packet back into the TUN (to the peer, from the mote's address and
    /// DTLS port); nothing to the mote or an IoTSSP: the border router's own
    /// HelloVerifyRequest to a resuming client (docs/protocol.md, "Resumption at the mote").
    Answer(Vec<u8>),
}

/// An IoTSSP message the HRM refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SspReject {
    /// The flow's mote is not delegated to this IoTSSP, or the port is not its DTLS port:
    /// an IoTSSP may only speak for its own motes.
    NotOwner { ssp: SspName, flow: FlowTag },
    /// A message type the border router does not accept from an IoTSSP as an instruction
    /// (Divert, ResumableAck; a MoteDatagram is carried with `packet_to_mote`).
    WrongDirection { ssp: SspName },
    /// Emit/FlowTransferred payload too long for one packet.
    TooLong {
        ssp: SspName,
        flow: FlowTag,
        len: usize,
    },
    /// Emit with an empty datagram.
    EmptyDatagram { ssp: SspName, flow: FlowTag },
    /// SessionResumable for a flow that holds no session at the mote: not transferred
    /// (yet), or forgotten (expired, evicted).
    NoSession { ssp: SspName, flow: FlowTag },
}

impl SspReject {
    pub fn as_str(&self) -> &'static str {
        match self {
            SspReject::NotOwner { .. } => "ssp_not_owner",
            SspReject::WrongDirection { .. } => "ssp_wrong_direction",
            SspReject::TooLong { .. } => "ssp_too_long",
            SspReject::EmptyDatagram { .. } => "ssp_empty_datagram",
            SspReject::NoSession { .. } => "ssp_no_session",
        }
    }
}

impl fmt::Display for SspReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SspReject::NotOwner { ssp, flow } => {
                write!(f, "IoTSSP {ssp} is not the delegate of {flow}")
            }
            SspReject::WrongDirection { ssp } => {
                write!(f, "IoTSSP {ssp} sent a message only a border router sends")
            }
            SspReject::TooLong { ssp, flow, len } => write!(
                f,
                "IoTSSP {ssp}: {len} bytes for {flow} do not fit a packet"
            ),
            SspReject::EmptyDatagram { ssp, flow } => {
                write!(f, "IoTSSP {ssp}: empty datagram for {flow}")
            }
            SspReject::NoSession { ssp, flow } => {
                write!(f, "IoTSSP {ssp}: no session at the mote on {flow}")
            }
        }
    }
}

impl std::error::Error for SspReject {}

named_counters! {
    /// Decisions and events of the HRM.
    pub struct HrmCounters {
        /// Packets not addressed to a configured mote.
        forward_unconfigured,
        /// Packets to passthrough motes.
        forward_passthrough,
        /// Packets from an IoTSSP's own address (its exchange with the mote).
        forward_from_ssp,
        /// Not UDP (ICMPv6, TCP...).
        forward_not_udp,
        /// UDP to a port other than the mote's DTLS port.
        forward_other_port,
        /// DTLS datagrams forwarded whole to the mote.
        forward_dtls,
        /// Datagrams diverted whole to an IoTSSP.
        divert,
        /// Datagrams split between IoTSSP and mote (or partly dropped).
        split,
        /// Datagrams dropped whole.
        drop,
        records_to_ssp,
        records_to_mote,
        records_to_both,
        records_dropped,
        /// Application-data records of delegated motes seen going to the IoTSSP. Always 0:
        /// a test and an invariant.
        app_data_to_ssp,
        client_hellos,
        handshakes_begun,
        rehandshakes,
        /// New handshake entries refused because the table was full (the datagram is still
        /// diverted: routing of handshake records needs no state).
        flows_refused,
        transfers,
        evicted_handshakes,
        evicted_sessions,
        abandons,
        emits,
        ssp_rejects,
        handshakes_expired,
        sessions_expired,
        /// Rule R12: diverted handshake datagrams answered with a fatal alert in the mote's
        /// name because their IoTSSP is down (the flow's handshake is abandoned).
        ssp_down_alerts,
        /// Rule R12: diverted datagrams for a down IoTSSP not answered: the flow was answered
        /// less than a second ago, the limiter is full, or the datagram held only alerts.
        ssp_down_silent,
        /// Sessions an IoTSSP made resumable at a mote (SessionResumable applied).
        resumables_added,
        /// Later copies of an applied SessionResumable (the IoTSSP sends it until
        /// acknowledged): acknowledged again, nothing changed.
        resumables_repeated,
        /// SessionResumables refused because their flow holds no session at the mote
        /// (not transferred yet, or forgotten): nothing kept, nothing acknowledged.
        resumables_without_session,
        /// Resumable sessions dropped for a newer one (the table holds `max_flows`).
        resumables_evicted,
        /// Resumable sessions dropped at the end of their lifetime.
        resumables_expired,
        /// Resuming ClientHellos without a cookie answered with the border router's
        /// HelloVerifyRequest.
        resume_challenges,
        /// Resuming ClientHellos with the border router's cookie handed to the mote.
        resume_to_mote,
        /// Resuming ClientHellos sent to the IoTSSP instead: the mote got one less than
        /// `MOTE_SPACING` ago, the table was full, or the mote left earlier ones unanswered.
        resume_to_ssp,
        /// The mote answered a resuming hello with its fallback (it no longer holds the
        /// session, which the table forgets).
        resume_mote_fallbacks,
        /// Abbreviated handshakes the mote completed (its application data seen).
        resumed,
        /// Abbreviated handshakes forgotten idle.
        resumes_expired,
        /// Abbreviated handshakes a mote started itself with the server of its outbound
        /// session (its ClientHello with a session id): the server's answers go to the mote.
        mote_resumes_started,
    }
}

#[derive(Debug, Clone)]
struct Delegate {
    ssp: SspName,
    dtls_port: u16,
}

/// The Handshake Redirection Module. Sans-IO: packets and `Instant`s in, decisions and
/// packets out; no sockets, no clock.
#[derive(Debug)]
pub struct Hrm {
    unknown_flow: UnknownFlowPolicy,
    transfer_port: u16,
    delegates: HashMap<Ipv6Addr, Delegate>,
    passthrough: HashSet<Ipv6Addr>,
    ssp_addresses: HashSet<Ipv6Addr>,
    ssps: Vec<SspName>,
    flows: FlowTable,
    counters: HrmCounters,
    drops: [u64; DropReason::ALL.len()],
    next_sweep: Option<Instant>,
    alerts: AlertLimiter,
    resumables: Resumables,
}

/// Delegated and passthrough motes of a validated configuration.
fn devices(
    config: &HrmConfig,
    ssps: &[SspName],
) -> (HashMap<Ipv6Addr, Delegate>, HashSet<Ipv6Addr>) {
    let mut delegates = HashMap::new();
    let mut passthrough = HashSet::new();
    for d in &config.devices {
        match &d.policy {
            DevicePolicy::Delegate { ssp } => {
                // validate() guarantees the name exists.
                let name = ssps
                    .iter()
                    .find(|n| n.as_str() == ssp)
                    .cloned()
                    .unwrap_or_else(|| SspName::new(ssp));
                delegates.insert(
                    d.mote,
                    Delegate {
                        ssp: name,
                        dtls_port: d.dtls_port.unwrap_or(config.dtls_port),
                    },
                );
            }
            DevicePolicy::Passthrough => {
                passthrough.insert(d.mote);
            }
        }
    }
    (delegates, passthrough)
}

impl Hrm {
    /// `rng` draws the secret of the border router's own cookie for resuming hellos
    /// ([`resume`](crate::resume)): the daemon passes the OS source, tests a seeded one so
    /// that they replay exactly.
    pub fn new(config: &HrmConfig, rng: Arc<dyn SecureRandom>) -> Result<Self, ConfigError> {
        config.validate()?;
        let ssps: Vec<SspName> = config.ssps.iter().map(|s| SspName::new(&s.name)).collect();
        let (delegates, passthrough) = devices(config, &ssps);
        Ok(Hrm {
            unknown_flow: config.unknown_flow,
            transfer_port: config.transfer_port,
            delegates,
            passthrough,
            ssp_addresses: config
                .ssps
                .iter()
                .flat_map(|s| s.addresses.iter().copied())
                .collect(),
            ssps,
            flows: FlowTable::new(
                config.max_flows,
                config.handshake_idle(),
                config.session_idle(),
            ),
            counters: HrmCounters::default(),
            drops: [0; DropReason::ALL.len()],
            next_sweep: None,
            alerts: AlertLimiter::new(config.max_flows),
            resumables: Resumables::new(config.max_flows, Some(rng)),
        })
    }

    /// Replaces the device policies (which motes are delegated, to which IoTSSP, on which
    /// DTLS port) without touching the flow table: flows in progress and sessions already
    /// transferred stay as they are. Only `config.devices` is read; the IoTSSPs must be
    /// the same (names and addresses) as at creation.
    pub fn set_devices(&mut self, config: &HrmConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let names: Vec<&str> = config.ssps.iter().map(|s| s.name.as_str()).collect();
        let addresses: HashSet<Ipv6Addr> = config
            .ssps
            .iter()
            .flat_map(|s| s.addresses.iter().copied())
            .collect();
        if names != self.ssps.iter().map(SspName::as_str).collect::<Vec<_>>()
            || addresses != self.ssp_addresses
        {
            return Err(ConfigError {
                key: "ssps".into(),
                reason: "the IoTSSPs cannot change while running".into(),
            });
        }
        let (delegates, passthrough) = devices(config, &self.ssps);
        self.delegates = delegates;
        self.passthrough = passthrough;
        Ok(())
    }

    /// The configured IoTSSP names.
    pub fn ssps(&self) -> &[SspName] {
        &self.ssps
    }

    /// The IoTSSP a mote is delegated to, if any.
    pub fn delegate_of(&self, mote: &Ipv6Addr) -> Option<&SspName> {
        self.delegates.get(mote).map(|d| &d.ssp)
    }

    pub fn flow_state(&self, flow: &FlowTag) -> Option<FlowState> {
        self.flows.state(flow)
    }

    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Every flow with its state (for status pages; order unspecified).
    pub fn flows(&self) -> impl Iterator<Item = (&FlowTag, FlowState)> {
        self.flows.iter()
    }

    pub fn counters(&self) -> &HrmCounters {
        &self.counters
    }

    /// Drop counts per reason, with stable names.
    pub fn drop_counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL
            .iter()
            .zip(self.drops.iter())
            .map(|(r, n)| (r.as_str(), *n))
    }

    fn count_drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }

    fn arm_sweep(&mut self, now: Instant) {
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now + SWEEP_INTERVAL);
        }
    }

    /// Decides the fate of an IPv6 packet read from the TUN (headed for the 6LoWPAN side),
    /// parsed once by the caller: bytes that are not IPv6 never reach the HRM.
    pub fn handle_inbound<T: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        ip: &CheckedIpv6Packet<T>,
    ) -> Decision {
        let mote = ip.dst_addr();
        let Some(delegate) = self.delegates.get(&mote) else {
            if self.passthrough.contains(&mote) {
                self.counters.forward_passthrough += 1;
            } else {
                self.counters.forward_unconfigured += 1;
            }
            return Decision::Forward;
        };
        let peer = ip.src_addr();
        if let Transport::Udp(udp) = ip.transport()
            && udp.dst_port() == self.transfer_port
            && udp.dst_port() != delegate.dtls_port
        {
            // Whatever its source: nothing from the TUN may open, fill or disturb the
            // mote's transfer sessions.
            return self.drop_whole(DropReason::TransferPortFromInternet);
        }
        if self.ssp_addresses.contains(&peer) {
            self.counters.forward_from_ssp += 1;
            return Decision::Forward;
        }
        let udp = match ip.transport() {
            Transport::Udp(udp) => udp,
            Transport::Other(_) => {
                self.counters.forward_not_udp += 1;
                return Decision::Forward;
            }
            Transport::Fragment => return self.drop_whole(DropReason::Ipv6Fragment),
            Transport::BadExtension => return self.drop_whole(DropReason::Ipv6BadExtension),
            Transport::BadUdp => return self.drop_whole(DropReason::UdpMalformed),
        };
        let (src_port, dst_port, payload) = (udp.src_port(), udp.dst_port(), udp.payload());
        if dst_port != delegate.dtls_port {
            self.counters.forward_other_port += 1;
            return Decision::Forward;
        }
        let ssp = delegate.ssp.clone();
        let flow = FlowTag {
            peer_addr: peer,
            peer_port: src_port,
            mote_addr: mote,
            mote_port: dst_port,
        };
        let records = match parse_datagram(payload) {
            Ok(r) => r,
            Err(m) => return self.drop_whole(DropReason::Malformed(m)),
        };
        self.classify(now, ssp, flow, ip.header().hop_limit, payload, &records)
    }

    fn drop_whole(&mut self, reason: DropReason) -> Decision {
        self.counters.drop += 1;
        self.count_drop(reason);
        Decision::Drop(reason)
    }

    fn classify(
        &mut self,
        now: Instant,
        ssp: SspName,
        flow: FlowTag,
        hop_limit: u8,
        datagram: &[u8],
        records: &[RecordSummary],
    ) -> Decision {
        // A fresh ClientHello changes the flow before its own records are routed: it
        // starts a handshake at the IoTSSP (and on a transferred flow, a rehandshake).
        let client_hello = records
            .iter()
            .any(|r| r.handshake_type == Some(HandshakeType::ClientHello));
        if client_hello {
            self.counters.client_hellos += 1;
            match self.resumables.inspect(now, &flow, datagram) {
                HelloVerdict::Usual => {}
                HelloVerdict::Challenge(hvr) => {
                    if let Ok(pkt) = self.packet_to_peer(&flow, &hvr) {
                        self.counters.resume_challenges += 1;
                        return Decision::Answer(pkt);
                    }
                }
                HelloVerdict::ToMote(key) => {
                    if self.hand_to_mote(now, flow, key) {
                        self.counters.resume_to_mote += 1;
                        self.counters.forward_dtls += 1;
                        self.counters.records_to_mote += records.len() as u64;
                        self.arm_sweep(now);
                        return Decision::Forward;
                    }
                    self.counters.resume_to_ssp += 1;
                }
            }
            // Whatever the client did before, it now starts a full handshake.
            self.flows.end_resume(&flow);
            let before = self.flows.state(&flow);
            match self.flows.begin_handshake(flow, now) {
                Admission::Refused => self.counters.flows_refused += 1,
                _ => match before {
                    None => self.counters.handshakes_begun += 1,
                    Some(FlowState::Transferred) => self.counters.rehandshakes += 1,
                    Some(_) => {}
                },
            }
            self.arm_sweep(now);
        }
        let state = self.flows.state(&flow);
        let routes: Vec<RecordRoute> = records
            .iter()
            .map(|r| route_record(state, r, self.unknown_flow))
            .collect();
        let (mut to_ssp, mut to_mote, mut first_drop) = (false, false, None);
        for (r, route) in records.iter().zip(&routes) {
            match route {
                RecordRoute::Ssp => {
                    to_ssp = true;
                    self.counters.records_to_ssp += 1;
                }
                RecordRoute::Mote => {
                    to_mote = true;
                    self.counters.records_to_mote += 1;
                }
                RecordRoute::Both => {
                    to_ssp = true;
                    to_mote = true;
                    self.counters.records_to_both += 1;
                }
                RecordRoute::Drop(reason) => {
                    self.counters.records_dropped += 1;
                    self.count_drop(*reason);
                    first_drop.get_or_insert(*reason);
                }
            }
            if r.content_type == ContentType::ApplicationData
                && matches!(route, RecordRoute::Ssp | RecordRoute::Both)
            {
                // Unreachable by route_record's rules; counted so a regression shows.
                self.counters.app_data_to_ssp += 1;
            }
        }
        if to_ssp {
            self.flows.touch_handshake(&flow, now);
        }
        if to_mote {
            self.flows.touch_session(&flow, now);
            self.flows.touch_resume(&flow, now);
        }
        let all = |want: RecordRoute| routes.iter().all(|r| *r == want);
        if all(RecordRoute::Mote) {
            self.counters.forward_dtls += 1;
            return Decision::Forward;
        }
        if all(RecordRoute::Ssp) {
            self.counters.divert += 1;
            return Decision::Divert(Diversion {
                ssp,
                flow,
                datagram: datagram.to_vec(),
            });
        }
        if !to_ssp && !to_mote {
            self.counters.drop += 1;
            return Decision::Drop(first_drop.unwrap_or(DropReason::UnknownContentType));
        }
        self.counters.split += 1;
        let pick = |want_ssp: bool| -> Vec<u8> {
            records
                .iter()
                .zip(&routes)
                .filter(|(_, route)| match route {
                    RecordRoute::Both => true,
                    RecordRoute::Ssp => want_ssp,
                    RecordRoute::Mote => !want_ssp,
                    RecordRoute::Drop(_) => false,
                })
                .flat_map(|(r, _)| datagram.get(r.range.clone()).unwrap_or(&[]).iter().copied())
                .collect()
        };
        let divert = to_ssp.then(|| Diversion {
            ssp,
            flow,
            datagram: pick(true),
        });
        let to_mote = if to_mote {
            // The records are a subset of a datagram that already fit a packet.
            build_udp_packet(
                (flow.peer_addr, flow.peer_port),
                (flow.mote_addr, flow.mote_port),
                hop_limit,
                &pick(false),
            )
            .ok()
        } else {
            None
        };
        Decision::Split { divert, to_mote }
    }

    /// Whether a resuming hello on `flow` may go to the mote: the mote's turn (one per
    /// `MOTE_SPACING`), at most `MAX_UNANSWERED` unanswered ones on the flow, room in the
    /// table. If so, the flow is Resuming.
    fn hand_to_mote(&mut self, now: Instant, flow: FlowTag, key: ResumeKey) -> bool {
        let unanswered = self
            .flows
            .resume(&flow)
            .filter(|r| r.key == key)
            .map_or(0, |r| r.unanswered);
        if unanswered >= MAX_UNANSWERED || !self.resumables.take_mote_turn(flow.mote_addr, now) {
            return false;
        }
        match self.flows.begin_resume(flow, key, now) {
            Admission::Refused => {
                self.counters.flows_refused += 1;
                false
            }
            _ => true,
        }
    }

    /// Notes a packet the mote sends towards the Internet (read from the radio side), so a
    /// session whose traffic flows only mote -> peer does not expire. On a Resuming flow it
    /// also reads the mote's answer: its application data ends the abbreviated handshake
    /// with a session (Transferred), its fallback HelloVerifyRequest without one (and the
    /// session is no longer resumable there).
    pub fn handle_outbound<T: AsRef<[u8]>>(&mut self, now: Instant, ip: &CheckedIpv6Packet<T>) {
        let mote = ip.src_addr();
        let Some(dtls_port) = self.delegates.get(&mote).map(|d| d.dtls_port) else {
            return;
        };
        if let Transport::Udp(udp) = ip.transport() {
            let flow = FlowTag {
                peer_addr: ip.dst_addr(),
                peer_port: udp.dst_port(),
                mote_addr: mote,
                mote_port: udp.src_port(),
            };
            if udp.src_port() == dtls_port {
                self.read_mote_hello(now, &flow, udp.payload());
            }
            self.flows.touch_session(&flow, now);
            if self.flows.resume(&flow).is_some() {
                self.read_mote_answer(now, &flow, udp.payload());
            }
        }
    }

    /// The mote's own ClientHello with a session id (outbound resumption, docs/protocol.md
    /// "Outbound resumption by the mote"): the mote runs the abbreviated handshake with the
    /// server itself, so the flow is Resuming and the server's answers go to the mote. Only
    /// a flow the mote opened; a hello without an id is the IoTSSP's business (it comes as
    /// its Emit, never from the radio).
    fn read_mote_hello(&mut self, now: Instant, flow: &FlowTag, payload: &[u8]) {
        let Ok(first) = dtls::endpoint::first_hello(payload) else {
            return;
        };
        let Some(key) = ResumeKey::new(flow.mote_addr, &first.hello.session_id) else {
            return;
        };
        if self.flows.resume(flow).is_some_and(|r| r.key == key) {
            return;
        }
        match self.flows.begin_resume(*flow, key, now) {
            Admission::Refused => self.counters.flows_refused += 1,
            _ => {
                self.counters.mote_resumes_started += 1;
                self.arm_sweep(now);
            }
        }
    }

    fn read_mote_answer(&mut self, now: Instant, flow: &FlowTag, payload: &[u8]) {
        let Ok(records) = parse_datagram(payload) else {
            return;
        };
        let session = records
            .iter()
            .any(|r| r.content_type == ContentType::ApplicationData && r.epoch > 0);
        let fallback = records
            .iter()
            .any(|r| r.handshake_type == Some(HandshakeType::HelloVerifyRequest));
        let Some(mark) = self.flows.mote_answered(flow, now, session && !fallback) else {
            return;
        };
        if fallback {
            self.flows.end_resume(flow);
            self.resumables.forget(&mark.key);
            self.counters.resume_mote_fallbacks += 1;
        } else if session {
            self.counters.resumed += 1;
        }
    }

    fn check_owner(&self, from: &SspName, flow: &FlowTag) -> Result<(), SspReject> {
        match self.delegates.get(&flow.mote_addr) {
            Some(d) if d.ssp == *from && d.dtls_port == flow.mote_port => Ok(()),
            _ => Err(SspReject::NotOwner {
                ssp: from.clone(),
                flow: *flow,
            }),
        }
    }

    /// Applies a message from IoTSSP `from` (already authenticated by its channel, or
    /// handed over in-process in attached mode). Returns the IPv6 packet to write into
    /// the TUN when the message carries a datagram for the peer: it comes from the mote's
    /// address and DTLS port.
    pub fn handle_ssp_message(
        &mut self,
        now: Instant,
        from: &SspName,
        message: &RedirectMessage<'_>,
    ) -> Result<Option<Vec<u8>>, SspReject> {
        let result = self.apply_ssp_message(now, from, message);
        if result.is_err() {
            self.counters.ssp_rejects += 1;
        }
        result
    }

    fn apply_ssp_message(
        &mut self,
        now: Instant,
        from: &SspName,
        message: &RedirectMessage<'_>,
    ) -> Result<Option<Vec<u8>>, SspReject> {
        match message {
            RedirectMessage::Hello => Ok(None),
            RedirectMessage::Divert { .. } => Err(SspReject::WrongDirection { ssp: from.clone() }),
            // A mote-leg datagram changes no flow; the border router carries it with
            // `packet_to_mote` and the IoTSSP's source.
            RedirectMessage::MoteDatagram { .. } | RedirectMessage::ResumableAck { .. } => {
                Err(SspReject::WrongDirection { ssp: from.clone() })
            }
            RedirectMessage::Emit { flow, datagram } => {
                self.check_owner(from, flow)?;
                if datagram.is_empty() {
                    return Err(SspReject::EmptyDatagram {
                        ssp: from.clone(),
                        flow: *flow,
                    });
                }
                let pkt = self.packet_from_mote(from, flow, datagram)?;
                // The IoTSSP's handshake replaces one the mote ran itself on the flow (a
                // server that did not resume sends the mote back to its IoTSSP).
                self.flows.end_resume(flow);
                self.flows.touch_handshake(flow, now);
                self.counters.emits += 1;
                Ok(Some(pkt))
            }
            RedirectMessage::FlowTransferred { flow, final_flight } => {
                self.check_owner(from, flow)?;
                // Build first so a refused payload leaves the table untouched.
                let pkt = if final_flight.is_empty() {
                    None
                } else {
                    Some(self.packet_from_mote(from, flow, final_flight)?)
                };
                match self.flows.transfer(*flow, now) {
                    Admission::EvictedHandshake => self.counters.evicted_handshakes += 1,
                    Admission::EvictedSession => self.counters.evicted_sessions += 1,
                    _ => {}
                }
                self.counters.transfers += 1;
                self.arm_sweep(now);
                Ok(pkt)
            }
            RedirectMessage::FlowAbandoned { flow, .. } => {
                self.check_owner(from, flow)?;
                self.flows.abandon(flow);
                self.counters.abandons += 1;
                Ok(None)
            }
            RedirectMessage::SessionResumable {
                flow,
                lifetime_secs,
                session_id,
            } => {
                self.check_owner(from, flow)?;
                let Some(key) = ResumeKey::new(flow.mote_addr, session_id) else {
                    // The wire format bounds the id; an in-process caller may not.
                    return Err(SspReject::EmptyDatagram {
                        ssp: from.clone(),
                        flow: *flow,
                    });
                };
                // Only for the session the mote holds on the flow: a copy that comes after
                // the flow was forgotten, or before its FlowTransferred, keeps nothing (the
                // IoTSSP sends it again until acknowledged).
                if !self.flows.holds_session(flow) {
                    self.counters.resumables_without_session += 1;
                    return Err(SspReject::NoSession {
                        ssp: from.clone(),
                        flow: *flow,
                    });
                }
                if *lifetime_secs == 0 {
                    self.resumables.forget(&key);
                    return Ok(None);
                }
                if self.flows.note_resumable(flow, key) != Some(true) {
                    // A later copy of one applied: applied once, so a copy that arrives
                    // after the mote's fallback made the id forgotten does not revive it.
                    self.counters.resumables_repeated += 1;
                    return Ok(None);
                }
                // Saturates instead of panicking where a platform's Instant cannot hold it.
                let lifetime = Duration::from_secs(u64::from(*lifetime_secs));
                let expires = now
                    .checked_add(lifetime)
                    .unwrap_or(now + Duration::from_secs(86_400));
                if self.resumables.insert(key, expires) {
                    self.counters.resumables_evicted += 1;
                }
                self.counters.resumables_added += 1;
                self.arm_sweep(now);
                Ok(None)
            }
        }
    }

    /// Whether datagrams between `mote`'s `port` and IoTSSP `ssp` are that IoTSSP's mote
    /// leg: the mote is delegated to it and the port is the transfer port.
    pub fn is_mote_leg(&self, ssp: &SspName, mote: &Ipv6Addr, port: u16) -> bool {
        port == self.transfer_port && self.delegates.get(mote).is_some_and(|d| d.ssp == *ssp)
    }

    /// A MoteDatagram from IoTSSP `from`: the IPv6/UDP packet from `source` (the IoTSSP's
    /// address and port towards its motes) to the mote's transfer port, for the radio side.
    /// Refused for a mote not delegated to `from` or another port than the transfer port.
    pub fn packet_to_mote(
        &mut self,
        from: &SspName,
        flow: &FlowTag,
        datagram: &[u8],
        source: (Ipv6Addr, u16),
    ) -> Result<Vec<u8>, SspReject> {
        let result = if !self.is_mote_leg(from, &flow.mote_addr, flow.mote_port) {
            Err(SspReject::NotOwner {
                ssp: from.clone(),
                flow: *flow,
            })
        } else if datagram.is_empty() {
            Err(SspReject::EmptyDatagram {
                ssp: from.clone(),
                flow: *flow,
            })
        } else {
            build_udp_packet(
                source,
                (flow.mote_addr, flow.mote_port),
                EMIT_HOP_LIMIT,
                datagram,
            )
            .map_err(|PayloadTooLong { len }| SspReject::TooLong {
                ssp: from.clone(),
                flow: *flow,
                len,
            })
        };
        if result.is_err() {
            self.counters.ssp_rejects += 1;
        }
        result
    }

    /// A datagram the HRM itself sends to the peer of `flow` from the mote.
    fn packet_to_peer(&self, flow: &FlowTag, datagram: &[u8]) -> Result<Vec<u8>, PayloadTooLong> {
        build_udp_packet(
            (flow.mote_addr, flow.mote_port),
            (flow.peer_addr, flow.peer_port),
            EMIT_HOP_LIMIT,
            datagram,
        )
    }

    fn packet_from_mote(
        &self,
        from: &SspName,
        flow: &FlowTag,
        datagram: &[u8],
    ) -> Result<Vec<u8>, SspReject> {
        build_udp_packet(
            (flow.mote_addr, flow.mote_port),
            (flow.peer_addr, flow.peer_port),
            EMIT_HOP_LIMIT,
            datagram,
        )
        .map_err(|PayloadTooLong { len }| SspReject::TooLong {
            ssp: from.clone(),
            flow: *flow,
            len,
        })
    }

    /// Rule R12: the IoTSSP of `diversion` is known to be down (the caller decides: a
    /// remote IoTSSP's redirect channel is dead, or never answered its first Hello). The
    /// flow's handshake is abandoned (a session the mote holds stays), and the IPv6 packet
    /// to write into the TUN is returned: a plaintext fatal internal_error alert
    /// ([`ssp_down_alert`]) from the mote's address and DTLS port to the peer. `None` when
    /// the flow was answered less than [`ALERT_INTERVAL`](crate::ssp_down::ALERT_INTERVAL)
    /// ago, when no handshake may run on it (Transferred: a retransmitted final flight the
    /// client may already be past), or when the datagram holds no handshake or
    /// ChangeCipherSpec record (alerts are never answered with alerts).
    pub fn answer_ssp_down(&mut self, now: Instant, diversion: &Diversion) -> Option<Vec<u8>> {
        let flow = diversion.flow;
        let handshake_running = self.flows.state(&flow) != Some(FlowState::Transferred);
        if handshake_running {
            self.flows.abandon(&flow);
        }
        let wants_answer = parse_datagram(&diversion.datagram).is_ok_and(|records| {
            records.iter().any(|r| {
                matches!(
                    r.content_type,
                    ContentType::Handshake | ContentType::ChangeCipherSpec
                )
            })
        });
        if !(handshake_running && wants_answer && self.alerts.allow(&flow, now)) {
            self.counters.ssp_down_silent += 1;
            return None;
        }
        let pkt = build_udp_packet(
            (flow.mote_addr, flow.mote_port),
            (flow.peer_addr, flow.peer_port),
            EMIT_HOP_LIMIT,
            &ssp_down_alert(),
        )
        .ok()?;
        self.counters.ssp_down_alerts += 1;
        Some(pkt)
    }

    /// When `handle_timeout` next wants to run (a coarse sweep while flows exist).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_sweep
    }

    /// Expires idle handshakes and sessions.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|t| now < t) {
            return;
        }
        let (hs, ss, rs) = self.flows.expire(now);
        self.counters.handshakes_expired += hs;
        self.counters.sessions_expired += ss;
        self.counters.resumes_expired += rs;
        self.counters.resumables_expired += self.resumables.expire(now);
        let busy = self.flows.len() > 0 || self.resumables.len() > 0;
        self.next_sweep = busy.then(|| now + SWEEP_INTERVAL);
    }
}
