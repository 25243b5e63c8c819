//! Redirect-channel keys: a secret shared by one border router and one IoTSSP, wiped from
//! memory when dropped and never printed. Each direction seals under its own key derived
//! from the secret, so a message reflected back to its sender never verifies.

use core::fmt;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Which way a message travels; each direction has its own tag key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    BorderRouterToIotssp,
    IotsspToBorderRouter,
}

impl Direction {
    /// The label the direction's key is derived with (docs/protocol.md, "Authentication").
    pub const fn label(self) -> &'static [u8] {
        match self {
            Direction::BorderRouterToIotssp => b"HR2 br->iotssp",
            Direction::IotsspToBorderRouter => b"HR2 iotssp->br",
        }
    }

    pub const fn reverse(self) -> Direction {
        match self {
            Direction::BorderRouterToIotssp => Direction::IotsspToBorderRouter,
            Direction::IotsspToBorderRouter => Direction::BorderRouterToIotssp,
        }
    }
}

/// HMAC-SHA256(secret, label): the tag key of one direction.
fn derive(secret: &[u8], direction: Direction) -> [u8; 32] {
    // HMAC takes keys of any length; RedirectKey guarantees 16..=64 bytes.
    let mut m =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    m.update(direction.label());
    m.finalize().into_bytes().into()
}

pub const MIN_KEY_LEN: usize = 16;
pub const MAX_KEY_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Fewer than 16 or more than 64 bytes.
    BadLength(usize),
    /// Not an even number of hex digits.
    BadHex,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::BadLength(n) => write!(
                f,
                "redirect key must be {MIN_KEY_LEN}..={MAX_KEY_LEN} bytes, got {n}"
            ),
            KeyError::BadHex => f.write_str("redirect key must be hex digits"),
        }
    }
}

impl std::error::Error for KeyError {}

/// An HMAC-SHA256 key with the id that names it on the wire (so keys can be rotated).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RedirectKey {
    id: u32,
    secret: Vec<u8>,
    to_iotssp: [u8; 32],
    to_border_router: [u8; 32],
}

impl RedirectKey {
    pub fn new(id: u32, secret: &[u8]) -> Result<Self, KeyError> {
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&secret.len()) {
            return Err(KeyError::BadLength(secret.len()));
        }
        Ok(RedirectKey {
            id,
            secret: secret.to_vec(),
            to_iotssp: derive(secret, Direction::BorderRouterToIotssp),
            to_border_router: derive(secret, Direction::IotsspToBorderRouter),
        })
    }

    /// From a configuration string of hex digits (e.g. 64 digits for a 32-byte key).
    pub fn from_hex(id: u32, hex: &str) -> Result<Self, KeyError> {
        let hex = hex.trim().as_bytes();
        if !hex.len().is_multiple_of(2) {
            return Err(KeyError::BadHex);
        }
        let digit = |c: u8| {
            (c as char)
                .to_digit(16)
                .map(|d| d as u8)
                .ok_or(KeyError::BadHex)
        };
        let mut bytes = Zeroizing::new(Vec::with_capacity(hex.len() / 2));
        for pair in hex.chunks_exact(2) {
            bytes.push((digit(pair[0])? << 4) | digit(pair[1])?);
        }
        Self::new(id, &bytes)
    }

    /// Same id and same secret (compared without an early exit).
    pub fn same_as(&self, other: &RedirectKey) -> bool {
        let same_len = self.secret.len() == other.secret.len();
        let diff = self
            .secret
            .iter()
            .zip(&other.secret)
            .fold(0u8, |d, (a, b)| d | (a ^ b));
        self.id == other.id && same_len && diff == 0
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    #[cfg(test)]
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The key that tags messages travelling `direction`.
    pub(crate) fn tag_key(&self, direction: Direction) -> &[u8; 32] {
        match direction {
            Direction::BorderRouterToIotssp => &self.to_iotssp,
            Direction::IotsspToBorderRouter => &self.to_border_router,
        }
    }
}

impl fmt::Debug for RedirectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedirectKey")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The key used to send, and optionally the previous one still accepted during a rotation.
#[derive(Clone, Debug)]
pub struct KeyRing {
    pub current: RedirectKey,
    pub previous: Option<RedirectKey>,
}

impl KeyRing {
    pub fn new(current: RedirectKey) -> Self {
        KeyRing {
            current,
            previous: None,
        }
    }

    /// The key a received message names, if we hold it.
    pub fn find(&self, id: u32) -> Option<&RedirectKey> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let k = RedirectKey::from_hex(7, "00112233445566778899aabbccddeeff").unwrap();
        let s = format!("{k:?} {:?}", KeyRing::new(k.clone()));
        assert!(s.contains("redacted"));
        assert!(
            !s.contains("0x11") && !s.contains("17, 34") && !s.contains("aabb"),
            "{s}"
        );
    }

    #[test]
    fn key_lengths_and_hex() {
        assert_eq!(
            RedirectKey::new(1, &[0; 15]).unwrap_err(),
            KeyError::BadLength(15)
        );
        assert_eq!(
            RedirectKey::new(1, &[0; 65]).unwrap_err(),
            KeyError::BadLength(65)
        );
        assert_eq!(
            RedirectKey::from_hex(1, "abc").unwrap_err(),
            KeyError::BadHex
        );
        assert_eq!(
            RedirectKey::from_hex(1, "zz".repeat(16).as_str()).unwrap_err(),
            KeyError::BadHex
        );
        assert_eq!(
            RedirectKey::from_hex(1, &"0f".repeat(16)).unwrap().secret(),
            &[0x0f; 16]
        );
    }

    #[test]
    fn ring_finds_by_id() {
        let mut ring = KeyRing::new(RedirectKey::new(2, &[2; 32]).unwrap());
        assert!(ring.find(1).is_none());
        ring.previous = Some(RedirectKey::new(1, &[1; 32]).unwrap());
        assert_eq!(ring.find(1).unwrap().id(), 1);
        assert_eq!(ring.find(2).unwrap().id(), 2);
    }
}
