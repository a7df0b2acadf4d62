//! Which deployments this process drives, and following the ones it does not.
//!
//! A process drives a deployment when it is connected to the deployment's broker and holds
//! the deployment's lock beside the history ([`DriverLocks`](crate::service::DriverLocks)).
//! Every look (twice a second) it:
//! - takes over the unfinished deployments of its broker whose driver is gone (exited or
//!   died): restores them from the history, sends what their outbox still holds, and applies
//!   the replies that were recorded as deferred meanwhile;
//! - takes the requests other processes left for the deployments it drives;
//! - reads what the drivers of the other unfinished deployments recorded, and tells its
//!   subscribers as if it were its own (a `watch`, a `cancel --wait`, the window).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Owner;
use crate::engine::{InboundOutcome, Millis, OutboundCommand, Transition};
use crate::history::{History, Ownership};
use crate::protocol::{Id, decode};
use crate::service::events::ServiceEvent;
use crate::service::{ServiceError, now_millis};

/// Rows read per followed deployment and look: a backlog is read over several looks.
const FOLLOW_BATCH: usize = 5_000;

/// Who handles a reply for a deployment the engine does not hold.
pub(super) enum Claim {
    /// This process drives it now (it just took it over).
    Driving,
    /// Ours, but driven by another process or waiting for its broker: record, apply later.
    Deferred(&'static str),
    /// Another operator's deployment, followed from the replies.
    Observed,
    /// Not a deployment of this history's.
    NotOurs,
}

/// The deployments this process follows through the history, with the last transition and
/// rollout event id it has told its subscribers of.
pub(super) struct Following {
    followed: HashMap<Id, (i64, i64)>,
    /// The newest transition and rollout event ids at the last look, and when it was: a
    /// deployment first seen now is read from there (so one that started, or even ended,
    /// between two looks is told in full).
    last: (i64, i64),
    last_at: Millis,
    /// Finished ones already told, within the look-back window.
    told: HashSet<Id>,
}

impl Following {
    pub fn start(reader: &History) -> Self {
        Self {
            followed: HashMap::new(),
            last: reader.follow_cursor().unwrap_or((i64::MAX, i64::MAX)),
            // The look-back margin starts at the present: what ended before is not news.
            last_at: Millis(now_millis().0 + 2_000),
            told: HashSet::new(),
        }
    }

    pub fn forget(&mut self, id: &Id) {
        self.followed.remove(id);
    }

    /// Deployments that finished since then are news: the last look, less a margin for the
    /// clocks of the processes that record them.
    fn look_back(&self) -> Millis {
        Millis(self.last_at.0.saturating_sub(2_000))
    }
}

impl Owner {
    /// Whether this process may drive a deployment with this ownership.
    fn may_drive(&self, own: &Ownership) -> bool {
        self.drives
            && own.local
            && match (&own.broker, &self.identity) {
                (Some(theirs), Some(mine)) => theirs.same_broker(mine),
                _ => false,
            }
    }

    pub(super) fn claim(&mut self, id: &Id) -> Claim {
        if self.observed.contains(id) {
            return Claim::Observed;
        }
        let own = match self.reader.ownership(id.as_str()) {
            Ok(Some(own)) => own,
            Ok(None) => return Claim::NotOurs,
            Err(e) => {
                tracing::warn!(deployment = %id, error = %e, "cannot read the deployment's broker");
                return Claim::NotOurs;
            }
        };
        if !own.local {
            self.observed.insert(id.clone());
            return Claim::Observed;
        }
        if !self.may_drive(&own) {
            return Claim::Deferred("the deployment waits for its own broker");
        }
        match self.take_over(id) {
            Ok(true) => Claim::Driving,
            Ok(false) => Claim::Deferred("another Storefleet process drives this deployment"),
            Err(e) => {
                tracing::warn!(deployment = %id, error = %e, "cannot take the deployment over");
                Claim::Deferred("the deployment could not be loaded")
            }
        }
    }

    /// Drives `id` from now on if nobody else does: false when another process holds it.
    pub(super) fn take_over(&mut self, id: &Id) -> Result<bool, ServiceError> {
        if self.engine.deployment(id).is_some() {
            return Ok(true);
        }
        if !self.locks.try_take(id).map_err(ServiceError::Lock)? {
            return Ok(false);
        }
        match self.load(id) {
            Ok(()) => Ok(true),
            Err(e) => {
                self.locks.release(id);
                Err(e)
            }
        }
    }

