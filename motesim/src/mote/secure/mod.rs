//! The mote's security personalities, the three kinds of device of the paper besides the
//! plain CoAP mote:
//! - [`delegated`]: PSK DTLS with its own IoTSSP on the transfer port, takes over the
//!   session the IoTSSP negotiated with an Internet client, then serves CoAP over DTLS on
//!   5684 with the record layer only. It never sees a certificate nor does ECC.
//! - [`server::DtlsServer`] as DCert: full DTLS 1.2 ECDHE-ECDSA with its own certificate,
//!   with the ECC cost of a real mote emulated by holding its answers ([`ecc`]).
//! - [`server::DtlsServer`] as CDPSK: PSK DTLS with Internet clients directly.
//!
//! A device is sans-IO like the rest of the mote: datagrams and time in, datagrams out
//! (each with the time it may leave), one deadline. It never reads the clock.

mod app;
pub mod association;
pub mod delegated;
pub mod ecc;
pub mod server;
pub mod sessions;

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::provider::{SecureRandom, SeededRandom};
use dtls::record::{ContentType, records};
use serde::Serialize;

use super::service::Peer;

/// CoAP over DTLS (RFC 7252 section 6.2).
pub const COAPS_PORT: u16 = 5684;
/// Where a delegated mote runs its PSK session with its IoTSSP (docs/session-transfer.md).
pub const DEFAULT_TRANSFER_PORT: u16 = 5685;
/// Transferred sessions a delegated mote holds by default.
pub const DEFAULT_SESSION_SLOTS: usize = 2;
/// A mote's DTLS retransmission timer starts here (the paper's 2 s): radio round trips
/// and emulated ECC take longer than RFC 6347's 1 s.
pub const MOTE_RETRANSMIT_INITIAL: Duration = Duration::from_secs(2);
/// Datagrams a device may hold back at once (a mote has little RAM).
const OUTBOX_LIMIT: usize = 64;
/// Records in one datagram are coalesced up to this size (a mote's DTLS MTU).
pub const MOTE_DTLS_MTU: usize = 1024;

/// Which kind of device a mote is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// CoAP without security (5683 only): today's behaviour.
    #[default]
    Plain,
    Delegated,
    Dcert,
    Cdpsk,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Plain => "plain",
            DeviceKind::Delegated => "delegated",
            DeviceKind::Dcert => "dcert",
            DeviceKind::Cdpsk => "cdpsk",
        }
    }
}

impl std::str::FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "plain" => Ok(DeviceKind::Plain),
            "delegated" => Ok(DeviceKind::Delegated),
            "dcert" => Ok(DeviceKind::Dcert),
            "cdpsk" => Ok(DeviceKind::Cdpsk),
            _ => Err(format!(
                "{s:?} is not a device kind (delegated, dcert, cdpsk, plain)"
            )),
        }
    }
}

/// How a mote is to be set up: the kind and its material.
#[derive(Clone, Debug, Default)]
pub enum DeviceSpec {
    #[default]
    Plain,
    Delegated(delegated::DelegatedConfig),
    Dcert(server::DcertConfig),
    Cdpsk(server::CdpskConfig),
}

impl DeviceSpec {
    pub fn kind(&self) -> DeviceKind {
        match self {
            DeviceSpec::Plain => DeviceKind::Plain,
            DeviceSpec::Delegated(_) => DeviceKind::Delegated,
            DeviceSpec::Dcert(_) => DeviceKind::Dcert,
            DeviceSpec::Cdpsk(_) => DeviceKind::Cdpsk,
        }
    }

    /// The device of mote `mote_index` (1-based; it makes sensor readings differ).
    /// Its DTLS engine draws its hello randoms and cookie secrets from a stream of `seed`
    /// of its own (ring still draws ECDHE keys and ECDSA nonces from the OS).
    /// `None` for a plain mote. `eui64` is the mote's (a delegated mote's association is
    /// bound to it).
    pub fn build(
        &self,
        mote_index: u32,
        eui64: [u8; 8],
        seed: u64,
    ) -> Result<Option<Box<dyn SecureDevice>>, dtls::Error> {
        let rng: Arc<dyn SecureRandom> =
            Arc::new(SeededRandom::from_u64(seed, u64::from(mote_index)));
        Ok(match self {
            DeviceSpec::Plain => None,
            DeviceSpec::Delegated(c) => Some(Box::new(delegated::DelegatedDevice::new(
                c, mote_index, eui64, rng,
            )?)),
            DeviceSpec::Dcert(c) => Some(Box::new(server::DtlsServer::dcert(c, mote_index, rng)?)),
            DeviceSpec::Cdpsk(c) => Some(Box::new(server::DtlsServer::cdpsk(c, mote_index, rng)?)),
        })
    }
}

