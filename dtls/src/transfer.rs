//! The session-transfer wire formats of `docs/session-transfer.md`: the SessionTransferTicket
//! hello extension (0xFF5A, ClientHello and ServerHello forms), TransferSession (IoTSSP ->
//! mote) and TransferConfirm (mote -> IoTSSP), each as a zero-copy view with checked
//! constructors and a typed `Repr`, plus the confirmation's key check.
//!
//! A TransferSession carries live session keys: its `Repr` holds them in [`SessionKeys`]
//! (zeroized on drop, redacted in `Debug`) and [`TransferSessionRepr::to_bytes`] returns a
//! buffer that is wiped on drop too.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Role;
use crate::config::CipherSuite;
use crate::handshake::msgs::Extension;
use crate::record::{RecordAead, RecordHeader, SessionKeys, SessionState};

/// TLS extension type of the SessionTransferTicket (private-use range, RFC 8446 section 11).
pub const STT_EXTENSION_TYPE: u16 = 0xFF5A;
/// The only version of the extension and of the transfer messages defined so far.
pub const VERSION: u8 = 1;
/// HMAC label of the key check in TransferConfirm.
pub const KEY_CHECK_LABEL: &[u8] = b"lowpan-br transfer confirm";
/// Longest session id (RFC 5246 `SessionID<0..32>`).
pub const MAX_SESSION_ID_LEN: usize = 32;

/// Why a transfer message or extension did not parse or convert (stable names for counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    #[error("truncated")]
    Truncated,
    #[error("trailing data")]
    TrailingData,
    #[error("wrong message type")]
    BadMessageType,
    #[error("unsupported version")]
    UnsupportedVersion,
    #[error("session id longer than 32 bytes")]
    BadSessionIdLength,
    #[error("cipher suite is not one this engine can continue")]
    UnsupportedSuite,
    #[error("only a server-role session can be transferred")]
    WrongRole,
    #[error("no record received in the read epoch yet")]
    NothingReceived,
    #[error("sequence number beyond 48 bits")]
    SequenceOutOfRange,
}

impl TransferError {
    pub fn as_str(&self) -> &'static str {
        match self {
            TransferError::Truncated => "truncated",
            TransferError::TrailingData => "trailing_data",
            TransferError::BadMessageType => "bad_message_type",
            TransferError::UnsupportedVersion => "unsupported_version",
            TransferError::BadSessionIdLength => "bad_session_id_length",
            TransferError::UnsupportedSuite => "unsupported_suite",
            TransferError::WrongRole => "wrong_role",
            TransferError::NothingReceived => "nothing_received",
            TransferError::SequenceOutOfRange => "sequence_out_of_range",
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u48_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x[2..].copy_from_slice(&b[at..at + 6]);
    u64::from_be_bytes(x)
}

fn put_u48(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 6].copy_from_slice(&v.to_be_bytes()[2..]);
}

fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut x = [0u8; N];
    x.copy_from_slice(&b[at..at + N]);
    x
}

// ---------------------------------------------------------------------------------------
// SessionTransferTicket, ClientHello form
// ---------------------------------------------------------------------------------------

/// Flag bit 0 of the offer: transfer requested.
const FLAG_TRANSFER_REQUESTED: u8 = 0x01;

/// Zero-copy view of the ClientHello `extension_data` (version, flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SttOffer<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SttOffer<T> {
    pub const LEN: usize = 2;

    pub fn new_unchecked(buffer: T) -> Self {
        SttOffer { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, TransferError> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }

    /// After this succeeds no accessor can panic.
    pub fn check_len(&self) -> Result<(), TransferError> {
        match self.buffer.as_ref().len() {
            n if n < Self::LEN => Err(TransferError::Truncated),
            _ => Ok(()),
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SttOffer<T> {
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[0] = v;
    }

    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[1] = v;
    }
}

/// The IoTSSP's offer in its ClientHello to the mote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SttOfferRepr {
    /// Always true when sent; reserved flag bits are ignored on parse (sent as 0).
    pub transfer_requested: bool,
}

