//! Outbound delegation end to end with real parts only: motesim's delegated mote 1 is
//! configured to report to a CoAP-over-DTLS server in the "internet" namespace
//! (`outbound = "coaps://[server]:5684/path"`); it asks its IoTSSP (attached in lowpan-br,
//! or the `iotssp` daemon on its own host) over the standing association, the IoTSSP runs the client handshake in the mote's name
//! (mutual authentication: the mote's certificate), checks the server's chain and name
//! against its policy, transfers the session, and the mote's GETs go end to end.
//! The servers are unmodified `openssl s_server -dtls1_2` and libcoap's `coap-server`
//! (Debian libcoap3-bin) in PKI mode, verifying the mote's certificate against the CA, and
//! `gnutls-serv` with raw public keys only (RFC 7250).

use integration_tests::delegation_bed::*;
use integration_tests::testbed::INET_ADDR;
use std::path::Path;
use std::time::Duration;

const SERVER_NAME: &str = "server.example";

/// A bed whose attached IoTSSP lets mote 1 reach `[INET_ADDR]:5684` as `server_name`, and
/// whose delegated mote reports there with a GET of `path` every two seconds.
fn bed(test: &str, server_name: &str, path: &str) -> Option<DelegationBed> {
    bed_in(
        test,
        Mode::Attached,
        &format!("name = \"{server_name}\""),
        path,
    )
}

/// The same with the IoTSSP in `mode`, the server named by `server` (the lines of its
/// `[[motes.outbound]]` entry that say how it authenticates).
fn bed_in(test: &str, mode: Mode, server: &str, path: &str) -> Option<DelegationBed> {
    let mut opts = BedOptions::new(mode);
    opts.iotssp_extra =
        format!("[[motes.outbound]]\naddress = \"{INET_ADDR}\"\nport = 5684\n{server}\n");
    opts.motesim_defaults =
        format!("outbound = \"coaps://[{INET_ADDR}]:5684{path}\"\noutbound_interval_secs = 2\n");
    DelegationBed::start(test, opts)
}

fn assert_mote_did_no_ecc(bed: &DelegationBed) -> serde_json::Value {
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "coap_responses_in") >= 1);
    assert_eq!(
        stat(&s, "ecc_operations"),
        0,
        "the mote did certificate ECC: {s}"
    );
    assert_eq!(stat(&s, "certificates_seen"), 0, "{s}");
    assert!(stat(&s, "outbound_connects") >= 1, "{s}");
    s
}

