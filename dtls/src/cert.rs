//! Certificates: our own chain and key, and validation of the peer's chain (the Certificate
//! Analysis Module's first job): path to a configured trust anchor with rustls-webpki and a
//! P-256/SHA-256 verifier (`crypto::ecc`, ring), validity dates, extended key usage for the peer's role,
//! revocation against configured CRLs (RFC 5280, webpki's checks: the CRL signed by the
//! certificate's issuer, every certificate of the path), and KeyUsage (which webpki does not
//! check) with x509-cert. Raw public keys (RFC 7250):
//! [`CertificateType`], a P-256 SubjectPublicKeyInfo's encoding and its SHA-256 pin
//! ([`RawKeyTrust`]).

use std::sync::Arc;
use std::time::SystemTime;

use p256::ecdsa::VerifyingKey;
use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
    UnixTime, alg_id,
};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::KeyUsage;

use crate::crypto::ecc::{self, SigningKey};
use crate::error::{CertificateError, Error};
use crate::provider::{SystemClock, TimeProvider};

/// Bytes of a peer chain we are willing to validate.
pub const MAX_CHAIN_BYTES: usize = 12 * 1024;

/// ECDSA P-256 with SHA-256, for webpki's path validation: the same backend
/// ([`ecc::verify`]) as the handshake's signatures.
#[derive(Debug)]
struct EcdsaP256Sha256;

impl SignatureVerificationAlgorithm for EcdsaP256Sha256 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ecc::verify(public_key, message, signature).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P256
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA256
    }
}

static SUPPORTED: &[&dyn SignatureVerificationAlgorithm] = &[&EcdsaP256Sha256];

/// Our certificate chain (DER, leaf first) and who signs with the leaf's key.
pub struct CertifiedKey {
    pub chain: Vec<Vec<u8>>,
    pub key: CertificateKey,
}

/// Who makes the signatures of a certificate's key.
pub enum CertificateKey {
    /// The private key is here: the engine signs in place.
    Local(Box<SigningKey>),
    /// Only the public key (SEC1 uncompressed) is here; the holder of the private key signs
    /// elsewhere (a mote whose key never leaves it). A handshake that needs the signature
    /// pauses with [`Event::SignatureNeeded`](crate::Event::SignatureNeeded) until
    /// [`Connection::provide_signature`](crate::Connection::provide_signature).
    External { public_key: Vec<u8> },
}

impl CertificateKey {
    /// SEC1 uncompressed public key.
    pub fn public_key(&self) -> &[u8] {
        match self {
            CertificateKey::Local(k) => k.public_key(),
            CertificateKey::External { public_key } => public_key,
        }
    }

    /// Whether a private key is held here.
    pub fn is_local(&self) -> bool {
        matches!(self, CertificateKey::Local(_))
    }
}

