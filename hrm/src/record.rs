//! Plaintext view of the DTLS record headers in a UDP datagram (RFC 6347 section 4.1).
//!
//! The HRM routes on what a record *says it is*: content type, epoch and, for plaintext
//! epoch-0 handshake records, the handshake message type. It never decrypts and never
//! looks past the first byte of a record's fragment. RFC 6347 lets a datagram carry
//! several records, so every header is walked; one bad header makes the whole datagram
//! malformed (a router cannot resynchronise inside a datagram any better than the
//! endpoint could).

use core::fmt;

/// type(1) version(2) epoch(2) sequence_number(6) length(2).
pub const HEADER_LEN: usize = 13;
/// RFC 6347 4.1 / RFC 5246 6.2.3: a record's length must not exceed 2^14 + 2048.
pub const MAX_RECORD_LEN: usize = 16384 + 2048;

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

/// Handshake message type (RFC 5246 7.4, RFC 6347 4.3.2), readable only at epoch 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeType {
    HelloRequest,
    ClientHello,
    ServerHello,
    HelloVerifyRequest,
    Certificate,
    ServerKeyExchange,
    CertificateRequest,
    ServerHelloDone,
    CertificateVerify,
    ClientKeyExchange,
    Finished,
    Unknown(u8),
}

impl From<u8> for HandshakeType {
    fn from(v: u8) -> Self {
        match v {
            0 => HandshakeType::HelloRequest,
            1 => HandshakeType::ClientHello,
            2 => HandshakeType::ServerHello,
            3 => HandshakeType::HelloVerifyRequest,
            11 => HandshakeType::Certificate,
            12 => HandshakeType::ServerKeyExchange,
            13 => HandshakeType::CertificateRequest,
            14 => HandshakeType::ServerHelloDone,
            15 => HandshakeType::CertificateVerify,
            16 => HandshakeType::ClientKeyExchange,
            20 => HandshakeType::Finished,
            x => HandshakeType::Unknown(x),
        }
    }
}

impl From<HandshakeType> for u8 {
    fn from(v: HandshakeType) -> u8 {
        match v {
            HandshakeType::HelloRequest => 0,
            HandshakeType::ClientHello => 1,
            HandshakeType::ServerHello => 2,
            HandshakeType::HelloVerifyRequest => 3,
            HandshakeType::Certificate => 11,
            HandshakeType::ServerKeyExchange => 12,
            HandshakeType::CertificateRequest => 13,
            HandshakeType::ServerHelloDone => 14,
            HandshakeType::CertificateVerify => 15,
            HandshakeType::ClientKeyExchange => 16,
            HandshakeType::Finished => 20,
            HandshakeType::Unknown(x) => x,
        }
    }
}

/// Why a datagram is not a sequence of DTLS records. Stable names for drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MalformedDatagram {
    /// A UDP datagram with no payload.
    Empty,
    /// Fewer than 13 bytes left where a record header should start.
    TruncatedHeader,
    /// The header's length runs past the end of the datagram.
    TruncatedRecord,
    /// The version's high byte is not 0xfe (not DTLS).
    NotDtls,
    /// Length above 2^14 + 2048.
    RecordTooLong,
}

impl MalformedDatagram {
    pub const ALL: [MalformedDatagram; 5] = [
        MalformedDatagram::Empty,
        MalformedDatagram::TruncatedHeader,
        MalformedDatagram::TruncatedRecord,
        MalformedDatagram::NotDtls,
        MalformedDatagram::RecordTooLong,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            MalformedDatagram::Empty => "dtls_empty_datagram",
            MalformedDatagram::TruncatedHeader => "dtls_truncated_header",
            MalformedDatagram::TruncatedRecord => "dtls_truncated_record",
            MalformedDatagram::NotDtls => "dtls_not_dtls",
            MalformedDatagram::RecordTooLong => "dtls_record_too_long",
        }
    }
}

