//! A newly started IoTSSP (`Iotssp::start_epoch`) pokes its association-leg motes with its
//! epoch before any client comes: a mote already associated with the IoTSSP's previous
//! instance re-associates at once (the epoch is newer than any it honoured), one whose Pokes
//! are lost is poked again a few seconds later, a bounded number of times, and an
//! associated mote is not poked at all.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dtls::provider::SeededRandom;
use mote_assoc::crypto::{SoftAes, SoftEcdh};
use mote_assoc::keys::Credentials;
use mote_assoc::wire::{MessageType, SuiteSet, TransferBody, message_type};
use mote_assoc::{Installation, MoteAssoc};
use ssp::Output;
use ssp::config::SspConfig;
use ssp::iotssp::{POKE_AGAIN_AFTER, POKES_AT_START};

const MOTE: &str = "2001:db8:1::2";

struct Rng(u64);

impl mote_assoc::crypto::Random for Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.0 >> 56) as u8;
        }
    }
}

struct Table;

impl mote_assoc::SessionTable for Table {
    fn free_slots(&self) -> u8 {
        2
    }
    fn suites(&self) -> SuiteSet {
        SuiteSet(0x01)
    }
    fn install(&mut self, _: &TransferBody) -> Installation {
        Installation::Installed
    }
}

fn iotssp(seed: u8) -> ssp::Iotssp {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dtls/tests/data");
    let config = SspConfig::from_toml_str(&format!(
        "name = \"ssp-a\"\n[[motes]]\nname = \"mote-1\"\naddress = \"{MOTE}\"\ncertificate_chain = \"server.pem\"\n\
         private_key = \"server.key\"\npsk_identity = \"mote-1\"\npsk = \"30313233343536373839616263646566\"\n\
         [trust]\nanchors = \"ca.pem\"\n"
    ))
    .unwrap();
    config
        .build_with_random(&data, SeededRandom::shared([seed; 32]))
        .unwrap()
}

struct Bed {
    origin: Instant,
    now: Instant,
    iotssp: ssp::Iotssp,
    mote: MoteAssoc<SoftAes, SoftEcdh, Rng>,
    /// Pokes that reached the IoTSSP's output, and how many of them the radio lost.
    pokes: usize,
    lose_pokes: usize,
}

impl Bed {
    fn new() -> Bed {
        let now = Instant::now();
        let addr: Ipv6Addr = MOTE.parse().unwrap();
        let creds =
            Credentials::new::<SoftAes>(b"0123456789abcdef", ssp::config::mote_id(&addr)).unwrap();
        Bed {
            origin: now,
            now,
            iotssp: iotssp(7),
            mote: MoteAssoc::new(creds, SoftEcdh, Rng(3)),
            pokes: 0,
            lose_pokes: 0,
        }
    }

    fn t(&self) -> mote_assoc::Instant {
        mote_assoc::Instant::from_millis(self.now.duration_since(self.origin).as_millis() as u64)
    }

    /// Moves datagrams both ways and fires timers until `limit` from now.
    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        let from = SocketAddr::V6(SocketAddrV6::new(MOTE.parse().unwrap(), 5685, 0, 0));
        loop {
            let mut moved = false;
            let mut buf = [0u8; mote_assoc::MAX_DATAGRAM_LEN];
            while let Some(n) = self.mote.poll_transmit(&mut buf) {
                self.iotssp.handle_mote_datagram(self.now, from, &buf[..n]);
                moved = true;
            }
            while let Some(o) = self.iotssp.poll_output() {
                moved = true;
                let Output::ToMote { datagram, .. } = o else {
                    continue;
                };
                if message_type(&datagram) == Ok(MessageType::Poke) {
                    self.pokes += 1;
                    if self.lose_pokes > 0 {
                        self.lose_pokes -= 1;
                        continue;
                    }
                }
                let t = self.t();
                self.mote.handle_datagram(t, &datagram, &mut Table);
            }
            if moved {
                continue;
            }
            let mote_next = self
                .mote
                .poll_timeout()
                .map(|t| self.origin + Duration::from_millis(t.as_millis()));
            let Some(next) = [self.iotssp.poll_timeout(), mote_next]
                .into_iter()
                .flatten()
                .min()
                .filter(|t| *t <= end)
            else {
                self.now = end;
                return;
            };
            self.now = self.now.max(next);
            let t = self.t();
            self.iotssp.handle_timeout(self.now);
            self.mote.handle_timeout(t);
        }
    }

    fn associated(&self) -> bool {
        self.iotssp
            .association("mote-1")
            .is_some_and(|(a, _)| a.is_some())
    }

    fn start_pokes(&self) -> u64 {
        ssp::status::counter_list(&self.iotssp)
            .into_iter()
            .find(|(k, _)| k == "start_pokes")
            .map_or(0, |(_, v)| v)
    }
}

