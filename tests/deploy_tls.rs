//! `mqtts://` against mosquitto with a test CA and a client certificate (mutual TLS), all
//! generated here with rcgen.
//!
//! A deployment over mutual TLS runs both through the core `storefleet::service::Service`
//! (a `BrokerProfile` carrying `TlsFiles`) and through the CLI (`--ca-file`, `--client-cert`,
//! `--client-key`); the CLI must also give up, with one line, on a broker it cannot trust.

#[path = "support/cli/mod.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;
#[path = "support/test_pki.rs"]
mod test_pki;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use storefleet::engine::{DeploymentSpec, Firmware, TargetKey, Timeouts};
use storefleet::link::{BrokerProfile, ClientCertFiles, DEFAULT_INFLIGHT, LinkState, TlsFiles};
use storefleet::protocol::{Id, Md5Hex, TopicPrefix};
use storefleet::service::{BrokerSettings, Service, ServiceConfig};
use storefleet::sim::IdStyle;
use test_pki::{ExtendedKeyUsagePurpose, ca, leaf};

/// A CA, a server certificate for localhost, a client certificate, another CA; and a
/// mosquitto with a mutual-TLS listener plus a plain loopback listener for the simulated
/// fleet and the spy (the simulator speaks plain MQTT only).
struct TlsBroker {
    dir: tempfile::TempDir,
    broker: Mosquitto,
    plain_port: u16,
}

