//! Whole handshakes between our client and our server over a simulated network and clock.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use dtls::alert::AlertDescription;
use dtls::{CloseReason, Error, Event, PeerMisbehaved, RecordLayer};

fn exchange_data(p: &mut Pair) {
    p.client
        .send_application_data(&p.server_addr.clone(), b"GET /temp")
        .unwrap();
    p.drive();
    let ca = p.client_addr;
    p.server.send_application_data(&ca, b"21.5 C").unwrap();
    p.drive();
    assert!(
        p.server_events
            .contains(&Event::ApplicationData(b"GET /temp".to_vec())),
        "{:?}",
        p.server_events
    );
    assert!(
        p.client_events
            .contains(&Event::ApplicationData(b"21.5 C".to_vec())),
        "{:?}",
        p.client_events
    );
}

#[test]
fn psk_handshake_and_data() {
    let mut p = Pair::new(psk_server());
    p.connect(psk_client(b"0123456789abcdef"));
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
    exchange_data(&mut p);
    let s = p.server.connection(&p.client_addr).unwrap();
    assert_eq!(s.psk_identity(), Some(&b"mote-1"[..]));
}

#[test]
fn psk_with_identity_hint() {
    let mut cfg = psk_server();
    cfg.psk_identity_hint = Some(b"hint".to_vec());
    let mut p = Pair::new(cfg);
    p.connect(psk_client(b"0123456789abcdef"));
    p.drive();
    assert!(p.handshake_complete());
}

#[test]
fn wrong_psk_is_refused_with_an_alert() {
    let mut p = Pair::new(psk_server());
    p.connect(psk_client(b"not the right key"));
    p.drive();
    // The server cannot authenticate the client's Finished (it is under other keys): it is
    // discarded, and the client eventually gives up; or the server sees a bad Finished.
    assert!(!p.handshake_complete());
    // The client's Finished fails authentication under the server's keys.
    assert!(
        p.server_events
            .contains(&Event::Closed(CloseReason::LocalError(
                Error::DecryptFailed
            ))),
        "{:?}",
        p.server_events
    );
    // The server discards the unauthentic Finished and gives up after its retransmissions
    // (RFC 6347 4.1.2.7); the client, on the same timer, may give up first.
    assert!(
        p.client_events.iter().any(|e| matches!(
            e,
            Event::Closed(
                CloseReason::PeerAlert(AlertDescription::BadRecordMac)
                    | CloseReason::HandshakeTimeout
            )
        )),
        "{:?}",
        p.client_events
    );
}

#[test]
fn unknown_psk_identity_is_refused_with_an_alert() {
    let mut p = Pair::new(psk_server());
    p.connect(dtls::ClientConfig::psk(b"stranger", b"0123456789abcdef"));
    p.drive();
    assert!(
        p.server_events
            .contains(&Event::Closed(CloseReason::LocalError(
                Error::PeerMisbehaved(PeerMisbehaved::UnknownPskIdentity)
            )))
    );
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::UnknownPskIdentity
            ))),
        "{:?}",
        p.client_events
    );
}

#[test]
fn a_server_that_issues_session_ids_keeps_the_master_secret_until_the_keys_are_forgotten() {
    let mut cfg = ecdhe_server();
    cfg.issue_session_ids = true;
    let mut p = Pair::new(cfg);
    p.connect(ecdhe_client("client.pem", "client.key"));
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
    exchange_data(&mut p);
    let ca = p.client_addr;
    let s = p.server.connection_mut(&ca).unwrap();
    let secret = s.resumption_secret().expect("a resumable session").clone();
    assert_eq!(secret.session_id.len(), dtls::config::SESSION_ID_LEN);
    assert_ne!(*secret.master_secret, [0u8; 48]);
    assert!(!format!("{secret:?}").contains(&format!("{:?}", &secret.master_secret[..4])));
    s.forget_keys();
    assert!(s.resumption_secret().is_none());
}

