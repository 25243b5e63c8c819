//! The stateless front of every mote's Internet-side server: a ClientHello without a valid
//! cookie gets a HelloVerifyRequest (RFC 6347 section 4.2.1) and leaves no trace; only a
//! cookie'd hello may create a delegation (and only then does anything reach the mote).
//!
//! Mirrors `dtls::Endpoint`'s stateless path with dtls's own [`CookieSecrets`], but keyed by
//! the delegation flow (peer *and* mote: each mote has its own secrets, so a cookie earned
//! for one mote is worth nothing at another) and without creating the connection: the
//! orchestrator first checks the mote's availability.

use std::net::SocketAddr;
use std::time::Instant;

use dtls::codec::{Codec, Reader};
use dtls::handshake::cookie::CookieSecrets;
use dtls::handshake::msgs::{ClientHello, HandshakeFragment, HandshakeHeader, HandshakeType, HelloVerifyRequest};
use dtls::record::{ContentType, ProtocolVersion, RecordHeader, records};

/// A whole ClientHello at the start of a datagram, with the numbers a stateless server
/// echoes and continues.
#[derive(Debug, Clone)]
pub struct FirstHello {
    pub hello: ClientHello,
    pub record_seq: u64,
    pub message_seq: u16,
    pub record_version: ProtocolVersion,
}

/// Why a datagram was not a ClientHello we could answer statelessly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotHello {
    Malformed,
    NotClientHello,
}

impl NotHello {
    pub fn as_str(&self) -> &'static str {
        match self {
            NotHello::Malformed => "malformed_hello",
            NotHello::NotClientHello => "not_client_hello",
        }
    }
}

pub fn first_hello(datagram: &[u8]) -> Result<FirstHello, NotHello> {
    let rec = records(datagram).next().ok_or(NotHello::Malformed)?.map_err(|_| NotHello::Malformed)?;
    if rec.content_type() != ContentType::Handshake || rec.epoch() != 0 || !rec.version().is_dtls() {
        return Err(NotHello::NotClientHello);
    }
    let frag = HandshakeFragment::read(&mut Reader::new(rec.fragment())).map_err(|_| NotHello::Malformed)?;
    let h = frag.header;
    if h.msg_type != HandshakeType::ClientHello {
        return Err(NotHello::NotClientHello);
    }
    // Stateless: no reassembly, the hello must come whole.
    if h.fragment_offset != 0 || h.fragment_length != h.length {
        return Err(NotHello::Malformed);
    }
    let hello = ClientHello::read_bytes(frag.body).map_err(|_| NotHello::Malformed)?;
    Ok(FirstHello { hello, record_seq: rec.sequence_number(), message_seq: h.message_seq, record_version: rec.version() })
}

/// One mote's cookie secrets.
#[derive(Debug)]
pub struct CookieGate {
    secrets: CookieSecrets,
}

/// What the gate says about a ClientHello.
#[derive(Debug)]
pub enum GateVerdict {
    /// No (valid) cookie: send this HelloVerifyRequest, keep nothing.
    Verify(Vec<u8>),
    /// Cookie valid: the hello may start a delegation.
    Admit(FirstHello),
}

impl CookieGate {
    pub fn new(rotation: std::time::Duration) -> Result<Self, dtls::Error> {
        Ok(CookieGate { secrets: CookieSecrets::new(rotation)? })
    }

    pub fn check(&mut self, now: Instant, peer: SocketAddr, first: FirstHello) -> GateVerdict {
        // A failed rotation (no randomness) keeps the current secret: still safe.
        let _ = self.secrets.maybe_rotate(now);
        if self.secrets.verify(&peer, &first.hello) {
            GateVerdict::Admit(first)
        } else {
            GateVerdict::Verify(self.hello_verify_request(&peer, &first))
        }
    }

    /// RFC 6347 section 4.2.1: the hello's record sequence number and message_seq, server
    /// version DTLS 1.0 in the body.
    fn hello_verify_request(&self, peer: &SocketAddr, first: &FirstHello) -> Vec<u8> {
        let hvr = HelloVerifyRequest { server_version: ProtocolVersion::DTLS1_0, cookie: self.secrets.cookie(peer, &first.hello) };
        let body = hvr.get_encoding();
        let mut hs = Vec::with_capacity(HandshakeHeader::LEN + body.len());
        HandshakeHeader {
            msg_type: HandshakeType::HelloVerifyRequest,
            length: body.len() as u32,
            message_seq: first.message_seq,
            fragment_offset: 0,
            fragment_length: body.len() as u32,
        }
        .encode(&mut hs);
        hs.extend_from_slice(&body);
        let version = if first.record_version == ProtocolVersion::DTLS1_2 { ProtocolVersion::DTLS1_2 } else { ProtocolVersion::DTLS1_0 };
        let mut out = Vec::new();
        RecordHeader { content_type: ContentType::Handshake, version, epoch: 0, sequence_number: first.record_seq }.emit(&hs, &mut out);
        out
    }
}
