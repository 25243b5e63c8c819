//! The crypto-free pieces of the DTLS 1.2 wire format (RFC 6347) that the DTLS engine
//! (`dtls`), the border router's Handshake Redirection Module (`hrm`) and the redirect
//! protocol (`redirect`) share, so that each exists once:
//!
//! - [`record`]: the 13-byte record header as a zero-copy view ([`Record`], checked
//!   constructor, getters and setters) and as values ([`RecordHeader`]), the iterator over
//!   every record of a datagram ([`records`]), [`ContentType`] and [`ProtocolVersion`];
//! - [`handshake`]: the handshake message type numbers ([`HandshakeType`]);
//! - [`replay`]: the 64-entry sliding anti-replay window ([`ReplayWindow`]) of RFC 6347
//!   4.1.2.6, which the redirect protocol uses for its own sequence numbers too.
//!
//! What it must never do: hold or use a key, decrypt, look past the first byte of a record's
//! fragment, allocate (except [`RecordHeader::emit`], behind the default `alloc` feature),
//! read a clock or panic on input (after a checked constructor no accessor can panic). It is
//! `no_std`, so a mote's record layer (`delegated-mote`) uses it too.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod handshake;
pub mod record;
pub mod replay;

pub use handshake::HandshakeType;
pub use record::{
    ContentType, HEADER_LEN, MAX_CIPHERTEXT_LEN, ProtocolVersion, Record, RecordError,
    RecordHeader, Records, records,
};
pub use replay::{ReplayError, ReplayWindow};
