//! What search costs and gains on a history of 1,000,000 messages (10,000 controllers in
//! 1,000 stores, 100 deployments): the insert rate of `History::write_batch` on schema 9 as
//! it is and with the index on `messages(store_id, controller_id, id)` it chose not to add;
//! what the first search by store costs to fill `message_stores`, and a later one to catch
//! up; then the time of each History and Activity filter's first call, a deep one (keyset at
//! a tenth of the row ids, offset near the end for deployments) and a full page.
//!
//!     cargo bench --bench search
//!     STOREFLEET_BENCH_MESSAGES=200000 cargo bench --bench search   # a quick run
//!
//! Files go to `.artifacts/bench-search/` (about 0.5 GB each while it runs) and are removed
//! at the end unless STOREFLEET_BENCH_KEEP is set. Each search is timed three times on the
//! warm file; the median is printed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use storefleet::engine::{DeploymentState, Millis};
use storefleet::history::{
    Batch, DeploymentFilter, DeploymentPageRequest, History, MessageDirection, MessageFilter,
    MessagePageRequest, MessageRecord, Origin, SCAN_ROWS, migrations,
};

const STORES: usize = 1_000;
const PER_STORE: usize = 10;
const DEPLOYMENTS: usize = 100;
/// Controllers each deployment targets (a run of 100 stores).
const TARGETS: usize = 1_000;
/// Rows per transaction, as the service's writer commits them.
const BATCH: usize = 1_000;
const PAGE: u32 = 100;
/// The fixture's clock: message n is recorded at START + n × STEP ms.
const START: u64 = 1_780_000_000_000;
const STEP: u64 = 50;

