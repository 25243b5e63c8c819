//! Starts the real `motesim` binary and talks to it as a border router would: SLIP,
//! slip-radio messages and 6LoWPAN from the team's crates, over TCP and over a pty. A
//! generous deadline only guards against hanging; nothing here asserts on timing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lowpan::ieee802154::{self, Address, Eui64, FrameRepr};
use lowpan::ip::{self, Ipv6Packet};
use lowpan::{ContextTable, Encoder, Icmpv6Repr, LinkAddrs, Prefix64, Reassembler};
use slip::codec::{SlipDecoder, encode_frame};
use slip::slip_radio::{HostMessage, RadioMessage, TxStatus};

const RADIO: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0xff, 0x01]);
const MOTE1: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x01]);
const GUARD: Duration = Duration::from_secs(30);

fn prefix() -> Ipv6Addr {
    "fd00:aaaa::".parse().unwrap()
}

fn mote1_global() -> Ipv6Addr {
    Prefix64::of(&prefix()).with_iid(ip::iid_from_eui64(MOTE1))
}

/// The child process, killed with SIGTERM (so it writes its stats) when dropped.
struct Motesim {
    child: Child,
    stdout: mpsc::Receiver<String>,
}

impl Motesim {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_motesim"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn motesim");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Motesim { child, stdout: rx }
    }

    /// The first stdout line starting with `prefix`.
    fn line(&self, prefix: &str) -> String {
        let end = Instant::now() + GUARD;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let l = self
                .stdout
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no '{prefix}' line from motesim"));
            if l.starts_with(prefix) {
                return l;
            }
        }
    }

    fn stop(&mut self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Motesim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A border router's end of the serial line.
struct Host<W: Write> {
    writer: W,
    chunks: mpsc::Receiver<Vec<u8>>,
    decoder: SlipDecoder,
    pending: std::collections::VecDeque<RadioMessage>,
    encoder: Encoder,
    reassembler: Reassembler,
    seq: u8,
}

impl<W: Write> Host<W> {
    fn new<R: Read + Send + 'static>(mut reader: R, mut writer: W) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        // One END flushes the radio's receiver, as real hosts do.
        writer.write_all(&[slip::codec::END]).unwrap();
        let ctx = ContextTable::with_prefix(prefix(), 64);
        Host {
            writer,
            chunks: rx,
            decoder: SlipDecoder::new(4096),
            pending: Default::default(),
            encoder: Encoder::new(ctx.clone()),
            reassembler: Reassembler::new(ctx),
            seq: 0,
        }
    }

    fn send(&mut self, msg: &HostMessage) {
        let mut bytes = Vec::new();
        encode_frame(&msg.to_bytes(), &mut bytes);
        self.writer.write_all(&bytes).unwrap();
    }

    /// The next message from the radio (garbage-tolerant: unparseable frames skipped).
    fn next(&mut self) -> RadioMessage {
        let end = Instant::now() + GUARD;
        loop {
            if let Some(m) = self.pending.pop_front() {
                return m;
            }
            let left = end.saturating_duration_since(Instant::now());
            let chunk = self.chunks.recv_timeout(left).expect("radio went quiet");
            let pending = &mut self.pending;
            self.decoder.push(&chunk, &mut |f: &[u8]| {
                if let Ok(m) = RadioMessage::parse(f) {
                    pending.push_back(m);
                }
            });
        }
    }

    fn get_mac(&mut self) -> Eui64 {
        self.send(&HostMessage::GetMac);
        loop {
            if let RadioMessage::Mac(e) = self.next() {
                return e;
            }
        }
    }

    /// Compress, fragment and send a packet to `to`; returns the number of frames.
    fn send_packet(&mut self, packet: &[u8], to: Eui64, max_tx: Option<u8>) -> usize {
        let src = Address::Extended(RADIO);
        let dst = Address::Extended(to);
        let room = ieee802154::max_frame_payload(&FrameRepr::data(0xabcd, src, dst, 0, true));
        let payloads = self
            .encoder
            .encode(packet, LinkAddrs { src, dst }, room)
            .unwrap();
        for (i, p) in payloads.iter().enumerate() {
            self.seq = self.seq.wrapping_add(1);
            let frame =
                ieee802154::build_data_frame(&FrameRepr::data(0xabcd, src, dst, self.seq, true), p);
            // At most 8 outstanding: the emulated radio has 8 buffers, as the real one.
            self.send(&HostMessage::Send {
                sid: (i % 16) as u8,
                max_tx,
                frame,
            });
            if i % 4 == 3 {
                self.wait_results(4);
            }
        }
        payloads.len()
    }

    /// Wait for `n` `!R` results (all OK); other messages stay queued in order.
    fn wait_results(&mut self, n: usize) {
        let mut other = std::collections::VecDeque::new();
        let mut got = 0;
        while got < n {
            match self.next() {
                RadioMessage::TxResult { status, .. } => {
                    assert_eq!(status, TxStatus::Ok);
                    got += 1;
                }
                m => other.push_back(m),
            }
        }
        other.extend(self.pending.drain(..));
        self.pending = other;
    }

    /// Wait for an IPv6 packet from the motes that `want` accepts.
    fn wait_packet(&mut self, want: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        loop {
            if let RadioMessage::Frame(f) = self.next() {
                let Ok((repr, payload)) = ieee802154::parse_frame(&f) else {
                    continue;
                };
                let links = LinkAddrs {
                    src: repr.src_addr,
                    dst: repr.dst_addr,
                };
                if let Ok(Some(p)) = self.reassembler.accept(Instant::now(), links, payload)
                    && want(&p)
                {
                    return p;
                }
            }
        }
    }
}

