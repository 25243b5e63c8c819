//! What a deployment consists of: the motes (name, EUI-64, address, device kind) and every
//! secret generated for it. Built once from the [`Options`]; the files are rendered from it.

use std::net::Ipv6Addr;

use zeroize::Zeroizing;

use crate::Error;
use crate::options::{DeviceKind, Options};
use crate::pki::{self, Issued, Role};
use crate::secrets::random_key;

/// IoTSSP <-> mote PSK length (AES-128-CCM-8 PSK suite; 16 bytes is the usual provisioning).
pub const PSK_LEN: usize = 16;
/// Redirect-channel key length (HMAC-SHA256 key).
pub const REDIRECT_KEY_LEN: usize = 32;
/// Name of the IoTSSP in both the border router's and its own configuration.
pub const IOTSSP_NAME: &str = "iotssp-1";
/// Name of the border router in the IoTSSP's configuration.
pub const BR_NAME: &str = "br-1";
/// Key id of the redirect-channel key on both ends.
pub const REDIRECT_KEY_ID: u32 = 1;
/// The mote's port for the PSK session with its IoTSSP (motesim and iotssp default).
pub const TRANSFER_PORT: u16 = 5685;

pub struct Mote {
    /// 1-based position; also the last byte(s) of the EUI-64.
    pub index: u16,
    pub name: String,
    pub eui64: [u8; 8],
    pub address: Ipv6Addr,
    pub kind: DeviceKind,
    pub identity: Issued,
    /// The PSK shared with the IoTSSP (delegated motes only); its identity is the mote's name.
    pub iotssp_psk: Option<Zeroizing<[u8; PSK_LEN]>>,
}

impl Mote {
    pub fn eui64_text(&self) -> String {
        self.eui64
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

pub struct Deployment {
    pub options: Options,
    pub ca: Issued,
    pub motes: Vec<Mote>,
    pub client: Issued,
    /// The server the delegated motes report to (`--outbound`), its certificate for its name.
    pub server: Option<Issued>,
    /// The Internet client's PSK for CDPSK motes (identity = the client's CN), when any.
    pub client_psk: Option<Zeroizing<[u8; PSK_LEN]>>,
    pub redirect_key: Zeroizing<[u8; REDIRECT_KEY_LEN]>,
}

/// 00:12:4b:00:00:00:HH:LL, as motesim numbers its motes.
pub fn mote_eui64(n: u16) -> [u8; 8] {
    let [hi, lo] = n.to_be_bytes();
    [0x00, 0x12, 0x4b, 0x00, 0x00, 0x00, hi, lo]
}

/// The prefix and the EUI-64's interface identifier (U/L bit flipped, RFC 4291 appendix A).
pub fn mote_address(prefix: Ipv6Addr, eui64: [u8; 8]) -> Ipv6Addr {
    lowpan::Prefix64::of(&prefix).with_iid(lowpan::ip::iid_from_eui64(lowpan::Eui64(eui64)))
}

impl Deployment {
    pub fn generate(options: Options) -> Result<Self, Error> {
        let ca_cn = format!(
            "lowpan-provision-ca-{}",
            crate::secrets::hex(&crate::secrets::random_bytes::<4>()?).as_str()
        );
        let ca = pki::new_ca(&ca_cn, options.days.saturating_mul(10).min(36_500))?;
        let mut motes = Vec::with_capacity(options.kinds.len());
        for (i, kind) in options.kinds.iter().enumerate() {
            let index = u16::try_from(i + 1).map_err(|_| crate::bad("--motes", "too many"))?;
            let eui64 = mote_eui64(index);
            let address = mote_address(options.prefix, eui64);
            let name = format!("mote-{index}");
            let identity = pki::issue(&ca, &name, Role::Mote { address }, options.days)?;
            let iotssp_psk = if *kind == DeviceKind::Delegated {
                Some(random_key::<PSK_LEN>()?)
            } else {
                None
            };
            motes.push(Mote {
                index,
                name,
                eui64,
                address,
                kind: *kind,
                identity,
                iotssp_psk,
            });
        }
        let client = pki::issue(&ca, &options.client_cn, Role::Client, options.days)?;
        let server = match &options.outbound {
            Some(s) => Some(pki::issue(
                &ca,
                &s.name,
                Role::Server {
                    name: s.name.clone(),
                },
                options.days,
            )?),
            None => None,
        };
        let client_psk = if options.kinds.contains(&DeviceKind::Cdpsk) {
            Some(random_key::<PSK_LEN>()?)
        } else {
            None
        };
        let redirect_key = random_key::<REDIRECT_KEY_LEN>()?;
        Ok(Deployment {
            options,
            ca,
            motes,
            client,
            server,
            client_psk,
            redirect_key,
        })
    }

    pub fn delegated(&self) -> impl Iterator<Item = &Mote> {
        self.motes
            .iter()
            .filter(|m| m.kind == DeviceKind::Delegated)
    }

    /// The border router's own address on the TUN: prefix::1.
    pub fn br_address(&self) -> Ipv6Addr {
        let mut o = self.options.prefix.octets();
        o[15] = 1;
        Ipv6Addr::from(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_eui64() {
        let a = mote_address("fd00:aaaa::".parse().unwrap(), mote_eui64(1));
        assert_eq!(a, "fd00:aaaa::212:4b00:0:1".parse::<Ipv6Addr>().unwrap());
        let a = mote_address("2001:db8:1::".parse().unwrap(), mote_eui64(0x0102));
        assert_eq!(
            a,
            "2001:db8:1:0:212:4b00:0:102".parse::<Ipv6Addr>().unwrap()
        );
    }
}
