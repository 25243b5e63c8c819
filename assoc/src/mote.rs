//! The mote's side of the association ("State machines / Mote" in
//! docs/mote-association.md), sans-IO.
//!
//! It holds at most one association (its id, `n`, `K_n`, the last sealed Confirm and, until
//! the first Transfer proves the IoTSSP has it, the AssocReady and `A`) and at most one
//! pending AssocHello (its ephemeral private key). The caller feeds it the datagrams that
//! came from its IoTSSP's address and port (everything else must be dropped before) and
//! the timeouts it asked for, sends what [`MoteAssoc::poll_transmit`] gives, and installs
//! transferred sessions through [`SessionTable`].

use core::marker::PhantomData;

use crate::crypto::{Aes128Block, EcdhP256, Key, PublicKey, Random, cmac, ct_eq};
use crate::keys::{
    Credentials, Ratchet, accept_tag, connect_failed_tag, connect_tag, ready_tag, sign_request_tag,
    sign_response_tag,
};
use crate::time::{
    Backoff, CONNECT_DEADLINE, HELLO_MAX_INTERVAL, Instant, POKE_INTERVAL, REPLY_INTERVAL,
    RateLimit, SKIP_AHEAD,
};
use crate::wire::{
    AssocAcceptRepr, AssocHelloRepr, AssocReadyRepr, ConfirmRepr, ConfirmStatus, ConnectFailedRepr,
    ConnectFailure, ConnectRepr, Message, PokeRepr, SignPurpose, SignRequestRepr, SignResponseRepr,
    SignStatus, SuiteSet, TransferBody, TransferRepr, UnassociatedReason, UnassociatedRepr,
};

/// The mote's session slots, as its record layer keeps them.
pub trait SessionTable {
    /// Free session slots now.
    fn free_slots(&self) -> u8;
    /// The suites the record layer runs.
    fn suites(&self) -> SuiteSet;
    /// Installs the transferred session (or says why not). Called once per Transfer `n`,
    /// after its seal opened; `body` is wiped when this returns.
    fn install(&mut self, body: &TransferBody) -> Installation;
}

/// What [`SessionTable::install`] did with a transferred session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installation {
    Installed,
    /// No free slot (and, if the body allowed it, no idle session to evict).
    Full,
    /// The record layer does not run the body's suite.
    UnsupportedSuite,
}

/// What a datagram did, for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoteEvent {
    /// A new association is set up (AssocReady sent).
    Associated { id: u8 },
    /// Transfer `n` was opened and answered with a Confirm of this status.
    Transfer { n: u32, status: ConfirmStatus },
    /// The IoTSSP could not open the session Connect `r` asked for.
    ConnectFailed { r: u32, reason: ConnectFailure },
    /// The IoTSSP asks for a signature with the mote's own key (keyless delegation): the
    /// caller has the platform sign the digest and answers with
    /// [`MoteAssoc::answer_sign_request`].
    SignRequested(SignatureRequest),
}

/// A SignRequest waiting for the platform's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureRequest {
    /// The IoTSSP's request counter, which the answer names.
    pub q: u32,
    pub purpose: SignPurpose,
    /// The SHA-256 digest to sign (ECDSA P-256 over this digest, no further hashing).
    pub digest: [u8; 32],
}

/// Why [`MoteAssoc::connect`] sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// No association to send it on (one is being made: try again once associated).
    NotAssociated,
    /// A Connect is still waiting for its answer.
    Busy,
    /// The association's request counter is spent: it associates again.
    Exhausted,
}

