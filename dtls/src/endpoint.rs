//! The server (and client) endpoint: demultiplexes datagrams by peer address, answers
//! ClientHellos without a valid cookie statelessly with a HelloVerifyRequest, and creates a
//! [`Connection`] only for a cookie'd hello. No per-client state exists before that.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::alert::{Alert, AlertDescription};
use crate::codec::{Codec, Reader};
use crate::config::{ClientConfig, ServerConfig};
use crate::connection::{Connection, Event, Phase, Transmit};
use crate::error::Error;
use crate::handshake::cookie::CookieSecrets;
use crate::handshake::msgs::{
    ClientHello, HandshakeFragment, HandshakeHeader, HandshakeType, HelloVerifyRequest,
};
use crate::record::{ContentType, ProtocolVersion, RecordHeader, records};

/// Why a datagram created no connection (stable names for counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatelessDrop {
    Malformed,
    NotClientHello,
    NoServerConfig,
    TooManyConnections,
}

impl StatelessDrop {
    pub fn as_str(&self) -> &'static str {
        match self {
            StatelessDrop::Malformed => "malformed",
            StatelessDrop::NotClientHello => "not_client_hello",
            StatelessDrop::NoServerConfig => "no_server_config",
            StatelessDrop::TooManyConnections => "too_many_connections",
        }
    }
}

/// A ClientHello found at the start of a datagram, with the sequence numbers a stateless
/// server must echo / continue. Public so that other stateless fronts (the IoTSSP's
/// per-mote cookie gate) parse the first flight the same way.
#[derive(Debug, Clone)]
pub struct FirstHello {
    pub hello: ClientHello,
    pub record_seq: u64,
    pub message_seq: u16,
    pub record_version: ProtocolVersion,
}

/// The whole ClientHello that opens `datagram`, or why a stateless server cannot answer it
/// (only [`StatelessDrop::Malformed`] or [`StatelessDrop::NotClientHello`]).
pub fn first_hello(datagram: &[u8]) -> Result<FirstHello, StatelessDrop> {
    let rec = records(datagram)
        .next()
        .ok_or(StatelessDrop::Malformed)?
        .map_err(|_| StatelessDrop::Malformed)?;
    if rec.content_type() != ContentType::Handshake || rec.epoch() != 0 || !rec.version().is_dtls()
    {
        return Err(StatelessDrop::NotClientHello);
    }
    let frag = HandshakeFragment::read(&mut Reader::new(rec.fragment()))
        .map_err(|_| StatelessDrop::Malformed)?;
    let h = frag.header;
    if h.msg_type != HandshakeType::ClientHello {
        return Err(StatelessDrop::NotClientHello);
    }
    // A stateless server does not reassemble: the hello must come whole.
    if h.fragment_offset != 0 || h.fragment_length != h.length {
        return Err(StatelessDrop::Malformed);
    }
    let hello = ClientHello::read_bytes(frag.body).map_err(|_| StatelessDrop::Malformed)?;
    Ok(FirstHello {
        hello,
        record_seq: rec.sequence_number(),
        message_seq: h.message_seq,
        record_version: rec.version(),
    })
}

/// RFC 6347 section 4.2.1: a HelloVerifyRequest answering `first`, with the hello's record
/// sequence number and message_seq and server version DTLS 1.0 for compatibility; the
/// cookie is a MAC of `remote` and the hello under `cookies`. Sent statelessly.
pub fn hello_verify_request(
    cookies: &CookieSecrets,
    remote: &SocketAddr,
    first: &FirstHello,
) -> Vec<u8> {
    let hvr = HelloVerifyRequest {
        server_version: ProtocolVersion::DTLS1_0,
        cookie: cookies.cookie(remote, &first.hello),
    };
    let body = hvr.get_encoding();
    let mut hs = Vec::with_capacity(HandshakeHeader::LEN + body.len());
    HandshakeHeader {
        msg_type: HandshakeType::HelloVerifyRequest,
        length: body.len() as u32,
        message_seq: first.message_seq,
        fragment_offset: 0,
        fragment_length: body.len() as u32,
    }
    .encode(&mut hs);
    hs.extend_from_slice(&body);
    let mut out = Vec::new();
    let version = if first.record_version == ProtocolVersion::DTLS1_2 {
        ProtocolVersion::DTLS1_2
    } else {
        ProtocolVersion::DTLS1_0
    };
    RecordHeader {
        content_type: ContentType::Handshake,
        version,
        epoch: 0,
        sequence_number: first.record_seq,
    }
    .emit(&hs, &mut out);
    out
}

