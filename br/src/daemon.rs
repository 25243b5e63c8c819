//! The daemon's main loop: moves bytes between the IO drivers (TUN, radio driver, redirect
//! socket) and the sans-IO [`BorderRouter`], which decides where everything goes; plus
//! capture, metrics, the control socket and status page, periodic summaries, systemd
//! readiness and watchdog, configuration reload on SIGHUP ([`crate::reload`]), and clean
//! shutdown on SIGINT/SIGTERM.
//!
//! Runs on a current-thread runtime: the core is single-threaded by design and one CPU core
//! is plenty (the radio is thousands of times slower than the loop).

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ops::service::notify_systemd;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::capture::Capture;
use crate::config::{Config, RadioKind};
use crate::counters::DropReason;
use crate::io::metrics;
use crate::io::radio::{self, FRAME_CHANNEL, RadioEvent, RadioHandle};
use crate::io::tun::{self, Tun};
use crate::radio_queue::{RadioDatagram, RadioQueue};
use crate::router::{BorderRouter, Transmit};
use crate::status::{DaemonView, RadioLink, ReloadLog};

/// Applies a new `[log] level`; `Err` says why not.
pub type SetLogLevel = Box<dyn Fn(&str) -> Result<(), String>>;

/// What the daemon needs beyond its configuration.
pub struct Options {
    /// The configuration file, read again on SIGHUP (`None`: defaults and environment).
    pub config_path: Option<PathBuf>,
    /// Applies a new `[log] level`; `Err` says why not (e.g. RUST_LOG is set).
    pub set_log_level: SetLogLevel,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_path: None,
            set_log_level: Box::new(|_| Err("no log handle".into())),
        }
    }
}

/// TUN packets read per wake-up before the loop looks at the radio again.
const TUN_BATCH: usize = 64;
/// Largest packet read from the TUN (bigger than any MTU we allow, so "too big" is seen).
const TUN_BUF: usize = 65_536;

struct Daemon {
    router: BorderRouter,
    tun: Tun,
    radio: RadioHandle,
    /// Whole datagrams waiting for room in the radio driver (see [`RadioQueue`]).
    radio_queue: RadioQueue,
    /// `radio_queue` counters already added to the drop counters.
    queue_drops_counted: u64,
    capture: Option<Capture<io::BufWriter<std::fs::File>>>,
    /// The redirect socket towards remote IoTSSPs.
    redirect_socket: Option<tokio::net::UdpSocket>,
    /// The running configuration (a reload compares the new one with it).
    config: Config,
    opts: Options,
    started: Instant,
    radio_link: RadioLink,
    reloads: ReloadLog,
    summary_every: Option<Duration>,
}

/// Largest redirect message (one UDP datagram).
const REDIRECT_BUF: usize = 65_536;

/// Run until SIGINT/SIGTERM. Errors are start-up failures or a radio driver that died.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    run_with(cfg, Options::default()).await
}

