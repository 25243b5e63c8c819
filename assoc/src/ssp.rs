//! The IoTSSP's side of the association for ONE mote ("State machines / IoTSSP (per mote)"
//! in docs/mote-association.md), sans-IO. The IoTSSP keeps one per mote.
//!
//! It holds at most one working association, one pending one (made by the latest
//! AssocHello, which replaces the working one only when its AssocReady arrives, so that a
//! replayed hello cannot break a working association), and one transfer in flight. The
//! caller must start a transfer only once the client is authenticated and authorised:
//! before [`SspAssoc::start_transfer`] nothing is sent to the mote (except AssocAccepts
//! answering its own hellos).

use core::marker::PhantomData;

use crate::crypto::{Aes128Block, EcdhP256, Key, Random, ct_eq};
use crate::keys::{
    Credentials, Ratchet, accept_tag, connect_failed_tag, connect_tag, ready_tag, sign_request_tag,
    sign_response_tag,
};
use crate::time::{Backoff, Instant, SIGN_DEADLINE, TRANSFER_DEADLINE};
use crate::wire::{
    AssocAcceptRepr, AssocHelloRepr, AssocReadyRepr, ConfirmRepr, ConfirmStatus, ConnectFailedRepr,
    ConnectFailure, ConnectRepr, Message, MessageType, PokeRepr, SignPurpose, SignRequestRepr,
    SignResponseRepr, SignStatus, SuiteSet, Transfer, TransferBody, UnassociatedRepr, message_type,
};

/// What happened, for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SspEvent {
    /// A new association is ready (its AssocReady arrived).
    Associated {
        id: u8,
        free_slots: u8,
        suites: SuiteSet,
    },
    /// The mote installed Transfer `n`.
    Confirmed { n: u32, free_slots: u8 },
    /// The transfer started last did not install: the client gets a fatal alert.
    TransferFailed(TransferFailure),
    /// The mote said it does not have the association the transfer used; the transfer
    /// waits for a new association (within its deadline).
    Unassociated,
    /// The mote asks for a DTLS session with this server, the mote as client (a new,
    /// authenticated Connect). The caller answers with a Transfer of that session
    /// ([`TransferBody::mote_is_client`]) or [`SspAssoc::refuse_connect`].
    ConnectRequested {
        r: u32,
        server_addr: [u8; 16],
        server_port: u16,
    },
    /// The mote answered the signature request in flight with its ECDSA signature
    /// (`r || s`, 32 bytes each, big-endian).
    Signed { signature: [u8; 64] },
    /// The signature request in flight got no signature.
    SignFailed(SignFailure),
}

/// Why a signature request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignFailure {
    /// The mote answered without a signature (this status).
    Refused(SignStatus),
    /// No SignResponse before the deadline.
    Deadline,
}

/// Why a transfer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferFailure {
    /// The mote opened Transfer `n` and could not install it.
    Refused {
        n: u32,
        status: ConfirmStatus,
        free_slots: u8,
    },
    /// No Confirm before the deadline; `n` was spent (`None`: no association to send on).
    Deadline { n: Option<u32> },
}

/// Why [`SspAssoc::start_transfer`] refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// A transfer to this mote is still in flight.
    Busy,
    /// The mote reported no free slot and the body does not allow evicting an idle one.
    Full,
    /// The mote's record layer does not run the body's suite.
    UnsupportedSuite,
}

