//! Tests of the redirect protocol: the documented byte vectors, round trips, tamper
//! detection, replay and freshness, and that forged input creates no state.

use crate::channel::{ChannelConfig, Liveness, OpenError, RedirectChannel, Role};
use crate::key::{Direction, KeyRing, RedirectKey};
use crate::resumable::{OutboxConfig, ResumableOutbox};
use crate::wire::{Envelope, HEADER_LEN, RedirectPacket, RedirectRepr, TAG_LEN, WireError};
use crate::{AbandonReason, FlowTag, RedirectMessage};
use proptest::prelude::*;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// docs/protocol.md, "Example 1: Emit". Key id 1, key bytes 00 01 .. 1f, sender instance
/// 0x0102030405060708, sequence 1, timestamp 1 700 000 000 000 ms, peer [2001:db8::1]:40000,
/// mote [2001:db8:1::2]:5684, payload de ad be ef, IoTSSP -> BR. Tag computed independently
/// with Python's `hmac.new(hmac.new(key, b"HR2 iotssp->br", sha256).digest(), msg[:74],
/// sha256).digest()[:16]`.
pub(crate) const EMIT_EXAMPLE: [u8; 90] = [
    0x48, 0x52, 0x02, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x9c, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x16, 0x34, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, 0x8f, 0x19, 0x83, 0xf5, 0xdf, 0x3d,
    0x5d, 0xff, 0x0e, 0x1c, 0x58, 0x4e, 0x71, 0x91, 0x05, 0x21,
];

/// docs/protocol.md, "Example 2: Hello". Same key and sender, sequence 0, same timestamp,
/// BR -> IoTSSP.
pub(crate) const HELLO_EXAMPLE: [u8; 86] = [
    0x48, 0x52, 0x02, 0x05, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5f, 0xf5, 0x83, 0xe7, 0xa4, 0x49, 0xec, 0xf8, 0x07, 0xac,
    0x32, 0x95, 0xa3, 0xf2, 0x7b, 0x41,
];

pub(crate) const MOTE_DATAGRAM_EXAMPLE: [u8; 99] = [
    0x48, 0x52, 0x02, 0x06, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x16, 0x35, 0x00, 0x0d, 0x71, 0xde, 0xad, 0xbe, 0xef, 0xa8, 0xc0, 0xc2, 0xa1, 0x82,
    0x8f, 0xa2, 0x14, 0xbc, 0xb8, 0x24, 0xf2, 0xec, 0xda, 0x8f, 0x28, 0x93, 0xba, 0xc3, 0x58, 0xa2,
    0x97, 0x7b, 0x48,
];

const EXAMPLE_TS: u64 = 1_700_000_000_000;
const TO_BR: Direction = Direction::IotsspToBorderRouter;
const TO_SSP: Direction = Direction::BorderRouterToIotssp;

fn example_key() -> RedirectKey {
    let bytes: Vec<u8> = (0u8..32).collect();
    RedirectKey::new(1, &bytes).unwrap()
}

fn example_flow() -> FlowTag {
    FlowTag {
        peer_addr: "2001:db8::1".parse().unwrap(),
        peer_port: 40000,
        mote_addr: "2001:db8:1::2".parse().unwrap(),
        mote_port: 5684,
    }
}

