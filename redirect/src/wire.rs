//! Byte layout of a redirect message (docs/protocol.md, "Redirect protocol"). All integers
//! big-endian.
//!
//! ```text
//! off  len  field
//!   0    2  magic "HR" (0x48 0x52)
//!   2    1  version (2)
//!   3    1  message type
//!   4    4  key id
//!   8    8  sender instance id
//!  16    8  sequence number
//!  24    8  timestamp, ms since the Unix epoch (sender's wall clock)
//!  32   16  peer address     } the flow tag; all zero in Hello
//!  48    2  peer port        }
//!  50   16  mote address     }
//!  66    2  mote port        }
//!  68    2  payload length N
//!  70    N  payload
//! 70+N  16  tag: HMAC-SHA256(direction key, bytes 0 .. 70+N), first 16 bytes
//! ```
//!
//! The direction key is HMAC-SHA256(shared secret, label), the label "HR2 br->iotssp" or
//! "HR2 iotssp->br" ([`Direction`]): a message reflected to its sender fails its tag.

use crate::key::{Direction, RedirectKey};
use crate::message::MAX_SESSION_ID_LEN;
use crate::{AbandonReason, FlowTag, MessageType, RedirectMessage};
use core::fmt;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::net::Ipv6Addr;

pub const MAGIC: [u8; 2] = *b"HR";
/// 2: tags under per-direction keys (version 1 tagged both directions under one key).
pub const VERSION: u8 = 2;
/// Everything before the payload.
pub const HEADER_LEN: usize = 70;
/// Truncated HMAC-SHA256.
pub const TAG_LEN: usize = 16;
/// A message must fit one UDP datagram over IPv4 too (65507 bytes of payload).
pub const MAX_MESSAGE_LEN: usize = 65507;
pub const MAX_PAYLOAD_LEN: usize = MAX_MESSAGE_LEN - HEADER_LEN - TAG_LEN;

mod field {
    use core::ops::Range;
    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const TYPE: usize = 3;
    pub const KEY_ID: Range<usize> = 4..8;
    pub const SENDER: Range<usize> = 8..16;
    pub const SEQUENCE: Range<usize> = 16..24;
    pub const TIMESTAMP: Range<usize> = 24..32;
    pub const PEER_ADDR: Range<usize> = 32..48;
    pub const PEER_PORT: Range<usize> = 48..50;
    pub const MOTE_ADDR: Range<usize> = 50..66;
    pub const MOTE_PORT: Range<usize> = 66..68;
    pub const PAYLOAD_LEN: Range<usize> = 68..70;
    pub const PAYLOAD: usize = 70;
}

/// Why bytes are not a redirect message. Stable names for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// Shorter than header + tag.
    Truncated,
    BadMagic,
    BadVersion(u8),
    /// Total length differs from header + payload length + tag.
    BadLength,
    UnknownType(u8),
    /// Divert or Emit without a datagram.
    EmptyDatagram,
    /// FlowAbandoned payload is not exactly one reason byte.
    BadAbandon,
    /// Hello with a flow tag or a payload.
    NonEmptyHello,
    /// MoteDatagram with a peer half in its flow tag, or without a mote.
    BadMoteDatagram,
    /// SessionResumable whose payload is not a lifetime and a 1..=32-byte session id, or
    /// ResumableAck whose payload is not a 1..=32-byte session id.
    BadResumable,
    PayloadTooLong,
}

