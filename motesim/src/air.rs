//! The shared 2.4 GHz IEEE 802.15.4 channel: air time, CSMA backoff, acknowledgements,
//! retransmissions and loss, as a sans-IO machine.
//!
//! All nodes (the border router's radio and the motes) share one collision domain, so
//! the medium carries one transmission at a time, in the order they were queued. A
//! transmission is: a random CSMA backoff, the frame on air (PHY header + PSDU with FCS at
//! 250 kbit/s), and for acknowledged unicast the turnaround and the Imm-Ack. Loss is
//! drawn independently for every frame reception and every ACK from a seeded generator,
//! so a run is reproducible. The model never looks at frame contents except the sequence
//! number (byte 2) when matching an ACK from an external node; the caller resolves
//! addresses to [`Destination`]s.
//!
//! A topology ([`AirConfig::links`]) limits who hears whom: with one, a frame reaches only
//! the nodes linked to its sender, each link with its own loss (the medium is still one
//! collision domain: transmissions never overlap). Without one every node hears every
//! other with the channel's loss.
//!
//! "Unthrottled" mode keeps everything (loss, retries, counters) but makes durations zero,
//! so frames move as fast as the host can take them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rng::SimRng;

/// Index of a node on the channel (0 is the border router's radio by convention).
pub type NodeId = usize;

/// Duration of one byte at 250 kbit/s (2 symbols of 16 us).
pub const BYTE_TIME: Duration = Duration::from_micros(32);
/// Preamble (4), SFD (1) and PHY length (1) sent before every PSDU.
pub const PHY_OVERHEAD: usize = 6;
/// The 802.15.4 FCS that ends every PSDU.
pub const FCS_LEN: usize = 2;
/// An Imm-Ack PSDU: frame control (2), sequence number (1), FCS (2).
pub const ACK_PSDU_LEN: usize = 5;
/// aTurnaroundTime: 12 symbols.
pub const TURNAROUND: Duration = Duration::from_micros(192);
/// aUnitBackoffPeriod: 20 symbols.
pub const UNIT_BACKOFF: Duration = Duration::from_micros(320);
/// macMinBE and macMaxBE defaults.
pub const MIN_BE: u32 = 3;
pub const MAX_BE: u32 = 5;

/// Time on air of a PSDU of `psdu_len` bytes (FCS included), PHY header included.
pub fn psdu_airtime(psdu_len: usize) -> Duration {
    BYTE_TIME * (psdu_len + PHY_OVERHEAD) as u32
}

/// Time on air of a MAC frame given without its FCS (as the slip-radio protocol carries it).
pub fn frame_airtime(frame_without_fcs: usize) -> Duration {
    psdu_airtime(frame_without_fcs + FCS_LEN)
}

/// Time on air of an Imm-Ack (11 bytes with the PHY header: 352 us).
pub fn ack_airtime() -> Duration {
    psdu_airtime(ACK_PSDU_LEN)
}

/// Parameters of the channel model.
#[derive(Clone, Debug)]
pub struct AirConfig {
    /// Probability that a frame reception, or an ACK, is lost (each drawn independently).
    pub loss: f64,
    /// Model air time and backoff (true) or deliver immediately (false, for benchmarks).
    pub paced: bool,
    /// How long to wait for an ACK that an external node (a ZEP peer) sends over UDP.
    pub external_ack_wait: Duration,
    /// Frames each node may have queued for the medium (the current one included).
    pub queue_limit: usize,
    /// Who hears whom (both ways), each link with its loss; `None`: everyone hears everyone.
    pub links: Option<Vec<Link>>,
}

/// A radio link between two nodes, heard both ways.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    pub a: NodeId,
    pub b: NodeId,
    /// Probability that a frame (or an ACK) on this link is lost.
    pub loss: f64,
    /// What a receiving radio reports of frames on this link: the LQI, and the RSSI (dBm)
    /// if given. Only the border router's ZEP peer sees them (in each datagram's header
    /// and, with an RSSI, its LQI-mode metadata); a slip-radio reports neither.
    pub lqi: u8,
    pub rssi_dbm: Option<i8>,
}

impl Link {
    /// A link with the quality a radio reports for a clean reception (LQI 255, no RSSI).
    pub fn new(a: NodeId, b: NodeId, loss: f64) -> Self {
        Link {
            a,
            b,
            loss,
            lqi: u8::MAX,
            rssi_dbm: None,
        }
    }
}

