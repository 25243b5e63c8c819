//! [`Prefix64`]: the /64 prefix of a 6LoWPAN mesh, from which every node forms its addresses
//! (prefix + the 64-bit interface identifier of its link-layer address).

use core::fmt;
use core::str::FromStr;
use std::net::Ipv6Addr;

/// The first 64 bits of an IPv6 address: a /64 network prefix.
///
/// Any 64 bits can be held (a Prefix Information option may carry anything); the rule for
/// what an operator may configure is [`Prefix64::from_str`]: `<address>/64` where the
/// address has nothing set after the first 64 bits and is a global or unique-local unicast
/// prefix (not `::`, not multicast `ff00::/8`, not link-local `fe80::/10`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix64([u8; 8]);

impl Prefix64 {
    pub const fn from_octets(octets: [u8; 8]) -> Self {
        Prefix64(octets)
    }

    /// The prefix of `addr` (its first 64 bits).
    pub fn of(addr: &Ipv6Addr) -> Self {
        let mut p = [0u8; 8];
        p.copy_from_slice(&addr.octets()[..8]);
        Prefix64(p)
    }

    pub const fn octets(&self) -> [u8; 8] {
        self.0
    }

    /// The prefix as an address with a zero interface identifier (`fd00:aaaa::`).
    pub fn network(&self) -> Ipv6Addr {
        self.with_iid([0; 8])
    }

    /// The address made of this prefix and interface identifier `iid`.
    pub fn with_iid(&self, iid: [u8; 8]) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&self.0);
        a[8..].copy_from_slice(&iid);
        Ipv6Addr::from(a)
    }

    pub fn contains(&self, addr: &Ipv6Addr) -> bool {
        addr.octets()[..8] == self.0
    }
}

impl fmt::Display for Prefix64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/64", self.network())
    }
}

impl fmt::Debug for Prefix64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prefix64({self})")
    }
}

/// Why a string is not a prefix that may be configured.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ParsePrefix64Error {
    /// No `/length` after the address.
    MissingLength,
    /// The part before `/` is not an IPv6 address.
    BadAddress,
    /// A length other than 64.
    NotSlash64(String),
    /// Bits set after the first 64.
    HostBitsSet,
    /// `::`, multicast or link-local.
    NotUnicast,
}

impl fmt::Display for ParsePrefix64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParsePrefix64Error::MissingLength => {
                f.write_str("has no prefix length (expected e.g. fd00:aaaa::/64)")
            }
            ParsePrefix64Error::BadAddress => f.write_str("is not an IPv6 prefix"),
            ParsePrefix64Error::NotSlash64(len) => write!(
                f,
                "must be a /64 (addresses are formed from 64-bit EUI-64 interface identifiers), got /{len}"
            ),
            ParsePrefix64Error::HostBitsSet => f.write_str("has bits set after the first 64"),
            ParsePrefix64Error::NotUnicast => {
                f.write_str("is not a global or unique-local unicast prefix")
            }
        }
    }
}

impl std::error::Error for ParsePrefix64Error {}

impl FromStr for Prefix64 {
    type Err = ParsePrefix64Error;

    /// Accepts `fd00:aaaa::/64`; see [`Prefix64`] for the rule.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = s.split_once('/').ok_or(ParsePrefix64Error::MissingLength)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| ParsePrefix64Error::BadAddress)?;
        if len != "64" {
            return Err(ParsePrefix64Error::NotSlash64(len.to_owned()));
        }
        let o = addr.octets();
        if o[8..] != [0; 8] {
            return Err(ParsePrefix64Error::HostBitsSet);
        }
        let link_local = o[0] == 0xfe && o[1] & 0xc0 == 0x80;
        if addr.is_unspecified() || addr.is_multicast() || link_local {
            return Err(ParsePrefix64Error::NotUnicast);
        }
        Ok(Prefix64::of(&addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let p: Prefix64 = "fd00:aaaa::/64".parse().unwrap();
        assert_eq!(p.octets(), [0xfd, 0, 0xaa, 0xaa, 0, 0, 0, 0]);
        assert_eq!(p.to_string(), "fd00:aaaa::/64");
        assert_eq!(p.to_string().parse::<Prefix64>(), Ok(p));
        assert_eq!(p.network(), "fd00:aaaa::".parse::<Ipv6Addr>().unwrap());
        let a = p.with_iid([2, 0x12, 0x4b, 0, 0, 0, 0, 1]);
        assert_eq!(a, "fd00:aaaa::212:4b00:0:1".parse::<Ipv6Addr>().unwrap());
        assert!(p.contains(&a));
        assert!(!p.contains(&"fd00:aaab::1".parse().unwrap()));
        assert_eq!(Prefix64::of(&a), p);
        assert!("2001:db8:1:2::/64".parse::<Prefix64>().is_ok());
    }

    #[test]
    fn one_rule_with_reasons() {
        use ParsePrefix64Error::*;
        for (s, e) in [
            ("fd00::", MissingLength),
            ("nope/64", BadAddress),
            ("fd00::/48", NotSlash64("48".into())),
            ("fd00::/064", NotSlash64("064".into())),
            ("fd00::1/64", HostBitsSet),
            ("::/64", NotUnicast),
            ("ff02::/64", NotUnicast),
            ("fe80::/64", NotUnicast),
            ("febf:1::/64", NotUnicast),
        ] {
            assert_eq!(s.parse::<Prefix64>(), Err(e), "{s}");
        }
        assert!("fec0::/64".parse::<Prefix64>().is_ok());
    }
}
