//! DESIGN.md section 1, inbound, the fields: ids, payload, errors list, types; and what
//! the codec decided where the spec is silent (upper-case checksums, extra fields).

use serde_json::{Value, json};

use super::spec_examples as spec;
use super::support::{code, decode_changed, decode_text};
use crate::protocol::{ChecksumError, Event, EventType, FieldProblem, IdError, Inbound, Rejection};

#[test]
fn deployment_id_is_required_and_must_be_a_valid_id() {
    for e in EventType::ALL {
        let missing = decode_changed(e, |m| {
            m["payload"]
                .as_object_mut()
                .map(|p| p.remove("deployment_id"));
        });
        assert_eq!(
            missing.err(),
            Some(Rejection::MissingField("payload.deployment_id")),
            "{e}"
        );
    }
    let e = EventType::UpdateFirmwareAck;
    let empty = decode_changed(e, |m| m["payload"]["deployment_id"] = json!(""));
    assert_eq!(
        empty.err(),
        Some(Rejection::BadField {
            field: "payload.deployment_id",
            problem: FieldProblem::Id(IdError::Empty),
        })
    );
    let number = decode_changed(e, |m| m["payload"]["deployment_id"] = json!(7));
    assert_eq!(code(number), "bad_field");
    let no_payload = decode_changed(e, |m| {
        m.as_object_mut().map(|o| o.remove("payload"));
    });
    assert_eq!(no_payload.err(), Some(Rejection::MissingField("payload")));
    let payload_list = decode_changed(e, |m| m["payload"] = json!([]));
    assert_eq!(code(payload_list), "bad_field");
}

#[test]
fn failure_errors_must_be_a_list_of_strings() {
    let e = EventType::UpdateFirmwareFailed;
    let empty = decode_changed(e, |m| m["payload"]["errors"] = json!([]));
    assert!(matches!(
        empty.map(|i| i.envelope.event),
        Ok(Event::UpdateFirmwareFailed { errors, .. }) if errors.is_empty()
    ));
    let missing = decode_changed(e, |m| {
        m["payload"].as_object_mut().map(|p| p.remove("errors"));
    });
    assert_eq!(
        missing.err(),
        Some(Rejection::MissingField("payload.errors"))
    );
    for bad in [json!("disk full"), json!(null), json!({"a": "b"}), json!(3)] {
        let result = decode_changed(e, |m| m["payload"]["errors"] = bad.clone());
        assert_eq!(code(result), "bad_field", "{bad}");
    }
    let mixed = decode_changed(e, |m| m["payload"]["errors"] = json!(["ok", 2, "x"]));
    assert_eq!(
        mixed.err(),
        Some(Rejection::BadField {
            field: "payload.errors",
            problem: FieldProblem::ItemNotString {
                index: 1,
                found: "a number"
            },
        })
    );
}

#[test]
fn wrong_types_are_rejected_with_the_field_named() {
    let e = EventType::UpdateFirmware;
    let cases: [(&str, Value); 6] = [
        ("file_size", json!("779")),
        ("file_size", json!(779.0)),
        ("file_size", json!(-1)),
        ("file_size", json!(18_446_744_073_709_551_616.0)),
        ("firmware_version", json!(101)),
        ("file_url", json!(null)),
    ];
    for (key, bad) in cases {
        let result = decode_changed(e, |m| m["payload"][key] = bad.clone());
        let Err(Rejection::BadField { field, .. }) = result else {
            panic!("{key}={bad}: {result:?}");
        };
        assert_eq!(field, format!("payload.{key}"));
    }
    // One more than u64::MAX, written as an integer literal.
    let text = spec::UPDATE_FIRMWARE.replace("779", "18446744073709551616");
    assert_eq!(code(decode_text(e, &text)), "bad_field");
}

#[test]
fn file_size_is_read_as_an_exact_unsigned_integer() {
    let text = spec::UPDATE_FIRMWARE.replace("779", "18446744073709551615");
    let inbound = decode_text(EventType::UpdateFirmware, &text).expect("u64::MAX");
    let Event::UpdateFirmware(update) = inbound.envelope.event else {
        panic!()
    };
    assert_eq!(update.file_size, u64::MAX);
}

#[test]
fn checksum_must_be_32_hex_digits_upper_case_accepted_and_lowered() {
    let e = EventType::UpdateFirmware;
    let upper = decode_changed(e, |m| {
        m["payload"]["checksum"] = json!("8A3BE389A446BBA670DA3A33E5506D2E")
    });
    let Ok(Inbound { envelope, .. }) = upper else {
        panic!("{upper:?}")
    };
    let Event::UpdateFirmware(update) = envelope.event else {
        panic!()
    };
    assert_eq!(update.checksum.as_str(), "8a3be389a446bba670da3a33e5506d2e");
    let short = decode_changed(e, |m| m["payload"]["checksum"] = json!("8a3b"));
    assert_eq!(
        short.err(),
        Some(Rejection::BadField {
            field: "payload.checksum",
            problem: FieldProblem::Checksum(ChecksumError::WrongLength { len: 4 }),
        })
    );
    let not_hex = decode_changed(e, |m| m["payload"]["checksum"] = json!("z".repeat(32)));
    assert_eq!(code(not_hex), "bad_field");
}

#[test]
fn timestamp_accepts_rfc3339_variants_and_keeps_the_original_text() {
    for t in [
        "2024-01-15T08:30:25Z",
        "2024-01-15T08:30:25.123+00:00",
        "2024-01-15T15:30:25-03:30",
    ] {
        let inbound = decode_changed(EventType::UpdateFirmwareAck, |m| m["timestamp"] = json!(t))
            .unwrap_or_else(|r| panic!("{t}: {r}"));
        assert_eq!(inbound.raw_timestamp, t);
    }
    for bad in [
        "",
        "2024-01-15",
        "2024-01-15T15:30:25",
        "15/01/2024 15:30",
        "2024-13-01T00:00:00Z",
    ] {
        let result = decode_changed(EventType::UpdateFirmwareAck, |m| {
            m["timestamp"] = json!(bad)
        });
        assert_eq!(code(result), "bad_field", "{bad:?}");
    }
}

#[test]
fn correlation_id_must_be_a_valid_id() {
    let e = EventType::UpdateFirmwareAck;
    let slash = decode_changed(e, |m| m["correlation_id"] = json!("a/b"));
    assert!(matches!(
        slash.err(),
        Some(Rejection::BadField {
            field: "correlation_id",
            problem: FieldProblem::Id(IdError::Forbidden { .. })
        })
    ));
    let missing = decode_changed(e, |m| {
        m.as_object_mut().map(|o| o.remove("correlation_id"));
    });
    assert_eq!(
        missing.err(),
        Some(Rejection::MissingField("correlation_id"))
    );
    let non_uuid = decode_changed(e, |m| m["correlation_id"] = json!("cmd-42"));
    assert!(non_uuid.is_ok());
}

#[test]
fn unknown_extra_fields_are_ignored() {
    let result = decode_changed(EventType::UpdateFirmwareFailed, |m| {
        m["trace"] = json!({"span": [1, 2, {"deep": null}]});
        m["payload"]["retry_in"] = json!(30);
    });
    assert!(result.is_ok(), "{result:?}");
}
