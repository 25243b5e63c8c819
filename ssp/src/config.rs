//! Typed configuration of an IoTSSP (TOML), with defaults and validation that reports every
//! problem at once, each with its key (`tomlcheck`, as lowpan-br's configuration does).
//! Keys without a default below must be given; their absence is reported like any other
//! problem. [`SspConfig::build`] reads the PEM files and returns a ready [`Iotssp`].
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
//! motes = ["mote-1"]                        # the motes it may divert for and gets the
//!                                           # replies of; may be left out only when a
//!                                           # single border router is configured (all)
//!
//! [mote_link]
//! bind = "[::]:0"                           # the socket towards motes' transfer ports
//!
//! [[motes]]
//! name = "mote-1"
//! address = "2001:db8:1::2"
//! dtls_port = 5684                          # default
//! transfer_port = 5685                      # default
//! certificate_chain = "mote-1.pem"          # relative to this file; may be left out when
//!                                           # certificate_types = ["raw-public-key"]
//! private_key = "mote-1.key"                # only with key = "iotssp"
//! # Who signs the mote's handshakes: "iotssp" (default; the IoTSSP holds private_key) or
//! # "mote" (keyless: the IoTSSP holds the certificate only, private_key must be left out,
//! # and each ServerKeyExchange or CertificateVerify signature is asked of the mote over
//! # its association, so leg = "association" is required).
//! key = "iotssp"
//! # What the IoTSSP presents in the mote's name, in its order of preference: "x509" (the
//! # chain) and/or "raw-public-key" (RFC 7250: the mote's key alone, to clients that ask for
//! # it in server_certificate_type). Default ["x509"].
//! certificate_types = ["x509", "raw-public-key"]
//! psk_identity = "mote-1"
//! psk = "00112233445566778899aabbccddeeff"  # hex (16..32 bytes for the association)
//! leg = "association"                       # default; or "psk-handshake" (the paper's flow)
//! # Servers the mote may ask for a session with (outbound delegation, the mote as client;
//! # docs/mote-association.md). Any other server it asks for is refused and logged.
//! [[motes.outbound]]
//! address = "2001:db8:beef::10"
//! port = 5684                               # default
//! name = "coap.example"                     # the server's certificate must be valid for it
//! trust_anchors = "servers-ca.pem"          # default: [trust].anchors
//! # A server that authenticates with a raw public key (RFC 7250), named by the SHA-256 of
//! # its DER SubjectPublicKeyInfo as in the policy's rules; `name` may then be left out
//! # (with both, the raw key is asked for first and a certificate for `name` also taken).
//! # The mote presents itself as its certificate_types say, a raw key when the server
//! # asks for one and "raw-public-key" is listed.
//! [[motes.outbound]]
//! address = "2001:db8:beef::11"
//! raw_public_key = "rpk-sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! # What the mote's record layer continues, in the order the IoTSSP prefers them (cheapest
//! # for the mote first); default: all four ECDHE_ECDSA suites in this order.
//! cipher_suites = ["TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
//!                  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"]
//!
//! [trust]
//! anchors = "ca.pem"
//! crls = ["ca.crl.pem"]                     # optional; PEM or DER. With any CRL, every
//!                                           # certificate of a client's path must be covered
//!                                           # by its issuer's CRL and not listed in it
//!
//! [authorization]
//! default = "deny"                          # or "allow"
//! [[authorization.rules]]
//! client = "cn:client.example"              # cn:, dns:, uri:, spki-sha256:<hex>, rpk-sha256:<hex>, *
//! motes = ["mote-1"]                        # names, addresses, or "*"
//! [[authorization.rules]]
//! action = "deny"                           # default "allow"; a matching deny rule wins
//! client = "spki-sha256:7f0c..."            # over every allow rule and the default
//! motes = ["*"]
//! # A rule naming a raw public key (SHA-256 of the client's DER SubjectPublicKeyInfo) lets
//! # clients authenticate with raw keys (RFC 7250); only keys a rule names get in.
//! [[authorization.rules]]
//! client = "rpk-sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! motes = ["mote-1"]
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

use dtls::cert::{CertificateType, CertifiedKey, ChainVerifier, RawKeyTrust};
use dtls::crypto::ecc::SigningKey;
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
use crate::outbound::OutboundServer;

pub use tomlcheck::Issue;

/// A refused configuration: every problem found, each with its key and why (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub issues: Vec<Issue>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.issues.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                many.iter().try_for_each(|i| write!(f, "\n  {i}"))
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// Whether some problem is about `key`.
    pub fn names(&self, key: &str) -> bool {
        self.issues.iter().any(|i| i.key == key)
    }
}

fn err(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        issues: vec![issue(key, reason)],
    }
}

fn issue(key: impl Into<String>, reason: impl Into<String>) -> Issue {
    Issue {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Every problem of `issues`, or nothing.
fn all(issues: Vec<Issue>) -> Result<(), ConfigError> {
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { issues })
    }
}

/// Every key has a default here so that `tomlcheck` can try each one alone; the keys that
/// must be given are checked by [`SspConfig::validate`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SspConfig {
    /// Must be given.
    pub name: String,
    /// Remote mode only (lowpan-br's attached mode ignores it); defaults to `[::]:7700`.
    pub redirect: RedirectSection,
    pub mote_link: MoteLinkSection,
    pub motes: Vec<MoteSection>,
    pub trust: TrustSection,
    pub authorization: AuthorizationSection,
    pub limits: LimitsSection,
    pub timers: TimersSection,
    /// Remote mode only: the control socket of `iotssp status`.
    #[serde(default)]
    pub control: ControlSection,
    /// Remote mode only: the opt-in HTTP status page and metrics.
    #[serde(default)]
    pub status: StatusSection,
    /// Remote mode only: what `iotssp` logs.
    #[serde(default)]
    pub log: LogSection,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// A `tracing` filter (`info`, `debug`, `info,ssp=debug`); `RUST_LOG` wins when set.
    /// Reloaded on SIGHUP.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: default_log_level(),
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

/// Where `iotssp status` finds the service unless configured.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/iotssp/control.sock";

/// The longest `resumption_lifetime_secs` of a mote: a day, the upper limit RFC 5246 F.1.4
/// suggests for a session id's lifetime.
pub const MAX_RESUMPTION_LIFETIME_SECS: u32 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    /// Created owner-only (0600); empty: none.
    #[serde(default = "default_control_socket")]
    pub socket: PathBuf,
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            socket: default_control_socket(),
        }
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
#[serde(deny_unknown_fields, default)]
pub struct RedirectSection {
    pub listen: SocketAddr,
    pub border_routers: Vec<BorderRouterSection>,
}

impl Default for RedirectSection {
    fn default() -> Self {
        RedirectSection {
            listen: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 7700)),
            border_routers: Vec::new(),
        }
    }
}

/// `name`, `address` and `key` must be given.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BorderRouterSection {
    pub name: String,
    pub address: SocketAddr,
    pub key_id: u32,
    /// Hex; never printed.
    pub key: String,
    /// The names of the motes this border router serves: it may divert only for them, and
    /// only it gets their replies. Empty: every mote, allowed only when this is the sole
    /// border router.
    pub motes: Vec<String>,
}

