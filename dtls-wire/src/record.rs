//! The 13-byte DTLS record header (RFC 6347 4.1) as a zero-copy view ([`Record`]) and as
//! values ([`RecordHeader`]), smoltcp style, and the walk over every record of a datagram.
//!
//! RFC 6347 lets a datagram carry several records; [`records`] delimits them by their
//! length fields and stops at the first one that does not fit (the rest of the datagram
//! cannot be delimited). The version is not checked here: the engine discards a non-DTLS
//! record and goes on, a router refuses the whole datagram.

use core::fmt;

use crate::handshake::HandshakeType;

/// type(1) version(2) epoch(2) sequence_number(6) length(2).
pub const HEADER_LEN: usize = 13;
/// RFC 6347 4.1 / RFC 5246 6.2.3: a record's length (TLSCiphertext.length) must not exceed
/// 2^14 + 2048.
pub const MAX_CIPHERTEXT_LEN: usize = 16384 + 2048;

mod field {
    use core::ops::Range;
    pub const CONTENT_TYPE: usize = 0;
    pub const VERSION: Range<usize> = 1..3;
    pub const EPOCH: Range<usize> = 3..5;
    pub const SEQUENCE: Range<usize> = 5..11;
    pub const LENGTH: Range<usize> = 11..13;
    pub const FRAGMENT: usize = 13;
}

/// Record content type (RFC 5246 6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    ChangeCipherSpec,
    Alert,
    Handshake,
    ApplicationData,
    /// Anything else, e.g. 25 (tls12_cid, RFC 9146), which our motes do not speak.
    Unknown(u8),
}

impl From<u8> for ContentType {
    fn from(v: u8) -> Self {
        match v {
            20 => ContentType::ChangeCipherSpec,
            21 => ContentType::Alert,
            22 => ContentType::Handshake,
            23 => ContentType::ApplicationData,
            x => ContentType::Unknown(x),
        }
    }
}

impl From<ContentType> for u8 {
    fn from(v: ContentType) -> u8 {
        match v {
            ContentType::ChangeCipherSpec => 20,
            ContentType::Alert => 21,
            ContentType::Handshake => 22,
            ContentType::ApplicationData => 23,
            ContentType::Unknown(x) => x,
        }
    }
}

/// DTLS versions are the one's complement of the TLS ones: 1.0 = 0xfeff, 1.2 = 0xfefd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolVersion(pub u16);

impl ProtocolVersion {
    pub const DTLS1_0: ProtocolVersion = ProtocolVersion(0xfeff);
    pub const DTLS1_2: ProtocolVersion = ProtocolVersion(0xfefd);

    /// Any DTLS version (high byte 0xfe); ClientHellos often carry 0xfeff in the record.
    pub fn is_dtls(self) -> bool {
        self.0 >> 8 == 0xfe
    }
}

/// Why bytes do not hold a whole record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordError {
    /// Fewer than 13 bytes where a record header should start.
    TruncatedHeader,
    /// The header's length runs past the end of the buffer.
    TruncatedRecord,
    /// Length above 2^14 + 2048.
    RecordTooLong,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordError::TruncatedHeader => "truncated record header",
            RecordError::TruncatedRecord => "truncated record",
            RecordError::RecordTooLong => "record too long",
        })
    }
}

impl core::error::Error for RecordError {}

