//! The mote's session slots: for each (client address, client port), the DTLS 1.2 record
//! layer of one transferred session and nothing else (docs/session-transfer.md). Records
//! are checked (epoch, replay window), opened, and their application data queued for the
//! application; close_notify is answered in kind and frees the slot, a fatal alert frees
//! it. A session without an authenticated record from its client for the idle time
//! (minutes) is dropped. Before that, once it has gone without one for the shorter eviction
//! time, it is *idle*: when every slot is taken, the least recently used idle session gives
//! way to a new transfer that may evict. A session in use never gives way; a transfer that
//! finds none idle is refused ([`Installation::Full`]), which the IoTSSP turns into an
//! alert for its client.

use core::time::Duration;

use dtls_wire::{
    ContentType, HEADER_LEN, ProtocolVersion, Record, RecordHeader, ReplayWindow, records,
};
use mote_assoc::Installation;
use mote_assoc::crypto::Aes128Block;
use mote_assoc::time::Instant;
use mote_assoc::wire::{SequenceNumbers, SessionKeys, Suite, SuiteSet, TransferBody};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::protection::{self, DirectionKeys, IV_LEN, KEY_LEN, RecordId};
use crate::queue::{Head, Queue};
use crate::{Address, LocalPort};

/// The epoch of every transferred session (the handshake's epoch 1 goes on; no
/// renegotiation).
pub const EPOCH: u16 = 1;

/// Default of [`Sessions::set_evict_after`]: the same as a DCert or CDPSK mote's engine
/// (`dtls::config::DEFAULT_EVICT_IDLE_AFTER`).
pub const DEFAULT_EVICT_AFTER: Duration = Duration::from_secs(30);

/// Largest 48-bit sequence number.
const MAX_SEQUENCE: u64 = (1 << 48) - 1;

/// Alert levels and the close_notify description (RFC 5246 7.2).
const ALERT_WARNING: u8 = 1;
const ALERT_FATAL: u8 = 2;
const CLOSE_NOTIFY: u8 = 0;

/// Alerts and other short records are opened in a buffer of this size on the stack, so
/// they get through while the receive queue is full.
const SHORT_RECORD: usize = 64;

/// The session's keys and IVs from the mote's side (the peer's write direction is what the
/// mote reads), padded to the largest compiled suite's sizes.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Keys {
    read_key: [u8; KEY_LEN],
    write_key: [u8; KEY_LEN],
    read_iv: [u8; IV_LEN],
    write_iv: [u8; IV_LEN],
}

impl Keys {
    /// The mote writes with the server's keys when it took over the server's side, and with
    /// the client's when it is the client (an outbound session, `mote_is_client`).
    fn from_body(keys: &SessionKeys, mote_is_client: bool) -> Keys {
        let mut k = Keys {
            read_key: [0; KEY_LEN],
            write_key: [0; KEY_LEN],
            read_iv: [0; IV_LEN],
            write_iv: [0; IV_LEN],
        };
        fn put(to: &mut [u8], from: &[u8]) {
            for (t, f) in to.iter_mut().zip(from) {
                *t = *f;
            }
        }
        match keys {
            SessionKeys::Ccm8(b) | SessionKeys::Ccm(b) | SessionKeys::Gcm(b) => {
                put(&mut k.read_key, &b.client_write_key);
                put(&mut k.write_key, &b.server_write_key);
                put(&mut k.read_iv, &b.client_write_iv);
                put(&mut k.write_iv, &b.server_write_iv);
            }
            // Without the suite compiled in, `Sessions` refuses its transfers before this.
            SessionKeys::ChaCha20Poly1305(b) => {
                if cfg!(feature = "suite-chacha20-poly1305") {
                    put(&mut k.read_key, &b.client_write_key);
                    put(&mut k.write_key, &b.server_write_key);
                    put(&mut k.read_iv, &b.client_write_iv);
                    put(&mut k.write_iv, &b.server_write_iv);
                }
            }
        }
        if mote_is_client {
            core::mem::swap(&mut k.read_key, &mut k.write_key);
            core::mem::swap(&mut k.read_iv, &mut k.write_iv);
        }
        k
    }

