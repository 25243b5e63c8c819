//! A sequence of 6LoWPAN payloads (each prefixed by a length byte and a flags byte choosing
//! the link source and a time step), page-1 ones with RFC 8138 6LoRHs among them: the
//! reassembler never panics and stays within its caps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lowpan::{Address, ContextTable, LinkAddrs, Reassembler, ReassemblyLimits};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let limits = ReassemblyLimits {
        per_source_bytes: 3000,
        global_bytes: 6000,
        ..Default::default()
    };
    let mut r = Reassembler::with_limits(
        ContextTable::with_prefix("2001:db8::".parse().unwrap(), 64),
        limits,
    );
    // The root an IP-in-IP 6LoRH elides, so that page-1 payloads are expanded whole.
    r.set_rpl_root(Some("2001:db8::1".parse().unwrap()));
    let mut now = Instant::now();
    let mut rest = data;
    while let [len, flags, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        rest = next;
        let links = LinkAddrs {
            src: Address::Short(u16::from(flags & 3)),
            dst: Address::Short(0),
        };
        now += Duration::from_secs(u64::from(flags >> 4) * 5);
        let _ = r.accept(now, links, payload);
        r.expire(now);
        assert!(r.memory_used() <= limits.global_bytes);
        assert!(r.memory_used_by(&links.src) <= limits.per_source_bytes);
    }
});
