//! `iotssp`: the IoTSSP as its own service (remote mode). A thin tokio driver around the
//! sans-IO [`ssp::Iotssp`]: one UDP socket for the authenticated redirect channel to border
//! routers (one `redirect::RedirectChannel` per border router), which also carries the
//! datagrams to and from the motes' transfer ports (MoteDatagram), and the timers. The
//! `mote_link.bind` socket is still bound and read (a mote reaching it directly is served),
//! but nothing is sent from it. Logs never contain keys.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::Context;
use clap::Parser;
use redirect::{ChannelConfig, KeyRing, RedirectChannel};
use ssp::config::SspConfig;
use sd_notify::NotifyState;
use ssp::Iotssp;
use tokio::net::UdpSocket;

#[derive(Parser, Debug)]
#[command(name = "iotssp", about = "IoT Security Support Provider: delegated DTLS handshakes and session transfer to motes")]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, short)]
    config: PathBuf,
    /// Validate the configuration (including certificates and keys) and exit.
    #[arg(long)]
    check_config: bool,
}

struct BorderRouter {
    name: String,
    address: SocketAddr,
    channel: RedirectChannel,
}

fn main() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    // Colour only for a person at a terminal; the journal stamps each line itself.
    let fmt = tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()));
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        fmt.without_time().init();
    } else {
        fmt.init();
    }
    let args = Args::parse();
    let config = SspConfig::from_file(&args.config).map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?;
    let base = args.config.parent().map(Path::to_path_buf).unwrap_or_default();
    let iotssp = config.build(&base).map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?;
    if args.check_config {
        println!("{}: ok ({} motes, {} border routers)", args.config.display(), config.motes.len(), config.redirect.border_routers.len());
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(run(config, iotssp))
}

fn instance_id() -> anyhow::Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
    Ok(u64::from_be_bytes(b))
}

async fn run(config: SspConfig, mut iotssp: Iotssp) -> anyhow::Result<()> {
    let redirect = UdpSocket::bind(config.redirect.listen).await.with_context(|| format!("redirect.listen {}", config.redirect.listen))?;
    let motes = UdpSocket::bind(config.mote_link.bind).await.with_context(|| format!("mote_link.bind {}", config.mote_link.bind))?;
    let me = instance_id()?;
    let start = Instant::now();
    let mut brs: Vec<BorderRouter> = config
        .border_router_keys()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .map(|(name, address, key)| BorderRouter { name, address, channel: RedirectChannel::new(ChannelConfig::default(), KeyRing::new(key), me, start, SystemTime::now()) })
        .collect();
    // Which border router last diverted traffic for a mote: its replies go back there.
    let mut route: HashMap<Ipv6Addr, usize> = HashMap::new();
    tracing::info!(name = %config.name, redirect = %redirect.local_addr()?, motes = %motes.local_addr()?, "iotssp running");
    // Configuration loaded and both sockets bound: ready. The watchdog is pinged from the
    // loop only, so a loop that hangs is restarted by systemd.
    notify_systemd(&[NotifyState::Ready, NotifyState::Status(&format!("running: redirect on {}", redirect.local_addr()?))]);
    let watchdog_every = sd_notify::watchdog_enabled().map(|t| t / 2);
    let mut next_watchdog = watchdog_every.map(|p| Instant::now() + p);

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut rbuf = vec![0u8; 65536];
    let mut mbuf = vec![0u8; 65536];
    let mut rejected: u64 = 0;
    loop {
        let now = Instant::now();
        let deadline = brs
            .iter()
            .filter_map(|b| b.channel.poll_timeout())
            .chain(iotssp.poll_timeout())
            .chain(next_watchdog)
            .min()
            .unwrap_or(now + std::time::Duration::from_secs(1));
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline.max(now)));
        tokio::select! {
            r = redirect.recv_from(&mut rbuf) => {
                let (n, from) = r?;
                let now = Instant::now();
                let wall = SystemTime::now();
                let idx = brs.iter().position(|b| b.address == from).or_else(|| brs.iter().position(|b| b.address.ip() == from.ip()));
                let Some(i) = idx else {
                    rejected += 1;
                    tracing::debug!(%from, "redirect message from an unknown border router");
                    continue;
                };
                match brs[i].channel.open(now, wall, &rbuf[..n]) {
                    Ok(repr) => {
                        let flow = repr.message.flow();
                        if flow.mote_addr != Ipv6Addr::UNSPECIFIED {
                            route.insert(flow.mote_addr, i);
                        }
                        iotssp.handle_redirect(now, &repr.message);
                    }
                    Err(e) => {
                        rejected += 1;
                        tracing::debug!(br = %brs[i].name, reason = e.as_str(), "redirect message refused");
                    }
                }
            }
            r = motes.recv_from(&mut mbuf) => {
                let (n, from) = r?;
                iotssp.handle_mote_datagram(Instant::now(), from, &mbuf[..n]);
            }
            _ = sleep => {
                let now = Instant::now();
                iotssp.handle_timeout(now);
                for b in &mut brs {
                    b.channel.handle_timeout(now);
                }
            }
            _ = sigterm.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
        let now = Instant::now();
        let wall = SystemTime::now();
        if let (Some(t), Some(p)) = (next_watchdog, watchdog_every)
            && t <= now
        {
            notify_systemd(&[NotifyState::Watchdog]);
            next_watchdog = Some(now + p);
        }
        while let Some(out) = iotssp.poll_output() {
            // Datagrams to motes travel inside the redirect channel too (MoteDatagram): the
            // border router sends them from this IoTSSP's mote source, so nothing of the
            // mote leg passes its TUN, whose side of the motes' transfer port is closed.
            let Some(msg) = out.as_redirect().or_else(|| out.as_mote_datagram()) else { continue };
            let mote = msg.flow().mote_addr;
            // The border router that last diverted or carried traffic of this mote; with a
            // single border router, that one.
            let Some(i) = route.get(&mote).copied().or((brs.len() == 1).then_some(0)) else {
                tracing::warn!(flow = %msg.flow(), "no border router known for this mote");
                continue;
            };
            let b = &mut brs[i];
            match b.channel.seal(now, wall, &msg) {
                Ok(bytes) => {
                    if let Err(e) = redirect.send_to(&bytes, b.address).await {
                        tracing::warn!(br = %b.name, error = %e, "send to border router failed");
                    }
                }
                Err(e) => tracing::warn!(br = %b.name, error = e.as_str(), "redirect message not sealed"),
            }
        }
        for b in &mut brs {
            if let Some(hello) = b.channel.poll_transmit(now, wall) {
                let _ = redirect.send_to(&hello, b.address).await;
            }
        }
    }
    notify_systemd(&[NotifyState::Stopping]);
    let c = iotssp.counters();
    tracing::info!(
        handshakes_started = c.handshakes_started,
        handshakes_completed = c.handshakes_completed,
        handshakes_failed = ?c.handshakes_failed,
        transfers = c.transfers_completed,
        cookies_sent = c.cookies_sent,
        alerts_sent = c.alerts_sent,
        app_data_records_received = c.app_data_records_received,
        keys_held = iotssp.keys_held(),
        redirect_rejected = rejected,
        drops = ?c.drops,
        "iotssp stopping"
    );
    Ok(())
}

/// Tells systemd (when `$NOTIFY_SOCKET` is set; nothing otherwise).
fn notify_systemd(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}
