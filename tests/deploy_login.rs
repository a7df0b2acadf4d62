//! Broker logins: mosquitto with a `password_file` and `allow_anonymous false`.
//!
//! The right user name and password deploy. A refused login (CONNACK "bad user name or
//! password", or "not authorised" for no login at all) is final: every command that talks
//! to the broker exits 1 within seconds with one line naming the refusal, publishes nothing,
//! and `deploy` leaves no deployment behind to go out later.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use storefleet::link::{BrokerProfile, DEFAULT_INFLIGHT, LinkState, Password};
use storefleet::profiles::{Keychain, ProfileInput, ProfileStore};
use storefleet::protocol::TopicPrefix;
use storefleet::service::{BrokerSettings, Service, ServiceConfig};
use storefleet::sim::IdStyle;

const USER: &str = "storefleet";
const PASSWORD: &str = "right horse battery";
/// What the CLI and the link say about mosquitto's CONNACK for a wrong or missing login.
const REFUSAL: &str = "the broker refused the connection: not authorized";

/// One mosquitto, two listeners: its own port anonymous (for the simulated fleet and the
/// spy, which speak no login), and a second one that requires a login from the password file.
struct LoginBroker {
    broker: Mosquitto,
    login_port: u16,
    _passwords: tempfile::TempDir,
}

impl LoginBroker {
    fn start() -> Self {
        let passwords = tempfile::tempdir().unwrap();
        let file = passwords.path().join("passwd");
        let made = Command::new("mosquitto_passwd")
            .arg("-b")
            .arg("-c")
            .arg(&file)
            .arg(USER)
            .arg(PASSWORD)
            .status()
            .expect("mosquitto_passwd runs (package mosquitto)");
        assert!(made.success(), "mosquitto_passwd failed");
        let login_port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let broker = Mosquitto::start_with_prelude(
            "per_listener_settings true",
            &format!(
                "listener {login_port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
                file.display()
            ),
        );
        Self {
            broker,
            login_port,
            _passwords: passwords,
        }
    }

    fn login_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.login_port)
    }
}

