//! The border-router core: one sans-IO machine that owns the bridge and the IoTSSP wiring
//! and decides, for every input, in which order they see it and where each output goes.
//!
//! Inputs are a packet read from the TUN, a frame received on the radio, a datagram from
//! the redirect socket, and the passing of time; every output comes out of
//! [`BorderRouter::poll_transmit`] as a [`Transmit`] that names its destination. The
//! routing order is:
//!
//! - TUN packet: first the source check ([`TunSourceFilter`]: not the attached IoTSSP's
//!   address and port), then the HRM (forward, divert to an IoTSSP, split a datagram, drop), then
//!   the bridge for what is forwarded; the bridge's frames go out before what the IoTSSPs
//!   answered.
//! - Radio frame: the bridge reassembles; a whole packet for an attached IoTSSP goes to it,
//!   any other one to the TUN (the HRM sees it on the way out); then the bridge's own frames
//!   (a Router Advertisement), then what the IoTSSPs answered.
//! - An attached IoTSSP's datagram to its mote goes straight to the bridge's radio side.
//!
//! No sockets, no clock, no tokio: `now` (monotonic, for timers) and `wall` (for the
//! redirect channel's freshness checks) are passed in. It must never panic on anything from
//! the TUN, the radio or the redirect socket, nor grow without bound: the output queue only
//! holds what the last input produced until the caller polls it.

use std::collections::VecDeque;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use dtls::provider::SecureRandom;
use lowpan::{Address, CheckedIpv6Packet, Eui64};
use slip::LinkQuality;

use crate::bridge::{Bridge, BridgeConfig};
use crate::config::{Config, ConfigIssue, RadioKind};
use crate::counters::{Counters, DropReason};
use crate::iotssp_wiring::{self, Action, Inbound, IotsspWiring};
use crate::radio_queue::{RadioDatagram, TxClass};
use crate::rpl::RplSettings;
use crate::tun_source::TunSourceFilter;

/// One output of the core, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// An IPv6 packet to write into the TUN.
    Tun(Vec<u8>),
    /// The 802.15.4 frames (without FCS, at most 125 bytes each) of one IPv6 packet, to
    /// send on the radio whole and in order, with the class the radio queue serves it by.
    Radio(RadioDatagram),
    /// A sealed redirect message for a remote IoTSSP, to send from the redirect socket.
    Redirect { to: SocketAddr, bytes: Vec<u8> },
}

/// The bridge and the IoTSSP wiring, in their routing order.
pub struct BorderRouter {
    bridge: Bridge,
    /// `None` when no IoTSSP is configured: every mote is passthrough and the HRM is skipped.
    wiring: Option<IotsspWiring>,
    tun_source: TunSourceFilter,
    out: VecDeque<Transmit>,
}

impl BorderRouter {
    /// `host` is the host's address on the TUN (`network.address`).
    pub fn new(bridge: Bridge, wiring: Option<IotsspWiring>, host: Ipv6Addr) -> Self {
        let tun_source = TunSourceFilter {
            host,
            attached_port: wiring.as_ref().and_then(IotsspWiring::attached_port),
        };
        BorderRouter {
            bridge,
            wiring,
            tun_source,
            out: VecDeque::new(),
        }
    }

    /// The core a validated configuration describes. Reads each attached IoTSSP's files and
    /// each remote key file ([`iotssp_wiring::build`]); errors name the key at fault.
    /// `instance` is the redirect channel's sender instance (random per start);
    /// `restart_seed` picks the first 802.15.4 sequence number and datagram tag, so that a
    /// quick restart does not look like duplicates to the motes. `rng` draws the HRM's
    /// cookie secret (the daemon passes the OS source). A ZEP radio's own address
    /// is configured, so it is known at once.
    pub fn from_config(
        cfg: &Config,
        now: Instant,
        wall: SystemTime,
        instance: u64,
        restart_seed: u32,
        rng: Arc<dyn SecureRandom>,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let wiring = iotssp_wiring::build(cfg, now, wall, instance, rng)?;
        let mut bridge = Bridge::new(BridgeConfig::from_config(
            cfg,
            restart_seed as u8,
            (restart_seed >> 8) as u16,
        ));
        if cfg.radio.kind == RadioKind::Zep {
            bridge.set_own_eui64(cfg.radio.eui64);
        }
        bridge.start(now);
        if let Some(settings) = RplSettings::from_config(cfg) {
            bridge.enable_rpl(settings, now, u64::from(restart_seed) ^ instance);
        }
        Ok(BorderRouter::new(bridge, wiring, cfg.host_address()))
    }

