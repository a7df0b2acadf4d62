//! The callers' requests. A pause, resume, cancel or retry is applied here when this process
//! drives the deployment (or may take it over now); when another process drives it, it is
//! left in the history for that process, which takes it within a second; when nobody drives
//! it and this process may not (offline, or connected to another broker), it is applied to
//! the history under the deployment's lock, and its commands wait for the deployment's
//! broker. Another operator's deployment is read only.

use std::time::Duration;

use super::{Owner, Reply, Request};
use crate::engine::{DeploymentSpec, DeploymentSummary};
use crate::history::{NewRequest, RequestKind};
use crate::protocol::Id;
use crate::service::{ServiceError, now_millis};

/// How long a forwarded request may wait for its driver to take it.
const FORWARD_PATIENCE: Duration = Duration::from_secs(15);

/// A request left for another process, whose caller waits for it to be taken.
pub(super) struct Awaiting {
    id: Id,
    kind: RequestKind,
    at: crate::engine::Millis,
    since: std::time::Instant,
    reply: Reply<DeploymentSummary>,
}

impl Owner {
    pub(super) fn on_request(&mut self, request: Request) {
        match request {
            Request::Deploy(spec, reply) => self.deploy(spec, reply),
            Request::Cancel(id, reply) => self.act(id, RequestKind::Cancel, reply),
            Request::Retry(id, reply) => self.act(id, RequestKind::Retry, reply),
            Request::Pause(id, reply) => self.act(id, RequestKind::Pause, reply),
            Request::Resume(id, reply) => self.act(id, RequestKind::Resume, reply),
            Request::Summary(id, reply) => {
                let _ = reply.send(self.summary(&id));
            }
            Request::Detail(id, reply) => {
                let detail = match (self.engine.summary(&id), self.engine.target_rows(&id)) {
                    (Some(summary), Some(targets)) => {
                        Ok(Some(crate::history::DeploymentDetail { summary, targets }))
                    }
                    _ => self.reader.deployment_detail(&id).map_err(Into::into),
                };
                let _ = reply.send(detail);
            }
            Request::Drives(id, reply) => {
                let _ = reply.send(Ok(self.engine.deployment(&id).is_some()));
            }
            Request::ForgetFinished(before, reply) => {
                let going: Vec<Id> = self
                    .engine
                    .deployments()
                    .filter(|d| d.is_finished() && d.state.created_at < before)
                    .map(|d| d.state.deployment_id.clone())
                    .collect();
                for id in &going {
                    self.let_go(id);
                }
                self.flush();
                self.reply_after_commit(reply, Some(going.len()));
            }
            Request::Sync(reply) => {
                // What the drivers of the followed deployments recorded so far, too.
                if let Err(e) = self.follow_history() {
                    tracing::warn!(error = %e, "cannot follow the history");
                }
                self.reply_after_commit(reply, Some(()));
            }
        }
    }

    fn summary(&self, id: &Id) -> Result<Option<DeploymentSummary>, ServiceError> {
        match self.engine.summary(id) {
            Some(summary) => Ok(Some(summary)),
            None => Ok(self.reader.deployment_summary(id)?),
        }
    }

    /// Creates a deployment for this service's broker. Without a link it is only recorded:
    /// the next process connected to its broker drives it (its commands wait in the outbox).
    fn deploy(&mut self, spec: DeploymentSpec, reply: Reply<DeploymentSummary>) {
        let Some(identity) = self.identity.clone() else {
            let _ = reply.send(Err(ServiceError::NoBroker));
            return;
        };
        let id = spec.deployment_id.clone();
        let fx = match self.engine.create(spec, now_millis()) {
            Ok(fx) => fx,
            Err(e) => {
                let _ = reply.send(Err(ServiceError::Engine(e)));
                return;
            }
        };
        if let Some(state) = self.engine.snapshot(&id) {
            self.staged.batch.new_deployments.push(state);
        }
        self.staged.batch.bind.push((id.to_string(), identity));
        self.staged
            .batch
            .run_by
            .push((id.to_string(), self.run_by.clone()));
        self.stage_without_targets(fx);
        let summary = self.engine.summary(&id);
        let driving = self.drives && self.locks.try_take(&id).unwrap_or(false);
        self.reply_after_commit(reply, summary);
        if !driving {
            self.let_go(&id);
        }
    }

