//! Test helpers: the committed test PKI and a `Pair` of endpoints over a simulated network
//! and clock (quinn-proto style), with a per-datagram loss hook.
#![allow(dead_code)]

pub mod interop;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::cert::{CertifiedKey, ChainVerifier};
use dtls::{ClientConfig, Endpoint, Event, PskTable, ServerConfig};

pub fn data(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn certified(chain: &str, key: &str) -> Arc<CertifiedKey> {
    Arc::new(CertifiedKey::from_pem(&data(chain), &data(key)).unwrap())
}

pub fn anchors() -> ChainVerifier {
    ChainVerifier::from_pem(&data("ca.pem")).unwrap()
}

pub fn psk_server() -> ServerConfig {
    let mut t = PskTable::new();
    t.insert(b"mote-1", b"0123456789abcdef");
    ServerConfig::psk(Arc::new(t))
}

pub fn psk_client(key: &[u8]) -> ClientConfig {
    ClientConfig::psk(b"mote-1", key)
}

pub fn ecdhe_server() -> ServerConfig {
    ServerConfig::ecdhe(certified("server.pem", "server.key"), Some(anchors()))
}

pub fn ecdhe_client(chain: &str, key: &str) -> ClientConfig {
    ClientConfig::ecdhe(anchors(), Some(certified(chain, key)))
}

/// Which side sent a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Decides whether a datagram arrives: (from, index of this datagram from that side, bytes).
pub type DeliverFn = Box<dyn FnMut(Side, usize, &[u8]) -> bool>;

pub struct Pair {
    pub server: Endpoint,
    pub client: Endpoint,
    pub server_addr: SocketAddr,
    pub client_addr: SocketAddr,
    pub now: Instant,
    /// Return false to drop a datagram.
    pub deliver: DeliverFn,
    pub sent: [usize; 2],
    pub server_events: Vec<Event>,
    pub client_events: Vec<Event>,
    pub datagram_sizes: Vec<usize>,
}

impl Pair {
    pub fn new(server: ServerConfig) -> Self {
        Pair {
            server: Endpoint::new(Some(Arc::new(server))).unwrap(),
            client: Endpoint::new(None).unwrap(),
            server_addr: "[2001:db8::1]:5684".parse().unwrap(),
            client_addr: "[2001:db8::2]:40000".parse().unwrap(),
            now: Instant::now(),
            deliver: Box::new(|_, _, _| true),
            sent: [0, 0],
            server_events: Vec::new(),
            client_events: Vec::new(),
            datagram_sizes: Vec::new(),
        }
    }

    pub fn connect(&mut self, client: ClientConfig) {
        self.client
            .connect(self.now, self.server_addr, Arc::new(client))
            .unwrap();
    }

    /// Moves every pending datagram once; returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(t) = self.client.poll_transmit() {
            moved = true;
            self.datagram_sizes.push(t.contents.len());
            let i = self.sent[0];
            self.sent[0] += 1;
            if (self.deliver)(Side::Client, i, &t.contents) {
                self.server
                    .handle_datagram(self.now, self.client_addr, &t.contents);
            }
        }
        while let Some(t) = self.server.poll_transmit() {
            moved = true;
            self.datagram_sizes.push(t.contents.len());
            let i = self.sent[1];
            self.sent[1] += 1;
            if (self.deliver)(Side::Server, i, &t.contents) {
                self.client
                    .handle_datagram(self.now, self.server_addr, &t.contents);
            }
        }
        while let Some((_, e)) = self.server.poll_event() {
            self.server_events.push(e);
        }
        while let Some((_, e)) = self.client.poll_event() {
            self.client_events.push(e);
        }
        moved
    }

    /// Runs until nothing moves and no timer is pending, advancing the clock to each
    /// deadline; bounded so a bug cannot loop forever.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            if self.step() {
                continue;
            }
            let next = [self.server.poll_timeout(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) => {
                    self.now = self.now.max(t);
                    self.server.handle_timeout(self.now);
                    self.client.handle_timeout(self.now);
                }
                None => return,
            }
        }
        panic!("drive did not settle");
    }

    /// Moves datagrams until none are left, without letting time pass.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("settle did not settle");
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    pub fn handshake_complete(&self) -> bool {
        self.server_events.contains(&Event::HandshakeComplete)
            && self.client_events.contains(&Event::HandshakeComplete)
    }
}
