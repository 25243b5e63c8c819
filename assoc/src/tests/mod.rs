//! The two machines together over a simulated link: every row of the doc's "Loss, reboot and
//! replay" table, the timers, forgery, the ratchet's forward secrecy and the frame budget.

mod util;

use core::time::Duration;
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

use crate::crypto::SoftAes;
use crate::mote::MoteEvent;
use crate::ssp::{SspEvent, StartError, TransferFailure};
use crate::time::{Instant, SKIP_AHEAD, TRANSFER_DEADLINE};
use crate::wire::{
    ConfirmStatus, MessageType, Suite, Transfer, Unassociated, UnassociatedReason,
    UnassociatedRepr, message_type,
};
use util::*;

const DOC: &str = include_str!("../../../docs/mote-association.md");

fn secs(s: u64) -> Instant {
    Instant::from_millis(s * 1000)
}

/// Starts a transfer and drives the pair until both are idle.
fn transfer(p: &mut Pair, port: u16) {
    p.ssp.start_transfer(p.now, body(port)).unwrap();
    p.drive();
}

#[test]
fn association_set_up() {
    let mut p = Pair::new();
    p.drive();
    let m = p.mote.association().unwrap();
    let s = p.ssp.association().unwrap();
    assert_eq!((m.id, m.n), (s.id, s.n));
    assert_eq!(s.n, 0);
    assert_eq!((s.free_slots, s.suites), (4, default_suites()));
    assert_eq!(p.mote_events, vec![MoteEvent::Associated { id: m.id }]);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Associated {
            id: s.id,
            free_slots: 4,
            suites: default_suites()
        }]
    );
    // The doc's cost: 1 frame in, 2 out, 2 ECC operations at the mote (and 2 at the IoTSSP).
    assert_eq!((p.sent_by_ssp.len(), p.sent_by_mote.len()), (1, 2));
    assert_eq!(p.mote.stats().ecc_operations(), 2);
    assert_eq!(p.ssp.stats().ecc_operations(), 2);
    assert!(!p.mote.is_associating());
    assert!(p.mote.poll_timeout().is_none() && p.ssp.poll_timeout().is_none());
}

#[test]
fn transfer_and_confirm() {
    let mut p = Pair::associated();
    transfer(&mut p, 40000);
    assert_eq!(p.sessions.installed, vec![40000]);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 0,
            free_slots: 3
        }]
    );
    assert_eq!(
        p.mote_events,
        vec![MoteEvent::Transfer {
            n: 0,
            status: ConfirmStatus::Installed
        }]
    );
    // One frame in, one out, no ECC.
    assert_eq!((p.sent_by_ssp.len(), p.sent_by_mote.len()), (1, 1));
    assert_eq!(p.mote.stats().ecc_operations(), 2);
    assert_eq!(p.mote.association().unwrap().n, 1);
    assert_eq!(p.ssp.association().unwrap().n, 1);
    assert!(!p.mote.holds_a(), "A is erased at the first Transfer");
    // And again, on K_1.
    p.clear_logs();
    transfer(&mut p, 40001);
    assert_eq!(p.sessions.installed, vec![40000, 40001]);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 1,
            free_slots: 2
        }]
    );
}

#[test]
fn transfer_lost_is_resent_and_installed_once() {
    let mut p = Pair::associated();
    p.lose_to_mote = lose_first(MessageType::Transfer, 1);
    transfer(&mut p, 40000);
    assert_eq!(p.sessions.installed, vec![40000]);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 0,
            free_slots: 3
        }]
    );
    let sent: Vec<_> = p.sent_by_ssp.iter().map(|(t, _)| *t).collect();
    assert_eq!(sent, vec![secs(0), secs(2)]);
    // The retransmission is the same bytes.
    let t = p.ssp_messages(MessageType::Transfer);
    assert_eq!(t[0], t[1]);
}

#[test]
fn confirm_lost_gets_the_kept_confirm_and_installs_once() {
    let mut p = Pair::associated();
    p.lose_to_ssp = lose_first(MessageType::Confirm, 1);
    transfer(&mut p, 40000);
    assert_eq!(p.sessions.installed, vec![40000]);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 0,
            free_slots: 3
        }]
    );
    assert_eq!(p.mote.stats().confirms_resent, 1);
    assert_eq!(p.mote.stats().transfers_installed, 1);
    let c = p.mote_messages(MessageType::Confirm);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0], c[1]);
}

#[test]
fn every_confirm_lost_until_the_deadline_then_both_move_on() {
    let mut p = Pair::associated();
    p.lose_to_ssp = lose_all(MessageType::Confirm);
    transfer(&mut p, 40000);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::TransferFailed(TransferFailure::Deadline {
            n: Some(0)
        })]
    );
    // Sent at 0, 2 and 6 s; given up at 10 s.
    let sent: Vec<_> = p.sent_by_ssp.iter().map(|(t, _)| *t).collect();
    assert_eq!(sent, vec![secs(0), secs(2), secs(6)]);
    assert_eq!(p.now, secs(10));
    assert_eq!(
        p.sessions.installed,
        vec![40000],
        "installed once, its confirmation lost"
    );
    assert_eq!(p.mote.association().unwrap().n, 1);
    assert_eq!(p.ssp.association().unwrap().n, 1);
    p.lose_to_ssp = no_loss();
    p.clear_logs();
    transfer(&mut p, 40001);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 1,
            free_slots: 2
        }]
    );
}

#[test]
fn transfer_never_arrived_then_the_next_one_skips_ahead() {
    let mut p = Pair::associated();
    p.lose_to_mote = lose_all(MessageType::Transfer);
    transfer(&mut p, 40000);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::TransferFailed(TransferFailure::Deadline {
            n: Some(0)
        })]
    );
    assert_eq!(p.mote.association().unwrap().n, 0);
    assert_eq!(p.ssp.association().unwrap().n, 1);
    p.lose_to_mote = no_loss();
    p.clear_logs();
    transfer(&mut p, 40001);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 1,
            free_slots: 3
        }]
    );
    assert_eq!(p.sessions.installed, vec![40001]);
    assert_eq!(p.mote.stats().ratchet_steps_skipped, 1);
    assert_eq!(p.mote.association().unwrap().n, 2);
}

