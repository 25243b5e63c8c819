//! Operating `lowpan-br` and `iotssp`: what an operator uses to see into a running daemon.
//!
//! - [`control`]: the local control socket (a Unix socket, owner-only) that
//!   `lowpan-br status` and `iotssp status` query, and the client side with errors that say
//!   what is wrong (daemon not running, stale socket, no permission);
//! - [`http`]: the opt-in HTTP server for the status page, its JSON and Prometheus metrics;
//! - [`metrics`]: the daemons' metrics at one scrape, encoded with `prometheus-client`;
//! - [`page`]: the status page (one HTML document, no external assets) and [`text`], the
//!   terminal rendering, both from the daemon's status JSON as [`view`] reads it;
//! - [`service`]: what both daemons do to start and run as services: logging (level
//!   reloadable), systemd notification, opening the control socket and the status page, and
//!   the `status` subcommand.
//!
//! The daemons' main loops own all state: the servers here only forward a [`Request`] to
//! the main loop and wait for its answer, so nothing here locks or copies the daemon's
//! state. It must never create a control socket that others can open, block a main loop,
//! or make a page that loads anything from elsewhere.

pub mod control;
pub mod http;
pub mod metrics;
pub mod page;
pub mod service;
pub mod text;
pub mod view;

use tokio::sync::{mpsc, oneshot};

/// What a request asks of the main loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// The status document (JSON).
    Status,
    /// Prometheus text exposition.
    Metrics,
}

/// One request to the main loop, answered on `reply`.
#[derive(Debug)]
pub struct Request {
    pub query: Query,
    pub reply: oneshot::Sender<String>,
}

/// The servers' end of the channel to the main loop.
pub type Requests = mpsc::Sender<Request>;

/// Asks the main loop and waits for its answer; `None` when it is gone.
pub async fn ask(requests: &Requests, query: Query) -> Option<String> {
    let (reply, rx) = oneshot::channel();
    requests.send(Request { query, reply }).await.ok()?;
    rx.await.ok()
}
