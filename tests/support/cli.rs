//! Helpers for the end-to-end tests of the `storefleet` CLI (`tests/deploy_*.rs`).
//!
//! - [`Workspace`]: a temp dir with the history (`--db`), firmware files and target CSVs, and
//!   the CLI binary run against them, in the foreground ([`Workspace::run`]) or in the
//!   background ([`Running`], whose stdout is collected line by line).
//! - [`Spy`]: a plain MQTT client that records every message on both topic families.
//! - [`check_command`]: DESIGN.md section 1 and the spec, applied to one command the spy saw.
//! - [`GatedServer`]: an HTTP server for `--base-url` that can hold simulated downloads.
//! - [`Scripted`]: a hand-driven controller that replies with exact bytes.
//! - Readers of the history tables with rusqlite.
//!
//! Use with `#[path = "support/cli.rs"] mod cli;` (and `support/mosquitto.rs` beside it).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use storefleet::protocol::{Id, TopicPrefix, decode};
use storefleet::sim::{
    ControllerInfo, DurationRange, Fleet, FleetShape, IdStyle, SimConfig, generate_fleet,
    write_fleet_csv_file,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The CLI under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_storefleet");

/// The longest a single wait may take before a test gives up.
pub const WAIT: Duration = Duration::from_secs(30);

pub const ACTION_FILTER: &str = "/stores/+/controllers/+/action";
pub const ACK_FILTER: &str = "/stores/+/controllers/+/ack";

// ------------------------------------------------------------------ the CLI

/// What a finished CLI process left.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// Every stdout line parsed as JSON; panics on a line that is not.
    pub fn json_lines(&self) -> Vec<Value> {
        parse_json_lines(&self.stdout)
    }

    /// stdout as one JSON object.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", self.stdout))
    }

    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    pub fn describe(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout (last 3000 chars) ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.elapsed,
            tail(&self.stdout, 3000),
            tail(&self.stderr, 3000)
        )
    }
}

fn tail(text: &str, n: usize) -> &str {
    let start = text.len().saturating_sub(n);
    let start = (start..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[start..]
}

pub fn parse_json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"))
        })
        .collect()
}

/// A temp dir holding the history and the files a test hands to the CLI.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("storefleet-e2e-")
            .tempdir()
            .expect("temp dir");
        let db = dir.path().join("history.sqlite");
        Self { dir, db }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `storefleet --db DB [--broker URL] ARGS...`, with a clean environment for the CLI's
    /// own variables.
    pub fn command(&self, broker: Option<&str>, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("STOREFLEET_BROKER")
            .env_remove("STOREFLEET_DB")
            .env_remove("RUST_LOG")
            .env_remove("STOREFLEET_CA_FILE")
            .env_remove("STOREFLEET_CLIENT_CERT")
            .env_remove("STOREFLEET_CLIENT_KEY")
            .env_remove("STOREFLEET_USERNAME")
            .env_remove("STOREFLEET_PASSWORD")
            .arg("--db")
            .arg(&self.db);
        if let Some(url) = broker {
            cmd.arg("--broker").arg(url);
        }
        cmd.args(args);
        cmd
    }

    /// Runs the CLI to the end (killed and reported after `limit`).
    pub async fn run(&self, broker: Option<&str>, args: &[&str], limit: Duration) -> Outcome {
        Running::spawn(self.command(broker, args)).wait(limit).await
    }

    pub fn spawn(&self, broker: Option<&str>, args: &[&str]) -> Running {
        Running::spawn(self.command(broker, args))
    }

    /// `status ID` without a broker, parsed.
    pub async fn status(&self, deployment_id: &str) -> Value {
        let out = self
            .run(None, &["status", deployment_id, "--json"], WAIT)
            .await;
        assert_eq!(out.code, Some(0), "status failed: {}", out.describe());
        out.json()
    }

    /// Writes `name` with `len` deterministic bytes; returns its path, size and MD5.
    pub fn firmware(&self, name: &str, len: usize, salt: u8) -> FirmwareFile {
        let bytes = firmware_bytes(len, salt);
        let path = self.path(name);
        std::fs::write(&path, &bytes).expect("write firmware");
        FirmwareFile {
            md5: md5_hex(&bytes),
            size: bytes.len() as u64,
            path,
            bytes,
        }
    }

    /// Writes a `--targets-csv` file with the sim's format.
    pub fn targets_csv(&self, name: &str, controllers: &[ControllerInfo]) -> PathBuf {
        let path = self.path(name);
        write_fleet_csv_file(&path, controllers).expect("write targets csv");
        path
    }

    pub fn history(&self) -> HistoryDb {
        HistoryDb::open(&self.db)
    }
}

