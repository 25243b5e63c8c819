//! The primitives of the association (the "Notation and primitives" section of
//! docs/mote-association.md) over the platform's AES-128 block function, and the platform
//! traits a real mote implements: [`Aes128Block`], [`EcdhP256`] and [`Random`].
//!
//! - [`cmac()`]: AES-CMAC (RFC 4493), through the RustCrypto `cmac` crate;
//! - [`prf`]: AES-CMAC-PRF-128 (RFC 4615);
//! - [`kdf`]: NIST SP 800-108 counter mode with CMAC, one 128-bit block;
//! - [`seal`] / [`open`]: AES-128-CCM, 8-byte tag, 13-byte nonce (RFC 3610, L = 2), through
//!   the RustCrypto `ccm` crate.
//!
//! Every secret is a [`Key`] or a [`SharedSecret`], both wiped when dropped.

use ccm::aead::AeadInOut;
use cipher::consts::{U1, U8, U13, U16};
use cipher::{
    Block, BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser, InOut,
    ParBlocksSizeUser,
};
use cmac::Mac;
use cmac::digest::InnerInit;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// AES-128 as the platform provides it (a radio chip's AES engine, or [`SoftAes`]): the
/// block function, and CCM-8 on top of it unless the platform has a CCM engine of its own.
/// The keyed instance holds key material: an implementation must wipe it when dropped.
pub trait Aes128Block: Sized {
    /// The cipher keyed with `key`.
    fn new(key: &[u8; 16]) -> Self;

    /// Encrypts one block in place.
    fn encrypt_block(&self, block: &mut [u8; 16]);

    /// AES-128-CCM, 8-byte tag, 13-byte nonce: encrypts `buf` in place and returns the tag.
    /// The default runs the `ccm` crate on [`Self::encrypt_block`]; a platform with a CCM
    /// engine overrides this and [`Self::ccm8_open`].
    fn ccm8_seal(
        key: &[u8; 16],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        let aead = Ccm8::<Self>::from(BlockCipher(Self::new(key)));
        match aead.encrypt_inout_detached(&(*nonce).into(), aad, buf.into()) {
            Ok(tag) => tag.into(),
            // Only lengths beyond 2^16 (L = 2) fail, and our messages are far shorter; the
            // receiver then fails to open it like any corrupted message.
            Err(_) => [0; TAG_LEN],
        }
    }

    /// The inverse of [`Self::ccm8_seal`]: decrypts `buf` in place if `tag` verifies.
    fn ccm8_open(
        key: &[u8; 16],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), BadTag> {
        let aead = Ccm8::<Self>::from(BlockCipher(Self::new(key)));
        aead.decrypt_inout_detached(&(*nonce).into(), aad, buf.into(), &(*tag).into())
            .map_err(|_| BadTag)
    }
}

/// AES-128 in software (the `aes` crate; its round keys are wiped on drop).
#[cfg(feature = "soft-aes")]
pub struct SoftAes(aes::Aes128);

#[cfg(feature = "soft-aes")]
impl Aes128Block for SoftAes {
    fn new(key: &[u8; 16]) -> Self {
        use cipher::KeyInit;
        SoftAes(aes::Aes128::new(&(*key).into()))
    }

    fn encrypt_block(&self, block: &mut [u8; 16]) {
        let mut b: Block<aes::Aes128> = (*block).into();
        self.0.encrypt_block(&mut b);
        block.copy_from_slice(&b);
        b.zeroize();
    }
}

/// The platform's block function seen as a RustCrypto block cipher, so that the `cmac` and
/// `ccm` crates (and a record layer's CCM and GCM) run on it.
pub struct BlockCipher<A>(pub A);

impl<A> BlockSizeUser for BlockCipher<A> {
    type BlockSize = U16;
}

impl<A: Aes128Block> BlockCipherEncrypt for BlockCipher<A> {
    fn encrypt_with_backend(&self, f: impl BlockCipherEncClosure<BlockSize = U16>) {
        f.call(&Backend(&self.0))
    }
}

struct Backend<'a, A>(&'a A);

impl<A> BlockSizeUser for Backend<'_, A> {
    type BlockSize = U16;
}

impl<A> ParBlocksSizeUser for Backend<'_, A> {
    type ParBlocksSize = U1;
}

impl<A: Aes128Block> BlockCipherEncBackend for Backend<'_, A> {
    fn encrypt_block(&self, mut block: InOut<'_, '_, Block<Self>>) {
        let mut b: [u8; 16] = (*block.get_in()).into();
        self.0.encrypt_block(&mut b);
        *block.get_out() = b.into();
        b.zeroize();
    }
}

/// A 128-bit secret key (PSK-derived keys, `K_n`, `T_n`, `C_n`, `A`), wiped when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Key(pub(crate) [u8; 16]);

impl Key {
    pub const ZERO: Key = Key([0; 16]);