/// The IoTSSP's counters for one mote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SspStats {
    /// AssocHellos that made a new pending association (two ECC operations each).
    pub hellos_accepted: u64,
    /// A hello already pending: the same AssocAccept again.
    pub hello_repeated: u64,
    /// The hello that made the working association, again: dropped.
    pub hello_replayed: u64,
    pub hello_bad_tag: u64,
    pub hello_bad_point: u64,
    pub accepts_sent: u64,
    pub associations: u64,
    pub ready_bad_tag: u64,
    /// An AssocReady for the working association again (the mote resent it).
    pub ready_duplicate: u64,
    pub ready_unexpected: u64,
    /// Transfers sent, retransmissions included.
    pub transfers_sent: u64,
    pub transfers_confirmed: u64,
    pub transfers_refused: u64,
    pub transfers_timed_out: u64,
    pub confirm_bad_tag: u64,
    /// A Confirm for no transfer in flight (late, replayed, or for another association).
    pub confirm_unexpected: u64,
    pub pokes_sent: u64,
    /// New authenticated Connects (each one request for the caller).
    pub connects_received: u64,
    /// A Connect already seen (the mote resent it): its ConnectFailed again, if it got one.
    pub connects_repeated: u64,
    /// A Connect with a bad tag, an old counter, or for another association.
    pub connect_bad: u64,
    pub connect_failed_sent: u64,
    /// SignRequests sent, retransmissions included.
    pub sign_requests_sent: u64,
    /// Signatures the mote returned (keyless delegation).
    pub signatures_received: u64,
    /// SignResponses without a signature (the mote refused or its signer failed).
    pub signatures_refused: u64,
    pub sign_timed_out: u64,
    /// A SignResponse with a bad tag, or for no request in flight.
    pub sign_response_bad: u64,
    pub unassociated_bad_tag: u64,
    /// Unassociated naming the transfer in flight: the association is dropped.
    pub unassociated_accepted: u64,
    /// Unassociated naming the pending association's AssocAccept: the pending one is dropped.
    pub unassociated_pending_dropped: u64,
    /// Unassociated naming nothing we sent last.
    pub unassociated_ignored: u64,
    pub malformed: u64,
    /// A message only the mote receives.
    pub wrong_direction: u64,
    pub transmit_buffer_too_short: u64,
    pub ecc_key_pairs: u64,
    pub ecc_agreements: u64,
    pub ecc_failures: u64,
}

impl SspStats {
    pub fn ecc_operations(&self) -> u64 {
        self.ecc_key_pairs + self.ecc_agreements
    }
}

/// What the caller may know of the working association.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SspAssociationState {
    pub id: u8,
    /// The counter the next Transfer uses.
    pub n: u32,
    pub free_slots: u8,
    pub suites: SuiteSet,
}

#[derive(Clone)]
struct Association {
    id: u8,
    ratchet: Ratchet,
    free_slots: u8,
    suites: SuiteSet,
    /// The tag of the AssocHello that made it: a replay of that hello is dropped.
    hello_tag: [u8; 8],
    /// `R`, which authenticates Connect and ConnectFailed.
    requests: Key,
    /// The last Connect's counter: an older or equal one is not a new request.
    last_r: Option<u32>,
    /// The ConnectFailed that answered it, resent when the mote resends that Connect.
    last_failed: Option<(u32, [u8; 15])>,
    /// The next SignRequest's counter `q`.
    next_q: u32,
}

#[derive(Clone)]
struct Pending {
    id: u8,
    ratchet: Ratchet,
    a: Key,
    requests: Key,
    hello_tag: [u8; 8],
    accept: [u8; 74],
    /// AssocAccept retransmissions, until `give_up`.
    resend: Option<Backoff>,
    give_up: Instant,
}

#[derive(Clone)]
struct Outbound {
    body: TransferBody,
    deadline: Instant,
    /// The Transfer as sent, once there is an association to send it on.
    sealed: Option<Sealed>,
    resend: Backoff,
}

/// The signature request in flight.
#[derive(Clone)]
struct Signing {
    purpose: SignPurpose,
    digest: [u8; 32],
    deadline: Instant,
    /// The SignRequest as sent, once there is an association to send it on.
    sent: Option<SentRequest>,
    resend: Backoff,
}

#[derive(Clone)]
struct SentRequest {
    id: u8,
    q: u32,
    bytes: [u8; 47],
}

#[derive(Clone)]
struct Sealed {
    id: u8,
    n: u32,
    bytes: [u8; Transfer::<&[u8]>::MAX_LEN],
    len: usize,
}

