//! Outbound delegation (docs/mote-association.md, "Outbound delegation"): a mote asks, with an
//! authenticated Connect on its standing association, for a DTLS session with a server on
//! the Internet; the IoTSSP runs the *client* side of the certificate handshake in the
//! mote's name (the mote's chain or raw public key, from the mote's address and DTLS port),
//! checks the server's chain and name, or its raw public key (RFC 7250), against the mote's
//! policy, and transfers the session with the mote as client.
//!
//! One [`OutboundHandshake`] per flow (server, mote). Its datagrams leave as `Emit` on that
//! flow, like an inbound delegation's server flights; the server's answers come back as
//! `Divert`s on the same flow (the HRM diverts every handshake record to the mote's DTLS
//! port). Only a Connect that verified under the association starts one: nothing from the
//! Internet does.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Instant;

use dtls::{ClientConfig, CloseReason, Connection, Event, SignatureRequest};
use redirect::FlowTag;

use crate::hem::transfer_body;

/// A server a mote may ask for, as the IoTSSP's policy names it.
#[derive(Clone)]
pub struct OutboundServer {
    pub address: Ipv6Addr,
    pub port: u16,
    /// The name the server's certificate must be valid for, or (a server that authenticates
    /// with a raw public key only) the `rpk-sha256:` selector of its key.
    pub name: String,
    /// The client role in the mote's name: its chain and key, the server's anchors and
    /// name, the mote's suites.
    pub client: Arc<ClientConfig>,
    /// The mote's `resumption_lifetime_secs`: above 0 the client keeps the session id the
    /// server gives and the Transfer carries it with the master secret, so that the mote can
    /// resume the session with the server itself (docs/session-transfer.md).
    pub resumption_lifetime_secs: u32,
}

impl std::fmt::Debug for OutboundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundServer")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Where an outbound handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundPhase {
    /// The handshake with the server runs.
    Handshaking,
    /// The session is complete and waits for (or is in) its Transfer to the mote.
    Transferring,
}

/// What [`OutboundHandshake::poll`] found.
#[derive(Debug)]
pub enum OutboundStep {
    /// Datagrams to the server (as `Emit` on the flow).
    Nothing,
    /// The handshake completed: this body goes to the mote.
    Complete(mote_assoc::wire::TransferBody),
    /// The handshake ended without a session: why (a stable name) and the detail.
    Failed(&'static str, String),
}

/// The client handshake one mote asked for.
pub struct OutboundHandshake {
    pub flow: FlowTag,
    /// The mote's slot in the orchestrator.
    pub slot: usize,
    /// The Connect's request counter.
    pub r: u32,
    pub server_name: String,
    resumption_lifetime_secs: u32,
    conn: Connection,
    phase: OutboundPhase,
    /// The handshake is given up at this instant.
    deadline: Instant,
    /// Keyless mote: the CertificateVerify's digest, for the orchestrator to send the mote.
    signature_request: Option<SignatureRequest>,
}

impl std::fmt::Debug for OutboundHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundHandshake")
            .field("flow", &self.flow)
            .field("r", &self.r)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl OutboundHandshake {
    /// Starts the handshake (the ClientHello is ready in [`Self::poll_transmit`]).
    pub fn start(
        now: Instant,
        flow: FlowTag,
        slot: usize,
        r: u32,
        server: &OutboundServer,
        client: Arc<ClientConfig>,
        deadline: Instant,
    ) -> Result<Self, dtls::Error> {
        let remote = SocketAddr::V6(SocketAddrV6::new(flow.peer_addr, flow.peer_port, 0, 0));
        let conn = Connection::connect(now, remote, client)?;
        Ok(OutboundHandshake {
            flow,
            slot,
            r,
            server_name: server.name.clone(),
            resumption_lifetime_secs: server.resumption_lifetime_secs,
            conn,
            phase: OutboundPhase::Handshaking,
            deadline,
            signature_request: None,
        })
    }

    /// Keyless mote: the signature the handshake waits for, once (the orchestrator asks the
    /// mote for it over the association).
    pub fn take_signature_request(&mut self) -> Option<SignatureRequest> {
        self.signature_request.take()
    }

    /// The mote's signature: the handshake goes on (its flight in [`Self::poll_transmit`]).
    /// An error (a signature that does not verify) ends it with internal_error.
    pub fn provide_signature(
        &mut self,
        now: Instant,
        signature: &[u8; 64],
    ) -> Result<(), dtls::Error> {
        self.conn.provide_signature(now, signature)
    }

    /// The mote gave no signature: the server gets internal_error.
    pub fn abort(&mut self) {
        self.conn.abort(dtls::AlertDescription::InternalError);
    }

    pub fn phase(&self) -> OutboundPhase {
        self.phase
    }

    /// A datagram the server sent to the mote's DTLS port, diverted by the border router.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if self.phase == OutboundPhase::Handshaking {
            self.conn.handle_datagram(now, datagram);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            OutboundPhase::Handshaking => Some(
                self.conn
                    .poll_timeout()
                    .map_or(self.deadline, |t| t.min(self.deadline)),
            ),
            OutboundPhase::Transferring => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == OutboundPhase::Handshaking
            && self.conn.poll_timeout().is_some_and(|t| t <= now)
        {
            self.conn.handle_timeout(now);
        }
    }

    /// The next datagram for the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.conn.poll_transmit().map(|t| t.contents)
    }

    /// What the connection's events (and the deadline) mean now.
    pub fn poll(&mut self, now: Instant) -> OutboundStep {
        if self.phase != OutboundPhase::Handshaking {
            return OutboundStep::Nothing;
        }
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::HandshakeComplete => {
                    let lifetime = self.resumption_lifetime_secs;
                    let body = transfer_body(&self.conn, &self.flow).map(|mut b| {
                        b.mote_is_client = true;
                        if lifetime > 0 {
                            b.resumption = self.conn.resumption_secret().and_then(|r| {
                                mote_assoc::wire::Resumption::new(
                                    &r.session_id,
                                    *r.master_secret,
                                    r.extended_master_secret,
                                    lifetime,
                                )
                            });
                        }
                        b
                    });
                    // Nothing of the session stays here once the body exists.
                    self.conn.forget_keys();
                    return match body {
                        Some(body) => {
                            self.phase = OutboundPhase::Transferring;
                            OutboundStep::Complete(body)
                        }
                        None => OutboundStep::Failed(
                            "transfer_unavailable",
                            "the session cannot be expressed as a transfer".into(),
                        ),
                    };
                }
                Event::Closed(reason) => {
                    let (name, detail) = match &reason {
                        CloseReason::PeerAlert(a) => {
                            ("peer_alert", format!("the server sent {a:?}"))
                        }
                        CloseReason::LocalError(dtls::Error::InvalidCertificate(c)) => {
                            (c.as_str(), format!("server certificate refused: {c}"))
                        }
                        CloseReason::HandshakeTimeout
                        | CloseReason::LocalError(dtls::Error::HandshakeTimeout) => {
                            ("peer_timeout", "no answer from the server".into())
                        }
                        CloseReason::LocalError(e) => ("handshake", e.to_string()),
                        other => ("handshake", format!("{other:?}")),
                    };
                    return OutboundStep::Failed(name, detail);
                }
                Event::SignatureNeeded(r) => self.signature_request = Some(r),
                _ => {}
            }
        }
        if now >= self.deadline {
            self.conn.abort(dtls::AlertDescription::InternalError);
            return OutboundStep::Failed(
                "peer_timeout",
                "the handshake did not complete in time".into(),
            );
        }
        OutboundStep::Nothing
    }
}
