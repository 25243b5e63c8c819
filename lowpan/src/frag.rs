//! RFC 4944 fragmentation: FRAG1/FRAGN header views, splitting a compressed datagram into
//! fragments, and the bounded reassembly table.
//!
//! Offsets and sizes always count bytes of the *uncompressed* datagram: the FRAG1 carries the
//! compressed header, which stands for `uncompressed_header_len` bytes, and every later
//! offset counts from the start of the uncompressed IPv6 header.

use crate::ieee802154::Address;
use core::fmt;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub const FRAG1_DISPATCH: u8 = 0b1100_0000;
pub const FRAGN_DISPATCH: u8 = 0b1110_0000;
/// The five dispatch bits that identify FRAG1/FRAGN.
pub const DISPATCH_MASK: u8 = 0b1111_1000;
pub const FRAG1_HEADER_LEN: usize = 4;
pub const FRAGN_HEADER_LEN: usize = 5;
/// Largest value of the 11-bit datagram_size field.
pub const MAX_DATAGRAM_SIZE_FIELD: usize = 0x7ff;

/// Why a fragment was refused. Names are stable (drop counters).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FragError {
    /// Shorter than its fragment header.
    Truncated,
    /// datagram_size above the configured maximum.
    TooBig,
    /// datagram_size below an IPv6 header (40).
    TooSmall,
    /// A FRAGN at offset 0: only a FRAG1 may start a datagram.
    ZeroOffset,
    /// The fragment reaches beyond datagram_size.
    OutOfBounds,
    /// Overlaps data already received with different bounds or bytes; the datagram is dropped.
    Overlap,
    /// The FRAG1's header disagrees with datagram_size.
    SizeMismatch,
    /// More fragments than any sane sender uses; the datagram is dropped.
    TooManyFragments,
    /// The datagram alone is larger than the per-source or global reassembly memory.
    /// (Otherwise a new datagram evicts the partial ones that made the least recent
    /// progress; see [`Reassembly::evictions`].)
    Memory,
    /// Not a FRAG1/FRAGN dispatch, or a FRAG1 whose inner dispatch we do not know.
    BadDispatch,
}

impl FragError {
    pub fn as_str(&self) -> &'static str {
        match self {
            FragError::Truncated => "frag_truncated",
            FragError::TooBig => "frag_too_big",
            FragError::TooSmall => "frag_too_small",
            FragError::ZeroOffset => "frag_zero_offset",
            FragError::OutOfBounds => "frag_out_of_bounds",
            FragError::Overlap => "frag_overlap",
            FragError::SizeMismatch => "frag_size_mismatch",
            FragError::TooManyFragments => "frag_too_many",
            FragError::Memory => "reassembly_memory",
            FragError::BadDispatch => "frag_bad_dispatch",
        }
    }
}

impl fmt::Display for FragError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for FragError {}

/// Zero-copy view of a FRAG1 or FRAGN header and what follows it.
#[derive(Debug, Clone)]
pub struct FragHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragHeader<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        FragHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, FragError> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    pub fn check_len(&self) -> Result<(), FragError> {
        let b = self.buffer.as_ref();
        let Some(&d) = b.first() else {
            return Err(FragError::Truncated);
        };
        let hl = match d & DISPATCH_MASK {
            FRAG1_DISPATCH => FRAG1_HEADER_LEN,
            FRAGN_DISPATCH => FRAGN_HEADER_LEN,
            _ => return Err(FragError::BadDispatch),
        };
        if b.len() < hl {
            Err(FragError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn is_first(&self) -> bool {
        self.buffer.as_ref()[0] & DISPATCH_MASK == FRAG1_DISPATCH
    }

    pub fn datagram_size(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[0] & 0x07, b[1]])
    }

    pub fn datagram_tag(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[2], b[3]])
    }

    /// Offset in 8-octet units (0 for a FRAG1).
    pub fn datagram_offset(&self) -> u8 {
        if self.is_first() {
            0
        } else {
            self.buffer.as_ref()[4]
        }
    }

    pub fn header_len(&self) -> usize {
        if self.is_first() {
            FRAG1_HEADER_LEN
        } else {
            FRAGN_HEADER_LEN
        }
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

/// A fragment header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FragRepr {
    First {
        size: u16,
        tag: u16,
    },
    /// `offset` in 8-octet units.
    Next {
        size: u16,
        tag: u16,
        offset: u8,
    },
}

