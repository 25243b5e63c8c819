//! Real peers over UDP on 127.0.0.1: a child process whose output lines we wait for, and
//! an endpoint driven over a real socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dtls::{Endpoint, Event};

/// A child (openssl, gnutls-cli, ...) whose stdout and stderr lines arrive on one channel.
pub struct ToolProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl ToolProcess {
    pub fn spawn(program: &str, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        ToolProcess {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    pub fn write_line(&mut self, s: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{s}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Collects output for up to `wait`, returning true once a line contains `needle`.
    pub fn wait_for(&mut self, needle: &str, wait: Duration) -> bool {
        let end = Instant::now() + wait;
        if self.seen.iter().any(|l| l.contains(needle)) {
            return true;
        }
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    self.seen.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(_) => break,
            }
        }
        false
    }

    pub fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }

    pub fn output(&mut self) -> String {
        self.drain();
        self.seen.join("\n")
    }
}

impl Drop for ToolProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Drives an endpoint over a real socket; `f` sees each event and says when to stop.
pub fn pump(
    sock: &UdpSocket,
    ep: &mut Endpoint,
    until: Instant,
    mut f: impl FnMut(&mut Endpoint, SocketAddr, Event) -> bool,
) -> bool {
    let mut buf = vec![0u8; 65536];
    loop {
        while let Some(t) = ep.poll_transmit() {
            let _ = sock.send_to(&t.contents, t.destination);
        }
        while let Some((a, e)) = ep.poll_event() {
            if f(ep, a, e) {
                while let Some(t) = ep.poll_transmit() {
                    let _ = sock.send_to(&t.contents, t.destination);
                }
                return true;
            }
        }
        while let Some(t) = ep.poll_transmit() {
            let _ = sock.send_to(&t.contents, t.destination);
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        let mut wait = (until - now).min(Duration::from_millis(50));
        if let Some(t) = ep.poll_timeout() {
            wait = wait.min(t.saturating_duration_since(now));
        }
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            ep.handle_datagram(Instant::now(), from, &buf[..n]);
        }
        ep.handle_timeout(Instant::now());
    }
}
