use super::*;
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

fn key_block<const K: usize, const I: usize>(seed: u8) -> KeyBlock<K, I> {
    KeyBlock {
        client_write_key: core::array::from_fn(|i| seed.wrapping_add(i as u8)),
        server_write_key: core::array::from_fn(|i| seed.wrapping_add(0x40 + i as u8)),
        client_write_iv: core::array::from_fn(|i| seed.wrapping_add(0x80 + i as u8)),
        server_write_iv: core::array::from_fn(|i| seed.wrapping_add(0xc0 + i as u8)),
    }
}

fn body(keys: SessionKeys, sequence: Option<SequenceNumbers>) -> TransferBody {
    TransferBody {
        keys,
        may_evict: true,
        client_addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        client_port: 40000,
        sequence,
        mote_is_client: false,
        resumption: None,
    }
}

fn all_bodies() -> Vec<TransferBody> {
    let seq = Some(SequenceNumbers {
        highest_received: 0x0000_1234_5678_9abc,
        next_write: 7,
    });
    let mut v = Vec::new();
    for s in [None, seq] {
        v.push(body(SessionKeys::Ccm8(key_block(1)), s));
        v.push(body(SessionKeys::Ccm(key_block(2)), s));
        v.push(body(SessionKeys::Gcm(key_block(3)), s));
        v.push(body(SessionKeys::ChaCha20Poly1305(key_block(4)), s));
    }
    v
}

#[test]
fn type_byte_and_version() {
    assert_eq!(message_type(&[0x11]), Ok(MessageType::AssocHello));
    assert_eq!(message_type(&[0x71]), Ok(MessageType::Poke));
    assert_eq!(message_type(&[0xa1]), Ok(MessageType::SignRequest));
    assert_eq!(message_type(&[0xb1]), Ok(MessageType::SignResponse));
    assert_eq!(message_type(&[0xf1]), Err(Error::UnknownType(15)));
    assert_eq!(message_type(&[0x01]), Err(Error::UnknownType(0)));
    assert_eq!(message_type(&[0x12]), Err(Error::UnknownVersion(2)));
    assert_eq!(message_type(&[]), Err(Error::Truncated));
    for t in 1..=7 {
        assert_eq!(MessageType::from_nibble(t).first_byte(), t << 4 | 1);
    }
}

