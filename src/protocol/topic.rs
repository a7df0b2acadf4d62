//! Topic names: `{prefix}/stores/{store_id}/controllers/{controller_id}/{action|ack}`.
//!
//! The spec's topics start with a slash; the optional prefix (for shared brokers) is put in
//! front verbatim, so prefix `site1` gives `site1/stores/...` and the empty prefix gives the
//! spec's exact topics.
//!
//! Prefix rule: empty, or one or more non-empty levels joined by `/` (so no leading or
//! trailing `/` and no `//`), each level made of printable characters without `+`, `#` or
//! NUL (the id character rule minus the `/` separator), not starting with `$` (topics that
//! start with `$` belong to the broker), at most [`MAX_PREFIX_CHARS`] characters.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ids::{Id, IdError, check_char};

/// Longest topic prefix accepted, in characters.
pub const MAX_PREFIX_CHARS: usize = 256;

/// The last topic level: commands and results travel on `action`, acknowledgements on `ack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    Action,
    Ack,
}

impl TopicKind {
    pub const ALL: [TopicKind; 2] = [TopicKind::Action, TopicKind::Ack];

    /// The topic's last level.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Ack => "ack",
        }
    }
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicPrefixError {
    #[error("topic prefix is {chars} characters long; at most {MAX_PREFIX_CHARS} are allowed")]
    TooLong { chars: usize },
    #[error("topic prefix has an empty level (leading, trailing or double '/')")]
    EmptyLevel,
    #[error("topic prefix must not start with '$' (reserved for the broker)")]
    Reserved,
    #[error("topic prefix: {0}")]
    BadCharacter(IdError),
}

/// A validated topic prefix; the default is empty (the spec's topics, unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicPrefix(String);

impl TopicPrefix {
    pub fn new(value: impl Into<String>) -> Result<Self, TopicPrefixError> {
        let value = value.into();
        if value.is_empty() {
            return Ok(Self(value));
        }
        let chars = value.chars().count();
        if chars > MAX_PREFIX_CHARS {
            return Err(TopicPrefixError::TooLong { chars });
        }
        if value.starts_with('$') {
            return Err(TopicPrefixError::Reserved);
        }
        if value.split('/').any(str::is_empty) {
            return Err(TopicPrefixError::EmptyLevel);
        }
        for (at, ch) in value.chars().enumerate() {
            if ch != '/' {
                check_char(ch, at).map_err(TopicPrefixError::BadCharacter)?;
            }
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TopicPrefix {
    type Error = TopicPrefixError;
    fn try_from(value: String) -> Result<Self, TopicPrefixError> {
        Self::new(value)
    }
}

impl From<TopicPrefix> for String {
    fn from(prefix: TopicPrefix) -> String {
        prefix.0
    }
}

/// Why a topic is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic does not start with the configured prefix")]
    PrefixMismatch,
    #[error("topic is not /stores/{{store_id}}/controllers/{{controller_id}}/action|ack")]
    Layout,
    #[error("topic's store_id: {0}")]
    StoreId(IdError),
    #[error("topic's controller_id: {0}")]
    ControllerId(IdError),
}

/// Where a message goes or came from: one controller's action or ack topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicAddress {
    pub store_id: Id,
    pub controller_id: Id,
    pub kind: TopicKind,
}

impl TopicAddress {
    pub fn new(store_id: Id, controller_id: Id, kind: TopicKind) -> Self {
        Self {
            store_id,
            controller_id,
            kind,
        }
    }

    /// The full topic name under `prefix`.
    pub fn render(&self, prefix: &TopicPrefix) -> String {
        format!(
            "{}/stores/{}/controllers/{}/{}",
            prefix.as_str(),
            self.store_id,
            self.controller_id,
            self.kind
        )
    }

