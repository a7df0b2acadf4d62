//! Test support: the CLI.

use super::*;

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
            .env_remove("STOREFLEET_LOG")
            .env_remove("STOREFLEET_CA_FILE")
            .env_remove("STOREFLEET_CLIENT_CERT")
            .env_remove("STOREFLEET_CLIENT_KEY")
            .env_remove("STOREFLEET_USERNAME")
            .env_remove("STOREFLEET_PASSWORD")
            .env_remove("STOREFLEET_PROFILE")
            .env_remove("STOREFLEET_TOPIC_PREFIX")
            .env_remove("STOREFLEET_CONFIG_DIR");
        // A log filter for the CLI processes of a test, to see why one misbehaves.
        if let Ok(log) = std::env::var("STOREFLEET_TEST_CLI_LOG") {
            cmd.env("STOREFLEET_LOG", log);
        }
        cmd.arg("--db").arg(&self.db);
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

/// The ack timeout to pass with a completion timeout (`"3s"`): 5 s, or the completion timeout
/// when it is shorter (a deployment's completion timeout may not be shorter than its ack
/// timeout).
pub fn ack_within(completion: &str) -> &str {
    let short = completion
        .strip_suffix('s')
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n < 5);
    if short { completion } else { "5s" }
}