impl fmt::Display for MalformedDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for MalformedDatagram {}

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

    pub fn new_checked(buffer: T) -> Result<Self, MalformedDatagram> {
        let r = Self::new_unchecked(buffer);
        r.check_len()?;
        Ok(r)
    }

    /// Header present, DTLS version, length within limits and within the buffer.
    pub fn check_len(&self) -> Result<(), MalformedDatagram> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(MalformedDatagram::TruncatedHeader);
        }
        if b[field::VERSION.start] != 0xfe {
            return Err(MalformedDatagram::NotDtls);
        }
        let len = usize::from(self.length());
        if len > MAX_RECORD_LEN {
            return Err(MalformedDatagram::RecordTooLong);
        }
        if b.len() < HEADER_LEN + len {
            return Err(MalformedDatagram::TruncatedRecord);
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
    pub fn version(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::VERSION];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn epoch(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::EPOCH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// 48-bit record sequence number.
    pub fn sequence_number(&self) -> u64 {
        self.buffer.as_ref()[field::SEQUENCE]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    }

    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The record's fragment (ciphertext unless epoch 0).
    pub fn fragment(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = (HEADER_LEN + usize::from(self.length())).min(b.len());
        &b[HEADER_LEN.min(end)..end]
    }

    /// Header plus fragment: the bytes of this record alone.
    pub fn record_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..(HEADER_LEN + usize::from(self.length())).min(b.len())]
    }

    /// Total length of this record on the wire.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.length())
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
    pub fn set_version(&mut self, v: u16) {
        self.buffer.as_mut()[field::VERSION].copy_from_slice(&v.to_be_bytes());
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

/// A record header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHeaderRepr {
    pub content_type: ContentType,
    pub version: u16,
    pub epoch: u16,
    /// 48 bits.
    pub sequence_number: u64,
    pub length: u16,
}

impl RecordHeaderRepr {
    pub fn parse<T: AsRef<[u8]>>(record: &Record<T>) -> Result<Self, MalformedDatagram> {
        record.check_len()?;
        Ok(RecordHeaderRepr {
            content_type: record.content_type(),
            version: record.version(),
            epoch: record.epoch(),
            sequence_number: record.sequence_number(),
            length: record.length(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 13 header bytes; the fragment is the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, record: &mut Record<T>) {
        record.set_content_type(self.content_type);
        record.set_version(self.version);
        record.set_epoch(self.epoch);
        record.set_sequence_number(self.sequence_number);
        record.set_length(self.length);
    }
}

/// What the HRM needs to know about one record, and where it sits in the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    pub content_type: ContentType,
    pub epoch: u16,
    pub sequence_number: u64,
    /// Some only for epoch-0 handshake records.
    pub handshake_type: Option<HandshakeType>,
    /// Byte range of the whole record (header + fragment) inside the datagram.
    pub range: core::ops::Range<usize>,
}

/// Iterator over the records of one datagram. Yields at most one error and then stops,
/// so it always terminates (each step consumes at least 13 bytes).
#[derive(Debug, Clone)]
pub struct Records<'a> {
    datagram: &'a [u8],
    at: usize,
    failed: bool,
}

impl<'a> Records<'a> {
    pub fn new(datagram: &'a [u8]) -> Self {
        Records {
            datagram,
            at: 0,
            failed: false,
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<RecordSummary, MalformedDatagram>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.datagram.len() {
            return None;
        }
        let rest = &self.datagram[self.at..];
        match Record::new_checked(rest) {
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
            Ok(r) => {
                let start = self.at;
                self.at += r.total_len();
                Some(Ok(RecordSummary {
                    content_type: r.content_type(),
                    epoch: r.epoch(),
                    sequence_number: r.sequence_number(),
                    handshake_type: r.handshake_type(),
                    range: start..self.at,
                }))
            }
        }
    }
}

/// Walks every record header of `datagram`; any malformed header rejects the datagram.
/// Allocates one summary per record (at most len/13 of them).
pub fn parse_datagram(datagram: &[u8]) -> Result<Vec<RecordSummary>, MalformedDatagram> {
    if datagram.is_empty() {
        return Err(MalformedDatagram::Empty);
    }
    Records::new(datagram).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// docs/protocol.md, "Example: a client's final flight in one datagram". Three records:
    /// a ClientKeyExchange fragment (epoch 0, seq 3), a ChangeCipherSpec (epoch 0, seq 4)
    /// and the encrypted Finished (epoch 1, seq 0, 8 bytes of stand-in ciphertext).
    pub(crate) const FINAL_FLIGHT: [u8; 13 + 4 + 13 + 1 + 13 + 8] = [
        // ClientKeyExchange: type 22, DTLS 1.2, epoch 0, seq 3, length 4,
        // fragment = msg_type 16 + 3 bytes (truncated stand-in body)
        0x16, 0xfe, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x04, 0x10, 0x00,
        0x00, 0x41, // ChangeCipherSpec: type 20, epoch 0, seq 4, length 1, body 0x01
        0x14, 0xfe, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01, 0x01,
        // Finished, encrypted: type 22, epoch 1, seq 0, length 8
        0x16, 0xfe, 0xfd, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0xde, 0xad,
        0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
    ];

    #[test]
    fn final_flight_vector() {
        assert_eq!(
            crate::doc_examples::hex_after("### Example: a client's final flight"),
            FINAL_FLIGHT
        );
        let recs = parse_datagram(&FINAL_FLIGHT).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].content_type, ContentType::Handshake);
        assert_eq!(recs[0].epoch, 0);
        assert_eq!(recs[0].sequence_number, 3);
        assert_eq!(
            recs[0].handshake_type,
            Some(HandshakeType::ClientKeyExchange)
        );
        assert_eq!(recs[0].range, 0..17);
        assert_eq!(recs[1].content_type, ContentType::ChangeCipherSpec);
        assert_eq!(recs[1].sequence_number, 4);
        assert_eq!(recs[1].handshake_type, None);
        assert_eq!(recs[1].range, 17..31);
        assert_eq!(recs[2].content_type, ContentType::Handshake);
        assert_eq!(recs[2].epoch, 1);
        // Encrypted: the first fragment byte is ciphertext, not a message type.
        assert_eq!(recs[2].handshake_type, None);
        assert_eq!(recs[2].range, 31..52);
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
        assert_eq!(r.version(), 0xfeff);
        assert_eq!(r.epoch(), 0);
        assert_eq!(r.sequence_number(), 0);
        assert_eq!(r.length(), 0xc3);
        assert_eq!(r.handshake_type(), Some(HandshakeType::ClientHello));
        assert_eq!(r.fragment().len(), 0xc3);
    }

