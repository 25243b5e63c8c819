//! The handshake-redirection topology, configured by the real `lowpan-provision`:
//!
//! ```text
//!  [inet netns] fd00:beef::2 <--veth--> fd00:beef::1 [br netns] fd00:cccc::1 <--veth--> fd00:cccc::2 [ssp netns]
//!   openssl s_client                     lowpan-br (TUN fd00:aaaa::1/64,                  iotssp (remote mode)
//!                                          attached IoTSSP in attached mode)
//!                                          | slip-radio over TCP 127.0.0.1:60001
//!                                        motesim: mote-1 delegated, mote-2 DCert, mote-3 CDPSK
//! ```
//!
//! The remote IoTSSP reaches its motes through the border router like any host, and talks to
//! `lowpan-br` over the authenticated redirect channel (UDP 7700 <-> 7701). Everything a bed
//! creates is owned by a guard, so a failing test leaves nothing behind.

use crate::testbed::{INET_ADDR, PREFIX, UPLINK_ADDR, eui64_text, mote_addr, mote_eui64};
use crate::{Daemon, NetNs, eventually, require_root, run, scratch, unique, veth};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub const SSP_ADDR: &str = "fd00:cccc::2";
pub const BR_SSP_SIDE: &str = "fd00:cccc::1";
pub const IOTSSP_REDIRECT: &str = "[fd00:cccc::2]:7700";
pub const BR_REDIRECT: &str = "[fd00:cccc::1]:7701";
/// lowpan-br's Prometheus endpoint, inside the border router's namespace.
pub const METRICS: &str = "127.0.0.1:9464";
/// The IoTSSP's name as lowpan-provision writes it.
pub const IOTSSP_NAME: &str = "iotssp-1";

/// GnuTLS's priority string for raw public keys both ways and no X.509.
pub const GNUTLS_RAW_KEYS_ONLY: &str =
    "NORMAL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK:-CTYPE-CLI-X509:-CTYPE-SRV-X509";

/// The provisioned motes: 1 delegated, 2 DCert, 3 CDPSK.
pub const DELEGATED: u8 = 1;
pub const DCERT: u8 = 2;
pub const CDPSK: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Attached,
    Remote,
}

#[derive(Clone, Debug)]
pub struct BedOptions {
    pub mode: Mode,
    /// Extra TOML appended to iotssp.toml (e.g. `[timers]`).
    pub iotssp_extra: String,
    /// Keys put into every `[[motes]]` table of iotssp.toml (e.g.
    /// `resumption_lifetime_secs = 3600`).
    pub iotssp_mote_extra: String,
    /// Start motesim (false: the motes never answer).
    pub motesim: bool,
    /// Top-level keys put before motesim.toml's tables (defaults for every device).
    pub motesim_defaults: String,
    /// Extra TOML appended to lowpan-br.toml (e.g. `[rpl]`).
    pub br_extra: String,
    /// Provision with `--keyless`: the delegated mote keeps its private key (only
    /// motesim.toml has it) and signs its handshakes when its IoTSSP asks.
    pub keyless: bool,
}

impl BedOptions {
    pub fn new(mode: Mode) -> Self {
        BedOptions {
            mode,
            iotssp_extra: String::new(),
            iotssp_mote_extra: String::new(),
            motesim: true,
            motesim_defaults: String::new(),
            br_extra: String::new(),
            keyless: false,
        }
    }
}

/// Fields drop in order: the daemons stop before their namespaces go.
pub struct DelegationBed {
    pub iotssp: Option<Daemon>,
    pub border_router: Daemon,
    pub motesim: Option<Daemon>,
    pub ssp: Option<NetNs>,
    pub inet: NetNs,
    pub br: NetNs,
    /// The provisioned files (CA, certificates, keys, configurations).
    pub deploy: PathBuf,
    pub dir: tempfile::TempDir,
    pub opts: BedOptions,
}

