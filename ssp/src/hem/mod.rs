//! Handshake Execution Module: one [`Delegation`] per (peer, mote) flow runs the two
//! handshakes of a delegated session and the transfer between them.
//!
//! - Internet leg: a dtls *server* [`Connection`] in the mote's name (the mote's chain and
//!   key, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, CertificateRequest, the CAM's verifier), paused
//!   after the client's Finished (`pause_after_client_finished`). A keyless mote's key
//!   (`key = "mote"`) never reaches the IoTSSP: the handshake pauses for the ServerKeyExchange
//!   signature, which the orchestrator asks of the mote over its association
//!   ([`Delegation::take_signature_request`], [`Delegation::mote_signed`]).
//! - Mote leg, per mote ([`LegMode`]):
//!   - `association` (the default): the IoTSSP's standing association with the mote
//!     (docs/mote-association.md, `mote_assoc::SspAssoc`, kept by the orchestrator). The
//!     delegation touches the mote only once the client's Certificate, CertificateVerify and
//!     Finished are verified and the AM allowed it: it hands the session over as one
//!     [`TransferBody`](mote_assoc::wire::TransferBody) ([`Delegation::take_assoc_body`]),
//!     and the mote's Confirm releases the final flight ([`Delegation::assoc_confirmed`]).
//!   - `psk-handshake` (the paper's flow): a dtls *client* [`Connection`] to the mote's
//!     transfer port (PSK 0xC0A8 with the mote's identity and key), whose ClientHello offers
//!     the SessionTransferTicket, started only once the client is authenticated (Finished
//!     verified, so CertificateVerify too) and authorised, as the association leg is: a
//!     cookie'd hello without a certificate, or a client that gives up, costs the mote
//!     nothing. The session goes over in one TransferSession record, and only a
//!     TransferConfirm with the right transfer id and key check releases the final flight.
//!
//! The final flight goes out as one FlowTransferred, so the border router routes the flow to
//! the mote before the client can send application data; then every key of the delegation is
//! dropped. What is kept afterwards, for a short while, is the sealed final flight only. The
//! AM decides only once the client's Finished is verified (so after its CertificateVerify):
//! presenting someone else's certificate reveals nothing about the policy.
//!
//! Must never: send anything to the mote before the client is authenticated and authorised
//! (either leg), but the one SignRequest of a keyless mote's ServerKeyExchange (which the
//! protocol puts before the client's Certificate); transfer to a mote that did not
//! accept the ticket; release the final flight before the confirmation; keep a key after
//! the transfer or a failure.

pub mod gate;

use std::collections::VecDeque;
use std::net::{SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::alert::{Alert, AlertDescription};
use dtls::codec::Codec;
use dtls::record::{ContentType, ProtocolVersion, RecordHeader, records};
use dtls::transfer::{
    ConfirmStatus, SttAnswerRepr, SttStatus, TransferConfirm, TransferConfirmRepr,
    TransferSessionRepr,
};
use dtls::{
    CipherSuite, ClientConfig, CloseReason, Connection, Error as DtlsError, Event, Phase,
    ServerConfig, SignatureRequest,
};
use redirect::{AbandonReason, FlowTag};
use zeroize::Zeroizing;

use crate::am::{Am, MoteRef, Verdict};
use crate::cam::{Cam, ClientIdentity};
use crate::counters::Counters;

/// How the IoTSSP reaches a mote to hand it a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LegMode {
    /// The standing association (docs/mote-association.md): one Transfer in, one Confirm
    /// out per delegation, sent only for an authenticated and authorised client.
    #[default]
    Association,
    /// The paper's flow: a PSK DTLS handshake with the SessionTransferTicket per delegation
    /// (docs/session-transfer.md).
    PskHandshake,
}

impl LegMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LegMode::Association => "association",
            LegMode::PskHandshake => "psk-handshake",
        }
    }
}

/// What the HEM needs to act for one mote.
#[derive(Clone)]
pub struct MoteProfile {
    pub name: String,
    pub leg: LegMode,
    /// The mote's PSK and EUI-64 for the association (`None` in psk-handshake mode).
    pub assoc: Option<mote_assoc::keys::Credentials>,
    pub address: std::net::Ipv6Addr,
    pub dtls_port: u16,
    pub transfer_port: u16,
    /// Internet-side server: the mote's chain and key, client auth, paused.
    pub server: Arc<ServerConfig>,
    /// Mote-side client: the mote's PSK, offering the SessionTransferTicket.
    pub client: Arc<ClientConfig>,
    /// The servers the mote may ask for a session with (outbound delegation).
    pub outbound: Vec<crate::outbound::OutboundServer>,
    /// Sessions transferred to the mote may be resumed there for this long (0: not
    /// resumable; the server then issues no session ids).
    pub resumption_lifetime_secs: u32,
}

/// Bit of a suite in a mote's suites bitmap (the association's AssocReady, see
/// docs/mote-association.md): 0 CCM-8, 1 CCM, 2 GCM, 3 ChaCha20-Poly1305.
pub fn suite_bit(suite: CipherSuite) -> Option<u8> {
    match suite {
        CipherSuite::EcdheEcdsaAes128Ccm8 => Some(0x01),
        CipherSuite::EcdheEcdsaAes128Ccm => Some(0x02),
        CipherSuite::EcdheEcdsaAes128Gcm => Some(0x04),
        CipherSuite::EcdheEcdsaChacha20Poly1305 => Some(0x08),
        CipherSuite::PskAes128Ccm8 => None,
    }
}

impl MoteProfile {
    /// Lets clients authenticate with raw public keys (RFC 7250) besides certificates; the
    /// AM then decides on the key's hash (`rpk-sha256:` rules) after the client's Finished.
    pub fn accept_raw_key_clients(&mut self) -> Result<(), dtls::Error> {
        let mut server = (*self.server).clone();
        server.client_raw_public_keys = Some(dtls::cert::RawKeyTrust::AuthorizedLater);
        server.validate()?;
        self.server = Arc::new(server);
        Ok(())
    }

