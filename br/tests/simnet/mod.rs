//! A deterministic end-to-end network for tests: DTLS clients on the Internet side, the real
//! sans-IO [`BorderRouter`] (with an attached IoTSSP), the host side of the slip-radio link
//! (`slip::link::RadioLink`, as the daemon's slip driver uses it) and motesim's
//! `Simulation` (the emulated slip-radio firmware, the shared channel and the motes).
//!
//! One virtual clock, no sockets, no sleeping; the clients, the IoTSSP, the motes and the
//! channel draw from seeds (only ring's ECDHE keys and ECDSA nonces come from the OS, which
//! changes bytes but not what happens: see [`Net::trace`]). [`Net::step`] does
//! one thing (delivers what is due, or advances the clock to the next timer) and
//! [`Net::drive`] steps until a condition holds or time runs out. Every datagram between a
//! client and the TUN side and every frame between the border router and the radio passes
//! a loss hook ([`Net::lose`]), so tests can drop exactly what they mean to; the channel's
//! own random loss comes from motesim's seeded air model.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use motesim::mote::secure::delegated::Leg;

use dtls::cert::{CertifiedKey, ChainVerifier};
use dtls::provider::SeededRandom;
use dtls::{ClientConfig, CloseReason, Connection, Event};
use hrm::SspName;
use lowpan::Eui64;
use lowpan::ip::{Ipv6Packet, UdpPacket};
use lowpan::{Ipv6Repr, NextHeader, UdpRepr};
use lowpan_br::bridge::{Bridge, BridgeConfig};
use lowpan_br::config::Config;
use lowpan_br::iotssp_wiring::{self, Endpoint, IotsspWiring, SspLink};
use lowpan_br::router::{BorderRouter, Transmit};
use motesim::air::AirConfig;
use motesim::mote::secure::delegated::DelegatedConfig;
use motesim::mote::secure::server::{CdpskConfig, PskConfig};
use motesim::mote::secure::{DeviceSpec, SecurityCounters};
use motesim::sim::{SimConfig, Simulation, UplinkMode};
use redirect::FlowTag;
use slip::link::{LinkEvent, RadioLink};
use ssp::Iotssp;
use ssp::config::SspConfig;

pub const PREFIX: &str = "fd00:aaaa::";
/// The border router's TUN address: an attached IoTSSP's source towards motes.
pub const BR_ADDR: &str = "fd00:aaaa::1";
/// The slip-radio's EUI-64: the border router's link address.
pub const RADIO_EUI64: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0xff, 0x01]);
/// Mote 1 (EUI-64 00:12:4b:00:00:00:00:01) under the prefix.
pub const MOTE: &str = "fd00:aaaa::212:4b00:0:1";
pub const MOTE_EUI64: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x01]);
/// Where the clients are, beyond the TUN.
pub const CLIENT_ADDR: &str = "2001:db8::1";
pub const COAPS_PORT: u16 = 5684;
/// The DTLS port clients use for a mote whose PSK server holds 5684 ([`MoteKind::KnowsNoTicket`]).
pub const ALT_DTLS_PORT: u16 = 5686;
/// The PSK the IoTSSP and the mote share (hex in the IoTSSP's file).
pub const MOTE_PSK: &[u8] = b"0123456789abcdef";
pub const MOTE_PSK_IDENTITY: &[u8] = b"mote-1";
/// The attached IoTSSP's name in the border router's configuration.
pub const SSP_NAME: &str = "ssp-a";

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data")
}

pub fn data(name: &str) -> String {
    std::fs::read_to_string(data_dir().join(name)).unwrap()
}

pub fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// What kind of device mote 1 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoteKind {
    /// motesim's delegated mote: PSK with its IoTSSP on 5685, takes over the session.
    Delegated,
    /// motesim's CDPSK mote: a PSK DTLS server on 5684 that knows no SessionTransferTicket.
    /// The IoTSSP is told its transfer port is 5684 (and its DTLS port, the clients', is
    /// [`ALT_DTLS_PORT`]), so it offers the ticket to a mote that ignores it.
    KnowsNoTicket,
}

