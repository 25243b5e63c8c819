//! `lowpan-eval`: runs the paper's experiment (`paper`) or the IoTSSP capacity comparison
//! (`capacity`) and writes CSV, tables and charts. Needs root (network namespaces, TUN)
//! and the workspace's binaries built next to it. See BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use lowpan_eval::experiment::{Kind, Plan};
use lowpan_eval::{brcost, capacity, charts, energy, experiment, machine, report, sys};

#[derive(Parser, Debug)]
#[command(
    name = "lowpan-eval",
    version,
    about = "The paper's evaluation through the real daemons, and the IoTSSP's capacity"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Handshakes of each device kind at each loss rate: frames, fragments, latency, energy.
    Paper(Box<PaperArgs>),
    /// Handshakes per CPU-second of the server process: openssl s_server, our plain DTLS
    /// server, and the whole delegated path.
    Capacity(capacity::Args),
    /// Border-router costs: the HRM's time per packet, lowpan-br's memory with many motes
    /// and flows.
    BorderRouter(brcost::Args),
}

#[derive(clap::Args, Debug)]
struct PaperArgs {
    // --out gets runs.csv, cells.csv, summary.md and the charts; --benchmarks-md's section
    // is eval:paper; --quick: --handshakes 2 --loss 0,10 --jobs 2.
    #[command(flatten)]
    common: lowpan_eval::CommonArgs,
    /// Handshakes per cell.
    #[arg(long, default_value_t = 30)]
    handshakes: usize,
    /// Loss rates, percent (each frame reception and each ACK is lost with this probability).
    #[arg(long, value_delimiter = ',', default_value = "0,5,10,20")]
    loss: Vec<f64>,
    /// Device kinds: delegated (every leg, attached and remote IoTSSP), delegated-LEG-MODE,
    /// keyless (delegated over the association, the mote signing; attached and remote),
    /// keyless-MODE, dcert-hw, dcert-sw, cdpsk.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "delegated,keyless,dcert-hw,dcert-sw,cdpsk"
    )]
    kinds: Vec<String>,
    /// DCert with software ECC takes ~90 s a handshake: run this many at once, on as many motes.
    #[arg(long, default_value_t = 10)]
    sw_parallel: u16,
    /// Beds (one per loss rate and IoTSSP mode) run at once. 1 keeps the measurements apart.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Initial DTLS retransmission timer of the motes and the IoTSSP, ms (the paper's 2 s).
    #[arg(long, default_value_t = 2000)]
    dtls_timer_ms: u64,
    /// Energy model: MCU time charged per frame handled, us (an assumption; see BENCHMARKS.md).
    #[arg(long, default_value_t = 500)]
    cpu_per_frame_us: u64,
    /// Seed of motesim's loss and backoff draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// TrueType font for the charts (default: DejaVu Sans from the system).
    #[arg(long)]
    font: Option<PathBuf>,
    /// Keep the beds' logs and configurations here (default: a temporary folder, removed).
    #[arg(long)]
    work: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    sys::stop_on_signals();
    let result = match cli.cmd {
        Cmd::Paper(a) => paper(*a),
        Cmd::Capacity(a) => capacity::main(a),
        Cmd::BorderRouter(a) => brcost::main(a),
    };
    if let Err(e) = result {
        eprintln!("lowpan-eval: {e:#}");
        std::process::exit(1);
    }
}

fn paper(mut a: PaperArgs) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("needs root: it creates network namespaces, veth pairs and a TUN device");
    }
    if a.common.quick {
        a.handshakes = 2;
        a.loss = vec![0.0, 10.0];
        a.sw_parallel = 2;
        a.jobs = a.jobs.max(2);
    }
    if a.handshakes == 0 {
        bail!("--handshakes must be at least 1");
    }
    let mut kinds = Vec::new();
    for k in &a.kinds {
        for kind in Kind::parse(k)? {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    let losses: Vec<f64> = a.loss.iter().map(|l| l / 100.0).collect();
    if losses.iter().any(|l| !(0.0..1.0).contains(l)) {
        bail!("--loss: percentages in 0..100");
    }
    let plan = Plan {
        kinds,
        losses,
        handshakes: a.handshakes,
        sw_parallel: a.sw_parallel.clamp(1, 50),
        seed: a.seed,
        dtls_timer: Duration::from_millis(a.dtls_timer_ms),
        energy: energy::Model {
            cpu_per_frame: Duration::from_micros(a.cpu_per_frame_us),
            ..energy::Model::default()
        },
        jobs: a.jobs,
    };
    charts::register_font(a.font.as_deref())?;
    let bins = sys::bin_dir(a.common.bin_dir.as_deref())?;
    std::fs::create_dir_all(&a.common.out)
        .with_context(|| format!("create {}", a.common.out.display()))?;
    let temp;
    let work = match &a.work {
        Some(w) => w.clone(),
        None => {
            temp = TempDir::new()?;
            temp.0.clone()
        }
    };
    let machine = machine::describe();
    eprintln!(
        "lowpan-eval paper: {} handshakes per cell, on {machine}",
        plan.handshakes
    );
    let rows = experiment::run(&plan, &bins, &work)?;
    let cells = report::cells(&rows);
    write(&a.common.out.join("runs.csv"), &report::runs_csv(&rows))?;
    write(&a.common.out.join("cells.csv"), &report::cells_csv(&cells))?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let tables = report::markdown(&cells);
    let summary = format!(
        "## The paper's experiment\n\nMachine: {machine}.\nCommand: `{command}`; {} handshakes per cell, DTLS timers {} ms initial.\n\n{tables}",
        plan.handshakes, a.dtls_timer_ms
    );
    write(&a.common.out.join("summary.md"), &summary)?;
    let files = charts::draw_all(&cells, &a.common.out)?;
    println!("{tables}");
    println!(
        "wrote runs.csv, cells.csv, summary.md and {} charts in {}",
        files.len(),
        a.common.out.display()
    );
    if let Some(md) = &a.common.benchmarks_md {
        let rel = relative(&a.common.out, md.parent().unwrap_or(Path::new(".")));
        let mut section = summary.replacen("## The paper's experiment\n\n", "", 1);
        section.push_str("\n### Charts\n\n");
        for c in charts::CHARTS {
            section.push_str(&format!("![{c}]({rel}/{c}.svg)\n\n"));
        }
        section.push_str(&format!("Every handshake: [{rel}/runs.csv]({rel}/runs.csv); every cell: [{rel}/cells.csv]({rel}/cells.csv).\n"));
        lowpan_eval::splice(md, "eval:paper", &section)?;
    }
    Ok(())
}

fn relative(target: &Path, from: &Path) -> String {
    let t = std::path::absolute(target).unwrap_or_else(|_| target.to_path_buf());
    let f = std::path::absolute(from).unwrap_or_else(|_| from.to_path_buf());
    t.strip_prefix(&f)
        .map_or_else(|_| t.display().to_string(), |p| p.display().to_string())
}

fn write(p: &Path, text: &str) -> Result<()> {
    std::fs::write(p, text).with_context(|| format!("write {}", p.display()))
}

/// A temporary folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let p = std::env::temp_dir().join(format!("lowpan-eval-{}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
