//! IEEE 802.15.4 frames, 6LoWPAN header compression (RFC 6282) and fragmentation (RFC 4944).
//!
//! What it is for: turning IPv6 packets into 802.15.4 frame payloads and back, for the border
//! router and the emulated motes. Zero-copy wire views with checked constructors, typed reprs,
//! and sans-IO state machines (time is passed in, never read).
//!
//! What it must never do: panic, loop without bound or allocate without bound on input from
//! the radio; read the clock; do IO. Every rejected input maps to an error with a stable
//! reason name for drop counters.

pub mod ieee802154;
pub mod ip;

pub use ieee802154::{Address, Eui64};

/// The link-layer addresses of the frame that carries (or will carry) a 6LoWPAN payload;
/// IPHC derives elided interface identifiers from them and reassembly keys on them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct LinkAddrs {
    pub src: Address,
    pub dst: Address,
}
