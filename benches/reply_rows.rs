//! The bound under the ingest target: how many replies a second SQLite itself takes on this
//! machine when each is persisted as Storefleet must (WAL, `synchronous=FULL`, a commit per
//! batch as the writer makes them), for a minimal schema and for the rows a reply costs under
//! schemas 9, 10 and 11 (their tables and indexes, trimmed to the columns a reply touches),
//! and under schema 11 with the inventory's upsert per reply (what the writer does) and with
//! only an insert of the controllers it lacks (session 10's held last-seen times, taken out:
//! this variant leaves their later write out, so it is an upper bound), and the writer's rows
//! with replies coming back store by store, as in the fleet bench, then with the transition in
//! the message row and with the transitions unindexed by deployment (levers measured);
//! the last two change only how often the WAL is checkpointed into the database file (a
//! checkpoint runs inside the commit that crosses the threshold, on the writer's thread).
//! Plain rusqlite, no Storefleet code: what is printed is the floor the history writer cannot
//! beat, to set beside the fleet bench's end-to-end ingest figure.
//!
//!     cargo bench -p storefleet --bench reply_rows
//!     STOREFLEET_BENCH_REPLIES=20000 cargo bench -p storefleet --bench reply_rows   # quick
//!     STOREFLEET_BENCH_VARIANTS=7,8,9 STOREFLEET_BENCH_ROUNDS=7 cargo bench ...      # some rows
//!
//! Each variant gets a fresh file under `.artifacts/bench-reply-rows/`; three rounds each,
//! interleaved, and the median is printed with every round.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{Connection, params};

/// Replies per commit: the service's writer flushes at 2,000 staged rows.
const BATCH: usize = 1_000;
const TARGETS: usize = 100_000;
/// Rounds unless `STOREFLEET_BENCH_ROUNDS` says otherwise.
const ROUNDS: usize = 3;

/// A reply as the broker delivers it (an `ack` with its correlation id, ~200 bytes).
fn body(i: usize) -> Vec<u8> {
    format!(
        r#"{{"type":"ack","correlation_id":"{:08x}-0000-4000-8000-{:012x}","deployment_id":"d1","store_id":"s{}","controller_id":"c{}","at":"2026-12-02T10:00:00Z"}}"#,
        i,
        i,
        i % 1_000,
        i
    )
    .into_bytes()
}

struct Variant {
    name: &'static str,
    schema: &'static str,
    /// Statements run for each reply, in one transaction per `BATCH` replies.
    rows: &'static [&'static str],
    /// Pages in the WAL before a commit checkpoints it (SQLite's default 1,000; 0: never).
    autocheckpoint: u32,
    /// Replies come back store by store (100 controllers a store), as they do when the
    /// deployment's targets were chosen store by store and sent in that order; otherwise
    /// consecutive replies are from different stores (target `i` in store `i % 1,000`).
    in_store_order: bool,
}

impl Variant {
    fn store(&self, target: usize) -> String {
        if self.in_store_order {
            format!("s{:04}", target / 100)
        } else {
            format!("s{}", target % 1_000)
        }
    }
}

const MESSAGE_ONLY: &str = "
    CREATE TABLE messages (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, body BLOB NOT NULL,
        at INTEGER NOT NULL);";

/// The message and transition tables of schema 9 and 10 (which changed only `targets`),
/// trimmed to the columns a reply writes.
macro_rules! messages_and_transitions {
    () => {
        concat!(
            messages_table!(),
            "
    CREATE UNIQUE INDEX messages_dedupe ON messages(dedupe) WHERE dedupe IS NOT NULL;",
            transitions_table!()
        )
    };
}

macro_rules! messages_table {
    () => {
        "
    CREATE TABLE messages (id INTEGER PRIMARY KEY, direction TEXT NOT NULL, topic TEXT NOT NULL,
        body BLOB NOT NULL, at INTEGER NOT NULL, event_type TEXT, deployment_id TEXT,
        store_id TEXT, controller_id TEXT, correlation_id TEXT, outcome TEXT NOT NULL,
        dedupe BLOB, from_status TEXT, to_status TEXT);
    CREATE INDEX messages_by_deployment ON messages(deployment_id, id);"
    };
}

macro_rules! transitions_table {
    () => {
        concat!(
            transitions_table_unindexed!(),
            "
    CREATE INDEX transitions_by_deployment ON transitions(deployment_id, id);"
        )
    };
}