impl DelegationBed {
    /// Builds the topology, or returns `None` (after printing why) when not root or without
    /// `openssl`, outside CI.
    pub fn start(test: &str, opts: BedOptions) -> Option<DelegationBed> {
        if !require_root(test) || !test_support::require_openssl(test) {
            return None;
        }
        let dir = scratch();
        let deploy = dir.path().join("deploy");
        provision(&deploy, opts.mode, opts.keyless);
        let tun = unique("ldt");
        let br_conf = deploy.join("lowpan-br.toml");
        let text = std::fs::read_to_string(&br_conf).expect("read lowpan-br.toml");
        assert!(
            text.contains("name = \"lowpan0\""),
            "provisioned TUN name changed:\n{text}"
        );
        let text = text.replace("name = \"lowpan0\"", &format!("name = \"{tun}\""));
        let control = dir.path().join("br-control.sock");
        crate::write(
            &br_conf,
            &format!(
                "{text}\n[metrics]\nlisten = \"{METRICS}\"\n\n[control]\nsocket = \"{}\"\n\n{}",
                control.display(),
                opts.br_extra
            ),
        );
        {
            let p = deploy.join("iotssp.toml");
            let mut text = std::fs::read_to_string(&p).expect("read iotssp.toml");
            if !opts.iotssp_mote_extra.is_empty() {
                assert!(
                    text.contains("[[motes]]\n"),
                    "no [[motes]] in iotssp.toml:\n{text}"
                );
                text = text.replace(
                    "[[motes]]\n",
                    &format!("[[motes]]\n{}\n", opts.iotssp_mote_extra),
                );
            }
            let control = dir.path().join("iotssp-control.sock");
            let control = if opts.iotssp_extra.contains("[control]") {
                String::new()
            } else {
                format!("\n[control]\nsocket = \"{}\"\n", control.display())
            };
            crate::write(&p, &format!("{text}\n{}\n{control}", opts.iotssp_extra));
        }
        if !opts.motesim_defaults.is_empty() {
            let p = deploy.join("motesim.toml");
            let text = std::fs::read_to_string(&p).expect("read motesim.toml");
            crate::write(&p, &format!("{}\n{text}", opts.motesim_defaults));
        }
        run(
            &workspace_bin_str("lowpan-br"),
            ["--config", path_str(&br_conf), "--check-config"],
        );

        let inet = NetNs::new("ldi");
        let br = NetNs::new("ldb");
        veth(
            &inet,
            &format!("{INET_ADDR}/64"),
            &br,
            &format!("{UPLINK_ADDR}/64"),
        );
        inet.ip(&["-6", "route", "add", PREFIX, "via", UPLINK_ADDR]);
        br.sysctl("net.ipv6.conf.all.forwarding", "1");
        let ssp = (opts.mode == Mode::Remote).then(|| {
            let ssp = NetNs::new("lds");
            veth(
                &br,
                &format!("{BR_SSP_SIDE}/64"),
                &ssp,
                &format!("{SSP_ADDR}/64"),
            );
            ssp.ip(&["-6", "route", "add", PREFIX, "via", BR_SSP_SIDE]);
            ssp
        });

        let motesim = opts
            .motesim
            .then(|| start_motesim(&br, &deploy, dir.path()));
        let mut border_router = {
            let mut cmd = br.command(crate::workspace_bin("lowpan-br"));
            cmd.arg("--config").arg(&br_conf).env("RUST_LOG", "info");
            Daemon::spawn("lowpan-br", cmd)
        };
        if opts.motesim {
            border_router.wait_for_line("own link address", Duration::from_secs(20));
        }
        let mut bed = DelegationBed {
            iotssp: None,
            border_router,
            motesim,
            ssp,
            inet,
            br,
            deploy,
            dir,
            opts,
        };
        if bed.opts.mode == Mode::Remote {
            bed.start_iotssp();
        }
        Some(bed)
    }

    /// Starts (or restarts) the remote `iotssp` in its namespace.
    pub fn start_iotssp(&mut self) {
        let ssp = self
            .ssp
            .as_ref()
            .expect("remote mode has an IoTSSP namespace");
        let mut cmd = ssp.command(crate::workspace_bin("iotssp"));
        // No RUST_LOG: the configuration's [log] level rules (info unless a test sets it).
        cmd.arg("--config")
            .arg(self.deploy.join("iotssp.toml"))
            .env_remove("RUST_LOG");
        let mut d = Daemon::spawn("iotssp", cmd);
        d.wait_for_line("iotssp running", Duration::from_secs(20));
        self.iotssp = Some(d);
    }

