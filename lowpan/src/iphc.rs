//! RFC 6282 IPHC header compression with the UDP NHC.
//!
//! Compression picks, per field, the shortest encoding that decompresses to exactly the
//! original bytes: for addresses every candidate mode is rebuilt with the same function the
//! decoder uses and compared, so compress/decompress cannot drift apart. The UDP checksum is
//! always carried inline (C = 0); a received C = 1 is accepted and the checksum recomputed
//! once the whole datagram is known. The UDP length is always elided and re-derived from
//! the IPv6 payload length, so UDP is only compressed when its length field agrees with it.
//! IPv6 extension-header NHC is not encoded; receiving it gives
//! [`IphcError::UnsupportedNhc`].

use crate::LinkAddrs;
use crate::ieee802154::Address;
use crate::ip::{self, IPV6_HEADER_LEN, Ipv6Packet, UDP_HEADER_LEN, UdpPacket, next_header};
use core::fmt;
use std::net::Ipv6Addr;

/// First three bits of an IPHC dispatch.
pub const DISPATCH_MASK: u8 = 0b1110_0000;
pub const DISPATCH: u8 = 0b0110_0000;

/// Largest uncompressed header this codec produces (IPv6 + UDP).
pub const MAX_UNCOMPRESSED_HEADER: usize = IPV6_HEADER_LEN + UDP_HEADER_LEN;

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
    /// Next-header compression other than UDP.
    UnsupportedNhc(u8),
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
        t.entries[0] = Some(Context { prefix, len: len.min(128), compress: true });
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

/// UDP header fields carried by the UDP NHC (the length is always derived).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UdpNhcRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// `None`: elided by the sender (C = 1); must be recomputed over the whole datagram.
    pub checksum: Option<u16>,
}

/// The IPv6 (and UDP) header fields a compressed header stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IpHeaderRepr {
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    /// Present when the next header was compressed with the UDP NHC.
    pub udp: Option<UdpNhcRepr>,
}

impl IpHeaderRepr {
    /// Bytes of uncompressed header this stands for: 40, or 48 with UDP.
    pub fn uncompressed_len(&self) -> usize {
        IPV6_HEADER_LEN + if self.udp.is_some() { UDP_HEADER_LEN } else { 0 }
    }

    /// Writes the uncompressed header into `out[..uncompressed_len()]` for a datagram whose
    /// IPv6 payload is `payload_len` bytes. The UDP length is `payload_len`; an elided UDP
    /// checksum is written as 0 (see [`fill_elided_udp_checksum`]).
    pub fn emit_uncompressed(&self, payload_len: u16, out: &mut [u8]) {
        let mut p = Ipv6Packet::new_unchecked(&mut out[..IPV6_HEADER_LEN]);
        p.set_version_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(payload_len);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        if let Some(u) = self.udp {
            let mut d = UdpPacket::new_unchecked(&mut out[IPV6_HEADER_LEN..MAX_UNCOMPRESSED_HEADER]);
            d.set_src_port(u.src_port);
            d.set_dst_port(u.dst_port);
            d.set_len(payload_len);
            d.set_checksum(u.checksum.unwrap_or(0));
        }
    }
}

/// Computes the UDP checksum of a complete IPv6 packet whose UDP header directly follows the
/// fixed header (what the UDP NHC produced). Does nothing for anything else.
pub fn fill_elided_udp_checksum(packet: &mut [u8]) {
    let Ok(p) = Ipv6Packet::new_checked(&packet[..]) else { return };
    if p.next_header() != next_header::UDP || p.payload().len() < UDP_HEADER_LEN {
        return;
    }
    let (src, dst) = (p.src_addr(), p.dst_addr());
    let end = IPV6_HEADER_LEN + usize::from(p.payload_len());
    let c = ip::udp_checksum(&src, &dst, &packet[IPV6_HEADER_LEN..end]);
    packet[IPV6_HEADER_LEN + 6..IPV6_HEADER_LEN + 8].copy_from_slice(&c.to_be_bytes());
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
        return AddrCode { stateful: true, mode: 0, cid: 0, inline: [0; 16], inline_len: 0 };
    }
    let link_local = a[..8] == [0xfe, 0x80, 0, 0, 0, 0, 0, 0];
    for mode in [3u8, 2, 1] {
        let (inline, n) = inline_for(a, mode);
        if link_local
            && rebuild_unicast(PrefixSource::LinkLocal, mode, &inline[..n], ll).ok() == Some(*a)
        {
            return AddrCode { stateful: false, mode, cid: 0, inline, inline_len: n };
        }
        for (cid, c) in ctx.usable() {
            if rebuild_unicast(PrefixSource::Context(c), mode, &inline[..n], ll).ok() == Some(*a) {
                return AddrCode { stateful: true, mode, cid, inline, inline_len: n };
            }
        }
    }
    AddrCode { stateful: false, mode: 0, cid: 0, inline: *a, inline_len: 16 }
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
    let p = Context { prefix: c.prefix, len: plen, compress: true }.masked_prefix();
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
            return AddrCode { stateful: false, mode, cid: 0, inline, inline_len: n };
        }
    }
    let mut inline = [0u8; 16];
    inline[0] = a[1];
    inline[1] = a[2];
    inline[2..6].copy_from_slice(&a[12..]);
    for (cid, c) in ctx.usable() {
        if rebuild_multicast_prefix(c, &inline[..6]) == *a {
            return AddrCode { stateful: true, mode: 0, cid, inline, inline_len: 6 };
        }
    }
    AddrCode { stateful: false, mode: 0, cid: 0, inline: *a, inline_len: 16 }
}