impl Default for BorderRouterSection {
    fn default() -> Self {
        BorderRouterSection {
            name: String::new(),
            address: SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            key_id: default_key_id(),
            key: String::new(),
            motes: Vec::new(),
        }
    }
}

impl std::fmt::Debug for BorderRouterSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BorderRouterSection")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("key_id", &self.key_id)
            .field("motes", &self.motes)
            .finish_non_exhaustive()
    }
}

fn default_key_id() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MoteLinkSection {
    pub bind: SocketAddr,
}

impl Default for MoteLinkSection {
    fn default() -> Self {
        MoteLinkSection {
            bind: default_bind(),
        }
    }
}

fn default_bind() -> SocketAddr {
    SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
}

/// Every key but the ports must be given.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MoteSection {
    pub name: String,
    pub address: Ipv6Addr,
    pub dtls_port: u16,
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
    /// The servers the mote may ask for an outbound session with.
    #[serde(default)]
    pub outbound: Vec<OutboundSection>,
    /// What is presented in the mote's name, in order of preference: "x509",
    /// "raw-public-key" (RFC 7250).
    #[serde(default = "default_certificate_types")]
    pub certificate_types: Vec<String>,
    /// How long, in seconds, a client may resume a session with the mote itself (an
    /// abbreviated handshake at the mote, RFC 5246 7.3; docs/session-transfer.md
    /// "Resumption at the mote"); 0, the default: sessions get no id and are not resumable.
    /// The same lifetime goes with the mote's outbound sessions when their server gives them
    /// an id, for the mote to resume with the server itself. Association leg only; at most
    /// [`MAX_RESUMPTION_LIFETIME_SECS`].
    #[serde(default)]
    pub resumption_lifetime_secs: u32,
    /// Who holds the mote's private key and signs its handshakes.
    #[serde(default)]
    pub key: KeyHolder,
}

/// `motes[i].key`: who makes the signatures of the mote's certificate key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyHolder {
    /// The IoTSSP holds the mote's private key (`private_key`) and signs in its name.
    #[default]
    Iotssp,
    /// The key never leaves the mote: the IoTSSP holds the certificate only and asks the mote
    /// for each signature over the association (SignRequest, docs/mote-association.md).
    Mote,
}

/// One server of a mote's outbound policy; `address` and `name` must be given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundSection {
    pub address: Ipv6Addr,
    pub port: u16,
    /// The DNS name (or address) the server's certificate must be valid for; empty: the
    /// server must authenticate with `raw_public_key`.
    pub name: String,
    /// The anchors the server's chain must lead to; empty: `[trust].anchors`.
    pub trust_anchors: PathBuf,
    /// `rpk-sha256:<hex>`: the server may authenticate with this raw public key (RFC 7250).
    pub raw_public_key: String,
}

impl Default for OutboundSection {
    fn default() -> Self {
        OutboundSection {
            address: Ipv6Addr::UNSPECIFIED,
            port: default_dtls_port(),
            name: String::new(),
            trust_anchors: PathBuf::new(),
            raw_public_key: String::new(),
        }
    }
}

impl OutboundSection {
    /// The SHA-256 of the server's SubjectPublicKeyInfo from `raw_public_key` (the policy's
    /// `rpk-sha256:` selector syntax); `Ok(None)` when none is given.
    fn raw_key_sha256(&self) -> Result<Option<[u8; 32]>, String> {
        if self.raw_public_key.trim().is_empty() {
            return Ok(None);
        }
        match ClientSelector::parse(&self.raw_public_key)? {
            ClientSelector::RawKeySha256(h) => Ok(Some(h)),
            _ => Err(format!(
                "{:?}: expected rpk-sha256:<64 hex digits>",
                self.raw_public_key
            )),
        }
    }

    /// How the server is named in logs and the status: its certificate name, else its key.
    fn display_name(&self) -> String {
        if self.name.trim().is_empty() {
            self.raw_public_key.trim().to_string()
        } else {
            self.name.clone()
        }
    }
}

fn default_certificate_types() -> Vec<String> {
    vec![CertificateType::X509.name().to_string()]
}

/// `motes[i].certificate_types`: "x509" and/or "raw-public-key", no repeats, at least one.
fn parse_certificate_types(
    key: &str,
    names: &[String],
) -> Result<Vec<CertificateType>, ConfigError> {
    let mut types = Vec::new();
    for n in names {
        let t = CertificateType::from_name(n)
            .ok_or_else(|| err(key, format!("{n:?} is not \"x509\" or \"raw-public-key\"")))?;
        if types.contains(&t) {
            return Err(err(key, format!("{n:?} given twice")));
        }
        types.push(t);
    }
    if types.is_empty() {
        return Err(err(key, "must name at least one type"));
    }
    Ok(types)
}

impl MoteSection {
    /// Presented as a raw public key only: no certificate chain needed.
    fn raw_key_only(&self) -> bool {
        parse_certificate_types("", &self.certificate_types)
            .is_ok_and(|t| t == [CertificateType::RawPublicKey])
    }
}

fn default_cipher_suites() -> Vec<String> {
    CipherSuite::ECDHE_ECDSA
        .iter()
        .map(|s| s.name().to_string())
        .collect()
}

/// `motes[i].cipher_suites`: ECDHE_ECDSA suites by IANA name, no repeats, at least one.
fn parse_cipher_suites(key: &str, names: &[String]) -> Result<Vec<CipherSuite>, ConfigError> {
    let mut suites = Vec::new();
    for n in names {
        let s = CipherSuite::from_name(n.trim())
            .filter(|s| s.is_ecdhe_ecdsa())
            .ok_or_else(|| {
                err(
                    key,
                    format!("{n:?} is not one of {}", default_cipher_suites().join(", ")),
                )
            })?;
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
        f.debug_struct("MoteSection")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("leg", &self.leg)
            .finish_non_exhaustive()
    }
}

impl Default for MoteSection {
    fn default() -> Self {
        MoteSection {
            name: String::new(),
            address: Ipv6Addr::UNSPECIFIED,
            dtls_port: default_dtls_port(),
            transfer_port: default_transfer_port(),
            certificate_chain: PathBuf::new(),
            private_key: PathBuf::new(),
            psk_identity: String::new(),
            psk: String::new(),
            cipher_suites: default_cipher_suites(),
            leg: LegMode::default(),
            outbound: Vec::new(),
            certificate_types: default_certificate_types(),
            resumption_lifetime_secs: 0,
            key: KeyHolder::default(),
        }
    }
}

fn default_dtls_port() -> u16 {
    5684
}

fn default_transfer_port() -> u16 {
    5685
}

/// `anchors` must be given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustSection {
    pub anchors: PathBuf,
    /// Certificate revocation lists (PEM with `X509 CRL` blocks, or DER), relative to the
    /// configuration file.
    pub crls: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DefaultVerdict {
    #[default]
    Deny,
    Allow,
}