/// [`run`], reloading `opts.config_path` on SIGHUP.
pub async fn run_with(cfg: Config, opts: Options) -> anyhow::Result<()> {
    let tun = Tun::open(&cfg.tun.name)?;
    tun::configure(
        tun.name(),
        cfg.host_address(),
        cfg.prefix().network(),
        cfg.tun.mtu,
    )
    .await
    .with_context(|| format!("cannot configure {}", tun.name()))?;
    info!(tun = tun.name(), address = %cfg.host_address(), prefix = %cfg.network.prefix, mtu = cfg.tun.mtu, "TUN up");

    let capture = match &cfg.capture.pcap {
        Some(path) => Some(
            Capture::create(path)
                .with_context(|| format!("cannot create capture file {}", path.display()))?,
        ),
        None => None,
    };

    let router = BorderRouter::from_config(
        &cfg,
        Instant::now(),
        SystemTime::now(),
        instance_id(),
        restart_seed(),
        dtls::provider::OsRandom::shared(),
    )
    .map_err(|issues| anyhow::anyhow!(crate::config::ConfigError::Invalid(issues)))?;
    let redirect_socket = match (router.wiring(), &cfg.hrm.redirect_listen) {
        (Some(r), Some(listen)) if r.has_remote() => {
            let sock = tokio::net::UdpSocket::bind(listen)
                .await
                .with_context(|| format!("cannot bind hrm.redirect_listen {listen}"))?;
            info!(listen = %sock.local_addr()?, "redirect socket for remote IoTSSPs");
            Some(sock)
        }
        _ => None,
    };
    if let Some(w) = router.wiring() {
        for l in w.links() {
            info!(iotssp = %l.name, endpoint = ?l, "IoTSSP configured");
        }
    }

    let radio = radio::start(&cfg.radio)
        .await
        .context("cannot start the radio driver")?;

    let (request_tx, mut request_rx) = mpsc::channel::<ops::Request>(16);
    if let Some(listen) = cfg.metrics.listen {
        ops::service::open_status_page("lowpan-br", listen, &request_tx)
            .await
            .with_context(|| format!("cannot listen for metrics on {listen}"))?;
    }
    // The control socket is for the operator's `lowpan-br status`; the border router
    // routes without it.
    let control_socket =
        ops::service::open_control_socket("lowpan-br", &cfg.control.socket, &request_tx);
    drop(request_tx);

    let mut sigterm = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot install SIGHUP handler")?;
    // READY=1 waits for the radio link: a border router without its radio routes nothing.
    let radio_name = radio_description(&cfg);
    notify_systemd(&[NotifyState::Status(&format!(
        "waiting for radio on {radio_name}"
    ))]);
    let mut ready = false;
    // Pinged from this loop only, so a loop that hangs is restarted by systemd.
    let watchdog_every = sd_notify::watchdog_enabled().map(|t| t / 2);
    let mut next_watchdog = watchdog_every.map(|p| Instant::now() + p);

    let start = Instant::now();
    let radio_queue = RadioQueue::new(cfg.radio.queue_frames, FRAME_CHANNEL);
    let flush_every = cfg.capture.flush_interval;
    let summary_every =
        (!cfg.metrics.summary_interval.is_zero()).then_some(cfg.metrics.summary_interval);
    let radio_link = RadioLink::new(radio_name.clone(), radio_quality_source(&cfg), start);
    let mut d = Daemon {
        router,
        tun,
        radio,
        radio_queue,
        queue_drops_counted: 0,
        capture,
        redirect_socket,
        config: cfg,
        opts,
        started: start,
        radio_link,
        reloads: ReloadLog::default(),
        summary_every,
    };
    let mut rbuf = vec![0u8; REDIRECT_BUF];
    let mut next_flush = start + flush_every;
    let mut next_summary = summary_every.map(|p| start + p);
    let mut buf = vec![0u8; TUN_BUF];
    let mut requests_open = true;

    let result = loop {
        let mut deadline = next_flush;
        if let Some(t) = d.router.poll_timeout() {
            deadline = deadline.min(t);
        }
        if let Some(t) = next_summary {
            deadline = deadline.min(t);
        }
        if let Some(t) = next_watchdog {
            deadline = deadline.min(t);
        }
        // Waiting for room in the driver's channel must not borrow the daemon.
        let frames_tx = d.radio.frames.clone();
        let next_datagram = d.radio_queue.next_len();
        tokio::select! {
            r = recv_redirect(&d.redirect_socket, &mut rbuf) => match r {
                Ok((n, from)) => {
                    d.router.handle_redirect_datagram(Instant::now(), SystemTime::now(), from, &rbuf[..n]);
                    d.transmit();
                }
                Err(e) => {
                    d.router.counters_mut().drop(DropReason::RedirectReadError);
                    debug!(error = %e, "redirect socket read failed");
                }
            },
            // While the radio queue is full the TUN is not read: bursts wait in the kernel's
            // queue (and are dropped there, whole, if they must be) instead of here.
            r = d.tun.recv(&mut buf), if !d.radio_queue.is_full() => {
                d.on_tun_read(r, &buf);
                // Drain a batch without going back through the reactor.
                for _ in 1..TUN_BATCH {
                    if d.radio_queue.is_full() {
                        break;
                    }
                    match d.tun.try_recv(&mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        r => d.on_tun_read(r, &buf),
                    }
                }
            }
            ev = d.radio.events.recv() => match ev {
                Some(ev) => {
                    match &ev {
                        RadioEvent::Up => {
                            d.radio_link.went_up(Instant::now());
                            let status = format!("running: radio on {radio_name}");
                            if ready {
                                notify_systemd(&[NotifyState::Status(&status)]);
                            } else {
                                notify_systemd(&[NotifyState::Ready, NotifyState::Status(&status)]);
                                ready = true;
                            }
                        }
                        RadioEvent::Down(why) => {
                            d.radio_link.went_down(Instant::now(), why);
                            notify_systemd(&[NotifyState::Status(&format!("radio on {radio_name} down ({why}); reconnecting"))]);
                        }
                        RadioEvent::Frame(..) | RadioEvent::Mac(_) => {}
                    }
                    d.on_radio_event(ev);
                }
                None => break Err(anyhow::anyhow!("the radio driver stopped")),
            },
            // The driver took frames: hand it the next datagram once all of it fits.
            permits = frames_tx.reserve_many(next_datagram.unwrap_or(1)), if next_datagram.is_some() => {
                drop(permits);
                d.pump_radio();
            }
            req = request_rx.recv(), if requests_open => match req {
                Some(r) => {
                    let answer = match r.query {
                        ops::Query::Metrics => d.render_metrics(),
                        ops::Query::Status => d.status().to_string(),
                    };
                    let _ = r.reply.send(answer);
                }
                None => requests_open = false,
            },
            _ = sighup.recv() => {
                let before = d.summary_every;
                d.reload();
                if d.summary_every != before {
                    next_summary = d.summary_every.map(|p| Instant::now() + p);
                }
            },
            _ = tokio::time::sleep_until(deadline.into()) => {}
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); break Ok(()); }
            _ = sigint.recv() => { info!("SIGINT: shutting down"); break Ok(()); }
        }
        let now = Instant::now();
        if d.router.poll_timeout().is_some_and(|t| t <= now) {
            d.router.handle_timeout(now, SystemTime::now());
            d.transmit();
        }
        if let (Some(t), Some(p)) = (next_watchdog, watchdog_every)
            && t <= now
        {
            notify_systemd(&[NotifyState::Watchdog]);
            next_watchdog = Some(now + p);
        }
        if next_flush <= now {
            d.flush_capture();
            next_flush = now + flush_every;
        }
        if let (Some(t), Some(p)) = (next_summary, d.summary_every)
            && t <= now
        {
            info!(counters = %d.summary(), "summary");
            next_summary = Some(now + p);
        }
    };

    notify_systemd(&[NotifyState::Stopping]);
    if let Some(path) = control_socket {
        let _ = std::fs::remove_file(path);
    }
    d.flush_capture();
    d.radio.task.abort();
    info!(counters = %d.summary(), "final counters");
    if let Err(e) = &result {
        error!("{e:#}");
    }
    result
}

