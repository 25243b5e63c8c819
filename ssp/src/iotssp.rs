//! The orchestrator: redirect messages from border routers and datagrams from motes in;
//! redirect messages (Emit, FlowTransferred, FlowAbandoned), datagrams to motes and a
//! deadline out. Sans-IO: the daemon (`iotssp`) or `lowpan-br` (attached mode) drives it.
//!
//! Per mote: a cookie gate (no state, nothing to the mote before a valid cookie) and its
//! mote leg ([`LegMode`](crate::hem::LegMode)):
//! - association (default): the standing association (`mote_assoc::SspAssoc`), kept across
//!   delegations. A delegation's session goes to the mote only once the client is
//!   authenticated and authorised, one Transfer at a time per mote; the others wait their
//!   turn. No cap per mote applies to Internet handshakes (they cost the mote nothing), only
//!   the total cap.
//! - psk-handshake (the paper's flow): the mote's link: the IoTSSP reaches a mote from one
//!   address and port, so one delegation at a time runs its PSK association with the mote,
//!   and only once its client is authenticated and authorised; the others wait their turn.
//!   `max_per_mote` caps the authorised delegations holding or waiting for the link (the
//!   mote's availability): one beyond it gets the client a clear alert. Internet handshakes
//!   cost the mote nothing and are capped only in total.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::provider::{OsRandom, SecureRandom};
use dtls::record::{ContentType, records};
use redirect::{FlowTag, RedirectMessage};

use crate::am::Am;
use crate::cam::Cam;
use crate::counters::{Counters, SspDrop};
use crate::hem::gate::{CookieGate, GateVerdict, first_hello};
use crate::hem::{Ctx, Delegation, Failure, HandshakeRecord, HemTimers, MoteProfile, Output};

/// Ended delegations kept for the operator (status command and page), newest last.
pub const HANDSHAKE_HISTORY: usize = 32;
use mote_assoc::crypto::{SoftAes, SoftEcdh};
use mote_assoc::wire::ConnectFailure;
use mote_assoc::wire::TransferBody;
use mote_assoc::{SignFailure, SspAssoc, SspEvent, StartError, TransferFailure};

use crate::outbound::{OutboundHandshake, OutboundPhase, OutboundStep};

/// The association machine of one mote, on the host's AES and P-256.
type Association = SspAssoc<SoftAes, SoftEcdh, AssocRandom>;

/// The association's randomness: the IoTSSP's own source.
struct AssocRandom(Arc<dyn SecureRandom>);

impl mote_assoc::crypto::Random for AssocRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        if self.0.fill(buf).is_err() {
            // The OS source does not fail; a seeded one never does. A failure here must not
            // yield a predictable key: nothing the caller can do but stop.
            panic!("randomness unavailable for the mote association");
        }
    }
}

/// Bounds on what the IoTSSP holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// psk-handshake leg: authorised delegations holding or waiting for a mote's link (its
    /// availability); one more is refused with an alert (`mote_busy`).
    pub max_per_mote: usize,
    /// Delegations in progress in total.
    pub max_delegations: usize,
    pub cookie_rotation: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_per_mote: 2,
            max_delegations: 256,
            cookie_rotation: Duration::from_secs(300),
        }
    }
}

struct MoteSlot {
    profile: Arc<MoteProfile>,
    /// Association leg: the profile whose Internet-side server offers only the suites the
    /// mote reported in its last AssocReady (the configured order kept); `None` before it
    /// reported, or when it reported none of the configured ones.
    narrowed: Option<Arc<MoteProfile>>,
    gate: CookieGate,
    /// Association leg: the standing association, the delegation whose Transfer is in
    /// flight, and the bodies of authorised delegations waiting for it.
    assoc: Option<Association>,
    transfer: Option<FlowTag>,
    ready: VecDeque<(FlowTag, TransferBody)>,
    /// Keyless mote: the handshake (inbound delegation or outbound) whose signature request
    /// is in flight on the association, and those waiting for it, oldest first.
    signing: Option<FlowTag>,
    sign_queue: VecDeque<(FlowTag, dtls::SignatureRequest)>,
    /// The delegation whose PSK association uses the mote's link.
    link: Option<FlowTag>,
    /// Delegations waiting for the link, oldest first.
    queue: VecDeque<FlowTag>,
}

