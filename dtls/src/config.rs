//! Typed configuration of the server and client roles, with defaults and validation.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::alert::AlertDescription;
use crate::cert::{CertificateType, CertifiedKey, ChainVerifier, RawKeyTrust};
use crate::error::Error;
use crate::handshake::flight::RetransmitConfig;
use crate::handshake::fragment::ReassemblyLimits;
use crate::handshake::msgs::*;
use crate::provider::{OsRandom, SecureRandom};
use crate::record::RecordAead;

/// The suites this engine speaks. All use the SHA-256 PRF and an AEAD ([`RecordAead`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// TLS_PSK_WITH_AES_128_CCM_8 (0xC0A8).
    PskAes128Ccm8,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (0xC0AE).
    EcdheEcdsaAes128Ccm8,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM (0xC0AC), 16-byte tag.
    EcdheEcdsaAes128Ccm,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xC02B).
    EcdheEcdsaAes128Gcm,
    /// TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 (0xCCA9).
    EcdheEcdsaChacha20Poly1305,
}

impl CipherSuite {
    /// Every suite, PSK first.
    pub const ALL: [CipherSuite; 5] = [
        CipherSuite::PskAes128Ccm8,
        CipherSuite::EcdheEcdsaAes128Ccm8,
        CipherSuite::EcdheEcdsaAes128Ccm,
        CipherSuite::EcdheEcdsaAes128Gcm,
        CipherSuite::EcdheEcdsaChacha20Poly1305,
    ];

    /// The ECDHE_ECDSA suites in the order that costs a mote with an AES-CCM radio chip
    /// least: CCM-8 (smallest records), CCM, GCM, ChaCha20-Poly1305 (software only).
    pub const ECDHE_ECDSA: [CipherSuite; 4] = [
        CipherSuite::EcdheEcdsaAes128Ccm8,
        CipherSuite::EcdheEcdsaAes128Ccm,
        CipherSuite::EcdheEcdsaAes128Gcm,
        CipherSuite::EcdheEcdsaChacha20Poly1305,
    ];

    pub fn id(self) -> u16 {
        match self {
            CipherSuite::PskAes128Ccm8 => TLS_PSK_WITH_AES_128_CCM_8,
            CipherSuite::EcdheEcdsaAes128Ccm8 => TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
            CipherSuite::EcdheEcdsaAes128Ccm => TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
            CipherSuite::EcdheEcdsaAes128Gcm => TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::EcdheEcdsaChacha20Poly1305 => {
                TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            }
        }
    }

    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The IANA name, for logs and configuration.
    pub fn name(self) -> &'static str {
        match self {
            CipherSuite::PskAes128Ccm8 => "TLS_PSK_WITH_AES_128_CCM_8",
            CipherSuite::EcdheEcdsaAes128Ccm8 => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
            CipherSuite::EcdheEcdsaAes128Ccm => "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
            CipherSuite::EcdheEcdsaAes128Gcm => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            CipherSuite::EcdheEcdsaChacha20Poly1305 => {
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            }
        }
    }

    /// Parses the IANA name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    pub fn is_psk(self) -> bool {
        self == CipherSuite::PskAes128Ccm8
    }

    pub fn is_ecdhe_ecdsa(self) -> bool {
        !self.is_psk()
    }

    /// The AEAD that protects the suite's records.
    pub fn aead(self) -> RecordAead {
        match self {
            CipherSuite::PskAes128Ccm8 | CipherSuite::EcdheEcdsaAes128Ccm8 => {
                RecordAead::Aes128Ccm8
            }
            CipherSuite::EcdheEcdsaAes128Ccm => RecordAead::Aes128Ccm,
            CipherSuite::EcdheEcdsaAes128Gcm => RecordAead::Aes128Gcm,
            CipherSuite::EcdheEcdsaChacha20Poly1305 => RecordAead::Chacha20Poly1305,
        }
    }
}

impl std::fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:04X})", self.name(), self.id())
    }
}

/// Looks up the PSK for an identity (server side).
pub trait PskResolver: Send + Sync {
    fn psk(&self, identity: &[u8]) -> Option<Zeroizing<Vec<u8>>>;
}

/// A fixed identity -> key table; keys are wiped when the table is dropped.
#[derive(Default)]
pub struct PskTable(HashMap<Vec<u8>, Zeroizing<Vec<u8>>>);

