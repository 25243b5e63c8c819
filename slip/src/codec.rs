//! RFC 1055 SLIP framing: a streaming decoder that survives line noise and an encoder.
//!
//! The serial line between the host and a slip-radio carries no checksum and no length,
//! so the decoder must assume any byte can be garbage: it never grows beyond its
//! configured bound, drops frames that are too long or contain an invalid escape (both
//! counted), ignores empty frames (back-to-back END bytes are normal), and always
//! resynchronises on the next END.

/// Frame delimiter.
pub const END: u8 = 0xC0;
/// Escape introducer.
pub const ESC: u8 = 0xDB;
/// `ESC ESC_END` stands for a data byte 0xC0.
pub const ESC_END: u8 = 0xDC;
/// `ESC ESC_ESC` stands for a data byte 0xDB.
pub const ESC_ESC: u8 = 0xDD;

/// What the decoder dropped and why, for counters and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecoderCounters {
    /// Frames handed to the caller.
    pub frames: u64,
    /// Empty frames (END END): normal between frames, counted only for visibility.
    pub empty_frames: u64,
    /// Frames dropped because they grew past `max_frame_len`.
    pub oversize_frames: u64,
    /// Frames dropped because an ESC was followed by something other than ESC_END/ESC_ESC.
    pub bad_escapes: u64,
    /// Bytes that belonged to dropped frames (oversize or bad escape).
    pub discarded_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Collecting data bytes.
    Data,
    /// The previous byte was ESC.
    Escaped,
    /// The current frame is being dropped; wait for END.
    Discarding,
}

/// Streaming SLIP decoder with a bounded frame buffer.
///
/// Feed it whatever the transport returned; complete frames are handed to the callback
/// as borrowed slices (valid only during the call).
#[derive(Debug, Clone)]
pub struct SlipDecoder {
    buf: Vec<u8>,
    max_frame_len: usize,
    state: State,
    /// Bytes consumed by the frame currently being collected or discarded (escapes
    /// count as two), so a dropped frame's size can be counted.
    raw_len: u64,
    counters: DecoderCounters,
}

impl SlipDecoder {
    /// A decoder that delivers frames of at most `max_frame_len` decoded bytes
    /// (at least 1).
    pub fn new(max_frame_len: usize) -> Self {
        let max_frame_len = max_frame_len.max(1);
        SlipDecoder {
            buf: Vec::with_capacity(max_frame_len.min(4096)),
            max_frame_len,
            state: State::Data,
            raw_len: 0,
            counters: DecoderCounters::default(),
        }
    }

    /// The largest frame this decoder delivers.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Counters since creation (not cleared by [`reset`](Self::reset)).
    pub fn counters(&self) -> &DecoderCounters {
        &self.counters
    }

    /// Forget a partly received frame (e.g. after the transport reconnected).
    /// The partial frame is not counted as dropped: it was cut by the reconnect, not bad.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.state = State::Data;
        self.raw_len = 0;
    }

    /// True when bytes of an unfinished frame are buffered.
    pub fn in_frame(&self) -> bool {
        self.raw_len > 0
    }

    /// Decode `bytes`, calling `on_frame` for each complete non-empty frame.
    pub fn push(&mut self, bytes: &[u8], on_frame: &mut impl FnMut(&[u8])) {
        for &byte in bytes {
            if byte == END {
                self.finish_frame(on_frame);
                continue;
            }
            self.raw_len += 1;
            match self.state {
                State::Discarding => {}
                State::Escaped => {
                    let decoded = match byte {
                        ESC_END => Some(END),
                        ESC_ESC => Some(ESC),
                        _ => None,
                    };
                    match decoded {
                        Some(b) => {
                            self.state = State::Data;
                            self.store(b);
                        }
                        None => {
                            // RFC 1055 suggests keeping the byte, but on a line without
                            // checksums a broken escape means the frame is corrupt.
                            self.counters.bad_escapes += 1;
                            self.state = State::Discarding;
                        }
                    }
                }
                State::Data => {
                    if byte == ESC {
                        self.state = State::Escaped;
                    } else {
                        self.store(byte);
                    }
                }
            }
        }
    }

    fn store(&mut self, byte: u8) {
        if self.buf.len() >= self.max_frame_len {
            self.counters.oversize_frames += 1;
            self.buf.clear();
            self.state = State::Discarding;
        } else {
            self.buf.push(byte);
        }
    }

    fn finish_frame(&mut self, on_frame: &mut impl FnMut(&[u8])) {
        match self.state {
            State::Data if self.buf.is_empty() => self.counters.empty_frames += 1,
            State::Data => {
                self.counters.frames += 1;
                on_frame(&self.buf);
            }
            State::Escaped => {
                // ESC END: the frame ended inside an escape.
                self.counters.bad_escapes += 1;
                self.counters.discarded_bytes += self.raw_len;
            }
            State::Discarding => self.counters.discarded_bytes += self.raw_len,
        }
        self.buf.clear();
        self.state = State::Data;
        self.raw_len = 0;
    }
}

