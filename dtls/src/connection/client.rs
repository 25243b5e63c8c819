//! The client's side of the handshake: ClientHello (again with a cookie), the server's
//! flight checked, flight 5, and the server's Finished.
//!
//! States: `ExpectServerHello` (a HelloVerifyRequest keeps it there with the cookie),
//! then for ECDHE-ECDSA `ExpectServerCertificate` -> `ExpectServerKx` ->
//! `ExpectCertificateRequest`, for PSK `ExpectPskKx`; both may go through
//! `ExpectServerHelloDone`; then `ExpectCcs` -> `ExpectFinished` -> `Established`.
//! From our flight 5 on, the states hold the `KeyedHandshake`.

use std::sync::Arc;
use std::time::Instant;

use super::{
    Common, Event, HandshakeData, KeyedHandshake, ResumptionSecret, SignaturePurpose,
    SignatureRequest, State, Transcript, ct_eq,
};
use crate::cert::{CertificateKey, CertificateType, PeerAuth, PeerRole, certificate_body};
use crate::codec::Codec;
use crate::config::{CipherSuite, ClientConfig, ClientPsk};
use crate::crypto::ecc::{EcdheKey, der_from_raw_signature, verify};
use crate::crypto::prf::{self, psk_premaster};
use crate::error::{Error, InvalidMessage, PeerMisbehaved};
use crate::handshake::flight::FlightItem;
use crate::handshake::fragment::{Message, transcript_encoding};
use crate::handshake::msgs::*;
use crate::provider::random32;
use crate::record::ProtocolVersion;

/// HelloVerifyRequests we follow before giving up (a loop guard).
const MAX_VERIFY_REQUESTS: u8 = 4;

/// Where the client's handshake is.
pub(crate) enum ClientState {
    ServerHello(ExpectServerHello),
    ServerCertificate(ExpectServerCertificate),
    ServerKx(ExpectServerKx),
    CertificateRequest(ExpectCertificateRequest),
    PskKx(ExpectPskKx),
    ServerHelloDone(ExpectServerHelloDone),
    /// Our certificate's key is external: the CertificateVerify waits for its signature.
    Signature(Box<AwaitSignature>),
    Ccs(ExpectCcs),
    Finished(ExpectFinished),
}

impl ClientState {
    pub(super) fn name(&self) -> &'static str {
        match self {
            ClientState::ServerHello(_) => "ExpectServerHello",
            ClientState::ServerCertificate(_) => "ExpectServerCertificate",
            ClientState::ServerKx(_) => "ExpectServerKx",
            ClientState::CertificateRequest(_) => "ExpectCertificateRequest",
            ClientState::PskKx(_) => "ExpectPskKx",
            ClientState::ServerHelloDone(_) => "ExpectServerHelloDone",
            ClientState::Signature(_) => "AwaitSignature",
            ClientState::Ccs(_) => "ExpectCcs",
            ClientState::Finished(_) => "ExpectFinished",
        }
    }

    pub(super) fn handle(
        self,
        cx: &mut Common,
        now: Instant,
        msg: Message,
    ) -> Result<State, Error> {
        match (self, msg.msg_type) {
            (ClientState::ServerHello(s), HandshakeType::HelloVerifyRequest) => {
                s.handle_verify_request(cx, now, &msg)
            }
            (ClientState::ServerHello(s), HandshakeType::ServerHello) => s.handle(cx, &msg),
            (ClientState::ServerCertificate(s), HandshakeType::Certificate) => s.handle(cx, &msg),
            (ClientState::ServerKx(s), HandshakeType::ServerKeyExchange) => s.handle(&msg),
            (ClientState::CertificateRequest(s), HandshakeType::CertificateRequest) => {
                s.handle(cx, &msg)
            }
            (ClientState::PskKx(s), HandshakeType::ServerKeyExchange) => s.handle(&msg),
            (ClientState::CertificateRequest(s), HandshakeType::ServerHelloDone) => {
                let kx = KeyExchange::Ecdhe {
                    server_point: s.server_point,
                };
                ExpectServerHelloDone {
                    config: s.config,
                    hs: s.hs,
                    kx,
                    certificate_requested: None,
                }
                .handle(cx, now, &msg)
            }
            (ClientState::PskKx(s), HandshakeType::ServerHelloDone) => ExpectServerHelloDone {
                config: s.config,
                hs: s.hs,
                kx: KeyExchange::Psk(s.psk),
                certificate_requested: None,
            }
            .handle(cx, now, &msg),
            (ClientState::ServerHelloDone(s), HandshakeType::ServerHelloDone) => {
                s.handle(cx, now, &msg)
            }
            (ClientState::Finished(s), HandshakeType::Finished) => s.handle(cx, &msg),
            _ => Err(PeerMisbehaved::UnexpectedMessage.into()),
        }
    }
}

