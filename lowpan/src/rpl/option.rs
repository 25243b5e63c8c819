//! The RPL option (RFC 6553) and the Hop-by-Hop header that carries it.
//!
//! Option type 0x63 (RFC 6553) is what Contiki-NG sends and what we emit; 0x23 (RFC 9008)
//! is read as well.

use super::RplError;
use crate::ip::next_header;

/// Option type of RFC 6553.
pub const OPTION_TYPE: u8 = 0x63;
/// Option type of RFC 9008 (same contents, "skip if unknown").
pub const OPTION_TYPE_RFC9008: u8 = 0x23;
/// Option data length.
pub const OPTION_DATA_LEN: usize = 4;
/// A Hop-by-Hop header holding only the RPL option: exactly 8 bytes.
pub const HOP_BY_HOP_LEN: usize = 8;

const FLAG_DOWN: u8 = 0x80;
const FLAG_RANK_ERROR: u8 = 0x40;
const FLAG_FORWARDING_ERROR: u8 = 0x20;

/// The RPL Packet Information.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct RplOptionRepr {
    /// O: the packet travels down the DODAG.
    pub down: bool,
    /// R: a rank error was seen.
    pub rank_error: bool,
    /// F: a forwarding error was seen.
    pub forwarding_error: bool,
    pub instance: u8,
    pub sender_rank: u16,
}

impl RplOptionRepr {
    /// From the option's 4 data bytes.
    pub fn parse(data: &[u8]) -> Result<Self, RplError> {
        let d: &[u8; OPTION_DATA_LEN] = data.try_into().map_err(|_| RplError::Malformed)?;
        Ok(RplOptionRepr {
            down: d[0] & FLAG_DOWN != 0,
            rank_error: d[0] & FLAG_RANK_ERROR != 0,
            forwarding_error: d[0] & FLAG_FORWARDING_ERROR != 0,
            instance: d[1],
            sender_rank: u16::from_be_bytes([d[2], d[3]]),
        })
    }

    /// The 4 data bytes.
    pub fn data(&self) -> [u8; OPTION_DATA_LEN] {
        let mut flags = 0;
        if self.down {
            flags |= FLAG_DOWN;
        }
        if self.rank_error {
            flags |= FLAG_RANK_ERROR;
        }
        if self.forwarding_error {
            flags |= FLAG_FORWARDING_ERROR;
        }
        let r = self.sender_rank.to_be_bytes();
        [flags, self.instance, r[0], r[1]]
    }

    /// A Hop-by-Hop header with only this option, followed by `next`.
    pub fn hop_by_hop(&self, next: u8) -> [u8; HOP_BY_HOP_LEN] {
        let d = self.data();
        [
            next,
            0,
            OPTION_TYPE,
            OPTION_DATA_LEN as u8,
            d[0],
            d[1],
            d[2],
            d[3],
        ]
    }

    /// The RPL option of a Hop-by-Hop (or Destination Options) header `header` (the whole
    /// header, Next Header and length included), if it has one. Errors when the option
    /// list overruns the header.
    pub fn find_in(header: &[u8]) -> Result<Option<Self>, RplError> {
        let Some(&len) = header.get(1) else {
            return Err(RplError::Truncated);
        };
        let total = (usize::from(len) + 1) * 8;
        let body = header.get(2..total).ok_or(RplError::Truncated)?;
        let mut found = None;
        for opt in options(body) {
            let (kind, data) = opt?;
            if matches!(kind, OPTION_TYPE | OPTION_TYPE_RFC9008) {
                found = Some(Self::parse(data)?);
            }
        }
        Ok(found)
    }
}

/// Whether every option of the options header `header` is padding or an RPL option: such
/// a header means nothing outside the RPL domain and is removed by the root.
pub fn only_rpl_options(header: &[u8]) -> bool {
    let Some(&len) = header.get(1) else {
        return false;
    };
    let Some(body) = header.get(2..(usize::from(len) + 1) * 8) else {
        return false;
    };
    options(body).all(|o| matches!(o, Ok((0 | 1 | OPTION_TYPE | OPTION_TYPE_RFC9008, _))))
}

/// The (type, data) options of an options-header body; Pad1 is reported with no data.
pub fn options(body: &[u8]) -> impl Iterator<Item = Result<(u8, &[u8]), RplError>> {
    let mut at = 0usize;
    let mut failed = false;
    core::iter::from_fn(move || {
        if failed || at >= body.len() {
            return None;
        }
        let kind = body[at];
        if kind == 0 {
            at += 1;
            return Some(Ok((0, &body[at..at])));
        }
        let Some(&len) = body.get(at + 1) else {
            failed = true;
            return Some(Err(RplError::Truncated));
        };
        let Some(data) = body.get(at + 2..at + 2 + usize::from(len)) else {
            failed = true;
            return Some(Err(RplError::Truncated));
        };
        at += 2 + usize::from(len);
        Some(Ok((kind, data)))
    })
}

/// Next Header value of the header this module builds.
pub const NEXT_HEADER: u8 = next_header::HOP_BY_HOP;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn contiki_hop_by_hop_bytes() {
        // Upward from rank 512 in instance 0x1e, as Contiki-NG sends it, before UDP.
        let hbh = [17, 0, 0x63, 4, 0x00, 0x1e, 0x02, 0x00];
        let r = RplOptionRepr::find_in(&hbh).unwrap().unwrap();
        assert_eq!(
            r,
            RplOptionRepr {
                instance: 0x1e,
                sender_rank: 512,
                ..Default::default()
            }
        );
        assert_eq!(r.hop_by_hop(17), hbh);
        assert!(only_rpl_options(&hbh));
        let down = RplOptionRepr {
            down: true,
            forwarding_error: true,
            ..r
        };
        assert_eq!(down.data()[0], 0xa0);
        // A router alert is not an RPL option.
        assert!(!only_rpl_options(&[58, 0, 5, 2, 0, 0, 1, 0]));
        assert_eq!(RplOptionRepr::find_in(&[58, 0, 5, 2, 0, 0, 1, 0]), Ok(None));
        assert_eq!(
            RplOptionRepr::find_in(&[58, 0, 0x63, 9, 0, 0, 1, 0]),
            Err(RplError::Truncated)
        );
        assert_eq!(
            RplOptionRepr::find_in(&[58, 0, 0x63, 3, 0, 0, 1, 0]),
            Err(RplError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = RplOptionRepr::find_in(&bytes);
            let _ = only_rpl_options(&bytes);
        }
    }
}
