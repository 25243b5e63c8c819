//! ZEP v2: 802.15.4 frames over UDP, for simulators, emulated nodes and sniffers.
//!
//! `wire` is the datagram format (and what an emulated node needs to wrap and unwrap one
//! frame); `radio` is [`ZepRadio`], the sans-IO machine that makes the border router
//! behave as an 802.15.4 radio on a ZEP network.

pub mod radio;
pub mod wire;

pub use radio::{TURNAROUND_2450MHZ, ZepConfig, ZepCounters, ZepDrop, ZepEvent, ZepRadio};
pub use wire::{
    Error, PORT, ZepFrame, ZepPacket, ZepRepr, ZepType, decode_datagram, encode_datagram,
    encode_datagram_heard,
};
