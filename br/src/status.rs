//! The status document `lowpan-br status`, the control socket and the status page show:
//! the radio link, the motes with their last frame and traffic, the address
//! registrations (RFC 6775/8505) with their hops and lifetime, the RPL root's downward
//! routes (when `[rpl]` is on), the HRM's flows, each
//! IoTSSP (with an attached one's handshakes in progress and the last ones that ended),
//! counters and drops by reason, and the last configuration reload.
//!
//! Built from the core and what the daemon knows of its IO; no clock is read here (`now`
//! comes in) and times are relative (seconds ago), so the document needs no time zone.

use std::net::Ipv6Addr;
use std::time::Instant;

use lowpan::Address;
use serde_json::{Map, Value, json};
use ssp::status::secs;

use crate::iotssp_wiring::Endpoint;
use crate::neighbours::{MoteStats, Neighbour};
use crate::router::BorderRouter;

/// The radio link as the main loop saw it.
#[derive(Debug, Clone)]
pub struct RadioLink {
    /// "serial /dev/ttyACM0", "tcp 127.0.0.1:60001", "zep 0.0.0.0:17754".
    pub description: String,
    /// Where the neighbours' link quality comes from, or that this radio reports none.
    pub link_quality: &'static str,
    pub up: bool,
    /// When it last went up or down (the daemon's start before either).
    pub since: Instant,
    pub connects: u64,
    pub disconnects: u64,
    pub last_down_reason: Option<String>,
}

impl RadioLink {
    pub fn new(description: String, link_quality: &'static str, now: Instant) -> Self {
        RadioLink {
            description,
            link_quality,
            up: false,
            since: now,
            connects: 0,
            disconnects: 0,
            last_down_reason: None,
        }
    }

    pub fn went_up(&mut self, now: Instant) {
        self.up = true;
        self.since = now;
        self.connects += 1;
    }

    pub fn went_down(&mut self, now: Instant, why: &str) {
        self.up = false;
        self.since = now;
        self.disconnects += 1;
        self.last_down_reason = Some(why.to_string());
    }

    fn state(&self) -> &'static str {
        match (self.up, self.connects) {
            (true, _) => "up",
            (false, 0) => "connecting",
            (false, _) => "down",
        }
    }
}

/// What became of the last SIGHUP.
#[derive(Debug, Clone, Default)]
pub struct ReloadLog {
    pub applied: u64,
    pub refused: u64,
    /// When, "applied" / "refused" / "invalid", and what was changed or why not.
    pub last: Option<(Instant, &'static str, String)>,
}

impl ReloadLog {
    fn json(&self, now: Instant) -> Value {
        let mut m = Map::new();
        m.insert("applied".into(), self.applied.into());
        m.insert("refused".into(), self.refused.into());
        if let Some((at, outcome, message)) = &self.last {
            m.insert("last_outcome".into(), (*outcome).into());
            m.insert("last_message".into(), message.clone().into());
            m.insert(
                "last_s_ago".into(),
                secs(now.saturating_duration_since(*at)).into(),
            );
        }
        Value::Object(m)
    }
}

/// What the daemon adds to the core's state.
pub struct DaemonView<'a> {
    pub started: Instant,
    pub config: &'a str,
    pub log_level: &'a str,
    pub tun: &'a str,
    pub radio: &'a RadioLink,
    /// The radio driver's own counters (frames in and out, reconnects...).
    pub radio_counters: &'a [(&'static str, u64)],
    pub reload: &'a ReloadLog,
}

