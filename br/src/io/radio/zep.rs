//! The ZEP driver (tokio): one UDP socket, the sans-IO `slip::zep::ZepRadio` behaving as the
//! radio (FCS, filtering, Imm-Acks after the turnaround, retries, de-duplication, pacing,
//! relaying among the peers), woken by a sub-millisecond timer for the turnaround.

use std::time::Instant;

use anyhow::Context;
use slip::transport::FineTimer;
use slip::zep::{ZepConfig, ZepCounters, ZepEvent, ZepRadio};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::warn;

use super::{DRIVER_BACKLOG, RadioEvent, RadioStats, STATS_INTERVAL};
use crate::config::RadioConfig;

/// Map our configuration onto the ZEP radio's settings.
pub fn zep_config(cfg: &RadioConfig) -> ZepConfig {
    let mut z = ZepConfig::new(cfg.eui64, cfg.peers.clone());
    z.channel = cfg.channel;
    z.pan_id = cfg.pan_id;
    z.max_retries = cfg.max_tx.saturating_sub(1);
    z.backlog_frames = cfg.queue_frames;
    if !cfg.min_gap.is_zero() {
        z.peer_gap = cfg.min_gap;
    }
    z
}

pub async fn start(
    cfg: &RadioConfig,
    frames: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RadioEvent>,
    stats: RadioStats,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let zcfg = zep_config(cfg);
    let socket = UdpSocket::bind(cfg.bind)
        .await
        .with_context(|| format!("cannot bind the ZEP socket to {} (radio.bind)", cfg.bind))?;
    let eui = zcfg.eui64;
    let radio = ZepRadio::new(zcfg);
    let timer = FineTimer::new().context("cannot create the ZEP radio's timer (timerfd)")?;
    // Our address is configured, not learned: tell the main loop at once.
    let _ = events.send(RadioEvent::Mac(eui)).await;
    let _ = events.send(RadioEvent::Up).await;
    Ok(tokio::spawn(run(
        socket, radio, timer, frames, events, stats,
    )))
}

async fn run(
    socket: UdpSocket,
    mut radio: ZepRadio,
    mut timer: FineTimer,
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
                if send_errors == 1 || send_errors.is_multiple_of(1000) {
                    warn!(peer = %to, error = %e, count = send_errors, "ZEP send failed");
                }
            }
        }
        while let Some(ev) = radio.poll_event() {
            if let ZepEvent::Frame(f, quality) = ev
                && events.send(RadioEvent::Frame(f, quality)).await.is_err()
            {
                return;
            }
        }
        if now >= next_stats {
            publish(&stats, radio.counters(), send_errors);
            next_stats = now + STATS_INTERVAL;
        }
        let deadline = radio
            .poll_timeout()
            .map_or(next_stats, |t| t.min(next_stats));
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                // An error here is mostly ICMP port unreachable from an absent peer: ignore.
                if let Ok((n, from)) = r {
                    radio.handle_datagram(Instant::now(), from, &buf[..n]);
                }
            }
            // Frames are taken only while the backlog is short (see DRIVER_BACKLOG).
            f = frames.recv(), if has_room(&radio) => match f {
                Some(f) => {
                    let now = Instant::now();
                    let _ = radio.send_frame(now, f);
                    while has_room(&radio)
                        && let Ok(f) = frames.try_recv()
                    {
                        let _ = radio.send_frame(now, f);
                    }
                }
                None => return,
            },
            _ = timer.sleep_until(deadline) => radio.handle_timeout(Instant::now()),
        }
    }
}

/// Whether the radio's backlog is short enough to take another frame.
fn has_room(radio: &ZepRadio) -> bool {
    radio.backlog_len() < DRIVER_BACKLOG.min(radio.config().backlog_frames)
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
        ("relayed", c.relayed),
        ("peers_learned", c.peers_learned),
        ("peers_expired", c.peers_expired),
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
        ("drop_ack_backlog", c.drop_ack_backlog),
        ("drop_relay_full", c.drop_relay_full),
        ("drop_peer_table_full", c.drop_peer_table_full),
        ("send_errors", send_errors),
    ];
    if let Ok(mut s) = stats.lock() {
        *s = list;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RadioKind;
    use lowpan::ieee802154::{self as mac, FrameRepr};
    use lowpan::{Address, Eui64};
    use std::time::Duration;

    const WAIT: Duration = Duration::from_secs(10);

    #[tokio::test(flavor = "current_thread")]
    async fn zep_driver_sends_to_peers_and_delivers_frames_for_us() {
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let own = Eui64([0x02, 0, 0, 0, 0, 0, 0, 1]);
        let mote = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 2]);
        let bind = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let cfg = RadioConfig {
            kind: RadioKind::Zep,
            bind,
            peers: vec![peer.local_addr().unwrap()],
            eui64: own,
            ..RadioConfig::default()
        };
        let mut h = crate::io::radio::start(&cfg).await.unwrap();
        assert_eq!(h.events.recv().await, Some(RadioEvent::Mac(own)));
        assert_eq!(h.events.recv().await, Some(RadioEvent::Up));

        // Our broadcast frame reaches the peer as ZEP with a correct FCS.
        let bcast = mac::build_data_frame(
            &FrameRepr::data(0xabcd, Address::Extended(own), Address::BROADCAST, 9, false),
            &[0x41, 0x60],
        );
        h.frames.send(bcast.clone()).await.unwrap();
        let mut buf = [0u8; 256];
        let (n, from) = tokio::time::timeout(WAIT, peer.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(from, bind);
        let z = slip::zep::decode_datagram(&buf[..n]).unwrap();
        assert_eq!(z.frame, &bcast[..]);

        // A frame from the mote for us comes out as an event.
        let to_us = mac::build_data_frame(
            &FrameRepr::data(
                0xabcd,
                Address::Extended(mote),
                Address::BROADCAST,
                3,
                false,
            ),
            &[0x41, 0x60],
        );
        let dgram = slip::zep::encode_datagram_heard(26, 1, 1, &to_us, 201, Some(-67)).unwrap();
        peer.send_to(&dgram, bind).await.unwrap();
        let ev = tokio::time::timeout(WAIT, h.events.recv()).await.unwrap();
        let heard = slip::LinkQuality {
            lqi: Some(201),
            rssi_dbm: Some(-67),
        };
        assert_eq!(ev, Some(RadioEvent::Frame(to_us, heard)));
        h.task.abort();
    }
}
