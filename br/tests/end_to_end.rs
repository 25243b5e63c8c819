//! The delegated handshake end to end through the real border router: a DTLS client with a
//! client certificate on the Internet side, the `BorderRouter` with an attached IoTSSP, and
//! motesim's delegated mote behind the emulated slip-radio and channel, over a simulated
//! clock (see `simnet`). tests/delegated.rs has the IoTSSP's refusals and failure cases.

mod simnet;

use std::time::Duration;

use dtls::record::{ContentType, records};
use simnet::{Hop, Net, Setup, coap_roundtrip};

fn delegated_net() -> (Net, usize) {
    let mut net = Net::new(Setup::default());
    let c = net.add_client("client.pem", "client.key", 40000);
    (net, c)
}

#[test]
fn delegated_handshake_completes_and_the_mote_serves_the_session() {
    let (mut net, c) = delegated_net();
    assert!(
        net.drive(Duration::from_secs(30), |n| n.client_complete(c)),
        "handshake completes: {:?}",
        net.iotssp().counters()
    );
    let flow = net.clients[c].flow;
    assert_eq!(
        net.wiring().hrm().flow_state(&flow),
        Some(hrm::FlowState::Transferred)
    );
    assert!(
        coap_roundtrip(&mut net, c, 0x1001),
        "the mote answers over the transferred session"
    );
    assert!(coap_roundtrip(&mut net, c, 0x1002));

    let ssp = net.iotssp().counters();
    assert_eq!(ssp.handshakes_completed, 1);
    assert_eq!(ssp.transfers_completed, 1);
    assert_eq!(
        ssp.app_data_records_received, 0,
        "no application data reached the IoTSSP"
    );
    assert_eq!(net.iotssp().keys_held(), 0);
    let mote = net.mote();
    assert_eq!(mote.sessions_transferred, 1);
    assert_eq!(mote.certificates_seen, 0, "the mote saw no certificate");
    assert_eq!(mote.ecc_operations, 0);
    assert_eq!(
        mote.app_data_in,
        1 + 2,
        "the TransferSession and two CoAP requests"
    );
    let w = net.wiring().counters();
    assert!(w.attached_to_mote >= 1 && w.mote_to_attached >= 1, "{w:?}");
    assert_eq!(w.transferred, 1);
    assert_eq!(net.wiring().hrm().counters().app_data_to_ssp, 0);
    // The bridge saw the two CoAP requests as TUN input; the diverted handshake and the
    // IoTSSP's own packets to the mote (which went straight to the radio side) it did not.
    assert_eq!(net.router.counters().tun_rx_packets, 2);
    assert_eq!(net.redirects, 0);
    assert!(net.lost.is_empty());
}

#[test]
fn a_lost_flight_is_retransmitted_and_the_handshake_completes() {
    let (mut net, c) = delegated_net();
    // Lose the client's first flight with its certificate (Certificate, ClientKeyExchange,
    // CertificateVerify, ChangeCipherSpec, Finished) once, on its way into the TUN.
    let mut lost_once = false;
    net.lose = Box::new(move |hop, d| {
        let carries_ccs = || {
            records(d)
                .flatten()
                .any(|r| r.content_type() == ContentType::ChangeCipherSpec)
        };
        if matches!(hop, Hop::ClientToRouter(_)) && !lost_once && carries_ccs() {
            lost_once = true;
            return true;
        }
        false
    });
    assert!(
        net.drive(Duration::from_secs(60), |n| n.client_complete(c)),
        "completes: {:?}",
        net.iotssp().counters()
    );
    assert_eq!(net.lost[&Hop::ClientToRouter(c)], 1);
    assert!(coap_roundtrip(&mut net, c, 7));
    assert_eq!(net.iotssp().counters().handshakes_completed, 1);
    assert_eq!(net.iotssp().keys_held(), 0);
    assert_eq!(net.mote().sessions_transferred, 1);
}

#[test]
fn loss_on_the_radio_is_survived() {
    // Every 4th frame lost between the border router and the radio, both ways, on top of
    // 10% loss on the channel (MAC retries cover most of that).
    let mut net = Net::new(Setup {
        air_loss: 0.1,
        seed: 7,
        ..Setup::default()
    });
    let c = net.add_client("client.pem", "client.key", 40000);
    let mut n = 0u32;
    net.lose = Box::new(move |hop, _| {
        if matches!(hop, Hop::RouterToRadio | Hop::RadioToRouter) {
            n += 1;
            return n.is_multiple_of(4);
        }
        false
    });
    assert!(
        net.drive(Duration::from_secs(180), |n| n.client_complete(c)),
        "completes: {:?} {:?}",
        net.iotssp().counters(),
        net.mote()
    );
    assert!(net.lost[&Hop::RouterToRadio] + net.lost[&Hop::RadioToRouter] >= 2);
    net.lose = Box::new(|_, _| false);
    assert!(coap_roundtrip(&mut net, c, 9));
    assert_eq!(net.iotssp().keys_held(), 0);
    assert_eq!(net.iotssp().counters().app_data_records_received, 0);
    assert!(net.mote().sessions_transferred >= 1);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = || {
        let mut net = Net::new(Setup {
            air_loss: 0.2,
            seed: 3,
            ..Setup::default()
        });
        let c = net.add_client("client.pem", "client.key", 40000);
        assert!(net.drive(Duration::from_secs(180), |n| n.client_complete(c)));
        assert!(coap_roundtrip(&mut net, c, 5));
        (
            net.elapsed(),
            net.trace,
            net.delivered.clone(),
            net.router.counters().clone(),
        )
    };
    assert_eq!(run(), run());
}
