use super::*;
use lowpan::ip::{Icmpv6Packet, Ipv6Packet};
use lowpan::rpl::option::RplOptionRepr;
use lowpan::rpl::srh::SrhRepr;
use lowpan::{Icmpv6Repr, UdpRepr};

pub(crate) fn settings() -> RplSettings {
    RplSettings {
        instance: 0x1e,
        dodag_id: a("fd00:aaaa::1"),
        version: 240,
        dio_interval_min: 12,
        dio_interval_doublings: 8,
        dio_redundancy: 10,
        default_lifetime: 30,
        lifetime_unit_s: 60,
        min_hop_rank_increase: 256,
        max_rank_increase: 1792,
        prefix: a("fd00:aaaa::"),
        valid_lifetime_s: 86_400,
        preferred_lifetime_s: 14_400,
        max_routes: 4,
        mode_of_operation: control::MOP_NON_STORING,
        source_routing: SourceRouteForm::Rfc6554,
    }
}

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn mote(n: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0xaaaa, 0, 0, 0x212, 0x4b00, 0, u16::from(n))
}

const LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x212, 0x4b00, 0, 0xff01);

/// The RPL message an IPv6 packet carries (checksum verified).
fn control_of(packet: &[u8]) -> RplControl {
    let ip = Ipv6Packet::new_checked(packet).unwrap();
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    match Icmpv6Repr::parse(&ip.src_addr(), &ip.dst_addr(), &icmp).unwrap() {
        Icmpv6Repr::Unknown {
            msg_type: 155,
            msg_code,
            body,
        } => RplControl::parse(msg_code, body).unwrap(),
        other => panic!("not RPL: {other:?}"),
    }
}

fn dao(target: Ipv6Addr, parent: Ipv6Addr, lifetime: u8, seq: u8) -> Vec<u8> {
    RplControl::Dao(Dao {
        instance: 0x1e,
        ack_requested: true,
        dodag_id: None,
        sequence: seq,
        options: vec![
            RplOption::Target {
                prefix_len: 128,
                prefix: target,
            },
            RplOption::Transit {
                external: false,
                path_control: 0,
                path_sequence: seq,
                path_lifetime: lifetime,
                parent: Some(parent),
            },
        ],
    })
    .body()
}

#[test]
fn dios_follow_trickle_and_carry_the_prefix_and_configuration() {
    let t0 = Instant::now();
    let mut root = RplRoot::new(settings(), t0, 1);
    let first = root.poll_timeout();
    assert!(first >= t0 + Duration::from_millis(2048) && first < t0 + Duration::from_millis(4096));
    let mut dios = Vec::new();
    let mut now = t0;
    while now < t0 + Duration::from_secs(60) {
        now = root.poll_timeout();
        if let Some(p) = root.handle_timeout(now, LL) {
            dios.push((now, p));
        }
    }
    // Imin 4.096 s doubling: 4, 8, 16, 32 s intervals fit about four DIOs in a minute.
    assert!((3..=5).contains(&dios.len()), "{}", dios.len());
    let (_, p) = &dios[0];
    let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (LL, ALL_RPL_NODES));
    let RplControl::Dio(dio) = control_of(p) else {
        panic!("a DIO")
    };
    assert_eq!(
        (dio.instance, dio.version, dio.rank, dio.mode_of_operation),
        (0x1e, 240, 256, 1)
    );
    assert!(dio.grounded);
    assert!(matches!(
        dio.options[1],
        RplOption::PrefixInfo(PrefixInfo {
            prefix_len: 64,
            autonomous: true,
            ..
        })
    ));
    assert!(matches!(
        dio.options[0],
        RplOption::DodagConfig(DodagConfig {
            dio_interval_min: 12,
            default_lifetime: 30,
            ..
        })
    ));
    assert_eq!(root.counters().dio_sent, dios.len() as u64);
}

