//! `iotssp`: the IoTSSP as its own service (remote mode). A thin tokio driver around the
//! sans-IO [`ssp::Iotssp`]: one UDP socket for the authenticated redirect channel to border
//! routers (one `redirect::RedirectChannel` per border router), which also carries the
//! datagrams to and from the motes' transfer ports (MoteDatagram), and the timers. Its
//! SessionResumables go through a `redirect::ResumableOutbox`, sent again until the border
//! router acknowledges them. The
//! `mote_link.bind` socket is still bound and read (a mote reaching it directly is served),
//! but nothing is sent from it. Also the control socket of `iotssp status`, the opt-in
//! status page, and configuration reload on SIGHUP. Logs never contain keys.
//!
//! SIGHUP reloads, without a restart, the border routers' redirect keys (the old key is
//! still accepted, as in a rotation) and everything the IoTSSP is built from (motes,
//! certificates, PSKs, trust anchors, authorization, limits, timers); the rebuilt IoTSSP
//! takes over once the handshakes in progress have ended. The name, the sockets and the
//! set of border routers need a restart: a reload that changes them is refused, and an
//! invalid file keeps the running configuration; either way the log says why.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use clap::Parser;
use ops::service::notify_systemd;
use redirect::{
    ChannelConfig, KeyRing, OutboxConfig, OutboxCounters, RedirectChannel, RedirectMessage,
    ResumableOutbox,
};
use sd_notify::NotifyState;
use ssp::Iotssp;
use ssp::config::SspConfig;
use tokio::net::UdpSocket;

#[derive(Parser, Debug)]
#[command(
    name = "iotssp",
    about = "IoT Security Support Provider: delegated DTLS handshakes and session transfer to motes"
)]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Validate the configuration (including certificates and keys) and exit.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<ops::service::Command>,
}

struct BorderRouter {
    name: String,
    address: SocketAddr,
    channel: RedirectChannel,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(command) = &args.command {
        let configured = |c: &Path| {
            SspConfig::from_file(c)
                .map(|conf| conf.control.socket)
                .map_err(|e| format!("{}: {e}", c.display()))
        };
        return command.run(
            "iotssp",
            args.config.as_deref(),
            configured,
            ssp::config::DEFAULT_CONTROL_SOCKET,
        );
    }
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iotssp: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args) -> anyhow::Result<()> {
    let path = args
        .config
        .ok_or_else(|| anyhow::anyhow!("--config FILE is required"))?;
    // The level first, so that building the IoTSSP already logs at it.
    let level = SspConfig::from_file(&path).map_or_else(|_| "info".to_string(), |c| c.log.level);
    let log = ops::service::init_logging(&level);
    let (config, iotssp) = load(&path)?;
    if args.check_config {
        println!(
            "{}: ok ({} motes, {} border routers)",
            path.display(),
            config.motes.len(),
            config.redirect.border_routers.len()
        );
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(path, config, iotssp, log))
}

/// Reads the configuration and everything it names (certificates, keys, trust anchors).
fn load(path: &Path) -> anyhow::Result<(SspConfig, Iotssp)> {
    let config =
        SspConfig::from_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let iotssp = config
        .build(&base)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    config
        .border_router_keys()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((config, iotssp))
}

/// What a reload may not change: the keys that name them, when they differ.
fn needs_restart(old: &SspConfig, new: &SspConfig) -> Vec<&'static str> {
    let brs = |c: &SspConfig| {
        c.redirect
            .border_routers
            .iter()
            .map(|b| (b.name.clone(), b.address))
            .collect::<Vec<_>>()
    };
    let mut v = Vec::new();
    if old.name != new.name {
        v.push("name");
    }
    if old.redirect.listen != new.redirect.listen {
        v.push("redirect.listen");
    }
    if brs(old) != brs(new) {
        v.push("redirect.border_routers (names or addresses)");
    }
    if old.mote_link.bind != new.mote_link.bind {
        v.push("mote_link.bind");
    }
    if old.control != new.control {
        v.push("control");
    }
    if old.status != new.status {
        v.push("status");
    }
    v
}

/// What the status shows of the last reload.
#[derive(Default)]
struct Reloads {
    applied: u64,
    refused: u64,
    last: Option<(Instant, &'static str, String)>,
}

fn instance_id() -> anyhow::Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
    Ok(u64::from_be_bytes(b))
}

