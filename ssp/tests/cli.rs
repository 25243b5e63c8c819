//! The `iotssp` binary: `--check-config` accepts a good file and names the bad key of a bad
//! one; the daemon starts on loopback and exits cleanly on SIGTERM with its final counters.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../dtls/tests/data")
        .join(name)
        .display()
        .to_string()
}

fn write_config(dir: &std::path::Path, psk: &str) -> PathBuf {
    let text = format!(
        r#"
name = "ssp-cli"
[redirect]
listen = "[::1]:0"
[[redirect.border_routers]]
name = "br-1"
address = "[::1]:7701"
key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
[mote_link]
bind = "[::1]:0"
[[motes]]
name = "mote-1"
address = "2001:db8:1::2"
certificate_chain = "{}"
private_key = "{}"
psk_identity = "mote-1"
psk = "{psk}"
[trust]
anchors = "{}"
[authorization]
default = "allow"
"#,
        data("server.pem"),
        data("server.key"),
        data("ca.pem")
    );
    let p = dir.join("iotssp.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_config_accepts_a_good_file_and_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path(), "30313233343536373839616263646566");
    let out = Command::new(env!("CARGO_BIN_EXE_iotssp"))
        .arg("--config")
        .arg(&good)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = write_config(dir.path(), "not-hex");
    let out = Command::new(env!("CARGO_BIN_EXE_iotssp"))
        .arg("--config")
        .arg(&bad)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("motes[0].psk"), "{err}");
    assert!(!err.contains("000102030405"), "no secret in errors: {err}");
}

#[test]
fn sigterm_exits_cleanly_with_final_counters() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "30313233343536373839616263646566");
    let child = Command::new(env!("CARGO_BIN_EXE_iotssp"))
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(out.status.success(), "{:?}", out.status);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log.contains("iotssp running"), "{log}");
    assert!(
        log.contains("iotssp stopping") && log.contains("keys_held=0"),
        "{log}"
    );
    assert!(
        !log.contains("000102030405") && !log.contains("3031323334"),
        "no secrets in logs"
    );
}