/// The mote skips at most SKIP_AHEAD - 1 steps; beyond, it says Unassociated and the pair
/// associates again, and the transfer still goes through within its deadline.
#[test]
fn skip_ahead_window() {
    for given_up in [SKIP_AHEAD - 1, SKIP_AHEAD] {
        let mut p = Pair::associated();
        p.lose_to_mote = lose_all(MessageType::Transfer);
        for i in 0..given_up {
            transfer(&mut p, 1000 + i as u16);
        }
        assert_eq!(p.ssp.association().unwrap().n, given_up);
        p.lose_to_mote = no_loss();
        p.clear_logs();
        transfer(&mut p, 40000);
        assert_eq!(p.sessions.installed, vec![40000]);
        if given_up < SKIP_AHEAD {
            assert_eq!(
                p.ssp_events,
                vec![SspEvent::Confirmed {
                    n: given_up,
                    free_slots: 3
                }]
            );
            assert_eq!(p.mote.stats().ratchet_steps_skipped, u64::from(given_up));
        } else {
            assert_eq!(p.mote.stats().transfer_too_far_ahead, 1);
            let u = p.mote_messages(MessageType::Unassociated);
            let u =
                UnassociatedRepr::parse(&Unassociated::new_checked(&u[0][..]).unwrap()).unwrap();
            assert_eq!(
                (u.n, u.reason),
                (SKIP_AHEAD, UnassociatedReason::TooFarAhead)
            );
            assert!(matches!(
                p.ssp_events[..],
                [
                    SspEvent::Unassociated,
                    SspEvent::Associated { .. },
                    SspEvent::Confirmed { n: 0, .. }
                ]
            ));
            assert_eq!(p.mote.stats().pokes_honoured, 1);
        }
    }
}

#[test]
fn mote_reboot_reassociates_and_transfers() {
    let mut p = Pair::associated();
    transfer(&mut p, 40000);
    let old = p.ssp.association().unwrap();
    p.mote = mote(77);
    p.sessions = Sessions::default();
    p.clear_logs();
    p.drive();
    let new = p.ssp.association().unwrap();
    assert_eq!(new.n, 0);
    assert_eq!(p.mote.association().unwrap().id, new.id);
    assert_ne!(new.id, old.id);
    assert_eq!(old.n, 1);
    assert_eq!(p.mote.stats().ecc_operations(), 2);
    p.clear_logs();
    transfer(&mut p, 40001);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 0,
            free_slots: 3
        }]
    );
}

/// The rebooted mote's hellos are lost; the IoTSSP sends a Transfer on the old association,
/// gets Unassociated, pokes, and the transfer goes through on the new association.
#[test]
fn mote_reboot_unassociated_then_reassociation_then_transfer() {
    let mut p = Pair::associated();
    p.mote = mote(77);
    p.sessions = Sessions::default();
    p.lose_to_ssp = lose_all(MessageType::AssocHello);
    // The rebooted mote's first hello goes out, and is lost.
    p.drive_until(secs(1));
    assert_eq!(p.mote_sent(MessageType::AssocHello), 1);
    p.lose_to_ssp = no_loss();
    p.clear_logs();
    p.ssp.start_transfer(p.now, body(40000)).unwrap();
    p.drive();
    let u = UnassociatedRepr::parse(
        &Unassociated::new_checked(&p.mote_messages(MessageType::Unassociated)[0][..]).unwrap(),
    )
    .unwrap();
    assert_eq!((u.n, u.reason), (0, UnassociatedReason::NoSuchAssociation));
    assert!(matches!(
        p.ssp_events[..],
        [
            SspEvent::Unassociated,
            SspEvent::Associated { .. },
            SspEvent::Confirmed {
                n: 0,
                free_slots: 3
            }
        ]
    ));
    assert_eq!(p.sessions.installed, vec![40000]);
    assert_eq!(p.ssp_sent(MessageType::Poke), 1);
    assert!(p.now < secs(1) + TRANSFER_DEADLINE);
}

#[test]
fn ssp_restart_pokes_and_the_transfer_goes_through() {
    let mut p = Pair::associated();
    transfer(&mut p, 40000);
    p.ssp = ssp(99);
    p.clear_logs();
    p.ssp.start_transfer(p.now, body(40001)).unwrap();
    p.drive();
    assert_eq!(p.ssp_sent(MessageType::Poke), 1);
    assert_eq!(p.mote.stats().pokes_honoured, 1);
    assert!(matches!(
        p.ssp_events[..],
        [
            SspEvent::Associated { .. },
            SspEvent::Confirmed {
                n: 0,
                free_slots: 2
            }
        ]
    ));
    assert_eq!(p.sessions.installed, vec![40000, 40001]);
    assert_eq!(p.mote.stats().ecc_operations(), 4);
    // Three frames out (hello, ready, confirm), three in (poke, accept, transfer).
    assert_eq!((p.sent_by_ssp.len(), p.sent_by_mote.len()), (3, 3));
}

#[test]
fn the_mote_honours_one_poke_a_minute() {
    let mut p = Pair::associated();
    p.ssp = ssp(99);
    p.ssp.start_transfer(p.now, body(1)).unwrap();
    p.drive();
    let pokes = p.ssp_messages(MessageType::Poke);
    let before = p.mote.fingerprint();
    // A replayed Poke within the minute costs nothing.
    p.mote
        .handle_datagram(p.now + Duration::from_secs(59), &pokes[0], &mut p.sessions);
    assert_eq!(p.mote.stats().poke_rate_limited, 1);
    assert_eq!(p.mote.fingerprint(), before);
    // After it, one association set-up.
    p.now = p.now + Duration::from_secs(61);
    p.to_mote.push_back(pokes[0].clone());
    p.clear_logs();
    p.drive();
    assert_eq!(p.mote.stats().pokes_honoured, 2);
    assert_eq!(p.mote.stats().associations, 3);
    assert!(
        p.ssp.association().is_some()
            && p.mote.association().unwrap().id == p.ssp.association().unwrap().id
    );
}

