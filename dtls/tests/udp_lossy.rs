//! Real sockets: our client and server, each on a `UdpDriver`, through a lossy UDP relay on
//! 127.0.0.1. Handshakes must complete although the relay drops the first copy of every
//! flight, or a seeded share of all datagrams.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use dtls::tokio_driver::UdpDriver;
use dtls::{ClientConfig, Endpoint, Event, ServerConfig, TransportConfig};
use tokio::net::UdpSocket;

/// How the relay loses datagrams.
#[derive(Clone, Copy)]
enum Loss {
    /// The first copy of each flight in each direction (a flight is known by its first
    /// record's type and epoch and, for plaintext handshake records, message type, seq and
    /// fragment offset).
    FirstCopyOfEachFlight,
    /// Each datagram with probability 1/k, from a seeded xorshift generator.
    OneIn { k: u64, seed: u64 },
}

fn flight_key(d: &[u8]) -> Vec<u8> {
    if d.len() < 13 {
        return d.to_vec();
    }
    let mut k = vec![d[0], d[3], d[4]];
    if d[0] == 22 && d[4] == 0 && d.len() >= 25 {
        k.extend_from_slice(&d[13..14]);
        k.extend_from_slice(&d[17..22]);
    }
    k
}

/// Relays between the first non-server sender and `server`; returns the relay's address
/// and a count of dropped datagrams.
async fn spawn_relay(
    server: SocketAddr,
    loss: Loss,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicU64>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = dropped.clone();
    tokio::spawn(async move {
        let mut client: Option<SocketAddr> = None;
        let mut seen: HashSet<(bool, Vec<u8>)> = HashSet::new();
        let mut rng = match loss {
            Loss::OneIn { seed, .. } => seed | 1,
            Loss::FirstCopyOfEachFlight => 1,
        };
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let d = &buf[..n];
            let from_server = from == server;
            if !from_server {
                client = Some(from);
            }
            let deliver = match loss {
                Loss::FirstCopyOfEachFlight => {
                    let handshake = d.first().is_some_and(|&t| t == 20 || t == 22);
                    !handshake || !seen.insert((from_server, flight_key(d)))
                }
                Loss::OneIn { k, .. } => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng % k != 0
                }
            };
            if !deliver {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let to = if from_server { client } else { Some(server) };
            if let Some(to) = to {
                let _ = sock.send_to(d, to).await;
            }
        }
    });
    (addr, dropped)
}

fn fast(mut t: TransportConfig) -> TransportConfig {
    t.retransmit.initial = Duration::from_millis(50);
    t.retransmit.max = Duration::from_millis(800);
    t.retransmit.max_retransmissions = 10;
    t.mtu = 300;
    t
}

/// One handshake through the relay and an echo; panics (failing the test) on error.
async fn handshake_through_relay(
    mut server: ServerConfig,
    mut client: ClientConfig,
    loss: Loss,
) -> u64 {
    server.transport = fast(server.transport);
    client.transport = fast(client.transport);
    let server_sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server_sock.local_addr().unwrap();
    let mut server = UdpDriver::new(server_sock, Endpoint::new(Some(Arc::new(server))).unwrap());
    let (relay, dropped) = spawn_relay(server_addr, loss).await;

    // The server echoes application data.
    let server_task = tokio::spawn(async move {
        loop {
            let (from, ev) = server.next_event().await.unwrap();
            if let Event::ApplicationData(d) = ev {
                server
                    .endpoint_mut()
                    .send_application_data(&from, &d)
                    .unwrap();
                server.flush().await.unwrap();
            }
        }
    });

    let mut client_drv = UdpDriver::new(
        UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        Endpoint::new(None).unwrap(),
    );
    client_drv.connect(relay, Arc::new(client)).unwrap();
    let run = async {
        let mut echoed = false;
        // Application data may be lost too: resend until the echo comes.
        while !echoed {
            let (_, ev) = tokio::time::timeout(Duration::from_millis(500), client_drv.next_event())
                .await
                .unwrap_or(Ok((relay, Event::HandshakeComplete)))
                .unwrap();
            match ev {
                Event::HandshakeComplete
                    if client_drv
                        .endpoint()
                        .connection(&relay)
                        .is_some_and(|c| c.is_established()) =>
                {
                    client_drv
                        .endpoint_mut()
                        .send_application_data(&relay, b"ping")
                        .unwrap();
                }
                Event::ApplicationData(d) => {
                    assert_eq!(d, b"ping");
                    echoed = true;
                }
                Event::Closed(r) => panic!("client closed: {r:?}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("handshake and echo within 30 s");
    server_task.abort();
    dropped.load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test]
async fn ecdhe_mutual_first_copy_of_each_flight_lost() {
    let dropped = handshake_through_relay(
        ecdhe_server(),
        ecdhe_client("client2-chain.pem", "client2.key"),
        Loss::FirstCopyOfEachFlight,
    )
    .await;
    assert!(dropped >= 6, "dropped {dropped}");
}

#[tokio::test]
async fn psk_first_copy_of_each_flight_lost() {
    let dropped = handshake_through_relay(
        psk_server(),
        psk_client(b"0123456789abcdef"),
        Loss::FirstCopyOfEachFlight,
    )
    .await;
    assert!(dropped >= 4, "dropped {dropped}");
}

#[tokio::test]
async fn seeded_random_loss() {
    for seed in [1u64, 7, 42] {
        handshake_through_relay(
            ecdhe_server(),
            ecdhe_client("client.pem", "client.key"),
            Loss::OneIn { k: 4, seed },
        )
        .await;
        handshake_through_relay(
            psk_server(),
            psk_client(b"0123456789abcdef"),
            Loss::OneIn { k: 4, seed },
        )
        .await;
    }
}