/// The mote's counters: what it sent, and each reason it dropped something.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoteStats {
    /// New AssocHellos (each one key pair).
    pub hellos_started: u64,
    /// AssocHellos sent, retransmissions included.
    pub hellos_sent: u64,
    pub associations: u64,
    pub transfers_installed: u64,
    /// Transfers opened but answered full, unsupported suite or malformed.
    pub transfers_refused: u64,
    /// Ratchet steps skipped to meet a Transfer ahead of `n`.
    pub ratchet_steps_skipped: u64,
    pub confirms_resent: u64,
    pub ready_resent: u64,
    pub unassociated_sent: u64,
    pub pokes_honoured: u64,
    /// ... of which honoured whatever the rate limit: their epoch was newer than any the
    /// mote had honoured (its IoTSSP started again and lost the association).
    pub pokes_new_epoch: u64,
    /// Connects started (each one request; retransmissions not counted).
    pub connects_started: u64,
    /// Connects sent, retransmissions included.
    pub connects_sent: u64,
    /// Connects answered by a Transfer of a session with the server (the mote as client).
    pub connects_completed: u64,
    /// Connects answered by ConnectFailed.
    pub connects_failed: u64,
    /// Connects without an answer by their deadline.
    pub connects_timed_out: u64,
    /// ConnectFailed with a bad tag, or for no Connect waiting.
    pub connect_failed_ignored: u64,
    /// New authenticated SignRequests (each one signature asked of the platform).
    pub sign_requests: u64,
    /// A SignRequest already seen (the IoTSSP resent it): the kept SignResponse again,
    /// if there is one.
    pub sign_requests_repeated: u64,
    /// A SignRequest with a bad tag, an old counter, or for another association.
    pub sign_request_bad: u64,
    /// SignResponses sent, retransmissions included.
    pub sign_responses_sent: u64,
    /// Requests answered without a signature (refused or failed by the platform).
    pub signatures_refused: u64,
    /// A Transfer whose seal did not open (forged, corrupted, or for a key we do not have).
    pub transfer_bad_tag: u64,
    /// A Transfer older than the last one confirmed (a replay).
    pub transfer_too_old: u64,
    /// A Transfer more than [`SKIP_AHEAD`] steps ahead.
    pub transfer_too_far_ahead: u64,
    /// A Transfer for another association than ours (or while we have none).
    pub transfer_wrong_id: u64,
    pub accept_bad_tag: u64,
    /// An AssocAccept whose `E_s` is not a point of P-256.
    pub accept_bad_point: u64,
    /// An AssocAccept while no hello is pending, not a repeat of the accepted one.
    pub accept_unexpected: u64,
    pub poke_bad_tag: u64,
    /// Pokes within [`POKE_INTERVAL`] of the last honoured one.
    pub poke_rate_limited: u64,
    /// Replies (Unassociated, repeated AssocReady, kept Confirm) held back by the
    /// one-per-[`REPLY_INTERVAL`] limit.
    pub replies_rate_limited: u64,
    /// Not a valid association message (length, type, version).
    pub malformed: u64,
    /// A message only the IoTSSP receives.
    pub wrong_direction: u64,
    /// Datagrams [`MoteAssoc::poll_transmit`] dropped because the buffer was too short.
    pub transmit_buffer_too_short: u64,
    pub ecc_key_pairs: u64,
    pub ecc_agreements: u64,
    /// ECDSA signatures the platform made for SignRequests (keyless delegation).
    pub ecc_signatures: u64,
    pub ecc_failures: u64,
}

impl MoteStats {
    /// ECC operations run (key pairs, agreements and signatures), for the platform's
    /// energy account.
    pub fn ecc_operations(&self) -> u64 {
        self.ecc_key_pairs + self.ecc_agreements + self.ecc_signatures
    }
}

/// What the caller may know of the current association.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssociationState {
    pub id: u8,
    /// The counter of the next Transfer the mote can take.
    pub n: u32,
}

#[derive(Clone)]
struct Association {
    id: u8,
    /// `K_n` for the next `n` the mote can take.
    ratchet: Ratchet,
    /// The sealed Confirm of the last Transfer opened, resent when that Transfer comes again.
    kept_confirm: Option<KeptConfirm>,
    /// Kept until the first Transfer of this association.
    kept_ready: Option<KeptReady>,
    /// `R`, which authenticates Connect, ConnectFailed, SignRequest and SignResponse.
    requests: Key,
    /// The next request counter.
    next_r: u32,
    /// The last SignRequest's counter: an older one is a replay, an equal one a resend.
    last_q: Option<u32>,
    /// The SignRequest the platform is signing.
    signing: Option<SignatureRequest>,
    /// The SignResponse of request `last_q`, resent when that request comes again.
    kept_signature: Option<KeptSignature>,
}

