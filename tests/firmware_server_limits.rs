//! The firmware server under 500 stalled connections: it keeps serving a normal download and
//! the process keeps its MQTT link, because it holds only a bounded number of connections
//! (overall and per client address) and closes the stalled ones after the header-read
//! timeout; idle keep-alive connections are closed after the idle timeout.
//!
//! One test in this binary: it lowers the process's own file descriptor limit, so that a
//! server that accepted every stalled connection would run out of descriptors.

#[path = "support/link_harness.rs"]
mod link_harness;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use link_harness::{Recorder, client_id, config, topic};
use mosquitto::Mosquitto;
use storefleet::firmware::preflight::http_client;
use storefleet::firmware::{
    DownloadRecord, FirmwareServer, HashProgress, Library, ServerConfig, ServerLimits, md5_hex,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const STALLED: usize = 500;
/// Room for the test's own descriptors (500 stalled client sockets, the runtime, the
/// history, mosquitto's pipe) plus what the limits let the server hold: not for 500 more.
const DESCRIPTOR_LIMIT: u64 = 800;

fn lower_descriptor_limit(to: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = to.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// A connection from `source` that sends nothing.
async fn stalled(source: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(server).await.unwrap()
}

/// Whether the server closed the connection (EOF or reset) within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_stalled_connections_stop_neither_a_download_nor_the_mqtt_link() {
    let broker = Mosquitto::start();
    let mut link = Recorder::start(config(&broker.url(), &client_id("fw-stalled")));
    link.connected().await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fw.bin");
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let library = Library::open(&dir.path().join("history.sqlite")).unwrap();
    let id = library
        .add(&path, "1.0.0", None, &mut |_: HashProgress| {})
        .unwrap()
        .id;
    let limits = ServerLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        max_connections: 128,
        max_per_client: 16,
    };
    let server = FirmwareServer::start_with_limits(
        ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            advertise: None,
        },
        Arc::new(|_: DownloadRecord| {}),
        limits,
    )
    .await
    .unwrap();
    let url = server.publish(&library.ensure_deployable(id).unwrap());
    lower_descriptor_limit(DESCRIPTOR_LIMIT);

    // 500 connections from another loopback address that never send a byte.
    let mut stalled_conns = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        stalled_conns.push(stalled("127.0.0.2", server.local_addr()).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A normal download from 127.0.0.1, while they stall.
    let started = Instant::now();
    let client = http_client().unwrap();
    let body = client
        .get(&url)
        .send()
        .await
        .expect("the download is served")
        .bytes()
        .await
        .expect("the whole body arrives");
    assert_eq!(md5_hex(&body), md5_hex(&data));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the download took {:?}",
        started.elapsed()
    );

    // The MQTT link still works (the process has descriptors left, and its runtime time).
    link.link
        .publish(7, topic("s1", "c1", "action"), "still-here")
        .await
        .unwrap();
    link.until("the PUBACK beside the stalled clients", |r| {
        r.published == [7]
    })
    .await;
    assert_eq!(link.reconnects(), 0, "{}", link.summary());

    // Every stalled connection is closed: over the per-address cap at once, the rest after
    // the header-read timeout.
    let mut still_open = 0;
    for conn in &mut stalled_conns {
        if !closed_within(conn, Duration::from_secs(3)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "stalled connections left open by the server");
    drop(stalled_conns);

    // An idle keep-alive connection is closed after the idle timeout; a busy one is not
    // cut short (the download above took longer than nothing).
    let mut keep_alive = TcpStream::connect(server.local_addr()).await.unwrap();
    let path = url.trim_start_matches(server.base_url());
    keep_alive
        .write_all(format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 512];
    let n = keep_alive.read(&mut head).await.unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    let idle_since = Instant::now();
    assert!(
        closed_within(&mut keep_alive, Duration::from_secs(6)).await,
        "an idle keep-alive connection stays open"
    );
    assert!(
        idle_since.elapsed() >= Duration::from_millis(900),
        "closed too early: {:?}",
        idle_since.elapsed()
    );
    link.link.shutdown().await;
}
