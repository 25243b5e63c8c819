//! Command line and optional TOML file, validated into one typed [`Settings`].
//!
//! Each option is declared once, in [`Options`] or [`DeviceOptions`], which clap fills from
//! the command line (`--pan-id`) and serde from the file (`pan_id`); the command line is
//! laid over the file. Precedence: command line, then the file (`--config`), then
//! defaults. A bad value is refused at start with the option's name and the reason.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use lowpan::ieee802154::Eui64;
use serde::Deserialize;

use dtls::CipherSuite;
use dtls::cert::{CertificateType, CertifiedKey, ChainVerifier, RawKeyTrust};
use dtls::crypto::ecc::SigningKey;
use zeroize::Zeroizing;

use crate::air::AirConfig;
use crate::mote::secure::delegated::{
    DEFAULT_OUTBOUND_INTERVAL, DEFAULT_SESSION_EVICT_AFTER, DEFAULT_SESSION_IDLE, DelegatedConfig,
    Leg, OutboundTarget,
};
use crate::mote::secure::ecc::EccProfile;
use crate::mote::secure::server::{CdpskConfig, ClientLimits, DcertConfig, PskConfig};
use crate::mote::secure::{
    COAPS_PORT, DEFAULT_SESSION_SLOTS, DEFAULT_TRANSFER_PORT, DeviceKind, DeviceSpec,
};
use crate::sim::{SimConfig, UplinkMode};

/// The radio's EUI-64 when none is given (the integration tests use the same).
pub const DEFAULT_RADIO_EUI64: Eui64 = Eui64([0x00, 0x12, 0x4b, 0x00, 0x00, 0x00, 0xff, 0x01]);

/// EUI-64 of mote `n` (1-based) when none are listed: 00:12:4b:00:00:00:HH:LL.
pub fn default_mote_eui64(n: u16) -> Eui64 {
    let [hi, lo] = n.to_be_bytes();
    Eui64([0x00, 0x12, 0x4b, 0x00, 0x00, 0x00, hi, lo])
}

/// Most motes one process emulates.
pub const MAX_MOTES: usize = 1000;

#[derive(Parser, Debug, Default)]
#[command(
    name = "motesim",
    version,
    about = "Emulated Contiki-NG slip-radio (or ZEP nodes) with 6LoWPAN motes behind it"
)]
pub struct Cli {
    /// Create a pty and a symlink to its slave at this path (the border router opens it as a serial port).
    #[arg(long, value_name = "PATH")]
    pub pty: Option<PathBuf>,
    /// Serve the slip-radio on TCP (ser2net style; one client, a new one replaces the old).
    #[arg(long, value_name = "ADDR:PORT")]
    pub tcp_listen: Option<String>,
    /// ZEP mode: the border router's ZEP address.
    #[arg(long, value_name = "ADDR:PORT")]
    pub zep_peer: Option<String>,
    /// ZEP mode: our local address (default 127.0.0.1:17755).
    #[arg(long, value_name = "ADDR:PORT")]
    pub zep_bind: Option<String>,
    /// TOML file with any of the options below (radio_eui64, motes, mote_eui64s, prefix, ...).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub options: Options,
    #[command(flatten)]
    pub device: DeviceOptions,
}

/// Settings that come in layers: the command line over the file, a `[[device]]` table over
/// the global device settings. Each field wins when given.
trait Layer {
    fn over(self, base: Self) -> Self;
}

impl<T> Layer for Option<T> {
    fn over(self, base: Self) -> Self {
        self.or(base)
    }
}

impl<T> Layer for Vec<T> {
    fn over(self, base: Self) -> Self {
        if self.is_empty() { base } else { self }
    }
}

impl Layer for bool {
    fn over(self, base: Self) -> Self {
        self || base
    }
}

/// Declares an options struct once, for the command line (clap: `--long-name`) and the file
/// (serde: `long_name`), with `over` to lay one over another.
macro_rules! options {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
        }

        impl $name {
            /// `self`'s settings where given, else `base`'s.
            pub fn over(self, base: Self) -> Self {
                $name { $($f: Layer::over(self.$f, base.$f),)* }
            }
        }
    };
}

options! {
    /// The simulation's options: `--motes` on the command line, `motes` in the file.
    #[derive(clap::Args, Deserialize, Debug, Default, Clone)]
    #[serde(default)]
    pub struct Options {
        /// Number of motes (default 1), numbered 00:12:4b:00:00:00:00:01 upwards.
        #[arg(long)]
        pub motes: Option<usize>,
        /// Explicit mote EUI-64s (repeat or comma-separate); overrides --motes.
        #[arg(long = "mote-eui64", value_delimiter = ',')]
        pub mote_eui64s: Vec<String>,
        /// The radio's EUI-64 (what `?M` answers; the border router's link address).
        #[arg(long)]
        pub radio_eui64: Option<String>,
        /// PAN identifier (hex with 0x, or decimal). Default 0xabcd.
        #[arg(long)]
        pub pan_id: Option<PanId>,
        /// Channel (11-26), reported by `?V` and used in ZEP headers. Default 26.
        #[arg(long)]
        pub channel: Option<u8>,
        /// Global /64 prefix of the motes; without it they learn it from the Router Advertisement.
        #[arg(long)]
        pub prefix: Option<String>,
        /// Probability of losing each frame reception and each ACK (0..1).
        #[arg(long)]
        pub loss: Option<f64>,
        /// Seed of every random choice (default: from the clock, printed at start).
        #[arg(long)]
        pub seed: Option<u64>,
        /// Transmissions per frame before giving up (the `!S` attribute 5 overrides it). Default 4.
        #[arg(long)]
        pub max_tx: Option<u8>,
        /// Deliver at once instead of at the modelled air time (for benchmarks).
        #[arg(long)]
        pub unthrottled: bool,
        /// Write counters as JSON here every second (see --stats-interval-ms) and at exit.
        #[arg(long, value_name = "PATH")]
        pub stats_file: Option<PathBuf>,
        /// How often the stats file is written, in ms (20..=60000). Default 1000.
        #[arg(long)]
        pub stats_interval_ms: Option<u64>,
        /// ZEP mode: how long a mote waits for the peer's ACK before retrying, in ms. Default 20.
        #[arg(long)]
        pub zep_ack_wait_ms: Option<u64>,
        /// The motes are RPL routers and leaves: they join from the border router's DIOs,
        /// announce themselves with DAOs and forward for each other, instead of sending RSs.
        #[arg(long)]
        pub rpl: bool,
        /// A radio link `A-B`, `A-B:loss` or `A-B:loss:lqi[:rssi]` (node 0 is the border
        /// router's radio, N is mote N), heard both ways with its own loss (default --loss).
        /// Over ZEP the border router is told each of its frames' LQI (default 255) and RSSI
        /// in dBm (default none). Repeat or comma-separate; with any link given, nodes hear
        /// only their linked neighbours.
        #[arg(long = "link", value_delimiter = ',')]
        pub links: Vec<String>,
        /// Motes (by number, 1-based) that are 6LoWPAN routers (RFC 6775 6LRs) for the
        /// hosts that hear them: they answer Router Solicitations, relay registrations to
        /// the border router as Duplicate Address Requests, answer with its confirmation,
        /// and forward between their registered hosts and the border router. They register
        /// themselves as hosts do (give --register-lifetime-min). Repeat or comma-separate.
        #[arg(long = "sixlowpan-router", value_delimiter = ',')]
        pub sixlowpan_routers: Vec<usize>,
    }
}