    /// Splits a received topic name into its ids and kind; never panics.
    pub fn parse(topic: &str, prefix: &TopicPrefix) -> Result<Self, TopicError> {
        let rest = topic
            .strip_prefix(prefix.as_str())
            .ok_or(TopicError::PrefixMismatch)?;
        let mut levels = rest.split('/');
        let (Some(""), Some("stores"), Some(store), Some("controllers"), Some(ctrl), Some(kind)) = (
            levels.next(),
            levels.next(),
            levels.next(),
            levels.next(),
            levels.next(),
            levels.next(),
        ) else {
            return Err(TopicError::Layout);
        };
        if levels.next().is_some() {
            return Err(TopicError::Layout);
        }
        let kind = match kind {
            "action" => TopicKind::Action,
            "ack" => TopicKind::Ack,
            _ => return Err(TopicError::Layout),
        };
        let store_id = Id::new(store).map_err(TopicError::StoreId)?;
        let controller_id = Id::new(ctrl).map_err(TopicError::ControllerId)?;
        Ok(Self::new(store_id, controller_id, kind))
    }
}

/// The wildcard filter that matches every controller's topics of one kind.
pub fn subscription_filter(prefix: &TopicPrefix, kind: TopicKind) -> String {
    format!("{}/stores/+/controllers/+/{}", prefix.as_str(), kind)
}

/// Both filters Storefleet subscribes to: action first, then ack.
pub fn subscription_filters(prefix: &TopicPrefix) -> [String; 2] {
    TopicKind::ALL.map(|kind| subscription_filter(prefix, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Id {
        Id::new(s).expect("valid id")
    }

    fn prefix(s: &str) -> TopicPrefix {
        TopicPrefix::new(s).expect("valid prefix")
    }

    #[test]
    fn topics_have_the_spec_layout_with_leading_slash() {
        let action = TopicAddress::new(id("s1"), id("c1"), TopicKind::Action);
        let ack = TopicAddress::new(id("s1"), id("c1"), TopicKind::Ack);
        let none = TopicPrefix::default();
        assert_eq!(action.render(&none), "/stores/s1/controllers/c1/action");
        assert_eq!(ack.render(&none), "/stores/s1/controllers/c1/ack");
    }

    #[test]
    fn prefix_is_prepended_verbatim() {
        let a = TopicAddress::new(id("s1"), id("c1"), TopicKind::Ack);
        assert_eq!(
            a.render(&prefix("site1")),
            "site1/stores/s1/controllers/c1/ack"
        );
        assert_eq!(
            a.render(&prefix("acme/site 1")),
            "acme/site 1/stores/s1/controllers/c1/ack"
        );
    }

    #[test]
    fn bad_prefixes_are_refused() {
        assert_eq!(
            TopicPrefix::new("site1/"),
            Err(TopicPrefixError::EmptyLevel)
        );
        assert_eq!(
            TopicPrefix::new("/site1"),
            Err(TopicPrefixError::EmptyLevel)
        );
        assert_eq!(TopicPrefix::new("a//b"), Err(TopicPrefixError::EmptyLevel));
        assert_eq!(TopicPrefix::new("$SYS"), Err(TopicPrefixError::Reserved));
        assert!(matches!(
            TopicPrefix::new("a/+"),
            Err(TopicPrefixError::BadCharacter(IdError::Forbidden {
                ch: '+',
                ..
            }))
        ));
        assert!(matches!(
            TopicPrefix::new("a#"),
            Err(TopicPrefixError::BadCharacter(_))
        ));
        assert!(matches!(
            TopicPrefix::new("a\0"),
            Err(TopicPrefixError::BadCharacter(IdError::Nul { .. }))
        ));
        assert!(matches!(
            TopicPrefix::new("x".repeat(257)),
            Err(TopicPrefixError::TooLong { chars: 257 })
        ));
        assert_eq!(TopicPrefix::new(""), Ok(TopicPrefix::default()));
    }

    #[test]
    fn wildcard_filters_cover_both_families() {
        assert_eq!(
            subscription_filters(&TopicPrefix::default()),
            [
                "/stores/+/controllers/+/action".to_owned(),
                "/stores/+/controllers/+/ack".to_owned()
            ]
        );
        assert_eq!(
            subscription_filter(&prefix("site1"), TopicKind::Ack),
            "site1/stores/+/controllers/+/ack"
        );
    }

    #[test]
    fn parse_inverts_render() {
        for p in ["", "site1", "a/b/c"] {
            for kind in TopicKind::ALL {
                let a = TopicAddress::new(id("店舗"), id("c 1"), kind);
                let p = prefix(p);
                assert_eq!(TopicAddress::parse(&a.render(&p), &p), Ok(a));
            }
        }
    }

    #[test]
    fn parse_rejects_foreign_topics() {
        let none = TopicPrefix::default();
        for bad in [
            "",
            "/",
            "stores/s/controllers/c/ack",
            "/stores/s/controllers/c",
            "/stores/s/controllers/c/ack/",
            "/stores/s/controllers/c/ack/x",
            "/stores/s/controller/c/ack",
            "/shops/s/controllers/c/ack",
            "/stores/s/controllers/c/status",
            "/stores/s/controllers/c/ACK",
        ] {
            assert_eq!(
                TopicAddress::parse(bad, &none),
                Err(TopicError::Layout),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parse_rejects_invalid_ids_in_topic() {
        let none = TopicPrefix::default();
        assert_eq!(
            TopicAddress::parse("/stores//controllers/c/ack", &none),
            Err(TopicError::StoreId(IdError::Empty))
        );
        assert!(matches!(
            TopicAddress::parse("/stores/s/controllers/+/ack", &none),
            Err(TopicError::ControllerId(IdError::Forbidden { .. }))
        ));
        assert!(matches!(
            TopicAddress::parse("/stores/s\u{1}/controllers/c/ack", &none),
            Err(TopicError::StoreId(IdError::Control { .. }))
        ));
    }

    #[test]
    fn parse_requires_the_configured_prefix() {
        let site1 = prefix("site1");
        assert_eq!(
            TopicAddress::parse("/stores/s/controllers/c/ack", &site1),
            Err(TopicError::PrefixMismatch)
        );
        assert_eq!(
            TopicAddress::parse("site10/stores/s/controllers/c/ack", &site1),
            Err(TopicError::Layout)
        );
        // Without a prefix, a prefixed topic is not ours either.
        assert_eq!(
            TopicAddress::parse("site1/stores/s/controllers/c/ack", &TopicPrefix::default()),
            Err(TopicError::Layout)
        );
    }
}
