//! `lowpan-eval-dtls-server`: a plain DTLS 1.2 server on our engine (mutual-auth
//! ECDHE-ECDSA, the suites our ServerConfig offers), one thread, one UDP socket, for the
//! capacity comparison with `openssl s_server`. It answers application data with an echo
//! and prints the number of completed handshakes when stopped (SIGTERM/SIGINT) or after
//! `--handshakes`.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use dtls::cert::{CertifiedKey, ChainVerifier};
use dtls::{Endpoint, Event, ServerConfig};

#[derive(Parser, Debug)]
#[command(
    name = "lowpan-eval-dtls-server",
    version,
    about = "A plain DTLS 1.2 server on our engine (benchmarks)"
)]
struct Args {
    /// UDP address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// Certificate chain (PEM, leaf first).
    #[arg(long)]
    cert: std::path::PathBuf,
    /// Private key (PEM).
    #[arg(long)]
    key: std::path::PathBuf,
    /// Trust anchors for client certificates (PEM); without it clients are not authenticated.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Exit after this many completed handshakes.
    #[arg(long)]
    handshakes: Option<u64>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    lowpan_eval::sys::stop_on_signals();
    let key = CertifiedKey::from_pem(
        &std::fs::read_to_string(&a.cert)?,
        &std::fs::read_to_string(&a.key)?,
    )
    .map_err(|e| anyhow::anyhow!("certificate/key: {e:?}"))?;
    let anchors = match &a.ca {
        Some(p) => Some(
            ChainVerifier::from_pem(&std::fs::read_to_string(p)?)
                .map_err(|e| anyhow::anyhow!("CA: {e:?}"))?,
        ),
        None => None,
    };
    let mut cfg = ServerConfig::ecdhe(Arc::new(key), anchors);
    cfg.max_connections = 4096;
    let mut ep = Endpoint::new(Some(Arc::new(cfg))).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let sock = UdpSocket::bind(a.listen).with_context(|| format!("bind {}", a.listen))?;
    println!("listening {}", sock.local_addr()?);
    let mut buf = vec![0u8; 65536];
    let mut completed = 0u64;
    while lowpan_eval::sys::check_stop().is_ok() && a.handshakes.is_none_or(|n| completed < n) {
        let wait = ep
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(200))
            .clamp(Duration::from_millis(1), Duration::from_millis(200));
        sock.set_read_timeout(Some(wait))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => ep.handle_datagram(Instant::now(), from, &buf[..n]),
            Err(_) => ep.handle_timeout(Instant::now()),
        }
        while let Some((from, ev)) = ep.poll_event() {
            match ev {
                Event::HandshakeComplete => completed += 1,
                Event::ApplicationData(d) => {
                    let _ = ep.send_application_data(&from, &d);
                }
                _ => {}
            }
        }
        while let Some(t) = ep.poll_transmit() {
            let _ = sock.send_to(&t.contents, t.destination);
        }
    }
    println!("handshakes completed {completed}");
    Ok(())
}