fn main() {
    let n: usize = std::env::var("STOREFLEET_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".artifacts/bench-search");
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "Storefleet search benchmark: {n} messages, {} controllers, {DEPLOYMENTS} deployments, \
         {BATCH} messages a transaction (synchronous=FULL)",
        STORES * PER_STORE
    );

    // Each variant on its own fresh file, filled the same way: schema 9 as it is (no index
    // on messages for search; `message_stores` is filled by searches), and with the index
    // migration 9 does not add, for what it would cost.
    let variants: [(&str, &[migrations::Migration], Option<&str>); 2] = [
        (
            "schema 9 (no search index on messages)",
            migrations::MIGRATIONS,
            None,
        ),
        (
            "+ messages(store_id, controller_id, id)",
            migrations::MIGRATIONS,
            Some("CREATE INDEX messages_by_store ON messages(store_id, controller_id, id)"),
        ),
    ];
    // Filled in lockstep, a batch to each in turn, so a load change on the machine hits all
    // three alike; each variant's rate counts only its own write_batch time.
    let files: Vec<PathBuf> = (0..variants.len())
        .map(|i| dir.join(format!("variant-{i}.sqlite")))
        .collect();
    let mut histories: Vec<History> = variants
        .iter()
        .zip(&files)
        .map(|((_, migrations, extra), path)| open_fresh(path, migrations, *extra))
        .collect();
    let mut spent = vec![Duration::ZERO; variants.len()];
    for start in (0..n).step_by(BATCH) {
        let batch = Batch {
            messages: (start..(start + BATCH).min(n))
                .map(|i| message(i, n))
                .collect(),
            ..Batch::default()
        };
        for (history, spent) in histories.iter_mut().zip(&mut spent) {
            let started = Instant::now();
            history.write_batch(&batch).unwrap();
            *spent += started.elapsed();
        }
    }
    drop(histories);
    let rates: Vec<f64> = spent.iter().map(|d| n as f64 / d.as_secs_f64()).collect();
    println!();
    println!("| insert (write_batch)                    | messages/s | cost  |");
    println!("|-----------------------------------------|-----------:|------:|");
    for ((name, _, _), rate) in variants.iter().zip(&rates) {
        println!(
            "| {name:<39} | {rate:>10.0} | {:>4.1}% |",
            (1.0 - rate / rates[0]) * 100.0
        );
    }
    let with = files[0].clone();

    let mut history = History::open(&with).unwrap();
    let size = std::fs::metadata(&with).map(|m| m.len()).unwrap_or(0);
    println!("\nhistory file: {:.0} MiB", size as f64 / 1_048_576.0);
    // The first search by store fills `message_stores` from every message; later ones take
    // only what came since.
    let by_store = MessageFilter {
        store_id: Some("store-0420".into()),
        ..MessageFilter::default()
    };
    let store_page = |h: &History| {
        h.search_messages(
            &by_store,
            MessagePageRequest {
                before: None,
                limit: PAGE,
            },
        )
        .unwrap()
    };
    let started = Instant::now();
    store_page(&history);
    let first_build = started.elapsed();
    history
        .write_batch(&Batch {
            messages: (0..BATCH).map(|i| message(i + n, n + BATCH)).collect(),
            ..Batch::default()
        })
        .unwrap();
    let started = Instant::now();
    store_page(&history);
    let after_batch = started.elapsed();
    println!(
        "message_stores: built from {n} messages by the first search by store in {}; \
         caught up on {BATCH} new ones in {}",
        ms(first_build),
        ms(after_batch)
    );
    let deep = Some((n / 10) as i64);
    let mid = START + (n as u64 / 2) * STEP;
    println!();
    println!(
        "| Activity filter                         | first call | deep call | rows | a full page (calls) |"
    );
    println!(
        "|-----------------------------------------|-----------:|----------:|-----:|--------------------:|"
    );
    for (name, filter) in message_filters(mid) {
        let first = |before| {
            history
                .search_messages(
                    &filter,
                    MessagePageRequest {
                        before,
                        limit: PAGE,
                    },
                )
                .unwrap()
        };
        let (t1, rows) = timed(|| first(None).rows.len());
        let (t2, _) = timed(|| first(deep).rows.len());
        // As the view pages: on from `next_before` until a page is full or nothing is left.
        let (t3, calls) = timed(|| {
            let (mut found, mut calls, mut before) = (0, 0, None);
            loop {
                let page = history
                    .search_messages(
                        &filter,
                        MessagePageRequest {
                            before,
                            limit: PAGE - found as u32,
                        },
                    )
                    .unwrap();
                calls += 1;
                found += page.rows.len();
                match page.next_before {
                    Some(b) if found < PAGE as usize => before = Some(b),
                    _ => return calls,
                }
            }
        });
        println!(
            "| {name:<39} | {:>10} | {:>9} | {rows:>4} | {:>12} ({calls:>3}) |",
            ms(t1),
            ms(t2),
            ms(t3)
        );
    }
    // What the index saves: a store's full page by bounded scans, on the file without it.
    let plain = rusqlite::Connection::open(&files[0]).unwrap();
    let (t, calls) = timed(|| {
        let (mut found, mut calls) = (0i64, 0);
        let mut before: i64 = plain
            .query_row("SELECT MAX(id) + 1 FROM messages", [], |r| r.get(0))
            .unwrap();
        while found < i64::from(PAGE) && before > 0 {
            let floor = before - SCAN_ROWS;
            found += plain
                .query_row(
                    "SELECT COUNT(*) FROM (SELECT id FROM messages NOT INDEXED
                     WHERE id < ?1 AND id >= ?2 AND store_id = 'store-0420'
                     ORDER BY id DESC LIMIT ?3)",
                    rusqlite::params![before, floor, i64::from(PAGE) - found],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap();
            calls += 1;
            before = floor;
        }
        calls
    });
    println!(
        "| store, without the index (scans)        |            |           |      | {:>12} ({calls:>3}) |",
        ms(t)
    );
    drop(plain);
    println!();
    println!("| History filter                          | first page | deep page | total |");
    println!("|-----------------------------------------|-----------:|----------:|------:|");
    for (name, filter) in deployment_filters() {
        let page = |offset| DeploymentPageRequest {
            offset,
            limit: PAGE.min(20),
        };
        let (t1, total) = timed(|| history.search_deployments(&filter, page(0)).unwrap().total);
        let (t2, _) = timed(|| history.search_deployments(&filter, page(80)).unwrap().total);
        println!(
            "| {name:<39} | {:>10} | {:>9} | {total:>5} |",
            ms(t1),
            ms(t2)
        );
    }
    drop(history);
    if std::env::var_os("STOREFLEET_BENCH_KEEP").is_none() {
        for p in &files {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
    } else {
        println!("\nkept the files in {}", dir.display());
    }
}

fn message_filters(mid: u64) -> Vec<(&'static str, MessageFilter)> {
    let f = MessageFilter::default;
    vec![
        ("none (the live view's first page)", f()),
        (
            "store",
            MessageFilter {
                store_id: Some("store-0420".into()),
                ..f()
            },
        ),
        (
            "store + controller",
            MessageFilter {
                store_id: Some("store-0420".into()),
                controller_id: Some("ctl-03".into()),
                ..f()
            },
        ),
        (
            "controller alone (scan)",
            MessageFilter {
                controller_id: Some("ctl-03".into()),
                ..f()
            },
        ),
        (
            "firmware version (10 deployments)",
            MessageFilter {
                firmware_version: Some("3.7.0".into()),
                ..f()
            },
        ),
        (
            "state paused",
            MessageFilter {
                state: Some(DeploymentState::Paused),
                ..f()
            },
        ),
        (
            "origin observed (20 deployments)",
            MessageFilter {
                origin: Some(Origin::Observed),
                ..f()
            },
        ),
        (
            "event type failed (scan)",
            MessageFilter {
                event_type: Some("update_firmware_failed".into()),
                ..f()
            },
        ),
        (
            "outcome unknown_deployment (rare, scan)",
            MessageFilter {
                outcomes: vec!["unknown_deployment".into()],
                ..f()
            },
        ),
        (
            "time: one hour (scan)",
            MessageFilter {
                from: Some(Millis(mid)),
                to: Some(Millis(mid + 3_600_000)),
                ..f()
            },
        ),
        (
            "text: a deployment id (scan)",
            MessageFilter {
                text: Some("dep-0042".into()),
                ..f()
            },
        ),
        (
            "store + event type + outcome",
            MessageFilter {
                store_id: Some("store-0420".into()),
                event_type: Some("update_firmware_ack".into()),
                outcomes: vec!["applied".into()],
                ..f()
            },
        ),
    ]
}

fn deployment_filters() -> Vec<(&'static str, DeploymentFilter)> {
    let f = DeploymentFilter::default;
    vec![
        ("none", f()),
        (
            "store",
            DeploymentFilter {
                store_id: Some("store-0420".into()),
                ..f()
            },
        ),
        (
            "store + controller",
            DeploymentFilter {
                store_id: Some("store-0420".into()),
                controller_id: Some("ctl-03".into()),
                ..f()
            },
        ),
        (
            "firmware version",
            DeploymentFilter {
                firmware_version: Some("3.7.0".into()),
                ..f()
            },
        ),
        (
            "state finished",
            DeploymentFilter {
                state: Some(DeploymentState::Finished),
                ..f()
            },
        ),
        (
            "origin observed",
            DeploymentFilter {
                origin: Some(Origin::Observed),
                ..f()
            },
        ),
        (
            "time: 10 days",
            DeploymentFilter {
                from: Some(Millis(START)),
                to: Some(Millis(START + 864_000_000)),
                ..f()
            },
        ),
        (
            "text",
            DeploymentFilter {
                text: Some("fw/3.7".into()),
                ..f()
            },
        ),
    ]
}

/// The median of three runs.
fn timed<T>(mut run: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..3 {
        let started = Instant::now();
        out = Some(run());
        times.push(started.elapsed());
    }
    times.sort();
    (times[1], out.unwrap())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1_000.0)
}

