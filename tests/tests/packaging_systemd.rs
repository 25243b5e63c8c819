//! The systemd units under real systemd: tests/packaging/systemd.sh boots Debian under
//! systemd-nspawn with this build's binaries and systemd/*.service, and checks readiness
//! (READY=1 only with TUN and radio up, STATUS= while waiting), ping, delegated handshakes
//! with openssl through lowpan-br.service (attached IoTSSP) and iotssp.service (remote),
//! restart on failure, the watchdog, a clean stop, `systemd-analyze verify` and
//! `systemd-analyze security` under the ceilings the script sets and justifies.
//!
//! Heavy (a container boot, Debian's archive on the first run): runs when
//! CI=true (or LOWPAN_PACKAGING_TESTS=1 elsewhere); then it needs root and never skips.

use integration_tests::{require_root, workspace_bin};
use std::path::Path;
use std::process::Command;

#[test]
fn units_run_under_systemd_in_a_container() {
    let test = "units_run_under_systemd_in_a_container";
    if !integration_tests::packaging_tests_enabled(test) {
        return;
    }
    if !require_root(test) {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root");
    let bin_dir = workspace_bin("lowpan-br")
        .parent()
        .expect("binary folder")
        .to_path_buf();
    for bin in ["motesim", "iotssp", "lowpan-provision"] {
        workspace_bin(bin);
    }
    let status = Command::new("bash")
        .arg(repo.join("tests/packaging/systemd.sh"))
        .arg(&bin_dir)
        .status()
        .expect("run tests/packaging/systemd.sh");
    assert!(
        status.success(),
        "tests/packaging/systemd.sh failed ({status}); its output is above"
    );
}