#[derive(Clone)]
struct KeptSignature {
    q: u32,
    bytes: [u8; 79],
}

#[derive(Clone)]
struct PendingConnect {
    r: u32,
    server_addr: [u8; 16],
    server_port: u16,
    bytes: [u8; 32],
    resend: Backoff,
    give_up: Instant,
}

#[derive(Clone)]
struct KeptConfirm {
    n: u32,
    bytes: [u8; 16],
}

#[derive(Clone)]
struct KeptReady {
    a: Key,
    /// `CMAC(A, AssocAccept)`: recognises a repeat of the AssocAccept we answered.
    accept_digest: [u8; 16],
    bytes: [u8; 12],
}

#[derive(Clone)]
struct PendingHello<S> {
    secret: S,
    e_m: PublicKey,
    bytes: [u8; 73],
    resend: Backoff,
}

#[derive(Clone, Default)]
struct Outbox {
    unassociated: Option<[u8; 15]>,
    ready: bool,
    confirm: bool,
    hello: bool,
    connect: bool,
    signature: bool,
}

/// The mote's association machine. `A` is the platform's AES, `E` its ECDH, `R` its RNG.
pub struct MoteAssoc<A, E: EcdhP256, R> {
    creds: Credentials,
    ecdh: E,
    rng: R,
    association: Option<Association>,
    hello: Option<PendingHello<E::Secret>>,
    /// The Connect waiting for a Transfer or a ConnectFailed.
    connect: Option<PendingConnect>,
    /// When to make a new AssocHello (at boot, and again after an ECC failure).
    start_hello_at: Option<Instant>,
    replies: RateLimit,
    confirm_replies: RateLimit,
    pokes: RateLimit,
    /// The newest IoTSSP epoch of an honoured Poke (0: none since boot).
    poke_epoch: u32,
    outbox: Outbox,
    stats: MoteStats,
    _aes: PhantomData<fn() -> A>,
}

impl<A, E: EcdhP256 + Clone, R: Clone> Clone for MoteAssoc<A, E, R>
where
    E::Secret: Clone,
{
    fn clone(&self) -> Self {
        MoteAssoc {
            creds: self.creds.clone(),
            ecdh: self.ecdh.clone(),
            rng: self.rng.clone(),
            association: self.association.clone(),
            hello: self.hello.clone(),
            connect: self.connect.clone(),
            start_hello_at: self.start_hello_at,
            replies: self.replies,
            confirm_replies: self.confirm_replies,
            pokes: self.pokes,
            poke_epoch: self.poke_epoch,
            outbox: self.outbox.clone(),
            stats: self.stats.clone(),
            _aes: PhantomData,
        }
    }
}

impl<A: Aes128Block, E: EcdhP256, R: Random> MoteAssoc<A, E, R> {
    /// Fills `buf` from the mote's randomness (for its other protocols, e.g. a resumed
    /// session's server random).
    pub fn random(&mut self, buf: &mut [u8]) {
        self.rng.fill(buf);
    }

    /// A mote that has just booted: it will make an AssocHello at its first timeout (at
    /// [`Instant::ZERO`], i.e. at once).
    pub fn new(creds: Credentials, ecdh: E, rng: R) -> Self {
        MoteAssoc {
            creds,
            ecdh,
            rng,
            association: None,
            hello: None,
            connect: None,
            start_hello_at: Some(Instant::ZERO),
            replies: RateLimit::default(),
            confirm_replies: RateLimit::default(),
            pokes: RateLimit::default(),
            poke_epoch: 0,
            outbox: Outbox::default(),
            stats: MoteStats::default(),
            _aes: PhantomData,
        }
    }

    pub fn stats(&self) -> &MoteStats {
        &self.stats
    }

    pub fn association(&self) -> Option<AssociationState> {
        self.association.as_ref().map(|a| AssociationState {
            id: a.id,
            n: a.ratchet.n(),
        })
    }

