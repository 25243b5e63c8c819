//! The delegated mote's standing association with its IoTSSP (docs/mote-association.md):
//! the `mote_assoc::MoteAssoc` machine on the transfer port, its clock, the IoTSSP's address
//! and the mote's session table behind it. A delegation costs the mote one Transfer in and
//! one Confirm out.
//!
//! The mote associates at boot (the first time it may send) when it knows its IoTSSP's
//! address and port from its configuration; otherwise it learns them from the first
//! authenticated message of its IoTSSP (a Poke, which the IoTSSP sends when it needs a
//! transfer and has no association). From then on only datagrams from that address and port
//! reach the machine; everything else on the transfer port is dropped unread.

use std::time::{Duration, Instant};

use dtls::record::RecordAead;
use dtls::{Role, SessionKeys, SessionState};
use mote_assoc::crypto::{SoftAes, SoftEcdh};
use mote_assoc::keys::Credentials;
use mote_assoc::wire::{SequenceNumbers, Suite, SuiteSet, TransferBody};
use mote_assoc::{Installation, MoteAssoc, MoteEvent};

use super::sessions::{Installed, SessionTable};
use super::SecurityCounters;
use crate::mote::service::Peer;

/// The mote's randomness for its ephemeral keys: the device's seeded stream (the emulation
/// replays from a seed; a real mote uses its hardware RNG).
pub struct AssocRandom(pub std::sync::Arc<dyn dtls::provider::SecureRandom>);

impl mote_assoc::crypto::Random for AssocRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        // A seeded stream never fails; the OS source does not either.
        let _ = self.0.fill(buf);
    }
}

/// The association side of a delegated mote.
pub struct AssocLeg {
    machine: MoteAssoc<SoftAes, SoftEcdh, AssocRandom>,
    /// The IoTSSP's address and port, configured or learned.
    iotssp: Option<Peer>,
    /// The machine's clock starts at the mote's first activity (its boot).
    origin: Option<Instant>,
    /// The suites the record layer continues (reported in AssocReady; others refused).
    suites: SuiteSet,
}

impl std::fmt::Debug for AssocLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssocLeg").field("iotssp", &self.iotssp).field("association", &self.machine.association()).finish_non_exhaustive()
    }
}

/// The mote's sessions as the association machine sees them.
struct Table<'a> {
    now: Instant,
    suites: SuiteSet,
    sessions: &'a mut SessionTable,
    counters: &'a mut SecurityCounters,
}

impl mote_assoc::SessionTable for Table<'_> {
    fn free_slots(&self) -> u8 {
        self.sessions.free_for_new(self.now).min(255) as u8
    }

    fn suites(&self) -> SuiteSet {
        self.suites
    }

    fn install(&mut self, body: &TransferBody) -> Installation {
        if !self.suites.contains(body.suite()) {
            return Installation::UnsupportedSuite;
        }
        if !body.may_evict && self.sessions.free_for_new(self.now) == 0 {
            return Installation::Full;
        }
        let Some(state) = session_state(body) else {
            return Installation::UnsupportedSuite;
        };
        let peer = Peer { addr: body.client_addr.into(), port: body.client_port };
        match self.sessions.install(self.now, peer, &state) {
            Ok(Installed::EvictedOldest) => self.counters.sessions_evicted += 1,
            Ok(Installed::New | Installed::Replaced) => {}
            Err(_) => return Installation::UnsupportedSuite,
        }
        self.counters.sessions_transferred += 1;
        Installation::Installed
    }
}

/// The record layer's state for a transferred body: epoch 1 both ways, the client's
/// highest sequence number seen (only it, bit 0 of the window), our next write number.
fn session_state(body: &TransferBody) -> Option<SessionState> {
    use mote_assoc::wire::SessionKeys as K;
    let keys = match &body.keys {
        K::Ccm8(b) => SessionKeys::new(RecordAead::Aes128Ccm8, &b.client_write_key, &b.server_write_key, &b.client_write_iv, &b.server_write_iv),
        K::Ccm(b) => SessionKeys::new(RecordAead::Aes128Ccm, &b.client_write_key, &b.server_write_key, &b.client_write_iv, &b.server_write_iv),
        K::Gcm(b) => SessionKeys::new(RecordAead::Aes128Gcm, &b.client_write_key, &b.server_write_key, &b.client_write_iv, &b.server_write_iv),
        K::ChaCha20Poly1305(b) => SessionKeys::new(RecordAead::Chacha20Poly1305, &b.client_write_key, &b.server_write_key, &b.client_write_iv, &b.server_write_iv),
    }?;
    let seq = body.sequence.unwrap_or(SequenceNumbers::DEFAULT);
    Some(SessionState {
        role: Role::Server,
        keys,
        read_epoch: 1,
        read_highest_seq: Some(seq.highest_received),
        read_replay_bitmap: 1,
        write_epoch: 1,
        next_write_seq: seq.next_write,
    })
}

