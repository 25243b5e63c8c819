//! Resumption at the mote, the border router's half (docs/protocol.md, "Resumption at the
//! mote"): which sessions the motes may resume themselves, and the cookie that a client must
//! return before its resuming ClientHello reaches a mote.
//!
//! The IoTSSP names each session it made resumable at a mote (SessionResumable, just after
//! the flow's FlowTransferred, so authenticated, and taken only for a flow that holds a
//! session at the mote, once); [`Resumables`] keeps (mote, session id) -> expiry, bounded
//! like the flow table. A ClientHello to that mote with that id and no
//! cookie is answered here with a stateless HelloVerifyRequest under the border router's own
//! cookie secret; only the repeated hello with that cookie goes to the mote. Everything else
//! (no id, an unknown or expired id, another cookie: the IoTSSP's, or the mote's "full")
//! takes the usual way to the IoTSSP, whose full handshake is the fallback. A mote is handed
//! at most one resuming hello per [`MOTE_SPACING`]; more go to the IoTSSP too.
//!
//! So what reaches a mote has proved that it receives at its source address (the cookie)
//! and knows the id of a session that mote holds; it costs the mote SHA-256 and AEAD, never
//! ECC. Only plaintext epoch-0 ClientHellos are read, with `dtls`'s parser.

use dtls::endpoint::{first_hello, hello_verify_request};
use dtls::handshake::cookie::CookieSecrets;
use dtls::provider::SecureRandom;
use redirect::{FlowTag, MAX_SESSION_ID_LEN};
use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A mote is handed at most one resuming ClientHello per this interval (a client's
/// retransmission comes a second later; a flood of cookie'd hellos falls back to the
/// IoTSSP's full handshake instead of waking the mote).
pub const MOTE_SPACING: Duration = Duration::from_millis(100);

/// The border router's cookie secret is replaced this often (the previous one still holds).
pub const COOKIE_ROTATION: Duration = Duration::from_secs(300);

/// Resuming hellos handed to the mote on one flow without any answer from it; the next
/// goes to the IoTSSP (a mote that cannot resume at all, or is unreachable).
pub const MAX_UNANSWERED: u8 = 2;

/// A session a mote may resume: the mote and the session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResumeKey {
    pub mote: Ipv6Addr,
    id: [u8; MAX_SESSION_ID_LEN],
    id_len: u8,
}

impl ResumeKey {
    /// `None` for an empty or too long id.
    pub fn new(mote: Ipv6Addr, session_id: &[u8]) -> Option<Self> {
        if session_id.is_empty() || session_id.len() > MAX_SESSION_ID_LEN {
            return None;
        }
        let mut id = [0; MAX_SESSION_ID_LEN];
        id[..session_id.len()].copy_from_slice(session_id);
        Some(ResumeKey {
            mote,
            id,
            id_len: session_id.len() as u8,
        })
    }

    pub fn session_id(&self) -> &[u8] {
        &self.id[..usize::from(self.id_len)]
    }
}

/// What to do with a ClientHello, as far as resumption goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HelloVerdict {
    /// Not a resumption the mote can serve: the usual way (IoTSSP).
    Usual,
    /// A known session, no cookie: answer the client with this HelloVerifyRequest record.
    Challenge(Vec<u8>),
    /// A known session and the border router's cookie: the mote may get it.
    ToMote(ResumeKey),
}

/// The sessions motes may resume, their expiry, and the cookie secret.
pub struct Resumables {
    sessions: HashMap<ResumeKey, Instant>,
    max: usize,
    cookies: Option<CookieSecrets>,
    last_to_mote: HashMap<Ipv6Addr, Instant>,
}

impl core::fmt::Debug for Resumables {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Resumables")
            .field("sessions", &self.sessions.len())
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

fn socket(addr: Ipv6Addr, port: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(addr, port, 0, 0))
}

impl Resumables {
    /// At most `max` sessions; cookies from `rng` (without one, no hello reaches a mote).
    pub(crate) fn new(max: usize, rng: Option<Arc<dyn SecureRandom>>) -> Self {
        Resumables {
            sessions: HashMap::new(),
            max,
            cookies: rng.and_then(|r| CookieSecrets::new(COOKIE_ROTATION, r).ok()),
            last_to_mote: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    /// The IoTSSP (authenticated) made `key` resumable until `expires`. When full, the
    /// session closest to its expiry makes room (O(n), authenticated input only).
    /// Returns whether one was evicted.
    pub(crate) fn insert(&mut self, key: ResumeKey, expires: Instant) -> bool {
        if self.max == 0 {
            return false;
        }
        let mut evicted = false;
        if !self.sessions.contains_key(&key)
            && self.sessions.len() >= self.max
            && let Some(k) = self
                .sessions
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(k, _)| *k)
        {
            self.sessions.remove(&k);
            evicted = true;
        }
        self.sessions.insert(key, expires);
        evicted
    }

    /// The mote does not hold `key` any more (it answered with its fallback).
    pub(crate) fn forget(&mut self, key: &ResumeKey) -> bool {
        self.sessions.remove(key).is_some()
    }

    pub(crate) fn is_resumable(&self, key: &ResumeKey, now: Instant) -> bool {
        self.sessions.get(key).is_some_and(|e| now < *e)
    }

    /// Drops expired sessions and rotates the cookie secret when due. Returns how many
    /// sessions expired.
    pub(crate) fn expire(&mut self, now: Instant) -> u64 {
        let before = self.sessions.len();
        self.sessions.retain(|_, e| now < *e);
        self.last_to_mote
            .retain(|_, t| now.saturating_duration_since(*t) < MOTE_SPACING);
        if let Some(c) = self.cookies.as_mut() {
            // A failed draw keeps the current secret (and the previous one).
            let _ = c.maybe_rotate(now);
        }
        (before - self.sessions.len()) as u64
    }

    /// Reads the ClientHello opening `datagram` on `flow`.
    pub(crate) fn inspect(
        &mut self,
        now: Instant,
        flow: &FlowTag,
        datagram: &[u8],
    ) -> HelloVerdict {
        if self.sessions.is_empty() {
            return HelloVerdict::Usual;
        }
        let Ok(first) = first_hello(datagram) else {
            return HelloVerdict::Usual;
        };
        let Some(key) = ResumeKey::new(flow.mote_addr, &first.hello.session_id) else {
            return HelloVerdict::Usual;
        };
        if !self.is_resumable(&key, now) {
            return HelloVerdict::Usual;
        }
        let Some(cookies) = self.cookies.as_mut() else {
            return HelloVerdict::Usual;
        };
        let _ = cookies.maybe_rotate(now);
        let client = socket(flow.peer_addr, flow.peer_port);
        if first.hello.cookie.is_empty() {
            return HelloVerdict::Challenge(hello_verify_request(cookies, &client, &first));
        }
        if cookies.verify(&client, &first.hello) {
            HelloVerdict::ToMote(key)
        } else {
            HelloVerdict::Usual
        }
    }

    /// Whether `mote` may get a resuming hello now (none handed to it within
    /// [`MOTE_SPACING`]); if so, the time is noted.
    pub(crate) fn take_mote_turn(&mut self, mote: Ipv6Addr, now: Instant) -> bool {
        match self.last_to_mote.get(&mote) {
            Some(t) if now.saturating_duration_since(*t) < MOTE_SPACING => false,
            _ => {
                self.last_to_mote.insert(mote, now);
                true
            }
        }
    }
}
