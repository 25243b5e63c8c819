//! [`SessionLayer`]: the session slots with the two queues that carry application data in
//! and records out, for the session port. [`crate::DelegatedMote`] puts the association in
//! front of it; a device that gets its sessions another way installs them directly.

use core::marker::PhantomData;
use core::time::Duration;

use mote_assoc::Installation;
use mote_assoc::crypto::Aes128Block;
use mote_assoc::time::Instant;
use mote_assoc::wire::{SuiteSet, TransferBody};

use crate::Address;
use crate::queue::Queue;
use crate::sessions::{SendError, Sessions};

/// Application data [`SessionLayer::recv`] wrote: one record's plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The client it came from (answer with `send` to the same).
    pub from: Address,
    pub len: usize,
}

/// Counters of the queues' edges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Datagrams dropped because the buffer given to `poll_transmit` was too short.
    pub transmit_buffer_too_short: u64,
    /// Application data dropped because the buffer given to `recv` was too short.
    pub receive_buffer_too_short: u64,
}

/// The record layer of the transferred sessions, sans-IO: `SLOTS` sessions at most, `BUF`
/// bytes for each of the receive queue (plaintext application data) and the transmit queue
/// (records). `A` is the platform's AES-128.
pub struct SessionLayer<A, const SLOTS: usize, const BUF: usize> {
    sessions: Sessions<SLOTS>,
    #[cfg(feature = "resumption")]
    resumption: crate::resume::ResumptionCache<SLOTS>,
    #[cfg(feature = "resumption")]
    outbound: crate::resume_client::OutboundResumption<SLOTS>,
    rx: Queue<BUF>,
    tx: Queue<BUF>,
    stats: QueueStats,
    _aes: PhantomData<fn() -> A>,
}

impl<A: Aes128Block, const SLOTS: usize, const BUF: usize> SessionLayer<A, SLOTS, BUF> {
    /// Sessions of `suites`, dropped after `idle` without a record from their client (and
    /// giving way to a new one after [`crate::sessions::DEFAULT_EVICT_AFTER`]); `slots` of
    /// the `SLOTS` are offered.
    pub fn new(suites: SuiteSet, idle: Duration, slots: usize) -> Self {
        SessionLayer {
            sessions: Sessions::new(suites, idle, slots),
            #[cfg(feature = "resumption")]
            resumption: crate::resume::ResumptionCache::new(0),
            #[cfg(feature = "resumption")]
            outbound: crate::resume_client::OutboundResumption::new(0),
            rx: Queue::new(),
            tx: Queue::new(),
            stats: QueueStats::default(),
            _aes: PhantomData,
        }
    }

    pub fn sessions(&self) -> &Sessions<SLOTS> {
        &self.sessions
    }

    /// A session without a record from its client for `after` may give way to a new one
    /// when every slot is taken ([`Sessions::set_evict_after`]).
    pub fn set_evict_after(&mut self, after: Duration) {
        self.sessions.set_evict_after(after);
    }

    #[cfg(not(feature = "resumption"))]
    pub(crate) fn sessions_mut(&mut self) -> &mut Sessions<SLOTS> {
        &mut self.sessions
    }

    /// Keeps up to `slots` (at most `SLOTS`) resumable sessions of each direction (those
    /// clients resume with the mote, and outbound ones the mote resumes with its server); 0,
    /// the default, none. The caches are emptied.
    #[cfg(feature = "resumption")]
    pub fn set_resumption_slots(&mut self, slots: usize) {
        self.resumption = crate::resume::ResumptionCache::new(slots);
        self.outbound = crate::resume_client::OutboundResumption::new(slots);
    }

    /// The outbound sessions the mote may resume with their servers and the abbreviated
    /// handshake it runs as their client.
    #[cfg(feature = "resumption")]
    pub fn outbound_resumption(&self) -> &crate::resume_client::OutboundResumption<SLOTS> {
        &self.outbound
    }

    /// Starts an abbreviated handshake with `server` for the outbound session the mote holds
    /// with it (client random from `rng`); [`Self::poll_outbound_outcome`] says how it ended.
    /// [`crate::StartError::NoSession`]: ask the IoTSSP for a Connect instead.
    #[cfg(feature = "resumption")]
    pub fn resume_outbound<R: mote_assoc::crypto::Random>(
        &mut self,
        now: Instant,
        server: &Address,
        rng: &mut R,
    ) -> Result<(), crate::StartError> {
        self.outbound.start(now, server, rng, &mut self.tx)
    }

    /// How the last outbound abbreviated handshake ended, once.
    #[cfg(feature = "resumption")]
    pub fn poll_outbound_outcome(&mut self) -> Option<crate::OutboundOutcome> {
        self.outbound.poll_outcome()
    }