#[test]
fn a_restarted_iotssp_pokes_its_mote_with_a_newer_epoch_and_the_mote_reassociates_at_once() {
    let mut bed = Bed::new();
    // The mote associates at boot with the first instance.
    bed.run(Duration::from_secs(1));
    assert!(bed.associated());
    // That instance goes; a new one starts within the minute.
    bed.iotssp = iotssp(8);
    bed.iotssp.start_epoch(bed.now, 1_000);
    bed.run(Duration::from_secs(1));
    assert!(
        bed.associated(),
        "the mote did not answer the new instance's Poke"
    );
    assert_eq!((bed.pokes, bed.start_pokes()), (1, 1));
    assert_eq!(bed.mote.stats().pokes_new_epoch, 1);
    assert_eq!(bed.mote.stats().associations, 2);
    // Associated: no further Poke, however long.
    bed.run(Duration::from_secs(120));
    assert_eq!(bed.pokes, 1);
    // A third instance within the minute is answered at once too.
    bed.iotssp = iotssp(9);
    bed.iotssp.start_epoch(bed.now, 1_001);
    bed.run(Duration::from_secs(1));
    assert!(bed.associated());
    assert_eq!(bed.mote.stats().pokes_new_epoch, 2);
}

#[test]
fn lost_start_pokes_are_sent_again_a_bounded_number_of_times() {
    let mut bed = Bed::new();
    bed.run(Duration::from_secs(1));
    bed.iotssp = iotssp(8);
    bed.iotssp.start_epoch(bed.now, 1_000);
    // The first two Pokes are lost (the mote has no address yet): the third gets through.
    bed.lose_pokes = 2;
    bed.run(POKE_AGAIN_AFTER * 2);
    assert!(!bed.associated(), "associated after {} Pokes", bed.pokes);
    bed.run(POKE_AGAIN_AFTER * 4);
    assert!(bed.associated());
    assert_eq!((bed.pokes, bed.start_pokes()), (3, 3));
    // A mote that never answers gets POKES_AT_START and no more.
    let mut bed = Bed::new();
    bed.run(Duration::from_secs(1));
    bed.iotssp = iotssp(8);
    bed.iotssp.start_epoch(bed.now, 1_000);
    bed.lose_pokes = usize::MAX;
    bed.run(Duration::from_secs(600));
    assert!(!bed.associated());
    assert_eq!(bed.pokes, POKES_AT_START as usize);
}

#[test]
fn the_epoch_grows_with_each_quarter_second_of_the_wall_clock() {
    use ssp::iotssp::epoch_of;
    use std::time::{SystemTime, UNIX_EPOCH};
    let base = UNIX_EPOCH + Duration::from_secs(1_735_689_600);
    assert_eq!(epoch_of(UNIX_EPOCH), 0, "before 2025");
    assert_eq!(epoch_of(base), 0);
    assert_eq!(epoch_of(base + Duration::from_millis(250)), 1);
    let now = SystemTime::now();
    assert!(epoch_of(now + Duration::from_millis(300)) > epoch_of(now));
    assert_eq!(
        epoch_of(base + Duration::from_secs(40 * 365 * 86_400)),
        u32::MAX,
        "saturates"
    );
}
