//! RFC 6282 IPHC header compression with the UDP NHC and the IPv6 extension-header NHC
//! (Hop-by-Hop, Routing, Fragment, Destination Options, and a tunnelled IPv6 header).
//!
//! Compression picks, per field, the shortest encoding that decompresses to exactly the
//! original bytes: for addresses every candidate mode is rebuilt with the same function the
//! decoder uses and compared, so compress/decompress cannot drift apart. The UDP checksum is
//! always carried inline (C = 0); a received C = 1 is accepted and the checksum recomputed
//! once the whole datagram is known. The UDP length is always elided and re-derived from
//! the IPv6 payload length, so UDP is only compressed when its length field agrees with it.
//!
//! Extension headers: the NHC carries the header without its Next Header (elided when the
//! next header is itself compressed) and with its length in octets; a trailing Pad1/PadN
//! of a Hop-by-Hop or Destination Options header is elided when the decompressor's padding
//! rebuilds the same bytes. The Fragment header is carried as its 7 bytes after the Next
//! Header, the first of them (reserved in IPv6) being the length 6 that RFC 6282 asks for,
//! which is also how Wireshark reads it. A tunnelled IPv6 packet (EID 7) is followed by
//! its own IPHC. The Mobility header (EID 4) and reserved EIDs give
//! [`IphcError::UnsupportedNhc`]. Chains are bounded by [`MAX_NHC_HEADERS`] and
//! [`MAX_TUNNEL_DEPTH`].

use crate::LinkAddrs;
use crate::ieee802154::Address;
use crate::ip::{self, IPV6_HEADER_LEN, Ipv6Packet, UDP_HEADER_LEN, UdpPacket, next_header};
use core::fmt;
use std::net::Ipv6Addr;

/// First three bits of an IPHC dispatch.
pub const DISPATCH_MASK: u8 = 0b1110_0000;
pub const DISPATCH: u8 = 0b0110_0000;

/// Extension headers (NHC) one compressed header may carry, tunnels included.
pub const MAX_NHC_HEADERS: usize = 8;
/// IPv6-in-IPv6 headers (NHC EID 7) one compressed header may nest.
pub const MAX_TUNNEL_DEPTH: usize = 2;

/// Why a compressed header could not be expanded. Names are stable (drop counters).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IphcError {
    /// Not an IPHC dispatch.
    NotIphc,
    /// Ends before all inline fields.
    Truncated,
    /// A context id with no context configured.
    BadContext(u8),
    /// A reserved address mode (DAC=1 M=0 DAM=00, DAC=1 M=1 DAM!=00).
    ReservedMode,
    /// The address is to be derived from a link-layer address that is absent.
    NoLinkAddress,
    /// Next-header compression we do not know (Mobility, reserved EIDs or patterns).
    UnsupportedNhc(u8),
    /// More NHC headers or tunnels than [`MAX_NHC_HEADERS`] / [`MAX_TUNNEL_DEPTH`].
    TooManyHeaders,
    /// An extension header the NHC cannot stand for (a Routing header that is not a
    /// multiple of 8 octets, a Fragment header whose length is not 6, a tunnelled IPv6 NHC
    /// with its NH bit set).
    BadExtension,
    /// The datagram is shorter than the headers, or longer than IPv6 lengths allow.
    BadLength,
}

impl IphcError {
    pub fn as_str(&self) -> &'static str {
        match self {
            IphcError::NotIphc => "iphc_not_iphc",
            IphcError::Truncated => "iphc_truncated",
            IphcError::BadContext(_) => "iphc_bad_context",
            IphcError::ReservedMode => "iphc_reserved_mode",
            IphcError::NoLinkAddress => "iphc_no_link_address",
            IphcError::UnsupportedNhc(_) => "iphc_unsupported_nhc",
            IphcError::TooManyHeaders => "iphc_too_many_headers",
            IphcError::BadExtension => "iphc_bad_extension",
            IphcError::BadLength => "iphc_bad_length",
        }
    }
}

impl fmt::Display for IphcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IphcError::BadContext(c) => write!(f, "iphc_bad_context (context {c})"),
            IphcError::UnsupportedNhc(b) => write!(f, "iphc_unsupported_nhc (0x{b:02x})"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl std::error::Error for IphcError {}

/// One compression context: a prefix of `len` bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Context {
    pub prefix: Ipv6Addr,
    /// Prefix length in bits, 0..=128.
    pub len: u8,
    /// False: decompression only (RFC 6775 "C" flag cleared).
    pub compress: bool,
}

impl Context {
    /// Writes the context's bits over the first `len` bits of `addr`.
    fn overlay(&self, addr: &mut [u8; 16]) {
        let p = self.prefix.octets();
        let len = usize::from(self.len.min(128));
        let full = len / 8;
        addr[..full].copy_from_slice(&p[..full]);
        let rem = len % 8;
        if rem != 0 {
            let mask = 0xffu8 << (8 - rem);
            addr[full] = (addr[full] & !mask) | (p[full] & mask);
        }
    }