    /// Pause, resume, cancel or retry, wherever the deployment is driven.
    fn act(&mut self, id: Id, kind: RequestKind, reply: Reply<DeploymentSummary>) {
        if self.engine.deployment(&id).is_some() {
            return self.apply_and_reply(id, kind, reply);
        }
        let own = match self.reader.ownership(id.as_str()) {
            Ok(Some(own)) => own,
            Ok(None) => {
                let _ = reply.send(Err(ServiceError::UnknownDeployment(id)));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        if !own.local {
            let _ = reply.send(Err(ServiceError::ReadOnly(id)));
            return;
        }
        match self.locks.driven_elsewhere(&id) {
            Ok(true) => return self.forward(id, kind, reply),
            Ok(false) => {}
            Err(e) => {
                let _ = reply.send(Err(ServiceError::Lock(e)));
                return;
            }
        }
        let unknown_broker = own.broker.is_none();
        let ours = match (&own.broker, &self.identity) {
            (Some(theirs), Some(mine)) => theirs.same_broker(mine),
            _ => false,
        };
        if self.drives && (ours || unknown_broker) {
            if unknown_broker && let Some(identity) = self.identity.clone() {
                // Made before brokers were recorded: the operator's explicit word binds it.
                tracing::info!(deployment = %id, broker = %identity, "binding an old deployment to this broker");
                self.staged.batch.bind.push((id.to_string(), identity));
            }
            match self.take_over(&id) {
                Ok(true) => self.apply_and_reply(id, kind, reply),
                Ok(false) => self.forward(id, kind, reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
            return;
        }
        self.apply_transient(id, kind, reply);
    }

    fn apply_and_reply(&mut self, id: Id, kind: RequestKind, reply: Reply<DeploymentSummary>) {
        match self.apply_here(&id, kind) {
            Ok(()) => {
                let summary = self.engine.summary(&id);
                self.reply_after_commit(reply, summary);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Applies a request to a deployment this engine holds.
    pub(super) fn apply_here(&mut self, id: &Id, kind: RequestKind) -> Result<(), ServiceError> {
        let now = now_millis();
        let fx = match kind {
            RequestKind::Cancel => self.engine.cancel(id, now)?,
            RequestKind::Pause => self.engine.pause(id, now)?,
            RequestKind::Resume => self.engine.resume(id, now)?,
            RequestKind::Retry => {
                let fx = self.engine.retry(id, now)?;
                if !fx.transitions.is_empty() && self.reported_finished.remove(id) {
                    self.staged.batch.finished.push((id.to_string(), None));
                }
                fx
            }
        };
        self.stage(fx);
        Ok(())
    }

    /// Leaves the request for the process that drives the deployment, and answers once that
    /// process has taken it (what it did is then in the history), within a bound.
    fn forward(&mut self, id: Id, kind: RequestKind, reply: Reply<DeploymentSummary>) {
        tracing::info!(deployment = %id, request = kind.as_str(), "left for the process that drives the deployment");
        let at = now_millis();
        self.staged.batch.requests.push(NewRequest {
            deployment_id: id.to_string(),
            kind,
            at,
        });
        self.staged_rows += 1;
        self.flush();
        self.awaiting.push(Awaiting {
            id,
            kind,
            at,
            since: std::time::Instant::now(),
            reply,
        });
    }

    /// Answers the forwarded requests their driver has taken (or has not, in time).
    pub(super) fn answer_forwarded(&mut self) {
        let mut still = Vec::new();
        for a in std::mem::take(&mut self.awaiting) {
            match self.reader.request_taken(a.id.as_str(), a.kind, a.at) {
                Ok(true) => {
                    let summary = self.summary(&a.id).and_then(|s| {
                        s.ok_or_else(|| ServiceError::UnknownDeployment(a.id.clone()))
                    });
                    let _ = a.reply.send(summary);
                }
                Ok(false) if a.since.elapsed() < FORWARD_PATIENCE => still.push(a),
                Ok(false) => {
                    let _ = a.reply.send(Err(ServiceError::NotTaken {
                        id: a.id,
                        action: a.kind.as_str(),
                    }));
                }
                Err(e) => {
                    let _ = a.reply.send(Err(e.into()));
                }
            }
        }
        self.awaiting = still;
    }

    /// Applies an operator's request to a deployment nobody drives, from a process that is
    /// not connected to its broker: under the deployment's lock, the engine takes it from the
    /// history, applies the request, and lets it go again once that is committed. What it
    /// records (a pause, cancelled targets, new commands in the outbox) is what the driver
    /// would record; nothing is published from here: its commands wait for a process
    /// connected to the deployment's broker, which takes it over.
    fn apply_transient(&mut self, id: Id, kind: RequestKind, reply: Reply<DeploymentSummary>) {
        match self.locks.try_take(&id) {
            Ok(true) => {}
            Ok(false) => return self.forward(id, kind, reply),
            Err(e) => {
                let _ = reply.send(Err(ServiceError::Lock(e)));
                return;
            }
        }
        let applied = self
            .restore_only(&id)
            .and_then(|_| self.apply_here(&id, kind));
        let summary = self.engine.summary(&id);
        match applied {
            Ok(()) => self.reply_after_commit(reply, summary),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
        // The flush above wrote the targets' records; now the engine lets the deployment go.
        self.flush();
        self.let_go(&id);
    }

    /// Stops holding a deployment this process must not drive: out of the engine, none of
    /// its commands published from here, its lock given back once the history has it all.
    pub(super) fn let_go(&mut self, id: &Id) {
        self.engine.remove(id);
        self.reported_finished.remove(id);
        // What the engine made for it reaches the outbox, for its driver to send.
        self.stage_all_of(id);
        self.staged.commands.retain(|d| d != id);
        self.unsent.remove(id);
        self.outq.retain(|p| &p.deployment_id != id);
        self.staged.release.push(id.clone());
    }
}
