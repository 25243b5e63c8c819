//! End-to-end tests of Encoder + Reassembler, and the flood/no-panic properties.
use super::*;
use crate::ieee802154::FrameRepr;
use crate::testgen;
use proptest::prelude::*;
use std::net::Ipv6Addr;
use std::time::Duration;

fn ext(last: u8) -> Address {
    Address::Extended(Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, last]))
}

fn links() -> LinkAddrs {
    LinkAddrs {
        src: ext(1),
        dst: ext(2),
    }
}

fn ping(len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
    testgen::icmp_packet(
        "2001:db8::212:4b00:0:1".parse().unwrap(),
        "2001:db8::212:4b00:0:2".parse().unwrap(),
        0,
        0,
        64,
        &data,
    )
}

fn prefix() -> ContextTable {
    ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64)
}

#[test]
fn max_frame_payload_for_extended_addresses() {
    let repr = FrameRepr::data(0xabcd, ext(1), ext(2), 0, true);
    // fcf 2 + seq 1 + dst PAN 2 + dst 8 + src 8 (PAN compressed) = 21
    assert_eq!(repr.buffer_len(), 21);
    assert_eq!(max_frame_payload(&repr), 104);
}

#[test]
fn ping_1280_fragments_and_reassembles() {
    let p = ping(1280 - 44); // 40 IPv6 + 4 ICMPv6 + 1236: a 1280-byte packet
    assert_eq!(p.len(), 1280);
    let mut enc = Encoder::with_initial_tag(prefix(), 0xfffe);
    let frames = enc.encode(&p, links(), 104).unwrap();
    assert!(frames.len() > 1);
    assert!(frames.iter().all(|f| f.len() <= 104));
    assert_eq!(frames[0][0] & 0xf8, 0xc0);
    assert_eq!(u16::from_be_bytes([frames[0][0] & 7, frames[0][1]]), 1280);
    assert_eq!(&frames[0][2..4], &[0xff, 0xfe]);
    let mut r = Reassembler::new(prefix());
    let now = Instant::now();
    let mut out = None;
    for f in frames.iter().rev() {
        assert!(out.is_none());
        out = r.accept(now, links(), f).unwrap();
    }
    assert_eq!(out.unwrap(), p);
    assert_eq!(r.pending(), 0);
    assert_eq!(r.memory_used(), 0);
    // the tag wrapped
    let frames = enc.encode(&p, links(), 104).unwrap();
    assert_eq!(&frames[0][2..4], &[0xff, 0xff]);
    let frames = enc.encode(&p, links(), 104).unwrap();
    assert_eq!(&frames[0][2..4], &[0x00, 0x00]);
}

#[test]
fn small_packet_is_one_frame() {
    let p = ping(10);
    let frames = Encoder::new(prefix()).encode(&p, links(), 104).unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0][0] & 0xe0, 0x60);
    let got = Reassembler::new(prefix())
        .accept(Instant::now(), links(), &frames[0])
        .unwrap();
    assert_eq!(got.unwrap(), p);
}

#[test]
fn uncompressed_ipv6_and_broadcast_header() {
    let p = ping(10);
    let mut r = Reassembler::new(prefix());
    let mut f = vec![0x41];
    f.extend_from_slice(&p);
    assert_eq!(r.accept(Instant::now(), links(), &f).unwrap().unwrap(), p);
    let mut b = vec![0x50, 7];
    b.extend_from_slice(&f);
    assert_eq!(r.accept(Instant::now(), links(), &b).unwrap().unwrap(), p);
    f.pop();
    assert_eq!(
        r.accept(Instant::now(), links(), &f).unwrap_err().reason(),
        "ipv6_malformed"
    );
    assert_eq!(
        r.accept(Instant::now(), links(), &[0x80, 1, 2])
            .unwrap_err()
            .reason(),
        "mesh_unsupported"
    );
    assert_eq!(
        r.accept(Instant::now(), links(), &[0x01])
            .unwrap_err()
            .reason(),
        "not_lowpan"
    );
    assert_eq!(
        r.accept(Instant::now(), links(), &[]).unwrap_err().reason(),
        "empty"
    );
    assert_eq!(
        r.accept(Instant::now(), links(), &[0x42, 0])
            .unwrap_err()
            .reason(),
        "unknown_dispatch"
    );
}

