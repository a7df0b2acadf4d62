//! Reads for the window's live views: the outbox size and the message log as it grows.

use rusqlite::{Row, params};

use super::{History, HistoryError, MessageRow};
use crate::engine::Millis;

/// The live views get at most this much of a body (the export has them whole): a window
/// never holds a large message.
pub(super) const VIEW_EXCERPT_BYTES: usize = 4_096;

/// The columns after the body's excerpt.
pub(super) const MESSAGE_COLUMNS: &str =
    "at, event_type, deployment_id, store_id, controller_id, outcome,
    reason";

impl History {
    /// Commands of every deployment still waiting in the outbox (not confirmed, not withdrawn).
    pub fn outbox_waiting(&self) -> Result<usize, HistoryError> {
        let n: i64 = self
            .conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM messages
                 WHERE direction = 'out' AND sent_at IS NULL AND withdrawn = 0",
            )?
            .query_row([], |r| r.get(0))?;
        Ok(n.max(0) as usize)
    }

    /// The newest `limit` messages, newest first, with their bodies cut to an excerpt.
    pub fn recent_messages(&self, limit: usize) -> Result<Vec<MessageRow>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT id, direction, topic, substr(body, 1, {VIEW_EXCERPT_BYTES}), {MESSAGE_COLUMNS}
             FROM messages ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = stmt
            .query_map(params![limit as i64], message_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Up to `limit` messages recorded after the one with id `after`, oldest first: how a live
    /// view follows the log (other processes' messages included).
    pub fn messages_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<MessageRow>, HistoryError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT id, direction, topic, substr(body, 1, {VIEW_EXCERPT_BYTES}), {MESSAGE_COLUMNS}
             FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![after, limit as i64], message_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Those of the commands with these message ids that left the outbox since (published or
    /// withdrawn): how a live view learns that a command it showed as waiting went out.
    pub fn settled_commands(&self, ids: &[i64]) -> Result<Vec<MessageRow>, HistoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(ids).map_err(|e| HistoryError::Encode(e.to_string()))?;
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT id, direction, topic, substr(body, 1, {VIEW_EXCERPT_BYTES}), {MESSAGE_COLUMNS}
             FROM messages WHERE id IN (SELECT value FROM json_each(?1))
               AND direction = 'out' AND outcome <> 'outbox' ORDER BY id"
        ))?;
        let rows = stmt
            .query_map(params![list], message_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

pub(super) fn message_row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        direction: r.get(1)?,
        topic: r.get(2)?,
        body: String::from_utf8_lossy(&r.get::<_, Vec<u8>>(3)?).into_owned(),
        at: Millis(u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0)),
        event_type: r.get(5)?,
        deployment_id: r.get(6)?,
        store_id: r.get(7)?,
        controller_id: r.get(8)?,
        outcome: r.get(9)?,
        reason: r.get(10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Batch, MessageDirection, MessageRecord};

    /// The live views never get a large body whole (the export still has it).
    #[test]
    fn live_views_get_an_excerpt_of_large_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
        let mut batch = Batch::default();
        batch.messages.push(MessageRecord {
            direction: MessageDirection::In,
            topic: "/stores/s/controllers/c/ack".into(),
            body: vec![b'x'; 200_000].into(),
            at: Millis(1),
            event_type: None,
            deployment_id: None,
            store_id: None,
            controller_id: None,
            correlation_id: None,
            outcome: "not_json".into(),
            reason: None,
            oversize: None,
        });
        history.write_batch(&batch).unwrap();
        let recent = history.recent_messages(10).unwrap();
        assert_eq!(recent[0].body.len(), VIEW_EXCERPT_BYTES);
        assert_eq!(
            history.messages_after(0, 10).unwrap()[0].body.len(),
            VIEW_EXCERPT_BYTES
        );
        assert_eq!(history.messages(None, 10).unwrap()[0].body.len(), 200_000);
    }

    /// A command shown as waiting is found again once the broker confirmed it.
    #[test]
    fn a_command_is_told_again_once_published() {
        let dir = tempfile::tempdir().unwrap();
        let mut history = History::open(&dir.path().join("h.sqlite")).unwrap();
        let command = |cid: &str| MessageRecord {
            direction: MessageDirection::Out,
            topic: format!("/stores/s/controllers/{cid}/update"),
            body: b"{}".to_vec().into(),
            at: Millis(1),
            event_type: Some("update_firmware".into()),
            deployment_id: Some("d".into()),
            store_id: Some("s".into()),
            controller_id: Some(cid.into()),
            correlation_id: Some(cid.into()),
            outcome: "outbox".into(),
            reason: None,
            oversize: None,
        };
        let mut batch = Batch::default();
        batch.messages.push(command("a"));
        batch.messages.push(command("b"));
        history.write_batch(&batch).unwrap();
        let ids: Vec<i64> = history
            .messages_after(0, 10)
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        assert!(history.settled_commands(&ids).unwrap().is_empty());
        assert_eq!(history.outbox_waiting().unwrap(), 2);

        let mut batch = Batch::default();
        batch.sent.push(("a".into(), Millis(2)));
        batch.withdrawn.push("b".into());
        history.write_batch(&batch).unwrap();
        let settled = history.settled_commands(&ids).unwrap();
        let outcomes: Vec<&str> = settled.iter().map(|m| m.outcome.as_str()).collect();
        assert_eq!(outcomes, ["published", "withdrawn"]);
        assert_eq!(history.outbox_waiting().unwrap(), 0);
    }
}
