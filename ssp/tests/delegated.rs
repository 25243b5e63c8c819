//! The delegated handshake end to end over a simulated network and clock: an unmodified
//! dtls ECDHE client with a client certificate (as OpenSSL would be) <-> a border router
//! (per-record routing: application data to the mote, the rest diverted to the IoTSSP) <->
//! `Iotssp` <-> a minimal mote (a dtls PSK server that accepts the SessionTransferTicket,
//! installs the TransferSession into a `RecordLayer` and echoes application data).
//!
//! Deterministic: virtual time, no sockets, no sleeping.

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dtls::alert::AlertDescription;
use dtls::cert::{CertifiedKey, ChainVerifier};
use dtls::config::{ClientHelloInfo, HelloExtensionHandler};
use dtls::record::{ContentType, RecordLayer, records};
use dtls::transfer::{ConfirmStatus, SttAnswerRepr, SttOfferRepr, SttStatus, TransferConfirmRepr, TransferMessage};
use dtls::{ClientConfig, CloseReason, Connection, Endpoint, Event, Extension, PskTable, ServerConfig};
use hrm::{AbandonReason, FlowTag};
use ssp::config::SspConfig;
use ssp::{Iotssp, Output};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data")
}

fn data(name: &str) -> String {
    std::fs::read_to_string(data_dir().join(name)).unwrap()
}

const MOTE: &str = "2001:db8:1::2";
const SSP_MOTE_SOCKET: &str = "[2001:db8:5::1]:6000";
const PSK: &[u8] = b"0123456789abcdef";

fn config(extra: &str, rule_client: &str) -> SspConfig {
    let text = format!(
        r#"
name = "ssp-test"
[redirect]
listen = "[::1]:7700"
[[motes]]
name = "mote-1"
address = "{MOTE}"
certificate_chain = "server.pem"
private_key = "server.key"
psk_identity = "mote-1"
psk = "30313233343536373839616263646566"
[trust]
anchors = "ca.pem"
[authorization]
[[authorization.rules]]
client = "{rule_client}"
motes = ["mote-1"]
{extra}
"#
    );
    SspConfig::from_toml_str(&text).unwrap()
}

fn iotssp(extra: &str, rule_client: &str) -> Iotssp {
    config(extra, rule_client).build(&data_dir()).unwrap()
}

fn iotssp_at(extra: &str, clock: SystemTime) -> Iotssp {
    let verifier = ChainVerifier::from_pem(&data("ca.pem")).unwrap().with_clock(Arc::new(move || clock));
    config(extra, "cn:client.example")
        .build_with(verifier, |_, _| Ok(CertifiedKey::from_pem(&data("server.pem"), &data("server.key")).unwrap()))
        .unwrap()
}

// ---- the mote ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MoteBehaviour {
    Normal,
    /// Never answers anything.
    Silent,
    /// Ignores the ticket (a mote that does not know the extension).
    NoTicket,
}

struct TicketAcceptor {
    answer: bool,
}

impl HelloExtensionHandler for TicketAcceptor {
    fn client_hello(&self, hello: &ClientHelloInfo<'_>) -> Result<Vec<Extension>, AlertDescription> {
        match SttOfferRepr::find(hello.extensions) {
            Some(Ok(offer)) if offer.transfer_requested && self.answer => Ok(vec![SttAnswerRepr { status: SttStatus::Accept, free_slots: 1 }.to_extension()]),
            _ => Ok(vec![]),
        }
    }
}

struct Mote {
    endpoint: Endpoint,
    behaviour: MoteBehaviour,
    /// The transferred session's record layer (5684).
    session: Option<RecordLayer>,
    transfer_sessions_received: usize,
    installed_transfer: Option<u32>,
    certificates_seen: usize,
    echoed: Vec<Vec<u8>>,
}

