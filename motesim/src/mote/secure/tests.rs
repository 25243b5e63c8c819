//! The device kinds against an in-test DTLS client (the `dtls` crate's client role), over
//! the whole sans-IO mote: the client's datagrams go in as 802.15.4 frames and the mote's
//! frames come back out as UDP, on a simulated clock.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use dtls::cert::{CertificateType, CertifiedKey, ChainVerifier, RawKeyTrust};
use dtls::{ClientConfig, Endpoint, Event};
use zeroize::Zeroizing;

use super::ecc::EccProfile;
use super::server::{CdpskConfig, ClientLimits, DcertConfig, PskConfig};
use super::*;
use crate::mote::coap::CoapServer;
use crate::mote::{
    Address, ContextTable, Encoder, Eui64, FrameRepr, Mote, MoteConfig, Reassembler, udp_packet,
    with_iid,
};
use lowpan::LinkAddrs;
use lowpan::ieee802154;
use lowpan::ip::{self, Ipv6Packet, UdpPacket};

const ROUTER: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0xff, 0x01]);
const MOTE: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x01]);
const PAN: u16 = 0xabcd;

pub(super) fn pki(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../dtls/tests/data")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn prefix() -> Ipv6Addr {
    "fd00:aaaa::".parse().unwrap()
}

fn mote_global() -> Ipv6Addr {
    with_iid(prefix(), ip::iid_from_eui64(MOTE))
}

/// Decides whether a datagram from the client reaches the mote: (mote port, bytes).
pub(super) type DropFn = Box<dyn FnMut(u16, &[u8]) -> bool>;

/// The border router's end of the link, and a host behind it running DTLS clients.
pub(super) struct Net {
    pub mote: Mote,
    pub now: Instant,
    encoder: Encoder,
    reassembler: Reassembler,
    seq: u8,
    pub client: Endpoint,
    pub client_addr: SocketAddr,
    pub events: Vec<(SocketAddr, Event)>,
    /// Datagrams the mote sent: (when, from port, payload).
    pub from_mote: Vec<(Instant, u16, Vec<u8>)>,
    /// Return false to lose a datagram from the client.
    pub drop_to_mote: DropFn,
    /// Return false to lose a datagram from the mote: (mote port, bytes).
    pub drop_from_mote: DropFn,
}

impl Net {
    pub fn new(spec: &DeviceSpec) -> Self {
        let now = Instant::now();
        let mut mote = Mote::new(
            MoteConfig {
                index: 1,
                eui64: MOTE,
                pan_id: PAN,
                router: ROUTER,
                prefix: Some(prefix()),
                rpl: false,
                register_lifetime_min: None,
                sixlowpan_router: false,
            },
            now,
        );
        if let Some(d) = spec.build(1, [0x02, 0x12, 0x4b, 0, 0, 0, 0, 1], 0).unwrap() {
            mote.set_device(d);
        }
        let ctx = ContextTable::with_prefix(prefix(), 64);
        Net {
            mote,
            now,
            encoder: Encoder::new(ctx.clone()),
            reassembler: Reassembler::new(ctx),
            seq: 0,
            client: Endpoint::new(None).unwrap(),
            client_addr: "[fd00:beef::2]:40000".parse().unwrap(),
            events: Vec::new(),
            from_mote: Vec::new(),
            drop_to_mote: Box::new(|_, _| true),
            drop_from_mote: Box::new(|_, _| true),
        }
    }

    pub fn mote_addr(port: u16) -> SocketAddr {
        SocketAddr::new(mote_global().into(), port)
    }

    pub fn connect(&mut self, port: u16, cfg: ClientConfig) {
        self.client
            .connect(self.now, Self::mote_addr(port), Arc::new(cfg))
            .unwrap();
    }

    /// A UDP datagram from `src` to the mote's `port`, through the radio.
    pub fn send_to_mote(&mut self, src: SocketAddr, port: u16, payload: &[u8]) {
        let SocketAddr::V6(s) = src else {
            panic!("v6 only")
        };
        let packet = udp_packet(*s.ip(), s.port(), mote_global(), port, payload);
        let src_l = Address::Extended(ROUTER);
        let dst_l = Address::Extended(MOTE);
        let probe = FrameRepr::data(PAN, src_l, dst_l, 0, false);
        let payloads = self
            .encoder
            .encode(
                &packet,
                LinkAddrs {
                    src: src_l,
                    dst: dst_l,
                },
                ieee802154::max_frame_payload(&probe),
            )
            .unwrap();
        for p in payloads {
            self.seq = self.seq.wrapping_add(1);
            let f = ieee802154::build_data_frame(
                &FrameRepr::data(PAN, src_l, dst_l, self.seq, true),
                &p,
            );
            let out = self.mote.handle_frame(self.now, &f);
            self.receive(out);
        }
    }

    fn receive(&mut self, frames: Vec<Vec<u8>>) {
        for f in frames {
            let (repr, payload) = ieee802154::parse_frame(&f).unwrap();
            let links = LinkAddrs {
                src: repr.src_addr,
                dst: repr.dst_addr,
            };
            let Some(packet) = self.reassembler.accept(self.now, links, payload).unwrap() else {
                continue;
            };
            let p = Ipv6Packet::new_checked(&packet[..]).unwrap();
            if p.next_header() != ip::next_header::UDP {
                continue; // Router Solicitations
            }
            assert_eq!(
                p.src_addr(),
                mote_global(),
                "answers come from the address the client used"
            );
            let u = UdpPacket::new_checked(p.payload()).unwrap();
            let (sport, dport) = (u.src_port(), u.dst_port());
            let data = u.payload().to_vec();
            self.from_mote.push((self.now, sport, data.clone()));
            let dst = SocketAddr::new(p.dst_addr().into(), dport);
            if dst == self.client_addr && (self.drop_from_mote)(sport, &data) {
                self.client.handle_datagram(
                    self.now,
                    SocketAddr::new(mote_global().into(), sport),
                    &data,
                );
            }
        }
    }

    /// Deliver whatever is ready; true if anything moved.
    fn pump(&mut self) -> bool {
        let mut moved = false;
        while let Some(t) = self.client.poll_transmit() {
            moved = true;
            let port = t.destination.port();
            if (self.drop_to_mote)(port, &t.contents) {
                let from = self.client_addr;
                self.send_to_mote(from, port, &t.contents);
            }
        }
        while let Some(e) = self.client.poll_event() {
            moved = true;
            self.events.push(e);
        }
        moved
    }

