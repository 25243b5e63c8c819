//! One DTLS association as a deterministic state machine (quinn-proto style): datagrams and
//! `Instant`s in; datagrams, events and a timer deadline out.
//!
//! The handshake position is one `Expect` value; the messages of each role are handled in
//! `server.rs` and `client.rs`. Record dispatch, flights, retransmission, alerts and the
//! session-transfer hooks live here.

mod client;
mod server;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::alert::{Alert, AlertDescription, AlertLevel};
use crate::codec::{Codec, Reader};
use crate::config::{CipherSuite, ClientConfig, ServerConfig, TransportConfig};
use crate::crypto::ecc::EcdheKey;
use crate::crypto::prf::{self, MasterSecret};
use crate::error::{Error, InvalidMessage};
use crate::handshake::flight::{pack_flight, FlightItem, RetransmitTimer, TimerAction};
use crate::handshake::fragment::{transcript_encoding, Disposition, Message, Reassembler};
use crate::handshake::msgs::{ClientHello, Extension, HandshakeFragment, HandshakeType};
use crate::record::{records, ContentType, RecordLayer, SessionState};
use crate::Role;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// We found an error and (if it maps to one) sent its alert.
    LocalError(Error),
    /// The peer sent a fatal alert.
    PeerAlert(AlertDescription),
    /// The peer sent close_notify.
    CloseNotify,
    /// `close()` was called.
    LocallyClosed,
    /// The retransmission limit was reached.
    HandshakeTimeout,
}

/// What the application learns from a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Server with `pause_after_client_finished`: the client's Finished verified; our
    /// ChangeCipherSpec + Finished are sealed but held until `resume_final_flight`.
    /// `export_session` now gives the state to continue from after that flight.
    ClientFinishedVerified,
    /// Client with `extra_client_hello_extensions`: the ServerHello arrived; these are its
    /// extensions of the types we added (empty: the server ignored them). Emitted once, before
    /// `HandshakeComplete`; the handshake goes on unless the application calls `abort`.
    ServerHelloExtensions(Vec<Extension>),
    HandshakeComplete,
    ApplicationData(Vec<u8>),
    Closed(CloseReason),
}

/// Where the association is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Handshaking,
    /// Server: client Finished verified, final flight held back.
    Paused,
    Established,
    /// Keys handed over (`forget_keys`): we only answer retransmitted client flights with the
    /// already sealed final flight.
    Transferred,
    Closed,
}

/// The next handshake input each state accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    // client
    ServerHelloOrVerify,
    ServerCertificate,
    ServerKeyExchange,
    CertificateRequestOrDone,
    PskKeyExchangeOrDone,
    ServerHelloDone,
    // server
    ClientHello,
    ClientCertificate,
    ClientKeyExchange,
    CertificateVerify,
    // both
    ChangeCipherSpec,
    Finished,
    Nothing,
}

/// Per-handshake secrets and negotiation results; dropped (and zeroized) when the
/// handshake ends.
#[derive(Default)]
pub(crate) struct HandshakeSecrets {
    client_random: [u8; 32],
    server_random: [u8; 32],
    suite: Option<CipherSuite>,
    extended_master_secret: bool,
    ecdhe: Option<EcdheKey>,
    peer_point: Option<Vec<u8>>,
    /// SEC1 key of the peer's validated leaf certificate.
    peer_key: Option<Vec<u8>>,
    master: Option<MasterSecret>,
    cert_requested: bool,
    transcript: Sha256,
    /// The handshake messages themselves: CertificateVerify signs them (the ECDSA backend
    /// hashes inside). Bounded by the reassembly limits and the few messages of a handshake.
    transcript_bytes: Vec<u8>,
    /// Client: the hello we (re)send, and its message_seq.
    client_hello: Option<(ClientHello, u16)>,
    verify_requests: u8,
}

