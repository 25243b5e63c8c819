//! Thin tokio transports for a slip-radio: a serial port (or pty) and a TCP client
//! (ser2net style) that reconnects with exponential back-off; and [`FineTimer`], the
//! sub-millisecond timer a ZEP driver needs to honour the radio's turnaround time.
//!
//! No protocol logic lives here: bytes go to and from a [`crate::link::RadioLink`], which
//! the daemon drives.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_serial::{FlowControl, SerialPortBuilderExt};

/// Open a serial device raw 8N1 at `baud`, with RTS/CTS flow control if asked.
///
/// serialport itself ignores a failing DTR ioctl; here a pty (which rejects
/// modem-control ioctls) is also accepted when only the termios read-back check fails.
/// Must be called inside a tokio runtime (the port registers with its reactor).
///
/// Returns the port as a plain async byte stream (the concrete `SerialStream` also
/// implements the blocking `Read`/`Write`, which makes `read`/`write_all` ambiguous).
pub fn open_serial(
    path: &str,
    baud: u32,
    hardware_flow_control: bool,
) -> io::Result<impl AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    let flow = if hardware_flow_control {
        FlowControl::Hardware
    } else {
        FlowControl::None
    };
    let mut port = tokio_serial::new(path, baud)
        .flow_control(flow)
        .open_native_async()
        .map_err(|e| io::Error::other(format!("open serial port {path} at {baud} baud: {e}")))?;
    // Another process writing to our radio would corrupt the SLIP stream; exclusivity is
    // a nicety, though: a pty may refuse it.
    if let Err(e) = port.set_exclusive(true) {
        tracing::warn!(path, error = %e, "could not take exclusive access to the serial port");
    }
    Ok::<tokio_serial::SerialStream, io::Error>(port)
}

/// Exponential back-off policy: `initial * factor^failures`, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub factor: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            factor: 2,
        }
    }
}

impl Backoff {
    /// Delay before the next attempt after `failures` consecutive failures.
    pub fn delay(&self, failures: u32) -> Duration {
        let mut d = self.initial.min(self.max);
        for _ in 0..failures {
            d = d.saturating_mul(self.factor.max(1));
            if d >= self.max {
                return self.max;
            }
        }
        d
    }
}

/// A TCP client that connects to a radio exposed on TCP (ser2net, socat, motesim) and
/// reconnects after failures with [`Backoff`].
#[derive(Debug)]
pub struct TcpClient {
    addr: SocketAddr,
    backoff: Backoff,
    failures: u32,
    connected_before: bool,
}

impl TcpClient {
    pub fn new(addr: SocketAddr, backoff: Backoff) -> Self {
        TcpClient {
            addr,
            backoff,
            failures: 0,
            connected_before: false,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Consecutive failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Connect, retrying forever. The first connection is tried at once; every later one
    /// (a reconnect after the stream died, or a retry) waits per the back-off, so a radio
    /// that accepts and drops at once is not hammered.
    pub async fn connect(&mut self) -> TcpStream {
        loop {
            if self.connected_before || self.failures > 0 {
                tokio::time::sleep(self.backoff.delay(self.failures)).await;
            }
            match self.try_connect().await {
                Ok(s) => return s,
                Err(e) => {
                    tracing::warn!(addr = %self.addr, failures = self.failures, error = %e, "radio TCP connect failed");
                }
            }
        }
    }

    /// One attempt, without waiting; updates the failure count.
    pub async fn try_connect(&mut self) -> io::Result<TcpStream> {
        match TcpStream::connect(self.addr).await {
            Ok(s) => {
                // SLIP frames are small and latency matters more than segment count.
                s.set_nodelay(true)?;
                self.failures = 0;
                self.connected_before = true;
                Ok(s)
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                Err(e)
            }
        }
    }
}

/// A one-shot timer precise to tens of microseconds, for a tokio task: tokio's own timers
/// fire on a millisecond wheel, far too coarse for an Imm-Ack due 192 us after a frame
/// (an emulated node gives up on it after 864 us). A Linux timerfd registered with the
/// reactor; cancel-safe (a dropped wait leaves nothing behind that the next one trusts).
#[derive(Debug)]
pub struct FineTimer {
    fd: tokio::io::unix::AsyncFd<TimerFdHandle>,
}

#[derive(Debug)]
struct TimerFdHandle(nix::sys::timerfd::TimerFd);

impl std::os::fd::AsRawFd for TimerFdHandle {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

impl FineTimer {
    /// Must be called inside a tokio runtime (the timer registers with its reactor).
    pub fn new() -> io::Result<Self> {
        use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
        let flags = TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC;
        let fd = TimerFd::new(ClockId::CLOCK_MONOTONIC, flags).map_err(io::Error::from)?;
        let interest = tokio::io::Interest::READABLE;
        // SAFETY: `register` requires the fd to stay open and refer to the same file while
        // registered: the `TimerFd` owns it, the `AsyncFd` owns the `TimerFd` until both are
        // dropped together, and nothing else closes it.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(TimerFdHandle(fd), interest)
        }
        .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(FineTimer { fd })
    }

    /// Wait until `deadline` (at once when it has passed).
    pub async fn sleep_until(&mut self, deadline: std::time::Instant) -> io::Result<()> {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        let wait = deadline.saturating_duration_since(std::time::Instant::now());
        if wait.is_zero() {
            return Ok(());
        }
        // Re-arming also clears an expiry left over from a wait that was dropped.
        let expiry = Expiration::OneShot(TimeSpec::from_duration(wait));
        self.fd
            .get_ref()
            .0
            .set(expiry, TimerSetTimeFlags::empty())
            .map_err(io::Error::from)?;
        loop {
            let mut ready = self.fd.readable().await?;
            match ready.try_io(|fd| fd.get_ref().0.wait().map_err(io::Error::from)) {
                Ok(result) => return result,
                // Readiness left over from an earlier expiry: the new one is still to come.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2,
        };
        let ms: Vec<u128> = (0..7).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
        // Degenerate settings don't panic or shrink.
        let flat = Backoff {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(1),
            factor: 0,
        };
        assert_eq!(flat.delay(3), Duration::from_secs(1));
        let huge = Backoff {
            initial: Duration::MAX,
            max: Duration::MAX,
            factor: u32::MAX,
        };
        assert_eq!(huge.delay(10), Duration::MAX);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn fine_timer_wakes_at_or_after_each_deadline() {
        let mut timer = FineTimer::new().unwrap();
        // A wait dropped before its deadline leaves nothing that wakes the next one early.
        let abandoned = std::time::Instant::now() + Duration::from_micros(100);
        let _ = tokio::time::timeout(Duration::from_micros(1), timer.sleep_until(abandoned)).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
        // How late it wakes depends on the machine's load: that is a benchmark's figure,
        // not a test's. What must hold is that it wakes, and never early.
        for _ in 0..31 {
            let deadline = std::time::Instant::now() + Duration::from_micros(200);
            timer.sleep_until(deadline).await.unwrap();
            assert!(
                std::time::Instant::now() >= deadline,
                "never before the deadline"
            );
        }
        // A deadline already passed returns at once.
        timer.sleep_until(std::time::Instant::now()).await.unwrap();
    }

    #[tokio::test]
    async fn tcp_client_counts_failures_then_connects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let fast = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
            factor: 2,
        };
        let mut client = TcpClient::new(addr, fast);
        assert!(client.try_connect().await.is_err());
        assert_eq!(client.failures(), 1);
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let accept = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
        let _stream = client.connect().await;
        assert_eq!(client.failures(), 0);
        accept.await.unwrap().unwrap();
    }
}
