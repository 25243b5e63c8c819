//! A small CoAP server (RFC 7252, no security): `/.well-known/core` (RFC 6690 link
//! format) and a temperature sensor whose reading changes with every request in a
//! deterministic way, so tests can check it without a clock.

use std::collections::VecDeque;
use std::time::Instant;

use coap_lite::{
    CoapOption, ContentFormat, MessageClass, MessageType, Packet, RequestType, ResponseType,
};

use super::service::{Peer, UdpService};

/// The resources this server offers, in link format.
pub const WELL_KNOWN_CORE: &str = "</sensors/temp>;rt=\"temperature-c\";if=\"sensor\";ct=0";

/// Remembered confirmable exchanges, so a retransmitted request gets the same answer.
const DEDUPE_ENTRIES: usize = 16;

/// The server bound to UDP 5683.
#[derive(Debug)]
pub struct CoapServer {
    /// Makes readings differ between motes.
    mote_index: u32,
    readings: u32,
    next_message_id: u16,
    recent: VecDeque<(Peer, u16, Vec<u8>)>,
}

impl CoapServer {
    pub fn new(mote_index: u32) -> Self {
        CoapServer {
            mote_index,
            readings: 0,
            next_message_id: (mote_index as u16).wrapping_mul(1000),
            recent: VecDeque::new(),
        }
    }

    /// The next reading in tenths of a degree: 20.0 .. 24.9 C, stepping with each call.
    fn next_reading(&mut self) -> u32 {
        let r = 200
            + (self
                .readings
                .wrapping_mul(7)
                .wrapping_add(self.mote_index.wrapping_mul(13)))
                % 50;
        self.readings = self.readings.wrapping_add(1);
        r
    }

