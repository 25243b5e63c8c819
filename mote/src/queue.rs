//! A FIFO of datagrams in one fixed byte array: each entry is a 20-byte head (local port,
//! remote address and port, length) and its payload, packed one after the other. Taking
//! the oldest moves the rest down and wipes what it leaves behind (payloads are plaintext
//! application data or records).

use crate::{Address, LocalPort};

/// local(1) address(16) port(2) length(2), padded to keep it simple: 21 bytes.
const HEAD_LEN: usize = 21;

pub(crate) struct Queue<const N: usize> {
    buf: [u8; N],
    /// Bytes in use from the start.
    used: usize,
}

/// What one entry says about its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub local: LocalPort,
    pub remote: Address,
}

impl<const N: usize> Queue<N> {
    pub fn new() -> Self {
        Queue {
            buf: [0; N],
            used: 0,
        }
    }

    /// Where the next entry's payload goes (as long as there is room); fill some of it and
    /// [`Self::commit`] how much.
    pub fn room(&mut self) -> &mut [u8] {
        self.buf
            .get_mut(self.used.saturating_add(HEAD_LEN)..)
            .unwrap_or(&mut [])
    }

    /// Appends the entry whose `len` payload bytes were written into [`Self::room`].
    pub fn commit(&mut self, head: Head, len: usize) -> bool {
        let Ok(len16) = u16::try_from(len) else {
            return false;
        };
        let end = self.used.saturating_add(HEAD_LEN).saturating_add(len);
        let Some(h) = self.buf.get_mut(self.used..self.used + HEAD_LEN) else {
            return false;
        };
        if end > N {
            return false;
        }
        h[0] = match head.local {
            LocalPort::Association => 0,
            LocalPort::Session => 1,
        };
        h[1..17].copy_from_slice(&head.remote.addr);
        h[17..19].copy_from_slice(&head.remote.port.to_be_bytes());
        h[19..21].copy_from_slice(&len16.to_be_bytes());
        self.used = end;
        true
    }

    /// Wipes the room a failed fill may have left plaintext in.
    pub fn wipe_room(&mut self) {
        if let Some(r) = self.buf.get_mut(self.used..) {
            zeroize::Zeroize::zeroize(r);
        }
    }

    fn front(&self) -> Option<(Head, usize)> {
        if self.used < HEAD_LEN {
            return None;
        }
        let h = self.buf.get(..HEAD_LEN)?;
        let local = if h[0] == 0 {
            LocalPort::Association
        } else {
            LocalPort::Session
        };
        let mut addr = [0u8; 16];
        addr.copy_from_slice(&h[1..17]);
        let port = u16::from_be_bytes([h[17], h[18]]);
        let len = usize::from(u16::from_be_bytes([h[19], h[20]]));
        Some((
            Head {
                local,
                remote: Address { addr, port },
            },
            len,
        ))
    }

    /// Takes the oldest entry, copying its payload into `out` if it fits (else it is
    /// dropped and `Err` says how long it was).
    pub fn pop(&mut self, out: &mut [u8]) -> Option<Result<(Head, usize), usize>> {
        let (head, len) = self.front()?;
        let entry_end = HEAD_LEN + len;
        let result = match (out.get_mut(..len), self.buf.get(HEAD_LEN..entry_end)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                Ok((head, len))
            }
            _ => Err(len),
        };
        let used = self.used;
        if entry_end <= used {
            self.buf.copy_within(entry_end..used, 0);
            self.used = used - entry_end;
        } else {
            self.used = 0;
        }
        if let Some(freed) = self.buf.get_mut(self.used..used) {
            zeroize::Zeroize::zeroize(freed);
        }
        Some(result)
    }
}

impl<const N: usize> Drop for Queue<N> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}
