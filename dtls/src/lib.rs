//! A sans-IO DTLS 1.2 engine (RFC 6347) for TLS_PSK_WITH_AES_128_CCM_8 and the
//! ECDHE_ECDSA suites with AES_128_CCM_8, AES_128_CCM, AES_128_GCM_SHA256 and
//! CHACHA20_POLY1305_SHA256 ([`CipherSuite`]; a server picks by its own order of
//! preference), built so that a session negotiated by one host (the IoTSSP) can be
//! continued by another (the mote).
//!
//! It must never touch a socket or read a clock (datagrams and `Instant`s come in; datagrams,
//! events and deadlines go out), never panic or allocate without bound on peer input, and
//! never log or keep a secret longer than needed (keys, master and premaster secrets and
//! PSKs are zeroized).
//!
//! # Layout
//! - [`record`]: record protection with AES-128-CCM-8 and AES-128-CCM (RFC 6655), AES-128-GCM
//!   (RFC 5288) and ChaCha20-Poly1305 (RFC 7905) ([`record::RecordAead`]), and
//!   [`RecordLayer`], the per-connection epochs and counters; the 13-byte record header, every record of a datagram and the 64-entry replay
//!   window come from the `dtls-wire` crate (shared with the border router's HRM and the
//!   redirect protocol) and are re-exported there.
//! - [`crypto`]: TLS 1.2 PRF (P_SHA256), master secret and extended master secret (RFC 7627),
//!   key block, Finished; P-256 ECDHE/ECDSA (`crypto::ecc`, backed by ring).
//! - [`handshake`]: message codecs, fragmentation and bounded reassembly, flights and the
//!   retransmission timer, stateless cookies.
//! - [`cert`]: our chain and key; peer chain validation (rustls-webpki + a p256 verifier,
//!   validity, EKU; KeyUsage via x509-cert); signatures verified by `crypto::ecc` there too;
//!   raw public keys (RFC 7250): [`cert::CertificateType`], pinned or application-authorized
//!   peer keys ([`cert::RawKeyTrust`]).
//! - [`connection`]: one association ([`Connection`]); [`endpoint`]: demultiplexing and the
//!   stateless HelloVerifyRequest ([`Endpoint`]).
//! - [`provider`]: what comes from the environment: randomness ([`provider::SecureRandom`],
//!   the configs' `rng`: the OS by default, a seed in tests and simulations) and the calendar
//!   time for certificate validity ([`provider::TimeProvider`], the [`cert::ChainVerifier`]'s
//!   clock). The engine reads neither the OS RNG nor the system clock itself, except that
//!   ring draws ECDHE keys and ECDSA nonces from the OS.
//!
//! # The handshake as typed states
//! A [`Connection`] is one state value plus what every state uses (record layer,
//! reassembler, our flight and its retransmission timer, the outputs). Each handshake
//! state is its own type that owns exactly the data it needs, and its `handle` consumes it
//! and returns the next state (rustls's `Expect*` states):
//! - server (`connection/server.rs`): `ExpectClientHello` (the configuration) ->
//!   `ExpectCertificate` (ECDHE with client authentication: our ephemeral key and the
//!   verifier) -> `ExpectClientKx` (PSK resolver, or ephemeral key and the client's key) ->
//!   `ExpectCertificateVerify` (when the client sent a certificate) -> `ExpectCcs` ->
//!   `ExpectFinished` -> `Paused` (final flight sealed and held for the session transfer)
//!   or `Established`;
//! - client (`connection/client.rs`): `ExpectServerHello` (the hello it resends with a
//!   cookie) -> for ECDHE-ECDSA `ExpectServerCertificate` -> `ExpectServerKx` ->
//!   `ExpectCertificateRequest`, for PSK `ExpectPskKx` -> `ExpectServerHelloDone` ->
//!   `ExpectCcs` -> `ExpectFinished` -> `Established`.
//!
//! From the key exchange on, the states carry the master secret with the transcript; it is
//! zeroized when the Finished state is left. A state cannot exist without its secret, so
//! there is no "impossible state" check at run time. The ChangeCipherSpec is a record, not
//! a message: the record dispatch hands it to the `ExpectCcs` state. After the handshake
//! the keys live in the [`RecordLayer`]; `Paused`, `Established` and `Transferred` carry
//! only a server's sealed final flight, `Closed` nothing. [`Phase`] is the public summary of
//! where a connection is.
//!
//! # What a forger cannot do
//! Nothing unauthenticated moves state that authenticated records depend on: plaintext
//! (epoch-0) records have no replay window, so a forged sequence number refuses nothing;
//! once the peer writes protected records, epoch-0 alerts are ignored and counted
//! ([`Connection::unauthenticated_alerts`]); a protected record that fails its MAC is
//! dropped silently, the expected Finished included ([`Connection::finished_auth_failures`]),
//! and the handshake ends with bad_record_mac only when the retransmission timer gives up.
//! Before the peer's ChangeCipherSpec an epoch-0 fatal alert still ends the handshake: a real
//! peer refuses that way, and an attacker who can forge it to our 5-tuple can as well drop
//! the handshake's datagrams.
//!
//! # The endpoint's table
//! An [`Endpoint`] server holds at most `ServerConfig::max_connections`. Established
//! connections without an authenticated record for `idle_timeout` are closed (checked on
//! every datagram and timer call, so it needs no wake-up of its own). When the table is
//! full, a cookie'd ClientHello starts a handshake only while a connection idle for
//! `evict_idle_after` is left for it; that connection gives way only once the new client
//! has authenticated (its Finished verified), so a client that never does costs nobody
//! their session. A client that cannot be served is refused with an internal_error alert,
//! never silence.
//!
//! # Driving it
//! Feed `handle_datagram(now, remote, bytes)`; drain `poll_transmit()` and `poll_event()`;
//! sleep until `poll_timeout()` and then call `handle_timeout(now)`. Events are
//! [`Event::HandshakeComplete`], [`Event::ApplicationData`], [`Event::Closed`] and, for the
//! session transfer, [`Event::ClientFinishedVerified`]. A peer's close_notify is answered
//! with ours before [`Event::Closed`].
//!
//! # Session transfer (IoTSSP -> mote)
//! A server configured with `ServerConfig::pause_after_client_finished` stops once the
//! client's Finished is verified:
//! 1. the connection emits [`Event::ClientFinishedVerified`] and enters [`Phase::Paused`].
//!    Our ChangeCipherSpec + Finished are already *sealed* (epoch 1, sequence 0) but not sent;
//! 2. [`Connection::export_session`] returns a [`SessionState`]: the [`SessionKeys`]
//!    (the suite's AEAD, client/server write keys and IVs), our role, the read epoch with its replay
//!    state (the client's Finished already marked) and the write epoch with the next
//!    sequence number, i.e. the counters to continue from *after* the held-back flight;
//! 3. the caller transfers that state (the mote builds its own [`RecordLayer::from_session`])
//!    and, once the mote confirms, calls [`Connection::resume_final_flight`], which sends the
//!    sealed flight and completes the handshake;
//! 4. [`Connection::forget_keys`] wipes every key; the connection ([`Phase::Transferred`])
//!    keeps only the sealed final-flight bytes and resends those *identical* bytes if the
//!    client retransmits its flight, so no record sequence number is ever used twice under
//!    the transferred keys.
//!
//! Without the pause, the same path runs without stopping.
//!
//! The wire formats of the transfer itself (the SessionTransferTicket hello extension,
//! TransferSession, TransferConfirm and its key check) are in [`transfer`];
//! `TransferSessionRepr::from_session` / `session_state` convert to and from [`SessionState`].
//!
//! # Raw public keys (RFC 7250)
//! The client_certificate_type and server_certificate_type extensions are the engine's own
//! ([`config::ENGINE_EXTENSIONS`]). A server presents the first of
//! `ServerConfig::certificate_types` that the client lists (X.509 when the client sends no
//! list) and takes the client's first listed type it accepts (`client_auth` for X.509,
//! `client_raw_public_keys` for raw keys); nothing in common is handshake_failure. A raw
//! key's Certificate message is one DER SubjectPublicKeyInfo; a peer's comes out as
//! [`Connection::peer_raw_public_key`] and is named by its SHA-256
//! ([`cert::spki_sha256`]). A client offers raw keys with `ClientConfig::certificate_types`
//! and `ClientConfig::server_raw_public_keys`.
//!
//! # Keys held elsewhere
//! A [`cert::CertifiedKey`] whose key is [`cert::CertificateKey::External`] holds only the
//! public key: a handshake that needs its signature (the server's ServerKeyExchange, the
//! client's CertificateVerify) emits [`Event::SignatureNeeded`] with the SHA-256 digest to
//! sign and waits, sending and retransmitting nothing, until
//! [`Connection::provide_signature`] (checked against the certificate's key; one that does
//! not verify ends the handshake with internal_error) or [`Connection::abort`]. The caller
//! bounds the wait. Local keys sign in place, as before.
//!
//! # Hello extensions of the application
//! A client sends its own extensions with `ClientConfig::extra_client_hello_extensions`
//! and learns the server's answer from [`Event::ServerHelloExtensions`] (or
//! [`Connection::peer_hello_extensions`]); it may then [`Connection::abort`]. A server's
//! `ServerConfig::hello_extensions` ([`HelloExtensionHandler`]) sees every extension of a
//! cookie'd ClientHello, chooses which to answer in the ServerHello or refuses with an
//! alert, and sees the PSK identity once the ClientKeyExchange names it. Extensions nobody
//! handles are ignored, as before.

pub mod alert;
pub mod cert;
pub mod codec;
pub mod config;
pub mod connection;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod handshake;
pub mod provider;
pub mod record;
#[cfg(feature = "tokio")]
pub mod tokio_driver;
pub mod transfer;

pub use error::{CertificateError, Error, InvalidMessage, PeerMisbehaved};

/// Which end of the handshake we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}

pub use alert::AlertDescription;
pub use config::{
    CipherSuite, ClientConfig, ClientHelloInfo, HelloExtensionHandler, PskResolver, PskTable,
    ServerConfig, TransportConfig,
};
pub use connection::{
    CloseReason, Connection, Event, Phase, ResumptionSecret, SignaturePurpose, SignatureRequest,
    Transmit,
};
pub use endpoint::Endpoint;
pub use handshake::msgs::Extension;
pub use record::{RecordLayer, SessionKeys, SessionState};
