//! [`DelegatedMote`]: the association with the IoTSSP and the session slots behind it, with
//! the two queues that carry application data in and records out.

use core::time::Duration;

use mote_assoc::crypto::{Aes128Block, EcdhP256, Random};
use mote_assoc::keys::Credentials;
use mote_assoc::mote::AssociationState;
use mote_assoc::time::Instant;
use mote_assoc::wire::{SignPurpose, SignStatus, SuiteSet, TransferBody};
use mote_assoc::{ConnectError, Installation, MoteAssoc, MoteEvent, MoteStats, SignatureRequest};

use crate::layer::{QueueStats, Received, SessionLayer};
use crate::sessions::{SendError, SessionStats, Sessions};
use crate::{Address, LocalPort};

/// How a mote is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The IoTSSP's address and port, if provisioned: the mote associates at its first
    /// timeout. Without it the mote learns them from the IoTSSP's first authenticated
    /// message (a Poke) and associates then.
    pub iotssp: Option<Address>,
    /// The suites the record layer runs, of those the build compiles in (its `suite-*`
    /// features): reported to the IoTSSP in AssocReady; others are refused.
    pub suites: SuiteSet,
    /// Session slots offered, at most the mote's `SLOTS`.
    pub slots: usize,
    /// A session without a record from its client for this long is dropped (its keys
    /// wiped).
    pub session_idle: Duration,
    /// A session without a record from its client for this long (at most `session_idle`)
    /// is idle: when every slot is taken, the least recently used idle session gives way to
    /// a new transfer. Until then it holds its slot, and a transfer that finds no idle
    /// session is refused (the IoTSSP sends its client an alert).
    pub session_evict_after: Duration,
}

impl Config {
    /// Five minutes' idle time.
    pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(300);
    /// Thirty seconds without a record make a session idle.
    pub const DEFAULT_SESSION_EVICT_AFTER: Duration = crate::sessions::DEFAULT_EVICT_AFTER;
    /// Every suite the build compiles in.
    pub const ALL_SUITES: SuiteSet = SuiteSet(0b1111);
}

/// The platform's ECDSA P-256 with the mote's own private key, for keyless delegation (the
/// IoTSSP holds only the mote's certificate and asks for each signature a handshake in the
/// mote's name needs): a CC2538 runs it on its PKA. The key never leaves the platform.
pub trait EcdsaP256Sign {
    /// Signs `digest` as it is (ECDSA over this SHA-256 digest, no further hashing) and
    /// returns `r || s` (32 bytes each, big-endian), or why not: `Refused` (the mote does
    /// not sign for `purpose`) or `Failed`.
    fn sign_digest(
        &mut self,
        purpose: SignPurpose,
        digest: &[u8; 32],
    ) -> Result<[u8; 64], SignStatus>;
}

/// A datagram [`DelegatedMote::poll_transmit`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The socket to send it from.
    pub local: LocalPort,
    pub remote: Address,
    pub len: usize,
}

/// Counters of the mote outside its association and its sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Datagrams to the association port from another address than the IoTSSP's.
    pub not_from_iotssp: u64,
}

/// The mote's side of delegation, sans-IO. `A`, `E` and `R` are the platform's AES-128,
/// P-256 ECDH and randomness; `SLOTS` sessions at most; `BUF` bytes for each of the
/// receive queue (plaintext application data) and the transmit queue (records).
///
/// The caller owns two UDP sockets (the association port, 5685, and the session port,
/// 5684), feeds what they receive to [`Self::handle_datagram`], sends what
/// [`Self::poll_transmit`] gives, calls [`Self::handle_timeout`] at
/// [`Self::poll_timeout`], and reads and writes application data with [`Self::recv`] and
/// [`Self::send`].
pub struct DelegatedMote<A, E: EcdhP256, R, const SLOTS: usize, const BUF: usize> {
    assoc: MoteAssoc<A, E, R>,
    iotssp: Option<Address>,
    layer: SessionLayer<A, SLOTS, BUF>,
    stats: DeviceStats,
}

/// The session slots at one instant, as the association machine sees them.
struct SlotsAt<'a, const N: usize> {
    now: Instant,
    sessions: &'a mut Sessions<N>,
    #[cfg(feature = "resumption")]
    cache: &'a mut crate::resume::ResumptionCache<N>,
    #[cfg(feature = "resumption")]
    outbound: &'a mut crate::resume_client::OutboundResumption<N>,
}

impl<const N: usize> mote_assoc::SessionTable for SlotsAt<'_, N> {
    fn free_slots(&self) -> u8 {
        u8::try_from(self.sessions.free_for_new(self.now)).unwrap_or(u8::MAX)
    }

    fn suites(&self) -> SuiteSet {
        self.sessions.suites()
    }

    fn install(&mut self, body: &TransferBody) -> Installation {
        let installed = self.sessions.install(self.now, body);
        #[cfg(feature = "resumption")]
        if installed == Installation::Installed {
            self.cache.insert(self.now, body);
            self.outbound.insert(self.now, body);
        }
        installed
    }
}

