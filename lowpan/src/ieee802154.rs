//! IEEE 802.15.4 MAC frames (2003 and 2006 layouts) without the FCS, and the FCS itself.
//!
//! Decisions that callers should know:
//! - Frame version 2 (802.15.4-2015) and the reserved version 3 are **rejected** with
//!   [`Error::UnsupportedVersion`]: their PAN-ID-compression table, sequence-number
//!   suppression and information elements change the header layout, and guessing a layout
//!   would hand wrong addresses to 6LoWPAN.
//! - Frames with the security bit set parse as a view (addresses are readable), but
//!   [`FrameRepr::parse`] returns [`Error::SecurityNotSupported`]: we never interpret the
//!   auxiliary security header or a MIC.
//! - Extended addresses are stored in canonical (printed) byte order in [`Eui64`]; on air they
//!   are little-endian, and this module reverses them on read and emit.

use core::fmt;
use core::str::FromStr;

/// Largest PHY payload (PSDU) of 802.15.4 at 2.4 GHz, FCS included.
pub const MAX_PSDU: usize = 127;
/// Length of the frame check sequence.
pub const FCS_LEN: usize = 2;
/// Largest MAC frame without its FCS.
pub const MAX_FRAME_NO_FCS: usize = MAX_PSDU - FCS_LEN;

/// Why a frame could not be read. `as_str` names are stable (used for drop counters).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Error {
    /// Shorter than its frame control field says.
    Truncated,
    /// Longer than [`MAX_FRAME_NO_FCS`] (or the payload does not fit a frame).
    TooLong,
    /// Address mode 1 (reserved).
    ReservedAddressMode,
    /// PAN ID compression set without both addresses (not valid in 2003/2006).
    BadPanIdCompression,
    /// Frame version 2 (2015) or 3 (reserved); see the module documentation.
    UnsupportedVersion(u8),
    /// Security enabled frame: header readable, contents not.
    SecurityNotSupported,
    /// FCS mismatch (only from [`check_fcs`]).
    BadFcs,
}

impl Error {
    /// Stable name for counters and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Error::Truncated => "mac_truncated",
            Error::TooLong => "mac_too_long",
            Error::ReservedAddressMode => "mac_reserved_addr_mode",
            Error::BadPanIdCompression => "mac_bad_pan_id_compression",
            Error::UnsupportedVersion(_) => "mac_unsupported_version",
            Error::SecurityNotSupported => "mac_security_not_supported",
            Error::BadFcs => "mac_bad_fcs",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnsupportedVersion(v) => write!(f, "802.15.4 frame version {v} not supported"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl std::error::Error for Error {}

/// An EUI-64 in canonical (printed, big-endian) order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Default)]
pub struct Eui64(pub [u8; 8]);

impl Eui64 {
    /// The bytes in the order 802.15.4 sends them (reversed).
    pub fn to_air(self) -> [u8; 8] {
        let mut b = self.0;
        b.reverse();
        b
    }

    /// From the order 802.15.4 sends them.
    pub fn from_air(bytes: [u8; 8]) -> Self {
        let mut b = bytes;
        b.reverse();
        Eui64(b)
    }
}

impl fmt::Display for Eui64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
        )
    }
}

/// Error from parsing an [`Eui64`] string.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ParseEui64Error;

impl fmt::Display for ParseEui64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected 8 hex bytes, e.g. 00:12:4b:00:00:00:00:01 or 00124b0000000001")
    }
}

impl std::error::Error for ParseEui64Error {}

impl FromStr for Eui64 {
    type Err = ParseEui64Error;

    /// Accepts `00:12:4b:00:00:00:00:01`, `00-12-4b-...` or 16 hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: Vec<u8> = s.bytes().filter(|c| *c != b':' && *c != b'-').collect();
        let separators = s.len() - digits.len();
        if digits.len() != 16 || (separators != 0 && separators != 7) {
            return Err(ParseEui64Error);
        }
        let mut out = [0u8; 8];
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16).ok_or(ParseEui64Error)?;
            let lo = (pair[1] as char).to_digit(16).ok_or(ParseEui64Error)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Ok(Eui64(out))
    }
}

/// A link-layer address as carried in a MAC header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Address {
    Absent,
    /// `Short(0xffff)` is the broadcast address.
    Short(u16),
    Extended(Eui64),
}

impl Address {
    pub const BROADCAST: Address = Address::Short(0xffff);

    pub fn is_broadcast(&self) -> bool {
        *self == Address::BROADCAST
    }

