//! What real clients send: hellos with extensions we do not implement, other curves and
//! hashes preferred, no extended master secret, record version 0xfeff; and renegotiation
//! attempts on an established session.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use common::*;
use dtls::codec::{Codec, Reader};
use dtls::handshake::msgs::*;
use dtls::record::{ContentType, ProtocolVersion, RecordHeader, RecordLayer, records};
use dtls::{Endpoint, Event};

fn hello_record(ch: &ClientHello, message_seq: u16, record_seq: u64) -> Vec<u8> {
    let body = ch.get_encoding();
    let mut hs = Vec::new();
    HandshakeHeader {
        msg_type: HandshakeType::ClientHello,
        length: body.len() as u32,
        message_seq,
        fragment_offset: 0,
        fragment_length: body.len() as u32,
    }
    .encode(&mut hs);
    hs.extend_from_slice(&body);
    let mut d = Vec::new();
    RecordHeader {
        content_type: ContentType::Handshake,
        version: ProtocolVersion::DTLS1_0,
        epoch: 0,
        sequence_number: record_seq,
    }
    .emit(&hs, &mut d);
    d
}

fn ext(typ: u16, data: &[u8]) -> Extension {
    Extension {
        typ,
        data: data.to_vec(),
    }
}

/// Sends `ch`, follows the HelloVerifyRequest, and returns the ServerHello (or None when
/// the server answered otherwise).
fn server_hello_for(server: &mut Endpoint, mut ch: ClientHello) -> Option<ServerHello> {
    let from: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let now = Instant::now();
    server.handle_datagram(now, from, &hello_record(&ch, 0, 0));
    let hvr_dg = server.poll_transmit().expect("HelloVerifyRequest").contents;
    let rec = records(&hvr_dg).next().unwrap().unwrap();
    assert_eq!(
        rec.sequence_number(),
        0,
        "HVR echoes the hello's record sequence number"
    );
    let frag = HandshakeFragment::read(&mut Reader::new(rec.fragment())).unwrap();
    assert_eq!(frag.header.msg_type, HandshakeType::HelloVerifyRequest);
    ch.cookie = HelloVerifyRequest::read_bytes(frag.body).unwrap().cookie;
    server.handle_datagram(now, from, &hello_record(&ch, 1, 1));
    let dg = server.poll_transmit()?.contents;
    let rec = records(&dg).next()?.ok()?;
    let frag = HandshakeFragment::read(&mut Reader::new(rec.fragment())).ok()?;
    (frag.header.msg_type == HandshakeType::ServerHello)
        .then(|| ServerHello::read_bytes(frag.body).unwrap())
}

fn browser_like_hello() -> ClientHello {
    ClientHello {
        client_version: ProtocolVersion::DTLS1_2,
        random: [0x42; 32],
        session_id: Vec::new(),
        cookie: Vec::new(),
        // A GCM suite first (which we do not do), then ours, then the SCSV.
        cipher_suites: vec![
            0xc02b,
            TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
            0xc0ad,
            TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
        ],
        compression_methods: vec![0],
        extensions: vec![
            ext(0xfafa, &[1, 2, 3]), // GREASE-like unknown
            ext(
                ext::SERVER_NAME,
                &[
                    0, 12, 0, 0, 9, b'1', b'2', b'7', b'.', b'0', b'.', b'0', b'.', b'1',
                ],
            ), // SNI with an IP literal
            ext(5, &[1, 0, 0, 0, 0]), // status_request
            ext(28, &[0x40, 0x00]),  // record_size_limit
            ext(35, &[]),            // session_ticket
            ext(ext::ENCRYPT_THEN_MAC, &[]),
            u16_list_extension(ext::SUPPORTED_GROUPS, &[29, 24, SECP256R1]), // x25519 and P-384 preferred
            ext(ext::EC_POINT_FORMATS, &[3, 0, 1, 2]),
            u16_list_extension(
                ext::SIGNATURE_ALGORITHMS,
                &[0x0804, 0x0503, ECDSA_SHA256, 0x0601],
            ),
        ],
    }
}

