//! One DTLS association as a deterministic state machine (quinn-proto style): datagrams and
//! `Instant`s in; datagrams, events and a timer deadline out.
//!
//! The association is a `State`; each handshake state is its own type that owns what it
//! needs (configuration, randoms and transcript, ephemeral key, master secret) and whose
//! `handle` consumes it and returns the next state, so a state without its secret cannot
//! be built (rustls's `Expect*` states). The server's states are in `server.rs`, the
//! client's in `client.rs`. What every state uses (record layer, flights, the
//! retransmission timer, outputs) is `Common`; record dispatch, alerts and the
//! session-transfer hooks live here.

mod client;
mod server;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::Role;
use crate::alert::{Alert, AlertDescription, AlertLevel};
use crate::codec::{Codec, Reader};
use crate::config::{CipherSuite, ClientConfig, ServerConfig, TransportConfig};
use crate::crypto::prf::{self, MasterSecret};
use crate::error::{Error, InvalidMessage};
use crate::handshake::flight::{FlightItem, RetransmitTimer, TimerAction, pack_flight};
use crate::handshake::fragment::{Disposition, Message, Reassembler, transcript_encoding};
use crate::handshake::msgs::{Extension, HandshakeFragment, HandshakeType};
use crate::record::{ContentType, RecordLayer, SessionState, records};

use client::ClientState;
use server::ServerState;

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
    /// Our certificate's key is external ([`CertificateKey::External`](crate::cert::CertificateKey)):
    /// the handshake waits for the signature of this digest, given with
    /// [`Connection::provide_signature`] (or ended with [`Connection::abort`]). Nothing is
    /// sent and nothing is retransmitted while it waits; the caller bounds the wait.
    SignatureNeeded(SignatureRequest),
    HandshakeComplete,
    ApplicationData(Vec<u8>),
    Closed(CloseReason),
}

/// Which handshake message an external signature goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignaturePurpose {
    /// Server: the ServerKeyExchange, over client_random || server_random || ServerECDHParams.
    ServerKeyExchange,
    /// Client: the CertificateVerify, over the handshake messages so far.
    CertificateVerify,
}

/// What an external signer must sign: ECDSA P-256 over `digest`, the SHA-256 of the signed
/// content (sign the digest as it is, no further hashing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureRequest {
    pub purpose: SignaturePurpose,
    pub digest: [u8; 32],
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

/// The association's state machine. The handshake states carry their data; once the
/// handshake is over, the keys live in the record layer and the states carry nothing.
pub(crate) enum State {
    Client(ClientState),
    Server(ServerState),
    /// Server with `pause_after_client_finished`, the session export and transfer hook:
    /// the client's Finished is verified, our final flight sealed and held.
    Paused(SealedFlight),
    /// A server keeps its final flight to answer a retransmitted client flight.
    Established(Option<SealedFlight>),
    /// `forget_keys`: no key left, only the final flight (if the handshake got that far).
    Transferred(Option<SealedFlight>),
    Closed,
}

/// The server's ChangeCipherSpec + Finished, sealed once: a retransmission resends these
/// identical bytes, so that a transferred session's sequence numbers are never reused.
pub(crate) struct SealedFlight(Vec<Vec<u8>>);

impl SealedFlight {
    fn queue(&self, transmits: &mut VecDeque<Vec<u8>>) {
        transmits.extend(self.0.iter().cloned());
    }
}

impl State {
    fn phase(&self) -> Phase {
        match self {
            State::Client(_) | State::Server(_) => Phase::Handshaking,
            State::Paused(_) => Phase::Paused,
            State::Established(_) => Phase::Established,
            State::Transferred(_) => Phase::Transferred,
            State::Closed => Phase::Closed,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            State::Client(s) => s.name(),
            State::Server(s) => s.name(),
            State::Paused(_) => "Paused",
            State::Established(_) => "Established",
            State::Transferred(_) => "Transferred",
            State::Closed => "Closed",
        }
    }