pub struct Connection {
    role: Role,
    remote: SocketAddr,
    server_config: Option<Arc<ServerConfig>>,
    client_config: Option<Arc<ClientConfig>>,
    transport: TransportConfig,
    layer: RecordLayer,
    reassembler: Reassembler,
    hs: Box<HandshakeSecrets>,
    expect: Expect,
    phase: Phase,
    next_send_seq: u16,
    flight: Vec<FlightItem>,
    /// Server: the sealed ChangeCipherSpec + Finished, resent as identical bytes so that a
    /// transferred session's sequence numbers are never reused.
    final_flight: Option<Vec<Vec<u8>>>,
    timer: RetransmitTimer,
    last_reply: Option<Instant>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    peer_chain: Vec<Vec<u8>>,
    psk_identity: Option<Vec<u8>>,
    /// The peer's hello extensions (client: the ServerHello's; server: the ClientHello's).
    peer_hello_extensions: Vec<Extension>,
    /// Server: what the `HelloExtensionHandler` added to our ServerHello.
    answered_extensions: Vec<Extension>,
    /// Records discarded (bad MAC, replay, unknown epoch, malformed): for counters.
    pub discarded_records: u64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("remote", &self.remote)
            .field("phase", &self.phase)
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Connection {
    fn new(role: Role, remote: SocketAddr, transport: TransportConfig, expect: Expect) -> Self {
        Connection {
            role,
            remote,
            server_config: None,
            client_config: None,
            transport,
            layer: RecordLayer::new(role),
            reassembler: Reassembler::new(transport.reassembly),
            hs: Box::default(),
            expect,
            phase: Phase::Handshaking,
            next_send_seq: 0,
            flight: Vec::new(),
            final_flight: None,
            timer: RetransmitTimer::new(transport.retransmit),
            last_reply: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            peer_chain: Vec::new(),
            psk_identity: None,
            peer_hello_extensions: Vec::new(),
            answered_extensions: Vec::new(),
            discarded_records: 0,
        }
    }

    /// Starts a client handshake: the ClientHello is ready in `poll_transmit`.
    pub fn connect(now: Instant, remote: SocketAddr, config: Arc<ClientConfig>) -> Result<Self, Error> {
        config.validate()?;
        let mut c = Connection::new(Role::Client, remote, config.transport, Expect::ServerHelloOrVerify);
        c.client_config = Some(config);
        c.client_start(now)?;
        Ok(c)
    }

    /// A server connection for a client whose ClientHello carried a valid cookie.
    /// `datagram` is the one that carried it (all its records are processed);
    /// `record_seq` and `message_seq` are the hello's, which a stateless server continues.
    pub fn accept(
        now: Instant,
        remote: SocketAddr,
        config: Arc<ServerConfig>,
        datagram: &[u8],
        record_seq: u64,
        message_seq: u16,
    ) -> Result<Self, Error> {
        config.validate()?;
        let mut c = Connection::new(Role::Server, remote, config.transport, Expect::ClientHello);
        c.server_config = Some(config);
        c.layer.set_next_write_seq(record_seq);
        c.reassembler.set_next_seq(message_seq);
        c.next_send_seq = message_seq;
        c.handle_datagram(now, datagram);
        Ok(c)
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Negotiated suite, once the hellos are exchanged.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.hs.suite
    }

    /// The peer's validated chain (DER, leaf first), for authorization decisions.
    pub fn peer_certificates(&self) -> &[Vec<u8>] {
        &self.peer_chain
    }

    /// The PSK identity the client used (server side) or offered (client side).
    pub fn psk_identity(&self) -> Option<&[u8]> {
        self.psk_identity.as_deref()
    }

    /// The peer's hello extensions, unknown ones included: on a client the ServerHello's,
    /// on a server the ClientHello's. Empty before the hello arrived.
    pub fn peer_hello_extensions(&self) -> &[Extension] {
        &self.peer_hello_extensions
    }

    /// Server: the extensions the `HelloExtensionHandler` put in our ServerHello.
    pub fn answered_extensions(&self) -> &[Extension] {
        &self.answered_extensions
    }

    /// The client random of this handshake (the endpoint uses it to tell a retransmitted
    /// ClientHello from a new one).
    pub fn client_random(&self) -> [u8; 32] {
        self.hs.client_random
    }

    // ---- sans-IO surface ----

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front().map(|contents| Transmit { destination: self.remote, contents })
    }