    /// Run until `done` or `limit` of simulated time passed; timers fire as they fall due.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            while self.pump() {}
            if done(self) {
                return true;
            }
            let next = match (self.client.poll_timeout(), self.mote.poll_timeout()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => return false,
                },
            };
            if next > end {
                return false;
            }
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now);
            let frames = self.mote.handle_timeout(self.now);
            self.receive(frames);
        }
    }

    pub fn established(&self, port: u16) -> bool {
        self.events
            .iter()
            .any(|(a, e)| *a == Self::mote_addr(port) && *e == Event::HandshakeComplete)
    }

    pub fn closed(&self, port: u16) -> bool {
        self.events
            .iter()
            .any(|(a, e)| *a == Self::mote_addr(port) && matches!(e, Event::Closed(_)))
    }

    pub fn app_data(&self, port: u16) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter(|(a, _)| *a == Self::mote_addr(port))
            .filter_map(|(_, e)| match e {
                Event::ApplicationData(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }
}

pub(super) fn coap_get(path: &str, mid: u16) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(MessageType::Confirmable);
    p.header.code = MessageClass::Request(RequestType::Get);
    p.header.message_id = mid;
    p.set_token(vec![9, 8, 7]);
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
    }
    p.to_bytes().unwrap()
}

/// A CoAP 2.05 answer to `mid` with a temperature between 20.0 and 24.9.
pub(super) fn assert_temperature(reply: &[u8], mid: u16) {
    let p = Packet::from_bytes(reply).unwrap();
    assert_eq!(p.header.message_id, mid);
    assert_eq!(p.header.code, MessageClass::Response(ResponseType::Content));
    let t: f64 = std::str::from_utf8(&p.payload).unwrap().parse().unwrap();
    assert!((20.0..25.0).contains(&t), "{t}");
}

fn dcert_spec(ecc: EccProfile) -> DeviceSpec {
    DeviceSpec::Dcert(DcertConfig {
        certificate: Arc::new(
            CertifiedKey::from_pem(&pki("server.pem"), &pki("server.key")).unwrap(),
        ),
        certificate_types: vec![CertificateType::X509],
        client_auth: Some(ChainVerifier::from_pem(&pki("ca.pem")).unwrap()),
        client_raw_keys: None,
        ecc,
        limits: ClientLimits::default(),
        cipher_suites: dtls::CipherSuite::ECDHE_ECDSA.to_vec(),
    })
}

fn ecdhe_client() -> ClientConfig {
    let anchors = ChainVerifier::from_pem(&pki("ca.pem")).unwrap();
    let mine = Arc::new(CertifiedKey::from_pem(&pki("client.pem"), &pki("client.key")).unwrap());
    let mut c = ClientConfig::ecdhe(anchors, Some(mine));
    c.transport.retransmit.initial = Duration::from_secs(2);
    c
}

fn psk_spec() -> DeviceSpec {
    DeviceSpec::Cdpsk(CdpskConfig {
        psk: PskConfig {
            identity: b"client-7".to_vec(),
            key: Zeroizing::new(b"0123456789abcdef".to_vec()),
        },
        limits: ClientLimits::default(),
    })
}

#[test]
fn plain_mote_has_no_device_and_zero_counters() {
    let net = Net::new(&DeviceSpec::Plain);
    assert_eq!(net.mote.device_kind(), DeviceKind::Plain);
    assert_eq!(net.mote.security_counters(), SecurityCounters::default());
}

#[test]
fn cdpsk_handshake_and_coap_get() {
    let mut net = Net::new(&psk_spec());
    net.connect(
        COAPS_PORT,
        ClientConfig::psk(b"client-7", b"0123456789abcdef"),
    );
    assert!(net.run_until(Duration::from_secs(30), |n| n.established(COAPS_PORT)));
    net.client
        .send_application_data(&Net::mote_addr(COAPS_PORT), &coap_get("/sensors/temp", 77))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| {
        !n.app_data(COAPS_PORT).is_empty()
    }));
    assert_temperature(&net.app_data(COAPS_PORT)[0], 77);
    let c = net.mote.security_counters();
    assert_eq!(
        (
            c.dtls_handshakes,
            c.dtls_handshakes_psk,
            c.ecc_operations,
            c.certificates_seen
        ),
        (1, 1, 0, 0)
    );
    assert_eq!((c.app_data_in, c.app_data_out), (1, 1));
    assert!(c.dtls_records_in >= 5 && c.dtls_records_out >= 4, "{c:?}");
    assert_eq!(net.mote.device_kind(), DeviceKind::Cdpsk);
}

#[test]
fn cdpsk_refuses_an_unknown_identity() {
    let mut net = Net::new(&psk_spec());
    net.connect(
        COAPS_PORT,
        ClientConfig::psk(b"intruder", b"0123456789abcdef"),
    );
    assert!(net.run_until(Duration::from_secs(120), |n| n.closed(COAPS_PORT)));
    assert!(!net.established(COAPS_PORT));
    assert_eq!(net.mote.security_counters().dtls_handshakes, 0);
}

#[test]
fn dcert_handshake_and_coap_get_with_ecc_cost() {
    let mut net = Net::new(&dcert_spec(EccProfile::Cc2538Hw));
    net.connect(COAPS_PORT, ecdhe_client());
    assert!(net.run_until(Duration::from_secs(60), |n| n.established(COAPS_PORT)));
    net.client
        .send_application_data(&Net::mote_addr(COAPS_PORT), &coap_get("/sensors/temp", 5))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| {
        !n.app_data(COAPS_PORT).is_empty()
    }));
    assert_temperature(&net.app_data(COAPS_PORT)[0], 5);
    let c = net.mote.security_counters();
    assert_eq!((c.dtls_handshakes, c.dtls_handshakes_ecdhe), (1, 1));
    // Key pair + ServerKeyExchange signature; client chain (1 cert) + CertificateVerify; agreement.
    assert_eq!(
        (c.ecc_sign, c.ecc_verify, c.ecc_ecdh, c.ecc_operations),
        (1, 2, 2, 5),
        "{c:?}"
    );
    assert_eq!(c.ecc_busy_ms, 340 + 2 * 700 + 2 * 700);
    assert_eq!(c.certificates_seen, 1);
}

