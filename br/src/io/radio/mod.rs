//! Radio drivers (tokio): a slip-radio on a serial device or behind a TCP socket (with
//! reconnect and backoff), or ZEP over UDP where we behave as the radio ourselves.
//!
//! Each driver runs as its own task and talks to the main loop through two channels:
//! frames to send in, [`RadioEvent`]s out. Link counters are published into a shared
//! snapshot for metrics about once a second.

pub mod slip;
pub mod zep;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lowpan::Eui64;
use tokio::sync::mpsc;

use crate::config::{RadioConfig, RadioKind};

/// What a radio driver reports to the main loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RadioEvent {
    /// A received 802.15.4 frame, no FCS.
    Frame(Vec<u8>),
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

/// Capacity of the frame channel into a driver; the driver's own backlog holds the rest.
const FRAME_CHANNEL: usize = 256;
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
    Ok(RadioHandle { frames: frames_tx, events: events_rx, stats, task })
}

