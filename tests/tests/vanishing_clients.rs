//! Clients as they come, against every kind of mote, with the real binaries and the
//! IoTSSP attached to the border router or remote: unmodified `openssl s_client` and
//! `gnutls-cli` complete their handshakes and vanish without close_notify (killed) until
//! the mote holds as many sessions as it has room for. A client that comes while those are
//! fresh is refused with an alert (from the mote, or for a delegated mote from its IoTSSP),
//! never silence; once a vanished client has been idle for the eviction time, a
//! well-behaved client completes its handshake, gets its echo, and closes with close_notify,
//! which the mote answers.
//!
//! The motes are given two places each (`session_slots`, `max_clients`) so the table fills
//! fast, and an eviction time (`client_evict_after_secs`, default 30) of a few seconds to
//! keep the test short: a session gives way to a new client only once it has been idle that
//! long. What happened is read from the mote's counters (motesim's stats file) and from a
//! tshark capture of the client's side: every close_notify the clients sent has an alert
//! record from the mote after it. Each variant takes about 40 s.

use integration_tests::delegation_bed::*;
use integration_tests::testbed::{INET_ADDR, mote_addr};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

const HANDSHAKE: Duration = Duration::from_secs(60);
const ECHO: Duration = Duration::from_secs(20);
/// Places on each mote: sessions of the delegated mote, client associations of the others.
const PLACES: usize = 2;
/// How long a session (a client association of a DCert or CDPSK mote) must have been idle
/// before it gives way: long enough for the refused client to come and go before.
const EVICT_AFTER: Duration = Duration::from_secs(8);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Openssl,
    Gnutls,
}

/// The mote kinds, each with the clients that fill it (one of each where gnutls-cli
/// fits: it has no PSK-only option that matches the CDPSK mote without a key file).
fn fillers(mote: u8) -> [Client; PLACES] {
    match mote {
        CDPSK => [Client::Openssl, Client::Openssl],
        _ => [Client::Openssl, Client::Gnutls],
    }
}

fn name(mote: u8) -> &'static str {
    match mote {
        DELEGATED => "delegated",
        DCERT => "dcert",
        _ => "cdpsk",
    }
}

