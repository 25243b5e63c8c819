//! Deterministic tests of `RadioLink` with a simulated clock.

use super::*;
use crate::codec::{SlipDecoder, encode_frame_with_leading_end};
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);
const EUI: Eui64 = Eui64([0x00, 0x12, 0x4B, 0x00, 0x06, 0x0D, 0x9A, 0x01]);

/// Decode what the link wrote into host messages (the lone flush END yields nothing).
fn host_messages(wire: &[u8]) -> Vec<HostMessage> {
    let mut dec = SlipDecoder::new(512);
    let mut out = Vec::new();
    dec.push(wire, &mut |p| {
        out.push(HostMessage::parse(p).expect("link wrote a valid message"))
    });
    out
}

/// What the radio would send, SLIP-framed.
fn from_radio(m: &RadioMessage) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame_with_leading_end(&m.to_bytes(), &mut out);
    out
}

fn tx_result(sid: u8, status: u8) -> Vec<u8> {
    from_radio(&RadioMessage::TxResult {
        sid,
        status: TxStatus::from(status),
        transmissions: 1,
    })
}

fn events(link: &mut RadioLink) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

/// Everything the link is willing to write at `now` (pacing permitting).
fn writes(link: &mut RadioLink, now: Instant) -> Vec<HostMessage> {
    let mut wire = Vec::new();
    while let Some(b) = link.poll_transmit(now) {
        wire.extend(b);
    }
    host_messages(&wire)
}

/// Let simulated time pass in 1 ms steps, collecting writes and firing timeouts.
fn run_for(link: &mut RadioLink, now: &mut Instant, d: Duration) -> Vec<HostMessage> {
    let end = *now + d;
    let mut out = Vec::new();
    while *now < end {
        if link.poll_timeout().is_some_and(|t| t <= *now) {
            link.handle_timeout(*now);
        }
        out.extend(writes(link, *now));
        *now += MS;
    }
    out
}

fn sends(msgs: &[HostMessage]) -> Vec<(u8, Vec<u8>)> {
    msgs.iter()
        .filter_map(|m| match m {
            HostMessage::Send { sid, frame, .. } => Some((*sid, frame.clone())),
            _ => None,
        })
        .collect()
}

fn frame(n: u8) -> Vec<u8> {
    vec![0x41, 0x98, n, 0xCD, 0xAB, 0xFF, 0xFF, 0x01, 0x00, n]
}

/// A link that has flushed, asked for and received the MAC.
fn started(cfg: LinkConfig) -> (RadioLink, Instant) {
    let mut now = Instant::now();
    let mut link = RadioLink::new(cfg);
    let msgs = run_for(&mut link, &mut now, 10 * MS);
    assert!(msgs.contains(&HostMessage::GetMac));
    link.handle_input(now, &from_radio(&RadioMessage::Mac(EUI)));
    assert_eq!(events(&mut link), vec![LinkEvent::Mac(EUI)]);
    (link, now)
}

fn fast() -> LinkConfig {
    LinkConfig {
        min_send_gap: MS,
        baud: 0,
        ..LinkConfig::default()
    }
}

#[test]
fn startup_flushes_then_asks_mac_then_sets_params() {
    let now = Instant::now();
    let cfg = LinkConfig {
        startup_params: vec![(1, 26), (2, 0xABCD)],
        ..fast()
    };
    let mut link = RadioLink::new(cfg);
    assert_eq!(link.poll_transmit(now), Some(vec![0xC0]));
    // Paced: nothing more until the gap passed.
    assert_eq!(link.poll_transmit(now), None);
    assert_eq!(link.poll_timeout(), Some(now + MS));
    assert_eq!(link.poll_transmit(now + MS), Some(vec![0x3F, 0x4D, 0xC0]));
    assert_eq!(
        writes(&mut link, now + 2 * MS),
        vec![HostMessage::SetParam {
            param: 1,
            value: 26
        }]
    );
    assert_eq!(
        writes(&mut link, now + 3 * MS),
        vec![HostMessage::SetParam {
            param: 2,
            value: 0xABCD
        }]
    );
    assert_eq!(link.poll_transmit(now + 4 * MS), None);
    assert_eq!(link.counters().mac_requests, 1);
}

