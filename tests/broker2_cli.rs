//! The CLI's main scenarios against a second, independent broker implementation (amqtt), as
//! against mosquitto elsewhere: deploy and complete, cancel, a broker restart, and the
//! persistent session that keeps replies while no Storefleet process is connected.
//!
//! Without `STOREFLEET_TEST_BROKER2` these tests skip with a message, except in CI
//! (`CI=true`), where they fail. Differences from mosquitto seen here are in the README
//! ("Brokers in stores").

#[path = "support/amqtt.rs"]
mod amqtt;
#[path = "support/cli/mod.rs"]
mod cli;

use std::collections::HashSet;
use std::time::Duration;

use amqtt::{Amqtt, port_of, second_broker_or_skip};
use cli::*;
use storefleet::sim::IdStyle;

fn deploy_args<'a>(fw: &'a FirmwareFile, csv: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "deploy",
        "--firmware",
        fw.arg(),
        "--version",
        "5.0.0",
        "--targets-csv",
        csv,
        "--json",
        "--ack-timeout",
        "10s",
        "--timeout",
        "40s",
    ];
    args.extend_from_slice(extra);
    args
}

/// amqtt queues for a persistent session only when the client logged in (not anonymous).
const LOGIN: [&str; 2] = ["--username", "storefleet"];

fn with_login<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = LOGIN.to_vec();
    all.extend_from_slice(args);
    all
}

fn deployment_id(out: &Outcome) -> String {
    out.json_lines()[0]["deployment_id"]
        .as_str()
        .expect("the first line carries deployment_id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_complete_on_the_second_broker() {
    let Some(url) = second_broker_or_skip("deploy_and_complete_on_the_second_broker") else {
        return;
    };
    let ws = Workspace::new();
    // UUID ids: the shared broker may carry other tests' controllers at the same time.
    let fleet_list = controllers(4, 5, IdStyle::Uuid, 201);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let spy = Spy::start(port_of(&url)).await;
    let _fleet = start_fleet(&url, &fleet_list, sim_config((100, 300), 0.0, 201)).await;
    let fw = ws.firmware("fw.bin", 40_000, 201);
    let args = deploy_args(
        &fw,
        csv.to_str().unwrap(),
        &["--serve", "127.0.0.1:0", "--wait"],
    );
    let out = ws.run(Some(&url), &args, Duration::from_secs(90)).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let id = deployment_id(&out);
    assert_eq!(out.json_lines().last().unwrap()["counts"]["completed"], 20);
    let ours = |t: &str| {
        spy.of_type(t)
            .iter()
            .filter(|m| m.deployment_id().as_deref() == Some(id.as_str()))
            .count()
    };
    assert_eq!(ours("update_firmware"), 20);
    assert_eq!(ours("update_firmware_completed"), 20);
    assert_replies_recorded_once(
        &spy.messages()
            .into_iter()
            .filter(|m| m.deployment_id().as_deref() == Some(id.as_str()))
            .collect::<Vec<_>>(),
        &ws.history(),
        &id,
    );
}

/// `deploy` leaves; 6 controllers complete while no Storefleet process is connected (their
/// replies wait in amqtt for the installation's persistent session); `cancel --wait` then
/// cancels the other 14 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_on_the_second_broker() {
    if second_broker_or_skip("cancel_on_the_second_broker").is_none() {
        return;
    }
    let broker = Amqtt::start();
    let ws = Workspace::new();
    let fleet_list = controllers(4, 5, IdStyle::Readable, 202);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let fw = ws.firmware("fw-5.0.0.bin", 20_000, 202);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((100, 200), 0.0, 202)).await;
    let server = GatedServer::start("fw-5.0.0.bin", fw.bytes.clone(), 6).await;
    let args = with_login(&deploy_args(
        &fw,
        csv.to_str().unwrap(),
        &["--base-url", &server.url],
    ));
    let out = ws.run(Some(&broker.url()), &args, WAIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let id = deployment_id(&out);
    spy.wait_until("6 completions and 20 acks on the wire", WAIT, |seen| {
        let n = |t: &str| {
            seen.iter()
                .filter(|m| m.event_type().as_deref() == Some(t))
                .count()
        };
        n("update_firmware_completed") == 6 && n("update_firmware_ack") == 20
    })
    .await;
    let completed: HashSet<_> = spy
        .of_type("update_firmware_completed")
        .iter()
        .map(|m| m.target().unwrap())
        .collect();

    let out = ws
        .run(
            Some(&broker.url()),
            &with_login(&["cancel", &id, "--wait", "--json", "--timeout", "30s"]),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 6, "{}", status["counts"]);
    assert_eq!(status["counts"]["cancelled"], 14, "{}", status["counts"]);
    let cancelled_completed: Vec<_> = spy
        .of_type("cancel_update_firmware")
        .iter()
        .map(|m| m.target().unwrap())
        .filter(|t| completed.contains(t))
        .collect();
    assert!(
        cancelled_completed.is_empty(),
        "cancel went to controllers that had completed: {cancelled_completed:?}"
    );
    assert_eq!(spy.count("cancel_update_firmware"), 14);
}

