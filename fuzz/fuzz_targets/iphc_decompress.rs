//! Any bytes after a selector byte: IPHC decompression never panics, and whatever it
//! produces compresses and decompresses back to the same packet.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lowpan::iphc::{self, Context, ContextTable};
use lowpan::{Address, Eui64, LinkAddrs};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut ctx = ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64);
    ctx.set(
        2,
        Context {
            prefix: "2001:db8:1:2:3::".parse().unwrap(),
            len: 80,
            compress: true,
        },
    );
    let link = |b: u8| match b & 3 {
        0 => Address::Absent,
        1 => Address::Short(0x1234),
        _ => Address::Extended(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, b])),
    };
    let links = LinkAddrs {
        src: link(sel),
        dst: link(sel >> 2),
    };
    if let Ok(packet) = iphc::decompress_packet(&ctx, &links, rest) {
        let mut c = Vec::new();
        let n = iphc::compress(&ctx, &links, &packet, &mut c)
            .expect("decompressed packet is well formed");
        c.extend_from_slice(&packet[n..]);
        assert_eq!(
            iphc::decompress_packet(&ctx, &links, &c).expect("recompressed"),
            packet
        );
    }
});