#[test]
fn dis_unicast_gets_a_dio_and_multicast_resets_trickle() {
    let t0 = Instant::now();
    let mut root = RplRoot::new(settings(), t0, 1);
    let dis = RplControl::Dis { options: vec![] }.body();
    let from = a("fe80::212:4b00:0:2");
    let out = root.handle_control(t0, from, LL, 0, &dis, LL).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        Ipv6Packet::new_checked(&out[0][..]).unwrap().dst_addr(),
        from
    );
    assert!(matches!(control_of(&out[0]), RplControl::Dio(_)));
    // Let the interval grow, then a multicast DIS brings it back to Imin.
    let mut now = t0;
    for _ in 0..6 {
        now = root.poll_timeout();
        root.handle_timeout(now, LL);
    }
    assert!(root.trickle.interval() > Duration::from_millis(4096));
    assert_eq!(
        root.handle_control(now, from, ALL_RPL_NODES, 0, &dis, LL)
            .unwrap(),
        Vec::<Vec<u8>>::new()
    );
    assert_eq!(root.trickle.interval(), Duration::from_millis(4096));
    assert_eq!(root.counters().dis_received, 2);
    // Garbage is an error, never a panic.
    assert_eq!(
        root.handle_control(now, from, LL, 1, &[1, 2], LL),
        Err(RplDrop::Malformed(RplError::Truncated))
    );
}

#[test]
fn daos_build_source_routes_with_lifetimes_and_are_acknowledged() {
    let t0 = Instant::now();
    let mut s = settings();
    s.max_routes = 3;
    let root_addr = s.dodag_id;
    let mut root = RplRoot::new(s, t0, 1);
    // 1 is the root's child, 2 is 1's child, 3 is 2's child.
    for (t, p) in [(mote(1), root_addr), (mote(2), mote(1)), (mote(3), mote(2))] {
        let out = root
            .handle_control(t0, t, root_addr, 2, &dao(t, p, 2, 240), LL)
            .unwrap();
        let RplControl::DaoAck(ack) = control_of(&out[0]) else {
            panic!("a DAO-ACK")
        };
        assert_eq!((ack.sequence, ack.status), (240, 0));
        let ip = Ipv6Packet::new_checked(&out[0][..]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (root_addr, t));
    }
    assert_eq!(root.path(&mote(3)), Some(vec![mote(1), mote(2), mote(3)]));
    assert_eq!(root.path(&mote(1)), Some(vec![mote(1)]));
    // The table is full: a fourth target is refused with a rejecting status.
    let out = root
        .handle_control(
            t0,
            mote(4),
            root_addr,
            2,
            &dao(mote(4), root_addr, 2, 240),
            LL,
        )
        .unwrap();
    let RplControl::DaoAck(ack) = control_of(&out[0]) else {
        panic!("a DAO-ACK")
    };
    assert!(ack.status >= 128);
    assert_eq!(root.path(&mote(4)), None);
    // Another instance is not ours.
    let mut other = dao(mote(4), root_addr, 2, 240);
    other[0] = 7;
    assert_eq!(
        root.handle_control(t0, mote(4), root_addr, 2, &other, LL),
        Err(RplDrop::OtherDodag)
    );
    // A No-Path DAO (lifetime 0) removes the route; the others expire after 2 x 60 s.
    root.handle_control(
        t0,
        mote(3),
        root_addr,
        2,
        &dao(mote(3), mote(2), 0, 241),
        LL,
    )
    .unwrap();
    assert_eq!(root.path(&mote(3)), None);
    assert!(root.poll_timeout() <= t0 + Duration::from_secs(120));
    root.handle_timeout(t0 + Duration::from_secs(121), LL);
    assert_eq!(root.path(&mote(2)), None);
    assert_eq!(root.counters().routes_expired, 2);
}

