//! Full mutual-auth handshakes per second per core of our server, with an in-process client
//! over an in-memory network; beside it, the cost of the raw P-256 operations with the crypto
//! we use (the server's "crypto ceiling"), and (when `openssl` is installed) the CPU cost per
//! handshake of `openssl s_server` driven by our client over UDP on 127.0.0.1.
//!
//! Usage: cargo run --release -p dtls --example handshake_bench -- [out.json] [handshakes]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::cert::{CertifiedKey, ChainVerifier};
use dtls::crypto::ecc::{EcdheKey, SigningKey, verify};
use dtls::{ClientConfig, Endpoint, Event, PskTable, ServerConfig};

fn data(name: &str) -> String {
    let p = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn certified(chain: &str, key: &str) -> Arc<CertifiedKey> {
    Arc::new(CertifiedKey::from_pem(&data(chain), &data(key)).expect("test PKI"))
}

/// Runs `n` handshakes; returns (seconds spent inside the server, seconds in the client).
fn run_handshakes(server: Arc<ServerConfig>, client: Arc<ClientConfig>, n: usize) -> (f64, f64) {
    let server_addr: SocketAddr = "127.0.0.1:5684".parse().unwrap();
    let mut server_time = Duration::ZERO;
    let mut client_time = Duration::ZERO;
    let mut ep = Endpoint::new(Some(server)).unwrap();
    for i in 0..n {
        let client_addr: SocketAddr = format!("127.0.0.2:{}", 1024 + (i % 60000)).parse().unwrap();
        let now = Instant::now();
        let mut cl = Endpoint::new(None).unwrap();
        let t = Instant::now();
        cl.connect(now, server_addr, client.clone()).unwrap();
        client_time += t.elapsed();
        let mut done = false;
        for _ in 0..100 {
            let t = Instant::now();
            let mut to_server = Vec::new();
            while let Some(tx) = cl.poll_transmit() {
                to_server.push(tx.contents);
            }
            client_time += t.elapsed();
            let t = Instant::now();
            for d in &to_server {
                ep.handle_datagram(now, client_addr, d);
            }
            let mut to_client = Vec::new();
            while let Some(tx) = ep.poll_transmit() {
                to_client.push(tx.contents);
            }
            while ep.poll_event().is_some() {}
            server_time += t.elapsed();
            let t = Instant::now();
            for d in &to_client {
                cl.handle_datagram(now, server_addr, d);
            }
            while let Some((_, e)) = cl.poll_event() {
                if e == Event::HandshakeComplete {
                    done = true;
                }
                assert!(!matches!(e, Event::Closed(_)), "handshake failed: {e:?}");
            }
            client_time += t.elapsed();
            if done && to_server.is_empty() && to_client.is_empty() {
                break;
            }
        }
        assert!(done, "handshake {i} did not complete");
        // Keep the server's table small, as a real server would after close.
        ep.close(&client_addr);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
    }
    (server_time.as_secs_f64(), client_time.as_secs_f64())
}

fn per_op(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() / n as f64
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Our client against `openssl s_server`: handshakes per CPU-second of s_server.
fn openssl_s_server(client: Arc<ClientConfig>, n: usize) -> Option<(f64, usize)> {
    let port = UdpSocket::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-dtls1_2",
            "-accept",
            &port.to_string(),
            "-quiet",
            "-naccept",
            &n.to_string(),
        ])
        .args([
            "-cert",
            &format!("{dir}/server.pem"),
            "-key",
            &format!("{dir}/server.key"),
        ])
        .args([
            "-CAfile",
            &format!("{dir}/ca.pem"),
            "-Verify",
            "1",
            "-cipher",
            "ECDHE-ECDSA-AES128-CCM8",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id();
    let cpu0 = cpu_seconds(pid)?;
    let remote: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let mut completed = 0;
    let mut buf = vec![0u8; 65536];
    for _ in 0..n {
        let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
        let mut ep = Endpoint::new(None).ok()?;
        ep.connect(Instant::now(), remote, client.clone()).ok()?;
        let until = Instant::now() + Duration::from_secs(5);
        let mut done = false;
        while Instant::now() < until && !done {
            while let Some(t) = ep.poll_transmit() {
                let _ = sock.send_to(&t.contents, t.destination);
            }
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .ok()?;
            if let Ok((len, from)) = sock.recv_from(&mut buf) {
                ep.handle_datagram(Instant::now(), from, &buf[..len]);
            }
            ep.handle_timeout(Instant::now());
            while let Some((_, e)) = ep.poll_event() {
                done |= e == Event::HandshakeComplete;
            }
        }
        if !done {
            break;
        }
        completed += 1;
        ep.close(&remote);
        while let Some(t) = ep.poll_transmit() {
            let _ = sock.send_to(&t.contents, t.destination);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let cpu1 = cpu_seconds(pid)?;
    let _ = child.kill();
    let _ = child.wait();
    (completed > 0).then(|| (completed as f64 / (cpu1 - cpu0).max(1e-3), completed))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out_path = args.get(1).cloned();
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);

    // Raw crypto with the backend we use (ring, behind dtls::crypto::ecc). The message is a
    // typical signed ServerKeyExchange content (two randoms and the ECDHE parameters).
    let key = SigningKey::generate().unwrap();
    let public = key.public_key().to_vec();
    let message = [7u8; 32 + 32 + 69];
    let sig = key.sign(&message).unwrap();
    let peer = EcdheKey::generate().unwrap();
    let sign = per_op(2000, || {
        key.sign(&message).unwrap();
    });
    let verify_t = per_op(2000, || verify(&public, &message, &sig).unwrap());
    let keygen = per_op(2000, || {
        EcdheKey::generate().unwrap();
    });
    // Keygen + agreement (ring consumes the ephemeral key), minus keygen.
    let keygen_ecdh = per_op(2000, || {
        EcdheKey::generate().unwrap().agree(peer.public()).unwrap();
    });
    let ecdh = (keygen_ecdh - keygen).max(0.0);
    let verify = verify_t;
    // The server's public-key work per mutual handshake: ECDHE keygen + agreement, one
    // signature (ServerKeyExchange), two verifications (client leaf by CA, CertificateVerify).
    let server_crypto = keygen + ecdh + sign + 2.0 * verify;
    let ceiling = 1.0 / server_crypto;

    let anchors = ChainVerifier::from_pem(&data("ca.pem")).unwrap();
    let server_cfg = Arc::new(ServerConfig::ecdhe(
        certified("server.pem", "server.key"),
        Some(anchors.clone()),
    ));
    let client_cfg = Arc::new(ClientConfig::ecdhe(
        anchors,
        Some(certified("client.pem", "client.key")),
    ));
    let (server_s, client_s) = run_handshakes(server_cfg, client_cfg.clone(), n);
    let ours = n as f64 / server_s;

    let mut table = PskTable::new();
    table.insert(b"mote-1", b"0123456789abcdef");
    let psk_server = Arc::new(ServerConfig::psk(Arc::new(table)));
    let psk_client = Arc::new(ClientConfig::psk(b"mote-1", b"0123456789abcdef"));
    let (psk_s, _) = run_handshakes(psk_server, psk_client, n);
    let psk_rate = n as f64 / psk_s;

    let openssl = openssl_s_server(client_cfg, n.min(100));

    println!("crypto (ring P-256 via dtls::crypto::ecc), per operation:");
    println!("  ECDSA P-256 sign      {:8.1} us", sign * 1e6);
    println!("  ECDSA P-256 verify    {:8.1} us", verify * 1e6);
    println!("  ECDHE keygen          {:8.1} us", keygen * 1e6);
    println!("  ECDH agreement        {:8.1} us", ecdh * 1e6);
    println!(
        "  server crypto/handshake {:6.1} us -> ceiling {:.0} handshakes/s/core",
        server_crypto * 1e6,
        ceiling
    );
    println!(
        "ours, ECDHE_ECDSA mutual auth: {ours:.0} handshakes/s/core ({:.0}% of ceiling), {n} handshakes, client side {client_s:.2} s",
        100.0 * ours / ceiling
    );
    println!("ours, PSK: {psk_rate:.0} handshakes/s/core");
    match openssl {
        Some((rate, done)) => println!(
            "openssl s_server, same suite and auth: {rate:.0} handshakes per CPU-second ({done} handshakes); ours/openssl = {:.2}",
            ours / rate
        ),
        None => println!("openssl s_server: not measured"),
    }

    if let Some(path) = out_path {
        let openssl_json = match openssl {
            Some((rate, done)) => {
                format!("{{\"handshakes_per_cpu_second\": {rate:.1}, \"handshakes\": {done}}}")
            }
            None => "null".to_string(),
        };
        let json = format!(
            "{{\n  \"handshakes\": {n},\n  \"ecdhe_ecdsa_mutual_handshakes_per_second_per_core\": {ours:.1},\n  \"psk_handshakes_per_second_per_core\": {psk_rate:.1},\n  \"crypto_us\": {{\"ecdsa_sign\": {:.2}, \"ecdsa_verify\": {:.2}, \"ecdhe_keygen\": {:.2}, \"ecdh\": {:.2}}},\n  \"server_crypto_ceiling_per_second\": {ceiling:.1},\n  \"fraction_of_ceiling\": {:.3},\n  \"openssl_s_server\": {openssl_json}\n}}\n",
            sign * 1e6,
            verify * 1e6,
            keygen * 1e6,
            ecdh * 1e6,
            ours / ceiling
        );
        std::fs::write(&path, json).expect("write JSON");
        println!("wrote {path}");
    }
}
