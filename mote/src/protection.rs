//! Record protection of the four suites an IoTSSP may transfer (the same construction as
//! the `dtls` engine's, so records pass between the two):
//!
//! - AES-128-CCM-8, AES-128-CCM (RFC 6655) and AES-128-GCM (RFC 5288): nonce = 4-byte
//!   write IV || 8-byte explicit nonce, which travels in front of the ciphertext; we write
//!   epoch || sequence number there (unique per key by construction).
//! - ChaCha20-Poly1305 (RFC 7905): no explicit nonce; nonce = 12-byte write IV xor the
//!   64-bit epoch || sequence number, padded on the left with zeros.
//!
//! AAD = epoch || sequence number || type || version || plaintext length (RFC 5246 6.2.3.3).
//! AES runs on the platform's block function ([`Aes128Block`]), keyed per record so that
//! no expanded key outlives the call; ChaCha20 is always software. Each suite is compiled
//! in by its `suite-*` feature ([`COMPILED_SUITES`]); a suite left out seals and opens
//! nothing, and [`crate::Sessions`] refuses its transfers.

#[cfg(any(feature = "suite-gcm", feature = "suite-chacha20-poly1305"))]
use aead::AeadInOut;
#[cfg(feature = "suite-gcm")]
use aes_gcm::aead::{self, consts::U12};
#[cfg(all(feature = "suite-chacha20-poly1305", not(feature = "suite-gcm")))]
use chacha20poly1305::aead;
#[cfg(feature = "suite-chacha20-poly1305")]
use chacha20poly1305::{ChaCha20Poly1305, aead::KeyInit};
use mote_assoc::crypto::Aes128Block;
#[cfg(feature = "suite-gcm")]
use mote_assoc::crypto::BlockCipher;
use mote_assoc::wire::{Suite, SuiteSet};

#[cfg(not(any(
    feature = "suite-ccm8",
    feature = "suite-ccm",
    feature = "suite-gcm",
    feature = "suite-chacha20-poly1305"
)))]
compile_error!(
    "delegated-mote runs no record-layer suite: enable at least one of the features \
     suite-ccm8, suite-ccm, suite-gcm, suite-chacha20-poly1305"
);

#[cfg(feature = "suite-gcm")]
type Gcm<A> = aes_gcm::AesGcm<BlockCipher<A>, U12>;

/// The suites this build runs, by its `suite-*` features (bit = [`Suite::code`]).
pub const COMPILED_SUITES: SuiteSet = SuiteSet(
    (cfg!(feature = "suite-ccm8") as u8)
        | (cfg!(feature = "suite-ccm") as u8) << 1
        | (cfg!(feature = "suite-gcm") as u8) << 2
        | (cfg!(feature = "suite-chacha20-poly1305") as u8) << 3,
);

/// Bytes of a write key a session keeps: ChaCha20's 32 if it is compiled in, else AES-128's
/// 16.
pub(crate) const KEY_LEN: usize = if cfg!(feature = "suite-chacha20-poly1305") {
    32
} else {
    16
};
/// Bytes of a write IV a session keeps: ChaCha20's 12 if it is compiled in, else the AES
/// suites' 4 (the implicit part of the nonce).
pub(crate) const IV_LEN: usize = if cfg!(feature = "suite-chacha20-poly1305") {
    12
} else {
    4
};

/// Bytes of the explicit nonce in front of a record's ciphertext.
pub const fn explicit_nonce_len(suite: Suite) -> usize {
    match suite {
        Suite::ChaCha20Poly1305 => 0,
        _ => 8,
    }
}

pub const fn tag_len(suite: Suite) -> usize {
    match suite {
        Suite::Ccm8 => 8,
        _ => 16,
    }
}

/// What protection adds to a record's plaintext.
pub const fn overhead(suite: Suite) -> usize {
    explicit_nonce_len(suite) + tag_len(suite)
}

/// The largest [`overhead`] of any suite.
pub const MAX_OVERHEAD: usize = 24;

/// One direction's write key and IV as transferred (AES suites use the first 16 key bytes
/// and the first 4 IV bytes).
pub(crate) struct DirectionKeys<'a> {
    pub key: &'a [u8; KEY_LEN],
    pub iv: &'a [u8; IV_LEN],
}

/// The fields of a record header the AEAD binds.
#[derive(Clone, Copy)]
pub(crate) struct RecordId {
    pub content_type: u8,
    pub version: u16,
    pub epoch: u16,
    pub sequence_number: u64,
}