impl std::fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertificateKey::Local(_) => f.write_str("CertificateKey::Local(<redacted>)"),
            CertificateKey::External { .. } => f.write_str("CertificateKey::External"),
        }
    }
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl CertifiedKey {
    /// A key presented only as a raw public key (RFC 7250): no chain.
    pub fn raw_public_key(key: SigningKey) -> Self {
        CertifiedKey {
            chain: Vec::new(),
            key: CertificateKey::Local(Box::new(key)),
        }
    }

    /// A chain (PEM, leaf first) whose private key is held elsewhere: the leaf's P-256 key
    /// is what the external signer's signatures are checked against.
    pub fn external(chain_pem: &str) -> Result<Self, Error> {
        let chain = Self::chain_from_pem(chain_pem)?;
        let leaf = chain
            .first()
            .ok_or(Error::Config("empty certificate chain"))?;
        let public_key = leaf_public_key(leaf)
            .map_err(|_| Error::Config("leaf certificate without a usable P-256 signing key"))?;
        Ok(CertifiedKey {
            chain,
            key: CertificateKey::External { public_key },
        })
    }

    /// A raw public key (RFC 7250; SEC1 uncompressed P-256 point) whose private key is held
    /// elsewhere.
    pub fn external_raw_public_key(public_key: &[u8]) -> Result<Self, Error> {
        VerifyingKey::from_sec1_bytes(public_key)
            .map_err(|_| Error::Config("not a P-256 public key"))?;
        Ok(CertifiedKey {
            chain: Vec::new(),
            key: CertificateKey::External {
                public_key: public_key.to_vec(),
            },
        })
    }

    fn chain_from_pem(chain_pem: &str) -> Result<Vec<Vec<u8>>, Error> {
        let certs = Certificate::load_pem_chain(chain_pem.as_bytes())
            .map_err(|_| Error::Config("certificate PEM"))?;
        let chain = certs
            .iter()
            .map(|c| c.to_der())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::Config("certificate DER"))?;
        if chain.is_empty() {
            return Err(Error::Config("empty certificate chain"));
        }
        Ok(chain)
    }

    /// Our key's DER SubjectPublicKeyInfo, what a raw-public-key Certificate carries.
    pub fn spki(&self) -> Vec<u8> {
        p256_spki(self.key.public_key())
    }

    /// Whether an X.509 chain can be presented (a raw-key-only identity has none).
    pub fn has_chain(&self) -> bool {
        !self.chain.is_empty()
    }

    /// From a PEM chain (leaf first) and a PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY").
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Self, Error> {
        let chain = Self::chain_from_pem(chain_pem)?;
        let key = SigningKey::from_pem(key_pem)?;
        Ok(CertifiedKey {
            chain,
            key: CertificateKey::Local(Box::new(key)),
        })
    }
}

/// Which role the peer's certificate must be good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    Client,
    Server,
}

/// Trust anchors and a wall clock for validity checks. The clock is the one thing read
/// here that is not passed in per call: certificate validity is about calendar time, which
/// the sans-IO `Instant` does not carry. It is a [`TimeProvider`]: the system clock by
/// default, a fixed time with [`with_clock`](Self::with_clock).
#[derive(Clone)]
pub struct ChainVerifier {
    anchors: Vec<CertificateDer<'static>>,
    /// When non-empty, every certificate of a path is checked against these, and one whose
    /// issuer has no CRL here is refused (`RevocationUnknown`).
    crls: Arc<Vec<webpki::CertRevocationList<'static>>>,
    crl_ders: Vec<Vec<u8>>,
    clock: Arc<dyn TimeProvider>,
}

impl std::fmt::Debug for ChainVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainVerifier")
            .field("anchors", &self.anchors.len())
            .field("crls", &self.crls.len())
            .finish_non_exhaustive()
    }
}

