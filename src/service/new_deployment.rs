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
//! - the rollout policy must be consistent ([`RolloutPolicy`]'s own check).

use std::time::Duration;

use crate::engine::{DeploymentSpec, EngineError, Firmware, RolloutPolicy, TargetKey, Timeouts};
use crate::firmware::preflight::{PreflightRefusal, parse_url};
use crate::firmware::{Deployable, Library, LibraryError, Preflight};
use crate::protocol::{Id, Md5Hex};

/// Where the controllers download the file from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// This installation's built-in server, at the URL it gives the artifact.
    BuiltIn { url: String },
    /// Hosted elsewhere, at this URL.
    External { url: String },
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
    pub deployable: Deployable,
    pub external: bool,
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
    Ok(Prepared {
        spec,
        deployable,
        external,
    })
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
}
