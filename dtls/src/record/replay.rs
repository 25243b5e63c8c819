//! The RFC 6347 section 4.1.2.6 anti-replay window: 64 entries, sliding on the highest
//! sequence number authenticated so far.

/// Bit `i` of `bitmap` set = `highest - i` was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayWindow {
    highest: Option<u64>,
    bitmap: u64,
}

impl ReplayWindow {
    pub const SIZE: u64 = 64;

    pub fn new() -> Self {
        Self::default()
    }

    /// A window that has seen everything up to and including `highest` (what a transferred
    /// session starts from: older records are refused, newer ones accepted).
    pub fn starting_after(highest: Option<u64>) -> Self {
        ReplayWindow { highest, bitmap: if highest.is_some() { u64::MAX } else { 0 } }
    }

    /// The exact state, for export (`highest`, `bitmap`).
    pub fn parts(&self) -> (Option<u64>, u64) {
        (self.highest, self.bitmap)
    }

    pub fn from_parts(highest: Option<u64>, bitmap: u64) -> Self {
        ReplayWindow { highest, bitmap: if highest.is_some() { bitmap | 1 } else { 0 } }
    }

    /// Whether `seq` may be accepted: not seen, and not older than the window.
    /// Call before decrypting; call [`mark`](Self::mark) only after authentication.
    pub fn check(&self, seq: u64) -> bool {
        match self.highest {
            None => true,
            Some(h) if seq > h => true,
            Some(h) => {
                let off = h - seq;
                off < Self::SIZE && self.bitmap & (1u64 << off) == 0
            }
        }
    }

    pub fn mark(&mut self, seq: u64) {
        match self.highest {
            None => {
                self.highest = Some(seq);
                self.bitmap = 1;
            }
            Some(h) if seq > h => {
                let shift = seq - h;
                self.bitmap = if shift >= Self::SIZE { 0 } else { self.bitmap << shift };
                self.bitmap |= 1;
                self.highest = Some(seq);
            }
            Some(h) => {
                let off = h - seq;
                if off < Self::SIZE {
                    self.bitmap |= 1u64 << off;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duplicates_and_old_records_refused() {
        let mut w = ReplayWindow::new();
        assert!(w.check(0));
        w.mark(0);
        assert!(!w.check(0));
        w.mark(100);
        assert!(w.check(99));
        assert!(w.check(37));
        assert!(!w.check(36), "outside the 64-entry window");
        w.mark(37);
        assert!(!w.check(37));
        w.mark(1000);
        assert!(!w.check(100));
        assert!(w.check(999));
    }

    #[test]
    fn transferred_window_refuses_the_past() {
        let w = ReplayWindow::starting_after(Some(4));
        assert!(!w.check(4));
        assert!(!w.check(0));
        assert!(w.check(5));
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
                prop_assert_eq!(w.check(s), model);
                if model {
                    w.mark(s);
                    seen.insert(s);
                    highest = Some(highest.map_or(s, |h| h.max(s)));
                }
            }
        }
    }
}
