//! The one task that owns the engine. Requests, link events and timers come in through
//! channels; effects go to the history writer in batches, and commands go to the link only
//! after their outbox rows are committed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::events::ServiceEvent;
use super::writer::{Committed, Flush, PublishItem, Writer};
use super::{ServiceError, now_millis};
use crate::engine::{
    DeploymentSpec, DeploymentSummary, Effects, Engine, EngineError, InboundOutcome, Millis,
    OutboundCommand, RejectReason, RolloutEvent, TargetRow, Transition,
};
use crate::history::{
    ControllerSeen, History, MessageDirection, MessageRecord, OutboxEntry, TargetWrite,
};
use crate::link::{InboundMessage, LinkEvent, PublishError, Publisher};
use crate::protocol::{Id, TopicAddress, TopicPrefix, decode, encode_command};

/// How often staged work is committed when it does not fill a batch first.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Staged rows that trigger a commit at once.
const FLUSH_AT: usize = 2_000;
/// How often the rollout controls in the history are compared with the engine's, to take
/// over a pause or resume made by another process.
const CONTROLS_EVERY: Duration = Duration::from_secs(1);

pub(super) type Reply<T> = oneshot::Sender<Result<T, ServiceError>>;

pub(super) enum Request {
    Deploy(DeploymentSpec, Reply<DeploymentSummary>),
    Cancel(Id, Reply<DeploymentSummary>),
    Retry(Id, Reply<DeploymentSummary>),
    Pause(Id, Reply<DeploymentSummary>),
    Resume(Id, Reply<DeploymentSummary>),
    Summary(Id, Reply<Option<DeploymentSummary>>),
    Targets(Id, Reply<Option<Vec<TargetRow>>>),
    /// Answers once everything staged so far is committed.
    Sync(Reply<()>),
}

type TargetKey = (Id, Id, Id);

pub(super) struct Owner {
    pub engine: Engine,
    pub prefix: TopicPrefix,
    pub reader: History,
    pub writer: Writer,
    pub publisher: Option<Publisher>,
    pub events: broadcast::Sender<ServiceEvent>,
    pub outq: VecDeque<PublishItem>,
    inflight: HashMap<u64, PublishItem>,
    next_seq: u64,
    withdrawn: HashSet<String>,
    staged: Flush,
    staged_rows: usize,
    touched: HashSet<TargetKey>,
    transitions: Vec<Transition>,
    rollout: Vec<RolloutEvent>,
    inbound: usize,
    rejected: usize,
    reported_finished: HashSet<Id>,
}