#[test]
fn a_client_that_keeps_the_resumption_secret_holds_the_servers_id_and_master_secret() {
    let mut cfg = ecdhe_server();
    cfg.issue_session_ids = true;
    let mut p = Pair::new(cfg);
    let mut client = ecdhe_client("client.pem", "client.key");
    client.keep_resumption_secret = true;
    p.connect(client);
    p.drive();
    assert!(p.handshake_complete());
    let (ca, sa) = (p.client_addr, p.server_addr);
    let server_secret = p
        .server
        .connection(&ca)
        .unwrap()
        .resumption_secret()
        .unwrap()
        .clone();
    let c = p.client.connection_mut(&sa).unwrap();
    let secret = c.resumption_secret().expect("a resumable session").clone();
    assert_eq!(secret.session_id, server_secret.session_id);
    assert_eq!(*secret.master_secret, *server_secret.master_secret);
    assert_eq!(
        secret.extended_master_secret,
        server_secret.extended_master_secret
    );
    c.forget_keys();
    assert!(c.resumption_secret().is_none());

    // A server that issues no id: nothing to resume, whatever the client keeps.
    let mut p = Pair::new(ecdhe_server());
    let mut client = ecdhe_client("client.pem", "client.key");
    client.keep_resumption_secret = true;
    p.connect(client);
    p.drive();
    assert!(p.handshake_complete());
    assert!(
        p.client
            .connection(&p.server_addr)
            .unwrap()
            .resumption_secret()
            .is_none()
    );
    // A client that does not ask keeps nothing.
    let mut cfg = ecdhe_server();
    cfg.issue_session_ids = true;
    let mut p = Pair::new(cfg);
    p.connect(ecdhe_client("client.pem", "client.key"));
    p.drive();
    assert!(
        p.client
            .connection(&p.server_addr)
            .unwrap()
            .resumption_secret()
            .is_none()
    );
}

#[test]
fn a_server_without_session_ids_keeps_no_master_secret() {
    let mut p = Pair::new(ecdhe_server());
    p.connect(ecdhe_client("client.pem", "client.key"));
    p.drive();
    assert!(p.handshake_complete());
    assert!(
        p.server
            .connection(&p.client_addr)
            .unwrap()
            .resumption_secret()
            .is_none()
    );
}

#[test]
fn ecdhe_mutual_auth_and_data() {
    let mut p = Pair::new(ecdhe_server());
    p.connect(ecdhe_client("client.pem", "client.key"));
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
    assert_eq!(
        p.server
            .connection(&p.client_addr)
            .unwrap()
            .peer_certificates()
            .len(),
        1
    );
    exchange_data(&mut p);
}

#[test]
fn ecdhe_two_certificate_client_chain() {
    let mut p = Pair::new(ecdhe_server());
    p.connect(ecdhe_client("client2-chain.pem", "client2.key"));
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
    assert_eq!(
        p.server
            .connection(&p.client_addr)
            .unwrap()
            .peer_certificates()
            .len(),
        2
    );
}

#[test]
fn ecdhe_fragmented_to_small_mtu() {
    let mut s = ecdhe_server();
    s.transport.mtu = 300;
    let mut c = ecdhe_client("client2-chain.pem", "client2.key");
    c.transport.mtu = 300;
    let mut p = Pair::new(s);
    p.connect(c);
    p.drive();
    assert!(p.handshake_complete());
    assert!(
        p.datagram_sizes.iter().all(|&n| n <= 300),
        "{:?}",
        p.datagram_sizes
    );
    exchange_data(&mut p);
}

#[test]
fn untrusted_client_certificate_refused() {
    let mut p = Pair::new(ecdhe_server());
    p.connect(ecdhe_client("rogue.pem", "rogue.key"));
    p.drive();
    assert!(!p.handshake_complete());
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::UnknownCa
            ))),
        "{:?}",
        p.client_events
    );
}

/// A client that expects a server name checks the server's leaf for it with the chain: the
/// right name completes, another is refused before the key exchange.
#[test]
fn server_name_is_checked_with_the_chain() {
    let mut p = Pair::new(ecdhe_server());
    let mut client = ecdhe_client("client.pem", "client.key");
    client.server_name = Some("mote.example".into());
    p.connect(client);
    p.drive();
    assert!(p.handshake_complete());
    let mut p = Pair::new(ecdhe_server());
    let mut client = ecdhe_client("client.pem", "client.key");
    client.server_name = Some("other.example".into());
    p.connect(client);
    p.drive();
    assert!(!p.handshake_complete());
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::LocalError(
                Error::InvalidCertificate(dtls::CertificateError::NameMismatch)
            ))),
        "{:?}",
        p.client_events
    );
}

#[test]
fn client_certificate_without_client_auth_eku_refused() {
    let mut p = Pair::new(ecdhe_server());
    p.connect(ecdhe_client("wrongeku.pem", "wrongeku.key"));
    p.drive();
    assert!(!p.handshake_complete());
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::UnsupportedCertificate
            ))),
        "{:?}",
        p.client_events
    );
}

