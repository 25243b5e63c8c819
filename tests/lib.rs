//! Test-bed for the integration tests: real network namespaces, veth pairs and the real
//! `lowpan-br` and `motesim` binaries, built by cargo in the same target directory.
//!
//! Every namespace, interface and process a test creates is owned by a guard that removes or
//! kills it on drop, so a failing test leaves nothing behind. Traffic only ever goes to
//! addresses inside namespaces made here.

pub mod delegation_bed;
pub mod testbed;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
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

/// A short name unique to this process and call (interface names are limited to 15 bytes).
pub use netbed::unique;

/// Runs a command and fails the test with its output when it exits non-zero.
pub fn run<I, S>(program: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    netbed::run(program, args).unwrap_or_else(|e| panic!("{e}"))
}

/// A network namespace, deleted on drop; its commands fail the test when they fail.
pub struct NetNs(netbed::NetNs);

impl std::ops::Deref for NetNs {
    type Target = netbed::NetNs;
    fn deref(&self) -> &netbed::NetNs {
        &self.0
    }
}

impl NetNs {
    pub fn new(prefix: &str) -> NetNs {
        NetNs(netbed::NetNs::new(prefix).unwrap_or_else(|e| panic!("{e}")))
    }

    /// `ip -n NAME ...`
    pub fn ip(&self, args: &[&str]) -> Output {
        self.0.ip(args).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn sysctl(&self, key: &str, value: &str) {
        self.0.sysctl(key, value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `f` on a thread that has entered this namespace; sockets it opens live there.
    pub fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let name = self.name.clone();
        let entered = std::thread::spawn(move || {
            netbed::enter_this_thread(&name).unwrap_or_else(|e| panic!("{e}"));
            f()
        })
        .join();
        entered.expect("thread in netns panicked")
    }
}

/// Connects two namespaces with a veth pair and gives each end an IPv6 address.
pub fn veth(a: &NetNs, a_addr: &str, b: &NetNs, b_addr: &str) {
    netbed::veth(a, a_addr, b, b_addr).unwrap_or_else(|e| panic!("{e}"));
}

/// A child process stopped (SIGTERM, then SIGKILL after [`netbed::STOP_GRACE`]) on drop,
/// with its output kept for failure messages.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr captured line by line.
    pub fn spawn(name: &str, cmd: Command) -> Daemon {
        let (child, lines) =
            netbed::spawn_captured(cmd).unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Daemon {
            name: name.to_owned(),
            child: Some(child),
            lines,
            log: Vec::new(),
        }
    }

    /// Waits until a line containing `needle` appears; returns it. Fails the test with the
    /// log so far when the process exits or `limit` passes.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    if let Some(status) = self
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten())
                    {
                        self.drain();
                        panic!(
                            "{} exited ({status}) before printing {needle:?}:\n{}",
                            self.name,
                            self.log.join("\n")
                        );
                    }
                    if Instant::now() >= deadline {
                        self.drain();
                        panic!(
                            "{} did not print {needle:?} within {limit:?}:\n{}",
                            self.name,
                            self.log.join("\n")
                        );
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
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM, wait up to 5 s, then SIGKILL. Returns the collected log.
    pub fn stop(&mut self) -> Vec<String> {
        if let Some(mut child) = self.child.take() {
            netbed::stop_child(&mut child);
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
    tempfile::Builder::new()
        .prefix("lowpan-it")
        .tempdir()
        .expect("tempdir")
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