    /// SIGTERM to the remote `iotssp`; returns its "iotssp stopping" line (final counters).
    pub fn stop_iotssp(&mut self) -> String {
        let mut d = self.iotssp.take().expect("iotssp running");
        let log = d.stop();
        log.iter()
            .find(|l| l.contains("iotssp stopping"))
            .cloned()
            .unwrap_or_else(|| panic!("iotssp printed no final counters:\n{}", log.join("\n")))
    }

    /// SIGTERM to lowpan-br; returns its "final counters" line.
    pub fn stop_border_router(&mut self) -> String {
        let log = self.border_router.stop();
        log.iter()
            .find(|l| l.contains("final counters"))
            .cloned()
            .unwrap_or_else(|| panic!("lowpan-br printed no final counters:\n{}", log.join("\n")))
    }

    /// lowpan-br's control socket.
    pub fn br_control_socket(&self) -> PathBuf {
        self.dir.path().join("br-control.sock")
    }

    /// The remote iotssp's control socket.
    pub fn iotssp_control_socket(&self) -> PathBuf {
        self.dir.path().join("iotssp-control.sock")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.deploy.join(name)
    }

    pub fn motesim_stats_path(&self) -> PathBuf {
        self.dir.path().join("motesim-stats.json")
    }

    /// `openssl s_client` with the provisioned client certificate, to mote `n`'s DTLS port.
    pub fn s_client_cert(&self, n: u8, cert: &Path, key: &Path) -> SClient {
        let mut args: Vec<String> = ["-dtls1_2", "-cipher", "ECDHE-ECDSA-AES128-CCM8"]
            .map(String::from)
            .to_vec();
        args.extend([
            "-cert".into(),
            path_str(cert).into(),
            "-key".into(),
            path_str(key).into(),
        ]);
        args.extend([
            "-CAfile".into(),
            path_str(&self.file("ca.pem")).into(),
            "-verify_return_error".into(),
        ]);
        args.extend(["-connect".into(), format!("[{}]:5684", mote_addr(n))]);
        SClient::spawn(&self.inet, self.dir.path(), &args)
    }

    /// `openssl s_client -dtls1_2` with its default cipher list, only the provisioned
    /// client certificate (and the CA to check the mote's) given.
    pub fn s_client_default(&self, n: u8) -> SClient {
        let (cert, key, ca) = (
            self.file("client.pem"),
            self.file("client.key"),
            self.file("ca.pem"),
        );
        let args: Vec<String> = vec![
            "-dtls1_2".into(),
            "-cert".into(),
            path_str(&cert).into(),
            "-key".into(),
            path_str(&key).into(),
            "-CAfile".into(),
            path_str(&ca).into(),
            "-verify_return_error".into(),
            "-connect".into(),
            format!("[{}]:5684", mote_addr(n)),
        ];
        SClient::spawn(&self.inet, self.dir.path(), &args)
    }

    /// `gnutls-cli --udp` with the provisioned client certificate to mote `n`; its default
    /// priority string unless `priority` is given.
    pub fn gnutls_cli(&self, n: u8, priority: Option<&str>) -> SClient {
        let (cert, key, ca) = (
            self.file("client.pem"),
            self.file("client.key"),
            self.file("ca.pem"),
        );
        let mut args: Vec<String> = vec![
            "--udp".into(),
            "-p".into(),
            "5684".into(),
            "--x509cafile".into(),
            path_str(&ca).into(),
            "--x509certfile".into(),
            path_str(&cert).into(),
            "--x509keyfile".into(),
            path_str(&key).into(),
        ];
        if let Some(p) = priority {
            args.extend(["--priority".into(), p.into()]);
        }
        args.push(mote_addr(n).to_string());
        SClient::spawn_program(&self.inet, self.dir.path(), "gnutls-cli", &[], &args)
    }

    /// `gnutls-cli --udp` to mote `n` with raw public keys only (RFC 7250): its key and
    /// public key (PEM "PUBLIC KEY") given, X.509 taken out of its priority both ways; a
    /// raw key cannot be checked against the CA, hence --insecure.
    pub fn gnutls_cli_rpk(&self, n: u8, key: &Path, public: &Path) -> SClient {
        let args: Vec<String> = vec![
            "--udp".into(),
            "-p".into(),
            "5684".into(),
            "--rawpkkeyfile".into(),
            path_str(key).into(),
            "--rawpkfile".into(),
            path_str(public).into(),
            "--insecure".into(),
            "--priority".into(),
            GNUTLS_RAW_KEYS_ONLY.into(),
            mote_addr(n).to_string(),
        ];
        SClient::spawn_program(&self.inet, self.dir.path(), "gnutls-cli", &[], &args)
    }

