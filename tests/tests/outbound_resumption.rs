//! Outbound resumption by the mote end to end (docs/session-transfer.md, "Outbound
//! resumption by the mote"), with the real lowpan-br, iotssp and motesim and unmodified
//! servers in the "internet" namespace. The delegated mote reports to the server
//! (`outbound`, a GET every 2 s) and ends its session after two reports
//! (`outbound_reports_per_session = 2`, a close_notify, as a mote that sleeps between bursts
//! would); with `resumption_lifetime_secs` for it in iotssp.toml and motesim's
//! `resumption_slots`, its Transfer carried the server's session id and the master secret,
//! so its next report goes on a session the mote resumes with the server itself
//! (abbreviated handshake, RFC 5246 7.3): the HRM sees the mote's ClientHello with the id
//! (`mote_resumes_started`) and hands the server's answers to the mote; the IoTSSP's
//! outbound handshake and transfer counters and the HRM's diversions stay as they were, and
//! the mote does no ECC. `openssl s_server -dtls1_2 -Verify` says "Reused session-id" and
//! prints the report that follows; libcoap's `coap-server-openssl` answers the report on
//! the resumed session. A server that does not resume (s_server restarted, its session
//! cache empty; libcoap verifying client certificates) makes the mote fall back to a
//! Connect through its IoTSSP, and the report still arrives. About 8 to 15 s each (the
//! bounds allow 70 s).

use integration_tests::delegation_bed::*;
use integration_tests::testbed::INET_ADDR;
use std::time::{Duration, Instant};

const SERVER_NAME: &str = "server.example";
/// The Uri-Path of the mote's GETs, which s_server prints as it receives them.
const PATH: &str = "burst";
/// Reports on one session before the mote ends it.
const REPORTS_PER_SESSION: u64 = 2;
/// The first session (association, Connect, the IoTSSP's handshake, Transfer, first GET).
const FIRST_REPORT: Duration = Duration::from_secs(40);
/// Two more report intervals, the resumption and the report after it.
const RESUMED: Duration = Duration::from_secs(30);

/// The remote `iotssp`'s status page (in its own namespace), for its counters.
const IOTSSP_STATUS: &str = "127.0.0.1:9712";

fn bed(test: &str, mode: Mode) -> Option<DelegationBed> {
    let mut opts = BedOptions::new(mode);
    opts.iotssp_mote_extra = "resumption_lifetime_secs = 3600".into();
    opts.iotssp_extra = format!(
        "[[motes.outbound]]\naddress = \"{INET_ADDR}\"\nport = 5684\nname = \"{SERVER_NAME}\"\n"
    );
    if mode == Mode::Remote {
        opts.iotssp_extra
            .push_str(&format!("\n[status]\nlisten = \"{IOTSSP_STATUS}\"\n"));
    }
    opts.motesim_defaults = format!(
        "resumption_slots = 1\noutbound = \"coaps://[{INET_ADDR}]:5684/{PATH}\"\n\
         outbound_interval_secs = 2\noutbound_reports_per_session = {REPORTS_PER_SESSION}\n"
    );
    DelegationBed::start(test, opts)
}

/// One counter of the IoTSSP: the attached one's through lowpan-br's metrics, the remote
/// one's through its own.
fn iotssp_counter(bed: &DelegationBed, counter: &str) -> u64 {
    match bed.opts.mode {
        Mode::Attached => bed.iotssp_counter(counter),
        Mode::Remote => bed
            .iotssp_metrics(IOTSSP_STATUS)
            .get(&format!("iotssp_total{{counter=\"{counter}\"}}"))
            .copied()
            .unwrap_or(0),
    }
}

/// Waits (bounded by `limit`) until mote 1's stats satisfy `ok`; returns the last snapshot.
fn mote_stats_within(
    bed: &DelegationBed,
    limit: Duration,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = bed.mote_stats_until(DELEGATED, &ok);
        if ok(&s) || Instant::now() >= deadline {
            return s;
        }
    }
}

