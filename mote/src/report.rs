//! [`Reporter`]: a mote that reports to a server as a DTLS client (outbound delegation).
//! It asks its IoTSSP for the session once associated, again each interval while it has
//! none (refused, timed out, expired or closed), and says when the next report is due on the
//! session it holds. With the `resumption` feature, a session the mote lost but may still
//! resume (its Transfer carried the server's session id) is resumed with the server itself
//! first; only a server that does not resume sends the mote back to its IoTSSP. What a
//! report contains is the application's.

use core::time::Duration;

use mote_assoc::crypto::{Aes128Block, EcdhP256, Random};
use mote_assoc::time::Instant;

use crate::{Address, DelegatedMote};

/// What [`Reporter::handle_timeout`] did or wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportAction {
    /// Nothing due.
    Idle,
    /// A Connect for the server went out (its `r`).
    Connecting(u32),
    /// An abbreviated handshake with the server itself went out (the `resumption` feature:
    /// no IoTSSP, no ECC); a server that does not resume makes the next step a Connect.
    Resuming,
    /// The session with the server is there and a report is due: send it now (with
    /// [`DelegatedMote::send`] to [`Reporter::server`]).
    Report,
}

/// When to ask for the session with one server, and when to report on it.
#[derive(Debug, Clone)]
pub struct Reporter {
    server: Address,
    interval: Duration,
    /// The next Connect may go out then (after a failure or a lost session).
    next_connect: Instant,
    /// The next report is due then (`None`: as soon as the session is there).
    next_report: Option<Instant>,
}

impl Reporter {
    /// Reports to `server` every `interval` (also the wait between two Connects).
    pub fn new(server: Address, interval: Duration) -> Self {
        Reporter {
            server,
            interval,
            next_connect: Instant::ZERO,
            next_report: None,
        }
    }

    pub fn server(&self) -> Address {
        self.server
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Runs after everything the mote handles (datagrams and timeouts): with the session,
    /// whether a report is due; without it, a Connect when the mote is associated, has none
    /// waiting, and the interval since the last one has passed.
    pub fn handle_timeout<A, E, R, const SLOTS: usize, const BUF: usize>(
        &mut self,
        now: Instant,
        mote: &mut DelegatedMote<A, E, R, SLOTS, BUF>,
    ) -> ReportAction
    where
        A: Aes128Block,
        E: EcdhP256,
        R: Random,
    {
        if mote.sessions().is_client_of(&self.server) {
            if self.next_report.is_some_and(|at| at > now) {
                return ReportAction::Idle;
            }
            self.next_report = Some(now + self.interval);
            return ReportAction::Report;
        }
        self.next_report = None;
        #[cfg(feature = "resumption")]
        {
            use crate::OutboundOutcome;
            if let Some(OutboundOutcome::NotResumed(s)) = mote.poll_outbound_outcome()
                && s == self.server
            {
                // The IoTSSP's turn at once: the wait was the resumption's.
                self.next_connect = now;
            }
            if mote.is_resuming_outbound(&self.server) {
                return ReportAction::Idle;
            }
            if self.next_connect <= now
                && mote.can_resume_outbound(now, &self.server)
                && mote.resume_outbound(now, &self.server).is_ok()
            {
                self.next_connect = now + self.interval;
                return ReportAction::Resuming;
            }
        }
        if mote.association().is_none()
            || mote.pending_connect().is_some()
            || self.next_connect > now
        {
            return ReportAction::Idle;
        }
        match mote.connect(now, &self.server) {
            Ok(r) => {
                self.next_connect = now + self.interval;
                ReportAction::Connecting(r)
            }
            Err(_) => ReportAction::Idle,
        }
    }

    /// When [`Self::handle_timeout`] has work next. `None` while the mote is not associated
    /// or a Connect is waiting (and it holds no session it may resume): the answer comes as a
    /// datagram or the Connect's own timeout, after which the caller runs `handle_timeout`
    /// anyway.
    pub fn poll_timeout<A, E, R, const SLOTS: usize, const BUF: usize>(
        &self,
        mote: &DelegatedMote<A, E, R, SLOTS, BUF>,
    ) -> Option<Instant>
    where
        A: Aes128Block,
        E: EcdhP256,
        R: Random,
    {
        if mote.sessions().is_client_of(&self.server) {
            Some(self.next_report.unwrap_or(Instant::ZERO))
        } else if mote.can_resume_outbound_at_all(&self.server)
            || (mote.association().is_some() && mote.pending_connect().is_none())
        {
            Some(self.next_connect)
        } else {
            None
        }
    }
}
