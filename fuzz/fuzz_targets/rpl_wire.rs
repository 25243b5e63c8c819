//! RPL wire formats on any bytes: control messages, the RPL option, source routing headers
//! and RFC 8138 6LoRHs never panic, and whatever parses re-emits to something that parses
//! the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lowpan::rpl::{control::RplControl, lorh, option::RplOptionRepr, srh::SrhRepr};
use std::net::Ipv6Addr;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 4 {
        0 => {
            if let Ok(m) = RplControl::parse(sel >> 2, rest) {
                assert_eq!(RplControl::parse(m.code(), &m.body()).as_ref(), Ok(&m));
            }
        }
        1 => {
            let _ = RplOptionRepr::find_in(rest);
            let _ = lowpan::rpl::option::only_rpl_options(rest);
        }
        2 => {
            let dst = Ipv6Addr::new(0xfd00, 0, 0, 0, 0x212, 0x4b00, 0, u16::from(sel));
            if let Ok(mut s) = SrhRepr::parse(rest, &dst) {
                assert_eq!(
                    SrhRepr::parse(&s.emit(&dst).expect("parsed headers re-emit"), &dst).as_ref(),
                    Ok(&s)
                );
                let mut cur = dst;
                while s.advance(&mut cur).is_some() {}
            }
        }
        _ => {
            if let Ok((headers, _)) = lorh::parse_headers(rest) {
                let reference = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
                let _ = lorh::expand_route(reference, &headers);
                let mut out = Vec::new();
                headers.iter().for_each(|h| h.emit(&mut out));
                assert_eq!(
                    lorh::parse_headers(&out).map(|(h, _)| h.len()),
                    Ok(headers.len())
                );
            }
            // Any bytes as an IPv6 packet: what has 6LoRH forms gives an inner packet no longer
            // than the whole.
            if let Some((_, inner)) =
                lorh::compress_packet(rest, Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1))
            {
                assert!(inner.len() <= rest.len());
            }
        }
    }
});
