//! The radio queue: whole datagrams waiting for the radio, between the core and the radio
//! driver. The radio is a thousand times slower than the TUN, so under overload this is
//! where the border router decides what is lost, and it decides by datagram: a datagram
//! whose fragments cannot all be sent is worth nothing to the mote, and every one of its
//! frames costs airtime that other datagrams needed.
//!
//! - A datagram is queued whole or not at all, and handed to the driver whole
//!   ([`RadioQueue::pop_fitting`] only returns one whose frames all fit the room the driver
//!   has), so no fragment starts out that cannot be followed by the others.
//! - When the queue is full, whole datagrams are dropped: bulk data of the mote with the
//!   most frames queued, oldest first; then, only for a control datagram, the oldest
//!   control datagram; else the newcomer itself.
//! - Control traffic (ICMPv6 other than echo: ND, RPL, errors; DTLS handshake,
//!   ChangeCipherSpec and plaintext alert records) goes before bulk data; bulk data is
//!   served round-robin across destinations, so one busy mote cannot starve the others.
//! - [`RadioQueue::is_full`] tells the daemon to stop reading the TUN, so that bursts wait
//!   in the kernel's queue instead of being dropped here.
//!
//! A limit: control goes first only once it is read. The kernel's queue of a TUN is one
//! FIFO ring of `txqueuelen` packets (500 by default) that drops at its tail when full;
//! the driver does not push back on the qdisc in front of it, so no qdisc reorders what
//! waits there. While the daemon is not reading, a handshake packet waits behind the bulk
//! already in the ring, up to a ring's worth (seconds at 250 kbit/s); DTLS retransmits
//! meanwhile. A shorter ring (`ip link set <tun> txqueuelen 32`) shortens that wait at the
//! cost of absorbing smaller bursts.
//!
//! Sans-IO and bounded: it holds at most `capacity` frames and never panics.

use std::collections::VecDeque;

use lowpan::ieee802154::{self as mac, Address};
use lowpan::{CheckedIpv6Packet, NextHeader, Transport, UpperLayer};

/// Whether a datagram goes before bulk data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxClass {
    /// ND, RPL and other ICMPv6 control messages; DTLS handshakes.
    Control,
    /// Everything else (application data, pings).
    Bulk,
}

impl TxClass {
    /// The class of an IPv6 packet about to be framed for the radio.
    pub fn of<T: AsRef<[u8]>>(ip: &CheckedIpv6Packet<T>) -> TxClass {
        const ECHO_REQUEST: u8 = 128;
        const ECHO_REPLY: u8 = 129;
        match ip.upper_layer() {
            UpperLayer::Protocol(NextHeader::Icmpv6, body) => match body.first() {
                Some(&(ECHO_REQUEST | ECHO_REPLY)) => TxClass::Bulk,
                _ => TxClass::Control,
            },
            UpperLayer::Protocol(NextHeader::Udp, _) => match ip.transport() {
                Transport::Udp(udp) if is_dtls_handshake(udp.payload()) => TxClass::Control,
                _ => TxClass::Bulk,
            },
            _ => TxClass::Bulk,
        }
    }
}

/// A datagram whose first record is a DTLS handshake, ChangeCipherSpec or plaintext alert
/// (epoch 0), with a DTLS version: what a handshake is made of.
fn is_dtls_handshake(payload: &[u8]) -> bool {
    const CHANGE_CIPHER_SPEC: u8 = 20;
    const ALERT: u8 = 21;
    const HANDSHAKE: u8 = 22;
    matches!(
        payload,
        [HANDSHAKE | CHANGE_CIPHER_SPEC, 0xfe, _, ..] | [ALERT, 0xfe, _, 0, 0, ..]
    )
}

/// The frames of one IPv6 packet (one frame, or its fragments in order), for the radio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadioDatagram {
    pub class: TxClass,
    /// 802.15.4 frames without FCS.
    pub frames: Vec<Vec<u8>>,
}