    /// The prefix with bits beyond `len` cleared.
    fn masked_prefix(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        self.overlay(&mut a);
        a
    }
}

/// Up to 16 contexts; context 0 is the network's configured prefix (used without a CID byte).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextTable {
    entries: [Option<Context>; 16],
}

impl ContextTable {
    /// No contexts: stateless compression only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Context 0 = `prefix`/`len` (typically the /64 of the 6LoWPAN network).
    pub fn with_prefix(prefix: Ipv6Addr, len: u8) -> Self {
        let mut t = Self::new();
        t.entries[0] = Some(Context {
            prefix,
            len: len.min(128),
            compress: true,
        });
        t
    }

    /// Sets context `cid` (0..=15). Returns false (and changes nothing) for an invalid id or
    /// a length over 128.
    pub fn set(&mut self, cid: u8, ctx: Context) -> bool {
        if cid > 15 || ctx.len > 128 {
            return false;
        }
        self.entries[usize::from(cid)] = Some(ctx);
        true
    }

    pub fn remove(&mut self, cid: u8) {
        if let Some(e) = self.entries.get_mut(usize::from(cid)) {
            *e = None;
        }
    }

    pub fn get(&self, cid: u8) -> Option<&Context> {
        self.entries.get(usize::from(cid)).and_then(|e| e.as_ref())
    }

    fn usable(&self) -> impl Iterator<Item = (u8, &Context)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().filter(|c| c.compress).map(|c| (i as u8, c)))
    }
}

/// The uncompressed headers a compressed header stands for: the IPv6 header, any extension
/// headers and tunnelled IPv6 headers, and a UDP header. Their length fields depend on the
/// size of the whole datagram, which a FRAG1 announces before the datagram is complete:
/// [`Expanded::set_datagram_size`] writes them.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Expanded {
    header: Vec<u8>,
    /// Offsets of the IPv6 headers (outer first) whose payload length is set from the size.
    ipv6_at: Vec<usize>,
    /// Offset of a UDP header whose length is set from the size.
    udp_at: Option<usize>,
    /// The sender elided the UDP checksum (C = 1): compute it once the datagram is whole.
    pub udp_checksum_elided: bool,
}

impl Expanded {
    /// The uncompressed header bytes (length fields as last set).
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Bytes of uncompressed header this stands for.
    pub fn len(&self) -> usize {
        self.header.len()
    }

    pub fn is_empty(&self) -> bool {
        self.header.is_empty()
    }

    /// The outer IPv6 header's source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Packet::new_unchecked(&self.header[..]).src_addr()
    }

    /// The outer IPv6 header's destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Packet::new_unchecked(&self.header[..]).dst_addr()
    }

    /// The outer IPv6 header's Next Header.
    pub fn next_header(&self) -> u8 {
        Ipv6Packet::new_unchecked(&self.header[..]).next_header()
    }

    /// Inserts uncompressed header bytes at offset `at` (what a page-1 dispatch's 6LoRHs
    /// stand for), moving the headers from `at` on; `ipv6` says the bytes start with an
    /// IPv6 header whose payload length is to be set from the size.
    pub(crate) fn insert_headers(&mut self, at: usize, bytes: &[u8], ipv6: bool) {
        let at = at.min(self.header.len());
        self.header.splice(at..at, bytes.iter().copied());
        for o in self.ipv6_at.iter_mut().filter(|o| **o >= at) {
            *o += bytes.len();
        }
        if let Some(o) = self.udp_at.as_mut().filter(|o| **o >= at) {
            *o += bytes.len();
        }
        if ipv6 {
            self.ipv6_at.push(at);
            self.ipv6_at.sort_unstable();
        }
    }

    /// Sets the outer IPv6 header's Next Header.
    pub(crate) fn set_next_header(&mut self, nh: u8) {
        if let Some(b) = self.header.get_mut(6) {
            *b = nh;
        }
    }

    /// Writes every length field for a datagram of `size` bytes (headers included).
    pub fn set_datagram_size(&mut self, size: usize) -> Result<(), IphcError> {
        if size < self.header.len() {
            return Err(IphcError::BadLength);
        }
        for &at in &self.ipv6_at {
            let len =
                u16::try_from(size - at - IPV6_HEADER_LEN).map_err(|_| IphcError::BadLength)?;
            self.header[at + 4..at + 6].copy_from_slice(&len.to_be_bytes());
        }
        if let Some(at) = self.udp_at {
            let len = u16::try_from(size - at).map_err(|_| IphcError::BadLength)?;
            self.header[at + 4..at + 6].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }
}

/// Computes the UDP checksum of a complete IPv6 packet whose UDP header follows the fixed
/// header, extension headers or tunnelled IPv6 headers (what the UDP NHC produced). The
/// pseudo-header's destination is the final one: the last address of a type 3 Routing
/// header when there is one. Does nothing for anything else.
pub fn fill_elided_udp_checksum(packet: &mut [u8]) {
    let Some((at, src, dst)) = udp_position(packet) else {
        return;
    };
    let c = ip::udp_checksum(&src, &dst, &packet[at..]);
    packet[at + 6..at + 8].copy_from_slice(&c.to_be_bytes());
}