impl FragRepr {
    pub fn parse<T: AsRef<[u8]>>(f: &FragHeader<T>) -> Result<Self, FragError> {
        f.check_len()?;
        let (size, tag) = (f.datagram_size(), f.datagram_tag());
        Ok(if f.is_first() {
            FragRepr::First { size, tag }
        } else {
            FragRepr::Next {
                size,
                tag,
                offset: f.datagram_offset(),
            }
        })
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            FragRepr::First { .. } => FRAG1_HEADER_LEN,
            FragRepr::Next { .. } => FRAGN_HEADER_LEN,
        }
    }

    /// Appends the header (size is masked to 11 bits).
    pub fn emit(&self, out: &mut Vec<u8>) {
        let (d, size, tag) = match *self {
            FragRepr::First { size, tag } => (FRAG1_DISPATCH, size, tag),
            FragRepr::Next { size, tag, .. } => (FRAGN_DISPATCH, size, tag),
        };
        let s = (size & 0x07ff).to_be_bytes();
        out.extend_from_slice(&[d | s[0], s[1]]);
        out.extend_from_slice(&tag.to_be_bytes());
        if let FragRepr::Next { offset, .. } = *self {
            out.push(offset);
        }
    }
}

/// Splits a datagram into FRAG1 + FRAGNs of at most `max_frame_payload` bytes each.
///
/// `header` is the compressed header, standing for `uncompressed_header_len` bytes (a
/// multiple of 8); `payload` follows it uncompressed. Every fragment but the last carries a
/// multiple of 8 uncompressed-equivalent bytes. Returns `None` when the frames are too small
/// to carry the FRAG1 or any 8-byte block, or the datagram exceeds the 11-bit size field.
pub fn fragment(
    header: &[u8],
    uncompressed_header_len: usize,
    payload: &[u8],
    tag: u16,
    max_frame_payload: usize,
) -> Option<Vec<Vec<u8>>> {
    let size = uncompressed_header_len + payload.len();
    if size > MAX_DATAGRAM_SIZE_FIELD || !uncompressed_header_len.is_multiple_of(8) {
        return None;
    }
    let size16 = size as u16;
    let first_room = max_frame_payload.checked_sub(FRAG1_HEADER_LEN + header.len())?;
    let next_room = max_frame_payload.checked_sub(FRAGN_HEADER_LEN)? & !7;
    let first_take = (((uncompressed_header_len + first_room) & !7) - uncompressed_header_len)
        .min(payload.len());
    let rest = payload.len() - first_take;
    if rest > 0 && next_room == 0 {
        return None;
    }
    let mut frames = Vec::with_capacity(1 + rest.div_ceil(next_room.max(1)));
    let mut f = Vec::with_capacity(FRAG1_HEADER_LEN + header.len() + first_take);
    FragRepr::First { size: size16, tag }.emit(&mut f);
    f.extend_from_slice(header);
    f.extend_from_slice(&payload[..first_take]);
    frames.push(f);
    let mut sent = first_take;
    while sent < payload.len() {
        let n = next_room.min(payload.len() - sent);
        let offset = ((uncompressed_header_len + sent) / 8) as u8;
        let mut f = Vec::with_capacity(FRAGN_HEADER_LEN + n);
        FragRepr::Next {
            size: size16,
            tag,
            offset,
        }
        .emit(&mut f);
        f.extend_from_slice(&payload[sent..sent + n]);
        frames.push(f);
        sent += n;
    }
    Some(frames)
}

/// Limits of the reassembly table. Every partial datagram costs its datagram_size plus
/// [`PARTIAL_OVERHEAD`] bytes against both memory caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// RFC 4944: 60 seconds after the first fragment.
    pub timeout: Duration,
    /// Largest datagram_size accepted (1280 must fit; at most 2047).
    pub max_datagram_size: usize,
    /// Memory one link-layer source may hold in partial datagrams.
    pub per_source_bytes: usize,
    /// Memory all partial datagrams may hold.
    pub global_bytes: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            timeout: Duration::from_secs(60),
            max_datagram_size: 1500,
            per_source_bytes: 4 * (1280 + PARTIAL_OVERHEAD),
            global_bytes: 64 * 1024,
        }
    }
}