/// Sends the first ClientHello; the connection then waits for the server's answer.
pub(super) fn start(
    cx: &mut Common,
    now: Instant,
    config: Arc<ClientConfig>,
) -> Result<ClientState, Error> {
    let client_random = random32(&*config.rng)?;
    cx.client_random = client_random;
    let offers_ecdhe = config.cipher_suites.iter().any(|s| s.is_ecdhe_ecdsa());
    let mut extensions = Vec::new();
    if offers_ecdhe {
        extensions.push(u16_list_extension(ext::SUPPORTED_GROUPS, &[SECP256R1]));
        extensions.push(point_formats_extension());
        extensions.push(u16_list_extension(
            ext::SIGNATURE_ALGORITHMS,
            &[ECDSA_SHA256],
        ));
    }
    if config.offer_extended_master_secret {
        extensions.push(empty_extension(ext::EXTENDED_MASTER_SECRET));
    }
    extensions.push(initial_renegotiation_info());
    if offers_ecdhe {
        if config.certificate.is_some() && config.certificate_types != [CertificateType::X509] {
            let types: Vec<u8> = config.certificate_types.iter().map(|t| t.code()).collect();
            extensions.push(certificate_types_extension(
                ext::CLIENT_CERTIFICATE_TYPE,
                &types,
            ));
        }
        if config.server_raw_public_keys.is_some() {
            let mut types = vec![CertificateType::RawPublicKey.code()];
            if config.server_verifier.is_some() {
                types.push(CertificateType::X509.code());
            }
            extensions.push(certificate_types_extension(
                ext::SERVER_CERTIFICATE_TYPE,
                &types,
            ));
        }
    }
    extensions.extend(config.extra_client_hello_extensions.iter().cloned());
    let hello = ClientHello {
        client_version: ProtocolVersion::DTLS1_2,
        random: client_random,
        session_id: Vec::new(),
        cookie: Vec::new(),
        cipher_suites: config.cipher_suites.iter().map(|s| s.id()).collect(),
        compression_methods: vec![0],
        extensions,
    };
    if let Some(psk) = &config.psk {
        cx.psk_identity = Some(psk.identity.clone());
    }
    ExpectServerHello {
        config,
        hello,
        hello_seq: 0,
        verify_requests: 0,
    }
    .send_hello(cx, now)
}

/// Our hello is out; the server answers with a HelloVerifyRequest or its ServerHello.
pub(crate) struct ExpectServerHello {
    config: Arc<ClientConfig>,
    /// The hello we (re)send, and its message_seq: it enters the transcript only once we
    /// know it is the one the server answers.
    hello: ClientHello,
    hello_seq: u16,
    verify_requests: u8,
}

impl ExpectServerHello {
    fn send_hello(mut self, cx: &mut Common, now: Instant) -> Result<ClientState, Error> {
        cx.flight.clear();
        self.hello_seq = cx.next_message_seq();
        cx.flight.push(FlightItem::Handshake {
            epoch: 0,
            msg_type: HandshakeType::ClientHello,
            message_seq: self.hello_seq,
            body: self.hello.get_encoding(),
        });
        cx.send_flight(now)?;
        Ok(ClientState::ServerHello(self))
    }