async fn run(
    path: PathBuf,
    mut config: SspConfig,
    mut iotssp: Iotssp,
    log: ops::service::LogLevel,
) -> anyhow::Result<()> {
    let redirect = UdpSocket::bind(config.redirect.listen)
        .await
        .with_context(|| format!("redirect.listen {}", config.redirect.listen))?;
    let motes = UdpSocket::bind(config.mote_link.bind)
        .await
        .with_context(|| format!("mote_link.bind {}", config.mote_link.bind))?;
    let me = instance_id()?;
    let start = Instant::now();
    // A new epoch: every mote re-associates now, not when its first client comes.
    iotssp.start_epoch(start, ssp::iotssp::epoch_of(SystemTime::now()));
    let mut brs: Vec<BorderRouter> = config
        .border_router_keys()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .map(|(name, address, key)| BorderRouter {
            name,
            address,
            channel: RedirectChannel::new(
                ChannelConfig::default(),
                redirect::Role::Iotssp,
                KeyRing::new(key),
                me,
                start,
                SystemTime::now(),
            ),
        })
        .collect();
    // Which border router may speak for which mote, and gets its replies.
    let mut routes = config.mote_routes();
    // SessionResumables sent again until their border router acknowledges them.
    let mut resumables = ResumableOutbox::new(OutboxConfig::default());
    // The signals are ours before anyone is told we run: a SIGHUP right after the
    // "running" line reloads instead of killing the service.
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tracing::info!(name = %config.name, redirect = %redirect.local_addr()?, motes = %motes.local_addr()?, "iotssp running");
    // Configuration loaded and both sockets bound: ready. The watchdog is pinged from the
    // loop only, so a loop that hangs is restarted by systemd.
    let (request_tx, mut request_rx) = tokio::sync::mpsc::channel::<ops::Request>(16);
    if let Some(listen) = config.status.listen {
        ops::service::open_status_page("iotssp", listen, &request_tx)
            .await
            .with_context(|| format!("status.listen {listen}"))?;
    }
    let control_socket =
        ops::service::open_control_socket("iotssp", &config.control.socket, &request_tx);
    drop(request_tx);
    let mut requests_open = true;
    let mut reloads = Reloads::default();
    // A rebuilt IoTSSP waits here until the running one has no handshake left.
    let mut pending: Option<Iotssp> = None;
    notify_systemd(&[
        NotifyState::Ready,
        NotifyState::Status(&format!("running: redirect on {}", redirect.local_addr()?)),
    ]);
    let watchdog_every = sd_notify::watchdog_enabled().map(|t| t / 2);
    let mut next_watchdog = watchdog_every.map(|p| Instant::now() + p);

    let mut rbuf = vec![0u8; 65536];
    let mut mbuf = vec![0u8; 65536];
    let mut rejected: u64 = 0;
    // Authentic messages about a mote their border router does not serve (part of `rejected`).
    let mut not_served: u64 = 0;
    loop {
        let now = Instant::now();
        let deadline = brs
            .iter()
            .filter_map(|b| b.channel.poll_timeout())
            .chain(iotssp.poll_timeout())
            .chain(resumables.poll_timeout())
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
                    Ok(repr) if !routes.accept(i, repr.message.flow().mote_addr) => {
                        rejected += 1;
                        not_served += 1;
                        tracing::debug!(br = %brs[i].name, mote = %repr.message.flow().mote_addr, "redirect message for a mote this border router does not serve");
                    }
                    // Authentic, from a border router that serves the mote.
                    Ok(repr) => match repr.message {
                        RedirectMessage::ResumableAck { flow, session_id } => {
                            resumables.handle_ack(&flow, session_id);
                        }
                        message => iotssp.handle_redirect(now, &message),
                    },
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
            req = request_rx.recv(), if requests_open => match req {
                Some(r) => {
                    let now = Instant::now();
                    let answer = match r.query {
                        ops::Query::Status => status_document(&path, &config, &iotssp, &brs, start, now, (rejected, not_served), resumables.counters(), &reloads, pending.is_some()).to_string(),
                        ops::Query::Metrics => metrics(&iotssp, &brs, now, (rejected, not_served), resumables.counters()),
                    };
                    let _ = r.reply.send(answer);
                }
                None => requests_open = false,
            },
            _ = sighup.recv() => {
                let now = Instant::now();
                tracing::info!(config = %path.display(), "SIGHUP: reloading the configuration");
                let outcome = match load(&path) {
                    Err(e) => Err(("invalid", format!("{e:#}"))),
                    Ok((new, _)) if !needs_restart(&config, &new).is_empty() => Err((
                        "refused",
                        format!("{} changed, which needs a restart (systemctl restart iotssp)", needs_restart(&config, &new).join(", ")),
                    )),
                    Ok((new, rebuilt)) => {
                        let keys = new.border_router_keys().unwrap_or_default();
                        let mut changed = vec!["motes, certificates, PSKs, trust, authorization, limits, timers".to_string()];
                        for (b, (_, _, key)) in brs.iter_mut().zip(keys) {
                            if !key.same_as(&b.channel.keys().current) {
                                let previous = Some(b.channel.keys().current.clone());
                                b.channel.set_keys(KeyRing { current: key, previous });
                                changed.push(format!("redirect key of {}", b.name));
                            }
                        }
                        if new.log.level != config.log.level {
                            match log.set(&new.log.level) {
                                Ok(()) => changed.push(format!("log level {:?}", new.log.level)),
                                Err(why) => tracing::warn!("log.level not applied: {why}"),
                            }
                        }
                        pending = Some(rebuilt);
                        routes = new.mote_routes();
                        config = new;
                        Ok(changed.join(", "))
                    }
                };
                match outcome {
                    Ok(what) => {
                        tracing::info!(applied = %what, "configuration reloaded; sessions and border-router channels kept");
                        reloads.applied += 1;
                        reloads.last = Some((now, "applied", what));
                    }
                    Err((kind, why)) => {
                        let why = why.lines().map(str::trim).collect::<Vec<_>>().join("; ");
                        tracing::error!("reload {kind}: {why}; the running configuration stays");
                        reloads.refused += 1;
                        reloads.last = Some((now, kind, why));
                    }
                }
            }
            _ = sigterm.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
        let now = Instant::now();
        let wall = SystemTime::now();
        if pending.is_some()
            && iotssp.delegation_count() == 0
            && let Some(new) = pending.take()
        {
            iotssp = new;
            // The new instance has none of the running one's associations.
            iotssp.start_epoch(now, ssp::iotssp::epoch_of(wall));
            tracing::info!("reloaded IoTSSP in service");
        }
        if let (Some(t), Some(p)) = (next_watchdog, watchdog_every)
            && t <= now
        {
            notify_systemd(&[NotifyState::Watchdog]);
            next_watchdog = Some(now + p);
        }
        while let Some(out) = iotssp.poll_output() {
            if let ssp::Output::SessionResumable {
                flow,
                lifetime_secs,
                session_id,
            } = &out
            {
                // Sent below, and again until acknowledged.
                resumables.queue(now, *flow, *lifetime_secs, session_id);
                continue;
            }
            // Datagrams to motes travel inside the redirect channel too (MoteDatagram): the
            // border router sends them from this IoTSSP's mote source, so nothing of the
            // mote leg passes its TUN, whose side of the motes' transfer port is closed.
            let Some(msg) = out.as_redirect().or_else(|| out.as_mote_datagram()) else {
                continue;
            };
            if let Some((to, bytes)) = seal_for_mote(&mut brs, &routes, now, wall, &msg)
                && let Err(e) = redirect.send_to(&bytes, to).await
            {
                tracing::warn!(%to, error = %e, "send to border router failed");
            }
        }
        while let Some(copy) = resumables.poll_message(now) {
            if let Some((to, bytes)) = seal_for_mote(&mut brs, &routes, now, wall, &copy.message())
                && let Err(e) = redirect.send_to(&bytes, to).await
            {
                tracing::warn!(%to, error = %e, "send to border router failed");
            }
        }
        for b in &mut brs {
            if let Some(hello) = b.channel.poll_transmit(now, wall) {
                let _ = redirect.send_to(&hello, b.address).await;
            }
        }
    }
    notify_systemd(&[NotifyState::Stopping]);
    if let Some(p) = control_socket {
        let _ = std::fs::remove_file(p);
    }
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
        private_keys_held = iotssp.private_keys_held(),
        keyless_motes = iotssp.keyless_motes(),
        keyless_signatures = c.keyless_signatures,
        outbound_started = c.outbound_started,
        outbound_completed = c.outbound_completed,
        outbound_refused = c.outbound_refused,
        outbound_failed = ?c.outbound_failed,
        mote_associations = c.mote_associations,
        start_pokes = c.start_pokes,
        pokes_sent = iotssp.pokes_sent(),
        redirect_rejected = rejected,
        resumables_sent = resumables.counters().sent,
        resumables_resent = resumables.counters().resent,
        resumables_acked = resumables.counters().acked,
        resumables_unacked = resumables.counters().unacked,
        drops = ?c.drops,
        "iotssp stopping"
    );
    Ok(())
}

