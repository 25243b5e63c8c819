//! End to end through the real binary, in a private network namespace: a fake slip-radio on
//! TCP answers `?M`/`!S`, a UDP socket on the host side talks to a configured mote through
//! the TUN, the radio connection is dropped and must come back, metrics are served, SIGTERM
//! ends the daemon cleanly and leaves a readable pcap.
//!
//! Needs root and /dev/net/tun: skipped with a printed reason otherwise, except with
//! CI=true, where a missing privilege is a failure. Timeouts only bound waiting.

use std::io::Read;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lowpan::ieee802154::{self as mac, FrameRepr};
use lowpan::ip::{self, Ipv6Packet, UdpPacket};
use lowpan::iphc::ContextTable;
use lowpan::{Address, Eui64, LinkAddrs, Prefix64, UdpRepr};
use slip::codec::{SlipDecoder, encode_frame_with_leading_end};
use slip::slip_radio::{HostMessage, RadioMessage, TxStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const BIN: &str = env!("CARGO_BIN_EXE_lowpan-br");
const RADIO: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x01]);
const MOTE: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x02]);
const PAN: u16 = 0xabcd;
const WAIT: Duration = Duration::from_secs(20);

use test_support::require_root;

fn prefix() -> Ipv6Addr {
    "fd00:aaaa::".parse().unwrap()
}

fn mote_global() -> Ipv6Addr {
    Prefix64::of(&prefix()).with_iid(ip::iid_from_eui64(MOTE))
}

/// Kills the daemon if the test ends early.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// One connection of the fake slip-radio.
struct FakeRadio {
    stream: TcpStream,
    decoder: SlipDecoder,
    reassembler: lowpan::Reassembler,
    mac_sent: bool,
}

impl FakeRadio {
    fn new(stream: TcpStream) -> Self {
        FakeRadio {
            stream,
            decoder: SlipDecoder::new(2048),
            reassembler: lowpan::Reassembler::new(ContextTable::with_prefix(prefix(), 64)),
            mac_sent: false,
        }
    }

    async fn write_msg(&mut self, m: &RadioMessage) {
        let mut out = Vec::new();
        encode_frame_with_leading_end(&m.to_bytes(), &mut out);
        self.stream.write_all(&out).await.unwrap();
    }

    /// Serve the host until a whole IPv6 packet was transmitted to the mote; answers `?M`,
    /// `!V` and `!S` like the firmware does.
    async fn next_packet(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "lowpan-br closed the radio connection");
            let mut payloads = Vec::new();
            self.decoder
                .push(&buf[..n], &mut |p: &[u8]| payloads.push(p.to_vec()));
            let mut done = None;
            for p in payloads {
                match HostMessage::parse(&p) {
                    Ok(HostMessage::GetMac) => {
                        self.write_msg(&RadioMessage::Mac(RADIO)).await;
                        self.mac_sent = true;
                    }
                    Ok(HostMessage::SetParam { .. }) => {
                        self.write_msg(&RadioMessage::UnknownCommand).await
                    }
                    Ok(HostMessage::GetParam { param }) => {
                        self.write_msg(&RadioMessage::Param { param, value: 0 })
                            .await
                    }
                    Ok(HostMessage::Send { sid, frame, .. }) => {
                        self.write_msg(&RadioMessage::TxResult {
                            sid,
                            status: TxStatus::Ok,
                            transmissions: 1,
                        })
                        .await;
                        let (repr, payload) =
                            mac::parse_frame(&frame).expect("a valid 802.15.4 frame");
                        assert!(frame.len() <= mac::MAX_FRAME_NO_FCS);
                        assert_eq!(
                            repr.src_addr,
                            Address::Extended(RADIO),
                            "our EUI-64 from !M is the source"
                        );
                        if repr.dst_addr != Address::Extended(MOTE) {
                            continue; // e.g. multicast the kernel sends on its own
                        }
                        assert!(repr.ack_request);
                        let links = LinkAddrs {
                            src: repr.src_addr,
                            dst: repr.dst_addr,
                        };
                        if let Ok(Some(p)) = self.reassembler.accept(Instant::now(), links, payload)
                        {
                            done = Some(p);
                        }
                    }
                    Err(e) => {
                        panic!("lowpan-br sent something that is not a slip-radio command: {e:?}")
                    }
                }
            }
            if let Some(p) = done {
                return p;
            }
        }
    }

    /// Send a UDP datagram from the mote's global address to `dst`.
    async fn mote_sends(&mut self, dst: SocketAddr, payload: &[u8]) {
        self.mote_sends_from(mote_global(), dst, payload).await
    }

    /// Send a UDP datagram from the mote's address `src` to `dst`.
    async fn mote_sends_from(&mut self, src: Ipv6Addr, dst: SocketAddr, payload: &[u8]) {
        let SocketAddr::V6(dst) = dst else { panic!() };
        let p = UdpRepr {
            src_port: 7,
            dst_port: dst.port(),
            payload,
        }
        .emit_ipv6_packet(src, *dst.ip(), 64)
        .unwrap();
        let mut enc = lowpan::Encoder::new(ContextTable::with_prefix(prefix(), 64));
        let links = LinkAddrs {
            src: Address::Extended(MOTE),
            dst: Address::Extended(RADIO),
        };
        let header = FrameRepr::data(PAN, links.src, links.dst, 0, true);
        for (i, payload) in enc
            .encode(&p, links, mac::max_frame_payload(&header))
            .unwrap()
            .iter()
            .enumerate()
        {
            let frame = mac::build_data_frame(
                &FrameRepr {
                    sequence_number: 100 + i as u8,
                    ..header
                },
                payload,
            );
            self.write_msg(&RadioMessage::Frame(frame)).await;
        }
    }
}

