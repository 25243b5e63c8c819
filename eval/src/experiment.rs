//! The experiment: cells of (device kind, loss rate), N handshakes each, every handshake an
//! unmodified `openssl s_client` against one mote, measured at the client (latency, from
//! the packet tap) and at the mote (motesim's counters before and after).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::bed::{
    Bed, BedSpec, CDPSK_MOTE, DCERT_HW_MOTE, DELEGATED_MOTE, FIRST_DCERT_SW_MOTE, IotsspMode, Leg,
    mote_addr,
};
use crate::energy::{Activity, Model};

/// A device kind of the paper's comparison (and ours).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The IoTSSP runs the certificate handshake and transfers the session to the mote.
    Delegated { leg: Leg, mode: IotsspMode },
    /// Delegated over the standing association, the mote keeping its private key
    /// (`key = "mote"`): the IoTSSP asks it for the ServerKeyExchange's signature, one
    /// CC2538 ECC sign at the mote.
    Keyless { mode: IotsspMode },
    /// Certificate DTLS at the mote, CC2538 with its ECC accelerator.
    DcertHw,
    /// Certificate DTLS at the mote, CC2538 ECC in software.
    DcertSw,
    /// PSK DTLS between the client and the mote.
    Cdpsk,
}

impl Kind {
    pub fn label(&self) -> String {
        match self {
            Kind::Delegated { leg, mode } => {
                format!("delegated-{}-{}", leg.as_str(), mode.as_str())
            }
            Kind::Keyless { mode } => format!("keyless-{}", mode.as_str()),
            Kind::DcertHw => "dcert-hw".into(),
            Kind::DcertSw => "dcert-sw".into(),
            Kind::Cdpsk => "cdpsk".into(),
        }
    }

    pub fn parse(s: &str) -> anyhow::Result<Vec<Kind>> {
        Ok(match s {
            "dcert-hw" => vec![Kind::DcertHw],
            "dcert-sw" => vec![Kind::DcertSw],
            "cdpsk" => vec![Kind::Cdpsk],
            "keyless" => IotsspMode::ALL.map(|mode| Kind::Keyless { mode }).to_vec(),
            "keyless-attached" => vec![Kind::Keyless {
                mode: IotsspMode::Attached,
            }],
            "keyless-remote" => vec![Kind::Keyless {
                mode: IotsspMode::Remote,
            }],
            "delegated" => Leg::ALL
                .iter()
                .flat_map(|&leg| {
                    [IotsspMode::Attached, IotsspMode::Remote]
                        .map(|mode| Kind::Delegated { leg, mode })
                })
                .collect(),
            _ => {
                let Some(rest) = s.strip_prefix("delegated-") else {
                    anyhow::bail!(
                        "{s:?} is not a kind (delegated[-LEG-MODE], keyless[-MODE], dcert-hw, dcert-sw, cdpsk)"
                    );
                };
                let (leg, mode) = rest
                    .split_once('-')
                    .context("delegated-LEG-MODE, e.g. delegated-psk-attached")?;
                let mode = match mode {
                    "attached" => IotsspMode::Attached,
                    "remote" => IotsspMode::Remote,
                    _ => anyhow::bail!("{mode:?} is not an IoTSSP mode (attached, remote)"),
                };
                vec![Kind::Delegated {
                    leg: Leg::parse(leg)?,
                    mode,
                }]
            }
        })
    }

    /// The bed this kind runs in: its IoTSSP mode, leg and whether its delegated mote keeps
    /// its key (the other kinds use the attached bed).
    pub fn bed(&self) -> BedKind {
        match self {
            Kind::Delegated { leg, mode } => BedKind {
                mode: *mode,
                leg: *leg,
                keyless: false,
            },
            Kind::Keyless { mode } => BedKind {
                mode: *mode,
                leg: Leg::Association,
                keyless: true,
            },
            _ => BedKind {
                mode: IotsspMode::Attached,
                leg: Leg::PskHandshake,
                keyless: false,
            },
        }
    }

    /// How long one handshake may take before it counts as failed.
    pub fn limit(&self) -> Duration {
        match self {
            Kind::DcertSw => Duration::from_secs(420),
            _ => Duration::from_secs(90),
        }
    }
}

/// What tells beds apart: the kinds that agree on it share one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BedKind {
    pub mode: IotsspMode,
    pub leg: Leg,
    /// The delegated mote keeps its private key (`lowpan-provision --keyless`).
    pub keyless: bool,
}

/// The settings of a run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub kinds: Vec<Kind>,
    pub losses: Vec<f64>,
    pub handshakes: usize,
    /// DCert-sw handshakes run this many at a time, on as many motes.
    pub sw_parallel: u16,
    pub seed: u64,
    pub dtls_timer: Duration,
    pub energy: Model,
    /// Beds (loss rates, IoTSSP modes) run at once.
    pub jobs: usize,
}

