//! Interop with GnuTLS (`gnutls-cli` and `gnutls-serv`, gnutls-bin) over UDP on 127.0.0.1:
//! every ECDHE_ECDSA suite in both roles, and gnutls-cli with its default priority string.
//! Skipped (with a message) when the programs are missing, and failed instead under CI.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::interop::{ToolProcess, pump};
use common::*;
use dtls::{CipherSuite, Endpoint, Event, ServerConfig};
use test_support::require_program;

fn data_path(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// GnuTLS's priority string offering exactly `suite` (with its defaults for the rest).
fn priority(suite: CipherSuite) -> &'static str {
    match suite {
        CipherSuite::EcdheEcdsaAes128Ccm8 => "NORMAL:-CIPHER-ALL:+AES-128-CCM-8",
        CipherSuite::EcdheEcdsaAes128Ccm => "NORMAL:-CIPHER-ALL:+AES-128-CCM",
        CipherSuite::EcdheEcdsaAes128Gcm => "NORMAL:-CIPHER-ALL:+AES-128-GCM",
        CipherSuite::EcdheEcdsaChacha20Poly1305 => "NORMAL:-CIPHER-ALL:+CHACHA20-POLY1305",
        CipherSuite::PskAes128Ccm8 => "NORMAL:-CIPHER-ALL:+AES-128-CCM-8:-KX-ALL:+PSK",
    }
}

/// GnuTLS's name of the suite's cipher in its "- Description:" line.
fn description(suite: CipherSuite) -> &'static str {
    match suite {
        CipherSuite::EcdheEcdsaAes128Ccm8 | CipherSuite::PskAes128Ccm8 => "(AES-128-CCM-8)",
        CipherSuite::EcdheEcdsaAes128Ccm => "(AES-128-CCM)",
        CipherSuite::EcdheEcdsaAes128Gcm => "(AES-128-GCM)",
        CipherSuite::EcdheEcdsaChacha20Poly1305 => "(CHACHA20-POLY1305)",
    }
}

/// gnutls-cli (client certificate given; `priority` or its default) against our server,
/// which echoes "echo:<line>". Returns whether the echo came back, our events, its output.
fn gnutls_cli_against_us(
    server: ServerConfig,
    priority: Option<&str>,
) -> (bool, Vec<Event>, String) {
    let (ca, cert, key) = (
        data_path("ca.pem"),
        data_path("client.pem"),
        data_path("client.key"),
    );
    let mut args = vec![
        "--x509cafile",
        &ca,
        "--x509certfile",
        &cert,
        "--x509keyfile",
        &key,
        "--verify-hostname",
        "mote.example",
    ];
    if let Some(p) = priority {
        args.extend(["--priority", p]);
    }
    gnutls_cli_with(server, &args)
}

/// gnutls-cli with these credential and priority arguments against our echoing server.
fn gnutls_cli_with(server: ServerConfig, credentials: &[&str]) -> (bool, Vec<Event>, String) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port().to_string();
    let mut ep = Endpoint::new(Some(Arc::new(server))).unwrap();
    let mut args = vec!["--udp", "-p", &port];
    args.extend_from_slice(credentials);
    args.push("127.0.0.1");
    let mut client = ToolProcess::spawn("gnutls-cli", &args);
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
    let mut echoed = false;
    if events.contains(&Event::HandshakeComplete)
        && client.wait_for("Simple Client Mode", Duration::from_secs(5))
    {
        client.write_line("hello");
        let until = Instant::now() + Duration::from_secs(5);
        while !echoed && Instant::now() < until {
            pump(
                &sock,
                &mut ep,
                Instant::now() + Duration::from_millis(100),
                |ep, addr, e| {
                    if let Event::ApplicationData(d) = &e {
                        let mut reply = b"echo:".to_vec();
                        reply.extend_from_slice(d);
                        ep.send_application_data(&addr, &reply).unwrap();
                    }
                    events.push(e);
                    false
                },
            );
            echoed = client.wait_for("echo:hello", Duration::from_millis(10));
        }
    } else {
        client.wait_for("alert", Duration::from_secs(2));
    }
    (echoed, events, client.output())
}

#[test]
fn gnutls_cli_every_ecdhe_suite() {
    if !require_program("gnutls_cli_every_ecdhe_suite", "gnutls-cli", "--version") {
        return;
    }
    for suite in CipherSuite::ECDHE_ECDSA {
        let mut server = ecdhe_server();
        server.cipher_suites = vec![suite];
        let (echoed, events, out) = gnutls_cli_against_us(server, Some(priority(suite)));
        assert!(echoed, "{suite}: events {events:?}\n{out}");
        assert!(out.contains(description(suite)), "{suite}\n{out}");
    }
}

