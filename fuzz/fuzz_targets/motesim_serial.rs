//! The emulated slip-radio and its motes must survive anything a host writes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use motesim::air::AirConfig;
use motesim::sim::{SimConfig, Simulation, UplinkMode};
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let cfg = SimConfig {
        radio_eui64: motesim::cli::DEFAULT_RADIO_EUI64,
        pan_id: 0xabcd,
        channel: 26,
        motes: vec![motesim::cli::default_mote_eui64(1)],
        prefix: Some("fd00:aaaa::".parse().unwrap()),
        air: AirConfig {
            loss: 0.1,
            paced: false,
            ..AirConfig::default()
        },
        max_tx: 4,
        seed: 1,
        mode: UplinkMode::SlipRadio,
        devices: Vec::new(),
        rpl: false,
        registering: Vec::new(),
        sixlowpan_routers: Vec::new(),
    };
    let mut sim = Simulation::new(cfg, now);
    sim.handle_host_bytes(now, data);
    while sim.poll_host_bytes().is_some() {}
});
