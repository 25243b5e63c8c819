//! The site as a border router sees it over the serial line, with a virtual clock.

use super::*;
use lowpan::ieee802154::FrameRepr;
use lowpan::ip::{self, Ipv6Packet};
use lowpan::{ContextTable, Encoder, Icmpv6Repr, LinkAddrs, Prefix64, Reassembler};
use slip::codec::{SlipDecoder, encode_frame};
use slip::slip_radio::{HostMessage, RadioMessage};
use std::time::Duration;

const RADIO: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0xff, 0x01]);

fn mote_eui(n: u8) -> Eui64 {
    Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, n])
}

fn prefix() -> Ipv6Addr {
    "fd00:aaaa::".parse().unwrap()
}

fn cfg(loss: f64, paced: bool, seed: u64) -> SimConfig {
    SimConfig {
        radio_eui64: RADIO,
        pan_id: 0xabcd,
        channel: 26,
        motes: vec![mote_eui(1), mote_eui(2)],
        prefix: Some(prefix()),
        air: AirConfig {
            loss,
            paced,
            ..AirConfig::default()
        },
        max_tx: 4,
        seed,
        mode: UplinkMode::SlipRadio,
        devices: Vec::new(),
        rpl: false,
        registering: Vec::new(),
        sixlowpan_routers: Vec::new(),
    }
}

fn global(n: u8) -> Ipv6Addr {
    Prefix64::of(&prefix()).with_iid(ip::iid_from_eui64(mote_eui(n)))
}

/// The border router's side: SLIP, slip-radio messages, 6LoWPAN.
struct Host {
    dec: SlipDecoder,
    enc: Encoder,
    reas: Reassembler,
    seq: u8,
}

impl Host {
    fn new() -> Self {
        let ctx = ContextTable::with_prefix(prefix(), 64);
        Host {
            dec: SlipDecoder::new(4096),
            enc: Encoder::new(ctx.clone()),
            reas: Reassembler::new(ctx),
            seq: 0,
        }
    }

    fn command(&self, sim: &mut Simulation, now: Instant, msg: &[u8]) {
        let mut bytes = vec![slip::codec::END];
        encode_frame(msg, &mut bytes);
        sim.handle_host_bytes(now, &bytes);
    }

    fn send_packet(
        &mut self,
        sim: &mut Simulation,
        now: Instant,
        first_sid: u8,
        packet: &[u8],
        to: Eui64,
    ) -> usize {
        let src = Address::Extended(RADIO);
        let dst = Address::Extended(to);
        let room = ieee802154::max_frame_payload(&FrameRepr::data(0xabcd, src, dst, 0, true));
        let payloads = self
            .enc
            .encode(packet, LinkAddrs { src, dst }, room)
            .unwrap();
        for (i, p) in payloads.iter().enumerate() {
            self.seq = self.seq.wrapping_add(1);
            let frame =
                ieee802154::build_data_frame(&FrameRepr::data(0xabcd, src, dst, self.seq, true), p);
            let msg = HostMessage::Send {
                sid: first_sid.wrapping_add(i as u8) % 16,
                max_tx: None,
                frame,
            };
            self.command(sim, now, &msg.to_bytes());
        }
        payloads.len()
    }

    fn drain(&mut self, sim: &mut Simulation) -> Vec<RadioMessage> {
        let mut out = Vec::new();
        while let Some(b) = sim.poll_host_bytes() {
            self.dec.push(&b, &mut |f: &[u8]| {
                out.push(RadioMessage::parse(f).unwrap())
            });
        }
        out
    }

    /// Frames up -> whole packets.
    fn packets(&mut self, now: Instant, msgs: &[RadioMessage]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for m in msgs {
            if let RadioMessage::Frame(f) = m {
                let (repr, payload) = ieee802154::parse_frame(f).unwrap();
                let links = LinkAddrs {
                    src: repr.src_addr,
                    dst: repr.dst_addr,
                };
                if let Ok(Some(p)) = self.reas.accept(now, links, payload) {
                    out.push(p);
                }
            }
        }
        out
    }
}