    pub fn from_bytes(bytes: [u8; 16]) -> Key {
        Key(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// `CMAC(K, parts[0] || parts[1] || ...)` (RFC 4493), 16 bytes.
pub fn cmac<A: Aes128Block>(key: &Key, parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = cmac::Cmac::<BlockCipher<A>>::inner_init(BlockCipher(A::new(&key.0)));
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The first 8 bytes of `CMAC(K, parts...)`: the tag of the CMAC-authenticated messages.
pub fn cmac8<A: Aes128Block>(key: &Key, parts: &[&[u8]]) -> [u8; 8] {
    let full = cmac::<A>(key, parts);
    let mut tag = [0; 8];
    tag.copy_from_slice(&full[..8]);
    tag
}

/// `PRF(K, M)`: AES-CMAC-PRF-128 (RFC 4615). `K` of any length: used as is when it has 16
/// bytes, else first reduced to `CMAC(0^16, K)`.
pub fn prf<A: Aes128Block>(key: &[u8], parts: &[&[u8]]) -> Key {
    let k = match <[u8; 16]>::try_from(key) {
        Ok(k) => Key(k),
        Err(_) => Key(cmac::<A>(&Key::ZERO, &[key])),
    };
    Key(cmac::<A>(&k, parts))
}

/// `KDF(K, label, context)`: NIST SP 800-108 counter mode with CMAC, one block:
/// `CMAC(K, 0x01 || label || 0x00 || context || 0x0080)`. `context` is the concatenation of
/// its parts.
pub fn kdf<A: Aes128Block>(key: &Key, label: &[u8], context: &[&[u8]]) -> Key {
    let mut mac = cmac::Cmac::<BlockCipher<A>>::inner_init(BlockCipher(A::new(&key.0)));
    mac.update(&[0x01]);
    mac.update(label);
    mac.update(&[0x00]);
    for c in context {
        mac.update(c);
    }
    mac.update(&[0x00, 0x80]);
    Key(mac.finalize().into_bytes().into())
}

/// Length of the CCM tag.
pub const TAG_LEN: usize = 8;
/// Length of the CCM nonce.
pub const NONCE_LEN: usize = 13;

type Ccm8<A> = ccm::Ccm<BlockCipher<A>, U8, U13>;

/// The AEAD failed: the data or its tag was changed, or the key is not the sender's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadTag;

/// `Seal(K, N, A, P)`: encrypts `buf` in place and returns the 8-byte tag.
pub fn seal<A: Aes128Block>(
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; TAG_LEN] {
    A::ccm8_seal(&key.0, nonce, aad, buf)
}

/// `Open(K, N, A, C)`: decrypts `buf` in place if `tag` verifies; on failure `buf` holds
/// nothing anyone may use.
pub fn open<A: Aes128Block>(
    key: &Key,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), BadTag> {
    A::ccm8_open(&key.0, nonce, aad, buf, tag)
}

/// Compares two byte strings in time that depends on their length only.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    core::hint::black_box(diff) == 0
}

/// A P-256 public key as the messages carry it: `x || y`, without the 0x04 prefix.
pub type PublicKey = [u8; 64];

/// `Z`: the x coordinate of the ECDH result, wiped when dropped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SharedSecret(pub [u8; 32]);

/// The platform's ECDH or key generation failed (no randomness, a point not on the curve).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EccError {
    /// The peer's public key is not a point of P-256.
    InvalidPoint,
    /// The platform could not make a key pair.
    KeyGeneration,
}

/// P-256 ECDH as the platform provides it (an ECC engine such as the CC2538 PKA, or
/// [`SoftEcdh`]). Each call is one ECC operation, which the machines count.
pub trait EcdhP256 {
    /// An ephemeral private key. It must be wiped when dropped.
    type Secret;
    /// A fresh ephemeral key pair.
    fn generate(&mut self, rng: &mut dyn Random) -> Result<(Self::Secret, PublicKey), EccError>;
    /// `Z`, the x coordinate of `secret * peer`. Fails if `peer` is not on the curve.
    fn agree(&mut self, secret: &Self::Secret, peer: &PublicKey) -> Result<SharedSecret, EccError>;
}

/// P-256 in software (the `p256` crate; its secret keys are wiped on drop).
#[cfg(feature = "soft-ecc")]
#[derive(Debug, Default, Clone, Copy)]
pub struct SoftEcdh;

#[cfg(feature = "soft-ecc")]
impl EcdhP256 for SoftEcdh {
    type Secret = p256::SecretKey;

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(Self::Secret, PublicKey), EccError> {
        use p256::elliptic_curve::sec1::ToSec1Point;
        // A random 256-bit string is a valid scalar except with probability about 2^-32.
        for _ in 0..8 {
            let mut bytes = [0u8; 32];
            rng.fill(&mut bytes);
            let secret = p256::SecretKey::from_slice(&bytes);
            bytes.zeroize();
            if let Ok(secret) = secret {
                let point = secret.public_key().to_sec1_point(false);
                let mut public = [0u8; 64];
                match point.as_bytes().get(1..65) {
                    Some(xy) => public.copy_from_slice(xy),
                    None => return Err(EccError::KeyGeneration),
                }
                return Ok((secret, public));
            }
        }
        Err(EccError::KeyGeneration)
    }

    fn agree(&mut self, secret: &Self::Secret, peer: &PublicKey) -> Result<SharedSecret, EccError> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 4;
        sec1[1..].copy_from_slice(peer);
        let peer = p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| EccError::InvalidPoint)?;
        let shared = secret.diffie_hellman(&peer);
        let mut z = SharedSecret([0; 32]);
        z.0.copy_from_slice(shared.raw_secret_bytes());
        Ok(z)
    }
}

/// Randomness as the platform provides it (a hardware RNG); must be cryptographically strong.
pub trait Random {
    fn fill(&mut self, buf: &mut [u8]);
}

#[cfg(all(test, feature = "soft-aes"))]
mod tests;
