//! The standard integration topology, built from real parts:
//!
//! ```text
//!  [inet netns]  veth fd00:beef::2  <---->  fd00:beef::1 veth  [br netns]
//!                                                               lowpan-br: TUN fd00:aaaa::1/64
//!                                                                  | slip-radio over TCP (loopback of br netns)
//!                                                               motesim: radio + motes fd00:aaaa::IID
//! ```
//!
//! The "internet" host reaches the motes through the kernel's IPv6 forwarding in the border
//! router's namespace, exactly as an operator's gateway would.

use crate::{Daemon, NetNs, require_root, scratch, veth, workspace_bin, write};
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub const PREFIX: &str = "fd00:aaaa::/64";
pub const BR_ADDR: &str = "fd00:aaaa::1";
pub const INET_ADDR: &str = "fd00:beef::2";
pub const UPLINK_ADDR: &str = "fd00:beef::1";
/// The radio's own EUI-64 (what `!M` reports): the border router's link address.
pub const RADIO_EUI64: &str = "00:12:4b:00:00:00:ff:01";
pub const RADIO_PORT: u16 = 60001;

/// EUI-64 of emulated mote `n` (1-based), as motesim numbers them.
pub fn mote_eui64(n: u8) -> [u8; 8] {
    [0x00, 0x12, 0x4b, 0x00, 0x00, 0x00, 0x00, n]
}

pub fn eui64_text(eui: [u8; 8]) -> String {
    eui.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Global address of mote `n`: prefix + IID (EUI-64 with the U/L bit flipped).
pub fn mote_addr(n: u8) -> Ipv6Addr {
    let eui = mote_eui64(n);
    let mut octets = [0u8; 16];
    octets[..8].copy_from_slice(&[0xfd, 0x00, 0xaa, 0xaa, 0, 0, 0, 0]);
    octets[8..].copy_from_slice(&eui);
    octets[8] ^= 0x02;
    Ipv6Addr::from(octets)
}

/// How the border router reaches its radio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// slip-radio behind a TCP socket (ser2net style).
    Tcp,
    /// slip-radio on a serial device: a pty whose slave motesim links to a path.
    Pty,
    /// ZEP v2 over UDP: the border router itself is the radio.
    Zep,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub link: Link,
    pub motes: u8,
    /// Probability that a frame (or its ACK) is lost on the air.
    pub loss: f64,
    pub seed: u64,
    /// Extra TOML appended to lowpan-br's configuration.
    pub br_extra: String,
    /// Extra keys for lowpan-br's `[radio]` table.
    pub radio_extra: String,
    /// motesim delivers frames without modelled air time (for benchmarks).
    pub unthrottled: bool,
    pub pcap: bool,
    /// Over `Link::Tcp`, lowpan-br connects to this port of the br namespace's loopback
    /// instead of motesim's (e.g. a fault-injecting proxy started by
    /// [`Testbed::start_with`]).
    pub br_radio_port: Option<u16>,
    /// Extra environment for lowpan-br (`LOWPAN_<SECTION>__<KEY>` overrides).
    pub br_env: Vec<(String, String)>,
    /// Extra motesim arguments (`--rpl`, `--link`...). With `--rpl` the motes get no
    /// configured prefix: they take it from the border router's DIOs.
    pub motesim_args: Vec<String>,
    /// The motes are 6LoWPAN hosts (RFC 6775) registering with this lifetime (minutes):
    /// they learn the prefix from the RA, use their address only once lowpan-br accepted
    /// its registration, and are not listed in lowpan-br's configuration.
    pub sixlowpan_hosts: Option<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            link: Link::Tcp,
            motes: 2,
            loss: 0.0,
            seed: 1,
            br_extra: String::new(),
            radio_extra: String::new(),
            unthrottled: false,
            pcap: false,
            br_radio_port: None,
            br_env: Vec::new(),
            motesim_args: Vec::new(),
            sixlowpan_hosts: None,
        }
    }
}

/// Fields drop in order: the daemons stop before their namespaces go.
pub struct Testbed {
    pub border_router: Daemon,
    pub motesim: Daemon,
    pub inet: NetNs,
    pub br: NetNs,
    pub dir: tempfile::TempDir,
    pub opts: Options,
    pub tun: String,
}

