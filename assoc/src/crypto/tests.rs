use super::*;
use std::vec::Vec;

fn hex(s: &str) -> Vec<u8> {
    let s: std::string::String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn key(s: &str) -> Key {
    Key(hex(s).try_into().unwrap())
}

/// RFC 4493 section 4, examples 1-4.
#[test]
fn cmac_rfc4493_vectors() {
    let k = key("2b7e1516 28aed2a6 abf71588 09cf4f3c");
    let m = hex(
        "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
         30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710",
    );
    for (len, mac) in [
        (0, "bb1d6929 e9593728 7fa37d12 9b756746"),
        (16, "070a16b4 6b4d4144 f79bdd9d d04a287c"),
        (40, "dfa66747 de9ae630 30ca3261 1497c827"),
        (64, "51f0bebf 7e3b9d92 fc497417 79363cfe"),
    ] {
        assert_eq!(
            cmac::<SoftAes>(&k, &[&m[..len]]).to_vec(),
            hex(mac),
            "length {len}"
        );
        // The same message in pieces gives the same MAC.
        let (a, b) = m[..len].split_at(len / 3);
        assert_eq!(cmac::<SoftAes>(&k, &[a, b]).to_vec(), hex(mac));
        assert_eq!(cmac8::<SoftAes>(&k, &[&m[..len]]).to_vec(), hex(mac)[..8]);
    }
}

/// RFC 4615 section 4: keys of 18, 16 and 10 bytes.
#[test]
fn prf_rfc4615_vectors() {
    let m = hex("00010203 04050607 08090a0b 0c0d0e0f 10111213");
    for (k, out) in [
        (
            "00010203 04050607 08090a0b 0c0d0e0f edcb",
            "84a348a4 a45d235b abfffc0d 2b4da09a",
        ),
        (
            "00010203 04050607 08090a0b 0c0d0e0f",
            "980ae87b 5f4c9c52 14f5b6a8 455e4c2d",
        ),
        (
            "00010203 04050607 0809",
            "290d9e11 2edb09ee 141fcf64 c0b72f3d",
        ),
    ] {
        assert_eq!(
            prf::<SoftAes>(&hex(k), &[&m]).0.to_vec(),
            hex(out),
            "key {k}"
        );
    }
}

/// The KDF is one CMAC over the SP 800-108 fixed input, whatever the split of the context.
#[test]
fn kdf_is_cmac_of_the_fixed_input() {
    let k = key("000102030405060708090a0b0c0d0e0f");
    let expected = cmac::<SoftAes>(&k, &[b"\x01ratchet\x00\x00\x00\x00\x07\x00\x80"]);
    assert_eq!(
        kdf::<SoftAes>(&k, b"ratchet", &[&7u32.to_be_bytes()]).0,
        expected
    );
    assert_eq!(
        kdf::<SoftAes>(&k, b"ratchet", &[&[0, 0], &[0, 7]]).0,
        expected
    );
    assert_ne!(
        kdf::<SoftAes>(&k, b"ratchet", &[&8u32.to_be_bytes()]).0,
        expected
    );
    assert_ne!(
        kdf::<SoftAes>(&k, b"transfer", &[&7u32.to_be_bytes()]).0,
        expected
    );
}

/// RFC 3610 packet vector #1 (8-byte header as associated data, 13-byte nonce, 8-byte tag).
#[test]
fn ccm_rfc3610_vector_1() {
    let k = key("c0c1c2c3 c4c5c6c7 c8c9cacb cccdcecf");
    let nonce: [u8; 13] = hex("00000003 020100a0 a1a2a3a4 a5").try_into().unwrap();
    let aad = hex("00010203 04050607");
    let plain = hex("08090a0b 0c0d0e0f 10111213 14151617 18191a1b 1c1d1e");
    let mut buf = plain.clone();
    let tag = seal::<SoftAes>(&k, &nonce, &aad, &mut buf);
    assert_eq!(
        buf,
        hex("588c979a 61c663d2 f066d0c2 c0f98980 6d5f6b61 dac384")
    );
    assert_eq!(tag.to_vec(), hex("17e8d12c fdf926e0"));
    let sealed = buf.clone();
    open::<SoftAes>(&k, &nonce, &aad, &mut buf, &tag).unwrap();
    assert_eq!(buf, plain);
    // Any change fails: ciphertext, tag, associated data, nonce, key.
    for i in 0..sealed.len() {
        let mut c = sealed.clone();
        c[i] ^= 1;
        assert_eq!(open::<SoftAes>(&k, &nonce, &aad, &mut c, &tag), Err(BadTag));
    }
    let mut bad_tag = tag;
    bad_tag[7] ^= 0x80;
    assert!(open::<SoftAes>(&k, &nonce, &aad, &mut sealed.clone(), &bad_tag).is_err());
    assert!(open::<SoftAes>(&k, &nonce, &aad[..7], &mut sealed.clone(), &tag).is_err());
    let mut n2 = nonce;
    n2[12] ^= 1;
    assert!(open::<SoftAes>(&k, &n2, &aad, &mut sealed.clone(), &tag).is_err());
    assert!(open::<SoftAes>(&Key::ZERO, &nonce, &aad, &mut sealed.clone(), &tag).is_err());
    // An empty plaintext gives a bare tag, as Confirm uses it.
    let t = seal::<SoftAes>(&k, &nonce, &aad, &mut []);
    assert!(open::<SoftAes>(&k, &nonce, &aad, &mut [], &t).is_ok());
}

#[test]
fn ct_eq_compares() {
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
    assert!(ct_eq(b"", b""));
}

struct CountingRng(u8);
impl Random for CountingRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

#[cfg(feature = "soft-ecc")]
#[test]
fn soft_ecdh_agrees_and_rejects_bad_points() {
    let mut ecc = SoftEcdh;
    let mut rng = CountingRng(0);
    let (a, pa) = ecc.generate(&mut rng).unwrap();
    let (b, pb) = ecc.generate(&mut rng).unwrap();
    assert_ne!(pa, pb);
    let z1 = ecc.agree(&a, &pb).unwrap();
    let z2 = ecc.agree(&b, &pa).unwrap();
    assert_eq!(z1.0, z2.0);
    assert_eq!(ecc.agree(&a, &[0; 64]).err(), Some(EccError::InvalidPoint));
    let mut off_curve = pb;
    off_curve[63] ^= 1;
    assert_eq!(
        ecc.agree(&a, &off_curve).err(),
        Some(EccError::InvalidPoint)
    );
}

/// A platform CCM engine plugged in through `Aes128Block::ccm8_seal`/`ccm8_open` is what
/// `seal` and `open` use (here one that counts its calls and runs the default underneath).
#[test]
fn a_ccm_engine_can_be_plugged_in() {
    use std::cell::Cell;
    std::thread_local!(static CALLS: Cell<u32> = const { Cell::new(0) });
    struct Engine(SoftAes);
    impl Aes128Block for Engine {
        fn new(key: &[u8; 16]) -> Self {
            Engine(SoftAes::new(key))
        }
        fn encrypt_block(&self, block: &mut [u8; 16]) {
            self.0.encrypt_block(block)
        }
        fn ccm8_seal(key: &[u8; 16], nonce: &[u8; 13], aad: &[u8], buf: &mut [u8]) -> [u8; 8] {
            CALLS.with(|c| c.set(c.get() + 1));
            SoftAes::ccm8_seal(key, nonce, aad, buf)
        }
        fn ccm8_open(
            key: &[u8; 16],
            nonce: &[u8; 13],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; 8],
        ) -> Result<(), BadTag> {
            CALLS.with(|c| c.set(c.get() + 1));
            SoftAes::ccm8_open(key, nonce, aad, buf, tag)
        }
    }
    let k = key("c0c1c2c3 c4c5c6c7 c8c9cacb cccdcecf");
    let nonce: [u8; 13] = hex("00000003 020100a0 a1a2a3a4 a5").try_into().unwrap();
    let mut buf = hex("08090a0b 0c0d0e0f 10111213 14151617 18191a1b 1c1d1e");
    let tag = seal::<Engine>(&k, &nonce, &hex("00010203 04050607"), &mut buf);
    assert_eq!(tag.to_vec(), hex("17e8d12c fdf926e0"));
    open::<Engine>(&k, &nonce, &hex("00010203 04050607"), &mut buf, &tag).unwrap();
    assert_eq!(CALLS.with(|c| c.get()), 2);
    // CMAC runs on the block function alone.
    assert_eq!(
        cmac::<Engine>(&key("2b7e1516 28aed2a6 abf71588 09cf4f3c"), &[]).to_vec(),
        hex("bb1d6929 e9593728 7fa37d12 9b756746")
    );
}

