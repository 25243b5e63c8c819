//! The border router's Prometheus metrics, served at `GET /metrics` by the `ops` HTTP
//! endpoint. The server never touches the bridge: it asks the daemon's main loop, which
//! reads the counters into an [`ops::metrics::Snapshot`], so the counters need no locks on
//! the packet path.

use ops::metrics::{Labels, Snapshot};

use crate::counters::Counters;
use crate::neighbours::NeighbourTable;

/// What each of [`Counters::totals`] counts (the `# HELP` text of `lowpan_br_<name>_total`).
fn total_help(name: &str) -> &'static str {
    match name {
        "tun_rx_packets" => "IPv6 packets read from the TUN.",
        "tun_rx_bytes" => "Bytes of the IPv6 packets read from the TUN.",
        "tun_tx_packets" => "IPv6 packets written to the TUN.",
        "tun_tx_bytes" => "Bytes of the IPv6 packets written to the TUN.",
        "radio_rx_frames" => "802.15.4 frames received from the radio.",
        "radio_rx_bytes" => "Bytes of the 802.15.4 frames received from the radio.",
        "radio_tx_frames" => "802.15.4 frames sent to the radio.",
        "radio_tx_bytes" => "Bytes of the 802.15.4 frames sent to the radio.",
        "router_solicitations" => "Router Solicitations received.",
        "router_advertisements" => "Router Advertisements sent.",
        "motes_learned" => "Motes learned from the source address of their frames.",
        "reassembly_timeouts" => "Partial 6LoWPAN datagrams not completed in time.",
        "address_registrations" => {
            "Address registrations (NS with ARO, DAR) accepted or refreshed."
        }
        "address_deregistrations" => "Address registrations removed by their owner.",
        "registrations_refused" => {
            "Address registrations answered duplicate or neighbour cache full."
        }
        "registrations_expired" => "Address registrations that ran out.",
        "duplicate_address_requests" => "Duplicate Address Requests from 6LoWPAN routers answered.",
        _ => "A border router counter.",
    }
}

/// The bridge's counters, drops by reason, the neighbours and the radio link, as metrics.
pub fn snapshot(
    counters: &Counters,
    neighbours: &NeighbourTable,
    radio: &[(&'static str, u64)],
    own: Option<String>,
) -> Snapshot {
    let mut s = Snapshot::new();
    for (name, v) in counters.totals() {
        s.counter(format!("lowpan_br_{name}"), total_help(name), v);
    }
    let drops = counters
        .drops()
        .map(|(reason, v)| (vec![("reason", reason.to_owned())], v));
    s.counters(
        "lowpan_br_drops",
        "Packets and frames dropped, by reason.",
        drops,
    );
    s.gauge(
        "lowpan_br_neighbours",
        "Motes in the neighbour table.",
        neighbours.len() as i64,
    );
    s.gauge(
        "lowpan_br_radio_ready",
        "1 once the radio has told its link address.",
        i64::from(own.is_some()),
    );
    if let Some(own) = own {
        s.gauges(
            "lowpan_br_radio_info",
            "The radio's link address (EUI-64).",
            [(vec![("eui64", own)], 1)],
        );
    }
    let link = radio
        .iter()
        .map(|(name, v)| (vec![("counter", (*name).to_owned())], *v));
    s.counters(
        "lowpan_br_radio_link",
        "The radio driver's own counters.",
        link,
    );
    let mut motes: Vec<_> = neighbours.iter().collect();
    motes.sort_by_key(|(a, _)| **a);
    let per_mote =
        |dir: &'static str, n: &crate::neighbours::Neighbour, addr: &lowpan::Address| -> Labels {
            vec![
                ("mote", addr.to_string()),
                ("name", n.name.as_deref().unwrap_or("").to_owned()),
                ("dir", dir.to_owned()),
            ]
        };
    let frames = motes.iter().flat_map(|(a, n)| {
        [
            (per_mote("rx", n, a), n.stats.rx_frames),
            (per_mote("tx", n, a), n.stats.tx_frames),
        ]
    });
    s.counters(
        "lowpan_br_mote_frames",
        "Frames from (rx) and to (tx) each mote.",
        frames.collect::<Vec<_>>(),
    );
    let bytes = motes.iter().flat_map(|(a, n)| {
        [
            (per_mote("rx", n, a), n.stats.rx_bytes),
            (per_mote("tx", n, a), n.stats.tx_bytes),
        ]
    });
    s.counters(
        "lowpan_br_mote_bytes",
        "Frame bytes from (rx) and to (tx) each mote.",
        bytes.collect::<Vec<_>>(),
    );
    // Only what the radio reported with a mote's last frame: no sample where it gave none.
    let mote = |n: &crate::neighbours::Neighbour, addr: &lowpan::Address| -> Labels {
        vec![
            ("mote", addr.to_string()),
            ("name", n.name.as_deref().unwrap_or("").to_owned()),
        ]
    };
    let lqi = motes
        .iter()
        .filter_map(|(a, n)| Some((mote(n, a), i64::from(n.stats.last_quality.lqi?))));
    s.gauges(
        "lowpan_br_mote_lqi",
        "The LQI the radio reported with each mote's last frame (ZEP; a slip-radio reports none).",
        lqi.collect::<Vec<_>>(),
    );
    let rssi = motes
        .iter()
        .filter_map(|(a, n)| Some((mote(n, a), i64::from(n.stats.last_quality.rssi_dbm?))));
    s.gauges(
        "lowpan_br_mote_rssi_dbm",
        "The RSSI (dBm) the radio reported with each mote's last frame (ZEP in LQI mode).",
        rssi.collect::<Vec<_>>(),
    );
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
        n.get_mut(&Address::Short(5)).unwrap().stats.last_quality = slip::LinkQuality {
            lqi: Some(77),
            rssi_dbm: Some(-80),
        };
        let text = snapshot(
            &c,
            &n,
            &[("frames_out", 7)],
            Some("00:12:4b:00:00:00:00:01".into()),
        )
        .encode();
        let m = ops::metrics::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(m["lowpan_br_radio_rx_frames_total"], 3.0);
        assert_eq!(m["lowpan_br_tun_rx_packets_total"], 0.0);
        assert_eq!(m["lowpan_br_drops_total{reason=\"unknown_mote\"}"], 1.0);
        assert_eq!(m["lowpan_br_radio_link_total{counter=\"frames_out\"}"], 7.0);
        assert_eq!(
            m["lowpan_br_mote_frames_total{mote=\"00:12:4b:00:00:00:00:02\",name=\"kitchen\",dir=\"rx\"}"],
            0.0
        );
        assert_eq!(
            m["lowpan_br_mote_bytes_total{mote=\"0005\",name=\"\",dir=\"tx\"}"],
            0.0
        );
        assert_eq!(m["lowpan_br_radio_ready"], 1.0);
        assert_eq!(
            m["lowpan_br_radio_info{eui64=\"00:12:4b:00:00:00:00:01\"}"],
            1.0
        );
        assert_eq!(m["lowpan_br_neighbours"], 2.0);
        assert_eq!(m["lowpan_br_mote_lqi{mote=\"0005\",name=\"\"}"], 77.0);
        assert_eq!(m["lowpan_br_mote_rssi_dbm{mote=\"0005\",name=\"\"}"], -80.0);
        assert!(
            !text.contains("lowpan_br_mote_lqi{mote=\"00:12:4b"),
            "no LQI for a mote the radio gave none for:\n{text}"
        );
        assert!(text.contains("# HELP lowpan_br_drops_total Packets and frames dropped, by reason.\n# TYPE lowpan_br_drops_total counter\n"), "{text}");
    }
}
