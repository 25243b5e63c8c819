//! The IoTSSP's capacity, measured fairly: the same client program (an unmodified
//! `openssl s_client`, one process per handshake, `-connections` of them at a time) drives
//! each server over real UDP, and the figure is the server process's own CPU time (user +
//! system, /proc/<pid>/stat) per completed handshake. Servers:
//! - `openssl s_server -dtls1_2`, mutual authentication, ECDHE-ECDSA-AES128-CCM8 (one
//!   connection at a time: that is how s_server works);
//! - `lowpan-eval-dtls-server`, a plain server on our DTLS engine, same suite and auth;
//! - the whole delegated path: `lowpan-br` with its attached IoTSSP, or `lowpan-br` and a
//!   remote `iotssp`, with unthrottled motesim motes behind it (the per-delegation mote
//!   leg included); the client handshakes with the motes' addresses.
//!
//! The clients' CPU is not counted; they run beside the servers on the same cores.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bed::{Bed, BedSpec, DELEGATED_MOTE, IotsspMode, Leg, mote_addr};
use crate::sys::{Daemon, NetNs, bin_dir, binary, process_cpu, run};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Handshakes per server.
    #[arg(long, default_value_t = 200)]
    handshakes: usize,
    /// Clients at a time against our servers (openssl s_server takes one at a time).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Delegated motes behind the border router, handshaken round-robin.
    #[arg(long, default_value_t = 16)]
    motes: u16,
    // --out gets capacity.csv and capacity.md; --benchmarks-md's section is eval:capacity.
    #[command(flatten)]
    common: crate::CommonArgs,
}

/// One server's figures.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub server: String,
    pub process: String,
    pub connections: usize,
    pub attempted: usize,
    pub completed: usize,
    pub cpu_s: f64,
    pub wall_s: f64,
}

impl Measured {
    pub fn per_cpu_second(&self) -> f64 {
        if self.cpu_s > 0.0 {
            self.completed as f64 / self.cpu_s
        } else {
            f64::NAN
        }
    }
    pub fn cpu_ms_per_handshake(&self) -> f64 {
        if self.completed > 0 {
            self.cpu_s * 1000.0 / self.completed as f64
        } else {
            f64::NAN
        }
    }
}

/// Runs `n` s_client handshakes, `conns` at a time, from `ns` to the targets round-robin;
/// returns how many completed.
fn client_loop(
    ns: &NetNs,
    args: &[String],
    targets: &[String],
    n: usize,
    conns: usize,
) -> Result<usize> {
    let mut completed = 0;
    let mut next = 0;
    let mut running: Vec<std::process::Child> = Vec::new();
    let mut outputs: Vec<std::thread::JoinHandle<bool>> = Vec::new();
    while next < n || !running.is_empty() {
        crate::sys::check_stop()?;
        while next < n && running.len() < conns.max(1) {
            let mut cmd = ns.command("openssl");
            cmd.arg("s_client")
                .args(args)
                .arg("-connect")
                .arg(&targets[next % targets.len()]);
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().context("spawn openssl s_client")?;
            let err = child.stderr.take();
            outputs.push(std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(mut e) = err {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut s);
                }
                s.contains("CONNECTION ESTABLISHED")
            }));
            running.push(child);
            next += 1;
        }
        let before = running.len();
        running.retain_mut(|c| c.try_wait().ok().flatten().is_none());
        if running.len() == before {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for o in outputs {
        completed += usize::from(o.join().unwrap_or(false));
    }
    Ok(completed)
}

fn cert_args(deploy: &Path) -> Vec<String> {
    let f = |x: &str| deploy.join(x).to_string_lossy().into_owned();
    let mut v: Vec<String> = ["-dtls1_2", "-brief", "-cipher", "ECDHE-ECDSA-AES128-CCM8"]
        .map(String::from)
        .to_vec();
    v.extend([
        "-cert".into(),
        f("client.pem"),
        "-key".into(),
        f("client.key"),
        "-CAfile".into(),
        f("ca.pem"),
    ]);
    v.push("-verify_return_error".into());
    v
}

/// The clients' side of a measurement: from where, with what, to whom, how many.
struct Load<'a> {
    ns: &'a NetNs,
    args: &'a [String],
    targets: &'a [String],
    n: usize,
    conns: usize,
}

