//! The root's downward routes in non-storing mode: for each target its DAO parent, with a
//! lifetime; a source route is the chain of parents back to the root.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Instant;

/// Hops a source route may have; a longer chain of parents is a loop or a broken DODAG.
pub const MAX_PATH_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Route {
    parent: Ipv6Addr,
    /// The parent keeps its own route to the target (it announced it in a storing-mode
    /// DAO): packets go to the parent unchanged, without a source routing header.
    parent_forwards: bool,
    path_sequence: u8,
    /// `None`: infinite lifetime.
    expires: Option<Instant>,
}

/// Why a DAO's route was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteRefused {
    /// The table holds `max_routes` targets already.
    TableFull,
    /// An older path sequence than the one stored.
    Stale,
}

/// Target -> parent, bounded by `max_routes`.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: HashMap<Ipv6Addr, Route>,
    max_routes: usize,
}

/// RFC 6550 section 7.2 lollipop comparison: whether `a` is newer than `b`.
pub(crate) fn sequence_newer(a: u8, b: u8) -> bool {
    const WINDOW: u8 = 16;
    if a >= 128 && b < 128 {
        // a in the linear start, b in the circular region: a is newer only if far apart.
        return 256 + u16::from(b) - u16::from(a) > u16::from(WINDOW);
    }
    if a < 128 && b >= 128 {
        return 256 + u16::from(a) - u16::from(b) <= u16::from(WINDOW);
    }
    let d = a.wrapping_sub(b);
    d != 0 && d < 128
}

impl RouteTable {
    pub fn new(max_routes: usize) -> Self {
        RouteTable {
            routes: HashMap::new(),
            max_routes,
        }
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Stores (or refreshes) `target` via `parent` until `expires` (`None`: forever).
    pub fn update(
        &mut self,
        target: Ipv6Addr,
        parent: Ipv6Addr,
        path_sequence: u8,
        expires: Option<Instant>,
    ) -> Result<(), RouteRefused> {
        self.store(
            target,
            Route {
                parent,
                parent_forwards: false,
                path_sequence,
                expires,
            },
        )
    }

    /// [`RouteTable::update`] for a target its parent forwards to by its own route.
    pub fn update_forwarded(
        &mut self,
        target: Ipv6Addr,
        parent: Ipv6Addr,
        path_sequence: u8,
        expires: Option<Instant>,
    ) -> Result<(), RouteRefused> {
        self.store(
            target,
            Route {
                parent,
                parent_forwards: true,
                path_sequence,
                expires,
            },
        )
    }

    fn store(&mut self, target: Ipv6Addr, route: Route) -> Result<(), RouteRefused> {
        match self.routes.get_mut(&target) {
            Some(r) => {
                if sequence_newer(r.path_sequence, route.path_sequence) {
                    return Err(RouteRefused::Stale);
                }
                *r = route;
            }
            None => {
                if self.routes.len() >= self.max_routes {
                    return Err(RouteRefused::TableFull);
                }
                self.routes.insert(target, route);
            }
        }
        Ok(())
    }

    /// Whether `target`'s parent forwards to it by its own route (no source routing
    /// header from the root).
    pub fn forwarded_by_parent(&self, target: &Ipv6Addr) -> bool {
        self.routes.get(target).is_some_and(|r| r.parent_forwards)
    }

    /// A No-Path DAO: forget `target`.
    pub fn remove(&mut self, target: &Ipv6Addr) -> bool {
        self.routes.remove(target).is_some()
    }

    /// Drops the routes whose lifetime ended; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.routes.len();
        self.routes.retain(|_, r| r.expires.is_none_or(|e| e > now));
        before - self.routes.len()
    }

    /// When the next route expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.routes.values().filter_map(|r| r.expires).min()
    }

    /// The hops from the root to `target`: the root's child first, `target` last. `None`
    /// when a parent is unknown, the chain loops or is longer than [`MAX_PATH_LEN`].
    /// `is_root` says which parent addresses are the root. A link-local parent is a
    /// neighbour of the root: the path starts there.
    pub fn path(
        &self,
        target: &Ipv6Addr,
        is_root: impl Fn(&Ipv6Addr) -> bool,
    ) -> Option<Vec<Ipv6Addr>> {
        let mut path = vec![*target];
        let mut at = *target;
        loop {
            let parent = self.routes.get(&at)?.parent;
            if is_root(&parent) {
                path.reverse();
                return Some(path);
            }
            if path.len() >= MAX_PATH_LEN || path.contains(&parent) {
                return None;
            }
            path.push(parent);
            if parent.is_unicast_link_local() {
                path.reverse();
                return Some(path);
            }
            at = parent;
        }
    }

    /// Every target with its parent (for status output and tests).
    pub fn iter(&self) -> impl Iterator<Item = (Ipv6Addr, Ipv6Addr)> + '_ {
        self.routes.iter().map(|(t, r)| (*t, r.parent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn a(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0x212, 0x4b00, 0, n)
    }

    #[test]
    fn paths_loops_bounds_and_lifetimes() {
        let t0 = Instant::now();
        let root = a(0xff);
        let mut t = RouteTable::new(3);
        let later = Some(t0 + Duration::from_secs(60));
        t.update(a(1), root, 1, later).unwrap();
        t.update(a(2), a(1), 1, None).unwrap();
        t.update(a(3), a(2), 1, Some(t0 + Duration::from_secs(10)))
            .unwrap();
        let is_root = |x: &Ipv6Addr| *x == root;
        assert_eq!(t.path(&a(3), is_root), Some(vec![a(1), a(2), a(3)]));
        assert_eq!(t.path(&a(1), is_root), Some(vec![a(1)]));
        assert_eq!(t.update(a(4), root, 1, None), Err(RouteRefused::TableFull));
        assert_eq!(t.path(&a(4), is_root), None);
        // An older path sequence does not replace a newer one.
        assert_eq!(t.update(a(2), root, 0, None), Err(RouteRefused::Stale));
        // A loop gives no path.
        t.update(a(1), a(3), 2, later).unwrap();
        assert_eq!(t.path(&a(3), is_root), None);
        t.update(a(1), root, 3, later).unwrap();
        assert_eq!(t.next_expiry(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(t.expire(t0 + Duration::from_secs(11)), 1);
        assert_eq!(t.path(&a(3), is_root), None);
        assert!(t.remove(&a(2)));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn lollipop_sequences() {
        assert!(sequence_newer(2, 1));
        assert!(!sequence_newer(1, 2));
        assert!(sequence_newer(0, 255));
        // 240 starts the linear region (a rebooted sender): newer than an old circular value,
        // older than one just past the wrap.
        assert!(sequence_newer(240, 5));
        assert!(sequence_newer(2, 250));
        assert!(sequence_newer(241, 240));
    }
}