impl Drop for Sealed {
    fn drop(&mut self) {
        // Only ciphertext, but the buffer is reused for nothing else either.
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

#[derive(Clone, Default)]
struct Outbox {
    accept: bool,
    transfer: bool,
    poke: Option<[u8; 13]>,
    connect_failed: Option<[u8; 15]>,
    sign_request: bool,
}

/// The IoTSSP's association machine for one mote. `A` is the AES, `E` the ECDH, `R` the RNG.
pub struct SspAssoc<A, E, R> {
    creds: Credentials,
    ecdh: E,
    rng: R,
    association: Option<Association>,
    pending: Option<Pending>,
    outbound: Option<Outbound>,
    signing: Option<Signing>,
    /// Carried by our Pokes (see [`Self::set_epoch`]).
    epoch: u32,
    outbox: Outbox,
    stats: SspStats,
    _aes: PhantomData<fn() -> A>,
}

impl<A, E: Clone, R: Clone> Clone for SspAssoc<A, E, R> {
    fn clone(&self) -> Self {
        SspAssoc {
            creds: self.creds.clone(),
            ecdh: self.ecdh.clone(),
            rng: self.rng.clone(),
            association: self.association.clone(),
            pending: self.pending.clone(),
            outbound: self.outbound.clone(),
            signing: self.signing.clone(),
            epoch: self.epoch,
            outbox: self.outbox.clone(),
            stats: self.stats.clone(),
            _aes: PhantomData,
        }
    }
}

impl<A: Aes128Block, E: EcdhP256, R: Random> SspAssoc<A, E, R> {
    /// No association yet (the IoTSSP just started, or this mote is new).
    pub fn new(creds: Credentials, ecdh: E, rng: R) -> Self {
        SspAssoc {
            creds,
            ecdh,
            rng,
            association: None,
            pending: None,
            outbound: None,
            signing: None,
            epoch: 0,
            outbox: Outbox::default(),
            stats: SspStats::default(),
            _aes: PhantomData,
        }
    }

    /// The IoTSSP's epoch, carried by its Pokes: it must be larger after each start of the
    /// IoTSSP (which loses its associations) than before it, e.g. the start's wall-clock
    /// time in quarter-seconds. A mote answers a Poke of an epoch newer than any it honoured at once, and
    /// others at most once per [`POKE_INTERVAL`](crate::time::POKE_INTERVAL). 0 (the
    /// default) is never newer.
    pub fn set_epoch(&mut self, epoch: u32) {
        self.epoch = epoch;
    }

    /// Asks the mote to associate (a Poke) unless there is an association or one is being
    /// made: what a newly started IoTSSP does for each of its motes, before any client
    /// needs one. Not retransmitted: a transfer that finds no association pokes again.
    /// Whether something was queued for the mote.
    pub fn request_association(&mut self) -> bool {
        if self.association.is_some() {
            return false;
        }
        self.reach_mote();
        true
    }

    pub fn stats(&self) -> &SspStats {
        &self.stats
    }

    pub fn association(&self) -> Option<SspAssociationState> {
        self.association.as_ref().map(|a| SspAssociationState {
            id: a.id,
            n: a.ratchet.n(),
            free_slots: a.free_slots,
            suites: a.suites,
        })
    }

    /// A transfer is in flight (started, neither confirmed nor failed).
    pub fn is_transferring(&self) -> bool {
        self.outbound.is_some()
    }

    /// Sends `body` to the mote as the next Transfer: at once if associated, else after an
    /// association that a Poke (or the pending AssocAccept again) asks for. The outcome is
    /// an [`SspEvent::Confirmed`] or [`SspEvent::TransferFailed`], at the latest
    /// [`TRANSFER_DEADLINE`] after `now`.
    pub fn start_transfer(&mut self, now: Instant, body: TransferBody) -> Result<(), StartError> {
        if self.outbound.is_some() {
            return Err(StartError::Busy);
        }
        if let Some(a) = &self.association {
            if !a.suites.contains(body.suite()) {
                return Err(StartError::UnsupportedSuite);
            }
            if a.free_slots == 0 && !body.may_evict {
                return Err(StartError::Full);
            }
        }
        self.outbound = Some(Outbound {
            body,
            deadline: now + TRANSFER_DEADLINE,
            sealed: None,
            resend: Backoff::start(now, TRANSFER_DEADLINE),
        });
        self.send_outbound(now);
        Ok(())
    }

    /// A signature request is in flight (sent, neither answered nor failed).
    pub fn is_signing(&self) -> bool {
        self.signing.is_some()
    }

    /// Asks the mote to sign `digest` with its own key (keyless delegation): at once if
    /// associated, else after an association that a Poke (or the pending AssocAccept again)
    /// asks for. The outcome is an [`SspEvent::Signed`] or [`SspEvent::SignFailed`], at the
    /// latest [`SIGN_DEADLINE`] after `now`. One request at a time per mote: `false` (and
    /// nothing sent) while one is in flight.
    pub fn request_signature(
        &mut self,
        now: Instant,
        purpose: SignPurpose,
        digest: &[u8; 32],
    ) -> bool {
        if self.signing.is_some() {
            return false;
        }
        self.signing = Some(Signing {
            purpose,
            digest: *digest,
            deadline: now + SIGN_DEADLINE,
            sent: None,
            resend: Backoff::start(now, SIGN_DEADLINE),
        });
        self.send_signing(now);
        true
    }

    /// Sends the signature request in flight on the working association (a new `q`), or
    /// asks the mote for one.
    fn send_signing(&mut self, now: Instant) {
        let Some(sg) = &mut self.signing else { return };
        sg.resend = Backoff::start(now, SIGN_DEADLINE);
        sg.sent = None;
        match &mut self.association {
            Some(a) => {
                let q = a.next_q;
                // A spent counter sends nothing: the request fails at its deadline.
                let Some(next) = q.checked_add(1) else { return };
                a.next_q = next;
                let mut req = SignRequestRepr {
                    id: a.id,
                    q,
                    purpose: sg.purpose,
                    digest: sg.digest,
                    tag: [0; 8],
                };
                req.tag = sign_request_tag::<A>(&a.requests, &req);
                sg.sent = Some(SentRequest {
                    id: a.id,
                    q,
                    bytes: req.to_bytes(),
                });
                self.outbox.sign_request = true;
            }
            None => self.reach_mote(),
        }
    }

    /// Seals the transfer in flight on the working association, or asks the mote for one.
    fn send_outbound(&mut self, now: Instant) {
        let Some(o) = &mut self.outbound else { return };
        o.resend = Backoff::start(now, TRANSFER_DEADLINE);
        match &self.association {
            Some(a) => {
                let mut bytes = [0u8; Transfer::<&[u8]>::MAX_LEN];
                let len = a.ratchet.seal_transfer::<A>(a.id, &o.body, &mut bytes);
                o.sealed = Some(Sealed {
                    id: a.id,
                    n: a.ratchet.n(),
                    bytes,
                    len,
                });
                self.outbox.transfer = true;
            }
            None => {
                o.sealed = None;
                self.reach_mote();
            }
        }
    }

    /// No association: resend the pending AssocAccept if there is one (the mote may have
    /// it and our AssocReady got lost), else Poke the mote to make it send a hello.
    fn reach_mote(&mut self) {
        if self.pending.is_some() {
            self.outbox.accept = true;
            return;
        }
        let mut poke = PokeRepr {
            epoch: self.epoch,
            tag: [0; 8],
        };
        poke.tag = self.creds.poke_tag::<A>(&poke);
        self.outbox.poke = Some(poke.to_bytes());
    }

    /// `K_n` is used (confirmed or given up on): `K_{n+1}`, and `K_n` is wiped.
    fn spend(&mut self) {
        if let Some(a) = &mut self.association
            && a.ratchet.advance::<A>().is_none()
        {
            // The last counter is spent: the mote associates again.
            self.association = None;
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = self
            .pending
            .as_ref()
            .and_then(|p| p.resend.map(|r| r.next.min(p.give_up)));
        let outbound = self
            .outbound
            .as_ref()
            .map(|o| o.deadline.min(o.resend.next));
        let signing = self.signing.as_ref().map(|s| s.deadline.min(s.resend.next));
        [pending, outbound, signing].into_iter().flatten().min()
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Option<SspEvent> {
        if let Some(p) = &mut self.pending {
            if now >= p.give_up {
                p.resend = None;
            } else if p.resend.as_mut().is_some_and(|r| r.fire(now)) {
                self.outbox.accept = true;
            }
        }
        if let Some(sg) = &mut self.signing {
            if now >= sg.deadline {
                self.signing = None;
                self.stats.sign_timed_out += 1;
                return Some(SspEvent::SignFailed(SignFailure::Deadline));
            }
            if sg.resend.fire(now) {
                if sg.sent.is_some() {
                    self.outbox.sign_request = true;
                } else {
                    self.send_signing(now);
                }
            }
        }
        let o = self.outbound.as_mut()?;
        if now >= o.deadline {
            let o = self.outbound.take()?;
            let n = o.sealed.as_ref().map(|s| s.n);
            if let (Some(s), Some(a)) = (&o.sealed, &self.association)
                && (a.id, a.ratchet.n()) == (s.id, s.n)
            {
                // The mote may have installed it and lost only the Confirm: n is spent.
                self.spend();
            }
            self.stats.transfers_timed_out += 1;
            return Some(SspEvent::TransferFailed(TransferFailure::Deadline { n }));
        }
        if o.resend.fire(now) {
            if o.sealed.is_some() {
                self.outbox.transfer = true;
            } else {
                self.reach_mote();
            }
        }
        None
    }

    /// The next datagram to send to the mote, written into `buf` (which should have
    /// [`crate::MAX_DATAGRAM_LEN`] bytes); its length.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let poke;
            let failed;
            let bytes: &[u8] = if core::mem::take(&mut self.outbox.accept) {
                match &self.pending {
                    Some(p) => &p.accept,
                    None => continue,
                }
            } else if core::mem::take(&mut self.outbox.transfer) {
                match self.outbound.as_ref().and_then(|o| o.sealed.as_ref()) {
                    Some(s) => s.bytes.get(..s.len).unwrap_or(&[]),
                    None => continue,
                }
            } else if let Some(p) = self.outbox.poke.take() {
                poke = p;
                &poke
            } else if let Some(f) = self.outbox.connect_failed.take() {
                failed = f;
                &failed
            } else if core::mem::take(&mut self.outbox.sign_request) {
                match self.signing.as_ref().and_then(|s| s.sent.as_ref()) {
                    Some(r) => &r.bytes,
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
            match message_type(bytes) {
                Ok(MessageType::AssocAccept) => self.stats.accepts_sent += 1,
                Ok(MessageType::Transfer) => self.stats.transfers_sent += 1,
                Ok(MessageType::ConnectFailed) => self.stats.connect_failed_sent += 1,
                Ok(MessageType::SignRequest) => self.stats.sign_requests_sent += 1,
                _ => self.stats.pokes_sent += 1,
            }
            return Some(bytes.len());
        }
    }

    /// A datagram from the mote.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Option<SspEvent> {
        let msg = match Message::parse(datagram) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return None;
            }
        };
        match msg {
            Message::AssocHello(h) => {
                self.on_hello(now, &h);
                None
            }
            Message::AssocReady(r) => self.on_ready(now, &r),
            Message::Confirm(c) => self.on_confirm(&c),
            Message::Unassociated(u) => self.on_unassociated(now, &u),
            Message::Connect(c) => self.on_connect(&c),
            Message::SignResponse(r) => self.on_sign_response(&r),
            Message::AssocAccept(_)
            | Message::Transfer(_)
            | Message::Poke(_)
            | Message::ConnectFailed(_)
            | Message::SignRequest(_) => {
                self.stats.wrong_direction += 1;
                None
            }
        }
    }

    fn on_hello(&mut self, now: Instant, hello: &AssocHelloRepr) {
        if !ct_eq(&self.creds.hello_tag::<A>(&hello.e_m), &hello.tag) {
            self.stats.hello_bad_tag += 1;
            return;
        }
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.hello_tag == hello.tag)
        {
            // Our AssocAccept was lost: the same one again.
            self.stats.hello_repeated += 1;
            self.outbox.accept = true;
            return;
        }
        if self
            .association
            .as_ref()
            .is_some_and(|a| a.hello_tag == hello.tag)
        {
            self.stats.hello_replayed += 1;
            return;
        }
        self.stats.ecc_key_pairs += 1;
        let Ok((secret, e_s)) = self.ecdh.generate(&mut self.rng) else {
            self.stats.ecc_failures += 1;
            return;
        };
        self.stats.ecc_agreements += 1;
        let Ok(z) = self.ecdh.agree(&secret, &hello.e_m) else {
            self.stats.hello_bad_point += 1;
            return;
        };
        drop(secret);
        let keys = self.creds.associate::<A>(&z, &hello.e_m, &e_s);
        drop(z);
        let accept = AssocAcceptRepr {
            id: keys.id,
            e_s,
            tag: accept_tag::<A>(&keys.a, keys.id, &hello.e_m, &e_s),
        }
        .to_bytes();
        // A newer hello replaces the pending one; the working association stays.
        self.pending = Some(Pending {
            id: keys.id,
            ratchet: keys.ratchet,
            a: keys.a,
            requests: keys.requests,
            hello_tag: hello.tag,
            accept,
            resend: Some(Backoff::start(now, TRANSFER_DEADLINE)),
            give_up: now + TRANSFER_DEADLINE,
        });
        self.stats.hellos_accepted += 1;
        self.outbox.accept = true;
    }