    pub fn is_absent(&self) -> bool {
        *self == Address::Absent
    }

    /// Address mode field value (0 absent, 2 short, 3 extended).
    fn mode(&self) -> u8 {
        match self {
            Address::Absent => 0,
            Address::Short(_) => 2,
            Address::Extended(_) => 3,
        }
    }

    /// Bytes on air.
    pub fn len(&self) -> usize {
        match self {
            Address::Absent => 0,
            Address::Short(_) => 2,
            Address::Extended(_) => 8,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Absent => f.write_str("-"),
            Address::Short(s) => write!(f, "{s:04x}"),
            Address::Extended(e) => e.fmt(f),
        }
    }
}

/// Frame type field (3 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FrameType {
    Beacon,
    Data,
    Ack,
    MacCommand,
    Unknown(u8),
}

impl From<u8> for FrameType {
    fn from(v: u8) -> Self {
        match v & 0x07 {
            0 => FrameType::Beacon,
            1 => FrameType::Data,
            2 => FrameType::Ack,
            3 => FrameType::MacCommand,
            other => FrameType::Unknown(other),
        }
    }
}

impl From<FrameType> for u8 {
    fn from(t: FrameType) -> u8 {
        match t {
            FrameType::Beacon => 0,
            FrameType::Data => 1,
            FrameType::Ack => 2,
            FrameType::MacCommand => 3,
            FrameType::Unknown(v) => v & 0x07,
        }
    }
}

/// Frame control field bits (little-endian u16).
mod fcf {
    pub const TYPE_MASK: u16 = 0x0007;
    pub const SECURITY: u16 = 1 << 3;
    pub const FRAME_PENDING: u16 = 1 << 4;
    pub const ACK_REQUEST: u16 = 1 << 5;
    pub const PAN_ID_COMPRESSION: u16 = 1 << 6;
    pub const DST_MODE_SHIFT: u16 = 10;
    pub const VERSION_SHIFT: u16 = 12;
    pub const SRC_MODE_SHIFT: u16 = 14;
}

mod field {
    pub const FCF: core::ops::Range<usize> = 0..2;
    pub const SEQ: usize = 2;
    /// First byte of the addressing fields.
    pub const ADDRESSING: usize = 3;
}

/// Where each addressing field sits, computed once from the frame control field.
#[derive(Clone, Copy, Debug)]
struct Layout {
    dst_pan: Option<usize>,
    dst_addr: (usize, u8),
    src_pan: Option<usize>,
    src_addr: (usize, u8),
    header_len: usize,
}

fn addr_len(mode: u8) -> usize {
    match mode {
        2 => 2,
        3 => 8,
        _ => 0,
    }
}

fn layout(fcf: u16) -> Result<Layout, Error> {
    let version = ((fcf >> fcf::VERSION_SHIFT) & 0x3) as u8;
    if version >= 2 {
        return Err(Error::UnsupportedVersion(version));
    }
    let dst_mode = ((fcf >> fcf::DST_MODE_SHIFT) & 0x3) as u8;
    let src_mode = ((fcf >> fcf::SRC_MODE_SHIFT) & 0x3) as u8;
    if dst_mode == 1 || src_mode == 1 {
        return Err(Error::ReservedAddressMode);
    }
    let compression = fcf & fcf::PAN_ID_COMPRESSION != 0;
    if compression && (dst_mode == 0 || src_mode == 0) {
        return Err(Error::BadPanIdCompression);
    }
    let mut at = field::ADDRESSING;
    let dst_pan = if dst_mode != 0 {
        at += 2;
        Some(at - 2)
    } else {
        None
    };
    let dst_addr = (at, dst_mode);
    at += addr_len(dst_mode);
    let src_pan = if src_mode != 0 && !compression {
        at += 2;
        Some(at - 2)
    } else {
        None
    };
    let src_addr = (at, src_mode);
    at += addr_len(src_mode);
    Ok(Layout {
        dst_pan,
        dst_addr,
        src_pan,
        src_addr,
        header_len: at,
    })
}