    fn handle_verify_request(
        mut self,
        cx: &mut Common,
        now: Instant,
        msg: &Message,
    ) -> Result<State, Error> {
        let hvr = HelloVerifyRequest::read_bytes(&msg.body)?;
        self.verify_requests += 1;
        if self.verify_requests > MAX_VERIFY_REQUESTS {
            return Err(PeerMisbehaved::UnexpectedMessage.into());
        }
        self.hello.cookie = hvr.cookie;
        Ok(State::Client(self.send_hello(cx, now)?))
    }

    fn handle(self, cx: &mut Common, msg: &Message) -> Result<State, Error> {
        let cfg = self.config;
        let sh = ServerHello::read_bytes(&msg.body)?;
        if sh.server_version != ProtocolVersion::DTLS1_2 {
            return Err(PeerMisbehaved::UnsupportedVersion.into());
        }
        let offer = CipherSuite::from_id(sh.cipher_suite)
            .filter(|s| cfg.cipher_suites.contains(s))
            .and_then(|s| Offer::of(&cfg, s))
            .ok_or(PeerMisbehaved::UnofferedParameter)?;
        if sh.compression_method != 0 {
            return Err(PeerMisbehaved::UnofferedParameter.into());
        }
        for e in &sh.extensions {
            match e.typ {
                ext::RENEGOTIATION_INFO if e.data != [0] => {
                    return Err(PeerMisbehaved::BadRenegotiationInfo.into());
                }
                ext::EXTENDED_MASTER_SECRET if !cfg.offer_extended_master_secret => {
                    return Err(PeerMisbehaved::UnofferedParameter.into());
                }
                ext::RENEGOTIATION_INFO | ext::EXTENDED_MASTER_SECRET | ext::EC_POINT_FORMATS => {}
                ext::CLIENT_CERTIFICATE_TYPE | ext::SERVER_CERTIFICATE_TYPE
                    if find_extension(&self.hello.extensions, e.typ).is_some() => {}
                // The application's own extensions may be answered; anything else was not offered.
                t if cfg.extra_client_hello_extensions.iter().any(|o| o.typ == t) => {}
                _ => return Err(PeerMisbehaved::UnofferedParameter.into()),
            }
        }
        if !cfg.extra_client_hello_extensions.is_empty() {
            let answered = sh
                .extensions
                .iter()
                .filter(|e| {
                    cfg.extra_client_hello_extensions
                        .iter()
                        .any(|o| o.typ == e.typ)
                })
                .cloned()
                .collect();
            cx.events.push_back(Event::ServerHelloExtensions(answered));
        }
        // RFC 7250 section 4.2: the server answers with the one type it chose; without an
        // answer it is X.509.
        let chosen = |typ| -> Result<CertificateType, Error> {
            match find_extension(&sh.extensions, typ) {
                None => Ok(CertificateType::X509),
                Some([code]) => CertificateType::from_code(*code)
                    .filter(|t| {
                        find_extension(&self.hello.extensions, typ)
                            .and_then(|d| read_certificate_types(d).ok())
                            .is_some_and(|l| l.contains(&t.code()))
                    })
                    .ok_or_else(|| PeerMisbehaved::UnofferedParameter.into()),
                Some(_) => Err(InvalidMessage::BadLength.into()),
            }
        };
        let server_type = chosen(ext::SERVER_CERTIFICATE_TYPE)?;
        let client_type = chosen(ext::CLIENT_CERTIFICATE_TYPE)?;
        cx.peer_hello_extensions = sh.extensions.clone();
        cx.suite = Some(offer.suite);
        if cfg.keep_resumption_secret {
            cx.session_id = sh.session_id.clone();
        }
        let mut transcript = Transcript::new();
        transcript.add_raw(&transcript_encoding(
            HandshakeType::ClientHello,
            self.hello_seq,
            &self.hello.get_encoding(),
        ));
        transcript.add_message(msg);
        let hs = HandshakeData {
            client_random: self.hello.random,
            server_random: sh.random,
            extended_master_secret: find_extension(&sh.extensions, ext::EXTENDED_MASTER_SECRET)
                .is_some(),
            transcript,
        };
        Ok(State::Client(match offer.kx {
            OfferKx::Ecdhe => {
                let verifier = match server_type {
                    CertificateType::X509 => cfg.server_verifier.clone().map(PeerAuth::Chain),
                    CertificateType::RawPublicKey => {
                        cfg.server_raw_public_keys.clone().map(PeerAuth::RawKey)
                    }
                }
                .ok_or(PeerMisbehaved::UnofferedParameter)?;
                ClientState::ServerCertificate(ExpectServerCertificate {
                    config: cfg,
                    hs,
                    verifier,
                    client_type,
                })
            }
            OfferKx::Psk(psk) => ClientState::PskKx(ExpectPskKx {
                config: cfg,
                hs,
                psk,
            }),
        }))
    }
}

