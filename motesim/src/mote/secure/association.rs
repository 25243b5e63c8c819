//! The delegated mote's standing association with its IoTSSP (docs/mote-association.md):
//! the `delegated-mote` library's whole mote (its `mote_assoc::MoteAssoc` machine on the
//! transfer port, the IoTSSP's address, the session slots behind it), which
//! [`super::sessions::SessionTable`] runs. A delegation costs the mote one Transfer in and
//! one Confirm out.
//!
//! The mote associates at boot (the first time it may send) when it knows its IoTSSP's
//! address and port from its configuration; otherwise it learns them from the first
//! authenticated message of its IoTSSP (a Poke, which the IoTSSP sends when it needs a
//! transfer and has no association). From then on only datagrams from that address and port
//! reach the machine; everything else on the transfer port is dropped unread.

use delegated_mote::SuiteSet;
use mote_assoc::MoteEvent;
use mote_assoc::crypto::{SoftAes, SoftEcdh};
use mote_assoc::keys::Credentials;
use mote_assoc::wire::Suite;

use super::delegated::DelegatedConfig;
use super::sessions::{MoteCore, SessionTimes, config};

/// The mote's randomness for its ephemeral keys: the device's seeded stream (the emulation
/// replays from a seed; a real mote uses its hardware RNG).
pub struct AssocRandom(pub std::sync::Arc<dyn dtls::provider::SecureRandom>);

impl mote_assoc::crypto::Random for AssocRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        // A seeded stream never fails; the OS source does not either.
        let _ = self.0.fill(buf);
    }
}

/// The association's name of a DTLS suite (`None` for the PSK suite, never transferred).
fn suite_of(s: dtls::CipherSuite) -> Option<Suite> {
    Some(match s {
        dtls::CipherSuite::EcdheEcdsaAes128Ccm8 => Suite::Ccm8,
        dtls::CipherSuite::EcdheEcdsaAes128Ccm => Suite::Ccm,
        dtls::CipherSuite::EcdheEcdsaAes128Gcm => Suite::Gcm,
        dtls::CipherSuite::EcdheEcdsaChacha20Poly1305 => Suite::ChaCha20Poly1305,
        dtls::CipherSuite::PskAes128Ccm8 => return None,
    })
}

/// What a datagram did, for the device's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssocOutcome {
    Nothing,
    Associated,
    Transfer {
        installed: bool,
    },
    /// The IoTSSP could not open the outbound session asked for: why.
    ConnectFailed(String),
    /// Keyless delegation: the IoTSSP asks for a signature with the mote's key.
    SignRequested,
}

/// The mote's own key as its platform's signer (keyless delegation): ECDSA P-256 over the
/// digest the IoTSSP sent. Without a key the mote refuses.
pub struct MoteSigner(pub Option<p256::ecdsa::SigningKey>);

impl delegated_mote::EcdsaP256Sign for MoteSigner {
    fn sign_digest(
        &mut self,
        _purpose: delegated_mote::SignPurpose,
        digest: &[u8; 32],
    ) -> Result<[u8; 64], delegated_mote::SignStatus> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let key = self.0.as_ref().ok_or(delegated_mote::SignStatus::Refused)?;
        let sig: p256::ecdsa::Signature = key
            .sign_prehash(digest)
            .map_err(|_| delegated_mote::SignStatus::Failed)?;
        Ok(sig.to_bytes().into())
    }
}

/// A PEM private key (PKCS#8 or SEC1) as the mote's signer.
pub fn signing_key_from_pem(pem: &str) -> Result<p256::ecdsa::SigningKey, String> {
    use p256::pkcs8::DecodePrivateKey;
    p256::SecretKey::from_pkcs8_pem(pem)
        .or_else(|_| p256::SecretKey::from_sec1_pem(pem))
        .map(p256::ecdsa::SigningKey::from)
        .map_err(|_| "not a P-256 private key (PKCS#8 or SEC1 PEM)".to_string())
}

impl From<Option<MoteEvent>> for AssocOutcome {
    fn from(event: Option<MoteEvent>) -> Self {
        match event {
            Some(MoteEvent::Associated { .. }) => AssocOutcome::Associated,
            Some(MoteEvent::Transfer { status, .. }) => AssocOutcome::Transfer {
                installed: status == mote_assoc::wire::ConfirmStatus::Installed,
            },
            Some(MoteEvent::ConnectFailed { reason, .. }) => {
                AssocOutcome::ConnectFailed(format!("{reason:?}"))
            }
            Some(MoteEvent::SignRequested(_)) => AssocOutcome::SignRequested,
            None => AssocOutcome::Nothing,
        }
    }
}

/// The library's mote as `cfg` provisions it (its IoTSSP's PSK of 16..=32 bytes, the
/// IoTSSP's address if configured, the suites, slots and session times) with `eui64`.
pub fn delegated_mote(cfg: &DelegatedConfig, eui64: [u8; 8], rng: AssocRandom) -> Option<MoteCore> {
    let creds = Credentials::new::<SoftAes>(&cfg.iotssp.key, eui64).ok()?;
    let suites = cfg
        .suites
        .iter()
        .filter_map(|s| suite_of(*s))
        .fold(SuiteSet(0), SuiteSet::with);
    let times = SessionTimes {
        idle: cfg.session_idle,
        evict_after: cfg.session_evict_after,
    };
    Some(MoteCore::new(
        config(cfg.iotssp_address, suites, cfg.slots, times),
        creds,
        SoftEcdh,
        rng,
    ))
}
