//! Prometheus text exposition of the counters, and a tiny HTTP server for `GET /metrics`.
//!
//! The server never touches the bridge: it asks the daemon's main loop for a rendering
//! over a channel, so the counters need no locks on the packet path.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::counters::Counters;
use crate::neighbours::NeighbourTable;

/// Render everything as Prometheus text (version 0.0.4).
pub fn render(counters: &Counters, neighbours: &NeighbourTable, radio: &[(&'static str, u64)], own: Option<String>) -> String {
    let mut s = String::with_capacity(4096);
    for (name, v) in counters.totals() {
        let _ = writeln!(s, "# TYPE lowpan_br_{name}_total counter\nlowpan_br_{name}_total {v}");
    }
    let _ = writeln!(s, "# HELP lowpan_br_drops_total Packets and frames dropped, by reason.");
    let _ = writeln!(s, "# TYPE lowpan_br_drops_total counter");
    for (reason, v) in counters.drops() {
        let _ = writeln!(s, "lowpan_br_drops_total{{reason=\"{reason}\"}} {v}");
    }
    let _ = writeln!(s, "# TYPE lowpan_br_neighbours gauge\nlowpan_br_neighbours {}", neighbours.len());
    let _ = writeln!(s, "# TYPE lowpan_br_radio_ready gauge\nlowpan_br_radio_ready {}", u8::from(own.is_some()));
    if let Some(own) = own {
        let _ = writeln!(s, "# TYPE lowpan_br_radio_info gauge\nlowpan_br_radio_info{{eui64=\"{own}\"}} 1");
    }
    let _ = writeln!(s, "# TYPE lowpan_br_radio_link_total counter");
    for (name, v) in radio {
        let _ = writeln!(s, "lowpan_br_radio_link_total{{counter=\"{name}\"}} {v}");
    }
    let _ = writeln!(s, "# TYPE lowpan_br_mote_frames_total counter");
    let mut motes: Vec<_> = neighbours.iter().collect();
    motes.sort_by_key(|(a, _)| **a);
    for (addr, n) in &motes {
        let name = n.name.as_deref().unwrap_or("");
        let label = format!("mote=\"{addr}\",name=\"{}\"", name.replace(['"', '\\', '\n'], "_"));
        let _ = writeln!(s, "lowpan_br_mote_frames_total{{{label},dir=\"rx\"}} {}", n.stats.rx_frames);
        let _ = writeln!(s, "lowpan_br_mote_frames_total{{{label},dir=\"tx\"}} {}", n.stats.tx_frames);
    }
    let _ = writeln!(s, "# TYPE lowpan_br_mote_bytes_total counter");
    for (addr, n) in &motes {
        let name = n.name.as_deref().unwrap_or("");
        let label = format!("mote=\"{addr}\",name=\"{}\"", name.replace(['"', '\\', '\n'], "_"));
        let _ = writeln!(s, "lowpan_br_mote_bytes_total{{{label},dir=\"rx\"}} {}", n.stats.rx_bytes);
        let _ = writeln!(s, "lowpan_br_mote_bytes_total{{{label},dir=\"tx\"}} {}", n.stats.tx_bytes);
    }
    s
}

/// A request for a fresh rendering, answered by the main loop.
pub type RenderRequest = oneshot::Sender<String>;

/// Serve `GET /metrics` on `listener` until the main loop goes away.
pub async fn serve(listener: TcpListener, requests: mpsc::Sender<RenderRequest>) {
    loop {
        let Ok((mut sock, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(&mut sock, peer, requests)).await;
        });
    }
}

async fn answer(sock: &mut tokio::net::TcpStream, peer: SocketAddr, requests: mpsc::Sender<RenderRequest>) -> std::io::Result<()> {
    // Read the request head (bounded), answer, close.
    let mut buf = [0u8; 2048];
    let mut len = 0;
    while len < buf.len() {
        let n = sock.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") || buf[..len].windows(2).any(|w| w == b"\n\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = if method != "GET" {
        ("405 Method Not Allowed", String::from("only GET\n"))
    } else if path == "/metrics" || path == "/" {
        let (tx, rx) = oneshot::channel();
        if requests.send(tx).await.is_err() {
            return Ok(());
        }
        match rx.await {
            Ok(text) => ("200 OK", text),
            Err(_) => return Ok(()),
        }
    } else {
        ("404 Not Found", String::from("try /metrics\n"))
    };
    tracing::trace!(%peer, path, status, "metrics request");
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::DropReason;
    use lowpan::{Address, Eui64};

    #[test]
    fn renders_counters_drops_and_motes() {
        let mut c = Counters::default();
        c.radio_rx_frames = 3;
        c.drop(DropReason::UnknownMote);
        let mut n = NeighbourTable::new(4);
        n.add_configured(Eui64([0, 0x12, 0x4b, 0, 0, 0, 0, 2]), None, Some("kitchen"));
        n.learn(Address::Short(5));
        let text = render(&c, &n, &[("frames_out", 7)], Some("00:12:4b:00:00:00:00:01".into()));
        assert!(text.contains("lowpan_br_radio_rx_frames_total 3\n"), "{text}");
        assert!(text.contains("lowpan_br_drops_total{reason=\"unknown_mote\"} 1\n"));
        assert!(text.contains("lowpan_br_radio_link_total{counter=\"frames_out\"} 7\n"));
        assert!(text.contains("mote=\"00:12:4b:00:00:00:00:02\",name=\"kitchen\",dir=\"rx\"} 0"));
        assert!(text.contains("mote=\"0005\",name=\"\",dir=\"tx\"} 0"));
        assert!(text.contains("lowpan_br_radio_ready 1"));
        assert!(text.contains("lowpan_br_neighbours 2"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn http_server_answers_get_metrics() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel::<RenderRequest>(4);
        tokio::spawn(serve(listener, tx));
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                let _ = r.send("lowpan_br_x_total 1\n".into());
            }
        });
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("lowpan_br_x_total 1\n"), "{out}");
    }
}