/// Zero-copy view of a MAC frame without FCS.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking; accessors may panic until `check_len` passed.
    pub fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Wraps a buffer and checks that its header is complete and readable.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks the header is complete, the layout known and the frame not over-long.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() > MAX_FRAME_NO_FCS {
            return Err(Error::TooLong);
        }
        if b.len() < field::ADDRESSING {
            return Err(Error::Truncated);
        }
        let l = layout(self.fcf())?;
        if b.len() < l.header_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn fcf(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_le_bytes([b[field::FCF.start], b[field::FCF.start + 1]])
    }

    /// Layout of a buffer that passed `check_len`; a default empty layout otherwise so that
    /// accessors on unchecked buffers degrade instead of computing garbage offsets.
    fn layout(&self) -> Layout {
        layout(self.fcf()).unwrap_or(Layout {
            dst_pan: None,
            dst_addr: (field::ADDRESSING, 0),
            src_pan: None,
            src_addr: (field::ADDRESSING, 0),
            header_len: field::ADDRESSING,
        })
    }

    pub fn frame_type(&self) -> FrameType {
        FrameType::from((self.fcf() & fcf::TYPE_MASK) as u8)
    }

    pub fn security_enabled(&self) -> bool {
        self.fcf() & fcf::SECURITY != 0
    }

    pub fn frame_pending(&self) -> bool {
        self.fcf() & fcf::FRAME_PENDING != 0
    }

    pub fn ack_request(&self) -> bool {
        self.fcf() & fcf::ACK_REQUEST != 0
    }

    pub fn pan_id_compression(&self) -> bool {
        self.fcf() & fcf::PAN_ID_COMPRESSION != 0
    }

    pub fn frame_version(&self) -> u8 {
        ((self.fcf() >> fcf::VERSION_SHIFT) & 0x3) as u8
    }

    pub fn sequence_number(&self) -> u8 {
        self.buffer.as_ref()[field::SEQ]
    }

    fn read_u16(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn read_addr(&self, (at, mode): (usize, u8)) -> Address {
        let b = self.buffer.as_ref();
        match mode {
            2 => Address::Short(self.read_u16(at)),
            3 => {
                let mut air = [0u8; 8];
                air.copy_from_slice(&b[at..at + 8]);
                Address::Extended(Eui64::from_air(air))
            }
            _ => Address::Absent,
        }
    }

    pub fn dst_pan_id(&self) -> Option<u16> {
        self.layout().dst_pan.map(|at| self.read_u16(at))
    }

    pub fn dst_addr(&self) -> Address {
        self.read_addr(self.layout().dst_addr)
    }

    /// Source PAN ID as carried; with PAN ID compression this is `None` (use the destination's).
    pub fn src_pan_id(&self) -> Option<u16> {
        self.layout().src_pan.map(|at| self.read_u16(at))
    }

    pub fn src_addr(&self) -> Address {
        self.read_addr(self.layout().src_addr)
    }

    /// MAC header length (without any auxiliary security header).
    pub fn header_len(&self) -> usize {
        self.layout().header_len
    }

    /// Everything after the MAC header. For a security-enabled frame this starts with the
    /// auxiliary security header, which we do not interpret.
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[self.header_len().min(b.len())..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    fn set_fcf(&mut self, v: u16) {
        self.buffer.as_mut()[field::FCF].copy_from_slice(&v.to_le_bytes());
    }

    pub fn set_sequence_number(&mut self, seq: u8) {
        self.buffer.as_mut()[field::SEQ] = seq;
    }

    fn write_u16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn write_addr(&mut self, at: usize, addr: Address) {
        match addr {
            Address::Absent => {}
            Address::Short(s) => self.write_u16(at, s),
            Address::Extended(e) => self.buffer.as_mut()[at..at + 8].copy_from_slice(&e.to_air()),
        }
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        let b = self.buffer.as_mut();
        let at = at.min(b.len());
        &mut b[at..]
    }
}

/// High-level description of a MAC header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FrameRepr {
    pub frame_type: FrameType,
    pub frame_pending: bool,
    pub ack_request: bool,
    pub pan_id_compression: bool,
    pub sequence_number: u8,
    pub dst_pan: Option<u16>,
    pub dst_addr: Address,
    pub src_pan: Option<u16>,
    pub src_addr: Address,
    /// 0 = 2003, 1 = 2006.
    pub version: u8,
}

