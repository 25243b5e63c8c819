//! motesim's motes as 6LoWPAN hosts (RFC 6775) behind the real lowpan-br: they learn the
//! prefix from the Router Advertisement, register their address with an NS carrying an ARO
//! and use it only once lowpan-br's NA accepts it; lowpan-br knows them from nothing else
//! (no `[[mote]]` in its configuration). From the internet namespace they answer ping (56
//! and 1232 bytes) and UDP. A host out of lowpan-br's range registers through a motesim
//! 6LoWPAN router (RFC 6775 6LR), which relays the registration to lowpan-br as a Duplicate
//! Address Request and the Confirmation back as the host's NA; the host is then reachable
//! through it.

use integration_tests::testbed::{Options, Testbed, mote_addr};
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn registered_6lowpan_hosts_answer_ping_and_udp_from_the_internet() {
    let opts = Options {
        sixlowpan_hosts: Some(2),
        ..Options::default()
    };
    let Some(mut bed) = Testbed::start("sixlowpan_host", opts) else {
        return;
    };
    // The motes solicit, register and wait for the NA before their address answers.
    let registered = (0..40).any(|_| bed.ping(mote_addr(1), 1, 56) == 1);
    assert!(registered, "mote 1 never answered: not registered?");
    assert!(
        (0..20).any(|_| bed.ping(mote_addr(2), 1, 56) == 1),
        "mote 2 never answered"
    );
    let got = bed.ping(mote_addr(1), 3, 56);
    assert!(got >= 2, "only {got}/3 replies to 56-byte pings");
    let got = bed.ping(mote_addr(2), 3, 1232);
    assert!(got >= 2, "only {got}/3 replies to 1232-byte pings");
    let dst = SocketAddr::new(mote_addr(1).into(), 7);
    for size in [10usize, 1000] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 3) as u8).collect();
        let answer =
            (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
        assert_eq!(
            answer.as_deref(),
            Some(&payload[..]),
            "UDP echo of {size} bytes"
        );
    }
    let log = bed.border_router.stop().join("\n");
    let counter = |name: &str| -> u64 {
        log.rsplit_once(&format!(" {name}="))
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        counter("address_registrations") >= 2,
        "lowpan-br accepted the registrations:\n{log}"
    );
    assert_eq!(counter("registrations_refused"), 0, "{log}");
}

/// DAR/DAC with the real binaries: mote 1 is a 6LoWPAN router (`--sixlowpan-router 1`) and
/// mote 2 a host heard only by mote 1 (`--link 0-1,1-2`). Mote 2 gets its RA from mote 1,
/// registers with it, mote 1 relays the registration to lowpan-br as a DAR and passes its
/// DAC back as the NA; lowpan-br routes mote 2's address through mote 1, and mote 2
/// answers ping (56 and 1232 bytes) and UDP from the internet namespace.
#[test]
fn a_host_registered_through_a_6lowpan_router_is_reachable() {
    let opts = Options {
        sixlowpan_hosts: Some(2),
        pcap: true,
        motesim_args: vec![
            "--link".into(),
            "0-1,1-2".into(),
            "--sixlowpan-router".into(),
            "1".into(),
        ],
        ..Options::default()
    };
    let Some(mut bed) = Testbed::start("sixlowpan_6lr", opts) else {
        return;
    };
    assert!(
        (0..40).any(|_| bed.ping(mote_addr(1), 1, 56) == 1),
        "the 6LoWPAN router never answered"
    );
    // The host solicits again after 4 s and 8 s, when the router has its own address.
    assert!(
        (0..40).any(|_| bed.ping(mote_addr(2), 1, 56) == 1),
        "the host behind the router never answered"
    );
    for size in [56usize, 1232] {
        let got = bed.ping(mote_addr(2), 3, size);
        assert!(
            got >= 2,
            "only {got}/3 replies from the host to {size}-byte pings"
        );
    }
    let dst = SocketAddr::new(mote_addr(2).into(), 7);
    for size in [10usize, 600] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 5) as u8).collect();
        let answer =
            (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
        assert_eq!(
            answer.as_deref(),
            Some(&payload[..]),
            "UDP echo of {size} bytes from the host"
        );
    }
    let log = bed.border_router.stop().join("\n");
    let counter = |name: &str| -> u64 {
        log.rsplit_once(&format!(" {name}="))
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        counter("duplicate_address_requests") >= 1,
        "lowpan-br got the relayed registration:\n{log}"
    );
    assert_eq!(counter("registrations_refused"), 0, "{log}");
    // The capture: DARs from mote 1, DACs from lowpan-br, nothing malformed.
    let pcap = bed.pcap_path();
    let count = |filter: &str| {
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args([
                "-o",
                &format!("6lowpan.context0:{}", integration_tests::testbed::PREFIX),
            ])
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("run tshark (apt-get install tshark)");
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(
        count("_ws.malformed || _ws.expert.severity >= 8388608"),
        0,
        "malformed or erroneous frames"
    );
    assert!(
        count(&format!(
            "icmpv6.type == 157 && icmpv6.6lowpannd.da.reg_addr == {}",
            mote_addr(2)
        )) >= 1,
        "the DAR for the host"
    );
    assert!(
        count(&format!(
            "icmpv6.type == 158 && icmpv6.6lowpannd.da.reg_addr == {}",
            mote_addr(2)
        )) >= 1,
        "the DAC for the host"
    );
}
