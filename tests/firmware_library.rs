//! The artifact library on real files and a real history file: hashing against `md5sum`,
//! stale and missing detection, deploy refusal, and the watcher.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use storefleet::firmware::{
    ArtifactMonitor, ArtifactState, HashProgress, Library, LibraryError, hash_file,
};
use storefleet::history::{History, migrations};

fn no_progress() -> impl FnMut(HashProgress) {
    |_| {}
}

/// Deterministic, incompressible-looking bytes (xorshift).
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

#[test]
fn md5_matches_md5sum_on_a_generated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fw.bin");
    // Not a multiple of the read chunk or of MD5's block, to exercise the tail.
    fs::write(&path, pattern(9 * 1024 * 1024 + 4321, 7)).unwrap();
    let ours = hash_file(&path, &mut no_progress()).unwrap();
    let out = match Command::new("md5sum").arg(&path).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: md5sum is not installed (coreutils); cannot compare");
            return;
        }
        Err(e) => panic!("md5sum: {e}"),
    };
    assert!(out.status.success());
    let theirs = String::from_utf8(out.stdout).unwrap();
    assert_eq!(ours.md5_hex(), theirs.split_whitespace().next().unwrap());
    assert_eq!(ours.size, 9 * 1024 * 1024 + 4321);
}

#[test]
fn add_list_rehash_remove() {
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("fw-2.0.bin");
    let data = pattern(100_000, 3);
    fs::write(&fw, &data).unwrap();
    let lib = Library::open(&dir.path().join("history.sqlite")).unwrap();

    let a = lib.add(&fw, "2.0.0", None, &mut no_progress()).unwrap();
    assert_eq!(a.name, "fw-2.0.bin");
    assert_eq!(a.version, "2.0.0");
    assert_eq!(a.size, data.len() as u64);
    assert_eq!(a.md5, storefleet::firmware::md5_hex(&data));
    assert!(a.path.is_absolute());

    let b_path = dir.path().join("other.bin");
    fs::write(&b_path, b"other").unwrap();
    let b = lib
        .add(&b_path, "1", Some("Door controller"), &mut no_progress())
        .unwrap();
    assert_eq!(b.name, "Door controller");

    let list = lib.list().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|s| s.state == ArtifactState::Ready));

    // The same file twice is refused, by any spelling of its path.
    let again = dir.path().join(".").join("fw-2.0.bin");
    let err = lib
        .add(&again, "2.0.1", None, &mut no_progress())
        .unwrap_err();
    assert!(
        matches!(err, LibraryError::AlreadyRegistered { id, .. } if id == a.id),
        "{err}"
    );

    // A rehash of an unchanged file keeps the token (URLs stay valid).
    let same = lib.rehash(a.id, &mut no_progress()).unwrap();
    assert_eq!(
        (same.md5.as_str(), same.token.as_str()),
        (a.md5.as_str(), a.token.as_str())
    );

    let removed = lib.remove(b.id).unwrap();
    assert_eq!(removed.id, b.id);
    assert!(matches!(
        lib.get(b.id),
        Err(LibraryError::UnknownArtifact(_))
    ));
    assert_eq!(lib.list().unwrap().len(), 1);
    assert!(matches!(
        lib.remove(b.id),
        Err(LibraryError::UnknownArtifact(_))
    ));
    assert!(
        b_path.exists(),
        "removing an artifact leaves the file alone"
    );
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Library::open(&dir.path().join("h.sqlite")).unwrap();
    let fw = dir.path().join("fw.bin");
    fs::write(&fw, b"x").unwrap();
    let cases: Vec<(LibraryError, &str)> = vec![
        (
            lib.add(&fw, "", None, &mut no_progress()).unwrap_err(),
            "must not be empty",
        ),
        (
            lib.add(&fw, "1\u{1b}[2J", None, &mut no_progress())
                .unwrap_err(),
            "printable",
        ),
        (
            lib.add(&dir.path().join("nope.bin"), "1", None, &mut no_progress())
                .unwrap_err(),
            "does not exist",
        ),
        (
            lib.add(dir.path(), "1", None, &mut no_progress())
                .unwrap_err(),
            "not a regular file",
        ),
        (
            lib.add(&fw, "1", Some(""), &mut no_progress()).unwrap_err(),
            "name",
        ),
    ];
    for (err, expected) in cases {
        assert!(err.is_refusal(), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(expected),
            "{msg:?} should mention {expected:?}"
        );
        assert!(!msg.contains('\n'), "one line: {msg:?}");
    }
    assert!(lib.list().unwrap().is_empty());
}

