//! The emulated mote.
