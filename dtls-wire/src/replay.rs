//! The 64-entry sliding anti-replay window over a 64-bit sequence (RFC 6347 4.1.2.6, the
//! RFC 4303 3.4.3 algorithm), sliding on the highest sequence number accepted so far.
//! DTLS records (48-bit sequence numbers) and redirect messages (64-bit) both use it.
//!
//! `check` never changes state; only `mark`, called after the record or message was
//! authenticated and accepted, does.

use core::fmt;

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// This sequence number was accepted before.
    Replayed,
    /// Older than the window: cannot tell, so refused.
    TooOld,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplayError::Replayed => "replayed",
            ReplayError::TooOld => "too_old",
        })
    }
}

impl core::error::Error for ReplayError {}

/// Bit `i` of `bitmap` set = `highest - i` was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayWindow {
    /// Highest sequence accepted, if any.
    highest: Option<u64>,
    bitmap: u64,
}

impl ReplayWindow {
    /// Entries: sequence numbers further than this below the highest are refused.
    pub const SIZE: u64 = 64;

    pub fn new() -> Self {
        Self::default()
    }

    /// A window that has seen everything up to and including `highest` (what a transferred
    /// session starts from: older records are refused, newer ones accepted).
    pub fn starting_after(highest: Option<u64>) -> Self {
        ReplayWindow {
            highest,
            bitmap: if highest.is_some() { u64::MAX } else { 0 },
        }
    }

    /// The exact state, for export (`highest`, `bitmap`).
    pub fn parts(&self) -> (Option<u64>, u64) {
        (self.highest, self.bitmap)
    }

    pub fn from_parts(highest: Option<u64>, bitmap: u64) -> Self {
        ReplayWindow {
            highest,
            bitmap: if highest.is_some() { bitmap | 1 } else { 0 },
        }
    }

    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// Whether `seq` may be accepted: not seen, and not older than the window.
    /// Call before authenticating; call [`mark`](Self::mark) only after authentication.
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        let Some(high) = self.highest else {
            return Ok(());
        };
        if seq > high {
            return Ok(());
        }
        let back = high - seq;
        if back >= Self::SIZE {
            return Err(ReplayError::TooOld);
        }
        if self.bitmap & (1 << back) != 0 {
            Err(ReplayError::Replayed)
        } else {
            Ok(())
        }
    }

    /// Records `seq` as accepted. Call only after `check(seq)` returned Ok and the record
    /// or message was authenticated.
    pub fn mark(&mut self, seq: u64) {
        match self.highest {
            None => {
                self.highest = Some(seq);
                self.bitmap = 1;
            }
            Some(high) if seq > high => {
                let shift = seq - high;
                self.bitmap = if shift >= Self::SIZE {
                    0
                } else {
                    self.bitmap << shift
                };
                self.bitmap |= 1;
                self.highest = Some(seq);
            }
            Some(high) => {
                let back = high - seq;
                if back < Self::SIZE {
                    self.bitmap |= 1 << back;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::prelude::rust_2024::*;

    fn accept(w: &mut ReplayWindow, seq: u64) -> Result<(), ReplayError> {
        w.check(seq)?;
        w.mark(seq);
        Ok(())
    }

    #[test]
    fn duplicates_and_old_records_refused() {
        let mut w = ReplayWindow::new();
        assert!(w.check(0).is_ok());
        w.mark(0);
        assert!(w.check(0).is_err());
        w.mark(100);
        assert!(w.check(99).is_ok());
        assert!(w.check(37).is_ok());
        assert!(w.check(36).is_err(), "outside the 64-entry window");
        w.mark(37);
        assert!(w.check(37).is_err());
        w.mark(1000);
        assert!(w.check(100).is_err());
        assert!(w.check(999).is_ok());
    }

    #[test]
    fn transferred_window_refuses_the_past() {
        let w = ReplayWindow::starting_after(Some(4));
        assert!(w.check(4).is_err());
        assert!(w.check(0).is_err());
        assert!(w.check(5).is_ok());
    }

    #[test]
    fn same_sequence_twice_is_refused() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 5).unwrap();
        assert_eq!(accept(&mut w, 5), Err(ReplayError::Replayed));
    }

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 100).unwrap();
        // 100 - 63 is the oldest still inside the window; 100 - 64 is outside.
        accept(&mut w, 37).unwrap();
        assert_eq!(accept(&mut w, 37), Err(ReplayError::Replayed));
        assert_eq!(accept(&mut w, 36), Err(ReplayError::TooOld));
        // Out of order inside the window is fine, once.
        accept(&mut w, 99).unwrap();
        assert_eq!(accept(&mut w, 99), Err(ReplayError::Replayed));
        // A jump of exactly 64 clears everything but the new head.
        accept(&mut w, 164).unwrap();
        assert_eq!(accept(&mut w, 100), Err(ReplayError::TooOld));
        accept(&mut w, 101).unwrap();
        // A jump of 63 keeps the old head's bit at the far edge.
        let mut w = ReplayWindow::new();
        accept(&mut w, 0).unwrap();
        accept(&mut w, 63).unwrap();
        assert_eq!(accept(&mut w, 0), Err(ReplayError::Replayed));
        accept(&mut w, 1).unwrap();
        // Extremes.
        let mut w = ReplayWindow::new();
        accept(&mut w, u64::MAX).unwrap();
        assert_eq!(accept(&mut w, u64::MAX), Err(ReplayError::Replayed));
        assert_eq!(accept(&mut w, 0), Err(ReplayError::TooOld));
    }

    #[test]
    fn check_does_not_change_state() {
        let mut w = ReplayWindow::new();
        accept(&mut w, 10).unwrap();
        let before = w;
        for s in [0, 9, 10, 11, 1000] {
            let _ = w.check(s);
        }
        assert_eq!(w, before);
    }

    proptest! {
        /// Against a model: a sequence is accepted iff unseen and within 64 of the highest.
        #[test]
        fn matches_model(seqs in proptest::collection::vec(0u64..300, 1..200)) {
            let mut w = ReplayWindow::new();
            let mut seen = std::collections::HashSet::new();
            let mut highest: Option<u64> = None;
            for s in seqs {
                let model = !seen.contains(&s) && highest.is_none_or(|h| s > h || h - s < 64);
                prop_assert_eq!(w.check(s).is_ok(), model);
                if model {
                    w.mark(s);
                    seen.insert(s);
                    highest = Some(highest.map_or(s, |h| h.max(s)));
                }
            }
        }
    }
}
