//! Which border router may speak for which mote, and where a mote's replies go (remote
//! mode). A border router may divert, and carry mote datagrams, only for the motes listed
//! under it; a mote's replies go only to a border router that serves it: the one that last
//! brought authenticated traffic of that mote, else the first that serves it. So a
//! configured border router cannot take over another's motes and their replies.

use std::collections::HashSet;
use std::net::Ipv6Addr;

#[derive(Debug, Clone, Default)]
pub struct MoteRoutes {
    /// Per border router (configuration order): the addresses of the motes it serves.
    served: Vec<HashSet<Ipv6Addr>>,
    /// The border router that last brought traffic of a mote.
    last: std::collections::HashMap<Ipv6Addr, usize>,
}

impl MoteRoutes {
    pub fn new(served: Vec<HashSet<Ipv6Addr>>) -> Self {
        MoteRoutes {
            served,
            last: Default::default(),
        }
    }

    /// Whether border router `br` may bring a message about `mote` (Hellos name none and
    /// always may). Remembers `br` as the mote's route when it may.
    pub fn accept(&mut self, br: usize, mote: Ipv6Addr) -> bool {
        if mote.is_unspecified() {
            return true;
        }
        if !self.serves(br, mote) {
            return false;
        }
        self.last.insert(mote, br);
        true
    }

    pub fn serves(&self, br: usize, mote: Ipv6Addr) -> bool {
        self.served.get(br).is_some_and(|s| s.contains(&mote))
    }

    /// The border router that gets what the IoTSSP sends about `mote`.
    pub fn route(&self, mote: Ipv6Addr) -> Option<usize> {
        self.last
            .get(&mote)
            .copied()
            .or_else(|| self.served.iter().position(|s| s.contains(&mote)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn a_border_router_speaks_only_for_its_own_motes_and_gets_only_their_replies() {
        let (m1, m2) = (a("2001:db8:1::2"), a("2001:db8:2::2"));
        let mut r = MoteRoutes::new(vec![HashSet::from([m1]), HashSet::from([m2])]);
        assert_eq!((r.route(m1), r.route(m2)), (Some(0), Some(1)));
        // Border router 1 diverting for border router 0's mote: refused, the route stays.
        assert!(!r.accept(1, m1));
        assert_eq!(r.route(m1), Some(0));
        assert!(r.accept(1, m2));
        assert!(r.accept(0, Ipv6Addr::UNSPECIFIED), "a Hello names no mote");
        assert_eq!(
            r.route(a("2001:db8:3::2")),
            None,
            "a mote no border router serves"
        );
    }

    #[test]
    fn a_mote_served_by_two_border_routers_replies_through_the_last_one_heard() {
        let m = a("2001:db8:1::2");
        let mut r = MoteRoutes::new(vec![HashSet::from([m]), HashSet::from([m])]);
        assert_eq!(r.route(m), Some(0));
        assert!(r.accept(1, m));
        assert_eq!(r.route(m), Some(1));
        assert!(r.accept(0, m));
        assert_eq!(r.route(m), Some(0));
    }
}
