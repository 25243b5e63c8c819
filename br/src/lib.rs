//! `lowpan-br`: the 6LoWPAN border router between an IEEE 802.15.4 radio and a Linux TUN.
//!
//! What it is for: bridging IPv6 packets from the TUN to 802.15.4 frames for motes (IPHC
//! compression, fragmentation, framing, neighbour table) and back, answering Router
//! Solicitations, capturing radio traffic and counting every drop by reason.
//!
//! What it must never do: panic or grow without bound on anything from the TUN or the
//! radio; read the clock inside the bridge core (time is passed in); log per packet above
//! debug level.

pub mod config;
pub mod counters;
pub mod neighbours;
pub mod nd;
pub mod bridge;
pub mod capture;
pub mod io;
pub mod daemon;
pub mod redirection;