/// A client of `mote` with a completed handshake and one echoed line.
fn echoed_session(bed: &mut DelegationBed, mote: u8, client: Client, line: &str) -> SClient {
    let (mut c, done) = match (client, mote) {
        (Client::Gnutls, _) => (bed.gnutls_cli(mote, None), "- Handshake was completed"),
        (Client::Openssl, CDPSK) => (bed.s_client_psk(mote), PSK_OK),
        (Client::Openssl, _) => (bed.s_client(mote), ECDHE_OK),
    };
    let what = name(mote);
    assert!(
        c.wait_for(done, HANDSHAKE),
        "{what}, {client:?}: no handshake:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c.send_line(line);
    // Neither client prints what it sends (stdin is a pipe): the line came back.
    assert!(
        c.wait_for(line, ECHO),
        "{what}, {client:?}: no echo of {line:?}:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c
}

/// `tshark` capturing the internet host's UDP on the motes' DTLS port, into a file.
struct Capture {
    daemon: integration_tests::Daemon,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(bed: &DelegationBed) -> Capture {
        let file = bed.dir.path().join("clients.pcapng");
        // tshark as root writes through dumpcap, which must be allowed to create the file.
        std::fs::File::create(&file).expect("capture file");
        let mut cmd = bed.inet.command("tshark");
        cmd.args(["-i", "any", "-f", "udp port 5684", "-w"])
            .arg(&file);
        let mut daemon = integration_tests::Daemon::spawn("tshark", cmd);
        daemon.wait_for_line("Capturing on", Duration::from_secs(20));
        Capture { daemon, file }
    }

    /// Stops the capture; the DTLS alert records in it, in capture order.
    fn alerts(mut self) -> Vec<AlertRecord> {
        let log = self.daemon.stop();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args([
                "-d",
                "udp.port==5684,dtls",
                "-Y",
                "dtls.record.content_type == 21",
            ])
            .args(["-T", "fields", "-E", "separator=|"])
            .args([
                "-e",
                "ipv6.src",
                "-e",
                "udp.srcport",
                "-e",
                "ipv6.dst",
                "-e",
                "udp.dstport",
                "-e",
                "dtls.record.content_type",
            ])
            .output()
            .expect("run tshark");
        assert!(
            out.status.success(),
            "tshark: {}\ncapture log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            log.join("\n")
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut alerts = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split('|').collect();
            let [src, sport, dst, dport, types] = f[..] else {
                panic!("unexpected tshark row {line:?}")
            };
            // One row per datagram, one content type per record in it.
            for _ in types.split(',').filter(|t| t.trim() == "21") {
                alerts.push(AlertRecord {
                    from: format!("[{src}]:{sport}"),
                    to: format!("[{dst}]:{dport}"),
                });
            }
        }
        alerts
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AlertRecord {
    from: String,
    to: String,
}

/// A client of `mote` that comes while every place holds a session in use: refused with
/// a fatal alert (internal_error), at once.
fn refused_with_an_alert(bed: &mut DelegationBed, mote: u8) {
    let what = name(mote);
    let mut c = match mote {
        CDPSK => bed.s_client_psk(mote),
        _ => bed.s_client(mote),
    };
    let status = c.wait_exit(HANDSHAKE);
    let out = c.output();
    assert!(
        status.is_some_and(|s| !s.success()),
        "{what}: the client of a full mote was not refused:\n{out}\n{}",
        bed.logs()
    );
    assert!(
        out.contains("internal error") || out.contains("alert number 80"),
        "{what}: no internal_error alert:\n{out}"
    );
    eprintln!(
        "{what}: refused client: {}",
        out.lines()
            .filter(|l| l.contains("alert"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
}

fn clients_that_vanish(test: &str, mode: Mode) {
    if !test_support::require_program(test, "gnutls-cli", "--version")
        || !test_support::require_program(test, "tshark", "--version")
    {
        return;
    }
    let mut opts = BedOptions::new(mode);
    // No emulated ECC cost: the DCert mote's handshakes take a fraction of a second.
    opts.motesim_defaults = format!(
        "session_slots = {PLACES}\nmax_clients = {PLACES}\nclient_evict_after_secs = {}\necc_profile = \"none\"\n",
        EVICT_AFTER.as_secs()
    );
    let Some(mut bed) = DelegationBed::start(test, opts) else {
        return;
    };
    let capture = Capture::start(&bed);
    for mote in [DELEGATED, DCERT, CDPSK] {
        let what = name(mote);
        let before = bed.mote_stats_after(mote, SystemTime::now());
        // Fill every place with a client that then vanishes without close_notify.
        let first_used = Instant::now();
        for (i, client) in fillers(mote).into_iter().enumerate() {
            let mut c = echoed_session(
                &mut bed,
                mote,
                client,
                &format!("ECHO {what}-vanishing-{i}"),
            );
            c.vanish();
        }
        let last_vanished = Instant::now();
        let full = bed.mote_stats_after(mote, SystemTime::now());
        let kept = if mote == DELEGATED {
            "sessions_transferred"
        } else {
            "dtls_handshakes"
        };
        assert_eq!(
            stat(&full, kept),
            stat(&before, kept) + PLACES as u64,
            "{what}: {full}"
        );
        for k in [
            "sessions_closed",
            "sessions_evicted",
            "sessions_expired",
            "clients_refused",
        ] {
            assert_eq!(
                stat(&full, k),
                stat(&before, k),
                "{what}: {k} before the table was full: {full}"
            );
        }
        // Nobody has been idle long enough to give way: the next client is refused.
        refused_with_an_alert(&mut bed, mote);
        assert!(
            first_used.elapsed() < EVICT_AFTER,
            "{what}: the refusal came too late to prove anything ({:?})",
            first_used.elapsed()
        );
        let refused = bed.mote_stats_until(mote, |s| {
            stat(s, "clients_refused") > stat(&before, "clients_refused")
        });
        assert_eq!(
            stat(&refused, "clients_refused"),
            stat(&before, "clients_refused") + 1,
            "{what}: {refused}"
        );
        assert_eq!(
            stat(&refused, "sessions_evicted"),
            stat(&before, "sessions_evicted"),
            "{what}: {refused}"
        );
        // The places give way only to a client that comes after they have been idle long
        // enough.
        std::thread::sleep(
            EVICT_AFTER.saturating_sub(last_vanished.elapsed()) + Duration::from_millis(500),
        );
        // The well-behaved client gets in, gets its echo, and leaves with close_notify.
        let mut good = echoed_session(
            &mut bed,
            mote,
            Client::Openssl,
            &format!("ECHO {what}-well-behaved"),
        );
        good.close_stdin();
        let status = good.wait_exit(ECHO);
        assert!(
            status.is_some_and(|s| s.success()),
            "{what}: s_client did not end cleanly:\n{}",
            good.output()
        );
        let after = bed.mote_stats_until(mote, |s| {
            stat(s, "sessions_closed") > stat(&before, "sessions_closed")
        });
        assert_eq!(
            stat(&after, "sessions_evicted"),
            stat(&before, "sessions_evicted") + 1,
            "{what}: one vanished client gave way: {after}"
        );
        assert_eq!(
            stat(&after, "clients_refused"),
            stat(&before, "clients_refused") + 1,
            "{what}: {after}"
        );
        assert_eq!(
            stat(&after, "sessions_closed"),
            stat(&before, "sessions_closed") + 1,
            "{what}: close_notify ends the session: {after}"
        );
        // A DCert or CDPSK mote sent the refused client its alert itself, and says
        // close_notify to the client whose place it gave away (should it still be there);
        // a delegated mote's IoTSSP refused the client, and its record layer drops an
        // evicted session quietly.
        let own = if mote == DELEGATED { 0 } else { 2 };
        assert_eq!(
            stat(&after, "alerts_out"),
            stat(&before, "alerts_out") + 1 + own,
            "{what}: the mote answered close_notify: {after}"
        );
        eprintln!(
            "{what}: {PLACES} vanished clients, one refused, then one served; evicted {}, refused {}, closed {}, alerts out {}",
            stat(&after, "sessions_evicted") - stat(&before, "sessions_evicted"),
            stat(&after, "clients_refused") - stat(&before, "clients_refused"),
            stat(&after, "sessions_closed") - stat(&before, "sessions_closed"),
            stat(&after, "alerts_out") - stat(&before, "alerts_out"),
        );
    }

    // On the wire: each well-behaved client's close_notify (an alert record, encrypted) and
    // the mote's answer; the vanished clients sent none.
    let alerts = capture.alerts();
    for mote in [DELEGATED, DCERT, CDPSK] {
        let m = format!("[{}]:5684", mote_addr(mote));
        let sent: Vec<usize> = (0..alerts.len())
            .filter(|&i| alerts[i].to == m && alerts[i].from.starts_with(&format!("[{INET_ADDR}]")))
            .collect();
        assert_eq!(
            sent.len(),
            1,
            "{}: one close_notify from the clients: {alerts:?}",
            name(mote)
        );
        let client = &alerts[sent[0]].from;
        let answers = alerts[sent[0]..]
            .iter()
            .filter(|a| a.from == m && a.to == *client)
            .count();
        assert_eq!(
            answers,
            1,
            "{}: the mote's answer to {client}: {alerts:?}",
            name(mote)
        );
    }

    // The delegated mote's sessions ran on its record layer only; the IoTSSP holds nothing,
    // and it counted the refused client as the mote being busy.
    match mode {
        Mode::Attached => {
            assert_eq!(bed.iotssp_counter("keys_held"), 0);
            assert!(bed.iotssp_counter("transfers_completed") > PLACES as u64);
            let (_, reasons) = bed.iotssp_failures();
            assert!(
                reasons.iter().any(|r| r.contains("mote_busy")),
                "{reasons:?}"
            );
        }
        Mode::Remote => {
            let line = bed.stop_iotssp();
            assert_eq!(field(&line, "keys_held"), Some(0), "{line}");
            assert!(
                field(&line, "transfers").is_some_and(|n| n > PLACES as u64),
                "{line}"
            );
            assert!(line.contains("mote_busy"), "{line}");
        }
    }
}

#[test]
fn clients_that_vanish_fill_no_mote_for_good_and_close_notify_is_answered_by_every_kind() {
    clients_that_vanish(
        "clients_that_vanish_fill_no_mote_for_good_and_close_notify_is_answered_by_every_kind",
        Mode::Attached,
    );
}

#[test]
fn with_a_remote_iotssp_clients_that_vanish_fill_no_mote_for_good() {
    clients_that_vanish(
        "with_a_remote_iotssp_clients_that_vanish_fill_no_mote_for_good",
        Mode::Remote,
    );
}
