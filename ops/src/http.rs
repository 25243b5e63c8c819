//! The opt-in HTTP endpoint: `GET /` the status page, `GET /status.json` its data,
//! `GET /metrics` Prometheus text (version 0.0.4). One request per connection, GET only,
//! bounded request head and time: it is meant for a loopback port or a management network,
//! not for the Internet.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::{Query, Requests, ask, page};

/// Serves `listener` until the main loop goes away. `title` names the daemon on the page.
pub async fn serve(listener: TcpListener, requests: Requests, title: &'static str) {
    loop {
        let Ok((mut sock, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                answer(&mut sock, peer, requests, title),
            )
            .await;
        });
    }
}

async fn answer(
    sock: &mut tokio::net::TcpStream,
    peer: SocketAddr,
    requests: Requests,
    title: &str,
) -> std::io::Result<()> {
    // Read the request head (bounded), answer, close.
    let mut buf = [0u8; 2048];
    let mut len = 0;
    while len < buf.len() {
        let n = sock.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n")
            || buf[..len].windows(2).any(|w| w == b"\n\n")
        {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut parts = head.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = if method != "GET" {
        (
            "405 Method Not Allowed",
            "text/plain",
            String::from("only GET\n"),
        )
    } else {
        match path {
            "/metrics" => match ask(&requests, Query::Metrics).await {
                Some(text) => ("200 OK", "text/plain; version=0.0.4", text),
                None => return Ok(()),
            },
            "/status.json" => match ask(&requests, Query::Status).await {
                Some(json) => ("200 OK", "application/json", json),
                None => return Ok(()),
            },
            "/" | "/index.html" => match ask(&requests, Query::Status).await {
                Some(json) => {
                    let v = serde_json::from_str(&json).unwrap_or(serde_json::Value::Null);
                    (
                        "200 OK",
                        "text/html; charset=utf-8",
                        page::render(title, &v),
                    )
                }
                None => return Ok(()),
            },
            _ => (
                "404 Not Found",
                "text/plain",
                String::from("try /, /status.json or /metrics\n"),
            ),
        }
    };
    tracing::trace!(%peer, path, status, "HTTP request");
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Request;
    use tokio::sync::mpsc;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test(flavor = "current_thread")]
    async fn serves_metrics_status_and_page() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel::<Request>(4);
        tokio::spawn(serve(listener, tx, "test"));
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                let _ = r.reply.send(match r.query {
                    Query::Metrics => "lowpan_br_x_total 1\n".into(),
                    Query::Status => r#"{"daemon":"test","uptime_s":5}"#.into(),
                });
            }
        });
        let out = get(addr, "/metrics").await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("lowpan_br_x_total 1\n"), "{out}");
        let out = get(addr, "/status.json").await;
        assert!(
            out.contains("application/json") && out.ends_with(r#""uptime_s":5}"#),
            "{out}"
        );
        let out = get(addr, "/").await;
        assert!(out.contains("text/html") && out.contains("<html"), "{out}");
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
    }
}