pub struct Iotssp {
    motes: Vec<MoteSlot>,
    by_dtls: HashMap<(Ipv6Addr, u16), usize>,
    by_transfer: HashMap<SocketAddr, usize>,
    delegations: HashMap<FlowTag, Delegation>,
    /// Client handshakes motes asked for with Connect, by flow (server, mote).
    outbound: HashMap<FlowTag, OutboundHandshake>,
    cam: Cam,
    am: Am,
    timers: HemTimers,
    limits: Limits,
    counters: Counters,
    out: VecDeque<Output>,
    /// The last [`HANDSHAKE_HISTORY`] delegations that ended.
    history: VecDeque<HandshakeRecord>,
    /// Cookie secrets, both legs' hello randoms and transfer ids.
    rng: Arc<dyn SecureRandom>,
    /// The origin of the associations' millisecond clock (the first instant seen).
    origin: Option<Instant>,
    /// Association-leg motes to be poked since [`Iotssp::start_epoch`] (with the Pokes
    /// each had), one every [`POKE_PACING`] from `next_poke`, and those to be poked again
    /// at the given time if still not associated.
    to_poke: VecDeque<(usize, u32)>,
    poke_again: Vec<(Instant, usize, u32)>,
    next_poke: Option<Instant>,
}

/// Between two Pokes of a newly started IoTSSP to its motes: at most 20 a second go to the
/// border routers and their radios, whatever the number of motes.
pub const POKE_PACING: Duration = Duration::from_millis(50);
/// A newly started IoTSSP pokes a mote that is still not associated again this long after
/// its first Poke, then twice as long after each (a mote may not have its address yet when
/// its border router starts, and a Poke may be lost), [`POKES_AT_START`] in all.
pub const POKE_AGAIN_AFTER: Duration = Duration::from_secs(4);
pub const POKES_AT_START: u32 = 4;

/// The IoTSSP epoch of a start at `wall`: quarter-seconds since 2025-01-01 00:00 UTC (0
/// before, saturating in 2059). It grows between two starts more than a quarter-second apart
/// (a restart takes longer: loading the configuration and binding the sockets) while the
/// clock does not go back; when it does not grow, a mote honours the Pokes within its
/// minute's limit only.
pub fn epoch_of(wall: std::time::SystemTime) -> u32 {
    const SINCE: std::time::Duration = std::time::Duration::from_secs(1_735_689_600);
    let base = std::time::UNIX_EPOCH + SINCE;
    wall.duration_since(base).map_or(0, |d| {
        u32::try_from(d.as_millis() / 250).unwrap_or(u32::MAX)
    })
}

impl std::fmt::Debug for Iotssp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iotssp")
            .field("motes", &self.motes.len())
            .field("delegations", &self.delegations.len())
            .finish_non_exhaustive()
    }
}

macro_rules! ctx {
    ($s:ident) => {
        Ctx {
            cam: &mut $s.cam,
            am: &mut $s.am,
            counters: &mut $s.counters,
            out: &mut $s.out,
            timers: &$s.timers,
            rng: &*$s.rng,
        }
    };
}

impl Iotssp {
    /// An IoTSSP drawing its randomness from the OS (the daemons).
    pub fn new(
        motes: Vec<MoteProfile>,
        cam: Cam,
        am: Am,
        timers: HemTimers,
        limits: Limits,
    ) -> Result<Self, dtls::Error> {
        Self::with_random(motes, cam, am, timers, limits, OsRandom::shared())
    }

    /// An IoTSSP drawing everything random it needs from `rng` (a seed replays exactly):
    /// its cookie secrets, the transfer ids and, replacing theirs, the random source of
    /// every mote profile's server and client configuration.
    pub fn with_random(
        motes: Vec<MoteProfile>,
        cam: Cam,
        am: Am,
        timers: HemTimers,
        limits: Limits,
        rng: Arc<dyn SecureRandom>,
    ) -> Result<Self, dtls::Error> {
        let mut slots = Vec::with_capacity(motes.len());
        let mut by_dtls = HashMap::new();
        let mut by_transfer = HashMap::new();
        for (i, mut m) in motes.into_iter().enumerate() {
            by_dtls.insert((m.address, m.dtls_port), i);
            by_transfer.insert(m.transfer_addr(), i);
            let mut server = (*m.server).clone();
            server.rng = rng.clone();
            m.server = Arc::new(server);
            let mut client = (*m.client).clone();
            client.rng = rng.clone();
            m.client = Arc::new(client);
            let gate = CookieGate::new(limits.cookie_rotation, rng.clone())?;
            let assoc = m
                .assoc
                .clone()
                .map(|creds| SspAssoc::new(creds, SoftEcdh, AssocRandom(rng.clone())));
            slots.push(MoteSlot {
                profile: Arc::new(m),
                narrowed: None,
                gate,
                assoc,
                transfer: None,
                ready: VecDeque::new(),
                signing: None,
                sign_queue: VecDeque::new(),
                link: None,
                queue: VecDeque::new(),
            });
        }
        Ok(Iotssp {
            motes: slots,
            by_dtls,
            by_transfer,
            delegations: HashMap::new(),
            outbound: HashMap::new(),
            cam,
            am,
            timers,
            limits,
            counters: Counters::default(),
            out: VecDeque::new(),
            history: VecDeque::new(),
            rng,
            origin: None,
            to_poke: VecDeque::new(),
            poke_again: Vec::new(),
            next_poke: None,
        })
    }

