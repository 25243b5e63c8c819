//! The counters a run exposes: per mote and for the radio, printed at exit and written
//! as JSON (`--stats-file`) so tests and benchmarks can read them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::air::NodeAirCounters;
use crate::firmware::RadioCounters;
use crate::mote::secure::SecurityCounters;

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
    pub addressed: u64,
    pub addressed_retries: u64,
    pub acks_sent: u64,
    pub acks_received: u64,
    pub tx_us: u64,
    pub rx_us: u64,
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
            addressed: c.addressed,
            addressed_retries: c.addressed_retries,
            acks_sent: c.acks_sent,
            acks_received: c.acks_received,
            tx_us: c.tx_us,
            rx_us: c.rx_us,
        }
    }
}

/// The security side of a mote (all zero for a plain mote), written flat into its
/// object: `ecc_operations`, `certificates_seen`, `dtls_handshakes_psk`, ...
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct SecurityStats {
    pub dtls_handshakes: u64,
    pub dtls_handshakes_psk: u64,
    pub dtls_handshakes_ecdhe: u64,
    pub dtls_handshakes_failed: u64,
    pub sessions_transferred: u64,
    pub resumable_sessions_cached: u64,
    pub resumption_hellos: u64,
    pub sessions_resumed: u64,
    pub resumption_fallbacks: u64,
    pub associations: u64,
    pub assoc_ecc_operations: u64,
    pub pokes_honoured: u64,
    pub pokes_new_epoch: u64,
    pub poke_rate_limited: u64,
    pub transfer_port_datagrams_in: u64,
    pub transfer_port_datagrams_out: u64,
    pub outbound_connects: u64,
    pub outbound_connects_failed: u64,
    pub coap_requests_out: u64,
    pub coap_responses_in: u64,
    pub outbound_sessions_ended: u64,
    pub outbound_resumables_cached: u64,
    pub outbound_resumptions_started: u64,
    pub outbound_resumptions_succeeded: u64,
    pub outbound_resumption_fallbacks: u64,
    pub outbound_last_response: String,
    pub outbound_last_failure: String,
    pub stt_accepted: u64,
    pub stt_busy: u64,
    pub transfers_refused: u64,
    pub sessions_evicted: u64,
    pub sessions_expired: u64,
    pub clients_refused: u64,
    pub sessions_closed: u64,
    pub dtls_records_in: u64,
    pub dtls_records_out: u64,
    pub app_data_in: u64,
    pub app_data_out: u64,
    pub alerts_in: u64,
    pub alerts_out: u64,
    pub ecc_operations: u64,
    pub ecc_sign: u64,
    pub ecc_verify: u64,
    pub ecc_ecdh: u64,
    pub ecc_busy_ms: u64,
    pub certificates_seen: u64,
    pub outbox_full: u64,
    pub flights_suppressed: u64,
    pub dtls_drops: BTreeMap<String, u64>,
}

impl From<SecurityCounters> for SecurityStats {
    fn from(c: SecurityCounters) -> Self {
        SecurityStats {
            dtls_handshakes: c.dtls_handshakes,
            dtls_handshakes_psk: c.dtls_handshakes_psk,
            dtls_handshakes_ecdhe: c.dtls_handshakes_ecdhe,
            dtls_handshakes_failed: c.dtls_handshakes_failed,
            sessions_transferred: c.sessions_transferred,
            resumable_sessions_cached: c.resumable_sessions_cached,
            resumption_hellos: c.resumption_hellos,
            sessions_resumed: c.sessions_resumed,
            resumption_fallbacks: c.resumption_fallbacks,
            associations: c.associations,
            assoc_ecc_operations: c.assoc_ecc_operations,
            pokes_honoured: c.pokes_honoured,
            pokes_new_epoch: c.pokes_new_epoch,
            poke_rate_limited: c.poke_rate_limited,
            transfer_port_datagrams_in: c.transfer_port_datagrams_in,
            transfer_port_datagrams_out: c.transfer_port_datagrams_out,
            outbound_connects: c.outbound_connects,
            outbound_connects_failed: c.outbound_connects_failed,
            coap_requests_out: c.coap_requests_out,
            coap_responses_in: c.coap_responses_in,
            outbound_sessions_ended: c.outbound_sessions_ended,
            outbound_resumables_cached: c.outbound_resumables_cached,
            outbound_resumptions_started: c.outbound_resumptions_started,
            outbound_resumptions_succeeded: c.outbound_resumptions_succeeded,
            outbound_resumption_fallbacks: c.outbound_resumption_fallbacks,
            outbound_last_response: c.outbound_last_response.clone(),
            outbound_last_failure: c.outbound_last_failure.clone(),
            stt_accepted: c.stt_accepted,
            stt_busy: c.stt_busy,
            transfers_refused: c.transfers_refused,
            sessions_evicted: c.sessions_evicted,
            sessions_expired: c.sessions_expired,
            clients_refused: c.clients_refused,
            sessions_closed: c.sessions_closed,
            dtls_records_in: c.dtls_records_in,
            dtls_records_out: c.dtls_records_out,
            app_data_in: c.app_data_in,
            app_data_out: c.app_data_out,
            alerts_in: c.alerts_in,
            alerts_out: c.alerts_out,
            ecc_operations: c.ecc_operations,
            ecc_sign: c.ecc_sign,
            ecc_verify: c.ecc_verify,
            ecc_ecdh: c.ecc_ecdh,
            ecc_busy_ms: c.ecc_busy_ms,
            certificates_seen: c.certificates_seen,
            outbox_full: c.outbox_full,
            flights_suppressed: c.flights_suppressed,
            dtls_drops: c
                .dtls_drops
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }
    }
}

/// One mote.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct MoteStats {
    pub index: u32,
    /// plain, delegated, dcert or cdpsk.
    pub device_kind: String,
    pub eui64: String,
    pub link_local: String,
    pub global: Option<String>,
    pub router: String,
    pub frames_in: u64,
    pub bytes_in: u64,
    pub frames_out: u64,
    pub bytes_out: u64,
    pub fragments_in: u64,
    pub fragments_out: u64,
    pub secure_frames_in: u64,
    pub secure_bytes_in: u64,
    pub secure_frames_out: u64,
    pub secure_bytes_out: u64,
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
    #[serde(flatten)]
    pub security: SecurityStats,
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
            if m.device_kind != "plain" {
                let d = &m.security;
                s.push_str(&format!(
                    "  {}: {} handshakes ({} psk, {} ecdhe, {} failed), {} sessions transferred, records in/out {}/{}, app data in/out {}/{}, ecc {} ops ({} ms), certificates seen {}, associations {}, transfer-port datagrams in/out {}/{}\n",
                    m.device_kind,
                    d.dtls_handshakes,
                    d.dtls_handshakes_psk,
                    d.dtls_handshakes_ecdhe,
                    d.dtls_handshakes_failed,
                    d.sessions_transferred,
                    d.dtls_records_in,
                    d.dtls_records_out,
                    d.app_data_in,
                    d.app_data_out,
                    d.ecc_operations,
                    d.ecc_busy_ms,
                    d.certificates_seen,
                    d.associations,
                    d.transfer_port_datagrams_in,
                    d.transfer_port_datagrams_out
                ));
            }
        }
        s
    }
}
