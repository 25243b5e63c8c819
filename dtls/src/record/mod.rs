//! DTLS 1.2 record layer: wire view of records, the replay window, AES-128-CCM-8 protection,
//! and the per-connection epoch/sequence state ([`RecordLayer`]) that a mote can be given
//! directly from transferred keys.

mod header;
mod layer;
mod protection;
mod replay;

pub use header::{ContentType, ProtocolVersion, Record, RecordHeader, Records, HEADER_LEN, MAX_CIPHERTEXT_LEN, records};
pub use layer::{RecordLayer, SessionKeys, SessionState};
pub use protection::{Ccm8, CCM8_OVERHEAD};
pub use replay::ReplayWindow;