/// Where the UDP header of `packet` is, with the addresses of its pseudo-header.
fn udp_position(packet: &[u8]) -> Option<(usize, Ipv6Addr, Ipv6Addr)> {
    let mut at = 0usize;
    for _ in 0..=MAX_TUNNEL_DEPTH {
        let p = Ipv6Packet::new_checked(packet.get(at..)?).ok()?;
        if !p.is_exact() {
            return None;
        }
        let (src, mut dst) = (p.src_addr(), p.dst_addr());
        let mut nh = p.next_header();
        at += IPV6_HEADER_LEN;
        for _ in 0..=MAX_NHC_HEADERS {
            match nh {
                next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTS => {
                    let h = packet.get(at..at + 2)?;
                    let len = (usize::from(h[1]) + 1) * 8;
                    let ext = packet.get(at..at + len)?;
                    if nh == next_header::ROUTING
                        && ext[2] == crate::rpl::srh::ROUTING_TYPE
                        && let Ok(srh) = crate::rpl::srh::SrhRepr::parse(ext, &dst)
                    {
                        dst = srh.addresses.last().copied().unwrap_or(dst);
                    }
                    nh = h[0];
                    at += len;
                }
                next_header::UDP => {
                    return (packet.len() >= at + UDP_HEADER_LEN).then_some((at, src, dst));
                }
                next_header::IPV6 => break,
                _ => return None,
            }
        }
        if nh != next_header::IPV6 {
            return None;
        }
    }
    None
}

/// Why a packet could not be compressed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CompressError {
    /// Not a well-formed IPv6 packet (or trailing bytes after its payload).
    Malformed,
}

// ---- bit layout of the two IPHC base bytes ----
const TF_SHIFT: u8 = 3;
const NH_BIT: u8 = 0b100;
const CID_BIT: u8 = 0b1000_0000;
const SAC_BIT: u8 = 0b0100_0000;
const SAM_SHIFT: u8 = 4;
const M_BIT: u8 = 0b1000;
const DAC_BIT: u8 = 0b100;

// ---- UDP NHC ----
const NHC_UDP_MASK: u8 = 0b1111_1000;
const NHC_UDP: u8 = 0b1111_0000;
const NHC_UDP_C: u8 = 0b100;
const PORT_4BIT_BASE: u16 = 0xf0b0;
const PORT_8BIT_BASE: u16 = 0xf000;

// ---- IPv6 extension-header NHC: 1110 EEE N ----
const NHC_EXT_MASK: u8 = 0b1111_0000;
const NHC_EXT: u8 = 0b1110_0000;
const NHC_EXT_NH: u8 = 0b1;
const EID_HOP_BY_HOP: u8 = 0;
const EID_ROUTING: u8 = 1;
const EID_FRAGMENT: u8 = 2;
const EID_DEST_OPTS: u8 = 3;
const EID_IPV6: u8 = 7;
const PAD1: u8 = 0;
const PADN: u8 = 1;

/// Where the prefix of a unicast address comes from.
#[derive(Clone, Copy)]
enum PrefixSource<'a> {
    LinkLocal,
    Context(&'a Context),
}

/// Builds a unicast address from a prefix source, an address mode (1, 2 or 3; RFC 6282
/// SAM/DAM) and the inline bytes (8, 2 or 0 of them). Shared by compression and
/// decompression.
fn rebuild_unicast(
    prefix: PrefixSource<'_>,
    mode: u8,
    inline: &[u8],
    ll: Address,
) -> Result<[u8; 16], IphcError> {
    let mut a = [0u8; 16];
    match mode {
        1 => a[8..].copy_from_slice(&inline[..8]),
        2 => {
            a[11] = 0xff;
            a[12] = 0xfe;
            a[14..].copy_from_slice(&inline[..2]);
        }
        _ => a[8..].copy_from_slice(&ip::iid_from_link(ll).ok_or(IphcError::NoLinkAddress)?),
    }
    match prefix {
        PrefixSource::LinkLocal => {
            a[0] = 0xfe;
            a[1] = 0x80;
        }
        PrefixSource::Context(c) => c.overlay(&mut a),
    }
    Ok(a)
}

fn inline_len(mode: u8) -> usize {
    match mode {
        0 => 16,
        1 => 8,
        2 => 2,
        _ => 0,
    }
}

/// Chosen encoding of one address.
struct AddrCode {
    /// SAC/DAC.
    stateful: bool,
    /// SAM/DAM.
    mode: u8,
    cid: u8,
    inline: [u8; 16],
    inline_len: usize,
}

fn inline_for(a: &[u8; 16], mode: u8) -> ([u8; 16], usize) {
    let n = inline_len(mode);
    let mut buf = [0u8; 16];
    buf[..n].copy_from_slice(&a[16 - n..]);
    (buf, n)
}

