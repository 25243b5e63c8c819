//! Outbound resumption by the mote (docs/session-transfer.md, "Outbound resumption by the
//! mote"): the client side of the DTLS 1.2 abbreviated handshake (RFC 5246 7.3, RFC 6347)
//! for an outbound session whose Transfer carried the server's session id and the master
//! secret (flags 2 and 3). The mote sends a ClientHello with the session id (again with the
//! server's cookie after a HelloVerifyRequest), checks the server's ServerHello (the same
//! id), ChangeCipherSpec and Finished, answers with its ChangeCipherSpec and Finished and
//! installs the session's new keys in a slot of [`Sessions`], as the client. Only SHA-256
//! and the record layer's AEAD run: no ECC, and no IoTSSP.
//!
//! A server that does not resume (another or an empty session id, a suite or
//! extended-master-secret use that does not match, an alert, no answer after the
//! retransmissions) ends the attempt with [`OutboundOutcome::NotResumed`]: the entry is
//! dropped and the device asks its IoTSSP for a new delegated Connect.

use dtls_wire::{ContentType, HEADER_LEN, ProtocolVersion, Record, records};
use mote_assoc::crypto::{Aes128Block, Random};
use mote_assoc::time::Instant;
use mote_assoc::wire::{KeyBlock, Resumption, SequenceNumbers, SessionKeys, Suite, TransferBody};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::protection::{self, DirectionKeys, IV_LEN, KEY_LEN, RecordId};
use crate::queue::{Head, Queue};
use crate::resume::{
    CLIENT_HELLO, EMPTY_RENEGOTIATION_INFO_SCSV, EXT_EXTENDED_MASTER_SECRET, FINISHED,
    HANDSHAKE_HEADER, HELLO_VERIFY_REQUEST, MAX_RETRANSMITS, RETRANSMIT_MS, SERVER_HELLO, ct_eq,
    handshake_message, plain_record, prf, suite_code, u16_at, u24_at, vector,
};
use crate::sessions::Sessions;
use crate::{Address, LocalPort};

/// The longest HelloVerifyRequest cookie the mote keeps (RFC 6347 allows 255; OpenSSL and
/// the dtls crate send at most 32).
const MAX_COOKIE: usize = 64;
/// HelloVerifyRequests the mote follows in one attempt.
const MAX_VERIFY_REQUESTS: u8 = 2;
/// The ClientHello: header, version, random, id, cookie, suites (the session's and the
/// SCSV), compression, the extended_master_secret extension.
const HELLO_MAX: usize =
    HEADER_LEN + HANDSHAKE_HEADER + 2 + 32 + 1 + 32 + 1 + MAX_COOKIE + 2 + 4 + 2 + 2 + 4;
/// The mote's last flight: ChangeCipherSpec (14) and Finished (13 + 12 + 12 + 24 at most).
const FINAL_MAX: usize = 96;
/// How long the last flight is kept for a server that repeats its own flight.
const FINAL_KEPT_MS: u64 = 8000;

/// One outbound session the mote may resume: the server, id, master secret, suite.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Entry {
    #[zeroize(skip)]
    server: Address,
    id: [u8; Resumption::MAX_ID_LEN],
    id_len: u8,
    master: [u8; 48],
    ems: bool,
    #[zeroize(skip)]
    suite: Suite,
    #[zeroize(skip)]
    expires: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    /// The hello is out; a HelloVerifyRequest or the ServerHello comes next.
    ServerHello,
    ChangeCipherSpec,
    Finished,
    /// Installed; the last flight is kept for a repeated server flight until `retransmit_at`.
    Done,
}

/// The abbreviated handshake in progress (one at a time).
#[derive(Zeroize, ZeroizeOnDrop)]
struct Pending {
    #[zeroize(skip)]
    server: Address,
    #[zeroize(skip)]
    step: Step,
    #[zeroize(skip)]
    suite: Suite,
    id: [u8; Resumption::MAX_ID_LEN],
    id_len: u8,
    master: [u8; 48],
    ems: bool,
    client_random: [u8; 32],
    cookie: [u8; MAX_COOKIE],
    cookie_len: u8,
    verify_requests: u8,
    /// The message_seq and record sequence number of the hello sent last.
    hello_seq: u16,
    record_seq: u64,
    #[zeroize(skip)]
    transcript: Sha256,
    client_key: [u8; KEY_LEN],
    server_key: [u8; KEY_LEN],
    client_iv: [u8; IV_LEN],
    server_iv: [u8; IV_LEN],
    final_flight: [u8; FINAL_MAX],
    final_len: usize,
    #[zeroize(skip)]
    retransmit_at: Instant,
    retransmits: u8,
}

