//! A mote and its IoTSSP over a simulated link and clock (quinn-proto's `Pair` style):
//! `step` moves every queued datagram and, when nothing is in flight, jumps the clock to the
//! next timer; `drive` steps until both sides are idle. Loss hooks decide, per datagram,
//! whether it is dropped.

use std::boxed::Box;
use std::collections::VecDeque;
use std::vec::Vec;

use crate::MAX_DATAGRAM_LEN;
use crate::crypto::{Random, SoftAes, SoftEcdh};
use crate::keys::Credentials;
use crate::keys::tests::{MOTE_ID, PSK};
use crate::mote::{Installation, MoteAssoc, MoteEvent, SessionTable};
use crate::ssp::{SspAssoc, SspEvent};
use crate::time::Instant;
use crate::wire::{MessageType, SessionKeys, Suite, SuiteSet, TransferBody, message_type};

/// A deterministic RNG (xorshift64*), seeded per side.
#[derive(Clone)]
pub struct TestRng(pub u64);

impl Random for TestRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
}

pub type Mote = MoteAssoc<SoftAes, SoftEcdh, TestRng>;
pub type Ssp = SspAssoc<SoftAes, SoftEcdh, TestRng>;

pub fn creds() -> Credentials {
    Credentials::new::<SoftAes>(&PSK, MOTE_ID).unwrap()
}

pub fn mote(seed: u64) -> Mote {
    MoteAssoc::new(creds(), SoftEcdh, TestRng(seed))
}

pub fn ssp(seed: u64) -> Ssp {
    SspAssoc::new(creds(), SoftEcdh, TestRng(seed))
}

/// The mote's record layer as far as the association sees it.
#[derive(Debug, Clone)]
pub struct Sessions {
    pub capacity: u8,
    pub suites: SuiteSet,
    /// Client ports of the sessions installed, in order.
    pub installed: Vec<u16>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            capacity: 4,
            suites: SuiteSet(0b0011),
            installed: Vec::new(),
        }
    }
}

impl SessionTable for Sessions {
    fn free_slots(&self) -> u8 {
        self.capacity.saturating_sub(self.installed.len() as u8)
    }
    fn suites(&self) -> SuiteSet {
        self.suites
    }
    fn install(&mut self, body: &TransferBody) -> Installation {
        if !self.suites.contains(body.suite()) {
            return Installation::UnsupportedSuite;
        }
        if self.free_slots() == 0 {
            return Installation::Full;
        }
        self.installed.push(body.client_port);
        Installation::Installed
    }
}

/// A CCM-8 session for client port `port`.
pub fn body(port: u16) -> TransferBody {
    TransferBody {
        keys: SessionKeys::Ccm8(crate::wire::KeyBlock {
            client_write_key: [port as u8; 16],
            server_write_key: [0x55; 16],
            client_write_iv: [1, 2, 3, 4],
            server_write_iv: [5, 6, 7, 8],
        }),
        may_evict: false,
        client_addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        client_port: port,
        sequence: None,
        mote_is_client: false,
        resumption: None,
    }
}

pub type LossHook = Box<dyn FnMut(&[u8]) -> bool>;

pub struct Pair {
    pub now: Instant,
    pub mote: Mote,
    pub ssp: Ssp,
    pub sessions: Sessions,
    pub to_mote: VecDeque<Vec<u8>>,
    pub to_ssp: VecDeque<Vec<u8>>,
    /// Returns true for a datagram to the mote that is lost.
    pub lose_to_mote: LossHook,
    /// Returns true for a datagram to the IoTSSP that is lost.
    pub lose_to_ssp: LossHook,
    /// Every datagram each side sent (lost ones included), with the time.
    pub sent_by_ssp: Vec<(Instant, Vec<u8>)>,
    pub sent_by_mote: Vec<(Instant, Vec<u8>)>,
    pub mote_events: Vec<MoteEvent>,
    pub ssp_events: Vec<SspEvent>,
}

pub fn no_loss() -> LossHook {
    Box::new(|_| false)
}

/// Loses every datagram of type `t`.
pub fn lose_all(t: MessageType) -> LossHook {
    Box::new(move |d| message_type(d) == Ok(t))
}

/// Loses the first `count` datagrams of type `t`.
pub fn lose_first(t: MessageType, count: usize) -> LossHook {
    let mut left = count;
    Box::new(move |d| {
        if message_type(d) == Ok(t) && left > 0 {
            left -= 1;
            true
        } else {
            false
        }
    })
}

