//! The association's messages (the "Messages" section of docs/mote-association.md), smoltcp
//! style: a zero-copy view per message whose `new_checked` validates the length, the type and
//! the version, and a `Repr` with `parse`, `buffer_len` and `emit`.
//!
//! No accessor panics, whatever the buffer: the part of a field that lies outside an
//! (unchecked, too short) buffer reads as zeros, and a setter whose field does not fit writes
//! nothing. `emit` into a buffer of `buffer_len` bytes writes
//! every byte. Tags and AEAD are not this module's business: a Repr carries the tag bytes or
//! the sealed body as they are on the wire; [`crate::keys`] computes and checks them.

use crate::crypto::{PublicKey, TAG_LEN};

/// The version nibble every message carries.
pub const VERSION: u8 = 1;

/// What went wrong when reading a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its type needs.
    Truncated,
    /// Longer than its type allows.
    TooLong,
    /// A type nibble we do not know.
    UnknownType(u8),
    /// A version nibble other than [`VERSION`].
    UnknownVersion(u8),
    /// The type byte is not the one this view is for.
    WrongType(MessageType),
    /// A field has a value the format excludes (reserved flag bits, unknown suite).
    Malformed,
}

/// The high nibble of the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    AssocHello,
    AssocAccept,
    AssocReady,
    Transfer,
    Confirm,
    Unassociated,
    Poke,
    Connect,
    ConnectFailed,
    SignRequest,
    SignResponse,
    Unknown(u8),
}

impl MessageType {
    pub fn from_nibble(t: u8) -> MessageType {
        match t {
            1 => MessageType::AssocHello,
            2 => MessageType::AssocAccept,
            3 => MessageType::AssocReady,
            4 => MessageType::Transfer,
            5 => MessageType::Confirm,
            6 => MessageType::Unassociated,
            7 => MessageType::Poke,
            8 => MessageType::Connect,
            9 => MessageType::ConnectFailed,
            10 => MessageType::SignRequest,
            11 => MessageType::SignResponse,
            t => MessageType::Unknown(t),
        }
    }

    pub fn nibble(self) -> u8 {
        match self {
            MessageType::AssocHello => 1,
            MessageType::AssocAccept => 2,
            MessageType::AssocReady => 3,
            MessageType::Transfer => 4,
            MessageType::Confirm => 5,
            MessageType::Unassociated => 6,
            MessageType::Poke => 7,
            MessageType::Connect => 8,
            MessageType::ConnectFailed => 9,
            MessageType::SignRequest => 10,
            MessageType::SignResponse => 11,
            MessageType::Unknown(t) => t & 0x0f,
        }
    }

    /// The first byte of a message of this type: `type << 4 | version`.
    pub fn first_byte(self) -> u8 {
        self.nibble() << 4 | VERSION
    }
}

/// The type of a datagram, from its first byte: unknown types and versions are errors.
pub fn message_type(bytes: &[u8]) -> Result<MessageType, Error> {
    let first = *bytes.first().ok_or(Error::Truncated)?;
    if first & 0x0f != VERSION {
        return Err(Error::UnknownVersion(first & 0x0f));
    }
    match MessageType::from_nibble(first >> 4) {
        MessageType::Unknown(t) => Err(Error::UnknownType(t)),
        t => Ok(t),
    }
}

/// `N` bytes of `buf` from `at`, zeros where `buf` ends first.
fn read<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(at..).map(|b| b.get(..N).unwrap_or(b))
        && let Some(dst) = out.get_mut(..src.len())
    {
        dst.copy_from_slice(src);
    }
    out
}

