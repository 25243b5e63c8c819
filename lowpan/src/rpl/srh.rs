//! The RPL source routing header (RFC 6554, IPv6 Routing header type 3): a list of
//! addresses with the prefix they share with the IPv6 destination elided.

use super::RplError;
use std::net::Ipv6Addr;

/// Routing Type of the RPL source routing header.
pub const ROUTING_TYPE: u8 = 3;
/// Addresses a header we read or write may hold (a path that long is no LLN route).
pub const MAX_ADDRESSES: usize = 64;
/// Bytes before the addresses.
pub const FIXED_LEN: usize = 8;

/// A source routing header.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SrhRepr {
    pub next_header: u8,
    pub segments_left: u8,
    /// Addresses[1..n]: the hops after the current destination, the final one last.
    pub addresses: Vec<Ipv6Addr>,
}

/// Leading bytes two addresses share, at most 15 (RFC 6554 elides up to 15).
fn shared(a: &Ipv6Addr, b: &Ipv6Addr) -> usize {
    a.octets()
        .iter()
        .zip(b.octets().iter())
        .take_while(|(x, y)| x == y)
        .count()
        .min(15)
}

impl SrhRepr {
    /// Reads the header at the start of `header` (the whole routing header), whose elided
    /// prefixes come from `dst`, the IPv6 destination of the packet carrying it.
    pub fn parse(header: &[u8], dst: &Ipv6Addr) -> Result<Self, RplError> {
        if header.len() < FIXED_LEN {
            return Err(RplError::Truncated);
        }
        if header[2] != ROUTING_TYPE {
            return Err(RplError::Unsupported);
        }
        let total = (usize::from(header[1]) + 1) * 8;
        let h = header.get(..total).ok_or(RplError::Truncated)?;
        let (cmpr_i, cmpr_e) = (usize::from(h[4] >> 4), usize::from(h[4] & 0x0f));
        let pad = usize::from(h[5] >> 4);
        let (size_i, size_e) = (16 - cmpr_i, 16 - cmpr_e);
        let body = (total - FIXED_LEN)
            .checked_sub(pad)
            .ok_or(RplError::Malformed)?;
        // RFC 6554's n = ((body - (16 - CmprE)) / (16 - CmprI)) + 1 is 0 for an empty body:
        // a root sends such a header (Segments Left 0) to a mote one hop away.
        let n = match body {
            0 => 0,
            _ => {
                let room = body.checked_sub(size_e).ok_or(RplError::Malformed)?;
                if room % size_i != 0 {
                    return Err(RplError::Malformed);
                }
                room / size_i + 1
            }
        };
        if n > MAX_ADDRESSES {
            return Err(RplError::TooMany);
        }
        let segments_left = h[3];
        if usize::from(segments_left) > n {
            return Err(RplError::Malformed);
        }
        let prefix = dst.octets();
        let mut addresses = Vec::with_capacity(n);
        let mut at = FIXED_LEN;
        for i in 0..n {
            let (cmpr, size) = if i + 1 == n {
                (cmpr_e, size_e)
            } else {
                (cmpr_i, size_i)
            };
            let mut a = prefix;
            a[cmpr..].copy_from_slice(&h[at..at + size]);
            addresses.push(Ipv6Addr::from(a));
            at += size;
        }
        Ok(SrhRepr {
            next_header: h[0],
            segments_left,
            addresses,
        })
    }

    /// The elision this header gets in a packet to `dst`: (CmprI, CmprE, Pad, length).
    fn layout(&self, dst: &Ipv6Addr) -> (usize, usize, usize, usize) {
        let n = self.addresses.len();
        let cmpr_i = self.addresses[..n.saturating_sub(1)]
            .iter()
            .map(|a| shared(a, dst))
            .min()
            .unwrap_or(0);
        let cmpr_e = self.addresses.last().map_or(0, |a| shared(a, dst));
        let raw =
            FIXED_LEN + (n.saturating_sub(1)) * (16 - cmpr_i) + if n > 0 { 16 - cmpr_e } else { 0 };
        let total = raw.next_multiple_of(8);
        (cmpr_i, cmpr_e, total - raw, total)
    }

    /// Length of the header [`SrhRepr::emit`] writes for a packet to `dst`.
    pub fn buffer_len(&self, dst: &Ipv6Addr) -> usize {
        self.layout(dst).3
    }

    /// The header for a packet to `dst`, its prefixes elided. `None` without addresses or
    /// with more than [`MAX_ADDRESSES`].
    pub fn emit(&self, dst: &Ipv6Addr) -> Option<Vec<u8>> {
        let n = self.addresses.len();
        if n == 0 {
            // The empty header a root sends to a direct child (as parse accepts it): whatever
            // parses must re-emit.
            return Some(vec![
                self.next_header,
                0,
                ROUTING_TYPE,
                self.segments_left,
                0,
                0,
                0,
                0,
            ]);
        }
        if n > MAX_ADDRESSES {
            return None;
        }
        let (cmpr_i, cmpr_e, pad, total) = self.layout(dst);
        let mut h = vec![0u8; total];
        h[0] = self.next_header;
        h[1] = (total / 8 - 1) as u8;
        h[2] = ROUTING_TYPE;
        h[3] = self.segments_left;
        h[4] = ((cmpr_i as u8) << 4) | cmpr_e as u8;
        h[5] = (pad as u8) << 4;
        let mut at = FIXED_LEN;
        for (i, a) in self.addresses.iter().enumerate() {
            let cmpr = if i + 1 == n { cmpr_e } else { cmpr_i };
            h[at..at + 16 - cmpr].copy_from_slice(&a.octets()[cmpr..]);
            at += 16 - cmpr;
        }
        Some(h)
    }