/// An IoTSSP that starts again within the minute of the last honoured Poke: its Poke
/// carries a newer epoch and is answered at once; replays of either Poke (never newer than
/// what the mote honoured) stay limited to one a minute.
#[test]
fn a_poke_of_a_newer_epoch_is_honoured_within_the_minute_and_its_replays_are_not() {
    let mut p = Pair::associated();
    let mut pokes = Vec::new();
    for (seed, epoch) in [(99, 1_000), (98, 1_001)] {
        p.ssp = ssp(seed);
        p.ssp.set_epoch(epoch);
        p.clear_logs();
        p.ssp
            .start_transfer(p.now, body(40000 + epoch as u16))
            .unwrap();
        p.drive();
        assert_eq!(p.ssp_sent(MessageType::Poke), 1, "epoch {epoch}");
        assert!(
            matches!(
                p.ssp_events[..],
                [SspEvent::Associated { .. }, SspEvent::Confirmed { .. }]
            ),
            "epoch {epoch}: {:?}",
            p.ssp_events
        );
        pokes.extend(p.ssp_messages(MessageType::Poke));
        p.now = p.now + Duration::from_secs(5);
    }
    assert_eq!(
        (
            p.mote.stats().pokes_honoured,
            p.mote.stats().pokes_new_epoch
        ),
        (2, 2)
    );
    assert_eq!(p.mote.stats().poke_rate_limited, 0);
    let before = p.mote.fingerprint();
    for poke in &pokes {
        p.mote.handle_datagram(p.now, poke, &mut p.sessions);
    }
    assert_eq!(
        p.mote.stats().poke_rate_limited,
        2,
        "replays within the minute"
    );
    assert_eq!(p.mote.fingerprint(), before);
    // An epoch of 0 (an IoTSSP that sets none) is never newer: the minute's limit holds.
    p.ssp = ssp(97);
    p.ssp.start_transfer(p.now, body(50000)).unwrap();
    p.clear_logs();
    p.drive();
    assert!(p.mote.stats().poke_rate_limited > 2, "{:?}", p.mote.stats());
    assert_eq!(p.mote.stats().pokes_honoured, 2);
}

#[test]
fn replayed_hello_does_not_break_a_working_association() {
    let mut p = Pair::associated();
    // The hello that made this association: dropped without ECC.
    let hello = {
        let mut q = Pair::new();
        q.drive();
        q.mote_messages(MessageType::AssocHello)[0].clone()
    };
    let ecc = p.ssp.stats().ecc_operations();
    let before = p.ssp.fingerprint();
    p.ssp.handle_datagram(p.now, &hello);
    assert_eq!(p.ssp.stats().hello_replayed, 1);
    assert_eq!(p.ssp.stats().ecc_operations(), ecc);
    assert_eq!(p.ssp.fingerprint(), before);
    // An older hello (a pending state nobody can complete): the working association stays,
    // the mote answers the AssocAccept with Unassociated and the pending state goes.
    let mut older = mote(5);
    older.handle_timeout(Instant::ZERO);
    let mut buf = [0u8; crate::MAX_DATAGRAM_LEN];
    let len = older.poll_transmit(&mut buf).unwrap();
    p.to_ssp.push_back(buf[..len].to_vec());
    p.drive();
    assert_eq!(p.ssp.stats().hellos_accepted, 2);
    assert_eq!(p.mote.stats().accept_unexpected, 1);
    assert_eq!(p.ssp.stats().unassociated_pending_dropped, 1);
    assert_eq!(p.ssp.fingerprint(), before);
    p.clear_logs();
    transfer(&mut p, 40000);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 0,
            free_slots: 3
        }]
    );
}

#[test]
fn replayed_transfer_and_confirm() {
    let mut p = Pair::associated();
    transfer(&mut p, 40000);
    let t0 = p.ssp_messages(MessageType::Transfer)[0].clone();
    let c0 = p.mote_messages(MessageType::Confirm)[0].clone();
    p.clear_logs();
    transfer(&mut p, 40001);
    let t1 = p.ssp_messages(MessageType::Transfer)[0].clone();
    let c1 = p.mote_messages(MessageType::Confirm)[0].clone();
    let mote_before = p.mote.fingerprint();
    let ssp_before = p.ssp.fingerprint();
    p.clear_logs();
    // Transfer 0: too old. Transfer 1: the kept Confirm, at most once a second.
    p.now = p.now + Duration::from_secs(5);
    assert_eq!(p.mote.handle_datagram(p.now, &t0, &mut p.sessions), None);
    assert_eq!(p.mote.stats().transfer_too_old, 1);
    for _ in 0..3 {
        assert_eq!(p.mote.handle_datagram(p.now, &t1, &mut p.sessions), None);
    }
    assert_eq!(p.mote.stats().confirms_resent, 1);
    assert_eq!(p.mote.stats().replies_rate_limited, 2);
    p.drive();
    assert_eq!(p.mote_messages(MessageType::Confirm), vec![c1.clone()]);
    // The IoTSSP has no transfer in flight: both Confirms are dropped.
    for c in [&c0, &c1] {
        assert_eq!(p.ssp.handle_datagram(p.now, c), None);
    }
    assert_eq!(p.ssp.stats().confirm_unexpected, 3);
    assert_eq!(p.sessions.installed, vec![40000, 40001]);
    assert_eq!(p.mote.fingerprint(), mote_before);
    assert_eq!(p.ssp.fingerprint(), ssp_before);
}

