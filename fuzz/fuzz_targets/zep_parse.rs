//! ZEP datagram parsing and the ZepRadio receive path on arbitrary datagrams.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lowpan::ieee802154::Eui64;
use slip::zep::{ZepConfig, ZepPacket, ZepRadio, decode_datagram};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ZepPacket::new_checked(data) {
        let _ = (
            p.channel(),
            p.device_id(),
            p.lqi(),
            p.timestamp(),
            p.sequence(),
            p.psdu(),
        );
    }
    let _ = decode_datagram(data);
    let peer: SocketAddr = ([127, 0, 0, 1], 17754).into();
    let mut radio = ZepRadio::new(ZepConfig::new(Eui64([2, 0, 0, 0, 0, 0, 0, 1]), vec![peer]));
    let mut now = Instant::now();
    radio.handle_datagram(now, peer, data);
    // The same bytes once more, later: exercises the duplicate path.
    now += Duration::from_millis(1);
    radio.handle_datagram(now, peer, data);
    radio.handle_timeout(now);
    while radio.poll_transmit(now).is_some() {}
    while radio.poll_event().is_some() {}
});