/// What the IoTSSP did for the mote's outbound sessions (their handshakes and transfers),
/// what it heard from the mote over the association, and what the HRM diverted to it.
fn iotssp_involvement(bed: &DelegationBed) -> [u64; 4] {
    [
        iotssp_counter(bed, "outbound_started"),
        iotssp_counter(bed, "outbound_completed"),
        iotssp_counter(bed, "mote_datagrams"),
        bed.hrm_counter("divert"),
    ]
}

/// `openssl s_server -dtls1_2` on `[INET_ADDR]:5684` with a certificate for SERVER_NAME
/// from the provisioned CA, requiring the mote's certificate and verifying it against the
/// CA. Its default session cache keeps the sessions it gives ids to.
fn s_server(bed: &DelegationBed) -> SClient {
    let (cert, key) = issue_server_cert(&bed.deploy, SERVER_NAME);
    let ca = bed.deploy.join("ca.pem");
    let args: Vec<String> = [
        "-dtls1_2",
        "-6",
        "-accept",
        "5684",
        "-cert",
        &cert.display().to_string(),
        "-key",
        &key.display().to_string(),
        "-Verify",
        "1",
        "-CAfile",
        &ca.display().to_string(),
        "-verify_return_error",
    ]
    .map(String::from)
    .to_vec();
    SClient::spawn_program(&bed.inet, bed.dir.path(), "openssl", &["s_server"], &args)
}

/// What `server` printed after its first "Reused session-id", once that holds `PATH` (the
/// report on the resumed session); `None` if not within `limit`.
fn report_after_reuse(server: &mut SClient, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        let out = server.output();
        if let Some(i) = out.find("Reused session-id")
            && out[i..].contains(PATH)
        {
            return Some(out[i..].to_string());
        }
        if Instant::now() >= deadline || server.exited().is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn the_mote_resumes_with_openssl_s_server(test: &str, mode: Mode) {
    let Some(mut bed) = bed(test, mode) else {
        return;
    };
    let mut server = s_server(&bed);
    let first = server.wait_for(PATH, FIRST_REPORT);
    assert!(
        first,
        "s_server got no GET on the delegated session:\n{}\n{}",
        server.output(),
        bed.logs()
    );
    let out = server.output();
    assert!(
        out.contains("CN = mote-1") && out.contains("verify return:1"),
        "the mote's certificate was not verified:\n{out}"
    );
    // The first session was the IoTSSP's: its outbound handshake and transfer.
    let before = iotssp_involvement(&bed);
    assert_eq!(before[1], 1, "{before:?}\n{}", bed.logs());
    assert_eq!(bed.hrm_counter("mote_resumes_started"), 0);
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "outbound_resumables_cached") >= 1);
    assert_eq!(stat(&s, "outbound_resumables_cached"), 1, "{s}");
    let (ecc, assoc_ecc) = (stat(&s, "ecc_operations"), stat(&s, "assoc_ecc_operations"));
    assert_eq!(ecc, 0, "{s}");
    let connects = stat(&s, "outbound_connects");

    let resumed = report_after_reuse(&mut server, RESUMED);
    assert!(
        resumed.is_some(),
        "s_server saw no resumption followed by a report:\n{}\n{}",
        server.output(),
        bed.logs()
    );
    let s = bed.mote_stats_until(DELEGATED, |s| {
        stat(s, "outbound_resumptions_succeeded") >= 1
    });
    assert!(stat(&s, "outbound_sessions_ended") >= 1, "{s}");
    assert!(stat(&s, "outbound_resumptions_started") >= 1, "{s}");
    assert!(stat(&s, "outbound_resumptions_succeeded") >= 1, "{s}");
    assert_eq!(stat(&s, "outbound_resumption_fallbacks"), 0, "{s}");
    assert!(
        stat(&s, "coap_requests_out") > REPORTS_PER_SESSION,
        "no report after the session ended: {s}"
    );
    // No IoTSSP: no Connect, no outbound handshake, no transfer, not a datagram between
    // it and the mote, nothing diverted to it.
    assert_eq!(stat(&s, "outbound_connects"), connects, "{s}");
    assert_eq!(
        iotssp_involvement(&bed),
        before,
        "the IoTSSP took part in the resumption\n{}",
        bed.logs()
    );
    // The mote did it with symmetric crypto only.
    assert_eq!(stat(&s, "ecc_operations"), ecc, "ECC at the mote: {s}");
    assert_eq!(stat(&s, "assoc_ecc_operations"), assoc_ecc, "{s}");
    // The border router saw the mote's resuming hello and its application data after it.
    assert!(bed.hrm_counter("mote_resumes_started") >= 1);
    assert!(bed.hrm_counter("resumed") >= 1);
}