impl Mote {
    fn new(behaviour: MoteBehaviour) -> Self {
        let mut t = PskTable::new();
        t.insert(b"mote-1", PSK);
        let mut cfg = ServerConfig::psk(Arc::new(t));
        cfg.hello_extensions = Some(Arc::new(TicketAcceptor { answer: behaviour != MoteBehaviour::NoTicket }));
        Mote { endpoint: Endpoint::new(Some(Arc::new(cfg))).unwrap(), behaviour, session: None, transfer_sessions_received: 0, installed_transfer: None, certificates_seen: 0, echoed: Vec::new() }
    }

    /// From the IoTSSP to the transfer port.
    fn transfer_port_input(&mut self, now: Instant, from: SocketAddr, d: &[u8]) {
        for r in records(d).flatten() {
            if r.content_type() == ContentType::Handshake && r.epoch() == 0 && r.fragment().first() == Some(&11) {
                self.certificates_seen += 1;
            }
        }
        if self.behaviour == MoteBehaviour::Silent {
            return;
        }
        self.endpoint.handle_datagram(now, from, d);
        while let Some((peer, ev)) = self.endpoint.poll_event() {
            if let Event::ApplicationData(bytes) = ev
                && let Ok(TransferMessage::Session(ts)) = TransferMessage::parse(&bytes)
            {
                self.transfer_sessions_received += 1;
                // A retransmitted TransferSession (our confirmation was lost): confirm again,
                // keep the installed session.
                if self.installed_transfer == Some(ts.transfer_id) {
                    let confirm = TransferConfirmRepr::answer(&ts, ConfirmStatus::Installed);
                    self.endpoint.send_application_data(&peer, &confirm.to_bytes()).unwrap();
                    continue;
                }
                self.installed_transfer = Some(ts.transfer_id);
                self.session = Some(RecordLayer::from_session(&ts.session_state().unwrap()));
                let confirm = TransferConfirmRepr::answer(&ts, ConfirmStatus::Installed);
                self.endpoint.send_application_data(&peer, &confirm.to_bytes()).unwrap();
            }
        }
    }

    /// Client records on 5684 (application data only: the router diverts the rest).
    fn session_input(&mut self, d: &[u8]) -> Vec<Vec<u8>> {
        let mut replies = Vec::new();
        let Some(layer) = &mut self.session else { return replies };
        for r in records(d).flatten() {
            if let Ok(Some(opened)) = layer.open(&r)
                && opened.content_type == ContentType::ApplicationData
            {
                let mut out = Vec::new();
                layer.write_record(opened.epoch, ContentType::ApplicationData, &opened.plaintext, &mut out).unwrap();
                self.echoed.push(opened.plaintext);
                replies.push(out);
            }
        }
        replies
    }
}

// ---- the network ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Link {
    ClientToNet,
    NetToClient,
    SspToMote,
    MoteToSsp,
}

type Loss = Box<dyn FnMut(Link, &[u8]) -> bool>;

struct Client {
    conn: Connection,
    events: Vec<Event>,
    flow: FlowTag,
}

struct Net {
    now: Instant,
    ssp: Iotssp,
    mote: Mote,
    clients: Vec<Client>,
    transferred: HashSet<FlowTag>,
    abandoned: Vec<(FlowTag, AbandonReason)>,
    /// Datagrams in flight: (link, client index for client links, bytes).
    queue: VecDeque<(Link, usize, Vec<u8>)>,
    deliver: Loss,
    to_mote_datagrams: usize,
    app_data_to_mote: usize,
}

fn mote_addr() -> Ipv6Addr {
    MOTE.parse().unwrap()
}

impl Net {
    fn new(ssp: Iotssp, mote: Mote) -> Self {
        Net {
            now: Instant::now(),
            ssp,
            mote,
            clients: Vec::new(),
            transferred: HashSet::new(),
            abandoned: Vec::new(),
            queue: VecDeque::new(),
            deliver: Box::new(|_, _| true),
            to_mote_datagrams: 0,
            app_data_to_mote: 0,
        }
    }

