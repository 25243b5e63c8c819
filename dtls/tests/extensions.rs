//! The hello-extension hooks, exercised with the SessionTransferTicket over the simulated
//! network: the IoTSSP-like client offers it, a mote-like server answers, refuses, or (with
//! no handler) ignores it.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use dtls::transfer::{STT_EXTENSION_TYPE, SttAnswerRepr, SttOfferRepr, SttStatus};
use dtls::{
    AlertDescription, ClientConfig, ClientHelloInfo, CloseReason, Error, Event, Extension,
    HelloExtensionHandler, PskTable, ServerConfig,
};

/// A mote: answers an STT offer with `status`, refuses a hello if `refuse`, and accepts the
/// ticket only from the PSK identity `iotssp`. Records what it saw.
struct Mote {
    status: SttStatus,
    refuse: Option<AlertDescription>,
    /// Also answer these (not offered, or engine-owned): the engine must drop them.
    extra_answers: Vec<Extension>,
    seen: Mutex<Vec<Vec<Extension>>>,
}

impl Mote {
    fn new(status: SttStatus) -> Arc<Self> {
        Arc::new(Mote {
            status,
            refuse: None,
            extra_answers: Vec::new(),
            seen: Mutex::new(Vec::new()),
        })
    }
}

impl HelloExtensionHandler for Mote {
    fn client_hello(
        &self,
        hello: &ClientHelloInfo<'_>,
    ) -> Result<Vec<Extension>, AlertDescription> {
        self.seen.lock().unwrap().push(hello.extensions.to_vec());
        if let Some(a) = self.refuse {
            return Err(a);
        }
        let mut out = self.extra_answers.clone();
        match SttOfferRepr::find(hello.extensions) {
            Some(Ok(o)) if o.transfer_requested => out.push(
                SttAnswerRepr {
                    status: self.status,
                    free_slots: 3,
                }
                .to_extension(),
            ),
            Some(_) => return Err(AlertDescription::IllegalParameter),
            None => {}
        }
        Ok(out)
    }

    fn psk_identity(
        &self,
        _remote: SocketAddr,
        identity: &[u8],
        answered: &[Extension],
    ) -> Result<(), AlertDescription> {
        let accepted_stt = answered.iter().any(|e| e.typ == STT_EXTENSION_TYPE);
        if accepted_stt && identity != b"iotssp" {
            Err(AlertDescription::AccessDenied)
        } else {
            Ok(())
        }
    }
}

fn mote_server(handler: Option<Arc<Mote>>) -> ServerConfig {
    let mut t = PskTable::new();
    t.insert(b"iotssp", b"0123456789abcdef");
    t.insert(b"mote-1", b"0123456789abcdef");
    let mut cfg = ServerConfig::psk(Arc::new(t));
    cfg.hello_extensions = handler.map(|h| h as Arc<dyn HelloExtensionHandler>);
    cfg
}

fn iotssp_client(identity: &[u8]) -> ClientConfig {
    let mut c = ClientConfig::psk(identity, b"0123456789abcdef");
    c.extra_client_hello_extensions = vec![
        SttOfferRepr {
            transfer_requested: true,
        }
        .to_extension(),
    ];
    c
}

fn answered(events: &[Event]) -> Option<Vec<Extension>> {
    events.iter().find_map(|e| match e {
        Event::ServerHelloExtensions(x) => Some(x.clone()),
        _ => None,
    })
}

#[test]
fn stt_offered_and_accepted() {
    let mote = Mote::new(SttStatus::Accept);
    let mut p = Pair::new(mote_server(Some(mote.clone())));
    p.connect(iotssp_client(b"iotssp"));
    p.drive();
    assert!(
        p.handshake_complete(),
        "{:?} {:?}",
        p.server_events,
        p.client_events
    );
    let expect = SttAnswerRepr {
        status: SttStatus::Accept,
        free_slots: 3,
    };
    let got = answered(&p.client_events).expect("event");
    assert_eq!(got, vec![expect.to_extension()]);
    assert_eq!(SttAnswerRepr::find(&got), Some(Ok(expect)));
    // The event precedes HandshakeComplete.
    let pos = |pred: fn(&Event) -> bool| p.client_events.iter().position(pred).unwrap();
    assert!(
        pos(|e| matches!(e, Event::ServerHelloExtensions(_)))
            < pos(|e| *e == Event::HandshakeComplete)
    );
    // The handler saw the offer only once (the cookie'd hello), with the engine's extensions.
    let seen = mote.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        SttOfferRepr::find(&seen[0]),
        Some(Ok(SttOfferRepr {
            transfer_requested: true
        }))
    );
    let (ca, sa) = (p.client_addr, p.server_addr);
    assert_eq!(
        p.server.connection(&ca).unwrap().answered_extensions(),
        [expect.to_extension()]
    );
    assert!(
        p.client
            .connection(&sa)
            .unwrap()
            .peer_hello_extensions()
            .contains(&expect.to_extension())
    );
}

#[test]
fn mote_busy_answer_reaches_client() {
    let mut p = Pair::new(mote_server(Some(Mote::new(SttStatus::Busy))));
    p.connect(iotssp_client(b"iotssp"));
    p.drive();
    let got = answered(&p.client_events).unwrap();
    assert_eq!(
        SttAnswerRepr::find(&got).unwrap().unwrap().status,
        SttStatus::Busy
    );
}