    /// `openssl s_client` with exactly these arguments, in the internet namespace.
    pub fn s_client_args(&self, args: &[String]) -> SClient {
        SClient::spawn(&self.inet, self.dir.path(), args)
    }

    /// The provisioned client (CN=client.example) to mote `n`.
    pub fn s_client(&self, n: u8) -> SClient {
        self.s_client_cert(n, &self.file("client.pem"), &self.file("client.key"))
    }

    /// PSK client with the provisioned client.psk (identity client.example).
    pub fn s_client_psk(&self, n: u8) -> SClient {
        let psk = std::fs::read_to_string(self.file("client.psk")).expect("client.psk");
        let args: Vec<String> = vec![
            "-dtls1_2".into(),
            "-cipher".into(),
            "PSK-AES128-CCM8".into(),
            "-psk_identity".into(),
            "client.example".into(),
            "-psk".into(),
            psk.trim().into(),
            "-connect".into(),
            format!("[{}]:5684", mote_addr(n)),
        ];
        SClient::spawn(&self.inet, self.dir.path(), &args)
    }

    /// lowpan-br's counters now, from its metrics endpoint (`name{labels}` -> value).
    pub fn metrics(&self) -> BTreeMap<String, u64> {
        self.br.enter(|| scrape(METRICS))
    }

    /// The remote iotssp's metrics, when its `[status] listen` is `addr` (`name{labels}` -> value).
    pub fn iotssp_metrics(&self, addr: &str) -> BTreeMap<String, u64> {
        let addr = addr.to_owned();
        self.ssp
            .as_ref()
            .expect("remote mode has an IoTSSP namespace")
            .enter(move || scrape(&addr))
    }

    /// One counter of the attached IoTSSP (or of the remote one's channel), 0 when absent.
    pub fn iotssp_counter(&self, counter: &str) -> u64 {
        let m = self.metrics();
        let total =
            format!("lowpan_br_iotssp_total{{iotssp=\"{IOTSSP_NAME}\",counter=\"{counter}\"}}");
        let gauge = format!("lowpan_br_iotssp_{counter}{{iotssp=\"{IOTSSP_NAME}\"}}");
        m.get(&total)
            .or_else(|| m.get(&gauge))
            .copied()
            .unwrap_or(0)
    }

    /// The sum of the attached IoTSSP's `handshakes_failed.*` counters and the reasons.
    pub fn iotssp_failures(&self) -> (u64, Vec<String>) {
        let prefix = format!(
            "lowpan_br_iotssp_total{{iotssp=\"{IOTSSP_NAME}\",counter=\"handshakes_failed."
        );
        let m = self.metrics();
        let hits: Vec<_> = m
            .iter()
            .filter(|(k, v)| k.starts_with(&prefix) && **v > 0)
            .collect();
        (
            hits.iter().map(|(_, v)| **v).sum(),
            hits.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        )
    }

    pub fn hrm_counter(&self, counter: &str) -> u64 {
        self.metrics()
            .get(&format!("lowpan_br_hrm_total{{counter=\"{counter}\"}}"))
            .copied()
            .unwrap_or(0)
    }

    /// Mote `n`'s entry of motesim's stats file, written after `after` (motesim writes it
    /// every second), so it reflects everything that happened before `after`.
    pub fn mote_stats_after(&self, n: u8, after: SystemTime) -> serde_json::Value {
        let path = self.motesim_stats_path();
        let eui = eui64_text(mote_eui64(n));
        eventually(Duration::from_secs(10), || {
            let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
            if modified <= after {
                return None;
            }
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
            v["motes"]
                .as_array()?
                .iter()
                .find(|m| m["eui64"].as_str() == Some(eui.as_str()))
                .cloned()
        })
        .unwrap_or_else(|| panic!("no fresh stats for mote {n} ({eui}) in {}", path.display()))
    }

