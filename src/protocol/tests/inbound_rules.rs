//! DESIGN.md section 1, inbound, the envelope: JSON shape, size, version, event type,
//! topic. Payload and field rules are in `inbound_fields`.

use serde_json::json;

use super::spec_examples as spec;
use super::support::{code, decode_changed, decode_text, minify, no_prefix, spec_text, spec_topic};
use crate::protocol::{
    Event, EventType, FieldProblem, IdError, MAX_BODY_BYTES, Rejection, TopicError, TopicKind,
    decode,
};

#[test]
fn trailing_commas_in_objects_and_lists_are_accepted() {
    let text = spec::UPDATE_FIRMWARE_FAILED.replace("\"error message 3\"", "\"error message 3\",");
    assert!(text.contains("\"error message 3\",\n    ]"));
    let inbound = decode_text(EventType::UpdateFirmwareFailed, &text).expect("accepted");
    let Event::UpdateFirmwareFailed { errors, .. } = inbound.envelope.event else {
        panic!("wrong event");
    };
    assert_eq!(errors.len(), 3);
    // And the strict form is accepted too.
    assert!(
        decode_text(
            EventType::UpdateFirmwareAck,
            &minify(spec::UPDATE_FIRMWARE_ACK)
        )
        .is_ok()
    );
}

#[test]
fn trailing_comma_look_alikes_inside_strings_are_kept_verbatim() {
    let inbound = decode_changed(EventType::UpdateFirmwareFailed, |v| {
        v["payload"]["errors"] = json!([",}", "a,]", "\\\",}", "\"quoted\","]);
    })
    .expect("accepted");
    let Event::UpdateFirmwareFailed { errors, .. } = inbound.envelope.event else {
        panic!("wrong event");
    };
    assert_eq!(errors, [",}", "a,]", "\\\",}", "\"quoted\","]);
}

#[test]
fn other_non_json_is_rejected() {
    let e = EventType::UpdateFirmwareAck;
    let good = minify(spec::UPDATE_FIRMWARE_ACK);
    for bad in [
        String::new(),
        "{,}".to_owned(),
        good.replacen("{", "{,", 1),
        good.replacen(",", ",,", 1),
        good.replace('"', "'"),
        format!("{good}{good}"),
        good[..good.len() - 1].to_owned(),
        "// comment\n".to_owned() + &good,
    ] {
        assert_eq!(code(decode_text(e, &bad)), "not_json", "{bad:?}");
    }
}

#[test]
fn body_must_be_a_json_object() {
    for bad in ["[]", "\"text\"", "42", "null", "[{\"version\":\"1.0.0\"},]"] {
        assert_eq!(
            decode_text(EventType::UpdateFirmwareAck, bad).err(),
            Some(Rejection::NotObject),
            "{bad}"
        );
    }
}

#[test]
fn body_must_be_utf8() {
    let mut body = minify(spec::UPDATE_FIRMWARE_ACK).into_bytes();
    body.insert(20, 0xFF);
    let topic = spec_topic(EventType::UpdateFirmwareAck);
    assert_eq!(
        decode(&topic, &body, &no_prefix()).err(),
        Some(Rejection::NotUtf8)
    );
}

#[test]
fn version_with_major_1_is_accepted() {
    for v in ["1.0.0", "1.2.3", "1.10.0", "1.0.99"] {
        let result = decode_changed(EventType::UpdateFirmwareAck, |m| m["version"] = json!(v));
        assert_eq!(result.map(|i| i.version), Ok(v.to_owned()));
    }
}

#[test]
fn version_with_another_major_is_rejected_as_unsupported() {
    for v in ["2.0.0", "0.9.0", "10.0.0", "99999999999999999999.0.0"] {
        let result = decode_changed(EventType::UpdateFirmwareAck, |m| m["version"] = json!(v));
        assert_eq!(
            result.err(),
            Some(Rejection::UnsupportedVersion(v.to_owned())),
            "{v}"
        );
    }
}