/// Writes `bytes` at `at` if they fit; a shorter buffer is left alone.
fn write(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..).and_then(|b| b.get_mut(..bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

fn read_u8(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(read(buf, at))
}

/// Checks the type byte, then that the length is exactly `len`.
fn check_fixed(buf: &[u8], typ: MessageType, len: usize) -> Result<(), Error> {
    let t = message_type(buf)?;
    if t != typ {
        return Err(Error::WrongType(t));
    }
    match buf.len() {
        l if l < len => Err(Error::Truncated),
        l if l > len => Err(Error::TooLong),
        _ => Ok(()),
    }
}

/// A view over a fixed-length message, with the constructors every view shares.
macro_rules! fixed_view {
    ($(#[$doc:meta])* $name:ident, $typ:expr, $len:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Its length on the wire.
            pub const LEN: usize = $len;
            /// Its type.
            pub const TYPE: MessageType = $typ;

            /// Wraps `buffer` without checking it (accessors then read zeros past its end).
            pub const fn new_unchecked(buffer: T) -> Self {
                $name { buffer }
            }

            /// Wraps `buffer` after [`Self::check_len`].
            pub fn new_checked(buffer: T) -> Result<Self, Error> {
                let v = Self::new_unchecked(buffer);
                v.check_len()?;
                Ok(v)
            }

            /// The type and version are this message's and the length is exactly [`Self::LEN`].
            pub fn check_len(&self) -> Result<(), Error> {
                check_fixed(self.buffer.as_ref(), $typ, $len)
            }

            pub fn into_inner(self) -> T {
                self.buffer
            }

            /// The bytes before the tag: what the tag authenticates on the wire.
            pub fn authenticated(&self) -> &[u8] {
                let b = self.buffer.as_ref();
                b.get(..$len - TAG_LEN).unwrap_or(b)
            }

            /// The 8-byte tag at the end.
            pub fn tag(&self) -> [u8; TAG_LEN] {
                read(self.buffer.as_ref(), $len - TAG_LEN)
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            /// Writes the type byte.
            pub fn set_type(&mut self) {
                write(self.buffer.as_mut(), 0, &[$typ.first_byte()]);
            }

            pub fn set_tag(&mut self, tag: &[u8; TAG_LEN]) {
                write(self.buffer.as_mut(), $len - TAG_LEN, tag);
            }
        }
    };
}

/// Field offsets.
mod field {
    pub const ID: usize = 1;
    /// `E_m` in AssocHello.
    pub const HELLO_E_M: usize = 1;
    /// `E_s` in AssocAccept.
    pub const ACCEPT_E_S: usize = 2;
    pub const READY_FREE: usize = 2;
    pub const READY_SUITES: usize = 3;
    pub const N: usize = 2;
    /// The sealed body of a Transfer.
    pub const TRANSFER_SEALED: usize = 6;
    pub const CONFIRM_STATUS: usize = 6;
    pub const CONFIRM_FREE: usize = 7;
    pub const UNASSOC_REASON: usize = 6;
    pub const POKE_EPOCH: usize = 1;
    /// The request counter `r` of Connect and ConnectFailed.
    pub const R: usize = 2;
    pub const CONNECT_ADDR: usize = 6;
    pub const CONNECT_PORT: usize = 22;
    pub const CONNECT_FAILED_REASON: usize = 6;
    /// The request counter `q` of SignRequest and SignResponse.
    pub const Q: usize = 2;
    pub const SIGN_PURPOSE: usize = 6;
    pub const SIGN_DIGEST: usize = 7;
    pub const SIGN_STATUS: usize = 6;
    pub const SIGN_SIGNATURE: usize = 7;
}

fixed_view!(
    /// AssocHello (mote -> IoTSSP): `0x11 || E_m || tag`.
    AssocHello,
    MessageType::AssocHello,
    73
);
fixed_view!(
    /// AssocAccept (IoTSSP -> mote): `0x21 || id || E_s || tag`.
    AssocAccept,
    MessageType::AssocAccept,
    74
);
fixed_view!(
    /// AssocReady (mote -> IoTSSP): `0x31 || id || free slots || suites || tag`.
    AssocReady,
    MessageType::AssocReady,
    12
);
fixed_view!(
    /// Confirm (mote -> IoTSSP): `0x51 || id || n || status || free slots || tag`.
    Confirm,
    MessageType::Confirm,
    16
);
fixed_view!(
    /// Unassociated (mote -> IoTSSP): `0x61 || id || n || reason || tag`.
    Unassociated,
    MessageType::Unassociated,
    15
);
fixed_view!(
    /// Poke (IoTSSP -> mote): `0x71 || epoch || tag`.
    Poke,
    MessageType::Poke,
    13
);

fixed_view!(
    /// Connect (mote -> IoTSSP): `0x81 || id || r || server address || server port || tag`.
    Connect,
    MessageType::Connect,
    32
);
fixed_view!(
    /// ConnectFailed (IoTSSP -> mote): `0x91 || id || r || reason || tag`.
    ConnectFailed,
    MessageType::ConnectFailed,
    15
);

fixed_view!(
    /// SignRequest (IoTSSP -> mote): `0xa1 || id || q || purpose || digest || tag`.
    SignRequest,
    MessageType::SignRequest,
    47
);
fixed_view!(
    /// SignResponse (mote -> IoTSSP): `0xb1 || id || q || status || signature || tag`.
    SignResponse,
    MessageType::SignResponse,
    79
);

impl<T: AsRef<[u8]>> SignRequest<T> {
    pub fn id(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::ID)
    }
    pub fn q(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::Q)
    }
    pub fn purpose(&self) -> SignPurpose {
        SignPurpose::from(read_u8(self.buffer.as_ref(), field::SIGN_PURPOSE))
    }
    pub fn digest(&self) -> [u8; 32] {
        read(self.buffer.as_ref(), field::SIGN_DIGEST)
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> SignRequest<T> {
    pub fn set_id(&mut self, id: u8) {
        write(self.buffer.as_mut(), field::ID, &[id])
    }
    pub fn set_q(&mut self, q: u32) {
        write(self.buffer.as_mut(), field::Q, &q.to_be_bytes())
    }
    pub fn set_purpose(&mut self, purpose: SignPurpose) {
        write(self.buffer.as_mut(), field::SIGN_PURPOSE, &[purpose.into()])
    }
    pub fn set_digest(&mut self, digest: &[u8; 32]) {
        write(self.buffer.as_mut(), field::SIGN_DIGEST, digest)
    }
}

impl<T: AsRef<[u8]>> SignResponse<T> {
    pub fn id(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::ID)
    }
    pub fn q(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::Q)
    }
    pub fn status(&self) -> SignStatus {
        SignStatus::from(read_u8(self.buffer.as_ref(), field::SIGN_STATUS))
    }
    pub fn signature(&self) -> [u8; 64] {
        read(self.buffer.as_ref(), field::SIGN_SIGNATURE)
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> SignResponse<T> {
    pub fn set_id(&mut self, id: u8) {
        write(self.buffer.as_mut(), field::ID, &[id])
    }
    pub fn set_q(&mut self, q: u32) {
        write(self.buffer.as_mut(), field::Q, &q.to_be_bytes())
    }
    pub fn set_status(&mut self, status: SignStatus) {
        write(self.buffer.as_mut(), field::SIGN_STATUS, &[status.into()])
    }
    pub fn set_signature(&mut self, signature: &[u8; 64]) {
        write(self.buffer.as_mut(), field::SIGN_SIGNATURE, signature)
    }
}

impl<T: AsRef<[u8]>> Connect<T> {
    pub fn id(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::ID)
    }
    pub fn r(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::R)
    }
    pub fn server_addr(&self) -> [u8; 16] {
        read(self.buffer.as_ref(), field::CONNECT_ADDR)
    }
    pub fn server_port(&self) -> u16 {
        u16::from_be_bytes(read(self.buffer.as_ref(), field::CONNECT_PORT))
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> Connect<T> {
    pub fn set_id(&mut self, id: u8) {
        write(self.buffer.as_mut(), field::ID, &[id])
    }
    pub fn set_r(&mut self, r: u32) {
        write(self.buffer.as_mut(), field::R, &r.to_be_bytes())
    }
    pub fn set_server_addr(&mut self, addr: &[u8; 16]) {
        write(self.buffer.as_mut(), field::CONNECT_ADDR, addr)
    }
    pub fn set_server_port(&mut self, port: u16) {
        write(
            self.buffer.as_mut(),
            field::CONNECT_PORT,
            &port.to_be_bytes(),
        )
    }
}

impl<T: AsRef<[u8]>> ConnectFailed<T> {
    pub fn id(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::ID)
    }
    pub fn r(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::R)
    }
    pub fn reason(&self) -> ConnectFailure {
        ConnectFailure::from(read_u8(self.buffer.as_ref(), field::CONNECT_FAILED_REASON))
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> ConnectFailed<T> {
    pub fn set_id(&mut self, id: u8) {
        write(self.buffer.as_mut(), field::ID, &[id])
    }
    pub fn set_r(&mut self, r: u32) {
        write(self.buffer.as_mut(), field::R, &r.to_be_bytes())
    }
    pub fn set_reason(&mut self, reason: ConnectFailure) {
        write(
            self.buffer.as_mut(),
            field::CONNECT_FAILED_REASON,
            &[reason.into()],
        )
    }
}

impl<T: AsRef<[u8]>> AssocHello<T> {
    pub fn e_m(&self) -> PublicKey {
        read(self.buffer.as_ref(), field::HELLO_E_M)
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> AssocHello<T> {
    pub fn set_e_m(&mut self, e_m: &PublicKey) {
        write(self.buffer.as_mut(), field::HELLO_E_M, e_m)
    }
}

impl<T: AsRef<[u8]>> AssocAccept<T> {
    pub fn id(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::ID)
    }
    pub fn e_s(&self) -> PublicKey {
        read(self.buffer.as_ref(), field::ACCEPT_E_S)
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> AssocAccept<T> {
    pub fn set_id(&mut self, id: u8) {
        write(self.buffer.as_mut(), field::ID, &[id])
    }
    pub fn set_e_s(&mut self, e_s: &PublicKey) {
        write(self.buffer.as_mut(), field::ACCEPT_E_S, e_s)
    }
}

impl<T: AsRef<[u8]>> AssocReady<T> {
    pub fn id(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::ID)
    }
    pub fn free_slots(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::READY_FREE)
    }
    pub fn suites(&self) -> SuiteSet {
        SuiteSet(read_u8(self.buffer.as_ref(), field::READY_SUITES))
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> AssocReady<T> {
    pub fn set_id(&mut self, id: u8) {
        write(self.buffer.as_mut(), field::ID, &[id])
    }
    pub fn set_free_slots(&mut self, free: u8) {
        write(self.buffer.as_mut(), field::READY_FREE, &[free])
    }
    pub fn set_suites(&mut self, suites: SuiteSet) {
        write(self.buffer.as_mut(), field::READY_SUITES, &[suites.0])
    }
}

impl<T: AsRef<[u8]>> Confirm<T> {
    pub fn id(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::ID)
    }
    pub fn n(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::N)
    }
    pub fn status(&self) -> ConfirmStatus {
        ConfirmStatus::from(read_u8(self.buffer.as_ref(), field::CONFIRM_STATUS))
    }
    pub fn free_slots(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::CONFIRM_FREE)
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> Confirm<T> {
    pub fn set_id(&mut self, id: u8) {
        write(self.buffer.as_mut(), field::ID, &[id])
    }
    pub fn set_n(&mut self, n: u32) {
        write(self.buffer.as_mut(), field::N, &n.to_be_bytes())
    }
    pub fn set_status(&mut self, status: ConfirmStatus) {
        write(
            self.buffer.as_mut(),
            field::CONFIRM_STATUS,
            &[status.into()],
        )
    }
    pub fn set_free_slots(&mut self, free: u8) {
        write(self.buffer.as_mut(), field::CONFIRM_FREE, &[free])
    }
}

impl<T: AsRef<[u8]>> Unassociated<T> {
    pub fn id(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::ID)
    }
    pub fn n(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::N)
    }
    pub fn reason(&self) -> UnassociatedReason {
        UnassociatedReason::from(read_u8(self.buffer.as_ref(), field::UNASSOC_REASON))
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> Unassociated<T> {
    pub fn set_id(&mut self, id: u8) {
        write(self.buffer.as_mut(), field::ID, &[id])
    }
    pub fn set_n(&mut self, n: u32) {
        write(self.buffer.as_mut(), field::N, &n.to_be_bytes())
    }
    pub fn set_reason(&mut self, reason: UnassociatedReason) {
        write(
            self.buffer.as_mut(),
            field::UNASSOC_REASON,
            &[reason.into()],
        )
    }
}

impl<T: AsRef<[u8]>> Poke<T> {
    /// The IoTSSP's epoch: it grows each time the IoTSSP starts.
    pub fn epoch(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::POKE_EPOCH)
    }
}
impl<T: AsRef<[u8]> + AsMut<[u8]>> Poke<T> {
    pub fn set_epoch(&mut self, epoch: u32) {
        write(
            self.buffer.as_mut(),
            field::POKE_EPOCH,
            &epoch.to_be_bytes(),
        )
    }
}

/// Transfer (IoTSSP -> mote): `0x41 || id || n || Seal(T_n, ..., body)`; its length follows
/// the sealed body's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Transfer<T> {
    /// The header: type, id, n (the associated data of the seal).
    pub const HEADER_LEN: usize = 6;
    /// The shortest Transfer (an AES-128 body without sequence numbers).
    pub const MIN_LEN: usize = Self::HEADER_LEN + TransferBody::AES_LEN + TAG_LEN;
    /// The longest Transfer (a ChaCha20 body with sequence numbers and a resumable session
    /// of the longest id).
    pub const MAX_LEN: usize = Self::HEADER_LEN + TransferBody::MAX_LEN + TAG_LEN;

    pub const fn new_unchecked(buffer: T) -> Self {
        Transfer { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }

    /// The type and version are Transfer's and the sealed body has one of the lengths a body
    /// can have.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        let t = message_type(b)?;
        if t != MessageType::Transfer {
            return Err(Error::WrongType(t));
        }
        if b.len() < Self::MIN_LEN {
            return Err(Error::Truncated);
        }
        if b.len() > Self::MAX_LEN {
            return Err(Error::TooLong);
        }
        let body = b.len() - Self::HEADER_LEN - TAG_LEN;
        if TransferBody::is_possible_len(body) {
            Ok(())
        } else {
            Err(Error::Malformed)
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn id(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::ID)
    }

    pub fn n(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::N)
    }

    /// Bytes 0..6: the seal's associated data.
    pub fn header(&self) -> [u8; 6] {
        read(self.buffer.as_ref(), 0)
    }

    /// The sealed body: ciphertext then the 8-byte tag.
    pub fn sealed(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(field::TRANSFER_SEALED..)
            .unwrap_or(&[])
    }
}

impl<'a> Transfer<&'a [u8]> {
    /// The sealed body, borrowed for as long as the buffer.
    pub fn sealed_bytes(&self) -> &'a [u8] {
        self.buffer.get(field::TRANSFER_SEALED..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Transfer<T> {
    pub fn set_type(&mut self) {
        write(
            self.buffer.as_mut(),
            0,
            &[MessageType::Transfer.first_byte()],
        )
    }
    pub fn set_id(&mut self, id: u8) {
        write(self.buffer.as_mut(), field::ID, &[id])
    }
    pub fn set_n(&mut self, n: u32) {
        write(self.buffer.as_mut(), field::N, &n.to_be_bytes())
    }
    pub fn sealed_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::TRANSFER_SEALED..)
            .unwrap_or(&mut [])
    }
}

/// The record-layer suites a mote may support (AssocReady's bit set, the Transfer body's
/// suite byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (0xC0AE).
    Ccm8,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_CCM (0xC0AC).
    Ccm,
    /// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xC02B).
    Gcm,
    /// TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 (0xCCA9).
    ChaCha20Poly1305,
}

impl Suite {
    pub const ALL: [Suite; 4] = [Suite::Ccm8, Suite::Ccm, Suite::Gcm, Suite::ChaCha20Poly1305];

    /// Its code in the Transfer body (and its bit number in [`SuiteSet`]).
    pub fn code(self) -> u8 {
        match self {
            Suite::Ccm8 => 0,
            Suite::Ccm => 1,
            Suite::Gcm => 2,
            Suite::ChaCha20Poly1305 => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The TLS cipher suite number.
    pub fn cipher_suite(self) -> u16 {
        match self {
            Suite::Ccm8 => 0xC0AE,
            Suite::Ccm => 0xC0AC,
            Suite::Gcm => 0xC02B,
            Suite::ChaCha20Poly1305 => 0xCCA9,
        }
    }

    pub fn from_cipher_suite(id: u16) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.cipher_suite() == id)
    }
}

/// A set of suites (AssocReady byte 3): bit `i` for the suite with code `i`; bits 4-7 are
/// carried as they came, meaning nothing yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SuiteSet(pub u8);

impl SuiteSet {
    pub fn contains(self, suite: Suite) -> bool {
        self.0 & (1 << suite.code()) != 0
    }

    pub fn with(self, suite: Suite) -> SuiteSet {
        SuiteSet(self.0 | 1 << suite.code())
    }
}

/// Confirm's status byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfirmStatus {
    /// The session is installed and in use.
    Installed,
    /// No free session slot (and no idle one the mote could evict).
    Full,
    /// The record layer does not run the body's suite.
    UnsupportedSuite,
    /// The body opened but is not a valid body.
    Malformed,
    Unknown(u8),
}

impl From<u8> for ConfirmStatus {
    fn from(v: u8) -> Self {
        match v {
            0 => ConfirmStatus::Installed,
            1 => ConfirmStatus::Full,
            2 => ConfirmStatus::UnsupportedSuite,
            3 => ConfirmStatus::Malformed,
            v => ConfirmStatus::Unknown(v),
        }
    }
}

impl From<ConfirmStatus> for u8 {
    fn from(s: ConfirmStatus) -> u8 {
        match s {
            ConfirmStatus::Installed => 0,
            ConfirmStatus::Full => 1,
            ConfirmStatus::UnsupportedSuite => 2,
            ConfirmStatus::Malformed => 3,
            ConfirmStatus::Unknown(v) => v,
        }
    }
}

/// Unassociated's reason byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnassociatedReason {
    /// The mote has no association with that id.
    NoSuchAssociation,
    /// The counter is older than the mote's.
    CounterTooOld,
    /// The counter is more than the skip-ahead window beyond the mote's.
    TooFarAhead,
    Unknown(u8),
}