    /// Waits (bounded) until mote `n`'s stats satisfy `ok`; returns the last snapshot.
    pub fn mote_stats_until(
        &self,
        n: u8,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.mote_stats_after(n, SystemTime::now());
            if ok(&s) || Instant::now() >= deadline {
                return s;
            }
        }
    }

    /// Logs of every daemon, for failure messages.
    pub fn logs(&mut self) -> String {
        let mut s = format!(
            "--- lowpan-br:\n{}\n",
            self.border_router.drain().join("\n")
        );
        if let Some(d) = self.iotssp.as_mut() {
            s.push_str(&format!("--- iotssp:\n{}\n", d.drain().join("\n")));
        }
        if let Some(d) = self.motesim.as_mut() {
            s.push_str(&format!("--- motesim:\n{}\n", d.drain().join("\n")));
        }
        s
    }
}

/// A counter of a mote's stats entry (security counters are flat in it).
pub fn stat(s: &serde_json::Value, key: &str) -> u64 {
    s.get(key)
        .or_else(|| s.get("security").and_then(|x| x.get(key)))
        .and_then(|v| v.as_u64())
        .unwrap_or_else(|| panic!("no counter {key} in {s}"))
}

/// `GET /metrics` at `addr` (from the calling namespace), parsed as a scraper does: the
/// answer must be 200 with the Prometheus text type, and every sample typed and whole.
pub fn scrape(addr: &str) -> BTreeMap<String, u64> {
    let mut sock = TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("connect to the metrics at {addr}: {e}"));
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    sock.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let mut text = String::new();
    let _ = sock.read_to_string(&mut text);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {text}"));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "metrics answer: {head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "metrics content type: {head}"
    );
    let samples =
        ops::metrics::parse(body).unwrap_or_else(|e| panic!("metrics do not parse: {e}\n{body}"));
    samples
        .into_iter()
        .map(|(k, v)| {
            assert!(v >= 0.0 && v.fract() == 0.0, "{k} is not a count: {v}");
            (k, v as u64)
        })
        .collect()
}

