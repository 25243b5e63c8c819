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

use dtls::endpoint::StatelessDrop;
use dtls::handshake::cookie::CookieSecrets;

pub use dtls::endpoint::FirstHello;

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

/// The ClientHello that opens `datagram`, parsed exactly as `dtls::Endpoint`'s stateless
/// path does (no reassembly: the hello must come whole).
pub fn first_hello(datagram: &[u8]) -> Result<FirstHello, NotHello> {
    dtls::endpoint::first_hello(datagram).map_err(|drop| match drop {
        StatelessDrop::Malformed => NotHello::Malformed,
        StatelessDrop::NotClientHello
        | StatelessDrop::NoServerConfig
        | StatelessDrop::TooManyConnections => NotHello::NotClientHello,
    })
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
    pub fn new(
        rotation: std::time::Duration,
        rng: std::sync::Arc<dyn dtls::provider::SecureRandom>,
    ) -> Result<Self, dtls::Error> {
        Ok(CookieGate {
            secrets: CookieSecrets::new(rotation, rng)?,
        })
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

    fn hello_verify_request(&self, peer: &SocketAddr, first: &FirstHello) -> Vec<u8> {
        dtls::endpoint::hello_verify_request(&self.secrets, peer, first)
    }
}
