//! Handshake messages (RFC 5246 section 7.4, RFC 6347 section 4.2, RFC 4279, RFC 4492),
//! each implementing [`Codec`].

use crate::codec::{Codec, Prefix, Reader, put_bytes, put_u16, put_u24, put_vec};
use crate::error::InvalidMessage;
use crate::record::ProtocolVersion;

pub const TLS_PSK_WITH_AES_128_CCM_8: u16 = 0xc0a8;
pub const TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8: u16 = 0xc0ae;
pub const TLS_ECDHE_ECDSA_WITH_AES_128_CCM: u16 = 0xc0ac;
pub const TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: u16 = 0xc02b;
pub const TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: u16 = 0xcca9;
/// RFC 5746 signalling cipher suite value.
pub const TLS_EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00ff;
pub const SECP256R1: u16 = 23;
/// SignatureAndHashAlgorithm ecdsa_secp256r1_sha256 (hash 4 = sha256, sig 3 = ecdsa).
pub const ECDSA_SHA256: u16 = 0x0403;
/// ClientCertificateType ecdsa_sign (RFC 4492).
pub const ECDSA_SIGN: u8 = 64;

pub mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const ENCRYPT_THEN_MAC: u16 = 22;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    /// RFC 7250.
    pub const CLIENT_CERTIFICATE_TYPE: u16 = 19;
    /// RFC 7250.
    pub const SERVER_CERTIFICATE_TYPE: u16 = 20;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// Largest handshake message body we accept (certificate chains included).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
/// Most certificates we take in one Certificate message.
pub const MAX_CHAIN_CERTS: usize = 6;

pub use dtls_wire::HandshakeType;

/// The 12-byte DTLS handshake header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeHeader {
    pub msg_type: HandshakeType,
    /// Length of the whole message body.
    pub length: u32,
    pub message_seq: u16,
    pub fragment_offset: u32,
    pub fragment_length: u32,
}

impl HandshakeHeader {
    pub const LEN: usize = 12;
}

impl Codec for HandshakeHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.msg_type.into());
        put_u24(out, self.length);
        put_u16(out, self.message_seq);
        put_u24(out, self.fragment_offset);
        put_u24(out, self.fragment_length);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(HandshakeHeader {
            msg_type: r.u8()?.into(),
            length: r.u24()?,
            message_seq: r.u16()?,
            fragment_offset: r.u24()?,
            fragment_length: r.u24()?,
        })
    }
}

/// One handshake fragment taken out of a record: header and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeFragment<'a> {
    pub header: HandshakeHeader,
    pub body: &'a [u8],
}

impl<'a> HandshakeFragment<'a> {
    /// Reads one fragment; checks that it lies inside its message.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, InvalidMessage> {
        let header = HandshakeHeader::read(r)?;
        let end = header.fragment_offset as u64 + header.fragment_length as u64;
        if end > header.length as u64 {
            return Err(InvalidMessage::BadFragment);
        }
        let body = r.take(header.fragment_length as usize)?;
        Ok(HandshakeFragment { header, body })
    }
}

/// An unparsed extension; known ones are interpreted where they are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub typ: u16,
    pub data: Vec<u8>,
}

fn read_extensions(r: &mut Reader<'_>) -> Result<Vec<Extension>, InvalidMessage> {
    // The extensions block is optional in hellos.
    if !r.any_left() {
        return Ok(Vec::new());
    }
    let mut list = r.sub_u16()?;
    let mut v = Vec::new();
    while list.any_left() {
        let typ = list.u16()?;
        let data = list.sub_u16()?.rest().to_vec();
        v.push(Extension { typ, data });
    }
    Ok(v)
}

fn write_extensions(out: &mut Vec<u8>, exts: &[Extension]) {
    if exts.is_empty() {
        return;
    }
    put_vec(out, Prefix::U16, |o| {
        for e in exts {
            put_u16(o, e.typ);
            put_bytes(o, Prefix::U16, &e.data);
        }
    });
}

pub fn find_extension(exts: &[Extension], typ: u16) -> Option<&[u8]> {
    exts.iter().find(|e| e.typ == typ).map(|e| &e.data[..])
}

/// Reads a u16-prefixed list of u16 values (supported_groups, signature_algorithms).
pub fn read_u16_list(data: &[u8]) -> Result<Vec<u16>, InvalidMessage> {
    let mut r = Reader::new(data);
    let mut list = r.sub_u16()?;
    r.expect_empty()?;
    let mut v = Vec::new();
    while list.any_left() {
        v.push(list.u16()?);
    }
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    pub client_version: ProtocolVersion,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cookie: Vec<u8>,
    pub cipher_suites: Vec<u16>,
    pub compression_methods: Vec<u8>,
    pub extensions: Vec<Extension>,
}

