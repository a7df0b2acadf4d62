//! `mqtts://` against mosquitto with a test CA and a client certificate (mutual TLS), all
//! generated here with rcgen.
//!
//! The CLI has no TLS options (`--broker mqtts://` trusts the OS store only, with no client
//! certificate), so the deployment over mutual TLS goes through the core
//! `storefleet::service::Service` with a `BrokerProfile` carrying `TlsFiles`. The CLI tests
//! here check what it does with such a broker.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cli::*;
use mosquitto::Mosquitto;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use storefleet::engine::{DeploymentSpec, Firmware, TargetKey, Timeouts};
use storefleet::link::{BrokerProfile, ClientCertFiles, DEFAULT_INFLIGHT, LinkState, TlsFiles};
use storefleet::protocol::{Id, Md5Hex, TopicPrefix};
use storefleet::service::{BrokerSettings, Service, ServiceConfig};
use storefleet::sim::IdStyle;

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        pem,
        issuer: Issuer::new(params, key),
    }
}

fn leaf(ca: &Ca, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

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
    })
    .await
    .expect("the service starts");
    let deadline = Instant::now() + WAIT;
    let error = loop {
        if let Some(LinkState::Reconnecting { error, .. }) = service.link_state() {
            break error;
        }
        assert!(Instant::now() < deadline, "{:?}", service.link_state());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.contains("UnknownIssuer"), "{error}");
    service.shutdown().await;
}

/// The CLI should offer the TLS settings a `BrokerProfile` has (CA file, client certificate
/// and key), so that `deploy` can reach a broker like this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_offers_tls_options() {
    let ws = Workspace::new();
    let mut missing = Vec::new();
    for args in [&["--help"][..], &["deploy", "--help"][..]] {
        let out = ws.run(None, args, WAIT).await;
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let help = out.stdout.to_lowercase();
        for needle in ["ca", "cert", "key"] {
            let found = help
                .split_whitespace()
                .any(|w| w.starts_with("--") && w.contains(needle));
            if !found {
                missing.push(format!(
                    "`storefleet {}` has no --…{needle}… option",
                    args.join(" ")
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("; "));
}

/// With a broker whose certificate the CLI cannot verify, `deploy` must not hang: it should
/// end (exit 1) with a one-line reason naming the TLS failure. Today it retries forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reports_an_unverifiable_broker_instead_of_waiting_forever() {
    let tls = TlsBroker::start();
    let ws = Workspace::new();
    let fw = ws.firmware("fw.bin", 1000, 1);
    let run = ws.spawn(
        Some(&tls.tls_url()),
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
            "--wait",
            "--json",
        ],
    );
    let (ended, out) = run.wait_or_kill(Duration::from_secs(8)).await;
    assert!(
        ended,
        "`deploy --broker {}` was still running after 8 s; stderr: {}",
        tls.tls_url(),
        out.stderr.lines().last().unwrap_or_default()
    );
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("TLS"), "{}", out.stderr);
}
