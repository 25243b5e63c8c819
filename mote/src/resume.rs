//! Resumption at the mote (docs/session-transfer.md, "Resumption at the mote"): the server
//! side of the DTLS 1.2 abbreviated handshake (RFC 5246 7.3, RFC 6347) for sessions whose
//! Transfer carried a session id and master secret. The client's ClientHello (with the
//! border router's cookie, which the mote does not check) names a cached session; the mote
//! answers ServerHello (same id), ChangeCipherSpec and Finished, checks the client's
//! Finished and installs the session's new keys in a slot of [`Sessions`]. Only SHA-256
//! and the record layer's AEAD run: no ECC.
//!
//! A hello the mote cannot resume (unknown or expired id, a suite or extended-master-secret
//! use that does not match the session) gets a HelloVerifyRequest with a cookie the border
//! router never issued: the client's next hello then carries a cookie the HRM does not
//! know, so it goes to the IoTSSP like any other, which runs a full delegated handshake.

use dtls_wire::{ContentType, HEADER_LEN, ProtocolVersion, Record, RecordHeader, records};
use hmac::{Hmac, KeyInit, Mac};
use mote_assoc::crypto::{Aes128Block, Random};
use mote_assoc::time::Instant;
use mote_assoc::wire::{KeyBlock, Resumption, SessionKeys, Suite, TransferBody};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::protection::{self, DirectionKeys, IV_LEN, KEY_LEN, RecordId};
use crate::queue::{Head, Queue};
use crate::sessions::Sessions;
use crate::{Address, LocalPort};

pub(crate) const CLIENT_HELLO: u8 = 1;
pub(crate) const SERVER_HELLO: u8 = 2;
pub(crate) const HELLO_VERIFY_REQUEST: u8 = 3;
pub(crate) const FINISHED: u8 = 20;
pub(crate) const HANDSHAKE_HEADER: usize = 12;
pub(crate) const EXT_RENEGOTIATION_INFO: u16 = 0xff01;
pub(crate) const EXT_EXTENDED_MASTER_SECRET: u16 = 0x0017;
pub(crate) const EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00ff;
/// The cookie of the HelloVerifyRequest that sends a client back to a full handshake: any
/// value the border router's cookie check refuses.
const FALLBACK_COOKIE: &[u8] = b"full";
/// The mote's flight: ServerHello (at most 13 + 12 + 2 + 32 + 33 + 3 + 2 + 9 bytes), the
/// ChangeCipherSpec (14) and the Finished (13 + 12 + 12 + 24 at most).
const FLIGHT_MAX: usize = 256;
/// The flight is sent again after 1 s, then doubling, at most this many times.
pub(crate) const MAX_RETRANSMITS: u8 = 3;
pub(crate) const RETRANSMIT_MS: u64 = 1000;

/// The cipher suite numbers of the record layer's suites.
pub(crate) fn suite_code(suite: Suite) -> u16 {
    match suite {
        Suite::Ccm8 => 0xC0AE,
        Suite::Ccm => 0xC0AC,
        Suite::Gcm => 0xC02B,
        Suite::ChaCha20Poly1305 => 0xCCA9,
    }
}

/// One resumable session: id, master secret, suite, role and when it stops being resumable.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Entry {
    id: [u8; Resumption::MAX_ID_LEN],
    id_len: u8,
    master: [u8; 48],
    ems: bool,
    #[zeroize(skip)]
    suite: Suite,
    #[zeroize(skip)]
    expires: Instant,
}

impl Entry {
    fn id(&self) -> &[u8] {
        &self.id[..usize::from(self.id_len).min(Resumption::MAX_ID_LEN)]
    }
}

/// The keys of an abbreviated handshake in progress, padded like the record layer's.
#[derive(Zeroize, ZeroizeOnDrop)]
struct HandshakeKeys {
    client_key: [u8; KEY_LEN],
    server_key: [u8; KEY_LEN],
    client_iv: [u8; IV_LEN],
    server_iv: [u8; IV_LEN],
}