#[test]
fn fixed_messages_round_trip_and_check_length() {
    let hello = AssocHelloRepr {
        e_m: core::array::from_fn(|i| i as u8),
        tag: [0xaa; 8],
    };
    let accept = AssocAcceptRepr {
        id: 0x5c,
        e_s: core::array::from_fn(|i| 0xff - i as u8),
        tag: [0xbb; 8],
    };
    let ready = AssocReadyRepr {
        id: 0x5c,
        free_slots: 3,
        suites: SuiteSet(0b0101),
        tag: [0xcc; 8],
    };
    let confirm = ConfirmRepr {
        id: 9,
        n: 0x0102_0304,
        status: ConfirmStatus::Full,
        free_slots: 0,
        tag: [1; 8],
    };
    let unassoc = UnassociatedRepr {
        id: 9,
        n: 77,
        reason: UnassociatedReason::TooFarAhead,
        tag: [2; 8],
    };
    let poke = PokeRepr {
        epoch: 0x0102_0304,
        tag: [3; 8],
    };
    let connect = ConnectRepr {
        id: 9,
        r: 0x0a0b_0c0d,
        server_addr: core::array::from_fn(|i| 0x30 + i as u8),
        server_port: 5684,
        tag: [4; 8],
    };
    let connect_failed = ConnectFailedRepr {
        id: 9,
        r: 3,
        reason: ConnectFailure::NotPermitted,
        tag: [5; 8],
    };
    let sign_request = SignRequestRepr {
        id: 9,
        q: 0x0102_0304,
        purpose: SignPurpose::CertificateVerify,
        digest: core::array::from_fn(|i| 0x40 + i as u8),
        tag: [6; 8],
    };
    let sign_response = SignResponseRepr {
        id: 9,
        q: 0x0102_0304,
        status: SignStatus::Signed,
        signature: core::array::from_fn(|i| 0x80 + i as u8),
        tag: [7; 8],
    };
    let cases: Vec<(Message, Vec<u8>)> = vec![
        (
            Message::SignRequest(sign_request),
            sign_request.to_bytes().to_vec(),
        ),
        (
            Message::SignResponse(sign_response),
            sign_response.to_bytes().to_vec(),
        ),
        (Message::Connect(connect), connect.to_bytes().to_vec()),
        (
            Message::ConnectFailed(connect_failed),
            connect_failed.to_bytes().to_vec(),
        ),
        (
            Message::AssocHello(hello.clone()),
            hello.to_bytes().to_vec(),
        ),
        (
            Message::AssocAccept(accept.clone()),
            accept.to_bytes().to_vec(),
        ),
        (Message::AssocReady(ready), ready.to_bytes().to_vec()),
        (Message::Confirm(confirm), confirm.to_bytes().to_vec()),
        (Message::Unassociated(unassoc), unassoc.to_bytes().to_vec()),
        (Message::Poke(poke), poke.to_bytes().to_vec()),
    ];
    for (m, bytes) in cases {
        assert_eq!(Message::parse(&bytes).unwrap(), m);
        assert_eq!(m.buffer_len(), bytes.len());
        let mut out = vec![0u8; bytes.len()];
        assert_eq!(m.emit(&mut out), Some(bytes.len()));
        assert_eq!(out, bytes);
        assert_eq!(m.emit(&mut out[..bytes.len() - 1]), None);
        assert_eq!(
            Message::parse(&bytes[..bytes.len() - 1]),
            Err(Error::Truncated)
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Message::parse(&longer), Err(Error::TooLong));
    }
    // Exact byte positions (the doc's tables).
    let b = sign_request.to_bytes();
    assert_eq!(&b[..8], &[0xa1, 9, 1, 2, 3, 4, 1, 0x40]);
    assert_eq!(b[38], 0x40 + 31);
    let b = sign_response.to_bytes();
    assert_eq!(&b[..8], &[0xb1, 9, 1, 2, 3, 4, 0, 0x80]);
    assert_eq!(b[70], 0x80 + 63);
    assert_eq!(&b[71..], &[7; 8]);
    let b = confirm.to_bytes();
    assert_eq!(&b[..8], &[0x51, 9, 1, 2, 3, 4, 1, 0]);
    let b = unassoc.to_bytes();
    assert_eq!(&b[..7], &[0x61, 9, 0, 0, 0, 77, 2]);
    assert_eq!(&ready.to_bytes()[..4], &[0x31, 0x5c, 3, 5]);
    assert_eq!(&poke.to_bytes()[..5], &[0x71, 1, 2, 3, 4]);
    let b = connect.to_bytes();
    assert_eq!(&b[..7], &[0x81, 9, 0x0a, 0x0b, 0x0c, 0x0d, 0x30]);
    assert_eq!(&b[21..24], &[0x3f, 0x16, 0x34]);
    assert_eq!(&b[24..], &[4; 8]);
    assert_eq!(&connect_failed.to_bytes()[..7], &[0x91, 9, 0, 0, 0, 3, 0]);
    assert_eq!(&accept.to_bytes()[..3], &[0x21, 0x5c, 0xff]);
    assert_eq!(
        AssocHello::new_checked(&accept.to_bytes()[..]).err(),
        Some(Error::WrongType(MessageType::AssocAccept))
    );
}

#[test]
fn unknown_field_values_are_kept() {
    let mut b = ConfirmRepr {
        id: 1,
        n: 1,
        status: ConfirmStatus::Installed,
        free_slots: 1,
        tag: [0; 8],
    }
    .to_bytes();
    b[6] = 9;
    let r = ConfirmRepr::parse(&Confirm::new_checked(&b[..]).unwrap()).unwrap();
    assert_eq!(r.status, ConfirmStatus::Unknown(9));
    assert_eq!(r.to_bytes(), b);
    let mut u = UnassociatedRepr {
        id: 1,
        n: 0,
        reason: UnassociatedReason::NoSuchAssociation,
        tag: [0; 8],
    }
    .to_bytes();
    u[6] = 200;
    assert_eq!(
        UnassociatedRepr::parse(&Unassociated::new_unchecked(&u[..]))
            .unwrap()
            .reason,
        UnassociatedReason::Unknown(200)
    );
}

#[test]
fn transfer_bodies_round_trip_with_their_lengths() {
    for b in all_bodies() {
        let mut buf = vec![0u8; b.buffer_len()];
        b.emit(&mut buf);
        assert_eq!(TransferBody::parse(&buf).unwrap(), b);
        let expected = match (b.suite(), b.sequence.is_some()) {
            (Suite::ChaCha20Poly1305, false) => 108,
            (Suite::ChaCha20Poly1305, true) => 120,
            (_, false) => 60,
            (_, true) => 72,
        };
        assert_eq!(buf.len(), expected);
        assert_eq!(buf[0], b.suite().code());
        assert_eq!(buf[1], if b.sequence.is_some() { 3 } else { 2 });
        assert_eq!(&buf[18..20], &40000u16.to_be_bytes());
        assert_eq!(
            TransferBody::parse(&buf[..buf.len() - 1]),
            Err(Error::Truncated)
        );
        let mut longer = buf.clone();
        longer.push(0);
        assert_eq!(TransferBody::parse(&longer), Err(Error::TooLong));
        let mut reserved = buf.clone();
        reserved[1] |= 0x20;
        assert_eq!(TransferBody::parse(&reserved), Err(Error::Malformed));
        let mut suite = buf.clone();
        suite[0] = 4;
        assert_eq!(TransferBody::parse(&suite), Err(Error::Malformed));
    }
    assert_eq!(TransferBody::parse(&[]), Err(Error::Truncated));
    let b = body(SessionKeys::Ccm8(key_block(0)), None);
    assert_eq!(b.sequence_numbers(), SequenceNumbers::DEFAULT);
}