impl From<u8> for UnassociatedReason {
    fn from(v: u8) -> Self {
        match v {
            0 => UnassociatedReason::NoSuchAssociation,
            1 => UnassociatedReason::CounterTooOld,
            2 => UnassociatedReason::TooFarAhead,
            v => UnassociatedReason::Unknown(v),
        }
    }
}

impl From<UnassociatedReason> for u8 {
    fn from(r: UnassociatedReason) -> u8 {
        match r {
            UnassociatedReason::NoSuchAssociation => 0,
            UnassociatedReason::CounterTooOld => 1,
            UnassociatedReason::TooFarAhead => 2,
            UnassociatedReason::Unknown(v) => v,
        }
    }
}

/// ConnectFailed's reason byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectFailure {
    /// The IoTSSP's policy names no such server for this mote.
    NotPermitted,
    /// The handshake with the server failed: no answer, an alert, or a chain or name the
    /// policy does not accept.
    HandshakeFailed,
    /// The IoTSSP cannot take the request now (a request of this mote is in progress, or
    /// its limits are reached).
    Busy,
    Unknown(u8),
}

impl From<u8> for ConnectFailure {
    fn from(v: u8) -> Self {
        match v {
            0 => ConnectFailure::NotPermitted,
            1 => ConnectFailure::HandshakeFailed,
            2 => ConnectFailure::Busy,
            v => ConnectFailure::Unknown(v),
        }
    }
}