/// The abbreviated handshake waiting for the client's Finished (one at a time).
#[derive(Zeroize, ZeroizeOnDrop)]
struct Pending {
    #[zeroize(skip)]
    peer: Address,
    #[zeroize(skip)]
    suite: Suite,
    keys: HandshakeKeys,
    expected_finished: [u8; 12],
    /// SHA-256 of the client's hello (a repeat is the same message).
    hello_digest: [u8; 32],
    flight: [u8; FLIGHT_MAX],
    flight_len: usize,
    #[zeroize(skip)]
    retransmit_at: Instant,
    retransmits: u8,
}

/// The resumption cache's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumptionStats {
    /// Sessions a Transfer made resumable.
    pub cached: u64,
    /// Cached sessions dropped for a newer one (the cache was full).
    pub evicted: u64,
    /// Cached sessions dropped at the end of their lifetime.
    pub expired: u64,
    /// ClientHellos that named a cached session and got the mote's flight.
    pub hellos: u64,
    /// Abbreviated handshakes completed (the client's Finished verified; session installed).
    pub resumed: u64,
    /// Hellos sent back to a full handshake (a HelloVerifyRequest the HRM refuses).
    pub fallbacks: u64,
    /// Client Finished messages that did not verify or open.
    pub bad_finished: u64,
    /// Flights sent again (a repeated hello or the timer).
    pub retransmits: u64,
    /// Handshakes given up (no Finished after the retransmissions, or replaced).
    pub abandoned: u64,
    /// Handshake datagrams that could not be parsed.
    pub malformed: u64,
}

/// The sessions the mote may resume (`N` at most, `offered` used) and the abbreviated
/// handshake in progress.
pub struct ResumptionCache<const N: usize> {
    entries: [Option<Entry>; N],
    offered: usize,
    pending: Option<Pending>,
    stats: ResumptionStats,
}

type HmacSha256 = Hmac<Sha256>;

/// P_SHA256 (RFC 5246 5): `out.len()` bytes of PRF(secret, label, seed_a || seed_b).
pub(crate) fn prf(secret: &[u8], label: &[u8], seed_a: &[u8], seed_b: &[u8], out: &mut [u8]) {
    let Ok(base) = HmacSha256::new_from_slice(secret) else {
        return;
    };
    let mut a = {
        let mut m = base.clone();
        m.update(label);
        m.update(seed_a);
        m.update(seed_b);
        m.finalize().into_bytes()
    };
    for chunk in out.chunks_mut(32) {
        let mut m = base.clone();
        m.update(&a);
        m.update(label);
        m.update(seed_a);
        m.update(seed_b);
        let block = m.finalize().into_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
        let mut m = base.clone();
        m.update(&a);
        a = m.finalize().into_bytes();
    }
    a.zeroize();
}

/// A ClientHello's fields the mote uses.
struct Hello<'a> {
    record_seq: u64,
    message_seq: u16,
    /// The whole handshake message (header and body) as it enters the transcript.
    body: &'a [u8],
    random: &'a [u8],
    session_id: &'a [u8],
    offers_suite: [bool; 4],
    renegotiation_info: bool,
    ems: bool,
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

pub(crate) fn u24_at(b: &[u8], at: usize) -> Option<usize> {
    Some(
        usize::from(*b.get(at)?) << 16
            | usize::from(*b.get(at + 1)?) << 8
            | usize::from(*b.get(at + 2)?),
    )
}

/// Reads a variable-length vector with a `n`-byte length at `at`: (contents, next offset).
pub(crate) fn vector(b: &[u8], at: usize, n: usize) -> Option<(&[u8], usize)> {
    let len = match n {
        1 => usize::from(*b.get(at)?),
        _ => usize::from(u16_at(b, at)?),
    };
    let start = at + n;
    Some((b.get(start..start + len)?, start + len))
}

