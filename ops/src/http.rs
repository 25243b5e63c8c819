//! The opt-in HTTP endpoint: `GET /` the status page, `GET /status.json` its data,
//! `GET /metrics` Prometheus text ([`crate::metrics`]). HTTP/1 by hyper, one request per
//! connection, GET only, bounded request head and time: it is meant for a loopback port or a
//! management network, not for the Internet.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::{Query, Requests, ask, page};

/// How long a client has for its whole request and our answer.
const CONNECTION_TIME: Duration = Duration::from_secs(5);
/// The largest request head read.
const MAX_HEAD: usize = 8192;

/// Serves `listener` until the main loop goes away. `title` names the daemon on the page.
pub async fn serve(listener: TcpListener, requests: Requests, title: &'static str) {
    loop {
        let Ok((sock, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req| answer(req, peer, requests.clone(), title));
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .max_buf_size(MAX_HEAD)
                .timer(TokioTimer::new())
                .header_read_timeout(CONNECTION_TIME)
                .serve_connection(TokioIo::new(sock), service);
            let _ = tokio::time::timeout(CONNECTION_TIME, conn).await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    peer: SocketAddr,
    requests: Requests,
    title: &'static str,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let (status, content_type, body) = if req.method() != Method::GET {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            String::from("only GET\n"),
        )
    } else {
        let unavailable = || {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                String::from("the daemon is stopping\n"),
            )
        };
        match path {
            "/metrics" => match ask(&requests, Query::Metrics).await {
                Some(text) => (StatusCode::OK, crate::metrics::CONTENT_TYPE, text),
                None => unavailable(),
            },
            "/status.json" => match ask(&requests, Query::Status).await {
                Some(json) => (StatusCode::OK, "application/json", json),
                None => unavailable(),
            },
            "/" | "/index.html" => match ask(&requests, Query::Status).await {
                Some(json) => {
                    let v = serde_json::from_str(&json).unwrap_or(serde_json::Value::Null);
                    (
                        StatusCode::OK,
                        "text/html; charset=utf-8",
                        page::render(title, &v),
                    )
                }
                None => unavailable(),
            },
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain",
                String::from("try /, /status.json or /metrics\n"),
            ),
        }
    };
    tracing::trace!(%peer, path, %status, "HTTP request");
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Request;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
        // Only GET; an oversized head is refused, not buffered.
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        sock.write_all(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        sock.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 405"), "{out}");
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(3 * MAX_HEAD));
        let _ = sock.write_all(long.as_bytes()).await;
        let mut out = Vec::new();
        let _ = sock.read_to_end(&mut out).await;
        assert!(!String::from_utf8_lossy(&out).contains("200 OK"));
    }
}
