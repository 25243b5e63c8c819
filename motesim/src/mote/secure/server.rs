//! A mote that runs the whole DTLS server itself and serves CoAP over it on 5684: DCert
//! (ECDHE-ECDSA with its own certificate, client certificates verified against a trust
//! anchor, ECC cost emulated) and CDPSK (PSK with Internet clients directly).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::cert::{CertificateType, CertifiedKey, ChainVerifier, RawKeyTrust};
use dtls::provider::SecureRandom;
use dtls::record::{ContentType, records};
use dtls::{CipherSuite, CloseReason, Endpoint, Event, PskTable, ServerConfig};
use zeroize::Zeroizing;

use super::DtlsDrop;
use super::ecc::{EccMeter, EccProfile};
use super::{
    COAPS_PORT, Datagram, DeviceKind, MOTE_DTLS_MTU, MOTE_RETRANSMIT_INITIAL, Outbox, SecureDevice,
    SecurityCounters, count_records, min_deadline, peer_of, socket_addr,
};
use crate::mote::coap::CoapServer;
use crate::mote::service::Peer;

/// Settings of a DCert mote.
#[derive(Clone)]
pub struct DcertConfig {
    pub certificate: Arc<CertifiedKey>,
    /// What the mote presents, in its order of preference (RFC 7250).
    pub certificate_types: Vec<CertificateType>,
    /// Client certificates are required and validated against these anchors.
    pub client_auth: Option<ChainVerifier>,
    /// Clients may authenticate with these raw public keys instead (RFC 7250).
    pub client_raw_keys: Option<RawKeyTrust>,
    pub ecc: EccProfile,
    pub limits: ClientLimits,
    /// Offered in this order of preference.
    pub cipher_suites: Vec<CipherSuite>,
}

impl std::fmt::Debug for DcertConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DcertConfig")
            .field("client_auth", &self.client_auth.is_some())
            .field("ecc", &self.ecc)
            .finish_non_exhaustive()
    }
}

/// Settings of a PSK mote (CDPSK), or of a delegated mote's IoTSSP channel.
#[derive(Clone)]
pub struct PskConfig {
    pub identity: Vec<u8>,
    pub key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PskConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("PskConfig")
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .finish_non_exhaustive()
    }
}

/// Settings of a CDPSK mote: the clients' PSK, and how many clients it holds for how long.
#[derive(Clone, Debug)]
pub struct CdpskConfig {
    pub psk: PskConfig,
    pub limits: ClientLimits,
}

/// Default [`ClientLimits::max_clients`]: a mote has room for a few associations only.
pub const DEFAULT_MAX_CLIENTS: usize = 4;
/// Default [`ClientLimits::idle_timeout`].
pub const DEFAULT_CLIENT_IDLE: Duration = Duration::from_secs(300);
/// Default [`ClientLimits::evict_after`].
pub const DEFAULT_CLIENT_EVICT_AFTER: Duration = dtls::config::DEFAULT_EVICT_IDLE_AFTER;

/// The client associations a DCert or CDPSK mote holds: at most `max_clients`, each until
/// `idle_timeout` passed without an authenticated record from its client (or sooner, when
/// the table is full, a new client authenticates and it has been idle `evict_after` or
/// more: the least recently used such one gives way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    pub max_clients: usize,
    pub idle_timeout: Duration,
    pub evict_after: Duration,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            max_clients: DEFAULT_MAX_CLIENTS,
            idle_timeout: DEFAULT_CLIENT_IDLE,
            evict_after: DEFAULT_CLIENT_EVICT_AFTER,
        }
    }
}

impl ClientLimits {
    fn apply(&self, cfg: &mut ServerConfig) {
        cfg.max_connections = self.max_clients;
        cfg.idle_timeout = Some(self.idle_timeout);
        cfg.evict_idle_after = self.evict_after;
    }
}

/// The engine settings every mote role shares: a mote's MTU and a radio-friendly timer.
pub(crate) fn mote_transport(cfg: &mut ServerConfig) {
    cfg.transport.mtu = MOTE_DTLS_MTU;
    cfg.transport.retransmit.initial = cfg
        .transport
        .retransmit
        .initial
        .max(MOTE_RETRANSMIT_INITIAL);
    cfg.transport.retransmit.max = cfg
        .transport
        .retransmit
        .max
        .max(cfg.transport.retransmit.initial);
    // A mote has room for a few associations only.
    ClientLimits::default().apply(cfg);
}

/// DCert or CDPSK: the DTLS server and CoAP on 5684.
pub struct DtlsServer {
    kind: DeviceKind,
    endpoint: Endpoint,
    coap: CoapServer,
    ecc: Option<EccMeter>,
    outbox: Outbox,
    counters: SecurityCounters,
}

