//! Typed configuration of an IoTSSP (TOML), with defaults and validation that names the bad
//! key. [`SspConfig::build`] reads the PEM files and returns a ready [`Iotssp`].
//!
//! ```toml
//! name = "ssp-a"
//!
//! [redirect]
//! listen = "[::]:7700"                      # redirect channel to border routers
//! [[redirect.border_routers]]
//! name = "br-1"
//! address = "[2001:db8::1]:7700"
//! key_id = 1
//! key = "000102...1f"                       # 16..64 bytes, hex
//!
//! [mote_link]
//! bind = "[::]:0"                           # the socket towards motes' transfer ports
//!
//! [[motes]]
//! name = "mote-1"
//! address = "2001:db8:1::2"
//! dtls_port = 5684                          # default
//! transfer_port = 5685                      # default
//! certificate_chain = "mote-1.pem"          # relative to this file
//! private_key = "mote-1.key"
//! psk_identity = "mote-1"
//! psk = "00112233445566778899aabbccddeeff"  # hex (16..32 bytes for the association)
//! leg = "association"                       # default; or "psk-handshake" (the paper's flow)
//! # What the mote's record layer continues, in the order the IoTSSP prefers them (cheapest
//! # for the mote first); default: all four ECDHE_ECDSA suites in this order.
//! cipher_suites = ["TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
//!                  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"]
//!
//! [trust]
//! anchors = "ca.pem"
//!
//! [authorization]
//! default = "deny"                          # or "allow"
//! [[authorization.rules]]
//! client = "cn:client.example"              # cn:, dns:, uri:, spki-sha256:<hex>, *
//! motes = ["mote-1"]                        # names, addresses, or "*"
//!
//! [limits]
//! max_per_mote = 2
//! max_delegations = 256
//!
//! [control]                                 # the `iotssp` service only
//! socket = "/run/iotssp/control.sock"       # `iotssp status` asks here (0600); "" = none
//!
//! [status]                                  # the `iotssp` service only; off by default
//! listen = "127.0.0.1:9701"                 # HTTP: / status page, /status.json, /metrics
//!
//! [timers]
//! mote_timeout_ms = 15000
//! confirm_timeout_ms = 10000
//! handshake_timeout_ms = 60000
//! final_flight_hold_ms = 4000
//! mote_retransmit_ms = 2000                 # initial retransmission timer towards motes
//! internet_retransmit_ms = 1000
//! mtu = 1200
//! ```

use std::collections::HashSet;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dtls::cert::{CertifiedKey, ChainVerifier};
use dtls::handshake::flight::RetransmitConfig;
use dtls::provider::{OsRandom, SecureRandom};
use dtls::transfer::SttOfferRepr;
use dtls::{CipherSuite, ClientConfig, ServerConfig, TransportConfig};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::am::{Am, ClientSelector, MoteSelector, Policy, Rule, Verdict, decode_hex};
use crate::cam::Cam;
use crate::hem::{HemTimers, LegMode, MoteProfile};
use crate::iotssp::{Iotssp, Limits};

/// A refused configuration: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

fn err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), reason: reason.into() }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SspConfig {
    pub name: String,
    /// Remote mode only (lowpan-br's attached mode ignores it); defaults to `[::]:7700`.
    #[serde(default)]
    pub redirect: RedirectSection,
    #[serde(default)]
    pub mote_link: MoteLinkSection,
    #[serde(default)]
    pub motes: Vec<MoteSection>,
    pub trust: TrustSection,
    #[serde(default)]
    pub authorization: AuthorizationSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub timers: TimersSection,
    /// Remote mode only: the control socket of `iotssp status`.
    #[serde(default)]
    pub control: ControlSection,
    /// Remote mode only: the opt-in HTTP status page and metrics.
    #[serde(default)]
    pub status: StatusSection,
}

/// Where `iotssp status` finds the service unless configured.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/iotssp/control.sock";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Created owner-only (0600); empty: none.
    #[serde(default = "default_control_socket")]
    pub socket: PathBuf,
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection { socket: default_control_socket() }
    }
}

