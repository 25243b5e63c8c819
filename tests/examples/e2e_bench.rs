//! End-to-end throughput of the border router: UDP echo traffic from an "internet" host
//! through the kernel, the TUN, `lowpan-br` and a TCP slip-radio link to `motesim` running
//! unthrottled (no modelled air time), and back.
//!
//! It reports frames per second each way and, because the machine's cores are shared by the
//! sender, the kernel, motesim and the border router, frames per CPU-second of `lowpan-br`
//! itself (its utime+stime from /proc): that is the "per core" figure.
//!
//! Run as root: `cargo run --release -p integration-tests --example e2e_bench -- [out.json] [seconds]`

use integration_tests::testbed::{Options, Testbed, mote_addr};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Run {
    label: &'static str,
    payload: usize,
    seconds: f64,
    sent: u64,
    echoed: u64,
    tx_frames: u64,
    rx_frames: u64,
    br_cpu_s: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).cloned();
    let seconds: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    if !nix::unistd::geteuid().is_root() {
        eprintln!("e2e_bench needs root (network namespaces and a TUN device)");
        std::process::exit(2);
    }
    let mut runs = Vec::new();
    for (label, payload) in [
        ("small (1 frame each way)", 64usize),
        ("1232-byte (14 fragments each way)", 1232),
    ] {
        runs.push(run(label, payload, seconds));
    }
    println!(
        "{:<36} {:>9} {:>12} {:>12} {:>14} {:>14}",
        "traffic", "echoes/s", "TUN->radio/s", "radio->TUN/s", "frames/CPU-s", "br CPU %"
    );
    let mut json = Vec::new();
    for r in &runs {
        let frames = (r.tx_frames + r.rx_frames) as f64;
        let per_cpu = if r.br_cpu_s > 0.0 {
            frames / r.br_cpu_s
        } else {
            0.0
        };
        println!(
            "{:<36} {:>9.0} {:>12.0} {:>12.0} {:>14.0} {:>13.0}%",
            r.label,
            r.echoed as f64 / r.seconds,
            r.tx_frames as f64 / r.seconds,
            r.rx_frames as f64 / r.seconds,
            per_cpu,
            100.0 * r.br_cpu_s / r.seconds
        );
        json.push(format!(
            "{{\"traffic\":\"{}\",\"udp_payload\":{},\"seconds\":{:.3},\"sent\":{},\"echoed\":{},\
             \"tun_to_radio_frames\":{},\"radio_to_tun_frames\":{},\"lowpan_br_cpu_seconds\":{:.3},\
             \"frames_per_lowpan_br_cpu_second\":{:.0}}}",
            r.label,
            r.payload,
            r.seconds,
            r.sent,
            r.echoed,
            r.tx_frames,
            r.rx_frames,
            r.br_cpu_s,
            per_cpu
        ));
    }
    let radio_frames_per_s = 250_000.0 / 8.0 / (127.0 + 6.0);
    println!(
        "(a 250 kbit/s radio carries at most {radio_frames_per_s:.0} full-size frames/s; figures are on {} cores shared by sender, kernel, motesim and lowpan-br)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if let Some(path) = out {
        let text = format!("{{\"benchmark\":\"e2e\",\"runs\":[{}]}}\n", json.join(","));
        std::fs::write(&path, text).expect("write results");
        println!("saved {path}");
    }
}

fn run(label: &'static str, payload: usize, seconds: f64) -> Run {
    let opts = Options {
        motes: 1,
        unthrottled: true,
        // Over TCP to an unthrottled emulator no serial-line pacing is needed, but the
        // emulated radio, like the real one, holds only 8 frames: more in flight earns
        // "queue full" and a back-off.
        radio_extra: "window = 6\nmin_gap_us = 0\nqueue_frames = 1024\n".into(),
        ..Options::default()
    };
    let mut bed = Testbed::start("e2e_bench", opts).expect("root");
    let pid = bed.border_router.pid().expect("lowpan-br pid");
    let dst = SocketAddr::new(mote_addr(1).into(), 7);
    // Warm up: the first packets wait for the route and neighbour state.
    assert!(
        bed.udp_request(dst, vec![0; 8], Duration::from_secs(3))
            .is_some(),
        "mote does not echo"
    );

    let cpu_before = cpu_seconds(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let echoed = Arc::new(AtomicU64::new(0));
    let (s2, e2, st2) = (sent.clone(), echoed.clone(), stop.clone());
    let started = Instant::now();
    bed.inet.enter(move || {
        let sock = std::net::UdpSocket::bind("[::]:0").expect("bind");
        sock.connect(dst).expect("connect");
        sock.set_read_timeout(Some(Duration::from_millis(1)))
            .expect("timeout");
        let recv_sock = sock.try_clone().expect("clone");
        let (e3, st3) = (e2.clone(), st2.clone());
        let receiver = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !st3.load(Ordering::Relaxed) {
                if recv_sock.recv(&mut buf).is_ok() {
                    e3.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let data = vec![0x5a; payload];
        // Keep a bounded number of datagrams outstanding so the TUN queue is not simply
        // overflowed: the offered load tracks what comes back.
        let window = 64;
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < deadline {
            if s2.load(Ordering::Relaxed) - e2.load(Ordering::Relaxed) < window {
                if sock.send(&data).is_ok() {
                    s2.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        st2.store(true, Ordering::Relaxed);
        receiver.join().expect("receiver");
    });
    let elapsed = started.elapsed().as_secs_f64();
    let br_cpu_s = cpu_seconds(pid) - cpu_before;
    let log = bed.border_router.stop();
    let (tx_frames, rx_frames) = final_frames(&log);
    Run {
        label,
        payload,
        seconds: elapsed,
        sent: sent.load(Ordering::Relaxed),
        echoed: echoed.load(Ordering::Relaxed),
        tx_frames,
        rx_frames,
        br_cpu_s,
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as f64,
        _ => 100.0,
    };
    // utime is field 14 and stime 15 of /proc/PID/stat; `rest` starts at field 3.
    (ticks(11) + ticks(12)) / hz
}

/// radio_tx_frames and radio_rx_frames from the daemon's "final counters" log line.
fn final_frames(log: &[String]) -> (u64, u64) {
    let line = log
        .iter()
        .rev()
        .find(|l| l.contains("final counters"))
        .cloned()
        .unwrap_or_default();
    let get = |key: &str| {
        line.split_whitespace()
            .find_map(|kv| {
                kv.strip_prefix(&format!("{key}="))
                    .or_else(|| kv.strip_prefix(&format!("counters={key}=")))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("radio_tx_frames"), get("radio_rx_frames"))
}
