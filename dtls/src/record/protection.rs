//! Record protection for (D)TLS 1.2 with the AEADs of our cipher suites.
//!
//! - AES-128-CCM-8 and AES-128-CCM (RFC 6655) and AES-128-GCM (RFC 5288): nonce = 4-byte
//!   implicit salt (client/server_write_IV) || 8-byte explicit nonce, carried in front of
//!   the ciphertext. We use epoch||seq as the explicit nonce (both RFCs allow it; it is
//!   unique per key by construction, which GCM needs above all).
//! - ChaCha20-Poly1305 (RFC 7905): no explicit nonce; nonce = 12-byte write IV xor the
//!   64-bit epoch||seq, padded on the left with four zero bytes.
//!
//! AAD = epoch||seq (8) || type || version || plaintext length, for all of them.

use aes::Aes128;
use aes_gcm::Aes128Gcm;
use ccm::Ccm;
use ccm::aead::{AeadInOut, KeyInit};
use ccm::consts::{U8, U12, U16};
use chacha20poly1305::ChaCha20Poly1305;

use super::{ContentType, ProtocolVersion};
use crate::error::Error;

type Aes128Ccm8 = Ccm<Aes128, U8, U12>;
type Aes128Ccm16 = Ccm<Aes128, U16, U12>;

/// The AEAD that protects a suite's records, with the sizes of its key block and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordAead {
    /// AES-128-CCM with an 8-byte tag (RFC 6655).
    Aes128Ccm8,
    /// AES-128-CCM with a 16-byte tag (RFC 6655).
    Aes128Ccm,
    /// AES-128-GCM (RFC 5288).
    Aes128Gcm,
    /// ChaCha20-Poly1305 (RFC 7905).
    Chacha20Poly1305,
}

impl RecordAead {
    pub const ALL: [RecordAead; 4] = [
        RecordAead::Aes128Ccm8,
        RecordAead::Aes128Ccm,
        RecordAead::Aes128Gcm,
        RecordAead::Chacha20Poly1305,
    ];

    /// Bytes of each write key.
    pub const fn key_len(self) -> usize {
        match self {
            RecordAead::Chacha20Poly1305 => 32,
            _ => 16,
        }
    }

    /// Bytes of each write IV (the implicit salt, or the whole IV for ChaCha20).
    pub const fn iv_len(self) -> usize {
        match self {
            RecordAead::Chacha20Poly1305 => 12,
            _ => 4,
        }
    }

    /// Bytes of the explicit nonce in front of every record's ciphertext.
    pub const fn explicit_nonce_len(self) -> usize {
        match self {
            RecordAead::Chacha20Poly1305 => 0,
            _ => 8,
        }
    }

    pub const fn tag_len(self) -> usize {
        match self {
            RecordAead::Aes128Ccm8 => 8,
            _ => 16,
        }
    }

    /// What protection adds to a record's payload.
    pub const fn overhead(self) -> usize {
        self.explicit_nonce_len() + self.tag_len()
    }

    /// The key block's length: two keys and two IVs (no MAC keys for an AEAD).
    pub const fn key_block_len(self) -> usize {
        2 * (self.key_len() + self.iv_len())
    }
}

/// Explicit nonce (8) + tag (8) of AES-128-CCM-8.
pub const CCM8_OVERHEAD: usize = RecordAead::Aes128Ccm8.overhead();
/// The largest [`RecordAead::overhead`].
pub const MAX_AEAD_OVERHEAD: usize = 24;

/// The expanded key schedules are zeroized on drop (the crates' `zeroize` features).
enum Cipher {
    Ccm8(Aes128Ccm8),
    Ccm(Aes128Ccm16),
    Gcm(Aes128Gcm),
    Chacha(ChaCha20Poly1305),
}

/// One direction's AEAD key and IV.
pub struct RecordCipher {
    cipher: Cipher,
    aead: RecordAead,
    /// The first `aead.iv_len()` bytes are used.
    iv: [u8; 12],
}

impl Drop for RecordCipher {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.iv);
    }
}

impl std::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordCipher({:?}, ..)", self.aead)
    }
}

fn aad(epoch: u16, seq: u64, ct: ContentType, version: ProtocolVersion, len: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[..8].copy_from_slice(&epoch_seq(epoch, seq));
    a[8] = ct.into();
    a[9..11].copy_from_slice(&version.0.to_be_bytes());
    a[11..13].copy_from_slice(&(len as u16).to_be_bytes());
    a
}