/// Advance virtual time to `until`, collecting what the radio says.
fn run_until(
    sim: &mut Simulation,
    host: &mut Host,
    mut now: Instant,
    until: Instant,
) -> (Instant, Vec<RadioMessage>) {
    let mut msgs = host.drain(sim);
    while let Some(t) = sim.poll_timeout() {
        if t > until {
            break;
        }
        now = now.max(t);
        sim.handle_timeout(now);
        msgs.extend(host.drain(sim));
    }
    (now.max(until), msgs)
}

fn echo_request(dst: Ipv6Addr, len: usize, seq: u16) -> Vec<u8> {
    let src: Ipv6Addr = "fd00:beef::2".parse().unwrap();
    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let msg = Icmpv6Repr::EchoRequest {
        ident: 0x7777,
        seq_no: seq,
        data: &data,
    };
    msg.emit_ipv6_packet(src, dst, 64).unwrap()
}

fn results(msgs: &[RadioMessage]) -> Vec<(u8, TxStatus, u8)> {
    msgs.iter()
        .filter_map(|m| match m {
            RadioMessage::TxResult {
                sid,
                status,
                transmissions,
            } => Some((*sid, *status, *transmissions)),
            _ => None,
        })
        .collect()
}

fn is_echo_reply(p: &[u8]) -> bool {
    let v = Ipv6Packet::new_checked(p).unwrap();
    v.next_header() == 58
        && v.payload()[0] == 129
        && ip::verify_checksum(&v.src_addr(), &v.dst_addr(), 58, v.payload())
}

#[test]
fn get_mac_unknown_and_oversize() {
    let t0 = Instant::now();
    let mut sim = Simulation::new(cfg(0.0, true, 1), t0);
    let mut host = Host::new();
    host.command(&mut sim, t0, b"?M");
    host.command(&mut sim, t0, b"!Z");
    let big = ieee802154::build_data_frame(
        &FrameRepr::data(
            0xabcd,
            Address::Extended(RADIO),
            Address::Extended(mote_eui(1)),
            1,
            true,
        ),
        &[0x41; 110],
    );
    assert_eq!(big.len(), 131);
    host.command(
        &mut sim,
        t0,
        &HostMessage::Send {
            sid: 3,
            max_tx: None,
            frame: big,
        }
        .to_bytes(),
    );
    assert_eq!(
        host.drain(&mut sim),
        vec![
            RadioMessage::Mac(RADIO),
            RadioMessage::UnknownCommand,
            RadioMessage::TxResult {
                sid: 3,
                status: TxStatus::Err,
                transmissions: 0
            }
        ]
    );
}

#[test]
fn echo_to_a_mote_is_acked_paced_and_answered() {
    let t0 = Instant::now();
    let mut sim = Simulation::new(cfg(0.0, true, 1), t0);
    let mut host = Host::new();
    let (now, _) = run_until(&mut sim, &mut host, t0, t0 + Duration::from_millis(100)); // boot RS
    let n = host.send_packet(
        &mut sim,
        now,
        0,
        &echo_request(global(1), 8, 1),
        mote_eui(1),
    );
    assert_eq!(n, 1);
    assert!(
        results(&host.drain(&mut sim)).is_empty(),
        "paced: no result before the air time passed"
    );
    assert!(sim.poll_timeout().unwrap() > now);
    let (now, msgs) = run_until(&mut sim, &mut host, now, now + Duration::from_secs(1));
    assert_eq!(results(&msgs), vec![(0, TxStatus::Ok, 1)]);
    let replies = host.packets(now, &msgs);
    assert_eq!(replies.len(), 1);
    assert!(is_echo_reply(&replies[0]));
    let st = sim.stats();
    assert_eq!(st.motes[0].echo_requests, 1);
    assert_eq!(st.motes[1].echo_requests, 0);
    assert_eq!(st.radio.tx_ok, 1);
}

