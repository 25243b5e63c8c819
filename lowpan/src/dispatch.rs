//! The 6LoWPAN dispatch byte (RFC 4944 section 5.1, RFC 6282 section 3).

/// Uncompressed IPv6 follows.
pub const IPV6: u8 = 0x41;
/// LOWPAN_BC0 broadcast header: dispatch + sequence number.
pub const BC0: u8 = 0x50;

/// What the first byte of a 6LoWPAN payload announces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dispatch {
    Empty,
    /// 00xxxxxx: not a LoWPAN frame.
    Nalp,
    Ipv6,
    Broadcast,
    Iphc,
    /// 10xxxxxx.
    Mesh,
    /// 11110001: page 1 (RFC 8025), whose 6LoRHs (RFC 8138) come before the IPHC.
    Page1,
    Frag1,
    FragN,
    Unknown(u8),
}

impl Dispatch {
    pub fn of(payload: &[u8]) -> Dispatch {
        let Some(&d) = payload.first() else {
            return Dispatch::Empty;
        };
        match d {
            IPV6 => Dispatch::Ipv6,
            BC0 => Dispatch::Broadcast,
            crate::rpl::lorh::PAGE_1 => Dispatch::Page1,
            _ if d & 0xc0 == 0x00 => Dispatch::Nalp,
            _ if d & crate::iphc::DISPATCH_MASK == crate::iphc::DISPATCH => Dispatch::Iphc,
            _ if d & 0xc0 == 0x80 => Dispatch::Mesh,
            _ if d & crate::frag::DISPATCH_MASK == crate::frag::FRAG1_DISPATCH => Dispatch::Frag1,
            _ if d & crate::frag::DISPATCH_MASK == crate::frag::FRAGN_DISPATCH => Dispatch::FragN,
            _ => Dispatch::Unknown(d),
        }
    }
}

/// Skips one LOWPAN_BC0 header (its sequence number is for mesh-under flooding, which we
/// do not do). A truncated BC0 is left in place to be reported as such.
pub fn skip_broadcast_header(payload: &[u8]) -> &[u8] {
    match payload {
        [BC0, _seq, rest @ ..] => rest,
        _ => payload,
    }
}
