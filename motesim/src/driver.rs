//! The thin tokio layer: serves the simulation on a pty, a TCP listener or a UDP socket,
//! sleeps until the simulation's next deadline, writes the stats file every second and
//! stops on SIGINT/SIGTERM. All decisions are in [`crate::sim`].

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::{Instant, sleep_until};

use crate::cli::{Serve, Settings};
use crate::sim::Simulation;

const READ_BUF: usize = 4096;

/// Run until a signal; returns the final statistics summary.
pub async fn run(settings: Settings) -> Result<String> {
    let now = Instant::now().into_std();
    let mut sim = Simulation::new(settings.sim.clone(), now);
    println!(
        "motesim: seed {} loss {} {} radio {} motes {}",
        settings.sim.seed,
        settings.sim.air.loss,
        if settings.sim.air.paced {
            "paced"
        } else {
            "unthrottled"
        },
        settings.sim.radio_eui64,
        settings.sim.motes.len()
    );
    let stats = settings.stats_file.clone();
    let every = settings.stats_interval;
    let result = match &settings.serve {
        Serve::Tcp(addr) => serve_tcp(&mut sim, *addr, stats.as_deref(), every).await,
        Serve::Pty(path) => serve_pty(&mut sim, path, stats.as_deref(), every).await,
        Serve::Zep { peer, bind } => {
            serve_zep(&mut sim, *peer, *bind, stats.as_deref(), every).await
        }
    };
    if let Some(path) = &stats {
        write_stats(&sim, path);
    }
    result?;
    Ok(sim.stats().summary())
}

/// Write the stats atomically (temp file + rename) so readers never see half a file.
fn write_stats(sim: &Simulation, path: &Path) {
    let tmp = path.with_extension("json.tmp");
    let json = sim.stats().to_json();
    if std::fs::write(&tmp, json)
        .and_then(|_| std::fs::rename(&tmp, path))
        .is_err()
    {
        eprintln!("motesim: cannot write stats to {}", path.display());
    }
}

/// What woke the loop.
enum Wake {
    Timer,
    Tick,
    Stop,
}

struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// Sleep until the simulation's deadline (or far away when it has none).
async fn deadline(sim: &Simulation) {
    match sim.poll_timeout() {
        Some(t) => sleep_until(Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

/// Runs every timer that is already due before output is drained. Unthrottled runs schedule
/// zero-length steps (air time, ACK, `!R`); waiting for each of them in `sleep_until` would
/// cost a tick of tokio's millisecond timer wheel per step and cap the emulator near
/// 400 frames/s. Bounded so a model that keeps rescheduling "now" cannot starve the sockets.
fn run_due_timers(sim: &mut Simulation) {
    for _ in 0..4096 {
        let now = now();
        match sim.poll_timeout() {
            Some(t) if t <= now => sim.handle_timeout(now),
            _ => break,
        }
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn serve_tcp(
    sim: &mut Simulation,
    addr: std::net::SocketAddr,
    stats: Option<&Path>,
    stats_every: Duration,
) -> Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("listening tcp {}", listener.local_addr()?);
    let mut signals = Signals::new()?;
    let mut tick = tokio::time::interval(stats_every);
    let mut client: Option<TcpStream> = None;
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let got: Option<usize>;
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        println!("host connected from {peer}");
                        // ser2net style: the newest client wins.
                        client = Some(stream);
                        sim.host_connected();
                    }
                    Err(e) => eprintln!("motesim: accept failed: {e}"),
                }
                continue;
            }
            n = async {
                match client.as_mut() {
                    Some(c) => c.read(&mut buf).await,
                    None => std::future::pending().await,
                }
            } => {
                got = match n {
                    Ok(0) | Err(_) => {
                        println!("host disconnected");
                        client = None;
                        None
                    }
                    Ok(n) => Some(n),
                };
            }
            wake = async {
                tokio::select! {
                    _ = deadline(sim) => Wake::Timer,
                    _ = tick.tick() => Wake::Tick,
                    _ = signals.recv() => Wake::Stop,
                }
            } => {
                got = None;
                match wake {
                    Wake::Timer => sim.handle_timeout(now()),
                    Wake::Tick => if let Some(p) = stats { write_stats(sim, p) },
                    Wake::Stop => return Ok(()),
                }
            }
        }
        if let Some(n) = got {
            sim.handle_host_bytes(now(), &buf[..n]);
        }
        run_due_timers(sim);
        while let Some(out) = sim.poll_host_bytes() {
            if let Some(c) = client.as_mut()
                && c.write_all(&out).await.is_err()
            {
                println!("host disconnected");
                client = None;
            }
        }
    }
}

/// The pty's master end, non-blocking, registered with the reactor.
struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
}

