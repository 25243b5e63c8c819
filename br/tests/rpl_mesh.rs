//! The RPL root in the real sans-IO border router, with a deterministic emulated mesh: a
//! chain of RPL routers (one, two and three hops from the border router) that join from its
//! DIOs, announce themselves with DAOs and forward by source route, next to a mote that
//! only uses RS/RA. Every frame the border router sends is also written to a pcap that
//! tshark must decode without a malformed packet (skipped when tshark is absent).

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant, SystemTime};

use lowpan::ieee802154::{self as mac, FrameRepr};
use lowpan::ip::{self, Icmpv6Packet, Ipv6Packet, UdpPacket, next_header};
use lowpan::rpl::control::{Dao, RplControl, RplOption};
use lowpan::rpl::option::RplOptionRepr;
use lowpan::rpl::srh::SrhRepr;
use lowpan::{Address, ContextTable, Eui64, Icmpv6Repr, Ipv6Repr, LinkAddrs, NextHeader, UdpRepr};
use lowpan_br::capture::Capture;
use lowpan_br::config::Config;
use lowpan_br::router::{BorderRouter, Transmit};

const PAN: u16 = 0xabcd;
const BR_EUI: Eui64 = Eui64([0x02, 0, 0, 0, 0, 0, 0, 0x01]);
const INTERNET: &str = "2001:db8::7";

fn eui(n: u8) -> Eui64 {
    Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, n])
}

/// One emulated node: an RPL router or leaf (joins from DIOs), or a plain host (RS/RA).
struct Node {
    eui: Eui64,
    rpl: bool,
    /// Link address of the parent (RPL) or the border router (host).
    parent: Option<Address>,
    parent_global: Option<Ipv6Addr>,
    rank: u16,
    prefix: Option<Ipv6Addr>,
    dodag_id: Option<Ipv6Addr>,
    dao_acked: bool,
    seq: u8,
    contexts: ContextTable,
    reassembler: lowpan::Reassembler,
    /// Packets this node accepted as their final destination.
    delivered: Vec<Vec<u8>>,
}

impl Node {
    fn new(n: u8, rpl: bool) -> Self {
        Node {
            eui: eui(n),
            rpl,
            parent: None,
            parent_global: None,
            rank: 0xffff,
            prefix: None,
            dodag_id: None,
            dao_acked: false,
            seq: 0,
            contexts: ContextTable::new(),
            reassembler: lowpan::Reassembler::new(ContextTable::new()),
            delivered: Vec::new(),
        }
    }

    fn link(&self) -> Address {
        Address::Extended(self.eui)
    }

    fn link_local(&self) -> Ipv6Addr {
        ip::link_local_from_eui64(self.eui)
    }

