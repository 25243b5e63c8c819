//! The sessions a delegated mote took over, run by the `delegated-mote` library: the code a
//! real mote links. For each (peer address, peer port) on 5684 there is nothing but the
//! DTLS record layer built from transferred keys and counters; CoAP is answered (other data
//! echoed) in the next write sequence numbers, all answers to one datagram coalesced into
//! one; close_notify and fatal alerts end the session. A bounded table: a new session in a
//! full table takes the place of the one unused for longest if that one is idle (no record
//! for the eviction time), and is refused otherwise.
//!
//! On the association leg the library's whole mote ([`MoteCore`]: the association in front
//! of the sessions) runs here; on the PSK-handshake leg only its session layer does. The
//! library's clock is milliseconds since the mote's first activity; its counters are added
//! to the device's ([`SessionTable::sync_counters`]).

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use delegated_mote::{
    Address, Config, DelegatedMote, DeviceStats, LocalPort, QueueStats, ReportAction, Reporter,
    SendError, SessionLayer, SessionStats, Sessions, SuiteSet,
};
use dtls::record::RecordAead;
use dtls::{Error, SessionState};
use mote_assoc::crypto::{SoftAes, SoftEcdh};
use mote_assoc::wire::{KeyBlock, SequenceNumbers, SessionKeys, TransferBody};

use super::association::AssocRandom;
use super::{DtlsDrop, SecurityCounters};
use crate::mote::service::{Peer, UdpService};

/// Slots compiled in: the most a delegated mote may be configured with.
pub const SLOTS: usize = crate::cli::MAX_SESSION_SLOTS;
/// Bytes of each of the library's queues (received plaintext, records to send).
const BUF: usize = 4096;

/// The library's mote as the emulation runs it: software AES and ECDH, the device's seeded
/// randomness.
pub type MoteCore = DelegatedMote<SoftAes, SoftEcdh, AssocRandom, SLOTS, BUF>;
type Layer = SessionLayer<SoftAes, SLOTS, BUF>;

enum Core {
    /// The association in front of the sessions.
    Mote(Box<MoteCore>),
    /// Sessions installed by the device itself.
    Layer(Box<Layer>),
}

/// How long a transferred session is kept without a record from its client, and after how
/// long without one it gives way to a new session in a full table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimes {
    pub idle: Duration,
    pub evict_after: Duration,
}

/// What happened to a session when one was installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// A free slot took it.
    New,
    /// The peer already had a session: the new one replaces it.
    Replaced,
    /// The idle session unused for longest was dropped to make room.
    EvictedOldest,
}

/// Transferred sessions.
pub struct SessionTable {
    core: Core,
    /// The library's time zero: the mote's first activity.
    origin: Option<Instant>,
    /// The library's counters as last added to the device's.
    synced: (SessionStats, QueueStats, DeviceStats),
    /// The resumption cache's counters at the last sync.
    synced_resumption: delegated_mote::ResumptionStats,
}

impl std::fmt::Debug for SessionTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.peers()).finish()
    }
}

fn address(peer: Peer) -> Address {
    Address {
        addr: peer.addr.octets(),
        port: peer.port,
    }
}

fn peer(a: Address) -> Peer {
    Peer {
        addr: Ipv6Addr::from(a.addr),
        port: a.port,
    }
}

impl SessionTable {
    /// `slots` sessions (at most [`SLOTS`]) of any suite, installed by the device.
    pub fn new(slots: usize, times: SessionTimes) -> Self {
        let mut layer = Layer::new(SuiteSet(0b1111), times.idle, slots.clamp(1, SLOTS));
        layer.set_evict_after(times.evict_after);
        Self::with_core(Core::Layer(Box::new(layer)))
    }

    /// The library's whole mote: sessions installed by its association.
    pub fn with_association(mote: MoteCore) -> Self {
        Self::with_core(Core::Mote(Box::new(mote)))
    }

