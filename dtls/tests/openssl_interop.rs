//! Interop with the real `openssl` binary (OpenSSL 3.x) over UDP on 127.0.0.1: its
//! s_client against our server, our client against its s_server, every suite, application
//! data both ways, and refusals with alerts. Skipped (with a message) when `openssl` is
//! missing, and failed instead under CI.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::interop::{ToolProcess, pump};
use common::*;
use dtls::alert::AlertDescription;
use dtls::{
    CertificateError, CipherSuite, ClientConfig, CloseReason, Endpoint, Error, Event, ServerConfig,
};
use test_support::require_openssl;

const PSK_HEX: &str = "30313233343536373839616263646566"; // "0123456789abcdef"

fn data_path(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Our server echoes "echo:<data>" for every application record.
fn serve_echo(sock: &UdpSocket, ep: &mut Endpoint, until: Instant, events: &mut Vec<Event>) {
    pump(sock, ep, until, |ep, addr, e| {
        if let Event::ApplicationData(d) = &e {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(d);
            ep.send_application_data(&addr, &reply).unwrap();
        }
        let stop = matches!(e, Event::Closed(_));
        events.push(e);
        stop
    });
}

fn server_socket() -> (UdpSocket, String) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = format!("127.0.0.1:{}", sock.local_addr().unwrap().port());
    (sock, addr)
}

/// Runs s_client against our server: sends "hello", expects "echo:hello" back.
fn s_client_against_us(server: ServerConfig, extra: &[&str]) -> (bool, Vec<Event>, String) {
    let (sock, addr) = server_socket();
    let mut ep = Endpoint::new(Some(Arc::new(server))).unwrap();
    let mut args = vec!["s_client", "-dtls1_2", "-connect", &addr];
    args.extend_from_slice(extra);
    let mut client = ToolProcess::spawn("openssl", &args);
    let mut events = Vec::new();
    // Handshake (bounded), then one line of data.
    let deadline = Instant::now() + Duration::from_secs(10);
    pump(&sock, &mut ep, deadline, |_, _, e| {
        let stop = matches!(e, Event::HandshakeComplete | Event::Closed(_));
        events.push(e);
        stop
    });
    let mut echoed = false;
    if events.contains(&Event::HandshakeComplete) {
        // s_client prints its session summary once done; then send a line.
        client.wait_for("Verify return code", Duration::from_secs(5));
        client.write_line("hello");
        let until = Instant::now() + Duration::from_secs(3);
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(|| {
                echoed = client.wait_for("echo:hello", Duration::from_secs(3));
                let _ = tx.send(());
            });
            serve_echo_until(&sock, &mut ep, until, &mut events, &rx);
        });
    } else {
        client.wait_for("alert", Duration::from_secs(2));
    }
    let out = client.output();
    (echoed, events, out)
}

fn serve_echo_until(
    sock: &UdpSocket,
    ep: &mut Endpoint,
    until: Instant,
    events: &mut Vec<Event>,
    done: &mpsc::Receiver<()>,
) {
    while Instant::now() < until && done.try_recv().is_err() {
        serve_echo(
            sock,
            ep,
            (Instant::now() + Duration::from_millis(100)).min(until),
            events,
        );
    }
}

#[test]
fn openssl_client_psk() {
    if !require_openssl("openssl_client_psk") {
        return;
    }
    let (echoed, events, out) = s_client_against_us(
        psk_server(),
        &[
            "-psk",
            PSK_HEX,
            "-psk_identity",
            "mote-1",
            "-cipher",
            "PSK-AES128-CCM8",
        ],
    );
    assert!(echoed, "events {events:?}\n{out}");
    assert!(out.contains("PSK-AES128-CCM8"), "{out}");
}

fn ecdhe_client_args(cert: &'static str, key: &'static str) -> Vec<String> {
    vec![
        "-cipher".into(),
        "ECDHE-ECDSA-AES128-CCM8".into(),
        "-cert".into(),
        data_path(cert),
        "-key".into(),
        data_path(key),
        "-CAfile".into(),
        data_path("ca.pem"),
        "-verify_return_error".into(),
    ]
}