    /// This IoTSSP has just started (or replaced a running one) and has no association: its
    /// Pokes carry `epoch` (see [`epoch_of`]), larger than any of an earlier start, and every
    /// association-leg mote is poked once, paced by [`POKE_PACING`] from `now`, so that each
    /// re-associates before a client needs it; one still not associated is poked again
    /// ([`POKE_AGAIN_AFTER`], [`POKES_AT_START`]). A mote answers a Poke of a newer epoch at
    /// once; a replayed one gets no more than before (one association set-up a minute). A
    /// mote that none of these Pokes reached is poked again when a delegation needs it.
    pub fn start_epoch(&mut self, now: Instant, epoch: u32) {
        self.to_poke.clear();
        self.poke_again.clear();
        for (i, m) in self.motes.iter_mut().enumerate() {
            if let Some(a) = m.assoc.as_mut() {
                a.set_epoch(epoch);
                self.to_poke.push_back((i, 0));
            }
        }
        self.next_poke = (!self.to_poke.is_empty()).then_some(now);
    }

    /// Pokes the next mote in line if its time has come.
    fn poke_next(&mut self, now: Instant) {
        if self.next_poke.is_none_or(|t| t > now) {
            return;
        }
        // Motes due for another Poke join the line.
        let (due, later): (Vec<_>, Vec<_>) =
            self.poke_again.drain(..).partition(|(at, _, _)| *at <= now);
        self.poke_again = later;
        self.to_poke
            .extend(due.into_iter().map(|(_, slot, sent)| (slot, sent)));
        if let Some((slot, sent)) = self.to_poke.pop_front()
            && let Some(a) = self.motes[slot].assoc.as_mut()
            && a.request_association()
        {
            self.counters.start_pokes += 1;
            self.drive_association(now, slot);
            if sent + 1 < POKES_AT_START {
                let wait = POKE_AGAIN_AFTER.saturating_mul(1 << sent.min(16));
                self.poke_again.push((now + wait, slot, sent + 1));
            }
        }
        self.next_poke = if self.to_poke.is_empty() {
            self.poke_again.iter().map(|(at, _, _)| *at).min()
        } else {
            Some(now + POKE_PACING)
        };
    }

    /// Pokes sent to motes (a newly started IoTSSP's, and those of transfers that found no
    /// association), retransmissions included.
    pub fn pokes_sent(&self) -> u64 {
        self.motes
            .iter()
            .filter_map(|m| m.assoc.as_ref())
            .map(|a| a.stats().pokes_sent)
            .sum()
    }

    /// The associations' clock reading for `now`.
    fn assoc_time(&mut self, now: Instant) -> mote_assoc::Instant {
        let origin = *self.origin.get_or_insert(now);
        mote_assoc::Instant::from_millis(now.saturating_duration_since(origin).as_millis() as u64)
    }

