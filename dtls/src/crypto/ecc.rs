//! P-256 ECDHE and ECDSA-SHA256 as TLS 1.2 uses them: SEC1 uncompressed points, DER
//! signatures over SHA-256. The only module that knows the backend: `ring` (BoringSSL's
//! constant-time P-256 assembly), about 5-10x faster here than RustCrypto's `p256`, which
//! is still used to *parse* PEM/SEC1 private keys.
//!
//! ring hashes inside sign and verify, so callers pass the signed *message* (for
//! CertificateVerify: the handshake messages so far), never a digest.
//!
//! ring draws ephemeral keys and signature nonces from the OS RNG itself (its random
//! source is sealed): the one randomness of the engine that a
//! [`SecureRandom`](crate::provider::SecureRandom) does not replace.

use ring::agreement;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, InvalidMessage, PeerMisbehaved};

/// An ECDSA P-256 private key with its public key (our certificate's key).
pub struct SigningKey {
    pair: EcdsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey { <redacted> }")
    }
}

impl SigningKey {
    /// From PKCS#8 DER (with the public key, as OpenSSL and `generate` write it).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            der,
            &SystemRandom::new(),
        )
        .map_err(|_| Error::Config("private key is not a P-256 PKCS#8 key"))?;
        Ok(SigningKey { pair })
    }

    /// From a PEM private key, PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY").
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
        let secret = p256::SecretKey::from_pkcs8_pem(pem)
            .or_else(|_| p256::SecretKey::from_sec1_pem(pem))
            .map_err(|_| Error::Config("private key PEM (P-256 PKCS#8 or SEC1)"))?;
        // Re-encoded so that the public key is present, which ring requires.
        let der = secret
            .to_pkcs8_der()
            .map_err(|_| Error::Config("private key re-encoding"))?;
        Self::from_pkcs8_der(der.as_bytes())
    }

    /// A fresh key (tests, benchmarks).
    pub fn generate() -> Result<Self, Error> {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| Error::Internal("rng"))?;
        Self::from_pkcs8_der(der.as_ref())
    }

    /// SEC1 uncompressed public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// DER ECDSA signature over SHA-256(`message`).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), message)
            .map_err(|_| Error::Internal("ecdsa sign"))?;
        Ok(sig.as_ref().to_vec())
    }
}

/// Verifies a DER ECDSA-P256 signature over SHA-256(`message`). `public` is SEC1.
pub fn verify(public: &[u8], message: &[u8], der: &[u8]) -> Result<(), Error> {
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, public)
        .verify(message, der)
        .map_err(|_| PeerMisbehaved::BadSignature.into())
}

/// An ECDSA P-256 signature given as `r || s` (32 bytes each, big-endian, as an external
/// signer such as a mote returns it) in the DER form TLS carries.
pub fn der_from_raw_signature(raw: &[u8; 64]) -> Result<Vec<u8>, Error> {
    let sig = p256::ecdsa::Signature::from_slice(raw)
        .map_err(|_| Error::Internal("external signature is not a P-256 signature"))?;
    Ok(sig.to_der().as_bytes().to_vec())
}

/// Our ephemeral ECDHE key for one handshake (ring wipes it when it is used or dropped).
pub struct EcdheKey {
    secret: agreement::EphemeralPrivateKey,
    public: [u8; 65],
}

impl EcdheKey {
    pub fn generate() -> Result<Self, Error> {
        let secret =
            agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &SystemRandom::new())
                .map_err(|_| Error::Internal("rng"))?;
        let point = secret
            .compute_public_key()
            .map_err(|_| Error::Internal("ecdh public key"))?;
        let public: [u8; 65] = point
            .as_ref()
            .try_into()
            .map_err(|_| Error::Internal("sec1"))?;
        Ok(EcdheKey { secret, public })
    }

    /// SEC1 uncompressed point (0x04 || x || y).
    pub fn public(&self) -> &[u8; 65] {
        &self.public
    }

    /// The premaster secret: the x coordinate of the shared point (RFC 4492 section 5.10).
    /// The peer's point must be uncompressed and on the curve. Consumes the key (ephemeral).
    pub fn agree(self, peer_point: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        if peer_point.len() != 65 || peer_point.first() != Some(&4) {
            return Err(InvalidMessage::InvalidEcPoint.into());
        }
        let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, peer_point);
        agreement::agree_ephemeral(self.secret, &peer, |shared| Zeroizing::new(shared.to_vec()))
            .map_err(|_| InvalidMessage::InvalidEcPoint.into())
    }
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn ecdhe_agrees_and_rejects_bad_points() {
        let (a, b) = (EcdheKey::generate().unwrap(), EcdheKey::generate().unwrap());
        let (pa, pb) = (*a.public(), *b.public());
        assert_eq!(*a.agree(&pb).unwrap(), *b.agree(&pa).unwrap());
        assert!(EcdheKey::generate().unwrap().agree(&[4; 65]).is_err());
        assert!(EcdheKey::generate().unwrap().agree(&[]).is_err());
        assert!(EcdheKey::generate().unwrap().agree(&pb[..33]).is_err());
    }

    /// Agreement matches an independent implementation (RustCrypto p256).
    #[test]
    fn ecdh_matches_p256() {
        use p256::elliptic_curve::Generate;
        use p256::elliptic_curve::sec1::ToSec1Point;
        let theirs = p256::ecdh::EphemeralSecret::try_generate().unwrap();
        let their_pub = theirs.public_key().to_sec1_point(false);
        let ours = EcdheKey::generate().unwrap();
        let our_pub = p256::PublicKey::from_sec1_bytes(ours.public()).unwrap();
        let expected = theirs.diffie_hellman(&our_pub);
        assert_eq!(
            &ours.agree(their_pub.as_bytes()).unwrap()[..],
            &expected.raw_secret_bytes()[..]
        );
    }

    #[test]
    fn sign_verify_and_cross_check_with_p256() {
        let k = SigningKey::generate().unwrap();
        let sig = k.sign(b"msg").unwrap();
        verify(k.public_key(), b"msg", &sig).unwrap();
        assert!(verify(k.public_key(), b"other", &sig).is_err());
        assert!(verify(&k.public_key()[..64], b"msg", &sig).is_err());
        // Our signature verifies with p256 and p256's with ours.
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(k.public_key()).unwrap();
        vk.verify(b"msg", &p256::ecdsa::Signature::from_der(&sig).unwrap())
            .unwrap();
        use p256::ecdsa::signature::Signer;
        use p256::elliptic_curve::Generate;
        let theirs = p256::ecdsa::SigningKey::try_generate().unwrap();
        let s: p256::ecdsa::Signature = theirs.sign(b"msg");
        verify(
            theirs.verifying_key().to_sec1_point(false).as_bytes(),
            b"msg",
            s.to_der().as_bytes(),
        )
        .unwrap();
    }

    #[test]
    fn sec1_and_pkcs8_pem_keys_load() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
        for f in ["server.key", "client.key", "client2.key"] {
            let pem = std::fs::read_to_string(format!("{dir}{f}")).unwrap();
            let k = SigningKey::from_pem(&pem).unwrap();
            verify(k.public_key(), b"m", &k.sign(b"m").unwrap()).unwrap();
        }
        assert!(SigningKey::from_pem("not a key").is_err());
    }
}
