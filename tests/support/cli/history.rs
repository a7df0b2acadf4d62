//! Test support: the history.

use super::*;

/// One row of the `transitions` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionRow {
    pub store_id: String,
    pub controller_id: String,
    pub attempt: u32,
    pub from: String,
    pub to: String,
    pub errors: Vec<String>,
}

/// One row of the `messages` table.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub direction: String,
    pub topic: String,
    pub body: Vec<u8>,
    pub event_type: Option<String>,
    pub deployment_id: Option<String>,
    pub correlation_id: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    /// Set when `body` is only an excerpt of an oversized message.
    pub body_size: Option<i64>,
    pub body_md5: Option<String>,
}

/// Read-only access to the history file, straight through SQLite.
pub struct HistoryDb {
    conn: rusqlite::Connection,
}

impl HistoryDb {
    pub fn open(path: &Path) -> Self {
        let conn =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("open the history read-only");
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        Self { conn }
    }

    pub fn transitions(&self, deployment_id: &str) -> Vec<TransitionRow> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT store_id, controller_id, attempt, from_status, to_status, errors
                 FROM transitions WHERE deployment_id = ?1 ORDER BY id",
            )
            .unwrap();
        stmt.query_map([deployment_id], |r| {
            let errors: String = r.get(5)?;
            Ok(TransitionRow {
                store_id: r.get(0)?,
                controller_id: r.get(1)?,
                attempt: r.get(2)?,
                from: r.get(3)?,
                to: r.get(4)?,
                errors: serde_json::from_str(&errors).expect("errors column is JSON"),
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// Transitions grouped per target, in order.
    pub fn transitions_by_target(
        &self,
        deployment_id: &str,
    ) -> BTreeMap<(String, String), Vec<TransitionRow>> {
        let mut map: BTreeMap<(String, String), Vec<TransitionRow>> = BTreeMap::new();
        for t in self.transitions(deployment_id) {
            map.entry((t.store_id.clone(), t.controller_id.clone()))
                .or_default()
                .push(t);
        }
        map
    }

    pub fn messages(&self) -> Vec<MessageRow> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT direction, topic, body, event_type, deployment_id, correlation_id, outcome, reason,
                        body_size, body_md5
                 FROM messages ORDER BY id",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok(MessageRow {
                direction: r.get(0)?,
                topic: r.get(1)?,
                body: r.get(2)?,
                event_type: r.get(3)?,
                deployment_id: r.get(4)?,
                correlation_id: r.get(5)?,
                outcome: r.get(6)?,
                reason: r.get(7)?,
                body_size: r.get(8)?,
                body_md5: r.get(9)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    pub fn inbound(&self) -> Vec<MessageRow> {
        self.messages()
            .into_iter()
            .filter(|m| m.direction == "in")
            .collect()
    }

    pub fn outbound(&self) -> Vec<MessageRow> {
        self.messages()
            .into_iter()
            .filter(|m| m.direction == "out")
            .collect()
    }

    /// (correlation id, sent_at, withdrawn) of every outbox row of a deployment.
    pub fn outbox(&self, deployment_id: &str) -> Vec<(String, Option<i64>, bool)> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT correlation_id, sent_at, withdrawn FROM messages
                 WHERE deployment_id = ?1 AND direction = 'out' ORDER BY id",
            )
            .unwrap();
        stmt.query_map([deployment_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    pub fn deployment_count(&self) -> i64 {
        self.conn
            .query_row("SELECT COUNT(*) FROM deployments", [], |r| r.get(0))
            .unwrap()
    }
}

/// The statuses a target passed through (the `to` of each transition, in order), starting
/// from the first `from`.
pub fn path(rows: &[TransitionRow]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(first) = rows.first() {
        out.push(first.from.clone());
    }
    out.extend(rows.iter().map(|r| r.to.clone()));
    out
}

/// Every transition starts where the previous one ended.
pub fn assert_chained(target: &(String, String), rows: &[TransitionRow]) {
    for pair in rows.windows(2) {
        assert_eq!(
            pair[0].to, pair[1].from,
            "transitions of {target:?} do not chain: {rows:?}"
        );
    }
}

/// The multiset of (topic, body) of the controllers' replies the spy saw, and checks that
/// the history holds each exactly once, as inbound.
pub fn assert_replies_recorded_once(spy: &[Seen], history: &HistoryDb, deployment_id: &str) {
    let replies: HashSet<(String, Vec<u8>)> = spy
        .iter()
        .filter(|m| {
            m.deployment_id().as_deref() == Some(deployment_id)
                && m.event_type().is_some_and(|e| !is_command(&e))
        })
        .map(|m| (m.topic.clone(), m.payload.clone()))
        .collect();
    let mut recorded: HashMap<(String, Vec<u8>), usize> = HashMap::new();
    for m in history.inbound() {
        if m.deployment_id.as_deref() == Some(deployment_id) {
            *recorded
                .entry((m.topic.clone(), m.body.clone()))
                .or_default() += 1;
        }
    }
    for reply in &replies {
        let n = recorded.get(reply).copied().unwrap_or(0);
        assert_eq!(
            n,
            1,
            "reply recorded {n} times: {} {}",
            reply.0,
            String::from_utf8_lossy(&reply.1)
        );
    }
    for (message, n) in &recorded {
        assert!(
            replies.contains(message),
            "the history has an inbound message ({n}x) the spy never saw: {} {}",
            message.0,
            String::from_utf8_lossy(&message.1)
        );
    }
}

pub fn is_command(event_type: &str) -> bool {
    event_type == "update_firmware" || event_type == "cancel_update_firmware"
}
