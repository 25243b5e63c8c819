//! ZEP (ZigBee Encapsulation Protocol) datagrams: a zero-copy view, a typed header, and
//! helpers to wrap/unwrap one 802.15.4 frame (what an emulated node needs).
//!
//! Layouts (big-endian):
//! - v2 data (type 1): `"EX" 02 01 chan dev_id(2) crc_mode lqi ntp(8) seq(4) reserved(10) len` + PSDU
//! - v2 ack (type 2): `"EX" 02 02 seq(4)` (no frame)
//! - v1: `"EX" 01 chan dev_id(2) crc_mode lqi reserved(7) len` + PSDU
//!
//! The PSDU ends with 2 bytes that are the FCS in CRC mode (`crc_mode != 0`) or, in LQI
//! mode, TI CC24xx metadata (RSSI, then bit 7 "CRC OK" and a 7-bit correlation value).

use lowpan::ieee802154::{self, FCS_LEN, MAX_PSDU};
use std::fmt;

/// Default UDP port.
pub const PORT: u16 = 17754;
pub const V1_HEADER_LEN: usize = 16;
pub const V2_HEADER_LEN: usize = 32;
pub const V2_ACK_LEN: usize = 8;

const PREAMBLE: [u8; 2] = *b"EX";

mod field {
    use std::ops::Range;
    pub const PREAMBLE: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const V2_TYPE: usize = 3;
    pub const V2_CHANNEL: usize = 4;
    pub const V2_DEVICE_ID: Range<usize> = 5..7;
    pub const V2_CRC_MODE: usize = 7;
    pub const V2_LQI: usize = 8;
    pub const V2_TIMESTAMP: Range<usize> = 9..17;
    pub const V2_SEQUENCE: Range<usize> = 17..21;
    pub const V2_RESERVED: Range<usize> = 21..31;
    pub const V2_LENGTH: usize = 31;
    pub const V2_ACK_SEQUENCE: Range<usize> = 4..8;
    pub const V1_CHANNEL: usize = 3;
    pub const V1_DEVICE_ID: Range<usize> = 4..6;
    pub const V1_CRC_MODE: usize = 6;
    pub const V1_LQI: usize = 7;
    pub const V1_RESERVED: Range<usize> = 8..15;
    pub const V1_LENGTH: usize = 15;
}

/// Why a datagram was not taken. `as_str` names are stable (drop counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its header or than the frame length it announces.
    Truncated,
    /// Does not start with "EX".
    BadPreamble,
    /// Not version 1 or 2.
    UnsupportedVersion(u8),
    /// A v2 type other than data/ack (e.g. 255 "hello"): to be ignored.
    UnsupportedType(u8),
    /// More bytes than header + announced frame length.
    TrailingBytes,
    /// Announced frame length above 127 or below the 2 bytes of FCS/metadata.
    BadFrameLength,
    /// The frame's FCS is wrong (CRC mode) or the metadata says CRC failed (LQI mode).
    BadFcs,
    /// The operation needs a data datagram but this is an ack.
    NotData,
}

