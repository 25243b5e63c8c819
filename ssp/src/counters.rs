//! What the IoTSSP counts: handshakes by outcome and reason, transfers, cookies, alerts,
//! and what reached it that should not have.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Divert messages received from border routers.
    pub diverts: u64,
    /// Datagrams received from motes' transfer ports.
    pub mote_datagrams: u64,
    /// HelloVerifyRequests sent (stateless, no state kept).
    pub cookies_sent: u64,
    /// Delegations started (cookie'd ClientHello, mote under its cap).
    pub handshakes_started: u64,
    /// Delegations that ended in a confirmed transfer.
    pub handshakes_completed: u64,
    /// Delegations that ended without a transfer, by reason.
    pub handshakes_failed: BTreeMap<&'static str, u64>,
    /// Mote-side PSK handshakes started.
    pub mote_handshakes_started: u64,
    /// TransferSession messages sent / confirmed transfers.
    pub transfers_sent: u64,
    pub transfers_completed: u64,
    /// TransferSession messages sent again (no confirmation yet: lost on the radio).
    pub transfers_resent: u64,
    /// Retransmitted client final flights answered with the retained flight.
    pub final_flight_resent: u64,
    /// Alert records sent to Internet peers.
    pub alerts_sent: u64,
    /// Application-data records that reached the IoTSSP in a Divert (must stay 0: the HRM
    /// routes them to the mote).
    pub app_data_records_received: u64,
    /// Inputs dropped, by reason (`unknown_mote`, `not_client_hello`, `mote_busy`...).
    pub drops: BTreeMap<&'static str, u64>,
}

impl Counters {
    pub fn record_failure(&mut self, reason: &'static str) {
        *self.handshakes_failed.entry(reason).or_default() += 1;
    }

    pub fn record_drop(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_default() += 1;
    }

    pub fn failures(&self, reason: &str) -> u64 {
        self.handshakes_failed.get(reason).copied().unwrap_or(0)
    }

    pub fn dropped(&self, reason: &str) -> u64 {
        self.drops.get(reason).copied().unwrap_or(0)
    }
}
