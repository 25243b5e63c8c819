//! DTLS 1.2 record layer: AEAD protection (AES-128-CCM-8, AES-128-CCM, AES-128-GCM,
//! ChaCha20-Poly1305) and the per-connection epoch/sequence
//! state ([`RecordLayer`]) that a mote can be given directly from transferred keys. The
//! wire view of records and the replay window are `dtls-wire`'s, re-exported here because
//! they are part of this API.

mod layer;
mod protection;

pub use dtls_wire::record::{
    ContentType, HEADER_LEN, MAX_CIPHERTEXT_LEN, ProtocolVersion, Record, RecordError,
    RecordHeader, Records, records,
};
pub use dtls_wire::replay::{ReplayError, ReplayWindow};
pub use layer::{RecordLayer, SessionKeys, SessionState};
pub use protection::{CCM8_OVERHEAD, MAX_AEAD_OVERHEAD, RecordAead, RecordCipher};