/// What a device did: the security side of a mote's statistics. Every field is present
/// for every kind (zero where it does not apply) so consumers need no special cases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SecurityCounters {
    /// Completed DTLS handshakes (any suite) the mote itself ran.
    pub dtls_handshakes: u64,
    /// ... of which PSK (with the IoTSSP for a delegated mote, with clients for CDPSK).
    pub dtls_handshakes_psk: u64,
    /// ... of which ECDHE-ECDSA (DCert).
    pub dtls_handshakes_ecdhe: u64,
    /// Handshakes that ended without completing (timeout, alert, refused PSK identity).
    pub dtls_handshakes_failed: u64,
    /// Sessions installed from a TransferSession or an association's Transfer (delegated),
    /// or by an abbreviated handshake the mote ran itself.
    pub sessions_transferred: u64,
    /// Delegated, with resumption slots: sessions a Transfer made resumable at the mote.
    pub resumable_sessions_cached: u64,
    /// ClientHellos that named a resumable session and got the mote's abbreviated flight.
    pub resumption_hellos: u64,
    /// Abbreviated handshakes the mote completed (SHA-256 and AEAD only, no ECC).
    pub sessions_resumed: u64,
    /// Hellos the mote could not resume, sent back to a full handshake.
    pub resumption_fallbacks: u64,
    /// Associations made with the IoTSSP (delegated, association leg; after each boot of
    /// either side).
    pub associations: u64,
    /// The association's ECC operations (one key pair and one ECDH per association; the
    /// emulated certificate ECC is `ecc_operations`).
    pub assoc_ecc_operations: u64,
    /// Pokes from the IoTSSP answered with an AssocHello, those of them answered at once for
    /// a newer IoTSSP epoch, and those held back by the one-a-minute limit.
    pub pokes_honoured: u64,
    pub pokes_new_epoch: u64,
    pub poke_rate_limited: u64,
    /// Datagrams on the transfer port, in and out (delegated, both legs): the mote leg's
    /// radio cost, each datagram one 802.15.4 frame unless it needs fragments.
    pub transfer_port_datagrams_in: u64,
    pub transfer_port_datagrams_out: u64,
    /// STT offers answered accept / busy.
    pub stt_accepted: u64,
    pub stt_busy: u64,
    /// TransferSession messages refused (busy, malformed, unsupported suite).
    pub transfers_refused: u64,
    /// Repeated TransferSessions (the confirmation was lost) answered with the same
    /// confirmation, nothing installed again.
    pub transfers_repeated: u64,
    /// PSK sessions with the IoTSSP it ended (close_notify or alert), and those the mote
    /// closed itself when the IoTSSP's close_notify did not come in time.
    pub psk_sessions_closed: u64,
    pub psk_sessions_expired: u64,
    /// Sessions dropped for a newer one in a full table: transferred sessions and
    /// DCert/CDPSK client associations, each idle for the eviction time (default 30 s).
    pub sessions_evicted: u64,
    /// Sessions dropped after the idle time (default 300 s) without a record from their
    /// client.
    pub sessions_expired: u64,
    /// Clients refused because the table was full and no session had been idle long
    /// enough to give way: DCert/CDPSK send them an internal_error alert; a delegated mote
    /// refuses their transfer (Confirm full) and its IoTSSP sends them the alert (the
    /// PSK-handshake leg refuses them earlier, in `stt_busy`).
    pub clients_refused: u64,
    /// Sessions ended by close_notify or a fatal alert (DCert/CDPSK sessions, transferred
    /// sessions; not a delegated mote's PSK sessions with its IoTSSP).
    pub sessions_closed: u64,
    /// DTLS records on the mote's DTLS ports.
    pub dtls_records_in: u64,
    pub dtls_records_out: u64,
    /// Application-data records carrying CoAP (decrypted in / encrypted out).
    pub app_data_in: u64,
    pub app_data_out: u64,
    pub alerts_in: u64,
    pub alerts_out: u64,
    /// Emulated ECC operations (sign, verify, ECDH key generation and agreement).
    pub ecc_operations: u64,
    pub ecc_sign: u64,
    pub ecc_verify: u64,
    pub ecc_ecdh: u64,
    /// Time the mote's CPU was busy with them, emulated.
    pub ecc_busy_ms: u64,
    /// Certificate messages the mote received from peers.
    pub certificates_seen: u64,
    /// Datagrams the outbox could not hold.
    pub outbox_full: u64,
    /// Copies of a handshake flight not sent: the engine retransmitted a flight that was
    /// still held behind the emulated ECC work, or had left less than a second before
    /// (see `Outbox`).
    pub flights_suppressed: u64,
    /// Outbound delegation (delegated, association leg): Connects asked of the IoTSSP (new
    /// requests, not retransmissions), those refused or unanswered by their deadline, CoAP
    /// requests sent on the outbound session and responses received.
    pub outbound_connects: u64,
    pub outbound_connects_failed: u64,
    pub coap_requests_out: u64,
    pub coap_responses_in: u64,
    /// Outbound sessions the mote ended itself after its reports per session.
    pub outbound_sessions_ended: u64,
    /// Outbound resumption (with resumption slots): outbound sessions a Transfer made
    /// resumable; abbreviated handshakes the mote started with the server itself; those
    /// that installed the session again (no IoTSSP, no ECC); those that ended without one
    /// (the server did not resume, or did not answer), after which the mote asks its IoTSSP.
    pub outbound_resumables_cached: u64,
    pub outbound_resumptions_started: u64,
    pub outbound_resumptions_succeeded: u64,
    pub outbound_resumption_fallbacks: u64,
    /// The last response on the outbound session: its CoAP code and payload as text.
    pub outbound_last_response: String,
    /// Why the IoTSSP refused the last Connect (its ConnectFailed reason).
    pub outbound_last_failure: String,
    /// Dropped DTLS input by stable reason name.
    pub dtls_drops: BTreeMap<&'static str, u64>,
}