impl Daemon {
    fn on_tun_read(&mut self, r: io::Result<usize>, buf: &[u8]) {
        let n = match r {
            Ok(n) => n,
            Err(e) => {
                self.router.counters_mut().drop(DropReason::TunReadError);
                debug!(error = %e, "TUN read failed");
                return;
            }
        };
        self.router
            .handle_tun_packet(Instant::now(), SystemTime::now(), &buf[..n]);
        self.transmit();
    }

    /// Does the IO the core asked for, in its order.
    fn transmit(&mut self) {
        while let Some(t) = self.router.poll_transmit() {
            match t {
                Transmit::Tun(p) => self.write_tun(&p),
                Transmit::Radio(d) => self.queue_radio(d),
                Transmit::Redirect { to, bytes } => match &self.redirect_socket {
                    Some(sock) => {
                        if let Err(e) = sock.try_send_to(&bytes, to) {
                            self.router
                                .counters_mut()
                                .drop(DropReason::RedirectSendError);
                            debug!(error = %e, %to, "redirect send failed");
                        }
                    }
                    None => self
                        .router
                        .counters_mut()
                        .drop(DropReason::RedirectNoSocket),
                },
            }
        }
    }

    fn write_tun(&mut self, packet: &[u8]) {
        match self.tun.try_send(packet) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self
                .router
                .counters_mut()
                .drop(DropReason::TunWriteWouldBlock),
            Err(e) => {
                self.router.counters_mut().drop(DropReason::TunWriteError);
                debug!(error = %e, "TUN write failed");
            }
        }
    }

    fn on_radio_event(&mut self, ev: RadioEvent) {
        match ev {
            RadioEvent::Frame(frame, quality) => {
                record(&mut self.capture, &frame);
                self.router.handle_radio_reception(
                    Instant::now(),
                    SystemTime::now(),
                    &frame,
                    quality,
                );
                self.transmit();
            }
            RadioEvent::Mac(eui) => {
                if self.router.own_eui64() != Some(eui) {
                    info!(eui64 = %eui, "own link address");
                    let (tun, address) = (
                        self.tun.name().to_string(),
                        lowpan::ip::link_local_from_eui64(eui),
                    );
                    tokio::spawn(async move {
                        match tun::set_link_local(&tun, address).await {
                            Ok(()) => info!(tun, %address, "TUN link-local address"),
                            Err(e) => {
                                warn!(tun, error = %format!("{e:#}"), "cannot set the TUN's link-local address")
                            }
                        }
                    });
                }
                self.router.set_own_eui64(eui);
            }
            RadioEvent::Up => info!("radio link up"),
            RadioEvent::Down(why) => warn!(%why, "radio link down"),
        }
    }

    /// Queues a datagram whole for the radio and hands the driver what fits.
    fn queue_radio(&mut self, d: RadioDatagram) {
        self.radio_queue.push(d);
        let dropped = self.radio_queue.counters().datagrams_dropped;
        self.router.counters_mut().drop_n(
            DropReason::RadioQueueFull,
            dropped - self.queue_drops_counted,
        );
        self.queue_drops_counted = dropped;
        self.pump_radio();
    }

    /// Hands the driver every queued datagram that fits whole in its frame channel.
    fn pump_radio(&mut self) {
        loop {
            let Some(n) = self.radio_queue.next_len() else {
                return;
            };
            let permits = match self.radio.frames.try_reserve_many(n) {
                Ok(p) => p,
                Err(mpsc::error::TrySendError::Full(())) => return,
                Err(mpsc::error::TrySendError::Closed(())) => {
                    while let Some(d) = self.radio_queue.pop_fitting(usize::MAX) {
                        self.router
                            .counters_mut()
                            .drop_n(DropReason::RadioDown, d.frames.len() as u64);
                    }
                    return;
                }
            };
            let Some(d) = self.radio_queue.pop_fitting(n) else {
                return;
            };
            for (permit, frame) in permits.zip(d.frames) {
                record(&mut self.capture, &frame);
                permit.send(frame);
            }
        }
    }

    fn flush_capture(&mut self) {
        if let Some(cap) = &mut self.capture
            && let Err(e) = cap.flush()
        {
            warn!(error = %e, "capture flush failed; capture stopped");
            self.capture = None;
        }
    }

    fn radio_stats(&self) -> Vec<(&'static str, u64)> {
        self.radio
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    fn render_metrics(&self) -> String {
        let bridge = self.router.bridge();
        let mut s = metrics::snapshot(
            bridge.counters(),
            bridge.neighbours(),
            &self.radio_stats(),
            bridge.own_eui64().map(|e| e.to_string()),
        );
        if let Some(w) = self.router.wiring() {
            w.add_metrics(&mut s, Instant::now());
        }
        s.encode()
    }

    fn status(&self) -> serde_json::Value {
        let config = self.opts.config_path.as_ref().map_or_else(
            || "<defaults and environment>".into(),
            |p| p.display().to_string(),
        );
        let view = DaemonView {
            started: self.started,
            config: &config,
            log_level: &self.config.log.level,
            tun: self.tun.name(),
            radio: &self.radio_link,
            radio_counters: &self.radio_stats(),
            reload: &self.reloads,
        };
        crate::status::document(&self.router, &view, Instant::now())
    }

    /// SIGHUP: reads the configuration again and applies what can change while running
    /// ([`crate::reload`]); anything wrong keeps the running configuration, and says why.
    fn reload(&mut self) {
        let now = Instant::now();
        let origin = self.opts.config_path.as_ref().map_or_else(
            || "<defaults and environment>".into(),
            |p| p.display().to_string(),
        );
        info!(config = %origin, "SIGHUP: reloading the configuration");
        let new = match Config::load(self.opts.config_path.as_deref(), std::env::vars()) {
            Ok(c) => c,
            Err(e) => return self.reload_failed(now, "invalid", e.to_string()),
        };
        let restart = crate::reload::needs_restart(&self.config, &new);
        if !restart.is_empty() {
            let why = format!(
                "{} changed, which needs a restart (systemctl restart lowpan-br)",
                restart.join(", ")
            );
            return self.reload_failed(now, "refused", why);
        }
        let mut changes = match self.router.reload(&new, now) {
            Ok(c) => c,
            Err(issues) => {
                return self.reload_failed(
                    now,
                    "invalid",
                    crate::config::ConfigError::Invalid(issues).to_string(),
                );
            }
        };
        self.transmit();
        if new.log.level != self.config.log.level {
            match (self.opts.set_log_level)(&new.log.level) {
                Ok(()) => {
                    // Seen only when the new filter lets debug lines through.
                    debug!(level = %new.log.level, "log filter replaced");
                    changes.push(format!("log level {:?}", new.log.level));
                }
                Err(why) => warn!("log.level not applied: {why}"),
            }
        }
        if new.metrics.summary_interval != self.config.metrics.summary_interval {
            self.summary_every =
                (!new.metrics.summary_interval.is_zero()).then_some(new.metrics.summary_interval);
            changes.push("summary interval".into());
        }
        self.config = new;
        let what = changes.join(", ");
        info!(applied = %what, "configuration reloaded; radio link and sessions kept");
        self.reloads.applied += 1;
        self.reloads.last = Some((now, "applied", what));
    }

    fn reload_failed(&mut self, now: Instant, outcome: &'static str, why: String) {
        // One journal line: the issues of an invalid file joined.
        let why = why.lines().map(str::trim).collect::<Vec<_>>().join("; ");
        error!("reload {outcome}: {why}; the running configuration stays");
        self.reloads.refused += 1;
        self.reloads.last = Some((now, outcome, why));
    }

    fn summary(&self) -> String {
        let mut s = self.router.counters().summary();
        if let Some(w) = self.router.wiring() {
            s.push(' ');
            s.push_str(&w.summary(Instant::now()));
        }
        let radio: Vec<String> = self
            .radio_stats()
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| format!("radio.{k}={v}"))
            .collect();
        if !radio.is_empty() {
            s.push(' ');
            s.push_str(&radio.join(" "));
        }
        s
    }
}