/// amqtt is killed and started again while the controllers flash: both sides reconnect,
/// subscribe again (the sessions died with it), and the deployment finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_broker_restarts_and_the_deployment_still_finishes() {
    if second_broker_or_skip("the_second_broker_restarts_and_the_deployment_still_finishes")
        .is_none()
    {
        return;
    }
    let mut broker = Amqtt::start();
    let ws = Workspace::new();
    let fleet_list = controllers(4, 5, IdStyle::Uuid, 203);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let fw = ws.firmware("fw.bin", 30_000, 203);
    let _fleet = start_fleet(
        &broker.url(),
        &fleet_list,
        sim_config((2500, 3500), 0.0, 203),
    )
    .await;
    let args = deploy_args(
        &fw,
        csv.to_str().unwrap(),
        &["--serve", "127.0.0.1:0", "--wait"],
    );
    let mut deploy = ws.spawn(Some(&broker.url()), &with_login(&args));
    let id = deploy.deployment_id().await;
    deploy
        .wait_for_lines("20 acknowledged", WAIT, |lines| {
            lines
                .iter()
                .filter(|l| l["event"] == "target" && l["status"] == "acknowledged")
                .count()
                == 20
        })
        .await;
    broker.restart();
    let out = deploy.wait(Duration::from_secs(90)).await;
    assert_eq!(
        out.code,
        Some(0),
        "{}\n--- amqtt ---\n{}",
        out.describe(),
        broker.log()
    );
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["completed"], 20, "{}", status["counts"]);
}

/// No Storefleet process is connected while every controller completes: amqtt keeps the
/// replies for the installation's persistent session, and the next process (`watch`)
/// receives and records them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_broker_keeps_replies_for_the_persistent_session() {
    if second_broker_or_skip("the_second_broker_keeps_replies_for_the_persistent_session").is_none()
    {
        return;
    }
    let broker = Amqtt::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 5, IdStyle::Readable, 204);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let fw = ws.firmware("fw.bin", 10_000, 204);
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((500, 800), 0.0, 204)).await;
    // Served by a process that outlives the deploy: the controllers download after it left.
    let server = GatedServer::start("fw.bin", fw.bytes.clone(), usize::MAX).await;
    let args = with_login(&deploy_args(
        &fw,
        csv.to_str().unwrap(),
        &["--base-url", &server.url],
    ));
    let out = ws.run(Some(&broker.url()), &args, WAIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let id = deployment_id(&out);
    spy.wait_until("10 completions on the wire", WAIT, |seen| {
        seen.iter()
            .filter(|m| m.event_type().as_deref() == Some("update_firmware_completed"))
            .count()
            == 10
    })
    .await;
    let before = ws.status(&id).await;
    assert_eq!(
        before["counts"]["completed"], 0,
        "nobody recorded them yet: {}",
        before["counts"]
    );

    let watch = ws.spawn(Some(&broker.url()), &with_login(&["watch", "--json"]));
    let status = wait_for_status(&ws, &id, "10 completed from the kept session", WAIT, |s| {
        s["counts"]["completed"] == 10
    })
    .await;
    watch.interrupt();
    let out = watch.wait(Duration::from_secs(15)).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(status["counts"]["completed"], 10);
    // Every completion exactly once. Not every ack: amqtt drops a QoS 1 message it delivered
    // but saw no PUBACK for (within 5 s, or before the client left) instead of redelivering it,
    // so an ack that reached `deploy` as it was leaving is gone (README, "Brokers in stores").
    let completions: Vec<_> = spy
        .messages()
        .into_iter()
        .filter(|m| m.event_type().as_deref() == Some("update_firmware_completed"))
        .collect();
    assert_eq!(completions.len(), 10);
    let recorded = ws
        .history()
        .inbound()
        .into_iter()
        .filter(|m| m.event_type.as_deref() == Some("update_firmware_completed"))
        .count();
    assert_eq!(recorded, 10, "each completion recorded once");
}
