//! Messages of Contiki-NG's slip-radio serial protocol (one message per SLIP frame).
//!
//! Host -> radio: `?M`, `!S`, `!V`, `?V`. Radio -> host: `!M`, `!R`, `!V`, `E...`, debug
//! lines starting with `\r`, and received 802.15.4 frames (no FCS).
//!
//! # Classifying what the radio sends
//! The reference host looks at the first byte only and so loses data frames whose
//! frame-control byte is 0x21 (`!`: data frame with ACK request and no PAN ID
//! compression). The rule here, in this order:
//! 1. If the payload is a structurally valid 802.15.4 frame (beacon, data, ACK or MAC
//!    command; version 2003/2006; no reserved address mode; PAN ID compression only with
//!    both addresses; complete header; at most 125 bytes; addresses as 2003/2006 require:
//!    a beacon has a source, data and commands at least one address, an Imm-Ack none and
//!    exactly 3 bytes) and is not one of the
//!    fixed-length message forms (`!M`+8, `!R`+3, `!V`+4), it is a [`RadioMessage::Frame`].
//! 2. Otherwise it is a message: `!M`, `!R`, `!V` with their exact lengths, `E` + text
//!    (the radio's "Unknown command"), `\r` + text (debug line).
//! 3. Anything else is an error ([`Error::Unrecognised`] and friends), counted by the caller.
//!
//! Rule 1 never swallows a message: `!M`, `!R` and `!V` have a reserved address mode in
//! their second byte (0x4D, 0x52, 0x56), and `?` (0x3F), `E` (0x45) and `\r` (0x0D)
//! carry the reserved frame types 7 and 5. The exclusion of exact message forms keeps
//! the rule safe even if the frame check is ever relaxed.

use lowpan::ieee802154::{self, Eui64, Frame, FrameType};
use std::fmt;

/// Attribute id of the `!S` command that caps the number of MAC transmissions.
pub const ATTR_MAX_MAC_TRANSMISSIONS: u8 = 5;

/// Radio parameter ids for `!V`/`?V` (Contiki-NG radio API).
pub mod param {
    /// IEEE 802.15.4 channel (11-26).
    pub const CHANNEL: u16 = 1;
    /// PAN identifier.
    pub const PAN_ID: u16 = 2;
    /// RX mode: bit 0 address filter, bit 1 auto-ACK.
    pub const RX_MODE: u16 = 4;
    /// TX power in dBm (no sign extension in this protocol: negative values can't be set).
    pub const TX_POWER: u16 = 6;
}

/// Why a slip-radio message could not be parsed. `as_str` names are stable (counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Empty payload.
    Empty,
    /// A known message with fewer bytes than its form requires.
    Truncated,
    /// A known fixed-length message with extra bytes.
    TrailingBytes,
    /// `!S` without any frame bytes.
    EmptyFrame,
    /// Looks like an 802.15.4 frame but longer than 125 bytes (a radio can't send it).
    FrameTooLong,
    /// Neither a valid frame nor a known message.
    Unrecognised,
}

