//! Stateless HelloVerifyRequest cookies (RFC 6347 section 4.2.1): an HMAC over the client's
//! address and the ClientHello fields, under a secret that rotates; the previous secret is
//! still accepted so that a rotation does not break handshakes in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::msgs::ClientHello;
use crate::codec::put_u16;
use crate::error::Error;
use crate::provider::SecureRandom;

type HmacSha256 = Hmac<Sha256>;

/// Cookie bytes we send (a truncated HMAC-SHA256).
pub const COOKIE_LEN: usize = 16;

pub struct CookieSecrets {
    current: Zeroizing<[u8; 32]>,
    previous: Option<Zeroizing<[u8; 32]>>,
    rotated_at: Option<Instant>,
    interval: Duration,
    rng: Arc<dyn SecureRandom>,
}

impl std::fmt::Debug for CookieSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSecrets")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

fn random_secret(rng: &dyn SecureRandom) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut s = Zeroizing::new([0u8; 32]);
    rng.fill(&mut s[..])?;
    Ok(s)
}

impl CookieSecrets {
    /// Secrets drawn from `rng`, rotated every `interval` of the caller's `Instant`s.
    pub fn new(interval: Duration, rng: Arc<dyn SecureRandom>) -> Result<Self, Error> {
        Ok(CookieSecrets {
            current: random_secret(&*rng)?,
            previous: None,
            rotated_at: None,
            interval,
            rng,
        })
    }

    /// Rotates when the interval has passed since the last rotation (the first call only
    /// starts the clock): time is the `now` passed in, never read here.
    pub fn maybe_rotate(&mut self, now: Instant) -> Result<(), Error> {
        match self.rotated_at {
            None => self.rotated_at = Some(now),
            Some(t) if now.saturating_duration_since(t) >= self.interval => self.rotate(now)?,
            Some(_) => {}
        }
        Ok(())
    }

    pub fn rotate(&mut self, now: Instant) -> Result<(), Error> {
        let next = random_secret(&*self.rng)?;
        self.previous = Some(std::mem::replace(&mut self.current, next));
        self.rotated_at = Some(now);
        Ok(())
    }

    fn mac(secret: &[u8; 32], client: &SocketAddr, ch: &ClientHello) -> HmacSha256 {
        let mut m =
            <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        let mut input = Vec::with_capacity(128);
        match client.ip() {
            std::net::IpAddr::V4(a) => input.extend_from_slice(&a.octets()),
            std::net::IpAddr::V6(a) => input.extend_from_slice(&a.octets()),
        }
        put_u16(&mut input, client.port());
        put_u16(&mut input, ch.client_version.0);
        input.extend_from_slice(&ch.random);
        input.push(ch.session_id.len() as u8);
        input.extend_from_slice(&ch.session_id);
        put_u16(&mut input, ch.cipher_suites.len() as u16);
        ch.cipher_suites
            .iter()
            .for_each(|c| put_u16(&mut input, *c));
        input.push(ch.compression_methods.len() as u8);
        input.extend_from_slice(&ch.compression_methods);
        m.update(&input);
        m
    }

    pub fn cookie(&self, client: &SocketAddr, ch: &ClientHello) -> Vec<u8> {
        Self::mac(&self.current, client, ch).finalize().into_bytes()[..COOKIE_LEN].to_vec()
    }

    /// Constant-time check of `ch.cookie` against the current and the previous secret.
    pub fn verify(&self, client: &SocketAddr, ch: &ClientHello) -> bool {
        if ch.cookie.len() != COOKIE_LEN {
            return false;
        }
        let ok = |s: &[u8; 32]| {
            Self::mac(s, client, ch)
                .verify_truncated_left(&ch.cookie)
                .is_ok()
        };
        ok(&self.current) || self.previous.as_ref().is_some_and(|p| ok(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ProtocolVersion;

    fn hello() -> ClientHello {
        ClientHello {
            client_version: ProtocolVersion::DTLS1_2,
            random: [1; 32],
            session_id: vec![],
            cookie: vec![],
            cipher_suites: vec![0xc0ae],
            compression_methods: vec![0],
            extensions: vec![],
        }
    }

    #[test]
    fn cookie_binds_address_and_hello_and_survives_one_rotation() {
        let t0 = Instant::now();
        let rng = crate::provider::SeededRandom::shared([3; 32]);
        let mut s = CookieSecrets::new(Duration::from_secs(60), rng).unwrap();
        s.maybe_rotate(t0).unwrap();
        let addr: SocketAddr = "192.0.2.1:5684".parse().unwrap();
        let mut ch = hello();
        ch.cookie = s.cookie(&addr, &ch);
        assert_eq!(ch.cookie.len(), COOKIE_LEN);
        assert!(s.verify(&addr, &ch));
        assert!(!s.verify(&"192.0.2.1:5685".parse().unwrap(), &ch));
        let mut other = ch.clone();
        other.random[0] ^= 1;
        assert!(!s.verify(&addr, &other));
        s.maybe_rotate(t0 + Duration::from_secs(61)).unwrap();
        assert!(s.verify(&addr, &ch), "previous secret still accepted");
        s.rotate(t0 + Duration::from_secs(122)).unwrap();
        assert!(
            !s.verify(&addr, &ch),
            "two rotations later the cookie is stale"
        );
        ch.cookie = vec![0; 255];
        assert!(!s.verify(&addr, &ch));
    }
}