impl RecordId {
    fn epoch_seq(&self) -> [u8; 8] {
        ((u64::from(self.epoch) << 48) | (self.sequence_number & 0xffff_ffff_ffff)).to_be_bytes()
    }

    fn aad(&self, plaintext_len: usize) -> [u8; 13] {
        let mut a = [0u8; 13];
        a[..8].copy_from_slice(&self.epoch_seq());
        a[8] = self.content_type;
        a[9..11].copy_from_slice(&self.version.to_be_bytes());
        // Plaintexts are below 2^14 + 2048 (the record length field bounds them).
        a[11..13].copy_from_slice(&(plaintext_len as u16).to_be_bytes());
        a
    }

    /// The 12-byte AEAD nonce: IV || explicit nonce, or IV xor epoch || seq.
    fn nonce(&self, suite: Suite, iv: &[u8; IV_LEN], explicit: &[u8]) -> [u8; 12] {
        let mut n = [0u8; 12];
        for (b, i) in n.iter_mut().zip(iv) {
            *b = *i;
        }
        let (_, tail) = n.split_at_mut(4);
        match suite {
            Suite::ChaCha20Poly1305 => {
                for (b, s) in tail.iter_mut().zip(self.epoch_seq()) {
                    *b ^= s;
                }
            }
            _ => {
                for (b, e) in tail.iter_mut().zip(explicit) {
                    *b = *e;
                }
            }
        }
        n
    }
}

fn aes_key(key: &[u8; KEY_LEN]) -> [u8; 16] {
    let mut k = [0u8; 16];
    for (b, x) in k.iter_mut().zip(key) {
        *b = *x;
    }
    k
}

/// Runs `$body` with `$aead` the suite's RustCrypto AEAD (GCM, ChaCha20-Poly1305) keyed with
/// the direction's key; `false` for another suite or one this build leaves out.
macro_rules! with_aead {
    ($suite:expr, $keys:expr, $A:ty, $aead:ident => $body:expr) => {{
        let mut key16 = aes_key($keys.key);
        #[allow(unreachable_patterns)]
        let result = match $suite {
            #[cfg(feature = "suite-gcm")]
            Suite::Gcm => {
                let $aead = Gcm::<$A>::from(BlockCipher(<$A>::new(&key16)));
                $body
            }
            #[cfg(feature = "suite-chacha20-poly1305")]
            Suite::ChaCha20Poly1305 => {
                let $aead = ChaCha20Poly1305::new($keys.key.into());
                $body
            }
            _ => false,
        };
        zeroize::Zeroize::zeroize(&mut key16);
        result
    }};
}

/// The record could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailed;

/// Seals a record body in place. `body` is explicit nonce || plaintext || room for the tag:
/// [`overhead`] bytes more than the plaintext. The explicit nonce is written here.
// ChaCha20 alone needs no AES.
#[cfg_attr(
    not(any(feature = "suite-ccm8", feature = "suite-ccm", feature = "suite-gcm")),
    allow(clippy::extra_unused_type_parameters)
)]
pub(crate) fn seal<A: Aes128Block>(
    suite: Suite,
    keys: &DirectionKeys<'_>,
    id: RecordId,
    body: &mut [u8],
) -> Result<(), AeadFailed> {
    let e = explicit_nonce_len(suite);
    let t = tag_len(suite);
    let plain_len = body.len().checked_sub(e + t).ok_or(AeadFailed)?;
    let (explicit, rest) = body.split_at_mut(e);
    explicit.copy_from_slice(&id.epoch_seq()[..e]);
    let nonce = id.nonce(suite, keys.iv, explicit);
    let aad = id.aad(plain_len);
    let (text, tag_out) = rest.split_at_mut(plain_len);
    #[allow(unreachable_patterns)]
    let sealed = match suite {
        #[cfg(feature = "suite-ccm8")]
        Suite::Ccm8 => ccm_seal_into::<A, 8>(keys, &nonce, &aad, text, tag_out),
        #[cfg(feature = "suite-ccm")]
        Suite::Ccm => ccm_seal_into::<A, 16>(keys, &nonce, &aad, text, tag_out),
        _ => with_aead!(suite, keys, A, aead => seal_with(&aead, &nonce, &aad, text, tag_out)),
    };
    if sealed { Ok(()) } else { Err(AeadFailed) }
}

