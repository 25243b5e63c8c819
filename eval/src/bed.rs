//! One test bed: the real daemons in network namespaces, configured by the real
//! `lowpan-provision`, with motesim's radio model at one loss rate.
//!
//! ```text
//!  [inet] fd00:beef::2 --veth-- fd00:beef::1 [br] fd00:cccc::1 --veth-- fd00:cccc::2 [ssp]
//!   openssl s_client           lowpan-br (TUN, HRM,                    iotssp (remote mode only)
//!   + packet tap                attached IoTSSP in attached mode)
//!                               | slip-radio over TCP 127.0.0.1:60001
//!                              motesim (paced 250 kbit/s radio, loss L):
//!                                1 delegated (keyless in a keyless bed), 2 DCert (CC2538 hardware ECC), 3 CDPSK,
//!                                4.. DCert (CC2538 software ECC)
//! ```

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::sniff::Tap;
use crate::sys::{Daemon, NetNs, binary, run, unique, veth};

pub const PREFIX: &str = "fd00:aaaa::/64";
pub const INET_ADDR: &str = "fd00:beef::2";
pub const UPLINK_ADDR: &str = "fd00:beef::1";
pub const SSP_ADDR: &str = "fd00:cccc::2";
pub const BR_SSP_SIDE: &str = "fd00:cccc::1";

/// Mote numbers (1-based) of the provisioned kinds.
pub const DELEGATED_MOTE: u16 = 1;
pub const DCERT_HW_MOTE: u16 = 2;
pub const CDPSK_MOTE: u16 = 3;
pub const FIRST_DCERT_SW_MOTE: u16 = 4;

/// Where the delegated motes' IoTSSP runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IotsspMode {
    Attached,
    Remote,
}

impl IotsspMode {
    pub const ALL: [IotsspMode; 2] = [IotsspMode::Attached, IotsspMode::Remote];

    pub fn as_str(self) -> &'static str {
        match self {
            IotsspMode::Attached => "attached",
            IotsspMode::Remote => "remote",
        }
    }
}

/// How the IoTSSP and a delegated mote agree on a delegation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leg {
    /// The paper's: a PSK DTLS handshake with the mote per delegation, carrying the
    /// SessionTransferTicket extension, then the session transfer over it.
    PskHandshake,
    /// The standing association (docs/mote-association.md): made once, then one Transfer
    /// in and one Confirm out per delegation.
    Association,
}

impl Leg {
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::PskHandshake => "psk",
            Leg::Association => "assoc",
        }
    }

    /// The value of `leg` in iotssp.toml's `[[motes]]` and motesim.toml's `[[device]]`.
    fn config_value(self) -> &'static str {
        match self {
            Leg::PskHandshake => "psk-handshake",
            Leg::Association => "association",
        }
    }

    pub fn parse(s: &str) -> Result<Leg> {
        match s {
            "psk" => Ok(Leg::PskHandshake),
            "assoc" => Ok(Leg::Association),
            _ => bail!("{s:?} is not a mote leg (psk, assoc)"),
        }
    }

    /// Every leg this build supports.
    pub const ALL: [Leg; 2] = [Leg::PskHandshake, Leg::Association];
}

#[derive(Clone, Debug)]
pub struct BedSpec {
    pub mode: IotsspMode,
    pub leg: Leg,
    /// The delegated motes keep their private keys (`key = "mote"`) and sign for the IoTSSP.
    pub keyless: bool,
    pub loss: f64,
    pub seed: u64,
    /// DCert motes with software ECC (handshakes run this many at a time).
    pub sw_motes: u16,
    /// Internet-side and mote-side DTLS retransmission timers, initial value.
    pub dtls_timer: Duration,
    /// Radio at zero air time (capacity runs) instead of paced at 250 kbit/s.
    pub unthrottled: bool,
    /// Extra delegated motes (capacity runs): the total number of delegated motes.
    pub delegated_motes: u16,
    /// The HRM's flow table size (`[hrm] max_flows`), when not the default.
    pub hrm_max_flows: Option<usize>,
}