fn default_control_socket() -> PathBuf {
    PathBuf::from(DEFAULT_CONTROL_SOCKET)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSection {
    /// HTTP at `host:port`: the status page at `/`, `/status.json`, `/metrics` (off when absent).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectSection {
    pub listen: SocketAddr,
    #[serde(default)]
    pub border_routers: Vec<BorderRouterSection>,
}

impl Default for RedirectSection {
    fn default() -> Self {
        RedirectSection { listen: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 7700)), border_routers: Vec::new() }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BorderRouterSection {
    pub name: String,
    pub address: SocketAddr,
    #[serde(default = "default_key_id")]
    pub key_id: u32,
    /// Hex; never printed.
    pub key: String,
}

impl std::fmt::Debug for BorderRouterSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BorderRouterSection").field("name", &self.name).field("address", &self.address).field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

fn default_key_id() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoteLinkSection {
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
}

impl Default for MoteLinkSection {
    fn default() -> Self {
        MoteLinkSection { bind: default_bind() }
    }
}

fn default_bind() -> SocketAddr {
    SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoteSection {
    pub name: String,
    pub address: Ipv6Addr,
    #[serde(default = "default_dtls_port")]
    pub dtls_port: u16,
    #[serde(default = "default_transfer_port")]
    pub transfer_port: u16,
    pub certificate_chain: PathBuf,
    pub private_key: PathBuf,
    pub psk_identity: String,
    /// Hex; never printed.
    pub psk: String,
    /// The suites the mote's record layer continues, by IANA name, in our order of
    /// preference towards clients.
    #[serde(default = "default_cipher_suites")]
    pub cipher_suites: Vec<String>,
    /// How the session reaches the mote: its standing association (default) or a PSK
    /// handshake per delegation.
    #[serde(default)]
    pub leg: LegMode,
}

fn default_cipher_suites() -> Vec<String> {
    CipherSuite::ECDHE_ECDSA.iter().map(|s| s.name().to_string()).collect()
}

/// `motes[i].cipher_suites`: ECDHE_ECDSA suites by IANA name, no repeats, at least one.
fn parse_cipher_suites(key: &str, names: &[String]) -> Result<Vec<CipherSuite>, ConfigError> {
    let mut suites = Vec::new();
    for n in names {
        let s = CipherSuite::from_name(n.trim())
            .filter(|s| s.is_ecdhe_ecdsa())
            .ok_or_else(|| err(key, format!("{n:?} is not one of {}", default_cipher_suites().join(", "))))?;
        if suites.contains(&s) {
            return Err(err(key, format!("{n:?} given twice")));
        }
        suites.push(s);
    }
    if suites.is_empty() {
        return Err(err(key, "must name at least one suite"));
    }
    Ok(suites)
}

impl std::fmt::Debug for MoteSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoteSection").field("name", &self.name).field("address", &self.address).field("leg", &self.leg).finish_non_exhaustive()
    }
}

fn default_dtls_port() -> u16 {
    5684
}

