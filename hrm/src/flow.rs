//! The flow table: which (peer, mote) pairs have a handshake at the IoTSSP and which have a
//! session at the mote. Bounded; entries expire when idle. Only authenticated IoTSSP
//! messages can create or evict a session entry; unauthenticated traffic (a ClientHello
//! from anyone) can only create a handshake entry, and only while there is room.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use redirect::FlowTag;

use crate::resume::ResumeKey;

/// Where a flow stands, derived from what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowState {
    /// A handshake runs at the IoTSSP; the mote has no session for this peer.
    Delegating,
    /// The mote holds the session; the IoTSSP at most keeps its sealed last flight.
    Transferred,
    /// The mote holds a session and the peer started a new handshake (a fresh ClientHello)
    /// at the IoTSSP; the old session stays until a new transfer replaces it.
    Rehandshaking,
    /// The peer's resuming ClientHello went to the mote, which runs the abbreviated
    /// handshake itself (docs/protocol.md, "Resumption at the mote"): every record of the
    /// flow goes to the mote until the mote's application data shows the session
    /// (Transferred), its fallback or idleness ends it.
    Resuming,
}

#[derive(Debug, Clone)]
pub(crate) struct Flow {
    /// Some while a handshake is in progress at the IoTSSP: its last diverted traffic.
    handshake_seen: Option<Instant>,
    /// Some while the mote holds the session: last traffic either way.
    session_seen: Option<Instant>,
    /// Some while the mote runs an abbreviated handshake with the peer.
    resume: Option<ResumeMark>,
    /// The session id the IoTSSP made resumable for the session the mote holds on this
    /// flow: later copies of the same SessionResumable change nothing.
    resumable: Option<ResumeKey>,
}

/// An abbreviated handshake the HRM handed to the mote.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResumeMark {
    /// Last record to the mote on the flow.
    seen: Instant,
    pub(crate) key: ResumeKey,
    /// Resuming hellos handed to the mote since it last sent anything on the flow.
    pub(crate) unanswered: u8,
}

impl Flow {
    pub(crate) fn state(&self) -> Option<FlowState> {
        if self.resume.is_some() {
            return Some(FlowState::Resuming);
        }
        match (self.handshake_seen.is_some(), self.session_seen.is_some()) {
            (true, false) => Some(FlowState::Delegating),
            (false, true) => Some(FlowState::Transferred),
            (true, true) => Some(FlowState::Rehandshaking),
            (false, false) => None,
        }
    }

    fn last_seen(&self) -> Option<Instant> {
        self.handshake_seen
            .max(self.session_seen)
            .max(self.resume.map(|r| r.seen))
    }
}

/// What happened when a flow was asked for room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Existing,
    Created,
    /// Created after evicting the oldest idle handshake-only entry.
    EvictedHandshake,
    /// Created after evicting the oldest idle session entry (authenticated input only).
    EvictedSession,
    Refused,
}

#[derive(Debug)]
pub(crate) struct FlowTable {
    flows: HashMap<FlowTag, Flow>,
    max_flows: usize,
    handshake_idle: Duration,
    session_idle: Duration,
}