/// A running bed. Fields drop in order: the tap and the daemons before the namespaces.
pub struct Bed {
    pub tap: Tap,
    pub iotssp: Option<Daemon>,
    pub border_router: Daemon,
    pub motesim: Daemon,
    pub ssp_ns: Option<NetNs>,
    pub inet: NetNs,
    pub br: NetNs,
    pub deploy: PathBuf,
    pub dir: PathBuf,
    pub spec: BedSpec,
}

/// The address of mote `n` (EUI-64 00:12:4b:00:00:00:HH:LL).
pub fn mote_addr(n: u16) -> Ipv6Addr {
    let p: Ipv6Addr = "fd00:aaaa::".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
    let o = p.segments();
    Ipv6Addr::new(o[0], o[1], o[2], o[3], 0x0212, 0x4b00, 0, n)
}

fn eui64_text(n: u16) -> String {
    let [hi, lo] = n.to_be_bytes();
    format!("00:12:4b:00:00:00:{hi:02x}:{lo:02x}")
}

impl Bed {
    pub fn start(spec: BedSpec, bins: &Path, dir: &Path) -> Result<Bed> {
        std::fs::create_dir_all(dir)?;
        let deploy = dir.join("deploy");
        let _ = std::fs::remove_dir_all(&deploy);
        let mut kinds = vec!["delegated", "dcert", "cdpsk"];
        kinds.extend(std::iter::repeat_n("dcert", usize::from(spec.sw_motes)));
        kinds.extend(std::iter::repeat_n(
            "delegated",
            usize::from(spec.delegated_motes.saturating_sub(1)),
        ));
        let kinds = kinds.join(",");
        let mut args: Vec<String> = vec![
            "--out".into(),
            path(&deploy)?,
            "--prefix".into(),
            PREFIX.into(),
        ];
        args.extend([
            "--kinds".into(),
            kinds,
            "--radio".into(),
            "tcp:127.0.0.1:60001".into(),
        ]);
        if spec.keyless {
            args.push("--keyless".into());
        }
        if spec.mode == IotsspMode::Remote {
            args.extend(["--iotssp".into(), "remote".into()]);
            args.extend(["--iotssp-address".into(), format!("[{SSP_ADDR}]:7700")]);
            args.extend([
                "--br-redirect-address".into(),
                format!("[{BR_SSP_SIDE}]:7701"),
            ]);
        }
        run(&path(&binary(bins, "lowpan-provision")?)?, &args)?;
        let tun = unique("lev");
        edit(&deploy.join("lowpan-br.toml"), |t| {
            if !t.contains("name = \"lowpan0\"") {
                bail!("provisioned lowpan-br.toml has no TUN name lowpan0");
            }
            let t = t.replace("name = \"lowpan0\"", &format!("name = \"{tun}\""));
            Ok(match spec.hrm_max_flows {
                Some(n) if t.contains("[hrm]\n") => {
                    t.replacen("[hrm]\n", &format!("[hrm]\nmax_flows = {n}\n"), 1)
                }
                _ => t,
            })
        })?;
        let timer_ms = spec.dtls_timer.as_millis();
        edit(&deploy.join("iotssp.toml"), |t| {
            Ok(format!(
                "{t}\n[timers]\ninternet_retransmit_ms = {timer_ms}\nmote_retransmit_ms = {timer_ms}\n\
                 [limits]\nmax_delegations = 4096\nmax_per_mote = 4\n"
            ))
        })?;
        // The leg is always written: the daemons' default is the association.
        let leg = Some(spec.leg.config_value());
        if let Some(leg) = leg {
            edit(&deploy.join("iotssp.toml"), |t| {
                Ok(set_leg(t, "transfer_port = ", leg))
            })?;
        }
        let sw: Vec<u16> = (0..spec.sw_motes)
            .map(|i| FIRST_DCERT_SW_MOTE + i)
            .collect();
        edit(&deploy.join("motesim.toml"), |t| {
            let mut t = match leg {
                Some(leg) => set_leg(t, "device_kind = \"delegated\"", leg),
                None => t.to_owned(),
            };
            for n in &sw {
                let anchor = format!("eui64 = \"{}\"\ndevice_kind = \"dcert\"\n", eui64_text(*n));
                if !t.contains(&anchor) {
                    bail!("motesim.toml has no DCert table for mote {n}");
                }
                t = t.replace(&anchor, &format!("{anchor}ecc_profile = \"cc2538-sw\"\n"));
            }
            Ok(t)
        })?;

        let inet = NetNs::new("lei")?;
        let br = NetNs::new("leb")?;
        let (inet_if, _) = veth(
            &inet,
            &format!("{INET_ADDR}/64"),
            &br,
            &format!("{UPLINK_ADDR}/64"),
        )?;
        inet.ip(&["-6", "route", "add", PREFIX, "via", UPLINK_ADDR])?;
        br.sysctl("net.ipv6.conf.all.forwarding", "1")?;
        let ssp_ns = if spec.mode == IotsspMode::Remote {
            let ssp = NetNs::new("les")?;
            veth(
                &br,
                &format!("{BR_SSP_SIDE}/64"),
                &ssp,
                &format!("{SSP_ADDR}/64"),
            )?;
            ssp.ip(&["-6", "route", "add", PREFIX, "via", BR_SSP_SIDE])?;
            Some(ssp)
        } else {
            None
        };
        let tap = Tap::start(&inet, &inet_if)?;

        let mut cmd = br.command(binary(bins, "motesim")?);
        cmd.args([
            "--tcp-listen",
            "127.0.0.1:60001",
            "--seed",
            &spec.seed.to_string(),
        ])
        .args([
            "--loss",
            &spec.loss.to_string(),
            "--stats-interval-ms",
            "100",
        ])
        .arg("--config")
        .arg(deploy.join("motesim.toml"))
        .arg("--stats-file")
        .arg(dir.join("motesim.json"));
        if spec.unthrottled {
            cmd.arg("--unthrottled");
        }
        let mut motesim = Daemon::spawn("motesim", cmd, &dir.join("motesim.log"))?;
        motesim.wait_for_line("listening", Duration::from_secs(20))?;
        let mut cmd = br.command(binary(bins, "lowpan-br")?);
        cmd.arg("--config")
            .arg(deploy.join("lowpan-br.toml"))
            .env("RUST_LOG", "info");
        let mut border_router = Daemon::spawn("lowpan-br", cmd, &dir.join("lowpan-br.log"))?;
        border_router.wait_for_line("own link address", Duration::from_secs(30))?;
        let iotssp = match &ssp_ns {
            Some(ns) => {
                let mut cmd = ns.command(binary(bins, "iotssp")?);
                cmd.arg("--config")
                    .arg(deploy.join("iotssp.toml"))
                    .env("RUST_LOG", "info");
                let mut d = Daemon::spawn("iotssp", cmd, &dir.join("iotssp.log"))?;
                d.wait_for_line("iotssp running", Duration::from_secs(30))?;
                Some(d)
            }
            None => None,
        };
        let bed = Bed {
            tap,
            iotssp,
            border_router,
            motesim,
            ssp_ns,
            inet,
            br,
            deploy,
            dir: dir.to_path_buf(),
            spec,
        };
        bed.wait_for_addresses(Duration::from_secs(60))?;
        Ok(bed)
    }

