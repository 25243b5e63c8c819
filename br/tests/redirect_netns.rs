//! Handshake redirection end to end, as an operator runs it: the real `lowpan-br` with an
//! attached IoTSSP, the real `motesim` with a delegated mote (slip-radio over TCP), and the
//! real `openssl s_client` with a client certificate in an "internet" network namespace.
//! Certificates are made by the test with the openssl CLI.
//!
//! Needs root (network namespaces, veth, TUN): skips with a printed reason otherwise, and
//! fails instead when CI=true.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PREFIX: &str = "fd00:aaaa::/64";
const BR_ADDR: &str = "fd00:aaaa::1";
/// Mote 1 of motesim: EUI-64 00:12:4b:00:00:00:00:01, U/L bit flipped in the IID.
const MOTE: &str = "fd00:aaaa::212:4b00:0:1";
const RADIO_EUI64: &str = "00:12:4b:00:00:00:ff:01";
const PSK_HEX: &str = "30313233343536373839616263646566";

use netbed::NetNs;
use test_support::{require_openssl, require_root};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh(dir: &Path, script: &str) {
    run(Command::new("sh").arg("-c").arg(script).current_dir(dir));
}

/// A child process (output in a file) terminated on drop.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).unwrap();
        cmd.stdout(f.try_clone().unwrap())
            .stderr(f)
            .stdin(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc { name, child, log }
    }
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn wait_for(&mut self, text: &str, limit: Duration) {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.output().contains(text) {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "{} exited ({st}) before printing {text:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} did not print {text:?} within {limit:?}:\n{}",
            self.name,
            self.output()
        );
    }
    fn stop(&mut self) {
        netbed::stop_child(&mut self.child);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: cargo build -p lowpan-br -p motesim --bins first",
        p.display()
    );
    p
}

