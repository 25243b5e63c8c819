//! pcap capture of every radio frame, both ways, as LINKTYPE 230 (IEEE 802.15.4 without
//! FCS), which Wireshark/tshark decode down to 6LoWPAN, IPv6, UDP and CoAP.
//!
//! Writes are synchronous into a buffer; the daemon flushes on a timer and at shutdown.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

/// The sink `PcapWriter` writes to. `PcapWriter` has no way to reach its writer except
/// consuming itself, so the buffer sits behind a shared handle we can flush.
#[derive(Clone)]
struct Sink<W: Write>(Rc<RefCell<W>>);

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

pub struct Capture<W: Write> {
    writer: PcapWriter<Sink<W>>,
    inner: Rc<RefCell<W>>,
}

fn to_io(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl Capture<BufWriter<File>> {
    /// Create (truncate) the capture file at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = File::create(path)?;
        Capture::new(BufWriter::with_capacity(64 * 1024, file))
    }
}

impl<W: Write> Capture<W> {
    pub fn new(writer: W) -> io::Result<Self> {
        let inner = Rc::new(RefCell::new(writer));
        let header = PcapHeader {
            datalink: DataLink::IEEE802_15_4_NOFCS,
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(Sink(inner.clone()), header).map_err(to_io)?;
        Ok(Capture { writer, inner })
    }

    /// Record one frame (no FCS). `since_epoch` is the wall-clock time of the frame.
    pub fn record(&mut self, since_epoch: Duration, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.writer
            .write_packet(&PcapPacket::new(since_epoch, len, frame))
            .map(|_| ())
            .map_err(to_io)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.borrow_mut().flush()
    }

    /// The underlying writer (flushed), e.g. the bytes of an in-memory capture.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        drop(self.writer);
        Rc::try_unwrap(self.inner)
            .map(RefCell::into_inner)
            .map_err(|_| io::Error::other("capture writer still shared"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn frames_round_trip_through_pcap() {
        let mut cap = Capture::new(Vec::new()).unwrap();
        let f1 = [
            0x41u8, 0xd8, 0x01, 0xcd, 0xab, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x7a, 0x3b,
        ];
        cap.record(Duration::from_millis(1500), &f1).unwrap();
        cap.record(Duration::from_millis(1600), &[1, 2, 3]).unwrap();
        let bytes = cap.into_inner().unwrap();
        let mut r = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header().datalink, DataLink::IEEE802_15_4_NOFCS);
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(&p.data[..], &f1);
        assert_eq!(p.timestamp, Duration::from_millis(1500));
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(&p.data[..], &[1, 2, 3]);
        assert!(r.next_packet().is_none());
    }
}