#[test]
fn transfer_view_lengths() {
    let resumable = TransferBody::LENGTHS.iter().flat_map(|b| {
        [
            b + TransferBody::RESUMPTION_MIN_LEN,
            b + TransferBody::RESUMPTION_MAX_LEN,
        ]
    });
    for body_len in TransferBody::LENGTHS.into_iter().chain(resumable) {
        assert!(TransferBody::is_possible_len(body_len));
        let mut t = vec![0u8; 6 + body_len + 8];
        t[0] = 0x41;
        t[1] = 7;
        t[2..6].copy_from_slice(&5u32.to_be_bytes());
        let r = TransferRepr::parse(&Transfer::new_checked(&t[..]).unwrap()).unwrap();
        assert_eq!((r.id, r.n, r.sealed.len()), (7, 5, body_len + 8));
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut Transfer::new_unchecked(&mut out[..]));
        assert_eq!(out, t);
        t.pop();
        // One byte short is refused unless it is the length of another body (a resumption
        // block's id has any length from 1 to 32, so the ranges of the suites overlap).
        assert_eq!(
            Transfer::new_checked(&t[..]).is_err(),
            !TransferBody::is_possible_len(body_len - 1),
            "{body_len}"
        );
    }
    assert_eq!(
        Transfer::new_checked(&[0x41u8; 6][..]).err(),
        Some(Error::Truncated)
    );
    assert_eq!(
        Transfer::new_checked(&[0x41u8; 300][..]).err(),
        Some(Error::TooLong)
    );
    assert!(!TransferBody::is_possible_len(TransferBody::AES_LEN - 1));
    assert!(!TransferBody::is_possible_len(TransferBody::AES_LEN + 1));
    // Between the bodies without a resumption block and those with one.
    let mut t = [0u8; 6 + TransferBody::AES_LEN + 20 + 8];
    t[0] = 0x41;
    assert_eq!(Transfer::new_checked(&t[..]).err(), Some(Error::Malformed));
}

#[test]
fn resumable_bodies_round_trip_with_their_lengths() {
    for (id_len, ems) in [(1usize, false), (16, true), (32, false)] {
        for mut b in all_bodies() {
            let id: Vec<u8> = (0..id_len as u8).collect();
            b.resumption = Some(Resumption::new(&id, [0x5a; 48], ems, 3600).unwrap());
            let mut buf = vec![0u8; b.buffer_len()];
            b.emit(&mut buf);
            assert_eq!(TransferBody::parse(&buf).unwrap(), b);
            let plain = b.buffer_len() - 53 - id_len;
            assert_eq!(buf[1] & 0x18, if ems { 0x18 } else { 0x08 });
            assert_eq!(&buf[plain..plain + 4], &3600u32.to_be_bytes());
            assert_eq!(usize::from(buf[plain + 4]), id_len);
            assert_eq!(&buf[plain + 5..plain + 5 + id_len], &id[..]);
            assert_eq!(&buf[plain + 5 + id_len..], &[0x5a; 48]);
            assert_eq!(
                TransferBody::parse(&buf[..buf.len() - 1]),
                Err(Error::Truncated)
            );
            let mut longer = buf.clone();
            longer.push(0);
            assert_eq!(TransferBody::parse(&longer), Err(Error::TooLong));
            let mut empty_id = buf.clone();
            empty_id[plain + 4] = 0;
            assert_eq!(TransferBody::parse(&empty_id), Err(Error::Malformed));
            let mut long_id = buf.clone();
            long_id[plain + 4] = 33;
            assert_eq!(TransferBody::parse(&long_id), Err(Error::Malformed));
            assert!(
                !std::format!("{b:?}").contains("90, 90"),
                "the master secret is redacted"
            );
        }
    }
    // The extended-master-secret flag without the resumption flag is malformed.
    let b = body(SessionKeys::Ccm8(key_block(1)), None);
    let mut buf = vec![0u8; b.buffer_len()];
    b.emit(&mut buf);
    buf[1] |= 0x10;
    assert_eq!(TransferBody::parse(&buf), Err(Error::Malformed));
    assert!(Resumption::new(&[], [0; 48], false, 1).is_none());
    assert!(Resumption::new(&[0; 33], [0; 48], false, 1).is_none());
}

