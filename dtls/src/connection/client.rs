//! The client's side of the handshake: ClientHello (again with a cookie), the server's
//! flight checked, flight 5, and the server's Finished.

use std::time::Instant;

use super::{ct_eq, Connection, Event, Expect, Phase};
use crate::cert::PeerRole;
use crate::codec::Codec;
use crate::config::CipherSuite;
use crate::crypto::ecc::{verify, EcdheKey};
use crate::crypto::prf::{self, psk_premaster};
use crate::error::{Error, PeerMisbehaved};
use crate::handshake::flight::FlightItem;
use crate::handshake::fragment::{transcript_encoding, Message};
use crate::handshake::msgs::*;
use crate::provider::random32;
use crate::record::ProtocolVersion;

/// HelloVerifyRequests we follow before giving up (a loop guard).
const MAX_VERIFY_REQUESTS: u8 = 4;

impl Connection {
    pub(super) fn client_start(&mut self, now: Instant) -> Result<(), Error> {
        let cfg = self.client_config.clone().ok_or(Error::Internal("client without config"))?;
        self.hs.client_random = random32(&*cfg.rng)?;
        let offers_ecdhe = cfg.cipher_suites.contains(&CipherSuite::EcdheEcdsaAes128Ccm8);
        let mut extensions = Vec::new();
        if offers_ecdhe {
            extensions.push(u16_list_extension(ext::SUPPORTED_GROUPS, &[SECP256R1]));
            extensions.push(point_formats_extension());
            extensions.push(u16_list_extension(ext::SIGNATURE_ALGORITHMS, &[ECDSA_SHA256]));
        }
        if cfg.offer_extended_master_secret {
            extensions.push(empty_extension(ext::EXTENDED_MASTER_SECRET));
        }
        extensions.push(initial_renegotiation_info());
        extensions.extend(cfg.extra_client_hello_extensions.iter().cloned());
        let ch = ClientHello {
            client_version: ProtocolVersion::DTLS1_2,
            random: self.hs.client_random,
            session_id: Vec::new(),
            cookie: Vec::new(),
            cipher_suites: cfg.cipher_suites.iter().map(|s| s.id()).collect(),
            compression_methods: vec![0],
            extensions,
        };
        if let Some(psk) = &cfg.psk {
            self.psk_identity = Some(psk.identity.clone());
        }
        self.send_client_hello(now, ch)
    }

    fn send_client_hello(&mut self, now: Instant, ch: ClientHello) -> Result<(), Error> {
        let seq = self.next_send_seq;
        self.flight.clear();
        // Added to the transcript only once we know it is the hello the server answers.
        self.queue_handshake(0, HandshakeType::ClientHello, ch.get_encoding(), false);
        self.hs.client_hello = Some((ch, seq));
        self.send_flight(now)
    }

    pub(super) fn client_message(&mut self, now: Instant, msg: Message) -> Result<(), Error> {
        match (self.expect, msg.msg_type) {
            (Expect::ServerHelloOrVerify, HandshakeType::HelloVerifyRequest) => self.client_hello_verify(now, &msg),
            (Expect::ServerHelloOrVerify, HandshakeType::ServerHello) => self.client_server_hello(&msg),
            (Expect::ServerCertificate, HandshakeType::Certificate) => self.client_server_certificate(&msg),
            (Expect::ServerKeyExchange, HandshakeType::ServerKeyExchange) => self.client_server_key_exchange(&msg),
            (Expect::CertificateRequestOrDone, HandshakeType::CertificateRequest) => {
                let cr = CertificateRequest::read_bytes(&msg.body)?;
                if !cr.signature_algorithms.contains(&ECDSA_SHA256) || !cr.certificate_types.contains(&ECDSA_SIGN) {
                    tracing::debug!(remote = %self.remote, "server asks for a certificate type we lack; sending none");
                }
                self.hs.cert_requested = true;
                self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
                self.expect = Expect::ServerHelloDone;
                Ok(())
            }
            (Expect::PskKeyExchangeOrDone, HandshakeType::ServerKeyExchange) => {
                // The identity hint is informational only.
                PskServerKeyExchange::read_bytes(&msg.body)?;
                self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
                self.expect = Expect::ServerHelloDone;
                Ok(())
            }
            (Expect::CertificateRequestOrDone | Expect::PskKeyExchangeOrDone | Expect::ServerHelloDone, HandshakeType::ServerHelloDone) => {
                self.client_server_hello_done(now, &msg)
            }
            (Expect::Finished, HandshakeType::Finished) => self.client_finished(&msg),
            _ => Err(PeerMisbehaved::UnexpectedMessage.into()),
        }
    }

