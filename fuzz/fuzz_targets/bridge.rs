//! The border router's bridge core on arbitrary radio frames and TUN packets: no panic,
//! every frame it emits fits 125 bytes. First byte selects the direction.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lowpan::Eui64;
use lowpan_br::bridge::{Bridge, BridgeConfig, KnownMote};
use lowpan_br::nd::RaParams;

fuzz_target!(|data: &[u8]| {
    let prefix = "fd00:aaaa::".parse().unwrap();
    let mut b = Bridge::new(BridgeConfig {
        pan_id: 0xabcd,
        prefix,
        mtu: 1280,
        ra: RaParams {
            prefix,
            cur_hop_limit: 64,
            router_lifetime_s: 1800,
            valid_lifetime_s: 86400,
            preferred_lifetime_s: 14400,
            context_lifetime_min: 60,
            border_router: "fd00:aaaa::1".parse().unwrap(),
            abro_version: 1,
        },
        motes: vec![KnownMote {
            eui64: Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 2]),
            short: Some(2),
            name: "m".into(),
        }],
        max_learned_motes: 8,
        max_registrations: 8,
        ra_interval: None,
        ra_delay_max: std::time::Duration::ZERO,
        initial_seq: 0,
        initial_tag: 0,
    });
    b.set_own_eui64(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1]));
    let now = Instant::now();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    // Several inputs in one run so fragments can meet: split on 0xff 0xfe.
    for (i, chunk) in rest.split(|&x| x == 0xfe).enumerate() {
        let t = now + Duration::from_millis(i as u64);
        let frames = if sel & 1 == 0 {
            b.handle_radio_frame(t, chunk).frames
        } else {
            b.handle_tun_packet(t, chunk)
        };
        for f in frames {
            assert!(f.len() <= 125);
        }
    }
    b.handle_timeout(now + Duration::from_secs(120));
});
