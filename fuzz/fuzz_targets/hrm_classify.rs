//! The HRM on arbitrary input: the data is split into steps; each step is either a whole
//! IPv6 packet, a UDP payload to the delegated mote's DTLS port, or an IoTSSP instruction
//! (transferred / abandoned) so the flow table goes through all its states. Must never
//! panic, and application data must never be diverted.
#![no_main]

use hrm::{DeviceConfig, DevicePolicy, Hrm, HrmConfig, SspConfig, SspName};
use libfuzzer_sys::fuzz_target;
use redirect::{AbandonReason, FlowTag, RedirectMessage};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let mote = "2001:db8:1::2".parse().unwrap();
    let config = HrmConfig {
        max_flows: 4,
        ssps: vec![SspConfig {
            name: "ssp".into(),
            addresses: vec!["2001:db8:5::1".parse().unwrap()],
        }],
        devices: vec![DeviceConfig {
            mote,
            policy: DevicePolicy::Delegate { ssp: "ssp".into() },
            dtls_port: None,
        }],
        ..HrmConfig::default()
    };
    let mut hrm = Hrm::new(&config, dtls::provider::SeededRandom::shared([0x5e; 32])).unwrap();
    let ssp = SspName::new("ssp");
    let flow = FlowTag {
        peer_addr: "2001:db8::9".parse().unwrap(),
        peer_port: 40000,
        mote_addr: mote,
        mote_port: 5684,
    };
    let start = Instant::now();
    // Steps: [selector, len, bytes...]
    let mut rest = data;
    let mut step = 0u64;
    while let [selector, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        step += 1;
        let now = start + Duration::from_secs(step);
        match selector % 5 {
            0 => {
                if let Ok(p) = lowpan::CheckedIpv6Packet::parse(chunk) {
                    drop(hrm.handle_inbound(now, &p));
                }
            }
            1 => {
                let pkt = hrm::build_udp_packet(
                    (flow.peer_addr, flow.peer_port),
                    (mote, 5684),
                    64,
                    chunk,
                )
                .unwrap();
                let pkt = lowpan::CheckedIpv6Packet::parse(&pkt[..]).unwrap();
                drop(hrm.handle_inbound(now, &pkt));
            }
            2 => drop(hrm.handle_ssp_message(
                now,
                &ssp,
                &RedirectMessage::FlowTransferred {
                    flow,
                    final_flight: chunk,
                },
            )),
            3 => drop(hrm.handle_ssp_message(
                now,
                &ssp,
                &RedirectMessage::FlowAbandoned {
                    flow,
                    reason: AbandonReason::Timeout,
                },
            )),
            _ => hrm.handle_timeout(now + Duration::from_secs(u64::from(*len))),
        }
    }
    assert_eq!(hrm.counters().app_data_to_ssp, 0);
});
