//! The built-in firmware server on real sockets (127.0.0.1:0) with real files.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use storefleet::firmware::preflight::http_client;
use storefleet::firmware::{
    DownloadRecord, FirmwareServer, HashProgress, Library, ServerConfig, md5_hex,
};
use storefleet::history::DownloadWriter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Records = Arc<Mutex<Vec<DownloadRecord>>>;

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn loopback() -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        advertise: None,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    lib: Library,
    data: Vec<u8>,
    id: i64,
}

fn fixture(len: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("door fw-3.1.bin");
    let data = pattern(len, 11);
    std::fs::write(&path, &data).unwrap();
    let lib = Library::open(&dir.path().join("history.sqlite")).unwrap();
    let id = lib
        .add(&path, "3.1.0", None, &mut |_: HashProgress| {})
        .unwrap()
        .id;
    Fixture {
        _dir: dir,
        lib,
        data,
        id,
    }
}

async fn start(records: &Records) -> FirmwareServer {
    let records = Arc::clone(records);
    FirmwareServer::start(
        loopback(),
        Arc::new(move |r| records.lock().unwrap().push(r)),
    )
    .await
    .unwrap()
}

/// Waits (bounded) until `n` download records arrived.
async fn records_after(records: &Records, n: usize) -> Vec<DownloadRecord> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = records.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} download records",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends a request line exactly as written (no client normalises it) and returns the status.
async fn raw_status(addr: SocketAddr, method: &str, target: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn fifty_concurrent_downloads_get_exact_bytes_and_are_recorded() {
    let f = fixture(3 * 1024 * 1024 + 77);
    let records = Records::default();
    let server = start(&records).await;
    let url = server.publish(&f.lib.ensure_deployable(f.id).unwrap());
    assert!(url.starts_with(&format!(
        "http://127.0.0.1:{}/fw/",
        server.local_addr().port()
    )));
    assert!(url.ends_with("/door%20fw-3.1.bin"), "{url}");

    let client = http_client().unwrap();
    let expected = md5_hex(&f.data);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let resp = client.get(&url).send().await.unwrap();
                assert_eq!(resp.status(), 200);
                resp.bytes().await.unwrap()
            })
        })
        .collect();
    for t in tasks {
        let body = t.await.unwrap();
        assert_eq!(body.len(), f.data.len());
        assert_eq!(md5_hex(&body), expected);
    }
    let got = records_after(&records, 50).await;
    assert_eq!(got.len(), 50);
    for r in &got {
        assert_eq!(
            (r.artifact_id, r.status, r.bytes_sent),
            (f.id, 200, f.data.len() as u64)
        );
        assert!(r.completed);
        assert!(r.client_addr.starts_with("127.0.0.1:"), "{}", r.client_addr);
        assert_eq!(r.range, None);
    }
}

#[tokio::test]
async fn head_content_length_and_ranges() {
    let f = fixture(10_000);
    let records = Records::default();
    let server = start(&records).await;
    let url = server.publish(&f.lib.ensure_deployable(f.id).unwrap());
    let client = http_client().unwrap();

    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "10000");
    assert_eq!(head.headers()["accept-ranges"], "bytes");
    assert!(head.bytes().await.unwrap().is_empty());

    let full = client.get(&url).send().await.unwrap();
    assert_eq!(full.headers()["content-length"], "10000");
    assert_eq!(full.bytes().await.unwrap(), f.data);

    let part = client
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(part.headers()["content-length"], "100");
    assert_eq!(part.bytes().await.unwrap(), f.data[100..200]);

    // Resuming a download: an open-ended range.
    let tail = client
        .get(&url)
        .header("range", "bytes=9000-")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.headers()["content-range"], "bytes 9000-9999/10000");
    assert_eq!(tail.bytes().await.unwrap(), f.data[9000..]);

    let past_end = client
        .get(&url)
        .header("range", "bytes=20000-")
        .send()
        .await
        .unwrap();
    assert_eq!(past_end.status(), 416);

    // HEAD and 416 are not downloads; the full GET and both ranges are, with their sizes.
    let got = records_after(&records, 3).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let got_again = records.lock().unwrap().clone();
    assert_eq!(got, got_again, "no further records");
    let mut summary: Vec<_> = got
        .iter()
        .map(|r| (r.status, r.bytes_sent, r.range.clone(), r.completed))
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        vec![
            (200, 10_000, None, true),
            (206, 100, Some("bytes=100-199".to_owned()), true),
            (206, 1000, Some("bytes=9000-".to_owned()), true),
        ]
    );
}