/// The whole document.
pub fn document(router: &BorderRouter, d: &DaemonView<'_>, now: Instant) -> Value {
    let bridge = router.bridge();
    let cfg = bridge.config();
    let mut doc = Map::new();
    doc.insert("daemon".into(), "lowpan-br".into());
    doc.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    doc.insert("pid".into(), std::process::id().into());
    doc.insert(
        "uptime_s".into(),
        secs(now.saturating_duration_since(d.started)).into(),
    );
    doc.insert("config".into(), d.config.into());
    doc.insert("log_level".into(), d.log_level.into());
    doc.insert("tun".into(), d.tun.into());
    doc.insert("prefix".into(), format!("{}/64", cfg.prefix).into());

    let mut radio = Map::new();
    radio.insert("radio".into(), d.radio.description.clone().into());
    radio.insert("link".into(), d.radio.state().into());
    radio.insert(
        "since_s".into(),
        secs(now.saturating_duration_since(d.radio.since)).into(),
    );
    radio.insert(
        "own_eui64".into(),
        bridge.own_eui64().map(|e| e.to_string()).into(),
    );
    radio.insert("link_quality".into(), d.radio.link_quality.into());
    radio.insert("connects".into(), d.radio.connects.into());
    radio.insert("disconnects".into(), d.radio.disconnects.into());
    radio.insert(
        "last_down_reason".into(),
        d.radio.last_down_reason.clone().into(),
    );
    // The driver's own counters, those that counted something (the metrics have all).
    for (k, v) in d.radio_counters.iter().filter(|(_, v)| *v != 0) {
        radio.insert((*k).into(), (*v).into());
    }
    doc.insert("radio".into(), Value::Object(radio));

    doc.insert("motes".into(), motes(router, now));
    doc.insert("registrations".into(), registrations(router, now));
    if let Some(root) = router.bridge().rpl() {
        doc.insert("rpl_routes".into(), rpl_routes(root));
    }
    doc.insert("flows".into(), flows(router));

    let mut iotssps = Vec::new();
    let mut delegations = Vec::new();
    let mut handshakes = Vec::new();
    if let Some(w) = router.wiring() {
        for l in w.links() {
            let name = l.name.as_str();
            let mut m = Map::new();
            m.insert("name".into(), name.into());
            match &l.endpoint {
                Endpoint::Attached(i) => {
                    m.insert("kind".into(), "attached".into());
                    m.insert("state".into(), "up".into());
                    for (k, v) in ssp::status::counter_list(i) {
                        m.insert(k, v.into());
                    }
                    let tag = |v: Value| match v {
                        Value::Array(rows) => rows
                            .into_iter()
                            .map(|mut r| {
                                if let Value::Object(o) = &mut r {
                                    o.insert("iotssp".into(), name.into());
                                }
                                r
                            })
                            .collect::<Vec<_>>(),
                        _ => Vec::new(),
                    };
                    delegations.extend(tag(ssp::status::delegations(i, now)));
                    handshakes.extend(tag(ssp::status::handshakes(i, now)));
                }
                Endpoint::Remote {
                    address, channel, ..
                } => {
                    m.insert("kind".into(), "remote".into());
                    m.insert("address".into(), address.to_string().into());
                    let state = match channel.liveness(now) {
                        redirect::Liveness::Unknown => "not_heard_yet",
                        redirect::Liveness::Alive => "alive",
                        redirect::Liveness::Dead => "dead",
                    };
                    m.insert("state".into(), state.into());
                    for (k, v) in channel.counters().iter() {
                        if v != 0 {
                            m.insert(format!("channel.{k}"), v.into());
                        }
                    }
                }
            }
            iotssps.push(Value::Object(m));
        }
        doc.insert("hrm".into(), {
            let mut m = Map::new();
            for (k, v) in w.hrm().counters().iter() {
                m.insert(k.to_string(), v.into());
            }
            m.insert("flows".into(), (w.hrm().flow_count() as u64).into());
            for (k, v) in w.hrm().drop_counters() {
                if v != 0 {
                    m.insert(format!("drop.{k}"), v.into());
                }
            }
            for (k, v) in w.counters().iter() {
                m.insert(format!("redirection.{k}"), v.into());
            }
            Value::Object(m)
        });
    }
    doc.insert("iotssps".into(), Value::Array(iotssps));
    doc.insert("delegations".into(), Value::Array(delegations));
    doc.insert("handshakes".into(), Value::Array(handshakes));

    let c = router.counters();
    doc.insert(
        "counters".into(),
        Value::Object(
            c.totals()
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect(),
        ),
    );
    doc.insert(
        "drops".into(),
        Value::Object(c.drops().map(|(k, v)| (k.to_string(), v.into())).collect()),
    );
    doc.insert("reload".into(), d.reload.json(now));
    Value::Object(doc)
}

