//! Brokers for the simulator's tests: `$STOREFLEET_TEST_BROKER`, a private mosquitto, or
//! the embedded broker.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use storefleet::protocol::{Id, TopicPrefix};
use storefleet::sim::EmbeddedBroker;

/// A broker for one test; a private mosquitto is killed on drop.
pub enum TestBroker {
    External(String),
    Mosquitto(Mosquitto),
    Embedded(EmbeddedBroker),
}

impl TestBroker {
    /// `$STOREFLEET_TEST_BROKER` when set (a running mosquitto), else a private mosquitto.
    pub fn mosquitto() -> Self {
        match std::env::var("STOREFLEET_TEST_BROKER") {
            Ok(url) if !url.is_empty() => Self::External(url),
            _ => Self::Mosquitto(Mosquitto::start()),
        }
    }

    pub fn embedded() -> Self {
        Self::Embedded(EmbeddedBroker::start().expect("embedded broker starts"))
    }

    pub fn url(&self) -> String {
        match self {
            Self::External(url) => url.clone(),
            Self::Mosquitto(m) => format!("mqtt://127.0.0.1:{}", m.port),
            Self::Embedded(b) => b.url(),
        }
    }
}

pub struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Self {
        let bin = [
            "/usr/sbin/mosquitto",
            "/usr/bin/mosquitto",
            "/usr/local/sbin/mosquitto",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("mosquitto");
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let dir = tempfile::tempdir().expect("temp dir");
            let conf = dir.path().join("mosquitto.conf");
            // RECIPES.md: no persistence, no queue or in-flight limits.
            std::fs::write(
                &conf,
                format!(
                    "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                     max_queued_messages 0\nmax_inflight_messages 0\n"
                ),
            )
            .expect("mosquitto config");
            let mut child = Command::new(bin)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {bin} (install mosquitto): {e}"));
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return Self {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break; // port taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("mosquitto did not start");
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A topic prefix no other test uses.
pub fn unique_prefix(test: &str) -> TopicPrefix {
    TopicPrefix::new(format!("t-{test}-{}", &Id::new_v4().as_str()[..8])).unwrap()
}