    /// An AssocHello is out and not yet accepted.
    pub fn is_associating(&self) -> bool {
        self.hello.is_some() || self.start_hello_at.is_some()
    }

    /// The next instant [`Self::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hello = self.hello.as_ref().map(|h| h.resend.next);
        let connect = self.connect.as_ref().map(|c| c.resend.next.min(c.give_up));
        [self.start_hello_at, hello, connect]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.start_hello_at.is_some_and(|t| t <= now) {
            self.start_hello(now);
        }
        if let Some(h) = &mut self.hello
            && h.resend.fire(now)
        {
            self.outbox.hello = true;
        }
        if let Some(c) = &mut self.connect {
            if now >= c.give_up {
                self.connect = None;
                self.stats.connects_timed_out += 1;
            } else if c.resend.fire(now) {
                self.outbox.connect = true;
            }
        }
    }

    /// Asks the IoTSSP to open a DTLS session in the mote's name, the mote as client, with
    /// the server at `server_addr`:`server_port` (docs/mote-association.md, "Connect").
    /// The answer is a Transfer of that session (the mote's side is its DTLS port) or a
    /// [`MoteEvent::ConnectFailed`]; the Connect is resent until then, or until
    /// [`CONNECT_DEADLINE`] passes. Returns the request's counter `r`.
    pub fn connect(
        &mut self,
        now: Instant,
        server_addr: [u8; 16],
        server_port: u16,
    ) -> Result<u32, ConnectError> {
        if self.connect.is_some() {
            return Err(ConnectError::Busy);
        }
        let assoc = self
            .association
            .as_mut()
            .ok_or(ConnectError::NotAssociated)?;
        let r = assoc.next_r;
        assoc.next_r = r.checked_add(1).ok_or(ConnectError::Exhausted)?;
        let mut req = ConnectRepr {
            id: assoc.id,
            r,
            server_addr,
            server_port,
            tag: [0; 8],
        };
        req.tag = connect_tag::<A>(&assoc.requests, &req);
        self.connect = Some(PendingConnect {
            r,
            server_addr,
            server_port,
            bytes: req.to_bytes(),
            resend: Backoff::start(now, CONNECT_DEADLINE),
            give_up: now + CONNECT_DEADLINE,
        });
        self.outbox.connect = true;
        self.stats.connects_started += 1;
        Ok(r)
    }

    /// The Connect waiting for its answer, if any: its `r`.
    pub fn pending_connect(&self) -> Option<u32> {
        self.connect.as_ref().map(|c| c.r)
    }

    /// The SignRequest waiting for the platform's signature, if any.
    pub fn pending_sign_request(&self) -> Option<SignatureRequest> {
        self.association.as_ref().and_then(|a| a.signing)
    }

    /// Answers SignRequest `q` ([`MoteEvent::SignRequested`]) with the platform's ECDSA
    /// signature (`r || s`), or with why there is none (`Err(Refused)` or `Err(Failed)`;
    /// `Err(Signed)` is sent as Failed). The SignResponse is kept and resent when the IoTSSP
    /// resends the request. Returns false (and sends nothing) when `q` is not the request
    /// waiting: answered already, or the association changed since.
    pub fn answer_sign_request(&mut self, q: u32, answer: Result<[u8; 64], SignStatus>) -> bool {
        let Some(a) = self
            .association
            .as_mut()
            .filter(|a| a.signing.is_some_and(|s| s.q == q))
        else {
            return false;
        };
        a.signing = None;
        let (status, signature) = match answer {
            Ok(signature) => (SignStatus::Signed, signature),
            Err(SignStatus::Signed) => (SignStatus::Failed, [0; 64]),
            Err(status) => (status, [0; 64]),
        };
        let mut response = SignResponseRepr {
            id: a.id,
            q,
            status,
            signature,
            tag: [0; 8],
        };
        response.tag = sign_response_tag::<A>(&a.requests, &response);
        a.kept_signature = Some(KeptSignature {
            q,
            bytes: response.to_bytes(),
        });
        if status == SignStatus::Signed {
            self.stats.ecc_signatures += 1;
        } else {
            self.stats.signatures_refused += 1;
        }
        self.outbox.signature = true;
        true
    }

    /// The next datagram to send to the IoTSSP, written into `buf` (which should have
    /// [`crate::MAX_DATAGRAM_LEN`] bytes); its length.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let unassociated;
            let mut is_hello = false;
            let bytes: &[u8] = if let Some(u) = self.outbox.unassociated.take() {
                unassociated = u;
                &unassociated
            } else if core::mem::take(&mut self.outbox.ready) {
                match self
                    .association
                    .as_ref()
                    .and_then(|a| a.kept_ready.as_ref())
                {
                    Some(r) => &r.bytes,
                    None => continue,
                }
            } else if core::mem::take(&mut self.outbox.confirm) {
                match self
                    .association
                    .as_ref()
                    .and_then(|a| a.kept_confirm.as_ref())
                {
                    Some(c) => &c.bytes,
                    None => continue,
                }
            } else if core::mem::take(&mut self.outbox.hello) {
                match &self.hello {
                    Some(h) => {
                        is_hello = true;
                        &h.bytes
                    }
                    None => continue,
                }
            } else if core::mem::take(&mut self.outbox.connect) {
                match &self.connect {
                    Some(c) => {
                        self.stats.connects_sent += 1;
                        &c.bytes
                    }
                    None => continue,
                }
            } else if core::mem::take(&mut self.outbox.signature) {
                match self
                    .association
                    .as_ref()
                    .and_then(|a| a.kept_signature.as_ref())
                {
                    Some(k) => {
                        self.stats.sign_responses_sent += 1;
                        &k.bytes
                    }
                    None => continue,
                }
            } else {
                return None;
            };
            let Some(dst) = buf.get_mut(..bytes.len()) else {
                self.stats.transmit_buffer_too_short += 1;
                continue;
            };
            dst.copy_from_slice(bytes);
            if is_hello {
                self.stats.hellos_sent += 1;
            }
            return Some(bytes.len());
        }
    }

    /// A datagram from the IoTSSP's address and port.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        datagram: &[u8],
        sessions: &mut impl SessionTable,
    ) -> Option<MoteEvent> {
        let msg = match Message::parse(datagram) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return None;
            }
        };
        match msg {
            Message::Transfer(t) => self.on_transfer(now, &t, sessions),
            Message::AssocAccept(a) => self.on_accept(now, &a, datagram, sessions),
            Message::Poke(p) => {
                self.on_poke(now, &p);
                None
            }
            Message::ConnectFailed(f) => self.on_connect_failed(&f),
            Message::SignRequest(r) => self.on_sign_request(now, &r),
            Message::AssocHello(_)
            | Message::AssocReady(_)
            | Message::Confirm(_)
            | Message::Unassociated(_)
            | Message::Connect(_)
            | Message::SignResponse(_) => {
                self.stats.wrong_direction += 1;
                None
            }
        }
    }

    fn start_hello(&mut self, now: Instant) {
        self.start_hello_at = None;
        self.stats.ecc_key_pairs += 1;
        match self.ecdh.generate(&mut self.rng) {
            Ok((secret, e_m)) => {
                let hello = AssocHelloRepr {
                    e_m,
                    tag: self.creds.hello_tag::<A>(&e_m),
                };
                self.hello = Some(PendingHello {
                    secret,
                    e_m,
                    bytes: hello.to_bytes(),
                    resend: Backoff::start(now, HELLO_MAX_INTERVAL),
                });
                self.stats.hellos_started += 1;
                self.outbox.hello = true;
            }
            Err(_) => {
                self.stats.ecc_failures += 1;
                self.start_hello_at = Some(now + crate::time::FIRST_RESEND);
            }
        }
    }

    /// Queues an Unassociated for `(id, n)` unless one went out less than a second ago.
    fn send_unassociated(
        &mut self,
        now: Instant,
        id: u8,
        n: u32,
        reason: UnassociatedReason,
    ) -> bool {
        if !self.replies.allow(now, REPLY_INTERVAL) {
            self.stats.replies_rate_limited += 1;
            return false;
        }
        let mut r = UnassociatedRepr {
            id,
            n,
            reason,
            tag: [0; 8],
        };
        r.tag = self.creds.unassociated_tag::<A>(&r);
        self.outbox.unassociated = Some(r.to_bytes());
        self.stats.unassociated_sent += 1;
        true
    }

    fn on_transfer(
        &mut self,
        now: Instant,
        t: &TransferRepr,
        sessions: &mut impl SessionTable,
    ) -> Option<MoteEvent> {
        let Some(assoc) = self.association.as_mut().filter(|a| a.id == t.id) else {
            self.stats.transfer_wrong_id += 1;
            // The IoTSSP uses an association we do not have: tell it, and if it may not
            // have our AssocReady yet, send that again.
            let ready = self
                .association
                .as_ref()
                .is_some_and(|a| a.kept_ready.is_some());
            if self.send_unassociated(now, t.id, t.n, UnassociatedReason::NoSuchAssociation)
                && ready
            {
                self.outbox.ready = true;
                self.stats.ready_resent += 1;
            }
            return None;
        };
        let n = assoc.ratchet.n();
        if assoc.kept_confirm.as_ref().is_some_and(|c| c.n == t.n) {
            // The IoTSSP did not get our Confirm: the same one again, nothing reinstalled.
            if self.confirm_replies.allow(now, REPLY_INTERVAL) {
                self.outbox.confirm = true;
                self.stats.confirms_resent += 1;
            } else {
                self.stats.replies_rate_limited += 1;
            }
            return None;
        }
        if t.n < n {
            self.stats.transfer_too_old += 1;
            return None;
        }
        let skip = t.n - n;
        if skip >= SKIP_AHEAD {
            self.stats.transfer_too_far_ahead += 1;
            self.send_unassociated(now, t.id, t.n, UnassociatedReason::TooFarAhead);
            return None;
        }
        // K_m from K_n on a copy, so that a forged Transfer moves nothing.
        let mut candidate = assoc.ratchet.clone();
        for _ in 0..skip {
            candidate.advance::<A>()?;
        }
        let mut header = [0u8; 6];
        header[0] = crate::wire::MessageType::Transfer.first_byte();
        header[1] = t.id;
        header[2..].copy_from_slice(&t.n.to_be_bytes());
        let status = match candidate.open_transfer::<A>(t.id, &header, t.sealed) {
            Err(_) => {
                self.stats.transfer_bad_tag += 1;
                // If the IoTSSP may not have our AssocReady, this may be a Transfer on its
                // old association that has the same one-byte id: send the AssocReady again.
                if assoc.kept_ready.is_some() {
                    if self.replies.allow(now, REPLY_INTERVAL) {
                        self.outbox.ready = true;
                        self.stats.ready_resent += 1;
                    } else {
                        self.stats.replies_rate_limited += 1;
                    }
                }
                return None;
            }
            Ok(Err(_)) => ConfirmStatus::Malformed,
            Ok(Ok(body)) => {
                let status = match sessions.install(&body) {
                    Installation::Installed => ConfirmStatus::Installed,
                    Installation::Full => ConfirmStatus::Full,
                    Installation::UnsupportedSuite => ConfirmStatus::UnsupportedSuite,
                };
                // The session our Connect asked for: the request is answered.
                if body.mote_is_client
                    && self.connect.as_ref().is_some_and(|c| {
                        (c.server_addr, c.server_port) == (body.client_addr, body.client_port)
                    })
                {
                    self.connect = None;
                    self.stats.connects_completed += 1;
                }
                status
            }
        };
        let mut confirm = ConfirmRepr {
            id: t.id,
            n: t.n,
            status,
            free_slots: sessions.free_slots(),
            tag: [0; 8],
        };
        confirm.tag = candidate.confirm_tag::<A>(&confirm);
        let exhausted = candidate.advance::<A>().is_none();
        assoc.ratchet = candidate;
        assoc.kept_confirm = Some(KeptConfirm {
            n: t.n,
            bytes: confirm.to_bytes(),
        });
        // The IoTSSP has our AssocReady: A is no longer needed.
        assoc.kept_ready = None;
        self.outbox.confirm = true;
        self.stats.ratchet_steps_skipped += u64::from(skip);
        if status == ConfirmStatus::Installed {
            self.stats.transfers_installed += 1;
        } else {
            self.stats.transfers_refused += 1;
        }
        if exhausted && self.hello.is_none() {
            // The last counter is spent: associate again.
            self.start_hello_at = Some(now);
        }
        Some(MoteEvent::Transfer { n: t.n, status })
    }

    fn on_accept(
        &mut self,
        now: Instant,
        accept: &AssocAcceptRepr,
        datagram: &[u8],
        sessions: &mut impl SessionTable,
    ) -> Option<MoteEvent> {
        // A repeat of the AssocAccept we answered: our AssocReady was lost.
        if let Some(assoc) = &self.association
            && let Some(kept) = &assoc.kept_ready
            && ct_eq(&cmac::<A>(&kept.a, &[datagram]), &kept.accept_digest)
        {
            if self.replies.allow(now, REPLY_INTERVAL) {
                self.outbox.ready = true;
                self.stats.ready_resent += 1;
            } else {
                self.stats.replies_rate_limited += 1;
            }
            return None;
        }
        let Some(hello) = &self.hello else {
            self.stats.accept_unexpected += 1;
            self.send_unassociated(now, accept.id, 0, UnassociatedReason::NoSuchAssociation);
            return None;
        };
        self.stats.ecc_agreements += 1;
        let z = match self.ecdh.agree(&hello.secret, &accept.e_s) {
            Ok(z) => z,
            Err(_) => {
                self.stats.accept_bad_point += 1;
                return None;
            }
        };
        let keys = self.creds.associate::<A>(&z, &hello.e_m, &accept.e_s);
        drop(z);
        if keys.id != accept.id
            || !ct_eq(
                &accept_tag::<A>(&keys.a, keys.id, &hello.e_m, &accept.e_s),
                &accept.tag,
            )
        {
            self.stats.accept_bad_tag += 1;
            return None;
        }
        // Accepted: the ephemeral private key goes now.
        self.hello = None;
        let mut ready = AssocReadyRepr {
            id: keys.id,
            free_slots: sessions.free_slots(),
            suites: sessions.suites(),
            tag: [0; 8],
        }
        .to_bytes();
        let tag = ready_tag::<A>(&keys.a, &ready);
        ready[4..].copy_from_slice(&tag);
        let accept_digest = cmac::<A>(&keys.a, &[datagram]);
        self.association = Some(Association {
            id: keys.id,
            ratchet: keys.ratchet,
            kept_confirm: None,
            kept_ready: Some(KeptReady {
                a: keys.a,
                accept_digest,
                bytes: ready,
            }),
            requests: keys.requests,
            next_r: 0,
            last_q: None,
            signing: None,
            kept_signature: None,
        });
        // A Connect of the old association is not answered on the new one.
        self.connect = None;
        self.outbox.ready = true;
        self.outbox.confirm = false;
        self.stats.associations += 1;
        Some(MoteEvent::Associated { id: keys.id })
    }

    fn on_connect_failed(&mut self, f: &ConnectFailedRepr) -> Option<MoteEvent> {
        let ok = self.connect.as_ref().is_some_and(|c| c.r == f.r)
            && self.association.as_ref().is_some_and(|a| {
                a.id == f.id && ct_eq(&connect_failed_tag::<A>(&a.requests, f), &f.tag)
            });
        if !ok {
            self.stats.connect_failed_ignored += 1;
            return None;
        }
        self.connect = None;
        self.stats.connects_failed += 1;
        Some(MoteEvent::ConnectFailed {
            r: f.r,
            reason: f.reason,
        })
    }

    fn on_sign_request(&mut self, now: Instant, req: &SignRequestRepr) -> Option<MoteEvent> {
        let Some(a) = self.association.as_mut().filter(|a| {
            a.id == req.id && ct_eq(&sign_request_tag::<A>(&a.requests, req), &req.tag)
        }) else {
            self.stats.sign_request_bad += 1;
            return None;
        };
        match a.last_q {
            Some(last) if req.q == last => {
                // Our SignResponse was lost (or is still being made): the kept one again.
                self.stats.sign_requests_repeated += 1;
                if a.kept_signature.as_ref().is_some_and(|k| k.q == req.q) {
                    if self.replies.allow(now, REPLY_INTERVAL) {
                        self.outbox.signature = true;
                    } else {
                        self.stats.replies_rate_limited += 1;
                    }
                }
                return None;
            }
            Some(last) if req.q < last => {
                self.stats.sign_request_bad += 1;
                return None;
            }
            _ => {}
        }
        let request = SignatureRequest {
            q: req.q,
            purpose: req.purpose,
            digest: req.digest,
        };
        a.last_q = Some(req.q);
        a.signing = Some(request);
        a.kept_signature = None;
        self.stats.sign_requests += 1;
        Some(MoteEvent::SignRequested(request))
    }

    fn on_poke(&mut self, now: Instant, poke: &PokeRepr) {
        if !ct_eq(&self.creds.poke_tag::<A>(poke), &poke.tag) {
            self.stats.poke_bad_tag += 1;
            return;
        }
        // A Poke of a newer epoch comes from an IoTSSP that started again since the last
        // one honoured: answered at once. Any other (a repeat, or a replay, whose epoch is
        // never newer) at most once per POKE_INTERVAL, so a replayer gets at most one
        // association set-up a minute, plus one per newer epoch it recorded.
        let newer = poke.epoch > self.poke_epoch;
        if newer {
            self.poke_epoch = poke.epoch;
            self.pokes.note(now);
            self.stats.pokes_new_epoch += 1;
        } else if !self.pokes.allow(now, POKE_INTERVAL) {
            self.stats.poke_rate_limited += 1;
            return;
        }
        self.stats.pokes_honoured += 1;
        match &mut self.hello {
            // Our hello is out: send it again now.
            Some(h) => {
                h.resend = Backoff::start(now, HELLO_MAX_INTERVAL);
                self.outbox.hello = true;
            }
            None => self.start_hello(now),
        }
    }
}

