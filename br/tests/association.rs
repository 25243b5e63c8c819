//! The delegated handshake with the mote's standing association (docs/mote-association.md)
//! as the mote leg, end to end with the real parts (dtls client, `BorderRouter`, attached
//! `Iotssp`, motesim's delegated mote behind the emulated radio), in virtual time.

mod simnet;

use std::time::Duration;

use hrm::FlowState;
use redirect::FlowTag;
use simnet::{Leg, Net, Setup, coap_roundtrip};

fn assoc_net(rule: &str) -> Net {
    Net::new(Setup {
        leg: Leg::Association,
        rule_client: rule.into(),
        ..Setup::default()
    })
}

fn transferred(net: &Net, flow: &FlowTag) -> bool {
    net.wiring().hrm().flow_state(flow) == Some(FlowState::Transferred)
}

/// The mote associates once at boot (hello, accept, ready); each delegation then costs it one
/// datagram in (the Transfer) and one out (the Confirm), each a single 802.15.4 frame, and no
/// ECC; the session is the client's, served by the mote's record layer.
#[test]
fn association_leg_costs_the_mote_one_transfer_in_and_one_confirm_out() {
    let mut net = assoc_net("cn:client.example");
    assert!(
        net.drive(Duration::from_secs(30), |n| n.mote().associations == 1),
        "the mote associates at boot"
    );
    let boot = net.mote();
    assert_eq!(
        (
            boot.transfer_port_datagrams_out,
            boot.transfer_port_datagrams_in
        ),
        (2, 1),
        "hello and ready out, accept in"
    );
    assert_eq!(boot.assoc_ecc_operations, 2, "one key pair and one ECDH");
    for (i, port) in [40000u16, 40001].into_iter().enumerate() {
        let c = net.add_client("client.pem", "client.key", port);
        let flow = net.clients[c].flow;
        let before = net.mote();
        assert!(
            net.drive(Duration::from_secs(30), |n| n.client_complete(c)
                && transferred(n, &flow)),
            "delegation {i}"
        );
        let after = net.mote();
        assert_eq!(
            after.transfer_port_datagrams_in - before.transfer_port_datagrams_in,
            1,
            "one Transfer in"
        );
        assert_eq!(
            after.transfer_port_datagrams_out - before.transfer_port_datagrams_out,
            1,
            "one Confirm out"
        );
        assert_eq!(after.sessions_transferred, before.sessions_transferred + 1);
        net.drive(Duration::from_secs(10), |_| false);
        assert!(
            coap_roundtrip(&mut net, c, 1),
            "answer from the mote's record layer"
        );
    }
    let m = net.mote();
    assert_eq!(
        (
            m.associations,
            m.assoc_ecc_operations,
            m.ecc_operations,
            m.certificates_seen
        ),
        (1, 2, 0, 0)
    );
    assert_eq!(m.dtls_handshakes, 0, "no PSK handshake with the IoTSSP");
    let c = net.iotssp().counters();
    assert_eq!(
        (
            c.transfers_completed,
            c.mote_handshakes_started,
            c.mote_associations
        ),
        (2, 0, 1)
    );
    assert_eq!(net.iotssp().keys_held(), 0);
}

/// Nothing reaches the mote for a client the policy refuses: the IoTSSP decides after the
/// client's Finished (so after its CertificateVerify), and only then contacts the mote.
#[test]
fn refused_client_costs_the_mote_nothing() {
    let mut net = assoc_net("cn:someone-else.example");
    assert!(net.drive(Duration::from_secs(30), |n| n.mote().associations == 1));
    let before = net.mote();
    let c = net.add_client("client.pem", "client.key", 40000);
    assert!(
        net.drive(Duration::from_secs(30), |n| n.clients[c]
            .closed_with()
            .is_some()),
        "the client gets an alert"
    );
    let after = net.mote();
    assert_eq!(
        after.transfer_port_datagrams_in, before.transfer_port_datagrams_in,
        "no datagram reached the mote"
    );
    assert_eq!(after.sessions_transferred, 0);
    assert_eq!(
        net.iotssp()
            .counters()
            .handshakes_failed
            .get("access_denied"),
        Some(&1)
    );
}

/// Cookie'd hellos of handshakes that never finish hold nothing of the mote's: with the
/// association leg no cap per mote applies before authentication, so a legitimate client
/// completes while four stalled handshakes are under way.
#[test]
fn stalled_cookied_handshakes_do_not_block_a_legitimate_delegation() {
    let mut net = assoc_net("cn:client.example");
    assert!(net.drive(Duration::from_secs(30), |n| n.mote().associations == 1));
    // Their cookie exchanges happen, and nothing after: everything but their ClientHellos
    // (a handshake record of epoch 0 whose message is type 1) is lost, so they never send
    // their flight.
    let stalled: Vec<usize> = (0..4)
        .map(|i| net.add_client("client.pem", "client.key", 41000 + i))
        .collect();
    let muted = stalled.clone();
    let client_hello =
        |d: &[u8]| d.first() == Some(&22) && d.get(3..5) == Some(&[0, 0]) && d.get(13) == Some(&1);
    net.lose = Box::new(move |hop, d| {
        matches!(hop, simnet::Hop::ClientToRouter(i) if muted.contains(&i)) && !client_hello(d)
    });
    net.drive(Duration::from_millis(300), |_| false);
    let before = net.mote();
    let c = net.add_client("client.pem", "client.key", 40000);
    let flow = net.clients[c].flow;
    assert!(
        net.drive(Duration::from_secs(30), |n| n.client_complete(c)
            && transferred(n, &flow)),
        "the legitimate client completes"
    );
    assert_eq!(
        net.mote().transfer_port_datagrams_in - before.transfer_port_datagrams_in,
        1
    );
    assert!(net.iotssp().counters().handshakes_started >= 5);
}

/// The IoTSSP offers a client only the suites the mote reported in its AssocReady: a mote
/// whose record layer has AES-GCM only gets a GCM session, though the IoTSSP's own
/// preference (CCM-8 first) and the client's offer would have chosen CCM-8.
#[test]
fn the_iotssp_offers_only_the_suites_the_mote_reported() {
    let mut net = Net::new(Setup {
        leg: Leg::Association,
        rule_client: "cn:client.example".into(),
        mote_suites: vec![dtls::CipherSuite::EcdheEcdsaAes128Gcm],
        ..Setup::default()
    });
    assert!(net.drive(Duration::from_secs(30), |n| n.mote().associations == 1));
    let c = net.add_client("client.pem", "client.key", 40000);
    let flow = net.clients[c].flow;
    assert!(
        net.drive(Duration::from_secs(30), |n| n.client_complete(c)
            && transferred(n, &flow)),
        "the client completes"
    );
    assert_eq!(
        net.clients[c].conn.cipher_suite(),
        Some(dtls::CipherSuite::EcdheEcdsaAes128Gcm)
    );
    assert_eq!(net.mote().sessions_transferred, 1);
    net.drive(Duration::from_secs(10), |_| false);
    assert!(
        coap_roundtrip(&mut net, c, 1),
        "answer from the mote's GCM record layer"
    );
    assert_eq!(
        net.iotssp()
            .counters()
            .handshakes_failed
            .get("mote_refused"),
        None
    );
}
