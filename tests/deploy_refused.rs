//! Refused input (DESIGN.md section 6): exit 2, exactly one line on stderr, and nothing
//! published (a spy on both topic families hears nothing; no deployment in the history).

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::time::Duration;

use cli::*;
use mosquitto::Mosquitto;

/// One refused invocation: `args` after `storefleet --db DB [--broker URL]`.
struct Case {
    name: &'static str,
    args: Vec<String>,
    with_broker: bool,
    /// Something the one line must mention.
    mentions: &'static str,
}

fn case(name: &'static str, args: &[&str], mentions: &'static str) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        with_broker: true,
        mentions,
    }
}

/// Runs every case in a fresh history; returns the failures as text.
async fn check_cases(broker: &Mosquitto, spy: &Spy, cases: Vec<Case>) -> Vec<String> {
    let mut problems = Vec::new();
    for c in cases {
        let ws = Workspace::new();
        // Files the cases refer to by name, created in each fresh workspace.
        let fw = ws.firmware("fw.bin", 1000, 1);
        std::fs::write(ws.path("no-columns.csv"), "store,controller\ns1,c1\n").unwrap();
        std::fs::write(
            ws.path("bad-id.csv"),
            "store_id,controller_id\ns1,c1\ns+2,c2\n",
        )
        .unwrap();
        std::fs::write(
            ws.path("unbalanced.csv"),
            "store_id,controller_id\n\"s1,c1\n",
        )
        .unwrap();
        std::fs::write(ws.path("empty.csv"), "").unwrap();
        std::fs::create_dir(ws.path("a-directory")).unwrap();
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| {
                a.replace("{fw}", fw.arg())
                    .replace("{dir}", ws.dir.path().to_str().unwrap())
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let url = broker.url();
        let out = ws
            .run(
                c.with_broker.then_some(url.as_str()),
                &args,
                Duration::from_secs(20),
            )
            .await;
        let lines = out.stderr_lines();
        let mut wrong = Vec::new();
        if out.code != Some(2) {
            wrong.push(format!("exit {:?}", out.code));
        }
        if lines.len() != 1 || lines[0].trim().is_empty() {
            wrong.push(format!("{} stderr lines", lines.len()));
        }
        if !out.stderr.contains(c.mentions) {
            wrong.push(format!("stderr does not mention {:?}", c.mentions));
        }
        if !out.stdout.is_empty() {
            wrong.push(format!("stdout {:?}", out.stdout));
        }
        if ws.db.exists() && ws.history().deployment_count() != 0 {
            wrong.push("a deployment was created".into());
        }
        if !wrong.is_empty() {
            problems.push(format!(
                "{}: {} — stderr: {:?}",
                c.name,
                wrong.join(", "),
                out.stderr
            ));
        }
    }
    // Anything published would have reached the spy by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if spy.len() != 0 {
        problems.push(format!("published: {:?}", spy.messages()));
    }
    problems
}

fn deploy() -> Vec<&'static str> {
    vec![
        "deploy",
        "--firmware",
        "{fw}",
        "--version",
        "1.2.3",
        "--serve",
        "127.0.0.1:0",
        "--wait",
        "--json",
    ]
}

