//! The IoT Security Support Provider (IoTSSP): it runs the certificate-based DTLS 1.2
//! handshake with an Internet client *in a mote's name* (the mote's certificate and key are
//! held here), validates and authorizes the client, and then hands the live session to the
//! mote over a PSK DTLS association with it; the mote only ever runs a PSK handshake with its
//! IoTSSP and a record layer. See `docs/session-transfer.md` for the wire formats and the
//! sequence, and the architecture paper (seed 000, section IV).
//!
//! - [`hem`]: the Handshake Execution Module, one [`hem::Delegation`] per (peer, mote) flow;
//!   [`hem::gate`]: the stateless cookie front.
//! - [`outbound`]: outbound delegation: the client handshake a mote asks for with Connect on
//!   its association, run in the mote's name towards a server its policy names, then
//!   transferred with the mote as client.
//! - [`cam`]: the Certificate Analysis Module (trust anchors, reasons counted, identity).
//! - [`am`]: the Authorization Module (which client identities may reach which mote).
//! - [`Iotssp`]: the orchestrator, fed with redirect messages from border routers and
//!   datagrams from motes; [`config`]: its TOML configuration; [`status`]: what the
//!   operator sees of it (handshakes in progress, the last ones that ended, counters);
//!   [`routes`]: which border router may speak for which mote (remote mode).
//! - The binary `iotssp` drives it over UDP (remote mode); `lowpan-br` embeds it (attached).
//!
//! It builds on the DTLS engine (`dtls`) and the redirect protocol (`redirect`) only: what the
//! border router's HRM routes, and how, is not its business.
//!
//! Sans-IO: no socket, no clock (`Instant`s come in, certificate validity uses the
//! verifier's time provider), deterministic: randomness comes from the `rng` it is built
//! with ([`Iotssp::with_random`], `SspConfig::build_with_random`; the OS by default), except
//! the ECDHE keys and ECDSA nonces the DTLS crypto backend draws from the OS. It must never send a
//! byte to a mote before the client proved its address with a cookie, transfer a session to
//! a mote that did not accept the SessionTransferTicket, release its Finished before the
//! mote confirmed, keep a session key after a transfer or a failure, or log a secret.

pub mod am;
pub mod cam;
pub mod config;
pub mod counters;
pub mod hem;
pub mod iotssp;
pub mod outbound;
pub mod routes;
pub mod status;

pub use counters::Counters;
pub use hem::{HandshakeRecord, HemTimers, LegMode, MoteProfile, Output};
pub use iotssp::{Iotssp, Limits};
