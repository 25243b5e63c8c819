//! Handshake redirection end to end (the demonstration, bad input and faults), with
//! real parts only: `lowpan-provision` writes the PKI and the configurations, the real
//! `lowpan-br` (attached IoTSSP, or a remote `iotssp` in its own namespace), the real
//! `motesim` (mote 1 delegated, 2 DCert, 3 CDPSK) and the real `openssl s_client -dtls1_2`
//! in an "internet" namespace.
//!
//! Every test builds its own namespaces; without root it prints why it skips (and fails
//! under CI=true). Waits are bounded; no assertion depends on timing.

use integration_tests::delegation_bed::*;
use integration_tests::testbed::{INET_ADDR, mote_addr};
use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

const HANDSHAKE: Duration = Duration::from_secs(60);
const ECHO: Duration = Duration::from_secs(20);

/// A delegated handshake from s_client to mote 1 and one echoed line; returns the client,
/// still connected.
fn delegated_session(bed: &mut DelegationBed, line: &str) -> SClient {
    let mut c = bed.s_client(DELEGATED);
    let ok = c.wait_for(ECDHE_OK, HANDSHAKE);
    assert!(
        ok,
        "delegated handshake did not complete:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    let out = c.output();
    assert!(
        out.contains("Protocol  : DTLSv1.2") || out.contains("DTLSv1.2"),
        "not DTLS 1.2:\n{out}"
    );
    // ECDHE-ECDSA-AES128-CCM8 is OpenSSL's name of TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, 0xC0AE.
    assert!(
        out.contains("Verify return code: 0 (ok)"),
        "the mote's certificate did not verify:\n{out}"
    );
    c.send_line(line);
    // s_client prints what it receives; the line it sent is not printed (stdin is a pipe),
    // so the line in its output came back from the mote.
    let echoed = c.wait_for(line, ECHO);
    assert!(
        echoed,
        "no echo of {line:?} from the mote:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c
}

/// s_client ends on its own with an error and an alert, and never had a session: a line
/// typed at the start (sent only once a handshake completes) never comes back. (s_client
/// prints "Cipher is ..." for a failed handshake too, from the ServerHello, so that line
/// proves nothing either way.)
fn expect_clean_failure(c: &mut SClient, what: &str, bed: &mut DelegationBed) {
    c.send_line("ECHO must-not-come-back");
    let status = c.wait_exit(HANDSHAKE);
    let out = c.output();
    assert!(
        status.is_some(),
        "{what}: s_client neither finished nor failed:\n{out}\n{}",
        bed.logs()
    );
    assert!(
        status.is_some_and(|s| !s.success()),
        "{what}: s_client exited successfully:\n{out}"
    );
    assert!(
        out.contains(":error:") && out.contains("alert"),
        "{what}: no alert:\n{out}"
    );
    assert!(
        !out.contains("ECHO must-not-come-back"),
        "{what}: the client had a session:\n{out}"
    );
}

fn start(test: &str, mode: Mode) -> Option<DelegationBed> {
    DelegationBed::start(test, BedOptions::new(mode))
}

fn assert_mote_did_only_the_record_layer(bed: &DelegationBed, transferred_at_least: u64) {
    let s = bed.mote_stats_until(DELEGATED, |s| {
        stat(s, "sessions_transferred") >= transferred_at_least && stat(s, "app_data_in") >= 1
    });
    assert!(
        stat(&s, "sessions_transferred") >= transferred_at_least,
        "{s}"
    );
    assert_eq!(
        stat(&s, "ecc_operations"),
        0,
        "the delegated mote did ECC: {s}"
    );
    assert_eq!(
        stat(&s, "certificates_seen"),
        0,
        "the delegated mote saw a certificate: {s}"
    );
    assert!(
        stat(&s, "app_data_in") >= 1,
        "no application data reached the mote's record layer: {s}"
    );
    assert!(
        stat(&s, "app_data_out") >= 1,
        "the mote answered nothing: {s}"
    );
}

#[test]
fn attached_iotssp_delegated_mote_echoes_through_its_record_layer() {
    let Some(mut bed) = start(
        "attached_iotssp_delegated_mote_echoes_through_its_record_layer",
        Mode::Attached,
    ) else {
        return;
    };
    let mut c = delegated_session(&mut bed, "ECHO attached-1");
    c.send_line("ECHO attached-2");
    assert!(
        c.wait_for("ECHO attached-2", ECHO),
        "second record not echoed:\n{}",
        c.output()
    );
    assert_mote_did_only_the_record_layer(&bed, 1);
    assert_eq!(
        bed.iotssp_counter("keys_held"),
        0,
        "the IoTSSP still holds keys after the transfer"
    );
    assert_eq!(bed.iotssp_counter("app_data_records_received"), 0);
    assert!(bed.iotssp_counter("transfers_completed") >= 1);
    c.kill();

    let line = bed.stop_border_router();
    for must in [
        "iotssp.iotssp-1.app_data_records_received=0",
        "iotssp.iotssp-1.keys_held=0",
        "hrm.app_data_to_ssp=0",
    ] {
        assert!(
            line.split_whitespace().any(|w| w == must),
            "{must} missing in: {line}"
        );
    }
    assert!(
        field(&line, "redirection.transferred").is_some_and(|n| n >= 1),
        "{line}"
    );
}

#[test]
fn remote_iotssp_delegated_mote_echoes_through_its_record_layer() {
    let Some(mut bed) = start(
        "remote_iotssp_delegated_mote_echoes_through_its_record_layer",
        Mode::Remote,
    ) else {
        return;
    };
    let mut c = delegated_session(&mut bed, "ECHO remote-1");
    assert_mote_did_only_the_record_layer(&bed, 1);
    c.kill();
    assert_eq!(bed.iotssp_counter("redirect_auth_failures"), 0);
    assert_eq!(bed.hrm_counter("app_data_to_ssp"), 0);

    let line = bed.stop_iotssp();
    assert_eq!(field(&line, "keys_held"), Some(0), "{line}");
    assert_eq!(field(&line, "app_data_records_received"), Some(0), "{line}");
    assert!(field(&line, "transfers").is_some_and(|n| n >= 1), "{line}");
    let br = bed.stop_border_router();
    assert!(
        br.split_whitespace().any(|w| w == "hrm.app_data_to_ssp=0"),
        "{br}"
    );
    assert!(
        field(&br, "redirection.transferred").is_some_and(|n| n >= 1),
        "{br}"
    );
}

#[test]
fn dcert_and_cdpsk_motes_are_bridged_untouched() {
    // The default ECC profile (cc2538-hw): the DCert mote holds its flights for seconds
    // while s_client retransmits every second.
    let opts = BedOptions::new(Mode::Attached);
    let Some(mut bed) = DelegationBed::start("dcert_and_cdpsk_motes_are_bridged_untouched", opts)
    else {
        return;
    };
    let mut dcert = bed.s_client(DCERT);
    assert!(
        dcert.wait_for(ECDHE_OK, HANDSHAKE),
        "DCert handshake failed:\n{}\n{}",
        dcert.output(),
        bed.logs()
    );
    dcert.send_line("ECHO dcert");
    assert!(
        dcert.wait_for("ECHO dcert", ECHO),
        "DCert echo:\n{}",
        dcert.output()
    );
    dcert.kill();

    let mut psk = bed.s_client_psk(CDPSK);
    assert!(
        psk.wait_for(PSK_OK, HANDSHAKE),
        "CDPSK handshake failed:\n{}\n{}",
        psk.output(),
        bed.logs()
    );
    psk.send_line("ECHO cdpsk");
    assert!(
        psk.wait_for("ECHO cdpsk", ECHO),
        "CDPSK echo:\n{}",
        psk.output()
    );
    psk.kill();

    let d = bed.mote_stats_until(DCERT, |s| stat(s, "app_data_in") >= 1);
    assert!(stat(&d, "dtls_handshakes_ecdhe") >= 1, "{d}");
    assert!(
        stat(&d, "ecc_operations") >= 1,
        "the DCert mote did its own ECC: {d}"
    );
    assert!(stat(&d, "certificates_seen") >= 1, "{d}");
    let p = bed.mote_stats_until(CDPSK, |s| stat(s, "app_data_in") >= 1);
    assert!(stat(&p, "dtls_handshakes_psk") >= 1, "{p}");
    assert_eq!(stat(&p, "ecc_operations"), 0, "{p}");

    // The HRM forwarded them as passthrough motes: nothing diverted, the IoTSSP saw nothing.
    assert!(bed.hrm_counter("forward_passthrough") >= 2);
    assert_eq!(bed.hrm_counter("divert"), 0);
    assert_eq!(bed.hrm_counter("client_hellos"), 0);
    assert_eq!(bed.iotssp_counter("diverts"), 0);
    assert_eq!(bed.iotssp_counter("handshakes_started"), 0);
}

#[test]
fn spoofed_client_hellos_without_cookie_reach_neither_mote_nor_iotssp_state() {
    let Some(bed) = start(
        "spoofed_client_hellos_without_cookie_reach_neither_mote_nor_iotssp_state",
        Mode::Attached,
    ) else {
        return;
    };
    let hello = capture_client_hello(&bed.inet, bed.dir.path());
    let before = bed.mote_stats_after(DELEGATED, SystemTime::now());
    let answers = spoof_from_inet(
        &bed.inet,
        mote_dtls(DELEGATED),
        hello,
        20,
        Duration::from_secs(3),
    );
    // Each got a stateless HelloVerifyRequest (handshake type 3), so they were processed.
    assert!(!answers.is_empty(), "no HelloVerifyRequest came back");
    for a in &answers {
        assert!(
            a.len() > 13 && a[0] == 22 && a[13] == 3,
            "not a HelloVerifyRequest: {a:02x?}"
        );
    }
    let after = bed.mote_stats_after(DELEGATED, SystemTime::now());
    for k in [
        "frames_in",
        "packets_in",
        "dtls_records_in",
        "stt_accepted",
        "dtls_handshakes",
    ] {
        assert_eq!(
            stat(&before, k),
            stat(&after, k),
            "{k} changed at the mote: {before} -> {after}"
        );
    }
    assert!(bed.iotssp_counter("cookies_sent") >= answers.len() as u64);
    assert_eq!(
        bed.iotssp_counter("handshakes_started"),
        0,
        "a cookieless ClientHello started a handshake"
    );
    assert_eq!(bed.iotssp_counter("mote_handshakes_started"), 0);
    assert_eq!(
        bed.iotssp_counter("delegations"),
        0,
        "the IoTSSP keeps state for spoofed hellos"
    );
    assert_eq!(bed.iotssp_counter("keys_held"), 0);
}

#[test]
fn unauthorized_and_expired_client_certificates_get_an_alert_and_no_session() {
    let Some(mut bed) = start(
        "unauthorized_and_expired_client_certificates_get_an_alert_and_no_session",
        Mode::Attached,
    ) else {
        return;
    };
    let (other, other_key) = issue_client_cert(&bed.deploy, "intruder.example", false);
    let (old, old_key) = issue_client_cert(&bed.deploy, "client.example", true);
    for (what, cert, key) in [
        ("unauthorized", &other, &other_key),
        ("expired", &old, &old_key),
    ] {
        let mut c = bed.s_client_cert(DELEGATED, cert, key);
        expect_clean_failure(&mut c, what, &mut bed);
    }
    let s = bed.mote_stats_after(DELEGATED, SystemTime::now());
    assert_eq!(stat(&s, "sessions_transferred"), 0, "{s}");
    assert_eq!(stat(&s, "stt_accepted"), 0, "{s}");
    let (failed, reasons) = bed.iotssp_failures();
    assert!(failed >= 2, "IoTSSP failures: {reasons:?}");
    assert_eq!(bed.iotssp_counter("transfers_completed"), 0);
    assert!(bed.iotssp_counter("alerts_sent") >= 2);
    // The authorized client still gets its session.
    let _c = delegated_session(&mut bed, "ECHO after-refusals");
}

#[test]
fn forged_and_replayed_redirect_messages_are_refused_and_create_no_state() {
    let Some(mut bed) = start(
        "forged_and_replayed_redirect_messages_are_refused_and_create_no_state",
        Mode::Remote,
    ) else {
        return;
    };
    let key_hex = redirect_key(&bed);
    let br: SocketAddr = BR_REDIRECT.parse().expect("address");
    let inet: Ipv6Addr = INET_ADDR.parse().expect("address");
    let flow = redirect::FlowTag {
        peer_addr: inet,
        peer_port: 40000,
        mote_addr: mote_addr(DELEGATED),
        mote_port: 5684,
    };
    let wall = SystemTime::now();
    let now = std::time::Instant::now();
    let seal = |key: redirect::RedirectKey, msg: &redirect::RedirectMessage<'_>| {
        let mut ch = redirect::RedirectChannel::new(
            redirect::ChannelConfig::default(),
            redirect::Role::Iotssp,
            redirect::KeyRing::new(key),
            0x5eed,
            now,
            wall,
        );
        ch.seal(now, wall, msg).expect("seal")
    };
    let good = || redirect::RedirectKey::from_hex(1, &key_hex).expect("key");
    let wrong = redirect::RedirectKey::new(1, &[0x55; 32]).expect("key");
    // Forged: an Emit and a FlowTransferred under a wrong key, and a bit-flipped authentic one.
    let forged_emit = seal(
        wrong,
        &redirect::RedirectMessage::Emit {
            flow,
            datagram: b"forged",
        },
    );
    let mut flipped = seal(
        good(),
        &redirect::RedirectMessage::FlowTransferred {
            flow,
            final_flight: b"",
        },
    );
    flipped[40] ^= 1;
    // Replayed: an authentic Hello, sent twice.
    let hello = seal(good(), &redirect::RedirectMessage::Hello);
    let auth_before = bed.iotssp_counter("redirect_auth_failures");
    let replays_before = bed.iotssp_counter("redirect_replays");
    let opened_before = bed.iotssp_counter("channel_opened");
    let ssp = bed.ssp.as_ref().expect("ssp namespace");
    ssp.enter(move || {
        let sock = std::net::UdpSocket::bind(SocketAddr::new(ssp_addr().into(), 0)).expect("bind");
        for m in [&forged_emit, &flipped, &hello, &hello] {
            sock.send_to(m, br).expect("send");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let counted = integration_tests::eventually(Duration::from_secs(5), || {
        (bed.iotssp_counter("redirect_auth_failures") >= auth_before + 2
            && bed.iotssp_counter("redirect_replays") > replays_before)
            .then_some(())
    });
    assert!(
        counted.is_some(),
        "auth failures {} -> {}, replays {} -> {}",
        auth_before,
        bed.iotssp_counter("redirect_auth_failures"),
        replays_before,
        bed.iotssp_counter("redirect_replays")
    );
    assert_eq!(
        bed.iotssp_counter("redirect_auth_failures"),
        auth_before + 2
    );
    assert_eq!(bed.iotssp_counter("redirect_replays"), replays_before + 1);
    assert!(
        bed.iotssp_counter("channel_opened") > opened_before,
        "the authentic Hello was not accepted once"
    );
    assert_eq!(
        bed.hrm_counter("transfers"),
        0,
        "a forged FlowTransferred changed the flow table"
    );
    assert_eq!(bed.hrm_counter("emits"), 0, "a forged Emit was sent");
    assert_eq!(bed.metrics().get("lowpan_br_hrm_flows").copied(), Some(0));
    // Traffic still flows.
    let _c = delegated_session(&mut bed, "ECHO after-forgeries");
}

fn redirect_key(bed: &DelegationBed) -> String {
    let text = std::fs::read_to_string(bed.file("lowpan-br.toml")).expect("lowpan-br.toml");
    text.lines()
        .find_map(|l| {
            l.strip_prefix("key = \"")?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .expect("redirect key in lowpan-br.toml")
}

#[test]
fn a_mote_that_does_not_answer_gives_the_client_a_clean_failure() {
    let test = "a_mote_that_does_not_answer_gives_the_client_a_clean_failure";
    let mut opts = BedOptions::new(Mode::Attached);
    // Give up on the mote after 3 s instead of 15 s.
    opts.iotssp_extra = "[timers]\nmote_timeout_ms = 3000\n".into();
    let Some(mut bed) = DelegationBed::start(test, opts) else {
        return;
    };
    // The radio goes silent: every frame to the mote is lost.
    bed.motesim.as_mut().expect("motesim").kill();
    let mut c = bed.s_client(DELEGATED);
    expect_clean_failure(&mut c, "silent mote", &mut bed);
    let (failed, reasons) = bed.iotssp_failures();
    assert!(
        failed >= 1,
        "the IoTSSP did not count the failure: {reasons:?}"
    );
    assert_eq!(bed.iotssp_counter("transfers_completed"), 0);
    assert_eq!(bed.iotssp_counter("keys_held"), 0);
    assert!(
        bed.hrm_counter("abandons") >= 1,
        "no FlowAbandoned reached the HRM"
    );
}

#[test]
fn iotssp_stopped_mid_handshake_fails_cleanly_and_keeps_transferred_sessions() {
    let Some(mut bed) = start(
        "iotssp_stopped_mid_handshake_fails_cleanly_and_keeps_transferred_sessions",
        Mode::Remote,
    ) else {
        return;
    };
    let mut first = delegated_session(&mut bed, "ECHO before-stop");
    let hellos = bed.hrm_counter("client_hellos");
    // Hold the radio so the IoTSSP's exchange with the mote stalls and the second handshake
    // stays under way at the IoTSSP (a whole delegated handshake takes a fraction of a second).
    let motesim_pid = nix::unistd::Pid::from_raw(
        bed.motesim
            .as_ref()
            .and_then(|d| d.pid())
            .expect("motesim pid") as i32,
    );
    nix::sys::signal::kill(motesim_pid, nix::sys::signal::Signal::SIGSTOP)
        .expect("SIGSTOP motesim");
    let mut second = bed.s_client(DELEGATED);
    // The second ClientHello (with the cookie) reached the border router: the handshake is
    // under way at the IoTSSP; stop it there.
    let mid = integration_tests::eventually(Duration::from_secs(10), || {
        (bed.hrm_counter("client_hellos") >= hellos + 2).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    bed.iotssp.as_mut().expect("iotssp").kill();
    nix::sys::signal::kill(motesim_pid, nix::sys::signal::Signal::SIGCONT)
        .expect("SIGCONT motesim");
    assert!(
        mid.is_some(),
        "second handshake did not start:\n{}",
        second.output()
    );
    // The session transferred before keeps working: it runs between client and mote.
    first.send_line("ECHO while-iotssp-down");
    assert!(
        first.wait_for("ECHO while-iotssp-down", ECHO),
        "transferred session broke:\n{}\n{}",
        first.output(),
        bed.logs()
    );
    // The interrupted client gets no session, and no silence either: once lowpan-br counts
    // the IoTSSP down (dead_after, 3 s without a Hello), the client's next retransmission
    // is answered from the mote with a fatal internal_error alert (docs/protocol.md, rule
    // R12), so s_client fails on its own, long before its retransmission timer would give up
    // (the bound covers its backoff: retransmissions 1, 2, 4, 8, 16 s apart).
    const SSP_DOWN_ALERT_WAIT: Duration = Duration::from_secs(45);
    second.send_line("ECHO interrupted");
    let status = second.wait_exit(SSP_DOWN_ALERT_WAIT);
    let out = second.output();
    assert!(
        status.is_some(),
        "s_client got no alert within {SSP_DOWN_ALERT_WAIT:?} of the IoTSSP stopping:\n{out}\n{}",
        bed.logs()
    );
    assert!(
        status.is_some_and(|s| !s.success()),
        "s_client exited successfully without the IoTSSP:\n{out}"
    );
    assert!(
        out.contains("internal error") || out.contains("alert number 80"),
        "s_client did not report the internal_error alert:\n{out}"
    );
    assert!(
        !out.contains("ECHO interrupted"),
        "handshake completed without the IoTSSP:\n{out}"
    );
    assert!(
        bed.hrm_counter("ssp_down_alerts") >= 1,
        "no alert counted by lowpan-br:\n{}",
        bed.logs()
    );
    eprintln!(
        "interrupted client: {}",
        out.lines()
            .filter(|l| l.contains("alert"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    assert_eq!(
        bed.hrm_counter("transfers"),
        1,
        "the interrupted handshake was transferred"
    );
    second.kill();
    // Back: new handshakes work.
    bed.start_iotssp();
    // Should the mote still hold a slot for the dead IoTSSP's PSK handshake, it answers
    // busy until that handshake times out there (the client gets an alert): retry, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    let mut attempts = 0;
    let third = loop {
        attempts += 1;
        let mut c = bed.s_client(DELEGATED);
        c.send_line("ECHO after-restart");
        if c.wait_for("ECHO after-restart", HANDSHAKE) {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no handshake after the IoTSSP came back ({attempts} attempts):\n{}\n{}",
            c.output(),
            bed.logs()
        );
        c.kill();
    };
    eprintln!("handshake after the IoTSSP restart succeeded at attempt {attempts}");
    drop(third);
    assert_mote_did_only_the_record_layer(&bed, 2);
}

/// Unmodified clients with their default settings, only the client certificate given:
/// `openssl s_client -dtls1_2` (its default list has no CCM suite at all) and `gnutls-cli
/// --udp` (its default priority has no CCM-8) complete the delegated handshake through
/// lowpan-br and get their data back from the delegated mote's record layer; the DCert
/// mote, which offers the same suites, serves both too.
#[test]
fn default_openssl_and_gnutls_clients_reach_delegated_and_dcert_motes() {
    const TEST: &str = "default_openssl_and_gnutls_clients_reach_delegated_and_dcert_motes";
    if !test_support::require_program(TEST, "gnutls-cli", "--version") {
        return;
    }
    let Some(mut bed) = start(TEST, Mode::Attached) else {
        return;
    };
    for (mote, what) in [(DELEGATED, "delegated"), (DCERT, "dcert")] {
        // OpenSSL offers GCM and ChaCha20-Poly1305: our order picks GCM.
        let mut c = bed.s_client_default(mote);
        let ok = c.wait_for("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256", HANDSHAKE);
        assert!(
            ok,
            "{what}: default s_client handshake:\n{}\n{}",
            c.output(),
            bed.logs()
        );
        assert!(
            c.wait_for("Verify return code: 0 (ok)", ECHO),
            "{what}:\n{}",
            c.output()
        );
        let line = format!("ECHO openssl-default-{what}");
        c.send_line(&line);
        assert!(
            c.wait_for(&line, ECHO),
            "{what}: no echo for the default s_client:\n{}\n{}",
            c.output(),
            bed.logs()
        );
        c.kill();

        // GnuTLS offers CCM (16-byte tag), GCM and ChaCha20-Poly1305: our order picks CCM.
        let mut g = bed.gnutls_cli(mote, None);
        let ok = g.wait_for("- Handshake was completed", HANDSHAKE);
        assert!(
            ok,
            "{what}: default gnutls-cli handshake:\n{}\n{}",
            g.output(),
            bed.logs()
        );
        assert!(
            g.output().contains("-(AES-128-CCM)"),
            "{what}:\n{}",
            g.output()
        );
        let line = format!("ECHO gnutls-default-{what}");
        g.send_line(&line);
        // gnutls-cli does not print what it sends: the line in its output came back.
        assert!(
            g.wait_for(&line, ECHO),
            "{what}: no echo for the default gnutls-cli:\n{}\n{}",
            g.output(),
            bed.logs()
        );
        g.kill();
    }
    assert_mote_did_only_the_record_layer(&bed, 2);
    let d = bed.mote_stats_until(DCERT, |s| stat(s, "app_data_in") >= 2);
    assert!(stat(&d, "dtls_handshakes_ecdhe") >= 2, "{d}");
}

/// A client that offers only a suite we do not run (AES-256-GCM) gets a handshake_failure
/// alert from the IoTSSP, and its log says why; the mote is never involved.
#[test]
fn a_client_offering_only_an_unsupported_suite_gets_handshake_failure() {
    let Some(mut bed) = start(
        "a_client_offering_only_an_unsupported_suite_gets_handshake_failure",
        Mode::Attached,
    ) else {
        return;
    };
    let (cert, key) = (bed.file("client.pem"), bed.file("client.key"));
    let args: Vec<String> = [
        "-dtls1_2",
        "-cipher",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "-cert",
        path_of(&cert),
        "-key",
        path_of(&key),
        "-connect",
        &format!("[{}]:5684", mote_addr(DELEGATED)),
    ]
    .map(String::from)
    .to_vec();
    let mut c = bed.s_client_args(&args);
    expect_clean_failure(&mut c, "unsupported suite", &mut bed);
    let out = c.output();
    assert!(
        out.contains("handshake failure"),
        "not a handshake_failure alert:\n{out}"
    );
    let logs = bed.logs();
    assert!(
        logs.contains("the client offers none of our cipher suites"),
        "no log line says why:\n{logs}"
    );
    assert!(
        logs.contains("0xC02C"),
        "the log names what the client offered:\n{logs}"
    );
    let s = bed.mote_stats_until(DELEGATED, |_| true);
    assert_eq!(stat(&s, "sessions_transferred"), 0, "{s}");
}

fn path_of(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The delegated mote is an RPL leaf three hops from lowpan-br (motesim's RPL routers in
/// between, a chain where each link is heard only by its two ends): the handshake with
/// openssl s_client is delegated, the session transferred, and records echoed through the
/// source routes.
#[test]
fn rpl_delegated_mote_three_hops_away_echoes_through_its_record_layer() {
    let mut opts = BedOptions::new(Mode::Attached);
    opts.br_extra = "[rpl]\nenabled = true\ndio_interval_min = 10\n".into();
    // Node 0 is the radio; the delegated mote 1 is at the far end of 0 - 3 - 2 - 1.
    opts.motesim_defaults = "rpl = true\nlinks = [\"0-3\", \"3-2\", \"2-1\"]\n".into();
    let Some(mut bed) = DelegationBed::start("rpl_delegated_mote_three_hops_away", opts) else {
        return;
    };
    let deadline = std::time::Instant::now() + HANDSHAKE;
    loop {
        let out = bed
            .inet
            .command("ping")
            .args(["-6", "-n", "-c", "1", "-W", "2"])
            .arg(mote_addr(1).to_string())
            .output();
        if out.is_ok_and(|o| o.status.success()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mote 1 never became reachable:\n{}",
            bed.logs()
        );
    }
    let mut c = delegated_session(&mut bed, "ECHO rpl-1");
    c.send_line("ECHO rpl-2");
    assert!(
        c.wait_for("ECHO rpl-2", ECHO),
        "second record not echoed:\n{}",
        c.output()
    );
    assert_mote_did_only_the_record_layer(&bed, 1);
    c.kill();
}

/// The same default clients through a remote `iotssp`: the suite it negotiated is the one
/// the mote's record layer continues.
#[test]
fn remote_iotssp_serves_default_openssl_and_gnutls_clients() {
    const TEST: &str = "remote_iotssp_serves_default_openssl_and_gnutls_clients";
    if !test_support::require_program(TEST, "gnutls-cli", "--version") {
        return;
    }
    let Some(mut bed) = start(TEST, Mode::Remote) else {
        return;
    };
    let mut c = bed.s_client_default(DELEGATED);
    let ok = c.wait_for("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256", HANDSHAKE);
    assert!(
        ok,
        "default s_client handshake:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c.send_line("ECHO remote-openssl-default");
    assert!(
        c.wait_for("ECHO remote-openssl-default", ECHO),
        "no echo:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c.kill();
    let mut g = bed.gnutls_cli(DELEGATED, None);
    let ok = g.wait_for("- Handshake was completed", HANDSHAKE);
    assert!(
        ok,
        "default gnutls-cli handshake:\n{}\n{}",
        g.output(),
        bed.logs()
    );
    assert!(g.output().contains("-(AES-128-CCM)"), "{}", g.output());
    g.send_line("ECHO remote-gnutls-default");
    assert!(
        g.wait_for("ECHO remote-gnutls-default", ECHO),
        "no echo:\n{}\n{}",
        g.output(),
        bed.logs()
    );
    g.kill();
    assert_mote_did_only_the_record_layer(&bed, 2);
}

/// A plaintext fatal alert record (epoch 0), as anyone can forge it: `seq` is its sequence.
fn forged_fatal_alert(seq: u8) -> Vec<u8> {
    vec![21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, seq, 0, 2, 2, 40]
}

/// How many rounds of datagrams and certificate-less clients the attacker runs at most,
/// and for how long.
const ATTACK_ROUNDS: usize = 200;
const ATTACK_CLIENTS: usize = 20;
const ATTACK_TIME: Duration = Duration::from_secs(60);

/// An Internet host attacking the delegated mote's leg until told to stop, bounded by
/// [`ATTACK_ROUNDS`], [`ATTACK_CLIENTS`] and [`ATTACK_TIME`], on two threads of its own. One
/// sends, each round, ClientHellos to the mote's transfer port 5685, with and without a
/// cookie the mote's DTLS port gave, and datagrams and plaintext fatal alerts spoofed from
/// each address in `spoofed` (the border router's own, the IoTSSP's) on its mote port and on
/// another, to both of the mote's ports. The other runs `openssl s_client` without a
/// certificate, one after the other (cookie'd hello, then its own alert).
struct Attacker {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    rounds: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    clients: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    datagrams: Option<std::thread::JoinHandle<Vec<Vec<u8>>>>,
    s_clients: Option<std::thread::JoinHandle<()>>,
}

impl Attacker {
    fn start(bed: &DelegationBed, spoofed: &[(Ipv6Addr, u16)]) -> Attacker {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let mote = mote_addr(DELEGATED);
        let transfer = SocketAddr::new(mote.into(), 5685);
        let hello = capture_client_hello(&bed.inet, bed.dir.path());
        // A real cookie from the mote's DTLS port, for the cookie'd hellos at 5685.
        let hvr = spoof_from_inet(
            &bed.inet,
            mote_dtls(DELEGATED),
            hello.clone(),
            1,
            Duration::from_secs(3),
        );
        let cookied = hvr.first().filter(|h| h.len() > 28).map(|hvr| {
            let cookie_len = usize::from(hvr[27]);
            with_cookie(&hello, &hvr[28..(28 + cookie_len).min(hvr.len())])
        });
        let Some(cookied) = cookied else {
            panic!("no HelloVerifyRequest from the mote's DTLS port: {hvr:02x?}")
        };
        for (addr, _) in spoofed {
            bed.inet.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{addr}/128"),
                "dev",
                "lo",
                "nodad",
            ]);
        }
        let spoofed = spoofed.to_vec();
        let ns = bed.inet.name.clone();
        let dir = bed.dir.path().to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let (rounds, clients) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let deadline = std::time::Instant::now() + ATTACK_TIME;
        let go_on = {
            let stop = stop.clone();
            move || !stop.load(Ordering::SeqCst) && std::time::Instant::now() < deadline
        };
        let datagrams = {
            let (ns, rounds, go_on) = (ns.clone(), rounds.clone(), go_on.clone());
            std::thread::spawn(move || {
                netbed::enter_this_thread(&ns).expect("enter the internet namespace");
                // What came back from the transfer port: must stay empty.
                let mut answers = Vec::new();
                let mut to_transfer = |datagram: &[u8], n: usize| {
                    for _ in 0..n {
                        let sock = std::net::UdpSocket::bind("[::]:0").expect("bind");
                        sock.set_read_timeout(Some(Duration::from_millis(20)))
                            .expect("timeout");
                        let _ = sock.send_to(datagram, transfer);
                        let mut buf = vec![0u8; 2048];
                        if let Ok((n, _)) = sock.recv_from(&mut buf) {
                            answers.push(buf[..n].to_vec());
                        }
                    }
                };
                for _ in 0..ATTACK_ROUNDS {
                    if !go_on() {
                        break;
                    }
                    to_transfer(&hello, 2);
                    to_transfer(&cookied, 2);
                    for &(addr, port) in &spoofed {
                        for src_port in [port, 40000] {
                            let Ok(sock) =
                                std::net::UdpSocket::bind(SocketAddr::new(addr.into(), src_port))
                            else {
                                continue;
                            };
                            for seq in 0..2u8 {
                                let _ = sock.send_to(&forged_fatal_alert(seq), transfer);
                                let _ =
                                    sock.send_to(&forged_fatal_alert(seq), mote_dtls(DELEGATED));
                            }
                            let _ = sock.send_to(&hello, transfer);
                        }
                    }
                    rounds.fetch_add(1, Ordering::SeqCst);
                }
                answers
            })
        };
        let s_clients = {
            let clients = clients.clone();
            std::thread::spawn(move || {
                for i in 0..ATTACK_CLIENTS {
                    if !go_on() {
                        break;
                    }
                    let Ok(log) = std::fs::File::create(dir.join(format!("attacker-{i}.log")))
                    else {
                        break;
                    };
                    let child = std::process::Command::new("ip")
                        .args([
                            "netns",
                            "exec",
                            &ns,
                            "openssl",
                            "s_client",
                            "-dtls1_2",
                            "-connect",
                            &format!("[{mote}]:5684"),
                        ])
                        .stdin(std::process::Stdio::null())
                        .stdout(log.try_clone().expect("dup"))
                        .stderr(log)
                        .spawn();
                    let Ok(mut child) = child else { break };
                    let until = std::time::Instant::now() + Duration::from_secs(5);
                    while child.try_wait().ok().flatten().is_none()
                        && std::time::Instant::now() < until
                    {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                    clients.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        Attacker {
            stop,
            rounds,
            clients,
            datagrams: Some(datagrams),
            s_clients: Some(s_clients),
        }
    }

    /// Rounds of datagrams and certificate-less clients done so far.
    fn progress(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering;
        (
            self.rounds.load(Ordering::SeqCst),
            self.clients.load(Ordering::SeqCst),
        )
    }

    /// Whether both loops are still going (neither has reached its bound).
    fn running(&self) -> bool {
        [
            self.datagrams.as_ref().map(|t| t.is_finished()),
            self.s_clients.as_ref().map(|t| t.is_finished()),
        ] == [Some(false), Some(false)]
    }

    /// Waits (bounded) until a round of each kind is done.
    fn wait_first_rounds(&self) {
        let done = integration_tests::eventually(ATTACK_TIME, || {
            (self.progress().0 >= 1 && self.progress().1 >= 1).then_some(())
        });
        assert!(
            done.is_some(),
            "the attacker did not get going: {:?}",
            self.progress()
        );
    }

    /// Stops both loops; what the transfer port answered (must be nothing).
    fn stop(mut self) -> Vec<Vec<u8>> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.s_clients.take() {
            t.join().expect("attacker's clients");
        }
        self.datagrams
            .take()
            .map(|t| t.join().expect("attacker's datagrams"))
            .unwrap_or_default()
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs the attacker while a legitimate client completes its delegated handshake and gets
/// its echo; checks the mote saw only that client, and returns lowpan-br's metrics.
fn attack_during_a_delegation(
    bed: &mut DelegationBed,
    spoofed: &[(Ipv6Addr, u16)],
    line: &str,
) -> std::collections::BTreeMap<String, u64> {
    let _ = bed.mote_stats_until(DELEGATED, |s| stat(s, "associations") >= 1);
    let before = bed.mote_stats_after(DELEGATED, SystemTime::now());
    let attacker = Attacker::start(bed, spoofed);
    attacker.wait_first_rounds();
    let during = bed.mote_stats_after(DELEGATED, SystemTime::now());
    assert_attacker_cost_the_mote_nothing(&before, &during, 0);
    // The legitimate client, while the attack goes on.
    let at_start = attacker.progress();
    let started = std::time::Instant::now();
    let mut c = delegated_session(bed, line);
    let took = started.elapsed();
    assert!(
        attacker.running(),
        "the attack ended before the client's handshake did: {:?}",
        attacker.progress()
    );
    let at_end = attacker.progress();
    let answers = attacker.stop();
    eprintln!(
        "the delegation took {took:?} under attack (rounds of datagrams and certificate-less clients: {at_start:?} when it began, {at_end:?} when it ended)"
    );
    assert!(
        took < Duration::from_secs(20),
        "the delegation took {took:?}"
    );
    assert!(
        answers.is_empty(),
        "the transfer port answered the Internet: {answers:02x?}"
    );
    let after = bed.mote_stats_until(DELEGATED, |s| {
        stat(s, "sessions_transferred") > stat(&before, "sessions_transferred")
    });
    // Gone without close_notify, so that its record count stays one.
    c.vanish();
    assert_attacker_cost_the_mote_nothing(&before, &after, 1);
    let m = bed.metrics();
    let dropped = m
        .get("lowpan_br_hrm_drops_total{reason=\"transfer_port_from_internet\"}")
        .copied()
        .unwrap_or(0);
    assert!(
        dropped >= 20,
        "the HRM did not drop the transfer-port traffic: {m:?}"
    );
    m
}

/// The mote's counters that the attacker must not move; `legit` is what one delegated
/// client with one echoed line adds.
fn assert_attacker_cost_the_mote_nothing(
    before: &serde_json::Value,
    after: &serde_json::Value,
    legit: u64,
) {
    for k in [
        "dtls_handshakes",
        "stt_accepted",
        "associations",
        "transfers_refused",
    ] {
        assert_eq!(
            stat(before, k),
            stat(after, k),
            "{k} changed at the mote under attack: {before} -> {after}"
        );
    }
    // One Transfer in and one session for the legitimate client, and its one record.
    for k in [
        "transfer_port_datagrams_in",
        "sessions_transferred",
        "dtls_records_in",
    ] {
        assert_eq!(
            stat(after, k),
            stat(before, k) + legit,
            "{k} at the mote under attack: {before} -> {after}"
        );
    }
}

/// An Internet host attacks the delegated mote's leg in a loop (see [`Attacker`]) while a
/// real `openssl s_client` with the right certificate completes its delegated handshake and
/// gets its data back; afterwards the mote has seen nothing of the attack, and lowpan-br's
/// counters show the attacker's traffic dropped.
#[test]
fn internet_attacker_costs_the_delegated_mote_nothing() {
    let Some(mut bed) = start(
        "internet_attacker_costs_the_delegated_mote_nothing",
        Mode::Attached,
    ) else {
        return;
    };
    // Spoofed from the border router's own address (the attached IoTSSP's mote source).
    let br: Ipv6Addr = integration_tests::testbed::BR_ADDR
        .parse()
        .expect("address");
    let m = attack_during_a_delegation(&mut bed, &[(br, 5690)], "ECHO during-the-attack");
    let dropped = m
        .get("lowpan_br_drops_total{reason=\"tun_spoofed_attached_iotssp\"}")
        .copied()
        .unwrap_or(0);
    assert!(
        dropped >= 1,
        "nothing posing as the attached IoTSSP was dropped: {m:?}"
    );
    assert_eq!(bed.iotssp_counter("mote_handshakes_started"), 0);
    assert_eq!(
        bed.iotssp_counter("transfers_completed"),
        1,
        "only the legitimate client's session was transferred"
    );
    assert!(
        bed.iotssp_counter("alerts_sent") >= 1,
        "the certificate-less clients got no alert"
    );
}

/// The same attacker against a remote IoTSSP's delegated mote, spoofing the border router's
/// own address and the IoTSSP's, on the IoTSSP's redirect port and on another.
#[test]
fn internet_attacker_costs_a_remote_iotssps_delegated_mote_nothing() {
    let Some(mut bed) = start(
        "internet_attacker_costs_a_remote_iotssps_delegated_mote_nothing",
        Mode::Remote,
    ) else {
        return;
    };
    let br: Ipv6Addr = integration_tests::testbed::BR_ADDR
        .parse()
        .expect("address");
    attack_during_a_delegation(
        &mut bed,
        &[(br, 5690), (ssp_addr(), 7700)],
        "ECHO during-the-attack-remote",
    );
    assert_eq!(
        bed.iotssp_counter("redirect_auth_failures"),
        0,
        "the attack reached the redirect channel"
    );
    let line = bed.stop_iotssp();
    assert_eq!(
        field(&line, "transfers"),
        Some(1),
        "only the legitimate client's session was transferred: {line}"
    );
}

/// `hello` (a DTLS 1.2 ClientHello in one record, no cookie) with `cookie` inserted and the
/// lengths fixed.
fn with_cookie(hello: &[u8], cookie: &[u8]) -> Vec<u8> {
    // record 13 + handshake header 12 + version 2 + random 32 + session id (len + bytes).
    let sid_len = usize::from(hello[13 + 12 + 2 + 32]);
    let at = 13 + 12 + 2 + 32 + 1 + sid_len;
    let mut out = hello[..at].to_vec();
    out.push(cookie.len() as u8);
    out.extend_from_slice(cookie);
    out.extend_from_slice(&hello[at + 1..]);
    let grow = cookie.len();
    let rec_len = u16::from_be_bytes([hello[11], hello[12]]) as usize + grow;
    out[11..13].copy_from_slice(&(rec_len as u16).to_be_bytes());
    let body = u32::from_be_bytes([0, hello[14], hello[15], hello[16]]) + grow as u32;
    out[14..17].copy_from_slice(&body.to_be_bytes()[1..]);
    out[22..25].copy_from_slice(&body.to_be_bytes()[1..]);
    out
}
