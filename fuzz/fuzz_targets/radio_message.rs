//! slip-radio message parsing both ways, and the host link on arbitrary serial input:
//! no panic, and whatever parses re-emits to something that parses to the same message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use slip::link::{LinkConfig, RadioLink};
use slip::slip_radio::{HostMessage, RadioMessage};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = RadioMessage::parse(data) {
        if !matches!(m, RadioMessage::Debug(_) | RadioMessage::UnknownCommand) {
            assert_eq!(RadioMessage::parse(&m.to_bytes()), Ok(m));
        }
    }
    if let Ok(m) = HostMessage::parse(data) {
        assert_eq!(HostMessage::parse(&m.to_bytes()), Ok(m));
    }
    let mut now = Instant::now();
    let mut link = RadioLink::new(LinkConfig::default());
    let _ = link.send_frame(
        now,
        vec![0x41, 0x98, 0x01, 0xCD, 0xAB, 0xFF, 0xFF, 0x01, 0x00],
    );
    for chunk in data.chunks(7) {
        link.handle_input(now, chunk);
        while link.poll_transmit(now).is_some() {}
        while link.poll_event().is_some() {}
        now += Duration::from_millis(300);
        link.handle_timeout(now);
    }
});