/// Most fragments one datagram may arrive in (1500 bytes in 32-byte frames is 47).
pub const MAX_FRAGMENTS: usize = 64;
/// Bookkeeping charged per partial datagram: the range list and the entry itself.
pub const PARTIAL_OVERHEAD: usize = MAX_FRAGMENTS * 4 + 64;

/// RFC 4944 reassembly key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FragKey {
    pub src: Address,
    pub dst: Address,
    pub size: u16,
    pub tag: u16,
}

struct Partial {
    buf: Vec<u8>,
    /// Received [start, end) ranges, sorted and disjoint.
    ranges: Vec<(u16, u16)>,
    received: usize,
    created: Instant,
    /// When a fragment was last stored, plus a tie-breaking sequence number: the key of this
    /// datagram in [`Reassembly::by_progress`].
    progress: (Instant, u64),
    /// The FRAG1 said the UDP checksum was elided: compute it once complete.
    udp_checksum_elided: bool,
}

impl Partial {
    fn charge(&self) -> usize {
        self.buf.len() + PARTIAL_OVERHEAD
    }
}

/// What one link-layer source holds.
#[derive(Default)]
struct SourceUse {
    bytes: usize,
    /// Its partial datagrams; at most `per_source_bytes / (40 + PARTIAL_OVERHEAD)` of them,
    /// so scanning them is bounded.
    keys: Vec<FragKey>,
}

/// The table of partial datagrams. Bounded in memory; expiry is amortised O(1).
///
/// A new datagram that does not fit a cap evicts the partial datagrams that made the least
/// recent progress (first from its own source, then globally) instead of being refused:
/// otherwise FRAG1s forged with a mote's link address would block that mote's fragmented
/// traffic for the whole timeout, while the real mote, whose datagrams keep progressing,
/// now only competes with stale forgeries.
pub struct Reassembly {
    limits: ReassemblyLimits,
    partials: HashMap<FragKey, Partial>,
    /// Creation order (so deadline order, the timeout being fixed). May hold stale keys,
    /// recognised by a creation time that differs from the live entry's.
    order: VecDeque<(Instant, FragKey)>,
    /// Every live partial datagram by the time of its last stored fragment (eviction order).
    by_progress: BTreeMap<(Instant, u64), FragKey>,
    next_seq: u64,
    per_source: HashMap<Address, SourceUse>,
    used: usize,
    evictions: u64,
}

/// Outcome of adding one fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Stored; the datagram is not complete yet.
    Pending,
    /// Exactly the same bytes were already there.
    Duplicate,
    /// The last missing piece: the whole datagram.
    Complete(Vec<u8>),
}

impl Reassembly {
    pub fn new(limits: ReassemblyLimits) -> Self {
        let mut limits = limits;
        limits.max_datagram_size = limits.max_datagram_size.min(MAX_DATAGRAM_SIZE_FIELD);
        Reassembly {
            limits,
            partials: HashMap::new(),
            order: VecDeque::new(),
            by_progress: BTreeMap::new(),
            next_seq: 0,
            per_source: HashMap::new(),
            used: 0,
            evictions: 0,
        }
    }

    pub fn limits(&self) -> &ReassemblyLimits {
        &self.limits
    }

    /// Number of partial datagrams held.
    pub fn pending(&self) -> usize {
        self.partials.len()
    }

    /// Bytes charged against the global cap.
    pub fn memory_used(&self) -> usize {
        self.used
    }

    /// Bytes charged to one link-layer source.
    pub fn memory_used_by(&self, src: &Address) -> usize {
        self.per_source.get(src).map_or(0, |s| s.bytes)
    }