/// A suite we offered, with what it needs from our configuration.
struct Offer {
    suite: CipherSuite,
    kx: OfferKx,
}

enum OfferKx {
    Psk(Arc<ClientPsk>),
    /// The server's chain or raw key is checked by the type the hellos settle.
    Ecdhe,
}

impl Offer {
    /// `None` for a suite the configuration cannot run (`ClientConfig::validate` refuses
    /// such a configuration).
    fn of(cfg: &ClientConfig, suite: CipherSuite) -> Option<Self> {
        let kx = if suite.is_psk() {
            cfg.psk.clone().map(OfferKx::Psk)
        } else {
            (cfg.server_verifier.is_some() || cfg.server_raw_public_keys.is_some())
                .then_some(OfferKx::Ecdhe)
        };
        kx.map(|kx| Offer { suite, kx })
    }
}

/// How our ClientKeyExchange will make the premaster secret.
enum KeyExchange {
    Psk(Arc<ClientPsk>),
    /// The server's signed ephemeral point.
    Ecdhe {
        server_point: Vec<u8>,
    },
}

pub(crate) struct ExpectServerCertificate {
    config: Arc<ClientConfig>,
    hs: HandshakeData,
    verifier: PeerAuth,
    /// What we present if the server asks for a certificate.
    client_type: CertificateType,
}

impl ExpectServerCertificate {
    fn handle(mut self, cx: &mut Common, msg: &Message) -> Result<State, Error> {
        let credential = self
            .verifier
            .verify(
                &msg.body,
                PeerRole::Server,
                self.config.server_name.as_deref(),
            )?
            .ok_or(crate::CertificateError::BadEncoding)?;
        cx.peer_chain = credential.chain;
        cx.peer_raw_key = credential.raw_key;
        self.hs.transcript.add_message(msg);
        let next = ExpectServerKx {
            config: self.config,
            hs: self.hs,
            server_key: credential.key,
            client_type: self.client_type,
        };
        Ok(State::Client(ClientState::ServerKx(next)))
    }
}

/// The server's ephemeral point, signed with its certificate's key.
pub(crate) struct ExpectServerKx {
    config: Arc<ClientConfig>,
    hs: HandshakeData,
    /// SEC1 key of the server's validated leaf certificate or raw key.
    server_key: Vec<u8>,
    client_type: CertificateType,
}

impl ExpectServerKx {
    fn handle(mut self, msg: &Message) -> Result<State, Error> {
        let ske = EcdheServerKeyExchange::read_bytes(&msg.body)?;
        if ske.params.named_curve != SECP256R1 || ske.signed.scheme != ECDSA_SHA256 {
            return Err(PeerMisbehaved::UnofferedParameter.into());
        }
        let signed = [
            &self.hs.client_random[..],
            &self.hs.server_random[..],
            &ske.params.get_encoding(),
        ]
        .concat();
        verify(&self.server_key, &signed, &ske.signed.signature)?;
        self.hs.transcript.add_message(msg);
        let next = ExpectCertificateRequest {
            config: self.config,
            hs: self.hs,
            server_point: ske.params.public,
            client_type: self.client_type,
        };
        Ok(State::Client(ClientState::CertificateRequest(next)))
    }
}

/// ECDHE: a CertificateRequest or the ServerHelloDone.
pub(crate) struct ExpectCertificateRequest {
    config: Arc<ClientConfig>,
    hs: HandshakeData,
    server_point: Vec<u8>,
    client_type: CertificateType,
}