/// A DCert mote with raw public keys both ways (RFC 7250): no chain to validate, so one
/// verification less than with certificates.
#[test]
fn dcert_with_raw_public_keys_both_ways() {
    use dtls::crypto::ecc::SigningKey;
    let mote_key = CertifiedKey::raw_public_key(SigningKey::from_pem(&pki("server.key")).unwrap());
    let client_key =
        CertifiedKey::raw_public_key(SigningKey::from_pem(&pki("client.key")).unwrap());
    let pin = |k: &CertifiedKey| dtls::cert::spki_sha256(&k.spki());
    let spec = DeviceSpec::Dcert(DcertConfig {
        certificate: Arc::new(CertifiedKey::raw_public_key(
            SigningKey::from_pem(&pki("server.key")).unwrap(),
        )),
        certificate_types: vec![CertificateType::RawPublicKey],
        client_auth: None,
        client_raw_keys: Some(RawKeyTrust::Pinned(vec![pin(&client_key)])),
        ecc: EccProfile::Cc2538Hw,
        limits: ClientLimits::default(),
        cipher_suites: dtls::CipherSuite::ECDHE_ECDSA.to_vec(),
    });
    let mut net = Net::new(&spec);
    let mut client = ecdhe_client();
    client.certificate = Some(Arc::new(client_key));
    client.certificate_types = vec![CertificateType::RawPublicKey];
    client.server_verifier = None;
    client.server_raw_public_keys = Some(RawKeyTrust::Pinned(vec![pin(&mote_key)]));
    net.connect(COAPS_PORT, client);
    assert!(net.run_until(Duration::from_secs(60), |n| n.established(COAPS_PORT)));
    net.client
        .send_application_data(&Net::mote_addr(COAPS_PORT), &coap_get("/sensors/temp", 6))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |n| {
        !n.app_data(COAPS_PORT).is_empty()
    }));
    assert_temperature(&net.app_data(COAPS_PORT)[0], 6);
    let c = net.mote.security_counters();
    assert_eq!((c.ecc_sign, c.ecc_verify, c.ecc_ecdh), (1, 1, 2), "{c:?}");
    assert_eq!(c.certificates_seen, 0);
}

/// The handshake's frames are counted apart from Neighbour Discovery: every frame the mote
/// received here is DTLS (the certificate flight in fragments), and every frame it sent but
/// its Router Solicitations.
#[test]
fn dcert_counts_the_frames_of_its_dtls_datagrams() {
    let mut net = Net::new(&dcert_spec(EccProfile::None));
    net.connect(COAPS_PORT, ecdhe_client());
    assert!(net.run_until(Duration::from_secs(60), |n| n.established(COAPS_PORT)));
    let c = net.mote.counters();
    assert!(c.fragments_in > 0 && c.fragments_out > 0, "{c:?}");
    assert_eq!(
        (c.secure_frames_in, c.secure_bytes_in),
        (c.frames_in, c.bytes_in),
        "{c:?}"
    );
    assert_eq!(c.secure_frames_out, c.frames_out - c.rs_sent, "{c:?}");
    assert!(c.secure_bytes_out < c.bytes_out || c.rs_sent == 0, "{c:?}");
}

/// The mote's first flight after the cookie (ServerHello .. ServerHelloDone) leaves only
/// when the emulated key generation and signature are done, on the simulated clock.
#[test]
fn ecc_cost_holds_the_flight() {
    for (profile, hold) in [
        (EccProfile::Cc2538Hw, Duration::from_millis(340 + 700)),
        (EccProfile::Cc2538Sw, Duration::from_millis(9_100 + 20_500)),
        (EccProfile::None, Duration::ZERO),
    ] {
        let mut net = Net::new(&dcert_spec(profile));
        let mut cfg = ecdhe_client();
        // Longer than the software cost: no client retransmission muddles the timeline.
        cfg.transport.retransmit.initial = Duration::from_secs(60);
        net.connect(COAPS_PORT, cfg);
        let t0 = net.now;
        // HelloVerifyRequest: stateless, no ECC, at once.
        net.run_until(Duration::from_secs(120), |n| n.from_mote.len() >= 2);
        let (t_hvr, _, _) = net.from_mote[0];
        assert_eq!(t_hvr, t0, "{profile:?}: HelloVerifyRequest is not held");
        let (t_flight, _, _) = net.from_mote[1];
        assert_eq!(t_flight - t0, hold, "{profile:?}");
        assert!(
            net.run_until(Duration::from_secs(300), |n| n.established(COAPS_PORT)),
            "{profile:?}"
        );
    }
}

/// The client's first certificate flight is lost: both sides retransmit (2 s timers, the
/// mote's answer held behind its ECC work) and the handshake completes, each ECC
/// operation counted once.
#[test]
fn dcert_tolerates_retransmissions() {
    let mut net = Net::new(&dcert_spec(EccProfile::Cc2538Hw));
    let mut lost = 0;
    net.drop_to_mote = Box::new(move |_, bytes| {
        let cke = super::ecc::plaintext_handshake_types(bytes)
            .contains(&dtls::handshake::msgs::HandshakeType::Certificate);
        if cke && lost == 0 {
            lost += 1;
            return false;
        }
        true
    });
    net.connect(COAPS_PORT, ecdhe_client());
    assert!(net.run_until(Duration::from_secs(120), |n| n.established(COAPS_PORT)));
    let c = net.mote.security_counters();
    assert_eq!(
        (c.ecc_operations, c.ecc_busy_ms),
        (5, 340 + 4 * 700),
        "{c:?}"
    );
}

#[test]
fn dcert_refuses_a_client_without_certificate() {
    let mut net = Net::new(&dcert_spec(EccProfile::None));
    let anchors = ChainVerifier::from_pem(&pki("ca.pem")).unwrap();
    net.connect(COAPS_PORT, ClientConfig::ecdhe(anchors, None));
    assert!(net.run_until(Duration::from_secs(120), |n| n.closed(COAPS_PORT)));
    assert!(!net.established(COAPS_PORT));
}

#[test]
fn outbox_keeps_order_and_coalesces() {
    let mut c = SecurityCounters::default();
    let mut o = Outbox::default();
    let t0 = Instant::now();
    let p = peer("fd00::1".parse().unwrap(), 1);
    let end = o.occupy(t0, Duration::from_secs(1));
    assert_eq!(end, t0 + Duration::from_secs(1));
    // Work queued behind the busy CPU starts after it.
    assert_eq!(
        o.occupy(t0, Duration::from_secs(1)),
        t0 + Duration::from_secs(2)
    );
    assert_eq!(o.release_time(t0), t0 + Duration::from_secs(2));
    o.push(
        end,
        Datagram {
            local_port: 5684,
            peer: p,
            payload: vec![1],
        },
        &mut c,
    );
    o.push(
        end,
        Datagram {
            local_port: 5684,
            peer: p,
            payload: vec![2],
        },
        &mut c,
    );
    assert_eq!(o.next_release(), Some(end));
    assert!(o.poll(t0).is_none());
    assert_eq!(o.poll(end).unwrap().payload, vec![1, 2]);
    assert!(o.poll(end).is_none());
}