impl PtyMaster {
    async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| {
                nix::unistd::read(fd.get_ref().as_fd(), buf).map_err(std::io::Error::from)
            }) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| {
                nix::unistd::write(fd.get_ref().as_fd(), data).map_err(std::io::Error::from)
            }) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}

/// Removes the symlink when the pty goes away.
struct Symlink(PathBuf);

impl Drop for Symlink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn open_pty(link: &Path) -> Result<(PtyMaster, OwnedFd, Symlink)> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
    let pty = nix::pty::openpty(None, None).context("openpty")?;
    let mut t = tcgetattr(&pty.slave).context("tcgetattr on the pty slave")?;
    cfmakeraw(&mut t);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &t).context("raw mode on the pty slave")?;
    let slave_path = nix::unistd::ttyname(&pty.slave).context("ttyname of the pty slave")?;
    let flags =
        OFlag::from_bits_truncate(fcntl(&pty.master, FcntlArg::F_GETFL).context("F_GETFL")?);
    fcntl(&pty.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))
        .context("O_NONBLOCK on the pty master")?;
    if let Ok(meta) = std::fs::symlink_metadata(link) {
        if meta.file_type().is_symlink() {
            let _ = std::fs::remove_file(link);
        } else {
            anyhow::bail!(
                "--pty {}: exists and is not a symlink; refusing to replace it",
                link.display()
            );
        }
    }
    std::os::unix::fs::symlink(&slave_path, link)
        .with_context(|| format!("--pty: cannot create symlink {}", link.display()))?;
    let guard = Symlink(link.to_path_buf());
    // SAFETY: the OwnedFd is moved into the AsyncFd, stays open and is the same descriptor
    // for the AsyncFd's whole life.
    let fd = unsafe { AsyncFd::register(pty.master) }
        .map_err(|e| anyhow::anyhow!("register pty: {}", e.into_parts().1))?;
    println!(
        "listening pty {} -> {}",
        link.display(),
        slave_path.display()
    );
    Ok((PtyMaster { fd }, pty.slave, guard))
}

async fn serve_pty(
    sim: &mut Simulation,
    link: &Path,
    stats: Option<&Path>,
    stats_every: Duration,
) -> Result<()> {
    // The slave fd stays open so the master never sees EIO when the host closes its end.
    let (master, _slave, _link) = open_pty(link)?;
    let mut signals = Signals::new()?;
    let mut tick = tokio::time::interval(stats_every);
    let mut buf = vec![0u8; READ_BUF];
    sim.host_connected();
    loop {
        tokio::select! {
            n = master.read(&mut buf) => match n {
                Ok(n) if n > 0 => sim.handle_host_bytes(now(), &buf[..n]),
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) if e.raw_os_error() == Some(libc::EIO) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => return Err(e).context("reading the pty"),
            },
            _ = deadline(sim) => sim.handle_timeout(now()),
            _ = tick.tick() => if let Some(p) = stats { write_stats(sim, p) },
            _ = signals.recv() => return Ok(()),
        }
        run_due_timers(sim);
        while let Some(out) = sim.poll_host_bytes() {
            master.write_all(&out).await.context("writing the pty")?;
        }
    }
}

async fn serve_zep(
    sim: &mut Simulation,
    peer: std::net::SocketAddr,
    bind: std::net::SocketAddr,
    stats: Option<&Path>,
    stats_every: Duration,
) -> Result<()> {
    let sock = UdpSocket::bind(bind)
        .await
        .with_context(|| format!("--zep-bind: cannot bind {bind}"))?;
    println!("listening zep {} -> {peer}", sock.local_addr()?);
    let mut signals = Signals::new()?;
    let mut tick = tokio::time::interval(stats_every);
    let mut buf = vec![0u8; 2048];
    // The motes' Imm-Acks are due 192 us after a frame: finer than tokio's timer wheel.
    let mut timer =
        slip::transport::FineTimer::new().context("cannot create the ZEP timer (timerfd)")?;
    loop {
        let next = sim.poll_timeout();
        let wake = async {
            match next {
                Some(t) => timer.sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                // ICMP errors (peer not up yet) surface here; they are not fatal.
                if let Ok((n, _from)) = r {
                    sim.handle_zep_datagram(now(), &buf[..n]);
                }
            }
            // An error of the timer's fd (none is expected) only means an early wake-up.
            _ = wake => sim.handle_timeout(now()),
            _ = tick.tick() => if let Some(p) = stats { write_stats(sim, p) },
            _ = signals.recv() => return Ok(()),
        }
        run_due_timers(sim);
        while let Some(d) = sim.poll_zep_datagram() {
            let _ = sock.send_to(&d, peer).await;
        }
    }
}
