//! The daemon's typed configuration: a TOML file plus `LOWPAN_*` environment overrides.
//!
//! Every key has a default, so an empty file is a valid configuration. Loading never
//! accepts a file it does not fully understand: unknown keys, values that do not parse
//! (an EUI-64, an address, the prefix) and out-of-range values are all refused, each with
//! its dotted key (`iotssp[1].address`) and the reason.
//!
//! - [`schema`]: what the file may contain, as serde structs with typed values;
//! - [`load`]: the file and environment merged, every key that does not parse found;
//! - [`validate`]: what values mean together, and the typed [`Config`] built from them.
//!
//! Environment overrides: `LOWPAN_<SECTION>__<KEY>`, e.g. `LOWPAN_RADIO__BAUD=57600`,
//! `LOWPAN_RADIO__PEERS=127.0.0.1:17755,127.0.0.1:17756` (lists are comma-separated).

mod load;
pub mod schema;
pub mod validate;

use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lowpan::ieee802154::Eui64;

pub use lowpan::Prefix64;
pub use schema::{
    CaptureConfig, ConfigFile, ControlConfig, DEFAULT_ATTACHED_PORT, DEFAULT_CONTROL_SOCKET,
    HrmSection, LogConfig, MetricsConfig, MotePolicy, NetworkConfig, RadioConfig, RadioKind,
    RplMode, RplSection, SecretHex, SourceRouting, TunConfig,
};

/// The commented default configuration, also shipped as `br/lowpan-br.toml`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../lowpan-br.toml");

/// Environment variable prefix for overrides.
pub const ENV_PREFIX: &str = "LOWPAN";

/// A validated configuration: every value parsed and checked against the others.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub radio: RadioConfig,
    pub tun: TunConfig,
    pub network: NetworkConfig,
    /// Known motes. Others are learned from the frames they send.
    pub motes: Vec<MoteConfig>,
    /// Handshake redirection: the HRM's limits and the redirect socket.
    pub hrm: HrmSection,
    /// IoTSSPs that delegated motes name.
    pub iotssps: Vec<IotsspConfig>,
    pub capture: CaptureConfig,
    pub metrics: MetricsConfig,
    pub control: ControlConfig,
    pub log: LogConfig,
    pub rpl: RplSection,
}

/// A known mote (`[[mote]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoteConfig {
    pub eui64: Eui64,
    pub name: String,
    /// Optional 16-bit short address the mote uses on air.
    pub short: Option<u16>,
    /// What the border router does with DTLS traffic to this mote.
    pub policy: MotePolicy,
    /// The IoTSSP (an [`IotsspConfig::name`]) that runs this mote's handshakes (policy = "delegate").
    pub iotssp: Option<String>,
    /// The mote's DTLS port when it is not `hrm.dtls_port`.
    pub dtls_port: Option<u16>,
}

/// An IoTSSP that delegated motes name (`[[iotssp]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IotsspConfig {
    pub name: String,
    pub kind: IotsspKind,
}

/// Where an IoTSSP runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IotsspKind {
    /// Inside lowpan-br, configured by an iotssp TOML file (its `[redirect]` section is ignored).
    Attached { config: PathBuf },
    /// An `iotssp` service reached over the redirect protocol.
    Remote(RemoteIotssp),
}

/// A remote IoTSSP's redirect channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteIotssp {
    /// The iotssp's redirect socket.
    pub address: SocketAddr,
    pub key: KeySource,
    /// The key's id, as configured on the iotssp side.
    pub key_id: u32,
    /// A Hello goes to the IoTSSP when nothing else was sent for this long.
    pub keepalive: Duration,
    /// The IoTSSP counts as down when nothing authenticated came from it for this long.
    pub dead_after: Duration,
}

/// Where a redirect-channel key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Given in the file, in hex (already checked to be a valid key).
    Hex(SecretHex),
    /// A file holding the key in hex, read when the daemon starts.
    File(PathBuf),
}

/// One thing wrong with a configuration: which key, and why.
pub use tomlcheck::Issue as ConfigIssue;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
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

impl Config {
    /// Load `path` (or defaults only when `None`), apply overrides from `env` (pass
    /// `std::env::vars()`; only `LOWPAN_*` entries are looked at) and validate.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_owned(),
                source,
            })?,
            None => String::new(),
        };
        let origin = path
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("<defaults>"));
        Self::load_str(&text, &origin, env)
    }

    /// As [`Config::load`], with the file contents given.
    pub fn load_str(
        text: &str,
        origin: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        load::load_str(text, origin, env)
    }

    /// The global address of a configured mote: the prefix and the IID of its EUI-64.
    pub fn mote_address(&self, m: &MoteConfig) -> Ipv6Addr {
        self.network
            .prefix
            .with_iid(lowpan::ip::iid_from_eui64(m.eui64))
    }

    /// The configured prefix.
    pub fn prefix(&self) -> Prefix64 {
        self.network.prefix
    }

    /// The host address on the TUN.
    pub fn host_address(&self) -> Ipv6Addr {
        self.network.address
    }
}

#[cfg(test)]
mod tests;
