//! Properties: encode then decode is the identity, and no input makes decoding panic.

use chrono::{DateTime, FixedOffset};
use proptest::prelude::*;

use super::support::{no_prefix, spec_text, spec_topic};
use crate::protocol::ids::check_char;
use crate::protocol::json::strip_trailing_commas;
use crate::protocol::{
    Envelope, Event, EventType, FirmwareUpdate, Id, Md5Hex, TopicAddress, TopicPrefix, decode,
    encode, format_timestamp,
};

/// Any valid id: UUID-like, short ASCII, or arbitrary Unicode with invalid characters
/// replaced, up to the 128-character limit.
fn arb_id() -> impl Strategy<Value = Id> {
    let unicode = prop::collection::vec(any::<char>(), 1..=128).prop_map(|chars| {
        chars
            .into_iter()
            .map(|c| if check_char(c, 0).is_ok() { c } else { 'x' })
            .collect::<String>()
    });
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        "[A-Za-z0-9 ._$-]{1,20}",
        unicode,
    ]
    .prop_map(|s| Id::new(s).expect("strategy yields valid ids"))
}

/// Whole-second instants from year 5 to 9986, at any whole-minute offset up to ±23:59, so
/// the local year always fits RFC 3339's four digits.
fn arb_timestamp() -> impl Strategy<Value = DateTime<FixedOffset>> {
    (-62_000_000_000i64..253_000_000_000i64, -1439i32..=1439).prop_map(|(secs, minutes)| {
        let offset = FixedOffset::east_opt(minutes * 60).expect("in range");
        DateTime::from_timestamp(secs, 0)
            .expect("in range")
            .with_timezone(&offset)
    })
}

fn arb_event() -> impl Strategy<Value = Event> {
    let update = (
        arb_id(),
        any::<String>(),
        any::<String>(),
        any::<u64>(),
        any::<[u8; 16]>(),
    )
        .prop_map(
            |(deployment_id, firmware_version, file_url, file_size, digest)| {
                Event::UpdateFirmware(FirmwareUpdate {
                    deployment_id,
                    firmware_version,
                    file_url,
                    file_size,
                    checksum: Md5Hex::from_digest(digest),
                })
            },
        );
    let failed = (arb_id(), prop::collection::vec(any::<String>(), 0..6)).prop_map(
        |(deployment_id, errors)| Event::UpdateFirmwareFailed {
            deployment_id,
            errors,
        },
    );
    prop_oneof![
        update,
        failed,
        arb_id().prop_map(|deployment_id| Event::UpdateFirmwareAck { deployment_id }),
        arb_id().prop_map(|deployment_id| Event::UpdateFirmwareCompleted { deployment_id }),
        arb_id().prop_map(|deployment_id| Event::CancelUpdateFirmware { deployment_id }),
        arb_id().prop_map(|deployment_id| Event::CancelUpdateFirmwareAck { deployment_id }),
    ]
}

fn arb_envelope() -> impl Strategy<Value = Envelope> {
    (arb_timestamp(), arb_id(), arb_id(), arb_id(), arb_event()).prop_map(
        |(timestamp, correlation_id, store_id, controller_id, event)| Envelope {
            timestamp,
            correlation_id,
            store_id,
            controller_id,
            event,
        },
    )
}

fn arb_prefix() -> impl Strategy<Value = TopicPrefix> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9 ]{1,8}(/[a-zé0-9_-]{1,8}){0,2}"
    ]
    .prop_map(|p| TopicPrefix::new(p).expect("valid prefix"))
}

/// Adds a trailing comma before every `}` and `]` that closes a non-empty list, as the
/// spec's examples do.
fn add_trailing_commas(json: &[u8]) -> Vec<u8> {
    let (mut out, mut in_string, mut escaped) = (Vec::new(), false, false);
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b'}' | b']') && !matches!(out.last(), Some(b'{' | b'[')) {
            out.push(b',');
        }
        out.push(b);
    }
    out
}

/// A spec example or an arbitrary encoded message, with its topic: where mutations start.
fn valid_messages() -> impl Strategy<Value = (String, Vec<u8>)> {
    prop_oneof![
        prop::sample::select(EventType::ALL.to_vec())
            .prop_map(|e| (spec_topic(e), spec_text(e).as_bytes().to_vec())),
        arb_envelope().prop_map(|env| {
            let encoded = encode(&env, &no_prefix()).expect("encode");
            (encoded.topic, encoded.body)
        }),
    ]
}