#[test]
fn missing_client_certificate_refused() {
    let mut p = Pair::new(ecdhe_server());
    p.connect(dtls::ClientConfig::ecdhe(anchors(), None));
    p.drive();
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::HandshakeFailure
            ))),
        "{:?}",
        p.client_events
    );
}

#[test]
fn client_without_extended_master_secret() {
    let mut c = ecdhe_client("client.pem", "client.key");
    c.offer_extended_master_secret = false;
    let mut p = Pair::new(ecdhe_server());
    p.connect(c);
    p.drive();
    assert!(p.handshake_complete());
    exchange_data(&mut p);
}

/// The first copy of every flight is lost; retransmissions complete the handshake.
#[test]
fn first_copy_of_every_flight_lost() {
    for (server, client) in [
        (psk_server(), psk_client(b"0123456789abcdef")),
        (
            ecdhe_server(),
            ecdhe_client("client2-chain.pem", "client2.key"),
        ),
    ] {
        let mut server = server;
        server.transport.mtu = 300;
        let mut client = client;
        client.transport.mtu = 300;
        let mut p = Pair::new(server);
        // Drop each distinct flight the first time it is seen, identified by the handshake
        // message_seq of the datagram's first record (epoch 0) or by its epoch otherwise.
        let mut seen: HashSet<(bool, Vec<u8>)> = HashSet::new();
        let dropped = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = dropped.clone();
        p.deliver = Box::new(move |side, _, d| {
            let handshake = d.first().is_some_and(|&t| t == 20 || t == 22);
            let deliver = !handshake || !seen.insert((side == Side::Client, flight_key(d)));
            if !deliver {
                counter.set(counter.get() + 1);
            }
            deliver
        });
        p.connect(client);
        p.drive();
        assert!(
            p.handshake_complete(),
            "server {:?} client {:?}",
            p.server_events,
            p.client_events
        );
        // Flights 1..6 each lost once (flights made of several datagrams lose more).
        assert!(dropped.get() >= 6, "dropped {}", dropped.get());
        exchange_data(&mut p);
    }
}

/// A flight's identity: the record type, epoch and, for plaintext handshake records, the
/// message type and seq and fragment offset of the first fragment.
fn flight_key(d: &[u8]) -> Vec<u8> {
    if d.len() < 13 {
        return d.to_vec();
    }
    let mut k = vec![d[0], d[3], d[4]];
    if d[0] == 22 && d[4] == 0 && d.len() >= 25 {
        k.extend_from_slice(&d[13..14]);
        k.extend_from_slice(&d[17..22]);
    }
    k
}

#[test]
fn handshake_times_out_when_server_silent() {
    let mut p = Pair::new(psk_server());
    p.deliver = Box::new(|side, _, _| side == Side::Server);
    p.connect(psk_client(b"0123456789abcdef"));
    p.drive();
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::HandshakeTimeout)),
        "{:?}",
        p.client_events
    );
    // 1 hello + 6 retransmissions, nothing created on the server.
    assert_eq!(p.sent[0], 7);
    assert_eq!(p.server.connection_count(), 0);
}

/// Certificate validity is checked against the verifier's clock.
#[test]
fn chain_verifier_checks_dates_purpose_and_issuer() {
    use dtls::CertificateError;
    use dtls::cert::{ChainVerifier, PeerRole};
    use std::time::{SystemTime, UNIX_EPOCH};
    let chain = vec![certified("client.pem", "client.key").chain[0].clone()];
    let v = anchors();
    assert!(v.verify(&chain, PeerRole::Client).is_ok());
    assert_eq!(
        v.verify(&chain, PeerRole::Server),
        Err(CertificateError::InvalidPurpose)
    );
    let future = v.clone().with_clock(std::sync::Arc::new(|| {
        UNIX_EPOCH + Duration::from_secs(4_200_000_000)
    }));
    assert_eq!(
        future.verify(&chain, PeerRole::Client),
        Err(CertificateError::Expired)
    );
    let past = v.with_clock(std::sync::Arc::new(|| {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)
    }));
    assert_eq!(
        past.verify(&chain, PeerRole::Client),
        Err(CertificateError::NotValidYet)
    );
    let rogue_anchor = ChainVerifier::from_pem(&data("rogueca.pem")).unwrap();
    assert_eq!(
        rogue_anchor.verify(&chain, PeerRole::Client),
        Err(CertificateError::UnknownIssuer)
    );
    assert_eq!(
        anchors().verify(&[vec![0x30, 0x03, 1, 2, 3]], PeerRole::Client),
        Err(CertificateError::BadEncoding)
    );
}