impl Codec for ClientHello {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u16(out, self.client_version.0);
        out.extend_from_slice(&self.random);
        put_bytes(out, Prefix::U8, &self.session_id);
        put_bytes(out, Prefix::U8, &self.cookie);
        put_vec(out, Prefix::U16, |o| {
            self.cipher_suites.iter().for_each(|c| put_u16(o, *c))
        });
        put_bytes(out, Prefix::U8, &self.compression_methods);
        write_extensions(out, &self.extensions);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let client_version = ProtocolVersion(r.u16()?);
        let random = r.array()?;
        let session_id = r.sub_u8()?.rest().to_vec();
        if session_id.len() > 32 {
            return Err(InvalidMessage::BadLength);
        }
        // RFC 6347: opaque cookie<0..2^8-1>; the one-byte prefix bounds it.
        let cookie = r.sub_u8()?.rest().to_vec();
        let mut suites = r.sub_u16()?;
        let mut cipher_suites = Vec::new();
        while suites.any_left() {
            cipher_suites.push(suites.u16()?);
        }
        let compression_methods = r.sub_u8()?.rest().to_vec();
        let extensions = read_extensions(r)?;
        Ok(ClientHello {
            client_version,
            random,
            session_id,
            cookie,
            cipher_suites,
            compression_methods,
            extensions,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloVerifyRequest {
    pub server_version: ProtocolVersion,
    pub cookie: Vec<u8>,
}

impl Codec for HelloVerifyRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u16(out, self.server_version.0);
        put_bytes(out, Prefix::U8, &self.cookie);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(HelloVerifyRequest {
            server_version: ProtocolVersion(r.u16()?),
            cookie: r.sub_u8()?.rest().to_vec(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    pub server_version: ProtocolVersion,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher_suite: u16,
    pub compression_method: u8,
    pub extensions: Vec<Extension>,
}

impl Codec for ServerHello {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u16(out, self.server_version.0);
        out.extend_from_slice(&self.random);
        put_bytes(out, Prefix::U8, &self.session_id);
        put_u16(out, self.cipher_suite);
        out.push(self.compression_method);
        write_extensions(out, &self.extensions);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let server_version = ProtocolVersion(r.u16()?);
        let random = r.array()?;
        let session_id = r.sub_u8()?.rest().to_vec();
        if session_id.len() > 32 {
            return Err(InvalidMessage::BadLength);
        }
        Ok(ServerHello {
            server_version,
            random,
            session_id,
            cipher_suite: r.u16()?,
            compression_method: r.u8()?,
            extensions: read_extensions(r)?,
        })
    }
}

/// Certificate: a chain of DER certificates, leaf first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateMsg {
    pub chain: Vec<Vec<u8>>,
}

impl Codec for CertificateMsg {
    fn encode(&self, out: &mut Vec<u8>) {
        put_vec(out, Prefix::U24, |o| {
            self.chain.iter().for_each(|c| put_bytes(o, Prefix::U24, c))
        });
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let mut list = r.sub_u24()?;
        let mut chain = Vec::new();
        while list.any_left() {
            if chain.len() == MAX_CHAIN_CERTS {
                return Err(InvalidMessage::ChainTooLong);
            }
            let cert = list.sub_u24()?.rest();
            if cert.is_empty() {
                return Err(InvalidMessage::BadLength);
            }
            chain.push(cert.to_vec());
        }
        Ok(CertificateMsg { chain })
    }
}

/// Certificate carrying a raw public key (RFC 7250 section 3): one DER
/// SubjectPublicKeyInfo, not a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPublicKeyMsg {
    pub spki: Vec<u8>,
}

impl Codec for RawPublicKeyMsg {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, Prefix::U24, &self.spki);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let spki = r.sub_u24()?.rest().to_vec();
        if spki.is_empty() {
            return Err(InvalidMessage::BadLength);
        }
        Ok(RawPublicKeyMsg { spki })
    }
}

/// A ClientHello's client_certificate_type or server_certificate_type: the types the
/// client supports, u8-prefixed, in its order of preference (RFC 7250 section 4).
pub fn certificate_types_extension(typ: u16, types: &[u8]) -> Extension {
    let mut data = Vec::new();
    put_bytes(&mut data, Prefix::U8, types);
    Extension { typ, data }
}

/// The list of a ClientHello's certificate type extension.
pub fn read_certificate_types(data: &[u8]) -> Result<Vec<u8>, InvalidMessage> {
    let mut r = Reader::new(data);
    let list = r.sub_u8()?.rest().to_vec();
    r.expect_empty()?;
    if list.is_empty() {
        return Err(InvalidMessage::BadLength);
    }
    Ok(list)
}

