//! The Trickle timer (RFC 6206) that paces the root's DIOs: quiet while the DODAG is
//! consistent, fast again after an inconsistency (a multicast DIS, a new version).

use std::time::{Duration, Instant};

/// A sans-IO Trickle timer with its own small pseudo-random generator (seeded by the
/// caller, so tests are deterministic).
#[derive(Debug, Clone)]
pub struct Trickle {
    imin: Duration,
    imax: Duration,
    k: u8,
    interval: Duration,
    start: Instant,
    /// When to transmit in this interval; `None` once done (sent or suppressed).
    fire: Option<Instant>,
    heard: u8,
    rng: u64,
}

impl Trickle {
    /// `imin_exp`: Imin = 2^imin_exp ms; Imax = Imin * 2^doublings; `k`: redundancy
    /// constant (0 = never suppress).
    pub fn new(now: Instant, imin_exp: u8, doublings: u8, k: u8, seed: u64) -> Self {
        let imin = Duration::from_millis(1u64 << imin_exp.min(40));
        let imax = imin.saturating_mul(1u32 << doublings.min(31));
        let mut t = Trickle {
            imin,
            imax,
            k,
            interval: imin,
            start: now,
            fire: None,
            heard: 0,
            rng: seed | 1,
        };
        t.begin(now);
        t
    }

    fn random_below(&mut self, n: u64) -> u64 {
        // xorshift64*: enough to spread the DIOs of different roots apart.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }

    fn begin(&mut self, now: Instant) {
        self.start = now;
        self.heard = 0;
        let half = self.interval / 2;
        let jitter = self.random_below(half.as_millis().max(1) as u64);
        self.fire = Some(now + half + Duration::from_millis(jitter));
    }

    /// The interval now in use.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The next moment [`Trickle::poll`] has something to do.
    pub fn next_deadline(&self) -> Instant {
        self.fire.unwrap_or(self.start + self.interval)
    }

    /// A consistent transmission was heard (counts towards suppression).
    pub fn hear_consistent(&mut self) {
        self.heard = self.heard.saturating_add(1);
    }

    /// An inconsistency: back to Imin at once (unless already there).
    pub fn reset(&mut self, now: Instant) {
        if self.interval != self.imin {
            self.interval = self.imin;
            self.begin(now);
        }
    }

    /// Advances to `now`; returns true when a transmission is due.
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut send = false;
        if let Some(t) = self.fire
            && now >= t
        {
            self.fire = None;
            send = self.k == 0 || self.heard < self.k;
        }
        if self.fire.is_none() && now >= self.start + self.interval {
            self.interval = (self.interval * 2).min(self.imax);
            self.begin(now);
        }
        send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_double_up_to_imax_and_reset() {
        let t0 = Instant::now();
        let mut t = Trickle::new(t0, 10, 2, 0, 7);
        let mut now = t0;
        let mut sent = Vec::new();
        for _ in 0..20 {
            now = t.next_deadline();
            if t.poll(now) {
                sent.push(now - t0);
            }
        }
        assert_eq!(t.interval(), Duration::from_millis(4096));
        // One per interval: 1024, 2048, then 4096 ms intervals.
        assert!(sent.len() >= 5, "{sent:?}");
        assert!(sent[0] >= Duration::from_millis(512) && sent[0] < Duration::from_millis(1024));
        t.reset(now);
        assert_eq!(t.interval(), Duration::from_millis(1024));
        assert!(t.next_deadline() < now + Duration::from_millis(1024));
    }

    #[test]
    fn consistent_messages_suppress() {
        let t0 = Instant::now();
        let mut t = Trickle::new(t0, 10, 2, 1, 7);
        t.hear_consistent();
        let at = t.next_deadline();
        assert!(!t.poll(at));
    }
}
