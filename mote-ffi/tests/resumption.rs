//! Resumption through the C API (feature `resumption`), in process: two motes, each set up
//! with `mote_init` and associated with its own IoTSSP (the Rust `SspAssoc`), hold the two
//! ends of one resumable session, transferred to the first as its server and to the second
//! as the client of an outbound session. After the session ends, the second resumes it with
//! the first (`mote_resume`): the first runs the server's side of the abbreviated
//! handshake, the second the client's, neither asks its IoTSSP, and application data flows
//! over the resumed session. And the C example built with `MOTE_RESUMPTION`, as a process,
//! resumes a session for a client that comes back.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

use mote_assoc::crypto::{Random, SoftAes, SoftEcdh};
use mote_assoc::keys::Credentials;
use mote_assoc::wire::{KeyBlock, Resumption, SessionKeys, TransferBody};
use mote_assoc::{MAX_DATAGRAM_LEN, SspAssoc, SspEvent};
use mote_ffi::*;

mod example;

const PSK: [u8; 16] = *b"mote-ffi-resume!";
const IOTSSP: MoteEndpoint = MoteEndpoint {
    addr: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    port: 5690,
};
/// The mote clients resume with (the server of the session).
const SERVER: MoteEndpoint = MoteEndpoint {
    addr: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x51],
    port: MOTE_SESSION_PORT,
};
/// The mote that resumes its outbound session with `SERVER`.
const CLIENT: MoteEndpoint = MoteEndpoint {
    addr: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x52],
    port: MOTE_SESSION_PORT,
};

static NOW_MS: AtomicU64 = AtomicU64::new(1000);

unsafe extern "C" fn now_ms(_: *mut c_void) -> u64 {
    NOW_MS.load(Ordering::Relaxed)
}

unsafe extern "C" fn random(_: *mut c_void, buf: *mut u8, len: usize) {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    // SAFETY: the library passes `len` writable bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    Rng(0xc0ffee ^ CALLS.fetch_add(1, Ordering::Relaxed)).fill(buf);
}

struct Rng(u64);
impl Random for Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
}

fn now() -> mote_assoc::Instant {
    mote_assoc::Instant::from_millis(NOW_MS.load(Ordering::Relaxed))
}

fn endpoint() -> MoteEndpoint {
    MoteEndpoint {
        addr: [0; 16],
        port: 0,
    }
}

/// One mote through the C API and the IoTSSP it is associated with.
struct Node {
    mote: Box<Mote>,
    ssp: SspAssoc<SoftAes, SoftEcdh, Rng>,
    /// Its address, as the other mote sees it.
    addr: MoteEndpoint,
}

impl Node {
    fn new(eui64: [u8; 8], addr: MoteEndpoint) -> Node {
        let mut mote = Box::new(Mote {
            opaque: [0; MOTE_STORAGE_WORDS],
        });
        let platform = MotePlatform {
            ctx: std::ptr::null_mut(),
            aes128_encrypt: Some(mote_soft_aes128_encrypt),
            random: Some(random),
            now_ms: Some(now_ms),
            p256_generate: None,
            p256_agree: None,
            ecdsa_sign: None,
        };
        let config = MoteConfig {
            psk: PSK.as_ptr(),
            psk_len: PSK.len(),
            eui64,
            has_iotssp: 1,
            iotssp: IOTSSP,
            suites: 0,
            session_idle_ms: 0,
        };
        // SAFETY: valid pointers; the PSK outlives the call.
        unsafe {
            assert_eq!(mote_init(&mut *mote, &platform, &config), MOTE_OK);
            assert_eq!(
                mote_set_resumption_slots(&mut *mote, MOTE_SLOTS as u8 + 1),
                MOTE_ERR_INVALID
            );
            assert_eq!(
                mote_set_resumption_slots(&mut *mote, MOTE_SLOTS as u8),
                MOTE_OK
            );
        }
        let creds = Credentials::new::<SoftAes>(&PSK, eui64).unwrap();
        let mut node = Node {
            mote,
            ssp: SspAssoc::new(creds, SoftEcdh, Rng(u64::from(eui64[7]))),
            addr,
        };
        // SAFETY: a set-up mote.
        unsafe { mote_handle_timeout(&mut *node.mote) };
        let (events, _) = node.exchange_with_iotssp();
        assert_eq!(events, [MOTE_EVENT_ASSOCIATED]);
        node
    }

