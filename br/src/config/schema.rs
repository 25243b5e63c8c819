//! What `lowpan-br.toml` may contain: the sections as serde structs, each value in its
//! type (addresses, EUI-64s, the prefix, durations), every key with its default.
//!
//! Unknown keys are refused by serde (`deny_unknown_fields`). Sections whose values need
//! each other to mean something (`[[mote]]`, `[[iotssp]]`) are read here as written and
//! turned into their typed settings by [`super::validate`].

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lowpan::Prefix64;
use lowpan::ieee802154::Eui64;
use serde::{Deserialize, Deserializer, Serialize};

/// The whole file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    pub radio: RadioConfig,
    pub tun: TunConfig,
    pub network: NetworkConfig,
    /// Known motes (`[[mote]]` tables). Others are learned from the frames they send.
    #[serde(rename = "mote")]
    pub motes: Vec<MoteSection>,
    /// Handshake redirection: the HRM's limits and the redirect socket.
    pub hrm: HrmSection,
    /// IoTSSPs that delegated motes name (`[[iotssp]]` tables).
    #[serde(rename = "iotssp")]
    pub iotssps: Vec<IotsspSection>,
    pub capture: CaptureConfig,
    pub metrics: MetricsConfig,
    pub control: ControlConfig,
    pub log: LogConfig,
    /// The RPL root (RFC 6550, non-storing mode).
    pub rpl: RplSection,
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

/// `[radio]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RadioConfig {
    pub kind: RadioKind,
    /// Serial device path (kind = "serial").
    pub device: String,
    pub baud: u32,
    /// RTS/CTS hardware flow control (kind = "serial").
    pub flow_control: bool,
    /// `host:port` of the slip-radio TCP server (kind = "tcp"); the host may be a name.
    pub address: String,
    /// Reconnect backoff bounds for the TCP radio.
    #[serde(rename = "reconnect_min_ms", with = "millis")]
    pub reconnect_min: Duration,
    #[serde(rename = "reconnect_max_ms", with = "millis")]
    pub reconnect_max: Duration,
    /// Local UDP address for ZEP (kind = "zep").
    #[serde(with = "text")]
    pub bind: SocketAddr,
    /// ZEP peers (emulated nodes or sniffers) that always get our frames; others are
    /// learned from their datagrams, so the list may be empty.
    #[serde(with = "text::list")]
    pub peers: Vec<SocketAddr>,
    /// 802.15.4 channel (11..=26); used by ZEP framing and filtering.
    pub channel: u8,
    /// PAN identifier; accepts an integer (`0xabcd` in TOML) or a string ("0xabcd").
    #[serde(deserialize_with = "de_u16_flexible")]
    pub pan_id: u16,
    /// Our own EUI-64 when kind = "zep" (serial/tcp radios report theirs with `!M`).
    #[serde(with = "text")]
    pub eui64: Eui64,
    /// Frames in flight to the radio at once (slip-radio `!S` window).
    pub window: usize,
    /// Minimum gap between two frames handed to the radio.
    #[serde(rename = "min_gap_us", with = "micros")]
    pub min_gap: Duration,
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
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_millis(5_000),
            bind: SocketAddr::from(([127, 0, 0, 1], 17754)),
            peers: Vec::new(),
            channel: 26,
            pan_id: 0xabcd,
            eui64: Eui64([0x02, 0, 0, 0, 0, 0, 0, 0x01]),
            window: 4,
            min_gap: Duration::ZERO,
            max_tx: 4,
            queue_frames: 256,
        }
    }
}

/// `[tun]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TunConfig {
    pub name: String,
    /// IPv6 MTU of the TUN; at least 1280 (RFC 8200), at most 2047 (RFC 4944 datagram_size).
    pub mtu: u32,
}

impl Default for TunConfig {
    fn default() -> Self {
        TunConfig {
            name: "lowpan0".into(),
            mtu: 1280,
        }
    }
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// The mesh prefix, a /64 (the rule of [`Prefix64`]'s `FromStr`); also 6LoWPAN context 0.
    #[serde(with = "text")]
    pub prefix: Prefix64,
    /// The host's address on the TUN (inside the prefix).
    #[serde(with = "text")]
    pub address: Ipv6Addr,
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
    /// Upper bound on address registrations (RFC 6775 NS with ARO, DAR) held at once;
    /// beyond it new addresses are answered "neighbour cache full".
    pub max_registrations: usize,
    /// Seconds between unsolicited Router Advertisements to all nodes; 0: only in answer
    /// to Router Solicitations.
    pub ra_interval_s: u32,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            prefix: Prefix64::from_octets([0xfd, 0x00, 0xaa, 0xaa, 0, 0, 0, 0]),
            address: Ipv6Addr::new(0xfd00, 0xaaaa, 0, 0, 0, 0, 0, 1),
            ra_router_lifetime_s: 1800,
            ra_valid_lifetime_s: 86_400,
            ra_preferred_lifetime_s: 14_400,
            context_lifetime_min: 60,
            ra_hop_limit: 64,
            max_learned_motes: 1024,
            max_registrations: 1024,
            ra_interval_s: 0,
        }
    }
}

