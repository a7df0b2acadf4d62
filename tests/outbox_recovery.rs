//! New commands reach the outbox a chunk at a time (issue 13, `service/owner/staging.rs`):
//! a process that stops between writing a target's record and writing its command leaves
//! the command only in the record. The next driver must write it and send it, with the
//! correlation id the record holds.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;
use storefleet::sim::IdStyle;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_only_in_its_target_record_is_written_and_sent_by_the_next_driver() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let spy = Spy::start(broker.port()).await;
    // Nobody answers: the deployment stays open after the CLI has sent its commands.
    let targets = controllers(1, 3, IdStyle::Readable, 7);
    let csv = ws.targets_csv("targets.csv", &targets);
    let fw = ws.firmware("fw.bin", 1_000, 7);
    let out = ws
        .run(
            Some(&broker.url()),
            &[
                "deploy",
                "--firmware",
                fw.arg(),
                "--version",
                "1.0.0",
                "--targets-csv",
                csv.to_str().unwrap(),
                "--serve",
                "127.0.0.1:0",
                "--json",
                "--ack-timeout",
                "10m",
                "--timeout",
                "10m",
            ],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    spy.wait_until("3 commands", WAIT, |seen| seen.len() >= 3)
        .await;
    let id = out.json_lines()[0]["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // As if the process had stopped before the first command's row was written: the row is
    // gone and the target's record says queued, command made, not sent.
    let lost = {
        let conn = rusqlite::Connection::open(&ws.db).unwrap();
        let (cid, controller): (String, String) = conn
            .query_row(
                "SELECT update_cid, controller_id FROM targets
                 WHERE deployment_id = ?1 ORDER BY position LIMIT 1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        conn.execute(
            "DELETE FROM messages WHERE direction = 'out' AND correlation_id = ?1",
            [&cid],
        )
        .unwrap();
        conn.execute(
            "UPDATE targets SET status = 'queued', update_sent_at = NULL
             WHERE deployment_id = ?1 AND controller_id = ?2",
            [&id, &controller],
        )
        .unwrap();
        cid
    };
    assert!(ws.history().outbox(&id).iter().all(|(c, _, _)| c != &lost));

    // `watch` takes the deployment over, writes the command and sends it.
    let sent_before = spy.count("update_firmware");
    let watch = ws.spawn(Some(&broker.url()), &["watch", "--json"]);
    spy.wait_until("the lost command again", WAIT, |seen| {
        seen.iter()
            .filter(|m| {
                m.json()
                    .is_some_and(|j| j["event_type"] == "update_firmware")
            })
            .count()
            > sent_before
    })
    .await;
    let again = spy.of_type("update_firmware");
    let resent = &again[sent_before..];
    assert_eq!(resent.len(), 1, "only the lost command goes again");
    assert_eq!(
        resent[0].json().unwrap()["correlation_id"],
        lost.as_str(),
        "with the correlation id its record holds"
    );
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let outbox = ws.history().outbox(&id);
        if outbox
            .iter()
            .any(|(c, sent, _)| c == &lost && sent.is_some())
        {
            assert_eq!(outbox.len(), 3, "one row per command: {outbox:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{outbox:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watch.interrupt();
    let out = watch.wait(WAIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
}
