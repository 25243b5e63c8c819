//! Duplicate suppression for received frames, as Contiki-NG's `mac-sequence` does it:
//! remember the last sequence number of each sender for a while; a frame repeating it is a
//! retransmission whose ACK got lost.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use lowpan::ieee802154::Address;

/// How long a sequence number is remembered (Contiki-NG: 20 s).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(20);

/// Last sequence number per sender, bounded.
#[derive(Debug, Clone)]
pub struct DuplicateFilter {
    lifetime: Duration,
    capacity: usize,
    /// Most recent first.
    entries: VecDeque<(Address, u8, Instant)>,
}

impl DuplicateFilter {
    pub fn new(capacity: usize, lifetime: Duration) -> Self {
        DuplicateFilter {
            lifetime,
            capacity: capacity.max(1),
            entries: VecDeque::new(),
        }
    }

    /// Records the frame and says whether it repeats the sender's previous one.
    pub fn is_duplicate(&mut self, now: Instant, src: Address, seq: u8) -> bool {
        if let Some(i) = self.entries.iter().position(|(a, _, _)| *a == src) {
            let (_, last, at) = self.entries[i];
            let dup = last == seq && now.saturating_duration_since(at) < self.lifetime;
            self.entries.remove(i);
            self.entries.push_front((src, seq, now));
            return dup;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_back();
        }
        self.entries.push_front((src, seq, now));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowpan::ieee802154::Eui64;

    #[test]
    fn repeats_are_duplicates_until_they_expire() {
        let mut f = DuplicateFilter::new(4, DEFAULT_LIFETIME);
        let a = Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, 1]));
        let b = Address::Short(7);
        let t = Instant::now();
        assert!(!f.is_duplicate(t, a, 1));
        assert!(f.is_duplicate(t, a, 1));
        assert!(!f.is_duplicate(t, b, 1));
        assert!(!f.is_duplicate(t, a, 2));
        assert!(!f.is_duplicate(t, a, 1), "only the last number counts");
        assert!(!f.is_duplicate(t + DEFAULT_LIFETIME * 2, a, 1));
        // Wrapping sequence numbers of a busy sender are never mistaken for repeats.
        for i in 0..600u32 {
            assert!(!f.is_duplicate(t, b, (i % 256) as u8 ^ 0x55));
        }
    }

    #[test]
    fn bounded() {
        let mut f = DuplicateFilter::new(3, DEFAULT_LIFETIME);
        let t = Instant::now();
        for s in 0..100u16 {
            f.is_duplicate(t, Address::Short(s), 0);
        }
        assert_eq!(f.entries.len(), 3);
    }
}
