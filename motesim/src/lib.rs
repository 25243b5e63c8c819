//! `motesim`: an emulated Contiki-NG slip-radio (or a set of ZEP nodes) with emulated
//! 6LoWPAN motes behind it, so the border router can be developed, tested and
//! benchmarked on a machine without radio hardware.
//!
//! The parts are sans-IO machines driven by a thin tokio layer (`driver`): the shared
//! channel (`air`: air time, CSMA, ACKs, retries, loss), the motes (`mote`: 802.15.4,
//! 6LoWPAN, ICMPv6, UDP services, CoAP), and the radio firmware's serial side (`firmware`).
//! `sim` ties them together. Nothing here may panic, block, or grow without bound on what
//! arrives from the serial line, a TCP client or a UDP peer; the cores never read the
//! clock (time is passed in) and all randomness comes from the seed (the DTLS engines' too,
//! except the ECDHE keys and ECDSA nonces its crypto backend draws from the OS).

pub mod air;
pub mod cli;
pub mod dedupe;
pub mod driver;
pub mod firmware;
pub mod mote;
pub mod rng;
pub mod sim;
pub mod stats;
pub mod zep;
