//! The key schedule of docs/mote-association.md ("Keys") and the tags and seals of each
//! message: what both machines compute, in one place.

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::{
    self, Aes128Block, BadTag, Key, NONCE_LEN, PublicKey, SharedSecret, TAG_LEN, cmac8, ct_eq, kdf,
    prf,
};
use crate::wire::{
    AssocReady, Confirm, ConfirmRepr, Connect, ConnectFailed, ConnectFailedRepr, ConnectRepr,
    MessageType, Poke, PokeRepr, SignRequest, SignRequestRepr, SignResponse, SignResponseRepr,
    Transfer, TransferBody, Unassociated, UnassociatedRepr,
};

/// The length a PSK may have.
pub const PSK_LEN: core::ops::RangeInclusive<usize> = 16..=32;

/// A PSK outside [`PSK_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPskLength(pub usize);

/// The mote's provisioned credentials: its PSK and EUI-64, and `K_hello` derived from them.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Credentials {
    psk: [u8; 32],
    psk_len: u8,
    mote_id: [u8; 8],
    k_hello: Key,
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials")
            .field("mote_id", &self.mote_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// `psk` must have 16 to 32 bytes; `mote_id` is the mote's EUI-64.
    pub fn new<A: Aes128Block>(psk: &[u8], mote_id: [u8; 8]) -> Result<Credentials, BadPskLength> {
        if !PSK_LEN.contains(&psk.len()) {
            return Err(BadPskLength(psk.len()));
        }
        let mut stored = [0u8; 32];
        if let Some(dst) = stored.get_mut(..psk.len()) {
            dst.copy_from_slice(psk);
        }
        // K_hello = KDF(PRF(0^16, PSK), "assoc hello", mote_id)
        let extracted = prf::<A>(&[0u8; 16], &[psk]);
        let k_hello = kdf::<A>(&extracted, b"assoc hello", &[&mote_id]);
        Ok(Credentials {
            psk: stored,
            psk_len: psk.len() as u8,
            mote_id,
            k_hello,
        })
    }

    pub fn mote_id(&self) -> [u8; 8] {
        self.mote_id
    }

    fn psk(&self) -> &[u8] {
        self.psk
            .get(..usize::from(self.psk_len))
            .unwrap_or(&self.psk)
    }

    pub fn k_hello(&self) -> &Key {
        &self.k_hello
    }

    /// AssocHello's tag: `CMAC(K_hello, 0x11 || E_m)`, first 8 bytes.
    pub fn hello_tag<A: Aes128Block>(&self, e_m: &PublicKey) -> [u8; TAG_LEN] {
        cmac8::<A>(
            &self.k_hello,
            &[&[MessageType::AssocHello.first_byte()], e_m],
        )
    }

    /// Unassociated's tag over its bytes 0..7.
    pub fn unassociated_tag<A: Aes128Block>(&self, r: &UnassociatedRepr) -> [u8; TAG_LEN] {
        let bytes = r.to_bytes();
        cmac8::<A>(
            &self.k_hello,
            &[Unassociated::new_unchecked(&bytes[..]).authenticated()],
        )
    }

    /// Poke's tag over its bytes 0..5.
    pub fn poke_tag<A: Aes128Block>(&self, r: &PokeRepr) -> [u8; TAG_LEN] {
        let bytes = r.to_bytes();
        cmac8::<A>(
            &self.k_hello,
            &[Poke::new_unchecked(&bytes[..]).authenticated()],
        )
    }

    /// The keys of a new association from the ECDH result and both ephemeral public keys.
    /// `K_root` exists only inside this call.
    pub fn associate<A: Aes128Block>(
        &self,
        z: &SharedSecret,
        e_m: &PublicKey,
        e_s: &PublicKey,
    ) -> AssociationKeys {
        // K_root = PRF(PSK, Z || E_m || E_s)
        let root = prf::<A>(self.psk(), &[&z.0, e_m, e_s]);
        let id = kdf::<A>(&root, b"assoc id", &[]).0[0];
        let k0 = kdf::<A>(&root, b"assoc key", &[e_m, e_s]);
        let a = kdf::<A>(&k0, b"ready", &[]);
        let requests = kdf::<A>(&k0, b"requests", &[]);
        AssociationKeys {
            id,
            ratchet: Ratchet { n: 0, key: k0 },
            a,
            requests,
        }
    }
}