    fn on_ready(&mut self, now: Instant, ready: &AssocReadyRepr) -> Option<SspEvent> {
        let verified = self.pending.as_ref().is_some_and(|p| {
            p.id == ready.id && ct_eq(&ready_tag::<A>(&p.a, &ready.to_bytes()), &ready.tag)
        });
        if !verified {
            if self.association.as_ref().is_some_and(|a| a.id == ready.id) {
                self.stats.ready_duplicate += 1;
            } else if self.pending.is_some() {
                self.stats.ready_bad_tag += 1;
            } else {
                self.stats.ready_unexpected += 1;
            }
            return None;
        }
        let p = self.pending.take()?;
        self.association = Some(Association {
            id: p.id,
            ratchet: p.ratchet.clone(),
            free_slots: ready.free_slots,
            suites: ready.suites,
            hello_tag: p.hello_tag,
            requests: p.requests.clone(),
            last_r: None,
            last_failed: None,
            next_q: 0,
        });
        drop(p);
        self.stats.associations += 1;
        // A transfer waiting for an association (or sent on the one just replaced, which
        // the mote no longer has) goes out on the new one; so does a signature request.
        if self.outbound.is_some() {
            self.send_outbound(now);
        }
        if self.signing.is_some() {
            self.send_signing(now);
        }
        Some(SspEvent::Associated {
            id: ready.id,
            free_slots: ready.free_slots,
            suites: ready.suites,
        })
    }