impl From<ConnectFailure> for u8 {
    fn from(r: ConnectFailure) -> u8 {
        match r {
            ConnectFailure::NotPermitted => 0,
            ConnectFailure::HandshakeFailed => 1,
            ConnectFailure::Busy => 2,
            ConnectFailure::Unknown(v) => v,
        }
    }
}

/// SignRequest's purpose byte: which handshake message the signature goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignPurpose {
    /// The ServerKeyExchange of a handshake in which the mote is the DTLS server (an
    /// Internet client's delegated handshake): the digest is SHA-256(client_random ||
    /// server_random || ServerECDHParams).
    ServerKeyExchange,
    /// The CertificateVerify of a handshake in which the mote is the DTLS client (outbound
    /// delegation): the digest is SHA-256 of the handshake messages so far.
    CertificateVerify,
    Unknown(u8),
}

impl From<u8> for SignPurpose {
    fn from(v: u8) -> Self {
        match v {
            0 => SignPurpose::ServerKeyExchange,
            1 => SignPurpose::CertificateVerify,
            v => SignPurpose::Unknown(v),
        }
    }
}

impl From<SignPurpose> for u8 {
    fn from(p: SignPurpose) -> u8 {
        match p {
            SignPurpose::ServerKeyExchange => 0,
            SignPurpose::CertificateVerify => 1,
            SignPurpose::Unknown(v) => v,
        }
    }
}

/// SignResponse's status byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignStatus {
    /// The signature field holds the signature.
    Signed,
    /// The mote does not sign for this purpose (or holds no signing key).
    Refused,
    /// The mote's signer failed.
    Failed,
    Unknown(u8),
}

impl From<u8> for SignStatus {
    fn from(v: u8) -> Self {
        match v {
            0 => SignStatus::Signed,
            1 => SignStatus::Refused,
            2 => SignStatus::Failed,
            v => SignStatus::Unknown(v),
        }
    }
}

impl From<SignStatus> for u8 {
    fn from(s: SignStatus) -> u8 {
        match s {
            SignStatus::Signed => 0,
            SignStatus::Refused => 1,
            SignStatus::Failed => 2,
            SignStatus::Unknown(v) => v,
        }
    }
}