    /// Waits until every mote has its global address (it heard the Router Advertisement).
    fn wait_for_addresses(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(s) = self.stats_after(SystemTime::now(), Duration::from_secs(5))
                && let Some(motes) = s["motes"].as_array()
                && motes.iter().all(|m| m["global"].is_string())
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("the motes did not all get a global address within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// motesim's stats, as written after `after` (it writes them every 100 ms).
    pub fn stats_after(&self, after: SystemTime, limit: Duration) -> Result<serde_json::Value> {
        let p = self.dir.join("motesim.json");
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(m) = std::fs::metadata(&p).and_then(|m| m.modified())
                && m > after
                && let Ok(text) = std::fs::read_to_string(&p)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                bail!("no fresh motesim stats in {}", p.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.deploy.join(name)
    }

    /// The arguments of `openssl s_client` for a certificate handshake with mote `n`.
    pub fn cert_client_args(&self, n: u16) -> Vec<String> {
        let f = |x: &str| self.file(x).to_string_lossy().into_owned();
        vec![
            "-dtls1_2".into(),
            "-cipher".into(),
            "ECDHE-ECDSA-AES128-CCM8".into(),
            "-cert".into(),
            f("client.pem"),
            "-key".into(),
            f("client.key"),
            "-CAfile".into(),
            f("ca.pem"),
            "-verify_return_error".into(),
            "-connect".into(),
            format!("[{}]:5684", mote_addr(n)),
        ]
    }

    /// The arguments of `openssl s_client` for a PSK handshake with mote `n`.
    pub fn psk_client_args(&self, n: u16) -> Result<Vec<String>> {
        let psk = std::fs::read_to_string(self.file("client.psk")).context("client.psk")?;
        Ok(vec![
            "-dtls1_2".into(),
            "-cipher".into(),
            "PSK-AES128-CCM8".into(),
            "-psk_identity".into(),
            "client.example".into(),
            "-psk".into(),
            psk.trim().into(),
            "-connect".into(),
            format!("[{}]:5684", mote_addr(n)),
        ])
    }
}

/// Sets `leg = "VALUE"` in every table that has a line starting with `anchor`: replaces
/// the table's `leg` line if provisioned, else adds one after the anchor.
fn set_leg(text: &str, anchor: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("leg =") || trimmed.starts_with("leg=") {
            out.push_str(&format!("leg = \"{value}\"\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if trimmed.starts_with(anchor) {
            out.push_str(&format!("leg = \"{value}\"\n"));
        }
    }
    // A table whose provisioned `leg` line followed the anchor now has two: keep the first.
    let mut seen_in_table = false;
    out.lines()
        .filter(|l| {
            if l.trim_start().starts_with('[') {
                seen_in_table = false;
            }
            if l.starts_with("leg = ") {
                let dup = seen_in_table;
                seen_in_table = true;
                return !dup;
            }
            true
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn path(p: &Path) -> Result<String> {
    p.to_str().map(str::to_owned).context("non-UTF-8 path")
}

fn edit(p: &Path, f: impl FnOnce(&str) -> Result<String>) -> Result<()> {
    let text = std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?;
    std::fs::write(p, f(&text)?).with_context(|| format!("write {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leg_is_set_once_per_delegated_table() {
        let t = "[[device]]\neui64 = \"a\"\ndevice_kind = \"delegated\"\nport = 1\n[[device]]\ndevice_kind = \"dcert\"\n";
        let out = set_leg(t, "device_kind = \"delegated\"", "association");
        assert_eq!(out.matches("leg = \"association\"").count(), 1, "{out}");
        assert!(
            out.contains("device_kind = \"delegated\"\nleg = \"association\"\nport = 1\n"),
            "{out}"
        );
        let provisioned = "[[motes]]\ntransfer_port = 5685\nleg = \"association\"\n[[motes]]\nleg = \"x\"\ntransfer_port = 5685\n";
        let out = set_leg(provisioned, "transfer_port = ", "psk-handshake");
        assert_eq!(out.matches("leg = \"psk-handshake\"").count(), 2, "{out}");
        assert!(
            !out.contains("association") && !out.contains("\"x\""),
            "{out}"
        );
    }

    #[test]
    fn mote_addresses_follow_the_eui64s() {
        assert_eq!(mote_addr(1).to_string(), "fd00:aaaa::212:4b00:0:1");
        assert_eq!(mote_addr(0x1a).to_string(), "fd00:aaaa::212:4b00:0:1a");
        assert_eq!(eui64_text(0x1a), "00:12:4b:00:00:00:00:1a");
    }
}