#[test]
fn a_file_changed_after_hashing_is_stale_until_rehashed() {
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("fw.bin");
    fs::write(&fw, b"version one").unwrap();
    let lib = Library::open(&dir.path().join("h.sqlite")).unwrap();
    let a = lib.add(&fw, "1.0.0", None, &mut no_progress()).unwrap();
    lib.ensure_deployable(a.id).unwrap();

    fs::write(&fw, b"version two, longer").unwrap();
    assert_eq!(lib.get(a.id).unwrap().state, ArtifactState::Stale);
    let err = lib.ensure_deployable(a.id).unwrap_err();
    assert!(matches!(err, LibraryError::Stale { id, .. } if id == a.id));
    assert!(err.to_string().contains("rehash"), "{err}");

    let b = lib.rehash(a.id, &mut no_progress()).unwrap();
    assert_eq!(b.md5, storefleet::firmware::md5_hex(b"version two, longer"));
    assert_ne!(b.token, a.token, "new content, new URL");
    assert_eq!(lib.ensure_deployable(a.id).unwrap().artifact(), &b);
}

#[test]
fn a_missing_file_cannot_be_deployed() {
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("fw.bin");
    fs::write(&fw, b"bytes").unwrap();
    let lib = Library::open(&dir.path().join("h.sqlite")).unwrap();
    let a = lib.add(&fw, "1", None, &mut no_progress()).unwrap();
    fs::remove_file(&fw).unwrap();
    assert_eq!(lib.get(a.id).unwrap().state, ArtifactState::Missing);
    assert!(matches!(
        lib.ensure_deployable(a.id),
        Err(LibraryError::Missing { .. })
    ));
    assert!(matches!(
        lib.rehash(a.id, &mut no_progress()),
        Err(LibraryError::Missing { .. })
    ));
    assert!(matches!(
        lib.ensure_deployable(a.id + 100),
        Err(LibraryError::UnknownArtifact(_))
    ));
}

/// Rewrites a file with same-size content and puts its modification time back, so that
/// only a watcher can tell.
fn sneaky_rewrite(path: &Path, data: &[u8]) {
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(data).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
}

fn wait_for(rx: &mpsc::Receiver<i64>, id: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(got) if got == id => return,
            Ok(_) => continue,
            Err(e) => panic!("the watcher did not report artifact {id}: {e}"),
        }
    }
}

#[test]
fn the_watcher_marks_a_changed_file_stale() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite");
    let fw = dir.path().join("fw.bin");
    let untouched = dir.path().join("untouched.bin");
    fs::write(&fw, b"AAAAAAAA").unwrap();
    fs::write(&untouched, b"keep").unwrap();
    let lib = Library::open(&db).unwrap();
    let a = lib.add(&fw, "1", None, &mut no_progress()).unwrap();
    let u = lib.add(&untouched, "1", None, &mut no_progress()).unwrap();

    let (tx, rx) = mpsc::channel();
    let monitor = ArtifactMonitor::start(&db, move |id| {
        let _ = tx.send(id);
    })
    .unwrap();
    assert!(monitor.is_watching(&a.path));

    // Reading the file (as the server and a rehash do) is not a change.
    let _ = fs::read(&fw).unwrap();
    sneaky_rewrite(&fw, b"BBBBBBBB");
    wait_for(&rx, a.id);
    assert_eq!(lib.get(a.id).unwrap().state, ArtifactState::Stale);
    assert!(lib.get(a.id).unwrap().artifact.stale_since.is_some());
    assert!(matches!(
        lib.ensure_deployable(a.id),
        Err(LibraryError::Stale { .. })
    ));
    assert_eq!(lib.get(u.id).unwrap().state, ArtifactState::Ready);
    assert!(lib.get(u.id).unwrap().artifact.stale_since.is_none());

    // Replacing a file by a rename (as editors and build tools save) is seen too.
    let tmp = dir.path().join("untouched.bin.tmp");
    fs::write(&tmp, b"new!").unwrap();
    fs::rename(&tmp, &untouched).unwrap();
    wait_for(&rx, u.id);
    assert!(lib.get(u.id).unwrap().artifact.stale_since.is_some());

    // Dropping the monitor stops watching (its queued changes are applied first), and a
    // rehash clears the mark; later changes are no longer reported.
    drop(monitor);
    lib.rehash(a.id, &mut no_progress()).unwrap();
    lib.ensure_deployable(a.id).unwrap();
    sneaky_rewrite(&fw, b"DDDDDDDD");
    std::thread::sleep(Duration::from_millis(300));
    assert!(lib.get(a.id).unwrap().artifact.stale_since.is_none());
}

#[test]
fn the_history_file_is_migrated_once_and_shared() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested").join("history.sqlite");
    let h1 = History::open(&db).unwrap();
    let latest = migrations::MIGRATIONS.last().unwrap().version;
    assert_eq!(h1.schema_version().unwrap(), latest);
    // A second connection (another process, in real life) opens the same file.
    let h2 = History::open(&db).unwrap();
    assert_eq!(h2.schema_version().unwrap(), latest);
    let mode: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    // What one connection writes, the other reads.
    let fw = dir.path().join("fw.bin");
    File::create(&fw).unwrap().write_all(b"abc").unwrap();
    let lib1 = Library::new(h1);
    let lib2 = Library::new(h2);
    let a = lib1.add(&fw, "1", None, &mut no_progress()).unwrap();
    assert_eq!(lib2.get(a.id).unwrap().artifact, a);
}
