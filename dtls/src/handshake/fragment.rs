//! Splitting outgoing handshake messages into fragments and putting incoming fragments back
//! together, with hard bounds on what a peer can make us buffer.

use std::collections::BTreeMap;

use super::msgs::{HandshakeFragment, HandshakeHeader, HandshakeType, MAX_MESSAGE_LEN};
use crate::codec::Codec;
use crate::error::InvalidMessage;

/// Encodes `body` as one or more fragments of at most `max_fragment_body` bytes each,
/// each with its 12-byte header. A zero-length body yields one empty fragment.
pub fn fragment_message(
    msg_type: HandshakeType,
    message_seq: u16,
    body: &[u8],
    max_fragment_body: usize,
) -> Vec<Vec<u8>> {
    let step = max_fragment_body.max(1);
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let len = (body.len() - offset).min(step);
        let header = HandshakeHeader {
            msg_type,
            length: body.len() as u32,
            message_seq,
            fragment_offset: offset as u32,
            fragment_length: len as u32,
        };
        let mut f = Vec::with_capacity(HandshakeHeader::LEN + len);
        header.encode(&mut f);
        f.extend_from_slice(&body[offset..offset + len]);
        out.push(f);
        offset += len;
        if offset >= body.len() {
            return out;
        }
    }
}

/// The encoding of a whole message as the transcript hash sees it (RFC 6347 section 4.2.6:
/// as if sent in one fragment).
pub fn transcript_encoding(msg_type: HandshakeType, message_seq: u16, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HandshakeHeader::LEN + body.len());
    HandshakeHeader {
        msg_type,
        length: body.len() as u32,
        message_seq,
        fragment_offset: 0,
        fragment_length: body.len() as u32,
    }
    .encode(&mut v);
    v.extend_from_slice(body);
    v
}

/// A complete, reassembled handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub msg_type: HandshakeType,
    pub message_seq: u16,
    pub body: Vec<u8>,
}

/// What became of one fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Stored (or completed a message now available from `next_message`).
    Accepted,
    /// Belongs to a message already delivered: the peer is retransmitting.
    Old,
    /// Too far ahead of what we expect; dropped.
    TooFarAhead,
}

/// Limits on reassembly state (per connection).
#[derive(Debug, Clone, Copy)]
pub struct ReassemblyLimits {
    /// Messages beyond the next expected one that may be buffered.
    pub max_ahead: u16,
    /// Total bytes of partial or waiting messages.
    pub max_buffered_bytes: usize,
    /// Largest single message.
    pub max_message_len: usize,
    /// Disjoint received ranges per message (bounds the bookkeeping of odd fragmentations).
    pub max_ranges: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_ahead: 8,
            max_buffered_bytes: 48 * 1024,
            max_message_len: MAX_MESSAGE_LEN,
            max_ranges: 32,
        }
    }
}

#[derive(Debug)]
struct Partial {
    msg_type: HandshakeType,
    body: Vec<u8>,
    /// Sorted, disjoint, non-adjacent [start, end) ranges received.
    ranges: Vec<(u32, u32)>,
}

impl Partial {
    fn complete(&self) -> bool {
        self.body.is_empty()
            || (self.ranges.len() == 1 && self.ranges[0] == (0, self.body.len() as u32))
    }

    fn insert(&mut self, start: u32, end: u32, max_ranges: usize) -> Result<(), InvalidMessage> {
        if start == end {
            return Ok(());
        }
        let mut merged = (start, end);
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for &(s, e) in &self.ranges {
            if e < merged.0 || s > merged.1 {
                out.push((s, e));
            } else {
                merged = (merged.0.min(s), merged.1.max(e));
            }
        }
        out.push(merged);
        out.sort_unstable();
        if out.len() > max_ranges {
            return Err(InvalidMessage::TooManyBuffered);
        }
        self.ranges = out;
        Ok(())
    }
}

/// Reassembles incoming handshake messages in message_seq order.
#[derive(Debug)]
pub struct Reassembler {
    next_seq: u16,
    partial: BTreeMap<u16, Partial>,
    buffered: usize,
    limits: ReassemblyLimits,
}

