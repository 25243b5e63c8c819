//! The worked example of docs/mote-association.md: fixed PSK, EUI-64 and ephemeral keys, and
//! every message they give. The doc's `text assoc-*` blocks must be these bytes.

use super::*;
use crate::crypto::{EcdhP256, SoftAes, SoftEcdh};
use crate::wire::*;
use std::string::String;
use std::vec::Vec;

const DOC: &str = include_str!("../../../docs/mote-association.md");

/// The hex dump of the doc's code block tagged ```` ```text <tag> ````.
fn doc_example(tag: &str) -> Vec<u8> {
    let start = DOC
        .find(&std::format!("```text {tag}\n"))
        .unwrap_or_else(|| panic!("doc has no example {tag}"));
    let body = DOC[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join(" ");
    body.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

pub(crate) const PSK: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
pub(crate) const MOTE_ID: [u8; 8] = [0x02, 0x12, 0x4b, 0x00, 0x00, 0x00, 0x00, 0x01];

fn ephemeral(d: u8) -> (p256::SecretKey, PublicKey) {
    use p256::elliptic_curve::sec1::ToSec1Point;
    let secret = p256::SecretKey::from_slice(&[d; 32]).unwrap();
    let point = secret.public_key().to_sec1_point(false);
    (secret, point.as_bytes()[1..].try_into().unwrap())
}

pub(crate) fn example_body() -> TransferBody {
    TransferBody {
        keys: SessionKeys::Ccm8(KeyBlock {
            client_write_key: core::array::from_fn(|i| i as u8),
            server_write_key: core::array::from_fn(|i| 0x10 + i as u8),
            client_write_iv: [0x20, 0x21, 0x22, 0x23],
            server_write_iv: [0x24, 0x25, 0x26, 0x27],
        }),
        may_evict: false,
        client_addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        client_port: 40000,
        sequence: None,
        mote_is_client: false,
        resumption: None,
    }
}

/// Every message of the worked example, by its doc tag.
fn worked_example() -> Vec<(&'static str, Vec<u8>)> {
    let creds = Credentials::new::<SoftAes>(&PSK, MOTE_ID).unwrap();
    let (d_m, e_m) = ephemeral(0x11);
    let (d_s, e_s) = ephemeral(0x22);
    let hello = AssocHelloRepr {
        e_m,
        tag: creds.hello_tag::<SoftAes>(&e_m),
    };
    let z_s = SoftEcdh.agree(&d_s, &e_m).unwrap();
    let z_m = SoftEcdh.agree(&d_m, &e_s).unwrap();
    assert_eq!(z_s.0, z_m.0);
    let mut keys = creds.associate::<SoftAes>(&z_s, &e_m, &e_s);
    let accept = AssocAcceptRepr {
        id: keys.id,
        e_s,
        tag: accept_tag::<SoftAes>(&keys.a, keys.id, &e_m, &e_s),
    };
    let mut ready = AssocReadyRepr {
        id: keys.id,
        free_slots: 4,
        suites: SuiteSet(0x01),
        tag: [0; 8],
    }
    .to_bytes();
    let tag = ready_tag::<SoftAes>(&keys.a, &ready);
    ready[4..].copy_from_slice(&tag);
    let mut transfer = [0u8; Transfer::<&[u8]>::MAX_LEN];
    let len = keys
        .ratchet
        .seal_transfer::<SoftAes>(keys.id, &example_body(), &mut transfer);
    let mut confirm = ConfirmRepr {
        id: keys.id,
        n: 0,
        status: ConfirmStatus::Installed,
        free_slots: 3,
        tag: [0; 8],
    };
    confirm.tag = keys.ratchet.confirm_tag::<SoftAes>(&confirm);
    keys.ratchet.advance::<SoftAes>().unwrap();
    let mut transfer1 = [0u8; Transfer::<&[u8]>::MAX_LEN];
    let len1 = keys
        .ratchet
        .seal_transfer::<SoftAes>(keys.id, &example_body(), &mut transfer1);
    let mut unassociated = UnassociatedRepr {
        id: keys.id,
        n: 1,
        reason: UnassociatedReason::NoSuchAssociation,
        tag: [0; 8],
    };
    unassociated.tag = creds.unassociated_tag::<SoftAes>(&unassociated);
    let mut poke = PokeRepr {
        epoch: 0xdead_beef,
        tag: [0; 8],
    };
    poke.tag = creds.poke_tag::<SoftAes>(&poke);
    let mut connect = ConnectRepr {
        id: keys.id,
        r: 0,
        server_addr: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        server_port: 5684,
        tag: [0; 8],
    };
    connect.tag = connect_tag::<SoftAes>(&keys.requests, &connect);
    let mut connect_failed = ConnectFailedRepr {
        id: keys.id,
        r: 0,
        reason: ConnectFailure::NotPermitted,
        tag: [0; 8],
    };
    connect_failed.tag = connect_failed_tag::<SoftAes>(&keys.requests, &connect_failed);
    let mut sign_request = SignRequestRepr {
        id: keys.id,
        q: 0,
        purpose: SignPurpose::ServerKeyExchange,
        digest: core::array::from_fn(|i| 0xa0 + i as u8),
        tag: [0; 8],
    };
    sign_request.tag = sign_request_tag::<SoftAes>(&keys.requests, &sign_request);
    let mut sign_response = SignResponseRepr {
        id: keys.id,
        q: 0,
        status: SignStatus::Signed,
        signature: core::array::from_fn(|i| i as u8),
        tag: [0; 8],
    };
    sign_response.tag = sign_response_tag::<SoftAes>(&keys.requests, &sign_response);
    let mut client_body = example_body();
    client_body.mote_is_client = true;
    client_body.client_addr = connect.server_addr;
    client_body.client_port = 5684;
    let mut transfer2 = [0u8; Transfer::<&[u8]>::MAX_LEN];
    keys.ratchet.advance::<SoftAes>().unwrap();
    let len2 = keys
        .ratchet
        .seal_transfer::<SoftAes>(keys.id, &client_body, &mut transfer2);
    std::vec![
        ("assoc-hello", hello.to_bytes().to_vec()),
        ("assoc-accept", accept.to_bytes().to_vec()),
        ("assoc-ready", ready.to_vec()),
        ("assoc-transfer-0", transfer[..len].to_vec()),
        ("assoc-confirm-0", confirm.to_bytes().to_vec()),
        ("assoc-transfer-1", transfer1[..len1].to_vec()),
        ("assoc-unassociated", unassociated.to_bytes().to_vec()),
        ("assoc-poke", poke.to_bytes().to_vec()),
        ("assoc-connect", connect.to_bytes().to_vec()),
        ("assoc-connect-failed", connect_failed.to_bytes().to_vec()),
        ("assoc-transfer-2-client", transfer2[..len2].to_vec()),
        ("assoc-sign-request", sign_request.to_bytes().to_vec()),
        ("assoc-sign-response", sign_response.to_bytes().to_vec()),
    ]
}

fn hex_dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|l| {
            l.iter()
                .map(|b| std::format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The doc's worked example is what this crate computes (run with `--nocapture` and
/// `ASSOC_PRINT_EXAMPLE=1` to print the blocks).
#[test]
fn worked_example_is_the_docs() {
    let example = worked_example();
    if std::env::var_os("ASSOC_PRINT_EXAMPLE").is_some() {
        for (tag, bytes) in &example {
            std::println!("```text {tag}\n{}\n```\n", hex_dump(bytes));
        }
    }
    for (tag, bytes) in example {
        assert_eq!(doc_example(tag), bytes, "doc block {tag}");
    }
}

/// The worked example's messages parse, verify and open on the other side.
#[test]
fn worked_example_verifies() {
    let creds = Credentials::new::<SoftAes>(&PSK, MOTE_ID).unwrap();
    let ex = worked_example();
    let hello = AssocHelloRepr::parse(&AssocHello::new_checked(&ex[0].1[..]).unwrap()).unwrap();
    assert_eq!(hello.tag, creds.hello_tag::<SoftAes>(&hello.e_m));
    let (d_m, e_m) = ephemeral(0x11);
    let accept = AssocAcceptRepr::parse(&AssocAccept::new_checked(&ex[1].1[..]).unwrap()).unwrap();
    let keys = creds.associate::<SoftAes>(
        &SoftEcdh.agree(&d_m, &accept.e_s).unwrap(),
        &e_m,
        &accept.e_s,
    );
    assert_eq!(
        accept.tag,
        accept_tag::<SoftAes>(&keys.a, keys.id, &e_m, &accept.e_s)
    );
    let t = Transfer::new_checked(&ex[3].1[..]).unwrap();
    let body = keys
        .ratchet
        .open_transfer::<SoftAes>(t.id(), &t.header(), t.sealed())
        .unwrap()
        .unwrap();
    assert_eq!(body, example_body());
    // Transfer 1 does not open with T_0, and does with T_1.
    let t1 = Transfer::new_checked(&ex[5].1[..]).unwrap();
    assert!(
        keys.ratchet
            .open_transfer::<SoftAes>(t1.id(), &t1.header(), t1.sealed())
            .is_err()
    );
    let mut r1 = keys.ratchet.clone();
    r1.advance::<SoftAes>().unwrap();
    assert!(
        r1.open_transfer::<SoftAes>(t1.id(), &t1.header(), t1.sealed())
            .is_ok()
    );
    // ... and K_1 cannot open Transfer 0: the ratchet only goes forward.
    assert!(
        r1.open_transfer::<SoftAes>(t.id(), &t.header(), t.sealed())
            .is_err()
    );
    let c = ConfirmRepr::parse(&Confirm::new_checked(&ex[4].1[..]).unwrap()).unwrap();
    assert!(keys.ratchet.confirm_verifies::<SoftAes>(&c));
    assert!(!r1.confirm_verifies::<SoftAes>(&c));
}

#[test]
fn psk_lengths() {
    assert_eq!(
        Credentials::new::<SoftAes>(&[0; 15], MOTE_ID).err(),
        Some(BadPskLength(15))
    );
    assert_eq!(
        Credentials::new::<SoftAes>(&[0; 33], MOTE_ID).err(),
        Some(BadPskLength(33))
    );
    let a = Credentials::new::<SoftAes>(&[7; 32], MOTE_ID).unwrap();
    let b = Credentials::new::<SoftAes>(&[7; 31], MOTE_ID).unwrap();
    assert_ne!(a.k_hello(), b.k_hello());
    let c = Credentials::new::<SoftAes>(&[7; 32], [0; 8]).unwrap();
    assert_ne!(a.k_hello(), c.k_hello());
}

#[test]
fn ratchet_steps_replace_the_key() {
    let creds = Credentials::new::<SoftAes>(&PSK, MOTE_ID).unwrap();
    let (_, e_m) = ephemeral(0x11);
    let (d_s, e_s) = ephemeral(0x22);
    let mut r = creds
        .associate::<SoftAes>(&SoftEcdh.agree(&d_s, &e_m).unwrap(), &e_m, &e_s)
        .ratchet;
    let k0 = r.key_bytes();
    r.advance::<SoftAes>().unwrap();
    assert_eq!(r.n(), 1);
    assert_ne!(r.key_bytes(), k0);
    let mut last = Ratchet {
        n: u32::MAX,
        key: Key([1; 16]),
    };
    assert_eq!(last.advance::<SoftAes>(), None);
    assert_eq!(last.n(), u32::MAX);
}

/// Transfer `r.n()` of association `id` sealing any plaintext (for bodies `emit` cannot make).
pub(crate) fn seal_raw(r: &Ratchet, id: u8, plain: &[u8]) -> Vec<u8> {
    let mut out = std::vec![MessageType::Transfer.first_byte(), id];
    out.extend(r.n.to_be_bytes());
    let mut buf = plain.to_vec();
    let tag = crate::crypto::seal::<SoftAes>(
        &r.transfer_key::<SoftAes>(),
        &nonce(MessageType::Transfer, id, r.n),
        &out,
        &mut buf,
    );
    out.extend(buf);
    out.extend(tag);
    out
}

/// Every type that holds a secret wipes it when dropped (and so when replaced).
#[test]
fn secrets_are_wiped_on_drop() {
    fn wiped<T: zeroize::ZeroizeOnDrop>() {}
    wiped::<Key>();
    wiped::<Ratchet>();
    wiped::<Credentials>();
    wiped::<crate::crypto::SharedSecret>();
    wiped::<KeyBlock<16, 4>>();
    wiped::<KeyBlock<32, 12>>();
    wiped::<p256::SecretKey>();
    wiped::<Zeroizing<[u8; 4]>>();
}
