//! Keyless delegation end to end (docs/mote-association.md, SignRequest): `lowpan-provision
//! --keyless` gives the IoTSSP the delegated mote's certificate only and motesim the mote's
//! key; the real `openssl s_client -dtls1_2` completes a delegated handshake whose
//! ServerKeyExchange the mote itself signed over its association, and gets its echo back.
//! The IoTSSP's configuration and counters show that it holds no private key of the mote,
//! and the mote's counters show exactly one ECC signature.
//!
//! Keyless outbound delegation: the same mote reports to an unmodified `openssl s_server
//! -dtls1_2` that requires and verifies its certificate; the IoTSSP runs the client
//! handshake in the mote's name and asks the mote for the one signature it needs, the
//! CertificateVerify's; and to libcoap's `coap-server` through the `iotssp` daemon on its own
//! host.

use integration_tests::delegation_bed::*;
use integration_tests::testbed::INET_ADDR;
use std::time::Duration;

const HANDSHAKE: Duration = Duration::from_secs(60);
const ECHO: Duration = Duration::from_secs(20);

#[test]
fn a_keyless_mote_signs_its_delegated_handshake_and_echoes() {
    let test = "a_keyless_mote_signs_its_delegated_handshake_and_echoes";
    let mut opts = BedOptions::new(Mode::Attached);
    opts.keyless = true;
    let Some(mut bed) = DelegationBed::start(test, opts) else {
        return;
    };
    // The IoTSSP's configuration names no private key of the delegated mote.
    let iotssp_toml = std::fs::read_to_string(bed.file("iotssp.toml")).expect("iotssp.toml");
    let mote = iotssp_toml
        .split("[[motes]]")
        .nth(1)
        .expect("a [[motes]] table");
    assert!(
        mote.contains("key = \"mote\"") && !mote.contains("private_key"),
        "{iotssp_toml}"
    );
    let motesim_toml = std::fs::read_to_string(bed.file("motesim.toml")).expect("motesim.toml");
    assert!(
        motesim_toml.contains(".key\""),
        "motesim has the mote's key:\n{motesim_toml}"
    );

    let mut c = bed.s_client(DELEGATED);
    let ok = c.wait_for(ECDHE_OK, HANDSHAKE);
    assert!(
        ok,
        "keyless delegated handshake did not complete:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    assert!(
        c.output().contains("Verify return code: 0 (ok)"),
        "the mote's certificate did not verify:\n{}",
        c.output()
    );
    c.send_line("ECHO keyless-1");
    let echoed = c.wait_for("ECHO keyless-1", ECHO);
    assert!(
        echoed,
        "no echo from the keyless mote:\n{}\n{}",
        c.output(),
        bed.logs()
    );

    let m = bed.metrics();
    // Present (not merely absent and read as 0), as a counter or a gauge.
    let gauge = |k: &str| {
        m.get(&format!(
            "lowpan_br_iotssp_total{{iotssp=\"{IOTSSP_NAME}\",counter=\"{k}\"}}"
        ))
        .or_else(|| m.get(&format!("lowpan_br_iotssp_{k}{{iotssp=\"{IOTSSP_NAME}\"}}")))
        .copied()
    };
    assert_eq!(
        gauge("private_keys_held"),
        Some(0),
        "the IoTSSP holds a private key: {m:?}"
    );
    assert_eq!(gauge("keyless_motes"), Some(1), "{m:?}");
    assert_eq!(bed.iotssp_counter("keyless_signatures"), 1);
    assert_eq!(bed.iotssp_counter("keys_held"), 0);
    let s = bed.mote_stats_until(DELEGATED, |s| {
        stat(s, "app_data_in") >= 1 && stat(s, "ecc_sign") >= 1
    });
    assert_eq!(stat(&s, "ecc_sign"), 1, "the mote signed once: {s}");
    assert_eq!(
        stat(&s, "ecc_operations"),
        1,
        "one ECC operation, the signature: {s}"
    );
    assert_eq!(stat(&s, "certificates_seen"), 0, "{s}");
    assert!(stat(&s, "sessions_transferred") >= 1, "{s}");
    c.kill();
}

/// The IoTSSP's gauge or counter `k` as lowpan-br's metrics show it (present, not merely
/// absent and read as 0).
fn iotssp_metric(bed: &DelegationBed, k: &str) -> Option<u64> {
    let m = bed.metrics();
    m.get(&format!(
        "lowpan_br_iotssp_total{{iotssp=\"{IOTSSP_NAME}\",counter=\"{k}\"}}"
    ))
    .or_else(|| m.get(&format!("lowpan_br_iotssp_{k}{{iotssp=\"{IOTSSP_NAME}\"}}")))
    .copied()
}

