//! A sans-IO redirect channel to one peer (a border router keeps one per remote IoTSSP; an
//! IoTSSP keeps one per border router). It seals outgoing messages and opens incoming ones.
//!
//! Each end knows its [`Role`]: it seals under the key of its own direction and opens only
//! under the other's, so its own messages reflected back to it (by anyone, with no key) are
//! refused as `Reflected` and prove nothing about the peer's liveness.
//!
//! Opening order, so that unauthenticated input creates no state: structure (magic,
//! version, exact length) -> key by id -> tag (the peer's direction) -> not our own sender
//! instance -> timestamp freshness -> replay window -> message semantics -> commit. Only the last step writes, and only for a message that
//! passed all the others. Counters are the one exception: they count rejects.
//!
//! Clock assumption: both ends' wall clocks agree within `max_clock_skew` (NTP). Timestamps
//! stop replays the sequence window cannot: to a receiver that restarted (its windows are
//! empty, so it accepts nothing older than its own start) and of a sender instance whose
//! window was retired (nothing not newer than its last accepted timestamp).

use crate::RedirectMessage;
use crate::key::{Direction, KeyRing};
use crate::named_counters;
use crate::wire::{Envelope, RedirectPacket, RedirectRepr, WireError};
use core::fmt;
use dtls_wire::{ReplayError, ReplayWindow};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Messages older than this (by their timestamp) are refused.
    pub max_age: Duration,
    /// Messages stamped further than this in the future are refused (clock skew allowance).
    pub max_clock_skew: Duration,
    /// A Hello is sent when nothing else was sent for this long.
    pub keepalive: Duration,
    /// The peer counts as dead when nothing authenticated came for this long.
    pub dead_after: Duration,
    /// Sender instances (peer restarts) tracked at once; the least recently heard is retired.
    pub max_sender_instances: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            max_age: Duration::from_secs(30),
            max_clock_skew: Duration::from_secs(30),
            // Short enough that a border router notices a stopped IoTSSP within a few
            // seconds, while a client's handshake is still waiting (rule R12); a Hello is
            // 60-odd bytes, so one a second per peer costs nothing.
            keepalive: Duration::from_secs(1),
            // Three missed keepalives.
            dead_after: Duration::from_secs(3),
            max_sender_instances: 4,
        }
    }
}

/// Which end of the channel this is: it decides the direction each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    BorderRouter,
    Iotssp,
}

impl Role {
    /// The direction of what this end sends.
    pub const fn sends(self) -> Direction {
        match self {
            Role::BorderRouter => Direction::BorderRouterToIotssp,
            Role::Iotssp => Direction::IotsspToBorderRouter,
        }
    }

    /// The direction of what this end accepts.
    pub const fn receives(self) -> Direction {
        self.sends().reverse()
    }
}

/// Why an incoming message was refused. Stable names for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not a redirect message (checked before the tag).
    Wire(WireError),
    UnknownKey(u32),
    BadTag,
    /// One of our own messages sent back to us: tagged for our direction, or naming our
    /// sender instance.
    Reflected,
    /// Stamped before this receiver started.
    PredatesReceiver,
    /// Older than `max_age`.
    Stale,
    /// Further in the future than `max_clock_skew`.
    FromFuture,
    Replayed,
    TooOld,
    /// From an unknown sender instance, not newer than a retired one's last message.
    RetiredInstance,
    /// Authentic and fresh, but its content is invalid (unknown type, bad payload).
    Malformed(WireError),
}

impl OpenError {
    pub fn as_str(&self) -> &'static str {
        match self {
            OpenError::Wire(w) => w.as_str(),
            OpenError::UnknownKey(_) => "redirect_unknown_key",
            OpenError::BadTag => "redirect_bad_tag",
            OpenError::Reflected => "redirect_reflected",
            OpenError::PredatesReceiver => "redirect_predates_receiver",
            OpenError::Stale => "redirect_stale",
            OpenError::FromFuture => "redirect_from_future",
            OpenError::Replayed => "redirect_replayed",
            OpenError::TooOld => "redirect_too_old",
            OpenError::RetiredInstance => "redirect_retired_instance",
            OpenError::Malformed(_) => "redirect_malformed",
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Wire(w) | OpenError::Malformed(w) => write!(f, "{}: {}", self.as_str(), w),
            OpenError::UnknownKey(id) => write!(f, "{}: key id {id}", self.as_str()),
            _ => f.write_str(self.as_str()),
        }
    }
}

impl std::error::Error for OpenError {}