impl ChainVerifier {
    pub fn new(anchors_der: Vec<Vec<u8>>) -> Result<Self, Error> {
        let anchors: Vec<_> = anchors_der.into_iter().map(CertificateDer::from).collect();
        for a in &anchors {
            webpki::anchor_from_trusted_cert(a)
                .map_err(|_| Error::Config("trust anchor does not parse"))?;
        }
        if anchors.is_empty() {
            return Err(Error::Config("no trust anchors"));
        }
        Ok(ChainVerifier {
            anchors,
            crls: Arc::new(Vec::new()),
            crl_ders: Vec::new(),
            clock: Arc::new(SystemClock),
        })
    }

    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let certs = Certificate::load_pem_chain(pem.as_bytes())
            .map_err(|_| Error::Config("trust anchor PEM"))?;
        Self::new(
            certs
                .iter()
                .map(|c| c.to_der())
                .collect::<Result<_, _>>()
                .map_err(|_| Error::Config("trust anchor DER"))?,
        )
    }

    /// Adds certificate revocation lists (DER, X.509 v2 CRLs with nextUpdate, as webpki
    /// takes them). With any CRL configured, each certificate of a path must be covered by
    /// a CRL of its issuer and not listed in it; a CRL past its nextUpdate still counts
    /// (an operator who cannot refresh it should not lock every client out).
    pub fn with_crls(mut self, crls_der: &[Vec<u8>]) -> Result<Self, Error> {
        self.crl_ders.extend(crls_der.iter().cloned());
        let crls = self
            .crl_ders
            .iter()
            .map(|der| webpki::OwnedCertRevocationList::from_der(der).map(Into::into))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                Error::Config("CRL does not parse (X.509 v2 CRL with nextUpdate expected)")
            })?;
        self.crls = Arc::new(crls);
        Ok(self)
    }

    /// CRLs from PEM text (one or more `X509 CRL` blocks) or a single DER CRL.
    pub fn with_crl_file(self, bytes: &[u8]) -> Result<Self, Error> {
        let ders = if bytes.starts_with(b"-----") || bytes.iter().take(64).all(|b| b.is_ascii()) {
            crl_pem_blocks(bytes)?
        } else {
            vec![bytes.to_vec()]
        };
        if ders.is_empty() {
            return Err(Error::Config("no X509 CRL block in the CRL file"));
        }
        self.with_crls(&ders)
    }

    /// How many CRLs are configured.
    pub fn crl_count(&self) -> usize {
        self.crls.len()
    }

    /// Validate at the time `clock` gives instead of the system clock's (tests, replays;
    /// a closure `|| SystemTime` will do).
    pub fn with_clock(mut self, clock: Arc<dyn TimeProvider>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates `chain` (leaf first) and returns the leaf's SEC1 P-256 public key.
    pub fn verify(&self, chain: &[Vec<u8>], role: PeerRole) -> Result<Vec<u8>, CertificateError> {
        self.verify_named(chain, role, None)
    }

    /// Like [`verify`](Self::verify), and when `name` is given, the leaf must also be valid
    /// for it (a DNS name or an IP address, RFC 6125 as webpki applies it: subjectAltName).
    pub fn verify_named(
        &self,
        chain: &[Vec<u8>],
        role: PeerRole,
        name: Option<&str>,
    ) -> Result<Vec<u8>, CertificateError> {
        let (leaf, rest) = chain.split_first().ok_or(CertificateError::BadEncoding)?;
        if chain.iter().map(Vec::len).sum::<usize>() > MAX_CHAIN_BYTES {
            return Err(CertificateError::ChainTooLong);
        }
        let anchors: Vec<_> = self
            .anchors
            .iter()
            .filter_map(|a| webpki::anchor_from_trusted_cert(a).ok())
            .collect();
        let leaf_der = CertificateDer::from(leaf.as_slice());
        let ee = webpki::EndEntityCert::try_from(&leaf_der)
            .map_err(|_| CertificateError::BadEncoding)?;
        let intermediates: Vec<CertificateDer<'_>> = rest
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let now = self
            .clock
            .current_time()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| CertificateError::Other("clock before 1970".into()))?;
        let usage = match role {
            PeerRole::Client => webpki::KeyUsage::client_auth(),
            PeerRole::Server => webpki::KeyUsage::server_auth(),
        };
        let crl_refs: Vec<&webpki::CertRevocationList<'_>> = self.crls.iter().collect();
        let revocation = webpki::RevocationOptionsBuilder::new(&crl_refs)
            .ok()
            .map(|b| {
                b.with_depth(webpki::RevocationCheckDepth::Chain)
                    .with_status_policy(webpki::UnknownStatusPolicy::Deny)
                    .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
                    .build()
            });
        ee.verify_for_usage(
            SUPPORTED,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(now),
            usage,
            revocation,
            None,
        )
        .map_err(map_webpki)?;
        if let Some(name) = name {
            let name = rustls_pki_types::ServerName::try_from(name)
                .map_err(|_| CertificateError::NameMismatch)?;
            ee.verify_is_valid_for_subject_name(&name)
                .map_err(|_| CertificateError::NameMismatch)?;
        }
        leaf_public_key(leaf)
    }
}

/// Whether `name` can be checked against a certificate ([`ChainVerifier::verify_named`]):
/// a DNS name or an IP address.
pub fn is_valid_server_name(name: &str) -> bool {
    rustls_pki_types::ServerName::try_from(name).is_ok()
}