fn echo_request(dst: Ipv6Addr, len: usize) -> Vec<u8> {
    let src: Ipv6Addr = "fd00:beef::2".parse().unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    let msg = Icmpv6Repr::EchoRequest {
        ident: 0x4242,
        seq_no: 1,
        data: &data,
    };
    msg.emit_ipv6_packet(src, dst, 64).unwrap()
}

fn is_echo_reply(p: &[u8], len: usize) -> bool {
    let Ok(v) = Ipv6Packet::new_checked(p) else {
        return false;
    };
    v.next_header() == 58
        && v.src_addr() == mote1_global()
        && v.payload().first() == Some(&129)
        && v.payload().len() == 8 + len
        && ip::verify_checksum(&v.src_addr(), &v.dst_addr(), 58, v.payload())
}

fn ping_mote1<W: Write>(host: &mut Host<W>, len: usize) {
    let frames = host.send_packet(&echo_request(mote1_global(), len), MOTE1, None);
    assert!(frames >= 1);
    host.wait_packet(|p| is_echo_reply(p, len));
}

#[test]
fn tcp_radio_answers_get_mac_and_ping() {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.json");
    let mut sim = Motesim::start(&[
        "--tcp-listen",
        "127.0.0.1:0",
        "--motes",
        "2",
        "--prefix",
        "fd00:aaaa::/64",
        "--seed",
        "7",
        "--unthrottled",
        "--stats-file",
        stats.to_str().unwrap(),
    ]);
    let line = sim.line("listening tcp ");
    let addr = line.trim_start_matches("listening tcp ").trim().to_string();
    let stream = TcpStream::connect(&addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut host = Host::new(stream.try_clone().unwrap(), stream);
    assert_eq!(host.get_mac(), RADIO);
    ping_mote1(&mut host, 16);
    ping_mote1(&mut host, 1232);
    // Something the radio does not know.
    host.writer.write_all(b"hello\xC0").unwrap();
    loop {
        if host.next() == RadioMessage::UnknownCommand {
            break;
        }
    }
    sim.stop();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(json["motes"][0]["echo_requests"], 2);
    assert_eq!(json["motes"][1]["echo_requests"], 0);
    assert!(json["motes"][0]["frames_out"].as_u64().unwrap() > 10);
    assert_eq!(json["radio"]["unknown_commands"], 1);
}

#[test]
fn pty_radio_answers_get_mac_and_ping() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("radio");
    let mut sim = Motesim::start(&[
        "--pty",
        link.to_str().unwrap(),
        "--motes",
        "1",
        "--prefix",
        "fd00:aaaa::/64",
        "--seed",
        "3",
    ]);
    sim.line("listening pty ");
    let port = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&link)
        .unwrap();
    let mut host = Host::new(port.try_clone().unwrap(), port);
    assert_eq!(host.get_mac(), RADIO);
    ping_mote1(&mut host, 32);
    sim.stop();
    assert!(!link.exists(), "symlink removed at exit");
}

#[test]
fn bad_command_line_is_refused_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_motesim"))
        .args(["--tcp-listen", "127.0.0.1:0", "--loss", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--loss"), "{err}");
}