/// Measures the server processes `pids` while the clients run.
fn measure(server: &str, process: &str, pids: &[u32], load: Load<'_>) -> Result<Measured> {
    let Load {
        ns,
        args,
        targets,
        n,
        conns,
    } = load;
    let cpu0: f64 = pids
        .iter()
        .map(|p| process_cpu(*p).map(|d| d.as_secs_f64()))
        .sum::<Result<f64>>()?;
    let t0 = Instant::now();
    let completed = client_loop(ns, args, targets, n, conns)?;
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu1: f64 = pids
        .iter()
        .map(|p| process_cpu(*p).map(|d| d.as_secs_f64()))
        .sum::<Result<f64>>()?;
    let m = Measured {
        server: server.into(),
        process: process.into(),
        connections: conns,
        attempted: n,
        completed,
        cpu_s: cpu1 - cpu0,
        wall_s,
    };
    eprintln!(
        "  {:<40} {:>4}/{:<4} handshakes, {:>7.3} CPU-s of {process}: {:>7.1} handshakes per CPU-second ({:.2} ms each)",
        m.server,
        m.completed,
        m.attempted,
        m.cpu_s,
        m.per_cpu_second(),
        m.cpu_ms_per_handshake()
    );
    Ok(m)
}

pub fn main(mut a: Args) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("needs root: it creates network namespaces and a TUN device");
    }
    if a.common.quick {
        a.handshakes = 6;
        a.connections = 2;
        a.motes = 2;
    }
    crate::sys::stop_on_signals();
    let bins = bin_dir(a.common.bin_dir.as_deref())?;
    std::fs::create_dir_all(&a.common.out)?;
    let work = std::env::temp_dir().join(format!("lowpan-eval-capacity-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = measure_all(&a, &bins, &work);
    let _ = std::fs::remove_dir_all(&work);
    let rows = result?;
    let mut csv = String::from(
        "server,process,connections,attempted,completed,cpu_s,wall_s,handshakes_per_cpu_s,cpu_ms_per_handshake\n",
    );
    for m in &rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{:.4},{:.3},{:.2},{:.3}\n",
            m.server,
            m.process,
            m.connections,
            m.attempted,
            m.completed,
            m.cpu_s,
            m.wall_s,
            m.per_cpu_second(),
            m.cpu_ms_per_handshake()
        ));
    }
    std::fs::write(a.common.out.join("capacity.csv"), &csv)?;
    let md = markdown(
        &rows,
        &crate::machine::describe(),
        &std::env::args().collect::<Vec<_>>().join(" "),
    );
    std::fs::write(a.common.out.join("capacity.md"), &md)?;
    println!("{md}");
    if let Some(p) = &a.common.benchmarks_md {
        crate::splice(p, "eval:capacity", &md)?;
    }
    Ok(())
}

