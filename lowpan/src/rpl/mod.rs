//! RPL (RFC 6550) on the wire: the control messages (ICMPv6 type 155: DIS, DIO, DAO,
//! DAO-ACK) with their options, the RPL option carried in a Hop-by-Hop header (RFC 6553),
//! the source routing header (RFC 6554) and the RFC 8138 6LoWPAN routing headers (6LoRH).
//!
//! Each format has a repr with `parse` and `emit`; parsers return an error instead of
//! panicking and hold at most a bounded number of addresses or options.

pub mod control;
pub mod lorh;
pub mod option;
pub mod srh;

use core::fmt;

/// Why an RPL structure could not be read. Names are stable (drop counters).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RplError {
    /// Shorter than its fixed part or than a length field says.
    Truncated,
    /// A field holds a value the format forbids.
    Malformed,
    /// More addresses or options than we hold.
    TooMany,
    /// A message code, routing type or 6LoRH type we do not handle.
    Unsupported,
}

impl RplError {
    pub fn as_str(&self) -> &'static str {
        match self {
            RplError::Truncated => "rpl_truncated",
            RplError::Malformed => "rpl_malformed",
            RplError::TooMany => "rpl_too_many",
            RplError::Unsupported => "rpl_unsupported",
        }
    }
}

impl fmt::Display for RplError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for RplError {}

/// ICMPv6 type of RPL control messages.
pub const ICMPV6_RPL: u8 = 155;
/// All-RPL-nodes multicast address (RFC 6550 section 20.19).
pub const ALL_RPL_NODES: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x1a);
