//! Epochs, sequence numbers, replay windows and ciphers of one connection.
//!
//! [`RecordLayer::from_session`] builds the state of an established session from
//! transferred keys and counters: that is all a mote needs to continue a session that
//! another host negotiated.

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::protection::{MAX_AEAD_OVERHEAD, RecordAead, RecordCipher};
use super::{ContentType, MAX_CIPHERTEXT_LEN, ProtocolVersion, Record, RecordHeader, ReplayWindow};
use crate::Role;
use crate::error::{Error, InvalidMessage};

/// The key block of an AEAD suite (RFC 5246 section 6.3 without MAC keys): the two write
/// keys and the two write IVs, of the lengths [`RecordAead`] gives. The lengths are
/// checked when the keys are made, so a record layer built from them cannot fail on them.
/// Held inline (no allocation; the bytes past a shorter suite's lengths stay zero), wiped
/// on drop; `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
#[repr(C)]
pub struct SessionKeys {
    client_write_key: [u8; MAX_KEY_LEN],
    server_write_key: [u8; MAX_KEY_LEN],
    client_iv: [u8; MAX_IV_LEN],
    server_iv: [u8; MAX_IV_LEN],
    #[zeroize(skip)]
    aead: RecordAead,
}

const MAX_KEY_LEN: usize = 32;
const MAX_IV_LEN: usize = 12;

fn padded<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a[..bytes.len()].copy_from_slice(bytes);
    a
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionKeys {{ {:?}, <redacted> }}", self.aead)
    }
}

impl SessionKeys {
    /// `None` unless every key has `aead.key_len()` bytes and every IV `aead.iv_len()`.
    pub fn new(
        aead: RecordAead,
        client_write_key: &[u8],
        server_write_key: &[u8],
        client_iv: &[u8],
        server_iv: &[u8],
    ) -> Option<Self> {
        let keys_ok =
            client_write_key.len() == aead.key_len() && server_write_key.len() == aead.key_len();
        let ivs_ok = client_iv.len() == aead.iv_len() && server_iv.len() == aead.iv_len();
        (keys_ok && ivs_ok).then(|| SessionKeys {
            client_write_key: padded(client_write_key),
            server_write_key: padded(server_write_key),
            client_iv: padded(client_iv),
            server_iv: padded(server_iv),
            aead,
        })
    }

    /// All-zero keys of `aead`'s lengths (a placeholder that holds no secret).
    pub fn zeroed(aead: RecordAead) -> Self {
        SessionKeys {
            client_write_key: [0; MAX_KEY_LEN],
            server_write_key: [0; MAX_KEY_LEN],
            client_iv: [0; MAX_IV_LEN],
            server_iv: [0; MAX_IV_LEN],
            aead,
        }
    }

    /// Splits a key block (`aead.key_block_len()` bytes): client key, server key, client
    /// IV, server IV.
    pub fn from_key_block(aead: RecordAead, block: &[u8]) -> Option<Self> {
        if block.len() != aead.key_block_len() {
            return None;
        }
        let (k, i) = (aead.key_len(), aead.iv_len());
        Self::new(
            aead,
            &block[..k],
            &block[k..2 * k],
            &block[2 * k..2 * k + i],
            &block[2 * k + i..],
        )
    }

    pub fn aead(&self) -> RecordAead {
        self.aead
    }

    pub fn client_write_key(&self) -> &[u8] {
        &self.client_write_key[..self.aead.key_len()]
    }

    pub fn server_write_key(&self) -> &[u8] {
        &self.server_write_key[..self.aead.key_len()]
    }

    pub fn client_iv(&self) -> &[u8] {
        &self.client_iv[..self.aead.iv_len()]
    }

    pub fn server_iv(&self) -> &[u8] {
        &self.server_iv[..self.aead.iv_len()]
    }

    /// The (write, read) ciphers for `role`.
    fn ciphers(&self, role: Role) -> Result<(RecordCipher, RecordCipher), Error> {
        let client = RecordCipher::new(self.aead, self.client_write_key(), self.client_iv())?;
        let server = RecordCipher::new(self.aead, self.server_write_key(), self.server_iv())?;
        Ok(match role {
            Role::Client => (client, server),
            Role::Server => (server, client),
        })
    }
}

