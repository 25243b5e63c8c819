//! ICMPv6 (RFC 4443) as a high-level [`Icmpv6Repr`] over the [`Icmpv6Packet`] view: echo,
//! destination unreachable, and the Neighbour Discovery messages of [`crate::ndisc`].

use std::net::Ipv6Addr;

use crate::ip::{self, Error, Icmpv6Packet, next_header};
use crate::ipv6::{Ipv6Repr, NextHeader};
use crate::ndisc::NdiscRepr;

/// ICMPv6 types we name.
pub mod msg_type {
    pub const DST_UNREACHABLE: u8 = 1;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub use crate::ndisc::msg_type::*;
}

/// Type, code and checksum.
pub const ICMPV6_HEADER_LEN: usize = 4;

/// Destination Unreachable codes (RFC 4443 section 3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DstUnreachable {
    NoRoute,
    AdminProhibit,
    BeyondScope,
    AddrUnreachable,
    PortUnreachable,
    FailedPolicy,
    RejectRoute,
    Unknown(u8),
}

impl From<u8> for DstUnreachable {
    fn from(v: u8) -> Self {
        match v {
            0 => DstUnreachable::NoRoute,
            1 => DstUnreachable::AdminProhibit,
            2 => DstUnreachable::BeyondScope,
            3 => DstUnreachable::AddrUnreachable,
            4 => DstUnreachable::PortUnreachable,
            5 => DstUnreachable::FailedPolicy,
            6 => DstUnreachable::RejectRoute,
            other => DstUnreachable::Unknown(other),
        }
    }
}

impl From<DstUnreachable> for u8 {
    fn from(v: DstUnreachable) -> u8 {
        match v {
            DstUnreachable::NoRoute => 0,
            DstUnreachable::AdminProhibit => 1,
            DstUnreachable::BeyondScope => 2,
            DstUnreachable::AddrUnreachable => 3,
            DstUnreachable::PortUnreachable => 4,
            DstUnreachable::FailedPolicy => 5,
            DstUnreachable::RejectRoute => 6,
            DstUnreachable::Unknown(other) => other,
        }
    }
}

/// An ICMPv6 message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Icmpv6Repr<'a> {
    DstUnreachable {
        reason: DstUnreachable,
        /// As much of the invoking packet as fits (after the 4 unused bytes).
        data: &'a [u8],
    },
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    Ndisc(NdiscRepr),
    /// A type we do not represent; `body` is everything after the checksum. (Emitting one
    /// with a type we do represent parses back as that type.)
    Unknown {
        msg_type: u8,
        msg_code: u8,
        body: &'a [u8],
    },
}