fn map_webpki(e: webpki::Error) -> CertificateError {
    use webpki::Error as W;
    match e {
        W::CertExpired { .. } => CertificateError::Expired,
        W::CertNotValidYet { .. } => CertificateError::NotValidYet,
        W::UnknownIssuer => CertificateError::UnknownIssuer,
        W::InvalidSignatureForPublicKey
        | W::UnsupportedSignatureAlgorithmContext(_)
        | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | W::SignatureAlgorithmMismatch => CertificateError::BadSignature,
        W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => CertificateError::InvalidPurpose,
        W::CertRevoked => CertificateError::Revoked,
        W::UnknownRevocationStatus => CertificateError::RevocationUnknown,
        W::BadDer | W::BadDerTime | W::TrailingData(_) | W::MalformedExtensions => {
            CertificateError::BadEncoding
        }
        other => CertificateError::Other(format!("{other:?}")),
    }
}

/// The DER of each `X509 CRL` PEM block.
fn crl_pem_blocks(text: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    const BEGIN: &str = "-----BEGIN X509 CRL-----";
    const END: &str = "-----END X509 CRL-----";
    let text =
        std::str::from_utf8(text).map_err(|_| Error::Config("CRL file is neither PEM nor DER"))?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let end = rest[start..]
            .find(END)
            .ok_or(Error::Config("CRL PEM block not closed"))?
            + start
            + END.len();
        let (label, der) = x509_cert::der::pem::decode_vec(&rest.as_bytes()[start..end])
            .map_err(|_| Error::Config("CRL PEM does not decode"))?;
        if label != "X509 CRL" {
            return Err(Error::Config("CRL PEM block has another label"));
        }
        out.push(der);
        rest = &rest[end..];
    }
    Ok(out)
}

/// The leaf's P-256 key, after checking that KeyUsage (when present) allows signatures.
fn leaf_public_key(leaf: &[u8]) -> Result<Vec<u8>, CertificateError> {
    let cert = Certificate::from_der(leaf).map_err(|_| CertificateError::BadEncoding)?;
    let tbs = cert.tbs_certificate();
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.digital_signature() => {
            return Err(CertificateError::KeyUsageForbidsSignature);
        }
        Ok(_) => {}
        Err(_) => return Err(CertificateError::BadEncoding),
    }
    let spki = tbs.subject_public_key_info();
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or(CertificateError::BadEncoding)?;
    VerifyingKey::from_sec1_bytes(key).map_err(|_| CertificateError::UnsupportedKey)?;
    Ok(key.to_vec())
}

/// What a Certificate message carries (RFC 7250 section 3): an X.509 chain or a bare
/// SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateType {
    X509,
    RawPublicKey,
}

impl CertificateType {
    /// The code point of the client_certificate_type and server_certificate_type
    /// extensions (TLS Certificate Types registry).
    pub fn code(self) -> u8 {
        match self {
            CertificateType::X509 => 0,
            CertificateType::RawPublicKey => 2,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(CertificateType::X509),
            2 => Some(CertificateType::RawPublicKey),
            _ => None,
        }
    }

