//! Maintenance windows end to end, against mosquitto with simulated controllers: a store
//! whose window opens a few seconds into the test gets nothing before it opens and
//! everything after, while a store without a window (sent at once, as asked) goes at once;
//! the plan says when each store goes; not-after skips what its window never let go.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, FixedOffset, Timelike, Utc};
use cli::*;
use mosquitto::Mosquitto;
use storefleet::sim::IdStyle;

const LIMIT: Duration = Duration::from_secs(90);

/// Asia/Kolkata is +05:30 all year (no DST), so the test can compute its wall clock.
const ZONE: &str = "Asia/Kolkata";

fn kolkata(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&FixedOffset::east_opt(5 * 3600 + 1800).unwrap())
}

/// `Daily HH:MM:SS-HH:MM:SS` from `opens` for an hour, in the store's clock.
fn window_from(opens: DateTime<Utc>) -> String {
    let from = kolkata(opens);
    let to = kolkata(opens + chrono::Duration::hours(1));
    format!(
        "Daily {}-{}",
        from.format("%H:%M:%S"),
        to.format("%H:%M:%S")
    )
}

async fn fleet_cmd(ws: &Workspace, args: &[&str]) {
    let out = ws.run(None, args, LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
}

fn deploy_args<'a>(fw: &'a FirmwareFile, csv: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "deploy",
        "--firmware",
        fw.arg(),
        "--version",
        "5.0.0",
        "--targets-csv",
        csv,
        "--serve",
        "127.0.0.1:0",
        "--json",
        "--ack-timeout",
        "5s",
        "--timeout",
        "20s",
        "--wait",
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_goes_to_a_store_before_its_window_opens_and_everything_after() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 3, IdStyle::Readable, 61);
    let north = fleet_list[0].store_id.to_string();
    let south = fleet_list[3].store_id.to_string();
    assert_ne!(north, south);
    let fw = ws.firmware("fw-5.0.0.bin", 16 * 1024, 6);
    let csv = ws.targets_csv("targets.csv", &fleet_list);
    // A refused review first: the window-less store must be named.
    let refused = ws
        .run(
            Some(&broker.url()),
            &deploy_args(&fw, csv.to_str().unwrap(), &["--in-windows", "--review"]),
            LIMIT,
        )
        .await;
    assert_eq!(refused.code, Some(2), "{}", refused.describe());
    assert!(
        refused.stderr.contains("no maintenance window"),
        "{}",
        refused.describe()
    );

    // The window opens 8 s from now, to the second, in the store's own zone.
    let (now_sys, now) = (SystemTime::now(), Instant::now());
    let opens_utc = whole_second(DateTime::<Utc>::from(now_sys) + chrono::Duration::seconds(8));
    let opens = now + SystemTime::from(opens_utc).duration_since(now_sys).unwrap();
    let window = window_from(opens_utc);
    fleet_cmd(&ws, &["fleet", "set-timezone", &north, ZONE]).await;
    fleet_cmd(&ws, &["fleet", "set-window", &north, &window]).await;

    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((50, 150), 0.0, 61)).await;
    let out = ws
        .run(
            Some(&broker.url()),
            &deploy_args(
                &fw,
                csv.to_str().unwrap(),
                &["--in-windows", "--no-window", "send"],
            ),
            LIMIT,
        )
        .await;
    assert_eq!(
        out.code,
        Some(0),
        "every target completed; {}",
        out.describe()
    );
    let lines = out.json_lines();
    let plan = lines
        .iter()
        .find(|l| l["event"] == "plan")
        .expect("the plan line");
    let stores = plan["stores"].as_array().unwrap();
    let north_plan = stores
        .iter()
        .find(|s| s["store_id"] == north.as_str())
        .unwrap();
    assert_eq!(north_plan["start"]["kind"], "at", "{plan}");
    let text = north_plan["text"].as_str().unwrap();
    // The plan leaves out the seconds of a time on the whole minute (`maintenance/plan.rs`).
    let opens_local = kolkata(opens_utc);
    let clock = if opens_local.second() == 0 {
        "%H:%M"
    } else {
        "%H:%M:%S"
    };
    assert!(
        text.contains(&opens_local.format(clock).to_string()) && text.contains("in "),
        "{text}"
    );
    let south_plan = stores
        .iter()
        .find(|s| s["store_id"] == south.as_str())
        .unwrap();
    assert_eq!(south_plan["start"]["kind"], "now", "{plan}");

    let updates = spy.of_type("update_firmware");
    let (mut north_sent, mut south_sent) = (0, 0);
    for m in &updates {
        let (store, _) = m.target().unwrap();
        if store == north {
            north_sent += 1;
            assert!(
                m.at + Duration::from_millis(20) >= opens,
                "a north command went {:?} before its window opened",
                opens - m.at
            );
        } else {
            south_sent += 1;
            assert!(m.at < opens, "south has no window: sent at once");
        }
    }
    assert_eq!((north_sent, south_sent), (3, 3), "{updates:?}");
    let status = ws.status(lines[0]["deployment_id"].as_str().unwrap()).await;
    assert_eq!(status["counts"]["completed"], 6, "{status}");
}

fn whole_second(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_still_waiting_at_not_after_end_skipped_with_the_reason() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let fleet_list = controllers(1, 2, IdStyle::Readable, 62);
    let store = fleet_list[0].store_id.to_string();
    let fw = ws.firmware("fw-5.0.1.bin", 8 * 1024, 7);
    let csv = ws.targets_csv("targets.csv", &fleet_list);
    // A window that opened an hour from now: it never opens before not-after.
    let later = Utc::now() + chrono::Duration::hours(2);
    fleet_cmd(&ws, &["fleet", "set-timezone", &store, ZONE]).await;
    fleet_cmd(&ws, &["fleet", "set-window", &store, &window_from(later)]).await;
    let spy = Spy::start(broker.port()).await;
    let _fleet = start_fleet(&broker.url(), &fleet_list, sim_config((50, 150), 0.0, 62)).await;
    let out = ws
        .run(
            Some(&broker.url()),
            &deploy_args(
                &fw,
                csv.to_str().unwrap(),
                &["--in-windows", "--not-after", "+4s"],
            ),
            LIMIT,
        )
        .await;
    assert_eq!(
        out.code,
        Some(3),
        "finished, not completed; {}",
        out.describe()
    );
    let summary = out.json_lines().pop().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["counts"]["skipped"], 2, "{summary}");
    for t in summary["targets"].as_array().unwrap() {
        assert_eq!(t["status"], "skipped");
        assert!(
            t["errors"][0].as_str().unwrap().contains("not-after"),
            "{t}"
        );
    }
    assert!(spy.of_type("update_firmware").is_empty());
}
