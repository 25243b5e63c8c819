//! Arbitrary bytes from border routers and motes never panic the IoTSSP, never create a
//! delegation without a cookie, and never reach a mote.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use redirect::FlowTag;
use ssp::Output;
use ssp::config::SspConfig;

fn iotssp() -> ssp::Iotssp {
    let text = r#"
name = "ssp"
[redirect]
listen = "[::1]:0"
[[motes]]
name = "mote-1"
address = "2001:db8:1::2"
certificate_chain = "server.pem"
private_key = "server.key"
psk_identity = "mote-1"
psk = "30313233343536373839616263646566"
[trust]
anchors = "ca.pem"
"#;
    SspConfig::from_toml_str(text)
        .unwrap()
        .build(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data"))
        .unwrap()
}

fn flow(port: u16) -> FlowTag {
    FlowTag {
        peer_addr: "2001:db8::1".parse().unwrap(),
        peer_port: port,
        mote_addr: "2001:db8:1::2".parse().unwrap(),
        mote_port: 5684,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_input_is_harmless(
        diverts in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..6),
        from_mote in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4),
        // A few structured starts: DTLS handshake record headers with random bodies.
        structured in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4),
    ) {
        let mut s = iotssp();
        let t0 = Instant::now();
        for (port, d) in &diverts {
            s.handle_divert(t0, flow(*port), d);
        }
        for body in &structured {
            let mut d = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
            d.extend_from_slice(&(body.len() as u16).to_be_bytes());
            let mut b = body.clone();
            if let Some(first) = b.first_mut() { *first = 1; }
            d.extend_from_slice(&b);
            s.handle_divert(t0, flow(1), &d);
        }
        let mote: SocketAddr = "[2001:db8:1::2]:5685".parse().unwrap();
        for d in &from_mote {
            s.handle_mote_datagram(t0, mote, d);
        }
        s.handle_timeout(t0 + Duration::from_secs(3600));
        prop_assert_eq!(s.counters().handshakes_started, 0);
        prop_assert_eq!(s.delegation_count(), 0);
        prop_assert_eq!(s.keys_held(), 0);
        while let Some(o) = s.poll_output() {
            let to_mote = matches!(o, Output::ToMote { .. });
            prop_assert!(!to_mote, "nothing reaches the mote");
        }
    }
}
