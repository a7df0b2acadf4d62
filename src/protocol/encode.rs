//! Outbound messages: a typed envelope in, the topic and the exact JSON bytes out.
//!
//! The bytes carry exactly the spec's keys in the spec's order (version, event_type,
//! timestamp, correlation_id, controller_id, store_id, payload), with no extra fields, as
//! compact JSON without trailing commas. The encoder reads no clock and draws no random
//! numbers: the same envelope always gives the same bytes.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use serde::Serialize;

use super::ids::Id;
use super::message::{Envelope, Event, EventType, PROTOCOL_VERSION};
use super::topic::TopicPrefix;

/// A message ready to publish (QoS 1, not retained: the link's job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub topic: String,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{0} is a controller's reply, not a command Storefleet sends")]
    NotACommand(EventType),
    #[error("timestamp year {0} cannot be written in RFC 3339 (0000 to 9999)")]
    TimestampOutOfRange(i32),
    #[error("JSON serialization failed: {0}")]
    Json(#[from] serde_json::Error),
}

/// A fresh random UUID v4 for a command's `correlation_id`.
pub fn new_correlation_id() -> Id {
    Id::new_v4()
}

/// Formats `2024-01-15T15:30:25+07:00`: whole seconds, numeric offset, `+00:00` never `Z`.
///
/// Sub-seconds are dropped. An offset with seconds (historic local mean time) is cut to
/// whole minutes and the local time shifted with it, so the instant is unchanged.
pub fn format_timestamp(timestamp: &DateTime<FixedOffset>) -> Result<String, EncodeError> {
    let offset_secs = timestamp.offset().local_minus_utc();
    let whole_minutes = offset_secs - offset_secs % 60;
    let ts = match FixedOffset::east_opt(whole_minutes) {
        Some(offset) => timestamp.with_timezone(&offset),
        None => *timestamp,
    };
    let year = ts.year();
    if !(0..=9999).contains(&year) {
        return Err(EncodeError::TimestampOutOfRange(year));
    }
    let offset = ts.offset().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.unsigned_abs();
    Ok(format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        ts.month(),
        ts.day(),
        ts.hour(),
        ts.minute(),
        // A leap second (nanosecond >= 1e9) stays :59, like any other fraction.
        ts.second(),
        offset / 3600,
        offset % 3600 / 60,
    ))
}

/// Encodes one of the two commands Storefleet sends; refuses replies.
pub fn encode_command(envelope: &Envelope, prefix: &TopicPrefix) -> Result<Encoded, EncodeError> {
    let event_type = envelope.event_type();
    if !event_type.is_command() {
        return Err(EncodeError::NotACommand(event_type));
    }
    encode(envelope, prefix)
}

/// Encodes any of the six messages (replies are for simulated controllers).
pub fn encode(envelope: &Envelope, prefix: &TopicPrefix) -> Result<Encoded, EncodeError> {
    let timestamp = format_timestamp(&envelope.timestamp)?;
    let wire = Wire {
        version: PROTOCOL_VERSION,
        event_type: envelope.event_type().as_str(),
        timestamp: &timestamp,
        correlation_id: envelope.correlation_id.as_str(),
        controller_id: envelope.controller_id.as_str(),
        store_id: envelope.store_id.as_str(),
        payload: WirePayload::from(&envelope.event),
    };
    Ok(Encoded {
        topic: envelope.topic(prefix),
        body: serde_json::to_vec(&wire)?,
    })
}

/// The envelope in spec order; serde writes struct fields in declaration order.
#[derive(Serialize)]
struct Wire<'a> {
    version: &'static str,
    event_type: &'static str,
    timestamp: &'a str,
    correlation_id: &'a str,
    controller_id: &'a str,
    store_id: &'a str,
    payload: WirePayload<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WirePayload<'a> {
    Update {
        deployment_id: &'a str,
        firmware_version: &'a str,
        file_url: &'a str,
        file_size: u64,
        checksum: &'a str,
    },
    Failed {
        deployment_id: &'a str,
        errors: &'a [String],
    },
    Deployment {
        deployment_id: &'a str,
    },
}

impl<'a> From<&'a Event> for WirePayload<'a> {
    fn from(event: &'a Event) -> Self {
        match event {
            Event::UpdateFirmware(u) => Self::Update {
                deployment_id: u.deployment_id.as_str(),
                firmware_version: &u.firmware_version,
                file_url: &u.file_url,
                file_size: u.file_size,
                checksum: u.checksum.as_str(),
            },
            Event::UpdateFirmwareFailed {
                deployment_id,
                errors,
            } => Self::Failed {
                deployment_id: deployment_id.as_str(),
                errors,
            },
            Event::UpdateFirmwareAck { deployment_id }
            | Event::UpdateFirmwareCompleted { deployment_id }
            | Event::CancelUpdateFirmware { deployment_id }
            | Event::CancelUpdateFirmwareAck { deployment_id } => Self::Deployment {
                deployment_id: deployment_id.as_str(),
            },
        }
    }
}