mod against_rustcrypto {
    use super::*;
    use ::ccm::aead::AeadInOut;
    use ::ccm::consts::{U8, U12, U13, U16};
    use cipher::KeyInit;
    use cmac::Mac;
    use proptest::prelude::*;

    /// The `ccm` crate's CCM with an `$m`-byte tag and an `$n`-byte nonce: seals `$buf` in
    /// place, returns the tag.
    macro_rules! reference_seal {
        ($m:ty, $n:ty, $key:expr, $nonce:expr, $aad:expr, $buf:expr) => {{
            let aead = ::ccm::Ccm::<aes::Aes128, $m, $n>::new((&$key).into());
            let nonce =
                ::ccm::aead::Nonce::<::ccm::Ccm<aes::Aes128, $m, $n>>::try_from($nonce).unwrap();
            aead.encrypt_inout_detached(&nonce, $aad, $buf.into())
                .unwrap()
                .to_vec()
        }};
    }

    proptest! {
        #[test]
        fn cmac_matches(key in any::<[u8; 16]>(), parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4)) {
            let mut reference = <cmac::Cmac<aes::Aes128> as KeyInit>::new((&key).into());
            for p in &parts {
                reference.update(p);
            }
            let refs: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
            prop_assert_eq!(
                cmac::<SoftAes>(&Key(key), &refs).to_vec(),
                reference.finalize().into_bytes().to_vec()
            );
        }