/// The transition table without its index by deployment: what a follower's read by id would
/// cost if it scanned the table's tail instead (a lever measured, not built).
macro_rules! transitions_table_unindexed {
    () => {
        "
    CREATE TABLE transitions (id INTEGER PRIMARY KEY, deployment_id TEXT NOT NULL,
        store_id TEXT NOT NULL, controller_id TEXT NOT NULL, from_status TEXT NOT NULL,
        to_status TEXT NOT NULL, at INTEGER NOT NULL);
    CREATE INDEX targets_by_controller ON targets(store_id, controller_id);"
    };
}

/// Schema 9: targets keyed by store and controller.
const SCHEMA_9: &str = concat!(
    "
    CREATE TABLE targets (deployment_id TEXT NOT NULL, position INTEGER NOT NULL,
        store_id TEXT NOT NULL, controller_id TEXT NOT NULL, status TEXT NOT NULL,
        acked_at INTEGER, updated_at INTEGER NOT NULL,
        PRIMARY KEY (deployment_id, store_id, controller_id)) WITHOUT ROWID;
    CREATE INDEX targets_in_order ON targets(deployment_id, position);",
    messages_and_transitions!()
);

/// Schema 10 (`src/history/send_order_schema.rs`): targets kept in send order. Replies come
/// back roughly in the order their commands went out, so consecutive ones update the same
/// pages.
macro_rules! send_order_targets {
    () => {
        "
    CREATE TABLE targets (deployment_id TEXT NOT NULL, position INTEGER NOT NULL,
        store_id TEXT NOT NULL, controller_id TEXT NOT NULL, status TEXT NOT NULL,
        acked_at INTEGER, updated_at INTEGER NOT NULL,
        PRIMARY KEY (deployment_id, position)) WITHOUT ROWID;
    CREATE UNIQUE INDEX targets_by_id ON targets(deployment_id, store_id, controller_id);"
    };
}
const SCHEMA_10: &str = concat!(send_order_targets!(), messages_and_transitions!());

/// Schema 11 (`src/history/recent_schema.rs`): no unique index over every message's key (the
/// writer checks it against the recent ones in memory); only deferred rows are indexed by it,
/// and each new message probes that index.
const SCHEMA_11: &str = concat!(
    send_order_targets!(),
    messages_table!(),
    "
    CREATE INDEX messages_deferred ON messages(dedupe) WHERE outcome = 'deferred';",
    transitions_table!()
);

/// Schema 11 with the inventory (`src/history/inventory_schema.rs`), its transitions as given:
/// a reply also moves its controller's last-seen time on. Controllers are keyed by (store,
/// controller), so replies from one store after another touch a page per store, and replies
/// from stores taken at random a page each.
macro_rules! schema_11_inventory {
    ($transitions:expr) => {
        concat!(
            send_order_targets!(),
            messages_table!(),
            "
    CREATE INDEX messages_deferred ON messages(dedupe) WHERE outcome = 'deferred';",
            $transitions,
            "
    CREATE TABLE controllers (store_id TEXT NOT NULL, controller_id TEXT NOT NULL,
        source TEXT NOT NULL, added_at INTEGER NOT NULL, last_seen INTEGER,
        PRIMARY KEY (store_id, controller_id)) WITHOUT ROWID;"
        )
    };
}
const SCHEMA_11_INVENTORY: &str = schema_11_inventory!(transitions_table!());
/// The same with the transitions unindexed by deployment.
const SCHEMA_11_INVENTORY_BARE_TRANSITIONS: &str =
    schema_11_inventory!(transitions_table_unindexed!());

const MINIMAL_INSERT: &str = "INSERT INTO messages (topic, body, at) VALUES (?1, ?2, ?3)";
const MESSAGE_ROW: &str = "INSERT INTO messages (direction, topic, body, at, event_type,
    deployment_id, store_id, controller_id, correlation_id, outcome, dedupe)
    VALUES ('in', ?1, ?2, ?3, 'ack', 'd1', ?4, ?5, ?6, 'applied', ?7)";
/// A lever measured, not built: the transition a reply causes kept in its message's row
/// (two columns) instead of a row of its own, two B-tree inserts fewer.
const MESSAGE_ROW_WITH_TRANSITION: &str = "INSERT INTO messages (direction, topic, body, at,
    event_type, deployment_id, store_id, controller_id, correlation_id, outcome, dedupe,
    from_status, to_status)
    VALUES ('in', ?1, ?2, ?3, 'ack', 'd1', ?4, ?5, ?6, 'applied', ?7, 'sent', 'acknowledged')";
const TARGET_BY_ID: &str = "UPDATE targets SET status = 'acknowledged', acked_at = ?3,
    updated_at = ?3 WHERE deployment_id = 'd1' AND store_id = ?4 AND controller_id = ?5";