/// What a new association starts from: its id, `K_0` (as a ratchet at `n = 0`) and `A`.
#[derive(Debug)]
pub struct AssociationKeys {
    pub id: u8,
    pub ratchet: Ratchet,
    /// Authenticates AssocAccept and AssocReady.
    pub a: Key,
    /// `R`: authenticates Connect, ConnectFailed, SignRequest and SignResponse for the
    /// association's lifetime.
    pub requests: Key,
}

/// Connect's tag: `CMAC(R, bytes 0..24)`, first 8 bytes.
pub fn connect_tag<A: Aes128Block>(requests: &Key, r: &ConnectRepr) -> [u8; TAG_LEN] {
    let bytes = r.to_bytes();
    cmac8::<A>(
        requests,
        &[Connect::new_unchecked(&bytes[..]).authenticated()],
    )
}

/// SignRequest's tag: `CMAC(R, bytes 0..39)`, first 8 bytes.
pub fn sign_request_tag<A: Aes128Block>(requests: &Key, r: &SignRequestRepr) -> [u8; TAG_LEN] {
    let bytes = r.to_bytes();
    cmac8::<A>(
        requests,
        &[SignRequest::new_unchecked(&bytes[..]).authenticated()],
    )
}

/// SignResponse's tag: `CMAC(R, bytes 0..71)`, first 8 bytes.
pub fn sign_response_tag<A: Aes128Block>(requests: &Key, r: &SignResponseRepr) -> [u8; TAG_LEN] {
    let bytes = r.to_bytes();
    cmac8::<A>(
        requests,
        &[SignResponse::new_unchecked(&bytes[..]).authenticated()],
    )
}

/// ConnectFailed's tag: `CMAC(R, bytes 0..7)`, first 8 bytes.
pub fn connect_failed_tag<A: Aes128Block>(requests: &Key, r: &ConnectFailedRepr) -> [u8; TAG_LEN] {
    let bytes = r.to_bytes();
    cmac8::<A>(
        requests,
        &[ConnectFailed::new_unchecked(&bytes[..]).authenticated()],
    )
}

/// AssocAccept's tag: `CMAC(A, 0x21 || id || E_m || E_s)`, first 8 bytes.
pub fn accept_tag<A: Aes128Block>(
    a: &Key,
    id: u8,
    e_m: &PublicKey,
    e_s: &PublicKey,
) -> [u8; TAG_LEN] {
    cmac8::<A>(a, &[&[MessageType::AssocAccept.first_byte(), id], e_m, e_s])
}

/// AssocReady's tag: `CMAC(A, bytes 0..4)`, first 8 bytes.
pub fn ready_tag<A: Aes128Block>(a: &Key, ready: &[u8; 12]) -> [u8; TAG_LEN] {
    cmac8::<A>(a, &[AssocReady::new_unchecked(&ready[..]).authenticated()])
}

/// `K_n` and its `n`. Advancing replaces `K_n` by `K_{n+1}` and wipes `K_n`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Ratchet {
    n: u32,
    key: Key,
}

impl core::fmt::Debug for Ratchet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ratchet")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

/// Bytes 0..6 of a Transfer and bytes 0..8 of a Confirm are their seal's associated data;
/// the nonce is `type || id || n || 0^7`.
fn nonce(typ: MessageType, id: u8, n: u32) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[0] = typ.nibble();
    nonce[1] = id;
    nonce[2..6].copy_from_slice(&n.to_be_bytes());
    nonce
}

impl Ratchet {
    pub fn n(&self) -> u32 {
        self.n
    }

