//! Outbound resumption by the mote against the real `openssl s_server -dtls1_2` over UDP on
//! 127.0.0.1: our dtls client (as the IoTSSP's client runs it, keeping the server's session
//! id and the master secret) makes a full handshake and closes; what its Transfer would carry
//! goes to the mote's record layer as an outbound session; the mote then resumes with
//! s_server alone (abbreviated handshake, "Reused session-id" in s_server's output: SHA-256
//! and AES only, nothing of the IoTSSP) and application data flows both ways. A server that
//! lost the session (a fresh s_server) answers with a full handshake, which sends the mote
//! back to its IoTSSP. Skipped when `openssl` is missing, and failed instead under CI.
//! About 2 s.

#[path = "../../dtls/tests/common/interop.rs"]
mod interop;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use delegated_mote::{Address, OutboundOutcome, SessionLayer, SuiteSet};
use dtls::cert::ChainVerifier;
use dtls::{CipherSuite, ClientConfig, Endpoint, Event};
use interop::{ToolProcess, pump};
use mote_assoc::crypto::SoftAes;
use mote_assoc::wire::{KeyBlock, Resumption, SessionKeys, TransferBody};
use test_support::require_openssl;

fn data_path(name: &str) -> String {
    format!("{}/../dtls/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

struct Rng(u64);

impl mote_assoc::crypto::Random for Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.0 >> 56) as u8;
        }
    }
}

fn address(a: SocketAddr) -> Address {
    let v6 = match a.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    Address {
        addr: v6.octets(),
        port: a.port(),
    }
}

type Layer = SessionLayer<SoftAes, 4, 2048>;

