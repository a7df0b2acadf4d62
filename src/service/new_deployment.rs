//! Creating a deployment: the one set of rules the window and the command line share. The
//! adapters translate their arguments into a [`NewDeployment`] (the window's wizard, the
//! CLI's flags), and [`prepare`] checks it and makes the spec the service starts.
//!
//! The rules:
//! - at least one target, each once, with valid ids;
//! - both timeouts at least a second, and the completion timeout not shorter than the ack
//!   timeout (a controller acks before it reports);
//! - the firmware is a library artifact whose file is unchanged since it was hashed: a
//!   changed file is refused until it is hashed again (the CLI hashes the file it is given
//!   on its command line first, as the window's Add and Rehash buttons do);
//! - an external URL must parse as http(s); before anything is sent it is downloaded and
//!   checked against the file ([`Prepared::preflight`]);
//! - the rollout policy must be consistent ([`RolloutPolicy`]'s own check);
//! - with windows, every target's store needs a time zone and a window in the inventory,
//!   unless the caller chose to send to such stores at once; not-after must be later than
//!   not-before and than now. The stores' windows are copied into the deployment's policy,
//!   so later edits of the inventory do not change a running deployment.

use std::time::Duration;

use std::collections::{BTreeSet, HashSet};

use super::store_plan::{StorePlan, plan_stores};
use crate::engine::{
    DeploymentSpec, EngineError, Firmware, InWindows, Millis, RolloutPolicy, Schedule, TargetKey,
    Timeouts, Unwindowed,
};
use crate::firmware::preflight::{PreflightRefusal, parse_url};
use crate::firmware::{Deployable, Library, LibraryError, Preflight};
use crate::history::History;
use crate::protocol::{Id, Md5Hex};

/// Where the controllers download the file from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// This installation's built-in server, at the URL it gives the artifact.
    BuiltIn { url: String },
    /// Hosted elsewhere, at this URL.
    External { url: String },
}

/// When the deployment may send, as the caller asks; the stores' windows come from the
/// inventory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleRequest {
    /// Send a target only inside its store's maintenance window.
    pub in_windows: bool,
    /// With windows: what to do with stores that have none.
    pub unwindowed: Unwindowed,
    pub not_before: Option<Millis>,
    pub not_after: Option<Millis>,
}

impl ScheduleRequest {
    fn is_empty(&self) -> bool {
        !self.in_windows && self.not_before.is_none() && self.not_after.is_none()
    }
}

/// What a caller asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    pub artifact_id: i64,
    pub source: FileSource,
    pub targets: Vec<TargetKey>,
    pub ack_timeout: Duration,
    pub completion_timeout: Duration,
    pub policy: RolloutPolicy,
    pub schedule: ScheduleRequest,
    /// Leave out controllers the inventory says already run the artifact's version.
    pub skip_current: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NewDeploymentError {
    #[error("choose at least one controller")]
    NoTargets,
    #[error("timeouts must be at least one second")]
    ShortTimeout,
    #[error(
        "the completion timeout ({completion:?}) must not be shorter than the ack timeout ({ack:?})"
    )]
    CompletionBeforeAck { ack: Duration, completion: Duration },
    #[error(
        "no maintenance window for {}: set a time zone and a window (storefleet fleet set-timezone, set-window) or choose to send to such stores at once",
        .0.join(", ")
    )]
    NoWindow(Vec<String>),
    #[error("every chosen controller already runs {0}: nothing to send")]
    AllCurrent(String),
    #[error("not-after ({0}) has already passed")]
    NotAfterPassed(String),
    #[error("the built-in firmware server is not running; use an external URL")]
    NoServer,
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Url(#[from] PreflightRefusal),
    #[error(transparent)]
    Spec(#[from] EngineError),
}

impl NewDeploymentError {
    /// The caller's input is at fault (exit 2, `invalid_input`), not the machine.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Library(e) => e.is_refusal(),
            Self::Url(PreflightRefusal::Client(_)) | Self::NoServer => false,
            _ => true,
        }
    }
}

/// A checked request: the spec to start, and the artifact it sends.
#[derive(Debug)]
pub struct Prepared {
    pub spec: DeploymentSpec,
    /// Per store, when its targets go (for the review).
    pub plan: Vec<StorePlan>,
    pub deployable: Deployable,
    pub external: bool,
    /// Targets left out because they already run the version (with `skip_current`).
    pub skipped: Vec<TargetKey>,
}

impl Prepared {
    /// For an external URL: downloads it and compares size and MD5 with the file; nothing
    /// may be sent before this passes. The built-in server needs no check.
    pub async fn preflight(&self) -> Result<(), PreflightRefusal> {
        if self.external {
            Preflight::new()?
                .check(&self.spec.firmware.file_url, &self.deployable)
                .await?;
        }
        Ok(())
    }
}

