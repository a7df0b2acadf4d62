//! Inbound messages: topic and body in, a typed message or a typed rejection out.
//!
//! Checks run cheapest first and stop at the first failure: size, topic, UTF-8, JSON,
//! version, event type and its topic kind, the ids against the topic, the remaining envelope
//! fields, then the payload. Nothing here panics, whatever the bytes or topic.
//!
//! Decisions where the spec is silent:
//! - Unknown extra fields, at the top level or in `payload`, are ignored: minor versions
//!   within 1.x may add fields. Duplicate keys anywhere are refused, since which copy wins
//!   would be a guess.
//! - `errors` of a failure is required and must be a list of strings; it may be empty.
//! - `checksum` accepts upper-case hex and is stored lowercase.
//! - `file_size` must be a JSON integer in 0..=u64::MAX; `779.0` is refused.
//! - `timestamp` is anything chrono reads as RFC 3339 (`Z`, offsets, fractions).
//! - `firmware_version` and `file_url` must be strings; their content is not judged here.
//! - `version` parts are semver numerals (`1.01.0` is malformed); pre-release or build
//!   suffixes are malformed too.
//! - Ids in the body are compared with the topic's byte for byte (no case folding).
//! - A byte-order mark, comments or JSON nested deeper than 128 levels are not JSON.
//! - Commands (`update_firmware`, `cancel_update_firmware`) decode like replies: the
//!   wildcard subscription hears our own and other operators' commands, and
//!   [`Inbound::direction`] tells them apart. Whether a deployment is known is the engine's
//!   question, not the codec's.

use chrono::DateTime;
use serde_json::{Map, Value};

use super::checksum::{ChecksumError, Md5Hex};
use super::ids::{Id, IdError};
use super::json::{self, JsonError};
use super::message::{Envelope, Event, EventType, FirmwareUpdate, Inbound};
use super::topic::{TopicAddress, TopicError, TopicKind, TopicPrefix};

/// Largest body accepted, in bytes; larger bodies are rejected before parsing.
pub const MAX_BODY_BYTES: usize = 262_144;

/// How much of an offending input value a rejection repeats, in characters.
const EXCERPT_CHARS: usize = 64;

/// What is wrong with a field's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    #[error("expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("item {index} is {found}, not a string")]
    ItemNotString { index: usize, found: &'static str },
    #[error(transparent)]
    Id(IdError),
    #[error(transparent)]
    Checksum(ChecksumError),
    #[error("not an RFC 3339 date-time: {0:?}")]
    Timestamp(String),
    #[error("not an integer between 0 and 2^64-1")]
    NotU64,
}

/// Why an inbound message was refused. [`Rejection::code`] is the stable machine name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("body is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("topic is not a controller topic: {0}")]
    BadTopic(TopicError),
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    #[error("body is JSON but not an object")]
    NotObject,
    #[error("missing field {0}")]
    MissingField(&'static str),
    #[error("field {field}: {problem}")]
    BadField {
        field: &'static str,
        problem: FieldProblem,
    },
    #[error("malformed version {0:?}; expected 1.x.y")]
    BadVersion(String),
    #[error("unsupported protocol version {0:?}; only 1.x.y is understood")]
    UnsupportedVersion(String),
    #[error("unknown event_type {0:?}")]
    UnknownEventType(String),
    #[error("{event_type} does not belong on the {topic_kind} topic")]
    WrongTopicKind {
        event_type: EventType,
        topic_kind: TopicKind,
    },
    #[error("body {field} {body:?} differs from the topic's {topic:?}")]
    TopicMismatch {
        field: &'static str,
        topic: String,
        body: String,
    },
}

impl Rejection {
    /// Stable short name for history, filters and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::BadTopic(_) => "bad_topic",
            Self::NotUtf8 => "not_utf8",
            Self::NotJson(_) => "not_json",
            Self::DuplicateKey(_) => "duplicate_key",
            Self::NotObject => "not_object",
            Self::MissingField(_) => "missing_field",
            Self::BadField { .. } => "bad_field",
            Self::BadVersion(_) => "bad_version",
            Self::UnsupportedVersion(_) => "unsupported_version",
            Self::UnknownEventType(_) => "unknown_event_type",
            Self::WrongTopicKind { .. } => "wrong_topic_kind",
            Self::TopicMismatch { .. } => "topic_mismatch",
        }
    }
}

