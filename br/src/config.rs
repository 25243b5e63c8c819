//! The daemon's typed configuration: a TOML file plus `LOWPAN_*` environment overrides.
//!
//! Every key has a default, so an empty file is a valid configuration. Loading never
//! accepts a file it does not fully understand: unknown keys (which the `config` crate
//! ignores silently) and out-of-range values are refused with the dotted key and the reason.
//!
//! Environment overrides: `LOWPAN_<SECTION>__<KEY>`, e.g. `LOWPAN_RADIO__BAUD=57600`,
//! `LOWPAN_RADIO__PEERS=127.0.0.1:17755,127.0.0.1:17756` (lists are comma-separated).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use lowpan::ieee802154::Eui64;
use serde::{Deserialize, Deserializer, Serialize};

/// The commented default configuration, also shipped as `br/lowpan-br.toml`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../lowpan-br.toml");

/// Environment variable prefix for overrides.
pub const ENV_PREFIX: &str = "LOWPAN";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    pub radio: RadioConfig,
    pub tun: TunConfig,
    pub network: NetworkConfig,
    /// Known motes (`[[mote]]` tables). Others are learned from the frames they send.
    #[serde(rename = "mote")]
    pub motes: Vec<MoteConfig>,
    /// Handshake redirection: the HRM's limits and the redirect socket.
    pub hrm: HrmSection,
    /// IoTSSPs that delegated motes name (`[[iotssp]]` tables).
    #[serde(rename = "iotssp")]
    pub iotssps: Vec<IotsspConfig>,
    pub capture: CaptureConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RadioKind {
    /// A slip-radio on a serial device.
    Serial,
    /// A slip-radio behind a TCP socket (ser2net style, or `motesim --listen`).
    Tcp,
    /// ZEP v2 over UDP: the border router itself behaves as the radio.
    Zep,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RadioConfig {
    pub kind: RadioKind,
    /// Serial device path (kind = "serial").
    pub device: String,
    pub baud: u32,
    /// RTS/CTS hardware flow control (kind = "serial").
    pub flow_control: bool,
    /// `host:port` of the slip-radio TCP server (kind = "tcp").
    pub address: String,
    /// Reconnect backoff bounds for the TCP radio, milliseconds.
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// Local UDP address for ZEP (kind = "zep").
    pub bind: String,
    /// ZEP peers (emulated nodes or sniffers), `host:port`.
    pub peers: Vec<String>,
    /// 802.15.4 channel (11..=26); used by ZEP framing and filtering.
    pub channel: u8,
    /// PAN identifier; accepts an integer (`0xabcd` in TOML) or a string ("0xabcd").
    #[serde(deserialize_with = "de_u16_flexible")]
    pub pan_id: u16,
    /// Our own EUI-64 when kind = "zep" (serial/tcp radios report theirs with `!M`).
    pub eui64: String,
    /// Frames in flight to the radio at once (slip-radio `!S` window).
    pub window: usize,
    /// Minimum gap between two frames handed to the radio, microseconds.
    pub min_gap_us: u64,
    /// Maximum MAC transmissions per frame (slip-radio attribute 5; ZEP retries).
    pub max_tx: u8,
    /// Frames queued for the radio before new ones are dropped (and counted).
    pub queue_frames: usize,
}

impl Default for RadioConfig {
    fn default() -> Self {
        RadioConfig {
            kind: RadioKind::Serial,
            device: "/dev/ttyUSB0".into(),
            baud: 115_200,
            flow_control: false,
            address: "127.0.0.1:60001".into(),
            reconnect_min_ms: 100,
            reconnect_max_ms: 5_000,
            bind: "127.0.0.1:17754".into(),
            peers: Vec::new(),
            channel: 26,
            pan_id: 0xabcd,
            eui64: "02:00:00:00:00:00:00:01".into(),
            window: 4,
            min_gap_us: 0,
            max_tx: 4,
            queue_frames: 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TunConfig {
    pub name: String,
    /// IPv6 MTU of the TUN; at least 1280 (RFC 8200), at most 2047 (RFC 4944 datagram_size).
    pub mtu: u32,
}

impl Default for TunConfig {
    fn default() -> Self {
        TunConfig { name: "lowpan0".into(), mtu: 1280 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkConfig {
    /// The mesh prefix, a /64; also 6LoWPAN context 0.
    pub prefix: String,
    /// The host's address on the TUN (inside the prefix).
    pub address: String,
    /// Router Advertisement: router lifetime, seconds (0 = not a default router).
    pub ra_router_lifetime_s: u16,
    /// Prefix Information Option valid / preferred lifetimes, seconds.
    pub ra_valid_lifetime_s: u32,
    pub ra_preferred_lifetime_s: u32,
    /// 6LoWPAN Context Option valid lifetime, minutes (RFC 6775 section 4.2).
    pub context_lifetime_min: u16,
    /// Cur Hop Limit advertised in RAs.
    pub ra_hop_limit: u8,
    /// Upper bound on neighbour-table entries learned from received frames.
    pub max_learned_motes: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            prefix: "fd00:aaaa::/64".into(),
            address: "fd00:aaaa::1".into(),
            ra_router_lifetime_s: 1800,
            ra_valid_lifetime_s: 86_400,
            ra_preferred_lifetime_s: 14_400,
            context_lifetime_min: 60,
            ra_hop_limit: 64,
            max_learned_motes: 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MoteConfig {
    pub eui64: String,
    pub name: String,
    /// Optional 16-bit short address the mote uses on air.
    #[serde(deserialize_with = "de_opt_u16_flexible", skip_serializing_if = "Option::is_none")]
    pub short: Option<u16>,
    /// What the border router does with DTLS traffic to this mote.
    pub policy: MotePolicy,
    /// The IoTSSP (an `[[iotssp]]` name) that runs this mote's handshakes (policy = "delegate").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotssp: Option<String>,
    /// The mote's DTLS port when it is not `hrm.dtls_port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtls_port: Option<u16>,
}

/// Per-mote handling of DTLS traffic from the Internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MotePolicy {
    /// Bridged untouched (motes without delegation, full-DTLS and PSK devices).
    #[default]
    Passthrough,
    /// Handshakes go to the mote's IoTSSP; the mote receives the finished session.
    Delegate,
}

/// `[hrm]`: the Handshake Redirection Module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HrmSection {
    /// Default DTLS port of delegated motes.
    pub dtls_port: u16,
    /// Flows (handshakes and transferred sessions) held at once.
    pub max_flows: usize,
    /// A handshake with no diverted traffic for this long is forgotten, seconds.
    pub handshake_idle_secs: u64,
    /// A transferred session with no traffic for this long is forgotten, seconds.
    pub session_idle_secs: u64,
    /// Application data on a flow not known as transferred: "forward" (the mote
    /// authenticates it) or "drop".
    pub unknown_flow: hrm::UnknownFlowPolicy,
    /// UDP socket for the redirect protocol with remote IoTSSPs (needed when one is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_listen: Option<String>,
    /// UDP port from which an attached IoTSSP talks to motes (source address: `network.address`).
    pub attached_port: u16,
}

/// Default source port of an attached IoTSSP towards its motes.
pub const DEFAULT_ATTACHED_PORT: u16 = 5690;

impl Default for HrmSection {
    fn default() -> Self {
        let h = hrm::HrmConfig::default();
        HrmSection {
            dtls_port: h.dtls_port,
            max_flows: h.max_flows,
            handshake_idle_secs: h.handshake_idle_secs,
            session_idle_secs: h.session_idle_secs,
            unknown_flow: h.unknown_flow,
            redirect_listen: None,
            attached_port: DEFAULT_ATTACHED_PORT,
        }
    }
}

/// A redirect-channel key as written in the file: hex, never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct SecretHex(pub String);

impl fmt::Debug for SecretHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// `[[iotssp]]`: an IoTSSP, attached (inside lowpan-br) or remote (an `iotssp` service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IotsspConfig {
    pub name: String,
    /// Run it inside lowpan-br, configured by `config` (an iotssp TOML file).
    pub attached: bool,
    /// Attached: path of the iotssp configuration (its `[redirect]` section is ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// Remote: the iotssp's redirect socket, `[host]:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Remote: the redirect-channel key in hex (or `key_file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretHex>,
    /// Remote: a file holding the key in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Remote: the key's id, as configured on the iotssp side.
    pub key_id: u32,
    /// Remote: a Hello goes to the IoTSSP when nothing else was sent for this long (ms).
    pub keepalive_ms: u64,
    /// Remote: the IoTSSP counts as down when nothing authenticated came from it for this
    /// long (ms); its motes' handshakes are then answered with an alert (docs/protocol.md,
    /// rule R12). Must exceed the IoTSSP's own keepalive (1 s by default).
    pub dead_after_ms: u64,
}

/// Bounds of `[[iotssp]]` `keepalive_ms` / `dead_after_ms`.
pub const KEEPALIVE_MS: std::ops::RangeInclusive<u64> = 100..=60_000;
pub const DEAD_AFTER_MS: std::ops::RangeInclusive<u64> = 500..=600_000;

impl Default for IotsspConfig {
    fn default() -> Self {
        let channel = hrm::ChannelConfig::default();
        IotsspConfig {
            name: String::new(),
            attached: false,
            config: None,
            address: None,
            key: None,
            key_file: None,
            key_id: 1,
            keepalive_ms: u64::try_from(channel.keepalive.as_millis()).unwrap_or(1000),
            dead_after_ms: u64::try_from(channel.dead_after.as_millis()).unwrap_or(3000),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureConfig {
    /// pcap file (LINKTYPE 230, IEEE 802.15.4 without FCS) of every radio frame both ways.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<PathBuf>,
    pub flush_interval_ms: u64,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig { pcap: None, flush_interval_ms: 1000 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Prometheus text exposition over HTTP at `host:port` (off when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Period of the counter summary in the log, seconds (0 = off).
    pub summary_interval_s: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { listen: None, summary_interval_s: 60 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// A tracing filter directive ("info", "lowpan_br=debug,warn"); RUST_LOG wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: "info".into() }
    }
}

/// One thing wrong with a configuration: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("configuration file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid configuration ({} problem{}):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" },
        .0.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigIssue>),
}

impl ConfigError {
    /// The issues when the configuration was readable but wrong.
    pub fn issues(&self) -> &[ConfigIssue] {
        match self {
            ConfigError::Invalid(v) => v,
            _ => &[],
        }
    }
}

pub use lowpan::Prefix64;

impl Config {
    /// Load `path` (or defaults only when `None`), apply overrides from `env` (pass
    /// `std::env::vars()`; only `LOWPAN_*` entries are looked at) and validate.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|source| ConfigError::Read { path: p.to_owned(), source })?,
            None => String::new(),
        };
        let origin = path.map(Path::to_owned).unwrap_or_else(|| PathBuf::from("<defaults>"));
        Self::load_str(&text, &origin, env)
    }

    /// As [`Config::load`], with the file contents given.
    pub fn load_str(
        text: &str,
        origin: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;

        let schema = schema();
        let mut issues = Vec::new();
        unknown_keys(&toml::Value::Table(table), &schema, "", &mut issues);

        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| {
                k.len() > ENV_PREFIX.len() + 1
                    && k[..ENV_PREFIX.len() + 1].eq_ignore_ascii_case(&format!("{ENV_PREFIX}_"))
            })
            .collect();
        for var in env.keys() {
            let dotted = var[ENV_PREFIX.len() + 1..].to_ascii_lowercase().replace("__", ".");
            if !is_known_leaf(&schema, &dotted) {
                issues.push(ConfigIssue {
                    key: dotted,
                    reason: format!("unknown key (from environment variable {var})"),
                });
            }
        }
        if !issues.is_empty() {
            return Err(ConfigError::Invalid(issues));
        }

        let built = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    // `.separator` would also change the prefix separator (crates.md).
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("radio.peers")
                    .source(Some(env.into_iter().collect())),
            )
            .build()
            .and_then(|c| c.try_deserialize::<Config>())
            .map_err(|e| ConfigError::Invalid(vec![issue_from_config_error(&e)]))?;

        let issues = built.validate();
        if issues.is_empty() { Ok(built) } else { Err(ConfigError::Invalid(issues)) }
    }

    /// Every semantic problem, each naming its key.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut v = Vec::new();
        let mut bad = |key: &str, reason: String| v.push(ConfigIssue { key: key.into(), reason });
        let r = &self.radio;
        match r.kind {
            RadioKind::Serial => {
                if r.device.is_empty() {
                    bad("radio.device", "must name a serial device when radio.kind = \"serial\"".into());
                }
                if r.baud == 0 {
                    bad("radio.baud", "must be greater than 0".into());
                }
            }
            RadioKind::Tcp => {
                if let Err(why) = check_host_port(&r.address) {
                    bad("radio.address", why);
                }
            }
            RadioKind::Zep => {
                if r.bind.parse::<SocketAddr>().is_err() {
                    bad("radio.bind", format!("{:?} is not an IP address and port", r.bind));
                }
                if r.peers.is_empty() {
                    bad("radio.peers", "needs at least one ZEP peer when radio.kind = \"zep\"".into());
                }
                for (i, p) in r.peers.iter().enumerate() {
                    if p.parse::<SocketAddr>().is_err() {
                        bad(&format!("radio.peers[{i}]"), format!("{p:?} is not an IP address and port"));
                    }
                }
                match parse_eui64(&r.eui64) {
                    Ok(e) if e.0[0] & 0x01 != 0 => {
                        bad("radio.eui64", "must be a unicast EUI-64 (group bit of the first byte set)".into())
                    }
                    Ok(_) => {}
                    Err(why) => bad("radio.eui64", why),
                }
            }
        }
        if r.reconnect_min_ms == 0 {
            bad("radio.reconnect_min_ms", "must be at least 1".into());
        }
        if r.reconnect_max_ms < r.reconnect_min_ms {
            bad("radio.reconnect_max_ms", "must not be less than radio.reconnect_min_ms".into());
        }
        if !(11..=26).contains(&r.channel) {
            bad("radio.channel", format!("{} is not a 2.4 GHz 802.15.4 channel (11..=26)", r.channel));
        }
        if r.pan_id == 0xffff {
            bad("radio.pan_id", "0xffff is the broadcast PAN identifier".into());
        }
        if !(1..=16).contains(&r.window) {
            bad("radio.window", format!("{} is outside 1..=16 (the slip-radio sid ring has 16 entries)", r.window));
        }
        if r.max_tx == 0 {
            bad("radio.max_tx", "must be at least 1".into());
        }
        if r.min_gap_us > 1_000_000 {
            bad("radio.min_gap_us", "more than one second between frames is surely a mistake".into());
        }
        if !(1..=65_536).contains(&r.queue_frames) {
            bad("radio.queue_frames", format!("{} is outside 1..=65536", r.queue_frames));
        }

        if self.tun.name.is_empty() || self.tun.name.len() > 15 || self.tun.name.contains(['/', ' ']) {
            bad("tun.name", format!("{:?} is not a Linux interface name (1-15 characters, no '/' or space)", self.tun.name));
        }
        if !(1280..=2047).contains(&self.tun.mtu) {
            bad("tun.mtu", format!("{} is outside 1280..=2047 (IPv6 minimum MTU .. RFC 4944 datagram_size)", self.tun.mtu));
        }

        let n = &self.network;
        let prefix = match parse_prefix64(&n.prefix) {
            Ok(p) => Some(p),
            Err(why) => {
                bad("network.prefix", why);
                None
            }
        };
        match n.address.parse::<Ipv6Addr>() {
            Ok(a) => {
                if let Some(p) = prefix
                    && !p.contains(&a)
                {
                    bad("network.address", format!("{a} is not inside network.prefix {}", n.prefix));
                }
                if a.octets()[8..] == [0; 8] {
                    bad("network.address", "the all-zero interface identifier is the subnet-router anycast address".into());
                }
            }
            Err(_) => bad("network.address", format!("{:?} is not an IPv6 address", n.address)),
        }
        if n.ra_preferred_lifetime_s > n.ra_valid_lifetime_s {
            bad("network.ra_preferred_lifetime_s", "must not exceed network.ra_valid_lifetime_s".into());
        }
        if n.ra_router_lifetime_s > 9000 {
            bad("network.ra_router_lifetime_s", "RFC 4861 caps the router lifetime at 9000 s".into());
        }
        if n.max_learned_motes > 1_000_000 {
            bad("network.max_learned_motes", "more than 1000000 is surely a mistake".into());
        }

        let mut seen_eui = BTreeMap::new();
        let mut seen_short = BTreeMap::new();
        for (i, m) in self.motes.iter().enumerate() {
            match parse_eui64(&m.eui64) {
                Ok(e) => {
                    if let Some(first) = seen_eui.insert(e, i) {
                        bad(&format!("mote[{i}].eui64"), format!("{} is already used by mote[{first}]", m.eui64));
                    }
                }
                Err(why) => bad(&format!("mote[{i}].eui64"), why),
            }
            if let Some(s) = m.short {
                if s >= 0xfffe {
                    bad(&format!("mote[{i}].short"), format!("{s:#06x} is reserved (0xfffe: none, 0xffff: broadcast)"));
                } else if let Some(first) = seen_short.insert(s, i) {
                    bad(&format!("mote[{i}].short"), format!("{s:#06x} is already used by mote[{first}]"));
                }
            }
        }

        self.validate_redirection(&mut bad);

        if let Some(p) = &self.capture.pcap
            && p.as_os_str().is_empty()
        {
            bad("capture.pcap", "must not be empty (leave it out to disable capture)".into());
        }
        if self.capture.flush_interval_ms == 0 {
            bad("capture.flush_interval_ms", "must be at least 1".into());
        }
        if let Some(l) = &self.metrics.listen
            && l.parse::<SocketAddr>().is_err()
        {
            bad("metrics.listen", format!("{l:?} is not an IP address and port"));
        }
        if let Err(why) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            bad("log.level", format!("{:?} is not a tracing filter: {why}", self.log.level));
        }
        v
    }

    fn validate_redirection(&self, bad: &mut impl FnMut(&str, String)) {
        let h = &self.hrm;
        if h.dtls_port == 0 {
            bad("hrm.dtls_port", "must not be 0".into());
        }
        if h.max_flows == 0 || h.max_flows > 10_000_000 {
            bad("hrm.max_flows", format!("{} is outside 1..=10000000", h.max_flows));
        }
        if h.handshake_idle_secs == 0 {
            bad("hrm.handshake_idle_secs", "must be at least 1".into());
        }
        if h.session_idle_secs == 0 {
            bad("hrm.session_idle_secs", "must be at least 1".into());
        }
        if h.attached_port == 0 {
            bad("hrm.attached_port", "must not be 0".into());
        }
        if let Some(l) = &h.redirect_listen
            && l.parse::<SocketAddr>().is_err()
        {
            bad("hrm.redirect_listen", format!("{l:?} is not an IP address and port (e.g. \"[::]:7701\")"));
        }
        let mut names = BTreeMap::new();
        for (i, s) in self.iotssps.iter().enumerate() {
            let k = |f: &str| format!("iotssp[{i}].{f}");
            if s.name.trim().is_empty() {
                bad(&k("name"), "must not be empty".into());
            } else if let Some(first) = names.insert(s.name.as_str(), i) {
                bad(&k("name"), format!("{:?} is already used by iotssp[{first}]", s.name));
            }
            if s.attached {
                match &s.config {
                    None => bad(&k("config"), "an attached IoTSSP needs its iotssp configuration file".into()),
                    Some(p) if p.as_os_str().is_empty() => bad(&k("config"), "must not be empty".into()),
                    Some(_) => {}
                }
                for (f, given) in [("address", s.address.is_some()), ("key", s.key.is_some()), ("key_file", s.key_file.is_some())] {
                    if given {
                        bad(&k(f), "only for a remote IoTSSP (attached = false)".into());
                    }
                }
                if h.attached_port == h.dtls_port {
                    bad("hrm.attached_port", "must differ from hrm.dtls_port".into());
                }
                continue;
            }
            if s.config.is_some() {
                bad(&k("config"), "only for an attached IoTSSP (attached = true)".into());
            }
            match &s.address {
                None => bad(&k("address"), "a remote IoTSSP needs its redirect address \"[host]:port\" (or attached = true)".into()),
                Some(a) => {
                    if a.parse::<SocketAddr>().is_err() {
                        bad(&k("address"), format!("{a:?} is not an IP address and port"));
                    }
                }
            }
            match (&s.key, &s.key_file) {
                (None, None) => bad(&k("key"), "a remote IoTSSP needs key or key_file".into()),
                (Some(_), Some(_)) => bad(&k("key_file"), "give key or key_file, not both".into()),
                // The reason names the problem, never the key.
                (Some(key), None) => {
                    if let Err(e) = hrm::RedirectKey::from_hex(s.key_id, &key.0) {
                        bad(&k("key"), e.to_string());
                    }
                }
                (None, Some(p)) if p.as_os_str().is_empty() => bad(&k("key_file"), "must not be empty".into()),
                (None, Some(_)) => {}
            }
            if h.redirect_listen.is_none() {
                bad("hrm.redirect_listen", format!("needed for the remote IoTSSP iotssp[{i}] (e.g. \"[::]:7701\")"));
            }
            if !KEEPALIVE_MS.contains(&s.keepalive_ms) {
                bad(&k("keepalive_ms"), format!("must be within {}..={} ms", KEEPALIVE_MS.start(), KEEPALIVE_MS.end()));
            }
            if !DEAD_AFTER_MS.contains(&s.dead_after_ms) {
                bad(&k("dead_after_ms"), format!("must be within {}..={} ms", DEAD_AFTER_MS.start(), DEAD_AFTER_MS.end()));
            } else if s.dead_after_ms < s.keepalive_ms.saturating_mul(2) {
                // One lost Hello must not declare the IoTSSP down and alert its clients.
                bad(&k("dead_after_ms"), format!("must be at least twice keepalive_ms ({} ms)", s.keepalive_ms));
            }
        }
        for (i, m) in self.motes.iter().enumerate() {
            match (m.policy, &m.iotssp) {
                (MotePolicy::Delegate, None) => bad(&format!("mote[{i}].iotssp"), "policy = \"delegate\" needs the name of an [[iotssp]]".into()),
                (MotePolicy::Delegate, Some(n)) if !names.contains_key(n.as_str()) => {
                    bad(&format!("mote[{i}].iotssp"), format!("no [[iotssp]] named {n:?}"))
                }
                (MotePolicy::Passthrough, Some(_)) => {
                    bad(&format!("mote[{i}].iotssp"), "only for policy = \"delegate\"".into())
                }
                _ => {}
            }
            if m.dtls_port == Some(0) {
                bad(&format!("mote[{i}].dtls_port"), "must not be 0".into());
            }
        }
    }

    /// The global address of a configured mote: the prefix and the IID of its EUI-64.
    pub fn mote_address(&self, m: &MoteConfig) -> Option<Ipv6Addr> {
        let eui = parse_eui64(&m.eui64).ok()?;
        Some(self.prefix().with_iid(lowpan::ip::iid_from_eui64(eui)))
    }

    /// The configured prefix. Only meaningful on a validated configuration.
    pub fn prefix(&self) -> Prefix64 {
        parse_prefix64(&self.network.prefix).unwrap_or(Prefix64::from_octets([0; 8]))
    }

    /// The host address on the TUN. Only meaningful on a validated configuration.
    pub fn host_address(&self) -> Ipv6Addr {
        self.network.address.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
    }
}

/// Parse an EUI-64 written with or without colons, with a message for the operator.
pub fn parse_eui64(s: &str) -> Result<Eui64, String> {
    s.parse::<Eui64>().map_err(|e| format!("{s:?} is not an EUI-64: {e}"))
}

/// Parse `network.prefix` ("addr/64", the rule of [`Prefix64`]'s `FromStr`).
pub fn parse_prefix64(s: &str) -> Result<Prefix64, String> {
    s.parse().map_err(|e| format!("{s:?} {e}"))
}

fn check_host_port(s: &str) -> Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) => Ok(()),
        _ => Err(format!("{s:?} is not host:port")),
    }
}

