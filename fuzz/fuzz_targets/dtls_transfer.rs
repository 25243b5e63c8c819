//! The session-transfer wire formats (STT offer/answer, TransferSession, TransferConfirm)
//! on arbitrary bytes: parsers, views, and emit of whatever parsed. Must never panic, and
//! whatever parses must re-emit to the same bytes.
#![no_main]

use dtls::transfer::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = TransferMessage::parse(data) {
        match m {
            TransferMessage::Session(s) => {
                assert_eq!(&s.to_bytes()[..], data);
                let _ = s.session_state();
            }
            TransferMessage::Confirm(c) => assert_eq!(c.to_bytes(), data),
        }
    }
    if let Ok(v) = TransferSession::new_checked(data) {
        let _ = (
            v.session_id(),
            v.next_write_seq(),
            v.read_replay_bitmap(),
            v.peer_addr(),
        );
    }
    if let Ok(o) = SttOfferRepr::parse(&SttOffer::new_unchecked(data)) {
        let _ = o.to_bytes();
    }
    if let Ok(a) = SttAnswerRepr::parse(&SttAnswer::new_unchecked(data)) {
        assert_eq!(a.to_bytes(), data);
    }
});
