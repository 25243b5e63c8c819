//! The ECC cost of a real mote, emulated.
//!
//! The DTLS engine does the P-256 arithmetic on the host in microseconds; a CC2538 needs
//! 0.34 s to sign and 0.70 s to verify with its PKA engine, 9.1 s and 20.5 s in software
//! (seed 004, Table 9). ECDH (key generation, agreement: one scalar multiplication each) is
//! costed like a verification. The mote's answer that follows an operation is held until
//! the emulated CPU is done ([`super::Outbox`]).
//!
//! Which operations happened is read from the handshake itself, once per handshake: our
//! ServerKeyExchange (ephemeral key generation and its signature), the client's
//! ClientKeyExchange (agreement), CertificateVerify (verification) and its validated chain
//! (one verification per certificate). Retransmissions cost nothing: a mote keeps its
//! flight buffered.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use dtls::codec::Reader;
use dtls::handshake::msgs::{HandshakeFragment, HandshakeType};
use dtls::record::{ContentType, records};

use super::SecurityCounters;

/// How long a mote takes for one ECC operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EccProfile {
    /// CC2538 with its public-key accelerator.
    #[default]
    Cc2538Hw,
    /// CC2538, software only.
    Cc2538Sw,
    /// No emulated cost (what the host takes).
    None,
}

impl EccProfile {
    pub fn sign(self) -> Duration {
        match self {
            EccProfile::Cc2538Hw => Duration::from_millis(340),
            EccProfile::Cc2538Sw => Duration::from_millis(9_100),
            EccProfile::None => Duration::ZERO,
        }
    }

    pub fn verify(self) -> Duration {
        match self {
            EccProfile::Cc2538Hw => Duration::from_millis(700),
            EccProfile::Cc2538Sw => Duration::from_millis(20_500),
            EccProfile::None => Duration::ZERO,
        }
    }

    /// One scalar multiplication, like a verification.
    pub fn ecdh(self) -> Duration {
        self.verify()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EccProfile::Cc2538Hw => "cc2538-hw",
            EccProfile::Cc2538Sw => "cc2538-sw",
            EccProfile::None => "none",
        }
    }
}

impl std::str::FromStr for EccProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cc2538-hw" => Ok(EccProfile::Cc2538Hw),
            "cc2538-sw" => Ok(EccProfile::Cc2538Sw),
            "none" => Ok(EccProfile::None),
            _ => Err(format!(
                "{s:?} is not an ECC profile (cc2538-hw, cc2538-sw, none)"
            )),
        }
    }
}

/// Operations of one handshake already costed.
#[derive(Debug, Default, Clone, Copy)]
struct Costed {
    client_random: [u8; 32],
    server_key_exchange: bool,
    client_key_exchange: bool,
    certificate_verify: bool,
    chain: bool,
}

/// Per-handshake accounting of ECC operations.
#[derive(Debug)]
pub struct EccMeter {
    profile: EccProfile,
    handshakes: HashMap<SocketAddr, Costed>,
}

/// Handshake message types whose first fragment appears in a datagram's plaintext
/// (epoch-0) records.
pub(crate) fn plaintext_handshake_types(datagram: &[u8]) -> Vec<HandshakeType> {
    let mut found = Vec::new();
    for rec in records(datagram) {
        let Ok(rec) = rec else { break };
        if rec.epoch() != 0 || rec.content_type() != ContentType::Handshake {
            continue;
        }
        let mut r = Reader::new(rec.fragment());
        while r.any_left() {
            let Ok(frag) = HandshakeFragment::read(&mut r) else {
                break;
            };
            if frag.header.fragment_offset == 0 && found.len() < 16 {
                found.push(frag.header.msg_type);
            }
        }
    }
    found
}

impl EccMeter {
    pub fn new(profile: EccProfile) -> Self {
        EccMeter {
            profile,
            handshakes: HashMap::new(),
        }
    }

    fn entry(&mut self, peer: SocketAddr, client_random: [u8; 32]) -> &mut Costed {
        let e = self.handshakes.entry(peer).or_default();
        if e.client_random != client_random {
            // A new handshake from this peer (it restarted): cost it afresh.
            *e = Costed {
                client_random,
                ..Costed::default()
            };
        }
        e
    }

    /// The cost of handling `input` from `peer` and producing `output`, counted once per
    /// handshake. `chain_len`: certificates of the peer's chain validated so far.
    pub fn cost(
        &mut self,
        peer: SocketAddr,
        client_random: [u8; 32],
        input: &[u8],
        output: &[Vec<u8>],
        chain_len: usize,
        counters: &mut SecurityCounters,
    ) -> Duration {
        let profile = self.profile;
        let incoming = plaintext_handshake_types(input);
        let outgoing: Vec<HandshakeType> = output
            .iter()
            .flat_map(|d| plaintext_handshake_types(d))
            .collect();
        let e = self.entry(peer, client_random);
        let (mut sign, mut verify, mut ecdh) = (0u64, 0u64, 0u64);
        if !e.chain && chain_len > 0 {
            e.chain = true;
            verify += chain_len as u64;
            counters.certificates_seen += 1;
        }
        if !e.client_key_exchange && incoming.contains(&HandshakeType::ClientKeyExchange) {
            e.client_key_exchange = true;
            ecdh += 1;
        }
        if !e.certificate_verify && incoming.contains(&HandshakeType::CertificateVerify) {
            e.certificate_verify = true;
            verify += 1;
        }
        if !e.server_key_exchange && outgoing.contains(&HandshakeType::ServerKeyExchange) {
            e.server_key_exchange = true;
            // The ephemeral key pair, then its signature.
            ecdh += 1;
            sign += 1;
        }
        counters.ecc_sign += sign;
        counters.ecc_verify += verify;
        counters.ecc_ecdh += ecdh;
        counters.ecc_operations += sign + verify + ecdh;
        let cost = profile.sign() * sign as u32
            + profile.verify() * verify as u32
            + profile.ecdh() * ecdh as u32;
        counters.ecc_busy_ms += cost.as_millis() as u64;
        cost
    }

    /// Forget handshakes whose peers are gone (`alive` says which are not).
    pub fn retain(&mut self, mut alive: impl FnMut(&SocketAddr) -> bool) {
        self.handshakes.retain(|a, _| alive(a));
    }
}