#[test]
fn frag1_with_uncompressed_ipv6() {
    let p = ping(200);
    let size = p.len() as u16;
    let mut f1 = vec![0xc0 | (size >> 8) as u8, size as u8, 0, 5, 0x41];
    f1.extend_from_slice(&p[..96]);
    let mut fnn = vec![0xe0 | (size >> 8) as u8, size as u8, 0, 5, 12];
    fnn.extend_from_slice(&p[96..]);
    let mut r = Reassembler::new(prefix());
    let now = Instant::now();
    assert_eq!(r.accept(now, links(), &f1).unwrap(), None);
    assert_eq!(r.accept(now, links(), &fnn).unwrap().unwrap(), p);
    // A FRAG1 whose IPv6 header claims another size.
    let mut bad = f1.clone();
    bad[1] = bad[1].wrapping_add(8);
    assert_eq!(
        r.accept(now, links(), &bad).unwrap_err().reason(),
        "frag_size_mismatch"
    );
}

#[test]
fn frag1_header_larger_than_datagram_size() {
    let p = testgen::udp_packet(
        "2001:db8::212:4b00:0:1".parse().unwrap(),
        "2001:db8::212:4b00:0:2".parse().unwrap(),
        0,
        0,
        64,
        5683,
        5683,
        &[9; 300],
    );
    let mut frames = Encoder::new(prefix()).encode(&p, links(), 104).unwrap();
    frames[0][0] = 0xc0;
    frames[0][1] = 44; // IPv6 + UDP header alone is 48
    let mut r = Reassembler::new(prefix());
    assert_eq!(
        r.accept(Instant::now(), links(), &frames[0])
            .unwrap_err()
            .reason(),
        "frag_size_mismatch"
    );
}

#[test]
fn duplicates_ignored_overlaps_drop() {
    let p = ping(400);
    let frames = Encoder::new(prefix()).encode(&p, links(), 104).unwrap();
    let now = Instant::now();
    let mut r = Reassembler::new(prefix());
    r.accept(now, links(), &frames[0]).unwrap();
    assert_eq!(r.accept(now, links(), &frames[1]).unwrap(), None);
    assert_eq!(
        r.accept(now, links(), &frames[1]).unwrap(),
        None,
        "duplicate ignored"
    );
    // Same offset, different bytes: disagreement drops the datagram.
    let mut evil = frames[2].clone();
    let last = evil.len() - 1;
    evil[last] ^= 0xff;
    r.accept(now, links(), &frames[2]).unwrap();
    assert_eq!(
        r.accept(now, links(), &evil).unwrap_err().reason(),
        "frag_overlap"
    );
    assert_eq!(r.pending(), 0);
    assert_eq!(r.memory_used(), 0);
    // Partial overlap (offset shifted by one unit) also drops.
    let mut r = Reassembler::new(prefix());
    r.accept(now, links(), &frames[1]).unwrap();
    let mut shifted = frames[1].clone();
    shifted[4] += 1;
    assert_eq!(
        r.accept(now, links(), &shifted).unwrap_err().reason(),
        "frag_overlap"
    );
    // Beyond the end.
    let mut beyond = frames[1].clone();
    beyond[4] = 250;
    assert_eq!(
        r.accept(now, links(), &beyond).unwrap_err().reason(),
        "frag_out_of_bounds"
    );
    // A FRAGN claiming offset 0 (only a FRAG1 may carry byte 0), an empty FRAGN, a tiny size.
    let mut zero = frames[1].clone();
    zero[4] = 0;
    assert_eq!(
        r.accept(now, links(), &zero).unwrap_err().reason(),
        "frag_zero_offset"
    );
    assert_eq!(
        r.accept(now, links(), &frames[1][..5])
            .unwrap_err()
            .reason(),
        "frag_truncated"
    );
    assert_eq!(
        r.accept(now, links(), &[0xe0, 39, 0, 0, 1, 0])
            .unwrap_err()
            .reason(),
        "frag_too_small"
    );
}

