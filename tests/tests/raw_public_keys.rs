//! Raw public keys (RFC 7250) end to end: an unmodified `gnutls-cli` that presents only its
//! raw key (the provisioned client.key / client.pub.pem) and accepts only the mote's raw key
//! completes the delegated handshake (the IoTSSP presents the mote's raw key and its policy
//! names the client's key by `rpk-sha256:`) and the DCert handshake (the mote itself), and
//! gets its line echoed; a raw key the policy does not name is refused, with a log line
//! that says so.

use integration_tests::delegation_bed::*;
use std::time::Duration;

const HANDSHAKE: Duration = Duration::from_secs(60);
const ECHO: Duration = Duration::from_secs(20);

fn start(test: &str) -> Option<DelegationBed> {
    if !test_support::require_program(test, "gnutls-cli", "--version") {
        return None;
    }
    DelegationBed::start(test, BedOptions::new(Mode::Attached))
}

#[test]
fn gnutls_cli_with_raw_public_keys_reaches_delegated_and_dcert_motes() {
    let Some(mut bed) = start("gnutls_cli_with_raw_public_keys_reaches_delegated_and_dcert_motes")
    else {
        return;
    };
    let (key, public) = (bed.file("client.key"), bed.file("client.pub.pem"));
    for (mote, what) in [(DELEGATED, "delegated"), (DCERT, "dcert")] {
        let mut g = bed.gnutls_cli_rpk(mote, &key, &public);
        let ok = g.wait_for("- Handshake was completed", HANDSHAKE);
        assert!(
            ok,
            "{what}: raw-key handshake:\n{}\n{}",
            g.output(),
            bed.logs()
        );
        let line = format!("ECHO rpk-{what}");
        g.send_line(&line);
        // gnutls-cli does not print what it sends: the line in its output came back.
        assert!(
            g.wait_for(&line, ECHO),
            "{what}: no echo:\n{}\n{}",
            g.output(),
            bed.logs()
        );
        g.kill();
    }
    let s = bed.mote_stats_until(DELEGATED, |s| {
        stat(s, "sessions_transferred") >= 1 && stat(s, "app_data_in") >= 1
    });
    assert_eq!(
        stat(&s, "ecc_operations"),
        0,
        "the delegated mote did ECC: {s}"
    );
    assert!(bed.iotssp_counter("transfers_completed") >= 1);
    assert_eq!(bed.iotssp_counter("keys_held"), 0);
    let d = bed.mote_stats_until(DCERT, |s| stat(s, "app_data_in") >= 1);
    assert_eq!(stat(&d, "dtls_handshakes_ecdhe"), 1, "{d}");
    // A raw key needs no chain validation at the mote.
    assert_eq!(stat(&d, "certificates_seen"), 0, "{d}");
}

#[test]
fn a_raw_key_the_policy_does_not_name_is_refused() {
    let Some(mut bed) = start("a_raw_key_the_policy_does_not_name_is_refused") else {
        return;
    };
    let (key, public, _) = raw_key_pair(bed.dir.path(), "stranger");
    let mut g = bed.gnutls_cli_rpk(DELEGATED, &key, &public);
    g.send_line("ECHO must-not-come-back");
    let status = g.wait_exit(HANDSHAKE);
    let out = g.output();
    assert!(
        status.is_some_and(|s| !s.success()),
        "gnutls-cli was not refused:\n{out}\n{}",
        bed.logs()
    );
    assert!(
        !out.contains("ECHO must-not-come-back"),
        "the stranger had a session:\n{out}"
    );
    let logs = bed.logs();
    assert!(
        logs.contains("no rule names this raw public key"),
        "no log line says why:\n{logs}"
    );
    let s = bed.mote_stats_until(DELEGATED, |_| true);
    assert_eq!(stat(&s, "sessions_transferred"), 0, "{s}");
    assert_eq!(bed.iotssp_counter("keys_held"), 0);
}

/// A DCert mote takes only the raw keys it pins (`client_rpk_sha256`): another one gets no
/// session and no echo, and the mote counts a failed handshake.
#[test]
fn a_dcert_mote_refuses_a_raw_key_it_does_not_pin() {
    let Some(bed) = start("a_dcert_mote_refuses_a_raw_key_it_does_not_pin") else {
        return;
    };
    let (key, public, _) = raw_key_pair(bed.dir.path(), "stranger");
    let mut g = bed.gnutls_cli_rpk(DCERT, &key, &public);
    g.send_line("ECHO must-not-come-back");
    let status = g.wait_exit(HANDSHAKE);
    let out = g.output();
    assert!(
        status.is_some_and(|s| !s.success()),
        "gnutls-cli was not refused:\n{out}"
    );
    assert!(
        !out.contains("ECHO must-not-come-back"),
        "the stranger had a session:\n{out}"
    );
    let d = bed.mote_stats_until(DCERT, |s| stat(s, "dtls_handshakes_failed") >= 1);
    assert!(stat(&d, "dtls_handshakes_failed") >= 1, "{d}");
    assert_eq!(stat(&d, "app_data_in"), 0, "{d}");
}
