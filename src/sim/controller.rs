//! One simulated controller: its state, and what it does with each command.
//!
//! The life of an update: `update_firmware` → ack at once → download and verify (the
//! cancellable phase) → flash (the point of no return) → `update_firmware_completed` or
//! `update_firmware_failed`. Decisions where the spec is silent:
//! - A cancel that arrives while the same deployment is downloading aborts it and is acked;
//!   no completion or failure follows. During flashing the controller is past its point of
//!   no return: it does NOT ack the cancel (an ack would claim a cancellation that did not
//!   happen) and reports its real outcome, which DESIGN.md lets replace `cancel_requested`.
//!   A cancel for a deployment that is not running here is acked: nothing of it runs.
//! - A repeated command (same `correlation_id`, a QoS 1 redelivery) is ignored.
//! - A new `update_firmware` supersedes a download in progress (no report for the old one).
//!   During flashing it is acked; a retry of the flashing deployment is then answered by the
//!   running update's outcome, another deployment gets `update_firmware_failed` ("busy").
//! - Offline: commands that arrive are lost (the controller is not connected); replies it
//!   produces meanwhile are held and sent when it is back, as a real MQTT client's queue
//!   would. Offline is about the MQTT link only: a download already running goes on.
//!   A reboot is offline time inside flashing; the outcome follows the reboot.
//! - Silent: never answers, and never changes its firmware.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::protocol::{Envelope, Event, FirmwareUpdate, Id};

use super::behaviour::{Behaviour, Outcome, flash_errors};
use super::fleet::Shared;
use super::names::ControllerInfo;
use super::rng::SimRng;

/// Where a controller is in an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// Downloading and verifying: a cancel still stops it.
    Downloading,
    /// Writing flash: past the point of no return.
    Flashing,
    /// Rebooted mid-flash; reports once it is back.
    Rebooting,
}

/// A controller as the simulation API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerStatus {
    pub firmware_version: String,
    pub phase: Phase,
    /// The deployment being installed, if any.
    pub deployment_id: Option<Id>,
    /// Offline (or rebooting) right now.
    pub offline: bool,
    pub behaviour: Behaviour,
}

pub(crate) struct Controller {
    pub info: ControllerInfo,
    state: Mutex<State>,
}

struct State {
    version: String,
    behaviour: Behaviour,
    offline_until: Option<Instant>,
    rng: SimRng,
    job: Option<Job>,
    jobs_started: u64,
    last_correlation_id: Option<Id>,
}

struct Job {
    id: u64,
    deployment_id: Id,
    firmware_version: String,
    phase: Phase,
    abort: AbortHandle,
}

impl State {
    fn offline(&self) -> bool {
        self.offline_until.is_some_and(|t| t > Instant::now())
    }

    fn current_job(&mut self, id: u64) -> Option<&mut Job> {
        self.job.as_mut().filter(|j| j.id == id)
    }

    /// Offline for at least `duration` from now (an earlier, longer absence stands).
    fn stay_offline_for(&mut self, duration: Duration) {
        let back = Instant::now() + duration;
        self.offline_until = Some(self.offline_until.map_or(back, |t| t.max(back)));
    }
}

