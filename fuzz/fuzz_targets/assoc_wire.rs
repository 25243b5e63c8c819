//! The association's wire formats (docs/mote-association.md) on arbitrary bytes: every view,
//! the Repr parsers, the Transfer body, and opening a Transfer with a fixed key. Must never
//! panic, and whatever parses must re-emit to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_assoc::crypto::SoftAes;
use mote_assoc::keys::Credentials;
use mote_assoc::wire::*;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let mut out = [0u8; mote_assoc::MAX_DATAGRAM_LEN];
        assert_eq!(m.emit(&mut out), Some(data.len()));
        assert_eq!(&out[..data.len()], data);
    }
    if let Ok(b) = TransferBody::parse(data) {
        let mut out = [0u8; TransferBody::MAX_LEN];
        b.emit(&mut out);
        assert_eq!(b.buffer_len(), data.len());
        assert_eq!(&out[..data.len()], data);
        let _ = (b.suite().cipher_suite(), b.sequence_numbers());
    }
    let _ = message_type(data);
    let t = Transfer::new_unchecked(data);
    let _ = (t.id(), t.n(), t.header(), t.sealed(), t.check_len());
    let _ = AssocHello::new_checked(data).map(|v| (v.e_m(), v.tag(), v.authenticated().len()));
    let _ = AssocAccept::new_checked(data).map(|v| (v.id(), v.e_s(), v.tag()));
    let _ = AssocReady::new_checked(data).map(|v| (v.id(), v.free_slots(), v.suites()));
    let _ = Confirm::new_checked(data).map(|v| (v.id(), v.n(), v.status(), v.free_slots()));
    let _ = Unassociated::new_checked(data).map(|v| (v.id(), v.n(), v.reason()));
    let _ = Poke::new_checked(data).map(|v| (v.epoch(), v.tag()));
    let _ = Connect::new_checked(data).map(|v| (v.id(), v.r(), v.server_addr(), v.server_port()));
    let _ = ConnectFailed::new_checked(data).map(|v| (v.id(), v.r(), v.reason()));
    let _ =
        SignRequest::new_checked(data).map(|v| (v.id(), v.q(), v.purpose(), v.digest(), v.tag()));
    let _ = SignResponse::new_checked(data).map(|v| {
        (
            v.id(),
            v.q(),
            v.status(),
            v.signature(),
            v.authenticated().len(),
        )
    });
    // Unchecked views read zeros past the end, never panic.
    let r = SignResponse::new_unchecked(data);
    let _ = (r.id(), r.q(), r.status(), r.signature(), r.tag());
    // A Transfer under a key nobody but the fuzzer's fixed association has: it must not open.
    if let Ok(t) = Transfer::new_checked(data) {
        let creds = Credentials::new::<SoftAes>(&[7; 16], [1; 8]).unwrap();
        let keys = creds.associate::<SoftAes>(
            &mote_assoc::crypto::SharedSecret([9; 32]),
            &[1; 64],
            &[2; 64],
        );
        assert!(
            keys.ratchet
                .open_transfer::<SoftAes>(t.id(), &t.header(), t.sealed())
                .is_err()
        );
    }
});
