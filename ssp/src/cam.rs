//! Certificate Analysis Module: the Internet client's chain is validated against the
//! configured trust anchors (dtls's [`ChainVerifier`]: path, signatures, validity dates,
//! clientAuth EKU, KeyUsage), rejections are counted by reason, and the identity the
//! Authorization Module decides on is read from the validated leaf.
//!
//! The validation itself runs inside the Internet-side dtls server connection (its
//! `client_auth` is [`Cam::verifier`]), so that a bad chain gets the alert RFC 5246 names for
//! it (certificate_expired, unknown_ca, unsupported_certificate...) at the right point of
//! the handshake; the HEM reports each rejection here with [`Cam::record_rejection`].

use std::collections::BTreeMap;

use dtls::CertificateError;
use dtls::cert::{ChainVerifier, PeerRole};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// Who the client is, as far as authorization is concerned: every name its validated leaf
/// certificate gives it, or only the hash of the raw public key (RFC 7250) it proved it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Subject commonName, if any.
    pub common_name: Option<String>,
    /// subjectAltName dNSName entries.
    pub dns_names: Vec<String>,
    /// subjectAltName URI entries.
    pub uris: Vec<String>,
    /// SHA-256 of the leaf's DER SubjectPublicKeyInfo (an HPKP-style pin): names the key,
    /// whatever certificate carries it.
    pub spki_sha256: [u8; 32],
    /// The client authenticated with a raw public key: no CA vouches for it, so only a
    /// rule naming its key may let it in.
    pub raw_public_key: bool,
}

impl ClientIdentity {
    /// From a leaf certificate (DER) that was already validated.
    pub fn from_leaf(leaf_der: &[u8]) -> Result<Self, CertificateError> {
        let cert = Certificate::from_der(leaf_der).map_err(|_| CertificateError::BadEncoding)?;
        let tbs = cert.tbs_certificate();
        let common_name = tbs
            .subject()
            .common_name()
            .map_err(|_| CertificateError::BadEncoding)?
            .map(|s| s.value().into_owned());
        let mut dns_names = Vec::new();
        let mut uris = Vec::new();
        match tbs.get_extension::<SubjectAltName>() {
            Ok(Some((_, san))) => {
                for name in san.0.iter() {
                    match name {
                        GeneralName::DnsName(s) => dns_names.push(s.to_string()),
                        GeneralName::UniformResourceIdentifier(s) => uris.push(s.to_string()),
                        _ => {}
                    }
                }
            }
            Ok(None) => {}
            Err(_) => return Err(CertificateError::BadEncoding),
        }
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|_| CertificateError::BadEncoding)?;
        Ok(ClientIdentity {
            common_name,
            dns_names,
            uris,
            spki_sha256: Sha256::digest(&spki).into(),
            raw_public_key: false,
        })
    }

    /// A client that authenticated with this raw public key (DER SubjectPublicKeyInfo).
    pub fn from_raw_key(spki: &[u8]) -> Self {
        ClientIdentity {
            common_name: None,
            dns_names: Vec::new(),
            uris: Vec::new(),
            spki_sha256: Sha256::digest(spki).into(),
            raw_public_key: true,
        }
    }

    /// Lowercase hex of the SPKI hash, as written in the policy.
    pub fn spki_hex(&self) -> String {
        self.spki_sha256
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl std::fmt::Display for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.common_name {
            _ if self.raw_public_key => write!(f, "rpk-sha256:{}", self.spki_hex()),
            Some(cn) => write!(f, "CN={cn}"),
            None => write!(f, "spki-sha256:{}", self.spki_hex()),
        }
    }
}

/// Trust anchors and rejection counters.
#[derive(Debug, Clone)]
pub struct Cam {
    verifier: ChainVerifier,
    accepted: u64,
    rejected: BTreeMap<&'static str, u64>,
}

impl Cam {
    pub fn new(verifier: ChainVerifier) -> Self {
        Cam {
            verifier,
            accepted: 0,
            rejected: BTreeMap::new(),
        }
    }

    /// The verifier to install as the Internet-side server's `client_auth`.
    pub fn verifier(&self) -> ChainVerifier {
        self.verifier.clone()
    }

    /// Validates a chain (leaf first) for client authentication and returns the identity.
    /// Counts the outcome.
    pub fn analyse(&mut self, chain: &[Vec<u8>]) -> Result<ClientIdentity, CertificateError> {
        let result = self.verifier.verify(chain, PeerRole::Client).and_then(|_| {
            let leaf = chain.first().ok_or(CertificateError::BadEncoding)?;
            ClientIdentity::from_leaf(leaf)
        });
        match &result {
            Ok(_) => self.accepted += 1,
            Err(e) => self.record_rejection(e),
        }
        result
    }

    /// The identity of a chain the dtls connection already validated.
    pub fn identity_of_validated(
        &mut self,
        chain: &[Vec<u8>],
    ) -> Result<ClientIdentity, CertificateError> {
        let leaf = chain.first().ok_or(CertificateError::BadEncoding)?;
        let id = ClientIdentity::from_leaf(leaf);
        match &id {
            Ok(_) => self.accepted += 1,
            Err(e) => self.record_rejection(e),
        }
        id
    }

    /// A chain the dtls connection refused.
    pub fn record_rejection(&mut self, e: &CertificateError) {
        *self.rejected.entry(e.as_str()).or_default() += 1;
    }

    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Rejections by stable reason name (`cert_expired`, `cert_unknown_issuer`,
    /// `cert_invalid_purpose`...).
    pub fn rejections(&self) -> &BTreeMap<&'static str, u64> {
        &self.rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(name: &str) -> Vec<Vec<u8>> {
        let pem = std::fs::read_to_string(format!(
            "{}/../dtls/tests/data/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        Certificate::load_pem_chain(pem.as_bytes())
            .unwrap()
            .iter()
            .map(|c| c.to_der().unwrap())
            .collect()
    }

    fn cam() -> Cam {
        let pem = std::fs::read_to_string(format!(
            "{}/../dtls/tests/data/ca.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        Cam::new(ChainVerifier::from_pem(&pem).unwrap())
    }

    #[test]
    fn identity_and_reasons() {
        let mut cam = cam();
        let id = cam.analyse(&der("client.pem")).unwrap();
        assert_eq!(id.common_name.as_deref(), Some("client.example"));
        assert_eq!(id.spki_hex().len(), 64);
        let id2 = cam.analyse(&der("client2-chain.pem")).unwrap();
        assert_eq!(id2.common_name.as_deref(), Some("client2.example"));
        let server = ClientIdentity::from_leaf(&der("server.pem")[0]).unwrap();
        assert_eq!(server.dns_names, vec!["mote.example".to_string()]);
        assert_eq!(
            cam.analyse(&der("rogue.pem")),
            Err(CertificateError::UnknownIssuer)
        );
        assert_eq!(
            cam.analyse(&der("wrongeku.pem")),
            Err(CertificateError::InvalidPurpose)
        );
        assert_eq!(cam.analyse(&[]), Err(CertificateError::BadEncoding));
        assert_eq!(cam.accepted(), 2);
        assert_eq!(cam.rejections().get("cert_unknown_issuer"), Some(&1));
        assert_eq!(cam.rejections().get("cert_invalid_purpose"), Some(&1));
    }
}
