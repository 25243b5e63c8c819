//! Outbound delegation in process: a mote's Connect on its association makes the IoTSSP run
//! the client handshake in the mote's name with a dtls server, check its chain and name,
//! and transfer the session with the mote as client; the mote's record layer then talks
//! to the server end to end. A server the policy does not name, and one whose certificate
//! is not for the expected name, are refused with a ConnectFailed. A keyless mote
//! (`key = "mote"`) signs the CertificateVerify itself over its association.

use std::collections::VecDeque;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::cert::CertifiedKey;
use dtls::provider::SeededRandom;
use dtls::record::{ContentType, RecordAead, records};
use dtls::{Connection, Event, RecordLayer, Role, ServerConfig, SessionKeys, SessionState};
use mote_assoc::crypto::{SoftAes, SoftEcdh};
use mote_assoc::keys::Credentials;
use mote_assoc::wire::{ConnectFailure, SuiteSet, TransferBody};
use mote_assoc::{Installation, MoteAssoc, MoteEvent};
use redirect::FlowTag;
use ssp::Output;
use ssp::config::SspConfig;

const MOTE: &str = "2001:db8:1::2";
const SERVER: &str = "2001:db8::10";

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data")
}

fn config(name: &str) -> SspConfig {
    SspConfig::from_toml_str(&config_text(name)).unwrap()
}

/// The IoTSSP holds the mote's certificate only (one for client authentication, whose key
/// the test mote signs with); the server asks for the client's.
fn keyless_config() -> SspConfig {
    let text = config_text("mote.example")
        .replace("private_key = \"server.key\"\n", "key = \"mote\"\n")
        .replace(
            "certificate_chain = \"server.pem\"",
            "certificate_chain = \"client.pem\"",
        );
    SspConfig::from_toml_str(&text).unwrap()
}

fn config_text(name: &str) -> String {
    format!(
        r#"
name = "ssp-a"
[[motes]]
name = "mote-1"
address = "{MOTE}"
certificate_chain = "server.pem"
private_key = "server.key"
psk_identity = "mote-1"
psk = "30313233343536373839616263646566"
[[motes.outbound]]
address = "{SERVER}"
name = "{name}"
[trust]
anchors = "ca.pem"
"#
    )
}

/// How the test mote answers a SignRequest.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MoteSigner {
    /// With the key of its certificate (client.key), as a keyless mote's platform does.
    OwnKey,
    /// Refuses.
    Refuses,
}

fn mote_signature(digest: &[u8; 32]) -> [u8; 64] {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::pkcs8::DecodePrivateKey;
    let pem = std::fs::read_to_string(data().join("client.key")).unwrap();
    let secret = p256::SecretKey::from_pkcs8_pem(&pem)
        .or_else(|_| p256::SecretKey::from_sec1_pem(&pem))
        .unwrap();
    let sig: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(secret)
        .sign_prehash(digest)
        .unwrap();
    sig.to_bytes().into()
}

struct Rng(u64);

impl mote_assoc::crypto::Random for Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.0 >> 56) as u8;
        }
    }
}

/// What the mote installed.
#[derive(Default)]
struct Table(Vec<TransferBody>);

impl mote_assoc::SessionTable for Table {
    fn free_slots(&self) -> u8 {
        4
    }
    fn suites(&self) -> SuiteSet {
        SuiteSet(0x01)
    }
    fn install(&mut self, body: &TransferBody) -> Installation {
        self.0.push(body.clone());
        Installation::Installed
    }
}

struct Bed {
    now: Instant,
    iotssp: ssp::Iotssp,
    mote: MoteAssoc<SoftAes, SoftEcdh, Rng>,
    table: Table,
    origin: Instant,
    server: Option<Connection>,
    server_config: Arc<ServerConfig>,
    flow: FlowTag,
    mote_events: Vec<MoteEvent>,
    transferred: Vec<FlowTag>,
    signer: MoteSigner,
}

impl Bed {
    fn new(name: &str) -> Bed {
        Bed::with(config(name), None)
    }

    /// A keyless mote, and a server that asks for the client's certificate.
    fn keyless(signer: MoteSigner) -> Bed {
        let anchors = dtls::cert::ChainVerifier::from_pem(
            &std::fs::read_to_string(data().join("ca.pem")).unwrap(),
        )
        .unwrap();
        let mut bed = Bed::with(keyless_config(), Some(anchors));
        bed.signer = signer;
        bed
    }

