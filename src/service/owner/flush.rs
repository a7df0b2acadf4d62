//! Handing staged work to the history writer, with the target records it touched and the
//! notices subscribers get once it is committed.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{Owner, Reply};
use crate::history::TargetWrite;
use crate::protocol::Id;
use crate::service::events::ServiceEvent;
use crate::service::{ServiceError, now_millis};

impl Owner {
    /// Commits now and answers `reply` with `value` once the commit is durable.
    pub(super) fn reply_after_commit<T: Send + 'static>(
        &mut self,
        reply: Reply<T>,
        value: Option<T>,
    ) {
        let (done_tx, done_rx) = oneshot::channel();
        self.staged.done.push(done_tx);
        self.flush();
        tokio::spawn(async move {
            let result = match done_rx.await {
                Ok(Ok(())) => value.ok_or(ServiceError::Stopped),
                Ok(Err(e)) => Err(ServiceError::HistoryWrite(e)),
                Err(_) => Err(ServiceError::Stopped),
            };
            let _ = reply.send(result);
        });
    }

    /// Hands everything staged to the writer, with the records of every touched target and
    /// the notices subscribers get once it is committed.
    pub(super) fn flush(&mut self) {
        if self.staged_rows == 0
            && self.staged.acks.is_empty()
            && self.staged.done.is_empty()
            && self.staged.release.is_empty()
            && self.touched.is_empty()
        {
            return;
        }
        let mut finished = Vec::new();
        let mut deployments: HashSet<Id> = HashSet::new();
        for (d, s, c) in self.touched.drain() {
            let Some(deployment) = self.engine.deployment(&d) else {
                continue;
            };
            if let Some(position) = deployment.find(&s, &c)
                && let Some(target) = deployment.targets().get(position)
            {
                self.staged
                    .batch
                    .targets
                    .push(TargetWrite::of(&d, position, target));
            }
            deployments.insert(d);
        }
        for d in &deployments {
            if let Some(deployment) = self.engine.deployment(d) {
                // Cancel and retry change the control without a rollout event.
                self.staged
                    .batch
                    .controls
                    .push((d.to_string(), deployment.state().control.clone()));
            }
        }
        for d in deployments {
            if let Some(deployment) = self.engine.deployment(&d)
                && deployment.is_finished()
                && self.reported_finished.insert(d.clone())
            {
                self.staged
                    .batch
                    .finished
                    .push((d.to_string(), Some(now_millis())));
                finished.push(Arc::new(deployment.summary()));
            }
        }
        let mut flush = std::mem::take(&mut self.staged);
        if !self.transitions.is_empty() {
            let transitions = std::mem::take(&mut self.transitions);
            flush
                .events
                .push(ServiceEvent::Transitions(Arc::new(transitions)));
        }
        if !self.rollout.is_empty() {
            let rollout = std::mem::take(&mut self.rollout);
            flush.events.push(ServiceEvent::Rollout(Arc::new(rollout)));
        }
        if self.inbound > 0 {
            flush.events.push(ServiceEvent::Messages {
                inbound: self.inbound,
                rejected: self.rejected,
            });
            self.inbound = 0;
            self.rejected = 0;
        }
        flush
            .events
            .extend(finished.into_iter().map(ServiceEvent::Finished));
        self.staged_rows = 0;
        self.writer.send(flush);
    }
}
