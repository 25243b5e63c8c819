//! What the tests that run the C example (examples/c/echo_mote.c) share: the library and
//! the example compiled for this build (with or without resumption), the example started as
//! a process and associated with the Rust IoTSSP side.
#![allow(dead_code)] // Each test binary uses its part.

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use mote_assoc::crypto::{Random, SoftAes, SoftEcdh};
use mote_assoc::keys::Credentials;
use mote_assoc::{MAX_DATAGRAM_LEN, SspAssoc, SspEvent};

pub const PSK: [u8; 16] = *b"mote-ffi-test-16";
pub const EUI64: [u8; 8] = [0x02, 0x12, 0x4b, 0, 0, 0, 0, 0x42];

pub struct Rng(pub u64);
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

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The target directory the library was built into (this test runs from `deps/`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The name `mote_init` links to in a library of this build (with resumption or not).
pub fn init_symbol() -> &'static str {
    if mote_ffi::RESUMPTION {
        "mote_init_with_resumption"
    } else {
        "mote_init_without_resumption"
    }
}

/// Whether the symbol index of the archive at `path` (its first member, "/") names `symbol`.
pub fn archive_defines(path: &Path, symbol: &str) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut header = [0u8; 8 + 60];
    if f.read_exact(&mut header).is_err() || &header[..8] != b"!<arch>\n" || header[8] != b'/' {
        return false;
    }
    let Some(len) = std::str::from_utf8(&header[8 + 48..8 + 58])
        .ok()
        .and_then(|l| l.trim().parse::<usize>().ok())
    else {
        return false;
    };
    let mut index = vec![0u8; len];
    if f.read_exact(&mut index).is_err() {
        return false;
    }
    let mut name = symbol.as_bytes().to_vec();
    name.push(0);
    index.windows(name.len()).any(|w| w == name)
}

/// The static library cargo built with this test: the newest `libmote_ffi-*.a` beside it
/// (a test build does not copy it up to `libmote_ffi.a`) of this build's kind, with or
/// without resumption (a target directory may hold both).
pub fn static_library() -> PathBuf {
    std::fs::read_dir(target_dir().join("deps"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("libmote_ffi-")
                && name.ends_with(".a")
                && archive_defines(&e.path(), init_symbol())
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
        .expect("libmote_ffi.a built")
}

/// Compiles the example against `libmote_ffi.a` and the header, with `MOTE_RESUMPTION`
/// defined when the library has resumption.
pub fn compile_example(out: &Path) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = static_library();
    let exe = out.join("echo_mote");
    let status = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-I"])
        .arg(dir.join("include"))
        .args(mote_ffi::RESUMPTION.then_some("-DMOTE_RESUMPTION"))
        .arg(dir.join("examples/c/echo_mote.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .status()
        .expect("gcc");
    assert!(status.success(), "gcc failed");
    exe
}

pub fn ms(start: Instant) -> mote_assoc::Instant {
    mote_assoc::Instant::from_millis(start.elapsed().as_millis() as u64)
}

/// Runs the IoTSSP's association on `sock` until `done` says so.
pub fn run_ssp(
    sock: &UdpSocket,
    mote: SocketAddr,
    ssp: &mut SspAssoc<SoftAes, SoftEcdh, Rng>,
    start: Instant,
    mut done: impl FnMut(&SspEvent) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 1500];
    loop {
        assert!(
            Instant::now() < deadline,
            "the IoTSSP side timed out: {:?}",
            ssp.stats()
        );
        let mut out = [0u8; MAX_DATAGRAM_LEN];
        while let Some(n) = ssp.poll_transmit(&mut out) {
            sock.send_to(&out[..n], mote).unwrap();
        }
        if let Ok((n, from)) = sock.recv_from(&mut buf)
            && from == mote
            && let Some(ev) = ssp.handle_datagram(ms(start), &buf[..n])
            && done(&ev)
        {
            while let Some(n) = ssp.poll_transmit(&mut out) {
                sock.send_to(&out[..n], mote).unwrap();
            }
            return;
        }
        if ssp.poll_timeout().is_some_and(|t| t <= ms(start)) {
            ssp.handle_timeout(ms(start));
        }
    }
}

/// The example running as a process, associated with the IoTSSP side of this test.
pub struct Associated {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    pub ssp_sock: UdpSocket,
    pub ssp: SspAssoc<SoftAes, SoftEcdh, Rng>,
    pub start: Instant,
    pub mote_assoc_addr: SocketAddr,
    pub mote_session_addr: SocketAddr,
}

/// Starts the example (`extra` arguments after the five it always takes) and runs the
/// association with it.
pub fn start_associated(exe: &Path, seconds: &str, extra: &[&str]) -> Associated {
    let ssp_sock = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    ssp_sock
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut child = Command::new(exe)
        .args([
            "::1",
            &ssp_sock.local_addr().unwrap().port().to_string(),
            &hex(&PSK),
            &hex(&EUI64),
            seconds,
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let ports: Vec<u16> = line
        .trim()
        .strip_prefix("ports ")
        .unwrap()
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    let mote_assoc_addr = SocketAddr::from((Ipv6Addr::LOCALHOST, ports[0]));
    let mote_session_addr = SocketAddr::from((Ipv6Addr::LOCALHOST, ports[1]));

    let start = Instant::now();
    let creds = Credentials::new::<SoftAes>(&PSK, EUI64).unwrap();
    let mut ssp = SspAssoc::new(creds, SoftEcdh, Rng(0x5eed));
    run_ssp(&ssp_sock, mote_assoc_addr, &mut ssp, start, |e| {
        matches!(e, SspEvent::Associated { .. })
    });
    Associated {
        child,
        stdout,
        ssp_sock,
        ssp,
        start,
        mote_assoc_addr,
        mote_session_addr,
    }
}
