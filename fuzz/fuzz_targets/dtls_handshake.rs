//! Handshake fragments through the bounded reassembler, and every message parser on the
//! reassembled bodies. Must never panic or exceed the reassembly bounds.
#![no_main]

use dtls::codec::{Codec, Reader};
use dtls::handshake::fragment::{Reassembler, ReassemblyLimits};
use dtls::handshake::msgs::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ReassemblyLimits::default();
    let mut reasm = Reassembler::new(limits);
    let mut r = Reader::new(data);
    while let Ok(frag) = HandshakeFragment::read(&mut r) {
        let _ = reasm.accept(&frag);
        assert!(reasm.buffered_bytes() <= limits.max_buffered_bytes);
        while let Some(m) = reasm.next_message() {
            let b = &m.body[..];
            let _ = ClientHello::read_bytes(b);
            let _ = ServerHello::read_bytes(b);
            let _ = HelloVerifyRequest::read_bytes(b);
            let _ = CertificateMsg::read_bytes(b);
            let _ = EcdheServerKeyExchange::read_bytes(b);
            let _ = PskServerKeyExchange::read_bytes(b);
            let _ = CertificateRequest::read_bytes(b);
            let _ = DigitallySigned::read_bytes(b);
            let _ = ClientKeyExchange::read_ecdhe(b);
            let _ = ClientKeyExchange::read_psk(b);
        }
    }
});
