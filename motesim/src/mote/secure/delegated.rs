//! The delegated device (the paper's mote with handshake delegation).
//!
//! Its transfer port (5685) runs one of two legs ([`Leg`]): the standing association with
//! its IoTSSP ([`super::association`], the default: one Transfer in and one Confirm out per
//! delegation), or the paper's per-delegation PSK handshake, described here.
//!
//! On its transfer port it is a PSK DTLS server (TLS_PSK_WITH_AES_128_CCM_8) for one
//! identity only, its IoTSSP's. The IoTSSP's ClientHello carries the SessionTransferTicket
//! offer; the mote answers accept while it has a free session slot, busy otherwise. On that
//! session the IoTSSP sends one TransferSession; the mote installs the record layer of the
//! client's session for the (address, port) it names and answers TransferConfirm with the
//! key check. From then on it serves CoAP over DTLS on 5684 with that record layer only
//! ([`super::sessions`]).
//!
//! The confirmation is application data, which DTLS does not retransmit: the IoTSSP sends
//! the TransferSession again until it gets one. So the mote keeps the PSK session after
//! confirming and answers a repeat of the same transfer (same id, same content, same
//! session) with the same confirmation, without installing anything again (a second install
//! would restart the write sequence numbers: nonce reuse). The PSK session ends, and its
//! keys are wiped, on the IoTSSP's close_notify or [`DEFAULT_PSK_LINGER`] after the last
//! TransferSession, whichever comes first.
//!
//! On the association leg a mote may also report to a CoAP-over-DTLS server as a client
//! (outbound delegation, [`OutboundTarget`]): the library's [`Reporter`] asks the IoTSSP for
//! the session and says when a GET is due; the GET goes out on the transferred session. A
//! mote that reports in bursts ([`OutboundTarget::reports_per_session`]) ends the session
//! after each burst; with resumption slots it resumes the next one with the server itself
//! (an abbreviated handshake: no IoTSSP, no ECC), and only a server that does not resume
//! sends it back to its IoTSSP.
//!
//! It never sees a certificate and never does an ECC operation: the engine is configured
//! for the PSK suite alone, and the counters prove it (`ecc_operations`,
//! `certificates_seen`).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dtls::provider::SecureRandom;
use dtls::transfer::{
    ConfirmStatus, STT_EXTENSION_TYPE, SttAnswerRepr, SttOfferRepr, SttStatus, TransferConfirmRepr,
    TransferError, TransferMessage, TransferSessionRepr, key_check,
};
use dtls::{
    AlertDescription, CipherSuite, ClientHelloInfo, CloseReason, Endpoint, Event, Extension,
    HelloExtensionHandler, PskTable, ServerConfig, SessionKeys,
};

use super::DtlsDrop;
use super::association::{AssocOutcome, AssocRandom, MoteSigner, delegated_mote};
use super::ecc::plaintext_handshake_types;
use super::server::{PskConfig, mote_transport};
use super::sessions::{MoteCore, SessionTable, SessionTimes};
use super::{
    COAPS_PORT, Datagram, DeviceKind, Outbox, SecureDevice, SecurityCounters, count_records,
    min_deadline, peer_of, socket_addr,
};
use crate::mote::coap::CoapServer;
use crate::mote::service::Peer;
use delegated_mote::{Address, ReportAction, Reporter};

/// A transferred session without a record from its client for this long is dropped.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(300);
/// A transferred session without a record from its client for this long gives way to a new
/// transfer when every slot is taken (the least recently used first); until then it holds
/// its slot and a new transfer is refused.
pub const DEFAULT_SESSION_EVICT_AFTER: Duration =
    delegated_mote::Config::DEFAULT_SESSION_EVICT_AFTER;

/// Time between two outbound GETs (and two Connects while the mote has no session).
pub const DEFAULT_OUTBOUND_INTERVAL: Duration = Duration::from_secs(10);