impl Pair {
    pub fn new() -> Pair {
        Pair {
            now: Instant::ZERO,
            mote: mote(1),
            ssp: ssp(2),
            sessions: Sessions::default(),
            to_mote: VecDeque::new(),
            to_ssp: VecDeque::new(),
            lose_to_mote: no_loss(),
            lose_to_ssp: no_loss(),
            sent_by_ssp: Vec::new(),
            sent_by_mote: Vec::new(),
            mote_events: Vec::new(),
            ssp_events: Vec::new(),
        }
    }

    /// Associated and idle.
    pub fn associated() -> Pair {
        let mut p = Pair::new();
        p.drive();
        assert!(p.mote.association().is_some() && p.ssp.association().is_some());
        p.clear_logs();
        p
    }

    pub fn clear_logs(&mut self) {
        self.sent_by_mote.clear();
        self.sent_by_ssp.clear();
        self.mote_events.clear();
        self.ssp_events.clear();
    }

    fn next_timeout(&self) -> Option<Instant> {
        match (self.mote.poll_timeout(), self.ssp.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves what is queued; if nothing was, fires the next timer and sends what that gave.
    /// False when idle.
    pub fn step(&mut self) -> bool {
        if self.exchange() {
            return true;
        }
        let Some(t) = self.next_timeout() else {
            return false;
        };
        self.now = self.now.max(t);
        self.mote.handle_timeout(self.now);
        self.ssp_events.extend(self.ssp.handle_timeout(self.now));
        self.exchange();
        true
    }

    /// Sends what both sides have to send and delivers what is in flight, at `now`.
    fn exchange(&mut self) -> bool {
        let mut busy = false;
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        while let Some(len) = self.mote.poll_transmit(&mut buf) {
            let d = buf[..len].to_vec();
            self.sent_by_mote.push((self.now, d.clone()));
            if !(self.lose_to_ssp)(&d) {
                self.to_ssp.push_back(d);
            }
            busy = true;
        }
        while let Some(len) = self.ssp.poll_transmit(&mut buf) {
            let d = buf[..len].to_vec();
            self.sent_by_ssp.push((self.now, d.clone()));
            if !(self.lose_to_mote)(&d) {
                self.to_mote.push_back(d);
            }
            busy = true;
        }
        while let Some(d) = self.to_ssp.pop_front() {
            self.ssp_events
                .extend(self.ssp.handle_datagram(self.now, &d));
            busy = true;
        }
        while let Some(d) = self.to_mote.pop_front() {
            self.mote_events
                .extend(self.mote.handle_datagram(self.now, &d, &mut self.sessions));
            busy = true;
        }
        busy
    }

    /// Steps until idle, or for at most five simulated minutes.
    pub fn drive(&mut self) {
        let limit = self.now + core::time::Duration::from_secs(300);
        for _ in 0..100_000 {
            if self.next_timeout().is_some_and(|t| t > limit)
                && self.to_mote.is_empty()
                && self.to_ssp.is_empty()
            {
                break;
            }
            if !self.step() {
                break;
            }
        }
    }

    /// Steps while the next thing to happen is before `t`, then sets the clock to `t`.
    pub fn drive_until(&mut self, t: Instant) {
        for _ in 0..100_000 {
            let queued = !self.to_mote.is_empty() || !self.to_ssp.is_empty();
            if !queued && self.next_timeout().is_none_or(|n| n > t) {
                break;
            }
            if !self.step() {
                break;
            }
        }
        self.now = self.now.max(t);
    }

    pub fn mote_sent(&self, t: MessageType) -> usize {
        self.sent_by_mote
            .iter()
            .filter(|(_, d)| message_type(d) == Ok(t))
            .count()
    }

    pub fn ssp_sent(&self, t: MessageType) -> usize {
        self.sent_by_ssp
            .iter()
            .filter(|(_, d)| message_type(d) == Ok(t))
            .count()
    }

    /// The datagrams the IoTSSP sent of type `t`.
    pub fn ssp_messages(&self, t: MessageType) -> Vec<Vec<u8>> {
        self.sent_by_ssp
            .iter()
            .filter(|(_, d)| message_type(d) == Ok(t))
            .map(|(_, d)| d.clone())
            .collect()
    }

    pub fn mote_messages(&self, t: MessageType) -> Vec<Vec<u8>> {
        self.sent_by_mote
            .iter()
            .filter(|(_, d)| message_type(d) == Ok(t))
            .map(|(_, d)| d.clone())
            .collect()
    }
}

/// Every suite the default [`Sessions`] runs.
pub fn default_suites() -> SuiteSet {
    SuiteSet(0).with(Suite::Ccm8).with(Suite::Ccm)
}