/// Compresses the IPv6 header (and a UDP header right after it) of `packet` and appends the
/// compressed header to `out`. Returns how many bytes of `packet` it stands for (40 or 48);
/// the caller sends `packet[n..]` after it.
pub fn compress(
    ctx: &ContextTable,
    links: &LinkAddrs,
    packet: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, CompressError> {
    let p = Ipv6Packet::new_checked(packet).map_err(|_| CompressError::Malformed)?;
    if p.packet().len() != packet.len() {
        return Err(CompressError::Malformed);
    }
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
        (1, [(ecn << 6) | (fl >> 16) as u8, (fl >> 8) as u8, fl as u8, 0], 3)
    } else {
        (0, [(ecn << 6) | dscp, (fl >> 16) as u8, (fl >> 8) as u8, fl as u8], 4)
    };
    b0 |= tf << TF_SHIFT;

    let payload = p.payload();
    let udp = (p.next_header() == next_header::UDP)
        .then(|| UdpPacket::new_checked(payload).ok())
        .flatten()
        .filter(|u| usize::from(u.len()) == payload.len());
    if udp.is_some() {
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
    if udp.is_none() {
        out.push(p.next_header());
    }
    if hlim == 0 {
        out.push(p.hop_limit());
    }
    out.extend_from_slice(&src.inline[..src.inline_len]);
    out.extend_from_slice(&dst.inline[..dst.inline_len]);

    let Some(u) = udp else { return Ok(IPV6_HEADER_LEN) };
    let (sp, dp) = (u.src_port(), u.dst_port());
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
    out.extend_from_slice(&u.checksum().to_be_bytes());
    Ok(IPV6_HEADER_LEN + UDP_HEADER_LEN)
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

/// Expands the IPHC header at the start of `data` (which begins with the IPHC dispatch).
/// Returns the header fields and the number of compressed bytes consumed; the rest of
/// `data` is the payload that follows the uncompressed header.
pub fn decompress(
    ctx: &ContextTable,
    links: &LinkAddrs,
    data: &[u8],
) -> Result<(IpHeaderRepr, usize), IphcError> {
    let mut r = Reader { data, at: 0 };
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
            rebuild_unicast(PrefixSource::Context(c), dam, r.take(inline_len(dam))?, links.dst)?
        }
        (false, false) => {
            if dam == 0 {
                let mut a = [0u8; 16];
                a.copy_from_slice(r.take(16)?);
                a
            } else {
                rebuild_unicast(PrefixSource::LinkLocal, dam, r.take(inline_len(dam))?, links.dst)?
            }
        }
    };

    let (next_header, udp) = match inline_nh {
        Some(nh) => (nh, None),
        None => {
            let nhc = r.byte()?;
            if nhc & NHC_UDP_MASK != NHC_UDP {
                return Err(IphcError::UnsupportedNhc(nhc));
            }
            let (src_port, dst_port) = match nhc & 0x3 {
                0 => (r.u16()?, r.u16()?),
                1 => (r.u16()?, PORT_8BIT_BASE | u16::from(r.byte()?)),
                2 => (PORT_8BIT_BASE | u16::from(r.byte()?), r.u16()?),
                _ => {
                    let b = r.byte()?;
                    (PORT_4BIT_BASE | u16::from(b >> 4), PORT_4BIT_BASE | u16::from(b & 0x0f))
                }
            };
            let checksum = if nhc & NHC_UDP_C != 0 { None } else { Some(r.u16()?) };
            (next_header::UDP, Some(UdpNhcRepr { src_port, dst_port, checksum }))
        }
    };

    let repr = IpHeaderRepr {
        traffic_class,
        flow_label,
        next_header,
        hop_limit,
        src_addr: Ipv6Addr::from(src),
        dst_addr: Ipv6Addr::from(dst),
        udp,
    };
    Ok((repr, r.at))
}

/// Decompresses a whole unfragmented IPHC payload into an IPv6 packet.
pub fn decompress_packet(
    ctx: &ContextTable,
    links: &LinkAddrs,
    data: &[u8],
) -> Result<Vec<u8>, IphcError> {
    let (repr, used) = decompress(ctx, links, data)?;
    let rest = &data[used..];
    let hl = repr.uncompressed_len();
    let payload_len = hl - IPV6_HEADER_LEN + rest.len();
    let payload_len = u16::try_from(payload_len).map_err(|_| IphcError::Truncated)?;
    let mut out = vec![0u8; hl + rest.len()];
    repr.emit_uncompressed(payload_len, &mut out);
    out[hl..].copy_from_slice(rest);
    if matches!(repr.udp, Some(UdpNhcRepr { checksum: None, .. })) {
        fill_elided_udp_checksum(&mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