    /// The peer's direction (what the mote reads).
    fn read(&self) -> DirectionKeys<'_> {
        DirectionKeys {
            key: &self.read_key,
            iv: &self.read_iv,
        }
    }

    /// The mote's direction.
    fn write(&self) -> DirectionKeys<'_> {
        DirectionKeys {
            key: &self.write_key,
            iv: &self.write_iv,
        }
    }
}

/// One transferred session. Its keys are wiped when it is dropped.
pub(crate) struct Slot {
    peer: Address,
    suite: Suite,
    keys: Keys,
    replay: ReplayWindow,
    next_write_seq: u64,
    /// The mote is the client (an outbound session it asked its IoTSSP for): what the
    /// peer sends are responses.
    mote_is_client: bool,
    /// The last authenticated record from the client (or the install).
    last_used: Instant,
}

/// The record layer's counters: what it did, and each reason it dropped something.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Sessions installed from a Transfer (replacements and evictions included).
    pub installed: u64,
    /// Installs that replaced the same client's previous session.
    pub replaced: u64,
    /// Idle sessions dropped to make room for a new one.
    pub evicted: u64,
    /// Transfers refused because every slot held a session in use (none idle for the
    /// eviction time, or the transfer may not evict).
    pub refused_full: u64,
    /// Sessions dropped after the idle time without a record.
    pub expired: u64,
    /// Sessions ended by a close_notify or a fatal alert from the client, or by the
    /// application.
    pub closed: u64,
    /// Records that came in for an installed session.
    pub records_in: u64,
    pub app_data_in: u64,
    pub app_data_out: u64,
    pub alerts_in: u64,
    pub alerts_out: u64,
    /// A datagram from a peer without a session.
    pub no_session: u64,
    /// A datagram whose records could not be delimited (the rest of it was dropped).
    pub malformed: u64,
    /// A record of another epoch than the session's (a handshake flight: the IoTSSP's).
    pub unknown_epoch: u64,
    /// A record the replay window refuses (seen, or older than the window).
    pub replayed: u64,
    /// A record whose AEAD did not open.
    pub decrypt_failed: u64,
    /// An alert record that is not two bytes.
    pub bad_alert: u64,
    /// A protected handshake, ChangeCipherSpec or unknown record (renegotiation is not
    /// for a mote).
    pub unexpected_content_type: u64,
    /// Application data dropped because the receive queue was full.
    pub receive_queue_full: u64,
    /// Records not sent because the transmit queue was full.
    pub transmit_queue_full: u64,
}

/// The session slots: room for `N`, of which `offered` are used.
pub struct Sessions<const N: usize> {
    slots: [Option<Slot>; N],
    offered: usize,
    suites: SuiteSet,
    /// A session without a record for this long is dropped.
    idle: Duration,
    /// A session without a record for this long gives way to a new one when the slots are
    /// full.
    evict_after: Duration,
    stats: SessionStats,
}

/// Why [`crate::DelegatedMote::send`] sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No session with that address and port.
    NoSession,
    /// The transmit queue has no room for the record; poll it out first.
    QueueFull,
    /// 2^48 records were written: the session must end.
    SequenceExhausted,
    /// Longer than a record may carry (2^14 bytes).
    TooLong,
}

impl<const N: usize> Sessions<N> {
    /// Empty slots for sessions of `suites` (those of them this build compiles in,
    /// [`protection::COMPILED_SUITES`]), dropped after `idle` without a record and giving
    /// way after [`DEFAULT_EVICT_AFTER`]; `offered` of the `N` are used (a device that sets
    /// its slot count at run time).
    pub fn new(suites: SuiteSet, idle: Duration, offered: usize) -> Self {
        Sessions {
            slots: core::array::from_fn(|_| None),
            offered: offered.min(N),
            suites: SuiteSet(suites.0 & protection::COMPILED_SUITES.0),
            idle,
            evict_after: DEFAULT_EVICT_AFTER,
            stats: SessionStats::default(),
        }
    }

