//! RPL motes behind `lowpan-br` as an RPL root, with the real binaries: motesim's motes are
//! RPL routers and leaves on a chain (the border router's radio - mote 1 - mote 2 - mote 3,
//! each link heard only by its two ends), so mote 1 is one hop and mote 3 three hops away.
//! From the "internet" namespace both answer ping (56 and 1232 bytes) and UDP echo; the
//! radio capture decodes in tshark with DIOs, DAO-ACKs and source-routed packets and no
//! malformed packet. In storing mode (`[rpl] mode = "storing"`, MOP 2) mote 1 keeps mote
//! 2's route and packets to mote 2, two hops away, carry no source routing header. With
//! `[rpl] source_routing = "rfc8138"` the downward packets leave as RFC 8138 page-1 frames
//! (an IP-in-IP tunnel from the root with RH3 and RPI 6LoRHs) which the motes forward as
//! such, and mote 3 still answers.

use integration_tests::testbed::{Options, PREFIX, Testbed, eui64_text, mote_addr, mote_eui64};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

fn rpl_bed(test: &str) -> Option<Testbed> {
    let opts = Options {
        motes: 3,
        pcap: true,
        br_extra: "[rpl]\nenabled = true\ndio_interval_min = 10\n".into(),
        motesim_args: vec!["--rpl".into(), "--link".into(), "0-1,1-2,2-3".into()],
        ..Options::default()
    };
    let bed = Testbed::start(test, opts)?;
    // The chain joins from the DIOs (Imin 1 s) and announces itself with DAOs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while bed.ping(mote_addr(3), 1, 8) == 0 {
        assert!(
            Instant::now() < deadline,
            "mote 3 never became reachable over three hops"
        );
    }
    Some(bed)
}

#[test]
fn rpl_motes_one_and_three_hops_away_answer_ping_and_udp() {
    let Some(mut bed) = rpl_bed("rpl_ping") else {
        return;
    };
    for n in [1u8, 3] {
        for size in [56usize, 1232] {
            let got = bed.ping(mote_addr(n), 3, size);
            assert!(
                got >= 2,
                "only {got}/3 replies from mote {n} to {size}-byte pings"
            );
        }
        let dst = SocketAddr::new(mote_addr(n).into(), 7);
        for size in [10usize, 600] {
            let payload: Vec<u8> = (0..size).map(|i| (i * 3 + usize::from(n)) as u8).collect();
            let answer =
                (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
            assert_eq!(
                answer.as_deref(),
                Some(&payload[..]),
                "UDP echo of {size} bytes from mote {n}"
            );
        }
    }

    // Stopping the daemon flushes the capture: every frame lowpan-br sent and received.
    let log = bed.border_router.stop();
    let pcap = bed.pcap_path();
    assert!(
        pcap.exists(),
        "no capture written; log:\n{}",
        log.join("\n")
    );
    let count = |filter: &str| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args([
                "-o",
                &format!("6lowpan.context0:{PREFIX}"),
                "-o",
                "udp.check_checksum:TRUE",
            ])
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("run tshark (apt-get install tshark)");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(
        count("_ws.malformed || _ws.expert.severity >= 8388608"),
        0,
        "malformed or erroneous frames"
    );
    assert!(
        count("icmpv6.type == 155 && icmpv6.code == 1") >= 1,
        "a DIO"
    );
    assert!(
        count("icmpv6.type == 155 && icmpv6.code == 3") >= 3,
        "DAO-ACKs"
    );
    assert!(
        count("ipv6.routing.type == 3") >= 1,
        "source-routed packets"
    );
    assert!(
        count("ipv6.opt.rpl.instance_id == 0x1e") >= 1,
        "upward packets with the RPL option"
    );
}

/// Storing mode with the real binaries: the border router announces MOP 2, mote 1 (one hop)
/// is a storing router that acknowledges mote 2's DAO, keeps its route and announces it in
/// its own DAO to the root, and packets to mote 2 (two hops) go down hop by hop with no
/// source routing header.
#[test]
fn rpl_storing_mode_reaches_a_mote_two_hops_away() {
    let opts = Options {
        motes: 2,
        pcap: true,
        br_extra: "[rpl]\nenabled = true\nmode = \"storing\"\ndio_interval_min = 10\n".into(),
        motesim_args: vec!["--rpl".into(), "--link".into(), "0-1,1-2".into()],
        ..Options::default()
    };
    let Some(mut bed) = Testbed::start("rpl_storing", opts) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while bed.ping(mote_addr(2), 1, 8) == 0 {
        assert!(
            Instant::now() < deadline,
            "mote 2 never became reachable over two hops in storing mode"
        );
    }
    for size in [56usize, 1232] {
        let got = bed.ping(mote_addr(2), 3, size);
        assert!(
            got >= 2,
            "only {got}/3 replies from mote 2 to {size}-byte pings"
        );
    }
    let dst = SocketAddr::new(mote_addr(2).into(), 7);
    for size in [10usize, 600] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 5) as u8).collect();
        let answer =
            (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
        assert_eq!(
            answer.as_deref(),
            Some(&payload[..]),
            "UDP echo of {size} bytes from mote 2"
        );
    }

    let log = bed.border_router.stop();
    let pcap = bed.pcap_path();
    assert!(
        pcap.exists(),
        "no capture written; log:\n{}",
        log.join("\n")
    );
    let count = |filter: &str| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-o", &format!("6lowpan.context0:{PREFIX}")])
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("run tshark (apt-get install tshark)");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(
        count("_ws.malformed || _ws.expert.severity >= 8388608"),
        0,
        "malformed or erroneous frames"
    );
    assert!(
        count("icmpv6.type == 155 && icmpv6.code == 1 && icmpv6.rpl.dio.flag.mop == 2") >= 1,
        "a DIO with MOP 2"
    );
    assert_eq!(
        count("icmpv6.type == 155 && icmpv6.code == 1 && icmpv6.rpl.dio.flag.mop != 2"),
        0,
        "DIOs of another mode"
    );
    // Mote 1's DAO, to the root's link-local address, lists mote 2 as well.
    let mote2 = mote_addr(2).to_string();
    assert!(
        count(&format!(
            "icmpv6.type == 155 && icmpv6.code == 2 && icmpv6.rpl.opt.target.prefix == {mote2}"
        )) >= 1,
        "mote 2's route in a DAO"
    );
    assert_eq!(
        count("ipv6.routing.type == 3"),
        0,
        "no source routing header in storing mode"
    );
    assert!(
        count(&format!("ipv6.dst == {mote2} && icmpv6.type == 128")) >= 1,
        "echo requests to mote 2"
    );
}

