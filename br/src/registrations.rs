//! The border router's address registrations (RFC 6775 section 6.5, RFC 8505 section 5):
//! which registered IPv6 address belongs to which owner (its ROVR), until when, and where
//! packets for it go (the registering node's link address, or the 6LoWPAN router that
//! relayed the registration in a Duplicate Address Request).
//!
//! Duplicate address detection is done here: an address registered by one owner and not
//! expired is refused to every other owner. The owner's own registrations are ordered by
//! their transaction ID (RFC 8505 section 5.2, a lollipop counter compared as RFC 6550
//! section 7.2 says): one older than the registration held is stale and changes nothing. The table is bounded: a new address is refused
//! with "neighbour cache full" when it holds `max` live entries, so a flood of
//! registrations costs a bounded amount of memory and never evicts a registered node.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use lowpan::Address;
use lowpan::ndisc::{Rovr, aro_status};

use crate::rpl::routes::sequence_newer;

/// Where packets for a registered address are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The node registered itself from this link address (NS with ARO).
    Link(Address),
    /// A 6LoWPAN router with this address registered it for a host behind it (DAR).
    Router(Ipv6Addr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub rovr: Rovr,
    /// The last transaction ID (RFC 8505 section 5.2); 0 for RFC 6775 registrations.
    pub tid: u8,
    pub via: Via,
    pub expires: Instant,
}

/// One registration request, from an NS's (E)ARO or a DAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub address: Ipv6Addr,
    pub rovr: Rovr,
    pub tid: u8,
    /// Units of 60 seconds; 0 removes the registration.
    pub lifetime_min: u16,
    pub via: Via,
}

/// What [`Registrations::register`] decided; [`Outcome::status`] is the ARO status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Registered or refreshed, for the requested lifetime.
    Registered,
    /// Lifetime 0: the owner's registration (if any) is gone.
    Deregistered,
    /// Another owner holds the address.
    Duplicate,
    /// The table is full of live registrations of other addresses.
    TableFull,
    /// The owner's TID is older than that of the registration held: nothing changed.
    Stale,
}