/// Opens a record body in place (explicit nonce || ciphertext || tag); the plaintext is at
/// `body[explicit_nonce_len(suite)..][..len]` on success, with `len` returned. On failure
/// the body is wiped.
// ChaCha20 alone needs no AES.
#[cfg_attr(
    not(any(feature = "suite-ccm8", feature = "suite-ccm", feature = "suite-gcm")),
    allow(clippy::extra_unused_type_parameters)
)]
pub(crate) fn open<A: Aes128Block>(
    suite: Suite,
    keys: &DirectionKeys<'_>,
    id: RecordId,
    body: &mut [u8],
) -> Result<usize, AeadFailed> {
    let e = explicit_nonce_len(suite);
    let t = tag_len(suite);
    let Some(plain_len) = body.len().checked_sub(e + t) else {
        return Err(AeadFailed);
    };
    let (explicit, rest) = body.split_at_mut(e);
    let nonce = id.nonce(suite, keys.iv, explicit);
    let aad = id.aad(plain_len);
    let (text, tag) = rest.split_at_mut(plain_len);
    #[allow(unreachable_patterns)]
    let opened = match suite {
        #[cfg(feature = "suite-ccm8")]
        Suite::Ccm8 => ccm_open_from::<A, 8>(keys, &nonce, &aad, text, tag),
        #[cfg(feature = "suite-ccm")]
        Suite::Ccm => ccm_open_from::<A, 16>(keys, &nonce, &aad, text, tag),
        _ => with_aead!(suite, keys, A, aead => open_with(&aead, &nonce, &aad, text, tag)),
    };
    if opened {
        Ok(plain_len)
    } else {
        zeroize::Zeroize::zeroize(body);
        Err(AeadFailed)
    }
}

/// AES-CCM with an `M`-byte tag (mote-assoc's, on the platform's block function).
#[cfg(any(feature = "suite-ccm8", feature = "suite-ccm"))]
fn ccm_seal_into<A: Aes128Block, const M: usize>(
    keys: &DirectionKeys<'_>,
    nonce: &[u8; 12],
    aad: &[u8],
    text: &mut [u8],
    tag_out: &mut [u8],
) -> bool {
    let mut key16 = aes_key(keys.key);
    let cipher = A::new(&key16);
    zeroize::Zeroize::zeroize(&mut key16);
    match mote_assoc::crypto::ccm_seal::<A, M>(&cipher, nonce, aad, text) {
        Some(tag) if tag_out.len() == M => {
            for (o, t) in tag_out.iter_mut().zip(&tag) {
                *o = *t;
            }
            true
        }
        _ => false,
    }
}

#[cfg(any(feature = "suite-ccm8", feature = "suite-ccm"))]
fn ccm_open_from<A: Aes128Block, const M: usize>(
    keys: &DirectionKeys<'_>,
    nonce: &[u8; 12],
    aad: &[u8],
    text: &mut [u8],
    tag: &[u8],
) -> bool {
    let Ok(tag) = <[u8; M]>::try_from(tag) else {
        return false;
    };
    let mut key16 = aes_key(keys.key);
    let cipher = A::new(&key16);
    zeroize::Zeroize::zeroize(&mut key16);
    mote_assoc::crypto::ccm_open::<A, M>(&cipher, nonce, aad, text, &tag).is_ok()
}

#[cfg(any(feature = "suite-gcm", feature = "suite-chacha20-poly1305"))]
fn seal_with<T: AeadInOut>(
    aead: &T,
    nonce: &[u8; 12],
    aad: &[u8],
    text: &mut [u8],
    tag_out: &mut [u8],
) -> bool {
    let Ok(n) = aead::Nonce::<T>::try_from(&nonce[..]) else {
        return false;
    };
    match aead.encrypt_inout_detached(&n, aad, text.into()) {
        Ok(tag) if tag.len() == tag_out.len() => {
            tag_out.copy_from_slice(&tag);
            true
        }
        _ => false,
    }
}

#[cfg(any(feature = "suite-gcm", feature = "suite-chacha20-poly1305"))]
fn open_with<T: AeadInOut>(
    aead: &T,
    nonce: &[u8; 12],
    aad: &[u8],
    text: &mut [u8],
    tag: &[u8],
) -> bool {
    match (
        aead::Nonce::<T>::try_from(&nonce[..]),
        aead::Tag::<T>::try_from(tag),
    ) {
        (Ok(n), Ok(t)) => aead
            .decrypt_inout_detached(&n, aad, text.into(), &t)
            .is_ok(),
        _ => false,
    }
}