/// One handshake's measurements.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Row {
    pub kind: String,
    pub loss: f64,
    pub run: usize,
    pub mote: u16,
    pub ok: bool,
    /// First ClientHello out to the server's Finished in, at the client; for a failed
    /// handshake, until it was given up.
    pub latency_ms: f64,
    pub client_datagrams_out: u64,
    pub client_datagrams_in: u64,
    /// 802.15.4 data frames at the mote of the datagrams to and from its DTLS ports (the
    /// handshake; for a delegated mote, its leg with the IoTSSP), first transmissions only:
    /// to the mote (received, duplicates dropped) and from it.
    pub frames_down: u64,
    pub frames_up: u64,
    pub bytes_down: u64,
    pub bytes_up: u64,
    /// Other frames at the mote in the same time (Neighbour Discovery, Router Advertisements),
    /// not counted above.
    pub other_frames: u64,
    /// Of those frames, the ones that carried a 6LoWPAN FRAG1/FRAGN header.
    pub frag_headers_down: u64,
    pub frag_headers_up: u64,
    /// MAC retransmissions: of frames addressed to the mote (whether they arrived or not),
    /// and of the mote's own frames.
    pub mac_retx_down: u64,
    pub mac_retx_up: u64,
    /// ACKs the mote sent and received.
    pub acks_sent: u64,
    pub acks_received: u64,
    pub tx_us: u64,
    pub rx_us: u64,
    pub ecc_ms: u64,
    pub ecc_ops: u64,
    pub on_cpu_mj: f64,
    pub on_ecc_mj: f64,
    pub on_tx_mj: f64,
    pub on_rx_mj: f64,
    pub on_idle_mj: f64,
    pub on_total_mj: f64,
    pub duty_cpu_mj: f64,
    pub duty_ecc_mj: f64,
    pub duty_tx_mj: f64,
    pub duty_rx_mj: f64,
    pub duty_lpm_mj: f64,
    pub duty_total_mj: f64,
}

impl Row {
    /// 6LoWPAN fragments as the paper counts them: every 802.15.4 frame of the handshake
    /// through the 6LoWPAN domain, both directions, without MAC retransmissions and ACKs.
    pub fn paper_fragments(&self) -> u64 {
        self.frames_down + self.frames_up
    }
}