impl TlsBroker {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca("Storefleet e2e CA");
        let (server, server_key) = leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client, client_key) = leaf(
            &ca,
            &["storefleet-e2e-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        for (name, text) in [
            ("ca.pem", ca.pem.clone()),
            ("server.pem", server),
            ("server.key", server_key),
            ("client.pem", client),
            ("client.key", client_key),
            ("other-ca.pem", self::ca("Somebody else").pem),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let plain_port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let p = |name: &str| dir.path().join(name).display().to_string();
        let broker = Mosquitto::start_with(&format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n\
             listener {plain_port} 127.0.0.1\n",
            p("ca.pem"),
            p("server.pem"),
            p("server.key"),
        ));
        Self {
            dir,
            broker,
            plain_port,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tls_url(&self) -> String {
        format!("mqtts://localhost:{}", self.broker.port())
    }

    fn plain_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.plain_port)
    }

    fn settings(&self, ca: &str) -> BrokerSettings {
        let mut profile = BrokerProfile::new(self.tls_url().parse().unwrap());
        profile.tls = TlsFiles {
            ca_file: Some(self.path(ca)),
            client_cert: Some(ClientCertFiles {
                cert_file: self.path("client.pem"),
                key_file: self.path("client.key"),
            }),
        };
        BrokerSettings {
            profile,
            password: None,
            inflight: DEFAULT_INFLIGHT,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_over_mutual_tls_through_the_service_completes() {
    let tls = TlsBroker::start();
    let ws = Workspace::new();
    let fleet_list = controllers(4, 5, IdStyle::Uuid, 71);
    let spy = Spy::start(tls.plain_port).await;
    let _fleet = start_fleet(
        &tls.plain_url(),
        &fleet_list,
        sim_config((100, 300), 0.0, 71),
    )
    .await;
    let fw = ws.firmware("fw.bin", 40_000, 71);
    let server = GatedServer::start("fw.bin", fw.bytes.clone(), usize::MAX).await;

    let service = Service::start(ServiceConfig {
        history: ws.db.clone(),
        broker: Some(tls.settings("ca.pem")),
        topic_prefix: TopicPrefix::default(),
        identity: None,
    })
    .await
    .expect("the service starts");
    let id = Id::new_v4();
    let spec = DeploymentSpec {
        deployment_id: id.clone(),
        firmware: Firmware {
            firmware_version: "8.0.0".into(),
            file_url: server.url.clone(),
            file_size: fw.size,
            checksum: Md5Hex::parse(&fw.md5).unwrap(),
        },
        targets: fleet_list
            .iter()
            .map(|c| TargetKey::new(c.store_id.clone(), c.controller_id.clone()))
            .collect(),
        timeouts: Timeouts {
            ack: Duration::from_secs(5),
            completion: Duration::from_secs(20),
        },
        policy: Default::default(),
    };
    let summary = service.deploy(spec).await.expect("deploy");
    assert_eq!(summary.total, 20);
    let deadline = Instant::now() + WAIT;
    let summary = loop {
        let s = service.summary(id.clone()).await.unwrap().unwrap();
        if s.finished {
            break s;
        }
        assert!(Instant::now() < deadline, "not finished: {:?}", s.counts);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(summary.counts.completed, 20, "{:?}", summary.counts);
    assert!(matches!(
        service.link_state(),
        Some(LinkState::Connected { .. })
    ));
    service.sync().await.unwrap();
    service.shutdown().await;

    // The commands crossed the TLS listener and reached the plain one as the spec says.
    let expect = Expect {
        deployment_id: id.as_str(),
        firmware_version: "8.0.0",
        checksum: &fw.md5,
        file_size: fw.size,
        file_url: &server.url,
        offset: &chrono::Local::now().format("%:z").to_string(),
    };
    let updates = spy.of_type("update_firmware");
    assert_eq!(updates.len(), 20);
    for m in &updates {
        check_command(m, &expect);
    }
    let log = tls.broker.log();
    let on_tls_port = format!("on port {}", tls.broker.port());
    assert!(
        log.lines()
            .any(|l| l.contains("New connection from") && l.contains(&on_tls_port)),
        "a connection on the TLS listener: {log}"
    );
    // And the history has it all, readable by the CLI without a broker.
    let status = ws.status(id.as_str()).await;
    assert_eq!(status["counts"]["completed"], 20, "{}", status["counts"]);
    assert_replies_recorded_once(&spy.messages(), &ws.history(), id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_refuses_a_broker_signed_by_another_ca() {
    let tls = TlsBroker::start();
    let ws = Workspace::new();
    let service = Service::start(ServiceConfig {
        history: ws.db.clone(),
        broker: Some(tls.settings("other-ca.pem")),
        topic_prefix: TopicPrefix::default(),
        identity: None,
    })
    .await
    .expect("the service starts");
    let deadline = Instant::now() + WAIT;
    let error = loop {
        if let Some(LinkState::Refused { reason: error }) = service.link_state() {
            break error;
        }
        assert!(Instant::now() < deadline, "{:?}", service.link_state());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.contains("UnknownIssuer"), "{error}");
    service.shutdown().await;
}

/// `storefleet deploy` over mutual TLS: `--ca-file`, `--client-cert`, `--client-key`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_deploys_over_mutual_tls() {
    let tls = TlsBroker::start();
    let ws = Workspace::new();
    let fleet_list = controllers(4, 5, IdStyle::Readable, 72);
    let csv = ws.targets_csv("fleet.csv", &fleet_list);
    let spy = Spy::start(tls.plain_port).await;
    let _fleet = start_fleet(
        &tls.plain_url(),
        &fleet_list,
        sim_config((100, 300), 0.0, 72),
    )
    .await;
    let fw = ws.firmware("fw.bin", 10_000, 72);
    let p = |name: &str| tls.path(name).display().to_string();
    let (ca, cert, key) = (p("ca.pem"), p("client.pem"), p("client.key"));
    let out = ws
        .run(
            Some(&tls.tls_url()),
            &[
                "--ca-file",
                &ca,
                "--client-cert",
                &cert,
                "--client-key",
                &key,
                "deploy",
                "--firmware",
                fw.arg(),
                "--version",
                "8.0.1",
                "--targets-csv",
                csv.to_str().unwrap(),
                "--serve",
                "127.0.0.1:0",
                "--wait",
                "--json",
                "--ack-timeout",
                "5s",
                "--timeout",
                "20s",
            ],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines = out.json_lines();
    let id = lines[0]["deployment_id"].as_str().unwrap().to_owned();
    assert_eq!(lines.last().unwrap()["counts"]["completed"], 20);
    assert_eq!(spy.count("update_firmware"), 20);
    let on_tls_port = format!("on port {}", tls.broker.port());
    let log = tls.broker.log();
    assert!(
        log.lines()
            .any(|l| l.contains("New connection from") && l.contains(&on_tls_port)),
        "the CLI used the TLS listener: {log}"
    );
    assert_replies_recorded_once(&spy.messages(), &ws.history(), &id);
}

/// Without the client certificate the same broker refuses the CLI; and a CA file that did
/// not sign the broker's certificate is refused too. Either way the CLI must not hang.
/// Runs `deploy --wait` against the TLS broker with `tls_args`; it must end (exit 1) within
/// 8 s with a one-line reason naming the TLS failure, not retry forever.
async fn deploy_must_give_up(tls_args: &[&str], mentions: &str) {
    let tls = TlsBroker::start();
    let ws = Workspace::new();
    let fw = ws.firmware("fw.bin", 1000, 1);
    let tls_args: Vec<String> = tls_args
        .iter()
        .map(|a| a.replace("{dir}", tls.dir.path().to_str().unwrap()))
        .collect();
    let mut args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
    args.extend_from_slice(&[
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
        "--json",
    ]);
    let run = ws.spawn(Some(&tls.tls_url()), &args);
    let (ended, out) = run.wait_or_kill(Duration::from_secs(8)).await;
    assert!(
        ended,
        "`deploy --broker {}` was still retrying after 8 s; its last log line: {}",
        tls.tls_url(),
        out.stderr.lines().last().unwrap_or_default()
    );
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(last.contains(mentions), "{}", out.stderr);
    // Refused before the deployment was made: nothing waits in the outbox to go out later.
    assert_eq!(ws.history().deployment_count(), 0, "{}", out.describe());
}

/// The broker's certificate is signed by a CA the CLI does not trust (no --ca-file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_gives_up_on_an_unverifiable_broker() {
    deploy_must_give_up(&[], "UnknownIssuer").await;
}

/// The broker requires a client certificate and none is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_gives_up_when_the_broker_requires_a_client_certificate() {
    deploy_must_give_up(&["--ca-file", "{dir}/ca.pem"], "certificate").await;
}