impl SecurityCounters {
    pub(crate) fn drop(&mut self, reason: DtlsDrop) {
        *self.dtls_drops.entry(reason.as_str()).or_default() += 1;
    }
}

/// Why a secure device dropped DTLS (or transfer) input. [`DtlsDrop::as_str`] names are stable (stats file and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsDrop {
    /// A transfer message that does not parse.
    Transfer(dtls::transfer::TransferError),
    /// An alert that does not parse.
    BadAlert,
    /// A record refused by the session.
    BadRecord,
    /// A record that does not decrypt and verify.
    DecryptFailed,
    /// A record that does not parse.
    MalformedRecord,
    /// A record for no session the mote holds.
    NoSession,
    /// A transfer Confirm sent by the IoTSSP (only motes send them).
    TransferConfirmFromIotssp,
    /// A record of a content type not expected here.
    UnexpectedContentType,
    /// A record of an unknown epoch, or replayed.
    UnknownEpochOrReplay,
    /// A reply that could not be sealed.
    WriteFailed,
    /// A datagram to the wrong port.
    WrongPort,
    /// A datagram to the transfer port from another address or port than the IoTSSP's.
    NotFromIotssp,
}

impl DtlsDrop {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DtlsDrop::Transfer(e) => e.as_str(),
            DtlsDrop::BadAlert => "bad_alert",
            DtlsDrop::BadRecord => "bad_record",
            DtlsDrop::DecryptFailed => "decrypt_failed",
            DtlsDrop::MalformedRecord => "malformed_record",
            DtlsDrop::NoSession => "no_session",
            DtlsDrop::TransferConfirmFromIotssp => "transfer_confirm_from_iotssp",
            DtlsDrop::UnexpectedContentType => "unexpected_content_type",
            DtlsDrop::UnknownEpochOrReplay => "unknown_epoch_or_replay",
            DtlsDrop::WriteFailed => "write_failed",
            DtlsDrop::WrongPort => "wrong_port",
            DtlsDrop::NotFromIotssp => "not_from_iotssp",
        }
    }
}