    fn with(config: SspConfig, client_auth: Option<dtls::cert::ChainVerifier>) -> Bed {
        let now = Instant::now();
        let iotssp = config
            .build_with_random(&data(), SeededRandom::shared([7; 32]))
            .unwrap();
        let mote_addr: Ipv6Addr = MOTE.parse().unwrap();
        let creds =
            Credentials::new::<SoftAes>(b"0123456789abcdef", ssp::config::mote_id(&mote_addr))
                .unwrap();
        let read = |f: &str| std::fs::read_to_string(data().join(f)).unwrap();
        let server_config = Arc::new(ServerConfig::ecdhe(
            Arc::new(CertifiedKey::from_pem(&read("server.pem"), &read("server.key")).unwrap()),
            client_auth,
        ));
        Bed {
            now,
            iotssp,
            mote: MoteAssoc::new(creds, SoftEcdh, Rng(3)),
            table: Table::default(),
            origin: now,
            server: None,
            server_config,
            flow: FlowTag {
                peer_addr: SERVER.parse().unwrap(),
                peer_port: 5684,
                mote_addr,
                mote_port: 5684,
            },
            mote_events: Vec::new(),
            transferred: Vec::new(),
            signer: MoteSigner::OwnKey,
        }
    }

    fn t(&self) -> mote_assoc::Instant {
        mote_assoc::Instant::from_millis(self.now.duration_since(self.origin).as_millis() as u64)
    }

    /// Moves everything in flight until nothing moves; then fires the next timer if any
    /// within `limit`.
    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            let mut moved = false;
            let mut buf = [0u8; mote_assoc::MAX_DATAGRAM_LEN];
            let from = SocketAddr::V6(SocketAddrV6::new(MOTE.parse().unwrap(), 5685, 0, 0));
            while let Some(n) = self.mote.poll_transmit(&mut buf) {
                self.iotssp.handle_mote_datagram(self.now, from, &buf[..n]);
                moved = true;
            }
            let mut to_server = VecDeque::new();
            while let Some(o) = self.iotssp.poll_output() {
                moved = true;
                match o {
                    Output::ToMote { datagram, .. } => {
                        let t = self.t();
                        let event = self.mote.handle_datagram(t, &datagram, &mut self.table);
                        if let Some(MoteEvent::SignRequested(r)) = event {
                            let answer = match self.signer {
                                MoteSigner::OwnKey => Ok(mote_signature(&r.digest)),
                                MoteSigner::Refuses => Err(mote_assoc::wire::SignStatus::Refused),
                            };
                            self.mote.answer_sign_request(r.q, answer);
                        }
                        self.mote_events.extend(event);
                    }
                    Output::Emit { flow, datagram } => {
                        assert_eq!(flow, self.flow);
                        to_server.push_back(datagram);
                    }
                    Output::FlowTransferred { flow, final_flight } => {
                        assert!(final_flight.is_empty());
                        self.transferred.push(flow);
                    }
                    Output::FlowAbandoned { .. } | Output::SessionResumable { .. } => {}
                }
            }
            for d in to_server {
                let peer = SocketAddr::V6(SocketAddrV6::new(MOTE.parse().unwrap(), 5684, 0, 0));
                if self.server.is_none() {
                    self.server = Some(
                        Connection::accept(self.now, peer, self.server_config.clone(), &d, 0, 0)
                            .unwrap(),
                    );
                } else if let Some(s) = self.server.as_mut() {
                    s.handle_datagram(self.now, &d);
                }
            }
            if let Some(s) = self.server.as_mut() {
                while let Some(tx) = s.poll_transmit() {
                    self.iotssp.handle_divert(self.now, self.flow, &tx.contents);
                    moved = true;
                }
            }
            if moved {
                continue;
            }
            let next = [
                self.iotssp.poll_timeout(),
                self.mote
                    .poll_timeout()
                    .map(|t| self.origin + Duration::from_millis(t.as_millis())),
                self.server.as_ref().and_then(Connection::poll_timeout),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|t| *t <= end) else {
                return;
            };
            self.now = self.now.max(next);
            let t = self.t();
            self.iotssp.handle_timeout(self.now);
            self.mote.handle_timeout(t);
            if let Some(s) = self.server.as_mut() {
                s.handle_timeout(self.now);
            }
        }
    }

    fn associate(&mut self) {
        self.run(Duration::from_secs(1));
        assert!(
            self.mote.association().is_some(),
            "the mote associates at boot"
        );
    }
}