#[test]
fn big_echo_fragmented_both_ways_unthrottled() {
    let t0 = Instant::now();
    let mut sim = Simulation::new(cfg(0.0, false, 1), t0);
    let mut host = Host::new();
    let n = host.send_packet(
        &mut sim,
        t0,
        0,
        &echo_request(global(2), 1232, 1),
        mote_eui(2),
    );
    assert!(n > 8);
    // The radio has 8 buffers: with no air time every frame completes before the next arrives.
    let msgs = host.drain(&mut sim);
    assert_eq!(results(&msgs).len(), n);
    assert!(results(&msgs).iter().all(|r| r.1 == TxStatus::Ok));
    let replies = host.packets(t0, &msgs);
    assert_eq!(replies.len(), 1);
    assert!(is_echo_reply(&replies[0]));
    assert_eq!(replies[0].len(), 40 + 8 + 1232);
}

#[test]
fn nobody_home_and_total_loss_are_no_ack() {
    let t0 = Instant::now();
    let mut sim = Simulation::new(cfg(1.0, true, 1), t0);
    let mut host = Host::new();
    host.send_packet(&mut sim, t0, 4, &echo_request(global(1), 8, 1), mote_eui(1));
    let (now, msgs) = run_until(&mut sim, &mut host, t0, t0 + Duration::from_secs(1));
    assert_eq!(results(&msgs), vec![(4, TxStatus::NoAck, 4)]);
    // Unknown address, lossless air, max_tx 2 from the attribute.
    let mut sim = Simulation::new(cfg(0.0, true, 1), now);
    let frame = ieee802154::build_data_frame(
        &FrameRepr::data(
            0xabcd,
            Address::Extended(RADIO),
            Address::Extended(Eui64([7; 8])),
            1,
            true,
        ),
        &[0x41, 0x60],
    );
    host.command(
        &mut sim,
        now,
        &HostMessage::Send {
            sid: 9,
            max_tx: Some(2),
            frame,
        }
        .to_bytes(),
    );
    let (_, msgs) = run_until(&mut sim, &mut host, now, now + Duration::from_secs(1));
    assert_eq!(results(&msgs), vec![(9, TxStatus::NoAck, 2)]);
}

#[test]
fn queue_full_beyond_eight_buffers() {
    let t0 = Instant::now();
    let mut sim = Simulation::new(cfg(0.0, true, 1), t0);
    let mut host = Host::new();
    for sid in 0..10 {
        host.send_packet(
            &mut sim,
            t0,
            sid,
            &echo_request(global(1), 8, u16::from(sid)),
            mote_eui(1),
        );
    }
    let r = results(&host.drain(&mut sim));
    assert_eq!(
        r,
        vec![(8, TxStatus::QueueFull, 0), (9, TxStatus::QueueFull, 0)]
    );
}

fn lossy_run(seed: u64) -> (Vec<RadioMessage>, crate::stats::Stats) {
    let t0 = Instant::now();
    let mut sim = Simulation::new(cfg(0.2, true, seed), t0);
    let mut host = Host::new();
    let mut all = Vec::new();
    let mut now = t0;
    for i in 0..20u16 {
        host.send_packet(
            &mut sim,
            now,
            (i % 16) as u8,
            &echo_request(global(1), 16, i),
            mote_eui(1),
        );
        let (t, msgs) = run_until(&mut sim, &mut host, now, now + Duration::from_millis(200));
        now = t;
        all.extend(msgs);
    }
    (all, sim.stats())
}

#[test]
fn loss_is_reproducible_and_retried() {
    let (a, sa) = lossy_run(42);
    let (b, sb) = lossy_run(42);
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    let retries = sa.radio.air.retries + sa.motes[0].air.retries;
    assert!(retries > 0, "20% loss must cause retransmissions");
    let replies = Host::new()
        .packets(Instant::now(), &a)
        .iter()
        .filter(|p| is_echo_reply(p))
        .count();
    assert!(replies >= 15, "retries deliver most echoes: {replies}");
}

