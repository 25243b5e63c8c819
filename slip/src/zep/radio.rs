//! `ZepRadio`: the border router's own "radio" when its link is ZEP over UDP.
//!
//! A serial radio checks FCS, filters addresses, acknowledges, retries and de-duplicates
//! in hardware. Over ZEP nobody does, so this machine does it, sans-IO, with the same
//! driving pattern as [`crate::link::RadioLink`]: feed datagrams and frames, drain
//! `poll_transmit` (addressed datagrams) and `poll_event`, wait for `poll_timeout`.
//!
//! Transmission is stop-and-wait like a real MAC: one frame at a time is on the air; a
//! unicast frame that requests an ACK is repeated after `ack_timeout` up to
//! `max_retries` times. Consecutive datagrams to the same peer are spaced by `peer_gap`
//! (emulated nodes are half-duplex with one receive buffer). An Imm-Ack leaves
//! `turnaround` after the frame it acknowledges, as a radio's does: an emulated node that
//! is still finishing its transmission discards what arrives sooner.
//!
//! De-duplication is the 802.15.4 one: a frame whose source and sequence number (DSN) are
//! those of the last frame accepted from that source is a retransmission (acknowledged
//! again, not delivered twice); any other frame is new, whatever it wrapped around to.
//!
//! The peers share one channel: a frame from one peer is relayed to every other known
//! peer (configured, or heard from within `peer_idle_timeout`, at most `max_peers`), so
//! that ZEP nodes hear each other as they would on air. Only frames that nobody else
//! needs are kept back: those unicast to us and the ACKs of our own frames. Peers must
//! not form a loop of relays among themselves.

use super::wire::{self, decode_datagram, encode_datagram};
use crate::slip_radio::TxStatus;
use lowpan::ieee802154::{self, Address, Eui64, FrameType, MAX_FRAME_NO_FCS};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Link addresses remembered (the peer they were last heard from, their last DSN).
const MAX_SOURCES: usize = 1024;
const MAX_PENDING_EVENTS: usize = 4096;
const MAX_PENDING_ACKS: usize = 64;
/// Relayed datagrams waiting to be sent (one per receiving peer).
const MAX_PENDING_RELAYS: usize = 1024;
/// ZEP v2 type 255: the "hello" an emulated node (RIOT's socket_zep) sends at start so
/// that a dispatcher learns about it before it has anything to say.
const ZEP_TYPE_HELLO: u8 = 255;

/// aTurnaroundTime: 12 symbols of 16 us (2.4 GHz O-QPSK).
pub const TURNAROUND_2450MHZ: Duration = Duration::from_micros(192);

/// Settings of a [`ZepRadio`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZepConfig {
    /// 802.15.4 channel (11-26); datagrams for other channels are dropped.
    pub channel: u8,
    /// Our PAN id.
    pub pan_id: u16,
    /// Our extended address.
    pub eui64: Eui64,
    /// Our short address, if we have one.
    pub short_addr: Option<u16>,
    /// Peers (simulators, emulated nodes) that always receive our frames and relays.
    pub peers: Vec<SocketAddr>,
    /// Peers learned from their datagrams, beyond `peers`, kept at most.
    pub max_peers: usize,
    /// A learned peer not heard from for this long is forgotten.
    pub peer_idle_timeout: Duration,
    /// Relay frames among the peers, as a shared channel would carry them.
    pub relay: bool,
    /// ZEP device id written into our datagrams.
    pub device_id: u16,
    /// Delay between a frame and our Imm-Ack for it (aTurnaroundTime).
    pub turnaround: Duration,
    /// Wait this long for an Imm-Ack before repeating a frame.
    pub ack_timeout: Duration,
    /// Repetitions after the first transmission of an unacknowledged frame.
    pub max_retries: u8,
    /// Minimum time between two datagrams to the same peer.
    pub peer_gap: Duration,
    /// A repeat of a source's last DSN is a retransmission only within this time (MAC
    /// retries take milliseconds); later, it is a node that restarted.
    pub dedupe_window: Duration,
    /// Frames waiting to be sent; more are refused with [`ZepDrop::BacklogFull`].
    pub backlog_frames: usize,
}

