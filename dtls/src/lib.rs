//! A sans-IO DTLS 1.2 engine (RFC 6347) for TLS_PSK_WITH_AES_128_CCM_8 and
//! TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, built so that a session negotiated by one host (the
//! IoTSSP) can be continued by another (the mote).
//!
//! It must never touch a socket or read a clock (datagrams and `Instant`s come in; datagrams,
//! events and deadlines go out), never panic or allocate without bound on peer input, and
//! never log or keep a secret longer than needed (keys, master and premaster secrets and
//! PSKs are zeroized).

pub mod alert;
pub mod cert;
pub mod codec;
pub mod config;
pub mod connection;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod handshake;
pub mod record;

pub use error::{CertificateError, Error, InvalidMessage, PeerMisbehaved};

/// Which end of the handshake we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}

pub use config::{CipherSuite, ClientConfig, PskResolver, PskTable, ServerConfig, TransportConfig};
pub use connection::{CloseReason, Connection, Event, Phase, Transmit};
pub use endpoint::Endpoint;
pub use record::{RecordLayer, SessionKeys, SessionState};