    fn global(&self) -> Option<Ipv6Addr> {
        let p = self.prefix?.octets();
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&p[..8]);
        a[8..].copy_from_slice(&ip::iid_from_eui64(self.eui));
        Some(Ipv6Addr::from(a))
    }

    /// Frames for `packet` to the link address `dst`.
    fn frames(&mut self, packet: &[u8], dst: Address) -> Vec<Vec<u8>> {
        let mut enc = lowpan::Encoder::new(self.contexts.clone());
        let links = LinkAddrs {
            src: self.link(),
            dst,
        };
        let header = FrameRepr::data(PAN, links.src, dst, 0, !dst.is_broadcast());
        let payloads = enc
            .encode(packet, links, mac::max_frame_payload(&header))
            .unwrap();
        payloads
            .iter()
            .map(|p| {
                self.seq = self.seq.wrapping_add(1);
                mac::build_data_frame(
                    &FrameRepr {
                        sequence_number: self.seq,
                        ..header
                    },
                    p,
                )
            })
            .collect()
    }

    fn with_rpl_option(&self, packet: Vec<u8>) -> Vec<u8> {
        let opt = RplOptionRepr {
            instance: 0x1e,
            sender_rank: self.rank,
            ..Default::default()
        };
        let hbh = opt.hop_by_hop(packet[6]);
        let mut out = packet[..40].to_vec();
        out[6] = next_header::HOP_BY_HOP;
        out.extend_from_slice(&hbh);
        out.extend_from_slice(&packet[40..]);
        let plen = (out.len() - 40) as u16;
        out[4..6].copy_from_slice(&plen.to_be_bytes());
        out
    }

    /// Sends a packet it originates upward (RPL: with the RPL option, to the parent).
    fn send_up(&mut self, packet: Vec<u8>) -> Vec<Vec<u8>> {
        let Some(parent) = self.parent else {
            return Vec::new();
        };
        let packet = if self.rpl {
            self.with_rpl_option(packet)
        } else {
            packet
        };
        self.frames(&packet, parent)
    }

    /// A frame heard on the air; returns the frames it sends in response.
    fn hear(&mut self, now: Instant, frame: &[u8]) -> Vec<Vec<u8>> {
        let (repr, payload) = mac::parse_frame(frame).unwrap();
        if repr.dst_addr != self.link() && !repr.dst_addr.is_broadcast() {
            return Vec::new();
        }
        let links = LinkAddrs {
            src: repr.src_addr,
            dst: repr.dst_addr,
        };
        let Ok(Some(packet)) = self.reassembler.accept(now, links, payload) else {
            return Vec::new();
        };
        self.handle_packet(packet, repr.src_addr)
    }

    fn handle_packet(&mut self, packet: Vec<u8>, from: Address) -> Vec<Vec<u8>> {
        let ipv6 = Ipv6Packet::new_checked(&packet[..]).unwrap();
        let (src, mut dst) = (ipv6.src_addr(), ipv6.dst_addr());
        let mine = dst == self.link_local() || Some(dst) == self.global() || dst.is_multicast();
        if !mine {
            // Upward: towards the root by the default route.
            return match self.parent {
                Some(p) if self.rpl => self.frames(&packet, p),
                _ => Vec::new(),
            };
        }
        // Walk the extension headers: a source routing header with segments left moves on.
        let mut nh = ipv6.next_header();
        let mut at = 40;
        loop {
            match nh {
                next_header::HOP_BY_HOP => {
                    nh = packet[at];
                    at += (usize::from(packet[at + 1]) + 1) * 8;
                }
                next_header::ROUTING => {
                    let len = (usize::from(packet[at + 1]) + 1) * 8;
                    let mut srh = SrhRepr::parse(&packet[at..at + len], &dst).unwrap();
                    if srh.segments_left > 0 {
                        let next = srh.advance(&mut dst).unwrap();
                        let header = srh.emit(&dst).unwrap();
                        let mut out = packet[..at].to_vec();
                        out.extend_from_slice(&header);
                        out.extend_from_slice(&packet[at + len..]);
                        let plen = (out.len() - 40) as u16;
                        out[4..6].copy_from_slice(&plen.to_be_bytes());
                        out[24..40].copy_from_slice(&dst.octets());
                        out[7] -= 1;
                        let iid: [u8; 8] = next.octets()[8..].try_into().unwrap();
                        return self.frames(&out, Address::Extended(ip::eui64_from_iid(iid)));
                    }
                    nh = srh.next_header;
                    at += len;
                }
                _ => break,
            }
        }
        let body = &packet[at..];
        match nh {
            next_header::ICMPV6 => {
                let icmp = Icmpv6Packet::new_checked(body).unwrap();
                let msg = Icmpv6Repr::parse(&src, &dst, &icmp).expect("checksum verifies");
                match msg {
                    Icmpv6Repr::Unknown {
                        msg_type: 155,
                        msg_code,
                        body,
                    } => self.rpl_control(msg_code, body, src, from),
                    Icmpv6Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    } => {
                        self.delivered.push(packet.clone());
                        let reply = Icmpv6Repr::EchoReply {
                            ident,
                            seq_no,
                            data,
                        }
                        .emit_after(&Ipv6Repr::new(dst, src, NextHeader::Icmpv6, 64, 0))
                        .unwrap();
                        self.send_up(reply)
                    }
                    Icmpv6Repr::Ndisc(lowpan::NdiscRepr::RouterAdvert { .. }) if !self.rpl => {
                        self.prefix = Some("fd00:aaaa::".parse().unwrap());
                        self.contexts =
                            ContextTable::with_prefix("fd00:aaaa::".parse().unwrap(), 64);
                        self.reassembler = lowpan::Reassembler::new(self.contexts.clone());
                        self.parent = Some(from);
                        Vec::new()
                    }
                    _ => Vec::new(),
                }
            }
            next_header::UDP => {
                let udp = UdpPacket::new_checked(body).unwrap();
                let repr = UdpRepr::parse(&udp, &src, &dst).expect("UDP checksum verifies");
                self.delivered.push(packet.clone());
                let echo = UdpRepr {
                    src_port: repr.dst_port,
                    dst_port: repr.src_port,
                    payload: repr.payload,
                };
                let reply = echo.emit_ipv6_packet(dst, src, 64).unwrap();
                self.send_up(reply)
            }
            _ => Vec::new(),
        }
    }

    fn rpl_control(&mut self, code: u8, body: &[u8], src: Ipv6Addr, from: Address) -> Vec<Vec<u8>> {
        if !self.rpl {
            return Vec::new();
        }
        match RplControl::parse(code, body).unwrap() {
            RplControl::Dio(dio) if self.parent.is_none() && dio.rank < 0xff00 => {
                let Some(pio) = dio.options.iter().find_map(|o| match o {
                    RplOption::PrefixInfo(p) => Some(p.prefix),
                    _ => None,
                }) else {
                    return Vec::new();
                };
                // Context 0 only from what the border router announces: the DIO's prefix.
                self.prefix = Some(pio);
                self.contexts = ContextTable::with_prefix(pio, 64);
                self.reassembler = lowpan::Reassembler::new(self.contexts.clone());
                self.parent = Some(from);
                self.rank = dio.rank + 256;
                self.dodag_id = Some(dio.dodag_id);
                let parent_iid: [u8; 8] = src.octets()[8..].try_into().unwrap();
                let mut pg = pio.octets();
                pg[8..].copy_from_slice(&parent_iid);
                // The root's child names the DODAG ID as its parent.
                self.parent_global = Some(if dio.rank == 256 {
                    dio.dodag_id
                } else {
                    Ipv6Addr::from(pg)
                });
                let me = self.global().unwrap();
                let dao = RplControl::Dao(Dao {
                    instance: dio.instance,
                    ack_requested: true,
                    dodag_id: None,
                    sequence: 240,
                    options: vec![
                        RplOption::Target {
                            prefix_len: 128,
                            prefix: me,
                        },
                        RplOption::Transit {
                            external: false,
                            path_control: 0,
                            path_sequence: 240,
                            path_lifetime: 30,
                            parent: self.parent_global,
                        },
                    ],
                })
                .emit_ipv6_packet(me, dio.dodag_id, 64);
                let mut out = self.send_up(dao);
                // Announce ourselves to the next hop down.
                let mine = RplControl::Dio(lowpan::rpl::control::Dio {
                    rank: self.rank,
                    ..dio
                })
                .emit_ipv6_packet(
                    self.link_local(),
                    lowpan::rpl::ALL_RPL_NODES,
                    255,
                );
                out.extend(self.frames(&mine, Address::BROADCAST));
                out
            }
            RplControl::DaoAck(ack) => {
                self.dao_acked = ack.status == 0;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

/// Who hears whom: the border router (index None) and the nodes, as undirected links.
struct Mesh {
    br: BorderRouter,
    nodes: Vec<Node>,
    links: Vec<(Option<usize>, usize)>,
    air: VecDeque<(Option<usize>, Vec<u8>)>,
    to_tun: Vec<Vec<u8>>,
    br_frames: Vec<Vec<u8>>,
    now: Instant,
}

impl Mesh {
    fn hears(&self, a: Option<usize>, b: Option<usize>) -> bool {
        self.links
            .iter()
            .any(|&(x, y)| (x == a && Some(y) == b) || (x == b && Some(y) == a))
    }

    fn collect_br(&mut self) {
        while let Some(t) = self.br.poll_transmit() {
            match t {
                Transmit::Radio(d) => {
                    for f in d.frames {
                        self.br_frames.push(f.clone());
                        self.air.push_back((None, f));
                    }
                }
                Transmit::Tun(p) => self.to_tun.push(p),
                Transmit::Redirect { .. } => {}
            }
        }
    }

    /// Delivers every frame in flight (and what it causes) to the nodes that hear it.
    fn settle(&mut self) {
        self.collect_br();
        while let Some((from, frame)) = self.air.pop_front() {
            if from.is_some() && self.hears(from, None) {
                self.br
                    .handle_radio_frame(self.now, SystemTime::now(), &frame);
                self.collect_br();
            }
            for i in 0..self.nodes.len() {
                if Some(i) != from && self.hears(from, Some(i)) {
                    let out = self.nodes[i].hear(self.now, &frame);
                    self.air.extend(out.into_iter().map(|f| (Some(i), f)));
                }
            }
        }
    }

    /// Runs the border router's timers until `until`.
    fn run_until(&mut self, until: Instant) {
        while let Some(t) = self.br.poll_timeout().filter(|t| *t <= until) {
            self.now = self.now.max(t);
            self.br.handle_timeout(self.now, SystemTime::now());
            self.settle();
        }
        self.now = until;
    }

    fn send_from_internet(&mut self, packet: &[u8]) {
        self.br
            .handle_tun_packet(self.now, SystemTime::now(), packet);
        self.settle();
    }
}

fn mesh() -> Mesh {
    let mut cfg = Config::default();
    cfg.rpl.enabled = true;
    cfg.rpl.dio_interval_min = 10;
    let now = Instant::now();
    let mut br = BorderRouter::from_config(
        &cfg,
        now,
        SystemTime::now(),
        1,
        7,
        dtls::provider::SeededRandom::shared([0x5e; 32]),
    )
    .unwrap();
    br.set_own_eui64(BR_EUI);
    // 1, 2 and 3 form a chain (1 hears the border router); 4 is an RS/RA host next to it.
    let nodes = vec![
        Node::new(1, true),
        Node::new(2, true),
        Node::new(3, true),
        Node::new(4, false),
    ];
    let links = vec![(None, 0), (Some(0), 1), (Some(1), 2), (None, 3)];
    Mesh {
        br,
        nodes,
        links,
        air: VecDeque::new(),
        to_tun: Vec::new(),
        br_frames: Vec::new(),
        now,
    }
}

fn global(n: u8) -> Ipv6Addr {
    let mut a = "fd00:aaaa::".parse::<Ipv6Addr>().unwrap().octets();
    a[8..].copy_from_slice(&ip::iid_from_eui64(eui(n)));
    Ipv6Addr::from(a)
}

fn echo_request(dst: Ipv6Addr, len: usize, seq: u16) -> Vec<u8> {
    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
    Icmpv6Repr::EchoRequest {
        ident: 0x4242,
        seq_no: seq,
        data: &data,
    }
    .emit_after(&Ipv6Repr::new(
        INTERNET.parse().unwrap(),
        dst,
        NextHeader::Icmpv6,
        64,
        0,
    ))
    .unwrap()
}

/// What the TUN got back: echo replies and UDP answers to the Internet host, by source.
fn answers_from(tun: &[Vec<u8>], src: Ipv6Addr) -> Vec<Vec<u8>> {
    tun.iter()
        .filter(|p| {
            let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
            ip.src_addr() == src && ip.dst_addr() == INTERNET.parse::<Ipv6Addr>().unwrap()
        })
        .cloned()
        .collect()
}

#[test]
fn rpl_motes_one_and_three_hops_away_and_an_rs_ra_host_are_reachable() {
    let mut m = mesh();
    // The host asks for an RA; the RPL chain joins from the DIOs.
    let rs = lowpan_br_rs(m.nodes[3].link_local());
    let f = m.nodes[3].frames(&rs, Address::BROADCAST);
    m.air.extend(f.into_iter().map(|f| (Some(3), f)));
    m.settle();
    let t = m.now + Duration::from_secs(10);
    m.run_until(t);
    assert!(
        m.nodes[..3].iter().all(|n| n.dao_acked),
        "every RPL node got its DAO-ACK through the source routes"
    );
    assert_eq!(m.nodes[2].rank, 1024);
    let root = m.br.bridge().rpl().unwrap();
    assert_eq!(
        root.path(&global(3)),
        Some(vec![global(1), global(2), global(3)])
    );
    assert!(root.counters().dio_sent >= 1);
    assert_eq!(root.counters().dao_received, 3);
    assert!(
        m.to_tun.is_empty(),
        "RPL control stays inside: {:?}",
        m.to_tun
    );
    assert!(m.nodes[3].prefix.is_some(), "the RS/RA host got its RA");

    // Ping (56 and 1232 bytes) and UDP to the nodes one and three hops away and the host.
    for (n, target) in [(1u8, 0usize), (3, 2), (4, 3)] {
        for (seq, len) in [(1u16, 56usize), (2, 1232)] {
            m.send_from_internet(&echo_request(global(n), len, seq));
            let delivered = m.nodes[target]
                .delivered
                .last()
                .cloned()
                .expect("delivered");
            assert_eq!(
                &delivered[delivered.len() - len..],
                &echo_request(global(n), len, seq)[40 + 8..]
            );
        }
        let udp = UdpRepr {
            src_port: 40000,
            dst_port: 7000,
            payload: b"over the mesh",
        }
        .emit_ipv6_packet(INTERNET.parse().unwrap(), global(n), 64)
        .unwrap();
        m.send_from_internet(&udp);
        let answers = answers_from(&m.to_tun, global(n));
        assert_eq!(
            answers.len(),
            3,
            "two echo replies and a UDP answer from mote {n}"
        );
        for a in &answers {
            // Nothing of RPL reaches the TUN: no hop-by-hop header, no routing header.
            let ip = Ipv6Packet::new_checked(&a[..]).unwrap();
            assert!(
                matches!(ip.next_header(), next_header::ICMPV6 | next_header::UDP),
                "{a:?}"
            );
            assert!(ip.is_exact());
        }
        let last = Ipv6Packet::new_checked(&answers[2][..]).unwrap();
        let u = UdpPacket::new_checked(last.payload()).unwrap();
        assert_eq!(u.payload(), b"over the mesh");
    }
    assert_eq!(m.br.counters().dropped("unknown_mote"), 0);
    // Two DAO-ACKs (nodes 2 and 3), two pings and a UDP datagram to node 3.
    assert_eq!(m.br.bridge().rpl().unwrap().counters().source_routed, 5);
    tshark_finds_nothing_malformed(&m.br_frames);
}

#[test]
fn a_dis_is_answered_and_routes_expire_without_daos() {
    let mut m = mesh();
    let t = m.now + Duration::from_secs(5);
    m.run_until(t);
    assert!(m.nodes[2].dao_acked);
    // A unicast DIS from node 1 is answered with a DIO to it at once.
    let dis = RplControl::Dis { options: vec![] }.emit_ipv6_packet(
        m.nodes[0].link_local(),
        ip::link_local_from_eui64(BR_EUI),
        255,
    );
    let f = m.nodes[0].frames(&dis, Address::Extended(BR_EUI));
    let before = m.br_frames.len();
    m.air.extend(f.into_iter().map(|f| (Some(0), f)));
    m.settle();
    assert!(m.br_frames.len() > before, "a DIO answered the DIS");
    assert_eq!(m.br.bridge().rpl().unwrap().counters().dis_received, 1);
    // DAO lifetime 30 x 60 s: without refreshes the routes go, and packets to the far mote
    // are no longer source-routed (it is not a neighbour: dropped as unknown).
    let t = m.now + Duration::from_secs(1801);
    m.run_until(t);
    assert_eq!(m.br.bridge().rpl().unwrap().path(&global(3)), None);
    m.send_from_internet(&echo_request(global(3), 8, 9));
    assert_eq!(m.br.counters().dropped("unknown_mote"), 1);
}

/// A Router Solicitation from `src` (what a 6LoWPAN host sends).
fn lowpan_br_rs(src: Ipv6Addr) -> Vec<u8> {
    Icmpv6Repr::Ndisc(lowpan::NdiscRepr::RouterSolicit { lladdr: None })
        .emit_after(&Ipv6Repr::new(
            src,
            "ff02::2".parse().unwrap(),
            NextHeader::Icmpv6,
            255,
            0,
        ))
        .unwrap()
}

fn tshark_finds_nothing_malformed(frames: &[Vec<u8>]) {
    if std::process::Command::new("tshark")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("tshark not installed: skipping the Wireshark check");
        return;
    }
    let dir = std::env::temp_dir().join(format!("rpl-mesh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("br.pcap");
    let mut cap = Capture::new(Vec::new()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        cap.record(Duration::from_millis(i as u64), f).unwrap();
    }
    std::fs::write(&path, cap.into_inner().unwrap()).unwrap();
    let run = |filter: &str| {
        let out = std::process::Command::new("tshark")
            .args([
                "-r",
                path.to_str().unwrap(),
                "-o",
                "6lowpan.context0:fd00:aaaa::/64",
                "-o",
                "udp.check_checksum:TRUE",
            ])
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let bad = run("_ws.malformed || _ws.expert.severity >= 8388608");
    let dio = run("icmpv6.type == 155 && icmpv6.code == 1");
    let dao_ack = run("icmpv6.type == 155 && icmpv6.code == 3");
    let routed = run("ipv6.routing.type == 3");
    if std::env::var_os("KEEP_PCAP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(bad, 0, "tshark found malformed frames or errors");
    assert!(
        dio >= 1 && dao_ack >= 3 && routed >= 4,
        "dio {dio} dao-ack {dao_ack} routed {routed}"
    );
}