    fn expects_ccs(&self) -> bool {
        matches!(
            self,
            State::Client(ClientState::Ccs(_)) | State::Server(ServerState::Ccs(_))
        )
    }

    fn expects_finished(&self) -> bool {
        matches!(
            self,
            State::Client(ClientState::Finished(_)) | State::Server(ServerState::Finished(_))
        )
    }
}

/// The handshake messages so far: their hash (Finished, extended master secret) and the
/// messages themselves, which CertificateVerify signs (the ECDSA backend hashes inside).
/// Bounded by the reassembly limits and the few messages of a handshake.
pub(crate) struct Transcript {
    hash: Sha256,
    bytes: Vec<u8>,
}

impl Transcript {
    fn new() -> Self {
        Transcript {
            hash: Sha256::new(),
            bytes: Vec::new(),
        }
    }

    fn add_raw(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
        self.bytes.extend_from_slice(bytes);
    }

    fn add(&mut self, msg_type: HandshakeType, message_seq: u16, body: &[u8]) {
        self.add_raw(&transcript_encoding(msg_type, message_seq, body));
    }

    /// A message of the peer's.
    fn add_message(&mut self, msg: &Message) {
        self.add(msg.msg_type, msg.message_seq, &msg.body);
    }

    fn hash(&self) -> [u8; 32] {
        self.hash.clone().finalize().into()
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// What the hellos settled, carried by every later handshake state.
pub(crate) struct HandshakeData {
    client_random: [u8; 32],
    server_random: [u8; 32],
    extended_master_secret: bool,
    transcript: Transcript,
}

impl HandshakeData {
    /// Master secret and key block from the premaster secret (RFC 5246 / RFC 7627); the
    /// keys go to the record layer, to take effect at each direction's ChangeCipherSpec.
    fn derive_keys(
        self,
        layer: &mut RecordLayer,
        suite: CipherSuite,
        premaster: &[u8],
    ) -> KeyedHandshake {
        let master = if self.extended_master_secret {
            prf::extended_master_secret(premaster, &self.transcript.hash())
        } else {
            prf::master_secret(premaster, &self.client_random, &self.server_random)
        };
        layer.install_keys(prf::key_block(
            &master,
            suite.aead(),
            &self.client_random,
            &self.server_random,
        ));
        KeyedHandshake { hs: self, master }
    }
}

/// The handshake once both sides can compute the keys: the master secret (zeroized when
/// dropped, i.e. when the Finished messages are done) with the transcript it authenticates.
pub(crate) struct KeyedHandshake {
    hs: HandshakeData,
    master: MasterSecret,
}

impl KeyedHandshake {
    fn finished_data(&self, label: &[u8]) -> [u8; 12] {
        prf::verify_data(&self.master, label, &self.hs.transcript.hash())
    }
}

/// What every state uses: the record layer, the reassembler, our flights and the
/// retransmission timer, the outputs, and what the handshake learnt that outlives it.
pub(crate) struct Common {
    role: Role,
    remote: SocketAddr,
    transport: TransportConfig,
    layer: RecordLayer,
    reassembler: Reassembler,
    next_send_seq: u16,
    flight: Vec<FlightItem>,
    timer: RetransmitTimer,
    last_reply: Option<Instant>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    /// Forgotten with the keys (close, `forget_keys`).
    suite: Option<CipherSuite>,
    client_random: [u8; 32],
    peer_chain: Vec<Vec<u8>>,
    /// The peer's raw public key (DER SubjectPublicKeyInfo), when it presented one.
    peer_raw_key: Option<Vec<u8>>,
    psk_identity: Option<Vec<u8>>,
    /// The peer's hello extensions (client: the ServerHello's; server: the ClientHello's).
    peer_hello_extensions: Vec<Extension>,
    /// Server: what the `HelloExtensionHandler` added to our ServerHello.
    answered_extensions: Vec<Extension>,
    /// Server with `issue_session_ids`: the id our ServerHello gave the session; client with
    /// `keep_resumption_secret`: the id the server's ServerHello gave it.
    session_id: Vec<u8>,
    /// Once the peer's Finished is verified (server with `issue_session_ids`, client with
    /// `keep_resumption_secret` and a non-empty id): what an abbreviated handshake needs.
    /// Forgotten with the keys.
    resumption: Option<ResumptionSecret>,
}

/// What resumes a session (RFC 5246 7.3): its id, master secret and whether the master
/// secret is an extended one (RFC 7627 5.3: a resumption must negotiate the extension again
/// then, and must not if not). The master secret is wiped when this is dropped.
#[derive(Clone)]
pub struct ResumptionSecret {
    pub session_id: Vec<u8>,
    pub master_secret: MasterSecret,
    pub extended_master_secret: bool,
}

impl std::fmt::Debug for ResumptionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumptionSecret")
            .field("session_id", &self.session_id)
            .field("master_secret", &"<redacted>")
            .field("extended_master_secret", &self.extended_master_secret)
            .finish()
    }
}