options! {
    /// Device settings: global (command line, top of the file) or for one mote (`[[device]]`).
    #[derive(clap::Args, Deserialize, Debug, Default, Clone)]
    #[serde(default)]
    pub struct DeviceOptions {
        /// Kind of device of every mote: plain (CoAP, no security), delegated (PSK with its
        /// IoTSSP, takes over the session), dcert (full DTLS with its own certificate), cdpsk
        /// (PSK with clients). Per mote: `[[device]]` tables in the --config file.
        #[arg(long, value_name = "KIND")]
        pub device_kind: Option<String>,
        /// PSK identity: of the mote's IoTSSP (delegated) or of its clients (cdpsk).
        #[arg(long)]
        pub psk_identity: Option<String>,
        /// The PSK, in hex.
        #[arg(long)]
        pub psk_hex: Option<String>,
        /// Delegated: UDP port of the PSK session with the IoTSSP. Default 5685.
        #[arg(long)]
        pub transfer_port: Option<u16>,
        /// Delegated: transferred sessions held at once. Default 2.
        #[arg(long)]
        pub session_slots: Option<usize>,
        /// Delegated, association leg: transferred sessions the mote keeps to resume
        /// itself (the abbreviated handshake: no IoTSSP, no ECC; the IoTSSP's
        /// resumption_lifetime_secs says for how long), at most --session-slots, in each
        /// direction: sessions whose client comes back with the session id, and outbound
        /// sessions the mote resumes with its --outbound server. Default 0: none.
        #[arg(long, value_name = "N")]
        pub resumption_slots: Option<usize>,
        /// Delegated: the suites the record layer continues (a transfer of another is
        /// refused); DCert: the suites offered, in order of preference. Comma-separated
        /// IANA names (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, ..._AES_128_CCM,
        /// ..._AES_128_GCM_SHA256, ..._CHACHA20_POLY1305_SHA256). Default: all four, CCM-8 first.
        #[arg(long, value_name = "SUITES")]
        pub cipher_suites: Option<String>,
        /// Delegated: how sessions reach the mote: "association" (default; the standing
        /// association with its IoTSSP, one Transfer in and one Confirm out per delegation)
        /// or "psk-handshake" (the paper's PSK handshake per delegation).
        #[arg(long, value_name = "LEG")]
        pub leg: Option<String>,
        /// Delegated, association leg: the IoTSSP's address and port ([addr]:port), so the
        /// mote associates at boot; without it the mote waits for its IoTSSP's Poke.
        #[arg(long, value_name = "ADDR")]
        pub iotssp_address: Option<String>,
        /// Delegated, association leg: a CoAP-over-DTLS server the mote reports to as a
        /// client (coaps://[addr]:port/path): it asks its IoTSSP to open the session
        /// (outbound delegation) and sends a GET of the path every --outbound-interval-secs.
        #[arg(long, value_name = "URI")]
        pub outbound: Option<String>,
        /// Delegated: seconds between two outbound GETs (and between two Connects while the
        /// mote has no session with the server). Default 10.
        #[arg(long, value_name = "SECS")]
        pub outbound_interval_secs: Option<u64>,
        /// Delegated, with --outbound: the mote ends its session with the server
        /// (close_notify) when a GET is due after K on it, as a mote that sleeps between
        /// bursts of reports would; that GET goes on the next session, which the mote
        /// resumes with the server itself with --resumption-slots (and the IoTSSP's
        /// resumption_lifetime_secs for it), or else asks its IoTSSP for. Default: the
        /// session is kept.
        #[arg(long, value_name = "K")]
        pub outbound_reports_per_session: Option<u32>,
        /// DCert/CDPSK: client associations held at once (1-16). Default 4.
        #[arg(long)]
        pub max_clients: Option<usize>,
        /// DCert/CDPSK: seconds a client association, delegated: seconds a transferred
        /// session, is kept without a record from its client (a client that left without
        /// close_notify). Default 300.
        #[arg(long, value_name = "SECS")]
        pub client_idle_secs: Option<u64>,
        /// DCert/CDPSK: seconds a client association must have been idle before a new,
        /// authenticated client may take its place when all --max-clients are held;
        /// delegated: a transferred session, when all --session-slots are held (the least
        /// recently used one gives way; a new client that finds none idle gets an alert).
        /// Default 30.
        #[arg(long, value_name = "SECS")]
        pub client_evict_after_secs: Option<u64>,
        /// DCert: the mote's certificate chain (PEM, leaf first).
        #[arg(long, value_name = "PEM")]
        pub cert: Option<PathBuf>,
        /// DCert: the mote's private key (PEM). Delegated, association leg: the key of a
        /// keyless mote (its IoTSSP holds only the certificate), which signs the IoTSSP's
        /// SignRequests; without it a delegated mote refuses them.
        #[arg(long, value_name = "PEM")]
        pub key: Option<PathBuf>,
        /// DCert: trust anchors (PEM) that client certificates must chain to.
        #[arg(long, value_name = "PEM")]
        pub trust_anchor: Option<PathBuf>,
        /// DCert, and a keyless delegated mote's signatures: emulated ECC cost, cc2538-hw
        /// (default), cc2538-sw or none.
        #[arg(long, value_name = "PROFILE")]
        pub ecc_profile: Option<String>,
        /// DCert: what the mote presents, in order of preference, comma-separated: x509
        /// (its --cert chain) and raw-public-key (RFC 7250, its key alone, to clients that
        /// ask for it). Default x509; raw-public-key alone needs no --cert.
        #[arg(long, value_name = "TYPES")]
        pub certificate_types: Option<String>,
        /// DCert: clients may authenticate with these raw public keys (RFC 7250), each the
        /// SHA-256 of its DER SubjectPublicKeyInfo in hex, comma-separated.
        #[arg(long, value_name = "HEX,...")]
        pub client_rpk_sha256: Option<String>,
        /// A 6LoWPAN host (RFC 6775): the address from the Router Advertisement is used
        /// only once the router accepts its registration (NS with ARO, this lifetime in
        /// minutes, 1..=65535), and registered again before the lifetime ends.
        #[arg(long, value_name = "MIN")]
        pub register_lifetime_min: Option<u16>,
    }
}

/// A `[[device]]` table: which mote (by 1-based position or by EUI-64), and its settings.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    pub index: Option<usize>,
    pub eui64: Option<String>,
    #[serde(flatten)]
    pub device: DeviceOptions,
}

