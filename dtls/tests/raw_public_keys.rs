//! Raw public keys (RFC 7250) between our client and our server: both roles, both
//! directions, and the fallbacks when a peer does not offer them.

mod common;

use std::sync::Arc;

use common::*;
use dtls::alert::AlertDescription;
use dtls::cert::{CertificateType, CertifiedKey, RawKeyTrust, spki_sha256};
use dtls::crypto::ecc::SigningKey;
use dtls::{ClientConfig, CloseReason, Error, Event, PeerMisbehaved, ServerConfig};

fn key(name: &str) -> SigningKey {
    SigningKey::from_pem(&data(name)).unwrap()
}

fn raw(name: &str) -> Arc<CertifiedKey> {
    Arc::new(CertifiedKey::raw_public_key(key(name)))
}

fn pin(ck: &CertifiedKey) -> [u8; 32] {
    spki_sha256(&ck.spki())
}

/// A server presenting only its raw key and accepting clients' raw keys of `pins`.
fn rpk_server(pins: Vec<[u8; 32]>) -> ServerConfig {
    let mut s = ServerConfig::ecdhe(raw("server.key"), None);
    s.certificate_types = vec![CertificateType::RawPublicKey];
    s.client_raw_public_keys = Some(RawKeyTrust::Pinned(pins));
    s
}

/// A client presenting its raw key and pinning the server's.
fn rpk_client(client_key: &str, server_pin: [u8; 32]) -> ClientConfig {
    let mut c = ClientConfig::ecdhe(anchors(), Some(raw(client_key)));
    c.server_verifier = None;
    c.certificate_types = vec![CertificateType::RawPublicKey];
    c.server_raw_public_keys = Some(RawKeyTrust::Pinned(vec![server_pin]));
    c
}

fn data_both_ways(p: &mut Pair) {
    p.client
        .send_application_data(&p.server_addr.clone(), b"GET /temp")
        .unwrap();
    p.drive();
    let ca = p.client_addr;
    p.server.send_application_data(&ca, b"21.5 C").unwrap();
    p.drive();
    assert!(
        p.server_events
            .contains(&Event::ApplicationData(b"GET /temp".to_vec()))
    );
    assert!(
        p.client_events
            .contains(&Event::ApplicationData(b"21.5 C".to_vec()))
    );
}

#[test]
fn raw_keys_both_ways_and_data() {
    let client_pin = pin(&raw("client.key"));
    let mut p = Pair::new(rpk_server(vec![client_pin]));
    p.connect(rpk_client("client.key", pin(&raw("server.key"))));
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
    let s = p.server.connection(&p.client_addr).unwrap();
    assert!(s.peer_certificates().is_empty());
    assert_eq!(spki_sha256(s.peer_raw_public_key().unwrap()), client_pin);
    let c = p.client.connection(&p.server_addr).unwrap();
    assert_eq!(
        spki_sha256(c.peer_raw_public_key().unwrap()),
        pin(&raw("server.key"))
    );
    data_both_ways(&mut p);
}

#[test]
fn raw_client_key_with_a_certified_server() {
    // The server presents its chain (the client's server_certificate_type is absent) and
    // takes the client's raw key; the application authorizes it afterwards.
    let mut s = ecdhe_server();
    s.client_auth = None;
    s.client_raw_public_keys = Some(RawKeyTrust::AuthorizedLater);
    let mut p = Pair::new(s);
    let mut c = ClientConfig::ecdhe(anchors(), Some(raw("client2.key")));
    c.certificate_types = vec![CertificateType::RawPublicKey];
    p.connect(c);
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
    let s = p.server.connection(&p.client_addr).unwrap();
    assert_eq!(
        spki_sha256(s.peer_raw_public_key().unwrap()),
        pin(&raw("client2.key"))
    );
    assert_eq!(
        p.client
            .connection(&p.server_addr)
            .unwrap()
            .peer_certificates()
            .len(),
        1
    );
}

#[test]
fn raw_server_key_with_a_certified_client() {
    let mut s = ecdhe_server();
    s.certificate_types = vec![CertificateType::RawPublicKey, CertificateType::X509];
    let mut p = Pair::new(s);
    let mut c = ecdhe_client("client.pem", "client.key");
    c.server_raw_public_keys = Some(RawKeyTrust::Pinned(vec![pin(&certified(
        "server.pem",
        "server.key",
    ))]));
    p.connect(c);
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
    let c = p.client.connection(&p.server_addr).unwrap();
    assert!(c.peer_certificates().is_empty());
    assert!(c.peer_raw_public_key().is_some());
    assert_eq!(
        p.server
            .connection(&p.client_addr)
            .unwrap()
            .peer_certificates()
            .len(),
        1
    );
    data_both_ways(&mut p);
}

