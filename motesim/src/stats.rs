//! The counters a run exposes: per mote and for the radio, printed at exit and written
//! as JSON (`--stats-file`) so tests and benchmarks can read them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::air::NodeAirCounters;
use crate::radio::RadioCounters;

/// Channel counters of one node, as written out.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct AirStats {
    pub transmissions: u64,
    pub retries: u64,
    pub frames_lost: u64,
    pub acks_lost: u64,
    pub no_ack: u64,
    pub queue_full: u64,
    pub received: u64,
    pub airtime_us: u64,
}

impl From<NodeAirCounters> for AirStats {
    fn from(c: NodeAirCounters) -> Self {
        AirStats {
            transmissions: c.transmissions,
            retries: c.retries,
            frames_lost: c.frames_lost,
            acks_lost: c.acks_lost,
            no_ack: c.no_ack,
            queue_full: c.queue_full,
            received: c.received,
            airtime_us: c.airtime_us,
        }
    }
}

/// One mote.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct MoteStats {
    pub index: u32,
    pub eui64: String,
    pub link_local: String,
    pub global: Option<String>,
    pub router: String,
    pub frames_in: u64,
    pub bytes_in: u64,
    pub frames_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub echo_requests: u64,
    pub udp_echo: u64,
    pub coap_requests: u64,
    pub rs_sent: u64,
    pub ra_received: u64,
    pub served: BTreeMap<String, u64>,
    pub drops: BTreeMap<String, u64>,
    pub air: AirStats,
}

/// The radio (slip-radio firmware, or the ZEP side).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RadioStats {
    pub eui64: String,
    pub mode: String,
    pub pan_id: u16,
    pub channel: u16,
    pub get_mac: u64,
    pub sends: u64,
    pub send_bytes: u64,
    pub set_param: u64,
    pub get_param: u64,
    pub unknown_commands: u64,
    pub tx_ok: u64,
    pub tx_no_ack: u64,
    pub tx_too_long: u64,
    pub tx_queue_full: u64,
    pub frames_up: u64,
    pub bytes_up: u64,
    pub filtered: u64,
    pub duplicates: u64,
    pub serial_garbage: u64,
    /// Host connections accepted (TCP) since start.
    pub host_connections: u64,
    /// ZEP datagrams dropped, by reason.
    pub zep_drops: BTreeMap<String, u64>,
    pub air: AirStats,
}

impl RadioStats {
    pub fn add_firmware(&mut self, c: RadioCounters) {
        self.get_mac = c.get_mac;
        self.sends = c.sends;
        self.send_bytes = c.send_bytes;
        self.set_param = c.set_param;
        self.get_param = c.get_param;
        self.unknown_commands = c.unknown_commands;
        self.tx_ok = c.tx_ok;
        self.tx_no_ack = c.tx_no_ack;
        self.tx_too_long = c.tx_too_long;
        self.tx_queue_full = c.tx_queue_full;
        self.frames_up = c.frames_up;
        self.bytes_up = c.bytes_up;
        self.filtered = c.filtered;
        self.duplicates = c.duplicates;
        self.serial_garbage = c.serial_garbage;
    }
}

/// Everything.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Stats {
    pub seed: u64,
    pub loss: f64,
    pub paced: bool,
    pub radio: RadioStats,
    pub motes: Vec<MoteStats>,
}

impl Stats {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A short human summary (printed at exit).
    pub fn summary(&self) -> String {
        let r = &self.radio;
        let mut s = format!(
            "radio {} ({}): {} sends ({} ok, {} no-ack, {} too long, {} queue full), {} frames up, {} duplicates, {} filtered, {} unknown commands\n",
            r.eui64,
            r.mode,
            r.sends,
            r.tx_ok,
            r.tx_no_ack,
            r.tx_too_long,
            r.tx_queue_full,
            r.frames_up,
            r.duplicates,
            r.filtered,
            r.unknown_commands
        );
        for m in &self.motes {
            s.push_str(&format!(
                "mote {} {} {}: in {} frames/{} B, out {} frames/{} B, retries {}, lost {} frames/{} acks, echo {}, udp echo {}, coap {}, drops {:?}\n",
                m.index,
                m.eui64,
                m.global.as_deref().unwrap_or("-"),
                m.frames_in,
                m.bytes_in,
                m.frames_out,
                m.bytes_out,
                m.air.retries,
                m.air.frames_lost,
                m.air.acks_lost,
                m.echo_requests,
                m.udp_echo,
                m.coap_requests,
                m.drops
            ));
        }
        s
    }
}