    /// `K_{n+1} = KDF(K_n, "ratchet", n)`; `K_n` is wiped. `None` when `n` is the last
    /// counter (the association is then used up: both sides re-associate).
    pub fn advance<A: Aes128Block>(&mut self) -> Option<()> {
        let next = self.n.checked_add(1)?;
        self.key = kdf::<A>(&self.key, b"ratchet", &[&self.n.to_be_bytes()]);
        self.n = next;
        Some(())
    }

    /// `T_n`.
    fn transfer_key<A: Aes128Block>(&self) -> Key {
        kdf::<A>(&self.key, b"transfer", &[&self.n.to_be_bytes()])
    }

    /// `C_n`.
    fn confirm_key<A: Aes128Block>(&self) -> Key {
        kdf::<A>(&self.key, b"confirm", &[&self.n.to_be_bytes()])
    }

    /// Transfer `n` of association `id` with `body`, into `out`; returns its length.
    pub fn seal_transfer<A: Aes128Block>(
        &self,
        id: u8,
        body: &TransferBody,
        out: &mut [u8; Transfer::<&[u8]>::MAX_LEN],
    ) -> usize {
        let body_len = body.buffer_len();
        let len = Transfer::<&[u8]>::HEADER_LEN + body_len + TAG_LEN;
        let mut t = Transfer::new_unchecked(&mut out[..]);
        t.set_type();
        t.set_id(id);
        t.set_n(self.n);
        let header = t.header();
        let sealed = t.sealed_mut();
        let (plain, tag_at) = sealed.split_at_mut(body_len.min(sealed.len()));
        body.emit(plain);
        let tag = crypto::seal::<A>(
            &self.transfer_key::<A>(),
            &nonce(MessageType::Transfer, id, self.n),
            &header,
            plain,
        );
        if let Some(dst) = tag_at.get_mut(..TAG_LEN) {
            dst.copy_from_slice(&tag);
        }
        len
    }

    /// Opens Transfer `n` (whose header and sealed body are given) with `T_n`. The plaintext
    /// never leaves the wiped scratch buffer; what comes out is the parsed body, or
    /// `Ok(Err(_))` when it opened but is not a valid body.
    pub fn open_transfer<A: Aes128Block>(
        &self,
        id: u8,
        header: &[u8; 6],
        sealed: &[u8],
    ) -> Result<Result<TransferBody, crate::wire::Error>, BadTag> {
        let mut scratch = Zeroizing::new([0u8; TransferBody::MAX_LEN]);
        let body_len = sealed.len().checked_sub(TAG_LEN).ok_or(BadTag)?;
        let (ct, tag) = sealed.split_at(body_len);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| BadTag)?;
        let plain = scratch.get_mut(..body_len).ok_or(BadTag)?;
        plain.copy_from_slice(ct);
        crypto::open::<A>(
            &self.transfer_key::<A>(),
            &nonce(MessageType::Transfer, id, self.n),
            header,
            plain,
            &tag,
        )?;
        Ok(TransferBody::parse(plain))
    }

    /// Confirm `n`'s tag: `Seal(C_n, 0x05 || id || n || 0^7, bytes 0..8, "")`.
    pub fn confirm_tag<A: Aes128Block>(&self, r: &ConfirmRepr) -> [u8; TAG_LEN] {
        let bytes = r.to_bytes();
        let aad = Confirm::new_unchecked(&bytes[..]);
        crypto::seal::<A>(
            &self.confirm_key::<A>(),
            &nonce(MessageType::Confirm, r.id, self.n),
            aad.authenticated(),
            &mut [],
        )
    }

    /// Whether Confirm `r` (for this `n`) carries the right tag.
    pub fn confirm_verifies<A: Aes128Block>(&self, r: &ConfirmRepr) -> bool {
        r.n == self.n && ct_eq(&self.confirm_tag::<A>(r), &r.tag)
    }
}

#[cfg(test)]
impl Ratchet {
    pub(crate) fn key_bytes(&self) -> [u8; 16] {
        self.key.0
    }
}

#[cfg(all(test, feature = "soft-aes", feature = "soft-ecc"))]
pub(crate) mod tests;