/// Every message but a ChaCha20 Transfer, and a Transfer with explicit sequence numbers,
/// fits in the 79 bytes a 127-byte frame leaves with a remote IoTSSP (the doc's figure).
#[test]
fn frame_budget() {
    const BUDGET: usize = 79;
    for len in [
        AssocHello::<&[u8]>::LEN,
        AssocAccept::<&[u8]>::LEN,
        AssocReady::<&[u8]>::LEN,
        Confirm::<&[u8]>::LEN,
        Unassociated::<&[u8]>::LEN,
        Poke::<&[u8]>::LEN,
        Transfer::<&[u8]>::MIN_LEN,
        SignRequest::<&[u8]>::LEN,
        SignResponse::<&[u8]>::LEN,
    ] {
        assert!(len <= BUDGET, "{len} bytes");
    }
    assert_eq!(Transfer::<&[u8]>::MIN_LEN, 74);
    // A ChaCha20 body with sequence numbers and a resumable session of a 32-byte id.
    assert_eq!(Transfer::<&[u8]>::MAX_LEN, 219);
    // A signature fills the frame exactly.
    assert_eq!(SignResponse::<&[u8]>::LEN, BUDGET);
}

#[test]
fn unchecked_views_never_panic() {
    let short = [0x41u8, 1];
    let t = Transfer::new_unchecked(&short[..]);
    assert_eq!((t.id(), t.n(), t.sealed().len()), (1, 0, 0));
    let h = AssocHello::new_unchecked(&short[..]);
    // Bytes past the end read as zeros.
    let mut e_m = [0; 64];
    e_m[0] = 1;
    assert_eq!(h.e_m(), e_m);
    let mut tiny = [0u8; 3];
    let mut c = Confirm::new_unchecked(&mut tiny[..]);
    c.set_n(5);
    c.set_tag(&[1; 8]);
    c.set_id(4);
    assert_eq!(tiny, [0, 4, 0]);
}

fn suite_keys() -> impl Strategy<Value = SessionKeys> {
    (0u8..4, any::<u8>()).prop_map(|(s, seed)| match s {
        0 => SessionKeys::Ccm8(key_block(seed)),
        1 => SessionKeys::Ccm(key_block(seed)),
        2 => SessionKeys::Gcm(key_block(seed)),
        _ => SessionKeys::ChaCha20Poly1305(key_block(seed)),
    })
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
        if let Ok(m) = Message::parse(&bytes) {
            let mut out = vec![0u8; m.buffer_len()];
            prop_assert_eq!(m.emit(&mut out), Some(bytes.len()));
            prop_assert_eq!(out, bytes.clone());
        }
        if let Ok(b) = TransferBody::parse(&bytes) {
            let mut out = vec![0u8; b.buffer_len()];
            b.emit(&mut out);
            prop_assert_eq!(out, bytes.clone());
        }
        let _ = Transfer::new_checked(&bytes[..]);
        let v = Transfer::new_unchecked(&bytes[..]);
        let _ = (v.id(), v.n(), v.header(), v.sealed());
        let _ = AssocHello::new_checked(&bytes[..]).map(|v| (v.e_m(), v.tag()));
        let _ = AssocAccept::new_checked(&bytes[..]).map(|v| (v.id(), v.e_s(), v.tag()));
        let _ = AssocReady::new_checked(&bytes[..]).map(|v| (v.id(), v.free_slots(), v.suites()));
        let _ = Confirm::new_checked(&bytes[..]).map(|v| (v.id(), v.n(), v.status(), v.free_slots()));
        let _ = Unassociated::new_checked(&bytes[..]).map(|v| (v.id(), v.n(), v.reason()));
        let _ = Poke::new_checked(&bytes[..]).map(|v| (v.epoch(), v.authenticated().len()));
    }

    #[test]
    fn bodies_round_trip(keys in suite_keys(), evict: bool, client: bool, addr: [u8; 16], port: u16,
                         seq in proptest::option::of((0u64..1 << 48, 0u64..1 << 48)),
                         resumption in proptest::option::of((proptest::collection::vec(any::<u8>(), 1..=32),
                                                             any::<[u8; 48]>(), any::<bool>(), any::<u32>()))) {
        let b = TransferBody {
            keys, may_evict: evict, client_addr: addr, client_port: port,
            sequence: seq.map(|(h, n)| SequenceNumbers { highest_received: h, next_write: n }),
            mote_is_client: client,
            resumption: resumption.map(|(id, ms, ems, life)| Resumption::new(&id, ms, ems, life).unwrap()),
        };
        let mut out = vec![0u8; b.buffer_len()];
        b.emit(&mut out);
        prop_assert_eq!(TransferBody::parse(&out).unwrap(), b);
    }
}
