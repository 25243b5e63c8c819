//! One emulated mote.
pub mod coap;
pub mod service;
