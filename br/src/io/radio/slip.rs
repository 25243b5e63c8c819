//! The slip-radio driver (tokio): a Contiki-NG slip-radio on a serial device or behind a
//! TCP socket, driven through the sans-IO `slip::link::RadioLink`, with reconnect and
//! backoff.

use std::io;
use std::time::Instant;

use slip::link::{LinkConfig, LinkCounters, LinkEvent, RadioLink};
use slip::transport::Backoff;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{DRIVER_BACKLOG, RadioEvent, RadioStats, STATS_INTERVAL};
use crate::config::{RadioConfig, RadioKind};

/// Spawns the driver task; it retries until the radio can be opened.
pub fn start(
    cfg: &RadioConfig,
    frames: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RadioEvent>,
    stats: RadioStats,
) -> tokio::task::JoinHandle<()> {
    let link = RadioLink::new(link_config(cfg));
    let connector = Connector::from_config(cfg);
    let backoff = Backoff {
        initial: cfg.reconnect_min,
        max: cfg.reconnect_max,
        factor: 2,
    };
    tokio::spawn(run_slip(connector, backoff, link, frames, events, stats))
}

/// Map our configuration onto the slip link's tuning.
pub fn link_config(cfg: &RadioConfig) -> LinkConfig {
    LinkConfig {
        max_in_flight: cfg.window,
        min_send_gap: cfg.min_gap,
        baud: if cfg.kind == RadioKind::Serial {
            cfg.baud
        } else {
            0
        },
        backlog_frames: cfg.queue_frames,
        max_tx: Some(cfg.max_tx),
        // Channel and PAN id, so the radio filters and acknowledges as we frame.
        startup_params: vec![(1, u16::from(cfg.channel)), (2, cfg.pan_id)],
        ..LinkConfig::default()
    }
}

/// How to (re)open the byte stream to a slip-radio.
#[derive(Debug, Clone)]
pub enum Connector {
    Serial {
        device: String,
        baud: u32,
        flow_control: bool,
    },
    Tcp {
        address: String,
    },
}

impl Connector {
    pub fn from_config(cfg: &RadioConfig) -> Self {
        match cfg.kind {
            RadioKind::Tcp => Connector::Tcp {
                address: cfg.address.clone(),
            },
            _ => Connector::Serial {
                device: cfg.device.clone(),
                baud: cfg.baud,
                flow_control: cfg.flow_control,
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            Connector::Serial { device, baud, .. } => format!("serial {device} at {baud} baud"),
            Connector::Tcp { address } => format!("tcp {address}"),
        }
    }

    async fn open(&self) -> io::Result<Box<dyn Stream>> {
        match self {
            Connector::Serial {
                device,
                baud,
                flow_control,
            } => {
                let port = slip::transport::open_serial(device, *baud, *flow_control)?;
                Ok(Box::new(port))
            }
            Connector::Tcp { address } => {
                let s = tokio::net::TcpStream::connect(address.as_str()).await?;
                let _ = s.set_nodelay(true);
                Ok(Box::new(s))
            }
        }
    }
}

/// A byte stream to a radio.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why one connection of the slip driver ended.
enum LinkEnd {
    /// The main loop is gone: stop.
    Shutdown,
    /// The transport failed or the radio stalled: reconnect.
    Lost(String),
}

async fn run_slip(
    connector: Connector,
    backoff: Backoff,
    mut link: RadioLink,
    mut frames: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<RadioEvent>,
    stats: RadioStats,
) {
    let what = connector.describe();
    // Consecutive failed opens: the back-off grows with them and resets on success.
    let mut failures = 0u32;
    loop {
        match connector.open().await {
            Ok(stream) => {
                info!(radio = %what, "radio connected");
                failures = 0;
                link.reset(Instant::now());
                if events.send(RadioEvent::Up).await.is_err() {
                    return;
                }
                match drive_link(stream, &mut link, &mut frames, &events, &stats).await {
                    LinkEnd::Shutdown => return,
                    LinkEnd::Lost(why) => {
                        warn!(radio = %what, %why, "radio link lost; reconnecting");
                        if events.send(RadioEvent::Down(why)).await.is_err() {
                            return;
                        }
                    }
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                // The first failure and then every tenth: a radio that is away for long
                // must not flood the log.
                if failures == 1 || failures.is_multiple_of(10) {
                    warn!(radio = %what, error = %e, attempts = failures, "cannot open radio; retrying");
                }
            }
        }
        // Wait, but keep accepting frames (the link's bounded backlog keeps or drops them).
        let sleep = tokio::time::sleep(backoff.delay(failures));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                f = frames.recv(), if has_room(&link) => match f {
                    Some(f) => { let _ = link.send_frame(Instant::now(), f); }
                    None => return,
                },
            }
        }
        publish(&stats, link.counters());
    }
}