    fn with_core(core: Core) -> Self {
        SessionTable {
            core,
            origin: None,
            synced: Default::default(),
            synced_resumption: Default::default(),
        }
    }

    /// The library's mote, on the association leg.
    pub fn mote(&self) -> Option<&MoteCore> {
        match &self.core {
            Core::Mote(m) => Some(m),
            Core::Layer(_) => None,
        }
    }

    fn layer(&mut self) -> &mut Layer {
        match &mut self.core {
            Core::Mote(m) => m.session_layer(),
            Core::Layer(l) => l,
        }
    }

    fn sessions(&self) -> &Sessions<SLOTS> {
        match &self.core {
            Core::Mote(m) => m.sessions(),
            Core::Layer(l) => l.sessions(),
        }
    }

    /// The mote's first activity has happened (its clock runs).
    pub fn booted(&self) -> bool {
        self.origin.is_some()
    }

    /// `now` on the library's clock (the first call starts it).
    fn at(&mut self, now: Instant) -> mote_assoc::Instant {
        let origin = *self.origin.get_or_insert(now);
        since(origin, now)
    }

    /// `now` on the library's clock without starting it.
    fn peek(&self, now: Instant) -> mote_assoc::Instant {
        self.origin
            .map_or(mote_assoc::Instant::ZERO, |origin| since(origin, now))
    }

    fn to_std(&self, t: mote_assoc::Instant) -> Option<Instant> {
        self.origin
            .map(|origin| origin + Duration::from_millis(t.as_millis()))
    }

    /// Slots a new transfer may take at `now`: free ones, and those of sessions idle for
    /// the eviction time (a client that went away without close_notify must not make the
    /// mote busy for ever).
    pub fn free_for_new(&self, now: Instant) -> usize {
        self.sessions().free_for_new(self.peek(now))
    }

