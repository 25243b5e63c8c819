//! Traffic and drop counters of the bridge core. Every dropped packet or frame is counted
//! under a stable reason name (also the Prometheus `reason` label).

use std::collections::BTreeMap;

/// Counters kept by [`crate::bridge::Bridge`]. Monotonic; never reset while running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub tun_rx_packets: u64,
    pub tun_rx_bytes: u64,
    pub tun_tx_packets: u64,
    pub tun_tx_bytes: u64,
    pub radio_rx_frames: u64,
    pub radio_rx_bytes: u64,
    pub radio_tx_frames: u64,
    pub radio_tx_bytes: u64,
    pub router_solicitations: u64,
    pub router_advertisements: u64,
    pub motes_learned: u64,
    pub reassembly_timeouts: u64,
    drops: BTreeMap<&'static str, u64>,
}

impl Counters {
    /// Count one drop for `reason` (a stable snake_case name).
    pub fn drop(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_insert(0) += 1;
    }

    /// Count `n` drops for `reason`.
    pub fn drop_n(&mut self, reason: &'static str, n: u64) {
        if n > 0 {
            *self.drops.entry(reason).or_insert(0) += n;
        }
    }

    pub fn drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.drops.iter().map(|(k, v)| (*k, *v))
    }

    pub fn dropped(&self, reason: &str) -> u64 {
        self.drops.get(reason).copied().unwrap_or(0)
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum()
    }

    /// The plain counters as (name, value), in a fixed order.
    pub fn totals(&self) -> [(&'static str, u64); 12] {
        [
            ("tun_rx_packets", self.tun_rx_packets),
            ("tun_rx_bytes", self.tun_rx_bytes),
            ("tun_tx_packets", self.tun_tx_packets),
            ("tun_tx_bytes", self.tun_tx_bytes),
            ("radio_rx_frames", self.radio_rx_frames),
            ("radio_rx_bytes", self.radio_rx_bytes),
            ("radio_tx_frames", self.radio_tx_frames),
            ("radio_tx_bytes", self.radio_tx_bytes),
            ("router_solicitations", self.router_solicitations),
            ("router_advertisements", self.router_advertisements),
            ("motes_learned", self.motes_learned),
            ("reassembly_timeouts", self.reassembly_timeouts),
        ]
    }

    /// One log line: totals that are not zero, then drops by reason.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.totals() {
            if v != 0 {
                s.push_str(&format!("{k}={v} "));
            }
        }
        for (k, v) in self.drops() {
            s.push_str(&format!("drop.{k}={v} "));
        }
        if s.is_empty() {
            s.push_str("no traffic");
        }
        s.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_accumulate_by_reason() {
        let mut c = Counters::default();
        c.drop("unknown_mote");
        c.drop("unknown_mote");
        c.drop_n("x", 3);
        c.drop_n("y", 0);
        assert_eq!(c.dropped("unknown_mote"), 2);
        assert_eq!(c.dropped("y"), 0);
        assert_eq!(c.total_drops(), 5);
        assert_eq!(c.drops().count(), 2);
        c.tun_rx_packets = 1;
        assert_eq!(c.summary(), "tun_rx_packets=1 drop.unknown_mote=2 drop.x=3");
    }
}
