//! The start-up and signalling that `lowpan-br` and `iotssp` share as services: logging
//! (journald-friendly, colour only at a terminal, level reloadable), systemd notification,
//! the control socket and the status page, and the `status` subcommand.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sd_notify::NotifyState;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

use crate::Requests;

type FilterHandle = tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// The running log filter, replaceable on a reload.
#[derive(Clone)]
pub struct LogLevel(FilterHandle);

impl LogLevel {
    /// Replaces the filter with `level` (a `tracing` filter such as `info` or
    /// `info,hrm=debug`); refused while `RUST_LOG` is set, which wins over configuration.
    pub fn set(&self, level: &str) -> Result<(), String> {
        if rust_log().is_some() {
            return Err("RUST_LOG is set and wins over [log] level".into());
        }
        let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
}

fn rust_log() -> Option<String> {
    std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty())
}

/// Whether `level` is a filter [`LogLevel::set`] accepts; why not otherwise.
pub fn check_log_level(level: &str) -> Result<(), String> {
    EnvFilter::try_new(level)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Logs to stderr at `level` (`RUST_LOG` wins when set); the handle changes the level on a
/// reload. Colour only for a person at a terminal; under systemd the journal stamps each
/// line itself (`JOURNAL_STREAM` is set when stderr is connected to it), so no second
/// timestamp.
pub fn init_logging(level: &str) -> LogLevel {
    let filter = match rust_log() {
        Some(v) => EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(level)),
        None => EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let ansi = std::io::stderr().is_terminal();
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        registry.with(fmt.without_time()).init();
    } else {
        registry.with(fmt).init();
    }
    LogLevel(handle)
}

/// Tells systemd (when `$NOTIFY_SOCKET` is set; nothing otherwise).
pub fn notify_systemd(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// Opens the control socket at `path` (none when empty) and serves it from a task. The
/// daemon works without it, so a socket that cannot be made is a warning. Returns the path
/// to remove at exit.
pub fn open_control_socket(daemon: &str, path: &Path, requests: &Requests) -> Option<PathBuf> {
    if path.as_os_str().is_empty() {
        return None;
    }
    match crate::control::bind(path) {
        Ok(listener) => {
            tracing::info!(socket = %path.display(), "control socket ({daemon} status)");
            tokio::spawn(crate::control::serve(listener, requests.clone()));
            Some(path.to_path_buf())
        }
        Err(e) => {
            tracing::warn!("no control socket, `{daemon} status` will not answer: {e}");
            None
        }
    }
}

/// Binds the opt-in status page and metrics server at `listen` and serves it from a task.
pub async fn open_status_page(
    daemon: &'static str,
    listen: SocketAddr,
    requests: &Requests,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "status page at http://{listen}/, metrics at http://{listen}/metrics");
    tokio::spawn(crate::http::serve(listener, requests.clone(), daemon));
    Ok(())
}

/// The daemons' subcommands besides running the service.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Ask the running daemon for its status over its control socket and print it: for
    /// lowpan-br the radio link, motes and when each was last heard, flows, handshakes,
    /// counters and drops; for iotssp its border routers, handshakes in progress and the
    /// last ones that ended (with why), counters; for both the last reload.
    Status {
        /// Print the status document as JSON (for scripts).
        #[arg(long)]
        json: bool,
        /// The control socket (default: `[control] socket` of --config, else
        /// /run/<daemon>/control.sock).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
}

impl Command {
    /// Runs the subcommand of `daemon`. The control socket is `--socket`, else what
    /// `configured` reads from the configuration file `config` (when one is given), else
    /// `default_socket`.
    pub fn run(
        &self,
        daemon: &str,
        config: Option<&Path>,
        configured: impl FnOnce(&Path) -> Result<PathBuf, String>,
        default_socket: &str,
    ) -> ExitCode {
        let Command::Status { json, socket } = self;
        let path = match (socket, config) {
            (Some(p), _) => p.clone(),
            (None, Some(c)) => match configured(c) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{daemon}: {e}");
                    return ExitCode::FAILURE;
                }
            },
            (None, None) => PathBuf::from(default_socket),
        };
        status_command(daemon, &path, *json)
    }
}

/// `DAEMON status [--json]`: asks the daemon on `socket` and prints its answer, as JSON or
/// rendered for a terminal.
pub fn status_command(daemon: &str, socket: &Path, json: bool) -> ExitCode {
    match crate::control::query(daemon, socket, "status") {
        Ok(v) => {
            if json {
                println!("{v}");
            } else {
                print!("{}", crate::text::render(&v));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{daemon} status: {e}");
            ExitCode::FAILURE
        }
    }
}
