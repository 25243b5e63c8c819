//! Runs the built `lowpan-br` binary: `--check-config` on good and bad files (exit codes and
//! messages) and `--print-default-config`. Also makes sure the binary is built for the
//! netns integration tests.

use std::io::Write;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lowpan-br");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    // Keep the caller's LOWPAN_* variables out of the way.
    for (k, _) in std::env::vars() {
        if k.starts_with("LOWPAN_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run lowpan-br")
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn good_config_passes_check() {
    let f = file(
        "[radio]\nkind = \"tcp\"\naddress = \"127.0.0.1:60001\"\n[tun]\nname = \"lp0\"\n[[mote]]\neui64 = \"00:12:4b:00:00:00:00:02\"\nname = \"a\"\n",
    );
    let o = run(
        &["--config", f.path().to_str().unwrap(), "--check-config"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("configuration OK"), "{}", text(&o));
}

#[test]
fn shipped_default_file_passes_check() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/lowpan-br.toml");
    let o = run(&["--config", path, "--check-config"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn bad_values_fail_check_naming_every_key() {
    let f = file("[radio]\nchannel = 40\nbuad = 9600\n[network]\nprefix = \"fd00::/48\"\n");
    let o = run(
        &["--config", f.path().to_str().unwrap(), "--check-config"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    // Unknown keys are reported as such, with the other problems.
    assert!(
        msg.contains("radio.buad") && msg.contains("unknown key"),
        "{msg}"
    );

    let f = file("[radio]\nchannel = 40\n[network]\nprefix = \"fd00::/48\"\n");
    let o = run(
        &["--config", f.path().to_str().unwrap(), "--check-config"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let msg = text(&o);
    assert!(
        msg.contains("radio.channel") && msg.contains("11..=26"),
        "{msg}"
    );
    assert!(
        msg.contains("network.prefix") && msg.contains("/64"),
        "{msg}"
    );
}

#[test]
fn syntax_error_and_missing_file_fail_check() {
    let f = file("[radio\n");
    let o = run(
        &["--config", f.path().to_str().unwrap(), "--check-config"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not valid TOML"), "{}", text(&o));

    let o = run(
        &["--config", "/nonexistent/lowpan-br.toml", "--check-config"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("/nonexistent/lowpan-br.toml"),
        "{}",
        text(&o)
    );
}

#[test]
fn environment_overrides_are_checked_too() {
    let f = file("");
    let p = f.path().to_str().unwrap();
    let o = run(
        &["--config", p, "--check-config"],
        &[("LOWPAN_TUN__MTU", "100")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("tun.mtu"), "{}", text(&o));
    let o = run(
        &["--config", p, "--check-config"],
        &[("LOWPAN_TUN__MTU", "1500")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(
        &["--config", p, "--check-config"],
        &[("LOWPAN_TUN__MTUU", "1500")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("LOWPAN_TUN__MTUU"), "{}", text(&o));
}

#[test]
fn printed_default_config_is_the_shipped_file_and_valid() {
    let o = run(&["--print-default-config"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let printed = String::from_utf8(o.stdout).unwrap();
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/lowpan-br.toml")).unwrap();
    assert_eq!(printed, shipped);
    let f = file(&printed);
    let o = run(
        &["--config", f.path().to_str().unwrap(), "--check-config"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
