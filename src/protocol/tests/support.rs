//! Test helpers: the spec's example messages as typed values, an order-preserving view of
//! JSON structure, and a minifier for the spec's pretty-printed examples.

use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::spec_examples as spec;
use crate::protocol::json::strip_trailing_commas;
use crate::protocol::{
    Envelope, Event, EventType, FirmwareUpdate, Id, Inbound, Md5Hex, Rejection, TopicAddress,
    TopicPrefix, decode,
};

pub fn id(s: &str) -> Id {
    Id::new(s).expect("valid id")
}

pub fn ts(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("valid timestamp")
}

pub fn no_prefix() -> TopicPrefix {
    TopicPrefix::default()
}

/// The spec's example topic for an event, built from the examples' ids.
pub fn spec_topic(event_type: EventType) -> String {
    TopicAddress::new(
        id(spec::STORE_ID),
        id(spec::CONTROLLER_ID),
        event_type.topic_kind(),
    )
    .render(&no_prefix())
}

/// The event the spec shows for `event_type`, with the spec's values.
pub fn spec_event(event_type: EventType) -> Event {
    let deployment_id = id(spec::DEPLOYMENT_ID);
    match event_type {
        EventType::UpdateFirmware => Event::UpdateFirmware(FirmwareUpdate {
            deployment_id,
            firmware_version: "1.0.1".into(),
            file_url: "https://example.com/firmware-1-0-1.bin".into(),
            file_size: 779,
            checksum: Md5Hex::parse("8a3be389a446bba670da3a33e5506d2e").expect("md5"),
        }),
        EventType::UpdateFirmwareAck => Event::UpdateFirmwareAck { deployment_id },
        EventType::UpdateFirmwareCompleted => Event::UpdateFirmwareCompleted { deployment_id },
        EventType::UpdateFirmwareFailed => Event::UpdateFirmwareFailed {
            deployment_id,
            errors: vec![
                "error message 1".into(),
                "error message 2".into(),
                "error message 3".into(),
            ],
        },
        EventType::CancelUpdateFirmware => Event::CancelUpdateFirmware { deployment_id },
        EventType::CancelUpdateFirmwareAck => Event::CancelUpdateFirmwareAck { deployment_id },
    }
}

/// The whole envelope the spec shows for `event_type`.
pub fn spec_envelope(event_type: EventType) -> Envelope {
    Envelope {
        timestamp: ts(spec::TIMESTAMP),
        correlation_id: id(spec::CORRELATION_ID),
        store_id: id(spec::STORE_ID),
        controller_id: id(spec::CONTROLLER_ID),
        event: spec_event(event_type),
    }
}

/// The spec example text for `event_type`.
pub fn spec_text(event_type: EventType) -> &'static str {
    match event_type {
        EventType::UpdateFirmware => spec::UPDATE_FIRMWARE,
        EventType::UpdateFirmwareAck => spec::UPDATE_FIRMWARE_ACK,
        EventType::UpdateFirmwareCompleted => spec::UPDATE_FIRMWARE_COMPLETED,
        EventType::UpdateFirmwareFailed => spec::UPDATE_FIRMWARE_FAILED,
        EventType::CancelUpdateFirmware => spec::CANCEL_UPDATE_FIRMWARE,
        EventType::CancelUpdateFirmwareAck => spec::CANCEL_UPDATE_FIRMWARE_ACK,
    }
}

/// The spec example for `e` as a JSON value, for tests to change.
pub fn spec_value(e: EventType) -> Value {
    let cleaned = strip_trailing_commas(spec_text(e).as_bytes()).into_owned();
    serde_json::from_slice(&cleaned).expect("spec example")
}

/// Decodes the spec example for `e`, changed by `change`, on its spec topic.
pub fn decode_changed(e: EventType, change: impl FnOnce(&mut Value)) -> Result<Inbound, Rejection> {
    let mut value = spec_value(e);
    change(&mut value);
    let body = serde_json::to_vec(&value).expect("serialize");
    decode(&spec_topic(e), &body, &no_prefix())
}

pub fn decode_text(e: EventType, text: &str) -> Result<Inbound, Rejection> {
    decode(&spec_topic(e), text.as_bytes(), &no_prefix())
}

pub fn code(result: Result<Inbound, Rejection>) -> &'static str {
    match result {
        Ok(_) => "accepted",
        Err(r) => r.code(),
    }
}

/// Trailing commas and whitespace outside strings removed: the compact form of a text.
pub fn minify(text: &str) -> String {
    let stripped = strip_trailing_commas(text.as_bytes());
    let text = String::from_utf8(stripped.into_owned()).expect("utf8");
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

/// The structure of a JSON document: key names in order, and the type of every value.
/// Array elements are reduced to their distinct shapes (all strings -> one `String`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    Null,
    Bool,
    Integer,
    Float,
    String,
    Array(Vec<Shape>),
    Object(Vec<(String, Shape)>),
}

impl Shape {
    /// Parses `text` (trailing commas tolerated) keeping key order.
    pub fn of(text: &[u8]) -> Shape {
        let cleaned = strip_trailing_commas(text);
        serde_json::from_slice(&cleaned).expect("JSON")
    }

    pub fn keys(&self) -> Vec<&str> {
        match self {
            Shape::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Shape> {
        match self {
            Shape::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Shape, D::Error> {
        de.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Bool)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Integer)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Integer)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Float)
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::String)
    }
    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut shapes = Vec::new();
        while let Some(s) = seq.next_element::<Shape>()? {
            if !shapes.contains(&s) {
                shapes.push(s);
            }
        }
        Ok(Shape::Array(shapes))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Shape>()? {
            entries.push((k, v));
        }
        Ok(Shape::Object(entries))
    }
}