/// How long the PSK session with the IoTSSP outlives its last TransferSession when the
/// IoTSSP's close_notify does not come (it is not retransmitted either). The IoTSSP gives up
/// on a confirmation 10 s after its first TransferSession (ssp `confirm_timeout`), so no
/// repeat is still on its way by then.
pub const DEFAULT_PSK_LINGER: Duration = Duration::from_secs(30);

/// A TransferSession the mote has answered on one PSK session, kept so that a repeat gets
/// the same answer. It holds no key: the key check stands for the keys.
struct Answered {
    /// The message without its keys.
    shape: TransferSessionRepr,
    key_check: [u8; 8],
    confirm: Vec<u8>,
}

impl Answered {
    fn new(session: &TransferSessionRepr, confirm: Vec<u8>) -> Self {
        Answered {
            shape: without_keys(session),
            key_check: key_check(&session.keys, session.transfer_id),
            confirm,
        }
    }

    /// The very message answered before (the IoTSSP resends the same bytes).
    fn is_repeat(&self, session: &TransferSessionRepr) -> bool {
        without_keys(session) == self.shape
            && key_check(&session.keys, session.transfer_id) == self.key_check
    }
}

fn without_keys(session: &TransferSessionRepr) -> TransferSessionRepr {
    let mut shape = session.clone();
    // The clone's keys are zeroized as they are replaced (SessionKeys wipes on drop).
    shape.keys = SessionKeys::zeroed(session.keys.aead());
    shape
}

/// A PSK session with the IoTSSP that has carried a TransferSession.
struct PskLink {
    /// Which association (the endpoint replaces one whose peer restarts from the same
    /// address): what is remembered here belongs to that one only.
    client_random: [u8; 32],
    /// What the first TransferSession got (none yet after an unparseable message).
    answered: Option<Answered>,
    /// Closed by the mote then, if the IoTSSP has not closed it before.
    linger_until: Instant,
}

/// How a delegated mote takes sessions over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Leg {
    /// The standing association (docs/mote-association.md).
    #[default]
    Association,
    /// A PSK DTLS handshake with the SessionTransferTicket per delegation (the paper's).
    PskHandshake,
}

impl std::str::FromStr for Leg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "association" => Ok(Leg::Association),
            "psk-handshake" => Ok(Leg::PskHandshake),
            _ => Err(format!("{s:?} is not a leg (association, psk-handshake)")),
        }
    }
}

/// Settings of a delegated mote.
#[derive(Clone, Debug)]
pub struct DelegatedConfig {
    /// The PSK identity and key provisioned as this mote's IoTSSP (the association uses the
    /// key, which must then have 16..=32 bytes).
    pub iotssp: PskConfig,
    pub transfer_port: u16,
    /// Transferred sessions held at once.
    pub slots: usize,
    /// The suites the record layer continues; a transfer of any other is refused with
    /// status unsupported suite.
    pub suites: Vec<CipherSuite>,
    pub leg: Leg,
    /// Association leg: the IoTSSP's address and port, to associate at boot; without it
    /// the mote learns them from its IoTSSP's first Poke.
    pub iotssp_address: Option<Peer>,
    /// How long a transferred session is kept without a record from its client, so a client
    /// that vanished without close_notify cannot hold a slot for the life of the process.
    pub session_idle: Duration,
    /// How long a transferred session goes without a record from its client before it
    /// gives way to a new transfer in a full table.
    pub session_evict_after: Duration,
    /// Association leg: a server the mote reports to as a DTLS client (outbound delegation).
    pub outbound: Option<OutboundTarget>,
    /// Association leg, keyless delegation: the mote's private key, with which it signs its
    /// IoTSSP's SignRequests (without it the mote refuses them).
    pub signing_key: Option<p256::ecdsa::SigningKey>,
    /// The emulated time one signature takes (counted as one ECC sign operation).
    pub ecc: super::ecc::EccProfile,
    /// Association leg: sessions the mote keeps to resume itself (abbreviated handshake
    /// with the client, no IoTSSP, no ECC), at most `slots`; 0 none.
    pub resumption_slots: usize,
}

