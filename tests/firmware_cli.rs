//! `storefleet firmware …` as a user runs it: output, JSON, exit codes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn storefleet(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("STOREFLEET_DB")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A refusal: exit 2 and exactly one line on stderr that says why.
fn assert_refused(o: &Output, why: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains(why), "{err:?} should say {why:?}");
}

#[test]
fn add_list_rehash_remove_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let fw = dir.path().join("fw-1.4.bin");
    std::fs::write(&fw, b"firmware image 1.4").unwrap();
    let fw_arg = fw.to_str().unwrap();

    let out = storefleet(
        &db,
        &["firmware", "add", fw_arg, "--version", "1.4.0", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let added: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(added["version"], "1.4.0");
    assert_eq!(added["size"], 18);
    assert_eq!(
        added["md5"],
        storefleet::firmware::md5_hex(b"firmware image 1.4")
    );
    assert_eq!(added["state"], "ready");
    assert!(
        added.get("token").is_none(),
        "the server token stays out of JSON"
    );
    let id = added["id"].as_i64().unwrap().to_string();

    assert_refused(
        &storefleet(&db, &["firmware", "add", fw_arg, "--version", "1.4.0"]),
        "already registered",
    );
    assert_refused(
        &storefleet(
            &db,
            &["firmware", "add", "/no/such/fw.bin", "--version", "1"],
        ),
        "does not exist",
    );
    assert_refused(
        &storefleet(&db, &["firmware", "add", fw_arg, "--version", " "]),
        "must not be empty",
    );
    assert_refused(
        &storefleet(&db, &["firmware", "rehash", "99"]),
        "no firmware with id 99",
    );
    assert_refused(
        &storefleet(&db, &["firmware", "remove", "99"]),
        "no firmware with id 99",
    );
    // clap's own usage errors exit 2 as well.
    assert_eq!(
        storefleet(&db, &["firmware", "add", fw_arg]).status.code(),
        Some(2)
    );

    std::fs::write(&fw, b"firmware image 1.4, patched").unwrap();
    let list = storefleet(&db, &["firmware", "list"]);
    assert!(list.status.success());
    let text = stdout(&list);
    assert!(text.contains("STALE"), "{text}");
    assert!(
        text.contains(&format!("storefleet firmware rehash {id}")),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&storefleet(&db, &["firmware", "list", "--json"]))).unwrap();
    assert_eq!(json[0]["state"], "stale");

    assert_refused(
        &storefleet(
            &db,
            &[
                "firmware",
                "preflight",
                &id,
                "--url",
                "http://127.0.0.1:9/fw.bin",
            ],
        ),
        "changed after it was hashed",
    );
    assert_refused(
        &storefleet(&db, &["firmware", "serve", "--bind", "127.0.0.1:0"]),
        "no deployable firmware",
    );

    let out = storefleet(&db, &["firmware", "rehash", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&storefleet(&db, &["firmware", "list", "--json"]))).unwrap();
    assert_eq!(json[0]["state"], "ready");
    assert_eq!(json[0]["size"], 27);

    std::fs::remove_file(&fw).unwrap();
    let text = stdout(&storefleet(&db, &["firmware", "list"]));
    assert!(text.contains("MISSING"), "{text}");

    assert!(
        storefleet(&db, &["firmware", "remove", &id])
            .status
            .success()
    );
    let text = stdout(&storefleet(&db, &["firmware", "list"]));
    assert!(text.contains("no firmware registered"), "{text}");
}

fn http_get(url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&buf[..split])
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    (status, buf[split + 4..].to_vec())
}

#[test]
fn serve_prints_urls_serves_until_interrupted_and_records_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let fw = dir.path().join("fw.bin");
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&fw, &data).unwrap();
    let added = storefleet(
        &db,
        &["firmware", "add", fw.to_str().unwrap(), "--version", "2"],
    );
    assert!(added.status.success());
    assert_refused(
        &storefleet(
            &db,
            &[
                "firmware",
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--advertise",
                "a b",
            ],
        ),
        "invalid advertised host",
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_storefleet"))
        .args([
            "--db",
            db.to_str().unwrap(),
            "firmware",
            "serve",
            "--bind",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    assert!(
        line.starts_with("firmware 1 (fw.bin 2): http://127.0.0.1:"),
        "{line}"
    );
    let url = line.rsplit(' ').next().unwrap().to_owned();
    assert!(url.ends_with("/fw.bin"));

    let (status, body) = http_get(&url);
    assert_eq!((status, body.len()), (200, data.len()));
    assert_eq!(body, data);
    let wrong = url.replace("/fw/", "/fw/0");
    assert_eq!(http_get(&wrong).0, 404);

    // Ctrl-C: a clean exit, with the download stored on the way out.
    let stopped = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains("fetched firmware 1: 70000 bytes"), "{err}");

    let out = storefleet(&db, &["firmware", "downloads", "1", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let downloads: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(downloads.as_array().unwrap().len(), 1);
    assert_eq!(downloads[0]["bytes_sent"], 70_000);
    assert_eq!(downloads[0]["completed"], true);
}

#[test]
fn preflight_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let fw = dir.path().join("fw.bin");
    std::fs::write(&fw, b"abc").unwrap();
    assert!(
        storefleet(
            &db,
            &["firmware", "add", fw.to_str().unwrap(), "--version", "1"]
        )
        .status
        .success()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/fw.bin");
    let out = storefleet(
        &db,
        &["firmware", "preflight", "1", "--url", &url, "--json"],
    );
    assert_refused(&out, "unreachable");
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["ok"], false);
    assert_refused(
        &storefleet(
            &db,
            &["firmware", "preflight", "1", "--url", "ftp://x/fw.bin"],
        ),
        "only http:// and https://",
    );
}