    /// The association state of mote `name` (`None`: unknown mote or psk-handshake leg).
    pub fn association(
        &self,
        name: &str,
    ) -> Option<(
        Option<mote_assoc::ssp::SspAssociationState>,
        &mote_assoc::SspStats,
    )> {
        let a = self
            .motes
            .iter()
            .find(|m| m.profile.name == name)?
            .assoc
            .as_ref()?;
        Some((a.association(), a.stats()))
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn cam(&self) -> &Cam {
        &self.cam
    }

    pub fn am(&self) -> &Am {
        &self.am
    }

    /// Connections (Internet or mote side) that may hold session keys. 0 whenever no
    /// handshake is in progress, in particular right after every transfer.
    pub fn keys_held(&self) -> usize {
        self.delegations.values().map(Delegation::keys_held).sum()
    }

    /// Motes whose private key this IoTSSP holds (`key = "iotssp"`). A keyless mote
    /// (`key = "mote"`) is not among them: only its certificate is here.
    pub fn private_keys_held(&self) -> usize {
        self.motes
            .iter()
            .filter(|m| m.profile.holds_private_key())
            .count()
    }

    /// Motes that sign their own handshakes (`key = "mote"`).
    pub fn keyless_motes(&self) -> usize {
        self.motes.len() - self.private_keys_held()
    }

    /// Whether this IoTSSP holds the private key of mote `name` (`None`: unknown mote).
    pub fn holds_private_key_of(&self, name: &str) -> Option<bool> {
        self.motes
            .iter()
            .find(|m| m.profile.name == name)
            .map(|m| m.profile.holds_private_key())
    }

    /// Delegations in progress or retaining a final flight.
    pub fn delegation_count(&self) -> usize {
        self.delegations.len()
    }

    pub fn active_delegations(&self) -> usize {
        self.delegations.values().filter(|d| d.is_active()).count()
    }

    /// The delegations in progress or retaining a final flight (order unspecified).
    pub fn delegations(&self) -> impl Iterator<Item = &Delegation> {
        self.delegations.values()
    }

    /// The last delegations that ended, oldest first.
    pub fn recent_handshakes(&self) -> impl DoubleEndedIterator<Item = &HandshakeRecord> {
        self.history.iter()
    }

    /// The profile of mote `name` as configured.
    #[cfg(test)]
    pub(crate) fn profile(&self, name: &str) -> Option<&MoteProfile> {
        self.motes
            .iter()
            .map(|m| &*m.profile)
            .find(|p| p.name == name)
    }

    /// The names of the motes it serves, in configuration order.
    pub fn mote_names(&self) -> impl Iterator<Item = &str> {
        self.motes.iter().map(|m| m.profile.name.as_str())
    }

    /// Moves the records of delegations that ended into the history.
    fn record_ended(&mut self) {
        for d in self.delegations.values_mut() {
            if let Some(r) = d.take_record() {
                if self.history.len() == HANDSHAKE_HISTORY {
                    self.history.pop_front();
                }
                self.history.push_back(r);
            }
        }
    }

    /// A message from a border router (attached mode: straight from the HRM; remote mode:
    /// after `RedirectChannel::open`).
    pub fn handle_redirect(&mut self, now: Instant, msg: &RedirectMessage<'_>) {
        match msg {
            RedirectMessage::Divert { flow, datagram } => self.handle_divert(now, *flow, datagram),
            // What a mote sent from its transfer port to this IoTSSP, carried by the border
            // router inside the authenticated channel.
            RedirectMessage::MoteDatagram { flow, datagram } => {
                let from = SocketAddr::V6(SocketAddrV6::new(flow.mote_addr, flow.mote_port, 0, 0));
                self.handle_mote_datagram(now, from, datagram);
            }
            RedirectMessage::Hello => {}
            _ => self.counters.record_drop(SspDrop::UnexpectedRedirect),
        }
    }

    /// A datagram from the peer, diverted by the border router on `flow`.
    pub fn handle_divert(&mut self, now: Instant, flow: FlowTag, datagram: &[u8]) {
        self.counters.diverts += 1;
        let app_data = records(datagram)
            .flatten()
            .filter(|r| r.content_type() == ContentType::ApplicationData)
            .count();
        self.counters.app_data_records_received += app_data as u64;
        let Some(&slot) = self.by_dtls.get(&(flow.mote_addr, flow.mote_port)) else {
            self.counters.record_drop(SspDrop::UnknownMote);
            return;
        };
        // The server's answer to a handshake the mote asked for.
        if let Some(o) = self.outbound.get_mut(&flow) {
            o.handle_datagram(now, datagram);
            self.pump_outbound(now, flow);
            self.tidy(now, slot);
            return;
        }
        if let Some(d) = self.delegations.get_mut(&flow) {
            // A fresh ClientHello (new random) after the flow was transferred starts a new
            // handshake; anything else belongs to the delegation (retransmissions included).
            let fresh = !d.is_active()
                && first_hello(datagram).is_ok_and(|h| h.hello.random != d.client_random());
            if !fresh {
                d.handle_peer_datagram(now, datagram, &mut ctx!(self));
                self.tidy(now, slot);
                return;
            }
        }
        let first = match first_hello(datagram) {
            Ok(h) => h,
            Err(e) => {
                self.counters.record_drop(SspDrop::NotHello(e));
                return;
            }
        };
        let peer = SocketAddr::V6(SocketAddrV6::new(flow.peer_addr, flow.peer_port, 0, 0));
        match self.motes[slot].gate.check(now, peer, first) {
            GateVerdict::Verify(hvr) => {
                self.counters.cookies_sent += 1;
                self.out.push_back(Output::Emit {
                    flow,
                    datagram: hvr,
                });
            }
            GateVerdict::Admit(first) => {
                if self.active_delegations() >= self.limits.max_delegations {
                    self.counters.record_drop(SspDrop::TooManyDelegations);
                    return;
                }
                let profile = self.motes[slot]
                    .narrowed
                    .clone()
                    .unwrap_or_else(|| self.motes[slot].profile.clone());
                match Delegation::accept(now, flow, profile, &first, datagram, &mut ctx!(self)) {
                    Ok(d) => {
                        self.counters.handshakes_started += 1;
                        tracing::debug!(%flow, mote = d.mote_name(), "delegation started");
                        self.delegations.insert(flow, d);
                        self.motes[slot].queue.push_back(flow);
                        self.tidy(now, slot);
                    }
                    Err(e) => {
                        tracing::warn!(%flow, error = e.as_str(), "delegation refused to start");
                        self.counters.record_drop(SspDrop::AcceptFailed);
                    }
                }
            }
        }
    }

    /// A datagram received on the IoTSSP's mote socket from `from`.
    pub fn handle_mote_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.counters.mote_datagrams += 1;
        let from = normalize(from);
        let Some(&slot) = self.by_transfer.get(&from) else {
            self.counters.record_drop(SspDrop::UnknownMoteSource);
            return;
        };
        if self.motes[slot].assoc.is_some() {
            let t = self.assoc_time(now);
            let event = self.motes[slot]
                .assoc
                .as_mut()
                .and_then(|a| a.handle_datagram(t, datagram));
            self.assoc_event(now, slot, event);
            self.tidy(now, slot);
            return;
        }
        let Some(d) = self.motes[slot]
            .link
            .and_then(|f| self.delegations.get_mut(&f))
        else {
            self.counters.record_drop(SspDrop::MoteWithoutDelegation);
            return;
        };
        d.handle_mote_datagram(now, datagram, &mut ctx!(self));
        self.tidy(now, slot);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let assoc = self.origin.and_then(|origin| {
            self.motes
                .iter()
                .filter_map(|m| m.assoc.as_ref()?.poll_timeout())
                .map(|t| origin + Duration::from_millis(t.as_millis()))
                .min()
        });
        let outbound = self
            .outbound
            .values()
            .filter_map(OutboundHandshake::poll_timeout);
        self.delegations
            .values()
            .filter_map(Delegation::poll_timeout)
            .chain(assoc)
            .chain(outbound)
            .chain(self.next_poke)
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.poke_next(now);
        let t = self.assoc_time(now);
        for slot in 0..self.motes.len() {
            let Some(a) = self.motes[slot].assoc.as_mut() else {
                continue;
            };
            if a.poll_timeout().is_some_and(|at| at <= t) {
                let event = a.handle_timeout(t);
                self.assoc_event(now, slot, event);
            }
        }
        for d in self.delegations.values_mut() {
            if d.poll_timeout().is_some_and(|t| t <= now) {
                d.handle_timeout(now, &mut ctx!(self));
            }
        }
        let due: Vec<FlowTag> = self
            .outbound
            .values()
            .filter(|o| o.poll_timeout().is_some_and(|t| t <= now))
            .map(|o| o.flow)
            .collect();
        for flow in due {
            if let Some(o) = self.outbound.get_mut(&flow) {
                o.handle_timeout(now);
            }
            self.pump_outbound(now, flow);
        }
        for slot in 0..self.motes.len() {
            self.tidy(now, slot);
        }
    }

