//! Border-router costs: what the HRM adds per packet (in process, on the sans-IO `Hrm` with
//! 1,000 delegated motes and 10,000 flows), `lowpan-br`'s resident memory with 1,000
//! motes behind it and 10,000 DTLS flows through its HRM (the real daemon, unthrottled
//! motesim, ClientHellos from 10,000 client ports), its frames per CPU-second beside
//! Contiki-NG's native border router (`brcompare`), and the goodput figures of
//! `scripts/overload` (read from its report).

use std::hint::black_box;
use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hrm::{
    Decision, DeviceConfig, DevicePolicy, Hrm, HrmConfig, SspConfig, SspName, build_udp_packet,
};
use lowpan::CheckedIpv6Packet;
use redirect::{FlowTag, RedirectMessage};

use crate::bed::{Bed, BedSpec, CDPSK_MOTE, DELEGATED_MOTE, IotsspMode, Leg, mote_addr};
use crate::sys::{bin_dir, process_peak_rss, process_rss};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Motes behind the border router (at most 1,000: motesim's limit).
    #[arg(long, default_value_t = 1000)]
    motes: u16,
    /// DTLS flows (distinct client ports) through the HRM.
    #[arg(long, default_value_t = 10_000)]
    flows: u32,
    /// Packets timed per case of the HRM's cost.
    #[arg(long, default_value_t = 1_000_000)]
    packets: u32,
    // --out gets border-router.md; --benchmarks-md's section is eval:border-router.
    #[command(flatten)]
    common: crate::CommonArgs,
    /// Contiki-NG's native border router (examples/rpl-border-router, TARGET=native, built
    /// with that project's own instructions) to measure beside lowpan-br; without it that
    /// comparison is reported as skipped.
    #[arg(long, value_name = "PATH")]
    contiki_br: Option<PathBuf>,
    /// Seconds of echo traffic per border router and datagram size in that comparison.
    #[arg(long, default_value_t = 10.0)]
    compare_secs: f64,
    /// The JSON report of `scripts/overload` whose goodput figures go into the table.
    #[arg(long, value_name = "PATH")]
    overload_report: Option<PathBuf>,
}

fn record(content: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content, 0xfe, 0xfd];
    r.extend_from_slice(&epoch.to_be_bytes());
    r.extend_from_slice(&seq.to_be_bytes()[2..]);
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A minimal ClientHello record (the HRM reads record headers and the handshake type only).
fn client_hello() -> Vec<u8> {
    record(22, 0, 0, &[1, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 40])
}

const PEER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xbeef, 0, 0, 0, 0, 0, 2);

fn flow(i: u32, motes: u16) -> FlowTag {
    FlowTag {
        peer_addr: PEER,
        peer_port: 10_000 + (i % 50_000) as u16,
        mote_addr: mote_addr(1 + (i % u32::from(motes)) as u16),
        mote_port: 5684,
    }
}