    /// The Internet-side server restricted to the suites the mote reports it can continue
    /// (`bitmap`, see [`suite_bit`]), in the configured order; `None` when it reports none
    /// of them (the client then cannot be served).
    pub fn server_for_mote_suites(&self, bitmap: u8) -> Option<Arc<ServerConfig>> {
        let mut server = (*self.server).clone();
        server
            .cipher_suites
            .retain(|s| suite_bit(*s).is_some_and(|b| bitmap & b != 0));
        (!server.cipher_suites.is_empty()).then(|| Arc::new(server))
    }
}

impl std::fmt::Debug for MoteProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoteProfile")
            .field("name", &self.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl MoteProfile {
    pub fn transfer_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address.into(), self.transfer_port)
    }

    /// Whether the IoTSSP holds the mote's private key (`key = "iotssp"`); with
    /// `key = "mote"` it holds only the certificate and asks the mote for each signature.
    pub fn holds_private_key(&self) -> bool {
        self.server
            .certificate
            .as_ref()
            .is_some_and(|c| c.key.is_local())
    }
}

/// Timers of a delegation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HemTimers {
    /// The mote must have accepted the ticket and completed its PSK handshake this long
    /// after its leg started; otherwise the client gets a fatal alert.
    pub mote_timeout: Duration,
    /// The mote must confirm the transfer this long after the TransferSession was sent.
    pub confirm_timeout: Duration,
    /// Upper bound of a delegation from the cookie'd hello to the transfer.
    pub handshake_timeout: Duration,
    /// How long the sealed final flight is kept after the transfer (2 retransmission periods).
    pub final_flight_hold: Duration,
    /// Minimum spacing of answers to a retransmitted client flight.
    pub retransmit_reply_spacing: Duration,
}

impl Default for HemTimers {
    fn default() -> Self {
        HemTimers {
            mote_timeout: Duration::from_secs(15),
            confirm_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(60),
            final_flight_hold: Duration::from_secs(4),
            retransmit_reply_spacing: Duration::from_millis(500),
        }
    }
}

/// What a delegation asks the orchestrator to send or report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// To the peer, from the mote's address and DTLS port.
    Emit { flow: FlowTag, datagram: Vec<u8> },
    /// The mote confirmed: route the flow to the mote, then send `final_flight` to the peer.
    FlowTransferred {
        flow: FlowTag,
        final_flight: Vec<u8>,
    },
    /// The delegation ended without a transfer.
    FlowAbandoned {
        flow: FlowTag,
        reason: AbandonReason,
    },
    /// The mote may resume the flow's session (id `session_id`) itself for `lifetime_secs`:
    /// its Transfer carried the master secret. Queued just after the FlowTransferred (the
    /// border router accepts it only for a transferred flow); a remote IoTSSP sends it again
    /// until acknowledged (`redirect::ResumableOutbox`).
    SessionResumable {
        flow: FlowTag,
        lifetime_secs: u32,
        session_id: Vec<u8>,
    },
    /// To a mote's transfer port: attached, handed to the border router, which sends it
    /// from its own address and `hrm.attached_port`; remote, inside a MoteDatagram redirect
    /// message ([`Output::as_mote_datagram`]), which the border router sends from this
    /// IoTSSP's mote source.
    ToMote { mote: SocketAddr, datagram: Vec<u8> },
}

impl Output {
    /// The redirect message for the border router (`None` for datagrams to motes).
    pub fn as_redirect(&self) -> Option<redirect::RedirectMessage<'_>> {
        Some(match self {
            Output::Emit { flow, datagram } => redirect::RedirectMessage::Emit {
                flow: *flow,
                datagram,
            },
            Output::FlowTransferred { flow, final_flight } => {
                redirect::RedirectMessage::FlowTransferred {
                    flow: *flow,
                    final_flight,
                }
            }
            Output::FlowAbandoned { flow, reason } => redirect::RedirectMessage::FlowAbandoned {
                flow: *flow,
                reason: *reason,
            },
            Output::SessionResumable {
                flow,
                lifetime_secs,
                session_id,
            } => redirect::RedirectMessage::SessionResumable {
                flow: *flow,
                lifetime_secs: *lifetime_secs,
                session_id,
            },
            Output::ToMote { .. } => return None,
        })
    }

    /// A datagram to a mote as the MoteDatagram redirect message a remote IoTSSP sends its
    /// border router (`None` for the other outputs and for a mote addressed by IPv4).
    pub fn as_mote_datagram(&self) -> Option<redirect::RedirectMessage<'_>> {
        let Output::ToMote {
            mote: SocketAddr::V6(mote),
            datagram,
        } = self
        else {
            return None;
        };
        let flow = FlowTag {
            peer_addr: std::net::Ipv6Addr::UNSPECIFIED,
            peer_port: 0,
            mote_addr: *mote.ip(),
            mote_port: mote.port(),
        };
        Some(redirect::RedirectMessage::MoteDatagram { flow, datagram })
    }
}

/// Everything a delegation may touch besides itself.
pub struct Ctx<'a> {
    pub cam: &'a mut Cam,
    pub am: &'a mut Am,
    pub counters: &'a mut Counters,
    pub out: &'a mut VecDeque<Output>,
    pub timers: &'a HemTimers,
    /// Transfer ids.
    pub rng: &'a dyn dtls::provider::SecureRandom,
}

