//! What the IoTSSP counts: handshakes by outcome and reason, transfers, cookies, alerts,
//! and what reached it that should not have.

use std::collections::BTreeMap;

use crate::hem::Failure;
use crate::hem::gate::NotHello;

/// Why an input reached the IoTSSP and went no further. [`SspDrop::as_str`] names are
/// stable (counters, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SspDrop {
    /// A redirect message the IoTSSP does not expect from a border router.
    UnexpectedRedirect,
    /// A divert for a mote the IoTSSP does not serve.
    UnknownMote,
    /// A new flow that does not open with a ClientHello we can answer statelessly.
    NotHello(NotHello),
    /// A new delegation refused: the mote is at its cap.
    MoteBusy,
    /// A new delegation refused: the IoTSSP is at its cap.
    TooManyDelegations,
    /// The DTLS engine did not accept the cookie'd ClientHello.
    AcceptFailed,
    /// A datagram from an address that is not one of our motes.
    UnknownMoteSource,
    /// A datagram from a mote with no delegation under way.
    MoteWithoutDelegation,
}

impl SspDrop {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SspDrop::UnexpectedRedirect => "unexpected_redirect",
            SspDrop::UnknownMote => "unknown_mote",
            SspDrop::NotHello(e) => e.as_str(),
            SspDrop::MoteBusy => "mote_busy",
            SspDrop::TooManyDelegations => "too_many_delegations",
            SspDrop::AcceptFailed => "accept_failed",
            SspDrop::UnknownMoteSource => "unknown_mote_source",
            SspDrop::MoteWithoutDelegation => "mote_without_delegation",
        }
    }
}

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
    /// Mote-side PSK handshakes started (psk-handshake leg).
    pub mote_handshakes_started: u64,
    /// Associations made with motes (association leg; after a boot of either side).
    pub mote_associations: u64,
    /// Pokes of this IoTSSP once it started (`Iotssp::start_epoch`), to motes that were not
    /// associated (again a few seconds later to those still not associated).
    pub start_pokes: u64,
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
    /// Outbound handshakes (the mote as client) started on an authenticated Connect.
    pub outbound_started: u64,
    /// Outbound sessions the mote installed.
    pub outbound_completed: u64,
    /// Connects refused at once: a server the mote's policy does not name, or busy.
    pub outbound_refused: u64,
    /// Outbound handshakes that ended without a session, by reason (`peer_timeout`,
    /// `peer_alert`, `cert_name_mismatch`, `cert_unknown_issuer`...).
    pub outbound_failed: BTreeMap<&'static str, u64>,
    /// Keyless motes (`key = "mote"`): signatures a mote made over its association for a
    /// handshake in its name, that verified and were used (inbound and outbound).
    pub keyless_signatures: u64,
    /// Inputs dropped, by reason (`unknown_mote`, `not_client_hello`, `mote_busy`...).
    pub drops: BTreeMap<&'static str, u64>,
}

impl Counters {
    pub fn record_failure(&mut self, reason: Failure) {
        *self.handshakes_failed.entry(reason.as_str()).or_default() += 1;
    }

    pub fn record_outbound_failure(&mut self, reason: &'static str) {
        *self.outbound_failed.entry(reason).or_default() += 1;
    }

    pub fn record_drop(&mut self, reason: SspDrop) {
        *self.drops.entry(reason.as_str()).or_default() += 1;
    }

    pub fn failures(&self, reason: &str) -> u64 {
        self.handshakes_failed.get(reason).copied().unwrap_or(0)
    }

    pub fn dropped(&self, reason: &str) -> u64 {
        self.drops.get(reason).copied().unwrap_or(0)
    }
}