/// Nanoseconds per `handle_inbound` for each kind of packet, with `flows` flows in the table.
pub fn hrm_per_packet(motes: u16, flows: u32, packets: u32) -> Result<Vec<(String, f64)>> {
    let ssp = SspName::new("iotssp-1");
    let cfg = HrmConfig {
        max_flows: flows as usize + 1024,
        ssps: vec![SspConfig {
            name: "iotssp-1".into(),
            addresses: vec![],
        }],
        devices: (1..=motes)
            .map(|n| DeviceConfig {
                mote: mote_addr(n),
                policy: DevicePolicy::Delegate {
                    ssp: "iotssp-1".into(),
                },
                dtls_port: None,
            })
            .collect(),
        ..HrmConfig::default()
    };
    let mut h = Hrm::new(&cfg, dtls::provider::OsRandom::shared())
        .map_err(|e| anyhow::anyhow!("HRM config: {e:?}"))?;
    let now = Instant::now();
    let hello = client_hello();
    for i in 0..flows {
        let f = flow(i, motes);
        let p = build_udp_packet(
            (f.peer_addr, f.peer_port),
            (f.mote_addr, f.mote_port),
            60,
            &hello,
        )?;
        let ip = CheckedIpv6Packet::parse(&p[..]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if !matches!(h.handle_inbound(now, &ip), Decision::Divert(_)) {
            bail!("a ClientHello to a delegated mote was not diverted");
        }
    }
    // Half the flows transferred (sessions at the motes), half still being set up.
    for i in (0..flows).step_by(2) {
        let msg = RedirectMessage::FlowTransferred {
            flow: flow(i, motes),
            final_flight: &[],
        };
        h.handle_ssp_message(now, &ssp, &msg)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    if h.flow_count() < flows as usize {
        bail!("only {} flows in the table", h.flow_count());
    }
    let app = record(23, 1, 7, &[0xa5; 48]);
    let unconfigured =
        build_udp_packet((PEER, 40_000), ("fd00:aaaa::9999".parse()?, 5684), 60, &app)?;
    let mut cases: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    let sample = 1024.min(flows / 2).max(1);
    let pick = |odd: bool, payload: &[u8]| -> Result<Vec<Vec<u8>>> {
        (0..sample)
            .map(|k| {
                let f = flow(2 * k + u32::from(odd), motes);
                Ok(build_udp_packet(
                    (f.peer_addr, f.peer_port),
                    (f.mote_addr, f.mote_port),
                    60,
                    payload,
                )?)
            })
            .collect()
    };
    cases.push((
        "application data of a transferred session (forwarded to the mote)".into(),
        pick(false, &app)?,
    ));
    cases.push((
        "handshake record of a flow being set up (diverted to the IoTSSP)".into(),
        pick(true, &hello)?,
    ));
    cases.push((
        "UDP to a mote that is not delegated (forwarded untouched)".into(),
        vec![unconfigured],
    ));
    let mut out = Vec::new();
    for (name, pkts) in cases {
        let parsed: Vec<CheckedIpv6Packet<&[u8]>> = pkts
            .iter()
            .map(|p| CheckedIpv6Packet::parse(&p[..]).map_err(|e| anyhow::anyhow!("{e:?}")))
            .collect::<Result<_>>()?;
        // The thread's own CPU time, not the wall clock: on a shared machine a preempted
        // loop would otherwise count other processes' time as the HRM's.
        let t = thread_cpu_time()?;
        for i in 0..packets {
            black_box(h.handle_inbound(now, black_box(&parsed[i as usize % parsed.len()])));
        }
        let ns = (thread_cpu_time()? - t).as_nanos() as f64 / f64::from(packets);
        eprintln!("  HRM, {name}: {ns:.0} ns per packet");
        out.push((name, ns));
    }
    Ok(out)
}

/// CPU time this thread has used (CLOCK_THREAD_CPUTIME_ID).
fn thread_cpu_time() -> Result<Duration> {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .context("clock_gettime(CLOCK_THREAD_CPUTIME_ID)")?;
    Ok(Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32))
}

/// lowpan-br's RSS: with the motes up, then with `flows` DTLS flows through its HRM.
fn rss_with_flows(a: &Args, bins: &Path, work: &Path) -> Result<(u64, u64, u64, usize)> {
    let spec = BedSpec {
        mode: IotsspMode::Attached,
        leg: Leg::PskHandshake,
        keyless: false,
        loss: 0.0,
        seed: 1,
        sw_motes: 0,
        dtls_timer: Duration::from_secs(2),
        unthrottled: true,
        // delegated + DCert + CDPSK + the rest delegated.
        delegated_motes: a.motes.saturating_sub(2).max(1),
        hrm_max_flows: Some(a.flows as usize + 1024),
    };
    let bed = Bed::start(spec, bins, work)?;
    let pid = bed.border_router.pid().context("lowpan-br pid")?;
    let idle = process_rss(pid)?;
    let delegated: Vec<u16> = std::iter::once(DELEGATED_MOTE)
        .chain((CDPSK_MOTE + 1)..=a.motes.max(CDPSK_MOTE + 1))
        .collect();
    let hello = client_hello();
    let flows = a.flows;
    let sent = {
        let hello = hello.clone();
        let path = format!("/run/netns/{}", bed.inet.name);
        std::thread::spawn(move || -> Result<usize> {
            use std::os::fd::AsFd;
            let f = std::fs::File::open(&path)?;
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
            let mut socks = Vec::new();
            let mut sent = 0;
            for i in 0..flows {
                // A socket per client port; a few hundred at a time.
                if socks.len() >= 256 {
                    socks.clear();
                }
                let s = UdpSocket::bind("[::]:0")?;
                let mote = delegated[i as usize % delegated.len()];
                if s.send_to(&hello, SocketAddr::new(mote_addr(mote).into(), 5684))
                    .is_ok()
                {
                    sent += 1;
                }
                socks.push(s);
                if i % 500 == 499 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Ok(sent)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))??
    };
    std::thread::sleep(Duration::from_secs(1));
    let loaded = process_rss(pid)?;
    let peak = process_peak_rss(pid)?;
    Ok((idle, loaded, peak, sent))
}

pub fn main(mut a: Args) -> Result<()> {
    if a.common.quick {
        a.motes = 20;
        a.flows = 200;
        a.packets = 10_000;
        a.compare_secs = 2.0;
    }
    if a.motes < 3 || a.motes > 1000 {
        bail!("--motes: 3..=1000");
    }
    crate::sys::stop_on_signals();
    let bins = bin_dir(a.common.bin_dir.as_deref())?;
    std::fs::create_dir_all(&a.common.out)?;
    eprintln!(
        "lowpan-eval border-router: HRM cost per packet ({} motes, {} flows)",
        a.motes, a.flows
    );
    let hrm = hrm_per_packet(a.motes, a.flows, a.packets)?;
    let work = std::env::temp_dir().join(format!("lowpan-eval-br-{}", std::process::id()));
    if let Some(p) = &a.contiki_br
        && !p.is_file()
    {
        bail!("--contiki-br {}: no such file", p.display());
    }
    let (rss, compared) = if nix::unistd::geteuid().is_root() {
        let r = rss_with_flows(&a, &bins, &work);
        eprintln!(
            "lowpan-eval border-router: lowpan-br beside Contiki-NG's native border router ({})",
            a.contiki_br
                .as_ref()
                .map_or("skipped: no binary".into(), |p| p.display().to_string())
        );
        let c = r.and_then(|r| {
            Ok((
                r,
                crate::brcompare::compare(&bins, a.contiki_br.as_deref(), a.compare_secs, &work)?,
            ))
        });
        let _ = std::fs::remove_dir_all(&work);
        let (r, c) = c?;
        (Some(r), Some(c))
    } else {
        eprintln!("  not root: lowpan-br's memory and frames per CPU-second are not measured");
        (None, None)
    };
    let overload = match &a.overload_report {
        Some(p) => Some(overload_figures(p)?),
        None => None,
    };
    let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
    let mut md = format!(
        "Machine: {}.\nCommand: `{}`.\n\n| figure | value | target |\n|---|---|---|\n",
        crate::machine::describe(),
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    for (name, ns) in &hrm {
        let verdict = if *ns < 1000.0 { "met" } else { "not met" };
        md.push_str(&format!(
            "| HRM per packet ({} motes, {} flows): {name} | {:.0} ns | < 1 us ({verdict}) |\n",
            a.motes, a.flows, ns
        ));
    }
    if let Some((idle, loaded, peak, sent)) = rss {
        let verdict = if peak <= 32 * 1024 * 1024 {
            "met"
        } else {
            "not met"
        };
        md.push_str(&format!(
            "| lowpan-br RSS, {} motes up, no flows | {:.1} MiB | |\n| lowpan-br RSS after {sent} ClientHellos from as many client ports ({} flows asked) | {:.1} MiB (peak {:.1} MiB) | <= 32 MiB ({verdict}) |\n",
            a.motes,
            mib(idle),
            a.flows,
            mib(loaded),
            mib(peak)
        ));
    }
    md.push_str(
        "\nThe HRM figure is the mean CPU time (the thread's own clock, so time preempted by other processes is not counted) of `Hrm::handle_inbound` on an already parsed IPv6 packet, one core, in process \
         (no TUN, no radio). RSS is VmRSS/VmHWM of the lowpan-br process (its attached IoTSSP included), read from /proc; \
         the ClientHellos are minimal records that the HRM diverts (one flow each) and the IoTSSP then drops as malformed.\n",
    );
    if let Some(rows) = &compared {
        md.push_str(&format!(
            "\n### Frames per CPU-second beside Contiki-NG's native border router\n\n\
             Each border router in turn, alone in a fresh network namespace: UDP echo traffic from the host (at most {} datagrams \
             outstanding, {:.0} s per border router and size) through the kernel, the TUN, the border router and a TCP slip-radio \
             link to motesim (unthrottled: no modelled air time), one RPL mote (non-storing mode, prefix {}) echoing it. Frames \
             each way are motesim's counts of the border router's `!S` frames and of the frames it handed up; CPU is the border \
             router process's own utime + stime from /proc over the traffic; RSS is its VmRSS (VmHWM) at the end. lowpan-br runs \
             with its RPL root on, Contiki-NG's with `-d=0` (no pause between frames to the radio; its default of 10 ms per \
             fragment paces real serial lines). The machine's cores are shared with the sender, the kernel and motesim (and other \
             work on a shared machine): the ratio of the two border routers, measured in one run, is the figure.\n\n{}",
            64,
            a.compare_secs,
            "fd00::/64",
            crate::brcompare::markdown(rows, a.contiki_br.as_deref())
        ));
    }
    match &overload {
        Some(o) => md.push_str(&format!("\n### Goodput under 2x overload\n\n{o}")),
        None => md.push_str(
            "\nGoodput under 2x overload: not in this run (`scripts/overload`, then `--overload-report` with its JSON; \
             `scripts/eval` does both in the full setting).\n",
        ),
    }
    std::fs::write(a.common.out.join("border-router.md"), &md)?;
    println!("{md}");
    if let Some(p) = &a.common.benchmarks_md {
        crate::splice(p, "eval:border-router", &md)?;
    }
    Ok(())
}

/// The goodput paragraph from `scripts/overload`'s JSON report.
fn overload_figures(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let num = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("{}: no {k}", path.display()))
    };
    let list = |k: &str| -> Result<Vec<u64>> {
        v[k].as_array()
            .with_context(|| format!("{}: no {k}", path.display()))?
            .iter()
            .map(|x| x.as_u64().context("a count"))
            .collect()
    };
    let secs = num("seconds")?;
    let bytes = num("datagram_bytes")?;
    let offered = num("offered_datagrams_per_s")?;
    let per_datagram = num("frames_per_datagram")?;
    let sent = list("datagrams_sent")?;
    let delivered = list("datagrams_delivered")?;
    let radio = num("radio_frames_sent")?;
    let whole = num("frames_of_whole_datagrams")?;
    let dropped = num("radio_queue_datagrams_dropped")?;
    let handshake = v["handshake_completed"].as_bool().unwrap_or(false);
    let total: u64 = delivered.iter().sum();
    let goodput_kbit = total as f64 * bytes * 8.0 / secs / 1000.0;
    let channel_frames = 170.0;
    Ok(format!(
        "`scripts/overload {secs:.0}` (the real lowpan-br and motesim with its modelled 250 kbit/s channel, about \
         {channel_frames:.0} full frames/s; report {}): {bytes:.0}-byte UDP datagrams ({per_datagram:.0} frames each) to the \
         motes' echo port at {offered:.1}/s, twice what the channel carries, 70% of them to one busy mote, a delegated DTLS \
         handshake started during it.\n\n\
         | figure | value |\n|---|---|\n\
         | datagrams offered per mote (delegated, DCert, CDPSK) | {sent:?} |\n\
         | datagrams echoed back whole per mote | {delivered:?} |\n\
         | datagrams echoed back whole, of those offered | {:.1}% |\n\
         | goodput (UDP payload to the motes and echoed back whole, per second of offered traffic) | {:.2} datagrams/s, {goodput_kbit:.1} kbit/s each way |\n\
         | radio frames sent to the motes, per second of offered traffic | {:.0}/s |\n\
         | share of them in datagrams delivered whole | {:.1}% |\n\
         | datagrams dropped whole by the radio queue | {dropped:.0} |\n\
         | the delegated handshake during the overload | {} |\n\n\
         The datagrams are counted until the echoes stop, so the queues' drain after the offered traffic is in the \
         per-second figures. Goodput counts only datagrams that came back whole: a datagram the radio queue drops costs no air time, one lost \
         after some of its fragments went out would (none here if the share is 100%). The channel is shared by both \
         directions, so the echoes' frames count against the same {channel_frames:.0} frames/s.\n",
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned()
        ),
        100.0 * total as f64 / (sent.iter().sum::<u64>().max(1)) as f64,
        total as f64 / secs,
        radio / secs,
        100.0 * whole / radio.max(1.0),
        if handshake {
            "completed"
        } else {
            "did not complete"
        }
    ))
}
