//! The text of every file of a deployment: PEM, the three configurations and the README.
//! Paths inside configurations are absolute (the daemons resolve them differently: iotssp
//! relative to its file, motesim relative to its working directory).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::Error;
use crate::options::{DeviceKind, IotsspMode, Radio};
use crate::plan::{BR_NAME, Deployment, IOTSSP_NAME, REDIRECT_KEY_ID, TRANSFER_PORT};
use crate::secrets::hex;

/// DTLS port of every mote (CoAP over DTLS, RFC 7252).
pub const DTLS_PORT: u16 = 5684;

/// One file to write. Secret files are created 0600 and their text is wiped when dropped.
pub struct File {
    pub name: String,
    pub text: Zeroizing<String>,
    pub secret: bool,
}

fn public(name: impl Into<String>, text: String) -> File {
    File {
        name: name.into(),
        text: Zeroizing::new(text),
        secret: false,
    }
}

fn secret(name: impl Into<String>, text: Zeroizing<String>) -> File {
    File {
        name: name.into(),
        text,
        secret: true,
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(q, "\\u{:04x}", u32::from(c));
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn path_str(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

/// Everything to write into `dir` (absolute).
pub fn files(d: &Deployment, dir: &Path) -> Result<Vec<File>, Error> {
    let mut out = vec![
        public("ca.pem", d.ca.cert_pem()?),
        secret("ca.key", d.ca.key_pem()?),
    ];
    for m in &d.motes {
        out.push(public(format!("{}.pem", m.name), m.identity.cert_pem()?));
        out.push(secret(format!("{}.key", m.name), m.identity.key_pem()?));
    }
    out.push(public("client.pem", d.client.cert_pem()?));
    out.push(public("client.pub.pem", d.client.public_key_pem()?));
    out.push(secret("client.key", d.client.key_pem()?));
    if let Some(psk) = &d.client_psk {
        let mut t = hex(psk.as_slice());
        t.push('\n');
        out.push(secret("client.psk", t));
    }
    if let Some(server) = &d.server {
        out.push(public("server.pem", server.cert_pem()?));
        out.push(public("server.pub.pem", server.public_key_pem()?));
        out.push(secret("server.key", server.key_pem()?));
    }
    out.push(secret("lowpan-br.toml", lowpan_br(d, dir)));
    let client_rpk = d.client.spki_sha256_hex()?;
    let server_rpk = d.server.as_ref().map(|s| s.spki_sha256_hex()).transpose()?;
    out.push(secret(
        "iotssp.toml",
        iotssp(d, dir, &client_rpk, server_rpk.as_deref()),
    ));
    out.push(secret("motesim.toml", motesim(d, dir, &client_rpk)));
    out.push(public("README.txt", readme(d, dir)));
    Ok(out)
}

pub fn lowpan_br(d: &Deployment, dir: &Path) -> Zeroizing<String> {
    let o = &d.options;
    let mut t = Zeroizing::new(String::new());
    let w = &mut *t;
    let _ = writeln!(
        w,
        "# lowpan-br configuration written by lowpan-provision (see README.txt)."
    );
    let _ = writeln!(
        w,
        "# Check it with: lowpan-br --config {} --check-config\n",
        dir.join("lowpan-br.toml").display()
    );
    let _ = writeln!(w, "[radio]");
    match &o.radio {
        Radio::Tcp(a) => {
            let _ = writeln!(w, "kind = \"tcp\"\naddress = {}", quote(a));
        }
        Radio::Serial(dev) => {
            let _ = writeln!(w, "kind = \"serial\"\ndevice = {}", quote(dev));
        }
    }
    let _ = writeln!(w, "\n[tun]\nname = \"lowpan0\"\n");
    let _ = writeln!(
        w,
        "[network]\nprefix = \"{}/64\"\naddress = \"{}\"\n",
        o.prefix,
        d.br_address()
    );
    let _ = writeln!(w, "[hrm]\ndtls_port = {DTLS_PORT}");
    if let IotsspMode::Remote { border_router, .. } = &o.mode {
        let _ = writeln!(
            w,
            "# The redirect protocol with the remote IoTSSP.\nredirect_listen = \"{border_router}\""
        );
    }
    let _ = writeln!(w, "\n[[iotssp]]\nname = {}", quote(IOTSSP_NAME));
    match &o.mode {
        IotsspMode::Attached => {
            let _ = writeln!(
                w,
                "attached = true\nconfig = {}",
                path_str(&dir.join("iotssp.toml"))
            );
        }
        IotsspMode::Remote { iotssp, .. } => {
            let _ = writeln!(w, "address = \"{iotssp}\"\nkey_id = {REDIRECT_KEY_ID}");
            let _ = writeln!(w, "key = \"{}\"", hex(d.redirect_key.as_slice()).as_str());
        }
    }
    for m in &d.motes {
        let _ = writeln!(w, "\n# {} ({}), {}", m.name, m.kind.as_str(), m.address);
        let _ = writeln!(
            w,
            "[[mote]]\neui64 = \"{}\"\nname = {}",
            m.eui64_text(),
            quote(&m.name)
        );
        if m.kind == DeviceKind::Delegated {
            let _ = writeln!(w, "policy = \"delegate\"\niotssp = {}", quote(IOTSSP_NAME));
        } else {
            let _ = writeln!(w, "policy = \"passthrough\"");
        }
    }
    t
}

/// `client_rpk`: the SHA-256 (hex) of the client's SubjectPublicKeyInfo, which the policy
/// names so that the client may also come with its raw public key (RFC 7250);
/// `server_rpk`: the same of the outbound server's key, when there is one.
pub fn iotssp(
    d: &Deployment,
    dir: &Path,
    client_rpk: &str,
    server_rpk: Option<&str>,
) -> Zeroizing<String> {
    let o = &d.options;
    let (listen, br) = match &o.mode {
        IotsspMode::Remote {
            iotssp,
            border_router,
        } => (iotssp.to_string(), border_router.to_string()),
        IotsspMode::Attached => (
            crate::options::DEFAULT_IOTSSP_ADDRESS.to_string(),
            crate::options::DEFAULT_BR_REDIRECT_ADDRESS.to_string(),
        ),
    };
    let mut t = Zeroizing::new(String::new());
    let w = &mut *t;
    let _ = writeln!(
        w,
        "# iotssp configuration written by lowpan-provision (see README.txt)."
    );
    if o.mode == IotsspMode::Attached {
        let _ = writeln!(
            w,
            "# lowpan-br runs this IoTSSP inside itself ([[iotssp]] attached = true) and ignores"
        );
        let _ = writeln!(
            w,
            "# [redirect]; it is filled in so the same file serves a remote `iotssp` too."
        );
    }
    let _ = writeln!(w, "name = {}\n", quote(IOTSSP_NAME));
    let _ = writeln!(w, "[redirect]\nlisten = \"{listen}\"\n");
    let _ = writeln!(
        w,
        "[[redirect.border_routers]]\nname = {}\naddress = \"{br}\"\nkey_id = {REDIRECT_KEY_ID}",
        quote(BR_NAME)
    );
    let _ = writeln!(w, "key = \"{}\"", hex(d.redirect_key.as_slice()).as_str());
    for m in d.delegated() {
        let _ = writeln!(
            w,
            "\n[[motes]]\nname = {}\naddress = \"{}\"",
            quote(&m.name),
            m.address
        );
        let _ = writeln!(
            w,
            "dtls_port = {DTLS_PORT}\ntransfer_port = {TRANSFER_PORT}"
        );
        let _ = writeln!(
            w,
            "certificate_chain = {}",
            path_str(&dir.join(format!("{}.pem", m.name)))
        );
        if o.keyless {
            let _ = writeln!(
                w,
                "# keyless: the mote keeps its private key and signs each handshake itself"
            );
            let _ = writeln!(w, "key = \"mote\"");
        } else {
            let _ = writeln!(
                w,
                "private_key = {}",
                path_str(&dir.join(format!("{}.key", m.name)))
            );
        }
        let _ = writeln!(w, "psk_identity = {}", quote(&m.name));
        if let Some(psk) = &m.iotssp_psk {
            let _ = writeln!(w, "psk = \"{}\"", hex(psk.as_slice()).as_str());
        }
        let _ = writeln!(
            w,
            "# the chain, or the mote's key alone to clients asking for a raw public key (RFC 7250)"
        );
        let _ = writeln!(w, "certificate_types = [\"x509\", \"raw-public-key\"]");
        if let Some(s) = &o.outbound {
            let _ = writeln!(
                w,
                "# the server the mote reports to (outbound delegation): its certificate for {name},\n\
                 # or its raw public key (server.pub.pem, RFC 7250)\n\
                 [[motes.outbound]]\naddress = \"{}\"\nport = {}\nname = {}",
                s.address,
                s.port,
                quote(&s.name),
                name = s.name
            );
            if let Some(rpk) = server_rpk {
                let _ = writeln!(w, "raw_public_key = \"rpk-sha256:{rpk}\"");
            }
        }
    }
    let _ = writeln!(
        w,
        "\n[trust]\nanchors = {}\n",
        path_str(&dir.join("ca.pem"))
    );
    let _ = writeln!(w, "[authorization]\ndefault = \"deny\"");
    let names: Vec<String> = d.delegated().map(|m| quote(&m.name)).collect();
    if !names.is_empty() {
        let _ = writeln!(
            w,
            "\n[[authorization.rules]]\nclient = {}\nmotes = [{}]",
            quote(&format!("cn:{}", o.client_cn)),
            names.join(", ")
        );
        let _ = writeln!(
            w,
            "\n# the same client with its raw public key (client.pub.pem, RFC 7250)\n[[authorization.rules]]\nclient = {}\nmotes = [{}]",
            quote(&format!("rpk-sha256:{client_rpk}")),
            names.join(", ")
        );
    }
    t
}

/// `client_rpk`: the client's raw public key hash, which the DCert motes accept.
pub fn motesim(d: &Deployment, dir: &Path, client_rpk: &str) -> Zeroizing<String> {
    let mut t = Zeroizing::new(String::new());
    let w = &mut *t;
    let _ = writeln!(
        w,
        "# motesim configuration written by lowpan-provision (see README.txt)."
    );
    let euis: Vec<String> = d.motes.iter().map(|m| quote(&m.eui64_text())).collect();
    let _ = writeln!(w, "mote_eui64s = [{}]", euis.join(", "));
    let _ = writeln!(w, "prefix = \"{}/64\"", d.options.prefix);
    for m in &d.motes {
        let _ = writeln!(w, "\n# {}, {}", m.name, m.address);
        let _ = writeln!(
            w,
            "[[device]]\neui64 = \"{}\"\ndevice_kind = \"{}\"",
            m.eui64_text(),
            m.kind.as_str()
        );
        match m.kind {
            DeviceKind::Delegated => {
                let _ = writeln!(w, "psk_identity = {}", quote(&m.name));
                if let Some(psk) = &m.iotssp_psk {
                    let _ = writeln!(w, "psk_hex = \"{}\"", hex(psk.as_slice()).as_str());
                }
                let _ = writeln!(w, "transfer_port = {TRANSFER_PORT}");
                let _ = writeln!(w, "iotssp_address = \"{}\"", iotssp_mote_source(d));
                if let Some(s) = &d.options.outbound {
                    let _ = writeln!(w, "outbound = {}", quote(&s.uri));
                }
                if d.options.keyless {
                    // The mote's key is here only: the IoTSSP holds its certificate.
                    let _ = writeln!(
                        w,
                        "key = {}",
                        path_str(&dir.join(format!("{}.key", m.name)))
                    );
                }
            }
            DeviceKind::Dcert => {
                let _ = writeln!(
                    w,
                    "cert = {}",
                    path_str(&dir.join(format!("{}.pem", m.name)))
                );
                let _ = writeln!(
                    w,
                    "key = {}",
                    path_str(&dir.join(format!("{}.key", m.name)))
                );
                let _ = writeln!(w, "trust_anchor = {}", path_str(&dir.join("ca.pem")));
                let _ = writeln!(w, "certificate_types = \"x509,raw-public-key\"");
                let _ = writeln!(w, "client_rpk_sha256 = \"{client_rpk}\"");
            }
            DeviceKind::Cdpsk => {
                let _ = writeln!(w, "psk_identity = {}", quote(&d.options.client_cn));
                if let Some(psk) = &d.client_psk {
                    let _ = writeln!(w, "psk_hex = \"{}\"", hex(psk.as_slice()).as_str());
                }
            }
            DeviceKind::Plain => {}
        }
    }
    t
}

/// The port an attached IoTSSP talks to its motes from (lowpan-br's `hrm.attached_port`
/// default), from the border router's own address.
const ATTACHED_PORT: u16 = 5690;

/// Where a delegated mote reaches its IoTSSP (its association's peer): the attached one at
/// the border router's address and `hrm.attached_port`; a remote one at its mote source,
/// which lowpan-br derives from its redirect address (that address when it is a global IPv6
/// address, else the border router's own; the redirect address's port).
fn iotssp_mote_source(d: &Deployment) -> std::net::SocketAddrV6 {
    match &d.options.mode {
        IotsspMode::Attached => std::net::SocketAddrV6::new(d.br_address(), ATTACHED_PORT, 0, 0),
        IotsspMode::Remote { iotssp, .. } => {
            let ip = match iotssp.ip() {
                std::net::IpAddr::V6(v6)
                    if !v6.is_loopback()
                        && !v6.is_unspecified()
                        && !v6.is_unicast_link_local()
                        && !v6.is_multicast()
                        && v6.to_ipv4_mapped().is_none() =>
                {
                    v6
                }
                _ => d.br_address(),
            };
            std::net::SocketAddrV6::new(ip, iotssp.port(), 0, 0)
        }
    }
}

/// A shell word (single-quoted when needed).
fn sh(p: &Path) -> String {
    let s = p.to_string_lossy();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub fn readme(d: &Deployment, dir: &Path) -> String {
    let o = &d.options;
    let f = |name: &str| -> String { sh(&dir.join(name)) };
    let mut w = String::new();
    let _ = writeln!(
        w,
        "Deployment written by lowpan-provision into {}",
        dir.display()
    );
    let _ = writeln!(
        w,
        "Paths in the configurations are absolute: move the directory and run lowpan-provision again.\n"
    );
    let _ = writeln!(w, "FILES (mode 0600 = secret)");
    let _ = writeln!(
        w,
        "  ca.pem             the CA (P-256, self-signed): trust anchor of the IoTSSP, the DCert motes and the client"
    );
    let _ = writeln!(
        w,
        "  ca.key       0600  the CA's private key (only needed to issue more certificates)"
    );
    for m in &d.motes {
        let _ = writeln!(
            w,
            "  {0}.pem / .key 0600  {0}: {1}, EUI-64 {2}, address {3}",
            m.name,
            m.kind.as_str(),
            m.eui64_text(),
            m.address
        );
    }
    let _ = writeln!(
        w,
        "  client.pem / .key 0600  the Internet client (CN={}, clientAuth)",
        o.client_cn
    );
    let _ = writeln!(
        w,
        "  client.pub.pem     the client's public key alone, for raw public keys (RFC 7250); the IoTSSP and the DCert motes name it by its SHA-256"
    );
    if d.client_psk.is_some() {
        let _ = writeln!(
            w,
            "  client.psk   0600  the client's PSK (hex) for the CDPSK motes, identity {:?}",
            o.client_cn
        );
    }
    if let Some(s) = &o.outbound {
        let _ = writeln!(
            w,
            "  server.pem / .key 0600  the server the delegated motes report to (outbound delegation; DNS:{}, serverAuth)",
            s.name
        );
        let _ = writeln!(
            w,
            "  server.pub.pem     the server's public key alone, for raw public keys (RFC 7250); the IoTSSP names it by its SHA-256"
        );
    }
    let _ = writeln!(
        w,
        "  lowpan-br.toml 0600  the border router: radio, TUN, prefix, motes and their policy, the IoTSSP ({})",
        match o.mode {
            IotsspMode::Attached => "attached",
            IotsspMode::Remote { .. } => "remote, with the redirect key",
        }
    );
    let _ = writeln!(
        w,
        "  iotssp.toml  0600  the IoTSSP: delegated motes (certificate, key, PSK), trust anchor, authorization, redirect key"
    );
    let _ = writeln!(
        w,
        "  motesim.toml 0600  the emulated motes: EUI-64s, device kinds, PSKs, DCert certificate and key"
    );
    let _ = writeln!(w, "\nCHECK");
    let _ = writeln!(
        w,
        "  lowpan-br --config {} --check-config",
        f("lowpan-br.toml")
    );
    let _ = writeln!(w, "  iotssp --config {} --check-config", f("iotssp.toml"));
    let _ = writeln!(
        w,
        "  openssl verify -CAfile {} {} {}",
        f("ca.pem"),
        f("client.pem"),
        d.motes
            .iter()
            .map(|m| f(&format!("{}.pem", m.name)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(w, "\nSTART");
    let mut step = 1;
    match &o.radio {
        Radio::Tcp(a) => {
            let _ = writeln!(
                w,
                "  {step}. emulated motes behind a slip-radio on TCP:\n       motesim --tcp-listen {a} --config {}",
                f("motesim.toml")
            );
            step += 1;
        }
        Radio::Serial(dev) => {
            let _ = writeln!(
                w,
                "  (the radio is the slip-radio on {dev}; motesim.toml describes emulated motes: run"
            );
            let _ = writeln!(
                w,
                "   motesim --pty {dev} --config {} to emulate them there)",
                f("motesim.toml")
            );
        }
    }
    if let IotsspMode::Remote { .. } = o.mode {
        let _ = writeln!(
            w,
            "  {step}. the IoTSSP:\n       iotssp --config {}",
            f("iotssp.toml")
        );
        step += 1;
    }
    let _ = writeln!(
        w,
        "  {step}. the border router (creates the TUN lowpan0: needs CAP_NET_ADMIN):\n       sudo lowpan-br --config {}",
        f("lowpan-br.toml")
    );
    let _ = writeln!(
        w,
        "\nCONNECT (from this host, through lowpan0; or from any host routing {}/64 to the border router)",
        o.prefix
    );
    for m in &d.motes {
        let target = format!("'[{}]:{DTLS_PORT}'", m.address);
        match m.kind {
            DeviceKind::Delegated | DeviceKind::Dcert => {
                let how = if m.kind == DeviceKind::Delegated {
                    "handshake run by the IoTSSP, session transferred to the mote"
                } else {
                    "full DTLS at the mote"
                };
                let _ = writeln!(w, "  {} ({how}):", m.name);
                let _ = writeln!(
                    w,
                    "    openssl s_client -dtls1_2 -cipher ECDHE-ECDSA-AES128-CCM8 -cert {} -key {} -CAfile {} -verify_return_error -connect {target}",
                    f("client.pem"),
                    f("client.key"),
                    f("ca.pem")
                );
                let _ = writeln!(
                    w,
                    "    or with raw public keys (RFC 7250; a raw key cannot be checked against the CA, hence --insecure):\n    gnutls-cli --udp -p {DTLS_PORT} --rawpkkeyfile {} --rawpkfile {} --insecure --priority NORMAL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK:-CTYPE-CLI-X509:-CTYPE-SRV-X509 {}",
                    f("client.key"),
                    f("client.pub.pem"),
                    m.address
                );
            }
            DeviceKind::Cdpsk => {
                let _ = writeln!(w, "  {} (PSK with the client):", m.name);
                let _ = writeln!(
                    w,
                    "    openssl s_client -dtls1_2 -cipher PSK-AES128-CCM8 -psk_identity {} -psk \"$(cat {})\" -connect {target}",
                    o.client_cn,
                    f("client.psk")
                );
            }
            DeviceKind::Plain => {
                let _ = writeln!(
                    w,
                    "  {} (no security): CoAP on udp [{}]:5683",
                    m.name, m.address
                );
            }
        }
    }
    if let Some(s) = &o.outbound {
        let _ = writeln!(
            w,
            "\nOUTBOUND (the delegated motes report to {}: run one of these on the host with {}; the IoTSSP\n\
             opens the session in each mote's name, and the mote's GETs go end to end)",
            s.uri, s.address
        );
        let _ = writeln!(
            w,
            "  openssl s_server -dtls1_2 -6 -accept {} -cert {} -key {} -Verify 1 -CAfile {} -verify_return_error",
            s.port,
            f("server.pem"),
            f("server.key"),
            f("ca.pem")
        );
        let _ = writeln!(
            w,
            "  or libcoap (it listens on the next port for DTLS):\n  coap-server-openssl -A {} -p {} -c {} -j {} -R {}",
            s.address,
            s.port.saturating_sub(1),
            f("server.pem"),
            f("server.key"),
            f("ca.pem")
        );
        let _ = writeln!(
            w,
            "  or with raw public keys (RFC 7250), echoing each GET:\n  gnutls-serv --udp --echo -p {} --rawpkkeyfile {} --rawpkfile {} --require-client-cert --priority NORMAL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK:-CTYPE-CLI-X509:-CTYPE-SRV-X509",
            s.port,
            f("server.key"),
            f("server.pub.pem")
        );
    }
    w
}

/// The absolute form of `dir` (which must exist).
pub fn absolute(dir: &Path) -> Result<PathBuf, Error> {
    dir.canonicalize().map_err(|e| Error::Io {
        path: dir.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        assert_eq!(sh(Path::new("/tmp/a b")), "'/tmp/a b'");
        assert_eq!(sh(Path::new("/tmp/ab")), "/tmp/ab");
    }
}
