//! Resumption at the mote end to end (docs/protocol.md, "Resumption at the mote"): with
//! `resumption_lifetime_secs` for the delegated mote in iotssp.toml and motesim's
//! `resumption_slots`, the real `openssl s_client -sess_out` completes a delegated handshake
//! and gets its echo; `s_client -sess_in` then resumes: lowpan-br answers its first hello
//! with its own cookie and hands the second to the mote, which runs the abbreviated
//! handshake ("Reused") with no IoTSSP involved (its handshake and transfer counters and
//! the HRM's diversions stay as they were) and no ECC (motesim's counters). A session the
//! mote no longer holds (pushed out of its one resumption slot by a newer one) gets the
//! mote's fallback, and the same `-sess_in` client then completes a full delegated
//! handshake. The same resumption runs with the IoTSSP as its own `iotssp` service in
//! another namespace, its SessionResumable crossing the redirect channel over UDP, and again
//! with the first copies of that SessionResumable dropped (ip6tables): the iotssp sends it
//! until lowpan-br acknowledges it. About 5 to 25 s each.

use integration_tests::delegation_bed::*;
use integration_tests::testbed::mote_addr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

const HANDSHAKE: Duration = Duration::from_secs(60);
const ECHO: Duration = Duration::from_secs(20);

/// The remote `iotssp`'s status page (in its own namespace), for its counters.
const IOTSSP_STATUS: &str = "127.0.0.1:9711";