/// Everything needed to continue an established session elsewhere: the keys, and the exact
/// epochs and counters to continue from. Produced by `Connection::export_session` and by
/// [`RecordLayer::export_session`], consumed by [`RecordLayer::from_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// Our role in the session (the mote takes over the server's role).
    pub role: Role,
    pub keys: SessionKeys,
    pub read_epoch: u16,
    /// Highest authenticated sequence number received in `read_epoch`, if any.
    pub read_highest_seq: Option<u64>,
    /// Replay bitmap below `read_highest_seq` (bit i = highest - i seen).
    pub read_replay_bitmap: u64,
    pub write_epoch: u16,
    /// Sequence number of the next record we send in `write_epoch`.
    pub next_write_seq: u64,
}

#[derive(Debug)]
struct ReadState {
    epoch: u16,
    cipher: Option<RecordCipher>,
    replay: ReplayWindow,
}

#[derive(Debug)]
struct WriteState {
    epoch: u16,
    cipher: Option<RecordCipher>,
    next_seq: u64,
}

/// A record taken off the wire and, in an encrypted epoch, authenticated.
#[derive(Debug)]
pub struct Opened {
    pub epoch: u16,
    pub content_type: ContentType,
    pub plaintext: Vec<u8>,
}

/// Per-connection record state. Keeps the epoch-0 state beside the current one, because a
/// flight that crosses a ChangeCipherSpec (and its retransmissions) uses both.
#[derive(Debug)]
pub struct RecordLayer {
    role: Role,
    version: ProtocolVersion,
    read: ReadState,
    /// Plaintext epoch 0 after the read epoch moved on: the peer may still retransmit its
    /// handshake flight (which makes us retransmit ours).
    read_epoch0: Option<ReadState>,
    write: WriteState,
    write_epoch0: Option<WriteState>,
    keys: Option<SessionKeys>,
}

impl RecordLayer {
    /// Epoch 0, no protection: the start of every handshake.
    pub fn new(role: Role) -> Self {
        RecordLayer {
            role,
            version: ProtocolVersion::DTLS1_2,
            read: ReadState {
                epoch: 0,
                cipher: None,
                replay: ReplayWindow::new(),
            },
            read_epoch0: None,
            write: WriteState {
                epoch: 0,
                cipher: None,
                next_seq: 0,
            },
            write_epoch0: None,
            keys: None,
        }
    }

    /// An established session from transferred keys and counters (the mote's side of the
    /// session transfer).
    pub fn from_session(s: &SessionState) -> Result<Self, Error> {
        let (write, read) = s.keys.ciphers(s.role)?;
        Ok(RecordLayer {
            role: s.role,
            version: ProtocolVersion::DTLS1_2,
            read: ReadState {
                epoch: s.read_epoch,
                cipher: Some(read),
                replay: ReplayWindow::from_parts(s.read_highest_seq, s.read_replay_bitmap),
            },
            read_epoch0: None,
            write: WriteState {
                epoch: s.write_epoch,
                cipher: Some(write),
                next_seq: s.next_write_seq,
            },
            write_epoch0: None,
            keys: Some(s.keys.clone()),
        })
    }

    /// The session as it stands, once keys are installed.
    pub fn export_session(&self) -> Option<SessionState> {
        let keys = self.keys.clone()?;
        let (read_highest_seq, read_replay_bitmap) = self.read.replay.parts();
        Some(SessionState {
            role: self.role,
            keys,
            read_epoch: self.read.epoch,
            read_highest_seq,
            read_replay_bitmap,
            write_epoch: self.write.epoch,
            next_write_seq: self.write.next_seq,
        })
    }

    /// Forget every key (after a session transfer, or on close).
    pub fn wipe_keys(&mut self) {
        self.keys = None;
        self.read.cipher = None;
        self.write.cipher = None;
    }

    pub fn read_epoch(&self) -> u16 {
        self.read.epoch
    }

    pub fn write_epoch(&self) -> u16 {
        self.write.epoch
    }

    pub fn next_write_seq(&self) -> u64 {
        self.write.next_seq
    }

    /// Lets a stateless server continue the record sequence of its HelloVerifyRequest.
    pub fn set_next_write_seq(&mut self, seq: u64) {
        self.write.next_seq = seq;
    }

    /// Keys negotiated by the handshake; they take effect at the ChangeCipherSpec of each
    /// direction ([`start_write_epoch`](Self::start_write_epoch) / [`start_read_epoch`](Self::start_read_epoch)).
    pub fn install_keys(&mut self, keys: SessionKeys) {
        self.keys = Some(keys);
    }