/// A plaintext record of `content_type` (epoch 0) around `body`.
fn plain(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

#[test]
fn outbox_sends_a_client_hello_and_data_after_a_handshake_in_datagrams_of_their_own() {
    let mut c = SecurityCounters::default();
    let mut o = Outbox::default();
    let t0 = Instant::now();
    let p = peer("fd00::1".parse().unwrap(), 5684);
    let close_notify = plain(21, &[1, 0]);
    let hello = plain(22, &[1, 0, 0, 0]);
    let finished = plain(22, &[20, 0, 0, 0]);
    let data = plain(23, b"GET");
    for payload in [
        close_notify.clone(),
        hello.clone(),
        finished.clone(),
        data.clone(),
        data.clone(),
    ] {
        o.push(
            t0,
            Datagram {
                local_port: 5684,
                peer: p,
                payload,
            },
            &mut c,
        );
    }
    let sent: Vec<Vec<u8>> = std::iter::from_fn(|| o.poll(t0).map(|d| d.payload)).collect();
    assert_eq!(
        sent,
        vec![
            close_notify,
            [hello, finished].concat(),
            [data.clone(), data].concat()
        ]
    );
}

// ---- delegated ----

use dtls::alert::Alert;
use dtls::codec::Codec;
use dtls::record::{ContentType, records};
use dtls::transfer::{
    ConfirmStatus, SttAnswerRepr, SttOfferRepr, SttStatus, TransferConfirmRepr, TransferMessage,
    TransferSessionRepr, key_check,
};
use dtls::{RecordLayer, Role, SessionKeys, SessionState};

use super::delegated::DelegatedConfig;
use dtls::CloseReason;

mod lost_confirm;
mod outbound;

const IOTSSP_KEY: &[u8] = b"iotssp-mote-1-key";

fn delegated_spec(slots: usize) -> DeviceSpec {
    DeviceSpec::Delegated(DelegatedConfig {
        iotssp: PskConfig {
            identity: b"iotssp-1".to_vec(),
            key: Zeroizing::new(IOTSSP_KEY.to_vec()),
        },
        transfer_port: DEFAULT_TRANSFER_PORT,
        slots,
        suites: dtls::CipherSuite::ECDHE_ECDSA.to_vec(),
        leg: crate::mote::secure::delegated::Leg::PskHandshake,
        iotssp_address: None,
        session_idle: crate::mote::secure::delegated::DEFAULT_SESSION_IDLE,
        session_evict_after: crate::mote::secure::delegated::DEFAULT_SESSION_EVICT_AFTER,
        outbound: None,
        signing_key: None,
        ecc: Default::default(),
        resumption_slots: 0,
    })
}

fn iotssp_client(identity: &[u8], offer: bool) -> ClientConfig {
    let mut c = ClientConfig::psk(identity, IOTSSP_KEY);
    c.transport.retransmit.initial = Duration::from_secs(2);
    if offer {
        c.extra_client_hello_extensions = vec![
            SttOfferRepr {
                transfer_requested: true,
            }
            .to_extension(),
        ];
    }
    c
}

fn inet_client(n: u16) -> SocketAddr {
    format!("[fd00:beef::99]:{}", 41000 + n).parse().unwrap()
}

fn session_keys(n: u8) -> SessionKeys {
    SessionKeys::new(
        dtls::record::RecordAead::Aes128Ccm8,
        &[0x10 + n; 16],
        &[0x20 + n; 16],
        &[n; 4],
        &[0x30 + n; 4],
    )
    .unwrap()
}

/// What the IoTSSP would send after the client's Finished (epoch 1, sequence 0), with the
/// mote continuing at write sequence 1.
fn transfer_message(peer: SocketAddr, keys: SessionKeys, id: u32) -> TransferSessionRepr {
    let SocketAddr::V6(p) = peer else {
        unreachable!()
    };
    TransferSessionRepr {
        transfer_id: id,
        cipher_suite: 0xC0AE,
        peer_addr: *p.ip(),
        peer_port: p.port(),
        local_port: COAPS_PORT,
        session_id: vec![7; 32],
        keys,
        read_epoch: 1,
        read_highest_seq: 0,
        read_replay_bitmap: 0,
        write_epoch: 1,
        next_write_seq: 1,
    }
}

/// The Internet client's record layer for the same session: it wrote its Finished at
/// (1, 0) and read nothing protected yet (the IoTSSP's Finished is not needed here).
fn client_layer(keys: SessionKeys) -> RecordLayer {
    RecordLayer::from_session(&SessionState {
        role: Role::Client,
        keys,
        read_epoch: 1,
        read_highest_seq: None,
        read_replay_bitmap: 0,
        write_epoch: 1,
        next_write_seq: 1,
    })
    .unwrap()
}

fn stt_answer(net: &Net) -> Option<SttAnswerRepr> {
    net.events.iter().find_map(|(_, e)| match e {
        Event::ServerHelloExtensions(x) => SttAnswerRepr::find(x).and_then(Result::ok),
        _ => None,
    })
}

/// IoTSSP side: PSK handshake with the STT offer, then the TransferSession; returns the
/// mote's confirmation.
fn delegate(net: &mut Net, msg: &TransferSessionRepr) -> TransferConfirmRepr {
    let port = DEFAULT_TRANSFER_PORT;
    net.events.clear();
    net.connect(port, iotssp_client(b"iotssp-1", true));
    assert!(net.run_until(Duration::from_secs(30), |n| n.established(port)));
    assert_eq!(stt_answer(net).map(|a| a.status), Some(SttStatus::Accept));
    net.client
        .send_application_data(&Net::mote_addr(port), &msg.to_bytes())
        .unwrap();
    assert!(net.run_until(Duration::from_secs(10), |n| !n.app_data(port).is_empty()));
    match TransferMessage::parse(&net.app_data(port)[0]).unwrap() {
        TransferMessage::Confirm(c) => c,
        other => panic!("{other:?}"),
    }
}

/// The mote's answers to `to`, opened with the client's record layer: (epoch, seq, type, plaintext).
fn open_from_mote(
    net: &Net,
    to_port: u16,
    layer: &mut RecordLayer,
    skip: usize,
) -> Vec<(u16, u64, ContentType, Vec<u8>)> {
    let mut out = Vec::new();
    for (_, port, d) in net
        .from_mote
        .iter()
        .filter(|(_, p, _)| *p == to_port)
        .skip(skip)
    {
        assert_eq!(*port, COAPS_PORT);
        for r in records(d) {
            let r = r.unwrap();
            let (e, s) = (r.epoch(), r.sequence_number());
            let o = layer.open(&r).unwrap().expect("a record of the session");
            out.push((e, s, o.content_type, o.plaintext));
        }
    }
    out
}

fn seal(layer: &mut RecordLayer, ct: ContentType, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    layer.write_record(1, ct, payload, &mut d).unwrap();
    d
}

#[test]
fn delegated_takes_over_a_session_and_serves_coap_with_the_record_layer() {
    let mut net = Net::new(&delegated_spec(2));
    let inet = inet_client(0);
    let msg = transfer_message(inet, session_keys(1), 0xdead_beef);
    let confirm = delegate(&mut net, &msg);
    assert_eq!(confirm.transfer_id, 0xdead_beef);
    assert_eq!(confirm.status, ConfirmStatus::Installed);
    assert_eq!(confirm.key_check, key_check(&session_keys(1), 0xdead_beef));
    assert!(confirm.confirms(&msg));
    // The PSK session stays up (the confirmation may be lost) until the IoTSSP closes it.
    assert!(!net.closed(DEFAULT_TRANSFER_PORT));

    // The Internet client's CoAP GET, sealed with the transferred keys.
    let mut client = client_layer(session_keys(1));
    let before = net.from_mote.len();
    let req = seal(
        &mut client,
        ContentType::ApplicationData,
        &coap_get("/sensors/temp", 900),
    );
    net.send_to_mote(inet, COAPS_PORT, &req);
    assert!(net.run_until(Duration::from_secs(5), |n| n.from_mote.len() > before));
    let got = open_from_mote(&net, COAPS_PORT, &mut client, 0);
    assert_eq!(got.len(), 1);
    let (epoch, seq, ct, plain) = &got[0];
    assert_eq!(
        (*epoch, *seq, *ct),
        (1, 1, ContentType::ApplicationData),
        "continues after the IoTSSP's Finished"
    );
    assert_temperature(plain, 900);

    // A second request: next sequence number. A replay of the first: ignored.
    net.send_to_mote(inet, COAPS_PORT, &req);
    let req2 = seal(
        &mut client,
        ContentType::ApplicationData,
        &coap_get("/sensors/temp", 901),
    );
    net.send_to_mote(inet, COAPS_PORT, &req2);
    let got = open_from_mote(&net, COAPS_PORT, &mut client, 1);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0, got[0].1), (1, 2));
    assert_temperature(&got[0].3, 901);

    // A stranger (no session) and a forged record get nothing.
    let mut forged = seal(
        &mut client,
        ContentType::ApplicationData,
        &coap_get("/sensors/temp", 950),
    );
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let n = net.from_mote.len();
    net.send_to_mote(inet_client(5), COAPS_PORT, &req2);
    net.send_to_mote(inet, COAPS_PORT, &forged);
    assert_eq!(net.from_mote.len(), n);

    // close_notify ends the session, answered in kind.
    let close = seal(
        &mut client,
        ContentType::Alert,
        &Alert::close_notify().get_encoding(),
    );
    net.send_to_mote(inet, COAPS_PORT, &close);
    let got = open_from_mote(&net, COAPS_PORT, &mut client, 2);
    assert_eq!(got[0].2, ContentType::Alert);
    let c = net.mote.security_counters();
    assert_eq!(
        (c.ecc_operations, c.certificates_seen),
        (0, 0),
        "a delegated mote never does ECC"
    );
    assert_eq!(
        (
            c.dtls_handshakes_psk,
            c.sessions_transferred,
            c.stt_accepted,
            c.sessions_closed
        ),
        (1, 1, 1, 1),
        "{c:?}"
    );
    assert_eq!(
        (c.app_data_in, c.app_data_out),
        (1 + 2, 1 + 2),
        "transfer + two GETs"
    );
    assert_eq!(
        c.dtls_drops.get("decrypt_failed"),
        Some(&1),
        "{:?}",
        c.dtls_drops
    );
    assert_eq!(c.dtls_drops.get("no_session"), Some(&1));
    assert_eq!(c.dtls_drops.get("unknown_epoch_or_replay"), Some(&1));
    // After the close the session is gone: a new record is not answered.
    let n = net.from_mote.len();
    let req3 = seal(
        &mut client,
        ContentType::ApplicationData,
        &coap_get("/sensors/temp", 902),
    );
    net.send_to_mote(inet, COAPS_PORT, &req3);
    assert_eq!(net.from_mote.len(), n);
}