    /// Drops the sessions without an authenticated record for the idle time (their keys
    /// are wiped with them): a transferred session is not held for ever. Returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.sessions().stats().expired;
        let t = self.at(now);
        self.layer().handle_timeout(t);
        (self.sessions().stats().expired - before) as usize
    }

    /// When the next session expires, if any.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.sessions().next_expiry().and_then(|t| self.to_std(t))
    }

    /// When the library's timers are due (the association's, an abbreviated handshake's
    /// retransmission, a session's expiry); `None` before the mote's first activity. On the
    /// PSK-handshake leg expiry needs no timer of its own: every datagram and timer call
    /// runs it, and an idle session already yields its slot to a new transfer
    /// (`free_for_new`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.origin?;
        let t = match &self.core {
            Core::Mote(m) => m.poll_timeout(),
            Core::Layer(_) => None,
        };
        t.and_then(|t| self.to_std(t))
    }

    /// Runs the library's timers (the first call starts the mote's clock: on the
    /// association leg, its AssocHello).
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.at(now);
        match &mut self.core {
            Core::Mote(m) => m.handle_timeout(t),
            Core::Layer(l) => l.handle_timeout(t),
        }
    }

    /// A datagram to the association port (association leg only).
    pub fn handle_association_datagram(
        &mut self,
        now: Instant,
        from: Peer,
        payload: &[u8],
    ) -> Option<mote_assoc::MoteEvent> {
        let t = self.at(now);
        match &mut self.core {
            Core::Mote(m) => m.handle_datagram(t, LocalPort::Association, &address(from), payload),
            Core::Layer(_) => None,
        }
    }

    /// Keyless delegation: has `signer` answer the IoTSSP's waiting signature request (see
    /// [`delegated_mote::DelegatedMote::answer_sign_request`]); false when none waits.
    pub fn answer_sign_request(&mut self, signer: &mut impl delegated_mote::EcdsaP256Sign) -> bool {
        match &mut self.core {
            Core::Mote(m) => m.answer_sign_request(signer),
            Core::Layer(_) => false,
        }
    }

    /// The library's next datagram: the local port it leaves from, its peer, its bytes.
    pub fn poll_transmit(&mut self) -> Option<(LocalPort, Peer, Vec<u8>)> {
        let mut buf = vec![0u8; BUF.max(mote_assoc::MAX_DATAGRAM_LEN)];
        let (local, to, len) = match &mut self.core {
            Core::Mote(m) => {
                let t = m.poll_transmit(&mut buf)?;
                (t.local, t.remote, t.len)
            }
            Core::Layer(l) => {
                let (to, len) = l.poll_transmit(&mut buf)?;
                (LocalPort::Session, to, len)
            }
        };
        buf.truncate(len);
        Some((local, peer(to), buf))
    }

    pub fn peers(&self) -> impl Iterator<Item = Peer> + '_ {
        self.sessions().peers().map(peer)
    }

    pub fn len(&self) -> usize {
        self.sessions().len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions().is_empty()
    }

    /// Slots still free.
    pub fn free(&self) -> usize {
        self.sessions().capacity().saturating_sub(self.len())
    }

    pub fn contains(&self, peer: &Peer) -> bool {
        self.sessions().contains(&address(*peer))
    }

    /// Install the record layer of a transferred session for `peer` (evicting the idle
    /// session unused for longest if the table is full); an error (keys or epochs the
    /// record layer cannot use, or a full table with no idle session) installs nothing.
    pub fn install(
        &mut self,
        now: Instant,
        peer: Peer,
        state: &SessionState,
    ) -> Result<Installed, Error> {
        let (body, bitmap) = transfer_body(peer, state)?;
        let before = self.sessions().stats().clone();
        let t = self.at(now);
        match self.layer().install_with_window(t, &body, bitmap) {
            mote_assoc::Installation::Installed => {}
            mote_assoc::Installation::Full => {
                return Err(Error::Config("every session slot is in use"));
            }
            mote_assoc::Installation::UnsupportedSuite => {
                return Err(Error::Config("the session table refused the session"));
            }
        }
        let after = self.sessions().stats();
        Ok(if after.replaced > before.replaced {
            Installed::Replaced
        } else if after.evicted > before.evicted {
            Installed::EvictedOldest
        } else {
            Installed::New
        })
    }

    /// Outbound delegation: `reporter`'s step on the library's mote (a Connect when one is
    /// due, or whether a report is). Nothing before the mote's first activity (association
    /// leg only).
    pub fn report_step(&mut self, now: Instant, reporter: &mut Reporter) -> ReportAction {
        if !self.booted() {
            return ReportAction::Idle;
        }
        let t = self.at(now);
        match &mut self.core {
            Core::Mote(m) => reporter.handle_timeout(t, m),
            Core::Layer(_) => ReportAction::Idle,
        }
    }

    /// When `reporter` has work next.
    pub fn report_timeout(&self, reporter: &Reporter) -> Option<Instant> {
        let t = match &self.core {
            Core::Mote(m) => reporter.poll_timeout(m)?,
            Core::Layer(_) => return None,
        };
        // Due now when the library says "at once" (its time zero).
        self.to_std(t)
    }

    /// Sends `data` as one application-data record on the session with `to` (the record
    /// leaves with the library's next transmit).
    pub fn send(&mut self, to: Peer, data: &[u8]) -> Result<(), SendError> {
        self.layer().send(&address(to), data)
    }

    /// Ends the session with `to`: a close_notify (leaving with the library's next
    /// transmit), then its keys are wiped. An outbound session stays resumable.
    pub fn close(&mut self, to: Peer) -> Result<(), SendError> {
        self.layer().close(&address(to))
    }

    /// A datagram from `from` to 5684: open every record; answer CoAP requests with
    /// `coap`; returns the datagram to send back (all answers coalesced), if any. On a
    /// session the mote is the client of (outbound), what comes in are responses: counted,
    /// the last one kept in `counters.outbound_last_response`, none answered.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: Peer,
        datagram: &[u8],
        coap: &mut dyn UdpService,
        counters: &mut SecurityCounters,
    ) -> Option<Vec<u8>> {
        let t = self.at(now);
        let source = address(from);
        let responses = self.sessions().is_client_of(&source);
        match &mut self.core {
            Core::Mote(m) => {
                m.handle_datagram(t, LocalPort::Session, &source, datagram);
            }
            Core::Layer(l) => l.handle_datagram(t, &source, datagram),
        }
        let layer = self.layer();
        let mut buf = vec![0u8; BUF];
        while let Some(r) = layer.recv(&mut buf) {
            if responses {
                counters.coap_responses_in += 1;
                counters.outbound_last_response = coap_summary(&buf[..r.len]);
                continue;
            }
            for reply in super::app::answer(coap, now, peer(r.from), &buf[..r.len]) {
                // A full queue is counted by the library; a session closed by a later
                // record of the same datagram is not.
                if let Err(
                    delegated_mote::SendError::NoSession
                    | delegated_mote::SendError::TooLong
                    | delegated_mote::SendError::SequenceExhausted,
                ) = layer.send(&r.from, &reply)
                {
                    counters.drop(DtlsDrop::WriteFailed);
                }
            }
        }
        let mut out = Vec::new();
        while let Some((_, len)) = layer.poll_transmit(&mut buf) {
            out.extend_from_slice(&buf[..len]);
        }
        self.sync_counters(counters);
        (!out.is_empty()).then_some(out)
    }

    /// Adds what the library counted since the last call to the device's counters.
    pub fn sync_counters(&mut self, c: &mut SecurityCounters) {
        let (s, q, d) = match &self.core {
            Core::Mote(m) => (
                m.session_stats().clone(),
                m.queue_stats().clone(),
                m.device_stats().clone(),
            ),
            Core::Layer(l) => (
                l.sessions().stats().clone(),
                l.queue_stats().clone(),
                DeviceStats::default(),
            ),
        };
        if let Core::Mote(m) = &self.core {
            let r = m.resumption_stats().clone();
            let r0 = &self.synced_resumption;
            c.resumption_hellos += r.hellos - r0.hellos;
            c.sessions_resumed += r.resumed - r0.resumed;
            c.resumption_fallbacks += r.fallbacks - r0.fallbacks;
            c.resumable_sessions_cached += r.cached - r0.cached;
            self.synced_resumption = r;
        }
        let (s0, q0, d0) = &self.synced;
        c.sessions_transferred += s.installed - s0.installed;
        c.sessions_evicted += s.evicted - s0.evicted;
        c.clients_refused += s.refused_full - s0.refused_full;
        c.sessions_expired += s.expired - s0.expired;
        c.sessions_closed += s.closed - s0.closed;
        c.dtls_records_in += s.records_in - s0.records_in;
        c.app_data_in += s.app_data_in - s0.app_data_in;
        c.app_data_out += s.app_data_out - s0.app_data_out;
        c.alerts_in += s.alerts_in - s0.alerts_in;
        c.alerts_out += s.alerts_out - s0.alerts_out;
        let drops = [
            (DtlsDrop::NoSession, s.no_session - s0.no_session),
            (DtlsDrop::MalformedRecord, s.malformed - s0.malformed),
            (
                DtlsDrop::UnknownEpochOrReplay,
                (s.unknown_epoch + s.replayed) - (s0.unknown_epoch + s0.replayed),
            ),
            (
                DtlsDrop::DecryptFailed,
                s.decrypt_failed - s0.decrypt_failed,
            ),
            (DtlsDrop::BadAlert, s.bad_alert - s0.bad_alert),
            (
                DtlsDrop::UnexpectedContentType,
                s.unexpected_content_type - s0.unexpected_content_type,
            ),
            (
                DtlsDrop::BadRecord,
                (s.receive_queue_full + q.receive_buffer_too_short)
                    - (s0.receive_queue_full + q0.receive_buffer_too_short),
            ),
            (
                DtlsDrop::WriteFailed,
                (s.transmit_queue_full + q.transmit_buffer_too_short)
                    - (s0.transmit_queue_full + q0.transmit_buffer_too_short),
            ),
            (
                DtlsDrop::NotFromIotssp,
                d.not_from_iotssp - d0.not_from_iotssp,
            ),
        ];
        for (reason, n) in drops {
            for _ in 0..n {
                c.drop(reason);
            }
        }
        self.synced = (s, q, d);
    }
}