impl FlowTable {
    pub(crate) fn new(max_flows: usize, handshake_idle: Duration, session_idle: Duration) -> Self {
        FlowTable {
            flows: HashMap::new(),
            max_flows,
            handshake_idle,
            session_idle,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.flows.len()
    }

    pub(crate) fn state(&self, tag: &FlowTag) -> Option<FlowState> {
        self.flows.get(tag).and_then(Flow::state)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&FlowTag, FlowState)> {
        self.flows
            .iter()
            .filter_map(|(t, f)| f.state().map(|s| (t, s)))
    }

    /// Marks handshake activity on a flow that has an entry; never creates one.
    pub(crate) fn touch_handshake(&mut self, tag: &FlowTag, now: Instant) {
        if let Some(f) = self.flows.get_mut(tag)
            && f.handshake_seen.is_some()
        {
            f.handshake_seen = Some(now);
        }
    }

    /// Marks session traffic (either direction); never creates an entry.
    pub(crate) fn touch_session(&mut self, tag: &FlowTag, now: Instant) -> bool {
        match self.flows.get_mut(tag) {
            Some(f) if f.session_seen.is_some() => {
                f.session_seen = Some(now);
                true
            }
            _ => false,
        }
    }

    /// Marks traffic to the mote of a flow whose abbreviated handshake runs there.
    pub(crate) fn touch_resume(&mut self, tag: &FlowTag, now: Instant) {
        if let Some(r) = self.flows.get_mut(tag).and_then(|f| f.resume.as_mut()) {
            r.seen = now;
        }
    }

    /// The abbreviated handshake on the flow, if one runs at the mote.
    pub(crate) fn resume(&self, tag: &FlowTag) -> Option<ResumeMark> {
        self.flows.get(tag).and_then(|f| f.resume)
    }

    /// A resuming ClientHello goes to the mote. Unauthenticated (the peer proved its
    /// address and knows the id), so like a handshake: created only while there is room,
    /// never evicts. A handshake at the IoTSSP on the flow is over for the HRM (the client
    /// started another); a session the mote holds stays.
    pub(crate) fn begin_resume(&mut self, tag: FlowTag, key: ResumeKey, now: Instant) -> Admission {
        if let Some(f) = self.flows.get_mut(&tag) {
            let unanswered = f
                .resume
                .filter(|r| r.key == key)
                .map_or(0, |r| r.unanswered);
            f.handshake_seen = None;
            f.resume = Some(ResumeMark {
                seen: now,
                key,
                unanswered: unanswered.saturating_add(1),
            });
            return Admission::Existing;
        }
        if self.flows.len() >= self.max_flows {
            return Admission::Refused;
        }
        self.flows.insert(
            tag,
            Flow {
                handshake_seen: None,
                session_seen: None,
                resume: Some(ResumeMark {
                    seen: now,
                    key,
                    unanswered: 1,
                }),
                resumable: None,
            },
        );
        Admission::Created
    }

    /// The mote sent something on a Resuming flow: with `session` (its application data)
    /// the session is established and the flow is Transferred; otherwise it answered (its
    /// flight). Returns the mark for the caller's bookkeeping.
    pub(crate) fn mote_answered(
        &mut self,
        tag: &FlowTag,
        now: Instant,
        session: bool,
    ) -> Option<ResumeMark> {
        let f = self.flows.get_mut(tag)?;
        let r = f.resume.as_mut()?;
        r.unanswered = 0;
        let mark = *r;
        if session {
            f.resume = None;
            f.session_seen = Some(now);
        }
        Some(mark)
    }

    /// The abbreviated handshake is over without a session (the mote's fallback, or the
    /// client started a full handshake): any older session on the flow stays.
    pub(crate) fn end_resume(&mut self, tag: &FlowTag) -> bool {
        let Some(f) = self.flows.get_mut(tag) else {
            return false;
        };
        let had = f.resume.take().is_some();
        if f.state().is_none() {
            self.flows.remove(tag);
        }
        had
    }

    /// A ClientHello was diverted: a handshake is (again) in progress. Unauthenticated, so
    /// it may only use free room: it never evicts.
    pub(crate) fn begin_handshake(&mut self, tag: FlowTag, now: Instant) -> Admission {
        if let Some(f) = self.flows.get_mut(&tag) {
            f.handshake_seen = Some(now);
            f.resume = None;
            return Admission::Existing;
        }
        if self.flows.len() >= self.max_flows {
            return Admission::Refused;
        }
        self.flows.insert(
            tag,
            Flow {
                handshake_seen: Some(now),
                session_seen: None,
                resume: None,
                resumable: None,
            },
        );
        Admission::Created
    }

    /// The IoTSSP (authenticated) says the mote now holds the session: any handshake on
    /// the flow is over. Makes room by evicting if needed.
    pub(crate) fn transfer(&mut self, tag: FlowTag, now: Instant) -> Admission {
        if let Some(f) = self.flows.get_mut(&tag) {
            // A new session (the handshake was running) gets its own id; the same
            // FlowTransferred again keeps the mark.
            if f.handshake_seen.take().is_some() {
                f.resumable = None;
            }
            f.session_seen = Some(now);
            f.resume = None;
            return Admission::Existing;
        }
        let admission = if self.flows.len() >= self.max_flows {
            self.evict_one()
        } else {
            Admission::Created
        };
        self.flows.insert(
            tag,
            Flow {
                handshake_seen: None,
                session_seen: Some(now),
                resume: None,
                resumable: None,
            },
        );
        admission
    }

    /// The IoTSSP made `key` resumable for the session the mote holds on `tag`. `None`
    /// when the flow holds no session at the mote (never transferred, or forgotten):
    /// nothing is noted. `Some(false)` when `key` was noted already (a later copy of the
    /// same message), `Some(true)` when it is new.
    pub(crate) fn note_resumable(&mut self, tag: &FlowTag, key: ResumeKey) -> Option<bool> {
        let f = self.flows.get_mut(tag)?;
        f.session_seen?;
        if f.resumable == Some(key) {
            return Some(false);
        }
        f.resumable = Some(key);
        Some(true)
    }

    /// Whether the mote holds a session on `tag`.
    pub(crate) fn holds_session(&self, tag: &FlowTag) -> bool {
        self.flows
            .get(tag)
            .is_some_and(|f| f.session_seen.is_some())
    }

    /// The IoTSSP gave up a handshake: forget it, keep any session the mote holds.
    pub(crate) fn abandon(&mut self, tag: &FlowTag) -> bool {
        let Some(f) = self.flows.get_mut(tag) else {
            return false;
        };
        let had = f.handshake_seen.take().is_some();
        if f.state().is_none() {
            self.flows.remove(tag);
        }
        had
    }

    /// Evicts the oldest idle handshake-only flow, or failing that the oldest idle flow.
    /// O(n), and only reached from authenticated input.
    fn evict_one(&mut self) -> Admission {
        let oldest = |want_session: bool| {
            self.flows
                .iter()
                .filter(|(_, f)| f.session_seen.is_some() == want_session)
                .min_by_key(|(_, f)| f.last_seen())
                .map(|(t, _)| *t)
        };
        if let Some(t) = oldest(false) {
            self.flows.remove(&t);
            Admission::EvictedHandshake
        } else if let Some(t) = oldest(true) {
            self.flows.remove(&t);
            Admission::EvictedSession
        } else {
            Admission::Created
        }
    }

    /// Drops idle handshakes, sessions and abbreviated handshakes (the latter idle like a
    /// handshake). Returns (handshakes expired, sessions expired, resumptions expired).
    pub(crate) fn expire(&mut self, now: Instant) -> (u64, u64, u64) {
        let (mut hs, mut ss, mut rs) = (0, 0, 0);
        let (hi, si) = (self.handshake_idle, self.session_idle);
        self.flows.retain(|_, f| {
            if f.handshake_seen
                .is_some_and(|t| now.saturating_duration_since(t) >= hi)
            {
                f.handshake_seen = None;
                hs += 1;
            }
            if f.session_seen
                .is_some_and(|t| now.saturating_duration_since(t) >= si)
            {
                f.session_seen = None;
                f.resumable = None;
                ss += 1;
            }
            if f.resume
                .is_some_and(|r| now.saturating_duration_since(r.seen) >= hi)
            {
                f.resume = None;
                rs += 1;
            }
            f.state().is_some()
        });
        (hs, ss, rs)
    }
}