/// Why a delegation ended without a transfer (stable names for counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The Internet-side connection failed (its own error; the alert, if any, was sent).
    Handshake(&'static str),
    /// The CAM refused the client's chain (the dtls connection sent the matching alert).
    Certificate(&'static str),
    AccessDenied,
    PeerAlert,
    PeerTimeout,
    MoteTimeout,
    /// The mote's ServerHello carried no SessionTransferTicket answer, or not "accept".
    MoteRefused,
    MoteBusy,
    /// The mote-side PSK connection failed (bad PSK, alert from the mote...).
    MoteFailed,
    /// Keyless mote: its ServerKeyExchange signature did not come in time, was refused, or
    /// did not verify under its certificate.
    MoteSignature,
    ConfirmTimeout,
    /// TransferConfirm with a wrong id, status or key check; or the mote opened the
    /// association's Transfer and refused it (malformed, unsupported suite).
    ConfirmRejected,
    TransferUnavailable,
    Timeout,
}

impl Failure {
    pub fn as_str(&self) -> &'static str {
        match self {
            Failure::Handshake(s) | Failure::Certificate(s) => s,
            Failure::AccessDenied => "access_denied",
            Failure::PeerAlert => "peer_alert",
            Failure::PeerTimeout => "peer_timeout",
            Failure::MoteTimeout => "mote_timeout",
            Failure::MoteRefused => "mote_refused",
            Failure::MoteBusy => "mote_busy",
            Failure::MoteFailed => "mote_failed",
            Failure::MoteSignature => "mote_signature_failed",
            Failure::ConfirmTimeout => "confirm_timeout",
            Failure::ConfirmRejected => "confirm_rejected",
            Failure::TransferUnavailable => "transfer_unavailable",
            Failure::Timeout => "delegation_timeout",
        }
    }

    fn abandon_reason(&self) -> AbandonReason {
        match self {
            Failure::Certificate(_) | Failure::AccessDenied => AbandonReason::Unauthorized,
            Failure::MoteTimeout
            | Failure::MoteRefused
            | Failure::MoteBusy
            | Failure::MoteFailed
            | Failure::MoteSignature
            | Failure::ConfirmTimeout
            | Failure::ConfirmRejected => AbandonReason::MoteUnavailable,
            Failure::PeerTimeout | Failure::Timeout => AbandonReason::Timeout,
            Failure::Handshake(_) | Failure::PeerAlert | Failure::TransferUnavailable => {
                AbandonReason::HandshakeFailed
            }
        }
    }

    /// The alert the client gets when *we* end the handshake (none when the dtls
    /// connection already sent its own, or the peer is gone).
    fn alert(&self) -> Option<AlertDescription> {
        match self {
            Failure::AccessDenied => Some(AlertDescription::AccessDenied),
            Failure::MoteTimeout
            | Failure::MoteRefused
            | Failure::MoteBusy
            | Failure::MoteFailed
            | Failure::MoteSignature
            | Failure::ConfirmTimeout
            | Failure::ConfirmRejected
            | Failure::TransferUnavailable
            | Failure::Timeout => Some(AlertDescription::InternalError),
            Failure::Handshake(_)
            | Failure::Certificate(_)
            | Failure::PeerAlert
            | Failure::PeerTimeout => None,
        }
    }
}

/// The mote side of a delegation.
enum MoteLeg {
    /// Another delegation uses the mote's link (one PSK association per mote at a time:
    /// the IoTSSP reaches each mote from one address and port).
    Waiting,
    Handshaking {
        conn: Connection,
        deadline: Instant,
    },
    Ready(Connection),
    /// Closed (after the transfer or a failure).
    Gone,
}

enum Stage {
    /// Handshakes running; nothing transferred.
    Handshaking,
    /// Association leg: the session went to the orchestrator, which sends it to the mote
    /// on the mote's association; waiting for the outcome.
    AssocTransfer,
    /// TransferSession sent; waiting for the mote's confirmation. Application data is not
    /// retransmitted by DTLS, so the message (it holds the keys: wiped on drop) is kept and
    /// sent again, in a new record, until the confirmation or the deadline.
    Confirming {
        transfer_id: u32,
        expected_check: [u8; 8],
        deadline: Instant,
        message: Zeroizing<Vec<u8>>,
        resend_at: Instant,
        resend_interval: Duration,
    },
    /// Transferred: only the sealed final flight is kept, until `until`.
    Retained {
        final_flight: Vec<u8>,
        until: Instant,
        last_reply: Instant,
    },
    /// Over; the orchestrator removes it.
    Done,
}

/// One delegated handshake.
pub struct Delegation {
    flow: FlowTag,
    profile: Arc<MoteProfile>,
    internet: Option<Connection>,
    mote: MoteLeg,
    stage: Stage,
    client_finished: bool,
    /// When the client's Finished was verified: its retransmission timer started around
    /// then and backs off while we wait for the mote.
    client_finished_at: Option<Instant>,
    /// None: not decided yet (no client certificate seen).
    authorized: Option<bool>,
    /// Highest epoch-0 record sequence number we sent to the peer: an alert we write
    /// ourselves must come after it or the client's replay window drops it.
    max_epoch0_seq: Option<u64>,
    deadline: Instant,
    client_random: [u8; 32],
    started: Instant,
    /// What happened when, for the operator (bounded: [`MAX_TIMELINE`] events).
    timeline: Vec<(Instant, &'static str)>,
    /// How it ended: "transferred" or the failure's name; `None` while it runs.
    outcome: Option<&'static str>,
    /// Whether the orchestrator has taken its [`HandshakeRecord`].
    reported: bool,
    /// Keyless mote: the ServerKeyExchange's digest, for the orchestrator to send the mote.
    signature_request: Option<SignatureRequest>,
    /// The session id and lifetime of a Transfer that made the session resumable at the
    /// mote, announced to the border router with the FlowTransferred.
    resumable: Option<(Vec<u8>, u32)>,
}

/// Events kept per delegation: the happy path has six; failures add one.
pub const MAX_TIMELINE: usize = 12;

/// A delegation that ended, as the status command and page show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRecord {
    pub flow: FlowTag,
    pub mote: String,
    pub started: Instant,
    pub ended: Instant,
    /// "transferred", or why not (a [`Failure`] name).
    pub outcome: &'static str,
    pub timeline: Vec<(Instant, &'static str)>,
}

impl std::fmt::Debug for Delegation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delegation")
            .field("flow", &self.flow)
            .field("mote", &self.profile.name)
            .finish_non_exhaustive()
    }
}