/// A CoAP-over-DTLS server the mote asks its IoTSSP to connect it to (Connect on the
/// association), then sends a CoAP GET every `interval` on the transferred session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundTarget {
    pub server: Peer,
    /// The Uri-Path of the GET ("/" or e.g. "/time").
    pub path: String,
    pub interval: Duration,
    /// The mote ends its session with the server (close_notify) when a report is due after
    /// this many on it, as a mote that sleeps between bursts of reports would; that report
    /// goes on the next session, which the mote resumes with the server itself when it
    /// keeps the session resumable (its resumption slots), or asks its IoTSSP for. `None`:
    /// the session is kept.
    pub reports_per_session: Option<u32>,
}

impl OutboundTarget {
    /// Parses `coaps://[addr]:port/path` (port 5684 when absent).
    pub fn parse(uri: &str, interval: Duration) -> Result<Self, String> {
        let not_v6 = || format!("{uri}: the server must be an IPv6 address in brackets");
        let rest = uri
            .strip_prefix("coaps://")
            .ok_or_else(|| format!("{uri}: not a coaps:// URI"))?;
        let (authority, path) = rest
            .find('/')
            .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        let host_end = authority.find(']').ok_or_else(not_v6)?;
        let addr = authority[..host_end].strip_prefix('[').ok_or_else(not_v6)?;
        let addr: std::net::Ipv6Addr = addr
            .parse()
            .map_err(|_| format!("{uri}: {addr} is not an IPv6 address"))?;
        let port = match &authority[host_end + 1..] {
            "" => COAPS_PORT,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{uri}: bad port"))?,
        };
        if interval.is_zero() {
            return Err("the interval must be at least one second".into());
        }
        Ok(OutboundTarget {
            server: Peer { addr, port },
            path: path.to_string(),
            interval,
            reports_per_session: None,
        })
    }

    /// A confirmable CoAP GET of the path.
    fn request(&self, message_id: u16) -> Vec<u8> {
        use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
        let mut p = Packet::new();
        p.header.set_type(MessageType::Confirmable);
        p.header.code = MessageClass::Request(RequestType::Get);
        p.header.message_id = message_id;
        p.set_token(message_id.to_be_bytes().to_vec());
        for seg in self.path.split('/').filter(|s| !s.is_empty()) {
            p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
        }
        p.to_bytes().unwrap_or_default()
    }
}

/// The outbound side of a delegated mote: the library's schedule and the GET it sends.
#[derive(Debug)]
struct Outbound {
    target: OutboundTarget,
    reporter: Reporter,
    message_id: u16,
    /// Reports sent on the session with the server since it was opened or resumed.
    reports_on_session: u32,
}

/// What the hello hook and the device share: how many slots are free for a new transfer,
/// and which IoTSSP handshakes hold an accepted ticket (a reserved slot).
#[derive(Debug, Default)]
struct Availability {
    free: usize,
    reserved: HashSet<SocketAddr>,
    accepted: u64,
    busy: u64,
}

fn lock(m: &Mutex<Availability>) -> MutexGuard<'_, Availability> {
    // The state stays consistent under a panic elsewhere: every update is one assignment.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ServerHello side of the SessionTransferTicket.
struct TicketHook {
    iotssp_identity: Vec<u8>,
    state: Arc<Mutex<Availability>>,
}