/// `storefleet --broker LOGIN_URL [--username U] ARGS` with `STOREFLEET_PASSWORD`.
fn command(
    ws: &Workspace,
    broker: &LoginBroker,
    login: Option<(&str, &str)>,
    args: &[&str],
) -> Command {
    let mut full: Vec<&str> = Vec::new();
    if let Some((user, _)) = login {
        full.extend_from_slice(&["--username", user]);
    }
    full.extend_from_slice(args);
    let mut cmd = ws.command(Some(&broker.login_url()), &full);
    if let Some((_, password)) = login {
        cmd.env("STOREFLEET_PASSWORD", password);
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_login_deploys() {
    let broker = LoginBroker::start();
    let ws = Workspace::new();
    let fleet_list = controllers(2, 3, IdStyle::Readable, 41);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let spy = Spy::start(broker.broker.port()).await;
    let _fleet = start_fleet(
        &broker.broker.url(),
        &fleet_list,
        sim_config((50, 150), 0.0, 41),
    )
    .await;
    let fw = ws.firmware("fw.bin", 5_000, 41);
    let cmd = command(
        &ws,
        &broker,
        Some((USER, PASSWORD)),
        &[
            "deploy",
            "--firmware",
            fw.arg(),
            "--version",
            "3.1.0",
            "--targets-csv",
            csv.to_str().unwrap(),
            "--serve",
            "127.0.0.1:0",
            "--wait",
            "--json",
        ],
    );
    let out = Running::spawn(cmd).wait(Duration::from_secs(60)).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.json_lines().last().unwrap()["counts"]["completed"], 6);
    assert_eq!(spy.count("update_firmware"), 6);
}

/// `--profile NAME` deploys with a profile the window saved: its broker, user name and topic
/// prefix from the profiles file, its password from the OS keychain (no STOREFLEET_PASSWORD).
/// The deployment keeps the prefix and the profile's name; the fleet listening on the
/// prefixed topics completes, and nothing goes to the spec's unprefixed topics.
/// Needs a keychain (`scripts/with-keychain.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_profile_deploys_with_its_keychain_password_and_topic_prefix() {
    const PREFIX: &str = "chain-7/site";
    let broker = LoginBroker::start();
    let ws = Workspace::new();
    let config_dir = ws.path("config");
    let store = ProfileStore::new(&config_dir, Keychain::new());
    let saved = store
        .save(ProfileInput {
            id: None,
            name: "Store 12 broker".into(),
            host: "127.0.0.1".into(),
            port: broker.login_port,
            tls: false,
            ca_file: None,
            client_cert: None,
            client_key: None,
            username: Some(USER.into()),
            topic_prefix: PREFIX.into(),
            password: Some(PASSWORD.into()),
            clear_password: false,
        })
        .expect("profile saved (needs a keychain: scripts/with-keychain.sh)");
    let fleet_list = controllers(1, 3, IdStyle::Readable, 43);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let unprefixed = Spy::start(broker.broker.port()).await;
    let mut config = sim_config((50, 150), 0.0, 43);
    config.prefix = TopicPrefix::new(PREFIX).unwrap();
    let _fleet = start_fleet(&broker.broker.url(), &fleet_list, config).await;
    let fw = ws.firmware("fw.bin", 5_000, 43);
    let deploy = |profile: &str| {
        let mut cmd = ws.command(
            None,
            &[
                "--profile",
                profile,
                "deploy",
                "--firmware",
                fw.arg(),
                "--version",
                "3.2.0",
                "--targets-csv",
                csv.to_str().unwrap(),
                "--serve",
                "127.0.0.1:0",
                "--wait",
                "--json",
            ],
        );
        cmd.env("STOREFLEET_CONFIG_DIR", &config_dir);
        cmd
    };
    let out = Running::spawn(deploy("store 12 BROKER"))
        .wait(Duration::from_secs(60))
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.json_lines().last().unwrap()["counts"]["completed"], 3);
    assert_eq!(unprefixed.count("update_firmware"), 0);
    let id = out
        .json_lines()
        .iter()
        .find(|l| l["event"] == "deployment")
        .and_then(|l| l["deployment_id"].as_str().map(str::to_owned))
        .expect("a line names the deployment");
    let row = storefleet::history::History::open(&ws.db)
        .unwrap()
        .deployment(&id)
        .unwrap()
        .expect("the deployment is in the history");
    assert_eq!(row.topic_prefix.as_deref(), Some(PREFIX));

    // A name no profile has is refused in one line, and so is --profile with --broker.
    let out = Running::spawn(deploy("no such profile"))
        .wait(Duration::from_secs(20))
        .await;
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("no broker profile"), "{}", out.stderr);
    let mut both = deploy(&saved.id);
    both.arg("--broker").arg(broker.login_url());
    let out = Running::spawn(both).wait(Duration::from_secs(20)).await;
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("leave out --broker"), "{}", out.stderr);
    store.remove(&saved.id).unwrap();
}