/// A PAN identifier: `0xabcd` or decimal on the command line, an integer or such a string
/// in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PanId(pub u16);

impl std::str::FromStr for PanId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u16::from_str_radix(hex, 16),
            None => s.parse(),
        };
        r.map(PanId)
            .map_err(|_| format!("{s:?} is not a 16-bit PAN id (e.g. 0xabcd)"))
    }
}

impl<'de> Deserialize<'de> for PanId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum IntOrStr {
            Int(u16),
            Str(String),
        }
        match IntOrStr::deserialize(d)? {
            IntOrStr::Int(n) => Ok(PanId(n)),
            IntOrStr::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Most session slots a delegated mote may be given (its RAM).
pub const MAX_SESSION_SLOTS: usize = 16;

/// Most client associations a DCert or CDPSK mote may be given (its RAM).
pub const MAX_CLIENTS: usize = 16;

fn parse_hex(option: &'static str, s: &str) -> Result<Vec<u8>, SettingError> {
    let s = s.trim();
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 128 {
        return Err(bad(
            option,
            "must be 1..=64 bytes of hex (an even number of digits)",
        ));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| bad(option, "not hex"))
}

fn read_pem(option: &'static str, path: &Path) -> Result<String, SettingError> {
    std::fs::read_to_string(path).map_err(|e| bad(option, format!("{}: {e}", path.display())))
}

/// `--cipher-suites`: ECDHE_ECDSA suites by IANA name, comma-separated, no repeats.
fn parse_suites(s: Option<&str>) -> Result<Vec<CipherSuite>, SettingError> {
    let Some(s) = s else {
        return Ok(CipherSuite::ECDHE_ECDSA.to_vec());
    };
    let mut suites = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let suite = CipherSuite::from_name(name)
            .filter(|c| c.is_ecdhe_ecdsa())
            .ok_or_else(|| {
                bad(
                    "--cipher-suites",
                    format!("{name}: not an ECDHE_ECDSA suite we run"),
                )
            })?;
        if suites.contains(&suite) {
            return Err(bad("--cipher-suites", format!("{name} given twice")));
        }
        suites.push(suite);
    }
    if suites.is_empty() {
        return Err(bad("--cipher-suites", "empty"));
    }
    Ok(suites)
}

/// The device of one mote from its merged settings.
fn device_spec(d: &DeviceOptions) -> Result<DeviceSpec, SettingError> {
    let kind: DeviceKind = match &d.device_kind {
        Some(k) => k.parse().map_err(|e: String| bad("--device-kind", e))?,
        None => DeviceKind::Plain,
    };
    let psk = || -> Result<PskConfig, SettingError> {
        let identity = d
            .psk_identity
            .clone()
            .ok_or_else(|| bad("--psk-identity", format!("required for {}", kind.as_str())))?;
        if identity.is_empty() || identity.len() > 128 {
            return Err(bad("--psk-identity", "must be 1..=128 bytes"));
        }
        let hex = d
            .psk_hex
            .as_deref()
            .ok_or_else(|| bad("--psk-hex", format!("required for {}", kind.as_str())))?;
        Ok(PskConfig {
            identity: identity.into_bytes(),
            key: Zeroizing::new(parse_hex("--psk-hex", hex)?),
        })
    };
    let idle_secs = || -> Result<Option<std::time::Duration>, SettingError> {
        match d.client_idle_secs {
            Some(0) => Err(bad("--client-idle-secs", "must be at least 1")),
            s => Ok(s.map(std::time::Duration::from_secs)),
        }
    };
    let limits = || -> Result<ClientLimits, SettingError> {
        let default = ClientLimits::default();
        let max_clients = d.max_clients.unwrap_or(default.max_clients);
        if max_clients == 0 || max_clients > MAX_CLIENTS {
            return Err(bad(
                "--max-clients",
                format!("{max_clients}: must be 1..={MAX_CLIENTS}"),
            ));
        }
        let idle_timeout = idle_secs()?.unwrap_or(default.idle_timeout);
        let evict_after = d
            .client_evict_after_secs
            .map_or(default.evict_after, Duration::from_secs);
        Ok(ClientLimits {
            max_clients,
            idle_timeout,
            evict_after,
        })
    };
    Ok(match kind {
        DeviceKind::Plain => DeviceSpec::Plain,
        DeviceKind::Cdpsk => DeviceSpec::Cdpsk(CdpskConfig {
            psk: psk()?,
            limits: limits()?,
        }),
        DeviceKind::Delegated => {
            let slots = d.session_slots.unwrap_or(DEFAULT_SESSION_SLOTS);
            if slots == 0 || slots > MAX_SESSION_SLOTS {
                return Err(bad(
                    "--session-slots",
                    format!("{slots}: must be 1..={MAX_SESSION_SLOTS}"),
                ));
            }
            let transfer_port = d.transfer_port.unwrap_or(DEFAULT_TRANSFER_PORT);
            if [
                0,
                COAPS_PORT,
                crate::mote::COAP_PORT,
                crate::mote::ECHO_PORT,
            ]
            .contains(&transfer_port)
            {
                return Err(bad(
                    "--transfer-port",
                    format!("{transfer_port}: taken or invalid"),
                ));
            }
            let leg = match d.leg.as_deref() {
                None => Leg::default(),
                Some(l) => l.parse().map_err(|e: String| bad("--leg", e))?,
            };
            let iotssp_address = match d.iotssp_address.as_deref() {
                None => None,
                Some(a) => match a.parse::<std::net::SocketAddr>() {
                    Ok(std::net::SocketAddr::V6(v6)) if v6.port() != 0 => {
                        Some(crate::mote::secure::peer(*v6.ip(), v6.port()))
                    }
                    _ => {
                        return Err(bad(
                            "--iotssp-address",
                            format!("{a}: not [IPv6 address]:port"),
                        ));
                    }
                },
            };
            let iotssp = psk()?;
            if leg == Leg::Association && !(16..=32).contains(&iotssp.key.len()) {
                return Err(bad(
                    "--psk-hex",
                    "must be 16..=32 bytes for --leg association",
                ));
            }
            DeviceSpec::Delegated(DelegatedConfig {
                iotssp,
                transfer_port,
                slots,
                suites: parse_suites(d.cipher_suites.as_deref())?,
                leg,
                iotssp_address,
                session_idle: idle_secs()?.unwrap_or(DEFAULT_SESSION_IDLE),
                session_evict_after: d
                    .client_evict_after_secs
                    .map_or(DEFAULT_SESSION_EVICT_AFTER, Duration::from_secs),
                outbound: match d.outbound.as_deref() {
                    None if d.outbound_reports_per_session.is_some() => {
                        return Err(bad(
                            "--outbound-reports-per-session",
                            "needs --outbound (the server the mote reports to)",
                        ));
                    }
                    None => None,
                    Some(_) if leg != Leg::Association => {
                        return Err(bad("--outbound", "needs --leg association"));
                    }
                    Some(uri) => {
                        let interval = d
                            .outbound_interval_secs
                            .map_or(DEFAULT_OUTBOUND_INTERVAL, Duration::from_secs);
                        let mut target = OutboundTarget::parse(uri, interval)
                            .map_err(|e| bad("--outbound", e))?;
                        target.reports_per_session = match d.outbound_reports_per_session {
                            Some(0) => {
                                return Err(bad(
                                    "--outbound-reports-per-session",
                                    "0: must be at least 1 (leave it out to keep the session)",
                                ));
                            }
                            k => k,
                        };
                        Some(target)
                    }
                },
                signing_key: match d.key.as_deref() {
                    None => None,
                    Some(_) if leg != Leg::Association => {
                        return Err(bad(
                            "--key",
                            "a delegated mote signs only on --leg association",
                        ));
                    }
                    Some(key) => Some(
                        crate::mote::secure::association::signing_key_from_pem(&read_pem(
                            "--key", key,
                        )?)
                        .map_err(|e| bad("--key", e))?,
                    ),
                },
                ecc: match &d.ecc_profile {
                    Some(p) => p.parse().map_err(|e: String| bad("--ecc-profile", e))?,
                    None => EccProfile::default(),
                },
                resumption_slots: match d.resumption_slots {
                    None | Some(0) => 0,
                    Some(_) if leg != Leg::Association => {
                        return Err(bad(
                            "--resumption-slots",
                            "needs --leg association: the master secret comes with the association's Transfer",
                        ));
                    }
                    Some(n) if n > slots => {
                        return Err(bad(
                            "--resumption-slots",
                            format!("{n}: at most --session-slots ({slots})"),
                        ));
                    }
                    Some(n) => n,
                },
            })
        }
        DeviceKind::Dcert => {
            let certificate_types = match d.certificate_types.as_deref() {
                None => vec![CertificateType::X509],
                Some(list) => {
                    let mut types = Vec::new();
                    for name in list.split(',') {
                        let t = CertificateType::from_name(name).ok_or_else(|| {
                            bad(
                                "--certificate-types",
                                format!("{name:?} is not x509 or raw-public-key"),
                            )
                        })?;
                        if !types.contains(&t) {
                            types.push(t);
                        }
                    }
                    types
                }
            };
            let raw_key_only = certificate_types == [CertificateType::RawPublicKey];
            let client_raw_keys = match d.client_rpk_sha256.as_deref() {
                None => None,
                Some(list) => {
                    let mut pins = Vec::new();
                    for h in list.split(',') {
                        let b = parse_hex("--client-rpk-sha256", h)?;
                        let pin: [u8; 32] = b.try_into().map_err(|_| {
                            bad(
                                "--client-rpk-sha256",
                                "each must be 32 bytes (64 hex digits)",
                            )
                        })?;
                        pins.push(pin);
                    }
                    Some(RawKeyTrust::Pinned(pins))
                }
            };
            if d.cert.is_none() && !raw_key_only {
                return Err(bad("--cert", "required for dcert"));
            }
            let key = d
                .key
                .as_deref()
                .ok_or_else(|| bad("--key", "required for dcert"))?;
            let certificate = match d.cert.as_deref() {
                None if raw_key_only => CertifiedKey::raw_public_key(
                    SigningKey::from_pem(&read_pem("--key", key)?)
                        .map_err(|e| bad("--key", format!("{e}")))?,
                ),
                None => return Err(bad("--cert", "required for dcert")),
                Some(cert) => {
                    CertifiedKey::from_pem(&read_pem("--cert", cert)?, &read_pem("--key", key)?)
                        .map_err(|e| bad("--cert/--key", format!("{e}")))?
                }
            };
            let client_auth = match d.trust_anchor.as_deref() {
                Some(anchors) => Some(
                    ChainVerifier::from_pem(&read_pem("--trust-anchor", anchors)?)
                        .map_err(|e| bad("--trust-anchor", format!("{e}")))?,
                ),
                None if client_raw_keys.is_some() => None,
                None => return Err(bad("--trust-anchor", "required for dcert")),
            };
            let ecc = match &d.ecc_profile {
                Some(p) => p.parse().map_err(|e: String| bad("--ecc-profile", e))?,
                None => EccProfile::default(),
            };
            DeviceSpec::Dcert(DcertConfig {
                certificate: Arc::new(certificate),
                certificate_types,
                client_auth,
                client_raw_keys,
                ecc,
                limits: limits()?,
                cipher_suites: parse_suites(d.cipher_suites.as_deref())?,
            })
        }
    })
}

