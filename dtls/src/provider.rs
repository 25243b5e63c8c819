//! What the engine takes from its environment besides datagrams and `Instant`s: randomness
//! and the calendar time. Both come in as trait objects so that the engine itself reads
//! neither the OS RNG nor the system clock; daemons pass the OS-backed defaults
//! ([`OsRandom`], [`SystemClock`]), tests and simulations a seed and a fixed time.
//!
//! The ECDHE private keys and ECDSA signature nonces are drawn by the crypto backend (`ring`,
//! in [`crate::crypto::ecc`]) from the OS: its random source cannot be replaced from
//! outside. Everything else the protocol draws (hello randoms, cookie secrets, the
//! IoTSSP's transfer ids) comes from a [`SecureRandom`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::error::Error;

/// The random source failed (the OS refused to give entropy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetRandomFailed;

impl From<GetRandomFailed> for Error {
    fn from(_: GetRandomFailed) -> Self {
        Error::Internal("rng")
    }
}

/// A source of cryptographically secure random bytes.
pub trait SecureRandom: Send + Sync {
    fn fill(&self, dest: &mut [u8]) -> Result<(), GetRandomFailed>;
}

/// 32 random bytes (hello randoms, secrets).
pub(crate) fn random32(rng: &dyn SecureRandom) -> Result<[u8; 32], GetRandomFailed> {
    let mut r = [0u8; 32];
    rng.fill(&mut r)?;
    Ok(r)
}

/// The operating system's RNG (getrandom): what a daemon uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl OsRandom {
    /// The OS RNG as the shared trait object a configuration holds.
    pub fn shared() -> Arc<dyn SecureRandom> {
        Arc::new(OsRandom)
    }
}

impl SecureRandom for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), GetRandomFailed> {
        getrandom::fill(dest).map_err(|_| GetRandomFailed)
    }
}

/// A deterministic stream derived from a seed: SHA-256(seed || block counter), 32 bytes per
/// block. For tests and simulations that must replay exactly; anyone who knows the seed
/// knows every value drawn from it, so never for a real deployment.
pub struct SeededRandom {
    seed: [u8; 32],
    next_block: AtomicU64,
}

impl fmt::Debug for SeededRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeededRandom").finish_non_exhaustive()
    }
}

impl SeededRandom {
    pub fn new(seed: [u8; 32]) -> Self {
        SeededRandom {
            seed,
            next_block: AtomicU64::new(0),
        }
    }

    /// From a short seed (a simulation's `--seed`) and a stream number (one per mote), so
    /// that streams of one seed differ.
    pub fn from_u64(seed: u64, stream: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_be_bytes());
        s[8..16].copy_from_slice(&stream.to_be_bytes());
        Self::new(s)
    }

    pub fn shared(seed: [u8; 32]) -> Arc<dyn SecureRandom> {
        Arc::new(Self::new(seed))
    }
}

impl SecureRandom for SeededRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), GetRandomFailed> {
        for chunk in dest.chunks_mut(32) {
            let block = self.next_block.fetch_add(1, Ordering::Relaxed);
            let out = Sha256::new()
                .chain_update(self.seed)
                .chain_update(block.to_be_bytes())
                .finalize();
            chunk.copy_from_slice(&out[..chunk.len()]);
        }
        Ok(())
    }
}

/// The calendar time, for what the monotonic `Instant` cannot tell: whether a certificate
/// is within its validity period.
pub trait TimeProvider: Send + Sync {
    fn current_time(&self) -> SystemTime;
}

/// Any `Fn() -> SystemTime` is a time provider (e.g. a test's fixed instant).
impl<F: Fn() -> SystemTime + Send + Sync> TimeProvider for F {
    fn current_time(&self) -> SystemTime {
        self()
    }
}

/// The system clock: what a daemon uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl TimeProvider for SystemClock {
    fn current_time(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Always the same time (tests, replays of a capture).
#[derive(Debug, Clone, Copy)]
pub struct FixedTime(pub SystemTime);

impl TimeProvider for FixedTime {
    fn current_time(&self) -> SystemTime {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn seeded_random_replays_and_streams_differ() {
        let draw = |r: &SeededRandom| {
            let mut a = [0u8; 45];
            r.fill(&mut a).unwrap();
            let mut b = [0u8; 7];
            r.fill(&mut b).unwrap();
            (a, b)
        };
        let (a1, b1) = draw(&SeededRandom::from_u64(7, 1));
        let (a2, b2) = draw(&SeededRandom::from_u64(7, 1));
        assert_eq!((a1, b1), (a2, b2));
        assert_ne!(a1, draw(&SeededRandom::from_u64(7, 2)).0);
        assert_ne!(a1[..7], b1);
    }

    #[test]
    fn a_seeded_client_says_the_same_hello() {
        use crate::{ClientConfig, Connection};
        let hello = || {
            let mut config = ClientConfig::psk(b"id", &[1; 16]);
            config.rng = SeededRandom::shared([9; 32]);
            let remote = "192.0.2.1:5684".parse().unwrap();
            let mut c =
                Connection::connect(std::time::Instant::now(), remote, Arc::new(config)).unwrap();
            c.poll_transmit().unwrap().contents
        };
        assert_eq!(hello(), hello());
    }

    #[test]
    fn closures_and_fixed_time_are_time_providers() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let p: Arc<dyn TimeProvider> = Arc::new(move || t);
        assert_eq!(p.current_time(), t);
        assert_eq!(FixedTime(t).current_time(), t);
        assert!(SystemClock.current_time() > t);
    }
}
