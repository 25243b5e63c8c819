//! Sans-IO host side of a slip-radio link.
//!
//! [`RadioLink`] turns serial bytes into events and frames to send into paced SLIP bytes.
//! It owns everything the reference host program got wrong: frames are classified
//! 802.15.4-first, the number of unacknowledged `!S` is bounded, writes are paced so the
//! radio's UART is never overrun, the backlog is bounded (newest dropped and counted:
//! the daemon must never die of backlog), "queue full" is answered with a back-off and a
//! bounded number of retries, and a radio that stops answering is detected.
//!
//! Driving it: after construction, [`RadioLink::reset`], and every `handle_*` or
//! `send_frame` call, write out [`RadioLink::poll_transmit`] until it returns `None`,
//! drain [`RadioLink::poll_event`], then wait for serial input or
//! [`RadioLink::poll_timeout`] (then call [`RadioLink::handle_timeout`]).

use crate::codec::{self, SlipDecoder};
use crate::slip_radio::{self, HostMessage, RadioMessage, TxStatus};
use lowpan::ieee802154::{Eui64, MAX_FRAME_NO_FCS};
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// Number of distinct send ids (`sid`) the protocol supports.
pub const SID_RING: usize = 16;

/// Events kept for the driver before new ones are dropped (and counted): a driver that
/// drains after each call never gets near it.
const MAX_PENDING_EVENTS: usize = 4096;

/// Tuning of a [`RadioLink`]; `Default` suits a slip-radio at 115200 baud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// `!S` commands without their `!R` at any time (1..=16). The radio has 8 packet
    /// buffers and 2 destination queues; a small window keeps "queue full" rare.
    pub max_in_flight: usize,
    /// Minimum time between two writes to the radio.
    pub min_send_gap: Duration,
    /// Serial speed (8N1: 10 bits per byte): writes are paced to this byte rate so that the
    /// radio's UART is never overrun. 0 disables the byte-rate limit.
    pub baud: u32,
    /// Frames waiting for a free send slot; more are refused with [`LinkDrop::BacklogFull`].
    pub backlog_frames: usize,
    /// Cap on MAC transmissions per frame (`!S` attribute 5); `None` = radio default.
    pub max_tx: Option<u8>,
    /// A `!S` without `!R` within this time frees its sid and counts as a radio stall.
    pub tx_timeout: Duration,
    /// Consecutive stalls that raise [`LinkEvent::Stalled`] (at least 1).
    pub stall_limit: u32,
    /// First delay after "queue full" before the same frame is retried; doubles per retry.
    pub queue_full_backoff: Duration,
    /// Retries of one frame after "queue full" before it is given up.
    pub queue_full_retries: u8,
    /// `?M` is repeated at this interval until `!M` arrives.
    pub mac_retry_interval: Duration,
    /// `!V param value` sent once after every (re)start, e.g. channel and PAN id.
    pub startup_params: Vec<(u16, u16)>,
    /// Longest 802.15.4 frame (without FCS) the radio accepts.
    pub max_frame_len: usize,
    /// Longest SLIP payload accepted from the radio (frames, debug text).
    pub max_input_len: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            max_in_flight: 3,
            min_send_gap: Duration::from_millis(2),
            baud: 115_200,
            backlog_frames: 128,
            max_tx: None,
            tx_timeout: Duration::from_secs(2),
            stall_limit: 3,
            queue_full_backoff: Duration::from_millis(20),
            queue_full_retries: 5,
            mac_retry_interval: Duration::from_secs(1),
            startup_params: Vec::new(),
            max_frame_len: MAX_FRAME_NO_FCS,
            max_input_len: 512,
        }
    }
}

/// Why [`RadioLink::send_frame`] refused a frame. `as_str` names are stable (counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkDrop {
    /// The backlog is full: this (newest) frame is dropped.
    BacklogFull,
    /// Longer than the radio accepts.
    FrameTooLong,
    /// Nothing to send.
    EmptyFrame,
}

