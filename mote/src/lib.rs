//! The mote's side of a delegated DTLS session, as a library firmware can link
//! (docs/session-transfer.md). An IoTSSP runs the certificate handshake with an Internet client in
//! the mote's name and transfers the session's keys over the standing association
//! (docs/mote-association.md); the mote then runs nothing but the DTLS 1.2 record layer of
//! that session. [`DelegatedMote`] holds:
//!
//! - the association machine ([`mote_assoc::MoteAssoc`]): one Transfer in, one Confirm out
//!   per delegation;
//! - `SLOTS` session slots ([`Sessions`]) with idle expiry, each the record layer of one
//!   transferred session in a suite the IoTSSP may negotiate (AES-128-CCM-8,
//!   AES-128-CCM, AES-128-GCM, ChaCha20-Poly1305: a `suite-*` feature each, CCM-8 by
//!   default, so that a firmware carries only those its IoTSSP uses), its replay window,
//!   alerts and close_notify;
//! - a receive queue (plaintext application data for the firmware) and a transmit queue
//!   (records), `BUF` bytes each ([`SessionLayer`], usable alone by a device that gets its
//!   sessions another way);
//! - with the `resumption` feature, a cache of sessions the mote may resume itself
//!   ([`ResumptionCache`]): a client that comes back with a transferred session's id gets
//!   the abbreviated handshake (RFC 5246 7.3) from the mote, SHA-256 and AEAD only;
//! - outbound delegation: [`DelegatedMote::connect`] asks the IoTSSP for a session with a
//!   server, the mote as client, and [`Reporter`] schedules the Connects and the reports of
//!   a mote that reports to one server;
//! - keyless delegation: an IoTSSP that holds only the mote's certificate asks for each
//!   handshake signature ([`MoteEvent::SignRequested`]); the platform's [`EcdsaP256Sign`]
//!   (e.g. the CC2538 PKA) makes it with the mote's own key
//!   ([`DelegatedMote::answer_sign_request`]).
//!
//! It must run on a mote: `no_std`, no heap, no `unsafe`, no panic on any input, no clock
//! or socket of its own (datagrams and time in, datagrams and timers out). The platform
//! supplies AES-128 (a radio chip's engine can be plugged in), P-256 ECDH and randomness
//! through [`mote_assoc::crypto`]'s traits; software versions sit behind the `soft-aes` and
//! `soft-ecc` features. Every key is wiped when its session ends or is replaced.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod layer;
mod mote;
pub mod protection;
mod queue;
mod report;
#[cfg(feature = "resumption")]
pub mod resume;
#[cfg(feature = "resumption")]
pub mod resume_client;
pub mod sessions;

pub use layer::{QueueStats, Received, SessionLayer};
pub use mote::{Config, DelegatedMote, DeviceStats, EcdsaP256Sign, Transmit};
pub use mote_assoc::crypto::{Aes128Block, EcdhP256, Random};
pub use mote_assoc::keys::Credentials;
pub use mote_assoc::wire::ConnectFailure;
pub use mote_assoc::wire::{ConfirmStatus, SignPurpose, SignStatus, Suite, SuiteSet};
pub use mote_assoc::{ConnectError, Instant, MoteEvent, MoteStats, SignatureRequest};
pub use report::{ReportAction, Reporter};
#[cfg(feature = "resumption")]
pub use resume::{ResumptionCache, ResumptionStats};
#[cfg(feature = "resumption")]
pub use resume_client::{OutboundOutcome, OutboundResumption, OutboundResumptionStats, StartError};
pub use sessions::{SendError, SessionStats, Sessions};

/// The UDP port of the association with the IoTSSP.
pub const ASSOCIATION_PORT: u16 = 5685;
/// The UDP port of the transferred sessions (CoAP over DTLS).
pub const SESSION_PORT: u16 = 5684;

/// An IPv6 address and UDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Address {
    pub addr: [u8; 16],
    pub port: u16,
}

/// Which of the mote's two sockets a datagram came in on or goes out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalPort {
    /// The association with the IoTSSP ([`ASSOCIATION_PORT`]).
    Association,
    /// The transferred sessions ([`SESSION_PORT`]).
    Session,
}

#[cfg(test)]
mod tests;