fn with(base: Vec<&'static str>, extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = base;
    v.extend_from_slice(extra);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_input_exits_2_with_one_line_and_publishes_nothing() {
    let broker = Mosquitto::start();
    let spy = Spy::start(broker.port()).await;
    let long = format!("{}/c1", "s".repeat(129));
    let long: &'static str = Box::leak(long.into_boxed_str());
    let d = deploy;
    let mut cases = vec![
        case(
            "slash in a controller id",
            &with(d(), &["--target", "s1/c/1"]),
            "'/'",
        ),
        case(
            "plus in a store id",
            &with(d(), &["--target", "s+1/c1"]),
            "'+'",
        ),
        case(
            "hash in a controller id",
            &with(d(), &["--target", "s1/c#1"]),
            "'#'",
        ),
        case(
            "hash in a store id",
            &with(d(), &["--target", "s#/c1"]),
            "'#'",
        ),
        case(
            "no slash",
            &with(d(), &["--target", "s1c1"]),
            "STORE_ID/CONTROLLER_ID",
        ),
        case(
            "empty controller",
            &with(d(), &["--target", "s1/"]),
            "empty",
        ),
        case("129-character id", &with(d(), &["--target", long]), "128"),
        case(
            "control character",
            &with(d(), &["--target", "s1/c\u{7}1"]),
            "control",
        ),
        case(
            "one bad target among good ones",
            &with(d(), &["--target", "s1/c1", "--target", "s2/c+2"]),
            "'+'",
        ),
        case(
            "missing firmware file",
            &[
                "deploy",
                "--firmware",
                "{dir}/nope.bin",
                "--version",
                "1.2.3",
                "--target",
                "s1/c1",
                "--serve",
                "127.0.0.1:0",
            ],
            "nope.bin",
        ),
        case(
            "firmware is a directory",
            &[
                "deploy",
                "--firmware",
                "{dir}/a-directory",
                "--version",
                "1.2.3",
                "--target",
                "s1/c1",
                "--serve",
                "127.0.0.1:0",
            ],
            "a-directory",
        ),
        case(
            "missing targets csv",
            &with(d(), &["--targets-csv", "{dir}/missing.csv"]),
            "missing.csv",
        ),
        case(
            "targets csv without id columns",
            &with(d(), &["--targets-csv", "{dir}/no-columns.csv"]),
            "store_id",
        ),
        case(
            "targets csv with a bad id",
            &with(d(), &["--targets-csv", "{dir}/bad-id.csv"]),
            "line 3",
        ),
        case(
            "targets csv with an unbalanced quote",
            &with(d(), &["--targets-csv", "{dir}/unbalanced.csv"]),
            "csv",
        ),
        case(
            "empty targets csv",
            &with(d(), &["--targets-csv", "{dir}/empty.csv"]),
            "csv",
        ),
        case("no targets", &d(), "no targets"),
        case(
            "the same target twice",
            &with(d(), &["--target", "s1/c1", "--target", "s1/c1"]),
            "s1",
        ),
        case(
            "a zero ack timeout",
            &with(d(), &["--target", "s1/c1", "--ack-timeout", "0s"]),
            "timeout",
        ),
        case(
            "an empty firmware version",
            &[
                "deploy",
                "--firmware",
                "{fw}",
                "--version",
                "",
                "--target",
                "s1/c1",
                "--serve",
                "127.0.0.1:0",
            ],
            "version",
        ),
        case(
            "a broker URL that is not MQTT",
            &with(d(), &["--target", "s1/c1"]),
            "--broker",
        ),
        case(
            "status of an unknown deployment",
            &["status", "0b4e7d1c-0000-4000-8000-000000000000", "--json"],
            "no deployment",
        ),
        case(
            "export of an unknown deployment",
            &["export", "0b4e7d1c-0000-4000-8000-000000000000"],
            "no deployment",
        ),
        case(
            "cancel of an unknown deployment",
            &["cancel", "0b4e7d1c-0000-4000-8000-000000000000", "--json"],
            "no deployment",
        ),
        case(
            "retry of an unknown deployment",
            &["retry", "0b4e7d1c-0000-4000-8000-000000000000", "--json"],
            "no deployment",
        ),
        case(
            "cancel of a malformed id",
            &["cancel", "a/b", "--json"],
            "'/'",
        ),
    ];
    // A URL that is not MQTT: the broker argument is replaced for this case.
    let bad_broker = cases
        .iter_mut()
        .find(|c| c.name == "a broker URL that is not MQTT")
        .unwrap();
    bad_broker.with_broker = false;
    bad_broker.args.splice(
        0..0,
        ["--broker".to_owned(), "http://127.0.0.1:1".to_owned()],
    );
    let mut no_broker = case(
        "no broker at all",
        &with(d(), &["--target", "s1/c1"]),
        "broker",
    );
    no_broker.with_broker = false;
    cases.push(no_broker);

    let problems = check_cases(&broker, &spy, cases).await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A `--base-url` that serves other bytes than the file is refused by the preflight before
/// anything is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_does_not_serve_the_firmware_is_refused() {
    let broker = Mosquitto::start();
    let spy = Spy::start(broker.port()).await;
    let ws = Workspace::new();
    let fw = ws.firmware("fw.bin", 2000, 1);
    let wrong = GatedServer::start("fw.bin", firmware_bytes(2000, 2), usize::MAX).await;
    let short = GatedServer::start("fw.bin", firmware_bytes(1999, 1), usize::MAX).await;
    for (server, mentions) in [(&wrong, "MD5"), (&short, "bytes")] {
        let out = ws
            .run(
                Some(&broker.url()),
                &[
                    "deploy",
                    "--firmware",
                    fw.arg(),
                    "--version",
                    "1.0.1",
                    "--target",
                    "s1/c1",
                    "--base-url",
                    &server.url,
                    "--wait",
                    "--json",
                ],
                Duration::from_secs(20),
            )
            .await;
        assert_eq!(out.code, Some(2), "{}", out.describe());
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
        assert!(out.stderr.contains(mentions), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    let unreachable = ws
        .run(
            Some(&broker.url()),
            &[
                "deploy",
                "--firmware",
                fw.arg(),
                "--version",
                "1.0.1",
                "--target",
                "s1/c1",
                "--base-url",
                "http://127.0.0.1:1/fw",
            ],
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(unreachable.code, Some(2), "{}", unreachable.describe());
    assert_eq!(
        unreachable.stderr_lines().len(),
        1,
        "{}",
        unreachable.stderr
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(spy.len(), 0);
    assert_eq!(ws.history().deployment_count(), 0);
}

/// Bad options (clap's own errors) are refused input too: exit 2 and, per DESIGN.md section
/// 6, a one-line reason on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_refused_with_one_line() {
    let broker = Mosquitto::start();
    let spy = Spy::start(broker.port()).await;
    let d = deploy;
    let cases = vec![
        case(
            "a duration without a unit",
            &with(d(), &["--target", "s1/c1", "--ack-timeout", "5"]),
            "--ack-timeout",
        ),
        case(
            "an unknown option",
            &with(d(), &["--target", "s1/c1", "--frobnicate"]),
            "--frobnicate",
        ),
        case(
            "a missing required option",
            &["deploy", "--target", "s1/c1"],
            "--firmware",
        ),
        case(
            "a bad --serve address",
            &[
                "deploy",
                "--firmware",
                "{fw}",
                "--version",
                "1",
                "--target",
                "s1/c1",
                "--serve",
                "localhost",
            ],
            "--serve",
        ),
        case(
            "--serve with --base-url",
            &[
                "deploy",
                "--firmware",
                "{fw}",
                "--version",
                "1",
                "--target",
                "s1/c1",
                "--serve",
                "127.0.0.1:0",
                "--base-url",
                "http://127.0.0.1:1/",
            ],
            "--base-url",
        ),
        case(
            "an unknown export format",
            &["export", "x", "--format", "xml"],
            "xml",
        ),
    ];
    let problems = check_cases(&broker, &spy, cases).await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Input the engine refuses (a target listed twice, a zero timeout) is checked only after the
/// broker link has started; with the broker unreachable, the link's warnings then join the
/// reason on stderr. Refused input should be refused before connecting: one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_refusals_are_one_line_even_when_the_broker_is_unreachable() {
    let mut problems = Vec::new();
    for extra in [
        &["--target", "s1/c1", "--target", "s1/c1"][..],
        &["--target", "s1/c1", "--ack-timeout", "0s"][..],
    ] {
        let ws = Workspace::new();
        let fw = ws.firmware("fw.bin", 100, 1);
        let mut args = vec![
            "deploy",
            "--firmware",
            fw.arg(),
            "--version",
            "1.0.0",
            "--serve",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        // Nothing listens on port 1.
        let out = ws
            .run(Some("mqtt://127.0.0.1:1"), &args, Duration::from_secs(20))
            .await;
        if out.code != Some(2) || out.stderr_lines().len() != 1 {
            problems.push(format!(
                "{extra:?}: exit {:?}, stderr {:?}",
                out.code, out.stderr
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