const DEFERRED_PROBE: &str =
    "SELECT id FROM messages WHERE dedupe = ?7 AND outcome = 'deferred' LIMIT 1";
const TRANSITION_ROW: &str = "INSERT INTO transitions (deployment_id, store_id,
    controller_id, from_status, to_status, at) VALUES ('d1', ?4, ?5, 'sent', 'acknowledged', ?3)";

/// The writer: every reply upserts its controller (`inventory::record_seen`).
const INVENTORY_UPSERT: &str = "INSERT INTO controllers (store_id, controller_id, source,
    added_at, last_seen) VALUES (?4, ?5, 'discovered', 0, ?3)
    ON CONFLICT (store_id, controller_id) DO UPDATE SET last_seen = excluded.last_seen
    WHERE excluded.last_seen IS NOT NULL AND (last_seen IS NULL OR excluded.last_seen > last_seen)";
/// Tried in session 10 and taken out: under load the writer only added controllers the
/// inventory lacked and held last-seen times back for a later write; a known one is a look.
const INVENTORY_DISCOVERED: &str = "INSERT INTO controllers (store_id, controller_id, source,
    added_at, last_seen) VALUES (?4, ?5, 'discovered', 0, ?3)
    ON CONFLICT (store_id, controller_id) DO NOTHING";
/// A reply's rows as the writer writes them.
const WRITER_ROWS: &[&str] = &[
    DEFERRED_PROBE,
    MESSAGE_ROW,
    TARGET_BY_ID,
    TRANSITION_ROW,
    INVENTORY_UPSERT,
];
/// A reply's rows with the inventory written only for controllers it lacks.
const HELD_TIMES: &[&str] = &[
    DEFERRED_PROBE,
    MESSAGE_ROW,
    TARGET_BY_ID,
    TRANSITION_ROW,
    INVENTORY_DISCOVERED,
];

const VARIANTS: [Variant; 15] = [
    Variant {
        name: "1 row a reply, no index (the floor)",
        schema: MESSAGE_ONLY,
        rows: &[MINIMAL_INSERT],
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "the message row (3 B-trees)",
        schema: SCHEMA_9,
        rows: &[MESSAGE_ROW],
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "schema 9: + the target update",
        schema: SCHEMA_9,
        rows: &[MESSAGE_ROW, TARGET_BY_ID],
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "schema 9: + the transition (a reply)",
        schema: SCHEMA_9,
        rows: &[MESSAGE_ROW, TARGET_BY_ID, TRANSITION_ROW],
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "schema 10: + the target update",
        schema: SCHEMA_10,
        rows: &[MESSAGE_ROW, TARGET_BY_ID],
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "schema 10: + the transition (a reply)",
        schema: SCHEMA_10,
        rows: &[MESSAGE_ROW, TARGET_BY_ID, TRANSITION_ROW],
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "schema 11: the message row (2 B-trees)",
        schema: SCHEMA_11,
        rows: &[DEFERRED_PROBE, MESSAGE_ROW],
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "schema 11: + target, transition (a reply)",
        schema: SCHEMA_11,
        rows: &[DEFERRED_PROBE, MESSAGE_ROW, TARGET_BY_ID, TRANSITION_ROW],
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "a reply + inventory upsert (the writer)",
        schema: SCHEMA_11_INVENTORY,
        rows: WRITER_ROWS,
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "the writer, replies in store order",
        schema: SCHEMA_11_INVENTORY,
        rows: WRITER_ROWS,
        autocheckpoint: 1_000,
        in_store_order: true,
    },
    Variant {
        name: "in store order, transition in the message",
        schema: SCHEMA_11_INVENTORY,
        rows: &[
            DEFERRED_PROBE,
            MESSAGE_ROW_WITH_TRANSITION,
            TARGET_BY_ID,
            INVENTORY_UPSERT,
        ],
        autocheckpoint: 1_000,
        in_store_order: true,
    },
    Variant {
        name: "in store order, transitions unindexed",
        schema: SCHEMA_11_INVENTORY_BARE_TRANSITIONS,
        rows: WRITER_ROWS,
        autocheckpoint: 1_000,
        in_store_order: true,
    },
    Variant {
        name: "a reply + inventory if new (held times)",
        schema: SCHEMA_11_INVENTORY,
        rows: HELD_TIMES,
        autocheckpoint: 1_000,
        in_store_order: false,
    },
    Variant {
        name: "held times, checkpoint at 10,000 pages",
        schema: SCHEMA_11_INVENTORY,
        rows: HELD_TIMES,
        autocheckpoint: 10_000,
        in_store_order: false,
    },
    Variant {
        name: "held times, no checkpoint (WAL only)",
        schema: SCHEMA_11_INVENTORY,
        rows: HELD_TIMES,
        autocheckpoint: 0,
        in_store_order: false,
    },
];