impl RadioDatagram {
    /// The link destination of its frames (the fairness key); `Absent` when the first frame
    /// does not parse.
    fn destination(&self) -> Address {
        self.frames
            .first()
            .and_then(|f| mac::parse_frame(f).ok())
            .map_or(Address::Absent, |(repr, _)| repr.dst_addr)
    }
}

/// What the queue counts (the daemon adds them to the drop counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RadioQueueCounters {
    /// Datagrams queued, and dropped whole (refused or evicted).
    pub datagrams_queued: u64,
    pub datagrams_dropped: u64,
    /// The frames of the dropped datagrams: airtime saved for datagrams that complete.
    pub frames_dropped: u64,
    /// Datagrams handed to the driver.
    pub datagrams_sent: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct RadioQueue {
    capacity: usize,
    max_datagram_frames: usize,
    frames: usize,
    control: VecDeque<RadioDatagram>,
    /// Bulk datagrams per link destination, served round-robin from `next`.
    bulk: Vec<(Address, VecDeque<RadioDatagram>)>,
    next: usize,
    counters: RadioQueueCounters,
}

impl RadioQueue {
    /// A queue of at most `capacity` frames, for a driver that can take at most
    /// `max_datagram_frames` frames at once (a longer datagram could never be handed over).
    pub fn new(capacity: usize, max_datagram_frames: usize) -> Self {
        RadioQueue {
            capacity: capacity.max(1),
            max_datagram_frames: max_datagram_frames.max(1),
            frames: 0,
            control: VecDeque::new(),
            bulk: Vec::new(),
            next: 0,
            counters: RadioQueueCounters::default(),
        }
    }

    pub fn counters(&self) -> &RadioQueueCounters {
        &self.counters
    }

    /// Frames queued.
    pub fn len_frames(&self) -> usize {
        self.frames
    }

    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// No room for another datagram of the largest size: stop reading the TUN. Control
    /// datagrams made meanwhile (answers to the radio, an IoTSSP's) still evict bulk data.
    pub fn is_full(&self) -> bool {
        self.frames + self.max_datagram_frames > self.capacity
    }

    /// Queues `d` whole, dropping whole datagrams to make room (module documentation).
    /// Returns false when `d` itself was dropped.
    pub fn push(&mut self, d: RadioDatagram) -> bool {
        let n = d.frames.len();
        if n == 0 {
            return true;
        }
        if n > self.capacity.min(self.max_datagram_frames) {
            self.count_drop(n);
            return false;
        }
        while self.frames + n > self.capacity {
            let made_room =
                self.evict_bulk() || (d.class == TxClass::Control && self.evict_control());
            if !made_room {
                self.count_drop(n);
                return false;
            }
        }
        self.frames += n;
        self.counters.datagrams_queued += 1;
        match d.class {
            TxClass::Control => self.control.push_back(d),
            TxClass::Bulk => {
                let dst = d.destination();
                match self.bulk.iter_mut().find(|(a, _)| *a == dst) {
                    Some((_, q)) => q.push_back(d),
                    None => self.bulk.push((dst, VecDeque::from([d]))),
                }
            }
        }
        true
    }

    /// Drops the oldest bulk datagram of the destination with the most frames queued.
    fn evict_bulk(&mut self) -> bool {
        let frames = |q: &VecDeque<RadioDatagram>| q.iter().map(|d| d.frames.len()).sum::<usize>();
        let Some(i) = (0..self.bulk.len()).max_by_key(|&i| frames(&self.bulk[i].1)) else {
            return false;
        };
        let Some(victim) = self.bulk[i].1.pop_front() else {
            return false;
        };
        self.frames -= victim.frames.len();
        self.count_drop(victim.frames.len());
        self.forget_empty(i);
        true
    }

    fn evict_control(&mut self) -> bool {
        let Some(victim) = self.control.pop_front() else {
            return false;
        };
        self.frames -= victim.frames.len();
        self.count_drop(victim.frames.len());
        true
    }

    fn count_drop(&mut self, frames: usize) {
        self.counters.datagrams_dropped += 1;
        self.counters.frames_dropped += frames as u64;
    }