/// DigitallySigned with its SignatureAndHashAlgorithm (TLS 1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitallySigned {
    pub scheme: u16,
    pub signature: Vec<u8>,
}

impl Codec for DigitallySigned {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u16(out, self.scheme);
        put_bytes(out, Prefix::U16, &self.signature);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(DigitallySigned {
            scheme: r.u16()?,
            signature: r.sub_u16()?.rest().to_vec(),
        })
    }
}

/// ServerECDHParams for named curves (RFC 4492 section 5.4): `03 0017 41 04..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcdheParams {
    pub named_curve: u16,
    pub public: Vec<u8>,
}

impl Codec for EcdheParams {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(3);
        put_u16(out, self.named_curve);
        put_bytes(out, Prefix::U8, &self.public);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        if r.u8()? != 3 {
            return Err(InvalidMessage::InvalidEcPoint);
        }
        Ok(EcdheParams {
            named_curve: r.u16()?,
            public: r.sub_u8()?.rest().to_vec(),
        })
    }
}

/// ServerKeyExchange for ECDHE_ECDSA: params and their signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcdheServerKeyExchange {
    pub params: EcdheParams,
    pub signed: DigitallySigned,
}

impl Codec for EcdheServerKeyExchange {
    fn encode(&self, out: &mut Vec<u8>) {
        self.params.encode(out);
        self.signed.encode(out);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(EcdheServerKeyExchange {
            params: EcdheParams::read(r)?,
            signed: DigitallySigned::read(r)?,
        })
    }
}

/// ServerKeyExchange for PSK: the identity hint (RFC 4279 section 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskServerKeyExchange {
    pub identity_hint: Vec<u8>,
}

impl Codec for PskServerKeyExchange {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, Prefix::U16, &self.identity_hint);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(PskServerKeyExchange {
            identity_hint: r.sub_u16()?.rest().to_vec(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRequest {
    pub certificate_types: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    /// DER distinguished names.
    pub authorities: Vec<Vec<u8>>,
}

impl Codec for CertificateRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, Prefix::U8, &self.certificate_types);
        put_vec(out, Prefix::U16, |o| {
            self.signature_algorithms
                .iter()
                .for_each(|s| put_u16(o, *s))
        });
        put_vec(out, Prefix::U16, |o| {
            self.authorities
                .iter()
                .for_each(|a| put_bytes(o, Prefix::U16, a))
        });
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        let certificate_types = r.sub_u8()?.rest().to_vec();
        let mut algs = r.sub_u16()?;
        let mut signature_algorithms = Vec::new();
        while algs.any_left() {
            signature_algorithms.push(algs.u16()?);
        }
        let mut cas = r.sub_u16()?;
        let mut authorities = Vec::new();
        while cas.any_left() {
            authorities.push(cas.sub_u16()?.rest().to_vec());
        }
        Ok(CertificateRequest {
            certificate_types,
            signature_algorithms,
            authorities,
        })
    }
}

/// ClientKeyExchange bodies depend on the suite; both are one length-prefixed vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKeyExchange {
    /// ClientECDiffieHellmanPublic: u8-prefixed SEC1 point.
    Ecdhe(Vec<u8>),
    /// psk_identity: u16-prefixed.
    Psk(Vec<u8>),
}

impl ClientKeyExchange {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ClientKeyExchange::Ecdhe(p) => put_bytes(out, Prefix::U8, p),
            ClientKeyExchange::Psk(id) => put_bytes(out, Prefix::U16, id),
        }
    }

    pub fn read_ecdhe(body: &[u8]) -> Result<Self, InvalidMessage> {
        let mut r = Reader::new(body);
        let p = r.sub_u8()?.rest().to_vec();
        r.expect_empty()?;
        Ok(ClientKeyExchange::Ecdhe(p))
    }

    pub fn read_psk(body: &[u8]) -> Result<Self, InvalidMessage> {
        let mut r = Reader::new(body);
        let id = r.sub_u16()?.rest().to_vec();
        r.expect_empty()?;
        Ok(ClientKeyExchange::Psk(id))
    }
}

/// Encodes `extended_master_secret` (empty), `renegotiation_info` (empty) and friends.
pub fn empty_extension(typ: u16) -> Extension {
    Extension {
        typ,
        data: Vec::new(),
    }
}

/// renegotiation_info carrying an empty renegotiated_connection (initial handshake).
pub fn initial_renegotiation_info() -> Extension {
    Extension {
        typ: ext::RENEGOTIATION_INFO,
        data: vec![0],
    }
}

