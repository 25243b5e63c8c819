//! IEEE 802.15.4 frames, 6LoWPAN header compression (RFC 6282, extension headers included)
//! and fragmentation (RFC 4944), and the project's only IPv6 wire code: IPv6, UDP, ICMPv6,
//! Neighbour Discovery with the 6LoWPAN options (RFC 4861, RFC 6775), RPL's control
//! messages, RPL option, source routing header and RFC 8138 6LoRH ([`rpl`]), and the
//! mesh's /64 [`Prefix64`].
//!
//! What it is for: turning IPv6 packets into 802.15.4 frame payloads and back, and reading
//! and building the IPv6 packets themselves, for the border router, the HRM and the emulated
//! motes. Zero-copy wire views with checked constructors (`ip`), a typed repr per format
//! with `parse`, `buffer_len` and `emit` (`ipv6`, `udp`, `icmpv6`, `ndisc`), and sans-IO
//! state machines (time is passed in, never read).
//!
//! What it must never do: panic, loop without bound or allocate without bound on input from
//! the radio; read the clock; do IO. Every rejected input maps to an error with a stable
//! reason name for drop counters.

pub mod dispatch;
pub mod frag;
pub mod icmpv6;
pub mod ieee802154;
pub mod ip;
pub mod iphc;
pub mod ipv6;
pub mod ndisc;
pub mod prefix;
pub mod rpl;
pub mod udp;

#[cfg(test)]
mod testgen;
#[cfg(test)]
mod tests;

pub use frag::ReassemblyLimits;
pub use icmpv6::Icmpv6Repr;
pub use ieee802154::{Address, Eui64, max_frame_payload};
pub use iphc::ContextTable;
pub use ipv6::{CheckedIpv6Packet, Ipv6Repr, NextHeader, Transport, UpperLayer};
pub use ndisc::NdiscRepr;
pub use prefix::{ParsePrefix64Error, Prefix64};
pub use udp::UdpRepr;

use core::fmt;
use dispatch::Dispatch;
use frag::{FragError, FragHeader, FragKey, Inserted};
use ip::{IPV6_HEADER_LEN, Ipv6Packet};
use iphc::IphcError;
use std::time::Instant;

/// The link-layer addresses of the frame that carries (or will carry) a 6LoWPAN payload;
/// IPHC derives elided interface identifiers from them and reassembly keys on them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct LinkAddrs {
    pub src: Address,
    pub dst: Address,
}

/// Why an IPv6 packet could not be turned into 6LoWPAN payloads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EncodeError {
    /// Not a well-formed IPv6 packet of exactly the length its header says.
    Malformed,
    /// Needs fragmentation but exceeds the 2047-byte datagram_size field.
    TooBig,
    /// `max_frame_payload` cannot carry the FRAG1 header plus the compressed header, or
    /// a FRAGN with 8 bytes.
    FrameTooSmall,
}

impl EncodeError {
    pub fn as_str(&self) -> &'static str {
        match self {
            EncodeError::Malformed => "encode_malformed",
            EncodeError::TooBig => "encode_too_big",
            EncodeError::FrameTooSmall => "encode_frame_too_small",
        }
    }

    /// Same as [`EncodeError::as_str`].
    pub fn reason(&self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for EncodeError {}

/// Why a received 6LoWPAN payload gave no packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DecodeError {
    /// Zero-length payload.
    Empty,
    /// "Not a LoWPAN frame" dispatch (00xxxxxx).
    NotLowpan,
    /// Mesh addressing header: we are not a mesh-under router.
    MeshUnsupported,
    /// A dispatch we do not implement (HC1, ESC, reserved...).
    UnknownDispatch(u8),
    /// Uncompressed IPv6 (0x41) that is not a well-formed IPv6 packet.
    Ipv6Malformed,
    Iphc(IphcError),
    Frag(FragError),
    /// A page-1 payload whose 6LoRHs (RFC 8138) are malformed or not ones we expand.
    Lorh(rpl::RplError),
}