/// One association as the forgery tests compare it: id, n, `K_n`, the kept Confirm, `A` and
/// the kept AssocReady.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssociationPrint {
    pub id: u8,
    pub n: u32,
    pub key: [u8; 16],
    pub kept_confirm: Option<(u32, [u8; 16])>,
    pub kept_ready: Option<([u8; 16], [u8; 12])>,
}

/// Everything the mote's behaviour depends on, for tests that check that a message changed
/// nothing (the rate limiters and counters aside).
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MoteFingerprint {
    pub association: Option<AssociationPrint>,
    pub hello: Option<(PublicKey, [u8; 73])>,
    pub start_hello_at: Option<Instant>,
}

#[cfg(test)]
impl<A: Aes128Block, E: EcdhP256, R: Random> MoteAssoc<A, E, R> {
    pub(crate) fn fingerprint(&self) -> MoteFingerprint {
        MoteFingerprint {
            association: self.association.as_ref().map(|a| AssociationPrint {
                id: a.id,
                n: a.ratchet.n(),
                key: a.ratchet.key_bytes(),
                kept_confirm: a.kept_confirm.as_ref().map(|c| (c.n, c.bytes)),
                kept_ready: a.kept_ready.as_ref().map(|r| (*r.a.as_bytes(), r.bytes)),
            }),
            hello: self.hello.as_ref().map(|h| (h.e_m, h.bytes)),
            start_hello_at: self.start_hello_at,
        }
    }

    /// The ratchet as it is now (`K_n`), for the forward-secrecy tests.
    pub(crate) fn ratchet(&self) -> Option<Ratchet> {
        self.association.as_ref().map(|a| a.ratchet.clone())
    }

    /// Forgets the kept Confirm, as if it had been replaced by a later one.
    pub(crate) fn forget_kept_confirm(&mut self) {
        if let Some(a) = &mut self.association {
            a.kept_confirm = None;
        }
    }

    pub(crate) fn holds_a(&self) -> bool {
        self.association
            .as_ref()
            .is_some_and(|a| a.kept_ready.is_some())
    }
}
