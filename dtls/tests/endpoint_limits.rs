//! The server endpoint's connection table as a resource clients cannot hold forever: idle
//! established connections expire, a full table makes the least recently used idle one give
//! way, and a client refused for lack of room hears an alert.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use dtls::alert::AlertDescription;
use dtls::{CloseReason, Endpoint, Event, ServerConfig};

/// One server and several clients, each at its own address, over a lossless network.
struct Net {
    server: Endpoint,
    server_addr: SocketAddr,
    clients: Vec<(SocketAddr, Endpoint, Vec<Event>)>,
    server_events: Vec<(SocketAddr, Event)>,
    now: Instant,
}

impl Net {
    fn new(cfg: ServerConfig) -> Self {
        Net {
            server: Endpoint::new(Some(Arc::new(cfg))).unwrap(),
            server_addr: "[2001:db8::1]:5684".parse().unwrap(),
            clients: Vec::new(),
            server_events: Vec::new(),
            now: Instant::now(),
        }
    }

    /// Starts client `i` (a new address) and runs until quiet.
    fn connect(&mut self) -> usize {
        let i = self.clients.len();
        let addr: SocketAddr = format!("[2001:db8::2:{}]:40000", i + 1).parse().unwrap();
        let mut ep = Endpoint::new(None).unwrap();
        ep.connect(
            self.now,
            self.server_addr,
            Arc::new(psk_client(b"0123456789abcdef")),
        )
        .unwrap();
        self.clients.push((addr, ep, Vec::new()));
        self.run();
        i
    }

    fn run(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for (addr, ep, events) in self.clients.iter_mut() {
                while let Some(t) = ep.poll_transmit() {
                    moved = true;
                    self.server.handle_datagram(self.now, *addr, &t.contents);
                }
                while let Some((_, e)) = ep.poll_event() {
                    events.push(e);
                }
            }
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                if let Some((_, ep, _)) = self
                    .clients
                    .iter_mut()
                    .find(|(a, _, _)| *a == t.destination)
                {
                    ep.handle_datagram(self.now, self.server_addr, &t.contents);
                }
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("did not settle");
    }

    fn send(&mut self, i: usize, data: &[u8]) {
        let sa = self.server_addr;
        self.clients[i].1.send_application_data(&sa, data).unwrap();
        self.run();
    }

    fn established(&self, i: usize) -> bool {
        self.clients[i].2.contains(&Event::HandshakeComplete)
            && !self.clients[i]
                .2
                .iter()
                .any(|e| matches!(e, Event::Closed(_)))
    }
}

fn capped(idle_timeout: Option<Duration>) -> ServerConfig {
    let mut cfg = psk_server();
    cfg.max_connections = 4;
    cfg.idle_timeout = idle_timeout;
    cfg.evict_idle_after = Duration::from_secs(30);
    cfg
}

#[test]
fn idle_connections_expire() {
    let mut net = Net::new(capped(Some(Duration::from_secs(60))));
    for _ in 0..4 {
        let i = net.connect();
        assert!(net.established(i), "{:?}", net.clients[i].2);
    }
    net.now += Duration::from_secs(61);
    net.server.handle_timeout(net.now);
    net.run();
    assert_eq!(net.server.expired_connections, 4);
    assert_eq!(net.server.connection_count(), 0);
    // Each vanished client was told (close_notify), should it still be there.
    assert!(
        net.clients
            .iter()
            .all(|(_, _, ev)| ev.contains(&Event::Closed(CloseReason::CloseNotify)))
    );
    let i = net.connect();
    assert!(net.established(i));
}

#[test]
fn active_connections_do_not_expire() {
    let mut net = Net::new(capped(Some(Duration::from_secs(60))));
    let i = net.connect();
    net.now += Duration::from_secs(50);
    net.send(i, b"ping");
    net.now += Duration::from_secs(50);
    net.server.handle_timeout(net.now);
    net.run();
    assert!(net.established(i));
    assert_eq!(net.server.expired_connections, 0);
}

#[test]
fn full_table_gives_the_least_recently_used_idle_connection_away() {
    let mut net = Net::new(capped(None));
    for _ in 0..4 {
        net.connect();
    }
    net.now += Duration::from_secs(40);
    for i in [0, 2, 3] {
        net.send(i, b"still here");
    }
    let new = net.connect();
    assert!(net.established(new), "{:?}", net.clients[new].2);
    assert_eq!(net.server.evicted_connections, 1);
    assert!(
        net.clients[1]
            .2
            .contains(&Event::Closed(CloseReason::CloseNotify)),
        "{:?}",
        net.clients[1].2
    );
    for i in [0, 2, 3] {
        assert!(net.established(i));
    }
}