impl DecodeError {
    /// Stable name for drop counters.
    pub fn as_str(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::NotLowpan => "not_lowpan",
            DecodeError::MeshUnsupported => "mesh_unsupported",
            DecodeError::UnknownDispatch(_) => "unknown_dispatch",
            DecodeError::Ipv6Malformed => "ipv6_malformed",
            DecodeError::Iphc(e) => e.as_str(),
            DecodeError::Frag(e) => e.as_str(),
            DecodeError::Lorh(e) => match e {
                rpl::RplError::Truncated => "lorh_truncated",
                rpl::RplError::Malformed => "lorh_malformed",
                rpl::RplError::TooMany => "lorh_too_many",
                rpl::RplError::Unsupported => "lorh_unsupported",
            },
        }
    }

    /// Same as [`DecodeError::as_str`].
    pub fn reason(&self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownDispatch(d) => write!(f, "unknown_dispatch (0x{d:02x})"),
            DecodeError::Iphc(e) => e.fmt(f),
            other => f.write_str(other.as_str()),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<IphcError> for DecodeError {
    fn from(e: IphcError) -> Self {
        DecodeError::Iphc(e)
    }
}

impl From<rpl::RplError> for DecodeError {
    fn from(e: rpl::RplError) -> Self {
        DecodeError::Lorh(e)
    }
}

impl From<FragError> for DecodeError {
    fn from(e: FragError) -> Self {
        DecodeError::Frag(e)
    }
}

/// Compresses and fragments outgoing IPv6 packets. Holds the context table and the
/// datagram-tag counter (one per link-layer sender, so one `Encoder` per radio).
#[derive(Clone, Debug)]
pub struct Encoder {
    contexts: ContextTable,
    next_tag: u16,
    header: Vec<u8>,
}

impl Encoder {
    pub fn new(contexts: ContextTable) -> Self {
        Self::with_initial_tag(contexts, 0)
    }

    /// Starting the tag at a random value avoids reusing tags a peer may still hold after
    /// a restart.
    pub fn with_initial_tag(contexts: ContextTable, tag: u16) -> Self {
        Encoder {
            contexts,
            next_tag: tag,
            header: Vec::with_capacity(64),
        }
    }

    pub fn contexts(&self) -> &ContextTable {
        &self.contexts
    }

    pub fn contexts_mut(&mut self) -> &mut ContextTable {
        &mut self.contexts
    }

    /// [`Encoder::encode`] with the RFC 8138 forms: an IPv6-in-IPv6 packet from the DODAG
    /// root `root` (its source routing header and RPL option), or a packet with an RPL
    /// option, leaves as a page-1 payload whose 6LoRHs stand for those headers
    /// ([`rpl::lorh::compress_packet`]), the inner packet after them compressed by IPHC.
    /// Anything else, or a compressed header too long for the first fragment, leaves as
    /// [`Encoder::encode`] writes it.
    pub fn encode_rfc8138(
        &mut self,
        ipv6_packet: &[u8],
        links: LinkAddrs,
        max_frame_payload: usize,
        root: std::net::Ipv6Addr,
    ) -> Result<Vec<Vec<u8>>, EncodeError> {
        let Some((lorh, inner)) = rpl::lorh::compress_packet(ipv6_packet, root) else {
            return self.encode(ipv6_packet, links, max_frame_payload);
        };
        self.header.clear();
        self.header.push(rpl::lorh::PAGE_1);
        self.header.extend_from_slice(&lorh);
        let covered_inner = iphc::compress(&self.contexts, &links, &inner, &mut self.header)
            .map_err(|_| EncodeError::Malformed)?;
        let payload = &inner[covered_inner..];
        if self.header.len() + payload.len() <= max_frame_payload {
            let mut f = Vec::with_capacity(self.header.len() + payload.len());
            f.extend_from_slice(&self.header);
            f.extend_from_slice(payload);
            return Ok(vec![f]);
        }
        let covered = ipv6_packet.len() - inner.len() + covered_inner;
        if ipv6_packet.len() > frag::MAX_DATAGRAM_SIZE_FIELD {
            return Err(EncodeError::TooBig);
        }
        match frag::fragment(
            &self.header,
            covered,
            payload,
            self.next_tag,
            max_frame_payload,
        ) {
            Some(frames) => {
                self.next_tag = self.next_tag.wrapping_add(1);
                Ok(frames)
            }
            None => self.encode(ipv6_packet, links, max_frame_payload),
        }
    }

    /// The length of `ipv6_packet` once compressed (IPHC/NHC) between `links`: whether it
    /// fits one frame unfragmented.
    pub fn compressed_len(
        &mut self,
        ipv6_packet: &[u8],
        links: LinkAddrs,
    ) -> Result<usize, EncodeError> {
        self.header.clear();
        let covered = iphc::compress(&self.contexts, &links, ipv6_packet, &mut self.header)
            .map_err(|_| EncodeError::Malformed)?;
        Ok(self.header.len() + ipv6_packet.len() - covered)
    }

    /// Compress (IPHC/NHC) and, when the result does not fit `max_frame_payload` bytes,
    /// fragment. Returns one or more 6LoWPAN payloads (each to be placed in one 802.15.4
    /// data frame).
    pub fn encode(
        &mut self,
        ipv6_packet: &[u8],
        links: LinkAddrs,
        max_frame_payload: usize,
    ) -> Result<Vec<Vec<u8>>, EncodeError> {
        self.header.clear();
        let covered = iphc::compress(&self.contexts, &links, ipv6_packet, &mut self.header)
            .map_err(|_| EncodeError::Malformed)?;
        let payload = &ipv6_packet[covered..];
        if self.header.len() + payload.len() <= max_frame_payload {
            let mut f = Vec::with_capacity(self.header.len() + payload.len());
            f.extend_from_slice(&self.header);
            f.extend_from_slice(payload);
            return Ok(vec![f]);
        }
        if ipv6_packet.len() > frag::MAX_DATAGRAM_SIZE_FIELD {
            return Err(EncodeError::TooBig);
        }
        let tag = self.next_tag;
        let frames = match frag::fragment(&self.header, covered, payload, tag, max_frame_payload) {
            Some(frames) => frames,
            // The compressed header must fit the first fragment whole (RFC 4944 5.3). Long
            // compressed extension headers may not; sent inline instead, they are
            // fragmented like payload.
            None => {
                self.header.clear();
                let covered = iphc::compress_with_nhc_limit(
                    &self.contexts,
                    &links,
                    ipv6_packet,
                    &mut self.header,
                    0,
                )
                .map_err(|_| EncodeError::Malformed)?;
                let payload = &ipv6_packet[covered..];
                frag::fragment(&self.header, covered, payload, tag, max_frame_payload)
                    .ok_or(EncodeError::FrameTooSmall)?
            }
        };
        self.next_tag = self.next_tag.wrapping_add(1);
        Ok(frames)
    }
}

/// Turns received 6LoWPAN payloads back into IPv6 packets: dispatch, decompression and
/// bounded reassembly. Sans-IO: the caller passes `now` and calls [`Reassembler::expire`]
/// (e.g. at [`Reassembler::poll_timeout`]).
pub struct Reassembler {
    contexts: ContextTable,
    table: frag::Reassembly,
    /// The DODAG root: the encapsulator an IP-in-IP 6LoRH elides.
    rpl_root: Option<std::net::Ipv6Addr>,
}

impl Reassembler {
    /// Default limits: 60 s, datagrams up to 1500 bytes, 4 datagrams per source, 64 KiB.
    pub fn new(contexts: ContextTable) -> Self {
        Self::with_limits(contexts, ReassemblyLimits::default())
    }

    pub fn with_limits(contexts: ContextTable, limits: ReassemblyLimits) -> Self {
        Reassembler {
            contexts,
            table: frag::Reassembly::new(limits),
            rpl_root: None,
        }
    }

    /// The DODAG root's address, which an IP-in-IP 6LoRH (RFC 8138) elides as encapsulator;
    /// without it such payloads are refused.
    pub fn set_rpl_root(&mut self, root: Option<std::net::Ipv6Addr>) {
        self.rpl_root = root;
    }

    /// The headers a first payload (IPHC, or page 1 with its 6LoRHs before the IPHC)
    /// expands to, and the bytes it used.
    fn expand_first(
        &self,
        links: &LinkAddrs,
        data: &[u8],
    ) -> Result<(iphc::Expanded, usize), DecodeError> {
        if Dispatch::of(data) != Dispatch::Page1 {
            return Ok(iphc::decompress(&self.contexts, links, data)?);
        }
        let (headers, used) = rpl::lorh::parse_headers(&data[1..])?;
        let at = 1 + used;
        let (mut expanded, iphc_used) = iphc::decompress(&self.contexts, links, &data[at..])?;
        rpl::lorh::expand_into(&headers, &mut expanded, self.rpl_root)?;
        Ok((expanded, at + iphc_used))
    }

    pub fn contexts(&self) -> &ContextTable {
        &self.contexts
    }

    pub fn contexts_mut(&mut self) -> &mut ContextTable {
        &mut self.contexts
    }

    /// Partial datagrams held.
    pub fn pending(&self) -> usize {
        self.table.pending()
    }

    /// Bytes charged to partial datagrams (bounded by the global cap).
    pub fn memory_used(&self) -> usize {
        self.table.memory_used()
    }

    /// Bytes charged to partial datagrams from one link-layer source.
    pub fn memory_used_by(&self, src: &Address) -> usize {
        self.table.memory_used_by(src)
    }

    /// Partial datagrams evicted so far to make room for new ones (monotonic; count the
    /// increase as `reassembly_evicted` drops). A new datagram that does not fit the
    /// per-source cap evicts that source's least recently progressing partial datagrams,
    /// then the global cap the least recently progressing of all.
    pub fn evictions(&self) -> u64 {
        self.table.evictions()
    }

    /// When the oldest partial datagram expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.poll_timeout()
    }

    /// Accepts one 6LoWPAN payload (IPHC, 0x41 uncompressed, FRAG1, FRAGN; a leading
    /// broadcast header is skipped) and returns a whole IPv6 packet when one is complete.
    pub fn accept(
        &mut self,
        now: Instant,
        links: LinkAddrs,
        payload: &[u8],
    ) -> Result<Option<Vec<u8>>, DecodeError> {
        let payload = dispatch::skip_broadcast_header(payload);
        match Dispatch::of(payload) {
            Dispatch::Empty => Err(DecodeError::Empty),
            Dispatch::Ipv6 => uncompressed_ipv6(&payload[1..]).map(Some),
            Dispatch::Iphc | Dispatch::Page1 => {
                let (expanded, used) = self.expand_first(&links, payload)?;
                Ok(Some(iphc::assemble_packet(expanded, &payload[used..])?))
            }
            Dispatch::Frag1 | Dispatch::FragN => self.accept_fragment(now, links, payload),
            Dispatch::Mesh => Err(DecodeError::MeshUnsupported),
            Dispatch::Nalp => Err(DecodeError::NotLowpan),
            Dispatch::Broadcast | Dispatch::Unknown(_) => {
                Err(DecodeError::UnknownDispatch(payload[0]))
            }
        }
    }

    fn accept_fragment(
        &mut self,
        now: Instant,
        links: LinkAddrs,
        payload: &[u8],
    ) -> Result<Option<Vec<u8>>, DecodeError> {
        let f = FragHeader::new_checked(payload)?;
        let size = f.datagram_size();
        self.table.check_size(size)?;
        let key = FragKey {
            src: links.src,
            dst: links.dst,
            size,
            tag: f.datagram_tag(),
        };
        let inner = f.payload();
        let inserted = if f.is_first() {
            match Dispatch::of(inner) {
                Dispatch::Iphc | Dispatch::Page1 => {
                    let (mut expanded, used) = self.expand_first(&links, inner)?;
                    if usize::from(size) < expanded.len() {
                        return Err(FragError::SizeMismatch.into());
                    }
                    expanded
                        .set_datagram_size(usize::from(size))
                        .map_err(|_| FragError::SizeMismatch)?;
                    let elided = expanded.udp_checksum_elided;
                    self.table
                        .insert(now, key, 0, expanded.header(), &inner[used..], elided)?
                }
                Dispatch::Ipv6 => {
                    let raw = &inner[1..];
                    if raw.len() < 6 {
                        return Err(FragError::Truncated.into());
                    }
                    let claimed =
                        IPV6_HEADER_LEN + usize::from(u16::from_be_bytes([raw[4], raw[5]]));
                    if raw[0] >> 4 != 6 || claimed != usize::from(size) {
                        return Err(FragError::SizeMismatch.into());
                    }
                    self.table.insert(now, key, 0, raw, &[], false)?
                }
                _ => return Err(FragError::BadDispatch.into()),
            }
        } else {
            // Byte 0 belongs to the FRAG1, which carries (and is checked against) the header.
            if f.datagram_offset() == 0 {
                return Err(FragError::ZeroOffset.into());
            }
            let offset = usize::from(f.datagram_offset()) * 8;
            self.table.insert(now, key, offset, inner, &[], false)?
        };
        Ok(match inserted {
            Inserted::Complete(p) => Some(p),
            Inserted::Pending | Inserted::Duplicate => None,
        })
    }

    /// Drops partial datagrams that timed out; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.table.expire(now)
    }
}

fn uncompressed_ipv6(raw: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let p = Ipv6Packet::new_checked(raw).map_err(|_| DecodeError::Ipv6Malformed)?;
    if !p.is_exact() {
        return Err(DecodeError::Ipv6Malformed);
    }
    Ok(raw.to_vec())
}
