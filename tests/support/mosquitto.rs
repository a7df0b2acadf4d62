//! A private mosquitto for integration tests: its own temp config on a free loopback port,
//! restartable on the same port, killed on drop.
//!
//! Use it from a test file with `#[path = "support/mosquitto.rs"] mod mosquitto;`.
//! The binary is `$STOREFLEET_TEST_MOSQUITTO`, else `mosquitto` on `PATH`, else
//! `/usr/sbin/mosquitto`. Blocking (std only), so sync and async tests can both use it.
//!
//! The base config follows RECIPES.md: no persistence and no queue or in-flight limits, since
//! with mosquitto's defaults a subscriber that falls behind silently loses QoS 1 messages.

#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(10);
const START_TRIES: usize = 5;

pub struct Mosquitto {
    port: u16,
    dir: tempfile::TempDir,
    /// Extra config lines; they follow the `listener` line, so listener options (TLS files)
    /// apply to it.
    extra: String,
    /// Config lines before everything else (`per_listener_settings true` must come first).
    prelude: String,
    child: Option<Child>,
}

impl Mosquitto {
    /// A plain broker with the base config.
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// A broker with `extra` config lines (e.g. `cafile ...`, `require_certificate true`).
    /// Lines may use `{dir}` for the broker's temp directory.
    pub fn start_with(extra: &str) -> Self {
        Self::start_with_prelude("", extra)
    }

    /// Like [`Mosquitto::start_with`], with `prelude` at the very top of the config.
    pub fn start_with_prelude(prelude: &str, extra: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("storefleet-mosquitto-")
            .tempdir()
            .expect("temp dir for mosquitto");
        let extra = extra.replace("{dir}", &dir.path().display().to_string());
        let mut broker = Self {
            port: 0,
            dir,
            extra,
            prelude: prelude.to_owned(),
            child: None,
        };
        let mut last_error = String::new();
        // Another process may take the free port before mosquitto binds it: try another.
        for _ in 0..START_TRIES {
            broker.port = free_port();
            match broker.spawn() {
                Ok(()) => return broker,
                Err(error) => last_error = error,
            }
        }
        panic!("mosquitto did not start: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's temp directory (its config, log, and any files a test puts there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the broker (SIGKILL: as abrupt as a crash) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port with the same config.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "mosquitto is already running");
        if let Err(error) = self.spawn() {
            panic!("mosquitto did not restart on port {}: {error}", self.port);
        }
    }

    /// Stops and starts again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// The broker's log so far, for failure messages.
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("mosquitto.log"))
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.path().display().to_string();
        let config = format!(
            "{prelude}\n\
             listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence false\n\
             max_queued_messages 0\n\
             max_inflight_messages 0\n\
             user root\n\
             log_dest file {dir}/mosquitto.log\n\
             log_type error\n\
             log_type warning\n\
             log_type notice\n\
             log_type information\n\
             {extra}\n",
            port = self.port,
            prelude = self.prelude,
            extra = self.extra,
        );
        std::fs::write(self.config_path(), config).map_err(|e| e.to_string())?;
        let stderr = File::create(self.dir.path().join("stderr.log")).map_err(|e| e.to_string())?;
        let mut child = Command::new(binary())
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary().display()))?;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("mosquitto exited with {status}: {}", self.log()));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "mosquitto did not listen within {READY_TIMEOUT:?}: {}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("local address").port()
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("STOREFLEET_TEST_MOSQUITTO") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("mosquitto"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/mosquitto"))
}