    fn client_hello_verify(&mut self, now: Instant, msg: &Message) -> Result<(), Error> {
        let hvr = HelloVerifyRequest::read_bytes(&msg.body)?;
        self.hs.verify_requests += 1;
        if self.hs.verify_requests > MAX_VERIFY_REQUESTS {
            return Err(PeerMisbehaved::UnexpectedMessage.into());
        }
        let (mut ch, _) = self.hs.client_hello.take().ok_or(Error::Internal("no hello"))?;
        ch.cookie = hvr.cookie;
        self.send_client_hello(now, ch)
    }

    fn client_server_hello(&mut self, msg: &Message) -> Result<(), Error> {
        let cfg = self.client_config.clone().ok_or(Error::Internal("client without config"))?;
        let sh = ServerHello::read_bytes(&msg.body)?;
        if sh.server_version != ProtocolVersion::DTLS1_2 {
            return Err(PeerMisbehaved::UnsupportedVersion.into());
        }
        let suite = CipherSuite::from_id(sh.cipher_suite)
            .filter(|s| cfg.cipher_suites.contains(s))
            .ok_or(PeerMisbehaved::UnofferedParameter)?;
        if sh.compression_method != 0 {
            return Err(PeerMisbehaved::UnofferedParameter.into());
        }
        for e in &sh.extensions {
            match e.typ {
                ext::RENEGOTIATION_INFO if e.data != [0] => return Err(PeerMisbehaved::BadRenegotiationInfo.into()),
                ext::EXTENDED_MASTER_SECRET if !cfg.offer_extended_master_secret => {
                    return Err(PeerMisbehaved::UnofferedParameter.into());
                }
                ext::RENEGOTIATION_INFO | ext::EXTENDED_MASTER_SECRET | ext::EC_POINT_FORMATS => {}
                // The application's own extensions may be answered; anything else was not offered.
                t if cfg.extra_client_hello_extensions.iter().any(|o| o.typ == t) => {}
                _ => return Err(PeerMisbehaved::UnofferedParameter.into()),
            }
        }
        if !cfg.extra_client_hello_extensions.is_empty() {
            let answered = sh
                .extensions
                .iter()
                .filter(|e| cfg.extra_client_hello_extensions.iter().any(|o| o.typ == e.typ))
                .cloned()
                .collect();
            self.events.push_back(Event::ServerHelloExtensions(answered));
        }
        self.peer_hello_extensions = sh.extensions.clone();
        self.hs.extended_master_secret = find_extension(&sh.extensions, ext::EXTENDED_MASTER_SECRET).is_some();
        self.hs.suite = Some(suite);
        self.hs.server_random = sh.random;
        let (ch, ch_seq) = self.hs.client_hello.take().ok_or(Error::Internal("no hello"))?;
        self.transcript_add_raw(&transcript_encoding(HandshakeType::ClientHello, ch_seq, &ch.get_encoding()));
        self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
        self.expect = match suite {
            CipherSuite::EcdheEcdsaAes128Ccm8 => Expect::ServerCertificate,
            CipherSuite::PskAes128Ccm8 => Expect::PskKeyExchangeOrDone,
        };
        Ok(())
    }

    fn client_server_certificate(&mut self, msg: &Message) -> Result<(), Error> {
        let cfg = self.client_config.clone().ok_or(Error::Internal("client without config"))?;
        let cert = CertificateMsg::read_bytes(&msg.body)?;
        let verifier = cfg.server_verifier.as_ref().ok_or(Error::Internal("no server verifier"))?;
        let key = verifier.verify(&cert.chain, PeerRole::Server)?;
        self.hs.peer_key = Some(key);
        self.peer_chain = cert.chain;
        self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
        self.expect = Expect::ServerKeyExchange;
        Ok(())
    }