/// Decodes one received message published on `topic` under `prefix`.
pub fn decode(topic: &str, body: &[u8], prefix: &TopicPrefix) -> Result<Inbound, Rejection> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Rejection::TooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    let address = TopicAddress::parse(topic, prefix).map_err(Rejection::BadTopic)?;
    if std::str::from_utf8(body).is_err() {
        return Err(Rejection::NotUtf8);
    }
    let root = match json::parse(body) {
        Ok(Value::Object(root)) => root,
        Ok(_) => return Err(Rejection::NotObject),
        Err(JsonError::Syntax(detail)) => return Err(Rejection::NotJson(detail)),
        Err(JsonError::DuplicateKey(key)) => return Err(Rejection::DuplicateKey(excerpt(&key))),
    };

    let version = string(&root, "version", "version")?;
    check_version(version)?;

    let event_name = string(&root, "event_type", "event_type")?;
    let event_type = EventType::from_wire(event_name)
        .ok_or_else(|| Rejection::UnknownEventType(excerpt(event_name)))?;
    if event_type.topic_kind() != address.kind {
        return Err(Rejection::WrongTopicKind {
            event_type,
            topic_kind: address.kind,
        });
    }

    same_as_topic(&root, "store_id", &address.store_id)?;
    same_as_topic(&root, "controller_id", &address.controller_id)?;
    let correlation_id = id(&root, "correlation_id", "correlation_id")?;
    let raw_timestamp = string(&root, "timestamp", "timestamp")?;
    let timestamp =
        DateTime::parse_from_rfc3339(raw_timestamp).map_err(|_| Rejection::BadField {
            field: "timestamp",
            problem: FieldProblem::Timestamp(excerpt(raw_timestamp)),
        })?;

    let payload = match root.get("payload") {
        None => return Err(Rejection::MissingField("payload")),
        Some(Value::Object(payload)) => payload,
        Some(other) => return Err(wrong_type("payload", "an object", other)),
    };
    let event = decode_event(event_type, payload)?;

    Ok(Inbound {
        envelope: Envelope {
            timestamp,
            correlation_id,
            store_id: address.store_id,
            controller_id: address.controller_id,
            event,
        },
        version: version.to_owned(),
        raw_timestamp: raw_timestamp.to_owned(),
    })
}

fn decode_event(event_type: EventType, payload: &Map<String, Value>) -> Result<Event, Rejection> {
    let deployment_id = id(payload, "deployment_id", "payload.deployment_id")?;
    Ok(match event_type {
        EventType::UpdateFirmware => Event::UpdateFirmware(FirmwareUpdate {
            deployment_id,
            firmware_version: string(payload, "firmware_version", "payload.firmware_version")?
                .to_owned(),
            file_url: string(payload, "file_url", "payload.file_url")?.to_owned(),
            file_size: file_size(payload)?,
            checksum: checksum(payload)?,
        }),
        EventType::UpdateFirmwareAck => Event::UpdateFirmwareAck { deployment_id },
        EventType::UpdateFirmwareCompleted => Event::UpdateFirmwareCompleted { deployment_id },
        EventType::UpdateFirmwareFailed => Event::UpdateFirmwareFailed {
            deployment_id,
            errors: errors(payload)?,
        },
        EventType::CancelUpdateFirmware => Event::CancelUpdateFirmware { deployment_id },
        EventType::CancelUpdateFirmwareAck => Event::CancelUpdateFirmwareAck { deployment_id },
    })
}

/// `1.x.y` with numeric parts written as semver does (no sign, no leading zeros).
fn check_version(version: &str) -> Result<(), Rejection> {
    let numeric = |p: &str| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
    };
    let parts: Vec<&str> = version.splitn(4, '.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| numeric(p)) {
        return Err(Rejection::BadVersion(excerpt(version)));
    }
    if parts[0] != "1" {
        return Err(Rejection::UnsupportedVersion(excerpt(version)));
    }
    Ok(())
}

fn same_as_topic(
    root: &Map<String, Value>,
    field: &'static str,
    topic: &Id,
) -> Result<(), Rejection> {
    let body = string(root, field, field)?;
    if body != topic.as_str() {
        return Err(Rejection::TopicMismatch {
            field,
            topic: topic.to_string(),
            body: excerpt(body),
        });
    }
    Ok(())
}

fn string<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<&'a str, Rejection> {
    match map.get(key) {
        None => Err(Rejection::MissingField(field)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

fn id(map: &Map<String, Value>, key: &str, field: &'static str) -> Result<Id, Rejection> {
    let text = string(map, key, field)?;
    Id::new(text).map_err(|e| Rejection::BadField {
        field,
        problem: FieldProblem::Id(e),
    })
}

fn file_size(payload: &Map<String, Value>) -> Result<u64, Rejection> {
    const FIELD: &str = "payload.file_size";
    match payload.get("file_size") {
        None => Err(Rejection::MissingField(FIELD)),
        Some(Value::Number(n)) => n.as_u64().ok_or(Rejection::BadField {
            field: FIELD,
            problem: FieldProblem::NotU64,
        }),
        Some(other) => Err(wrong_type(FIELD, "an integer", other)),
    }
}

fn checksum(payload: &Map<String, Value>) -> Result<Md5Hex, Rejection> {
    const FIELD: &str = "payload.checksum";
    Md5Hex::parse(string(payload, "checksum", FIELD)?).map_err(|e| Rejection::BadField {
        field: FIELD,
        problem: FieldProblem::Checksum(e),
    })
}

fn errors(payload: &Map<String, Value>) -> Result<Vec<String>, Rejection> {
    const FIELD: &str = "payload.errors";
    let items = match payload.get("errors") {
        None => return Err(Rejection::MissingField(FIELD)),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type(FIELD, "a list of strings", other)),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(Rejection::BadField {
                field: FIELD,
                problem: FieldProblem::ItemNotString {
                    index,
                    found: type_name(other),
                },
            }),
        })
        .collect()
}

fn wrong_type(field: &'static str, expected: &'static str, found: &Value) -> Rejection {
    Rejection::BadField {
        field,
        problem: FieldProblem::WrongType {
            expected,
            found: type_name(found),
        },
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Keeps rejection texts short: a hostile sender controls these strings.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