#[test]
fn downward_packets_get_a_source_routing_header_and_upward_ones_lose_rpl_headers() {
    let mut root = RplRoot::new(settings(), Instant::now(), 1);
    let internet = a("2001:db8::1");
    let p = UdpRepr {
        src_port: 40000,
        dst_port: 7000,
        payload: b"hello",
    }
    .emit_ipv6_packet(internet, mote(3), 64)
    .unwrap();
    let routed = root.source_route(&p, &[mote(1), mote(2), mote(3)]).unwrap();
    let ip = Ipv6Packet::new_checked(&routed[..]).unwrap();
    assert!(ip.is_exact());
    assert_eq!((ip.dst_addr(), ip.next_header()), (mote(1), 43));
    let srh = SrhRepr::parse(ip.payload(), &mote(1)).unwrap();
    assert_eq!(
        srh,
        SrhRepr {
            next_header: 17,
            segments_left: 2,
            addresses: vec![mote(2), mote(3)]
        }
    );
    // The UDP datagram is untouched (its checksum covers the final destination).
    assert_eq!(&routed[routed.len() - 13..], &p[40..]);
    assert_eq!(
        root.source_route(&p, &[mote(3)]),
        None,
        "one hop needs no header"
    );

    // Upward: a hop-by-hop RPL option and a spent routing header are removed...
    let mut up = UdpRepr {
        src_port: 7000,
        dst_port: 40000,
        payload: b"hi",
    }
    .emit_ipv6_packet(mote(3), internet, 64)
    .unwrap();
    let hbh = RplOptionRepr {
        instance: 0x1e,
        sender_rank: 768,
        ..Default::default()
    }
    .hop_by_hop(17);
    let mut with_hbh = up[..40].to_vec();
    with_hbh.extend_from_slice(&hbh);
    with_hbh.extend_from_slice(&up[40..]);
    with_hbh[6] = 0;
    with_hbh[5] += 8;
    assert_eq!(strip_for_tun(with_hbh.clone(), |_| false), up);
    // ...and a tunnel to the root is opened.
    let tunnel = lowpan::Ipv6Repr::new(
        mote(3),
        root.settings().dodag_id,
        lowpan::NextHeader::Ipv6,
        64,
        0,
    )
    .emit_packet(with_hbh.len(), |b| b.copy_from_slice(&with_hbh))
    .unwrap();
    assert_eq!(strip_for_tun(tunnel.clone(), |x| root.is_root(x)), up);
    assert_eq!(
        strip_for_tun(tunnel.clone(), |_| false),
        tunnel,
        "a tunnel to someone else stays"
    );
    // A router alert is not RPL's: kept.
    up[6] = 0;
    let mut alert = up[..40].to_vec();
    alert.extend_from_slice(&[17, 0, 5, 2, 0, 0, 1, 0]);
    alert.extend_from_slice(&up[40..]);
    alert[5] += 8;
    assert_eq!(strip_for_tun(alert.clone(), |_| false), alert);
}

/// With `source_routing = "rfc8138"` a downward packet goes whole into a tunnel from the
/// root (RPL option down, our rank, the hops after the first in a routing header), which
/// the encoder sends as page-1 6LoRHs, and the DIO carries RFC 9035's T flag.
#[test]
fn rfc8138_packets_are_tunnelled_from_the_root_and_the_dio_says_so() {
    let mut root = RplRoot::new(
        RplSettings {
            source_routing: SourceRouteForm::Rfc8138,
            ..settings()
        },
        Instant::now(),
        1,
    );
    let RplControl::Dio(dio) = root.dio() else {
        panic!("not a DIO")
    };
    assert!(matches!(
        dio.options[0],
        RplOption::DodagConfig(DodagConfig {
            rfc8138_compression: true,
            ..
        })
    ));
    let RplControl::Dio(plain) = RplRoot::new(settings(), Instant::now(), 1).dio() else {
        panic!("not a DIO")
    };
    assert!(matches!(
        plain.options[0],
        RplOption::DodagConfig(DodagConfig {
            rfc8138_compression: false,
            ..
        })
    ));

    let p = UdpRepr {
        src_port: 40000,
        dst_port: 7000,
        payload: b"hello",
    }
    .emit_ipv6_packet(a("2001:db8::1"), mote(3), 63)
    .unwrap();
    let t = root.tunnel(&p, &[mote(1), mote(2), mote(3)]).unwrap();
    let ip = Ipv6Packet::new_checked(&t[..]).unwrap();
    assert!(ip.is_exact());
    assert_eq!(
        (
            ip.src_addr(),
            ip.dst_addr(),
            ip.next_header(),
            ip.hop_limit()
        ),
        (a("fd00:aaaa::1"), mote(1), 0, 64)
    );
    let hbh = &t[40..48];
    let rpi = RplOptionRepr::find_in(hbh).unwrap().unwrap();
    assert_eq!(
        rpi,
        RplOptionRepr {
            down: true,
            instance: 0x1e,
            sender_rank: 256,
            ..Default::default()
        }
    );
    let srh = SrhRepr::parse(&t[48..t.len() - p.len()], &mote(1)).unwrap();
    assert_eq!(
        srh,
        SrhRepr {
            next_header: 41,
            segments_left: 2,
            addresses: vec![mote(2), mote(3)]
        }
    );
    assert_eq!(
        &t[t.len() - p.len()..],
        &p[..],
        "the inner packet is untouched"
    );
    assert_eq!(
        root.tunnel(&p, &[mote(3)]),
        None,
        "a child of the root needs no tunnel"
    );

    let mut enc = lowpan::Encoder::new(lowpan::ContextTable::with_prefix(a("fd00:aaaa::"), 64));
    let links = lowpan::LinkAddrs {
        src: lowpan::Address::Extended(lowpan::Eui64([0, 0x12, 0x4b, 0, 0, 0, 0xff, 1])),
        dst: lowpan::Address::Extended(lowpan::Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1])),
    };
    let payloads = enc
        .encode_rfc8138(&t, links, 104, root.settings().dodag_id)
        .unwrap();
    assert_eq!(payloads.len(), 1);
    // Page 1, then the IP-in-IP 6LoRH with the root elided as encapsulator.
    assert_eq!(
        payloads[0][..4],
        [
            lowpan::rpl::lorh::PAGE_1,
            0xa1,
            lowpan::rpl::lorh::TYPE_IP_IN_IP,
            64
        ]
    );
}

