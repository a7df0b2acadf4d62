//! New deployments as the window describes them: checked, reviewed, then started on the
//! core. Also reading one deployment back, live or from the history.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use storefleet::engine::{
    DeploymentSpec, DeploymentSummary, Millis, RolloutPolicy, TargetKey, Unwindowed, plan_waves,
};
use storefleet::firmware::{Deployable, Library};
pub use storefleet::history::DeploymentDetail;
use storefleet::history::History;
use storefleet::protocol::Id;
use storefleet::service::new_deployment::{
    FileSource, NewDeployment as CoreRequest, Prepared, ScheduleRequest, prepare,
};
use storefleet::service::store_plan::StorePlan;
use ts_rs::TS;

use crate::connection::Connection;
use crate::error::BoundaryError;
use crate::serving::Serving;

/// How controllers get the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServingChoice {
    /// Storefleet's own server.
    BuiltIn,
    /// Hosted elsewhere at `url`; checked by a preflight download before anything is sent.
    External { url: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
pub struct TargetRef {
    pub store_id: String,
    pub controller_id: String,
}

/// What the wizard asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
pub struct NewDeployment {
    pub artifact_id: i64,
    pub serving: ServingChoice,
    pub targets: Vec<TargetRef>,
    pub ack_timeout_secs: u64,
    pub completion_timeout_secs: u64,
    /// Waves, caps and pauses; `null` sends to every target at once.
    pub policy: Option<RolloutPolicy>,
    /// Maintenance windows, not-before and not-after; absent: send at once.
    #[serde(default)]
    #[ts(optional)]
    pub schedule: Option<ScheduleChoice>,
    /// Leave out controllers the inventory says already run the firmware's version (the
    /// core's rule, as `deploy --skip-current`); all of them current is refused.
    #[serde(default)]
    pub skip_current: bool,
}

/// The wizard's time options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, TS)]
pub struct ScheduleChoice {
    /// Send a target only inside its store's maintenance window.
    pub in_windows: bool,
    /// With windows: stores that have none are sent at once (else the review refuses).
    pub send_unwindowed: bool,
    pub not_before: Option<Millis>,
    pub not_after: Option<Millis>,
}

impl ScheduleChoice {
    fn request(&self) -> ScheduleRequest {
        ScheduleRequest {
            in_windows: self.in_windows,
            unwindowed: if self.send_unwindowed {
                Unwindowed::SendAtOnce
            } else {
                Unwindowed::Refuse
            },
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }
}

/// The wizard's last step: what will be sent, to how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DeploymentReview {
    pub firmware_name: String,
    pub firmware_version: String,
    pub file_url: String,
    pub file_size: u64,
    pub checksum: String,
    pub target_count: u64,
    pub store_count: u64,
    /// Planned wave sizes, canary first.
    pub waves: Vec<u64>,
    /// Per store, when its targets go (`Northgate: tonight 22:00 (in 7 h)`).
    pub stores: Vec<StorePlan>,
    /// Chosen controllers left out because they already run this version (`skip_current`);
    /// `target_count` counts only those sent to.
    pub skipped_current: u64,
    pub warnings: Vec<String>,
}

/// A checked request: the spec to start and the review to show.
pub struct Plan {
    pub spec: DeploymentSpec,
    pub review: DeploymentReview,
    pub deployable: Deployable,
    pub external: bool,
}

fn parse_targets(targets: &[TargetRef]) -> Result<Vec<TargetKey>, BoundaryError> {
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let bad = |what: &str, e: storefleet::protocol::IdError| {
                BoundaryError::invalid(format!("target {}: {what} id: {e}", i + 1))
            };
            Ok(TargetKey::new(
                Id::new(t.store_id.clone()).map_err(|e| bad("store", e))?,
                Id::new(t.controller_id.clone()).map_err(|e| bad("controller", e))?,
            ))
        })
        .collect()
}

/// Checks a request against the library and the server; nothing is sent.
pub fn plan(
    history: &Path,
    serving: &Serving,
    request: &NewDeployment,
) -> Result<Plan, BoundaryError> {
    let library = Library::open(history)?;
    let targets = parse_targets(&request.targets)?;
    let source = match &request.serving {
        ServingChoice::BuiltIn => {
            let artifact = library
                .ensure_deployable(request.artifact_id)?
                .into_artifact();
            FileSource::BuiltIn {
                url: serving.served_url(&artifact)?,
            }
        }
        ServingChoice::External { url } => FileSource::External { url: url.clone() },
    };
    let Prepared {
        spec,
        plan: stores_plan,
        deployable,
        external,
        skipped,
    } = prepare(
        &library,
        CoreRequest {
            artifact_id: request.artifact_id,
            source,
            targets,
            ack_timeout: Duration::from_secs(request.ack_timeout_secs),
            completion_timeout: Duration::from_secs(request.completion_timeout_secs),
            policy: request.policy.clone().unwrap_or_default(),
            schedule: request
                .schedule
                .as_ref()
                .map(ScheduleChoice::request)
                .unwrap_or_default(),
            skip_current: request.skip_current,
        },
    )?;
    let artifact = deployable.artifact().clone();
    let file_url = spec.firmware.file_url.clone();
    let stores: BTreeSet<&str> = spec.targets.iter().map(|t| t.store_id.as_str()).collect();
    let mut warnings = crate::fleet::target_warnings(library.history(), &request.targets)?;
    if external {
        warnings.push(format!(
            "{file_url} is downloaded and checked against the local file before anything is sent"
        ));
    }
    let review = DeploymentReview {
        firmware_name: artifact.name.clone(),
        firmware_version: artifact.version.clone(),
        file_url,
        file_size: artifact.size,
        checksum: artifact.md5.clone(),
        target_count: spec.targets.len() as u64,
        store_count: stores.len() as u64,
        waves: plan_waves(spec.targets.len(), &spec.policy)
            .into_iter()
            .map(u64::from)
            .collect(),
        stores: stores_plan,
        skipped_current: skipped.len() as u64,
        warnings,
    };
    Ok(Plan {
        spec,
        review,
        deployable,
        external,
    })
}

/// A deployment's summary: live from the service when it drives it, else the core's read
/// model of the history.
pub async fn load_summary(
    connection: &Connection,
    id: &Id,
) -> Result<DeploymentSummary, BoundaryError> {
    Ok(load_detail(connection, id).await?.summary)
}

/// Summary and targets of one deployment.
pub async fn load_detail(
    connection: &Connection,
    id: &Id,
) -> Result<DeploymentDetail, BoundaryError> {
    let detail = match connection.service().await {
        Ok(service) => service.detail(id.clone()).await?,
        // Between two services: the history alone.
        Err(_) => History::open(&connection.history_path())?.deployment_detail(id)?,
    };
    detail.ok_or_else(|| BoundaryError::not_found(format!("no deployment {id} in the history")))
}

pub fn parse_id(id: &str) -> Result<Id, BoundaryError> {
    Id::new(id).map_err(|e| BoundaryError::invalid(format!("deployment id: {e}")))
}