/// One row per mote: configured ones first (a mote known by its EUI-64 and its short
/// address is one row, its traffic summed), then learned ones.
fn motes(router: &BorderRouter, now: Instant) -> Value {
    let bridge = router.bridge();
    let cfg = bridge.config();
    let table = bridge.neighbours();
    let policy = |ip: Ipv6Addr| -> (&'static str, Value) {
        match router.wiring().and_then(|w| w.hrm().delegate_of(&ip)) {
            Some(ssp) => ("delegate", ssp.as_str().into()),
            None => ("passthrough", Value::Null),
        }
    };
    // With RPL, a mote's hops and parent come from its DAO route; without, every known
    // mote is a radio neighbour of the border router.
    let route = |ip: Ipv6Addr| -> (usize, Option<Ipv6Addr>) {
        match bridge.rpl().and_then(|r| r.path(&ip)) {
            Some(p) if p.len() > 1 => (p.len(), Some(p[p.len() - 2])),
            Some(p) => (p.len().max(1), None),
            None => (1, None),
        }
    };
    let mut rows = Vec::new();
    let mut shown: Vec<Address> = Vec::new();
    for m in &cfg.motes {
        let mut addrs = vec![Address::Extended(m.eui64)];
        addrs.extend(m.short.map(Address::Short));
        let entries: Vec<&Neighbour> = addrs.iter().filter_map(|a| table.get(a)).collect();
        let stats = sum(entries.iter().map(|n| &n.stats));
        let ip = with_iid(cfg.prefix, lowpan::ip::iid_from_eui64(m.eui64));
        let link = match m.short {
            Some(s) => format!("{} / {}", Address::Extended(m.eui64), Address::Short(s)),
            None => Address::Extended(m.eui64).to_string(),
        };
        let (p, ssp) = policy(ip);
        rows.push(row(&m.name, link, ip, true, p, ssp, &stats, now, route(ip)));
        shown.extend(addrs);
    }
    let mut learned: Vec<(&Address, &Neighbour)> =
        table.iter().filter(|(a, _)| !shown.contains(a)).collect();
    learned.sort_by_key(|(a, _)| **a);
    for (a, n) in learned {
        let iid = match a {
            Address::Short(s) => {
                let [hi, lo] = s.to_be_bytes();
                [0, 0, 0, 0xff, 0xfe, 0, hi, lo]
            }
            Address::Extended(e) => lowpan::ip::iid_from_eui64(*e),
            Address::Absent => continue,
        };
        let ip = with_iid(cfg.prefix, iid);
        let (p, ssp) = policy(ip);
        rows.push(row(
            n.name.as_deref().unwrap_or(""),
            a.to_string(),
            ip,
            n.configured,
            p,
            ssp,
            &n.stats,
            now,
            route(ip),
        ));
    }
    Value::Array(rows)
}

#[allow(clippy::too_many_arguments)]
fn row(
    name: &str,
    link: String,
    ip: Ipv6Addr,
    configured: bool,
    policy: &str,
    ssp: Value,
    s: &MoteStats,
    now: Instant,
    (hops, parent): (usize, Option<Ipv6Addr>),
) -> Value {
    json!({
        "name": name,
        "link": link,
        "address": ip.to_string(),
        "configured": configured,
        "policy": policy,
        "iotssp": ssp,
        "hops": hops,
        // The RPL parent when the mote is more than one hop away.
        "parent": parent.map(|p| p.to_string()),
        "last_heard_s_ago": s.last_heard.map(|t| secs(now.saturating_duration_since(t))),
        "link_quality": quality_text(s),
        "lqi": s.last_quality.lqi,
        "rssi_dbm": s.last_quality.rssi_dbm,
        "rx_frames": s.rx_frames,
        "tx_frames": s.tx_frames,
        "rx_bytes": s.rx_bytes,
        "tx_bytes": s.tx_bytes,
    })
}

/// The last frame's link quality as a person reads it: `null` before any frame, and a
/// plain "not reported" where the radio gives none (never a made-up number).
fn quality_text(s: &MoteStats) -> Option<String> {
    s.last_heard?;
    let q = s.last_quality;
    Some(match (q.lqi, q.rssi_dbm) {
        (Some(l), Some(r)) => format!("LQI {l}, RSSI {r} dBm"),
        (Some(l), None) => format!("LQI {l}"),
        (None, Some(r)) => format!("RSSI {r} dBm"),
        (None, None) => "not reported by the radio".into(),
    })
}

fn sum<'a>(stats: impl Iterator<Item = &'a MoteStats>) -> MoteStats {
    stats.fold(MoteStats::default(), |mut a, s| {
        a.rx_frames += s.rx_frames;
        a.rx_bytes += s.rx_bytes;
        a.tx_frames += s.tx_frames;
        a.tx_bytes += s.tx_bytes;
        // The link quality of the latest frame, whichever address it came from.
        if s.last_heard > a.last_heard {
            a.last_heard = s.last_heard;
            a.last_quality = s.last_quality;
        }
        a
    })
}