#[test]
fn delegated_refuses_a_psk_identity_that_is_not_its_iotssp() {
    let mut net = Net::new(&delegated_spec(2));
    net.connect(DEFAULT_TRANSFER_PORT, iotssp_client(b"someone-else", true));
    assert!(net.run_until(Duration::from_secs(120), |n| {
        n.closed(DEFAULT_TRANSFER_PORT)
    }));
    assert!(!net.established(DEFAULT_TRANSFER_PORT));
    let c = net.mote.security_counters();
    assert_eq!((c.dtls_handshakes, c.sessions_transferred), (0, 0));
}

#[test]
fn delegated_answers_busy_when_out_of_slots() {
    let mut net = Net::new(&delegated_spec(1));
    let confirm = delegate(
        &mut net,
        &transfer_message(inet_client(0), session_keys(1), 1),
    );
    assert_eq!(confirm.status, ConfirmStatus::Installed);
    // The one slot is in use: the next offer is answered busy, and a TransferSession
    // sent anyway is refused.
    net.events.clear();
    net.connect(DEFAULT_TRANSFER_PORT, iotssp_client(b"iotssp-1", true));
    assert!(net.run_until(Duration::from_secs(30), |n| {
        n.established(DEFAULT_TRANSFER_PORT)
    }));
    assert_eq!(
        stt_answer(&net),
        Some(SttAnswerRepr {
            status: SttStatus::Busy,
            free_slots: 0
        })
    );
    let msg = transfer_message(inet_client(1), session_keys(2), 2);
    net.client
        .send_application_data(&Net::mote_addr(DEFAULT_TRANSFER_PORT), &msg.to_bytes())
        .unwrap();
    assert!(net.run_until(Duration::from_secs(10), |n| {
        !n.app_data(DEFAULT_TRANSFER_PORT).is_empty()
    }));
    let TransferMessage::Confirm(c) =
        TransferMessage::parse(&net.app_data(DEFAULT_TRANSFER_PORT)[0]).unwrap()
    else {
        panic!()
    };
    assert_eq!((c.transfer_id, c.status), (2, ConfirmStatus::Busy));
    let k = net.mote.security_counters();
    assert_eq!(
        (k.sessions_transferred, k.stt_busy, k.transfers_refused),
        (1, 1, 1)
    );
}