    /// `x509` or `raw-public-key`, as configurations spell it.
    pub fn name(self) -> &'static str {
        match self {
            CertificateType::X509 => "x509",
            CertificateType::RawPublicKey => "raw-public-key",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [CertificateType::X509, CertificateType::RawPublicKey]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// Which raw public keys of the peer a connection accepts. Nothing vouches for a raw key
/// but its owner's possession of the private key, so a key is known only by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawKeyTrust {
    /// Only keys whose SHA-256 of the DER SubjectPublicKeyInfo is listed.
    Pinned(Vec<[u8; 32]>),
    /// Any well-formed P-256 key: the application authorizes the key afterwards by
    /// [`Connection::peer_raw_public_key`](crate::Connection::peer_raw_public_key) (the
    /// IoTSSP's Authorization Module decides before anything reaches the mote).
    AuthorizedLater,
}

/// The DER SubjectPublicKeyInfo prefix of every P-256 key (id-ecPublicKey, prime256v1,
/// BIT STRING of 66 bytes); the 65-byte SEC1 uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The DER SubjectPublicKeyInfo of a SEC1 uncompressed P-256 public key.
pub fn p256_spki(sec1: &[u8]) -> Vec<u8> {
    [&P256_SPKI_PREFIX[..], sec1].concat()
}

/// The SEC1 point of a P-256 SubjectPublicKeyInfo (DER has one encoding of it); any
/// other key type or encoding is refused.
pub fn p256_from_spki(spki: &[u8]) -> Result<Vec<u8>, CertificateError> {
    let point = spki
        .strip_prefix(&P256_SPKI_PREFIX[..])
        .ok_or(CertificateError::UnsupportedKey)?;
    if point.len() != 65 || point[0] != 4 {
        return Err(CertificateError::UnsupportedKey);
    }
    VerifyingKey::from_sec1_bytes(point).map_err(|_| CertificateError::UnsupportedKey)?;
    Ok(point.to_vec())
}

/// SHA-256 of a DER SubjectPublicKeyInfo: how policies name a raw public key.
pub fn spki_sha256(spki: &[u8]) -> [u8; 32] {
    ecc::sha256(&[spki])
}

impl RawKeyTrust {
    /// Checks a peer's raw key (DER SubjectPublicKeyInfo) and returns its SEC1 point.
    pub fn verify(&self, spki: &[u8]) -> Result<Vec<u8>, CertificateError> {
        let point = p256_from_spki(spki)?;
        match self {
            RawKeyTrust::AuthorizedLater => Ok(point),
            RawKeyTrust::Pinned(pins) if pins.contains(&spki_sha256(spki)) => Ok(point),
            RawKeyTrust::Pinned(_) => Err(CertificateError::UnknownRawPublicKey),
        }
    }
}

/// How a connection authenticates the peer's Certificate message, by the type the hellos
/// settled.
#[derive(Debug, Clone)]
pub(crate) enum PeerAuth {
    Chain(ChainVerifier),
    RawKey(RawKeyTrust),
}

/// What a validated peer Certificate message gave: the SEC1 key that signs, and the
/// chain or the raw key to keep for the application.
pub(crate) struct PeerCredential {
    pub key: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
    pub raw_key: Option<Vec<u8>>,
}

impl PeerAuth {
    /// Validates a Certificate message body. `Ok(None)`: the peer sent an empty chain
    /// (a client without a certificate).
    /// `name`: what an X.509 chain must be valid for (see [`ChainVerifier::verify_named`]);
    /// a raw key has no name, its pin stands for it.
    pub(crate) fn verify(
        &self,
        body: &[u8],
        role: PeerRole,
        name: Option<&str>,
    ) -> Result<Option<PeerCredential>, Error> {
        use crate::codec::Codec;
        use crate::handshake::msgs::{CertificateMsg, RawPublicKeyMsg};
        match self {
            PeerAuth::Chain(verifier) => {
                let cert = CertificateMsg::read_bytes(body)?;
                if cert.chain.is_empty() {
                    return Ok(None);
                }
                let key = verifier.verify_named(&cert.chain, role, name)?;
                Ok(Some(PeerCredential {
                    key,
                    chain: cert.chain,
                    raw_key: None,
                }))
            }
            PeerAuth::RawKey(trust) => {
                let raw = RawPublicKeyMsg::read_bytes(body)?;
                let key = trust.verify(&raw.spki)?;
                Ok(Some(PeerCredential {
                    key,
                    chain: Vec::new(),
                    raw_key: Some(raw.spki),
                }))
            }
        }
    }
}

/// Our Certificate message body for the type the hellos settled.
pub(crate) fn certificate_body(ck: &CertifiedKey, typ: CertificateType) -> Vec<u8> {
    use crate::codec::Codec;
    use crate::handshake::msgs::{CertificateMsg, RawPublicKeyMsg};
    match typ {
        CertificateType::X509 => CertificateMsg {
            chain: ck.chain.clone(),
        }
        .get_encoding(),
        CertificateType::RawPublicKey => RawPublicKeyMsg { spki: ck.spki() }.get_encoding(),
    }
}