/// A DAO as RIOT's gnrc_rpl sends it whatever the DODAG's mode: to its parent's link-local
/// address, its own target first, then those of its children, and transit information
/// without a parent address.
fn storing_dao(targets: &[Ipv6Addr], seq: u8) -> Vec<u8> {
    let mut options: Vec<RplOption> = targets
        .iter()
        .map(|t| RplOption::Target {
            prefix_len: 128,
            prefix: *t,
        })
        .collect();
    options.push(transit_without_parent());
    RplControl::Dao(Dao {
        instance: 0x1e,
        ack_requested: true,
        dodag_id: None,
        sequence: seq,
        options,
    })
    .body()
}

fn transit_without_parent() -> RplOption {
    RplOption::Transit {
        external: false,
        path_control: 0,
        path_sequence: 0,
        path_lifetime: 2,
        parent: None,
    }
}

#[test]
fn a_storing_mode_dao_from_a_neighbour_routes_its_children_through_it_unchanged() {
    let t0 = Instant::now();
    let mut root = RplRoot::new(settings(), t0, 1);
    let router_ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x212, 0x4b00, 0, 1);
    let out = root
        .handle_control(
            t0,
            router_ll,
            LL,
            2,
            &storing_dao(&[mote(1), mote(2)], 7),
            LL,
        )
        .unwrap();
    let RplControl::DaoAck(ack) = control_of(&out[0]) else {
        panic!("a DAO-ACK")
    };
    assert_eq!((ack.sequence, ack.status), (7, 0));
    // The sender (the target with its link-local interface identifier) is the root's
    // child; the other target is reached through it.
    assert_eq!(root.path(&mote(1)), Some(vec![mote(1)]));
    assert_eq!(root.path(&mote(2)), Some(vec![mote(1), mote(2)]));
    // The sender forwards by its own route: no source routing header.
    let packet = UdpRepr {
        src_port: 40000,
        dst_port: 7,
        payload: b"hi",
    }
    .emit_ipv6_packet(a("2001:db8::2"), mote(2), 64)
    .unwrap();
    assert_eq!(root.source_route(&packet, &[mote(1), mote(2)]), None);
    // The sender's own target may sit under another transit option than its child's.
    let options = vec![
        RplOption::Target {
            prefix_len: 128,
            prefix: mote(1),
        },
        transit_without_parent(),
        RplOption::Target {
            prefix_len: 128,
            prefix: mote(4),
        },
        transit_without_parent(),
    ];
    let split = RplControl::Dao(Dao {
        instance: 0x1e,
        ack_requested: false,
        dodag_id: None,
        sequence: 9,
        options,
    });
    root.handle_control(t0, router_ll, LL, 2, &split.body(), LL)
        .unwrap();
    assert_eq!(root.path(&mote(4)), Some(vec![mote(1), mote(4)]));
    // Without a target of its own, the targets are reached through the link-local sender.
    let other_ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x212, 0x4b00, 0, 9);
    root.handle_control(t0, other_ll, LL, 2, &storing_dao(&[mote(3)], 8), LL)
        .unwrap();
    assert_eq!(root.path(&mote(3)), Some(vec![other_ll, mote(3)]));
    assert_eq!(root.source_route(&packet, &[other_ll, mote(3)]), None);
}

#[test]
fn a_storing_root_announces_mop_2() {
    let t0 = Instant::now();
    let mut s = settings();
    s.mode_of_operation = control::MOP_STORING;
    let mut root = RplRoot::new(s, t0, 1);
    let dis = RplControl::Dis {
        options: Vec::new(),
    }
    .body();
    let out = root
        .handle_control(t0, LL, a("fe80::1"), 0, &dis, a("fe80::1"))
        .unwrap();
    let RplControl::Dio(dio) = control_of(&out[0]) else {
        panic!("a DIO")
    };
    assert_eq!(dio.mode_of_operation, control::MOP_STORING);
}