impl HelloExtensionHandler for TicketHook {
    fn client_hello(
        &self,
        hello: &ClientHelloInfo<'_>,
    ) -> Result<Vec<Extension>, AlertDescription> {
        match SttOfferRepr::find(hello.extensions) {
            // No offer: a plain PSK session with the IoTSSP (nothing will be transferred).
            None => Ok(Vec::new()),
            Some(Err(_)) => Err(AlertDescription::IllegalParameter),
            Some(Ok(o)) if !o.transfer_requested => Ok(Vec::new()),
            Some(Ok(_)) => {
                let mut s = lock(&self.state);
                // A retransmitted or restarted hello of a handshake that holds a slot keeps it.
                s.reserved.remove(&hello.remote);
                let status = if s.free > s.reserved.len() {
                    s.reserved.insert(hello.remote);
                    s.accepted += 1;
                    SttStatus::Accept
                } else {
                    s.busy += 1;
                    SttStatus::Busy
                };
                let free_after = s.free.saturating_sub(s.reserved.len());
                let answer = SttAnswerRepr {
                    status,
                    free_slots: free_after.min(255) as u8,
                };
                Ok(vec![answer.to_extension()])
            }
        }
    }

    fn psk_identity(
        &self,
        remote: SocketAddr,
        identity: &[u8],
        answered: &[Extension],
    ) -> Result<(), AlertDescription> {
        let ticket = answered.iter().any(|e| e.typ == STT_EXTENSION_TYPE);
        if ticket && identity != self.iotssp_identity.as_slice() {
            lock(&self.state).reserved.remove(&remote);
            return Err(AlertDescription::AccessDenied);
        }
        Ok(())
    }
}

/// The delegated mote's DTLS side.
pub struct DelegatedDevice {
    transfer_port: u16,
    suites: Vec<CipherSuite>,
    endpoint: Endpoint,
    availability: Arc<Mutex<Availability>>,
    sessions: SessionTable,
    /// PSK sessions that carried a transfer, by IoTSSP address.
    links: HashMap<SocketAddr, PskLink>,
    coap: CoapServer,
    outbox: Outbox,
    counters: SecurityCounters,
    /// Association leg: the server the mote reports to.
    outbound: Option<Outbound>,
    /// Keyless delegation: the mote's key and the emulated cost of a signature.
    signer: MoteSigner,
    ecc: super::ecc::EccProfile,
}