/// A `[[mote]]` table as written (its EUI-64 is required, which validation checks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MoteSection {
    #[serde(with = "text::option", skip_serializing_if = "Option::is_none")]
    pub eui64: Option<Eui64>,
    pub name: String,
    /// Optional 16-bit short address the mote uses on air.
    #[serde(
        deserialize_with = "de_opt_u16_flexible",
        skip_serializing_if = "Option::is_none"
    )]
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
#[serde(default, deny_unknown_fields)]
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
    #[serde(with = "text::option", skip_serializing_if = "Option::is_none")]
    pub redirect_listen: Option<SocketAddr>,
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

/// An `[[iotssp]]` table as written: attached (inside lowpan-br) or remote (an `iotssp`
/// service), which validation turns into a [`super::IotsspConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IotsspSection {
    pub name: String,
    /// Run it inside lowpan-br, configured by `config` (an iotssp TOML file).
    pub attached: bool,
    /// Attached: path of the iotssp configuration (its `[redirect]` section is ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// Remote: the iotssp's redirect socket, `[host]:port`.
    #[serde(with = "text::option", skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    /// Remote: the redirect-channel key in hex (or `key_file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretHex>,
    /// Remote: a file holding the key in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Remote: the key's id, as configured on the iotssp side.
    pub key_id: u32,
    /// Remote: a Hello goes to the IoTSSP when nothing else was sent for this long.
    #[serde(rename = "keepalive_ms", with = "millis")]
    pub keepalive: Duration,
    /// Remote: the IoTSSP counts as down when nothing authenticated came from it for this
    /// long; its motes' handshakes are then answered with an alert (docs/protocol.md,
    /// rule R12). Must exceed the IoTSSP's own keepalive (1 s by default).
    #[serde(rename = "dead_after_ms", with = "millis")]
    pub dead_after: Duration,
}

impl Default for IotsspSection {
    fn default() -> Self {
        let channel = redirect::ChannelConfig::default();
        IotsspSection {
            name: String::new(),
            attached: false,
            config: None,
            address: None,
            key: None,
            key_file: None,
            key_id: 1,
            keepalive: channel.keepalive,
            dead_after: channel.dead_after,
        }
    }
}

/// How the root writes a downward source route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceRouting {
    /// An RFC 6554 routing header (compressed with the RFC 6282 extension-header NHC).
    Rfc6554,
    /// RFC 8138: an IPv6-in-IPv6 tunnel from the root with the RPL option and the source
    /// route, sent as page-1 frames (IP-in-IP, RH3 and RPI 6LoRHs); the DIOs carry RFC
    /// 9035's T flag. Only for meshes whose routers all read RFC 8138 (non-storing mode).
    Rfc8138,
}

/// The mode of operation the root announces in its DIOs (RFC 6550 section 6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RplMode {
    /// MOP 1: DAOs name their parent and reach the root, which source-routes downward.
    NonStoring,
    /// MOP 2 (storing, no multicast): each router keeps its children's routes and sends
    /// its DAO, with theirs, to its parent; the root hands a packet to its child unchanged.
    Storing,
}

/// `[rpl]`: the RPL root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RplSection {
    /// Send DIOs, take DAOs and source-route downward packets (off: RS/RA only).
    pub enabled: bool,
    /// RPLInstanceID (Contiki-NG's default is 0x1e).
    pub instance_id: u8,
    /// DODAG ID, a global address of the root; network.address when absent.
    #[serde(with = "text::option", skip_serializing_if = "Option::is_none")]
    pub dodag_id: Option<Ipv6Addr>,
    /// DODAG version (a lollipop counter; 240 starts its linear region).
    pub version: u8,
    /// Trickle: Imin = 2^dio_interval_min ms, Imax = Imin x 2^dio_interval_doublings,
    /// redundancy constant k (0: never suppress).
    pub dio_interval_min: u8,
    pub dio_interval_doublings: u8,
    pub dio_redundancy: u8,
    /// Route lifetime announced in the DODAG configuration: default_lifetime units of
    /// lifetime_unit_s seconds.
    pub default_lifetime: u8,
    pub lifetime_unit_s: u16,
    pub min_hop_rank_increase: u16,
    pub max_rank_increase: u16,
    /// Downward routes held at once; a DAO beyond them is refused in its DAO-ACK.
    pub max_routes: usize,
    pub mode: RplMode,
    pub source_routing: SourceRouting,
}

impl Default for RplSection {
    fn default() -> Self {
        RplSection {
            enabled: false,
            instance_id: 0x1e,
            dodag_id: None,
            version: 240,
            dio_interval_min: 12,
            dio_interval_doublings: 8,
            dio_redundancy: 10,
            default_lifetime: 30,
            lifetime_unit_s: 60,
            min_hop_rank_increase: 256,
            max_rank_increase: 1792,
            max_routes: 1024,
            mode: RplMode::NonStoring,
            source_routing: SourceRouting::Rfc6554,
        }
    }
}