impl ExpectCertificateRequest {
    fn handle(mut self, cx: &mut Common, msg: &Message) -> Result<State, Error> {
        let cr = CertificateRequest::read_bytes(&msg.body)?;
        if !cr.signature_algorithms.contains(&ECDSA_SHA256)
            || !cr.certificate_types.contains(&ECDSA_SIGN)
        {
            tracing::debug!(remote = %cx.remote, "server asks for a certificate type we lack; sending none");
        }
        self.hs.transcript.add_message(msg);
        let kx = KeyExchange::Ecdhe {
            server_point: self.server_point,
        };
        Ok(State::Client(ClientState::ServerHelloDone(
            ExpectServerHelloDone {
                config: self.config,
                hs: self.hs,
                kx,
                certificate_requested: Some(self.client_type),
            },
        )))
    }
}

/// PSK: the server's identity hint or the ServerHelloDone.
pub(crate) struct ExpectPskKx {
    config: Arc<ClientConfig>,
    hs: HandshakeData,
    psk: Arc<ClientPsk>,
}

impl ExpectPskKx {
    fn handle(mut self, msg: &Message) -> Result<State, Error> {
        // The identity hint is informational only.
        PskServerKeyExchange::read_bytes(&msg.body)?;
        self.hs.transcript.add_message(msg);
        let kx = KeyExchange::Psk(self.psk);
        Ok(State::Client(ClientState::ServerHelloDone(
            ExpectServerHelloDone {
                config: self.config,
                hs: self.hs,
                kx,
                certificate_requested: None,
            },
        )))
    }
}

/// The end of the server's flight: ours (flight 5) follows.
pub(crate) struct ExpectServerHelloDone {
    config: Arc<ClientConfig>,
    hs: HandshakeData,
    kx: KeyExchange,
    /// The server asked for a certificate of this type.
    certificate_requested: Option<CertificateType>,
}

impl ExpectServerHelloDone {
    fn handle(self, cx: &mut Common, now: Instant, msg: &Message) -> Result<State, Error> {
        let cfg = self.config;
        if !msg.body.is_empty() {
            return Err(InvalidMessage::TrailingData.into());
        }
        let mut hs = self.hs;
        hs.transcript.add_message(msg);
        cx.flight.clear();
        let mut sent_certificate = None;
        if let Some(typ) = self.certificate_requested {
            let body = match (&cfg.certificate, typ) {
                (Some(ck), CertificateType::RawPublicKey) => {
                    sent_certificate = Some(ck.clone());
                    certificate_body(ck, typ)
                }
                (Some(ck), CertificateType::X509) if ck.has_chain() => {
                    sent_certificate = Some(ck.clone());
                    certificate_body(ck, typ)
                }
                // Nothing to present: an empty chain, and the server decides.
                _ => CertificateMsg { chain: Vec::new() }.get_encoding(),
            };
            cx.queue_handshake(&mut hs.transcript, 0, HandshakeType::Certificate, body);
        }
        let (cke, premaster) = match self.kx {
            KeyExchange::Ecdhe { server_point } => {
                let key = EcdheKey::generate()?;
                let public = key.public().to_vec();
                (ClientKeyExchange::Ecdhe(public), key.agree(&server_point)?)
            }
            KeyExchange::Psk(psk) => (
                ClientKeyExchange::Psk(psk.identity.clone()),
                psk_premaster(&psk.key),
            ),
        };
        let mut body = Vec::new();
        cke.encode(&mut body);
        cx.queue_handshake(
            &mut hs.transcript,
            0,
            HandshakeType::ClientKeyExchange,
            body,
        );
        let mut keyed = hs.derive_keys(
            &mut cx.layer,
            cx.suite
                .ok_or(Error::Internal("no suite before the key exchange"))?,
            &premaster,
        );
        drop(premaster);
        if let Some(ck) = sent_certificate {
            let signature = match &ck.key {
                CertificateKey::Local(signing) => signing.sign(keyed.hs.transcript.bytes())?,
                CertificateKey::External { public_key } => {
                    let digest = keyed.hs.transcript.hash();
                    cx.events
                        .push_back(Event::SignatureNeeded(SignatureRequest {
                            purpose: SignaturePurpose::CertificateVerify,
                            digest,
                        }));
                    return Ok(State::Client(ClientState::Signature(Box::new(
                        AwaitSignature {
                            keyed,
                            public_key: public_key.clone(),
                        },
                    ))));
                }
            };
            let cv = DigitallySigned {
                scheme: ECDSA_SHA256,
                signature,
            };
            cx.queue_handshake(
                &mut keyed.hs.transcript,
                0,
                HandshakeType::CertificateVerify,
                cv.get_encoding(),
            );
        }
        send_flight_5(cx, now, keyed)
    }
}