fn s_server() -> (ToolProcess, SocketAddr) {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (cert, key) = (data_path("server.pem"), data_path("server.key"));
    let server = ToolProcess::spawn(
        "openssl",
        &[
            "s_server",
            "-dtls1_2",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            &cert,
            "-key",
            &key,
            "-cipher",
            "ECDHE-ECDSA-AES128-CCM8",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    (server, format!("127.0.0.1:{port}").parse().unwrap())
}

/// A full handshake with s_server by the IoTSSP's client role from `sock`, then a
/// close_notify; the Transfer body the mote would get (its first keys are stand-ins: this
/// test resumes).
fn full_handshake(sock: &UdpSocket, server: SocketAddr) -> TransferBody {
    let anchors =
        ChainVerifier::from_pem(&std::fs::read_to_string(data_path("ca.pem")).unwrap()).unwrap();
    let mut cfg = ClientConfig::ecdhe(anchors, None);
    cfg.cipher_suites = vec![CipherSuite::EcdheEcdsaAes128Ccm8];
    cfg.keep_resumption_secret = true;
    let mut ep = Endpoint::new(None).unwrap();
    ep.connect(Instant::now(), server, Arc::new(cfg)).unwrap();
    let done = pump(
        sock,
        &mut ep,
        Instant::now() + Duration::from_secs(10),
        |_, _, e| matches!(e, Event::HandshakeComplete | Event::Closed(_)),
    );
    assert!(done);
    let secret = ep
        .connection(&server)
        .and_then(|c| c.resumption_secret())
        .expect("s_server gave the session an id")
        .clone();
    ep.close(&server);
    while let Some(t) = ep.poll_transmit() {
        let _ = sock.send_to(&t.contents, t.destination);
    }
    TransferBody {
        keys: SessionKeys::Ccm8(KeyBlock {
            client_write_key: [1; 16],
            server_write_key: [2; 16],
            client_write_iv: [3; 4],
            server_write_iv: [4; 4],
        }),
        may_evict: true,
        client_addr: address(server).addr,
        client_port: server.port(),
        sequence: None,
        mote_is_client: true,
        resumption: Resumption::new(
            &secret.session_id,
            *secret.master_secret,
            secret.extended_master_secret,
            3600,
        ),
    }
}

/// Drives the mote's record layer over `sock` until `stop` says so or `wait` passes.
fn drive(
    sock: &UdpSocket,
    layer: &mut Layer,
    origin: Instant,
    wait: Duration,
    mut stop: impl FnMut(&mut Layer) -> bool,
) -> bool {
    let mut rng = Rng(7);
    let end = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    while Instant::now() < end {
        if stop(layer) {
            return true;
        }
        let now = mote_assoc::Instant::from_millis(origin.elapsed().as_millis() as u64);
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            layer.handle_datagram_resuming(now, &address(from), &buf[..n], &mut rng);
        }
        layer.handle_timeout(now);
        while let Some((to, len)) = layer.poll_transmit(&mut buf) {
            let to = SocketAddr::new(
                std::net::Ipv6Addr::from(to.addr)
                    .to_ipv4_mapped()
                    .unwrap()
                    .into(),
                to.port,
            );
            sock.send_to(&buf[..len], to).unwrap();
        }
    }
    false
}

#[test]
fn the_mote_resumes_its_outbound_session_with_openssl_s_server() {
    if !require_openssl("the_mote_resumes_its_outbound_session_with_openssl_s_server") {
        return;
    }
    let (mut server, addr) = s_server();
    let body = full_handshake(&UdpSocket::bind("127.0.0.1:0").unwrap(), addr);
    assert!(
        server.wait_for("DONE", Duration::from_secs(5)),
        "{}",
        server.output()
    );
    let origin = Instant::now();
    let mut layer = Layer::new(SuiteSet(0b1111), Duration::from_secs(300), 4);
    layer.set_resumption_slots(2);
    layer.install(mote_assoc::Instant::from_millis(0), &body);
    let peer = address(addr);
    assert!(
        layer
            .outbound_resumption()
            .can_resume(mote_assoc::Instant::from_millis(0), &peer)
    );

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    layer
        .resume_outbound(mote_assoc::Instant::from_millis(0), &peer, &mut Rng(1))
        .unwrap();
    let mut outcome = None;
    drive(&sock, &mut layer, origin, Duration::from_secs(10), |l| {
        outcome = outcome.or(l.poll_outbound_outcome());
        outcome.is_some()
    });
    assert_eq!(
        outcome,
        Some(OutboundOutcome::Resumed(peer)),
        "{:?}\n{}",
        layer.outbound_resumption().stats(),
        server.output()
    );
    assert!(
        server.wait_for("Reused session-id", Duration::from_secs(5)),
        "{}",
        server.output()
    );
    layer.send(&peer, b"hello from the mote\n").unwrap();
    drive(
        &sock,
        &mut layer,
        origin,
        Duration::from_millis(300),
        |_| false,
    );
    assert!(
        server.wait_for("hello from the mote", Duration::from_secs(5)),
        "{}",
        server.output()
    );
    server.write_line("hello mote");
    let mut got = Vec::new();
    drive(&sock, &mut layer, origin, Duration::from_secs(5), |l| {
        let mut data = [0u8; 256];
        if let Some(r) = l.recv(&mut data) {
            got = data[..r.len].to_vec();
        }
        !got.is_empty()
    });
    assert_eq!(got, b"hello mote\n", "{}", server.output());
    let stats = layer.outbound_resumption().stats().clone();
    assert_eq!(
        (
            stats.started,
            stats.resumed,
            stats.not_resumed,
            stats.bad_finished
        ),
        (1, 1, 0, 0),
        "{stats:?}"
    );
    drop(server);

    // A server that no longer holds the session: a full handshake's ServerHello (another id)
    // ends the attempt, and the mote forgets the session (the IoTSSP's turn).
    let (mut fresh, fresh_addr) = s_server();
    let mut body = body;
    body.client_port = fresh_addr.port();
    let peer = address(fresh_addr);
    let mut layer = Layer::new(SuiteSet(0b1111), Duration::from_secs(300), 4);
    layer.set_resumption_slots(2);
    layer.install(mote_assoc::Instant::from_millis(0), &body);
    layer
        .resume_outbound(mote_assoc::Instant::from_millis(0), &peer, &mut Rng(2))
        .unwrap();
    let mut outcome = None;
    drive(&sock, &mut layer, origin, Duration::from_secs(10), |l| {
        outcome = outcome.or(l.poll_outbound_outcome());
        outcome.is_some()
    });
    assert_eq!(
        outcome,
        Some(OutboundOutcome::NotResumed(peer)),
        "{}",
        fresh.output()
    );
    assert!(
        !layer
            .outbound_resumption()
            .can_resume(mote_assoc::Instant::from_millis(0), &peer)
    );
    // The IoTSSP's full handshake then comes from the mote's address and port, while
    // s_server still holds the full handshake it began for the mote's hello: it takes the
    // new ClientHello at once.
    drive(
        &sock,
        &mut layer,
        origin,
        Duration::from_millis(300),
        |_| false,
    );
    let started = Instant::now();
    full_handshake(&sock, fresh_addr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{}",
        fresh.output()
    );
}
