//! Certificates: our own chain and key, and validation of the peer's chain (the Certificate
//! Analysis Module's first job): path to a configured trust anchor with rustls-webpki and a
//! P-256/SHA-256 verifier (`crypto::ecc`, ring), validity dates, extended key usage for the peer's role, and
//! KeyUsage (which webpki does not check) with x509-cert.

use std::sync::Arc;
use std::time::SystemTime;

use p256::ecdsa::VerifyingKey;
use rustls_pki_types::{alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm, UnixTime};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::KeyUsage;
use x509_cert::Certificate;

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
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
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

/// Our certificate chain (DER, leaf first) and the leaf's private key.
pub struct CertifiedKey {
    pub chain: Vec<Vec<u8>>,
    pub key: SigningKey,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey").field("chain_len", &self.chain.len()).finish_non_exhaustive()
    }
}

impl CertifiedKey {
    /// From a PEM chain (leaf first) and a PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY").
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Self, Error> {
        let certs = Certificate::load_pem_chain(chain_pem.as_bytes()).map_err(|_| Error::Config("certificate PEM"))?;
        let chain = certs.iter().map(|c| c.to_der()).collect::<Result<Vec<_>, _>>().map_err(|_| Error::Config("certificate DER"))?;
        if chain.is_empty() {
            return Err(Error::Config("empty certificate chain"));
        }
        let key = SigningKey::from_pem(key_pem)?;
        Ok(CertifiedKey { chain, key })
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
    clock: Arc<dyn TimeProvider>,
}

impl std::fmt::Debug for ChainVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainVerifier").field("anchors", &self.anchors.len()).finish_non_exhaustive()
    }
}

impl ChainVerifier {
    pub fn new(anchors_der: Vec<Vec<u8>>) -> Result<Self, Error> {
        let anchors: Vec<_> = anchors_der.into_iter().map(CertificateDer::from).collect();
        for a in &anchors {
            webpki::anchor_from_trusted_cert(a).map_err(|_| Error::Config("trust anchor does not parse"))?;
        }
        if anchors.is_empty() {
            return Err(Error::Config("no trust anchors"));
        }
        Ok(ChainVerifier { anchors, clock: Arc::new(SystemClock) })
    }

    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        let certs = Certificate::load_pem_chain(pem.as_bytes()).map_err(|_| Error::Config("trust anchor PEM"))?;
        Self::new(certs.iter().map(|c| c.to_der()).collect::<Result<_, _>>().map_err(|_| Error::Config("trust anchor DER"))?)
    }

    /// Validate at the time `clock` gives instead of the system clock's (tests, replays;
    /// a closure `|| SystemTime` will do).
    pub fn with_clock(mut self, clock: Arc<dyn TimeProvider>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates `chain` (leaf first) and returns the leaf's SEC1 P-256 public key.
    pub fn verify(&self, chain: &[Vec<u8>], role: PeerRole) -> Result<Vec<u8>, CertificateError> {
        let (leaf, rest) = chain.split_first().ok_or(CertificateError::BadEncoding)?;
        if chain.iter().map(Vec::len).sum::<usize>() > MAX_CHAIN_BYTES {
            return Err(CertificateError::ChainTooLong);
        }
        let anchors: Vec<_> = self.anchors.iter().filter_map(|a| webpki::anchor_from_trusted_cert(a).ok()).collect();
        let leaf_der = CertificateDer::from(leaf.as_slice());
        let ee = webpki::EndEntityCert::try_from(&leaf_der).map_err(|_| CertificateError::BadEncoding)?;
        let intermediates: Vec<CertificateDer<'_>> = rest.iter().map(|c| CertificateDer::from(c.as_slice())).collect();
        let now = self.clock.current_time().duration_since(SystemTime::UNIX_EPOCH).map_err(|_| CertificateError::Other("clock before 1970".into()))?;
        let usage = match role {
            PeerRole::Client => webpki::KeyUsage::client_auth(),
            PeerRole::Server => webpki::KeyUsage::server_auth(),
        };
        ee.verify_for_usage(SUPPORTED, &anchors, &intermediates, UnixTime::since_unix_epoch(now), usage, None, None)
            .map_err(map_webpki)?;
        leaf_public_key(leaf)
    }
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
        W::BadDer | W::BadDerTime | W::TrailingData(_) | W::MalformedExtensions => CertificateError::BadEncoding,
        other => CertificateError::Other(format!("{other:?}")),
    }
}

/// The leaf's P-256 key, after checking that KeyUsage (when present) allows signatures.
fn leaf_public_key(leaf: &[u8]) -> Result<Vec<u8>, CertificateError> {
    let cert = Certificate::from_der(leaf).map_err(|_| CertificateError::BadEncoding)?;
    let tbs = cert.tbs_certificate();
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.digital_signature() => return Err(CertificateError::KeyUsageForbidsSignature),
        Ok(_) => {}
        Err(_) => return Err(CertificateError::BadEncoding),
    }
    let spki = tbs.subject_public_key_info();
    let key = spki.subject_public_key.as_bytes().ok_or(CertificateError::BadEncoding)?;
    VerifyingKey::from_sec1_bytes(key).map_err(|_| CertificateError::UnsupportedKey)?;
    Ok(key.to_vec())
}
