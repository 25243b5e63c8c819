use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Runs one AEAD with a full 12-byte nonce, for the published vectors.
fn encrypt(
    aead: RecordAead,
    key: &[u8],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let c = RecordCipher::new(aead, key, &nonce[..aead.iv_len()]).unwrap();
    let mut buf = plaintext.to_vec();
    with_cipher!(&c.cipher, a => {
        let tag = a.encrypt_inout_detached(nonce.into(), aad, (&mut buf[..]).into()).unwrap();
        buf.extend_from_slice(&tag);
    });
    buf
}

#[test]
fn seal_open_round_trip_and_tamper() {
    let c = RecordCipher::new(RecordAead::Aes128Ccm8, &[7; 16], &[1, 2, 3, 4]).unwrap();
    let v = ProtocolVersion::DTLS1_2;
    let body = c
        .seal(1, 42, ContentType::ApplicationData, v, b"hello")
        .unwrap();
    assert_eq!(body.len(), 5 + CCM8_OVERHEAD);
    assert_eq!(&body[..8], &[0, 1, 0, 0, 0, 0, 0, 42]);
    assert_eq!(
        c.open(1, 42, ContentType::ApplicationData, v, &body)
            .unwrap(),
        b"hello"
    );
    // Any change to the header fields bound by the AAD fails.
    assert!(
        c.open(1, 43, ContentType::ApplicationData, v, &body)
            .is_err()
    );
    assert!(c.open(1, 42, ContentType::Handshake, v, &body).is_err());
    let mut t = body.clone();
    t[9] ^= 1;
    assert_eq!(
        c.open(1, 42, ContentType::ApplicationData, v, &t),
        Err(Error::DecryptFailed)
    );
    assert!(
        c.open(1, 42, ContentType::ApplicationData, v, &body[..10])
            .is_err()
    );
}

#[test]
fn every_aead_round_trips_and_refuses_tampering() {
    let v = ProtocolVersion::DTLS1_2;
    for aead in RecordAead::ALL {
        let key = vec![9; aead.key_len()];
        let iv = vec![3; aead.iv_len()];
        let c = RecordCipher::new(aead, &key, &iv).unwrap();
        let body = c
            .seal(1, 7, ContentType::ApplicationData, v, b"payload")
            .unwrap();
        assert_eq!(body.len(), 7 + aead.overhead(), "{aead:?}");
        assert!(aead.overhead() <= MAX_AEAD_OVERHEAD);
        assert_eq!(
            c.open(1, 7, ContentType::ApplicationData, v, &body)
                .unwrap(),
            b"payload"
        );
        assert!(
            c.open(1, 8, ContentType::ApplicationData, v, &body)
                .is_err(),
            "{aead:?}: sequence bound"
        );
        assert!(
            c.open(2, 7, ContentType::ApplicationData, v, &body)
                .is_err(),
            "{aead:?}: epoch bound"
        );
        for i in 0..body.len() {
            let mut t = body.clone();
            t[i] ^= 0x01;
            assert_eq!(
                c.open(1, 7, ContentType::ApplicationData, v, &t),
                Err(Error::DecryptFailed),
                "{aead:?} byte {i}"
            );
        }
        for n in 0..aead.overhead() {
            assert_eq!(
                c.open(1, 7, ContentType::ApplicationData, v, &body[..n]),
                Err(Error::DecryptFailed)
            );
        }
        assert!(RecordCipher::new(aead, &key[1..], &iv).is_err());
        assert!(RecordCipher::new(aead, &key, &iv[1..]).is_err());
    }
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
    let tag = aead
        .encrypt_inout_detached((&nonce).into(), &aad, (&mut buf[..]).into())
        .unwrap();
    let expected_c = [
        0xe3, 0xb2, 0x01, 0xa9, 0xf5, 0xb7, 0x1a, 0x7a, 0x9b, 0x1c, 0xea, 0xec, 0xcd, 0x97, 0xe7,
        0x0b, 0x61, 0x76, 0xaa, 0xd9, 0xa4, 0x42, 0x8a, 0xa5,
    ];
    assert_eq!(buf, expected_c);
    assert_eq!(
        tag.as_slice(),
        &[0x48, 0x43, 0x92, 0xfb, 0xc1, 0xb0, 0x99, 0x51]
    );
}

