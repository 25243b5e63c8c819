//! A remote `iotssp` restarts (it loses every association it had with its motes): the
//! next client handshake to a delegated mote succeeds at its first attempt, also when the
//! IoTSSP restarts a second time within the minute during which a mote honours only one
//! ordinary Poke. The restarted IoTSSP pokes its motes with its new epoch; a mote
//! re-associates at once on a Poke of an epoch newer than any it has seen, and the counters
//! say so (the mote's `associations` and `pokes_honoured`, the IoTSSP's `mote_associations`
//! and `pokes_sent`).

use integration_tests::delegation_bed::*;
use std::time::{Duration, Instant, SystemTime};

const HANDSHAKE: Duration = Duration::from_secs(60);
const ECHO: Duration = Duration::from_secs(20);
/// A delegated handshake after a restart, the mote's re-association included.
const RECOVERY: Duration = Duration::from_secs(20);

/// One client, one attempt: the handshake completes and the line comes back. The client
/// then leaves with close_notify, which frees its slot at the mote (a session in use never
/// gives way to the next client).
fn one_attempt(bed: &mut DelegationBed, line: &str) -> Duration {
    let started = Instant::now();
    let mut c = bed.s_client(DELEGATED);
    assert!(
        c.wait_for(ECDHE_OK, HANDSHAKE),
        "no handshake:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    c.send_line(line);
    assert!(
        c.wait_for(line, ECHO),
        "no echo of {line:?}:\n{}\n{}",
        c.output(),
        bed.logs()
    );
    let took = started.elapsed();
    c.close_stdin();
    if c.wait_exit(ECHO).is_none() {
        c.kill();
    }
    took
}

#[test]
fn a_restarted_remote_iotssp_reaches_its_delegated_mote_at_the_first_client() {
    let Some(mut bed) = DelegationBed::start(
        "a_restarted_remote_iotssp_reaches_its_delegated_mote",
        BedOptions::new(Mode::Remote),
    ) else {
        return;
    };
    one_attempt(&mut bed, "ECHO before-restart");
    let before = bed.mote_stats_after(DELEGATED, SystemTime::now());
    for round in 1..=2 {
        // A crash: no goodbye to anyone.
        bed.iotssp.as_mut().expect("iotssp running").kill();
        bed.start_iotssp();
        let took = one_attempt(&mut bed, &format!("ECHO after-restart-{round}"));
        eprintln!("restart {round}: the first client's delegated handshake and echo took {took:?}");
        assert!(
            took < RECOVERY,
            "restart {round}: the first client took {took:?}:\n{}",
            bed.logs()
        );
        let s = bed.mote_stats_until(DELEGATED, |s| {
            stat(s, "associations") >= stat(&before, "associations") + round
        });
        assert_eq!(
            stat(&s, "associations"),
            stat(&before, "associations") + round,
            "restart {round}: one new association each: {s}"
        );
        // Each restart's first Poke came within the minute of the one before: honoured at
        // once for its newer epoch.
        assert_eq!(
            stat(&s, "pokes_honoured"),
            stat(&before, "pokes_honoured") + round,
            "restart {round}: {s}"
        );
        assert_eq!(
            stat(&s, "pokes_new_epoch"),
            stat(&before, "pokes_new_epoch") + round,
            "restart {round}: {s}"
        );
        assert_eq!(
            stat(&s, "sessions_transferred"),
            stat(&before, "sessions_transferred") + round,
            "{s}"
        );
    }
    let line = bed.stop_iotssp();
    assert_eq!(
        field(&line, "mote_associations"),
        Some(1),
        "the last IoTSSP associated once: {line}"
    );
    assert_eq!(
        field(&line, "start_pokes"),
        Some(1),
        "the last IoTSSP poked its mote once when it started: {line}"
    );
    assert!(field(&line, "pokes_sent").is_some_and(|n| n >= 1), "{line}");
    assert_eq!(field(&line, "transfers"), Some(1), "{line}");
}
