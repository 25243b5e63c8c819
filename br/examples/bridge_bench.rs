//! Frames per second through the sans-IO bridge core, each way, on one core.
//! `cargo run --release -p lowpan-br --example bridge_bench [-- out.json]`

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use lowpan::ieee802154::{self as mac, FrameRepr};
use lowpan::ip;
use lowpan::iphc::ContextTable;
use lowpan::{Address, Eui64, LinkAddrs, UdpRepr};
use lowpan_br::bridge::{Bridge, BridgeConfig, KnownMote};
use lowpan_br::nd::RaParams;

const OWN: Eui64 = Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1]);
const MOTE: Eui64 = Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 2]);

fn udp(src: Ipv6Addr, dst: Ipv6Addr, n: usize) -> Vec<u8> {
    let payload = vec![0u8; n];
    UdpRepr {
        src_port: 5683,
        dst_port: 5683,
        payload: &payload,
    }
    .emit_ipv6_packet(src, dst, 64)
    .unwrap()
}

fn main() {
    let prefix: Ipv6Addr = "fd00:aaaa::".parse().unwrap();
    let ra = RaParams {
        prefix,
        cur_hop_limit: 64,
        router_lifetime_s: 1800,
        valid_lifetime_s: 86400,
        preferred_lifetime_s: 14400,
        context_lifetime_min: 60,
        border_router: "fd00:aaaa::1".parse().unwrap(),
        abro_version: 1,
    };
    let mut b = Bridge::new(BridgeConfig {
        pan_id: 0xabcd,
        prefix,
        mtu: 1280,
        ra,
        motes: vec![KnownMote {
            eui64: MOTE,
            short: None,
            name: "m".into(),
        }],
        max_learned_motes: 16,
        max_registrations: 16,
        ra_interval: None,
        ra_delay_max: std::time::Duration::ZERO,
        initial_seq: 0,
        initial_tag: 0,
    });
    b.set_own_eui64(OWN);
    let mut g = prefix.octets();
    g[8..].copy_from_slice(&ip::iid_from_eui64(MOTE));
    let mote = Ipv6Addr::from(g);
    let host: Ipv6Addr = "fd00:aaaa::1".parse().unwrap();
    let mut results = Vec::new();
    for (label, size) in [
        ("small (1 frame)", 40usize),
        ("1232-byte (fragmented)", 1184),
    ] {
        let p = udp(host, mote, size);
        let t = Instant::now();
        let mut frames = 0u64;
        while t.elapsed() < Duration::from_secs(1) {
            for _ in 0..100 {
                frames += b.handle_tun_packet(Instant::now(), &p).len() as u64;
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!("TUN -> radio, {label}: {:.0} frames/s", frames as f64 / s);
        let tun_to_radio = frames as f64 / s;

        let back = udp(mote, host, size);
        let mut enc = lowpan::Encoder::new(ContextTable::with_prefix(prefix, 64));
        let links = LinkAddrs {
            src: Address::Extended(MOTE),
            dst: Address::Extended(OWN),
        };
        let h = FrameRepr::data(0xabcd, links.src, links.dst, 0, true);
        let to_feed: Vec<Vec<u8>> = (0..64u16)
            .flat_map(|_| {
                enc.encode(&back, links, mac::max_frame_payload(&h))
                    .unwrap()
            })
            .map(|p| mac::build_data_frame(&h, &p))
            .collect();
        let t = Instant::now();
        let (mut n, mut pk) = (0u64, 0u64);
        while t.elapsed() < Duration::from_secs(1) {
            for f in &to_feed {
                n += 1;
                pk += u64::from(b.handle_radio_frame(Instant::now(), f).to_tun.is_some());
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "radio -> TUN, {label}: {:.0} frames/s ({:.0} packets/s)",
            n as f64 / s,
            pk as f64 / s
        );
        results.push(format!(
            "{{\"traffic\":\"{label}\",\"tun_to_radio_frames_per_s\":{tun_to_radio:.0},\"radio_to_tun_frames_per_s\":{:.0},\"radio_to_tun_packets_per_s\":{:.0}}}",
            n as f64 / s,
            pk as f64 / s
        ));
    }
    if let Some(path) = std::env::args().nth(1) {
        let text = format!(
            "{{\"benchmark\":\"bridge_core\",\"cores\":1,\"runs\":[{}]}}\n",
            results.join(",")
        );
        std::fs::write(&path, text).expect("write results");
        println!("saved {path}");
    }
    println!("drops: {}", b.counters().summary());
}