    /// The outbound handshakes in progress: (mote, server name, phase).
    pub fn outbound_handshakes(&self) -> impl Iterator<Item = (&str, &str, OutboundPhase)> {
        self.outbound.values().map(|o| {
            (
                self.motes[o.slot].profile.name.as_str(),
                o.server_name.as_str(),
                o.phase(),
            )
        })
    }

    /// A mote's authenticated Connect: start the client handshake its policy allows, or
    /// refuse it with a ConnectFailed and a log line that says why.
    fn start_outbound(
        &mut self,
        now: Instant,
        slot: usize,
        r: u32,
        server_addr: Ipv6Addr,
        server_port: u16,
    ) {
        let profile = self.motes[slot].profile.clone();
        let refuse = |me: &mut Self, reason: ConnectFailure| {
            if let Some(a) = me.motes[slot].assoc.as_mut() {
                a.refuse_connect(r, reason);
            }
        };
        let Some(server) = profile
            .outbound
            .iter()
            .find(|s| s.address == server_addr && s.port == server_port)
        else {
            tracing::warn!(mote = %profile.name, server = %SocketAddrV6::new(server_addr, server_port, 0, 0), "outbound connect refused: the policy names no such server for this mote");
            self.counters.outbound_refused += 1;
            refuse(self, ConnectFailure::NotPermitted);
            return;
        };
        let flow = FlowTag {
            peer_addr: server_addr,
            peer_port: server_port,
            mote_addr: profile.address,
            mote_port: profile.dtls_port,
        };
        if self.outbound.contains_key(&flow)
            || self.active_delegations() + self.outbound.len() >= self.limits.max_delegations
        {
            self.counters.outbound_refused += 1;
            refuse(self, ConnectFailure::Busy);
            return;
        }
        // Only the suites the mote's record layer continues (its AssocReady's set).
        let mut client = (*server.client).clone();
        if let Some(suites) = self.motes[slot]
            .assoc
            .as_ref()
            .and_then(|a| a.association())
            .map(|a| a.suites.0)
        {
            client
                .cipher_suites
                .retain(|s| crate::hem::suite_bit(*s).is_some_and(|b| suites & b != 0));
        }
        if client.cipher_suites.is_empty() {
            tracing::warn!(mote = %profile.name, server = %server.name, "outbound connect refused: the mote runs none of the configured suites");
            self.counters.outbound_refused += 1;
            refuse(self, ConnectFailure::NotPermitted);
            return;
        }
        client.rng = self.rng.clone();
        let deadline = now + self.timers.handshake_timeout;
        match OutboundHandshake::start(now, flow, slot, r, server, Arc::new(client), deadline) {
            Ok(o) => {
                tracing::info!(mote = %profile.name, server = %server.name, %flow, "outbound handshake started");
                self.counters.outbound_started += 1;
                self.outbound.insert(flow, o);
                self.pump_outbound(now, flow);
            }
            Err(e) => {
                tracing::warn!(mote = %profile.name, server = %server.name, error = %e, "outbound connect failed to start");
                self.counters.record_outbound_failure("handshake");
                refuse(self, ConnectFailure::HandshakeFailed);
            }
        }
    }