/// The association's name of a DTLS suite (`None` for the PSK suite, never transferred).
fn suite_of(s: dtls::CipherSuite) -> Option<Suite> {
    Some(match s {
        dtls::CipherSuite::EcdheEcdsaAes128Ccm8 => Suite::Ccm8,
        dtls::CipherSuite::EcdheEcdsaAes128Ccm => Suite::Ccm,
        dtls::CipherSuite::EcdheEcdsaAes128Gcm => Suite::Gcm,
        dtls::CipherSuite::EcdheEcdsaChacha20Poly1305 => Suite::ChaCha20Poly1305,
        dtls::CipherSuite::PskAes128Ccm8 => return None,
    })
}

/// What a datagram or a timeout did, for the device's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssocOutcome {
    Nothing,
    Associated,
    Transfer { installed: bool },
}

impl AssocLeg {
    /// `psk` (16..=32 bytes) and `eui64` as provisioned; `iotssp`, if configured; the
    /// record layer's `suites`.
    pub fn new(psk: &[u8], eui64: [u8; 8], iotssp: Option<Peer>, suites: &[dtls::CipherSuite], rng: AssocRandom) -> Option<Self> {
        let creds = Credentials::new::<SoftAes>(psk, eui64).ok()?;
        let suites = suites.iter().filter_map(|s| suite_of(*s)).fold(SuiteSet(0), SuiteSet::with);
        Some(AssocLeg { machine: MoteAssoc::new(creds, SoftEcdh, rng), iotssp, origin: None, suites })
    }

    pub fn association(&self) -> Option<mote_assoc::mote::AssociationState> {
        self.machine.association()
    }

    pub fn stats(&self) -> &mote_assoc::MoteStats {
        self.machine.stats()
    }

    fn at(&mut self, now: Instant) -> mote_assoc::Instant {
        let origin = *self.origin.get_or_insert(now);
        mote_assoc::Instant::from_millis(now.saturating_duration_since(origin).as_millis() as u64)
    }

    /// When the machine next has work (`None` before the mote's first activity: the first
    /// call to [`Self::handle_timeout`] boots it).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let origin = self.origin?;
        self.machine.poll_timeout().map(|t| origin + Duration::from_millis(t.as_millis()))
    }

    /// Runs the machine's timers (the first call is the mote's boot: its AssocHello).
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.at(now);
        if self.machine.poll_timeout().is_some_and(|at| at <= t) {
            self.machine.handle_timeout(t);
        }
    }

    /// A datagram to the transfer port from `peer`.
    pub fn handle_datagram(&mut self, now: Instant, peer: Peer, payload: &[u8], sessions: &mut SessionTable, counters: &mut SecurityCounters) -> AssocOutcome {
        if self.iotssp.is_some_and(|p| p != peer) {
            counters.drop(super::DtlsDrop::NotFromIotssp);
            return AssocOutcome::Nothing;
        }
        let t = self.at(now);
        let before = self.machine.stats().clone();
        let suites = self.suites;
        let event = self.machine.handle_datagram(t, payload, &mut Table { now, suites, sessions, counters });
        let after = self.machine.stats();
        // Anything authenticated (an honoured Poke, an association, a transfer) names the
        // IoTSSP, if the configuration did not.
        if self.iotssp.is_none() && (event.is_some() || after.pokes_honoured > before.pokes_honoured) {
            self.iotssp = Some(peer);
        }
        match event {
            Some(MoteEvent::Associated { .. }) => AssocOutcome::Associated,
            Some(MoteEvent::Transfer { status, .. }) => AssocOutcome::Transfer { installed: status == mote_assoc::wire::ConfirmStatus::Installed },
            Some(MoteEvent::ConnectFailed { .. }) | None => AssocOutcome::Nothing,
        }
    }

    /// The next datagram for the IoTSSP (none while its address is unknown).
    pub fn poll_transmit(&mut self) -> Option<(Peer, Vec<u8>)> {
        let to = self.iotssp?;
        let mut buf = [0u8; mote_assoc::MAX_DATAGRAM_LEN];
        let n = self.machine.poll_transmit(&mut buf)?;
        Some((to, buf[..n].to_vec()))
    }
}
