//! AES-128-CCM-8 record protection as RFC 6655 defines it for (D)TLS 1.2:
//! nonce = 4-byte implicit salt (client/server_write_IV) || 8-byte explicit nonce, and the
//! explicit nonce is carried in front of the ciphertext. We use epoch||seq as the explicit
//! nonce (RFC 6655 section 3 allows it; it is unique per key by construction).
//! AAD = epoch||seq (8) || type || version || plaintext length.

use aes::Aes128;
use ccm::aead::{AeadInOut, KeyInit};
use ccm::consts::{U12, U8};
use ccm::Ccm;

use super::{ContentType, ProtocolVersion};
use crate::error::Error;

type Aes128Ccm8 = Ccm<Aes128, U8, U12>;

/// Explicit nonce (8) + tag (8).
pub const CCM8_OVERHEAD: usize = 16;
const EXPLICIT_NONCE_LEN: usize = 8;
const TAG_LEN: usize = 8;

/// One direction's AES-128-CCM-8 key and salt. The expanded key schedule is zeroized on drop
/// (aes `zeroize` feature).
pub struct Ccm8 {
    aead: Aes128Ccm8,
    salt: [u8; 4],
}

impl Drop for Ccm8 {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.salt);
    }
}

impl std::fmt::Debug for Ccm8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ccm8 { .. }")
    }
}

fn aad(epoch: u16, seq: u64, ct: ContentType, version: ProtocolVersion, len: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[..8].copy_from_slice(&explicit_nonce(epoch, seq));
    a[8] = ct.into();
    a[9..11].copy_from_slice(&version.0.to_be_bytes());
    a[11..13].copy_from_slice(&(len as u16).to_be_bytes());
    a
}

fn explicit_nonce(epoch: u16, seq: u64) -> [u8; 8] {
    ((u64::from(epoch) << 48) | (seq & 0xffff_ffff_ffff)).to_be_bytes()
}

impl Ccm8 {
    pub fn new(key: &[u8; 16], salt: &[u8; 4]) -> Self {
        let aead = Aes128Ccm8::new(key.into());
        Ccm8 { aead, salt: *salt }
    }

    fn nonce(&self, explicit: &[u8]) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.salt);
        n[4..].copy_from_slice(explicit);
        n
    }

    /// Returns the record body: explicit nonce || ciphertext || tag.
    pub fn seal(&self, epoch: u16, seq: u64, ct: ContentType, version: ProtocolVersion, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let explicit = explicit_nonce(epoch, seq);
        let mut body = Vec::with_capacity(plaintext.len() + CCM8_OVERHEAD);
        body.extend_from_slice(&explicit);
        body.extend_from_slice(plaintext);
        let nonce = self.nonce(&explicit);
        let a = aad(epoch, seq, ct, version, plaintext.len());
        let tag = self
            .aead
            .encrypt_inout_detached((&nonce).into(), &a, (&mut body[EXPLICIT_NONCE_LEN..]).into())
            .map_err(|_| Error::Internal("ccm seal"))?;
        body.extend_from_slice(&tag);
        Ok(body)
    }

    /// Authenticates and decrypts a record body; the header fields come from the record.
    pub fn open(&self, epoch: u16, seq: u64, ct: ContentType, version: ProtocolVersion, body: &[u8]) -> Result<Vec<u8>, Error> {
        if body.len() < CCM8_OVERHEAD {
            return Err(Error::DecryptFailed);
        }
        let (explicit, rest) = body.split_at(EXPLICIT_NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce = self.nonce(explicit);
        let a = aad(epoch, seq, ct, version, ciphertext.len());
        let mut plain = ciphertext.to_vec();
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::DecryptFailed)?;
        self.aead
            .decrypt_inout_detached((&nonce).into(), &a, (&mut plain[..]).into(), (&tag).into())
            .map_err(|_| Error::DecryptFailed)?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let c = Ccm8::new(&[7; 16], &[1, 2, 3, 4]);
        let v = ProtocolVersion::DTLS1_2;
        let body = c.seal(1, 42, ContentType::ApplicationData, v, b"hello").unwrap();
        assert_eq!(body.len(), 5 + CCM8_OVERHEAD);
        assert_eq!(&body[..8], &[0, 1, 0, 0, 0, 0, 0, 42]);
        assert_eq!(c.open(1, 42, ContentType::ApplicationData, v, &body).unwrap(), b"hello");
        // Any change to the header fields bound by the AAD fails.
        assert!(c.open(1, 43, ContentType::ApplicationData, v, &body).is_err());
        assert!(c.open(1, 42, ContentType::Handshake, v, &body).is_err());
        let mut t = body.clone();
        t[9] ^= 1;
        assert_eq!(c.open(1, 42, ContentType::ApplicationData, v, &t), Err(Error::DecryptFailed));
        assert!(c.open(1, 42, ContentType::ApplicationData, v, &body[..10]).is_err());
    }

    /// NIST SP 800-38C appendix C, example 3: 12-byte nonce, 8-byte tag: the exact
    /// parameters of RFC 6655's CCM-8.
    #[test]
    fn ccm8_nist_example_3() {
        let key: [u8; 16] = core::array::from_fn(|i| 0x40 + i as u8);
        let nonce: [u8; 12] = core::array::from_fn(|i| 0x10 + i as u8);
        let aad: [u8; 20] = core::array::from_fn(|i| i as u8);
        let mut buf: [u8; 24] = core::array::from_fn(|i| 0x20 + i as u8);
        let aead = Aes128Ccm8::new((&key).into());
        let tag = aead.encrypt_inout_detached((&nonce).into(), &aad, (&mut buf[..]).into()).unwrap();
        let expected_c = [
            0xe3, 0xb2, 0x01, 0xa9, 0xf5, 0xb7, 0x1a, 0x7a, 0x9b, 0x1c, 0xea, 0xec, 0xcd, 0x97, 0xe7, 0x0b, 0x61, 0x76,
            0xaa, 0xd9, 0xa4, 0x42, 0x8a, 0xa5,
        ];
        assert_eq!(buf, expected_c);
        assert_eq!(tag.as_slice(), &[0x48, 0x43, 0x92, 0xfb, 0xc1, 0xb0, 0x99, 0x51]);
    }
}
