//! The spec's six examples, copied verbatim from `spec/firmware-update-protocol.md`
//! (trailing commas included), with the topic kind each is shown on.
//!
//! One change: the failed example's literal `...` line ("more items") is replaced by a real
//! third string, `"error message 3"`, so that the example is JSON at all.

use crate::protocol::TopicKind;

/// The ids every spec example uses.
pub const STORE_ID: &str = "6ba7b811-9dad-11d1-80b4-00c04fd430c8";
pub const CONTROLLER_ID: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
pub const CORRELATION_ID: &str = "550e8400-e29b-41d4-a716-446655440003";
pub const DEPLOYMENT_ID: &str = "7f56308b-3e98-4faf-8a61-ead5d139a5b1";
pub const TIMESTAMP: &str = "2024-01-15T15:30:25+07:00";

pub const UPDATE_FIRMWARE: &str = r#"{
  "version": "1.0.0",
  "event_type": "update_firmware",
  "timestamp": "2024-01-15T15:30:25+07:00",
  "correlation_id": "550e8400-e29b-41d4-a716-446655440003",
  "controller_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
  "store_id": "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
  "payload": {
    "deployment_id": "7f56308b-3e98-4faf-8a61-ead5d139a5b1",
    "firmware_version": "1.0.1",
    "file_url": "https://example.com/firmware-1-0-1.bin",
    "file_size": 779,
    "checksum": "8a3be389a446bba670da3a33e5506d2e",
  }
}"#;

pub const UPDATE_FIRMWARE_ACK: &str = r#"{
  "version": "1.0.0",
  "event_type": "update_firmware_ack",
  "timestamp": "2024-01-15T15:30:25+07:00",
  "correlation_id": "550e8400-e29b-41d4-a716-446655440003",
  "controller_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
  "store_id": "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
  "payload": {
    "deployment_id": "7f56308b-3e98-4faf-8a61-ead5d139a5b1",
  }
}"#;

pub const UPDATE_FIRMWARE_COMPLETED: &str = r#"{
  "version": "1.0.0",
  "event_type": "update_firmware_completed",
  "timestamp": "2024-01-15T15:30:25+07:00",
  "correlation_id": "550e8400-e29b-41d4-a716-446655440003",
  "controller_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
  "store_id": "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
  "payload": {
    "deployment_id": "7f56308b-3e98-4faf-8a61-ead5d139a5b1",
  }
}"#;

/// `...` replaced by `"error message 3"` (see the module comment).
pub const UPDATE_FIRMWARE_FAILED: &str = r#"{
  "version": "1.0.0",
  "event_type": "update_firmware_failed",
  "timestamp": "2024-01-15T15:30:25+07:00",
  "correlation_id": "550e8400-e29b-41d4-a716-446655440003",
  "controller_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
  "store_id": "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
  "payload": {
    "deployment_id": "7f56308b-3e98-4faf-8a61-ead5d139a5b1",
    "errors": [
        "error message 1",
        "error message 2",
        "error message 3"
    ]
  }
}"#;

pub const CANCEL_UPDATE_FIRMWARE: &str = r#"{
  "version": "1.0.0",
  "event_type": "cancel_update_firmware",
  "timestamp": "2024-01-15T15:30:25+07:00",
  "correlation_id": "550e8400-e29b-41d4-a716-446655440003",
  "controller_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
  "store_id": "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
  "payload": {
    "deployment_id": "7f56308b-3e98-4faf-8a61-ead5d139a5b1",
  }
}"#;

pub const CANCEL_UPDATE_FIRMWARE_ACK: &str = r#"{
  "version": "1.0.0",
  "event_type": "cancel_update_firmware_ack",
  "timestamp": "2024-01-15T15:30:25+07:00",
  "correlation_id": "550e8400-e29b-41d4-a716-446655440003",
  "controller_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
  "store_id": "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
  "payload": {
    "deployment_id": "7f56308b-3e98-4faf-8a61-ead5d139a5b1",
  }
}"#;

/// Every example with the topic kind the spec shows it on.
pub const ALL: [(&str, TopicKind); 6] = [
    (UPDATE_FIRMWARE, TopicKind::Action),
    (UPDATE_FIRMWARE_ACK, TopicKind::Ack),
    (UPDATE_FIRMWARE_COMPLETED, TopicKind::Action),
    (UPDATE_FIRMWARE_FAILED, TopicKind::Action),
    (CANCEL_UPDATE_FIRMWARE, TopicKind::Action),
    (CANCEL_UPDATE_FIRMWARE_ACK, TopicKind::Ack),
];
