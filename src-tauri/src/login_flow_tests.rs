//! The window's connection against mosquitto with a password file: a wrong password shows
//! `refused` with the reason and is not retried; saving the profile with the right one
//! connects. Needs a keychain for the password (`scripts/with-keychain.sh`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::sync::watch;

use crate::connection::{Connection, ConnectionState};
use storefleet::profiles::Keychain;
use storefleet::profiles::{ProfileInput, ProfileStore};

/// mosquitto on a free loopback port that requires `storefleet` / `right`; killed on drop.
struct LoginBroker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl LoginBroker {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let passwords = dir.path().join("passwd");
        let made = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwords)
            .args(["storefleet", "right"])
            .status()
            .expect("mosquitto_passwd runs (package mosquitto)");
        assert!(made.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
                 persistence false\nuser root\n",
                passwords.display()
            ),
        )
        .unwrap();
        let binary = std::env::var("STOREFLEET_TEST_MOSQUITTO").unwrap_or("mosquitto".into());
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for LoginBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_state(connection: &Connection, state: ConnectionState) {
    let mut status = connection.status();
    tokio::time::timeout(
        Duration::from_secs(15),
        status.wait_for(|s| s.state == state),
    )
    .await
    .unwrap_or_else(|_| panic!("never {state:?}: {:?}", connection.status().borrow()))
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_stays_refused_until_the_profile_changes() {
    let broker = LoginBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let (_demo_tx, demo_rx) = watch::channel(Some(Err(crate::BoundaryError::internal(
        "no demo in this test",
    ))));
    let connection = Connection::start(
        crate::connection::Histories {
            real: dir.path().join("history.sqlite"),
            demo: dir.path().join("demo").join("history.sqlite"),
        },
        ProfileStore::new(dir.path(), Keychain::new()),
        demo_rx,
    );
    let input = |password: &str| ProfileInput {
        id: None,
        name: "Store 3".into(),
        host: "127.0.0.1".into(),
        port: broker.port,
        tls: false,
        ca_file: None,
        client_cert: None,
        client_key: None,
        username: Some("storefleet".into()),
        topic_prefix: String::new(),
        password: Some(password.into()),
        clear_password: false,
    };
    let profile = connection.save_profile(input("wrong")).await.unwrap();
    connection.connect(profile.id.clone()).await.unwrap();
    wait_state(&connection, ConnectionState::Refused).await;
    let refused = connection.status().borrow().clone();
    assert!(
        refused
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("not authorized")),
        "{refused:?}"
    );
    // Not retried: still refused, with no countdown, after several backoff periods.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = connection.status().borrow().clone();
    assert_eq!(later.state, ConnectionState::Refused, "{later:?}");
    assert_eq!(later.next_attempt_at, None);

    // The profile changes (the right password): it connects again by itself.
    let mut fixed = input("right");
    fixed.id = Some(profile.id.clone());
    connection.save_profile(fixed).await.unwrap();
    wait_state(&connection, ConnectionState::Connected).await;
    connection.disconnect().await.unwrap();
}