impl FrameRepr {
    /// A 2006-format data frame header within one PAN (PAN ID compression when both
    /// addresses are present). The caller decides on `ack_request` (never for broadcast).
    pub fn data(pan: u16, src: Address, dst: Address, seq: u8, ack_request: bool) -> Self {
        let both = !src.is_absent() && !dst.is_absent();
        FrameRepr {
            frame_type: FrameType::Data,
            frame_pending: false,
            ack_request,
            pan_id_compression: both,
            sequence_number: seq,
            dst_pan: (!dst.is_absent()).then_some(pan),
            dst_addr: dst,
            src_pan: (!src.is_absent() && !both).then_some(pan),
            src_addr: src,
            version: 1,
        }
    }

    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Self, Error> {
        frame.check_len()?;
        if frame.security_enabled() {
            return Err(Error::SecurityNotSupported);
        }
        Ok(FrameRepr {
            frame_type: frame.frame_type(),
            frame_pending: frame.frame_pending(),
            ack_request: frame.ack_request(),
            pan_id_compression: frame.pan_id_compression(),
            sequence_number: frame.sequence_number(),
            dst_pan: frame.dst_pan_id(),
            dst_addr: frame.dst_addr(),
            src_pan: frame.src_pan_id(),
            src_addr: frame.src_addr(),
            version: frame.frame_version(),
        })
    }

    /// The PAN the source belongs to: its own PAN ID, or with PAN ID compression the
    /// destination's.
    pub fn effective_src_pan(&self) -> Option<u16> {
        if self.pan_id_compression {
            self.dst_pan
        } else {
            self.src_pan
        }
    }

    /// Whether PAN ID compression can really be applied (both addresses present).
    fn compress_pan(&self) -> bool {
        self.pan_id_compression && !self.dst_addr.is_absent() && !self.src_addr.is_absent()
    }

    pub fn buffer_len(&self) -> usize {
        let mut n = field::ADDRESSING;
        if !self.dst_addr.is_absent() {
            n += 2 + self.dst_addr.len();
        }
        if !self.src_addr.is_absent() {
            if !self.compress_pan() {
                n += 2;
            }
            n += self.src_addr.len();
        }
        n
    }

    /// Writes the header into `frame`, whose buffer must hold at least `buffer_len()` bytes.
    /// Every header byte is written (no reliance on a zeroed buffer). A missing PAN ID for a
    /// present address is written as 0xffff (broadcast PAN).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        let mut v = u16::from(u8::from(self.frame_type)) & fcf::TYPE_MASK;
        if self.frame_pending {
            v |= fcf::FRAME_PENDING;
        }
        if self.ack_request {
            v |= fcf::ACK_REQUEST;
        }
        let compress = self.compress_pan();
        if compress {
            v |= fcf::PAN_ID_COMPRESSION;
        }
        v |= u16::from(self.dst_addr.mode()) << fcf::DST_MODE_SHIFT;
        v |= u16::from(self.version & 0x3) << fcf::VERSION_SHIFT;
        v |= u16::from(self.src_addr.mode()) << fcf::SRC_MODE_SHIFT;
        frame.set_fcf(v);
        frame.set_sequence_number(self.sequence_number);
        let mut at = field::ADDRESSING;
        if !self.dst_addr.is_absent() {
            frame.write_u16(at, self.dst_pan.unwrap_or(0xffff));
            at += 2;
            frame.write_addr(at, self.dst_addr);
            at += self.dst_addr.len();
        }
        if !self.src_addr.is_absent() {
            if !compress {
                frame.write_u16(at, self.src_pan.or(self.dst_pan).unwrap_or(0xffff));
                at += 2;
            }
            frame.write_addr(at, self.src_addr);
        }
    }
}

/// Largest 6LoWPAN payload that fits one frame with this header (no security, FCS excluded).
pub fn max_frame_payload(repr: &FrameRepr) -> usize {
    MAX_FRAME_NO_FCS.saturating_sub(repr.buffer_len())
}

/// Header + payload into a Vec (no FCS). The caller keeps the payload within
/// [`max_frame_payload`]; use [`try_build_data_frame`] to have it checked.
pub fn build_data_frame(repr: &FrameRepr, payload: &[u8]) -> Vec<u8> {
    let hl = repr.buffer_len();
    let mut out = vec![0u8; hl + payload.len()];
    repr.emit(&mut Frame::new_unchecked(&mut out[..hl]));
    out[hl..].copy_from_slice(payload);
    out
}

/// Like [`build_data_frame`] but refuses frames longer than [`MAX_FRAME_NO_FCS`].
pub fn try_build_data_frame(repr: &FrameRepr, payload: &[u8]) -> Result<Vec<u8>, Error> {
    if repr.buffer_len() + payload.len() > MAX_FRAME_NO_FCS {
        return Err(Error::TooLong);
    }
    Ok(build_data_frame(repr, payload))
}