impl Error {
    pub fn as_str(&self) -> &'static str {
        match self {
            Error::Truncated => "zep_truncated",
            Error::BadPreamble => "zep_bad_preamble",
            Error::UnsupportedVersion(_) => "zep_unsupported_version",
            Error::UnsupportedType(_) => "zep_unsupported_type",
            Error::TrailingBytes => "zep_trailing_bytes",
            Error::BadFrameLength => "zep_bad_frame_length",
            Error::BadFcs => "zep_bad_fcs",
            Error::NotData => "zep_not_data",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnsupportedVersion(v) => write!(f, "ZEP version {v} not supported"),
            Error::UnsupportedType(t) => write!(f, "ZEP type {t} ignored"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl std::error::Error for Error {}

/// ZEP v2 packet type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZepType {
    Data,
    Ack,
    Unknown(u8),
}

impl From<u8> for ZepType {
    fn from(v: u8) -> Self {
        match v {
            1 => ZepType::Data,
            2 => ZepType::Ack,
            other => ZepType::Unknown(other),
        }
    }
}

impl From<ZepType> for u8 {
    fn from(t: ZepType) -> u8 {
        match t {
            ZepType::Data => 1,
            ZepType::Ack => 2,
            ZepType::Unknown(v) => v,
        }
    }
}

/// Zero-copy view of a ZEP datagram (v1, v2 data or v2 ack).
#[derive(Debug, Clone)]
pub struct ZepPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ZepPacket<T> {
    /// Wrap without checks: accessors may panic until `check_len` succeeded.
    pub fn new_unchecked(buffer: T) -> Self {
        ZepPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check preamble, version, type and that the length byte matches the datagram.
    /// Afterwards no accessor panics.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < 4 {
            return Err(Error::Truncated);
        }
        if b[field::PREAMBLE] != PREAMBLE {
            return Err(Error::BadPreamble);
        }
        let header_len = match (b[field::VERSION], ZepType::from(b[field::V2_TYPE])) {
            (1, _) => V1_HEADER_LEN,
            (2, ZepType::Data) => V2_HEADER_LEN,
            (2, ZepType::Ack) => {
                return match b.len().cmp(&V2_ACK_LEN) {
                    std::cmp::Ordering::Less => Err(Error::Truncated),
                    std::cmp::Ordering::Greater => Err(Error::TrailingBytes),
                    std::cmp::Ordering::Equal => Ok(()),
                };
            }
            (2, ZepType::Unknown(t)) => return Err(Error::UnsupportedType(t)),
            (v, _) => return Err(Error::UnsupportedVersion(v)),
        };
        if b.len() < header_len {
            return Err(Error::Truncated);
        }
        let len = usize::from(b[header_len - 1]);
        if !(FCS_LEN..=MAX_PSDU).contains(&len) {
            return Err(Error::BadFrameLength);
        }
        match b.len().cmp(&(header_len + len)) {
            std::cmp::Ordering::Less => Err(Error::Truncated),
            std::cmp::Ordering::Greater => Err(Error::TrailingBytes),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// v1 packets are always data.
    pub fn packet_type(&self) -> ZepType {
        if self.version() == 1 {
            ZepType::Data
        } else {
            ZepType::from(self.buffer.as_ref()[field::V2_TYPE])
        }
    }

    fn is_v2_ack(&self) -> bool {
        self.packet_type() == ZepType::Ack && self.version() == 2
    }

    pub fn header_len(&self) -> usize {
        match (self.version(), self.is_v2_ack()) {
            (1, _) => V1_HEADER_LEN,
            (_, true) => V2_ACK_LEN,
            _ => V2_HEADER_LEN,
        }
    }

    fn byte(&self, v1: usize, v2: usize) -> u8 {
        let b = self.buffer.as_ref();
        match (self.version(), self.is_v2_ack()) {
            (1, _) => b[v1],
            (_, true) => 0,
            _ => b[v2],
        }
    }

    pub fn channel(&self) -> u8 {
        self.byte(field::V1_CHANNEL, field::V2_CHANNEL)
    }

    pub fn device_id(&self) -> u16 {
        let b = self.buffer.as_ref();
        match (self.version(), self.is_v2_ack()) {
            (1, _) => u16::from_be_bytes([b[4], b[5]]),
            (_, true) => 0,
            _ => u16::from_be_bytes([b[5], b[6]]),
        }
    }

    /// True when the PSDU ends with a real FCS; false for CC24xx metadata (LQI mode).
    pub fn crc_mode(&self) -> bool {
        self.byte(field::V1_CRC_MODE, field::V2_CRC_MODE) != 0
    }

    pub fn lqi(&self) -> u8 {
        self.byte(field::V1_LQI, field::V2_LQI)
    }

    /// NTP timestamp (v2 data only, else 0).
    pub fn timestamp(&self) -> u64 {
        let b = self.buffer.as_ref();
        if self.version() == 2 && !self.is_v2_ack() {
            let mut t = [0u8; 8];
            t.copy_from_slice(&b[field::V2_TIMESTAMP]);
            u64::from_be_bytes(t)
        } else {
            0
        }
    }

    /// ZEP sequence number (v2 data and ack, else 0).
    pub fn sequence(&self) -> u32 {
        let b = self.buffer.as_ref();
        let r = match (self.version(), self.is_v2_ack()) {
            (1, _) => return 0,
            (_, true) => field::V2_ACK_SEQUENCE,
            _ => field::V2_SEQUENCE,
        };
        u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
    }

    /// The PSDU: MAC frame plus FCS or metadata (empty for an ack).
    pub fn psdu(&self) -> &[u8] {
        let at = self.header_len();
        let b = self.buffer.as_ref();
        b.get(at..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ZepPacket<T> {
    pub fn psdu_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        let b = self.buffer.as_mut();
        let at = at.min(b.len());
        &mut b[at..]
    }
}

/// Header of a data datagram (v1 or v2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZepRepr {
    /// 1 or 2 (emit writes v1 for 1, v2 otherwise).
    pub version: u8,
    pub channel: u8,
    pub device_id: u16,
    /// The PSDU ends with its FCS (true) or with CC24xx metadata (false).
    pub crc_mode: bool,
    pub lqi: u8,
    /// NTP timestamp (v2 only).
    pub timestamp: u64,
    /// ZEP sequence number (v2 only).
    pub sequence: u32,
    /// PSDU length including the 2 trailing FCS/metadata bytes.
    pub psdu_len: u8,
}

impl ZepRepr {
    /// A v2 CRC-mode data header (what we send).
    pub fn data(channel: u8, device_id: u16, sequence: u32, psdu_len: u8) -> Self {
        ZepRepr {
            version: 2,
            channel,
            device_id,
            crc_mode: true,
            lqi: 0xFF,
            timestamp: 0,
            sequence,
            psdu_len,
        }
    }

    /// Header of a checked data packet; acks give [`Error::NotData`].
    pub fn parse<T: AsRef<[u8]>>(packet: &ZepPacket<T>) -> Result<Self, Error> {
        packet.check_len()?;
        if packet.packet_type() != ZepType::Data {
            return Err(Error::NotData);
        }
        Ok(ZepRepr {
            version: packet.version(),
            channel: packet.channel(),
            device_id: packet.device_id(),
            crc_mode: packet.crc_mode(),
            lqi: packet.lqi(),
            timestamp: packet.timestamp(),
            sequence: packet.sequence(),
            psdu_len: packet.psdu().len() as u8,
        })
    }

    pub fn header_len(&self) -> usize {
        if self.version == 1 {
            V1_HEADER_LEN
        } else {
            V2_HEADER_LEN
        }
    }

    /// Header plus PSDU.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + usize::from(self.psdu_len)
    }

    /// Write the header into a buffer of at least `header_len()` bytes (every header byte
    /// is written, reserved ones zero). The PSDU is the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ZepPacket<T>) {
        let b = packet.buffer.as_mut();
        b[field::PREAMBLE].copy_from_slice(&PREAMBLE);
        if self.version == 1 {
            b[field::VERSION] = 1;
            b[field::V1_CHANNEL] = self.channel;
            b[field::V1_DEVICE_ID].copy_from_slice(&self.device_id.to_be_bytes());
            b[field::V1_CRC_MODE] = u8::from(self.crc_mode);
            b[field::V1_LQI] = self.lqi;
            b[field::V1_RESERVED].fill(0);
            b[field::V1_LENGTH] = self.psdu_len;
        } else {
            b[field::VERSION] = 2;
            b[field::V2_TYPE] = u8::from(ZepType::Data);
            b[field::V2_CHANNEL] = self.channel;
            b[field::V2_DEVICE_ID].copy_from_slice(&self.device_id.to_be_bytes());
            b[field::V2_CRC_MODE] = u8::from(self.crc_mode);
            b[field::V2_LQI] = self.lqi;
            b[field::V2_TIMESTAMP].copy_from_slice(&self.timestamp.to_be_bytes());
            b[field::V2_SEQUENCE].copy_from_slice(&self.sequence.to_be_bytes());
            b[field::V2_RESERVED].fill(0);
            b[field::V2_LENGTH] = self.psdu_len;
        }
    }
}

/// A received data datagram with its MAC frame, FCS checked and stripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZepFrame<'a> {
    pub header: ZepRepr,
    /// 802.15.4 MAC header and payload, without FCS.
    pub frame: &'a [u8],
    /// The RSSI of the CC24xx metadata (LQI mode); `None` in CRC mode.
    pub rssi_dbm: Option<i8>,
}

impl ZepFrame<'_> {
    /// What the sender reported of the reception: the header's LQI, and the RSSI in LQI mode.
    pub fn quality(&self) -> crate::LinkQuality {
        crate::LinkQuality {
            lqi: Some(self.header.lqi),
            rssi_dbm: self.rssi_dbm,
        }
    }
}