#[test]
fn router_solicitations_reach_the_host() {
    let t0 = Instant::now();
    let mut sim = Simulation::new(cfg(0.0, true, 1), t0);
    let mut host = Host::new();
    let (now, msgs) = run_until(&mut sim, &mut host, t0, t0 + Duration::from_millis(100));
    let rs = host.packets(now, &msgs);
    assert_eq!(rs.len(), 2, "one RS per mote");
    for p in rs {
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.payload()[0], 133);
    }
}

#[test]
fn serial_garbage_never_panics() {
    let t0 = Instant::now();
    let mut sim = Simulation::new(cfg(0.1, false, 3), t0);
    let mut rng = SimRng::new(5);
    let frame = ieee802154::build_data_frame(
        &FrameRepr::data(
            0xabcd,
            Address::Extended(RADIO),
            Address::Extended(mote_eui(1)),
            1,
            true,
        ),
        &[],
    );
    for i in 0..3000 {
        let mut bytes = if i % 3 == 0 {
            [&b"!S\x01\x00"[..], &frame].concat()
        } else {
            Vec::new()
        };
        let len = rng.below(150) as usize;
        bytes.extend((0..len).map(|_| {
            if rng.below(10) == 0 {
                0xC0
            } else {
                rng.next_u64() as u8
            }
        }));
        bytes.push(0xC0);
        sim.handle_host_bytes(t0, &bytes);
        while sim.poll_host_bytes().is_some() {}
    }
}

fn zep_cfg(loss: f64) -> SimConfig {
    SimConfig {
        mode: UplinkMode::Zep { channel: 26 },
        ..cfg(loss, true, 1)
    }
}

/// ZEP datagrams out -> (frame without FCS) list.
fn zep_frames(sim: &mut Simulation) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| sim.poll_zep_datagram())
        .map(|d| {
            slip::zep::decode_datagram(&d)
                .expect("valid ZEP with FCS")
                .frame
                .to_vec()
        })
        .collect()
}