/// `openssl s_server -dtls1_2` on `[INET_ADDR]:5684` with a certificate for SERVER_NAME
/// from the provisioned CA, and `extra` arguments.
fn s_server(bed: &DelegationBed, extra: &[String]) -> SClient {
    let (cert, key) = issue_server_cert(&bed.deploy, SERVER_NAME);
    let mut args: Vec<String> = ["-dtls1_2", "-6", "-accept", "5684"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend([
        "-cert".into(),
        cert.display().to_string(),
        "-key".into(),
        key.display().to_string(),
    ]);
    args.extend_from_slice(extra);
    SClient::spawn_program(&bed.inet, bed.dir.path(), "openssl", &["s_server"], &args)
}

/// An unmodified `openssl s_server` that requires the mote's certificate and verifies it
/// against the CA prints the mote's GET, received on the session the IoTSSP opened and
/// transferred; the CoAP response typed into it reaches the mote.
///
/// s_server writes what it receives to its stdout as it comes, raw (the GET's binary header
/// included, hence `SClient::output`'s lossy reading); its stdin stays open, since on end
/// of input a non-quiet s_server ends the session.
#[test]
fn outbound_coap_get_to_openssl_s_server() {
    let Some(mut bed) = bed(
        "outbound_coap_get_to_openssl_s_server",
        SERVER_NAME,
        "/hello",
    ) else {
        return;
    };
    let ca = bed.deploy.join("ca.pem");
    let verify: Vec<String> = vec![
        "-Verify".into(),
        "1".into(),
        "-CAfile".into(),
        ca.display().to_string(),
        "-verify_return_error".into(),
    ];
    let mut server = s_server(&bed, &verify);
    // The Uri-Path option of the mote's GET.
    let got = server.wait_for("hello", Duration::from_secs(30));
    assert!(
        got,
        "s_server printed no GET:\n{}\n{}",
        server.output(),
        bed.logs()
    );
    let out = server.output();
    assert!(
        out.contains("CN = mote-1") && out.contains("verify return:1"),
        "the mote's certificate was not verified:\n{out}"
    );
    // ACK 2.05 (first byte 0x60: no s_server command letter), message ID 0x1234, payload.
    let mut response = vec![0x60, 0x45, 0x12, 0x34, 0xff];
    response.extend_from_slice(b"from s_server");
    server.send(&response);
    let s = bed.mote_stats_until(DELEGATED, |s| {
        s["outbound_last_response"] == "2.05 from s_server"
    });
    assert_eq!(
        s["outbound_last_response"],
        "2.05 from s_server",
        "{s}\n{}\n{}",
        server.output(),
        bed.logs()
    );
    assert!(stat(&s, "coap_requests_out") >= 1, "{s}");
    assert_mote_did_no_ecc(&bed);
    assert_eq!(
        bed.iotssp_counter("outbound_completed"),
        1,
        "{}",
        bed.logs()
    );
}

/// libcoap's `coap-server-openssl` in PKI mode on `[INET_ADDR]:5684`, verifying clients
/// against the CA.
fn libcoap_server(bed: &DelegationBed) -> SClient {
    let (cert, key) = issue_server_cert(&bed.deploy, SERVER_NAME);
    let ca = bed.deploy.join("ca.pem");
    let args: Vec<String> = vec![
        "-A".into(),
        INET_ADDR.into(),
        "-p".into(),
        "5683".into(),
        "-c".into(),
        cert.display().to_string(),
        "-j".into(),
        key.display().to_string(),
        "-R".into(),
        ca.display().to_string(),
    ];
    SClient::spawn_program(&bed.inet, bed.dir.path(), "coap-server-openssl", &[], &args)
}

/// Waits for libcoap's 2.05 answer with its index at the mote; returns the mote's stats.
fn assert_libcoap_answered(bed: &mut DelegationBed, server: &SClient) -> serde_json::Value {
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "coap_responses_in") >= 1);
    let response = s["outbound_last_response"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        response.contains("2.05") && response.contains("libcoap"),
        "no 2.05 answer with libcoap's index: {s}\n{}\n{}",
        server.output(),
        bed.logs()
    );
    assert!(stat(&s, "coap_requests_out") >= 1, "{s}");
    assert_mote_did_no_ecc(bed);
    s
}

#[test]
fn outbound_coap_get_to_libcoap_coap_server() {
    let Some(mut bed) = bed("outbound_coap_get_to_libcoap_coap_server", SERVER_NAME, "/") else {
        return;
    };
    let server = libcoap_server(&bed);
    assert_libcoap_answered(&mut bed, &server);
    assert_eq!(
        bed.iotssp_counter("outbound_completed"),
        1,
        "{}",
        bed.logs()
    );
}

/// The same with the `iotssp` daemon on its own host: the Connect and the Transfer travel
/// between it and the mote inside the redirect channel, its client flights leave as Emit
/// through lowpan-br, and the server's answers come back to it as Divert.
#[test]
fn outbound_coap_get_to_libcoap_coap_server_through_a_remote_iotssp() {
    let test = "outbound_coap_get_to_libcoap_coap_server_through_a_remote_iotssp";
    let name = format!("name = \"{SERVER_NAME}\"");
    let Some(mut bed) = bed_in(test, Mode::Remote, &name, "/") else {
        return;
    };
    let server = libcoap_server(&bed);
    assert_libcoap_answered(&mut bed, &server);
    let line = bed.stop_iotssp();
    assert_eq!(field(&line, "outbound_completed"), Some(1), "{line}");
    assert_eq!(field(&line, "keys_held"), Some(0), "{line}");
    let br = bed.stop_border_router();
    assert!(
        field(&br, "redirection.transferred").is_some_and(|n| n >= 1),
        "{br}"
    );
}

/// `gnutls-serv --udp --echo` on port 5684 that presents the raw key `key`/`public` and
/// takes raw keys only (X.509 out of its priority both ways), requiring the client's.
fn gnutls_serv_with_raw_keys(bed: &DelegationBed, key: &Path, public: &Path) -> SClient {
    let args: Vec<String> = vec![
        "--udp".into(),
        "--echo".into(),
        "-p".into(),
        "5684".into(),
        "--rawpkkeyfile".into(),
        key.display().to_string(),
        "--rawpkfile".into(),
        public.display().to_string(),
        "--priority".into(),
        GNUTLS_RAW_KEYS_ONLY.into(),
        "--require-client-cert".into(),
    ];
    SClient::spawn_program(&bed.inet, bed.dir.path(), "gnutls-serv", &[], &args)
}