impl AirConfig {
    /// The loss between `from` and `to`, `None` when they do not hear each other.
    pub fn link_loss(&self, from: NodeId, to: NodeId) -> Option<f64> {
        match &self.links {
            None => Some(self.loss),
            Some(links) => links
                .iter()
                .find(|l| (l.a == from && l.b == to) || (l.a == to && l.b == from))
                .map(|l| l.loss),
        }
    }
}

impl AirConfig {
    /// The LQI and RSSI reported for a frame from `from` heard by `to`: the link's, or a
    /// clean reception's (LQI 255, no RSSI) without a topology.
    pub fn link_heard(&self, from: NodeId, to: NodeId) -> (u8, Option<i8>) {
        self.links
            .iter()
            .flatten()
            .find(|l| (l.a == from && l.b == to) || (l.a == to && l.b == from))
            .map_or((u8::MAX, None), |l| (l.lqi, l.rssi_dbm))
    }
}

impl Default for AirConfig {
    fn default() -> Self {
        AirConfig {
            loss: 0.0,
            paced: true,
            external_ack_wait: Duration::from_millis(20),
            queue_limit: 64,
            links: None,
        }
    }
}

/// Who a transmission is for, as resolved from the frame's destination address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Every other node hears it; nobody acknowledges.
    Broadcast,
    /// Unicast to one node, which acknowledges it if the frame asks for it.
    Node(NodeId),
    /// Unicast to an address no node has: never acknowledged.
    Nobody,
}

/// A frame a node wants to send.
#[derive(Clone, Debug)]
pub struct TxRequest {
    pub from: NodeId,
    /// MAC frame without FCS.
    pub frame: Vec<u8>,
    pub dst: Destination,
    pub ack_request: bool,
    /// Total transmissions allowed (first one included); 0 is treated as 1.
    pub max_tx: u8,
    /// Opaque to the model, returned in [`AirEvent::TxDone`] (the slip-radio's sid).
    pub token: u64,
}

/// How a transmission ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxOutcome {
    /// Broadcast or unacknowledged unicast sent, or unicast acknowledged.
    Ok,
    /// No ACK after `max_tx` transmissions.
    NoAck,
}

/// What the channel did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AirEvent {
    /// `to` received `frame` (without FCS) from `from`.
    Delivered {
        to: NodeId,
        from: NodeId,
        frame: Vec<u8>,
    },
    /// A queued transmission finished.
    TxDone {
        from: NodeId,
        token: u64,
        outcome: TxOutcome,
        transmissions: u8,
    },
}

/// Why the medium refused a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AirError {
    #[error("transmit queue of node {0} is full")]
    QueueFull(NodeId),
    #[error("no node {0} on this channel")]
    NoSuchNode(NodeId),
}

/// Per-node channel counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeAirCounters {
    /// Frames put on air by this node, retransmissions included.
    pub transmissions: u64,
    /// Retransmissions (transmissions beyond the first of each frame).
    pub retries: u64,
    /// Receptions of this node's frames that the loss model dropped.
    pub frames_lost: u64,
    /// ACKs for this node's frames that the loss model dropped.
    pub acks_lost: u64,
    /// Frames that ended without an ACK.
    pub no_ack: u64,
    /// Frames refused because the node's queue was full.
    pub queue_full: u64,
    /// Frames this node received.
    pub received: u64,
    /// Modelled time this node's frames (and their ACKs) occupied the channel, in us.
    pub airtime_us: u64,
    /// Transmissions of other nodes' unicast frames addressed to this node, retransmissions
    /// included (whether or not they arrived).
    pub addressed: u64,
    /// Of those, retransmissions (beyond the first transmission of each frame).
    pub addressed_retries: u64,
    /// ACKs this node sent for frames it received.
    pub acks_sent: u64,
    /// ACKs for this node's frames that reached it.
    pub acks_received: u64,
    /// Time this node's own radio transmitted: its frames, retransmissions included, and the
    /// ACKs it sent, PHY header included, in us.
    pub tx_us: u64,
    /// Time this node's radio spent receiving what reached it: frames delivered to it
    /// (broadcasts included) and ACKs for its frames, PHY header included, in us.
    pub rx_us: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// CSMA backoff running; the frame goes on air at the deadline.
    Backoff,
    /// The frame is on air; it ends at the deadline.
    OnAir,
    /// Waiting for the ACK slot (or an external ACK) to end at the deadline.
    AwaitAck { acked: bool },
}