/// How to build a [`Net`].
#[derive(Debug, Clone)]
pub struct Setup {
    /// `client` of the IoTSSP's one authorization rule for mote 1.
    pub rule_client: String,
    /// TOML appended to the IoTSSP's configuration (`[timers]`, `[limits]`...).
    pub iotssp_extra: String,
    /// The IoTSSP's calendar for certificate checks; the real one when `None`.
    pub iotssp_calendar: Option<SystemTime>,
    pub mote: MoteKind,
    /// Probability that the channel loses a frame reception or an ACK (motesim's air).
    pub air_loss: f64,
    pub seed: u64,
    /// 0: mote 1 is a host next to the border router (RS/RA). N > 0: the border router is
    /// an RPL root and mote 1 an RPL leaf N hops away, behind N - 1 RPL routers (motes 2..),
    /// each link heard only by its two ends.
    pub rpl_hops: usize,
    /// The delegated mote's leg (its IoTSSP's configuration says the same).
    pub leg: Leg,
    /// The suites the delegated mote's record layer continues (default: all four).
    pub mote_suites: Vec<dtls::CipherSuite>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            rule_client: "cn:client.example".into(),
            iotssp_extra: String::new(),
            iotssp_calendar: None,
            mote: MoteKind::Delegated,
            air_loss: 0.0,
            seed: 1,
            rpl_hops: 0,
            leg: Leg::PskHandshake,
            mote_suites: dtls::CipherSuite::ECDHE_ECDSA.to_vec(),
        }
    }
}

/// Where a datagram or frame is on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hop {
    /// Client `i`'s datagram on its way into the TUN.
    ClientToRouter(usize),
    /// A datagram from the TUN on its way to client `i`.
    RouterToClient(usize),
    /// An 802.15.4 frame (without FCS) from the border router to the radio.
    RouterToRadio,
    /// An 802.15.4 frame the radio received, on its way to the border router.
    RadioToRouter,
}

/// Returns true to lose the datagram or frame.
pub type LossHook = Box<dyn FnMut(Hop, &[u8]) -> bool>;

pub struct Client {
    pub conn: Connection,
    pub events: Vec<Event>,
    pub flow: FlowTag,
}

impl Client {
    pub fn closed_with(&self) -> Option<CloseReason> {
        self.events.iter().find_map(|e| match e {
            Event::Closed(r) => Some(r.clone()),
            _ => None,
        })
    }

    pub fn application_data(&self) -> impl Iterator<Item = &[u8]> {
        self.events.iter().filter_map(|e| match e {
            Event::ApplicationData(d) => Some(&d[..]),
            _ => None,
        })
    }
}

/// What is on its way over a hop with latency.
struct InFlight {
    at: Instant,
    hop: Hop,
    bytes: Vec<u8>,
}

pub struct Net {
    pub now: Instant,
    /// The wall clock at `start`: wall time moves with the virtual clock.
    wall_start: SystemTime,
    start: Instant,
    pub router: BorderRouter,
    /// The host side of the slip-radio link.
    pub link: RadioLink,
    pub site: Simulation,
    pub clients: Vec<Client>,
    /// Mote 1's DTLS port: where clients connect.
    pub dtls_port: u16,
    /// Ordered by arrival time, then by sending order.
    in_flight: BTreeMap<(Instant, u64), InFlight>,
    sent: u64,
    /// One-way delay between a client and the TUN.
    pub internet_latency: Duration,
    pub lose: LossHook,
    /// What passed each hop (after the loss hook) and what the hook dropped.
    pub delivered: BTreeMap<Hop, usize>,
    pub lost: BTreeMap<Hop, usize>,
    /// Packets written into the TUN for nobody in this network.
    pub tun_other: Vec<Vec<u8>>,
    /// Redirect messages (no remote IoTSSP here: none expected).
    pub redirects: usize,
    /// A digest (FNV-1a) of the order in which datagrams and frames passed the hops, and of
    /// each radio frame's length: two runs with the same seed have the same one. Not of
    /// the bytes: ring draws ECDHE keys and ECDSA nonces from the OS, so keys, ciphertexts
    /// and the length of a DER signature differ between runs (none of them on the radio).
    pub trace: u64,
    _dir: tempfile::TempDir,
}

/// Steps [`Net::drive`] takes at most before it declares the network stuck.
const MAX_STEPS: usize = 2_000_000;