fn with_iid(prefix: Ipv6Addr, iid: [u8; 8]) -> Ipv6Addr {
    let mut o = prefix.octets();
    o[8..].copy_from_slice(&iid);
    Ipv6Addr::from(o)
}

/// The address registrations (RFC 6775/8505): who registered which address, through
/// which link address or 6LoWPAN router (one more hop), and for how long still; with the
/// last frame and link quality of the neighbour it came through (the node itself, or the
/// router).
fn registrations(router: &BorderRouter, now: Instant) -> Value {
    let table = router.bridge().neighbours();
    let mut regs: Vec<_> = router
        .bridge()
        .registrations()
        .iter()
        .filter(|(_, r)| r.expires > now)
        .collect();
    regs.sort_by_key(|(a, _)| **a);
    Value::Array(
        regs.into_iter()
            .take(MAX_FLOWS_SHOWN)
            .map(|(a, r)| {
                let (via, hops, neighbour) = match r.via {
                    crate::registrations::Via::Link(l) => (format!("link {l}"), 1, Some(l)),
                    crate::registrations::Via::Router(ip) => {
                        let iid: [u8; 8] = ip.octets()[8..].try_into().unwrap_or_default();
                        (format!("router {ip}"), 2, table.lookup_iid(iid))
                    }
                };
                let stats = neighbour.and_then(|l| table.get(&l)).map(|n| n.stats.clone()).unwrap_or_default();
                json!({
                    "address": a.to_string(),
                    "link": via,
                    "hops": hops,
                    "last_heard_s_ago": stats.last_heard.map(|t| secs(now.saturating_duration_since(t))),
                    "link_quality": quality_text(&stats),
                    "lqi": stats.last_quality.lqi,
                    "rssi_dbm": stats.last_quality.rssi_dbm,
                    "tid": r.tid,
                    "expires_in_s": secs(r.expires.saturating_duration_since(now)),
                })
            })
            .collect(),
    )
}

/// The RPL root's downward routes: each DAO target with its parent and the hops of its
/// path from the root (`null` while the chain of parents does not reach the root).
fn rpl_routes(root: &crate::rpl::RplRoot) -> Value {
    let mut routes: Vec<_> = root.routes().iter().collect();
    routes.sort();
    Value::Array(
        routes
            .into_iter()
            .take(MAX_FLOWS_SHOWN)
            .map(|(target, parent)| {
                let parent = if root.is_root(&parent) {
                    "root".to_string()
                } else {
                    parent.to_string()
                };
                json!({
                    "target": target.to_string(),
                    "parent": parent,
                    "hops": root.path(&target).map(|p| p.len()),
                })
            })
            .collect(),
    )
}

/// Most flows listed (the HRM's table is bounded by `hrm.max_flows` anyway).
const MAX_FLOWS_SHOWN: usize = 256;

fn flows(router: &BorderRouter) -> Value {
    let Some(w) = router.wiring() else {
        return Value::Array(Vec::new());
    };
    let mut flows: Vec<_> = w.hrm().flows().collect();
    flows.sort_by_key(|(f, _)| (f.mote_addr, f.mote_port, f.peer_addr, f.peer_port));
    let names = &router.bridge().config().motes;
    let prefix = router.bridge().config().prefix;
    Value::Array(
        flows
            .into_iter()
            .take(MAX_FLOWS_SHOWN)
            .map(|(f, state)| {
                let mote = names
                    .iter()
                    .find(|m| with_iid(prefix, lowpan::ip::iid_from_eui64(m.eui64)) == f.mote_addr)
                    .map(|m| m.name.as_str());
                json!({
                    "flow": f.to_string(),
                    "mote": mote,
                    "state": match state {
                        hrm::FlowState::Delegating => "delegating",
                        hrm::FlowState::Transferred => "transferred",
                        hrm::FlowState::Rehandshaking => "rehandshaking",
                        hrm::FlowState::Resuming => "resuming",
                    },
                    "iotssp": w.hrm().delegate_of(&f.mote_addr).map(|s| s.as_str()),
                })
            })
            .collect(),
    )
}