/// Every message of a full run, each byte altered in turn, fed to the side that receives it
/// in the state where it would matter: nothing changes and nothing is installed.
#[test]
fn forged_messages_change_nothing() {
    // Mote-bound messages: AssocAccept (mote waiting for it), Transfer (mote associated),
    // Poke (within the first minute it would be honoured).
    let mut p = Pair::new();
    let fresh_ssp = p.ssp.clone();
    p.step();
    let waiting_mote = p.mote.clone();
    p.step();
    let pending_ssp = p.ssp.clone();
    p.drive();
    let accept = p.ssp_messages(MessageType::AssocAccept)[0].clone();
    let hello = p.mote_messages(MessageType::AssocHello)[0].clone();
    let ready = p.mote_messages(MessageType::AssocReady)[0].clone();
    let associated_mote = p.mote.clone();
    p.ssp.start_transfer(p.now, body(40000)).unwrap();
    p.step();
    let transferring_ssp = p.ssp.clone();
    p.drive();
    let transfer0 = p.ssp_messages(MessageType::Transfer)[0].clone();
    let confirm0 = p.mote_messages(MessageType::Confirm)[0].clone();
    let mut q = Pair::associated();
    q.ssp = ssp(9);
    q.ssp.start_transfer(q.now, body(1)).unwrap();
    q.step();
    let poke = q.ssp_messages(MessageType::Poke)[0].clone();
    // A rebooted mote answers a Transfer on the old association with Unassociated; the
    // IoTSSP, with that Transfer in flight, is the state it matters to.
    let mut r = Pair::associated();
    r.mote = mote(3);
    r.lose_to_ssp = lose_all(MessageType::AssocHello);
    r.drive_until(secs(1));
    r.ssp.start_transfer(r.now, body(2)).unwrap();
    r.step();
    let ssp_with_transfer = r.ssp.clone();
    r.step();
    let unassociated = r.mote_messages(MessageType::Unassociated)[0].clone();

    let mut sessions = Sessions::default();
    let to_mote: [(&[u8], &Mote); 3] = [
        (&accept, &waiting_mote),
        (&transfer0, &associated_mote),
        (&poke, &associated_mote),
    ];
    for (msg, state) in to_mote {
        // The genuine message does change the state (else this test proves nothing) ...
        let mut genuine = state.clone();
        let before = genuine.fingerprint();
        genuine.handle_datagram(Instant::ZERO, msg, &mut Sessions::default());
        assert_ne!(genuine.fingerprint(), before, "{:02x}", msg[0]);
        // ... and no altered one does.
        for i in 0..msg.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut forged = msg.to_vec();
                forged[i] ^= flip;
                let mut m = state.clone();
                let before = m.fingerprint();
                assert_eq!(
                    m.handle_datagram(Instant::ZERO, &forged, &mut sessions),
                    None,
                    "byte {i}"
                );
                // What it may send is an Unassociated (counted and rate limited) and nothing
                // that carries a key.
                assert_eq!(
                    m.fingerprint(),
                    before,
                    "{:02x} byte {i} ^ {flip:02x}",
                    msg[0]
                );
                assert!(sessions.installed.is_empty());
            }
        }
    }
    let to_ssp: [(&[u8], &Ssp); 4] = [
        (&hello, &fresh_ssp),
        (&ready, &pending_ssp),
        (&confirm0, &transferring_ssp),
        (&unassociated, &ssp_with_transfer),
    ];
    for (msg, state) in to_ssp {
        // The genuine message does change the state (else this test proves nothing) ...
        let mut genuine = state.clone();
        let before = genuine.fingerprint();
        genuine.handle_datagram(Instant::ZERO, msg);
        assert_ne!(genuine.fingerprint(), before, "{:02x}", msg[0]);
        for i in 0..msg.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut forged = msg.to_vec();
                forged[i] ^= flip;
                let mut s = state.clone();
                let before = s.fingerprint();
                assert_eq!(s.handle_datagram(Instant::ZERO, &forged), None);
                assert_eq!(
                    s.fingerprint(),
                    before,
                    "{:02x} byte {i} ^ {flip:02x}",
                    msg[0]
                );
            }
        }
    }
}

/// After Transfer n, neither side holds a key that opens Transfer n again.
#[test]
fn ratchet_forgets_k_n() {
    let mut p = Pair::associated();
    transfer(&mut p, 40000);
    let t0 = p.ssp_messages(MessageType::Transfer)[0].clone();
    let v = Transfer::new_checked(&t0[..]).unwrap();
    for ratchet in [p.mote.ratchet().unwrap(), p.ssp.ratchet().unwrap()] {
        assert_eq!(ratchet.n(), 1);
        // Every key reachable from the state (forward only) fails on Transfer 0.
        let mut r = ratchet.clone();
        for _ in 0..=SKIP_AHEAD {
            assert!(
                r.open_transfer::<SoftAes>(v.id(), &v.header(), v.sealed())
                    .is_err()
            );
            r.advance::<SoftAes>().unwrap();
        }
    }
    // A fresh copy of the later state, without the kept Confirm: Transfer 0 is too old.
    let mut later = p.mote.clone();
    later.forget_kept_confirm();
    let mut sessions = Sessions::default();
    assert_eq!(later.handle_datagram(p.now, &t0, &mut sessions), None);
    assert_eq!(later.stats().transfer_too_old, 1);
    assert!(sessions.installed.is_empty());
    assert!(!later.holds_a());
}