#[test]
fn zep_nodes_ack_answer_and_retry() {
    let t0 = Instant::now();
    let mut sim = Simulation::new(zep_cfg(0.0), t0);
    let mut host = Host::new();
    // Boot: each mote's RS goes out as a broadcast ZEP frame (no ACK expected).
    let (now, _) = run_until(&mut sim, &mut host, t0, t0 + Duration::from_millis(100));
    assert_eq!(zep_frames(&mut sim).len(), 2);
    // An echo request from the border router, in ZEP, asking for an ACK.
    let src = Address::Extended(RADIO);
    let dst = Address::Extended(mote_eui(1));
    let room = ieee802154::max_frame_payload(&FrameRepr::data(0xabcd, src, dst, 0, true));
    let p = host
        .enc
        .encode(&echo_request(global(1), 8, 1), LinkAddrs { src, dst }, room)
        .unwrap();
    let frame = ieee802154::build_data_frame(&FrameRepr::data(0xabcd, src, dst, 0x55, true), &p[0]);
    sim.handle_zep_datagram(now, &slip::zep::encode_datagram(26, 1, 1, &frame).unwrap());
    assert!(
        zep_frames(&mut sim).is_empty(),
        "no Imm-Ack before the turnaround"
    );
    let turnaround = slip::zep::TURNAROUND_2450MHZ;
    assert!(sim.poll_timeout() <= Some(now + turnaround));
    sim.handle_timeout(now + turnaround - Duration::from_micros(1));
    assert!(
        zep_frames(&mut sim).is_empty(),
        "no Imm-Ack before the turnaround"
    );
    sim.handle_timeout(now + turnaround);
    let out = zep_frames(&mut sim);
    assert_eq!(
        out,
        vec![ieee802154::imm_ack(0x55, false).to_vec()],
        "Imm-Ack one turnaround time later"
    );
    // The reply goes out after its air time; without our ACK it is retried max_tx times.
    let (now, _) = run_until(&mut sim, &mut host, now, now + Duration::from_secs(1));
    let out = zep_frames(&mut sim);
    assert_eq!(out.len(), 4, "first transmission + 3 retries");
    assert!(
        out.windows(2).all(|w| w[0] == w[1]),
        "retransmissions are the same frame"
    );
    let (repr, payload) = ieee802154::parse_frame(&out[0]).unwrap();
    assert!(repr.ack_request);
    let links = LinkAddrs {
        src: repr.src_addr,
        dst: repr.dst_addr,
    };
    assert!(is_echo_reply(
        &host.reas.accept(now, links, payload).unwrap().unwrap()
    ));
    assert_eq!(sim.stats().motes[0].air.no_ack, 1);
    // Next time we acknowledge: a single transmission.
    let frame = ieee802154::build_data_frame(&FrameRepr::data(0xabcd, src, dst, 0x56, true), &p[0]);
    sim.handle_zep_datagram(now, &slip::zep::encode_datagram(26, 1, 2, &frame).unwrap());
    sim.handle_timeout(now + turnaround);
    assert_eq!(
        zep_frames(&mut sim),
        vec![ieee802154::imm_ack(0x56, false).to_vec()]
    );
    let mut t = now;
    let mut sent = Vec::new();
    while sent.is_empty() {
        t = sim.poll_timeout().unwrap();
        sim.handle_timeout(t);
        sent = zep_frames(&mut sim);
    }
    let seq = sent[0][2];
    let ack = slip::zep::encode_datagram(26, 1, 3, &ieee802154::imm_ack(seq, false)).unwrap();
    sim.handle_zep_datagram(t, &ack);
    let (_, _) = run_until(&mut sim, &mut host, t, t + Duration::from_secs(1));
    assert!(zep_frames(&mut sim).is_empty(), "no retry after the ACK");
    // Wrong channel and bad FCS are dropped.
    let mut bad = slip::zep::encode_datagram(11, 1, 4, &frame).unwrap();
    sim.handle_zep_datagram(t, &bad);
    bad = slip::zep::encode_datagram(26, 1, 4, &frame).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    sim.handle_zep_datagram(t, &bad);
    assert!(zep_frames(&mut sim).is_empty());
    assert_eq!(sim.stats().radio.zep_drops.values().sum::<u64>(), 2);
}

#[test]
fn stats_json_carries_device_kind_and_security_counters() {
    use crate::mote::secure::DeviceSpec;
    use crate::mote::secure::delegated::DelegatedConfig;
    use crate::mote::secure::server::PskConfig;
    let mut c = cfg(0.0, false, 3);
    c.devices = vec![DeviceSpec::Delegated(DelegatedConfig {
        iotssp: PskConfig {
            identity: b"iotssp".to_vec(),
            key: zeroize::Zeroizing::new(vec![1; 16]),
        },
        transfer_port: 5685,
        slots: 2,
        suites: dtls::CipherSuite::ECDHE_ECDSA.to_vec(),
        leg: crate::mote::secure::delegated::Leg::PskHandshake,
        iotssp_address: None,
        session_idle: crate::mote::secure::delegated::DEFAULT_SESSION_IDLE,
        session_evict_after: crate::mote::secure::delegated::DEFAULT_SESSION_EVICT_AFTER,
        outbound: None,
        signing_key: None,
        ecc: Default::default(),
        resumption_slots: 0,
    })];
    let sim = Simulation::new(c, Instant::now());
    let json: serde_json::Value = serde_json::from_str(&sim.stats().to_json()).unwrap();
    let m = &json["motes"][0];
    assert_eq!(m["device_kind"], "delegated");
    for field in [
        "ecc_operations",
        "certificates_seen",
        "dtls_handshakes_psk",
        "sessions_transferred",
        "dtls_records_in",
        "dtls_records_out",
        "app_data_in",
        "app_data_out",
        "frames_in",
        "bytes_out",
    ] {
        assert_eq!(m[field], 0, "{field}");
    }
    if json["motes"].as_array().unwrap().len() > 1 {
        assert_eq!(json["motes"][1]["device_kind"], "plain");
    }
}
