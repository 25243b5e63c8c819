//! The IO drivers (tokio): the TUN, the radio drivers (slip-radio and ZEP) and the metrics
//! rendering (the HTTP endpoint and the control socket are the `ops` crate's). They move bytes between the operating system and the daemon's main loop
//! and hold no routing logic.

pub mod metrics;
pub mod radio;
pub mod tun;