#[derive(Debug)]
struct Current {
    req: TxRequest,
    transmissions: u8,
    phase: Phase,
    deadline: Instant,
}

/// The channel.
#[derive(Debug)]
pub struct Air {
    cfg: AirConfig,
    rng: SimRng,
    external: Vec<bool>,
    queue: VecDeque<TxRequest>,
    queued_per_node: Vec<usize>,
    current: Option<Current>,
    /// When the medium became (or becomes) free, the base of the next backoff.
    free_at: Option<Instant>,
    events: VecDeque<AirEvent>,
    counters: Vec<NodeAirCounters>,
}

impl Air {
    /// A channel with `nodes` nodes numbered `0..nodes`.
    pub fn new(cfg: AirConfig, nodes: usize, rng: SimRng) -> Self {
        Air {
            cfg,
            rng,
            external: vec![false; nodes],
            queue: VecDeque::new(),
            queued_per_node: vec![0; nodes],
            current: None,
            free_at: None,
            events: VecDeque::new(),
            counters: vec![NodeAirCounters::default(); nodes],
        }
    }

    /// Mark a node as external: its receptions are reported but its ACKs come from
    /// outside through [`Air::external_ack`] (a ZEP peer).
    pub fn set_external(&mut self, node: NodeId, external: bool) {
        if let Some(e) = self.external.get_mut(node) {
            *e = external;
        }
    }

    pub fn config(&self) -> &AirConfig {
        &self.cfg
    }

    pub fn counters(&self, node: NodeId) -> NodeAirCounters {
        self.counters.get(node).copied().unwrap_or_default()
    }

    /// Frames queued or on air for `node`.
    pub fn pending(&self, node: NodeId) -> usize {
        self.queued_per_node.get(node).copied().unwrap_or(0)
    }

    /// Queue a frame for the medium.
    pub fn enqueue(&mut self, now: Instant, req: TxRequest) -> Result<(), AirError> {
        let from = req.from;
        let Some(queued) = self.queued_per_node.get_mut(from) else {
            return Err(AirError::NoSuchNode(from));
        };
        if *queued >= self.cfg.queue_limit {
            self.counters[from].queue_full += 1;
            return Err(AirError::QueueFull(from));
        }
        *queued += 1;
        self.queue.push_back(req);
        if self.current.is_none() {
            self.start_next(now);
        }
        Ok(())
    }