/// A `key=value` field of a log line (tracing's format), as a number.
pub fn field(line: &str, key: &str) -> Option<u64> {
    let needle = format!("{key}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&needle)?.trim_end_matches(',').parse().ok())
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn workspace_bin_str(name: &str) -> String {
    crate::workspace_bin(name).to_string_lossy().into_owned()
}

/// `lowpan-provision` for the three motes (delegated, dcert, cdpsk) of this topology.
pub fn provision(out: &Path, mode: Mode, keyless: bool) {
    let mut args = vec![
        "--out".to_string(),
        path_str(out).into(),
        "--prefix".into(),
        PREFIX.into(),
    ];
    if keyless {
        args.push("--keyless".into());
    }
    args.extend(["--radio".into(), "tcp:127.0.0.1:60001".into()]);
    if mode == Mode::Remote {
        args.extend(["--iotssp".into(), "remote".into()]);
        args.extend(["--iotssp-address".into(), IOTSSP_REDIRECT.into()]);
        args.extend(["--br-redirect-address".into(), BR_REDIRECT.into()]);
    }
    run(&workspace_bin_str("lowpan-provision"), &args);
}

fn start_motesim(br: &NetNs, deploy: &Path, dir: &Path) -> Daemon {
    let mut cmd = br.command(crate::workspace_bin("motesim"));
    cmd.args(["--tcp-listen", "127.0.0.1:60001", "--seed", "1"])
        .arg("--config")
        .arg(deploy.join("motesim.toml"))
        .arg("--stats-file")
        .arg(dir.join("motesim-stats.json"));
    let mut d = Daemon::spawn("motesim", cmd);
    d.wait_for_line("listening", Duration::from_secs(20));
    d
}

/// A client certificate signed by the provisioned CA with the openssl CLI: another CN
/// (`days` valid from now), or, with `expired`, one that expired ten minutes ago.
pub fn issue_client_cert(deploy: &Path, cn: &str, expired: bool) -> (PathBuf, PathBuf) {
    let dir = deploy.join(format!("extra-{cn}"));
    std::fs::create_dir_all(dir.join("newcerts")).expect("mkdir");
    let ca = path_str(&deploy.join("ca.pem")).to_owned();
    let ca_key = path_str(&deploy.join("ca.key")).to_owned();
    let (start, end) = if expired {
        (utc_stamp("-50 minutes"), utc_stamp("-10 minutes"))
    } else {
        (utc_stamp("-5 minutes"), utc_stamp("+1 day"))
    };
    // `openssl ca` sets arbitrary dates on OpenSSL 3.0 (x509 -not_before is 3.2+).
    let conf = "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = newcerts\nserial = serial\n\
                default_md = sha256\npolicy = any\nunique_subject = no\nx509_extensions = leaf\n\
                [any]\ncommonName = supplied\n\
                [leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
                extendedKeyUsage = clientAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";
    crate::write(&dir.join("ca.cnf"), conf);
    crate::write(&dir.join("index.txt"), "");
    crate::write(&dir.join("serial"), "1000\n");
    let script = format!(
        "set -e\nopenssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client.key 2>/dev/null\n\
         openssl req -new -key client.key -subj '/CN={cn}' -out client.csr\n\
         openssl ca -batch -notext -config ca.cnf -cert '{ca}' -keyfile '{ca_key}' -in client.csr -out client.pem \
         -startdate {start} -enddate {end} 2>&1\n"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "issuing {cn}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.join("client.pem"), dir.join("client.key"))
}

/// A server certificate (serverAuth, subjectAltName DNS:`name`) signed by the provisioned
/// CA with the openssl CLI, for a server the motes report to (outbound delegation).
pub fn issue_server_cert(deploy: &Path, name: &str) -> (PathBuf, PathBuf) {
    let dir = deploy.join(format!("server-{name}"));
    std::fs::create_dir_all(dir.join("newcerts")).expect("mkdir");
    let ca = path_str(&deploy.join("ca.pem")).to_owned();
    let ca_key = path_str(&deploy.join("ca.key")).to_owned();
    let conf = format!(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = newcerts\nserial = serial\n\
         default_md = sha256\npolicy = any\nunique_subject = no\nx509_extensions = leaf\ndefault_days = 2\n\
         [any]\ncommonName = supplied\n\
         [leaf]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = DNS:{name}\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
    );
    crate::write(&dir.join("ca.cnf"), &conf);
    crate::write(&dir.join("index.txt"), "");
    crate::write(&dir.join("serial"), "2000\n");
    let script = format!(
        "set -e\nopenssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key 2>/dev/null\n\
         openssl req -new -key server.key -subj '/CN={name}' -out server.csr\n\
         openssl ca -batch -notext -config ca.cnf -cert '{ca}' -keyfile '{ca_key}' -in server.csr -out server.pem 2>&1\n"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "issuing {name}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.join("server.pem"), dir.join("server.key"))
}

/// A fresh P-256 key pair made with the openssl CLI in `dir`: `<name>.key` and its public
/// key `<name>.pub.pem` (PEM "PUBLIC KEY", as gnutls's --rawpkfile takes it), and the
/// `rpk-sha256:<hex>` selector that names it (SHA-256 of its DER SubjectPublicKeyInfo).
pub fn raw_key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let (key, public) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub.pem")),
    );
    let script = format!(
        "set -e\nopenssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '{0}' 2>/dev/null\n\
         openssl pkey -in '{0}' -pubout -out '{1}'\nopenssl pkey -pubin -in '{1}' -outform DER | sha256sum\n",
        key.display(),
        public.display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "openssl genpkey: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(hex.len(), 64, "sha256sum printed {hex:?}");
    (key, public, format!("rpk-sha256:{hex}"))
}

fn utc_stamp(offset: &str) -> String {
    let out = run("date", ["-u", "-d", offset, "+%Y%m%d%H%M%SZ"]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A running `openssl s_client` (or `gnutls-cli`), output in a file, stdin open for lines
/// to send; killed on drop.
pub struct SClient {
    child: Option<Child>,
    log: PathBuf,
    stdin: Option<std::process::ChildStdin>,
    status: Option<ExitStatus>,
}

pub const ECDHE_OK: &str = "Cipher is ECDHE-ECDSA-AES128-CCM8";
pub const PSK_OK: &str = "Cipher is PSK-AES128-CCM8";

impl SClient {
    pub fn spawn(ns: &NetNs, dir: &Path, args: &[String]) -> SClient {
        Self::spawn_program(ns, dir, "openssl", &["s_client"], args)
    }

    pub fn spawn_program(
        ns: &NetNs,
        dir: &Path,
        program: &str,
        first: &[&str],
        args: &[String],
    ) -> SClient {
        let log = dir.join(format!("{}.log", unique(program)));
        let f = std::fs::File::create(&log).expect("client log");
        let mut cmd = ns.command(program);
        cmd.args(first).args(args).current_dir(dir);
        cmd.stdout(f.try_clone().expect("dup"))
            .stderr(f)
            .stdin(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let stdin = child.stdin.take();
        SClient {
            child: Some(child),
            log,
            stdin,
            status: None,
        }
    }

    /// What the program printed so far; bytes that are not UTF-8 (a server printing the
    /// binary requests it received) are replaced, so the text around them still shows.
    pub fn output(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Whether the process has exited (remembering its status).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Some(c) = self.child.as_mut()
        {
            self.status = c.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until the output contains `text` `times` times; false when s_client exits
    /// first or `limit` passes.
    pub fn wait_for_n(&mut self, text: &str, times: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.output().matches(text).count() >= times {
                return true;
            }
            if self.exited().is_some() {
                // The last words may still be on their way to the file.
                return self.output().matches(text).count() >= times;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for(&mut self, text: &str, limit: Duration) -> bool {
        self.wait_for_n(text, 1, limit)
    }

    /// Waits for the process to end on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Types a line into s_client (sent as one application-data record).
    pub fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes());
    }

    /// Writes `bytes` to the program's stdin at once (openssl sends them as one record).
    pub fn send(&mut self, bytes: &[u8]) {
        // A program that already exited cannot take them; the missing answer tells.
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(bytes).and_then(|()| stdin.flush());
        }
    }

    /// Closes the client's stdin: `openssl s_client` then ends its session with a
    /// close_notify and exits.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// SIGKILL before anything else (its stdin still open, so it cannot see EOF and close
    /// first): the client vanishes without close_notify.
    pub fn vanish(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stdin = None;
    }

    pub fn kill(&mut self) {
        self.stdin = None;
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for SClient {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- s_client {} ----\n{}",
                self.log.display(),
                self.output()
            );
        }
    }
}

/// A real ClientHello (no cookie) from `openssl s_client`, captured on a local UDP socket
/// in `ns`.
pub fn capture_client_hello(ns: &NetNs, dir: &Path) -> Vec<u8> {
    let sock = ns.enter(|| UdpSocket::bind("[::1]:0").expect("bind capture socket"));
    let port = sock.local_addr().expect("addr").port();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let args: Vec<String> = ["-dtls1_2", "-cipher", "ECDHE-ECDSA-AES128-CCM8"]
        .map(String::from)
        .to_vec();
    let mut args = args;
    args.extend(["-connect".into(), format!("[::1]:{port}")]);
    let mut client = SClient::spawn(ns, dir, &args);
    let mut buf = vec![0u8; 4096];
    let (n, _) = sock
        .recv_from(&mut buf)
        .expect("s_client sent no ClientHello");
    client.kill();
    buf.truncate(n);
    assert!(
        n > 25 && buf[0] == 22 && buf[13] == 1,
        "not a ClientHello: {buf:02x?}"
    );
    buf
}

/// Sends `datagram` from `count` fresh sockets of the internet host to `dst`; returns the
/// answers that came back within `wait` each.
pub fn spoof_from_inet(
    ns: &NetNs,
    dst: SocketAddr,
    datagram: Vec<u8>,
    count: usize,
    wait: Duration,
) -> Vec<Vec<u8>> {
    ns.enter(move || {
        let mut answers = Vec::new();
        for _ in 0..count {
            let sock = UdpSocket::bind("[::]:0").expect("bind");
            sock.set_read_timeout(Some(wait)).expect("timeout");
            sock.send_to(&datagram, dst).expect("send");
            let mut buf = vec![0u8; 4096];
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                buf.truncate(n);
                answers.push(buf);
            }
        }
        answers
    })
}

/// The mote's address and DTLS port.
pub fn mote_dtls(n: u8) -> SocketAddr {
    SocketAddr::new(mote_addr(n).into(), 5684)
}

pub fn ssp_addr() -> Ipv6Addr {
    SSP_ADDR.parse().expect("address")
}