/// Parses a frame without FCS into its header and payload.
pub fn parse_frame(bytes: &[u8]) -> Result<(FrameRepr, &[u8]), Error> {
    let frame = Frame::new_checked(bytes)?;
    let repr = FrameRepr::parse(&frame)?;
    let payload = &bytes[frame.header_len()..];
    Ok((repr, payload))
}

/// Immediate acknowledgement (2003 format, as radios send it), without FCS: `02 00 seq`
/// (`12 00 seq` with frame pending).
pub fn imm_ack(seq: u8, frame_pending: bool) -> [u8; 3] {
    let fcf0 = 0x02 | if frame_pending { 0x10 } else { 0 };
    [fcf0, 0x00, seq]
}

/// Immediate acknowledgement with its FCS appended.
pub fn imm_ack_with_fcs(seq: u8, frame_pending: bool) -> [u8; 5] {
    let a = imm_ack(seq, frame_pending);
    let f = fcs(&a).to_le_bytes();
    [a[0], a[1], a[2], f[0], f[1]]
}

const fn kermit_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x8408
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static KERMIT: [u16; 256] = kermit_table();

/// 802.15.4 FCS: CRC-16/KERMIT (poly 0x1021 reflected, init 0, no final xor). Sent
/// little-endian after the frame.
pub fn fcs(frame_without_fcs: &[u8]) -> u16 {
    frame_without_fcs.iter().fold(0u16, |crc, &b| {
        (crc >> 8) ^ KERMIT[usize::from((crc as u8) ^ b)]
    })
}

/// Appends the FCS (little-endian).
pub fn append_fcs(frame: &mut Vec<u8>) {
    let f = fcs(frame);
    frame.extend_from_slice(&f.to_le_bytes());
}

