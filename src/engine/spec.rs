//! What a deployment is asked to do: which firmware, to which targets, with which timeouts.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::EngineError;
use super::rollout::RolloutPolicy;
use super::time::duration_ms;
use crate::protocol::{FirmwareUpdate, Id, Md5Hex};

/// One controller of one store: the unit a deployment tracks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TargetKey {
    pub store_id: Id,
    pub controller_id: Id,
}

impl TargetKey {
    pub fn new(store_id: Id, controller_id: Id) -> Self {
        Self {
            store_id,
            controller_id,
        }
    }
}

/// The firmware every target of a deployment gets: the `update_firmware` payload minus the
/// deployment id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmware {
    pub firmware_version: String,
    pub file_url: String,
    pub file_size: u64,
    #[serde(with = "md5_text")]
    pub checksum: Md5Hex,
}

impl Firmware {
    /// The payload of an `update_firmware` command of `deployment_id`.
    pub fn update_for(&self, deployment_id: &Id) -> FirmwareUpdate {
        FirmwareUpdate {
            deployment_id: deployment_id.clone(),
            firmware_version: self.firmware_version.clone(),
            file_url: self.file_url.clone(),
            file_size: self.file_size,
            checksum: self.checksum,
        }
    }
}

/// Both clocks run from the moment the update command is sent (PUBACK), not from create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    /// No `update_firmware_ack` within this span: timed_out.
    #[serde(rename = "ack_timeout_ms", with = "duration_ms")]
    pub ack: Duration,
    /// No `update_firmware_completed` or `_failed` within this span: timed_out.
    #[serde(rename = "completion_timeout_ms", with = "duration_ms")]
    pub completion: Duration,
}

impl Timeouts {
    /// Zero would time every target out at the instant it is sent: refused as a mistake.
    pub(crate) fn check(&self) -> Result<(), EngineError> {
        if self.ack.as_millis() == 0 {
            return Err(EngineError::ZeroTimeout("ack"));
        }
        if self.completion.as_millis() == 0 {
            return Err(EngineError::ZeroTimeout("completion"));
        }
        Ok(())
    }
}

/// Everything [`super::Engine::create`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSpec {
    pub deployment_id: Id,
    pub firmware: Firmware,
    /// In the order the user gave; queries and commands keep this order.
    pub targets: Vec<TargetKey>,
    pub timeouts: Timeouts,
    /// Waves, caps and pauses; the default sends everything at once.
    pub policy: RolloutPolicy,
}

/// Refuses an empty target list and the first repeated target.
impl DeploymentSpec {
    /// The checks [`super::Engine::create`] makes, for callers that want to refuse bad input
    /// before they connect anywhere.
    pub fn check(&self) -> Result<(), EngineError> {
        self.timeouts.check()?;
        self.policy.check()?;
        check_targets(self.targets.iter().map(|k| (&k.store_id, &k.controller_id)))
    }
}

pub(crate) fn check_targets<'a>(
    targets: impl IntoIterator<Item = (&'a Id, &'a Id)>,
) -> Result<(), EngineError> {
    let mut seen: HashSet<(&Id, &Id)> = HashSet::new();
    let mut count = 0usize;
    for (index, (store_id, controller_id)) in targets.into_iter().enumerate() {
        count += 1;
        if !seen.insert((store_id, controller_id)) {
            return Err(EngineError::DuplicateTarget {
                store_id: store_id.clone(),
                controller_id: controller_id.clone(),
                index,
            });
        }
    }
    if count == 0 {
        return Err(EngineError::NoTargets);
    }
    Ok(())
}

/// Serde for [`Md5Hex`] as its 32 lowercase hex digits (the protocol type has no serde).
mod md5_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::protocol::Md5Hex;

    pub fn serialize<S: Serializer>(sum: &Md5Hex, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(sum.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Md5Hex, D::Error> {
        let text = String::deserialize(d)?;
        Md5Hex::parse(&text).map_err(D::Error::custom)
    }
}