impl ZepConfig {
    pub fn new(eui64: Eui64, peers: Vec<SocketAddr>) -> Self {
        ZepConfig {
            channel: 26,
            pan_id: 0xABCD,
            eui64,
            short_addr: None,
            peers,
            max_peers: 64,
            peer_idle_timeout: Duration::from_secs(600),
            relay: true,
            device_id: 0,
            turnaround: TURNAROUND_2450MHZ,
            ack_timeout: Duration::from_millis(5),
            max_retries: 3,
            peer_gap: Duration::from_millis(3),
            dedupe_window: Duration::from_secs(1),
            backlog_frames: 128,
        }
    }
}

/// Why [`ZepRadio::send_frame`] refused a frame. `as_str` names are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZepDrop {
    BacklogFull,
    FrameTooLong,
    /// Not a parsable 802.15.4 frame (we must read its destination and ACK request).
    BadFrame(ieee802154::Error),
}

impl ZepDrop {
    pub fn as_str(&self) -> &'static str {
        match self {
            ZepDrop::BacklogFull => "zep_backlog_full",
            ZepDrop::FrameTooLong => "zep_frame_too_long",
            ZepDrop::BadFrame(e) => e.as_str(),
        }
    }
}

impl fmt::Display for ZepDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ZepDrop {}

/// What happened, for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZepEvent {
    /// A frame for us (header and payload, no FCS), with the LQI (and RSSI) its datagram
    /// reported.
    Frame(Vec<u8>, crate::LinkQuality),
    /// A frame we sent is done: `Ok` (acknowledged, or no ACK requested), `NoAck`, or
    /// `Err` when there was no peer to send it to.
    /// `seq` is its MAC sequence number.
    TxDone {
        seq: u8,
        status: TxStatus,
        transmissions: u8,
    },
}

/// Counters of a [`ZepRadio`] since creation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZepCounters {
    pub datagrams_in: u64,
    pub bytes_in: u64,
    pub datagrams_out: u64,
    pub bytes_out: u64,
    /// Frames delivered as [`ZepEvent::Frame`].
    pub frames_in: u64,
    /// Frames accepted by `send_frame`.
    pub frames_queued: u64,
    pub acks_sent: u64,
    pub acks_received: u64,
    /// ACKs that matched nothing we were waiting for.
    pub stray_acks: u64,
    /// Repetitions of unacknowledged frames.
    pub retries: u64,
    pub tx_ok: u64,
    pub tx_no_ack: u64,
    /// Copies of peers' frames sent to the other peers.
    pub relayed: u64,
    /// Peers learned from their datagrams.
    pub peers_learned: u64,
    /// Learned peers forgotten after `peer_idle_timeout`.
    pub peers_expired: u64,
    /// ZEP acks, type 255 "hello" and other types we ignore.
    pub ignored: u64,
    /// Datagrams that are not ZEP or are malformed.
    pub drop_malformed: u64,
    pub drop_other_channel: u64,
    pub drop_bad_fcs: u64,
    /// FCS fine but the 802.15.4 header is not one we can read.
    pub drop_bad_frame: u64,
    pub drop_other_pan: u64,
    pub drop_not_for_us: u64,
    pub drop_duplicate: u64,
    /// Our own frames reflected back by a hub.
    pub drop_own: u64,
    pub drop_backlog_full: u64,
    pub drop_too_long: u64,
    pub drop_unparsable_tx: u64,
    /// Frames with nobody to send them to (no peers configured or learned).
    pub drop_no_peer: u64,
    pub drop_events: u64,
    /// Imm-Acks not sent because too many were already waiting for their turnaround.
    pub drop_ack_backlog: u64,
    /// Relay copies not sent because the relay queue was full.
    pub drop_relay_full: u64,
    /// New peers not remembered because `max_peers` were active (their frames are still
    /// handled and relayed; they just receive nothing but unicast).
    pub drop_peer_table_full: u64,
}