/// Build a v2 CRC-mode data datagram around `frame` (802.15.4 without FCS, at most 125
/// bytes); the FCS is appended. The emulated node's send path.
pub fn encode_datagram(
    channel: u8,
    device_id: u16,
    sequence: u32,
    frame: &[u8],
) -> Result<Vec<u8>, Error> {
    encode_datagram_heard(channel, device_id, sequence, frame, 0xFF, None)
}

/// [`encode_datagram`] for a reception heard with `lqi` and, when given, `rssi_dbm`: with an
/// RSSI the datagram is in LQI mode (CC24xx metadata: the RSSI, then "CRC OK" and a
/// correlation value in place of the FCS), without one in CRC mode.
pub fn encode_datagram_heard(
    channel: u8,
    device_id: u16,
    sequence: u32,
    frame: &[u8],
    lqi: u8,
    rssi_dbm: Option<i8>,
) -> Result<Vec<u8>, Error> {
    if frame.len() > MAX_PSDU - FCS_LEN {
        return Err(Error::BadFrameLength);
    }
    let mut repr = ZepRepr::data(channel, device_id, sequence, (frame.len() + FCS_LEN) as u8);
    repr.lqi = lqi;
    repr.crc_mode = rssi_dbm.is_none();
    let mut out = vec![0u8; repr.header_len()];
    repr.emit(&mut ZepPacket::new_unchecked(&mut out[..]));
    out.extend_from_slice(frame);
    match rssi_dbm {
        // CRC OK, with the highest correlation a CC2420 reports for a clean reception.
        Some(rssi) => out.extend_from_slice(&[rssi as u8, 0x80 | CC24XX_BEST_CORRELATION]),
        None => out.extend_from_slice(&ieee802154::fcs(frame).to_le_bytes()),
    }
    Ok(out)
}