    /// Sends what the outbound handshake on `flow` has for the server and acts on its end.
    fn pump_outbound(&mut self, now: Instant, flow: FlowTag) {
        let Some(o) = self.outbound.get_mut(&flow) else {
            return;
        };
        while let Some(datagram) = o.poll_transmit() {
            self.out.push_back(Output::Emit { flow, datagram });
        }
        let slot = o.slot;
        match o.poll(now) {
            OutboundStep::Nothing => {}
            OutboundStep::Complete(body) => {
                tracing::info!(mote = %self.motes[slot].profile.name, server = %o.server_name, "outbound handshake complete; transferring the session");
                self.motes[slot].ready.push_back((flow, body));
            }
            OutboundStep::Failed(reason, detail) => {
                let (r, server) = (o.r, o.server_name.clone());
                self.fail_outbound(flow, reason, &detail);
                tracing::warn!(mote = %self.motes[slot].profile.name, %server, r, reason, %detail, "outbound handshake failed");
            }
        }
    }

    /// Ends the outbound handshake on `flow` (its alert, if any, still goes out): the mote
    /// gets a ConnectFailed.
    fn fail_outbound(&mut self, flow: FlowTag, reason: &'static str, detail: &str) {
        let Some(mut o) = self.outbound.remove(&flow) else {
            return;
        };
        while let Some(datagram) = o.poll_transmit() {
            self.out.push_back(Output::Emit { flow, datagram });
        }
        self.counters.record_outbound_failure(reason);
        tracing::debug!(%flow, reason, detail, "outbound handshake ended");
        if let Some(a) = self.motes[o.slot].assoc.as_mut() {
            a.refuse_connect(o.r, ConnectFailure::HandshakeFailed);
        }
    }

    /// Next thing to send or report.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// What the association of mote `slot` reported: the delegation whose Transfer it was
    /// learns the outcome.
    fn assoc_event(&mut self, now: Instant, slot: usize, event: Option<SspEvent>) {
        let name = &self.motes[slot].profile.name;
        let outcome = match event {
            None => return,
            Some(SspEvent::Associated {
                id,
                free_slots,
                suites,
            }) => {
                self.counters.mote_associations += 1;
                tracing::info!(mote = %name, id, free_slots, suites = suites.0, "mote associated");
                let profile = &self.motes[slot].profile;
                let narrowed = profile.server_for_mote_suites(suites.0).map(|server| {
                    Arc::new(MoteProfile {
                        server,
                        ..(**profile).clone()
                    })
                });
                if narrowed.is_none() {
                    tracing::warn!(mote = %name, suites = suites.0, "the mote continues none of the configured cipher suites");
                }
                self.motes[slot].narrowed = narrowed;
                return;
            }
            Some(SspEvent::Unassociated) => {
                tracing::info!(mote = %name, "mote lost its association; associating again");
                return;
            }
            Some(SspEvent::ConnectRequested {
                r,
                server_addr,
                server_port,
            }) => {
                self.start_outbound(now, slot, r, Ipv6Addr::from(server_addr), server_port);
                return;
            }
            Some(SspEvent::Signed { signature }) => {
                if let Some(flow) = self.motes[slot].signing.take() {
                    self.signature_arrived(now, slot, flow, Ok(signature));
                }
                return;
            }
            Some(SspEvent::SignFailed(f)) => {
                if let Some(flow) = self.motes[slot].signing.take() {
                    self.signature_arrived(now, slot, flow, Err(f));
                }
                return;
            }
            Some(SspEvent::Confirmed { n, free_slots }) => {
                tracing::debug!(mote = %name, n, free_slots, "transfer confirmed");
                Ok(())
            }
            Some(SspEvent::TransferFailed(f)) => {
                tracing::info!(mote = %name, failure = ?f, "transfer failed");
                Err(match f {
                    TransferFailure::Refused {
                        status: mote_assoc::wire::ConfirmStatus::Full,
                        ..
                    } => Failure::MoteBusy,
                    TransferFailure::Refused { .. } => Failure::ConfirmRejected,
                    TransferFailure::Deadline { .. } => Failure::ConfirmTimeout,
                })
            }
        };
        let Some(flow) = self.motes[slot].transfer.take() else {
            return;
        };
        if self.outbound.contains_key(&flow) {
            match outcome {
                Ok(()) => {
                    if let Some(o) = self.outbound.remove(&flow) {
                        tracing::info!(mote = %self.motes[slot].profile.name, server = %o.server_name, "outbound session transferred");
                    }
                    self.counters.outbound_completed += 1;
                    // The border router now forwards the server's application data to the mote.
                    self.out.push_back(Output::FlowTransferred {
                        flow,
                        final_flight: Vec::new(),
                    });
                }
                Err(f) => {
                    self.fail_outbound(flow, f.as_str(), "the mote did not install the session")
                }
            }
            return;
        }
        let Some(d) = self.delegations.get_mut(&flow) else {
            return;
        };
        match outcome {
            Ok(()) => d.assoc_confirmed(now, &mut ctx!(self)),
            Err(f) => d.assoc_failed(now, f, &mut ctx!(self)),
        }
    }

