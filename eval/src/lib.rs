//! `lowpan-eval`: the paper's evaluation (seed 000, section V), rerun through the real
//! `lowpan-br`, `iotssp` and `motesim` in network namespaces, with an unmodified
//! `openssl s_client` as the Internet client; and the IoTSSP's capacity beside OpenSSL.
//! It writes the CSV of every handshake, the per-cell tables and the charts
//! (BENCHMARKS.md explains the method and each figure).
//!
//! What it must never do: send traffic anywhere but into the namespaces it creates and
//! loopback; leave a namespace or a process behind (every one is owned by a guard); assert
//! on timings (it measures and reports; the targets are judged in the report, not by a
//! failing exit).

pub mod bed;
pub mod brcompare;
pub mod brcost;
pub mod capacity;
pub mod charts;
pub mod energy;
pub mod experiment;
pub mod machine;
pub mod report;
pub mod sniff;
pub mod sys;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The options of every `lowpan-eval` command: where its results go, where the workspace's
/// binaries are, the BENCHMARKS.md section it rewrites, and a run small enough for CI.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Folder for the results (CSV, Markdown, charts).
    #[arg(long, default_value = "bench-results/eval")]
    pub out: PathBuf,
    /// Where lowpan-br, iotssp, motesim and lowpan-provision are (default: next to this program).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Rewrite this command's section of this BENCHMARKS.md (between its eval:<section> markers).
    #[arg(long)]
    pub benchmarks_md: Option<PathBuf>,
    /// Small numbers, for CI.
    #[arg(long)]
    pub quick: bool,
}

/// Replaces the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in `path`.
pub fn splice(path: &Path, name: &str, body: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let (begin, end) = (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    );
    let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
        bail!("{} has no {begin} ... {end} markers", path.display());
    };
    if e < b {
        bail!("{}: {end} before {begin}", path.display());
    }
    let new = format!("{}{begin}\n{body}\n{}", &text[..b], &text[e..]);
    std::fs::write(path, new).with_context(|| format!("write {}", path.display()))
}