/// A CoAP response as text: its code and its payload.
fn coap_summary(bytes: &[u8]) -> String {
    match coap_lite::Packet::from_bytes(bytes) {
        Ok(p) => format!("{} {}", p.header.code, String::from_utf8_lossy(&p.payload)),
        Err(_) => format!("{} bytes, not CoAP", bytes.len()),
    }
}

fn since(origin: Instant, now: Instant) -> mote_assoc::Instant {
    let ms = now.saturating_duration_since(origin).as_millis();
    mote_assoc::Instant::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The library's form of a session the device negotiated or was sent (epoch 1 both ways,
/// as after every handshake), and its replay bitmap.
fn transfer_body(peer: Peer, s: &SessionState) -> Result<(TransferBody, u64), Error> {
    if s.read_epoch != 1 || s.write_epoch != 1 {
        return Err(Error::Config("a transferred session continues epoch 1"));
    }
    let k = &s.keys;
    let bad = || Error::Config("record keys of the wrong length");
    fn arr<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
        b.try_into().ok()
    }
    let b16 = || -> Option<KeyBlock<16, 4>> {
        Some(KeyBlock {
            client_write_key: arr(k.client_write_key())?,
            server_write_key: arr(k.server_write_key())?,
            client_write_iv: arr(k.client_iv())?,
            server_write_iv: arr(k.server_iv())?,
        })
    };
    let keys = match k.aead() {
        RecordAead::Aes128Ccm8 => SessionKeys::Ccm8(b16().ok_or_else(bad)?),
        RecordAead::Aes128Ccm => SessionKeys::Ccm(b16().ok_or_else(bad)?),
        RecordAead::Aes128Gcm => SessionKeys::Gcm(b16().ok_or_else(bad)?),
        RecordAead::Chacha20Poly1305 => SessionKeys::ChaCha20Poly1305(KeyBlock {
            client_write_key: arr(k.client_write_key()).ok_or_else(bad)?,
            server_write_key: arr(k.server_write_key()).ok_or_else(bad)?,
            client_write_iv: arr(k.client_iv()).ok_or_else(bad)?,
            server_write_iv: arr(k.server_iv()).ok_or_else(bad)?,
        }),
    };
    let body = TransferBody {
        keys,
        may_evict: true,
        client_addr: peer.addr.octets(),
        client_port: peer.port,
        sequence: Some(SequenceNumbers {
            highest_received: s.read_highest_seq.unwrap_or(0),
            next_write: s.next_write_seq,
        }),
        mote_is_client: s.role == dtls::Role::Client,
        resumption: None,
    };
    let bitmap = if s.read_highest_seq.is_some() {
        s.read_replay_bitmap
    } else {
        // Nothing received yet: the window starts below 0 (record 0 is then refused, which
        // only a session that never saw the client's Finished could notice).
        1
    };
    Ok((body, bitmap))
}

/// The record layer the library continues: a [`Config`] for the association leg.
pub fn config(iotssp: Option<Peer>, suites: SuiteSet, slots: usize, times: SessionTimes) -> Config {
    Config {
        iotssp: iotssp.map(address),
        suites,
        slots: slots.clamp(1, SLOTS),
        session_idle: times.idle,
        session_evict_after: times.evict_after,
    }
}