impl Error {
    /// Stable reason name for drop counters.
    pub fn as_str(&self) -> &'static str {
        match self {
            Error::Empty => "radio_empty",
            Error::Truncated => "radio_truncated",
            Error::TrailingBytes => "radio_trailing_bytes",
            Error::EmptyFrame => "radio_empty_frame",
            Error::FrameTooLong => "radio_frame_too_long",
            Error::Unrecognised => "radio_unrecognised",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Error {}

/// Result of a `!S` transmission as reported in `!R` (Contiki-NG MAC_TX_* codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxStatus {
    Ok,
    Collision,
    NoAck,
    Deferred,
    Err,
    Fatal,
    QueueFull,
    Unknown(u8),
}

impl From<u8> for TxStatus {
    fn from(v: u8) -> Self {
        match v {
            0 => TxStatus::Ok,
            1 => TxStatus::Collision,
            2 => TxStatus::NoAck,
            3 => TxStatus::Deferred,
            4 => TxStatus::Err,
            5 => TxStatus::Fatal,
            6 => TxStatus::QueueFull,
            other => TxStatus::Unknown(other),
        }
    }
}

impl From<TxStatus> for u8 {
    fn from(s: TxStatus) -> u8 {
        match s {
            TxStatus::Ok => 0,
            TxStatus::Collision => 1,
            TxStatus::NoAck => 2,
            TxStatus::Deferred => 3,
            TxStatus::Err => 4,
            TxStatus::Fatal => 5,
            TxStatus::QueueFull => 6,
            TxStatus::Unknown(v) => v,
        }
    }
}

impl TxStatus {
    /// Stable name for counters and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            TxStatus::Ok => "ok",
            TxStatus::Collision => "collision",
            TxStatus::NoAck => "no_ack",
            TxStatus::Deferred => "deferred",
            TxStatus::Err => "err",
            TxStatus::Fatal => "fatal",
            TxStatus::QueueFull => "queue_full",
            TxStatus::Unknown(_) => "unknown",
        }
    }
}

/// A message from the host to the radio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostMessage {
    /// `?M`: ask for the radio's EUI-64.
    GetMac,
    /// `!S`: transmit `frame` (802.15.4 header and payload, no FCS). `max_tx` caps MAC
    /// transmissions (attribute 5); `None` leaves the radio's default.
    Send {
        sid: u8,
        max_tx: Option<u8>,
        frame: Vec<u8>,
    },
    /// `!V`: set a radio parameter.
    SetParam { param: u16, value: u16 },
    /// `?V`: read a radio parameter.
    GetParam { param: u16 },
}

impl HostMessage {
    /// Parse a host -> radio payload (what an emulated radio receives).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        match bytes {
            [] => Err(Error::Empty),
            [b'?', b'M', rest @ ..] => exact(rest, 0).map(|_| HostMessage::GetMac),
            [b'!', b'V', rest @ ..] => {
                let r = exact(rest, 4)?;
                Ok(HostMessage::SetParam {
                    param: be16(r[0], r[1]),
                    value: be16(r[2], r[3]),
                })
            }
            [b'?', b'V', rest @ ..] => {
                let r = exact(rest, 2)?;
                Ok(HostMessage::GetParam {
                    param: be16(r[0], r[1]),
                })
            }
            [b'!', b'S', rest @ ..] => parse_send(rest),
            _ => Err(Error::Unrecognised),
        }
    }

    /// Exact number of bytes `emit` appends.
    pub fn buffer_len(&self) -> usize {
        match self {
            HostMessage::GetMac => 2,
            HostMessage::Send { max_tx, frame, .. } => {
                4 + if max_tx.is_some() { 3 } else { 0 } + frame.len()
            }
            HostMessage::SetParam { .. } => 6,
            HostMessage::GetParam { .. } => 4,
        }
    }

    /// Append the message payload (not SLIP-encoded).
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            HostMessage::GetMac => out.extend_from_slice(b"?M"),
            HostMessage::Send { sid, max_tx, frame } => emit_send(*sid, *max_tx, frame, out),
            HostMessage::SetParam { param, value } => {
                out.extend_from_slice(b"!V");
                out.extend_from_slice(&param.to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            HostMessage::GetParam { param } => {
                out.extend_from_slice(b"?V");
                out.extend_from_slice(&param.to_be_bytes());
            }
        }
    }

    /// The payload as a new Vec.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }
}

/// Append a `!S` payload without building a [`HostMessage`] (saves a copy of the frame).
/// `max_tx` becomes attribute 5 (`01 05 00 NN`), `None` becomes `natt = 0`.
pub fn emit_send(sid: u8, max_tx: Option<u8>, frame: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[b'!', b'S', sid]);
    match max_tx {
        None => out.push(0),
        Some(n) => out.extend_from_slice(&[1, ATTR_MAX_MAC_TRANSMISSIONS, 0, n]),
    }
    out.extend_from_slice(frame);
}