    /// Applies the reloadable part of `cfg` (see [`crate::reload`]; the caller has checked
    /// that nothing else changed): device policies and IoTSSP keys in the wiring, then the
    /// known motes in the bridge. Nothing changes when an error is returned.
    pub fn reload(&mut self, cfg: &Config, now: Instant) -> Result<Vec<String>, Vec<ConfigIssue>> {
        let mut changes = match &mut self.wiring {
            Some(w) => w.reload(cfg, now)?,
            None => Vec::new(),
        };
        let motes = BridgeConfig::from_config(cfg, 0, 0).motes;
        if motes != self.bridge.config().motes {
            changes.push("motes".into());
        }
        self.bridge.set_motes(motes);
        Ok(changes)
    }

    pub fn bridge(&self) -> &Bridge {
        &self.bridge
    }

    pub fn wiring(&self) -> Option<&IotsspWiring> {
        self.wiring.as_ref()
    }

    pub fn counters(&self) -> &Counters {
        self.bridge.counters()
    }

    /// Lets the IO drivers count drops that happen outside the core (queue full, TUN
    /// write, socket errors...).
    pub fn counters_mut(&mut self) -> &mut Counters {
        self.bridge.counters_mut()
    }

    /// Our own link address, as the radio reported it or as configured (ZEP).
    pub fn set_own_eui64(&mut self, eui: Eui64) {
        self.bridge.set_own_eui64(eui);
    }

    pub fn own_eui64(&self) -> Option<Eui64> {
        self.bridge.own_eui64()
    }