#[test]
fn timeout_and_sizes() {
    let p = ping(400);
    let frames = Encoder::new(prefix()).encode(&p, links(), 104).unwrap();
    let t0 = Instant::now();
    let mut r = Reassembler::new(prefix());
    r.accept(t0, links(), &frames[0]).unwrap();
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    assert_eq!(r.expire(t0 + Duration::from_secs(59)), 0);
    assert_eq!(r.expire(t0 + Duration::from_secs(60)), 1);
    assert_eq!(r.pending(), 0);
    assert_eq!(r.poll_timeout(), None);
    // Too big for the default 1500 limit.
    let f = [0xe7, 0xff, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        r.accept(t0, links(), &f).unwrap_err().reason(),
        "frag_too_big"
    );
    // Different link destination: a different datagram.
    r.accept(t0, links(), &frames[0]).unwrap();
    let other = LinkAddrs {
        src: ext(1),
        dst: ext(3),
    };
    for f in &frames[1..] {
        assert_eq!(r.accept(t0, other, f).unwrap(), None);
    }
    assert_eq!(r.pending(), 2);
}

#[test]
fn fragment_flood_stays_within_caps() {
    let limits = ReassemblyLimits::default();
    let mut r = Reassembler::with_limits(prefix(), limits);
    let mut now = Instant::now();
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for i in 0..200_000u32 {
        let src = ext((i % 37) as u8);
        let l = LinkAddrs { src, dst: ext(200) };
        let tag = (i * 7919) as u16;
        let size: u16 = if i % 3 == 0 {
            2047
        } else {
            1280 + (i % 200) as u16
        };
        let offset = (i % 150) as u8;
        let mut f = vec![
            0xe0 | (size >> 8) as u8,
            size as u8,
            (tag >> 8) as u8,
            tag as u8,
            offset,
        ];
        f.extend(std::iter::repeat_n(
            (i % 5) as u8,
            8 * (1 + (i % 12) as usize),
        ));
        if let Err(e) = r.accept(now, l, &f) {
            *reasons.entry(e.reason()).or_default() += 1;
        }
        // overlapping re-sends with other bytes
        if i % 11 == 0 {
            f[5] ^= 1;
            if let Err(e) = r.accept(now, l, &f) {
                *reasons.entry(e.reason()).or_default() += 1;
            }
        }
        assert!(r.memory_used() <= limits.global_bytes);
        assert!(r.memory_used_by(&src) <= limits.per_source_bytes);
        if i % 1000 == 0 {
            now += Duration::from_secs(1);
        }
    }
    // New datagrams evict stale partial ones instead of being refused for memory.
    assert!(r.evictions() > 0);
    assert!(!reasons.contains_key("reassembly_memory"), "{reasons:?}");
    assert!(reasons.contains_key("frag_too_big"), "{reasons:?}");
    assert!(reasons.contains_key("frag_overlap"), "{reasons:?}");
    // a legitimate datagram from a quiet source still gets through once memory frees up
    now += Duration::from_secs(61);
    r.expire(now);
    assert_eq!(r.memory_used(), 0);
    let p = ping(1000);
    let frames = Encoder::new(prefix()).encode(&p, links(), 104).unwrap();
    let mut out = None;
    for f in &frames {
        out = r.accept(now, links(), f).unwrap();
    }
    assert_eq!(out.unwrap(), p);
}

/// A FRAG1 of a 1280-byte datagram from `src` with `tag`, never completed.
fn forged_frag1(src: Address, tag: u16) -> Vec<u8> {
    let l = LinkAddrs { src, dst: ext(2) };
    let mut f = Encoder::new(prefix())
        .encode(&ping(1236), l, 104)
        .unwrap()
        .swap_remove(0);
    f[2..4].copy_from_slice(&tag.to_be_bytes());
    f
}

