//! `lowpan-provision`: creates everything a delegated-handshake deployment needs in one
//! directory: a P-256 CA, each mote's certificate and key, the Internet client's
//! certificate and key, the IoTSSP<->mote PSKs, the redirect-channel key, with `--outbound`
//! the certificate of the server the motes report to, and matching configurations for
//! `lowpan-br`, `iotssp` and `motesim`, plus a README with the commands.
//!
//! It must never print a secret, leave a secret readable by others (0600), or overwrite an
//! existing deployment unless told to (`--force`). All randomness comes from the OS RNG.

pub mod options;
pub mod output;
pub mod pki;
pub mod plan;
pub mod render;
pub mod secrets;

/// Why provisioning failed; each message is meant for the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{option}: {reason}")]
    BadArgument {
        option: &'static str,
        reason: String,
    },
    #[error("certificate generation: {0}")]
    Pki(String),
    #[error("the OS random number generator failed: {0}")]
    Random(String),
    #[error("{path}: {reason}")]
    Io {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(
        "{0} is not empty: refusing to overwrite an existing deployment (use --force to replace its files)"
    )]
    NotEmpty(std::path::PathBuf),
}

pub fn bad(option: &'static str, reason: impl Into<String>) -> Error {
    Error::BadArgument {
        option,
        reason: reason.into(),
    }
}
