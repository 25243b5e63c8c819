//! The neighbour table: which link addresses belong to motes we may send to, and how an
//! IPv6 interface identifier maps to one of them.
//!
//! Motes come from the configuration or are learned from the source address of frames
//! they send. Learned entries are capped so that a flood of forged source addresses cannot
//! grow the table without bound.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use lowpan::ip;
use lowpan::{Address, Eui64};
use slip::LinkQuality;

/// Per-mote traffic, for metrics and the status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoteStats {
    /// When its last frame was received.
    pub last_heard: Option<Instant>,
    /// What the radio reported with that frame (nothing for a slip-radio).
    pub last_quality: LinkQuality,
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The configured name, if any.
    pub name: Option<Arc<str>>,
    /// From configuration (never evicted) or learned.
    pub configured: bool,
    pub stats: MoteStats,
}

/// What [`NeighbourTable::learn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    Known,
    New,
    /// The learned-entry cap is reached; the address was not added.
    TableFull,
    /// Not a unicast mote address (absent or broadcast).
    NotUnicast,
}

#[derive(Debug, Clone, Default)]
pub struct NeighbourTable {
    entries: HashMap<Address, Neighbour>,
    learned: usize,
    max_learned: usize,
}

impl NeighbourTable {
    pub fn new(max_learned: usize) -> Self {
        NeighbourTable {
            entries: HashMap::new(),
            learned: 0,
            max_learned,
        }
    }

    /// A mote from the configuration: its EUI-64 and optionally its short address.
    pub fn add_configured(&mut self, eui: Eui64, short: Option<u16>, name: Option<&str>) {
        let name: Option<Arc<str>> = name.filter(|n| !n.is_empty()).map(Arc::from);
        let n = Neighbour {
            name,
            configured: true,
            stats: MoteStats::default(),
        };
        if let Some(s) = short {
            self.entries.insert(Address::Short(s), n.clone());
        }
        self.entries.insert(Address::Extended(eui), n);
    }

    /// A mote from a reloaded configuration: added as [`NeighbourTable::add_configured`]
    /// does, or, when already known (configured or learned), named and made permanent
    /// with its traffic kept.
    pub fn configure(&mut self, eui: Eui64, short: Option<u16>, name: Option<&str>) {
        let name: Option<Arc<str>> = name.filter(|n| !n.is_empty()).map(Arc::from);
        for addr in std::iter::once(Address::Extended(eui)).chain(short.map(Address::Short)) {
            match self.entries.get_mut(&addr) {
                Some(n) => {
                    if !n.configured {
                        n.configured = true;
                        self.learned -= 1;
                    }
                    n.name = name.clone();
                }
                None => {
                    self.entries.insert(
                        addr,
                        Neighbour {
                            name: name.clone(),
                            configured: true,
                            stats: MoteStats::default(),
                        },
                    );
                }
            }
        }
    }

    /// Remember the source of a received frame.
    pub fn learn(&mut self, addr: Address) -> Learned {
        if matches!(addr, Address::Absent) || addr.is_broadcast() || addr == Address::Short(0xfffe)
        {
            return Learned::NotUnicast;
        }
        if self.entries.contains_key(&addr) {
            return Learned::Known;
        }
        if self.learned >= self.max_learned {
            return Learned::TableFull;
        }
        self.learned += 1;
        self.entries.insert(
            addr,
            Neighbour {
                name: None,
                configured: false,
                stats: MoteStats::default(),
            },
        );
        Learned::New
    }

    /// The link address of a known mote whose IPv6 interface identifier is `iid`
    /// (`0000:00ff:fe00:XXXX` for short addresses, EUI-64 with the U/L bit flipped otherwise).
    pub fn lookup_iid(&self, iid: [u8; 8]) -> Option<Address> {
        let addr = if iid[..6] == [0, 0, 0, 0xff, 0xfe, 0] {
            Address::Short(u16::from_be_bytes([iid[6], iid[7]]))
        } else {
            Address::Extended(ip::eui64_from_iid(iid))
        };
        self.entries.contains_key(&addr).then_some(addr)
    }

    /// Removes a learned entry (configured ones stay); whether one was removed.
    pub fn forget_learned(&mut self, addr: &Address) -> bool {
        if self.entries.get(addr).is_some_and(|n| !n.configured) {
            self.entries.remove(addr);
            self.learned -= 1;
            return true;
        }
        false
    }

    pub fn get(&self, addr: &Address) -> Option<&Neighbour> {
        self.entries.get(addr)
    }

    pub fn get_mut(&mut self, addr: &Address) -> Option<&mut Neighbour> {
        self.entries.get_mut(addr)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn learned(&self) -> usize {
        self.learned
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Address, &Neighbour)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 2]);

    #[test]
    fn iid_maps_to_configured_and_learned_motes() {
        let mut t = NeighbourTable::new(1);
        t.add_configured(M, Some(0x0002), Some("kitchen"));
        assert_eq!(
            t.lookup_iid(ip::iid_from_eui64(M)),
            Some(Address::Extended(M))
        );
        assert_eq!(
            t.lookup_iid([0, 0, 0, 0xff, 0xfe, 0, 0, 2]),
            Some(Address::Short(2))
        );
        assert_eq!(t.lookup_iid([0, 0, 0, 0xff, 0xfe, 0, 0, 3]), None);
        let other = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 9]);
        assert_eq!(t.lookup_iid(ip::iid_from_eui64(other)), None);
        assert_eq!(t.learn(Address::Extended(other)), Learned::New);
        assert_eq!(t.learn(Address::Extended(other)), Learned::Known);
        assert_eq!(
            t.lookup_iid(ip::iid_from_eui64(other)),
            Some(Address::Extended(other))
        );
        assert_eq!(t.learn(Address::Short(7)), Learned::TableFull);
        assert_eq!(t.learn(Address::BROADCAST), Learned::NotUnicast);
        assert_eq!(t.learn(Address::Absent), Learned::NotUnicast);
        assert_eq!(
            t.get(&Address::Extended(M)).and_then(|n| n.name.as_deref()),
            Some("kitchen")
        );
        assert!(
            !t.forget_learned(&Address::Extended(M)),
            "configured motes stay"
        );
        assert!(t.forget_learned(&Address::Extended(other)));
        assert_eq!(
            t.learn(Address::Short(7)),
            Learned::New,
            "a forgotten entry frees its place"
        );
    }

    #[test]
    fn configuring_a_known_mote_keeps_its_traffic() {
        let mut t = NeighbourTable::new(4);
        let other = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 9]);
        t.learn(Address::Extended(other));
        t.get_mut(&Address::Extended(other))
            .unwrap()
            .stats
            .rx_frames = 5;
        t.configure(other, Some(9), Some("porch"));
        let n = t.get(&Address::Extended(other)).unwrap();
        assert_eq!(
            (n.configured, n.stats.rx_frames, n.name.as_deref()),
            (true, 5, Some("porch"))
        );
        assert_eq!(t.learned(), 0);
        assert!(t.get(&Address::Short(9)).is_some_and(|n| n.configured));
    }
}