pub struct Endpoint {
    server: Option<Arc<ServerConfig>>,
    /// Only a server answers with cookies.
    cookies: Option<CookieSecrets>,
    connections: HashMap<SocketAddr, Connection>,
    stateless: VecDeque<Transmit>,
    events: VecDeque<(SocketAddr, Event)>,
    /// Datagrams dropped before any connection existed, by reason.
    pub stateless_drops: HashMap<&'static str, u64>,
    /// Connections closed because they stayed idle longer than the idle timeout.
    pub expired_connections: u64,
    /// Idle connections closed to make room for a new client in a full table.
    pub evicted_connections: u64,
    /// Clients that authenticated when the table was full and whose reserved idle
    /// connection had become active meanwhile: refused with an internal_error alert.
    pub refused_after_handshake: u64,
}

/// Whether a connection is one that idles: an established one (a handshake is bounded by
/// its own timer).
fn idle_expires(c: &Connection) -> bool {
    matches!(c.phase(), Phase::Established)
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// `server`: accept handshakes with this configuration; `None` for a client-only endpoint.
    pub fn new(server: Option<Arc<ServerConfig>>) -> Result<Self, Error> {
        let cookies = match &server {
            Some(s) => {
                s.validate()?;
                Some(CookieSecrets::new(s.cookie_rotation, s.rng.clone())?)
            }
            None => None,
        };
        Ok(Endpoint {
            server,
            cookies,
            connections: HashMap::new(),
            stateless: VecDeque::new(),
            events: VecDeque::new(),
            stateless_drops: HashMap::new(),
            expired_connections: 0,
            evicted_connections: 0,
            refused_after_handshake: 0,
        })
    }

    /// Starts a client handshake to `remote`.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        config: Arc<ClientConfig>,
    ) -> Result<(), Error> {
        let c = Connection::connect(now, remote, config)?;
        self.connections.insert(remote, c);
        Ok(())
    }

    pub fn connection(&self, remote: &SocketAddr) -> Option<&Connection> {
        self.connections.get(remote)
    }

    pub fn connection_mut(&mut self, remote: &SocketAddr) -> Option<&mut Connection> {
        self.connections.get_mut(remote)
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    pub fn handle_datagram(&mut self, now: Instant, remote: SocketAddr, datagram: &[u8]) {
        if self
            .cookies
            .as_mut()
            .is_some_and(|c| c.maybe_rotate(now).is_err())
        {
            return;
        }
        self.expire_idle(now);
        if let Some(conn) = self.connections.get_mut(&remote) {
            // A hello with a new random on an association that is done: the peer restarted
            // (RFC 6347 section 4.2.8). Otherwise the connection handles it (retransmission).
            let restarted = conn.role() == crate::Role::Server
                && !matches!(conn.phase(), Phase::Handshaking)
                && first_hello(datagram).is_ok_and(|h| h.hello.random != conn.client_random());
            if !restarted {
                let was_handshaking = matches!(conn.phase(), Phase::Handshaking);
                conn.handle_datagram(now, datagram);
                let authenticated = was_handshaking
                    && !matches!(conn.phase(), Phase::Handshaking)
                    && !conn.is_closed();
                if authenticated && conn.role() == crate::Role::Server {
                    self.make_room_for(now, remote);
                }
                return;
            }
        }
        if let Err(reason) = self.handle_stateless(now, remote, datagram) {
            *self.stateless_drops.entry(reason.as_str()).or_default() += 1;
        }
    }

    fn handle_stateless(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), StatelessDrop> {
        let (Some(config), Some(cookies)) = (self.server.clone(), self.cookies.as_ref()) else {
            return Err(StatelessDrop::NoServerConfig);
        };
        let first = first_hello(datagram)?;
        if !cookies.verify(&remote, &first.hello) {
            let contents = hello_verify_request(cookies, &remote, &first);
            self.stateless.push_back(Transmit {
                destination: remote,
                contents,
            });
            return Ok(());
        }
        if !self.connections.contains_key(&remote) && !self.may_admit(now, &config) {
            // A refusal the client can see, not silence.
            let mut contents = Vec::new();
            let alert = Alert::fatal(AlertDescription::InternalError).get_encoding();
            RecordHeader {
                content_type: ContentType::Alert,
                version: first.record_version,
                epoch: 0,
                sequence_number: first.record_seq,
            }
            .emit(&alert, &mut contents);
            self.stateless.push_back(Transmit {
                destination: remote,
                contents,
            });
            return Err(StatelessDrop::TooManyConnections);
        }
        match Connection::accept(
            now,
            remote,
            config,
            datagram,
            first.record_seq,
            first.message_seq,
        ) {
            Ok(c) => {
                if let Some(old) = self.connections.insert(remote, c) {
                    drop(old);
                    tracing::debug!(%remote, "peer restarted its association");
                }
                Ok(())
            }
            Err(_) => Err(StatelessDrop::NoServerConfig),
        }
    }

    /// Connections not yet closed (closed ones stay until their last output is drained).
    fn open_connections(&self) -> usize {
        self.connections.values().filter(|c| !c.is_closed()).count()
    }

    /// Established connections expire this long after their last authenticated record.
    fn idle_deadline(&self, c: &Connection) -> Option<Instant> {
        let timeout = self.server.as_ref()?.idle_timeout?;
        idle_expires(c).then(|| c.last_authenticated() + timeout)
    }

    /// Whether a new handshake may start. A full table admits it only while an idle
    /// connection is left for it to take the place of (one for each handshake already
    /// admitted beyond the table); that connection gives way only once the new client has
    /// authenticated ([`make_room_for`](Self::make_room_for)), so a client that never does
    /// costs nobody their session.
    fn may_admit(&self, now: Instant, config: &ServerConfig) -> bool {
        let open = self.open_connections();
        if open < config.max_connections {
            return true;
        }
        let evictable = self
            .connections
            .values()
            .filter(|c| Self::evictable(now, config, c))
            .count();
        evictable > open - config.max_connections
    }

    fn evictable(now: Instant, config: &ServerConfig, c: &Connection) -> bool {
        idle_expires(c)
            && now.saturating_duration_since(c.last_authenticated()) >= config.evict_idle_after
    }

    /// `remote` just authenticated (its Finished verified): if the table is over its size,
    /// the least recently used idle connection gives way, or, when none is idle any more,
    /// `remote` is refused with an internal_error alert.
    fn make_room_for(&mut self, now: Instant, remote: SocketAddr) {
        let Some(config) = self.server.clone() else {
            return;
        };
        if self.open_connections() <= config.max_connections || self.evict_one(now, &config) {
            return;
        }
        tracing::debug!(%remote, "table full and no idle connection left: authenticated client refused");
        self.refused_after_handshake += 1;
        if let Some(c) = self.connections.get_mut(&remote) {
            c.abort(AlertDescription::InternalError);
        }
    }

    /// Closes the least recently used connection idle for at least `evict_idle_after`, if
    /// there is one.
    fn evict_one(&mut self, now: Instant, config: &ServerConfig) -> bool {
        let victim = self
            .connections
            .iter()
            .filter(|(_, c)| Self::evictable(now, config, c))
            .min_by_key(|(_, c)| c.last_authenticated())
            .map(|(a, _)| *a);
        let Some(addr) = victim else { return false };
        tracing::debug!(remote = %addr, "idle connection gives way to a new client");
        self.evicted_connections += 1;
        if let Some(c) = self.connections.get_mut(&addr) {
            c.close();
        }
        true
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.stateless.pop_front() {
            return Some(t);
        }
        self.connections
            .values_mut()
            .find_map(Connection::poll_transmit)
    }

    /// Events of all connections. Closed connections are removed once their last event
    /// and datagram are drained.
    pub fn poll_event(&mut self) -> Option<(SocketAddr, Event)> {
        for (addr, c) in self.connections.iter_mut() {
            if let Some(e) = c.poll_event() {
                self.events.push_back((*addr, e));
            }
        }
        self.connections
            .retain(|_, c| !c.is_closed() || c.has_pending_output());
        self.events.pop_front()
    }

    /// The next handshake timer. Idle expiry needs no wake-up of its own: it runs on every
    /// datagram and timer call, before a full table could refuse anyone.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.connections
            .values()
            .filter_map(Connection::poll_timeout)
            .min()
    }

    /// Closes (with close_notify) the established connections idle past the idle timeout.
    fn expire_idle(&mut self, now: Instant) {
        let expired: Vec<SocketAddr> = self
            .connections
            .iter()
            .filter(|(_, c)| self.idle_deadline(c).is_some_and(|t| t <= now))
            .map(|(a, _)| *a)
            .collect();
        for addr in expired {
            tracing::debug!(remote = %addr, "idle connection expired");
            self.expired_connections += 1;
            if let Some(c) = self.connections.get_mut(&addr) {
                c.close();
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_idle(now);
        for c in self.connections.values_mut() {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
    }

    pub fn send_application_data(&mut self, remote: &SocketAddr, data: &[u8]) -> Result<(), Error> {
        self.connections
            .get_mut(remote)
            .ok_or(Error::NotEstablished)?
            .send_application_data(data)
    }

    pub fn close(&mut self, remote: &SocketAddr) {
        if let Some(c) = self.connections.get_mut(remote) {
            c.close();
        }
    }
}
