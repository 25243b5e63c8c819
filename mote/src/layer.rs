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
    rx: Queue<BUF>,
    tx: Queue<BUF>,
    stats: QueueStats,
    _aes: PhantomData<fn() -> A>,
}

impl<A: Aes128Block, const SLOTS: usize, const BUF: usize> SessionLayer<A, SLOTS, BUF> {
    /// Sessions of `suites`, dropped after `idle` without a record from their client;
    /// `slots` of the `SLOTS` are offered.
    pub fn new(suites: SuiteSet, idle: Duration, slots: usize) -> Self {
        SessionLayer {
            sessions: Sessions::new(suites, idle, slots),
            rx: Queue::new(),
            tx: Queue::new(),
            stats: QueueStats::default(),
            _aes: PhantomData,
        }
    }

    pub fn sessions(&self) -> &Sessions<SLOTS> {
        &self.sessions
    }

    pub(crate) fn sessions_mut(&mut self) -> &mut Sessions<SLOTS> {
        &mut self.sessions
    }

    pub fn queue_stats(&self) -> &QueueStats {
        &self.stats
    }

    /// Installs a transferred session at `now`.
    pub fn install(&mut self, now: Instant, body: &TransferBody) -> Installation {
        self.sessions.install(now, body)
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

    /// When the next session expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions.next_expiry()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.sessions.expire(now);
    }
}
