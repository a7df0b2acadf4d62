//! The firmware checksum: an MD5 digest written as 32 lowercase hexadecimal digits.
//!
//! Outbound it is always lowercase, as DESIGN.md requires. Inbound, upper-case digits are
//! accepted and lowered: the digest is the same, and only commands (ours or another
//! operator's) carry a checksum, so rejecting them would only hide another operator's
//! deployment.

use std::fmt;

/// Length of an MD5 digest in hexadecimal digits.
pub const MD5_HEX_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    #[error("checksum has {len} characters; an MD5 digest has {MD5_HEX_LEN} hex digits")]
    WrongLength { len: usize },
    #[error("checksum has a non-hexadecimal character at position {at}")]
    NotHex { at: usize },
}

/// An MD5 digest in lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Md5Hex([u8; MD5_HEX_LEN]);

impl Md5Hex {
    /// Parses 32 hex digits of either case; stores them lowercase.
    pub fn parse(text: &str) -> Result<Self, ChecksumError> {
        let bytes = text.as_bytes();
        if bytes.len() != MD5_HEX_LEN {
            return Err(ChecksumError::WrongLength {
                len: text.chars().count(),
            });
        }
        let mut out = [0u8; MD5_HEX_LEN];
        for (at, (slot, &b)) in out.iter_mut().zip(bytes).enumerate() {
            if !b.is_ascii_hexdigit() {
                return Err(ChecksumError::NotHex { at });
            }
            *slot = b.to_ascii_lowercase();
        }
        Ok(Self(out))
    }

    /// Formats a raw 16-byte digest, as an MD5 hasher returns it.
    pub fn from_digest(digest: [u8; 16]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; MD5_HEX_LEN];
        for (i, byte) in digest.iter().enumerate() {
            out[2 * i] = HEX[usize::from(byte >> 4)];
            out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        Self(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored, so this cannot fail; the fallback is
        // unreachable but keeps the function total.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for Md5Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Md5Hex {
    type Err = ChecksumError;
    fn from_str(text: &str) -> Result<Self, ChecksumError> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "8a3be389a446bba670da3a33e5506d2e";

    #[test]
    fn lowercase_hex_parses_unchanged() {
        assert_eq!(
            Md5Hex::parse(SPEC).map(|c| c.to_string()),
            Ok(SPEC.to_owned())
        );
    }

    #[test]
    fn uppercase_hex_is_accepted_and_lowered() {
        let upper = SPEC.to_uppercase();
        assert_eq!(
            Md5Hex::parse(&upper).map(|c| c.to_string()),
            Ok(SPEC.to_owned())
        );
    }

    #[test]
    fn wrong_length_and_non_hex_are_refused() {
        assert_eq!(
            Md5Hex::parse(""),
            Err(ChecksumError::WrongLength { len: 0 })
        );
        assert_eq!(
            Md5Hex::parse(&SPEC[..31]),
            Err(ChecksumError::WrongLength { len: 31 })
        );
        let mut bad = SPEC.to_owned();
        bad.replace_range(5..6, "g");
        assert_eq!(Md5Hex::parse(&bad), Err(ChecksumError::NotHex { at: 5 }));
        // 32 bytes but not 32 ASCII characters.
        let multibyte = format!("{}é", &SPEC[..30]);
        assert!(Md5Hex::parse(&multibyte).is_err());
    }

    #[test]
    fn digest_formats_as_lowercase_hex() {
        let digest = [
            0x8a, 0x3b, 0xe3, 0x89, 0xa4, 0x46, 0xbb, 0xa6, 0x70, 0xda, 0x3a, 0x33, 0xe5, 0x50,
            0x6d, 0x2e,
        ];
        assert_eq!(Md5Hex::from_digest(digest).as_str(), SPEC);
    }
}