impl Net {
    pub fn new(setup: Setup) -> Net {
        let now = Instant::now();
        let wall_start = SystemTime::now();
        let dir = tempfile::tempdir().unwrap();
        let (dtls_port, transfer_port) = match setup.mote {
            MoteKind::Delegated => (COAPS_PORT, 5685),
            MoteKind::KnowsNoTicket => (ALT_DTLS_PORT, COAPS_PORT),
        };
        let ssp_text = format!(
            r#"name = "{SSP_NAME}"
[[motes]]
name = "mote-1"
address = "{MOTE}"
dtls_port = {dtls_port}
transfer_port = {transfer_port}
certificate_chain = "{data}/server.pem"
private_key = "{data}/server.key"
psk_identity = "mote-1"
psk = "{psk}"
leg = "{leg}"
[trust]
anchors = "{data}/ca.pem"
[authorization]
[[authorization.rules]]
client = "{rule}"
motes = ["mote-1"]
{extra}
"#,
            data = data_dir().display(),
            psk = hex(MOTE_PSK),
            rule = setup.rule_client,
            extra = setup.iotssp_extra,
            leg = match setup.leg {
                Leg::Association => "association",
                Leg::PskHandshake => "psk-handshake",
            },
        );
        let ssp_path = dir.path().join("iotssp.toml");
        std::fs::write(&ssp_path, &ssp_text).unwrap();
        let br_text = format!(
            r#"[network]
prefix = "{PREFIX}/64"
address = "{BR_ADDR}"
[radio]
kind = "tcp"
[[mote]]
eui64 = "{MOTE_EUI64}"
policy = "delegate"
iotssp = "{SSP_NAME}"
dtls_port = {dtls_port}
[[iotssp]]
name = "{SSP_NAME}"
attached = true
config = "{}"
"#,
            ssp_path.display(),
        );
        let cfg = Config::load_str(
            &br_text,
            Path::new("sim.toml"),
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        // The daemon would accept this configuration and its IoTSSP's ...
        assert!(
            BorderRouter::from_config(
                &cfg,
                now,
                wall_start,
                7,
                0,
                dtls::provider::SeededRandom::shared([0x5e; 32]),
            )
            .is_ok_and(|r| r.wiring().is_some())
        );
        // ... but here the IoTSSP draws its randomness from the seed (a run replays exactly),
        // or checks certificates against a calendar of the test's choosing.
        let ssp = SspConfig::from_toml_str(&ssp_text).unwrap();
        let iotssp = match setup.iotssp_calendar {
            None => ssp
                .build_with_random(&data_dir(), SeededRandom::shared(seed32(setup.seed)))
                .unwrap(),
            Some(calendar) => {
                let verifier = ChainVerifier::from_pem(&data("ca.pem"))
                    .unwrap()
                    .with_clock(Arc::new(move || calendar));
                let key = |_: usize, _: &_| {
                    Ok(CertifiedKey::from_pem(&data("server.pem"), &data("server.key")).unwrap())
                };
                ssp.build_with(verifier, key).unwrap()
            }
        };
        let link = SspLink {
            name: SspName::new(SSP_NAME),
            endpoint: Endpoint::Attached(Box::new(iotssp)),
        };
        let wiring = IotsspWiring::new(
            &iotssp_wiring::hrm_config(&cfg),
            vec![link],
            cfg.host_address(),
            cfg.hrm.attached_port,
            dtls::provider::SeededRandom::shared([0x5e; 32]),
        )
        .unwrap();
        let mut bridge = Bridge::new(BridgeConfig::from_config(&cfg, 0, 0));
        let mut motes = vec![MOTE_EUI64];
        let mut links = None;
        if setup.rpl_hops > 0 {
            let mut rpl = cfg.clone();
            rpl.rpl.enabled = true;
            rpl.rpl.dio_interval_min = 10;
            bridge.enable_rpl(
                lowpan_br::rpl::RplSettings::from_config(&rpl).unwrap(),
                now,
                setup.seed,
            );
            // Node 0 is the radio, node 1 mote 1; the chain runs 0 - N - (N-1) - ... - 1.
            let relays = setup.rpl_hops - 1;
            motes
                .extend((0..relays).map(|i| Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x21 + i as u8])));
            let mut chain = vec![0];
            chain.extend((2..=setup.rpl_hops).rev());
            chain.push(1);
            links = Some(
                chain
                    .windows(2)
                    .map(|w| motesim::air::Link::new(w[0], w[1], setup.air_loss))
                    .collect(),
            );
        }
        let router = BorderRouter::new(bridge, Some(wiring), cfg.host_address());