fn encode_unicast(ctx: &ContextTable, a: &[u8; 16], ll: Address, is_src: bool) -> AddrCode {
    if is_src && *a == [0u8; 16] {
        return AddrCode {
            stateful: true,
            mode: 0,
            cid: 0,
            inline: [0; 16],
            inline_len: 0,
        };
    }
    let link_local = a[..8] == [0xfe, 0x80, 0, 0, 0, 0, 0, 0];
    for mode in [3u8, 2, 1] {
        let (inline, n) = inline_for(a, mode);
        if link_local
            && rebuild_unicast(PrefixSource::LinkLocal, mode, &inline[..n], ll).ok() == Some(*a)
        {
            return AddrCode {
                stateful: false,
                mode,
                cid: 0,
                inline,
                inline_len: n,
            };
        }
        for (cid, c) in ctx.usable() {
            if rebuild_unicast(PrefixSource::Context(c), mode, &inline[..n], ll).ok() == Some(*a) {
                return AddrCode {
                    stateful: true,
                    mode,
                    cid,
                    inline,
                    inline_len: n,
                };
            }
        }
    }
    AddrCode {
        stateful: false,
        mode: 0,
        cid: 0,
        inline: *a,
        inline_len: 16,
    }
}

/// Rebuilds a stateless multicast address (M=1, DAC=0) from its inline bytes.
fn rebuild_multicast(mode: u8, inline: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    match mode {
        0 => a.copy_from_slice(&inline[..16]),
        1 => {
            a[0] = 0xff;
            a[1] = inline[0];
            a[11..].copy_from_slice(&inline[1..6]);
        }
        2 => {
            a[0] = 0xff;
            a[1] = inline[0];
            a[13..].copy_from_slice(&inline[1..4]);
        }
        _ => {
            a[0] = 0xff;
            a[1] = 0x02;
            a[15] = inline[0];
        }
    }
    a
}

fn multicast_inline_len(mode: u8) -> usize {
    match mode {
        0 => 16,
        1 => 6,
        2 => 4,
        _ => 1,
    }
}

/// RFC 3306 unicast-prefix-based multicast (DAC=1 M=1 DAM=00): ffXX:XXLL:PPPP..:XXXX:XXXX.
fn rebuild_multicast_prefix(c: &Context, inline: &[u8]) -> [u8; 16] {
    let plen = c.len.min(64);
    let p = Context {
        prefix: c.prefix,
        len: plen,
        compress: true,
    }
    .masked_prefix();
    let mut a = [0u8; 16];
    a[0] = 0xff;
    a[1] = inline[0];
    a[2] = inline[1];
    a[3] = plen;
    a[4..12].copy_from_slice(&p[..8]);
    a[12..].copy_from_slice(&inline[2..6]);
    a
}

fn encode_multicast(ctx: &ContextTable, a: &[u8; 16]) -> AddrCode {
    for mode in [3u8, 2, 1] {
        let n = multicast_inline_len(mode);
        let mut inline = [0u8; 16];
        match mode {
            3 => inline[0] = a[15],
            2 => {
                inline[0] = a[1];
                inline[1..4].copy_from_slice(&a[13..]);
            }
            _ => {
                inline[0] = a[1];
                inline[1..6].copy_from_slice(&a[11..]);
            }
        }
        if rebuild_multicast(mode, &inline[..n]) == *a {
            return AddrCode {
                stateful: false,
                mode,
                cid: 0,
                inline,
                inline_len: n,
            };
        }
    }
    let mut inline = [0u8; 16];
    inline[0] = a[1];
    inline[1] = a[2];
    inline[2..6].copy_from_slice(&a[12..]);
    for (cid, c) in ctx.usable() {
        if rebuild_multicast_prefix(c, &inline[..6]) == *a {
            return AddrCode {
                stateful: true,
                mode: 0,
                cid,
                inline,
                inline_len: 6,
            };
        }
    }
    AddrCode {
        stateful: false,
        mode: 0,
        cid: 0,
        inline: *a,
        inline_len: 16,
    }
}