    fn client_server_key_exchange(&mut self, msg: &Message) -> Result<(), Error> {
        let ske = EcdheServerKeyExchange::read_bytes(&msg.body)?;
        if ske.params.named_curve != SECP256R1 || ske.signed.scheme != ECDSA_SHA256 {
            return Err(PeerMisbehaved::UnofferedParameter.into());
        }
        let signed = [&self.hs.client_random[..], &self.hs.server_random[..], &ske.params.get_encoding()].concat();
        let key = self.hs.peer_key.as_ref().ok_or(Error::Internal("no server key"))?;
        verify(key, &signed, &ske.signed.signature)?;
        self.hs.peer_point = Some(ske.params.public);
        self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
        self.expect = Expect::CertificateRequestOrDone;
        Ok(())
    }

    fn client_server_hello_done(&mut self, now: Instant, msg: &Message) -> Result<(), Error> {
        let cfg = self.client_config.clone().ok_or(Error::Internal("client without config"))?;
        if !msg.body.is_empty() {
            return Err(crate::error::InvalidMessage::TrailingData.into());
        }
        self.transcript_add(msg.msg_type, msg.message_seq, &msg.body);
        self.flight.clear();
        let mut sent_certificate = None;
        if self.hs.cert_requested {
            let chain = cfg.certificate.as_ref().map(|c| c.chain.clone()).unwrap_or_default();
            if !chain.is_empty() {
                sent_certificate = cfg.certificate.clone();
            }
            self.queue_handshake(0, HandshakeType::Certificate, CertificateMsg { chain }.get_encoding(), true);
        }
        let (cke, premaster) = match self.hs.suite {
            Some(CipherSuite::EcdheEcdsaAes128Ccm8) => {
                let key = EcdheKey::generate()?;
                let point = self.hs.peer_point.take().ok_or(Error::Internal("no server point"))?;
                let public = key.public().to_vec();
                (ClientKeyExchange::Ecdhe(public), key.agree(&point)?)
            }
            Some(CipherSuite::PskAes128Ccm8) => {
                let psk = cfg.psk.as_ref().ok_or(Error::Internal("no PSK"))?;
                (ClientKeyExchange::Psk(psk.identity.clone()), psk_premaster(&psk.key))
            }
            None => return Err(Error::Internal("no suite")),
        };
        let mut body = Vec::new();
        cke.encode(&mut body);
        self.queue_handshake(0, HandshakeType::ClientKeyExchange, body, true);
        self.derive_keys(&premaster);
        drop(premaster);
        if let Some(ck) = sent_certificate {
            let signature = ck.key.sign(&self.hs.transcript_bytes)?;
            let cv = DigitallySigned { scheme: ECDSA_SHA256, signature };
            self.queue_handshake(0, HandshakeType::CertificateVerify, cv.get_encoding(), true);
        }
        self.flight.push(FlightItem::ChangeCipherSpec { epoch: 0 });
        self.layer.start_write_epoch()?;
        let vd = self.finished_data(prf::CLIENT_FINISHED)?;
        let epoch = self.layer.write_epoch();
        self.queue_handshake(epoch, HandshakeType::Finished, vd.to_vec(), true);
        self.expect = Expect::ChangeCipherSpec;
        self.send_flight(now)
    }

    fn client_finished(&mut self, msg: &Message) -> Result<(), Error> {
        let expected = self.finished_data(prf::SERVER_FINISHED)?;
        if !ct_eq(&expected, &msg.body) {
            return Err(PeerMisbehaved::BadFinished.into());
        }
        self.timer.stop();
        self.flight.clear();
        self.hs.master = None;
        self.hs.transcript_bytes = Vec::new();
        self.expect = Expect::Nothing;
        self.phase = Phase::Established;
        self.events.push_back(Event::HandshakeComplete);
        Ok(())
    }
}