#[derive(Debug)]
struct Transmission {
    /// The datagram as sent (the ZEP sequence number of its first attempt).
    datagram: Vec<u8>,
    seq: u8,
    /// Peers still to receive the current attempt.
    targets: VecDeque<SocketAddr>,
    all_targets: Vec<SocketAddr>,
    wants_ack: bool,
    /// At least one copy went out (an ACK before that is for another frame).
    sent: bool,
    attempts: u8,
    ack_deadline: Option<Instant>,
}

/// What we know of a link address.
#[derive(Clone, Copy, Debug)]
struct Source {
    /// The peer its frames come from.
    peer: SocketAddr,
    last_heard: Instant,
    /// DSN of the last frame from it we accepted, and when.
    last_seq: Option<(u8, Instant)>,
}

/// The sans-IO ZEP radio; see the module docs.
#[derive(Debug)]
pub struct ZepRadio {
    cfg: ZepConfig,
    counters: ZepCounters,
    events: VecDeque<ZepEvent>,
    backlog: VecDeque<Vec<u8>>,
    current: Option<Transmission>,
    /// Imm-Acks with the time they are due.
    acks: VecDeque<(Instant, SocketAddr, Vec<u8>)>,
    relays: VecDeque<(SocketAddr, Vec<u8>)>,
    sources: HashMap<Address, Source>,
    /// Learned peers (not in `cfg.peers`) and when each was last heard.
    peers: HashMap<SocketAddr, Instant>,
    /// Earliest next datagram per peer.
    next_to_peer: HashMap<SocketAddr, Instant>,
    zep_sequence: u32,
}

impl ZepRadio {
    pub fn new(cfg: ZepConfig) -> Self {
        ZepRadio {
            cfg,
            counters: ZepCounters::default(),
            events: VecDeque::new(),
            backlog: VecDeque::new(),
            current: None,
            acks: VecDeque::new(),
            relays: VecDeque::new(),
            sources: HashMap::new(),
            peers: HashMap::new(),
            next_to_peer: HashMap::new(),
            zep_sequence: 0,
        }
    }

    pub fn config(&self) -> &ZepConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &ZepCounters {
        &self.counters
    }

    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Peers learned from their datagrams and not yet expired (configured ones aside).
    pub fn learned_peers(&self) -> usize {
        self.peers.len()
    }

    /// Queue an 802.15.4 frame (header and payload, without FCS).
    pub fn send_frame(&mut self, _now: Instant, frame: Vec<u8>) -> Result<(), ZepDrop> {
        if frame.len() > MAX_FRAME_NO_FCS {
            self.counters.drop_too_long += 1;
            return Err(ZepDrop::FrameTooLong);
        }
        if let Err(e) = ieee802154::parse_frame(&frame) {
            self.counters.drop_unparsable_tx += 1;
            return Err(ZepDrop::BadFrame(e));
        }
        if self.backlog.len() >= self.cfg.backlog_frames {
            self.counters.drop_backlog_full += 1;
            return Err(ZepDrop::BacklogFull);
        }
        self.counters.frames_queued += 1;
        self.backlog.push_back(frame);
        Ok(())
    }