proptest! {
    #[test]
    fn encode_then_decode_is_the_identity(envelope in arb_envelope(), prefix in arb_prefix()) {
        let encoded = encode(&envelope, &prefix).expect("encode");
        let inbound = decode(&encoded.topic, &encoded.body, &prefix)
            .map_err(|r| TestCaseError::fail(format!("{} ({r})", r.code())))?;
        prop_assert_eq!(&inbound.envelope, &envelope);
        prop_assert_eq!(inbound.envelope.timestamp.offset(), envelope.timestamp.offset());
        prop_assert_eq!(inbound.version.as_str(), "1.0.0");
        prop_assert_eq!(Some(inbound.raw_timestamp), format_timestamp(&envelope.timestamp).ok());
    }

    #[test]
    fn encoded_bodies_need_no_trailing_comma_repair(envelope in arb_envelope()) {
        let encoded = encode(&envelope, &no_prefix()).expect("encode");
        prop_assert!(matches!(strip_trailing_commas(&encoded.body), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn trailing_commas_everywhere_decode_the_same(envelope in arb_envelope()) {
        let encoded = encode(&envelope, &no_prefix()).expect("encode");
        let with_commas = add_trailing_commas(&encoded.body);
        let added = with_commas.windows(2).any(|w| w == b",}");
        prop_assert!(added, "no comma added");
        let inbound = decode(&encoded.topic, &with_commas, &no_prefix())
            .map_err(|r| TestCaseError::fail(format!("{} ({r})", r.code())))?;
        prop_assert_eq!(inbound.envelope, envelope);
    }

    #[test]
    fn topic_render_then_parse_is_the_identity(
        store in arb_id(), controller in arb_id(), ack in any::<bool>(), prefix in arb_prefix()
    ) {
        let kind = if ack { crate::protocol::TopicKind::Ack } else { crate::protocol::TopicKind::Action };
        let address = TopicAddress::new(store, controller, kind);
        prop_assert_eq!(TopicAddress::parse(&address.render(&prefix), &prefix), Ok(address));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = decode(&spec_topic(EventType::UpdateFirmwareAck), &body, &no_prefix());
    }

    #[test]
    fn decoding_json_like_text_never_panics(body in r#"[{}\[\]",:0-9a-z\\. \n-]{0,300}"#) {
        let _ = decode(&spec_topic(EventType::UpdateFirmware), body.as_bytes(), &no_prefix());
    }

    #[test]
    fn decoding_arbitrary_topics_never_panics(
        topic in prop_oneof![any::<String>(), "(/[a-z+#]{0,3}){0,8}", "/stores/[^/]{0,5}/controllers/.{0,5}/ac[kt].{0,2}"],
        prefix in arb_prefix(),
    ) {
        let _ = decode(&topic, spec_text(EventType::UpdateFirmwareAck).as_bytes(), &prefix);
        let _ = TopicAddress::parse(&topic, &prefix);
        let _ = TopicPrefix::new(topic.clone());
        let _ = Id::new(topic);
    }

    #[test]
    fn truncated_messages_are_rejected_without_panicking(
        (topic, body) in valid_messages(), cut in any::<prop::sample::Index>()
    ) {
        prop_assert!(decode(&topic, &body, &no_prefix()).is_ok());
        let cut = cut.index(body.len());
        prop_assert!(decode(&topic, &body[..cut], &no_prefix()).is_err());
    }

    #[test]
    fn mutated_messages_never_panic(
        (topic, body) in valid_messages(),
        at in any::<prop::sample::Index>(),
        len in 0usize..16,
        bytes in prop::collection::vec(any::<u8>(), 0..8),
        how in 0u8..4,
    ) {
        let mut body = body;
        let i = at.index(body.len() + 1);
        let j = (i + len).min(body.len());
        match how {
            0 => { body.drain(i..j); }
            1 => { body.splice(i..i, bytes); }
            2 => { body.splice(i..j, bytes); }
            _ => { let copy = body[i..j].to_vec(); body.splice(i..i, copy); }
        }
        if let Ok(inbound) = decode(&topic, &body, &no_prefix()) {
            // Whatever was accepted can be written back out.
            prop_assert!(encode(&inbound.envelope, &no_prefix()).is_ok());
        }
    }
}
