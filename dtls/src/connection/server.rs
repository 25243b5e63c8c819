//! The server's side of the handshake: ClientHello in, flight 4 out, the client's flight 5
//! checked, then the final flight (or a pause for a session transfer).
//!
//! States: `ExpectClientHello` -> `ExpectCertificate` (ECDHE with client
//! authentication) -> `ExpectClientKx` -> `ExpectCertificateVerify` (when the client
//! sent a certificate) -> `ExpectCcs` -> `ExpectFinished` -> `Paused` (the session
//! transfer hook) or `Established`. From the ClientKeyExchange on, the states hold the
//! `KeyedHandshake`; the ChangeCipherSpec is a record, which the record dispatch in
//! `mod.rs` hands to `ExpectCcs::handle`.

use std::sync::Arc;
use std::time::Instant;

use super::{
    Common, Event, HandshakeData, KeyedHandshake, ResumptionSecret, SealedFlight, SignaturePurpose,
    SignatureRequest, State, Transcript, ct_eq,
};
use crate::cert::{
    CertificateKey, CertificateType, CertifiedKey, PeerAuth, PeerRole, certificate_body,
};
use crate::codec::Codec;
use crate::config::{
    CipherSuite, ClientHelloInfo, ENGINE_EXTENSIONS, PskResolver, SESSION_ID_LEN, ServerConfig,
};
use crate::crypto::ecc::{EcdheKey, der_from_raw_signature, sha256, verify};
use crate::crypto::prf::{self, psk_premaster};
use crate::error::{Error, InvalidMessage, PeerMisbehaved};
use crate::handshake::flight::{FlightItem, pack_flight};
use crate::handshake::fragment::Message;
use crate::handshake::msgs::*;
use crate::provider::random32;
use crate::record::ProtocolVersion;

/// Where the server's handshake is.
pub(crate) enum ServerState {
    ClientHello(ExpectClientHello),
    /// Our certificate's key is external: the ServerKeyExchange waits for its signature.
    Signature(Box<AwaitSignature>),
    Certificate(ExpectCertificate),
    ClientKx(ExpectClientKx),
    CertificateVerify(ExpectCertificateVerify),
    Ccs(ExpectCcs),
    Finished(ExpectFinished),
}

impl ServerState {
    pub(super) fn start(config: Arc<ServerConfig>) -> Self {
        ServerState::ClientHello(ExpectClientHello { config })
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            ServerState::ClientHello(_) => "ExpectClientHello",
            ServerState::Signature(_) => "AwaitSignature",
            ServerState::Certificate(_) => "ExpectCertificate",
            ServerState::ClientKx(_) => "ExpectClientKx",
            ServerState::CertificateVerify(_) => "ExpectCertificateVerify",
            ServerState::Ccs(_) => "ExpectCcs",
            ServerState::Finished(_) => "ExpectFinished",
        }
    }

    pub(super) fn handle(
        self,
        cx: &mut Common,
        now: Instant,
        msg: Message,
    ) -> Result<State, Error> {
        match (self, msg.msg_type) {
            (ServerState::ClientHello(s), HandshakeType::ClientHello) => s.handle(cx, now, &msg),
            (ServerState::Certificate(s), HandshakeType::Certificate) => s.handle(cx, &msg),
            (ServerState::ClientKx(s), HandshakeType::ClientKeyExchange) => s.handle(cx, &msg),
            (ServerState::CertificateVerify(s), HandshakeType::CertificateVerify) => s.handle(&msg),
            (ServerState::Finished(s), HandshakeType::Finished) => s.handle(cx, &msg),
            _ => Err(PeerMisbehaved::UnexpectedMessage.into()),
        }
    }
}

/// How the server will learn the premaster secret, chosen with the suite.
enum KeyExchange {
    Psk(Arc<dyn PskResolver>),
    /// Our ephemeral key, and the client's certificate key if it authenticated.
    Ecdhe {
        key: EcdheKey,
        client_key: Option<Vec<u8>>,
    },
}

/// What the suite chosen for a ClientHello needs from our configuration.
enum Choice {
    Psk(Arc<dyn PskResolver>),
    Ecdhe(Arc<CertifiedKey>),
}

pub(crate) struct ExpectClientHello {
    config: Arc<ServerConfig>,
}