fn assert_within_caps(r: &Reassembler, limits: &ReassemblyLimits, src: &Address) {
    assert!(
        r.memory_used() <= limits.global_bytes,
        "{} > global cap",
        r.memory_used()
    );
    assert!(
        r.memory_used_by(src) <= limits.per_source_bytes,
        "{} > source cap",
        r.memory_used_by(src)
    );
}

/// Sends `p` from `links()` one fragment at a time, calling `between` after each fragment
/// but the last; returns what the last fragment completed.
fn send_real(
    r: &mut Reassembler,
    now: Instant,
    p: &[u8],
    mut between: impl FnMut(&mut Reassembler),
) -> Option<Vec<u8>> {
    let frames = Encoder::with_initial_tag(prefix(), 0xf000)
        .encode(p, links(), 104)
        .unwrap();
    assert!(frames.len() > 4);
    let mut out = None;
    for (i, f) in frames.iter().enumerate() {
        assert!(out.is_none());
        out = r.accept(now, links(), f).unwrap();
        if i + 1 < frames.len() {
            between(r);
        }
    }
    out
}

#[test]
fn forged_flood_in_a_motes_name_does_not_block_its_fragmented_traffic() {
    let limits = ReassemblyLimits::default();
    let mut r = Reassembler::with_limits(prefix(), limits);
    let now = Instant::now();
    let mote = links().src;
    for tag in 0..1000u16 {
        assert_eq!(
            r.accept(now, links(), &forged_frag1(mote, tag)).unwrap(),
            None
        );
        assert_within_caps(&r, &limits, &mote);
    }
    assert_eq!(
        r.pending(),
        4,
        "the per-source cap holds 4 partial 1280-byte datagrams"
    );
    assert_eq!(r.evictions(), 1000 - 4);
    let p = ping(1232);
    assert_eq!(send_real(&mut r, now, &p, |_| {}).unwrap(), p);
    // The flood going on while the real datagram arrives: 3 forgeries between its fragments
    // evict the older forgeries, never the datagram that keeps progressing (evicting by
    // creation time would drop it).
    let mut tag = 2000u16;
    let got = send_real(&mut r, now, &p, |r| {
        for _ in 0..3 {
            tag += 1;
            assert_eq!(
                r.accept(now, links(), &forged_frag1(mote, tag)).unwrap(),
                None
            );
            assert_within_caps(r, &limits, &mote);
        }
    });
    assert_eq!(got.unwrap(), p);
}

#[test]
fn spoofed_sources_filling_the_global_cap_do_not_block_a_mote() {
    let limits = ReassemblyLimits::default();
    let mut r = Reassembler::with_limits(prefix(), limits);
    let now = Instant::now();
    let mote = links().src;
    let spoofed = |i: u16| Address::Extended(Eui64([0x02, 0, 0, 0, 0, 0, (i >> 8) as u8, i as u8]));
    for i in 0..1000u16 {
        let src = spoofed(i % 300);
        let l = LinkAddrs { src, dst: ext(2) };
        assert_eq!(r.accept(now, l, &forged_frag1(src, i)).unwrap(), None);
        assert_within_caps(&r, &limits, &src);
    }
    let per_datagram = 1280 + frag::PARTIAL_OVERHEAD;
    assert_eq!(r.pending(), limits.global_bytes / per_datagram);
    assert!(r.evictions() >= 1000 - r.pending() as u64);
    let p = ping(1232);
    assert_eq!(send_real(&mut r, now, &p, |_| {}).unwrap(), p);
    // Meanwhile the flood goes on: fewer forgeries between two fragments than the global
    // cap holds datagrams.
    let mut i = 5000u16;
    let got = send_real(&mut r, now, &p, |r| {
        for _ in 0..limits.global_bytes / per_datagram - 2 {
            i += 1;
            let src = spoofed(i % 300);
            let l = LinkAddrs { src, dst: ext(2) };
            assert_eq!(r.accept(now, l, &forged_frag1(src, i)).unwrap(), None);
            assert_within_caps(r, &limits, &src);
            assert_within_caps(r, &limits, &mote);
        }
    });
    assert_eq!(got.unwrap(), p);
}

