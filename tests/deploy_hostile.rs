//! Hostile messages beside a normal deployment: spoofed ids, garbage bytes, a 2 MB body, an
//! unknown major version, replies for unknown deployments, and a flood. The deployment
//! completes normally, the CLI keeps its one connection, and every rejected message is in the
//! history with its reason.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::collections::HashMap;
use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;
use serde_json::Value;
use storefleet::sim::IdStyle;

fn topic(store: &str, controller: &str, kind: &str) -> String {
    format!("/stores/{store}/controllers/{controller}/{kind}")
}

/// A well-formed message of the spec's shape.
fn message(
    version: &str,
    event_type: &str,
    correlation_id: &str,
    store: &str,
    controller: &str,
    payload: &str,
) -> String {
    format!(
        "{{\"version\":\"{version}\",\"event_type\":\"{event_type}\",\"timestamp\":\"2024-01-15T15:30:25+07:00\",\
         \"correlation_id\":\"{correlation_id}\",\"controller_id\":\"{controller}\",\"store_id\":\"{store}\",\
         \"payload\":{payload}}}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_rejected_with_reasons_and_the_deployment_completes() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(4, 5, IdStyle::Readable, 61);
    let fw = ws.firmware("fw.bin", 30_000, 61);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(
        &broker.url(),
        &fleet_list,
        sim_config((1500, 2500), 0.0, 61),
    )
    .await;
    let mut deploy = ws.spawn(
        Some(&broker.url()),
        &[
            "deploy",
            "--firmware",
            fw.arg(),
            "--version",
            "7.0.0",
            "--targets-csv",
            csv.to_str().unwrap(),
            "--serve",
            "127.0.0.1:0",
            "--wait",
            "--json",
            "--ack-timeout",
            "5s",
            "--timeout",
            "30s",
        ],
    );
    let id = deploy.deployment_id().await;
    deploy
        .wait_for_lines("20 acknowledged", WAIT, |lines| {
            lines
                .iter()
                .filter(|l| l["status"] == "acknowledged")
                .count()
                == 20
        })
        .await;
    // While every controller flashes.
    let (a, b) = (&fleet_list[0], &fleet_list[1]);
    let (sa, ca) = (a.store_id.as_str(), a.controller_id.as_str());
    let (sb, cb) = (b.store_id.as_str(), b.controller_id.as_str());
    let command_of = |store: &str, controller: &str| -> String {
        spy.of_type("update_firmware")
            .iter()
            .find(|m| m.target() == Some((store.to_owned(), controller.to_owned())))
            .map(|m| {
                m.json().unwrap()["correlation_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .expect("the command to that target")
    };
    let a_command = command_of(sa, ca);
    let b_command = command_of(sb, cb);
    let deployment = format!("{{\"deployment_id\":\"{id}\"}}");
    let unknown = uuid::Uuid::new_v4().to_string();
    let mut deep = "[".repeat(100_000);
    deep.push_str(&"]".repeat(100_000));
    let mut big = String::from("{\"pad\":\"");
    big.push_str(&"A".repeat(2 * 1024 * 1024));
    big.push_str("\"}");
    let garbage: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
        .collect();

    // (topic, body, expected outcome in the history, in the deployment's export?)
    let hostile: Vec<(String, Vec<u8>, &str, bool)> = vec![
        // Spoofed: the body claims to be B, the topic is A's.
        (
            topic(sa, ca, "action"),
            message("1.0.0", "update_firmware_completed", &b_command, sb, cb, &deployment).into(),
            "topic_mismatch",
            false,
        ),
        // Spoofed: A's topic and body, but B's correlation id.
        (
            topic(sa, ca, "ack"),
            message("1.0.0", "update_firmware_ack", &b_command, sa, ca, &deployment).into(),
            "correlation_id_of_other_target",
            true,
        ),
        // A completion on the ack topic.
        (
            topic(sa, ca, "ack"),
            message("1.0.0", "update_firmware_completed", &a_command, sa, ca, &deployment).into(),
            "wrong_topic_kind",
            false,
        ),
        (topic(sa, ca, "ack"), garbage.clone(), "not_utf8", false),
        (topic(sb, cb, "action"), b"{\"version\": \"1.0.0\", oops".to_vec(), "not_json", false),
        (topic(sb, cb, "action"), Vec::new(), "not_json", false),
        (topic(sb, cb, "ack"), deep.into_bytes(), "not_json", false),
        (topic(sa, ca, "action"), big.into_bytes(), "too_large", false),
        (
            topic(sa, ca, "action"),
            message("2.0.0", "update_firmware_completed", &a_command, sa, ca, &deployment).into(),
            "unsupported_version",
            false,
        ),
        (
            topic(sa, ca, "action"),
            message(
                "1.0.0",
                "update_firmware_failed",
                &a_command,
                sa,
                ca,
                &format!("{{\"deployment_id\":\"{unknown}\",\"errors\":[\"x\"]}}"),
            )
            .into(),
            "unknown_deployment",
            false,
        ),
        (
            topic(sa, ca, "action"),
            message("1.0.0", "update_firmware_progress", &a_command, sa, ca, &deployment).into(),
            "unknown_event_type",
            false,
        ),
        (
            topic(sa, ca, "action"),
            format!(
                "{{\"version\":\"1.0.0\",\"version\":\"1.0.0\",\"event_type\":\"update_firmware_completed\",\"timestamp\":\"2024-01-15T15:30:25+07:00\",\"correlation_id\":\"{a_command}\",\"controller_id\":\"{ca}\",\"store_id\":\"{sa}\",\"payload\":{deployment}}}"
            )
            .into(),
            "duplicate_key",
            false,
        ),
        // A failure whose errors are not a list of strings.
        (
            topic(sa, ca, "action"),
            message(
                "1.0.0",
                "update_firmware_failed",
                &a_command,
                sa,
                ca,
                &format!("{{\"deployment_id\":\"{id}\",\"errors\":[1,2]}}"),
            )
            .into(),
            "bad_field",
            false,
        ),
        // Another operator's command (not ours): recorded as observed, not a rejection.
        (
            topic("store-x", "ctrl-x", "action"),
            message(
                "1.0.0",
                "update_firmware",
                &uuid::Uuid::new_v4().to_string(),
                "store-x",
                "ctrl-x",
                &format!(
                    "{{\"deployment_id\":\"{unknown}\",\"firmware_version\":\"0.9\",\"file_url\":\"http://elsewhere/fw.bin\",\"file_size\":1,\"checksum\":\"8a3be389a446bba670da3a33e5506d2e\"}}"
                ),
            )
            .into(),
            "observed",
            false,
        ),
        // A reply from a controller that is not a target.
        (
            topic("store-x", "ctrl-x", "ack"),
            message("1.0.0", "update_firmware_ack", &a_command, "store-x", "ctrl-x", &deployment)
                .into(),
            "unknown_target",
            true,
        ),
    ];
    let other = Publisher::connect(broker.port()).await;
    for (topic, body, _, _) in &hostile {
        other.publish(topic, body.clone()).await;
    }
    // And a flood of distinct junk on every target's topics.
    for i in 0..2000 {
        let c = &fleet_list[i % fleet_list.len()];
        let kind = if i % 2 == 0 { "ack" } else { "action" };
        other
            .publish(
                &topic(c.store_id.as_str(), c.controller_id.as_str(), kind),
                format!("junk #{i}"),
            )
            .await;
    }

    let out = deploy.wait(Duration::from_secs(60)).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 20, "{}", status["counts"]);
    assert_eq!(
        cli_connections(&broker.log()),
        1,
        "the CLI never lost its connection: {}",
        broker.log()
    );
    let transitions = ws.history().transitions_by_target(&id);
    for (target, rows) in &transitions {
        assert_eq!(
            path(rows),
            ["queued", "sent", "acknowledged", "completed"],
            "{target:?}"
        );
    }

    // Every hostile message is in the history once, with its outcome and a reason.
    let history = ws.history();
    let messages = history.inbound();
    let mut by_bytes: HashMap<(String, Vec<u8>), Vec<&MessageRow>> = HashMap::new();
    for m in &messages {
        by_bytes
            .entry((m.topic.clone(), m.body.clone()))
            .or_default()
            .push(m);
    }
    for (topic, body, outcome, _) in &hostile {
        // An oversized body is kept as an excerpt, with its full size and MD5.
        let kept = if *outcome == "too_large" {
            body[..storefleet::link::EXCERPT_BYTES].to_vec()
        } else {
            body.clone()
        };
        let rows = by_bytes
            .get(&(topic.clone(), kept))
            .unwrap_or_else(|| panic!("not recorded: {outcome} on {topic}"));
        if *outcome == "too_large" {
            assert_eq!(rows[0].body_size, Some(body.len() as i64));
            assert_eq!(rows[0].body_md5.as_deref(), Some(md5_hex(body).as_str()));
        }
        assert_eq!(rows.len(), 1, "{outcome}");
        assert_eq!(rows[0].outcome, *outcome, "{topic}: {:?}", rows[0].reason);
        if *outcome == "observed" {
            continue; // not a rejection: no reason
        }
        let reason = rows[0].reason.as_deref().unwrap_or_default();
        assert!(
            !reason.is_empty() && !reason.contains('\n'),
            "{outcome}: {reason:?}"
        );
    }
    let junk = messages
        .iter()
        .filter(|m| m.body.starts_with(b"junk #"))
        .count();
    assert_eq!(junk, 2000, "every junk message recorded");
    assert!(
        messages
            .iter()
            .filter(|m| m.body.starts_with(b"junk #"))
            .all(|m| m.outcome == "not_json")
    );

    // `export --format jsonl` holds this deployment's messages only.
    let exported = ws
        .run(None, &["export", &id, "--format", "jsonl"], WAIT)
        .await;
    assert_eq!(exported.code, Some(0), "{}", exported.describe());
    let lines = exported.json_lines();
    let ours = history
        .messages()
        .into_iter()
        .filter(|m| m.deployment_id.as_deref() == Some(id.as_str()))
        .count();
    assert_eq!(lines.len(), ours);
    for line in &lines {
        let body = line["body"].as_str().unwrap();
        let parsed: Value = serde_json::from_str(body).expect("only parsed messages");
        assert_eq!(parsed["payload"]["deployment_id"], id.as_str(), "{line}");
        for field in [
            "direction",
            "at",
            "topic",
            "event_type",
            "outcome",
            "reason",
            "body",
        ] {
            assert!(line.get(field).is_some(), "{field} in {line}");
        }
    }
    for (topic, body, outcome, in_export) in &hostile {
        let found = lines.iter().any(|l| {
            l["topic"] == topic.as_str()
                && l["body"].as_str().map(str::as_bytes) == Some(body.as_slice())
        });
        assert_eq!(found, *in_export, "{outcome} in the deployment's export");
        if *in_export {
            let line = lines.iter().find(|l| l["outcome"] == *outcome).unwrap();
            assert!(
                line["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{line}"
            );
        }
    }
}