#[test]
fn openssl_client_ecdhe_mutual() {
    if !require_openssl("openssl_client_ecdhe_mutual") {
        return;
    }
    let args = ecdhe_client_args("client.pem", "client.key");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (echoed, events, out) = s_client_against_us(ecdhe_server(), &args);
    assert!(echoed, "events {events:?}\n{out}");
    assert!(out.contains("ECDHE-ECDSA-AES128-CCM8"), "{out}");
}

#[test]
fn openssl_client_ecdhe_mutual_mtu_300() {
    if !require_openssl("openssl_client_ecdhe_mutual_mtu_300") {
        return;
    }
    // A two-certificate client chain (s_client sends only the leaf unless -cert_chain).
    let mut args = ecdhe_client_args("client2.pem", "client2.key");
    args.extend([
        "-cert_chain".to_string(),
        data_path("inter.pem"),
        "-mtu".to_string(),
        "300".to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = ecdhe_server();
    server.transport.mtu = 300;
    let (echoed, events, out) = s_client_against_us(server, &args);
    assert!(echoed, "events {events:?}\n{out}");
}

#[test]
fn openssl_client_wrong_psk_refused() {
    if !require_openssl("openssl_client_wrong_psk_refused") {
        return;
    }
    // The server discards the Finished it cannot authenticate and refuses once its
    // retransmissions are spent: short ones here, so s_client is still there to hear it.
    let mut server = psk_server();
    server.transport.retransmit.initial = Duration::from_millis(200);
    server.transport.retransmit.max_retransmissions = 2;
    let (echoed, events, out) = s_client_against_us(
        server,
        &[
            "-psk",
            "00112233445566778899aabbccddeeff",
            "-psk_identity",
            "mote-1",
            "-cipher",
            "PSK-AES128-CCM8",
        ],
    );
    assert!(!echoed);
    assert!(
        events.contains(&Event::Closed(CloseReason::LocalError(
            Error::DecryptFailed
        ))),
        "{events:?}\n{out}"
    );
    assert!(out.contains("bad record mac"), "{out}");
}

#[test]
fn openssl_client_untrusted_cert_refused() {
    if !require_openssl("openssl_client_untrusted_cert_refused") {
        return;
    }
    let args = ecdhe_client_args("rogue.pem", "rogue.key");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (echoed, events, out) = s_client_against_us(ecdhe_server(), &args);
    assert!(!echoed);
    assert!(
        events.contains(&Event::Closed(CloseReason::LocalError(
            Error::InvalidCertificate(CertificateError::UnknownIssuer)
        ))),
        "{events:?}\n{out}"
    );
    assert!(out.contains("unknown ca"), "{out}");
}

// ---- our client against s_server ----

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs our client against s_server: we send "ping", s_server prints it; s_server sends
/// "pong", we receive it.
fn us_against_s_server(client: ClientConfig, extra: &[&str]) -> (Vec<Event>, String) {
    let port = free_port().to_string();
    let mut args = vec!["s_server", "-dtls1_2", "-accept", &port];
    args.extend_from_slice(extra);
    let mut server = ToolProcess::spawn("openssl", &args);
    assert!(
        server.wait_for("ACCEPT", Duration::from_secs(5)),
        "{}",
        server.output()
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let remote: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut ep = Endpoint::new(None).unwrap();
    let mut events = Vec::new();
    let mut client = client;
    client.transport.retransmit.initial = Duration::from_millis(500);
    ep.connect(Instant::now(), remote, Arc::new(client))
        .unwrap();
    pump(
        &sock,
        &mut ep,
        Instant::now() + Duration::from_secs(10),
        |_, _, e| {
            let stop = matches!(e, Event::HandshakeComplete | Event::Closed(_));
            events.push(e);
            stop
        },
    );
    if events.contains(&Event::HandshakeComplete) {
        ep.send_application_data(&remote, b"ping\n").unwrap();
        pump(
            &sock,
            &mut ep,
            Instant::now() + Duration::from_millis(200),
            |_, _, _| false,
        );
        if server.wait_for("ping", Duration::from_secs(3)) {
            server.write_line("pong");
            pump(
                &sock,
                &mut ep,
                Instant::now() + Duration::from_secs(3),
                |_, _, e| {
                    let stop = matches!(&e, Event::ApplicationData(_) | Event::Closed(_));
                    events.push(e);
                    stop
                },
            );
        }
    } else {
        server.wait_for("alert", Duration::from_secs(1));
    }
    let out = server.output();
    (events, out)
}

#[test]
fn our_client_against_s_server_psk() {
    if !require_openssl("our_client_against_s_server_psk") {
        return;
    }
    let (events, out) = us_against_s_server(
        psk_client(b"0123456789abcdef"),
        &[
            "-nocert",
            "-psk",
            PSK_HEX,
            "-psk_identity",
            "mote-1",
            "-cipher",
            "PSK-AES128-CCM8",
        ],
    );
    assert!(
        events.contains(&Event::ApplicationData(b"pong\n".to_vec())),
        "{events:?}\n{out}"
    );
}

#[test]
fn our_client_against_s_server_ecdhe_verify() {
    if !require_openssl("our_client_against_s_server_ecdhe_verify") {
        return;
    }
    let (cert, key, ca) = (
        data_path("server.pem"),
        data_path("server.key"),
        data_path("ca.pem"),
    );
    let (events, out) = us_against_s_server(
        ecdhe_client("client2-chain.pem", "client2.key"),
        &[
            "-cert",
            &cert,
            "-key",
            &key,
            "-CAfile",
            &ca,
            "-Verify",
            "1",
            "-cipher",
            "ECDHE-ECDSA-AES128-CCM8",
            "-mtu",
            "300",
        ],
    );
    assert!(
        events.contains(&Event::ApplicationData(b"pong\n".to_vec())),
        "{events:?}\n{out}"
    );
}

#[test]
fn our_client_against_s_server_wrong_psk() {
    if !require_openssl("our_client_against_s_server_wrong_psk") {
        return;
    }
    let mut client = psk_client(b"wrong key 123456");
    client.transport.retransmit.max_retransmissions = 3;
    let (events, out) = us_against_s_server(
        client,
        &[
            "-nocert",
            "-psk",
            PSK_HEX,
            "-psk_identity",
            "mote-1",
            "-cipher",
            "PSK-AES128-CCM8",
        ],
    );
    assert!(
        !events.contains(&Event::HandshakeComplete),
        "{events:?}\n{out}"
    );
    // OpenSSL silently discards our Finished (it does not authenticate under its keys), so
    // the refusal shows as our handshake timing out rather than as an alert.
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Closed(
                CloseReason::PeerAlert(AlertDescription::BadRecordMac)
                    | CloseReason::HandshakeTimeout
            )
        )),
        "{events:?}\n{out}"
    );
}