/// `msg`, about a mote, sealed for the border router that serves it (the one that last
/// brought its traffic), with that router's address.
fn seal_for_mote(
    brs: &mut [BorderRouter],
    routes: &ssp::routes::MoteRoutes,
    now: Instant,
    wall: SystemTime,
    msg: &RedirectMessage<'_>,
) -> Option<(SocketAddr, Vec<u8>)> {
    let Some(i) = routes.route(msg.flow().mote_addr) else {
        tracing::warn!(flow = %msg.flow(), "no border router known for this mote");
        return None;
    };
    let b = &mut brs[i];
    match b.channel.seal(now, wall, msg) {
        Ok(bytes) => Some((b.address, bytes)),
        Err(e) => {
            tracing::warn!(br = %b.name, error = e.as_str(), "redirect message not sealed");
            None
        }
    }
}

/// The status document of `iotssp status` and the status page.
#[allow(clippy::too_many_arguments)]
fn status_document(
    path: &Path,
    config: &SspConfig,
    iotssp: &Iotssp,
    brs: &[BorderRouter],
    start: Instant,
    now: Instant,
    (rejected, not_served): (u64, u64),
    resumables: &OutboxCounters,
    reloads: &Reloads,
    reload_pending: bool,
) -> serde_json::Value {
    use serde_json::{Value, json};
    let secs = |t: Instant| ssp::status::secs(now.saturating_duration_since(t));
    let border_routers: Vec<Value> = brs
        .iter()
        .map(|b| {
            let mut m = serde_json::Map::new();
            m.insert("name".into(), b.name.clone().into());
            m.insert("address".into(), b.address.to_string().into());
            let state = match b.channel.liveness(now) {
                redirect::Liveness::Unknown => "not_heard_yet",
                redirect::Liveness::Alive => "alive",
                redirect::Liveness::Dead => "dead",
            };
            m.insert("state".into(), state.into());
            for (k, v) in b.channel.counters().iter() {
                if v != 0 {
                    m.insert(format!("channel.{k}"), v.into());
                }
            }
            Value::Object(m)
        })
        .collect();
    let motes: Vec<Value> = config
        .motes
        .iter()
        .map(|m| json!({ "name": m.name, "address": m.address.to_string(), "dtls_port": m.dtls_port, "transfer_port": m.transfer_port }))
        .collect();
    let mut reload = serde_json::Map::new();
    reload.insert("applied".into(), reloads.applied.into());
    reload.insert("refused".into(), reloads.refused.into());
    reload.insert(
        "waiting_for_handshakes_to_end".into(),
        reload_pending.into(),
    );
    if let Some((at, outcome, message)) = &reloads.last {
        reload.insert("last_outcome".into(), (*outcome).into());
        reload.insert("last_message".into(), message.clone().into());
        reload.insert("last_s_ago".into(), secs(*at).into());
    }
    json!({
        "daemon": "iotssp",
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptime_s": secs(start),
        "config": path.display().to_string(),
        "name": config.name,
        "redirect_listen": config.redirect.listen.to_string(),
        "redirect_rejected": rejected,
        "redirect_mote_not_served": not_served,
        "keys_held": iotssp.keys_held(),
        "border_routers": border_routers,
        "motes_served": motes,
        "delegations": ssp::status::delegations(iotssp, now),
        "handshakes": ssp::status::handshakes(iotssp, now),
        "counters": ssp::status::counters(iotssp),
        "resumables": resumables
            .iter()
            .map(|(k, n)| (k.to_string(), Value::from(n)))
            .collect::<serde_json::Map<_, _>>(),
        "reload": reload,
    })
}

