//! Bad input on the radio link and the TUN: every kind is dropped under its own counter,
//! lowpan-br keeps running and legitimate traffic keeps flowing.
//!
//! A fault-injecting TCP proxy sits between lowpan-br (`kind = "tcp"`) and motesim inside the
//! border router's namespace. It forwards both ways untouched and, between two whole SLIP
//! frames of the radio -> host stream, writes what the test queues: line noise, broken SLIP,
//! malformed 802.15.4 and 6LoWPAN, frames from strangers, fragment floods and stray
//! slip-radio messages. It also records every frame lowpan-br asks the radio to send, so the
//! test can see what did *not* reach the radio.
//!
//! Each phase compares lowpan-br's Prometheus counters before and after one kind of
//! injection; the expected reason must grow by (at least) the number injected.

use integration_tests::testbed::{
    Options, PREFIX, RADIO_EUI64, RADIO_PORT, Testbed, mote_addr, mote_eui64,
};
use integration_tests::{NetNs, eventually};
use lowpan::ieee802154::{self as mac, FrameRepr};
use lowpan::ip;
use lowpan::iphc::ContextTable;
use lowpan::{Address, Encoder, Eui64, LinkAddrs, Prefix64, UdpRepr};
use slip::codec::{END, ESC, SlipDecoder, encode_frame_with_leading_end};
use slip::slip_radio::{HostMessage, RadioMessage, TxStatus};
use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROXY_PORT: u16 = 60011;
const METRICS: &str = "127.0.0.1:9700";
const PAN: u16 = 0xabcd;
/// Learned-neighbour cap for these tests, so that the stranger phase overflows it.
const MAX_LEARNED: u64 = 8;

// ---------------------------------------------------------------------------------------
// The fault-injecting proxy.

/// State shared between the test and the proxy threads.
#[derive(Default)]
struct Proxy {
    /// SLIP-encoded bytes (one or more whole frames each) to slip into the radio -> host stream.
    inject: Mutex<VecDeque<Vec<u8>>>,
    /// Injections queued and written so far.
    queued: AtomicU64,
    injected: AtomicU64,
    /// 802.15.4 frames lowpan-br handed to the radio (`!S`), in order.
    sent_frames: Mutex<Vec<Vec<u8>>>,
}

impl Proxy {
    /// Listens on `PROXY_PORT` in `ns` and forwards each connection to motesim.
    fn start(ns: &NetNs) -> Arc<Proxy> {
        let proxy = Arc::new(Proxy::default());
        let listener =
            ns.enter(|| TcpListener::bind(("127.0.0.1", PROXY_PORT)).expect("bind proxy"));
        let netns = format!("/run/netns/{}", ns.name);
        let p = proxy.clone();
        std::thread::spawn(move || {
            // The connection to motesim must be made from inside the namespace.
            let file = std::fs::File::open(&netns).expect("open netns");
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            for host in listener.incoming() {
                let Ok(host) = host else { continue };
                let Ok(radio) = TcpStream::connect(("127.0.0.1", RADIO_PORT)) else {
                    continue;
                };
                let _ = host.set_nodelay(true);
                let _ = radio.set_nodelay(true);
                let (h2, r2) = (
                    host.try_clone().expect("clone"),
                    radio.try_clone().expect("clone"),
                );
                let (pa, pb) = (p.clone(), p.clone());
                std::thread::spawn(move || pa.radio_to_host(radio, host));
                std::thread::spawn(move || pb.host_to_radio(h2, r2));
            }
        });
        proxy
    }