impl SttOfferRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &SttOffer<T>) -> Result<Self, TransferError> {
        v.check_len()?;
        if v.version() != VERSION {
            return Err(TransferError::UnsupportedVersion);
        }
        if v.buffer.as_ref().len() > SttOffer::<T>::LEN {
            return Err(TransferError::TrailingData);
        }
        Ok(SttOfferRepr {
            transfer_requested: v.flags() & FLAG_TRANSFER_REQUESTED != 0,
        })
    }

    pub fn buffer_len(&self) -> usize {
        SttOffer::<&[u8]>::LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut SttOffer<T>) {
        v.set_version(VERSION);
        v.set_flags(if self.transfer_requested {
            FLAG_TRANSFER_REQUESTED
        } else {
            0
        });
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.buffer_len()];
        self.emit(&mut SttOffer::new_unchecked(&mut b[..]));
        b
    }

    /// The extension to put in `ClientConfig::extra_client_hello_extensions`.
    pub fn to_extension(&self) -> Extension {
        Extension {
            typ: STT_EXTENSION_TYPE,
            data: self.to_bytes(),
        }
    }

    /// The offer among hello extensions: `None` if absent.
    pub fn find(extensions: &[Extension]) -> Option<Result<Self, TransferError>> {
        find_stt(extensions).map(|d| Self::parse(&SttOffer::new_unchecked(d)))
    }
}

fn find_stt(extensions: &[Extension]) -> Option<&[u8]> {
    extensions
        .iter()
        .find(|e| e.typ == STT_EXTENSION_TYPE)
        .map(|e| &e.data[..])
}

// ---------------------------------------------------------------------------------------
// SessionTransferTicket, ServerHello form
// ---------------------------------------------------------------------------------------

/// The mote's answer to an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SttStatus {
    Accept,
    /// No free session slot.
    Busy,
    Refused,
    Unknown(u8),
}

impl From<u8> for SttStatus {
    fn from(v: u8) -> Self {
        match v {
            0 => SttStatus::Accept,
            1 => SttStatus::Busy,
            2 => SttStatus::Refused,
            x => SttStatus::Unknown(x),
        }
    }
}

impl From<SttStatus> for u8 {
    fn from(v: SttStatus) -> u8 {
        match v {
            SttStatus::Accept => 0,
            SttStatus::Busy => 1,
            SttStatus::Refused => 2,
            SttStatus::Unknown(x) => x,
        }
    }
}