#[test]
fn close_notify_from_s_client_is_answered() {
    if !require_openssl("close_notify_from_s_client_is_answered") {
        return;
    }
    let (sock, addr) = server_socket();
    let mut ep = Endpoint::new(Some(Arc::new(psk_server()))).unwrap();
    let mut client = ToolProcess::spawn(
        "openssl",
        &[
            "s_client",
            "-dtls1_2",
            "-connect",
            &addr,
            "-psk",
            PSK_HEX,
            "-psk_identity",
            "mote-1",
            "-cipher",
            "PSK-AES128-CCM8",
        ],
    );
    let mut events = Vec::new();
    pump(
        &sock,
        &mut ep,
        Instant::now() + Duration::from_secs(10),
        |_, _, e| {
            let stop = matches!(e, Event::HandshakeComplete | Event::Closed(_));
            events.push(e);
            stop
        },
    );
    assert!(
        events.contains(&Event::HandshakeComplete),
        "{events:?}\n{}",
        client.output()
    );
    client.wait_for("Verify return code", Duration::from_secs(5));
    // s_client's "Q" command: close_notify, then exit.
    client.write_line("Q");
    // Driven by hand here, to see what we send in answer.
    let mut answer = None;
    let mut buf = vec![0u8; 65536];
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && !events.iter().any(|e| matches!(e, Event::Closed(_))) {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            ep.handle_datagram(Instant::now(), from, &buf[..n]);
        }
        while let Some(t) = ep.poll_transmit() {
            let _ = sock.send_to(&t.contents, t.destination);
            answer = Some(t.contents);
        }
        while let Some((_, e)) = ep.poll_event() {
            events.push(e);
        }
    }
    let out = client.output();
    assert!(
        events.contains(&Event::Closed(CloseReason::CloseNotify)),
        "{events:?}\n{out}"
    );
    let answer = answer.expect("our close_notify");
    let rec = dtls::record::records(&answer).next().unwrap().unwrap();
    assert_eq!(
        (rec.content_type(), rec.epoch()),
        (dtls::record::ContentType::Alert, 1),
        "{out}"
    );
}