/// How an abbreviated handshake the mote started ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundOutcome {
    /// The session with this server is installed again (new keys, same master secret).
    Resumed(Address),
    /// The server did not resume (or did not answer): ask the IoTSSP for a new Connect.
    NotResumed(Address),
}

/// Why [`OutboundResumption::start`] did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// No unexpired session with that server: ask the IoTSSP.
    NoSession,
    /// The transmit queue has no room now; try again after the next transmit.
    QueueFull,
}

/// The outbound resumption's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundResumptionStats {
    /// Outbound sessions a Transfer made resumable.
    pub cached: u64,
    /// Cached sessions dropped for a newer one (the cache was full).
    pub evicted: u64,
    /// Cached sessions dropped at the end of their lifetime.
    pub expired: u64,
    /// Abbreviated handshakes started (ClientHellos with a session id).
    pub started: u64,
    /// HelloVerifyRequests answered with the cookie.
    pub verify_requests: u64,
    /// Abbreviated handshakes completed (the server's Finished verified; session installed).
    pub resumed: u64,
    /// Servers that answered with a full handshake or another id, or refused.
    pub not_resumed: u64,
    /// Server Finished messages that did not verify or open.
    pub bad_finished: u64,
    /// Flights sent again (the timer, or the server's repeated flight).
    pub retransmits: u64,
    /// Handshakes given up (no answer after the retransmissions, or replaced).
    pub abandoned: u64,
    /// Handshake records from the server that could not be parsed.
    pub malformed: u64,
}

/// The outbound sessions the mote may resume (`N` at most, `offered` used) and the
/// abbreviated handshake in progress.
pub struct OutboundResumption<const N: usize> {
    entries: [Option<Entry>; N],
    offered: usize,
    pending: Option<Pending>,
    outcome: Option<OutboundOutcome>,
    stats: OutboundResumptionStats,
}

/// The fields of a ServerHello the client checks.
struct ServerHello<'a> {
    random: &'a [u8],
    session_id: &'a [u8],
    suite: u16,
    compression: u8,
    ems: bool,
}

/// One unfragmented handshake message of an epoch-0 record: (type, the whole message).
fn handshake<'a>(rec: &Record<&'a [u8]>) -> Option<(u8, &'a [u8])> {
    let f: &'a [u8] = (*rec).into_inner().get(HEADER_LEN..)?;
    let typ = *f.first()?;
    let len = u24_at(f, 1)?;
    if u24_at(f, 6)? != 0 || u24_at(f, 9)? != len {
        return None;
    }
    Some((typ, f.get(..HANDSHAKE_HEADER + len)?))
}

fn parse_server_hello(m: &[u8]) -> Option<ServerHello<'_>> {
    let b = m.get(HANDSHAKE_HEADER..)?;
    if u16_at(b, 0)? != ProtocolVersion::DTLS1_2.0 {
        return None;
    }
    let random = b.get(2..34)?;
    let (session_id, at) = vector(b, 34, 1)?;
    let suite = u16_at(b, at)?;
    let compression = *b.get(at + 2)?;
    let mut ems = false;
    if at + 3 < b.len() {
        let (mut exts, _) = vector(b, at + 3, 2)?;
        while !exts.is_empty() {
            let typ = u16_at(exts, 0)?;
            let (_, next) = vector(exts, 2, 2)?;
            ems |= typ == EXT_EXTENDED_MASTER_SECRET;
            exts = exts.get(next..)?;
        }
    }
    Some(ServerHello {
        random,
        session_id,
        suite,
        compression,
        ems,
    })
}

fn key_lengths(suite: Suite) -> (usize, usize) {
    match suite {
        Suite::ChaCha20Poly1305 => (32, 12),
        _ => (16, 4),
    }
}

fn take<const L: usize>(b: &[u8]) -> [u8; L] {
    b.get(..L).and_then(|s| s.try_into().ok()).unwrap_or([0; L])
}

impl<const N: usize> OutboundResumption<N> {
    /// An empty cache using `offered` of its `N` entries (0: no outbound session is kept).
    pub fn new(offered: usize) -> Self {
        OutboundResumption {
            entries: core::array::from_fn(|_| None),
            offered: offered.min(N),
            pending: None,
            outcome: None,
            stats: OutboundResumptionStats::default(),
        }
    }

    pub fn stats(&self) -> &OutboundResumptionStats {
        &self.stats
    }

    /// Outbound sessions that may be resumed now.
    pub fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The mote holds a resumable session with `server` (unexpired at `now`).
    pub fn can_resume(&self, now: Instant, server: &Address) -> bool {
        self.entries
            .iter()
            .flatten()
            .any(|e| e.server == *server && e.expires > now)
    }