    /// The next output, in the order the core produced them.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// When [`BorderRouter::handle_timeout`] next wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let wiring = self.wiring.as_ref().and_then(IotsspWiring::poll_timeout);
        match (self.bridge.poll_timeout(), wiring) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs whatever timers are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        if self.bridge.poll_timeout().is_some_and(|t| t <= now) {
            // Periodic Router Advertisements: ND, sent together.
            let frames = self.bridge.handle_timeout(now);
            self.push_radio(TxClass::Control, frames);
        }
        if let Some(w) = &mut self.wiring
            && w.poll_timeout().is_some_and(|t| t <= now)
        {
            w.handle_timeout(now, wall);
            self.drain_wiring(now);
        }
    }

    /// An IPv6 packet read from the TUN.
    /// It is parsed here, once: the source check, the HRM and the bridge all read the same
    /// [`CheckedIpv6Packet`], and bytes that are not IPv6 go straight to the bridge's drop
    /// counters without reaching the HRM.
    pub fn handle_tun_packet(&mut self, now: Instant, wall: SystemTime, packet: &[u8]) {
        let ip = match CheckedIpv6Packet::parse(packet) {
            Ok(ip) => ip,
            Err(e) => {
                self.bridge.refuse_tun_packet(packet.len(), e);
                return;
            }
        };
        if let Some(reason) = self.tun_source.refuse(&ip) {
            self.bridge.counters_mut().drop(reason);
            return;
        }
        let inbound = match &mut self.wiring {
            Some(w) => w.handle_tun_packet(now, wall, &ip),
            None => Inbound::Bridge,
        };
        let (class, frames) = match inbound {
            Inbound::Bridge => (TxClass::of(&ip), self.bridge.handle_tun_ipv6(now, &ip)),
            Inbound::BridgeRebuilt(p) => (class_of(&p), self.bridge.handle_tun_packet(now, &p)),
            Inbound::Handled => (TxClass::Bulk, Vec::new()),
        };
        self.push_radio(class, frames);
        self.drain_wiring(now);
    }

    /// An 802.15.4 frame (without FCS) received on the radio.
    pub fn handle_radio_frame(&mut self, now: Instant, wall: SystemTime, frame: &[u8]) {
        self.handle_radio_reception(now, wall, frame, LinkQuality::default());
    }

    /// [`BorderRouter::handle_radio_frame`] with what the radio reported of the reception
    /// (kept as the sending neighbour's last link quality).
    pub fn handle_radio_reception(
        &mut self,
        now: Instant,
        wall: SystemTime,
        frame: &[u8],
        quality: LinkQuality,
    ) {
        let out = self.bridge.handle_radio_reception(now, frame, quality);
        if let Some(packet) = &out.to_tun
            && self.spoofs_a_delegated_mote(packet, out.link_src)
        {
            self.bridge
                .counters_mut()
                .drop(DropReason::RadioSpoofedDelegatedMote);
        } else if let Some(packet) = out.to_tun {
            let for_iotssp = self
                .wiring
                .as_mut()
                .is_some_and(|w| w.handle_radio_packet(now, wall, &packet));
            if !for_iotssp {
                self.out.push_back(Transmit::Tun(packet.into_inner()));
            }
        }
        // The bridge's own answers on the radio are ND (a Router Advertisement).
        self.push_radio(TxClass::Control, out.frames);
        self.drain_wiring(now);
    }

    fn push_radio(&mut self, class: TxClass, frames: Vec<Vec<u8>>) {
        if !frames.is_empty() {
            self.out
                .push_back(Transmit::Radio(RadioDatagram { class, frames }));
        }
    }

    /// Whether a packet from the radio carries a delegated mote's IPv6 source but was sent by
    /// another node than the mote or, for an RPL mote more than one hop away, the first hop
    /// of its source route. Only the mote itself may speak to its IoTSSP (attached: through the
    /// wiring; remote: wrapped into the redirect channel by the wiring), or a neighbour could end its delegations with
    /// forged alerts; the IPv6 source alone proves nothing on the radio, the 802.15.4 source
    /// is checked against the mote's configured EUI-64 (from which its address is made) or
    /// short address.
    fn spoofs_a_delegated_mote(
        &self,
        packet: &CheckedIpv6Packet<Vec<u8>>,
        link_src: Option<Address>,
    ) -> bool {
        let Some(w) = &self.wiring else { return false };
        let src = packet.src_addr();
        if w.hrm().delegate_of(&src).is_none() {
            return false;
        }
        let iid: [u8; 8] = src.octets()[8..].try_into().unwrap_or_default();
        let eui = lowpan::ip::eui64_from_iid(iid);
        let short = self
            .bridge
            .config()
            .motes
            .iter()
            .find(|m| m.eui64 == eui)
            .and_then(|m| m.short);
        // An RPL mote further away speaks through the first hop of its source route, the
        // neighbour its DAOs named: that one relays its packets, no other.
        let relay = self
            .bridge
            .rpl()
            .and_then(|r| r.path(&src))
            .filter(|p| p.len() > 1)
            .map(|p| {
                let iid: [u8; 8] = p[0].octets()[8..].try_into().unwrap_or_default();
                Address::Extended(lowpan::ip::eui64_from_iid(iid))
            });
        !matches!(link_src, Some(a) if a == Address::Extended(eui) || short.is_some_and(|s| a == Address::Short(s)) || relay == Some(a))
    }

    /// A datagram received on the redirect socket from `from` (a remote IoTSSP).
    pub fn handle_redirect_datagram(
        &mut self,
        now: Instant,
        wall: SystemTime,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        if let Some(w) = &mut self.wiring {
            w.handle_redirect_datagram(now, wall, from, bytes);
        }
        self.drain_wiring(now);
    }

    /// Routes what the IoTSSP wiring asked for: packets for motes through the bridge's
    /// radio side, the rest out as they are.
    fn drain_wiring(&mut self, now: Instant) {
        let Some(w) = &mut self.wiring else { return };
        while let Some(action) = w.poll_action() {
            match action {
                Action::ToTun(p) => self.out.push_back(Transmit::Tun(p)),
                Action::ToMote(p) => {
                    let frames = self.bridge.send_to_mote(now, &p);
                    if !frames.is_empty() {
                        self.out.push_back(Transmit::Radio(RadioDatagram {
                            class: class_of(&p),
                            frames,
                        }));
                    }
                }
                Action::Redirect { to, bytes } => {
                    self.out.push_back(Transmit::Redirect { to, bytes })
                }
            }
        }
    }
}