    /// Restores a deployment from the history into the engine (its lock is held); gives
    /// back its commands that never left.
    pub(super) fn restore_only(&mut self, id: &Id) -> Result<Vec<OutboundCommand>, ServiceError> {
        let state = self
            .reader
            .deployment_state(id.as_str())?
            .ok_or_else(|| ServiceError::UnknownDeployment(id.clone()))?;
        let restored = self.engine.restore(state)?;
        if self.engine.is_finished(id) == Some(true) {
            self.reported_finished.insert(id.clone());
        }
        self.stage(restored.effects);
        Ok(restored.resend)
    }

    /// Restores a deployment whose lock this process just took, to drive it.
    fn load(&mut self, id: &Id) -> Result<(), ServiceError> {
        let end_is_news = self.end_is_news(id)?;
        self.tell_recorded(id)?;
        // A command in a target's record but not in the outbox (the process stopped between
        // the two writes) is written now; one already there is left as it is.
        let resend = self.restore_only(id)?;
        self.stage_commands(resend);
        // Commands written before but never confirmed: again, with the same correlation ids
        // (read from the outbox a chunk at a time, as the link has room).
        self.unsent
            .insert(id.clone(), super::flow::Unsent::from_start());
        self.replay_deferred(id)?;
        self.following.forget(id);
        // Finished elsewhere since the last look: restoring marks it as told, so the follower's
        // Finished is told here instead (a late reply made this process load it first).
        if end_is_news
            && self.engine.is_finished(id) == Some(true)
            && let Some(summary) = self.engine.summary(id)
        {
            self.following.told.insert(id.clone());
            let _ = self.events.send(ServiceEvent::Finished(Arc::new(summary)));
        }
        tracing::info!(deployment = %id, "driving the deployment");
        self.pump();
        Ok(())
    }

    /// Applies the replies recorded while another process drove the deployment (or nobody
    /// did); those that process already applied are duplicates here and change nothing.
    fn replay_deferred(&mut self, id: &Id) -> Result<(), ServiceError> {
        let now = now_millis();
        for m in self.reader.deferred_messages(id.as_str())? {
            let Ok(inbound) = decode(&m.topic, &m.body, &self.prefix) else {
                continue;
            };
            let handled = self.engine.on_inbound(&inbound, now);
            let reason = match &handled.outcome {
                InboundOutcome::Unchanged { reason, .. } => Some(reason.to_string()),
                InboundOutcome::Rejected(reason) => Some(reason.to_string()),
                _ => None,
            };
            self.staged
                .batch
                .outcomes
                .push((m.id, handled.outcome.code().to_owned(), reason));
            self.staged_rows += 1;
            self.stage(handled.effects);
        }
        Ok(())
    }

    /// The periodic look at the history (see the module header).
    pub(super) fn look(&mut self) {
        if self.drives {
            self.take_over_orphans();
            self.take_requests();
        }
        if let Err(e) = self.follow_history() {
            tracing::warn!(error = %e, "cannot follow the history");
        }
        self.answer_forwarded();
    }

