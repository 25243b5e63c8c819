//! The server's side of the handshake: ClientHello in, flight 4 out, the client's flight 5
//! checked, then the final flight (or a pause for a session transfer).

use std::time::Instant;

use super::{ct_eq, Connection, Event, Expect, Phase};
use crate::cert::PeerRole;
use crate::codec::Codec;
use crate::config::{CipherSuite, ClientHelloInfo, ENGINE_EXTENSIONS};
use crate::crypto::ecc::{verify, EcdheKey};
use crate::crypto::prf::{self, psk_premaster};
use crate::error::{Error, InvalidMessage, PeerMisbehaved};
use crate::handshake::flight::{pack_flight, FlightItem};
use crate::handshake::fragment::Message;
use crate::handshake::msgs::*;
use crate::provider::random32;
use crate::record::ProtocolVersion;

impl Connection {
    pub(super) fn server_message(&mut self, now: Instant, msg: Message) -> Result<(), Error> {
        match (self.expect, msg.msg_type) {
            (Expect::ClientHello, HandshakeType::ClientHello) => self.server_client_hello(now, &msg),
            (Expect::ClientCertificate, HandshakeType::Certificate) => self.server_client_certificate(&msg),
            (Expect::ClientKeyExchange, HandshakeType::ClientKeyExchange) => self.server_client_key_exchange(&msg),
            (Expect::CertificateVerify, HandshakeType::CertificateVerify) => self.server_certificate_verify(&msg),
            (Expect::Finished, HandshakeType::Finished) => self.server_finished(&msg),
            _ => Err(PeerMisbehaved::UnexpectedMessage.into()),
        }
    }

