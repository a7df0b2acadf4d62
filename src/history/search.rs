//! Searching the history a page at a time, in SQL: deployments (the History view) and the
//! message log (the Activity view) by store, controller, firmware version, state, origin,
//! time and text; messages also by event type and outcome.
//!
//! Deployments are few (one a rollout), so theirs is plain SQL with an offset and a total.
//! Messages are many, and their table is on the ingest hot path: an index there costs every
//! insert. So a message search takes one of three paths, newest first by row id:
//! - a store (and controller): `message_stores` of migration 9, a table of (store, id) that
//!   the searches fill themselves, catching up on the messages recorded since the last one,
//!   so that ingest pays nothing for it (see `search_schema.rs`);
//! - deployment attributes (version, state, origin): the deployments that match are found
//!   first (a small table), then each one's newest rows through `messages_by_deployment`
//!   (an index ingest already keeps), merged;
//! - anything else (event type, outcome, time, text alone): a scan down from the cursor,
//!   bounded to [`SCAN_ROWS`] row ids a call, so no search takes longer than that scan. A page
//!   cut short by the bound says where it stopped, and the next call goes on from there.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params_from_iter};
use serde::{Deserialize, Serialize};

use super::activity::{MESSAGE_COLUMNS, VIEW_EXCERPT_BYTES, message_row};
use super::deployment_queries::{DEPLOYMENT_COLUMNS, deployment_row};
use super::{DeploymentRow, History, HistoryError, MessageRow};
use crate::engine::{DeploymentState, Millis};

/// Most rows a page holds.
pub const MAX_PAGE: u32 = 500;

/// Row ids a scanning message search examines in one call: a bound on its time (tens of
/// milliseconds on a warm file) whatever the filter.
pub const SCAN_ROWS: i64 = 200_000;

/// Most deployments merged index-by-index; a filter matching more scans instead.
const MAX_MERGED: usize = 64;

/// Messages `message_stores` takes in one catch-up transaction: the time ingest may wait
/// for the write lock (tens of milliseconds).
const CATCH_UP_ROWS: i64 = 25_000;

/// The `settings` key of the newest message id `message_stores` has taken.
const STORES_UPTO: &str = "search_stores_upto";

/// Who started a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Made by a Storefleet on this history.
    Local,
    /// Another operator's, seen on the broker.
    Observed,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Observed => "observed",
        }
    }
}

/// What the History view searches for. Every field narrows; none set matches everything.
/// Blank strings count as not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct DeploymentFilter {
    /// Part of the deployment id, firmware version or download URL, ignoring case.
    pub text: Option<String>,
    /// Deployments that target this store (exact id).
    pub store_id: Option<String>,
    /// Deployments that target this controller (exact id; with `store_id`, in that store).
    pub controller_id: Option<String>,
    /// Exactly this firmware version.
    pub firmware_version: Option<String>,
    pub state: Option<DeploymentState>,
    pub origin: Option<Origin>,
    /// Started at or after.
    pub from: Option<Millis>,
    /// Started at or before.
    pub to: Option<Millis>,
}

/// What the Activity view searches for: messages of the deployments the deployment fields
/// select (version, state, origin), from a store or controller, of an event type and
/// outcome, recorded in a time range. Blank strings count as not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(default)]
pub struct MessageFilter {
    /// Part of the topic, the reason, or the id, version or URL of the message's deployment,
    /// ignoring case.
    pub text: Option<String>,
    pub store_id: Option<String>,
    pub controller_id: Option<String>,
    /// Messages of deployments of exactly this firmware version.
    pub firmware_version: Option<String>,
    /// Messages of deployments in this state.
    pub state: Option<DeploymentState>,
    pub origin: Option<Origin>,
    /// `update_firmware`, `update_firmware_ack`, `update_firmware_completed`,
    /// `update_firmware_failed`, `cancel_update_firmware`, `cancel_update_firmware_ack`.
    pub event_type: Option<String>,
    /// What became of it, any of these (empty: any): `applied`, `published`, `duplicate`,
    /// a rejection code…
    pub outcomes: Vec<String>,
    /// Recorded at or after.
    pub from: Option<Millis>,
    /// Recorded at or before.
    pub to: Option<Millis>,
}

/// A page of deployments: `offset` rows skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeploymentPageRequest {
    pub offset: u32,
    pub limit: u32,
}

/// A page of messages: at most `limit` older than the row id `before` (`None`: the newest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MessagePageRequest {
    pub before: Option<i64>,
    pub limit: u32,
}

/// Deployments that match, newest first, and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeploymentPage {
    pub rows: Vec<DeploymentRow>,
    pub total: u64,
}

