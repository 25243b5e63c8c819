//! `lowpan-br`: the 6LoWPAN border router between an IEEE 802.15.4 radio and a Linux TUN.
//!
//! What it is for: bridging IPv6 packets from the TUN to 802.15.4 frames for motes (IPHC
//! compression, fragmentation, framing, neighbour table) and back, acting as the 6LoWPAN
//! border router of RFC 6775 and RFC 8505 towards the motes (Router Advertisements, address
//! registrations and duplicate address detection, none of which reaches the TUN), diverting the DTLS handshakes of delegated motes to their IoTSSP (the
//! HRM, attached or remote IoTSSPs), capturing radio traffic and counting every drop by
//! reason.
//!
//! How it is built: [`router::BorderRouter`] is the sans-IO core. It owns the
//! [`bridge`] and the [`iotssp_wiring`], holds the order in which they see each input (TUN
//! packet, radio frame, redirect datagram, timeout) and says where each output goes
//! ([`router::Transmit`]). The tokio side is [`io`] (TUN, radio drivers, metrics endpoint)
//! and [`daemon`], whose main loop only moves bytes between the drivers and the core,
//! through the sans-IO [`radio_queue`]: whole datagrams for the radio, dropped whole under
//! overload, control before bulk data, motes in turn.
//!
//! What it must never do: panic or grow without bound on anything from the TUN, the radio
//! or the redirect socket; read the clock inside the core (time is passed in); log per
//! packet above debug level.

pub mod bridge;
pub mod capture;
pub mod config;
pub mod counters;
pub mod daemon;
pub mod io;
pub mod iotssp_wiring;
pub mod nd;
pub mod neighbours;
pub mod radio_queue;
pub mod registrations;
pub mod reload;
pub mod router;
pub mod rpl;
pub mod status;
pub mod tun_source;
