//! A second, independent broker implementation for integration tests: amqtt (Python, from
//! PyPI), private to a test on a free loopback port, restartable on the same port, killed on
//! drop. `scripts/test.sh` installs it when missing and exports:
//! - `STOREFLEET_TEST_BROKER2`: a running amqtt (`mqtt://127.0.0.1:PORT`);
//! - `STOREFLEET_TEST_AMQTT`: the `amqtt` command, for private brokers like this one.
//!
//! amqtt keeps a persistent session's messages while the client is away only for clients that
//! are not anonymous, and its `AnonymousAuthPlugin` marks every client anonymous. These
//! brokers use a small plugin instead (written beside the config): everyone may connect, and
//! a client that gives a user name is not anonymous. The simulated controllers give none;
//! Storefleet gives one, as it would to a store's broker (README, "Brokers in stores").
//!
//! Tests call [`second_broker_or_skip`] first: in CI (`CI=true`) a missing variable fails the
//! test; elsewhere the test says why it skips and returns.
//!
//! Use with `#[path = "support/amqtt.rs"] mod amqtt;`.

#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Everyone may connect; a client with a user name is not anonymous (see the module comment).
const AUTH_PLUGIN: &str = "\
from amqtt.plugins.base import BaseAuthPlugin


class NamedClientsAuthPlugin(BaseAuthPlugin):
    async def authenticate(self, *, session):
        session.is_anonymous = not session.username
        return True
";

/// `$STOREFLEET_TEST_BROKER2`, or `None` (printed) outside CI; panics in CI without it.
pub fn second_broker_or_skip(test: &str) -> Option<String> {
    match std::env::var("STOREFLEET_TEST_BROKER2") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "STOREFLEET_TEST_BROKER2 is not set: CI runs the second-broker scenarios \
             (scripts/test.sh starts amqtt and exports it)"
        ),
        _ => {
            eprintln!(
                "{test}: skipped: STOREFLEET_TEST_BROKER2 is not set (scripts/test.sh starts amqtt \
                 and exports it; CI=true makes this a failure)"
            );
            None
        }
    }
}

/// The port of an `mqtt://host:port` URL.
pub fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

pub struct Amqtt {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Amqtt {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("storefleet-amqtt-")
            .tempdir()
            .expect("temp dir for amqtt");
        let mut broker = Self {
            port: free_port(),
            dir,
            child: None,
        };
        if let Err(e) = broker.spawn() {
            panic!("amqtt did not start: {e}");
        }
        broker
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL: as abrupt as a crash); its sessions are gone with it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("amqtt did not restart on port {}: {e}", self.port);
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("amqtt.log")).unwrap_or_default()
    }

    fn spawn(&mut self) -> Result<(), String> {
        std::fs::write(self.dir.path().join("storefleet_test_auth.py"), AUTH_PLUGIN)
            .map_err(|e| e.to_string())?;
        let config = self.dir.path().join("amqtt.yaml");
        std::fs::write(
            &config,
            format!(
                "---\nlisteners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{}\n\
                 plugins:\n  storefleet_test_auth.NamedClientsAuthPlugin:\n",
                self.port
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("amqtt.log"))
            .map_err(|e| e.to_string())?;
        let mut child = Command::new(binary())
            .env("PYTHONPATH", self.dir.path())
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary().display()))?;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("amqtt exited with {status}: {}", self.log()));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "not listening after {READY_TIMEOUT:?}: {}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Amqtt {
    fn drop(&mut self) {
        self.stop();
    }
}

fn binary() -> PathBuf {
    std::env::var_os("STOREFLEET_TEST_AMQTT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("amqtt").to_path_buf())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
