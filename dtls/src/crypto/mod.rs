//! The TLS 1.2 key schedule (PRF, master secret, key block, Finished) and the P-256
//! operations the ECDHE_ECDSA suite needs.

pub mod ecc;
pub mod prf;