        let device = match setup.mote {
            MoteKind::Delegated => DeviceSpec::Delegated(DelegatedConfig {
                iotssp: psk_config(),
                transfer_port: 5685,
                slots: 2,
                suites: setup.mote_suites.clone(),
                leg: setup.leg,
                // The attached IoTSSP: the border router's address and attached port.
                iotssp_address: Some(motesim::mote::secure::peer(
                    addr(BR_ADDR),
                    cfg.hrm.attached_port,
                )),
                session_idle: motesim::mote::secure::delegated::DEFAULT_SESSION_IDLE,
                session_evict_after: motesim::mote::secure::delegated::DEFAULT_SESSION_EVICT_AFTER,
                outbound: None,
                signing_key: None,
                resumption_slots: 0,
                ecc: Default::default(),
            }),
            MoteKind::KnowsNoTicket => DeviceSpec::Cdpsk(CdpskConfig {
                psk: psk_config(),
                limits: Default::default(),
            }),
        };
        let site_cfg = SimConfig {
            radio_eui64: RADIO_EUI64,
            pan_id: cfg.radio.pan_id,
            channel: cfg.radio.channel,
            motes,
            // RPL motes take the prefix and context 0 from the DIOs alone.
            prefix: (setup.rpl_hops == 0).then(|| addr(PREFIX)),
            air: AirConfig {
                loss: setup.air_loss,
                links,
                ..AirConfig::default()
            },
            max_tx: cfg.radio.max_tx,
            seed: setup.seed,
            mode: UplinkMode::SlipRadio,
            devices: vec![device],
            rpl: setup.rpl_hops > 0,
            registering: Vec::new(),
            sixlowpan_routers: Vec::new(),
        };
        let mut site = Simulation::new(site_cfg, now);
        let mut link = RadioLink::new(lowpan_br::io::radio::slip::link_config(&cfg.radio));
        site.host_connected();
        link.reset(now);
        let mut net = Net {
            now,
            wall_start,
            start: now,
            router,
            link,
            site,
            clients: Vec::new(),
            dtls_port,
            in_flight: BTreeMap::new(),
            sent: 0,
            internet_latency: Duration::from_millis(20),
            lose: Box::new(|_, _| false),
            delivered: BTreeMap::new(),
            lost: BTreeMap::new(),
            tun_other: Vec::new(),
            redirects: 0,
            trace: 0xcbf2_9ce4_8422_2325,
            _dir: dir,
        };
        // The radio reports its address before anything is sent.
        assert!(
            net.drive(Duration::from_secs(1), |n| n.router.own_eui64().is_some()),
            "the radio reports its EUI-64"
        );
        net
    }

    /// Virtual time since the network was built.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// The wall clock, moving with the virtual one.
    pub fn wall(&self) -> SystemTime {
        self.wall_start + (self.now - self.start)
    }

    /// The attached IoTSSP.
    pub fn iotssp(&self) -> &Iotssp {
        self.router
            .wiring()
            .and_then(|w| w.attached(SSP_NAME))
            .expect("the attached IoTSSP")
    }

    pub fn wiring(&self) -> &IotsspWiring {
        self.router.wiring().expect("the IoTSSP wiring")
    }

    /// Mote 1's security counters.
    pub fn mote(&self) -> SecurityCounters {
        self.site.motes()[0].security_counters()
    }

    /// A new client of mote 1's CoAPS port, with certificate `chain` and `key`, from
    /// `port`; its ClientHello leaves at once.
    pub fn add_client(&mut self, chain: &str, key: &str, port: u16) -> usize {
        let anchors = ChainVerifier::from_pem(&data("ca.pem")).unwrap();
        let ck = Arc::new(CertifiedKey::from_pem(&data(chain), &data(key)).unwrap());
        let mut cfg = ClientConfig::ecdhe(anchors, Some(ck));
        cfg.rng = Arc::new(SeededRandom::from_u64(0xc1_1e47, u64::from(port)));
        let remote = SocketAddr::new(IpAddr::V6(addr(MOTE)), self.dtls_port);
        let conn = Connection::connect(self.now, remote, Arc::new(cfg)).unwrap();
        let flow = FlowTag {
            peer_addr: addr(CLIENT_ADDR),
            peer_port: port,
            mote_addr: addr(MOTE),
            mote_port: self.dtls_port,
        };
        self.clients.push(Client {
            conn,
            events: Vec::new(),
            flow,
        });
        self.clients.len() - 1
    }

    pub fn client_complete(&self, i: usize) -> bool {
        self.clients[i].conn.is_established()
    }

    /// Steps until `done` holds or `limit` of virtual time has passed; whether `done` held.
    pub fn drive(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        for _ in 0..MAX_STEPS {
            self.pump();
            if done(self) {
                return true;
            }
            match self.next_event() {
                Some(t) if t <= end => self.step_to(t),
                _ => {
                    self.now = self.now.max(end);
                    self.pump();
                    return done(self);
                }
            }
        }
        panic!("the network did not settle in {MAX_STEPS} steps");
    }

    /// One step: moves everything that is ready now, then delivers what is due or runs the
    /// next timer. False when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.pump();
        match self.next_event() {
            Some(t) => {
                self.step_to(t);
                true
            }
            None => false,
        }
    }

    /// The earliest arrival or timer.
    fn next_event(&self) -> Option<Instant> {
        let arrivals = self.in_flight.keys().next().map(|(t, _)| *t);
        let clients = self.clients.iter().filter_map(|c| c.conn.poll_timeout());
        [
            arrivals,
            self.router.poll_timeout(),
            self.link.poll_timeout(),
            self.site.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .chain(clients)
        .min()
    }

    fn step_to(&mut self, t: Instant) {
        self.now = self.now.max(t);
        let now = self.now;
        if let Some(entry) = self.in_flight.first_entry()
            && entry.key().0 <= now
        {
            let f = entry.remove();
            self.arrive(f.hop, f.bytes);
            return;
        }
        if self.router.poll_timeout().is_some_and(|t| t <= now) {
            let wall = self.wall();
            self.router.handle_timeout(now, wall);
        }
        if self.link.poll_timeout().is_some_and(|t| t <= now) {
            self.link.handle_timeout(now);
        }
        if self.site.poll_timeout().is_some_and(|t| t <= now) {
            self.site.handle_timeout(now);
        }
        for c in &mut self.clients {
            if c.conn.poll_timeout().is_some_and(|t| t <= now) {
                c.conn.handle_timeout(now);
            }
        }
    }

    /// Moves everything every party has to send now, until nobody has anything.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.clients.len() {
                while let Some(t) = self.clients[i].conn.poll_transmit() {
                    moved = true;
                    self.send(Hop::ClientToRouter(i), t.contents);
                }
                while let Some(e) = self.clients[i].conn.poll_event() {
                    self.clients[i].events.push(e);
                }
            }
            while let Some(t) = self.router.poll_transmit() {
                moved = true;
                match t {
                    Transmit::Tun(p) => self.written_to_tun(p),
                    Transmit::Radio(d) => {
                        for frame in d.frames {
                            self.send(Hop::RouterToRadio, frame);
                        }
                    }
                    Transmit::Redirect { .. } => self.redirects += 1,
                }
            }
            // The serial line between the host and the radio: no delay.
            while let Some(bytes) = self.link.poll_transmit(self.now) {
                moved = true;
                self.site.handle_host_bytes(self.now, &bytes);
            }
            while let Some(bytes) = self.site.poll_host_bytes() {
                moved = true;
                self.link.handle_input(self.now, &bytes);
            }
            while let Some(ev) = self.link.poll_event() {
                moved = true;
                match ev {
                    LinkEvent::Frame(frame) => self.send(Hop::RadioToRouter, frame),
                    LinkEvent::Mac(eui) => self.router.set_own_eui64(eui),
                    _ => {}
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// A packet the border router wrote into the TUN: to the client it is for, if any.
    fn written_to_tun(&mut self, packet: Vec<u8>) {
        let to = Ipv6Packet::new_checked(&packet[..]).ok().and_then(|v6| {
            let ip = Ipv6Repr::parse(&v6).ok()?;
            if ip.next_header != NextHeader::Udp {
                return None;
            }
            let udp = UdpRepr::parse(
                &UdpPacket::new_checked(v6.payload()).ok()?,
                &ip.src_addr,
                &ip.dst_addr,
            )
            .ok()?;
            let i = self.clients.iter().position(|c| {
                c.flow.peer_addr == ip.dst_addr && c.flow.peer_port == udp.dst_port
            })?;
            Some((i, udp.payload.to_vec()))
        });
        match to {
            Some((i, datagram)) => self.send(Hop::RouterToClient(i), datagram),
            None => self.tun_other.push(packet),
        }
    }

    /// Puts bytes on a hop: through the loss hook, then on their way (the radio hops are
    /// the serial line, the client hops the Internet).
    fn send(&mut self, hop: Hop, bytes: Vec<u8>) {
        if (self.lose)(hop, &bytes) {
            *self.lost.entry(hop).or_default() += 1;
            return;
        }
        *self.delivered.entry(hop).or_default() += 1;
        let radio_len = match hop {
            Hop::RouterToRadio | Hop::RadioToRouter => bytes.len() as u64,
            Hop::ClientToRouter(_) | Hop::RouterToClient(_) => 0,
        };
        for b in format!("{hop:?}").bytes().chain(radio_len.to_be_bytes()) {
            self.trace = (self.trace ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        match hop {
            Hop::RouterToRadio | Hop::RadioToRouter => self.arrive(hop, bytes),
            Hop::ClientToRouter(_) | Hop::RouterToClient(_) => {
                self.sent += 1;
                let at = self.now + self.internet_latency;
                self.in_flight
                    .insert((at, self.sent), InFlight { at, hop, bytes });
            }
        }
    }

    fn arrive(&mut self, hop: Hop, bytes: Vec<u8>) {
        let now = self.now;
        match hop {
            Hop::ClientToRouter(i) => {
                let c = &self.clients[i];
                let udp = UdpRepr {
                    src_port: c.flow.peer_port,
                    dst_port: c.flow.mote_port,
                    payload: &bytes,
                };
                let packet = udp
                    .emit_ipv6_packet(c.flow.peer_addr, c.flow.mote_addr, 64)
                    .unwrap();
                let wall = self.wall();
                self.router.handle_tun_packet(now, wall, &packet);
            }
            Hop::RouterToClient(i) => self.clients[i].conn.handle_datagram(now, &bytes),
            Hop::RouterToRadio => {
                // A full backlog drops the frame, as the daemon's driver would; the link counts it.
                let _ = self.link.send_frame(now, bytes);
            }
            Hop::RadioToRouter => {
                let wall = self.wall();
                self.router.handle_radio_frame(now, wall, &bytes)
            }
        }
    }
}

fn psk_config() -> PskConfig {
    PskConfig {
        identity: MOTE_PSK_IDENTITY.to_vec(),
        key: zeroize::Zeroizing::new(MOTE_PSK.to_vec()),
    }
}

/// A 32-byte seed from a short one.
fn seed32(seed: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_be_bytes());
    s[8..16].copy_from_slice(b"iotssp\0\0");
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A CoAP GET of the mote's temperature resource, confirmable, with `message_id`.
pub fn coap_get_temperature(message_id: u16) -> Vec<u8> {
    let mut p = coap_lite::Packet::new();
    p.header.message_id = message_id;
    p.header.code = coap_lite::MessageClass::Request(coap_lite::RequestType::Get);
    p.header.set_type(coap_lite::MessageType::Confirmable);
    p.add_option(coap_lite::CoapOption::UriPath, b"sensors".to_vec());
    p.add_option(coap_lite::CoapOption::UriPath, b"temp".to_vec());
    p.to_bytes().unwrap()
}

/// Whether `d` is a CoAP 2.05 Content answer to `message_id`.
pub fn is_coap_content(d: &[u8], message_id: u16) -> bool {
    coap_lite::Packet::from_bytes(d).is_ok_and(|p| {
        p.header.message_id == message_id
            && p.header.code == coap_lite::MessageClass::Response(coap_lite::ResponseType::Content)
    })
}

/// Sends a CoAP GET over client `i`'s session and drives until the mote's answer is back.
pub fn coap_roundtrip(net: &mut Net, i: usize, message_id: u16) -> bool {
    net.clients[i]
        .conn
        .send_application_data(&coap_get_temperature(message_id))
        .unwrap();
    net.drive(Duration::from_secs(10), |n| {
        n.clients[i]
            .application_data()
            .any(|d| is_coap_content(d, message_id))
    })
}
