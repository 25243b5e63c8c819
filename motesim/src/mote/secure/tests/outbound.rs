//! Outbound delegation at the delegated mote: on the association leg, against the
//! association's IoTSSP machine (`mote_assoc::SspAssoc`) and a record layer standing in for
//! the server. The device is driven directly (no radio) on a simulated clock.

use delegated_mote::SuiteSet;
use mote_assoc::crypto::{SoftAes, SoftEcdh};
use mote_assoc::keys::Credentials;
use mote_assoc::wire::{ConnectFailure, KeyBlock, SequenceNumbers, TransferBody};
use mote_assoc::{SspAssoc, SspEvent};

use super::*;
use crate::mote::secure::delegated::{DelegatedDevice, Leg, OutboundTarget};

const EUI64: [u8; 8] = [0x02, 0x12, 0x4b, 0, 0, 0, 0, 1];

struct TestRng(u64);

impl mote_assoc::crypto::Random for TestRng {
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

fn iotssp() -> Peer {
    peer("fd00::5".parse().unwrap(), 61616)
}

fn server() -> Peer {
    peer("fd00:beef::7".parse().unwrap(), COAPS_PORT)
}

struct Bench {
    t0: Instant,
    now: Instant,
    mote: DelegatedDevice,
    ssp: SspAssoc<SoftAes, SoftEcdh, TestRng>,
    events: Vec<SspEvent>,
    /// What the mote sent to the server.
    to_server: Vec<Vec<u8>>,
}

impl Bench {
    fn new() -> Self {
        Self::ending_sessions(None, 0)
    }

    /// A mote that ends its session after `reports_per_session` GETs, keeping
    /// `resumption_slots` sessions to resume.
    fn ending_sessions(reports_per_session: Option<u32>, resumption_slots: usize) -> Self {
        let DeviceSpec::Delegated(mut cfg) = delegated_spec(2) else {
            unreachable!()
        };
        cfg.leg = Leg::Association;
        cfg.iotssp_address = Some(iotssp());
        let mut target =
            OutboundTarget::parse("coaps://[fd00:beef::7]/time", Duration::from_secs(2)).unwrap();
        target.reports_per_session = reports_per_session;
        cfg.outbound = Some(target);
        cfg.resumption_slots = resumption_slots;
        let rng = Arc::new(dtls::provider::SeededRandom::from_u64(0, 1));
        let now = Instant::now();
        Bench {
            t0: now,
            now,
            mote: DelegatedDevice::new(&cfg, 1, EUI64, rng).unwrap(),
            ssp: SspAssoc::new(
                Credentials::new::<SoftAes>(IOTSSP_KEY, EUI64).unwrap(),
                SoftEcdh,
                TestRng(5),
            ),
            events: Vec::new(),
            to_server: Vec::new(),
        }
    }

    fn ssp_now(&self) -> mote_assoc::Instant {
        mote_assoc::Instant::from_millis(self.now.duration_since(self.t0).as_millis() as u64)
    }