/// Compresses the IPv6 header of `packet`, with the extension headers, tunnelled IPv6
/// headers and UDP header that follow it as far as NHC can carry them, and appends the
/// compressed header to `out`. Returns how many bytes of `packet` it stands for; the caller
/// sends `packet[n..]` after it.
pub fn compress(
    ctx: &ContextTable,
    links: &LinkAddrs,
    packet: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, CompressError> {
    compress_with_nhc_limit(ctx, links, packet, out, MAX_NHC_HEADERS)
}

/// [`compress`], with at most `max_nhc_headers` extension headers or tunnelled IPv6
/// headers carried as NHC (the UDP header is compressed regardless). With 0 the
/// extension headers travel inline after the IPHC header, which keeps the compressed
/// header short enough for a small first fragment.
pub fn compress_with_nhc_limit(
    ctx: &ContextTable,
    links: &LinkAddrs,
    packet: &[u8],
    out: &mut Vec<u8>,
    max_nhc_headers: usize,
) -> Result<usize, CompressError> {
    let p = Ipv6Packet::new_checked(packet).map_err(|_| CompressError::Malformed)?;
    if !p.is_exact() {
        return Err(CompressError::Malformed);
    }
    let mut budget = max_nhc_headers.min(MAX_NHC_HEADERS);
    Ok(compress_iphc(ctx, links, packet, out, &mut budget, 0))
}

/// One IPHC header for the exact IPv6 packet `packet`, then its NHC chain.
fn compress_iphc(
    ctx: &ContextTable,
    links: &LinkAddrs,
    packet: &[u8],
    out: &mut Vec<u8>,
    budget: &mut usize,
    depth: usize,
) -> usize {
    let p = Ipv6Packet::new_unchecked(packet);
    let tc = p.traffic_class();
    let fl = p.flow_label();
    let (ecn, dscp) = (tc & 0x03, tc >> 2);
    let mut b0 = DISPATCH;
    let mut b1 = 0u8;

    let (tf, tf_bytes, tf_len): (u8, [u8; 4], usize) = if fl == 0 && tc == 0 {
        (3, [0; 4], 0)
    } else if fl == 0 {
        (2, [(ecn << 6) | dscp, 0, 0, 0], 1)
    } else if dscp == 0 {
        (
            1,
            [(ecn << 6) | (fl >> 16) as u8, (fl >> 8) as u8, fl as u8, 0],
            3,
        )
    } else {
        (
            0,
            [
                (ecn << 6) | dscp,
                (fl >> 16) as u8,
                (fl >> 8) as u8,
                fl as u8,
            ],
            4,
        )
    };
    b0 |= tf << TF_SHIFT;

    let payload = &packet[IPV6_HEADER_LEN..];
    let nhc = nhc_compressible(p.next_header(), payload, *budget, depth);
    if nhc {
        b0 |= NH_BIT;
    }

    let hlim = match p.hop_limit() {
        1 => 1,
        64 => 2,
        255 => 3,
        _ => 0,
    };
    b0 |= hlim;

    let src = encode_unicast(ctx, &p.src_addr().octets(), links.src, true);
    let dst_octets = p.dst_addr().octets();
    let dst = if dst_octets[0] == 0xff {
        b1 |= M_BIT;
        encode_multicast(ctx, &dst_octets)
    } else {
        encode_unicast(ctx, &dst_octets, links.dst, false)
    };
    if src.stateful {
        b1 |= SAC_BIT;
    }
    b1 |= src.mode << SAM_SHIFT;
    if dst.stateful {
        b1 |= DAC_BIT;
    }
    b1 |= dst.mode;
    let need_cid = src.cid != 0 || dst.cid != 0;
    if need_cid {
        b1 |= CID_BIT;
    }

    out.reserve(2 + 1 + 4 + 2 + 32 + 7);
    out.push(b0);
    out.push(b1);
    if need_cid {
        out.push((src.cid << 4) | dst.cid);
    }
    out.extend_from_slice(&tf_bytes[..tf_len]);
    if !nhc {
        out.push(p.next_header());
    }
    if hlim == 0 {
        out.push(p.hop_limit());
    }
    out.extend_from_slice(&src.inline[..src.inline_len]);
    out.extend_from_slice(&dst.inline[..dst.inline_len]);
    if !nhc {
        return IPV6_HEADER_LEN;
    }
    IPV6_HEADER_LEN + compress_nhc(ctx, links, p.next_header(), payload, out, budget, depth)
}

/// Whether the header `nh` at the start of `rest` (which runs to the end of the packet) can
/// be carried by an NHC within the remaining header `budget`.
fn nhc_compressible(nh: u8, rest: &[u8], budget: usize, depth: usize) -> bool {
    match nh {
        next_header::UDP => {
            UdpPacket::new_checked(rest).is_ok_and(|u| usize::from(u.len()) == rest.len())
        }
        next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTS => {
            budget > 0 && extension_body(nh, rest).is_some()
        }
        next_header::FRAGMENT => budget > 0 && rest.len() >= 8 && rest[1] == 0,
        next_header::IPV6 => {
            budget > 0
                && depth < MAX_TUNNEL_DEPTH
                && Ipv6Packet::new_checked(rest).is_ok_and(|p| p.is_exact())
        }
        _ => false,
    }
}

/// The bytes an extension-header NHC carries for the Hop-by-Hop, Routing or Destination
/// Options header at the start of `rest` (everything after Next Header and Hdr Ext Len,
/// minus a trailing pad option the decompressor rebuilds), and the header's length.
fn extension_body(nh: u8, rest: &[u8]) -> Option<(&[u8], usize)> {
    let total = (usize::from(*rest.get(1)?) + 1) * 8;
    let body = rest.get(2..total)?;
    if nh == next_header::ROUTING {
        return (body.len() <= 255).then_some((body, total));
    }
    // Find where the last option starts; a malformed option list is carried as it is.
    let mut at = 0;
    let mut last = None;
    while at < body.len() {
        last = Some(at);
        at += match body[at] {
            PAD1 => 1,
            _ => 2 + usize::from(*body.get(at + 1).unwrap_or(&0xff)),
        };
    }
    if let Some(last) = last.filter(|&l| at == body.len() && matches!(body[l], PAD1 | PADN)) {
        let kept = &body[..last];
        if rebuilt_padding(kept.len()).as_deref() == Some(&body[last..]) {
            return Some((kept, total));
        }
    }
    (body.len() <= 255).then_some((body, total))
}

/// The padding the decompressor appends after `carried` bytes of an options header body,
/// if it fits one byte of length.
fn rebuilt_padding(carried: usize) -> Option<Vec<u8>> {
    if carried > 255 {
        return None;
    }
    let pad = (2 + carried).next_multiple_of(8) - 2 - carried;
    Some(match pad {
        0 => Vec::new(),
        1 => vec![PAD1],
        n => {
            let mut v = vec![0u8; n];
            v[0] = PADN;
            v[1] = (n - 2) as u8;
            v
        }
    })
}

/// Writes the NHC for the header `nh` at the start of `rest` (checked compressible) and the
/// NHCs after it; returns the uncompressed bytes they stand for.
fn compress_nhc(
    ctx: &ContextTable,
    links: &LinkAddrs,
    nh: u8,
    rest: &[u8],
    out: &mut Vec<u8>,
    budget: &mut usize,
    depth: usize,
) -> usize {
    if nh == next_header::UDP {
        let u = UdpPacket::new_unchecked(rest);
        compress_udp(u.src_port(), u.dst_port(), u.checksum(), out);
        return UDP_HEADER_LEN;
    }
    *budget -= 1;
    if nh == next_header::IPV6 {
        out.push(NHC_EXT | (EID_IPV6 << 1));
        return compress_iphc(ctx, links, rest, out, budget, depth + 1);
    }
    let (eid, body, total) = match nh {
        next_header::FRAGMENT => (EID_FRAGMENT, &rest[2..8], 8),
        _ => {
            let Some((body, total)) = extension_body(nh, rest) else {
                return 0;
            };
            let eid = match nh {
                next_header::HOP_BY_HOP => EID_HOP_BY_HOP,
                next_header::ROUTING => EID_ROUTING,
                _ => EID_DEST_OPTS,
            };
            (eid, body, total)
        }
    };
    let next = rest[0];
    let after = &rest[total..];
    let next_compressed = nhc_compressible(next, after, *budget, depth);
    out.push(NHC_EXT | (eid << 1) | u8::from(next_compressed));
    if !next_compressed {
        out.push(next);
    }
    out.push(body.len() as u8);
    out.extend_from_slice(body);
    if !next_compressed {
        return total;
    }
    total + compress_nhc(ctx, links, next, after, out, budget, depth)
}

fn compress_udp(sp: u16, dp: u16, checksum: u16, out: &mut Vec<u8>) {
    let four = |x: u16| x & 0xfff0 == PORT_4BIT_BASE;
    let eight = |x: u16| x & 0xff00 == PORT_8BIT_BASE;
    if four(sp) && four(dp) {
        out.push(NHC_UDP | 0b11);
        out.push((((sp & 0x0f) as u8) << 4) | (dp & 0x0f) as u8);
    } else if eight(dp) {
        out.push(NHC_UDP | 0b01);
        out.extend_from_slice(&sp.to_be_bytes());
        out.push(dp as u8);
    } else if eight(sp) {
        out.push(NHC_UDP | 0b10);
        out.push(sp as u8);
        out.extend_from_slice(&dp.to_be_bytes());
    } else {
        out.push(NHC_UDP);
        out.extend_from_slice(&sp.to_be_bytes());
        out.extend_from_slice(&dp.to_be_bytes());
    }
    out.extend_from_slice(&checksum.to_be_bytes());
}

/// Bounds-checked reader over the inline fields.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IphcError> {
        let end = self.at.checked_add(n).ok_or(IphcError::Truncated)?;
        let s = self.data.get(self.at..end).ok_or(IphcError::Truncated)?;
        self.at = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, IphcError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, IphcError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
}

