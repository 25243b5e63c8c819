//! From the file as written to the typed [`Config`]: every value that depends on another
//! (radio kind, prefix and address, motes and their IoTSSPs) is checked here, and every
//! problem is reported with its dotted key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::schema::{
    ConfigFile, IotsspSection, MotePolicy, MoteSection, RadioKind, RplMode, SourceRouting,
};
use super::{Config, ConfigIssue, IotsspConfig, IotsspKind, KeySource, MoteConfig, RemoteIotssp};

/// Bounds of `[[iotssp]]` `keepalive_ms` / `dead_after_ms`.
pub const KEEPALIVE: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(60);
pub const DEAD_AFTER: RangeInclusive<Duration> =
    Duration::from_millis(500)..=Duration::from_secs(600);

/// The typed configuration `file` describes, or every problem with it.
pub fn validate(file: ConfigFile) -> Result<Config, Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    let mut bad = |key: &str, reason: String| {
        issues.push(ConfigIssue {
            key: key.into(),
            reason,
        })
    };
    check_sections(&file, &mut bad);
    let motes = motes(&file.motes, &mut bad);
    let iotssps = iotssps(&file, &mut bad);
    check_delegation(&file.motes, &file.iotssps, &mut bad);
    if !issues.is_empty() {
        return Err(issues);
    }
    let ConfigFile {
        radio,
        tun,
        network,
        hrm,
        capture,
        metrics,
        control,
        log,
        rpl,
        ..
    } = file;
    Ok(Config {
        radio,
        tun,
        network,
        motes,
        hrm,
        iotssps,
        capture,
        metrics,
        control,
        log,
        rpl,
    })
}

fn check_sections(c: &ConfigFile, bad: &mut impl FnMut(&str, String)) {
    let r = &c.radio;
    match r.kind {
        RadioKind::Serial => {
            if r.device.is_empty() {
                bad(
                    "radio.device",
                    "must name a serial device when radio.kind = \"serial\"".into(),
                );
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
            if r.eui64.0[0] & 0x01 != 0 {
                bad(
                    "radio.eui64",
                    "must be a unicast EUI-64 (group bit of the first byte set)".into(),
                );
            }
        }
    }
    if r.reconnect_min.is_zero() {
        bad("radio.reconnect_min_ms", "must be at least 1".into());
    }
    if r.reconnect_max < r.reconnect_min {
        bad(
            "radio.reconnect_max_ms",
            "must not be less than radio.reconnect_min_ms".into(),
        );
    }
    if !(11..=26).contains(&r.channel) {
        bad(
            "radio.channel",
            format!("{} is not a 2.4 GHz 802.15.4 channel (11..=26)", r.channel),
        );
    }
    if r.pan_id == 0xffff {
        bad(
            "radio.pan_id",
            "0xffff is the broadcast PAN identifier".into(),
        );
    }
    if !(1..=16).contains(&r.window) {
        bad(
            "radio.window",
            format!(
                "{} is outside 1..=16 (the slip-radio sid ring has 16 entries)",
                r.window
            ),
        );
    }
    if r.max_tx == 0 {
        bad("radio.max_tx", "must be at least 1".into());
    }
    if r.min_gap > Duration::from_secs(1) {
        bad(
            "radio.min_gap_us",
            "more than one second between frames is surely a mistake".into(),
        );
    }
    if !(1..=65_536).contains(&r.queue_frames) {
        bad(
            "radio.queue_frames",
            format!("{} is outside 1..=65536", r.queue_frames),
        );
    }

    let t = &c.tun;
    if t.name.is_empty() || t.name.len() > 15 || t.name.contains(['/', ' ']) {
        bad(
            "tun.name",
            format!(
                "{:?} is not a Linux interface name (1-15 characters, no '/' or space)",
                t.name
            ),
        );
    }
    if !(1280..=2047).contains(&t.mtu) {
        bad(
            "tun.mtu",
            format!(
                "{} is outside 1280..=2047 (IPv6 minimum MTU .. RFC 4944 datagram_size)",
                t.mtu
            ),
        );
    }

    let n = &c.network;
    if !n.prefix.contains(&n.address) {
        bad(
            "network.address",
            format!("{} is not inside network.prefix {}", n.address, n.prefix),
        );
    }
    if n.address.octets()[8..] == [0; 8] {
        bad(
            "network.address",
            "the all-zero interface identifier is the subnet-router anycast address".into(),
        );
    }
    if n.ra_preferred_lifetime_s > n.ra_valid_lifetime_s {
        bad(
            "network.ra_preferred_lifetime_s",
            "must not exceed network.ra_valid_lifetime_s".into(),
        );
    }
    if n.ra_router_lifetime_s > 9000 {
        bad(
            "network.ra_router_lifetime_s",
            "RFC 4861 caps the router lifetime at 9000 s".into(),
        );
    }
    if n.max_registrations > 1_000_000 {
        bad(
            "network.max_registrations",
            "more than 1000000 is surely a mistake".into(),
        );
    }
    if n.ra_interval_s > 0 && !(4..=1800).contains(&n.ra_interval_s) {
        bad(
            "network.ra_interval_s",
            "RFC 4861 section 6.2.1: 4 to 1800 s, or 0 for none".into(),
        );
    }
    if n.max_learned_motes > 1_000_000 {
        bad(
            "network.max_learned_motes",
            "more than 1000000 is surely a mistake".into(),
        );
    }

    let h = &c.hrm;
    if h.dtls_port == 0 {
        bad("hrm.dtls_port", "must not be 0".into());
    }
    if h.max_flows == 0 || h.max_flows > 10_000_000 {
        bad(
            "hrm.max_flows",
            format!("{} is outside 1..=10000000", h.max_flows),
        );
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

    if let Some(p) = &c.capture.pcap
        && p.as_os_str().is_empty()
    {
        bad(
            "capture.pcap",
            "must not be empty (leave it out to disable capture)".into(),
        );
    }
    if c.capture.flush_interval.is_zero() {
        bad("capture.flush_interval_ms", "must be at least 1".into());
    }
    let r = &c.rpl;
    if let Some(id) = r.dodag_id
        && !n.prefix.contains(&id)
    {
        bad(
            "rpl.dodag_id",
            format!("{id} is not inside network.prefix {}", n.prefix),
        );
    }
    if !(1..=20).contains(&r.dio_interval_min) {
        bad(
            "rpl.dio_interval_min",
            format!("{} is outside 1..=20 (2 ms .. 17 min)", r.dio_interval_min),
        );
    }
    if r.dio_interval_doublings > 20
        || u32::from(r.dio_interval_min) + u32::from(r.dio_interval_doublings) > 32
    {
        bad(
            "rpl.dio_interval_doublings",
            "Imax beyond 2^32 ms (about 50 days) is surely a mistake".into(),
        );
    }
    if r.default_lifetime == 0 || r.lifetime_unit_s == 0 {
        bad(
            "rpl.default_lifetime",
            "routes need a lifetime: default_lifetime and lifetime_unit_s at least 1".into(),
        );
    }
    if r.min_hop_rank_increase == 0 {
        bad("rpl.min_hop_rank_increase", "must be at least 1".into());
    }
    if !(1..=65_536).contains(&r.max_routes) {
        bad(
            "rpl.max_routes",
            format!("{} is outside 1..=65536", r.max_routes),
        );
    }
    if r.source_routing == SourceRouting::Rfc8138 && r.mode == RplMode::Storing {
        bad("rpl.source_routing", "\"rfc8138\" source routes need mode = \"non-storing\" (in storing mode the root sends none)".into());
    }
    if let Err(why) = tracing_subscriber::EnvFilter::try_new(&c.log.level) {
        bad(
            "log.level",
            format!("{:?} is not a tracing filter: {why}", c.log.level),
        );
    }
}

fn check_host_port(s: &str) -> Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) => {
            Ok(())
        }
        _ => Err(format!("{s:?} is not host:port")),
    }
}