fn epoch_seq(epoch: u16, seq: u64) -> [u8; 8] {
    ((u64::from(epoch) << 48) | (seq & 0xffff_ffff_ffff)).to_be_bytes()
}

macro_rules! with_cipher {
    ($c:expr, $a:ident => $body:expr) => {
        match $c {
            Cipher::Ccm8($a) => $body,
            Cipher::Ccm($a) => $body,
            Cipher::Gcm($a) => $body,
            Cipher::Chacha($a) => $body,
        }
    };
}

impl RecordCipher {
    /// `key` and `iv` must have the AEAD's lengths.
    pub fn new(aead: RecordAead, key: &[u8], iv: &[u8]) -> Result<Self, Error> {
        if key.len() != aead.key_len() || iv.len() != aead.iv_len() {
            return Err(Error::Internal("record key or IV of the wrong length"));
        }
        let bad = |_| Error::Internal("record key of the wrong length");
        let cipher = match aead {
            RecordAead::Aes128Ccm8 => Cipher::Ccm8(Aes128Ccm8::new_from_slice(key).map_err(bad)?),
            RecordAead::Aes128Ccm => Cipher::Ccm(Aes128Ccm16::new_from_slice(key).map_err(bad)?),
            RecordAead::Aes128Gcm => Cipher::Gcm(Aes128Gcm::new_from_slice(key).map_err(bad)?),
            RecordAead::Chacha20Poly1305 => {
                Cipher::Chacha(ChaCha20Poly1305::new_from_slice(key).map_err(bad)?)
            }
        };
        let mut v = [0u8; 12];
        v[..iv.len()].copy_from_slice(iv);
        Ok(RecordCipher {
            cipher,
            aead,
            iv: v,
        })
    }

    pub fn aead(&self) -> RecordAead {
        self.aead
    }

    /// The 12-byte AEAD nonce of a record: salt || explicit (AES suites; `explicit` is the
    /// one on the wire) or IV xor epoch||seq (ChaCha20).
    fn nonce(&self, epoch: u16, seq: u64, explicit: &[u8]) -> [u8; 12] {
        let mut n = self.iv;
        match self.aead {
            RecordAead::Chacha20Poly1305 => {
                for (b, s) in n[4..].iter_mut().zip(epoch_seq(epoch, seq)) {
                    *b ^= s;
                }
            }
            _ => n[4..].copy_from_slice(explicit),
        }
        n
    }

    /// Returns the record body: explicit nonce (if any) || ciphertext || tag.
    pub fn seal(
        &self,
        epoch: u16,
        seq: u64,
        ct: ContentType,
        version: ProtocolVersion,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let explicit_len = self.aead.explicit_nonce_len();
        let mut body = Vec::with_capacity(plaintext.len() + self.aead.overhead());
        body.extend_from_slice(&epoch_seq(epoch, seq)[..explicit_len]);
        body.extend_from_slice(plaintext);
        let nonce = self.nonce(epoch, seq, &body[..explicit_len]);
        let a = aad(epoch, seq, ct, version, plaintext.len());
        let buf = &mut body[explicit_len..];
        let failed = |_| Error::Internal("aead seal");
        with_cipher!(&self.cipher, c => {
            let tag = c.encrypt_inout_detached((&nonce).into(), &a, buf.into()).map_err(failed)?;
            body.extend_from_slice(&tag);
        });
        Ok(body)
    }

    /// Authenticates and decrypts a record body; the header fields come from the record.
    pub fn open(
        &self,
        epoch: u16,
        seq: u64,
        ct: ContentType,
        version: ProtocolVersion,
        body: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let explicit_len = self.aead.explicit_nonce_len();
        let tag_len = self.aead.tag_len();
        if body.len() < explicit_len + tag_len {
            return Err(Error::DecryptFailed);
        }
        let (explicit, rest) = body.split_at(explicit_len);
        let (ciphertext, tag) = rest.split_at(rest.len() - tag_len);
        let nonce = self.nonce(epoch, seq, explicit);
        let a = aad(epoch, seq, ct, version, ciphertext.len());
        let mut plain = ciphertext.to_vec();
        let buf = &mut plain[..];
        with_cipher!(&self.cipher, c => {
            let tag = tag.try_into().map_err(|_| Error::DecryptFailed)?;
            c.decrypt_inout_detached((&nonce).into(), &a, buf.into(), tag).map_err(|_| Error::DecryptFailed)?;
        });
        Ok(plain)
    }
}

#[cfg(test)]
mod tests;