    /// The sessions the mote may resume and the abbreviated handshake in progress.
    #[cfg(feature = "resumption")]
    pub fn resumption(&self) -> &crate::resume::ResumptionCache<SLOTS> {
        &self.resumption
    }

    /// The record layer and the resumption caches, for a Transfer's install.
    #[cfg(feature = "resumption")]
    pub(crate) fn sessions_and_cache_mut(
        &mut self,
    ) -> (
        &mut Sessions<SLOTS>,
        &mut crate::resume::ResumptionCache<SLOTS>,
        &mut crate::resume_client::OutboundResumption<SLOTS>,
    ) {
        (&mut self.sessions, &mut self.resumption, &mut self.outbound)
    }

    /// [`Self::handle_datagram`], and a ClientHello that names a cached session gets the
    /// abbreviated handshake (server random from `rng`); one the mote cannot resume is sent
    /// back to a full handshake.
    #[cfg(feature = "resumption")]
    pub fn handle_datagram_resuming<R: mote_assoc::crypto::Random>(
        &mut self,
        now: Instant,
        from: &Address,
        datagram: &[u8],
        rng: &mut R,
    ) {
        self.sessions.expire(now);
        if self.outbound.handle_datagram::<A, SLOTS, BUF>(
            now,
            from,
            datagram,
            &mut self.sessions,
            &mut self.tx,
        ) {
            return;
        }
        if self.resumption.handle_datagram::<A, R, SLOTS, BUF>(
            now,
            from,
            datagram,
            rng,
            &mut self.sessions,
            &mut self.tx,
        ) {
            return;
        }
        self.sessions
            .handle_datagram::<A, BUF>(now, from, datagram, &mut self.rx, &mut self.tx);
    }

    pub fn queue_stats(&self) -> &QueueStats {
        &self.stats
    }

    /// Installs a transferred session at `now` (and keeps it resumable if the body says so
    /// and the resumption cache has room).
    pub fn install(&mut self, now: Instant, body: &TransferBody) -> Installation {
        let installed = self.sessions.install(now, body);
        #[cfg(feature = "resumption")]
        if installed == Installation::Installed {
            self.resumption.insert(now, body);
            self.outbound.insert(now, body);
        }
        installed
    }

    /// [`Self::install`] with the replay window below the highest sequence number as the
    /// negotiating host had it ([`Sessions::install_with_window`]).
    pub fn install_with_window(
        &mut self,
        now: Instant,
        body: &TransferBody,
        replay_bitmap: u64,
    ) -> Installation {
        self.sessions.install_with_window(now, body, replay_bitmap)
    }

    /// A datagram to the session port from `from`: its records are opened, application
    /// data queued for [`Self::recv`], answers (close_notify) for [`Self::poll_transmit`].
    pub fn handle_datagram(&mut self, now: Instant, from: &Address, datagram: &[u8]) {
        self.sessions.expire(now);
        self.sessions
            .handle_datagram::<A, BUF>(now, from, datagram, &mut self.rx, &mut self.tx);
    }

    /// The next application data received, written into `buf`.
    pub fn recv(&mut self, buf: &mut [u8]) -> Option<Received> {
        loop {
            match self.rx.pop(buf)? {
                Ok((head, len)) => {
                    return Some(Received {
                        from: head.remote,
                        len,
                    });
                }
                Err(_) => self.stats.receive_buffer_too_short += 1,
            }
        }
    }

    /// Sends `data` as one application-data record to the client at `to`.
    pub fn send(&mut self, to: &Address, data: &[u8]) -> Result<(), SendError> {
        self.sessions.send::<A, BUF>(to, data, &mut self.tx)
    }

    /// Ends the session with `peer`: a close_notify, then its keys are wiped.
    pub fn close(&mut self, peer: &Address) -> Result<(), SendError> {
        self.sessions.close::<A, BUF>(peer, &mut self.tx)
    }

    /// The next datagram (one record) to send from the session port, written into `buf`:
    /// its destination and length.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(Address, usize)> {
        loop {
            match self.tx.pop(buf)? {
                Ok((head, len)) => return Some((head.remote, len)),
                Err(_) => self.stats.transmit_buffer_too_short += 1,
            }
        }
    }

    /// When the next session expires (or the resumption cache has work).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sessions = self.sessions.next_expiry();
        #[cfg(feature = "resumption")]
        let sessions = [self.resumption.next_timeout(), self.outbound.next_timeout()]
            .into_iter()
            .fold(sessions, |a, b| match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            });
        sessions
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.sessions.expire(now);
        #[cfg(feature = "resumption")]
        {
            self.resumption.handle_timeout(now, &mut self.tx);
            self.outbound.handle_timeout(now, &mut self.tx);
        }
    }
}
