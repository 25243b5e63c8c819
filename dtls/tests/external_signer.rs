//! A certificate whose private key is held elsewhere (a mote's, in keyless delegation): the
//! handshake pauses with `Event::SignatureNeeded`, sends nothing meanwhile, and resumes with
//! `Connection::provide_signature`, in the server role (ServerKeyExchange) and the client
//! role (CertificateVerify). A signature that does not verify ends it with internal_error.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dtls::alert::AlertDescription;
use dtls::cert::CertifiedKey;
use dtls::{
    ClientConfig, CloseReason, Connection, Event, ServerConfig, SignaturePurpose, SignatureRequest,
};
use p256::ecdsa::signature::hazmat::PrehashSigner;

const CLIENT: &str = "[2001:db8::2]:40000";
const SERVER: &str = "[2001:db8::1]:5684";

/// The external signer: ECDSA P-256 over the digest as given, with the key in `key_file`.
fn sign(key_file: &str, digest: &[u8; 32]) -> [u8; 64] {
    use p256::pkcs8::DecodePrivateKey;
    let pem = data(key_file);
    let secret = p256::SecretKey::from_pkcs8_pem(&pem)
        .or_else(|_| p256::SecretKey::from_sec1_pem(&pem))
        .unwrap();
    let key = p256::ecdsa::SigningKey::from(secret);
    let sig: p256::ecdsa::Signature = key.sign_prehash(digest).unwrap();
    sig.to_bytes().into()
}

fn external(chain: &str) -> Arc<CertifiedKey> {
    Arc::new(CertifiedKey::external(&data(chain)).unwrap())
}

/// A client and a server connection wired back to back (the cookie exchange left out: the
/// server connection is made from the first ClientHello).
struct Wire {
    now: Instant,
    client: Connection,
    server: Option<Connection>,
    server_config: Arc<ServerConfig>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    /// Datagrams each side sent (client, server).
    sent: (usize, usize),
}

impl Wire {
    fn new(server: ServerConfig, client: ClientConfig) -> Wire {
        let now = Instant::now();
        let client = Connection::connect(now, SERVER.parse().unwrap(), Arc::new(client)).unwrap();
        Wire {
            now,
            client,
            server: None,
            server_config: Arc::new(server),
            client_events: Vec::new(),
            server_events: Vec::new(),
            sent: (0, 0),
        }
    }

    /// Moves datagrams both ways until neither side has anything to send.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                self.sent.0 += 1;
                match &mut self.server {
                    Some(s) => s.handle_datagram(self.now, &t.contents),
                    None => {
                        let peer: SocketAddr = CLIENT.parse().unwrap();
                        self.server = Some(
                            Connection::accept(
                                self.now,
                                peer,
                                self.server_config.clone(),
                                &t.contents,
                                0,
                                0,
                            )
                            .unwrap(),
                        );
                    }
                }
            }
            if let Some(s) = &mut self.server {
                while let Some(t) = s.poll_transmit() {
                    moved = true;
                    self.sent.1 += 1;
                    self.client.handle_datagram(self.now, &t.contents);
                }
                while let Some(e) = s.poll_event() {
                    self.server_events.push(e);
                }
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    fn server(&mut self) -> &mut Connection {
        self.server.as_mut().unwrap()
    }

    fn signature_needed(events: &[Event]) -> Option<SignatureRequest> {
        events.iter().find_map(|e| match e {
            Event::SignatureNeeded(r) => Some(*r),
            _ => None,
        })
    }
}

#[test]
fn server_pauses_for_the_server_key_exchange_signature() {
    let server = ServerConfig::ecdhe(external("server.pem"), Some(anchors()));
    let mut w = Wire::new(server, ecdhe_client("client.pem", "client.key"));
    w.pump();
    let req = Wire::signature_needed(&w.server_events).expect("SignatureNeeded");
    assert_eq!(req.purpose, SignaturePurpose::ServerKeyExchange);
    assert!(w.server().awaiting_signature());
    assert_eq!(w.sent.1, 0, "nothing goes out before the signature");
    // The client's retransmitted hello gets no partial flight.
    w.now += Duration::from_secs(2);
    w.client.handle_timeout(w.now);
    w.pump();
    assert_eq!(w.sent.1, 0);
    let now = w.now;
    w.server()
        .provide_signature(now, &sign("server.key", &req.digest))
        .unwrap();
    w.pump();
    assert!(
        w.client_events.contains(&Event::HandshakeComplete),
        "{:?}",
        w.client_events
    );
    assert!(
        w.server_events.contains(&Event::HandshakeComplete),
        "{:?}",
        w.server_events
    );
    w.client.send_application_data(b"ping").unwrap();
    w.pump();
    assert!(
        w.server_events
            .contains(&Event::ApplicationData(b"ping".to_vec()))
    );
}

#[test]
fn client_pauses_for_the_certificate_verify_signature() {
    let server = ecdhe_server();
    let client = ClientConfig::ecdhe(anchors(), Some(external("client.pem")));
    let mut w = Wire::new(server, client);
    w.pump();
    let req = Wire::signature_needed(&w.client_events).expect("SignatureNeeded");
    assert_eq!(req.purpose, SignaturePurpose::CertificateVerify);
    assert!(w.client.awaiting_signature());
    let before = w.sent.0;
    let now = w.now;
    w.client
        .provide_signature(now, &sign("client.key", &req.digest))
        .unwrap();
    w.pump();
    assert!(w.sent.0 > before);
    assert!(
        w.client_events.contains(&Event::HandshakeComplete),
        "{:?}",
        w.client_events
    );
    assert!(
        w.server_events.contains(&Event::HandshakeComplete),
        "{:?}",
        w.server_events
    );
    assert!(!w.server().peer_certificates().is_empty());
}

#[test]
fn a_signature_that_does_not_verify_ends_the_handshake_with_internal_error() {
    let server = ServerConfig::ecdhe(external("server.pem"), Some(anchors()));
    let mut w = Wire::new(server, ecdhe_client("client.pem", "client.key"));
    w.pump();
    let req = Wire::signature_needed(&w.server_events).unwrap();
    // Signed with another key than the certificate's.
    let now = w.now;
    assert!(
        w.server()
            .provide_signature(now, &sign("client.key", &req.digest))
            .is_err()
    );
    assert!(w.server().is_closed());
    w.pump();
    assert!(
        w.client_events
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::InternalError
            ))),
        "{:?}",
        w.client_events
    );
}

#[test]
fn a_signature_nobody_asked_for_changes_nothing() {
    let mut w = Wire::new(ecdhe_server(), ecdhe_client("client.pem", "client.key"));
    w.pump();
    assert!(Wire::signature_needed(&w.server_events).is_none());
    let now = w.now;
    assert!(w.client.provide_signature(now, &[1; 64]).is_err());
    assert!(w.client_events.contains(&Event::HandshakeComplete));
    assert!(w.client.is_established());
}

#[test]
fn external_keys_need_a_usable_certificate() {
    assert!(CertifiedKey::external("not a certificate").is_err());
    assert!(CertifiedKey::external_raw_public_key(&[4; 65]).is_err());
    let ck = CertifiedKey::external(&data("server.pem")).unwrap();
    assert!(!ck.key.is_local());
    let local = certified("server.pem", "server.key");
    assert_eq!(ck.key.public_key(), local.key.public_key());
}
