//! Border-router costs: what the HRM adds per packet (in process, on the sans-IO `Hrm` with
//! 1,000 delegated motes and 10,000 flows), and `lowpan-br`'s resident memory with 1,000
//! motes behind it and 10,000 DTLS flows through its HRM (the real daemon, unthrottled
//! motesim, ClientHellos from 10,000 client ports).

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
use crate::sys::{bin_dir, process_rss};

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
    /// Folder for border-router.md.
    #[arg(long, default_value = "bench-results/eval")]
    out: PathBuf,
    /// Where the workspace's binaries are (default: next to this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Rewrite the border-router section of this BENCHMARKS.md (eval:border-router markers).
    #[arg(long)]
    benchmarks_md: Option<PathBuf>,
    /// Small numbers (for CI).
    #[arg(long)]
    quick: bool,
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
    let mut h = Hrm::new(&cfg).map_err(|e| anyhow::anyhow!("HRM config: {e:?}"))?;
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
        let t = Instant::now();
        for i in 0..packets {
            black_box(h.handle_inbound(now, black_box(&parsed[i as usize % parsed.len()])));
        }
        let ns = t.elapsed().as_nanos() as f64 / f64::from(packets);
        eprintln!("  HRM, {name}: {ns:.0} ns per packet");
        out.push((name, ns));
    }
    Ok(out)
}

/// lowpan-br's RSS: with the motes up, then with `flows` DTLS flows through its HRM.
fn rss_with_flows(a: &Args, bins: &Path, work: &Path) -> Result<(u64, u64, u64, usize)> {
    let spec = BedSpec {
        mode: IotsspMode::Attached,
        leg: Leg::PskHandshake,
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
    let peak = std::fs::read_to_string(format!("/proc/{pid}/status"))?
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:")
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    Ok((idle, loaded, peak, sent))
}

pub fn main(mut a: Args) -> Result<()> {
    if a.quick {
        a.motes = 20;
        a.flows = 200;
        a.packets = 10_000;
    }
    if a.motes < 3 || a.motes > 1000 {
        bail!("--motes: 3..=1000");
    }
    crate::sys::stop_on_signals();
    let bins = bin_dir(a.bin_dir.as_deref())?;
    std::fs::create_dir_all(&a.out)?;
    eprintln!(
        "lowpan-eval border-router: HRM cost per packet ({} motes, {} flows)",
        a.motes, a.flows
    );
    let hrm = hrm_per_packet(a.motes, a.flows, a.packets)?;
    let work = std::env::temp_dir().join(format!("lowpan-eval-br-{}", std::process::id()));
    let rss = if nix::unistd::geteuid().is_root() {
        let r = rss_with_flows(&a, &bins, &work);
        let _ = std::fs::remove_dir_all(&work);
        Some(r?)
    } else {
        eprintln!("  not root: lowpan-br's memory is not measured");
        None
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
        "\nThe HRM figure is the mean time of `Hrm::handle_inbound` on an already parsed IPv6 packet, one core, in process \
         (no TUN, no radio); lowpan-br's own frames per CPU-second each way are `scripts/bench e2e`'s. RSS is VmRSS/VmHWM \
         of the lowpan-br process (its attached IoTSSP included), read from /proc; the ClientHellos are minimal records that \
         the HRM diverts (one flow each) and the IoTSSP then drops as malformed. Not measured: the comparison with \
         Contiki-NG's native border router, and goodput under 2x overload.\n",
    );
    std::fs::write(a.out.join("border-router.md"), &md)?;
    println!("{md}");
    if let Some(p) = &a.benchmarks_md {
        crate::splice(p, "eval:border-router", &md)?;
    }
    Ok(())
}