/// Revocation: with CRLs configured, a listed certificate is refused (certificate_revoked),
/// and so is one whose issuer has no CRL here; without any CRL nothing is checked.
#[test]
fn chain_verifier_checks_revocation_against_configured_crls() {
    use dtls::cert::PeerRole;
    use dtls::{AlertDescription, CertificateError, Error};
    let client = vec![certified("client.pem", "client.key").chain[0].clone()];
    let client2 = certified("client2-chain.pem", "client2.key").chain.clone();
    let crl = |name: &str| data(name).into_bytes();
    assert!(anchors().verify(&client, PeerRole::Client).is_ok());
    let revoking = anchors()
        .with_crl_file(&crl("ca-revokes-client.crl.pem"))
        .unwrap();
    assert_eq!(revoking.crl_count(), 1);
    assert_eq!(
        revoking.verify(&client, PeerRole::Client),
        Err(CertificateError::Revoked)
    );
    assert_eq!(
        Error::InvalidCertificate(CertificateError::Revoked).alert(),
        Some(AlertDescription::CertificateRevoked)
    );
    // The intermediate of client2's chain has no CRL configured: its status is unknown.
    assert_eq!(
        revoking.verify(&client2, PeerRole::Client),
        Err(CertificateError::RevocationUnknown)
    );
    let both = anchors()
        .with_crl_file(&crl("ca-empty.crl.pem"))
        .unwrap()
        .with_crl_file(&crl("inter-empty.crl.pem"))
        .unwrap();
    assert!(both.verify(&client, PeerRole::Client).is_ok());
    assert!(both.verify(&client2, PeerRole::Client).is_ok());
    // A DER CRL is taken as well; garbage is refused.
    let (_, der) =
        x509_cert::der::pem::decode_vec(crl("ca-revokes-client.crl.pem").as_slice()).unwrap();
    assert_eq!(
        anchors()
            .with_crl_file(&der)
            .unwrap()
            .verify(&client, PeerRole::Client),
        Err(CertificateError::Revoked)
    );
    assert!(anchors().with_crl_file(b"not a crl").is_err());
    assert!(anchors().with_crls(&[vec![0x30, 0x03, 1, 2, 3]]).is_err());
}

/// The session-transfer hooks: pause after the client's Finished, export, continue the
/// session on a bare record layer (the mote), and the held-back flight completes the client.
#[test]
fn pause_export_and_continue_elsewhere() {
    let mut cfg = ecdhe_server();
    cfg.pause_after_client_finished = true;
    let mut p = Pair::new(cfg);
    p.connect(ecdhe_client("client.pem", "client.key"));
    // No time passes while the session is transferred (else the client retransmits).
    p.settle();
    assert!(p.server_events.contains(&Event::ClientFinishedVerified));
    assert!(!p.client_events.contains(&Event::HandshakeComplete));
    let ca = p.client_addr;
    let state = p.server.connection(&ca).unwrap().export_session().unwrap();
    assert_eq!(
        (state.write_epoch, state.next_write_seq, state.read_epoch),
        (1, 1, 1)
    );
    let mut mote = RecordLayer::from_session(&state).unwrap();

    let conn = p.server.connection_mut(&ca).unwrap();
    conn.resume_final_flight().unwrap();
    conn.forget_keys();
    p.drive();
    assert!(p.client_events.contains(&Event::HandshakeComplete));

    // Client -> mote.
    let sa = p.server_addr;
    p.client.send_application_data(&sa, b"hello mote").unwrap();
    let t = p.client.poll_transmit().unwrap();
    let rec = dtls::record::records(&t.contents).next().unwrap().unwrap();
    assert_eq!(mote.open(&rec).unwrap().unwrap().plaintext, b"hello mote");
    // Mote -> client, continuing the server's sequence numbers.
    let mut out = Vec::new();
    mote.write_record(
        1,
        dtls::record::ContentType::ApplicationData,
        b"hello client",
        &mut out,
    )
    .unwrap();
    p.client.handle_datagram(p.now, sa, &out);
    while let Some((_, e)) = p.client.poll_event() {
        p.client_events.push(e);
    }
    assert!(
        p.client_events
            .contains(&Event::ApplicationData(b"hello client".to_vec()))
    );
}

