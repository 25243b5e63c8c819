//! HRM configuration: which motes are delegated to which IoTSSP, and the flow-table limits.
//! Typed, with defaults, validated once at start so a bad file is refused with the key and
//! the reason.

use core::fmt;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

/// CoAP over DTLS (RFC 7252 section 6.2).
pub const DEFAULT_DTLS_PORT: u16 = 5684;
/// Default transfer port of delegated motes (the IoTSSP's PSK session with them).
pub const DEFAULT_TRANSFER_PORT: u16 = 5685;

/// The name of an IoTSSP, as the configuration spells it. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SspName(Arc<str>);

impl SspName {
    pub fn new(name: &str) -> Self {
        SspName(Arc::from(name))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SspName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the border router does with DTLS traffic to one mote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DevicePolicy {
    /// The named IoTSSP runs the handshake in the mote's name; the mote gets the session.
    Delegate { ssp: String },
    /// Bridged untouched (full-DTLS "DCert" and PSK "CDPSK" motes, or anything else).
    Passthrough,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// The mote's global IPv6 address (the destination Internet clients use).
    pub mote: Ipv6Addr,
    pub policy: DevicePolicy,
    /// The mote's DTLS server port; `HrmConfig::dtls_port` when absent.
    #[serde(default)]
    pub dtls_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SspConfig {
    pub name: String,
    /// Source addresses the IoTSSP uses to talk to its motes (its PSK handshake and the
    /// session transfer). Packets from these are never diverted, whatever their content.
    #[serde(default)]
    pub addresses: Vec<Ipv6Addr>,
}

/// What to do with application data and encrypted alerts on a flow the table does not know
/// as transferred (e.g. after a border-router restart or a flow expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFlowPolicy {
    /// Forward to the mote, which authenticates every record anyway: a border-router
    /// restart does not break sessions that were transferred before it.
    #[default]
    Forward,
    /// Drop: no record reaches a delegated mote unless the IoTSSP announced the session.
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HrmConfig {
    /// Default DTLS port of delegated motes.
    pub dtls_port: u16,
    /// The delegated motes' transfer port (their PSK session with the IoTSSP): closed to
    /// the Internet except to the mote's IoTSSP's addresses.
    pub transfer_port: u16,
    /// Most flows held at once (handshakes in progress and transferred sessions).
    pub max_flows: usize,
    /// A handshake with no diverted traffic for this long is forgotten.
    pub handshake_idle_secs: u64,
    /// A transferred session with no traffic either way for this long is forgotten.
    pub session_idle_secs: u64,
    pub unknown_flow: UnknownFlowPolicy,
    pub ssps: Vec<SspConfig>,
    pub devices: Vec<DeviceConfig>,
}

impl Default for HrmConfig {
    fn default() -> Self {
        HrmConfig {
            dtls_port: DEFAULT_DTLS_PORT,
            transfer_port: DEFAULT_TRANSFER_PORT,
            max_flows: 4096,
            // DTLS retransmission backs off to 60 s (RFC 6347 4.2.4.1); one more round.
            handshake_idle_secs: 120,
            session_idle_secs: 3600,
            unknown_flow: UnknownFlowPolicy::Forward,
            ssps: Vec::new(),
            devices: Vec::new(),
        }
    }
}

/// A refused configuration: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hrm configuration: {}: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn refuse(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

impl HrmConfig {
    pub fn handshake_idle(&self) -> Duration {
        Duration::from_secs(self.handshake_idle_secs)
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.dtls_port == 0 {
            return Err(refuse("dtls_port", "must not be 0"));
        }
        if self.transfer_port == 0 {
            return Err(refuse("transfer_port", "must not be 0"));
        }
        if self.max_flows == 0 {
            return Err(refuse("max_flows", "must be at least 1"));
        }
        if self.handshake_idle_secs == 0 {
            return Err(refuse("handshake_idle_secs", "must be at least 1"));
        }
        if self.session_idle_secs == 0 {
            return Err(refuse("session_idle_secs", "must be at least 1"));
        }
        let mut names = HashSet::new();
        for (i, s) in self.ssps.iter().enumerate() {
            if s.name.is_empty() {
                return Err(refuse(format!("ssps[{i}].name"), "must not be empty"));
            }
            if !names.insert(s.name.as_str()) {
                return Err(refuse(
                    format!("ssps[{i}].name"),
                    format!("duplicate IoTSSP name {:?}", s.name),
                ));
            }
        }
        let mut motes = HashSet::new();
        for (i, d) in self.devices.iter().enumerate() {
            if d.mote.is_unspecified() || d.mote.is_multicast() || d.mote.is_loopback() {
                return Err(refuse(
                    format!("devices[{i}].mote"),
                    format!("{} is not a unicast mote address", d.mote),
                ));
            }
            if !motes.insert(d.mote) {
                return Err(refuse(
                    format!("devices[{i}].mote"),
                    format!("{} is configured twice", d.mote),
                ));
            }
            if d.dtls_port == Some(0) {
                return Err(refuse(format!("devices[{i}].dtls_port"), "must not be 0"));
            }
            if let DevicePolicy::Delegate { ssp } = &d.policy
                && !names.contains(ssp.as_str())
            {
                return Err(refuse(
                    format!("devices[{i}].policy.delegate.ssp"),
                    format!("no IoTSSP named {ssp:?} in ssps"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HrmConfig {
        HrmConfig {
            ssps: vec![SspConfig {
                name: "ssp-a".into(),
                addresses: vec![],
            }],
            devices: vec![DeviceConfig {
                mote: "2001:db8::1".parse().unwrap(),
                policy: DevicePolicy::Delegate {
                    ssp: "ssp-a".into(),
                },
                dtls_port: None,
            }],
            ..HrmConfig::default()
        }
    }

    /// docs/protocol.md, "HRM rules" / "Configuration": the example parses and validates.
    #[test]
    fn documented_example_parses() {
        let doc = include_str!("../../docs/protocol.md");
        let start = doc
            .find("```toml\n[hrm]")
            .expect("example in docs/protocol.md")
            + "```toml\n".len();
        let len = doc[start..].find("```").unwrap();
        let file: toml::Table = toml::from_str(&doc[start..start + len]).unwrap();
        let cfg: HrmConfig = file["hrm"].clone().try_into().unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.devices.len(), 2);
        assert_eq!(
            cfg.devices[0].policy,
            DevicePolicy::Delegate {
                ssp: "ssp-a".into()
            }
        );
        assert_eq!(cfg.devices[1].policy, DevicePolicy::Passthrough);
        assert_eq!(
            cfg.ssps[0].addresses,
            vec!["2001:db8:5::1".parse::<Ipv6Addr>().unwrap()]
        );
        assert_eq!(cfg.unknown_flow, UnknownFlowPolicy::Forward);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let bad: Result<HrmConfig, _> = toml::from_str("max_flow = 3");
        assert!(bad.is_err());
    }

    #[test]
    fn valid_config_passes() {
        base().validate().unwrap();
    }

    #[test]
    fn unknown_ssp_is_refused_with_key() {
        let mut c = base();
        c.devices[0].policy = DevicePolicy::Delegate { ssp: "nope".into() };
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "devices[0].policy.delegate.ssp");
    }

    #[test]
    fn duplicates_and_zeroes_are_refused() {
        let mut c = base();
        c.devices.push(c.devices[0].clone());
        assert_eq!(c.validate().unwrap_err().key, "devices[1].mote");
        let mut c = base();
        c.ssps.push(c.ssps[0].clone());
        assert_eq!(c.validate().unwrap_err().key, "ssps[1].name");
        let c = HrmConfig {
            max_flows: 0,
            ..base()
        };
        assert_eq!(c.validate().unwrap_err().key, "max_flows");
        let c = HrmConfig {
            dtls_port: 0,
            ..base()
        };
        assert_eq!(c.validate().unwrap_err().key, "dtls_port");
        let mut c = base();
        c.devices[0].mote = "ff02::1".parse().unwrap();
        assert_eq!(c.validate().unwrap_err().key, "devices[0].mote");
    }
}