/// Runs one command with a refused login and checks how it ends: exit 1 within a few
/// seconds, the last stderr line naming the refusal, nothing new on the broker.
async fn refused(
    ws: &Workspace,
    broker: &LoginBroker,
    spy: &Spy,
    login: Option<(&str, &str)>,
    args: &[&str],
    names: &str,
) {
    let before = spy.messages().len();
    let started = Instant::now();
    let run = Running::spawn(command(ws, broker, login, args));
    let (ended, out) = run.wait_or_kill(Duration::from_secs(8)).await;
    assert!(
        ended,
        "{args:?} still running after 8 s: {}",
        out.describe()
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{args:?} took {:?}",
        started.elapsed()
    );
    assert_eq!(out.code, Some(1), "{args:?}: {}", out.describe());
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{args:?}: one line: {}", out.stderr);
    assert!(lines[0].contains(names), "{args:?}: {}", out.stderr);
    // Give anything that slipped out time to reach the spy.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(spy.messages().len(), before, "{args:?} published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_ends_every_broker_command_at_once_and_publishes_nothing() {
    let broker = LoginBroker::start();
    let ws = Workspace::new();
    let spy = Spy::start(broker.broker.port()).await;
    let fw = ws.firmware("fw.bin", 2_000, 7);
    let deploy = [
        "deploy",
        "--firmware",
        fw.arg(),
        "--version",
        "1.0.0",
        "--target",
        "s1/c1",
        "--serve",
        "127.0.0.1:0",
        "--wait",
    ];
    let bad = Some((USER, "wrong"));
    // mosquitto 2.0 answers a wrong password, and no login at all, with "not authorised".
    refused(&ws, &broker, &spy, bad, &deploy, REFUSAL).await;
    refused(&ws, &broker, &spy, None, &deploy, REFUSAL).await;
    assert_eq!(
        ws.history().deployment_count(),
        0,
        "a refused deploy leaves nothing in the outbox"
    );

    // A deployment made with the right login, for the commands that act on one (its one
    // target does not exist, so it stays sent).
    let made = Running::spawn(command(
        &ws,
        &broker,
        Some((USER, PASSWORD)),
        &[
            "deploy",
            "--firmware",
            fw.arg(),
            "--version",
            "1.0.0",
            "--target",
            "s1/c1",
            "--serve",
            "127.0.0.1:0",
            "--json",
        ],
    ));
    let out = made.wait(Duration::from_secs(30)).await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let id = out.json_lines()[0]["deployment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paused = ws.run(None, &["pause", &id], WAIT).await;
    assert_eq!(paused.code, Some(0), "{}", paused.describe());

    for args in [
        vec!["cancel", id.as_str(), "--wait"],
        vec!["retry", id.as_str(), "--wait"],
        vec!["resume", id.as_str(), "--wait"],
        vec!["watch"],
    ] {
        refused(&ws, &broker, &spy, bad, &args, REFUSAL).await;
    }
}

/// The core link gives up on a refused login: one `Refused` state, and no attempt after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_does_not_retry_a_refused_login() {
    let broker = LoginBroker::start();
    let ws = Workspace::new();
    let mut profile = BrokerProfile::new(broker.login_url().parse().unwrap());
    profile.username = Some(USER.into());
    let mut service = Service::start(ServiceConfig {
        history: ws.db.clone(),
        broker: Some(BrokerSettings {
            profile,
            password: Some(Password::new("wrong".to_owned())),
            inflight: DEFAULT_INFLIGHT,
        }),
        topic_prefix: TopicPrefix::default(),
        identity: None,
    })
    .await
    .unwrap();
    let mut events = service.subscribe();
    let mut states = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    // Long enough for several attempts of the backoff (200 ms, 400 ms, 800 ms...).
    while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let storefleet::service::ServiceEvent::Link(state) = event {
            states.push(state);
        }
    }
    service.shutdown().await;
    let refusals = states
        .iter()
        .filter(|s| matches!(s, LinkState::Refused { reason } if reason == REFUSAL))
        .count();
    assert_eq!(refusals, 1, "{states:?}");
    assert!(
        !states.iter().any(|s| matches!(
            s,
            LinkState::Reconnecting { .. } | LinkState::Connected { .. }
        )),
        "{states:?}"
    );
    let log = broker.broker.log();
    let attempts = log
        .lines()
        .filter(|l| {
            l.contains("New connection from")
                && l.contains(&format!("on port {}", broker.login_port))
        })
        .count();
    assert_eq!(attempts, 1, "one connection attempt: {log}");
}

/// Made while the broker was down (offline, as designed), then refused at the first
/// connection: `deploy` exits 1 and withdraws every command, so no later process sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_made_offline_and_then_refused_is_withdrawn() {
    let mut broker = LoginBroker::start();
    let ws = Workspace::new();
    let spy_port = broker.broker.port();
    broker.broker.stop();
    let fw = ws.firmware("fw.bin", 2_000, 9);
    let mut run = Running::spawn(command(
        &ws,
        &broker,
        Some((USER, "wrong")),
        &[
            "deploy",
            "--firmware",
            fw.arg(),
            "--version",
            "1.0.0",
            "--target",
            "s1/c1",
            "--target",
            "s1/c2",
            "--serve",
            "127.0.0.1:0",
            "--wait",
            "--json",
        ],
    ));
    let id = run.deployment_id().await;
    broker.broker.start_again();
    let spy = Spy::start(spy_port).await;
    let (ended, out) = run.wait_or_kill(Duration::from_secs(15)).await;
    assert!(ended, "still waiting: {}", out.describe());
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr_lines().last().unwrap().contains(REFUSAL),
        "{}",
        out.stderr
    );
    let outbox = ws.history().outbox(&id);
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    assert!(
        outbox
            .iter()
            .all(|(_, sent, withdrawn)| sent.is_none() && *withdrawn),
        "every command withdrawn, none sent: {outbox:?}"
    );
    let status = ws.status(&id).await;
    assert_eq!(status["counts"]["cancelled"], 2, "{}", status["counts"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(spy.messages().is_empty(), "published: {:?}", spy.messages());
}
