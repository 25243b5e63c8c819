//! Cross-check against an independent implementation: Wireshark's 6LoWPAN dissector.
//! Frames built by our Encoder are written to a pcap (DLT 230, 802.15.4 without FCS) and the
//! IPv6/UDP fields tshark decodes are compared with the packets we encoded. Skipped (passes
//! with a note) when `tshark` is not installed.

use lowpan::ieee802154::{FrameRepr, build_data_frame};
use lowpan::ip::{Ipv6Packet, UdpPacket};
use lowpan::{Address, ContextTable, Encoder, Eui64, Ipv6Repr, LinkAddrs, NextHeader, UdpRepr};
use std::net::Ipv6Addr;
use std::process::Command;

#[allow(clippy::too_many_arguments)] // mirrors the header fields one to one
fn udp(src: &str, dst: &str, tc: u8, fl: u32, hl: u8, sp: u16, dp: u16, len: usize) -> Vec<u8> {
    let (s, d): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), dst.parse().unwrap());
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let header = Ipv6Repr {
        traffic_class: tc,
        flow_label: fl,
        ..Ipv6Repr::new(s, d, NextHeader::Udp, hl, 0)
    };
    UdpRepr {
        src_port: sp,
        dst_port: dp,
        payload: &payload,
    }
    .emit_after(&header)
    .unwrap()
}

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&230u32.to_le_bytes()); // LINKTYPE_IEEE802_15_4_NOFCS
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[test]
fn tshark_decodes_our_frames() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("tshark not installed: skipping the Wireshark cross-check");
        return;
    }
    let e1 = Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1]));
    let e2 = Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 2]));
    let bc = Address::BROADCAST;
    let cases: Vec<(LinkAddrs, Vec<u8>)> = vec![
        (
            LinkAddrs { src: e1, dst: e2 },
            udp(
                "fe80::212:4b00:0:1",
                "fe80::212:4b00:0:2",
                0,
                0,
                64,
                5683,
                5683,
                10,
            ),
        ),
        (
            LinkAddrs { src: e1, dst: e2 },
            udp(
                "fe80::212:4b00:0:1",
                "fe80::212:4b00:0:2",
                0xb7,
                0xabcde,
                1,
                0xf0b1,
                0xf0b2,
                10,
            ),
        ),
        (
            LinkAddrs { src: e1, dst: e2 },
            udp(
                "2001:db8::212:4b00:0:1",
                "2001:db8::5",
                0x01,
                0xfffff,
                255,
                0x1234,
                0xf012,
                20,
            ),
        ),
        (
            LinkAddrs { src: e1, dst: e2 },
            udp(
                "2001:db8::212:4b00:0:1",
                "2001:db8:9::5",
                0xb4,
                0,
                17,
                0xf0c4,
                5684,
                20,
            ),
        ),
        (
            LinkAddrs {
                src: Address::Short(0x1234),
                dst: bc,
            },
            udp("fe80::ff:fe00:1234", "ff02::1a", 0, 0, 255, 5683, 5683, 4),
        ),
        (
            LinkAddrs { src: e1, dst: bc },
            udp("fe80::212:4b00:0:1", "ff05::1:3", 0, 0, 64, 5683, 5683, 4),
        ),
        (
            LinkAddrs { src: e1, dst: bc },
            udp(
                "fe80::212:4b00:0:1",
                "ff0e::12:3456:789a",
                0,
                0,
                64,
                5683,
                5683,
                4,
            ),
        ),
        (
            LinkAddrs { src: e1, dst: e2 },
            udp(
                "2001:db8::212:4b00:0:1",
                "2001:db8:77::5",
                0,
                0,
                64,
                5684,
                40000,
                1232,
            ),
        ),
        (
            LinkAddrs { src: e1, dst: e2 },
            udp("::", "2001:db8::212:4b00:0:2", 0, 0, 64, 1, 2, 300),
        ),
        // DAC=1 M=1: unicast-prefix-based multicast from context 0
        (
            LinkAddrs { src: e1, dst: bc },
            udp(
                "2001:db8::212:4b00:0:1",
                "ff3e:40:2001:db8::1234:5678",
                0,
                0,
                64,
                5683,
                5683,
                4,
            ),
        ),
    ];
    let mut enc = Encoder::with_initial_tag(
        ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64),
        0x4242,
    );
    let mut frames = Vec::new();
    for (seq, (links, p)) in cases.iter().enumerate() {
        let repr = FrameRepr::data(
            0xabcd,
            links.src,
            links.dst,
            seq as u8,
            !links.dst.is_broadcast(),
        );
        let mfp = lowpan::max_frame_payload(&repr);
        for payload in enc.encode(p, *links, mfp).unwrap() {
            frames.push(build_data_frame(&repr, &payload));
        }
    }
    let dir = std::env::temp_dir().join(format!("lowpan-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("frames.pcap");
    std::fs::write(&path, pcap(&frames)).unwrap();
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-o",
            "6lowpan.context0:2001:db8::/64",
            "-Y",
            "udp",
        ])
        .args(["-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
            "-e",
            "ipv6.tclass",
            "-e",
            "ipv6.flow",
            "-e",
            "ipv6.hlim",
        ])
        .args([
            "-e",
            "ipv6.plen",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
            "-e",
            "udp.length",
            "-e",
            "udp.checksum",
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        cases.len(),
        "tshark output:\n{text}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (line, (_, p)) in lines.iter().zip(&cases) {
        let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        let expect = format!(
            "{}|{}|0x{:08x}|0x{:06x}|{}|{}|{}|{}|{}|0x{:04x}",
            ip.src_addr(),
            ip.dst_addr(),
            ip.traffic_class(),
            ip.flow_label(),
            ip.hop_limit(),
            ip.payload_len(),
            u.src_port(),
            u.dst_port(),
            u.len(),
            u.checksum()
        );
        assert_eq!(*line, expect);
    }
}