/// `[capture]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// pcap file (LINKTYPE 230, IEEE 802.15.4 without FCS) of every radio frame both ways.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<PathBuf>,
    #[serde(rename = "flush_interval_ms", with = "millis")]
    pub flush_interval: Duration,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            pcap: None,
            flush_interval: Duration::from_secs(1),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// HTTP at `host:port` (off when absent): Prometheus text at `/metrics`, the status
    /// page at `/` and its data at `/status.json`.
    #[serde(with = "text::option", skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Period of the counter summary in the log (zero = off).
    #[serde(rename = "summary_interval_s", with = "seconds")]
    pub summary_interval: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: None,
            summary_interval: Duration::from_secs(60),
        }
    }
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// The control socket `lowpan-br status` queries, created owner-only (0600); empty:
    /// none. The default is in the runtime directory the systemd unit gives.
    pub socket: PathBuf,
}

/// Where the control socket is unless configured.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/lowpan-br/control.sock";

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter directive ("info", "lowpan_br=debug,warn"); RUST_LOG wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
        }
    }
}

/// The key tree of a file with every optional key present: which keys exist, and the
/// TOML type of each (environment overrides are typed by it).
pub fn key_tree() -> toml::Value {
    let mut c = ConfigFile::default();
    c.capture.pcap = Some("x".into());
    c.rpl.dodag_id = Some(Ipv6Addr::LOCALHOST);
    c.metrics.listen = Some(SocketAddr::from(([127, 0, 0, 1], 1)));
    c.radio.peers = vec![SocketAddr::from(([127, 0, 0, 1], 1))];
    c.motes = vec![MoteSection {
        eui64: Some(Eui64([0; 8])),
        name: "x".into(),
        short: Some(1),
        policy: MotePolicy::Delegate,
        iotssp: Some("x".into()),
        dtls_port: Some(1),
    }];
    c.hrm.redirect_listen = Some(SocketAddr::from(([127, 0, 0, 1], 1)));
    c.iotssps = vec![IotsspSection {
        name: "x".into(),
        attached: true,
        config: Some("x".into()),
        address: Some(SocketAddr::from(([127, 0, 0, 1], 1))),
        key: Some(SecretHex("x".into())),
        key_file: Some("x".into()),
        ..IotsspSection::default()
    }];
    toml::Value::try_from(&c).unwrap_or(toml::Value::Table(Default::default()))
}

/// Values written as text ("fd00::1", "[::1]:7700", "00:12:4b:...") and parsed by `FromStr`.
mod text {
    use super::*;

    pub fn serialize<T: fmt::Display, S: serde::Serializer>(
        v: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
        D: Deserializer<'de>,
    {
        parse(&String::deserialize(d)?)
    }

    fn parse<T: FromStr, E: serde::de::Error>(s: &str) -> Result<T, E>
    where
        T::Err: fmt::Display,
    {
        s.parse::<T>().map_err(|e| E::custom(format!("{s:?}: {e}")))
    }

    pub mod option {
        use super::*;

        pub fn serialize<T: fmt::Display, S: serde::Serializer>(
            v: &Option<T>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.collect_str(v),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
        where
            T: FromStr,
            T::Err: fmt::Display,
            D: Deserializer<'de>,
        {
            parse(&String::deserialize(d)?).map(Some)
        }
    }

    pub mod list {
        use super::*;

        pub fn serialize<T: fmt::Display, S: serde::Serializer>(
            v: &[T],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(ToString::to_string))
        }

        pub fn deserialize<'de, T, D>(d: D) -> Result<Vec<T>, D::Error>
        where
            T: FromStr,
            T::Err: fmt::Display,
            D: Deserializer<'de>,
        {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|s| parse(s))
                .collect()
        }
    }
}

macro_rules! duration_as {
    ($name:ident, $from:path, $to:expr, $unit:literal) => {
        #[doc = concat!("A duration written as an integer number of ", $unit, ".")]
        mod $name {
            use super::*;

            pub fn serialize<S: serde::Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
                let to: fn(&Duration) -> u128 = $to;
                s.serialize_u64(u64::try_from(to(v)).unwrap_or(u64::MAX))
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
                u64::deserialize(d).map($from)
            }
        }
    };
}

duration_as!(
    seconds,
    Duration::from_secs,
    |d| u128::from(d.as_secs()),
    "seconds"
);
duration_as!(
    millis,
    Duration::from_millis,
    Duration::as_millis,
    "milliseconds"
);
duration_as!(
    micros,
    Duration::from_micros,
    Duration::as_micros,
    "microseconds"
);

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
    parsed.ok_or_else(|| {
        serde::de::Error::custom("expected a 16-bit integer (0..=65535 or \"0x....\")")
    })
}

fn de_opt_u16_flexible<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    de_u16_flexible(d).map(Some)
}
