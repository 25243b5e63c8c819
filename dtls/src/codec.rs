//! Bounds-checked reading and length-prefixed writing of TLS wire structures.
//!
//! Every message type implements [`Codec`]; a `read` never panics and never allocates more
//! than the input it was given.

use crate::error::InvalidMessage;

/// A cursor over untrusted bytes. Every accessor returns `None`/`Err` instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn any_left(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// The bytes not consumed yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos..];
        self.pos = self.buf.len();
        r
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], InvalidMessage> {
        if self.remaining() < n {
            return Err(InvalidMessage::Truncated);
        }
        let r = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(r)
    }

    pub fn u8(&mut self) -> Result<u8, InvalidMessage> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, InvalidMessage> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u24(&mut self) -> Result<u32, InvalidMessage> {
        let b = self.take(3)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    pub fn u48(&mut self) -> Result<u64, InvalidMessage> {
        let b = self.take(6)?;
        Ok(u64::from_be_bytes([
            0, 0, b[0], b[1], b[2], b[3], b[4], b[5],
        ]))
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], InvalidMessage> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A sub-reader over a vector with a one-byte length prefix.
    pub fn sub_u8(&mut self) -> Result<Reader<'a>, InvalidMessage> {
        let n = self.u8()? as usize;
        Ok(Reader::new(self.take(n)?))
    }

    /// A sub-reader over a vector with a two-byte length prefix.
    pub fn sub_u16(&mut self) -> Result<Reader<'a>, InvalidMessage> {
        let n = self.u16()? as usize;
        Ok(Reader::new(self.take(n)?))
    }

    /// A sub-reader over a vector with a three-byte length prefix.
    pub fn sub_u24(&mut self) -> Result<Reader<'a>, InvalidMessage> {
        let n = self.u24()? as usize;
        Ok(Reader::new(self.take(n)?))
    }

    /// Fails when bytes are left over: a message must be consumed exactly.
    pub fn expect_empty(&self) -> Result<(), InvalidMessage> {
        if self.any_left() {
            Err(InvalidMessage::TrailingData)
        } else {
            Ok(())
        }
    }
}

/// One wire structure: encoded into a growing buffer, read from a [`Reader`].
pub trait Codec: Sized {
    fn encode(&self, out: &mut Vec<u8>);
    fn read(r: &mut Reader<'_>) -> Result<Self, InvalidMessage>;

    fn get_encoding(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Reads a whole buffer: trailing bytes are an error.
    fn read_bytes(bytes: &[u8]) -> Result<Self, InvalidMessage> {
        let mut r = Reader::new(bytes);
        let v = Self::read(&mut r)?;
        r.expect_empty()?;
        Ok(v)
    }
}

pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_u24(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

/// Length prefix widths of TLS vectors.
#[derive(Clone, Copy)]
pub enum Prefix {
    U8 = 1,
    U16 = 2,
    U24 = 3,
}

/// Writes a length-prefixed vector whose body is produced by `body`.
///
/// The caller guarantees the body fits the prefix (all our own messages are far smaller).
pub fn put_vec(out: &mut Vec<u8>, prefix: Prefix, body: impl FnOnce(&mut Vec<u8>)) {
    let width = prefix as usize;
    let mark = out.len();
    out.extend_from_slice(&[0u8; 3][..width]);
    body(out);
    let len = (out.len() - mark - width) as u32;
    let be = len.to_be_bytes();
    out[mark..mark + width].copy_from_slice(&be[4 - width..]);
}

pub fn put_bytes(out: &mut Vec<u8>, prefix: Prefix, bytes: &[u8]) {
    put_vec(out, prefix, |o| o.extend_from_slice(bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_never_reads_past_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert_eq!(r.u16(), Err(InvalidMessage::Truncated));
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.u8().is_err());
        let mut r = Reader::new(&[5, 1]);
        assert!(r.sub_u8().is_err());
    }

    #[test]
    fn vectors_round_trip() {
        let mut out = Vec::new();
        put_bytes(&mut out, Prefix::U24, &[9, 9]);
        put_bytes(&mut out, Prefix::U16, &[7]);
        assert_eq!(out, [0, 0, 2, 9, 9, 0, 1, 7]);
        let mut r = Reader::new(&out);
        assert_eq!(r.sub_u24().unwrap().rest(), &[9, 9]);
        assert_eq!(r.sub_u16().unwrap().rest(), &[7]);
        r.expect_empty().unwrap();
    }
}
