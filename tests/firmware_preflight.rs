//! URL preflight against real HTTP servers on loopback: a match passes, every kind of
//! mismatch or failure is refused with its reason.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use storefleet::firmware::{
    Deployable, FirmwareServer, HashProgress, Library, Preflight, PreflightRefusal, ServedSize,
    ServerConfig, md5_hex,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SIZE: usize = 300_000;

fn data() -> Vec<u8> {
    (0..SIZE).map(|i| (i % 253) as u8).collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    deployable: Deployable,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fw.bin");
    std::fs::write(&path, data()).unwrap();
    let lib = Library::open(&dir.path().join("h.sqlite")).unwrap();
    let id = lib
        .add(&path, "1.0.0", None, &mut |_: HashProgress| {})
        .unwrap()
        .id;
    let deployable = lib.ensure_deployable(id).unwrap();
    Fixture {
        _dir: dir,
        deployable,
    }
}

/// An HTTP server with deliberately wrong answers.
async fn impostor() -> String {
    let mut other = data();
    other[SIZE / 2] ^= 0xff;
    let app = Router::new()
        .route("/same-size-other-bytes", get(move || async move { other }))
        .route("/shorter", get(|| async { data()[..SIZE - 1].to_vec() }))
        .route("/longer", get(|| async { [data(), vec![0]].concat() }))
        .route("/right", get(|| async { data() }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A server that announces no length and sends more than the file (until it closes).
async fn endless() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        let _ = s.write_all(head.as_bytes()).await;
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..64 {
            if s.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    format!("http://{addr}/fw.bin")
}

#[tokio::test]
async fn a_url_serving_the_exact_file_passes() {
    let f = fixture();
    let server = FirmwareServer::start(
        ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            advertise: None,
        },
        Arc::new(|_| {}),
    )
    .await
    .unwrap();
    let url = server.publish(&f.deployable);
    let report = Preflight::new()
        .unwrap()
        .check(&url, &f.deployable)
        .await
        .unwrap();
    assert_eq!(report.size, SIZE as u64);
    assert_eq!(report.md5, md5_hex(&data()));
    assert_eq!(report.url, url);

    let other = impostor().await;
    Preflight::new()
        .unwrap()
        .check(&format!("{other}/right"), &f.deployable)
        .await
        .unwrap();
}

#[tokio::test]
async fn mismatches_are_refused_with_the_reason() {
    let f = fixture();
    let base = impostor().await;
    let preflight = Preflight::new().unwrap();
    let check = |path: &str| {
        let url = format!("{base}{path}");
        let preflight = preflight.clone();
        let deployable = f.deployable.clone();
        async move { preflight.check(&url, &deployable).await.unwrap_err() }
    };

    let err = check("/same-size-other-bytes").await;
    match &err {
        PreflightRefusal::ChecksumMismatch {
            expected, served, ..
        } => {
            assert_eq!(expected, &f.deployable.artifact().md5);
            assert_ne!(served, expected);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("MD5"), "{err}");

    let err = check("/shorter").await;
    assert!(
        matches!(err, PreflightRefusal::SizeMismatch { expected, served: ServedSize::Exactly(n), .. }
            if expected == SIZE as u64 && n == SIZE as u64 - 1),
        "{err:?}"
    );
    assert!(matches!(
        check("/longer").await,
        PreflightRefusal::SizeMismatch {
            served: ServedSize::Exactly(n),
            ..
        } if n == SIZE as u64 + 1
    ));

    let err = check("/nothing-here").await;
    assert_eq!(
        err,
        PreflightRefusal::HttpStatus {
            url: format!("{base}/nothing-here"),
            status: 404
        }
    );
    assert!(err.to_string().contains("HTTP 404"));
}

#[tokio::test]
async fn a_body_longer_than_the_file_is_refused_without_reading_it_all() {
    let f = fixture();
    let url = endless().await;
    let err = Preflight::new()
        .unwrap()
        .check(&url, &f.deployable)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PreflightRefusal::SizeMismatch { served: ServedSize::MoreThan(n), .. } if n == SIZE as u64),
        "{err:?}"
    );
}

/// A server that sends the headers and then a byte every 200 ms: never silent long enough
/// for the read timeout, so only the overall deadline ends the preflight.
async fn trickle() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\n\r\n");
        let _ = s.write_all(head.as_bytes()).await;
        for byte in data() {
            if s.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    format!("http://{addr}/fw.bin")
}

#[tokio::test]
async fn a_trickling_server_is_refused_at_the_overall_deadline() {
    let f = fixture();
    let url = trickle().await;
    let started = std::time::Instant::now();
    let err = Preflight::new()
        .unwrap()
        .with_deadline(std::time::Duration::from_secs(2))
        .check(&url, &f.deployable)
        .await
        .unwrap_err();
    assert!(matches!(err, PreflightRefusal::TooSlow { .. }), "{err:?}");
    assert!(err.to_string().contains("within 2 s"), "{err}");
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert_eq!(
        storefleet::firmware::preflight::PREFLIGHT_DEADLINE,
        std::time::Duration::from_secs(300)
    );
}

#[tokio::test]
async fn unreachable_and_invalid_urls_are_refused() {
    let f = fixture();
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/fw.bin");
    let preflight = Preflight::new().unwrap();
    let err = preflight.check(&url, &f.deployable).await.unwrap_err();
    assert!(
        matches!(err, PreflightRefusal::Unreachable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(!err.to_string().contains('\n'));

    for bad in ["fw.bin", "ftp://127.0.0.1/fw.bin", "file:///etc/passwd"] {
        let err = preflight.check(bad, &f.deployable).await.unwrap_err();
        assert!(
            matches!(err, PreflightRefusal::InvalidUrl { .. }),
            "{bad}: {err:?}"
        );
    }
}
