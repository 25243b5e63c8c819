//! Prometheus text exposition of the counters, served at `GET /metrics` by the `ops`
//! HTTP endpoint. The server never touches the bridge: it asks the daemon's main loop for
//! a rendering over a channel, so the counters need no locks on the packet path.

use std::fmt::Write as _;

use crate::counters::Counters;
use crate::neighbours::NeighbourTable;

/// Render everything as Prometheus text (version 0.0.4).
pub fn render(counters: &Counters, neighbours: &NeighbourTable, radio: &[(&'static str, u64)], own: Option<String>) -> String {
    let mut s = String::with_capacity(4096);
    for (name, v) in counters.totals() {
        let _ = writeln!(s, "# TYPE lowpan_br_{name}_total counter\nlowpan_br_{name}_total {v}");
    }
    let _ = writeln!(s, "# HELP lowpan_br_drops_total Packets and frames dropped, by reason.");
    let _ = writeln!(s, "# TYPE lowpan_br_drops_total counter");
    for (reason, v) in counters.drops() {
        let _ = writeln!(s, "lowpan_br_drops_total{{reason=\"{reason}\"}} {v}");
    }
    let _ = writeln!(s, "# TYPE lowpan_br_neighbours gauge\nlowpan_br_neighbours {}", neighbours.len());
    let _ = writeln!(s, "# TYPE lowpan_br_radio_ready gauge\nlowpan_br_radio_ready {}", u8::from(own.is_some()));
    if let Some(own) = own {
        let _ = writeln!(s, "# TYPE lowpan_br_radio_info gauge\nlowpan_br_radio_info{{eui64=\"{own}\"}} 1");
    }
    let _ = writeln!(s, "# TYPE lowpan_br_radio_link_total counter");
    for (name, v) in radio {
        let _ = writeln!(s, "lowpan_br_radio_link_total{{counter=\"{name}\"}} {v}");
    }
    let _ = writeln!(s, "# TYPE lowpan_br_mote_frames_total counter");
    let mut motes: Vec<_> = neighbours.iter().collect();
    motes.sort_by_key(|(a, _)| **a);
    for (addr, n) in &motes {
        let name = n.name.as_deref().unwrap_or("");
        let label = format!("mote=\"{addr}\",name=\"{}\"", name.replace(['"', '\\', '\n'], "_"));
        let _ = writeln!(s, "lowpan_br_mote_frames_total{{{label},dir=\"rx\"}} {}", n.stats.rx_frames);
        let _ = writeln!(s, "lowpan_br_mote_frames_total{{{label},dir=\"tx\"}} {}", n.stats.tx_frames);
    }
    let _ = writeln!(s, "# TYPE lowpan_br_mote_bytes_total counter");
    for (addr, n) in &motes {
        let name = n.name.as_deref().unwrap_or("");
        let label = format!("mote=\"{addr}\",name=\"{}\"", name.replace(['"', '\\', '\n'], "_"));
        let _ = writeln!(s, "lowpan_br_mote_bytes_total{{{label},dir=\"rx\"}} {}", n.stats.rx_bytes);
        let _ = writeln!(s, "lowpan_br_mote_bytes_total{{{label},dir=\"tx\"}} {}", n.stats.tx_bytes);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::DropReason;
    use lowpan::{Address, Eui64};

    #[test]
    fn renders_counters_drops_and_motes() {
        let mut c = Counters::default();
        c.radio_rx_frames = 3;
        c.drop(DropReason::UnknownMote);
        let mut n = NeighbourTable::new(4);
        n.add_configured(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 2]), None, Some("kitchen"));
        n.learn(Address::Short(5));
        let text = render(&c, &n, &[("frames_out", 7)], Some("00:12:4b:00:00:00:00:01".into()));
        assert!(text.contains("lowpan_br_radio_rx_frames_total 3\n"), "{text}");
        assert!(text.contains("lowpan_br_drops_total{reason=\"unknown_mote\"} 1\n"));
        assert!(text.contains("lowpan_br_radio_link_total{counter=\"frames_out\"} 7\n"));
        assert!(text.contains("mote=\"00:12:4b:00:00:00:00:02\",name=\"kitchen\",dir=\"rx\"} 0"));
        assert!(text.contains("mote=\"0005\",name=\"\",dir=\"tx\"} 0"));
        assert!(text.contains("lowpan_br_radio_ready 1"));
        assert!(text.contains("lowpan_br_neighbours 2"));
    }
}