fn context(ctx: &ContextTable, cid: u8) -> Result<&Context, IphcError> {
    ctx.get(cid).ok_or(IphcError::BadContext(cid))
}

/// Expands the IPHC header at the start of `data` (which begins with the IPHC dispatch),
/// with the NHC headers that follow it. Returns the uncompressed headers and the number of
/// compressed bytes consumed; the rest of `data` is the payload that follows them.
pub fn decompress(
    ctx: &ContextTable,
    links: &LinkAddrs,
    data: &[u8],
) -> Result<(Expanded, usize), IphcError> {
    let mut r = Reader { data, at: 0 };
    let mut out = Expanded::default();
    let mut budget = MAX_NHC_HEADERS;
    expand_iphc(ctx, links, &mut r, &mut out, &mut budget, 0)?;
    Ok((out, r.at))
}

/// One IPHC header (and its NHC chain) appended to `out.header`.
fn expand_iphc(
    ctx: &ContextTable,
    links: &LinkAddrs,
    r: &mut Reader<'_>,
    out: &mut Expanded,
    budget: &mut usize,
    depth: usize,
) -> Result<(), IphcError> {
    let b0 = r.byte()?;
    if b0 & DISPATCH_MASK != DISPATCH {
        return Err(IphcError::NotIphc);
    }
    let b1 = r.byte()?;
    let (sci, dci) = if b1 & CID_BIT != 0 {
        let c = r.byte()?;
        (c >> 4, c & 0x0f)
    } else {
        (0, 0)
    };

    let (traffic_class, flow_label) = match (b0 >> TF_SHIFT) & 0x3 {
        0 => {
            let s = r.take(4)?;
            // Inline order is ECN then DSCP; IPv6 order is DSCP then ECN.
            let tc = s[0].rotate_left(2);
            let fl = (u32::from(s[1] & 0x0f) << 16) | (u32::from(s[2]) << 8) | u32::from(s[3]);
            (tc, fl)
        }
        1 => {
            let s = r.take(3)?;
            let tc = s[0] >> 6;
            let fl = (u32::from(s[0] & 0x0f) << 16) | (u32::from(s[1]) << 8) | u32::from(s[2]);
            (tc, fl)
        }
        2 => {
            let s = r.byte()?;
            (s.rotate_left(2), 0)
        }
        _ => (0, 0),
    };

    let nh_compressed = b0 & NH_BIT != 0;
    let inline_nh = if nh_compressed { None } else { Some(r.byte()?) };
    let hop_limit = match b0 & 0x3 {
        0 => r.byte()?,
        1 => 1,
        2 => 64,
        _ => 255,
    };

    // Source.
    let sam = (b1 >> SAM_SHIFT) & 0x3;
    let src = if b1 & SAC_BIT != 0 {
        if sam == 0 {
            [0u8; 16]
        } else {
            let c = context(ctx, sci)?;
            let inline = r.take(inline_len(sam))?;
            rebuild_unicast(PrefixSource::Context(c), sam, inline, links.src)?
        }
    } else if sam == 0 {
        let mut a = [0u8; 16];
        a.copy_from_slice(r.take(16)?);
        a
    } else {
        let inline = r.take(inline_len(sam))?;
        rebuild_unicast(PrefixSource::LinkLocal, sam, inline, links.src)?
    };

    // Destination.
    let dam = b1 & 0x3;
    let multicast = b1 & M_BIT != 0;
    let dac = b1 & DAC_BIT != 0;
    let dst = match (multicast, dac) {
        (true, false) => rebuild_multicast(dam, r.take(multicast_inline_len(dam))?),
        (true, true) => {
            if dam != 0 {
                return Err(IphcError::ReservedMode);
            }
            let c = context(ctx, dci)?;
            rebuild_multicast_prefix(c, r.take(6)?)
        }
        (false, true) => {
            if dam == 0 {
                return Err(IphcError::ReservedMode);
            }
            let c = context(ctx, dci)?;
            rebuild_unicast(
                PrefixSource::Context(c),
                dam,
                r.take(inline_len(dam))?,
                links.dst,
            )?
        }
        (false, false) => {
            if dam == 0 {
                let mut a = [0u8; 16];
                a.copy_from_slice(r.take(16)?);
                a
            } else {
                rebuild_unicast(
                    PrefixSource::LinkLocal,
                    dam,
                    r.take(inline_len(dam))?,
                    links.dst,
                )?
            }
        }
    };

    let at = out.header.len();
    out.ipv6_at.push(at);
    out.header.resize(at + IPV6_HEADER_LEN, 0);
    let mut p = Ipv6Packet::new_unchecked(&mut out.header[at..]);
    p.set_version_tc_flow(traffic_class, flow_label);
    p.set_hop_limit(hop_limit);
    p.set_src_addr(Ipv6Addr::from(src));
    p.set_dst_addr(Ipv6Addr::from(dst));
    match inline_nh {
        Some(nh) => {
            p.set_next_header(nh);
            Ok(())
        }
        None => {
            let nh = peek_nhc_protocol(r)?;
            p.set_next_header(nh);
            expand_nhc_chain(ctx, links, r, out, budget, depth)
        }
    }
}