/// Keyless outbound: the mote's GET reaches an `openssl s_server` that verified the mote's
/// certificate against the CA, over a session whose CertificateVerify the mote signed
/// itself (one ECC operation at the mote, none other); the IoTSSP holds no private key of
/// it. The CoAP response typed into s_server reaches the mote. About 10 s.
#[test]
fn a_keyless_mote_signs_its_outbound_certificate_verify_for_openssl_s_server() {
    let test = "a_keyless_mote_signs_its_outbound_certificate_verify_for_openssl_s_server";
    const SERVER_NAME: &str = "server.example";
    let mut opts = BedOptions::new(Mode::Attached);
    opts.keyless = true;
    opts.iotssp_extra = format!(
        "[[motes.outbound]]\naddress = \"{INET_ADDR}\"\nport = 5684\nname = \"{SERVER_NAME}\"\n"
    );
    opts.motesim_defaults =
        format!("outbound = \"coaps://[{INET_ADDR}]:5684/keyless\"\noutbound_interval_secs = 2\n");
    let Some(mut bed) = DelegationBed::start(test, opts) else {
        return;
    };
    let iotssp_toml = std::fs::read_to_string(bed.file("iotssp.toml")).expect("iotssp.toml");
    let mote = iotssp_toml
        .split("[[motes]]")
        .nth(1)
        .expect("a [[motes]] table");
    assert!(
        mote.contains("key = \"mote\"") && !mote.contains("private_key"),
        "{iotssp_toml}"
    );

    let (cert, key) = issue_server_cert(&bed.deploy, SERVER_NAME);
    let ca = bed.deploy.join("ca.pem");
    let args: Vec<String> = [
        "-dtls1_2",
        "-6",
        "-accept",
        "5684",
        "-Verify",
        "1",
        "-verify_return_error",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(
        [("-cert", &cert), ("-key", &key), ("-CAfile", &ca)]
            .into_iter()
            .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()]),
    )
    .collect();
    let mut server =
        SClient::spawn_program(&bed.inet, bed.dir.path(), "openssl", &["s_server"], &args);
    // The Uri-Path option of the mote's GET.
    let got = server.wait_for("keyless", Duration::from_secs(30));
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
    response.extend_from_slice(b"signed by the mote");
    server.send(&response);
    let s = bed.mote_stats_until(DELEGATED, |s| {
        s["outbound_last_response"] == "2.05 signed by the mote"
    });
    assert_eq!(
        s["outbound_last_response"],
        "2.05 signed by the mote",
        "{s}\n{}",
        bed.logs()
    );
    assert!(stat(&s, "coap_requests_out") >= 1, "{s}");
    assert_eq!(stat(&s, "outbound_connects"), 1, "{s}");
    assert_eq!(
        stat(&s, "ecc_sign"),
        1,
        "the mote signed once, the CertificateVerify: {s}"
    );
    assert_eq!(
        stat(&s, "ecc_operations"),
        1,
        "no ECC at the mote but the signature: {s}"
    );
    assert_eq!(stat(&s, "certificates_seen"), 0, "{s}");
    // s_server verified the CertificateVerify under the mote's certificate, and the mote's
    // one signature is the only one made with that key: it was the CertificateVerify's.

    assert_eq!(
        iotssp_metric(&bed, "private_keys_held"),
        Some(0),
        "the IoTSSP holds a private key"
    );
    assert_eq!(iotssp_metric(&bed, "keyless_motes"), Some(1));
    assert_eq!(
        bed.iotssp_counter("keyless_signatures"),
        1,
        "{}",
        bed.logs()
    );
    assert_eq!(bed.iotssp_counter("keys_held"), 0);
    assert_eq!(
        bed.iotssp_counter("outbound_completed"),
        1,
        "{}",
        bed.logs()
    );
}

/// Keyless outbound through the `iotssp` daemon on its own host, to libcoap's
/// `coap-server-openssl` in PKI mode verifying the mote's certificate against the CA: the
/// SignRequest and SignResponse travel inside the redirect channel like the Connect and the
/// Transfer; the daemon's final counters show one signature and no private key. About 10 s.
#[test]
fn a_keyless_mote_reaches_libcoap_through_a_remote_iotssp() {
    let test = "a_keyless_mote_reaches_libcoap_through_a_remote_iotssp";
    const SERVER_NAME: &str = "server.example";
    let mut opts = BedOptions::new(Mode::Remote);
    opts.keyless = true;
    opts.iotssp_extra = format!(
        "[[motes.outbound]]\naddress = \"{INET_ADDR}\"\nport = 5684\nname = \"{SERVER_NAME}\"\n"
    );
    opts.motesim_defaults =
        format!("outbound = \"coaps://[{INET_ADDR}]:5684/\"\noutbound_interval_secs = 2\n");
    let Some(mut bed) = DelegationBed::start(test, opts) else {
        return;
    };
    let (cert, key) = issue_server_cert(&bed.deploy, SERVER_NAME);
    let ca = bed.deploy.join("ca.pem");
    let args: Vec<String> = ["-A", INET_ADDR, "-p", "5683"]
        .iter()
        .map(|s| s.to_string())
        .chain(
            [("-c", &cert), ("-j", &key), ("-R", &ca)]
                .into_iter()
                .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()]),
        )
        .collect();
    let server =
        SClient::spawn_program(&bed.inet, bed.dir.path(), "coap-server-openssl", &[], &args);
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "coap_responses_in") >= 1);
    let response = s["outbound_last_response"].as_str().unwrap_or_default();
    assert!(
        response.contains("2.05") && response.contains("libcoap"),
        "no 2.05 answer with libcoap's index: {s}\n{}\n{}",
        server.output(),
        bed.logs()
    );
    assert_eq!(stat(&s, "ecc_sign"), 1, "the mote signed once: {s}");
    assert_eq!(stat(&s, "ecc_operations"), 1, "{s}");
    assert_eq!(stat(&s, "certificates_seen"), 0, "{s}");
    let line = bed.stop_iotssp();
    assert_eq!(field(&line, "outbound_completed"), Some(1), "{line}");
    assert_eq!(field(&line, "keyless_signatures"), Some(1), "{line}");
    assert_eq!(field(&line, "private_keys_held"), Some(0), "{line}");
    assert_eq!(field(&line, "keyless_motes"), Some(1), "{line}");
}
