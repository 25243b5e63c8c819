//! `lowpan-br` beside Contiki-NG's native border router (`border-router.native`, from
//! Contiki-NG's examples/rpl-border-router built with that project's own instructions, given
//! by path) on the same emulated radio: each border router in turn, alone in a fresh network
//! namespace, between a TUN and `motesim` acting as the slip-radio over TCP (unthrottled: no
//! modelled air time), one RPL mote behind it echoing UDP. Both are measured the same way:
//! frames each way from motesim's counters, the border router process's own CPU time
//! (utime + stime from /proc) and its resident memory.

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::sys::{Daemon, NetNs, binary, process_cpu, process_peak_rss, process_rss, unique};

/// The prefix both border routers announce (Contiki-NG's default, and its 6LoWPAN context 0).
const PREFIX: &str = "fd00::/64";
const BR_ADDR: &str = "fd00::1";
const RADIO_PORT: u16 = 60001;
const RADIO_EUI64: &str = "00:12:4b:00:00:00:ff:01";
const MOTE_EUI64: &str = "00:12:4b:00:00:00:00:01";
/// The motes' UDP echo service.
const ECHO_PORT: u16 = 7;
/// Datagrams in flight at once: the offered load follows what comes back.
const WINDOW: u64 = 64;

fn mote() -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, 0, 0, 0x0212, 0x4b00, 0, 1)
}

/// The two border routers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Router {
    LowpanBr,
    ContikiNg,
}

impl Router {
    pub fn as_str(self) -> &'static str {
        match self {
            Router::LowpanBr => "lowpan-br",
            Router::ContikiNg => "Contiki-NG border-router.native",
        }
    }
}

/// UDP payloads measured: one frame each way, and 1232 bytes (a 1280-byte IPv6 packet).
pub const PAYLOADS: [usize; 2] = [64, 1232];

/// One border router carrying one kind of traffic.
#[derive(Clone, Debug)]
pub struct Measured {
    pub router: Router,
    pub payload: usize,
    pub seconds: f64,
    pub sent: u64,
    pub echoed: u64,
    /// Frames the border router handed the radio (`!S`), and the radio handed it.
    pub frames_down: u64,
    pub frames_up: u64,
    pub cpu: Duration,
    pub rss: u64,
    pub peak_rss: u64,
}

impl Measured {
    pub fn frames_per_cpu_second(&self) -> f64 {
        let cpu = self.cpu.as_secs_f64();
        if cpu > 0.0 {
            (self.frames_down + self.frames_up) as f64 / cpu
        } else {
            0.0
        }
    }
}

/// Measures lowpan-br and, when given, Contiki-NG's border router: for each payload, one
/// after the other, `seconds` of traffic each.
pub fn compare(
    bins: &Path,
    contiki: Option<&Path>,
    seconds: f64,
    work: &Path,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for payload in PAYLOADS {
        for router in [Router::LowpanBr, Router::ContikiNg] {
            let program = match router {
                Router::LowpanBr => binary(bins, "lowpan-br")?,
                Router::ContikiNg => match contiki {
                    Some(p) => p.to_path_buf(),
                    None => continue,
                },
            };
            crate::sys::check_stop()?;
            let dir = work.join(format!("{}-{payload}", unique("cmp")));
            std::fs::create_dir_all(&dir)?;
            let m = measure(router, &program, bins, payload, seconds, &dir)
                .with_context(|| format!("{} with {payload}-byte datagrams", router.as_str()))?;
            eprintln!(
                "  {}, {payload}-byte UDP: {:.0} echoes/s, {} frames down, {} up, {:.2} CPU s: {:.0} frames per CPU-second",
                router.as_str(),
                m.echoed as f64 / m.seconds,
                m.frames_down,
                m.frames_up,
                m.cpu.as_secs_f64(),
                m.frames_per_cpu_second()
            );
            out.push(m);
        }
    }
    Ok(out)
}