/// The TOML file: the long options' names with underscores, and `[[device]]` tables.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(flatten)]
    pub options: Options,
    /// Global device settings (`device_kind = "delegated"`, `psk_identity`, ...).
    #[serde(flatten)]
    pub device: DeviceOptions,
    /// Per-mote device settings, `[[device]]` tables with `index` or `eui64`.
    #[serde(rename = "device")]
    pub devices: Option<Vec<DeviceEntry>>,
}

/// Where the border router reaches us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serve {
    Pty(PathBuf),
    Tcp(SocketAddr),
    Zep { peer: SocketAddr, bind: SocketAddr },
}

/// Everything the driver needs, validated.
#[derive(Clone, Debug)]
pub struct Settings {
    pub serve: Serve,
    pub sim: SimConfig,
    pub stats_file: Option<PathBuf>,
    /// How often the stats file is rewritten.
    pub stats_interval: Duration,
}

/// A refused setting: which one and why.
#[derive(Debug, thiserror::Error)]
#[error("{option}: {reason}")]
pub struct SettingError {
    pub option: &'static str,
    pub reason: String,
}

fn bad(option: &'static str, reason: impl Into<String>) -> SettingError {
    SettingError {
        option,
        reason: reason.into(),
    }
}

fn parse_eui(option: &'static str, s: &str) -> Result<Eui64, SettingError> {
    s.parse().map_err(|_| {
        bad(
            option,
            format!("{s:?} is not an EUI-64 (e.g. 00:12:4b:00:00:00:00:01)"),
        )
    })
}

fn parse_addr(option: &'static str, s: &str) -> Result<SocketAddr, SettingError> {
    s.parse().map_err(|_| {
        bad(
            option,
            format!("{s:?} is not an address:port (e.g. 127.0.0.1:60001)"),
        )
    })
}

/// `fd00:aaaa::/64` -> the prefix (the rule of [`lowpan::Prefix64`]'s `FromStr`).
pub fn parse_prefix(s: &str) -> Result<Ipv6Addr, SettingError> {
    s.parse::<lowpan::Prefix64>()
        .map(|p| p.network())
        .map_err(|e| bad("--prefix", format!("{s:?} {e}")))
}

