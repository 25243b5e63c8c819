//! What a secure device answers to decrypted application data: CoAP requests go to the
//! mote's CoAP server; anything that is not a CoAP request (a line typed into
//! `openssl s_client`, say) is echoed back, so an unmodified DTLS client can see that its
//! data went through the mote's record layer and came back.

use std::time::Instant;

use crate::mote::service::{Peer, UdpService};

/// The records to send back for one decrypted application-data record.
pub(crate) fn answer(
    coap: &mut dyn UdpService,
    now: Instant,
    peer: Peer,
    plaintext: &[u8],
) -> Vec<Vec<u8>> {
    if is_coap_request(plaintext) {
        coap.handle(now, peer, plaintext)
    } else if plaintext.is_empty() {
        Vec::new()
    } else {
        vec![plaintext.to_vec()]
    }
}

/// A CoAP message (RFC 7252 section 3) of version 1 whose code is of class 0: a request
/// or an Empty message (a ping). Responses are not answered by a server, so text that
/// happens to look like a response is echoed.
fn is_coap_request(bytes: &[u8]) -> bool {
    match bytes {
        [first, code, _, _, ..] => first >> 6 == 1 && code >> 5 == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mote::coap::CoapServer;
    use std::net::Ipv6Addr;

    fn peer() -> Peer {
        Peer {
            addr: Ipv6Addr::LOCALHOST,
            port: 40000,
        }
    }

    #[test]
    fn text_is_echoed() {
        let mut coap = CoapServer::new(1);
        for text in [&b"ECHO hello mote\n"[..], b"hello\n", b"0123", b"x"] {
            assert_eq!(
                answer(&mut coap, Instant::now(), peer(), text),
                vec![text.to_vec()],
                "{text:?}"
            );
        }
        assert!(answer(&mut coap, Instant::now(), peer(), b"").is_empty());
    }

    #[test]
    fn coap_get_is_answered_by_the_coap_server() {
        let mut coap = CoapServer::new(1);
        // CON GET /.well-known/core, message id 0x1234, no token.
        let get = b"\x40\x01\x12\x34\xbb.well-known\x04core";
        let out = answer(&mut coap, Instant::now(), peer(), get);
        assert_eq!(out.len(), 1);
        assert_ne!(
            out[0],
            get.to_vec(),
            "a CoAP request is answered, not echoed"
        );
        assert_eq!(out[0][0] >> 6, 1, "a CoAP response");
        assert_eq!(out[0][1] >> 5, 2, "class 2 (success)");
    }

    #[test]
    fn coap_response_shaped_text_is_echoed() {
        let mut coap = CoapServer::new(1);
        // 0x60 0x45: CoAP ACK 2.05, a response: a server has nothing to answer, so echo.
        let resp = [0x60, 0x45, 0x00, 0x01];
        assert_eq!(
            answer(&mut coap, Instant::now(), peer(), &resp),
            vec![resp.to_vec()]
        );
    }
}
