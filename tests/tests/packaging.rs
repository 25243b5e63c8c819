//! Static checks of what ships around the binaries: the Docker image and compose file must
//! name programs this workspace builds, and the configuration files they carry must pass
//! the daemons' own `--check-config`. (No Docker engine runs here; this is what can be
//! verified without one.)

use integration_tests::workspace_bin;
use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

#[test]
fn dockerfile_installs_binaries_the_workspace_builds() {
    let dockerfile = read("Dockerfile");
    let installed: Vec<&str> = dockerfile
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("target/release/"))
        .collect();
    assert!(installed.len() >= 3, "Dockerfile installs {installed:?}");
    for bin in ["lowpan-br", "motesim", "iotssp"] {
        assert!(installed.contains(&bin), "Dockerfile does not install {bin}");
    }
    for bin in &installed {
        // Panics with a clear message when the workspace has no such binary.
        workspace_bin(bin);
    }
}

#[test]
fn compose_services_use_shipped_programs_and_configs() {
    let compose = read("compose.yaml");
    assert!(compose.contains("/usr/local/bin/motesim"), "compose runs motesim");
    assert!(compose.contains("/etc/lowpan/lowpan-br.toml"), "compose runs lowpan-br with the shipped config");
    assert!(compose.contains("NET_ADMIN") && compose.contains("/dev/net/tun"), "lowpan-br needs CAP_NET_ADMIN and the TUN device");
    // The shipped configuration (copied to /etc/lowpan/) must be valid.
    let out = Command::new(workspace_bin("lowpan-br"))
        .arg("--config")
        .arg(repo().join("docker/lowpan-br.toml"))
        .arg("--check-config")
        .output()
        .expect("run lowpan-br");
    assert!(
        out.status.success(),
        "docker/lowpan-br.toml rejected: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shipped_default_config_is_valid() {
    let out = Command::new(workspace_bin("lowpan-br"))
        .arg("--config")
        .arg(repo().join("br/lowpan-br.toml"))
        .arg("--check-config")
        .output()
        .expect("run lowpan-br");
    assert!(out.status.success(), "br/lowpan-br.toml rejected: {}", String::from_utf8_lossy(&out.stderr));
}