/// The radio class of a packet the core built itself (bulk if it does not parse, which
/// the bridge then drops anyway).
fn class_of(packet: &[u8]) -> TxClass {
    CheckedIpv6Packet::parse(packet).map_or(TxClass::Bulk, |ip| TxClass::of(&ip))
}

impl std::fmt::Debug for BorderRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BorderRouter")
            .field("own_eui64", &self.bridge.own_eui64())
            .field("wiring", &self.wiring)
            .field("queued", &self.out.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::tests::{MOTE, OWN, bridge, global, mote_frames, mote_receive, udp_packet};
    use lowpan::Address;
    use std::net::Ipv6Addr;
    use std::time::Duration;

    fn transmits(r: &mut BorderRouter) -> Vec<Transmit> {
        std::iter::from_fn(|| r.poll_transmit()).collect()
    }

    fn host() -> Ipv6Addr {
        "fd00:aaaa::1".parse().unwrap()
    }

    fn internet() -> Ipv6Addr {
        "2001:db8::1".parse().unwrap()
    }

    #[test]
    fn tun_packets_for_motes_come_out_as_radio_frames_in_order() {
        let mut r = BorderRouter::new(bridge(), None, host());
        let p = udp_packet(internet(), global(MOTE), 300);
        r.handle_tun_packet(Instant::now(), SystemTime::now(), &p);
        let out = transmits(&mut r);
        assert!(
            matches!(&out[..], [Transmit::Radio(d)] if d.frames.len() > 1),
            "300 bytes need fragments"
        );
        let frames: Vec<Vec<u8>> = out
            .into_iter()
            .flat_map(|t| match t {
                Transmit::Radio(d) => d.frames,
                other => panic!("only radio frames: {other:?}"),
            })
            .collect();
        assert_eq!(mote_receive(&frames), Some(p));
        assert_eq!(r.counters().tun_rx_packets, 1);
        assert_eq!(r.poll_transmit(), None);
    }

    #[test]
    fn radio_packets_go_to_the_tun_and_solicitations_are_answered_on_the_radio() {
        let mut r = BorderRouter::new(bridge(), None, host());
        let now = Instant::now();
        let p = udp_packet(global(MOTE), internet(), 20);
        for f in mote_frames(MOTE, Address::Extended(OWN), &p) {
            r.handle_radio_frame(now, SystemTime::now(), &f);
        }
        assert_eq!(transmits(&mut r), vec![Transmit::Tun(p)]);

        let rs = crate::nd::tests::rs_packet(ip_link_local(MOTE), 255);
        for f in mote_frames(MOTE, Address::BROADCAST, &rs) {
            r.handle_radio_frame(now, SystemTime::now(), &f);
        }
        let out = transmits(&mut r);
        // The RA with its SLLAO and ABRO takes two fragments between extended addresses.
        assert!(
            matches!(&out[..], [Transmit::Radio(d)] if d.frames.len() == 2 && d.class == TxClass::Control),
            "{out:?}"
        );
        assert_eq!(r.counters().router_advertisements, 1);
    }

    #[test]
    fn timers_of_the_bridge_are_run_and_nothing_is_sent_without_input() {
        let mut r = BorderRouter::new(bridge(), None, host());
        assert_eq!(r.poll_timeout(), None);
        let p = udp_packet(global(MOTE), internet(), 300);
        let first = mote_frames(MOTE, Address::Extended(OWN), &p).swap_remove(0);
        let t0 = Instant::now();
        r.handle_radio_frame(t0, SystemTime::now(), &first);
        let deadline = r.poll_timeout().expect("a partial datagram arms the timer");
        r.handle_timeout(deadline + Duration::from_secs(1), SystemTime::now());
        assert_eq!(r.counters().dropped("reassembly_timeout"), 1);
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.poll_transmit(), None);
        // No IoTSSP configured: redirect datagrams are ignored.
        r.handle_redirect_datagram(
            t0,
            SystemTime::now(),
            "[::1]:7700".parse().unwrap(),
            b"junk",
        );
        assert_eq!(r.poll_transmit(), None);
    }

    /// A packet from the TUN whose source is the attached IoTSSP's address and port is
    /// spoofed: dropped before the HRM and counted; the host's own
    /// traffic from its TUN address (a ping, UDP from any other port) still goes through.
    #[test]
    fn tun_packets_with_the_attached_iotssp_source_are_dropped_before_the_hrm() {
        use crate::iotssp_wiring::tests::{setup, udp};
        let (_dir, wiring) = setup("");
        let own: Ipv6Addr = "fd00:aaaa::1".parse().unwrap();
        let mut r = BorderRouter::new(bridge(), Some(wiring), own);
        let (now, wall) = (Instant::now(), SystemTime::now());
        let victim = "fd00:aaaa::212:4b00:0:1";
        let other_mote = "fd00:aaaa::212:4b00:0:2";
        // A plaintext fatal alert, as a spoofer would send to end the mote's PSK handshake.
        let alert = [21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40];
        r.handle_tun_packet(
            now,
            wall,
            &udp(("fd00:aaaa::1", 5690), (victim, 5685), &alert),
        );
        assert_eq!(
            transmits(&mut r),
            vec![],
            "nothing spoofed reaches the radio"
        );
        assert_eq!(r.counters().dropped("tun_spoofed_attached_iotssp"), 1);
        let hrm = r.wiring().unwrap().hrm().counters();
        assert_eq!(
            hrm.forward_from_ssp + hrm.divert + hrm.drop,
            0,
            "the HRM saw none of them"
        );

        // The host's own traffic from its TUN address to the motes is not spoofed.
        r.handle_tun_packet(
            now,
            wall,
            &udp(("fd00:aaaa::1", 40000), (other_mote, 5683), b"coap"),
        );
        assert!(
            !transmits(&mut r).is_empty(),
            "the host's UDP from another port is bridged"
        );
        assert_eq!(r.counters().total_drops(), 1);
    }

    /// A neighbour sending with a delegated mote's IPv6 source (here a plaintext alert to the
    /// attached IoTSSP, which would end the mote's PSK handshake) is dropped; the mote's own
    /// frames still reach the IoTSSP.
    #[test]
    fn radio_packets_posing_as_a_delegated_mote_are_dropped() {
        use crate::iotssp_wiring::tests::{setup, udp};
        let (_dir, wiring) = setup("");
        let own: Ipv6Addr = "fd00:aaaa::1".parse().unwrap();
        let mut r = BorderRouter::new(bridge(), Some(wiring), own);
        // The wiring's delegated mote 1 has EUI-64 00:12:4b::01, the test bridge's own
        // address: let the border router be another node.
        r.set_own_eui64(Eui64([0x02, 0, 0, 0, 0, 0, 0, 0x99]));
        let now = Instant::now();
        let victim = "fd00:aaaa::212:4b00:0:1";
        let alert = [21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40];
        let forged = udp((victim, 5685), ("fd00:aaaa::1", 5690), &alert);
        for f in mote_frames(
            MOTE,
            Address::Extended(Eui64([0x02, 0, 0, 0, 0, 0, 0, 0x99])),
            &forged,
        ) {
            r.handle_radio_frame(now, SystemTime::now(), &f);
        }
        assert_eq!(transmits(&mut r), vec![]);
        assert_eq!(r.counters().dropped("radio_spoofed_delegated_mote"), 1);
        let w = r.wiring().unwrap();
        assert_eq!(
            w.counters().mote_to_attached,
            0,
            "the IoTSSP never saw the forgery"
        );

        // The same datagram from the mote itself reaches the attached IoTSSP.
        for f in mote_frames(
            OWN,
            Address::Extended(Eui64([0x02, 0, 0, 0, 0, 0, 0, 0x99])),
            &forged,
        ) {
            r.handle_radio_frame(now, SystemTime::now(), &f);
        }
        assert_eq!(r.wiring().unwrap().counters().mote_to_attached, 1);
        assert_eq!(r.counters().dropped("radio_spoofed_delegated_mote"), 1);
    }

    /// Bytes from the TUN that do not parse as IPv6 are counted by the bridge and never
    /// reach the HRM, whose API only takes a parsed packet; a valid packet to the same
    /// delegated mote does reach it.
    #[test]
    fn unparsable_tun_packets_never_reach_the_hrm() {
        use crate::iotssp_wiring::tests::{setup, udp};
        let (_dir, wiring) = setup("");
        let mut r = BorderRouter::new(bridge(), Some(wiring), host());
        let (now, wall) = (Instant::now(), SystemTime::now());
        let good = udp(
            ("2001:db8::1", 40000),
            ("fd00:aaaa::212:4b00:0:1", 5684),
            b"\x16\xfe\xfd",
        );
        let mut v4 = good.clone();
        v4[0] = 0x45;
        let truncated = &good[..good.len() - 1];
        for bad in [&v4[..], truncated, b"", b"\x60"] {
            r.handle_tun_packet(now, wall, bad);
        }
        assert_eq!(transmits(&mut r), vec![]);
        let hrm_total = |r: &BorderRouter| {
            r.wiring()
                .unwrap()
                .hrm()
                .counters()
                .iter()
                .map(|(_, n)| n)
                .sum::<u64>()
        };
        assert_eq!(hrm_total(&r), 0, "the HRM saw none of them");
        assert_eq!(r.counters().dropped("tun_not_ipv6"), 1);
        assert_eq!(r.counters().dropped("tun_bad_ipv6"), 3);
        assert_eq!(r.counters().tun_rx_packets, 4);
        r.handle_tun_packet(now, wall, &good);
        assert!(hrm_total(&r) > 0, "a valid packet reaches the HRM");
    }

    #[test]
    fn tun_source_filter_allows_the_internet_the_host_and_motes_but_not_the_attached_iotssp() {
        let host: Ipv6Addr = "fd00:aaaa::1".parse().unwrap();
        let f = TunSourceFilter {
            host,
            attached_port: Some(5690),
        };
        // What the border router hands the filter: the packet parsed once, or nothing.
        let refuse = |f: &TunSourceFilter, bytes: &[u8]| {
            CheckedIpv6Packet::parse(bytes)
                .ok()
                .and_then(|ip| f.refuse(&ip))
        };
        let to = global(MOTE);
        let udp_from = |src: Ipv6Addr, port: u16| {
            lowpan::UdpRepr {
                src_port: port,
                dst_port: 5685,
                payload: b"x",
            }
            .emit_ipv6_packet(src, to, 64)
            .unwrap()
        };
        assert_eq!(refuse(&f, &udp_from(internet(), 5690)), None);
        assert_eq!(refuse(&f, &udp_from(host, 40000)), None);
        assert_eq!(
            refuse(&f, &udp_from(host, 5690)),
            Some(crate::counters::DropReason::TunSpoofedAttachedIotssp)
        );
        // A mote's address is a legitimate TUN-side source (mote-to-mote traffic hairpins).
        assert_eq!(refuse(&f, &udp_from(global(OWN), 5690)), None);
        // A fragment from the host address cannot show its port: refused while attached.
        let mut frag = udp_packet(host, to, 20);
        frag[6] = 44;
        assert_eq!(
            refuse(&f, &frag),
            Some(crate::counters::DropReason::TunSpoofedAttachedIotssp)
        );
        // ICMPv6 (a ping) from the host address passes.
        let mut icmp = udp_packet(host, to, 20);
        icmp[6] = 58;
        assert_eq!(refuse(&f, &icmp), None);
        // Without an attached IoTSSP the host address is the host's alone.
        let f = TunSourceFilter {
            attached_port: None,
            ..f
        };
        assert_eq!(refuse(&f, &udp_from(host, 5690)), None);
        assert_eq!(refuse(&f, &frag), None);
        assert_eq!(
            refuse(&f, b"\x60 short"),
            None,
            "unparsable packets are the bridge's to drop"
        );
    }

    fn ip_link_local(eui: Eui64) -> Ipv6Addr {
        lowpan::ip::link_local_from_eui64(eui)
    }
}
