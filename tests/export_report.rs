//! `storefleet export --format html`: the stakeholder report of a real deployment (one
//! controller completes, one fails with hostile errors) on stdout, self-contained, every
//! field value escaped, who ran it and from which machine; an unknown id is refused.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_of_a_finished_deployment() {
    let broker = Mosquitto::start();
    let ws = Workspace::new();
    let errors = r#","errors":["<script>alert(1)</script>","flash & verify: \"bad\""]"#;
    let scripts = vec![
        Script {
            store_id: "s1".into(),
            controller_id: "c1".into(),
            replies: vec![
                ("ack", reply_body("update_firmware_ack", "s1", "c1", "")),
                (
                    "action",
                    reply_body("update_firmware_completed", "s1", "c1", ""),
                ),
            ],
        },
        Script {
            store_id: "s1".into(),
            controller_id: "c2".into(),
            replies: vec![
                ("ack", reply_body("update_firmware_ack", "s1", "c2", "")),
                (
                    "action",
                    reply_body("update_firmware_failed", "s1", "c2", errors),
                ),
            ],
        },
    ];
    let _scripted = Scripted::start(broker.port(), scripts).await;
    let fw = ws.firmware("fw.bin", 2_000, 9);
    let out = ws
        .run(
            Some(&broker.url()),
            &[
                "deploy",
                "--firmware",
                fw.arg(),
                "--version",
                "3.1.0",
                "--target",
                "s1/c1",
                "--target",
                "s1/c2",
                "--serve",
                "127.0.0.1:0",
                "--wait",
                "--json",
            ],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(3), "one target failed: {}", out.describe());
    let id = out.json_lines()[0]["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let report = ws
        .run(None, &["export", &id, "--format", "html"], WAIT)
        .await;
    assert_eq!(report.code, Some(0), "{}", report.describe());
    assert!(report.stderr.is_empty(), "{}", report.stderr);
    let html = &report.stdout;
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.trim_end().ends_with("</html>"));
    let field = |start: &str| {
        let from = html.find(start).unwrap_or_else(|| panic!("{start}")) + start.len();
        html[from..][..html[from..].find('<').unwrap()].to_owned()
    };
    assert_eq!(field(r#"data-field="deployment-id">"#), id);
    assert_eq!(field(r#"data-field="state">"#), "finished");
    assert_eq!(field(r#"data-count="completed"><b>"#), "1");
    assert_eq!(field(r#"data-count="failed"><b>"#), "1");
    assert_eq!(field(r#"data-field="md5">"#), fw.md5);
    assert!(field(r#"data-field="file-size">"#).contains("(2000 bytes)"));
    // Who ran it: this test's user and host, as the core reads them.
    let who = storefleet::history::RunBy::this_process();
    assert_eq!(field(r#"data-field="operator">"#), who.operator.unwrap());
    assert_eq!(field(r#"data-field="host">"#), who.host.unwrap());
    // The failure with its errors, escaped; nothing that loads or runs.
    assert!(
        html.contains("<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>"),
        "{html}"
    );
    assert!(html.contains("<li>flash &amp; verify: &quot;bad&quot;</li>"));
    let lower = html.to_lowercase();
    for banned in ["<script", "<img", "<link", " src=", " href="] {
        assert!(!lower.contains(banned), "{banned} in the report");
    }
    assert_eq!(html.matches("<polyline data-series=").count(), 3);

    // The CSV export of the same deployment still holds both targets.
    let csv = ws
        .run(None, &["export", &id, "--format", "csv"], WAIT)
        .await;
    assert_eq!(csv.code, Some(0), "{}", csv.describe());
    assert_eq!(csv.stdout.lines().count(), 3);

    let unknown = ws
        .run(None, &["export", "no-such-id", "--format", "html"], WAIT)
        .await;
    assert_eq!(unknown.code, Some(2), "{}", unknown.describe());
    assert!(unknown.stdout.is_empty());
    assert!(
        unknown
            .stderr
            .contains("no deployment no-such-id in the history"),
        "{}",
        unknown.stderr
    );
}