    fn server_client_hello(&mut self, now: Instant, msg: &Message) -> Result<(), Error> {
        let cfg = self.server_config.clone().ok_or(Error::Internal("server without config"))?;
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
        let secure_renegotiation = reneg.is_some() || ch.cipher_suites.contains(&TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
        self.hs.extended_master_secret = find_extension(&ch.extensions, ext::EXTENDED_MASTER_SECRET).is_some();
        // Malformed lists in these extensions are treated as absent: be liberal in what we accept.
        let groups = find_extension(&ch.extensions, ext::SUPPORTED_GROUPS).and_then(|d| read_u16_list(d).ok());
        let sig_algs = find_extension(&ch.extensions, ext::SIGNATURE_ALGORITHMS).and_then(|d| read_u16_list(d).ok());
        let point_formats = find_extension(&ch.extensions, ext::EC_POINT_FORMATS);
        let ecdhe_possible = cfg.certificate.is_some()
            && groups.as_ref().is_none_or(|g| g.contains(&SECP256R1))
            && sig_algs.as_ref().is_none_or(|s| s.contains(&ECDSA_SHA256))
            && point_formats.is_none_or(|p| p.get(1..).is_some_and(|f| f.contains(&0)));
        let suite = cfg.cipher_suites.iter().copied().find(|s| {
            ch.cipher_suites.contains(&s.id())
                && match s {
                    CipherSuite::PskAes128Ccm8 => cfg.psk.is_some(),
                    CipherSuite::EcdheEcdsaAes128Ccm8 => ecdhe_possible,
                }
        });
        let Some(suite) = suite else {
            return Err(if ch.cipher_suites.contains(&TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8) && cfg.certificate.is_some() {
                PeerMisbehaved::NoCommonCurveOrSignature
            } else {
                PeerMisbehaved::NoCommonCipherSuite
            }
            .into());
        };
        // The application's hook: it sees every extension (unknown ones included) and may
        // answer the ones it understands, or refuse.
        let mut answered: Vec<Extension> = Vec::new();
        if let Some(handler) = &cfg.hello_extensions {
            let info = ClientHelloInfo { remote: self.remote, cipher_suite: suite, extensions: &ch.extensions };
            let mut proposed = handler.client_hello(&info).map_err(Error::HandshakeRefused)?;
            proposed.retain(|e| {
                let allowed = !ENGINE_EXTENSIONS.contains(&e.typ) && ch.extensions.iter().any(|o| o.typ == e.typ);
                if !allowed {
                    tracing::debug!(remote = %self.remote, typ = e.typ, "hello handler answered an extension not offered; dropped");
                }
                allowed
            });
            for e in proposed {
                if !answered.iter().any(|a| a.typ == e.typ) {
                    answered.push(e);
                }
            }
        }
        self.hs.suite = Some(suite);
        self.hs.client_random = ch.random;
        self.hs.server_random = random32(&*cfg.rng)?;
        self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);

        let mut extensions = Vec::new();
        if secure_renegotiation {
            extensions.push(initial_renegotiation_info());
        }
        if self.hs.extended_master_secret {
            extensions.push(empty_extension(ext::EXTENDED_MASTER_SECRET));
        }
        if suite == CipherSuite::EcdheEcdsaAes128Ccm8 && point_formats.is_some() {
            extensions.push(point_formats_extension());
        }
        extensions.extend(answered.iter().cloned());
        self.answered_extensions = answered;
        self.peer_hello_extensions = ch.extensions.clone();
        let sh = ServerHello {
            server_version: ProtocolVersion::DTLS1_2,
            random: self.hs.server_random,
            // No session resumption: an empty session id says so.
            session_id: Vec::new(),
            cipher_suite: suite.id(),
            compression_method: 0,
            extensions,
        };
        self.flight.clear();
        self.queue_handshake(0, HandshakeType::ServerHello, sh.get_encoding(), true);

        match suite {
            CipherSuite::EcdheEcdsaAes128Ccm8 => {
                let ck = cfg.certificate.clone().ok_or(Error::Internal("no certificate"))?;
                self.queue_handshake(0, HandshakeType::Certificate, CertificateMsg { chain: ck.chain.clone() }.get_encoding(), true);
                let key = EcdheKey::generate()?;
                let params = EcdheParams { named_curve: SECP256R1, public: key.public().to_vec() };
                let params_enc = params.get_encoding();
                let signed = [&self.hs.client_random[..], &self.hs.server_random[..], &params_enc].concat();
                let signature = ck.key.sign(&signed)?;
                self.hs.ecdhe = Some(key);
                let ske = EcdheServerKeyExchange { params, signed: DigitallySigned { scheme: ECDSA_SHA256, signature } };
                self.queue_handshake(0, HandshakeType::ServerKeyExchange, ske.get_encoding(), true);
                if cfg.client_auth.is_some() {
                    let cr = CertificateRequest {
                        certificate_types: vec![ECDSA_SIGN],
                        signature_algorithms: vec![ECDSA_SHA256],
                        authorities: Vec::new(),
                    };
                    self.queue_handshake(0, HandshakeType::CertificateRequest, cr.get_encoding(), true);
                    self.hs.cert_requested = true;
                }
            }
            CipherSuite::PskAes128Ccm8 => {
                if let Some(hint) = &cfg.psk_identity_hint {
                    let ske = PskServerKeyExchange { identity_hint: hint.clone() };
                    self.queue_handshake(0, HandshakeType::ServerKeyExchange, ske.get_encoding(), true);
                }
            }
        }
        self.queue_handshake(0, HandshakeType::ServerHelloDone, Vec::new(), true);
        self.expect = if self.hs.cert_requested { Expect::ClientCertificate } else { Expect::ClientKeyExchange };
        self.send_flight(now)
    }

    fn server_client_certificate(&mut self, msg: &Message) -> Result<(), Error> {
        let cfg = self.server_config.clone().ok_or(Error::Internal("server without config"))?;
        let cert = CertificateMsg::read_bytes(&msg.body)?;
        if cert.chain.is_empty() {
            return Err(PeerMisbehaved::MissingCertificate.into());
        }
        let verifier = cfg.client_auth.as_ref().ok_or(Error::Internal("certificate without verifier"))?;
        let key = verifier.verify(&cert.chain, PeerRole::Client).inspect_err(|e| {
            tracing::debug!(remote = %self.remote, reason = e.as_str(), "client certificate refused");
        })?;
        self.hs.peer_key = Some(key);
        self.peer_chain = cert.chain;
        self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
        self.expect = Expect::ClientKeyExchange;
        Ok(())
    }