/// SignRequest, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignRequestRepr {
    pub id: u8,
    /// The IoTSSP's request counter: strictly increasing within an association.
    pub q: u32,
    pub purpose: SignPurpose,
    /// The SHA-256 digest to sign.
    pub digest: [u8; 32],
    pub tag: [u8; TAG_LEN],
}

/// SignResponse, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignResponseRepr {
    pub id: u8,
    pub q: u32,
    pub status: SignStatus,
    /// ECDSA P-256 `r || s` (32 bytes each, big-endian); zeros unless `status` is Signed.
    pub signature: [u8; 64],
    pub tag: [u8; TAG_LEN],
}

impl SignRequestRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &SignRequest<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(SignRequestRepr {
            id: v.id(),
            q: v.q(),
            purpose: v.purpose(),
            digest: v.digest(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        SignRequest::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut SignRequest<T>) {
        v.set_type();
        v.set_id(self.id);
        v.set_q(self.q);
        v.set_purpose(self.purpose);
        v.set_digest(&self.digest);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 47] {
        let mut b = [0; 47];
        self.emit(&mut SignRequest::new_unchecked(&mut b[..]));
        b
    }
}

impl SignResponseRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &SignResponse<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(SignResponseRepr {
            id: v.id(),
            q: v.q(),
            status: v.status(),
            signature: v.signature(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        SignResponse::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut SignResponse<T>) {
        v.set_type();
        v.set_id(self.id);
        v.set_q(self.q);
        v.set_status(self.status);
        v.set_signature(&self.signature);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 79] {
        let mut b = [0; 79];
        self.emit(&mut SignResponse::new_unchecked(&mut b[..]));
        b
    }
}

/// Connect, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectRepr {
    pub id: u8,
    /// The request counter: strictly increasing within an association.
    pub r: u32,
    pub server_addr: [u8; 16],
    pub server_port: u16,
    pub tag: [u8; TAG_LEN],
}

/// ConnectFailed, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectFailedRepr {
    pub id: u8,
    pub r: u32,
    pub reason: ConnectFailure,
    pub tag: [u8; TAG_LEN],
}

impl ConnectRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &Connect<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(ConnectRepr {
            id: v.id(),
            r: v.r(),
            server_addr: v.server_addr(),
            server_port: v.server_port(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        Connect::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut Connect<T>) {
        v.set_type();
        v.set_id(self.id);
        v.set_r(self.r);
        v.set_server_addr(&self.server_addr);
        v.set_server_port(self.server_port);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0; 32];
        self.emit(&mut Connect::new_unchecked(&mut b[..]));
        b
    }
}

impl ConnectFailedRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &ConnectFailed<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(ConnectFailedRepr {
            id: v.id(),
            r: v.r(),
            reason: v.reason(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        ConnectFailed::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut ConnectFailed<T>) {
        v.set_type();
        v.set_id(self.id);
        v.set_r(self.r);
        v.set_reason(self.reason);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 15] {
        let mut b = [0; 15];
        self.emit(&mut ConnectFailed::new_unchecked(&mut b[..]));
        b
    }
}

/// AssocHello, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssocHelloRepr {
    pub e_m: PublicKey,
    pub tag: [u8; TAG_LEN],
}

/// AssocAccept, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssocAcceptRepr {
    pub id: u8,
    pub e_s: PublicKey,
    pub tag: [u8; TAG_LEN],
}

/// AssocReady, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssocReadyRepr {
    pub id: u8,
    pub free_slots: u8,
    pub suites: SuiteSet,
    pub tag: [u8; TAG_LEN],
}

/// Transfer, parsed (the body still sealed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferRepr<'a> {
    pub id: u8,
    pub n: u32,
    /// Ciphertext then the 8-byte tag.
    pub sealed: &'a [u8],
}

/// Confirm, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmRepr {
    pub id: u8,
    pub n: u32,
    pub status: ConfirmStatus,
    pub free_slots: u8,
    pub tag: [u8; TAG_LEN],
}

/// Unassociated, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnassociatedRepr {
    pub id: u8,
    pub n: u32,
    pub reason: UnassociatedReason,
    pub tag: [u8; TAG_LEN],
}

/// Poke, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PokeRepr {
    /// The IoTSSP's epoch, larger after each start of the IoTSSP than before it (see
    /// `SspAssoc::set_epoch`): a mote honours at once a Poke of an epoch newer than any it
    /// honoured, others at most once per `POKE_INTERVAL`.
    pub epoch: u32,
    pub tag: [u8; TAG_LEN],
}

