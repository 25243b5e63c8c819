//! The command line, checked into typed [`Options`]. A bad value is refused with the
//! option's name and the reason before anything is generated or written.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;

use crate::{Error, bad, pki};

/// Most motes one deployment provisions (motesim's limit).
pub const MAX_MOTES: usize = 1000;

#[derive(Parser, Debug)]
#[command(
    name = "lowpan-provision",
    version,
    about = "Create a CA, mote and client certificates, PSKs, the redirect key and matching \
             lowpan-br / iotssp / motesim configurations in one directory"
)]
pub struct Args {
    /// Directory to create the files in (created if missing; must be empty unless --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of motes, EUI-64 00:12:4b:00:00:00:00:01 upwards. Default: one per --kinds entry.
    #[arg(long)]
    pub motes: Option<usize>,
    /// Device kind of each mote, in order, repeated when there are more motes:
    /// delegated, dcert, cdpsk, plain.
    #[arg(long, value_delimiter = ',', default_value = "delegated,dcert,cdpsk")]
    pub kinds: Vec<String>,
    /// The mesh /64 prefix.
    #[arg(long, default_value = "fd00:aaaa::/64")]
    pub prefix: String,
    /// Where the IoTSSP runs: inside lowpan-br (attached) or as its own `iotssp` service (remote).
    #[arg(long, default_value = "attached")]
    pub iotssp: String,
    /// Remote IoTSSP: its redirect socket (lowpan-br sends there, iotssp listens there).
    #[arg(long, value_name = "ADDR:PORT")]
    pub iotssp_address: Option<String>,
    /// Remote IoTSSP: lowpan-br's redirect socket (it listens there, iotssp sends there).
    #[arg(long, value_name = "ADDR:PORT")]
    pub br_redirect_address: Option<String>,
    /// Common name of the Internet client's certificate (and the CDPSK PSK identity).
    #[arg(long, default_value = "client.example")]
    pub client_cn: String,
    /// The border router's radio: tcp:HOST:PORT (motesim --tcp-listen) or serial:DEVICE.
    #[arg(long, default_value = "tcp:127.0.0.1:60001")]
    pub radio: String,
    /// Validity of the mote and client certificates, days (the CA gets ten times as long).
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Outbound delegation: the server the delegated motes report to,
    /// coaps://[ADDRESS]:PORT/PATH (PORT 5684 when left out). A server certificate for
    /// --outbound-name is issued (server.pem, server.key, server.pub.pem), the IoTSSP lets
    /// every delegated mote reach that server by its certificate or its raw public key, and
    /// motesim's delegated motes GET PATH on it.
    #[arg(long, value_name = "URI")]
    pub outbound: Option<String>,
    /// Outbound delegation: the DNS name in the server's certificate, which the IoTSSP checks.
    #[arg(long, default_value = "server.example", value_name = "NAME")]
    pub outbound_name: String,
    /// Replace the files of an existing deployment in DIR.
    #[arg(long)]
    pub force: bool,
    /// Delegated motes keep their private keys (keyless delegation): iotssp.toml names only
    /// their certificates (key = "mote"), and the key goes to motesim.toml alone, where the
    /// mote signs each handshake's signature its IoTSSP asks for.
    #[arg(long)]
    pub keyless: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Delegated,
    Dcert,
    Cdpsk,
    Plain,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Delegated => "delegated",
            DeviceKind::Dcert => "dcert",
            DeviceKind::Cdpsk => "cdpsk",
            DeviceKind::Plain => "plain",
        }
    }

    fn parse(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "delegated" => Ok(DeviceKind::Delegated),
            "dcert" => Ok(DeviceKind::Dcert),
            "cdpsk" => Ok(DeviceKind::Cdpsk),
            "plain" => Ok(DeviceKind::Plain),
            other => Err(bad(
                "--kinds",
                format!("{other:?} is not a device kind (delegated, dcert, cdpsk, plain)"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Radio {
    Tcp(String),
    Serial(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IotsspMode {
    Attached,
    Remote {
        iotssp: SocketAddr,
        border_router: SocketAddr,
    },
}

/// The server delegated motes report to (outbound delegation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundServer {
    /// As given: coaps://[address]:port/path.
    pub uri: String,
    pub address: Ipv6Addr,
    pub port: u16,
    /// The name its certificate is issued for and checked against.
    pub name: String,
}

impl OutboundServer {
    /// `coaps://[ADDRESS]:PORT/PATH` or `coaps://[ADDRESS]/PATH` (port 5684).
    fn parse(uri: &str, name: &str) -> Result<Self, Error> {
        let wrong = || {
            bad(
                "--outbound",
                format!(
                    "{uri:?} is not coaps://[ADDRESS]:PORT/PATH (e.g. coaps://[2001:db8::1]:5684/report)"
                ),
            )
        };
        let rest = uri.strip_prefix("coaps://[").ok_or_else(wrong)?;
        let (address, rest) = rest.split_once(']').ok_or_else(wrong)?;
        let address: Ipv6Addr = address.parse().map_err(|_| wrong())?;
        if address.is_unspecified() || address.is_multicast() || address.is_loopback() {
            return Err(bad(
                "--outbound",
                format!("{address}: must be a unicast address"),
            ));
        }
        let (port, path) = match rest.strip_prefix(':') {
            Some(p) => {
                let (port, path) = p.find('/').map_or((p, ""), |i| p.split_at(i));
                (
                    port.parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(wrong)?,
                    path,
                )
            }
            None => (5684, rest),
        };
        if !path.is_empty() && !path.starts_with('/') {
            return Err(wrong());
        }
        pki::check_common_name(name).map_err(|e| bad("--outbound-name", e))?;
        if !name.contains('.') || name.starts_with('.') || name.ends_with('.') {
            return Err(bad(
                "--outbound-name",
                format!("{name:?}: must be a DNS name (e.g. server.example)"),
            ));
        }
        Ok(OutboundServer {
            uri: uri.to_string(),
            address,
            port,
            name: name.to_string(),
        })
    }
}

/// Validated options.
#[derive(Debug, Clone)]
pub struct Options {
    pub out: PathBuf,
    pub kinds: Vec<DeviceKind>,
    pub prefix: Ipv6Addr,
    pub mode: IotsspMode,
    pub client_cn: String,
    pub radio: Radio,
    pub days: u32,
    pub outbound: Option<OutboundServer>,
    pub force: bool,
    pub keyless: bool,
}

pub const DEFAULT_IOTSSP_ADDRESS: &str = "[::1]:7700";
pub const DEFAULT_BR_REDIRECT_ADDRESS: &str = "[::1]:7701";

impl Args {
    pub fn check(&self) -> Result<Options, Error> {
        if self.out.as_os_str().is_empty() {
            return Err(bad("--out", "must name a directory"));
        }
        let pattern: Vec<DeviceKind> = self
            .kinds
            .iter()
            .map(|k| DeviceKind::parse(k))
            .collect::<Result<_, _>>()?;
        if pattern.is_empty() {
            return Err(bad("--kinds", "name at least one device kind"));
        }
        let n = self.motes.unwrap_or(pattern.len());
        if n == 0 || n > MAX_MOTES {
            return Err(bad("--motes", format!("{n}: must be 1..={MAX_MOTES}")));
        }
        let kinds: Vec<DeviceKind> = (0..n).map(|i| pattern[i % pattern.len()]).collect();
        let prefix = parse_prefix(&self.prefix)?;
        let addr = |option: &'static str,
                    v: &Option<String>,
                    default: &str|
         -> Result<SocketAddr, Error> {
            let s = v.as_deref().unwrap_or(default);
            s.parse().map_err(|_| {
                bad(
                    option,
                    format!("{s:?} is not an address:port (e.g. {default})"),
                )
            })
        };
        let mode = match self.iotssp.as_str() {
            "attached" => {
                for (option, given) in [
                    ("--iotssp-address", &self.iotssp_address),
                    ("--br-redirect-address", &self.br_redirect_address),
                ] {
                    if given.is_some() {
                        return Err(bad(option, "only with --iotssp remote"));
                    }
                }
                IotsspMode::Attached
            }
            "remote" => IotsspMode::Remote {
                iotssp: addr(
                    "--iotssp-address",
                    &self.iotssp_address,
                    DEFAULT_IOTSSP_ADDRESS,
                )?,
                border_router: addr(
                    "--br-redirect-address",
                    &self.br_redirect_address,
                    DEFAULT_BR_REDIRECT_ADDRESS,
                )?,
            },
            other => {
                return Err(bad(
                    "--iotssp",
                    format!("{other:?}: must be attached or remote"),
                ));
            }
        };
        pki::check_common_name(&self.client_cn).map_err(|e| bad("--client-cn", e))?;
        let radio = match self.radio.split_once(':') {
            Some(("tcp", hp)) => match hp.rsplit_once(':') {
                Some((host, port))
                    if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) =>
                {
                    Radio::Tcp(hp.to_string())
                }
                _ => {
                    return Err(bad(
                        "--radio",
                        format!("{hp:?} is not host:port (e.g. tcp:127.0.0.1:60001)"),
                    ));
                }
            },
            Some(("serial", dev)) if !dev.is_empty() => Radio::Serial(dev.to_string()),
            _ => {
                return Err(bad(
                    "--radio",
                    format!("{:?}: expected tcp:HOST:PORT or serial:DEVICE", self.radio),
                ));
            }
        };
        if self.days == 0 || self.days > 3650 {
            return Err(bad("--days", format!("{}: must be 1..=3650", self.days)));
        }
        let outbound = match &self.outbound {
            Some(uri) => {
                if !kinds.contains(&DeviceKind::Delegated) {
                    return Err(bad("--outbound", "needs a delegated mote in --kinds"));
                }
                Some(OutboundServer::parse(uri, &self.outbound_name)?)
            }
            None => None,
        };
        Ok(Options {
            out: self.out.clone(),
            kinds,
            prefix,
            mode,
            client_cn: self.client_cn.clone(),
            radio,
            days: self.days,
            outbound,
            force: self.force,
            keyless: self.keyless,
        })
    }
}

/// "fd00:aaaa::/64" (the rule of [`lowpan::Prefix64`]'s `FromStr`).
fn parse_prefix(s: &str) -> Result<Ipv6Addr, Error> {
    s.parse::<lowpan::Prefix64>()
        .map(|p| p.network())
        .map_err(|e| bad("--prefix", format!("{s:?} {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str]) -> Result<Options, String> {
        let mut v = vec!["lowpan-provision", "--out", "/tmp/x"];
        v.extend_from_slice(args);
        Args::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let o = check(&[]).unwrap();
        assert_eq!(
            o.kinds,
            [DeviceKind::Delegated, DeviceKind::Dcert, DeviceKind::Cdpsk]
        );
        assert_eq!(o.mode, IotsspMode::Attached);
        assert_eq!(o.radio, Radio::Tcp("127.0.0.1:60001".into()));
        assert_eq!(o.prefix, "fd00:aaaa::".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn kinds_repeat_over_motes() {
        let o = check(&["--motes", "5", "--kinds", "delegated,plain"]).unwrap();
        use DeviceKind::*;
        assert_eq!(o.kinds, [Delegated, Plain, Delegated, Plain, Delegated]);
        let o = check(&[
            "--iotssp",
            "remote",
            "--iotssp-address",
            "[2001:db8::5]:7700",
        ])
        .unwrap();
        assert!(matches!(o.mode, IotsspMode::Remote { iotssp, .. } if iotssp.port() == 7700));
    }

    #[test]
    fn outbound_server_uri() {
        let o = check(&["--outbound", "coaps://[2001:db8::1]:5700/report"]).unwrap();
        let s = o.outbound.unwrap();
        assert_eq!(
            (s.address.to_string().as_str(), s.port, s.name.as_str()),
            ("2001:db8::1", 5700, "server.example")
        );
        let o = check(&[
            "--outbound",
            "coaps://[2001:db8::1]/",
            "--outbound-name",
            "coap.example.org",
        ])
        .unwrap();
        let s = o.outbound.unwrap();
        assert_eq!((s.port, s.name.as_str()), (5684, "coap.example.org"));
        assert_eq!(check(&[]).unwrap().outbound, None);
    }

    #[test]
    fn bad_values_name_the_option() {
        for (args, option) in [
            (&["--motes", "0"][..], "--motes"),
            (&["--motes", "1001"][..], "--motes"),
            (&["--kinds", "fancy"][..], "--kinds"),
            (&["--prefix", "fd00::/48"][..], "--prefix"),
            (&["--prefix", "fd00::1/64"][..], "--prefix"),
            (&["--prefix", "nope"][..], "--prefix"),
            (&["--iotssp", "both"][..], "--iotssp"),
            (&["--iotssp-address", "[::1]:7700"][..], "--iotssp-address"),
            (
                &["--iotssp", "remote", "--iotssp-address", "nowhere"][..],
                "--iotssp-address",
            ),
            (&["--client-cn", "a,b"][..], "--client-cn"),
            (&["--radio", "zep:1"][..], "--radio"),
            (&["--radio", "tcp:localhost"][..], "--radio"),
            (&["--days", "0"][..], "--days"),
            (
                &["--outbound", "coap://[2001:db8::1]:5683/"][..],
                "--outbound",
            ),
            (&["--outbound", "coaps://2001:db8::1/"][..], "--outbound"),
            (
                &["--outbound", "coaps://[2001:db8::1]:0/"][..],
                "--outbound",
            ),
            (&["--outbound", "coaps://[::1]/"][..], "--outbound"),
            (
                &[
                    "--outbound",
                    "coaps://[2001:db8::1]",
                    "--outbound-name",
                    "a b",
                ][..],
                "--outbound-name",
            ),
            (
                &["--outbound", "coaps://[2001:db8::1]", "--kinds", "dcert"][..],
                "--outbound",
            ),
        ] {
            let e = check(args).unwrap_err();
            assert!(e.contains(option), "{args:?}: {e}");
        }
    }
}