    /// A UDP datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.counters.datagrams_in += 1;
        self.counters.bytes_in += bytes.len() as u64;
        let zf = match decode_datagram(bytes) {
            Ok(zf) => zf,
            Err(wire::Error::UnsupportedType(ZEP_TYPE_HELLO)) if bytes.get(2) == Some(&2) => {
                self.heard_peer(now, from);
                self.counters.ignored += 1;
                return;
            }
            Err(wire::Error::NotData | wire::Error::UnsupportedType(_)) => {
                self.counters.ignored += 1;
                return;
            }
            Err(wire::Error::BadFcs) => {
                self.counters.drop_bad_fcs += 1;
                return;
            }
            Err(_) => {
                self.counters.drop_malformed += 1;
                return;
            }
        };
        if zf.header.channel != self.cfg.channel {
            self.counters.drop_other_channel += 1;
            return;
        }
        let Ok((mac, _payload)) = ieee802154::parse_frame(zf.frame) else {
            self.counters.drop_bad_frame += 1;
            // Still a node on our channel: others may read what we cannot.
            self.heard_peer(now, from);
            self.relay(from, bytes);
            return;
        };
        if self.is_ours(mac.src_addr) {
            // Reflected by a hub, which already gave it to everyone.
            self.counters.drop_own += 1;
            return;
        }
        self.heard_peer(now, from);
        if mac.frame_type == FrameType::Ack {
            if !self.handle_ack(from, mac.sequence_number) {
                self.relay(from, bytes);
            }
            return;
        }
        let unicast_to_us = self.is_ours(mac.dst_addr);
        if !unicast_to_us {
            self.relay(from, bytes);
        }
        // Whatever its destination: the source's DSN counts up over all its frames.
        let repeat = self.note_source(now, mac.src_addr, mac.sequence_number, from);
        if let Some(pan) = mac.dst_pan
            && pan != self.cfg.pan_id
            && pan != 0xFFFF
        {
            self.counters.drop_other_pan += 1;
            return;
        }
        // No destination address: a frame for the PAN coordinator, which we are.
        let for_us = unicast_to_us || mac.dst_addr.is_broadcast() || mac.dst_addr.is_absent();
        if !for_us {
            self.counters.drop_not_for_us += 1;
            return;
        }
        if mac.ack_request && unicast_to_us {
            // Even for a retransmission: the sender repeats because it missed our ACK.
            self.queue_ack(now, from, mac.sequence_number);
        }
        if repeat {
            self.counters.drop_duplicate += 1;
            return;
        }
        self.counters.frames_in += 1;
        self.push_event(ZepEvent::Frame(zf.frame.to_vec(), zf.quality()));
    }

    /// The next datagram to send and to whom.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        if self.acks.front().is_some_and(|(due, _, _)| *due <= now) {
            let (_, to, d) = self.acks.pop_front()?;
            self.note_sent(now, to, d.len());
            return Some((to, d));
        }
        if let Some((to, d)) = self.relays.pop_front() {
            self.counters.relayed += 1;
            self.note_sent(now, to, d.len());
            return Some((to, d));
        }
        loop {
            if self.current.is_none() {
                let frame = self.backlog.pop_front()?;
                match self.start_transmission(now, frame) {
                    Some(t) if t.all_targets.is_empty() => {
                        self.counters.drop_no_peer += 1;
                        let seq = t.seq;
                        self.push_event(ZepEvent::TxDone {
                            seq,
                            status: TxStatus::Err,
                            transmissions: 0,
                        });
                    }
                    t => self.current = t,
                }
                continue;
            }
            let cur = self.current.as_mut()?;
            if cur.targets.is_empty() {
                if cur.wants_ack {
                    // Waiting for the ACK (deadline set when the last copy went out).
                    return None;
                }
                let (seq, attempts) = (cur.seq, cur.attempts);
                self.current = None;
                self.counters.tx_ok += 1;
                self.push_event(ZepEvent::TxDone {
                    seq,
                    status: TxStatus::Ok,
                    transmissions: attempts,
                });
                continue;
            }
            let ready = cur
                .targets
                .iter()
                .position(|p| self.next_to_peer.get(p).is_none_or(|t| *t <= now))?;
            let to = cur.targets.remove(ready)?;
            let datagram = cur.datagram.clone();
            cur.sent = true;
            if cur.targets.is_empty() && cur.wants_ack {
                cur.ack_deadline = Some(now + self.cfg.ack_timeout);
            }
            self.note_sent(now, to, datagram.len());
            return Some((to, datagram));
        }
    }

    pub fn poll_event(&mut self) -> Option<ZepEvent> {
        self.events.pop_front()
    }

    /// Earliest time at which `handle_timeout`/`poll_transmit` has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ack = self.acks.front().map(|(due, _, _)| *due);
        let frame = self
            .current
            .as_ref()
            .and_then(|cur| match cur.ack_deadline {
                Some(d) => Some(d),
                None => cur
                    .targets
                    .iter()
                    .filter_map(|p| self.next_to_peer.get(p).copied())
                    .min(),
            });
        match (ack, frame) {
            (Some(a), Some(f)) => Some(a.min(f)),
            (a, f) => a.or(f),
        }
    }

    /// Repeat or give up a frame whose ACK did not come; forget idle peers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_peers(now);
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if cur.ack_deadline.is_none_or(|d| d > now) {
            return;
        }
        cur.ack_deadline = None;
        if cur.attempts <= self.cfg.max_retries {
            cur.attempts += 1;
            cur.targets = cur.all_targets.iter().copied().collect();
            self.counters.retries += 1;
        } else {
            let (seq, attempts) = (cur.seq, cur.attempts);
            self.current = None;
            self.counters.tx_no_ack += 1;
            self.push_event(ZepEvent::TxDone {
                seq,
                status: TxStatus::NoAck,
                transmissions: attempts,
            });
        }
    }

    fn start_transmission(&mut self, now: Instant, frame: Vec<u8>) -> Option<Transmission> {
        // send_frame checked that it parses.
        let (mac, _) = ieee802154::parse_frame(&frame).ok()?;
        let unicast = !mac.dst_addr.is_broadcast() && !mac.dst_addr.is_absent();
        let all_targets = match self.sources.get(&mac.dst_addr) {
            Some(s) if unicast => vec![s.peer],
            _ => {
                self.expire_peers(now);
                self.all_peers().collect()
            }
        };
        self.zep_sequence = self.zep_sequence.wrapping_add(1);
        let datagram = encode_datagram(
            self.cfg.channel,
            self.cfg.device_id,
            self.zep_sequence,
            &frame,
        )
        .ok()?;
        Some(Transmission {
            datagram,
            seq: mac.sequence_number,
            targets: all_targets.iter().copied().collect(),
            all_targets,
            wants_ack: unicast && mac.ack_request,
            sent: false,
            attempts: 1,
            ack_deadline: None,
        })
    }

    /// Whether the ACK completes our current frame (an ACK has no addresses: it must come
    /// from a peer we sent the frame to).
    fn handle_ack(&mut self, from: SocketAddr, seq: u8) -> bool {
        self.counters.acks_received += 1;
        let matches = self.current.as_ref().is_some_and(|c| {
            c.wants_ack && c.sent && c.seq == seq && c.all_targets.contains(&from)
        });
        if !matches {
            self.counters.stray_acks += 1;
            return false;
        }
        if let Some(c) = self.current.take() {
            self.counters.tx_ok += 1;
            self.push_event(ZepEvent::TxDone {
                seq,
                status: TxStatus::Ok,
                transmissions: c.attempts,
            });
        }
        true
    }

    fn queue_ack(&mut self, now: Instant, to: SocketAddr, seq: u8) {
        if self.acks.len() >= MAX_PENDING_ACKS {
            self.counters.drop_ack_backlog += 1;
            return;
        }
        self.zep_sequence = self.zep_sequence.wrapping_add(1);
        let ack = ieee802154::imm_ack(seq, false);
        if let Ok(d) = encode_datagram(
            self.cfg.channel,
            self.cfg.device_id,
            self.zep_sequence,
            &ack,
        ) {
            self.counters.acks_sent += 1;
            // `now` never goes back, so the queue stays in order of due time.
            let due = now + self.cfg.turnaround;
            self.acks.push_back((due, to, d));
        }
    }

    /// Give a peer's datagram to every other peer, as the channel would.
    fn relay(&mut self, from: SocketAddr, datagram: &[u8]) {
        if !self.cfg.relay {
            return;
        }
        let targets: Vec<SocketAddr> = self.all_peers().filter(|p| *p != from).collect();
        for to in targets {
            if self.relays.len() >= MAX_PENDING_RELAYS {
                self.counters.drop_relay_full += 1;
            } else {
                self.relays.push_back((to, datagram.to_vec()));
            }
        }
    }

    /// Configured peers, then learned ones; each once.
    fn all_peers(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        let learned = self.peers.keys().filter(|p| !self.cfg.peers.contains(p));
        let mut configured: Vec<SocketAddr> = Vec::with_capacity(self.cfg.peers.len());
        for p in &self.cfg.peers {
            if !configured.contains(p) {
                configured.push(*p);
            }
        }
        configured.into_iter().chain(learned.copied())
    }

    /// A valid ZEP datagram on our channel came from `peer`: remember it (bounded).
    fn heard_peer(&mut self, now: Instant, peer: SocketAddr) {
        if self.cfg.peers.contains(&peer) {
            return;
        }
        if let Some(t) = self.peers.get_mut(&peer) {
            *t = now;
            return;
        }
        if self.peers.len() >= self.cfg.max_peers {
            self.expire_peers(now);
        }
        if self.peers.len() >= self.cfg.max_peers {
            self.counters.drop_peer_table_full += 1;
            return;
        }
        self.counters.peers_learned += 1;
        self.peers.insert(peer, now);
    }

    fn expire_peers(&mut self, now: Instant) {
        let timeout = self.cfg.peer_idle_timeout;
        let before = self.peers.len();
        self.peers
            .retain(|_, t| now.saturating_duration_since(*t) < timeout);
        self.counters.peers_expired += (before - self.peers.len()) as u64;
    }

    fn note_sent(&mut self, now: Instant, to: SocketAddr, len: usize) {
        self.counters.datagrams_out += 1;
        self.counters.bytes_out += len as u64;
        if self.next_to_peer.len() >= MAX_SOURCES {
            self.next_to_peer.retain(|_, t| *t > now);
        }
        self.next_to_peer.insert(to, now + self.cfg.peer_gap);
    }

    fn is_ours(&self, a: Address) -> bool {
        match a {
            Address::Extended(e) => e == self.cfg.eui64,
            Address::Short(s) => Some(s) == self.cfg.short_addr && s != 0xFFFF,
            Address::Absent => false,
        }
    }

    /// Remember that `src` is heard through `from` and sent DSN `seq`; whether that repeats
    /// the last frame we had from it (a retransmission).
    fn note_source(&mut self, now: Instant, src: Address, seq: u8, from: SocketAddr) -> bool {
        if src.is_absent() {
            return false;
        }
        if !self.sources.contains_key(&src) && self.sources.len() >= MAX_SOURCES {
            let oldest = self
                .sources
                .iter()
                .min_by_key(|(_, s)| s.last_heard)
                .map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.sources.remove(&a);
            }
        }
        let window = self.cfg.dedupe_window;
        let s = self.sources.entry(src).or_insert(Source {
            peer: from,
            last_heard: now,
            last_seq: None,
        });
        s.peer = from;
        s.last_heard = now;
        let repeat = s
            .last_seq
            .is_some_and(|(last, at)| last == seq && now.saturating_duration_since(at) < window);
        if !repeat {
            s.last_seq = Some((seq, now));
        }
        repeat
    }

    fn push_event(&mut self, e: ZepEvent) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.counters.drop_events += 1;
        } else {
            self.events.push_back(e);
        }
    }
}

#[cfg(test)]
mod tests;