impl PskTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, identity: &[u8], key: &[u8]) {
        self.0
            .insert(identity.to_vec(), Zeroizing::new(key.to_vec()));
    }
}

impl PskResolver for PskTable {
    fn psk(&self, identity: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.0.get(identity).cloned()
    }
}

/// Hello extensions the engine negotiates itself; an application may neither send nor
/// answer these through the extension hooks.
pub const ENGINE_EXTENSIONS: &[u16] = &[
    ext::SUPPORTED_GROUPS,
    ext::EC_POINT_FORMATS,
    ext::SIGNATURE_ALGORITHMS,
    ext::EXTENDED_MASTER_SECRET,
    ext::RENEGOTIATION_INFO,
    ext::CLIENT_CERTIFICATE_TYPE,
    ext::SERVER_CERTIFICATE_TYPE,
];

/// What a [`HelloExtensionHandler`] sees of a (cookie-verified) ClientHello.
#[derive(Debug, Clone, Copy)]
pub struct ClientHelloInfo<'a> {
    pub remote: SocketAddr,
    /// The suite the server chose.
    pub cipher_suite: CipherSuite,
    /// Every extension of the hello, in order, unknown ones included.
    pub extensions: &'a [Extension],
}

/// Server-side hook on hello extensions (e.g. the mote's SessionTransferTicket). Called
/// only for ClientHellos that carried a valid cookie.
pub trait HelloExtensionHandler: Send + Sync {
    /// Returns the extensions to add to the ServerHello, or the alert that refuses the
    /// handshake. Only types the client offered and that the engine does not negotiate
    /// itself ([`ENGINE_EXTENSIONS`]) are sent; others are dropped (RFC 5246 7.4.1.4).
    fn client_hello(&self, hello: &ClientHelloInfo<'_>)
    -> Result<Vec<Extension>, AlertDescription>;

    /// PSK suites: the client's identity, known only at its ClientKeyExchange (after our
    /// ServerHello went out), with the extensions we answered. An error refuses the
    /// handshake with that alert (e.g. an STT accepted for an identity that is not the
    /// mote's IoTSSP).
    fn psk_identity(
        &self,
        remote: SocketAddr,
        identity: &[u8],
        answered: &[Extension],
    ) -> Result<(), AlertDescription> {
        let _ = (remote, identity, answered);
        Ok(())
    }
}

/// Settings both roles share: path MTU, retransmission, reassembly bounds.
#[derive(Debug, Clone, Copy)]
pub struct TransportConfig {
    /// Largest datagram we send (DTLS records and handshake fragments are cut to fit).
    pub mtu: usize,
    pub retransmit: RetransmitConfig,
    pub reassembly: ReassemblyLimits,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            mtu: 1200,
            retransmit: RetransmitConfig::default(),
            reassembly: ReassemblyLimits::default(),
        }
    }
}

impl TransportConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.mtu < 100 {
            return Err(Error::Config("mtu below 100 bytes"));
        }
        if self.retransmit.initial.is_zero() || self.retransmit.max < self.retransmit.initial {
            return Err(Error::Config("retransmit: initial must be > 0 and <= max"));
        }
        Ok(())
    }
}

