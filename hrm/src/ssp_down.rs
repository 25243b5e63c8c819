//! Rule R12 (docs/protocol.md, "HRM rules"): when the border router knows a remote IoTSSP is
//! down, a handshake datagram diverted to it is answered, in the mote's name, with a
//! plaintext fatal alert instead of being sent into the void, so the client fails at once
//! rather than after its own retransmission timer gives up.
//!
//! This module holds the alert record and the per-flow rate limit; `Hrm::answer_ssp_down`
//! applies them. Nothing here parses outside input.

use dtls_wire::{ContentType, ProtocolVersion, Record, RecordHeader};
use redirect::FlowTag;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Alert level fatal (RFC 5246 7.2).
pub const ALERT_LEVEL_FATAL: u8 = 2;
/// internal_error (RFC 5246 7.2.2): the server side failed for a reason unrelated to the
/// peer or the negotiation, which is what an unreachable IoTSSP is. handshake_failure (40)
/// would blame the offered parameters.
pub const ALERT_INTERNAL_ERROR: u8 = 80;
/// The record's sequence number (epoch 0): 2^47, the high bit of the 48-bit field. An
/// IoTSSP numbers its epoch-0 records from 0 and sends a handful per handshake, so this
/// never collides with one it sent or will send; it is greater than any of them, so the
/// client's replay window accepts it; and it is not the maximum 2^48 - 1, which a stack may
/// treat as sequence-space exhaustion.
pub const SSP_DOWN_ALERT_SEQUENCE: u64 = 1 << 47;
/// DTLS 1.2 record version. A client tolerates an alert whose record version differs from
/// the one it offered (RFC 6347 4.1, and OpenSSL accepts alerts of any 0xFE.. version).
const ALERT_RECORD: RecordHeader = RecordHeader {
    content_type: ContentType::Alert,
    version: ProtocolVersion::DTLS1_2,
    epoch: 0,
    sequence_number: SSP_DOWN_ALERT_SEQUENCE,
};

/// At most one alert per flow in this interval: a client retransmitting into a dead IoTSSP
/// (or a spoofed flood) gets no more than one answer a second per flow.
pub const ALERT_INTERVAL: Duration = Duration::from_secs(1);

/// The 15-byte record: header (type 21, version, epoch 0, sequence 2^47, length 2) and the
/// alert (fatal, internal_error).
pub fn ssp_down_alert() -> [u8; 15] {
    let mut r = [0u8; 15];
    ALERT_RECORD.emit_header(2, &mut Record::new_unchecked(&mut r[..]));
    r[13] = ALERT_LEVEL_FATAL;
    r[14] = ALERT_INTERNAL_ERROR;
    r
}

/// When each flow was last answered. Bounded by `capacity` (the HRM's `max_flows`): when
/// full, entries older than `ALERT_INTERVAL` are dropped, and if none is, no alert is sent
/// (a flood of spoofed flows cannot grow it or turn the border router into an amplifier).
#[derive(Debug)]
pub(crate) struct AlertLimiter {
    last: HashMap<FlowTag, Instant>,
    capacity: usize,
}

impl AlertLimiter {
    pub(crate) fn new(capacity: usize) -> Self {
        AlertLimiter {
            last: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Whether `flow` may be answered now; records the answer when it may.
    pub(crate) fn allow(&mut self, flow: &FlowTag, now: Instant) -> bool {
        let recent = |t: &Instant| now.saturating_duration_since(*t) < ALERT_INTERVAL;
        if let Some(t) = self.last.get(flow)
            && recent(t)
        {
            return false;
        }
        if !self.last.contains_key(flow) && self.last.len() >= self.capacity {
            self.last.retain(|_, t| recent(t));
            if self.last.len() >= self.capacity {
                return false;
            }
        }
        self.last.insert(*flow, now);
        true
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests;