/// The CC24xx metadata's 7-bit correlation value of a clean reception.
const CC24XX_BEST_CORRELATION: u8 = 110;

/// Parse a data datagram and check its frame: FCS in CRC mode, the CRC-OK bit in LQI
/// mode. Acks give [`Error::NotData`]. The emulated node's receive path.
pub fn decode_datagram(bytes: &[u8]) -> Result<ZepFrame<'_>, Error> {
    let packet = ZepPacket::new_checked(bytes)?;
    let header = ZepRepr::parse(&packet)?;
    let psdu = &bytes[packet.header_len()..];
    let (frame, rssi_dbm) = if header.crc_mode {
        (
            ieee802154::check_fcs(psdu).map_err(|_| Error::BadFcs)?,
            None,
        )
    } else {
        let (frame, meta) = psdu.split_at(psdu.len() - FCS_LEN);
        if meta[1] & 0x80 == 0 {
            return Err(Error::BadFcs);
        }
        (frame, Some(meta[0] as i8))
    };
    Ok(ZepFrame {
        header,
        frame,
        rssi_dbm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A v2 data datagram as written by hand from the layout table: channel 26, device
    /// 0x1234, CRC mode, LQI 0xFF, timestamp 0, sequence 7, a 3-byte Imm-Ack + FCS.
    fn sample() -> Vec<u8> {
        let ack = ieee802154::imm_ack_with_fcs(0x2A, false);
        let mut v = vec![
            0x45, 0x58, 0x02, 0x01, 0x1A, 0x12, 0x34, 0x01, 0xFF, //
            0, 0, 0, 0, 0, 0, 0, 0, // NTP timestamp
            0, 0, 0, 7, // sequence
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // reserved
            5,
        ];
        v.extend_from_slice(&ack);
        v
    }

    #[test]
    fn parses_hand_written_v2_data() {
        let b = sample();
        let p = ZepPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.version(), p.packet_type(), p.channel()),
            (2, ZepType::Data, 26)
        );
        assert_eq!(
            (p.device_id(), p.crc_mode(), p.lqi(), p.sequence()),
            (0x1234, true, 0xFF, 7)
        );
        let f = decode_datagram(&b).unwrap();
        assert_eq!(f.frame, [0x02, 0x00, 0x2A]);
        assert_eq!(f.header, ZepRepr::data(26, 0x1234, 7, 5));
        // The Imm-Ack FCS from the doc's example form: 02 00 seq + CRC-16/KERMIT LE.
        assert_eq!(
            encode_datagram(26, 0x1234, 7, &[0x02, 0x00, 0x2A]).unwrap(),
            b
        );
        assert_eq!(
            f.quality(),
            crate::LinkQuality {
                lqi: Some(0xFF),
                rssi_dbm: None
            }
        );
    }

    #[test]
    fn heard_datagrams_carry_their_lqi_and_rssi() {
        let frame = [0x02, 0x00, 0x2A];
        let crc = encode_datagram_heard(26, 1, 2, &frame, 180, None).unwrap();
        let f = decode_datagram(&crc).unwrap();
        assert_eq!((f.header.crc_mode, f.frame), (true, &frame[..]));
        assert_eq!(
            f.quality(),
            crate::LinkQuality {
                lqi: Some(180),
                rssi_dbm: None
            }
        );
        let lqi_mode = encode_datagram_heard(26, 1, 2, &frame, 90, Some(-71)).unwrap();
        let f = decode_datagram(&lqi_mode).unwrap();
        assert_eq!((f.header.crc_mode, f.frame), (false, &frame[..]));
        assert_eq!(
            f.quality(),
            crate::LinkQuality {
                lqi: Some(90),
                rssi_dbm: Some(-71)
            }
        );
    }

    #[test]
    fn parses_v1_and_v2_ack() {
        let mut v1 = vec![
            0x45, 0x58, 0x01, 0x0B, 0x00, 0x01, 0x01, 0x80, 0, 0, 0, 0, 0, 0, 0, 5,
        ];
        v1.extend_from_slice(&ieee802154::imm_ack_with_fcs(1, false));
        let f = decode_datagram(&v1).unwrap();
        assert_eq!(
            (f.header.version, f.header.channel, f.header.lqi),
            (1, 11, 0x80)
        );
        assert_eq!(f.frame, [0x02, 0x00, 0x01]);
        let mut emitted = vec![0u8; 16];
        f.header
            .emit(&mut ZepPacket::new_unchecked(&mut emitted[..]));
        assert_eq!(emitted, v1[..16]);

        let ack = [0x45, 0x58, 0x02, 0x02, 0, 0, 1, 0];
        let p = ZepPacket::new_checked(&ack[..]).unwrap();
        assert_eq!(
            (p.packet_type(), p.sequence(), p.psdu()),
            (ZepType::Ack, 256, &[][..])
        );
        assert_eq!(decode_datagram(&ack), Err(Error::NotData));
    }

    #[test]
    fn lqi_mode_uses_crc_ok_bit() {
        let mut b = sample();
        b[7] = 0; // LQI mode: last two bytes are RSSI, CRC-OK|correlation
        let n = b.len();
        b[n - 2] = 0xD0;
        b[n - 1] = 0x80 | 0x6C;
        let f = decode_datagram(&b).unwrap();
        assert_eq!(f.frame, [0x02, 0x00, 0x2A]);
        // 0xD0 is -48 dBm; the header's LQI stays what it said.
        assert_eq!(
            f.quality(),
            crate::LinkQuality {
                lqi: Some(0xFF),
                rssi_dbm: Some(-48)
            }
        );
        b[n - 1] = 0x6C;
        assert_eq!(decode_datagram(&b), Err(Error::BadFcs));
    }

    #[test]
    fn rejects_malformed() {
        let good = sample();
        let mut b = good.clone();
        b[0] = b'Z';
        assert_eq!(decode_datagram(&b), Err(Error::BadPreamble));
        let mut b = good.clone();
        b[2] = 3;
        assert_eq!(decode_datagram(&b), Err(Error::UnsupportedVersion(3)));
        let mut b = good.clone();
        b[3] = 255;
        assert_eq!(decode_datagram(&b), Err(Error::UnsupportedType(255)));
        assert_eq!(
            decode_datagram(&good[..good.len() - 1]),
            Err(Error::Truncated)
        );
        let mut b = good.clone();
        b.push(0);
        assert_eq!(decode_datagram(&b), Err(Error::TrailingBytes));
        let mut b = good.clone();
        b[31] = 128;
        assert_eq!(decode_datagram(&b), Err(Error::BadFrameLength));
        let mut b = good.clone();
        let n = b.len();
        b[n - 1] ^= 1;
        assert_eq!(decode_datagram(&b), Err(Error::BadFcs));
        assert_eq!(decode_datagram(b"EX"), Err(Error::Truncated));
        assert_eq!(
            encode_datagram(26, 0, 0, &[0; 126]),
            Err(Error::BadFrameLength)
        );
    }

    proptest! {
        #[test]
        fn encode_decode_roundtrip(chan in 11u8..=26, dev in any::<u16>(), seq in any::<u32>(),
                                   frame in proptest::collection::vec(any::<u8>(), 0..=125)) {
            let d = encode_datagram(chan, dev, seq, &frame).unwrap();
            prop_assert_eq!(d.len(), 32 + frame.len() + 2);
            let f = decode_datagram(&d).unwrap();
            prop_assert_eq!(f.frame, &frame[..]);
            prop_assert_eq!(f.header, ZepRepr::data(chan, dev, seq, (frame.len() + 2) as u8));
        }

        #[test]
        fn repr_roundtrip(v1 in any::<bool>(), chan in any::<u8>(), dev in any::<u16>(), crc in any::<bool>(),
                          lqi in any::<u8>(), ts in any::<u64>(), seq in any::<u32>(), len in 2u8..=127) {
            let repr = ZepRepr { version: if v1 { 1 } else { 2 }, channel: chan, device_id: dev, crc_mode: crc,
                lqi, timestamp: if v1 { 0 } else { ts }, sequence: if v1 { 0 } else { seq }, psdu_len: len };
            let mut buf = vec![0xEEu8; repr.buffer_len()];
            repr.emit(&mut ZepPacket::new_unchecked(&mut buf[..]));
            let p = ZepPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(ZepRepr::parse(&p), Ok(repr));
        }
    }

    proptest! {
        // What CI runs instead of the `zep_parse` fuzz target.
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..200), v in 0u8..4, t in any::<u8>()) {
            let mut b = b;
            if b.len() >= 4 { b[0] = b'E'; b[1] = b'X'; b[2] = v; b[3] = t; }
            if let Ok(p) = ZepPacket::new_checked(&b[..]) {
                let _ = (p.channel(), p.device_id(), p.crc_mode(), p.lqi(), p.timestamp(), p.sequence(), p.psdu());
            }
            let _ = decode_datagram(&b);
        }
    }
}