/// CA, the mote's certificate (held by the IoTSSP) and the client's, as in dtls/tests/data/gen.sh.
fn make_pki(dir: &Path) {
    sh(
        dir,
        r#"set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
leaf_ext() { printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' "$1"; }
key ca; openssl req -new -x509 -key ca.key -subj "/CN=Test Root CA" -days 30 -sha256 -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
key mote; openssl req -new -key mote.key -subj "/CN=mote-1" -out mote.csr
leaf_ext serverAuth > mote.ext
openssl x509 -req -in mote.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 -extfile mote.ext -out mote.pem 2>/dev/null
key client; openssl req -new -key client.key -subj "/CN=client.example" -out client.csr
leaf_ext clientAuth > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 -extfile client.ext -out client.pem 2>/dev/null
"#,
    );
}

/// The mote's security counters from motesim's stats JSON.
fn mote_stats(path: &Path) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    fn find(v: &serde_json::Value) -> Option<serde_json::Value> {
        match v {
            serde_json::Value::Object(m) if m.contains_key("sessions_transferred") => {
                Some(v.clone())
            }
            serde_json::Value::Object(m) => m.values().find_map(find),
            serde_json::Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    find(&v)
}

fn counter(s: &serde_json::Value, k: &str) -> u64 {
    s.get(k)
        .and_then(|v| v.as_u64())
        .unwrap_or_else(|| panic!("no {k} in {s}"))
}

#[test]
fn openssl_client_gets_a_delegated_session_through_lowpan_br_with_an_attached_iotssp() {
    let test = "openssl_client_gets_a_delegated_session_through_lowpan_br_with_an_attached_iotssp";
    if !require_root(test) || !require_openssl(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_pki(d);

    let inet = NetNs::new("rdi").unwrap();
    let br = NetNs::new("rdb").unwrap();
    netbed::veth(&inet, "fd00:beef::2/64", &br, "fd00:beef::1/64").unwrap();
    inet.ip(&["-6", "route", "add", PREFIX, "via", "fd00:beef::1"])
        .unwrap();
    br.sysctl("net.ipv6.conf.all.forwarding", "1").unwrap();

    let stats = d.join("motesim-stats.json");
    let mut motesim = br.command(bin("motesim"));
    motesim
        .args([
            "--tcp-listen",
            "127.0.0.1:60001",
            "--radio-eui64",
            RADIO_EUI64,
            "--motes",
            "1",
            "--prefix",
            PREFIX,
        ])
        .args([
            "--device-kind",
            "delegated",
            "--psk-identity",
            "mote-1",
            "--psk-hex",
            PSK_HEX,
        ])
        .arg("--stats-file")
        .arg(&stats);
    let mut motesim = Proc::spawn("motesim", motesim, d);
    motesim.wait_for("listening", Duration::from_secs(20));

    let ssp = d.join("iotssp.toml");
    std::fs::write(
        &ssp,
        format!(
            "name = \"attached\"\n[[motes]]\nname = \"mote-1\"\naddress = \"{MOTE}\"\n\
             certificate_chain = \"mote.pem\"\nprivate_key = \"mote.key\"\npsk_identity = \"mote-1\"\npsk = \"{PSK_HEX}\"\n\
             [trust]\nanchors = \"ca.pem\"\n[authorization]\n[[authorization.rules]]\nclient = \"cn:client.example\"\nmotes = [\"mote-1\"]\n"
        ),
    )
    .unwrap();
    let tun = format!("rdt{}", std::process::id() % 100_000);
    let br_conf = d.join("lowpan-br.toml");
    std::fs::write(
        &br_conf,
        format!(
            "[radio]\nkind = \"tcp\"\naddress = \"127.0.0.1:60001\"\n[tun]\nname = \"{tun}\"\n\
             [network]\nprefix = \"{PREFIX}\"\naddress = \"{BR_ADDR}\"\n\
             [[mote]]\neui64 = \"00:12:4b:00:00:00:00:01\"\nname = \"mote1\"\npolicy = \"delegate\"\niotssp = \"local\"\n\
             [[iotssp]]\nname = \"local\"\nattached = true\nconfig = \"{}\"\n",
            ssp.display()
        ),
    )
    .unwrap();
    run(Command::new(bin("lowpan-br"))
        .arg("--config")
        .arg(&br_conf)
        .arg("--check-config"));
    let mut border = br.command(bin("lowpan-br"));
    border
        .arg("--config")
        .arg(&br_conf)
        .env("RUST_LOG", "info,ssp=debug,lowpan_br=debug");
    let mut border = Proc::spawn("lowpan-br", border, d);
    border.wait_for("own link address", Duration::from_secs(20));

    let mut s_client = inet.command("openssl");
    s_client
        .args(["s_client", "-dtls1_2", "-cipher", "ECDHE-ECDSA-AES128-CCM8"])
        .args([
            "-cert",
            "client.pem",
            "-key",
            "client.key",
            "-CAfile",
            "ca.pem",
        ])
        .args(["-connect", &format!("[{MOTE}]:5684")])
        .current_dir(d);
    let log = d.join("s_client.log");
    let f = std::fs::File::create(&log).unwrap();
    s_client
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .stdin(Stdio::piped());
    let mut client = s_client.spawn().unwrap();
    let end = Instant::now() + Duration::from_secs(40);
    let mut text = String::new();
    while Instant::now() < end {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Cipher is ECDHE-ECDSA-AES128-CCM8")
            || client.try_wait().ok().flatten().is_some()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Application data over the transferred session: a CoAP GET line (the mote's record
    // layer decrypts it; whatever it answers, it came through the mote).
    if let Some(stdin) = client.stdin.as_mut() {
        let _ = stdin.write_all(b"\x40\x01\x12\x34\xbb.well-known\x04core\n");
    }
    std::thread::sleep(Duration::from_secs(2));
    let _ = client.kill();
    let _ = client.wait();
    assert!(
        text.contains("Cipher is ECDHE-ECDSA-AES128-CCM8") && !text.contains("alert"),
        "handshake did not complete:\n{text}\n--- lowpan-br:\n{}\n--- motesim:\n{}",
        border.output(),
        motesim.output()
    );

    // motesim writes its stats every second.
    let end = Instant::now() + Duration::from_secs(5);
    let mut s = None;
    while Instant::now() < end {
        s = mote_stats(&stats);
        if s.as_ref()
            .is_some_and(|s| counter(s, "sessions_transferred") >= 1)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let s = s.expect("motesim stats");
    assert!(counter(&s, "sessions_transferred") >= 1, "{s}");
    assert_eq!(counter(&s, "ecc_operations"), 0, "{s}");
    assert_eq!(counter(&s, "certificates_seen"), 0, "{s}");

    border.stop();
    let out = border.output();
    let line = out
        .lines()
        .find(|l| l.contains("final counters"))
        .unwrap_or_else(|| panic!("no final counters:\n{out}"));
    assert!(
        line.contains("iotssp.local.app_data_records_received=0"),
        "{line}"
    );
    assert!(line.contains("iotssp.local.keys_held=0"), "{line}");
    assert!(
        line.contains("redirection.transferred=1"),
        "{line}\n--- s_client:\n{text}\n--- motesim:\n{}\n--- lowpan-br:\n{out}",
        motesim.output()
    );
    assert!(line.contains("hrm.app_data_to_ssp=0"), "{line}");
    motesim.stop();
}
