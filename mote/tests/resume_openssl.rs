//! Resumption at the mote against the real `openssl` binary over UDP on 127.0.0.1: a full
//! handshake with our dtls server issuing session ids (as the IoTSSP does) saves the session
//! (`s_client -sess_out`); the session's id and master secret go to the mote's record layer
//! as a Transfer would carry them; `s_client -sess_in` then resumes with the mote alone
//! (abbreviated handshake, "Reused") and application data flows both ways. A mote that does
//! not hold the session answers with a HelloVerifyRequest (the way back to a full
//! handshake). Skipped when `openssl` is missing, and failed instead under CI.

#[path = "../../dtls/tests/common/interop.rs"]
mod interop;

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use delegated_mote::{Address, SessionLayer, SuiteSet};
use dtls::cert::CertifiedKey;
use dtls::{CipherSuite, Endpoint, Event, ServerConfig};
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

fn socket_addr(a: &Address) -> SocketAddr {
    let v6 = Ipv6Addr::from(a.addr);
    match v6.to_ipv4_mapped() {
        Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port),
        None => SocketAddr::new(IpAddr::V6(v6), a.port),
    }
}

type Layer = SessionLayer<SoftAes, 4, 2048>;

fn s_client(addr: &str, extra: &[&str]) -> ToolProcess {
    let mut args = vec![
        "s_client",
        "-dtls1_2",
        "-connect",
        addr,
        "-cipher",
        "ECDHE-ECDSA-AES128-CCM8",
    ];
    args.extend_from_slice(extra);
    ToolProcess::spawn("openssl", &args)
}

/// A full handshake with s_client against a dtls server that issues session ids; the
/// session saved to `sess` and what the Transfer would carry to make it resumable.
fn full_handshake(sess: &str) -> TransferBody {
    let read = |f: &str| std::fs::read_to_string(data_path(f)).unwrap();
    let ck = Arc::new(CertifiedKey::from_pem(&read("server.pem"), &read("server.key")).unwrap());
    let mut cfg = ServerConfig::ecdhe(ck, None);
    cfg.cipher_suites = vec![CipherSuite::EcdheEcdsaAes128Ccm8];
    cfg.issue_session_ids = true;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = format!("127.0.0.1:{}", sock.local_addr().unwrap().port());
    let mut ep = Endpoint::new(Some(Arc::new(cfg))).unwrap();
    let ca = data_path("ca.pem");
    let mut client = s_client(&addr, &["-CAfile", &ca, "-sess_out", sess]);
    let mut peer = None;
    let done = pump(
        &sock,
        &mut ep,
        Instant::now() + Duration::from_secs(10),
        |_, a, e| {
            peer = Some(a);
            matches!(e, Event::HandshakeComplete | Event::Closed(_))
        },
    );
    assert!(done, "{}", client.output());
    let peer = peer.unwrap();
    let conn = ep.connection(&peer).unwrap();
    let secret = conn
        .resumption_secret()
        .expect("a session id was issued")
        .clone();
    assert!(
        client.wait_for("Verify return code", Duration::from_secs(5)),
        "{}",
        client.output()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(sess).map_or(true, |m| m.len() == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    TransferBody {
        keys: SessionKeys::Ccm8(KeyBlock {
            client_write_key: [1; 16],
            server_write_key: [2; 16],
            client_write_iv: [3; 4],
            server_write_iv: [4; 4],
        }),
        may_evict: true,
        client_addr: address(peer).addr,
        client_port: peer.port(),
        sequence: None,
        mote_is_client: false,
        resumption: Resumption::new(
            &secret.session_id,
            *secret.master_secret,
            secret.extended_master_secret,
            3600,
        ),
    }
}

/// Drives the mote's record layer over `sock` until `stop` says so or `wait` passes; every
/// application record is answered with "echo:" and its data.
fn serve(
    sock: &UdpSocket,
    layer: &mut Layer,
    origin: Instant,
    wait: Duration,
    mut stop: impl FnMut(&Layer) -> bool,
) {
    let mut rng = Rng(7);
    let end = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    while Instant::now() < end && !stop(layer) {
        let now = mote_assoc::Instant::from_millis(origin.elapsed().as_millis() as u64);
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            layer.handle_datagram_resuming(now, &address(from), &buf[..n], &mut rng);
        }
        layer.handle_timeout(now);
        let mut data = [0u8; 512];
        while let Some(r) = layer.recv(&mut data) {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&data[..r.len]);
            layer.send(&r.from, &reply).unwrap();
        }
        while let Some((to, len)) = layer.poll_transmit(&mut buf) {
            sock.send_to(&buf[..len], socket_addr(&to)).unwrap();
        }
    }
}

#[test]
fn openssl_resumes_a_transferred_session_with_the_mote() {
    if !require_openssl("openssl_resumes_a_transferred_session_with_the_mote") {
        return;
    }
    let sess = std::env::temp_dir().join(format!("mote-resume-{}.pem", std::process::id()));
    let sess = sess.to_str().unwrap().to_string();
    let body = full_handshake(&sess);
    let origin = Instant::now();
    let mut layer = Layer::new(SuiteSet(0b1111), Duration::from_secs(300), 4);
    layer.set_resumption_slots(2);
    layer.install(mote_assoc::Instant::from_millis(0), &body);
    assert_eq!(layer.resumption().len(), 1);

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = format!("127.0.0.1:{}", sock.local_addr().unwrap().port());
    let mut client = s_client(&addr, &["-sess_in", &sess]);
    serve(&sock, &mut layer, origin, Duration::from_secs(10), |l| {
        l.resumption().stats().resumed == 1
    });
    assert_eq!(
        layer.resumption().stats().resumed,
        1,
        "{:?}\n{}",
        layer.resumption().stats(),
        client.output()
    );
    assert!(
        client.wait_for("Reused, TLSv1.2", Duration::from_secs(5)),
        "{}",
        client.output()
    );
    client.write_line("hello");
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    std::thread::scope(|s| {
        s.spawn(|| {
            let echoed = client.wait_for("echo:hello", Duration::from_secs(5));
            let _ = tx.send(echoed);
        });
        serve(&sock, &mut layer, origin, Duration::from_secs(6), |_| false);
    });
    assert!(rx.recv().unwrap(), "{}", client.output());
    let stats = layer.resumption().stats().clone();
    assert_eq!(
        (
            stats.hellos,
            stats.resumed,
            stats.fallbacks,
            stats.bad_finished
        ),
        (1, 1, 0, 0),
        "{stats:?}"
    );
    assert!(layer.sessions().stats().app_data_in >= 1);

    // A mote that does not hold the session sends the client back (HelloVerifyRequest).
    let mut empty = Layer::new(SuiteSet(0b1111), Duration::from_secs(300), 4);
    empty.set_resumption_slots(2);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = format!("127.0.0.1:{}", sock.local_addr().unwrap().port());
    let client = s_client(&addr, &["-sess_in", &sess]);
    serve(&sock, &mut empty, origin, Duration::from_secs(5), |l| {
        l.resumption().stats().fallbacks >= 2
    });
    let stats = empty.resumption().stats().clone();
    assert!(stats.fallbacks >= 2, "{stats:?}");
    assert_eq!(stats.resumed, 0);
    assert!(empty.sessions().is_empty());
    drop(client);
    let _ = std::fs::remove_file(&sess);
}