#[tokio::test]
async fn nothing_but_published_tokens_is_served() {
    let f = fixture(1000);
    let records = Records::default();
    let server = start(&records).await;
    let deployable = f.lib.ensure_deployable(f.id).unwrap();
    let url = server.publish(&deployable);
    let addr = server.local_addr();
    let token = &deployable.artifact().token;
    let good = url.trim_start_matches(server.base_url()).to_owned();
    assert_eq!(raw_status(addr, "GET", &good).await, 200);

    let unknown = "0123456789abcdef0123456789abcdef";
    for target in [
        "/".to_owned(),
        "/fw".to_owned(),
        "/fw/".to_owned(),
        format!("/fw/{token}"),
        format!("/fw/{token}/"),
        format!("/fw/{token}/other.bin"),
        format!("/fw/{unknown}/door%20fw-3.1.bin"),
        format!("/fw/{}/door%20fw-3.1.bin", token.to_uppercase()),
        "/fw/../../etc/passwd".to_owned(),
        "/../../../../etc/passwd".to_owned(),
        format!("/fw/{token}/../../../etc/passwd"),
        format!("/fw/{token}/..%2f..%2f..%2fetc%2fpasswd"),
        format!("/fw/{token}/%2e%2e%2f%2e%2e%2fhistory.sqlite"),
        "/fw/%2e%2e/%2e%2e%2fetc%2fpasswd".to_owned(),
        "/fw/..%5c..%5cwindows/win.ini".to_owned(),
        format!("/fw/{token}/%ff%fe"),
        format!("/fw/{token}/door%20fw-3.1.bin/extra"),
    ] {
        assert_eq!(raw_status(addr, "GET", &target).await, 404, "{target}");
    }
    assert_eq!(raw_status(addr, "POST", &good).await, 405);

    // Unpublished: gone.
    assert!(server.unpublish(f.id));
    assert_eq!(raw_status(addr, "GET", &good).await, 404);
    assert!(!server.unpublish(f.id));
    assert!(server.published().is_empty());
    assert_eq!(records_after(&records, 1).await.len(), 1);
}

#[tokio::test]
async fn a_file_changed_after_publication_is_not_served() {
    let f = fixture(5000);
    let records = Records::default();
    let server = start(&records).await;
    let deployable = f.lib.ensure_deployable(f.id).unwrap();
    let url = server.publish(&deployable);
    let client = http_client().unwrap();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    std::fs::write(&deployable.artifact().path, b"tampered").unwrap();
    assert_eq!(client.get(&url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn downloads_are_stored_in_the_history_with_bytes_sent() {
    let f = fixture(200_000);
    let db = f.lib.history().path().to_path_buf();
    let writer = DownloadWriter::start(&db).unwrap();
    let server = FirmwareServer::start(loopback(), Arc::new(writer))
        .await
        .unwrap();
    let url = server.publish(&f.lib.ensure_deployable(f.id).unwrap());
    let client = http_client().unwrap();
    client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let part = client
        .get(&url)
        .header("range", "bytes=-500")
        .send()
        .await
        .unwrap();
    assert_eq!(part.bytes().await.unwrap(), f.data[f.data.len() - 500..]);

    let deadline = Instant::now() + Duration::from_secs(10);
    let stored = loop {
        let stored = f.lib.history().downloads(Some(f.id)).unwrap();
        if stored.len() >= 2 {
            break stored;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 2 downloads stored",
            stored.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let rows: Vec<_> = stored
        .iter()
        .map(|d| (d.record.status, d.record.bytes_sent, d.record.completed))
        .collect();
    assert_eq!(rows[0], (200, 200_000, true));
    assert_eq!(rows[1], (206, 500, true));
    assert!(
        stored
            .iter()
            .all(|d| d.record.client_addr.starts_with("127.0.0.1:"))
    );
}

#[tokio::test]
async fn a_client_that_leaves_early_is_recorded_as_interrupted() {
    // Larger than the loopback socket buffers, so the server cannot have sent it all.
    let f = fixture(32 * 1024 * 1024);
    let records = Records::default();
    let server = start(&records).await;
    let url = server.publish(&f.lib.ensure_deployable(f.id).unwrap());
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(server.local_addr()).await.unwrap();
    let path = url.trim_start_matches(server.base_url());
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut first = [0u8; 1024];
    assert!(s.read(&mut first).await.unwrap() > 0);
    drop(s);

    let got = records_after(&records, 1).await;
    let r = &got[0];
    assert_eq!((r.artifact_id, r.status, r.completed), (f.id, 200, false));
    assert!(r.bytes_sent < f.data.len() as u64, "{}", r.bytes_sent);
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let records = Records::default();
    let server = start(&records).await;
    let addr = server.local_addr();
    assert_eq!(raw_status(addr, "GET", "/").await, 404);
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_specific_bind_address_is_advertised_and_a_given_host_wins() {
    let records = Records::default();
    let server = start(&records).await;
    assert_eq!(
        server.base_url(),
        format!("http://127.0.0.1:{}", server.local_addr().port())
    );
    let named = FirmwareServer::start(
        ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            advertise: Some("fw.store-7.example".into()),
        },
        Arc::new(|_| {}),
    )
    .await
    .unwrap();
    assert!(named.base_url().starts_with("http://fw.store-7.example:"));
    let bad = FirmwareServer::start(
        ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            advertise: Some("http://x/".into()),
        },
        Arc::new(|_| {}),
    )
    .await;
    assert!(bad.is_err());
}
