//! The motes' side of a ZEP network: every mote is a ZEP node talking to one peer (the
//! border router acting as its own radio). Frames carry their FCS; a mote acknowledges
//! unicast frames for it that ask for it with an Imm-Ack one turnaround time (192 us)
//! later, as a radio does; its own unicast frames are retried by the channel model until
//! the peer's ACK arrives or `max_tx` is spent.
//!
//! This module only wraps and unwraps datagrams and draws loss for the peer's frames;
//! [`crate::sim::Simulation`] decides who receives what.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use lowpan::ieee802154::{self, FrameType};
use slip::zep::{TURNAROUND_2450MHZ, decode_datagram, encode_datagram_heard};

use crate::rng::SimRng;

/// Why a ZEP datagram or frame was dropped. [`ZepDrop::as_str`] names are stable (stats file and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZepDrop {
    /// A datagram that does not encode or decode.
    Wire(slip::zep::Error),
    /// A datagram for another channel.
    ZepOtherChannel,
    /// A datagram whose 802.15.4 frame does not parse.
    ZepBadFrame,
    /// A frame not sent: the queue to the peer was full.
    ZepOutQueueFull,
    /// An ACK lost by the loss model.
    AckLost,
    /// An ACK not sent: the queue to the peer was full.
    ZepAckQueueFull,
}

impl ZepDrop {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ZepDrop::Wire(e) => e.as_str(),
            ZepDrop::ZepOtherChannel => "zep_other_channel",
            ZepDrop::ZepBadFrame => "zep_bad_frame",
            ZepDrop::ZepOutQueueFull => "zep_out_queue_full",
            ZepDrop::AckLost => "ack_lost",
            ZepDrop::ZepAckQueueFull => "zep_ack_queue_full",
        }
    }
}

/// What a datagram from the peer carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// An Imm-Ack (802.15.4 frame type 2) for the frame with this sequence number.
    Ack { seq: u8 },
    /// A MAC frame without FCS.
    Frame(Vec<u8>),
}

/// Most datagrams waiting for the driver; beyond this the newest are dropped (counted).
const MAX_QUEUED: usize = 4096;

/// ZEP wrapping for the motes.
#[derive(Debug)]
pub struct ZepSide {
    channel: u8,
    loss: f64,
    rng: SimRng,
    sequence: u32,
    out: VecDeque<Vec<u8>>,
    /// Imm-Acks waiting for their turnaround: (due, mote, sequence number).
    acks: VecDeque<(Instant, usize, u8)>,
    frames_sent: u64,
    drops: BTreeMap<&'static str, u64>,
}

impl ZepSide {
    pub fn new(channel: u8, loss: f64, rng: SimRng) -> Self {
        ZepSide {
            channel,
            loss,
            rng,
            sequence: 0,
            out: VecDeque::new(),
            acks: VecDeque::new(),
            frames_sent: 0,
            drops: BTreeMap::new(),
        }
    }

    pub fn channel(&self) -> u8 {
        self.channel
    }