impl Common {
    fn next_message_seq(&mut self) -> u16 {
        let seq = self.next_send_seq;
        self.next_send_seq = seq.wrapping_add(1);
        seq
    }

    /// Adds one of our messages to the current flight and to the transcript.
    fn queue_handshake(
        &mut self,
        transcript: &mut Transcript,
        epoch: u16,
        msg_type: HandshakeType,
        body: Vec<u8>,
    ) {
        let message_seq = self.next_message_seq();
        transcript.add(msg_type, message_seq, &body);
        self.flight.push(FlightItem::Handshake {
            epoch,
            msg_type,
            message_seq,
            body,
        });
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

    fn send_alert(&mut self, alert: Alert) {
        let epoch = self.layer.write_epoch();
        let mut out = Vec::new();
        if self
            .layer
            .write_record(epoch, ContentType::Alert, &alert.get_encoding(), &mut out)
            .is_ok()
        {
            self.transmits.push_back(out);
        }
    }

    /// Forgets the negotiated suite and randoms with the keys.
    fn forget_handshake(&mut self) {
        self.suite = None;
        self.client_random = [0; 32];
        self.resumption = None;
    }
}

pub struct Connection {
    state: State,
    common: Common,
    /// Records discarded (bad MAC, replay, unknown epoch, malformed): for counters.
    pub discarded_records: u64,
    /// Records in the peer's Finished epoch that failed authentication (counted in
    /// `discarded_records` too).
    pub finished_auth_failures: u64,
    /// Epoch-0 alerts ignored because the peer already writes protected records (counted in
    /// `discarded_records` too).
    pub unauthenticated_alerts: u64,
    /// When the last authenticated (protected) record arrived, or the connection began: the
    /// endpoint's idle expiry and eviction order.
    last_authenticated: Instant,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.common.role)
            .field("remote", &self.common.remote)
            .field("phase", &self.state.phase())
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Connection {
    fn new(now: Instant, role: Role, remote: SocketAddr, transport: TransportConfig) -> Self {
        Connection {
            state: State::Closed,
            common: Common {
                role,
                remote,
                transport,
                layer: RecordLayer::new(role),
                reassembler: Reassembler::new(transport.reassembly),
                next_send_seq: 0,
                flight: Vec::new(),
                timer: RetransmitTimer::new(transport.retransmit),
                last_reply: None,
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                suite: None,
                client_random: [0; 32],
                peer_chain: Vec::new(),
                peer_raw_key: None,
                psk_identity: None,
                peer_hello_extensions: Vec::new(),
                answered_extensions: Vec::new(),
                session_id: Vec::new(),
                resumption: None,
            },
            discarded_records: 0,
            finished_auth_failures: 0,
            unauthenticated_alerts: 0,
            last_authenticated: now,
        }
    }

    /// Starts a client handshake: the ClientHello is ready in `poll_transmit`.
    pub fn connect(
        now: Instant,
        remote: SocketAddr,
        config: Arc<ClientConfig>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let mut c = Connection::new(now, Role::Client, remote, config.transport);
        c.state = State::Client(client::start(&mut c.common, now, config)?);
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
        let mut c = Connection::new(now, Role::Server, remote, config.transport);
        c.state = State::Server(ServerState::start(config));
        c.common.layer.set_next_write_seq(record_seq);
        c.common.reassembler.set_next_seq(message_seq);
        c.common.next_send_seq = message_seq;
        c.handle_datagram(now, datagram);
        Ok(c)
    }

    pub fn role(&self) -> Role {
        self.common.role
    }

    pub fn remote(&self) -> SocketAddr {
        self.common.remote
    }

    pub fn phase(&self) -> Phase {
        self.state.phase()
    }

    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// When the last authenticated record arrived (or the connection began).
    pub fn last_authenticated(&self) -> Instant {
        self.last_authenticated
    }

    /// Negotiated suite, once the hellos are exchanged.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.common.suite
    }

