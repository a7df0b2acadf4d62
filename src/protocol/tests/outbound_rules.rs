//! DESIGN.md section 1, outbound: topics, version, timestamp, ids, checksum, size, fields.

use chrono::{FixedOffset, TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::support::{id, no_prefix, spec_envelope, ts};
use crate::protocol::{
    EncodeError, Envelope, Event, EventType, FirmwareUpdate, Md5Hex, TopicPrefix, encode,
    encode_command, format_timestamp, new_correlation_id, subscription_filters,
};

fn body_json(envelope: &Envelope) -> Value {
    let encoded = encode(envelope, &no_prefix()).expect("encode");
    serde_json::from_slice(&encoded.body).expect("encoder writes strict JSON")
}

fn update(file_size: u64, checksum: Md5Hex) -> Envelope {
    let mut envelope = spec_envelope(EventType::UpdateFirmware);
    envelope.event = Event::UpdateFirmware(FirmwareUpdate {
        deployment_id: id("d1"),
        firmware_version: "2.0.0".into(),
        file_url: "http://10.0.0.2:8080/f/abc".into(),
        file_size,
        checksum,
    });
    envelope
}

#[test]
fn commands_are_published_on_the_action_topic_with_leading_slash() {
    for e in [EventType::UpdateFirmware, EventType::CancelUpdateFirmware] {
        let mut envelope = spec_envelope(e);
        envelope.store_id = id("s1");
        envelope.controller_id = id("c1");
        let encoded = encode_command(&envelope, &no_prefix()).expect("command");
        assert_eq!(encoded.topic, "/stores/s1/controllers/c1/action", "{e}");
    }
}

#[test]
fn replies_are_encoded_on_their_spec_topics_for_the_simulator() {
    let topic = |e| {
        let mut envelope = spec_envelope(e);
        envelope.store_id = id("s1");
        envelope.controller_id = id("c1");
        encode(&envelope, &no_prefix()).expect("encode").topic
    };
    assert_eq!(
        topic(EventType::UpdateFirmwareAck),
        "/stores/s1/controllers/c1/ack"
    );
    assert_eq!(
        topic(EventType::CancelUpdateFirmwareAck),
        "/stores/s1/controllers/c1/ack"
    );
    assert_eq!(
        topic(EventType::UpdateFirmwareCompleted),
        "/stores/s1/controllers/c1/action"
    );
    assert_eq!(
        topic(EventType::UpdateFirmwareFailed),
        "/stores/s1/controllers/c1/action"
    );
}

#[test]
fn encode_command_refuses_replies() {
    let envelope = spec_envelope(EventType::UpdateFirmwareAck);
    assert!(matches!(
        encode_command(&envelope, &no_prefix()),
        Err(EncodeError::NotACommand(EventType::UpdateFirmwareAck))
    ));
}

#[test]
fn topic_prefix_is_prepended_to_published_topics_and_filters() {
    let prefix = TopicPrefix::new("site1").expect("prefix");
    let mut envelope = spec_envelope(EventType::UpdateFirmware);
    envelope.store_id = id("s1");
    envelope.controller_id = id("c1");
    let encoded = encode(&envelope, &prefix).expect("encode");
    assert_eq!(encoded.topic, "site1/stores/s1/controllers/c1/action");
    assert_eq!(
        subscription_filters(&prefix),
        [
            "site1/stores/+/controllers/+/action".to_owned(),
            "site1/stores/+/controllers/+/ack".to_owned()
        ]
    );
}

#[test]
fn subscriptions_use_wildcards_for_both_families() {
    assert_eq!(
        subscription_filters(&no_prefix()),
        [
            "/stores/+/controllers/+/action".to_owned(),
            "/stores/+/controllers/+/ack".to_owned()
        ]
    );
}

#[test]
fn version_is_always_1_0_0() {
    for e in EventType::ALL {
        assert_eq!(body_json(&spec_envelope(e))["version"], "1.0.0", "{e}");
    }
}

#[test]
fn timestamp_keeps_the_local_offset_like_plus_07_00() {
    let local = FixedOffset::east_opt(7 * 3600).expect("offset");
    let t = local
        .with_ymd_and_hms(2024, 1, 15, 15, 30, 25)
        .single()
        .expect("time");
    assert_eq!(
        format_timestamp(&t).expect("ok"),
        "2024-01-15T15:30:25+07:00"
    );
    let mut envelope = spec_envelope(EventType::CancelUpdateFirmware);
    envelope.timestamp = t;
    assert_eq!(
        body_json(&envelope)["timestamp"],
        "2024-01-15T15:30:25+07:00"
    );
}

#[test]
fn timestamp_in_utc_is_plus_00_00_never_z() {
    let utc = Utc
        .with_ymd_and_hms(2024, 1, 15, 8, 30, 25)
        .single()
        .expect("time");
    let text = format_timestamp(&utc.fixed_offset()).expect("ok");
    assert_eq!(text, "2024-01-15T08:30:25+00:00");
    assert!(!text.contains('Z') && !text.contains('z'));
}

#[test]
fn timestamp_negative_and_half_hour_offsets_are_numeric() {
    assert_eq!(
        format_timestamp(&ts("2024-07-01T09:05:00-04:00")).expect("ok"),
        "2024-07-01T09:05:00-04:00"
    );
    assert_eq!(
        format_timestamp(&ts("2024-07-01T09:05:00+05:45")).expect("ok"),
        "2024-07-01T09:05:00+05:45"
    );
    assert_eq!(
        format_timestamp(&ts("0001-01-01T00:00:00-00:30")).expect("ok"),
        "0001-01-01T00:00:00-00:30"
    );
}

#[test]
fn timestamp_has_whole_seconds_only() {
    let text = format_timestamp(&ts("2024-01-15T15:30:25.987654321+07:00")).expect("ok");
    assert_eq!(text, "2024-01-15T15:30:25+07:00");
}

#[test]
fn timestamp_offset_with_seconds_keeps_the_instant() {
    // Amsterdam's historic +00:19:32 is cut to +00:19, moving the local time, not the instant.
    let odd = FixedOffset::east_opt(19 * 60 + 32).expect("offset");
    let t = odd
        .with_ymd_and_hms(1930, 6, 1, 12, 0, 32)
        .single()
        .expect("time");
    let text = format_timestamp(&t).expect("ok");
    assert_eq!(text, "1930-06-01T12:00:00+00:19");
    assert_eq!(ts(&text), t);
}

#[test]
fn timestamp_outside_rfc3339_years_is_refused() {
    let far = Utc
        .with_ymd_and_hms(10_000, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    assert!(matches!(
        format_timestamp(&far.fixed_offset()),
        Err(EncodeError::TimestampOutOfRange(10_000))
    ));
}

#[test]
fn every_command_gets_a_fresh_uuid_v4_correlation_id() {
    let ids: Vec<_> = (0..100).map(|_| new_correlation_id()).collect();
    for cid in &ids {
        let uuid = Uuid::parse_str(cid.as_str()).expect("uuid");
        assert_eq!(uuid.get_version_num(), 4);
        assert_eq!(cid.as_str(), uuid.hyphenated().to_string());
    }
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len());
}

#[test]
fn encoder_is_deterministic_for_equal_inputs() {
    let envelope = spec_envelope(EventType::UpdateFirmware);
    assert_eq!(
        encode(&envelope, &no_prefix()).expect("a"),
        encode(&envelope, &no_prefix()).expect("b")
    );
}

#[test]
fn checksum_is_written_as_lowercase_hex() {
    let from_upper = Md5Hex::parse("8A3BE389A446BBA670DA3A33E5506D2E").expect("md5");
    let body = body_json(&update(1, from_upper));
    assert_eq!(
        body["payload"]["checksum"],
        "8a3be389a446bba670da3a33e5506d2e"
    );
    let from_digest = Md5Hex::from_digest([0xAB; 16]);
    let body = body_json(&update(1, from_digest));
    assert_eq!(body["payload"]["checksum"], "ab".repeat(16));
}

#[test]
fn file_size_is_a_json_integer_even_beyond_2_pow_53() {
    let checksum = Md5Hex::from_digest([0; 16]);
    for size in [0, 779, (1u64 << 53) + 1, u64::MAX] {
        let encoded = encode(&update(size, checksum), &no_prefix()).expect("encode");
        let text = String::from_utf8(encoded.body).expect("utf8");
        assert!(text.contains(&format!("\"file_size\":{size},")), "{text}");
        let body: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(body["payload"]["file_size"].as_u64(), Some(size));
    }
}

#[test]
fn no_extra_fields_at_any_level() {
    for e in EventType::ALL {
        let body = body_json(&spec_envelope(e));
        let top: Vec<_> = body.as_object().expect("object").keys().cloned().collect();
        assert_eq!(top.len(), 7, "{e}: {top:?}");
        let payload = body["payload"].as_object().expect("payload");
        let expected = match e {
            EventType::UpdateFirmware => 5,
            EventType::UpdateFirmwareFailed => 2,
            _ => 1,
        };
        assert_eq!(payload.len(), expected, "{e}: {payload:?}");
    }
}

#[test]
fn encoded_bodies_are_strict_json_without_trailing_commas() {
    for e in EventType::ALL {
        let encoded = encode(&spec_envelope(e), &no_prefix()).expect("encode");
        let text = String::from_utf8(encoded.body).expect("utf8");
        assert!(!text.contains(",}") && !text.contains(",]"), "{text}");
        assert!(serde_json::from_str::<Value>(&text).is_ok());
    }
}

#[test]
fn failed_errors_are_written_as_a_list_of_strings_even_when_empty() {
    let mut envelope = spec_envelope(EventType::UpdateFirmwareFailed);
    envelope.event = Event::UpdateFirmwareFailed {
        deployment_id: id("d"),
        errors: vec![],
    };
    assert_eq!(
        body_json(&envelope)["payload"]["errors"],
        Value::Array(vec![])
    );
}