    fn add_client(&mut self, chain: &str, key: &str, port: u16) -> usize {
        let anchors = ChainVerifier::from_pem(&data("ca.pem")).unwrap();
        let ck = Arc::new(CertifiedKey::from_pem(&data(chain), &data(key)).unwrap());
        let cfg = Arc::new(ClientConfig::ecdhe(anchors, Some(ck)));
        let peer: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let conn = Connection::connect(self.now, SocketAddr::new(mote_addr().into(), 5684), cfg).unwrap();
        self.clients.push(Client { conn, events: Vec::new(), flow: FlowTag { peer_addr: peer, peer_port: port, mote_addr: mote_addr(), mote_port: 5684 } });
        self.clients.len() - 1
    }

    fn client_index(&self, flow: &FlowTag) -> usize {
        self.clients.iter().position(|c| c.flow == *flow).unwrap()
    }

    /// Collects everything every party wants to send.
    fn collect(&mut self) {
        for (i, c) in self.clients.iter_mut().enumerate() {
            while let Some(t) = c.conn.poll_transmit() {
                self.queue.push_back((Link::ClientToNet, i, t.contents));
            }
            while let Some(e) = c.conn.poll_event() {
                c.events.push(e);
            }
        }
        while let Some(o) = self.ssp.poll_output() {
            match o {
                Output::Emit { flow, datagram } => {
                    let i = self.client_index(&flow);
                    self.queue.push_back((Link::NetToClient, i, datagram));
                }
                Output::FlowTransferred { flow, final_flight } => {
                    // The border router routes the flow to the mote, then emits the flight.
                    self.transferred.insert(flow);
                    let i = self.client_index(&flow);
                    if !final_flight.is_empty() {
                        self.queue.push_back((Link::NetToClient, i, final_flight));
                    }
                }
                Output::FlowAbandoned { flow, reason } => self.abandoned.push((flow, reason)),
                Output::ToMote { mote, datagram } => {
                    assert_eq!(mote, SocketAddr::new(mote_addr().into(), 5685));
                    self.queue.push_back((Link::SspToMote, 0, datagram));
                }
            }
        }
        while let Some(t) = self.mote.endpoint.poll_transmit() {
            self.queue.push_back((Link::MoteToSsp, 0, t.contents));
        }
    }

    fn deliver_one(&mut self, link: Link, i: usize, d: Vec<u8>) {
        if !(self.deliver)(link, &d) {
            return;
        }
        match link {
            Link::ClientToNet => {
                // The border router: application data to the mote, the rest to the IoTSSP.
                let (app, other): (Vec<_>, Vec<_>) = records(&d).flatten().partition(|r| r.content_type() == ContentType::ApplicationData);
                if !app.is_empty() {
                    self.app_data_to_mote += app.len();
                    let bytes: Vec<u8> = app.iter().flat_map(|r| r.as_bytes().to_vec()).collect();
                    for reply in self.mote.session_input(&bytes) {
                        self.queue.push_back((Link::NetToClient, i, reply));
                    }
                }
                if !other.is_empty() {
                    let bytes: Vec<u8> = other.iter().flat_map(|r| r.as_bytes().to_vec()).collect();
                    let flow = self.clients[i].flow;
                    self.ssp.handle_redirect(self.now, &hrm::RedirectMessage::Divert { flow, datagram: &bytes });
                }
            }
            Link::NetToClient => self.clients[i].conn.handle_datagram(self.now, &d),
            Link::SspToMote => {
                self.to_mote_datagrams += 1;
                let from: SocketAddr = SSP_MOTE_SOCKET.parse().unwrap();
                self.mote.transfer_port_input(self.now, from, &d);
            }
            Link::MoteToSsp => self.ssp.handle_mote_datagram(self.now, SocketAddr::new(mote_addr().into(), 5685), &d),
        }
    }

