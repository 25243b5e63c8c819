//! The IoTSSP's part of a status document (both `iotssp status` and, for attached
//! IoTSSPs, `lowpan-br status`): handshakes in progress with their phase, the last ones
//! that ended with their outcome and timeline, and the counters. Times are relative to
//! `now` (seconds ago, or milliseconds since a handshake started).

use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::Iotssp;

/// Handshakes in progress, oldest first.
pub fn delegations(i: &Iotssp, now: Instant) -> Value {
    let mut ds: Vec<_> = i.delegations().collect();
    ds.sort_by_key(|d| d.started());
    Value::Array(
        ds.iter()
            .map(|d| {
                json!({
                    "flow": d.flow().to_string(),
                    "mote": d.mote_name(),
                    "phase": d.phase(),
                    "age_s": secs(now.saturating_duration_since(d.started())),
                    "timeline": timeline(d.started(), d.timeline()),
                })
            })
            .collect(),
    )
}

/// The last handshakes that ended, newest first.
pub fn handshakes(i: &Iotssp, now: Instant) -> Value {
    Value::Array(
        i.recent_handshakes()
            .rev()
            .map(|r| {
                json!({
                    "flow": r.flow.to_string(),
                    "mote": r.mote,
                    "outcome": if r.outcome == "transferred" { "transferred" } else { "failed" },
                    "reason": if r.outcome == "transferred" { Value::Null } else { Value::from(r.outcome) },
                    "started_s_ago": secs(now.saturating_duration_since(r.started)),
                    "duration_ms": r.ended.saturating_duration_since(r.started).as_millis() as u64,
                    "timeline": timeline(r.started, &r.timeline),
                })
            })
            .collect(),
    )
}

/// The IoTSSP's counters as flat (name, value) pairs: every counter, the key and delegation
/// gauges, and the per-reason counters as `handshakes_failed.<reason>`,
/// `outbound_failed.<reason>` and `drop.<reason>`. The one flattening that the IoTSSP's own
/// status and metrics and an attached IoTSSP's border router both use.
pub fn counter_list(i: &Iotssp) -> Vec<(String, u64)> {
    let c = i.counters();
    let mut v: Vec<(String, u64)> = [
        ("diverts", c.diverts),
        ("mote_datagrams", c.mote_datagrams),
        ("cookies_sent", c.cookies_sent),
        ("handshakes_started", c.handshakes_started),
        ("handshakes_completed", c.handshakes_completed),
        ("mote_handshakes_started", c.mote_handshakes_started),
        ("transfers_sent", c.transfers_sent),
        ("transfers_completed", c.transfers_completed),
        ("transfers_resent", c.transfers_resent),
        ("final_flight_resent", c.final_flight_resent),
        ("alerts_sent", c.alerts_sent),
        ("app_data_records_received", c.app_data_records_received),
        ("keys_held", i.keys_held() as u64),
        ("delegations", i.delegation_count() as u64),
        ("outbound_started", c.outbound_started),
        ("outbound_completed", c.outbound_completed),
        ("outbound_refused", c.outbound_refused),
        ("mote_associations", c.mote_associations),
        ("start_pokes", c.start_pokes),
        ("pokes_sent", i.pokes_sent()),
        ("keyless_signatures", c.keyless_signatures),
        ("private_keys_held", i.private_keys_held() as u64),
        ("keyless_motes", i.keyless_motes() as u64),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    v.extend(
        c.handshakes_failed
            .iter()
            .map(|(k, n)| (format!("handshakes_failed.{k}"), *n)),
    );
    v.extend(
        c.outbound_failed
            .iter()
            .map(|(k, n)| (format!("outbound_failed.{k}"), *n)),
    );
    v.extend(c.drops.iter().map(|(k, n)| (format!("drop.{k}"), *n)));
    v
}

/// Counters: handshakes by outcome and failure reason, transfers, drops by reason, with the
/// failures also summed over their reasons.
pub fn counters(i: &Iotssp) -> Value {
    let c = i.counters();
    let mut m: Map<String, Value> = counter_list(i)
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
    m.insert(
        "handshakes_failed".into(),
        c.handshakes_failed.values().sum::<u64>().into(),
    );
    m.insert(
        "outbound_failed".into(),
        c.outbound_failed.values().sum::<u64>().into(),
    );
    Value::Object(m)
}

fn timeline(start: Instant, events: &[(Instant, &'static str)]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|(t, e)| json!({ "at_ms": t.saturating_duration_since(start).as_millis() as u64, "event": e }))
            .collect(),
    )
}

/// Seconds with one decimal.
pub fn secs(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}
