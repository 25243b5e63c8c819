//! Handshake Redirection Module (HRM) of the border router.
//!
//! For every IPv6 packet from the Internet to a mote that is configured for delegation, the
//! HRM reads the plaintext DTLS record headers and decides: forward to the mote (application
//! data of a session the mote holds), divert to the mote's IoTSSP tagged with the real
//! endpoints (handshake, ChangeCipherSpec and the alerts of a session being set up), both
//! (a datagram whose records belong to different owners), or drop (malformed); a client
//! that resumes a session the mote holds is answered with the border router's cookie and
//! then handed to the mote. It applies the IoTSSP's instructions (a flow was transferred or
//! abandoned, a session made resumable at the mote) and turns the IoTSSP's
//! datagrams into IPv6 packets that come from the mote. What it exchanges with an IoTSSP is
//! the `redirect` crate's [`RedirectMessage`](redirect::RedirectMessage); a remote IoTSSP
//! gets it over that crate's authenticated, replay-protected channel.
//!
//! # Layout
//! - [`router`]: the router proper ([`Hrm`]): per-device policy, the per-record routing
//!   rules ([`route_record`]), IoTSSP messages applied, counters;
//! - [`flow`]: the bounded flow table; [`record`]: what the HRM reads of a datagram's
//!   records (on `dtls-wire`'s header view); [`packet`]: the IPv6/UDP packets it builds
//!   (what it reads comes parsed once, as lowpan's `CheckedIpv6Packet`);
//!   [`ssp_down`]: the alert answered for a down IoTSSP; [`config`]: devices, IoTSSPs and
//!   policies;
//! - [`resume`]: the sessions motes may resume themselves and the border router's cookie
//!   for a resuming ClientHello (docs/protocol.md, "Resumption at the mote").
//!
//! What it must never do: decrypt (it holds no DTLS keys) or look past a record header,
//! except into a plaintext epoch-0 ClientHello (its session id and cookie, for resumption);
//! hand a mote a ClientHello whose sender has not returned the border router's cookie;
//! send application data to an IoTSSP; divert an IoTSSP's own traffic with its mote; let
//! an IoTSSP speak for a mote that is not its own; read a clock, open a socket or panic on
//! input. Sans-IO: bytes and `Instant`s in, decisions, bytes and deadlines out.
//!
//! The routing rules are written down in `docs/protocol.md`, "HRM rules"; the tests named
//! there check its examples.

pub mod config;
pub mod flow;
pub mod packet;
pub mod record;
pub mod resume;
pub mod router;
pub mod ssp_down;

pub use config::{
    DEFAULT_DTLS_PORT, DEFAULT_TRANSFER_PORT, DeviceConfig, DevicePolicy, HrmConfig, SspConfig,
    SspName, UnknownFlowPolicy,
};
pub use flow::FlowState;
pub use packet::build_udp_packet;
pub use router::{
    Decision, Diversion, DropReason, Hrm, HrmCounters, RecordRoute, SspReject, route_record,
};
