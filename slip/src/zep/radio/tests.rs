//! Deterministic tests of `ZepRadio` with a simulated clock and fake peers.

use super::*;
use lowpan::ieee802154::{FrameRepr, build_data_frame, imm_ack};
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);
const TURNAROUND: Duration = Duration::from_micros(192);
const US: Eui64 = Eui64([0x02, 0, 0, 0, 0, 0, 0, 0x01]);
const NODE: Eui64 = Eui64([0x02, 0, 0, 0, 0, 0, 0, 0x22]);
const OTHER: Eui64 = Eui64([0x02, 0, 0, 0, 0, 0, 0, 0x33]);

fn peer(n: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20000 + n))
}

fn radio(peers: usize) -> ZepRadio {
    let peers = (1..=peers as u16).map(peer).collect();
    ZepRadio::new(ZepConfig {
        short_addr: Some(0x0001),
        ..ZepConfig::new(US, peers)
    })
}

fn frame(pan: u16, src: Address, dst: Address, seq: u8, ack: bool) -> Vec<u8> {
    build_data_frame(
        &FrameRepr::data(pan, src, dst, seq, ack),
        &[0x7A, 0x33, seq],
    )
}

fn node_frame(seq: u8, ack: bool) -> Vec<u8> {
    frame(
        0xABCD,
        Address::Extended(NODE),
        Address::Extended(US),
        seq,
        ack,
    )
}

/// What [`zep`]'s datagrams report: encode_datagram's LQI, CRC mode (no RSSI).
const HEARD: crate::LinkQuality = crate::LinkQuality {
    lqi: Some(0xFF),
    rssi_dbm: None,
};

fn zep(frame: &[u8]) -> Vec<u8> {
    encode_datagram(26, 7, 1, frame).unwrap()
}

fn transmits(r: &mut ZepRadio, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    std::iter::from_fn(|| r.poll_transmit(now)).collect()
}

fn events(r: &mut ZepRadio) -> Vec<ZepEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn mac_frames(ds: &[(SocketAddr, Vec<u8>)]) -> Vec<(SocketAddr, Vec<u8>)> {
    ds.iter()
        .map(|(p, d)| (*p, decode_datagram(d).unwrap().frame.to_vec()))
        .collect()
}

