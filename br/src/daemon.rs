//! The daemon's main loop: moves bytes between the IO drivers (TUN, radio driver, redirect
//! socket) and the sans-IO [`BorderRouter`], which decides where everything goes; plus
//! capture, metrics, periodic summaries, systemd readiness and watchdog, and clean shutdown
//! on SIGINT/SIGTERM.
//!
//! Runs on a current-thread runtime: the core is single-threaded by design and one CPU core
//! is plenty (the radio is thousands of times slower than the loop).

use std::io;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::capture::Capture;
use crate::config::{Config, RadioKind};
use crate::counters::DropReason;
use crate::io::metrics::{self, RenderRequest};
use crate::io::radio::{self, RadioEvent, RadioHandle};
use crate::io::tun::{self, Tun};
use crate::router::{BorderRouter, Transmit};

/// TUN packets read per wake-up before the loop looks at the radio again.
const TUN_BATCH: usize = 64;
/// Largest packet read from the TUN (bigger than any MTU we allow, so "too big" is seen).
const TUN_BUF: usize = 65_536;

struct Daemon {
    router: BorderRouter,
    tun: Tun,
    radio: RadioHandle,
    capture: Option<Capture<io::BufWriter<std::fs::File>>>,
    /// The redirect socket towards remote IoTSSPs.
    redirect_socket: Option<tokio::net::UdpSocket>,
}

/// Largest redirect message (one UDP datagram).
const REDIRECT_BUF: usize = 65_536;