/// Zero-copy view of one record at the start of `buffer` (the buffer may hold more records
/// after it). After `check_len` no accessor can panic.
#[derive(Debug, Clone, Copy)]
pub struct Record<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Record<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Record { buffer }
    }

    /// The buffer may be longer than the record (the rest of the datagram).
    pub fn new_checked(buffer: T) -> Result<Self, RecordError> {
        let r = Self::new_unchecked(buffer);
        r.check_len()?;
        Ok(r)
    }

    /// Header present, length within limits and within the buffer.
    pub fn check_len(&self) -> Result<(), RecordError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(RecordError::TruncatedHeader);
        }
        let len = usize::from(self.length());
        if len > MAX_CIPHERTEXT_LEN {
            return Err(RecordError::RecordTooLong);
        }
        if b.len() < HEADER_LEN + len {
            return Err(RecordError::TruncatedRecord);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn content_type(&self) -> ContentType {
        ContentType::from(self.buffer.as_ref()[field::CONTENT_TYPE])
    }

    /// Wire version: 0xfefd is DTLS 1.2, 0xfeff DTLS 1.0 (often seen on ClientHellos).
    pub fn version(&self) -> ProtocolVersion {
        let b = &self.buffer.as_ref()[field::VERSION];
        ProtocolVersion(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn epoch(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::EPOCH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// 48-bit record sequence number.
    pub fn sequence_number(&self) -> u64 {
        let b = &self.buffer.as_ref()[field::SEQUENCE];
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The record body (ciphertext unless epoch 0).
    pub fn fragment(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = self.total_len().min(b.len());
        &b[HEADER_LEN.min(end)..end]
    }

    /// Header and body: the bytes this record occupies in the datagram.
    pub fn as_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..self.total_len().min(b.len())]
    }

    /// Total length of this record on the wire.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.length())
    }

    /// The header fields except the length.
    pub fn header(&self) -> RecordHeader {
        RecordHeader {
            content_type: self.content_type(),
            version: self.version(),
            epoch: self.epoch(),
            sequence_number: self.sequence_number(),
        }
    }

    /// The handshake message type, readable only for a plaintext (epoch 0) handshake record
    /// with a non-empty fragment. Each DTLS handshake fragment repeats the message header,
    /// so this holds for any fragment of the message, not only the first.
    pub fn handshake_type(&self) -> Option<HandshakeType> {
        if self.content_type() != ContentType::Handshake || self.epoch() != 0 {
            return None;
        }
        self.buffer
            .as_ref()
            .get(field::FRAGMENT)
            .filter(|_| self.length() > 0)
            .map(|t| HandshakeType::from(*t))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Record<T> {
    pub fn set_content_type(&mut self, v: ContentType) {
        self.buffer.as_mut()[field::CONTENT_TYPE] = v.into();
    }
    pub fn set_version(&mut self, v: ProtocolVersion) {
        self.buffer.as_mut()[field::VERSION].copy_from_slice(&v.0.to_be_bytes());
    }
    pub fn set_epoch(&mut self, v: u16) {
        self.buffer.as_mut()[field::EPOCH].copy_from_slice(&v.to_be_bytes());
    }
    /// Writes the low 48 bits.
    pub fn set_sequence_number(&mut self, v: u64) {
        self.buffer.as_mut()[field::SEQUENCE].copy_from_slice(&v.to_be_bytes()[2..]);
    }
    pub fn set_length(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
}

/// The header fields except the length, which is the body's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    pub content_type: ContentType,
    pub version: ProtocolVersion,
    pub epoch: u16,
    /// 48 bits on the wire.
    pub sequence_number: u64,
}

impl RecordHeader {
    pub const MAX_SEQUENCE: u64 = (1 << 48) - 1;

    /// Writes the 13 header bytes with `length` into `record`; the fragment is the caller's.
    /// The buffer must hold at least [`HEADER_LEN`] bytes.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(&self, length: u16, record: &mut Record<T>) {
        record.set_content_type(self.content_type);
        record.set_version(self.version);
        record.set_epoch(self.epoch);
        record.set_sequence_number(self.sequence_number);
        record.set_length(length);
    }

    /// Appends header + body. The caller keeps `body.len()` within [`MAX_CIPHERTEXT_LEN`]
    /// and the sequence number within 48 bits.
    #[cfg(feature = "alloc")]
    pub fn emit(&self, body: &[u8], out: &mut alloc::vec::Vec<u8>) {
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        self.emit_header(
            body.len() as u16,
            &mut Record::new_unchecked(&mut out[start..]),
        );
        out.extend_from_slice(body);
    }
}

/// Iterator over every record of a datagram. Stops at the first malformed record (the rest
/// of the datagram cannot be delimited), yielding that error once, so it always terminates
/// (each step consumes at least 13 bytes).
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
    failed: bool,
}

pub fn records(datagram: &[u8]) -> Records<'_> {
    Records {
        rest: datagram,
        failed: false,
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<&'a [u8]>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match Record::new_checked(self.rest) {
            Ok(r) => {
                let (this, rest) = self.rest.split_at(r.total_len());
                self.rest = rest;
                Some(Ok(Record::new_unchecked(this)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::prelude::rust_2024::*;

    // A ClientHello record header as OpenSSL sends it: handshake, version 0xfeff, epoch 0, seq 0.
    const CH_HEADER: [u8; 13] = [0x16, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03];

    #[test]
    fn parses_header_fields() {
        let mut d = CH_HEADER.to_vec();
        d.extend_from_slice(&[1, 2, 3]);
        let r = Record::new_checked(&d[..]).unwrap();
        assert_eq!(r.content_type(), ContentType::Handshake);
        assert_eq!(r.version(), ProtocolVersion::DTLS1_0);
        assert_eq!(r.epoch(), 0);
        assert_eq!(r.sequence_number(), 0);
        assert_eq!(r.fragment(), &[1, 2, 3]);
    }

    #[test]
    fn several_records_per_datagram() {
        let mut d = Vec::new();
        let h = RecordHeader {
            content_type: ContentType::ChangeCipherSpec,
            version: ProtocolVersion::DTLS1_2,
            epoch: 0,
            sequence_number: 5,
        };
        h.emit(&[1], &mut d);
        let h2 = RecordHeader {
            content_type: ContentType::Unknown(99),
            epoch: 1,
            sequence_number: 0xabcdef012345,
            ..h
        };
        h2.emit(&[7; 40], &mut d);
        let v: Vec<_> = records(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].header(), h);
        assert_eq!(v[1].header(), h2);
        assert_eq!(v[1].fragment(), &[7; 40]);
        // A truncated tail yields one error, then stops.
        let mut it = records(&d[..d.len() - 1]);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next().unwrap().unwrap_err(),
            RecordError::TruncatedRecord
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn oversized_length_is_refused() {
        let mut d = CH_HEADER.to_vec();
        d[11] = 0xff;
        d[12] = 0xff;
        d.resize(70000, 0);
        assert_eq!(
            Record::new_checked(&d[..]).unwrap_err(),
            RecordError::RecordTooLong
        );
    }

    /// docs/protocol.md, "Example: a ClientHello record header" (the first 14 bytes of an
    /// OpenSSL 3 `s_client -dtls1_2` first ClientHello: record version DTLS 1.0, length 0xc3).
    #[test]
    fn client_hello_header_vector() {
        let mut dgram = vec![
            0x16, 0xfe, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc3, 0x01,
        ];
        dgram.resize(13 + 0xc3, 0);
        let r = Record::new_checked(&dgram[..]).unwrap();
        assert_eq!(r.content_type(), ContentType::Handshake);
        assert_eq!(r.version(), ProtocolVersion(0xfeff));
        assert_eq!(r.epoch(), 0);
        assert_eq!(r.sequence_number(), 0);
        assert_eq!(r.length(), 0xc3);
        assert_eq!(r.handshake_type(), Some(HandshakeType::ClientHello));
        assert_eq!(r.fragment().len(), 0xc3);
    }

    #[test]
    fn sequence_is_48_bits() {
        let mut b = [0u8; 13];
        let header = RecordHeader {
            content_type: ContentType::ApplicationData,
            version: ProtocolVersion(0xfefd),
            epoch: 0xabcd,
            sequence_number: 0x0000_8070_6050_4030,
        };
        header.emit_header(0, &mut Record::new_unchecked(&mut b[..]));
        assert_eq!(
            b,
            [
                23, 0xfe, 0xfd, 0xab, 0xcd, 0x80, 0x70, 0x60, 0x50, 0x40, 0x30, 0, 0
            ]
        );
        let r = Record::new_checked(&b[..]).unwrap();
        assert_eq!((r.header(), r.length()), (header, 0));
    }

    #[test]
    fn unknown_values_are_kept() {
        assert_eq!(ContentType::from(25), ContentType::Unknown(25));
        assert_eq!(u8::from(ContentType::Unknown(25)), 25);
        for v in 0..=255u8 {
            assert_eq!(u8::from(ContentType::from(v)), v);
            assert_eq!(u8::from(HandshakeType::from(v)), v);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(d in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut total = 0;
            for r in records(&d).flatten() {
                total += r.as_bytes().len();
                let _ = (r.content_type(), r.version(), r.epoch(), r.sequence_number(), r.fragment());
            }
            prop_assert!(total <= d.len());
        }

        #[test]
        fn header_round_trip(ct in any::<u8>(), ver in any::<u16>(), epoch in any::<u16>(),
                             seq in 0..=RecordHeader::MAX_SEQUENCE, body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let h = RecordHeader { content_type: ct.into(), version: ProtocolVersion(ver), epoch, sequence_number: seq };
            let mut d = Vec::new();
            h.emit(&body, &mut d);
            let r = Record::new_checked(&d[..]).unwrap();
            prop_assert_eq!(r.header(), h);
            prop_assert_eq!(r.fragment(), &body[..]);
        }

        #[test]
        fn header_emit_round_trip(ct in any::<u8>(), version in any::<u16>(), epoch in any::<u16>(),
                                  seq in 0u64..(1 << 48), length in any::<u16>()) {
            let header = RecordHeader { content_type: ct.into(), version: ProtocolVersion(version), epoch, sequence_number: seq };
            let mut b = [0u8; HEADER_LEN];
            header.emit_header(length, &mut Record::new_unchecked(&mut b[..]));
            let r = Record::new_unchecked(&b[..]);
            prop_assert_eq!(r.content_type(), header.content_type);
            prop_assert_eq!(r.version(), ProtocolVersion(version));
            prop_assert_eq!(r.epoch(), epoch);
            prop_assert_eq!(r.sequence_number(), seq);
            prop_assert_eq!(r.length(), length);
        }
    }
}