#[test]
fn acks_unicast_frame_for_us_exactly_a_turnaround_later() {
    let mut r = radio(2);
    let now = Instant::now();
    let f = node_frame(0x42, true);
    r.handle_datagram(now, peer(2), &zep(&f));
    // aTurnaroundTime: the sender is still finishing its own transmission before that.
    assert_eq!(r.poll_timeout(), Some(now + TURNAROUND));
    assert!(transmits(&mut r, now + TURNAROUND - Duration::from_micros(1)).is_empty());
    let out = transmits(&mut r, now + TURNAROUND);
    assert_eq!(
        mac_frames(&out),
        vec![(peer(2), imm_ack(0x42, false).to_vec())]
    );
    // The datagram carries a correct FCS: 02 00 42 + CRC-16/KERMIT.
    assert_eq!(out[0].1.len(), 32 + 5);
    assert_eq!(out[0].1[31], 5);
    assert_eq!(events(&mut r), vec![ZepEvent::Frame(f, HEARD)]);
    assert_eq!(r.counters().acks_sent, 1);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn turnaround_is_a_setting() {
    let mut r = ZepRadio::new(ZepConfig {
        turnaround: 2 * MS,
        ..ZepConfig::new(US, vec![peer(1)])
    });
    let now = Instant::now();
    r.handle_datagram(now, peer(1), &zep(&node_frame(1, true)));
    assert!(transmits(&mut r, now + MS).is_empty());
    assert_eq!(
        mac_frames(&transmits(&mut r, now + 2 * MS)),
        vec![(peer(1), imm_ack(1, false).to_vec())]
    );
}

#[test]
fn no_ack_for_broadcast_or_without_request() {
    let mut r = radio(1);
    let now = Instant::now();
    let bcast = frame(0xABCD, Address::Extended(NODE), Address::BROADCAST, 1, true);
    r.handle_datagram(now, peer(1), &zep(&bcast));
    r.handle_datagram(now, peer(1), &zep(&node_frame(2, false)));
    assert!(transmits(&mut r, now).is_empty());
    assert_eq!(events(&mut r).len(), 2);
}

#[test]
fn short_address_and_broadcast_pan_accepted() {
    let mut r = radio(1);
    let now = Instant::now();
    let to_short = frame(
        0xABCD,
        Address::Short(0x0005),
        Address::Short(0x0001),
        1,
        true,
    );
    let any_pan = frame(0xFFFF, Address::Short(0x0005), Address::BROADCAST, 2, false);
    r.handle_datagram(now, peer(1), &zep(&to_short));
    r.handle_datagram(now, peer(1), &zep(&any_pan));
    assert_eq!(events(&mut r).len(), 2);
    assert_eq!(
        mac_frames(&transmits(&mut r, now + TURNAROUND)),
        vec![(peer(1), imm_ack(1, false).to_vec())]
    );
}

#[test]
fn filters_channel_pan_address_fcs_and_own_frames() {
    let mut r = radio(1);
    let now = Instant::now();
    let f = node_frame(1, true);
    r.handle_datagram(now, peer(1), &encode_datagram(15, 7, 1, &f).unwrap());
    r.handle_datagram(
        now,
        peer(1),
        &zep(&frame(
            0x1234,
            Address::Extended(NODE),
            Address::Extended(US),
            2,
            true,
        )),
    );
    r.handle_datagram(
        now,
        peer(1),
        &zep(&frame(
            0xABCD,
            Address::Extended(NODE),
            Address::Extended(OTHER),
            3,
            true,
        )),
    );
    let mut bad = zep(&f);
    let n = bad.len();
    bad[n - 1] ^= 0x01;
    r.handle_datagram(now, peer(1), &bad);
    r.handle_datagram(
        now,
        peer(1),
        &zep(&frame(
            0xABCD,
            Address::Extended(US),
            Address::BROADCAST,
            4,
            false,
        )),
    );
    r.handle_datagram(now, peer(1), b"not zep at all");
    let mut hello = zep(&f);
    hello[3] = 255;
    r.handle_datagram(now, peer(1), &hello);
    r.handle_datagram(now, peer(1), &[0x45, 0x58, 0x02, 0x02, 0, 0, 0, 9]);
    assert!(events(&mut r).is_empty());
    assert!(
        transmits(&mut r, now + MS).is_empty(),
        "nothing filtered may be acknowledged"
    );
    let c = r.counters();
    assert_eq!(
        (
            c.drop_other_channel,
            c.drop_other_pan,
            c.drop_not_for_us,
            c.drop_bad_fcs,
            c.drop_own,
            c.drop_malformed,
            c.ignored
        ),
        (1, 1, 1, 1, 1, 1, 2)
    );
}

#[test]
fn duplicates_dropped_but_acked_again() {
    let mut r = radio(1);
    let mut now = Instant::now();
    let f = node_frame(9, true);
    r.handle_datagram(now, peer(1), &zep(&f));
    r.handle_datagram(now + MS, peer(1), &zep(&f));
    assert_eq!(events(&mut r), vec![ZepEvent::Frame(f.clone(), HEARD)]);
    assert_eq!(
        transmits(&mut r, now + MS + TURNAROUND).len(),
        2,
        "the repeat gets its ACK too"
    );
    assert_eq!(r.counters().drop_duplicate, 1);
    // Another sequence number is new; after the window the old one is new again.
    r.handle_datagram(now, peer(1), &zep(&node_frame(10, false)));
    assert_eq!(events(&mut r).len(), 1);
    now += Duration::from_secs(21);
    r.handle_datagram(now, peer(1), &zep(&f));
    assert_eq!(events(&mut r), vec![ZepEvent::Frame(f, HEARD)]);
}

#[test]
fn unicast_retried_then_given_up() {
    let mut r = radio(2);
    let mut now = Instant::now();
    let f = frame(
        0xABCD,
        Address::Extended(US),
        Address::Extended(NODE),
        5,
        true,
    );
    r.send_frame(now, f.clone()).unwrap();
    // Unknown destination: a copy to every peer.
    let out = transmits(&mut r, now);
    assert_eq!(
        mac_frames(&out),
        vec![(peer(1), f.clone()), (peer(2), f.clone())]
    );
    assert_eq!(r.poll_timeout(), Some(now + 5 * MS));
    for attempt in 2..=4u8 {
        now += 5 * MS;
        r.handle_timeout(now);
        assert_eq!(transmits(&mut r, now).len(), 2, "attempt {attempt}");
        assert!(events(&mut r).is_empty());
    }
    now += 5 * MS;
    r.handle_timeout(now);
    assert_eq!(
        events(&mut r),
        vec![ZepEvent::TxDone {
            seq: 5,
            status: TxStatus::NoAck,
            transmissions: 4
        }]
    );
    assert_eq!((r.counters().retries, r.counters().tx_no_ack), (3, 1));
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn ack_completes_transmission_and_learned_peer_is_used() {
    let mut r = radio(2);
    let now = Instant::now();
    // NODE is heard through peer 2 (and peer 1 hears it from us).
    let bcast = frame(
        0xABCD,
        Address::Extended(NODE),
        Address::BROADCAST,
        1,
        false,
    );
    r.handle_datagram(now, peer(2), &zep(&bcast));
    events(&mut r);
    assert_eq!(mac_frames(&transmits(&mut r, now)), vec![(peer(1), bcast)]);
    let f = frame(
        0xABCD,
        Address::Extended(US),
        Address::Extended(NODE),
        77,
        true,
    );
    r.send_frame(now, f.clone()).unwrap();
    assert_eq!(mac_frames(&transmits(&mut r, now)), vec![(peer(2), f)]);
    // A wrong-sequence ACK is stray, so is one from a peer we did not send to; the right
    // one completes the frame.
    r.handle_datagram(now + MS, peer(2), &zep(&imm_ack(76, false)));
    r.handle_datagram(now + MS, peer(1), &zep(&imm_ack(77, false)));
    r.handle_datagram(now + MS, peer(2), &zep(&imm_ack(77, false)));
    assert_eq!(
        events(&mut r),
        vec![ZepEvent::TxDone {
            seq: 77,
            status: TxStatus::Ok,
            transmissions: 1
        }]
    );
    assert_eq!(
        (r.counters().stray_acks, r.counters().acks_received),
        (2, 3)
    );
    // The stray ones may be someone else's: the other peer hears them.
    let relayed = mac_frames(&transmits(&mut r, now + MS));
    assert_eq!(
        relayed,
        vec![
            (peer(1), imm_ack(76, false).to_vec()),
            (peer(2), imm_ack(77, false).to_vec())
        ]
    );
    r.handle_timeout(now + Duration::from_secs(1));
    assert!(transmits(&mut r, now + Duration::from_secs(1)).is_empty());
}

#[test]
fn broadcast_goes_to_all_and_is_done_without_ack() {
    let mut r = radio(3);
    let now = Instant::now();
    let f = frame(0xABCD, Address::Extended(US), Address::BROADCAST, 3, false);
    r.send_frame(now, f).unwrap();
    assert_eq!(transmits(&mut r, now).len(), 3);
    assert_eq!(r.poll_transmit(now), None);
    assert_eq!(
        events(&mut r),
        vec![ZepEvent::TxDone {
            seq: 3,
            status: TxStatus::Ok,
            transmissions: 1
        }]
    );
}

#[test]
fn frames_to_the_same_peer_are_paced() {
    let mut r = radio(1);
    let now = Instant::now();
    for seq in 0..3 {
        r.send_frame(
            now,
            frame(
                0xABCD,
                Address::Extended(US),
                Address::BROADCAST,
                seq,
                false,
            ),
        )
        .unwrap();
    }
    assert_eq!(transmits(&mut r, now).len(), 1);
    assert_eq!(r.poll_timeout(), Some(now + 3 * MS));
    assert!(transmits(&mut r, now + 2 * MS).is_empty());
    assert_eq!(transmits(&mut r, now + 3 * MS).len(), 1);
    assert_eq!(transmits(&mut r, now + 6 * MS).len(), 1);
    // An ACK is not held back by pacing.
    r.handle_datagram(now + 6 * MS, peer(1), &zep(&node_frame(1, true)));
    assert_eq!(transmits(&mut r, now + 6 * MS + TURNAROUND).len(), 1);
}

#[test]
fn send_refusals_are_counted() {
    let mut r = ZepRadio::new(ZepConfig {
        backlog_frames: 1,
        ..ZepConfig::new(US, vec![])
    });
    let now = Instant::now();
    assert_eq!(r.send_frame(now, vec![0; 126]), Err(ZepDrop::FrameTooLong));
    assert!(matches!(
        r.send_frame(now, vec![0x41]),
        Err(ZepDrop::BadFrame(_))
    ));
    let f = frame(
        0xABCD,
        Address::Extended(US),
        Address::Extended(NODE),
        1,
        true,
    );
    r.send_frame(now, f.clone()).unwrap();
    assert_eq!(r.send_frame(now, f), Err(ZepDrop::BacklogFull));
    // No peer at all: reported, not stuck waiting for an ACK.
    assert!(transmits(&mut r, now).is_empty());
    assert_eq!(
        events(&mut r),
        vec![ZepEvent::TxDone {
            seq: 1,
            status: TxStatus::Err,
            transmissions: 0
        }]
    );
    assert_eq!(r.counters().drop_no_peer, 1);
}

#[test]
fn sequence_numbers_that_wrap_are_new_frames() {
    let mut r = radio(1);
    let t0 = Instant::now();
    // 300 frames in 3 s, starting near the top so that the DSN wraps past earlier values.
    let seqs: Vec<u8> = (0..300u32).map(|i| (200 + i) as u8).collect();
    for (i, seq) in seqs.iter().enumerate() {
        let now = t0 + 10 * MS * i as u32;
        r.handle_datagram(now, peer(1), &zep(&node_frame(*seq, true)));
        assert_eq!(
            transmits(&mut r, now + TURNAROUND).len(),
            1,
            "frame {i} acknowledged"
        );
    }
    let delivered = events(&mut r);
    assert_eq!(delivered.len(), 300, "every frame delivered");
    assert_eq!(
        delivered[299],
        ZepEvent::Frame(node_frame(seqs[299], true), HEARD)
    );
    assert_eq!(r.counters().drop_duplicate, 0);
}

#[test]
fn a_restarted_node_is_heard_at_once() {
    let mut r = radio(1);
    let t0 = Instant::now();
    for seq in 10..20 {
        r.handle_datagram(
            t0 + MS * u32::from(seq),
            peer(1),
            &zep(&node_frame(seq, true)),
        );
    }
    assert_eq!(events(&mut r).len(), 10);
    // It reboots and counts from 10 again, 100 ms later.
    let later = t0 + 100 * MS;
    for seq in 10..13 {
        r.handle_datagram(
            later + MS * u32::from(seq),
            peer(1),
            &zep(&node_frame(seq, true)),
        );
    }
    assert_eq!(
        events(&mut r).len(),
        3,
        "frames after the restart delivered"
    );
    assert_eq!(r.counters().drop_duplicate, 0);
}

#[test]
fn only_the_last_frame_of_a_source_is_a_retransmission() {
    let mut r = radio(1);
    let now = Instant::now();
    let (a, b) = (node_frame(1, true), node_frame(2, true));
    for f in [&a, &b, &b, &a] {
        r.handle_datagram(now, peer(1), &zep(f));
    }
    // b repeated is a retransmission; a after b is new (802.15.4 keeps one DSN per source).
    assert_eq!(
        events(&mut r),
        vec![
            ZepEvent::Frame(a.clone(), HEARD),
            ZepEvent::Frame(b, HEARD),
            ZepEvent::Frame(a, HEARD)
        ]
    );
    assert_eq!(
        transmits(&mut r, now + TURNAROUND).len(),
        4,
        "each copy acknowledged"
    );
    // Another source with the same DSN is another frame.
    let other = frame(
        0xABCD,
        Address::Extended(OTHER),
        Address::Extended(US),
        1,
        true,
    );
    r.handle_datagram(now, peer(1), &zep(&other));
    assert_eq!(events(&mut r), vec![ZepEvent::Frame(other, HEARD)]);
}

#[test]
fn frames_from_one_peer_reach_the_others() {
    let mut r = radio(3);
    let now = Instant::now();
    // A broadcast from peer 1: relayed as it came to peers 2 and 3, and for us too.
    let bcast = zep(&frame(
        0xABCD,
        Address::Extended(NODE),
        Address::BROADCAST,
        1,
        false,
    ));
    r.handle_datagram(now, peer(1), &bcast);
    assert_eq!(
        transmits(&mut r, now),
        vec![(peer(2), bcast.clone()), (peer(3), bcast.clone())]
    );
    assert_eq!(events(&mut r).len(), 1);
    // Unicast between two nodes: peers 1 and 3 hear it; not for us, so not delivered.
    let between = zep(&frame(
        0xABCD,
        Address::Extended(OTHER),
        Address::Extended(NODE),
        2,
        true,
    ));
    r.handle_datagram(now, peer(2), &between);
    assert_eq!(
        transmits(&mut r, now),
        vec![(peer(1), between.clone()), (peer(3), between)]
    );
    // The answering ACK goes back the same way.
    let ack = zep(&imm_ack(2, false));
    r.handle_datagram(now + MS, peer(1), &ack);
    assert_eq!(
        transmits(&mut r, now + MS),
        vec![(peer(2), ack.clone()), (peer(3), ack)]
    );
    assert!(events(&mut r).is_empty());
    // A frame unicast to us concerns nobody else.
    r.handle_datagram(now + MS, peer(1), &zep(&node_frame(3, true)));
    assert_eq!(
        mac_frames(&transmits(&mut r, now + MS + TURNAROUND)),
        vec![(peer(1), imm_ack(3, false).to_vec())]
    );
    assert_eq!(r.counters().relayed, 6);
}

#[test]
fn a_node_that_says_hello_is_a_peer() {
    let mut r = radio(1);
    let now = Instant::now();
    // RIOT's socket_zep hello: "EX", version 2, type 255, "HELLO" in the reserved bytes.
    let mut hello = vec![0u8; 32];
    hello[..4].copy_from_slice(&[b'E', b'X', 2, 255]);
    hello[22..27].copy_from_slice(b"HELLO");
    r.handle_datagram(now, peer(9), &hello);
    assert_eq!((r.learned_peers(), r.counters().peers_learned), (1, 1));
    // It hears our broadcasts and the other nodes.
    let ours = frame(0xABCD, Address::Extended(US), Address::BROADCAST, 1, false);
    r.send_frame(now, ours.clone()).unwrap();
    assert_eq!(
        mac_frames(&transmits(&mut r, now)),
        vec![(peer(1), ours.clone()), (peer(9), ours)]
    );
    let theirs = zep(&frame(
        0xABCD,
        Address::Extended(NODE),
        Address::BROADCAST,
        7,
        false,
    ));
    r.handle_datagram(now, peer(1), &theirs);
    assert_eq!(transmits(&mut r, now), vec![(peer(9), theirs)]);
}

#[test]
fn relaying_can_be_turned_off() {
    let mut r = ZepRadio::new(ZepConfig {
        relay: false,
        ..ZepConfig::new(US, vec![peer(1), peer(2)])
    });
    let now = Instant::now();
    r.handle_datagram(
        now,
        peer(1),
        &zep(&frame(
            0xABCD,
            Address::Extended(NODE),
            Address::BROADCAST,
            1,
            false,
        )),
    );
    assert!(transmits(&mut r, now).is_empty());
    assert_eq!(events(&mut r).len(), 1);
}

#[test]
fn the_peer_table_is_bounded_and_forgets_idle_peers() {
    let cfg = ZepConfig {
        max_peers: 2,
        peer_idle_timeout: Duration::from_secs(60),
        ..ZepConfig::new(US, vec![peer(1)])
    };
    let mut r = ZepRadio::new(cfg);
    let t0 = Instant::now();
    let bcast = |seq| {
        zep(&frame(
            0xABCD,
            Address::Extended(NODE),
            Address::BROADCAST,
            seq,
            false,
        ))
    };
    for (i, p) in [peer(10), peer(11), peer(12)].into_iter().enumerate() {
        r.handle_datagram(t0, p, &bcast(i as u8));
    }
    transmits(&mut r, t0);
    assert_eq!(r.learned_peers(), 2);
    assert_eq!(
        (
            r.counters().peers_learned,
            r.counters().drop_peer_table_full
        ),
        (2, 1)
    );
    // The refused peer's frames were still relayed and delivered.
    assert_eq!(events(&mut r).len(), 3);
    // A peer heard again stays; the silent one is forgotten after the idle timeout.
    r.handle_datagram(t0 + Duration::from_secs(40), peer(10), &bcast(9));
    r.handle_timeout(t0 + Duration::from_secs(61));
    assert_eq!((r.learned_peers(), r.counters().peers_expired), (1, 1));
    r.handle_datagram(t0 + Duration::from_secs(62), peer(12), &bcast(10));
    assert_eq!(r.learned_peers(), 2);
    transmits(&mut r, t0 + Duration::from_secs(62));
    let now = t0 + Duration::from_secs(63);
    r.send_frame(
        now,
        frame(0xABCD, Address::Extended(US), Address::BROADCAST, 1, false),
    )
    .unwrap();
    let mut to: Vec<SocketAddr> = transmits(&mut r, now).into_iter().map(|(p, _)| p).collect();
    to.sort();
    assert_eq!(to, vec![peer(1), peer(10), peer(12)]);
}

#[test]
fn peers_flooding_us_cannot_grow_the_relay_queue_without_bound() {
    let mut r = radio(3);
    let now = Instant::now();
    for i in 0..2000u32 {
        let f = frame(
            0xABCD,
            Address::Extended(NODE),
            Address::BROADCAST,
            i as u8,
            false,
        );
        r.handle_datagram(now, peer(1), &zep(&f));
    }
    assert_eq!(r.counters().drop_relay_full, 2 * 2000 - 1024);
    assert_eq!(transmits(&mut r, now).len(), 1024);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn random_datagrams_never_panic(ds in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..30),
                                    wrap in any::<bool>()) {
        let mut r = radio(2);
        let mut now = Instant::now();
        for d in &ds {
            // Wrapped: valid ZEP around a random frame, to reach the 802.15.4 paths.
            let d = if wrap && d.len() <= 125 { zep(d) } else { d.clone() };
            r.handle_datagram(now, peer(1), &d);
            now += MS;
            r.handle_timeout(now);
            while r.poll_transmit(now).is_some() {}
            while r.poll_event().is_some() {}
        }
    }
}