#[test]
fn malformed_version_is_rejected_as_bad_version() {
    for v in [
        "",
        "1",
        "1.0",
        "1.0.0.0",
        "v1.0.0",
        "1.0.0-beta",
        "1.x.0",
        "01.0.0",
        "1.00.0",
        " 1.0.0",
        "1.-1.0",
    ] {
        let result = decode_changed(EventType::UpdateFirmwareAck, |m| m["version"] = json!(v));
        assert_eq!(code(result), "bad_version", "{v:?}");
    }
    let number = decode_changed(EventType::UpdateFirmwareAck, |m| m["version"] = json!(1.0));
    assert_eq!(code(number), "bad_field");
    let missing = decode_changed(EventType::UpdateFirmwareAck, |m| {
        m.as_object_mut().map(|o| o.remove("version"));
    });
    assert_eq!(missing.err(), Some(Rejection::MissingField("version")));
}

#[test]
fn store_id_differing_from_topic_is_rejected_as_spoofed() {
    let result = decode_changed(EventType::UpdateFirmwareCompleted, |m| {
        m["store_id"] = json!("another-store");
    });
    assert_eq!(
        result.err(),
        Some(Rejection::TopicMismatch {
            field: "store_id",
            topic: spec::STORE_ID.to_owned(),
            body: "another-store".to_owned(),
        })
    );
}

#[test]
fn controller_id_differing_from_topic_is_rejected_as_spoofed() {
    let e = EventType::UpdateFirmwareAck;
    let result = decode_changed(e, |m| m["controller_id"] = json!(spec::STORE_ID));
    assert_eq!(code(result), "topic_mismatch");
    // Same ids, published on another controller's topic.
    let topic = format!("/stores/{}/controllers/other/ack", spec::STORE_ID);
    let result = decode(&topic, spec::UPDATE_FIRMWARE_ACK.as_bytes(), &no_prefix());
    assert_eq!(code(result), "topic_mismatch");
    // Case matters: ids are compared exactly.
    let upper = spec::CONTROLLER_ID.to_uppercase();
    let result = decode_changed(e, |m| m["controller_id"] = json!(upper));
    assert_eq!(code(result), "topic_mismatch");
}

#[test]
fn unknown_event_type_is_rejected() {
    for bad in ["reboot", "UPDATE_FIRMWARE", "update_firmware_ack ", ""] {
        let result = decode_changed(EventType::UpdateFirmwareAck, |m| {
            m["event_type"] = json!(bad)
        });
        assert_eq!(
            result.err(),
            Some(Rejection::UnknownEventType(bad.to_owned()))
        );
    }
    let number = decode_changed(EventType::UpdateFirmwareAck, |m| m["event_type"] = json!(1));
    assert_eq!(code(number), "bad_field");
}

#[test]
fn events_on_the_wrong_topic_kind_are_rejected() {
    for e in EventType::ALL {
        let wrong = match e.topic_kind() {
            TopicKind::Action => "ack",
            TopicKind::Ack => "action",
        };
        let topic = format!(
            "/stores/{}/controllers/{}/{wrong}",
            spec::STORE_ID,
            spec::CONTROLLER_ID
        );
        let result = decode(&topic, spec_text(e).as_bytes(), &no_prefix());
        assert_eq!(code(result), "wrong_topic_kind", "{e}");
    }
}

#[test]
fn oversized_bodies_are_rejected_before_parsing() {
    let topic = spec_topic(EventType::UpdateFirmwareAck);
    // Not even JSON: the size alone decides.
    let huge = vec![b'x'; MAX_BODY_BYTES + 1];
    assert_eq!(
        decode(&topic, &huge, &no_prefix()).err(),
        Some(Rejection::TooLarge {
            size: MAX_BODY_BYTES + 1,
            limit: 262_144
        })
    );
    // A valid message padded to exactly the limit is accepted.
    let mut at_limit = minify(spec::UPDATE_FIRMWARE_ACK).into_bytes();
    at_limit.resize(MAX_BODY_BYTES, b' ');
    assert!(decode(&topic, &at_limit, &no_prefix()).is_ok());
    at_limit.push(b' ');
    assert_eq!(code(decode(&topic, &at_limit, &no_prefix())), "too_large");
}