fn open(path: &Path, variant: &Variant) -> Connection {
    let schema = variant.schema;
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("sqlite-wal"));
    let _ = std::fs::remove_file(path.with_extension("sqlite-shm"));
    let conn = Connection::open(path).unwrap();
    // As the history's writer connection is set up (history::History::make_durable and
    // cache_for_writing).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -16384;",
    )
    .unwrap();
    conn.execute_batch(schema).unwrap();
    if schema != MESSAGE_ONLY {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO targets (deployment_id, position, store_id, controller_id,
                     status, updated_at) VALUES ('d1', ?1, ?2, ?3, 'sent', 0)",
                )
                .unwrap();
            // The fleet is in the inventory already (imported, or heard before).
            let mut controller = schema.contains("CREATE TABLE controllers").then(|| {
                tx.prepare(
                    "INSERT INTO controllers (store_id, controller_id, source, added_at)
                     VALUES (?1, ?2, 'imported', 0)",
                )
                .unwrap()
            });
            for i in 0..TARGETS {
                let (store, id) = (variant.store(i), format!("c{i}"));
                insert.execute(params![i as i64, store, id]).unwrap();
                if let Some(controller) = &mut controller {
                    controller.execute(params![store, id]).unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    // The targets were written long before their replies arrive: not in the WAL any more.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    conn
}

/// Replies a second for `n` replies written `BATCH` to a commit.
fn run(path: &Path, variant: &Variant, n: usize) -> f64 {
    let mut conn = open(path, variant);
    conn.pragma_update(None, "wal_autocheckpoint", variant.autocheckpoint)
        .unwrap();
    let started = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let tx = conn.transaction().unwrap();
        {
            let mut statements: Vec<_> = variant
                .rows
                .iter()
                .map(|sql| tx.prepare_cached(sql).unwrap())
                .collect();
            for i in start..(start + BATCH).min(n) {
                let target = i % TARGETS;
                let store = variant.store(target);
                let topic = format!("stores/{store}/controllers/c{target}/events");
                let controller = format!("c{target}");
                let at = 1_780_000_000_000_i64 + i as i64;
                let dedupe = (i as u64).to_le_bytes();
                let (body, correlation) = (body(i), format!("{i:032x}"));
                // ?1..?7; each statement binds only the ones it names.
                let all = params![topic, body, at, store, controller, correlation, &dedupe[..]];
                for statement in &mut statements {
                    for index in 1..=statement.parameter_count() {
                        if statement.parameter_name(index).is_some() {
                            statement.raw_bind_parameter(index, all[index - 1]).unwrap();
                        }
                    }
                    if statement.readonly() {
                        // A probe: its one step is the cost (nothing is ever found).
                        assert!(statement.raw_query().next().unwrap().is_none());
                    } else {
                        statement.raw_execute().unwrap();
                    }
                }
            }
        }
        tx.commit().unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::var("STOREFLEET_BENCH_REPLIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rounds: usize = std::env::var("STOREFLEET_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ROUNDS);
    // Indices into VARIANTS, as printed in the table's first column.
    let chosen: Vec<usize> = match std::env::var("STOREFLEET_BENCH_VARIANTS") {
        Ok(list) => list
            .split(',')
            .map(|k| {
                k.trim()
                    .parse()
                    .expect("STOREFLEET_BENCH_VARIANTS: indices, e.g. 7,8")
            })
            .filter(|&k| k < VARIANTS.len())
            .collect(),
        Err(_) => (0..VARIANTS.len()).collect(),
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".artifacts/bench-reply-rows");
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "SQLite alone, {n} replies, {BATCH} a commit, WAL, synchronous=FULL, {rounds} rounds \
         interleaved"
    );
    let mut rates = vec![Vec::new(); VARIANTS.len()];
    for _ in 0..rounds {
        for &k in &chosen {
            rates[k].push(run(&dir.join(format!("v{k}.sqlite")), &VARIANTS[k], n));
        }
    }
    println!();
    println!("|  # | rows written per reply                    | replies/s (median) | rounds |");
    println!("|---:|-------------------------------------------|-------------------:|--------|");
    for &k in &chosen {
        let r = &rates[k];
        let rounds: Vec<String> = r.iter().map(|x| format!("{x:.0}")).collect();
        println!(
            "| {k:>2} | {:<41} | {:>18.0} | {} |",
            VARIANTS[k].name,
            median(r.clone()),
            rounds.join(", ")
        );
    }
    if std::env::var_os("STOREFLEET_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