fn measure_all(a: &Args, bins: &Path, work: &Path) -> Result<Vec<Measured>> {
    let mut rows = Vec::new();
    // Plain servers on loopback inside a namespace of their own.
    let deploy = work.join("deploy");
    run(
        &binary(bins, "lowpan-provision")?.to_string_lossy(),
        [
            "--out",
            &deploy.to_string_lossy(),
            "--kinds",
            "delegated",
            "--prefix",
            crate::bed::PREFIX,
        ],
    )?;
    let ns = NetNs::new("lec")?;
    let args = cert_args(&deploy);
    let f = |x: &str| deploy.join(x).to_string_lossy().into_owned();
    {
        let mut cmd = ns.command("openssl");
        cmd.args(["s_server", "-dtls1_2", "-accept", "[::1]:4433", "-quiet"])
            .args([
                "-cert",
                &f("mote-1.pem"),
                "-key",
                &f("mote-1.key"),
                "-CAfile",
                &f("ca.pem"),
                "-Verify",
                "1",
            ])
            .args(["-cipher", "ECDHE-ECDSA-AES128-CCM8"]);
        let mut d = Daemon::spawn("openssl s_server", cmd, &work.join("s_server.log"))?;
        std::thread::sleep(Duration::from_millis(500));
        if !d.is_running() {
            bail!(
                "openssl s_server did not start: see {}",
                work.join("s_server.log").display()
            );
        }
        let pid = d.pid().context("s_server pid")?;
        rows.push(measure(
            "openssl s_server -dtls1_2",
            "openssl",
            &[pid],
            Load {
                ns: &ns,
                args: &args,
                targets: &["[::1]:4433".into()],
                n: a.handshakes,
                conns: 1,
            },
        )?);
    }
    for conns in [1, a.connections] {
        let mut cmd = ns.command(binary(bins, "lowpan-eval-dtls-server")?);
        cmd.args([
            "--listen",
            "[::1]:4434",
            "--cert",
            &f("mote-1.pem"),
            "--key",
            &f("mote-1.key"),
            "--ca",
            &f("ca.pem"),
        ]);
        let mut d = Daemon::spawn(
            "lowpan-eval-dtls-server",
            cmd,
            &work.join("dtls-server.log"),
        )?;
        d.wait_for_line("listening", Duration::from_secs(10))?;
        let pid = d.pid().context("pid")?;
        rows.push(measure(
            "our DTLS engine (lowpan-eval-dtls-server)",
            "lowpan-eval-dtls-server",
            &[pid],
            Load {
                ns: &ns,
                args: &args,
                targets: &["[::1]:4434".into()],
                n: a.handshakes,
                conns,
            },
        )?);
    }
    drop(ns);
    // The whole delegated path, attached and remote.
    for mode in [IotsspMode::Attached, IotsspMode::Remote] {
        let spec = BedSpec {
            mode,
            leg: Leg::PskHandshake,
            keyless: false,
            loss: 0.0,
            seed: 1,
            sw_motes: 0,
            dtls_timer: Duration::from_secs(2),
            unthrottled: true,
            delegated_motes: a.motes.max(1),
            hrm_max_flows: None,
        };
        let dir = work.join(format!("bed-{}", mode.as_str()));
        let bed = Bed::start(spec, bins, &dir)?;
        let delegated: Vec<u16> = std::iter::once(DELEGATED_MOTE)
            .chain((0..a.motes.saturating_sub(1)).map(|i| crate::bed::CDPSK_MOTE + 1 + i))
            .collect();
        let targets: Vec<String> = delegated
            .iter()
            .map(|n| format!("[{}]:5684", mote_addr(*n)))
            .collect();
        let args = cert_args(&bed.deploy);
        let br = bed.border_router.pid().context("lowpan-br pid")?;
        match &bed.iotssp {
            None => rows.push(measure(
                "delegated path, attached IoTSSP",
                "lowpan-br (with its IoTSSP)",
                &[br],
                Load {
                    ns: &bed.inet,
                    args: &args,
                    targets: &targets,
                    n: a.handshakes,
                    conns: a.connections,
                },
            )?),
            Some(ssp) => {
                let ssp = ssp.pid().context("iotssp pid")?;
                let br0 = process_cpu(br)?.as_secs_f64();
                let mut m = measure(
                    "delegated path, remote IoTSSP",
                    "iotssp",
                    &[ssp],
                    Load {
                        ns: &bed.inet,
                        args: &args,
                        targets: &targets,
                        n: a.handshakes,
                        conns: a.connections,
                    },
                )?;
                let br_cpu = process_cpu(br)?.as_secs_f64() - br0;
                rows.push(m.clone());
                m.server = "delegated path, remote IoTSSP: the border router".into();
                m.process = "lowpan-br".into();
                m.cpu_s = br_cpu;
                rows.push(m);
            }
        }
    }
    Ok(rows)
}

fn markdown(rows: &[Measured], machine: &str, command: &str) -> String {
    let mut s = format!(
        "Machine: {machine}.\nCommand: `{command}`.\n\n| server | CPU counted | clients at once | completed | CPU s | handshakes per CPU-second | CPU ms per handshake |\n|---|---|---|---|---|---|---|\n"
    );
    for m in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {}/{} | {:.3} | {:.1} | {:.2} |\n",
            m.server,
            m.process,
            m.connections,
            m.completed,
            m.attempted,
            m.cpu_s,
            m.per_cpu_second(),
            m.cpu_ms_per_handshake()
        ));
    }
    let openssl = rows
        .iter()
        .find(|m| m.server.starts_with("openssl"))
        .map(Measured::per_cpu_second);
    if let Some(o) = openssl {
        s.push_str("\nAgainst openssl s_server (target: delegated handshakes per CPU-second >= 1.5x OpenSSL's):\n\n");
        for m in rows.iter().filter(|m| !m.server.starts_with("openssl")) {
            let r = m.per_cpu_second() / o;
            let verdict =
                if !m.server.starts_with("delegated") || m.server.ends_with("border router") {
                    ""
                } else if r >= 1.5 {
                    " (target met)"
                } else {
                    " (target not met)"
                };
            s.push_str(&format!(
                "- {} [{}], {} clients at once: {:.2}x{verdict}\n",
                m.server, m.process, m.connections, r
            ));
        }
    }
    s
}