/// The inputs of NIST SP 800-38C example 3 with RFC 6655's 16-byte tag: the ciphertext is
/// the example's (CTR mode does not depend on the tag length); the tag was computed with
/// OpenSSL's AES-CCM.
#[test]
fn ccm16_nist_example_3_inputs() {
    let key: [u8; 16] = core::array::from_fn(|i| 0x40 + i as u8);
    let nonce: [u8; 12] = core::array::from_fn(|i| 0x10 + i as u8);
    let aad: [u8; 20] = core::array::from_fn(|i| i as u8);
    let pt: [u8; 24] = core::array::from_fn(|i| 0x20 + i as u8);
    let out = encrypt(RecordAead::Aes128Ccm, &key, &nonce, &aad, &pt);
    assert_eq!(
        out,
        hex("e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5 c87ae488918de93f17dd3e4934347f44")
    );
}

/// The GCM specification (McGrew and Viega), test case 4: AES-128, 96-bit IV, with AAD.
#[test]
fn gcm_test_case_4() {
    let key = hex("feffe9928665731c6d6a8f9467308308");
    let nonce: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
    let pt = hex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let out = encrypt(RecordAead::Aes128Gcm, &key, &nonce, &aad, &pt);
    let expected = hex(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091
         5bc94fbc3221a5db94fae95ae7121a47",
    );
    assert_eq!(out, expected);
}

/// RFC 8439 section 2.8.2: the AEAD_CHACHA20_POLY1305 example.
#[test]
fn chacha20_poly1305_rfc8439_2_8_2() {
    let key: Vec<u8> = (0x80..0xa0).collect();
    let nonce: [u8; 12] = hex("070000004041424344454647").try_into().unwrap();
    let aad = hex("50515253c0c1c2c3c4c5c6c7");
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let out = encrypt(RecordAead::Chacha20Poly1305, &key, &nonce, &aad, pt);
    let expected = hex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
         3ff4def08e4b7a9de576d26586cec64b6116
         1ae10b594f09e26a7e902ecbd0600691",
    );
    assert_eq!(out, expected);
}

/// One DTLS record body per AEAD (epoch 1, sequence 5, application data "hello"): the
/// nonce and AAD construction of RFC 6655 / RFC 5288 (salt || epoch||seq, carried
/// explicitly) and RFC 7905 (IV xor 0^4||epoch||seq, nothing explicit). Expected bodies
/// computed independently with OpenSSL's AEADs.
#[test]
fn record_nonce_construction() {
    let v = ProtocolVersion::DTLS1_2;
    let k16: Vec<u8> = (0..16).collect();
    let salt = [0xa0, 0xa1, 0xa2, 0xa3];
    let k32: Vec<u8> = (0..32).collect();
    let iv: Vec<u8> = (0xb0..0xbc).collect();
    let cases: [(RecordAead, &[u8], &[u8], &str); 4] = [
        (
            RecordAead::Aes128Ccm8,
            &k16,
            &salt,
            "0001000000000005 4498625bc0 bdfdedef2cbf7c99",
        ),
        (
            RecordAead::Aes128Ccm,
            &k16,
            &salt,
            "0001000000000005 4498625bc0 73d57b65a62b8745ed10ca40dba70d72",
        ),
        (
            RecordAead::Aes128Gcm,
            &k16,
            &salt,
            "0001000000000005 a46f3dea4b df91ed9f7ac22a9f5d500cb359deae1b",
        ),
        (
            RecordAead::Chacha20Poly1305,
            &k32,
            &iv,
            "0673d19661 fa24f20fd05a4078f566a11c3550782c",
        ),
    ];
    for (aead, key, iv, expected) in cases {
        let c = RecordCipher::new(aead, key, iv).unwrap();
        let body = c
            .seal(1, 5, ContentType::ApplicationData, v, b"hello")
            .unwrap();
        assert_eq!(body, hex(expected), "{aead:?}");
        assert_eq!(
            c.open(1, 5, ContentType::ApplicationData, v, &body)
                .unwrap(),
            b"hello"
        );
    }
}