    /// A session without a record from its client for `after` (at most the idle time) may
    /// give way to a new transfer when every slot is taken.
    pub fn set_evict_after(&mut self, after: Duration) {
        self.evict_after = after;
    }

    /// How long a session goes without a record before it is dropped.
    pub fn idle_time(&self) -> Duration {
        self.idle
    }

    /// How long a session goes without a record before it may give way to a new one.
    pub fn evict_after(&self) -> Duration {
        self.evict_after.min(self.idle)
    }

    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    pub fn suites(&self) -> SuiteSet {
        self.suites
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots offered.
    pub const fn capacity(&self) -> usize {
        self.offered
    }

    /// The clients with a session.
    pub fn peers(&self) -> impl Iterator<Item = Address> + '_ {
        self.slots.iter().flatten().map(|s| s.peer)
    }

    pub fn contains(&self, peer: &Address) -> bool {
        self.find(peer).is_some()
    }

    /// The mote is the client of its session with `peer` (an outbound session, a server
    /// it reports to); false without a session.
    pub fn is_client_of(&self, peer: &Address) -> bool {
        self.find(peer)
            .and_then(|i| self.slots.get(i)?.as_ref())
            .is_some_and(|s| s.mote_is_client)
    }

    fn find(&self, peer: &Address) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.peer == *peer))
    }

    /// Drops slot `i`'s session (its keys are wiped as it drops).
    fn free(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = None;
        }
    }

    /// Whether `slot` may give way to a new session at `now`.
    fn is_idle(&self, slot: &Slot, now: Instant) -> bool {
        now.saturating_since(slot.last_used) >= self.evict_after()
    }

    /// Slots a new transfer that may evict can take at `now`: free ones, and those of idle
    /// sessions (a client gone without close_notify must not hold the mote busy). The
    /// association reports it to the IoTSSP with each AssocReady and Confirm.
    pub fn free_for_new(&self, now: Instant) -> usize {
        let busy = self
            .slots
            .iter()
            .flatten()
            .filter(|s| !self.is_idle(s, now))
            .count();
        self.offered.saturating_sub(busy)
    }

    /// Drops (and wipes) the sessions idle for the idle time; how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        let idle = self.idle;
        for slot in &mut self.slots {
            if slot
                .as_ref()
                .is_some_and(|s| now.saturating_since(s.last_used) >= idle)
            {
                *slot = None;
                n += 1;
            }
        }
        self.stats.expired += n as u64;
        n
    }

    /// When the next session expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .map(|s| s.last_used + self.idle)
            .min()
    }

    /// Installs a transferred session at `now` (what the association's Transfer carries:
    /// the client's highest sequence number seen, and nothing below it).
    pub fn install(&mut self, now: Instant, body: &TransferBody) -> Installation {
        self.install_with_window(now, body, 1)
    }

    /// [`Self::install`] with the replay window below the highest sequence number as the
    /// negotiating host had it (bit `i`: highest - `i` seen; bit 0 is always set).
    pub fn install_with_window(
        &mut self,
        now: Instant,
        body: &TransferBody,
        replay_bitmap: u64,
    ) -> Installation {
        let suite = body.suite();
        if !self.suites.contains(suite) {
            return Installation::UnsupportedSuite;
        }
        let peer = Address {
            addr: body.client_addr,
            port: body.client_port,
        };
        let i = if let Some(i) = self.find(&peer) {
            // The same client's new handshake: its old session is of no use to it.
            self.stats.replaced += 1;
            i
        } else if let Some(i) = self
            .slots
            .iter()
            .position(Option::is_none)
            .filter(|_| self.len() < self.offered)
        {
            i
        } else {
            // Only an idle session gives way, the least recently used first.
            let lru = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
                .filter(|&(_, s)| body.may_evict && self.is_idle(s, now))
                .min_by_key(|&(_, s)| s.last_used)
                .map(|(i, _)| i);
            let Some(i) = lru else {
                self.stats.refused_full += 1;
                return Installation::Full;
            };
            self.stats.evicted += 1;
            i
        };
        let SequenceNumbers {
            highest_received,
            next_write,
        } = body.sequence_numbers();
        let Some(slot) = self.slots.get_mut(i) else {
            return Installation::Full;
        };
        // The replaced or evicted session's keys are wiped as it drops.
        *slot = Some(Slot {
            peer,
            suite,
            keys: Keys::from_body(&body.keys, body.mote_is_client),
            replay: ReplayWindow::from_parts(Some(highest_received), replay_bitmap),
            next_write_seq: next_write,
            mote_is_client: body.mote_is_client,
            last_used: now,
        });
        self.stats.installed += 1;
        Installation::Installed
    }

    /// Ends `peer`'s session: close_notify out (if the transmit queue has room), keys wiped.
    pub(crate) fn close<A: Aes128Block, const B: usize>(
        &mut self,
        peer: &Address,
        tx: &mut Queue<B>,
    ) -> Result<(), SendError> {
        let i = self.find(peer).ok_or(SendError::NoSession)?;
        let sent =
            self.seal_into::<A, B>(i, ContentType::Alert, &[ALERT_WARNING, CLOSE_NOTIFY], tx);
        if sent.is_ok() {
            self.stats.alerts_out += 1;
        }
        self.free(i);
        self.stats.closed += 1;
        sent
    }

    /// Seals `payload` as one application-data record to `peer` into the transmit queue.
    pub(crate) fn send<A: Aes128Block, const B: usize>(
        &mut self,
        peer: &Address,
        payload: &[u8],
        tx: &mut Queue<B>,
    ) -> Result<(), SendError> {
        let i = self.find(peer).ok_or(SendError::NoSession)?;
        self.seal_into::<A, B>(i, ContentType::ApplicationData, payload, tx)?;
        self.stats.app_data_out += 1;
        Ok(())
    }

    fn seal_into<A: Aes128Block, const B: usize>(
        &mut self,
        i: usize,
        content_type: ContentType,
        payload: &[u8],
        tx: &mut Queue<B>,
    ) -> Result<(), SendError> {
        let Some(Some(slot)) = self.slots.get_mut(i) else {
            return Err(SendError::NoSession);
        };
        if payload.len() > 16384 {
            return Err(SendError::TooLong);
        }
        let seq = slot.next_write_seq;
        if seq > MAX_SEQUENCE {
            return Err(SendError::SequenceExhausted);
        }
        let e = protection::explicit_nonce_len(slot.suite);
        let body_len = payload.len() + protection::overhead(slot.suite);
        let room = tx.room();
        let Some(record) = room.get_mut(..HEADER_LEN + body_len) else {
            self.stats.transmit_queue_full += 1;
            return Err(SendError::QueueFull);
        };
        let header = RecordHeader {
            content_type,
            version: ProtocolVersion::DTLS1_2,
            epoch: EPOCH,
            sequence_number: seq,
        };
        let (head, body) = record.split_at_mut(HEADER_LEN);
        // Below 2^14 + 24.
        header.emit_header(body_len as u16, &mut Record::new_unchecked(head));
        body[e..e + payload.len()].copy_from_slice(payload);
        let id = RecordId {
            content_type: content_type.into(),
            version: ProtocolVersion::DTLS1_2.0,
            epoch: EPOCH,
            sequence_number: seq,
        };
        if protection::seal::<A>(slot.suite, &slot.keys.write(), id, body).is_err() {
            tx.wipe_room();
            self.stats.transmit_queue_full += 1;
            return Err(SendError::QueueFull);
        }
        // The number is spent even if the queue refuses the entry: never reuse a nonce.
        slot.next_write_seq = seq + 1;
        let head = Head {
            local: LocalPort::Session,
            remote: slot.peer,
        };
        if tx.commit(head, HEADER_LEN + body_len) {
            Ok(())
        } else {
            tx.wipe_room();
            self.stats.transmit_queue_full += 1;
            Err(SendError::QueueFull)
        }
    }

    /// A datagram from `peer` to the session port: every record opened, application data
    /// queued in `rx`, answers (close_notify) in `tx`.
    pub(crate) fn handle_datagram<A: Aes128Block, const B: usize>(
        &mut self,
        now: Instant,
        peer: &Address,
        datagram: &[u8],
        rx: &mut Queue<B>,
        tx: &mut Queue<B>,
    ) {
        let Some(i) = self.find(peer) else {
            self.stats.no_session += 1;
            return;
        };
        for rec in records(datagram) {
            let Ok(rec) = rec else {
                self.stats.malformed += 1;
                break;
            };
            self.stats.records_in += 1;
            match self.open_record::<A, B>(now, i, &rec, rx, tx) {
                RecordOutcome::Continue => {}
                RecordOutcome::Closed => {
                    self.free(i);
                    self.stats.closed += 1;
                    break;
                }
            }
        }
    }

    fn open_record<A: Aes128Block, const B: usize>(
        &mut self,
        now: Instant,
        i: usize,
        rec: &Record<&[u8]>,
        rx: &mut Queue<B>,
        tx: &mut Queue<B>,
    ) -> RecordOutcome {
        let Some(Some(slot)) = self.slots.get_mut(i) else {
            return RecordOutcome::Continue;
        };
        if rec.epoch() != EPOCH {
            self.stats.unknown_epoch += 1;
            return RecordOutcome::Continue;
        }
        let seq = rec.sequence_number();
        if slot.replay.check(seq).is_err() {
            self.stats.replayed += 1;
            return RecordOutcome::Continue;
        }
        let content_type = rec.content_type();
        let fragment = rec.fragment();
        let id = RecordId {
            content_type: content_type.into(),
            version: rec.version().0,
            epoch: EPOCH,
            sequence_number: seq,
        };
        let e = protection::explicit_nonce_len(slot.suite);
        let mut short = [0u8; SHORT_RECORD];
        let into_queue = content_type == ContentType::ApplicationData;
        let scratch: &mut [u8] = if into_queue { rx.room() } else { &mut short };
        let Some(body) = scratch.get_mut(..fragment.len()) else {
            if into_queue {
                self.stats.receive_queue_full += 1;
            } else {
                self.stats.unexpected_content_type += 1;
            }
            return RecordOutcome::Continue;
        };
        body.copy_from_slice(fragment);
        let Ok(len) = protection::open::<A>(slot.suite, &slot.keys.read(), id, body) else {
            self.stats.decrypt_failed += 1;
            return RecordOutcome::Continue;
        };
        slot.replay.mark(seq);
        slot.last_used = now;
        let peer = slot.peer;
        match content_type {
            ContentType::ApplicationData => {
                self.stats.app_data_in += 1;
                if len > 0 {
                    body.copy_within(e..e + len, 0);
                    let head = Head {
                        local: LocalPort::Session,
                        remote: peer,
                    };
                    if !rx.commit(head, len) {
                        self.stats.receive_queue_full += 1;
                    }
                }
                rx.wipe_room();
                RecordOutcome::Continue
            }
            ContentType::Alert => {
                self.stats.alerts_in += 1;
                let alert = body.get(e..e + len);
                let outcome = match alert {
                    Some(&[_, CLOSE_NOTIFY]) => {
                        // Answer in kind (RFC 5246 7.2.1), then forget the keys.
                        let reply = [ALERT_WARNING, CLOSE_NOTIFY];
                        if self
                            .seal_into::<A, B>(i, ContentType::Alert, &reply, tx)
                            .is_ok()
                        {
                            self.stats.alerts_out += 1;
                        }
                        RecordOutcome::Closed
                    }
                    Some(&[ALERT_FATAL, _]) => RecordOutcome::Closed,
                    Some(&[_, _]) => RecordOutcome::Continue,
                    _ => {
                        self.stats.bad_alert += 1;
                        RecordOutcome::Continue
                    }
                };
                short.zeroize();
                outcome
            }
            ContentType::Handshake | ContentType::ChangeCipherSpec | ContentType::Unknown(_) => {
                short.zeroize();
                self.stats.unexpected_content_type += 1;
                RecordOutcome::Continue
            }
        }
    }
}

enum RecordOutcome {
    Continue,
    Closed,
}