#[test]
fn a_client_that_does_not_offer_raw_keys_gets_x509_if_configured() {
    let mut s = ecdhe_server();
    s.certificate_types = vec![CertificateType::RawPublicKey, CertificateType::X509];
    s.client_raw_public_keys = Some(RawKeyTrust::AuthorizedLater);
    let mut p = Pair::new(s);
    p.connect(ecdhe_client("client.pem", "client.key"));
    p.drive();
    assert!(
        p.handshake_complete(),
        "server {:?} client {:?}",
        p.server_events,
        p.client_events
    );
    let s = p.server.connection(&p.client_addr).unwrap();
    assert_eq!(s.peer_certificates().len(), 1);
    assert!(s.peer_raw_public_key().is_none());
    assert!(s.answered_extensions().is_empty());
    assert_eq!(
        p.client
            .connection(&p.server_addr)
            .unwrap()
            .peer_certificates()
            .len(),
        1
    );
}

fn refused_for_certificate_type(p: &Pair) {
    let refused = Event::Closed(CloseReason::LocalError(Error::PeerMisbehaved(
        PeerMisbehaved::NoCommonCertificateType,
    )));
    assert!(p.server_events.contains(&refused), "{:?}", p.server_events);
    let alert = Event::Closed(CloseReason::PeerAlert(AlertDescription::HandshakeFailure));
    assert!(p.client_events.contains(&alert), "{:?}", p.client_events);
}

#[test]
fn a_raw_key_only_server_refuses_a_client_that_does_not_offer_raw_keys() {
    let mut p = Pair::new(rpk_server(vec![]));
    p.connect(ecdhe_client("client.pem", "client.key"));
    p.drive();
    refused_for_certificate_type(&p);
}

#[test]
fn a_server_taking_only_raw_client_keys_refuses_a_certificate_client() {
    let mut s = ecdhe_server();
    s.client_auth = None;
    s.client_raw_public_keys = Some(RawKeyTrust::AuthorizedLater);
    let mut p = Pair::new(s);
    p.connect(ecdhe_client("client.pem", "client.key"));
    p.drive();
    refused_for_certificate_type(&p);
}

#[test]
fn a_certificate_only_server_refuses_a_raw_key_only_client() {
    let mut p = Pair::new(ecdhe_server());
    let mut c = rpk_client("client.key", pin(&raw("server.key")));
    c.server_verifier = None;
    p.connect(c);
    p.drive();
    refused_for_certificate_type(&p);
}

#[test]
fn an_unpinned_raw_key_is_refused() {
    let mut p = Pair::new(rpk_server(vec![pin(&raw("client2.key"))]));
    p.connect(rpk_client("client.key", pin(&raw("server.key"))));
    p.drive();
    assert!(!p.handshake_complete());
    let refused = Event::Closed(CloseReason::LocalError(Error::InvalidCertificate(
        dtls::CertificateError::UnknownRawPublicKey,
    )));
    assert!(p.server_events.contains(&refused), "{:?}", p.server_events);
    // And a client refuses a server key it did not pin.
    let mut p = Pair::new(rpk_server(vec![pin(&raw("client.key"))]));
    p.connect(rpk_client("client.key", pin(&raw("client2.key"))));
    p.drive();
    assert!(p.client_events.contains(&refused), "{:?}", p.client_events);
    assert!(!p.handshake_complete());
}

#[test]
fn spki_encoding_round_trips_and_refuses_other_keys() {
    let ck = raw("server.key");
    let spki = ck.spki();
    assert_eq!(spki.len(), 91);
    assert_eq!(
        dtls::cert::p256_from_spki(&spki).unwrap(),
        ck.key.public_key()
    );
    // The SPKI in the committed certificate is the same bytes.
    let leaf = &certified("server.pem", "server.key").chain[0];
    assert!(leaf.windows(spki.len()).any(|w| w == spki));
    let mut bad = spki.clone();
    bad[10] ^= 1;
    assert!(dtls::cert::p256_from_spki(&bad).is_err());
    assert!(dtls::cert::p256_from_spki(&spki[..90]).is_err());
    assert!(dtls::cert::p256_from_spki(&[]).is_err());
}