/// Inserts the extension headers `ext` (each a whole header whose Next Header byte is
/// rewritten) between the fixed header of `packet` and its payload.
fn with_extensions(packet: &[u8], ext: &[Vec<u8>]) -> Vec<u8> {
    let mut out = packet[..40].to_vec();
    // Each header's first byte names its own kind on entry; link them: the fixed header
    // names the first, each names the one after it, the last the original upper layer.
    let kinds: Vec<u8> = ext.iter().map(|h| h[0]).collect();
    out[6] = kinds[0];
    for (i, h) in ext.iter().enumerate() {
        let mut h = h.clone();
        h[0] = kinds.get(i + 1).copied().unwrap_or(packet[6]);
        out.extend_from_slice(&h);
    }
    out.extend_from_slice(&packet[40..]);
    let plen = (out.len() - 40) as u16;
    out[4..6].copy_from_slice(&plen.to_be_bytes());
    out
}

/// Packets with a Hop-by-Hop RPL option, a source routing header, both, and a tunnelled
/// IPv6 packet, compressed with the extension-header NHC (and fragmented when large): tshark
/// decodes each without a malformed packet or an error, with the UDP checksum verified.
#[test]
fn tshark_decodes_extension_header_nhc() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("tshark not installed: skipping the Wireshark cross-check");
        return;
    }
    use lowpan::rpl::option::RplOptionRepr;
    use lowpan::rpl::srh::SrhRepr;
    let e1 = Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1]));
    let e2 = Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 2]));
    let links = LinkAddrs { src: e1, dst: e2 };
    // Each header's first byte names its own kind here; with_extensions links them.
    let hbh = |rank: u16| {
        let mut h = RplOptionRepr {
            instance: 0x1e,
            sender_rank: rank,
            ..Default::default()
        }
        .hop_by_hop(0)
        .to_vec();
        h[0] = 0;
        h
    };
    let srh = |dst: &str, hops: &[&str]| {
        let srh = SrhRepr {
            next_header: 0,
            segments_left: hops.len() as u8,
            addresses: hops.iter().map(|h| h.parse().unwrap()).collect(),
        };
        let mut h = srh.emit(&dst.parse().unwrap()).unwrap();
        h[0] = 43;
        h
    };
    // Ports outside CoAP's, whose dissector would find our counting payload malformed.
    let up = udp(
        "2001:db8::212:4b00:0:3",
        "2001:db8:77::5",
        0,
        0,
        63,
        7000,
        40000,
        30,
    );
    // Source-routed: the UDP checksum covers the final destination (the last address);
    // the IPv6 destination is the first hop.
    let routed = |len: usize, ext: &[Vec<u8>], last: &str| {
        let mut p = with_extensions(
            &udp("2001:db8:77::5", last, 0, 0, 63, 40000, 7000, len),
            ext,
        );
        p[24..40].copy_from_slice(
            &"2001:db8::212:4b00:0:2"
                .parse::<Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        p
    };
    let first = "2001:db8::212:4b00:0:2";
    let two_hops = routed(
        30,
        &[srh(
            first,
            &["2001:db8::212:4b00:0:3", "2001:db8::212:4b00:0:4"],
        )],
        "2001:db8::212:4b00:0:4",
    );
    let big = routed(
        1232,
        &[srh(first, &["2001:db8::212:4b00:0:4"])],
        "2001:db8::212:4b00:0:4",
    );
    let both = routed(
        30,
        &[hbh(256), srh(first, &["2001:db8::212:4b00:0:9"])],
        "2001:db8::212:4b00:0:9",
    );
    // A tunnelled packet: root -> mote, carrying the upward UDP datagram.
    let inner = with_extensions(&up, &[hbh(512)]);
    let outer = Ipv6Repr::new(
        "2001:db8::1".parse().unwrap(),
        "2001:db8::212:4b00:0:2".parse().unwrap(),
        NextHeader::Ipv6,
        64,
        0,
    )
    .emit_packet(inner.len(), |p| p.copy_from_slice(&inner))
    .unwrap();
    let cases = [
        with_extensions(&up, &[hbh(512)]),
        two_hops,
        big,
        both,
        outer,
    ];
    let mut enc = Encoder::with_initial_tag(
        ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64),
        0x4242,
    );
    let mut frames = Vec::new();
    let mut compressed_total = 0;
    for (seq, p) in cases.iter().enumerate() {
        let repr = FrameRepr::data(0xabcd, links.src, links.dst, seq as u8, true);
        let mfp = lowpan::max_frame_payload(&repr);
        let payloads = enc.encode(p, links, mfp).unwrap();
        compressed_total += payloads.iter().map(Vec::len).sum::<usize>();
        // What we send decodes back to the packet.
        let mut r =
            lowpan::Reassembler::new(ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64));
        let mut got = None;
        for payload in &payloads {
            got = r
                .accept(std::time::Instant::now(), links, payload)
                .unwrap()
                .or(got);
            frames.push(build_data_frame(&repr, payload));
        }
        assert_eq!(got.as_deref(), Some(&p[..]), "case {seq}");
    }
    assert!(compressed_total < cases.iter().map(Vec::len).sum::<usize>());
    let dir = std::env::temp_dir().join(format!("lowpan-tshark-ext-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("frames.pcap");
    std::fs::write(&path, pcap(&frames)).unwrap();
    let run = |filter: &str| {
        let out = Command::new("tshark")
            .args([
                "-r",
                path.to_str().unwrap(),
                "-o",
                "6lowpan.context0:2001:db8::/64",
                "-o",
                "udp.check_checksum:TRUE",
            ])
            .args([
                "-Y",
                filter,
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "ipv6.src",
                "-e",
                "ipv6.dst",
                "-e",
                "udp.checksum.status",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let bad = run("_ws.malformed || _ws.expert.severity >= 8388608");
    let udp_ok = run("udp.checksum.status == 1");
    let routing = run("ipv6.routing.type == 3");
    let rpl = run("ipv6.opt.rpl.instance_id == 0x1e");
    if std::env::var_os("KEEP_PCAP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(bad, "", "tshark found errors");
    assert_eq!(
        udp_ok.lines().count(),
        cases.len(),
        "UDP checksums tshark verified:\n{udp_ok}"
    );
    assert_eq!(routing.lines().count(), 3, "{routing}");
    assert_eq!(rpl.lines().count(), 3, "{rpl}");
}

/// An IPv6-in-IPv6 packet from the DODAG root `root` down `route` (the first hop its outer
/// destination, the rest a source routing header), with an RPL option when `rank` is given.
fn tunnelled(root: Ipv6Addr, route: &[Ipv6Addr], rank: Option<u16>, inner: &[u8]) -> Vec<u8> {
    use lowpan::rpl::option::RplOptionRepr;
    use lowpan::rpl::srh::SrhRepr;
    let mut ext = Vec::new();
    if let Some(rank) = rank {
        let mut h = RplOptionRepr {
            down: true,
            instance: 0x1e,
            sender_rank: rank,
            ..Default::default()
        }
        .hop_by_hop(0)
        .to_vec();
        h[0] = 0;
        ext.push(h);
    }
    if route.len() > 1 {
        let srh = SrhRepr {
            next_header: 0,
            segments_left: (route.len() - 1) as u8,
            addresses: route[1..].to_vec(),
        };
        let mut h = srh.emit(&route[0]).unwrap();
        h[0] = 43;
        ext.push(h);
    }
    let outer = Ipv6Repr::new(root, route[0], NextHeader::Ipv6, 64, 0)
        .emit_packet(inner.len(), |p| p.copy_from_slice(inner))
        .unwrap();
    if ext.is_empty() {
        outer
    } else {
        with_extensions(&outer, &ext)
    }
}

/// The RFC 8138 forms on the wire: page 1 with an IP-in-IP 6LoRH (the root's address
/// elided), RH3-6LoRHs and an RPI-6LoRH before the IPHC of the inner packet, and an
/// RPI-6LoRH alone for an upward packet. They decode back to the packets, and tshark
/// (told that the PAN carries 6LoWPAN, as its heuristic does not know page 1) reads every
/// 6LoRH and the inner UDP datagram, checksum verified, with no malformed packet.
#[test]
fn tshark_decodes_rfc8138_page_1() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("tshark not installed: skipping the Wireshark cross-check");
        return;
    }
    use lowpan::rpl::option::RplOptionRepr;
    let e1 = Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1]));
    let e2 = Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 2]));
    let links = LinkAddrs { src: e1, dst: e2 };
    let root: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let hop = |n: u8| -> Ipv6Addr { format!("2001:db8::212:4b00:0:{n}").parse().unwrap() };
    let down = |len: usize, to: Ipv6Addr| {
        udp(
            "2001:db8:77::5",
            &to.to_string(),
            0,
            0,
            63,
            40000,
            7000,
            len,
        )
    };
    let up = {
        let mut h = RplOptionRepr {
            instance: 0x1e,
            sender_rank: 0x0280,
            ..Default::default()
        }
        .hop_by_hop(0)
        .to_vec();
        h[0] = 0;
        with_extensions(
            &udp(
                &hop(3).to_string(),
                "2001:db8:77::5",
                0,
                0,
                63,
                7000,
                40000,
                30,
            ),
            &[h],
        )
    };
    let cases = [
        tunnelled(
            root,
            &[hop(2), hop(3), hop(4)],
            Some(0x0100),
            &down(30, hop(4)),
        ),
        tunnelled(root, &[hop(2)], Some(0x0100), &down(30, hop(2))),
        tunnelled(root, &[hop(2), hop(0x13)], None, &down(30, hop(0x13))),
        up,
        tunnelled(root, &[hop(2), hop(3)], Some(0x0100), &down(400, hop(3))),
    ];
    let mut enc = Encoder::with_initial_tag(
        ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64),
        0x4343,
    );
    let mut frames = Vec::new();
    for (seq, p) in cases.iter().enumerate() {
        let repr = FrameRepr::data(0xabcd, links.src, links.dst, seq as u8, true);
        let payloads = enc
            .encode_rfc8138(p, links, lowpan::max_frame_payload(&repr), root)
            .unwrap();
        let first = &payloads[0];
        let page = if payloads.len() > 1 {
            first[4]
        } else {
            first[0]
        };
        assert_eq!(page, lowpan::rpl::lorh::PAGE_1, "case {seq}");
        let mut r =
            lowpan::Reassembler::new(ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64));
        r.set_rpl_root(Some(root));
        let mut got = None;
        for payload in &payloads {
            got = r
                .accept(std::time::Instant::now(), links, payload)
                .unwrap()
                .or(got);
            frames.push(build_data_frame(&repr, payload));
        }
        assert_eq!(got.as_deref(), Some(&p[..]), "case {seq}");
    }
    let dir = std::env::temp_dir().join(format!("lowpan-tshark-8138-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("frames.pcap");
    std::fs::write(&path, pcap(&frames)).unwrap();
    let run = |filter: &str, field: &str| {
        let out = Command::new("tshark")
            .args([
                "-r",
                path.to_str().unwrap(),
                "-d",
                "wpan.panid==0xabcd,6lowpan",
            ])
            .args([
                "-o",
                "6lowpan.context0:2001:db8::/64",
                "-o",
                "udp.check_checksum:TRUE",
            ])
            .args([
                "-Y",
                filter,
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                field,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let bad = run(
        "_ws.malformed || _ws.expert.severity >= 8388608",
        "frame.number",
    );
    let lorh = run("6lowpan.pagenb == 1", "6lowpan.rhtype");
    let udp_ok = run("udp.checksum.status == 1", "udp.dstport");
    if std::env::var_os("KEEP_PCAP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("pcap kept at {}", path.display());
    }
    assert_eq!(bad, "", "tshark found errors");
    // Every unfragmented page-1 frame (the fragmented one's first fragment is a FRAG1).
    assert_eq!(lorh.lines().count(), 4, "{lorh}");
    assert!(
        udp_ok.lines().count() >= 4,
        "UDP checksums tshark verified:\n{udp_ok}"
    );
}