    fn take_over_orphans(&mut self) {
        let Some(identity) = &self.identity else {
            return;
        };
        let ids = match self.reader.unfinished_on(identity) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the deployments to drive");
                return;
            }
        };
        for id in ids {
            let Ok(id) = Id::new(id) else { continue };
            if let Err(e) = self.take_over_unfinished(&id) {
                tracing::error!(deployment = %id, error = %e, "cannot resume deployment");
            }
        }
    }

    /// [`Self::take_over`] for a deployment listed as unfinished: its driver may have
    /// finished it and exited between the listing and the lock coming free. Then there is
    /// nothing to drive, and it stays followed, so what its driver did is still told.
    fn take_over_unfinished(&mut self, id: &Id) -> Result<bool, ServiceError> {
        if self.engine.deployment(id).is_some() {
            return Ok(true);
        }
        if !self.locks.try_take(id).map_err(ServiceError::Lock)? {
            return Ok(false);
        }
        let finished = self
            .reader
            .ownership(id.as_str())
            .map_err(ServiceError::from)?
            .is_none_or(|own| own.finished);
        if finished {
            self.locks.release(id);
            return Ok(false);
        }
        match self.load(id) {
            Ok(()) => Ok(true),
            Err(e) => {
                self.locks.release(id);
                Err(e)
            }
        }
    }

    /// Applies what other processes asked of the deployments this process drives.
    fn take_requests(&mut self) {
        let open = match self.reader.open_requests() {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read requests");
                return;
            }
        };
        let now = now_millis();
        for request in open {
            let Ok(id) = Id::new(request.deployment_id) else {
                continue;
            };
            if self.engine.deployment(&id).is_none() || !self.locks.holds(&id) {
                continue;
            }
            if let Err(e) = self.apply_here(&id, request.kind) {
                tracing::warn!(deployment = %id, request = request.kind.as_str(), error = %e, "request not applied");
            }
            self.staged.batch.requests_taken.push((request.id, now));
            self.staged_rows += 1;
        }
    }

    /// Tells subscribers up to a batch of the transitions and rollout events of `id`
    /// recorded after `after`; gives the ids of the last ones told.
    fn tell_after(&self, id: &Id, after: (i64, i64)) -> Result<(i64, i64), ServiceError> {
        let (t_after, e_after) = after;
        let transitions = self
            .reader
            .transitions_after(id.as_str(), t_after, FOLLOW_BATCH)?;
        let events = self
            .reader
            .rollout_events_after(id.as_str(), e_after, FOLLOW_BATCH)?;
        let t_last = transitions.last().map_or(t_after, |(n, _)| *n);
        let e_last = events.last().map_or(e_after, |(n, _)| *n);
        if !transitions.is_empty() {
            let batch: Vec<Transition> = transitions.into_iter().map(|(_, t)| t).collect();
            let _ = self.events.send(ServiceEvent::Transitions(Arc::new(batch)));
        }
        if !events.is_empty() {
            let batch = events.into_iter().map(|(_, e)| e).collect();
            let _ = self.events.send(ServiceEvent::Rollout(Arc::new(batch)));
        }
        Ok((t_last, e_last))
    }

    /// Before this process drives `id`: tells what its earlier driver recorded that was not
    /// told yet. A late reply makes this process load a deployment that may have finished
    /// elsewhere since the last look; from then on the engine tells its changes and the
    /// follower no longer looks, so without this a `watch` missed that whole deployment.
    fn tell_recorded(&mut self, id: &Id) -> Result<(), ServiceError> {
        if self.following.told.contains(id) {
            return Ok(());
        }
        let mut after = (self.following.followed.get(id).copied()).unwrap_or(self.following.last);
        loop {
            let last = self.tell_after(id, after)?;
            if last == after {
                return Ok(());
            }
            after = last;
        }
    }

    /// Whether the follower would tell `id`'s end at its next look: it follows `id`, or `id`
    /// ended since the last look (with the same margin), and its end was not told yet.
    fn end_is_news(&self, id: &Id) -> Result<bool, ServiceError> {
        if self.following.told.contains(id) {
            return Ok(false);
        }
        if self.following.followed.contains_key(id) {
            return Ok(true);
        }
        let ended = self.reader.finished_since(self.following.look_back())?;
        Ok(ended.iter().any(|e| e == id.as_str()))
    }

    /// Tells subscribers what the drivers of the other unfinished deployments recorded.
    pub(super) fn follow_history(&mut self) -> Result<(), ServiceError> {
        let now = now_millis();
        let cursor = self.reader.follow_cursor()?;
        let unfinished: HashSet<Id> = self
            .reader
            .unfinished_ids()?
            .into_iter()
            .filter_map(|id| Id::new(id).ok())
            .filter(|id| self.engine.deployment(id).is_none())
            .collect();
        // Finished since the last look (with a margin for clocks): told once too.
        let ended: Vec<Id> = self
            .reader
            .finished_since(self.following.look_back())?
            .into_iter()
            .filter_map(|id| Id::new(id).ok())
            .filter(|id| self.engine.deployment(id).is_none())
            .collect();
        let start = self.following.last;
        for id in unfinished.iter().chain(&ended) {
            if !self.following.followed.contains_key(id) && !self.following.told.contains(id) {
                self.following.followed.insert(id.clone(), start);
            }
        }
        self.following.last = cursor;
        self.following.last_at = now;
        let ended: HashSet<Id> = ended.into_iter().collect();
        self.following.told.retain(|id| ended.contains(id));
        let ids: Vec<Id> = self.following.followed.keys().cloned().collect();
        for id in ids {
            let Some(&(t_after, e_after)) = self.following.followed.get(&id) else {
                continue;
            };
            let (t_last, e_last) = self.tell_after(&id, (t_after, e_after))?;
            self.following.followed.insert(id.clone(), (t_last, e_last));
            let caught_up = t_last == t_after && e_last == e_after;
            if caught_up && !unfinished.contains(&id) {
                // Finished (or taken over by this process): tell once, stop following.
                self.following.forget(&id);
                self.following.told.insert(id.clone());
                if self.engine.deployment(&id).is_none()
                    && let Some(summary) = self.reader.deployment_summary(&id)?
                    && summary.finished
                {
                    let _ = self.events.send(ServiceEvent::Finished(Arc::new(summary)));
                }
            }
        }
        Ok(())
    }
}