/// The server role.
#[derive(Clone)]
pub struct ServerConfig {
    /// In order of our preference.
    pub cipher_suites: Vec<CipherSuite>,
    pub psk: Option<Arc<dyn PskResolver>>,
    pub psk_identity_hint: Option<Vec<u8>>,
    pub certificate: Option<Arc<CertifiedKey>>,
    /// What we present for `certificate`, in our order of preference: the first the client
    /// lists in its server_certificate_type extension (RFC 7250); a client without that
    /// extension gets X.509 if it is listed here, else handshake_failure. Default: X.509.
    pub certificate_types: Vec<CertificateType>,
    /// When set, a client certificate is required and validated against these anchors.
    pub client_auth: Option<ChainVerifier>,
    /// When set, clients may authenticate with a raw public key (RFC 7250; a client
    /// authentication is then always required): the first type of the client's
    /// client_certificate_type list that we accept is used, and a client that does not
    /// list raw keys needs `client_auth`, else handshake_failure.
    pub client_raw_public_keys: Option<RawKeyTrust>,
    /// Stop after the client's Finished is verified (event `ClientFinishedVerified`) until
    /// `Connection::resume_final_flight`: the hook for handing the session to a mote.
    pub pause_after_client_finished: bool,
    /// Give each full handshake a session id ([`SESSION_ID_LEN`] random bytes) in the
    /// ServerHello, so that a client may come back for an abbreviated handshake (RFC 5246
    /// 7.3); the session's master secret is then kept after the handshake for
    /// [`Connection::resumption_secret`](crate::Connection::resumption_secret), for the
    /// application to hand to whoever will resume it. This server itself keeps no session
    /// cache: a ClientHello that names a session gets a full handshake and a new id.
    /// Default: off (an empty session id).
    pub issue_session_ids: bool,
    /// Sees the ClientHello's extensions and chooses the ServerHello's (or refuses).
    pub hello_extensions: Option<Arc<dyn HelloExtensionHandler>>,
    pub transport: TransportConfig,
    pub cookie_rotation: Duration,
    /// Connections an [`Endpoint`](crate::Endpoint) holds at once. When the table is full,
    /// a new cookie'd ClientHello may start a handshake while an established connection
    /// idle for at least `evict_idle_after` is left for it; the least recently used such
    /// connection gives way once the new client has authenticated. A client that cannot
    /// be served gets an internal_error alert.
    pub max_connections: usize,
    /// Established connections without an authenticated record for this long are closed
    /// (a client that left without close_notify must not hold a slot). `None`: never.
    pub idle_timeout: Option<Duration>,
    /// How long an established connection must have been idle before a new client may
    /// take its place in a full table.
    pub evict_idle_after: Duration,
    /// Server randoms and (in an [`Endpoint`](crate::Endpoint)) cookie secrets. The OS RNG
    /// by default; a [`SeededRandom`](crate::provider::SeededRandom) replays exactly.
    pub rng: Arc<dyn SecureRandom>,
}

/// The length of the session ids a server with [`ServerConfig::issue_session_ids`] issues:
/// 128 random bits name a session among all of a server's, and every byte of the id crosses
/// a mote's radio (in the session's transfer and in each resumed ServerHello) and sits in
/// its session cache.
pub const SESSION_ID_LEN: usize = 16;

/// Default [`ServerConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default [`ServerConfig::evict_idle_after`].
pub const DEFAULT_EVICT_IDLE_AFTER: Duration = Duration::from_secs(30);

impl ServerConfig {
    pub fn psk(resolver: Arc<dyn PskResolver>) -> Self {
        ServerConfig {
            cipher_suites: vec![CipherSuite::PskAes128Ccm8],
            psk: Some(resolver),
            psk_identity_hint: None,
            certificate: None,
            certificate_types: vec![CertificateType::X509],
            client_auth: None,
            client_raw_public_keys: None,
            pause_after_client_finished: false,
            issue_session_ids: false,
            hello_extensions: None,
            transport: TransportConfig::default(),
            cookie_rotation: Duration::from_secs(300),
            max_connections: 1024,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            evict_idle_after: DEFAULT_EVICT_IDLE_AFTER,
            rng: OsRandom::shared(),
        }
    }