/// Checks and strips the FCS of a received PSDU.
pub fn check_fcs(psdu: &[u8]) -> Result<&[u8], Error> {
    if psdu.len() < FCS_LEN {
        return Err(Error::Truncated);
    }
    let (frame, f) = psdu.split_at(psdu.len() - FCS_LEN);
    if fcs(frame).to_le_bytes() == [f[0], f[1]] {
        Ok(frame)
    } else {
        Err(Error::BadFcs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kermit_check_value() {
        assert_eq!(fcs(b"123456789"), 0x2189);
        assert_eq!(fcs(&[]), 0);
    }

    #[test]
    fn imm_ack_vector() {
        // IEEE 802.15.4 FCS example (five-octet Ack): MHR bits, first sent first,
        // 0100 0000 0000 0000 0101 0110 = bytes 02 00 6a (LSB first per octet); FCS bits
        // 0010 0111 1001 1110 = bytes e4 79 on air.
        let a = imm_ack_with_fcs(0x6a, false);
        assert_eq!(a, [0x02, 0x00, 0x6a, 0xe4, 0x79]);
        assert_eq!(fcs(&a[..3]), 0x79e4);
        assert_eq!(check_fcs(&a), Ok(&a[..3]));
        let mut bad = a;
        bad[2] ^= 1;
        assert_eq!(check_fcs(&bad), Err(Error::BadFcs));
        let (repr, payload) = parse_frame(&a[..3]).unwrap();
        assert_eq!(repr.frame_type, FrameType::Ack);
        assert_eq!(repr.sequence_number, 0x6a);
        assert_eq!(repr.dst_addr, Address::Absent);
        assert!(payload.is_empty());
    }

    #[test]
    fn data_frame_extended_pan_compressed() {
        // 41 cc: data, PAN ID compression, dst ext, version 0 (2003), src ext. A Contiki-style
        // frame: seq 0x2a, PAN 0xabcd, dst 00:12:4b:00:00:00:00:02, src 00:12:4b:00:00:00:00:01.
        let bytes = [
            0x41, 0xcc, 0x2a, 0xcd, 0xab, // fcf, seq, dst pan
            0x02, 0x00, 0x00, 0x00, 0x00, 0x4b, 0x12, 0x00, // dst (air order)
            0x01, 0x00, 0x00, 0x00, 0x00, 0x4b, 0x12, 0x00, // src
            0x7a, 0x33, // payload
        ];
        let (repr, payload) = parse_frame(&bytes).unwrap();
        assert_eq!(repr.frame_type, FrameType::Data);
        assert_eq!(repr.version, 0);
        assert!(repr.pan_id_compression);
        assert_eq!(repr.dst_pan, Some(0xabcd));
        assert_eq!(repr.src_pan, None);
        assert_eq!(repr.effective_src_pan(), Some(0xabcd));
        assert_eq!(
            repr.dst_addr,
            Address::Extended("00:12:4b:00:00:00:00:02".parse().unwrap())
        );
        assert_eq!(
            repr.src_addr,
            Address::Extended("00124b0000000001".parse().unwrap())
        );
        assert_eq!(payload, &[0x7a, 0x33]);
        assert_eq!(repr.buffer_len(), 21);
        assert_eq!(max_frame_payload(&repr), 104);
        assert_eq!(build_data_frame(&repr, payload), bytes);
    }

    #[test]
    fn data_frame_short_broadcast_2006() {
        let repr = FrameRepr::data(0x1234, Address::Short(0x0001), Address::BROADCAST, 7, false);
        let f = build_data_frame(&repr, &[0xaa]);
        // fcf: data(1) | pan comp (0x40) ; dst short (0x0800), v1 (0x1000), src short (0x8000)
        assert_eq!(f, [0x41, 0x98, 7, 0x34, 0x12, 0xff, 0xff, 0x01, 0x00, 0xaa]);
        assert_eq!(max_frame_payload(&repr), 116);
        let (r2, p) = parse_frame(&f).unwrap();
        assert_eq!(r2, repr);
        assert_eq!(p, &[0xaa]);
    }

    #[test]
    fn security_and_versions() {
        let mut f = build_data_frame(
            &FrameRepr::data(1, Address::Short(1), Address::Short(2), 0, true),
            &[1, 2, 3],
        );
        f[0] |= 0x08;
        let view = Frame::new_checked(&f[..]).unwrap();
        assert_eq!(view.src_addr(), Address::Short(1));
        assert_eq!(FrameRepr::parse(&view), Err(Error::SecurityNotSupported));
        f[0] &= !0x08;
        f[1] = (f[1] & !0x30) | 0x20; // version 2
        assert_eq!(parse_frame(&f).unwrap_err(), Error::UnsupportedVersion(2));
        f[1] &= !0x30; // 2003
        assert_eq!(parse_frame(&f).unwrap().0.version, 0);
        f[1] = (f[1] & !0x0c) | 0x04; // reserved dst mode
        assert_eq!(parse_frame(&f).unwrap_err(), Error::ReservedAddressMode);
    }

    #[test]
    fn eui64_strings() {
        let e: Eui64 = "00:12:4B:00:00:00:00:01".parse().unwrap();
        assert_eq!(e.0, [0, 0x12, 0x4b, 0, 0, 0, 0, 1]);
        assert_eq!(e.to_string(), "00:12:4b:00:00:00:00:01");
        assert!("00:12:4b".parse::<Eui64>().is_err());
        assert!("0012:4b00:0000:0001".parse::<Eui64>().is_err());
        assert!("zz124b0000000001".parse::<Eui64>().is_err());
    }

    fn arb_addr() -> impl Strategy<Value = Address> {
        prop_oneof![
            Just(Address::Absent),
            any::<u16>().prop_map(Address::Short),
            any::<[u8; 8]>().prop_map(|b| Address::Extended(Eui64(b))),
        ]
    }

    proptest! {
        #[test]
        fn repr_roundtrip(src in arb_addr(), dst in arb_addr(), pan in any::<u16>(), pan2 in any::<u16>(),
                          seq in any::<u8>(), ack in any::<bool>(), pend in any::<bool>(), comp in any::<bool>(),
                          ty in 0u8..8, version in 0u8..2, payload in proptest::collection::vec(any::<u8>(), 0..40)) {
            let comp = comp && !src.is_absent() && !dst.is_absent();
            let repr = FrameRepr {
                frame_type: FrameType::from(ty), frame_pending: pend, ack_request: ack,
                pan_id_compression: comp, sequence_number: seq,
                dst_pan: (!dst.is_absent()).then_some(pan), dst_addr: dst,
                src_pan: (!src.is_absent() && !comp).then_some(pan2), src_addr: src, version,
            };
            let f = build_data_frame(&repr, &payload);
            prop_assert_eq!(f.len(), repr.buffer_len() + payload.len());
            let (r2, p2) = parse_frame(&f).unwrap();
            prop_assert_eq!(r2, repr);
            prop_assert_eq!(p2, &payload[..]);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..140)) {
            if let Ok(f) = Frame::new_checked(&bytes[..]) {
                let _ = (f.src_addr(), f.dst_addr(), f.src_pan_id(), f.dst_pan_id(), f.payload());
                let _ = FrameRepr::parse(&f);
            }
            let _ = parse_frame(&bytes);
            let _ = check_fcs(&bytes);
        }
    }
}