/// Every message fits the frame budget the doc gives, except a ChaCha20 Transfer.
#[test]
fn frame_budget_is_the_docs() {
    let at = DOC.find("leaves **").expect("the doc states the budget");
    let figure: usize = DOC[at + 9..].split(' ').next().unwrap().parse().unwrap();
    assert_eq!(figure, 79);
    let mut p = Pair::new();
    p.sessions.suites = p.sessions.suites.with(Suite::ChaCha20Poly1305);
    p.drive();
    p.lose_to_ssp = lose_first(MessageType::Confirm, 1);
    transfer(&mut p, 40000);
    p.mote = mote(4);
    p.drive();
    p.ssp = ssp(5);
    p.ssp.start_transfer(p.now, body(40001)).unwrap();
    p.drive();
    let mut chacha = body(40002);
    chacha.keys = crate::wire::SessionKeys::ChaCha20Poly1305(crate::wire::KeyBlock {
        client_write_key: [1; 32],
        server_write_key: [2; 32],
        client_write_iv: [3; 12],
        server_write_iv: [4; 12],
    });
    // A rebooted mote whose hello is lost: the Transfer gets Unassociated.
    p.mote = mote(6);
    p.lose_to_ssp = lose_all(MessageType::AssocHello);
    let t = p.now + Duration::from_secs(1);
    p.drive_until(t);
    p.lose_to_ssp = no_loss();
    p.ssp.start_transfer(p.now, chacha).unwrap();
    p.drive();
    let mut types = std::collections::BTreeSet::new();
    for (_, d) in p.sent_by_ssp.iter().chain(&p.sent_by_mote) {
        types.insert(d[0]);
        if d[0] == 0x41 && d[6 + 8..].len() > 60 {
            assert_eq!(d.len(), 122, "ChaCha20 Transfer");
            continue;
        }
        assert!(d.len() <= figure, "{:02x}: {} bytes", d[0], d.len());
    }
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        vec![0x11, 0x21, 0x31, 0x41, 0x51, 0x61, 0x71]
    );
}

#[test]
fn hello_retransmission_doubles_to_a_minute() {
    let mut p = Pair::new();
    p.lose_to_ssp = lose_all(MessageType::AssocHello);
    p.drive_until(secs(300));
    let times: Vec<u64> = p
        .sent_by_mote
        .iter()
        .map(|(t, _)| t.as_millis() / 1000)
        .collect();
    assert_eq!(times, vec![0, 2, 6, 14, 30, 62, 122, 182, 242]);
    // The same hello each time: one key pair.
    assert_eq!(p.mote.stats().ecc_key_pairs, 1);
    assert!(p.sent_by_mote.windows(2).all(|w| w[0].1 == w[1].1));
    // The IoTSSP repeats its AssocAccept on a repeated hello, without new ECC.
    p.lose_to_ssp = no_loss();
    // Three AssocAccepts lost: the first and its two repeats; the next hello gets it.
    p.lose_to_mote = lose_first(MessageType::AssocAccept, 3);
    p.drive();
    assert_eq!(p.ssp.stats().hello_repeated, 1);
    assert_eq!(p.ssp.stats().accepts_sent, 4);
    assert_eq!(p.ssp.stats().ecc_operations(), 2);
    assert!(p.mote.association().is_some() && p.ssp.association().is_some());
}

/// The AssocReady is lost: the IoTSSP resends its AssocAccept and the mote answers with the
/// same AssocReady (no second ECDH).
#[test]
fn ready_lost_is_recovered_from_the_repeated_accept() {
    let mut p = Pair::new();
    p.lose_to_ssp = lose_first(MessageType::AssocReady, 1);
    p.drive();
    assert!(p.ssp.association().is_some());
    assert_eq!(p.mote.stats().ready_resent, 1);
    assert_eq!(p.mote.stats().ecc_operations(), 2);
    let r = p.mote_messages(MessageType::AssocReady);
    assert_eq!(r[0], r[1]);
    transfer(&mut p, 40000);
    assert_eq!(p.sessions.installed, vec![40000]);
}

/// The AssocReady and every AssocAccept repeat are lost: the transfer on the old association
/// gets Unassociated and the AssocReady again, and goes through on the new one.
#[test]
fn ready_lost_for_good_is_recovered_by_the_next_transfer() {
    let mut p = Pair::associated();
    p.mote = mote(8);
    p.lose_to_ssp = lose_all(MessageType::AssocReady);
    p.drive();
    assert!(p.mote.association().is_some());
    assert_ne!(
        p.mote.association().unwrap().id,
        p.ssp.association().unwrap().id
    );
    p.lose_to_ssp = no_loss();
    p.clear_logs();
    transfer(&mut p, 40000);
    assert!(matches!(
        p.ssp_events[..],
        [
            SspEvent::Unassociated,
            SspEvent::Associated { .. },
            SspEvent::Confirmed { n: 0, .. }
        ]
    ));
    assert_eq!(p.sessions.installed, vec![40000]);
}

#[test]
fn unassociated_at_most_once_a_second() {
    let mut p = Pair::associated();
    let mut other = Pair::new();
    other.ssp = ssp(3);
    other.mote = mote(4);
    other.drive();
    other.ssp.start_transfer(other.now, body(1)).unwrap();
    other.step();
    let foreign = other.ssp_messages(MessageType::Transfer)[0].clone();
    for ms in (0..3000).step_by(100) {
        p.mote
            .handle_datagram(Instant::from_millis(ms), &foreign, &mut p.sessions);
        p.step();
    }
    assert_eq!(p.mote.stats().transfer_wrong_id, 30);
    assert_eq!(p.mote_sent(MessageType::Unassociated), 3);
    assert_eq!(p.mote.stats().replies_rate_limited, 27);
}