    fn server_client_key_exchange(&mut self, msg: &Message) -> Result<(), Error> {
        let cfg = self.server_config.clone().ok_or(Error::Internal("server without config"))?;
        let premaster = match self.hs.suite {
            Some(CipherSuite::PskAes128Ccm8) => {
                let ClientKeyExchange::Psk(identity) = ClientKeyExchange::read_psk(&msg.body)? else {
                    return Err(InvalidMessage::BadLength.into());
                };
                let resolver = cfg.psk.as_ref().ok_or(Error::Internal("no PSK resolver"))?;
                let psk = resolver.psk(&identity).ok_or(PeerMisbehaved::UnknownPskIdentity)?;
                if let Some(handler) = &cfg.hello_extensions {
                    handler.psk_identity(self.remote, &identity, &self.answered_extensions).map_err(Error::HandshakeRefused)?;
                }
                self.psk_identity = Some(identity);
                psk_premaster(&psk)
            }
            Some(CipherSuite::EcdheEcdsaAes128Ccm8) => {
                let ClientKeyExchange::Ecdhe(point) = ClientKeyExchange::read_ecdhe(&msg.body)? else {
                    return Err(InvalidMessage::BadLength.into());
                };
                let key = self.hs.ecdhe.take().ok_or(Error::Internal("no ECDHE key"))?;
                key.agree(&point)?
            }
            None => return Err(Error::Internal("no suite")),
        };
        self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
        self.derive_keys(&premaster);
        self.expect = if self.hs.peer_key.is_some() { Expect::CertificateVerify } else { Expect::ChangeCipherSpec };
        Ok(())
    }

    fn server_certificate_verify(&mut self, msg: &Message) -> Result<(), Error> {
        let signed = DigitallySigned::read_bytes(&msg.body)?;
        if signed.scheme != ECDSA_SHA256 {
            return Err(PeerMisbehaved::UnofferedParameter.into());
        }
        let key = self.hs.peer_key.as_ref().ok_or(Error::Internal("no peer key"))?;
        verify(key, &self.hs.transcript_bytes, &signed.signature)?;
        self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
        self.expect = Expect::ChangeCipherSpec;
        Ok(())
    }

    fn server_finished(&mut self, msg: &Message) -> Result<(), Error> {
        let expected = self.finished_data(prf::CLIENT_FINISHED)?;
        if !ct_eq(&expected, &msg.body) {
            return Err(PeerMisbehaved::BadFinished.into());
        }
        self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
        let ours = self.finished_data(prf::SERVER_FINISHED)?;
        let seq = self.next_send_seq;
        self.next_send_seq = seq.wrapping_add(1);
        self.layer.start_write_epoch()?;
        let items = [
            FlightItem::ChangeCipherSpec { epoch: 0 },
            FlightItem::Handshake { epoch: self.layer.write_epoch(), msg_type: HandshakeType::Finished, message_seq: seq, body: ours.to_vec() },
        ];
        // Sealed once: a retransmission resends these bytes, never new sequence numbers.
        self.final_flight = Some(pack_flight(&items, &mut self.layer, self.transport.mtu)?);
        self.flight.clear();
        self.timer.stop();
        self.expect = Expect::Nothing;
        // The master secret and transcript are not needed any more (no resumption).
        self.hs.master = None;
        self.hs.transcript_bytes = Vec::new();
        let pause = self.server_config.as_ref().is_some_and(|c| c.pause_after_client_finished);
        if pause {
            self.phase = Phase::Paused;
            self.events.push_back(Event::ClientFinishedVerified);
        } else {
            self.phase = Phase::Established;
            self.queue_final_flight();
            self.events.push_back(Event::HandshakeComplete);
        }
        Ok(())
    }
}