    /// An abbreviated handshake with `server` runs.
    pub fn is_resuming(&self, server: &Address) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.server == *server && p.step != Step::Done)
    }

    /// How the last abbreviated handshake ended, once.
    pub fn poll_outcome(&mut self) -> Option<OutboundOutcome> {
        self.outcome.take()
    }

    /// Keeps what a Transfer's body of an outbound session (flags 2 and 3) says to resume it
    /// by, replacing an entry for the same server; the entry closest to its end makes room
    /// when the cache is full. Nothing for an inbound session or a cache of size 0.
    pub fn insert(&mut self, now: Instant, body: &TransferBody) {
        let Some(r) = &body.resumption else { return };
        if self.offered == 0 || !body.mote_is_client {
            return;
        }
        self.expire(now);
        let server = Address {
            addr: body.client_addr,
            port: body.client_port,
        };
        let mut id = [0u8; Resumption::MAX_ID_LEN];
        let n = r.session_id().len().min(Resumption::MAX_ID_LEN);
        id[..n].copy_from_slice(&r.session_id()[..n]);
        let entry = Entry {
            server,
            id,
            id_len: n as u8,
            master: r.master_secret,
            ems: r.extended_master_secret,
            suite: body.suite(),
            expires: now + core::time::Duration::from_secs(u64::from(r.lifetime_secs)),
        };
        let used = &mut self.entries[..self.offered];
        let i = if let Some(i) = used
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| e.server == server))
        {
            i
        } else if let Some(i) = used.iter().position(Option::is_none) {
            i
        } else {
            self.stats.evicted += 1;
            used.iter()
                .enumerate()
                .filter_map(|(i, e)| e.as_ref().map(|e| (i, e.expires)))
                .min_by_key(|&(_, t)| t)
                .map_or(0, |(i, _)| i)
        };
        used[i] = Some(entry);
        self.stats.cached += 1;
    }

    /// Drops (and wipes) the entries whose lifetime is over.
    pub fn expire(&mut self, now: Instant) {
        for e in self.entries.iter_mut() {
            if e.as_ref().is_some_and(|x| x.expires <= now) {
                *e = None;
                self.stats.expired += 1;
            }
        }
    }

    /// Forgets the session with `server` (it would not resume).
    fn forget(&mut self, server: &Address) {
        for e in self.entries.iter_mut() {
            if e.as_ref().is_some_and(|x| x.server == *server) {
                *e = None;
            }
        }
    }

    /// Starts an abbreviated handshake with `server` (client random from `rng`): the
    /// ClientHello is queued in `tx`. A handshake with another server in progress is given up.
    pub(crate) fn start<R: Random, const B: usize>(
        &mut self,
        now: Instant,
        server: &Address,
        rng: &mut R,
        tx: &mut Queue<B>,
    ) -> Result<(), StartError> {
        self.expire(now);
        let Some(e) = self.entries[..self.offered]
            .iter()
            .flatten()
            .find(|e| e.server == *server)
        else {
            return Err(StartError::NoSession);
        };
        let mut p = Pending {
            server: *server,
            step: Step::ServerHello,
            suite: e.suite,
            id: e.id,
            id_len: e.id_len,
            master: e.master,
            ems: e.ems,
            client_random: [0; 32],
            cookie: [0; MAX_COOKIE],
            cookie_len: 0,
            verify_requests: 0,
            hello_seq: 0,
            record_seq: 0,
            transcript: Sha256::new(),
            client_key: [0; KEY_LEN],
            server_key: [0; KEY_LEN],
            client_iv: [0; IV_LEN],
            server_iv: [0; IV_LEN],
            final_flight: [0; FINAL_MAX],
            final_len: 0,
            retransmit_at: now + core::time::Duration::from_millis(RETRANSMIT_MS),
            retransmits: 0,
        };
        rng.fill(&mut p.client_random);
        if !Self::queue_hello(&p, tx) {
            return Err(StartError::QueueFull);
        }
        if self.pending.as_ref().is_some_and(|p| p.step != Step::Done) {
            self.stats.abandoned += 1;
        }
        self.pending = Some(p);
        self.stats.started += 1;
        Ok(())
    }

    /// The ClientHello (handshake message only) into `out`; its length.
    fn hello_message(p: &Pending, out: &mut [u8]) -> Option<usize> {
        let mut body = [0u8; HELLO_MAX];
        let mut n = 0;
        let mut put = |b: &[u8]| -> Option<()> {
            body.get_mut(n..n + b.len())?.copy_from_slice(b);
            n += b.len();
            Some(())
        };
        let id = p.id.get(..usize::from(p.id_len))?;
        let cookie = p.cookie.get(..usize::from(p.cookie_len))?;
        put(&ProtocolVersion::DTLS1_2.0.to_be_bytes())?;
        put(&p.client_random)?;
        put(&[id.len() as u8])?;
        put(id)?;
        put(&[cookie.len() as u8])?;
        put(cookie)?;
        put(&4u16.to_be_bytes())?;
        put(&suite_code(p.suite).to_be_bytes())?;
        put(&EMPTY_RENEGOTIATION_INFO_SCSV.to_be_bytes())?;
        put(&[1, 0])?;
        if p.ems {
            put(&4u16.to_be_bytes())?;
            put(&EXT_EXTENDED_MASTER_SECRET.to_be_bytes())?;
            put(&[0, 0])?;
        }
        handshake_message(out, CLIENT_HELLO, p.hello_seq, &body[..n])
    }

    fn queue_hello<const B: usize>(p: &Pending, tx: &mut Queue<B>) -> bool {
        let room = tx.room();
        let Some(len) = room
            .get_mut(HEADER_LEN..)
            .and_then(|m| Self::hello_message(p, m))
        else {
            return false;
        };
        plain_record(room, ContentType::Handshake, 0, p.record_seq, len);
        tx.commit(
            Head {
                local: LocalPort::Session,
                remote: p.server,
            },
            HEADER_LEN + len,
        )
    }

    fn queue_final<const B: usize>(p: &Pending, tx: &mut Queue<B>) {
        let room = tx.room();
        if let Some(dst) = room.get_mut(..p.final_len) {
            dst.copy_from_slice(&p.final_flight[..p.final_len]);
            tx.commit(
                Head {
                    local: LocalPort::Session,
                    remote: p.server,
                },
                p.final_len,
            );
        }
    }

    /// When the handshake has work next (a retransmission), or an entry ends.
    pub fn next_timeout(&self) -> Option<Instant> {
        let entries = self.entries.iter().flatten().map(|e| e.expires).min();
        let pending = self.pending.as_ref().map(|p| p.retransmit_at);
        match (entries, pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends the hello again when due; gives the handshake up after the last one.
    pub(crate) fn handle_timeout<const B: usize>(&mut self, now: Instant, tx: &mut Queue<B>) {
        self.expire(now);
        let Some(p) = &mut self.pending else { return };
        if now < p.retransmit_at {
            return;
        }
        if p.step == Step::Done {
            self.pending = None;
            return;
        }
        if p.retransmits >= MAX_RETRANSMITS {
            let server = p.server;
            self.give_up(server);
            self.stats.abandoned += 1;
            return;
        }
        p.retransmits += 1;
        p.retransmit_at = now + core::time::Duration::from_millis(RETRANSMIT_MS << p.retransmits);
        if p.step == Step::ServerHello {
            p.record_seq += 1;
            Self::queue_hello(p, tx);
            self.stats.retransmits += 1;
        }
    }

    /// Ends the attempt: the server will not resume, the entry goes, the device asks its
    /// IoTSSP.
    fn give_up(&mut self, server: Address) {
        self.pending = None;
        self.forget(&server);
        self.outcome = Some(OutboundOutcome::NotResumed(server));
    }

    /// A datagram to the session port: true if it was the handshake's (the server's flight or
    /// a repeat of it); false leaves it to the record layer.
    pub(crate) fn handle_datagram<A: Aes128Block, const S: usize, const B: usize>(
        &mut self,
        now: Instant,
        from: &Address,
        datagram: &[u8],
        sessions: &mut Sessions<S>,
        tx: &mut Queue<B>,
    ) -> bool {
        let Some(step) = self
            .pending
            .as_ref()
            .filter(|p| p.server == *from)
            .map(|p| p.step)
        else {
            return false;
        };
        if step == Step::Done {
            // The server's flight again: our last flight was lost.
            let first = records(datagram).next();
            if let (Some(Ok(r)), Some(p)) = (first, &self.pending)
                && r.content_type() == ContentType::Handshake
                && r.epoch() == 0
            {
                self.stats.retransmits += 1;
                Self::queue_final(p, tx);
                return true;
            }
            return false;
        }
        for rec in records(datagram) {
            let Ok(rec) = rec else {
                self.stats.malformed += 1;
                break;
            };
            let Some(step) = self.pending.as_ref().map(|p| p.step) else {
                break;
            };
            match (step, rec.content_type(), rec.epoch()) {
                (Step::ServerHello, ContentType::Handshake, 0) => {
                    self.on_hello_answer::<B>(now, &rec, tx)
                }
                (Step::ServerHello, ContentType::Alert, 0) => {
                    self.stats.not_resumed += 1;
                    self.give_up(*from);
                }
                (Step::ChangeCipherSpec, ContentType::ChangeCipherSpec, 0) => {
                    if let Some(p) = &mut self.pending {
                        p.step = Step::Finished;
                    }
                }
                (Step::Finished, ContentType::Handshake, 1) => {
                    self.on_finished::<A, S, B>(now, &rec, sessions, tx)
                }
                _ => {}
            }
            if self.pending.as_ref().is_some_and(|p| p.step == Step::Done) {
                // Application data behind the Finished goes to the record layer.
                return false;
            }
        }
        true
    }

    /// A HelloVerifyRequest (the hello again with its cookie) or the ServerHello.
    fn on_hello_answer<const B: usize>(
        &mut self,
        now: Instant,
        rec: &Record<&[u8]>,
        tx: &mut Queue<B>,
    ) {
        let Some(p) = &mut self.pending else { return };
        let Some((typ, m)) = handshake(rec) else {
            self.stats.malformed += 1;
            return;
        };
        match typ {
            HELLO_VERIFY_REQUEST => {
                let Some((cookie, _)) = m.get(HANDSHAKE_HEADER..).and_then(|b| vector(b, 2, 1))
                else {
                    self.stats.malformed += 1;
                    return;
                };
                if cookie.len() > MAX_COOKIE || p.verify_requests >= MAX_VERIFY_REQUESTS {
                    self.stats.not_resumed += 1;
                    let server = p.server;
                    self.give_up(server);
                    return;
                }
                p.verify_requests += 1;
                p.cookie[..cookie.len()].copy_from_slice(cookie);
                p.cookie_len = cookie.len() as u8;
                p.hello_seq = p.hello_seq.wrapping_add(1);
                p.record_seq += 1;
                p.retransmits = 0;
                p.retransmit_at = now + core::time::Duration::from_millis(RETRANSMIT_MS);
                self.stats.verify_requests += 1;
                Self::queue_hello(p, tx);
            }
            SERVER_HELLO => {
                let Some(sh) = parse_server_hello(m) else {
                    self.stats.malformed += 1;
                    return;
                };
                let resumes = sh.session_id == &p.id[..usize::from(p.id_len)]
                    && sh.suite == suite_code(p.suite)
                    && sh.compression == 0
                    && sh.ems == p.ems;
                if !resumes {
                    self.stats.not_resumed += 1;
                    let server = p.server;
                    self.give_up(server);
                    return;
                }
                let mut hello = [0u8; HELLO_MAX];
                let Some(len) = Self::hello_message(p, &mut hello) else {
                    return;
                };
                p.transcript.update(&hello[..len]);
                p.transcript.update(m);
                let (k, i) = key_lengths(p.suite);
                let mut block = [0u8; 2 * 32 + 2 * 12];
                prf(
                    &p.master,
                    b"key expansion",
                    sh.random,
                    &p.client_random,
                    &mut block[..2 * (k + i)],
                );
                p.client_key[..k].copy_from_slice(&block[..k]);
                p.server_key[..k].copy_from_slice(&block[k..2 * k]);
                p.client_iv[..i].copy_from_slice(&block[2 * k..2 * k + i]);
                p.server_iv[..i].copy_from_slice(&block[2 * k + i..2 * (k + i)]);
                block.zeroize();
                p.step = Step::ChangeCipherSpec;
            }
            _ => {}
        }
    }

    /// The server's Finished (epoch 1): on success the mote's ChangeCipherSpec and Finished
    /// go out and the session is installed in `sessions` (the mote writes from sequence 1;
    /// its Finished used 0).
    fn on_finished<A: Aes128Block, const S: usize, const B: usize>(
        &mut self,
        now: Instant,
        rec: &Record<&[u8]>,
        sessions: &mut Sessions<S>,
        tx: &mut Queue<B>,
    ) {
        let Some(p) = &mut self.pending else { return };
        let mut body = [0u8; HANDSHAKE_HEADER + 12 + protection::MAX_OVERHEAD];
        let fragment = rec.fragment();
        let Some(dst) = body.get_mut(..fragment.len()) else {
            self.stats.bad_finished += 1;
            return;
        };
        dst.copy_from_slice(fragment);
        let id = RecordId {
            content_type: ContentType::Handshake.into(),
            version: rec.version().0,
            epoch: 1,
            sequence_number: rec.sequence_number(),
        };
        let keys = DirectionKeys {
            key: &p.server_key,
            iv: &p.server_iv,
        };
        let e = protection::explicit_nonce_len(p.suite);
        let mut expected = [0u8; 12];
        let hash: [u8; 32] = p.transcript.clone().finalize().into();
        prf(&p.master, b"server finished", &hash, &[], &mut expected);
        let mut server_fin = [0u8; HANDSHAKE_HEADER + 12];
        let ok = match protection::open::<A>(p.suite, &keys, id, dst) {
            Ok(len) => {
                let m = &dst[e..e + len];
                let ok = len == HANDSHAKE_HEADER + 12
                    && m[0] == FINISHED
                    && u24_at(m, 1) == Some(12)
                    && u24_at(m, 6) == Some(0)
                    && u24_at(m, 9) == Some(12)
                    && ct_eq(&m[HANDSHAKE_HEADER..], &expected);
                if ok {
                    server_fin.copy_from_slice(m);
                }
                ok
            }
            Err(_) => false,
        };
        body.zeroize();
        expected.zeroize();
        if !ok {
            self.stats.bad_finished += 1;
            return;
        }
        p.transcript.update(server_fin);
        let hash: [u8; 32] = p.transcript.clone().finalize().into();
        let mut verify = [0u8; 12];
        prf(&p.master, b"client finished", &hash, &[], &mut verify);

        // ChangeCipherSpec (epoch 0, after the hellos) and Finished (epoch 1, sequence 0).
        let flight = &mut p.final_flight;
        let ccs_seq = p.record_seq + 1;
        plain_record(flight, ContentType::ChangeCipherSpec, 0, ccs_seq, 1);
        flight[HEADER_LEN] = 1;
        let at = HEADER_LEN + 1;
        let mut fin = [0u8; HANDSHAKE_HEADER + 12];
        let Some(fin_len) =
            handshake_message(&mut fin, FINISHED, p.hello_seq.wrapping_add(1), &verify)
        else {
            return;
        };
        verify.zeroize();
        let body_len = e + fin_len + protection::tag_len(p.suite);
        let Some(rec_out) = flight.get_mut(at..at + HEADER_LEN + body_len) else {
            return;
        };
        plain_record(rec_out, ContentType::Handshake, 1, 0, body_len);
        rec_out[HEADER_LEN + e..HEADER_LEN + e + fin_len].copy_from_slice(&fin[..fin_len]);
        fin.zeroize();
        let id = RecordId {
            content_type: ContentType::Handshake.into(),
            version: ProtocolVersion::DTLS1_2.0,
            epoch: 1,
            sequence_number: 0,
        };
        let keys = DirectionKeys {
            key: &p.client_key,
            iv: &p.client_iv,
        };
        if protection::seal::<A>(p.suite, &keys, id, &mut rec_out[HEADER_LEN..]).is_err() {
            return;
        }
        p.final_len = at + HEADER_LEN + body_len;
        Self::queue_final(p, tx);

        let block = KeyBlock {
            client_write_key: take(&p.client_key),
            server_write_key: take(&p.server_key),
            client_write_iv: take(&p.client_iv),
            server_write_iv: take(&p.server_iv),
        };
        let keys = match p.suite {
            Suite::ChaCha20Poly1305 => SessionKeys::ChaCha20Poly1305(KeyBlock {
                client_write_key: take(&p.client_key),
                server_write_key: take(&p.server_key),
                client_write_iv: take(&p.client_iv),
                server_write_iv: take(&p.server_iv),
            }),
            Suite::Ccm => SessionKeys::Ccm(block),
            Suite::Gcm => SessionKeys::Gcm(block),
            Suite::Ccm8 => SessionKeys::Ccm8(block),
        };
        let installed = TransferBody {
            keys,
            may_evict: true,
            client_addr: p.server.addr,
            client_port: p.server.port,
            sequence: Some(SequenceNumbers {
                highest_received: rec.sequence_number(),
                next_write: 1,
            }),
            mote_is_client: true,
            resumption: None,
        };
        // The handshake keys are not needed any more; the last flight is kept for a while.
        p.client_key.zeroize();
        p.server_key.zeroize();
        p.client_iv.zeroize();
        p.server_iv.zeroize();
        p.step = Step::Done;
        p.retransmit_at = now + core::time::Duration::from_millis(FINAL_KEPT_MS);
        let server = p.server;
        if sessions.install(now, &installed) == mote_assoc::Installation::Installed {
            self.stats.resumed += 1;
            self.outcome = Some(OutboundOutcome::Resumed(server));
        } else {
            self.stats.abandoned += 1;
            self.outcome = Some(OutboundOutcome::NotResumed(server));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionLayer;
    use mote_assoc::crypto::SoftAes;
    use mote_assoc::wire::SuiteSet;
    use proptest::prelude::*;
    use std::vec::Vec;

    struct Rng(u8);
    impl Random for Rng {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_add(41);
                *b = self.0;
            }
        }
    }

    const SERVER: Address = Address {
        addr: [0x30; 16],
        port: 5684,
    };
    const MOTE: Address = Address {
        addr: [0x40; 16],
        port: 5684,
    };

    type Layer = SessionLayer<SoftAes, 2, 1024>;

    fn layer() -> Layer {
        let mut l = Layer::new(SuiteSet(0b1111), core::time::Duration::from_secs(300), 2);
        l.set_resumption_slots(2);
        l
    }

    /// The same session at both ends: the server's side keeps it resumable for clients, the
    /// mote's as the client of an outbound session.
    fn body(peer: Address, mote_is_client: bool, id: &[u8], ems: bool) -> TransferBody {
        TransferBody {
            keys: SessionKeys::Ccm8(KeyBlock {
                client_write_key: [1; 16],
                server_write_key: [2; 16],
                client_write_iv: [3; 4],
                server_write_iv: [4; 4],
            }),
            may_evict: true,
            client_addr: peer.addr,
            client_port: peer.port,
            sequence: None,
            mote_is_client,
            resumption: Resumption::new(id, [0x5a; 48], ems, 60),
        }
    }

    /// Moves every datagram between the two layers until none is left; how many went.
    fn pump(client: &mut Layer, server: &mut Layer, now: u64) -> usize {
        let mut moved = 0;
        let mut buf = [0u8; 1024];
        loop {
            let mut any = false;
            while let Some((to, len)) = client.poll_transmit(&mut buf) {
                assert_eq!(to, SERVER);
                server.handle_datagram_resuming(
                    Instant::from_millis(now),
                    &MOTE,
                    &buf[..len],
                    &mut Rng(9),
                );
                any = true;
                moved += 1;
            }
            while let Some((to, len)) = server.poll_transmit(&mut buf) {
                assert_eq!(to, MOTE);
                client.handle_datagram_resuming(
                    Instant::from_millis(now),
                    &SERVER,
                    &buf[..len],
                    &mut Rng(3),
                );
                any = true;
                moved += 1;
            }
            if !any {
                return moved;
            }
        }
    }

    fn data_both_ways(client: &mut Layer, server: &mut Layer) {
        let mut buf = [0u8; 256];
        client.send(&SERVER, b"GET /temp").unwrap();
        pump(client, server, 20);
        let r = server.recv(&mut buf).unwrap();
        assert_eq!((&buf[..r.len], r.from), (&b"GET /temp"[..], MOTE));
        server.send(&MOTE, b"21.5 C").unwrap();
        pump(client, server, 21);
        let r = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..r.len], b"21.5 C");
    }

    #[test]
    fn the_mote_resumes_its_outbound_session_with_a_server_that_holds_it() {
        for ems in [false, true] {
            let mut server = layer();
            let mut client = layer();
            let id = [0x77; 16];
            assert_eq!(
                server.install(Instant::from_millis(0), &body(MOTE, false, &id, ems)),
                mote_assoc::Installation::Installed
            );
            client.install(Instant::from_millis(0), &body(SERVER, true, &id, ems));
            assert!(
                client
                    .outbound_resumption()
                    .can_resume(Instant::from_millis(1), &SERVER)
            );
            // The first sessions end (close_notify both ways); the resumable entries stay.
            client.close(&SERVER).unwrap();
            pump(&mut client, &mut server, 1);
            assert!(client.sessions().is_empty() && server.sessions().is_empty());

            client
                .resume_outbound(Instant::from_millis(2), &SERVER, &mut Rng(1))
                .unwrap();
            assert!(client.outbound_resumption().is_resuming(&SERVER));
            // Hello; the server's flight in one datagram; the mote's CCS and Finished.
            assert_eq!(pump(&mut client, &mut server, 3), 3);
            assert_eq!(
                client.poll_outbound_outcome(),
                Some(OutboundOutcome::Resumed(SERVER))
            );
            assert_eq!(client.poll_outbound_outcome(), None);
            assert_eq!(server.resumption().stats().resumed, 1, "ems {ems}");
            assert_eq!(client.outbound_resumption().stats().resumed, 1);
            assert!(client.sessions().is_client_of(&SERVER));
            data_both_ways(&mut client, &mut server);
            // Still resumable for the next time.
            assert!(
                client
                    .outbound_resumption()
                    .can_resume(Instant::from_millis(30), &SERVER)
            );
        }
    }

    #[test]
    fn a_server_that_does_not_resume_sends_the_mote_back_to_its_iotssp() {
        let mut server = layer();
        let mut client = layer();
        client.install(
            Instant::from_millis(0),
            &body(SERVER, true, &[0x77; 16], false),
        );
        client.close(&SERVER).unwrap();
        let mut buf = [0u8; 256];
        while client.poll_transmit(&mut buf).is_some() {}
        client
            .resume_outbound(Instant::from_millis(1), &SERVER, &mut Rng(1))
            .unwrap();
        // The server does not know the id: HelloVerifyRequests, which the mote follows twice.
        pump(&mut client, &mut server, 2);
        assert_eq!(
            client.poll_outbound_outcome(),
            Some(OutboundOutcome::NotResumed(SERVER))
        );
        let stats = client.outbound_resumption().stats();
        assert_eq!(
            (stats.verify_requests, stats.not_resumed, stats.resumed),
            (2, 1, 0)
        );
        assert!(
            !client
                .outbound_resumption()
                .can_resume(Instant::from_millis(3), &SERVER)
        );
        assert_eq!(
            client.resume_outbound(Instant::from_millis(3), &SERVER, &mut Rng(1)),
            Err(StartError::NoSession)
        );
        assert!(client.sessions().is_empty());
    }

    #[test]
    fn a_silent_server_gets_the_hello_three_times_more_then_the_mote_gives_up() {
        let mut client = layer();
        client.install(
            Instant::from_millis(0),
            &body(SERVER, true, &[0x77; 16], false),
        );
        client.close(&SERVER).unwrap();
        let mut buf = [0u8; 256];
        while client.poll_transmit(&mut buf).is_some() {}
        client
            .resume_outbound(Instant::from_millis(0), &SERVER, &mut Rng(1))
            .unwrap();
        let mut hellos: Vec<Vec<u8>> = Vec::new();
        for _ in 0..10 {
            while let Some((_, len)) = client.poll_transmit(&mut buf) {
                hellos.push(buf[..len].to_vec());
            }
            let Some(t) = client.poll_timeout() else {
                break;
            };
            client.handle_timeout(t);
            if client.poll_outbound_outcome() == Some(OutboundOutcome::NotResumed(SERVER)) {
                break;
            }
        }
        assert_eq!(hellos.len(), 4);
        // The same hello each time, in a new record.
        assert_eq!(hellos[0][13..], hellos[3][13..]);
        assert_ne!(hellos[0][3..11], hellos[3][3..11]);
        assert_eq!(client.outbound_resumption().stats().abandoned, 1);
        assert!(client.outbound_resumption().is_empty());
    }

    #[test]
    fn a_lost_final_flight_is_sent_again_when_the_servers_flight_repeats() {
        let mut server = layer();
        let mut client = layer();
        let id = [0x77; 16];
        server.install(Instant::from_millis(0), &body(MOTE, false, &id, false));
        client.install(Instant::from_millis(0), &body(SERVER, true, &id, false));
        let mut buf = [0u8; 1024];
        client.close(&SERVER).unwrap();
        pump(&mut client, &mut server, 1);
        client
            .resume_outbound(Instant::from_millis(2), &SERVER, &mut Rng(1))
            .unwrap();
        let (_, len) = client.poll_transmit(&mut buf).unwrap();
        server.handle_datagram_resuming(Instant::from_millis(2), &MOTE, &buf[..len], &mut Rng(9));
        let (_, len) = server.poll_transmit(&mut buf).unwrap();
        client.handle_datagram_resuming(Instant::from_millis(2), &SERVER, &buf[..len], &mut Rng(3));
        // The mote's CCS and Finished are lost; the server's timer repeats its flight.
        assert!(client.poll_transmit(&mut buf).is_some());
        server.handle_timeout(Instant::from_millis(1002));
        assert_eq!(pump(&mut client, &mut server, 1002), 2);
        assert_eq!(server.resumption().stats().resumed, 1);
        assert_eq!(client.outbound_resumption().stats().retransmits, 1);
        data_both_ways(&mut client, &mut server);
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6)) {
            let mut client = layer();
            client.install(Instant::from_millis(0), &body(SERVER, true, &[0x77; 16], true));
            client.resume_outbound(Instant::from_millis(0), &SERVER, &mut Rng(1)).unwrap();
            let mut buf = [0u8; 1024];
            for (i, d) in datagrams.iter().enumerate() {
                client.handle_datagram_resuming(Instant::from_millis(1 + i as u64), &SERVER, d, &mut Rng(2));
                client.handle_timeout(Instant::from_millis(1500 * i as u64));
                while client.poll_transmit(&mut buf).is_some() {}
            }
            prop_assert_eq!(client.outbound_resumption().stats().resumed, 0);
        }
    }
}