pub fn u16_list_extension(typ: u16, values: &[u16]) -> Extension {
    let mut data = Vec::new();
    put_vec(&mut data, Prefix::U16, |o| {
        values.iter().for_each(|v| put_u16(o, *v))
    });
    Extension { typ, data }
}

/// ec_point_formats: uncompressed only.
pub fn point_formats_extension() -> Extension {
    Extension {
        typ: ext::EC_POINT_FORMATS,
        data: vec![1, 0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hello() -> ClientHello {
        ClientHello {
            client_version: ProtocolVersion::DTLS1_2,
            random: [9; 32],
            session_id: vec![],
            cookie: vec![1, 2, 3],
            cipher_suites: vec![
                TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
                TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
            ],
            compression_methods: vec![0],
            extensions: vec![
                empty_extension(ext::EXTENDED_MASTER_SECRET),
                u16_list_extension(ext::SUPPORTED_GROUPS, &[29, SECP256R1]),
            ],
        }
    }

    #[test]
    fn round_trips() {
        let ch = hello();
        assert_eq!(ClientHello::read_bytes(&ch.get_encoding()).unwrap(), ch);
        let sh = ServerHello {
            server_version: ProtocolVersion::DTLS1_2,
            random: [3; 32],
            session_id: vec![4; 32],
            cipher_suite: TLS_PSK_WITH_AES_128_CCM_8,
            compression_method: 0,
            extensions: vec![initial_renegotiation_info()],
        };
        assert_eq!(ServerHello::read_bytes(&sh.get_encoding()).unwrap(), sh);
        let c = CertificateMsg {
            chain: vec![vec![1; 300], vec![2; 10]],
        };
        assert_eq!(CertificateMsg::read_bytes(&c.get_encoding()).unwrap(), c);
        let ske = EcdheServerKeyExchange {
            params: EcdheParams {
                named_curve: SECP256R1,
                public: vec![4; 65],
            },
            signed: DigitallySigned {
                scheme: ECDSA_SHA256,
                signature: vec![0x30; 70],
            },
        };
        let enc = ske.get_encoding();
        assert_eq!(&enc[..5], &[3, 0, 23, 65, 4]);
        assert_eq!(EcdheServerKeyExchange::read_bytes(&enc).unwrap(), ske);
        let cr = CertificateRequest {
            certificate_types: vec![ECDSA_SIGN],
            signature_algorithms: vec![ECDSA_SHA256],
            authorities: vec![vec![0x30, 0]],
        };
        assert_eq!(
            CertificateRequest::read_bytes(&cr.get_encoding()).unwrap(),
            cr
        );
        let hv = HelloVerifyRequest {
            server_version: ProtocolVersion::DTLS1_0,
            cookie: vec![5; 32],
        };
        assert_eq!(
            HelloVerifyRequest::read_bytes(&hv.get_encoding()).unwrap(),
            hv
        );
    }

    #[test]
    fn hello_without_extensions_block() {
        let mut ch = hello();
        ch.extensions.clear();
        let enc = ch.get_encoding();
        assert_eq!(ClientHello::read_bytes(&enc).unwrap(), ch);
    }

    #[test]
    fn chain_length_is_bounded() {
        let c = CertificateMsg {
            chain: vec![vec![1]; MAX_CHAIN_CERTS + 1],
        };
        assert_eq!(
            CertificateMsg::read_bytes(&c.get_encoding()),
            Err(InvalidMessage::ChainTooLong)
        );
    }

    #[test]
    fn fragment_must_lie_inside_message() {
        let h = HandshakeHeader {
            msg_type: HandshakeType::Finished,
            length: 12,
            message_seq: 0,
            fragment_offset: 10,
            fragment_length: 4,
        };
        let mut b = h.get_encoding();
        b.extend_from_slice(&[0; 4]);
        assert_eq!(
            HandshakeFragment::read(&mut Reader::new(&b)),
            Err(InvalidMessage::BadFragment)
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(d in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = ClientHello::read_bytes(&d);
            let _ = ServerHello::read_bytes(&d);
            let _ = CertificateMsg::read_bytes(&d);
            let _ = EcdheServerKeyExchange::read_bytes(&d);
            let _ = CertificateRequest::read_bytes(&d);
            let _ = HelloVerifyRequest::read_bytes(&d);
            let _ = PskServerKeyExchange::read_bytes(&d);
            let _ = ClientKeyExchange::read_ecdhe(&d);
            let _ = ClientKeyExchange::read_psk(&d);
            let _ = HandshakeFragment::read(&mut Reader::new(&d));
            let _ = read_u16_list(&d);
            let _ = read_certificate_types(&d);
            let _ = RawPublicKeyMsg::read_bytes(&d);
        }
    }
}