impl std::fmt::Debug for DtlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsServer")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl DtlsServer {
    pub fn dcert(
        cfg: &DcertConfig,
        mote_index: u32,
        rng: Arc<dyn SecureRandom>,
    ) -> Result<Self, dtls::Error> {
        let mut sc = ServerConfig::ecdhe(cfg.certificate.clone(), cfg.client_auth.clone());
        sc.cipher_suites = cfg.cipher_suites.clone();
        sc.certificate_types = cfg.certificate_types.clone();
        sc.client_raw_public_keys = cfg.client_raw_keys.clone();
        sc.rng = rng;
        mote_transport(&mut sc);
        cfg.limits.apply(&mut sc);
        Self::new(
            DeviceKind::Dcert,
            sc,
            Some(EccMeter::new(cfg.ecc)),
            mote_index,
        )
    }

    pub fn cdpsk(
        cfg: &CdpskConfig,
        mote_index: u32,
        rng: Arc<dyn SecureRandom>,
    ) -> Result<Self, dtls::Error> {
        let mut table = PskTable::new();
        table.insert(&cfg.psk.identity, &cfg.psk.key);
        let mut sc = ServerConfig::psk(Arc::new(table));
        sc.rng = rng;
        mote_transport(&mut sc);
        cfg.limits.apply(&mut sc);
        Self::new(DeviceKind::Cdpsk, sc, None, mote_index)
    }

    fn new(
        kind: DeviceKind,
        sc: ServerConfig,
        ecc: Option<EccMeter>,
        mote_index: u32,
    ) -> Result<Self, dtls::Error> {
        Ok(DtlsServer {
            kind,
            endpoint: Endpoint::new(Some(Arc::new(sc)))?,
            coap: CoapServer::new(mote_index),
            ecc,
            outbox: Outbox::default(),
            counters: SecurityCounters::default(),
        })
    }

    /// Drain the engine: events (CoAP requests are answered here), then its datagrams,
    /// held behind the emulated ECC work that produced them.
    fn pump(&mut self, now: Instant, input: Option<(Peer, &[u8])>) {
        while let Some((addr, ev)) = self.endpoint.poll_event() {
            match ev {
                Event::HandshakeComplete => {
                    self.counters.dtls_handshakes += 1;
                    match self
                        .endpoint
                        .connection(&addr)
                        .and_then(|c| c.cipher_suite())
                    {
                        Some(s) if s.is_psk() => self.counters.dtls_handshakes_psk += 1,
                        Some(_) => self.counters.dtls_handshakes_ecdhe += 1,
                        None => {}
                    }
                }
                Event::ApplicationData(request) => {
                    self.counters.app_data_in += 1;
                    for reply in super::app::answer(&mut self.coap, now, peer_of(addr), &request) {
                        if self.endpoint.send_application_data(&addr, &reply).is_ok() {
                            self.counters.app_data_out += 1;
                        }
                    }
                }
                Event::Closed(reason) => match reason {
                    CloseReason::CloseNotify | CloseReason::PeerAlert(_) => {
                        self.counters.sessions_closed += 1;
                        self.counters.alerts_in += 1;
                    }
                    CloseReason::LocalError(_) | CloseReason::HandshakeTimeout => {
                        self.counters.dtls_handshakes_failed += 1;
                    }
                    CloseReason::LocallyClosed => {}
                },
                _ => {}
            }
        }
        let mut produced = Vec::new();
        while let Some(t) = self.endpoint.poll_transmit() {
            // Answers to close_notify and refusals of clients the table has no room for.
            self.counters.alerts_out += records(&t.contents)
                .flatten()
                .filter(|r| r.content_type() == ContentType::Alert)
                .count() as u64;
            produced.push(t);
        }
        // The engine counts what its table did with clients that went quiet or found it full.
        self.counters.sessions_expired = self.endpoint.expired_connections;
        self.counters.sessions_evicted = self.endpoint.evicted_connections;
        self.counters.clients_refused = self.endpoint.refused_after_handshake
            + self
                .endpoint
                .stateless_drops
                .get("too_many_connections")
                .copied()
                .unwrap_or(0);
        let release = match (&mut self.ecc, input) {
            (Some(meter), Some((peer, bytes))) => {
                let addr = socket_addr(peer);
                let cost = match self.endpoint.connection(&addr) {
                    Some(c) => {
                        let out: Vec<Vec<u8>> = produced
                            .iter()
                            .filter(|t| t.destination == addr)
                            .map(|t| t.contents.clone())
                            .collect();
                        meter.cost(
                            addr,
                            c.client_random(),
                            bytes,
                            &out,
                            c.peer_certificates().len(),
                            &mut self.counters,
                        )
                    }
                    None => std::time::Duration::ZERO,
                };
                let endpoint = &self.endpoint;
                meter.retain(|a| endpoint.connection(a).is_some());
                self.outbox.occupy(now, cost)
            }
            _ => self.outbox.release_time(now),
        };
        for t in produced {
            let d = Datagram {
                local_port: COAPS_PORT,
                peer: peer_of(t.destination),
                payload: t.contents,
            };
            self.outbox.push(release, d, &mut self.counters);
        }
    }
}

impl SecureDevice for DtlsServer {
    fn kind(&self) -> DeviceKind {
        self.kind
    }

    fn owns_port(&self, port: u16) -> bool {
        port == COAPS_PORT
    }

    fn handle_datagram(&mut self, now: Instant, local_port: u16, peer: Peer, payload: &[u8]) {
        if local_port != COAPS_PORT {
            self.counters.drop(DtlsDrop::WrongPort);
            return;
        }
        self.counters.dtls_records_in += count_records(payload);
        self.endpoint
            .handle_datagram(now, socket_addr(peer), payload);
        self.pump(now, Some((peer, payload)));
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram> {
        self.outbox.poll(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        min_deadline(self.endpoint.poll_timeout(), self.outbox.next_release())
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.pump(now, None);
    }

    fn counters(&self) -> &SecurityCounters {
        &self.counters
    }
}