    /// The final destination: the last address.
    pub fn final_destination(&self) -> Option<Ipv6Addr> {
        self.addresses.last().copied()
    }

    /// RFC 6554 section 4.2 at a node that is the packet's current destination `dst`:
    /// decrements Segments Left and swaps `dst` with the next address. Returns the new
    /// destination, or `None` when there is nothing left to visit (the packet is ours) or
    /// the next address is multicast (the packet must be dropped).
    pub fn advance(&mut self, dst: &mut Ipv6Addr) -> Option<Ipv6Addr> {
        if self.segments_left == 0 {
            return None;
        }
        let n = self.addresses.len();
        let i = n.checked_sub(usize::from(self.segments_left))?;
        let next = *self.addresses.get(i)?;
        if next.is_multicast() {
            return None;
        }
        self.segments_left -= 1;
        self.addresses[i] = *dst;
        *dst = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn three_hops_bytes_and_processing() {
        // Root -> 1 -> 2 -> 3: dst = ::1, addresses ::2, ::3; the addresses differ in their
        // last byte only, so CmprI = CmprE = 15.
        let dst = a("fd00::212:4b00:0:1");
        let srh = SrhRepr {
            next_header: 17,
            segments_left: 2,
            addresses: vec![a("fd00::212:4b00:0:2"), a("fd00::212:4b00:0:3")],
        };
        let h = srh.emit(&dst).unwrap();
        // 8 + 1 + 1 = 10 -> 16 bytes, Pad 6.
        assert_eq!(h, [17, 1, 3, 2, 0xff, 0x60, 0, 0, 2, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(SrhRepr::parse(&h, &dst).unwrap(), srh);
        let mut cur = dst;
        let mut s = srh.clone();
        assert_eq!(s.advance(&mut cur), Some(a("fd00::212:4b00:0:2")));
        assert_eq!(s.addresses[0], dst);
        assert_eq!(s.advance(&mut cur), Some(a("fd00::212:4b00:0:3")));
        assert_eq!(s.advance(&mut cur), None);
        assert_eq!(SrhRepr::parse(&s.emit(&cur).unwrap(), &cur).unwrap(), s);
        // Wrong type, short, segments left beyond n.
        let mut bad = h.clone();
        bad[2] = 0;
        assert_eq!(SrhRepr::parse(&bad, &dst), Err(RplError::Unsupported));
        assert_eq!(SrhRepr::parse(&h[..12], &dst), Err(RplError::Truncated));
        let mut bad = h;
        bad[3] = 3;
        assert_eq!(SrhRepr::parse(&bad, &dst), Err(RplError::Malformed));
    }

    #[test]
    fn an_empty_header_to_a_mote_one_hop_away_has_no_addresses() {
        // What a Contiki-NG root sends to a direct child: Hdr Ext Len 0, Segments Left 0,
        // CmprI = CmprE = 15, no address.
        let dst = a("fd00::212:4b00:0:1");
        let h = [58, 0, 3, 0, 0xff, 0, 0, 0];
        let srh = SrhRepr::parse(&h, &dst).unwrap();
        assert_eq!(srh.segments_left, 0);
        assert!(srh.addresses.is_empty());
        let mut cur = dst;
        assert_eq!(srh.clone().advance(&mut cur), None);
        // It re-emits as an 8-byte header that parses the same (found by the rpl_wire fuzz
        // target: `80 00 03 00 05 00 2a 00` parsed but did not re-emit).
        let again = srh.emit(&dst).unwrap();
        assert_eq!(again.len(), 8);
        assert_eq!(SrhRepr::parse(&again, &dst), Ok(srh.clone()));
        let fuzzed = SrhRepr::parse(&[0x80, 0, 3, 0, 5, 0, 0x2a, 0], &dst).unwrap();
        assert_eq!(
            SrhRepr::parse(&fuzzed.emit(&dst).unwrap(), &dst),
            Ok(fuzzed)
        );
        // Segments Left beyond the empty list is malformed.
        assert_eq!(
            SrhRepr::parse(&[58, 0, 3, 1, 0xff, 0, 0, 0], &dst),
            Err(RplError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn round_trip(addrs in proptest::collection::vec(any::<[u8; 16]>(), 1..8), d in any::<[u8; 16]>(), sl in any::<u8>()) {
            let dst = Ipv6Addr::from(d);
            let addresses: Vec<Ipv6Addr> = addrs.into_iter().map(Ipv6Addr::from).collect();
            let segments_left = sl % (addresses.len() as u8 + 1);
            let srh = SrhRepr { next_header: 58, segments_left, addresses };
            let h = srh.emit(&dst).unwrap();
            prop_assert_eq!(h.len() % 8, 0);
            prop_assert_eq!(SrhRepr::parse(&h, &dst).unwrap(), srh);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), d in any::<[u8; 16]>()) {
            let dst = Ipv6Addr::from(d);
            if let Ok(mut s) = SrhRepr::parse(&bytes, &dst) {
                let mut cur = dst;
                while s.advance(&mut cur).is_some() {}
            }
        }
    }
}
