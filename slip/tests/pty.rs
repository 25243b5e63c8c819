//! The serial transport against a pseudo-terminal: an emulated radio writes SLIP bytes on
//! the master side, the link reads them through `open_serial` on the slave path, and what
//! the link writes comes out on the master.

use lowpan::ieee802154::Eui64;
use nix::pty::openpty;
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use slip::codec::{SlipDecoder, encode_frame_with_leading_end};
use slip::link::{LinkConfig, LinkEvent, RadioLink};
use slip::slip_radio::{HostMessage, RadioMessage};
use slip::transport::open_serial;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn link_over_pty() {
    tokio::time::timeout(Duration::from_secs(10), run())
        .await
        .expect("pty test timed out");
}

async fn run() {
    let pty = openpty(None, None).expect("openpty");
    for fd in [&pty.master, &pty.slave] {
        let mut t = tcgetattr(fd).expect("tcgetattr");
        cfmakeraw(&mut t);
        tcsetattr(fd, SetArg::TCSANOW, &t).expect("tcsetattr");
    }
    let path = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    // Keep the slave fd open for the whole test: closing it would hang up the master.
    let _slave = pty.slave;
    let mut port =
        open_serial(path.to_str().unwrap(), 115_200, false).expect("open_serial on a pty");
    let mut master = std::fs::File::from(pty.master);

    // Radio -> host: its EUI-64 and a data frame whose first byte is '!'.
    let eui = Eui64([0x00, 0x12, 0x4B, 0x00, 0x06, 0x0D, 0x9A, 0x01]);
    let frame = vec![
        0x21, 0x88, 0x09, 0xCD, 0xAB, 0x01, 0x00, 0xCD, 0xAB, 0xC0, 0xDB, 0x41,
    ];
    let mut wire = Vec::new();
    encode_frame_with_leading_end(&RadioMessage::Mac(eui).to_bytes(), &mut wire);
    encode_frame_with_leading_end(&frame, &mut wire);
    master.write_all(&wire).unwrap();

    let mut link = RadioLink::new(LinkConfig::default());
    let now = Instant::now();
    let mut events = Vec::new();
    let mut buf = [0u8; 256];
    while events.len() < 2 {
        let n = port.read(&mut buf).await.unwrap();
        assert!(n > 0, "serial port closed");
        link.handle_input(now, &buf[..n]);
        events.extend(std::iter::from_fn(|| link.poll_event()));
    }
    assert_eq!(events, vec![LinkEvent::Mac(eui), LinkEvent::Frame(frame)]);

    // Host -> radio: the flush END, then a queued frame as `!S` (the MAC is known already).
    link.send_frame(
        now,
        vec![0x41, 0x98, 0x01, 0xCD, 0xAB, 0xFF, 0xFF, 0x01, 0x00, 0xC0],
    )
    .unwrap();
    let mut t = now;
    let mut written = 0;
    while written < 2 {
        if let Some(bytes) = link.poll_transmit(t) {
            port.write_all(&bytes).await.unwrap();
            written += 1;
        }
        t += Duration::from_millis(5);
    }
    let got = tokio::task::spawn_blocking(move || {
        let mut dec = SlipDecoder::new(256);
        let mut msgs = Vec::new();
        let mut b = [0u8; 256];
        while msgs.is_empty() {
            let n = master.read(&mut b).unwrap();
            dec.push(&b[..n], &mut |p| msgs.push(HostMessage::parse(p).unwrap()));
        }
        msgs
    })
    .await
    .unwrap();
    assert_eq!(
        got,
        vec![HostMessage::Send {
            sid: 0,
            max_tx: None,
            frame: vec![0x41, 0x98, 0x01, 0xCD, 0xAB, 0xFF, 0xFF, 0x01, 0x00, 0xC0]
        }]
    );
}

#[tokio::test]
async fn hardware_flow_control_on_pty_is_not_fatal() {
    let pty = openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let _slave = pty.slave;
    open_serial(path.to_str().unwrap(), 115_200, true).expect("open_serial with RTS/CTS on a pty");
}
