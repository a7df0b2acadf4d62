//! The spec's examples, both ways: each decodes to the values it shows, and encoding those
//! values gives the example back, key for key, in order, with the same JSON types.

use super::spec_examples as spec;
use super::support::{Shape, minify, no_prefix, spec_envelope, spec_text, spec_topic};
use crate::protocol::{
    Direction, EventType, TopicKind, TopicPrefix, decode, encode, format_timestamp,
};

#[test]
fn every_spec_example_decodes_to_the_values_it_shows() {
    for event_type in EventType::ALL {
        let topic = spec_topic(event_type);
        let inbound = decode(&topic, spec_text(event_type).as_bytes(), &no_prefix())
            .unwrap_or_else(|r| panic!("{event_type}: rejected: {r} ({})", r.code()));
        let expected = spec_envelope(event_type);
        assert_eq!(inbound.envelope, expected, "{event_type}");
        assert_eq!(
            inbound.envelope.timestamp.offset(),
            expected.timestamp.offset()
        );
        assert_eq!(inbound.version, "1.0.0");
        assert_eq!(inbound.raw_timestamp, spec::TIMESTAMP);
    }
}

#[test]
fn spec_examples_are_shown_on_the_topic_kind_the_codec_expects() {
    for (text, kind) in spec::ALL {
        let shape = Shape::of(text.as_bytes());
        assert_eq!(shape.get("event_type"), Some(&Shape::String));
        let inbound = EventType::ALL
            .into_iter()
            .find(|e| spec_text(*e) == text)
            .expect("known example");
        assert_eq!(inbound.topic_kind(), kind, "{inbound}");
    }
}

#[test]
fn spec_example_topics_are_the_spec_topic_layout() {
    assert_eq!(
        spec_topic(EventType::UpdateFirmware),
        format!(
            "/stores/{}/controllers/{}/action",
            spec::STORE_ID,
            spec::CONTROLLER_ID
        )
    );
    assert_eq!(
        spec_topic(EventType::CancelUpdateFirmwareAck),
        format!(
            "/stores/{}/controllers/{}/ack",
            spec::STORE_ID,
            spec::CONTROLLER_ID
        )
    );
}

#[test]
fn encoding_the_spec_values_gives_the_spec_examples_byte_for_byte_once_minified() {
    for event_type in EventType::ALL {
        let encoded = encode(&spec_envelope(event_type), &no_prefix()).expect("encode");
        let body = String::from_utf8(encoded.body).expect("utf8");
        assert_eq!(body, minify(spec_text(event_type)), "{event_type}");
        assert_eq!(encoded.topic, spec_topic(event_type));
    }
}

#[test]
fn encoded_messages_have_the_spec_keys_order_nesting_and_types() {
    for event_type in EventType::ALL {
        let encoded = encode(&spec_envelope(event_type), &no_prefix()).expect("encode");
        let ours = Shape::of(&encoded.body);
        let theirs = Shape::of(spec_text(event_type).as_bytes());
        // Top-level keys in the spec's exact order.
        assert_eq!(
            ours.keys(),
            [
                "version",
                "event_type",
                "timestamp",
                "correlation_id",
                "controller_id",
                "store_id",
                "payload"
            ],
            "{event_type}"
        );
        assert_eq!(ours.keys(), theirs.keys(), "{event_type}");
        // Every level: same keys, same order, same JSON type of every value.
        assert_eq!(ours, theirs, "{event_type}");
    }
}

#[test]
fn encoded_payload_shapes_match_the_spec_per_event() {
    let payload = |e: EventType| {
        let encoded = encode(&spec_envelope(e), &no_prefix()).expect("encode");
        Shape::of(&encoded.body)
            .get("payload")
            .cloned()
            .expect("payload")
    };
    assert_eq!(
        payload(EventType::UpdateFirmware),
        Shape::Object(vec![
            ("deployment_id".into(), Shape::String),
            ("firmware_version".into(), Shape::String),
            ("file_url".into(), Shape::String),
            ("file_size".into(), Shape::Integer),
            ("checksum".into(), Shape::String),
        ])
    );
    assert_eq!(
        payload(EventType::UpdateFirmwareFailed),
        Shape::Object(vec![
            ("deployment_id".into(), Shape::String),
            ("errors".into(), Shape::Array(vec![Shape::String])),
        ])
    );
    for e in [
        EventType::UpdateFirmwareAck,
        EventType::UpdateFirmwareCompleted,
        EventType::CancelUpdateFirmware,
        EventType::CancelUpdateFirmwareAck,
    ] {
        assert_eq!(
            payload(e),
            Shape::Object(vec![("deployment_id".into(), Shape::String)]),
            "{e}"
        );
    }
}

#[test]
fn spec_timestamp_is_reproduced_exactly() {
    let envelope = spec_envelope(EventType::UpdateFirmware);
    assert_eq!(
        format_timestamp(&envelope.timestamp).expect("in range"),
        spec::TIMESTAMP
    );
}

#[test]
fn spec_commands_decode_as_commands_and_replies_as_replies() {
    for event_type in EventType::ALL {
        let inbound = decode(
            &spec_topic(event_type),
            spec_text(event_type).as_bytes(),
            &no_prefix(),
        )
        .expect("decodes");
        let expected = match event_type {
            EventType::UpdateFirmware | EventType::CancelUpdateFirmware => Direction::Command,
            _ => Direction::Reply,
        };
        assert_eq!(inbound.direction(), expected, "{event_type}");
    }
}

#[test]
fn spec_examples_decode_under_a_prefix_when_published_under_it() {
    let prefix = TopicPrefix::new("site1").expect("prefix");
    for event_type in EventType::ALL {
        let topic = format!("site1{}", spec_topic(event_type));
        assert!(decode(&topic, spec_text(event_type).as_bytes(), &prefix).is_ok());
        let kind = event_type.topic_kind();
        assert!(topic.ends_with(match kind {
            TopicKind::Action => "/action",
            TopicKind::Ack => "/ack",
        }));
    }
}
