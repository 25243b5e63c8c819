//! Network namespaces, veth pairs and child processes, each owned by a guard that removes or
//! stops it on drop, so an interrupted run leaves nothing behind.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// SIGINT and SIGTERM set a flag that [`check_stop`] turns into an error, so the guards
/// unwind and remove the namespaces and stop the daemons.
pub fn stop_on_signals() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

/// An error once SIGINT or SIGTERM arrived.
pub fn check_stop() -> Result<()> {
    if STOP.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

pub use netbed::{NetNs, unique, veth};

/// Runs a command; its standard output, or an error with its output when it fails.
pub fn run<I, S>(program: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = netbed::run(program, args)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A child process stopped (SIGTERM, then SIGKILL) on drop. Its output goes line by line
/// into a log file and a buffer that [`Daemon::wait_for_line`] searches.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn spawn(name: &str, cmd: Command, log: &Path) -> Result<Daemon> {
        let mut file = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        let (child, rx) = netbed::spawn_captured(cmd).with_context(|| format!("spawn {name}"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in rx {
                use std::io::Write;
                let _ = writeln!(file, "{line}");
                if let Ok(mut l) = kept.lock() {
                    // Only the start-up lines are searched; the rest is in the file.
                    if l.len() < 10_000 {
                        l.push(line);
                    }
                }
            }
        });
        Ok(Daemon {
            name: name.to_owned(),
            child: Some(child),
            lines,
        })
    }

    /// Waits until a line containing `needle` appears.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if self
                .lines
                .lock()
                .is_ok_and(|l| l.iter().any(|x| x.contains(needle)))
            {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "{} exited ({status}) before printing {needle:?}:\n{}",
                    self.name,
                    self.tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not print {needle:?} within {limit:?}:\n{}",
                    self.name,
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn tail(&self) -> String {
        self.lines
            .lock()
            .map(|l| {
                l.iter()
                    .rev()
                    .take(30)
                    .rev()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGTERM, up to 5 s, then SIGKILL.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            netbed::stop_child(&mut child);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the workspace's binaries are: `--bin-dir`, else the folder of this executable.
pub fn bin_dir(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(d) = given {
        return Ok(d.to_path_buf());
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let mut dir = exe
        .parent()
        .context("executable has a folder")?
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

/// The path of workspace binary `name` in `dir`, or an error that says how to build it.
pub fn binary(dir: &Path, name: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    if !p.exists() {
        bail!(
            "{} is missing: build the workspace's binaries first (cargo build --release --workspace --bins)",
            p.display()
        );
    }
    Ok(p)
}

/// CPU time (user + system) a process has used so far, from /proc/<pid>/stat.
pub fn process_cpu(pid: u32) -> Result<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces; the fields after it start after ')'.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = f.get(11).context("utime")?.parse()?;
    let stime: u64 = f.get(12).context("stime")?.parse()?;
    let hz = clock_ticks();
    Ok(Duration::from_secs_f64((utime + stime) as f64 / hz))
}

/// Resident set size of a process, bytes, from /proc/<pid>/status.
pub fn process_rss(pid: u32) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .context("VmRSS")?;
    Ok(kb * 1024)
}

/// Peak resident set size of a process (VmHWM), bytes, from /proc/<pid>/status.
pub fn process_peak_rss(pid: u32) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .context("VmHWM")?;
    Ok(kb * 1024)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}