#[test]
fn mac_request_repeats_every_second_until_answered() {
    let mut now = Instant::now();
    let mut link = RadioLink::new(fast());
    let msgs = run_for(&mut link, &mut now, Duration::from_millis(3500));
    assert_eq!(
        msgs.iter().filter(|m| **m == HostMessage::GetMac).count(),
        4
    );
    link.handle_input(now, &from_radio(&RadioMessage::Mac(EUI)));
    assert_eq!(link.mac(), Some(EUI));
    assert_eq!(events(&mut link), vec![LinkEvent::Mac(EUI)]);
    let msgs = run_for(&mut link, &mut now, Duration::from_secs(3));
    assert!(msgs.is_empty());
    assert_eq!(link.poll_timeout(), None);
    // The same MAC again is no news.
    link.handle_input(now, &from_radio(&RadioMessage::Mac(EUI)));
    assert!(events(&mut link).is_empty());
}

#[test]
fn window_bounds_outstanding_sends() {
    let (mut link, mut now) = started(LinkConfig {
        max_in_flight: 2,
        ..fast()
    });
    for n in 0..5 {
        link.send_frame(now, frame(n)).unwrap();
    }
    let s = sends(&run_for(&mut link, &mut now, 50 * MS));
    assert_eq!(s, vec![(0, frame(0)), (1, frame(1))]);
    assert_eq!(link.in_flight(), 2);
    link.handle_input(now, &tx_result(0, 0));
    assert_eq!(
        events(&mut link),
        vec![LinkEvent::TxDone {
            sid: 0,
            status: TxStatus::Ok,
            transmissions: 1
        }]
    );
    let s = sends(&run_for(&mut link, &mut now, 50 * MS));
    assert_eq!(s, vec![(2, frame(2))]);
    assert_eq!(link.counters().tx_status.ok, 1);
    assert_eq!(link.backlog_len(), 2);
}

#[test]
fn sids_walk_the_ring_of_sixteen() {
    let (mut link, mut now) = started(LinkConfig {
        max_in_flight: 1,
        ..fast()
    });
    let mut seen = Vec::new();
    for n in 0..20u8 {
        link.send_frame(now, frame(n)).unwrap();
        let s = sends(&run_for(&mut link, &mut now, 5 * MS));
        assert_eq!(s.len(), 1);
        seen.push(s[0].0);
        link.handle_input(now, &tx_result(s[0].0, 0));
    }
    let expected: Vec<u8> = (0..20).map(|i| i % 16).collect();
    assert_eq!(seen, expected);
}

#[test]
fn min_gap_paces_writes() {
    let cfg = LinkConfig {
        min_send_gap: 5 * MS,
        max_in_flight: 16,
        ..fast()
    };
    let (mut link, mut now) = started(cfg);
    now += Duration::from_millis(100);
    for n in 0..3 {
        link.send_frame(now, frame(n)).unwrap();
    }
    assert_eq!(sends(&writes(&mut link, now)).len(), 1);
    assert_eq!(link.poll_timeout(), Some(now + 5 * MS));
    assert!(writes(&mut link, now + 4 * MS).is_empty());
    assert_eq!(sends(&writes(&mut link, now + 5 * MS)).len(), 1);
    assert_eq!(sends(&writes(&mut link, now + 10 * MS)).len(), 1);
}

#[test]
fn byte_rate_matches_baud() {
    // 9600 baud, 8N1: 960 bytes/s. A 100-byte frame gives 105 wire bytes: 109.4 ms.
    let cfg = LinkConfig {
        min_send_gap: Duration::ZERO,
        baud: 9600,
        max_in_flight: 16,
        ..fast()
    };
    let (mut link, mut now) = started(cfg);
    now += Duration::from_secs(1);
    let mut big = frame(0);
    big.resize(100, 0x11);
    link.send_frame(now, big.clone()).unwrap();
    link.send_frame(now, big).unwrap();
    let first = link.poll_transmit(now).unwrap();
    assert_eq!(first.len(), 105); // "!S" sid natt, 100 frame bytes (none escaped), END
    let due = now + Duration::from_nanos(105 * 10 * 1_000_000_000 / 9600);
    assert_eq!(link.poll_timeout(), Some(due));
    assert_eq!(link.poll_transmit(due - Duration::from_micros(1)), None);
    assert!(link.poll_transmit(due).is_some());
}