#[test]
fn delegated_refuses_a_transfer_without_ticket_and_bad_messages() {
    let mut net = Net::new(&delegated_spec(2));
    let port = DEFAULT_TRANSFER_PORT;
    net.connect(port, iotssp_client(b"iotssp-1", false));
    assert!(net.run_until(Duration::from_secs(30), |n| n.established(port)));
    let msg = transfer_message(inet_client(0), session_keys(1), 3);
    net.client
        .send_application_data(&Net::mote_addr(port), &msg.to_bytes())
        .unwrap();
    assert!(net.run_until(Duration::from_secs(10), |n| !n.app_data(port).is_empty()));
    let TransferMessage::Confirm(c) = TransferMessage::parse(&net.app_data(port)[0]).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        c.status,
        ConfirmStatus::Busy,
        "no ticket accepted on this session"
    );
    assert_eq!(net.mote.security_counters().sessions_transferred, 0);

    // With a ticket, but truncated: malformed, same transfer id.
    net.events.clear();
    net.connect(port, iotssp_client(b"iotssp-1", true));
    assert!(net.run_until(Duration::from_secs(30), |n| n.established(port)));
    let bytes = msg.to_bytes();
    net.client
        .send_application_data(&Net::mote_addr(port), &bytes[..40])
        .unwrap();
    assert!(net.run_until(Duration::from_secs(10), |n| !n.app_data(port).is_empty()));
    let TransferMessage::Confirm(c) = TransferMessage::parse(&net.app_data(port)[0]).unwrap()
    else {
        panic!()
    };
    assert_eq!((c.transfer_id, c.status), (3, ConfirmStatus::Malformed));
    assert_eq!(net.mote.security_counters().sessions_transferred, 0);
}

/// Session times of `idle_secs` and the default eviction time.
fn times(idle_secs: u64) -> super::sessions::SessionTimes {
    super::sessions::SessionTimes {
        idle: Duration::from_secs(idle_secs),
        evict_after: crate::mote::secure::delegated::DEFAULT_SESSION_EVICT_AFTER,
    }
}

#[test]
fn session_table_evicts_the_least_recently_used_idle_session() {
    let t0 = Instant::now();
    let mut t = super::sessions::SessionTable::new(
        2,
        super::sessions::SessionTimes {
            idle: Duration::from_secs(60),
            evict_after: Duration::from_secs(10),
        },
    );
    let state = |n| {
        transfer_message(inet_client(n), session_keys(n as u8), 1)
            .session_state()
            .unwrap()
    };
    let p = |n| peer_of(inet_client(n));
    assert_eq!(
        t.install(t0, p(0), &state(0)).unwrap(),
        super::sessions::Installed::New
    );
    assert_eq!(
        t.install(t0 + Duration::from_secs(1), p(1), &state(1))
            .unwrap(),
        super::sessions::Installed::New
    );
    assert_eq!(t.free_for_new(t0 + Duration::from_secs(2)), 0);
    // Session 0 is used again: 1 becomes the least recently used.
    let mut coap = CoapServer::new(1);
    let mut c = SecurityCounters::default();
    let mut l0 = client_layer(session_keys(0));
    let req = seal(
        &mut l0,
        ContentType::ApplicationData,
        &coap_get("/sensors/temp", 1),
    );
    assert!(
        t.handle_datagram(t0 + Duration::from_secs(3), p(0), &req, &mut coap, &mut c)
            .is_some()
    );
    // Neither session has been idle for the eviction time: a new one is refused.
    assert!(
        t.install(t0 + Duration::from_secs(4), p(2), &state(2))
            .is_err()
    );
    assert_eq!(t.len(), 2);
    assert_eq!(
        t.install(t0 + Duration::from_secs(12), p(2), &state(2))
            .unwrap(),
        super::sessions::Installed::EvictedOldest
    );
    let peers: Vec<_> = t.peers().collect();
    assert_eq!(peers, vec![p(0), p(2)]);
    assert_eq!(
        t.install(t0 + Duration::from_secs(13), p(2), &state(2))
            .unwrap(),
        super::sessions::Installed::Replaced
    );
    // Idle sessions do not hold their slots against a new transfer.
    assert_eq!(t.free_for_new(t0 + Duration::from_secs(200)), 2);
}

/// Arbitrary bytes on both DTLS ports of a delegated mote never panic.
#[test]
fn arbitrary_datagrams_never_panic() {
    use proptest::prelude::*;
    let mut net = Net::new(&delegated_spec(2));
    let _ = delegate(
        &mut net,
        &transfer_message(inet_client(0), session_keys(1), 9),
    );
    let net = std::cell::RefCell::new(net);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    runner
        .run(
            &(
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..300),
            ),
            |(transfer, mut bytes)| {
                let port = if transfer {
                    DEFAULT_TRANSFER_PORT
                } else {
                    COAPS_PORT
                };
                // Half of them look like records of the session.
                if bytes.len() > 13 && bytes[0] & 1 == 0 {
                    bytes[0] = 23;
                    bytes[1] = 0xfe;
                    bytes[2] = 0xfd;
                    bytes[3] = 0;
                    bytes[4] = 1;
                }
                net.borrow_mut().send_to_mote(inet_client(0), port, &bytes);
                Ok(())
            },
        )
        .unwrap();
}

/// OpenSSL's s_client retransmits every 1 s (doubling) while the DCert mote computes: its
/// ClientHello while the mote signs, its certificate flight while the mote verifies (the
/// answer leaves 2.1 s later). The engine answers each retransmission with its flight
/// again; those copies were queued behind the held original and left with it (the final
/// flight twice in one datagram). s_client, done after the first copy, then blocked reading
/// the stray one and never sent its request: app_data_in stayed 0. Each flight must leave
/// once, and the request be answered.
#[test]
fn dcert_sends_each_flight_once_to_a_client_retransmitting_every_second() {
    let mut net = Net::new(&dcert_spec(EccProfile::Cc2538Hw));
    let mut cfg = ecdhe_client();
    cfg.transport.retransmit.initial = Duration::from_secs(1);
    net.connect(COAPS_PORT, cfg);
    assert!(net.run_until(Duration::from_secs(60), |n| n.established(COAPS_PORT)));
    net.client
        .send_application_data(&Net::mote_addr(COAPS_PORT), &coap_get("/sensors/temp", 9))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(10), |n| {
        !n.app_data(COAPS_PORT).is_empty()
    }));
    assert_temperature(&net.app_data(COAPS_PORT)[0], 9);
    let mut seen = Vec::new();
    for (at, _, d) in &net.from_mote {
        for r in records(d) {
            let r = r.unwrap();
            if r.content_type() == ContentType::ApplicationData {
                continue;
            }
            let key = (r.content_type(), r.epoch(), r.fragment().to_vec());
            assert!(!seen.contains(&key), "{:?} sent again at {at:?}", key.0);
            seen.push(key);
        }
    }
    let c = net.mote.security_counters();
    assert!(c.flights_suppressed >= 2, "{c:?}");
    assert_eq!((c.app_data_in, c.app_data_out), (1, 1), "{c:?}");
}