/// A bed whose policy names the outbound server by a raw public key (`raw_public_key =
/// "rpk-sha256:..."`, no certificate name): the key of the gnutls-serv it starts, or
/// another one. The folder of the keys lives as long as the bed.
fn raw_key_bed(
    test: &str,
    policy_names_the_servers_key: bool,
) -> Option<(DelegationBed, SClient, tempfile::TempDir)> {
    if !test_support::require_program(test, "gnutls-serv", "--version") {
        return None;
    }
    let keys = integration_tests::scratch();
    let (key, public, selector) = raw_key_pair(keys.path(), "server");
    let named = if policy_names_the_servers_key {
        selector
    } else {
        raw_key_pair(keys.path(), "other").2
    };
    let policy = format!("raw_public_key = \"{named}\"");
    let bed = bed_in(test, Mode::Attached, &policy, "/rpk")?;
    let server = gnutls_serv_with_raw_keys(&bed, &key, &public);
    Some((bed, server, keys))
}

/// Raw public keys (RFC 7250) on an outbound session, with an unmodified gnutls-serv that
/// accepts nothing but raw keys and requires one from the client: the IoTSSP presents the
/// mote's raw key and accepts the server's because the mote's policy names it. gnutls-serv
/// echoes the mote's GET, and the echo reaches the mote.
#[test]
fn outbound_with_raw_public_keys_to_gnutls_serv() {
    let Some((mut bed, server, _keys)) =
        raw_key_bed("outbound_with_raw_public_keys_to_gnutls_serv", true)
    else {
        return;
    };
    let s = assert_mote_did_no_ecc(&bed);
    // The echo of the mote's own GET (code 0.01).
    let response = s["outbound_last_response"].as_str().unwrap_or_default();
    assert!(
        response.starts_with("0.01"),
        "no echo of the GET: {s}\n{}\n{}",
        server.output(),
        bed.logs()
    );
    assert_eq!(
        bed.iotssp_counter("outbound_completed"),
        1,
        "{}",
        bed.logs()
    );
}

/// A server presenting a raw key other than the one the mote's policy names is refused:
/// counted with its reason, and the mote gets a ConnectFailed and sends nothing.
#[test]
fn outbound_to_a_raw_key_the_policy_does_not_name_is_refused() {
    let test = "outbound_to_a_raw_key_the_policy_does_not_name_is_refused";
    let Some((mut bed, _server, _keys)) = raw_key_bed(test, false) else {
        return;
    };
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "outbound_connects_failed") >= 1);
    assert_eq!(
        s["outbound_last_failure"],
        "HandshakeFailed",
        "{s}\n{}",
        bed.logs()
    );
    assert_eq!(stat(&s, "coap_requests_out"), 0, "{s}");
    assert!(
        bed.iotssp_counter("outbound_failed.cert_unknown_raw_key") >= 1,
        "{}",
        bed.logs()
    );
}

/// A server whose certificate is for another name: the IoTSSP refuses the session, says
/// why in its counters and its log, and the mote never gets one.
#[test]
fn outbound_to_a_server_with_the_wrong_name_is_refused() {
    let Some(mut bed) = bed(
        "outbound_to_a_server_with_the_wrong_name_is_refused",
        "other.example",
        "/hello",
    ) else {
        return;
    };
    let _server = s_server(&bed, &[]);
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "outbound_connects_failed") >= 1);
    assert!(
        stat(&s, "outbound_connects_failed") >= 1,
        "{s}\n{}",
        bed.logs()
    );
    assert_eq!(stat(&s, "coap_requests_out"), 0, "{s}");
    // Refused by a ConnectFailed, not left to time out.
    assert_eq!(s["outbound_last_failure"], "HandshakeFailed", "{s}");
    assert!(
        bed.iotssp_counter("outbound_failed.cert_name_mismatch") >= 1,
        "{}",
        bed.logs()
    );
    let logs = bed.logs();
    assert!(logs.contains("outbound handshake failed"), "{logs}");
}