/// Start values for 802.15.4 sequence numbers and datagram tags that differ between
/// restarts, so motes' duplicate filters (same source and sequence number within seconds)
/// and reassembly buffers do not eat our first frames after a quick restart.
fn restart_seed() -> u32 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    t.subsec_nanos() ^ std::process::id().rotate_left(16)
}

/// Receives on the redirect socket, or waits forever when there is none.
async fn recv_redirect(
    sock: &Option<tokio::net::UdpSocket>,
    buf: &mut [u8],
) -> io::Result<(usize, std::net::SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// The redirect channel's sender instance: random per start, so a restarted border router
/// is a new sender whose sequence numbers start again at 0.
fn instance_id() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No randomness: time and pid still differ between restarts.
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        return (t.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32);
    }
    u64::from_be_bytes(b)
}

/// The radio as the STATUS= lines name it.
fn radio_description(cfg: &Config) -> String {
    match cfg.radio.kind {
        RadioKind::Serial => format!("serial {}", cfg.radio.device),
        RadioKind::Tcp => format!("tcp {}", cfg.radio.address),
        RadioKind::Zep => format!("zep {}", cfg.radio.bind),
    }
}

/// Where the neighbours' link quality comes from, for the status.
fn radio_quality_source(cfg: &Config) -> &'static str {
    match cfg.radio.kind {
        RadioKind::Serial | RadioKind::Tcp => {
            "not reported: the slip-radio protocol carries no LQI or RSSI"
        }
        RadioKind::Zep => "from each ZEP datagram: its LQI, and the RSSI in LQI mode",
    }
}

fn record(capture: &mut Option<Capture<io::BufWriter<std::fs::File>>>, frame: &[u8]) {
    let Some(cap) = capture else { return };
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    if let Err(e) = cap.record(ts, frame) {
        // A full disk must not stop the border router: stop capturing instead.
        warn!(error = %e, "capture write failed; capture stopped");
        *capture = None;
    }
}