#[test]
fn queue_full_backs_off_and_retries_same_frame() {
    let cfg = LinkConfig {
        queue_full_backoff: 10 * MS,
        queue_full_retries: 2,
        max_in_flight: 4,
        ..fast()
    };
    let (mut link, mut now) = started(cfg);
    link.send_frame(now, frame(7)).unwrap();
    let s = sends(&run_for(&mut link, &mut now, 2 * MS));
    assert_eq!(s, vec![(0, frame(7))]);
    link.handle_input(now, &tx_result(0, 6));
    assert!(events(&mut link).is_empty(), "no TxDone while retrying");
    link.send_frame(now, frame(8)).unwrap();
    // Held for the back-off: neither the retry nor the next frame goes out early.
    assert_eq!(link.poll_timeout(), Some(now + 10 * MS));
    assert!(sends(&run_for(&mut link, &mut now, 9 * MS)).is_empty());
    let s = sends(&run_for(&mut link, &mut now, 2 * MS));
    assert_eq!(s[0].1, frame(7), "the refused frame is retried first");
    // Second "queue full": back-off doubles.
    let sid = s[0].0;
    link.handle_input(now, &tx_result(sid, 6));
    assert!(sends(&run_for(&mut link, &mut now, 19 * MS)).is_empty());
    let s = sends(&run_for(&mut link, &mut now, 2 * MS));
    assert_eq!(s[0].1, frame(7));
    // Third: retries exhausted, given up and reported.
    link.handle_input(now, &tx_result(s[0].0, 6));
    assert_eq!(
        events(&mut link),
        vec![LinkEvent::TxDone {
            sid: s[0].0,
            status: TxStatus::QueueFull,
            transmissions: 1
        }]
    );
    let c = link.counters();
    assert_eq!(
        (
            c.queue_full_retries,
            c.drop_queue_full,
            c.tx_status.queue_full
        ),
        (2, 1, 3)
    );
}

#[test]
fn stalls_time_out_and_raise_stalled() {
    let cfg = LinkConfig {
        tx_timeout: Duration::from_millis(100),
        stall_limit: 3,
        ..fast()
    };
    let (mut link, mut now) = started(cfg);
    for n in 0..3 {
        link.send_frame(now, frame(n)).unwrap();
    }
    let s = sends(&run_for(&mut link, &mut now, 10 * MS));
    assert_eq!(s.len(), 3);
    assert!(link.poll_timeout().is_some());
    run_for(&mut link, &mut now, Duration::from_millis(100));
    let ev = events(&mut link);
    assert_eq!(
        ev,
        vec![
            LinkEvent::TxTimeout { sid: 0 },
            LinkEvent::TxTimeout { sid: 1 },
            LinkEvent::TxTimeout { sid: 2 },
            LinkEvent::Stalled
        ]
    );
    assert_eq!(link.in_flight(), 0);
    assert_eq!(
        (link.counters().tx_timeouts, link.counters().stalls),
        (3, 1)
    );
    // A late `!R` for a freed sid is counted, not trusted.
    link.handle_input(now, &tx_result(1, 0));
    assert_eq!(link.counters().unknown_sid, 1);
    assert!(events(&mut link).is_empty());
}

#[test]
fn answered_send_resets_stall_count() {
    let cfg = LinkConfig {
        tx_timeout: Duration::from_millis(100),
        stall_limit: 2,
        max_in_flight: 1,
        ..fast()
    };
    let (mut link, mut now) = started(cfg);
    for n in 0..3 {
        link.send_frame(now, frame(n)).unwrap();
    }
    run_for(&mut link, &mut now, Duration::from_millis(110)); // sid 0 times out, sid 1 sent
    link.handle_input(now, &tx_result(1, 0));
    run_for(&mut link, &mut now, Duration::from_millis(110)); // sid 2 times out
    let ev = events(&mut link);
    assert!(!ev.contains(&LinkEvent::Stalled), "{ev:?}");
    assert_eq!(link.counters().tx_timeouts, 2);
}

#[test]
fn unknown_sid_counted() {
    let (mut link, now) = started(fast());
    link.handle_input(now, &tx_result(9, 0));
    link.handle_input(now, &tx_result(200, 2));
    assert_eq!(link.counters().unknown_sid, 2);
    assert_eq!(link.counters().tx_status, TxStatusCounters::default());
    assert!(events(&mut link).is_empty());
}

#[test]
fn backlog_is_bounded_newest_dropped() {
    let (mut link, now) = started(LinkConfig {
        backlog_frames: 4,
        ..fast()
    });
    for n in 0..4 {
        link.send_frame(now, frame(n)).unwrap();
    }
    assert_eq!(link.send_frame(now, frame(4)), Err(LinkDrop::BacklogFull));
    assert_eq!(
        link.send_frame(now, vec![0; 126]),
        Err(LinkDrop::FrameTooLong)
    );
    assert_eq!(link.send_frame(now, vec![]), Err(LinkDrop::EmptyFrame));
    let c = link.counters();
    assert_eq!(
        (
            c.drop_backlog_full,
            c.drop_too_long,
            c.drop_empty,
            c.frames_queued
        ),
        (1, 1, 1, 4)
    );
    assert_eq!(link.backlog_len(), 4);
}

