//! Validated identifiers: store, controller, deployment and correlation ids.
//!
//! An id ends up inside an MQTT topic level, so anything that would change the topic's
//! shape (`/`), act as a wildcard (`+`, `#`) or that MQTT forbids (NUL) is refused, and so is
//! anything a person could not see or tell apart on screen (control and format characters).
//! The check happens when the value is built, so nothing unchecked is ever published.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest id accepted, in characters (Unicode scalar values), not bytes.
pub const MAX_ID_CHARS: usize = 128;

/// Which identifier rule a candidate broke. Positions count characters from zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id is {chars} characters long; at most {MAX_ID_CHARS} are allowed")]
    TooLong { chars: usize },
    #[error("id contains NUL at character {at}")]
    Nul { at: usize },
    #[error("id contains {ch:?} at character {at}; '/', '+' and '#' are not allowed")]
    Forbidden { ch: char, at: usize },
    #[error("id contains the control character {ch:?} at character {at}")]
    Control { ch: char, at: usize },
    #[error("id contains the non-printable character {ch:?} at character {at}")]
    NotPrintable { ch: char, at: usize },
}

impl IdError {
    /// Stable machine-readable name of the broken rule.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong { .. } => "too_long",
            Self::Nul { .. } => "nul",
            Self::Forbidden { .. } => "forbidden_character",
            Self::Control { .. } => "control_character",
            Self::NotPrintable { .. } => "not_printable",
        }
    }
}

/// A store, controller, deployment or correlation id that is safe to publish.
///
/// Serde (de)serializes it as a plain string and validates on the way in.
///
/// Shared, not copied: a target's ids are held by the engine, its commands, transitions and
/// history writes, and a clone is a reference count, not an allocation (issue 13).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(Arc<str>);

