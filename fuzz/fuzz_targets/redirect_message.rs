//! Redirect messages from an untrusted network: the channel's open path (structure, key,
//! tag, freshness, replay) and the Repr parser behind it. Must never panic, and nothing
//! unauthenticated may change the receiver's state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redirect::{
    ChannelConfig, Direction, KeyRing, RedirectChannel, RedirectKey, RedirectPacket, RedirectRepr,
    Role,
};
use std::time::{Duration, Instant, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    let key = RedirectKey::new(1, &[0x42; 32]).unwrap();
    let wall = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
    let now = Instant::now();
    let mut rx = RedirectChannel::new(
        ChannelConfig::default(),
        Role::BorderRouter,
        KeyRing::new(key.clone()),
        7,
        now,
        wall,
    );
    let before = rx.receiver_state();
    let _ = rx.open(now, wall, data);
    // Without the key nothing can pass the tag check, so the state must not move.
    assert_eq!(rx.receiver_state(), before);
    // The semantic parser on its own, as if the tag had been valid.
    if let Ok(p) = RedirectPacket::new_checked(data) {
        let _ = (
            p.key_id(),
            p.sender(),
            p.sequence(),
            p.timestamp_ms(),
            p.flow(),
            p.payload(),
            p.tag(),
        );
        // Whatever parses (every message type, ResumableAck and SessionResumable
        // included) and fits a message emits back to the same message.
        if let Ok(repr) = RedirectRepr::parse(&p)
            && let Ok(resealed) = repr.to_sealed_bytes(&key, Direction::IotsspToBorderRouter)
        {
            let again = RedirectPacket::new_checked(&resealed[..]).expect("emitted bytes parse");
            assert_eq!(RedirectRepr::parse(&again), Ok(repr));
        }
    }
});
