//! Alert protocol (RFC 5246 section 7.2): the two-byte message and its descriptions.

use crate::codec::{Codec, Reader};
use crate::error::InvalidMessage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertLevel {
    Warning,
    Fatal,
    Unknown(u8),
}

impl From<u8> for AlertLevel {
    fn from(v: u8) -> Self {
        match v {
            1 => AlertLevel::Warning,
            2 => AlertLevel::Fatal,
            x => AlertLevel::Unknown(x),
        }
    }
}

impl From<AlertLevel> for u8 {
    fn from(v: AlertLevel) -> u8 {
        match v {
            AlertLevel::Warning => 1,
            AlertLevel::Fatal => 2,
            AlertLevel::Unknown(x) => x,
        }
    }
}

macro_rules! alert_descriptions {
    ($($name:ident = $v:literal,)*) => {
        /// AlertDescription; values we do not know are kept, not rejected.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AlertDescription { $($name,)* Unknown(u8) }
        impl From<u8> for AlertDescription {
            fn from(v: u8) -> Self { match v { $($v => AlertDescription::$name,)* x => AlertDescription::Unknown(x) } }
        }
        impl From<AlertDescription> for u8 {
            fn from(v: AlertDescription) -> u8 { match v { $(AlertDescription::$name => $v,)* AlertDescription::Unknown(x) => x } }
        }
    };
}

alert_descriptions! {
    CloseNotify = 0,
    UnexpectedMessage = 10,
    BadRecordMac = 20,
    RecordOverflow = 22,
    HandshakeFailure = 40,
    BadCertificate = 42,
    UnsupportedCertificate = 43,
    CertificateRevoked = 44,
    CertificateExpired = 45,
    CertificateUnknown = 46,
    IllegalParameter = 47,
    UnknownCa = 48,
    AccessDenied = 49,
    DecodeError = 50,
    DecryptError = 51,
    ProtocolVersion = 70,
    InsufficientSecurity = 71,
    InternalError = 80,
    UserCanceled = 90,
    NoRenegotiation = 100,
    UnsupportedExtension = 110,
    UnknownPskIdentity = 115,
}

/// One alert message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    pub level: AlertLevel,
    pub description: AlertDescription,
}

impl Alert {
    pub fn fatal(description: AlertDescription) -> Self {
        Alert {
            level: AlertLevel::Fatal,
            description,
        }
    }

    pub fn close_notify() -> Self {
        Alert {
            level: AlertLevel::Warning,
            description: AlertDescription::CloseNotify,
        }
    }
}

impl Codec for Alert {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.level.into());
        out.push(self.description.into());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage> {
        Ok(Alert {
            level: r.u8()?.into(),
            description: r.u8()?.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_round_trip_and_unknown_values() {
        for b in 0..=255u8 {
            let a = Alert::read_bytes(&[2, b]).unwrap();
            assert_eq!(u8::from(a.description), b);
            assert_eq!(a.get_encoding(), [2, b]);
        }
        assert_eq!(Alert::read_bytes(&[1, 0]).unwrap(), Alert::close_notify());
        assert!(Alert::read_bytes(&[1]).is_err());
        assert!(Alert::read_bytes(&[1, 0, 0]).is_err());
    }
}
