//! The sessions a delegated mote took over: for each (peer address, peer port) on 5684,
//! nothing but a DTLS record layer built from transferred keys and counters. Records are
//! opened (epoch, replay window, AES-128-CCM-8), CoAP is answered (other data echoed) in the next write
//! sequence numbers, close_notify and fatal alerts end the session. A bounded table: a
//! new session in a full table evicts the one unused for longest.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dtls::alert::{Alert, AlertDescription, AlertLevel};
use dtls::codec::Codec;
use dtls::record::{ContentType, records};
use dtls::{Error, RecordLayer, SessionState};

use super::{DtlsDrop, SecurityCounters};
use crate::mote::service::{Peer, UdpService};

struct Session {
    peer: Peer,
    layer: RecordLayer,
    installed: Instant,
    /// Last authenticated record from the peer (or the install).
    last_used: Instant,
}

/// What happened to a session when one was installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// A free slot took it.
    New,
    /// The peer already had a session: the new one replaces it.
    Replaced,
    /// The session unused for longest was dropped to make room.
    EvictedOldest,
}

/// Transferred sessions, in order of installation.
pub struct SessionTable {
    slots: usize,
    /// A session unused for this long no longer counts against a new transfer.
    idle: Duration,
    sessions: VecDeque<Session>,
}

impl std::fmt::Debug for SessionTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.sessions.iter().map(|s| (s.peer, s.installed)))
            .finish()
    }
}

impl SessionTable {
    pub fn new(slots: usize, idle: Duration) -> Self {
        SessionTable {
            slots: slots.max(1),
            idle,
            sessions: VecDeque::new(),
        }
    }

    /// Slots a new transfer may take at `now`: free ones, and those of sessions idle for
    /// longer than the idle time (a client that went away without close_notify must not
    /// make the mote busy for ever).
    pub fn free_for_new(&self, now: Instant) -> usize {
        let busy = self
            .sessions
            .iter()
            .filter(|s| now.saturating_duration_since(s.last_used) < self.idle)
            .count();
        self.slots.saturating_sub(busy)
    }

    /// Drops the sessions without an authenticated record for the idle time (their keys
    /// are wiped with them): a transferred session is not held for ever. Returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.sessions.len();
        let idle = self.idle;
        self.sessions.retain(|s| now.saturating_duration_since(s.last_used) < idle);
        before - self.sessions.len()
    }

    /// When the next session expires, if any.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.sessions.iter().map(|s| s.last_used + self.idle).min()
    }

    pub fn peers(&self) -> impl Iterator<Item = Peer> + '_ {
        self.sessions.iter().map(|s| s.peer)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Slots still free.
    pub fn free(&self) -> usize {
        self.slots.saturating_sub(self.sessions.len())
    }

    pub fn contains(&self, peer: &Peer) -> bool {
        self.sessions.iter().any(|s| s.peer == *peer)
    }

    /// Install the record layer of a transferred session for `peer`; an error (keys the
    /// record layer cannot use) installs nothing.
    pub fn install(
        &mut self,
        now: Instant,
        peer: Peer,
        state: &SessionState,
    ) -> Result<Installed, Error> {
        let layer = RecordLayer::from_session(state)?;
        let mut how = Installed::New;
        if let Some(i) = self.sessions.iter().position(|s| s.peer == peer) {
            self.sessions.remove(i);
            how = Installed::Replaced;
        } else if self.sessions.len() >= self.slots {
            let lru = (0..self.sessions.len())
                .min_by_key(|&i| self.sessions[i].last_used)
                .unwrap_or(0);
            self.sessions.remove(lru);
            how = Installed::EvictedOldest;
        }
        self.sessions.push_back(Session {
            peer,
            layer,
            installed: now,
            last_used: now,
        });
        Ok(how)
    }

    /// A datagram from `peer` to 5684: open every record; answer CoAP requests with
    /// `coap`; returns the datagram to send back (all answers coalesced), if any.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        peer: Peer,
        datagram: &[u8],
        coap: &mut dyn UdpService,
        counters: &mut SecurityCounters,
    ) -> Option<Vec<u8>> {
        let Some(i) = self.sessions.iter().position(|s| s.peer == peer) else {
            counters.drop(DtlsDrop::NoSession);
            return None;
        };
        let mut out = Vec::new();
        let mut closed = false;
        for rec in records(datagram) {
            let Ok(rec) = rec else {
                counters.drop(DtlsDrop::MalformedRecord);
                break;
            };
            counters.dtls_records_in += 1;
            let session = &mut self.sessions[i];
            let layer = &mut session.layer;
            let opened = match layer.open(&rec) {
                Ok(Some(o)) => {
                    session.last_used = now;
                    o
                }
                // Another epoch (a handshake flight: the IoTSSP's business) or a replay.
                Ok(None) => {
                    counters.drop(DtlsDrop::UnknownEpochOrReplay);
                    continue;
                }
                Err(Error::DecryptFailed) => {
                    counters.drop(DtlsDrop::DecryptFailed);
                    continue;
                }
                Err(_) => {
                    counters.drop(DtlsDrop::BadRecord);
                    continue;
                }
            };
            match opened.content_type {
                ContentType::ApplicationData => {
                    counters.app_data_in += 1;
                    for reply in super::app::answer(coap, now, peer, &opened.plaintext) {
                        let epoch = layer.write_epoch();
                        match layer.write_record(
                            epoch,
                            ContentType::ApplicationData,
                            &reply,
                            &mut out,
                        ) {
                            Ok(()) => counters.app_data_out += 1,
                            Err(_) => counters.drop(DtlsDrop::WriteFailed),
                        }
                    }
                }
                ContentType::Alert => {
                    counters.alerts_in += 1;
                    let Ok(alert) = Alert::read_bytes(&opened.plaintext) else {
                        counters.drop(DtlsDrop::BadAlert);
                        continue;
                    };
                    if alert.description == AlertDescription::CloseNotify {
                        // Answer in kind (RFC 5246 section 7.2.1), then forget the keys.
                        let epoch = layer.write_epoch();
                        if layer
                            .write_record(
                                epoch,
                                ContentType::Alert,
                                &Alert::close_notify().get_encoding(),
                                &mut out,
                            )
                            .is_ok()
                        {
                            counters.alerts_out += 1;
                        }
                        closed = true;
                        break;
                    }
                    if alert.level == AlertLevel::Fatal {
                        closed = true;
                        break;
                    }
                }
                // A protected handshake message would be renegotiation: not for a mote.
                ContentType::Handshake
                | ContentType::ChangeCipherSpec
                | ContentType::Unknown(_) => {
                    counters.drop(DtlsDrop::UnexpectedContentType);
                }
            }
        }
        if closed {
            counters.sessions_closed += 1;
            self.sessions.remove(i);
        }
        (!out.is_empty()).then_some(out)
    }
}