/// One UDP datagram a device sends, from its `local_port` to `peer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub local_port: u16,
    pub peer: Peer,
    pub payload: Vec<u8>,
}

/// A security personality of a mote: owns some UDP ports of the mote.
pub trait SecureDevice: Send {
    fn kind(&self) -> DeviceKind;

    /// Whether datagrams to `port` are this device's.
    fn owns_port(&self, port: u16) -> bool;

    /// A datagram from `peer` to our `local_port`.
    fn handle_datagram(&mut self, now: Instant, local_port: u16, peer: Peer, payload: &[u8]);

    /// The next datagram that may leave at `now` (held answers stay until their time).
    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram>;

    /// The next time the device has work (a retransmission, a held answer to release).
    fn poll_timeout(&self) -> Option<Instant>;

    fn handle_timeout(&mut self, now: Instant);

    fn counters(&self) -> &SecurityCounters;
}

pub(crate) fn socket_addr(peer: Peer) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(peer.addr, peer.port, 0, 0))
}

pub(crate) fn peer_of(addr: SocketAddr) -> Peer {
    match addr {
        SocketAddr::V6(a) => Peer {
            addr: *a.ip(),
            port: a.port(),
        },
        // Devices only ever see IPv6 peers; a v4 address cannot come out of the engine.
        SocketAddr::V4(a) => Peer {
            addr: a.ip().to_ipv6_mapped(),
            port: a.port(),
        },
    }
}

/// Number of well-formed DTLS record headers in a datagram.
pub(crate) fn count_records(datagram: &[u8]) -> u64 {
    records(datagram).take_while(Result::is_ok).count() as u64
}

/// Handshake flights a device sent lately are remembered this long: the DTLS engine's own
/// spacing of answers to a peer's retransmissions (half the initial timer).
const FLIGHT_MEMORY: Duration = Duration::from_secs(MOTE_RETRANSMIT_INITIAL.as_secs() / 2);
/// Flights remembered at once (a few associations, a few datagrams each).
const FLIGHT_MEMORY_LIMIT: usize = 16;

/// The records of a datagram that is (part of) a handshake flight, without their record
/// sequence numbers: a retransmission repacks the same messages under new numbers (or, for
/// a server's sealed final flight, resends the same bytes). `None` when the datagram
/// carries anything else (application data, alerts): those are never duplicates.
type FlightKey = Vec<(ContentType, u16, Vec<u8>)>;

fn flight_key(payload: &[u8]) -> Option<FlightKey> {
    let mut key = Vec::new();
    for rec in records(payload) {
        let rec = rec.ok()?;
        match rec.content_type() {
            ContentType::Handshake | ContentType::ChangeCipherSpec => {
                key.push((rec.content_type(), rec.epoch(), rec.fragment().to_vec()))
            }
            _ => return None,
        }
    }
    (!key.is_empty()).then_some(key)
}

/// Whether `payload` opens with a ClientHello (the mote resuming its outbound session).
/// Such a datagram is never coalesced behind another: servers (OpenSSL's DTLSv1_listen) and
/// the border router's HRM read a new handshake from a datagram's first record only, and a
/// close_notify in front of it would make the server drop the rest of the datagram.
fn starts_with_client_hello(payload: &[u8]) -> bool {
    records(payload).next().is_some_and(|r| {
        r.is_ok_and(|r| {
            r.content_type() == ContentType::Handshake
                && r.epoch() == 0
                && r.fragment().first() == Some(&1)
        })
    })
}

/// Whether a record of `payload` has a content type `which` accepts.
fn carries(payload: &[u8], which: impl Fn(ContentType) -> bool) -> bool {
    records(payload).any(|r| r.is_ok_and(|r| which(r.content_type())))
}

fn is_handshake(c: ContentType) -> bool {
    c == ContentType::Handshake || c == ContentType::ChangeCipherSpec
}

