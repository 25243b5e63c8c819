//! The DTLS handshake layer: message codecs, fragmentation and bounded reassembly, flights
//! and their retransmission timer, and stateless cookies.

pub mod cookie;
pub mod flight;
pub mod fragment;
pub mod msgs;

pub use msgs::HandshakeType;
