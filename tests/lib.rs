//! Test-bed for the integration tests: real network namespaces, veth pairs and the real
//! `lowpan-br` and `motesim` binaries, built by cargo in the same target directory.
//!
//! Every namespace, interface and process a test creates is owned by a guard that removes or
//! kills it on drop, so a failing test leaves nothing behind. Traffic only ever goes to
//! addresses inside namespaces made here.

pub mod delegation_bed;
pub mod testbed;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Whether this test may use netns/TUN (the one rule of every test crate: a printed skip,
/// a failure under CI).
pub use test_support::{packaging_tests_enabled, require_root};

/// Path of a binary of this workspace, next to the test executable's `deps/` folder.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("test exe has a folder").to_path_buf();
    // Tests run from target/<profile>/deps, examples from target/<profile>/examples.
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "binary {} not built; run the tests with `cargo nextest run --workspace` (or cargo test --workspace)",
        path.display()
    );
    path
}

static UNIQUE: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call (interface names are limited to 15 bytes).
pub fn unique(prefix: &str) -> String {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// Runs a command and fails the test with its output when it exits non-zero.
pub fn run<I, S>(program: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = Command::new(program)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {:?} failed: {}\n{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace, deleted on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new(prefix: &str) -> NetNs {
        let name = unique(prefix);
        run("ip", ["netns", "add", &name]);
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ...`
    pub fn ip(&self, args: &[&str]) -> Output {
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

    pub fn sysctl(&self, key: &str, value: &str) {
        run("ip", ["netns", "exec", &self.name, "sysctl", "-q", "-w", &format!("{key}={value}")]);
    }

    /// Runs `f` on a thread that has entered this namespace; sockets it opens live there.
    pub fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .expect("thread in netns panicked")
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Connects two namespaces with a veth pair and gives each end an IPv6 address.
pub fn veth(a: &NetNs, a_addr: &str, b: &NetNs, b_addr: &str) {
    let a_if = unique("va");
    let b_if = unique("vb");
    run(
        "ip",
        ["link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &b_if, "netns", &b.name],
    );
    for (ns, ifname, addr) in [(a, &a_if, a_addr), (b, &b_if, b_addr)] {
        ns.ip(&["-6", "addr", "add", addr, "dev", ifname, "nodad"]);
        ns.ip(&["link", "set", ifname, "up"]);
    }
}

/// A child process killed (SIGTERM, then SIGKILL) on drop, with its output kept for
/// failure messages.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr captured line by line.
    pub fn spawn(name: &str, mut cmd: Command) -> Daemon {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let (tx, rx) = mpsc::channel();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Daemon { name: name.to_owned(), child: Some(child), lines: rx, log: Vec::new() }
    }

    /// Waits until a line containing `needle` appears; returns it. Fails the test with the
    /// log so far when the process exits or `limit` passes.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                        self.drain();
                        panic!("{} exited ({status}) before printing {needle:?}:\n{}", self.name, self.log.join("\n"));
                    }
                    if Instant::now() >= deadline {
                        self.drain();
                        panic!("{} did not print {needle:?} within {limit:?}:\n{}", self.name, self.log.join("\n"));
                    }
                }
            }
        }
    }

    /// Collects what the process printed so far.
    pub fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM, wait up to 5 s, then SIGKILL. Returns the collected log.
    pub fn stop(&mut self) -> Vec<String> {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        std::thread::sleep(Duration::from_millis(50));
        self.drain();
        self.log.clone()
    }

    /// SIGKILL at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- {} log ----\n{}", self.name, self.log.join("\n"));
        }
    }
}

/// Retries `f` until it returns `Some` or `limit` passes.
pub fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scratch folder removed on drop.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("lowpan-it").tempdir().expect("tempdir")
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