/// Zero-copy view of the ServerHello `extension_data` (version, status, free slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SttAnswer<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SttAnswer<T> {
    pub const LEN: usize = 3;

    pub fn new_unchecked(buffer: T) -> Self {
        SttAnswer { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, TransferError> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }

    pub fn check_len(&self) -> Result<(), TransferError> {
        if self.buffer.as_ref().len() < Self::LEN {
            Err(TransferError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    pub fn status(&self) -> SttStatus {
        self.buffer.as_ref()[1].into()
    }

    pub fn free_slots(&self) -> u8 {
        self.buffer.as_ref()[2]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SttAnswer<T> {
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[0] = v;
    }

    pub fn set_status(&mut self, s: SttStatus) {
        self.buffer.as_mut()[1] = s.into();
    }

    pub fn set_free_slots(&mut self, n: u8) {
        self.buffer.as_mut()[2] = n;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SttAnswerRepr {
    pub status: SttStatus,
    /// Free session slots after this one (availability hint for the IoTSSP).
    pub free_slots: u8,
}

impl SttAnswerRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &SttAnswer<T>) -> Result<Self, TransferError> {
        v.check_len()?;
        if v.version() != VERSION {
            return Err(TransferError::UnsupportedVersion);
        }
        if v.buffer.as_ref().len() > SttAnswer::<T>::LEN {
            return Err(TransferError::TrailingData);
        }
        Ok(SttAnswerRepr {
            status: v.status(),
            free_slots: v.free_slots(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        SttAnswer::<&[u8]>::LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut SttAnswer<T>) {
        v.set_version(VERSION);
        v.set_status(self.status);
        v.set_free_slots(self.free_slots);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.buffer_len()];
        self.emit(&mut SttAnswer::new_unchecked(&mut b[..]));
        b
    }

    /// The extension a server's `HelloExtensionHandler` returns for the ServerHello.
    pub fn to_extension(&self) -> Extension {
        Extension {
            typ: STT_EXTENSION_TYPE,
            data: self.to_bytes(),
        }
    }

    /// The answer among ServerHello extensions: `None` if the mote ignored the offer.
    pub fn find(extensions: &[Extension]) -> Option<Result<Self, TransferError>> {
        find_stt(extensions).map(|d| Self::parse(&SttAnswer::new_unchecked(d)))
    }
}

// ---------------------------------------------------------------------------------------
// Transfer messages
// ---------------------------------------------------------------------------------------

/// The first byte of a transfer message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    TransferSession,
    TransferConfirm,
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::TransferSession,
            2 => MessageType::TransferConfirm,
            x => MessageType::Unknown(x),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(v: MessageType) -> u8 {
        match v {
            MessageType::TransferSession => 1,
            MessageType::TransferConfirm => 2,
            MessageType::Unknown(x) => x,
        }
    }
}

/// Fixed offsets of TransferSession; `tail` offsets are relative to `29 + L`.
mod session_field {
    use std::ops::Range;
    pub const MSG_TYPE: usize = 0;
    pub const VERSION: usize = 1;
    pub const TRANSFER_ID: Range<usize> = 2..6;
    pub const SUITE: Range<usize> = 6..8;
    pub const PEER_ADDR: Range<usize> = 8..24;
    pub const PEER_PORT: Range<usize> = 24..26;
    pub const LOCAL_PORT: Range<usize> = 26..28;
    pub const SESSION_ID_LEN: usize = 28;
    pub const SESSION_ID: usize = 29;
    /// After the session id: the keys and IVs (their lengths follow the suite, see
    /// [`key_lengths`](super::key_lengths)), then the counters at these offsets from
    /// the end of the IVs.
    pub mod counters {
        pub const READ_EPOCH: usize = 0;
        pub const READ_HIGHEST_SEQ: usize = 2;
        pub const READ_BITMAP: usize = 8;
        pub const WRITE_EPOCH: usize = 16;
        pub const NEXT_WRITE_SEQ: usize = 18;
        pub const LEN: usize = 24;
    }
}

/// (key length, IV length) of a TransferSession's suite: 32 and 12 for
/// TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 16 and 4 for every other suite (the
/// AES-128 suites; an unknown suite keeps that layout, so its message still parses and the
/// mote can answer "unsupported suite").
pub fn key_lengths(cipher_suite: u16) -> (usize, usize) {
    match CipherSuite::from_id(cipher_suite) {
        Some(s) => (s.aead().key_len(), s.aead().iv_len()),
        None => (16, 4),
    }
}

/// Zero-copy view of a TransferSession message (`93 + L` bytes for the AES-128 suites,
/// `141 + L` for ChaCha20-Poly1305). `Debug` never shows keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TransferSession<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> std::fmt::Debug for TransferSession<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferSession")
            .field("len", &self.buffer.as_ref().len())
            .finish_non_exhaustive()
    }
}

impl<T: AsRef<[u8]>> TransferSession<T> {
    /// Length without the session id, for the AES-128 suites (the shortest keys).
    pub const MIN_LEN: usize =
        session_field::SESSION_ID + 2 * (16 + 4) + session_field::counters::LEN;

    /// Length of a message for `cipher_suite` with a session id of `session_id_len` bytes.
    pub fn len_for(cipher_suite: u16, session_id_len: usize) -> usize {
        let (k, i) = key_lengths(cipher_suite);
        session_field::SESSION_ID + session_id_len + 2 * (k + i) + session_field::counters::LEN
    }

    pub fn new_unchecked(buffer: T) -> Self {
        TransferSession { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, TransferError> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }

    /// The buffer holds the fixed part, a session id length of at most 32 and the whole
    /// tail after it (keys of the suite's lengths, then the counters); after this succeeds
    /// no accessor can panic.
    pub fn check_len(&self) -> Result<(), TransferError> {
        let b = self.buffer.as_ref();
        let Some(&l) = b.get(session_field::SESSION_ID_LEN) else {
            return Err(TransferError::Truncated);
        };
        if l as usize > MAX_SESSION_ID_LEN {
            return Err(TransferError::BadSessionIdLength);
        }
        if b.len() < self.total_len() {
            Err(TransferError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Length of the message this view holds (`93 + L`, or `141 + L` for ChaCha20).
    pub fn total_len(&self) -> usize {
        Self::len_for(self.cipher_suite(), self.session_id_len() as usize)
    }

    /// Offset of the client_write_key.
    fn tail(&self) -> usize {
        session_field::SESSION_ID + self.session_id_len() as usize
    }

    /// Offset of the counters after the keys and IVs.
    fn counters(&self) -> usize {
        let (k, i) = key_lengths(self.cipher_suite());
        self.tail() + 2 * (k + i)
    }

    /// The key (`n` = 0 client, 1 server) or IV (2 client, 3 server) field.
    fn key_field(&self, n: usize) -> std::ops::Range<usize> {
        let (k, i) = key_lengths(self.cipher_suite());
        let at = self.tail() + if n < 2 { n * k } else { 2 * k + (n - 2) * i };
        at..at + if n < 2 { k } else { i }
    }

    pub fn msg_type(&self) -> MessageType {
        self.buffer.as_ref()[session_field::MSG_TYPE].into()
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[session_field::VERSION]
    }

    pub fn transfer_id(&self) -> u32 {
        u32_at(self.buffer.as_ref(), session_field::TRANSFER_ID.start)
    }

    pub fn cipher_suite(&self) -> u16 {
        u16_at(self.buffer.as_ref(), session_field::SUITE.start)
    }

    pub fn peer_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(
            self.buffer.as_ref(),
            session_field::PEER_ADDR.start,
        ))
    }

    pub fn peer_port(&self) -> u16 {
        u16_at(self.buffer.as_ref(), session_field::PEER_PORT.start)
    }

    pub fn local_port(&self) -> u16 {
        u16_at(self.buffer.as_ref(), session_field::LOCAL_PORT.start)
    }

    pub fn session_id_len(&self) -> u8 {
        self.buffer.as_ref()[session_field::SESSION_ID_LEN]
    }

    pub fn session_id(&self) -> &[u8] {
        &self.buffer.as_ref()[session_field::SESSION_ID..self.tail()]
    }

    pub fn client_write_key(&self) -> &[u8] {
        &self.buffer.as_ref()[self.key_field(0)]
    }

    pub fn server_write_key(&self) -> &[u8] {
        &self.buffer.as_ref()[self.key_field(1)]
    }

    pub fn client_write_iv(&self) -> &[u8] {
        &self.buffer.as_ref()[self.key_field(2)]
    }

    pub fn server_write_iv(&self) -> &[u8] {
        &self.buffer.as_ref()[self.key_field(3)]
    }

    pub fn read_epoch(&self) -> u16 {
        u16_at(
            self.buffer.as_ref(),
            self.counters() + session_field::counters::READ_EPOCH,
        )
    }

    pub fn read_highest_seq(&self) -> u64 {
        u48_at(
            self.buffer.as_ref(),
            self.counters() + session_field::counters::READ_HIGHEST_SEQ,
        )
    }

    pub fn read_replay_bitmap(&self) -> u64 {
        u64::from_be_bytes(array(
            self.buffer.as_ref(),
            self.counters() + session_field::counters::READ_BITMAP,
        ))
    }

    pub fn write_epoch(&self) -> u16 {
        u16_at(
            self.buffer.as_ref(),
            self.counters() + session_field::counters::WRITE_EPOCH,
        )
    }

    pub fn next_write_seq(&self) -> u64 {
        u48_at(
            self.buffer.as_ref(),
            self.counters() + session_field::counters::NEXT_WRITE_SEQ,
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TransferSession<T> {
    pub fn set_msg_type(&mut self, t: MessageType) {
        self.buffer.as_mut()[session_field::MSG_TYPE] = t.into();
    }

    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[session_field::VERSION] = v;
    }

    pub fn set_transfer_id(&mut self, id: u32) {
        self.buffer.as_mut()[session_field::TRANSFER_ID].copy_from_slice(&id.to_be_bytes());
    }

    /// Sets the lengths of the keys and IVs: set this (and the session id) before them.
    pub fn set_cipher_suite(&mut self, s: u16) {
        self.buffer.as_mut()[session_field::SUITE].copy_from_slice(&s.to_be_bytes());
    }

    pub fn set_peer_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[session_field::PEER_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_peer_port(&mut self, p: u16) {
        self.buffer.as_mut()[session_field::PEER_PORT].copy_from_slice(&p.to_be_bytes());
    }

    pub fn set_local_port(&mut self, p: u16) {
        self.buffer.as_mut()[session_field::LOCAL_PORT].copy_from_slice(&p.to_be_bytes());
    }

    /// Writes length and bytes; everything after moves with it, so set this first.
    /// `id` must be at most 32 bytes (the caller's `Repr` guarantees it).
    pub fn set_session_id(&mut self, id: &[u8]) {
        let b = self.buffer.as_mut();
        b[session_field::SESSION_ID_LEN] = id.len() as u8;
        b[session_field::SESSION_ID..session_field::SESSION_ID + id.len()].copy_from_slice(id);
    }

    fn tail_mut(&mut self, off: usize, len: usize) -> &mut [u8] {
        let at = self.counters() + off;
        &mut self.buffer.as_mut()[at..at + len]
    }

    /// The keys must have the lengths of the suite already set (the caller's `Repr`
    /// guarantees it); a field of another length is left as it is.
    pub fn set_keys(&mut self, k: &SessionKeys) {
        for (n, bytes) in [
            k.client_write_key(),
            k.server_write_key(),
            k.client_iv(),
            k.server_iv(),
        ]
        .into_iter()
        .enumerate()
        {
            let field = self.key_field(n);
            if field.len() == bytes.len() {
                self.buffer.as_mut()[field].copy_from_slice(bytes);
            }
        }
    }

    pub fn set_read_epoch(&mut self, e: u16) {
        self.tail_mut(session_field::counters::READ_EPOCH, 2)
            .copy_from_slice(&e.to_be_bytes());
    }

    /// Only the low 48 bits are written.
    pub fn set_read_highest_seq(&mut self, s: u64) {
        put_u48(
            self.tail_mut(session_field::counters::READ_HIGHEST_SEQ, 6),
            0,
            s,
        );
    }

    pub fn set_read_replay_bitmap(&mut self, m: u64) {
        self.tail_mut(session_field::counters::READ_BITMAP, 8)
            .copy_from_slice(&m.to_be_bytes());
    }

    pub fn set_write_epoch(&mut self, e: u16) {
        self.tail_mut(session_field::counters::WRITE_EPOCH, 2)
            .copy_from_slice(&e.to_be_bytes());
    }

    /// Only the low 48 bits are written.
    pub fn set_next_write_seq(&mut self, s: u64) {
        put_u48(
            self.tail_mut(session_field::counters::NEXT_WRITE_SEQ, 6),
            0,
            s,
        );
    }
}

/// A TransferSession: the server role of a live session, continued by the mote. Its keys
/// are wiped on drop and never shown by `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSessionRepr {
    pub transfer_id: u32,
    pub cipher_suite: u16,
    pub peer_addr: Ipv6Addr,
    pub peer_port: u16,
    /// The mote's UDP port of the session (5684).
    pub local_port: u16,
    /// At most 32 bytes.
    pub session_id: Vec<u8>,
    pub keys: SessionKeys,
    /// Records from the client.
    pub read_epoch: u16,
    /// Highest client sequence number received in `read_epoch` (48 bits).
    pub read_highest_seq: u64,
    /// Wire form: bit i = `read_highest_seq - 1 - i` seen.
    pub read_replay_bitmap: u64,
    /// Records to the client.
    pub write_epoch: u16,
    /// Next sequence number the mote writes (48 bits).
    pub next_write_seq: u64,
}

impl TransferSessionRepr {
    /// Parses a whole message: type, version and exact length are checked.
    pub fn parse<T: AsRef<[u8]>>(v: &TransferSession<T>) -> Result<Self, TransferError> {
        v.check_len()?;
        if v.msg_type() != MessageType::TransferSession {
            return Err(TransferError::BadMessageType);
        }
        if v.version() != VERSION {
            return Err(TransferError::UnsupportedVersion);
        }
        if v.buffer.as_ref().len() > v.total_len() {
            return Err(TransferError::TrailingData);
        }
        Ok(TransferSessionRepr {
            transfer_id: v.transfer_id(),
            cipher_suite: v.cipher_suite(),
            peer_addr: v.peer_addr(),
            peer_port: v.peer_port(),
            local_port: v.local_port(),
            session_id: v.session_id().to_vec(),
            keys: SessionKeys::new(
                CipherSuite::from_id(v.cipher_suite()).map_or(RecordAead::Aes128Ccm8, |s| s.aead()),
                v.client_write_key(),
                v.server_write_key(),
                v.client_write_iv(),
                v.server_write_iv(),
            )
            .ok_or(TransferError::Truncated)?,
            read_epoch: v.read_epoch(),
            read_highest_seq: v.read_highest_seq(),
            read_replay_bitmap: v.read_replay_bitmap(),
            write_epoch: v.write_epoch(),
            next_write_seq: v.next_write_seq(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        TransferSession::<&[u8]>::len_for(
            self.cipher_suite,
            self.session_id.len().min(MAX_SESSION_ID_LEN),
        )
    }

    /// `v` must be at least `buffer_len()` bytes. A session id longer than 32 bytes is cut
    /// to 32 (constructors never make one); sequence numbers keep their low 48 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut TransferSession<T>) {
        v.set_msg_type(MessageType::TransferSession);
        v.set_version(VERSION);
        v.set_transfer_id(self.transfer_id);
        v.set_cipher_suite(self.cipher_suite);
        v.set_peer_addr(self.peer_addr);
        v.set_peer_port(self.peer_port);
        v.set_local_port(self.local_port);
        v.set_session_id(&self.session_id[..self.session_id.len().min(MAX_SESSION_ID_LEN)]);
        v.set_keys(&self.keys);
        v.set_read_epoch(self.read_epoch);
        v.set_read_highest_seq(self.read_highest_seq);
        v.set_read_replay_bitmap(self.read_replay_bitmap);
        v.set_write_epoch(self.write_epoch);
        v.set_next_write_seq(self.next_write_seq);
    }

    /// The message bytes, wiped when dropped (they hold the session keys).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut b = Zeroizing::new(vec![0u8; self.buffer_len()]);
        self.emit(&mut TransferSession::new_unchecked(&mut b[..]));
        b
    }

    /// Builds the message from the server's `Connection::export_session()` (taken while
    /// `Paused`), the client's address and port, the mote's port, the session id and a
    /// fresh random transfer id.
    pub fn from_session(
        state: &SessionState,
        cipher_suite: CipherSuite,
        peer: SocketAddr,
        local_port: u16,
        session_id: &[u8],
        transfer_id: u32,
    ) -> Result<Self, TransferError> {
        if state.role != Role::Server {
            return Err(TransferError::WrongRole);
        }
        if state.keys.aead() != cipher_suite.aead() {
            return Err(TransferError::UnsupportedSuite);
        }
        if session_id.len() > MAX_SESSION_ID_LEN {
            return Err(TransferError::BadSessionIdLength);
        }
        let highest = state
            .read_highest_seq
            .ok_or(TransferError::NothingReceived)?;
        if highest > RecordHeader::MAX_SEQUENCE || state.next_write_seq > RecordHeader::MAX_SEQUENCE
        {
            return Err(TransferError::SequenceOutOfRange);
        }
        let peer_addr = match peer.ip() {
            IpAddr::V6(a) => a,
            IpAddr::V4(a) => a.to_ipv6_mapped(),
        };
        Ok(TransferSessionRepr {
            transfer_id,
            cipher_suite: cipher_suite.id(),
            peer_addr,
            peer_port: peer.port(),
            local_port,
            session_id: session_id.to_vec(),
            keys: state.keys.clone(),
            read_epoch: state.read_epoch,
            read_highest_seq: highest,
            // The record layer's bit 0 is the highest record itself; the wire starts below it.
            read_replay_bitmap: state.read_replay_bitmap >> 1,
            write_epoch: state.write_epoch,
            next_write_seq: state.next_write_seq,
        })
    }

    /// The server-role state the mote builds its `RecordLayer::from_session` from.
    pub fn session_state(&self) -> Result<SessionState, TransferError> {
        match CipherSuite::from_id(self.cipher_suite) {
            Some(s) if s.aead() == self.keys.aead() => {}
            _ => return Err(TransferError::UnsupportedSuite),
        }
        if self.read_highest_seq > RecordHeader::MAX_SEQUENCE
            || self.next_write_seq > RecordHeader::MAX_SEQUENCE
        {
            return Err(TransferError::SequenceOutOfRange);
        }
        Ok(SessionState {
            role: Role::Server,
            keys: self.keys.clone(),
            read_epoch: self.read_epoch,
            read_highest_seq: Some(self.read_highest_seq),
            read_replay_bitmap: (self.read_replay_bitmap << 1) | 1,
            write_epoch: self.write_epoch,
            next_write_seq: self.next_write_seq,
        })
    }

    /// The client's address and port (an IPv4-mapped address becomes IPv4 again).
    pub fn peer(&self) -> SocketAddr {
        SocketAddr::new(self.peer_addr.to_canonical(), self.peer_port)
    }

    /// The key check the mote's confirmation must carry.
    pub fn key_check(&self) -> [u8; 8] {
        key_check(&self.keys, self.transfer_id)
    }
}

/// First 8 bytes of HMAC-SHA256(key = client_write_key ‖ server_write_key,
/// "lowpan-br transfer confirm" ‖ transfer id): proves the mote installed exactly these keys.
pub fn key_check(keys: &SessionKeys, transfer_id: u32) -> [u8; 8] {
    let key = Zeroizing::new([keys.client_write_key(), keys.server_write_key()].concat());
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&key[..])
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(KEY_CHECK_LABEL);
    m.update(&transfer_id.to_be_bytes());
    let tag = m.finalize().into_bytes();
    array(&tag, 0)
}

/// The mote's verdict on a TransferSession.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfirmStatus {
    Installed,
    Busy,
    Malformed,
    UnsupportedSuite,
    Unknown(u8),
}

impl From<u8> for ConfirmStatus {
    fn from(v: u8) -> Self {
        match v {
            0 => ConfirmStatus::Installed,
            1 => ConfirmStatus::Busy,
            2 => ConfirmStatus::Malformed,
            3 => ConfirmStatus::UnsupportedSuite,
            x => ConfirmStatus::Unknown(x),
        }
    }
}

impl From<ConfirmStatus> for u8 {
    fn from(v: ConfirmStatus) -> u8 {
        match v {
            ConfirmStatus::Installed => 0,
            ConfirmStatus::Busy => 1,
            ConfirmStatus::Malformed => 2,
            ConfirmStatus::UnsupportedSuite => 3,
            ConfirmStatus::Unknown(x) => x,
        }
    }
}

mod confirm_field {
    use std::ops::Range;
    pub const MSG_TYPE: usize = 0;
    pub const VERSION: usize = 1;
    pub const TRANSFER_ID: Range<usize> = 2..6;
    pub const STATUS: usize = 6;
    pub const KEY_CHECK: Range<usize> = 7..15;
}

/// Zero-copy view of a TransferConfirm message (15 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferConfirm<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TransferConfirm<T> {
    pub const LEN: usize = confirm_field::KEY_CHECK.end;

    pub fn new_unchecked(buffer: T) -> Self {
        TransferConfirm { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, TransferError> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }

    pub fn check_len(&self) -> Result<(), TransferError> {
        if self.buffer.as_ref().len() < Self::LEN {
            Err(TransferError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> MessageType {
        self.buffer.as_ref()[confirm_field::MSG_TYPE].into()
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[confirm_field::VERSION]
    }

    pub fn transfer_id(&self) -> u32 {
        u32_at(self.buffer.as_ref(), confirm_field::TRANSFER_ID.start)
    }

    pub fn status(&self) -> ConfirmStatus {
        self.buffer.as_ref()[confirm_field::STATUS].into()
    }

    pub fn key_check(&self) -> [u8; 8] {
        array(self.buffer.as_ref(), confirm_field::KEY_CHECK.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TransferConfirm<T> {
    pub fn set_msg_type(&mut self, t: MessageType) {
        self.buffer.as_mut()[confirm_field::MSG_TYPE] = t.into();
    }

    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[confirm_field::VERSION] = v;
    }

    pub fn set_transfer_id(&mut self, id: u32) {
        self.buffer.as_mut()[confirm_field::TRANSFER_ID].copy_from_slice(&id.to_be_bytes());
    }

    pub fn set_status(&mut self, s: ConfirmStatus) {
        self.buffer.as_mut()[confirm_field::STATUS] = s.into();
    }

    pub fn set_key_check(&mut self, k: &[u8; 8]) {
        self.buffer.as_mut()[confirm_field::KEY_CHECK].copy_from_slice(k);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferConfirmRepr {
    pub transfer_id: u32,
    pub status: ConfirmStatus,
    pub key_check: [u8; 8],
}

impl TransferConfirmRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &TransferConfirm<T>) -> Result<Self, TransferError> {
        v.check_len()?;
        if v.msg_type() != MessageType::TransferConfirm {
            return Err(TransferError::BadMessageType);
        }
        if v.version() != VERSION {
            return Err(TransferError::UnsupportedVersion);
        }
        if v.buffer.as_ref().len() > TransferConfirm::<T>::LEN {
            return Err(TransferError::TrailingData);
        }
        Ok(TransferConfirmRepr {
            transfer_id: v.transfer_id(),
            status: v.status(),
            key_check: v.key_check(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        TransferConfirm::<&[u8]>::LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut TransferConfirm<T>) {
        v.set_msg_type(MessageType::TransferConfirm);
        v.set_version(VERSION);
        v.set_transfer_id(self.transfer_id);
        v.set_status(self.status);
        v.set_key_check(&self.key_check);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.buffer_len()];
        self.emit(&mut TransferConfirm::new_unchecked(&mut b[..]));
        b
    }

    /// The mote's answer to `session` (the key check computed from the keys it installed).
    pub fn answer(session: &TransferSessionRepr, status: ConfirmStatus) -> Self {
        TransferConfirmRepr {
            transfer_id: session.transfer_id,
            status,
            key_check: session.key_check(),
        }
    }

    /// IoTSSP side: the confirmation is for `session`, says `Installed` and carries the key
    /// check of exactly the keys sent (compared in constant time).
    pub fn confirms(&self, session: &TransferSessionRepr) -> bool {
        let expected = session.key_check();
        let same = expected
            .iter()
            .zip(self.key_check.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        same && self.transfer_id == session.transfer_id && self.status == ConfirmStatus::Installed
    }
}

/// Either transfer message, told apart by its first byte (what the mote and the IoTSSP
/// receive as application data on the PSK session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferMessage {
    Session(TransferSessionRepr),
    Confirm(TransferConfirmRepr),
}

impl TransferMessage {
    pub fn parse(bytes: &[u8]) -> Result<Self, TransferError> {
        match bytes.first().map(|&t| MessageType::from(t)) {
            None => Err(TransferError::Truncated),
            Some(MessageType::TransferSession) => Ok(TransferMessage::Session(
                TransferSessionRepr::parse(&TransferSession::new_checked(bytes)?)?,
            )),
            Some(MessageType::TransferConfirm) => Ok(TransferMessage::Confirm(
                TransferConfirmRepr::parse(&TransferConfirm::new_checked(bytes)?)?,
            )),
            Some(MessageType::Unknown(_)) => Err(TransferError::BadMessageType),
        }
    }
}

#[cfg(test)]
mod tests;
