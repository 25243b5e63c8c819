//! The HRM's reading of the plaintext DTLS record headers in a UDP datagram (RFC 6347
//! section 4.1); the header view itself is `dtls-wire`'s.
//!
//! The HRM routes on what a record *says it is*: content type, epoch and, for plaintext
//! epoch-0 handshake records, the handshake message type. It never decrypts and never
//! looks past the first byte of a record's fragment. RFC 6347 lets a datagram carry
//! several records, so every header is walked; one bad header makes the whole datagram
//! malformed (a router cannot resynchronise inside a datagram any better than the
//! endpoint could).

use core::fmt;

use dtls_wire::{ContentType, HEADER_LEN, HandshakeType, Record, RecordError, records};

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

impl From<RecordError> for MalformedDatagram {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::TruncatedHeader => MalformedDatagram::TruncatedHeader,
            RecordError::TruncatedRecord => MalformedDatagram::TruncatedRecord,
            RecordError::RecordTooLong => MalformedDatagram::RecordTooLong,
        }
    }
}

impl fmt::Display for MalformedDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for MalformedDatagram {}

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

/// Walks every record header of `datagram`; any malformed header rejects the datagram.
/// Allocates one summary per record (at most len/13 of them).
pub fn parse_datagram(datagram: &[u8]) -> Result<Vec<RecordSummary>, MalformedDatagram> {
    if datagram.is_empty() {
        return Err(MalformedDatagram::Empty);
    }
    let mut summaries = Vec::new();
    let mut at = 0;
    for record in records(datagram) {
        // The version before the length: the length of a header that is not DTLS means
        // nothing.
        let rest = &datagram[at..];
        if rest.len() >= HEADER_LEN && !Record::new_unchecked(rest).version().is_dtls() {
            return Err(MalformedDatagram::NotDtls);
        }
        let r = record?;
        let start = at;
        at += r.total_len();
        summaries.push(RecordSummary {
            content_type: r.content_type(),
            epoch: r.epoch(),
            sequence_number: r.sequence_number(),
            handshake_type: r.handshake_type(),
            range: start..at,
        });
    }
    Ok(summaries)
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
            redirect::doc_examples::hex_after("### Example: a client's final flight"),
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
    }
}
