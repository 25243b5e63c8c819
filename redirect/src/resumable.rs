//! Reliable delivery of SessionResumable, the IoTSSP's half (docs/protocol.md,
//! "SessionResumable is acknowledged"). Every other IoTSSP -> BR message is healed by the
//! peer's DTLS retransmissions (the IoTSSP answers a retransmitted flight again); nothing
//! retransmits a SessionResumable, and a lost one would silently turn every resumption of
//! that session into a full handshake. So the IoTSSP keeps each one in a
//! [`ResumableOutbox`] and sends it again, with a doubling interval and a bounded number of
//! times, until the border router answers with a ResumableAck for the same flow and
//! session id.
//!
//! Each copy is sealed afresh (its own sequence number and timestamp, so the receiver's
//! replay window accepts it) and carries the lifetime that remains, so a late copy never
//! extends the session beyond its first expiry. Copies are idempotent at the border router:
//! it applies the first and acknowledges every one. An acknowledgement is taken only from an
//! opened (authenticated) message; one that names nothing pending changes nothing.
//!
//! Sans-IO: `Instant`s in, messages to seal and deadlines out; it never seals, sends or reads
//! a clock itself, and never panics on input.

use crate::message::MAX_SESSION_ID_LEN;
use crate::named_counters;
use crate::{FlowTag, RedirectMessage};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// The first copy is sent again after this long, each later one after twice the last
    /// interval.
    pub first_retry: Duration,
    /// Copies sent in all (the first included) before giving up.
    pub max_sends: u8,
    /// SessionResumables waiting for their acknowledgement; one more pushes out the oldest.
    pub max_pending: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            // A redirect round trip is a LAN's; half a second leaves room for a busy border
            // router without making a lost copy cost the client much.
            first_retry: Duration::from_millis(500),
            // Sent at 0, 0.5, 1.5, 3.5, 7.5 and 15.5 s: past a client's DTLS retransmission
            // of its final flight, which heals a lost FlowTransferred before the last copy.
            max_sends: 6,
            max_pending: 1024,
        }
    }
}

named_counters! {
    /// What the outbox did (the IoTSSP exports them as `resumables_*`).
    pub struct OutboxCounters {
        /// SessionResumables handed to the outbox.
        queued,
        /// First copies sent.
        sent,
        /// Copies sent again (no acknowledgement yet).
        resent,
        /// Acknowledged by the border router.
        acked,
        /// Given up on: `max_sends` copies and no acknowledgement, the lifetime over, or
        /// pushed out of a full outbox. The session is then resumable only through a full
        /// handshake.
        unacked,
        /// Acknowledgements that named nothing pending (a second one for a duplicate copy).
        stray_acks,
    }
}

/// One SessionResumable to seal and send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumableCopy {
    pub flow: FlowTag,
    /// What remains of the lifetime first given.
    pub lifetime_secs: u32,
    id: [u8; MAX_SESSION_ID_LEN],
    id_len: u8,
}

impl ResumableCopy {
    pub fn session_id(&self) -> &[u8] {
        &self.id[..usize::from(self.id_len)]
    }

    /// The message to seal.
    pub fn message(&self) -> RedirectMessage<'_> {
        RedirectMessage::SessionResumable {
            flow: self.flow,
            lifetime_secs: self.lifetime_secs,
            session_id: self.session_id(),
        }
    }
}

#[derive(Debug, Clone)]
struct Pending {
    flow: FlowTag,
    id: [u8; MAX_SESSION_ID_LEN],
    id_len: u8,
    expires: Instant,
    next_send: Instant,
    interval: Duration,
    sends: u8,
}

impl Pending {
    fn is(&self, flow: &FlowTag, session_id: &[u8]) -> bool {
        self.flow == *flow && &self.id[..usize::from(self.id_len)] == session_id
    }
}

/// The SessionResumables an IoTSSP sent and the border router has not acknowledged yet.
#[derive(Debug, Clone)]
pub struct ResumableOutbox {
    config: OutboxConfig,
    pending: VecDeque<Pending>,
    counters: OutboxCounters,
}

impl ResumableOutbox {
    pub fn new(config: OutboxConfig) -> Self {
        ResumableOutbox {
            config,
            pending: VecDeque::new(),
            counters: OutboxCounters::default(),
        }
    }

    pub fn counters(&self) -> &OutboxCounters {
        &self.counters
    }

    /// SessionResumables not acknowledged yet.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The mote of `flow` may resume `session_id` for `lifetime_secs` from `now`: the first
    /// copy is due at once ([`poll_message`](Self::poll_message)). Returns false, and keeps
    /// nothing, for a lifetime of 0 or an id that is empty or longer than 32 bytes. The
    /// same flow and id again starts over.
    pub fn queue(
        &mut self,
        now: Instant,
        flow: FlowTag,
        lifetime_secs: u32,
        session_id: &[u8],
    ) -> bool {
        if lifetime_secs == 0 || !(1..=MAX_SESSION_ID_LEN).contains(&session_id.len()) {
            return false;
        }
        self.pending.retain(|p| !p.is(&flow, session_id));
        if self.pending.len() >= self.config.max_pending.max(1) {
            self.pending.pop_front();
            self.counters.unacked += 1;
        }
        let mut id = [0; MAX_SESSION_ID_LEN];
        id[..session_id.len()].copy_from_slice(session_id);
        let lifetime = Duration::from_secs(u64::from(lifetime_secs));
        self.pending.push_back(Pending {
            flow,
            id,
            id_len: session_id.len() as u8,
            // Where an Instant cannot hold it, a day (the longest lifetime an IoTSSP gives).
            expires: now
                .checked_add(lifetime)
                .unwrap_or(now + Duration::from_secs(86_400)),
            next_send: now,
            interval: self.config.first_retry,
            sends: 0,
        });
        self.counters.queued += 1;
        true
    }

    /// An authenticated ResumableAck from the border router that serves `flow`'s mote.
    /// Returns whether it acknowledged something pending.
    pub fn handle_ack(&mut self, flow: &FlowTag, session_id: &[u8]) -> bool {
        match self.pending.iter().position(|p| p.is(flow, session_id)) {
            Some(i) => {
                self.pending.remove(i);
                self.counters.acked += 1;
                true
            }
            None => {
                self.counters.stray_acks += 1;
                false
            }
        }
    }

    /// When the next copy is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.next_send).min()
    }

    /// The next copy due at `now`, if any; call until `None`. Gives up (and forgets) the
    /// SessionResumables that were sent `max_sends` times or whose lifetime is over.
    pub fn poll_message(&mut self, now: Instant) -> Option<ResumableCopy> {
        loop {
            let i = self.pending.iter().position(|p| p.next_send <= now)?;
            let p = &mut self.pending[i];
            let remaining = p.expires.saturating_duration_since(now).as_secs();
            if p.sends >= self.config.max_sends || remaining == 0 {
                self.pending.remove(i);
                self.counters.unacked += 1;
                continue;
            }
            if p.sends == 0 {
                self.counters.sent += 1;
            } else {
                self.counters.resent += 1;
            }
            p.sends += 1;
            p.next_send = now + p.interval;
            p.interval = p.interval.saturating_mul(2);
            return Some(ResumableCopy {
                flow: p.flow,
                lifetime_secs: u32::try_from(remaining).unwrap_or(u32::MAX),
                id: p.id,
                id_len: p.id_len,
            });
        }
    }
}