/// Messages that match, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MessagePage {
    pub rows: Vec<MessageRow>,
    /// Where the next page starts (its `before`); `None`: nothing older matches.
    pub next_before: Option<i64>,
    /// Set when the scan bound cut this page short: the time of the oldest message examined.
    /// Older messages may still match; the next page searches on from there.
    pub searched_to: Option<Millis>,
}

/// A search refused for its input; nothing was read.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the time range ends before it starts")]
    BadRange,
    #[error("a page holds 1 to {MAX_PAGE} rows, not {0}")]
    BadPageSize(u32),
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl SearchError {
    /// The caller's mistake, not the history's.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::History(_))
    }
}

impl From<rusqlite::Error> for SearchError {
    fn from(e: rusqlite::Error) -> Self {
        Self::History(e.into())
    }
}

/// A trimmed, non-blank string.
fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn check(limit: u32, from: Option<Millis>, to: Option<Millis>) -> Result<(), SearchError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(SearchError::BadPageSize(limit));
    }
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(SearchError::BadRange);
    }
    Ok(())
}

fn ms(m: Millis) -> Value {
    Value::Integer(i64::try_from(m.0).unwrap_or(i64::MAX))
}

/// A deployment's state in SQL, by the same rule as `deployment_queries::state_of`.
const STATE_SQL: &str = "CASE
    WHEN COALESCE(json_extract(d.control, '$.cancelled'), 0) THEN 'cancelled'
    WHEN d.finished_at IS NOT NULL THEN 'finished'
    WHEN json_extract(d.control, '$.paused_reason') IS NOT NULL THEN 'paused'
    ELSE 'running' END";

/// SQL conditions joined by AND, with their parameters in order.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    params: Vec<Value>,
}

impl Conditions {
    fn push(&mut self, sql: &str, params: impl IntoIterator<Item = Value>) {
        self.sql.push(sql.to_owned());
        self.params.extend(params);
    }

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            "1".to_owned()
        } else {
            self.sql.join(" AND ")
        }
    }

    /// Conditions on a deployment row `d` (all but store and controller).
    fn deployment(
        &mut self,
        text: Option<&str>,
        version: Option<&str>,
        state: Option<DeploymentState>,
        origin: Option<Origin>,
    ) {
        if let Some(t) = text {
            let t = Self::text(&t.to_lowercase());
            self.push(
                "(instr(lower(d.id), ?) > 0 OR instr(lower(d.firmware_version), ?) > 0
                  OR instr(lower(d.file_url), ?) > 0)",
                [t.clone(), t.clone(), t],
            );
        }
        if let Some(v) = version {
            self.push("d.firmware_version = ?", [Self::text(v)]);
        }
        if let Some(s) = state {
            self.push(&format!("({STATE_SQL}) = ?"), [Self::text(s.as_str())]);
        }
        if let Some(o) = origin {
            self.push("d.origin = ?", [Self::text(o.as_str())]);
        }
    }
}