/// Parses an epoch-0 record holding one whole ClientHello.
fn parse_hello(rec: Record<&[u8]>) -> Option<Hello<'_>> {
    if rec.content_type() != ContentType::Handshake || rec.epoch() != 0 {
        return None;
    }
    let record_seq = rec.sequence_number();
    let f = rec.into_inner().get(HEADER_LEN..)?;
    if *f.first()? != CLIENT_HELLO {
        return None;
    }
    let len = u24_at(f, 1)?;
    let message_seq = u16_at(f, 4)?;
    // Unfragmented: offset 0, fragment length = length.
    if u24_at(f, 6)? != 0 || u24_at(f, 9)? != len {
        return None;
    }
    let b = f.get(HANDSHAKE_HEADER..HANDSHAKE_HEADER + len)?;
    if u16_at(b, 0)? != ProtocolVersion::DTLS1_2.0 {
        return None;
    }
    let random = b.get(2..34)?;
    let (session_id, at) = vector(b, 34, 1)?;
    let (_cookie, at) = vector(b, at, 1)?;
    let (suites, at) = vector(b, at, 2)?;
    let (compression, at) = vector(b, at, 1)?;
    if !compression.contains(&0) || suites.len() % 2 != 0 {
        return None;
    }
    let mut offers_suite = [false; 4];
    let mut renegotiation_info = false;
    for s in suites.chunks_exact(2) {
        let s = u16::from_be_bytes([s[0], s[1]]);
        for (i, suite) in [Suite::Ccm8, Suite::Ccm, Suite::Gcm, Suite::ChaCha20Poly1305]
            .iter()
            .enumerate()
        {
            offers_suite[i] |= s == suite_code(*suite);
        }
        renegotiation_info |= s == EMPTY_RENEGOTIATION_INFO_SCSV;
    }
    let mut ems = false;
    if at < b.len() {
        let (mut exts, _) = vector(b, at, 2)?;
        while !exts.is_empty() {
            let typ = u16_at(exts, 0)?;
            let (data, next) = vector(exts, 2, 2)?;
            match typ {
                EXT_RENEGOTIATION_INFO => renegotiation_info |= data == [0],
                EXT_EXTENDED_MASTER_SECRET => ems = true,
                _ => {}
            }
            exts = exts.get(next..)?;
        }
    }
    Some(Hello {
        record_seq,
        message_seq,
        body: f.get(..HANDSHAKE_HEADER + len)?,
        random,
        session_id,
        offers_suite,
        renegotiation_info,
        ems,
    })
}

fn suite_index(suite: Suite) -> usize {
    match suite {
        Suite::Ccm8 => 0,
        Suite::Ccm => 1,
        Suite::Gcm => 2,
        Suite::ChaCha20Poly1305 => 3,
    }
}

/// Appends a handshake message (unfragmented DTLS header) to `out` at `at`; its length.
pub(crate) fn handshake_message(
    out: &mut [u8],
    msg_type: u8,
    message_seq: u16,
    body: &[u8],
) -> Option<usize> {
    let len = body.len();
    let dst = out.get_mut(..HANDSHAKE_HEADER + len)?;
    dst[0] = msg_type;
    dst[1..4].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
    dst[4..6].copy_from_slice(&message_seq.to_be_bytes());
    dst[6..9].copy_from_slice(&[0; 3]);
    dst[9..12].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
    dst[12..].copy_from_slice(body);
    Some(HANDSHAKE_HEADER + len)
}

/// Writes a plaintext record header in front of `len` bytes at `out[at + 13..]`.
pub(crate) fn plain_record(
    out: &mut [u8],
    content_type: ContentType,
    epoch: u16,
    seq: u64,
    len: usize,
) {
    let header = RecordHeader {
        content_type,
        version: ProtocolVersion::DTLS1_2,
        epoch,
        sequence_number: seq,
    };
    if let Some(h) = out.get_mut(..HEADER_LEN) {
        header.emit_header(len as u16, &mut Record::new_unchecked(h));
    }
}

impl<const N: usize> ResumptionCache<N> {
    /// An empty cache using `offered` of its `N` entries (0: no session is resumable).
    pub fn new(offered: usize) -> Self {
        ResumptionCache {
            entries: core::array::from_fn(|_| None),
            offered: offered.min(N),
            pending: None,
            stats: ResumptionStats::default(),
        }
    }

    pub fn stats(&self) -> &ResumptionStats {
        &self.stats
    }

    /// Sessions that may be resumed now.
    pub fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cache holds the session `id` (and it has not expired at `now`).
    pub fn contains(&self, now: Instant, id: &[u8]) -> bool {
        self.entries
            .iter()
            .flatten()
            .any(|e| e.id() == id && e.expires > now)
    }