impl Testbed {
    /// Builds the topology, or returns `None` (after printing why) when not root outside CI.
    pub fn start(test: &str, opts: Options) -> Option<Testbed> {
        Self::start_with(test, opts, |_| {})
    }

    /// Like [`Testbed::start`], but runs `before_border_router` once the namespaces and
    /// motesim are up and before lowpan-br starts (e.g. to put a proxy on its radio link).
    pub fn start_with(
        test: &str,
        opts: Options,
        before_border_router: impl FnOnce(&NetNs),
    ) -> Option<Testbed> {
        if !require_root(test) {
            return None;
        }
        let inet = NetNs::new("lbi");
        let br = NetNs::new("lbb");
        veth(
            &inet,
            &format!("{INET_ADDR}/64"),
            &br,
            &format!("{UPLINK_ADDR}/64"),
        );
        inet.ip(&["-6", "route", "add", PREFIX, "via", UPLINK_ADDR]);
        br.sysctl("net.ipv6.conf.all.forwarding", "1");

        let dir = scratch();
        let motesim = start_motesim(&br, &opts, dir.path());
        before_border_router(&br);
        let tun = crate::unique("lbr");
        let border_router = start_border_router(&br, &opts, &tun, dir.path());
        let mut bed = Testbed {
            inet,
            br,
            motesim,
            border_router,
            dir,
            opts,
            tun,
        };
        bed.wait_until_ready();
        Some(bed)
    }

    fn wait_until_ready(&mut self) {
        // A slip-radio must first answer `!M` (the border router logs the EUI-64 it learnt);
        // over ZEP the border router is the radio and its address is configured.
        let ready = if self.opts.link == Link::Zep {
            "radio link up"
        } else {
            "own link address"
        };
        self.border_router
            .wait_for_line(ready, Duration::from_secs(20));
    }

    pub fn pcap_path(&self) -> PathBuf {
        self.dir.path().join("radio.pcap")
    }

    pub fn motesim_stats_path(&self) -> PathBuf {
        self.dir.path().join("motesim-stats.json")
    }

    /// lowpan-br's control socket (in the scratch dir, unless `br_extra` sets `[control]`).
    pub fn control_socket(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    /// lowpan-br's configuration file (rewrite it and send SIGHUP to reload).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("lowpan-br.toml")
    }

    /// Restarts motesim (same port, same motes) after killing it hard.
    pub fn restart_motesim(&mut self) {
        self.motesim.kill();
        self.motesim = start_motesim(&self.br, &self.opts, self.dir.path());
    }