    /// The peer's validated chain (DER, leaf first), for authorization decisions.
    pub fn peer_certificates(&self) -> &[Vec<u8>] {
        &self.common.peer_chain
    }

    /// The peer's raw public key (DER SubjectPublicKeyInfo, RFC 7250), when it
    /// authenticated with one instead of a certificate chain; its SHA-256 names it
    /// ([`cert::spki_sha256`](crate::cert::spki_sha256)).
    pub fn peer_raw_public_key(&self) -> Option<&[u8]> {
        self.common.peer_raw_key.as_deref()
    }

    /// The PSK identity the client used (server side) or offered (client side).
    pub fn psk_identity(&self) -> Option<&[u8]> {
        self.common.psk_identity.as_deref()
    }

    /// The peer's hello extensions, unknown ones included: on a client the ServerHello's,
    /// on a server the ClientHello's. Empty before the hello arrived.
    pub fn peer_hello_extensions(&self) -> &[Extension] {
        &self.common.peer_hello_extensions
    }

    /// Server: the extensions the `HelloExtensionHandler` put in our ServerHello.
    pub fn answered_extensions(&self) -> &[Extension] {
        &self.common.answered_extensions
    }

    /// The client random of this handshake (the endpoint uses it to tell a retransmitted
    /// ClientHello from a new one).
    pub fn client_random(&self) -> [u8; 32] {
        self.common.client_random
    }