impl WireError {
    pub fn as_str(&self) -> &'static str {
        match self {
            WireError::Truncated => "redirect_truncated",
            WireError::BadMagic => "redirect_bad_magic",
            WireError::BadVersion(_) => "redirect_bad_version",
            WireError::BadLength => "redirect_bad_length",
            WireError::UnknownType(_) => "redirect_unknown_type",
            WireError::EmptyDatagram => "redirect_empty_datagram",
            WireError::BadAbandon => "redirect_bad_abandon",
            WireError::NonEmptyHello => "redirect_non_empty_hello",
            WireError::BadMoteDatagram => "redirect_bad_mote_datagram",
            WireError::BadResumable => "redirect_bad_resumable",
            WireError::PayloadTooLong => "redirect_payload_too_long",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for WireError {}

type HmacSha256 = Hmac<Sha256>;

/// A MoteDatagram's flow tag names the mote (address and transfer port) and nothing else.
fn is_mote_datagram_tag(flow: &FlowTag) -> bool {
    flow.peer_addr.is_unspecified()
        && flow.peer_port == 0
        && !flow.mote_addr.is_unspecified()
        && flow.mote_port != 0
}

fn mac_over(key: &RedirectKey, direction: Direction, authenticated: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key.tag_key(direction))
        .unwrap_or_else(|_| unreachable!());
    m.update(authenticated);
    m
}

/// Zero-copy view of a redirect message. After `check_len`, no accessor can panic.
#[derive(Debug, Clone, Copy)]
pub struct RedirectPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RedirectPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        RedirectPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Magic, version and exact length (header + payload length + tag, nothing trailing).
    /// Checks what can be checked without the key; the tag is `verify`'s job.
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN + TAG_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::MAGIC] != MAGIC {
            return Err(WireError::BadMagic);
        }
        if b[field::VERSION] != VERSION {
            return Err(WireError::BadVersion(b[field::VERSION]));
        }
        if b.len() != HEADER_LEN + usize::from(self.payload_len()) + TAG_LEN {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn u64_at(&self, r: core::ops::Range<usize>) -> u64 {
        self.buffer.as_ref()[r]
            .iter()
            .fold(0, |acc, b| (acc << 8) | u64::from(*b))
    }

    fn addr_at(&self, r: core::ops::Range<usize>) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[r]);
        Ipv6Addr::from(a)
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    pub fn msg_type(&self) -> MessageType {
        MessageType::from(self.buffer.as_ref()[field::TYPE])
    }

    /// Which key the sender used (readable before the tag is checked, to pick the key).
    pub fn key_id(&self) -> u32 {
        self.u64_at(field::KEY_ID) as u32
    }

    pub fn sender(&self) -> u64 {
        self.u64_at(field::SENDER)
    }

    pub fn sequence(&self) -> u64 {
        self.u64_at(field::SEQUENCE)
    }

    pub fn timestamp_ms(&self) -> u64 {
        self.u64_at(field::TIMESTAMP)
    }

    pub fn flow(&self) -> FlowTag {
        FlowTag {
            peer_addr: self.addr_at(field::PEER_ADDR),
            peer_port: self.u16_at(field::PEER_PORT),
            mote_addr: self.addr_at(field::MOTE_ADDR),
            mote_port: self.u16_at(field::MOTE_PORT),
        }
    }

    pub fn payload_len(&self) -> u16 {
        self.u16_at(field::PAYLOAD_LEN)
    }

    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = (field::PAYLOAD + usize::from(self.payload_len())).min(b.len());
        &b[field::PAYLOAD.min(end)..end]
    }

    /// Bytes covered by the tag.
    pub fn authenticated(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..b.len().saturating_sub(TAG_LEN)]
    }

    pub fn tag(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[b.len().saturating_sub(TAG_LEN)..]
    }

    /// Constant-time check of the tag under `key`'s key for `direction`.
    pub fn verify(&self, key: &RedirectKey, direction: Direction) -> bool {
        mac_over(key, direction, self.authenticated())
            .verify_truncated_left(self.tag())
            .is_ok()
    }
}