    /// Datagrams or events not yet drained.
    pub fn has_pending_output(&self) -> bool {
        !self.transmits.is_empty() || !self.events.is_empty()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Handshaking => self.timer.deadline(),
            _ => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase != Phase::Handshaking {
            return;
        }
        match self.timer.on_timeout(now) {
            Some(TimerAction::Retransmit) => {
                tracing::debug!(remote = %self.remote, "retransmitting flight");
                if let Err(e) = self.transmit_flight() {
                    self.fail(e);
                }
            }
            Some(TimerAction::GiveUp) => {
                tracing::debug!(remote = %self.remote, "handshake timed out");
                self.close_with(CloseReason::HandshakeTimeout);
            }
            None => {}
        }
    }

    /// Sends one application data record (at most 2^14 bytes).
    pub fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.phase != Phase::Established {
            return Err(Error::NotEstablished);
        }
        if data.len() > 16384 {
            return Err(InvalidMessage::RecordTooLong.into());
        }
        let mut out = Vec::with_capacity(data.len() + 29);
        let epoch = self.layer.write_epoch();
        self.layer.write_record(epoch, ContentType::ApplicationData, data, &mut out)?;
        self.transmits.push_back(out);
        Ok(())
    }

    /// Sends close_notify and closes.
    pub fn close(&mut self) {
        if matches!(self.phase, Phase::Closed | Phase::Transferred) {
            return;
        }
        self.send_alert(Alert::close_notify());
        self.close_with(CloseReason::LocallyClosed);
    }

    /// Ends the association with a fatal alert (e.g. the IoTSSP aborting a delegation
    /// because the mote did not accept the transfer ticket).
    pub fn abort(&mut self, alert: AlertDescription) {
        if matches!(self.phase, Phase::Closed | Phase::Transferred) {
            return;
        }
        self.send_alert(Alert::fatal(alert));
        self.close_with(CloseReason::LocalError(Error::HandshakeRefused(alert)));
    }

    // ---- session transfer ----

    /// The session's keys and counters, once the client's Finished is verified (server) or
    /// the handshake is complete. While `Paused`, this already accounts for the held-back
    /// final flight: the counters are those to continue from after it.
    pub fn export_session(&self) -> Option<SessionState> {
        match self.phase {
            Phase::Paused | Phase::Established => self.layer.export_session(),
            _ => None,
        }
    }

    /// Server, `Paused`: sends the held ChangeCipherSpec + Finished and completes.
    pub fn resume_final_flight(&mut self) -> Result<(), Error> {
        if self.phase != Phase::Paused {
            return Err(Error::Internal("resume_final_flight outside Paused"));
        }
        self.phase = Phase::Established;
        self.queue_final_flight();
        self.events.push_back(Event::HandshakeComplete);
        Ok(())
    }

    /// After the session was transferred elsewhere: wipe every key, keep only the sealed
    /// final flight to answer a retransmitted client flight.
    pub fn forget_keys(&mut self) {
        self.layer.wipe_keys();
        *self.hs = HandshakeSecrets::default();
        if self.phase != Phase::Closed {
            self.phase = Phase::Transferred;
        }
    }

    // ---- input ----

    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if self.phase == Phase::Closed {
            return;
        }
        let mut peer_retransmitted = false;
        for rec in records(datagram) {
            let Ok(rec) = rec else {
                self.discarded_records += 1;
                break;
            };
            if !rec.version().is_dtls() {
                self.discarded_records += 1;
                continue;
            }
            let opened = match self.layer.open(&rec) {
                Ok(Some(o)) => o,
                // The first protected record of the peer (its Finished) does not
                // authenticate: the keys differ (a wrong PSK). Refuse with an alert rather
                // than letting the peer retransmit into a void.
                Err(Error::DecryptFailed) if self.expect == Expect::Finished && rec.epoch() == self.layer.read_epoch() => {
                    self.fail(Error::DecryptFailed);
                    return;
                }
                Ok(None) | Err(_) => {
                    // RFC 6347 section 4.1.2.7: invalid records are silently discarded.
                    self.discarded_records += 1;
                    continue;
                }
            };
            if let Err(e) = self.handle_record(now, opened.epoch, opened.content_type, &opened.plaintext, &mut peer_retransmitted) {
                self.fail(e);
                return;
            }
            if self.phase == Phase::Closed {
                return;
            }
        }
        if peer_retransmitted {
            self.reply_to_retransmission(now);
        }
    }

    fn handle_record(&mut self, now: Instant, epoch: u16, ct: ContentType, plaintext: &[u8], peer_retransmitted: &mut bool) -> Result<(), Error> {
        let current = epoch == self.layer.read_epoch();
        match ct {
            ContentType::Handshake => self.handle_handshake_record(now, current, epoch, plaintext, peer_retransmitted),
            ContentType::ChangeCipherSpec => {
                if plaintext != [1] {
                    return Err(InvalidMessage::InvalidCcs.into());
                }
                if current && self.expect == Expect::ChangeCipherSpec {
                    self.layer.start_read_epoch()?;
                    self.expect = Expect::Finished;
                } else if !current || self.phase != Phase::Handshaking {
                    *peer_retransmitted = true;
                }
                // Otherwise an early CCS (part of the flight lost): ignored; the peer resends.
                Ok(())
            }
            ContentType::Alert => {
                // Once keys are in use, unauthenticated alerts are ignored.
                if !current {
                    return Ok(());
                }
                let Ok(alert) = Alert::read_bytes(plaintext) else { return Ok(()) };
                if alert.description == AlertDescription::CloseNotify {
                    self.close_with(CloseReason::CloseNotify);
                } else if alert.level == AlertLevel::Fatal {
                    tracing::debug!(remote = %self.remote, alert = ?alert.description, "peer sent fatal alert");
                    self.close_with(CloseReason::PeerAlert(alert.description));
                }
                Ok(())
            }
            ContentType::ApplicationData => {
                if current && epoch > 0 && self.phase == Phase::Established {
                    self.events.push_back(Event::ApplicationData(plaintext.to_vec()));
                } else {
                    self.discarded_records += 1;
                }
                Ok(())
            }
            ContentType::Unknown(_) => {
                self.discarded_records += 1;
                Ok(())
            }
        }
    }

    fn handle_handshake_record(&mut self, now: Instant, current: bool, epoch: u16, plaintext: &[u8], peer_retransmitted: &mut bool) -> Result<(), Error> {
        let mut r = Reader::new(plaintext);
        while r.any_left() {
            let frag = match HandshakeFragment::read(&mut r) {
                Ok(f) => f,
                // Unauthenticated garbage is dropped; in a protected epoch it is fatal.
                Err(e) if epoch > 0 => return Err(e.into()),
                Err(_) => {
                    self.discarded_records += 1;
                    return Ok(());
                }
            };
            let seq = frag.header.message_seq;
            if seq < self.reassembler.next_seq() {
                *peer_retransmitted = true;
                continue;
            }
            if !current {
                continue;
            }
            if self.phase != Phase::Handshaking {
                // A new handshake on an established association: renegotiation, refused.
                if matches!(frag.header.msg_type, HandshakeType::ClientHello | HandshakeType::HelloRequest) && self.phase == Phase::Established {
                    self.send_alert(Alert { level: AlertLevel::Warning, description: AlertDescription::NoRenegotiation });
                }
                return Ok(());
            }
            match self.reassembler.accept(&frag) {
                Ok(Disposition::Old) => *peer_retransmitted = true,
                Ok(_) => {}
                Err(e) if epoch > 0 => return Err(e.into()),
                Err(_) => self.discarded_records += 1,
            }
        }
        while self.phase == Phase::Handshaking {
            let Some(msg) = self.reassembler.next_message() else { break };
            // The peer's next flight has begun: our previous one arrived.
            self.timer.stop();
            self.handle_message(now, msg)?;
        }
        Ok(())
    }

    fn handle_message(&mut self, now: Instant, msg: Message) -> Result<(), Error> {
        tracing::trace!(remote = %self.remote, msg = ?msg.msg_type, seq = msg.message_seq, "handshake message");
        match self.role {
            Role::Server => self.server_message(now, msg),
            Role::Client => self.client_message(now, msg),
        }
    }

    // ---- output helpers ----

    fn transcript_add_raw(&mut self, bytes: &[u8]) {
        self.hs.transcript.update(bytes);
        self.hs.transcript_bytes.extend_from_slice(bytes);
    }

    fn transcript_add(&mut self, msg_type: HandshakeType, message_seq: u16, body: &[u8]) {
        self.transcript_add_raw(&transcript_encoding(msg_type, message_seq, body));
    }

    pub(crate) fn transcript_hash(&self) -> [u8; 32] {
        self.hs.transcript.clone().finalize().into()
    }

    /// Adds one of our messages to the current flight (and to the transcript).
    fn queue_handshake(&mut self, epoch: u16, msg_type: HandshakeType, body: Vec<u8>, transcript: bool) {
        let seq = self.next_send_seq;
        self.next_send_seq = self.next_send_seq.wrapping_add(1);
        if transcript {
            self.transcript_add(msg_type, seq, &body);
        }
        self.flight.push(FlightItem::Handshake { epoch, msg_type, message_seq: seq, body });
    }

    /// Packs and queues the current flight (first send or retransmission).
    fn transmit_flight(&mut self) -> Result<(), Error> {
        let dgs = pack_flight(&self.flight, &mut self.layer, self.transport.mtu)?;
        self.transmits.extend(dgs);
        Ok(())
    }

    fn send_flight(&mut self, now: Instant) -> Result<(), Error> {
        self.transmit_flight()?;
        self.timer.start_flight(now);
        Ok(())
    }

    fn queue_final_flight(&mut self) {
        if let Some(f) = &self.final_flight {
            self.transmits.extend(f.iter().cloned());
        }
    }

    /// The peer resent part of a flight we already answered: resend our answer, at most once
    /// per half initial timeout (a burst of fragments gets one reply).
    fn reply_to_retransmission(&mut self, now: Instant) {
        let spacing = self.transport.retransmit.initial / 2;
        if self.last_reply.is_some_and(|t| now < t + spacing) {
            return;
        }
        match self.phase {
            Phase::Established | Phase::Transferred if self.final_flight.is_some() => {
                self.last_reply = Some(now);
                self.queue_final_flight();
            }
            Phase::Handshaking if !self.flight.is_empty() => {
                self.last_reply = Some(now);
                if let Err(e) = self.transmit_flight() {
                    self.fail(e);
                }
            }
            _ => {}
        }
    }

    fn send_alert(&mut self, alert: Alert) {
        let epoch = self.layer.write_epoch();
        let mut out = Vec::new();
        if self.layer.write_record(epoch, ContentType::Alert, &alert.get_encoding(), &mut out).is_ok() {
            self.transmits.push_back(out);
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        self.phase = Phase::Closed;
        self.timer.stop();
        *self.hs = HandshakeSecrets::default();
        self.layer.wipe_keys();
        self.flight.clear();
        self.events.push_back(Event::Closed(reason));
    }

    fn fail(&mut self, e: Error) {
        tracing::debug!(remote = %self.remote, error = e.as_str(), "connection failed");
        if let Some(desc) = e.alert() {
            self.send_alert(Alert::fatal(desc));
        }
        self.close_with(CloseReason::LocalError(e));
    }

    /// Master secret and key block from the premaster secret (RFC 5246 / RFC 7627).
    fn derive_keys(&mut self, premaster: &[u8]) {
        let ms = if self.hs.extended_master_secret {
            prf::extended_master_secret(premaster, &self.transcript_hash())
        } else {
            prf::master_secret(premaster, &self.hs.client_random, &self.hs.server_random)
        };
        self.layer.install_keys(prf::key_block(&ms, &self.hs.client_random, &self.hs.server_random));
        self.hs.master = Some(ms);
    }

    fn finished_data(&self, label: &[u8]) -> Result<[u8; 12], Error> {
        let ms = self.hs.master.as_ref().ok_or(Error::Internal("no master secret"))?;
        Ok(prf::verify_data(ms, label, &self.transcript_hash()))
    }
}

