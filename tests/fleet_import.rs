//! The inventory without a broker: `storefleet fleet import | add | list` against a real
//! history file, and the History API's rules (re-import, source never downgraded, last
//! seen never going back).

#[path = "support/cli/mod.rs"]
mod cli;

use cli::*;
use serde_json::Value;
use storefleet::engine::Millis;
use storefleet::fleet::{ControllerEntry, ControllerSource, ImportReport};
use storefleet::history::{Batch, ControllerSeen, History};

fn write(ws: &Workspace, name: &str, text: &str) -> String {
    let path = ws.path(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

async fn list(ws: &Workspace) -> Vec<Value> {
    let out = ws.run(None, &["fleet", "list", "--json"], WAIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    out.json_lines()
}

fn find<'a>(rows: &'a [Value], store: &str, controller: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["store_id"] == store && r["controller_id"] == controller)
        .unwrap_or_else(|| panic!("{store}/{controller} not listed: {rows:?}"))
}

#[tokio::test]
async fn import_adds_controllers_with_optional_names_and_lists_them() {
    let ws = Workspace::new();
    let csv = write(
        &ws,
        "inventory.csv",
        "store_id,controller_id,store_name,controller_name\n\
         s2,c1,Southside,\n\
         s1,c2,,Lane 2\n\
         s1,c1,\"Northgate, Market\",Lane 1\n\
         \n",
    );
    let out = ws
        .run(None, &["fleet", "import", &csv, "--json"], WAIT)
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.json(), serde_json::json!({"added": 3, "updated": 0}));

    let rows = list(&ws).await;
    let keys: Vec<_> = rows
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["store_id"].as_str().unwrap(),
                r["controller_id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        keys,
        ["s1/c1", "s1/c2", "s2/c1"],
        "ordered by store, controller"
    );
    let c1 = find(&rows, "s1", "c1");
    assert_eq!(c1["store_name"], "Northgate, Market");
    assert_eq!(c1["controller_name"], "Lane 1");
    assert_eq!(c1["source"], "imported");
    for field in [
        "firmware_version",
        "last_seen",
        "last_result",
        "last_deployment_id",
    ] {
        assert!(c1[field].is_null(), "{field}: {c1}");
    }
    // A store name belongs to the store: c2's row has none, it shows c1's.
    assert_eq!(find(&rows, "s1", "c2")["store_name"], "Northgate, Market");
    assert_eq!(find(&rows, "s1", "c2")["controller_name"], "Lane 2");
    assert!(find(&rows, "s2", "c1")["controller_name"].is_null());

    // A file with the ids only is an inventory too.
    let ids_only = write(&ws, "ids.csv", "store_id,controller_id\ns3,c9\n");
    let out = ws.run(None, &["fleet", "import", &ids_only], WAIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stdout.contains("1 added, 0 updated"), "{}", out.stdout);
    let s3 = find(&list(&ws).await, "s3", "c9").clone();
    assert!(s3["store_name"].is_null() && s3["controller_name"].is_null());

    // The table for people: a header and one line per controller, names in their columns.
    let out = ws.run(None, &["fleet", "list"], WAIT).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert!(
        lines[0].starts_with("store") && lines[0].contains("last seen"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("Northgate, Market") && lines[1].contains("Lane 1"));
    assert!(
        lines[1].contains("never") && lines[1].ends_with("imported"),
        "{}",
        lines[1]
    );
}

#[tokio::test]
async fn one_bad_line_refuses_the_whole_file() {
    let ws = Workspace::new();
    let csv = write(
        &ws,
        "bad.csv",
        "store_id,controller_id,store_name\ns1,c1,North\ns1,c2,North\ns1,c+3,North\ns1,c4,North\n",
    );
    let out = ws.run(None, &["fleet", "import", &csv], WAIT).await;
    assert_eq!(out.code, Some(2), "{}", out.describe());
    let stderr = out.stderr_lines();
    assert_eq!(stderr.len(), 1, "one line: {}", out.stderr);
    assert!(
        stderr[0].contains("line 4") && stderr[0].contains("controller_id"),
        "{}",
        stderr[0]
    );
    assert!(list(&ws).await.is_empty(), "nothing imported");

    let no_header = write(&ws, "nohead.csv", "s1,c1\ns1,c2\n");
    let out = ws.run(None, &["fleet", "import", &no_header], WAIT).await;
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(
        out.stderr.contains("store_id and controller_id"),
        "{}",
        out.stderr
    );

    let out = ws
        .run(
            None,
            &["fleet", "import", ws.path("missing.csv").to_str().unwrap()],
            WAIT,
        )
        .await;
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(list(&ws).await.is_empty());
}

#[tokio::test]
async fn reimport_updates_names_and_keeps_those_not_given() {
    let ws = Workspace::new();
    let first = write(
        &ws,
        "a.csv",
        "store_id,controller_id,store_name,controller_name\ns1,c1,North,Lane 1\ns1,c2,North,Lane 2\n",
    );
    let out = ws
        .run(None, &["fleet", "import", &first, "--json"], WAIT)
        .await;
    assert_eq!(out.json(), serde_json::json!({"added": 2, "updated": 0}));

    // c1 renamed, c2 unchanged (blank cells keep names), c3 new.
    let second = write(
        &ws,
        "b.csv",
        "store_id,controller_id,controller_name,store_name\ns1,c1,Front desk,\ns1,c2,,\ns1,c3,Lane 3,North\n",
    );
    let out = ws
        .run(None, &["fleet", "import", &second, "--json"], WAIT)
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.json(), serde_json::json!({"added": 1, "updated": 1}));
    let rows = list(&ws).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(find(&rows, "s1", "c1")["controller_name"], "Front desk");
    assert_eq!(find(&rows, "s1", "c1")["store_name"], "North");
    assert_eq!(find(&rows, "s1", "c2")["controller_name"], "Lane 2");

    // By hand: a new controller, then a name for a known one; the source becomes manual.
    let out = ws
        .run(
            None,
            &[
                "fleet",
                "add",
                "s9",
                "c1",
                "--store-name",
                "Depot",
                "--json",
            ],
            WAIT,
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let added = out.json();
    assert_eq!(added["source"], "manual");
    assert_eq!(added["store_name"], "Depot");
    let out = ws
        .run(
            None,
            &["fleet", "add", "s1", "c2", "--controller-name", "Lane two"],
            WAIT,
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let rows = list(&ws).await;
    assert_eq!(rows.len(), 4);
    let c2 = find(&rows, "s1", "c2");
    assert_eq!(c2["controller_name"], "Lane two");
    assert_eq!(c2["store_name"], "North");
    assert_eq!(c2["source"], "manual");

    let out = ws.run(None, &["fleet", "add", "s/1", "c1"], WAIT).await;
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
    assert_eq!(list(&ws).await.len(), 4);

    // Removed, it is gone from the list; removing it again is refused in one line.
    let out = ws
        .run(None, &["fleet", "remove", "s9", "c1", "--json"], WAIT)
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.json()["removed"], true);
    let rows = list(&ws).await;
    assert_eq!(rows.len(), 3);
    assert!(!rows.iter().any(|r| r["store_id"] == "s9"));
    let out = ws.run(None, &["fleet", "remove", "s9", "c1"], WAIT).await;
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert_eq!(
        out.stderr_lines(),
        ["storefleet: s9/c1 is not in the inventory"],
        "{}",
        out.stderr
    );
}

#[test]
fn discovery_neither_downgrades_a_source_nor_turns_last_seen_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
    let entry =
        |s: &str, c: &str, name: Option<&str>| ControllerEntry::new(s, c, None, name).unwrap();
    assert_eq!(
        history
            .import_controllers(
                &[entry("s1", "c1", Some("Lane 1"))],
                ControllerSource::Imported
            )
            .unwrap(),
        ImportReport {
            added: 1,
            updated: 0
        }
    );
    let seen = |s: &str, c: &str, at: Option<u64>| ControllerSeen {
        store_id: s.into(),
        controller_id: c.into(),
        at: at.map(Millis),
    };
    // Several messages of one controller in a batch, out of order; one unknown controller;
    // one only addressed (a command), which is discovered but never seen.
    history
        .write_batch(&Batch {
            seen: vec![
                seen("s1", "c1", Some(2_000)),
                seen("s1", "c1", Some(3_000)),
                seen("s1", "c1", Some(1_000)),
                seen("s2", "c5", Some(1_500)),
                seen("s3", "c7", None),
            ],
            ..Batch::default()
        })
        .unwrap();
    let c1 = history.controller("s1", "c1").unwrap().unwrap();
    assert_eq!(c1.source, ControllerSource::Imported);
    assert_eq!(c1.controller_name.as_deref(), Some("Lane 1"));
    assert_eq!(c1.last_seen, Some(Millis(3_000)));
    let c5 = history.controller("s2", "c5").unwrap().unwrap();
    assert_eq!(
        (c5.source, c5.last_seen),
        (ControllerSource::Discovered, Some(Millis(1_500)))
    );
    let c7 = history.controller("s3", "c7").unwrap().unwrap();
    assert_eq!(
        (c7.source, c7.last_seen),
        (ControllerSource::Discovered, None)
    );

    // An older message (another process's late batch) does not turn last_seen back; a
    // command addressed to it does not clear it.
    history
        .write_batch(&Batch {
            seen: vec![seen("s1", "c1", Some(2_500)), seen("s2", "c5", None)],
            ..Batch::default()
        })
        .unwrap();
    assert_eq!(
        history.controller("s1", "c1").unwrap().unwrap().last_seen,
        Some(Millis(3_000))
    );
    assert_eq!(
        history.controller("s2", "c5").unwrap().unwrap().last_seen,
        Some(Millis(1_500))
    );

    // Importing as discovered keeps the explicit source; importing a discovered one as
    // imported upgrades it and counts as an update.
    let report = history
        .import_controllers(&[entry("s1", "c1", None)], ControllerSource::Discovered)
        .unwrap();
    assert_eq!(
        report,
        ImportReport {
            added: 0,
            updated: 0
        }
    );
    assert_eq!(
        history.controller("s1", "c1").unwrap().unwrap().source,
        ControllerSource::Imported
    );
    let report = history
        .import_controllers(&[entry("s2", "c5", None)], ControllerSource::Imported)
        .unwrap();
    assert_eq!(
        report,
        ImportReport {
            added: 0,
            updated: 1
        }
    );
    let manual = history
        .add_controller(&entry("s2", "c5", Some("Till")))
        .unwrap();
    assert_eq!(manual.source, ControllerSource::Manual);
    assert_eq!(manual.last_seen, Some(Millis(1_500)));

    let keys: Vec<_> = history
        .store_controllers("s1")
        .unwrap()
        .into_iter()
        .map(|k| k.controller_id.to_string())
        .collect();
    assert_eq!(keys, ["c1"]);
    assert!(history.store_controllers("nowhere").unwrap().is_empty());
    let all: Vec<_> = history
        .controllers()
        .unwrap()
        .into_iter()
        .map(|c| (c.store_id, c.controller_id))
        .collect();
    assert_eq!(
        all,
        [("s1", "c1"), ("s2", "c5"), ("s3", "c7")].map(|(s, c)| (s.to_owned(), c.to_owned()))
    );
}