fn de_u16_flexible<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrStr {
        Int(i64),
        Str(String),
    }
    let parsed = match IntOrStr::deserialize(d)? {
        IntOrStr::Int(i) => u16::try_from(i).ok(),
        IntOrStr::Str(s) => {
            let t = s.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => u16::from_str_radix(hex, 16).ok(),
                None => t.parse().ok(),
            }
        }
    };
    parsed.ok_or_else(|| serde::de::Error::custom("expected a 16-bit integer (0..=65535 or \"0x....\")"))
}

fn de_opt_u16_flexible<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    de_u16_flexible(d).map(Some)
}

fn issue_from_config_error(e: &config::ConfigError) -> ConfigIssue {
    // The config crate puts the key in its messages as "for key `a.b`" or "... `a.b`".
    let msg = e.to_string();
    let key = msg
        .split_once("for key `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(k, _)| dotted_key(k))
        .unwrap_or_else(|| "<file>".to_string());
    ConfigIssue { key, reason: msg }
}

/// The config crate spells array members `mote[0]policy`; we say `mote[0].policy`.
fn dotted_key(k: &str) -> String {
    let mut out = String::with_capacity(k.len() + 2);
    let mut chars = k.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']' && chars.peek().is_some_and(|n| n.is_ascii_alphabetic()) {
            out.push('.');
        }
    }
    out
}