    /// Moves datagrams both ways until both are quiet.
    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(d) = self.mote.poll_transmit(self.now) {
                moved = true;
                if d.peer == iotssp() {
                    assert_eq!(d.local_port, DEFAULT_TRANSFER_PORT);
                    let t = self.ssp_now();
                    self.events.extend(self.ssp.handle_datagram(t, &d.payload));
                } else {
                    assert_eq!((d.peer, d.local_port), (server(), COAPS_PORT));
                    self.to_server.push(d.payload);
                }
            }
            let mut buf = [0u8; mote_assoc::MAX_DATAGRAM_LEN];
            while let Some(n) = self.ssp.poll_transmit(&mut buf) {
                moved = true;
                self.mote
                    .handle_datagram(self.now, DEFAULT_TRANSFER_PORT, iotssp(), &buf[..n]);
            }
            if !moved {
                break;
            }
        }
    }

    /// Runs both sides' timers up to `d` from the start.
    fn run_until(&mut self, d: Duration) {
        let end = self.t0 + d;
        loop {
            self.exchange();
            let next = [
                self.mote.poll_timeout(),
                self.ssp
                    .poll_timeout()
                    .map(|t| self.t0 + Duration::from_millis(t.as_millis())),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.mote.handle_timeout(self.now);
                    let t = self.ssp_now();
                    self.events.extend(self.ssp.handle_timeout(t));
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
        self.mote.handle_timeout(self.now);
        self.exchange();
    }

    fn connect_requests(&mut self) -> Vec<u32> {
        let server = server();
        self.events
            .drain(..)
            .filter_map(|e| match e {
                SspEvent::ConnectRequested {
                    r,
                    server_addr,
                    server_port,
                } => {
                    assert_eq!(
                        (server_addr, server_port),
                        (server.addr.octets(), server.port)
                    );
                    Some(r)
                }
                _ => None,
            })
            .collect()
    }
}

/// The server's record layer for the session the IoTSSP transfers (its Finished was (1, 0)).
fn server_layer(k: &KeyBlock<16, 4>) -> RecordLayer {
    RecordLayer::from_session(&SessionState {
        role: Role::Server,
        keys: SessionKeys::new(
            dtls::record::RecordAead::Aes128Ccm8,
            &k.client_write_key,
            &k.server_write_key,
            &k.client_write_iv,
            &k.server_write_iv,
        )
        .unwrap(),
        read_epoch: 1,
        read_highest_seq: Some(0),
        read_replay_bitmap: 1,
        write_epoch: 1,
        next_write_seq: 1,
    })
    .unwrap()
}

fn opened(layer: &mut RecordLayer, datagram: &[u8]) -> Packet {
    let r = records(datagram).next().unwrap().unwrap();
    let o = layer.open(&r).unwrap().expect("a record of the session");
    assert_eq!(o.content_type, ContentType::ApplicationData);
    Packet::from_bytes(&o.plaintext).unwrap()
}

#[test]
fn a_delegated_mote_asks_for_its_outbound_session_retries_and_gets_every_interval() {
    let mut b = Bench::new();
    b.run_until(Duration::from_millis(500));
    assert!(
        b.events
            .iter()
            .any(|e| matches!(e, SspEvent::Associated { .. })),
        "{:?} {:?} {:?}",
        b.events,
        b.mote.counters(),
        b.ssp.stats()
    );
    let [r] = b.connect_requests()[..] else {
        panic!("one Connect once associated")
    };
    assert_eq!(b.mote.counters().outbound_connects, 1);

    // Refused: counted, the reason kept, the next Connect one interval later.
    b.ssp.refuse_connect(r, ConnectFailure::HandshakeFailed);
    b.exchange();
    let c = b.mote.counters();
    assert_eq!(
        (c.outbound_connects_failed, c.outbound_last_failure.as_str()),
        (1, "HandshakeFailed")
    );
    b.run_until(Duration::from_millis(1900));
    assert!(b.connect_requests().is_empty());
    b.run_until(Duration::from_millis(2600));
    let [_] = b.connect_requests()[..] else {
        panic!("a second Connect after the interval")
    };
    assert_eq!(b.mote.counters().outbound_connects, 2);

    // The IoTSSP transfers the session with the server, the mote as client.
    let keys = KeyBlock {
        client_write_key: [1; 16],
        server_write_key: [2; 16],
        client_write_iv: [3; 4],
        server_write_iv: [4; 4],
    };
    let body = TransferBody {
        keys: mote_assoc::wire::SessionKeys::Ccm8(keys.clone()),
        may_evict: false,
        client_addr: server().addr.octets(),
        client_port: server().port,
        sequence: Some(SequenceNumbers {
            highest_received: 0,
            next_write: 1,
        }),
        mote_is_client: true,
        resumption: None,
    };
    b.ssp.start_transfer(b.ssp_now(), body).unwrap();
    b.exchange();
    assert!(
        b.events
            .iter()
            .any(|e| matches!(e, SspEvent::Confirmed { .. })),
        "{:?}",
        b.events
    );

    // The GET leaves at once on the session, and the answer is taken as a response.
    let mut server_layer = server_layer(&keys);
    assert_eq!(b.to_server.len(), 1);
    let get = opened(&mut server_layer, &b.to_server[0]);
    assert_eq!(get.header.code, MessageClass::Request(RequestType::Get));
    assert_eq!(
        get.get_option(CoapOption::UriPath)
            .map(|v| v.iter().cloned().collect::<Vec<_>>()),
        Some(vec![b"time".to_vec()])
    );
    let mut answer = Packet::new();
    answer.header.set_type(MessageType::Acknowledgement);
    answer.header.code = MessageClass::Response(ResponseType::Content);
    answer.header.message_id = get.header.message_id;
    answer.set_token(get.get_token().to_vec());
    answer.payload = b"12:00".to_vec();
    let d = seal(
        &mut server_layer,
        ContentType::ApplicationData,
        &answer.to_bytes().unwrap(),
    );
    b.mote.handle_datagram(b.now, COAPS_PORT, server(), &d);
    b.exchange();
    assert_eq!(b.to_server.len(), 1, "a response is not answered");
    let c = b.mote.counters();
    assert_eq!((c.coap_requests_out, c.coap_responses_in), (1, 1));
    assert_eq!(c.outbound_last_response, "2.05 12:00");
    assert_eq!(c.ecc_operations, 0);

    // The next GET one interval later, and no new Connect while the session is there.
    b.run_until(Duration::from_millis(4500));
    assert_eq!(b.to_server.len(), 1);
    b.run_until(Duration::from_millis(4700));
    assert_eq!(b.to_server.len(), 2);
    let next = opened(&mut server_layer, &b.to_server[1]);
    assert_ne!(next.header.message_id, get.header.message_id);
    assert!(b.connect_requests().is_empty());
    assert_eq!(b.mote.counters().outbound_connects, 2);
}

/// The mote's address as the server sees it.
fn mote() -> delegated_mote::Address {
    delegated_mote::Address {
        addr: "fd00:aaaa::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
        port: COAPS_PORT,
    }
}

/// The server: the library's record layer with a server's resumption cache (it resumes the
/// sessions it holds as the mote resumes its own with clients).
type ServerLayer = delegated_mote::SessionLayer<SoftAes, 2, 2048>;

const SESSION_ID: [u8; 16] = [0x5e; 16];

/// The outbound session as the IoTSSP transfers it, the server's id and the master secret
/// in it (`mote_is_client`), or as the server holds it.
fn resumable_body(mote_is_client: bool) -> TransferBody {
    let peer = if mote_is_client {
        delegated_mote::Address {
            addr: server().addr.octets(),
            port: server().port,
        }
    } else {
        mote()
    };
    TransferBody {
        keys: mote_assoc::wire::SessionKeys::Ccm8(KeyBlock {
            client_write_key: [1; 16],
            server_write_key: [2; 16],
            client_write_iv: [3; 4],
            server_write_iv: [4; 4],
        }),
        may_evict: true,
        client_addr: peer.addr,
        client_port: peer.port,
        sequence: Some(SequenceNumbers {
            highest_received: 0,
            next_write: 1,
        }),
        mote_is_client,
        resumption: mote_assoc::wire::Resumption::new(&SESSION_ID, [0x4d; 48], true, 3600),
    }
}

impl Bench {
    /// Associates, takes the Connect and has the IoTSSP transfer the resumable session.
    fn with_resumable_session(&mut self) {
        self.run_until(Duration::from_millis(500));
        let [_] = self.connect_requests()[..] else {
            panic!("one Connect once associated: {:?}", self.events)
        };
        self.ssp
            .start_transfer(self.ssp_now(), resumable_body(true))
            .unwrap();
        self.exchange();
    }

    /// Hands what the mote sent to `server` and its answers back until both are quiet;
    /// returns the application data the server got.
    fn serve(&mut self, peer: &mut ServerLayer) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let t = self.ssp_now();
        loop {
            self.exchange();
            let sent: Vec<_> = self.to_server.drain(..).collect();
            for d in &sent {
                peer.handle_datagram_resuming(t, &mote(), d, &mut TestRng(11));
            }
            let mut buf = [0u8; 2048];
            while let Some(r) = peer.recv(&mut buf) {
                got.push(buf[..r.len].to_vec());
            }
            let mut answered = false;
            while let Some((to, n)) = peer.poll_transmit(&mut buf) {
                assert_eq!(to, mote());
                answered = true;
                self.mote
                    .handle_datagram(self.now, COAPS_PORT, server(), &buf[..n]);
            }
            if sent.is_empty() && !answered {
                return got;
            }
        }
    }
}