/// Runs every cell of the plan; rows in plan order. Progress goes to stderr.
pub fn run(plan: &Plan, bins: &Path, work: &Path) -> Result<Vec<Row>> {
    // One bed per (IoTSSP mode, leg, keyless, loss): the kinds that share it run in it, in turn.
    let mut beds: Vec<(BedKind, f64, Vec<Kind>)> = Vec::new();
    for &loss in &plan.losses {
        for kind in &plan.kinds {
            let key = kind.bed();
            match beds.iter_mut().find(|(k, l, _)| *k == key && *l == loss) {
                Some((_, _, kinds)) => kinds.push(*kind),
                None => beds.push((key, loss, vec![*kind])),
            }
        }
    }
    // A pool of `jobs` workers takes the beds in order; rows come back in plan order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Vec<Row>>>>> =
        beds.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..plan.jobs.clamp(1, beds.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((key, loss, kinds)) = beds.get(i) else {
                        break;
                    };
                    let dir = work.join(format!(
                        "bed-{}-{}{}-loss{}",
                        key.mode.as_str(),
                        key.leg.as_str(),
                        if key.keyless { "-keyless" } else { "" },
                        (loss * 100.0).round()
                    ));
                    let spec = BedSpec {
                        mode: key.mode,
                        leg: key.leg,
                        keyless: key.keyless,
                        loss: *loss,
                        seed: plan.seed.wrapping_add(i as u64),
                        sw_motes: if kinds.contains(&Kind::DcertSw) {
                            plan.sw_parallel.max(1)
                        } else {
                            0
                        },
                        dtls_timer: plan.dtls_timer,
                        unthrottled: false,
                        delegated_motes: 1,
                        hrm_max_flows: None,
                    };
                    let r = run_bed(plan, spec, kinds, bins, &dir);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    // A bed that failed is reported and left out; the others' rows still count.
    let mut rows = Vec::new();
    let mut failed = 0;
    for (r, (_, loss, kinds)) in results.into_iter().zip(&beds) {
        match r.into_inner().ok().flatten() {
            Some(Ok(r)) => rows.extend(r),
            Some(Err(e)) => {
                failed += 1;
                eprintln!("bed for {kinds:?} at loss {loss} failed: {e:#}");
            }
            None => failed += 1,
        }
    }
    if rows.is_empty() {
        anyhow::bail!("every bed failed ({failed})");
    }
    Ok(rows)
}

fn run_bed(
    plan: &Plan,
    spec: BedSpec,
    kinds: &[Kind],
    bins: &Path,
    dir: &Path,
) -> Result<Vec<Row>> {
    let loss = spec.loss;
    eprintln!(
        "bed {}: starting (loss {:.0}%)",
        dir.display(),
        loss * 100.0
    );
    let bed = Bed::start(spec, bins, dir).with_context(|| format!("bed in {}", dir.display()))?;
    let mut rows = Vec::new();
    for kind in kinds {
        let motes: Vec<u16> = match kind {
            Kind::Delegated { .. } | Kind::Keyless { .. } => vec![DELEGATED_MOTE],
            Kind::DcertHw => vec![DCERT_HW_MOTE],
            Kind::Cdpsk => vec![CDPSK_MOTE],
            Kind::DcertSw => (0..plan.sw_parallel.max(1))
                .map(|i| FIRST_DCERT_SW_MOTE + i)
                .collect(),
        };
        let mut done = 0;
        while done < plan.handshakes {
            crate::sys::check_stop()?;
            let wave: Vec<u16> = motes.iter().copied().take(plan.handshakes - done).collect();
            let measured = wave_of_handshakes(&bed, plan, *kind, &wave, done)?;
            for r in &measured {
                eprintln!(
                    "  {:<26} loss {:>2.0}% #{:<3} {} {:>9.1} ms  frames {:>3} down/{:>3} up  energy {:>8.1} mJ (always-on)",
                    r.kind,
                    loss * 100.0,
                    r.run,
                    if r.ok { "ok    " } else { "FAILED" },
                    r.latency_ms,
                    r.frames_down,
                    r.frames_up,
                    r.on_total_mj
                );
            }
            done += wave.len();
            rows.extend(measured);
        }
    }
    Ok(rows)
}

/// An `openssl s_client` with its output in a file and its stdin open.
struct Client {
    child: Child,
    log: PathBuf,
}

impl Client {
    fn spawn(bed: &Bed, args: &[String], log: PathBuf) -> Result<Client> {
        let f = std::fs::File::create(&log)?;
        let mut cmd: Command = bed.inet.command("openssl");
        cmd.arg("s_client")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(f.try_clone()?)
            .stderr(f);
        let child = cmd.spawn().context("spawn openssl s_client")?;
        Ok(Client { child, log })
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Closes stdin (s_client then sends close_notify and quits); kills it after `limit`.
    fn close(mut self, limit: Duration) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mote_entry(stats: &serde_json::Value, n: u16) -> serde_json::Value {
    stats["motes"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["index"] == u64::from(n)).cloned())
        .unwrap_or_default()
}

fn delta(a: &serde_json::Value, b: &serde_json::Value, path: &[&str]) -> u64 {
    let get = |v: &serde_json::Value| path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0);
    get(b).saturating_sub(get(a))
}

/// Runs one handshake on each mote of `wave` at the same time.
fn wave_of_handshakes(
    bed: &Bed,
    plan: &Plan,
    kind: Kind,
    wave: &[u16],
    first_run: usize,
) -> Result<Vec<Row>> {
    let before = bed.stats_after(SystemTime::now(), Duration::from_secs(10))?;
    let started = Instant::now();
    bed.tap.forget_before(started - Duration::from_secs(1));
    let mut clients = Vec::new();
    for (i, &n) in wave.iter().enumerate() {
        let args = match kind {
            Kind::Cdpsk => bed.psk_client_args(n)?,
            _ => bed.cert_client_args(n),
        };
        let log = bed
            .dir
            .join(format!("s_client-{}-{}.log", kind.label(), first_run + i));
        clients.push((n, Client::spawn(bed, &args, log)?));
    }
    // Wait until each has the server's Finished, has exited, or ran out of time.
    let limit = kind.limit();
    let mut outcome: Vec<Option<(Instant, Instant)>> = vec![None; wave.len()];
    let mut finished = vec![false; wave.len()];
    loop {
        let seen = bed.tap.since(started);
        for (i, (n, client)) in clients.iter_mut().enumerate() {
            if finished[i] {
                continue;
            }
            let addr = mote_addr(*n);
            let hello = seen
                .iter()
                .find(|d| *d.dst.ip() == addr && d.dst.port() == 5684 && d.has_client_hello());
            let fin = seen
                .iter()
                .find(|d| *d.src.ip() == addr && d.src.port() == 5684 && d.has_finished());
            if let (Some(h), Some(f)) = (hello, fin) {
                outcome[i] = Some((h.at, f.at));
                finished[i] = true;
            } else if client.exited() || started.elapsed() > limit {
                finished[i] = true;
            }
        }
        if finished.iter().all(|f| *f) {
            break;
        }
        crate::sys::check_stop()?;
        std::thread::sleep(Duration::from_millis(20));
    }
    let given_up = Instant::now();
    // The mote's last frames and ACKs, then a snapshot before the clients close.
    std::thread::sleep(Duration::from_millis(800));
    let after = bed.stats_after(SystemTime::now(), Duration::from_secs(10))?;
    let seen = bed.tap.since(started);
    if std::env::var_os("LOWPAN_EVAL_DEBUG").is_some() {
        for d in &seen {
            eprintln!(
                "tap: {} -> {} {} bytes {:?}",
                d.src, d.dst, d.len, d.records
            );
        }
    }
    let mut rows = Vec::new();
    for (i, (n, _)) in clients.iter().enumerate() {
        let addr = mote_addr(*n);
        let (a, b) = (mote_entry(&before, *n), mote_entry(&after, *n));
        let d = |p: &[&str]| delta(&a, &b, p);
        let first_hello = seen
            .iter()
            .find(|x| *x.dst.ip() == addr && x.dst.port() == 5684 && x.has_client_hello())
            .map(|x| x.at);
        let window = match outcome[i] {
            Some((h, f)) => f - h,
            None => given_up - first_hello.unwrap_or(started),
        };
        let mut row = Row {
            kind: kind.label(),
            loss: bed.spec.loss,
            run: first_run + i,
            mote: *n,
            ok: outcome[i].is_some(),
            latency_ms: window.as_secs_f64() * 1000.0,
            client_datagrams_out: seen.iter().filter(|x| *x.dst.ip() == addr).count() as u64,
            client_datagrams_in: seen.iter().filter(|x| *x.src.ip() == addr).count() as u64,
            frames_down: d(&["secure_frames_in"]),
            frames_up: d(&["secure_frames_out"]),
            bytes_down: d(&["secure_bytes_in"]),
            bytes_up: d(&["secure_bytes_out"]),
            other_frames: (d(&["frames_in"]) + d(&["frames_out"]))
                .saturating_sub(d(&["secure_frames_in"]) + d(&["secure_frames_out"])),
            frag_headers_down: d(&["fragments_in"]),
            frag_headers_up: d(&["fragments_out"]),
            mac_retx_down: d(&["air", "addressed_retries"]),
            mac_retx_up: d(&["air", "retries"]),
            acks_sent: d(&["air", "acks_sent"]),
            acks_received: d(&["air", "acks_received"]),
            tx_us: d(&["air", "tx_us"]),
            rx_us: d(&["air", "rx_us"]),
            ecc_ms: d(&["ecc_busy_ms"]),
            ecc_ops: d(&["ecc_operations"]),
            ..Row::default()
        };
        let act = Activity {
            window,
            tx: Duration::from_micros(row.tx_us),
            rx: Duration::from_micros(row.rx_us),
            ecc: Duration::from_millis(row.ecc_ms),
            frames: row.frames_down + row.frames_up,
        };
        let on = plan.energy.always_on(&act);
        let duty = plan.energy.duty_cycled(&act);
        (
            row.on_cpu_mj,
            row.on_ecc_mj,
            row.on_tx_mj,
            row.on_rx_mj,
            row.on_idle_mj,
            row.on_total_mj,
        ) = (
            on.cpu * 1e3,
            on.ecc * 1e3,
            on.tx * 1e3,
            on.rx * 1e3,
            on.listen * 1e3,
            on.total() * 1e3,
        );
        (
            row.duty_cpu_mj,
            row.duty_ecc_mj,
            row.duty_tx_mj,
            row.duty_rx_mj,
            row.duty_lpm_mj,
            row.duty_total_mj,
        ) = (
            duty.cpu * 1e3,
            duty.ecc * 1e3,
            duty.tx * 1e3,
            duty.rx * 1e3,
            duty.lpm * 1e3,
            duty.total() * 1e3,
        );
        if !row.ok {
            eprintln!(
                "  handshake failed; s_client said:\n{}",
                tail(&clients[i].1.log)
            );
        }
        rows.push(row);
    }
    for (_, c) in clients {
        c.close(Duration::from_secs(3));
    }
    // The close_notify reaches the mote before the next handshake's baseline.
    std::thread::sleep(Duration::from_millis(600));
    Ok(rows)
}

fn tail(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyless_kinds_parse_and_get_their_own_beds() {
        let kinds = Kind::parse("keyless").unwrap();
        let labels: Vec<String> = kinds.iter().map(Kind::label).collect();
        assert_eq!(labels, ["keyless-attached", "keyless-remote"]);
        assert_eq!(Kind::parse("keyless-remote").unwrap(), [kinds[1]]);
        let bed = kinds[0].bed();
        assert!(bed.keyless && bed.leg == Leg::Association && bed.mode == IotsspMode::Attached);
        let delegated = Kind::parse("delegated-assoc-attached").unwrap()[0].bed();
        assert!(!delegated.keyless && delegated != bed);
        assert!(Kind::parse("keyless-elsewhere").is_err());
    }
}