    /// The next time [`Air::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.as_ref().map(|c| c.deadline)
    }

    /// Advance the channel to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each step moves a phase forward or finishes a frame, so this terminates: a
        // frame has at most 255 transmissions and the queue is finite.
        while let Some(cur) = self.current.as_ref() {
            if cur.deadline > now {
                break;
            }
            self.step();
        }
    }

    /// An ACK with sequence number `seq` arrived from an external node.
    pub fn external_ack(&mut self, now: Instant, seq: u8) {
        let lost = self.rng.chance(self.cfg.loss);
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        let Phase::AwaitAck { acked: false } = cur.phase else {
            return;
        };
        let Destination::Node(to) = cur.req.dst else {
            return;
        };
        if !self.external.get(to).copied().unwrap_or(false) || cur.req.frame.get(2) != Some(&seq) {
            return;
        }
        if lost {
            self.counters[cur.req.from].acks_lost += 1;
            return;
        }
        self.counters[cur.req.from].acks_received += 1;
        self.counters[cur.req.from].rx_us += ack_airtime().as_micros() as u64;
        cur.phase = Phase::AwaitAck { acked: true };
        cur.deadline = cur.deadline.min(now);
    }

    /// The next thing that happened on the channel.
    pub fn poll_event(&mut self) -> Option<AirEvent> {
        self.events.pop_front()
    }

    fn dur(&self, d: Duration) -> Duration {
        if self.cfg.paced { d } else { Duration::ZERO }
    }

    /// Whether a frame from `from` fails to reach `to` (always, when they are not linked).
    fn draw_loss_between(&mut self, from: NodeId, to: NodeId) -> bool {
        match self.cfg.link_loss(from, to) {
            Some(loss) => self.rng.chance(loss),
            None => true,
        }
    }

    fn backoff(&mut self, transmissions_so_far: u8) -> Duration {
        // A retransmission restarts CSMA; we let BE grow with each attempt (3, 4, 5, 5..)
        // as a stand-in for the busy-channel BE increments of a crowded channel.
        let be = (MIN_BE + u32::from(transmissions_so_far)).min(MAX_BE);
        let slots = self.rng.below((1u64 << be) - 1 + 1) as u32;
        self.dur(UNIT_BACKOFF * slots)
    }

    fn start_next(&mut self, now: Instant) {
        let Some(req) = self.queue.pop_front() else {
            self.current = None;
            return;
        };
        let base = self.free_at.map_or(now, |f| f.max(now));
        let backoff = self.backoff(0);
        self.current = Some(Current {
            req,
            transmissions: 0,
            phase: Phase::Backoff,
            deadline: base + backoff,
        });
    }

    fn step(&mut self) {
        let Some(mut cur) = self.current.take() else {
            return;
        };
        let at = cur.deadline;
        match cur.phase {
            Phase::Backoff => {
                cur.transmissions = cur.transmissions.saturating_add(1);
                let from = cur.req.from;
                self.counters[from].transmissions += 1;
                if cur.transmissions > 1 {
                    self.counters[from].retries += 1;
                }
                let air = frame_airtime(cur.req.frame.len());
                self.counters[from].airtime_us += air.as_micros() as u64;
                self.counters[from].tx_us += air.as_micros() as u64;
                if let Destination::Node(to) = cur.req.dst
                    && to != from
                    && let Some(c) = self.counters.get_mut(to)
                {
                    c.addressed += 1;
                    if cur.transmissions > 1 {
                        c.addressed_retries += 1;
                    }
                }
                cur.phase = Phase::OnAir;
                cur.deadline = at + self.dur(air);
                self.current = Some(cur);
            }
            Phase::OnAir => self.frame_ended(cur, at),
            Phase::AwaitAck { acked } => {
                if acked {
                    self.finish(cur, TxOutcome::Ok, at);
                } else if cur.transmissions < cur.req.max_tx.max(1) {
                    let backoff = self.backoff(cur.transmissions);
                    cur.phase = Phase::Backoff;
                    cur.deadline = at + backoff;
                    self.current = Some(cur);
                } else {
                    self.counters[cur.req.from].no_ack += 1;
                    self.finish(cur, TxOutcome::NoAck, at);
                }
            }
        }
    }

    fn frame_ended(&mut self, mut cur: Current, at: Instant) {
        let from = cur.req.from;
        match cur.req.dst {
            Destination::Broadcast => {
                for to in 0..self.external.len() {
                    if to != from {
                        self.deliver(from, to, &cur.req.frame);
                    }
                }
                self.finish(cur, TxOutcome::Ok, at);
            }
            Destination::Node(to) if to != from && to < self.external.len() => {
                let received = self.deliver(from, to, &cur.req.frame);
                if !cur.req.ack_request {
                    self.finish(cur, TxOutcome::Ok, at);
                } else if self.external[to] {
                    // The peer answers (or not) over UDP; `external_ack` ends the wait early.
                    cur.phase = Phase::AwaitAck { acked: false };
                    cur.deadline = at + self.cfg.external_ack_wait;
                    self.current = Some(cur);
                } else {
                    let acked = received && {
                        let lost = self.draw_loss_between(from, to);
                        if lost {
                            self.counters[from].acks_lost += 1;
                        }
                        !lost
                    };
                    let slot = TURNAROUND + ack_airtime();
                    let ack_us = ack_airtime().as_micros() as u64;
                    if received {
                        // The receiver sends its ACK whether or not the loss model drops it.
                        self.counters[to].acks_sent += 1;
                        self.counters[to].tx_us += ack_us;
                    }
                    if acked {
                        self.counters[from].airtime_us += ack_us;
                        self.counters[from].acks_received += 1;
                        self.counters[from].rx_us += ack_us;
                    }
                    cur.phase = Phase::AwaitAck { acked };
                    cur.deadline = at + self.dur(slot);
                    self.current = Some(cur);
                }
            }
            Destination::Node(_) | Destination::Nobody => {
                if cur.req.ack_request {
                    cur.phase = Phase::AwaitAck { acked: false };
                    cur.deadline = at + self.dur(TURNAROUND + ack_airtime());
                    self.current = Some(cur);
                } else {
                    self.finish(cur, TxOutcome::Ok, at);
                }
            }
        }
    }

    /// One reception, subject to loss. Returns whether it arrived.
    fn deliver(&mut self, from: NodeId, to: NodeId, frame: &[u8]) -> bool {
        let Some(loss) = self.cfg.link_loss(from, to) else {
            return false;
        };
        if self.rng.chance(loss) {
            self.counters[from].frames_lost += 1;
            return false;
        }
        self.counters[to].received += 1;
        self.counters[to].rx_us += frame_airtime(frame.len()).as_micros() as u64;
        self.events.push_back(AirEvent::Delivered {
            to,
            from,
            frame: frame.to_vec(),
        });
        true
    }

    fn finish(&mut self, cur: Current, outcome: TxOutcome, at: Instant) {
        let from = cur.req.from;
        if let Some(q) = self.queued_per_node.get_mut(from) {
            *q = q.saturating_sub(1);
        }
        self.events.push_back(AirEvent::TxDone {
            from,
            token: cur.req.token,
            outcome,
            transmissions: cur.transmissions,
        });
        self.free_at = Some(at);
        self.start_next(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(from: NodeId, dst: Destination, ack: bool, max_tx: u8) -> TxRequest {
        TxRequest {
            from,
            frame: vec![0x61, 0xcc, 7, 0, 0],
            dst,
            ack_request: ack,
            max_tx,
            token: 9,
        }
    }

    #[test]
    fn a_topology_limits_who_hears_whom() {
        // 0 - 1 - 2: the radio's broadcast reaches 1 only; 1 reaches both; 0 to 2 is never acked.
        let links = vec![Link::new(0, 1, 0.0), Link::new(1, 2, 0.0)];
        let cfg = AirConfig {
            paced: false,
            links: Some(links),
            ..AirConfig::default()
        };
        let mut air = Air::new(cfg, 3, SimRng::new(3));
        let t0 = Instant::now();
        air.enqueue(t0, req(0, Destination::Broadcast, false, 1))
            .unwrap();
        air.enqueue(t0, req(1, Destination::Broadcast, false, 1))
            .unwrap();
        air.enqueue(t0, req(0, Destination::Node(2), true, 2))
            .unwrap();
        let events = drain(&mut air, t0);
        let heard: Vec<(NodeId, NodeId)> = events
            .iter()
            .filter_map(|e| match e {
                AirEvent::Delivered { to, from, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect();
        assert_eq!(heard, [(0, 1), (1, 0), (1, 2)]);
        assert!(events.iter().any(|e| matches!(
            e,
            AirEvent::TxDone {
                from: 0,
                outcome: TxOutcome::NoAck,
                ..
            }
        )));
        assert_eq!(
            air.counters(0).frames_lost,
            0,
            "an unlinked node is not a loss"
        );
    }

    /// Run the channel to completion, returning the events.
    fn drain(air: &mut Air, mut now: Instant) -> Vec<AirEvent> {
        while let Some(t) = air.poll_timeout() {
            now = now.max(t);
            air.handle_timeout(now);
        }
        std::iter::from_fn(|| air.poll_event()).collect()
    }

    fn done(events: &[AirEvent]) -> Vec<(TxOutcome, u8)> {
        events
            .iter()
            .filter_map(|e| match e {
                AirEvent::TxDone {
                    outcome,
                    transmissions,
                    ..
                } => Some((*outcome, *transmissions)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn airtime_of_a_full_frame() {
        assert_eq!(psdu_airtime(127), Duration::from_micros(133 * 32));
        assert_eq!(psdu_airtime(127), Duration::from_micros(4256));
        assert_eq!(frame_airtime(125), Duration::from_micros(4256));
        assert_eq!(ack_airtime(), Duration::from_micros(352));
    }

    #[test]
    fn lossless_unicast_is_acked_first_time() {
        let mut air = Air::new(AirConfig::default(), 3, SimRng::new(1));
        let t0 = Instant::now();
        air.enqueue(t0, req(0, Destination::Node(2), true, 4))
            .unwrap();
        let ev = drain(&mut air, t0);
        assert!(matches!(&ev[0], AirEvent::Delivered { to: 2, from: 0, .. }));
        assert_eq!(done(&ev), vec![(TxOutcome::Ok, 1)]);
        assert_eq!(air.counters(0).transmissions, 1);
        assert_eq!(air.counters(2).received, 1);
    }

    #[test]
    fn each_side_counts_its_frames_acks_and_radio_time() {
        let mut air = Air::new(AirConfig::default(), 3, SimRng::new(1));
        let t0 = Instant::now();
        air.enqueue(t0, req(0, Destination::Node(2), true, 4))
            .unwrap();
        drain(&mut air, t0);
        let frame = frame_airtime(5).as_micros() as u64;
        let ack = ack_airtime().as_micros() as u64;
        let (sender, receiver) = (air.counters(0), air.counters(2));
        assert_eq!((receiver.addressed, receiver.addressed_retries), (1, 0));
        assert_eq!((receiver.acks_sent, sender.acks_received), (1, 1));
        assert_eq!((sender.tx_us, sender.rx_us), (frame, ack));
        assert_eq!((receiver.tx_us, receiver.rx_us), (ack, frame));
        assert_eq!(air.counters(1), NodeAirCounters::default());
    }

    #[test]
    fn retransmissions_count_at_the_addressee_even_when_lost() {
        let cfg = AirConfig {
            loss: 1.0,
            ..AirConfig::default()
        };
        let mut air = Air::new(cfg, 2, SimRng::new(1));
        let t0 = Instant::now();
        air.enqueue(t0, req(0, Destination::Node(1), true, 5))
            .unwrap();
        drain(&mut air, t0);
        let c = air.counters(1);
        assert_eq!(
            (c.addressed, c.addressed_retries, c.acks_sent, c.rx_us),
            (5, 4, 0, 0)
        );
        assert_eq!(
            air.counters(0).tx_us,
            5 * frame_airtime(5).as_micros() as u64
        );
    }

    #[test]
    fn paced_frame_takes_backoff_plus_airtime_plus_ack() {
        let mut air = Air::new(AirConfig::default(), 2, SimRng::new(3));
        let t0 = Instant::now();
        air.enqueue(t0, req(0, Destination::Node(1), true, 1))
            .unwrap();
        let start = air.poll_timeout().unwrap();
        let backoff = start - t0;
        assert!(backoff <= UNIT_BACKOFF * 7 && backoff.as_micros().is_multiple_of(320));
        air.handle_timeout(start);
        let end = air.poll_timeout().unwrap();
        assert_eq!(end - start, frame_airtime(5));
        air.handle_timeout(end);
        assert_eq!(
            air.poll_timeout().unwrap() - end,
            TURNAROUND + ack_airtime()
        );
    }

    #[test]
    fn unthrottled_needs_no_time() {
        let cfg = AirConfig {
            paced: false,
            ..AirConfig::default()
        };
        let mut air = Air::new(cfg, 2, SimRng::new(3));
        let t0 = Instant::now();
        air.enqueue(t0, req(0, Destination::Node(1), true, 1))
            .unwrap();
        air.handle_timeout(t0);
        assert_eq!(air.poll_timeout(), None);
        assert_eq!(done(&drain(&mut air, t0)), vec![(TxOutcome::Ok, 1)]);
    }

    #[test]
    fn nobody_there_means_no_ack_after_max_tx() {
        let mut air = Air::new(AirConfig::default(), 2, SimRng::new(1));
        let t0 = Instant::now();
        air.enqueue(t0, req(0, Destination::Nobody, true, 4))
            .unwrap();
        let ev = drain(&mut air, t0);
        assert_eq!(done(&ev), vec![(TxOutcome::NoAck, 4)]);
        assert_eq!(air.counters(0).retries, 3);
        assert_eq!(air.counters(0).no_ack, 1);
    }

    #[test]
    fn total_loss_means_no_ack_and_no_delivery() {
        let cfg = AirConfig {
            loss: 1.0,
            ..AirConfig::default()
        };
        let mut air = Air::new(cfg, 2, SimRng::new(1));
        let t0 = Instant::now();
        air.enqueue(t0, req(0, Destination::Node(1), true, 5))
            .unwrap();
        let ev = drain(&mut air, t0);
        assert_eq!(ev.len(), 1);
        assert_eq!(done(&ev), vec![(TxOutcome::NoAck, 5)]);
        assert_eq!(air.counters(0).frames_lost, 5);
    }

    #[test]
    fn broadcast_reaches_everyone_else_without_ack() {
        let mut air = Air::new(AirConfig::default(), 4, SimRng::new(1));
        let t0 = Instant::now();
        air.enqueue(t0, req(2, Destination::Broadcast, true, 4))
            .unwrap();
        let ev = drain(&mut air, t0);
        let mut to: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                AirEvent::Delivered { to, .. } => Some(*to),
                _ => None,
            })
            .collect();
        to.sort();
        assert_eq!(to, vec![0, 1, 3]);
        assert_eq!(done(&ev), vec![(TxOutcome::Ok, 1)]);
    }

    fn lossy_run(seed: u64) -> (Vec<AirEvent>, Vec<NodeAirCounters>) {
        let cfg = AirConfig {
            loss: 0.3,
            ..AirConfig::default()
        };
        let mut air = Air::new(cfg, 3, SimRng::new(seed));
        let t0 = Instant::now();
        for i in 0..40u8 {
            let mut r = req(usize::from(i % 2), Destination::Node(2), true, 4);
            r.frame[2] = i;
            air.enqueue(t0, r).unwrap();
        }
        let ev = drain(&mut air, t0);
        (ev, (0..3).map(|n| air.counters(n)).collect())
    }

    #[test]
    fn loss_with_a_seed_is_reproducible() {
        let (a, ca) = lossy_run(1234);
        let (b, cb) = lossy_run(1234);
        assert_eq!(a, b);
        assert_eq!(ca, cb);
        // A 30% loss on frames and ACKs must cause some retries but most frames get through.
        let retries: u64 = ca.iter().map(|c| c.retries).sum();
        assert!(retries > 0);
        let ok = done(&a).iter().filter(|(o, _)| *o == TxOutcome::Ok).count();
        assert!(ok > 30, "{ok}");
        let (c, _) = lossy_run(99);
        assert_ne!(a, c);
    }

    #[test]
    fn retries_after_lost_ack_deliver_duplicates() {
        // With every reception lost except ... use a seed search to find a lost ACK.
        let cfg = AirConfig {
            loss: 0.5,
            ..AirConfig::default()
        };
        let mut found = false;
        for seed in 0..200 {
            let mut air = Air::new(cfg.clone(), 2, SimRng::new(seed));
            let t0 = Instant::now();
            air.enqueue(t0, req(0, Destination::Node(1), true, 4))
                .unwrap();
            let ev = drain(&mut air, t0);
            let deliveries = ev
                .iter()
                .filter(|e| matches!(e, AirEvent::Delivered { .. }))
                .count();
            if air.counters(0).acks_lost > 0 && deliveries > 1 {
                found = true;
                break;
            }
        }
        assert!(
            found,
            "a lost ACK must lead to a retransmission the receiver sees twice"
        );
    }

    #[test]
    fn queue_limit_is_enforced() {
        let cfg = AirConfig {
            queue_limit: 2,
            ..AirConfig::default()
        };
        let mut air = Air::new(cfg, 2, SimRng::new(1));
        let t0 = Instant::now();
        air.enqueue(t0, req(0, Destination::Broadcast, false, 1))
            .unwrap();
        air.enqueue(t0, req(0, Destination::Broadcast, false, 1))
            .unwrap();
        assert_eq!(
            air.enqueue(t0, req(0, Destination::Broadcast, false, 1)),
            Err(AirError::QueueFull(0))
        );
        assert_eq!(
            air.enqueue(t0, req(1, Destination::Broadcast, false, 1)),
            Ok(())
        );
        assert_eq!(
            air.enqueue(t0, req(7, Destination::Broadcast, false, 1)),
            Err(AirError::NoSuchNode(7))
        );
        drain(&mut air, t0);
        assert_eq!(air.pending(0), 0);
    }

    #[test]
    fn external_node_acks_through_the_caller() {
        let mut air = Air::new(AirConfig::default(), 2, SimRng::new(1));
        air.set_external(0, true);
        let t0 = Instant::now();
        air.enqueue(t0, req(1, Destination::Node(0), true, 3))
            .unwrap();
        let t = air.poll_timeout().unwrap();
        air.handle_timeout(t);
        let t = air.poll_timeout().unwrap();
        air.handle_timeout(t); // frame ended, now waiting for the peer
        assert!(matches!(
            air.poll_event(),
            Some(AirEvent::Delivered { to: 0, .. })
        ));
        air.external_ack(t, 8); // wrong sequence number: ignored
        air.external_ack(t, 7);
        air.handle_timeout(t);
        assert_eq!(
            air.poll_event(),
            Some(AirEvent::TxDone {
                from: 1,
                token: 9,
                outcome: TxOutcome::Ok,
                transmissions: 1
            })
        );
    }
}