fn wall(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[test]
fn emit_example_vector() {
    assert_eq!(
        crate::doc_examples::hex_after("## Example 1: Emit"),
        EMIT_EXAMPLE
    );
    let p = RedirectPacket::new_checked(&EMIT_EXAMPLE[..]).unwrap();
    assert!(p.verify(&example_key(), TO_BR));
    assert!(!p.verify(&example_key(), TO_SSP));
    let repr = RedirectRepr::parse(&p).unwrap();
    assert_eq!(
        repr,
        RedirectRepr {
            envelope: Envelope {
                key_id: 1,
                sender: 0x0102_0304_0506_0708,
                sequence: 1,
                timestamp_ms: EXAMPLE_TS
            },
            message: RedirectMessage::Emit {
                flow: example_flow(),
                datagram: &[0xde, 0xad, 0xbe, 0xef]
            },
        }
    );
    assert_eq!(repr.buffer_len(), EMIT_EXAMPLE.len());
    assert_eq!(
        repr.to_sealed_bytes(&example_key(), TO_BR).unwrap(),
        EMIT_EXAMPLE
    );
}

#[test]
fn mote_datagram_example_vector() {
    assert_eq!(
        crate::doc_examples::hex_after("## Example 3: MoteDatagram"),
        MOTE_DATAGRAM_EXAMPLE
    );
    let poke = [
        0x71, 0xde, 0xad, 0xbe, 0xef, 0xa8, 0xc0, 0xc2, 0xa1, 0x82, 0x8f, 0xa2, 0x14,
    ];
    let repr = RedirectRepr {
        envelope: Envelope {
            key_id: 1,
            sender: 0x0102030405060708,
            sequence: 2,
            timestamp_ms: EXAMPLE_TS,
        },
        message: RedirectMessage::MoteDatagram {
            flow: FlowTag {
                peer_addr: Ipv6Addr::UNSPECIFIED,
                peer_port: 0,
                mote_addr: "2001:db8:1::2".parse().unwrap(),
                mote_port: 5685,
            },
            datagram: &poke,
        },
    };
    assert_eq!(
        repr.to_sealed_bytes(&example_key(), TO_BR).unwrap(),
        MOTE_DATAGRAM_EXAMPLE
    );
    let p = RedirectPacket::new_checked(&MOTE_DATAGRAM_EXAMPLE[..]).unwrap();
    assert!(p.verify(&example_key(), TO_BR));
    assert_eq!(RedirectRepr::parse(&p).unwrap(), repr);
}

#[test]
fn hello_example_vector() {
    assert_eq!(
        crate::doc_examples::hex_after("## Example 2: Hello"),
        HELLO_EXAMPLE
    );
    let repr = RedirectRepr {
        envelope: Envelope {
            key_id: 1,
            sender: 0x0102_0304_0506_0708,
            sequence: 0,
            timestamp_ms: EXAMPLE_TS,
        },
        message: RedirectMessage::Hello,
    };
    assert_eq!(
        repr.to_sealed_bytes(&example_key(), TO_SSP).unwrap(),
        HELLO_EXAMPLE
    );
    let p = RedirectPacket::new_checked(&HELLO_EXAMPLE[..]).unwrap();
    assert!(p.verify(&example_key(), TO_SSP));
    assert_eq!(RedirectRepr::parse(&p).unwrap(), repr);
}

#[test]
fn direction_keys_example() {
    let k = example_key();
    let hex = |b: &[u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let doc = include_str!("../../docs/protocol.md");
    for (d, name) in [
        (TO_SSP, "K(BR -> IoTSSP) = "),
        (TO_BR, "K(IoTSSP -> BR) = "),
    ] {
        let line = format!("{name}{}", hex(k.tag_key(d)));
        assert!(doc.contains(&line), "docs/protocol.md lacks {line:?}");
    }
    assert_ne!(k.tag_key(TO_SSP), k.tag_key(TO_BR));
}

#[test]
fn a_message_for_the_other_direction_never_verifies() {
    for (bytes, right) in [
        (&EMIT_EXAMPLE[..], TO_BR),
        (&HELLO_EXAMPLE[..], TO_SSP),
        (&MOTE_DATAGRAM_EXAMPLE[..], TO_BR),
    ] {
        let p = RedirectPacket::new_checked(bytes).unwrap();
        assert!(p.verify(&example_key(), right));
        assert!(!p.verify(&example_key(), right.reverse()));
    }
}

#[test]
fn structural_errors_are_named() {
    let e = |b: &[u8]| RedirectPacket::new_checked(b).err();
    assert_eq!(
        e(&EMIT_EXAMPLE[..HEADER_LEN + TAG_LEN - 1]),
        Some(WireError::Truncated)
    );
    let mut b = EMIT_EXAMPLE;
    b[0] = b'X';
    assert_eq!(e(&b), Some(WireError::BadMagic));
    let mut b = EMIT_EXAMPLE;
    b[2] = 1;
    assert_eq!(e(&b), Some(WireError::BadVersion(1)));
    assert_eq!(e(&EMIT_EXAMPLE[..89]), Some(WireError::BadLength));
    let mut long = EMIT_EXAMPLE.to_vec();
    long.push(0);
    assert_eq!(e(&long), Some(WireError::BadLength));
}

#[test]
fn semantic_errors_are_named() {
    let key = example_key();
    let seal = |t: u8, flow: FlowTag, payload: &[u8]| {
        let repr = RedirectRepr {
            envelope: Envelope {
                key_id: 1,
                sender: 1,
                sequence: 0,
                timestamp_ms: 0,
            },
            message: RedirectMessage::FlowTransferred {
                flow,
                final_flight: payload,
            },
        };
        let mut b = repr.to_sealed_bytes(&key, TO_BR).unwrap();
        b[3] = t;
        b
    };
    let parse = |b: &[u8]| RedirectRepr::parse(&RedirectPacket::new_unchecked(b)).err();
    assert_eq!(
        parse(&seal(9, example_flow(), b"")),
        Some(WireError::UnknownType(9))
    );
    assert_eq!(
        parse(&seal(1, example_flow(), b"")),
        Some(WireError::EmptyDatagram)
    );
    assert_eq!(
        parse(&seal(2, example_flow(), b"")),
        Some(WireError::EmptyDatagram)
    );
    assert_eq!(
        parse(&seal(4, example_flow(), b"")),
        Some(WireError::BadAbandon)
    );
    assert_eq!(
        parse(&seal(4, example_flow(), b"ab")),
        Some(WireError::BadAbandon)
    );
    assert_eq!(
        parse(&seal(5, example_flow(), b"")),
        Some(WireError::NonEmptyHello)
    );
    assert_eq!(
        parse(&seal(5, FlowTag::NONE, b"x")),
        Some(WireError::NonEmptyHello)
    );
    assert_eq!(parse(&seal(3, example_flow(), b"")), None);
    assert_eq!(
        parse(&seal(6, example_flow(), b"x")),
        Some(WireError::BadMoteDatagram)
    );
    assert_eq!(
        parse(&seal(6, FlowTag::NONE, b"x")),
        Some(WireError::BadMoteDatagram)
    );
    let to_mote = FlowTag {
        peer_addr: Ipv6Addr::UNSPECIFIED,
        peer_port: 0,
        ..example_flow()
    };
    assert_eq!(
        parse(&seal(6, to_mote, b"")),
        Some(WireError::EmptyDatagram)
    );
    assert_eq!(parse(&seal(6, to_mote, b"x")), None);
    let with_peer = RedirectRepr {
        envelope: Envelope {
            key_id: 1,
            sender: 1,
            sequence: 0,
            timestamp_ms: 0,
        },
        message: RedirectMessage::MoteDatagram {
            flow: example_flow(),
            datagram: b"x",
        },
    };
    assert_eq!(
        with_peer.to_sealed_bytes(&key, TO_BR),
        Err(WireError::BadMoteDatagram)
    );
    let empty = RedirectRepr {
        envelope: Envelope {
            key_id: 1,
            sender: 1,
            sequence: 0,
            timestamp_ms: 0,
        },
        message: RedirectMessage::Emit {
            flow: example_flow(),
            datagram: b"",
        },
    };
    assert_eq!(
        empty.to_sealed_bytes(&key, TO_BR),
        Err(WireError::EmptyDatagram)
    );
    let big = vec![0u8; crate::wire::MAX_PAYLOAD_LEN + 1];
    let too_long = RedirectRepr {
        message: RedirectMessage::Emit {
            flow: example_flow(),
            datagram: &big,
        },
        ..empty
    };
    assert_eq!(
        too_long.to_sealed_bytes(&key, TO_BR),
        Err(WireError::PayloadTooLong)
    );
}

fn arb_flow() -> impl Strategy<Value = FlowTag> {
    (any::<u128>(), any::<u16>(), any::<u128>(), any::<u16>()).prop_map(|(p, pp, m, mp)| FlowTag {
        peer_addr: p.into(),
        peer_port: pp,
        mote_addr: m.into(),
        mote_port: mp,
    })
}

/// (type 0..7, flow, payload) from which a message is built (payloads must outlive it).
fn arb_parts() -> impl Strategy<Value = (u8, FlowTag, Vec<u8>, u8)> {
    (
        0u8..8,
        arb_flow(),
        proptest::collection::vec(any::<u8>(), 1..300),
        any::<u8>(),
    )
}

fn build<'a>(t: u8, flow: FlowTag, payload: &'a [u8], reason: u8) -> RedirectMessage<'a> {
    match t {
        0 => RedirectMessage::Divert {
            flow,
            datagram: payload,
        },
        1 => RedirectMessage::Emit {
            flow,
            datagram: payload,
        },
        2 => RedirectMessage::FlowTransferred {
            flow,
            final_flight: &payload[1..],
        },
        3 => RedirectMessage::FlowAbandoned {
            flow,
            reason: AbandonReason::from(reason),
        },
        4 => RedirectMessage::Hello,
        5 => RedirectMessage::SessionResumable {
            flow,
            lifetime_secs: u32::from(reason) * 1000,
            session_id: &payload[..payload.len().min(32)],
        },
        6 => RedirectMessage::ResumableAck {
            flow,
            session_id: &payload[..payload.len().min(32)],
        },
        _ => RedirectMessage::MoteDatagram {
            flow: FlowTag {
                peer_addr: Ipv6Addr::UNSPECIFIED,
                peer_port: 0,
                mote_addr: flow.mote_addr.to_bits().max(1).into(),
                mote_port: flow.mote_port.max(1),
            },
            datagram: payload,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn parse_emit_round_trip((t, flow, payload, reason) in arb_parts(), key_id in any::<u32>(),
                             sender in any::<u64>(), sequence in any::<u64>(), timestamp_ms in any::<u64>()) {
        let key = RedirectKey::new(key_id, &[0x5a; 32]).unwrap();
        let repr = RedirectRepr {
            envelope: Envelope { key_id, sender, sequence, timestamp_ms },
            message: build(t, flow, &payload, reason),
        };
        let bytes = repr.to_sealed_bytes(&key, TO_BR).unwrap();
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        let p = RedirectPacket::new_checked(&bytes[..]).unwrap();
        prop_assert!(p.verify(&key, TO_BR));
        prop_assert_eq!(RedirectRepr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn any_single_bit_flip_is_rejected((t, flow, payload, reason) in arb_parts(), bit in any::<prop::sample::Index>()) {
        let key = example_key();
        let repr = RedirectRepr {
            envelope: Envelope { key_id: 1, sender: 7, sequence: 3, timestamp_ms: EXAMPLE_TS },
            message: build(t, flow, &payload, reason),
        };
        let mut bytes = repr.to_sealed_bytes(&key, TO_BR).unwrap();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let accepted = RedirectPacket::new_checked(&bytes[..]).map(|p| p.verify(&key, TO_BR)).unwrap_or(false);
        prop_assert!(!accepted, "flip of bit {} accepted", bit);
        // And through a channel, which also looks the key up by id.
        let mut rx = RedirectChannel::new(ChannelConfig::default(), Role::BorderRouter, KeyRing::new(key), 1, Instant::now(), wall(EXAMPLE_TS));
        prop_assert!(rx.open(Instant::now(), wall(EXAMPLE_TS), &bytes).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Stand-in for the `redirect_message` fuzz target on stable.
    #[test]
    fn no_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut rx = RedirectChannel::new(ChannelConfig::default(), Role::BorderRouter, KeyRing::new(example_key()), 1, Instant::now(), wall(0));
        let before = rx.receiver_state();
        prop_assert!(rx.open(Instant::now(), wall(EXAMPLE_TS), &bytes).is_err());
        prop_assert_eq!(rx.receiver_state(), before);
        let _ = RedirectRepr::parse(&RedirectPacket::new_unchecked(&bytes[..]));
    }

    /// Random bodies behind a valid structure reach the semantic parser.
    #[test]
    fn no_panic_on_structured_random(t in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 66..400)) {
        let mut b = vec![b'H', b'R', crate::wire::VERSION, t];
        b.extend_from_slice(&body[..64]);
        let payload_len = body.len() - 66;
        b.extend_from_slice(&(payload_len as u16).to_be_bytes());
        b.extend_from_slice(&body[66..]);
        b.extend_from_slice(&[0; TAG_LEN]);
        let p = RedirectPacket::new_checked(&b[..]).unwrap();
        let _ = RedirectRepr::parse(&p);
        prop_assert!(!p.verify(&example_key(), TO_BR));
    }
}

// ---- channel: replay, freshness, forged floods, liveness -------------------------------

struct Pair {
    tx: RedirectChannel,
    rx: RedirectChannel,
    now: Instant,
    ms: u64,
}

impl Pair {
    fn new(config: ChannelConfig) -> Self {
        let now = Instant::now();
        let ms = EXAMPLE_TS;
        Pair {
            tx: RedirectChannel::new(
                config.clone(),
                Role::Iotssp,
                KeyRing::new(example_key()),
                0xaaaa,
                now,
                wall(ms - 5_000),
            ),
            rx: RedirectChannel::new(
                config,
                Role::BorderRouter,
                KeyRing::new(example_key()),
                0xbbbb,
                now,
                wall(ms - 5_000),
            ),
            now,
            ms,
        }
    }

    fn seal(&mut self, payload: &[u8]) -> Vec<u8> {
        let m = RedirectMessage::Emit {
            flow: example_flow(),
            datagram: payload,
        };
        self.tx.seal(self.now, wall(self.ms), &m).unwrap()
    }

    fn open(&mut self, bytes: &[u8]) -> Result<(), OpenError> {
        self.rx.open(self.now, wall(self.ms), bytes).map(|_| ())
    }
}

#[test]
fn same_message_twice_second_is_rejected() {
    let mut p = Pair::new(ChannelConfig::default());
    let m = p.seal(b"x");
    p.open(&m).unwrap();
    assert_eq!(p.open(&m), Err(OpenError::Replayed));
    assert_eq!(p.rx.counters().opened, 1);
    assert_eq!(p.rx.counters().rejected_replayed, 1);
}

#[test]
fn replay_window_edges_through_the_channel() {
    let mut p = Pair::new(ChannelConfig::default());
    let msgs: Vec<Vec<u8>> = (0..70).map(|_| p.seal(b"x")).collect();
    p.open(&msgs[69]).unwrap();
    // 69 - 5 = 64: just outside; 69 - 6 = 63: the oldest inside.
    assert_eq!(p.open(&msgs[5]), Err(OpenError::TooOld));
    p.open(&msgs[6]).unwrap();
    assert_eq!(p.open(&msgs[6]), Err(OpenError::Replayed));
    p.open(&msgs[68]).unwrap();
}

#[test]
fn old_and_future_timestamps_are_rejected() {
    let cfg = ChannelConfig::default();
    let mut p = Pair::new(cfg.clone());
    let m = p.seal(b"x");
    // Delivered 31 s later: stale.
    p.ms += cfg.max_age.as_millis() as u64 + 1_000;
    assert_eq!(p.open(&m), Err(OpenError::Stale));
    // Delivered 31 s before it was stamped (sender clock ahead): from the future.
    let mut p = Pair::new(cfg.clone());
    p.ms += 31_000;
    let m = p.seal(b"x");
    p.ms -= 31_000;
    assert_eq!(p.open(&m), Err(OpenError::FromFuture));
    // At the edges, accepted.
    let mut p = Pair::new(cfg.clone());
    let m = p.seal(b"x");
    p.ms += cfg.max_age.as_millis() as u64;
    p.open(&m).unwrap();
}

#[test]
fn restarted_receiver_accepts_nothing_older_than_itself() {
    let mut p = Pair::new(ChannelConfig::default());
    let old = p.seal(b"before restart");
    // The receiver restarts 1 s later: empty windows, but a floor at its start.
    p.rx = RedirectChannel::new(
        ChannelConfig::default(),
        Role::BorderRouter,
        KeyRing::new(example_key()),
        0xbbbb,
        p.now,
        wall(p.ms + 1_000),
    );
    p.ms += 2_000;
    assert_eq!(p.open(&old), Err(OpenError::PredatesReceiver));
    let fresh = p.seal(b"after");
    p.open(&fresh).unwrap();
}

#[test]
fn restarted_sender_is_a_new_instance_and_retired_ones_cannot_be_replayed() {
    let cfg = ChannelConfig {
        max_sender_instances: 2,
        ..ChannelConfig::default()
    };
    let mut p = Pair::new(cfg.clone());
    let a0 = p.seal(b"a0");
    p.open(&a0).unwrap();
    // Two restarts of the sender, each starting again at sequence 0.
    for id in [0xb0u64, 0xc0] {
        p.ms += 10;
        p.now += Duration::from_millis(10);
        p.tx = RedirectChannel::new(
            cfg.clone(),
            Role::Iotssp,
            KeyRing::new(example_key()),
            id,
            p.now,
            wall(p.ms),
        );
        let m = p.seal(b"new");
        p.open(&m).unwrap();
    }
    assert_eq!(p.rx.counters().instances_retired, 1);
    assert_eq!(p.rx.receiver_state().instances.len(), 2);
    // The first instance's window is gone; its message is still refused by timestamp.
    assert_eq!(p.open(&a0), Err(OpenError::RetiredInstance));
}

#[test]
fn forged_flood_creates_no_state() {
    let mut p = Pair::new(ChannelConfig::default());
    // Some legitimate history first, so there is state to disturb.
    for _ in 0..3 {
        let m = p.seal(b"ok");
        p.open(&m).unwrap();
    }
    let before = p.rx.receiver_state();
    let wrong_key = RedirectKey::new(1, &[0xee; 32]).unwrap();
    let mut n = 0u64;
    for i in 0..2000u64 {
        // Well-formed messages from many invented sender instances under a wrong key...
        let repr = RedirectRepr {
            envelope: Envelope {
                key_id: 1,
                sender: i,
                sequence: i,
                timestamp_ms: p.ms,
            },
            message: RedirectMessage::FlowTransferred {
                flow: example_flow(),
                final_flight: b"",
            },
        };
        let forged = repr.to_sealed_bytes(&wrong_key, TO_BR).unwrap();
        assert_eq!(p.open(&forged), Err(OpenError::BadTag));
        // ...under a key id we do not hold...
        let unknown = RedirectRepr {
            envelope: Envelope {
                key_id: 99,
                ..repr.envelope
            },
            ..repr
        };
        assert_eq!(
            p.open(&unknown.to_sealed_bytes(&wrong_key, TO_BR).unwrap()),
            Err(OpenError::UnknownKey(99))
        );
        // ...and a real message with its tag altered.
        let mut tampered = p.seal(b"t");
        let last = tampered.len() - 1;
        tampered[last] ^= (i as u8) | 1;
        assert_eq!(p.open(&tampered), Err(OpenError::BadTag));
        n += 1;
    }
    assert_eq!(p.rx.receiver_state(), before);
    assert_eq!(p.rx.counters().rejected_bad_tag, 2 * n);
    assert_eq!(p.rx.counters().rejected_unknown_key, n);
    // The sender's sequence moved on while its tampered messages were lost; the receiver
    // still accepts its next real message.
    let m = p.seal(b"after the flood");
    p.open(&m).unwrap();
}

#[test]
fn previous_key_is_accepted_during_rotation() {
    let mut p = Pair::new(ChannelConfig::default());
    let old = p.seal(b"old key");
    let new_key = RedirectKey::new(2, &[0x22; 32]).unwrap();
    p.rx.set_keys(KeyRing {
        current: new_key.clone(),
        previous: Some(example_key()),
    });
    p.open(&old).unwrap();
    p.tx.set_keys(KeyRing::new(new_key));
    let m = p.seal(b"new key");
    p.open(&m).unwrap();
    p.rx.set_keys(KeyRing::new(RedirectKey::new(2, &[0x22; 32]).unwrap()));
    let mut q = Pair::new(ChannelConfig::default());
    let with_old = q.seal(b"x");
    assert_eq!(p.open(&with_old), Err(OpenError::UnknownKey(1)));
}

#[test]
fn keepalive_and_liveness() {
    let cfg = ChannelConfig::default();
    let mut p = Pair::new(cfg.clone());
    assert_eq!(p.rx.liveness(p.now), Liveness::Unknown);
    // A fresh channel announces itself at once.
    let hello = p.tx.poll_transmit(p.now, wall(p.ms)).unwrap();
    assert!(p.tx.poll_transmit(p.now, wall(p.ms)).is_none());
    let opened = p.rx.open(p.now, wall(p.ms), &hello).unwrap();
    assert_eq!(opened.message, RedirectMessage::Hello);
    assert_eq!(p.rx.liveness(p.now), Liveness::Alive);
    // No Hello before the keepalive interval, one after.
    let due = p.tx.poll_timeout().unwrap();
    assert_eq!(due, p.now + cfg.keepalive);
    p.tx.handle_timeout(due - Duration::from_millis(1));
    assert!(p.tx.poll_transmit(p.now, wall(p.ms)).is_none());
    p.tx.handle_timeout(due);
    assert!(p.tx.poll_transmit(due, wall(p.ms)).is_some());
    // Sending anything else postpones the next Hello.
    assert_eq!(p.tx.poll_timeout(), Some(due + cfg.keepalive));
    assert_eq!(p.rx.liveness(p.now + cfg.dead_after), Liveness::Dead);
    assert_eq!(p.tx.counters().hellos_sent, 2);
    assert_eq!(p.rx.counters().hellos_received, 1);
}

#[test]
fn peer_down_only_after_a_failed_first_exchange_or_silence() {
    let cfg = ChannelConfig::default();
    let mut p = Pair::new(cfg.clone());
    let start = p.now;
    // Before the first Hello round trip had a chance: not down, though nothing was heard.
    assert_eq!(p.rx.liveness(start), Liveness::Unknown);
    assert!(!p.rx.peer_down(start));
    assert!(
        !p.rx
            .peer_down(start + cfg.dead_after - Duration::from_millis(1))
    );
    // The first exchange failed: down while still Unknown.
    assert_eq!(p.rx.liveness(start + cfg.dead_after), Liveness::Unknown);
    assert!(p.rx.peer_down(start + cfg.dead_after));
    // Heard: up; silent for dead_after: down again.
    let hello = p.tx.poll_transmit(start, wall(p.ms)).unwrap();
    let later = start + cfg.dead_after * 2;
    p.rx.open(later, wall(p.ms), &hello).unwrap();
    assert!(!p.rx.peer_down(later));
    assert!(
        !p.rx
            .peer_down(later + cfg.dead_after - Duration::from_millis(1))
    );
    assert!(p.rx.peer_down(later + cfg.dead_after));
}

#[test]
fn detection_defaults_are_a_few_seconds_and_outlast_keepalives() {
    let cfg = ChannelConfig::default();
    assert!(cfg.dead_after <= Duration::from_secs(5));
    assert!(cfg.dead_after >= cfg.keepalive * 3);
}

#[test]
fn reflected_messages_are_refused_and_prove_no_liveness() {
    let cfg = ChannelConfig::default();
    let mut p = Pair::new(cfg.clone());
    // The border router's own Hellos and messages, sent back to it by a reflector with no key,
    // while the IoTSSP is silent: refused, and the IoTSSP stays unheard, then dead.
    let before = p.rx.receiver_state();
    for i in 0..5u64 {
        let t = p.now + Duration::from_secs(i);
        let mine = match p.rx.poll_transmit(t, wall(p.ms)) {
            Some(hello) => hello,
            None => {
                p.rx.seal(
                    t,
                    wall(p.ms),
                    &RedirectMessage::MoteDatagram {
                        flow: FlowTag {
                            peer_addr: Ipv6Addr::UNSPECIFIED,
                            peer_port: 0,
                            ..example_flow()
                        },
                        datagram: b"m",
                    },
                )
                .unwrap()
            }
        };
        assert_eq!(
            p.rx.open(t, wall(p.ms), &mine).map(|_| ()),
            Err(OpenError::Reflected)
        );
    }
    assert_eq!(p.rx.receiver_state(), before);
    assert_eq!(p.rx.counters().rejected_reflected, 5);
    assert_eq!(p.rx.counters().opened, 0);
    assert_eq!(
        p.rx.liveness(p.now + Duration::from_secs(5)),
        Liveness::Unknown
    );
    assert!(p.rx.peer_down(p.now + cfg.dead_after));
    // The same holds the other way round, for the IoTSSP's own messages.
    let own = p.seal(b"x");
    assert_eq!(
        p.tx.open(p.now, wall(p.ms), &own).map(|_| ()),
        Err(OpenError::Reflected)
    );
    // A peer's message still opens.
    let m = p.seal(b"y");
    p.open(&m).unwrap();
    assert_eq!(p.rx.liveness(p.now), Liveness::Alive);
}

#[test]
fn session_resumable_carries_lifetime_and_id() {
    let key = example_key();
    let envelope = Envelope {
        key_id: 1,
        sender: 7,
        sequence: 9,
        timestamp_ms: EXAMPLE_TS,
    };
    let id = [0xab; 16];
    let repr = RedirectRepr {
        envelope,
        message: RedirectMessage::SessionResumable {
            flow: example_flow(),
            lifetime_secs: 3600,
            session_id: &id,
        },
    };
    let bytes = repr.to_sealed_bytes(&key, TO_BR).unwrap();
    // Payload: lifetime 00 00 0e 10, then the 16-byte id.
    assert_eq!(bytes[3], 7);
    assert_eq!(&bytes[68..70], &[0, 20]);
    assert_eq!(&bytes[70..74], &[0x00, 0x00, 0x0e, 0x10]);
    assert_eq!(&bytes[74..90], &id);
    let p = RedirectPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(RedirectRepr::parse(&p).unwrap(), repr);
    // An empty or a 33-byte id is refused both ways.
    for bad in [&[][..], &[1u8; 33][..]] {
        let r = RedirectRepr {
            envelope,
            message: RedirectMessage::SessionResumable {
                flow: example_flow(),
                lifetime_secs: 1,
                session_id: bad,
            },
        };
        assert_eq!(r.check(), Err(WireError::BadResumable));
        let mut raw = bytes[..70].to_vec();
        raw[68..70].copy_from_slice(&((4 + bad.len()) as u16).to_be_bytes());
        raw.extend_from_slice(&[0, 0, 0, 1]);
        raw.extend_from_slice(bad);
        raw.extend_from_slice(&[0; TAG_LEN]);
        let p = RedirectPacket::new_checked(&raw[..]).unwrap();
        assert_eq!(RedirectRepr::parse(&p), Err(WireError::BadResumable));
    }
}

#[test]
fn resumable_ack_carries_the_id() {
    let key = example_key();
    let envelope = Envelope {
        key_id: 1,
        sender: 7,
        sequence: 9,
        timestamp_ms: EXAMPLE_TS,
    };
    let id = [0xab; 16];
    let repr = RedirectRepr {
        envelope,
        message: RedirectMessage::ResumableAck {
            flow: example_flow(),
            session_id: &id,
        },
    };
    let bytes = repr
        .to_sealed_bytes(&key, Direction::BorderRouterToIotssp)
        .unwrap();
    // Type 8, payload: the 16-byte id alone.
    assert_eq!(bytes[3], 8);
    assert_eq!(&bytes[68..70], &[0, 16]);
    assert_eq!(&bytes[70..86], &id);
    assert_eq!(bytes.len(), HEADER_LEN + 16 + TAG_LEN);
    let p = RedirectPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(RedirectRepr::parse(&p).unwrap(), repr);
    // An empty or a 33-byte id is refused both ways.
    for bad in [&[][..], &[1u8; 33][..]] {
        let r = RedirectRepr {
            envelope,
            message: RedirectMessage::ResumableAck {
                flow: example_flow(),
                session_id: bad,
            },
        };
        assert_eq!(r.check(), Err(WireError::BadResumable));
        let mut raw = bytes[..70].to_vec();
        raw[68..70].copy_from_slice(&(bad.len() as u16).to_be_bytes());
        raw.extend_from_slice(bad);
        raw.extend_from_slice(&[0; TAG_LEN]);
        let p = RedirectPacket::new_checked(&raw[..]).unwrap();
        assert_eq!(RedirectRepr::parse(&p), Err(WireError::BadResumable));
    }
}

/// An IoTSSP's outbox and channel, and a border router's channel that applies each
/// SessionResumable it opens (once per flow and id, as the HRM does) and acknowledges
/// every one.
struct ResumableLink {
    p: Pair,
    outbox: ResumableOutbox,
    applied: Vec<(FlowTag, Vec<u8>, u32)>,
}

const RESUMABLE_ID: [u8; 16] = [0x1d; 16];

impl ResumableLink {
    fn new() -> Self {
        let mut l = ResumableLink {
            p: Pair::new(ChannelConfig::default()),
            outbox: ResumableOutbox::new(OutboxConfig::default()),
            applied: Vec::new(),
        };
        assert!(l.outbox.queue(l.p.now, example_flow(), 3600, &RESUMABLE_ID));
        l
    }

    /// Moves the clock (both kinds) by `ms`.
    fn advance(&mut self, ms: u64) {
        self.p.now += Duration::from_millis(ms);
        self.p.ms += ms;
    }

    /// The copies the outbox sends now, sealed by the IoTSSP's channel.
    fn copies(&mut self) -> Vec<(u32, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(c) = self.outbox.poll_message(self.p.now) {
            let bytes = self.p.tx.seal(self.p.now, wall(self.p.ms), &c.message());
            v.push((c.lifetime_secs, bytes.unwrap()));
        }
        v
    }

    /// The border router opens `bytes`; its acknowledgement, sealed, when it applied (or
    /// had applied) a SessionResumable.
    fn br_receives(&mut self, bytes: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (now, w) = (self.p.now, wall(self.p.ms));
        let repr = self.p.rx.open(now, w, bytes)?;
        let RedirectMessage::SessionResumable {
            flow,
            lifetime_secs,
            session_id,
        } = repr.message
        else {
            panic!("not a SessionResumable: {:?}", repr.message);
        };
        if !self
            .applied
            .iter()
            .any(|(f, id, _)| *f == flow && id == session_id)
        {
            self.applied
                .push((flow, session_id.to_vec(), lifetime_secs));
        }
        let ack = RedirectMessage::ResumableAck { flow, session_id };
        Ok(self.p.rx.seal(now, w, &ack).unwrap())
    }

    /// The IoTSSP opens `bytes` and hands an acknowledgement to the outbox.
    fn ssp_receives(&mut self, bytes: &[u8]) -> Result<bool, OpenError> {
        let repr = self.p.tx.open(self.p.now, wall(self.p.ms), bytes)?;
        let RedirectMessage::ResumableAck { flow, session_id } = repr.message else {
            panic!("not a ResumableAck: {:?}", repr.message);
        };
        Ok(self.outbox.handle_ack(&flow, session_id))
    }
}

#[test]
fn a_lost_session_resumable_is_sent_again_until_acknowledged() {
    let mut l = ResumableLink::new();
    let first = l.copies();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, 3600);
    // The first copy is lost. Nothing more before the retry interval.
    assert_eq!(
        l.outbox.poll_timeout(),
        Some(l.p.now + Duration::from_millis(500))
    );
    l.advance(499);
    assert!(l.copies().is_empty());
    l.advance(1);
    let second = l.copies();
    assert_eq!(second.len(), 1);
    // What remains of the lifetime, so a late copy never extends the session.
    assert_eq!(second[0].0, 3599);
    let ack = l.br_receives(&second[0].1).unwrap();
    assert_eq!(l.applied.len(), 1);
    assert_eq!(l.ssp_receives(&ack), Ok(true));
    assert!(l.outbox.is_empty());
    assert_eq!(l.outbox.poll_timeout(), None);
    l.advance(60_000);
    assert!(l.copies().is_empty());
    let c = l.outbox.counters();
    assert_eq!(
        (c.queued, c.sent, c.resent, c.acked, c.unacked),
        (1, 1, 1, 1, 0)
    );
}

#[test]
fn a_lost_ack_costs_one_more_copy_and_duplicates_change_nothing() {
    let mut l = ResumableLink::new();
    let first = l.copies().remove(0).1;
    let lost_ack = l.br_receives(&first).unwrap();
    drop(lost_ack);
    // The same datagram twice (duplicated by the network): the window refuses it.
    assert_eq!(l.br_receives(&first), Err(OpenError::Replayed));
    l.advance(500);
    let second = l.copies().remove(0).1;
    let ack = l.br_receives(&second).unwrap();
    assert_eq!(l.applied.len(), 1, "applied once");
    assert_eq!(l.ssp_receives(&ack), Ok(true));
    // The acknowledgement duplicated by the network: the window refuses it.
    assert_eq!(l.ssp_receives(&ack), Err(OpenError::Replayed));
    assert!(l.outbox.is_empty());
    let c = l.outbox.counters();
    assert_eq!((c.sent, c.resent, c.acked, c.stray_acks), (1, 1, 1, 0));
}

#[test]
fn reordered_copies_are_applied_once_and_the_late_ack_is_a_stray() {
    let mut l = ResumableLink::new();
    let first = l.copies().remove(0).1;
    l.advance(500);
    let second = l.copies().remove(0).1;
    // The second copy overtakes the first.
    let ack2 = l.br_receives(&second).unwrap();
    let ack1 = l.br_receives(&first).unwrap();
    assert_eq!(l.applied.len(), 1);
    assert_eq!(
        l.applied[0].2, 3599,
        "the copy that arrived first was applied"
    );
    assert_eq!(l.ssp_receives(&ack1), Ok(true));
    assert_eq!(l.ssp_receives(&ack2), Ok(false));
    assert_eq!(l.outbox.counters().stray_acks, 1);
    assert!(l.outbox.is_empty());
}

#[test]
fn forged_and_reflected_copies_and_acks_are_refused_and_stop_nothing() {
    let mut l = ResumableLink::new();
    let copy = l.copies().remove(0).1;
    // The IoTSSP's own copy reflected back to it.
    assert_eq!(l.ssp_receives(&copy), Err(OpenError::Reflected));
    // An acknowledgement under a key nobody configured.
    let other = RedirectKey::new(1, &[0x77; 32]).unwrap();
    let forged = RedirectRepr {
        envelope: Envelope {
            key_id: 1,
            sender: 0xbbbb,
            sequence: 40,
            timestamp_ms: l.p.ms,
        },
        message: RedirectMessage::ResumableAck {
            flow: example_flow(),
            session_id: &RESUMABLE_ID,
        },
    }
    .to_sealed_bytes(&other, Direction::BorderRouterToIotssp)
    .unwrap();
    assert_eq!(l.ssp_receives(&forged), Err(OpenError::BadTag));
    // A SessionResumable forged the same way never reaches the border router's state.
    let forged_copy = RedirectRepr {
        envelope: Envelope {
            key_id: 1,
            sender: 0xaaaa,
            sequence: 41,
            timestamp_ms: l.p.ms,
        },
        message: RedirectMessage::SessionResumable {
            flow: example_flow(),
            lifetime_secs: 86_400,
            session_id: &[0x66; 32],
        },
    }
    .to_sealed_bytes(&other, TO_BR)
    .unwrap();
    assert_eq!(l.br_receives(&forged_copy), Err(OpenError::BadTag));
    // The border router's acknowledgement reflected back to it.
    let ack = l.br_receives(&copy).unwrap();
    assert_eq!(l.br_receives(&ack), Err(OpenError::Reflected));
    assert_eq!(l.applied.len(), 1);
    // Still pending: only the real acknowledgement ends it.
    assert_eq!(l.outbox.len(), 1);
    l.advance(500);
    assert_eq!(l.copies().len(), 1);
    assert_eq!(l.ssp_receives(&ack), Ok(true));
    assert!(l.outbox.is_empty());
}

#[test]
fn the_outbox_gives_up_after_max_sends_or_at_the_end_of_the_lifetime() {
    let t = Instant::now();
    let mut o = ResumableOutbox::new(OutboxConfig::default());
    o.queue(t, example_flow(), 3600, &RESUMABLE_ID);
    let mut sent_at = Vec::new();
    let mut now = t;
    while let Some(at) = o.poll_timeout() {
        now = at;
        while o.poll_message(now).is_some() {
            sent_at.push(now.duration_since(t).as_millis());
        }
    }
    assert_eq!(sent_at, [0, 500, 1500, 3500, 7500, 15500]);
    assert_eq!(now.duration_since(t), Duration::from_millis(31_500));
    assert_eq!(o.counters().unacked, 1);
    // A two-second lifetime: copies at 0, 0.5 and 1.5 s, none once it is over.
    let mut o = ResumableOutbox::new(OutboxConfig::default());
    o.queue(t, example_flow(), 2, &RESUMABLE_ID);
    let lifetimes: Vec<u32> = [0, 500, 1500, 3500]
        .iter()
        .filter_map(|ms| o.poll_message(t + Duration::from_millis(*ms)))
        .map(|c| c.lifetime_secs)
        .collect();
    assert_eq!(lifetimes, [2, 1]);
    assert!(o.is_empty());
    assert_eq!(o.counters().unacked, 1);
    // Nothing kept for a lifetime of 0 or a bad id; a full outbox pushes out the oldest.
    assert!(!o.queue(t, example_flow(), 0, &RESUMABLE_ID));
    assert!(!o.queue(t, example_flow(), 1, &[]));
    assert!(!o.queue(t, example_flow(), 1, &[0; 33]));
    let mut o = ResumableOutbox::new(OutboxConfig {
        max_pending: 2,
        ..OutboxConfig::default()
    });
    for id in 1..=3u8 {
        o.queue(t, example_flow(), 60, &[id]);
    }
    assert_eq!(o.len(), 2);
    assert_eq!(o.counters().unacked, 1);
    assert!(!o.handle_ack(&example_flow(), &[1]));
    assert!(o.handle_ack(&example_flow(), &[3]));
}