#[test]
fn odd_extensions_and_other_preferences_still_negotiate_p256_sha256() {
    let mut server = Endpoint::new(Some(Arc::new(ecdhe_server()))).unwrap();
    let sh = server_hello_for(&mut server, browser_like_hello()).expect("ServerHello");
    assert_eq!(sh.cipher_suite, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8);
    assert_eq!(sh.server_version, ProtocolVersion::DTLS1_2);
    // No extended_master_secret offered: none answered. SCSV: empty renegotiation_info.
    assert!(find_extension(&sh.extensions, ext::EXTENDED_MASTER_SECRET).is_none());
    assert_eq!(
        find_extension(&sh.extensions, ext::RENEGOTIATION_INFO),
        Some(&[0u8][..])
    );
    // Nothing we do not implement is echoed.
    for e in &sh.extensions {
        assert!(
            [ext::RENEGOTIATION_INFO, ext::EC_POINT_FORMATS].contains(&e.typ),
            "{e:?}"
        );
    }
}

#[test]
fn malformed_ignorable_extensions_are_treated_as_absent() {
    let mut ch = browser_like_hello();
    ch.extensions.retain(|e| e.typ != ext::SUPPORTED_GROUPS);
    ch.extensions
        .push(ext(ext::SUPPORTED_GROUPS, &[0, 3, 0, 23, 9])); // odd length list
    ch.extensions
        .push(empty_extension(ext::EXTENDED_MASTER_SECRET));
    let mut server = Endpoint::new(Some(Arc::new(ecdhe_server()))).unwrap();
    let sh = server_hello_for(&mut server, ch).expect("ServerHello");
    assert_eq!(sh.cipher_suite, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8);
    assert!(find_extension(&sh.extensions, ext::EXTENDED_MASTER_SECRET).is_some());
}

#[test]
fn client_without_p256_is_refused() {
    let mut ch = browser_like_hello();
    ch.extensions.retain(|e| e.typ != ext::SUPPORTED_GROUPS);
    ch.extensions
        .push(u16_list_extension(ext::SUPPORTED_GROUPS, &[29, 24]));
    let mut server = Endpoint::new(Some(Arc::new(ecdhe_server()))).unwrap();
    assert!(server_hello_for(&mut server, ch).is_none());
    let mut saw_close = false;
    while let Some((_, e)) = server.poll_event() {
        saw_close |= matches!(e, Event::Closed(_));
    }
    assert!(saw_close);
}

#[test]
fn renegotiation_is_refused_with_a_warning() {
    let mut p = Pair::new(psk_server());
    p.connect(psk_client(b"0123456789abcdef"));
    p.drive();
    assert!(p.handshake_complete());
    // Forge the client's next protected record: a ClientHello in epoch 1.
    let sa = p.server_addr;
    let state = p.client.connection(&sa).unwrap().export_session().unwrap();
    let mut client_records = RecordLayer::from_session(&state).unwrap();
    let body = browser_like_hello().get_encoding();
    let mut hs = Vec::new();
    HandshakeHeader {
        msg_type: HandshakeType::ClientHello,
        length: body.len() as u32,
        message_seq: 5,
        fragment_offset: 0,
        fragment_length: body.len() as u32,
    }
    .encode(&mut hs);
    hs.extend_from_slice(&body);
    let mut d = Vec::new();
    client_records
        .write_record(1, ContentType::Handshake, &hs, &mut d)
        .unwrap();
    let ca = p.client_addr;
    p.server.handle_datagram(p.now, ca, &d);
    let reply = p.server.poll_transmit().expect("an alert").contents;
    let rec = records(&reply).next().unwrap().unwrap();
    assert_eq!(rec.content_type(), ContentType::Alert);
    assert_eq!(rec.epoch(), 1);
    // Still established, data still flows.
    assert!(p.server.connection(&ca).unwrap().is_established());
    p.server.send_application_data(&ca, b"still here").unwrap();
    p.drive();
    assert!(
        p.client_events
            .contains(&Event::ApplicationData(b"still here".to_vec()))
    );
}
