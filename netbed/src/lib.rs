//! `netbed`: network namespaces, veth pairs and child processes on this machine, each owned
//! by a guard that removes or stops it on drop, so an interrupted test or evaluation run
//! leaves nothing behind. The integration tests (`tests/`) and `lowpan-eval` build their
//! beds from these pieces.
//!
//! Errors are returned, never panicked: the tests turn them into failures, the evaluation
//! into its own errors.
//!
//! What it must never do: be a dependency of the daemons or of any library they use; touch
//! anything outside the namespaces, interfaces and processes it made itself.

use std::ffi::OsStr;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a stopped child may take to exit after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What went wrong, with the command and its output where there was one.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call (interface names are limited to 15 bytes,
/// so `prefix` should have at most 4).
pub fn unique(prefix: &str) -> String {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// Runs a command to its end; an error with its output when it cannot start or exits
/// non-zero.
pub fn run<I, S>(program: &str, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = Command::new(program)
        .args(&args)
        .output()
        .map_err(|e| Error(format!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        return Err(Error(format!(
            "{program} {:?} failed: {}\n{}",
            args,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out)
}

/// A network namespace, deleted on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// A new namespace named `prefix` plus a unique suffix, with its loopback up.
    pub fn new(prefix: &str) -> Result<NetNs> {
        let name = unique(prefix);
        run("ip", ["netns", "add", &name])?;
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NAME ...`
    pub fn ip(&self, args: &[&str]) -> Result<Output> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", all)
    }

    /// A command run inside the namespace, not yet started.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// `sysctl -w key=value` inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        run(
            "ip",
            [
                "netns",
                "exec",
                &self.name,
                "sysctl",
                "-q",
                "-w",
                &format!("{key}={value}"),
            ],
        )
        .map(drop)
    }

    /// Moves the calling thread into this namespace (sockets it opens afterwards live there).
    pub fn enter_this_thread(&self) -> Result<()> {
        enter_this_thread(&self.name)
    }
}

/// Moves the calling thread into the namespace called `name` (sockets it opens afterwards
/// live there); for threads that cannot borrow the [`NetNs`].
pub fn enter_this_thread(name: &str) -> Result<()> {
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|e| Error(format!("open {path}: {e}")))?;
    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error(format!("setns {path}: {e}")))
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Connects two namespaces with a veth pair and gives each end an IPv6 address (without
/// duplicate address detection); returns the interface names (a side, b side). The pair goes
/// with its namespaces.
pub fn veth(a: &NetNs, a_addr: &str, b: &NetNs, b_addr: &str) -> Result<(String, String)> {
    let a_if = unique("va");
    let b_if = unique("vb");
    run(
        "ip",
        [
            "link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &b_if, "netns",
            &b.name,
        ],
    )?;
    for (ns, ifname, addr) in [(a, &a_if, a_addr), (b, &b_if, b_addr)] {
        ns.ip(&["-6", "addr", "add", addr, "dev", ifname, "nodad"])?;
        ns.ip(&["link", "set", ifname, "up"])?;
    }
    Ok((a_if, b_if))
}

/// Starts `cmd` with stdin closed and stdout and stderr read line by line (each by a thread
/// of its own) into the returned channel.
pub fn spawn_captured(mut cmd: Command) -> std::io::Result<(Child, mpsc::Receiver<String>)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let (tx, rx) = mpsc::channel();
    let streams = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ];
    for stream in streams.into_iter().flatten() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    Ok((child, rx))
}

/// Stops a child as a service manager would: SIGTERM, up to [`STOP_GRACE`] to exit, then
/// SIGKILL; reaps it either way.
pub fn stop_child(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