    /// Partial datagrams evicted so far to make room for new ones (monotonic).
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// When the oldest partial datagram times out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.order
            .iter()
            .find(|(t, k)| self.partials.get(k).is_some_and(|p| p.created == *t))
            .map(|(t, _)| *t + self.limits.timeout)
    }

    /// Checks a datagram_size before anything is decompressed or allocated.
    pub fn check_size(&self, size: u16) -> Result<(), FragError> {
        if usize::from(size) > self.limits.max_datagram_size {
            Err(FragError::TooBig)
        } else if usize::from(size) < crate::ip::IPV6_HEADER_LEN {
            Err(FragError::TooSmall)
        } else {
            Ok(())
        }
    }

    fn remove(&mut self, key: &FragKey) -> Option<Partial> {
        let p = self.partials.remove(key)?;
        let c = p.charge();
        self.used -= c;
        self.by_progress.remove(&p.progress);
        if let Some(s) = self.per_source.get_mut(&key.src) {
            s.bytes -= c.min(s.bytes);
            if let Some(i) = s.keys.iter().position(|k| k == key) {
                s.keys.swap_remove(i);
            }
            if s.keys.is_empty() {
                self.per_source.remove(&key.src);
            }
        }
        Some(p)
    }

    fn next_progress(&mut self, now: Instant) -> (Instant, u64) {
        self.next_seq += 1;
        (now, self.next_seq)
    }

    /// Evicts partial datagrams until `charge` more bytes fit both caps for `src`: the least
    /// recently progressing of `src`'s own first, then the least recently progressing of all.
    fn make_room(&mut self, src: &Address, charge: usize) -> Result<(), FragError> {
        if charge > self.limits.per_source_bytes || charge > self.limits.global_bytes {
            return Err(FragError::Memory);
        }
        while self.memory_used_by(src) + charge > self.limits.per_source_bytes {
            let victim = self.per_source.get(src).and_then(|s| {
                s.keys
                    .iter()
                    .filter_map(|k| self.partials.get(k).map(|p| (p.progress, *k)))
                    .min_by_key(|(progress, _)| *progress)
                    .map(|(_, k)| k)
            });
            let Some(victim) = victim else {
                return Err(FragError::Memory);
            };
            self.remove(&victim);
            self.evictions += 1;
        }
        while self.used + charge > self.limits.global_bytes {
            let Some((_, &victim)) = self.by_progress.first_key_value() else {
                return Err(FragError::Memory);
            };
            self.remove(&victim);
            self.evictions += 1;
        }
        Ok(())
    }

    /// Drops partial datagrams older than the timeout; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut dropped = 0;
        while let Some(&(created, key)) = self.order.front() {
            if now.saturating_duration_since(created) < self.limits.timeout {
                break;
            }
            self.order.pop_front();
            if self
                .partials
                .get(&key)
                .is_some_and(|p| p.created == created)
            {
                self.remove(&key);
                dropped += 1;
            }
        }
        dropped
    }

    /// Keeps the order queue proportional to the live entries.
    fn compact_order(&mut self) {
        if self.order.len() > 2 * self.partials.len() + 64 {
            let partials = &self.partials;
            self.order
                .retain(|(t, k)| partials.get(k).is_some_and(|p| p.created == *t));
        }
    }

    /// Adds the bytes `head` followed by `tail` at uncompressed offset `offset` of the
    /// datagram `key`. On error the fragment is not stored; for `Overlap` and
    /// `TooManyFragments` the whole datagram is dropped as well.
    pub fn insert(
        &mut self,
        now: Instant,
        key: FragKey,
        offset: usize,
        head: &[u8],
        tail: &[u8],
        udp_checksum_elided: bool,
    ) -> Result<Inserted, FragError> {
        self.check_size(key.size)?;
        let size = usize::from(key.size);
        let len = head.len() + tail.len();
        let end = offset + len;
        if end > size {
            return Err(FragError::OutOfBounds);
        }
        // A fragment without data would only create state.
        if len == 0 {
            return Err(FragError::Truncated);
        }
        self.expire(now);
        if !self.partials.contains_key(&key) {
            let charge = size + PARTIAL_OVERHEAD;
            self.make_room(&key.src, charge)?;
            self.compact_order();
            let progress = self.next_progress(now);
            self.partials.insert(
                key,
                Partial {
                    buf: vec![0u8; size],
                    ranges: Vec::new(),
                    received: 0,
                    created: now,
                    progress,
                    udp_checksum_elided: false,
                },
            );
            self.order.push_back((now, key));
            self.by_progress.insert(progress, key);
            self.used += charge;
            let s = self.per_source.entry(key.src).or_default();
            s.bytes += charge;
            s.keys.push(key);
        }
        let progress = self.next_progress(now);
        let Some(p) = self.partials.get_mut(&key) else {
            return Err(FragError::Memory);
        };
        let (s, e) = (offset as u16, end as u16);
        // First range that ends after our start: the only candidates for overlap start here.
        let i = p.ranges.partition_point(|&(_, re)| re <= s);
        if let Some(&(rs, re)) = p.ranges.get(i)
            && rs < e
        {
            let same = rs == s && re == e && {
                let old = &p.buf[offset..end];
                old[..head.len()] == *head && old[head.len()..] == *tail
            };
            if same {
                return Ok(Inserted::Duplicate);
            }
            self.remove(&key);
            return Err(FragError::Overlap);
        }
        if p.ranges.len() >= MAX_FRAGMENTS {
            self.remove(&key);
            return Err(FragError::TooManyFragments);
        }
        p.ranges.insert(i, (s, e));
        p.buf[offset..offset + head.len()].copy_from_slice(head);
        p.buf[offset + head.len()..end].copy_from_slice(tail);
        p.received += len;
        p.udp_checksum_elided |= udp_checksum_elided;
        let stale = core::mem::replace(&mut p.progress, progress);
        self.by_progress.remove(&stale);
        self.by_progress.insert(progress, key);
        if p.received < size {
            return Ok(Inserted::Pending);
        }
        let Some(p) = self.remove(&key) else {
            return Err(FragError::Memory);
        };
        let mut buf = p.buf;
        if p.udp_checksum_elided {
            crate::iphc::fill_elided_udp_checksum(&mut buf);
        }
        Ok(Inserted::Complete(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_vectors() {
        // FRAG1: 11000 + size 1280 (0x500) -> c5 00, tag 0x1234.
        let mut v = Vec::new();
        FragRepr::First {
            size: 1280,
            tag: 0x1234,
        }
        .emit(&mut v);
        assert_eq!(v, [0xc5, 0x00, 0x12, 0x34]);
        // FRAGN: 11100 + size, tag, offset 13 (104 bytes).
        let mut v = Vec::new();
        FragRepr::Next {
            size: 1280,
            tag: 0x1234,
            offset: 13,
        }
        .emit(&mut v);
        assert_eq!(v, [0xe5, 0x00, 0x12, 0x34, 13]);
        let h = FragHeader::new_checked(&v[..]).unwrap();
        assert_eq!(
            FragRepr::parse(&h).unwrap(),
            FragRepr::Next {
                size: 1280,
                tag: 0x1234,
                offset: 13
            }
        );
        assert_eq!(
            FragHeader::new_checked(&v[..4]).unwrap_err(),
            FragError::Truncated
        );
        assert_eq!(
            FragHeader::new_checked(&[0x41u8][..]).unwrap_err(),
            FragError::BadDispatch
        );
    }

    #[test]
    fn fragment_sizes_are_multiples_of_8() {
        let header = [0x7e, 0x33, 0xf0, 0x16, 0x33, 0x16, 0x33, 0xaa, 0xbb];
        let payload = vec![7u8; 1232];
        let frames = fragment(&header, 48, &payload, 9, 104).unwrap();
        let mut covered = 48 + frames[0].len() - 4 - header.len();
        assert!(frames.iter().all(|f| f.len() <= 104));
        assert_eq!(covered % 8, 0);
        for f in &frames[1..] {
            let h = FragHeader::new_checked(&f[..]).unwrap();
            assert_eq!(usize::from(h.datagram_offset()) * 8, covered);
            covered += h.payload().len();
            if covered < 1280 {
                assert_eq!(h.payload().len() % 8, 0);
            }
        }
        assert_eq!(covered, 1280);
        assert!(fragment(&header, 48, &payload, 9, 12).is_none());
        assert!(fragment(&header, 48, &vec![0; 2000], 9, 104).is_none());
    }
}
