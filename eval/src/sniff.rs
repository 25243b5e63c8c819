//! A packet tap on the Internet host's interface: every IPv6/UDP datagram in or out, with
//! the DTLS records it carries, timestamped when the kernel hands it over. The latency of a
//! handshake is read here, where the client is: from its first ClientHello leaving to the
//! server's Finished (the first epoch-1 handshake record) arriving.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::sys::NetNs;

/// One DTLS record header seen in a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordSeen {
    pub content_type: u8,
    pub epoch: u16,
    /// The first handshake message type, for plaintext handshake records.
    pub handshake_type: Option<u8>,
}

/// One UDP datagram seen on the interface.
#[derive(Clone, Debug)]
pub struct Datagram {
    pub at: Instant,
    pub src: SocketAddrV6,
    pub dst: SocketAddrV6,
    pub len: usize,
    pub records: Vec<RecordSeen>,
}

impl Datagram {
    /// A ClientHello (plaintext handshake type 1) inside.
    pub fn has_client_hello(&self) -> bool {
        self.records
            .iter()
            .any(|r| r.content_type == 22 && r.epoch == 0 && r.handshake_type == Some(1))
    }

    /// An encrypted handshake record (a Finished) inside.
    pub fn has_finished(&self) -> bool {
        self.records
            .iter()
            .any(|r| r.content_type == 22 && r.epoch >= 1)
    }
}

/// Parses an IPv6 packet; `None` for anything but UDP without extension headers.
pub fn parse_ipv6_udp(at: Instant, p: &[u8]) -> Option<Datagram> {
    if p.len() < 48 || p[0] >> 4 != 6 || p[6] != 17 {
        return None;
    }
    let src: [u8; 16] = p[8..24].try_into().ok()?;
    let dst: [u8; 16] = p[24..40].try_into().ok()?;
    let udp = &p[40..];
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    let dport = u16::from_be_bytes([udp[2], udp[3]]);
    let payload = &udp[8..];
    Some(Datagram {
        at,
        src: SocketAddrV6::new(Ipv6Addr::from(src), sport, 0, 0),
        dst: SocketAddrV6::new(Ipv6Addr::from(dst), dport, 0, 0),
        len: payload.len(),
        records: dtls_records(payload),
    })
}

/// The DTLS 1.x record headers of a datagram (stops at the first that does not parse).
pub fn dtls_records(mut d: &[u8]) -> Vec<RecordSeen> {
    let mut out = Vec::new();
    while d.len() >= 13 && out.len() < 32 {
        let (ct, major) = (d[0], d[1]);
        if !(20..=25).contains(&ct) || major != 0xfe {
            break;
        }
        let epoch = u16::from_be_bytes([d[3], d[4]]);
        let len = usize::from(u16::from_be_bytes([d[11], d[12]]));
        let body = d.get(13..13 + len).unwrap_or(&d[13..]);
        let handshake_type = (ct == 22 && epoch == 0)
            .then(|| body.first().copied())
            .flatten();
        out.push(RecordSeen {
            content_type: ct,
            epoch,
            handshake_type,
        });
        d = d.get(13 + len..).unwrap_or(&[]);
    }
    out
}

/// The tap: a thread in the namespace reading an AF_PACKET socket bound to one interface.
pub struct Tap {
    seen: Arc<Mutex<Vec<Datagram>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tap {
    pub fn start(ns: &NetNs, ifname: &str) -> Result<Tap> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let path = format!("/run/netns/{}", ns.name);
        let ifname = ifname.to_owned();
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let fd = match open_socket(&path, &ifname) {
                Ok(fd) => {
                    let _ = ready_tx.send(Ok(()));
                    fd
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut buf = vec![0u8; 65536];
            while !stop2.load(Ordering::Relaxed) {
                // SAFETY: buf is valid for its length; fd is our open socket.
                let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n <= 0 {
                    continue;
                }
                let at = Instant::now();
                if let Some(d) = parse_ipv6_udp(at, &buf[..n as usize])
                    && let Ok(mut s) = seen2.lock()
                {
                    s.push(d);
                }
            }
            // SAFETY: closing our own descriptor once.
            unsafe { libc::close(fd) };
        });
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(Tap {
                seen,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => bail!("packet tap did not start"),
        }
    }

    /// Everything seen since `from` (by arrival order).
    pub fn since(&self, from: Instant) -> Vec<Datagram> {
        self.seen
            .lock()
            .map(|s| s.iter().filter(|d| d.at >= from).cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets what was seen before `before` (keeps memory bounded over long runs).
    pub fn forget_before(&self, before: Instant) {
        if let Ok(mut s) = self.seen.lock() {
            s.retain(|d| d.at >= before);
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open_socket(netns_path: &str, ifname: &str) -> Result<i32> {
    use std::os::fd::AsFd;
    let file = std::fs::File::open(netns_path).with_context(|| format!("open {netns_path}"))?;
    nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).context("setns")?;
    // ETH_P_ALL: a socket bound to one protocol sees only incoming packets, not the
    // client's own; the IPv6 version nibble is checked when parsing.
    let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, proto) };
    if fd < 0 {
        bail!("AF_PACKET socket: {}", std::io::Error::last_os_error());
    }
    let cname = std::ffi::CString::new(ifname).context("interface name")?;
    // SAFETY: cname is a valid C string.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        bail!("no interface {ifname}");
    }
    // SAFETY: an all-zero sockaddr_ll is valid; we fill the fields bind needs.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto as u16;
    sll.sll_ifindex = index as i32;
    // SAFETY: sll is a properly sized sockaddr_ll.
    let rc = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc != 0 {
        bail!(
            "bind AF_PACKET to {ifname}: {}",
            std::io::Error::last_os_error()
        );
    }
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: tv is a valid timeval for SO_RCVTIMEO.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ct: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0; 6]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn finds_client_hello_and_finished() {
        let mut d = record(22, 0, &[1, 0, 0, 5]);
        assert!(
            !Datagram {
                at: Instant::now(),
                src: "[::1]:1".parse().unwrap(),
                dst: "[::1]:2".parse().unwrap(),
                len: 0,
                records: dtls_records(&d)
            }
            .has_finished()
        );
        d.extend(record(20, 0, &[1]));
        d.extend(record(22, 1, &[9; 40]));
        let recs = dtls_records(&d);
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].handshake_type, Some(1));
        assert_eq!(
            recs[2],
            RecordSeen {
                content_type: 22,
                epoch: 1,
                handshake_type: None
            }
        );
    }

    #[test]
    fn garbage_and_truncation_do_not_panic() {
        assert!(dtls_records(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1]).len() == 1);
        assert!(dtls_records(&[1, 2, 3]).is_empty());
        assert!(parse_ipv6_udp(Instant::now(), &[0x60; 47]).is_none());
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[6] = 17;
        assert!(parse_ipv6_udp(Instant::now(), &p).is_some());
    }
}