#[test]
fn refusals_reach_the_iotssp_and_spend_n() {
    let mut p = Pair::associated();
    p.sessions.capacity = 1;
    transfer(&mut p, 1);
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 0,
            free_slots: 0
        }]
    );
    // Full: refused at once, nothing sent.
    assert_eq!(p.ssp.start_transfer(p.now, body(2)), Err(StartError::Full));
    // Allowed to evict, but the mote is still full: Confirm "full".
    let mut b = body(3);
    b.may_evict = true;
    p.clear_logs();
    p.ssp.start_transfer(p.now, b).unwrap();
    assert_eq!(p.ssp.start_transfer(p.now, body(4)), Err(StartError::Busy));
    p.drive();
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::TransferFailed(TransferFailure::Refused {
            n: 1,
            status: ConfirmStatus::Full,
            free_slots: 0
        })]
    );
    assert_eq!(p.mote.association().unwrap().n, 2);
    // A suite the mote does not run is refused before anything is sent.
    let mut chacha = body(5);
    chacha.keys = crate::wire::SessionKeys::ChaCha20Poly1305(crate::wire::KeyBlock {
        client_write_key: [1; 32],
        server_write_key: [2; 32],
        client_write_iv: [3; 12],
        server_write_iv: [4; 12],
    });
    chacha.may_evict = true;
    assert_eq!(
        p.ssp.start_transfer(p.now, chacha),
        Err(StartError::UnsupportedSuite)
    );
}

/// The mote answers a Transfer whose body opens but does not parse with "malformed".
#[test]
fn malformed_body_is_confirmed_as_malformed() {
    let mut p = Pair::associated();
    let mut b = body(7);
    b.sequence = Some(crate::wire::SequenceNumbers {
        highest_received: 3,
        next_write: 9,
    });
    p.ssp.start_transfer(p.now, b).unwrap();
    p.drive();
    assert_eq!(
        p.ssp_events,
        vec![SspEvent::Confirmed {
            n: 0,
            free_slots: 3
        }]
    );
    assert_eq!(p.sessions.installed, vec![7]);
    // A body with a reserved flag, sealed with the right key, is "malformed".
    let ratchet = p.ssp.ratchet().unwrap();
    let id = p.ssp.association().unwrap().id;
    let mut plain = [0u8; 60];
    body(8).emit(&mut plain);
    plain[1] = 0x08;
    let sealed = crate::keys::tests::seal_raw(&ratchet, id, &plain);
    let ev = p.mote.handle_datagram(p.now, &sealed, &mut p.sessions);
    assert_eq!(
        ev,
        Some(MoteEvent::Transfer {
            n: 1,
            status: ConfirmStatus::Malformed
        })
    );
    assert_eq!(p.mote.stats().transfers_refused, 1);
}

#[test]
fn wrong_direction_and_garbage_are_counted() {
    let mut p = Pair::new();
    p.drive();
    let hello = p.mote_messages(MessageType::AssocHello)[0].clone();
    let accept = p.ssp_messages(MessageType::AssocAccept)[0].clone();
    assert_eq!(p.mote.handle_datagram(p.now, &hello, &mut p.sessions), None);
    assert_eq!(p.ssp.handle_datagram(p.now, &accept), None);
    assert_eq!(p.mote.stats().wrong_direction, 1);
    assert_eq!(p.ssp.stats().wrong_direction, 1);
    for g in [&[][..], &[0x81][..], &[0x12; 73][..], &[0x41; 10][..]] {
        p.mote.handle_datagram(p.now, g, &mut p.sessions);
        p.ssp.handle_datagram(p.now, g);
    }
    assert_eq!(p.mote.stats().malformed, 4);
    assert_eq!(p.ssp.stats().malformed, 4);
}

#[derive(Debug, Clone)]
enum Op {
    ToMote(Vec<u8>),
    ToSsp(Vec<u8>),
    Advance(u16),
    Start(u16, bool),
    Step,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..140).prop_map(Op::ToMote),
        proptest::collection::vec(any::<u8>(), 0..140).prop_map(Op::ToSsp),
        // Valid-looking headers with random contents, so that the fuzz gets past the type check.
        (1u8..8, proptest::collection::vec(any::<u8>(), 0..133)).prop_map(|(t, mut v)| {
            v.insert(0, t << 4 | 1);
            Op::ToMote(v)
        }),
        (1u8..8, proptest::collection::vec(any::<u8>(), 0..133)).prop_map(|(t, mut v)| {
            v.insert(0, t << 4 | 1);
            Op::ToSsp(v)
        }),
        any::<u16>().prop_map(Op::Advance),
        (any::<u16>(), any::<bool>()).prop_map(|(p, e)| Op::Start(p, e)),
        Just(Op::Step),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random datagrams, timeouts and transfers into an associated pair: no panic, and the
    /// pair still works afterwards unless the garbage was a genuine-looking re-association.
    #[test]
    fn machines_never_panic(ops in proptest::collection::vec(op(), 0..40)) {
        let mut p = Pair::associated();
        for o in ops {
            match o {
                Op::ToMote(d) => { p.mote.handle_datagram(p.now, &d, &mut p.sessions); }
                Op::ToSsp(d) => { p.ssp.handle_datagram(p.now, &d); }
                Op::Advance(ms) => {
                    p.now = p.now + Duration::from_millis(u64::from(ms));
                    p.mote.handle_timeout(p.now);
                    p.ssp.handle_timeout(p.now);
                }
                Op::Start(port, evict) => {
                    let mut b = body(port);
                    b.may_evict = evict;
                    let _ = p.ssp.start_transfer(p.now, b);
                }
                Op::Step => { p.step(); }
            }
        }
        // Nothing forged can break it: the pair still delivers a transfer.
        p.drive();
        p.sessions.installed.clear();
        p.clear_logs();
        let mut last = body(9);
        last.may_evict = true;
        prop_assert!(p.ssp.start_transfer(p.now, last).is_ok());
        p.drive();
        prop_assert_eq!(&p.sessions.installed, &vec![9]);
    }

    /// Random datagrams into both machines in every state of the set-up (booted, hello
    /// out, pending, associated): no panic, and nothing is installed.
    #[test]
    fn machines_never_panic_while_associating(steps in 0usize..6,
            datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..140), 0..8)) {
        let mut p = Pair::new();
        for _ in 0..steps {
            p.step();
        }
        for d in &datagrams {
            p.mote.handle_datagram(p.now, d, &mut p.sessions);
            p.ssp.handle_datagram(p.now, d);
        }
        p.drive();
        prop_assert!(p.sessions.installed.is_empty());
        prop_assert!(p.mote.association().is_some());
        prop_assert_eq!(p.mote.association().map(|a| a.id), p.ssp.association().map(|a| a.id));
    }
}