/// gnutls-cli's default priority string (no CCM-8 in it) against our default ECDHE server.
#[test]
fn gnutls_cli_default_priority() {
    if !require_program("gnutls_cli_default_priority", "gnutls-cli", "--version") {
        return;
    }
    let (echoed, events, out) = gnutls_cli_against_us(ecdhe_server(), None);
    assert!(echoed, "events {events:?}\n{out}");
    assert!(
        out.contains("(AES-128-CCM)"),
        "our first choice among what GnuTLS offers\n{out}"
    );
}

/// Our client offering one suite against gnutls-serv (echo mode, client certificate
/// required) restricted to it.
#[test]
fn our_client_against_gnutls_serv_every_ecdhe_suite() {
    if !require_program(
        "our_client_against_gnutls_serv_every_ecdhe_suite",
        "gnutls-serv",
        "--version",
    ) {
        return;
    }
    let (ca, cert, key) = (
        data_path("ca.pem"),
        data_path("server.pem"),
        data_path("server.key"),
    );
    for suite in CipherSuite::ECDHE_ECDSA {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let args = [
            "--udp",
            "--echo",
            "-p",
            &port,
            "--x509certfile",
            &cert,
            "--x509keyfile",
            &key,
            "--x509cafile",
            &ca,
            "--require-client-cert",
            "--priority",
            priority(suite),
        ];
        let mut server = ToolProcess::spawn("gnutls-serv", &args);
        assert!(
            server.wait_for("listening", Duration::from_secs(5)),
            "{}",
            server.output()
        );
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let remote: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut ep = Endpoint::new(None).unwrap();
        let mut client = ecdhe_client("client.pem", "client.key");
        client.cipher_suites = vec![suite];
        client.transport.retransmit.initial = Duration::from_millis(500);
        ep.connect(Instant::now(), remote, Arc::new(client))
            .unwrap();
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
            "{suite}: {events:?}\n{}",
            server.output()
        );
        assert_eq!(ep.connection(&remote).unwrap().cipher_suite(), Some(suite));
        ep.send_application_data(&remote, b"ping\n").unwrap();
        pump(
            &sock,
            &mut ep,
            Instant::now() + Duration::from_secs(5),
            |_, _, e| {
                let stop = matches!(&e, Event::ApplicationData(_) | Event::Closed(_));
                events.push(e);
                stop
            },
        );
        assert!(
            events.contains(&Event::ApplicationData(b"ping\n".to_vec())),
            "{suite}: {events:?}\n{}",
            server.output()
        );
    }
}

/// RFC 7250 both ways with gnutls-cli: it presents its raw key and takes ours (it cannot
/// pin a raw server key, hence --insecure); we pin its key by its SPKI's SHA-256.
#[test]
fn gnutls_cli_raw_public_keys() {
    if !require_program("gnutls_cli_raw_public_keys", "gnutls-cli", "--version") {
        return;
    }
    use dtls::cert::{CertificateType, CertifiedKey, RawKeyTrust, spki_sha256};
    use dtls::crypto::ecc::SigningKey;
    let client = CertifiedKey::raw_public_key(SigningKey::from_pem(&data("client.key")).unwrap());
    let dir = std::env::temp_dir().join(format!("dtls-rpk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spki_pem = dir.join("client.pub.pem");
    let b64 = base64_lines(&client.spki());
    std::fs::write(
        &spki_pem,
        format!("-----BEGIN PUBLIC KEY-----\n{b64}-----END PUBLIC KEY-----\n"),
    )
    .unwrap();
    let server = |pins: Vec<[u8; 32]>| {
        let mut s = ServerConfig::ecdhe(
            Arc::new(CertifiedKey::raw_public_key(
                SigningKey::from_pem(&data("server.key")).unwrap(),
            )),
            None,
        );
        s.certificate_types = vec![CertificateType::RawPublicKey];
        s.client_raw_public_keys = Some(RawKeyTrust::Pinned(pins));
        s
    };
    let key = data_path("client.key");
    let spki = spki_pem.to_str().unwrap();
    let args = [
        "--rawpkkeyfile",
        &key,
        "--rawpkfile",
        spki,
        "--insecure",
        "--priority",
        "NORMAL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK:-CTYPE-CLI-X509:-CTYPE-SRV-X509",
    ];
    let (echoed, events, out) = gnutls_cli_with(server(vec![spki_sha256(&client.spki())]), &args);
    assert!(echoed, "events {events:?}\n{out}");
    // A key we did not pin is refused.
    let (echoed, events, out) = gnutls_cli_with(server(vec![[0; 32]]), &args);
    assert!(
        !echoed && !events.contains(&Event::HandshakeComplete),
        "events {events:?}\n{out}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Standard base64 in 64-column lines, for a PEM body.
fn base64_lines(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s.as_bytes()
        .chunks(64)
        .map(|l| format!("{}\n", std::str::from_utf8(l).unwrap()))
        .collect()
}
