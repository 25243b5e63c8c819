//! Every record of an arbitrary datagram: header accessors, alert parsing, and the replay
//! window fed the sequence numbers. Must never panic.
#![no_main]

use dtls::codec::Codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut window = dtls::record::ReplayWindow::new();
    for rec in dtls::record::records(data).flatten() {
        let _ = (rec.content_type(), rec.version(), rec.epoch(), rec.length());
        let seq = rec.sequence_number();
        if window.check(seq).is_ok() {
            window.mark(seq);
        }
        let _ = dtls::alert::Alert::read_bytes(rec.fragment());
    }
});