#[test]
fn close_notify_reaches_peer() {
    let mut p = Pair::new(psk_server());
    p.connect(psk_client(b"0123456789abcdef"));
    p.drive();
    let sa = p.server_addr;
    p.client.close(&sa);
    p.drive();
    assert!(
        p.server_events
            .contains(&Event::Closed(CloseReason::CloseNotify))
    );
    p.advance(Duration::from_secs(1));
}

/// The whole transfer on the wire formats: export while paused -> TransferSession bytes ->
/// the mote parses them and builds its record layer -> TransferConfirm with a key check the
/// IoTSSP accepts -> the held flight completes the client, which talks to the mote.
#[test]
fn transfer_session_message_carries_a_working_session() {
    use dtls::transfer::{
        ConfirmStatus, TransferConfirmRepr, TransferMessage, TransferSessionRepr,
    };
    let mut cfg = ecdhe_server();
    cfg.pause_after_client_finished = true;
    let mut p = Pair::new(cfg);
    p.connect(ecdhe_client("client.pem", "client.key"));
    p.settle();
    let (ca, sa) = (p.client_addr, p.server_addr);
    let conn = p.server.connection(&ca).unwrap();
    let suite = conn.cipher_suite().unwrap();
    let sent = TransferSessionRepr::from_session(
        &conn.export_session().unwrap(),
        suite,
        ca,
        5684,
        &[],
        0x0bad_cafe,
    )
    .unwrap();
    let wire = sent.to_bytes();

    // Mote.
    let TransferMessage::Session(got) = TransferMessage::parse(&wire).unwrap() else {
        panic!("not a session")
    };
    assert_eq!(got.peer(), ca);
    let mut mote = RecordLayer::from_session(&got.session_state().unwrap()).unwrap();
    let confirm = TransferConfirmRepr::answer(&got, ConfirmStatus::Installed).to_bytes();

    // IoTSSP.
    let TransferMessage::Confirm(c) = TransferMessage::parse(&confirm).unwrap() else {
        panic!("not a confirm")
    };
    assert!(c.confirms(&sent));
    let conn = p.server.connection_mut(&ca).unwrap();
    conn.resume_final_flight().unwrap();
    conn.forget_keys();
    p.drive();
    assert!(p.client_events.contains(&Event::HandshakeComplete));

    p.client.send_application_data(&sa, b"GET /temp").unwrap();
    let t = p.client.poll_transmit().unwrap();
    let rec = dtls::record::records(&t.contents).next().unwrap().unwrap();
    assert_eq!(mote.open(&rec).unwrap().unwrap().plaintext, b"GET /temp");
    let mut out = Vec::new();
    mote.write_record(
        1,
        dtls::record::ContentType::ApplicationData,
        b"21.5 C",
        &mut out,
    )
    .unwrap();
    p.client.handle_datagram(p.now, sa, &out);
    while let Some((_, e)) = p.client.poll_event() {
        p.client_events.push(e);
    }
    assert!(
        p.client_events
            .contains(&Event::ApplicationData(b"21.5 C".to_vec()))
    );
}

