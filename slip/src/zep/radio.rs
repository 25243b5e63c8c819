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
//! (emulated nodes are half-duplex with one receive buffer); Imm-Acks go out at once.

use super::wire::{self, decode_datagram, encode_datagram};
use crate::radio::TxStatus;
use lowpan::ieee802154::{self, Address, Eui64, FrameType, MAX_FRAME_NO_FCS};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Link addresses remembered with the peer they were last heard from.
const MAX_LEARNED_ADDRESSES: usize = 1024;
const MAX_PENDING_EVENTS: usize = 4096;
const MAX_PENDING_ACKS: usize = 64;

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
    /// Peers (simulators, emulated nodes) that receive our frames.
    pub peers: Vec<SocketAddr>,
    /// ZEP device id written into our datagrams.
    pub device_id: u16,
    /// Wait this long for an Imm-Ack before repeating a frame.
    pub ack_timeout: Duration,
    /// Repetitions after the first transmission of an unacknowledged frame.
    pub max_retries: u8,
    /// Minimum time between two datagrams to the same peer.
    pub peer_gap: Duration,
    /// A frame with the same (source, sequence number) within this time is a duplicate.
    pub dedupe_window: Duration,
    /// Remembered (source, sequence number) pairs.
    pub dedupe_capacity: usize,
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
            device_id: 0,
            ack_timeout: Duration::from_millis(5),
            max_retries: 3,
            peer_gap: Duration::from_millis(3),
            dedupe_window: Duration::from_secs(20),
            dedupe_capacity: 256,
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
    /// A frame for us (header and payload, no FCS).
    Frame(Vec<u8>),
    /// A frame we sent is done: `Ok` (acknowledged, or no ACK requested), `NoAck`, or
    /// `Err` when there was no peer to send it to.
    /// `seq` is its MAC sequence number.
    TxDone { seq: u8, status: TxStatus, transmissions: u8 },
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

