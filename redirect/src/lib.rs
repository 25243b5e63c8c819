//! The redirect protocol between a border router (`lowpan-br` and its Handshake Redirection
//! Module, crate `hrm`) and an IoTSSP (`ssp`, daemon `iotssp`): the messages ([`message`]:
//! [`FlowTag`], [`RedirectMessage`], [`MessageType`], [`AbandonReason`]), their byte layout
//! ([`wire`]), the shared keys ([`key`]), the sans-IO per-peer channel that seals and
//! opens them, replay-protected by `dtls-wire`'s window and by timestamps ([`channel`]), and
//! the IoTSSP's retransmission of SessionResumable until the border router acknowledges it
//! ([`resumable`]).
//!
//! Attached mode (the IoTSSP inside `lowpan-br`) passes [`RedirectMessage`]s in-process and
//! never touches the wire, the key or the channel.
//!
//! What it must never do: create state for an unauthenticated message; accept its own
//! messages reflected back to it, a message twice or one older than its window; print a key or keep one after it is dropped; read a
//! clock, open a socket or panic on input. Sans-IO: bytes, `Instant`s and wall-clock times
//! in, messages, bytes and deadlines out. Which flows a border router diverts, and what the
//! IoTSSP does with them, are `hrm`'s and `ssp`'s.
//!
//! The byte layout and the processing order are written down in `docs/protocol.md`,
//! "Redirect protocol"; the tests named there check its examples.

pub mod channel;
mod counters;
#[cfg(any(test, feature = "doc-examples"))]
#[doc(hidden)]
pub mod doc_examples;
pub mod key;
pub mod message;
pub mod resumable;
pub mod wire;

#[cfg(test)]
mod tests;

pub use channel::{ChannelConfig, ChannelCounters, Liveness, OpenError, RedirectChannel, Role};
pub use key::{Direction, KeyRing, RedirectKey};
pub use message::{AbandonReason, FlowTag, MAX_SESSION_ID_LEN, MessageType, RedirectMessage};
pub use resumable::{OutboxConfig, OutboxCounters, ResumableCopy, ResumableOutbox};
pub use wire::{Envelope, RedirectPacket, RedirectRepr, WireError};