impl<'a> RedirectPacket<&'a [u8]> {
    /// The payload with the buffer's lifetime (for zero-copy Reprs).
    pub fn payload_ref(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        let end = (field::PAYLOAD + usize::from(self.payload_len())).min(b.len());
        &b[field::PAYLOAD.min(end)..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RedirectPacket<T> {
    fn put(&mut self, r: core::ops::Range<usize>, bytes: &[u8]) {
        self.buffer.as_mut()[r].copy_from_slice(bytes);
    }
    pub fn set_header(&mut self, msg_type: MessageType) {
        self.put(field::MAGIC, &MAGIC);
        self.buffer.as_mut()[field::VERSION] = VERSION;
        self.buffer.as_mut()[field::TYPE] = msg_type.into();
    }
    pub fn set_key_id(&mut self, v: u32) {
        self.put(field::KEY_ID, &v.to_be_bytes());
    }
    pub fn set_sender(&mut self, v: u64) {
        self.put(field::SENDER, &v.to_be_bytes());
    }
    pub fn set_sequence(&mut self, v: u64) {
        self.put(field::SEQUENCE, &v.to_be_bytes());
    }
    pub fn set_timestamp_ms(&mut self, v: u64) {
        self.put(field::TIMESTAMP, &v.to_be_bytes());
    }
    pub fn set_flow(&mut self, f: &FlowTag) {
        self.put(field::PEER_ADDR, &f.peer_addr.octets());
        self.put(field::PEER_PORT, &f.peer_port.to_be_bytes());
        self.put(field::MOTE_ADDR, &f.mote_addr.octets());
        self.put(field::MOTE_PORT, &f.mote_port.to_be_bytes());
    }
    pub fn set_payload_len(&mut self, v: u16) {
        self.put(field::PAYLOAD_LEN, &v.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = field::PAYLOAD + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[field::PAYLOAD..end]
    }
    /// Computes and writes the tag over everything before it.
    pub fn fill_tag(&mut self, key: &RedirectKey, direction: Direction) {
        let len = self.buffer.as_ref().len();
        let split = len - TAG_LEN;
        let mac = mac_over(key, direction, &self.buffer.as_ref()[..split])
            .finalize()
            .into_bytes();
        self.buffer.as_mut()[split..].copy_from_slice(&mac[..TAG_LEN]);
    }
}

/// The authenticated envelope around every message: who sent it, with which key, when,
/// and its place in the sender's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Envelope {
    pub key_id: u32,
    /// Random per sender process start; replay windows are kept per instance.
    pub sender: u64,
    pub sequence: u64,
    pub timestamp_ms: u64,
}

/// A whole redirect message as values; the payload borrows the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectRepr<'a> {
    pub envelope: Envelope,
    pub message: RedirectMessage<'a>,
}

impl<'a> RedirectRepr<'a> {
    /// Parses a packet whose length was checked. Does not check the tag.
    pub fn parse(packet: &RedirectPacket<&'a [u8]>) -> Result<Self, WireError> {
        packet.check_len()?;
        let flow = packet.flow();
        let payload = packet.payload_ref();
        let message = match packet.msg_type() {
            MessageType::Divert | MessageType::Emit | MessageType::MoteDatagram
                if payload.is_empty() =>
            {
                return Err(WireError::EmptyDatagram);
            }
            MessageType::Divert => RedirectMessage::Divert {
                flow,
                datagram: payload,
            },
            MessageType::Emit => RedirectMessage::Emit {
                flow,
                datagram: payload,
            },
            MessageType::FlowTransferred => RedirectMessage::FlowTransferred {
                flow,
                final_flight: payload,
            },
            MessageType::FlowAbandoned => match payload {
                [reason] => RedirectMessage::FlowAbandoned {
                    flow,
                    reason: AbandonReason::from(*reason),
                },
                _ => return Err(WireError::BadAbandon),
            },
            MessageType::Hello if flow != FlowTag::NONE || !payload.is_empty() => {
                return Err(WireError::NonEmptyHello);
            }
            MessageType::Hello => RedirectMessage::Hello,
            MessageType::MoteDatagram if !is_mote_datagram_tag(&flow) => {
                return Err(WireError::BadMoteDatagram);
            }
            MessageType::MoteDatagram => RedirectMessage::MoteDatagram {
                flow,
                datagram: payload,
            },
            MessageType::SessionResumable => match payload {
                [a, b, c, d, id @ ..] if (1..=MAX_SESSION_ID_LEN).contains(&id.len()) => {
                    RedirectMessage::SessionResumable {
                        flow,
                        lifetime_secs: u32::from_be_bytes([*a, *b, *c, *d]),
                        session_id: id,
                    }
                }
                _ => return Err(WireError::BadResumable),
            },
            MessageType::ResumableAck if (1..=MAX_SESSION_ID_LEN).contains(&payload.len()) => {
                RedirectMessage::ResumableAck {
                    flow,
                    session_id: payload,
                }
            }
            MessageType::ResumableAck => return Err(WireError::BadResumable),
            MessageType::Unknown(t) => return Err(WireError::UnknownType(t)),
        };
        Ok(RedirectRepr {
            envelope: Envelope {
                key_id: packet.key_id(),
                sender: packet.sender(),
                sequence: packet.sequence(),
                timestamp_ms: packet.timestamp_ms(),
            },
            message,
        })
    }

    /// Header + payload + tag.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.message.payload_len() + TAG_LEN
    }

    /// Checks the message can be emitted (payload within limits, datagram not empty).
    pub fn check(&self) -> Result<(), WireError> {
        match self.message {
            RedirectMessage::Divert { datagram, .. }
            | RedirectMessage::Emit { datagram, .. }
            | RedirectMessage::MoteDatagram { datagram, .. }
                if datagram.is_empty() =>
            {
                Err(WireError::EmptyDatagram)
            }
            RedirectMessage::MoteDatagram { flow, .. } if !is_mote_datagram_tag(&flow) => {
                Err(WireError::BadMoteDatagram)
            }
            RedirectMessage::SessionResumable { session_id, .. }
            | RedirectMessage::ResumableAck { session_id, .. }
                if !(1..=MAX_SESSION_ID_LEN).contains(&session_id.len()) =>
            {
                Err(WireError::BadResumable)
            }
            _ if self.message.payload_len() > MAX_PAYLOAD_LEN => Err(WireError::PayloadTooLong),
            _ => Ok(()),
        }
    }

    /// Writes everything but the tag into a buffer of exactly `buffer_len()` bytes; then
    /// `fill_tag` seals it. Call `check` first: an oversized payload is truncated in the
    /// length field, never a panic, but would not parse back.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut RedirectPacket<T>) {
        packet.set_header(self.message.msg_type());
        packet.set_key_id(self.envelope.key_id);
        packet.set_sender(self.envelope.sender);
        packet.set_sequence(self.envelope.sequence);
        packet.set_timestamp_ms(self.envelope.timestamp_ms);
        packet.set_flow(&self.message.flow());
        let payload_len = self.message.payload_len().min(MAX_PAYLOAD_LEN);
        packet.set_payload_len(payload_len as u16);
        let out = packet.payload_mut();
        match self.message {
            RedirectMessage::Divert { datagram, .. }
            | RedirectMessage::Emit { datagram, .. }
            | RedirectMessage::MoteDatagram { datagram, .. } => {
                out.copy_from_slice(&datagram[..payload_len])
            }
            RedirectMessage::FlowTransferred { final_flight, .. } => {
                out.copy_from_slice(&final_flight[..payload_len])
            }
            RedirectMessage::FlowAbandoned { reason, .. } => out.copy_from_slice(&[reason.into()]),
            RedirectMessage::SessionResumable {
                lifetime_secs,
                session_id,
                ..
            } => {
                // check() bounds the id; a longer one is cut to the payload, never a panic.
                let (head, id) = out.split_at_mut(4.min(payload_len));
                head.copy_from_slice(&lifetime_secs.to_be_bytes()[..head.len()]);
                let n = id.len().min(session_id.len());
                id[..n].copy_from_slice(&session_id[..n]);
            }
            RedirectMessage::ResumableAck { session_id, .. } => {
                // check() bounds the id; a longer one is cut to the payload.
                out.copy_from_slice(&session_id[..payload_len.min(session_id.len())])
            }
            RedirectMessage::Hello => {}
        }
    }

    /// check + emit + fill_tag into a fresh buffer.
    pub fn to_sealed_bytes(
        &self,
        key: &RedirectKey,
        direction: Direction,
    ) -> Result<Vec<u8>, WireError> {
        self.check()?;
        let mut buf = vec![0u8; self.buffer_len()];
        let mut p = RedirectPacket::new_unchecked(&mut buf[..]);
        self.emit(&mut p);
        p.fill_tag(key, direction);
        Ok(buf)
    }
}