fn motes(motes: &[MoteSection], bad: &mut impl FnMut(&str, String)) -> Vec<MoteConfig> {
    let mut seen_eui = BTreeMap::new();
    let mut seen_short = BTreeMap::new();
    let mut out = Vec::with_capacity(motes.len());
    for (i, m) in motes.iter().enumerate() {
        match m.eui64 {
            None => bad(
                &format!("mote[{i}].eui64"),
                "every [[mote]] needs its EUI-64".into(),
            ),
            Some(e) => {
                if let Some(first) = seen_eui.insert(e, i) {
                    bad(
                        &format!("mote[{i}].eui64"),
                        format!("{e} is already used by mote[{first}]"),
                    );
                }
            }
        }
        if let Some(s) = m.short {
            if s >= 0xfffe {
                bad(
                    &format!("mote[{i}].short"),
                    format!("{s:#06x} is reserved (0xfffe: none, 0xffff: broadcast)"),
                );
            } else if let Some(first) = seen_short.insert(s, i) {
                bad(
                    &format!("mote[{i}].short"),
                    format!("{s:#06x} is already used by mote[{first}]"),
                );
            }
        }
        if m.dtls_port == Some(0) {
            bad(&format!("mote[{i}].dtls_port"), "must not be 0".into());
        }
        if let Some(eui64) = m.eui64 {
            out.push(MoteConfig {
                eui64,
                name: m.name.clone(),
                short: m.short,
                policy: m.policy,
                iotssp: m.iotssp.clone(),
                dtls_port: m.dtls_port,
            });
        }
    }
    out
}

