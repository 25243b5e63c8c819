//! Runs `lowpan-provision` into temporary directories and checks what it wrote with the
//! tools that will consume it: OpenSSL, the dtls crate's verifier, and the `lowpan-br`,
//! `iotssp` and `motesim` binaries themselves.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use dtls::cert::{CertifiedKey, ChainVerifier, PeerRole};

fn provision(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowpan-provision"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run lowpan-provision")
}

fn provision_ok(out: &Path, extra: &[&str]) -> String {
    let o = provision(out, extra);
    assert!(
        o.status.success(),
        "lowpan-provision {extra:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A binary of this workspace, next to this test's `deps/` folder (`cargo nextest run
/// --workspace` builds them all).
fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("test exe has a folder").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "binary {} is not built: run `cargo nextest run --workspace` (or `cargo build --workspace --bins` \
         with the same target dir) so lowpan-br, iotssp and motesim exist next to the tests",
        path.display()
    );
    path
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn toml_of(dir: &Path, name: &str) -> toml::Table {
    toml::from_str(&read(dir, name)).unwrap_or_else(|e| panic!("{name} is not TOML: {e}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn der_chain(pem: &str) -> Vec<Vec<u8>> {
    CertifiedKey::from_pem(pem, &dummy_key())
        .map(|c| c.chain)
        .unwrap_or_else(|e| panic!("chain: {e:?}"))
}

/// Any valid key: `CertifiedKey::from_pem` is the crate's PEM chain reader.
fn dummy_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    provision_ok(&out, &["--motes", "1", "--kinds", "plain"]);
    read(&out, "client.key")
}

fn check_config(bin: &str, config: &Path) {
    let o = Command::new(workspace_bin(bin))
        .arg("--config")
        .arg(config)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{bin} --check-config refused {}:\n{}{}\n--- file ---\n{}",
        config.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        std::fs::read_to_string(config).unwrap_or_default()
    );
}

#[test]
fn openssl_verifies_every_certificate() {
    if !test_support::require_openssl("openssl_verifies_every_certificate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    provision_ok(&out, &[]);
    let o = Command::new("openssl")
        .current_dir(&out)
        .args([
            "verify",
            "-CAfile",
            "ca.pem",
            "mote-1.pem",
            "mote-2.pem",
            "mote-3.pem",
            "client.pem",
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // Purposes: the client is a TLS client, the motes TLS servers.
    for (purpose, file) in [("sslclient", "client.pem"), ("sslserver", "mote-1.pem")] {
        let o = Command::new("openssl")
            .current_dir(&out)
            .args(["verify", "-purpose", purpose, "-CAfile", "ca.pem", file])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{purpose} {file}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = Command::new("openssl")
        .current_dir(&out)
        .args([
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            "ca.pem",
            "client.pem",
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "the client certificate must not pass as a server certificate"
    );
    // The mote's address is in its SAN.
    let o = Command::new("openssl")
        .current_dir(&out)
        .args([
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-in",
            "mote-1.pem",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("FD00:AAAA:0:0:212:4B00:0:1"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn dtls_verifier_accepts_the_chains_for_their_roles() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    provision_ok(&out, &["--client-cn", "alice.example"]);
    let verifier = ChainVerifier::from_pem(&read(&out, "ca.pem")).unwrap();
    let client = der_chain(&read(&out, "client.pem"));
    verifier
        .verify(&client, PeerRole::Client)
        .expect("client chain for client auth");
    assert!(
        verifier.verify(&client, PeerRole::Server).is_err(),
        "clientAuth only"
    );
    for m in ["mote-1", "mote-2", "mote-3"] {
        let chain = der_chain(&read(&out, &format!("{m}.pem")));
        verifier
            .verify(&chain, PeerRole::Server)
            .unwrap_or_else(|e| panic!("{m}: {e:?}"));
        // The client of its outbound sessions too.
        verifier
            .verify(&chain, PeerRole::Client)
            .unwrap_or_else(|e| panic!("{m} as a client: {e:?}"));
        // The key matches what the IoTSSP and the DCert mote load.
        CertifiedKey::from_pem(
            &read(&out, &format!("{m}.pem")),
            &read(&out, &format!("{m}.key")),
        )
        .unwrap();
    }
    // Another deployment's CA does not vouch for this client.
    let other = dir.path().join("other");
    provision_ok(&other, &[]);
    let foreign = ChainVerifier::from_pem(&read(&other, "ca.pem")).unwrap();
    assert!(foreign.verify(&client, PeerRole::Client).is_err());
}

#[test]
fn secrets_are_private_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    let stdout = provision_ok(&out, &["--iotssp", "remote"]);
    assert_eq!(mode(&out), 0o700, "a directory it creates is private");
    for f in [
        "ca.key",
        "mote-1.key",
        "mote-2.key",
        "mote-3.key",
        "client.key",
        "client.psk",
        "lowpan-br.toml",
        "iotssp.toml",
        "motesim.toml",
    ] {
        assert_eq!(mode(&out.join(f)), 0o600, "{f}");
    }
    for f in ["ca.pem", "mote-1.pem", "client.pem", "README.txt"] {
        assert_eq!(mode(&out.join(f)), 0o644, "{f}");
    }
    let ssp = toml_of(&out, "iotssp.toml");
    let mut secrets = vec![read(&out, "client.psk").trim().to_string()];
    secrets.push(
        ssp["redirect"]["border_routers"][0]["key"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    for m in ssp["motes"].as_array().unwrap() {
        secrets.push(m["psk"].as_str().unwrap().to_string());
    }
    let readme = read(&out, "README.txt");
    for s in &secrets {
        assert!(s.len() >= 32, "{s:?}");
        assert!(!stdout.contains(s.as_str()), "a secret on stdout");
        assert!(
            !readme.contains(s.as_str()),
            "a secret in the world-readable README"
        );
    }
    assert!(!stdout.contains("PRIVATE KEY") && !readme.contains("PRIVATE KEY"));
    // All different: PSKs, client PSK, redirect key.
    let mut unique = secrets.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), secrets.len());
}

#[test]
fn the_configurations_agree_with_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    provision_ok(
        &out,
        &[
            "--motes",
            "4",
            "--kinds",
            "delegated,dcert,cdpsk,delegated",
            "--iotssp",
            "remote",
            "--iotssp-address",
            "[::1]:17700",
            "--br-redirect-address",
            "[::1]:17701",
        ],
    );
    let br = toml_of(&out, "lowpan-br.toml");
    let ssp = toml_of(&out, "iotssp.toml");
    let sim = toml_of(&out, "motesim.toml");
    // The redirect channel: same key and id on both ends, each pointing at the other.
    let remote = &br["iotssp"][0];
    let ssp_br = &ssp["redirect"]["border_routers"][0];
    assert_eq!(remote["key"].as_str(), ssp_br["key"].as_str());
    assert_eq!(remote["key_id"].as_integer(), ssp_br["key_id"].as_integer());
    assert_eq!(
        remote["address"].as_str(),
        ssp["redirect"]["listen"].as_str()
    );
    assert_eq!(
        br["hrm"]["redirect_listen"].as_str(),
        ssp_br["address"].as_str()
    );
    assert_eq!(remote["key"].as_str().unwrap().len(), 64);
    // Motes: EUI-64s, policies, PSKs.
    let motes = br["mote"].as_array().unwrap();
    let devices = sim["device"].as_array().unwrap();
    assert_eq!(motes.len(), 4);
    let ssp_motes = ssp["motes"].as_array().unwrap();
    assert_eq!(
        ssp_motes.len(),
        2,
        "the IoTSSP serves the delegated motes only"
    );
    for (i, (m, d)) in motes.iter().zip(devices).enumerate() {
        let eui = format!("00:12:4b:00:00:00:00:{:02x}", i + 1);
        assert_eq!(m["eui64"].as_str(), Some(eui.as_str()));
        assert_eq!(d["eui64"].as_str(), Some(eui.as_str()));
        assert_eq!(sim["mote_eui64s"][i].as_str(), Some(eui.as_str()));
        let name = m["name"].as_str().unwrap();
        match d["device_kind"].as_str().unwrap() {
            "delegated" => {
                assert_eq!(m["policy"].as_str(), Some("delegate"));
                assert_eq!(m["iotssp"].as_str(), ssp["name"].as_str());
                let s = ssp_motes
                    .iter()
                    .find(|s| s["name"].as_str() == Some(name))
                    .expect("served by the IoTSSP");
                assert_eq!(s["psk"].as_str(), d["psk_hex"].as_str());
                assert_eq!(s["psk_identity"].as_str(), d["psk_identity"].as_str());
                assert_eq!(
                    s["transfer_port"].as_integer(),
                    d["transfer_port"].as_integer()
                );
                assert_eq!(s["psk"].as_str().unwrap().len(), 32);
                assert_eq!(
                    s["address"].as_str(),
                    Some(format!("fd00:aaaa::212:4b00:0:{}", i + 1).as_str())
                );
            }
            "dcert" => {
                assert_eq!(m["policy"].as_str(), Some("passthrough"));
                assert!(
                    d["cert"]
                        .as_str()
                        .unwrap()
                        .ends_with(&format!("{name}.pem"))
                );
            }
            "cdpsk" => {
                assert_eq!(m["policy"].as_str(), Some("passthrough"));
                assert_eq!(d["psk_identity"].as_str(), Some("client.example"));
                assert_eq!(d["psk_hex"].as_str(), Some(read(&out, "client.psk").trim()));
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(ssp["authorization"]["default"].as_str(), Some("deny"));
    let rule = &ssp["authorization"]["rules"][0];
    assert_eq!(rule["client"].as_str(), Some("cn:client.example"));
    assert_eq!(rule["motes"].as_array().unwrap().len(), 2);
    let readme = read(&out, "README.txt");
    assert!(
        readme.contains("openssl s_client -dtls1_2 -cipher ECDHE-ECDSA-AES128-CCM8 -cert"),
        "{readme}"
    );
    assert!(readme.contains("-psk_identity client.example"), "{readme}");
    assert!(
        readme.contains("[fd00:aaaa::212:4b00:0:1]:5684"),
        "{readme}"
    );
}

#[test]
fn lowpan_br_accepts_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    for (sub, args) in [
        ("attached", &[][..]),
        (
            "remote",
            &[
                "--iotssp",
                "remote",
                "--radio",
                "serial:/dev/ttyUSB1",
                "--prefix",
                "2001:db8:1::/64",
            ][..],
        ),
    ] {
        let out = dir.path().join(sub);
        provision_ok(&out, args);
        check_config("lowpan-br", &out.join("lowpan-br.toml"));
    }
}

#[test]
fn iotssp_accepts_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    for (sub, args) in [
        ("attached", &[][..]),
        (
            "remote",
            &["--iotssp", "remote", "--motes", "3", "--kinds", "delegated"][..],
        ),
        (
            "outbound",
            &["--outbound", "coaps://[2001:db8::10]:5684/report"][..],
        ),
        ("keyless", &["--keyless"][..]),
    ] {
        let out = dir.path().join(sub);
        provision_ok(&out, args);
        check_config("iotssp", &out.join("iotssp.toml"));
    }
}

/// `--keyless`: the IoTSSP's configuration names each delegated mote's certificate and no
/// private key; the key is in motesim's configuration alone.
#[test]
fn keyless_motes_keep_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    provision_ok(&out, &["--keyless", "--motes", "2", "--kinds", "delegated"]);
    let iotssp = toml_of(&out, "iotssp.toml");
    let motes = iotssp["motes"].as_array().unwrap();
    assert_eq!(motes.len(), 2);
    for m in motes {
        assert_eq!(m["key"].as_str(), Some("mote"), "{m:?}");
        assert!(m.get("private_key").is_none(), "{m:?}");
        assert!(m.get("certificate_chain").is_some(), "{m:?}");
    }
    let motesim = toml_of(&out, "motesim.toml");
    for d in motesim["device"].as_array().unwrap() {
        let key = d["key"].as_str().expect("the mote's key");
        assert!(key.ends_with(".key") && Path::new(key).exists(), "{d:?}");
    }
}

/// `--outbound`: a server certificate for its name that OpenSSL accepts for a TLS server of
/// that name; every delegated mote's policy names the server by that name and by the
/// SHA-256 of server.pub.pem, and motesim's delegated motes report to the URI.
#[test]
fn outbound_server_is_provisioned() {
    if !test_support::require_openssl("outbound_server_is_provisioned") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    let uri = "coaps://[2001:db8::10]:5700/report";
    provision_ok(
        &out,
        &[
            "--motes",
            "4",
            "--kinds",
            "delegated,dcert",
            "--outbound",
            uri,
            "--outbound-name",
            "coap.example.org",
        ],
    );
    assert_eq!(mode(&out.join("server.key")), 0o600);
    let o = Command::new("openssl")
        .args([
            "verify",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "coap.example.org",
            "-CAfile",
        ])
        .arg(out.join("ca.pem"))
        .arg(out.join("server.pem"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl pkey -pubin -in '{}' -outform DER | sha256sum",
            out.join("server.pub.pem").display()
        ))
        .output()
        .unwrap();
    let rpk = format!(
        "rpk-sha256:{}",
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    );
    let iotssp = toml_of(&out, "iotssp.toml");
    let motes = iotssp["motes"].as_array().unwrap();
    assert_eq!(motes.len(), 2);
    for m in motes {
        let s = &m["outbound"].as_array().unwrap()[0];
        assert_eq!(s["address"].as_str(), Some("2001:db8::10"));
        assert_eq!(s["port"].as_integer(), Some(5700));
        assert_eq!(s["name"].as_str(), Some("coap.example.org"));
        assert_eq!(s["raw_public_key"].as_str(), Some(rpk.as_str()));
    }
    let motesim = toml_of(&out, "motesim.toml");
    for d in motesim["device"].as_array().unwrap() {
        let delegated = d["device_kind"].as_str() == Some("delegated");
        assert_eq!(
            d.get("outbound").and_then(|v| v.as_str()),
            delegated.then_some(uri),
            "{d}"
        );
    }
    let readme = read(&out, "README.txt");
    assert!(
        readme.contains("openssl s_server -dtls1_2 -6 -accept 5700"),
        "{readme}"
    );
}

#[test]
fn motesim_starts_with_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    provision_ok(
        &out,
        &[
            "--motes",
            "4",
            "--kinds",
            "delegated,dcert,cdpsk,plain",
            "--outbound",
            "coaps://[2001:db8::10]/report",
        ],
    );
    let stats = dir.path().join("stats.json");
    // motesim has no dry run: it validates everything (PEM files included) before it serves,
    // so a run that is still up once it has written its stats accepted the file.
    let mut child = Command::new(workspace_bin("motesim"))
        .args(["--tcp-listen", "127.0.0.1:0", "--config"])
        .arg(out.join("motesim.toml"))
        .arg("--stats-file")
        .arg(&stats)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        if let Some(status) = child.try_wait().unwrap() {
            let o = child.wait_with_output().unwrap();
            panic!(
                "motesim exited ({status}) on the generated configuration: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        if let Ok(t) = std::fs::read_to_string(&stats)
            && t.trim_end().ends_with('}')
        {
            break t;
        }
        assert!(Instant::now() < deadline, "motesim wrote no stats");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    for kind in ["delegated", "dcert", "cdpsk", "plain"] {
        assert!(
            text.contains(&format!("\"{kind}\"")),
            "{kind} missing from {text}"
        );
    }
}

#[test]
fn refuses_to_overwrite_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deploy");
    provision_ok(&out, &[]);
    let ca = read(&out, "ca.pem");
    let o = provision(&out, &[]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(read(&out, "ca.pem"), ca, "nothing was replaced");
    // A foreign file in an existing directory also counts.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "x").unwrap();
    assert!(!provision(&other, &[]).status.success());
    // --force replaces, and a loosened key file comes back 0600.
    std::fs::set_permissions(
        out.join("client.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    provision_ok(&out, &["--force"]);
    assert_ne!(read(&out, "ca.pem"), ca, "a new CA");
    assert_eq!(mode(&out.join("client.key")), 0o600);
}

#[test]
fn bad_arguments_are_refused_with_the_option() {
    let dir = tempfile::tempdir().unwrap();
    for (args, option) in [
        (&["--motes", "0"][..], "--motes"),
        (&["--kinds", "delegated,bogus"][..], "--kinds"),
        (&["--prefix", "fd00::/48"][..], "--prefix"),
        (&["--iotssp", "sideways"][..], "--iotssp"),
        (&["--client-cn", "evil,CN=x"][..], "--client-cn"),
        (&["--radio", "carrier-pigeon"][..], "--radio"),
    ] {
        let out = dir.path().join("never");
        let o = provision(&out, args);
        assert!(!o.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(option), "{args:?}: {err}");
        assert!(
            !out.exists(),
            "{args:?}: nothing is created for bad arguments"
        );
    }
}