/// Checks a request against the rules and the library; nothing is sent.
pub fn prepare(library: &Library, request: NewDeployment) -> Result<Prepared, NewDeploymentError> {
    prepare_at(library, request, super::now_millis())
}

/// [`prepare`] at a given time (the schedule's checks and the plan depend on it).
pub fn prepare_at(
    library: &Library,
    mut request: NewDeployment,
    now: Millis,
) -> Result<Prepared, NewDeploymentError> {
    if request.targets.is_empty() {
        return Err(NewDeploymentError::NoTargets);
    }
    let (ack, completion) = (request.ack_timeout, request.completion_timeout);
    if ack < Duration::from_secs(1) || completion < Duration::from_secs(1) {
        return Err(NewDeploymentError::ShortTimeout);
    }
    if completion < ack {
        return Err(NewDeploymentError::CompletionBeforeAck { ack, completion });
    }
    let skipped = if request.skip_current {
        let version = library
            .ensure_deployable(request.artifact_id)?
            .artifact()
            .version
            .clone();
        let (current, send) = split_current(library.history(), request.targets, &version)?;
        if send.is_empty() {
            return Err(NewDeploymentError::AllCurrent(version));
        }
        request.targets = send;
        current
    } else {
        Vec::new()
    };
    request.policy.schedule =
        resolve_schedule(library.history(), &request.schedule, &request.targets, now)?
            .map(Box::new);
    let deployable = library.ensure_deployable(request.artifact_id)?;
    let artifact = deployable.artifact();
    let (file_url, external) = match request.source {
        FileSource::BuiltIn { url } if url.is_empty() => return Err(NewDeploymentError::NoServer),
        FileSource::BuiltIn { url } => (url, false),
        FileSource::External { url } => {
            let url = url.trim().to_owned();
            parse_url(&url)?;
            (url, true)
        }
    };
    let spec = DeploymentSpec {
        deployment_id: Id::new_v4(),
        firmware: Firmware {
            firmware_version: artifact.version.clone(),
            file_url,
            file_size: artifact.size,
            checksum: Md5Hex::parse(&artifact.md5).map_err(|e| {
                LibraryError::History(crate::history::HistoryError::Corrupt(format!(
                    "artifact {}: {e}",
                    artifact.id
                )))
            })?,
        },
        targets: request.targets,
        timeouts: Timeouts { ack, completion },
        policy: request.policy,
    };
    spec.check()?;
    let history = library.history();
    let stores: BTreeSet<&str> = spec.targets.iter().map(|t| t.store_id.as_str()).collect();
    let names = history
        .store_names(stores.iter().copied())
        .map_err(LibraryError::History)?;
    let plan = plan_stores(spec.policy.schedule.as_deref(), &spec.targets, &names, now);
    Ok(Prepared {
        spec,
        plan,
        deployable,
        external,
        skipped,
    })
}

/// (already on `version` by the inventory, the others), each in the given order. One read
/// of the inventory, not one query per target.
fn split_current(
    history: &History,
    targets: Vec<TargetKey>,
    version: &str,
) -> Result<(Vec<TargetKey>, Vec<TargetKey>), NewDeploymentError> {
    let on_version: HashSet<(String, String)> = history
        .controllers()
        .map_err(LibraryError::History)?
        .into_iter()
        .filter(|c| c.firmware_version.as_deref() == Some(version))
        .map(|c| (c.store_id, c.controller_id))
        .collect();
    let (current, send) = targets
        .into_iter()
        .partition(|t| on_version.contains(&(t.store_id.to_string(), t.controller_id.to_string())));
    Ok((current, send))
}