#[test]
fn max_tx_attribute_is_sent() {
    let (mut link, mut now) = started(LinkConfig {
        max_tx: Some(3),
        ..fast()
    });
    link.send_frame(now, frame(1)).unwrap();
    let msgs = run_for(&mut link, &mut now, 2 * MS);
    assert_eq!(
        msgs,
        vec![HostMessage::Send {
            sid: 0,
            max_tx: Some(3),
            frame: frame(1)
        }]
    );
}

#[test]
fn received_payloads_are_classified() {
    let (mut link, now) = started(fast());
    // A data frame whose first byte is '!' (0x21) is a frame, not a command.
    let bang = vec![
        0x21, 0x88, 0x09, 0xCD, 0xAB, 0x01, 0x00, 0xCD, 0xAB, 0x02, 0x00, 0x41,
    ];
    let mut wire = from_radio(&RadioMessage::Frame(bang.clone()));
    wire.extend(from_radio(&RadioMessage::Debug("hello".into())));
    wire.extend(b"unframed nRF text\n");
    wire.extend(from_radio(&RadioMessage::Param {
        param: 1,
        value: 26,
    }));
    wire.extend(from_radio(&RadioMessage::UnknownCommand));
    wire.extend([0xC0, 0x21, 0x01, 0xFF, 0xC0]); // a data frame without addresses: garbage
    link.handle_input(now, &wire);
    assert_eq!(
        events(&mut link),
        vec![
            LinkEvent::Frame(bang),
            LinkEvent::Debug("hello".into()),
            LinkEvent::Debug("unframed nRF text".into()),
            LinkEvent::Param {
                param: 1,
                value: 26
            },
        ]
    );
    let c = link.counters();
    assert_eq!(
        (c.frames_in, c.debug_lines, c.params, c.unknown_command),
        (1, 2, 1, 1)
    );
    assert_eq!((c.garbage_frames, c.garbage_bytes), (1, 3));
}

#[test]
fn input_split_anywhere_gives_same_events() {
    let (mut link, now) = started(fast());
    let mut wire = from_radio(&RadioMessage::Frame(frame(1)));
    wire.extend(from_radio(&RadioMessage::Frame(vec![0xC4, 0x98, 0x00]))); // escaped byte
    for b in &wire {
        link.handle_input(now, std::slice::from_ref(b));
    }
    assert_eq!(
        events(&mut link).len(),
        1 + usize::from(RadioMessage::parse(&[0xC4, 0x98, 0x00]).is_ok())
    );
}

#[test]
fn reset_drops_in_flight_keeps_backlog_and_restarts() {
    let (mut link, mut now) = started(LinkConfig {
        max_in_flight: 1,
        ..fast()
    });
    link.send_frame(now, frame(1)).unwrap();
    link.send_frame(now, frame(2)).unwrap();
    assert_eq!(sends(&run_for(&mut link, &mut now, 2 * MS)).len(), 1);
    link.handle_input(now, &[0x41, 0x98]); // half a frame, cut by the reconnect
    link.reset(now);
    assert_eq!(link.counters().drop_reset, 1);
    assert_eq!(link.mac(), None);
    assert_eq!(link.poll_transmit(now), Some(vec![0xC0]));
    let msgs = run_for(&mut link, &mut now, 5 * MS);
    assert_eq!(msgs[0], HostMessage::GetMac);
    assert_eq!(sends(&msgs), vec![(1, frame(2))]);
    link.handle_input(now, &from_radio(&RadioMessage::Mac(EUI)));
    assert_eq!(events(&mut link), vec![LinkEvent::Mac(EUI)]);
}

#[test]
fn oversize_input_counted_in_slip_counters() {
    let (mut link, now) = started(LinkConfig {
        max_input_len: 16,
        ..fast()
    });
    let mut wire = vec![0xC0];
    wire.extend([0x41; 40]);
    wire.push(0xC0);
    link.handle_input(now, &wire);
    assert_eq!(link.counters().slip.oversize_frames, 1);
    assert!(events(&mut link).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn random_input_never_panics_and_stays_bounded(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20),
        frames in 0usize..40,
    ) {
        let mut now = Instant::now();
        let mut link = RadioLink::new(LinkConfig { backlog_frames: 8, ..fast() });
        for n in 0..frames {
            let _ = link.send_frame(now, frame(n as u8));
        }
        for c in &chunks {
            link.handle_input(now, c);
            run_for(&mut link, &mut now, 3 * MS);
            while link.poll_event().is_some() {}
        }
        prop_assert!(link.backlog_len() <= 8);
        prop_assert!(link.in_flight() <= link.config().max_in_flight);
    }
}
