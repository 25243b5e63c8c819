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
    let header = Ipv6Repr { traffic_class: tc, flow_label: fl, ..Ipv6Repr::new(s, d, NextHeader::Udp, hl, 0) };
    UdpRepr { src_port: sp, dst_port: dp, payload: &payload }.emit_after(&header).unwrap()
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
        (LinkAddrs { src: e1, dst: e2 }, udp("fe80::212:4b00:0:1", "fe80::212:4b00:0:2", 0, 0, 64, 5683, 5683, 10)),
        (LinkAddrs { src: e1, dst: e2 }, udp("fe80::212:4b00:0:1", "fe80::212:4b00:0:2", 0xb7, 0xabcde, 1, 0xf0b1, 0xf0b2, 10)),
        (LinkAddrs { src: e1, dst: e2 }, udp("2001:db8::212:4b00:0:1", "2001:db8::5", 0x01, 0xfffff, 255, 0x1234, 0xf012, 20)),
        (LinkAddrs { src: e1, dst: e2 }, udp("2001:db8::212:4b00:0:1", "2001:db8:9::5", 0xb4, 0, 17, 0xf0c4, 5684, 20)),
        (LinkAddrs { src: Address::Short(0x1234), dst: bc }, udp("fe80::ff:fe00:1234", "ff02::1a", 0, 0, 255, 5683, 5683, 4)),
        (LinkAddrs { src: e1, dst: bc }, udp("fe80::212:4b00:0:1", "ff05::1:3", 0, 0, 64, 5683, 5683, 4)),
        (LinkAddrs { src: e1, dst: bc }, udp("fe80::212:4b00:0:1", "ff0e::12:3456:789a", 0, 0, 64, 5683, 5683, 4)),
        (LinkAddrs { src: e1, dst: e2 }, udp("2001:db8::212:4b00:0:1", "2001:db8:77::5", 0, 0, 64, 5684, 40000, 1232)),
        (LinkAddrs { src: e1, dst: e2 }, udp("::", "2001:db8::212:4b00:0:2", 0, 0, 64, 1, 2, 300)),
        // DAC=1 M=1: unicast-prefix-based multicast from context 0
        (LinkAddrs { src: e1, dst: bc }, udp("2001:db8::212:4b00:0:1", "ff3e:40:2001:db8::1234:5678", 0, 0, 64, 5683, 5683, 4)),
    ];
    let mut enc = Encoder::with_initial_tag(ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64), 0x4242);
    let mut frames = Vec::new();
    for (seq, (links, p)) in cases.iter().enumerate() {
        let repr = FrameRepr::data(0xabcd, links.src, links.dst, seq as u8, !links.dst.is_broadcast());
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
        .args(["-r", path.to_str().unwrap(), "-o", "6lowpan.context0:2001:db8::/64", "-Y", "udp"])
        .args(["-T", "fields", "-E", "separator=|"])
        .args(["-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.tclass", "-e", "ipv6.flow", "-e", "ipv6.hlim"])
        .args(["-e", "ipv6.plen", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.length", "-e", "udp.checksum"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), cases.len(), "tshark output:\n{text}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
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
