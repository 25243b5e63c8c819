//! Random secrets from the OS RNG and their hex form. Everything secret lives in
//! `Zeroizing` containers so it is wiped when dropped.

use zeroize::Zeroizing;

use crate::Error;

/// `N` bytes from the operating system's RNG (getrandom).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::Random(e.to_string()))?;
    Ok(b)
}

/// A secret key of `N` random bytes.
pub fn random_key<const N: usize>() -> Result<Zeroizing<[u8; N]>, Error> {
    let mut k = Zeroizing::new([0u8; N]);
    getrandom::fill(k.as_mut_slice()).map_err(|e| Error::Random(e.to_string()))?;
    Ok(k)
}

/// Lower-case hex, in a buffer that is wiped when dropped.
pub fn hex(bytes: &[u8]) -> Zeroizing<String> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = Zeroizing::new(String::with_capacity(bytes.len() * 2));
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0x00, 0x1f, 0xa0, 0xff]).as_str(), "001fa0ff");
    }

    #[test]
    fn keys_differ() {
        let a = random_key::<16>().unwrap();
        let b = random_key::<16>().unwrap();
        assert_ne!(*a, *b);
    }
}
