//! Handshake Redirection Module (HRM) of the border router, and the redirect protocol that
//! connects it to IoTSSPs.
//!
//! For every IPv6 packet from the Internet to a mote that is configured for delegation, the
//! HRM reads the plaintext DTLS record headers and decides: forward to the mote (application
//! data of a session the mote holds), divert to the mote's IoTSSP tagged with the real
//! endpoints (handshake, ChangeCipherSpec and the alerts of a session being set up), both
//! (a datagram whose records belong to different owners), or drop (malformed). It applies
//! the IoTSSP's instructions (a flow was transferred or abandoned) and turns the IoTSSP's
//! datagrams into IPv6 packets that come from the mote. The redirect protocol carries all
//! of this between `lowpan-br` and a remote `iotssp`, authenticated and replay-protected.
//!
//! What it must never do: decrypt or look past a record header (it holds no DTLS keys);
//! send application data to an IoTSSP; divert an IoTSSP's own traffic with its mote; let
//! an IoTSSP speak for a mote that is not its own; create state for unauthenticated redirect
//! messages; read a clock, open a socket or panic on input. Sans-IO: bytes and `Instant`s
//! in, decisions, bytes and deadlines out.
//!
//! The byte layouts and the routing rules are written down in `docs/protocol.md`; the tests
//! named there check its examples.

pub mod config;
mod counters;
#[cfg(test)]
mod doc_examples;
pub mod flow;
pub mod packet;
pub mod record;
pub mod redirect;
pub mod redirection;
pub mod ssp_down;

pub use config::{
    DEFAULT_DTLS_PORT, DeviceConfig, DevicePolicy, HrmConfig, SspConfig, SspName, UnknownFlowPolicy,
};
pub use flow::{FlowState, FlowTag};
pub use packet::build_udp_packet;
pub use redirect::channel::{ChannelConfig, ChannelCounters, Liveness, OpenError, RedirectChannel};
pub use redirect::key::{KeyRing, RedirectKey};
pub use redirect::wire::{Envelope, RedirectPacket, RedirectRepr, WireError};
pub use redirect::{AbandonReason, MessageType, RedirectMessage};
pub use redirection::{
    Decision, Diversion, DropReason, Hrm, HrmCounters, RecordRoute, SspReject, route_record,
};