#[derive(Debug, Clone)]
pub struct FirmwareFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub size: u64,
    pub md5: String,
}

impl FirmwareFile {
    pub fn arg(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }
}

/// Deterministic bytes that look like a firmware image.
pub fn firmware_bytes(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ salt)
        .collect()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// A CLI process running in the background; stdout and stderr are collected as they come.
pub struct Running {
    child: Option<Child>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), stdout.clone()),
            collect(child.stderr.take().expect("piped stderr"), stderr.clone()),
        ];
        Self {
            child: Some(child),
            stdout,
            stderr,
            readers,
            started: Instant::now(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The complete stdout lines so far, parsed as JSON.
    pub fn json_lines(&self) -> Vec<Value> {
        let text = self.stdout();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        parse_json_lines(complete)
    }

    pub fn has_exited(&mut self) -> bool {
        matches!(
            self.child.as_mut().map(|c| c.try_wait()),
            Some(Ok(Some(_))) | None
        )
    }

    /// Waits until the complete JSON lines satisfy `done`; panics after `limit` or when the
    /// process ends first.
    pub async fn wait_for_lines(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let lines = self.json_lines();
            if done(&lines) {
                return lines;
            }
            if self.has_exited() {
                panic!(
                    "the CLI ended before {what}: stdout {}\nstderr {}",
                    tail(&self.stdout(), 3000),
                    self.stderr()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: stdout {}\nstderr {}{}",
                    tail(&self.stdout(), 3000),
                    self.stderr(),
                    stacks(self.pid())
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `deployment_id` of the first JSON line (`{"event":"deployment",...}`).
    pub async fn deployment_id(&mut self) -> String {
        let lines = self
            .wait_for_lines("the deployment line", WAIT, |l| !l.is_empty())
            .await;
        assert_eq!(lines[0]["event"], "deployment", "first line: {}", lines[0]);
        lines[0]["deployment_id"]
            .as_str()
            .expect("deployment_id is a string")
            .to_owned()
    }

    /// SIGKILL, as abrupt as a crash; waits for the process to go.
    pub fn kill(&mut self) -> Outcome {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.reap()
    }

    /// SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// Waits for the process to end; kills it and panics after `limit`.
    pub async fn wait(mut self, limit: Duration) -> Outcome {
        let deadline = Instant::now() + limit;
        while !self.has_exited() {
            if Instant::now() > deadline {
                let out = self.kill();
                panic!(
                    "the CLI did not finish within {limit:?}: {}",
                    out.describe()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.reap()
    }

    /// Waits up to `limit`; `None` (process killed) when it is still running by then.
    pub async fn wait_or_kill(mut self, limit: Duration) -> (bool, Outcome) {
        let deadline = Instant::now() + limit;
        while !self.has_exited() {
            if Instant::now() > deadline {
                let out = self.kill();
                return (false, out);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (true, self.reap())
    }

    fn reap(&mut self) -> Outcome {
        let code = match self.child.take() {
            Some(mut child) => child.wait().expect("wait for the CLI").code(),
            None => None,
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Outcome {
            code,
            stdout: self.stdout(),
            stderr: self.stderr(),
            elapsed: self.started.elapsed(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// With `STOREFLEET_E2E_STACKS` set: every thread's stack of a stuck process (gdb).
fn stacks(pid: u32) -> String {
    if std::env::var_os("STOREFLEET_E2E_STACKS").is_none() {
        return String::new();
    }
    let out = Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt 30",
        ])
        .output();
    match out {
        Ok(out) => format!("\n--- stacks ---\n{}", String::from_utf8_lossy(&out.stdout)),
        Err(e) => format!("\n(no stacks: {e})"),
    }
}

fn collect(
    stream: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => into.lock().unwrap().push_str(&line),
            }
        }
    })
}

// ------------------------------------------------------------------ the fleet

/// A simulated fleet shape with readable or UUID ids.
pub fn controllers(
    stores: usize,
    per_store: usize,
    style: IdStyle,
    seed: u64,
) -> Vec<ControllerInfo> {
    generate_fleet(&FleetShape {
        stores,
        controllers_per_store: per_store,
        id_style: style,
        seed,
    })
}

pub fn sim_config(flash: (u64, u64), fail_rate: f64, seed: u64) -> SimConfig {
    SimConfig {
        fail_rate,
        flash_time: DurationRange {
            min: Duration::from_millis(flash.0),
            max: Duration::from_millis(flash.1),
        },
        seed,
        ..SimConfig::default()
    }
}

pub async fn start_fleet(url: &str, controllers: &[ControllerInfo], config: SimConfig) -> Fleet {
    Fleet::start(url, controllers.to_vec(), config)
        .await
        .expect("the simulated fleet connects")
}

pub fn key(c: &ControllerInfo) -> (String, String) {
    (c.store_id.to_string(), c.controller_id.to_string())
}

// ------------------------------------------------------------------ the spy

/// One message as the spy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    pub at: Instant,
}

impl Seen {
    /// The body as JSON; trailing commas (as in the spec's examples) are tolerated.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok().or_else(|| {
            serde_json::from_str(&without_trailing_commas(&String::from_utf8_lossy(
                &self.payload,
            )))
            .ok()
        })
    }

    /// `event_type` of a JSON body, if it has one.
    pub fn event_type(&self) -> Option<String> {
        self.json().and_then(|v| {
            v.get("event_type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    }

    /// (store_id, controller_id, kind) from the topic.
    pub fn address(&self) -> Option<(String, String, String)> {
        let parts: Vec<&str> = self.topic.split('/').collect();
        match parts.as_slice() {
            ["", "stores", s, "controllers", c, kind] => {
                Some((s.to_string(), c.to_string(), kind.to_string()))
            }
            _ => None,
        }
    }

    pub fn target(&self) -> Option<(String, String)> {
        self.address().map(|(s, c, _)| (s, c))
    }

    pub fn deployment_id(&self) -> Option<String> {
        self.json().and_then(|v| {
            v.pointer("/payload/deployment_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    }
}

/// Drops commas that directly precede `}` or `]` (outside strings).
pub fn without_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Records every message on both topic families (clean session, resubscribes after every
/// reconnect).
pub struct Spy {
    seen: Arc<Mutex<Vec<Seen>>>,
    client: AsyncClient,
    task: JoinHandle<()>,
}

impl Spy {
    pub async fn start(port: u16) -> Self {
        let id = format!("spy-{}", &Id::new_v4().as_str()[..8]);
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(64 * 1024 * 1024, 64 * 1024 * 1024);
        options.set_clean_session(true);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_inflight(1000);
        let (client, mut eventloop) = AsyncClient::new(options, 10_000);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, mut ready_rx) = watch::channel(false);
        let record = seen.clone();
        let subscriber = client.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let c = subscriber.clone();
                        tokio::spawn(async move {
                            let _ = c.subscribe(ACTION_FILTER, QoS::AtLeastOnce).await;
                            let _ = c.subscribe(ACK_FILTER, QoS::AtLeastOnce).await;
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(true);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        record.lock().unwrap().push(Seen {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            qos: p.qos,
                            retain: p.retain,
                            dup: p.dup,
                            at: Instant::now(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, ready_rx.wait_for(|r| *r))
            .await
            .expect("the spy subscribes")
            .expect("spy alive");
        // Both SUBACKs: a second round trip through the broker settles the subscriptions.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Self { seen, client, task }
    }

    pub fn messages(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn of_type(&self, event_type: &str) -> Vec<Seen> {
        self.messages()
            .into_iter()
            .filter(|m| m.event_type().as_deref() == Some(event_type))
            .collect()
    }

    pub fn count(&self, event_type: &str) -> usize {
        self.of_type(event_type).len()
    }

    /// Waits until the messages satisfy `done`; panics after `limit`.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&[Seen]) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            if done(&self.seen.lock().unwrap()) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; the spy saw {} messages",
                    self.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Spy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A plain MQTT client for publishing arbitrary bytes (QoS 1, waits for nothing).
pub struct Publisher {
    pub client: AsyncClient,
    task: JoinHandle<()>,
}

impl Publisher {
    pub async fn connect(port: u16) -> Self {
        let id = format!("other-{}", &Id::new_v4().as_str()[..8]);
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(64 * 1024 * 1024, 64 * 1024 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let (tx, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = tx.send(true);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, rx.wait_for(|c| *c))
            .await
            .expect("publisher connects")
            .expect("publisher alive");
        Self { client, task }
    }

    pub async fn publish(&self, topic: &str, body: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, body.into())
            .await
            .expect("queue publish");
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ------------------------------------------------------------------ spec checks

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

// ------------------------------------------------------------------ the history

/// One row of the `transitions` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionRow {
    pub store_id: String,
    pub controller_id: String,
    pub attempt: u32,
    pub from: String,
    pub to: String,
    pub errors: Vec<String>,
}

/// One row of the `messages` table.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub direction: String,
    pub topic: String,
    pub body: Vec<u8>,
    pub event_type: Option<String>,
    pub deployment_id: Option<String>,
    pub correlation_id: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
}

/// Read-only access to the history file, straight through SQLite.
pub struct HistoryDb {
    conn: rusqlite::Connection,
}

impl HistoryDb {
    pub fn open(path: &Path) -> Self {
        let conn =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("open the history read-only");
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        Self { conn }
    }

    pub fn transitions(&self, deployment_id: &str) -> Vec<TransitionRow> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT store_id, controller_id, attempt, from_status, to_status, errors
                 FROM transitions WHERE deployment_id = ?1 ORDER BY id",
            )
            .unwrap();
        stmt.query_map([deployment_id], |r| {
            let errors: String = r.get(5)?;
            Ok(TransitionRow {
                store_id: r.get(0)?,
                controller_id: r.get(1)?,
                attempt: r.get(2)?,
                from: r.get(3)?,
                to: r.get(4)?,
                errors: serde_json::from_str(&errors).expect("errors column is JSON"),
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// Transitions grouped per target, in order.
    pub fn transitions_by_target(
        &self,
        deployment_id: &str,
    ) -> BTreeMap<(String, String), Vec<TransitionRow>> {
        let mut map: BTreeMap<(String, String), Vec<TransitionRow>> = BTreeMap::new();
        for t in self.transitions(deployment_id) {
            map.entry((t.store_id.clone(), t.controller_id.clone()))
                .or_default()
                .push(t);
        }
        map
    }

    pub fn messages(&self) -> Vec<MessageRow> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT direction, topic, body, event_type, deployment_id, correlation_id, outcome, reason
                 FROM messages ORDER BY id",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok(MessageRow {
                direction: r.get(0)?,
                topic: r.get(1)?,
                body: r.get(2)?,
                event_type: r.get(3)?,
                deployment_id: r.get(4)?,
                correlation_id: r.get(5)?,
                outcome: r.get(6)?,
                reason: r.get(7)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    pub fn inbound(&self) -> Vec<MessageRow> {
        self.messages()
            .into_iter()
            .filter(|m| m.direction == "in")
            .collect()
    }

    pub fn outbound(&self) -> Vec<MessageRow> {
        self.messages()
            .into_iter()
            .filter(|m| m.direction == "out")
            .collect()
    }

    /// (correlation id, sent_at, withdrawn) of every outbox row of a deployment.
    pub fn outbox(&self, deployment_id: &str) -> Vec<(String, Option<i64>, bool)> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT correlation_id, sent_at, withdrawn FROM outbox WHERE deployment_id = ?1 ORDER BY id",
            )
            .unwrap();
        stmt.query_map([deployment_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    pub fn deployment_count(&self) -> i64 {
        self.conn
            .query_row("SELECT COUNT(*) FROM deployments", [], |r| r.get(0))
            .unwrap()
    }
}

/// The statuses a target passed through (the `to` of each transition, in order), starting
/// from the first `from`.
pub fn path(rows: &[TransitionRow]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(first) = rows.first() {
        out.push(first.from.clone());
    }
    out.extend(rows.iter().map(|r| r.to.clone()));
    out
}

/// Every transition starts where the previous one ended.
pub fn assert_chained(target: &(String, String), rows: &[TransitionRow]) {
    for pair in rows.windows(2) {
        assert_eq!(
            pair[0].to, pair[1].from,
            "transitions of {target:?} do not chain: {rows:?}"
        );
    }
}

/// The multiset of (topic, body) of the controllers' replies the spy saw, and checks that
/// the history holds each exactly once, as inbound.
pub fn assert_replies_recorded_once(spy: &[Seen], history: &HistoryDb, deployment_id: &str) {
    let replies: HashSet<(String, Vec<u8>)> = spy
        .iter()
        .filter(|m| {
            m.deployment_id().as_deref() == Some(deployment_id)
                && m.event_type().is_some_and(|e| !is_command(&e))
        })
        .map(|m| (m.topic.clone(), m.payload.clone()))
        .collect();
    let mut recorded: HashMap<(String, Vec<u8>), usize> = HashMap::new();
    for m in history.inbound() {
        if m.deployment_id.as_deref() == Some(deployment_id) {
            *recorded
                .entry((m.topic.clone(), m.body.clone()))
                .or_default() += 1;
        }
    }
    for reply in &replies {
        let n = recorded.get(reply).copied().unwrap_or(0);
        assert_eq!(
            n,
            1,
            "reply recorded {n} times: {} {}",
            reply.0,
            String::from_utf8_lossy(&reply.1)
        );
    }
    for (message, n) in &recorded {
        assert!(
            replies.contains(message),
            "the history has an inbound message ({n}x) the spy never saw: {} {}",
            message.0,
            String::from_utf8_lossy(&message.1)
        );
    }
}

pub fn is_command(event_type: &str) -> bool {
    event_type == "update_firmware" || event_type == "cancel_update_firmware"
}

// ------------------------------------------------------------------ a gated HTTP server

#[derive(Default)]
struct Gate {
    bytes: Vec<u8>,
    /// Simulated downloads served at once; later ones wait for the gate.
    free: usize,
    sim_requests: AtomicUsize,
    other_requests: AtomicUsize,
}

/// Serves one firmware file at `http://127.0.0.1:PORT/fw/NAME`. Requests from the preflight
/// (any user agent but the simulator's) are answered at once; of the simulated controllers'
/// downloads the first `free` are answered at once and the rest wait until [`Self::open`]
/// (or 60 s), so those controllers stay in their cancellable download phase.
pub struct GatedServer {
    pub url: String,
    state: Arc<Gate>,
    open: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GatedServer {
    pub async fn start(name: &str, bytes: Vec<u8>, free: usize) -> Self {
        let state = Arc::new(Gate {
            bytes,
            free,
            ..Gate::default()
        });
        let (open, open_rx) = watch::channel(false);
        let app = axum::Router::new()
            .route(&format!("/fw/{name}"), axum::routing::get(gated))
            .with_state((state.clone(), open_rx));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/fw/{name}"),
            state,
            open,
            task,
        }
    }

    pub fn open(&self) {
        let _ = self.open.send(true);
    }

    pub fn sim_requests(&self) -> usize {
        self.state.sim_requests.load(Ordering::SeqCst)
    }

    pub fn other_requests(&self) -> usize {
        self.state.other_requests.load(Ordering::SeqCst)
    }
}

impl Drop for GatedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn gated(
    axum::extract::State((gate, mut open)): axum::extract::State<(
        Arc<Gate>,
        watch::Receiver<bool>,
    )>,
    headers: axum::http::HeaderMap,
) -> (axum::http::StatusCode, Vec<u8>) {
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if agent.starts_with("storefleet-sim") {
        let n = gate.sim_requests.fetch_add(1, Ordering::SeqCst);
        if n >= gate.free {
            let _ = tokio::time::timeout(Duration::from_secs(60), open.wait_for(|o| *o)).await;
        }
    } else {
        gate.other_requests.fetch_add(1, Ordering::SeqCst);
    }
    (axum::http::StatusCode::OK, gate.bytes.clone())
}

// ------------------------------------------------------------------ a scripted controller

/// What a scripted controller answers to an `update_firmware`: raw bodies, with
/// `{correlation_id}` and `{deployment_id}` filled in, published in order on the given topic
/// kind (`ack` or `action`).
#[derive(Debug, Clone)]
pub struct Script {
    pub store_id: String,
    pub controller_id: String,
    pub replies: Vec<(&'static str, String)>,
}

/// Hand-driven controllers on one connection: each answers the first `update_firmware` it
/// hears with its script (for exact bytes: error lists, trailing commas).
pub struct Scripted {
    task: JoinHandle<()>,
    pub answered: Arc<AtomicUsize>,
}

impl Scripted {
    pub async fn start(port: u16, scripts: Vec<Script>) -> Self {
        let id = format!("scripted-{}", &Id::new_v4().as_str()[..8]);
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(64 * 1024 * 1024, 64 * 1024 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let answered = Arc::new(AtomicUsize::new(0));
        let (ready_tx, mut ready_rx) = watch::channel(false);
        let topics: Vec<String> = scripts
            .iter()
            .map(|s| {
                format!(
                    "/stores/{}/controllers/{}/action",
                    s.store_id, s.controller_id
                )
            })
            .collect();
        let by_topic: HashMap<String, Script> = topics.iter().cloned().zip(scripts).collect();
        let count = answered.clone();
        let task = tokio::spawn(async move {
            let mut done: HashSet<String> = HashSet::new();
            let mut pending = 0usize;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let c = client.clone();
                        let topics = topics.clone();
                        pending = topics.len();
                        tokio::spawn(async move {
                            for t in topics {
                                let _ = c.subscribe(t, QoS::AtLeastOnce).await;
                            }
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        pending = pending.saturating_sub(1);
                        if pending == 0 {
                            let _ = ready_tx.send(true);
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let Some(script) = by_topic.get(&p.topic) else {
                            continue;
                        };
                        let Ok(body) = serde_json::from_slice::<Value>(&p.payload) else {
                            continue;
                        };
                        if body["event_type"] != "update_firmware" || !done.insert(p.topic.clone())
                        {
                            continue;
                        }
                        let correlation_id = body["correlation_id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        let deployment_id = body
                            .pointer("/payload/deployment_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        let c = client.clone();
                        let script = script.clone();
                        let count = count.clone();
                        tokio::spawn(async move {
                            for (kind, template) in &script.replies {
                                let topic = format!(
                                    "/stores/{}/controllers/{}/{kind}",
                                    script.store_id, script.controller_id
                                );
                                let body = template
                                    .replace("{correlation_id}", &correlation_id)
                                    .replace("{deployment_id}", &deployment_id);
                                let _ = c.publish(topic, QoS::AtLeastOnce, false, body).await;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            count.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, ready_rx.wait_for(|r| *r))
            .await
            .expect("scripted controllers subscribe")
            .expect("scripted controllers alive");
        Self { task, answered }
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A reply body as a controller following the spec writes it, from a template of the spec
/// (`"{correlation_id}"`, `"{deployment_id}"` are filled in by [`Scripted`]).
pub fn reply_body(
    event_type: &str,
    store_id: &str,
    controller_id: &str,
    payload_extra: &str,
) -> String {
    format!(
        "{{\"version\":\"1.0.0\",\"event_type\":\"{event_type}\",\"timestamp\":\"{}\",\
         \"correlation_id\":\"{{correlation_id}}\",\"controller_id\":\"{controller_id}\",\
         \"store_id\":\"{store_id}\",\"payload\":{{\"deployment_id\":\"{{deployment_id}}\"{payload_extra}}}}}",
        chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%:z")
    )
}

/// How often a Storefleet process (client id `storefleet-…`, not the simulator's
/// `storefleet-sim-…`) connected, from mosquitto's log.
pub fn cli_connections(log: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.contains("New client connected")
                && l.contains(" as storefleet-")
                && !l.contains(" as storefleet-sim-")
        })
        .count()
}

/// Waits until mosquitto's log shows one more Storefleet connection than `before`, then a
/// little longer (subscriptions, the Ctrl-C handler). `log` reads the broker's log.
pub async fn wait_for_cli_connection(log: impl Fn() -> String, before: usize) {
    let deadline = Instant::now() + WAIT;
    while cli_connections(&log()) <= before {
        if Instant::now() > deadline {
            panic!("no Storefleet connection in the broker log: {}", log());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Seconds since `start`, for reports.
pub fn secs(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// The status JSON's targets keyed by (store, controller).
pub fn targets_by_key(status: &Value) -> BTreeMap<(String, String), Value> {
    status["targets"]
        .as_array()
        .expect("targets array")
        .iter()
        .map(|t| {
            (
                (
                    t["store_id"].as_str().unwrap().to_owned(),
                    t["controller_id"].as_str().unwrap().to_owned(),
                ),
                t.clone(),
            )
        })
        .collect()
}

/// A small helper to wait for a condition on the history through `status`.
pub async fn wait_for_status(
    ws: &Workspace,
    deployment_id: &str,
    what: &str,
    limit: Duration,
    mut done: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let status = ws.status(deployment_id).await;
        if done(&status) {
            return status;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}: counts {}", status["counts"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn ids_of(controllers: &[ControllerInfo]) -> Vec<(Id, Id)> {
    controllers
        .iter()
        .map(|c| (c.store_id.clone(), c.controller_id.clone()))
        .collect()
}