#[test]
fn connect_opens_a_client_session_the_mote_then_uses() {
    let mut bed = Bed::new("mote.example");
    bed.associate();
    let t = bed.t();
    bed.mote
        .connect(t, bed.flow.peer_addr.octets(), 5684)
        .unwrap();
    bed.run(Duration::from_secs(5));
    assert_eq!(bed.iotssp.counters().outbound_started, 1);
    assert_eq!(bed.iotssp.counters().outbound_completed, 1);
    assert_eq!(bed.transferred, vec![bed.flow]);
    assert_eq!(bed.iotssp.keys_held(), 0);
    assert_eq!(bed.mote.stats().connects_completed, 1);
    assert_eq!(bed.mote.pending_connect(), None);
    let body = bed.table.0.pop().expect("a session installed");
    assert!(body.mote_is_client);
    assert_eq!(
        (body.client_addr, body.client_port),
        (bed.flow.peer_addr.octets(), 5684)
    );
    let server = bed.server.as_mut().unwrap();
    assert!(server.is_established());
    // The mote's record layer, as the client, talks to the server end to end.
    let mote_assoc::wire::SessionKeys::Ccm8(k) = &body.keys else {
        panic!("CCM-8 expected")
    };
    let keys = SessionKeys::new(
        RecordAead::Aes128Ccm8,
        &k.client_write_key,
        &k.server_write_key,
        &k.client_write_iv,
        &k.server_write_iv,
    )
    .unwrap();
    let seq = body.sequence_numbers();
    let mut layer = RecordLayer::from_session(&SessionState {
        role: Role::Client,
        keys,
        read_epoch: 1,
        read_highest_seq: Some(seq.highest_received),
        read_replay_bitmap: 1,
        write_epoch: 1,
        next_write_seq: seq.next_write,
    })
    .unwrap();
    let mut out = Vec::new();
    layer
        .write_record(1, ContentType::ApplicationData, b"GET /hello", &mut out)
        .unwrap();
    server.handle_datagram(bed.now, &out);
    let mut got = None;
    while let Some(e) = server.poll_event() {
        if let Event::ApplicationData(d) = e {
            got = Some(d);
        }
    }
    assert_eq!(got.as_deref(), Some(&b"GET /hello"[..]));
    server.send_application_data(b"hello mote").unwrap();
    let reply = server.poll_transmit().unwrap().contents;
    let rec = records(&reply).next().unwrap().unwrap();
    assert_eq!(layer.open(&rec).unwrap().unwrap().plaintext, b"hello mote");
}

/// With a resumption lifetime for the mote, the Transfer of an outbound session carries the
/// id the server gave it and the master secret (flag 3), so that the mote can resume with the
/// server itself; a server that gives no id leaves the body without them.
#[test]
fn an_outbound_transfer_carries_the_servers_session_id_and_master_secret() {
    for issue_ids in [true, false] {
        let text = config_text("mote.example").replace(
            "psk = \"30313233343536373839616263646566\"\n",
            "psk = \"30313233343536373839616263646566\"\nresumption_lifetime_secs = 600\n",
        );
        let mut bed = Bed::with(SspConfig::from_toml_str(&text).unwrap(), None);
        let mut server = (*bed.server_config).clone();
        server.issue_session_ids = issue_ids;
        bed.server_config = Arc::new(server);
        bed.associate();
        let t = bed.t();
        bed.mote
            .connect(t, bed.flow.peer_addr.octets(), 5684)
            .unwrap();
        bed.run(Duration::from_secs(5));
        assert_eq!(bed.iotssp.counters().outbound_completed, 1);
        assert_eq!(bed.iotssp.keys_held(), 0);
        let body = bed.table.0.pop().expect("a session installed");
        assert!(body.mote_is_client);
        let server = bed.server.as_ref().unwrap();
        match (issue_ids, &body.resumption) {
            (true, Some(r)) => {
                let secret = server.resumption_secret().unwrap();
                assert_eq!(r.session_id(), &secret.session_id[..]);
                assert_eq!(r.master_secret, *secret.master_secret);
                assert_eq!(r.extended_master_secret, secret.extended_master_secret);
                assert_eq!(r.lifetime_secs, 600);
            }
            (false, None) => {}
            (_, r) => panic!("issue_ids {issue_ids}: {r:?}"),
        }
    }
}