/// The key tree of a configuration with every optional key present.
fn schema() -> toml::Value {
    let mut c = Config::default();
    c.capture.pcap = Some("x".into());
    c.metrics.listen = Some("x".into());
    c.radio.peers = vec!["x".into()];
    c.motes = vec![MoteConfig {
        eui64: "x".into(),
        name: "x".into(),
        short: Some(1),
        policy: MotePolicy::Delegate,
        iotssp: Some("x".into()),
        dtls_port: Some(1),
    }];
    c.hrm.redirect_listen = Some("x".into());
    c.iotssps = vec![IotsspConfig {
        name: "x".into(),
        attached: true,
        config: Some("x".into()),
        address: Some("x".into()),
        key: Some(SecretHex("x".into())),
        key_file: Some("x".into()),
        key_id: 1,
        ..IotsspConfig::default()
    }];
    toml::Value::try_from(&c).unwrap_or(toml::Value::Table(Default::default()))
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") }
}

fn unknown_keys(value: &toml::Value, schema: &toml::Value, prefix: &str, out: &mut Vec<ConfigIssue>) {
    match (value, schema) {
        (toml::Value::Table(t), toml::Value::Table(s)) => {
            for (k, v) in t {
                match s.get(k) {
                    Some(sv) => unknown_keys(v, sv, &join(prefix, k), out),
                    None => {
                        let known: Vec<&str> = s.keys().map(String::as_str).collect();
                        out.push(ConfigIssue {
                            key: join(prefix, k),
                            reason: format!("unknown key (known here: {})", known.join(", ")),
                        });
                    }
                }
            }
        }
        (toml::Value::Array(items), toml::Value::Array(s)) => {
            if let Some(elem) = s.first() {
                for (i, item) in items.iter().enumerate() {
                    unknown_keys(item, elem, &format!("{prefix}[{i}]"), out);
                }
            }
        }
        // Type mismatches are reported by deserialization with the key.
        _ => {}
    }
}