fn parse_send(rest: &[u8]) -> Result<HostMessage, Error> {
    let [sid, natt, attrs @ ..] = rest else {
        return Err(Error::Truncated);
    };
    let attr_len = usize::from(*natt) * 3;
    if attrs.len() < attr_len {
        return Err(Error::Truncated);
    }
    let (attrs, frame) = attrs.split_at(attr_len);
    if frame.is_empty() {
        return Err(Error::EmptyFrame);
    }
    let mut max_tx = None;
    for a in attrs.chunks_exact(3) {
        // Other attribute ids are build-dependent indices without effect on the radio.
        if a[0] == ATTR_MAX_MAC_TRANSMISSIONS {
            max_tx = Some(u8::try_from(be16(a[1], a[2])).unwrap_or(u8::MAX));
        }
    }
    Ok(HostMessage::Send {
        sid: *sid,
        max_tx,
        frame: frame.to_vec(),
    })
}

/// A message from the radio to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RadioMessage {
    /// `!M`: the radio's EUI-64, which the host must use as its own link address.
    Mac(Eui64),
    /// `!R`: result of the `!S` with this `sid`; `transmissions` as counted by the MAC.
    TxResult {
        sid: u8,
        status: TxStatus,
        transmissions: u8,
    },
    /// `!V`: a parameter value (reply to `?V`).
    Param { param: u16, value: u16 },
    /// `E...`: the radio did not understand a command (it also sends this after `!V`).
    UnknownCommand,
    /// A debug line (`\r` + text), CR/LF stripped, invalid UTF-8 replaced.
    Debug(String),
    /// A received 802.15.4 frame, header and payload, without FCS.
    Frame(Vec<u8>),
}

const UNKNOWN_COMMAND_TEXT: &[u8] = b"Unknown command";

impl RadioMessage {
    /// Classify and parse a radio -> host payload; see the module docs for the rule.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() {
            return Err(Error::Empty);
        }
        let frame_check = looks_like_frame(bytes);
        if frame_check.is_ok() && !is_exact_message_form(bytes) {
            return Ok(RadioMessage::Frame(bytes.to_vec()));
        }
        match bytes {
            [b'!', b'M', rest @ ..] => {
                let r = exact(rest, 8)?;
                let mut eui = [0u8; 8];
                eui.copy_from_slice(r);
                // Sent as linkaddr bytes, already in canonical (printed) order.
                Ok(RadioMessage::Mac(Eui64(eui)))
            }
            [b'!', b'R', rest @ ..] => {
                let r = exact(rest, 3)?;
                Ok(RadioMessage::TxResult {
                    sid: r[0],
                    status: TxStatus::from(r[1]),
                    transmissions: r[2],
                })
            }
            [b'!', b'V', rest @ ..] => {
                let r = exact(rest, 4)?;
                Ok(RadioMessage::Param {
                    param: be16(r[0], r[1]),
                    value: be16(r[2], r[3]),
                })
            }
            // Only error text the firmware sends; any text after `E` means the same.
            [b'E', ..] => Ok(RadioMessage::UnknownCommand),
            [b'\r', text @ ..] => {
                let text = trim_crlf(text);
                Ok(RadioMessage::Debug(
                    String::from_utf8_lossy(text).into_owned(),
                ))
            }
            _ => match frame_check {
                Err(ieee802154::Error::TooLong) => Err(Error::FrameTooLong),
                _ => Err(Error::Unrecognised),
            },
        }
    }

    /// Exact number of bytes `emit` appends.
    pub fn buffer_len(&self) -> usize {
        match self {
            RadioMessage::Mac(_) => 10,
            RadioMessage::TxResult { .. } => 5,
            RadioMessage::Param { .. } => 6,
            RadioMessage::UnknownCommand => 1 + UNKNOWN_COMMAND_TEXT.len(),
            RadioMessage::Debug(s) => 2 + s.len(),
            RadioMessage::Frame(f) => f.len(),
        }
    }

    /// Append the message payload (not SLIP-encoded), as the firmware would send it.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            RadioMessage::Mac(eui) => {
                out.extend_from_slice(b"!M");
                out.extend_from_slice(&eui.0);
            }
            RadioMessage::TxResult {
                sid,
                status,
                transmissions,
            } => {
                out.extend_from_slice(&[b'!', b'R', *sid, u8::from(*status), *transmissions]);
            }
            RadioMessage::Param { param, value } => {
                out.extend_from_slice(b"!V");
                out.extend_from_slice(&param.to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            RadioMessage::UnknownCommand => {
                out.push(b'E');
                out.extend_from_slice(UNKNOWN_COMMAND_TEXT);
            }
            RadioMessage::Debug(s) => {
                out.push(b'\r');
                out.extend_from_slice(s.as_bytes());
                out.push(b'\n');
            }
            RadioMessage::Frame(f) => out.extend_from_slice(f),
        }
    }

    /// The payload as a new Vec.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }
}

