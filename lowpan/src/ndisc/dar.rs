//! Duplicate Address Request and Confirmation (RFC 6775 section 4.4), in the extended
//! forms of RFC 8505 section 6 (EDAR/EDAC): the messages a 6LoWPAN router exchanges with
//! the border router to check, across hops, that an address a host registers with it is
//! not registered elsewhere.
//!
//! Both messages have the same body after type, code and checksum: Status, TID (reserved
//! in RFC 6775), Registration Lifetime, the ROVR and the registered address. The code's low
//! four bits (CodeSfx) give the ROVR's size: 0 is the RFC 6775 form (an EUI-64), 1 to 4 are
//! 64 to 256 bits; its high four bits (CodePfx) are 0. They are not ND messages (they are
//! multihop, so no hop limit of 255) and reach [`crate::icmpv6::Icmpv6Repr`] as `Unknown`.

use std::net::Ipv6Addr;

use crate::ip::Error;

use super::option::Rovr;

/// ICMPv6 types of the two messages.
pub mod msg_type {
    pub const DUPLICATE_ADDRESS_REQUEST: u8 = 157;
    pub const DUPLICATE_ADDRESS_CONFIRMATION: u8 = 158;
}

/// The hop limit DAR and DAC are sent with (RFC 6775 section 9, MULTIHOP_HOPLIMIT).
pub const MULTIHOP_HOPLIMIT: u8 = 64;

/// The body of a DAR or DAC.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DuplicateAddress {
    /// 0 in a DAR; the border router's verdict (see [`super::aro_status`]) in a DAC.
    pub status: u8,
    /// The registration's transaction ID (RFC 8505); 0 in the RFC 6775 form.
    pub tid: u8,
    /// Units of 60 seconds; 0 removes the registration.
    pub lifetime: u16,
    pub rovr: Rovr,
    pub registered: Ipv6Addr,
    /// The RFC 8505 form: the code carries the ROVR's size. In the RFC 6775 form (code 0)
    /// the ROVR is always 8 bytes.
    pub extended: bool,
}

impl DuplicateAddress {
    /// The ICMPv6 code this message is sent with (the DAC answering a DAR repeats it).
    pub fn code(&self) -> u8 {
        if self.extended {
            (self.rovr.as_bytes().len() / 8) as u8
        } else {
            0
        }
    }

    /// Reads the body (after type, code and checksum) of a message sent with `code`.
    /// Refuses a non-zero CodePfx, a CodeSfx above 4, and a body shorter than its ROVR and
    /// address; bytes past them are ignored.
    pub fn parse(code: u8, body: &[u8]) -> Result<Self, Error> {
        if code >> 4 != 0 {
            return Err(Error::Malformed);
        }
        let (rovr_len, extended) = match code & 0x0f {
            0 => (8, false),
            n @ 1..=4 => (usize::from(n) * 8, true),
            _ => return Err(Error::Malformed),
        };
        if body.len() < 4 + rovr_len + 16 {
            return Err(Error::Truncated);
        }
        let rovr = Rovr::new(&body[4..4 + rovr_len]).ok_or(Error::Malformed)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(&body[4 + rovr_len..4 + rovr_len + 16]);
        Ok(DuplicateAddress {
            status: body[0],
            tid: if extended { body[1] } else { 0 },
            lifetime: u16::from_be_bytes([body[2], body[3]]),
            rovr,
            registered: Ipv6Addr::from(a),
            extended,
        })
    }

    /// Length of the body [`DuplicateAddress::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        4 + self.rovr_len() + 16
    }

    fn rovr_len(&self) -> usize {
        if self.extended {
            self.rovr.as_bytes().len()
        } else {
            8
        }
    }

    /// Writes the body into the first [`DuplicateAddress::buffer_len`] bytes of `body`.
    /// In the RFC 6775 form a ROVR longer than 8 bytes is cut to its first 8.
    pub fn emit(&self, body: &mut [u8]) {
        let n = self.rovr_len();
        body[0] = self.status;
        body[1] = if self.extended { self.tid } else { 0 };
        body[2..4].copy_from_slice(&self.lifetime.to_be_bytes());
        body[4..4 + n].copy_from_slice(&self.rovr.as_bytes()[..n]);
        body[4 + n..4 + n + 16].copy_from_slice(&self.registered.octets());
    }

    /// The body as a vector, for [`crate::icmpv6::Icmpv6Repr::Unknown`].
    pub fn to_body(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.buffer_len()];
        self.emit(&mut b);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ieee802154::Eui64;

    const REG: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xaaaa, 0, 0, 0x0212, 0x4b00, 0, 2);

    #[test]
    fn rfc6775_form_field_by_field() {
        let eui = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 2]);
        let m = DuplicateAddress {
            status: 0,
            tid: 0,
            lifetime: 30,
            rovr: Rovr::from_eui64(eui),
            registered: REG,
            extended: false,
        };
        assert_eq!(m.code(), 0);
        let body = m.to_body();
        assert_eq!(body.len(), 28);
        assert_eq!(&body[..4], &[0, 0, 0, 30]);
        assert_eq!(&body[4..12], &eui.0);
        assert_eq!(&body[12..], &REG.octets());
        assert_eq!(DuplicateAddress::parse(0, &body), Ok(m));
    }

    #[test]
    fn rfc8505_form_carries_the_rovr_size_in_the_code() {
        let rovr = Rovr::new(&[7u8; 24]).unwrap();
        let m = DuplicateAddress {
            status: 1,
            tid: 9,
            lifetime: 5,
            rovr,
            registered: REG,
            extended: true,
        };
        assert_eq!(m.code(), 3);
        let body = m.to_body();
        assert_eq!(body.len(), 4 + 24 + 16);
        assert_eq!(&body[..4], &[1, 9, 0, 5]);
        assert_eq!(DuplicateAddress::parse(3, &body), Ok(m));
        // An 8-byte ROVR in the extended form says so with CodeSfx 1.
        let short = DuplicateAddress {
            rovr: Rovr::new(&[1u8; 8]).unwrap(),
            ..m
        };
        assert_eq!(short.code(), 1);
        assert_eq!(DuplicateAddress::parse(1, &short.to_body()), Ok(short));
    }

    #[test]
    fn bad_codes_and_short_bodies_are_refused() {
        let body = [0u8; 28];
        assert_eq!(DuplicateAddress::parse(0x10, &body), Err(Error::Malformed));
        assert_eq!(DuplicateAddress::parse(5, &body), Err(Error::Malformed));
        assert_eq!(
            DuplicateAddress::parse(0, &body[..27]),
            Err(Error::Truncated)
        );
        assert_eq!(DuplicateAddress::parse(2, &body), Err(Error::Truncated));
        for code in 0..=255u8 {
            for len in 0..60 {
                let _ = DuplicateAddress::parse(code, &[0xa5; 60][..len]);
            }
        }
    }
}
