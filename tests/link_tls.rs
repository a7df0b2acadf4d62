//! `mqtts://` against mosquitto with a test CA and mutual TLS, all generated here with rcgen.

#[path = "support/link_harness.rs"]
mod link_harness;
#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/test_pki.rs"]
mod test_pki;

use std::path::PathBuf;

use link_harness::{Recorder, client_id, config, topic};
use mosquitto::Mosquitto;
use storefleet::link::{ClientCertFiles, LinkConfig, LinkState, TlsFiles};
use test_pki::{ExtendedKeyUsagePurpose, ca, leaf};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for localhost, a client certificate, and a second,
    /// unrelated CA.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca("Storefleet test CA");
        let (server, server_key) = leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client, client_key) = leaf(
            &ca,
            &["storefleet-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let files = [
            ("ca.pem", ca.pem.clone()),
            ("server.pem", server),
            ("server.key", server_key),
            ("client.pem", client),
            ("client.key", client_key),
            ("other-ca.pem", self::ca("Somebody else's CA").pem),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn broker(&self) -> Mosquitto {
        let p = |name| self.path(name).display().to_string();
        Mosquitto::start_with(&format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
            p("ca.pem"),
            p("server.pem"),
            p("server.key"),
        ))
    }

    fn tls(&self, ca: &str, with_client_cert: bool) -> TlsFiles {
        TlsFiles {
            ca_file: Some(self.path(ca)),
            client_cert: with_client_cert.then(|| ClientCertFiles {
                cert_file: self.path("client.pem"),
                key_file: self.path("client.key"),
            }),
        }
    }
}

fn tls_config(host: &str, port: u16, name: &str, tls: TlsFiles) -> LinkConfig {
    let mut config = config(&format!("mqtts://{host}:{port}"), &client_id(name));
    config.profile.tls = tls;
    config
}

/// Waits for the link to give up (a certificate error is not transient: no retry loop) and
/// returns its reason.
async fn first_error(link: &mut Recorder) -> String {
    link.until("the link refused", |r| {
        r.states
            .iter()
            .any(|(_, s)| matches!(s, LinkState::Refused { .. }))
    })
    .await;
    // No further attempt follows the refusal.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    link.drain();
    assert!(
        !link.states.iter().any(|(_, s)| s.is_connected()),
        "{}",
        link.summary()
    );
    assert_eq!(link.reconnects(), 0, "retried: {}", link.summary());
    link.states
        .iter()
        .find_map(|(_, s)| match s {
            LinkState::Refused { reason } => Some(reason.clone()),
            _ => None,
        })
        .unwrap()
}

fn assert_one_line(error: &str) {
    assert!(!error.contains('\n'), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_connects_subscribes_and_publishes() {
    let pki = Pki::new();
    let broker = pki.broker();
    // By name (SNI, DNS SAN) and by address (IP SAN).
    for (host, name) in [("localhost", "mtls-name"), ("127.0.0.1", "mtls-ip")] {
        let config = tls_config(host, broker.port(), name, pki.tls("ca.pem", true));
        let mut link = Recorder::start(config);
        link.connected().await;
        link.link
            .publish(42, topic("s1", "c1", "action"), "over-tls")
            .await
            .unwrap();
        link.until("PUBACK and echo over TLS", |r| {
            r.published == [42] && r.has_payload(b"over-tls")
        })
        .await;
        link.link.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_signed_by_another_ca_is_refused_with_a_clear_error() {
    let pki = Pki::new();
    let broker = pki.broker();
    let config = tls_config(
        "localhost",
        broker.port(),
        "wrong-ca",
        pki.tls("other-ca.pem", true),
    );
    let mut link = Recorder::start(config);
    let error = first_error(&mut link).await;
    assert!(
        error.starts_with("TLS handshake failed: invalid peer certificate: UnknownIssuer"),
        "{error}"
    );
    assert!(error.contains("not signed by the configured CA"), "{error}");
    assert_one_line(&error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_requiring_a_client_certificate_refuses_a_link_without_one() {
    let pki = Pki::new();
    let broker = pki.broker();
    let config = tls_config(
        "localhost",
        broker.port(),
        "no-cert",
        pki.tls("ca.pem", false),
    );
    let mut link = Recorder::start(config);
    let error = first_error(&mut link).await;
    assert!(error.starts_with("TLS handshake failed:"), "{error}");
    assert!(error.contains("client certificate"), "{error}");
    assert_one_line(&error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_or_invalid_pem_files_are_refused_at_start() {
    let pki = Pki::new();
    std::fs::write(pki.path("not-pem.txt"), "just text\n").unwrap();
    let cases: [(TlsFiles, &str); 3] = [
        (
            TlsFiles {
                ca_file: Some(pki.path("missing.pem")),
                client_cert: None,
            },
            "cannot read the CA file",
        ),
        (
            TlsFiles {
                ca_file: Some(pki.path("not-pem.txt")),
                client_cert: None,
            },
            "holds no PEM certificate",
        ),
        (
            TlsFiles {
                ca_file: Some(pki.path("ca.pem")),
                client_cert: Some(ClientCertFiles {
                    cert_file: pki.path("client.pem"),
                    key_file: pki.path("client.pem"),
                }),
            },
            "holds no PEM private key",
        ),
    ];
    for (tls, expected) in cases {
        let config = tls_config("localhost", 8883, "pem", tls);
        let error = match storefleet::link::Link::start(config) {
            Ok(_) => panic!("started with bad TLS files"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains(expected), "{error}");
        assert_one_line(&error);
        assert!(
            error.contains(&pki.dir.path().display().to_string()),
            "names the file: {error}"
        );
    }
}