/// A re-association whose one-byte id equals the working one's (mote seed 142 gives that),
/// with every AssocReady lost: the Transfer on the old association fails its tag at the
/// mote, which answers with its AssocReady; the IoTSSP switches and the transfer goes out on
/// the new association.
#[test]
fn id_collision_with_the_ready_lost() {
    let mut p = Pair::associated();
    let old = p.ssp.association().unwrap();
    p.mote = mote(142);
    p.lose_to_ssp = lose_all(MessageType::AssocReady);
    p.drive();
    assert_eq!(
        p.mote.association().unwrap().id,
        old.id,
        "the seed gives a colliding id"
    );
    p.lose_to_ssp = no_loss();
    p.clear_logs();
    transfer(&mut p, 40000);
    assert_eq!(p.mote.stats().transfer_bad_tag, 1);
    assert!(matches!(
        p.ssp_events[..],
        [
            SspEvent::Associated { .. },
            SspEvent::Confirmed { n: 0, .. }
        ]
    ));
    assert_eq!(p.sessions.installed, vec![40000]);
}

/// A buffer too short for the next datagram drops it (counted), never panics.
#[test]
fn short_transmit_buffers_are_counted() {
    let mut m = mote(1);
    m.handle_timeout(Instant::ZERO);
    assert_eq!(m.poll_transmit(&mut [0u8; 10]), None);
    assert_eq!(m.stats().transmit_buffer_too_short, 1);
    assert_eq!(m.stats().hellos_sent, 0);
    let mut p = Pair::associated();
    p.ssp.start_transfer(p.now, body(1)).unwrap();
    assert_eq!(p.ssp.poll_transmit(&mut [0u8; 73]), None);
    assert_eq!(p.ssp.stats().transmit_buffer_too_short, 1);
    // The retransmission goes out whole.
    p.drive();
    assert_eq!(p.sessions.installed, vec![1]);
}

fn step_until(p: &mut Pair, done: impl Fn(&Pair) -> bool) {
    while !done(p) {
        assert!(p.step(), "idle before the condition held");
    }
}

