//! The whole emulated site: the border router's radio (node 0) and the motes (nodes
//! 1..=N) on one channel. Sans-IO: serial bytes (or ZEP datagrams) and time in, serial
//! bytes (or datagrams) and a deadline out.
//!
//! In slip-radio mode node 0 is the emulated radio firmware; in ZEP mode node 0 is the
//! border router itself, outside this process, reached over UDP ([`crate::zep`]).

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Instant;

use lowpan::ieee802154::{self, Address, Eui64};
use slip::slip_radio::TxStatus;

use crate::air::{Air, AirConfig, AirEvent, Destination, NodeId, TxOutcome, TxRequest};
use crate::firmware::RadioFirmware;
use crate::mote::secure::DeviceSpec;
use crate::mote::{Mote, MoteConfig};
use crate::rng::SimRng;
use crate::stats::{MoteStats, RadioStats, Stats};
use crate::zep::ZepSide;

/// The radio node.
pub const RADIO_NODE: NodeId = 0;

/// How the border router reaches the channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UplinkMode {
    /// We emulate a slip-radio on a serial line (pty or TCP).
    SlipRadio,
    /// The border router is itself a ZEP node; our motes are ZEP nodes too.
    Zep { channel: u8 },
}

/// What the site is made of.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The radio's EUI-64 (what `!M` reports): the border router's link address.
    pub radio_eui64: Eui64,
    pub pan_id: u16,
    /// Channel reported by `?V` and written in ZEP headers.
    pub channel: u8,
    pub motes: Vec<Eui64>,
    /// Global /64 prefix configured on the motes (else learned from the RA).
    pub prefix: Option<Ipv6Addr>,
    pub air: AirConfig,
    /// Default total transmissions per frame (the `!S` attribute 5 overrides it).
    pub max_tx: u8,
    pub seed: u64,
    pub mode: UplinkMode,
    /// The kind of device of each mote, by position; motes beyond the list are plain.
    pub devices: Vec<DeviceSpec>,
    /// The motes are RPL routers and leaves (they join from the border router's DIOs)
    /// instead of hosts that send Router Solicitations.
    pub rpl: bool,
    /// Which motes are 6LoWPAN hosts (RFC 6775), by position, with the registration
    /// lifetime they ask for in minutes; motes beyond the list use their address at once.
    pub registering: Vec<Option<u16>>,
    /// Which motes (1-based numbers) are 6LoWPAN routers for the hosts that hear them.
    pub sixlowpan_routers: Vec<usize>,
}

/// Bound on events handled per call, so a pathological exchange cannot hang the driver;
/// whatever is left is handled on the next call (the deadline is already due).
const MAX_EVENTS_PER_CALL: usize = 100_000;

enum Uplink {
    Radio(Box<RadioFirmware>),
    Zep(ZepSide),
}

/// The site.
pub struct Simulation {
    cfg: SimConfig,
    air: Air,
    motes: Vec<Mote>,
    uplink: Uplink,
    to_host: VecDeque<Vec<u8>>,
    host_connections: u64,
}

impl Simulation {
    pub fn new(cfg: SimConfig, now: Instant) -> Self {
        let mut rng = SimRng::new(cfg.seed);
        let mut air = Air::new(cfg.air.clone(), cfg.motes.len() + 1, rng.fork());
        let motes = cfg
            .motes
            .iter()
            .enumerate()
            .map(|(i, eui)| {
                let mc = MoteConfig {
                    index: i as u32 + 1,
                    eui64: *eui,
                    pan_id: cfg.pan_id,
                    router: cfg.radio_eui64,
                    prefix: cfg.prefix,
                    rpl: cfg.rpl,
                    register_lifetime_min: cfg.registering.get(i).copied().flatten(),
                    sixlowpan_router: cfg.sixlowpan_routers.contains(&(i + 1)),
                };
                let mut mote = Mote::new(mc, now);
                match cfg
                    .devices
                    .get(i)
                    .map(|d| d.build(i as u32 + 1, eui.0, cfg.seed))
                {
                    None | Some(Ok(None)) => {}
                    Some(Ok(Some(device))) => mote.set_device(device),
                    // Validated at start; an engine that cannot start (no randomness) leaves
                    // the mote plain, and says so in its counters.
                    Some(Err(_)) => mote.count_drop(crate::mote::MoteDrop::DeviceSetupFailed),
                }
                mote
            })
            .collect();
        let uplink = match cfg.mode {
            UplinkMode::SlipRadio => {
                let mut fw = RadioFirmware::new(cfg.radio_eui64);
                fw.set_pan_id(cfg.pan_id);
                fw.set_channel(u16::from(cfg.channel));
                Uplink::Radio(Box::new(fw))
            }
            UplinkMode::Zep { channel } => {
                air.set_external(RADIO_NODE, true);
                Uplink::Zep(ZepSide::new(channel, cfg.air.loss, rng.fork()))
            }
        };
        Simulation {
            cfg,
            air,
            motes,
            uplink,
            to_host: VecDeque::new(),
            host_connections: 0,
        }
    }

    pub fn motes(&self) -> &[Mote] {
        &self.motes
    }