/// Our certificate's key is external: the Certificate and ClientKeyExchange are queued, the
/// CertificateVerify waits for the signature of the handshake messages so far.
pub(crate) struct AwaitSignature {
    keyed: KeyedHandshake,
    /// Our certificate's key, which the signature must verify under.
    public_key: Vec<u8>,
}

impl AwaitSignature {
    pub(super) fn resume(
        mut self,
        cx: &mut Common,
        now: Instant,
        signature: &[u8; 64],
    ) -> Result<State, Error> {
        let der = der_from_raw_signature(signature)?;
        verify(&self.public_key, self.keyed.hs.transcript.bytes(), &der).map_err(|_| {
            Error::Internal("external signature does not verify under our certificate's key")
        })?;
        let cv = DigitallySigned {
            scheme: ECDSA_SHA256,
            signature: der,
        };
        cx.queue_handshake(
            &mut self.keyed.hs.transcript,
            0,
            HandshakeType::CertificateVerify,
            cv.get_encoding(),
        );
        send_flight_5(cx, now, self.keyed)
    }
}

/// The end of flight 5 (ChangeCipherSpec, Finished) after the Certificate, ClientKeyExchange
/// and CertificateVerify; sends it.
fn send_flight_5(cx: &mut Common, now: Instant, mut keyed: KeyedHandshake) -> Result<State, Error> {
    cx.flight.push(FlightItem::ChangeCipherSpec { epoch: 0 });
    cx.layer.start_write_epoch()?;
    let verify_data = keyed.finished_data(prf::CLIENT_FINISHED);
    let epoch = cx.layer.write_epoch();
    cx.queue_handshake(
        &mut keyed.hs.transcript,
        epoch,
        HandshakeType::Finished,
        verify_data.to_vec(),
    );
    cx.send_flight(now)?;
    Ok(State::Client(ClientState::Ccs(ExpectCcs { keyed })))
}

/// The server's ChangeCipherSpec (a record, handed over by the record dispatch).
pub(crate) struct ExpectCcs {
    keyed: KeyedHandshake,
}

impl ExpectCcs {
    pub(super) fn handle(self, cx: &mut Common) -> Result<State, Error> {
        cx.layer.start_read_epoch()?;
        Ok(State::Client(ClientState::Finished(ExpectFinished {
            keyed: self.keyed,
        })))
    }
}

/// The server's Finished, under the keys its ChangeCipherSpec started.
pub(crate) struct ExpectFinished {
    keyed: KeyedHandshake,
}

impl ExpectFinished {
    fn handle(self, cx: &mut Common, msg: &Message) -> Result<State, Error> {
        let expected = self.keyed.finished_data(prf::SERVER_FINISHED);
        if !ct_eq(&expected, &msg.body) {
            return Err(PeerMisbehaved::BadFinished.into());
        }
        if !cx.session_id.is_empty() {
            cx.resumption = Some(ResumptionSecret {
                session_id: cx.session_id.clone(),
                master_secret: self.keyed.master.clone(),
                extended_master_secret: self.keyed.hs.extended_master_secret,
            });
        }
        // Dropping the state wipes the master secret (but for `resumption`) and the transcript.
        cx.timer.stop();
        cx.flight.clear();
        cx.events.push_back(Event::HandshakeComplete);
        Ok(State::Established(None))
    }
}
