//! The container packaging for real: tests/packaging/docker.sh builds the image from the
//! unmodified Dockerfile against local stand-ins of its base images, brings up compose.yaml
//! (provision, motesim, lowpan-br, iotssp and an Internet client that runs a delegated DTLS
//! handshake and a CoAP GET with openssl), checks the client's result, the logs and a ping,
//! and tears it down.
//!
//! Heavy (an in-container release build, Debian's archive and the crate registry on the first
//! run): runs under CI=true (or with LOWPAN_PACKAGING_TESTS=1 elsewhere); then it needs root and
//! never skips.

use integration_tests::require_root;
use std::path::Path;
use std::process::Command;

#[test]
fn compose_runs_a_delegated_handshake() {
    let test = "compose_runs_a_delegated_handshake";
    if !integration_tests::packaging_tests_enabled(test) {
        return;
    }
    if !require_root(test) {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root");
    let status = Command::new("bash")
        .arg(repo.join("tests/packaging/docker.sh"))
        .status()
        .expect("run tests/packaging/docker.sh");
    assert!(
        status.success(),
        "tests/packaging/docker.sh failed ({status}); its output is above"
    );
}