impl Delegation {
    /// Starts the Internet leg from a cookie'd ClientHello (the datagram that carried it).
    /// The mote leg starts with [`Delegation::start_mote_leg`] once the mote's link is free.
    pub fn accept(
        now: Instant,
        flow: FlowTag,
        profile: Arc<MoteProfile>,
        hello: &gate::FirstHello,
        datagram: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<Self, DtlsError> {
        let peer = SocketAddr::V6(SocketAddrV6::new(flow.peer_addr, flow.peer_port, 0, 0));
        let conn = Connection::accept(
            now,
            peer,
            profile.server.clone(),
            datagram,
            hello.record_seq,
            hello.message_seq,
        )?;
        let mut d = Delegation {
            flow,
            profile,
            internet: Some(conn),
            mote: MoteLeg::Waiting,
            stage: Stage::Handshaking,
            client_finished: false,
            client_finished_at: None,
            authorized: None,
            max_epoch0_seq: None,
            deadline: now + ctx.timers.handshake_timeout,
            client_random: hello.hello.random,
            started: now,
            timeline: vec![(now, "client_hello")],
            outcome: None,
            reported: false,
            signature_request: None,
            resumable: None,
        };
        d.progress(now, ctx);
        Ok(d)
    }

    pub fn flow(&self) -> FlowTag {
        self.flow
    }

    pub fn mote_name(&self) -> &str {
        &self.profile.name
    }

    pub fn client_random(&self) -> [u8; 32] {
        self.client_random
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// The events so far (`client_hello`, for a keyless mote `signature_requested` and
    /// `mote_signed`, `mote_handshake`, `mote_ready`, `client_finished`, `transfer_sent`, then
    /// `transferred` or `failed`), oldest first.
    pub fn timeline(&self) -> &[(Instant, &'static str)] {
        &self.timeline
    }

    /// Where it stands, for the operator.
    pub fn phase(&self) -> &'static str {
        match (&self.stage, &self.mote) {
            (Stage::Handshaking, _) if self.profile.leg == LegMode::Association => {
                "client_handshake"
            }
            (Stage::AssocTransfer, _) => "confirming_transfer",
            (Stage::Handshaking, MoteLeg::Waiting) if self.wants_mote_link() => {
                "waiting_for_mote_link"
            }
            (Stage::Handshaking, MoteLeg::Handshaking { .. }) => "mote_handshake",
            (Stage::Handshaking, _) => "client_handshake",
            (Stage::Confirming { .. }, _) => "confirming_transfer",
            (Stage::Retained { .. }, _) => "transferred",
            (Stage::Done, _) => "done",
        }
    }

    /// How it ended, once it has: "transferred" or the failure's name.
    pub fn outcome(&self) -> Option<&'static str> {
        self.outcome
    }

    /// Its record, once, after it ended.
    pub fn take_record(&mut self) -> Option<HandshakeRecord> {
        let outcome = self.outcome.filter(|_| !self.reported)?;
        self.reported = true;
        Some(HandshakeRecord {
            flow: self.flow,
            mote: self.profile.name.clone(),
            started: self.started,
            ended: self.timeline.last().map_or(self.started, |e| e.0),
            outcome,
            timeline: self.timeline.clone(),
        })
    }

    fn mark(&mut self, now: Instant, event: &'static str) {
        if self.timeline.len() < MAX_TIMELINE && !self.timeline.iter().any(|e| e.1 == event) {
            self.timeline.push((now, event));
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// Still a handshake (counts against the mote's cap), as opposed to a retained flight.
    pub fn is_active(&self) -> bool {
        matches!(
            self.stage,
            Stage::Handshaking | Stage::Confirming { .. } | Stage::AssocTransfer
        )
    }

    pub fn is_retained(&self) -> bool {
        matches!(self.stage, Stage::Retained { .. })
    }

    /// psk-handshake leg, mote leg not started: in the mote's queue.
    pub fn awaits_mote_leg(&self) -> bool {
        self.profile.leg == LegMode::PskHandshake
            && matches!(self.mote, MoteLeg::Waiting)
            && self.is_active()
    }

    /// Waiting for the mote's link: the client is authenticated and authorised, so its mote
    /// leg may start.
    pub fn wants_mote_link(&self) -> bool {
        self.awaits_mote_leg() && self.client_finished && self.authorized == Some(true)
    }

    /// The mote's link is taken by others beyond the per-mote cap: the client gets a clear
    /// alert (the mote is busy), not silence.
    pub fn refuse_mote_busy(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        self.fail(now, Failure::MoteBusy, ctx);
    }

    /// Holds the mote's link (a PSK association with the mote).
    pub fn holds_mote_link(&self) -> bool {
        matches!(self.mote, MoteLeg::Handshaking { .. } | MoteLeg::Ready(_))
    }

    /// Connections that may hold key material (0 after a transfer or a failure).
    pub fn keys_held(&self) -> usize {
        usize::from(self.internet.is_some()) + usize::from(self.holds_mote_link())
    }

    pub fn start_mote_leg(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        if !self.wants_mote_link() {
            return;
        }
        match Connection::connect(
            now,
            self.profile.transfer_addr(),
            self.profile.client.clone(),
        ) {
            Ok(conn) => {
                ctx.counters.mote_handshakes_started += 1;
                self.mote = MoteLeg::Handshaking {
                    conn,
                    deadline: now + ctx.timers.mote_timeout,
                };
                self.mark(now, "mote_handshake");
            }
            Err(e) => {
                tracing::warn!(mote = %self.profile.name, error = e.as_str(), "mote-side connection refused to start");
                self.fail(now, Failure::MoteFailed, ctx);
                return;
            }
        }
        self.progress(now, ctx);
    }

    /// A datagram the border router diverted on this flow.
    pub fn handle_peer_datagram(&mut self, now: Instant, datagram: &[u8], ctx: &mut Ctx<'_>) {
        match &mut self.stage {
            Stage::Retained {
                final_flight,
                last_reply,
                ..
            } => {
                // A retransmitted client flight: the same sealed bytes, as the same idempotent
                // FlowTransferred (heals a lost one too), at most once per spacing.
                if now.saturating_duration_since(*last_reply) >= ctx.timers.retransmit_reply_spacing
                {
                    *last_reply = now;
                    ctx.counters.final_flight_resent += 1;
                    ctx.out.push_back(Output::FlowTransferred {
                        flow: self.flow,
                        final_flight: final_flight.clone(),
                    });
                }
            }
            Stage::Done => {}
            Stage::Handshaking | Stage::Confirming { .. } | Stage::AssocTransfer => {
                if let Some(c) = &mut self.internet {
                    c.handle_datagram(now, datagram);
                }
                self.progress(now, ctx);
            }
        }
    }

    /// A datagram from the mote's transfer port (this delegation holds the mote's link).
    pub fn handle_mote_datagram(&mut self, now: Instant, datagram: &[u8], ctx: &mut Ctx<'_>) {
        match &mut self.mote {
            MoteLeg::Handshaking { conn, .. } | MoteLeg::Ready(conn) => {
                conn.handle_datagram(now, datagram)
            }
            MoteLeg::Waiting | MoteLeg::Gone => return,
        }
        self.progress(now, ctx);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = match &self.stage {
            Stage::Done => return None,
            Stage::Retained { until, .. } => return Some(*until),
            Stage::Confirming {
                deadline,
                resend_at,
                ..
            } => Some((*deadline).min(self.deadline).min(*resend_at)),
            Stage::Handshaking | Stage::AssocTransfer => Some(self.deadline),
        };
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        consider(self.internet.as_ref().and_then(Connection::poll_timeout));
        match &self.mote {
            MoteLeg::Handshaking { conn, deadline } => {
                consider(Some(*deadline));
                consider(conn.poll_timeout());
            }
            MoteLeg::Ready(conn) => consider(conn.poll_timeout()),
            MoteLeg::Waiting | MoteLeg::Gone => {}
        }
        t
    }

    pub fn handle_timeout(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        match &self.stage {
            Stage::Done => return,
            Stage::Retained { until, .. } => {
                if now >= *until {
                    self.stage = Stage::Done;
                }
                return;
            }
            Stage::Confirming { deadline, .. } if now >= *deadline => {
                return self.fail(now, Failure::ConfirmTimeout, ctx);
            }
            _ => {}
        }
        self.resend_transfer(now, ctx);
        if now >= self.deadline {
            return self.fail(now, Failure::Timeout, ctx);
        }
        if let MoteLeg::Handshaking { deadline, .. } = &self.mote
            && now >= *deadline
        {
            return self.fail(now, Failure::MoteTimeout, ctx);
        }
        if let Some(c) = &mut self.internet
            && c.poll_timeout().is_some_and(|t| t <= now)
        {
            c.handle_timeout(now);
        }
        match &mut self.mote {
            MoteLeg::Handshaking { conn, .. } | MoteLeg::Ready(conn)
                if conn.poll_timeout().is_some_and(|t| t <= now) =>
            {
                conn.handle_timeout(now)
            }
            _ => {}
        }
        self.progress(now, ctx);
    }

    /// Drains both legs and moves the delegation on as far as it can go.
    fn progress(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        if let Err(f) = self.drain_internet(ctx) {
            return self.fail(now, f, ctx);
        }
        if self.client_finished && self.client_finished_at.is_none() {
            self.client_finished_at = Some(now);
            self.mark(now, "client_finished");
        }
        if let Err(f) = self.authorize(ctx) {
            return self.fail(now, f, ctx);
        }
        let confirm = self.drain_mote(ctx);
        if matches!(self.mote, MoteLeg::Ready(_)) {
            self.mark(now, "mote_ready");
        }
        match confirm {
            Ok(Some(confirm)) => return self.finish_transfer(now, &confirm, ctx),
            Ok(None) => {}
            Err(f) => return self.fail(now, f, ctx),
        }
        if let Err(f) = self.maybe_send_transfer(now, ctx) {
            self.fail(now, f, ctx);
        }
    }

    fn drain_internet(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Failure> {
        let Some(conn) = &mut self.internet else {
            return Ok(());
        };
        while let Some(t) = conn.poll_transmit() {
            for rec in records(&t.contents).flatten() {
                if rec.content_type() == ContentType::Alert {
                    ctx.counters.alerts_sent += 1;
                }
                if rec.epoch() == 0 {
                    self.max_epoch0_seq = Some(
                        self.max_epoch0_seq
                            .map_or(rec.sequence_number(), |m| m.max(rec.sequence_number())),
                    );
                }
            }
            ctx.out.push_back(Output::Emit {
                flow: self.flow,
                datagram: t.contents,
            });
        }
        let mut failure = None;
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::ClientFinishedVerified => self.client_finished = true,
                Event::SignatureNeeded(r) => self.signature_request = Some(r),
                Event::HandshakeComplete
                | Event::ApplicationData(_)
                | Event::ServerHelloExtensions(_) => {}
                Event::Closed(reason) => {
                    failure = Some(match reason {
                        CloseReason::LocalError(DtlsError::InvalidCertificate(e)) => {
                            ctx.cam.record_rejection(&e);
                            Failure::Certificate(e.as_str())
                        }
                        CloseReason::LocalError(e) => Failure::Handshake(e.as_str()),
                        CloseReason::PeerAlert(_) | CloseReason::CloseNotify => Failure::PeerAlert,
                        CloseReason::HandshakeTimeout => Failure::PeerTimeout,
                        CloseReason::LocallyClosed => Failure::Handshake("locally_closed"),
                    });
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// The AM decides once the client's Finished is verified, so after its
    /// CertificateVerify: until the client has proved it holds the key of the certificate it
    /// presented, nothing about the policy (allowed or not) shows, and nothing goes to the
    /// mote.
    fn authorize(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Failure> {
        if self.authorized.is_some() || !self.client_finished {
            return Ok(());
        }
        let Some(conn) = &self.internet else {
            return Ok(());
        };
        let id = match conn.peer_raw_public_key() {
            Some(spki) => ClientIdentity::from_raw_key(spki),
            None => {
                let chain = conn.peer_certificates();
                if chain.is_empty() {
                    return Ok(());
                }
                ctx.cam
                    .identity_of_validated(chain)
                    .map_err(|e| Failure::Certificate(e.as_str()))?
            }
        };
        let mote = MoteRef {
            name: &self.profile.name,
            address: self.profile.address,
        };
        let ok = ctx.am.authorize(&id, &mote) == Verdict::Allow;
        self.authorized = Some(ok);
        if ok {
            Ok(())
        } else {
            Err(Failure::AccessDenied)
        }
    }

    /// Returns a TransferConfirm that arrived (checked by the caller), if any.
    fn drain_mote(&mut self, ctx: &mut Ctx<'_>) -> Result<Option<TransferConfirmRepr>, Failure> {
        let addr = self.profile.transfer_addr();
        let conn = match &mut self.mote {
            MoteLeg::Handshaking { conn, .. } | MoteLeg::Ready(conn) => conn,
            MoteLeg::Waiting | MoteLeg::Gone => return Ok(None),
        };
        let mut confirm = None;
        let mut established = false;
        let mut failure = None;
        while let Some(ev) = conn.poll_event() {
            match ev {
                // The mote's answer to the ticket, before its handshake completes: anything
                // but "accept" ends the delegation before a key is derived.
                Event::ServerHelloExtensions(exts) => match SttAnswerRepr::find(&exts) {
                    Some(Ok(SttAnswerRepr {
                        status: SttStatus::Accept,
                        free_slots,
                    })) => {
                        tracing::debug!(mote = %self.profile.name, free_slots, "mote accepted the transfer ticket");
                    }
                    Some(Ok(SttAnswerRepr {
                        status: SttStatus::Busy,
                        ..
                    })) => failure = Some(Failure::MoteBusy),
                    _ => failure = Some(Failure::MoteRefused),
                },
                Event::HandshakeComplete => established = true,
                Event::ApplicationData(bytes) => {
                    match TransferConfirmRepr::parse(&TransferConfirm::new_unchecked(&bytes[..])) {
                        Ok(c) => confirm = Some(c),
                        Err(e) => {
                            tracing::debug!(mote = %self.profile.name, error = e.as_str(), "unexpected data from mote");
                            failure = Some(Failure::ConfirmRejected);
                        }
                    }
                }
                // A mote that confirmed the transfer may close its PSK association right
                // behind the confirmation (motesim does, in the same flight): the confirmation
                // stands.
                Event::Closed(CloseReason::CloseNotify) if confirm.is_some() => break,
                Event::Closed(reason) => {
                    tracing::debug!(mote = %self.profile.name, ?reason, "mote-side connection closed");
                    failure = Some(match reason {
                        CloseReason::HandshakeTimeout => Failure::MoteTimeout,
                        _ => Failure::MoteFailed,
                    });
                }
                // The mote-side client presents no certificate.
                Event::ClientFinishedVerified | Event::SignatureNeeded(_) => {}
            }
            if failure.is_some() {
                break;
            }
        }
        while let Some(t) = conn.poll_transmit() {
            ctx.out.push_back(Output::ToMote {
                mote: addr,
                datagram: t.contents,
            });
        }
        if let Some(f) = failure {
            return Err(f);
        }
        if established {
            // The engine emits ServerHelloExtensions before HandshakeComplete whenever the
            // offer was made; a mote that ignored the offer answers with nothing.
            let accepted = matches!(
                SttAnswerRepr::find(conn.peer_hello_extensions()),
                Some(Ok(SttAnswerRepr {
                    status: SttStatus::Accept,
                    ..
                }))
            );
            if !accepted {
                return Err(Failure::MoteRefused);
            }
            if let MoteLeg::Handshaking { conn, .. } =
                std::mem::replace(&mut self.mote, MoteLeg::Gone)
            {
                self.mote = MoteLeg::Ready(conn);
            }
        }
        Ok(confirm)
    }

    /// Keyless mote: the signature the Internet handshake waits for, once (the orchestrator
    /// asks the mote for it over the association, then calls [`Self::mote_signed`] or
    /// [`Self::mote_signature_failed`]).
    pub fn take_signature_request(&mut self, now: Instant) -> Option<SignatureRequest> {
        let r = self.signature_request.take().filter(|_| self.is_active())?;
        self.mark(now, "signature_requested");
        Some(r)
    }

    /// Keyless mote: its signature arrived; the handshake goes on. One that does not verify
    /// under the mote's certificate ends the delegation (internal_error to the client).
    pub fn mote_signed(&mut self, now: Instant, signature: &[u8; 64], ctx: &mut Ctx<'_>) {
        let Some(conn) = self.internet.as_mut().filter(|c| c.awaiting_signature()) else {
            return;
        };
        match conn.provide_signature(now, signature) {
            Ok(()) => {
                ctx.counters.keyless_signatures += 1;
                self.mark(now, "mote_signed");
                self.progress(now, ctx);
            }
            Err(e) => {
                tracing::warn!(flow = %self.flow, mote = %self.profile.name, error = e.as_str(), "the mote's signature does not verify under its certificate");
                self.fail(now, Failure::MoteSignature, ctx);
            }
        }
    }

    /// Keyless mote: no signature came (refused, or no answer in time).
    pub fn mote_signature_failed(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        self.fail(now, Failure::MoteSignature, ctx);
    }

    /// Association leg: once the client is authenticated (its Finished verified) and
    /// authorised, the session to hand over, as the association's Transfer body; the
    /// delegation then waits for [`Self::assoc_confirmed`] or [`Self::assoc_failed`]. `None`
    /// before that, in psk-handshake mode, and after (a failure here ends the delegation).
    pub fn take_assoc_body(
        &mut self,
        now: Instant,
        ctx: &mut Ctx<'_>,
    ) -> Option<mote_assoc::wire::TransferBody> {
        if self.profile.leg != LegMode::Association
            || !matches!(self.stage, Stage::Handshaking)
            || !self.client_finished
            || self.authorized != Some(true)
        {
            return None;
        }
        let lifetime = self.profile.resumption_lifetime_secs;
        let with_resumption = |c: &Connection| {
            let mut body = transfer_body(c, &self.flow)?;
            if lifetime > 0 {
                body.resumption = c.resumption_secret().and_then(|r| {
                    mote_assoc::wire::Resumption::new(
                        &r.session_id,
                        *r.master_secret,
                        r.extended_master_secret,
                        lifetime,
                    )
                });
            }
            Some(body)
        };
        match self.internet.as_ref().and_then(with_resumption) {
            Some(body) => {
                self.resumable = body
                    .resumption
                    .as_ref()
                    .map(|r| (r.session_id().to_vec(), lifetime));
                self.stage = Stage::AssocTransfer;
                ctx.counters.transfers_sent += 1;
                self.mark(now, "transfer_sent");
                Some(body)
            }
            None => {
                tracing::warn!(flow = %self.flow, "session cannot be transferred");
                self.fail(now, Failure::TransferUnavailable, ctx);
                None
            }
        }
    }

    /// Association leg: the mote confirmed the Transfer (installed).
    pub fn assoc_confirmed(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        if matches!(self.stage, Stage::AssocTransfer) {
            self.release_final_flight(now, ctx);
        }
    }

    /// Association leg: the Transfer could not be made or installed.
    pub fn assoc_failed(&mut self, now: Instant, failure: Failure, ctx: &mut Ctx<'_>) {
        self.fail(now, failure, ctx);
    }

    fn maybe_send_transfer(&mut self, now: Instant, ctx: &mut Ctx<'_>) -> Result<(), Failure> {
        if self.profile.leg != LegMode::PskHandshake
            || !matches!(self.stage, Stage::Handshaking)
            || !self.client_finished
            || self.authorized != Some(true)
        {
            return Ok(());
        }
        let MoteLeg::Ready(mote) = &mut self.mote else {
            return Ok(());
        };
        let inet = self.internet.as_ref().ok_or(Failure::TransferUnavailable)?;
        let state = inet.export_session().ok_or(Failure::TransferUnavailable)?;
        let mut id = [0u8; 4];
        ctx.rng
            .fill(&mut id)
            .map_err(|_| Failure::TransferUnavailable)?;
        let transfer_id = u32::from_be_bytes(id);
        let peer = SocketAddr::V6(SocketAddrV6::new(
            self.flow.peer_addr,
            self.flow.peer_port,
            0,
            0,
        ));
        let suite = inet.cipher_suite().ok_or(Failure::TransferUnavailable)?;
        let ts = TransferSessionRepr::from_session(
            &state,
            suite,
            peer,
            self.flow.mote_port,
            &[],
            transfer_id,
        )
        .map_err(|e| {
            tracing::warn!(flow = %self.flow, error = e.as_str(), "session cannot be transferred");
            Failure::TransferUnavailable
        })?;
        let expected_check = ts.key_check();
        let message: Zeroizing<Vec<u8>> = ts.to_bytes();
        mote.send_application_data(&message)
            .map_err(|_| Failure::TransferUnavailable)?;
        drop(ts);
        drop(state);
        ctx.counters.transfers_sent += 1;
        let resend_interval = self.profile.client.transport.retransmit.initial;
        self.stage = Stage::Confirming {
            transfer_id,
            expected_check,
            deadline: now + ctx.timers.confirm_timeout,
            message,
            resend_at: now + resend_interval,
            resend_interval,
        };
        let addr = self.profile.transfer_addr();
        while let Some(t) = mote.poll_transmit() {
            ctx.out.push_back(Output::ToMote {
                mote: addr,
                datagram: t.contents,
            });
        }
        self.mark(now, "transfer_sent");
        Ok(())
    }

    fn resend_transfer(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let Stage::Confirming {
            message,
            resend_at,
            resend_interval,
            ..
        } = &mut self.stage
        else {
            return;
        };
        if now < *resend_at {
            return;
        }
        let MoteLeg::Ready(mote) = &mut self.mote else {
            return;
        };
        if mote.send_application_data(message).is_ok() {
            ctx.counters.transfers_resent += 1;
            let addr = self.profile.transfer_addr();
            while let Some(t) = mote.poll_transmit() {
                ctx.out.push_back(Output::ToMote {
                    mote: addr,
                    datagram: t.contents,
                });
            }
        }
        *resend_interval = (*resend_interval * 2).min(Duration::from_secs(60));
        *resend_at = now + *resend_interval;
    }

    fn finish_transfer(&mut self, now: Instant, confirm: &TransferConfirmRepr, ctx: &mut Ctx<'_>) {
        let Stage::Confirming {
            transfer_id,
            expected_check,
            ..
        } = &self.stage
        else {
            // A confirmation for nothing we sent.
            return self.fail(now, Failure::ConfirmRejected, ctx);
        };
        if confirm.transfer_id != *transfer_id
            || confirm.status != ConfirmStatus::Installed
            || !ct_eq8(&confirm.key_check, expected_check)
        {
            tracing::warn!(mote = %self.profile.name, status = ?confirm.status, "transfer confirmation refused");
            return self.fail(now, Failure::ConfirmRejected, ctx);
        }
        self.release_final_flight(now, ctx);
    }

    /// The mote holds the session: the final flight goes to the client inside one
    /// FlowTransferred, every key is dropped, the sealed flight alone is kept a while.
    fn release_final_flight(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let Some(mut inet) = self.internet.take() else {
            return self.fail(now, Failure::TransferUnavailable, ctx);
        };
        if inet.resume_final_flight().is_err() {
            self.internet = Some(inet);
            return self.fail(now, Failure::TransferUnavailable, ctx);
        }
        let mut final_flight = Vec::new();
        while let Some(t) = inet.poll_transmit() {
            final_flight.extend_from_slice(&t.contents);
        }
        inet.forget_keys();
        drop(inet);
        ctx.out.push_back(Output::FlowTransferred {
            flow: self.flow,
            final_flight: final_flight.clone(),
        });
        // After the FlowTransferred: the border router accepts it only for a flow it holds
        // as transferred.
        if let Some((session_id, lifetime_secs)) = self.resumable.take() {
            ctx.out.push_back(Output::SessionResumable {
                flow: self.flow,
                lifetime_secs,
                session_id,
            });
        }
        self.close_mote_leg(ctx);
        ctx.counters.transfers_completed += 1;
        ctx.counters.handshakes_completed += 1;
        tracing::info!(flow = %self.flow, mote = %self.profile.name, "flow transferred to the mote");
        // The client has been retransmitting its flight since its Finished, with a doubling
        // timer; its next copy comes within about twice the time it has waited so far.
        let waited = self
            .client_finished_at
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let hold = (ctx.timers.final_flight_hold + waited * 2).min(Duration::from_secs(120));
        self.stage = Stage::Retained {
            final_flight,
            until: now + hold,
            last_reply: now,
        };
        self.mark(now, "transferred");
        self.outcome = Some("transferred");
    }

    fn close_mote_leg(&mut self, ctx: &mut Ctx<'_>) {
        let addr = self.profile.transfer_addr();
        if let MoteLeg::Handshaking { mut conn, .. } | MoteLeg::Ready(mut conn) =
            std::mem::replace(&mut self.mote, MoteLeg::Gone)
        {
            conn.close();
            while let Some(t) = conn.poll_transmit() {
                ctx.out.push_back(Output::ToMote {
                    mote: addr,
                    datagram: t.contents,
                });
            }
        }
    }

    /// Ends the delegation without a transfer: the client gets a fatal alert (ours, unless
    /// the dtls connection sent its own), the mote leg is closed, every key dropped.
    fn fail(&mut self, now: Instant, failure: Failure, ctx: &mut Ctx<'_>) {
        if matches!(self.stage, Stage::Done | Stage::Retained { .. }) {
            return;
        }
        // Whatever the Internet leg still had to say (its own alert) goes first.
        let _ = self.drain_internet(ctx);
        if let Some(desc) = failure.alert()
            && let Some(conn) = &mut self.internet
        {
            match conn.phase() {
                Phase::Handshaking => {
                    conn.abort(desc);
                    let _ = self.drain_internet(ctx);
                }
                // Our ChangeCipherSpec is held back, so the client still reads epoch 0; the
                // engine would write the alert in epoch 1, which the client cannot read.
                Phase::Paused => {
                    ctx.out.push_back(Output::Emit {
                        flow: self.flow,
                        datagram: self.plaintext_alert(desc),
                    });
                    ctx.counters.alerts_sent += 1;
                }
                _ => {}
            }
        }
        self.internet = None;
        self.close_mote_leg(ctx);
        ctx.counters.record_failure(failure);
        tracing::info!(flow = %self.flow, mote = %self.profile.name, reason = failure.as_str(), "delegation abandoned");
        ctx.out.push_back(Output::FlowAbandoned {
            flow: self.flow,
            reason: failure.abandon_reason(),
        });
        self.stage = Stage::Done;
        self.mark(now, "failed");
        self.outcome = Some(failure.as_str());
    }

    /// A fatal alert in epoch 0: the client has not received our ChangeCipherSpec (it is
    /// held back until the transfer), so its read epoch is still 0. The sequence number
    /// skips past everything we sent, including the held-back ChangeCipherSpec.
    fn plaintext_alert(&self, desc: AlertDescription) -> Vec<u8> {
        let seq = self.max_epoch0_seq.map_or(0, |m| m + 2);
        let mut out = Vec::with_capacity(15);
        RecordHeader {
            content_type: ContentType::Alert,
            version: ProtocolVersion::DTLS1_2,
            epoch: 0,
            sequence_number: seq,
        }
        .emit(&Alert::fatal(desc).get_encoding(), &mut out);
        out
    }
}

/// The Internet session as the association's Transfer body: its keys under the suite the
/// engine negotiated, the client's address and port, and the epoch-1 sequence numbers when
/// they are not the defaults (the client's Finished 0 received, our Finished 0 sent).
pub(crate) fn transfer_body(
    conn: &Connection,
    flow: &FlowTag,
) -> Option<mote_assoc::wire::TransferBody> {
    use dtls::record::RecordAead;
    use mote_assoc::wire::{KeyBlock, SequenceNumbers, SessionKeys, TransferBody};
    let state = conn.export_session()?;
    let k = &state.keys;
    fn block<const K: usize, const I: usize>(k: &dtls::SessionKeys) -> Option<KeyBlock<K, I>> {
        Some(KeyBlock {
            client_write_key: k.client_write_key().try_into().ok()?,
            server_write_key: k.server_write_key().try_into().ok()?,
            client_write_iv: k.client_iv().try_into().ok()?,
            server_write_iv: k.server_iv().try_into().ok()?,
        })
    }
    // The suite the engine negotiated with the client, whose record layer the mote continues.
    let keys = match k.aead() {
        RecordAead::Aes128Ccm8 => SessionKeys::Ccm8(block(k)?),
        RecordAead::Aes128Ccm => SessionKeys::Ccm(block(k)?),
        RecordAead::Aes128Gcm => SessionKeys::Gcm(block(k)?),
        RecordAead::Chacha20Poly1305 => SessionKeys::ChaCha20Poly1305(block(k)?),
    };
    if state.read_epoch != 1 || state.write_epoch != 1 {
        return None;
    }
    let highest_received = state.read_highest_seq?;
    let sequence = SequenceNumbers {
        highest_received,
        next_write: state.next_write_seq,
    };
    Some(TransferBody {
        keys,
        // When every slot is taken, the mote's least recently used idle session gives way
        // to this one (a client that vanished without close_notify must not lock it out);
        // a mote with none idle refuses it, and the client gets internal_error.
        may_evict: true,
        client_addr: flow.peer_addr.octets(),
        client_port: flow.peer_port,
        sequence: (sequence != SequenceNumbers::DEFAULT).then_some(sequence),
        mote_is_client: false,
        resumption: None,
    })
}

fn ct_eq8(a: &[u8; 8], b: &[u8; 8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