/// Send `payload` from the host to the mote's UDP port 7 until the fake radio sees it.
async fn host_to_mote(sock: &UdpSocket, radio: &mut FakeRadio, payload: &[u8]) {
    let dst = SocketAddr::new(mote_global().into(), 7);
    let got = tokio::time::timeout(WAIT, async {
        loop {
            // Before `!M` the daemon drops what it cannot frame: resend until it arrives.
            sock.send_to(payload, dst).await.unwrap();
            let r = tokio::time::timeout(Duration::from_millis(500), radio.next_packet()).await;
            if let Ok(p) = r {
                return p;
            }
        }
    })
    .await
    .expect("the packet reached the radio");
    let v = Ipv6Packet::new_checked(&got[..]).unwrap();
    assert_eq!(v.dst_addr(), mote_global());
    assert_eq!(v.src_addr(), "fd00:aaaa::1".parse::<Ipv6Addr>().unwrap());
    let udp = UdpPacket::new_checked(v.payload()).unwrap();
    assert_eq!(udp.payload(), payload);
    assert!(ip::verify_checksum(
        &v.src_addr(),
        &v.dst_addr(),
        17,
        v.payload()
    ));
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

async fn scenario(dir: &Path) {
    let radio_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let radio_addr = radio_listener.local_addr().unwrap();
    let metrics_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let pcap = dir.join("radio.pcap");
    let cfg = dir.join("lowpan-br.toml");
    std::fs::write(
        &cfg,
        format!(
            "[radio]\nkind = \"tcp\"\naddress = \"{radio_addr}\"\nreconnect_min_ms = 50\nreconnect_max_ms = 200\n\
             [tun]\nname = \"lpbrtest0\"\n\
             [[mote]]\neui64 = \"{MOTE}\"\nname = \"m2\"\n\
             [capture]\npcap = \"{}\"\nflush_interval_ms = 100\n\
             [metrics]\nlisten = \"{metrics_addr}\"\n[log]\nlevel = \"debug\"\n",
            pcap.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("lowpan-br.log")).unwrap();
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start lowpan-br");
    let mut daemon = Daemon(child);

    let (stream, _) = tokio::time::timeout(WAIT, radio_listener.accept())
        .await
        .expect("lowpan-br connects")
        .unwrap();
    let mut radio = FakeRadio::new(stream);

    // The host address appears on the TUN once netlink configuration is done.
    let sock = tokio::time::timeout(WAIT, async {
        loop {
            match UdpSocket::bind("[fd00:aaaa::1]:0").await {
                Ok(s) => return s,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("fd00:aaaa::1 configured on the TUN");

    // Host -> mote, with fragmentation.
    host_to_mote(&sock, &mut radio, &[0x5a; 400]).await;
    assert!(radio.mac_sent);

    // The TUN carries the border router's link-local address, the one derived from the
    // EUI-64 the radio reported (fe80::212:4b00:0:1), and no other link-local one.
    let own_ll = ip::link_local_from_eui64(RADIO);
    let scope = nix::net::if_::if_nametoindex("lpbrtest0").unwrap();
    let ll_sock = tokio::time::timeout(WAIT, async {
        loop {
            match UdpSocket::bind(SocketAddrV6::new(own_ll, 0, 0, scope)).await {
                Ok(s) => return s,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("the border router's link-local address on the TUN");
    let shown = Command::new("ip")
        .args(["-6", "addr", "show", "dev", "lpbrtest0", "scope", "link"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert_eq!(shown.matches("inet6 fe80:").count(), 1, "{shown}");
    assert!(shown.contains(&format!("inet6 {own_ll}/64")), "{shown}");
    // Host -> mote's link-local address: it leaves from ours, which the frame's source
    // address elides (RFC 6282 SAM=11).
    let mote_ll = ip::link_local_from_eui64(MOTE);
    ll_sock
        .send_to(b"link-local", SocketAddrV6::new(mote_ll, 7, 0, scope))
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, radio.next_packet())
        .await
        .expect("the link-local packet reached the radio");
    let v = Ipv6Packet::new_checked(&got[..]).unwrap();
    assert_eq!((v.src_addr(), v.dst_addr()), (own_ll, mote_ll));
    // Mote -> our link-local address: the host's socket gets it.
    radio
        .mote_sends_from(
            mote_ll,
            ll_sock.local_addr().unwrap(),
            b"to the router's link-local",
        )
        .await;
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, ll_sock.recv_from(&mut buf))
        .await
        .expect("link-local reply")
        .unwrap();
    assert_eq!(&buf[..n], b"to the router's link-local");
    assert_eq!(
        from,
        SocketAddr::V6(SocketAddrV6::new(mote_ll, 7, 0, scope))
    );

    // Mote -> host.
    radio
        .mote_sends(sock.local_addr().unwrap(), b"pong from the mote")
        .await;
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .expect("reply through the TUN")
        .unwrap();
    assert_eq!(&buf[..n], b"pong from the mote");
    assert_eq!(from, SocketAddr::new(mote_global().into(), 7));

    // The radio goes away and comes back: the daemon reconnects, asks ?M again, traffic resumes.
    drop(radio);
    let (stream, _) = tokio::time::timeout(WAIT, radio_listener.accept())
        .await
        .expect("lowpan-br reconnects")
        .unwrap();
    let mut radio = FakeRadio::new(stream);
    host_to_mote(&sock, &mut radio, b"after reconnect").await;
    assert!(radio.mac_sent, "?M is asked again after a reconnect");

    // Metrics.
    let text = http_get(metrics_addr, "/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let m = ops::metrics::parse(body).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        m.get("lowpan_br_tun_tx_packets_total"),
        Some(&2.0),
        "{text}"
    );
    assert_eq!(m.get("lowpan_br_radio_ready"), Some(&1.0), "{text}");
    assert!(
        m.keys()
            .any(|k| k.starts_with("lowpan_br_mote_frames_total{") && k.contains("name=\"m2\"")),
        "{text}"
    );
    assert!(
        http_get(metrics_addr, "/nope")
            .await
            .starts_with("HTTP/1.1 404")
    );

    // Clean shutdown.
    let pid = nix::unistd::Pid::from_raw(daemon.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(s) = daemon.0.try_wait().unwrap() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("lowpan-br exits after SIGTERM");
    let mut log = String::new();
    std::fs::File::open(dir.join("lowpan-br.log"))
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "exit status {status}; log:\n{log}");
    assert!(log.contains("final counters"), "{log}");

    // The capture holds frames both ways, all readable as 802.15.4.
    let bytes = std::fs::read(&pcap).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    assert_eq!(
        reader.header().datalink,
        pcap_file::DataLink::IEEE802_15_4_NOFCS
    );
    let (mut to_mote, mut from_mote) = (0, 0);
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        let (repr, _) = mac::parse_frame(&p.data).unwrap();
        if repr.src_addr == Address::Extended(MOTE) {
            from_mote += 1;
        }
        if repr.dst_addr == Address::Extended(MOTE) {
            to_mote += 1;
        }
    }
    assert!(
        to_mote >= 5,
        "fragments of the 448-byte packet and the second packet: {to_mote}"
    );
    assert!(from_mote >= 1);
}

#[test]
fn daemon_bridges_tun_and_tcp_radio_in_a_private_netns() {
    if !require_root("daemon_bridges_tun_and_tcp_radio_in_a_private_netns") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    // A network namespace of its own for this thread (and the processes it starts), so the
    // TUN, its address and route never touch the machine's network.
    let result = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        let st = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("run ip");
        assert!(st.success(), "ip link set lo up");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(scenario(&path));
    })
    .join();
    if result.is_err() {
        let log = std::fs::read_to_string(dir.path().join("lowpan-br.log")).unwrap_or_default();
        eprintln!("lowpan-br log:\n{log}");
        panic!("scenario failed");
    }
}
