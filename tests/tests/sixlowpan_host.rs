//! motesim's motes as 6LoWPAN hosts (RFC 6775) behind the real lowpan-br: they learn the
//! prefix from the Router Advertisement, register their address with an NS carrying an ARO
//! and use it only once lowpan-br's NA accepts it; lowpan-br knows them from nothing else
//! (no `[[mote]]` in its configuration). From the internet namespace they answer ping (56
//! and 1232 bytes) and UDP.

use integration_tests::testbed::{Options, Testbed, mote_addr};
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn registered_6lowpan_hosts_answer_ping_and_udp_from_the_internet() {
    let opts = Options { sixlowpan_hosts: Some(2), ..Options::default() };
    let Some(mut bed) = Testbed::start("sixlowpan_host", opts) else { return };
    // The motes solicit, register and wait for the NA before their address answers.
    let registered = (0..40).any(|_| bed.ping(mote_addr(1), 1, 56) == 1);
    assert!(registered, "mote 1 never answered: not registered?");
    assert!((0..20).any(|_| bed.ping(mote_addr(2), 1, 56) == 1), "mote 2 never answered");
    let got = bed.ping(mote_addr(1), 3, 56);
    assert!(got >= 2, "only {got}/3 replies to 56-byte pings");
    let got = bed.ping(mote_addr(2), 3, 1232);
    assert!(got >= 2, "only {got}/3 replies to 1232-byte pings");
    let dst = SocketAddr::new(mote_addr(1).into(), 7);
    for size in [10usize, 1000] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 3) as u8).collect();
        let answer = (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
        assert_eq!(answer.as_deref(), Some(&payload[..]), "UDP echo of {size} bytes");
    }
    let log = bed.border_router.stop().join("\n");
    let counter = |name: &str| -> u64 {
        log.rsplit_once(&format!(" {name}="))
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(counter("address_registrations") >= 2, "lowpan-br accepted the registrations:\n{log}");
    assert_eq!(counter("registrations_refused"), 0, "{log}");
}