/// What a matching rule decides; a rule allows unless it says otherwise.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationSection {
    pub default: DefaultVerdict,
    pub rules: Vec<RuleSection>,
}

/// Both keys must be given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSection {
    pub action: RuleAction,
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
        LimitsSection {
            max_per_mote: l.max_per_mote,
            max_delegations: l.max_delegations,
            cookie_rotation_secs: l.cookie_rotation.as_secs(),
        }
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
            retransmit: RetransmitConfig {
                initial,
                max: initial * 16,
                ..RetransmitConfig::default()
            },
            ..TransportConfig::default()
        }
    }
}

impl SspConfig {
    /// Parses and validates `s`, reporting every problem at once: each key the schema
    /// refuses (unknown, wrong type) and each value validation refuses, with its key.
    pub fn from_toml_str(s: &str) -> Result<Self, ConfigError> {
        let doc: toml::Table = toml::from_str(s).map_err(|e| {
            let key = e
                .span()
                .map(|sp| s.get(sp).unwrap_or("").to_string())
                .unwrap_or_default();
            err(
                if key.is_empty() {
                    "(file)".to_string()
                } else {
                    key
                },
                e.message().to_string(),
            )
        })?;
        let mut file = tomlcheck::deserialize_all::<SspConfig>(doc);
        let more = match file.value.take().map(|c| c.validate().map(|()| c)) {
            Some(Ok(c)) if file.issues.is_empty() => return Ok(c),
            Some(Err(e)) => file.validation_issues(e.issues).collect(),
            _ => Vec::new(),
        };
        let mut issues = file.issues;
        issues.extend(more);
        Err(ConfigError { issues })
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let s = std::fs::read_to_string(path)
            .map_err(|e| err(path.display().to_string(), e.to_string()))?;
        Self::from_toml_str(&s)
    }