impl<'a> Icmpv6Repr<'a> {
    /// A checked view of a message from `src` to `dst`. Errors, in this order: shorter
    /// than its type's fixed part ([`Error::Truncated`]), the checksum does not verify
    /// ([`Error::BadChecksum`]), an ND message with a non-zero code or a bad option
    /// ([`Error::Malformed`]).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &Icmpv6Packet<&'a T>,
    ) -> Result<Self, Error> {
        packet.check_len()?;
        let msg = packet.as_bytes();
        let (kind, code) = (packet.msg_type(), packet.msg_code());
        let body = &msg[ICMPV6_HEADER_LEN..];
        let fixed = match kind {
            msg_type::DST_UNREACHABLE | msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY => 4,
            other => NdiscRepr::min_body_len(other).unwrap_or(0),
        };
        if body.len() < fixed {
            return Err(Error::Truncated);
        }
        if !ip::verify_checksum(src, dst, next_header::ICMPV6, msg) {
            return Err(Error::BadChecksum);
        }
        let be16 = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
        Ok(match kind {
            msg_type::DST_UNREACHABLE => Icmpv6Repr::DstUnreachable {
                reason: code.into(),
                data: &body[4..],
            },
            msg_type::ECHO_REQUEST if code == 0 => Icmpv6Repr::EchoRequest {
                ident: be16(0),
                seq_no: be16(2),
                data: &body[4..],
            },
            msg_type::ECHO_REPLY if code == 0 => Icmpv6Repr::EchoReply {
                ident: be16(0),
                seq_no: be16(2),
                data: &body[4..],
            },
            other if NdiscRepr::min_body_len(other).is_some() => {
                Icmpv6Repr::Ndisc(NdiscRepr::parse(other, code, body)?)
            }
            msg_type => Icmpv6Repr::Unknown {
                msg_type,
                msg_code: code,
                body,
            },
        })
    }

    fn type_and_code(&self) -> (u8, u8) {
        match self {
            Icmpv6Repr::DstUnreachable { reason, .. } => {
                (msg_type::DST_UNREACHABLE, (*reason).into())
            }
            Icmpv6Repr::EchoRequest { .. } => (msg_type::ECHO_REQUEST, 0),
            Icmpv6Repr::EchoReply { .. } => (msg_type::ECHO_REPLY, 0),
            Icmpv6Repr::Ndisc(nd) => (nd.msg_type(), 0),
            Icmpv6Repr::Unknown {
                msg_type, msg_code, ..
            } => (*msg_type, *msg_code),
        }
    }

    /// Whole message length.
    pub fn buffer_len(&self) -> usize {
        ICMPV6_HEADER_LEN
            + match self {
                Icmpv6Repr::DstUnreachable { data, .. }
                | Icmpv6Repr::EchoRequest { data, .. }
                | Icmpv6Repr::EchoReply { data, .. } => 4 + data.len(),
                Icmpv6Repr::Ndisc(nd) => nd.buffer_len(),
                Icmpv6Repr::Unknown { body, .. } => body.len(),
            }
    }

    /// Writes the message with its checksum into the first [`Icmpv6Repr::buffer_len`]
    /// bytes of `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &mut Icmpv6Packet<T>,
    ) {
        let len = self.buffer_len();
        let (kind, code) = self.type_and_code();
        let msg = &mut packet.as_bytes_mut()[..len];
        msg[0] = kind;
        msg[1] = code;
        msg[2..4].fill(0);
        let body = &mut msg[ICMPV6_HEADER_LEN..];
        match self {
            Icmpv6Repr::DstUnreachable { data, .. } => {
                body[..4].fill(0);
                body[4..].copy_from_slice(data);
            }
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                body[0..2].copy_from_slice(&ident.to_be_bytes());
                body[2..4].copy_from_slice(&seq_no.to_be_bytes());
                body[4..].copy_from_slice(data);
            }
            Icmpv6Repr::Ndisc(nd) => nd.emit(body),
            Icmpv6Repr::Unknown { body: b, .. } => body.copy_from_slice(b),
        }
        let checksum = ip::icmpv6_checksum(src, dst, msg);
        msg[2..4].copy_from_slice(&checksum.to_be_bytes());
    }

    /// The whole IPv6 packet carrying this message from `src` to `dst` (no traffic class,
    /// no flow label). [`Error::TooLong`] beyond 65535 bytes.
    pub fn emit_ipv6_packet(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
    ) -> Result<Vec<u8>, Error> {
        self.emit_after(&Ipv6Repr::new(src, dst, NextHeader::Icmpv6, hop_limit, 0))
    }

    /// The whole IPv6 packet with the fields of `header` (its `next_header` and
    /// `payload_len` are set here).
    pub fn emit_after(&self, header: &Ipv6Repr) -> Result<Vec<u8>, Error> {
        let header = Ipv6Repr {
            next_header: NextHeader::Icmpv6,
            ..*header
        };
        header.emit_packet(self.buffer_len(), |upper| {
            self.emit(
                &header.src_addr,
                &header.dst_addr,
                &mut Icmpv6Packet::new_unchecked(upper),
            )
        })
    }
}

#[cfg(test)]
mod tests;