    /// Keyless mote: the mote's answer to the signature request of the handshake on `flow`
    /// (an inbound delegation or an outbound handshake); a failure ends that handshake with
    /// internal_error and a log line that says why.
    fn signature_arrived(
        &mut self,
        now: Instant,
        slot: usize,
        flow: FlowTag,
        answer: Result<[u8; 64], SignFailure>,
    ) {
        let name = self.motes[slot].profile.name.clone();
        if let Err(f) = &answer {
            let why = match f {
                SignFailure::Deadline => "no answer in time".to_string(),
                SignFailure::Refused(status) => format!("the mote answered {status:?}"),
            };
            tracing::warn!(mote = %name, %flow, %why, "keyless mote gave no signature; the handshake fails");
        }
        if let Some(o) = self.outbound.get_mut(&flow) {
            let refused = match answer {
                Ok(signature) => o
                    .provide_signature(now, &signature)
                    .err()
                    .map(|e| e.to_string()),
                Err(f) => {
                    o.abort();
                    Some(format!("{f:?}"))
                }
            };
            match refused {
                None => {
                    self.counters.keyless_signatures += 1;
                    self.pump_outbound(now, flow);
                }
                Some(detail) => {
                    tracing::warn!(mote = %name, %flow, %detail, "outbound handshake failed: no usable signature from the mote");
                    self.fail_outbound(flow, "mote_signature_failed", &detail);
                }
            }
            return;
        }
        let Some(d) = self.delegations.get_mut(&flow) else {
            return;
        };
        match answer {
            Ok(signature) => d.mote_signed(now, &signature, &mut ctx!(self)),
            Err(_) => d.mote_signature_failed(now, &mut ctx!(self)),
        }
    }

    /// Keyless mote: collects the signatures its handshakes wait for and sends the next
    /// SignRequest when none is in flight (one at a time per mote).
    fn drive_signatures(&mut self, now: Instant, slot: usize) {
        let mote = (
            self.motes[slot].profile.address,
            self.motes[slot].profile.dtls_port,
        );
        let mut wanted: Vec<(FlowTag, dtls::SignatureRequest)> = Vec::new();
        for (flow, d) in self
            .delegations
            .iter_mut()
            .filter(|(f, _)| (f.mote_addr, f.mote_port) == mote)
        {
            if let Some(r) = d.take_signature_request(now) {
                wanted.push((*flow, r));
            }
        }
        for o in self.outbound.values_mut().filter(|o| o.slot == slot) {
            if let Some(r) = o.take_signature_request() {
                wanted.push((o.flow, r));
            }
        }
        self.motes[slot].sign_queue.extend(wanted);
        let t = self.assoc_time(now);
        while self.motes[slot].signing.is_none() {
            let Some((flow, r)) = self.motes[slot].sign_queue.pop_front() else {
                break;
            };
            let alive = self.outbound.contains_key(&flow)
                || self
                    .delegations
                    .get(&flow)
                    .is_some_and(Delegation::is_active);
            if !alive {
                continue;
            }
            let purpose = match r.purpose {
                dtls::SignaturePurpose::ServerKeyExchange => {
                    mote_assoc::wire::SignPurpose::ServerKeyExchange
                }
                dtls::SignaturePurpose::CertificateVerify => {
                    mote_assoc::wire::SignPurpose::CertificateVerify
                }
            };
            let Some(a) = self.motes[slot].assoc.as_mut() else {
                break;
            };
            if a.request_signature(t, purpose, &r.digest) {
                tracing::debug!(mote = %self.motes[slot].profile.name, %flow, ?purpose, "signature asked of the mote");
                self.motes[slot].signing = Some(flow);
            }
        }
    }