    pub fn drops(&self) -> &BTreeMap<&'static str, u64> {
        &self.drops
    }

    /// Frames (ACKs included) sent to the peer.
    pub fn frames_sent(&self) -> u64 {
        self.frames_sent
    }

    fn drop(&mut self, reason: ZepDrop) {
        *self.drops.entry(reason.as_str()).or_default() += 1;
    }

    /// Unwrap a datagram from the peer: checks version, type, channel and FCS.
    pub fn receive(&mut self, datagram: &[u8]) -> Option<Received> {
        let zf = match decode_datagram(datagram) {
            Ok(f) => f,
            Err(e) => {
                self.drop(ZepDrop::Wire(e));
                return None;
            }
        };
        if zf.header.channel != self.channel {
            self.drop(ZepDrop::ZepOtherChannel);
            return None;
        }
        match ieee802154::Frame::new_checked(zf.frame) {
            Ok(f) if f.frame_type() == FrameType::Ack => Some(Received::Ack {
                seq: f.sequence_number(),
            }),
            Ok(_) => Some(Received::Frame(zf.frame.to_vec())),
            // Imm-Acks are 3 bytes; anything else malformed is counted and dropped.
            Err(_) if zf.frame.len() == 3 && zf.frame[0] & 0x07 == 2 => {
                Some(Received::Ack { seq: zf.frame[2] })
            }
            Err(_) => {
                self.drop(ZepDrop::ZepBadFrame);
                None
            }
        }
    }

    /// Whether one reception of a peer frame by one mote survives the loss model.
    pub fn reception_survives(&mut self) -> bool {
        !self.rng.chance(self.loss)
    }

    /// Send `frame` (no FCS) from mote `node` to the peer, heard as a clean reception.
    pub fn send_frame(&mut self, frame: &[u8], node: usize) {
        self.send_frame_heard(frame, node, u8::MAX, None);
    }

    /// Send `frame` (no FCS) from mote `node` to the peer, heard with `lqi` and, if given,
    /// `rssi_dbm` (then in LQI mode, as a CC24xx sniffer reports it).
    pub fn send_frame_heard(&mut self, frame: &[u8], node: usize, lqi: u8, rssi_dbm: Option<i8>) {
        if self.out.len() >= MAX_QUEUED {
            self.drop(ZepDrop::ZepOutQueueFull);
            return;
        }
        self.sequence = self.sequence.wrapping_add(1);
        match encode_datagram_heard(
            self.channel,
            node as u16,
            self.sequence,
            frame,
            lqi,
            rssi_dbm,
        ) {
            Ok(d) => {
                self.frames_sent += 1;
                self.out.push_back(d);
            }
            Err(e) => self.drop(ZepDrop::Wire(e)),
        }
    }

    /// Mote `node` acknowledges `frame`, received at `now`, one turnaround time later
    /// (subject to ACK loss).
    pub fn send_ack(&mut self, now: Instant, frame: &[u8], node: usize) {
        let Some(&seq) = frame.get(2) else { return };
        if self.rng.chance(self.loss) {
            self.drop(ZepDrop::AckLost);
            return;
        }
        if self.acks.len() >= MAX_QUEUED {
            self.drop(ZepDrop::ZepAckQueueFull);
            return;
        }
        // `now` never goes back, so the queue stays in order of due time.
        self.acks.push_back((now + TURNAROUND_2450MHZ, node, seq));
    }

    /// When the next Imm-Ack is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.acks.front().map(|(due, _, _)| *due)
    }

    /// Send the Imm-Acks due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(due, node, seq)) = self.acks.front() {
            if due > now {
                break;
            }
            self.acks.pop_front();
            self.send_frame(&ieee802154::imm_ack(seq, false), node);
        }
    }

    pub fn poll_datagram(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_acks() {
        let mut z = ZepSide::new(26, 0.0, SimRng::new(1));
        let frame = [
            0x41, 0xd8, 0x07, 0xcd, 0xab, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0x41, 0x60,
        ];
        z.send_frame(&frame, 3);
        let d = z.poll_datagram().unwrap();
        assert_eq!(d.len(), 32 + frame.len() + 2);
        assert_eq!(z.receive(&d), Some(Received::Frame(frame.to_vec())));
        let t = Instant::now();
        z.send_ack(t, &frame, 3);
        assert_eq!(z.poll_datagram(), None, "not before the turnaround");
        assert_eq!(z.poll_timeout(), Some(t + TURNAROUND_2450MHZ));
        z.handle_timeout(t + TURNAROUND_2450MHZ);
        let a = z.poll_datagram().unwrap();
        assert_eq!(z.receive(&a), Some(Received::Ack { seq: 7 }));
        let mut bad = d.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(z.receive(&bad), None);
        let mut other = ZepSide::new(11, 0.0, SimRng::new(1));
        assert_eq!(other.receive(&d), None);
        assert_eq!(other.drops().get("zep_other_channel"), Some(&1));
    }

    #[test]
    fn garbage_never_panics() {
        let mut z = ZepSide::new(26, 0.0, SimRng::new(1));
        let mut rng = SimRng::new(9);
        for _ in 0..3000 {
            let len = rng.below(200) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if d.len() > 3 {
                d[0] = b'E';
                d[1] = b'X';
                d[2] = 2;
            }
            let _ = z.receive(&d);
        }
    }
}