    pub fn mote_mut(&mut self, index: usize) -> Option<&mut Mote> {
        self.motes.get_mut(index)
    }

    /// A (new) host connected to the serial side.
    pub fn host_connected(&mut self) {
        self.host_connections += 1;
        self.to_host.clear();
        if let Uplink::Radio(fw) = &mut self.uplink {
            fw.host_reconnected();
        }
    }

    /// Bytes the host wrote to the serial line (slip-radio mode).
    pub fn handle_host_bytes(&mut self, now: Instant, bytes: &[u8]) {
        let Uplink::Radio(fw) = &mut self.uplink else {
            return;
        };
        let sends = fw.handle_host_bytes(bytes);
        let pan_before = self.cfg.pan_id;
        let pan_now = fw.pan_id();
        if pan_now != pan_before {
            // The deployment is configured consistently: motes follow the PAN the host sets.
            self.cfg.pan_id = pan_now;
            for m in &mut self.motes {
                m.set_pan_id(pan_now);
            }
        }
        for s in sends {
            let (dst, ack_request) = self.resolve(RADIO_NODE, &s.frame);
            let req = TxRequest {
                from: RADIO_NODE,
                frame: s.frame,
                dst,
                ack_request,
                max_tx: s.max_tx.unwrap_or(self.cfg.max_tx),
                token: u64::from(s.sid),
            };
            if self.air.enqueue(now, req).is_err()
                && let Uplink::Radio(fw) = &mut self.uplink
            {
                fw.send_done(s.sid, TxStatus::QueueFull, 0);
            }
        }
        self.run(now);
        self.collect_host_output();
    }

    /// Serial bytes for the host, one SLIP frame per call.
    pub fn poll_host_bytes(&mut self) -> Option<Vec<u8>> {
        self.collect_host_output();
        self.to_host.pop_front()
    }