/// Every ECDHE_ECDSA suite: handshake, data both ways, and the whole transfer to a "mote"
/// record layer, which continues the session under the suite's AEAD.
#[test]
fn every_ecdhe_suite_handshakes_and_transfers() {
    use dtls::CipherSuite;
    use dtls::transfer::{
        ConfirmStatus, TransferConfirmRepr, TransferMessage, TransferSessionRepr,
    };
    for suite in CipherSuite::ECDHE_ECDSA {
        let mut cfg = ecdhe_server();
        cfg.cipher_suites = vec![suite];
        cfg.pause_after_client_finished = true;
        let mut p = Pair::new(cfg);
        p.connect(ecdhe_client("client.pem", "client.key"));
        p.settle();
        let (ca, sa) = (p.client_addr, p.server_addr);
        let conn = p.server.connection(&ca).unwrap();
        assert_eq!(conn.cipher_suite(), Some(suite));
        let sent = TransferSessionRepr::from_session(
            &conn.export_session().unwrap(),
            suite,
            ca,
            5684,
            &[],
            7,
        )
        .unwrap();
        let wire = sent.to_bytes();
        assert_eq!(
            wire.len(),
            if suite == CipherSuite::EcdheEcdsaChacha20Poly1305 {
                141
            } else {
                93
            },
            "{suite}"
        );
        let TransferMessage::Session(got) = TransferMessage::parse(&wire).unwrap() else {
            panic!("not a session")
        };
        assert_eq!(got.cipher_suite, suite.id());
        let mut mote = RecordLayer::from_session(&got.session_state().unwrap()).unwrap();
        let confirm = TransferConfirmRepr::answer(&got, ConfirmStatus::Installed);
        assert!(confirm.confirms(&sent));
        let conn = p.server.connection_mut(&ca).unwrap();
        conn.resume_final_flight().unwrap();
        conn.forget_keys();
        p.drive();
        assert!(
            p.client_events.contains(&Event::HandshakeComplete),
            "{suite}"
        );
        assert_eq!(
            p.client.connection(&sa).unwrap().cipher_suite(),
            Some(suite)
        );

        p.client.send_application_data(&sa, b"GET /temp").unwrap();
        let t = p.client.poll_transmit().unwrap();
        let rec = dtls::record::records(&t.contents).next().unwrap().unwrap();
        assert_eq!(rec.fragment().len(), 9 + suite.aead().overhead(), "{suite}");
        assert_eq!(mote.open(&rec).unwrap().unwrap().plaintext, b"GET /temp");
        let mut out = Vec::new();
        mote.write_record(
            1,
            dtls::record::ContentType::ApplicationData,
            b"21.5 C",
            &mut out,
        )
        .unwrap();
        p.client.handle_datagram(p.now, sa, &out);
        while let Some((_, e)) = p.client.poll_event() {
            p.client_events.push(e);
        }
        assert!(
            p.client_events
                .contains(&Event::ApplicationData(b"21.5 C".to_vec())),
            "{suite}"
        );
    }
}

/// The server chooses by its own order of preference among what the client offers.
#[test]
fn server_preference_order_decides() {
    use dtls::CipherSuite::{self, *};
    let cases: [(&[CipherSuite], &[CipherSuite], CipherSuite); 4] = [
        (
            &[EcdheEcdsaAes128Gcm, EcdheEcdsaAes128Ccm],
            &[EcdheEcdsaAes128Ccm, EcdheEcdsaAes128Gcm],
            EcdheEcdsaAes128Gcm,
        ),
        (
            &[EcdheEcdsaAes128Ccm, EcdheEcdsaAes128Gcm],
            &[EcdheEcdsaAes128Gcm, EcdheEcdsaAes128Ccm],
            EcdheEcdsaAes128Ccm,
        ),
        (
            &CipherSuite::ECDHE_ECDSA,
            &[EcdheEcdsaChacha20Poly1305, EcdheEcdsaAes128Gcm],
            EcdheEcdsaAes128Gcm,
        ),
        (
            &[EcdheEcdsaChacha20Poly1305, EcdheEcdsaAes128Ccm8],
            &CipherSuite::ECDHE_ECDSA,
            EcdheEcdsaChacha20Poly1305,
        ),
    ];
    for (server_order, client_offer, expected) in cases {
        let mut cfg = ecdhe_server();
        cfg.cipher_suites = server_order.to_vec();
        let mut client = ecdhe_client("client.pem", "client.key");
        client.cipher_suites = client_offer.to_vec();
        let mut p = Pair::new(cfg);
        p.connect(client);
        p.drive();
        assert!(p.handshake_complete(), "{server_order:?} {client_offer:?}");
        assert_eq!(
            p.server.connection(&p.client_addr).unwrap().cipher_suite(),
            Some(expected)
        );
        exchange_data(&mut p);
    }
}

/// A client offering only suites the server does not run gets handshake_failure.
#[test]
fn no_common_suite_is_refused_with_handshake_failure() {
    use dtls::CipherSuite::*;
    let mut cfg = ecdhe_server();
    cfg.cipher_suites = vec![EcdheEcdsaAes128Ccm8];
    let mut client = ecdhe_client("client.pem", "client.key");
    client.cipher_suites = vec![EcdheEcdsaAes128Gcm, EcdheEcdsaChacha20Poly1305];
    let mut p = Pair::new(cfg);
    p.connect(client);
    p.drive();
    assert!(!p.handshake_complete());
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::HandshakeFailure
            ))),
        "{:?}",
        p.client_events
    );
    assert!(
        p.server_events
            .contains(&Event::Closed(CloseReason::LocalError(
                Error::PeerMisbehaved(PeerMisbehaved::NoCommonCipherSuite)
            ))),
        "{:?}",
        p.server_events
    );
}