    /// Runs until `done` or `limit` of virtual time has passed.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.collect();
            if done(self) {
                return true;
            }
            if let Some((link, i, d)) = self.queue.pop_front() {
                self.now += Duration::from_millis(5);
                self.deliver_one(link, i, d);
                continue;
            }
            let next = [
                self.ssp.poll_timeout(),
                self.mote.endpoint.poll_timeout(),
                self.clients.iter().filter_map(|c| c.conn.poll_timeout()).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { return done(self) };
            if next > end {
                return done(self);
            }
            self.now = self.now.max(next);
            if self.ssp.poll_timeout().is_some_and(|t| t <= self.now) {
                self.ssp.handle_timeout(self.now);
            }
            self.mote.endpoint.handle_timeout(self.now);
            for c in &mut self.clients {
                if c.conn.poll_timeout().is_some_and(|t| t <= self.now) {
                    c.conn.handle_timeout(self.now);
                }
            }
        }
    }

    fn client_complete(&self, i: usize) -> bool {
        self.clients[i].conn.is_established()
    }

    fn client_closed_with(&self, i: usize) -> Option<CloseReason> {
        self.clients[i].events.iter().find_map(|e| match e {
            Event::Closed(r) => Some(r.clone()),
            _ => None,
        })
    }
}

fn echoes(net: &Net, i: usize) -> usize {
    net.clients[i].events.iter().filter(|e| matches!(e, Event::ApplicationData(d) if d == b"GET /temperature")).count()
}

fn echo_roundtrip(net: &mut Net, i: usize) {
    let before = echoes(net, i);
    net.clients[i].conn.send_application_data(b"GET /temperature").unwrap();
    let ok = net.run_until(Duration::from_secs(10), |n| echoes(n, i) > before);
    assert!(ok, "echo from the mote's record layer");
}

#[test]
fn delegated_handshake_then_application_data_end_to_end() {
    let mut net = Net::new(iotssp("", "cn:client.example"), Mote::new(MoteBehaviour::Normal));
    let c = net.add_client("client.pem", "client.key", 40000);
    assert!(net.run_until(Duration::from_secs(30), |n| n.client_complete(c)), "handshake completes");
    assert_eq!(net.clients[c].conn.cipher_suite().map(|s| s.id()), Some(0xC0AE));
    assert!(net.transferred.contains(&net.clients[c].flow));
    // Let the retained flight expire, then exchange data with the mote directly.
    net.run_until(Duration::from_secs(10), |_| false);
    echo_roundtrip(&mut net, c);
    echo_roundtrip(&mut net, c);
    let counters = net.ssp.counters();
    assert_eq!(counters.app_data_records_received, 0, "no application data reached the IoTSSP");
    assert_eq!(net.ssp.keys_held(), 0);
    assert_eq!(net.ssp.delegation_count(), 0, "the retained final flight expired");
    assert_eq!(counters.transfers_completed, 1);
    assert_eq!(counters.handshakes_completed, 1);
    assert_eq!(counters.cookies_sent, 1);
    assert_eq!(net.mote.certificates_seen, 0, "the mote saw no certificate");
    assert_eq!(net.mote.transfer_sessions_received, 1);
    assert_eq!(net.mote.echoed.len(), 2);
    assert!(net.app_data_to_mote >= 2);
    assert!(net.abandoned.is_empty());
}

#[test]
fn keys_are_gone_right_after_the_transfer() {
    let mut net = Net::new(iotssp("", "cn:client.example"), Mote::new(MoteBehaviour::Normal));
    let c = net.add_client("client.pem", "client.key", 40000);
    let flow = net.clients[c].flow;
    assert!(net.run_until(Duration::from_secs(30), |n| n.transferred.contains(&flow)));
    assert_eq!(net.ssp.keys_held(), 0, "only the sealed flight is retained");
    assert_eq!(net.ssp.delegation_count(), 1);
}

#[test]
fn spoofed_client_hello_without_cookie_creates_no_state_and_nothing_reaches_the_mote() {
    let mut net = Net::new(iotssp("", "cn:client.example"), Mote::new(MoteBehaviour::Normal));
    let c = net.add_client("client.pem", "client.key", 40000);
    // A spoofer never sees the HelloVerifyRequest: drop everything towards the client.
    net.deliver = Box::new(|link, _| link != Link::NetToClient);
    net.run_until(Duration::from_secs(20), |_| false);
    let counters = net.ssp.counters();
    assert!(counters.cookies_sent >= 2, "every hello answered statelessly: {counters:?}");
    assert_eq!(counters.handshakes_started, 0);
    assert_eq!(net.ssp.delegation_count(), 0);
    assert_eq!(net.to_mote_datagrams, 0, "zero datagrams to the mote");
    assert!(!net.client_complete(c));
}

