//! Keyless delegation end to end (docs/mote-association.md, SignRequest): `lowpan-provision
//! --keyless` gives the IoTSSP the delegated mote's certificate only and motesim the mote's
//! key; the real `openssl s_client -dtls1_2` completes a delegated handshake whose
//! ServerKeyExchange the mote itself signed over its association, and gets its echo back.
//! The IoTSSP's configuration and counters show that it holds no private key of the mote,
//! and the mote's counters show exactly one ECC signature.

use integration_tests::delegation_bed::*;
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
    let mote = iotssp_toml.split("[[motes]]").nth(1).expect("a [[motes]] table");
    assert!(mote.contains("key = \"mote\"") && !mote.contains("private_key"), "{iotssp_toml}");
    let motesim_toml = std::fs::read_to_string(bed.file("motesim.toml")).expect("motesim.toml");
    assert!(motesim_toml.contains(".key\""), "motesim has the mote's key:\n{motesim_toml}");

    let mut c = bed.s_client(DELEGATED);
    let ok = c.wait_for(ECDHE_OK, HANDSHAKE);
    assert!(ok, "keyless delegated handshake did not complete:\n{}\n{}", c.output(), bed.logs());
    assert!(c.output().contains("Verify return code: 0 (ok)"), "the mote's certificate did not verify:\n{}", c.output());
    c.send_line("ECHO keyless-1");
    let echoed = c.wait_for("ECHO keyless-1", ECHO);
    assert!(echoed, "no echo from the keyless mote:\n{}\n{}", c.output(), bed.logs());

    let m = bed.metrics();
    // Present (not merely absent and read as 0), as a counter or a gauge.
    let gauge = |k: &str| {
        m.get(&format!("lowpan_br_iotssp_total{{iotssp=\"{IOTSSP_NAME}\",counter=\"{k}\"}}"))
            .or_else(|| m.get(&format!("lowpan_br_iotssp_{k}{{iotssp=\"{IOTSSP_NAME}\"}}")))
            .copied()
    };
    assert_eq!(gauge("private_keys_held"), Some(0), "the IoTSSP holds a private key: {m:?}");
    assert_eq!(gauge("keyless_motes"), Some(1), "{m:?}");
    assert_eq!(bed.iotssp_counter("keyless_signatures"), 1);
    assert_eq!(bed.iotssp_counter("keys_held"), 0);
    let s = bed.mote_stats_until(DELEGATED, |s| stat(s, "app_data_in") >= 1 && stat(s, "ecc_sign") >= 1);
    assert_eq!(stat(&s, "ecc_sign"), 1, "the mote signed once: {s}");
    assert_eq!(stat(&s, "ecc_operations"), 1, "one ECC operation, the signature: {s}");
    assert_eq!(stat(&s, "certificates_seen"), 0, "{s}");
    assert!(stat(&s, "sessions_transferred") >= 1, "{s}");
    c.kill();
}
