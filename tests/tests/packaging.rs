//! Static checks of what ships around the binaries: the Docker image and compose file must
//! name programs this workspace builds, and the configuration files they carry must pass
//! the daemons' own `--check-config`. (No Docker engine runs here; this is what can be
//! verified without one.)

use integration_tests::workspace_bin;
use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
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
        assert!(
            installed.contains(&bin),
            "Dockerfile does not install {bin}"
        );
    }
    for bin in &installed {
        // Panics with a clear message when the workspace has no such binary.
        workspace_bin(bin);
    }
}

#[test]
fn compose_services_use_shipped_programs_and_configs() {
    let compose = read("compose.yaml");
    assert!(
        compose.contains("/usr/local/bin/motesim"),
        "compose runs motesim"
    );
    assert!(
        compose.contains("/usr/local/bin/iotssp"),
        "compose runs the remote IoTSSP"
    );
    assert!(
        read("docker/lowpan-br.sh").contains("/var/lib/lowpan/prov/lowpan-br.toml"),
        "compose runs lowpan-br with the provisioned config"
    );
    assert!(
        compose.contains("NET_ADMIN") && compose.contains("/dev/net/tun"),
        "lowpan-br needs CAP_NET_ADMIN and the TUN device"
    );
    // One image, built once: a single `build:`, and every service runs that image.
    assert_eq!(
        compose.matches("build:").count(),
        1,
        "compose builds the image once"
    );
    let services = compose
        .lines()
        .skip_while(|l| *l != "services:")
        .take_while(|l| *l != "volumes:")
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':'))
        .count();
    assert!(
        services >= 5,
        "compose has provision, motesim, lowpan-br, iotssp and client"
    );
    assert_eq!(
        compose.matches("image: lowpan-br:local").count(),
        services,
        "every service runs lowpan-br:local"
    );
    // Every script a service runs is in docker/ (the image copies it to /etc/lowpan/).
    for script in compose
        .split(['"', ' ', ',', '[', ']'])
        .filter_map(|w| w.strip_prefix("/etc/lowpan/"))
    {
        assert!(
            repo().join("docker").join(script).is_file(),
            "compose runs /etc/lowpan/{script}, not in docker/"
        );
    }
    // The image's default command runs the shipped configuration (copied to /etc/lowpan/);
    // it must be valid.
    assert!(
        read("Dockerfile").contains("/etc/lowpan/lowpan-br.toml"),
        "the image runs the shipped config"
    );
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
    assert!(
        out.status.success(),
        "br/lowpan-br.toml rejected: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fuzz targets live outside the workspace (cargo-fuzz builds them with nightly and
/// sanitizers), so nothing else notices when a change to a crate breaks one: two did not
/// compile for a whole session. Type-check every target with the ordinary toolchain, and
/// make sure every file in fuzz/fuzz_targets is a declared target.
#[test]
fn every_fuzz_target_is_declared_and_compiles() {
    let manifest = read("fuzz/Cargo.toml");
    let dir = repo().join("fuzz/fuzz_targets");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".rs"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "fuzz targets: {files:?}");
    for f in &files {
        let path = format!("path = \"fuzz_targets/{f}\"");
        assert!(
            manifest.contains(&path),
            "fuzz/Cargo.toml declares no [[bin]] with {path}"
        );
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("fuzz-check");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--quiet", "--bins", "--manifest-path"])
        .arg(repo().join("fuzz/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .expect("run cargo check on fuzz/");
    assert!(
        out.status.success(),
        "the fuzz targets do not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