impl History {
    /// Deployments matching `filter`, newest first, a page at a time, with the total.
    pub fn search_deployments(
        &self,
        filter: &DeploymentFilter,
        page: DeploymentPageRequest,
    ) -> Result<DeploymentPage, SearchError> {
        check(page.limit, filter.from, filter.to)?;
        let mut c = Conditions::default();
        c.deployment(
            given(&filter.text),
            given(&filter.firmware_version),
            filter.state,
            filter.origin,
        );
        // Through the targets' primary key (deployment, store, controller).
        match (given(&filter.store_id), given(&filter.controller_id)) {
            (Some(s), Some(k)) => c.push(
                "EXISTS (SELECT 1 FROM targets t WHERE t.deployment_id = d.id
                         AND t.store_id = ? AND t.controller_id = ?)",
                [Conditions::text(s), Conditions::text(k)],
            ),
            (Some(s), None) => c.push(
                "EXISTS (SELECT 1 FROM targets t WHERE t.deployment_id = d.id AND t.store_id = ?)",
                [Conditions::text(s)],
            ),
            (None, Some(k)) => c.push(
                "EXISTS (SELECT 1 FROM targets t WHERE t.deployment_id = d.id
                         AND t.controller_id = ?)",
                [Conditions::text(k)],
            ),
            (None, None) => {}
        }
        if let Some(f) = filter.from {
            c.push("d.created_at >= ?", [ms(f)]);
        }
        if let Some(t) = filter.to {
            c.push("d.created_at <= ?", [ms(t)]);
        }
        let wh = c.where_clause();
        let total: i64 = self.conn().query_row(
            &format!("SELECT COUNT(*) FROM deployments d WHERE {wh}"),
            params_from_iter(&c.params),
            |r| r.get(0),
        )?;
        let mut params = c.params.clone();
        params.push(Value::Integer(page.limit.into()));
        params.push(Value::Integer(page.offset.into()));
        let columns = DEPLOYMENT_COLUMNS
            .split(',')
            .map(|col| format!("d.{}", col.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {columns} FROM deployments d WHERE {wh}
             ORDER BY d.created_at DESC, d.id LIMIT ? OFFSET ?"
        ))?;
        let mut rows: Vec<DeploymentRow> = stmt
            .query_map(params_from_iter(&params), deployment_row)?
            .collect::<Result<_, _>>()?;
        for row in &mut rows {
            row.counts = self.counts(&row.deployment_id)?;
        }
        Ok(DeploymentPage {
            rows,
            total: total.max(0) as u64,
        })
    }

    /// Messages matching `filter`, newest first, a page at a time (see the module header
    /// for how each filter is searched).
    pub fn search_messages(
        &self,
        filter: &MessageFilter,
        page: MessagePageRequest,
    ) -> Result<MessagePage, SearchError> {
        check(page.limit, filter.from, filter.to)?;
        let limit = page.limit as usize;
        let before = page.before.unwrap_or(i64::MAX);
        let empty = MessagePage {
            rows: Vec::new(),
            next_before: None,
            searched_to: None,
        };

        // The deployments the deployment fields select, if any are set.
        let text = given(&filter.text).map(str::to_lowercase);
        let chosen = if given(&filter.firmware_version).is_some()
            || filter.state.is_some()
            || filter.origin.is_some()
        {
            let mut c = Conditions::default();
            c.deployment(
                None,
                given(&filter.firmware_version),
                filter.state,
                filter.origin,
            );
            Some(self.deployment_ids(&c)?)
        } else {
            None
        };
        if chosen.as_ref().is_some_and(Vec::is_empty) {
            return Ok(empty);
        }

        // Conditions on the message row `m`, other than the path's own.
        let mut c = Conditions::default();
        if let Some(t) = &text {
            let mut d = Conditions::default();
            d.deployment(Some(t), None, None, None);
            let ids = self.deployment_ids(&d)?;
            let t = Conditions::text(t);
            c.push(
                "(m.deployment_id IN (SELECT value FROM json_each(?))
                  OR instr(lower(m.topic), ?) > 0 OR instr(lower(m.reason), ?) > 0)",
                [json_list(&ids)?, t.clone(), t],
            );
        }
        if let Some(e) = given(&filter.event_type) {
            c.push("m.event_type = ?", [Conditions::text(e)]);
        }
        let outcomes: Vec<&str> = filter
            .outcomes
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
            .collect();
        if !outcomes.is_empty() {
            c.push(
                "m.outcome IN (SELECT value FROM json_each(?))",
                [json_list(&outcomes)?],
            );
        }
        if let Some(f) = filter.from {
            c.push("m.at >= ?", [ms(f)]);
        }
        if let Some(t) = filter.to {
            c.push("m.at <= ?", [ms(t)]);
        }
        if let Some(k) = given(&filter.controller_id) {
            c.push("m.controller_id = ?", [Conditions::text(k)]);
        }

        let columns = format!(
            "m.id, m.direction, m.topic, substr(m.body, 1, {VIEW_EXCERPT_BYTES}), {}",
            MESSAGE_COLUMNS
                .split(',')
                .map(|col| format!("m.{}", col.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let select = format!("SELECT {columns} FROM messages m");
        let fetch = (limit + 1) as i64;

        // By store: `message_stores` holds (store, id), walked newest first (CROSS JOIN keeps
        // it the outer loop); the message is checked again.
        if let Some(store) = given(&filter.store_id) {
            if let Some(ids) = &chosen {
                c.push(
                    "m.deployment_id IN (SELECT value FROM json_each(?))",
                    [json_list(ids)?],
                );
            }
            self.catch_up_stores()?;
            let mut params = vec![
                Conditions::text(store),
                Value::Integer(before),
                Conditions::text(store),
            ];
            params.extend(c.params.iter().cloned());
            params.push(Value::Integer(fetch));
            let rows = self.message_rows(
                &format!(
                    "SELECT {columns} FROM message_stores s CROSS JOIN messages m ON m.id = s.id
                     WHERE s.store_id = ? AND s.id < ? AND m.store_id = ? AND {}
                     ORDER BY s.id DESC LIMIT ?",
                    c.where_clause()
                ),
                &params,
            )?;
            return Ok(full_or_last(rows, limit));
        }

        // By deployment: each one's newest ids through its index, merged.
        if let Some(ids) = chosen.as_ref().filter(|ids| ids.len() <= MAX_MERGED) {
            let sql = format!(
                "SELECT m.id FROM messages m INDEXED BY messages_by_deployment
                 WHERE m.deployment_id = ? AND m.id < ? AND {} ORDER BY m.id DESC LIMIT ?",
                c.where_clause()
            );
            let mut stmt = self.conn().prepare(&sql)?;
            let mut found: Vec<i64> = Vec::new();
            for id in ids {
                let mut params = vec![Conditions::text(id), Value::Integer(before)];
                params.extend(c.params.iter().cloned());
                params.push(Value::Integer(fetch));
                let mut q = stmt.query(params_from_iter(&params))?;
                while let Some(r) = q.next()? {
                    found.push(r.get(0)?);
                }
            }
            found.sort_unstable_by(|a, b| b.cmp(a));
            found.truncate(limit + 1);
            let rows = self.message_rows(
                &format!(
                    "{select} WHERE m.id IN (SELECT value FROM json_each(?)) ORDER BY m.id DESC"
                ),
                &[json_list(&found)?],
            )?;
            return Ok(full_or_last(rows, limit));
        }
        if let Some(ids) = &chosen {
            c.push(
                "m.deployment_id IN (SELECT value FROM json_each(?))",
                [json_list(ids)?],
            );
        }

        // Otherwise a scan of at most SCAN_ROWS row ids below the cursor.
        let top: Option<i64> = self
            .conn()
            .query_row("SELECT MAX(id) FROM messages", [], |r| r.get(0))?;
        let Some(top) = top else { return Ok(empty) };
        let start = before.min(top.saturating_add(1));
        let floor = start.saturating_sub(SCAN_ROWS);
        let mut params = vec![Value::Integer(start), Value::Integer(floor)];
        params.extend(c.params.iter().cloned());
        params.push(Value::Integer(fetch));
        let rows = self.message_rows(
            &format!(
                "{select} NOT INDEXED
                 WHERE m.id < ? AND m.id >= ? AND {} ORDER BY m.id DESC LIMIT ?",
                c.where_clause()
            ),
            &params,
        )?;
        let mut out = full_or_last(rows, limit);
        if out.next_before.is_none() {
            // Short of a page: were there older rows the bound left unexamined?
            let older: Option<i64> = self
                .conn()
                .query_row(
                    "SELECT id FROM messages WHERE id < ?1 ORDER BY id DESC LIMIT 1",
                    [floor],
                    |r| r.get(0),
                )
                .optional()?;
            if older.is_some() {
                out.next_before = Some(floor);
                out.searched_to = self
                    .conn()
                    .query_row(
                        "SELECT at FROM messages WHERE id >= ?1 ORDER BY id LIMIT 1",
                        [floor],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()?
                    .map(|at| Millis(u64::try_from(at).unwrap_or(0)));
            }
        }
        Ok(out)
    }

    /// Brings `message_stores` up to the newest message, a chunk a transaction. Ids only
    /// grow, except when the newest messages were deleted: then it starts over.
    fn catch_up_stores(&self) -> Result<(), SearchError> {
        loop {
            let tx = rusqlite::Transaction::new_unchecked(
                self.conn(),
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let top: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
                r.get(0)
            })?;
            let mut upto: i64 = tx
                .query_row(
                    "SELECT CAST(value AS INTEGER) FROM settings WHERE key = ?1",
                    [STORES_UPTO],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            if upto > top {
                tx.execute("DELETE FROM message_stores", [])?;
                upto = 0;
            }
            if upto == top {
                return Ok(tx.commit()?);
            }
            let end = top.min(upto.saturating_add(CATCH_UP_ROWS));
            // Sorted by the key: the chunk goes in as runs, not one leaf a row.
            tx.execute(
                "INSERT OR REPLACE INTO message_stores (store_id, id, controller_id)
                 SELECT store_id, id, controller_id FROM messages
                 WHERE id > ?1 AND id <= ?2 AND store_id IS NOT NULL
                 ORDER BY store_id, id",
                [upto, end],
            )?;
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                rusqlite::params![STORES_UPTO, end.to_string()],
            )?;
            tx.commit()?;
        }
    }

    fn deployment_ids(&self, c: &Conditions) -> Result<Vec<String>, SearchError> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT d.id FROM deployments d WHERE {}",
            c.where_clause()
        ))?;
        let ids = stmt
            .query_map(params_from_iter(&c.params), |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn message_rows(&self, sql: &str, params: &[Value]) -> Result<Vec<MessageRow>, SearchError> {
        let mut stmt = self.conn().prepare(sql)?;
        let rows = stmt
            .query_map(params_from_iter(params), message_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

/// A page from up to `limit + 1` rows: the extra one says there is more.
fn full_or_last(mut rows: Vec<MessageRow>, limit: usize) -> MessagePage {
    let more = rows.len() > limit;
    rows.truncate(limit);
    MessagePage {
        next_before: if more {
            rows.last().map(|r| r.id)
        } else {
            None
        },
        rows,
        searched_to: None,
    }
}

fn json_list<T: Serialize>(items: &[T]) -> Result<Value, SearchError> {
    serde_json::to_string(items)
        .map(Value::Text)
        .map_err(|e| HistoryError::Encode(e.to_string()).into())
}