/// Run until SIGINT/SIGTERM. Errors are start-up failures or a radio driver that died.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let tun = Tun::open(&cfg.tun.name)?;
    tun::configure(tun.name(), cfg.host_address(), cfg.prefix().network(), cfg.tun.mtu)
        .await
        .with_context(|| format!("cannot configure {}", tun.name()))?;
    info!(tun = tun.name(), address = %cfg.host_address(), prefix = %cfg.network.prefix, mtu = cfg.tun.mtu, "TUN up");

    let capture = match &cfg.capture.pcap {
        Some(path) => Some(
            Capture::create(path).with_context(|| format!("cannot create capture file {}", path.display()))?,
        ),
        None => None,
    };

    let router = BorderRouter::from_config(&cfg, Instant::now(), SystemTime::now(), instance_id(), restart_seed())
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

    let radio = radio::start(&cfg.radio).await.context("cannot start the radio driver")?;

    let (render_tx, mut render_rx) = mpsc::channel::<RenderRequest>(16);
    if let Some(listen) = &cfg.metrics.listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen for metrics on {listen}"))?;
        info!(%listen, "metrics at http://{listen}/metrics");
        tokio::spawn(metrics::serve(listener, render_tx.clone()));
    }
    drop(render_tx);

    let mut sigterm = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    // READY=1 waits for the radio link: a border router without its radio routes nothing.
    let radio_name = radio_description(&cfg);
    notify_systemd(&[NotifyState::Status(&format!("waiting for radio on {radio_name}"))]);
    let mut ready = false;
    // Pinged from this loop only, so a loop that hangs is restarted by systemd.
    let watchdog_every = sd_notify::watchdog_enabled().map(|t| t / 2);
    let mut next_watchdog = watchdog_every.map(|p| Instant::now() + p);

    let mut d = Daemon { router, tun, radio, capture, redirect_socket };
    let mut rbuf = vec![0u8; REDIRECT_BUF];
    let flush_every = cfg.capture.flush_interval;
    let summary_every = (!cfg.metrics.summary_interval.is_zero()).then_some(cfg.metrics.summary_interval);
    let start = Instant::now();
    let mut next_flush = start + flush_every;
    let mut next_summary = summary_every.map(|p| start + p);
    let mut buf = vec![0u8; TUN_BUF];
    let mut metrics_open = true;

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
            r = d.tun.recv(&mut buf) => {
                d.on_tun_read(r, &buf);
                // Drain a batch without going back through the reactor.
                for _ in 1..TUN_BATCH {
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
                            let status = format!("running: radio on {radio_name}");
                            if ready {
                                notify_systemd(&[NotifyState::Status(&status)]);
                            } else {
                                notify_systemd(&[NotifyState::Ready, NotifyState::Status(&status)]);
                                ready = true;
                            }
                        }
                        RadioEvent::Down(why) => {
                            notify_systemd(&[NotifyState::Status(&format!("radio on {radio_name} down ({why}); reconnecting"))]);
                        }
                        RadioEvent::Frame(_) | RadioEvent::Mac(_) => {}
                    }
                    d.on_radio_event(ev);
                }
                None => break Err(anyhow::anyhow!("the radio driver stopped")),
            },
            req = render_rx.recv(), if metrics_open => match req {
                Some(reply) => { let _ = reply.send(d.render_metrics()); }
                None => metrics_open = false,
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
        if let (Some(t), Some(p)) = (next_summary, summary_every)
            && t <= now
        {
            info!(counters = %d.summary(), "summary");
            next_summary = Some(now + p);
        }
    };

    notify_systemd(&[NotifyState::Stopping]);
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
        self.router.handle_tun_packet(Instant::now(), SystemTime::now(), &buf[..n]);
        self.transmit();
    }

    /// Does the IO the core asked for, in its order.
    fn transmit(&mut self) {
        while let Some(t) = self.router.poll_transmit() {
            match t {
                Transmit::Tun(p) => self.write_tun(&p),
                Transmit::Radio(f) => self.send_frame(f),
                Transmit::Redirect { to, bytes } => match &self.redirect_socket {
                    Some(sock) => {
                        if let Err(e) = sock.try_send_to(&bytes, to) {
                            self.router.counters_mut().drop(DropReason::RedirectSendError);
                            debug!(error = %e, %to, "redirect send failed");
                        }
                    }
                    None => self.router.counters_mut().drop(DropReason::RedirectNoSocket),
                },
            }
        }
    }

    fn write_tun(&mut self, packet: &[u8]) {
        match self.tun.try_send(packet) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.router.counters_mut().drop(DropReason::TunWriteWouldBlock),
            Err(e) => {
                self.router.counters_mut().drop(DropReason::TunWriteError);
                debug!(error = %e, "TUN write failed");
            }
        }
    }

    fn on_radio_event(&mut self, ev: RadioEvent) {
        match ev {
            RadioEvent::Frame(frame) => {
                record(&mut self.capture, &frame);
                self.router.handle_radio_frame(Instant::now(), SystemTime::now(), &frame);
                self.transmit();
            }
            RadioEvent::Mac(eui) => {
                if self.router.own_eui64() != Some(eui) {
                    info!(eui64 = %eui, "own link address");
                }
                self.router.set_own_eui64(eui);
            }
            RadioEvent::Up => info!("radio link up"),
            RadioEvent::Down(why) => warn!(%why, "radio link down"),
        }
    }

    fn send_frame(&mut self, frame: Vec<u8>) {
        match self.radio.frames.try_reserve() {
            Ok(permit) => {
                record(&mut self.capture, &frame);
                permit.send(frame);
            }
            Err(mpsc::error::TrySendError::Full(())) => self.router.counters_mut().drop(DropReason::RadioQueueFull),
            Err(mpsc::error::TrySendError::Closed(())) => self.router.counters_mut().drop(DropReason::RadioDown),
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
        self.radio.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn render_metrics(&self) -> String {
        let bridge = self.router.bridge();
        let mut s = metrics::render(
            bridge.counters(),
            bridge.neighbours(),
            &self.radio_stats(),
            bridge.own_eui64().map(|e| e.to_string()),
        );
        if let Some(w) = self.router.wiring() {
            s.push_str(&w.render_metrics(Instant::now()));
        }
        s
    }

    fn summary(&self) -> String {
        let mut s = self.router.counters().summary();
        if let Some(w) = self.router.wiring() {
            s.push(' ');
            s.push_str(&w.summary(Instant::now()));
        }
        let radio: Vec<String> =
            self.radio_stats().into_iter().filter(|(_, v)| *v != 0).map(|(k, v)| format!("radio.{k}={v}")).collect();
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
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    t.subsec_nanos() ^ std::process::id().rotate_left(16)
}

/// Receives on the redirect socket, or waits forever when there is none.
async fn recv_redirect(sock: &Option<tokio::net::UdpSocket>, buf: &mut [u8]) -> io::Result<(usize, std::net::SocketAddr)> {
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
        let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        return (t.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32);
    }
    u64::from_be_bytes(b)
}

/// Tells systemd (when `$NOTIFY_SOCKET` is set; nothing otherwise).
fn notify_systemd(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        debug!(error = %e, "sd_notify failed");
    }
}

/// The radio as the STATUS= lines name it.
fn radio_description(cfg: &Config) -> String {
    match cfg.radio.kind {
        RadioKind::Serial => format!("serial {}", cfg.radio.device),
        RadioKind::Tcp => format!("tcp {}", cfg.radio.address),
        RadioKind::Zep => format!("zep {}", cfg.radio.bind),
    }
}

fn record(capture: &mut Option<Capture<io::BufWriter<std::fs::File>>>, frame: &[u8]) {
    let Some(cap) = capture else { return };
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    if let Err(e) = cap.record(ts, frame) {
        // A full disk must not stop the border router: stop capturing instead.
        warn!(error = %e, "capture write failed; capture stopped");
        *capture = None;
    }
}
