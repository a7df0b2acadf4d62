//! Commands that act on a running fleet: `cancel`, `retry`, `watch`.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use storefleet::durations::parse_duration;
use storefleet::engine::{DeploymentState, EngineError};
use storefleet::history::History;
use storefleet::link::LinkState;
use storefleet::protocol::{Id, TopicPrefix};
use storefleet::service::{Service, ServiceConfig, ServiceError, ServiceEvent};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::failure::{Failure, INCOMPLETE, PAUSED};
use crate::follow::{Ended, Until, catch_up, first_contact, follow, refusal};
use crate::report::{Reporter, load_row, transition_json};
use crate::terminal::shown;

#[derive(clap::Args)]
pub struct CancelArgs {
    deployment_id: String,
    /// Wait until every cancelled controller has acknowledged.
    #[arg(long)]
    wait: bool,
    /// How long to wait for the acknowledgements (and, without --wait, for the broker).
    #[arg(long, default_value = "2m", value_parser = parse_duration, value_name = "DUR")]
    timeout: Duration,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct RetryArgs {
    deployment_id: String,
    /// Wait until every retried target has finished; exit 0 only if all completed.
    #[arg(long)]
    wait: bool,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct PauseArgs {
    deployment_id: String,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    deployment_id: String,
    /// Wait until every target has finished (exit 0 only if all completed) or the
    /// deployment pauses again (exit 4).
    #[arg(long)]
    wait: bool,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct WatchArgs {
    /// JSON Lines: one object per target change and per connection change.
    #[arg(long)]
    json: bool,
}

fn deployment_id(text: &str) -> Result<Id, Failure> {
    Id::new(text).map_err(|e| Failure::refused(format!("deployment id {text:?}: {e}")))
}

async fn start(db: &Path, broker: &crate::broker::BrokerArgs) -> Result<Service, Failure> {
    let service = Service::start(broker.choose()?.service_config(db)).await?;
    if let Err(refused) = first_contact(&service).await {
        service.shutdown().await;
        return Err(refused);
    }
    Ok(service)
}

/// Prints the final status line and maps how following ended to an exit code.
async fn finish(
    service: Service,
    db: &Path,
    id: &Id,
    reporter: &Reporter,
    ended: Ended,
    success: impl Fn(&storefleet::engine::StatusCounts, u64) -> bool,
) -> Result<u8, Failure> {
    service.sync().await?;
    service.shutdown().await;
    let history = History::open(db)?;
    let row = load_row(&history, id.as_str())?;
    reporter.summary(&history, &row)?;
    match ended {
        Ended::Interrupted => Err(Failure::error("interrupted")),
        Ended::Paused => {
            reporter.human(&format!(
                "paused: {}; continue with: storefleet resume {id} --wait",
                row.paused_reason.as_deref().unwrap_or("by the operator")
            ));
            Ok(PAUSED)
        }
        Ended::TimedOut => Ok(INCOMPLETE),
        Ended::Done if success(&row.counts, row.target_count) => Ok(0),
        Ended::Done => Ok(INCOMPLETE),
    }
}

pub async fn cancel(
    args: CancelArgs,
    db: &Path,
    broker: &crate::broker::BrokerArgs,
) -> Result<u8, Failure> {
    let id = deployment_id(&args.deployment_id)?;
    let reporter = Reporter::new(args.json);
    let mut service = start(db, broker).await?;
    let mut events = service.subscribe();
    catch_up(&service, &mut events).await;
    let summary = service.cancel(id.clone()).await?;
    reporter
        .line(&json!({"event": "cancel", "deployment_id": id.as_str(), "counts": summary.counts}));
    reporter.human(&format!(
        "cancel sent to {} targets of {id}; {} cancelled at once",
        summary.counts.cancel_requested, summary.counts.cancelled
    ));
    let until = if args.wait {
        Until::CancelsAnswered
    } else {
        Until::Published
    };
    let ended = follow(
        &service,
        &mut events,
        db,
        &id,
        until,
        Some(args.timeout),
        &reporter,
    )
    .await?;
    finish(service, db, &id, &reporter, ended, |c, _| {
        c.cancel_requested == 0
    })
    .await
}

pub async fn retry(
    args: RetryArgs,
    db: &Path,
    broker: &crate::broker::BrokerArgs,
) -> Result<u8, Failure> {
    let id = deployment_id(&args.deployment_id)?;
    let reporter = Reporter::new(args.json);
    let row = load_row(&History::open(db)?, id.as_str())?;
    let (_served, service, events) = serve_and_start(db, broker, &row.file_url).await?;
    let summary = service.retry(id.clone()).await?;
    reporter
        .line(&json!({"event": "retry", "deployment_id": id.as_str(), "counts": summary.counts}));
    reporter.human(&format!(
        "retrying {} targets of {id}",
        summary.counts.queued
    ));
    follow_then_finish(service, events, db, &id, args.wait, &reporter).await
}

/// Pauses a deployment: nothing new is sent for it until `resume`. Needs no broker. When a
/// process drives the deployment (a `deploy --wait`, the desktop app), the pause is left for
/// it in the history and it stops sending within a second; otherwise the pause is written to
/// the history and whoever drives the deployment next starts paused.
pub async fn pause(args: PauseArgs, db: &Path) -> Result<u8, Failure> {
    let id = deployment_id(&args.deployment_id)?;
    let reporter = Reporter::new(args.json);
    let service = Service::start(ServiceConfig {
        history: db.to_path_buf(),
        broker: None,
        topic_prefix: TopicPrefix::default(),
        identity: None,
    })
    .await?;
    let result = service.pause(id.clone()).await;
    service.shutdown().await;
    let summary = result?;
    reporter.line(&json!({
        "event": "pause",
        "deployment_id": id.as_str(),
        "state": summary.state,
        "paused_reason": summary.paused_reason,
        "counts": summary.counts,
    }));
    reporter.human(&format!(
        "{id} paused; {} targets already sent go on; continue with: storefleet resume {id}",
        summary.counts.sent + summary.counts.acknowledged
    ));
    Ok(0)
}

/// Lifts a pause (starting the next wave when the last one has finished) and drives the
/// deployment: serves its firmware again if the built-in server is gone, sends what the
/// policy allows and, with `--wait`, follows it to its end or its next pause.
pub async fn resume(
    args: ResumeArgs,
    db: &Path,
    broker: &crate::broker::BrokerArgs,
) -> Result<u8, Failure> {
    let id = deployment_id(&args.deployment_id)?;
    let reporter = Reporter::new(args.json);
    let row = load_row(&History::open(db)?, id.as_str())?;
    // When another process drives the deployment, the resume is left for it in the history
    // and this one follows; otherwise this process drives it from here on.
    let (_served, service, events) = serve_and_start(db, broker, &row.file_url).await?;
    let summary = match service.resume(id.clone()).await {
        Ok(summary) => summary,
        // It finished while this process caught up with what the broker kept for it (this
        // process took it over and sent what its outbox held): nothing left to resume.
        Err(ServiceError::Engine(EngineError::NotRunning {
            state: DeploymentState::Finished,
            ..
        })) if row.finished_at.is_none() => service
            .summary(id.clone())
            .await?
            .ok_or_else(|| Failure::error(format!("deployment {id} vanished")))?,
        Err(e) => return Err(e.into()),
    };
    reporter.line(&json!({
        "event": "resume",
        "deployment_id": id.as_str(),
        "state": summary.state,
        "current_wave": summary.current_wave,
        "counts": summary.counts,
    }));
    reporter.human(&format!(
        "{id} resumed: wave {} of {}",
        summary.current_wave.unwrap_or(0),
        summary.waves.len().saturating_sub(1)
    ));
    follow_then_finish(service, events, db, &id, args.wait, &reporter).await
}

pub async fn watch(
    args: WatchArgs,
    db: &Path,
    broker: &crate::broker::BrokerArgs,
) -> Result<u8, Failure> {
    let reporter = Reporter::new(args.json);
    let mut service = start(db, broker).await?;
    let mut events = service.subscribe();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(ServiceEvent::Transitions(batch)) => {
                    for t in batch.iter() {
                        if args.json {
                            reporter.line(&transition_json(t));
                        } else {
                            let errors = if t.errors.is_empty() { String::new() } else { format!(" ({})", shown(&t.errors.join("; "))) };
                            outln!("{} {}/{} attempt {}: {} -> {}{errors}", t.deployment_id, shown(t.store_id.as_str()), shown(t.controller_id.as_str()), t.attempt, t.from.as_str(), t.to.as_str());
                        }
                    }
                }
                Ok(ServiceEvent::Rollout(batch)) => reporter.rollout(&batch),
                Ok(ServiceEvent::Link(LinkState::Refused { reason })) => {
                    service.shutdown().await;
                    return Err(refusal(&reason));
                }
                Ok(ServiceEvent::Link(state)) => {
                    if args.json {
                        reporter.line(&json!({"event": "connection", "state": format!("{state:?}")}));
                    } else {
                        eprintln!("broker: {state:?}");
                    }
                }
                Ok(ServiceEvent::Messages { inbound, rejected }) if rejected > 0 && !args.json => {
                    eprintln!("{rejected} of {inbound} messages rejected (see `storefleet export`)");
                }
                Ok(ServiceEvent::HistoryFailed { error, since_ms }) => crate::follow::history_failing(&error, since_ms)?,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    service.shutdown().await;
    Ok(0)
}

/// The start of `retry` and `resume`: new attempts download the recorded URL, so it must
/// answer while they run (served again if the built-in server is gone); then the service,
/// caught up with what the broker kept for us.
async fn serve_and_start(
    db: &Path,
    broker: &crate::broker::BrokerArgs,
    file_url: &str,
) -> Result<
    (
        Option<crate::reserve::Served>,
        Service,
        broadcast::Receiver<ServiceEvent>,
    ),
    Failure,
> {
    let served = crate::reserve::ensure_served(db, file_url).await?;
    let mut service = start(db, broker).await?;
    let mut events = service.subscribe();
    catch_up(&service, &mut events).await;
    Ok((served, service, events))
}

/// The end of `retry` and `resume`: follow until the commands left (or, with `--wait`, until
/// the deployment finishes or pauses), then report and pick the exit code.
async fn follow_then_finish(
    service: Service,
    mut events: broadcast::Receiver<ServiceEvent>,
    db: &Path,
    id: &Id,
    wait: bool,
    reporter: &Reporter,
) -> Result<u8, Failure> {
    // Without --wait there is nothing to see here for a deployment this process does not
    // drive: its driver (or, later, a process on its broker) sends what it must.
    if !wait && !service.drives(id.clone()).await? {
        return finish(service, db, id, reporter, Ended::Done, |_, _| true).await;
    }
    let until = if wait {
        Until::Finished
    } else {
        Until::Published
    };
    let ended = follow(&service, &mut events, db, id, until, None, reporter).await?;
    finish(service, db, id, reporter, ended, move |c, total| {
        !wait || c.completed as u64 == total
    })
    .await
}