fn default_transfer_port() -> u16 {
    5685
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustSection {
    pub anchors: PathBuf,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DefaultVerdict {
    #[default]
    Deny,
    Allow,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationSection {
    #[serde(default)]
    pub default: DefaultVerdict,
    #[serde(default)]
    pub rules: Vec<RuleSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    pub client: String,
    pub motes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub max_per_mote: usize,
    pub max_delegations: usize,
    pub cookie_rotation_secs: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let l = Limits::default();
        LimitsSection { max_per_mote: l.max_per_mote, max_delegations: l.max_delegations, cookie_rotation_secs: l.cookie_rotation.as_secs() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimersSection {
    pub mote_timeout_ms: u64,
    pub confirm_timeout_ms: u64,
    pub handshake_timeout_ms: u64,
    pub final_flight_hold_ms: u64,
    pub mote_retransmit_ms: u64,
    pub internet_retransmit_ms: u64,
    pub mtu: usize,
}

impl Default for TimersSection {
    fn default() -> Self {
        let t = HemTimers::default();
        TimersSection {
            mote_timeout_ms: t.mote_timeout.as_millis() as u64,
            confirm_timeout_ms: t.confirm_timeout.as_millis() as u64,
            handshake_timeout_ms: t.handshake_timeout.as_millis() as u64,
            final_flight_hold_ms: t.final_flight_hold.as_millis() as u64,
            mote_retransmit_ms: 2000,
            internet_retransmit_ms: 1000,
            mtu: 1200,
        }
    }
}

impl TimersSection {
    pub fn hem(&self) -> HemTimers {
        HemTimers {
            mote_timeout: Duration::from_millis(self.mote_timeout_ms),
            confirm_timeout: Duration::from_millis(self.confirm_timeout_ms),
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            final_flight_hold: Duration::from_millis(self.final_flight_hold_ms),
            retransmit_reply_spacing: Duration::from_millis(self.internet_retransmit_ms / 2),
        }
    }

    fn transport(&self, initial_ms: u64) -> TransportConfig {
        let initial = Duration::from_millis(initial_ms);
        TransportConfig {
            mtu: self.mtu,
            retransmit: RetransmitConfig { initial, max: initial * 16, ..RetransmitConfig::default() },
            ..TransportConfig::default()
        }
    }
}

impl SspConfig {
    pub fn from_toml_str(s: &str) -> Result<Self, ConfigError> {
        let c: SspConfig = toml::from_str(s).map_err(|e| {
            let key = e.span().map(|sp| s.get(sp).unwrap_or("").to_string()).unwrap_or_default();
            err(if key.is_empty() { "(file)".to_string() } else { key }, e.message().to_string())
        })?;
        c.validate()?;
        Ok(c)
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let s = std::fs::read_to_string(path).map_err(|e| err(path.display().to_string(), e.to_string()))?;
        Self::from_toml_str(&s)
    }

    /// Checks everything that needs no file access.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(err("name", "must not be empty"));
        }
        let mut br_names = HashSet::new();
        for (i, br) in self.redirect.border_routers.iter().enumerate() {
            let k = format!("redirect.border_routers[{i}]");
            if !br_names.insert(br.name.as_str()) {
                return Err(err(format!("{k}.name"), format!("duplicate border router {:?}", br.name)));
            }
            redirect::RedirectKey::from_hex(br.key_id, &br.key).map_err(|e| err(format!("{k}.key"), e.to_string()))?;
        }
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        for (i, m) in self.motes.iter().enumerate() {
            let k = format!("motes[{i}]");
            if m.name.trim().is_empty() || !names.insert(m.name.as_str()) {
                return Err(err(format!("{k}.name"), format!("empty or duplicate mote name {:?}", m.name)));
            }
            if m.address.is_unspecified() || m.address.is_multicast() || !addrs.insert(m.address) {
                return Err(err(format!("{k}.address"), "must be a unique unicast address"));
            }
            if m.dtls_port == 0 {
                return Err(err(format!("{k}.dtls_port"), "must not be 0"));
            }
            if m.transfer_port == 0 || m.transfer_port == m.dtls_port {
                return Err(err(format!("{k}.transfer_port"), "must be non-zero and differ from dtls_port"));
            }
            if m.psk_identity.is_empty() || m.psk_identity.len() > 128 {
                return Err(err(format!("{k}.psk_identity"), "must be 1..=128 bytes"));
            }
            match decode_hex(&m.psk) {
                Some(b) if m.leg == LegMode::Association && b.len() > 32 => {
                    return Err(err(format!("{k}.psk"), "must be 16..=32 bytes for leg = \"association\""));
                }
                Some(b) if (16..=64).contains(&b.len()) => {}
                _ => return Err(err(format!("{k}.psk"), "must be 16..=64 bytes of hex")),
            }
            parse_cipher_suites(&format!("{k}.cipher_suites"), &m.cipher_suites)?;
        }
        for (i, r) in self.authorization.rules.iter().enumerate() {
            ClientSelector::parse(&r.client).map_err(|e| err(format!("authorization.rules[{i}].client"), e))?;
            if r.motes.is_empty() {
                return Err(err(format!("authorization.rules[{i}].motes"), "must name at least one mote or \"*\""));
            }
            for m in &r.motes {
                if let MoteSelector::Name(n) = MoteSelector::parse(m)
                    && !names.contains(n.as_str())
                {
                    return Err(err(format!("authorization.rules[{i}].motes"), format!("no mote named {n:?}")));
                }
            }
        }
        if self.limits.max_per_mote == 0 {
            return Err(err("limits.max_per_mote", "must be at least 1"));
        }
        if self.limits.max_delegations == 0 {
            return Err(err("limits.max_delegations", "must be at least 1"));
        }
        if self.limits.cookie_rotation_secs == 0 {
            return Err(err("limits.cookie_rotation_secs", "must be at least 1"));
        }
        let t = &self.timers;
        for (key, v) in [
            ("timers.mote_timeout_ms", t.mote_timeout_ms),
            ("timers.confirm_timeout_ms", t.confirm_timeout_ms),
            ("timers.handshake_timeout_ms", t.handshake_timeout_ms),
            ("timers.final_flight_hold_ms", t.final_flight_hold_ms),
            ("timers.mote_retransmit_ms", t.mote_retransmit_ms),
            ("timers.internet_retransmit_ms", t.internet_retransmit_ms),
        ] {
            if v == 0 {
                return Err(err(key, "must be greater than 0"));
            }
        }
        if !(256..=65_000).contains(&t.mtu) {
            return Err(err("timers.mtu", "must be 256..=65000"));
        }
        Ok(())
    }

    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let mut rules = Vec::new();
        for (i, r) in self.authorization.rules.iter().enumerate() {
            let client = ClientSelector::parse(&r.client).map_err(|e| err(format!("authorization.rules[{i}].client"), e))?;
            rules.push(Rule { client, motes: r.motes.iter().map(|m| MoteSelector::parse(m)).collect() });
        }
        let default = match self.authorization.default {
            DefaultVerdict::Deny => Verdict::Deny,
            DefaultVerdict::Allow => Verdict::Allow,
        };
        Ok(Policy { default, rules })
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_per_mote: self.limits.max_per_mote,
            max_delegations: self.limits.max_delegations,
            cookie_rotation: Duration::from_secs(self.limits.cookie_rotation_secs),
        }
    }

    /// The redirect keys of the configured border routers.
    pub fn border_router_keys(&self) -> Result<Vec<(String, SocketAddr, redirect::RedirectKey)>, ConfigError> {
        self.redirect
            .border_routers
            .iter()
            .enumerate()
            .map(|(i, br)| {
                redirect::RedirectKey::from_hex(br.key_id, &br.key)
                    .map(|k| (br.name.clone(), br.address, k))
                    .map_err(|e| err(format!("redirect.border_routers[{i}].key"), e.to_string()))
            })
            .collect()
    }

    /// Reads the trust anchors and every mote's chain and key (paths relative to `base`)
    /// and builds the IoTSSP, with the OS's randomness (the daemons).
    pub fn build(&self, base: &Path) -> Result<Iotssp, ConfigError> {
        self.build_with_random(base, OsRandom::shared())
    }

    /// Like [`build`](Self::build), drawing every random value from `rng` (tests and
    /// simulations pass a seed).
    pub fn build_with_random(&self, base: &Path, rng: Arc<dyn SecureRandom>) -> Result<Iotssp, ConfigError> {
        let read = |key: String, p: &Path| -> Result<String, ConfigError> {
            let full = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
            std::fs::read_to_string(&full).map_err(|e| err(key, format!("{}: {e}", full.display())))
        };
        let anchors = read("trust.anchors".into(), &self.trust.anchors)?;
        let verifier = ChainVerifier::from_pem(&anchors).map_err(|e| err("trust.anchors", e.to_string()))?;
        self.assemble(verifier, rng, |i, m| {
            let chain = read(format!("motes[{i}].certificate_chain"), &m.certificate_chain)?;
            let key = Zeroizing::new(read(format!("motes[{i}].private_key"), &m.private_key)?);
            CertifiedKey::from_pem(&chain, &key).map_err(|e| err(format!("motes[{i}].certificate_chain"), e.to_string()))
        })
    }

    /// Like [`build`](Self::build) with the verifier and certificates supplied (tests pin
    /// the verifier's clock).
    pub fn build_with(&self, verifier: ChainVerifier, certified: impl FnMut(usize, &MoteSection) -> Result<CertifiedKey, ConfigError>) -> Result<Iotssp, ConfigError> {
        self.assemble(verifier, OsRandom::shared(), certified)
    }

    fn assemble(
        &self,
        verifier: ChainVerifier,
        rng: Arc<dyn SecureRandom>,
        mut certified: impl FnMut(usize, &MoteSection) -> Result<CertifiedKey, ConfigError>,
    ) -> Result<Iotssp, ConfigError> {
        self.validate()?;
        let cam = Cam::new(verifier);
        let mut profiles = Vec::new();
        for (i, m) in self.motes.iter().enumerate() {
            let ck = Arc::new(certified(i, m)?);
            let psk = Zeroizing::new(decode_hex(&m.psk).ok_or_else(|| err(format!("motes[{i}].psk"), "hex"))?);
            profiles.push(mote_profile(m, ck, &psk, &cam, &self.timers).map_err(|e| err(format!("motes[{i}]"), e.to_string()))?);
        }
        Iotssp::with_random(profiles, cam, Am::new(self.policy()?), self.timers.hem(), self.limits(), rng).map_err(|e| err("(iotssp)", e.to_string()))
    }
}

/// The mote's EUI-64, from the interface identifier of its address (RFC 4291 appendix A:
/// the universal/local bit inverted), as the mote itself knows it.
pub fn mote_id(address: &Ipv6Addr) -> [u8; 8] {
    let mut id = [0u8; 8];
    id.copy_from_slice(&address.octets()[8..]);
    id[0] ^= 0x02;
    id
}

/// Both dtls configurations of one mote, and its association credentials.
pub fn mote_profile(m: &MoteSection, certified: Arc<CertifiedKey>, psk: &[u8], cam: &Cam, timers: &TimersSection) -> Result<MoteProfile, dtls::Error> {
    let mut server = ServerConfig::ecdhe(certified, Some(cam.verifier()));
    server.cipher_suites = parse_cipher_suites("cipher_suites", &m.cipher_suites).map_err(|_| dtls::Error::Config("cipher_suites"))?;
    server.pause_after_client_finished = true;
    server.transport = timers.transport(timers.internet_retransmit_ms);
    server.validate()?;
    let mut client = ClientConfig::psk(m.psk_identity.as_bytes(), psk);
    client.transport = timers.transport(timers.mote_retransmit_ms);
    client.extra_client_hello_extensions.push(SttOfferRepr { transfer_requested: true }.to_extension());
    client.validate()?;
    let assoc = match m.leg {
        LegMode::Association => Some(
            mote_assoc::keys::Credentials::new::<mote_assoc::crypto::SoftAes>(psk, mote_id(&m.address))
                .map_err(|_| dtls::Error::Config("the association needs a PSK of 16..=32 bytes"))?,
        ),
        LegMode::PskHandshake => None,
    };
    Ok(MoteProfile {
        name: m.name.clone(),
        leg: m.leg,
        assoc,
        address: m.address,
        dtls_port: m.dtls_port,
        transfer_port: m.transfer_port,
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "ssp-a"
[redirect]
listen = "[::1]:7700"
[[redirect.border_routers]]
name = "br-1"
address = "[::1]:7701"
key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
[[motes]]
name = "mote-1"
address = "2001:db8:1::2"
certificate_chain = "server.pem"
private_key = "server.key"
psk_identity = "mote-1"
psk = "30313233343536373839616263646566"
[trust]
anchors = "ca.pem"
[authorization]
[[authorization.rules]]
client = "cn:client.example"
motes = ["mote-1"]
"#;

    #[test]
    fn good_config_with_defaults() {
        let c = SspConfig::from_toml_str(GOOD).unwrap();
        assert_eq!(c.motes[0].dtls_port, 5684);
        assert_eq!(c.motes[0].transfer_port, 5685);
        assert_eq!(c.limits().max_per_mote, 2);
        assert_eq!(c.authorization.default, DefaultVerdict::Deny);
        assert!(!format!("{c:?}").contains("000102"), "keys never in Debug");
    }

    #[test]
    fn mote_cipher_suites_default_order_and_errors() {
        let c = SspConfig::from_toml_str(GOOD).unwrap();
        let suites = parse_cipher_suites("k", &c.motes[0].cipher_suites).unwrap();
        assert_eq!(suites, CipherSuite::ECDHE_ECDSA.to_vec());
        let gcm_first = GOOD.replace(
            "psk = \"30313233343536373839616263646566\"",
            "psk = \"30313233343536373839616263646566\"\ncipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\", \"tls_ecdhe_ecdsa_with_aes_128_ccm_8\"]",
        );
        let c = SspConfig::from_toml_str(&gcm_first).unwrap();
        assert_eq!(
            parse_cipher_suites("k", &c.motes[0].cipher_suites).unwrap(),
            vec![CipherSuite::EcdheEcdsaAes128Gcm, CipherSuite::EcdheEcdsaAes128Ccm8]
        );
        for bad in ["[\"TLS_PSK_WITH_AES_128_CCM_8\"]", "[]", "[\"AES256\"]", "[\"TLS_ECDHE_ECDSA_WITH_AES_128_CCM\", \"TLS_ECDHE_ECDSA_WITH_AES_128_CCM\"]"] {
            let t = GOOD.replace("psk = \"30313233343536373839616263646566\"", &format!("psk = \"30313233343536373839616263646566\"\ncipher_suites = {bad}"));
            let e = SspConfig::from_toml_str(&t).unwrap_err();
            assert!(e.to_string().contains("motes[0].cipher_suites"), "{bad}: {e}");
        }
    }

    /// A mote's reported suites narrow the configured list, keeping its order.
    #[test]
    fn server_for_mote_suites_keeps_the_configured_order() {
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data");
        let c = SspConfig::from_toml_str(GOOD).unwrap();
        let ck = Arc::new(CertifiedKey::from_pem(
            &std::fs::read_to_string(data.join("server.pem")).unwrap(),
            &std::fs::read_to_string(data.join("server.key")).unwrap(),
        ).unwrap());
        let cam = Cam::new(ChainVerifier::from_pem(&std::fs::read_to_string(data.join("ca.pem")).unwrap()).unwrap());
        let p = mote_profile(&c.motes[0], ck, &[1; 16], &cam, &c.timers).unwrap();
        assert_eq!(p.server.cipher_suites, CipherSuite::ECDHE_ECDSA.to_vec());
        let s = p.server_for_mote_suites(0b1100).unwrap();
        assert_eq!(s.cipher_suites, vec![CipherSuite::EcdheEcdsaAes128Gcm, CipherSuite::EcdheEcdsaChacha20Poly1305]);
        assert!(p.server_for_mote_suites(0b1_0000).is_none());
    }

    /// Same seed, same cookie for the same hello: nothing random comes from elsewhere.
    #[test]
    fn a_seeded_iotssp_answers_a_hello_with_the_same_cookie() {
        use dtls::provider::SeededRandom;
        use dtls::Connection;
        use std::time::Instant;
        let now = Instant::now();
        let peer: SocketAddr = "[2001:db8::9]:40000".parse().unwrap();
        let mut client = ClientConfig::psk(b"client", &[1; 16]);
        client.rng = SeededRandom::shared([1; 32]);
        let hello = Connection::connect(now, peer, Arc::new(client)).unwrap().poll_transmit().unwrap().contents;
        let flow = redirect::FlowTag { peer_addr: "2001:db8::9".parse().unwrap(), peer_port: 40000, mote_addr: "2001:db8:1::2".parse().unwrap(), mote_port: 5684 };
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data");
        let config = SspConfig::from_toml_str(GOOD).unwrap();
        let verify_request = |seed: [u8; 32]| {
            let mut iotssp = config.build_with_random(&data, SeededRandom::shared(seed)).unwrap();
            iotssp.handle_divert(now, flow, &hello);
            match iotssp.poll_output() {
                Some(crate::Output::Emit { datagram, .. }) => datagram,
                other => panic!("expected a HelloVerifyRequest, got {other:?}"),
            }
        };
        assert_eq!(verify_request([5; 32]), verify_request([5; 32]));
        assert_ne!(verify_request([5; 32]), verify_request([6; 32]));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (GOOD.replace("psk = \"3031", "psk = \"zz31"), "motes[0].psk"),
            (GOOD.replace("key = \"0001", "key = \"0g01"), "redirect.border_routers[0].key"),
            (GOOD.replace("motes = [\"mote-1\"]", "motes = [\"mote-9\"]"), "authorization.rules[0].motes"),
            (GOOD.replace("cn:client", "xx:client"), "authorization.rules[0].client"),
            (format!("{GOOD}\n[limits]\nmax_per_mote = 0\n"), "limits.max_per_mote"),
            (format!("{GOOD}\n[timers]\nmote_timeout_ms = 0\n"), "timers.mote_timeout_ms"),
        ];
        for (text, key) in cases {
            let e = SspConfig::from_toml_str(&text).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
        let e = SspConfig::from_toml_str(&GOOD.replace("psk_identity", "psk_identty")).unwrap_err();
        assert!(e.reason.contains("psk_identty") || e.key.contains("psk_identty"), "{e}");
    }
}
