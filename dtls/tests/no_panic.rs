//! The fuzz targets' properties on stable: thousands of random inputs through the record
//! parser, the reassembler and parsers, and the server state machine, never panicking.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::codec::{Codec, Reader};
use dtls::handshake::fragment::{Reassembler, ReassemblyLimits};
use dtls::handshake::msgs::*;
use dtls::{Connection, Endpoint, PskTable, ServerConfig};
use proptest::prelude::*;

fn server_config() -> Arc<ServerConfig> {
    let mut table = PskTable::new();
    table.insert(b"id", b"0123456789abcdef");
    Arc::new(ServerConfig::psk(Arc::new(table)))
}

/// A handshake record carrying `body` as one fragment of `msg_type` (gets the fuzzer past
/// the record layer more often than pure noise).
fn handshake_record(msg_type: u8, seq: u16, body: &[u8]) -> Vec<u8> {
    let mut hs = Vec::new();
    HandshakeHeader {
        msg_type: msg_type.into(),
        length: body.len() as u32,
        message_seq: seq,
        fragment_offset: 0,
        fragment_length: body.len() as u32,
    }
    .encode(&mut hs);
    hs.extend_from_slice(body);
    let mut d = Vec::new();
    dtls::record::RecordHeader {
        content_type: dtls::record::ContentType::Handshake,
        version: dtls::record::ProtocolVersion::DTLS1_2,
        epoch: 0,
        sequence_number: seq as u64,
    }
    .emit(&hs, &mut d);
    d
}

fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        (
            any::<u8>(),
            0u16..4,
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(t, s, b)| handshake_record(t % 21, s, &b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn records_and_handshake_parsers(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        for rec in dtls::record::records(&data).flatten() {
            let _ = (rec.content_type(), rec.sequence_number(), rec.fragment());
        }
        let limits = ReassemblyLimits::default();
        let mut reasm = Reassembler::new(limits);
        let mut r = Reader::new(&data);
        while let Ok(frag) = HandshakeFragment::read(&mut r) {
            let _ = reasm.accept(&frag);
            prop_assert!(reasm.buffered_bytes() <= limits.max_buffered_bytes);
            while let Some(m) = reasm.next_message() {
                let _ = ClientHello::read_bytes(&m.body);
                let _ = CertificateMsg::read_bytes(&m.body);
                let _ = EcdheServerKeyExchange::read_bytes(&m.body);
            }
        }
    }

    #[test]
    fn server_state_machine(datagrams in proptest::collection::vec(datagram(), 1..8)) {
        let cfg = server_config();
        let peer = "192.0.2.1:5684".parse().unwrap();
        let mut t = Instant::now();
        let mut ep = Endpoint::new(Some(cfg.clone())).unwrap();
        let mut conn: Option<Connection> = None;
        for d in &datagrams {
            ep.handle_datagram(t, peer, d);
            match conn.as_mut() {
                None => conn = Connection::accept(t, peer, cfg.clone(), d, 0, 0).ok(),
                Some(c) => c.handle_datagram(t, d),
            }
            t += Duration::from_millis(700);
            ep.handle_timeout(t);
            while ep.poll_transmit().is_some() {}
            while ep.poll_event().is_some() {}
            if let Some(c) = conn.as_mut() {
                c.handle_timeout(t);
                while c.poll_transmit().is_some() {}
                while c.poll_event().is_some() {}
            }
        }
        // No connection is created without a valid cookie.
        prop_assert_eq!(ep.connection_count(), 0);
    }
}