/// Suppressing copies must not stop recovery: the mote's final flight is lost on the way,
/// the client retransmits its flight until the mote answers again.
#[test]
fn dcert_resends_a_lost_final_flight() {
    let mut net = Net::new(&dcert_spec(EccProfile::Cc2538Hw));
    let mut cfg = ecdhe_client();
    cfg.transport.retransmit.initial = Duration::from_secs(1);
    let mut lost = 0;
    net.drop_from_mote = Box::new(move |_, bytes| {
        let ccs = records(bytes)
            .filter_map(Result::ok)
            .any(|r| r.content_type() == ContentType::ChangeCipherSpec);
        if ccs && lost == 0 {
            lost += 1;
            return false;
        }
        true
    });
    net.connect(COAPS_PORT, cfg);
    assert!(net.run_until(Duration::from_secs(60), |n| n.established(COAPS_PORT)));
    let finals = net
        .from_mote
        .iter()
        .filter(|(_, _, d)| {
            records(d)
                .filter_map(Result::ok)
                .any(|r| r.content_type() == ContentType::ChangeCipherSpec)
        })
        .count();
    assert_eq!(finals, 2, "the lost final flight and its retransmission");
}

#[test]
fn outbox_drops_a_flight_copy_still_held_or_just_sent() {
    let mut c = SecurityCounters::default();
    let mut o = Outbox::default();
    let t0 = Instant::now();
    let p = peer("fd00::1".parse().unwrap(), 1);
    let flight = |seq: u8| {
        // One ChangeCipherSpec record: same content, another record sequence number.
        vec![20, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, seq, 0, 1, 1]
    };
    let dg = |payload| Datagram {
        local_port: 5684,
        peer: p,
        payload,
    };
    let held = o.occupy(t0, Duration::from_secs(2));
    o.push(held, dg(flight(1)), &mut c);
    // The engine's retransmission while the original is held.
    o.push(
        o.release_time(t0 + Duration::from_secs(1)),
        dg(flight(2)),
        &mut c,
    );
    assert_eq!(o.poll(held).unwrap().payload, flight(1));
    assert!(o.poll(held).is_none());
    // Just after it left: crossed the peer's retransmission.
    o.push(held + Duration::from_millis(500), dg(flight(3)), &mut c);
    assert!(o.poll(held + Duration::from_millis(500)).is_none());
    assert_eq!(c.flights_suppressed, 2);
    // Later: the original may have been lost, the copy goes.
    let later = held + FLIGHT_MEMORY;
    o.push(later, dg(flight(4)), &mut c);
    assert_eq!(o.poll(later).unwrap().payload, flight(4));
    // Application data is never a copy.
    let app = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 7];
    o.push(later, dg(app.clone()), &mut c);
    o.push(later, dg(app.clone()), &mut c);
    assert_eq!(o.poll(later).unwrap().payload, [app.clone(), app].concat());
    assert_eq!(c.flights_suppressed, 2);
}

/// The client closes; the mote answers with its own close_notify (RFC 5246 7.2.1).
fn close_notify_answered(spec: &DeviceSpec, client: ClientConfig) {
    let mut net = Net::new(spec);
    net.connect(COAPS_PORT, client);
    assert!(net.run_until(Duration::from_secs(60), |n| n.established(COAPS_PORT)));
    let before = net.from_mote.len();
    net.client.close(&Net::mote_addr(COAPS_PORT));
    net.run_until(Duration::from_secs(5), |_| false);
    let answers = &net.from_mote[before..];
    assert_eq!(answers.len(), 1, "one datagram: the mote's close_notify");
    let rec = dtls::record::records(&answers[0].2)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.content_type(), rec.epoch()),
        (dtls::record::ContentType::Alert, 1)
    );
    assert_eq!(net.mote.security_counters().sessions_closed, 1);
    assert_eq!(
        net.mote.security_counters().alerts_out,
        1,
        "the answer is counted"
    );
}

#[test]
fn cdpsk_answers_close_notify() {
    close_notify_answered(
        &psk_spec(),
        ClientConfig::psk(b"client-7", b"0123456789abcdef"),
    );
}

#[test]
fn dcert_answers_close_notify() {
    close_notify_answered(&dcert_spec(EccProfile::None), ecdhe_client());
}

/// `spec` (DCert or CDPSK) with `limits`.
fn with_limits(spec: DeviceSpec, limits: ClientLimits) -> DeviceSpec {
    match spec {
        DeviceSpec::Cdpsk(mut c) => {
            c.limits = limits;
            DeviceSpec::Cdpsk(c)
        }
        DeviceSpec::Dcert(mut c) => {
            c.limits = limits;
            DeviceSpec::Dcert(c)
        }
        other => other,
    }
}

/// Clients of a DCert (`ecdhe_client`) or CDPSK mote that complete their handshakes and
/// vanish without close_notify until it is full: the next is refused with an alert, and
/// one that comes after the idle timeout gets in.
fn clients_that_vanish_do_not_hold_the_mote(spec: DeviceSpec, client: impl Fn() -> ClientConfig) {
    let limits = ClientLimits {
        max_clients: 2,
        idle_timeout: Duration::from_secs(120),
        ..ClientLimits::default()
    };
    let mut net = Net::new(&with_limits(spec, limits));
    // Two clients complete their handshakes and vanish without close_notify.
    for port in [40001, 40002] {
        net.client_addr = format!("[fd00:beef::2]:{port}").parse().unwrap();
        net.client = Endpoint::new(None).unwrap();
        net.connect(COAPS_PORT, client());
        assert!(net.run_until(Duration::from_secs(30), |n| n.established(COAPS_PORT)));
        net.events.clear();
    }
    // A third, 10 s later: the table is full and nobody idle long enough, so it is refused
    // with an alert, not silence.
    net.now += Duration::from_secs(10);
    net.client_addr = "[fd00:beef::2]:40003".parse().unwrap();
    net.client = Endpoint::new(None).unwrap();
    net.connect(COAPS_PORT, client());
    assert!(net.run_until(Duration::from_secs(30), |n| n.closed(COAPS_PORT)));
    assert!(
        net.events.iter().any(|(_, e)| *e
            == Event::Closed(dtls::CloseReason::PeerAlert(
                dtls::AlertDescription::InternalError
            ))),
        "{:?}",
        net.events
    );
    assert_eq!(net.mote.security_counters().clients_refused, 1);
    assert_eq!(net.mote.security_counters().alerts_out, 1, "the refusal");
    // After the idle timeout, a new client gets in.
    net.now += Duration::from_secs(120);
    net.events.clear();
    net.client_addr = "[fd00:beef::2]:40004".parse().unwrap();
    net.client = Endpoint::new(None).unwrap();
    net.connect(COAPS_PORT, client());
    assert!(
        net.run_until(Duration::from_secs(30), |n| n.established(COAPS_PORT)),
        "{:?}",
        net.events
    );
}