    pub fn ecdhe(certificate: Arc<CertifiedKey>, client_auth: Option<ChainVerifier>) -> Self {
        ServerConfig {
            cipher_suites: CipherSuite::ECDHE_ECDSA.to_vec(),
            certificate: Some(certificate),
            client_auth,
            psk: None,
            ..Self::psk(Arc::new(PskTable::new()))
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        self.transport.validate()?;
        if self.cipher_suites.is_empty() {
            return Err(Error::Config("no cipher suites"));
        }
        for s in &self.cipher_suites {
            if s.is_psk() && self.psk.is_none() {
                return Err(Error::Config("PSK suite without PSK resolver"));
            }
            if s.is_ecdhe_ecdsa() && self.certificate.is_none() {
                return Err(Error::Config("ECDHE_ECDSA suite without certificate"));
            }
        }
        if self.certificate_types.is_empty() {
            return Err(Error::Config("no certificate type to present"));
        }
        if self.certificate_types.contains(&CertificateType::X509)
            && self.certificate.as_ref().is_some_and(|c| !c.has_chain())
        {
            return Err(Error::Config(
                "X.509 certificate type without a certificate chain",
            ));
        }
        Ok(())
    }
}

/// A PSK the client offers.
pub struct ClientPsk {
    pub identity: Vec<u8>,
    pub key: Zeroizing<Vec<u8>>,
}

/// The client role.
#[derive(Clone)]
pub struct ClientConfig {
    pub cipher_suites: Vec<CipherSuite>,
    pub psk: Option<Arc<ClientPsk>>,
    /// Sent when the server asks for a certificate.
    pub certificate: Option<Arc<CertifiedKey>>,
    /// What we may present for `certificate`, in our order of preference; anything but
    /// X.509 alone is offered in a client_certificate_type extension (RFC 7250).
    pub certificate_types: Vec<CertificateType>,
    /// Validates the server's chain (the ECDHE_ECDSA suites need this or
    /// `server_raw_public_keys`).
    pub server_verifier: Option<ChainVerifier>,
    /// The name (DNS name or IP address) the server's certificate must be valid for,
    /// checked with its chain; `None`: any name the anchors vouch for.
    pub server_name: Option<String>,
    /// When set, the server may present a raw public key (offered first in a
    /// server_certificate_type extension, X.509 after it when `server_verifier` is set).
    pub server_raw_public_keys: Option<RawKeyTrust>,
    pub offer_extended_master_secret: bool,
    /// Sent in the ClientHello after the engine's own extensions (at most one of each type,
    /// none of [`ENGINE_EXTENSIONS`]). The server may answer exactly these types; its
    /// answer comes as [`Event::ServerHelloExtensions`](crate::Event::ServerHelloExtensions).
    pub extra_client_hello_extensions: Vec<Extension>,
    /// Keep the session id the server's ServerHello gave (an empty one: the server will not
    /// resume) and, once the server's Finished is verified, the master secret with it, for
    /// [`Connection::resumption_secret`](crate::Connection::resumption_secret): whoever the
    /// session goes to may resume it with the server (RFC 5246 7.3). Off by default: the
    /// master secret is wiped at the end of the handshake.
    pub keep_resumption_secret: bool,
    pub transport: TransportConfig,
    /// Client randoms. The OS RNG by default.
    pub rng: Arc<dyn SecureRandom>,
}

impl ClientConfig {
    pub fn psk(identity: &[u8], key: &[u8]) -> Self {
        ClientConfig {
            cipher_suites: vec![CipherSuite::PskAes128Ccm8],
            psk: Some(Arc::new(ClientPsk {
                identity: identity.to_vec(),
                key: Zeroizing::new(key.to_vec()),
            })),
            certificate: None,
            certificate_types: vec![CertificateType::X509],
            server_verifier: None,
            server_name: None,
            server_raw_public_keys: None,
            offer_extended_master_secret: true,
            extra_client_hello_extensions: Vec::new(),
            keep_resumption_secret: false,
            transport: TransportConfig::default(),
            rng: OsRandom::shared(),
        }
    }

    pub fn ecdhe(server_verifier: ChainVerifier, certificate: Option<Arc<CertifiedKey>>) -> Self {
        ClientConfig {
            cipher_suites: CipherSuite::ECDHE_ECDSA.to_vec(),
            psk: None,
            certificate,
            certificate_types: vec![CertificateType::X509],
            server_verifier: Some(server_verifier),
            server_name: None,
            server_raw_public_keys: None,
            offer_extended_master_secret: true,
            extra_client_hello_extensions: Vec::new(),
            keep_resumption_secret: false,
            transport: TransportConfig::default(),
            rng: OsRandom::shared(),
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        self.transport.validate()?;
        if self.cipher_suites.is_empty() {
            return Err(Error::Config("no cipher suites"));
        }
        for s in &self.cipher_suites {
            if s.is_psk() && self.psk.is_none() {
                return Err(Error::Config("PSK suite without PSK"));
            }
            if s.is_ecdhe_ecdsa()
                && self.server_verifier.is_none()
                && self.server_raw_public_keys.is_none()
            {
                return Err(Error::Config("ECDHE_ECDSA suite without server verifier"));
            }
        }
        if self.certificate_types.is_empty() {
            return Err(Error::Config("no certificate type to present"));
        }
        let extra = &self.extra_client_hello_extensions;
        for (i, e) in extra.iter().enumerate() {
            if ENGINE_EXTENSIONS.contains(&e.typ) || extra[..i].iter().any(|o| o.typ == e.typ) {
                return Err(Error::Config(
                    "extra ClientHello extension duplicates one already sent",
                ));
            }
            if e.data.len() > 4096 {
                return Err(Error::Config(
                    "extra ClientHello extension longer than 4096 bytes",
                ));
            }
        }
        Ok(())
    }
}