    fn respond(&mut self, req: &Packet) -> Option<Packet> {
        let mut resp = Packet::new();
        match req.header.get_type() {
            MessageType::Confirmable => {
                resp.header.set_type(MessageType::Acknowledgement);
                resp.header.message_id = req.header.message_id;
            }
            MessageType::NonConfirmable => {
                resp.header.set_type(MessageType::NonConfirmable);
                self.next_message_id = self.next_message_id.wrapping_add(1);
                resp.header.message_id = self.next_message_id;
            }
            // ACKs and resets for a server without observers: nothing to do.
            MessageType::Acknowledgement | MessageType::Reset => return None,
        }
        resp.set_token(req.get_token().to_vec());
        let method = match req.header.code {
            MessageClass::Request(m) => m,
            MessageClass::Empty => {
                // CoAP ping: a confirmable empty message is answered with a reset.
                if req.header.get_type() == MessageType::Confirmable {
                    let mut rst = Packet::new();
                    rst.header.set_type(MessageType::Reset);
                    rst.header.message_id = req.header.message_id;
                    return Some(rst);
                }
                return None;
            }
            _ => return None,
        };
        let path: Vec<String> = req
            .get_option(CoapOption::UriPath)
            .map(|segs| {
                segs.iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let code = match (path.as_slice(), method) {
            ([".well-known", "core"], RequestType::Get) => {
                resp.set_content_format(ContentFormat::ApplicationLinkFormat);
                resp.payload = WELL_KNOWN_CORE.as_bytes().to_vec();
                ResponseType::Content
            }
            (["sensors", "temp"], RequestType::Get) => {
                let r = self.next_reading();
                resp.set_content_format(ContentFormat::TextPlain);
                resp.payload = format!("{}.{}", r / 10, r % 10).into_bytes();
                ResponseType::Content
            }
            ([".well-known", "core"] | ["sensors", "temp"], _) => ResponseType::MethodNotAllowed,
            _ => ResponseType::NotFound,
        };
        resp.header.code = MessageClass::Response(code);
        Some(resp)
    }
}

impl UdpService for CoapServer {
    fn name(&self) -> &'static str {
        "coap"
    }

    fn handle(&mut self, _now: Instant, peer: Peer, payload: &[u8]) -> Vec<Vec<u8>> {
        let Ok(req) = Packet::from_bytes(payload) else {
            return Vec::new();
        };
        let confirmable = req.header.get_type() == MessageType::Confirmable;
        let mid = req.header.message_id;
        if confirmable
            && let Some((_, _, bytes)) =
                self.recent.iter().find(|(p, m, _)| *p == peer && *m == mid)
        {
            return vec![bytes.clone()];
        }
        let Some(resp) = self.respond(&req) else {
            return Vec::new();
        };
        let Ok(bytes) = resp.to_bytes() else {
            return Vec::new();
        };
        if confirmable {
            if self.recent.len() == DEDUPE_ENTRIES {
                self.recent.pop_front();
            }
            self.recent.push_back((peer, mid, bytes.clone()));
        }
        vec![bytes]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn peer() -> Peer {
        Peer {
            addr: Ipv6Addr::LOCALHOST,
            port: 40000,
        }
    }

    fn get(path: &str, mid: u16, kind: MessageType) -> Vec<u8> {
        let mut p = Packet::new();
        p.header.set_type(kind);
        p.header.code = MessageClass::Request(RequestType::Get);
        p.header.message_id = mid;
        p.set_token(vec![0xAB, 0xCD]);
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            p.add_option(CoapOption::UriPath, seg.as_bytes().to_vec());
        }
        p.to_bytes().unwrap()
    }

    fn ask(s: &mut CoapServer, bytes: &[u8]) -> Packet {
        let out = s.handle(Instant::now(), peer(), bytes);
        assert_eq!(out.len(), 1);
        Packet::from_bytes(&out[0]).unwrap()
    }

    #[test]
    fn well_known_core_is_link_format_piggybacked() {
        let mut s = CoapServer::new(1);
        let r = ask(
            &mut s,
            &get("/.well-known/core", 0x1234, MessageType::Confirmable),
        );
        assert_eq!(r.header.get_type(), MessageType::Acknowledgement);
        assert_eq!(r.header.message_id, 0x1234);
        assert_eq!(r.get_token(), &[0xAB, 0xCD]);
        assert_eq!(r.header.code, MessageClass::Response(ResponseType::Content));
        assert_eq!(
            r.get_content_format(),
            Some(ContentFormat::ApplicationLinkFormat)
        );
        assert!(
            String::from_utf8(r.payload)
                .unwrap()
                .contains("</sensors/temp>")
        );
    }

    #[test]
    fn temperature_changes_and_is_text() {
        let mut s = CoapServer::new(1);
        let a = ask(&mut s, &get("/sensors/temp", 1, MessageType::Confirmable));
        let b = ask(&mut s, &get("/sensors/temp", 2, MessageType::Confirmable));
        assert_eq!(a.header.code, MessageClass::Response(ResponseType::Content));
        let (a, b) = (
            String::from_utf8(a.payload).unwrap(),
            String::from_utf8(b.payload).unwrap(),
        );
        assert_ne!(a, b);
        let v: f32 = a.parse().unwrap();
        assert!((20.0..25.0).contains(&v));
        // Deterministic: a fresh server gives the same first reading.
        let mut s2 = CoapServer::new(1);
        let a2 = ask(&mut s2, &get("/sensors/temp", 1, MessageType::Confirmable));
        assert_eq!(String::from_utf8(a2.payload).unwrap(), a);
    }

    #[test]
    fn unknown_path_is_not_found_and_non_gets_non() {
        let mut s = CoapServer::new(1);
        let r = ask(&mut s, &get("/nope", 5, MessageType::NonConfirmable));
        assert_eq!(
            r.header.code,
            MessageClass::Response(ResponseType::NotFound)
        );
        assert_eq!(r.header.get_type(), MessageType::NonConfirmable);
    }

    #[test]
    fn retransmitted_request_gets_the_same_answer() {
        let mut s = CoapServer::new(1);
        let req = get("/sensors/temp", 77, MessageType::Confirmable);
        let a = s.handle(Instant::now(), peer(), &req);
        let b = s.handle(Instant::now(), peer(), &req);
        assert_eq!(a, b);
        assert_eq!(s.readings, 1);
    }

    #[test]
    fn ping_gets_reset_and_garbage_nothing() {
        let mut s = CoapServer::new(1);
        let r = ask(&mut s, &[0x40, 0x00, 0x12, 0x34]);
        assert_eq!(r.header.get_type(), MessageType::Reset);
        assert!(s.handle(Instant::now(), peer(), &[0xff; 3]).is_empty());
        let mut rng = crate::rng::SimRng::new(5);
        for _ in 0..3000 {
            let len = rng.below(40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let _ = s.handle(Instant::now(), peer(), &bytes);
        }
    }
}