/// The sans-IO ZEP radio; see the module docs.
#[derive(Debug)]
pub struct ZepRadio {
    cfg: ZepConfig,
    counters: ZepCounters,
    events: VecDeque<ZepEvent>,
    backlog: VecDeque<Vec<u8>>,
    current: Option<Transmission>,
    acks: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Peer each link address was last heard from.
    learned: HashMap<Address, (SocketAddr, Instant)>,
    /// Earliest next datagram per peer.
    next_to_peer: HashMap<SocketAddr, Instant>,
    /// Recently received (source, sequence number).
    recent: VecDeque<(Address, u8, Instant)>,
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
            learned: HashMap::new(),
            next_to_peer: HashMap::new(),
            recent: VecDeque::new(),
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
            return;
        };
        if mac.frame_type == FrameType::Ack {
            self.handle_ack(now, mac.sequence_number);
            return;
        }
        if self.is_ours(mac.src_addr) {
            self.counters.drop_own += 1;
            return;
        }
        if let Some(pan) = mac.dst_pan
            && pan != self.cfg.pan_id
            && pan != 0xFFFF
        {
            self.counters.drop_other_pan += 1;
            return;
        }
        let unicast_to_us = self.is_ours(mac.dst_addr);
        // No destination address: a frame for the PAN coordinator, which we are.
        let for_us = unicast_to_us || mac.dst_addr.is_broadcast() || mac.dst_addr.is_absent();
        if !for_us {
            self.counters.drop_not_for_us += 1;
            return;
        }
        self.learn(now, mac.src_addr, from);
        if mac.ack_request && unicast_to_us {
            // Even for a duplicate: the sender repeats because it missed our ACK.
            self.queue_ack(from, mac.sequence_number);
        }
        if self.is_duplicate(now, mac.src_addr, mac.sequence_number) {
            self.counters.drop_duplicate += 1;
            return;
        }
        self.counters.frames_in += 1;
        self.push_event(ZepEvent::Frame(zf.frame.to_vec()));
    }

    /// The next datagram to send and to whom.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        if let Some((to, d)) = self.acks.pop_front() {
            self.note_sent(now, to, d.len());
            return Some((to, d));
        }
        loop {
            if self.current.is_none() {
                let frame = self.backlog.pop_front()?;
                match self.start_transmission(frame) {
                    Some(t) if t.all_targets.is_empty() => {
                        self.counters.drop_no_peer += 1;
                        let seq = t.seq;
                        self.push_event(ZepEvent::TxDone { seq, status: TxStatus::Err, transmissions: 0 });
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
                self.push_event(ZepEvent::TxDone { seq, status: TxStatus::Ok, transmissions: attempts });
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
        let cur = self.current.as_ref()?;
        if let Some(d) = cur.ack_deadline {
            return Some(d);
        }
        cur.targets.iter().filter_map(|p| self.next_to_peer.get(p).copied()).min()
    }

    /// Repeat or give up a frame whose ACK did not come; forget old duplicates.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_recent(now);
        let Some(cur) = self.current.as_mut() else { return };
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
            self.push_event(ZepEvent::TxDone { seq, status: TxStatus::NoAck, transmissions: attempts });
        }
    }

    fn start_transmission(&mut self, frame: Vec<u8>) -> Option<Transmission> {
        // send_frame checked that it parses.
        let (mac, _) = ieee802154::parse_frame(&frame).ok()?;
        let unicast = !mac.dst_addr.is_broadcast() && !mac.dst_addr.is_absent();
        let all_targets = match self.learned.get(&mac.dst_addr) {
            Some((peer, _)) if unicast => vec![*peer],
            _ => self.cfg.peers.clone(),
        };
        self.zep_sequence = self.zep_sequence.wrapping_add(1);
        let datagram =
            encode_datagram(self.cfg.channel, self.cfg.device_id, self.zep_sequence, &frame).ok()?;
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

    fn handle_ack(&mut self, _now: Instant, seq: u8) {
        self.counters.acks_received += 1;
        let matches = self.current.as_ref().is_some_and(|c| c.wants_ack && c.sent && c.seq == seq);
        if !matches {
            self.counters.stray_acks += 1;
            return;
        }
        if let Some(c) = self.current.take() {
            self.counters.tx_ok += 1;
            self.push_event(ZepEvent::TxDone { seq, status: TxStatus::Ok, transmissions: c.attempts });
        }
    }

    fn queue_ack(&mut self, to: SocketAddr, seq: u8) {
        if self.acks.len() >= MAX_PENDING_ACKS {
            return;
        }
        self.zep_sequence = self.zep_sequence.wrapping_add(1);
        let ack = ieee802154::imm_ack(seq, false);
        if let Ok(d) = encode_datagram(self.cfg.channel, self.cfg.device_id, self.zep_sequence, &ack) {
            self.counters.acks_sent += 1;
            self.acks.push_back((to, d));
        }
    }

    fn note_sent(&mut self, now: Instant, to: SocketAddr, len: usize) {
        self.counters.datagrams_out += 1;
        self.counters.bytes_out += len as u64;
        if self.next_to_peer.len() >= MAX_LEARNED_ADDRESSES {
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

    fn learn(&mut self, now: Instant, src: Address, from: SocketAddr) {
        if src.is_absent() {
            return;
        }
        if !self.learned.contains_key(&src) && self.learned.len() >= MAX_LEARNED_ADDRESSES {
            let oldest = self.learned.iter().min_by_key(|(_, (_, t))| *t).map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.learned.remove(&a);
            }
        }
        self.learned.insert(src, (from, now));
    }

    fn is_duplicate(&mut self, now: Instant, src: Address, seq: u8) -> bool {
        if src.is_absent() {
            return false;
        }
        self.expire_recent(now);
        if self.recent.iter().any(|(a, s, _)| *a == src && *s == seq) {
            return true;
        }
        if self.recent.len() >= self.cfg.dedupe_capacity.max(1) {
            self.recent.pop_front();
        }
        self.recent.push_back((src, seq, now));
        false
    }

    fn expire_recent(&mut self, now: Instant) {
        while let Some((_, _, t)) = self.recent.front() {
            if now.saturating_duration_since(*t) < self.cfg.dedupe_window {
                break;
            }
            self.recent.pop_front();
        }
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