    /// Our ChangeCipherSpec was written: what follows is protected, in the next epoch.
    pub fn start_write_epoch(&mut self) -> Result<(), Error> {
        let keys = self
            .keys
            .as_ref()
            .ok_or(Error::Internal("no keys for write epoch"))?;
        let (write, _) = keys.ciphers(self.role)?;
        let next = WriteState {
            epoch: self.write.epoch.wrapping_add(1),
            cipher: Some(write),
            next_seq: 0,
        };
        let old = std::mem::replace(&mut self.write, next);
        if old.epoch == 0 {
            self.write_epoch0 = Some(old);
        }
        Ok(())
    }

    /// The peer's ChangeCipherSpec arrived.
    pub fn start_read_epoch(&mut self) -> Result<(), Error> {
        let keys = self
            .keys
            .as_ref()
            .ok_or(Error::Internal("no keys for read epoch"))?;
        let (_, read) = keys.ciphers(self.role)?;
        let next = ReadState {
            epoch: self.read.epoch.wrapping_add(1),
            cipher: Some(read),
            replay: ReplayWindow::new(),
        };
        let old = std::mem::replace(&mut self.read, next);
        if old.epoch == 0 {
            self.read_epoch0 = Some(old);
        }
        Ok(())
    }

    /// Bytes a record adds around its payload when written in `epoch`.
    pub fn overhead(&self, epoch: u16) -> usize {
        let protection = match &self.write.cipher {
            Some(c) if epoch == self.write.epoch => c.aead().overhead(),
            _ => 0,
        };
        super::HEADER_LEN + protection
    }

    /// Appends one record in `epoch` (the current write epoch, or 0 while its state is kept).
    pub fn write_record(
        &mut self,
        epoch: u16,
        ct: ContentType,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let version = self.version;
        let state = if epoch == self.write.epoch {
            &mut self.write
        } else {
            match self.write_epoch0.as_mut() {
                Some(s) if s.epoch == epoch => s,
                _ => return Err(Error::Internal("write in an unknown epoch")),
            }
        };
        let seq = state.next_seq;
        if seq > RecordHeader::MAX_SEQUENCE {
            return Err(Error::SequenceExhausted);
        }
        state.next_seq += 1;
        let header = RecordHeader {
            content_type: ct,
            version,
            epoch,
            sequence_number: seq,
        };
        match &state.cipher {
            Some(c) => {
                let body = c.seal(epoch, seq, ct, version, payload)?;
                header.emit(&body, out);
            }
            None => header.emit(payload, out),
        }
        Ok(())
    }

    /// Checks replay, authenticates and decrypts a record. `Ok(None)`: the record belongs to
    /// no epoch we read, or replays one (RFC 6347: silently discarded). `Err(DecryptFailed)`: discard too,
    /// but count it.
    pub fn open(&mut self, record: &Record<&[u8]>) -> Result<Option<Opened>, Error> {
        let epoch = record.epoch();
        let seq = record.sequence_number();
        let state = if epoch == self.read.epoch {
            &mut self.read
        } else {
            match self.read_epoch0.as_mut() {
                Some(s) if s.epoch == epoch => s,
                _ => return Ok(None),
            }
        };
        let ct = record.content_type();
        let Some(cipher) = &state.cipher else {
            // An unprotected epoch has no replay window: nothing authenticates its sequence
            // numbers (RFC 6347 4.1.2.6 moves the window only for authenticated records),
            // so one forged record with a huge sequence number would otherwise refuse every
            // genuine record after it. The handshake's message_seq deduplicates instead.
            if record.fragment().len() > 16384 {
                return Err(InvalidMessage::RecordTooLong.into());
            }
            return Ok(Some(Opened {
                epoch,
                content_type: ct,
                plaintext: record.fragment().to_vec(),
            }));
        };
        if state.replay.check(seq).is_err() {
            return Ok(None);
        }
        let plaintext = cipher.open(epoch, seq, ct, record.version(), record.fragment())?;
        state.replay.mark(seq);
        Ok(Some(Opened {
            epoch,
            content_type: ct,
            plaintext,
        }))
    }

