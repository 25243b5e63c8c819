//! motesim's RPL motes behind the real border router as an RPL root, on the simulated
//! clock (see `simnet`): mote 1, a delegated mote, one and three hops away (behind motesim
//! RPL routers, each link heard only by its two ends) joins from the DIOs, is reached by
//! source route, and completes the delegated DTLS handshake and CoAP over the session.

mod simnet;

use std::time::Duration;

use simnet::{Net, Setup, coap_roundtrip};

fn handshake_over(hops: usize) {
    let mut net = Net::new(Setup {
        rpl_hops: hops,
        ..Setup::default()
    });
    // Let the chain join (DIOs from Imin = 1 s) and announce itself before the client starts.
    let joined = net.drive(Duration::from_secs(60), |n| {
        n.router.bridge().rpl().is_some_and(|r| {
            r.path(&simnet::addr(simnet::MOTE))
                .is_some_and(|p| p.len() == hops)
        })
    });
    assert!(joined, "mote 1 has a {hops}-hop source route at the root");
    let c = net.add_client("client.pem", "client.key", 40000);
    assert!(
        net.drive(Duration::from_secs(60), |n| n.client_complete(c)),
        "handshake over {hops} hops completes: {:?}",
        net.iotssp().counters()
    );
    assert!(
        coap_roundtrip(&mut net, c, 0x2001),
        "the mote answers over the transferred session"
    );
    let mote = net.mote();
    assert_eq!(mote.sessions_transferred, 1);
    let root = net.router.bridge().rpl().unwrap();
    assert!(root.counters().dao_received >= hops as u64);
    if hops > 1 {
        assert!(root.counters().source_routed > 0, "{:?}", root.counters());
    }
    assert_eq!(net.router.counters().dropped("unknown_mote"), 0);
}

#[test]
fn delegated_handshake_with_an_rpl_mote_one_hop_away() {
    handshake_over(1);
}

#[test]
fn delegated_handshake_with_an_rpl_mote_three_hops_away() {
    handshake_over(3);
}
