//! The C example (examples/c/echo_mote.c), compiled with gcc against the static library
//! and the generated header, runs as a real process on loopback UDP against the Rust
//! IoTSSP side in this test: the association (`SspAssoc`) transfers a session to it, and a
//! client holding the session's keys in the `dtls` engine's record layer talks to it.

use std::io::Read;
use std::net::{Ipv6Addr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dtls::record::{ContentType, RecordAead, records};
use dtls::{RecordLayer, Role, SessionKeys as DtlsKeys, SessionState};
use mote_assoc::wire::{KeyBlock, SessionKeys, SignPurpose, SignStatus, TransferBody};
use mote_assoc::{SignFailure, SspEvent};

mod example;
use example::{Associated, compile_example, hex, ms, run_ssp, start_associated, static_library};

/// A firmware compiled for the other kind of library (`MOTE_RESUMPTION` defined against a
/// library without resumption, or not defined against one with it) would reserve a `Mote`
/// of the wrong size: it does not link, and the linker names the init function it lacks.
#[test]
fn a_firmware_compiled_for_the_other_kind_of_library_does_not_link() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("gcc")
        .args(["-std=c11", "-O2", "-I"])
        .arg(dir.join("include"))
        .args((!mote_ffi::RESUMPTION).then_some("-DMOTE_RESUMPTION"))
        .arg(dir.join("examples/c/echo_mote.c"))
        .arg(static_library())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(tmp.path().join("echo_mote"))
        .output()
        .expect("gcc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let wanted = if mote_ffi::RESUMPTION {
        "mote_init_without_resumption"
    } else {
        "mote_init_with_resumption"
    };
    assert!(!out.status.success(), "linked: {stderr}");
    assert!(
        stderr.contains(&format!("undefined reference to `{wanted}'")),
        "{stderr}"
    );
}

#[test]
fn the_c_example_takes_a_transfer_and_echoes_over_the_session() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = compile_example(tmp.path());
    let Associated {
        mut child,
        mut stdout,
        ssp_sock,
        mut ssp,
        start,
        mote_assoc_addr,
        mote_session_addr,
    } = start_associated(&exe, "30", &[]);

    // A session the IoTSSP negotiated with this client (its keys made up here).
    let client_sock = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    client_sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let block = KeyBlock::<16, 4> {
        client_write_key: *b"client-write-key",
        server_write_key: *b"server-write-key",
        client_write_iv: *b"civ!",
        server_write_iv: *b"siv!",
    };
    let body = TransferBody {
        keys: SessionKeys::Ccm8(block.clone()),
        may_evict: false,
        client_addr: Ipv6Addr::LOCALHOST.octets(),
        client_port: client_sock.local_addr().unwrap().port(),
        sequence: None,
        mote_is_client: false,
        resumption: None,
    };
    ssp.start_transfer(ms(start), body).unwrap();
    run_ssp(&ssp_sock, mote_assoc_addr, &mut ssp, start, |e| match e {
        SspEvent::Confirmed { .. } => true,
        SspEvent::TransferFailed(f) => panic!("transfer failed: {f:?}"),
        _ => false,
    });

    // The client: its Finished was record 0, the server's too.
    let mut client = RecordLayer::from_session(&SessionState {
        role: Role::Client,
        keys: DtlsKeys::new(
            RecordAead::Aes128Ccm8,
            &block.client_write_key,
            &block.server_write_key,
            &block.client_write_iv,
            &block.server_write_iv,
        )
        .unwrap(),
        read_epoch: 1,
        read_highest_seq: Some(0),
        read_replay_bitmap: 1,
        write_epoch: 1,
        next_write_seq: 1,
    })
    .unwrap();
    let mut exchange = |ct: ContentType, data: &[u8]| -> (ContentType, Vec<u8>) {
        let mut d = Vec::new();
        client.write_record(1, ct, data, &mut d).unwrap();
        client_sock.send_to(&d, mote_session_addr).unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) = client_sock.recv_from(&mut buf).expect("the mote's answer");
        assert_eq!(from, mote_session_addr);
        let rec = records(&buf[..n]).next().unwrap().unwrap();
        assert_eq!(rec.epoch(), 1);
        let opened = client.open(&rec).unwrap().expect("a record of the session");
        (opened.content_type, opened.plaintext)
    };
    assert_eq!(
        exchange(ContentType::ApplicationData, b"hello from the client"),
        (
            ContentType::ApplicationData,
            b"hello from the client".to_vec()
        )
    );
    assert_eq!(
        exchange(ContentType::Alert, &[1, 0]),
        (ContentType::Alert, vec![1, 0]),
        "close_notify answered"
    );

    let status = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "the example failed: {rest}");
    for expected in [
        "associated",
        "session installed",
        "received 21 bytes: hello from the client",
        "counters associations=1 sessions_installed=1 app_data_in=1 app_data_out=1 alerts_in=1 alerts_out=1 sessions_closed=1 decrypt_failed=0 sessions_active=0",
    ] {
        assert!(rest.contains(expected), "{expected:?} not in {rest}");
    }
}