impl Cli {
    /// The device of every mote: `[[device]]` entries over `global` (the command line over
    /// the file's top-level settings).
    fn devices(
        global: DeviceOptions,
        entries: Vec<DeviceEntry>,
        motes: &[Eui64],
    ) -> Result<(Vec<DeviceSpec>, Vec<Option<u16>>), SettingError> {
        let mut per_mote: Vec<DeviceOptions> = vec![global.clone(); motes.len()];
        for entry in entries {
            let i = match (entry.index, &entry.eui64) {
                (Some(n), None) if (1..=motes.len()).contains(&n) => n - 1,
                (None, Some(e)) => {
                    let e = parse_eui("[[device]] eui64", e)?;
                    motes.iter().position(|m| *m == e).ok_or_else(|| {
                        bad("[[device]] eui64", format!("{e} is not one of the motes"))
                    })?
                }
                _ => {
                    return Err(bad(
                        "[[device]]",
                        format!("needs exactly one of index (1..={}) or eui64", motes.len()),
                    ));
                }
            };
            per_mote[i] = entry.device.over(global.clone());
        }
        if per_mote.iter().any(|d| d.register_lifetime_min == Some(0)) {
            return Err(bad(
                "register_lifetime_min",
                "0 would deregister: 1..=65535 minutes",
            ));
        }
        let registering = per_mote.iter().map(|d| d.register_lifetime_min).collect();
        Ok((
            per_mote.iter().map(device_spec).collect::<Result<_, _>>()?,
            registering,
        ))
    }

    /// Validate, reading `--config` if given.
    pub fn settings(&self) -> Result<Settings, SettingError> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad("--config", format!("{}: {e}", path.display())))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| bad("--config", format!("{}: {e}", path.display())))?
            }
            None => FileConfig::default(),
        };
        self.merge(file)
    }

    fn merge(&self, file: FileConfig) -> Result<Settings, SettingError> {
        let o = self.options.clone().over(file.options);
        let device = self.device.clone().over(file.device);
        let serve = match (&self.pty, &self.tcp_listen, &self.zep_peer) {
            (Some(p), None, None) => Serve::Pty(p.clone()),
            (None, Some(a), None) => Serve::Tcp(parse_addr("--tcp-listen", a)?),
            (None, None, Some(peer)) => Serve::Zep {
                peer: parse_addr("--zep-peer", peer)?,
                bind: parse_addr(
                    "--zep-bind",
                    self.zep_bind.as_deref().unwrap_or("127.0.0.1:17755"),
                )?,
            },
            (None, None, None) => {
                return Err(bad(
                    "--pty/--tcp-listen/--zep-peer",
                    "one of them is required",
                ));
            }
            _ => {
                return Err(bad(
                    "--pty/--tcp-listen/--zep-peer",
                    "give only one of them",
                ));
            }
        };
        if self.zep_bind.is_some() && !matches!(serve, Serve::Zep { .. }) {
            return Err(bad("--zep-bind", "only with --zep-peer"));
        }
        let radio_eui64 = match &o.radio_eui64 {
            Some(s) => parse_eui("--radio-eui64", s)?,
            None => DEFAULT_RADIO_EUI64,
        };
        let listed = &o.mote_eui64s;
        let motes: Vec<Eui64> = if listed.is_empty() {
            let n = o.motes.unwrap_or(1);
            if n == 0 || n > MAX_MOTES {
                return Err(bad("--motes", format!("{n}: must be 1..={MAX_MOTES}")));
            }
            (1..=n as u16).map(default_mote_eui64).collect()
        } else {
            if listed.len() > MAX_MOTES {
                return Err(bad("--mote-eui64", format!("at most {MAX_MOTES} motes")));
            }
            listed
                .iter()
                .map(|s| parse_eui("--mote-eui64", s.trim()))
                .collect::<Result<_, _>>()?
        };
        for (i, m) in motes.iter().enumerate() {
            if *m == radio_eui64 {
                return Err(bad(
                    "--mote-eui64",
                    format!("mote {} has the radio's EUI-64 {m}", i + 1),
                ));
            }
            if motes[..i].contains(m) {
                return Err(bad("--mote-eui64", format!("{m} is listed twice")));
            }
        }
        let pan_id = o.pan_id.map_or(crate::firmware::DEFAULT_PAN, |p| p.0);
        if pan_id == 0xffff {
            return Err(bad("--pan-id", "0xffff is the broadcast PAN"));
        }
        let channel = o.channel.unwrap_or(26);
        if !(11..=26).contains(&channel) {
            return Err(bad("--channel", format!("{channel}: must be 11..=26")));
        }
        let prefix = o.prefix.as_deref().map(parse_prefix).transpose()?;
        let loss = o.loss.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&loss) {
            return Err(bad(
                "--loss",
                format!("{loss}: must be a probability in 0..=1"),
            ));
        }
        let max_tx = o.max_tx.unwrap_or(4);
        if max_tx == 0 {
            return Err(bad("--max-tx", "must be at least 1"));
        }
        let seed = o.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        let ack_wait = o.zep_ack_wait_ms.unwrap_or(20);
        if ack_wait == 0 || ack_wait > 10_000 {
            return Err(bad(
                "--zep-ack-wait-ms",
                format!("{ack_wait}: must be 1..=10000"),
            ));
        }
        let stats_interval = o.stats_interval_ms.unwrap_or(1000);
        if !(20..=60_000).contains(&stats_interval) {
            return Err(bad(
                "--stats-interval-ms",
                format!("{stats_interval}: must be 20..=60000"),
            ));
        }
        let (devices, registering) =
            Self::devices(device, file.devices.unwrap_or_default(), &motes)?;
        let mode = match serve {
            Serve::Zep { .. } => UplinkMode::Zep { channel },
            _ => UplinkMode::SlipRadio,
        };
        let links = match o.links.is_empty() {
            true => None,
            false => Some(
                o.links
                    .iter()
                    .map(|l| parse_link(l, loss, motes.len()))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        if let Some(n) = o
            .sixlowpan_routers
            .iter()
            .find(|n| **n == 0 || **n > motes.len())
        {
            return Err(bad(
                "--sixlowpan-router",
                format!("{n}: motes are numbered 1..={}", motes.len()),
            ));
        }
        if !o.sixlowpan_routers.is_empty() && o.rpl {
            return Err(bad(
                "--sixlowpan-router",
                "6LoWPAN routers are for RS/RA hosts, not with --rpl",
            ));
        }
        let air = AirConfig {
            loss,
            paced: !o.unthrottled,
            external_ack_wait: Duration::from_millis(ack_wait),
            links,
            ..AirConfig::default()
        };
        Ok(Settings {
            serve,
            sim: SimConfig {
                radio_eui64,
                pan_id,
                channel,
                motes,
                prefix,
                air,
                max_tx,
                seed,
                mode,
                devices,
                rpl: o.rpl,
                registering,
                sixlowpan_routers: o.sixlowpan_routers,
            },
            stats_file: o.stats_file,
            stats_interval: Duration::from_millis(stats_interval),
        })
    }
}