async fn drive_link(
    stream: Box<dyn Stream>,
    link: &mut RadioLink,
    frames: &mut mpsc::Receiver<Vec<u8>>,
    events: &mpsc::Sender<RadioEvent>,
    stats: &RadioStats,
) -> LinkEnd {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::with_capacity(4096);
    let mut next_stats = Instant::now();
    loop {
        let now = Instant::now();
        // Everything the link wants written now, in one write.
        out.clear();
        while let Some(bytes) = link.poll_transmit(now) {
            out.extend_from_slice(&bytes);
        }
        if !out.is_empty()
            && let Err(e) = wr.write_all(&out).await
        {
            return LinkEnd::Lost(format!("write: {e}"));
        }
        while let Some(ev) = link.poll_event() {
            let forward = match ev {
                // The slip-radio protocol carries no LQI or RSSI.
                LinkEvent::Frame(f) => Some(RadioEvent::Frame(f, slip::LinkQuality::default())),
                LinkEvent::Mac(m) => {
                    info!(eui64 = %m, "radio reported its EUI-64");
                    Some(RadioEvent::Mac(m))
                }
                LinkEvent::Debug(text) => {
                    debug!(text = %text.trim_end(), "radio debug");
                    None
                }
                LinkEvent::Stalled => {
                    return LinkEnd::Lost("radio stalled (no !R for several frames)".into());
                }
                LinkEvent::TxDone { .. }
                | LinkEvent::TxTimeout { .. }
                | LinkEvent::Param { .. } => None,
            };
            if let Some(ev) = forward
                && events.send(ev).await.is_err()
            {
                return LinkEnd::Shutdown;
            }
        }
        if now >= next_stats {
            publish(stats, link.counters());
            next_stats = now + STATS_INTERVAL;
        }
        let deadline = link
            .poll_timeout()
            .map_or(next_stats, |t| t.min(next_stats));
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => return LinkEnd::Lost("end of stream".into()),
                Ok(n) => link.handle_input(Instant::now(), &buf[..n]),
                Err(e) => return LinkEnd::Lost(format!("read: {e}")),
            },
            f = frames.recv(), if has_room(link) => match f {
                Some(f) => {
                    let now = Instant::now();
                    let _ = link.send_frame(now, f);
                    // Take what else fits before writing: one write for a burst.
                    while has_room(link)
                        && let Ok(f) = frames.try_recv()
                    {
                        let _ = link.send_frame(now, f);
                    }
                }
                None => return LinkEnd::Shutdown,
            },
            _ = tokio::time::sleep_until(deadline.into()) => link.handle_timeout(Instant::now()),
        }
    }
}

/// Whether the link's backlog is short enough to take another frame (see [`DRIVER_BACKLOG`]).
fn has_room(link: &RadioLink) -> bool {
    link.backlog_len()
        < DRIVER_BACKLOG
            .min(link.config().backlog_frames.saturating_sub(1))
            .max(1)
}

/// Flatten the slip link counters for metrics.
pub fn link_counter_list(c: &LinkCounters) -> Vec<(&'static str, u64)> {
    let t = &c.tx_status;
    vec![
        ("bytes_in", c.bytes_in),
        ("bytes_out", c.bytes_out),
        ("frames_in", c.frames_in),
        ("frames_out", c.frames_out),
        ("frames_queued", c.frames_queued),
        ("tx_ok", t.ok),
        ("tx_collision", t.collision),
        ("tx_no_ack", t.no_ack),
        ("tx_deferred", t.deferred),
        ("tx_err", t.err),
        ("tx_fatal", t.fatal),
        ("tx_queue_full", t.queue_full),
        ("tx_unknown_status", t.unknown),
        ("unknown_sid", c.unknown_sid),
        ("tx_timeouts", c.tx_timeouts),
        ("stalls", c.stalls),
        ("queue_full_retries", c.queue_full_retries),
        ("drop_backlog_full", c.drop_backlog_full),
        ("drop_too_long", c.drop_too_long),
        ("drop_empty", c.drop_empty),
        ("drop_queue_full", c.drop_queue_full),
        ("drop_reset", c.drop_reset),
        ("drop_events", c.drop_events),
        ("garbage_frames", c.garbage_frames),
        ("garbage_bytes", c.garbage_bytes),
        ("debug_lines", c.debug_lines),
        ("unknown_command", c.unknown_command),
        ("mac_requests", c.mac_requests),
        ("params", c.params),
        // The SLIP decoder's own drops: without them oversize frames and broken escapes
        // on the serial line would vanish without a trace.
        ("slip_oversize_frames", c.slip.oversize_frames),
        ("slip_bad_escapes", c.slip.bad_escapes),
        ("slip_discarded_bytes", c.slip.discarded_bytes),
        ("slip_empty_frames", c.slip.empty_frames),
    ]
}

