//! Time as the machines see it: a millisecond counter from any origin the caller picks
//! (a mote's uptime), and the protocol's timer values.

use core::ops::Add;
use core::time::Duration;

/// A point in time, in milliseconds since an origin of the caller's choosing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self - earlier`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the end of time instead of overflowing.
    fn add(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ms))
    }
}

/// The first retransmission of an AssocHello, a Transfer, an AssocAccept or a Poke; each
/// later one waits twice as long as the one before.
pub const FIRST_RESEND: Duration = Duration::from_secs(2);
/// The longest wait between two AssocHellos.
pub const HELLO_MAX_INTERVAL: Duration = Duration::from_secs(60);
/// How long the IoTSSP tries a transfer (and an AssocAccept) before it gives up.
pub const TRANSFER_DEADLINE: Duration = Duration::from_secs(10);
/// At most one Unassociated (or repeated AssocReady, or kept Confirm) per this interval.
pub const REPLY_INTERVAL: Duration = Duration::from_secs(1);
/// The mote honours at most one Poke per this interval.
pub const POKE_INTERVAL: Duration = Duration::from_secs(60);
/// How many ratchet steps the mote may skip ahead to meet a Transfer.
pub const SKIP_AHEAD: u32 = 16;
/// How long a mote resends a Connect (2 s, doubling) before giving up on it: the IoTSSP's
/// handshake with an Internet server may need several of its own retransmissions.
pub const CONNECT_DEADLINE: Duration = Duration::from_secs(30);

/// How long the IoTSSP waits for a mote's signature (SignRequest resent 2 s after, then
/// doubling) before the handshake that needs it fails. The mote's ECDSA takes about 0.35 s
/// on a CC2538's PKA; the rest is for lost frames.
pub const SIGN_DEADLINE: Duration = Duration::from_secs(10);

/// A retransmission timer: due at `next`, then after twice the previous wait, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub next: Instant,
    interval: Duration,
    max: Duration,
}

impl Backoff {
    /// First due `FIRST_RESEND` after `now`.
    pub fn start(now: Instant, max: Duration) -> Backoff {
        Backoff {
            next: now + FIRST_RESEND,
            interval: FIRST_RESEND,
            max,
        }
    }

    /// If due at `now`, schedules the next one and says so.
    pub fn fire(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.interval = self.interval.saturating_mul(2).min(self.max);
        self.next = now + self.interval;
        true
    }
}

/// Lets one event through per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RateLimit {
    last: Option<Instant>,
}

impl RateLimit {
    /// Something allowed otherwise happened at `now`: the interval counts from it.
    pub fn note(&mut self, now: Instant) {
        self.last = Some(now);
    }

    pub fn allow(&mut self, now: Instant, interval: Duration) -> bool {
        match self.last {
            Some(last) if now.saturating_since(last) < interval && now >= last => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}
