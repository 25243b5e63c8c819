use super::*;
use proptest::prelude::*;

/// The protocol document; its "Example" hex dumps are the test vectors below.
const DOC: &str = include_str!("../../../docs/session-transfer.md");

const STT_OFFER: [u8; 2] = [0x01, 0x01];
const STT_ANSWER: [u8; 3] = [0x01, 0x00, 0x03];
#[rustfmt::skip]
const TRANSFER_SESSION: [u8; 97] = [
    0x01, 0x01, 0x1a, 0x2b, 0x3c, 0x4d, 0xc0, 0xae,
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    0x9c, 0x40, 0x16, 0x34, 0x04, 0x5e, 0x55, 0x10, 0x01,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
    0x00, 0x01, 0, 0, 0, 0, 0, 0x05,
    0, 0, 0, 0, 0, 0, 0, 0x0f,
    0x00, 0x01, 0, 0, 0, 0, 0, 0x01,
];
/// Key check computed independently (Python's hmac) for the doc.
const TRANSFER_CONFIRM: [u8; 15] = [
    0x02, 0x01, 0x1a, 0x2b, 0x3c, 0x4d, 0x00, 0x27, 0x6c, 0x21, 0xf3, 0x8e, 0xbc, 0x16, 0x05,
];

/// The hex dump of the doc's code block tagged ```` ```text <tag> ````.
fn doc_example(tag: &str) -> Vec<u8> {
    let start = DOC
        .find(&format!("```text {tag}\n"))
        .unwrap_or_else(|| panic!("doc has no example {tag}"));
    let body = &DOC[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join(" ");
    body.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

#[test]
fn test_vectors_are_the_docs() {
    assert_eq!(doc_example("stt-offer"), STT_OFFER);
    assert_eq!(doc_example("stt-answer"), STT_ANSWER);
    assert_eq!(doc_example("transfer-session"), TRANSFER_SESSION);
    assert_eq!(doc_example("transfer-confirm"), TRANSFER_CONFIRM);
}

fn example_session() -> TransferSessionRepr {
    TransferSessionRepr {
        transfer_id: 0x1a2b3c4d,
        cipher_suite: 0xc0ae,
        peer_addr: "2001:db8::2".parse().unwrap(),
        peer_port: 40000,
        local_port: 5684,
        session_id: vec![0x5e, 0x55, 0x10, 0x01],
        keys: SessionKeys::new(
            RecordAead::Aes128Ccm8,
            &std::array::from_fn::<u8, 16, _>(|i| i as u8),
            &std::array::from_fn::<u8, 16, _>(|i| 0x10 + i as u8),
            &[0x20, 0x21, 0x22, 0x23],
            &[0x24, 0x25, 0x26, 0x27],
        )
        .unwrap(),
        read_epoch: 1,
        read_highest_seq: 5,
        read_replay_bitmap: 0x0f,
        write_epoch: 1,
        next_write_seq: 1,
    }
}

#[test]
fn stt_offer_vector() {
    let v = SttOffer::new_checked(&STT_OFFER[..]).unwrap();
    assert_eq!((v.version(), v.flags()), (1, 1));
    let r = SttOfferRepr::parse(&v).unwrap();
    assert_eq!(
        r,
        SttOfferRepr {
            transfer_requested: true
        }
    );
    assert_eq!(r.to_bytes(), STT_OFFER);
    assert_eq!(
        r.to_extension(),
        Extension {
            typ: 0xff5a,
            data: STT_OFFER.to_vec()
        }
    );
    assert_eq!(SttOfferRepr::find(&[r.to_extension()]), Some(Ok(r)));
    assert_eq!(SttOfferRepr::find(&[]), None);
}

#[test]
fn stt_answer_vector() {
    let r = SttAnswerRepr::parse(&SttAnswer::new_checked(&STT_ANSWER[..]).unwrap()).unwrap();
    assert_eq!(
        r,
        SttAnswerRepr {
            status: SttStatus::Accept,
            free_slots: 3
        }
    );
    assert_eq!(r.to_bytes(), STT_ANSWER);
    assert_eq!(
        SttAnswerRepr::parse(&SttAnswer::new_unchecked(&[1u8, 7, 0][..]))
            .unwrap()
            .status,
        SttStatus::Unknown(7)
    );
}

#[test]
fn stt_bad_inputs() {
    assert_eq!(
        SttOffer::new_checked(&[1u8][..]).unwrap_err(),
        TransferError::Truncated
    );
    assert_eq!(
        SttOfferRepr::parse(&SttOffer::new_unchecked(&[2u8, 1][..])),
        Err(TransferError::UnsupportedVersion)
    );
    assert_eq!(
        SttOfferRepr::parse(&SttOffer::new_unchecked(&[1u8, 1, 0][..])),
        Err(TransferError::TrailingData)
    );
    assert_eq!(
        SttAnswerRepr::parse(&SttAnswer::new_unchecked(&[1u8, 0][..])),
        Err(TransferError::Truncated)
    );
    assert_eq!(
        SttAnswerRepr::parse(&SttAnswer::new_unchecked(&[0u8, 0, 0][..])),
        Err(TransferError::UnsupportedVersion)
    );
}

#[test]
fn transfer_session_vector() {
    let v = TransferSession::new_checked(&TRANSFER_SESSION[..]).unwrap();
    assert_eq!(v.total_len(), 97);
    assert_eq!(v.session_id(), [0x5e, 0x55, 0x10, 0x01]);
    assert_eq!(v.read_highest_seq(), 5);
    assert_eq!(v.next_write_seq(), 1);
    let r = TransferSessionRepr::parse(&v).unwrap();
    assert_eq!(r, example_session());
    assert_eq!(
        r.peer(),
        "[2001:db8::2]:40000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(r.buffer_len(), 97);
    assert_eq!(&r.to_bytes()[..], &TRANSFER_SESSION[..]);
    assert_eq!(
        TransferMessage::parse(&TRANSFER_SESSION),
        Ok(TransferMessage::Session(r))
    );
}

#[test]
fn transfer_confirm_vector_and_key_check() {
    let s = example_session();
    assert_eq!(s.key_check(), TRANSFER_CONFIRM[7..]);
    let r =
        TransferConfirmRepr::parse(&TransferConfirm::new_checked(&TRANSFER_CONFIRM[..]).unwrap())
            .unwrap();
    assert_eq!(r, TransferConfirmRepr::answer(&s, ConfirmStatus::Installed));
    assert_eq!(r.to_bytes(), TRANSFER_CONFIRM);
    assert!(r.confirms(&s));
    // Other keys, another transfer, or a refusal do not confirm.
    let mut other = s.clone();
    let mut swk = other.keys.server_write_key().to_vec();
    swk[15] ^= 1;
    other.keys = SessionKeys::new(
        RecordAead::Aes128Ccm8,
        other.keys.client_write_key(),
        &swk,
        other.keys.client_iv(),
        other.keys.server_iv(),
    )
    .unwrap();
    assert!(!r.confirms(&other));
    let mut other = s.clone();
    other.transfer_id += 1;
    assert!(!r.confirms(&other));
    assert!(
        !TransferConfirmRepr {
            status: ConfirmStatus::Busy,
            ..r
        }
        .confirms(&s)
    );
    assert_eq!(
        TransferMessage::parse(&TRANSFER_CONFIRM),
        Ok(TransferMessage::Confirm(r))
    );
}

#[test]
fn transfer_session_bad_inputs() {
    let t = &TRANSFER_SESSION;
    assert_eq!(
        TransferSession::new_checked(&t[..28]).unwrap_err(),
        TransferError::Truncated
    );
    assert_eq!(
        TransferSession::new_checked(&t[..96]).unwrap_err(),
        TransferError::Truncated
    );
    let mut long = t.to_vec();
    long.push(0);
    assert_eq!(
        TransferSessionRepr::parse(&TransferSession::new_unchecked(&long)),
        Err(TransferError::TrailingData)
    );
    let mut bad = t.to_vec();
    bad[28] = 33;
    bad.resize(200, 0);
    assert_eq!(
        TransferSession::new_checked(&bad).unwrap_err(),
        TransferError::BadSessionIdLength
    );
    let mut bad = t.to_vec();
    bad[1] = 2;
    assert_eq!(
        TransferSessionRepr::parse(&TransferSession::new_unchecked(&bad)),
        Err(TransferError::UnsupportedVersion)
    );
    let mut bad = t.to_vec();
    bad[0] = 2;
    assert_eq!(
        TransferSessionRepr::parse(&TransferSession::new_unchecked(&bad)),
        Err(TransferError::BadMessageType)
    );
    assert_eq!(TransferMessage::parse(&[]), Err(TransferError::Truncated));
    assert_eq!(
        TransferMessage::parse(&[9]),
        Err(TransferError::BadMessageType)
    );
    assert_eq!(
        TransferMessage::parse(&TRANSFER_CONFIRM[..14]),
        Err(TransferError::Truncated)
    );
}

#[test]
fn session_state_conversions() {
    let s = example_session();
    let state = s.session_state().unwrap();
    assert_eq!(state.role, Role::Server);
    assert_eq!(state.read_highest_seq, Some(5));
    // Record-layer bitmap: bit 0 is 5 itself, bits 1..=4 are 4..=1.
    assert_eq!(state.read_replay_bitmap, 0x1f);
    let peer = s.peer();
    let back = TransferSessionRepr::from_session(
        &state,
        CipherSuite::EcdheEcdsaAes128Ccm8,
        peer,
        5684,
        &s.session_id,
        s.transfer_id,
    )
    .unwrap();
    assert_eq!(back, s);

    // The mote's record layer refuses what the IoTSSP already saw and accepts what is new.
    let window =
        crate::record::ReplayWindow::from_parts(state.read_highest_seq, state.read_replay_bitmap);
    assert!(window.check(5).is_err() && window.check(4).is_err() && window.check(1).is_err());
    assert!(window.check(0).is_ok() && window.check(6).is_ok());

    let mut client_state = state.clone();
    client_state.role = Role::Client;
    assert_eq!(
        TransferSessionRepr::from_session(
            &client_state,
            CipherSuite::EcdheEcdsaAes128Ccm8,
            peer,
            5684,
            &[],
            1
        ),
        Err(TransferError::WrongRole)
    );
    let mut empty = state.clone();
    empty.read_highest_seq = None;
    assert_eq!(
        TransferSessionRepr::from_session(
            &empty,
            CipherSuite::EcdheEcdsaAes128Ccm8,
            peer,
            5684,
            &[],
            1
        ),
        Err(TransferError::NothingReceived)
    );
    assert_eq!(
        TransferSessionRepr::from_session(
            &state,
            CipherSuite::EcdheEcdsaAes128Ccm8,
            peer,
            5684,
            &[0; 33],
            1
        ),
        Err(TransferError::BadSessionIdLength)
    );
    let mut unknown = s.clone();
    unknown.cipher_suite = 0x1301;
    assert_eq!(
        unknown.session_state(),
        Err(TransferError::UnsupportedSuite)
    );

    // IPv4 peers travel as IPv4-mapped IPv6 addresses and come back as IPv4.
    let v4: SocketAddr = "192.0.2.7:1234".parse().unwrap();
    let r = TransferSessionRepr::from_session(
        &state,
        CipherSuite::EcdheEcdsaAes128Ccm8,
        v4,
        5684,
        &[],
        1,
    )
    .unwrap();
    assert_eq!(r.peer_addr, "::ffff:192.0.2.7".parse::<Ipv6Addr>().unwrap());
    assert_eq!(r.peer(), v4);
}

#[test]
fn secrets_redacted_in_debug() {
    let s = example_session();
    let dbg = format!(
        "{s:?} {:?}",
        TransferSession::new_unchecked(&TRANSFER_SESSION[..])
    );
    assert!(dbg.contains("redacted"));
    // Key bytes 0x10..0x1f would print as 16, 17, ... 31 in a derived Debug.
    assert!(!dbg.contains("16, 17"), "{dbg}");
    assert!(!dbg.contains("server_write_key:"), "{dbg}");
}

#[test]
fn secrets_zeroized_on_drop() {
    // SessionKeys is ZeroizeOnDrop; check that dropping a Repr in place wipes its key bytes.
    let mut slot = std::mem::MaybeUninit::new(example_session());
    let keys_ptr = unsafe { std::ptr::addr_of!((*slot.as_ptr()).keys) } as *const u8;
    unsafe { slot.assume_init_drop() };
    // SessionKeys is repr(C): the two 32-byte keys and the two 12-byte IVs come first.
    let after = unsafe { std::ptr::read_volatile(keys_ptr as *const [u8; 88]) };
    assert_eq!(after, [0u8; 88]);
    // The serialized form is wiped too.
    fn is_zeroizing<T: zeroize::Zeroize>(_: &zeroize::Zeroizing<T>) {}
    is_zeroizing(&example_session().to_bytes());
}

/// Keys of the lengths `cipher_suite` puts on the wire, cut from the given bytes.
fn arb_keys(cipher_suite: u16, cwk: &[u8], swk: &[u8], civ: &[u8], siv: &[u8]) -> SessionKeys {
    let aead = CipherSuite::from_id(cipher_suite).map_or(RecordAead::Aes128Ccm8, |s| s.aead());
    let (k, i) = (aead.key_len(), aead.iv_len());
    SessionKeys::new(aead, &cwk[..k], &swk[..k], &civ[..i], &siv[..i]).unwrap()
}

fn arb_session() -> impl Strategy<Value = TransferSessionRepr> {
    (
        any::<u32>(),
        prop_oneof![
            Just(0xc0ae_u16),
            Just(0xc0ac),
            Just(0xc02b),
            Just(0xcca9),
            any::<u16>()
        ],
        any::<[u8; 16]>(),
        any::<(u16, u16)>(),
        proptest::collection::vec(any::<u8>(), 0..=32),
        any::<([u8; 32], [u8; 32], [u8; 12], [u8; 12])>(),
        (any::<u16>(), 0..=RecordHeader::MAX_SEQUENCE, any::<u64>()),
        (any::<u16>(), 0..=RecordHeader::MAX_SEQUENCE),
    )
        .prop_map(
            |(
                transfer_id,
                cipher_suite,
                addr,
                (peer_port, local_port),
                session_id,
                (cwk, swk, civ, siv),
                (re, rh, rb),
                (we, wn),
            )| {
                TransferSessionRepr {
                    transfer_id,
                    cipher_suite,
                    peer_addr: Ipv6Addr::from(addr),
                    peer_port,
                    local_port,
                    session_id,
                    keys: arb_keys(cipher_suite, &cwk, &swk, &civ, &siv),
                    read_epoch: re,
                    read_highest_seq: rh,
                    read_replay_bitmap: rb,
                    write_epoch: we,
                    next_write_seq: wn,
                }
            },
        )
}

proptest! {
    #[test]
    fn transfer_session_roundtrip(s in arb_session()) {
        let b = s.to_bytes();
        let chacha = s.cipher_suite == 0xcca9;
        prop_assert_eq!(b.len(), if chacha { 141 } else { 93 } + s.session_id.len());
        prop_assert_eq!(TransferSessionRepr::parse(&TransferSession::new_checked(&b[..]).unwrap()).unwrap(), s);
    }

    #[test]
    fn transfer_confirm_roundtrip(id in any::<u32>(), status in any::<u8>(), kc in any::<[u8; 8]>()) {
        let r = TransferConfirmRepr { transfer_id: id, status: status.into(), key_check: kc };
        prop_assert_eq!(TransferConfirmRepr::parse(&TransferConfirm::new_checked(&r.to_bytes()[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn stt_roundtrip(req in any::<bool>(), status in any::<u8>(), slots in any::<u8>()) {
        let o = SttOfferRepr { transfer_requested: req };
        prop_assert_eq!(SttOfferRepr::parse(&SttOffer::new_unchecked(&o.to_bytes()[..])).unwrap(), o);
        let a = SttAnswerRepr { status: status.into(), free_slots: slots };
        prop_assert_eq!(SttAnswerRepr::parse(&SttAnswer::new_unchecked(&a.to_bytes()[..])).unwrap(), a);
    }

    /// Session state -> wire -> session state is lossless for every exportable state.
    #[test]
    fn session_state_roundtrip(s in arb_session()) {
        let mut s = s;
        // An unknown suite has the AES-128 layout; continue it as CCM-8.
        let suite = CipherSuite::from_id(s.cipher_suite).filter(|c| c.is_ecdhe_ecdsa()).unwrap_or(CipherSuite::EcdheEcdsaAes128Ccm8);
        s.cipher_suite = suite.id();
        let state = s.session_state().unwrap();
        let back = TransferSessionRepr::from_session(&state, suite, s.peer(), s.local_port, &s.session_id, s.transfer_id).unwrap();
        // The wire bitmap's top bit (highest - 64) is outside the 64-entry window.
        prop_assert_eq!(back.read_replay_bitmap, s.read_replay_bitmap & (u64::MAX >> 1));
        prop_assert_eq!(back.session_state().unwrap(), state);
    }

    /// No input makes a parser or accessor panic.
    #[test]
    fn no_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200), first in 0u8..4) {
        let mut bytes = bytes;
        if let Some(b) = bytes.first_mut() { *b = first; }
        let _ = TransferMessage::parse(&bytes);
        if let Ok(v) = TransferSession::new_checked(&bytes[..]) {
            let _ = (v.session_id(), v.next_write_seq(), v.read_replay_bitmap(), v.server_write_iv());
            let _ = TransferSessionRepr::parse(&v);
        }
        let _ = SttOfferRepr::parse(&SttOffer::new_unchecked(&bytes[..]));
        let _ = SttAnswerRepr::parse(&SttAnswer::new_unchecked(&bytes[..]));
        let _ = TransferConfirmRepr::parse(&TransferConfirm::new_unchecked(&bytes[..]));
    }
}