impl std::fmt::Debug for DelegatedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegatedDevice")
            .field("transfer_port", &self.transfer_port)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl DelegatedDevice {
    pub fn new(
        cfg: &DelegatedConfig,
        mote_index: u32,
        eui64: [u8; 8],
        rng: Arc<dyn SecureRandom>,
    ) -> Result<Self, dtls::Error> {
        let sessions = match cfg.leg {
            Leg::Association => SessionTable::with_association(
                delegated_mote(cfg, eui64, AssocRandom(rng.clone()))
                    .map(|mut m| {
                        m.set_resumption_slots(cfg.resumption_slots);
                        m
                    })
                    .ok_or(dtls::Error::Config(
                        "the association needs a PSK of 16..=32 bytes",
                    ))?,
            ),
            Leg::PskHandshake => SessionTable::new(
                cfg.slots,
                SessionTimes {
                    idle: cfg.session_idle,
                    evict_after: cfg.session_evict_after,
                },
            ),
        };
        let mut table = PskTable::new();
        table.insert(&cfg.iotssp.identity, &cfg.iotssp.key);
        let availability = Arc::new(Mutex::new(Availability {
            free: cfg.slots,
            ..Availability::default()
        }));
        let mut sc = ServerConfig::psk(Arc::new(table));
        sc.rng = rng;
        sc.hello_extensions = Some(Arc::new(TicketHook {
            iotssp_identity: cfg.iotssp.identity.clone(),
            state: availability.clone(),
        }));
        mote_transport(&mut sc);
        Ok(DelegatedDevice {
            transfer_port: cfg.transfer_port,
            suites: cfg.suites.clone(),
            endpoint: Endpoint::new(Some(Arc::new(sc)))?,
            availability,
            sessions,
            links: HashMap::new(),
            coap: CoapServer::new(mote_index),
            outbox: Outbox::default(),
            counters: SecurityCounters::default(),
            outbound: cfg.outbound.clone().map(|target| Outbound {
                reporter: Reporter::new(
                    Address {
                        addr: target.server.addr.octets(),
                        port: target.server.port,
                    },
                    target.interval,
                ),
                target,
                message_id: 1,
                reports_on_session: 0,
            }),
            signer: MoteSigner(cfg.signing_key.clone()),
            ecc: cfg.ecc,
        })
    }

    /// Keyless delegation: the platform signs the IoTSSP's request with the mote's key; the
    /// SignResponse leaves once the emulated ECC work is done (one sign operation).
    fn sign_for_iotssp(&mut self, now: Instant) {
        let signs = self.signer.0.is_some();
        if !self.sessions.answer_sign_request(&mut self.signer) || !signs {
            return;
        }
        let cost = self.ecc.sign();
        self.outbox.occupy(now, cost);
        self.counters.ecc_sign += 1;
        self.counters.ecc_operations += 1;
        self.counters.ecc_busy_ms += cost.as_millis() as u64;
    }

    /// Outbound delegation: the library asks for the session when it is due (or resumes
    /// it with the server); with the session, the GET goes out every interval. After
    /// `reports_per_session` GETs the session ends before the next one, which then waits
    /// for the next session.
    fn drive_outbound(&mut self, now: Instant) {
        let Some(o) = self.outbound.as_mut() else {
            return;
        };
        let mut action = self.sessions.report_step(now, &mut o.reporter);
        if action == ReportAction::Report
            && o.target
                .reports_per_session
                .is_some_and(|k| o.reports_on_session >= k)
        {
            if self.sessions.close(o.target.server).is_ok() {
                self.counters.outbound_sessions_ended += 1;
            }
            o.reports_on_session = 0;
            // Without the session the reporter resumes it or asks the IoTSSP at once.
            action = self.sessions.report_step(now, &mut o.reporter);
        }
        match action {
            ReportAction::Idle => {}
            ReportAction::Connecting(_) | ReportAction::Resuming => o.reports_on_session = 0,
            ReportAction::Report => {
                let request = o.target.request(o.message_id);
                o.message_id = o.message_id.wrapping_add(1);
                match self.sessions.send(o.target.server, &request) {
                    Ok(()) => {
                        self.counters.coap_requests_out += 1;
                        o.reports_on_session += 1;
                    }
                    Err(_) => self.counters.drop(DtlsDrop::WriteFailed),
                }
            }
        }
        self.pump_core(now);
    }

    /// The library's mote, on the association leg.
    pub fn delegated_mote(&self) -> Option<&MoteCore> {
        self.sessions.mote()
    }

    /// What the library has to send goes into the outbox, from the port it names.
    fn pump_core(&mut self, now: Instant) {
        let at = self.outbox.release_time(now);
        while let Some((local, peer, payload)) = self.sessions.poll_transmit() {
            match local {
                delegated_mote::LocalPort::Association => self.outbox.push_alone(
                    at,
                    Datagram {
                        local_port: self.transfer_port,
                        peer,
                        payload,
                    },
                    &mut self.counters,
                ),
                delegated_mote::LocalPort::Session => self.outbox.push(
                    at,
                    Datagram {
                        local_port: COAPS_PORT,
                        peer,
                        payload,
                    },
                    &mut self.counters,
                ),
            }
        }
        if let Some(m) = self.sessions.mote() {
            let a = m.association_stats();
            self.counters.assoc_ecc_operations = a.ecc_operations();
            self.counters.pokes_honoured = a.pokes_honoured;
            self.counters.pokes_new_epoch = a.pokes_new_epoch;
            self.counters.poke_rate_limited = a.poke_rate_limited;
            self.counters.outbound_connects = a.connects_started;
            self.counters.outbound_connects_failed = a.connects_failed + a.connects_timed_out;
            let r = m.outbound_resumption_stats();
            self.counters.outbound_resumables_cached = r.cached;
            self.counters.outbound_resumptions_started = r.started;
            self.counters.outbound_resumptions_succeeded = r.resumed;
            self.counters.outbound_resumption_fallbacks = r.not_resumed + r.abandoned;
        }
        self.sessions.sync_counters(&mut self.counters);
    }

    /// Association leg: boots the library's mote at the mote's first activity.
    fn boot_assoc(&mut self, now: Instant) {
        if self.sessions.mote().is_some() && !self.sessions.booted() {
            self.sessions.handle_timeout(now);
            self.pump_core(now);
        }
    }

    /// The sessions taken over so far.
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// PSK sessions with the IoTSSP the mote holds keys for (handshakes included).
    pub fn psk_sessions(&self) -> usize {
        self.endpoint.connection_count()
    }

    /// The association with `from` right now, identified by its client random.
    fn association(&self, from: &SocketAddr) -> Option<[u8; 32]> {
        self.endpoint.connection(from).map(|c| c.client_random())
    }

    /// Handles a message from the IoTSSP at `from` on an established PSK session; returns
    /// the answer. Every answer (re)starts the session's linger time.
    fn transfer(&mut self, now: Instant, from: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
        let association = self.association(&from)?;
        let link = match self.links.get_mut(&from) {
            Some(l) if l.client_random == association => l,
            // New, or left over from an association the peer has since restarted.
            _ => self
                .links
                .entry(from)
                .insert_entry(PskLink {
                    client_random: association,
                    answered: None,
                    linger_until: now,
                })
                .into_mut(),
        };
        link.linger_until = now + DEFAULT_PSK_LINGER;
        let session = match TransferMessage::parse(msg) {
            Ok(TransferMessage::Session(s)) => s,
            Ok(TransferMessage::Confirm(_)) => {
                self.counters.drop(DtlsDrop::TransferConfirmFromIotssp);
                return None;
            }
            Err(e) => {
                self.counters.drop(DtlsDrop::Transfer(e));
                self.counters.transfers_refused += 1;
                // Echo the transfer id when there is one, so the IoTSSP can tell what failed.
                let id = msg
                    .get(2..6)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)?;
                return Some(refusal(id, ConfirmStatus::Malformed));
            }
        };
        if let Some(answered) = &link.answered {
            if answered.is_repeat(&session) {
                // Our confirmation was lost: the same answer, nothing installed again.
                self.counters.transfers_repeated += 1;
                return Some(answered.confirm.clone());
            }
            // One transfer per PSK session: its ticket is spent.
            self.counters.transfers_refused += 1;
            return Some(refusal(session.transfer_id, ConfirmStatus::Busy));
        }
        let confirm = self.first_transfer(now, from, &session);
        if let Some(link) = self.links.get_mut(&from) {
            link.answered = Some(Answered::new(&session, confirm.clone()));
        }
        Some(confirm)
    }

    /// The first TransferSession of a PSK session: installed if a ticket allows it.
    fn first_transfer(
        &mut self,
        now: Instant,
        from: SocketAddr,
        session: &TransferSessionRepr,
    ) -> Vec<u8> {
        let reserved = lock(&self.availability).reserved.remove(&from);
        if !reserved {
            // No ticket accepted on this session (or it was given up): never take a session
            // the IoTSSP had no right to send.
            self.counters.transfers_refused += 1;
            return refusal(session.transfer_id, ConfirmStatus::Busy);
        }
        if session.local_port != COAPS_PORT {
            self.counters.transfers_refused += 1;
            return refusal(session.transfer_id, ConfirmStatus::Malformed);
        }
        let supported =
            CipherSuite::from_id(session.cipher_suite).is_some_and(|s| self.suites.contains(&s));
        let state = match session.session_state() {
            Ok(_) if !supported => {
                self.counters.transfers_refused += 1;
                return refusal(session.transfer_id, ConfirmStatus::UnsupportedSuite);
            }
            Ok(s) => s,
            Err(e) => {
                self.counters.transfers_refused += 1;
                let status = match e {
                    TransferError::UnsupportedSuite => ConfirmStatus::UnsupportedSuite,
                    _ => ConfirmStatus::Malformed,
                };
                return refusal(session.transfer_id, status);
            }
        };
        let peer = Peer {
            addr: session.peer_addr,
            port: session.peer_port,
        };
        // The library counts the install (and an eviction) for `sync_counters`.
        if self.sessions.install(now, peer, &state).is_err() {
            self.counters.transfers_refused += 1;
            return refusal(session.transfer_id, ConfirmStatus::UnsupportedSuite);
        }
        confirm_installed(session)
    }

    /// Closes the PSK sessions whose IoTSSP did not close them in time (close_notify lost):
    /// the close drops their keys.
    fn expire_links(&mut self, now: Instant) {
        let endpoint = &mut self.endpoint;
        let counters = &mut self.counters;
        self.links.retain(|addr, link| {
            if now < link.linger_until {
                return true;
            }
            // Only the association the link belongs to: a restarted one is not ours to end.
            if endpoint
                .connection(addr)
                .is_some_and(|c| c.client_random() == link.client_random && !c.is_closed())
            {
                endpoint.close(addr);
                counters.alerts_out += 1;
                counters.psk_sessions_expired += 1;
            }
            false
        });
    }
    fn pump(&mut self, now: Instant) {
        // Until a poll finds no event: the endpoint forgets a closed connection only at a
        // poll after its last datagram left.
        loop {
            let mut any = false;
            while let Some((addr, ev)) = self.endpoint.poll_event() {
                any = true;
                match ev {
                    Event::HandshakeComplete => {
                        self.counters.dtls_handshakes += 1;
                        self.counters.dtls_handshakes_psk += 1;
                    }
                    Event::ApplicationData(msg) => {
                        self.counters.app_data_in += 1;
                        if let Some(confirm) = self.transfer(now, addr, &msg)
                            && self.endpoint.send_application_data(&addr, &confirm).is_ok()
                        {
                            self.counters.app_data_out += 1;
                        }
                        // The PSK session stays up: the confirmation may be lost and the
                        // TransferSession come again. The IoTSSP's close_notify ends it, or
                        // `expire_links`.
                    }
                    Event::Closed(reason) => {
                        // Whatever it carried is over (its keys are wiped by the engine).
                        self.links.remove(&addr);
                        match reason {
                            CloseReason::CloseNotify | CloseReason::PeerAlert(_) => {
                                self.counters.alerts_in += 1;
                                self.counters.psk_sessions_closed += 1;
                            }
                            CloseReason::LocalError(_) | CloseReason::HandshakeTimeout => {
                                self.counters.dtls_handshakes_failed += 1;
                            }
                            CloseReason::LocallyClosed => {}
                        }
                    }
                    _ => {}
                }
            }
            let release = self.outbox.release_time(now);
            while let Some(t) = self.endpoint.poll_transmit() {
                let d = Datagram {
                    local_port: self.transfer_port,
                    peer: peer_of(t.destination),
                    payload: t.contents,
                };
                self.outbox.push(release, d, &mut self.counters);
            }
            if !any {
                break;
            }
        }
        self.refresh_availability(now);
    }

    /// Recompute what the hello hook may promise: sessions still in use hold their slots,
    /// handshakes that died give their reservation back.
    fn refresh_availability(&mut self, now: Instant) {
        let free = self.sessions.free_for_new(now);
        let endpoint = &self.endpoint;
        let mut s = lock(&self.availability);
        s.free = free;
        s.reserved
            .retain(|a| endpoint.connection(a).is_some_and(|c| !c.is_closed()));
        self.counters.stt_accepted = s.accepted;
        self.counters.stt_busy = s.busy;
    }
}

