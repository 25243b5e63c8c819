//! `test-support`: the guards of tests that need something from the machine: root and a
//! TUN device (network namespaces, veth pairs, TUN), or an external program (`openssl`).
//!
//! What it is for: one rule everywhere. Without the requirement a test prints why it skips
//! and returns; under CI (`CI=true` or `CI=1`) a missing requirement fails the test, so
//! nothing passes silently without having run.
//!
//! What it must never do: be a dependency of anything but tests; change the machine.

use std::path::Path;
use std::process::{Command, Stdio};

/// Whether the tests run under CI (`CI=true` or `CI=1`), where skipping is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether the heavy packaging tests (systemd in a container, the image and compose) run:
/// always under CI, elsewhere only with `LOWPAN_PACKAGING_TESTS=1`, since they take a
/// machine's cores for many minutes. Otherwise it prints how to run them and returns `false`.
pub fn packaging_tests_enabled(test: &str) -> bool {
    if under_ci() || std::env::var("LOWPAN_PACKAGING_TESTS").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!(
        "SKIP {test}: a packaging test; it runs under CI=true or with LOWPAN_PACKAGING_TESTS=1"
    );
    false
}

/// Whether `test` may create network namespaces, veth pairs and TUN devices: root and
/// `/dev/net/tun`. Otherwise it prints why it skips (returns `false`), or panics under CI.
pub fn require_root(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let tun = Path::new("/dev/net/tun").exists();
    if root && tun {
        return true;
    }
    let why = if !root {
        "not running as root"
    } else {
        "/dev/net/tun is missing"
    };
    skip_or_fail(
        test,
        &format!(
            "{why}: it needs root and /dev/net/tun to create network namespaces, veth pairs and a TUN \
             device (run the tests as root, or with CAP_NET_ADMIN and CAP_SYS_ADMIN)"
        ),
    )
}

/// Whether `program` runs (`program version_arg` exits 0). Otherwise it prints why `test`
/// skips (returns `false`), or panics under CI.
pub fn require_program(test: &str, program: &str, version_arg: &str) -> bool {
    let runs = Command::new(program)
        .arg(version_arg)
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    runs || skip_or_fail(
        test,
        &format!("{program} not found (`{program} {version_arg}` does not run)"),
    )
}

/// `openssl` (the interop tests' peer, the provisioning checks).
pub fn require_openssl(test: &str) -> bool {
    require_program(test, "openssl", "version")
}

fn skip_or_fail(test: &str, why: &str) -> bool {
    if under_ci() {
        panic!("{test}: {why}; CI forbids skipping");
    }
    eprintln!("SKIP {test}: {why}");
    false
}