/// Asks the mote behind `a` to sign `digest` as a keyless IoTSSP does and returns the
/// outcome.
fn request_signature(a: &mut Associated, purpose: SignPurpose, digest: &[u8; 32]) -> SspEvent {
    assert!(a.ssp.request_signature(ms(a.start), purpose, digest));
    let mut outcome = None;
    run_ssp(
        &a.ssp_sock,
        a.mote_assoc_addr,
        &mut a.ssp,
        a.start,
        |e| match e {
            SspEvent::Signed { .. } | SspEvent::SignFailed(_) => {
                outcome = Some(*e);
                true
            }
            _ => false,
        },
    );
    outcome.unwrap()
}

/// Keyless delegation through the C API: the IoTSSP's SignRequests reach the example's
/// `ecdsa_sign` callback (the library's software ECDSA with the mote's key), and the
/// SignResponses carry signatures that verify under the mote's public key, the one its
/// certificate would hold. Without a key the same example refuses.
#[test]
fn the_c_example_signs_for_a_keyless_iotssp() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
    use sha2::{Digest, Sha256};

    let tmp = tempfile::tempdir().unwrap();
    let exe = compile_example(tmp.path());
    let key = SigningKey::from_slice(&[0x4b; 32]).unwrap();
    let public = VerifyingKey::from(&key);

    // The example runs until its deadline (it has no session to see closed), then prints
    // its counters.
    let mut a = start_associated(&exe, "8", &[&hex(&key.to_bytes())]);
    for (purpose, signed) in [
        (
            SignPurpose::ServerKeyExchange,
            &b"client_random || server_random || params"[..],
        ),
        (
            SignPurpose::CertificateVerify,
            &b"the handshake messages so far"[..],
        ),
    ] {
        let digest: [u8; 32] = Sha256::digest(signed).into();
        let SspEvent::Signed { signature } = request_signature(&mut a, purpose, &digest) else {
            panic!("no signature for {purpose:?}");
        };
        let signature = Signature::from_slice(&signature).unwrap();
        public
            .verify_prehash(&digest, &signature)
            .expect("the mote's signature verifies under its public key");
    }
    let stats = a.ssp.stats();
    assert_eq!(
        (stats.signatures_received, stats.signatures_refused),
        (2, 0)
    );
    a.child.wait().unwrap();
    let mut out = String::new();
    a.stdout.read_to_string(&mut out).unwrap();
    assert_eq!(out.matches("signature sent").count(), 2, "{out}");
    assert!(out.contains("signed 0 "), "{out}");
    assert!(out.contains("signed 1 "), "{out}");
    assert!(out.contains("keyless signatures=2 refused=0"), "{out}");

    // The same firmware without a key refuses: the IoTSSP learns it at once, not at its
    // deadline.
    let mut a = start_associated(&exe, "8", &[]);
    let asked = Instant::now();
    assert_eq!(
        request_signature(&mut a, SignPurpose::ServerKeyExchange, &[7; 32]),
        SspEvent::SignFailed(SignFailure::Refused(SignStatus::Refused))
    );
    assert!(asked.elapsed() < Duration::from_secs(5));
    a.child.wait().unwrap();
    let mut out = String::new();
    a.stdout.read_to_string(&mut out).unwrap();
    assert!(out.contains("signature refused"), "{out}");
    assert!(out.contains("keyless signatures=0 refused=1"), "{out}");
}