/// A server that does not know the extension ignores it (RFC 5246 7.4.1.4); the client
/// learns that from an empty answer.
#[test]
fn server_without_handler_ignores_stt() {
    let mut p = Pair::new(mote_server(None));
    p.connect(iotssp_client(b"iotssp"));
    p.drive();
    assert!(p.handshake_complete());
    assert_eq!(answered(&p.client_events), Some(vec![]));
}

#[test]
fn client_without_extras_gets_no_event() {
    let mut p = Pair::new(mote_server(Some(Mote::new(SttStatus::Accept))));
    p.connect(ClientConfig::psk(b"iotssp", b"0123456789abcdef"));
    p.drive();
    assert!(p.handshake_complete());
    assert_eq!(answered(&p.client_events), None);
}

#[test]
fn handler_refuses_with_chosen_alert() {
    let mote = Arc::new(Mote {
        refuse: Some(AlertDescription::AccessDenied),
        ..Arc::into_inner(Mote::new(SttStatus::Accept)).unwrap()
    });
    let mut p = Pair::new(mote_server(Some(mote)));
    p.connect(iotssp_client(b"iotssp"));
    p.drive();
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::AccessDenied
            ))),
        "{:?}",
        p.client_events
    );
    assert!(
        p.server_events
            .contains(&Event::Closed(CloseReason::LocalError(
                Error::HandshakeRefused(AlertDescription::AccessDenied)
            )))
    );
}

/// The ticket is accepted only from the mote's IoTSSP: another provisioned identity is
/// refused once its ClientKeyExchange names it.
#[test]
fn stt_from_wrong_psk_identity_refused() {
    let mut p = Pair::new(mote_server(Some(Mote::new(SttStatus::Accept))));
    p.connect(iotssp_client(b"mote-1"));
    p.drive();
    assert!(!p.handshake_complete());
    assert!(
        p.client_events
            .contains(&Event::Closed(CloseReason::PeerAlert(
                AlertDescription::AccessDenied
            ))),
        "{:?}",
        p.client_events
    );
    // Without the ticket the same identity is fine.
    let mut p = Pair::new(mote_server(Some(Mote::new(SttStatus::Accept))));
    p.connect(ClientConfig::psk(b"mote-1", b"0123456789abcdef"));
    p.drive();
    assert!(p.handshake_complete());
}

/// The engine drops answers the client did not offer and answers to its own extensions.
#[test]
fn unoffered_answers_are_dropped() {
    let mote = Arc::new(Mote {
        extra_answers: vec![
            Extension {
                typ: 0xff5b,
                data: vec![1],
            },
            Extension {
                typ: 0xff01,
                data: vec![9, 9],
            },
            Extension {
                typ: 23,
                data: vec![],
            },
        ],
        ..Arc::into_inner(Mote::new(SttStatus::Accept)).unwrap()
    });
    let mut c = iotssp_client(b"iotssp");
    c.offer_extended_master_secret = false;
    let mut p = Pair::new(mote_server(Some(mote)));
    p.connect(c);
    p.drive();
    assert!(p.handshake_complete(), "{:?}", p.client_events);
    assert_eq!(answered(&p.client_events).unwrap().len(), 1);
}

/// The IoTSSP aborts when the mote did not accept: the mote sees a fatal alert.
#[test]
fn client_aborts_after_answer() {
    let mut p = Pair::new(mote_server(None));
    p.connect(iotssp_client(b"iotssp"));
    p.settle();
    assert_eq!(answered(&p.client_events), Some(vec![]));
    let sa = p.server_addr;
    p.client
        .connection_mut(&sa)
        .unwrap()
        .abort(AlertDescription::HandshakeFailure);
    p.drive();
    assert!(
        p.server_events.iter().any(|e| matches!(
            e,
            Event::Closed(CloseReason::PeerAlert(AlertDescription::HandshakeFailure))
        )),
        "{:?}",
        p.server_events
    );
}

/// Extra extensions work beside the ECDHE suite's own, with an unknown extension offered
/// that a handler-less server ignores (the hello must still fit one datagram: a stateless
/// server does not reassemble it).
#[test]
fn ecdhe_with_extra_extensions() {
    let mut c = ecdhe_client("client.pem", "client.key");
    c.extra_client_hello_extensions = vec![
        SttOfferRepr {
            transfer_requested: true,
        }
        .to_extension(),
        Extension {
            typ: 0xfe00,
            data: vec![0; 100],
        },
    ];
    c.transport.mtu = 300;
    let mut p = Pair::new(ecdhe_server());
    p.connect(c);
    p.drive();
    assert!(p.handshake_complete(), "{:?}", p.client_events);
    assert_eq!(answered(&p.client_events), Some(vec![]));
}

#[test]
fn extra_extensions_validated() {
    let mut c = iotssp_client(b"iotssp");
    c.extra_client_hello_extensions.push(
        SttOfferRepr {
            transfer_requested: true,
        }
        .to_extension(),
    );
    assert!(c.validate().is_err(), "duplicate type");
    let mut c = iotssp_client(b"iotssp");
    c.extra_client_hello_extensions.push(Extension {
        typ: 23,
        data: vec![],
    });
    assert!(c.validate().is_err(), "engine-owned type");
    assert!(iotssp_client(b"iotssp").validate().is_ok());
}