    /// Moves datagrams between the mote and its IoTSSP until neither has one to send;
    /// returns the mote's events and the IoTSSP's.
    fn exchange_with_iotssp(&mut self) -> (Vec<i32>, Vec<SspEvent>) {
        let (mut mote_events, mut ssp_events) = (Vec::new(), Vec::new());
        loop {
            let mut moved = false;
            let mut buf = [0u8; MOTE_MAX_DATAGRAM];
            let (mut to, mut local) = (endpoint(), 0u8);
            loop {
                // SAFETY: valid pointers and the buffer's length.
                let n = unsafe {
                    mote_poll_transmit(
                        &mut *self.mote,
                        buf.as_mut_ptr(),
                        buf.len(),
                        &mut to,
                        &mut local,
                    )
                };
                if n <= 0 {
                    break;
                }
                assert_eq!(local, MOTE_LOCAL_ASSOCIATION);
                ssp_events.extend(self.ssp.handle_datagram(now(), &buf[..n as usize]));
                moved = true;
            }
            let mut out = [0u8; MAX_DATAGRAM_LEN];
            while let Some(n) = self.ssp.poll_transmit(&mut out) {
                // SAFETY: valid pointers and the datagram's length.
                let ev = unsafe {
                    mote_handle_datagram(
                        &mut *self.mote,
                        MOTE_LOCAL_ASSOCIATION,
                        &IOTSSP,
                        out.as_ptr(),
                        n,
                    )
                };
                assert!(ev >= 0, "mote_handle_datagram: {ev}");
                if ev != MOTE_EVENT_NONE {
                    mote_events.push(ev);
                }
                moved = true;
            }
            if !moved {
                return (mote_events, ssp_events);
            }
        }
    }

    /// Has the IoTSSP transfer `body` and the mote install it.
    fn transfer(&mut self, body: TransferBody) {
        self.ssp.start_transfer(now(), body).unwrap();
        let (events, ssp_events) = self.exchange_with_iotssp();
        assert_eq!(events, [MOTE_EVENT_SESSION_INSTALLED]);
        assert!(
            matches!(ssp_events[..], [SspEvent::Confirmed { .. }]),
            "{ssp_events:?}"
        );
    }

    fn resumption_counters(&mut self) -> MoteResumptionCounters {
        let mut c = MoteResumptionCounters::default();
        // SAFETY: valid pointers.
        assert_eq!(
            unsafe { mote_resumption_counters(&mut *self.mote, &mut c) },
            MOTE_OK
        );
        c
    }

    fn counters(&mut self) -> MoteCounters {
        let mut c = MoteCounters::default();
        // SAFETY: valid pointers.
        assert_eq!(unsafe { mote_counters(&mut *self.mote, &mut c) }, MOTE_OK);
        c
    }
}