/// Rule 1 of the module docs: a structurally valid 802.15.4 frame of a standard type.
fn looks_like_frame(bytes: &[u8]) -> Result<(), ieee802154::Error> {
    let frame = Frame::new_checked(bytes)?;
    let dst = !frame.dst_addr().is_absent();
    let src = !frame.src_addr().is_absent();
    let plausible = match frame.frame_type() {
        // 2003/2006 rules: beacons carry a source, data and commands at least one
        // address, an Imm-Ack is exactly FCF + sequence number.
        FrameType::Beacon => src,
        FrameType::Data | FrameType::MacCommand => dst || src,
        FrameType::Ack => !dst && !src && bytes.len() == 3,
        // Types 4-7 (2015 multipurpose/fragment/extended) aren't produced by slip-radio
        // and are exactly the types of `?`, `E` and `\r`.
        FrameType::Unknown(_) => false,
    };
    if plausible {
        Ok(())
    } else {
        Err(ieee802154::Error::Truncated)
    }
}

fn is_exact_message_form(bytes: &[u8]) -> bool {
    matches!(
        (bytes.first(), bytes.get(1), bytes.len()),
        (Some(b'!'), Some(b'M'), 10) | (Some(b'!'), Some(b'R'), 5) | (Some(b'!'), Some(b'V'), 6)
    )
}

fn exact(rest: &[u8], n: usize) -> Result<&[u8], Error> {
    match rest.len().cmp(&n) {
        std::cmp::Ordering::Less => Err(Error::Truncated),
        std::cmp::Ordering::Greater => Err(Error::TrailingBytes),
        std::cmp::Ordering::Equal => Ok(rest),
    }
}

