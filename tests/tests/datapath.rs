//! The data path as a user runs it: an "internet" host in one network namespace reaches
//! emulated motes behind `lowpan-br` (real TUN, real kernel forwarding, slip-radio over TCP to
//! `motesim`). Every test builds its own namespaces and removes them when done.

use integration_tests::testbed::{Link, Options, Testbed, mote_addr};
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn ping_a_mote() {
    let Some(bed) = Testbed::start("ping_a_mote", Options::default()) else {
        return;
    };
    let got = bed.ping(mote_addr(1), 3, 56);
    assert!(got >= 2, "only {got}/3 echo replies from mote 1");
    let got = bed.ping(mote_addr(2), 3, 56);
    assert!(got >= 2, "only {got}/3 echo replies from mote 2");
}

#[test]
fn ping_with_1232_byte_payload_is_fragmented_both_ways() {
    let Some(bed) = Testbed::start(
        "ping_1232",
        Options {
            pcap: true,
            ..Options::default()
        },
    ) else {
        return;
    };
    let got = bed.ping(mote_addr(1), 3, 1232);
    assert!(got >= 2, "only {got}/3 replies to 1280-byte pings");
}

#[test]
fn udp_echo_on_port_7() {
    let Some(bed) = Testbed::start("udp_echo", Options::default()) else {
        return;
    };
    let dst = SocketAddr::new(mote_addr(1).into(), 7);
    for size in [1usize, 80, 300, 1000] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
        let answer =
            (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
        assert_eq!(
            answer.as_deref(),
            Some(&payload[..]),
            "UDP echo of {size} bytes"
        );
    }
}

#[test]
fn coap_get_of_a_sensor_and_well_known_core() {
    use coap_lite::{CoapRequest, Packet, RequestType};
    let Some(bed) = Testbed::start("coap_get", Options::default()) else {
        return;
    };
    let dst = SocketAddr::new(mote_addr(2).into(), 5683);
    let get = |path: &str, mid: u16| {
        let mut req: CoapRequest<SocketAddr> = CoapRequest::new();
        req.set_method(RequestType::Get);
        req.set_path(path);
        req.message.header.message_id = mid;
        req.message.set_token(vec![0xbe, 0xef, mid as u8]);
        let bytes = req.message.to_bytes().expect("encode CoAP");
        let answer =
            (0..3).find_map(|_| bed.udp_request(dst, bytes.clone(), Duration::from_secs(3)))?;
        Packet::from_bytes(&answer).ok()
    };
    let core = get(".well-known/core", 0x1001).expect("answer to /.well-known/core");
    assert_eq!(core.header.code.to_string(), "2.05");
    assert_eq!(core.get_token(), &[0xbe, 0xef, 0x01]);
    let links = String::from_utf8_lossy(&core.payload).to_string();
    assert!(
        links.contains("</sensors/temp>"),
        "link format lists the sensor: {links}"
    );
    let temp = get("sensors/temp", 0x1002).expect("answer to /sensors/temp");
    assert_eq!(temp.header.code.to_string(), "2.05");
    assert!(!temp.payload.is_empty());
    let missing = get("no/such/thing", 0x1003).expect("answer to unknown path");
    assert_eq!(missing.header.code.to_string(), "4.04");
}

#[test]
fn twenty_percent_radio_loss_still_delivers() {
    let opts = Options {
        loss: 0.2,
        seed: 7,
        ..Options::default()
    };
    let Some(bed) = Testbed::start("radio_loss", opts) else {
        return;
    };
    // Link-layer ACKs and retries (up to 4 transmissions) hide most single-frame losses.
    let got = bed.ping(mote_addr(1), 20, 56);
    assert!(got >= 14, "only {got}/20 echo replies at 20% frame loss");
    let got = bed.ping(mote_addr(1), 5, 600);
    assert!(
        got >= 2,
        "only {got}/5 fragmented echo replies at 20% frame loss"
    );
}

#[test]
fn restarting_motesim_is_survived() {
    let Some(mut bed) = Testbed::start("motesim_restart", Options::default()) else {
        return;
    };
    assert!(
        bed.ping(mote_addr(1), 2, 56) >= 1,
        "mote answers before the restart"
    );
    bed.restart_motesim();
    // The border router reconnects with backoff; give it a few seconds.
    let got = integration_tests::eventually(Duration::from_secs(20), || {
        (bed.ping(mote_addr(1), 1, 56) == 1).then_some(())
    });
    assert!(
        got.is_some(),
        "no echo reply within 20 s after motesim restarted"
    );
    assert!(
        bed.border_router.is_running(),
        "lowpan-br died when its radio went away"
    );
}

/// The same data path with the radio on a serial device (a pty, as a USB radio would be).
#[test]
fn serial_pty_radio_carries_ping_and_udp() {
    let opts = Options {
        link: Link::Pty,
        ..Options::default()
    };
    let Some(bed) = Testbed::start("pty_radio", opts) else {
        return;
    };
    assert!(
        bed.ping(mote_addr(1), 3, 56) >= 2,
        "ping over the pty radio"
    );
    assert!(
        bed.ping(mote_addr(2), 2, 1232) >= 1,
        "fragmented ping over the pty radio"
    );
    let dst = SocketAddr::new(mote_addr(2).into(), 7);
    let payload = b"over a serial line".to_vec();
    let answer = (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
    assert_eq!(answer, Some(payload));
}

/// The same data path over ZEP/UDP, where lowpan-br itself acts as the radio (FCS, ACKs,
/// retries, de-duplication).
#[test]
fn zep_radio_carries_ping_and_udp() {
    let opts = Options {
        link: Link::Zep,
        ..Options::default()
    };
    let Some(bed) = Testbed::start("zep_radio", opts) else {
        return;
    };
    assert!(bed.ping(mote_addr(1), 3, 56) >= 2, "ping over ZEP");
    assert!(
        bed.ping(mote_addr(1), 2, 1232) >= 1,
        "fragmented ping over ZEP"
    );
    let dst = SocketAddr::new(mote_addr(1).into(), 7);
    let payload = b"over ZEP".to_vec();
    let answer = (0..3).find_map(|_| bed.udp_request(dst, payload.clone(), Duration::from_secs(3)));
    assert_eq!(answer, Some(payload));
}