named_counters! {
    pub struct ChannelCounters {
        sealed,
        opened,
        hellos_sent,
        hellos_received,
        rejected_wire,
        rejected_unknown_key,
        rejected_bad_tag,
        rejected_reflected,
        rejected_predates_receiver,
        rejected_stale,
        rejected_from_future,
        rejected_replayed,
        rejected_too_old,
        rejected_retired_instance,
        rejected_malformed,
        /// Sender instances forgotten to make room (peer restarted several times).
        instances_retired,
        /// Messages not sealed (payload too long, empty datagram).
        seal_errors,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SenderInstance {
    id: u64,
    window: ReplayWindow,
    newest_ms: u64,
    last_heard: Instant,
}

/// Everything an incoming message can change (counters aside): compared in tests to show
/// that forged input changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverState {
    pub instances: Vec<(u64, ReplayWindow, u64)>,
    pub retired_ms: u64,
    pub last_heard: Option<Instant>,
}

/// Liveness of the peer as seen from authenticated traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Nothing authenticated heard yet.
    Unknown,
    Alive,
    Dead,
}

fn unix_ms(wall: SystemTime) -> u64 {
    wall.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[derive(Debug)]
pub struct RedirectChannel {
    config: ChannelConfig,
    role: Role,
    keys: KeyRing,
    /// Our sender instance id: random per process start (the caller draws it).
    me: u64,
    next_sequence: u64,
    /// Our wall-clock start: nothing stamped earlier is accepted.
    floor_ms: u64,
    /// Newest timestamp of any retired sender instance.
    retired_ms: u64,
    instances: Vec<SenderInstance>,
    last_heard: Option<Instant>,
    /// When this channel started (and queued its first Hello).
    started: Instant,
    next_keepalive: Instant,
    pending_hello: bool,
    counters: ChannelCounters,
}

impl RedirectChannel {
    /// `instance` must be random per process start (e.g. from getrandom): replay windows
    /// are kept per sender instance, so a restarted sender can begin again at sequence 0.
    pub fn new(
        config: ChannelConfig,
        role: Role,
        keys: KeyRing,
        instance: u64,
        now: Instant,
        wall: SystemTime,
    ) -> Self {
        RedirectChannel {
            next_keepalive: now,
            started: now,
            config,
            role,
            keys,
            me: instance,
            next_sequence: 0,
            floor_ms: unix_ms(wall),
            retired_ms: 0,
            instances: Vec::new(),
            last_heard: None,
            pending_hello: true,
            counters: ChannelCounters::default(),
        }
    }

    pub fn counters(&self) -> &ChannelCounters {
        &self.counters
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn instance(&self) -> u64 {
        self.me
    }

    /// The keys it seals and opens with.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Replaces the keys (rotation): the new current key seals from now on, and a previous
    /// key kept in the ring is still accepted.
    pub fn set_keys(&mut self, keys: KeyRing) {
        self.keys = keys;
    }

    /// Seals `message` for the wire.
    pub fn seal(
        &mut self,
        now: Instant,
        wall: SystemTime,
        message: &RedirectMessage<'_>,
    ) -> Result<Vec<u8>, WireError> {
        let repr = RedirectRepr {
            envelope: Envelope {
                key_id: self.keys.current.id(),
                sender: self.me,
                sequence: self.next_sequence,
                timestamp_ms: unix_ms(wall),
            },
            message: *message,
        };
        let bytes = repr
            .to_sealed_bytes(&self.keys.current, self.role.sends())
            .inspect_err(|_| self.counters.seal_errors += 1)?;
        self.next_sequence += 1;
        self.counters.sealed += 1;
        if matches!(message, RedirectMessage::Hello) {
            self.counters.hellos_sent += 1;
        }
        // Anything sent proves liveness as well as a Hello would.
        self.next_keepalive = now + self.config.keepalive;
        self.pending_hello = false;
        Ok(bytes)
    }

    /// Authenticates, checks freshness and replay, and returns the message. State changes
    /// only when it returns Ok.
    pub fn open<'a>(
        &mut self,
        now: Instant,
        wall: SystemTime,
        bytes: &'a [u8],
    ) -> Result<RedirectRepr<'a>, OpenError> {
        let result = self.check_and_parse(wall, bytes);
        match &result {
            Ok(repr) => self.commit(now, &repr.envelope, &repr.message),
            Err(e) => self.count_reject(e),
        }
        result
    }

    fn check_and_parse<'a>(
        &self,
        wall: SystemTime,
        bytes: &'a [u8],
    ) -> Result<RedirectRepr<'a>, OpenError> {
        let packet = RedirectPacket::new_checked(bytes).map_err(OpenError::Wire)?;
        let key = self
            .keys
            .find(packet.key_id())
            .ok_or(OpenError::UnknownKey(packet.key_id()))?;
        if !packet.verify(key, self.role.receives()) {
            return Err(if packet.verify(key, self.role.sends()) {
                OpenError::Reflected
            } else {
                OpenError::BadTag
            });
        }
        if packet.sender() == self.me {
            return Err(OpenError::Reflected);
        }
        let ts = packet.timestamp_ms();
        let now_ms = unix_ms(wall);
        if ts < self.floor_ms {
            return Err(OpenError::PredatesReceiver);
        }
        if now_ms.saturating_sub(ts) > self.config.max_age.as_millis() as u64 {
            return Err(OpenError::Stale);
        }
        if ts.saturating_sub(now_ms) > self.config.max_clock_skew.as_millis() as u64 {
            return Err(OpenError::FromFuture);
        }
        match self.instances.iter().find(|i| i.id == packet.sender()) {
            Some(inst) => inst.window.check(packet.sequence()).map_err(|e| match e {
                ReplayError::Replayed => OpenError::Replayed,
                ReplayError::TooOld => OpenError::TooOld,
            })?,
            None if ts <= self.retired_ms => return Err(OpenError::RetiredInstance),
            None => {}
        }
        RedirectRepr::parse(&packet).map_err(OpenError::Malformed)
    }

    fn commit(&mut self, now: Instant, env: &Envelope, message: &RedirectMessage<'_>) {
        self.counters.opened += 1;
        if matches!(message, RedirectMessage::Hello) {
            self.counters.hellos_received += 1;
        }
        self.last_heard = Some(now);
        if let Some(inst) = self.instances.iter_mut().find(|i| i.id == env.sender) {
            inst.window.mark(env.sequence);
            inst.newest_ms = inst.newest_ms.max(env.timestamp_ms);
            inst.last_heard = now;
            return;
        }
        if self.instances.len() >= self.config.max_sender_instances.max(1)
            && let Some(pos) = self
                .instances
                .iter()
                .enumerate()
                .min_by_key(|(_, i)| i.last_heard)
                .map(|(p, _)| p)
        {
            let old = self.instances.swap_remove(pos);
            self.retired_ms = self.retired_ms.max(old.newest_ms);
            self.counters.instances_retired += 1;
        }
        let mut window = ReplayWindow::new();
        window.mark(env.sequence);
        self.instances.push(SenderInstance {
            id: env.sender,
            window,
            newest_ms: env.timestamp_ms,
            last_heard: now,
        });
    }

    fn count_reject(&mut self, e: &OpenError) {
        let c = &mut self.counters;
        match e {
            OpenError::Wire(_) => c.rejected_wire += 1,
            OpenError::UnknownKey(_) => c.rejected_unknown_key += 1,
            OpenError::BadTag => c.rejected_bad_tag += 1,
            OpenError::Reflected => c.rejected_reflected += 1,
            OpenError::PredatesReceiver => c.rejected_predates_receiver += 1,
            OpenError::Stale => c.rejected_stale += 1,
            OpenError::FromFuture => c.rejected_from_future += 1,
            OpenError::Replayed => c.rejected_replayed += 1,
            OpenError::TooOld => c.rejected_too_old += 1,
            OpenError::RetiredInstance => c.rejected_retired_instance += 1,
            OpenError::Malformed(_) => c.rejected_malformed += 1,
        }
    }

    pub fn receiver_state(&self) -> ReceiverState {
        ReceiverState {
            instances: self
                .instances
                .iter()
                .map(|i| (i.id, i.window, i.newest_ms))
                .collect(),
            retired_ms: self.retired_ms,
            last_heard: self.last_heard,
        }
    }

    pub fn liveness(&self, now: Instant) -> Liveness {
        match self.last_heard {
            None => Liveness::Unknown,
            Some(t) if now.saturating_duration_since(t) < self.config.dead_after => Liveness::Alive,
            Some(_) => Liveness::Dead,
        }
    }

    /// Whether the peer is known to be down: `Dead`, or `Unknown` for `dead_after` since
    /// this channel started (the first Hello exchange failed). False during the first
    /// round trip after a start, so nothing is refused before the peer had a chance to
    /// answer. The caller must send the queued Hellos (`poll_transmit`) for this to mean
    /// anything.
    pub fn peer_down(&self, now: Instant) -> bool {
        match self.liveness(now) {
            Liveness::Alive => false,
            Liveness::Dead => true,
            Liveness::Unknown => {
                now.saturating_duration_since(self.started) >= self.config.dead_after
            }
        }
    }

    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// When the next Hello is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_keepalive)
    }

    /// Queues a Hello if nothing was sent for a keepalive interval.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_keepalive {
            self.pending_hello = true;
        }
    }

    /// A sealed Hello to send, when one is due.
    pub fn poll_transmit(&mut self, now: Instant, wall: SystemTime) -> Option<Vec<u8>> {
        if !self.pending_hello {
            return None;
        }
        self.seal(now, wall, &RedirectMessage::Hello).ok()
    }
}