/// A fresh history with the deployments and their targets, set up as the service's writer.
fn open_fresh(
    path: &Path,
    migrations: &[migrations::Migration],
    extra_sql: Option<&str>,
) -> History {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let history = History::open_with(path, migrations).unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    deployments(&conn);
    if let Some(sql) = extra_sql {
        conn.execute_batch(sql).unwrap();
    }
    drop(conn);
    history.make_durable().unwrap();
    history.cache_for_writing().unwrap();
    history
}

fn store(s: usize) -> String {
    format!("store-{s:04}")
}

fn controller(c: usize) -> String {
    format!("ctl-{c:02}")
}

/// Deployment d: version 3.<d % 10>.0, observed when d % 5 == 4, created a day apart;
/// 2 paused, 1 cancelled, 3 running (the newest), the rest finished.
fn deployments(conn: &rusqlite::Connection) {
    conn.execute_batch("BEGIN").unwrap();
    for d in 0..DEPLOYMENTS {
        let control = match d {
            40 | 80 => r#"{"paused_reason":"failure threshold"}"#,
            60 => r#"{"cancelled":true}"#,
            _ => "{}",
        };
        let finished = (d < DEPLOYMENTS - 3 && ![40, 60, 80].contains(&d))
            .then_some((START + d as u64 * 86_400_000 + 3_600_000) as i64);
        conn.execute(
            "INSERT INTO deployments (id, firmware_version, file_url, file_size, checksum,
                ack_timeout_ms, completion_timeout_ms, created_at, target_count, origin,
                finished_at, policy, control)
             VALUES (?1, ?2, ?3, 1048576, '8a3be389a446bba670da3a33e5506d2e', 30000, 600000,
                ?4, ?5, ?6, ?7, NULL, ?8)",
            rusqlite::params![
                format!("dep-{d:04}"),
                format!("3.{}.0", d % 10),
                format!("http://10.0.0.5:7380/fw/3.{}.0/ctl.bin", d % 10),
                (START + d as u64 * 86_400_000) as i64,
                TARGETS as i64,
                if d % 5 == 4 { "observed" } else { "local" },
                finished,
                control,
            ],
        )
        .unwrap();
        for t in 0..TARGETS {
            let (s, c) = target(d, t);
            conn.execute(
                "INSERT INTO targets (deployment_id, position, store_id, controller_id, status,
                    attempt, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'completed', 1, ?5)",
                rusqlite::params![
                    format!("dep-{d:04}"),
                    t as i64,
                    store(s),
                    controller(c),
                    START as i64
                ],
            )
            .unwrap();
        }
    }
    conn.execute_batch("COMMIT").unwrap();
}