    /// motesim -> lowpan-br. Forwards only up to the last END seen, so injections always
    /// land between two whole frames and never corrupt legitimate traffic.
    fn radio_to_host(&self, mut radio: TcpStream, mut host: TcpStream) {
        let _ = radio.set_read_timeout(Some(Duration::from_millis(10)));
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match radio.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
            if let Some(last_end) = pending.iter().rposition(|&b| b == END) {
                if host.write_all(&pending[..=last_end]).is_err() {
                    break;
                }
                pending.drain(..=last_end);
            }
            if pending.is_empty() {
                loop {
                    let next = self.inject.lock().unwrap().pop_front();
                    let Some(bytes) = next else { break };
                    if host.write_all(&bytes).is_err() {
                        return;
                    }
                    self.injected.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let _ = host.shutdown(Shutdown::Both);
        let _ = radio.shutdown(Shutdown::Both);
    }

    /// lowpan-br -> motesim, untouched; `!S` frames are recorded.
    fn host_to_radio(&self, mut host: TcpStream, mut radio: TcpStream) {
        let mut decoder = SlipDecoder::new(4096);
        let mut buf = [0u8; 4096];
        loop {
            let n = match host.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if radio.write_all(&buf[..n]).is_err() {
                break;
            }
            let mut frames = Vec::new();
            decoder.push(&buf[..n], &mut |p: &[u8]| {
                if let Ok(HostMessage::Send { frame, .. }) = HostMessage::parse(p) {
                    frames.push(frame);
                }
            });
            self.sent_frames.lock().unwrap().extend(frames);
        }
        let _ = host.shutdown(Shutdown::Both);
        let _ = radio.shutdown(Shutdown::Both);
    }

    /// Queue raw bytes, written as they are.
    fn raw(&self, bytes: Vec<u8>) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.inject.lock().unwrap().push_back(bytes);
    }

    /// Queue one slip-radio payload, SLIP-encoded between two ENDs.
    fn payload(&self, payload: &[u8]) {
        let mut out = Vec::new();
        encode_frame_with_leading_end(payload, &mut out);
        self.raw(out);
    }

    /// Waits until everything queued has been written to lowpan-br.
    fn flush(&self) {
        let done = eventually(Duration::from_secs(20), || {
            self.inject.lock().unwrap().is_empty().then_some(())
        });
        assert!(
            done.is_some(),
            "proxy did not get its injections out (is the radio link up?)"
        );
    }

    /// Destination link addresses of every frame lowpan-br sent to the radio.
    fn sent_destinations(&self) -> Vec<Address> {
        let frames = self.sent_frames.lock().unwrap();
        frames
            .iter()
            .filter_map(|f| mac::parse_frame(f).ok().map(|(r, _)| r.dst_addr))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Metrics.

/// `GET /metrics` from inside the border router's namespace: sample -> value.
fn metrics(ns: &NetNs) -> BTreeMap<String, u64> {
    ns.enter(|| integration_tests::delegation_bed::scrape(METRICS))
}

fn drops(m: &BTreeMap<String, u64>, reason: &str) -> u64 {
    m.get(&format!("lowpan_br_drops_total{{reason=\"{reason}\"}}"))
        .copied()
        .unwrap_or(0)
}

fn link(m: &BTreeMap<String, u64>, counter: &str) -> u64 {
    m.get(&format!(
        "lowpan_br_radio_link_total{{counter=\"{counter}\"}}"
    ))
    .copied()
    .unwrap_or(0)
}

fn total(m: &BTreeMap<String, u64>, name: &str) -> u64 {
    m.get(&format!("lowpan_br_{name}_total"))
        .copied()
        .unwrap_or(0)
}

/// Which counter a phase must move, and by at least how much.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Drop(&'static str, u64),
    Link(&'static str, u64),
    Total(&'static str, u64),
}

impl Expect {
    fn value(&self, m: &BTreeMap<String, u64>) -> u64 {
        match *self {
            Expect::Drop(reason, _) => drops(m, reason),
            Expect::Link(counter, _) => link(m, counter),
            Expect::Total(name, _) => total(m, name),
        }
    }

    /// (how much the counter grew, how much it must grow)
    fn delta(&self, before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> (u64, u64) {
        let (Expect::Drop(_, want) | Expect::Link(_, want) | Expect::Total(_, want)) = *self;
        (self.value(after).saturating_sub(self.value(before)), want)
    }
}

/// Runs one phase: `inject` queues the bad input, then the counters must show it.
/// The slip link publishes its counters about once a second, hence the polling.
fn phase(
    bed: &Testbed,
    proxy: &Proxy,
    name: &str,
    inject: impl FnOnce(&Proxy),
    expect: &[Expect],
) -> BTreeMap<String, u64> {
    let before = metrics(&bed.br);
    inject(proxy);
    proxy.flush();
    let mut last = before.clone();
    let ok = eventually(Duration::from_secs(15), || {
        last = metrics(&bed.br);
        expect
            .iter()
            .all(|e| {
                let (got, want) = e.delta(&before, &last);
                got >= want
            })
            .then_some(())
    });
    if ok.is_none() {
        let report: Vec<String> = expect
            .iter()
            .map(|e| {
                let (got, want) = e.delta(&before, &last);
                format!("{e:?}: grew by {got}, want >= {want}")
            })
            .collect();
        let changed: Vec<String> = last
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, v)| format!("{k} {} -> {v}", before.get(k).copied().unwrap_or(0)))
            .collect();
        panic!(
            "phase {name}: {}\nchanged counters:\n{}",
            report.join("; "),
            changed.join("\n")
        );
    }
    last
}

// ---------------------------------------------------------------------------------------
// Frame crafting with the project's own codecs.

fn eui(n: [u8; 8]) -> Eui64 {
    Eui64(n)
}

fn radio_eui() -> Eui64 {
    let mut b = [0u8; 8];
    for (i, part) in RADIO_EUI64.split(':').enumerate() {
        b[i] = u8::from_str_radix(part, 16).expect("hex");
    }
    Eui64(b)
}

fn prefix() -> Ipv6Addr {
    PREFIX.parse::<Prefix64>().unwrap().network()
}

/// Global address in the mesh prefix of the mote with this EUI-64.
fn global(e: Eui64) -> Ipv6Addr {
    Prefix64::of(&prefix()).with_iid(ip::iid_from_eui64(e))
}

fn udp_packet(src: Ipv6Addr, dst: Ipv6Addr, payload_len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
    UdpRepr {
        src_port: 40000,
        dst_port: 9,
        payload: &payload,
    }
    .emit_ipv6_packet(src, dst, 64)
    .unwrap()
}

/// A data frame from `src` to the border router carrying `payload`.
fn frame_to_br(src: Eui64, payload: &[u8]) -> Vec<u8> {
    let header = FrameRepr::data(
        PAN,
        Address::Extended(src),
        Address::Extended(radio_eui()),
        7,
        true,
    );
    mac::build_data_frame(&header, payload)
}

/// What a mote would send for `packet`: compressed, fragmented when needed.
fn lowpan_payloads(src: Eui64, packet: &[u8], tag: u16) -> Vec<Vec<u8>> {
    let links = LinkAddrs {
        src: Address::Extended(src),
        dst: Address::Extended(radio_eui()),
    };
    let header = FrameRepr::data(PAN, links.src, links.dst, 0, true);
    let mut enc = Encoder::with_initial_tag(ContextTable::with_prefix(prefix(), 64), tag);
    enc.encode(packet, links, mac::max_frame_payload(&header))
        .expect("encode")
}

/// Bytes that are neither an 802.15.4 frame (reserved frame type 7) nor text nor a
/// slip-radio message, and hold no SLIP END/ESC.
fn garbage(rng: &mut u64, len: usize) -> Vec<u8> {
    let mut v = vec![0x07];
    while v.len() < len {
        let b = 0x80 | (next(rng) as u8 & 0x7f);
        if b != END && b != ESC {
            v.push(b);
        }
    }
    v
}

/// xorshift64*: reproducible noise without a dependency.
fn next(s: &mut u64) -> u64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `ping -6` from the internet host, started in the background.
fn background_ping(ns: &NetNs, dst: Ipv6Addr, count: u32) -> Child {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            "ping",
            "-6",
            "-n",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "3",
        ])
        .arg(dst.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ping")
}

fn options() -> Options {
    Options {
        br_radio_port: Some(PROXY_PORT),
        br_extra: format!("[metrics]\nlisten = \"{METRICS}\"\nsummary_interval_s = 3600\n"),
        br_env: vec![(
            "LOWPAN_NETWORK__MAX_LEARNED_MOTES".into(),
            MAX_LEARNED.to_string(),
        )],
        ..Options::default()
    }
}

fn start(test: &str) -> Option<(Testbed, Arc<Proxy>)> {
    let mut proxy = None;
    let bed = Testbed::start_with(test, options(), |br| proxy = Some(Proxy::start(br)))?;
    Some((bed, proxy.expect("proxy started")))
}

// ---------------------------------------------------------------------------------------

#[test]
fn radio_side_bad_input_is_counted_by_reason_while_pings_flow() {
    let Some((mut bed, proxy)) = start("bad_input_radio") else {
        return;
    };
    assert!(
        bed.ping(mote_addr(2), 3, 56) >= 2,
        "mote 2 answers through the proxy"
    );
    let pid = bed.border_router.pid().expect("lowpan-br pid");
    let rss_before = vm_rss_kib(pid);

    // Legitimate traffic all along: mote 2, while the flood claims to come from mote 1.
    let pings_sent = 75;
    let pinger = background_ping(&bed.inet, mote_addr(2), pings_sent);

    let mote1 = eui(mote_eui64(1));
    let mut rng = 0x5eed_u64;

    // --- the serial line itself --------------------------------------------------------
    phase(
        &bed,
        &proxy,
        "garbage",
        |p| {
            for i in 0..50 {
                let mut out = vec![END];
                out.extend(garbage(&mut rng, 5 + i * 3));
                out.push(END);
                p.raw(out);
            }
        },
        &[Expect::Link("garbage_frames", 50)],
    );

    // Unshaped noise (any byte, END and ESC included): no specific reason, it must only
    // not hurt. Bytes must arrive.
    phase(
        &bed,
        &proxy,
        "noise",
        |p| {
            let noise: Vec<u8> = (0..20_000).map(|_| next(&mut rng) as u8).collect();
            let mut out = vec![END];
            out.extend(noise);
            out.push(END);
            p.raw(out);
        },
        &[Expect::Link("bytes_in", 20_000)],
    );

    phase(
        &bed,
        &proxy,
        "bad_escapes",
        |p| {
            for _ in 0..30 {
                p.raw(vec![END, 0x41, 0x42, ESC, 0x01, 0x43, 0x44, END]);
            }
        },
        &[Expect::Link("slip_bad_escapes", 30)],
    );

    phase(
        &bed,
        &proxy,
        "oversize",
        |p| {
            for _ in 0..5 {
                let mut out = vec![END];
                out.extend(std::iter::repeat_n(0x55, 3000));
                out.push(END);
                p.raw(out);
            }
        },
        &[Expect::Link("slip_oversize_frames", 5)],
    );

    // A truncated 802.15.4 header is not a frame to the slip-radio classifier: garbage.
    phase(
        &bed,
        &proxy,
        "truncated_mac",
        |p| {
            let whole = frame_to_br(mote1, &[0x7b, 0x33, 0x3a, 0x80, 0, 0, 0]);
            for cut in 3..21 {
                p.payload(&whole[..cut]);
            }
        },
        &[Expect::Link("garbage_frames", 18)],
    );

    // --- well-framed 802.15.4 that the bridge must refuse ----------------------------
    phase(
        &bed,
        &proxy,
        "mac",
        |p| {
            let ok = frame_to_br(mote1, &[0x7b, 0x33, 0x3a, 0x80, 0, 0, 0]);
            for _ in 0..10 {
                let mut secured = ok.clone();
                secured[0] |= 0x08;
                p.payload(&secured);
                let mut command = ok.clone();
                command[0] = (command[0] & !0x07) | 0x03;
                p.payload(&command);
                let other_pan = FrameRepr::data(
                    0x1234,
                    Address::Extended(mote1),
                    Address::Extended(radio_eui()),
                    1,
                    true,
                );
                p.payload(&mac::build_data_frame(&other_pan, &[0x41]));
                let other_dst = FrameRepr::data(
                    PAN,
                    Address::Extended(mote1),
                    Address::Extended(eui(mote_eui64(2))),
                    1,
                    true,
                );
                p.payload(&mac::build_data_frame(&other_dst, &[0x41]));
                let no_src = FrameRepr::data(
                    PAN,
                    Address::Absent,
                    Address::Extended(radio_eui()),
                    1,
                    true,
                );
                p.payload(&mac::build_data_frame(&no_src, &[0x7b, 0x33]));
                p.payload(&frame_to_br(
                    radio_eui(),
                    &[0x7b, 0x33, 0x3a, 0x80, 0, 0, 0],
                ));
            }
        },
        &[
            Expect::Drop("mac_security_not_supported", 10),
            Expect::Drop("mac_not_data", 10),
            Expect::Drop("not_for_us", 20),
            Expect::Drop("mac_no_source", 10),
            Expect::Drop("own_frame", 10),
        ],
    );

    // --- malformed 6LoWPAN from a configured mote ------------------------------------
    phase(
        &bed,
        &proxy,
        "lowpan",
        |p| {
            for _ in 0..10 {
                for payload in [
                    &[0x44, 1, 2, 3][..],      // reserved dispatch
                    &[0x00, 1, 2],             // NALP
                    &[0x80, 1, 2, 3],          // mesh header
                    &[0x7b, 0x34, 0x11],       // IPHC: DAC=1 DAM=00 is reserved
                    &[0x7b],                   // IPHC cut after the first byte
                    &[0x7b, 0xf7, 0x11, 0x11], // IPHC: context 1 is not configured
                    &[0x41, 0x60, 0, 0],       // uncompressed IPv6, 3 bytes of it
                    &[0x50],                   // broadcast header without sequence
                ] {
                    p.payload(&frame_to_br(mote1, payload));
                }
            }
        },
        &[
            Expect::Drop("unknown_dispatch", 20),
            Expect::Drop("not_lowpan", 10),
            Expect::Drop("mesh_unsupported", 10),
            Expect::Drop("iphc_reserved_mode", 10),
            Expect::Drop("iphc_truncated", 10),
            Expect::Drop("iphc_bad_context", 10),
            Expect::Drop("ipv6_malformed", 10),
        ],
    );

    // --- strangers: valid frames from EUI-64s nobody configured, to motes that don't exist.
    // They are learned up to the cap; their packets go to the TUN, the kernel routes them
    // back into the mesh prefix, and lowpan-br refuses them there as unknown motes.
    let strangers = 20u64;
    phase(
        &bed,
        &proxy,
        "strangers",
        |p| {
            for i in 0..strangers {
                let src = eui([0x00, 0x12, 0x4b, 0x00, 0x00, 0x00, 0x99, i as u8]);
                let dst = global(eui([0x00, 0x12, 0x4b, 0x00, 0x00, 0x00, 0x77, i as u8]));
                let packet = udp_packet(global(src), dst, 20);
                for payload in lowpan_payloads(src, &packet, 1) {
                    p.payload(&frame_to_br(src, &payload));
                }
            }
        },
        &[
            Expect::Total("motes_learned", MAX_LEARNED),
            Expect::Drop("neighbour_table_full_not_learned", strangers - MAX_LEARNED),
            Expect::Drop("unknown_mote", strangers),
        ],
    );

    // --- fragment floods in mote 1's name ----------------------------------------------
    let big = udp_packet(global(mote1), "fd00:beef::2".parse().unwrap(), 1232);
    phase(
        &bed,
        &proxy,
        "frag_too_big",
        |p| {
            let first = &lowpan_payloads(mote1, &big, 0)[0];
            for tag in 0..20u16 {
                let mut f = first.clone();
                f[0] = 0xc7; // FRAG1, datagram_size 2047
                f[1] = 0xff;
                f[2..4].copy_from_slice(&tag.to_be_bytes());
                p.payload(&frame_to_br(mote1, &f));
            }
        },
        &[Expect::Drop("frag_too_big", 20)],
    );

    phase(
        &bed,
        &proxy,
        "frag_overlap",
        |p| {
            for tag in 0x100..0x105u16 {
                let frags = lowpan_payloads(mote1, &big, tag);
                p.payload(&frame_to_br(mote1, &frags[0]));
                p.payload(&frame_to_br(mote1, &frags[1]));
                let mut overlapping = frags[2].clone();
                overlapping[4] -= 1; // one 8-octet unit back, into the previous fragment
                p.payload(&frame_to_br(mote1, &overlapping));
            }
        },
        &[Expect::Drop("frag_overlap", 5)],
    );

    let flood = 300u64;
    let after_flood = phase(
        &bed,
        &proxy,
        "frag_flood",
        |p| {
            let frags = lowpan_payloads(mote1, &big, 0);
            for i in 0..flood {
                let tag = 0x4000 + i as u16;
                // Alternate first fragments and middle fragments of datagrams never completed.
                let mut f = frags[(i % 2) as usize].clone();
                f[2..4].copy_from_slice(&tag.to_be_bytes());
                p.payload(&frame_to_br(mote1, &f));
            }
        },
        // Each new forged datagram beyond mote 1's per-source budget evicts the stalest one.
        &[Expect::Drop("reassembly_evicted", flood - 8)],
    );

    // --- slip-radio messages the host did not ask for ----------------------------------
    phase(
        &bed,
        &proxy,
        "radio_messages",
        |p| {
            for i in 0..20u8 {
                let sid = i % 16;
                p.payload(
                    &RadioMessage::TxResult {
                        sid,
                        status: TxStatus::Ok,
                        transmissions: 1,
                    }
                    .to_bytes(),
                );
            }
            for i in 0..10 {
                p.payload(
                    &RadioMessage::Debug(format!("debug line {i} from the radio")).to_bytes(),
                );
                p.payload(&RadioMessage::UnknownCommand.to_bytes());
            }
        },
        &[
            Expect::Link("unknown_sid", 20),
            Expect::Link("debug_lines", 10),
            Expect::Link("unknown_command", 10),
        ],
    );

    // --- still alive, still bridging -----------------------------------------------------
    let out = pinger.wait_with_output().expect("ping finished");
    let text = String::from_utf8_lossy(&out.stdout);
    let received = integration_tests::testbed::parse_ping_received(&text).unwrap_or(0);
    assert!(
        received * 10 >= pings_sent * 8,
        "only {received}/{pings_sent} pings to mote 2 answered during the injections:\n{text}"
    );
    assert!(bed.border_router.is_running(), "lowpan-br died");
    assert!(
        bed.ping(mote_addr(1), 3, 56) >= 2,
        "mote 1 still answers small pings"
    );
    assert!(
        bed.ping(mote_addr(2), 2, 1232) >= 1,
        "fragmented traffic of an unflooded mote still flows"
    );
    // The forged partial datagrams in mote 1's name are still held (60 s timeout), yet
    // its real fragmented replies evict them instead of being refused.
    assert!(
        bed.ping(mote_addr(1), 3, 1232) >= 2,
        "fragmented traffic of the mote the flood claimed to come from still flows"
    );
    assert_eq!(
        proxy.injected.load(Ordering::Relaxed),
        proxy.queued.load(Ordering::Relaxed)
    );
    assert!(
        proxy.injected.load(Ordering::Relaxed) >= 600,
        "every phase injected"
    );
    eprintln!(
        "{received}/{pings_sent} pings answered during {} injections",
        proxy.injected.load(Ordering::Relaxed)
    );

    // Bounded memory: the flood evicted its own older datagrams instead of accumulating
    // (none was refused for memory); the process did not grow.
    assert!(drops(&after_flood, "reassembly_evicted") >= flood - 8);
    assert_eq!(drops(&after_flood, "reassembly_memory"), 0);
    if let (Some(a), Some(b)) = (rss_before, vm_rss_kib(pid)) {
        assert!(
            b < a + 32 * 1024,
            "lowpan-br grew from {a} KiB to {b} KiB under the floods"
        );
    }

    // The final counters at SIGTERM name the reasons too.
    let log = bed.border_router.stop();
    let last = log
        .iter()
        .rev()
        .find(|l| l.contains("final counters"))
        .expect("final counters line");
    eprintln!("{last}");
    for reason in [
        "drop.frag_too_big=",
        "drop.reassembly_evicted=",
        "drop.iphc_reserved_mode=",
        "drop.unknown_mote=",
    ] {
        assert!(last.contains(reason), "{reason} missing from: {last}");
    }
}

#[test]
fn tun_side_packets_for_unknown_motes_are_counted_and_never_reach_the_radio() {
    let Some((bed, proxy)) = start("bad_input_tun") else {
        return;
    };
    // The observer must see real traffic, or the "never sent" check below proves nothing.
    assert!(bed.ping(mote_addr(1), 2, 56) >= 1, "mote 1 answers");
    let mote1 = Address::Extended(eui(mote_eui64(1)));
    assert!(
        proxy.sent_destinations().contains(&mote1),
        "proxy saw no frame to mote 1"
    );

    let ghost_eui = eui([0x00, 0x12, 0x4b, 0x00, 0x00, 0x00, 0xde, 0xad]);
    let ghost = global(ghost_eui);
    let before = metrics(&bed.br);
    assert_eq!(bed.ping(ghost, 3, 56), 0, "nobody can answer for {ghost}");
    let dst = std::net::SocketAddr::new(ghost.into(), 7);
    assert_eq!(
        bed.udp_request(dst, b"anyone?".to_vec(), Duration::from_millis(500)),
        None
    );
    let after = metrics(&bed.br);
    assert!(
        drops(&after, "unknown_mote") >= drops(&before, "unknown_mote") + 4,
        "unknown_mote {} -> {}",
        drops(&before, "unknown_mote"),
        drops(&after, "unknown_mote")
    );
    let sent = proxy.sent_destinations();
    assert!(
        !sent.contains(&Address::Extended(ghost_eui)),
        "a frame for the unknown mote reached the radio"
    );
    assert!(
        bed.ping(mote_addr(2), 2, 56) >= 1,
        "known motes still answer"
    );
}