#[test]
fn full_table_without_an_idle_connection_refuses_with_an_alert() {
    let mut net = Net::new(capped(None));
    for _ in 0..4 {
        net.connect();
    }
    net.now += Duration::from_secs(5);
    let new = net.connect();
    assert!(
        net.clients[new]
            .2
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::InternalError
            ))),
        "{:?}",
        net.clients[new].2
    );
    assert_eq!(
        net.server.stateless_drops.get("too_many_connections"),
        Some(&1)
    );
    for i in 0..4 {
        assert!(net.established(i));
    }
}

/// A client that never authenticates (wrong PSK) takes nobody's place: the idle connection
/// it was admitted against stays until a client that does authenticate comes.
#[test]
fn a_client_that_never_authenticates_evicts_nobody() {
    let mut net = Net::new(capped(None));
    for _ in 0..4 {
        net.connect();
    }
    net.now += Duration::from_secs(40);
    for i in [0, 2, 3] {
        net.send(i, b"still here");
    }
    // Wrong key: its Finished never authenticates.
    let addr: SocketAddr = "[2001:db8::2:99]:40000".parse().unwrap();
    let mut ep = Endpoint::new(None).unwrap();
    let mut bad = psk_client(b"not the right key");
    bad.transport.retransmit.max_retransmissions = 2;
    ep.connect(net.now, net.server_addr, Arc::new(bad)).unwrap();
    net.clients.push((addr, ep, Vec::new()));
    net.run();
    assert_eq!(net.server.evicted_connections, 0);
    assert!(net.established(1), "{:?}", net.clients[1].2);
    // Its handshake runs out of retransmissions; still nobody was evicted.
    for _ in 0..30 {
        net.now += Duration::from_secs(5);
        net.server.handle_timeout(net.now);
        for (_, ep, _) in net.clients.iter_mut() {
            ep.handle_timeout(net.now);
        }
        net.run();
    }
    assert!(
        net.clients[4]
            .2
            .iter()
            .any(|e| matches!(e, Event::Closed(_))),
        "{:?}",
        net.clients[4].2
    );
    assert_eq!(net.server.evicted_connections, 0);
    assert!(net.established(1));
    // A client that authenticates takes the idle one's place.
    for i in [0, 2, 3] {
        net.send(i, b"still here");
    }
    let new = net.connect();
    assert!(net.established(new), "{:?}", net.clients[new].2);
    assert_eq!(net.server.evicted_connections, 1);
    assert!(!net.established(1));
}

/// The idle connection a new client was admitted against comes back to life while the new
/// client is mid-handshake. The returning client keeps its session: it is not idle any more,
/// and a session in use never gives way. The new client, once authenticated, finds no idle
/// connection to take the place of and is refused with an alert (internal_error), never
/// silence; nobody is evicted.
#[test]
fn the_reserved_idle_connection_turning_active_mid_handshake_keeps_its_session() {
    let mut net = Net::new(capped(None));
    for _ in 0..4 {
        net.connect();
    }
    net.now += Duration::from_secs(40);
    for i in [0, 2, 3] {
        net.send(i, b"still here");
    }
    // The new client: hello, cookie, its hello with the cookie, the server's flight; its
    // own final flight is held back.
    let addr: SocketAddr = "[2001:db8::2:77]:40000".parse().unwrap();
    let mut ep = Endpoint::new(None).unwrap();
    ep.connect(
        net.now,
        net.server_addr,
        Arc::new(psk_client(b"0123456789abcdef")),
    )
    .unwrap();
    for _ in 0..2 {
        while let Some(t) = ep.poll_transmit() {
            net.server.handle_datagram(net.now, addr, &t.contents);
        }
        while let Some(t) = net.server.poll_transmit() {
            assert_eq!(t.destination, addr);
            ep.handle_datagram(net.now, net.server_addr, &t.contents);
        }
    }
    // Client 1, the idle one, comes back.
    net.send(1, b"back again");
    // The new client's final flight arrives.
    while let Some(t) = ep.poll_transmit() {
        net.server.handle_datagram(net.now, addr, &t.contents);
    }
    while let Some(t) = net.server.poll_transmit() {
        if t.destination == addr {
            ep.handle_datagram(net.now, net.server_addr, &t.contents);
        }
    }
    let mut events = Vec::new();
    while let Some((_, e)) = ep.poll_event() {
        events.push(e);
    }
    assert!(
        events.contains(&Event::Closed(CloseReason::PeerAlert(
            AlertDescription::InternalError
        ))),
        "{events:?}"
    );
    assert_eq!(net.server.refused_after_handshake, 1);
    assert_eq!(net.server.evicted_connections, 0);
    for i in 0..4 {
        assert!(net.established(i), "client {i}: {:?}", net.clients[i].2);
    }
    net.send(1, b"and still served");
    assert!(net.established(1));
}