    fn on_confirm(&mut self, confirm: &ConfirmRepr) -> Option<SspEvent> {
        let in_flight = self
            .outbound
            .as_ref()
            .and_then(|o| o.sealed.as_ref())
            .map(|s| (s.id, s.n));
        let Some(a) = self
            .association
            .as_mut()
            .filter(|a| in_flight == Some((confirm.id, confirm.n)) && a.id == confirm.id)
        else {
            self.stats.confirm_unexpected += 1;
            return None;
        };
        if !a.ratchet.confirm_verifies::<A>(confirm) {
            self.stats.confirm_bad_tag += 1;
            return None;
        }
        a.free_slots = confirm.free_slots;
        self.spend();
        self.outbound = None;
        if confirm.status == ConfirmStatus::Installed {
            self.stats.transfers_confirmed += 1;
            Some(SspEvent::Confirmed {
                n: confirm.n,
                free_slots: confirm.free_slots,
            })
        } else {
            self.stats.transfers_refused += 1;
            Some(SspEvent::TransferFailed(TransferFailure::Refused {
                n: confirm.n,
                status: confirm.status,
                free_slots: confirm.free_slots,
            }))
        }
    }

    fn on_connect(&mut self, c: &ConnectRepr) -> Option<SspEvent> {
        let Some(a) = self
            .association
            .as_mut()
            .filter(|a| a.id == c.id && ct_eq(&connect_tag::<A>(&a.requests, c), &c.tag))
        else {
            self.stats.connect_bad += 1;
            return None;
        };
        match a.last_r {
            Some(last) if c.r == last => {
                self.stats.connects_repeated += 1;
                if let Some((r, bytes)) = a.last_failed
                    && r == c.r
                {
                    self.outbox.connect_failed = Some(bytes);
                }
                return None;
            }
            Some(last) if c.r < last => {
                self.stats.connect_bad += 1;
                return None;
            }
            _ => {}
        }
        a.last_r = Some(c.r);
        a.last_failed = None;
        self.stats.connects_received += 1;
        Some(SspEvent::ConnectRequested {
            r: c.r,
            server_addr: c.server_addr,
            server_port: c.server_port,
        })
    }