    /// Checks everything that needs no file access, and reports every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut issues = Vec::new();
        let mut bad = |key: String, reason: &str| issues.push(issue(key, reason));
        if self.name.trim().is_empty() {
            bad("name".into(), "must be given and not empty");
        }
        if let Err(why) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            bad(
                "log.level".into(),
                &format!("{:?} is not a tracing filter: {why}", self.log.level),
            );
        }
        let mut br_names = HashSet::new();
        for (i, br) in self.redirect.border_routers.iter().enumerate() {
            let k = format!("redirect.border_routers[{i}]");
            if br.name.trim().is_empty() {
                bad(format!("{k}.name"), "must be given and not empty");
            } else if !br_names.insert(br.name.as_str()) {
                bad(
                    format!("{k}.name"),
                    &format!("duplicate border router {:?}", br.name),
                );
            }
            if br.address.port() == 0 || br.address.ip().is_unspecified() {
                bad(
                    format!("{k}.address"),
                    "must be given: the border router's redirect address and port",
                );
            }
            if let Err(e) = redirect::RedirectKey::from_hex(br.key_id, &br.key) {
                bad(format!("{k}.key"), &e.to_string());
            }
        }
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        for (i, m) in self.motes.iter().enumerate() {
            let k = format!("motes[{i}]");
            if m.name.trim().is_empty() || !names.insert(m.name.as_str()) {
                bad(
                    format!("{k}.name"),
                    &format!("empty or duplicate mote name {:?}", m.name),
                );
            }
            if m.address.is_unspecified() || m.address.is_multicast() || !addrs.insert(m.address) {
                bad(format!("{k}.address"), "must be a unique unicast address");
            }
            if m.dtls_port == 0 {
                bad(format!("{k}.dtls_port"), "must not be 0");
            }
            if m.transfer_port == 0 || m.transfer_port == m.dtls_port {
                bad(
                    format!("{k}.transfer_port"),
                    "must be non-zero and differ from dtls_port",
                );
            }
            if m.resumption_lifetime_secs > MAX_RESUMPTION_LIFETIME_SECS {
                bad(
                    format!("{k}.resumption_lifetime_secs"),
                    "at most 86400 (a day, RFC 5246 F.1.4)",
                );
            }
            if let Err(e) =
                parse_certificate_types(&format!("{k}.certificate_types"), &m.certificate_types)
            {
                e.issues.into_iter().for_each(|i| bad(i.key, &i.reason));
            }
            match m.key {
                KeyHolder::Iotssp => {
                    for (key, path) in [
                        ("certificate_chain", &m.certificate_chain),
                        ("private_key", &m.private_key),
                    ] {
                        if path.as_os_str().is_empty()
                            && !(key == "certificate_chain" && m.raw_key_only())
                        {
                            bad(format!("{k}.{key}"), "must be given");
                        }
                    }
                }
                KeyHolder::Mote => {
                    if !m.private_key.as_os_str().is_empty() {
                        bad(
                            format!("{k}.private_key"),
                            "must not be given with key = \"mote\": the mote's private key stays on the mote and the IoTSSP holds only its certificate",
                        );
                    }
                    if m.certificate_chain.as_os_str().is_empty() {
                        bad(
                            format!("{k}.certificate_chain"),
                            "must be given with key = \"mote\": the mote's public key comes from its certificate",
                        );
                    }
                    if m.leg != LegMode::Association {
                        bad(
                            format!("{k}.key"),
                            "\"mote\" needs leg = \"association\": the signature is asked of the mote over its association",
                        );
                    }
                }
            }
            if m.psk_identity.is_empty() || m.psk_identity.len() > 128 {
                bad(format!("{k}.psk_identity"), "must be 1..=128 bytes");
            }
            match decode_hex(&m.psk) {
                Some(b) if m.leg == LegMode::Association && b.len() > 32 => {
                    bad(
                        format!("{k}.psk"),
                        "must be 16..=32 bytes for leg = \"association\"",
                    );
                }
                Some(b) if (16..=64).contains(&b.len()) => {}
                _ => bad(format!("{k}.psk"), "must be 16..=64 bytes of hex"),
            }
            if let Err(e) = parse_cipher_suites(&format!("{k}.cipher_suites"), &m.cipher_suites) {
                e.issues.into_iter().for_each(|i| bad(i.key, &i.reason));
            }
            let mut servers = HashSet::new();
            for (j, o) in m.outbound.iter().enumerate() {
                let k = format!("{k}.outbound[{j}]");
                if o.address.is_unspecified() || o.address.is_multicast() {
                    bad(
                        format!("{k}.address"),
                        "must be given: the server's unicast address",
                    );
                } else if !servers.insert((o.address, o.port)) {
                    bad(format!("{k}.address"), "the same server twice");
                }
                if o.port == 0 {
                    bad(format!("{k}.port"), "must not be 0");
                }
                let raw_key = o.raw_key_sha256();
                if let Err(e) = &raw_key {
                    bad(format!("{k}.raw_public_key"), e);
                }
                if o.name.trim().is_empty() {
                    if raw_key.is_ok_and(|h| h.is_none()) {
                        bad(
                            format!("{k}.name"),
                            "must be given (the name the server's certificate must be valid for) unless raw_public_key is",
                        );
                    }
                } else if !dtls::cert::is_valid_server_name(&o.name) {
                    bad(
                        format!("{k}.name"),
                        "is neither a DNS name nor an IP address",
                    );
                }
                if m.leg != LegMode::Association {
                    bad(k.clone(), "outbound delegation needs leg = \"association\"");
                }
            }
        }
        let several = self.redirect.border_routers.len() > 1;
        for (i, br) in self.redirect.border_routers.iter().enumerate() {
            let k = format!("redirect.border_routers[{i}].motes");
            if several && br.motes.is_empty() {
                bad(
                    k.clone(),
                    "must name the motes this border router serves when several border routers are configured",
                );
            }
            for n in &br.motes {
                if !names.contains(n.as_str()) {
                    bad(k.clone(), &format!("no mote named {n:?}"));
                }
            }
        }
        if self.trust.anchors.as_os_str().is_empty() {
            bad("trust.anchors".into(), "must be given");
        }
        for (i, r) in self.authorization.rules.iter().enumerate() {
            if let Err(e) = ClientSelector::parse(&r.client) {
                bad(format!("authorization.rules[{i}].client"), &e);
            }
            if r.motes.is_empty() {
                bad(
                    format!("authorization.rules[{i}].motes"),
                    "must name at least one mote or \"*\"",
                );
            }
            for m in &r.motes {
                if let MoteSelector::Name(n) = MoteSelector::parse(m)
                    && !names.contains(n.as_str())
                {
                    bad(
                        format!("authorization.rules[{i}].motes"),
                        &format!("no mote named {n:?}"),
                    );
                }
            }
        }
        for (key, v) in [
            ("limits.max_per_mote", self.limits.max_per_mote as u64),
            ("limits.max_delegations", self.limits.max_delegations as u64),
            (
                "limits.cookie_rotation_secs",
                self.limits.cookie_rotation_secs,
            ),
        ] {
            if v == 0 {
                bad(key.into(), "must be at least 1");
            }
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
                bad(key.into(), "must be greater than 0");
            }
        }
        if !(256..=65_000).contains(&t.mtu) {
            bad("timers.mtu".into(), "must be 256..=65000");
        }
        all(issues)
    }

    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let mut rules = Vec::new();
        for (i, r) in self.authorization.rules.iter().enumerate() {
            let client = ClientSelector::parse(&r.client)
                .map_err(|e| err(format!("authorization.rules[{i}].client"), e))?;
            let verdict = match r.action {
                RuleAction::Allow => Verdict::Allow,
                RuleAction::Deny => Verdict::Deny,
            };
            rules.push(Rule {
                verdict,
                client,
                motes: r.motes.iter().map(|m| MoteSelector::parse(m)).collect(),
            });
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
    pub fn border_router_keys(
        &self,
    ) -> Result<Vec<(String, SocketAddr, redirect::RedirectKey)>, ConfigError> {
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

    /// Which border router may speak for which mote (by the mote's address), in the order of
    /// `border_router_keys`.
    pub fn mote_routes(&self) -> crate::routes::MoteRoutes {
        let address = |name: &str| {
            self.motes
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.address)
        };
        let served = self
            .redirect
            .border_routers
            .iter()
            .map(|br| {
                if br.motes.is_empty() {
                    self.motes.iter().map(|m| m.address).collect()
                } else {
                    br.motes.iter().filter_map(|n| address(n)).collect()
                }
            })
            .collect();
        crate::routes::MoteRoutes::new(served)
    }

    /// Reads the trust anchors and every mote's chain and key (paths relative to `base`)
    /// and builds the IoTSSP, with the OS's randomness (the daemons).
    pub fn build(&self, base: &Path) -> Result<Iotssp, ConfigError> {
        self.build_with_random(base, OsRandom::shared())
    }

    /// Like [`build`](Self::build), drawing every random value from `rng` (tests and
    /// simulations pass a seed). Reports every file that cannot be read or parsed.
    pub fn build_with_random(
        &self,
        base: &Path,
        rng: Arc<dyn SecureRandom>,
    ) -> Result<Iotssp, ConfigError> {
        let read = |key: String, p: &Path| -> Result<String, ConfigError> {
            let full = if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            };
            std::fs::read_to_string(&full).map_err(|e| err(key, format!("{}: {e}", full.display())))
        };
        let mut verifier = read("trust.anchors".into(), &self.trust.anchors).and_then(|pem| {
            ChainVerifier::from_pem(&pem).map_err(|e| err("trust.anchors", e.to_string()))
        });
        for (i, p) in self.trust.crls.iter().enumerate() {
            let key = format!("trust.crls[{i}]");
            let full = if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            };
            let crl = std::fs::read(&full)
                .map_err(|e| err(key.clone(), format!("{}: {e}", full.display())));
            verifier = match (verifier, crl) {
                (Ok(v), Ok(bytes)) => v
                    .with_crl_file(&bytes)
                    .map_err(|e| err(key, format!("{}: {e}", full.display()))),
                (Ok(_), Err(e)) => Err(e),
                (Err(mut e), Err(more)) => {
                    e.issues.extend(more.issues);
                    Err(e)
                }
                (Err(e), Ok(_)) => Err(e),
            };
        }
        let mut verifier_issues = Vec::new();
        let verifier = match verifier {
            Ok(v) => Some(v),
            Err(e) => {
                verifier_issues = e.issues;
                None
            }
        };
        // The motes' files are read even when the anchors are bad, so that every problem shows.
        let mut certified = Vec::with_capacity(self.motes.len());
        let mut issues = Vec::new();
        for (i, m) in self.motes.iter().enumerate() {
            if m.key == KeyHolder::Mote {
                // The certificate alone: no private key is read, nor held.
                match read(
                    format!("motes[{i}].certificate_chain"),
                    &m.certificate_chain,
                ) {
                    Ok(chain) => match CertifiedKey::external(&chain) {
                        Ok(ck) => certified.push(ck),
                        Err(e) => issues.push(issue(
                            format!("motes[{i}].certificate_chain"),
                            e.to_string(),
                        )),
                    },
                    Err(e) => issues.extend(e.issues),
                }
                continue;
            }
            if m.raw_key_only() && m.certificate_chain.as_os_str().is_empty() {
                match read(format!("motes[{i}].private_key"), &m.private_key).map(Zeroizing::new) {
                    Ok(key) => match SigningKey::from_pem(&key) {
                        Ok(k) => certified.push(CertifiedKey::raw_public_key(k)),
                        Err(e) => {
                            issues.push(issue(format!("motes[{i}].private_key"), e.to_string()))
                        }
                    },
                    Err(e) => issues.extend(e.issues),
                }
                continue;
            }
            let chain = read(
                format!("motes[{i}].certificate_chain"),
                &m.certificate_chain,
            );
            let key = read(format!("motes[{i}].private_key"), &m.private_key).map(Zeroizing::new);
            match (chain, key) {
                (Ok(chain), Ok(key)) => match CertifiedKey::from_pem(&chain, &key) {
                    Ok(ck) => certified.push(ck),
                    Err(e) => issues.push(issue(
                        format!("motes[{i}].certificate_chain"),
                        e.to_string(),
                    )),
                },
                (chain, key) => {
                    issues.extend(
                        chain
                            .err()
                            .into_iter()
                            .chain(key.err())
                            .flat_map(|e| e.issues),
                    );
                }
            }
        }
        verifier_issues.extend(issues);
        all(verifier_issues)?;
        let Some(verifier) = verifier else {
            return Err(err("trust.anchors", "unreadable"));
        };
        // Every mote's certificate was read (any problem returned above), in order.
        let mut certified = certified.into_iter();
        let default_anchors = verifier.clone();
        self.assemble(
            verifier,
            rng,
            |i, _| {
                certified
                    .next()
                    .ok_or_else(|| err(format!("motes[{i}]"), "no certificate"))
            },
            |key, p| {
                if p.as_os_str().is_empty() {
                    return Ok(default_anchors.clone());
                }
                read(key.clone(), p).and_then(|pem| {
                    ChainVerifier::from_pem(&pem).map_err(|e| err(key, e.to_string()))
                })
            },
        )
    }

    /// Like [`build`](Self::build) with the verifier and certificates supplied (tests pin
    /// the verifier's clock).
    pub fn build_with(
        &self,
        verifier: ChainVerifier,
        certified: impl FnMut(usize, &MoteSection) -> Result<CertifiedKey, ConfigError>,
    ) -> Result<Iotssp, ConfigError> {
        let anchors = verifier.clone();
        self.assemble(verifier, OsRandom::shared(), certified, |_, _| {
            Ok(anchors.clone())
        })
    }

    fn assemble(
        &self,
        verifier: ChainVerifier,
        rng: Arc<dyn SecureRandom>,
        mut certified: impl FnMut(usize, &MoteSection) -> Result<CertifiedKey, ConfigError>,
        mut server_anchors: impl FnMut(String, &Path) -> Result<ChainVerifier, ConfigError>,
    ) -> Result<Iotssp, ConfigError> {
        self.validate()?;
        let cam = Cam::new(verifier);
        let mut profiles = Vec::new();
        let mut issues = Vec::new();
        let policy = self.policy()?;
        for (i, m) in self.motes.iter().enumerate() {
            let ck = match certified(i, m) {
                Ok(ck) => Arc::new(ck),
                Err(e) => {
                    issues.extend(e.issues);
                    continue;
                }
            };
            let Some(psk) = decode_hex(&m.psk).map(Zeroizing::new) else {
                issues.push(issue(format!("motes[{i}].psk"), "hex"));
                continue;
            };
            let mut anchors = Vec::new();
            for (j, o) in m.outbound.iter().enumerate() {
                match server_anchors(
                    format!("motes[{i}].outbound[{j}].trust_anchors"),
                    &o.trust_anchors,
                ) {
                    Ok(v) => anchors.push(v),
                    Err(e) => issues.extend(e.issues),
                }
            }
            if anchors.len() != m.outbound.len() {
                continue;
            }
            match mote_profile(m, ck, &psk, &cam, &self.timers, anchors).and_then(|mut p| {
                if policy.names_raw_keys() {
                    p.accept_raw_key_clients()?;
                }
                Ok(p)
            }) {
                Ok(p) => profiles.push(p),
                Err(e) => issues.push(issue(format!("motes[{i}]"), e.to_string())),
            }
        }
        all(issues)?;
        Iotssp::with_random(
            profiles,
            cam,
            Am::new(policy),
            self.timers.hem(),
            self.limits(),
            rng,
        )
        .map_err(|e| err("(iotssp)", e.to_string()))
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

/// Both dtls configurations of one mote, its association credentials and its outbound
/// servers (`server_anchors`: one verifier per `m.outbound` entry, in order).
pub fn mote_profile(
    m: &MoteSection,
    certified: Arc<CertifiedKey>,
    psk: &[u8],
    cam: &Cam,
    timers: &TimersSection,
    server_anchors: Vec<ChainVerifier>,
) -> Result<MoteProfile, dtls::Error> {
    let suites = parse_cipher_suites("cipher_suites", &m.cipher_suites)
        .map_err(|_| dtls::Error::Config("cipher_suites"))?;
    let certificate_types = parse_certificate_types("certificate_types", &m.certificate_types)
        .map_err(|_| dtls::Error::Config("certificate_types"))?;
    let resumption_lifetime_secs = if m.leg == LegMode::Association {
        m.resumption_lifetime_secs
    } else {
        0
    };
    let mut outbound = Vec::new();
    for (o, anchors) in m.outbound.iter().zip(server_anchors) {
        let mut client = ClientConfig::ecdhe(anchors, Some(certified.clone()));
        client.cipher_suites = suites.clone();
        client.certificate_types = certificate_types.clone();
        if o.name.trim().is_empty() {
            // No name to check a chain against: the raw key alone authenticates the server.
            client.server_verifier = None;
        } else {
            client.server_name = Some(o.name.clone());
        }
        let raw_key = o
            .raw_key_sha256()
            .map_err(|_| dtls::Error::Config("outbound raw_public_key"))?;
        client.server_raw_public_keys = raw_key.map(|h| RawKeyTrust::Pinned(vec![h]));
        client.keep_resumption_secret = resumption_lifetime_secs > 0;
        client.transport = timers.transport(timers.internet_retransmit_ms);
        client.validate()?;
        outbound.push(OutboundServer {
            address: o.address,
            port: o.port,
            name: o.display_name(),
            client: Arc::new(client),
            resumption_lifetime_secs,
        });
    }
    let mut server = ServerConfig::ecdhe(certified, Some(cam.verifier()));
    server.cipher_suites = parse_cipher_suites("cipher_suites", &m.cipher_suites)
        .map_err(|_| dtls::Error::Config("cipher_suites"))?;
    server.certificate_types = certificate_types;
    server.pause_after_client_finished = true;
    server.issue_session_ids = resumption_lifetime_secs > 0;
    server.transport = timers.transport(timers.internet_retransmit_ms);
    server.validate()?;
    let mut client = ClientConfig::psk(m.psk_identity.as_bytes(), psk);
    client.transport = timers.transport(timers.mote_retransmit_ms);
    client.extra_client_hello_extensions.push(
        SttOfferRepr {
            transfer_requested: true,
        }
        .to_extension(),
    );
    client.validate()?;
    let assoc = match m.leg {
        LegMode::Association => Some(
            mote_assoc::keys::Credentials::new::<mote_assoc::crypto::SoftAes>(
                psk,
                mote_id(&m.address),
            )
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
        outbound,
        resumption_lifetime_secs,
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
    fn raw_public_keys_for_motes_and_clients() {
        let c = SspConfig::from_toml_str(GOOD).unwrap();
        assert_eq!(
            parse_certificate_types("k", &c.motes[0].certificate_types).unwrap(),
            vec![CertificateType::X509]
        );
        assert!(!c.policy().unwrap().names_raw_keys());
        // A raw-key-only mote needs no chain; a rule naming a raw key turns raw-key clients on.
        let text = GOOD.replace(
            "certificate_chain = \"server.pem\"\n",
            "certificate_types = [\"raw-public-key\"]\n",
        ) + &format!(
            "[[authorization.rules]]\nclient = \"rpk-sha256:{}\"\nmotes = [\"mote-1\"]\n",
            "ab".repeat(32)
        );
        let c = SspConfig::from_toml_str(&text).unwrap();
        assert!(c.motes[0].raw_key_only());
        assert!(c.policy().unwrap().names_raw_keys());
        let base = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../dtls/tests/data"));
        c.build(base).unwrap();
        let key = SigningKey::from_pem(&std::fs::read_to_string(base.join("server.key")).unwrap())
            .unwrap();
        let cam = Cam::new(
            ChainVerifier::from_pem(&std::fs::read_to_string(base.join("ca.pem")).unwrap())
                .unwrap(),
        );
        let mut p = mote_profile(
            &c.motes[0],
            Arc::new(CertifiedKey::raw_public_key(key)),
            &[1; 16],
            &cam,
            &c.timers,
            Vec::new(),
        )
        .unwrap();
        assert_eq!(
            p.server.certificate_types,
            vec![CertificateType::RawPublicKey]
        );
        assert!(p.server.client_raw_public_keys.is_none());
        p.accept_raw_key_clients().unwrap();
        assert!(p.server.client_raw_public_keys.is_some());
        // An X.509 mote still needs its chain; unknown types are named.
        let text = GOOD.replace("certificate_chain = \"server.pem\"\n", "");
        assert!(
            SspConfig::from_toml_str(&text)
                .unwrap_err()
                .names("motes[0].certificate_chain")
        );
        let text = GOOD.replace(
            "psk_identity",
            "certificate_types = [\"pgp\"]\npsk_identity",
        );
        assert!(
            SspConfig::from_toml_str(&text)
                .unwrap_err()
                .names("motes[0].certificate_types")
        );
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
            vec![
                CipherSuite::EcdheEcdsaAes128Gcm,
                CipherSuite::EcdheEcdsaAes128Ccm8
            ]
        );
        for bad in [
            "[\"TLS_PSK_WITH_AES_128_CCM_8\"]",
            "[]",
            "[\"AES256\"]",
            "[\"TLS_ECDHE_ECDSA_WITH_AES_128_CCM\", \"TLS_ECDHE_ECDSA_WITH_AES_128_CCM\"]",
        ] {
            let t = GOOD.replace(
                "psk = \"30313233343536373839616263646566\"",
                &format!("psk = \"30313233343536373839616263646566\"\ncipher_suites = {bad}"),
            );
            let e = SspConfig::from_toml_str(&t).unwrap_err();
            assert!(
                e.to_string().contains("motes[0].cipher_suites"),
                "{bad}: {e}"
            );
        }
    }

    /// A mote's reported suites narrow the configured list, keeping its order.
    #[test]
    fn server_for_mote_suites_keeps_the_configured_order() {
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data");
        let c = SspConfig::from_toml_str(GOOD).unwrap();
        let ck = Arc::new(
            CertifiedKey::from_pem(
                &std::fs::read_to_string(data.join("server.pem")).unwrap(),
                &std::fs::read_to_string(data.join("server.key")).unwrap(),
            )
            .unwrap(),
        );
        let cam = Cam::new(
            ChainVerifier::from_pem(&std::fs::read_to_string(data.join("ca.pem")).unwrap())
                .unwrap(),
        );
        let p = mote_profile(&c.motes[0], ck, &[1; 16], &cam, &c.timers, Vec::new()).unwrap();
        assert_eq!(p.server.cipher_suites, CipherSuite::ECDHE_ECDSA.to_vec());
        let s = p.server_for_mote_suites(0b1100).unwrap();
        assert_eq!(
            s.cipher_suites,
            vec![
                CipherSuite::EcdheEcdsaAes128Gcm,
                CipherSuite::EcdheEcdsaChacha20Poly1305
            ]
        );
        assert!(p.server_for_mote_suites(0b1_0000).is_none());
    }

    /// A mote with a resumption lifetime gets session ids from its server (association leg
    /// only); without one, none.
    #[test]
    fn resumption_lifetime_makes_the_server_issue_session_ids() {
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data");
        let ck = Arc::new(
            CertifiedKey::from_pem(
                &std::fs::read_to_string(data.join("server.pem")).unwrap(),
                &std::fs::read_to_string(data.join("server.key")).unwrap(),
            )
            .unwrap(),
        );
        let cam = Cam::new(
            ChainVerifier::from_pem(&std::fs::read_to_string(data.join("ca.pem")).unwrap())
                .unwrap(),
        );
        let profile = |extra: &str| {
            let t = GOOD.replace(
                "psk = \"30313233343536373839616263646566\"",
                &format!("psk = \"30313233343536373839616263646566\"\n{extra}"),
            );
            let c = SspConfig::from_toml_str(&t).unwrap();
            mote_profile(
                &c.motes[0],
                ck.clone(),
                &[1; 16],
                &cam,
                &c.timers,
                Vec::new(),
            )
            .unwrap()
        };
        let p = profile("");
        assert_eq!(
            (p.resumption_lifetime_secs, p.server.issue_session_ids),
            (0, false)
        );
        let p = profile("resumption_lifetime_secs = 3600");
        assert_eq!(
            (p.resumption_lifetime_secs, p.server.issue_session_ids),
            (3600, true)
        );
        let p = profile("resumption_lifetime_secs = 3600\nleg = \"psk-handshake\"");
        assert_eq!(
            (p.resumption_lifetime_secs, p.server.issue_session_ids),
            (0, false)
        );
    }

    /// Same seed, same cookie for the same hello: nothing random comes from elsewhere.
    #[test]
    fn a_seeded_iotssp_answers_a_hello_with_the_same_cookie() {
        use dtls::Connection;
        use dtls::provider::SeededRandom;
        use std::time::Instant;
        let now = Instant::now();
        let peer: SocketAddr = "[2001:db8::9]:40000".parse().unwrap();
        let mut client = ClientConfig::psk(b"client", &[1; 16]);
        client.rng = SeededRandom::shared([1; 32]);
        let hello = Connection::connect(now, peer, Arc::new(client))
            .unwrap()
            .poll_transmit()
            .unwrap()
            .contents;
        let flow = redirect::FlowTag {
            peer_addr: "2001:db8::9".parse().unwrap(),
            peer_port: 40000,
            mote_addr: "2001:db8:1::2".parse().unwrap(),
            mote_port: 5684,
        };
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data");
        let config = SspConfig::from_toml_str(GOOD).unwrap();
        let verify_request = |seed: [u8; 32]| {
            let mut iotssp = config
                .build_with_random(&data, SeededRandom::shared(seed))
                .unwrap();
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
            (
                GOOD.replace("key = \"0001", "key = \"0g01"),
                "redirect.border_routers[0].key",
            ),
            (
                GOOD.replace("motes = [\"mote-1\"]", "motes = [\"mote-9\"]"),
                "authorization.rules[0].motes",
            ),
            (
                GOOD.replace("cn:client", "xx:client"),
                "authorization.rules[0].client",
            ),
            (
                format!("{GOOD}\n[limits]\nmax_per_mote = 0\n"),
                "limits.max_per_mote",
            ),
            (
                format!("{GOOD}\n[timers]\nmote_timeout_ms = 0\n"),
                "timers.mote_timeout_ms",
            ),
            (
                GOOD.replace(
                    "psk = \"3031",
                    "resumption_lifetime_secs = 86401\npsk = \"3031",
                ),
                "motes[0].resumption_lifetime_secs",
            ),
        ];
        for (text, key) in cases {
            let e = SspConfig::from_toml_str(&text).unwrap_err();
            assert_eq!(e.issues[0].key, key, "{e}");
        }
        let e = SspConfig::from_toml_str(&GOOD.replace("psk_identity", "psk_identty")).unwrap_err();
        assert!(
            e.issues
                .iter()
                .any(|i| i.reason.contains("psk_identty") || i.key.contains("psk_identty")),
            "{e}"
        );
    }

    /// Several problems at once, of every kind (an unknown key, a wrong type, a bad value,
    /// values wrong together, a required key missing), each reported with its key.
    #[test]
    fn every_problem_is_reported_at_once() {
        let text = GOOD
            .replace("name = \"ssp-a\"", "")
            .replace("psk = \"3031", "psk = \"zz31")
            .replace("key = \"0001", "key = \"0g01")
            .replace("psk_identity", "psk_identty")
            .replace("cn:client", "xx:client")
            .replace("anchors = \"ca.pem\"", "");
        let text = format!(
            "{text}\n[limits]\nmax_per_mote = 0\nmax_delegations = \"many\"\n[timers]\nmote_timeout_ms = 0\nmtu = 9\n"
        );
        let e = SspConfig::from_toml_str(&text).unwrap_err();
        let mut keys: Vec<&str> = e.issues.iter().map(|i| i.key.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "authorization.rules[0].client",
                "limits.max_delegations",
                "limits.max_per_mote",
                "motes[0].psk",
                "motes[0].psk_identity",
                "motes[0].psk_identty",
                "name",
                "redirect.border_routers[0].key",
                "timers.mote_timeout_ms",
                "timers.mtu",
                "trust.anchors",
            ],
            "{e}"
        );
        let reason = |k: &str| &e.issues.iter().find(|i| i.key == k).unwrap().reason;
        assert!(
            reason("motes[0].psk_identty").starts_with("unknown key"),
            "{e}"
        );
        assert!(
            reason("limits.max_delegations").contains("invalid type"),
            "{e}"
        );
        assert!(reason("name").contains("must be given"), "{e}");
        assert!(e.to_string().starts_with("11 problems:\n  "), "{e}");
    }

    /// A mote or border router entry without its required keys names each one.
    #[test]
    fn missing_keys_of_entries_are_each_named() {
        let good = GOOD.replace("[[motes]]", "motes = [\"mote-1\"]\n[[motes]]");
        let text = format!(
            "{good}\n[[motes]]\nname = \"mote-2\"\n[[redirect.border_routers]]\nkey_id = 2\nmotes = [\"mote-2\"]\n"
        );
        let e = SspConfig::from_toml_str(&text).unwrap_err();
        for key in [
            "motes[1].address",
            "motes[1].certificate_chain",
            "motes[1].private_key",
            "motes[1].psk_identity",
            "motes[1].psk",
            "redirect.border_routers[1].name",
            "redirect.border_routers[1].address",
            "redirect.border_routers[1].key",
        ] {
            assert!(e.names(key), "{key} missing from {e}");
        }
        assert_eq!(e.issues.len(), 8, "{e}");
    }

    /// A single border router serves every mote unless it lists some; several must each
    /// list theirs, by configured names.
    #[test]
    fn border_routers_serve_the_motes_they_list() {
        let c = SspConfig::from_toml_str(GOOD).unwrap();
        let m1: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
        assert!(c.mote_routes().serves(0, m1));
        let second = "[[redirect.border_routers]]\nname = \"br-2\"\naddress = \"[::1]:7702\"\nkey = \"000102030405060708090a0b0c0d0e0f\"\n";
        let e = SspConfig::from_toml_str(&format!("{GOOD}\n{second}")).unwrap_err();
        let keys: Vec<&str> = e.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "redirect.border_routers[0].motes",
                "redirect.border_routers[1].motes"
            ],
            "{e}"
        );
        let e = SspConfig::from_toml_str(&format!("{GOOD}\n{second}motes = [\"mote-9\"]\n"))
            .unwrap_err();
        assert!(e.to_string().contains("no mote named \"mote-9\""), "{e}");
        let two = GOOD.replace("[[motes]]", "motes = [\"mote-1\"]\n[[motes]]")
            + "\n"
            + second
            + "motes = [\"mote-2\"]\n[[motes]]\nname = \"mote-2\"\naddress = \"2001:db8:2::2\"\ncertificate_chain = \"server.pem\"\nprivate_key = \"server.key\"\npsk_identity = \"mote-2\"\npsk = \"30313233343536373839616263646566\"\n";
        let c = SspConfig::from_toml_str(&two).unwrap();
        let mut r = c.mote_routes();
        let m2: Ipv6Addr = "2001:db8:2::2".parse().unwrap();
        assert!(r.serves(0, m1) && !r.serves(0, m2) && r.serves(1, m2) && !r.serves(1, m1));
        assert!(!r.accept(1, m1), "br-2 may not divert for mote-1");
        assert_eq!(r.route(m1), Some(0));
    }

    /// trust.crls feed the CAM's verifier: a revoked client is refused; a CRL that cannot
    /// be read or parsed is reported under its key. Deny rules come through with their action.
    #[test]
    fn crls_and_deny_rules_reach_the_cam_and_the_am() {
        use dtls::cert::PeerRole;
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data");
        let client_pem = std::fs::read_to_string(data.join("client.pem")).unwrap();
        let client = x509_cert::Certificate::load_pem_chain(client_pem.as_bytes()).unwrap();
        let client = vec![x509_cert::der::Encode::to_der(&client[0]).unwrap()];
        let with_crl = GOOD.replace(
            "anchors = \"ca.pem\"",
            "anchors = \"ca.pem\"\ncrls = [\"ca-revokes-client.crl.pem\"]",
        );
        let ssp = SspConfig::from_toml_str(&with_crl)
            .unwrap()
            .build(&data)
            .unwrap();
        assert_eq!(
            ssp.cam().verifier().verify(&client, PeerRole::Client),
            Err(dtls::CertificateError::Revoked)
        );
        let ssp = SspConfig::from_toml_str(GOOD)
            .unwrap()
            .build(&data)
            .unwrap();
        assert!(
            ssp.cam()
                .verifier()
                .verify(&client, PeerRole::Client)
                .is_ok()
        );
        let bad = GOOD.replace(
            "anchors = \"ca.pem\"",
            "anchors = \"ca.pem\"\ncrls = [\"missing.crl\", \"client.pem\"]",
        );
        let Err(e) = SspConfig::from_toml_str(&bad).unwrap().build(&data) else {
            panic!("bad CRLs")
        };
        let keys: Vec<&str> = e.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["trust.crls[0]"],
            "the first failure stops the verifier: {e}"
        );
        let bad = GOOD.replace(
            "anchors = \"ca.pem\"",
            "anchors = \"ca.pem\"\ncrls = [\"client.pem\"]",
        );
        let Err(e) = SspConfig::from_toml_str(&bad).unwrap().build(&data) else {
            panic!("not a CRL")
        };
        assert!(e.names("trust.crls[0]"), "{e}");
        let deny = format!(
            "{GOOD}[[authorization.rules]]\naction = \"deny\"\nclient = \"cn:client.example\"\nmotes = [\"*\"]\n"
        );
        let p = SspConfig::from_toml_str(&deny).unwrap().policy().unwrap();
        assert_eq!(
            p.rules.iter().map(|r| r.verdict).collect::<Vec<_>>(),
            [Verdict::Allow, Verdict::Deny]
        );
        assert!(SspConfig::from_toml_str(&deny.replace("\"deny\"", "\"maybe\"")).is_err());
    }

    /// A mote's outbound servers: each needs an address and a name its certificate can be
    /// checked against, once; unreadable anchors are reported under their key.
    #[test]
    fn outbound_servers_are_checked() {
        let with =
            |entry: &str| GOOD.replace("[trust]", &format!("[[motes.outbound]]\n{entry}\n[trust]"));
        let c =
            SspConfig::from_toml_str(&with("address = \"2001:db8::10\"\nname = \"coap.example\""))
                .unwrap();
        assert_eq!(
            (
                c.motes[0].outbound[0].port,
                c.motes[0].outbound[0].name.as_str()
            ),
            (5684, "coap.example")
        );
        for (entry, key) in [
            ("name = \"coap.example\"", "motes[0].outbound[0].address"),
            ("address = \"2001:db8::10\"", "motes[0].outbound[0].name"),
            (
                "address = \"2001:db8::10\"\nname = \"not a name!\"",
                "motes[0].outbound[0].name",
            ),
            (
                "address = \"2001:db8::10\"\nname = \"a.example\"\nport = 0",
                "motes[0].outbound[0].port",
            ),
            (
                "address = \"2001:db8::10\"\nraw_public_key = \"rpk-sha256:00\"",
                "motes[0].outbound[0].raw_public_key",
            ),
            (
                "address = \"2001:db8::10\"\nraw_public_key = \"cn:a.example\"",
                "motes[0].outbound[0].raw_public_key",
            ),
        ] {
            let e = SspConfig::from_toml_str(&with(entry)).unwrap_err();
            assert!(e.names(key), "{entry}: {e}");
        }
        // A server named by its raw key alone: no certificate name needed, the key pinned,
        // the mote presented as its certificate_types say.
        let key = format!("rpk-sha256:{}", "ab".repeat(32));
        let raw_only = with(&format!(
            "address = \"2001:db8::11\"\nraw_public_key = \"{key}\""
        ))
        .replace(
            "[[motes.outbound]]",
            "certificate_types = [\"raw-public-key\", \"x509\"]\n[[motes.outbound]]",
        );
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data");
        let ssp = SspConfig::from_toml_str(&raw_only)
            .unwrap()
            .build(&data)
            .unwrap();
        let server = &ssp.profile("mote-1").unwrap().outbound[0];
        assert_eq!(server.name, key);
        let client = &server.client;
        assert!(client.server_verifier.is_none() && client.server_name.is_none());
        assert!(
            matches!(&client.server_raw_public_keys, Some(RawKeyTrust::Pinned(h)) if h == &vec![[0xab; 32]])
        );
        assert_eq!(
            client.certificate_types,
            [CertificateType::RawPublicKey, CertificateType::X509]
        );
        let c = SspConfig::from_toml_str(&with(
            "address = \"2001:db8::10\"\nname = \"a.example\"\ntrust_anchors = \"missing.pem\"",
        ))
        .unwrap();
        let Err(e) = c.build(&data) else {
            panic!("the anchors are missing")
        };
        assert!(e.names("motes[0].outbound[0].trust_anchors"), "{e}");
    }

    /// Files that cannot be read are all reported, each under its key.
    /// key = "mote": the certificate alone is read and held; a private key for such a mote is
    /// refused with a message that says why, as is the psk-handshake leg.
    #[test]
    fn keyless_motes_hold_no_private_key() {
        let base = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../dtls/tests/data"));
        let holding = SspConfig::from_toml_str(GOOD).unwrap().build(base).unwrap();
        assert_eq!(
            (holding.private_keys_held(), holding.keyless_motes()),
            (1, 0)
        );
        let text = GOOD.replace("private_key = \"server.key\"\n", "key = \"mote\"\n");
        let c = SspConfig::from_toml_str(&text).unwrap();
        assert_eq!(c.motes[0].key, KeyHolder::Mote);
        let i = c.build(base).unwrap();
        assert_eq!((i.private_keys_held(), i.keyless_motes()), (0, 1));
        assert_eq!(i.holds_private_key_of("mote-1"), Some(false));
        let counters = crate::status::counter_list(&i);
        assert!(
            counters.contains(&("private_keys_held".to_string(), 0)),
            "{counters:?}"
        );
        assert!(counters.contains(&("keyless_motes".to_string(), 1)));

        let with_key = GOOD.replace("psk_identity", "key = \"mote\"\npsk_identity");
        let e = SspConfig::from_toml_str(&with_key).unwrap_err();
        assert!(e.names("motes[0].private_key"), "{e}");
        assert!(e.to_string().contains("stays on the mote"), "{e}");
        let psk_leg = text.replace("psk_identity", "leg = \"psk-handshake\"\npsk_identity");
        assert!(
            SspConfig::from_toml_str(&psk_leg)
                .unwrap_err()
                .names("motes[0].key")
        );
        let no_chain = text.replace("certificate_chain = \"server.pem\"\n", "");
        assert!(
            SspConfig::from_toml_str(&no_chain)
                .unwrap_err()
                .names("motes[0].certificate_chain")
        );
        assert!(
            SspConfig::from_toml_str(&GOOD.replace("psk_identity", "key = \"hsm\"\npsk_identity"))
                .is_err()
        );
    }

    #[test]
    fn every_unreadable_file_is_reported() {
        let text = GOOD
            .replace("server.key", "missing.key")
            .replace("ca.pem", "missing-ca.pem");
        let c = SspConfig::from_toml_str(&text).unwrap();
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data");
        let Err(e) = c.build(&data) else {
            panic!("files are missing")
        };
        let keys: Vec<&str> = e.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["trust.anchors", "motes[0].private_key"], "{e}");
    }
}
