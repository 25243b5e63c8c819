//! SLIP decoder on arbitrary serial bytes, fed in two chunks: every delivered frame is
//! non-empty and within the bound, and re-encoding a frame decodes back to it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use slip::codec::{SlipDecoder, encode_frame_with_leading_end};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(rest.len());
    let mut dec = SlipDecoder::new(130);
    let mut frames = Vec::new();
    dec.push(&rest[..cut], &mut |f| frames.push(f.to_vec()));
    dec.push(&rest[cut..], &mut |f| frames.push(f.to_vec()));
    for f in frames {
        assert!(!f.is_empty() && f.len() <= 130);
        let mut wire = Vec::new();
        encode_frame_with_leading_end(&f, &mut wire);
        let mut again = Vec::new();
        SlipDecoder::new(130).push(&wire, &mut |g| again.push(g.to_vec()));
        assert_eq!(again, vec![f]);
    }
});