    fn on_sign_response(&mut self, resp: &SignResponseRepr) -> Option<SspEvent> {
        let in_flight = self
            .signing
            .as_ref()
            .and_then(|s| s.sent.as_ref())
            .map(|r| (r.id, r.q));
        let verified = in_flight == Some((resp.id, resp.q))
            && self.association.as_ref().is_some_and(|a| {
                a.id == resp.id && ct_eq(&sign_response_tag::<A>(&a.requests, resp), &resp.tag)
            });
        if !verified {
            self.stats.sign_response_bad += 1;
            return None;
        }
        self.signing = None;
        if resp.status == SignStatus::Signed {
            self.stats.signatures_received += 1;
            Some(SspEvent::Signed {
                signature: resp.signature,
            })
        } else {
            self.stats.signatures_refused += 1;
            Some(SspEvent::SignFailed(SignFailure::Refused(resp.status)))
        }
    }

    /// Answers Connect `r` of the working association with a ConnectFailed (nothing if the
    /// association changed since: the mote dropped that request with it).
    pub fn refuse_connect(&mut self, r: u32, reason: ConnectFailure) {
        let Some(a) = self.association.as_mut().filter(|a| a.last_r == Some(r)) else {
            return;
        };
        let mut f = ConnectFailedRepr {
            id: a.id,
            r,
            reason,
            tag: [0; 8],
        };
        f.tag = connect_failed_tag::<A>(&a.requests, &f);
        let bytes = f.to_bytes();
        a.last_failed = Some((r, bytes));
        self.outbox.connect_failed = Some(bytes);
    }

