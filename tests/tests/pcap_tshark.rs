//! Our radio capture (pcap, LINKTYPE 230) must decode cleanly in Wireshark's dissectors:
//! the IPv6 addresses, UDP ports and checksum status tshark sees must match what crossed the
//! TUN, fragmented datagrams included.

use integration_tests::testbed::{INET_ADDR, Options, PREFIX, Testbed, mote_addr};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

#[test]
fn capture_decodes_in_tshark_with_matching_addresses_ports_and_checksums() {
    let Some(mut bed) = Testbed::start(
        "pcap_tshark",
        Options {
            pcap: true,
            ..Options::default()
        },
    ) else {
        return;
    };
    let dst = SocketAddr::new(mote_addr(1).into(), 7);
    let small: Vec<u8> = b"hello mote".to_vec();
    let big: Vec<u8> = (0..900u32).map(|i| (i % 251) as u8).collect();
    for payload in [&small, &big] {
        let answer =
            (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
        assert_eq!(
            answer.as_ref(),
            Some(payload),
            "UDP echo through the border router"
        );
    }
    // Stopping the daemon flushes the capture.
    let log = bed.border_router.stop();
    let pcap = bed.pcap_path();
    assert!(
        pcap.exists(),
        "no capture written; log:\n{}",
        log.join("\n")
    );

    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-o", &format!("6lowpan.context0:{PREFIX}")])
        .args(["-o", "udp.check_checksum:TRUE"])
        .args(["-Y", "udp && !icmpv6"])
        .args(["-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
        ])
        .args([
            "-e",
            "udp.checksum.status",
            "-e",
            "udp.length",
            "-e",
            "_ws.malformed",
            "-e",
            "_ws.expert.severity",
        ])
        .output()
        .expect("run tshark (apt-get install tshark)");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    let mote = mote_addr(1).to_string();
    let mut seen = std::collections::BTreeMap::new();
    for row in &rows {
        let [src, dst, sport, dport, status, len, malformed, severity] = row[..] else {
            panic!("unexpected tshark row {row:?}");
        };
        assert!(
            malformed.is_empty(),
            "tshark marks a packet malformed: {row:?}"
        );
        assert!(
            !severity.contains("error") && !severity.contains("8388608"),
            "tshark reports an error: {row:?}"
        );
        assert_eq!(status, "1", "UDP checksum not good in tshark: {row:?}");
        let dir = if src == INET_ADDR && dst == mote && dport == "7" {
            "to-mote"
        } else if src == mote && dst == INET_ADDR && sport == "7" {
            "from-mote"
        } else {
            continue;
        };
        seen.entry((dir, len.to_string()))
            .and_modify(|n| *n += 1)
            .or_insert(1);
    }
    for len in [small.len() + 8, big.len() + 8] {
        for dir in ["to-mote", "from-mote"] {
            assert!(
                seen.contains_key(&(dir, len.to_string())),
                "no {dir} UDP datagram of length {len} decoded by tshark; saw {seen:?}\n{text}"
            );
        }
    }
}