fn publish(stats: &RadioStats, c: &LinkCounters) {
    if let Ok(mut s) = stats.lock() {
        *s = link_counter_list(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::radio::RadioHandle;
    use lowpan::Eui64;
    use slip::codec::{SlipDecoder, encode_frame_with_leading_end};
    use slip::slip_radio::{HostMessage, RadioMessage, TxStatus};
    use std::time::Duration;
    use tokio::net::TcpListener;

    const WAIT: Duration = Duration::from_secs(10);
    const RADIO: Eui64 = Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 1]);

    async fn next_host_message(
        s: &mut tokio::net::TcpStream,
        d: &mut SlipDecoder,
        want: fn(&HostMessage) -> bool,
    ) -> HostMessage {
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "driver closed the connection");
            let mut msgs = Vec::new();
            d.push(&buf[..n], &mut |p: &[u8]| msgs.push(HostMessage::parse(p)));
            if let Some(m) = msgs.into_iter().flatten().find(want) {
                return m;
            }
        }
    }

    async fn reply(s: &mut tokio::net::TcpStream, m: RadioMessage) {
        let mut out = Vec::new();
        encode_frame_with_leading_end(&m.to_bytes(), &mut out);
        s.write_all(&out).await.unwrap();
    }

    async fn next_event(h: &mut RadioHandle, want: fn(&RadioEvent) -> bool) -> RadioEvent {
        tokio::time::timeout(WAIT, async {
            loop {
                let ev = h.events.recv().await.expect("driver alive");
                if want(&ev) {
                    return ev;
                }
            }
        })
        .await
        .expect("event in time")
    }

    /// Regression: the SLIP decoder's drop counters were kept by the link but never
    /// published, so oversize frames and bad escapes were invisible in metrics and logs.
    #[test]
    fn published_link_counters_include_slip_decoder_drops() {
        let mut link = RadioLink::new(LinkConfig {
            max_input_len: 64,
            ..LinkConfig::default()
        });
        let now = Instant::now();
        let mut bytes = vec![0xc0, 0x41, 0xdb, 0x01, 0x42, 0xc0];
        bytes.extend(std::iter::repeat_n(0x55, 100));
        bytes.push(0xc0);
        link.handle_input(now, &bytes);
        let list = link_counter_list(link.counters());
        let get = |name: &str| list.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(get("slip_bad_escapes"), Some(1));
        assert_eq!(get("slip_oversize_frames"), Some(1));
        assert!(get("slip_discarded_bytes").is_some_and(|v| v > 0));
        let mut names: Vec<_> = list.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), list.len(), "counter names are unique");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn tcp_driver_learns_mac_sends_frames_and_reconnects() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cfg = RadioConfig {
            kind: RadioKind::Tcp,
            address: listener.local_addr().unwrap().to_string(),
            reconnect_min: Duration::from_millis(10),
            reconnect_max: Duration::from_millis(50),
            ..RadioConfig::default()
        };
        let mut h = crate::io::radio::start(&cfg).await.unwrap();
        let (mut s, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .unwrap()
            .unwrap();
        let mut d = SlipDecoder::new(2048);
        assert_eq!(
            next_event(&mut h, |e| *e == RadioEvent::Up).await,
            RadioEvent::Up
        );
        next_host_message(&mut s, &mut d, |m| *m == HostMessage::GetMac).await;
        reply(&mut s, RadioMessage::Mac(RADIO)).await;
        assert_eq!(
            next_event(&mut h, |e| matches!(e, RadioEvent::Mac(_))).await,
            RadioEvent::Mac(RADIO)
        );

        let frame = vec![
            0x41, 0xd8, 0x01, 0xcd, 0xab, 0xff, 0xff, 1, 0, 0, 0, 0, 0x4b, 0x12, 0, 0x41, 0x60,
        ];
        h.frames.send(frame.clone()).await.unwrap();
        let m = next_host_message(&mut s, &mut d, |m| matches!(m, HostMessage::Send { .. })).await;
        let HostMessage::Send {
            sid,
            frame: sent,
            max_tx,
        } = m
        else {
            unreachable!()
        };
        assert_eq!(sent, frame);
        assert_eq!(max_tx, Some(cfg.max_tx));
        reply(
            &mut s,
            RadioMessage::TxResult {
                sid,
                status: TxStatus::Ok,
                transmissions: 1,
            },
        )
        .await;

        // A received frame comes out as an event.
        reply(&mut s, RadioMessage::Frame(frame.clone())).await;
        assert_eq!(
            next_event(&mut h, |e| matches!(e, RadioEvent::Frame(..))).await,
            RadioEvent::Frame(frame, slip::LinkQuality::default())
        );

        // The radio goes away: Down, then a new connection, Up, and ?M again.
        drop(s);
        assert!(matches!(
            next_event(&mut h, |e| matches!(e, RadioEvent::Down(_))).await,
            RadioEvent::Down(_)
        ));
        let (mut s, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .unwrap()
            .unwrap();
        let mut d = SlipDecoder::new(2048);
        next_event(&mut h, |e| *e == RadioEvent::Up).await;
        tokio::time::timeout(
            WAIT,
            next_host_message(&mut s, &mut d, |m| *m == HostMessage::GetMac),
        )
        .await
        .unwrap();
        h.task.abort();
    }
}