/// Moves session datagrams between the two motes until neither has one; how many went.
/// Neither may send its IoTSSP anything meanwhile.
fn pump(a: &mut Node, b: &mut Node) -> usize {
    let mut moved = 0;
    loop {
        let went = deliver(a, b) + deliver(b, a);
        if went == 0 {
            return moved;
        }
        moved += went;
        NOW_MS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Hands every datagram `from` has to send to `to`; how many went.
fn deliver(from: &mut Node, to: &mut Node) -> usize {
    let mut moved = 0;
    let mut buf = [0u8; MOTE_MAX_DATAGRAM];
    let (mut dst, mut local) = (endpoint(), 0u8);
    loop {
        // SAFETY: valid pointers and the buffer's length.
        let n = unsafe {
            mote_poll_transmit(
                &mut *from.mote,
                buf.as_mut_ptr(),
                buf.len(),
                &mut dst,
                &mut local,
            )
        };
        if n <= 0 {
            return moved;
        }
        assert_eq!(local, MOTE_LOCAL_SESSION, "a mote asked its IoTSSP");
        assert_eq!((dst.addr, dst.port), (to.addr.addr, to.addr.port));
        // SAFETY: valid pointers and the datagram's length.
        let ev = unsafe {
            mote_handle_datagram(
                &mut *to.mote,
                MOTE_LOCAL_SESSION,
                &from.addr,
                buf.as_ptr(),
                n as usize,
            )
        };
        assert_eq!(ev, MOTE_EVENT_NONE);
        moved += 1;
    }
}

/// Sends `data` from `a` to `b` over their session and returns what `b` received.
fn send(a: &mut Node, b: &mut Node, data: &[u8]) -> Vec<u8> {
    // SAFETY: valid pointers and the data's length.
    assert_eq!(
        unsafe { mote_send(&mut *a.mote, &b.addr, data.as_ptr(), data.len()) },
        MOTE_OK
    );
    pump(a, b);
    let mut buf = [0u8; 256];
    let mut from = endpoint();
    // SAFETY: valid pointers and the buffer's length.
    let n = unsafe { mote_recv(&mut *b.mote, buf.as_mut_ptr(), buf.len(), &mut from) };
    assert!(n > 0, "nothing received: {n}");
    assert_eq!((from.addr, from.port), (a.addr.addr, a.addr.port));
    buf[..n as usize].to_vec()
}

#[test]
fn a_mote_resumes_its_outbound_session_with_a_mote_that_holds_it_without_any_iotssp() {
    let mut server = Node::new([0x02, 0x12, 0x4b, 0, 0, 0, 0, 0x51], SERVER);
    let mut client = Node::new([0x02, 0x12, 0x4b, 0, 0, 0, 0, 0x52], CLIENT);
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(mote_can_resume(&mut *client.mote, &SERVER), 0);
        assert_eq!(mote_resume(&mut *client.mote, &SERVER), MOTE_ERR_NO_SESSION);
    }

    // One session, resumable at both ends: the IoTSSPs ran its full handshake (keys and
    // master secret made up here), the first as the mote's delegate towards a client, the
    // second as the delegate of a mote that asked for a session with a server.
    let id = [0x77; 16];
    let body = |peer: MoteEndpoint, mote_is_client: bool| TransferBody {
        keys: SessionKeys::Ccm8(KeyBlock {
            client_write_key: *b"client-write-key",
            server_write_key: *b"server-write-key",
            client_write_iv: *b"civ!",
            server_write_iv: *b"siv!",
        }),
        may_evict: true,
        client_addr: peer.addr,
        client_port: peer.port,
        sequence: None,
        mote_is_client,
        resumption: Resumption::new(&id, [0x5a; 48], true, 600),
    };
    server.transfer(body(CLIENT, false));
    // SAFETY: valid pointers.
    assert_eq!(unsafe { mote_connect(&mut *client.mote, &SERVER) }, MOTE_OK);
    let (_, ssp_events) = client.exchange_with_iotssp();
    assert!(
        matches!(ssp_events[..], [SspEvent::ConnectRequested { .. }]),
        "{ssp_events:?}"
    );
    client.transfer(body(SERVER, true));
    assert_eq!(send(&mut client, &mut server, b"GET /temp"), b"GET /temp");
    assert_eq!(send(&mut server, &mut client, b"21.5 C"), b"21.5 C");
    assert_eq!(server.resumption_counters().cached, 1);
    assert_eq!(client.resumption_counters().outbound_cached, 1);

    // The session ends (close_notify, answered); both keep it resumable.
    // SAFETY: valid pointers.
    assert_eq!(unsafe { mote_close(&mut *client.mote, &SERVER) }, MOTE_OK);
    pump(&mut client, &mut server);
    assert_eq!(
        (
            client.counters().sessions_active,
            server.counters().sessions_active
        ),
        (0, 0)
    );
    let mut other = endpoint();
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(mote_can_resume(&mut *client.mote, &SERVER), 1);
        assert_eq!(
            mote_poll_resumption(&mut *client.mote, &mut other),
            MOTE_RESUMPTION_NONE
        );
        assert_eq!(mote_resume(&mut *client.mote, &SERVER), MOTE_OK);
    }

    // Hello; the server's flight; the client's ChangeCipherSpec and Finished.
    assert_eq!(pump(&mut client, &mut server), 3);
    let mut resumed_with = endpoint();
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(
            mote_poll_resumption(&mut *client.mote, &mut resumed_with),
            MOTE_RESUMPTION_RESUMED
        );
        assert_eq!(
            mote_poll_resumption(&mut *client.mote, &mut resumed_with),
            MOTE_RESUMPTION_NONE
        );
        assert_eq!(mote_is_client_of(&mut *client.mote, &SERVER), 1);
    }
    assert_eq!(
        (resumed_with.addr, resumed_with.port),
        (SERVER.addr, SERVER.port)
    );
    let (s, c) = (server.resumption_counters(), client.resumption_counters());
    assert_eq!((s.hellos, s.resumed, s.bad_finished), (1, 1, 0));
    assert_eq!(
        (
            c.outbound_started,
            c.outbound_resumed,
            c.outbound_not_resumed
        ),
        (1, 1, 0)
    );
    assert_eq!(send(&mut client, &mut server, b"GET /temp"), b"GET /temp");
    assert_eq!(send(&mut server, &mut client, b"21.6 C"), b"21.6 C");

    // Neither IoTSSP heard of it: no datagram went to either since the transfers.
    for node in [&mut server, &mut client] {
        let (events, ssp_events) = node.exchange_with_iotssp();
        assert!(events.is_empty() && ssp_events.is_empty());
        let c = node.counters();
        assert_eq!((c.associations, c.transfers_installed), (1, 1));
    }
    let stats = (server.ssp.stats(), client.ssp.stats());
    assert_eq!(
        (stats.0.transfers_confirmed, stats.1.transfers_confirmed),
        (1, 1)
    );

    // SAFETY: the motes are ours.
    unsafe {
        mote_deinit(&mut *server.mote);
        mote_deinit(&mut *client.mote);
        assert_eq!(mote_resume(&mut *client.mote, &SERVER), MOTE_ERR_INVALID);
    }
}