/// OpenSSL's name of each ECDHE_ECDSA suite.
fn openssl_name(suite: CipherSuite) -> &'static str {
    match suite {
        CipherSuite::EcdheEcdsaAes128Ccm8 => "ECDHE-ECDSA-AES128-CCM8",
        CipherSuite::EcdheEcdsaAes128Ccm => "ECDHE-ECDSA-AES128-CCM",
        CipherSuite::EcdheEcdsaAes128Gcm => "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::EcdheEcdsaChacha20Poly1305 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::PskAes128Ccm8 => "PSK-AES128-CCM8",
    }
}

/// s_client restricted to one suite against our server offering only that suite.
#[test]
fn openssl_client_every_ecdhe_suite() {
    if !require_openssl("openssl_client_every_ecdhe_suite") {
        return;
    }
    for suite in CipherSuite::ECDHE_ECDSA {
        let mut args = ecdhe_client_args("client.pem", "client.key");
        args[1] = openssl_name(suite).into();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = ecdhe_server();
        server.cipher_suites = vec![suite];
        let (echoed, events, out) = s_client_against_us(server, &args);
        assert!(echoed, "{suite}: events {events:?}\n{out}");
        assert!(
            out.contains(&format!("Cipher is {}", openssl_name(suite))),
            "{suite}\n{out}"
        );
    }
}

/// s_client with its default cipher list (only the certificate given) against our default
/// ECDHE server: our order of preference picks the first suite OpenSSL offers.
#[test]
fn openssl_client_default_cipher_list() {
    if !require_openssl("openssl_client_default_cipher_list") {
        return;
    }
    let (cert, key, ca) = (
        data_path("client.pem"),
        data_path("client.key"),
        data_path("ca.pem"),
    );
    let (echoed, events, out) = s_client_against_us(
        ecdhe_server(),
        &["-cert", &cert, "-key", &key, "-CAfile", &ca],
    );
    assert!(echoed, "events {events:?}\n{out}");
    assert!(out.contains("Cipher is ECDHE-ECDSA-AES128-"), "{out}");
}

/// Our client offering one suite against s_server restricted to it.
#[test]
fn our_client_against_s_server_every_ecdhe_suite() {
    if !require_openssl("our_client_against_s_server_every_ecdhe_suite") {
        return;
    }
    let (cert, key, ca) = (
        data_path("server.pem"),
        data_path("server.key"),
        data_path("ca.pem"),
    );
    for suite in CipherSuite::ECDHE_ECDSA {
        let mut client = ecdhe_client("client.pem", "client.key");
        client.cipher_suites = vec![suite];
        let (events, out) = us_against_s_server(
            client,
            &[
                "-cert",
                &cert,
                "-key",
                &key,
                "-CAfile",
                &ca,
                "-Verify",
                "1",
                "-cipher",
                openssl_name(suite),
            ],
        );
        assert!(
            events.contains(&Event::ApplicationData(b"pong\n".to_vec())),
            "{suite}: {events:?}\n{out}"
        );
    }
}

/// s_client offering only a suite we do not run gets handshake_failure.
#[test]
fn openssl_client_without_a_common_suite_gets_handshake_failure() {
    if !require_openssl("openssl_client_without_a_common_suite_gets_handshake_failure") {
        return;
    }
    let mut args = ecdhe_client_args("client.pem", "client.key");
    args[1] = "ECDHE-ECDSA-AES256-GCM-SHA384".into();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (echoed, events, out) = s_client_against_us(ecdhe_server(), &args);
    assert!(!echoed);
    assert!(
        events.contains(&Event::Closed(CloseReason::LocalError(
            Error::PeerMisbehaved(dtls::PeerMisbehaved::NoCommonCipherSuite)
        ))),
        "{events:?}\n{out}"
    );
    assert!(out.contains("handshake failure"), "{out}");
}
