//! The control socket: a Unix stream socket, mode 0600, in the daemon's runtime directory
//! (systemd's `RuntimeDirectory=`, e.g. `/run/lowpan-br/control.sock`).
//!
//! The protocol is one line each way: the client sends a command (`status`), the daemon
//! answers with one JSON document and closes. Only the socket's owner (and root) may
//! connect: the status names motes, peers and flows.

use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use crate::{Query, Requests, ask};

/// Longest command line accepted.
const MAX_COMMAND: u64 = 256;
/// How long a client may take to send its command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the control socket could not be opened.
#[derive(Debug)]
pub enum BindError {
    /// Another process answers on the socket (a second instance of the daemon).
    InUse(PathBuf),
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::InUse(p) => write!(
                f,
                "{}: another process answers on it (a second instance?)",
                p.display()
            ),
            BindError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for BindError {}

/// Binds the control socket at `path`, owner-only from the moment it exists (the umask is
/// narrowed around `bind`), creating its directory (0700) when missing. A socket file left
/// behind by a daemon that died is replaced; one that still answers is not.
pub fn bind(path: &Path) -> Result<UnixListener, BindError> {
    let err = |e| BindError::Io(path.to_path_buf(), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(BindError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(err)?;
        }
        Ok(_) => {
            return Err(err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            )));
        }
        Err(_) => {}
    }
    // SAFETY: umask only changes the process's file-creation mask; it is restored at once.
    let old = unsafe { libc::umask(0o177) };
    let bound = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    UnixListener::from_std(listener).map_err(err)
}

/// Answers control connections until the main loop goes away.
pub async fn serve(listener: UnixListener, requests: Requests) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), answer(sock, requests)).await;
        });
    }
}

async fn answer(sock: tokio::net::UnixStream, requests: Requests) -> io::Result<()> {
    let (rd, mut wr) = sock.into_split();
    let mut line = String::new();
    let mut rd = BufReader::new(tokio::io::AsyncReadExt::take(rd, MAX_COMMAND));
    tokio::time::timeout(COMMAND_TIMEOUT, rd.read_line(&mut line))
        .await
        .map_err(|_| io::ErrorKind::TimedOut)??;
    let reply = match line.trim() {
        "status" => match ask(&requests, Query::Status).await {
            Some(json) => json,
            None => return Ok(()),
        },
        other => {
            serde_json::json!({ "error": format!("unknown command {other:?}; try \"status\"") })
                .to_string()
        }
    };
    wr.write_all(reply.as_bytes()).await?;
    wr.write_all(b"\n").await?;
    wr.shutdown().await
}

/// Why a status query failed, in words for the operator.
#[derive(Debug)]
pub struct QueryError {
    pub message: String,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryError {}

/// Sends `command` to the daemon `daemon` listening at `path` and returns its JSON answer.
pub fn query(daemon: &str, path: &Path, command: &str) -> Result<serde_json::Value, QueryError> {
    let fail = |message: String| QueryError { message };
    let p = path.display();
    let mut sock = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e) => {
            return Err(fail(match e.kind() {
                io::ErrorKind::NotFound => format!(
                    "no control socket at {p}: {daemon} is not running, or its [control] socket is elsewhere (--socket PATH)"
                ),
                io::ErrorKind::ConnectionRefused => {
                    format!(
                        "{p} exists but nothing answers: {daemon} is not running (the socket was left behind)"
                    )
                }
                io::ErrorKind::PermissionDenied => format!(
                    "cannot open {p}: permission denied (the control socket is owner-only: run as root or as {daemon}'s user)"
                ),
                _ => format!("cannot connect to {p}: {e}"),
            }));
        }
    };
    let timeout = Some(Duration::from_secs(5));
    let _ = sock.set_read_timeout(timeout);
    let _ = sock.set_write_timeout(timeout);
    sock.write_all(format!("{command}\n").as_bytes())
        .map_err(|e| fail(format!("{p}: cannot send the request: {e}")))?;
    let mut text = String::new();
    sock.read_to_string(&mut text)
        .map_err(|e| fail(format!("{p}: no answer from {daemon}: {e}")))?;
    if text.trim().is_empty() {
        return Err(fail(format!(
            "{p}: {daemon} closed the connection without an answer (shutting down?)"
        )));
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        fail(format!(
            "{p}: the answer is not JSON ({e}); is this {daemon}'s socket?"
        ))
    })?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(fail(format!("{daemon}: {e}")));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Request;
    use std::os::unix::fs::MetadataExt;
    use tokio::sync::mpsc;

    #[tokio::test(flavor = "current_thread")]
    async fn answers_status_owner_only_and_refuses_a_second_instance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("control.sock");
        let listener = bind(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777,
            0o700
        );
        assert!(matches!(bind(&path), Err(BindError::InUse(_))));
        let (tx, mut rx) = mpsc::channel::<Request>(4);
        tokio::spawn(serve(listener, tx));
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                assert_eq!(r.query, Query::Status);
                let _ = r.reply.send(r#"{"daemon":"test","uptime_s":3}"#.into());
            }
        });
        let p = path.clone();
        let v = tokio::task::spawn_blocking(move || query("test", &p, "status"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v["uptime_s"], 3);
        let p = path.clone();
        let e = tokio::task::spawn_blocking(move || query("test", &p, "reboot"))
            .await
            .unwrap()
            .unwrap_err();
        assert!(e.message.contains("unknown command"), "{e}");
    }

    #[test]
    fn errors_say_whether_the_daemon_runs() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.sock");
        let e = query("lowpan-br", &missing, "status").unwrap_err();
        assert!(e.message.contains("lowpan-br is not running"), "{e}");
        // A socket file nobody listens on: left behind by a daemon that died.
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let e = query("lowpan-br", &stale, "status").unwrap_err();
        assert!(e.message.contains("nothing answers"), "{e}");
        // And bind replaces it.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { bind(&stale).unwrap() });
    }
}