impl AssocHelloRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &AssocHello<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(AssocHelloRepr {
            e_m: v.e_m(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        AssocHello::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut AssocHello<T>) {
        v.set_type();
        v.set_e_m(&self.e_m);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 73] {
        let mut b = [0; 73];
        self.emit(&mut AssocHello::new_unchecked(&mut b[..]));
        b
    }
}

impl AssocAcceptRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &AssocAccept<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(AssocAcceptRepr {
            id: v.id(),
            e_s: v.e_s(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        AssocAccept::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut AssocAccept<T>) {
        v.set_type();
        v.set_id(self.id);
        v.set_e_s(&self.e_s);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 74] {
        let mut b = [0; 74];
        self.emit(&mut AssocAccept::new_unchecked(&mut b[..]));
        b
    }
}

impl AssocReadyRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &AssocReady<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(AssocReadyRepr {
            id: v.id(),
            free_slots: v.free_slots(),
            suites: v.suites(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        AssocReady::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut AssocReady<T>) {
        v.set_type();
        v.set_id(self.id);
        v.set_free_slots(self.free_slots);
        v.set_suites(self.suites);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut b = [0; 12];
        self.emit(&mut AssocReady::new_unchecked(&mut b[..]));
        b
    }
}

impl<'a> TransferRepr<'a> {
    pub fn parse(v: &Transfer<&'a [u8]>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(TransferRepr {
            id: v.id(),
            n: v.n(),
            sealed: v.sealed_bytes(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        Transfer::<&[u8]>::HEADER_LEN + self.sealed.len()
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut Transfer<T>) {
        v.set_type();
        v.set_id(self.id);
        v.set_n(self.n);
        if let Some(dst) = v.sealed_mut().get_mut(..self.sealed.len()) {
            dst.copy_from_slice(self.sealed);
        }
    }
}

impl ConfirmRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &Confirm<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(ConfirmRepr {
            id: v.id(),
            n: v.n(),
            status: v.status(),
            free_slots: v.free_slots(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        Confirm::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut Confirm<T>) {
        v.set_type();
        v.set_id(self.id);
        v.set_n(self.n);
        v.set_status(self.status);
        v.set_free_slots(self.free_slots);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0; 16];
        self.emit(&mut Confirm::new_unchecked(&mut b[..]));
        b
    }
}

impl UnassociatedRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &Unassociated<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(UnassociatedRepr {
            id: v.id(),
            n: v.n(),
            reason: v.reason(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        Unassociated::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut Unassociated<T>) {
        v.set_type();
        v.set_id(self.id);
        v.set_n(self.n);
        v.set_reason(self.reason);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 15] {
        let mut b = [0; 15];
        self.emit(&mut Unassociated::new_unchecked(&mut b[..]));
        b
    }
}

impl PokeRepr {
    pub fn parse<T: AsRef<[u8]>>(v: &Poke<T>) -> Result<Self, Error> {
        v.check_len()?;
        Ok(PokeRepr {
            epoch: v.epoch(),
            tag: v.tag(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        Poke::<&[u8]>::LEN
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, v: &mut Poke<T>) {
        v.set_type();
        v.set_epoch(self.epoch);
        v.set_tag(&self.tag);
    }
    pub fn to_bytes(&self) -> [u8; 13] {
        let mut b = [0; 13];
        self.emit(&mut Poke::new_unchecked(&mut b[..]));
        b
    }
}

/// Any association message, parsed: the one entry point for a received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    AssocHello(AssocHelloRepr),
    AssocAccept(AssocAcceptRepr),
    AssocReady(AssocReadyRepr),
    Transfer(TransferRepr<'a>),
    Confirm(ConfirmRepr),
    Unassociated(UnassociatedRepr),
    Poke(PokeRepr),
    Connect(ConnectRepr),
    ConnectFailed(ConnectFailedRepr),
    SignRequest(SignRequestRepr),
    SignResponse(SignResponseRepr),
}

impl<'a> Message<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, Error> {
        Ok(match message_type(bytes)? {
            MessageType::AssocHello => {
                Message::AssocHello(AssocHelloRepr::parse(&AssocHello::new_unchecked(bytes))?)
            }
            MessageType::AssocAccept => {
                Message::AssocAccept(AssocAcceptRepr::parse(&AssocAccept::new_unchecked(bytes))?)
            }
            MessageType::AssocReady => {
                Message::AssocReady(AssocReadyRepr::parse(&AssocReady::new_unchecked(bytes))?)
            }
            MessageType::Transfer => {
                Message::Transfer(TransferRepr::parse(&Transfer::new_unchecked(bytes))?)
            }
            MessageType::Confirm => {
                Message::Confirm(ConfirmRepr::parse(&Confirm::new_unchecked(bytes))?)
            }
            MessageType::Unassociated => Message::Unassociated(UnassociatedRepr::parse(
                &Unassociated::new_unchecked(bytes),
            )?),
            MessageType::Poke => Message::Poke(PokeRepr::parse(&Poke::new_unchecked(bytes))?),
            MessageType::Connect => {
                Message::Connect(ConnectRepr::parse(&Connect::new_unchecked(bytes))?)
            }
            MessageType::ConnectFailed => Message::ConnectFailed(ConnectFailedRepr::parse(
                &ConnectFailed::new_unchecked(bytes),
            )?),
            MessageType::SignRequest => {
                Message::SignRequest(SignRequestRepr::parse(&SignRequest::new_unchecked(bytes))?)
            }
            MessageType::SignResponse => Message::SignResponse(SignResponseRepr::parse(
                &SignResponse::new_unchecked(bytes),
            )?),
            MessageType::Unknown(t) => return Err(Error::UnknownType(t)),
        })
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            Message::AssocHello(r) => r.buffer_len(),
            Message::AssocAccept(r) => r.buffer_len(),
            Message::AssocReady(r) => r.buffer_len(),
            Message::Transfer(r) => r.buffer_len(),
            Message::Confirm(r) => r.buffer_len(),
            Message::Unassociated(r) => r.buffer_len(),
            Message::Poke(r) => r.buffer_len(),
            Message::Connect(r) => r.buffer_len(),
            Message::ConnectFailed(r) => r.buffer_len(),
            Message::SignRequest(r) => r.buffer_len(),
            Message::SignResponse(r) => r.buffer_len(),
        }
    }

    /// Writes the message at the start of `buf` and returns its length, or `None` if `buf`
    /// is shorter than [`Self::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let len = self.buffer_len();
        let b = buf.get_mut(..len)?;
        match self {
            Message::AssocHello(r) => r.emit(&mut AssocHello::new_unchecked(b)),
            Message::AssocAccept(r) => r.emit(&mut AssocAccept::new_unchecked(b)),
            Message::AssocReady(r) => r.emit(&mut AssocReady::new_unchecked(b)),
            Message::Transfer(r) => r.emit(&mut Transfer::new_unchecked(b)),
            Message::Confirm(r) => r.emit(&mut Confirm::new_unchecked(b)),
            Message::Unassociated(r) => r.emit(&mut Unassociated::new_unchecked(b)),
            Message::Poke(r) => r.emit(&mut Poke::new_unchecked(b)),
            Message::Connect(r) => r.emit(&mut Connect::new_unchecked(b)),
            Message::ConnectFailed(r) => r.emit(&mut ConnectFailed::new_unchecked(b)),
            Message::SignRequest(r) => r.emit(&mut SignRequest::new_unchecked(b)),
            Message::SignResponse(r) => r.emit(&mut SignResponse::new_unchecked(b)),
        }
        Some(len)
    }
}

/// The write keys and IVs of a transferred session: `K`-byte keys and `I`-byte IVs. Wiped
/// when dropped.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct KeyBlock<const K: usize, const I: usize> {
    pub client_write_key: [u8; K],
    pub server_write_key: [u8; K],
    pub client_write_iv: [u8; I],
    pub server_write_iv: [u8; I],
}

impl<const K: usize, const I: usize> core::fmt::Debug for KeyBlock<K, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KeyBlock(<redacted>)")
    }
}

impl<const K: usize, const I: usize> KeyBlock<K, I> {
    const LEN: usize = 2 * K + 2 * I;

    fn read(buf: &[u8]) -> Self {
        KeyBlock {
            client_write_key: read(buf, 0),
            server_write_key: read(buf, K),
            client_write_iv: read(buf, 2 * K),
            server_write_iv: read(buf, 2 * K + I),
        }
    }

    fn write(&self, buf: &mut [u8]) {
        write(buf, 0, &self.client_write_key);
        write(buf, K, &self.server_write_key);
        write(buf, 2 * K, &self.client_write_iv);
        write(buf, 2 * K + I, &self.server_write_iv);
    }
}

/// The suite and its key block: the two cannot disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKeys {
    Ccm8(KeyBlock<16, 4>),
    Ccm(KeyBlock<16, 4>),
    Gcm(KeyBlock<16, 4>),
    ChaCha20Poly1305(KeyBlock<32, 12>),
}