#[test]
fn the_mote_resumes_its_outbound_session_with_openssl_s_server() {
    the_mote_resumes_with_openssl_s_server(
        "the_mote_resumes_its_outbound_session_with_openssl_s_server",
        Mode::Attached,
    );
}

#[test]
fn the_mote_resumes_its_outbound_session_with_openssl_s_server_without_a_remote_iotssp() {
    the_mote_resumes_with_openssl_s_server(
        "the_mote_resumes_its_outbound_session_with_openssl_s_server_without_a_remote_iotssp",
        Mode::Remote,
    );
}

/// s_server restarts between the mote's first session and its end: the new one holds no
/// session, answers the mote's resuming hello with a full handshake (another id), and the
/// mote asks its IoTSSP for a new session, on which its report arrives.
#[test]
fn a_server_that_does_not_resume_sends_the_mote_back_to_its_iotssp() {
    let test = "a_server_that_does_not_resume_sends_the_mote_back_to_its_iotssp";
    let Some(mut bed) = bed(test, Mode::Attached) else {
        return;
    };
    let mut server = s_server(&bed);
    let first = server.wait_for(PATH, FIRST_REPORT);
    assert!(
        first,
        "s_server got no GET on the delegated session:\n{}\n{}",
        server.output(),
        bed.logs()
    );
    let connects = stat(
        &bed.mote_stats_until(DELEGATED, |_| true),
        "outbound_connects",
    );
    let completed = bed.iotssp_counter("outbound_completed");
    assert_eq!(completed, 1, "{}", bed.logs());
    // Well before the mote's second report (2 s) and the end of its session (4 s).
    server.kill();
    let mut fresh = s_server(&bed);
    let got = fresh.wait_for(PATH, RESUMED + FIRST_REPORT);
    assert!(
        got,
        "the restarted s_server got no report:\n{}\n{}",
        fresh.output(),
        bed.logs()
    );
    let out = fresh.output();
    assert!(!out.contains("Reused session-id"), "{out}");
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "outbound_connects") > connects);
    assert!(stat(&s, "outbound_resumptions_started") >= 1, "{s}");
    assert_eq!(stat(&s, "outbound_resumptions_succeeded"), 0, "{s}");
    assert!(stat(&s, "outbound_resumption_fallbacks") >= 1, "{s}");
    assert_eq!(stat(&s, "outbound_connects"), connects + 1, "{s}");
    assert_eq!(stat(&s, "ecc_operations"), 0, "{s}");
    assert!(bed.hrm_counter("mote_resumes_started") >= 1);
    assert_eq!(
        bed.iotssp_counter("outbound_completed"),
        completed + 1,
        "{}",
        bed.logs()
    );
}

/// libcoap's `coap-server-openssl` in PKI mode on `[INET_ADDR]:5684`, with
/// `verify_clients` verifying the mote's certificate against the CA (`-R`).
fn libcoap_server(bed: &DelegationBed, verify_clients: bool) -> SClient {
    let (cert, key) = issue_server_cert(&bed.deploy, SERVER_NAME);
    let mut args: Vec<String> = vec![
        "-A".into(),
        INET_ADDR.into(),
        "-p".into(),
        "5683".into(),
        "-c".into(),
        cert.display().to_string(),
        "-j".into(),
        key.display().to_string(),
    ];
    if verify_clients {
        args.extend(["-R".into(), bed.deploy.join("ca.pem").display().to_string()]);
    }
    SClient::spawn_program(&bed.inet, bed.dir.path(), "coap-server-openssl", &[], &args)
}