/// Number of bytes `payload` takes once escaped (without any END).
pub fn escaped_len(payload: &[u8]) -> usize {
    payload.len() + payload.iter().filter(|&&b| b == END || b == ESC).count()
}

fn push_escaped(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(escaped_len(payload) + 2);
    for &b in payload {
        match b {
            END => out.extend_from_slice(&[ESC, ESC_END]),
            ESC => out.extend_from_slice(&[ESC, ESC_ESC]),
            _ => out.push(b),
        }
    }
}

/// Append `payload` escaped and followed by END (the host -> radio form). Send one
/// lone END when the line opens so that the radio discards whatever noise it holds.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    push_escaped(payload, out);
    out.push(END);
}

/// Append END, `payload` escaped, END (the radio -> host form used by slip-radio).
pub fn encode_frame_with_leading_end(payload: &[u8], out: &mut Vec<u8>) {
    out.push(END);
    push_escaped(payload, out);
    out.push(END);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(dec: &mut SlipDecoder, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        dec.push(bytes, &mut |f| frames.push(f.to_vec()));
        frames
    }

    #[test]
    fn encodes_rfc1055_escapes() {
        let mut out = Vec::new();
        encode_frame(&[0x01, 0xC0, 0x02, 0xDB, 0x03], &mut out);
        assert_eq!(out, [0x01, 0xDB, 0xDC, 0x02, 0xDB, 0xDD, 0x03, 0xC0]);
        out.clear();
        encode_frame_with_leading_end(&[0xC0], &mut out);
        assert_eq!(out, [0xC0, 0xDB, 0xDC, 0xC0]);
        // Bytes that merely look like escape codes are not escaped.
        out.clear();
        encode_frame(&[0xDC, 0xDD], &mut out);
        assert_eq!(out, [0xDC, 0xDD, 0xC0]);
        assert_eq!(escaped_len(&[0xC0, 0xDB, 0x00]), 5);
    }

    #[test]
    fn decodes_frame_with_escapes() {
        let mut dec = SlipDecoder::new(64);
        let frames = decode_all(&mut dec, &[0xC0, 0x3F, 0xDB, 0xDC, 0xDB, 0xDD, 0x4D, 0xC0]);
        assert_eq!(frames, vec![vec![0x3F, 0xC0, 0xDB, 0x4D]]);
        assert_eq!(dec.counters().frames, 1);
        assert_eq!(dec.counters().empty_frames, 1);
    }

    #[test]
    fn frag1_dispatch_survives() {
        // A 6LoWPAN FRAG1 header starts with 0xC0..0xC7: it must be escaped and come back.
        let payload = [0xC4, 0x50, 0x12, 0x34];
        let mut wire = Vec::new();
        encode_frame_with_leading_end(&payload, &mut wire);
        let mut dec = SlipDecoder::new(64);
        assert_eq!(decode_all(&mut dec, &wire), vec![payload.to_vec()]);
    }

    #[test]
    fn empty_frames_are_ignored() {
        let mut dec = SlipDecoder::new(16);
        assert!(decode_all(&mut dec, &[0xC0, 0xC0, 0xC0]).is_empty());
        assert_eq!(dec.counters().empty_frames, 3);
    }

    #[test]
    fn bad_escape_drops_frame_and_resyncs() {
        let mut dec = SlipDecoder::new(16);
        let frames = decode_all(&mut dec, &[0x01, 0xDB, 0x55, 0x02, 0xC0, 0x07, 0xC0]);
        assert_eq!(frames, vec![vec![0x07]]);
        assert_eq!(dec.counters().bad_escapes, 1);
        assert_eq!(dec.counters().discarded_bytes, 4);
        // ESC directly followed by END.
        let frames = decode_all(&mut dec, &[0x01, 0xDB, 0xC0, 0x08, 0xC0]);
        assert_eq!(frames, vec![vec![0x08]]);
        assert_eq!(dec.counters().bad_escapes, 2);
    }

    #[test]
    fn oversize_frame_dropped_and_counted_then_resync() {
        let mut dec = SlipDecoder::new(4);
        let frames = decode_all(
            &mut dec,
            &[1, 2, 3, 4, 5, 6, 0xDB, 0xDC, 7, 0xC0, 9, 9, 0xC0],
        );
        assert_eq!(frames, vec![vec![9, 9]]);
        assert_eq!(dec.counters().oversize_frames, 1);
        assert_eq!(dec.counters().discarded_bytes, 9);
        // Exactly max_frame_len is fine.
        let frames = decode_all(&mut dec, &[1, 2, 3, 4, 0xC0]);
        assert_eq!(frames, vec![vec![1, 2, 3, 4]]);
    }

    #[test]
    fn leading_garbage_becomes_its_own_frame_then_resync() {
        // Noise before the first END is delivered as a (bogus) frame: SLIP cannot tell;
        // the radio layer classifies it. The real frame after it is intact.
        let mut dec = SlipDecoder::new(32);
        let frames = decode_all(&mut dec, b"noise\xC0!R\x01\x00\x01\xC0");
        assert_eq!(frames, vec![b"noise".to_vec(), b"!R\x01\x00\x01".to_vec()]);
    }

    #[test]
    fn reset_forgets_partial_frame() {
        let mut dec = SlipDecoder::new(32);
        assert!(decode_all(&mut dec, &[1, 2, 0xDB]).is_empty());
        assert!(dec.in_frame());
        dec.reset();
        assert!(!dec.in_frame());
        // The escape state went with the reset: 0xDD is now a plain data byte.
        assert_eq!(decode_all(&mut dec, &[0xDD, 0xC0]), vec![vec![0xDD]]);
    }

    proptest! {
        #[test]
        fn roundtrip_through_arbitrary_chunks(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 0..8),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
            leading in any::<bool>(),
        ) {
            let mut wire = Vec::new();
            if !leading { wire.push(END); }
            for p in &payloads {
                if leading { encode_frame_with_leading_end(p, &mut wire) } else { encode_frame(p, &mut wire) }
            }
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            points.push(0);
            points.push(wire.len());
            points.sort_unstable();
            let mut dec = SlipDecoder::new(200);
            let mut frames = Vec::new();
            for w in points.windows(2) {
                dec.push(&wire[w[0]..w[1]], &mut |f| frames.push(f.to_vec()));
            }
            prop_assert_eq!(frames, payloads);
            prop_assert_eq!(dec.counters().discarded_bytes, 0);
        }
    }

    proptest! {
        // What CI runs instead of the `slip_decode` fuzz target.
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn garbage_never_yields_oversize_frames(bytes in proptest::collection::vec(any::<u8>(), 0..4096), max in 1usize..300) {
            let mut dec = SlipDecoder::new(max);
            let mut n = 0u64;
            dec.push(&bytes, &mut |f| { assert!(!f.is_empty() && f.len() <= max); n += 1; });
            prop_assert_eq!(n, dec.counters().frames);
        }

        #[test]
        fn valid_frame_after_garbage_is_recovered(
            garbage in proptest::collection::vec(any::<u8>(), 0..600),
            payload in proptest::collection::vec(any::<u8>(), 1..100),
        ) {
            let mut wire = garbage.clone();
            encode_frame_with_leading_end(&payload, &mut wire);
            let mut dec = SlipDecoder::new(128);
            let mut last = None;
            dec.push(&wire, &mut |f| last = Some(f.to_vec()));
            prop_assert_eq!(last, Some(payload));
        }
    }
}
