//! The serial side of an emulated Contiki-NG slip-radio: what the firmware does with the
//! bytes a host writes, and what it writes back.
//!
//! It decodes SLIP, answers `?M`, `?V`, `!V` and unknown commands at once, hands `!S`
//! frames to the caller (who puts them on the air) unless they are too long or the
//! radio's eight packet buffers are taken, reports their fate as `!R`, and filters
//! received frames as the radio hardware would (address, PAN, ACKs, duplicates) before
//! sending them up, framed `END payload END`.

use std::collections::VecDeque;
use std::time::Instant;

use lowpan::ieee802154::{self, Address, Eui64, FrameType, MAX_FRAME_NO_FCS};
use slip::codec::{SlipDecoder, encode_frame_with_leading_end};
use slip::slip_radio::{HostMessage, RadioMessage, TxStatus, param};

use crate::dedupe::{DEFAULT_LIFETIME, DuplicateFilter};

/// Packet buffers of the firmware (Contiki-NG slip-radio: 8).
pub const PACKET_BUFFERS: usize = 8;
/// Largest SLIP frame the emulated firmware accepts; longer ones are dropped by the
/// decoder. Generous so an oversize `!S` still gets its status 4 answer.
pub const MAX_SERIAL_FRAME: usize = 2048;
/// PAN the firmware uses until the host sets one.
pub const DEFAULT_PAN: u16 = 0xABCD;
/// Channel the firmware uses until the host sets one.
pub const DEFAULT_CHANNEL: u16 = 26;

/// A frame the host asked the radio to transmit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendRequest {
    pub sid: u8,
    /// Attribute 5 of `!S`, if given.
    pub max_tx: Option<u8>,
    /// MAC frame without FCS, at most 125 bytes.
    pub frame: Vec<u8>,
}

/// What the firmware did, for the statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RadioCounters {
    pub get_mac: u64,
    pub sends: u64,
    pub send_bytes: u64,
    pub set_param: u64,
    pub get_param: u64,
    pub unknown_commands: u64,
    pub tx_ok: u64,
    pub tx_no_ack: u64,
    pub tx_too_long: u64,
    pub tx_queue_full: u64,
    /// Frames sent up to the host.
    pub frames_up: u64,
    pub bytes_up: u64,
    /// Received frames the hardware filter dropped (other address or PAN, ACK, own, bad).
    pub filtered: u64,
    pub duplicates: u64,
    /// SLIP frames the decoder dropped (oversize or bad escapes).
    pub serial_garbage: u64,
}

/// The firmware's serial side.
#[derive(Debug)]
pub struct RadioFirmware {
    eui64: Eui64,
    channel: u16,
    pan_id: u16,
    rx_mode: u16,
    tx_power: u16,
    decoder: SlipDecoder,
    in_flight: usize,
    dedupe: DuplicateFilter,
    to_host: VecDeque<Vec<u8>>,
    counters: RadioCounters,
}

impl RadioFirmware {
    pub fn new(eui64: Eui64) -> Self {
        RadioFirmware {
            eui64,
            channel: DEFAULT_CHANNEL,
            pan_id: DEFAULT_PAN,
            rx_mode: 0b11,
            tx_power: 0,
            decoder: SlipDecoder::new(MAX_SERIAL_FRAME),
            in_flight: 0,
            dedupe: DuplicateFilter::new(64, DEFAULT_LIFETIME),
            to_host: VecDeque::new(),
            counters: RadioCounters::default(),
        }
    }

    pub fn eui64(&self) -> Eui64 {
        self.eui64
    }

    pub fn pan_id(&self) -> u16 {
        self.pan_id
    }

    /// Set the PAN at start-up (as a firmware build constant would), without a debug line.
    pub fn set_pan_id(&mut self, pan: u16) {
        self.pan_id = pan;
    }

    /// Set the channel at start-up, without a debug line.
    pub fn set_channel(&mut self, channel: u16) {
        self.channel = channel;
    }

    pub fn channel(&self) -> u16 {
        self.channel
    }