impl ExpectClientHello {
    fn handle(self, cx: &mut Common, now: Instant, msg: &Message) -> Result<State, Error> {
        let cfg = self.config;
        let ch = ClientHello::read_bytes(&msg.body)?;
        // DTLS versions count down: 0xfefd (1.2) < 0xfeff (1.0).
        if ch.client_version.0 > ProtocolVersion::DTLS1_2.0 || !ch.client_version.is_dtls() {
            return Err(PeerMisbehaved::UnsupportedVersion.into());
        }
        if !ch.compression_methods.contains(&0) {
            return Err(PeerMisbehaved::NoNullCompression.into());
        }
        let reneg = find_extension(&ch.extensions, ext::RENEGOTIATION_INFO);
        if reneg.is_some_and(|r| r != [0]) {
            return Err(PeerMisbehaved::BadRenegotiationInfo.into());
        }
        let secure_renegotiation = reneg.is_some()
            || ch
                .cipher_suites
                .contains(&TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
        let extended_master_secret =
            find_extension(&ch.extensions, ext::EXTENDED_MASTER_SECRET).is_some();
        // Malformed lists in these extensions are treated as absent: be liberal in what we accept.
        let groups = find_extension(&ch.extensions, ext::SUPPORTED_GROUPS)
            .and_then(|d| read_u16_list(d).ok());
        let sig_algs = find_extension(&ch.extensions, ext::SIGNATURE_ALGORITHMS)
            .and_then(|d| read_u16_list(d).ok());
        let point_formats = find_extension(&ch.extensions, ext::EC_POINT_FORMATS);
        let ecdhe_possible = groups.as_ref().is_none_or(|g| g.contains(&SECP256R1))
            && sig_algs.as_ref().is_none_or(|s| s.contains(&ECDSA_SHA256))
            && point_formats.is_none_or(|p| p.get(1..).is_some_and(|f| f.contains(&0)));
        // Our order of preference, not the client's.
        let offered = |s: &&CipherSuite| ch.cipher_suites.contains(&s.id());
        let choice = cfg.cipher_suites.iter().filter(offered).find_map(|&s| {
            let needs = if s.is_psk() {
                cfg.psk.clone().map(Choice::Psk)
            } else {
                cfg.certificate
                    .clone()
                    .filter(|_| ecdhe_possible)
                    .map(Choice::Ecdhe)
            };
            needs.map(|c| (s, c))
        });
        let Some((suite, choice)) = choice else {
            let common_ecdhe = cfg.certificate.is_some()
                && cfg
                    .cipher_suites
                    .iter()
                    .filter(offered)
                    .any(|s| s.is_ecdhe_ecdsa());
            let offered_ids: Vec<String> = ch
                .cipher_suites
                .iter()
                .map(|id| format!("0x{id:04X}"))
                .collect();
            let ours: Vec<&str> = cfg.cipher_suites.iter().map(|s| s.name()).collect();
            if common_ecdhe {
                tracing::info!(remote = %cx.remote, "handshake refused: no common curve (secp256r1) or signature algorithm (ecdsa_secp256r1_sha256)");
                return Err(PeerMisbehaved::NoCommonCurveOrSignature.into());
            }
            tracing::info!(
                remote = %cx.remote,
                offered = %offered_ids.join(","),
                supported = %ours.join(","),
                "handshake refused: the client offers none of our cipher suites"
            );
            return Err(PeerMisbehaved::NoCommonCipherSuite.into());
        };
        // The application's hook: it sees every extension (unknown ones included) and may
        // answer the ones it understands, or refuse.
        let mut answered: Vec<Extension> = Vec::new();
        if let Some(handler) = &cfg.hello_extensions {
            let info = ClientHelloInfo {
                remote: cx.remote,
                cipher_suite: suite,
                extensions: &ch.extensions,
            };
            let mut proposed = handler
                .client_hello(&info)
                .map_err(Error::HandshakeRefused)?;
            proposed.retain(|e| {
                let allowed = !ENGINE_EXTENSIONS.contains(&e.typ) && ch.extensions.iter().any(|o| o.typ == e.typ);
                if !allowed {
                    tracing::debug!(remote = %cx.remote, typ = e.typ, "hello handler answered an extension not offered; dropped");
                }
                allowed
            });
            for e in proposed {
                if !answered.iter().any(|a| a.typ == e.typ) {
                    answered.push(e);
                }
            }
        }
        let certificate_types = match &choice {
            Choice::Ecdhe(ck) => Some(
                negotiate_certificate_types(&cfg, ck, &ch.extensions).inspect_err(|_| {
                    let list = |typ| {
                        find_extension(&ch.extensions, typ)
                            .map_or("none (x509)".to_string(), |d| format!("{d:02x?}"))
                    };
                    tracing::info!(
                        remote = %cx.remote,
                        client_offers_server_types = %list(ext::SERVER_CERTIFICATE_TYPE),
                        client_offers_client_types = %list(ext::CLIENT_CERTIFICATE_TYPE),
                        "handshake refused: no certificate type in common (RFC 7250)"
                    );
                })?,
            ),
            Choice::Psk(_) => None,
        };
        cx.suite = Some(suite);
        cx.client_random = ch.random;
        let server_random = random32(&*cfg.rng)?;
        let mut transcript = Transcript::new();
        transcript.add_message(msg);

        let mut extensions = Vec::new();
        if secure_renegotiation {
            extensions.push(initial_renegotiation_info());
        }
        if extended_master_secret {
            extensions.push(empty_extension(ext::EXTENDED_MASTER_SECRET));
        }
        if suite.is_ecdhe_ecdsa() && point_formats.is_some() {
            extensions.push(point_formats_extension());
        }
        if let Some(types) = &certificate_types {
            extensions.extend(types.answers.iter().cloned());
        }
        extensions.extend(answered.iter().cloned());
        cx.answered_extensions = answered;
        cx.peer_hello_extensions = ch.extensions.clone();
        // Without `issue_session_ids` an empty session id says the session cannot be resumed.
        cx.session_id = if cfg.issue_session_ids {
            random32(&*cfg.rng)?[..SESSION_ID_LEN].to_vec()
        } else {
            Vec::new()
        };
        let sh = ServerHello {
            server_version: ProtocolVersion::DTLS1_2,
            random: server_random,
            session_id: cx.session_id.clone(),
            cipher_suite: suite.id(),
            compression_method: 0,
            extensions,
        };
        cx.flight.clear();
        cx.queue_handshake(
            &mut transcript,
            0,
            HandshakeType::ServerHello,
            sh.get_encoding(),
        );

        match choice {
            Choice::Ecdhe(ck) => {
                let types =
                    certificate_types.ok_or(Error::Internal("ECDHE without certificate types"))?;
                cx.queue_handshake(
                    &mut transcript,
                    0,
                    HandshakeType::Certificate,
                    certificate_body(&ck, types.server),
                );
                let key = EcdheKey::generate()?;
                let params = EcdheParams {
                    named_curve: SECP256R1,
                    public: key.public().to_vec(),
                };
                let signed = [&ch.random[..], &server_random[..], &params.get_encoding()].concat();
                let hs = HandshakeData {
                    client_random: ch.random,
                    server_random,
                    extended_master_secret,
                    transcript,
                };
                let kx = PendingKeyExchange {
                    config: cfg,
                    hs,
                    key,
                    params,
                    client_auth: types.client,
                };
                match &ck.key {
                    CertificateKey::Local(signing) => {
                        let signature = signing.sign(&signed)?;
                        kx.send_flight(cx, now, signature)
                    }
                    CertificateKey::External { public_key } => {
                        let digest = sha256(&[&signed]);
                        cx.events
                            .push_back(Event::SignatureNeeded(SignatureRequest {
                                purpose: SignaturePurpose::ServerKeyExchange,
                                digest,
                            }));
                        Ok(State::Server(ServerState::Signature(Box::new(
                            AwaitSignature {
                                kx,
                                signed,
                                public_key: public_key.clone(),
                            },
                        ))))
                    }
                }
            }
            Choice::Psk(resolver) => {
                if let Some(hint) = &cfg.psk_identity_hint {
                    let ske = PskServerKeyExchange {
                        identity_hint: hint.clone(),
                    };
                    cx.queue_handshake(
                        &mut transcript,
                        0,
                        HandshakeType::ServerKeyExchange,
                        ske.get_encoding(),
                    );
                }
                cx.queue_handshake(
                    &mut transcript,
                    0,
                    HandshakeType::ServerHelloDone,
                    Vec::new(),
                );
                let hs = HandshakeData {
                    client_random: ch.random,
                    server_random,
                    extended_master_secret,
                    transcript,
                };
                let next = ServerState::ClientKx(ExpectClientKx {
                    config: cfg,
                    hs,
                    kx: KeyExchange::Psk(resolver),
                });
                cx.send_flight(now)?;
                Ok(State::Server(next))
            }
        }
    }
}

/// ECDHE: the rest of our flight once the ServerKeyExchange's signature is known.
pub(crate) struct PendingKeyExchange {
    config: Arc<ServerConfig>,
    hs: HandshakeData,
    key: EcdheKey,
    params: EcdheParams,
    client_auth: Option<PeerAuth>,
}

impl PendingKeyExchange {
    /// Queues the ServerKeyExchange (with `signature`, DER), the CertificateRequest when the
    /// client authenticates, the ServerHelloDone, and sends the flight.
    fn send_flight(
        self,
        cx: &mut Common,
        now: Instant,
        signature: Vec<u8>,
    ) -> Result<State, Error> {
        let PendingKeyExchange {
            config,
            mut hs,
            key,
            params,
            client_auth,
        } = self;
        let ske = EcdheServerKeyExchange {
            params,
            signed: DigitallySigned {
                scheme: ECDSA_SHA256,
                signature,
            },
        };
        cx.queue_handshake(
            &mut hs.transcript,
            0,
            HandshakeType::ServerKeyExchange,
            ske.get_encoding(),
        );
        if client_auth.is_some() {
            let cr = CertificateRequest {
                certificate_types: vec![ECDSA_SIGN],
                signature_algorithms: vec![ECDSA_SHA256],
                authorities: Vec::new(),
            };
            cx.queue_handshake(
                &mut hs.transcript,
                0,
                HandshakeType::CertificateRequest,
                cr.get_encoding(),
            );
        }
        cx.queue_handshake(
            &mut hs.transcript,
            0,
            HandshakeType::ServerHelloDone,
            Vec::new(),
        );
        let next = match client_auth {
            Some(verifier) => ServerState::Certificate(ExpectCertificate {
                config,
                hs,
                key,
                verifier,
            }),
            None => ServerState::ClientKx(ExpectClientKx {
                config,
                hs,
                kx: KeyExchange::Ecdhe {
                    key,
                    client_key: None,
                },
            }),
        };
        cx.send_flight(now)?;
        Ok(State::Server(next))
    }
}

/// Our certificate's key is external: the ServerHello and Certificate are queued, the
/// ServerKeyExchange waits for the signature of `signed`.
pub(crate) struct AwaitSignature {
    kx: PendingKeyExchange,
    signed: Vec<u8>,
    /// Our certificate's key, which the signature must verify under.
    public_key: Vec<u8>,
}

impl AwaitSignature {
    pub(super) fn resume(
        self,
        cx: &mut Common,
        now: Instant,
        signature: &[u8; 64],
    ) -> Result<State, Error> {
        let der = der_from_raw_signature(signature)?;
        verify(&self.public_key, &self.signed, &der).map_err(|_| {
            Error::Internal("external signature does not verify under our certificate's key")
        })?;
        self.kx.send_flight(cx, now, der)
    }
}

/// What the certificate type extensions of a ClientHello settled (ECDHE suites).
struct CertificateTypes {
    /// What we present.
    server: CertificateType,
    /// How the client authenticates, when we ask it to.
    client: Option<PeerAuth>,
    /// The ServerHello's answers to the client's certificate type extensions.
    answers: Vec<Extension>,
}

/// RFC 7250 section 4.2: our certificate type is the first of ours that the client's
/// server_certificate_type lists (X.509 without that extension); the client's is the first
/// of its client_certificate_type list that we accept (X.509 without it). A malformed list
/// is treated as absent.
fn negotiate_certificate_types(
    cfg: &ServerConfig,
    ck: &CertifiedKey,
    exts: &[Extension],
) -> Result<CertificateTypes, Error> {
    let offered = |typ| find_extension(exts, typ).and_then(|d| read_certificate_types(d).ok());
    let mut answers = Vec::new();
    let can_present = |t: &CertificateType| *t != CertificateType::X509 || ck.has_chain();
    let server = match offered(ext::SERVER_CERTIFICATE_TYPE) {
        None => Some(CertificateType::X509)
            .filter(|t| cfg.certificate_types.contains(t) && can_present(t)),
        Some(list) => {
            let t = cfg
                .certificate_types
                .iter()
                .copied()
                .filter(can_present)
                .find(|t| list.contains(&t.code()));
            if let Some(t) = t {
                answers.push(Extension {
                    typ: ext::SERVER_CERTIFICATE_TYPE,
                    data: vec![t.code()],
                });
            }
            t
        }
    }
    .ok_or(PeerMisbehaved::NoCommonCertificateType)?;
    let accepts = |t: CertificateType| match t {
        CertificateType::X509 => cfg.client_auth.clone().map(PeerAuth::Chain),
        CertificateType::RawPublicKey => cfg.client_raw_public_keys.clone().map(PeerAuth::RawKey),
    };
    let client = if cfg.client_auth.is_none() && cfg.client_raw_public_keys.is_none() {
        None
    } else {
        let (typ, auth) = match offered(ext::CLIENT_CERTIFICATE_TYPE) {
            None => (CertificateType::X509, accepts(CertificateType::X509)),
            Some(list) => list
                .iter()
                .filter_map(|c| CertificateType::from_code(*c))
                .find_map(|t| accepts(t).map(|a| (t, a)))
                .map_or((CertificateType::X509, None), |(t, a)| (t, Some(a))),
        };
        let auth = auth.ok_or(PeerMisbehaved::NoCommonCertificateType)?;
        if find_extension(exts, ext::CLIENT_CERTIFICATE_TYPE).is_some() {
            answers.push(Extension {
                typ: ext::CLIENT_CERTIFICATE_TYPE,
                data: vec![typ.code()],
            });
        }
        Some(auth)
    };
    Ok(CertificateTypes {
        server,
        client,
        answers,
    })
}

/// ECDHE with client authentication: the client's chain or raw key, checked by `auth`.
pub(crate) struct ExpectCertificate {
    config: Arc<ServerConfig>,
    hs: HandshakeData,
    key: EcdheKey,
    verifier: PeerAuth,
}

impl ExpectCertificate {
    fn handle(mut self, cx: &mut Common, msg: &Message) -> Result<State, Error> {
        let credential = self.verifier.verify(&msg.body, PeerRole::Client, None).inspect_err(|e| {
            tracing::debug!(remote = %cx.remote, reason = e.as_str(), "client certificate refused");
        })?;
        let credential = credential.ok_or(PeerMisbehaved::MissingCertificate)?;
        let client_key = credential.key;
        cx.peer_chain = credential.chain;
        cx.peer_raw_key = credential.raw_key;
        self.hs.transcript.add_message(msg);
        let kx = KeyExchange::Ecdhe {
            key: self.key,
            client_key: Some(client_key),
        };
        Ok(State::Server(ServerState::ClientKx(ExpectClientKx {
            config: self.config,
            hs: self.hs,
            kx,
        })))
    }
}

pub(crate) struct ExpectClientKx {
    config: Arc<ServerConfig>,
    hs: HandshakeData,
    kx: KeyExchange,
}

impl ExpectClientKx {
    fn handle(self, cx: &mut Common, msg: &Message) -> Result<State, Error> {
        let (premaster, client_key) = match self.kx {
            KeyExchange::Psk(resolver) => {
                let ClientKeyExchange::Psk(identity) = ClientKeyExchange::read_psk(&msg.body)?
                else {
                    return Err(InvalidMessage::BadLength.into());
                };
                let psk = resolver
                    .psk(&identity)
                    .ok_or(PeerMisbehaved::UnknownPskIdentity)?;
                if let Some(handler) = &self.config.hello_extensions {
                    handler
                        .psk_identity(cx.remote, &identity, &cx.answered_extensions)
                        .map_err(Error::HandshakeRefused)?;
                }
                cx.psk_identity = Some(identity);
                (psk_premaster(&psk), None)
            }
            KeyExchange::Ecdhe { key, client_key } => {
                let ClientKeyExchange::Ecdhe(point) = ClientKeyExchange::read_ecdhe(&msg.body)?
                else {
                    return Err(InvalidMessage::BadLength.into());
                };
                (key.agree(&point)?, client_key)
            }
        };
        let mut hs = self.hs;
        hs.transcript.add_message(msg);
        let keyed = hs.derive_keys(
            &mut cx.layer,
            cx.suite
                .ok_or(Error::Internal("no suite before the key exchange"))?,
            &premaster,
        );
        let pause = self.config.pause_after_client_finished;
        Ok(State::Server(match client_key {
            Some(client_key) => ServerState::CertificateVerify(ExpectCertificateVerify {
                keyed,
                client_key,
                pause,
            }),
            None => ServerState::Ccs(ExpectCcs { keyed, pause }),
        }))
    }
}

/// The client proves it holds the key of the certificate it sent.
pub(crate) struct ExpectCertificateVerify {
    keyed: KeyedHandshake,
    client_key: Vec<u8>,
    pause: bool,
}

impl ExpectCertificateVerify {
    fn handle(mut self, msg: &Message) -> Result<State, Error> {
        let signed = DigitallySigned::read_bytes(&msg.body)?;
        if signed.scheme != ECDSA_SHA256 {
            return Err(PeerMisbehaved::UnofferedParameter.into());
        }
        verify(
            &self.client_key,
            self.keyed.hs.transcript.bytes(),
            &signed.signature,
        )?;
        self.keyed.hs.transcript.add_message(msg);
        Ok(State::Server(ServerState::Ccs(ExpectCcs {
            keyed: self.keyed,
            pause: self.pause,
        })))
    }
}

/// The client's ChangeCipherSpec (a record, handed over by the record dispatch).
pub(crate) struct ExpectCcs {
    keyed: KeyedHandshake,
    pause: bool,
}

impl ExpectCcs {
    pub(super) fn handle(self, cx: &mut Common) -> Result<State, Error> {
        cx.layer.start_read_epoch()?;
        Ok(State::Server(ServerState::Finished(ExpectFinished {
            keyed: self.keyed,
            pause: self.pause,
        })))
    }
}

/// The client's Finished, under the keys its ChangeCipherSpec started.
pub(crate) struct ExpectFinished {
    keyed: KeyedHandshake,
    /// `ServerConfig::pause_after_client_finished`.
    pause: bool,
}

impl ExpectFinished {
    fn handle(mut self, cx: &mut Common, msg: &Message) -> Result<State, Error> {
        let expected = self.keyed.finished_data(prf::CLIENT_FINISHED);
        if !ct_eq(&expected, &msg.body) {
            return Err(PeerMisbehaved::BadFinished.into());
        }
        self.keyed.hs.transcript.add_message(msg);
        let ours = self.keyed.finished_data(prf::SERVER_FINISHED);
        if !cx.session_id.is_empty() {
            cx.resumption = Some(ResumptionSecret {
                session_id: cx.session_id.clone(),
                master_secret: self.keyed.master.clone(),
                extended_master_secret: self.keyed.hs.extended_master_secret,
            });
        }
        // The transcript is not needed any more, nor the master secret but in `resumption`.
        drop(self.keyed);
        let seq = cx.next_message_seq();
        cx.layer.start_write_epoch()?;
        let items = [
            FlightItem::ChangeCipherSpec { epoch: 0 },
            FlightItem::Handshake {
                epoch: cx.layer.write_epoch(),
                msg_type: HandshakeType::Finished,
                message_seq: seq,
                body: ours.to_vec(),
            },
        ];
        // Sealed once: a retransmission resends these bytes, never new sequence numbers.
        let sealed = SealedFlight(pack_flight(&items, &mut cx.layer, cx.transport.mtu)?);
        cx.flight.clear();
        cx.timer.stop();
        if self.pause {
            cx.events.push_back(Event::ClientFinishedVerified);
            Ok(State::Paused(sealed))
        } else {
            sealed.queue(&mut cx.transmits);
            cx.events.push_back(Event::HandshakeComplete);
            Ok(State::Established(Some(sealed)))
        }
    }
}