impl Controller {
    pub fn new(info: ControllerInfo, version: String, behaviour: Behaviour, rng: SimRng) -> Self {
        let state = State {
            version,
            behaviour,
            offline_until: None,
            rng,
            job: None,
            jobs_started: 0,
            last_correlation_id: None,
        };
        Self {
            info,
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the whole fleet down with a poisoned lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> ControllerStatus {
        let st = self.lock();
        ControllerStatus {
            firmware_version: st.version.clone(),
            phase: st.job.as_ref().map_or(Phase::Idle, |j| j.phase),
            deployment_id: st.job.as_ref().map(|j| j.deployment_id.clone()),
            offline: st.offline(),
            behaviour: st.behaviour,
        }
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.lock().behaviour = behaviour;
    }

    pub fn go_offline(&self, duration: Duration) {
        self.lock().stay_offline_for(duration);
    }

    /// Goes quiet for `down_for` in the middle of job `job_id`; false if the job is gone.
    fn start_reboot(&self, job_id: u64, down_for: Duration) -> bool {
        let mut st = self.lock();
        let Some(job) = st.current_job(job_id) else {
            return false;
        };
        job.phase = Phase::Rebooting;
        st.stay_offline_for(down_for);
        true
    }

    /// Stops whatever is running, without a word (the fleet is going away).
    pub fn abort_job(&self) {
        if let Some(job) = self.lock().job.take() {
            job.abort.abort();
        }
    }

    /// A reply from this controller, correlated with the command it answers.
    fn reply(&self, correlation_id: &Id, event: Event) -> Envelope {
        Envelope {
            timestamp: chrono::Local::now().fixed_offset(),
            correlation_id: correlation_id.clone(),
            store_id: self.info.store_id.clone(),
            controller_id: self.info.controller_id.clone(),
            event,
        }
    }
}

/// Handles a decoded command addressed to controller `idx`. Never blocks: runs in the task
/// that polls the MQTT connection.
pub(crate) fn handle_command(shared: &Arc<Shared>, idx: usize, command: Envelope) {
    let controller = &shared.controllers[idx];
    let mut st = controller.lock();
    if st.behaviour.silent {
        shared.stats.dropped_silent.inc();
        return;
    }
    if st.offline() {
        shared.stats.dropped_offline.inc();
        return;
    }
    match &command.event {
        Event::UpdateFirmware(update) => {
            shared.stats.updates.inc();
            start_update(shared, idx, &mut st, &command, update.clone());
        }
        Event::CancelUpdateFirmware { deployment_id } => {
            shared.stats.cancels.inc();
            if let Some(job) = &st.job
                && &job.deployment_id == deployment_id
            {
                if job.phase != Phase::Downloading {
                    shared.stats.cancels_too_late.inc();
                    return;
                }
                job.abort.abort();
                st.job = None;
            }
            let ack = Event::CancelUpdateFirmwareAck {
                deployment_id: deployment_id.clone(),
            };
            shared.publish(controller.reply(&command.correlation_id, ack));
            shared.stats.cancel_acks.inc();
        }
        // Replies (our own echoes included) are not for a controller to act on.
        _ => {}
    }
}

fn start_update(
    shared: &Arc<Shared>,
    idx: usize,
    st: &mut State,
    command: &Envelope,
    update: FirmwareUpdate,
) {
    let controller = &shared.controllers[idx];
    if st.last_correlation_id.as_ref() == Some(&command.correlation_id) {
        return; // QoS 1 redelivery of a command already handled
    }
    st.last_correlation_id = Some(command.correlation_id.clone());
    let ack = |deployment_id: &Id| Event::UpdateFirmwareAck {
        deployment_id: deployment_id.clone(),
    };
    if let Some(job) = &st.job {
        if job.phase != Phase::Downloading {
            shared.publish(controller.reply(&command.correlation_id, ack(&update.deployment_id)));
            shared.stats.acks.inc();
            if job.deployment_id != update.deployment_id {
                let busy = format!(
                    "busy: installing firmware {} for deployment {}; retry after it finishes",
                    job.firmware_version, job.deployment_id
                );
                let failed = Event::UpdateFirmwareFailed {
                    deployment_id: update.deployment_id.clone(),
                    errors: vec![busy],
                };
                shared.publish(controller.reply(&command.correlation_id, failed));
                shared.stats.failed.inc();
            }
            return;
        }
        job.abort.abort(); // superseded while still downloading
    }
    shared.publish(controller.reply(&command.correlation_id, ack(&update.deployment_id)));
    shared.stats.acks.inc();
    st.jobs_started += 1;
    let job_id = st.jobs_started;
    let task = tokio::spawn(run_update(
        shared.clone(),
        idx,
        job_id,
        command.correlation_id.clone(),
        update.clone(),
    ));
    st.job = Some(Job {
        id: job_id,
        deployment_id: update.deployment_id,
        firmware_version: update.firmware_version,
        phase: Phase::Downloading,
        abort: task.abort_handle(),
    });
}

/// What flashing will do, drawn when it starts.
struct FlashPlan {
    flash: Duration,
    errors: Option<Vec<String>>,
    reboot: Option<(Duration, Duration)>,
}

async fn run_update(
    shared: Arc<Shared>,
    idx: usize,
    job_id: u64,
    correlation_id: Id,
    update: FirmwareUpdate,
) {
    let controller = &shared.controllers[idx];
    let downloaded = shared
        .downloader
        .fetch_and_verify(&update.file_url, update.file_size, &update.checksum)
        .await;
    let plan = {
        let mut st = controller.lock();
        if st.current_job(job_id).is_none() {
            return;
        }
        match downloaded {
            Err(e) => {
                st.job = None;
                Err(e)
            }
            Ok(bytes) => {
                shared.stats.bytes_downloaded.add(bytes);
                Ok(plan_flash(&shared, &mut st, job_id))
            }
        }
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(e) => {
            shared.stats.download_failures.inc();
            let failed = Event::UpdateFirmwareFailed {
                deployment_id: update.deployment_id.clone(),
                errors: vec![e.to_string()],
            };
            report(&shared, idx, &correlation_id, failed).await;
            return;
        }
    };
    match plan.reboot {
        Some((after, down_for)) => {
            tokio::time::sleep(after).await;
            if !controller.start_reboot(job_id, down_for) {
                return;
            }
            shared.stats.reboots.inc();
            // The bootloader finishes the install while the controller is away.
            tokio::time::sleep(down_for).await;
        }
        None => tokio::time::sleep(plan.flash).await,
    }
    let event = {
        let mut st = controller.lock();
        if st.current_job(job_id).is_none() {
            return;
        }
        st.job = None;
        match plan.errors {
            Some(errors) => Event::UpdateFirmwareFailed {
                deployment_id: update.deployment_id.clone(),
                errors,
            },
            None => {
                st.version = update.firmware_version.clone();
                Event::UpdateFirmwareCompleted {
                    deployment_id: update.deployment_id.clone(),
                }
            }
        }
    };
    report(&shared, idx, &correlation_id, event).await;
}

/// Draws the flash time, the outcome and any reboot; enters the point of no return.
fn plan_flash(shared: &Shared, st: &mut State, job_id: u64) -> FlashPlan {
    let config = &shared.config;
    let flash = config.flash_time.sample(&mut st.rng);
    let fail = match st.behaviour.outcome {
        Outcome::Random => st.rng.chance(config.fail_rate),
        Outcome::Complete => false,
        Outcome::Fail => true,
    };
    let version = st.version.clone();
    let errors = fail.then(|| flash_errors(&mut st.rng, &version));
    let down_for = match st.behaviour.reboot {
        Some(d) => Some(d),
        None if st.rng.chance(config.reboot_rate) => Some(config.reboot_time.sample(&mut st.rng)),
        None => None,
    };
    let reboot = down_for.map(|d| (flash.mul_f64(0.2 + 0.6 * st.rng.unit()), d));
    if let Some(job) = st.current_job(job_id) {
        job.phase = Phase::Flashing;
    }
    FlashPlan {
        flash,
        errors,
        reboot,
    }
}

/// Publishes an outcome once the controller is reachable; a silent controller says nothing.
async fn report(shared: &Shared, idx: usize, correlation_id: &Id, event: Event) {
    let controller = &shared.controllers[idx];
    loop {
        let wait = {
            let st = controller.lock();
            if st.behaviour.silent {
                return;
            }
            st.offline_until.filter(|t| *t > Instant::now())
        };
        match wait {
            Some(until) => tokio::time::sleep_until(until).await,
            None => break,
        }
    }
    match &event {
        Event::UpdateFirmwareCompleted { .. } => shared.stats.completed.inc(),
        _ => shared.stats.failed.inc(),
    }
    shared.publish(controller.reply(correlation_id, event));
}