    /// Association leg: collects the bodies of newly authorised delegations, starts the next
    /// Transfer when none is in flight, and sends what the association has to send.
    fn drive_association(&mut self, now: Instant, slot: usize) {
        if self.motes[slot].assoc.is_none() {
            return;
        }
        self.drive_signatures(now, slot);
        let mote = (
            self.motes[slot].profile.address,
            self.motes[slot].profile.dtls_port,
        );
        let flows: Vec<FlowTag> = self
            .delegations
            .keys()
            .filter(|f| (f.mote_addr, f.mote_port) == mote)
            .copied()
            .collect();
        for flow in flows {
            let Some(d) = self.delegations.get_mut(&flow) else {
                continue;
            };
            if let Some(body) = d.take_assoc_body(now, &mut ctx!(self)) {
                self.motes[slot].ready.push_back((flow, body));
            }
        }
        let t = self.assoc_time(now);
        while self.motes[slot].transfer.is_none() {
            let Some((flow, body)) = self.motes[slot].ready.pop_front() else {
                break;
            };
            let outbound = self.outbound.contains_key(&flow);
            if !outbound
                && !self
                    .delegations
                    .get(&flow)
                    .is_some_and(Delegation::is_active)
            {
                continue;
            }
            let Some(a) = self.motes[slot].assoc.as_mut() else {
                break;
            };
            let failure = match a.start_transfer(t, body) {
                Ok(()) => {
                    self.motes[slot].transfer = Some(flow);
                    break;
                }
                Err(StartError::Busy) => continue,
                // The mote said it has no room: the client gets a clear alert at once.
                Err(StartError::Full) => Failure::MoteBusy,
                Err(StartError::UnsupportedSuite) => Failure::MoteRefused,
            };
            if outbound {
                self.fail_outbound(flow, failure.as_str(), "the mote cannot take the session");
            } else if let Some(d) = self.delegations.get_mut(&flow) {
                d.assoc_failed(now, failure, &mut ctx!(self));
            }
        }
        let to = self.motes[slot].profile.transfer_addr();
        let mut buf = [0u8; mote_assoc::MAX_DATAGRAM_LEN];
        while let Some(n) = self.motes[slot]
            .assoc
            .as_mut()
            .and_then(|a| a.poll_transmit(&mut buf))
        {
            self.out.push_back(Output::ToMote {
                mote: to,
                datagram: buf[..n].to_vec(),
            });
        }
    }

    /// Removes finished delegations, refuses authorised ones beyond the mote's cap, and
    /// hands the mote's link to the next authorised one in line.
    fn tidy(&mut self, now: Instant, slot: usize) {
        self.drive_association(now, slot);
        self.record_ended();
        self.delegations.retain(|_, d| !d.is_done());
        let m = &mut self.motes[slot];
        m.queue.retain(|f| {
            self.delegations
                .get(f)
                .is_some_and(Delegation::awaits_mote_leg)
        });
        if m.link.is_some_and(|f| {
            !self
                .delegations
                .get(&f)
                .is_some_and(Delegation::holds_mote_link)
        }) {
            m.link = None;
        }
        let mut busy = usize::from(m.link.is_some());
        for flow in m.queue.iter() {
            let Some(d) = self.delegations.get_mut(flow) else {
                continue;
            };
            if !d.wants_mote_link() {
                continue;
            }
            busy += 1;
            if busy > self.limits.max_per_mote {
                d.refuse_mote_busy(
                    now,
                    &mut Ctx {
                        cam: &mut self.cam,
                        am: &mut self.am,
                        counters: &mut self.counters,
                        out: &mut self.out,
                        timers: &self.timers,
                        rng: &*self.rng,
                    },
                );
            }
        }
        m.queue.retain(|f| {
            self.delegations
                .get(f)
                .is_some_and(Delegation::awaits_mote_leg)
        });
        if m.link.is_some() {
            self.record_ended();
            self.delegations.retain(|_, d| !d.is_done());
            return;
        }
        while let Some(pos) = m.queue.iter().position(|f| {
            self.delegations
                .get(f)
                .is_some_and(Delegation::wants_mote_link)
        }) {
            let Some(flow) = m.queue.remove(pos) else {
                break;
            };
            let Some(d) = self.delegations.get_mut(&flow) else {
                continue;
            };
            d.start_mote_leg(
                now,
                &mut Ctx {
                    cam: &mut self.cam,
                    am: &mut self.am,
                    counters: &mut self.counters,
                    out: &mut self.out,
                    timers: &self.timers,
                    rng: &*self.rng,
                },
            );
            if d.holds_mote_link() {
                m.link = Some(flow);
                break;
            }
        }
        self.record_ended();
        self.delegations.retain(|_, d| !d.is_done());
    }
}

/// IPv4-mapped or scoped forms of a mote's address compare equal to the configured one.
fn normalize(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => SocketAddr::new((*v6.ip()).into(), v6.port()),
        v4 => v4,
    }
}