/// Answers waiting for their release time, in order: the mote's CPU is one queue, so an
/// answer never overtakes one produced before it. Datagrams produced at the same time for
/// the same destination are coalesced (several records in one datagram) up to the MTU,
/// except a ClientHello, which starts a datagram of its own, and application data behind
/// a handshake's last flight: libcoap's coap-server (OpenSSL) never marks a session whose
/// handshake ended in a datagram that also carried application data as connected, and
/// holds its answers back for ever.
///
/// The DTLS engine computes a flight at once and believes it sent it; the outbox holds it
/// behind the emulated ECC work. Meanwhile the peer's retransmission timer (OpenSSL: 1 s)
/// fires and the engine, rightly as far as it knows, answers with its flight again. That
/// copy says nothing about a loss: the first one has not even left, or left a moment ago
/// and crossed the peer's retransmission. Such copies are dropped
/// ([`SecurityCounters::flights_suppressed`]); sending them made a peer that had already
/// finished its handshake with the first copy read a stray one (OpenSSL's s_client then
/// blocks in its read and never sends its request).
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<(Instant, Datagram)>,
    /// When the CPU is free again (end of the last emulated ECC operation).
    busy_until: Option<Instant>,
    /// Flight datagrams recently queued: when they leave, to whom, what they carry.
    recent_flights: VecDeque<(Instant, Peer, u16, FlightKey)>,
}

impl Outbox {
    /// Emulates `cost` of CPU work starting no earlier than `now`; returns when the answers
    /// produced by that work may leave.
    pub fn occupy(&mut self, now: Instant, cost: Duration) -> Instant {
        let start = self.busy_until.map_or(now, |b| b.max(now));
        let end = start + cost;
        self.busy_until = Some(end);
        end
    }

    /// The earliest time an answer produced at `now` may leave.
    pub fn release_time(&self, now: Instant) -> Instant {
        self.busy_until.map_or(now, |b| b.max(now))
    }

    /// Queues `d` to leave at `at`; false when the outbox is full (the datagram is lost,
    /// as on a mote out of buffers).
    pub fn push(&mut self, at: Instant, d: Datagram, counters: &mut SecurityCounters) {
        if let Some(key) = flight_key(&d.payload) {
            self.recent_flights
                .retain(|(left, _, _, _)| at < *left + FLIGHT_MEMORY);
            let repeated = self
                .recent_flights
                .iter()
                .any(|(_, p, port, k)| *p == d.peer && *port == d.local_port && *k == key);
            if repeated {
                counters.flights_suppressed += 1;
                return;
            }
            if self.recent_flights.len() >= FLIGHT_MEMORY_LIMIT {
                self.recent_flights.pop_front();
            }
            self.recent_flights
                .push_back((at, d.peer, d.local_port, key));
        }
        counters.dtls_records_out += count_records(&d.payload);
        // The cheap comparisons first: the record walks run only for a datagram that could
        // otherwise be coalesced.
        if let Some((t, last)) = self.queue.back_mut()
            && *t == at
            && last.peer == d.peer
            && last.local_port == d.local_port
            && last.payload.len() + d.payload.len() <= MOTE_DTLS_MTU
            && !starts_with_client_hello(&d.payload)
            && !(carries(&last.payload, is_handshake)
                && carries(&d.payload, |c| c == ContentType::ApplicationData))
        {
            last.payload.extend_from_slice(&d.payload);
            return;
        }
        if self.queue.len() >= OUTBOX_LIMIT {
            counters.outbox_full += 1;
            return;
        }
        self.queue.push_back((at, d));
    }

    /// Queues `d` to leave at `at` as a datagram of its own, never coalesced: a message of
    /// the association, which carries one message per datagram.
    pub fn push_alone(&mut self, at: Instant, d: Datagram, counters: &mut SecurityCounters) {
        if self.queue.len() >= OUTBOX_LIMIT {
            counters.outbox_full += 1;
            return;
        }
        self.queue.push_back((at, d));
    }

    pub fn poll(&mut self, now: Instant) -> Option<Datagram> {
        if self.queue.front().is_some_and(|(t, _)| *t <= now) {
            return self.queue.pop_front().map(|(_, d)| d);
        }
        None
    }

    pub fn next_release(&self) -> Option<Instant> {
        self.queue.front().map(|(t, _)| *t)
    }
}

pub(crate) fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `addr` as the peer of a datagram on `port`.
pub fn peer(addr: Ipv6Addr, port: u16) -> Peer {
    Peer { addr, port }
}

#[cfg(test)]
mod tests;