/// RFC 8138 with the real binaries (`[rpl] source_routing = "rfc8138"`): lowpan-br tunnels
/// the packets for mote 3, three hops away, from the root and sends them as page-1 frames
/// (IP-in-IP, RH3 and RPI 6LoRHs); its DIOs carry RFC 9035's T flag, on which motes 1 and 2
/// forward the page-1 form hop by hop and mote 3 opens the tunnel. Mote 3 answers ping (56
/// and 1232 bytes) and UDP echo, and tshark (told the PAN carries 6LoWPAN, as it does not
/// guess page 1) decodes every frame of the capture with no malformed packet.
#[test]
fn rpl_rfc8138_page_1_frames_reach_a_mote_three_hops_away() {
    let opts = Options {
        motes: 3,
        pcap: true,
        br_extra: "[rpl]\nenabled = true\ndio_interval_min = 10\nsource_routing = \"rfc8138\"\n"
            .into(),
        motesim_args: vec!["--rpl".into(), "--link".into(), "0-1,1-2,2-3".into()],
        ..Options::default()
    };
    let Some(mut bed) = Testbed::start("rpl_rfc8138", opts) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while bed.ping(mote_addr(3), 1, 8) == 0 {
        assert!(
            Instant::now() < deadline,
            "mote 3 never became reachable over three hops with RFC 8138"
        );
    }
    for size in [56usize, 1232] {
        let got = bed.ping(mote_addr(3), 3, size);
        assert!(
            got >= 2,
            "only {got}/3 replies from mote 3 to {size}-byte pings"
        );
    }
    let dst = SocketAddr::new(mote_addr(3).into(), 7);
    for size in [10usize, 600] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        let answer =
            (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
        assert_eq!(
            answer.as_deref(),
            Some(&payload[..]),
            "UDP echo of {size} bytes from mote 3"
        );
    }

    let log = bed.border_router.stop();
    let pcap = bed.pcap_path();
    assert!(
        pcap.exists(),
        "no capture written; log:\n{}",
        log.join("\n")
    );
    let count = |filter: &str| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-d", "wpan.panid==0xabcd,6lowpan"])
            .args([
                "-o",
                &format!("6lowpan.context0:{PREFIX}"),
                "-o",
                "udp.check_checksum:TRUE",
            ])
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("run tshark (apt-get install tshark)");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let mote1 = eui64_text(mote_eui64(1));
    assert!(count("frame") > 0, "an empty capture");
    assert_eq!(
        count("_ws.malformed || _ws.expert.severity >= 8388608"),
        0,
        "malformed or erroneous frames"
    );
    // Frames lowpan-br sent to mote 1 as page 1, tunnelled (IP-in-IP 6LoRH, type 6) with
    // the RPI-6LoRH (type 5): the DAO-ACKs to motes 2 and 3 and the small echo requests and
    // UDP datagram to mote 3 (a FRAG1 hides its 6LoRHs from tshark).
    let to_mote1 = format!(
        "wpan.dst64 == {mote1} && 6lowpan.pagenb == 1 && 6lowpan.rhtype == 6 && 6lowpan.rhtype == 5"
    );
    assert!(
        count(&format!(
            "{to_mote1} && icmpv6.type == 155 && icmpv6.code == 3"
        )) >= 2,
        "tunnelled DAO-ACKs"
    );
    let mote3 = mote_addr(3);
    assert!(
        count(&format!(
            "{to_mote1} && ipv6.dst == {mote3} && icmpv6.type == 128"
        )) >= 1,
        "a tunnelled echo request"
    );
    assert!(
        count(&format!(
            "{to_mote1} && ipv6.dst == {mote3} && udp.dstport == 7"
        )) >= 1,
        "a tunnelled UDP datagram"
    );
    // Mote 3's answers come up as page 1 too (its RPL option as an RPI-6LoRH).
    assert!(
        count(&format!(
            "wpan.src64 == {mote1} && 6lowpan.pagenb == 1 && ipv6.src == {mote3}"
        )) >= 2,
        "page-1 answers"
    );
    assert_eq!(
        count(&format!("wpan.dst64 == {mote1} && ipv6.routing.type == 3")),
        0,
        "no RFC 6554 header on the way down"
    );
}
