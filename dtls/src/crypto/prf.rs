//! TLS 1.2 PRF with SHA-256 (RFC 5246 section 5), the master secret (section 8.1 and
//! RFC 7627 extended master secret), the key block (section 6.3) and Finished verify_data.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::record::{RecordAead, SessionKeys};

type HmacSha256 = Hmac<Sha256>;

/// 48-byte master secret, wiped on drop.
pub type MasterSecret = Zeroizing<[u8; 48]>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; new_from_slice cannot fail.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// P_SHA256(secret, label || seed), filling `out`.
pub fn prf(secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    // A(1) = HMAC(secret, label||seed); output blocks = HMAC(secret, A(i) || label || seed).
    let mut a = hmac(secret, &[label, seed]);
    for chunk in out.chunks_mut(32) {
        let mut block = hmac(secret, &[&a, label, seed]);
        chunk.copy_from_slice(&block[..chunk.len()]);
        block.zeroize();
        a = hmac(secret, &[&a]);
    }
    a.zeroize();
}

/// RFC 5246: PRF(pre_master_secret, "master secret", client_random || server_random).
pub fn master_secret(
    pre_master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> MasterSecret {
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(client_random);
    seed[32..].copy_from_slice(server_random);
    let mut ms = Zeroizing::new([0u8; 48]);
    prf(pre_master, b"master secret", &seed, &mut ms[..]);
    ms
}

/// RFC 7627: PRF(pre_master_secret, "extended master secret", session_hash), where
/// session_hash is the transcript hash up to and including ClientKeyExchange.
pub fn extended_master_secret(pre_master: &[u8], session_hash: &[u8; 32]) -> MasterSecret {
    let mut ms = Zeroizing::new([0u8; 48]);
    prf(
        pre_master,
        b"extended master secret",
        session_hash,
        &mut ms[..],
    );
    ms
}

/// RFC 5246 section 6.3 for an AEAD suite: no MAC keys, then the two write keys and the
/// two write IVs of `aead`'s lengths. Note the seed order: server_random first.
pub fn key_block(
    master: &[u8; 48],
    aead: RecordAead,
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> SessionKeys {
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(server_random);
    seed[32..].copy_from_slice(client_random);
    let mut block = Zeroizing::new([0u8; MAX_KEY_BLOCK_LEN]);
    let block = &mut block[..aead.key_block_len()];
    prf(master, b"key expansion", &seed, block);
    SessionKeys::from_key_block(aead, block)
        .unwrap_or_else(|| unreachable!("the block has the AEAD's length"))
}

/// The longest key block (ChaCha20-Poly1305: two 32-byte keys, two 12-byte IVs).
const MAX_KEY_BLOCK_LEN: usize = 88;

/// Finished.verify_data: PRF(master_secret, label, Hash(handshake_messages))[0..12].
pub fn verify_data(master: &[u8; 48], label: &[u8], handshake_hash: &[u8; 32]) -> [u8; 12] {
    let mut out = [0u8; 12];
    prf(master, label, handshake_hash, &mut out);
    out
}

pub const CLIENT_FINISHED: &[u8] = b"client finished";
pub const SERVER_FINISHED: &[u8] = b"server finished";

/// RFC 4279 section 2: the PSK premaster secret, other_secret = N zero bytes.
pub fn psk_premaster(psk: &[u8]) -> Zeroizing<Vec<u8>> {
    psk_premaster_with(&vec![0u8; psk.len()], psk)
}

/// RFC 4279/5489 premaster layout: uint16 len || other_secret || uint16 len || psk.
pub fn psk_premaster_with(other_secret: &[u8], psk: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(4 + other_secret.len() + psk.len()));
    v.extend_from_slice(&(other_secret.len() as u16).to_be_bytes());
    v.extend_from_slice(other_secret);
    v.extend_from_slice(&(psk.len() as u16).to_be_bytes());
    v.extend_from_slice(psk);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The TLS 1.2 PRF-SHA256 test vector published on the IETF TLS list (and used by many
    /// implementations' test suites).
    #[test]
    fn prf_sha256_published_vector() {
        let secret = hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
        let seed = hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
        let expected = hex(
            "e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
             6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b
             ab 4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff
             f7 01 87 34 7b 66",
        );
        let mut out = vec![0u8; 100];
        prf(&secret, b"test label", &seed, &mut out);
        assert_eq!(out, expected);
    }

    #[test]
    fn psk_premaster_layout() {
        assert_eq!(
            &psk_premaster(&[0xaa, 0xbb])[..],
            &[0, 2, 0, 0, 0, 2, 0xaa, 0xbb]
        );
    }

    #[test]
    fn key_block_uses_server_random_first() {
        let ms = [5u8; 48];
        let a = key_block(&ms, RecordAead::Aes128Ccm8, &[1; 32], &[2; 32]);
        let b = key_block(&ms, RecordAead::Aes128Ccm8, &[2; 32], &[1; 32]);
        assert_ne!(a, b);
        let mut block = [0u8; 40];
        let mut seed = [2u8; 64];
        seed[32..].fill(1);
        prf(&ms, b"key expansion", &seed, &mut block);
        assert_eq!(a.client_write_key(), &block[..16]);
        assert_eq!(a.server_iv(), &block[36..40]);
    }

    #[test]
    fn key_block_lengths_follow_the_aead() {
        let ms = [5u8; 48];
        let mut block = [0u8; MAX_KEY_BLOCK_LEN];
        let mut seed = [2u8; 64];
        seed[32..].fill(1);
        prf(&ms, b"key expansion", &seed, &mut block);
        assert_eq!(
            RecordAead::ALL.iter().map(|a| a.key_block_len()).max(),
            Some(MAX_KEY_BLOCK_LEN)
        );
        for aead in RecordAead::ALL {
            let k = key_block(&ms, aead, &[1; 32], &[2; 32]);
            let (kl, il) = (aead.key_len(), aead.iv_len());
            // The PRF's output is a stream: a shorter block is a prefix of a longer one.
            assert_eq!(k.client_write_key(), &block[..kl]);
            assert_eq!(k.server_write_key(), &block[kl..2 * kl]);
            assert_eq!(k.client_iv(), &block[2 * kl..2 * kl + il]);
            assert_eq!(k.server_iv(), &block[2 * kl + il..2 * kl + 2 * il]);
        }
    }
}
