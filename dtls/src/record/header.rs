//! The 13-byte DTLS record header as a zero-copy view and a typed repr (smoltcp style).

use crate::codec::put_u48;
use crate::error::InvalidMessage;

/// type(1) version(2) epoch(2) sequence_number(6) length(2).
pub const HEADER_LEN: usize = 13;
/// RFC 6347 / 5246: TLSCiphertext.length must not exceed 2^14 + 2048.
pub const MAX_CIPHERTEXT_LEN: usize = 16384 + 2048;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const VERSION: Range<usize> = 1..3;
    pub const EPOCH: Range<usize> = 3..5;
    pub const SEQUENCE: Range<usize> = 5..11;
    pub const LENGTH: Range<usize> = 11..13;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    ChangeCipherSpec,
    Alert,
    Handshake,
    ApplicationData,
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

/// Zero-copy view of one record; after `check_len` no accessor can panic.
#[derive(Debug, Clone, Copy)]
pub struct Record<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Record<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Record { buffer }
    }

    /// The buffer may be longer than the record (the rest of the datagram).
    pub fn new_checked(buffer: T) -> Result<Self, InvalidMessage> {
        let r = Self::new_unchecked(buffer);
        r.check_len()?;
        Ok(r)
    }

    pub fn check_len(&self) -> Result<(), InvalidMessage> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(InvalidMessage::Truncated);
        }
        let len = self.length() as usize;
        if len > MAX_CIPHERTEXT_LEN {
            return Err(InvalidMessage::RecordTooLong);
        }
        if b.len() < HEADER_LEN + len {
            return Err(InvalidMessage::Truncated);
        }
        Ok(())
    }

    pub fn content_type(&self) -> ContentType {
        self.buffer.as_ref()[field::TYPE].into()
    }

    pub fn version(&self) -> ProtocolVersion {
        let b = &self.buffer.as_ref()[field::VERSION];
        ProtocolVersion(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn epoch(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::EPOCH];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn sequence_number(&self) -> u64 {
        let b = &self.buffer.as_ref()[field::SEQUENCE];
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The record body (ciphertext or plaintext fragment).
    pub fn fragment(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + self.length() as usize]
    }

    /// Header and body: the bytes this record occupies in the datagram.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN + self.length() as usize]
    }

    pub fn header(&self) -> RecordHeader {
        RecordHeader {
            content_type: self.content_type(),
            version: self.version(),
            epoch: self.epoch(),
            sequence_number: self.sequence_number(),
        }
    }
}

/// The header fields except the length, which is derived from the body when emitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub content_type: ContentType,
    pub version: ProtocolVersion,
    pub epoch: u16,
    /// 48 bits on the wire.
    pub sequence_number: u64,
}

impl RecordHeader {
    pub const MAX_SEQUENCE: u64 = (1 << 48) - 1;

    /// Appends header + body. The caller keeps `body.len()` within [`MAX_CIPHERTEXT_LEN`]
    /// and the sequence number within 48 bits.
    pub fn emit(&self, body: &[u8], out: &mut Vec<u8>) {
        out.push(self.content_type.into());
        out.extend_from_slice(&self.version.0.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        put_u48(out, self.sequence_number & Self::MAX_SEQUENCE);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
}

/// Iterator over every record of a datagram. Stops at the first malformed record (the rest
/// of the datagram cannot be delimited), yielding that error once.
pub struct Records<'a> {
    rest: &'a [u8],
    failed: bool,
}

pub fn records(datagram: &[u8]) -> Records<'_> {
    Records { rest: datagram, failed: false }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<&'a [u8]>, InvalidMessage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match Record::new_checked(self.rest) {
            Ok(r) => {
                let total = HEADER_LEN + r.length() as usize;
                let (this, rest) = self.rest.split_at(total);
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
        let h2 = RecordHeader { content_type: ContentType::Unknown(99), epoch: 1, sequence_number: 0xabcdef012345, ..h };
        h2.emit(&[7; 40], &mut d);
        let v: Vec<_> = records(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].header(), h);
        assert_eq!(v[1].header(), h2);
        assert_eq!(v[1].fragment(), &[7; 40]);
        // A truncated tail yields one error, then stops.
        let mut it = records(&d[..d.len() - 1]);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next().unwrap().unwrap_err(), InvalidMessage::Truncated);
        assert!(it.next().is_none());
    }

    #[test]
    fn oversized_length_is_refused() {
        let mut d = CH_HEADER.to_vec();
        d[11] = 0xff;
        d[12] = 0xff;
        d.resize(70000, 0);
        assert_eq!(Record::new_checked(&d[..]).unwrap_err(), InvalidMessage::RecordTooLong);
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
    }
}