/// The schedule the deployment starts with: the bounds as asked, and with windows, each
/// target store's zone and windows from the inventory.
fn resolve_schedule(
    history: &History,
    request: &ScheduleRequest,
    targets: &[TargetKey],
    now: Millis,
) -> Result<Option<Schedule>, NewDeploymentError> {
    if request.is_empty() {
        return Ok(None);
    }
    if let Some(end) = request.not_after
        && end <= now
    {
        let when = end
            .to_datetime()
            .map_or_else(|| end.0.to_string(), |t| t.to_rfc3339());
        return Err(NewDeploymentError::NotAfterPassed(when));
    }
    let in_windows = if request.in_windows {
        let stores: BTreeSet<&str> = targets.iter().map(|t| t.store_id.as_str()).collect();
        let found = history
            .store_windows(stores.iter().copied())
            .map_err(LibraryError::History)?;
        let missing: Vec<String> = stores
            .iter()
            .filter(|s| !found.contains_key(**s))
            .map(|s| (*s).to_owned())
            .collect();
        if !missing.is_empty() && request.unwindowed == Unwindowed::Refuse {
            return Err(NewDeploymentError::NoWindow(missing));
        }
        Some(InWindows {
            unwindowed: request.unwindowed,
            stores: found,
        })
    } else {
        None
    };
    Ok(Some(Schedule {
        not_before: request.not_before,
        not_after: request.not_after,
        in_windows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;

    fn library_with_file(dir: &std::path::Path) -> (Library, i64, std::path::PathBuf) {
        let file = dir.join("fw.bin");
        std::fs::write(&file, b"firmware bytes").unwrap();
        let library = Library::new(History::open(&dir.join("h.sqlite")).unwrap());
        let id = library.add(&file, "1.2.3", None, &mut |_| {}).unwrap().id;
        (library, id, file)
    }

    fn request(artifact_id: i64) -> NewDeployment {
        NewDeployment {
            artifact_id,
            source: FileSource::BuiltIn {
                url: "http://10.0.0.5:7380/fw/tok/fw.bin".into(),
            },
            targets: vec![TargetKey::new(
                Id::new("s1").unwrap(),
                Id::new("c1").unwrap(),
            )],
            ack_timeout: Duration::from_secs(30),
            completion_timeout: Duration::from_secs(600),
            policy: RolloutPolicy::default(),
            schedule: ScheduleRequest::default(),
            skip_current: false,
        }
    }

    #[test]
    fn a_good_request_makes_the_spec_from_the_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let (library, id, _) = library_with_file(dir.path());
        let prepared = prepare(&library, request(id)).unwrap();
        let f = &prepared.spec.firmware;
        assert_eq!(f.firmware_version, "1.2.3");
        assert_eq!(f.file_size, 14);
        assert_eq!(f.file_url, "http://10.0.0.5:7380/fw/tok/fw.bin");
        assert!(!prepared.external);
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (library, id, file) = library_with_file(dir.path());
        let mut r = request(id);
        r.targets.clear();
        assert!(matches!(
            prepare(&library, r),
            Err(NewDeploymentError::NoTargets)
        ));
        let mut r = request(id);
        r.completion_timeout = Duration::from_secs(10);
        let e = prepare(&library, r).unwrap_err();
        assert!(
            matches!(e, NewDeploymentError::CompletionBeforeAck { .. }),
            "{e}"
        );
        assert!(e.is_refusal());
        let mut r = request(id);
        r.ack_timeout = Duration::from_millis(500);
        assert!(matches!(
            prepare(&library, r),
            Err(NewDeploymentError::ShortTimeout)
        ));
        let mut r = request(id);
        r.source = FileSource::External {
            url: "ftp://x/fw.bin".into(),
        };
        assert!(matches!(
            prepare(&library, r),
            Err(NewDeploymentError::Url(_))
        ));
        let mut r = request(id);
        r.source = FileSource::BuiltIn { url: String::new() };
        assert!(matches!(
            prepare(&library, r),
            Err(NewDeploymentError::NoServer)
        ));
        let mut r = request(id);
        r.targets.push(r.targets[0].clone());
        assert!(matches!(
            prepare(&library, r),
            Err(NewDeploymentError::Spec(_))
        ));
        // A file changed since it was hashed is refused until it is hashed again.
        std::fs::write(&file, b"other firmware, longer").unwrap();
        let e = prepare(&library, request(id)).unwrap_err();
        assert!(
            matches!(e, NewDeploymentError::Library(LibraryError::Stale { .. })),
            "{e}"
        );
    }

    #[test]
    fn windows_come_from_the_inventory_and_stores_without_one_are_refused_or_sent() {
        let dir = tempfile::tempdir().unwrap();
        let (library, id, _) = library_with_file(dir.path());
        let mut r = request(id);
        r.schedule.in_windows = true;
        let e = prepare(&library, r.clone()).unwrap_err();
        assert!(
            matches!(&e, NewDeploymentError::NoWindow(s) if s == &["s1"]),
            "{e}"
        );
        assert!(e.is_refusal() && !e.to_string().contains('\n'));
        r.schedule.unwindowed = Unwindowed::SendAtOnce;
        let p = prepare(&library, r.clone()).unwrap();
        assert_eq!(p.plan[0].text, "s1: now (no window set: sent at once)");
        let history = library.history();
        history
            .set_store_timezone(
                "s1",
                &"UTC".parse::<crate::maintenance::StoreZone>().unwrap(),
            )
            .unwrap();
        history
            .set_store_windows("s1", &"Daily 22:00-05:00".parse().unwrap())
            .unwrap();
        r.schedule.unwindowed = Unwindowed::Refuse;
        // 2024-01-17 14:00 UTC.
        let p = prepare_at(&library, r.clone(), Millis(1_705_500_000_000)).unwrap();
        let schedule = p.spec.policy.schedule.as_deref().unwrap();
        assert_eq!(schedule.in_windows.as_ref().unwrap().stores.len(), 1);
        assert_eq!(p.plan[0].text, "s1: tonight 22:00 (in 8 h)");
        r.schedule.not_after = Some(Millis(1_000));
        let e = prepare(&library, r).unwrap_err();
        assert!(matches!(e, NewDeploymentError::NotAfterPassed(_)), "{e}");
    }
}