fn is_known_leaf(schema: &toml::Value, dotted: &str) -> bool {
    let mut node = schema;
    for part in dotted.split('.') {
        match node {
            toml::Value::Table(t) => match t.get(part) {
                Some(n) => node = n,
                None => return false,
            },
            _ => return false,
        }
    }
    !matches!(node, toml::Value::Table(_)) && !matches!(node, toml::Value::Array(a) if a.first().is_some_and(|e| e.is_table()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::load_str(text, Path::new("test.toml"), Vec::<(String, String)>::new())
    }

    fn load_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load_str(text, Path::new("test.toml"), env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn keys(e: ConfigError) -> Vec<String> {
        e.issues().iter().map(|i| i.key.clone()).collect()
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(load("").unwrap(), Config::default());
    }

    #[test]
    fn shipped_default_file_equals_defaults() {
        assert_eq!(load(DEFAULT_CONFIG_TOML).unwrap(), Config::default());
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let d = Config::default();
        assert_eq!(d.radio.baud, 115_200);
        assert_eq!(d.radio.pan_id, 0xabcd);
        assert_eq!(d.tun.mtu, 1280);
        assert_eq!(d.network.prefix, "fd00:aaaa::/64");
        assert!(d.validate().is_empty(), "{:?}", d.validate());
        // Every key of the schema is mentioned in the shipped file (commented or not).
        fn leaves(v: &toml::Value, p: &str, out: &mut Vec<String>) {
            match v {
                toml::Value::Table(t) => t.iter().for_each(|(k, v)| leaves(v, k, out)),
                toml::Value::Array(a) if a.first().is_some_and(|e| e.is_table()) => leaves(&a[0], p, out),
                _ => out.push(p.to_string()),
            }
        }
        let mut all = Vec::new();
        leaves(&schema(), "", &mut all);
        for k in all {
            assert!(DEFAULT_CONFIG_TOML.contains(&format!("{k} =")), "key {k} not documented in lowpan-br.toml");
        }
    }

    #[test]
    fn full_file_parses() {
        let c = load(
            r#"
            [radio]
            kind = "zep"
            bind = "127.0.0.1:17754"
            peers = ["127.0.0.1:17755", "[::1]:17756"]
            pan_id = 0x1234
            eui64 = "02124b0000000001"
            [tun]
            name = "lp1"
            [[mote]]
            eui64 = "00:12:4b:00:00:00:00:02"
            name = "kitchen"
            short = 0x0002
            [[mote]]
            eui64 = "00124b0000000003"
            name = "hall"
            [capture]
            pcap = "/tmp/x.pcap"
            [metrics]
            listen = "127.0.0.1:9700"
            "#,
        )
        .unwrap();
        assert_eq!(c.radio.kind, RadioKind::Zep);
        assert_eq!(c.radio.pan_id, 0x1234);
        assert_eq!(c.radio.peers.len(), 2);
        assert_eq!(c.motes.len(), 2);
        assert_eq!(c.motes[0].short, Some(2));
        assert_eq!(parse_eui64(&c.motes[1].eui64).unwrap().0, [0, 0x12, 0x4b, 0, 0, 0, 0, 3]);
        assert_eq!(c.capture.pcap.as_deref(), Some(Path::new("/tmp/x.pcap")));
    }

    #[test]
    fn unknown_keys_are_reported_with_path() {
        let e = load("[radio]\nbuad = 9600\n[bogus]\nx = 1\n[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\nnmae = \"a\"\n").unwrap_err();
        let k = keys(e);
        assert!(k.contains(&"radio.buad".to_string()), "{k:?}");
        assert!(k.contains(&"bogus".to_string()), "{k:?}");
        assert!(k.contains(&"mote[0].nmae".to_string()), "{k:?}");
    }

    #[test]
    fn each_validation_error_names_its_key() {
        let cases: &[(&str, &str)] = &[
            ("[radio]\nchannel = 5", "radio.channel"),
            ("[radio]\npan_id = 0xffff", "radio.pan_id"),
            ("[radio]\nwindow = 0", "radio.window"),
            ("[radio]\nwindow = 17", "radio.window"),
            ("[radio]\nmax_tx = 0", "radio.max_tx"),
            ("[radio]\nqueue_frames = 0", "radio.queue_frames"),
            ("[radio]\nmin_gap_us = 5000000", "radio.min_gap_us"),
            ("[radio]\ndevice = \"\"", "radio.device"),
            ("[radio]\nbaud = 0", "radio.baud"),
            ("[radio]\nreconnect_min_ms = 0", "radio.reconnect_min_ms"),
            ("[radio]\nreconnect_min_ms = 10\nreconnect_max_ms = 5", "radio.reconnect_max_ms"),
            ("[radio]\nkind = \"tcp\"\naddress = \"nope\"", "radio.address"),
            ("[radio]\nkind = \"zep\"\npeers = []", "radio.peers"),
            ("[radio]\nkind = \"zep\"\npeers = [\"x\"]", "radio.peers[0]"),
            ("[radio]\nkind = \"zep\"\npeers = [\"127.0.0.1:1\"]\nbind = \"x\"", "radio.bind"),
            ("[radio]\nkind = \"zep\"\npeers = [\"127.0.0.1:1\"]\neui64 = \"zz\"", "radio.eui64"),
            ("[radio]\nkind = \"zep\"\npeers = [\"127.0.0.1:1\"]\neui64 = \"01:00:00:00:00:00:00:01\"", "radio.eui64"),
            ("[radio]\nkind = \"carrier-pigeon\"", "radio.kind"),
            ("[radio]\nbaud = \"fast\"", "radio.baud"),
            ("[radio]\npan_id = 70000", "radio.pan_id"),
            ("[tun]\nmtu = 1000", "tun.mtu"),
            ("[tun]\nname = \"a/b\"", "tun.name"),
            ("[tun]\nname = \"averyveryverylongname\"", "tun.name"),
            ("[network]\nprefix = \"fd00::/48\"", "network.prefix"),
            ("[network]\nprefix = \"fd00::\"", "network.prefix"),
            ("[network]\nprefix = \"fe80::/64\"", "network.prefix"),
            ("[network]\nprefix = \"fd00::1/64\"", "network.prefix"),
            ("[network]\naddress = \"fd00:bbbb::1\"", "network.address"),
            ("[network]\naddress = \"fd00:aaaa::\"", "network.address"),
            ("[network]\naddress = \"nope\"", "network.address"),
            ("[network]\nra_preferred_lifetime_s = 100\nra_valid_lifetime_s = 10", "network.ra_preferred_lifetime_s"),
            ("[network]\nra_router_lifetime_s = 9001", "network.ra_router_lifetime_s"),
            ("[network]\nmax_learned_motes = 2000000", "network.max_learned_motes"),
            ("[[mote]]\neui64 = \"nope\"", "mote[0].eui64"),
            ("[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\n[[mote]]\neui64 = \"00124b0000000002\"", "mote[1].eui64"),
            ("[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\nshort = 0xffff", "mote[0].short"),
            ("[capture]\npcap = \"\"", "capture.pcap"),
            ("[capture]\nflush_interval_ms = 0", "capture.flush_interval_ms"),
            ("[metrics]\nlisten = \"everywhere\"", "metrics.listen"),
            ("[log]\nlevel = \"info,[[[\"", "log.level"),
            ("[hrm]\ndtls_port = 0", "hrm.dtls_port"),
            ("[hrm]\nmax_flows = 0", "hrm.max_flows"),
            ("[hrm]\nhandshake_idle_secs = 0", "hrm.handshake_idle_secs"),
            ("[hrm]\nsession_idle_secs = 0", "hrm.session_idle_secs"),
            ("[hrm]\nattached_port = 0", "hrm.attached_port"),
            ("[hrm]\nunknown_flow = \"sometimes\"", "hrm.unknown_flow"),
            ("[hrm]\nredirect_listen = \"nope\"", "hrm.redirect_listen"),
            ("[hrm]\nmax_flow = 3", "hrm.max_flow"),
            ("[[iotssp]]\nattached = true\nconfig = \"x\"", "iotssp[0].name"),
            ("[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"\n[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"y\"", "iotssp[1].name"),
            ("[[iotssp]]\nname = \"a\"\nattached = true", "iotssp[0].config"),
            ("[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"\nkey = \"00\"", "iotssp[0].key"),
            ("[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"\n[hrm]\nattached_port = 5684", "hrm.attached_port"),
            ("[[iotssp]]\nname = \"a\"\nkey = \"00112233445566778899aabbccddeeff\"\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].address"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"x\"\nkey = \"00112233445566778899aabbccddeeff\"\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].address"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].key"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey = \"zz\"\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].key"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey = \"0011\"\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].key"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey = \"00112233445566778899aabbccddeeff\"\nkey_file = \"k\"\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].key_file"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nconfig = \"x\"\nkey_file = \"k\"\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].config"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey_file = \"k\"", "hrm.redirect_listen"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey_file = \"k\"\nkeepalive_ms = 0\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].keepalive_ms"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey_file = \"k\"\ndead_after_ms = 100\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].dead_after_ms"),
            ("[[iotssp]]\nname = \"a\"\naddress = \"[::1]:7700\"\nkey_file = \"k\"\nkeepalive_ms = 2000\ndead_after_ms = 3000\n[hrm]\nredirect_listen = \"[::]:7701\"", "iotssp[0].dead_after_ms"),
            ("[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"\nbogus = 1", "iotssp[0].bogus"),
            ("[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\npolicy = \"delegate\"", "mote[0].iotssp"),
            ("[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\npolicy = \"delegate\"\niotssp = \"nope\"", "mote[0].iotssp"),
            ("[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\niotssp = \"a\"\n[[iotssp]]\nname = \"a\"\nattached = true\nconfig = \"x\"", "mote[0].iotssp"),
            ("[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\npolicy = \"sometimes\"", "mote[0].policy"),
            ("[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\ndtls_port = 0", "mote[0].dtls_port"),
        ];
        for (text, key) in cases {
            match load(text) {
                Ok(_) => panic!("{text:?} was accepted"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(key), "{text:?}: message does not name {key}: {msg}");
                }
            }
        }
    }

    #[test]
    fn redirection_keys_parse() {
        let c = load(
            r#"
            [hrm]
            dtls_port = 5685
            max_flows = 10
            handshake_idle_secs = 5
            session_idle_secs = 6
            unknown_flow = "drop"
            redirect_listen = "[::]:7701"
            attached_port = 6000
            [[iotssp]]
            name = "local"
            attached = true
            config = "/etc/iotssp.toml"
            [[iotssp]]
            name = "far"
            address = "[2001:db8:5::1]:7700"
            key = "00112233445566778899aabbccddeeff"
            key_id = 7
            keepalive_ms = 500
            dead_after_ms = 2000
            [[iotssp]]
            name = "far2"
            address = "192.0.2.1:7700"
            key_file = "/etc/far2.key"
            [[mote]]
            eui64 = "00:12:4b:00:00:00:00:02"
            policy = "delegate"
            iotssp = "far"
            dtls_port = 6684
            [[mote]]
            eui64 = "00:12:4b:00:00:00:00:03"
            "#,
        )
        .unwrap();
        assert_eq!((c.hrm.dtls_port, c.hrm.max_flows, c.hrm.handshake_idle_secs, c.hrm.session_idle_secs), (5685, 10, 5, 6));
        assert_eq!(c.hrm.unknown_flow, hrm::UnknownFlowPolicy::Drop);
        assert_eq!(c.hrm.attached_port, 6000);
        assert!(c.iotssps[0].attached);
        assert_eq!(c.iotssps[1].key_id, 7);
        assert_eq!(c.iotssps[2].key_id, 1, "key_id defaults to 1");
        assert_eq!((c.iotssps[1].keepalive_ms, c.iotssps[1].dead_after_ms), (500, 2000));
        assert_eq!((c.iotssps[2].keepalive_ms, c.iotssps[2].dead_after_ms), (1000, 3000), "the hrm channel defaults");
        assert_eq!(c.iotssps[2].key_file.as_deref(), Some(Path::new("/etc/far2.key")));
        assert_eq!((c.motes[0].policy, c.motes[0].iotssp.as_deref(), c.motes[0].dtls_port), (MotePolicy::Delegate, Some("far"), Some(6684)));
        assert_eq!(c.motes[1].policy, MotePolicy::Passthrough);
        assert_eq!(c.mote_address(&c.motes[0]), Some("fd00:aaaa::212:4b00:0:2".parse().unwrap()));
        // Keys never appear in Debug output.
        assert!(!format!("{c:?}").contains("00112233"));
        let h = crate::iotssp_wiring::hrm_config(&c);
        assert_eq!(h.devices.len(), 2);
        assert_eq!(h.ssps[0].addresses, vec!["fd00:aaaa::1".parse::<Ipv6Addr>().unwrap()]);
        h.validate().unwrap();
    }

    #[test]
    fn env_overrides_hrm_keys() {
        let c = load_env("", &[("LOWPAN_HRM__DTLS_PORT", "6000"), ("LOWPAN_HRM__UNKNOWN_FLOW", "drop")]).unwrap();
        assert_eq!(c.hrm.dtls_port, 6000);
        assert_eq!(c.hrm.unknown_flow, hrm::UnknownFlowPolicy::Drop);
    }

    #[test]
    fn syntax_error_is_reported() {
        let e = load("[radio\nbaud = 1").unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
        assert!(e.to_string().contains("test.toml"));
    }

    #[test]
    fn env_overrides_work() {
        let c = load_env(
            "[radio]\nbaud = 9600\n",
            &[
                ("LOWPAN_RADIO__BAUD", "57600"),
                ("LOWPAN_RADIO__KIND", "zep"),
                ("LOWPAN_RADIO__PEERS", "127.0.0.1:1,127.0.0.1:2"),
                ("LOWPAN_RADIO__PAN_ID", "0x1234"),
                ("LOWPAN_TUN__NAME", "lp9"),
                ("LOWPAN_RADIO__FLOW_CONTROL", "true"),
                ("PATH", "/usr/bin"),
            ],
        )
        .unwrap();
        assert_eq!(c.radio.baud, 57600);
        assert_eq!(c.radio.kind, RadioKind::Zep);
        assert_eq!(c.radio.peers, vec!["127.0.0.1:1".to_string(), "127.0.0.1:2".to_string()]);
        assert_eq!(c.radio.pan_id, 0x1234);
        assert_eq!(c.tun.name, "lp9");
        assert!(c.radio.flow_control);
    }

    #[test]
    fn unknown_env_key_is_reported() {
        let e = load_env("", &[("LOWPAN_RADIO__BUAD", "1")]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("radio.buad") && msg.contains("LOWPAN_RADIO__BUAD"), "{msg}");
    }

    #[test]
    fn bad_env_value_is_reported_with_key() {
        let e = load_env("", &[("LOWPAN_RADIO__CHANNEL", "40")]).unwrap_err();
        assert!(e.to_string().contains("radio.channel"), "{e}");
    }
}