    /// `ping -6` from the internet host; returns how many replies came back.
    pub fn ping(&self, dst: Ipv6Addr, count: u32, payload: usize) -> u32 {
        let out = self
            .inet
            .command("ping")
            .args([
                "-6",
                "-n",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "3",
                "-s",
                &payload.to_string(),
            ])
            .arg(dst.to_string())
            .output()
            .expect("run ping");
        let text = String::from_utf8_lossy(&out.stdout);
        parse_ping_received(&text).unwrap_or_else(|| {
            panic!(
                "unexpected ping output:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Sends one UDP datagram from the internet host and waits for the answer.
    pub fn udp_request(
        &self,
        dst: SocketAddr,
        payload: Vec<u8>,
        wait: Duration,
    ) -> Option<Vec<u8>> {
        self.inet.enter(move || {
            let sock = std::net::UdpSocket::bind("[::]:0").expect("bind");
            sock.set_read_timeout(Some(wait)).expect("timeout");
            sock.send_to(&payload, dst).expect("send");
            let mut buf = vec![0u8; 2048];
            let (n, from) = sock.recv_from(&mut buf).ok()?;
            assert_eq!(from, dst, "answer came from another address");
            buf.truncate(n);
            Some(buf)
        })
    }
}

pub const ZEP_BR: &str = "127.0.0.1:17754";
pub const ZEP_MOTES: &str = "127.0.0.1:17755";

fn start_motesim(br: &NetNs, opts: &Options, dir: &std::path::Path) -> Daemon {
    let stats = dir.join("motesim-stats.json");
    let mut cmd = br.command(workspace_bin("motesim"));
    match opts.link {
        Link::Tcp => cmd.args(["--tcp-listen", &format!("127.0.0.1:{RADIO_PORT}")]),
        Link::Pty => cmd.arg("--pty").arg(dir.join("radio-tty")),
        Link::Zep => cmd.args(["--zep-peer", ZEP_BR, "--zep-bind", ZEP_MOTES]),
    };
    cmd.args(["--radio-eui64", RADIO_EUI64])
        .args(["--motes", &opts.motes.to_string()])
        .args(["--loss", &opts.loss.to_string()])
        .args(["--seed", &opts.seed.to_string()])
        .arg("--stats-file")
        .arg(stats);
    if let Some(lifetime) = opts.sixlowpan_hosts {
        cmd.args(["--register-lifetime-min", &lifetime.to_string()]);
    }
    if opts.unthrottled {
        cmd.arg("--unthrottled");
    }
    if !opts.motesim_args.iter().any(|a| a == "--rpl") && opts.sixlowpan_hosts.is_none() {
        cmd.args(["--prefix", PREFIX]);
    }
    cmd.args(&opts.motesim_args);
    let mut d = Daemon::spawn("motesim", cmd);
    d.wait_for_line("listening", Duration::from_secs(20));
    d
}

fn start_border_router(br: &NetNs, opts: &Options, tun: &str, dir: &std::path::Path) -> Daemon {
    let radio = match opts.link {
        Link::Tcp => format!(
            "kind = \"tcp\"\naddress = \"127.0.0.1:{}\"",
            opts.br_radio_port.unwrap_or(RADIO_PORT)
        ),
        Link::Pty => format!(
            "kind = \"serial\"\ndevice = \"{}\"",
            dir.join("radio-tty").display()
        ),
        Link::Zep => format!(
            "kind = \"zep\"\nbind = \"{ZEP_BR}\"\npeers = [\"{ZEP_MOTES}\"]\neui64 = \"{RADIO_EUI64}\""
        ),
    };
    let mut config = format!(
        "[radio]\n{radio}\n{}\n\n\
         [tun]\nname = \"{tun}\"\n\n\
         [network]\nprefix = \"{PREFIX}\"\naddress = \"{BR_ADDR}\"\n\n",
        opts.radio_extra
    );
    if opts.pcap {
        config.push_str(&format!(
            "[capture]\npcap = \"{}\"\n\n",
            dir.join("radio.pcap").display()
        ));
    }
    for n in (1..=opts.motes).filter(|_| opts.sixlowpan_hosts.is_none()) {
        config.push_str(&format!(
            "[[mote]]\neui64 = \"{}\"\nname = \"mote{n}\"\n\n",
            eui64_text(mote_eui64(n))
        ));
    }
    if !opts.br_extra.contains("[control]") {
        // Each test bed its own, not the shared default in /run.
        config.push_str(&format!(
            "[control]\nsocket = \"{}\"\n\n",
            dir.join("control.sock").display()
        ));
    }
    config.push_str(&opts.br_extra);
    let path = dir.join("lowpan-br.toml");
    write(&path, &config);
    let mut cmd = br.command(workspace_bin("lowpan-br"));
    cmd.arg("--config").arg(&path).env("RUST_LOG", "info");
    cmd.envs(opts.br_env.iter().map(|(k, v)| (k, v)));
    Daemon::spawn("lowpan-br", cmd)
}

/// "3 packets transmitted, 2 received" -> 2
pub fn parse_ping_received(text: &str) -> Option<u32> {
    let line = text.lines().find(|l| l.contains("packets transmitted"))?;
    let part = line.split(',').find(|p| p.contains("received"))?;
    part.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_summary_is_parsed() {
        let text = "--- x ping statistics ---\n5 packets transmitted, 4 received, 20% packet loss, time 4005ms\n";
        assert_eq!(parse_ping_received(text), Some(4));
        assert_eq!(parse_ping_received("nothing"), None);
    }

    #[test]
    fn mote_address_flips_universal_local_bit() {
        assert_eq!(
            mote_addr(1),
            "fd00:aaaa::212:4b00:0:1".parse::<Ipv6Addr>().unwrap()
        );
    }
}
