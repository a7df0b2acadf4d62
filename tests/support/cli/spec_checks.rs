//! Test support: spec checks.

use super::*;

/// What every command of one deployment must carry.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub deployment_id: &'a str,
    pub firmware_version: &'a str,
    pub checksum: &'a str,
    pub file_size: u64,
    pub file_url: &'a str,
    /// The numeric offset the CLI's local zone has now, e.g. `+07:00`.
    pub offset: &'a str,
}

fn is_uuid_v4(text: &str) -> bool {
    match uuid::Uuid::parse_str(text) {
        Ok(u) => {
            u.get_version() == Some(uuid::Version::Random)
                && u.hyphenated().to_string() == text.to_ascii_lowercase()
        }
        Err(_) => false,
    }
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Checks one command Storefleet published (DESIGN.md section 1, the spec's schema); returns
/// its correlation id.
pub fn check_command(m: &Seen, expect: &Expect<'_>) -> String {
    let ctx = || format!("{} {}", m.topic, String::from_utf8_lossy(&m.payload));
    let (store, controller, kind) = m
        .address()
        .unwrap_or_else(|| panic!("bad topic: {}", ctx()));
    assert_eq!(
        m.topic,
        format!("/stores/{store}/controllers/{controller}/action"),
        "topic shape"
    );
    assert_eq!(kind, "action", "commands go on the action topic: {}", ctx());
    assert_eq!(m.qos, QoS::AtLeastOnce, "published with QoS 1: {}", ctx());
    let body: Value = serde_json::from_slice(&m.payload)
        .unwrap_or_else(|e| panic!("command is not JSON ({e}): {}", ctx()));
    let event = body["event_type"].as_str().unwrap_or_default().to_owned();
    assert!(
        event == "update_firmware" || event == "cancel_update_firmware",
        "a command: {}",
        ctx()
    );
    assert_eq!(
        keys(&body),
        sorted(&[
            "version",
            "event_type",
            "timestamp",
            "correlation_id",
            "controller_id",
            "store_id",
            "payload"
        ]),
        "exact top-level keys: {}",
        ctx()
    );
    // The spec's key order (the encoder promises it; readers should not care, but check).
    let text = String::from_utf8_lossy(&m.payload);
    let order: Vec<usize> = [
        "\"version\"",
        "\"event_type\"",
        "\"timestamp\"",
        "\"correlation_id\"",
        "\"controller_id\"",
        "\"store_id\"",
        "\"payload\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap_or(usize::MAX))
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "spec key order: {}",
        ctx()
    );
    assert_eq!(body["version"], "1.0.0", "{}", ctx());
    assert_eq!(body["store_id"], store.as_str(), "{}", ctx());
    assert_eq!(body["controller_id"], controller.as_str(), "{}", ctx());
    let timestamp = body["timestamp"].as_str().expect("timestamp string");
    check_timestamp(timestamp, expect.offset);
    let correlation_id = body["correlation_id"]
        .as_str()
        .expect("correlation_id string");
    assert!(
        is_uuid_v4(correlation_id),
        "correlation_id is a UUID v4: {}",
        ctx()
    );
    let payload = &body["payload"];
    assert_eq!(payload["deployment_id"], expect.deployment_id, "{}", ctx());
    assert!(
        is_uuid_v4(expect.deployment_id),
        "deployment id is a UUID v4"
    );
    if event == "update_firmware" {
        assert_eq!(
            keys(payload),
            sorted(&[
                "deployment_id",
                "firmware_version",
                "file_url",
                "file_size",
                "checksum"
            ]),
            "exact payload keys: {}",
            ctx()
        );
        assert_eq!(
            payload["firmware_version"],
            expect.firmware_version,
            "{}",
            ctx()
        );
        assert_eq!(payload["file_url"], expect.file_url, "{}", ctx());
        assert!(
            payload["file_size"].is_u64(),
            "file_size is a JSON integer: {}",
            ctx()
        );
        assert_eq!(
            payload["file_size"].as_u64(),
            Some(expect.file_size),
            "{}",
            ctx()
        );
        let checksum = payload["checksum"].as_str().expect("checksum string");
        assert_eq!(checksum, expect.checksum, "{}", ctx());
        assert!(
            checksum.len() == 32
                && checksum
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "lowercase hex MD5: {}",
            ctx()
        );
    } else {
        assert_eq!(
            keys(payload),
            sorted(&["deployment_id"]),
            "exact payload keys: {}",
            ctx()
        );
    }
    // And the protocol's own decoder accepts it as a command.
    let decoded = decode(&m.topic, &m.payload, &TopicPrefix::default())
        .unwrap_or_else(|e| panic!("our decoder refuses our command ({e}): {}", ctx()));
    assert!(decoded.envelope.event_type().is_command());
    correlation_id.to_owned()
}

/// `2024-01-15T15:30:25+07:00`: seconds, numeric offset, never `Z`, close to now.
pub fn check_timestamp(timestamp: &str, offset: &str) {
    let b = timestamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        r.into_iter()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    let shape = b.len() == 25
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (b[19] == b'+' || b[19] == b'-')
        && digits(20..22)
        && b[22] == b':'
        && digits(23..25);
    assert!(
        shape,
        "timestamp {timestamp:?} is not YYYY-MM-DDTHH:MM:SS+HH:MM"
    );
    assert!(!timestamp.contains('Z'), "{timestamp}");
    assert_eq!(
        &timestamp[19..],
        offset,
        "the local zone's offset: {timestamp}"
    );
    let at = chrono::DateTime::parse_from_rfc3339(timestamp).expect("RFC 3339");
    let skew = (chrono::Utc::now() - at.to_utc()).num_seconds().abs();
    assert!(skew < 300, "timestamp {timestamp} is {skew}s away from now");
}