impl LinkDrop {
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkDrop::BacklogFull => "link_backlog_full",
            LinkDrop::FrameTooLong => "link_frame_too_long",
            LinkDrop::EmptyFrame => "link_empty_frame",
        }
    }
}

impl fmt::Display for LinkDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for LinkDrop {}

/// What happened on the link, for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A received 802.15.4 frame (header and payload, no FCS).
    Frame(Vec<u8>),
    /// The radio told its EUI-64 (first time, or a different one after a reset).
    Mac(Eui64),
    /// Final result of a frame: the radio's `!R` (after any "queue full" retries).
    TxDone {
        sid: u8,
        status: TxStatus,
        transmissions: u8,
    },
    /// No `!R` came for this sid in time; the frame is given up.
    TxTimeout { sid: u8 },
    /// Reply to `?V` (or a radio reporting a parameter).
    Param { param: u16, value: u16 },
    /// Debug text from the radio.
    Debug(String),
    /// Several sends in a row got no answer: the radio or the line is stuck.
    /// The driver may reconnect and call [`RadioLink::reset`].
    Stalled,
}

/// Per-status counts of `!R` results for known sids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxStatusCounters {
    pub ok: u64,
    pub collision: u64,
    pub no_ack: u64,
    pub deferred: u64,
    pub err: u64,
    pub fatal: u64,
    pub queue_full: u64,
    pub unknown: u64,
}

impl TxStatusCounters {
    fn record(&mut self, status: TxStatus) {
        let c = match status {
            TxStatus::Ok => &mut self.ok,
            TxStatus::Collision => &mut self.collision,
            TxStatus::NoAck => &mut self.no_ack,
            TxStatus::Deferred => &mut self.deferred,
            TxStatus::Err => &mut self.err,
            TxStatus::Fatal => &mut self.fatal,
            TxStatus::QueueFull => &mut self.queue_full,
            TxStatus::Unknown(_) => &mut self.unknown,
        };
        *c += 1;
    }
}

/// Everything a [`RadioLink`] did and dropped, since creation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Serial bytes received.
    pub bytes_in: u64,
    /// Serial bytes produced for writing.
    pub bytes_out: u64,
    /// 802.15.4 frames received.
    pub frames_in: u64,
    /// `!S` commands written (retries included).
    pub frames_out: u64,
    /// Frames accepted by `send_frame`.
    pub frames_queued: u64,
    /// `!R` results for known sids, by status.
    pub tx_status: TxStatusCounters,
    /// `!R` for a sid that was not in flight (late, duplicated or invented).
    pub unknown_sid: u64,
    /// Sends without `!R` in time (radio stalls).
    pub tx_timeouts: u64,
    /// [`LinkEvent::Stalled`] raised.
    pub stalls: u64,
    /// Frames sent again after "queue full".
    pub queue_full_retries: u64,
    /// Frames refused because the backlog was full.
    pub drop_backlog_full: u64,
    /// Frames refused as too long.
    pub drop_too_long: u64,
    /// Empty frames refused.
    pub drop_empty: u64,
    /// Frames given up after "queue full" retries.
    pub drop_queue_full: u64,
    /// Frames in flight when the link was reset.
    pub drop_reset: u64,
    /// Events dropped because the driver did not drain them.
    pub drop_events: u64,
    /// SLIP payloads that were neither a frame nor a message.
    pub garbage_frames: u64,
    /// Their bytes.
    pub garbage_bytes: u64,
    /// Debug lines (framed `\r` lines and unframed text).
    pub debug_lines: u64,
    /// "Unknown command" replies (one follows every `!V`).
    pub unknown_command: u64,
    /// `?M` written.
    pub mac_requests: u64,
    /// `!V` parameter reports received.
    pub params: u64,
    /// SLIP decoder counters (oversize frames, bad escapes, discarded bytes).
    pub slip: codec::DecoderCounters,
}

#[derive(Debug)]
struct Pending {
    frame: Vec<u8>,
    /// "Queue full" answers this frame got so far.
    queue_full_attempts: u8,
}