impl<A: Aes128Block, E: EcdhP256, R: Random, const SLOTS: usize, const BUF: usize>
    DelegatedMote<A, E, R, SLOTS, BUF>
{
    /// A mote that has just booted, with its provisioned credentials (PSK and EUI-64).
    pub fn new(config: Config, creds: Credentials, ecdh: E, rng: R) -> Self {
        let mut layer = SessionLayer::new(config.suites, config.session_idle, config.slots);
        layer.set_evict_after(config.session_evict_after);
        DelegatedMote {
            assoc: MoteAssoc::new(creds, ecdh, rng),
            iotssp: config.iotssp,
            layer,
            stats: DeviceStats::default(),
        }
    }

    /// Keeps up to `slots` (at most `SLOTS`) sessions the mote may resume itself (those
    /// whose Transfer made them resumable); 0, the default, none.
    #[cfg(feature = "resumption")]
    pub fn set_resumption_slots(&mut self, slots: usize) {
        self.layer.set_resumption_slots(slots);
    }

    /// The resumption cache's counters.
    #[cfg(feature = "resumption")]
    pub fn resumption_stats(&self) -> &crate::resume::ResumptionStats {
        self.layer.resumption().stats()
    }

    pub fn association(&self) -> Option<AssociationState> {
        self.assoc.association()
    }

    pub fn iotssp(&self) -> Option<Address> {
        self.iotssp
    }

    pub fn sessions(&self) -> &Sessions<SLOTS> {
        self.layer.sessions()
    }

    /// The record layer of the sessions (application data in and out).
    pub fn session_layer(&mut self) -> &mut SessionLayer<A, SLOTS, BUF> {
        &mut self.layer
    }

    pub fn association_stats(&self) -> &MoteStats {
        self.assoc.stats()
    }

    pub fn session_stats(&self) -> &SessionStats {
        self.layer.sessions().stats()
    }

    pub fn queue_stats(&self) -> &QueueStats {
        self.layer.queue_stats()
    }

    pub fn device_stats(&self) -> &DeviceStats {
        &self.stats
    }

    /// A datagram that arrived on `local` from `from`. Returns what it did to the
    /// association; application data is read with [`Self::recv`].
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: LocalPort,
        from: &Address,
        datagram: &[u8],
    ) -> Option<MoteEvent> {
        match local {
            LocalPort::Association => {
                if self.iotssp.is_some_and(|p| p != *from) {
                    self.stats.not_from_iotssp += 1;
                    return None;
                }
                self.layer.handle_timeout(now);
                let pokes = self.assoc.stats().pokes_honoured;
                #[cfg(feature = "resumption")]
                let (sessions, cache, outbound) = self.layer.sessions_and_cache_mut();
                #[cfg(not(feature = "resumption"))]
                let sessions = self.layer.sessions_mut();
                let event = self.assoc.handle_datagram(
                    now,
                    datagram,
                    &mut SlotsAt {
                        now,
                        sessions,
                        #[cfg(feature = "resumption")]
                        cache,
                        #[cfg(feature = "resumption")]
                        outbound,
                    },
                );
                // Anything authenticated names the IoTSSP, if provisioning did not.
                if self.iotssp.is_none()
                    && (event.is_some() || self.assoc.stats().pokes_honoured > pokes)
                {
                    self.iotssp = Some(*from);
                }
                event
            }
            LocalPort::Session => {
                #[cfg(feature = "resumption")]
                {
                    let mut rng = AssocRandom(&mut self.assoc);
                    self.layer
                        .handle_datagram_resuming(now, from, datagram, &mut rng);
                }
                #[cfg(not(feature = "resumption"))]
                self.layer.handle_datagram(now, from, datagram);
                None
            }
        }
    }

    /// The next datagram to send, written into `buf` (records are at most `BUF` bytes;
    /// association messages [`mote_assoc::MAX_DATAGRAM_LEN`]).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((remote, len)) = self.layer.poll_transmit(buf) {
            return Some(Transmit {
                local: LocalPort::Session,
                remote,
                len,
            });
        }
        let remote = self.iotssp?;
        let len = self.assoc.poll_transmit(buf)?;
        Some(Transmit {
            local: LocalPort::Association,
            remote,
            len,
        })
    }

    /// The next application data received, written into `buf`.
    pub fn recv(&mut self, buf: &mut [u8]) -> Option<Received> {
        self.layer.recv(buf)
    }

    /// Installs a session that came another way than the association (a per-delegation
    /// PSK handshake, say), exactly as a Transfer's body would.
    pub fn install_session(&mut self, now: Instant, body: &TransferBody) -> Installation {
        self.layer.install(now, body)
    }

    /// Sends `data` as one application-data record to the client at `to`.
    pub fn send(&mut self, to: &Address, data: &[u8]) -> Result<(), SendError> {
        self.layer.send(to, data)
    }

    /// Asks the IoTSSP for a session with the server at `server`, the mote as its client
    /// (outbound delegation, docs/mote-association.md "Connect"). The session comes as a
    /// Transfer like any other (then [`Sessions::is_client_of`] the server), or
    /// [`MoteEvent::ConnectFailed`] says why not; one Connect at a time. Returns its `r`.
    pub fn connect(&mut self, now: Instant, server: &Address) -> Result<u32, ConnectError> {
        self.assoc.connect(now, server.addr, server.port)
    }

    /// Resumes the outbound session the mote holds with `server` with the server itself (an
    /// abbreviated handshake: SHA-256 and the record layer's AEAD, no ECC, no IoTSSP);
    /// [`Self::poll_outbound_outcome`] says how it ended, and
    /// [`crate::OutboundOutcome::NotResumed`] or [`crate::StartError::NoSession`] mean: ask
    /// the IoTSSP with [`Self::connect`].
    #[cfg(feature = "resumption")]
    pub fn resume_outbound(
        &mut self,
        now: Instant,
        server: &Address,
    ) -> Result<(), crate::StartError> {
        let mut rng = AssocRandom(&mut self.assoc);
        self.layer.resume_outbound(now, server, &mut rng)
    }

    /// How the last outbound abbreviated handshake ended, once.
    #[cfg(feature = "resumption")]
    pub fn poll_outbound_outcome(&mut self) -> Option<crate::OutboundOutcome> {
        self.layer.poll_outbound_outcome()
    }

    /// The mote holds a resumable session with `server` (unexpired at `now`).
    #[cfg(feature = "resumption")]
    pub fn can_resume_outbound(&self, now: Instant, server: &Address) -> bool {
        self.layer.outbound_resumption().can_resume(now, server)
    }

    /// An abbreviated handshake with `server` runs.
    #[cfg(feature = "resumption")]
    pub fn is_resuming_outbound(&self, server: &Address) -> bool {
        self.layer.outbound_resumption().is_resuming(server)
    }

    /// Whether the mote may hold a resumable session with `server`, or run a resumption
    /// with it, whatever the time (always false without the `resumption` feature).
    pub fn can_resume_outbound_at_all(&self, server: &Address) -> bool {
        #[cfg(feature = "resumption")]
        {
            let o = self.layer.outbound_resumption();
            o.can_resume(Instant::ZERO, server) || o.is_resuming(server)
        }
        #[cfg(not(feature = "resumption"))]
        {
            let _ = server;
            false
        }
    }

    /// The outbound resumption's counters.
    #[cfg(feature = "resumption")]
    pub fn outbound_resumption_stats(&self) -> &crate::OutboundResumptionStats {
        self.layer.outbound_resumption().stats()
    }

    /// The Connect waiting for its answer, if any: its `r`.
    pub fn pending_connect(&self) -> Option<u32> {
        self.assoc.pending_connect()
    }

    /// The IoTSSP's signature request waiting for the platform ([`MoteEvent::SignRequested`]).
    pub fn pending_sign_request(&self) -> Option<SignatureRequest> {
        self.assoc.pending_sign_request()
    }

    /// Has the platform sign the waiting request and queues the SignResponse (signature or
    /// refusal) for [`Self::poll_transmit`]. A platform whose signer takes long (a PKA run)
    /// may call this later, as long as the association stays. False when nothing waits.
    pub fn answer_sign_request(&mut self, signer: &mut impl EcdsaP256Sign) -> bool {
        let Some(r) = self.assoc.pending_sign_request() else {
            return false;
        };
        let answer = signer.sign_digest(r.purpose, &r.digest);
        self.assoc.answer_sign_request(r.q, answer)
    }

    /// Ends the session with `peer`: a close_notify, then its keys are wiped.
    pub fn close(&mut self, peer: &Address) -> Result<(), SendError> {
        self.layer.close(peer)
    }

    /// When the association's timers are due, leaving out session expiry (for a device
    /// that expires sessions only as it handles datagrams and other timers).
    pub fn association_timeout(&self) -> Option<Instant> {
        self.assoc.poll_timeout()
    }

    /// When [`Self::handle_timeout`] has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.assoc.poll_timeout(), self.layer.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.assoc.handle_timeout(now);
        self.layer.handle_timeout(now);
    }
}

/// The association's randomness, lent to the resumption's server random.
#[cfg(feature = "resumption")]
struct AssocRandom<'a, A, E: EcdhP256, R>(&'a mut MoteAssoc<A, E, R>);

#[cfg(feature = "resumption")]
impl<A: Aes128Block, E: EcdhP256, R: Random> Random for AssocRandom<'_, A, E, R> {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.random(buf);
    }
}
