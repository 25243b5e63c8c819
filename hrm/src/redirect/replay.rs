//! 64-entry sliding anti-replay window over a 64-bit sequence (the RFC 4303 3.4.3 /
//! RFC 6347 4.1.2.6 algorithm). `check` never changes state; only `commit`, called after
//! the message was authenticated and accepted, does.

use core::fmt;

pub const WINDOW: u64 = 64;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayWindow {
    /// Highest sequence accepted, if any.
    highest: Option<u64>,
    /// Bit i set: `highest - i` was accepted.
    seen: u64,
}

impl ReplayWindow {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        let Some(high) = self.highest else {
            return Ok(());
        };
        if seq > high {
            return Ok(());
        }
        let back = high - seq;
        if back >= WINDOW {
            return Err(ReplayError::TooOld);
        }
        if self.seen & (1 << back) != 0 {
            Err(ReplayError::Replayed)
        } else {
            Ok(())
        }
    }

    /// Records `seq` as accepted. Call only after `check(seq)` returned Ok.
    pub fn commit(&mut self, seq: u64) {
        match self.highest {
            None => {
                self.highest = Some(seq);
                self.seen = 1;
            }
            Some(high) if seq > high => {
                let shift = seq - high;
                self.seen = if shift >= WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.highest = Some(seq);
            }
            Some(high) => {
                let back = high - seq;
                if back < WINDOW {
                    self.seen |= 1 << back;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, seq: u64) -> Result<(), ReplayError> {
        w.check(seq)?;
        w.commit(seq);
        Ok(())
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
}