/// The protocol the NHC at the reader's position stands for, without consuming it.
fn peek_nhc_protocol(r: &Reader<'_>) -> Result<u8, IphcError> {
    let b = *r.data.get(r.at).ok_or(IphcError::Truncated)?;
    if b & NHC_UDP_MASK == NHC_UDP {
        return Ok(next_header::UDP);
    }
    if b & NHC_EXT_MASK == NHC_EXT {
        return match (b >> 1) & 0x7 {
            EID_HOP_BY_HOP => Ok(next_header::HOP_BY_HOP),
            EID_ROUTING => Ok(next_header::ROUTING),
            EID_FRAGMENT => Ok(next_header::FRAGMENT),
            EID_DEST_OPTS => Ok(next_header::DEST_OPTS),
            EID_IPV6 => Ok(next_header::IPV6),
            _ => Err(IphcError::UnsupportedNhc(b)),
        };
    }
    Err(IphcError::UnsupportedNhc(b))
}

/// The NHC headers from the reader's position up to the first one whose next header is
/// carried inline (or a UDP NHC, or a tunnelled IPHC).
fn expand_nhc_chain(
    ctx: &ContextTable,
    links: &LinkAddrs,
    r: &mut Reader<'_>,
    out: &mut Expanded,
    budget: &mut usize,
    depth: usize,
) -> Result<(), IphcError> {
    loop {
        let nhc = r.byte()?;
        if nhc & NHC_UDP_MASK == NHC_UDP {
            let (src_port, dst_port) = match nhc & 0x3 {
                0 => (r.u16()?, r.u16()?),
                1 => (r.u16()?, PORT_8BIT_BASE | u16::from(r.byte()?)),
                2 => (PORT_8BIT_BASE | u16::from(r.byte()?), r.u16()?),
                _ => {
                    let b = r.byte()?;
                    (
                        PORT_4BIT_BASE | u16::from(b >> 4),
                        PORT_4BIT_BASE | u16::from(b & 0x0f),
                    )
                }
            };
            let checksum = if nhc & NHC_UDP_C != 0 {
                None
            } else {
                Some(r.u16()?)
            };
            let at = out.header.len();
            out.header.resize(at + UDP_HEADER_LEN, 0);
            let mut d = UdpPacket::new_unchecked(&mut out.header[at..]);
            d.set_src_port(src_port);
            d.set_dst_port(dst_port);
            d.set_checksum(checksum.unwrap_or(0));
            out.udp_at = Some(at);
            out.udp_checksum_elided = checksum.is_none();
            return Ok(());
        }
        if nhc & NHC_EXT_MASK != NHC_EXT {
            return Err(IphcError::UnsupportedNhc(nhc));
        }
        *budget = budget.checked_sub(1).ok_or(IphcError::TooManyHeaders)?;
        let eid = (nhc >> 1) & 0x7;
        let next_compressed = nhc & NHC_EXT_NH != 0;
        if eid == EID_IPV6 {
            if next_compressed {
                return Err(IphcError::BadExtension);
            }
            if depth + 1 > MAX_TUNNEL_DEPTH {
                return Err(IphcError::TooManyHeaders);
            }
            return expand_iphc(ctx, links, r, out, budget, depth + 1);
        }
        if !matches!(
            eid,
            EID_HOP_BY_HOP | EID_ROUTING | EID_FRAGMENT | EID_DEST_OPTS
        ) {
            return Err(IphcError::UnsupportedNhc(nhc));
        }
        let inline_nh = if next_compressed {
            None
        } else {
            Some(r.byte()?)
        };
        let len = r.byte()?;
        let body = r.take(usize::from(len))?;
        let nh = match inline_nh {
            Some(nh) => nh,
            None => peek_nhc_protocol(r)?,
        };
        let at = out.header.len();
        if eid == EID_FRAGMENT {
            if len != 6 {
                return Err(IphcError::BadExtension);
            }
            out.header.extend_from_slice(&[nh, 0]);
            out.header.extend_from_slice(body);
        } else {
            let total = (2 + usize::from(len)).next_multiple_of(8);
            let pad = total - 2 - usize::from(len);
            if pad != 0 && eid == EID_ROUTING {
                return Err(IphcError::BadExtension);
            }
            out.header.extend_from_slice(&[nh, (total / 8 - 1) as u8]);
            out.header.extend_from_slice(body);
            match pad {
                0 => {}
                1 => out.header.push(PAD1),
                n => {
                    out.header.extend_from_slice(&[PADN, (n - 2) as u8]);
                    out.header.resize(at + total, 0);
                }
            }
        }
        if inline_nh.is_some() {
            return Ok(());
        }
    }
}

/// Decompresses a whole unfragmented IPHC payload into an IPv6 packet.
pub fn decompress_packet(
    ctx: &ContextTable,
    links: &LinkAddrs,
    data: &[u8],
) -> Result<Vec<u8>, IphcError> {
    let (expanded, used) = decompress(ctx, links, data)?;
    assemble_packet(expanded, &data[used..])
}

/// The whole IPv6 packet of an unfragmented payload: the expanded headers, with the
/// lengths they left open set, then the inline rest of the payload.
pub(crate) fn assemble_packet(mut expanded: Expanded, rest: &[u8]) -> Result<Vec<u8>, IphcError> {
    let hl = expanded.len();
    expanded.set_datagram_size(hl + rest.len())?;
    let mut out = Vec::with_capacity(hl + rest.len());
    out.extend_from_slice(expanded.header());
    out.extend_from_slice(rest);
    if expanded.udp_checksum_elided {
        fill_elided_udp_checksum(&mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
