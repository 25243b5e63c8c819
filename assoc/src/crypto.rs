//! The primitives of the association (the "Notation and primitives" section of
//! docs/mote-association.md) over the platform's AES-128 block function, and the platform
//! traits a real mote implements: [`Aes128Block`], [`EcdhP256`] and [`Random`].
//!
//! - [`cmac()`]: AES-CMAC (RFC 4493);
//! - [`prf`]: AES-CMAC-PRF-128 (RFC 4615);
//! - [`kdf`]: NIST SP 800-108 counter mode with CMAC, one 128-bit block;
//! - [`seal`] / [`open`]: AES-128-CCM, 8-byte tag, 13-byte nonce (RFC 3610, L = 2);
//!   [`ccm_seal`] / [`ccm_open`], the same for any tag and nonce length (the record layer's
//!   CCM suites).
//!
//! CMAC and CCM are written here on the block function alone (no panicking path, nothing
//! generic beyond it), so that a firmware links only them and its AES engine's driver.
//! Every secret is a [`Key`] or a [`SharedSecret`], both wiped when dropped.

use cipher::consts::{U1, U16};
use cipher::{
    Block, BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser, InOut,
    ParBlocksSizeUser,
};
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
    /// The default runs [`ccm_seal`] on [`Self::encrypt_block`]; a platform with a CCM
    /// engine overrides this and [`Self::ccm8_open`].
    fn ccm8_seal(
        key: &[u8; 16],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        // Only lengths beyond 2^16 (L = 2) fail, and our messages are far shorter; the
        // receiver then fails to open it like any corrupted message.
        ccm_seal(&Self::new(key), nonce, aad, buf).unwrap_or([0; TAG_LEN])
    }

    /// The inverse of [`Self::ccm8_seal`]: decrypts `buf` in place if `tag` verifies.
    fn ccm8_open(
        key: &[u8; 16],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), BadTag> {
        ccm_open(&Self::new(key), nonce, aad, buf, tag)
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

/// The platform's block function seen as a RustCrypto block cipher, so that RustCrypto's
/// modes (a record layer's GCM) run on it.
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

/// AES-CMAC (RFC 4493) over data given in parts: `x` chains the full blocks, `last` holds
/// the block that may be the final one (`len` bytes of it).
struct Cmac<A> {
    cipher: A,
    x: [u8; 16],
    last: [u8; 16],
    len: usize,
}

impl<A: Aes128Block> Cmac<A> {
    fn new(key: &Key) -> Self {
        Cmac {
            cipher: A::new(&key.0),
            x: [0; 16],
            last: [0; 16],
            len: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        while let Some((&byte, rest)) = data.split_first() {
            if self.len == 16 {
                xor_into(&mut self.x, &self.last);
                self.cipher.encrypt_block(&mut self.x);
                self.len = 0;
            }
            if let Some(b) = self.last.get_mut(self.len) {
                *b = byte;
            }
            self.len += 1;
            data = rest;
        }
    }

    fn finalize(mut self) -> [u8; 16] {
        // The subkeys: K1 = dbl(E(0)), K2 = dbl(K1).
        let mut k = [0u8; 16];
        self.cipher.encrypt_block(&mut k);
        dbl(&mut k);
        if self.len < 16 {
            dbl(&mut k);
            for (i, b) in self.last.iter_mut().enumerate() {
                if i == self.len {
                    *b = 0x80;
                } else if i > self.len {
                    *b = 0;
                }
            }
        }
        xor_into(&mut self.last, &k);
        xor_into(&mut self.x, &self.last);
        self.cipher.encrypt_block(&mut self.x);
        k.zeroize();
        self.last.zeroize();
        let tag = self.x;
        self.x.zeroize();
        tag
    }
}

/// Doubling in GF(2^128) (RFC 4493 2.3).
fn dbl(block: &mut [u8; 16]) {
    let carry = block[0] >> 7;
    for i in 0..15 {
        block[i] = (block[i] << 1) | (block[i + 1] >> 7);
    }
    block[15] = (block[15] << 1) ^ (0x87 * carry);
}

fn xor_into(to: &mut [u8], from: &[u8]) {
    for (t, f) in to.iter_mut().zip(from) {
        *t ^= f;
    }
}

/// `CMAC(K, parts[0] || parts[1] || ...)` (RFC 4493), 16 bytes.
pub fn cmac<A: Aes128Block>(key: &Key, parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = Cmac::<A>::new(key);
    for p in parts {
        mac.update(p);
    }
    mac.finalize()
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
    let mut mac = Cmac::<A>::new(key);
    mac.update(&[0x01]);
    mac.update(label);
    mac.update(&[0x00]);
    for c in context {
        mac.update(c);
    }
    mac.update(&[0x00, 0x80]);
    Key(mac.finalize())
}

/// Length of the CCM tag.
pub const TAG_LEN: usize = 8;
/// Length of the CCM nonce.
pub const NONCE_LEN: usize = 13;

/// CCM's CBC-MAC (RFC 3610 2.2) over `aad` and `text`, with `B_0` made of `flags`, the
/// nonce and the length: `T` in full (the caller keeps its first M bytes). `None` if the
/// lengths do not fit (nonce of 7 to 13 bytes, associated data below 2^16 - 2^8 bytes,
/// text below 2^(8L) bytes).
fn ccm_mac<A: Aes128Block>(
    cipher: &A,
    tag_len: usize,
    nonce: &[u8],
    aad: &[u8],
    text: &[u8],
) -> Option<[u8; 16]> {
    let l = 15usize
        .checked_sub(nonce.len())
        .filter(|l| (2..=8).contains(l))?;
    let len = text.len() as u64;
    if aad.len() >= 0xff00 || len.checked_shr(8 * l as u32).unwrap_or(0) != 0 {
        return None;
    }
    let mut x = [0u8; 16];
    x[0] = (u8::from(!aad.is_empty()) << 6) | ((((tag_len - 2) / 2) as u8) << 3) | (l - 1) as u8;
    for (b, n) in x.iter_mut().skip(1).zip(nonce) {
        *b = *n;
    }
    for (i, b) in x.iter_mut().rev().take(l).enumerate() {
        *b = len.checked_shr(8 * i as u32).unwrap_or(0) as u8;
    }
    cipher.encrypt_block(&mut x);
    let mut fill = 0;
    let absorb = |x: &mut [u8; 16], fill: &mut usize, data: &[u8]| {
        for &byte in data {
            if let Some(b) = x.get_mut(*fill) {
                *b ^= byte;
            }
            *fill += 1;
            if *fill == 16 {
                cipher.encrypt_block(x);
                *fill = 0;
            }
        }
    };
    if !aad.is_empty() {
        absorb(&mut x, &mut fill, &(aad.len() as u16).to_be_bytes());
        absorb(&mut x, &mut fill, aad);
        if fill != 0 {
            cipher.encrypt_block(&mut x);
            fill = 0;
        }
    }
    absorb(&mut x, &mut fill, text);
    if fill != 0 {
        cipher.encrypt_block(&mut x);
    }
    Some(x)
}

/// CCM's counter mode (RFC 3610 2.3): `text` xor `S_1`, `S_2`, ...; returns `S_0`.
fn ccm_ctr<A: Aes128Block>(cipher: &A, nonce: &[u8], text: &mut [u8]) -> [u8; 16] {
    // The callers checked 7 <= nonce.len() <= 13.
    let l = 15usize.saturating_sub(nonce.len());
    let mut a = [0u8; 16];
    a[0] = l.saturating_sub(1) as u8;
    for (b, n) in a.iter_mut().skip(1).zip(nonce) {
        *b = *n;
    }
    let block = |i: u64| {
        let mut s = a;
        for (j, b) in s.iter_mut().rev().take(l).enumerate() {
            *b = i.checked_shr(8 * j as u32).unwrap_or(0) as u8;
        }
        cipher.encrypt_block(&mut s);
        s
    };
    let s0 = block(0);
    for (i, chunk) in (1u64..).zip(text.chunks_mut(16)) {
        let mut s = block(i);
        xor_into(chunk, &s);
        s.zeroize();
    }
    s0
}

/// AES-CCM (RFC 3610) with an `M`-byte tag and a nonce of 7 to 13 bytes: encrypts `buf` in
/// place and returns the tag, or `None` (nothing encrypted) if the lengths do not fit.
pub fn ccm_seal<A: Aes128Block, const M: usize>(
    cipher: &A,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
) -> Option<[u8; M]> {
    if !(4..=16).contains(&M) || !M.is_multiple_of(2) {
        return None;
    }
    let mut t = ccm_mac(cipher, M, nonce, aad, buf)?;
    let mut s0 = ccm_ctr(cipher, nonce, buf);
    xor_into(&mut t, &s0);
    let mut tag = [0u8; M];
    for (u, x) in tag.iter_mut().zip(&t) {
        *u = *x;
    }
    t.zeroize();
    s0.zeroize();
    Some(tag)
}

/// The inverse of [`ccm_seal`]: decrypts `buf` in place if `tag` verifies; on failure `buf`
/// is wiped.
pub fn ccm_open<A: Aes128Block, const M: usize>(
    cipher: &A,
    nonce: &[u8],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; M],
) -> Result<(), BadTag> {
    if !(4..=16).contains(&M) || !M.is_multiple_of(2) || nonce.len() < 7 || nonce.len() > 13 {
        return Err(BadTag);
    }
    let mut s0 = ccm_ctr(cipher, nonce, buf);
    let verified = match ccm_mac(cipher, M, nonce, aad, buf) {
        Some(mut t) => {
            xor_into(&mut t, &s0);
            let ok = ct_eq(t.get(..M).unwrap_or(&[]), tag);
            t.zeroize();
            ok
        }
        None => false,
    };
    s0.zeroize();
    if verified {
        Ok(())
    } else {
        buf.zeroize();
        Err(BadTag)
    }
}

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