#[test]
fn cdpsk_clients_that_vanish_do_not_hold_the_mote() {
    clients_that_vanish_do_not_hold_the_mote(psk_spec(), || {
        ClientConfig::psk(b"client-7", b"0123456789abcdef")
    });
}

#[test]
fn dcert_clients_that_vanish_do_not_hold_the_mote() {
    clients_that_vanish_do_not_hold_the_mote(dcert_spec(EccProfile::None), ecdhe_client);
}

/// A full table of clients that vanished: once they have been idle for the eviction time,
/// a new client that authenticates takes the least recently used one's place (counted),
/// long before the idle timeout.
fn idle_client_gives_way_after_the_eviction_time(
    spec: DeviceSpec,
    client: impl Fn() -> ClientConfig,
) {
    let limits = ClientLimits {
        max_clients: 2,
        idle_timeout: Duration::from_secs(300),
        evict_after: Duration::from_secs(2),
    };
    let mut net = Net::new(&with_limits(spec, limits));
    for port in [40001, 40002] {
        net.client_addr = format!("[fd00:beef::2]:{port}").parse().unwrap();
        net.client = Endpoint::new(None).unwrap();
        net.connect(COAPS_PORT, client());
        assert!(net.run_until(Duration::from_secs(30), |n| n.established(COAPS_PORT)));
        net.events.clear();
    }
    net.now += Duration::from_secs(3);
    net.client_addr = "[fd00:beef::2]:40003".parse().unwrap();
    net.client = Endpoint::new(None).unwrap();
    net.connect(COAPS_PORT, client());
    assert!(
        net.run_until(Duration::from_secs(30), |n| n.established(COAPS_PORT)),
        "{:?}",
        net.events
    );
    let c = net.mote.security_counters();
    assert_eq!(
        (c.sessions_evicted, c.sessions_expired, c.clients_refused),
        (1, 0, 0),
        "{c:?}"
    );
}

#[test]
fn cdpsk_idle_client_gives_way_to_a_new_one_after_the_eviction_time() {
    idle_client_gives_way_after_the_eviction_time(psk_spec(), || {
        ClientConfig::psk(b"client-7", b"0123456789abcdef")
    });
}

#[test]
fn dcert_idle_client_gives_way_to_a_new_one_after_the_eviction_time() {
    idle_client_gives_way_after_the_eviction_time(dcert_spec(EccProfile::None), ecdhe_client);
}

fn suite_keys(suite: dtls::CipherSuite, n: u8) -> SessionKeys {
    let a = suite.aead();
    SessionKeys::new(
        a,
        &vec![0x10 + n; a.key_len()],
        &vec![0x20 + n; a.key_len()],
        &vec![n; a.iv_len()],
        &vec![0x30 + n; a.iv_len()],
    )
    .unwrap()
}

/// The delegated mote's record layer continues a session of every ECDHE_ECDSA suite.
#[test]
fn delegated_continues_every_suite() {
    for suite in dtls::CipherSuite::ECDHE_ECDSA {
        let mut net = Net::new(&delegated_spec(2));
        let inet = inet_client(0);
        let mut msg = transfer_message(inet, suite_keys(suite, 1), 7);
        msg.cipher_suite = suite.id();
        let confirm = delegate(&mut net, &msg);
        assert_eq!(confirm.status, ConfirmStatus::Installed, "{suite}");
        assert!(confirm.confirms(&msg));
        let mut client = client_layer(suite_keys(suite, 1));
        let before = net.from_mote.len();
        let req = seal(
            &mut client,
            ContentType::ApplicationData,
            &coap_get("/sensors/temp", 77),
        );
        net.send_to_mote(inet, COAPS_PORT, &req);
        assert!(net.run_until(Duration::from_secs(5), |n| n.from_mote.len() > before));
        let got = open_from_mote(&net, COAPS_PORT, &mut client, 0);
        assert_eq!(got.len(), 1, "{suite}");
        assert_temperature(&got[0].3, 77);
    }
}

/// A suite the mote's record layer is not configured for is refused with status
/// unsupported suite, and nothing is installed.
#[test]
fn delegated_refuses_a_suite_it_does_not_run() {
    let DeviceSpec::Delegated(mut cfg) = delegated_spec(2) else {
        unreachable!()
    };
    cfg.suites = vec![dtls::CipherSuite::EcdheEcdsaAes128Ccm8];
    let mut net = Net::new(&DeviceSpec::Delegated(cfg));
    let suite = dtls::CipherSuite::EcdheEcdsaAes128Gcm;
    let mut msg = transfer_message(inet_client(0), suite_keys(suite, 1), 8);
    msg.cipher_suite = suite.id();
    let confirm = delegate(&mut net, &msg);
    assert_eq!(
        (confirm.transfer_id, confirm.status),
        (8, ConfirmStatus::UnsupportedSuite)
    );
    assert_eq!(net.mote.security_counters().sessions_transferred, 0);
}

/// A DCert mote offers every ECDHE_ECDSA suite: a client offering only GCM or only
/// ChaCha20-Poly1305 is served.
#[test]
fn dcert_serves_a_client_offering_only_gcm_or_chacha() {
    for suite in [
        dtls::CipherSuite::EcdheEcdsaAes128Gcm,
        dtls::CipherSuite::EcdheEcdsaChacha20Poly1305,
    ] {
        let mut net = Net::new(&dcert_spec(EccProfile::None));
        let mut client = ecdhe_client();
        client.cipher_suites = vec![suite];
        net.connect(COAPS_PORT, client);
        assert!(
            net.run_until(Duration::from_secs(60), |n| n.established(COAPS_PORT)),
            "{suite}"
        );
        net.client
            .send_application_data(&Net::mote_addr(COAPS_PORT), &coap_get("/sensors/temp", 6))
            .unwrap();
        assert!(net.run_until(Duration::from_secs(5), |n| {
            !n.app_data(COAPS_PORT).is_empty()
        }));
        assert_temperature(&net.app_data(COAPS_PORT)[0], 6);
    }
}

/// A transferred session without a record from its client for the idle time is dropped
/// (its keys with it), not only outranked by a newer transfer.
#[test]
fn transferred_sessions_expire() {
    let t0 = Instant::now();
    let mut t = super::sessions::SessionTable::new(2, times(60));
    for n in 0..2u16 {
        let state = transfer_message(inet_client(n), session_keys(n as u8), 1)
            .session_state()
            .unwrap();
        t.install(t0, peer_of(inet_client(n)), &state).unwrap();
    }
    assert_eq!(t.next_expiry(), Some(t0 + Duration::from_secs(60)));
    assert_eq!(t.expire(t0 + Duration::from_secs(59)), 0);
    assert_eq!(t.expire(t0 + Duration::from_secs(60)), 2);
    assert_eq!((t.len(), t.next_expiry()), (0, None));
}