    /// A UDP datagram from the ZEP peer (ZEP mode).
    pub fn handle_zep_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let Uplink::Zep(z) = &mut self.uplink else {
            return;
        };
        let Some(rx) = z.receive(datagram) else {
            return;
        };
        match rx {
            crate::zep::Received::Ack { seq } => self.air.external_ack(now, seq),
            crate::zep::Received::Frame(frame) => {
                // The border router's frame is already on air: deliver it to the motes the
                // same way the channel would (independent loss per receiver, ACK by the
                // addressed mote, sent back over ZEP one turnaround time later).
                let (dst, ack_request) = self.resolve(RADIO_NODE, &frame);
                let receivers: Vec<NodeId> = match dst {
                    Destination::Broadcast => (1..=self.motes.len()).collect(),
                    Destination::Node(n) if n != RADIO_NODE => vec![n],
                    _ => Vec::new(),
                };
                for n in receivers {
                    let Uplink::Zep(z) = &mut self.uplink else {
                        return;
                    };
                    if !z.reception_survives() {
                        continue;
                    }
                    if ack_request && dst == Destination::Node(n) {
                        z.send_ack(now, &frame, n);
                    }
                    self.deliver_to_mote(now, n, &frame);
                }
            }
        }
        self.run(now);
    }

    /// Datagrams for the ZEP peer.
    pub fn poll_zep_datagram(&mut self) -> Option<Vec<u8>> {
        match &mut self.uplink {
            Uplink::Zep(z) => z.poll_datagram(),
            Uplink::Radio(_) => None,
        }
    }

    /// The next time [`Simulation::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let motes = self.motes.iter().filter_map(Mote::poll_timeout).min();
        let acks = match &self.uplink {
            Uplink::Zep(z) => z.poll_timeout(),
            Uplink::Radio(_) => None,
        };
        [self.air.poll_timeout(), motes, acks]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advance to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Uplink::Zep(z) = &mut self.uplink {
            z.handle_timeout(now);
        }
        for i in 0..self.motes.len() {
            if self.motes[i].poll_timeout().is_some_and(|t| t <= now) {
                let frames = self.motes[i].handle_timeout(now);
                self.send_from_mote(now, i + 1, frames);
            }
        }
        self.run(now);
        self.collect_host_output();
    }

    fn collect_host_output(&mut self) {
        if let Uplink::Radio(fw) = &mut self.uplink {
            while let Some(b) = fw.poll_host_bytes() {
                self.to_host.push_back(b);
            }
        }
    }

    /// Run the channel up to `now` and dispatch what it did.
    fn run(&mut self, now: Instant) {
        for _ in 0..MAX_EVENTS_PER_CALL {
            self.air.handle_timeout(now);
            let Some(ev) = self.air.poll_event() else {
                return;
            };
            match ev {
                AirEvent::Delivered {
                    to: RADIO_NODE,
                    from,
                    frame,
                } => match &mut self.uplink {
                    Uplink::Radio(fw) => {
                        fw.frame_received(now, &frame);
                    }
                    Uplink::Zep(z) => {
                        let (lqi, rssi) = self.cfg.air.link_heard(from, RADIO_NODE);
                        z.send_frame_heard(&frame, from, lqi, rssi)
                    }
                },
                AirEvent::Delivered { to, frame, .. } => self.deliver_to_mote(now, to, &frame),
                AirEvent::TxDone {
                    from: RADIO_NODE,
                    token,
                    outcome,
                    transmissions,
                } => {
                    if let Uplink::Radio(fw) = &mut self.uplink {
                        let status = match outcome {
                            TxOutcome::Ok => TxStatus::Ok,
                            TxOutcome::NoAck => TxStatus::NoAck,
                        };
                        fw.send_done(token as u8, status, transmissions);
                    }
                }
                AirEvent::TxDone { .. } => {}
            }
        }
    }

    fn deliver_to_mote(&mut self, now: Instant, node: NodeId, frame: &[u8]) {
        let Some(mote) = node.checked_sub(1).and_then(|i| self.motes.get_mut(i)) else {
            return;
        };
        let out = mote.handle_frame(now, frame);
        self.send_from_mote(now, node, out);
    }

    fn send_from_mote(&mut self, now: Instant, node: NodeId, frames: Vec<Vec<u8>>) {
        for frame in frames {
            let (dst, ack_request) = self.resolve(node, &frame);
            let req = TxRequest {
                from: node,
                frame,
                dst,
                ack_request,
                max_tx: self.cfg.max_tx,
                token: 0,
            };
            // A full queue drops the frame, as a mote's MAC would; the air counts it.
            let _ = self.air.enqueue(now, req);
        }
    }

    /// Who a frame from `from` is for, and whether the sender waits for an ACK.
    fn resolve(&self, from: NodeId, frame: &[u8]) -> (Destination, bool) {
        let Ok((repr, _)) = ieee802154::parse_frame(frame) else {
            // Garbage still goes on air; every receiver will drop it.
            return (Destination::Broadcast, false);
        };
        let pan = self.cfg.pan_id;
        let pan_ok = matches!(repr.dst_pan, Some(p) if p == pan || p == 0xffff);
        let zep = matches!(self.uplink, Uplink::Zep(_));
        let dst = match repr.dst_addr {
            Address::Absent => return (Destination::Broadcast, false),
            Address::Short(0xffff) => return (Destination::Broadcast, false),
            _ if !pan_ok => Destination::Nobody,
            Address::Extended(e) => {
                if let Some(i) = self.motes.iter().position(|m| m.eui64() == e) {
                    Destination::Node(i + 1)
                } else if zep || e == self.cfg.radio_eui64 {
                    // In ZEP mode anything not for a mote is the border router's to judge.
                    Destination::Node(RADIO_NODE)
                } else {
                    Destination::Nobody
                }
            }
            Address::Short(_) if zep => Destination::Node(RADIO_NODE),
            Address::Short(_) => Destination::Nobody,
        };
        let dst = if dst == Destination::Node(from) {
            Destination::Nobody
        } else {
            dst
        };
        (dst, repr.ack_request)
    }

    /// All counters.
    pub fn stats(&self) -> Stats {
        let mut radio = RadioStats {
            eui64: self.cfg.radio_eui64.to_string(),
            pan_id: self.cfg.pan_id,
            host_connections: self.host_connections,
            air: self.air.counters(RADIO_NODE).into(),
            ..Default::default()
        };
        match &self.uplink {
            Uplink::Radio(fw) => {
                radio.mode = "slip-radio".into();
                radio.channel = fw.channel();
                radio.add_firmware(fw.counters());
            }
            Uplink::Zep(z) => {
                radio.mode = "zep".into();
                radio.channel = u16::from(z.channel());
                radio.zep_drops = z.drops().iter().map(|(k, v)| (k.to_string(), *v)).collect();
                radio.frames_up = z.frames_sent();
            }
        }
        let motes = self
            .motes
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let c = m.counters();
                let served = |name: &str| c.served.get(name).copied().unwrap_or(0);
                MoteStats {
                    device_kind: m.device_kind().as_str().to_string(),
                    security: m.security_counters().into(),
                    index: i as u32 + 1,
                    eui64: m.eui64().to_string(),
                    link_local: m.link_local().to_string(),
                    global: m.global().map(|g| g.to_string()),
                    router: m.router().to_string(),
                    frames_in: c.frames_in,
                    bytes_in: c.bytes_in,
                    frames_out: c.frames_out,
                    bytes_out: c.bytes_out,
                    fragments_in: c.fragments_in,
                    fragments_out: c.fragments_out,
                    secure_frames_in: c.secure_frames_in,
                    secure_bytes_in: c.secure_bytes_in,
                    secure_frames_out: c.secure_frames_out,
                    secure_bytes_out: c.secure_bytes_out,
                    packets_in: c.packets_in,
                    packets_out: c.packets_out,
                    echo_requests: c.echo_requests,
                    udp_echo: served("echo"),
                    coap_requests: served("coap"),
                    rs_sent: c.rs_sent,
                    ra_received: c.ra_received,
                    served: c.served.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                    drops: c.drops.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                    air: self.air.counters(i + 1).into(),
                }
            })
            .collect();
        Stats {
            seed: self.cfg.seed,
            loss: self.cfg.air.loss,
            paced: self.cfg.air.paced,
            radio,
            motes,
        }
    }
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
