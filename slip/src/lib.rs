//! The border router's link to its radio: RFC 1055 SLIP framing, the Contiki-NG
//! slip-radio serial protocol, ZEP v2 (802.15.4 over UDP, for simulators), and thin tokio
//! transports (serial port, TCP) to carry them, with a timer fine enough for a radio's
//! turnaround.
//!
//! Everything except `transport` is sans-IO: bytes and `Instant`s in; bytes, events and
//! deadlines out. This crate must never panic, allocate without bound or loop forever on
//! what a radio, a serial line or a UDP peer sends, and it must never read the clock or
//! block inside the protocol machines.

pub mod codec;
pub mod link;
pub mod quality;
pub mod slip_radio;
pub mod transport;
pub mod zep;

pub use quality::LinkQuality;