/// `A-B`, `A-B:loss` or `A-B:loss:lqi[:rssi]`, nodes 0 (the radio) ..= `motes`.
fn parse_link(s: &str, default_loss: f64, motes: usize) -> Result<crate::air::Link, SettingError> {
    let mut parts = s.split(':');
    let pair = parts.next().unwrap_or_default();
    let loss = match parts.next() {
        Some(l) => l
            .parse::<f64>()
            .map_err(|_| bad("--link", format!("{s}: loss {l:?} is not a number")))?,
        None => default_loss,
    };
    let lqi = match parts.next() {
        Some(q) => q
            .parse::<u8>()
            .map_err(|_| bad("--link", format!("{s}: LQI {q:?} is not 0..=255")))?,
        None => u8::MAX,
    };
    let rssi_dbm = match parts.next() {
        Some(r) => Some(
            r.parse::<i8>()
                .map_err(|_| bad("--link", format!("{s}: RSSI {r:?} is not -128..=127 dBm")))?,
        ),
        None => None,
    };
    if parts.next().is_some() {
        return Err(bad(
            "--link",
            format!("{s}: expected A-B[:loss[:lqi[:rssi]]]"),
        ));
    }
    let (a, b) = pair
        .split_once('-')
        .ok_or_else(|| bad("--link", format!("{s}: expected A-B[:loss[:lqi[:rssi]]]")))?;
    let node = |x: &str| {
        x.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= motes)
            .ok_or_else(|| bad("--link", format!("{s}: {x:?} is not a node 0..={motes}")))
    };
    let (a, b) = (node(a)?, node(b)?);
    if a == b {
        return Err(bad(
            "--link",
            format!("{s}: a node does not link to itself"),
        ));
    }
    if !(0.0..=1.0).contains(&loss) {
        return Err(bad(
            "--link",
            format!("{s}: loss must be a probability in 0..=1"),
        ));
    }
    Ok(crate::air::Link {
        a,
        b,
        loss,
        lqi,
        rssi_dbm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Settings, String> {
        let mut v = vec!["motesim"];
        v.extend_from_slice(args);
        let c = Cli::try_parse_from(v).map_err(|e| e.to_string())?;
        c.settings().map_err(|e| e.to_string())
    }

    #[test]
    fn links_take_a_loss_an_lqi_and_an_rssi() {
        let s = cli(&[
            "--tcp-listen",
            "127.0.0.1:0",
            "--motes",
            "2",
            "--link",
            "0-1,0-2:0.1:200:-62,1-2:0:90",
        ])
        .unwrap();
        let links = s.sim.air.links.clone().unwrap();
        assert_eq!(links[0], crate::air::Link::new(0, 1, 0.0));
        assert_eq!(
            links[1],
            crate::air::Link {
                a: 0,
                b: 2,
                loss: 0.1,
                lqi: 200,
                rssi_dbm: Some(-62)
            }
        );
        assert_eq!((links[2].lqi, links[2].rssi_dbm), (90, None));
        assert_eq!(s.sim.air.link_heard(2, 0), (200, Some(-62)));
        for bad in ["0-1:0:256", "0-1:0:9:-200", "0-1:0:9:-60:1", "0-1:x"] {
            assert!(
                cli(&["--tcp-listen", "127.0.0.1:0", "--motes", "2", "--link", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn defaults() {
        let s = cli(&["--tcp-listen", "127.0.0.1:0", "--motes", "3", "--seed", "5"]).unwrap();
        assert_eq!(s.serve, Serve::Tcp("127.0.0.1:0".parse().unwrap()));
        assert_eq!(
            s.sim.motes,
            vec![
                default_mote_eui64(1),
                default_mote_eui64(2),
                default_mote_eui64(3)
            ]
        );
        assert_eq!(s.sim.motes[0].to_string(), "00:12:4b:00:00:00:00:01");
        assert_eq!(s.sim.radio_eui64, DEFAULT_RADIO_EUI64);
        assert_eq!(s.sim.pan_id, 0xabcd);
        assert_eq!(s.sim.max_tx, 4);
        assert!(s.sim.air.paced);
        assert_eq!(s.sim.seed, 5);
    }

    #[test]
    fn bad_input_names_the_option() {
        for (args, what) in [
            (&["--motes", "2"][..], "one of them is required"),
            (
                &["--pty", "/tmp/x", "--tcp-listen", "127.0.0.1:1"][..],
                "only one",
            ),
            (&["--tcp-listen", "nonsense"][..], "--tcp-listen"),
            (
                &["--tcp-listen", "127.0.0.1:1", "--loss", "1.5"][..],
                "--loss",
            ),
            (
                &["--tcp-listen", "127.0.0.1:1", "--prefix", "fd00::/48"][..],
                "--prefix",
            ),
            (
                &["--tcp-listen", "127.0.0.1:1", "--radio-eui64", "zz"][..],
                "--radio-eui64",
            ),
            (
                &["--tcp-listen", "127.0.0.1:1", "--motes", "0"][..],
                "--motes",
            ),
            (
                &[
                    "--tcp-listen",
                    "127.0.0.1:1",
                    "--mote-eui64",
                    "00:12:4b:00:00:00:ff:01",
                ][..],
                "radio's",
            ),
            (
                &["--tcp-listen", "127.0.0.1:1", "--pan-id", "0x1ffff"][..],
                "--pan-id",
            ),
            (
                &["--tcp-listen", "127.0.0.1:1", "--channel", "5"][..],
                "--channel",
            ),
        ] {
            let e = cli(args).unwrap_err();
            assert!(e.contains(what), "{args:?}: {e}");
        }
    }

    #[test]
    fn explicit_motes_prefix_and_zep() {
        let s = cli(&[
            "--zep-peer",
            "127.0.0.1:17754",
            "--mote-eui64",
            "02:00:00:00:00:00:00:01,02:00:00:00:00:00:00:02",
            "--prefix",
            "fd00:aaaa::/64",
            "--pan-id",
            "0x1234",
            "--unthrottled",
        ])
        .unwrap();
        assert_eq!(s.sim.motes.len(), 2);
        assert_eq!(s.sim.prefix, Some("fd00:aaaa::".parse().unwrap()));
        assert_eq!(s.sim.pan_id, 0x1234);
        assert!(!s.sim.air.paced);
        assert!(matches!(s.serve, Serve::Zep { .. }));
    }

    #[test]
    fn toml_file_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(
            &good,
            "mote_eui64s = [\"02:00:00:00:00:00:00:07\"]\nloss = 0.1\npan_id = 4660\n",
        )
        .unwrap();
        let s = cli(&[
            "--tcp-listen",
            "127.0.0.1:1",
            "--config",
            good.to_str().unwrap(),
            "--loss",
            "0.3",
        ])
        .unwrap();
        assert_eq!(
            s.sim.motes,
            vec!["02:00:00:00:00:00:00:07".parse().unwrap()]
        );
        assert_eq!(s.sim.air.loss, 0.3, "command line wins");
        assert_eq!(s.sim.pan_id, 0x1234);
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "mote = 3\n").unwrap();
        let e = cli(&[
            "--tcp-listen",
            "127.0.0.1:1",
            "--config",
            bad.to_str().unwrap(),
        ])
        .unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn every_option_has_the_same_name_in_the_file() {
        use clap::CommandFactory;
        let serve_only = [
            "pty",
            "tcp_listen",
            "zep_peer",
            "zep_bind",
            "config",
            "help",
            "version",
        ];
        let dir = tempfile::tempdir().unwrap();
        for arg in Cli::command().get_arguments() {
            let id = arg.get_id().as_str();
            if serve_only.contains(&id) {
                continue;
            }
            // A key of the wrong type is refused as that key, never as an unknown one.
            let f = dir.path().join(format!("{id}.toml"));
            std::fs::write(&f, format!("{id} = {{}}\n")).unwrap();
            let e = cli(&[
                "--tcp-listen",
                "127.0.0.1:1",
                "--config",
                f.to_str().unwrap(),
            ])
            .unwrap_err();
            assert!(
                !e.contains("unknown field"),
                "--{}: {e}",
                arg.get_long().unwrap_or(id)
            );
        }
        let f = dir.path().join("pan.toml");
        std::fs::write(&f, "pan_id = \"0x1234\"\nunthrottled = true\n").unwrap();
        let s = cli(&[
            "--tcp-listen",
            "127.0.0.1:1",
            "--config",
            f.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(s.sim.pan_id, 0x1234);
        assert!(!s.sim.air.paced);
    }

    fn pki(name: &str) -> String {
        format!("{}/../dtls/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn device_kinds_from_command_line_and_file() {
        let s = cli(&["--tcp-listen", "127.0.0.1:1", "--motes", "2"]).unwrap();
        assert!(s.sim.devices.iter().all(|d| d.kind() == DeviceKind::Plain));
        let s = cli(&[
            "--tcp-listen",
            "127.0.0.1:1",
            "--motes",
            "2",
            "--device-kind",
            "delegated",
            "--psk-identity",
            "iotssp-1",
            "--psk-hex",
            "00112233445566778899aabbccddeeff",
        ])
        .unwrap();
        match &s.sim.devices[1] {
            DeviceSpec::Delegated(d) => {
                assert_eq!(d.iotssp.identity, b"iotssp-1");
                assert_eq!(d.iotssp.key.len(), 16);
                assert_eq!(
                    (d.transfer_port, d.slots),
                    (DEFAULT_TRANSFER_PORT, DEFAULT_SESSION_SLOTS)
                );
            }
            other => panic!("{other:?}"),
        }
        // The key never shows in Debug output.
        assert!(!format!("{:?}", s.sim.devices[1]).contains("0011"));

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.toml");
        std::fs::write(
            &f,
            format!(
                "motes = 3\ndevice_kind = \"cdpsk\"\npsk_identity = \"c\"\npsk_hex = \"0102\"\n\
                 [[device]]\nindex = 2\ndevice_kind = \"dcert\"\ncert = \"{}\"\nkey = \"{}\"\ntrust_anchor = \"{}\"\necc_profile = \"cc2538-sw\"\n\
                 [[device]]\neui64 = \"00:12:4b:00:00:00:00:03\"\ndevice_kind = \"plain\"\n",
                pki("server.pem"),
                pki("server.key"),
                pki("ca.pem")
            ),
        )
        .unwrap();
        let s = cli(&[
            "--tcp-listen",
            "127.0.0.1:1",
            "--config",
            f.to_str().unwrap(),
        ])
        .unwrap();
        let kinds: Vec<_> = s.sim.devices.iter().map(DeviceSpec::kind).collect();
        assert_eq!(
            kinds,
            [DeviceKind::Cdpsk, DeviceKind::Dcert, DeviceKind::Plain]
        );
        match &s.sim.devices[1] {
            DeviceSpec::Dcert(d) => assert_eq!(d.ecc, EccProfile::Cc2538Sw),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_device_settings_name_the_option() {
        for (args, what) in [
            (&["--device-kind", "fancy"][..], "--device-kind"),
            (&["--device-kind", "delegated"][..], "--psk-identity"),
            (
                &["--device-kind", "cdpsk", "--psk-identity", "a"][..],
                "--psk-hex",
            ),
            (
                &[
                    "--device-kind",
                    "cdpsk",
                    "--psk-identity",
                    "a",
                    "--psk-hex",
                    "abc",
                ][..],
                "--psk-hex",
            ),
            (
                &[
                    "--device-kind",
                    "cdpsk",
                    "--psk-identity",
                    "a",
                    "--psk-hex",
                    "zz",
                ][..],
                "--psk-hex",
            ),
            (&["--device-kind", "dcert"][..], "--cert"),
            (
                &[
                    "--device-kind",
                    "dcert",
                    "--cert",
                    "/nonexistent",
                    "--key",
                    "/x",
                    "--trust-anchor",
                    "/y",
                ][..],
                "--cert",
            ),
            (
                &[
                    "--device-kind",
                    "delegated",
                    "--psk-identity",
                    "a",
                    "--psk-hex",
                    "00",
                    "--session-slots",
                    "0",
                ][..],
                "--session-slots",
            ),
            (
                &[
                    "--device-kind",
                    "delegated",
                    "--psk-identity",
                    "a",
                    "--psk-hex",
                    "00",
                    "--transfer-port",
                    "5684",
                ][..],
                "--transfer-port",
            ),
        ] {
            let mut v = vec!["--tcp-listen", "127.0.0.1:1"];
            v.extend_from_slice(args);
            let e = cli(&v).unwrap_err();
            assert!(e.contains(what), "{args:?}: {e}");
        }
        let s = cli(&[
            "--tcp-listen",
            "127.0.0.1:1",
            "--device-kind",
            "dcert",
            "--cert",
            &pki("server.pem"),
            "--key",
            &pki("server.key"),
            "--trust-anchor",
            &pki("ca.pem"),
            "--ecc-profile",
            "fast",
        ]);
        assert!(s.unwrap_err().contains("--ecc-profile"));
    }
}

#[cfg(test)]
mod client_limit_tests {
    use super::*;
    use std::time::Duration;

    fn cli(args: &[&str]) -> Result<Settings, String> {
        let mut v = vec!["motesim", "--tcp-listen", "127.0.0.1:1"];
        v.extend_from_slice(args);
        let c = Cli::try_parse_from(v).map_err(|e| e.to_string())?;
        c.settings().map_err(|e| e.to_string())
    }

    const CDPSK: [&str; 6] = [
        "--device-kind",
        "cdpsk",
        "--psk-identity",
        "a",
        "--psk-hex",
        "00",
    ];

    #[test]
    fn cdpsk_client_limits_are_per_device_options() {
        let s = cli(&CDPSK).unwrap();
        let DeviceSpec::Cdpsk(c) = &s.sim.devices[0] else {
            panic!("{:?}", s.sim.devices)
        };
        assert_eq!(c.limits, ClientLimits::default());
        let mut args = CDPSK.to_vec();
        args.extend([
            "--max-clients",
            "2",
            "--client-idle-secs",
            "60",
            "--client-evict-after-secs",
            "5",
        ]);
        let s = cli(&args).unwrap();
        let DeviceSpec::Cdpsk(c) = &s.sim.devices[0] else {
            panic!()
        };
        assert_eq!(
            c.limits,
            ClientLimits {
                max_clients: 2,
                idle_timeout: Duration::from_secs(60),
                evict_after: Duration::from_secs(5)
            }
        );
        for (bad, what) in [
            (["--max-clients", "0"], "--max-clients"),
            (["--max-clients", "17"], "--max-clients"),
            (["--client-idle-secs", "0"], "--client-idle-secs"),
        ] {
            let mut args = CDPSK.to_vec();
            args.extend(bad);
            let e = cli(&args).unwrap_err();
            assert!(e.contains(what), "{e}");
        }
    }

    #[test]
    fn delegated_session_idle_is_a_per_device_option() {
        let delegated = [
            "--device-kind",
            "delegated",
            "--psk-identity",
            "a",
            "--psk-hex",
            "000102030405060708090a0b0c0d0e0f",
        ];
        let s = cli(&delegated).unwrap();
        let DeviceSpec::Delegated(c) = &s.sim.devices[0] else {
            panic!("{:?}", s.sim.devices)
        };
        assert_eq!(c.session_idle, DEFAULT_SESSION_IDLE);
        assert_eq!(c.session_evict_after, DEFAULT_SESSION_EVICT_AFTER);
        let mut args = delegated.to_vec();
        args.extend(["--client-idle-secs", "45", "--client-evict-after-secs", "5"]);
        let s = cli(&args).unwrap();
        let DeviceSpec::Delegated(c) = &s.sim.devices[0] else {
            panic!()
        };
        assert_eq!(c.session_idle, Duration::from_secs(45));
        assert_eq!(c.session_evict_after, Duration::from_secs(5));
        let mut args = delegated.to_vec();
        args.extend(["--client-idle-secs", "0"]);
        assert!(cli(&args).unwrap_err().contains("--client-idle-secs"));
    }

    #[test]
    fn resumption_slots_are_bounded_by_the_session_slots_on_the_association_leg() {
        let delegated = [
            "--device-kind",
            "delegated",
            "--psk-identity",
            "a",
            "--psk-hex",
            "000102030405060708090a0b0c0d0e0f",
        ];
        let s = cli(&delegated).unwrap();
        let DeviceSpec::Delegated(c) = &s.sim.devices[0] else {
            panic!("{:?}", s.sim.devices)
        };
        assert_eq!(c.resumption_slots, 0);
        let mut args = delegated.to_vec();
        args.extend(["--resumption-slots", "2"]);
        let s = cli(&args).unwrap();
        let DeviceSpec::Delegated(c) = &s.sim.devices[0] else {
            panic!()
        };
        assert_eq!(c.resumption_slots, 2);
        for bad in [
            &["--resumption-slots", "3"][..],
            &["--resumption-slots", "1", "--leg", "psk-handshake"][..],
        ] {
            let mut args = delegated.to_vec();
            args.extend(bad);
            let e = cli(&args).unwrap_err();
            assert!(e.contains("--resumption-slots"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn outbound_is_a_coaps_uri_on_the_association_leg() {
        let delegated = [
            "--device-kind",
            "delegated",
            "--psk-identity",
            "a",
            "--psk-hex",
            "000102030405060708090a0b0c0d0e0f",
        ];
        let s = cli(&delegated).unwrap();
        let DeviceSpec::Delegated(c) = &s.sim.devices[0] else {
            panic!("{:?}", s.sim.devices)
        };
        assert_eq!(c.outbound, None);
        let mut args = delegated.to_vec();
        args.extend([
            "--outbound",
            "coaps://[2001:db8::9]:5690/a/b",
            "--outbound-interval-secs",
            "3",
        ]);
        let s = cli(&args).unwrap();
        let DeviceSpec::Delegated(c) = &s.sim.devices[0] else {
            panic!()
        };
        let o = c.outbound.as_ref().unwrap();
        assert_eq!(
            o.server,
            crate::mote::secure::peer("2001:db8::9".parse().unwrap(), 5690)
        );
        assert_eq!(
            (o.path.as_str(), o.interval),
            ("/a/b", Duration::from_secs(3))
        );
        let mut args = delegated.to_vec();
        args.extend(["--outbound", "coaps://[2001:db8::9]"]);
        let s = cli(&args).unwrap();
        let DeviceSpec::Delegated(c) = &s.sim.devices[0] else {
            panic!()
        };
        let o = c.outbound.as_ref().unwrap();
        assert_eq!(
            (o.server.port, o.path.as_str(), o.interval),
            (COAPS_PORT, "/", DEFAULT_OUTBOUND_INTERVAL)
        );
        for bad in [
            "coap://[2001:db8::9]/",
            "coaps://2001:db8::9/",
            "coaps://[2001:db8::9]:0/",
            "coaps://[x]/",
        ] {
            let mut args = delegated.to_vec();
            args.extend(["--outbound", bad]);
            assert!(cli(&args).unwrap_err().contains("--outbound"), "{bad}");
        }
        let mut args = delegated.to_vec();
        args.extend([
            "--leg",
            "psk-handshake",
            "--outbound",
            "coaps://[2001:db8::9]/",
        ]);
        assert!(cli(&args).unwrap_err().contains("needs --leg association"));
    }

    #[test]
    fn outbound_reports_per_session_needs_outbound_and_at_least_one() {
        let mut args = vec![
            "--device-kind",
            "delegated",
            "--psk-identity",
            "a",
            "--psk-hex",
            "000102030405060708090a0b0c0d0e0f",
            "--resumption-slots",
            "1",
        ];
        let e = cli(&[&args[..], &["--outbound-reports-per-session", "3"]].concat()).unwrap_err();
        assert!(
            e.contains("--outbound-reports-per-session") && e.contains("needs --outbound"),
            "{e}"
        );
        args.extend(["--outbound", "coaps://[2001:db8::9]/t"]);
        let s = cli(&args).unwrap();
        let DeviceSpec::Delegated(c) = &s.sim.devices[0] else {
            panic!()
        };
        assert_eq!(c.outbound.as_ref().unwrap().reports_per_session, None);
        let e = cli(&[&args[..], &["--outbound-reports-per-session", "0"]].concat()).unwrap_err();
        assert!(
            e.contains("--outbound-reports-per-session") && e.contains("at least 1"),
            "{e}"
        );
        let s = cli(&[&args[..], &["--outbound-reports-per-session", "3"]].concat()).unwrap();
        let DeviceSpec::Delegated(c) = &s.sim.devices[0] else {
            panic!()
        };
        assert_eq!(c.outbound.as_ref().unwrap().reports_per_session, Some(3));
        assert_eq!(c.resumption_slots, 1);
    }
}
