//! Structured errors, rustls style: what went wrong and with what, each mapped to the alert
//! we send. `as_str()` names are stable and meant for drop counters.

use crate::alert::AlertDescription;

/// A wire structure could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    #[error("truncated")]
    Truncated,
    #[error("trailing data")]
    TrailingData,
    #[error("record longer than allowed")]
    RecordTooLong,
    #[error("handshake message longer than allowed")]
    MessageTooLarge,
    #[error("fragment outside its message")]
    BadFragment,
    #[error("fragment conflicts with an earlier one")]
    InconsistentFragment,
    #[error("too many buffered handshake messages")]
    TooManyBuffered,
    #[error("length field out of range")]
    BadLength,
    #[error("invalid ChangeCipherSpec")]
    InvalidCcs,
    #[error("invalid elliptic-curve point")]
    InvalidEcPoint,
    #[error("certificate chain too long")]
    ChainTooLong,
    #[error("unsupported record version")]
    UnsupportedVersion,
}

impl InvalidMessage {
    pub fn as_str(&self) -> &'static str {
        match self {
            InvalidMessage::Truncated => "truncated",
            InvalidMessage::TrailingData => "trailing_data",
            InvalidMessage::RecordTooLong => "record_too_long",
            InvalidMessage::MessageTooLarge => "message_too_large",
            InvalidMessage::BadFragment => "bad_fragment",
            InvalidMessage::InconsistentFragment => "inconsistent_fragment",
            InvalidMessage::TooManyBuffered => "too_many_buffered",
            InvalidMessage::BadLength => "bad_length",
            InvalidMessage::InvalidCcs => "invalid_ccs",
            InvalidMessage::InvalidEcPoint => "invalid_ec_point",
            InvalidMessage::ChainTooLong => "chain_too_long",
            InvalidMessage::UnsupportedVersion => "unsupported_version",
        }
    }
}

/// The peer broke the protocol in a way a correct implementation would not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    #[error("unexpected message")]
    UnexpectedMessage,
    #[error("no cipher suite in common")]
    NoCommonCipherSuite,
    #[error("null compression not offered")]
    NoNullCompression,
    #[error("P-256 or SHA-256 ECDSA not offered")]
    NoCommonCurveOrSignature,
    #[error("renegotiation attempted")]
    RenegotiationAttempt,
    #[error("non-empty renegotiation_info")]
    BadRenegotiationInfo,
    #[error("Finished verify_data mismatch")]
    BadFinished,
    #[error("bad handshake signature")]
    BadSignature,
    #[error("no client certificate")]
    MissingCertificate,
    #[error("server chose what we did not offer")]
    UnofferedParameter,
    #[error("unknown PSK identity")]
    UnknownPskIdentity,
    #[error("extended master secret dropped or added")]
    ExtendedMasterSecretMismatch,
    #[error("unsupported protocol version")]
    UnsupportedVersion,
    #[error("no certificate type in common (RFC 7250)")]
    NoCommonCertificateType,
}

impl PeerMisbehaved {
    pub fn as_str(&self) -> &'static str {
        match self {
            PeerMisbehaved::UnexpectedMessage => "unexpected_message",
            PeerMisbehaved::NoCommonCipherSuite => "no_common_cipher_suite",
            PeerMisbehaved::NoNullCompression => "no_null_compression",
            PeerMisbehaved::NoCommonCurveOrSignature => "no_common_curve_or_signature",
            PeerMisbehaved::RenegotiationAttempt => "renegotiation_attempt",
            PeerMisbehaved::BadRenegotiationInfo => "bad_renegotiation_info",
            PeerMisbehaved::BadFinished => "bad_finished",
            PeerMisbehaved::BadSignature => "bad_signature",
            PeerMisbehaved::MissingCertificate => "missing_certificate",
            PeerMisbehaved::UnofferedParameter => "unoffered_parameter",
            PeerMisbehaved::UnknownPskIdentity => "unknown_psk_identity",
            PeerMisbehaved::ExtendedMasterSecretMismatch => "ems_mismatch",
            PeerMisbehaved::UnsupportedVersion => "unsupported_version",
            PeerMisbehaved::NoCommonCertificateType => "no_common_certificate_type",
        }
    }
}

/// Why a certificate chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    #[error("certificate cannot be parsed")]
    BadEncoding,
    #[error("certificate expired")]
    Expired,
    #[error("certificate not valid yet")]
    NotValidYet,
    #[error("issuer not trusted")]
    UnknownIssuer,
    #[error("bad certificate signature")]
    BadSignature,
    #[error("extended key usage does not allow this role")]
    InvalidPurpose,
    #[error("key usage does not allow digitalSignature")]
    KeyUsageForbidsSignature,
    #[error("public key is not P-256")]
    UnsupportedKey,
    #[error("chain has too many certificates or bytes")]
    ChainTooLong,
    /// A configured CRL of the certificate's issuer lists it.
    #[error("certificate revoked")]
    Revoked,
    /// Revocation checking is configured but no CRL of the certificate's issuer is.
    #[error("revocation status unknown (no CRL of its issuer)")]
    RevocationUnknown,
    #[error("certificate is not valid for the expected name")]
    NameMismatch,
    #[error("raw public key not among the pinned keys")]
    UnknownRawPublicKey,
    #[error("rejected: {0}")]
    Other(String),
}