#[test]
fn a_datagram_larger_than_a_cap_is_refused_without_evicting() {
    let limits = ReassemblyLimits {
        per_source_bytes: 1500,
        ..Default::default()
    };
    let mut r = Reassembler::with_limits(prefix(), limits);
    let now = Instant::now();
    let small = ping(600);
    let frames = Encoder::new(prefix()).encode(&small, links(), 104).unwrap();
    r.accept(now, links(), &frames[0]).unwrap();
    let err = r
        .accept(now, links(), &forged_frag1(links().src, 7))
        .unwrap_err();
    assert_eq!(err.reason(), "reassembly_memory");
    assert_eq!(r.evictions(), 0);
    assert_eq!(r.pending(), 1);
}

#[test]
fn encode_errors() {
    let mut e = Encoder::new(prefix());
    assert_eq!(
        e.encode(&[0x60, 0, 0], links(), 104).unwrap_err().reason(),
        "encode_malformed"
    );
    let p = ping(300);
    assert_eq!(
        e.encode(&p, links(), 10).unwrap_err().reason(),
        "encode_frame_too_small"
    );
    let big = testgen::ipv6(
        Ipv6Addr::LOCALHOST,
        Ipv6Addr::LOCALHOST,
        0,
        0,
        59,
        64,
        &[0; 2100],
    );
    assert_eq!(
        e.encode(&big, links(), 104).unwrap_err().reason(),
        "encode_too_big"
    );
}

#[test]
fn long_extension_header_goes_inline_when_its_nhc_would_not_fit_the_first_fragment() {
    // A 64-byte Destination Options header compresses (NHC) to more than a 60-byte frame
    // holds after FRAG1; the encoder then sends it uncompressed, fragmented like payload.
    let mut body = vec![59u8, 7, 0x1e, 60];
    body.extend((0..60).map(|i| i as u8));
    body.extend_from_slice(&[0xab; 100]);
    let src: Ipv6Addr = "fe80::200:0:0:0".parse().unwrap();
    let packet = testgen::ipv6(src, src, 0, 0, 60, 64, &body);
    let mut e = Encoder::new(prefix());
    let frames = e.encode(&packet, links(), 60).unwrap();
    assert!(frames.len() > 1 && frames.iter().all(|f| f.len() <= 60));
    let mut r = Reassembler::new(prefix());
    let now = Instant::now();
    let got: Vec<_> = frames
        .iter()
        .filter_map(|f| r.accept(now, links(), f).unwrap())
        .collect();
    assert_eq!(got, vec![packet]);
}

fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed | 1;
    for i in (1..v.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn encode_reassemble_roundtrip(case in testgen::arb_case(), mtu in prop_oneof![Just(104usize), Just(116), Just(102), 60usize..=125],
                                   seed in any::<u64>(), dup in any::<bool>()) {
        let mut enc = Encoder::new(case.contexts.clone());
        let mut frames = enc.encode(&case.packet, case.links, mtu).unwrap();
        prop_assert!(frames.iter().all(|f| f.len() <= mtu));
        if dup && frames.len() > 1 { let f = frames[0].clone(); frames.push(f); }
        shuffle(&mut frames, seed);
        let mut r = Reassembler::new(case.contexts.clone());
        let now = Instant::now();
        let mut got = Vec::new();
        for f in &frames {
            if let Some(p) = r.accept(now, case.links, f).unwrap() { got.push(p); }
        }
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(&got[0], &case.packet);
    }

    #[test]
    fn accept_never_panics(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..130), 1..20),
                           shape in 0u8..4) {
        let mut r = Reassembler::with_limits(prefix(), ReassemblyLimits { per_source_bytes: 4000, global_bytes: 8000, ..Default::default() });
        let now = Instant::now();
        for mut f in frames {
            // steer some inputs to the interesting dispatches
            if let Some(b) = f.first_mut() {
                *b = match shape { 0 => 0xc0 | (*b & 0x07), 1 => 0xe0 | (*b & 0x07), 2 => 0x60 | (*b & 0x1f), _ => *b };
            }
            let _ = r.accept(now, links(), &f);
            prop_assert!(r.memory_used() <= 8000);
        }
    }
}