#[test]
fn unauthorized_client_gets_access_denied_and_the_mote_no_session() {
    let mut net = Net::new(iotssp("", "cn:someone-else.example"), Mote::new(MoteBehaviour::Normal));
    let c = net.add_client("client.pem", "client.key", 40000);
    assert!(net.run_until(Duration::from_secs(30), |n| n.client_closed_with(c).is_some()));
    assert_eq!(net.client_closed_with(c), Some(CloseReason::PeerAlert(AlertDescription::AccessDenied)));
    assert_eq!(net.mote.transfer_sessions_received, 0, "the mote got no TransferSession");
    assert_eq!(net.ssp.counters().failures("access_denied"), 1);
    assert_eq!(net.ssp.am().denied, 1);
    assert_eq!(net.abandoned, vec![(net.clients[c].flow, AbandonReason::Unauthorized)]);
    assert_eq!(net.ssp.keys_held(), 0);
    assert!(net.transferred.is_empty());
}

#[test]
fn expired_client_certificate_gets_certificate_expired() {
    // The IoTSSP's calendar says 2047: every test certificate has expired.
    let year_2047 = SystemTime::UNIX_EPOCH + Duration::from_secs(2_446_416_000);
    let mut net = Net::new(iotssp_at("", year_2047), Mote::new(MoteBehaviour::Normal));
    let c = net.add_client("client.pem", "client.key", 40000);
    assert!(net.run_until(Duration::from_secs(30), |n| n.client_closed_with(c).is_some()));
    assert_eq!(net.client_closed_with(c), Some(CloseReason::PeerAlert(AlertDescription::CertificateExpired)));
    assert_eq!(net.ssp.cam().rejections().get("cert_expired"), Some(&1));
    assert_eq!(net.ssp.counters().failures("cert_expired"), 1);
    assert_eq!(net.mote.transfer_sessions_received, 0);
    assert_eq!(net.ssp.keys_held(), 0);
}

#[test]
fn client_from_an_unknown_ca_is_refused() {
    let mut net = Net::new(iotssp("", "*"), Mote::new(MoteBehaviour::Normal));
    let c = net.add_client("rogue.pem", "rogue.key", 40000);
    assert!(net.run_until(Duration::from_secs(30), |n| n.client_closed_with(c).is_some()));
    assert_eq!(net.client_closed_with(c), Some(CloseReason::PeerAlert(AlertDescription::UnknownCa)));
    assert_eq!(net.ssp.cam().rejections().get("cert_unknown_issuer"), Some(&1));
    assert_eq!(net.mote.transfer_sessions_received, 0);
}

#[test]
fn silent_mote_means_a_fatal_alert_for_the_client_after_the_timeout() {
    let mut net = Net::new(iotssp("[timers]\nmote_timeout_ms = 5000\n", "cn:client.example"), Mote::new(MoteBehaviour::Silent));
    let c = net.add_client("client.pem", "client.key", 40000);
    assert!(net.run_until(Duration::from_secs(60), |n| n.client_closed_with(c).is_some()));
    assert_eq!(net.client_closed_with(c), Some(CloseReason::PeerAlert(AlertDescription::InternalError)));
    assert_eq!(net.ssp.counters().failures("mote_timeout"), 1, "{:?}", net.ssp.counters());
    assert_eq!(net.abandoned, vec![(net.clients[c].flow, AbandonReason::MoteUnavailable)]);
    assert_eq!(net.mote.transfer_sessions_received, 0);
    assert_eq!(net.ssp.keys_held(), 0);
}

#[test]
fn mote_that_ignores_the_ticket_gets_no_session() {
    let mut net = Net::new(iotssp("", "cn:client.example"), Mote::new(MoteBehaviour::NoTicket));
    let c = net.add_client("client.pem", "client.key", 40000);
    assert!(net.run_until(Duration::from_secs(60), |n| n.client_closed_with(c).is_some()));
    assert_eq!(net.client_closed_with(c), Some(CloseReason::PeerAlert(AlertDescription::InternalError)));
    assert_eq!(net.ssp.counters().failures("mote_refused"), 1, "{:?}", net.ssp.counters());
    assert_eq!(net.mote.transfer_sessions_received, 0);
    assert_eq!(net.ssp.keys_held(), 0);
}

