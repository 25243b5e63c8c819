//! Packets per second for compress+fragment and reassemble+decompress of a 1280-byte and a
//! 100-byte IPv6/UDP packet between two extended-address nodes (max frame payload 104).
//!
//! `cargo run --release -p lowpan --example codec_bench [results.json]`

use lowpan::ieee802154::FrameRepr;
use lowpan::ip::IPV6_HEADER_LEN;
use lowpan::{
    Address, ContextTable, Encoder, Eui64, LinkAddrs, Reassembler, UdpRepr, max_frame_payload,
};
use std::hint::black_box;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

fn udp_packet(total_len: usize) -> Vec<u8> {
    let src: Ipv6Addr = "2001:db8::212:4b00:0:1".parse().unwrap();
    let dst: Ipv6Addr = "2001:db8:77::5".parse().unwrap();
    let payload: Vec<u8> = (0..total_len - IPV6_HEADER_LEN - 8)
        .map(|i| i as u8)
        .collect();
    UdpRepr {
        src_port: 5684,
        dst_port: 40000,
        payload: &payload,
    }
    .emit_ipv6_packet(src, dst, 64)
    .unwrap()
}

struct Result {
    name: String,
    frames: usize,
    encode_pps: f64,
    decode_pps: f64,
}

/// Runs `f` repeatedly for about `budget`, returning calls per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..256 {
            f();
        }
        n += 256;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let out_path = std::env::args().nth(1);
    let links = LinkAddrs {
        src: Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1])),
        dst: Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 2])),
    };
    let mfp = max_frame_payload(&FrameRepr::data(0xabcd, links.src, links.dst, 0, true));
    let ctx = ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64);
    let budget = Duration::from_millis(1500);
    let mut results = Vec::new();
    for size in [1280usize, 100] {
        let packet = udp_packet(size);
        let mut enc = Encoder::new(ctx.clone());
        let frames = enc.encode(&packet, links, mfp).expect("encodes");
        let encode_pps = rate(budget, || {
            black_box(enc.encode(black_box(&packet), links, mfp).expect("encodes"));
        });
        let mut re = Reassembler::new(ctx.clone());
        let now = Instant::now();
        let decode_pps = rate(budget, || {
            let mut got = None;
            for f in &frames {
                got = re.accept(now, links, black_box(f)).expect("decodes");
            }
            assert_eq!(got.as_deref().map(<[u8]>::len), Some(size));
            black_box(got);
        });
        println!(
            "udp {size:>4} B ({} frames of <= {mfp} B): compress+fragment {encode_pps:>10.0} pkt/s, reassemble+decompress {decode_pps:>10.0} pkt/s",
            frames.len()
        );
        results.push(Result {
            name: format!("udp_{size}"),
            frames: frames.len(),
            encode_pps,
            decode_pps,
        });
    }
    if let Some(path) = out_path {
        let items: Vec<String> = results
            .iter()
            .map(|r| {
                format!(
                    "  {{\"name\": \"{}\", \"frames\": {}, \"max_frame_payload\": {mfp}, \"compress_fragment_pps\": {:.0}, \"reassemble_decompress_pps\": {:.0}}}",
                    r.name, r.frames, r.encode_pps, r.decode_pps
                )
            })
            .collect();
        let json = format!("[\n{}\n]\n", items.join(",\n"));
        std::fs::write(&path, json).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
}