#[derive(Debug)]
struct InFlight {
    pending: Pending,
    deadline: Instant,
}

/// The host side of a slip-radio link; see the module docs for how to drive it.
#[derive(Debug)]
pub struct RadioLink {
    decoder: SlipDecoder,
    state: LinkState,
}

#[derive(Debug)]
struct LinkState {
    cfg: LinkConfig,
    counters: LinkCounters,
    events: VecDeque<LinkEvent>,
    backlog: VecDeque<Pending>,
    in_flight: [Option<InFlight>; SID_RING],
    next_sid: u8,
    /// Messages other than `!S` waiting to be written (start-up parameters).
    control: VecDeque<HostMessage>,
    /// A lone END is owed to the radio to flush its receiver.
    flush_owed: bool,
    /// Earliest time of the next write (pacing).
    next_write_at: Option<Instant>,
    /// No `!S` before this time ("queue full" back-off).
    hold_until: Option<Instant>,
    mac: Option<Eui64>,
    /// When `?M` is due again; `None` = at once (while the MAC is unknown).
    mac_due: Option<Instant>,
    consecutive_timeouts: u32,
}

impl RadioLink {
    /// A link in its start-up state: it owes the radio a flush END, `?M` and the
    /// configured parameters. Out-of-range settings are clamped.
    pub fn new(mut cfg: LinkConfig) -> Self {
        cfg.max_in_flight = cfg.max_in_flight.clamp(1, SID_RING);
        cfg.stall_limit = cfg.stall_limit.max(1);
        cfg.max_frame_len = cfg.max_frame_len.max(1);
        let decoder = SlipDecoder::new(cfg.max_input_len);
        let control = cfg
            .startup_params
            .iter()
            .map(|&(param, value)| HostMessage::SetParam { param, value })
            .collect();
        RadioLink {
            decoder,
            state: LinkState {
                cfg,
                counters: LinkCounters::default(),
                events: VecDeque::new(),
                backlog: VecDeque::new(),
                in_flight: Default::default(),
                next_sid: 0,
                control,
                flush_owed: true,
                next_write_at: None,
                hold_until: None,
                mac: None,
                mac_due: None,
                consecutive_timeouts: 0,
            },
        }
    }

    pub fn config(&self) -> &LinkConfig {
        &self.state.cfg
    }

    /// The radio's EUI-64 once it answered `?M`.
    pub fn mac(&self) -> Option<Eui64> {
        self.state.mac
    }

    /// Frames waiting for a send slot.
    pub fn backlog_len(&self) -> usize {
        self.state.backlog.len()
    }

    /// `!S` commands waiting for their `!R`.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.iter().filter(|s| s.is_some()).count()
    }

    /// Queue an 802.15.4 frame (header and payload, without FCS) for transmission.
    pub fn send_frame(&mut self, _now: Instant, frame: Vec<u8>) -> Result<(), LinkDrop> {
        let s = &mut self.state;
        let refused = if frame.is_empty() {
            s.counters.drop_empty += 1;
            LinkDrop::EmptyFrame
        } else if frame.len() > s.cfg.max_frame_len {
            s.counters.drop_too_long += 1;
            LinkDrop::FrameTooLong
        } else if s.backlog.len() >= s.cfg.backlog_frames {
            s.counters.drop_backlog_full += 1;
            LinkDrop::BacklogFull
        } else {
            s.counters.frames_queued += 1;
            s.backlog.push_back(Pending {
                frame,
                queue_full_attempts: 0,
            });
            return Ok(());
        };
        Err(refused)
    }

    /// Bytes read from the serial line.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.state.counters.bytes_in += bytes.len() as u64;
        let state = &mut self.state;
        self.decoder
            .push(bytes, &mut |payload| state.handle_payload(now, payload));
        self.state.counters.slip = *self.decoder.counters();
    }

    /// The next SLIP-encoded bytes to write, if pacing, window and back-off allow.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.state.poll_transmit(now)
    }

    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.state.events.pop_front()
    }

    /// The earliest time at which `handle_timeout` or `poll_transmit` has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.state.poll_timeout()
    }

    /// Expire sends without `!R` (radio stall detection).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.state.handle_timeout(now)
    }

    /// Start over after the transport reconnected: frames in flight are dropped (counted),
    /// the backlog is kept, and the flush END, `?M` and start-up parameters are owed again.
    pub fn reset(&mut self, _now: Instant) {
        self.decoder.reset();
        let s = &mut self.state;
        for slot in s.in_flight.iter_mut() {
            if slot.take().is_some() {
                s.counters.drop_reset += 1;
            }
        }
        s.control = s
            .cfg
            .startup_params
            .iter()
            .map(|&(param, value)| HostMessage::SetParam { param, value })
            .collect();
        s.flush_owed = true;
        s.next_write_at = None;
        s.hold_until = None;
        s.mac = None;
        s.mac_due = None;
        s.consecutive_timeouts = 0;
    }

    pub fn counters(&self) -> &LinkCounters {
        &self.state.counters
    }
}

