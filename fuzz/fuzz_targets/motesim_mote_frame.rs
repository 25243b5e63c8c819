//! A mote must survive any 802.15.4 frame (and any ZEP datagram) it receives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use motesim::mote::{Mote, MoteConfig};
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    // The first byte picks the mote's role, so that the RPL and 6LR paths are fuzzed too.
    let role = data.first().copied().unwrap_or(0);
    let cfg = MoteConfig {
        index: 1,
        eui64: motesim::cli::default_mote_eui64(1),
        pan_id: 0xabcd,
        router: motesim::cli::DEFAULT_RADIO_EUI64,
        prefix: None,
        rpl: role & 1 == 1,
        register_lifetime_min: None,
        sixlowpan_router: role & 2 == 2,
    };
    let mut mote = Mote::new(cfg, now);
    for chunk in data.split(|b| *b == 0x7e) {
        let _ = mote.handle_frame(now, chunk);
    }
    let mut zep = motesim::zep::ZepSide::new(26, 0.0, motesim::rng::SimRng::new(1));
    let _ = zep.receive(data);
});