#[test]
fn concurrent_handshakes_per_mote_are_capped() {
    let mut net = Net::new(iotssp("[limits]\nmax_per_mote = 1\n", "*"), Mote::new(MoteBehaviour::Normal));
    let a = net.add_client("client.pem", "client.key", 40000);
    let b = net.add_client("client2-chain.pem", "client2.key", 40001);
    // Both get a cookie; while a's delegation runs, b's cookie'd hello is dropped.
    let mut max_active = 0;
    let ok = net.run_until(Duration::from_secs(120), |n| {
        max_active = max_active.max(n.ssp.active_delegations());
        n.client_complete(a) && n.client_complete(b)
    });
    assert!(max_active <= 1, "never more than one delegation for the mote");
    assert!(net.ssp.counters().dropped("mote_busy") >= 1, "{:?}", net.ssp.counters());
    assert!(ok, "the second client gets its turn when the first is done (it retransmits its hello)");
    assert_eq!(net.ssp.counters().transfers_completed, 2);
    assert_eq!(net.ssp.keys_held(), 0);
}

#[test]
fn loss_of_first_copies_still_completes() {
    let mut net = Net::new(iotssp("", "cn:client.example"), Mote::new(MoteBehaviour::Normal));
    let c = net.add_client("client.pem", "client.key", 40000);
    let mut seen: HashSet<(Link, Vec<u8>)> = HashSet::new();
    // Drop the first copy of every datagram on every link. A retransmission carries new
    // record sequence numbers (and new ciphertext), so copies are recognised by their shape:
    // per record the type, epoch and length, and for plaintext handshake records the
    // handshake header.
    net.deliver = Box::new(move |link, d| {
        let mut shape = Vec::new();
        for r in records(d).flatten() {
            shape.push(u8::from(r.content_type()));
            shape.extend_from_slice(&r.epoch().to_be_bytes());
            shape.extend_from_slice(&r.length().to_be_bytes());
            if r.epoch() == 0 {
                shape.extend(r.fragment().iter().take(12));
            }
        }
        !seen.insert((link, shape))
    });
    assert!(net.run_until(Duration::from_secs(120), |n| n.client_complete(c)), "completes despite loss: {:?}", net.ssp.counters());
    net.deliver = Box::new(|_, _| true);
    net.run_until(Duration::from_secs(10), |_| false);
    echo_roundtrip(&mut net, c);
    assert_eq!(net.ssp.keys_held(), 0);
    assert_eq!(net.ssp.counters().app_data_records_received, 0);
    assert!(net.ssp.counters().transfers_resent >= 1, "the lost TransferSession was sent again");
    assert_eq!(net.mote.installed_transfer.map(|_| ()), Some(()));
}

#[test]
fn lost_final_flight_is_answered_from_the_retained_bytes() {
    let mut net = Net::new(iotssp("", "cn:client.example"), Mote::new(MoteBehaviour::Normal));
    let c = net.add_client("client.pem", "client.key", 40000);
    let flow = net.clients[c].flow;
    // Drop the first FlowTransferred flight on its way to the client (it carries the CCS).
    let mut dropped = false;
    net.deliver = Box::new(move |link, d| {
        if link == Link::NetToClient && !dropped && records(d).flatten().any(|r| r.content_type() == ContentType::ChangeCipherSpec) {
            dropped = true;
            return false;
        }
        true
    });
    assert!(net.run_until(Duration::from_secs(30), |n| n.client_complete(c)));
    assert!(net.transferred.contains(&flow));
    assert!(net.ssp.counters().final_flight_resent >= 1);
    assert_eq!(net.ssp.keys_held(), 0);
    net.run_until(Duration::from_secs(10), |_| false);
    echo_roundtrip(&mut net, c);
}