#[test]
fn foreign_topics_are_rejected() {
    let body = spec::UPDATE_FIRMWARE_ACK.as_bytes();
    for topic in [
        "stores/a/controllers/b/ack",
        "/stores/a/controllers/b",
        "",
        "#",
    ] {
        assert_eq!(
            code(decode(topic, body, &no_prefix())),
            "bad_topic",
            "{topic:?}"
        );
    }
    let bad_id = decode("/stores//controllers/b/ack", body, &no_prefix());
    assert_eq!(
        bad_id.err(),
        Some(Rejection::BadTopic(TopicError::StoreId(IdError::Empty)))
    );
}

#[test]
fn duplicate_keys_are_rejected() {
    let top = spec::UPDATE_FIRMWARE_ACK.replacen("{\n", "{\n  \"store_id\": \"x\",\n", 1);
    assert_eq!(
        decode_text(EventType::UpdateFirmwareAck, &top).err(),
        Some(Rejection::DuplicateKey("store_id".into()))
    );
    let nested = spec::UPDATE_FIRMWARE_ACK.replacen(
        "\"payload\": {\n",
        "\"payload\": {\n    \"deployment_id\": \"d\",\n",
        1,
    );
    assert_eq!(
        code(decode_text(EventType::UpdateFirmwareAck, &nested)),
        "duplicate_key"
    );
}

#[test]
fn rejection_reasons_quote_hostile_strings_briefly() {
    let long = "x".repeat(10_000);
    let result = decode_changed(EventType::UpdateFirmwareAck, |m| {
        m["event_type"] = json!(long)
    });
    let Err(Rejection::UnknownEventType(quoted)) = result else {
        panic!()
    };
    assert!(quoted.chars().count() <= 65);
}

#[test]
fn rejection_codes_are_stable_and_distinct() {
    let all = [
        Rejection::TooLarge { size: 0, limit: 0 },
        Rejection::BadTopic(TopicError::Layout),
        Rejection::NotUtf8,
        Rejection::NotJson(String::new()),
        Rejection::DuplicateKey(String::new()),
        Rejection::NotObject,
        Rejection::MissingField("x"),
        Rejection::BadField {
            field: "x",
            problem: FieldProblem::NotU64,
        },
        Rejection::BadVersion(String::new()),
        Rejection::UnsupportedVersion(String::new()),
        Rejection::UnknownEventType(String::new()),
        Rejection::WrongTopicKind {
            event_type: EventType::UpdateFirmware,
            topic_kind: TopicKind::Ack,
        },
        Rejection::TopicMismatch {
            field: "store_id",
            topic: String::new(),
            body: String::new(),
        },
    ];
    let codes: Vec<_> = all.iter().map(Rejection::code).collect();
    assert_eq!(
        codes,
        [
            "too_large",
            "bad_topic",
            "not_utf8",
            "not_json",
            "duplicate_key",
            "not_object",
            "missing_field",
            "bad_field",
            "bad_version",
            "unsupported_version",
            "unknown_event_type",
            "wrong_topic_kind",
            "topic_mismatch"
        ]
    );
    for r in &all {
        assert!(!r.to_string().is_empty());
    }
}

#[test]
fn deeply_nested_bodies_are_rejected_without_crashing() {
    let body = format!("{{\"x\":{}}}", "[".repeat(100_000));
    let topic = spec_topic(EventType::UpdateFirmwareAck);
    assert_eq!(
        code(decode(&topic, body.as_bytes(), &no_prefix())),
        "not_json"
    );
}