impl SessionKeys {
    pub fn suite(&self) -> Suite {
        match self {
            SessionKeys::Ccm8(_) => Suite::Ccm8,
            SessionKeys::Ccm(_) => Suite::Ccm,
            SessionKeys::Gcm(_) => Suite::Gcm,
            SessionKeys::ChaCha20Poly1305(_) => Suite::ChaCha20Poly1305,
        }
    }

    fn len(&self) -> usize {
        match self {
            SessionKeys::ChaCha20Poly1305(_) => KeyBlock::<32, 12>::LEN,
            _ => KeyBlock::<16, 4>::LEN,
        }
    }
}

/// The epoch-1 sequence numbers, when they are not the defaults (48-bit values; `emit`
/// writes the low 48 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceNumbers {
    /// The highest sequence number received from the client.
    pub highest_received: u64,
    /// The next sequence number the mote writes.
    pub next_write: u64,
}

impl SequenceNumbers {
    /// What the body means without flag 0: the client's Finished (0) received, the IoTSSP's
    /// Finished (0) sent.
    pub const DEFAULT: SequenceNumbers = SequenceNumbers {
        highest_received: 0,
        next_write: 1,
    };
}

/// The plaintext of a Transfer: one DTLS session for the mote's record layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferBody {
    pub keys: SessionKeys,
    /// Flag 1: the mote may evict its least recently used idle session for this one.
    pub may_evict: bool,
    pub client_addr: [u8; 16],
    pub client_port: u16,
    /// `None`: the defaults ([`SequenceNumbers::DEFAULT`]); `Some`: flag 0, sent explicitly.
    pub sequence: Option<SequenceNumbers>,
    /// Flag 2: the mote is the session's DTLS client (an outbound session it asked for with
    /// Connect); `client_addr` and `client_port` are then the server's. Without it the mote
    /// is the server and they are the Internet client's.
    pub mote_is_client: bool,
    /// Flag 3 (and 4): what the mote needs to resume the session itself with an abbreviated
    /// handshake (RFC 5246 7.3) when the client comes back with its session id.
    pub resumption: Option<Resumption>,
}

/// A session the mote may resume (flag 3 of a Transfer's body): its id, master secret,
/// whether that is an extended master secret (flag 4, RFC 7627) and how long the mote may
/// resume it. The master secret is wiped when this is dropped.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct Resumption {
    /// How long after the install the session may be resumed, in seconds.
    pub lifetime_secs: u32,
    session_id: [u8; Resumption::MAX_ID_LEN],
    session_id_len: u8,
    pub master_secret: [u8; 48],
    pub extended_master_secret: bool,
}

impl core::fmt::Debug for Resumption {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Resumption")
            .field("lifetime_secs", &self.lifetime_secs)
            .field("session_id", &self.session_id())
            .field("master_secret", &"<redacted>")
            .field("extended_master_secret", &self.extended_master_secret)
            .finish()
    }
}

impl Resumption {
    /// The longest session id (RFC 5246 7.4.1.2).
    pub const MAX_ID_LEN: usize = 32;
    /// Lifetime, id length, master secret: the bytes besides the id.
    const FIXED_LEN: usize = 4 + 1 + 48;

    /// `None` if the id is empty or longer than 32 bytes (an empty id names no session).
    pub fn new(
        session_id: &[u8],
        master_secret: [u8; 48],
        extended_master_secret: bool,
        lifetime_secs: u32,
    ) -> Option<Resumption> {
        if session_id.is_empty() || session_id.len() > Self::MAX_ID_LEN {
            return None;
        }
        let mut id = [0u8; Self::MAX_ID_LEN];
        id[..session_id.len()].copy_from_slice(session_id);
        Some(Resumption {
            lifetime_secs,
            session_id: id,
            session_id_len: session_id.len() as u8,
            master_secret,
            extended_master_secret,
        })
    }

    pub fn session_id(&self) -> &[u8] {
        &self.session_id[..usize::from(self.session_id_len).min(Self::MAX_ID_LEN)]
    }

    fn len(&self) -> usize {
        Self::FIXED_LEN + self.session_id().len()
    }
}

mod body {
    pub const SUITE: usize = 0;
    pub const FLAGS: usize = 1;
    pub const ADDR: usize = 2;
    pub const PORT: usize = 18;
    pub const KEYS: usize = 20;
    pub const FLAG_SEQUENCE: u8 = 0x01;
    pub const FLAG_MAY_EVICT: u8 = 0x02;
    pub const FLAG_MOTE_IS_CLIENT: u8 = 0x04;
    pub const FLAG_RESUMABLE: u8 = 0x08;
    pub const FLAG_EXTENDED_MASTER_SECRET: u8 = 0x10;
    pub const FLAGS_KNOWN: u8 = FLAG_SEQUENCE
        | FLAG_MAY_EVICT
        | FLAG_MOTE_IS_CLIENT
        | FLAG_RESUMABLE
        | FLAG_EXTENDED_MASTER_SECRET;
}

impl TransferBody {
    /// An AES-128 suite's body without sequence numbers.
    pub const AES_LEN: usize = body::KEYS + KeyBlock::<16, 4>::LEN;
    /// A ChaCha20 body without sequence numbers.
    pub const CHACHA_LEN: usize = body::KEYS + KeyBlock::<32, 12>::LEN;
    /// The two sequence numbers of flag 0.
    pub const SEQUENCE_LEN: usize = 12;
    /// The resumption block of flag 3 with a one-byte id, and with the longest.
    pub const RESUMPTION_MIN_LEN: usize = Resumption::FIXED_LEN + 1;
    pub const RESUMPTION_MAX_LEN: usize = Resumption::FIXED_LEN + Resumption::MAX_ID_LEN;
    pub const MAX_LEN: usize = Self::CHACHA_LEN + Self::SEQUENCE_LEN + Self::RESUMPTION_MAX_LEN;
    /// Every length a body without a resumption block can have.
    pub const LENGTHS: [usize; 4] = [
        Self::AES_LEN,
        Self::AES_LEN + Self::SEQUENCE_LEN,
        Self::CHACHA_LEN,
        Self::CHACHA_LEN + Self::SEQUENCE_LEN,
    ];