    /// `!S` frames handed out and not yet reported.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn counters(&self) -> RadioCounters {
        let mut c = self.counters;
        let d = self.decoder.counters();
        c.serial_garbage = d.oversize_frames + d.bad_escapes;
        c
    }

    /// A new host connected: forget half-received input (the firmware keeps its state).
    pub fn host_reconnected(&mut self) {
        self.decoder.reset();
        self.to_host.clear();
    }

    /// Bytes from the host. Returns the frames to put on the air.
    pub fn handle_host_bytes(&mut self, bytes: &[u8]) -> Vec<SendRequest> {
        let mut messages = Vec::new();
        self.decoder.push(bytes, &mut |frame: &[u8]| {
            messages.push(HostMessage::parse(frame))
        });
        let mut sends = Vec::new();
        for m in messages {
            match m {
                Ok(HostMessage::GetMac) => {
                    self.counters.get_mac += 1;
                    self.reply(&RadioMessage::Mac(self.eui64));
                }
                Ok(HostMessage::Send { sid, max_tx, frame }) => {
                    self.counters.sends += 1;
                    self.counters.send_bytes += frame.len() as u64;
                    if frame.len() > MAX_FRAME_NO_FCS {
                        self.counters.tx_too_long += 1;
                        self.reply(&RadioMessage::TxResult {
                            sid,
                            status: TxStatus::Err,
                            transmissions: 0,
                        });
                    } else if self.in_flight >= PACKET_BUFFERS {
                        self.counters.tx_queue_full += 1;
                        self.reply(&RadioMessage::TxResult {
                            sid,
                            status: TxStatus::QueueFull,
                            transmissions: 0,
                        });
                    } else {
                        self.in_flight += 1;
                        sends.push(SendRequest { sid, max_tx, frame });
                    }
                }
                Ok(HostMessage::SetParam { param, value }) => {
                    self.counters.set_param += 1;
                    self.set_param(param, value);
                }
                Ok(HostMessage::GetParam { param }) => {
                    self.counters.get_param += 1;
                    let value = self.get_param(param);
                    self.reply(&RadioMessage::Param { param, value });
                    // The firmware's command handler falls through after answering `?V`.
                    self.reply(&RadioMessage::UnknownCommand);
                }
                Err(_) => {
                    self.counters.unknown_commands += 1;
                    self.reply(&RadioMessage::UnknownCommand);
                }
            }
        }
        sends
    }

    /// The air finished a frame handed out by [`RadioFirmware::handle_host_bytes`].
    pub fn send_done(&mut self, sid: u8, status: TxStatus, transmissions: u8) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match status {
            TxStatus::Ok => self.counters.tx_ok += 1,
            _ => self.counters.tx_no_ack += 1,
        }
        self.reply(&RadioMessage::TxResult {
            sid,
            status,
            transmissions,
        });
    }

    /// The radio received `frame` (no FCS) from the air. Sends it up if the hardware
    /// filter would pass it. Returns whether it went up.
    pub fn frame_received(&mut self, now: Instant, frame: &[u8]) -> bool {
        let Ok((repr, _)) = ieee802154::parse_frame(frame) else {
            self.counters.filtered += 1;
            return false;
        };
        let for_us = match repr.dst_addr {
            Address::Extended(e) => e == self.eui64,
            Address::Short(s) => s == 0xffff,
            Address::Absent => false,
        };
        let pan_ok = matches!(repr.dst_pan, Some(p) if p == self.pan_id || p == 0xffff);
        let filtering = self.rx_mode & 1 != 0;
        let own = repr.src_addr == Address::Extended(self.eui64);
        if repr.frame_type == FrameType::Ack || own || (filtering && !(for_us && pan_ok)) {
            self.counters.filtered += 1;
            return false;
        }
        if self
            .dedupe
            .is_duplicate(now, repr.src_addr, repr.sequence_number)
        {
            self.counters.duplicates += 1;
            return false;
        }
        self.counters.frames_up += 1;
        self.counters.bytes_up += frame.len() as u64;
        self.reply(&RadioMessage::Frame(frame.to_vec()));
        true
    }

    /// Serial bytes for the host, one SLIP frame at a time.
    pub fn poll_host_bytes(&mut self) -> Option<Vec<u8>> {
        self.to_host.pop_front()
    }

    fn reply(&mut self, msg: &RadioMessage) {
        // No flow control towards the host either: bound what waits for a slow reader.
        if self.to_host.len() >= 4096 {
            return;
        }
        let mut out = Vec::with_capacity(msg.buffer_len() + 8);
        encode_frame_with_leading_end(&msg.to_bytes(), &mut out);
        self.to_host.push_back(out);
    }

    fn debug_line(&mut self, text: String) {
        self.reply(&RadioMessage::Debug(text));
    }

    fn set_param(&mut self, p: u16, value: u16) {
        match p {
            param::CHANNEL => {
                self.channel = value;
                self.debug_line(format!("radio: setting channel: {value}"));
            }
            param::PAN_ID => {
                self.pan_id = value;
                self.debug_line(format!("radio: setting pan id to 0x{value:04x}"));
            }
            param::RX_MODE => {
                self.rx_mode = value;
                self.debug_line(format!("radio: setting rxmode to 0x{value:x}"));
            }
            param::TX_POWER => {
                self.tx_power = value;
                self.debug_line(format!(
                    "radio: setting param {p} to {value} (0x{value:02x})"
                ));
            }
            _ => self.debug_line(format!(
                "radio: setting param {p} to {value} (0x{value:02x})"
            )),
        }
    }

    fn get_param(&self, p: u16) -> u16 {
        match p {
            param::CHANNEL => self.channel,
            param::PAN_ID => self.pan_id,
            param::RX_MODE => self.rx_mode,
            param::TX_POWER => self.tx_power,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowpan::ieee802154::FrameRepr;
    use slip::codec::encode_frame;

    const RADIO: Eui64 = Eui64([0x00, 0x12, 0x4b, 0, 0, 0, 0, 0x01]);

    fn host(msg: &[u8]) -> Vec<u8> {
        let mut v = vec![slip::codec::END];
        encode_frame(msg, &mut v);
        v
    }

    fn replies(r: &mut RadioFirmware) -> Vec<RadioMessage> {
        let mut out = Vec::new();
        let mut dec = SlipDecoder::new(4096);
        while let Some(b) = r.poll_host_bytes() {
            dec.push(&b, &mut |f: &[u8]| {
                out.push(RadioMessage::parse(f).unwrap())
            });
        }
        out
    }

    fn data_frame(dst: Address, seq: u8, len: usize) -> Vec<u8> {
        let src = Address::Extended(Eui64([2, 0, 0, 0, 0, 0, 0, 1]));
        let repr = FrameRepr::data(DEFAULT_PAN, src, dst, seq, !dst.is_broadcast());
        let hl = repr.buffer_len();
        ieee802154::build_data_frame(&repr, &vec![0x41; len.saturating_sub(hl)])
    }

    #[test]
    fn get_mac_answers_eui64() {
        let mut r = RadioFirmware::new(RADIO);
        assert!(r.handle_host_bytes(&host(b"?M")).is_empty());
        assert_eq!(replies(&mut r), vec![RadioMessage::Mac(RADIO)]);
        // Bytes exactly as the firmware sends them: END ! M eui END.
        r.handle_host_bytes(&host(b"?M"));
        let raw = r.poll_host_bytes().unwrap();
        assert_eq!(raw, [&[0xC0, b'!', b'M'][..], &RADIO.0, &[0xC0]].concat());
    }

    #[test]
    fn send_goes_to_air_and_result_comes_back() {
        let mut r = RadioFirmware::new(RADIO);
        let frame = data_frame(Address::BROADCAST, 3, 40);
        let msg = HostMessage::Send {
            sid: 5,
            max_tx: Some(3),
            frame: frame.clone(),
        }
        .to_bytes();
        let sends = r.handle_host_bytes(&host(&msg));
        assert_eq!(
            sends,
            vec![SendRequest {
                sid: 5,
                max_tx: Some(3),
                frame
            }]
        );
        assert!(replies(&mut r).is_empty());
        r.send_done(5, TxStatus::Ok, 1);
        assert_eq!(
            replies(&mut r),
            vec![RadioMessage::TxResult {
                sid: 5,
                status: TxStatus::Ok,
                transmissions: 1
            }]
        );
        assert_eq!(r.in_flight(), 0);
    }

    #[test]
    fn oversize_frame_is_status_4() {
        let mut r = RadioFirmware::new(RADIO);
        let frame = data_frame(Address::BROADCAST, 3, 126);
        assert_eq!(frame.len(), 126);
        let msg = HostMessage::Send {
            sid: 1,
            max_tx: None,
            frame,
        }
        .to_bytes();
        assert!(r.handle_host_bytes(&host(&msg)).is_empty());
        assert_eq!(
            replies(&mut r),
            vec![RadioMessage::TxResult {
                sid: 1,
                status: TxStatus::Err,
                transmissions: 0
            }]
        );
        // 125 bytes is fine.
        let msg = HostMessage::Send {
            sid: 2,
            max_tx: None,
            frame: data_frame(Address::BROADCAST, 3, 125),
        }
        .to_bytes();
        assert_eq!(r.handle_host_bytes(&host(&msg)).len(), 1);
    }

    #[test]
    fn ninth_outstanding_send_is_queue_full() {
        let mut r = RadioFirmware::new(RADIO);
        let mut bytes = Vec::new();
        for sid in 0..9u8 {
            let msg = HostMessage::Send {
                sid,
                max_tx: None,
                frame: data_frame(Address::BROADCAST, sid, 30),
            };
            encode_frame(&msg.to_bytes(), &mut bytes);
        }
        assert_eq!(r.handle_host_bytes(&bytes).len(), 8);
        assert_eq!(
            replies(&mut r),
            vec![RadioMessage::TxResult {
                sid: 8,
                status: TxStatus::QueueFull,
                transmissions: 0
            }]
        );
    }

    #[test]
    fn params_and_unknown_commands() {
        let mut r = RadioFirmware::new(RADIO);
        let set = HostMessage::SetParam {
            param: param::PAN_ID,
            value: 0x1234,
        }
        .to_bytes();
        let get = HostMessage::GetParam {
            param: param::PAN_ID,
        }
        .to_bytes();
        r.handle_host_bytes(&[host(&set), host(&get), host(b"?X"), host(b"hello")].concat());
        let got = replies(&mut r);
        assert!(matches!(&got[0], RadioMessage::Debug(s) if s.contains("pan id")));
        assert_eq!(
            got[1..],
            [
                RadioMessage::Param {
                    param: param::PAN_ID,
                    value: 0x1234
                },
                RadioMessage::UnknownCommand,
                RadioMessage::UnknownCommand,
                RadioMessage::UnknownCommand,
            ]
        );
        assert_eq!(r.pan_id(), 0x1234);
        assert_eq!(r.counters().unknown_commands, 2);
    }

    #[test]
    fn receive_filter_and_dedupe() {
        let mut r = RadioFirmware::new(RADIO);
        let t = Instant::now();
        let to_us = data_frame(Address::Extended(RADIO), 9, 50);
        assert!(r.frame_received(t, &to_us));
        assert!(!r.frame_received(t, &to_us), "duplicate");
        assert!(r.frame_received(t, &data_frame(Address::BROADCAST, 10, 50)));
        assert!(!r.frame_received(t, &data_frame(Address::Extended(Eui64([9; 8])), 11, 50)));
        assert!(!r.frame_received(t, &ieee802154::imm_ack(3, false)));
        assert!(!r.frame_received(t, &[0xff]));
        let got = replies(&mut r);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], RadioMessage::Frame(to_us));
        assert_eq!(r.counters().duplicates, 1);
        assert_eq!(r.counters().filtered, 3);
    }

    #[test]
    fn garbage_never_panics() {
        let mut r = RadioFirmware::new(RADIO);
        let mut rng = crate::rng::SimRng::new(11);
        for _ in 0..3000 {
            let len = rng.below(200) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.below(8) {
                    0 => 0xC0,
                    1 => b'!',
                    2 => b'S',
                    _ => rng.next_u64() as u8,
                })
                .collect();
            for s in r.handle_host_bytes(&bytes) {
                r.send_done(s.sid, TxStatus::Ok, 1);
            }
            let _ = r.frame_received(Instant::now(), &bytes);
            while r.poll_host_bytes().is_some() {}
        }
    }
}