fn uri_path(get: &[u8]) -> Vec<u8> {
    let p = Packet::from_bytes(get).unwrap();
    assert_eq!(p.header.code, MessageClass::Request(RequestType::Get));
    p.get_option(CoapOption::UriPath)
        .and_then(|v| v.front().cloned())
        .unwrap_or_default()
}

#[test]
fn after_its_reports_per_session_the_mote_ends_the_session_and_resumes_it_with_the_server() {
    let mut b = Bench::ending_sessions(Some(2), 1);
    b.with_resumable_session();
    let mut server = ServerLayer::new(SuiteSet(0b1111), Duration::from_secs(300), 2);
    server.set_resumption_slots(1);
    let t = b.ssp_now();
    server.install(t, &resumable_body(false));
    // Two GETs on the transferred session, one interval apart.
    let got = b.serve(&mut server);
    assert_eq!(got.len(), 1);
    b.run_until(Duration::from_millis(2700));
    assert_eq!(b.serve(&mut server).len(), 1);
    assert_eq!(
        b.mote.counters().outbound_resumables_cached,
        1,
        "{:?}",
        b.mote.counters()
    );

    // The third is due: the mote ends the session (the server sees its close_notify),
    // resumes it with the server itself, and the GET goes on the resumed session after
    // the mote's Finished.
    b.run_until(Duration::from_millis(4700));
    let got = b.serve(&mut server);
    assert_eq!(server.resumption().stats().resumed, 1);
    assert_eq!(server.sessions().stats().closed, 1);
    let [get] = &got[..] else {
        panic!("one GET on the resumed session: {got:?}")
    };
    assert_eq!(uri_path(get), b"time");
    let c = b.mote.counters().clone();
    assert_eq!(
        (
            c.outbound_sessions_ended,
            c.outbound_resumptions_started,
            c.outbound_resumptions_succeeded,
            c.outbound_resumption_fallbacks
        ),
        (1, 1, 1, 0),
        "{c:?}"
    );
    assert_eq!((c.coap_requests_out, c.ecc_operations), (3, 0));
    assert!(b.connect_requests().is_empty(), "no IoTSSP involved");
    assert_eq!(c.outbound_connects, 1);

    // The next burst: one more GET on the resumed session, then the next resumption.
    b.run_until(Duration::from_millis(6700));
    assert_eq!(b.serve(&mut server).len(), 1);
    b.run_until(Duration::from_millis(8700));
    assert_eq!(b.serve(&mut server).len(), 1);
    let c = b.mote.counters();
    assert_eq!(
        (
            c.outbound_sessions_ended,
            c.outbound_resumptions_succeeded,
            c.coap_requests_out
        ),
        (2, 2, 5),
        "{c:?}"
    );
    assert!(b.connect_requests().is_empty());
}

#[test]
fn a_server_that_does_not_resume_sends_the_mote_to_its_iotssp_at_once() {
    let mut b = Bench::ending_sessions(Some(1), 1);
    b.with_resumable_session();
    // A server that lost the session (restarted): it holds nothing of the mote's.
    let mut server = ServerLayer::new(SuiteSet(0b1111), Duration::from_secs(300), 2);
    server.set_resumption_slots(1);
    b.to_server.clear();
    b.run_until(Duration::from_millis(2700));
    // The close_notify, the hello; then the hello with each HelloVerifyRequest's cookie,
    // until the third ends the attempt.
    b.serve(&mut server);
    let c = b.mote.counters().clone();
    assert_eq!(
        (
            c.outbound_sessions_ended,
            c.outbound_resumptions_started,
            c.outbound_resumptions_succeeded,
            c.outbound_resumption_fallbacks
        ),
        (1, 1, 0, 1),
        "{c:?}"
    );
    let [_] = b.connect_requests()[..] else {
        panic!("the mote asks its IoTSSP at once: {:?}", b.events)
    };
    assert_eq!(c.outbound_connects, 2);
}