    // ---- sans-IO surface ----

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.common.transmits.pop_front().map(|contents| Transmit {
            destination: self.common.remote,
            contents,
        })
    }

    /// Datagrams or events not yet drained.
    pub fn has_pending_output(&self) -> bool {
        !self.common.transmits.is_empty() || !self.common.events.is_empty()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.common.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state.phase() {
            Phase::Handshaking => self.common.timer.deadline(),
            _ => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state.phase() != Phase::Handshaking {
            return;
        }
        match self.common.timer.on_timeout(now) {
            Some(TimerAction::Retransmit) => {
                tracing::debug!(remote = %self.common.remote, "retransmitting flight");
                if let Err(e) = self.common.transmit_flight() {
                    self.fail(e);
                }
            }
            Some(TimerAction::GiveUp) if self.finished_auth_failures > 0 => {
                tracing::debug!(remote = %self.common.remote, "no authentic Finished came");
                self.fail(Error::DecryptFailed);
            }
            Some(TimerAction::GiveUp) => {
                tracing::debug!(remote = %self.common.remote, "handshake timed out");
                self.close_with(CloseReason::HandshakeTimeout);
            }
            None => {}
        }
    }

    /// Sends one application data record (at most 2^14 bytes).
    pub fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error> {
        if !matches!(self.state, State::Established(_)) {
            return Err(Error::NotEstablished);
        }
        if data.len() > 16384 {
            return Err(InvalidMessage::RecordTooLong.into());
        }
        let mut out = Vec::with_capacity(data.len() + 29);
        let layer = &mut self.common.layer;
        let epoch = layer.write_epoch();
        layer.write_record(epoch, ContentType::ApplicationData, data, &mut out)?;
        self.common.transmits.push_back(out);
        Ok(())
    }

    /// Sends close_notify and closes.
    pub fn close(&mut self) {
        if matches!(self.state, State::Closed | State::Transferred(_)) {
            return;
        }
        self.common.send_alert(Alert::close_notify());
        self.close_with(CloseReason::LocallyClosed);
    }

    /// Ends the association with a fatal alert (e.g. the IoTSSP aborting a delegation
    /// because the mote did not accept the transfer ticket).
    pub fn abort(&mut self, alert: AlertDescription) {
        if matches!(self.state, State::Closed | State::Transferred(_)) {
            return;
        }
        self.common.send_alert(Alert::fatal(alert));
        self.close_with(CloseReason::LocalError(Error::HandshakeRefused(alert)));
    }

    // ---- session transfer ----

    /// The session's keys and counters, once the client's Finished is verified (server) or
    /// the handshake is complete. While `Paused`, this already accounts for the held-back
    /// final flight: the counters are those to continue from after it.
    pub fn export_session(&self) -> Option<SessionState> {
        match self.state {
            State::Paused(_) | State::Established(_) => self.common.layer.export_session(),
            _ => None,
        }
    }

    /// The handshake waits for an external signature ([`Event::SignatureNeeded`]).
    pub fn awaiting_signature(&self) -> bool {
        matches!(
            self.state,
            State::Server(ServerState::Signature(_)) | State::Client(ClientState::Signature(_))
        )
    }

    /// Gives the external signature the handshake waits for (ECDSA P-256 `r || s`, 32 bytes
    /// each, big-endian) and sends the flight it completes. The signature is checked against
    /// our certificate's key first: one that does not verify ends the handshake with
    /// internal_error (and is returned as the error), as does calling this while no signature
    /// is awaited (then nothing changes).
    pub fn provide_signature(&mut self, now: Instant, signature: &[u8; 64]) -> Result<(), Error> {
        let next = match std::mem::replace(&mut self.state, State::Closed) {
            State::Server(ServerState::Signature(s)) => s.resume(&mut self.common, now, signature),
            State::Client(ClientState::Signature(s)) => s.resume(&mut self.common, now, signature),
            other => {
                self.state = other;
                return Err(Error::Internal("no external signature awaited"));
            }
        };
        match next {
            Ok(state) => {
                self.state = state;
                Ok(())
            }
            Err(e) => {
                tracing::info!(remote = %self.common.remote, error = e.as_str(), "external signature refused");
                self.fail(e.clone());
                Err(e)
            }
        }
    }

    /// Server with `issue_session_ids` (or client with `keep_resumption_secret`, when the
    /// server gave the session an id), from the peer's verified Finished until the keys are
    /// forgotten: the session's id and master secret, for whoever will resume it.
    pub fn resumption_secret(&self) -> Option<&ResumptionSecret> {
        match self.state {
            State::Paused(_) | State::Established(_) => self.common.resumption.as_ref(),
            _ => None,
        }
    }

    /// Server, `Paused`: sends the held ChangeCipherSpec + Finished and completes.
    pub fn resume_final_flight(&mut self) -> Result<(), Error> {
        let State::Paused(flight) = std::mem::replace(&mut self.state, State::Closed) else {
            return Err(Error::Internal("resume_final_flight outside Paused"));
        };
        flight.queue(&mut self.common.transmits);
        self.state = State::Established(Some(flight));
        self.common.events.push_back(Event::HandshakeComplete);
        Ok(())
    }

    /// After the session was transferred elsewhere: wipe every key, keep only the sealed
    /// final flight to answer a retransmitted client flight.
    pub fn forget_keys(&mut self) {
        self.common.layer.wipe_keys();
        self.common.forget_handshake();
        self.state = match std::mem::replace(&mut self.state, State::Closed) {
            State::Closed => State::Closed,
            State::Paused(flight) => State::Transferred(Some(flight)),
            State::Established(flight) | State::Transferred(flight) => State::Transferred(flight),
            // Drops whatever handshake state (and secret) was left.
            State::Client(_) | State::Server(_) => State::Transferred(None),
        };
    }

    // ---- input ----

    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if matches!(self.state, State::Closed) {
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
            let opened = match self.common.layer.open(&rec) {
                Ok(Some(o)) => o,
                // The peer's Finished does not authenticate: forged, or under other keys
                // (a wrong PSK). Discarded like any invalid record (RFC 6347 4.1.2.7), so a
                // forgery cannot end the handshake; the genuine Finished may still come.
                // The retransmission timer bounds the wait, and the handshake then ends
                // with bad_record_mac rather than a bare timeout.
                Err(Error::DecryptFailed)
                    if self.state.expects_finished()
                        && rec.epoch() == self.common.layer.read_epoch() =>
                {
                    self.discarded_records += 1;
                    self.finished_auth_failures += 1;
                    if self.common.timer.deadline().is_none() {
                        self.common.timer.start_flight(now);
                    }
                    continue;
                }
                Ok(None) | Err(_) => {
                    // RFC 6347 section 4.1.2.7: invalid records are silently discarded.
                    self.discarded_records += 1;
                    continue;
                }
            };
            if opened.epoch > 0 {
                self.last_authenticated = now;
            }
            if let Err(e) = self.handle_record(
                now,
                opened.epoch,
                opened.content_type,
                &opened.plaintext,
                &mut peer_retransmitted,
            ) {
                self.fail(e);
                return;
            }
            if matches!(self.state, State::Closed) {
                return;
            }
        }
        if peer_retransmitted {
            self.reply_to_retransmission(now);
        }
    }

    fn handle_record(
        &mut self,
        now: Instant,
        epoch: u16,
        ct: ContentType,
        plaintext: &[u8],
        peer_retransmitted: &mut bool,
    ) -> Result<(), Error> {
        let current = epoch == self.common.layer.read_epoch();
        match ct {
            ContentType::Handshake => {
                self.handle_handshake_record(now, current, epoch, plaintext, peer_retransmitted)
            }
            ContentType::ChangeCipherSpec => {
                if plaintext != [1] {
                    return Err(InvalidMessage::InvalidCcs.into());
                }
                if current && self.state.expects_ccs() {
                    self.state = match std::mem::replace(&mut self.state, State::Closed) {
                        State::Client(ClientState::Ccs(s)) => s.handle(&mut self.common)?,
                        State::Server(ServerState::Ccs(s)) => s.handle(&mut self.common)?,
                        other => other,
                    };
                } else if !current || self.state.phase() != Phase::Handshaking {
                    *peer_retransmitted = true;
                }
                // Otherwise an early CCS (part of the flight lost): ignored; the peer resends.
                Ok(())
            }
            ContentType::Alert => {
                // Once the peer writes in a protected epoch, its alerts come protected: an
                // epoch-0 alert then is unauthenticated (anyone can forge it) and ignored.
                // Before that, an epoch-0 fatal alert ends the handshake even though it may
                // be forged: a real peer refuses us with exactly such an alert (unknown PSK
                // identity, bad certificate, our Finished failing), and ignoring it would
                // turn every refusal into a minute-long retransmission timeout. A spoofer
                // who can aim at our 5-tuple can also drop the handshake's packets.
                if !current {
                    self.discarded_records += 1;
                    self.unauthenticated_alerts += 1;
                    return Ok(());
                }
                let Ok(alert) = Alert::read_bytes(plaintext) else {
                    return Ok(());
                };
                if alert.description == AlertDescription::CloseNotify {
                    // RFC 5246 7.2.1: answer with our own close_notify.
                    if matches!(self.state, State::Established(_)) {
                        self.common.send_alert(Alert::close_notify());
                    }
                    self.close_with(CloseReason::CloseNotify);
                } else if alert.level == AlertLevel::Fatal {
                    tracing::debug!(remote = %self.common.remote, alert = ?alert.description, "peer sent fatal alert");
                    self.close_with(CloseReason::PeerAlert(alert.description));
                }
                Ok(())
            }
            ContentType::ApplicationData => {
                if current && epoch > 0 && matches!(self.state, State::Established(_)) {
                    self.common
                        .events
                        .push_back(Event::ApplicationData(plaintext.to_vec()));
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

    fn handle_handshake_record(
        &mut self,
        now: Instant,
        current: bool,
        epoch: u16,
        plaintext: &[u8],
        peer_retransmitted: &mut bool,
    ) -> Result<(), Error> {
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
            if seq < self.common.reassembler.next_seq() {
                *peer_retransmitted = true;
                continue;
            }
            if !current {
                continue;
            }
            if self.state.phase() != Phase::Handshaking {
                // A new handshake on an established association: renegotiation, refused.
                if matches!(
                    frag.header.msg_type,
                    HandshakeType::ClientHello | HandshakeType::HelloRequest
                ) && matches!(self.state, State::Established(_))
                {
                    self.common.send_alert(Alert {
                        level: AlertLevel::Warning,
                        description: AlertDescription::NoRenegotiation,
                    });
                }
                return Ok(());
            }
            match self.common.reassembler.accept(&frag) {
                Ok(Disposition::Old) => *peer_retransmitted = true,
                Ok(_) => {}
                Err(e) if epoch > 0 => return Err(e.into()),
                Err(_) => self.discarded_records += 1,
            }
        }
        while self.state.phase() == Phase::Handshaking {
            let Some(msg) = self.common.reassembler.next_message() else {
                break;
            };
            // The peer's next flight has begun: our previous one arrived.
            self.common.timer.stop();
            self.handle_message(now, msg)?;
        }
        Ok(())
    }

    /// Hands the message to the current state, which is consumed and replaced by the next
    /// one. On an error the connection is left `Closed` (and `fail` finishes that).
    fn handle_message(&mut self, now: Instant, msg: Message) -> Result<(), Error> {
        tracing::trace!(remote = %self.common.remote, msg = ?msg.msg_type, seq = msg.message_seq, "handshake message");
        self.state = match std::mem::replace(&mut self.state, State::Closed) {
            State::Client(s) => s.handle(&mut self.common, now, msg)?,
            State::Server(s) => s.handle(&mut self.common, now, msg)?,
            other => other,
        };
        Ok(())
    }

    // ---- output helpers ----

    /// The peer resent part of a flight we already answered: resend our answer, at most once
    /// per half initial timeout (a burst of fragments gets one reply).
    fn reply_to_retransmission(&mut self, now: Instant) {
        // Our flight is incomplete until the external signature comes.
        if self.awaiting_signature() {
            return;
        }
        let c = &mut self.common;
        let spacing = c.transport.retransmit.initial / 2;
        if c.last_reply.is_some_and(|t| now < t + spacing) {
            return;
        }
        match &self.state {
            State::Established(Some(flight)) | State::Transferred(Some(flight)) => {
                c.last_reply = Some(now);
                flight.queue(&mut c.transmits);
            }
            State::Client(_) | State::Server(_) if !c.flight.is_empty() => {
                c.last_reply = Some(now);
                if let Err(e) = c.transmit_flight() {
                    self.fail(e);
                }
            }
            _ => {}
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        // Dropping the handshake state zeroizes its secrets.
        self.state = State::Closed;
        let c = &mut self.common;
        c.timer.stop();
        c.forget_handshake();
        c.layer.wipe_keys();
        c.flight.clear();
        c.events.push_back(Event::Closed(reason));
    }

    fn fail(&mut self, e: Error) {
        tracing::debug!(remote = %self.common.remote, error = e.as_str(), "connection failed");
        if let Some(desc) = e.alert() {
            self.common.send_alert(Alert::fatal(desc));
        }
        self.close_with(CloseReason::LocalError(e));
    }
}