const SERVER: [u8; 16] = [0xfd, 0, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn connect_requested(p: &Pair) -> Vec<u32> {
    p.ssp_events
        .iter()
        .filter_map(|e| match e {
            SspEvent::ConnectRequested {
                r,
                server_addr,
                server_port,
            } => {
                assert_eq!((*server_addr, *server_port), (SERVER, 5684));
                Some(*r)
            }
            _ => None,
        })
        .collect()
}

/// A Connect reaches the IoTSSP once however often it is resent; the Transfer of a client
/// session with that server answers it.
#[test]
fn connect_is_answered_by_a_client_transfer() {
    let mut p = Pair::associated();
    p.lose_to_ssp = lose_first(MessageType::Connect, 1);
    let r = p.mote.connect(p.now, SERVER, 5684).unwrap();
    assert_eq!(r, 0);
    assert_eq!(
        p.mote.connect(p.now, SERVER, 5684),
        Err(crate::ConnectError::Busy)
    );
    step_until(&mut p, |p| !p.ssp_events.is_empty());
    assert_eq!(connect_requested(&p), vec![0]);
    assert_eq!(p.mote.stats().connects_sent, 2);
    let mut b = body(5684);
    b.client_addr = SERVER;
    b.mote_is_client = true;
    p.ssp.start_transfer(p.now, b).unwrap();
    p.drive();
    assert_eq!(p.mote.pending_connect(), None);
    assert_eq!(p.mote.stats().connects_completed, 1);
    assert_eq!(p.sessions.installed, vec![5684]);
    // The next request has the next counter.
    assert_eq!(p.mote.connect(p.now, SERVER, 5684), Ok(1));
}

/// A refused Connect comes back as ConnectFailed, and a resent Connect gets it again
/// without a second request at the IoTSSP; a replayed old Connect makes no request.
#[test]
fn connect_refused_and_replays() {
    let mut p = Pair::associated();
    p.lose_to_mote = lose_first(MessageType::ConnectFailed, 1);
    p.mote.connect(p.now, SERVER, 5684).unwrap();
    step_until(&mut p, |p| !p.ssp_events.is_empty());
    p.ssp
        .refuse_connect(0, crate::wire::ConnectFailure::NotPermitted);
    p.drive();
    assert_eq!(connect_requested(&p), vec![0]);
    assert_eq!(p.ssp.stats().connects_repeated, 1);
    assert_eq!(p.ssp.stats().connect_failed_sent, 2);
    assert_eq!(
        p.mote_events.last(),
        Some(&MoteEvent::ConnectFailed {
            r: 0,
            reason: crate::wire::ConnectFailure::NotPermitted
        })
    );
    let first = p
        .sent_by_mote
        .iter()
        .find(|(_, d)| message_type(d) == Ok(MessageType::Connect))
        .unwrap()
        .1
        .clone();
    // Replayed, and forged (one bit changed): neither is a request.
    let before = p.ssp_events.len();
    p.ssp.handle_datagram(p.now, &first);
    let mut forged = first.clone();
    forged[10] ^= 1;
    p.ssp.handle_datagram(p.now, &forged);
    assert_eq!(p.ssp_events.len(), before);
    assert_eq!(p.ssp.stats().connect_bad, 1);
    assert_eq!(p.ssp.stats().connects_received, 1);
}

/// A Connect nobody answers is resent, then dropped at its deadline.
#[test]
fn connect_without_answer_times_out() {
    let mut p = Pair::associated();
    p.lose_to_ssp = lose_all(MessageType::Connect);
    assert_eq!(
        Pair::new().mote.connect(Instant::ZERO, SERVER, 1),
        Err(crate::ConnectError::NotAssociated)
    );
    let start = p.now;
    p.mote.connect(p.now, SERVER, 5684).unwrap();
    p.drive();
    assert_eq!(p.mote.pending_connect(), None);
    assert_eq!(p.mote.stats().connects_timed_out, 1);
    assert!(p.mote.stats().connects_sent >= 4);
    assert!(p.now >= start + crate::time::CONNECT_DEADLINE);
}

const DIGEST: [u8; 32] = [0x5a; 32];

fn sign_requested(p: &Pair) -> Vec<crate::mote::SignatureRequest> {
    p.mote_events
        .iter()
        .filter_map(|e| match e {
            MoteEvent::SignRequested(r) => Some(*r),
            _ => None,
        })
        .collect()
}

/// A SignRequest reaches the platform once however often it is resent; the signature comes
/// back to the IoTSSP once, and a lost SignResponse is resent from the kept one (no second
/// signature).
#[test]
fn sign_request_is_answered_with_one_signature() {
    use crate::wire::SignPurpose;
    let mut p = Pair::associated();
    p.lose_to_ssp = lose_first(MessageType::SignResponse, 1);
    assert!(
        p.ssp
            .request_signature(p.now, SignPurpose::ServerKeyExchange, &DIGEST)
    );
    assert!(
        !p.ssp
            .request_signature(p.now, SignPurpose::ServerKeyExchange, &DIGEST)
    );
    step_until(&mut p, |p| !sign_requested(p).is_empty());
    let req = sign_requested(&p)[0];
    assert_eq!(
        (req.q, req.purpose, req.digest),
        (0, SignPurpose::ServerKeyExchange, DIGEST)
    );
    assert_eq!(p.mote.pending_sign_request(), Some(req));
    assert!(p.mote.answer_sign_request(0, Ok([7; 64])));
    assert!(!p.mote.answer_sign_request(0, Ok([8; 64])));
    step_until(&mut p, |p| {
        p.ssp_events
            .iter()
            .any(|e| matches!(e, SspEvent::Signed { .. }))
    });
    assert_eq!(
        p.ssp_events.last(),
        Some(&SspEvent::Signed { signature: [7; 64] })
    );
    p.drive();
    assert!(!p.ssp.is_signing());
    assert_eq!(sign_requested(&p).len(), 1);
    let m = p.mote.stats();
    assert_eq!(
        (m.sign_requests, m.ecc_signatures, m.sign_requests_repeated),
        (1, 1, 1)
    );
    assert_eq!(m.sign_responses_sent, 2);
    assert_eq!(p.ssp.stats().signatures_received, 1);
    assert_eq!(p.ssp.stats().sign_requests_sent, 2);
    // The next request has the next counter.
    p.ssp
        .request_signature(p.now, SignPurpose::CertificateVerify, &DIGEST);
    step_until(&mut p, |p| sign_requested(p).len() == 2);
    assert_eq!(sign_requested(&p)[1].q, 1);
}

/// A replayed old SignRequest or a forged one asks the platform for nothing; a forged
/// SignResponse is not a signature.
#[test]
fn sign_request_replays_and_forgeries_do_nothing() {
    use crate::wire::SignPurpose;
    let mut p = Pair::associated();
    for _ in 0..2 {
        p.ssp
            .request_signature(p.now, SignPurpose::ServerKeyExchange, &DIGEST);
        step_until(&mut p, |p| p.mote.pending_sign_request().is_some());
        let q = p.mote.pending_sign_request().unwrap().q;
        p.mote.answer_sign_request(q, Ok([1; 64]));
        p.drive();
    }
    let first = p.ssp_messages(MessageType::SignRequest)[0].clone();
    let mut forged = first.clone();
    forged[10] ^= 1;
    let before = p.mote_events.len();
    p.mote.handle_datagram(p.now, &first, &mut p.sessions);
    p.mote.handle_datagram(p.now, &forged, &mut p.sessions);
    assert_eq!(p.mote_events.len(), before);
    assert_eq!(p.mote.stats().sign_request_bad, 2);
    assert_eq!(p.mote.stats().ecc_signatures, 2);
    let mut response = p.mote_messages(MessageType::SignResponse)[0].clone();
    response[20] ^= 1;
    assert_eq!(p.ssp.handle_datagram(p.now, &response), None);
    assert_eq!(p.ssp.stats().sign_response_bad, 1);
}

/// A mote that never answers fails the request at its deadline; a mote that refuses says so.
#[test]
fn sign_request_deadline_and_refusal() {
    use crate::ssp::SignFailure;
    use crate::wire::{SignPurpose, SignStatus};
    let mut p = Pair::associated();
    p.lose_to_ssp = lose_all(MessageType::SignResponse);
    let start = p.now;
    p.ssp
        .request_signature(p.now, SignPurpose::ServerKeyExchange, &DIGEST);
    step_until(&mut p, |p| p.mote.pending_sign_request().is_some());
    p.mote.answer_sign_request(0, Ok([1; 64]));
    p.drive();
    assert_eq!(
        p.ssp_events.last(),
        Some(&SspEvent::SignFailed(SignFailure::Deadline))
    );
    assert!(p.now >= start + crate::time::SIGN_DEADLINE);
    assert!(p.ssp.stats().sign_requests_sent >= 3);
    assert_eq!(p.mote.stats().ecc_signatures, 1);

    let mut p = Pair::associated();
    p.ssp
        .request_signature(p.now, SignPurpose::CertificateVerify, &DIGEST);
    step_until(&mut p, |p| p.mote.pending_sign_request().is_some());
    p.mote.answer_sign_request(0, Err(SignStatus::Refused));
    p.drive();
    assert_eq!(
        p.ssp_events.last(),
        Some(&SspEvent::SignFailed(SignFailure::Refused(
            SignStatus::Refused
        )))
    );
    assert_eq!(p.mote.stats().signatures_refused, 1);
}
