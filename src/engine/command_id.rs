//! A command's correlation id as the engine keeps it: the 16 bytes of the UUID for the ids
//! Storefleet makes (lower-case hyphenated v4), the text only for an id someone else chose
//! (a cancel adopted from another client, a history written by hand).
//!
//! Why: a 100,000-target deployment holds one id per command, and as text each is a 52-byte
//! allocation beside its 16-byte pointer (issue 13's budget is ~300 B per target). Only the
//! canonical form is packed, so the id written back is always the exact text that was sent.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::protocol::Id;

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum CommandId {
    /// A lower-case hyphenated UUID: written back as exactly that text.
    Uuid(Uuid),
    /// Any other id, as it came.
    Text(Id),
}

impl CommandId {
    /// A fresh random id, as [`Id::new_v4`] makes them.
    pub fn new_v4() -> Self {
        Self::Uuid(Uuid::new_v4())
    }

    /// The compact form of `id`; no allocation for a canonical UUID.
    pub fn of(id: &Id) -> Self {
        match canonical_uuid(id.as_str()) {
            Some(uuid) => Self::Uuid(uuid),
            None => Self::Text(id.clone()),
        }
    }

    /// The id as text, for the wire and the history (allocates for a UUID).
    pub fn to_id(&self) -> Id {
        match self {
            Self::Uuid(uuid) => Id::from_uuid(uuid),
            Self::Text(id) => id.clone(),
        }
    }

    /// Whether this is the id `id` spells.
    pub fn is(&self, id: &Id) -> bool {
        match self {
            Self::Uuid(uuid) => canonical_uuid(id.as_str()) == Some(*uuid),
            Self::Text(text) => text == id,
        }
    }
}

/// `text` as a UUID if it is one in exactly the lower-case hyphenated form.
fn canonical_uuid(text: &str) -> Option<Uuid> {
    if text.len() != 36 {
        return None;
    }
    let uuid = Uuid::try_parse(text).ok()?;
    let mut buf = Uuid::encode_buffer();
    (uuid.hyphenated().encode_lower(&mut buf) as &str == text).then_some(uuid)
}

impl From<Id> for CommandId {
    fn from(id: Id) -> Self {
        match canonical_uuid(id.as_str()) {
            Some(uuid) => Self::Uuid(uuid),
            None => Self::Text(id),
        }
    }
}

impl From<&CommandId> for Id {
    fn from(id: &CommandId) -> Self {
        id.to_id()
    }
}

impl PartialEq<Id> for CommandId {
    fn eq(&self, other: &Id) -> bool {
        self.is(other)
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uuid(uuid) => fmt::Display::fmt(&uuid.hyphenated(), f),
            Self::Text(id) => f.write_str(id.as_str()),
        }
    }
}

impl fmt::Debug for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

/// As the text, exactly like [`Id`], so records written before keep their shape.
impl Serialize for CommandId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CommandId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Id::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_id_is_packed_and_spelled_as_id_new_v4_spells_them() {
        let id = CommandId::new_v4();
        assert!(matches!(id, CommandId::Uuid(_)));
        let text = id.to_id();
        assert_eq!(text.as_str().len(), 36);
        assert_eq!(text.as_str(), text.as_str().to_lowercase());
        assert_eq!(CommandId::of(&text), id);
        assert!(id.is(&text));
    }

    #[test]
    fn only_the_canonical_form_is_packed_so_every_id_is_written_back_as_it_came() {
        for text in [
            "3F2504E0-4F89-41D3-9A0C-0305E82C3301",   // upper case
            "{3f2504e0-4f89-41d3-9a0c-0305e82c3301}", // braced
            "3f2504e04f8941d39a0c0305e82c3301",       // simple
            "corr-1",
            "3f2504e0-4f89-41d3-9a0c-0305e82c330g", // not hex
        ] {
            let id = Id::new(text).unwrap();
            let compact = CommandId::of(&id);
            assert!(matches!(compact, CommandId::Text(_)), "{text}");
            assert_eq!(compact.to_id(), id);
            assert_eq!(compact.to_string(), text);
        }
        let id = Id::new("3f2504e0-4f89-41d3-9a0c-0305e82c3301").unwrap();
        let compact = CommandId::of(&id);
        assert!(matches!(compact, CommandId::Uuid(_)));
        assert_eq!(compact.to_id(), id);
        // The upper-case spelling is another id: a reply must echo ours exactly.
        assert!(!compact.is(&Id::new("3F2504E0-4F89-41D3-9A0C-0305E82C3301").unwrap()));
    }

    #[test]
    fn serde_keeps_the_text() {
        let id = CommandId::of(&Id::new("3f2504e0-4f89-41d3-9a0c-0305e82c3301").unwrap());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"3f2504e0-4f89-41d3-9a0c-0305e82c3301\"");
        assert_eq!(serde_json::from_str::<CommandId>(&json).unwrap(), id);
        let other: CommandId = serde_json::from_str("\"corr-1\"").unwrap();
        assert_eq!(other.to_string(), "corr-1");
        assert!(serde_json::from_str::<CommandId>("\"a/b\"").is_err());
    }

    #[test]
    fn small() {
        assert_eq!(std::mem::size_of::<CommandId>(), 24);
    }
}