fn measure(
    router: Router,
    program: &Path,
    bins: &Path,
    payload: usize,
    seconds: f64,
    dir: &Path,
) -> Result<Measured> {
    let ns = NetNs::new("lec")?;
    let stats = dir.join("motesim.json");
    let mut cmd = ns.command(binary(bins, "motesim")?);
    cmd.args(["--tcp-listen", &format!("127.0.0.1:{RADIO_PORT}")])
        .args(["--radio-eui64", RADIO_EUI64, "--mote-eui64", MOTE_EUI64])
        .args(["--seed", "1", "--unthrottled", "--rpl"])
        .args(["--stats-interval-ms", "100", "--stats-file"])
        .arg(&stats);
    let mut motesim = Daemon::spawn("motesim", cmd, &dir.join("motesim.log"))?;
    motesim.wait_for_line("listening", Duration::from_secs(20))?;
    let tun = unique("cbr");
    let border_router = match router {
        Router::LowpanBr => {
            let config = dir.join("lowpan-br.toml");
            std::fs::write(
                &config,
                format!(
                    "[radio]\nkind = \"tcp\"\naddress = \"127.0.0.1:{RADIO_PORT}\"\n\
                     window = 6\nmin_gap_us = 0\nqueue_frames = 1024\n\n\
                     [tun]\nname = \"{tun}\"\n\n\
                     [network]\nprefix = \"{PREFIX}\"\naddress = \"{BR_ADDR}\"\n\n\
                     [rpl]\nenabled = true\n\n\
                     [control]\nsocket = \"{}\"\n",
                    dir.join("control.sock").display()
                ),
            )?;
            let mut cmd = ns.command(program);
            cmd.arg("--config").arg(&config).env("RUST_LOG", "info");
            let mut d = Daemon::spawn("lowpan-br", cmd, &dir.join("lowpan-br.log"))?;
            d.wait_for_line("own link address", Duration::from_secs(30))?;
            d
        }
        Router::ContikiNg => {
            // -d=0: no pause between frames to the radio (its default is 10 ms per
            // fragment, a pacing for real serial lines), as lowpan-br's min_gap_us = 0.
            let mut cmd = ns.command(program);
            cmd.args([
                "-a",
                "127.0.0.1",
                "-p",
                &RADIO_PORT.to_string(),
                "-d=0",
                "-t",
            ])
            .arg(&tun)
            .arg(format!("{BR_ADDR}/64"))
            .current_dir(dir);
            let mut d = Daemon::spawn("border-router.native", cmd, &dir.join("contiki.log"))?;
            d.wait_for_line("Server IPv6 addresses", Duration::from_secs(30))?;
            // It configures its TUN with ifconfig; where that is missing, do it here.
            let _ = ns.ip(&["link", "set", &tun, "up"]);
            let _ = ns.ip(&["-6", "addr", "add", &format!("{BR_ADDR}/64"), "dev", &tun]);
            d
        }
    };
    let pid = border_router.pid().context("border router pid")?;
    let dst = SocketAddr::new(mote().into(), ECHO_PORT);
    // The mote joins the DODAG and its DAO builds the route: until then nothing comes back.
    let ready = in_ns(&ns, move || {
        let sock = UdpSocket::bind("[::]:0")?;
        sock.set_read_timeout(Some(Duration::from_secs(1)))?;
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            crate::sys::check_stop()?;
            let _ = sock.send_to(&[0; 8], dst);
            if sock.recv_from(&mut buf).is_ok() {
                return Ok(true);
            }
        }
        Ok(false)
    })?;
    if !ready {
        bail!(
            "the mote never answered through {} (logs in {})",
            router.as_str(),
            dir.display()
        );
    }
    let before = radio_counters(&stats, SystemTime::now())?;
    let cpu_before = process_cpu(pid)?;
    let started = Instant::now();
    let (sent, echoed) = in_ns(&ns, move || echo_traffic(dst, payload, seconds))?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu(pid)?.saturating_sub(cpu_before);
    let after = radio_counters(&stats, SystemTime::now())?;
    let (rss, peak_rss) = (process_rss(pid)?, process_peak_rss(pid)?);
    drop(border_router);
    drop(motesim);
    Ok(Measured {
        router,
        payload,
        seconds: elapsed,
        sent,
        echoed,
        frames_down: after.0.saturating_sub(before.0),
        frames_up: after.1.saturating_sub(before.1),
        cpu,
        rss,
        peak_rss,
    })
}

/// Runs `f` on a thread inside `ns` (its sockets live there).
fn in_ns<T: Send + 'static>(
    ns: &NetNs,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let path = format!("/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        use std::os::fd::AsFd;
        let file = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
        f()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("traffic thread panicked"))?
}