impl Id {
    /// Checks `value` against the identifier rules.
    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        validate(&value)?;
        Ok(Self(value.into()))
    }

    /// A fresh random UUID v4, hyphenated and lower case, as the spec's examples show.
    pub fn new_v4() -> Self {
        Self::from_uuid(&Uuid::new_v4())
    }

    /// A UUID as an id, hyphenated and lower case (always valid).
    pub fn from_uuid(uuid: &Uuid) -> Self {
        let mut buf = Uuid::encode_buffer();
        Self(Arc::from(&*uuid.hyphenated().encode_lower(&mut buf)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0.to_string()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Id {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::new(value)
    }
}

impl TryFrom<&str> for Id {
    type Error = IdError;
    fn try_from(value: &str) -> Result<Self, IdError> {
        Self::new(value)
    }
}

impl std::str::FromStr for Id {
    type Err = IdError;
    fn from_str(value: &str) -> Result<Self, IdError> {
        Self::new(value)
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0.to_string()
    }
}

/// Applies the rules in order: empty, length, then the first offending character.
fn validate(value: &str) -> Result<(), IdError> {
    // Fast path for the usual id, printable ASCII: one pass over the bytes. Anything else
    // (including every error) takes the full rules below.
    if !value.is_empty()
        && value.len() <= MAX_ID_CHARS
        && value
            .bytes()
            .all(|b| matches!(b, 0x20..=0x7E) && !matches!(b, b'/' | b'+' | b'#'))
    {
        return Ok(());
    }
    if value.is_empty() {
        return Err(IdError::Empty);
    }
    let chars = value.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(IdError::TooLong { chars });
    }
    for (at, ch) in value.chars().enumerate() {
        check_char(ch, at)?;
    }
    Ok(())
}

/// The per-character rule shared by ids and topic prefix levels.
pub(crate) fn check_char(ch: char, at: usize) -> Result<(), IdError> {
    match ch {
        '\0' => Err(IdError::Nul { at }),
        '/' | '+' | '#' => Err(IdError::Forbidden { ch, at }),
        c if c.is_control() => Err(IdError::Control { ch, at }),
        c if !is_printable(c) => Err(IdError::NotPrintable { ch, at }),
        _ => Ok(()),
    }
}

/// True for a character a person can see: not a control (Cc), format (Cf), line or
/// paragraph separator (Zl, Zp) character, and not a Unicode noncharacter.
///
/// Format characters are invisible (zero-width space, bidi overrides) and would let two ids
/// that differ look identical in the activity view. Ordinary spaces are printable.
pub(crate) fn is_printable(ch: char) -> bool {
    let u = u32::from(ch);
    let control = ch.is_control();
    let separator = matches!(u, 0x2028 | 0x2029);
    let noncharacter = (0xFDD0..=0xFDEF).contains(&u) || (u & 0xFFFE) == 0xFFFE;
    !(control || separator || noncharacter || is_format(u))
}

/// Unicode general category Cf (format), as of Unicode 15.1.
fn is_format(u: u32) -> bool {
    matches!(
        u,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_like_and_unicode_ids_are_accepted() {
        for ok in [
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
            "store 42",
            "ctrl_01.main",
            "магазин-7",
            "店舗🙂",
            "$weird-but-fine",
        ] {
            assert_eq!(Id::new(ok).map(|id| id.into_string()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn empty_id_is_refused() {
        assert_eq!(Id::new(""), Err(IdError::Empty));
    }

    #[test]
    fn id_of_128_characters_is_accepted_and_129_refused() {
        assert!(Id::new("a".repeat(128)).is_ok());
        assert_eq!(
            Id::new("a".repeat(129)),
            Err(IdError::TooLong { chars: 129 })
        );
    }

    #[test]
    fn id_length_counts_characters_not_bytes() {
        // 128 four-byte characters: 512 bytes, still 128 characters.
        assert!(Id::new("🙂".repeat(128)).is_ok());
        assert_eq!(
            Id::new("é".repeat(129)),
            Err(IdError::TooLong { chars: 129 })
        );
    }

    #[test]
    fn slash_plus_and_hash_are_refused() {
        assert_eq!(Id::new("a/b"), Err(IdError::Forbidden { ch: '/', at: 1 }));
        assert_eq!(Id::new("+"), Err(IdError::Forbidden { ch: '+', at: 0 }));
        assert_eq!(Id::new("ab#"), Err(IdError::Forbidden { ch: '#', at: 2 }));
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(Id::new("a\0b"), Err(IdError::Nul { at: 1 }));
    }

    #[test]
    fn control_characters_are_refused() {
        for (s, ch) in [
            ("a\nb", '\n'),
            ("a\tb", '\t'),
            ("a\u{7f}b", '\u{7f}'),
            ("a\u{85}b", '\u{85}'),
        ] {
            assert_eq!(Id::new(s), Err(IdError::Control { ch, at: 1 }), "{s:?}");
        }
    }

    #[test]
    fn invisible_and_noncharacters_are_refused() {
        for ch in [
            '\u{200B}',
            '\u{202E}',
            '\u{FEFF}',
            '\u{2028}',
            '\u{FFFF}',
            '\u{FDD0}',
            '\u{E0041}',
        ] {
            let s = format!("a{ch}");
            assert_eq!(
                Id::new(s),
                Err(IdError::NotPrintable { ch, at: 1 }),
                "{ch:?}"
            );
        }
    }

    #[test]
    fn new_v4_is_a_valid_lowercase_uuid_v4_and_fresh() {
        let a = Id::new_v4();
        let b = Id::new_v4();
        assert_ne!(a, b);
        let parsed = Uuid::parse_str(a.as_str()).expect("uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(a.as_str(), a.as_str().to_lowercase());
        assert_eq!(a.as_str().len(), 36);
    }

    #[test]
    fn serde_validates_ids() {
        let ok: Result<Id, _> = serde_json::from_str("\"abc\"");
        assert!(ok.is_ok());
        let bad: Result<Id, _> = serde_json::from_str("\"a/b\"");
        assert!(bad.is_err());
    }

    #[test]
    fn error_codes_are_distinct() {
        let errors = [
            IdError::Empty,
            IdError::TooLong { chars: 129 },
            IdError::Nul { at: 0 },
            IdError::Forbidden { ch: '/', at: 0 },
            IdError::Control { ch: '\n', at: 0 },
            IdError::NotPrintable {
                ch: '\u{200B}',
                at: 0,
            },
        ];
        let codes: std::collections::HashSet<_> = errors.iter().map(IdError::code).collect();
        assert_eq!(codes.len(), errors.len());
    }
}
