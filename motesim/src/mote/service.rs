//! The mote's UDP services and the port table that dispatches to them.
//!
//! Dispatch is table-driven so a later mode can add a service (a DTLS record layer on
//! 5684) without touching the IP code: a service sees the peer and the UDP payload and
//! returns the payloads to send back from its port.

use std::net::Ipv6Addr;
use std::time::Instant;

/// The remote end of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: Ipv6Addr,
    pub port: u16,
}

/// One UDP service bound to a port of the mote.
pub trait UdpService: Send {
    /// Short stable name, used for counters.
    fn name(&self) -> &'static str;

    /// A datagram arrived from `peer`; returns the payloads to send back to it.
    fn handle(&mut self, now: Instant, peer: Peer, payload: &[u8]) -> Vec<Vec<u8>>;
}

/// UDP echo (RFC 862): every datagram goes back unchanged.
#[derive(Debug, Default)]
pub struct Echo;

impl UdpService for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn handle(&mut self, _now: Instant, _peer: Peer, payload: &[u8]) -> Vec<Vec<u8>> {
        vec![payload.to_vec()]
    }
}

/// Ports and the services bound to them.
#[derive(Default)]
pub struct PortTable {
    entries: Vec<(u16, Box<dyn UdpService>)>,
}

impl std::fmt::Debug for PortTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(p, s)| (p, s.name())))
            .finish()
    }
}

impl PortTable {
    /// Bind `service` to `port`, replacing whatever was bound there.
    pub fn bind(&mut self, port: u16, service: Box<dyn UdpService>) {
        self.entries.retain(|(p, _)| *p != port);
        self.entries.push((port, service));
    }

    /// The service on `port`, if any.
    pub fn get_mut(&mut self, port: u16) -> Option<&mut (dyn UdpService + 'static)> {
        self.entries
            .iter_mut()
            .find(|(p, _)| *p == port)
            .map(|(_, s)| s.as_mut())
    }

    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.entries.iter().map(|(p, _)| *p)
    }
}
