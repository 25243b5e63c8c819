//! Handshake message type numbers (RFC 5246 7.4, RFC 6347 4.3.2). The message codecs are the
//! DTLS engine's; routers read only this first byte of a plaintext handshake fragment.

macro_rules! handshake_types {
    ($($name:ident = $v:literal,)*) => {
        /// Handshake message type; unknown values are kept.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HandshakeType { $($name,)* Unknown(u8) }
        impl From<u8> for HandshakeType {
            fn from(v: u8) -> Self { match v { $($v => HandshakeType::$name,)* x => HandshakeType::Unknown(x) } }
        }
        impl From<HandshakeType> for u8 {
            fn from(v: HandshakeType) -> u8 { match v { $(HandshakeType::$name => $v,)* HandshakeType::Unknown(x) => x } }
        }
    };
}

handshake_types! {
    HelloRequest = 0,
    ClientHello = 1,
    ServerHello = 2,
    HelloVerifyRequest = 3,
    Certificate = 11,
    ServerKeyExchange = 12,
    CertificateRequest = 13,
    ServerHelloDone = 14,
    CertificateVerify = 15,
    ClientKeyExchange = 16,
    Finished = 20,
}