    /// Removes destination `i` when it has nothing queued, keeping the round-robin order.
    fn forget_empty(&mut self, i: usize) {
        if self.bulk[i].1.is_empty() {
            self.bulk.remove(i);
            if self.next > i {
                self.next -= 1;
            }
            if self.next >= self.bulk.len() {
                self.next = 0;
            }
        }
    }

    /// The number of frames of the datagram [`RadioQueue::pop_fitting`] returns next.
    pub fn next_len(&self) -> Option<usize> {
        match self.control.front() {
            Some(d) => Some(d.frames.len()),
            None => self
                .bulk
                .get(self.next)
                .and_then(|(_, q)| q.front())
                .map(|d| d.frames.len()),
        }
    }

    /// The next datagram if all its frames fit in `room` (what the driver can take now);
    /// control first, then bulk round-robin across destinations.
    pub fn pop_fitting(&mut self, room: usize) -> Option<RadioDatagram> {
        if self.next_len()? > room {
            return None;
        }
        let d = match self.control.pop_front() {
            Some(d) => d,
            None => {
                let i = self.next;
                let d = self.bulk[i].1.pop_front()?;
                self.next = i + 1;
                if self.bulk[i].1.is_empty() {
                    self.forget_empty(i);
                } else if self.next >= self.bulk.len() {
                    self.next = 0;
                }
                d
            }
        };
        self.frames -= d.frames.len();
        self.counters.datagrams_sent += 1;
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowpan::Eui64;
    use lowpan::ieee802154::FrameRepr;

    const PAN: u16 = 0xabcd;

    fn frame(dst: u8, tag: u8) -> Vec<u8> {
        let src = Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, 1]));
        let dst = Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, dst]));
        mac::build_data_frame(&FrameRepr::data(PAN, src, dst, tag, true), &[tag; 20])
    }

    fn datagram(class: TxClass, dst: u8, tag: u8, frames: usize) -> RadioDatagram {
        RadioDatagram {
            class,
            frames: (0..frames).map(|_| frame(dst, tag)).collect(),
        }
    }

    fn bulk(dst: u8, tag: u8, frames: usize) -> RadioDatagram {
        datagram(TxClass::Bulk, dst, tag, frames)
    }

    /// The tags of what comes out, handing over with unlimited room.
    fn drain(q: &mut RadioQueue) -> Vec<u8> {
        std::iter::from_fn(|| q.pop_fitting(usize::MAX))
            .map(|d| d.frames[0][2])
            .collect()
    }

    #[test]
    fn datagrams_are_queued_and_handed_over_whole() {
        let mut q = RadioQueue::new(10, 8);
        assert!(q.push(bulk(1, 1, 4)));
        assert!(q.push(bulk(1, 2, 3)));
        assert_eq!(q.len_frames(), 7);
        assert_eq!(q.next_len(), Some(4));
        assert_eq!(
            q.pop_fitting(3),
            None,
            "4 frames never start in a room of 3"
        );
        let d = q.pop_fitting(4).unwrap();
        assert_eq!(d.frames.len(), 4);
        assert_eq!(drain(&mut q), [2]);
        assert!(q.is_empty());
        assert_eq!(q.counters().datagrams_sent, 2);
    }

    #[test]
    fn a_full_queue_drops_whole_datagrams_of_the_busiest_mote_oldest_first() {
        let mut q = RadioQueue::new(12, 6);
        assert!(q.push(bulk(1, 1, 5)));
        assert!(q.push(bulk(1, 2, 5)));
        assert!(q.push(bulk(2, 3, 2)));
        assert!(q.is_full());
        // Mote 2's next datagram evicts mote 1's oldest, not a fragment of anything.
        assert!(q.push(bulk(2, 4, 2)));
        assert_eq!(q.len_frames(), 9);
        assert_eq!(q.counters().datagrams_dropped, 1);
        assert_eq!(q.counters().frames_dropped, 5);
        assert_eq!(drain(&mut q), [2, 3, 4]);
        // Too long for the driver, or for the queue: refused whole.
        assert!(!q.push(bulk(1, 5, 7)));
        assert_eq!(q.counters().datagrams_dropped, 2);
        assert!(q.is_empty());
    }

    #[test]
    fn a_bulk_datagram_never_evicts_control_and_control_goes_first() {
        let mut q = RadioQueue::new(8, 4);
        assert!(q.push(bulk(1, 1, 2)));
        assert!(q.push(datagram(TxClass::Control, 1, 2, 4)));
        assert!(q.push(datagram(TxClass::Control, 2, 3, 2)));
        // Full of control: bulk is refused, and the queued bulk datagram made room first.
        assert!(!q.push(bulk(2, 4, 4)));
        assert_eq!(q.counters().datagrams_dropped, 2);
        // A control datagram evicts the oldest control one when nothing else is left.
        assert!(q.push(datagram(TxClass::Control, 3, 5, 3)));
        assert_eq!(drain(&mut q), [3, 5]);
        let mut q = RadioQueue::new(20, 4);
        q.push(bulk(1, 1, 1));
        q.push(bulk(2, 2, 1));
        q.push(datagram(TxClass::Control, 3, 3, 1));
        assert_eq!(drain(&mut q), [3, 1, 2]);
    }

    /// One mote with a long backlog, two with a datagram each: they are served in turn.
    #[test]
    fn bulk_is_served_round_robin_across_motes() {
        let mut q = RadioQueue::new(100, 4);
        for tag in 10..20 {
            q.push(bulk(1, tag, 2));
        }
        q.push(bulk(2, 30, 2));
        q.push(bulk(3, 40, 2));
        q.push(bulk(2, 31, 2));
        assert_eq!(
            drain(&mut q),
            [10, 30, 40, 11, 31, 12, 13, 14, 15, 16, 17, 18, 19]
        );
        // Room freed by eviction keeps the rotation valid.
        let mut q = RadioQueue::new(6, 2);
        q.push(bulk(1, 1, 2));
        q.push(bulk(2, 2, 2));
        q.push(bulk(3, 3, 2));
        assert_eq!(q.pop_fitting(2).unwrap().frames[0][2], 1);
        q.push(bulk(3, 4, 2));
        q.push(bulk(3, 5, 2));
        assert_eq!(drain(&mut q), [2, 4, 5]);
        assert_eq!(q.counters().datagrams_dropped, 1);
    }

    #[test]
    fn packets_are_classed_by_what_they_carry() {
        let a: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
        let udp = |payload: &[u8]| {
            lowpan::UdpRepr {
                src_port: 1,
                dst_port: 5684,
                payload,
            }
            .emit_ipv6_packet(a, a, 64)
            .unwrap()
        };
        let class = |p: &[u8]| TxClass::of(&CheckedIpv6Packet::parse(p).unwrap());
        assert_eq!(class(&udp(&[22, 0xfe, 0xfd, 0, 0])), TxClass::Control);
        assert_eq!(class(&udp(&[20, 0xfe, 0xfd, 0, 0])), TxClass::Control);
        assert_eq!(class(&udp(&[21, 0xfe, 0xfd, 0, 0, 0])), TxClass::Control);
        assert_eq!(
            class(&udp(&[21, 0xfe, 0xfd, 0, 1, 0])),
            TxClass::Bulk,
            "an encrypted alert is session data"
        );
        assert_eq!(class(&udp(&[23, 0xfe, 0xfd, 0, 1])), TxClass::Bulk);
        assert_eq!(class(&udp(b"coap")), TxClass::Bulk);
        let icmp = |t: u8| {
            lowpan::Ipv6Repr::new(a, a, NextHeader::Icmpv6, 255, 0)
                .emit_packet(4, |b| b.copy_from_slice(&[t, 0, 0, 0]))
                .unwrap()
        };
        assert_eq!(class(&icmp(133)), TxClass::Control, "ND");
        assert_eq!(class(&icmp(155)), TxClass::Control, "RPL");
        assert_eq!(class(&icmp(128)), TxClass::Bulk, "a ping");
        assert_eq!(class(&icmp(129)), TxClass::Bulk);
    }
}