/// Deployment d's target t: 100 stores starting at (d × 37) mod 1,000.
fn target(d: usize, t: usize) -> (usize, usize) {
    ((d * 37 + t / PER_STORE) % STORES, t % PER_STORE)
}

/// Message i of n: the deployments run one after the other, each with its share of the
/// messages; a command, its ack, then the result (1 in 10 failed); 1 in 50 messages is
/// rejected and has no deployment; 1 in 30 replies is a duplicate.
fn message(i: usize, n: usize) -> MessageRecord {
    let d = i * DEPLOYMENTS / n;
    let (s, c) = target(d, (i / 3) % TARGETS);
    let (store, controller) = (store(s), controller(c));
    let at = Millis(START + i as u64 * STEP);
    if i % 50 == 49 {
        return MessageRecord {
            direction: MessageDirection::In,
            topic: format!("/stores/{store}/controllers/{controller}/ack"),
            body: format!("{{\"deployment_id\":\"gone-{i}\"}}")
                .into_bytes()
                .into(),
            at,
            event_type: Some("update_firmware_ack".into()),
            deployment_id: None,
            store_id: Some(store),
            controller_id: Some(controller),
            correlation_id: None,
            outcome: "unknown_deployment".into(),
            reason: Some("reply for an unknown deployment".into()),
            oversize: None,
        };
    }
    let (direction, kind, event, outcome) = match i % 3 {
        0 => (
            MessageDirection::Out,
            "action",
            "update_firmware",
            "published",
        ),
        1 => (
            MessageDirection::In,
            "ack",
            "update_firmware_ack",
            "applied",
        ),
        _ if i % 10 == 2 => (
            MessageDirection::In,
            "ack",
            "update_firmware_failed",
            "applied",
        ),
        _ => (
            MessageDirection::In,
            "ack",
            "update_firmware_completed",
            "applied",
        ),
    };
    let outcome = if direction == MessageDirection::In && i % 30 == 1 {
        "duplicate"
    } else {
        outcome
    };
    let deployment = format!("dep-{d:04}");
    let body = format!(
        "{{\"event_type\":\"{event}\",\"version\":\"1.0\",\"deployment_id\":\"{deployment}\",\
         \"correlation_id\":\"cid-{i:08}\",\"store_id\":\"{store}\",\"controller_id\":\
         \"{controller}\",\"timestamp\":\"2026-06-01T12:00:00.000Z\",\"payload\":{{}}}}"
    );
    MessageRecord {
        direction,
        topic: format!("/stores/{store}/controllers/{controller}/{kind}"),
        body: body.into_bytes().into(),
        at,
        event_type: Some(event.into()),
        deployment_id: Some(deployment),
        store_id: Some(store),
        controller_id: Some(controller),
        correlation_id: Some(format!("cid-{i:08}")),
        outcome: outcome.into(),
        reason: (outcome == "duplicate").then(|| "duplicate of a reply already applied".into()),
        oversize: None,
    }
}