/// libcoap's coap-server resumes DTLS sessions from its OpenSSL session cache when it does
/// not verify client certificates: the mote's report after the end of its first session
/// goes on a session it resumed with the server itself, and libcoap answers it (4.04: it
/// has no such resource).
#[test]
fn the_mote_resumes_its_outbound_session_with_libcoap_coap_server() {
    let test = "the_mote_resumes_its_outbound_session_with_libcoap_coap_server";
    let Some(mut bed) = bed(test, Mode::Attached) else {
        return;
    };
    let server = libcoap_server(&bed, false);
    let s = mote_stats_within(&bed, FIRST_REPORT, |s| stat(s, "coap_responses_in") >= 1);
    assert!(
        stat(&s, "coap_responses_in") >= 1,
        "libcoap did not answer on the delegated session: {s}\n{}\n{}",
        server.output(),
        bed.logs()
    );
    let before = iotssp_involvement(&bed);
    assert_eq!(before[1], 1, "{before:?}");
    let connects = stat(&s, "outbound_connects");
    // More answers than a session carries reports, with one Connect only: an answer came
    // on a resumed session.
    let answered_after_resumption = |s: &serde_json::Value| {
        stat(s, "coap_responses_in") > REPORTS_PER_SESSION
            && stat(s, "outbound_resumptions_succeeded") >= 1
    };
    let s = mote_stats_within(&bed, RESUMED, answered_after_resumption);
    assert!(
        answered_after_resumption(&s),
        "no answer on a resumed session: {s}\n{}\n{}",
        server.output(),
        bed.logs()
    );
    assert_eq!(s["outbound_last_response"], "4.04 Not Found", "{s}");
    assert_eq!(stat(&s, "outbound_connects"), connects, "{s}");
    assert_eq!(stat(&s, "outbound_resumption_fallbacks"), 0, "{s}");
    assert_eq!(stat(&s, "ecc_operations"), 0, "{s}");
    assert_eq!(iotssp_involvement(&bed), before, "{}", bed.logs());
    assert!(bed.hrm_counter("mote_resumes_started") >= 1);
}

/// libcoap's coap-server that verifies client certificates (`-R`) does not resume: it ends
/// the mote's abbreviated handshake with a handshake_failure alert, and each time the mote
/// asks its IoTSSP for a new session, on which libcoap answers its report.
#[test]
fn libcoap_coap_server_verifying_clients_sends_the_mote_back_to_its_iotssp() {
    let test = "libcoap_coap_server_verifying_clients_sends_the_mote_back_to_its_iotssp";
    let Some(mut bed) = bed(test, Mode::Attached) else {
        return;
    };
    let server = libcoap_server(&bed, true);
    let fell_back_and_answered = |s: &serde_json::Value| {
        stat(s, "outbound_resumption_fallbacks") >= 1
            && stat(s, "coap_responses_in") > REPORTS_PER_SESSION
    };
    let s = mote_stats_within(&bed, FIRST_REPORT + RESUMED, fell_back_and_answered);
    assert!(
        fell_back_and_answered(&s),
        "no fallback with an answer after it: {s}\n{}\n{}",
        server.output(),
        bed.logs()
    );
    assert_eq!(stat(&s, "outbound_resumptions_succeeded"), 0, "{s}");
    assert!(stat(&s, "outbound_connects") >= 2, "{s}");
    assert_eq!(s["outbound_last_response"], "4.04 Not Found", "{s}");
    assert_eq!(stat(&s, "ecc_operations"), 0, "{s}");
}