impl LinkState {
    fn push_event(&mut self, e: LinkEvent) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.counters.drop_events += 1;
        } else {
            self.events.push_back(e);
        }
    }

    fn handle_payload(&mut self, now: Instant, payload: &[u8]) {
        match RadioMessage::parse(payload) {
            Ok(RadioMessage::Frame(f)) => {
                self.counters.frames_in += 1;
                self.push_event(LinkEvent::Frame(f));
            }
            Ok(RadioMessage::Mac(eui)) => {
                self.mac_due = None;
                if self.mac != Some(eui) {
                    self.mac = Some(eui);
                    self.push_event(LinkEvent::Mac(eui));
                }
            }
            Ok(RadioMessage::TxResult {
                sid,
                status,
                transmissions,
            }) => self.handle_tx_result(now, sid, status, transmissions),
            Ok(RadioMessage::Param { param, value }) => {
                self.counters.params += 1;
                self.push_event(LinkEvent::Param { param, value });
            }
            Ok(RadioMessage::UnknownCommand) => self.counters.unknown_command += 1,
            Ok(RadioMessage::Debug(text)) => {
                self.counters.debug_lines += 1;
                self.push_event(LinkEvent::Debug(text));
            }
            Err(_) if is_text(payload) => {
                // nRF builds print debug text without SLIP framing; it arrives between
                // two frames' END bytes.
                self.counters.debug_lines += 1;
                let text = String::from_utf8_lossy(payload).trim().to_owned();
                self.push_event(LinkEvent::Debug(text));
            }
            Err(_) => {
                self.counters.garbage_frames += 1;
                self.counters.garbage_bytes += payload.len() as u64;
            }
        }
    }

    fn handle_tx_result(&mut self, now: Instant, sid: u8, status: TxStatus, transmissions: u8) {
        // Any `!R` shows the radio is alive, even a late one.
        self.consecutive_timeouts = 0;
        let Some(done) = self
            .in_flight
            .get_mut(usize::from(sid))
            .and_then(Option::take)
        else {
            self.counters.unknown_sid += 1;
            return;
        };
        self.counters.tx_status.record(status);
        let mut pending = done.pending;
        if status == TxStatus::QueueFull {
            if pending.queue_full_attempts < self.cfg.queue_full_retries {
                let delay = self
                    .cfg
                    .queue_full_backoff
                    .saturating_mul(1u32 << pending.queue_full_attempts.min(10));
                pending.queue_full_attempts += 1;
                self.counters.queue_full_retries += 1;
                // The radio is out of buffers: hold every `!S`, and keep this frame first.
                self.hold_until = Some(now + delay);
                if self.backlog.len() >= self.cfg.backlog_frames {
                    self.backlog.pop_back();
                    self.counters.drop_backlog_full += 1;
                }
                self.backlog.push_front(pending);
                return;
            }
            self.counters.drop_queue_full += 1;
        }
        self.push_event(LinkEvent::TxDone {
            sid,
            status,
            transmissions,
        });
    }

    fn handle_timeout(&mut self, now: Instant) {
        for sid in 0..SID_RING {
            let expired = matches!(&self.in_flight[sid], Some(f) if f.deadline <= now);
            if !expired {
                continue;
            }
            self.in_flight[sid] = None;
            self.counters.tx_timeouts += 1;
            self.consecutive_timeouts += 1;
            self.push_event(LinkEvent::TxTimeout { sid: sid as u8 });
            if self.consecutive_timeouts >= self.cfg.stall_limit {
                self.consecutive_timeouts = 0;
                self.counters.stalls += 1;
                self.push_event(LinkEvent::Stalled);
            }
        }
    }

    fn window_open(&self) -> bool {
        self.in_flight.iter().filter(|s| s.is_some()).count() < self.cfg.max_in_flight
    }

    fn mac_due_at(&self, now: Instant) -> bool {
        self.mac.is_none() && self.mac_due.is_none_or(|t| t <= now)
    }

    fn held(&self, now: Instant) -> bool {
        self.hold_until.is_some_and(|t| t > now)
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_write_at.is_some_and(|t| t > now) {
            return None;
        }
        let mut out = Vec::new();
        if self.flush_owed {
            self.flush_owed = false;
            out.push(codec::END);
        } else if self.mac_due_at(now) {
            self.mac_due = Some(now + self.cfg.mac_retry_interval);
            self.counters.mac_requests += 1;
            codec::encode_frame(&HostMessage::GetMac.to_bytes(), &mut out);
        } else if let Some(msg) = self.control.pop_front() {
            codec::encode_frame(&msg.to_bytes(), &mut out);
        } else if !self.held(now) && self.window_open() && !self.backlog.is_empty() {
            let sid = self.free_sid()?;
            let pending = self.backlog.pop_front()?;
            let mut payload = Vec::with_capacity(pending.frame.len() + 7);
            slip_radio::emit_send(sid, self.cfg.max_tx, &pending.frame, &mut payload);
            codec::encode_frame(&payload, &mut out);
            // Kept until `!R`: "queue full" sends the same frame again.
            self.in_flight[usize::from(sid)] = Some(InFlight {
                pending,
                deadline: now + self.cfg.tx_timeout,
            });
            self.counters.frames_out += 1;
        } else {
            return None;
        }
        self.counters.bytes_out += out.len() as u64;
        self.next_write_at = Some(now + self.pace(out.len()));
        Some(out)
    }

    /// Time the UART needs for `bytes`, but at least the configured gap.
    fn pace(&self, bytes: usize) -> Duration {
        let wire = if self.cfg.baud == 0 {
            Duration::ZERO
        } else {
            let nanos = (bytes as u128) * 10 * 1_000_000_000 / u128::from(self.cfg.baud);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        };
        wire.max(self.cfg.min_send_gap)
    }

    fn free_sid(&mut self) -> Option<u8> {
        for i in 0..SID_RING {
            let sid = (usize::from(self.next_sid) + i) % SID_RING;
            if self.in_flight[sid].is_none() {
                self.next_sid = ((sid + 1) % SID_RING) as u8;
                return Some(sid as u8);
            }
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        };
        for f in self.in_flight.iter().flatten() {
            consider(Some(f.deadline));
        }
        let pace = self.next_write_at;
        let at_pace = |t: Option<Instant>| match (t, pace) {
            (Some(t), Some(p)) => Some(t.max(p)),
            (t, p) => t.or(p),
        };
        if self.flush_owed || !self.control.is_empty() {
            consider(pace);
        }
        if self.mac.is_none() {
            consider(at_pace(self.mac_due));
        }
        if !self.backlog.is_empty() && self.window_open() {
            consider(at_pace(self.hold_until));
        }
        earliest
    }
}

/// Printable ASCII with at least one visible character: unframed debug output.
fn is_text(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b == b'\t' || b == b'\r' || b == b'\n' || (0x20..0x7F).contains(&b))
        && bytes.iter().any(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests;