        #[test]
        fn ccm_matches_and_opens(
            key in any::<[u8; 16]>(),
            nonce in any::<[u8; 13]>(),
            aad in prop::collection::vec(any::<u8>(), 0..40),
            msg in prop::collection::vec(any::<u8>(), 0..70),
            flip in any::<usize>(),
        ) {
            let cipher = SoftAes::new(&key);
            // CCM-8, 13-byte nonce (the association); CCM-8 and CCM-16, 12-byte nonce (records).
            let mut ours = msg.clone();
            let tag = ccm_seal::<SoftAes, 8>(&cipher, &nonce, &aad, &mut ours).unwrap();
            let mut theirs = msg.clone();
            let their_tag = reference_seal!(U8, U13, key, &nonce[..], &aad, &mut theirs[..]);
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(tag.to_vec(), their_tag);
            let mut ours12 = msg.clone();
            let tag12 = ccm_seal::<SoftAes, 16>(&cipher, &nonce[..12], &aad, &mut ours12).unwrap();
            let mut theirs12 = msg.clone();
            let their_tag12 = reference_seal!(U16, U12, key, &nonce[..12], &aad, &mut theirs12[..]);
            prop_assert_eq!(&ours12, &theirs12);
            prop_assert_eq!(tag12.to_vec(), their_tag12);
            let mut ours8 = msg.clone();
            let tag8 = ccm_seal::<SoftAes, 8>(&cipher, &nonce[..12], &aad, &mut ours8).unwrap();
            let mut theirs8 = msg.clone();
            prop_assert_eq!(tag8.to_vec(), reference_seal!(U8, U12, key, &nonce[..12], &aad, &mut theirs8[..]));
            // Opens what it sealed; a changed bit anywhere fails and wipes the buffer.
            let mut opened = ours.clone();
            prop_assert!(ccm_open::<SoftAes, 8>(&cipher, &nonce, &aad, &mut opened, &tag).is_ok());
            prop_assert_eq!(&opened, &msg);
            let mut bad_tag = tag;
            bad_tag[flip % 8] ^= 1 << (flip % 7);
            let mut wiped = ours.clone();
            prop_assert_eq!(ccm_open::<SoftAes, 8>(&cipher, &nonce, &aad, &mut wiped, &bad_tag), Err(BadTag));
            prop_assert!(wiped.iter().all(|b| *b == 0));
            if !ours.is_empty() {
                let mut changed = ours.clone();
                changed[flip % ours.len()] ^= 0x80;
                prop_assert!(ccm_open::<SoftAes, 8>(&cipher, &nonce, &aad, &mut changed, &tag).is_err());
            }
        }
    }

    #[test]
    fn ccm_refuses_lengths_it_cannot_encode() {
        let cipher = SoftAes::new(&[0; 16]);
        let mut buf = [0u8; 4];
        assert!(ccm_seal::<SoftAes, 8>(&cipher, &[0; 6], &[], &mut buf).is_none());
        assert!(ccm_seal::<SoftAes, 8>(&cipher, &[0; 14], &[], &mut buf).is_none());
        assert!(ccm_seal::<SoftAes, 7>(&cipher, &[0; 13], &[], &mut buf).is_none());
        assert!(ccm_seal::<SoftAes, 8>(&cipher, &[0; 13], &[0; 0xff00], &mut buf).is_none());
        assert_eq!(
            ccm_open::<SoftAes, 8>(&cipher, &[0; 14], &[], &mut buf, &[0; 8]),
            Err(BadTag)
        );
    }
}