    fn on_unassociated(&mut self, now: Instant, u: &UnassociatedRepr) -> Option<SspEvent> {
        if !ct_eq(&self.creds.unassociated_tag::<A>(u), &u.tag) {
            self.stats.unassociated_bad_tag += 1;
            return None;
        }
        let in_flight = self
            .outbound
            .as_ref()
            .and_then(|o| o.sealed.as_ref())
            .map(|s| (s.id, s.n));
        if in_flight == Some((u.id, u.n)) && self.association.as_ref().is_some_and(|a| a.id == u.id)
        {
            self.stats.unassociated_accepted += 1;
            self.association = None;
            // The transfer waits, within its deadline, for a new association.
            self.send_outbound(now);
            return Some(SspEvent::Unassociated);
        }
        if u.n == 0 && self.pending.as_ref().is_some_and(|p| p.id == u.id) {
            self.stats.unassociated_pending_dropped += 1;
            self.pending = None;
            return None;
        }
        self.stats.unassociated_ignored += 1;
        None
    }
}

/// Everything the IoTSSP's behaviour depends on (counters aside), for the forgery tests.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SspFingerprint {
    pub association: Option<(u8, u32, [u8; 16], u8, SuiteSet)>,
    pub pending: Option<(u8, [u8; 16], [u8; 74])>,
    pub outbound: Option<(Instant, Option<(u8, u32)>)>,
}

#[cfg(test)]
impl<A: Aes128Block, E: EcdhP256, R: Random> SspAssoc<A, E, R> {
    pub(crate) fn fingerprint(&self) -> SspFingerprint {
        SspFingerprint {
            association: self.association.as_ref().map(|a| {
                (
                    a.id,
                    a.ratchet.n(),
                    a.ratchet.key_bytes(),
                    a.free_slots,
                    a.suites,
                )
            }),
            pending: self
                .pending
                .as_ref()
                .map(|p| (p.id, p.ratchet.key_bytes(), p.accept)),
            outbound: self
                .outbound
                .as_ref()
                .map(|o| (o.deadline, o.sealed.as_ref().map(|s| (s.id, s.n)))),
        }
    }

    pub(crate) fn ratchet(&self) -> Option<Ratchet> {
        self.association.as_ref().map(|a| a.ratchet.clone())
    }
}
