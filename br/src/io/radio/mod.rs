//! Radio drivers (tokio): a slip-radio on a serial device or behind a TCP socket (with
//! reconnect and backoff), or ZEP over UDP where we behave as the radio ourselves.
//!
//! Each driver runs as its own task and talks to the main loop through two channels:
//! frames to send in (taken only while the driver's backlog is short, [`DRIVER_BACKLOG`]),
//! [`RadioEvent`]s out. Link counters are published into a shared
//! snapshot for metrics about once a second.

pub mod slip;
pub mod zep;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::slip::LinkQuality;
use lowpan::Eui64;
use tokio::sync::mpsc;

use crate::config::{RadioConfig, RadioKind};

/// What a radio driver reports to the main loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RadioEvent {
    /// A received 802.15.4 frame, no FCS, with what the radio reported of its reception
    /// (nothing for a slip-radio).
    Frame(Vec<u8>, LinkQuality),
    /// Our own link address (from `!M`, or configured for ZEP).
    Mac(Eui64),
    /// The transport connected (or reconnected).
    Up,
    /// The transport went away; the driver is reconnecting.
    Down(String),
}

/// Named counters of the radio link, for metrics and the summary log.
pub type RadioStats = Arc<Mutex<Vec<(&'static str, u64)>>>;

/// The main loop's end of a radio driver.
pub struct RadioHandle {
    pub frames: mpsc::Sender<Vec<u8>>,
    pub events: mpsc::Receiver<RadioEvent>,
    pub stats: RadioStats,
    pub task: tokio::task::JoinHandle<()>,
}

/// Capacity of the frame channel into a driver, and so the most frames one datagram may
/// have: the daemon's radio queue hands a datagram over only when all of it fits here.
/// Small, so that what is already handed over (this and the driver's backlog) is little
/// and the radio queue's order (control first, motes in turn) decides what goes on air.
pub const FRAME_CHANNEL: usize = 32;
/// A driver takes frames from its channel only while its own backlog is shorter than this:
/// its backlog then never overflows (no single fragment is dropped there) and frames wait
/// in the channel and the radio queue, where they are still whole datagrams.
pub const DRIVER_BACKLOG: usize = 8;
const EVENT_CHANNEL: usize = 1024;
/// How often a driver publishes its link counters into [`RadioStats`].
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// Start the driver for `cfg.kind`. Errors only for what can be known at once (e.g. a ZEP
/// socket that cannot bind); serial and TCP radios retry until they connect.
pub async fn start(cfg: &RadioConfig) -> anyhow::Result<RadioHandle> {
    let (frames_tx, frames_rx) = mpsc::channel(FRAME_CHANNEL);
    let (events_tx, events_rx) = mpsc::channel(EVENT_CHANNEL);
    let stats: RadioStats = Arc::new(Mutex::new(Vec::new()));
    let task = match cfg.kind {
        RadioKind::Serial | RadioKind::Tcp => slip::start(cfg, frames_rx, events_tx, stats.clone()),
        RadioKind::Zep => zep::start(cfg, frames_rx, events_tx, stats.clone()).await?,
    };
    Ok(RadioHandle {
        frames: frames_tx,
        events: events_rx,
        stats,
        task,
    })
}
