//! P-256 ECDHE and ECDSA-SHA256 as TLS 1.2 uses them: SEC1 uncompressed points, DER
//! signatures over SHA-256 digests.

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, ecdh::EphemeralSecret};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, InvalidMessage, PeerMisbehaved};

/// Our ephemeral ECDHE key for one handshake (zeroized on drop by p256).
pub struct EcdheKey {
    secret: EphemeralSecret,
    public: [u8; 65],
}

impl EcdheKey {
    pub fn generate() -> Result<Self, Error> {
        let secret = EphemeralSecret::try_generate().map_err(|_| Error::Internal("rng"))?;
        let point = secret.public_key().to_sec1_point(false);
        let public: [u8; 65] = point.as_bytes().try_into().map_err(|_| Error::Internal("sec1"))?;
        Ok(EcdheKey { secret, public })
    }

    /// SEC1 uncompressed point (0x04 || x || y).
    pub fn public(&self) -> &[u8; 65] {
        &self.public
    }

    /// The premaster secret: the x coordinate of the shared point (RFC 4492 section 5.10).
    pub fn agree(&self, peer_point: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        if peer_point.first() != Some(&4) {
            return Err(InvalidMessage::InvalidEcPoint.into());
        }
        let peer = PublicKey::from_sec1_bytes(peer_point).map_err(|_| InvalidMessage::InvalidEcPoint)?;
        let shared = self.secret.diffie_hellman(&peer);
        Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
    }
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// DER ECDSA signature over a SHA-256 digest.
pub fn sign_digest(key: &SigningKey, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
    let sig: p256::ecdsa::Signature = key.sign_prehash(digest).map_err(|_| Error::Internal("ecdsa sign"))?;
    let der: DerSignature = sig.to_der();
    Ok(der.as_bytes().to_vec())
}

/// Verifies a DER ECDSA-P256 signature over a SHA-256 digest. `public` is SEC1.
pub fn verify_digest(public: &[u8], digest: &[u8; 32], der: &[u8]) -> Result<(), Error> {
    let key = VerifyingKey::from_sec1_bytes(public).map_err(|_| PeerMisbehaved::BadSignature)?;
    let sig = p256::ecdsa::Signature::from_der(der).map_err(|_| PeerMisbehaved::BadSignature)?;
    key.verify_prehash(digest, &sig).map_err(|_| PeerMisbehaved::BadSignature.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdhe_agrees_and_rejects_bad_points() {
        let a = EcdheKey::generate().unwrap();
        let b = EcdheKey::generate().unwrap();
        assert_eq!(*a.agree(b.public()).unwrap(), *b.agree(a.public()).unwrap());
        assert!(a.agree(&[4; 65]).is_err());
        assert!(a.agree(&[]).is_err());
        assert!(a.agree(&b.public()[..33]).is_err());
    }

    #[test]
    fn sign_verify() {
        let k = SigningKey::try_generate().unwrap();
        let pk = k.verifying_key().to_sec1_point(false);
        let d = sha256(&[b"msg"]);
        let sig = sign_digest(&k, &d).unwrap();
        verify_digest(pk.as_bytes(), &d, &sig).unwrap();
        let d2 = sha256(&[b"other"]);
        assert!(verify_digest(pk.as_bytes(), &d2, &sig).is_err());
    }
}