impl CertificateError {
    pub fn as_str(&self) -> &'static str {
        match self {
            CertificateError::BadEncoding => "cert_bad_encoding",
            CertificateError::Expired => "cert_expired",
            CertificateError::NotValidYet => "cert_not_valid_yet",
            CertificateError::UnknownIssuer => "cert_unknown_issuer",
            CertificateError::BadSignature => "cert_bad_signature",
            CertificateError::InvalidPurpose => "cert_invalid_purpose",
            CertificateError::KeyUsageForbidsSignature => "cert_key_usage",
            CertificateError::UnsupportedKey => "cert_unsupported_key",
            CertificateError::ChainTooLong => "cert_chain_too_long",
            CertificateError::Revoked => "cert_revoked",
            CertificateError::RevocationUnknown => "cert_revocation_unknown",
            CertificateError::NameMismatch => "cert_name_mismatch",
            CertificateError::UnknownRawPublicKey => "cert_unknown_raw_key",
            CertificateError::Other(_) => "cert_other",
        }
    }
}

/// Everything that ends a connection (or drops a datagram, for the endpoint's counters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] InvalidMessage),
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(#[from] PeerMisbehaved),
    #[error("invalid peer certificate: {0}")]
    InvalidCertificate(#[from] CertificateError),
    #[error("record failed authentication")]
    DecryptFailed,
    #[error("peer sent fatal alert {0:?}")]
    AlertReceived(AlertDescription),
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error("sequence numbers exhausted")]
    SequenceExhausted,
    #[error("connection is not established")]
    NotEstablished,
    #[error("handshake refused by the application ({0:?})")]
    HandshakeRefused(AlertDescription),
    #[error("configuration: {0}")]
    Config(&'static str),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl Error {
    /// The alert we send when this error ends the connection, `None` when nothing is sent
    /// (the peer already told us, or the peer is gone).
    pub fn alert(&self) -> Option<AlertDescription> {
        use AlertDescription as A;
        Some(match self {
            Error::InvalidMessage(InvalidMessage::RecordTooLong) => A::RecordOverflow,
            Error::InvalidMessage(InvalidMessage::InvalidEcPoint) => A::IllegalParameter,
            Error::InvalidMessage(InvalidMessage::UnsupportedVersion) => A::ProtocolVersion,
            Error::InvalidMessage(_) => A::DecodeError,
            Error::PeerMisbehaved(p) => match p {
                PeerMisbehaved::UnexpectedMessage => A::UnexpectedMessage,
                PeerMisbehaved::NoCommonCipherSuite
                | PeerMisbehaved::NoNullCompression
                | PeerMisbehaved::NoCommonCurveOrSignature
                | PeerMisbehaved::BadRenegotiationInfo
                | PeerMisbehaved::ExtendedMasterSecretMismatch
                | PeerMisbehaved::NoCommonCertificateType => A::HandshakeFailure,
                PeerMisbehaved::RenegotiationAttempt => A::NoRenegotiation,
                PeerMisbehaved::BadFinished | PeerMisbehaved::BadSignature => A::DecryptError,
                PeerMisbehaved::MissingCertificate => A::HandshakeFailure,
                PeerMisbehaved::UnofferedParameter => A::IllegalParameter,
                PeerMisbehaved::UnknownPskIdentity => A::UnknownPskIdentity,
                PeerMisbehaved::UnsupportedVersion => A::ProtocolVersion,
            },
            Error::InvalidCertificate(c) => match c {
                CertificateError::Expired | CertificateError::NotValidYet => A::CertificateExpired,
                CertificateError::UnknownIssuer => A::UnknownCa,
                CertificateError::Revoked => A::CertificateRevoked,
                CertificateError::RevocationUnknown => A::CertificateUnknown,
                CertificateError::UnsupportedKey => A::UnsupportedCertificate,
                CertificateError::InvalidPurpose | CertificateError::KeyUsageForbidsSignature => {
                    A::UnsupportedCertificate
                }
                _ => A::BadCertificate,
            },
            Error::DecryptFailed => A::BadRecordMac,
            Error::HandshakeRefused(a) => *a,
            Error::AlertReceived(_) | Error::HandshakeTimeout => return None,
            Error::SequenceExhausted
            | Error::NotEstablished
            | Error::Config(_)
            | Error::Internal(_) => A::InternalError,
        })
    }

    /// Stable name for logs and counters.
    pub fn as_str(&self) -> &'static str {
        match self {
            Error::InvalidMessage(m) => m.as_str(),
            Error::PeerMisbehaved(p) => p.as_str(),
            Error::InvalidCertificate(c) => c.as_str(),
            Error::DecryptFailed => "decrypt_failed",
            Error::AlertReceived(_) => "alert_received",
            Error::HandshakeTimeout => "handshake_timeout",
            Error::SequenceExhausted => "sequence_exhausted",
            Error::NotEstablished => "not_established",
            Error::HandshakeRefused(_) => "handshake_refused",
            Error::Config(_) => "config",
            Error::Internal(_) => "internal",
        }
    }
}
