//! A thin tokio driver: runs an [`Endpoint`] on a [`tokio::net::UdpSocket`]. All protocol
//! logic stays in the sans-IO core; this only moves datagrams, reads the clock and sleeps
//! until the next deadline. Enabled by the `tokio` cargo feature.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;

use crate::config::ClientConfig;
use crate::connection::Event;
use crate::endpoint::Endpoint;
use crate::error::Error;

/// Largest datagram we read (bigger ones are truncated by the kernel and then fail to parse).
const RECV_BUFFER: usize = 65_535;

pub struct UdpDriver {
    socket: UdpSocket,
    endpoint: Endpoint,
    buf: Vec<u8>,
    /// Datagrams the socket refused to send (logged, not fatal: DTLS retransmits).
    pub send_errors: u64,
}

impl std::fmt::Debug for UdpDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpDriver")
            .field("endpoint", &self.endpoint)
            .field("send_errors", &self.send_errors)
            .finish_non_exhaustive()
    }
}

impl UdpDriver {
    pub fn new(socket: UdpSocket, endpoint: Endpoint) -> Self {
        UdpDriver {
            socket,
            endpoint,
            buf: vec![0; RECV_BUFFER],
            send_errors: 0,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// For sending application data, closing, exporting a session, ...; the output is sent
    /// by the next [`flush`](Self::flush) or [`next_event`](Self::next_event).
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// Starts a client handshake to `remote`.
    pub fn connect(&mut self, remote: SocketAddr, config: Arc<ClientConfig>) -> Result<(), Error> {
        self.endpoint.connect(Instant::now(), remote, config)
    }

    /// Sends every datagram the endpoint has queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        while let Some(t) = self.endpoint.poll_transmit() {
            if let Err(e) = self.socket.send_to(&t.contents, t.destination).await {
                self.send_errors += 1;
                tracing::debug!(destination = %t.destination, error = %e, "datagram not sent");
            }
        }
        Ok(())
    }

    /// Runs the endpoint until it has an event: sends what is queued, then waits for a
    /// datagram or the next retransmission deadline. Cancel-safe (nothing is lost if the
    /// future is dropped while waiting).
    pub async fn next_event(&mut self) -> io::Result<(SocketAddr, Event)> {
        loop {
            let event = self.endpoint.poll_event();
            self.flush().await?;
            if let Some(e) = event {
                return Ok(e);
            }
            let deadline = self.endpoint.poll_timeout();
            tokio::select! {
                r = self.socket.recv_from(&mut self.buf) => {
                    let (n, from) = r?;
                    self.endpoint.handle_datagram(Instant::now(), from, &self.buf[..n]);
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    self.endpoint.handle_timeout(Instant::now());
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
    }
}