    #[test]
    fn sequence_is_48_bits() {
        let mut b = [0u8; 13];
        let repr = RecordHeaderRepr {
            content_type: ContentType::ApplicationData,
            version: 0xfefd,
            epoch: 0xabcd,
            sequence_number: 0x0000_8070_6050_4030,
            length: 0,
        };
        repr.emit(&mut Record::new_unchecked(&mut b[..]));
        assert_eq!(
            b,
            [
                23, 0xfe, 0xfd, 0xab, 0xcd, 0x80, 0x70, 0x60, 0x50, 0x40, 0x30, 0, 0
            ]
        );
        assert_eq!(
            RecordHeaderRepr::parse(&Record::new_unchecked(&b[..])).unwrap(),
            repr
        );
    }

    #[test]
    fn malformed_datagrams_are_named() {
        assert_eq!(parse_datagram(&[]), Err(MalformedDatagram::Empty));
        assert_eq!(
            parse_datagram(&FINAL_FLIGHT[..12]),
            Err(MalformedDatagram::TruncatedHeader)
        );
        // A whole first record followed by 5 stray bytes.
        assert_eq!(
            parse_datagram(&FINAL_FLIGHT[..22]),
            Err(MalformedDatagram::TruncatedHeader)
        );
        // Length says 4, only 3 present.
        assert_eq!(
            parse_datagram(&FINAL_FLIGHT[..16]),
            Err(MalformedDatagram::TruncatedRecord)
        );
        let mut tls = FINAL_FLIGHT;
        tls[1] = 0x03; // TLS 1.2 header
        assert_eq!(parse_datagram(&tls), Err(MalformedDatagram::NotDtls));
        let mut long = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0x48, 0x01];
        long.resize(13 + 0x4801, 0);
        assert_eq!(parse_datagram(&long), Err(MalformedDatagram::RecordTooLong));
    }

    #[test]
    fn zero_length_records_are_allowed_and_have_no_handshake_type() {
        let d = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0];
        let recs = parse_datagram(&d).unwrap();
        assert_eq!(recs[0].handshake_type, None);
        assert_eq!(recs[0].range, 0..13);
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
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Stand-in for the `hrm_classify` fuzz target on stable.
        #[test]
        fn no_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(recs) = parse_datagram(&bytes) {
                // Records tile the datagram exactly.
                let mut at = 0;
                for r in &recs {
                    prop_assert_eq!(r.range.start, at);
                    at = r.range.end;
                }
                prop_assert_eq!(at, bytes.len());
            }
        }

        #[test]
        fn header_repr_round_trip(ct in any::<u8>(), version in any::<u16>(), epoch in any::<u16>(),
                                  seq in 0u64..(1 << 48), length in any::<u16>()) {
            let repr = RecordHeaderRepr { content_type: ct.into(), version, epoch, sequence_number: seq, length };
            let mut b = [0u8; HEADER_LEN];
            repr.emit(&mut Record::new_unchecked(&mut b[..]));
            let r = Record::new_unchecked(&b[..]);
            prop_assert_eq!(r.content_type(), repr.content_type);
            prop_assert_eq!(r.version(), version);
            prop_assert_eq!(r.epoch(), epoch);
            prop_assert_eq!(r.sequence_number(), seq);
            prop_assert_eq!(r.length(), length);
        }
    }
}