fn iotssps(c: &ConfigFile, bad: &mut impl FnMut(&str, String)) -> Vec<IotsspConfig> {
    let h = &c.hrm;
    let mut names = BTreeMap::new();
    let mut out = Vec::with_capacity(c.iotssps.len());
    for (i, s) in c.iotssps.iter().enumerate() {
        let k = |f: &str| format!("iotssp[{i}].{f}");
        if s.name.trim().is_empty() {
            bad(&k("name"), "must not be empty".into());
        } else if let Some(first) = names.insert(s.name.as_str(), i) {
            bad(
                &k("name"),
                format!("{:?} is already used by iotssp[{first}]", s.name),
            );
        }
        let kind = if s.attached {
            if h.attached_port == h.dtls_port {
                bad("hrm.attached_port", "must differ from hrm.dtls_port".into());
            }
            attached(s, &k, bad)
        } else {
            if h.redirect_listen.is_none() {
                bad(
                    "hrm.redirect_listen",
                    format!("needed for the remote IoTSSP iotssp[{i}] (e.g. \"[::]:7701\")"),
                );
            }
            remote(s, &k, bad)
        };
        if let Some(kind) = kind {
            out.push(IotsspConfig {
                name: s.name.clone(),
                kind,
            });
        }
    }
    out
}

fn attached(
    s: &IotsspSection,
    k: &impl Fn(&str) -> String,
    bad: &mut impl FnMut(&str, String),
) -> Option<IotsspKind> {
    for (f, given) in [
        ("address", s.address.is_some()),
        ("key", s.key.is_some()),
        ("key_file", s.key_file.is_some()),
    ] {
        if given {
            bad(&k(f), "only for a remote IoTSSP (attached = false)".into());
        }
    }
    match &s.config {
        None => bad(
            &k("config"),
            "an attached IoTSSP needs its iotssp configuration file".into(),
        ),
        Some(p) if p.as_os_str().is_empty() => bad(&k("config"), "must not be empty".into()),
        Some(p) => return Some(IotsspKind::Attached { config: p.clone() }),
    }
    None
}

fn remote(
    s: &IotsspSection,
    k: &impl Fn(&str) -> String,
    bad: &mut impl FnMut(&str, String),
) -> Option<IotsspKind> {
    if s.config.is_some() {
        bad(
            &k("config"),
            "only for an attached IoTSSP (attached = true)".into(),
        );
    }
    let address: Option<SocketAddr> = s.address;
    if address.is_none() {
        bad(
            &k("address"),
            "a remote IoTSSP needs its redirect address \"[host]:port\" (or attached = true)"
                .into(),
        );
    }
    let key = match (&s.key, &s.key_file) {
        (None, None) => {
            bad(&k("key"), "a remote IoTSSP needs key or key_file".into());
            None
        }
        (Some(_), Some(_)) => {
            bad(&k("key_file"), "give key or key_file, not both".into());
            None
        }
        // The reason names the problem, never the key.
        (Some(key), None) => match redirect::RedirectKey::from_hex(s.key_id, &key.0) {
            Ok(_) => Some(KeySource::Hex(key.clone())),
            Err(e) => {
                bad(&k("key"), e.to_string());
                None
            }
        },
        (None, Some(p)) if p.as_os_str().is_empty() => {
            bad(&k("key_file"), "must not be empty".into());
            None
        }
        (None, Some(p)) => Some(KeySource::File(p.clone())),
    };
    let mut timers_ok = true;
    if !KEEPALIVE.contains(&s.keepalive) {
        timers_ok = false;
        bad(
            &k("keepalive_ms"),
            format!(
                "must be within {}..={} ms",
                KEEPALIVE.start().as_millis(),
                KEEPALIVE.end().as_millis()
            ),
        );
    }
    if !DEAD_AFTER.contains(&s.dead_after) {
        timers_ok = false;
        bad(
            &k("dead_after_ms"),
            format!(
                "must be within {}..={} ms",
                DEAD_AFTER.start().as_millis(),
                DEAD_AFTER.end().as_millis()
            ),
        );
    } else if s.dead_after < s.keepalive.saturating_mul(2) {
        // One lost Hello must not declare the IoTSSP down and alert its clients.
        timers_ok = false;
        bad(
            &k("dead_after_ms"),
            format!(
                "must be at least twice keepalive_ms ({} ms)",
                s.keepalive.as_millis()
            ),
        );
    }
    let (address, key) = (address?, key?);
    timers_ok.then_some(IotsspKind::Remote(RemoteIotssp {
        address,
        key,
        key_id: s.key_id,
        keepalive: s.keepalive,
        dead_after: s.dead_after,
    }))
}

fn check_delegation(
    motes: &[MoteSection],
    iotssps: &[IotsspSection],
    bad: &mut impl FnMut(&str, String),
) {
    for (i, m) in motes.iter().enumerate() {
        match (m.policy, &m.iotssp) {
            (MotePolicy::Delegate, None) => bad(
                &format!("mote[{i}].iotssp"),
                "policy = \"delegate\" needs the name of an [[iotssp]]".into(),
            ),
            // An IoTSSP refused for its own keys is still a name the mote may use.
            (MotePolicy::Delegate, Some(n))
                if !iotssps
                    .iter()
                    .any(|s| !s.name.trim().is_empty() && &s.name == n) =>
            {
                bad(
                    &format!("mote[{i}].iotssp"),
                    format!("no [[iotssp]] named {n:?}"),
                )
            }
            (MotePolicy::Passthrough, Some(_)) => bad(
                &format!("mote[{i}].iotssp"),
                "only for policy = \"delegate\"".into(),
            ),
            _ => {}
        }
    }
}
