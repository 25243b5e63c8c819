//! SLIP framing, the slip-radio serial protocol and ZEP.