impl Reassembler {
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            next_seq: 0,
            partial: BTreeMap::new(),
            buffered: 0,
            limits,
        }
    }

    /// The message_seq we deliver next.
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Skip ahead (a stateless server continues from the cookie'd ClientHello).
    pub fn set_next_seq(&mut self, seq: u16) {
        self.next_seq = seq;
        self.partial.retain(|&s, _| s >= seq);
        self.buffered = self.partial.values().map(|p| p.body.len()).sum();
    }

    pub fn accept(&mut self, frag: &HandshakeFragment<'_>) -> Result<Disposition, InvalidMessage> {
        let h = &frag.header;
        if h.message_seq < self.next_seq {
            return Ok(Disposition::Old);
        }
        if h.message_seq - self.next_seq > self.limits.max_ahead {
            return Ok(Disposition::TooFarAhead);
        }
        let length = h.length as usize;
        if length > self.limits.max_message_len {
            return Err(InvalidMessage::MessageTooLarge);
        }
        // HandshakeFragment::read already checked offset + length <= message length.
        let start = h.fragment_offset;
        let end = h.fragment_offset + h.fragment_length;
        if !self.partial.contains_key(&h.message_seq) {
            if self.buffered + length > self.limits.max_buffered_bytes {
                return Err(InvalidMessage::TooManyBuffered);
            }
            self.buffered += length;
            self.partial.insert(
                h.message_seq,
                Partial {
                    msg_type: h.msg_type,
                    body: vec![0; length],
                    ranges: Vec::new(),
                },
            );
        }
        let p = self
            .partial
            .get_mut(&h.message_seq)
            .ok_or(InvalidMessage::BadFragment)?;
        if p.msg_type != h.msg_type || p.body.len() != length {
            return Err(InvalidMessage::InconsistentFragment);
        }
        p.body[start as usize..end as usize].copy_from_slice(frag.body);
        p.insert(start, end, self.limits.max_ranges)?;
        Ok(Disposition::Accepted)
    }

    /// The next message in order, once all of it has arrived.
    pub fn next_message(&mut self) -> Option<Message> {
        let done = self
            .partial
            .get(&self.next_seq)
            .is_some_and(Partial::complete);
        if !done {
            return None;
        }
        let p = self.partial.remove(&self.next_seq)?;
        self.buffered -= p.body.len();
        let m = Message {
            msg_type: p.msg_type,
            message_seq: self.next_seq,
            body: p.body,
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        Some(m)
    }

    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Reader;
    use proptest::prelude::*;

    fn feed(r: &mut Reassembler, bytes: &[u8]) -> Result<Disposition, InvalidMessage> {
        let f = HandshakeFragment::read(&mut Reader::new(bytes))?;
        r.accept(&f)
    }

    #[test]
    fn fragments_in_any_order_reassemble() {
        let body: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut frags = fragment_message(HandshakeType::Certificate, 2, &body, 90);
        assert_eq!(frags.len(), 12);
        frags.reverse();
        let dup = frags[3].clone();
        frags.push(dup);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        r.set_next_seq(2);
        for f in &frags {
            assert_eq!(feed(&mut r, f).unwrap(), Disposition::Accepted);
        }
        let m = r.next_message().unwrap();
        assert_eq!(
            (m.msg_type, m.message_seq, m.body),
            (HandshakeType::Certificate, 2, body)
        );
        assert_eq!(feed(&mut r, &frags[0]).unwrap(), Disposition::Old);
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn empty_message() {
        let f = fragment_message(HandshakeType::ServerHelloDone, 0, &[], 100);
        assert_eq!(f.len(), 1);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        feed(&mut r, &f[0]).unwrap();
        assert_eq!(r.next_message().unwrap().body, Vec::<u8>::new());
    }

    #[test]
    fn bounds_are_enforced() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let big = fragment_message(
            HandshakeType::Certificate,
            0,
            &vec![0; MAX_MESSAGE_LEN + 1],
            100,
        );
        assert_eq!(feed(&mut r, &big[0]), Err(InvalidMessage::MessageTooLarge));
        let far = fragment_message(HandshakeType::Finished, 100, &[0; 12], 100);
        assert_eq!(feed(&mut r, &far[0]).unwrap(), Disposition::TooFarAhead);
        // Several large partial messages exhaust the byte budget.
        let mut err = None;
        for seq in 0..8 {
            let f = fragment_message(HandshakeType::Certificate, seq, &vec![0; 16000], 10);
            if let Err(e) = feed(&mut r, &f[0]) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(InvalidMessage::TooManyBuffered));
        // Many disjoint fragments exhaust the range budget.
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let f = fragment_message(HandshakeType::Certificate, 0, &vec![0; 2000], 10);
        let mut err = None;
        for frag in f.iter().step_by(2) {
            if let Err(e) = feed(&mut r, frag) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(InvalidMessage::TooManyBuffered));
    }

    #[test]
    fn inconsistent_fragment_refused() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let a = fragment_message(HandshakeType::Certificate, 0, &[1; 100], 50);
        let b = fragment_message(HandshakeType::ClientKeyExchange, 0, &[1; 100], 50);
        feed(&mut r, &a[0]).unwrap();
        assert_eq!(
            feed(&mut r, &b[1]),
            Err(InvalidMessage::InconsistentFragment)
        );
    }

    proptest! {
        #[test]
        fn random_fragment_streams_never_panic(frags in proptest::collection::vec(
            (0u16..12, 0u32..3000, 0u32..3000, proptest::collection::vec(any::<u8>(), 0..200)), 0..60)) {
            let mut r = Reassembler::new(ReassemblyLimits::default());
            for (seq, len, off, body) in frags {
                let h = HandshakeHeader { msg_type: HandshakeType::Certificate, length: len, message_seq: seq,
                    fragment_offset: off, fragment_length: body.len() as u32 };
                let mut b = h.get_encoding();
                b.extend_from_slice(&body);
                let _ = feed(&mut r, &b);
                while r.next_message().is_some() {}
                prop_assert!(r.buffered_bytes() <= ReassemblyLimits::default().max_buffered_bytes);
            }
        }

        #[test]
        fn any_fragmentation_round_trips(body in proptest::collection::vec(any::<u8>(), 0..3000), step in 1usize..500) {
            let mut frags = fragment_message(HandshakeType::Certificate, 0, &body, step);
            let half = frags.len() / 2;
            frags.rotate_left(half);
            let mut r = Reassembler::new(ReassemblyLimits { max_ranges: 4096, ..Default::default() });
            for f in &frags { feed(&mut r, f).unwrap(); }
            prop_assert_eq!(r.next_message().unwrap().body, body);
        }
    }
}