    /// A body of `len` bytes is possible for some suite and flags (a Transfer's length check
    /// before it is opened).
    pub fn is_possible_len(len: usize) -> bool {
        Self::LENGTHS.iter().any(|&base| {
            len == base
                || (base + Self::RESUMPTION_MIN_LEN..=base + Self::RESUMPTION_MAX_LEN)
                    .contains(&len)
        })
    }

    pub fn suite(&self) -> Suite {
        self.keys.suite()
    }

    /// The sequence numbers the record layer starts from.
    pub fn sequence_numbers(&self) -> SequenceNumbers {
        self.sequence.unwrap_or(SequenceNumbers::DEFAULT)
    }

    /// Parses a plaintext body: its length must be exactly what its suite and flags say.
    /// An unknown suite or a reserved flag bit is [`Error::Malformed`].
    pub fn parse(buf: &[u8]) -> Result<TransferBody, Error> {
        let suite = Suite::from_code(*buf.get(body::SUITE).ok_or(Error::Truncated)?)
            .ok_or(Error::Malformed)?;
        let flags = *buf.get(body::FLAGS).ok_or(Error::Truncated)?;
        if flags & !body::FLAGS_KNOWN != 0 {
            return Err(Error::Malformed);
        }
        let keys_len = match suite {
            Suite::ChaCha20Poly1305 => KeyBlock::<32, 12>::LEN,
            _ => KeyBlock::<16, 4>::LEN,
        };
        let has_sequence = flags & body::FLAG_SEQUENCE != 0;
        let resumable = flags & body::FLAG_RESUMABLE != 0;
        if !resumable && flags & body::FLAG_EXTENDED_MASTER_SECRET != 0 {
            return Err(Error::Malformed);
        }
        let seq_at = body::KEYS + keys_len;
        let resumption_at = seq_at + if has_sequence { Self::SEQUENCE_LEN } else { 0 };
        let len = if resumable {
            // Lifetime (4), then the id's length.
            let id_len = usize::from(*buf.get(resumption_at + 4).ok_or(Error::Truncated)?);
            if id_len == 0 || id_len > Resumption::MAX_ID_LEN {
                return Err(Error::Malformed);
            }
            resumption_at + Resumption::FIXED_LEN + id_len
        } else {
            resumption_at
        };
        match buf.len() {
            l if l < len => return Err(Error::Truncated),
            l if l > len => return Err(Error::TooLong),
            _ => {}
        }
        let kb = buf.get(body::KEYS..).unwrap_or(&[]);
        let keys = match suite {
            Suite::Ccm8 => SessionKeys::Ccm8(KeyBlock::read(kb)),
            Suite::Ccm => SessionKeys::Ccm(KeyBlock::read(kb)),
            Suite::Gcm => SessionKeys::Gcm(KeyBlock::read(kb)),
            Suite::ChaCha20Poly1305 => SessionKeys::ChaCha20Poly1305(KeyBlock::read(kb)),
        };
        let sequence = has_sequence.then(|| SequenceNumbers {
            highest_received: read_u48(buf, seq_at),
            next_write: read_u48(buf, seq_at + 6),
        });
        let resumption = if resumable {
            let id_len = usize::from(read_u8(buf, resumption_at + 4));
            let id_at = resumption_at + 5;
            Resumption::new(
                buf.get(id_at..id_at + id_len).unwrap_or(&[]),
                read(buf, id_at + id_len),
                flags & body::FLAG_EXTENDED_MASTER_SECRET != 0,
                read_u32(buf, resumption_at),
            )
        } else {
            None
        };
        Ok(TransferBody {
            keys,
            may_evict: flags & body::FLAG_MAY_EVICT != 0,
            mote_is_client: flags & body::FLAG_MOTE_IS_CLIENT != 0,
            client_addr: read(buf, body::ADDR),
            client_port: u16::from_be_bytes(read(buf, body::PORT)),
            sequence,
            resumption,
        })
    }

    pub fn buffer_len(&self) -> usize {
        body::KEYS
            + self.keys.len()
            + if self.sequence.is_some() {
                Self::SEQUENCE_LEN
            } else {
                0
            }
            + self.resumption.as_ref().map_or(0, Resumption::len)
    }

    /// Writes the body at the start of `buf` (which should have [`Self::buffer_len`] bytes;
    /// what does not fit is not written).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut flags = 0;
        if self.sequence.is_some() {
            flags |= body::FLAG_SEQUENCE;
        }
        if self.may_evict {
            flags |= body::FLAG_MAY_EVICT;
        }
        if self.mote_is_client {
            flags |= body::FLAG_MOTE_IS_CLIENT;
        }
        if let Some(r) = &self.resumption {
            flags |= body::FLAG_RESUMABLE;
            if r.extended_master_secret {
                flags |= body::FLAG_EXTENDED_MASTER_SECRET;
            }
        }
        write(buf, body::SUITE, &[self.suite().code()]);
        write(buf, body::FLAGS, &[flags]);
        write(buf, body::ADDR, &self.client_addr);
        write(buf, body::PORT, &self.client_port.to_be_bytes());
        let kb = buf.get_mut(body::KEYS..).unwrap_or(&mut []);
        match &self.keys {
            SessionKeys::Ccm8(k) | SessionKeys::Ccm(k) | SessionKeys::Gcm(k) => k.write(kb),
            SessionKeys::ChaCha20Poly1305(k) => k.write(kb),
        }
        let mut at = body::KEYS + self.keys.len();
        if let Some(s) = self.sequence {
            write(buf, at, &s.highest_received.to_be_bytes()[2..]);
            write(buf, at + 6, &s.next_write.to_be_bytes()[2..]);
            at += Self::SEQUENCE_LEN;
        }
        if let Some(r) = &self.resumption {
            let id = r.session_id();
            write(buf, at, &r.lifetime_secs.to_be_bytes());
            write(buf, at + 4, &[id.len() as u8]);
            write(buf, at + 5, id);
            write(buf, at + 5 + id.len(), &r.master_secret);
        }
    }
}

fn read_u48(buf: &[u8], at: usize) -> u64 {
    let b: [u8; 6] = read(buf, at);
    let mut w = [0u8; 8];
    w[2..].copy_from_slice(&b);
    u64::from_be_bytes(w)
}

#[cfg(test)]
mod tests;