impl Owner {
    pub fn new(
        engine: Engine,
        prefix: TopicPrefix,
        reader: History,
        writer: Writer,
        publisher: Option<Publisher>,
        events: broadcast::Sender<ServiceEvent>,
    ) -> Self {
        let reported_finished = engine
            .deployments()
            .filter(|d| d.is_finished())
            .map(|d| d.id().clone())
            .collect();
        Self {
            engine,
            prefix,
            reader,
            writer,
            publisher,
            events,
            outq: VecDeque::new(),
            inflight: HashMap::new(),
            next_seq: 1,
            withdrawn: HashSet::new(),
            staged: Flush::default(),
            staged_rows: 0,
            touched: HashSet::new(),
            transitions: Vec::new(),
            rollout: Vec::new(),
            inbound: 0,
            rejected: 0,
            reported_finished,
        }
    }

    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut link: Option<mpsc::UnboundedReceiver<LinkEvent>>,
        mut committed: mpsc::UnboundedReceiver<Committed>,
    ) -> Writer {
        let mut flush_timer = tokio::time::interval(FLUSH_EVERY);
        flush_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut controls_timer = tokio::time::interval(CONTROLS_EVERY);
        controls_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.pump();
        loop {
            let deadline = self.engine.next_deadline();
            let sleep = sleep_until(deadline);
            tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => self.on_request(request),
                    None => break,
                },
                Some(Committed::Publish(items)) = committed.recv() => {
                    self.outq.extend(items);
                    self.pump();
                }
                event = recv_link(&mut link) => match event {
                    Some(event) => self.on_link(event),
                    None => link = None,
                },
                () = sleep, if deadline.is_some() => {
                    let fx = self.engine.tick(now_millis());
                    self.stage(fx);
                }
                _ = flush_timer.tick() => self.flush(),
                _ = controls_timer.tick() => self.adopt_controls(),
            }
            if self.staged_rows >= FLUSH_AT {
                self.flush();
            }
        }
        self.flush();
        self.writer
    }

    fn on_request(&mut self, request: Request) {
        match request {
            Request::Deploy(spec, reply) => {
                let now = now_millis();
                let id = spec.deployment_id.clone();
                match self.engine.create(spec, now) {
                    Ok(fx) => {
                        if let Some(state) = self.engine.snapshot(&id) {
                            self.staged.batch.new_deployments.push(state);
                        }
                        self.stage_without_targets(fx);
                        self.reply_after_commit(reply, self.engine.summary(&id));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(ServiceError::Engine(e)));
                    }
                }
            }
            Request::Cancel(id, reply) => {
                if let Err(e) = self.ensure_loaded(&id) {
                    let _ = reply.send(Err(e));
                    return;
                }
                match self.engine.cancel(&id, now_millis()) {
                    Ok(fx) => {
                        self.stage(fx);
                        self.reply_after_commit(reply, self.engine.summary(&id));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(ServiceError::Engine(e)));
                    }
                }
            }
            Request::Retry(id, reply) => {
                if let Err(e) = self.ensure_loaded(&id) {
                    let _ = reply.send(Err(e));
                    return;
                }
                match self.engine.retry(&id, now_millis()) {
                    Ok(fx) => {
                        let reopened = !fx.transitions.is_empty();
                        self.stage(fx);
                        if reopened && self.reported_finished.remove(&id) {
                            self.staged.batch.finished.push((id.to_string(), None));
                        }
                        self.reply_after_commit(reply, self.engine.summary(&id));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(ServiceError::Engine(e)));
                    }
                }
            }
            Request::Pause(id, reply) => {
                self.rollout_request(id, reply, |engine, id, now| engine.pause(id, now));
            }
            Request::Resume(id, reply) => {
                self.rollout_request(id, reply, |engine, id, now| engine.resume(id, now));
            }
            Request::Summary(id, reply) => {
                let _ = reply.send(Ok(self.engine.summary(&id)));
            }
            Request::Targets(id, reply) => {
                let _ = reply.send(Ok(self.engine.target_rows(&id)));
            }
            Request::Sync(reply) => self.reply_after_commit(reply, Some(())),
        }
    }

    /// Pause or resume: loads the deployment if needed, applies, answers after the commit.
    fn rollout_request(
        &mut self,
        id: Id,
        reply: Reply<DeploymentSummary>,
        apply: impl FnOnce(&mut Engine, &Id, Millis) -> Result<Effects, EngineError>,
    ) {
        if let Err(e) = self.ensure_loaded(&id) {
            let _ = reply.send(Err(e));
            return;
        }
        match apply(&mut self.engine, &id, now_millis()) {
            Ok(fx) => {
                self.stage(fx);
                self.reply_after_commit(reply, self.engine.summary(&id));
            }
            Err(e) => {
                let _ = reply.send(Err(ServiceError::Engine(e)));
            }
        }
    }

    /// Takes over pauses and resumes that another process saved in the history for a
    /// deployment this engine also runs.
    fn adopt_controls(&mut self) {
        let running: Vec<Id> = self
            .engine
            .deployments()
            .filter(|d| !d.is_finished())
            .map(|d| d.id().clone())
            .collect();
        for id in running {
            let control = match self.reader.rollout_control(id.as_str()) {
                Ok(Some(control)) => control,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(deployment = %id, error = %e, "cannot read the rollout control");
                    continue;
                }
            };
            match self.engine.adopt_control(&id, &control, now_millis()) {
                Ok(fx) => self.stage(fx),
                Err(e) => {
                    tracing::debug!(deployment = %id, error = %e, "rollout control not taken")
                }
            }
        }
    }

    /// Loads a deployment of ours that is not in the engine (it finished before this process
    /// started); false when the history has no such local deployment.
    fn load_finished(&mut self, id: &Id) -> bool {
        match self.ensure_loaded(id) {
            Ok(()) => true,
            Err(ServiceError::UnknownDeployment(_)) => false,
            Err(e) => {
                tracing::warn!(deployment = %id, error = %e, "cannot load a finished deployment");
                false
            }
        }
    }

    /// Brings a finished deployment back from the history, for cancel and retry.
    fn ensure_loaded(&mut self, id: &Id) -> Result<(), ServiceError> {
        if self.engine.deployment(id).is_some() {
            return Ok(());
        }
        let state = self
            .reader
            .deployment_state(id.as_str())?
            .ok_or_else(|| ServiceError::UnknownDeployment(id.clone()))?;
        let restored = self.engine.restore(state)?;
        self.reported_finished.insert(id.clone());
        self.stage(restored.effects);
        Ok(())
    }

    /// Commits now and answers `reply` with `value` once the commit is durable.
    fn reply_after_commit<T: Send + 'static>(&mut self, reply: Reply<T>, value: Option<T>) {
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

    fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::State(state) => {
                let connected = state.is_connected();
                let _ = self.events.send(ServiceEvent::Link(state));
                if connected {
                    self.pump();
                }
            }
            LinkEvent::Published { id } => {
                if let Some(item) = self.inflight.remove(&id) {
                    let now = now_millis();
                    self.staged
                        .batch
                        .sent
                        .push((item.correlation_id.to_string(), now));
                    self.staged_rows += 1;
                    match self.engine.on_published(&item.correlation_id, now) {
                        Ok(fx) => self.stage(fx),
                        Err(e) => tracing::debug!(error = %e, "publish of an unknown command"),
                    }
                    self.touched
                        .insert((item.deployment_id, item.store_id, item.controller_id));
                }
                self.pump();
            }
            LinkEvent::Message(message) => self.on_message(message),
            LinkEvent::SubscribeRefused { filter } => {
                tracing::error!(%filter, "the broker refused a subscription; replies on it will not arrive");
            }
        }
    }

    fn on_message(&mut self, message: InboundMessage) {
        let now = now_millis();
        let InboundMessage {
            topic,
            payload,
            ack,
            ..
        } = message;
        let mut record = MessageRecord {
            direction: MessageDirection::In,
            topic,
            // A copy, not a slice: a slice of the link's read buffer would keep the whole
            // buffer alive until the commit.
            body: Bytes::copy_from_slice(&payload),
            at: now,
            event_type: None,
            deployment_id: None,
            store_id: None,
            controller_id: None,
            correlation_id: None,
            outcome: String::new(),
            reason: None,
        };
        self.inbound += 1;
        // For the inventory: which controller's topic this came on, and whether it came from
        // the controller (a reply, or anything undecodable) or was addressed to it.
        let seen: Option<ControllerSeen>;
        match decode(&record.topic, &payload, &self.prefix) {
            Err(rejection) => {
                self.rejected += 1;
                record.outcome = rejection.code().to_owned();
                record.reason = Some(rejection.to_string());
                seen = TopicAddress::parse(&record.topic, &self.prefix)
                    .ok()
                    .map(|a| ControllerSeen {
                        store_id: a.store_id.into_string(),
                        controller_id: a.controller_id.into_string(),
                        at: Some(now),
                    });
            }
            Ok(inbound) => {
                let env = &inbound.envelope;
                seen = Some(ControllerSeen {
                    store_id: env.store_id.to_string(),
                    controller_id: env.controller_id.to_string(),
                    at: (!inbound.event_type().is_command()).then_some(now),
                });
                record.event_type = Some(inbound.event_type().as_str().to_owned());
                record.deployment_id = Some(env.event.deployment_id().to_string());
                record.store_id = Some(env.store_id.to_string());
                record.controller_id = Some(env.controller_id.to_string());
                record.correlation_id = Some(env.correlation_id.to_string());
                let mut handled = self.engine.on_inbound(&inbound, now);
                if matches!(
                    handled.outcome,
                    InboundOutcome::Rejected(RejectReason::UnknownDeployment)
                ) && self.load_finished(env.event.deployment_id())
                {
                    // A late report for a deployment that finished before a restart: the
                    // controller's word still counts (it may replace a timeout).
                    handled = self.engine.on_inbound(&inbound, now);
                }
                record.outcome = handled.outcome.code().to_owned();
                match &handled.outcome {
                    InboundOutcome::OwnEcho { .. } => {
                        // Our own command coming back: already recorded as sent.
                        self.inbound -= 1;
                        self.staged.acks.push(ack);
                        self.stage(handled.effects);
                        return;
                    }
                    InboundOutcome::Unchanged { reason, .. } => {
                        record.reason = Some(reason.to_string());
                    }
                    InboundOutcome::Rejected(reason) => {
                        self.rejected += 1;
                        record.reason = Some(reason.to_string());
                    }
                    InboundOutcome::Observed(observed) if observed.known_deployment => {
                        // Another Storefleet process cancelled a deployment we also run.
                        let adopted = self.engine.adopt_cancel(observed, now);
                        self.stage(adopted);
                    }
                    InboundOutcome::Applied(_) | InboundOutcome::Observed(_) => {}
                }
                self.stage(handled.effects);
            }
        }
        self.staged.batch.messages.push(record);
        self.staged.batch.seen.extend(seen);
        self.staged.acks.push(ack);
        self.staged_rows += 1;
    }

    /// Stages effects whose targets are already in a new deployment's snapshot.
    fn stage_without_targets(&mut self, fx: Effects) {
        let Effects {
            transitions,
            commands,
            withdrawn,
            rollout,
        } = fx;
        self.stage_rollout(rollout);
        self.stage_transitions(transitions, false);
        self.stage_commands(commands);
        self.stage_withdrawn(withdrawn);
    }

    pub fn stage(&mut self, fx: Effects) {
        if fx.is_empty() {
            return;
        }
        let Effects {
            transitions,
            commands,
            withdrawn,
            rollout,
        } = fx;
        self.stage_rollout(rollout);
        for c in &commands {
            self.touched.insert((
                c.deployment_id.clone(),
                c.store_id.clone(),
                c.controller_id.clone(),
            ));
        }
        self.stage_transitions(transitions, true);
        self.stage_commands(commands);
        self.stage_withdrawn(withdrawn);
    }

    fn stage_transitions(&mut self, transitions: Vec<Transition>, touch: bool) {
        for t in &transitions {
            if touch {
                self.touched.insert((
                    t.deployment_id.clone(),
                    t.store_id.clone(),
                    t.controller_id.clone(),
                ));
            }
        }
        self.staged_rows += transitions.len();
        self.staged
            .batch
            .transitions
            .extend(transitions.iter().cloned());
        self.transitions.extend(transitions);
    }

    fn stage_commands(&mut self, commands: Vec<OutboundCommand>) {
        let now = now_millis();
        let timestamp = chrono::Local::now().fixed_offset();
        // A deploy stages every command at once: exact room, not a doubling Vec's spare half.
        self.staged.batch.outbox.reserve(commands.len());
        self.staged.batch.messages.reserve(commands.len());
        self.staged.publish.reserve(commands.len());
        for command in commands {
            let envelope = command.to_envelope(timestamp);
            let encoded = match encode_command(&envelope, &self.prefix) {
                Ok(encoded) => encoded,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a command");
                    continue;
                }
            };
            let item = PublishItem {
                correlation_id: command.correlation_id,
                deployment_id: command.deployment_id,
                store_id: command.store_id,
                controller_id: command.controller_id,
                topic: encoded.topic,
                // Exact size: the encoder's spare capacity would be held by every copy holder.
                body: Bytes::from(encoded.body.into_boxed_slice()),
            };
            self.staged.batch.outbox.push(OutboxEntry {
                correlation_id: item.correlation_id.to_string(),
                deployment_id: item.deployment_id.to_string(),
                topic: item.topic.clone(),
                body: item.body.clone(),
                created_at: now,
            });
            self.staged.batch.messages.push(MessageRecord {
                direction: MessageDirection::Out,
                topic: item.topic.clone(),
                body: item.body.clone(),
                at: now,
                event_type: Some(envelope.event_type().as_str().to_owned()),
                deployment_id: Some(item.deployment_id.to_string()),
                store_id: Some(item.store_id.to_string()),
                controller_id: Some(item.controller_id.to_string()),
                correlation_id: Some(item.correlation_id.to_string()),
                outcome: "outbox".to_owned(),
                reason: None,
            });
            self.staged.publish.push(item);
            self.staged_rows += 2;
        }
    }

    /// Rollout events go to the history with the deployment's control as it is now (later
    /// writes in the batch win, so the last control of a deployment is what is stored).
    fn stage_rollout(&mut self, rollout: Vec<RolloutEvent>) {
        if rollout.is_empty() {
            return;
        }
        let mut ids: Vec<&Id> = rollout.iter().map(|e| &e.deployment_id).collect();
        ids.dedup();
        for id in ids {
            if let Some(d) = self.engine.deployment(id) {
                self.staged
                    .batch
                    .controls
                    .push((id.to_string(), d.state().control.clone()));
            }
        }
        self.staged_rows += rollout.len();
        self.staged
            .batch
            .rollout_events
            .extend(rollout.iter().cloned());
        self.rollout.extend(rollout);
    }

    fn stage_withdrawn(&mut self, withdrawn: Vec<Id>) {
        for id in withdrawn {
            self.withdrawn.insert(id.to_string());
            self.staged.batch.withdrawn.push(id.to_string());
            self.staged_rows += 1;
        }
    }

    /// Hands everything staged to the writer, with the records of every touched target and
    /// the notices subscribers get once it is committed.
    fn flush(&mut self) {
        if self.staged_rows == 0 && self.staged.done.is_empty() && self.touched.is_empty() {
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
                self.staged.batch.targets.push(TargetWrite {
                    deployment_id: d.to_string(),
                    position,
                    target: target.clone(),
                });
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

    /// Feeds committed commands to the link as it has room, skipping withdrawn ones.
    fn pump(&mut self) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        while let Some(item) = self.outq.front() {
            if self.withdrawn.contains(item.correlation_id.as_str()) {
                self.outq.pop_front();
                continue;
            }
            let seq = self.next_seq;
            match publisher.try_publish(seq, item.topic.clone(), item.body.clone()) {
                Ok(()) => {
                    self.next_seq += 1;
                    if let Some(item) = self.outq.pop_front() {
                        self.inflight.insert(seq, item);
                    }
                }
                Err(PublishError::Full) | Err(PublishError::Closed) => break,
                Err(e) => {
                    tracing::error!(error = %e, topic = %item.topic, "command cannot be published");
                    self.outq.pop_front();
                }
            }
        }
    }
}

async fn recv_link(link: &mut Option<mpsc::UnboundedReceiver<LinkEvent>>) -> Option<LinkEvent> {
    match link {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Millis>) {
    let Some(deadline) = deadline else {
        return std::future::pending().await;
    };
    let wait = deadline.0.saturating_sub(now_millis().0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}