    /// Keeps what a Transfer's body says to resume its session by (flag 3); the entry
    /// closest to its end makes room when the cache is full. Nothing for an outbound session
    /// (the mote is the client there) or a cache of size 0.
    pub fn insert(&mut self, now: Instant, body: &TransferBody) {
        let Some(r) = &body.resumption else { return };
        if self.offered == 0 || body.mote_is_client {
            return;
        }
        self.expire(now);
        let entry = Entry {
            id: {
                let mut id = [0u8; Resumption::MAX_ID_LEN];
                id[..r.session_id().len()].copy_from_slice(r.session_id());
                id
            },
            id_len: r.session_id().len() as u8,
            master: r.master_secret,
            ems: r.extended_master_secret,
            suite: body.suite(),
            expires: now + core::time::Duration::from_secs(u64::from(r.lifetime_secs)),
        };
        let used = &mut self.entries[..self.offered];
        let i = if let Some(i) = used
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| e.id() == r.session_id()))
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

    /// When the cache has work next: the flight's retransmission, or an entry's end.
    pub fn next_timeout(&self) -> Option<Instant> {
        let entries = self.entries.iter().flatten().map(|e| e.expires).min();
        let pending = self.pending.as_ref().map(|p| p.retransmit_at);
        match (entries, pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Retransmits the flight when due; gives the handshake up after the last one.
    pub(crate) fn handle_timeout<const B: usize>(&mut self, now: Instant, tx: &mut Queue<B>) {
        self.expire(now);
        let Some(p) = &mut self.pending else { return };
        if now < p.retransmit_at {
            return;
        }
        if p.retransmits >= MAX_RETRANSMITS {
            self.pending = None;
            self.stats.abandoned += 1;
            return;
        }
        p.retransmits += 1;
        p.retransmit_at = now + core::time::Duration::from_millis(RETRANSMIT_MS << p.retransmits);
        self.stats.retransmits += 1;
        Self::queue_flight(p, tx);
    }

    fn queue_flight<const B: usize>(p: &Pending, tx: &mut Queue<B>) {
        // The three records in one datagram, as the client expects a flight.
        let room = tx.room();
        if let Some(dst) = room.get_mut(..p.flight_len) {
            dst.copy_from_slice(&p.flight[..p.flight_len]);
            tx.commit(
                Head {
                    local: LocalPort::Session,
                    remote: p.peer,
                },
                p.flight_len,
            );
        }
    }

    /// A datagram to the session port: true if it was the resumption's (a ClientHello, or
    /// the client's ChangeCipherSpec and Finished of the pending handshake); false leaves it
    /// to the record layer.
    pub(crate) fn handle_datagram<A: Aes128Block, R: Random, const S: usize, const B: usize>(
        &mut self,
        now: Instant,
        from: &Address,
        datagram: &[u8],
        rng: &mut R,
        sessions: &mut Sessions<S>,
        tx: &mut Queue<B>,
    ) -> bool {
        let Some(Ok(first)) = records(datagram).next() else {
            return false;
        };
        if first.content_type() == ContentType::Handshake && first.epoch() == 0 {
            if self.offered == 0 {
                return false;
            }
            match parse_hello(first) {
                Some(hello) => self.on_hello::<A, R, B>(now, from, &hello, rng, tx),
                None => self.stats.malformed += 1,
            }
            return true;
        }
        if self.pending.as_ref().is_none_or(|p| p.peer != *from) {
            return false;
        }
        let mut finished = false;
        for rec in records(datagram) {
            let Ok(rec) = rec else {
                self.stats.malformed += 1;
                break;
            };
            if finished {
                // Application data right behind the Finished: the record layer opens the
                // whole datagram again (the Finished is then below its replay window).
                return false;
            }
            if rec.content_type() == ContentType::Handshake && rec.epoch() == 1 {
                finished = self.on_finished::<A, S>(now, &rec, sessions);
                if !finished {
                    break;
                }
            }
        }
        true
    }

    fn on_hello<A: Aes128Block, R: Random, const B: usize>(
        &mut self,
        now: Instant,
        from: &Address,
        hello: &Hello<'_>,
        rng: &mut R,
        tx: &mut Queue<B>,
    ) {
        self.expire(now);
        if let Some(p) = &mut self.pending
            && p.peer == *from
            && p.hello_digest == <[u8; 32]>::from(Sha256::digest(hello.body))
        {
            self.stats.retransmits += 1;
            Self::queue_flight(p, tx);
            return;
        }
        let usable = self.entries[..self.offered].iter().flatten().find(|e| {
            e.id() == hello.session_id
                && e.expires > now
                && hello.offers_suite[suite_index(e.suite)]
                && e.ems == hello.ems
        });
        let Some(entry) = usable else {
            self.fallback(from, hello, tx);
            return;
        };
        let mut server_random = [0u8; 32];
        rng.fill(&mut server_random);
        let Some(pending) = Self::flight::<A>(now, from, hello, entry, &server_random) else {
            self.stats.malformed += 1;
            return;
        };
        if self.pending.is_some() {
            self.stats.abandoned += 1;
        }
        self.stats.hellos += 1;
        Self::queue_flight(&pending, tx);
        self.pending = Some(pending);
    }

    /// A HelloVerifyRequest with a cookie the border router refuses: the client's next hello
    /// goes to the IoTSSP, for a full handshake.
    fn fallback<const B: usize>(&mut self, from: &Address, hello: &Hello<'_>, tx: &mut Queue<B>) {
        let mut body = [0u8; 3 + FALLBACK_COOKIE.len()];
        body[..2].copy_from_slice(&ProtocolVersion::DTLS1_0.0.to_be_bytes());
        body[2] = FALLBACK_COOKIE.len() as u8;
        body[3..].copy_from_slice(FALLBACK_COOKIE);
        let room = tx.room();
        let Some(len) = room
            .get_mut(HEADER_LEN..)
            .and_then(|m| handshake_message(m, HELLO_VERIFY_REQUEST, hello.message_seq, &body))
        else {
            return;
        };
        plain_record(room, ContentType::Handshake, 0, hello.record_seq, len);
        if tx.commit(
            Head {
                local: LocalPort::Session,
                remote: *from,
            },
            HEADER_LEN + len,
        ) {
            self.stats.fallbacks += 1;
        }
    }

    /// ServerHello, ChangeCipherSpec and Finished for `hello` resuming `entry`.
    fn flight<A: Aes128Block>(
        now: Instant,
        from: &Address,
        hello: &Hello<'_>,
        entry: &Entry,
        server_random: &[u8; 32],
    ) -> Option<Pending> {
        let mut p = Pending {
            peer: *from,
            suite: entry.suite,
            keys: HandshakeKeys {
                client_key: [0; KEY_LEN],
                server_key: [0; KEY_LEN],
                client_iv: [0; IV_LEN],
                server_iv: [0; IV_LEN],
            },
            expected_finished: [0; 12],
            hello_digest: Sha256::digest(hello.body).into(),
            flight: [0; FLIGHT_MAX],
            flight_len: 0,
            retransmit_at: now + core::time::Duration::from_millis(RETRANSMIT_MS),
            retransmits: 0,
        };
        // Key block: client key, server key, client IV, server IV (RFC 5246 6.3; no MAC keys).
        let (k, i) = match entry.suite {
            Suite::ChaCha20Poly1305 => (32, 12),
            _ => (16, 4),
        };
        if k > KEY_LEN || i > IV_LEN {
            return None;
        }
        let mut block = [0u8; 2 * 32 + 2 * 12];
        prf(
            &entry.master,
            b"key expansion",
            server_random,
            hello.random,
            &mut block[..2 * (k + i)],
        );
        p.keys.client_key[..k].copy_from_slice(&block[..k]);
        p.keys.server_key[..k].copy_from_slice(&block[k..2 * k]);
        p.keys.client_iv[..i].copy_from_slice(&block[2 * k..2 * k + i]);
        p.keys.server_iv[..i].copy_from_slice(&block[2 * k + i..2 * (k + i)]);
        block.zeroize();

        // ServerHello body.
        let mut sh = [0u8; 2 + 32 + 1 + 32 + 2 + 1 + 2 + 5 + 4];
        let id = entry.id();
        let mut n = 0;
        let mut put = |b: &[u8]| {
            sh[n..n + b.len()].copy_from_slice(b);
            n += b.len();
        };
        put(&ProtocolVersion::DTLS1_2.0.to_be_bytes());
        put(server_random);
        put(&[id.len() as u8]);
        put(id);
        put(&suite_code(entry.suite).to_be_bytes());
        put(&[0]);
        let ext_len = if hello.renegotiation_info { 5 } else { 0 } + if entry.ems { 4 } else { 0 };
        if ext_len > 0 {
            put(&(ext_len as u16).to_be_bytes());
            if hello.renegotiation_info {
                put(&[0xff, 0x01, 0x00, 0x01, 0x00]);
            }
            if entry.ems {
                put(&[0x00, 0x17, 0x00, 0x00]);
            }
        }
        let flight = &mut p.flight;
        let sh_len = handshake_message(
            &mut flight[HEADER_LEN..],
            SERVER_HELLO,
            hello.message_seq,
            &sh[..n],
        )?;
        plain_record(flight, ContentType::Handshake, 0, hello.record_seq, sh_len);
        let mut at = HEADER_LEN + sh_len;
        let mut transcript = Sha256::new();
        transcript.update(hello.body);
        transcript.update(&flight[HEADER_LEN..at]);
        let hash: [u8; 32] = transcript.clone().finalize().into();
        let mut verify = [0u8; 12];
        prf(&entry.master, b"server finished", &hash, &[], &mut verify);

        // ChangeCipherSpec, the next epoch-0 record.
        plain_record(
            flight.get_mut(at..)?,
            ContentType::ChangeCipherSpec,
            0,
            hello.record_seq + 1,
            1,
        );
        *flight.get_mut(at + HEADER_LEN)? = 1;
        at += HEADER_LEN + 1;

        // Finished, epoch 1, sequence 0, sealed under the server's new keys.
        let mut fin = [0u8; HANDSHAKE_HEADER + 12];
        let fin_len = handshake_message(
            &mut fin,
            FINISHED,
            hello.message_seq.wrapping_add(1),
            &verify,
        )?;
        transcript.update(&fin[..fin_len]);
        let hash: [u8; 32] = transcript.finalize().into();
        prf(
            &entry.master,
            b"client finished",
            &hash,
            &[],
            &mut p.expected_finished,
        );
        let e = protection::explicit_nonce_len(entry.suite);
        let body_len = e + fin_len + protection::tag_len(entry.suite);
        let rec = flight.get_mut(at..at + HEADER_LEN + body_len)?;
        plain_record(rec, ContentType::Handshake, 1, 0, body_len);
        rec[HEADER_LEN + e..HEADER_LEN + e + fin_len].copy_from_slice(&fin[..fin_len]);
        let id = RecordId {
            content_type: ContentType::Handshake.into(),
            version: ProtocolVersion::DTLS1_2.0,
            epoch: 1,
            sequence_number: 0,
        };
        let keys = DirectionKeys {
            key: &p.keys.server_key,
            iv: &p.keys.server_iv,
        };
        protection::seal::<A>(entry.suite, &keys, id, &mut rec[HEADER_LEN..]).ok()?;
        fin.zeroize();
        p.flight_len = at + HEADER_LEN + body_len;
        Some(p)
    }

    /// The client's Finished (epoch 1): on success the session is installed in `sessions`
    /// (the mote writes from sequence 1; its Finished used 0) and the handshake ends.
    fn on_finished<A: Aes128Block, const S: usize>(
        &mut self,
        now: Instant,
        rec: &Record<&[u8]>,
        sessions: &mut Sessions<S>,
    ) -> bool {
        let Some(p) = &self.pending else { return false };
        let mut body = [0u8; HANDSHAKE_HEADER + 12 + protection::MAX_OVERHEAD];
        let fragment = rec.fragment();
        let Some(dst) = body.get_mut(..fragment.len()) else {
            self.stats.bad_finished += 1;
            return false;
        };
        dst.copy_from_slice(fragment);
        let id = RecordId {
            content_type: ContentType::Handshake.into(),
            version: rec.version().0,
            epoch: 1,
            sequence_number: rec.sequence_number(),
        };
        let keys = DirectionKeys {
            key: &p.keys.client_key,
            iv: &p.keys.client_iv,
        };
        let e = protection::explicit_nonce_len(p.suite);
        let ok = match protection::open::<A>(p.suite, &keys, id, dst) {
            Ok(len) => {
                let m = &dst[e..e + len];
                len == HANDSHAKE_HEADER + 12
                    && m[0] == FINISHED
                    && ct_eq(&m[HANDSHAKE_HEADER..], &p.expected_finished)
            }
            Err(_) => false,
        };
        body.zeroize();
        if !ok {
            self.stats.bad_finished += 1;
            return false;
        }
        fn take<const L: usize>(b: &[u8]) -> [u8; L] {
            b.get(..L).and_then(|s| s.try_into().ok()).unwrap_or([0; L])
        }
        let k = &p.keys;
        let keys = match p.suite {
            Suite::ChaCha20Poly1305 => SessionKeys::ChaCha20Poly1305(KeyBlock {
                client_write_key: take(&k.client_key),
                server_write_key: take(&k.server_key),
                client_write_iv: take(&k.client_iv),
                server_write_iv: take(&k.server_iv),
            }),
            s => {
                let b = KeyBlock {
                    client_write_key: take(&k.client_key),
                    server_write_key: take(&k.server_key),
                    client_write_iv: take(&k.client_iv),
                    server_write_iv: take(&k.server_iv),
                };
                match s {
                    Suite::Ccm => SessionKeys::Ccm(b),
                    Suite::Gcm => SessionKeys::Gcm(b),
                    _ => SessionKeys::Ccm8(b),
                }
            }
        };
        let body = TransferBody {
            keys,
            may_evict: true,
            client_addr: p.peer.addr,
            client_port: p.peer.port,
            sequence: Some(mote_assoc::wire::SequenceNumbers {
                highest_received: rec.sequence_number(),
                next_write: 1,
            }),
            mote_is_client: false,
            resumption: None,
        };
        self.pending = None;
        if sessions.install(now, &body) == mote_assoc::Installation::Installed {
            self.stats.resumed += 1;
            true
        } else {
            self.stats.abandoned += 1;
            false
        }
    }
}

pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use mote_assoc::crypto::SoftAes;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    struct Rng(u8);
    impl Random for Rng {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_add(37);
                *b = self.0;
            }
        }
    }

    const CLIENT: Address = Address {
        addr: [0x20; 16],
        port: 40000,
    };

    fn resumable(id: &[u8]) -> TransferBody {
        TransferBody {
            keys: SessionKeys::Ccm8(KeyBlock {
                client_write_key: [1; 16],
                server_write_key: [2; 16],
                client_write_iv: [3; 4],
                server_write_iv: [4; 4],
            }),
            may_evict: true,
            client_addr: CLIENT.addr,
            client_port: CLIENT.port,
            sequence: None,
            mote_is_client: false,
            resumption: Resumption::new(id, [0x11; 48], false, 60),
        }
    }

    /// A ClientHello record (epoch 0, record sequence 1, message_seq 1) offering CCM-8.
    fn hello(session_id: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&[0xfe, 0xfd]);
        body.extend_from_slice(&[0x42; 32]);
        body.push(session_id.len() as u8);
        body.extend_from_slice(session_id);
        body.extend_from_slice(&[4, 0xc0, 0xff, 0xee, 0x00]);
        body.extend_from_slice(&[0, 2, 0xc0, 0xae]);
        body.extend_from_slice(&[1, 0]);
        let mut msg = [0u8; 512];
        let len = handshake_message(&mut msg, CLIENT_HELLO, 1, &body).unwrap();
        let mut rec = vec![0u8; HEADER_LEN + len];
        rec[HEADER_LEN..].copy_from_slice(&msg[..len]);
        plain_record(&mut rec, ContentType::Handshake, 0, 1, len);
        rec
    }

    fn run(
        cache: &mut ResumptionCache<2>,
        sessions: &mut Sessions<2>,
        now: u64,
        datagram: &[u8],
    ) -> Vec<u8> {
        let mut tx = Queue::<512>::new();
        let consumed = cache.handle_datagram::<SoftAes, Rng, 2, 512>(
            Instant::from_millis(now),
            &CLIENT,
            datagram,
            &mut Rng(0),
            sessions,
            &mut tx,
        );
        assert!(consumed);
        let mut out = [0u8; 512];
        match tx.pop(&mut out) {
            Some(Ok((_, len))) => out[..len].to_vec(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn a_cached_session_gets_the_flight_and_an_unknown_one_the_fallback() {
        let mut cache = ResumptionCache::<2>::new(2);
        let mut sessions = Sessions::<2>::new(
            mote_assoc::wire::SuiteSet(0b1111),
            core::time::Duration::from_secs(300),
            2,
        );
        cache.insert(Instant::from_millis(0), &resumable(&[7; 16]));
        assert!(cache.contains(Instant::from_millis(0), &[7; 16]));

        let flight = run(&mut cache, &mut sessions, 1, &hello(&[7; 16]));
        // ServerHello (epoch 0, the hello's sequence 1, message_seq 1, the same id), CCS, Finished.
        assert_eq!(&flight[..3], &[22, 0xfe, 0xfd]);
        assert_eq!(&flight[3..11], &[0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(flight[13], SERVER_HELLO);
        assert_eq!(&flight[17..19], &[0, 1]);
        assert_eq!(
            &flight[13 + 12 + 2 + 32..13 + 12 + 2 + 32 + 17],
            &[&[16u8][..], &[7; 16]].concat()[..]
        );
        assert_eq!(cache.stats().hellos, 1);
        // The same hello again: the same flight.
        assert_eq!(run(&mut cache, &mut sessions, 2, &hello(&[7; 16])), flight);
        assert_eq!(cache.stats().retransmits, 1);

        // An unknown id, and a cached one that expired: a HelloVerifyRequest with "full".
        for (id, now) in [(&[8u8; 16][..], 3), (&[7; 16][..], 61_000)] {
            if now > 60_000 {
                // By then the pending handshake has been retransmitted and given up.
                for t in [10_000, 20_000, 30_000, 40_000] {
                    cache.handle_timeout(Instant::from_millis(t), &mut Queue::<512>::new());
                }
            }
            let hvr = run(&mut cache, &mut sessions, now, &hello(id));
            assert_eq!(hvr[13], HELLO_VERIFY_REQUEST, "{now} {:?}", cache.stats());
            assert_eq!(&hvr[17..19], &[0, 1]);
            assert!(hvr.ends_with(&[4, b'f', b'u', b'l', b'l']));
        }
        assert_eq!(cache.stats().fallbacks, 2);
        assert_eq!(cache.stats().abandoned, 1);
        assert_eq!(cache.stats().resumed, 0);
        assert!(cache.is_empty());
        assert!(sessions.is_empty());
    }

    #[test]
    fn the_oldest_entry_makes_room_and_outbound_sessions_are_not_kept() {
        let mut cache = ResumptionCache::<2>::new(2);
        for (i, id) in [[1u8; 16], [2; 16], [3; 16]].iter().enumerate() {
            cache.insert(Instant::from_millis(i as u64), &resumable(id));
        }
        assert_eq!((cache.len(), cache.stats().evicted), (2, 1));
        assert!(!cache.contains(Instant::from_millis(5), &[1; 16]));
        let mut client = resumable(&[4; 16]);
        client.mote_is_client = true;
        cache.insert(Instant::from_millis(5), &client);
        assert!(!cache.contains(Instant::from_millis(5), &[4; 16]));
        let mut none = ResumptionCache::<2>::new(0);
        none.insert(Instant::from_millis(0), &resumable(&[5; 16]));
        assert!(none.is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
                                          prefix_hello: bool) {
            let mut cache = ResumptionCache::<2>::new(2);
            let mut sessions = Sessions::<2>::new(mote_assoc::wire::SuiteSet(0b1111), core::time::Duration::from_secs(300), 2);
            cache.insert(Instant::from_millis(0), &resumable(&[7; 16]));
            let mut tx = Queue::<512>::new();
            if prefix_hello {
                let _ = cache.handle_datagram::<SoftAes, Rng, 2, 512>(Instant::from_millis(1), &CLIENT, &hello(&[7; 16]), &mut Rng(0), &mut sessions, &mut tx);
            }
            for (i, d) in datagrams.iter().enumerate() {
                let _ = cache.handle_datagram::<SoftAes, Rng, 2, 512>(Instant::from_millis(2 + i as u64), &CLIENT, d, &mut Rng(1), &mut sessions, &mut tx);
                cache.handle_timeout(Instant::from_millis(2000 * i as u64), &mut tx);
                let mut out = [0u8; 512];
                while tx.pop(&mut out).is_some() {}
            }
            prop_assert_eq!(cache.stats().resumed, 0);
        }
    }
}
