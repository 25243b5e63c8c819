//! The standing association between a mote and its IoTSSP (docs/mote-association.md): the
//! wire formats, the key schedule with its ratchet, and two sans-IO state machines, one per
//! side: [`MoteAssoc`] (what the mote runs) and [`SspAssoc`] (the IoTSSP's state for one
//! mote). A delegation costs the mote one Transfer in and one Confirm out.
//!
//! It must run on a mote: `no_std`, no heap, no `unsafe`, no panic on any input (every
//! wire read is bounds-checked), no clock or socket of its own (time and datagrams come in,
//! datagrams and timers go out). The platform supplies AES-128, P-256 ECDH and randomness
//! through [`crypto::Aes128Block`], [`crypto::EcdhP256`] and [`crypto::Random`]; software
//! versions sit behind the `soft-aes` and `soft-ecc` features. Every secret is wiped when
//! dropped or replaced, and a key once ratcheted past is gone from both sides.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod crypto;
pub mod keys;
pub mod mote;
pub mod ssp;
pub mod time;
pub mod wire;

pub use mote::{
    ConnectError, Installation, MoteAssoc, MoteEvent, MoteStats, SessionTable, SignatureRequest,
};
pub use ssp::{SignFailure, SspAssoc, SspEvent, SspStats, StartError, TransferFailure};
pub use time::Instant;

/// The longest datagram either machine sends (a ChaCha20 Transfer with sequence numbers):
/// the size of the buffer to give `poll_transmit`.
pub const MAX_DATAGRAM_LEN: usize = wire::Transfer::<&[u8]>::MAX_LEN;

#[cfg(all(test, feature = "soft-aes", feature = "soft-ecc"))]
mod tests;
