//! The ZEP driver (tokio): one UDP socket, the sans-IO `slip::zep::ZepRadio` behaving as the
//! radio (FCS, filtering, Imm-Acks, retries, de-duplication, pacing).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use slip::zep::{ZepConfig, ZepCounters, ZepEvent, ZepRadio};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::warn;

use crate::config::{RadioConfig, parse_eui64};
use crate::radio::{RadioEvent, RadioStats};

const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// Map our configuration onto the ZEP radio's settings.
pub fn zep_config(cfg: &RadioConfig) -> anyhow::Result<ZepConfig> {
    let eui = parse_eui64(&cfg.eui64).map_err(|e| anyhow::anyhow!("radio.eui64: {e}"))?;
    let peers = cfg
        .peers
        .iter()
        .map(|p| p.parse::<SocketAddr>().with_context(|| format!("radio.peers: {p:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut z = ZepConfig::new(eui, peers);
    z.channel = cfg.channel;
    z.pan_id = cfg.pan_id;
    z.max_retries = cfg.max_tx.saturating_sub(1);
    z.backlog_frames = cfg.queue_frames;
    if cfg.min_gap_us > 0 {
        z.peer_gap = Duration::from_micros(cfg.min_gap_us);
    }
    Ok(z)
}

pub async fn start(
    cfg: &RadioConfig,
    frames: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RadioEvent>,
    stats: RadioStats,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let zcfg = zep_config(cfg)?;
    let socket = UdpSocket::bind(cfg.bind.as_str())
        .await
        .with_context(|| format!("cannot bind the ZEP socket to {} (radio.bind)", cfg.bind))?;
    let eui = zcfg.eui64;
    let radio = ZepRadio::new(zcfg);
    // Our address is configured, not learned: tell the main loop at once.
    let _ = events.send(RadioEvent::Mac(eui)).await;
    let _ = events.send(RadioEvent::Up).await;
    Ok(tokio::spawn(run(socket, radio, frames, events, stats)))
}

async fn run(
    socket: UdpSocket,
    mut radio: ZepRadio,
    mut frames: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RadioEvent>,
    stats: RadioStats,
) {
    let mut buf = vec![0u8; 2048];
    let mut next_stats = Instant::now();
    let mut send_errors = 0u64;
    loop {
        let now = Instant::now();
        while let Some((to, datagram)) = radio.poll_transmit(now) {
            // UDP: a peer that is not there (ECONNREFUSED) must not stop the others.
            if let Err(e) = socket.send_to(&datagram, to).await {
                send_errors += 1;
                if send_errors == 1 || send_errors % 1000 == 0 {
                    warn!(peer = %to, error = %e, count = send_errors, "ZEP send failed");
                }
            }
        }
        while let Some(ev) = radio.poll_event() {
            if let ZepEvent::Frame(f) = ev
                && events.send(RadioEvent::Frame(f)).await.is_err()
            {
                return;
            }
        }
        if now >= next_stats {
            publish(&stats, radio.counters(), send_errors);
            next_stats = now + STATS_INTERVAL;
        }
        let deadline = radio.poll_timeout().map_or(next_stats, |t| t.min(next_stats));
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => radio.handle_datagram(Instant::now(), from, &buf[..n]),
                // ICMP port unreachable from an absent peer surfaces here on Linux: ignore.
                Err(_) => {}
            },
            f = frames.recv() => match f {
                Some(f) => {
                    let now = Instant::now();
                    let _ = radio.send_frame(now, f);
                    while let Ok(f) = frames.try_recv() {
                        let _ = radio.send_frame(now, f);
                    }
                }
                None => return,
            },
            _ = tokio::time::sleep_until(deadline.into()) => radio.handle_timeout(Instant::now()),
        }
    }
}

fn publish(stats: &RadioStats, c: &ZepCounters, send_errors: u64) {
    let list = vec![
        ("datagrams_in", c.datagrams_in),
        ("bytes_in", c.bytes_in),
        ("datagrams_out", c.datagrams_out),
        ("bytes_out", c.bytes_out),
        ("frames_in", c.frames_in),
        ("frames_queued", c.frames_queued),
        ("acks_sent", c.acks_sent),
        ("acks_received", c.acks_received),
        ("stray_acks", c.stray_acks),
        ("retries", c.retries),
        ("tx_ok", c.tx_ok),
        ("tx_no_ack", c.tx_no_ack),
        ("ignored", c.ignored),
        ("drop_malformed", c.drop_malformed),
        ("drop_other_channel", c.drop_other_channel),
        ("drop_bad_fcs", c.drop_bad_fcs),
        ("drop_bad_frame", c.drop_bad_frame),
        ("drop_other_pan", c.drop_other_pan),
        ("drop_not_for_us", c.drop_not_for_us),
        ("drop_duplicate", c.drop_duplicate),
        ("drop_own", c.drop_own),
        ("drop_backlog_full", c.drop_backlog_full),
        ("drop_too_long", c.drop_too_long),
        ("drop_unparsable_tx", c.drop_unparsable_tx),
        ("drop_no_peer", c.drop_no_peer),
        ("drop_events", c.drop_events),
        ("send_errors", send_errors),
    ];
    if let Ok(mut s) = stats.lock() {
        *s = list;
    }
}