fn bed(test: &str, resumption_slots: usize, mode: Mode) -> Option<DelegationBed> {
    let mut opts = BedOptions::new(mode);
    opts.iotssp_mote_extra = "resumption_lifetime_secs = 3600".into();
    opts.motesim_defaults = format!("resumption_slots = {resumption_slots}");
    if mode == Mode::Remote {
        opts.iotssp_extra = format!("[status]\nlisten = \"{IOTSSP_STATUS}\"\n");
    }
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

/// s_client to the delegated mote with the provisioned client certificate, plus `extra`.
fn client(bed: &DelegationBed, extra: &[&str]) -> SClient {
    let f = |n: &str| bed.file(n).to_string_lossy().into_owned();
    let mut args: Vec<String> = ["-dtls1_2", "-cipher", "ECDHE-ECDSA-AES128-CCM8"]
        .map(String::from)
        .to_vec();
    args.extend([
        "-cert".into(),
        f("client.pem"),
        "-key".into(),
        f("client.key"),
    ]);
    args.extend(["-CAfile".into(), f("ca.pem"), "-verify_return_error".into()]);
    args.extend([
        "-connect".into(),
        format!("[{}]:5684", mote_addr(DELEGATED)),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    bed.s_client_args(&args)
}

/// A full delegated handshake that saves its session in `sess`, and its echo.
fn full_handshake_saving(bed: &mut DelegationBed, sess: &Path) {
    let mut c = client(bed, &["-sess_out", sess.to_str().unwrap()]);
    let ok = c.wait_for(ECDHE_OK, HANDSHAKE);
    assert!(
        ok,
        "delegated handshake did not complete:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    assert!(c.output().contains("New, TLSv1.2"), "{}", c.output());
    c.send_line("ECHO full-1");
    let echoed = c.wait_for("ECHO full-1", ECHO);
    assert!(echoed, "no echo:\n{}\n{}", c.output(), bed.logs());
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(sess).map_or(true, |m| m.len() == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        std::fs::metadata(sess).is_ok_and(|m| m.len() > 0),
        "s_client saved no session"
    );
    // The client leaves with close_notify, and the test waits until the mote has freed the
    // session slot: a SIGKILL may beat s_client's close_notify, and the slot of a session
    // in use would then be held for the eviction time, refusing the next transfer.
    let closed = stat(
        &bed.mote_stats_after(DELEGATED, SystemTime::now()),
        "sessions_closed",
    );
    c.close_stdin();
    let exited = c.wait_exit(Duration::from_secs(10)).is_some();
    assert!(exited, "s_client did not exit on EOF:\n{}", c.output());
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "sessions_closed") > closed);
    assert_eq!(stat(&s, "sessions_closed"), closed + 1, "{s}");
}

#[test]
fn a_client_resumes_with_the_mote_without_the_iotssp_or_ecc() {
    resumes_with_the_mote_without_the_iotssp_or_ecc(
        "a_client_resumes_with_the_mote_without_the_iotssp_or_ecc",
        Mode::Attached,
    );
}

#[test]
fn a_client_resumes_with_the_mote_without_a_remote_iotssp_or_ecc() {
    resumes_with_the_mote_without_the_iotssp_or_ecc(
        "a_client_resumes_with_the_mote_without_a_remote_iotssp_or_ecc",
        Mode::Remote,
    );
}

fn resumes_with_the_mote_without_the_iotssp_or_ecc(test: &str, mode: Mode) {
    let Some(mut bed) = bed(test, 2, mode) else {
        return;
    };
    let sess = bed.dir.path().join("session.pem");
    full_handshake_saving(&mut bed, &sess);
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "resumable_sessions_cached") >= 1);
    assert_eq!(stat(&s, "resumable_sessions_cached"), 1, "{s}");
    assert_eq!(bed.hrm_counter("resumables_added"), 1);
    if mode == Mode::Remote {
        // Over UDP, the SessionResumable is acknowledged (the iotssp would send it again).
        let deadline = Instant::now() + Duration::from_secs(5);
        while iotssp_counter(&bed, "resumables_acked") == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(iotssp_counter(&bed, "resumables_acked"), 1);
        assert_eq!(iotssp_counter(&bed, "resumables_unacked"), 0);
    }
    let (handshakes, transfers, diverts, received) = (
        iotssp_counter(&bed, "handshakes_completed"),
        iotssp_counter(&bed, "transfers_sent"),
        bed.hrm_counter("divert"),
        iotssp_counter(&bed, "diverts"),
    );
    assert_eq!((handshakes, transfers), (1, 1));
    let (ecc, assoc_ecc) = (stat(&s, "ecc_operations"), stat(&s, "assoc_ecc_operations"));

    let mut c = client(&bed, &["-sess_in", sess.to_str().unwrap()]);
    let reused = c.wait_for("Reused, TLSv1.2", HANDSHAKE);
    assert!(
        reused,
        "no abbreviated handshake:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c.send_line("ECHO resumed-1");
    let echoed = c.wait_for("ECHO resumed-1", ECHO);
    assert!(
        echoed,
        "no echo on the resumed session:\n{}\n{}",
        c.output(),
        bed.logs()
    );

    // The border router challenged the client, then handed its hello to the mote.
    assert_eq!(bed.hrm_counter("resume_challenges"), 1);
    assert_eq!(bed.hrm_counter("resume_to_mote"), 1);
    assert_eq!(bed.hrm_counter("resumed"), 1);
    // The IoTSSP saw nothing of it.
    assert_eq!(
        bed.hrm_counter("divert"),
        diverts,
        "a datagram of the resumption was diverted"
    );
    assert_eq!(iotssp_counter(&bed, "handshakes_completed"), handshakes);
    assert_eq!(iotssp_counter(&bed, "transfers_sent"), transfers);
    assert_eq!(iotssp_counter(&bed, "diverts"), received);
    // The mote resumed with symmetric crypto only.
    let s = bed.mote_stats_until(DELEGATED, |s| {
        stat(s, "sessions_resumed") >= 1 && stat(s, "app_data_in") >= 2
    });
    assert_eq!(stat(&s, "sessions_resumed"), 1, "{s}");
    assert_eq!(
        stat(&s, "ecc_operations"),
        ecc,
        "ECC at the mote during the resumption: {s}"
    );
    assert_eq!(stat(&s, "assoc_ecc_operations"), assoc_ecc, "{s}");
    c.kill();
}

/// `ip6tables ARGS` in the border router's namespace.
fn br_ip6tables(bed: &DelegationBed, args: &[&str]) -> String {
    let mut all = vec!["netns", "exec", bed.br.name.as_str(), "ip6tables"];
    all.extend_from_slice(args);
    String::from_utf8_lossy(&integration_tests::run("ip", all).stdout).into_owned()
}

/// The redirect messages of type 7 (SessionResumable) arriving at the border router: "HR",
/// version 2, type 7 in the first 4 bytes of the UDP payload (IPv6 40 + UDP 8 = offset 48).
const SESSION_RESUMABLE_RULE: [&str; 9] = [
    "INPUT",
    "-p",
    "udp",
    "-m",
    "u32",
    "--u32",
    "48=0x48520207",
    "-j",
    "DROP",
];

/// The remote `iotssp`'s SessionResumable is lost (the border router's namespace drops every
/// copy until the delegated handshake is over): the iotssp sends it again until lowpan-br
/// acknowledges it, and the client then resumes with the mote as if nothing had been lost.
/// About 15 s.
#[test]
fn a_lost_session_resumable_is_sent_again_and_the_client_still_resumes_with_the_mote() {
    let test = "a_lost_session_resumable_is_sent_again_and_the_client_still_resumes_with_the_mote";
    if !test_support::require_program(test, "ip6tables", "--version") {
        return;
    }
    let Some(mut bed) = bed(test, 2, Mode::Remote) else {
        return;
    };
    let mut rule = vec!["-A"];
    rule.extend(SESSION_RESUMABLE_RULE);
    br_ip6tables(&bed, &rule);
    let sess = bed.dir.path().join("session.pem");
    full_handshake_saving(&mut bed, &sess);
    // Every copy so far was lost: the border router knows nothing to resume.
    assert_eq!(bed.hrm_counter("resumables_added"), 0);
    assert_eq!(iotssp_counter(&bed, "resumables_acked"), 0);
    let listing = br_ip6tables(&bed, &["-L", "INPUT", "-v", "-n", "-x"]);
    let dropped: u64 = listing
        .lines()
        .find(|l| l.contains("u32"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(dropped >= 1, "no SessionResumable was dropped:\n{listing}");
    let mut rule = vec!["-D"];
    rule.extend(SESSION_RESUMABLE_RULE);
    br_ip6tables(&bed, &rule);

    // The next copy (at most 8 s later) gets through and is acknowledged.
    let deadline = Instant::now() + Duration::from_secs(20);
    while iotssp_counter(&bed, "resumables_acked") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        iotssp_counter(&bed, "resumables_acked"),
        1,
        "{}",
        bed.logs()
    );
    assert!(iotssp_counter(&bed, "resumables_resent") >= dropped);
    assert_eq!(iotssp_counter(&bed, "resumables_unacked"), 0);
    assert_eq!(bed.hrm_counter("resumables_added"), 1);
    let diverts = bed.hrm_counter("divert");

    let mut c = client(&bed, &["-sess_in", sess.to_str().unwrap()]);
    let reused = c.wait_for("Reused, TLSv1.2", HANDSHAKE);
    assert!(
        reused,
        "no abbreviated handshake:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c.send_line("ECHO resumed-after-loss");
    let echoed = c.wait_for("ECHO resumed-after-loss", ECHO);
    assert!(echoed, "no echo:\n{}\n{}", c.output(), bed.logs());
    assert_eq!(bed.hrm_counter("resume_to_mote"), 1);
    assert_eq!(bed.hrm_counter("divert"), diverts);
    c.kill();
}

#[test]
fn a_session_the_mote_no_longer_holds_falls_back_to_a_full_delegated_handshake() {
    let test = "a_session_the_mote_no_longer_holds_falls_back_to_a_full_delegated_handshake";
    // One resumption slot: the second session pushes the first out of the mote's cache,
    // while the border router still knows both.
    let Some(mut bed) = bed(test, 1, Mode::Attached) else {
        return;
    };
    let (first, second) = (
        bed.dir.path().join("first.pem"),
        bed.dir.path().join("second.pem"),
    );
    full_handshake_saving(&mut bed, &first);
    full_handshake_saving(&mut bed, &second);
    assert_eq!(bed.hrm_counter("resumables_added"), 2);

    let mut c = client(&bed, &["-sess_in", first.to_str().unwrap()]);
    let ok = c.wait_for(ECDHE_OK, HANDSHAKE);
    assert!(
        ok,
        "the fallback handshake did not complete:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    assert!(c.output().contains("New, TLSv1.2"), "{}", c.output());
    c.send_line("ECHO fallback-1");
    let echoed = c.wait_for("ECHO fallback-1", ECHO);
    assert!(
        echoed,
        "no echo after the fallback:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    // The mote answered the handed-over hello with its fallback; the border router forgot
    // the id, and the IoTSSP ran a third full handshake.
    assert_eq!(bed.hrm_counter("resume_to_mote"), 1);
    assert_eq!(bed.hrm_counter("resume_mote_fallbacks"), 1);
    assert_eq!(iotssp_counter(&bed, "handshakes_completed"), 3);
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "resumption_fallbacks") >= 1);
    assert_eq!(stat(&s, "resumption_fallbacks"), 1, "{s}");
    assert_eq!(stat(&s, "sessions_resumed"), 0, "{s}");
    c.kill();
}