/// TransferConfirm refusing transfer `id`.
fn refusal(id: u32, status: ConfirmStatus) -> Vec<u8> {
    TransferConfirmRepr {
        transfer_id: id,
        status,
        key_check: [0; 8],
    }
    .to_bytes()
}

/// TransferConfirm(installed) with the key check of the keys actually installed.
fn confirm_installed(session: &TransferSessionRepr) -> Vec<u8> {
    TransferConfirmRepr {
        transfer_id: session.transfer_id,
        status: ConfirmStatus::Installed,
        key_check: key_check(&session.keys, session.transfer_id),
    }
    .to_bytes()
}

impl SecureDevice for DelegatedDevice {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Delegated
    }

    fn owns_port(&self, port: u16) -> bool {
        port == COAPS_PORT || port == self.transfer_port
    }

    fn handle_datagram(&mut self, now: Instant, local_port: u16, peer: Peer, payload: &[u8]) {
        // Expiry needs no timer of its own: every datagram and timer call runs it, and an
        // idle session already yields its slot to a new transfer (`free_for_new`).
        self.sessions.expire(now);
        if local_port == self.transfer_port {
            self.counters.transfer_port_datagrams_in += 1;
        }
        if local_port == self.transfer_port && self.sessions.mote().is_some() {
            let event = self
                .sessions
                .handle_association_datagram(now, peer, payload);
            match AssocOutcome::from(event) {
                AssocOutcome::Associated => self.counters.associations += 1,
                AssocOutcome::Transfer { installed: false } => self.counters.transfers_refused += 1,
                AssocOutcome::ConnectFailed(reason) => {
                    self.counters.outbound_last_failure = reason;
                }
                AssocOutcome::SignRequested => self.sign_for_iotssp(now),
                AssocOutcome::Transfer { installed: true } | AssocOutcome::Nothing => {}
            }
            self.pump_core(now);
            self.drive_outbound(now);
        } else if local_port == self.transfer_port {
            self.counters.dtls_records_in += count_records(payload);
            if plaintext_handshake_types(payload)
                .contains(&dtls::handshake::msgs::HandshakeType::Certificate)
            {
                // Never expected (PSK only); counted so a test would catch it.
                self.counters.certificates_seen += 1;
            }
            self.endpoint
                .handle_datagram(now, socket_addr(peer), payload);
            self.pump(now);
        } else if local_port == COAPS_PORT {
            let reply = self.sessions.handle_datagram(
                now,
                peer,
                payload,
                &mut self.coap,
                &mut self.counters,
            );
            if let Some(reply) = reply {
                let at = self.outbox.release_time(now);
                self.outbox.push(
                    at,
                    Datagram {
                        local_port: COAPS_PORT,
                        peer,
                        payload: reply,
                    },
                    &mut self.counters,
                );
            }
            // After the reply: the last flight of a resumption goes before the report the
            // resumed session makes due.
            self.drive_outbound(now);
            self.refresh_availability(now);
        } else {
            self.counters.drop(DtlsDrop::WrongPort);
        }
        self.sessions.sync_counters(&mut self.counters);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram> {
        self.boot_assoc(now);
        let d = self.outbox.poll(now)?;
        if d.local_port == self.transfer_port {
            self.counters.transfer_port_datagrams_out += 1;
        }
        Some(d)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let linger = self.links.values().map(|l| l.linger_until).min();
        min_deadline(
            min_deadline(self.endpoint.poll_timeout(), self.outbox.next_release()),
            min_deadline(
                min_deadline(linger, self.sessions.poll_timeout()),
                self.outbound
                    .as_ref()
                    .and_then(|o| self.sessions.report_timeout(&o.reporter)),
            ),
        )
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.sessions.mote().is_some() || self.sessions.booted() {
            self.sessions.handle_timeout(now);
            self.pump_core(now);
            self.drive_outbound(now);
        }
        self.endpoint.handle_timeout(now);
        self.expire_links(now);
        self.sessions.expire(now);
        self.pump(now);
        self.sessions.sync_counters(&mut self.counters);
    }

    fn counters(&self) -> &SecurityCounters {
        &self.counters
    }
}
