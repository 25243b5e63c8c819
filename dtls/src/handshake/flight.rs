//! Flights (RFC 6347 section 4.2.4): the unit of retransmission, packed into datagrams that
//! fit the path MTU; and the retransmission timer (initial, doubling, maximum).

use std::time::{Duration, Instant};

use super::fragment::fragment_message;
use super::msgs::{HandshakeHeader, HandshakeType};
use crate::error::Error;
use crate::record::{ContentType, RecordLayer};

/// One element of a flight, kept in plaintext so that each retransmission gets fresh record
/// sequence numbers.
#[derive(Debug, Clone)]
pub enum FlightItem {
    Handshake {
        epoch: u16,
        msg_type: HandshakeType,
        message_seq: u16,
        body: Vec<u8>,
    },
    ChangeCipherSpec {
        epoch: u16,
    },
}

/// Packs a flight into datagrams of at most `mtu` bytes, fragmenting handshake messages so
/// that every record fits.
pub fn pack_flight(
    items: &[FlightItem],
    layer: &mut RecordLayer,
    mtu: usize,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut push_record = |layer: &mut RecordLayer,
                           epoch: u16,
                           ct: ContentType,
                           payload: &[u8]|
     -> Result<(), Error> {
        let needed = layer.overhead(epoch) + payload.len();
        if !current.is_empty() && current.len() + needed > mtu {
            datagrams.push(std::mem::take(&mut current));
        }
        layer.write_record(epoch, ct, payload, &mut current)
    };
    for item in items {
        match item {
            FlightItem::ChangeCipherSpec { epoch } => {
                push_record(layer, *epoch, ContentType::ChangeCipherSpec, &[1])?
            }
            FlightItem::Handshake {
                epoch,
                msg_type,
                message_seq,
                body,
            } => {
                // At least 1 byte of body per fragment even with an absurd MTU.
                let max_body = layer
                    .max_payload(*epoch, mtu)
                    .saturating_sub(HandshakeHeader::LEN)
                    .max(1);
                for frag in fragment_message(*msg_type, *message_seq, body, max_body) {
                    push_record(layer, *epoch, ContentType::Handshake, &frag)?;
                }
            }
        }
    }
    if !current.is_empty() {
        datagrams.push(current);
    }
    Ok(datagrams)
}

/// Retransmission timer settings. RFC 6347 suggests 1 s initial and 60 s maximum; a radio
/// network wants more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    pub initial: Duration,
    pub max: Duration,
    /// Retransmissions of one flight before the handshake is given up.
    pub max_retransmissions: u32,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        RetransmitConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            max_retransmissions: 6,
        }
    }
}

/// What the timer says when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    Retransmit,
    GiveUp,
}

#[derive(Debug, Clone)]
pub struct RetransmitTimer {
    config: RetransmitConfig,
    current: Duration,
    deadline: Option<Instant>,
    retransmissions: u32,
}

impl RetransmitTimer {
    pub fn new(config: RetransmitConfig) -> Self {
        RetransmitTimer {
            config,
            current: config.initial,
            deadline: None,
            retransmissions: 0,
        }
    }

    /// A new flight was sent: the timer restarts from the initial value.
    pub fn start_flight(&mut self, now: Instant) {
        self.current = self.config.initial;
        self.retransmissions = 0;
        self.deadline = Some(now + self.current);
    }

    /// The peer's next flight began to arrive (or the handshake ended).
    pub fn stop(&mut self) {
        self.deadline = None;
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Call when `now` reached the deadline; doubles the timeout up to the maximum.
    pub fn on_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        let d = self.deadline?;
        if now < d {
            return None;
        }
        if self.retransmissions >= self.config.max_retransmissions {
            self.deadline = None;
            return Some(TimerAction::GiveUp);
        }
        self.retransmissions += 1;
        self.current = (self.current * 2).min(self.config.max);
        self.deadline = Some(now + self.current);
        Some(TimerAction::Retransmit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use crate::record::records;

    #[test]
    fn timer_doubles_to_max_then_gives_up() {
        let cfg = RetransmitConfig {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(5),
            max_retransmissions: 3,
        };
        let mut t = RetransmitTimer::new(cfg);
        let t0 = Instant::now();
        t.start_flight(t0);
        assert_eq!(t.deadline(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(t.on_timeout(t0), None);
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(t.on_timeout(t1), Some(TimerAction::Retransmit));
        assert_eq!(t.deadline(), Some(t1 + Duration::from_secs(4)));
        let t2 = t1 + Duration::from_secs(4);
        assert_eq!(t.on_timeout(t2), Some(TimerAction::Retransmit));
        assert_eq!(t.deadline(), Some(t2 + Duration::from_secs(5)));
        let t3 = t2 + Duration::from_secs(5);
        assert_eq!(t.on_timeout(t3), Some(TimerAction::Retransmit));
        assert_eq!(
            t.on_timeout(t3 + Duration::from_secs(5)),
            Some(TimerAction::GiveUp)
        );
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn flight_fits_mtu() {
        let items = vec![
            FlightItem::Handshake {
                epoch: 0,
                msg_type: HandshakeType::Certificate,
                message_seq: 1,
                body: vec![7; 1000],
            },
            FlightItem::Handshake {
                epoch: 0,
                msg_type: HandshakeType::ServerHelloDone,
                message_seq: 2,
                body: vec![],
            },
        ];
        let mut layer = RecordLayer::new(Role::Server);
        let dgs = pack_flight(&items, &mut layer, 300).unwrap();
        assert!(dgs.len() >= 4);
        let mut seqs = Vec::new();
        for d in &dgs {
            assert!(d.len() <= 300, "{}", d.len());
            for r in records(d) {
                seqs.push(r.unwrap().sequence_number());
            }
        }
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    }
}