/// Prometheus metrics: the IoTSSP's counters and each border router's channel.
fn metrics(
    iotssp: &Iotssp,
    brs: &[BorderRouter],
    now: Instant,
    (rejected, not_served): (u64, u64),
    resumables: &OutboxCounters,
) -> String {
    let counter = |k: &str| vec![("counter", k.to_owned())];
    let mut totals: Vec<_> = ssp::status::counter_list(iotssp)
        .into_iter()
        .filter(|(k, _)| k != "keys_held" && k != "delegations")
        .map(|(k, n)| (counter(&k), n))
        .collect();
    totals.push((counter("redirect_rejected"), rejected));
    totals.push((counter("redirect_mote_not_served"), not_served));
    totals.extend(
        resumables
            .iter()
            .map(|(k, n)| (counter(&format!("resumables_{k}")), n)),
    );
    let alive = brs.iter().map(|b| {
        let up = matches!(b.channel.liveness(now), redirect::Liveness::Alive);
        (vec![("border_router", b.name.clone())], i64::from(up))
    });
    let mut s = ops::metrics::Snapshot::new();
    s.counters(
        "iotssp",
        "Handshakes, transfers and drops (by reason), and refused redirect messages.",
        totals,
    );
    s.gauge(
        "iotssp_keys_held",
        "Session keys held for motes.",
        iotssp.keys_held() as i64,
    );
    s.gauge(
        "iotssp_delegations",
        "Delegations served.",
        iotssp.delegation_count() as i64,
    );
    s.gauges(
        "iotssp_border_router_alive",
        "1 while a border router's redirect channel is alive.",
        alive.collect::<Vec<_>>(),
    );
    s.encode()
}