/// UDP echo traffic with at most [`WINDOW`] datagrams outstanding for `seconds`; returns
/// (sent, echoed).
fn echo_traffic(dst: SocketAddr, payload: usize, seconds: f64) -> Result<(u64, u64)> {
    let sock = UdpSocket::bind("[::]:0")?;
    sock.connect(dst)?;
    sock.set_read_timeout(Some(Duration::from_millis(1)))?;
    let receiver_sock = sock.try_clone()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, echoed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let receiver = {
        let (stop, echoed) = (stop.clone(), echoed.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if receiver_sock.recv(&mut buf).is_ok() {
                    echoed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let data = vec![0x5a; payload];
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline {
        if sent.load(Ordering::Relaxed) - echoed.load(Ordering::Relaxed) < WINDOW {
            if sock.send(&data).is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    // Datagrams lost on the way would hold the window shut: the echoes still on their way
    // come back within this.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))?;
    Ok((sent.load(Ordering::Relaxed), echoed.load(Ordering::Relaxed)))
}

/// (frames the border router sent through the radio, frames the radio handed it), from a
/// stats file motesim wrote after `after`.
fn radio_counters(stats: &Path, after: SystemTime) -> Result<(u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(m) = std::fs::metadata(stats).and_then(|m| m.modified())
            && m > after
            && let Ok(text) = std::fs::read_to_string(stats)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        {
            let radio = &v["radio"];
            return Ok((
                radio["sends"].as_u64().unwrap_or(0),
                radio["frames_up"].as_u64().unwrap_or(0),
            ));
        }
        if Instant::now() >= deadline {
            bail!("no fresh motesim stats in {}", stats.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The Markdown table and the ratios; `contiki` is the binary given (None: skipped).
pub fn markdown(rows: &[Measured], contiki: Option<&Path>) -> String {
    let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
    let mut md = String::from(
        "| border router | UDP payload | echoes/s | frames down/s | frames up/s | BR CPU s | frames per BR CPU-second | RSS (peak) |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for m in rows {
        md.push_str(&format!(
            "| {} | {} B | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} | {:.1} MiB ({:.1} MiB) |\n",
            m.router.as_str(),
            m.payload,
            m.echoed as f64 / m.seconds,
            m.frames_down as f64 / m.seconds,
            m.frames_up as f64 / m.seconds,
            m.cpu.as_secs_f64(),
            m.frames_per_cpu_second(),
            mib(m.rss),
            mib(m.peak_rss)
        ));
    }
    md.push('\n');
    match contiki {
        None => md.push_str(
            "Contiki-NG's native border router: skipped: no binary (give `--contiki-br PATH` to a \
             `border-router.native` built with Contiki-NG's own instructions, or `CONTIKI_BR=PATH scripts/eval`).\n",
        ),
        Some(_) => {
            for payload in PAYLOADS {
                let find = |r: Router| rows.iter().find(|m| m.router == r && m.payload == payload);
                if let (Some(ours), Some(theirs)) = (find(Router::LowpanBr), find(Router::ContikiNg))
                {
                    if theirs.echoed == 0 || ours.echoed == 0 {
                        md.push_str(&format!(
                            "- {payload}-byte UDP: not comparable: {} echoed nothing back ({} frames down, {} up).\n",
                            if theirs.echoed == 0 { theirs.router.as_str() } else { ours.router.as_str() },
                            if theirs.echoed == 0 { theirs.frames_down } else { ours.frames_down },
                            if theirs.echoed == 0 { theirs.frames_up } else { ours.frames_up },
                        ));
                        continue;
                    }
                    let ratio = ours.frames_per_cpu_second() / theirs.frames_per_cpu_second().max(1e-9);
                    let verdict = if ratio >= 1.5 { "met" } else { "not met" };
                    md.push_str(&format!(
                        "- {payload}-byte UDP: lowpan-br carries **{ratio:.2}x** Contiki-NG's frames per CPU-second \
                         (target >= 1.5x: {verdict}); resident memory {:.1} MiB against {:.1} MiB.\n",
                        mib(ours.peak_rss),
                        mib(theirs.peak_rss)
                    ));
                }
            }
        }
    }
    md
}