/// The C example built with `MOTE_RESUMPTION` keeps its transferred sessions resumable: a
/// client that comes back from another port with the session's id resumes it with the
/// example process alone (the abbreviated handshake over loopback UDP; the IoTSSP side hears
/// nothing), and the resumed session echoes. The client is delegated-mote's own client side
/// of the abbreviated handshake. About a second.
#[test]
fn the_c_example_resumes_a_session_for_a_client_that_comes_back() {
    use delegated_mote::{Address, OutboundOutcome, SessionLayer, SuiteSet};
    use std::io::Read;
    use std::net::{Ipv6Addr, UdpSocket};
    use std::time::{Duration, Instant};

    let tmp = tempfile::tempdir().unwrap();
    let exe = example::compile_example(tmp.path());
    let mut a = example::start_associated(&exe, "30", &[]);
    let server = Address {
        addr: Ipv6Addr::LOCALHOST.octets(),
        port: a.mote_session_addr.port(),
    };
    let first = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let returning = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    returning
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();

    // The session the IoTSSP negotiated with the client at `first` (keys and master secret
    // made up), resumable for ten minutes.
    let id = [0x42; 16];
    let body = |peer: Address, mote_is_client: bool| TransferBody {
        keys: SessionKeys::Ccm8(KeyBlock {
            client_write_key: *b"client-write-key",
            server_write_key: *b"server-write-key",
            client_write_iv: *b"civ!",
            server_write_iv: *b"siv!",
        }),
        may_evict: true,
        client_addr: peer.addr,
        client_port: peer.port,
        sequence: None,
        mote_is_client,
        resumption: Resumption::new(&id, [0x5a; 48], true, 600),
    };
    let at_first = Address {
        addr: Ipv6Addr::LOCALHOST.octets(),
        port: first.local_addr().unwrap().port(),
    };
    a.ssp
        .start_transfer(example::ms(a.start), body(at_first, false))
        .unwrap();
    example::run_ssp(
        &a.ssp_sock,
        a.mote_assoc_addr,
        &mut a.ssp,
        a.start,
        |e| match e {
            SspEvent::Confirmed { .. } => true,
            SspEvent::TransferFailed(f) => panic!("transfer failed: {f:?}"),
            _ => false,
        },
    );
    let transfers = a.ssp.stats().transfers_sent;

    // The client comes back: it holds the session's id and master secret, nothing else.
    let start = Instant::now();
    let now = || mote_assoc::Instant::from_millis(start.elapsed().as_millis() as u64);
    let mut client =
        SessionLayer::<SoftAes, 2, 1024>::new(SuiteSet(0b1111), Duration::from_secs(300), 2);
    client.set_resumption_slots(2);
    client.install(now(), &body(server, true));
    client.close(&server).unwrap();
    let mut buf = [0u8; 1024];
    while client.poll_transmit(&mut buf).is_some() {}
    client
        .resume_outbound(now(), &server, &mut example::Rng(7))
        .unwrap();
    let exchange =
        |client: &mut SessionLayer<SoftAes, 2, 1024>,
         done: &mut dyn FnMut(&mut SessionLayer<SoftAes, 2, 1024>) -> bool| {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut buf = [0u8; 1024];
            loop {
                while let Some((to, len)) = client.poll_transmit(&mut buf) {
                    assert_eq!(to, server);
                    returning.send_to(&buf[..len], a.mote_session_addr).unwrap();
                }
                if done(client) {
                    return;
                }
                assert!(Instant::now() < deadline, "no answer from the example");
                match returning.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        assert_eq!(from, a.mote_session_addr);
                        client.handle_datagram_resuming(
                            now(),
                            &server,
                            &buf[..n],
                            &mut example::Rng(9),
                        );
                    }
                    Err(_) => client.handle_timeout(now()),
                }
            }
        };
    let mut outcome = None;
    exchange(&mut client, &mut |c| {
        outcome = outcome.or(c.poll_outbound_outcome());
        outcome.is_some()
    });
    assert_eq!(outcome, Some(OutboundOutcome::Resumed(server)));
    client.send(&server, b"hello again").unwrap();
    let mut echoed = Vec::new();
    exchange(&mut client, &mut |c| {
        let mut buf = [0u8; 256];
        if let Some(r) = c.recv(&mut buf) {
            assert_eq!(r.from, server);
            echoed.extend_from_slice(&buf[..r.len]);
        }
        !echoed.is_empty()
    });
    assert_eq!(echoed, b"hello again");
    client.close(&server).unwrap();
    exchange(&mut client, &mut |_| true);

    let status = a.child.wait().unwrap();
    let mut out = String::new();
    a.stdout.read_to_string(&mut out).unwrap();
    assert!(status.success(), "the example failed: {out}");
    for expected in [
        "received 11 bytes: hello again",
        "resumption cached=1 resumed=1 fallbacks=0",
        "sessions_installed=2",
    ] {
        assert!(out.contains(expected), "{expected:?} not in {out}");
    }
    assert_eq!(
        a.ssp.stats().transfers_sent,
        transfers,
        "the IoTSSP was asked"
    );
}