impl Outcome {
    pub fn status(self) -> u8 {
        match self {
            Outcome::Registered | Outcome::Deregistered => aro_status::SUCCESS,
            Outcome::Duplicate => aro_status::DUPLICATE,
            Outcome::TableFull => aro_status::NEIGHBOR_CACHE_FULL,
            Outcome::Stale => aro_status::MOVED,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Registrations {
    entries: HashMap<Ipv6Addr, Registration>,
    max: usize,
}

impl Registrations {
    pub fn new(max: usize) -> Self {
        Registrations {
            entries: HashMap::new(),
            max,
        }
    }

    /// Applies one registration request at `now`.
    pub fn register(&mut self, now: Instant, req: &Request) -> Outcome {
        let live = self.entries.get(&req.address).filter(|r| r.expires > now);
        if live.is_some_and(|r| r.rovr != req.rovr) {
            return Outcome::Duplicate;
        }
        if live.is_some_and(|r| sequence_newer(r.tid, req.tid)) {
            return Outcome::Stale;
        }
        if req.lifetime_min == 0 {
            self.entries.remove(&req.address);
            return Outcome::Deregistered;
        }
        if !self.entries.contains_key(&req.address) && self.entries.len() >= self.max {
            self.entries.retain(|_, r| r.expires > now);
            if self.entries.len() >= self.max {
                return Outcome::TableFull;
            }
        }
        let expires = now + Duration::from_secs(u64::from(req.lifetime_min) * 60);
        self.entries.insert(
            req.address,
            Registration {
                rovr: req.rovr,
                tid: req.tid,
                via: req.via,
                expires,
            },
        );
        Outcome::Registered
    }

    /// The live registration of `address`.
    pub fn get(&self, now: Instant, address: &Ipv6Addr) -> Option<&Registration> {
        self.entries.get(address).filter(|r| r.expires > now)
    }

    /// When the next registration runs out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries.values().map(|r| r.expires).min()
    }

    /// Removes the registrations that ran out by `now`; returns them with their addresses.
    pub fn expire(&mut self, now: Instant) -> Vec<(Ipv6Addr, Registration)> {
        let gone: Vec<Ipv6Addr> = self
            .entries
            .iter()
            .filter(|(_, r)| r.expires <= now)
            .map(|(a, _)| *a)
            .collect();
        gone.into_iter()
            .filter_map(|a| self.entries.remove(&a).map(|r| (a, r)))
            .collect()
    }

    /// Whether a live registration is still sent through `via`.
    pub fn uses(&self, now: Instant, via: &Via) -> bool {
        self.entries
            .values()
            .any(|r| r.expires > now && r.via == *via)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Ipv6Addr, &Registration)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowpan::Eui64;

    fn req(last: u16, owner: u8, lifetime_min: u16) -> Request {
        let eui = Eui64([0x02, 0, 0, 0, 0, 0, 0, owner]);
        Request {
            address: Ipv6Addr::new(0xfd00, 0xaaaa, 0, 0, 0, 0, 0, last),
            rovr: Rovr::from_eui64(eui),
            tid: 0,
            lifetime_min,
            via: Via::Link(Address::Extended(eui)),
        }
    }

    #[test]
    fn owners_register_refresh_and_deregister_and_others_are_duplicates() {
        let mut t = Registrations::new(4);
        let t0 = Instant::now();
        assert_eq!(t.register(t0, &req(1, 1, 10)), Outcome::Registered);
        assert_eq!(t.register(t0, &req(1, 2, 10)), Outcome::Duplicate);
        assert_eq!(
            t.register(t0, &req(1, 2, 0)),
            Outcome::Duplicate,
            "nor may another owner remove it"
        );
        let t1 = t0 + Duration::from_secs(300);
        assert_eq!(t.register(t1, &req(1, 1, 10)), Outcome::Registered);
        assert_eq!(
            t.get(t1, &req(1, 1, 0).address).unwrap().expires,
            t1 + Duration::from_secs(600)
        );
        assert_eq!(t.register(t1, &req(1, 1, 0)), Outcome::Deregistered);
        assert!(t.is_empty());
        assert_eq!(
            t.register(t1, &req(1, 2, 10)),
            Outcome::Registered,
            "free again"
        );
    }

    #[test]
    fn an_older_tid_is_stale_and_a_newer_one_refreshes() {
        let mut t = Registrations::new(4);
        let t0 = Instant::now();
        let with_tid = |tid: u8, lifetime_min: u16| Request {
            tid,
            ..req(1, 1, lifetime_min)
        };
        assert_eq!(t.register(t0, &with_tid(250, 10)), Outcome::Registered);
        let t1 = t0 + Duration::from_secs(60);
        // An older transaction (a delayed copy of an earlier NS) changes nothing.
        assert_eq!(t.register(t1, &with_tid(249, 30)), Outcome::Stale);
        assert_eq!(Outcome::Stale.status(), aro_status::MOVED);
        assert_eq!(
            t.get(t1, &with_tid(0, 0).address).unwrap().expires,
            t0 + Duration::from_secs(600)
        );
        // The same or a newer one refreshes, also past the wrap of the circular region.
        assert_eq!(t.register(t1, &with_tid(250, 10)), Outcome::Registered);
        assert_eq!(t.register(t1, &with_tid(3, 20)), Outcome::Registered);
        assert_eq!(t.get(t1, &with_tid(0, 0).address).unwrap().tid, 3);
        assert_eq!(t.register(t1, &with_tid(250, 10)), Outcome::Stale);
        // Once the registration has expired, any TID starts afresh.
        let later = t1 + Duration::from_secs(20 * 60);
        assert_eq!(t.register(later, &with_tid(240, 10)), Outcome::Registered);
    }

    #[test]
    fn expired_registrations_give_way_and_are_removed() {
        let mut t = Registrations::new(1);
        let t0 = Instant::now();
        assert_eq!(t.register(t0, &req(1, 1, 1)), Outcome::Registered);
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(t.register(t0, &req(2, 2, 1)), Outcome::TableFull);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(t.get(later, &req(1, 1, 1).address), None);
        // A live owner of another address takes the expired one's place.
        assert_eq!(t.register(later, &req(2, 2, 1)), Outcome::Registered);
        assert_eq!(t.len(), 1);
        let gone = t.expire(later + Duration::from_secs(60));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0, req(2, 2, 1).address);
        assert_eq!(t.poll_timeout(), None);
    }
}