    /// Largest payload that fits one record of `epoch` in a datagram of `mtu` bytes.
    pub fn max_payload(&self, epoch: u16, mtu: usize) -> usize {
        mtu.saturating_sub(self.overhead(epoch))
            .min(MAX_CIPHERTEXT_LEN - MAX_AEAD_OVERHEAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::records;

    fn keys() -> SessionKeys {
        SessionKeys::new(RecordAead::Aes128Ccm8, &[1; 16], &[2; 16], &[3; 4], &[4; 4]).unwrap()
    }

    #[test]
    fn transferred_state_talks_to_the_original() {
        // A server that negotiated the session, and a client.
        let mut server = RecordLayer::new(Role::Server);
        server.install_keys(keys());
        server.start_write_epoch().unwrap();
        server.start_read_epoch().unwrap();
        let mut client = RecordLayer::new(Role::Client);
        client.install_keys(keys());
        client.start_write_epoch().unwrap();
        client.start_read_epoch().unwrap();

        let mut d = Vec::new();
        client
            .write_record(1, ContentType::ApplicationData, b"one", &mut d)
            .unwrap();
        let r = records(&d).next().unwrap().unwrap();
        assert_eq!(server.open(&r).unwrap().unwrap().plaintext, b"one");
        let mut w = Vec::new();
        server
            .write_record(1, ContentType::ApplicationData, b"two", &mut w)
            .unwrap();

        // Transfer the server's session to a "mote" and go on from exactly there.
        let state = server.export_session().unwrap();
        assert_eq!(
            (
                state.write_epoch,
                state.next_write_seq,
                state.read_highest_seq
            ),
            (1, 1, Some(0))
        );
        let mut mote = RecordLayer::from_session(&state).unwrap();
        // The replayed record is refused by the mote too.
        assert!(mote.open(&r).unwrap().is_none());
        let mut d2 = Vec::new();
        client
            .write_record(1, ContentType::ApplicationData, b"three", &mut d2)
            .unwrap();
        let r2 = records(&d2).next().unwrap().unwrap();
        assert_eq!(mote.open(&r2).unwrap().unwrap().plaintext, b"three");
        let mut m = Vec::new();
        mote.write_record(1, ContentType::ApplicationData, b"four", &mut m)
            .unwrap();
        let rm = records(&m).next().unwrap().unwrap();
        assert_eq!(
            rm.sequence_number(),
            1,
            "continues after the server's last record"
        );
        let rw = records(&w).next().unwrap().unwrap();
        assert_eq!(client.open(&rw).unwrap().unwrap().plaintext, b"two");
        assert_eq!(client.open(&rm).unwrap().unwrap().plaintext, b"four");
    }

    #[test]
    fn tampered_record_fails_and_is_not_marked() {
        let mut a = RecordLayer::new(Role::Client);
        a.install_keys(keys());
        a.start_write_epoch().unwrap();
        let mut b = RecordLayer::new(Role::Server);
        b.install_keys(keys());
        b.start_read_epoch().unwrap();
        let mut d = Vec::new();
        a.write_record(1, ContentType::ApplicationData, b"x", &mut d)
            .unwrap();
        let mut bad = d.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        let r = records(&bad).next().unwrap().unwrap();
        assert_eq!(b.open(&r).unwrap_err(), Error::DecryptFailed);
        let r = records(&d).next().unwrap().unwrap();
        assert!(b.open(&r).unwrap().is_some());
    }

    #[test]
    fn forged_plaintext_record_moves_no_window() {
        let mut b = RecordLayer::new(Role::Server);
        let mut forged = Vec::new();
        RecordHeader {
            content_type: ContentType::Handshake,
            version: ProtocolVersion::DTLS1_2,
            epoch: 0,
            sequence_number: RecordHeader::MAX_SEQUENCE,
        }
        .emit(b"junk", &mut forged);
        assert!(
            b.open(&records(&forged).next().unwrap().unwrap())
                .unwrap()
                .is_some()
        );
        let mut a = RecordLayer::new(Role::Client);
        let mut d = Vec::new();
        a.write_record(0, ContentType::Handshake, b"hello", &mut d)
            .unwrap();
        let r = records(&d).next().unwrap().unwrap();
        assert_eq!(
            b.open(&r).unwrap().unwrap().plaintext,
            b"hello",
            "a genuine epoch-0 record after the forged one"
        );
        // Keys and the peer's epoch 1: the forged epoch-0 record left its window untouched.
        a.install_keys(keys());
        a.start_write_epoch().unwrap();
        b.install_keys(keys());
        b.start_read_epoch().unwrap();
        assert!(
            b.open(&records(&forged).next().unwrap().unwrap())
                .unwrap()
                .is_some()
        );
        let mut e = Vec::new();
        a.write_record(1, ContentType::Handshake, b"finished", &mut e)
            .unwrap();
        assert!(
            b.open(&records(&e).next().unwrap().unwrap())
                .unwrap()
                .is_some()
        );
        assert_eq!(b.export_session().unwrap().read_highest_seq, Some(0));
    }

    #[test]
    fn keys_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", keys()),
            "SessionKeys { Aes128Ccm8, <redacted> }"
        );
    }
}