#[test]
fn a_server_the_policy_does_not_name_is_refused() {
    let mut bed = Bed::new("mote.example");
    bed.associate();
    let t = bed.t();
    let other: Ipv6Addr = "2001:db8::99".parse().unwrap();
    let r = bed.mote.connect(t, other.octets(), 5684).unwrap();
    bed.run(Duration::from_secs(1));
    assert_eq!(
        bed.mote_events.last(),
        Some(&MoteEvent::ConnectFailed {
            r,
            reason: ConnectFailure::NotPermitted
        })
    );
    assert_eq!(bed.iotssp.counters().outbound_refused, 1);
    assert_eq!(bed.iotssp.counters().outbound_started, 0);
    assert!(bed.server.is_none(), "nothing went to the Internet");
}

#[test]
fn a_server_certificate_for_another_name_is_refused() {
    let mut bed = Bed::new("coap.example");
    bed.associate();
    let t = bed.t();
    let r = bed
        .mote
        .connect(t, bed.flow.peer_addr.octets(), 5684)
        .unwrap();
    bed.run(Duration::from_secs(5));
    assert_eq!(
        bed.mote_events.last(),
        Some(&MoteEvent::ConnectFailed {
            r,
            reason: ConnectFailure::HandshakeFailed
        })
    );
    assert_eq!(
        bed.iotssp
            .counters()
            .outbound_failed
            .get("cert_name_mismatch"),
        Some(&1)
    );
    assert!(bed.table.0.is_empty());
    assert!(bed.transferred.is_empty());
}

/// A server's flight on a flow no mote asked for is no handshake: it starts nothing.
#[test]
fn the_internet_cannot_start_an_outbound_flow() {
    let mut bed = Bed::new("mote.example");
    bed.associate();
    let hello_verify = [22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0];
    bed.iotssp.handle_divert(bed.now, bed.flow, &hello_verify);
    bed.run(Duration::from_secs(1));
    assert_eq!(bed.iotssp.counters().outbound_started, 0);
    assert_eq!(bed.iotssp.delegation_count(), 0);
    assert!(bed.server.is_none());
}

/// A keyless mote signs the CertificateVerify of the outbound handshake: the server
/// verifies the mote's certificate and the session reaches the mote, while the IoTSSP holds
/// no private key of it.
#[test]
fn a_keyless_mote_signs_its_certificate_verify() {
    let mut bed = Bed::keyless(MoteSigner::OwnKey);
    assert_eq!(bed.iotssp.private_keys_held(), 0);
    bed.associate();
    let t = bed.t();
    bed.mote
        .connect(t, bed.flow.peer_addr.octets(), 5684)
        .unwrap();
    bed.run(Duration::from_secs(5));
    assert_eq!(
        bed.iotssp.counters().outbound_completed,
        1,
        "{:?}",
        bed.iotssp.counters()
    );
    assert_eq!(bed.iotssp.counters().keyless_signatures, 1);
    assert_eq!(bed.mote.stats().ecc_signatures, 1);
    assert_eq!(bed.mote.stats().sign_requests, 1);
    let server = bed.server.as_ref().unwrap();
    assert!(server.is_established());
    assert!(
        !server.peer_certificates().is_empty(),
        "the server verified the mote's certificate"
    );
    assert_eq!(bed.table.0.len(), 1);
}

/// A keyless mote that refuses to sign gets a ConnectFailed; the server an alert.
#[test]
fn a_keyless_mote_that_refuses_to_sign_gets_no_session() {
    let mut bed = Bed::keyless(MoteSigner::Refuses);
    bed.associate();
    let t = bed.t();
    let r = bed
        .mote
        .connect(t, bed.flow.peer_addr.octets(), 5684)
        .unwrap();
    bed.run(Duration::from_secs(5));
    assert_eq!(
        bed.mote_events.last(),
        Some(&MoteEvent::ConnectFailed {
            r,
            reason: ConnectFailure::HandshakeFailed
        })
    );
    assert_eq!(
        bed.iotssp
            .counters()
            .outbound_failed
            .get("mote_signature_failed"),
        Some(&1)
    );
    assert_eq!(bed.iotssp.counters().keyless_signatures, 0);
    assert!(bed.table.0.is_empty());
    assert!(bed.server.as_ref().unwrap().is_closed());
}