fn be16(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

fn trim_crlf(mut text: &[u8]) -> &[u8] {
    while let [b'\r' | b'\n', rest @ ..] = text {
        text = rest;
    }
    while let [rest @ .., b'\r' | b'\n'] = text {
        text = rest;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn host_get_mac() {
        assert_eq!(HostMessage::GetMac.to_bytes(), [0x3F, 0x4D]);
        assert_eq!(HostMessage::parse(&[0x3F, 0x4D]), Ok(HostMessage::GetMac));
        assert_eq!(
            HostMessage::parse(&[0x3F, 0x4D, 0]),
            Err(Error::TrailingBytes)
        );
    }

    #[test]
    fn host_send_without_attributes() {
        let m = HostMessage::Send {
            sid: 3,
            max_tx: None,
            frame: vec![0x41, 0xD8, 0x07],
        };
        assert_eq!(m.to_bytes(), [0x21, 0x53, 0x03, 0x00, 0x41, 0xD8, 0x07]);
        assert_eq!(HostMessage::parse(&m.to_bytes()), Ok(m));
    }

    #[test]
    fn host_send_with_max_transmissions() {
        let m = HostMessage::Send {
            sid: 15,
            max_tx: Some(4),
            frame: vec![0x61, 0xDC, 0x01],
        };
        let b = m.to_bytes();
        assert_eq!(
            b,
            [0x21, 0x53, 0x0F, 0x01, 0x05, 0x00, 0x04, 0x61, 0xDC, 0x01]
        );
        assert_eq!(m.buffer_len(), b.len());
        assert_eq!(HostMessage::parse(&b), Ok(m));
    }

    #[test]
    fn host_send_ignores_other_attributes_and_saturates() {
        // Two attributes: id 2 (ignored) and id 5 = 0x0102 (saturated to 255).
        let b = [b'!', b'S', 1, 2, 2, 0, 9, 5, 1, 2, 0x41, 0xD8, 0x00];
        assert_eq!(
            HostMessage::parse(&b),
            Ok(HostMessage::Send {
                sid: 1,
                max_tx: Some(255),
                frame: vec![0x41, 0xD8, 0x00]
            })
        );
        assert_eq!(
            HostMessage::parse(&[b'!', b'S', 1, 2, 5, 0]),
            Err(Error::Truncated)
        );
        assert_eq!(
            HostMessage::parse(&[b'!', b'S', 1, 0]),
            Err(Error::EmptyFrame)
        );
        assert_eq!(HostMessage::parse(b"!S"), Err(Error::Truncated));
    }

    #[test]
    fn host_params() {
        let set = HostMessage::SetParam {
            param: param::CHANNEL,
            value: 26,
        };
        assert_eq!(set.to_bytes(), [0x21, 0x56, 0x00, 0x01, 0x00, 0x1A]);
        assert_eq!(HostMessage::parse(&set.to_bytes()), Ok(set));
        let get = HostMessage::GetParam {
            param: param::PAN_ID,
        };
        assert_eq!(get.to_bytes(), [0x3F, 0x56, 0x00, 0x02]);
        assert_eq!(HostMessage::parse(&get.to_bytes()), Ok(get));
        assert_eq!(HostMessage::parse(b"?V\x00"), Err(Error::Truncated));
        assert_eq!(HostMessage::parse(b"xx"), Err(Error::Unrecognised));
        assert_eq!(HostMessage::parse(b""), Err(Error::Empty));
    }

    #[test]
    fn radio_mac() {
        let b = [0x21, 0x4D, 0x00, 0x12, 0x4B, 0x00, 0x06, 0x0D, 0x9A, 0x01];
        let eui = Eui64([0x00, 0x12, 0x4B, 0x00, 0x06, 0x0D, 0x9A, 0x01]);
        assert_eq!(RadioMessage::parse(&b), Ok(RadioMessage::Mac(eui)));
        assert_eq!(RadioMessage::Mac(eui).to_bytes(), b);
        assert_eq!(RadioMessage::parse(&b[..9]), Err(Error::Truncated));
    }

    #[test]
    fn radio_tx_result_every_status() {
        let names = [
            "ok",
            "collision",
            "no_ack",
            "deferred",
            "err",
            "fatal",
            "queue_full",
        ];
        for code in 0u8..=255 {
            let b = [0x21, 0x52, 0x07, code, 0x03];
            let m = RadioMessage::parse(&b).unwrap();
            let status = TxStatus::from(code);
            assert_eq!(
                m,
                RadioMessage::TxResult {
                    sid: 7,
                    status,
                    transmissions: 3
                }
            );
            assert_eq!(u8::from(status), code);
            assert_eq!(m.to_bytes(), b);
            match names.get(usize::from(code)) {
                Some(n) => assert_eq!(status.as_str(), *n),
                None => assert_eq!(status, TxStatus::Unknown(code)),
            }
        }
        assert_eq!(RadioMessage::parse(b"!R\x01\x00"), Err(Error::Truncated));
        assert_eq!(
            RadioMessage::parse(b"!R\x01\x00\x01\x00"),
            Err(Error::TrailingBytes)
        );
    }

    #[test]
    fn radio_param_and_unknown_command() {
        let b = [0x21, 0x56, 0x00, 0x01, 0x00, 0x0F];
        let m = RadioMessage::Param {
            param: param::CHANNEL,
            value: 15,
        };
        assert_eq!(RadioMessage::parse(&b), Ok(m.clone()));
        assert_eq!(m.to_bytes(), b);
        assert_eq!(
            RadioMessage::parse(b"EUnknown command"),
            Ok(RadioMessage::UnknownCommand)
        );
        assert_eq!(RadioMessage::UnknownCommand.to_bytes(), b"EUnknown command");
        assert_eq!(RadioMessage::parse(b"E"), Ok(RadioMessage::UnknownCommand));
    }

    #[test]
    fn radio_debug_line() {
        let b = b"\rRPL: joined DODAG\r\n";
        assert_eq!(
            RadioMessage::parse(b),
            Ok(RadioMessage::Debug("RPL: joined DODAG".into()))
        );
        assert_eq!(
            RadioMessage::parse(b"\r\xFFx\n"),
            Ok(RadioMessage::Debug("\u{FFFD}x".into()))
        );
        let m = RadioMessage::Debug("hi".into());
        assert_eq!(RadioMessage::parse(&m.to_bytes()), Ok(m));
    }

    #[test]
    fn radio_frames_classified_as_frames() {
        // Broadcast data frame, PAN ID compression, short src: 41 98 seq pan dst src payload.
        let bcast = [
            0x41, 0x98, 0x05, 0xCD, 0xAB, 0xFF, 0xFF, 0x34, 0x12, 0x7A, 0x3B,
        ];
        assert_eq!(
            RadioMessage::parse(&bcast),
            Ok(RadioMessage::Frame(bcast.to_vec()))
        );
        // 0x21 '!': data frame, ACK request, no PAN ID compression, short/short:
        // 21 88 seq dpan dst span src.
        let bang = [
            0x21, 0x88, 0x09, 0xCD, 0xAB, 0x01, 0x00, 0xCD, 0xAB, 0x02, 0x00, 0x41,
        ];
        assert_eq!(
            RadioMessage::parse(&bang),
            Ok(RadioMessage::Frame(bang.to_vec()))
        );
        // '!' frames whose second byte is 'M', 'R' or 'V' can't be valid frames.
        for second in [b'M', b'R', b'V', b'S'] {
            assert!(looks_like_frame(&[b'!', second, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        }
        // '?', 'E' and CR carry reserved frame types.
        for first in [b'?', b'E', b'\r'] {
            assert!(looks_like_frame(&[first, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        }
        // A 2006 ACK.
        let ack = [0x02, 0x10, 0x44];
        assert_eq!(
            RadioMessage::parse(&ack),
            Ok(RadioMessage::Frame(ack.to_vec()))
        );
    }

    #[test]
    fn radio_rejects_garbage() {
        assert_eq!(RadioMessage::parse(b""), Err(Error::Empty));
        assert_eq!(RadioMessage::parse(b"hello"), Err(Error::Unrecognised));
        assert_eq!(RadioMessage::parse(b"?M"), Err(Error::Unrecognised));
        // '!' + 0x01: a data frame without any address is not a 2003/2006 frame.
        assert_eq!(
            RadioMessage::parse(&[0x21, 0x01, 0xFF]),
            Err(Error::Unrecognised)
        );
        // An Imm-Ack is exactly 3 bytes.
        assert_eq!(
            RadioMessage::parse(&[0x02, 0x00, 0x01, 0x00]),
            Err(Error::Unrecognised)
        );
        // A beacon needs a source address.
        assert_eq!(
            RadioMessage::parse(&[0x00, 0x08, 0x01, 0xCD, 0xAB, 0x01, 0x00]),
            Err(Error::Unrecognised)
        );
        let mut long = vec![0x41, 0x98, 0x05, 0xCD, 0xAB, 0xFF, 0xFF, 0x34, 0x12];
        long.resize(126, 0);
        assert_eq!(RadioMessage::parse(&long), Err(Error::FrameTooLong));
        long.truncate(125);
        assert!(matches!(
            RadioMessage::parse(&long),
            Ok(RadioMessage::Frame(_))
        ));
    }

    fn radio_message() -> impl Strategy<Value = RadioMessage> {
        prop_oneof![
            any::<[u8; 8]>().prop_map(|b| RadioMessage::Mac(Eui64(b))),
            (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(sid, s, tx)| {
                RadioMessage::TxResult {
                    sid,
                    status: TxStatus::from(s),
                    transmissions: tx,
                }
            }),
            (any::<u16>(), any::<u16>())
                .prop_map(|(param, value)| RadioMessage::Param { param, value }),
            Just(RadioMessage::UnknownCommand),
            "[a-zA-Z0-9 :.]{0,60}".prop_map(RadioMessage::Debug),
            // Data frames with short addresses, PAN ID compression, any payload.
            (
                any::<u8>(),
                any::<u16>(),
                any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..100)
            )
                .prop_map(|(seq, dst, src, payload)| {
                    let mut f = vec![0x61, 0x88, seq, 0xCD, 0xAB];
                    f.extend_from_slice(&dst.to_le_bytes());
                    f.extend_from_slice(&src.to_le_bytes());
                    f.extend_from_slice(&payload);
                    RadioMessage::Frame(f)
                }),
        ]
    }

    fn host_message() -> impl Strategy<Value = HostMessage> {
        prop_oneof![
            Just(HostMessage::GetMac),
            (
                any::<u8>(),
                any::<Option<u8>>(),
                proptest::collection::vec(any::<u8>(), 1..126)
            )
                .prop_map(|(sid, max_tx, frame)| HostMessage::Send {
                    sid,
                    max_tx,
                    frame
                }),
            (any::<u16>(), any::<u16>())
                .prop_map(|(param, value)| HostMessage::SetParam { param, value }),
            any::<u16>().prop_map(|param| HostMessage::GetParam { param }),
        ]
    }

    proptest! {
        #[test]
        fn radio_roundtrip(m in radio_message()) {
            let b = m.to_bytes();
            prop_assert_eq!(b.len(), m.buffer_len());
            prop_assert_eq!(RadioMessage::parse(&b), Ok(m));
        }

        #[test]
        fn host_roundtrip(m in host_message()) {
            let b = m.to_bytes();
            prop_assert_eq!(b.len(), m.buffer_len());
            prop_assert_eq!(HostMessage::parse(&b), Ok(m));
        }

        #[test]
        fn any_valid_frame_stays_a_frame(fc0 in any::<u8>(), fc1 in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut b = vec![fc0, fc1];
            b.extend_from_slice(&rest);
            if looks_like_frame(&b).is_ok() && !is_exact_message_form(&b) {
                prop_assert_eq!(RadioMessage::parse(&b), Ok(RadioMessage::Frame(b.clone())));
            }
        }
    }

    proptest! {
        // What CI runs instead of the `radio_message` fuzz target.
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(m) = HostMessage::parse(&b) {
                prop_assert_eq!(HostMessage::parse(&m.to_bytes()), Ok(m));
            }
            let _ = RadioMessage::parse(&b);
        }

        #[test]
        fn bang_prefixed_never_panics(second in any::<u8>(), b in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut v = vec![b'!', second];
            v.extend_from_slice(&b);
            let _ = RadioMessage::parse(&v);
            let _ = HostMessage::parse(&v);
        }
    }
}
