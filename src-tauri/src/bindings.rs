//! TypeScript bindings for every type that crosses IPC, checked in under `ui/src/bindings/`.
//!
//! The test below fails when a checked-in file differs from what the Rust types generate, so
//! CI catches stale bindings. `UPDATE_BINDINGS=1 cargo test --workspace bindings` rewrites them.

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use ts_rs::{Config, TS};

    use storefleet::engine::{
        Advance, DeploymentState, DeploymentSummary, FailureThreshold, Millis, RolloutPolicy,
        StatusCounts, TargetRow, TargetStatus, Transition, WaveProgress,
    };
    use storefleet::engine::{InWindows, Schedule, StoreWindow, Unwindowed};
    use storefleet::fleet::{Controller, ControllerSource, ImportReport, StoreSettings};
    use storefleet::history::{
        Artifact, DeploymentFilter, DeploymentPage, DeploymentPageRequest, DeploymentRow,
        MessageFilter, MessagePage, MessagePageRequest, MessageRow, Origin, PrunePlan, PruneReport,
    };
    use storefleet::maintenance::StoreStart;
    use storefleet::report::ExportFormat;
    use storefleet::service::store_plan::StorePlan;
    use storefleet::service::store_waits::StoreWait;

    use crate::commands::dialogs::DialogFilter;
    use crate::connection::{ConnectionState, ConnectionStatus, HistoryKind};
    use crate::deployments::{
        DeploymentDetail, DeploymentReview, NewDeployment, ScheduleChoice, ServingChoice, TargetRef,
    };
    use crate::feeds::{ActivityFeed, DeploymentFeed, FirmwareFeed};
    use crate::firmware::{ArtifactView, HashProgress, PreflightReport};
    use crate::notify::{Notice, NoticeLevel};
    use crate::picked::PickedFile;
    use crate::serving::ServerStatus;
    use crate::{AppInfo, BoundaryError, DemoInfo, ErrorCode};
    use storefleet::firmware::{ServerReach, ServerSettings};
    use storefleet::profiles::{BrokerProfile, ProfileInput};

    fn bindings_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings")
    }

    /// (file name, generated text) for every exported type.
    fn generated() -> Vec<(String, String)> {
        // u64/i64 travel as JSON numbers (serde_json), not as bigint.
        let cfg = Config::new().with_large_int("number");
        let mut out = Vec::new();
        macro_rules! export {
            ($($t:ty),* $(,)?) => {$(
                out.push((
                    format!("{}.ts", <$t as TS>::ident(&cfg)),
                    <$t as TS>::export_to_string(&cfg).expect("ts-rs export"),
                ));
            )*};
        }
        export!(
            AppInfo,
            BoundaryError,
            DemoInfo,
            ErrorCode,
            // The core's types the window shows.
            TargetStatus,
            StatusCounts,
            Transition,
            DeploymentSummary,
            TargetRow,
            DeploymentRow,
            MessageRow,
            Origin,
            DeploymentFilter,
            DeploymentPageRequest,
            DeploymentPage,
            MessageFilter,
            MessagePageRequest,
            MessagePage,
            Artifact,
            Millis,
            Advance,
            FailureThreshold,
            RolloutPolicy,
            DeploymentState,
            WaveProgress,
            Controller,
            ControllerSource,
            ImportReport,
            Schedule,
            InWindows,
            StoreWindow,
            Unwindowed,
            StoreSettings,
            StorePlan,
            StoreStart,
            StoreWait,
            ExportFormat,
            // Desktop-only types (docs/ipc.md).
            BrokerProfile,
            ProfileInput,
            ConnectionState,
            HistoryKind,
            ConnectionStatus,
            DialogFilter,
            PickedFile,
            ArtifactView,
            HashProgress,
            PreflightReport,
            ServingChoice,
            TargetRef,
            NewDeployment,
            ScheduleChoice,
            DeploymentReview,
            DeploymentDetail,
            DeploymentFeed,
            ActivityFeed,
            FirmwareFeed,
            PrunePlan,
            PruneReport,
            ServerStatus,
            ServerSettings,
            ServerReach,
            Notice,
            NoticeLevel,
        );
        out
    }

    #[test]
    fn bindings_are_fresh() {
        let dir = bindings_dir();
        let update = std::env::var_os("UPDATE_BINDINGS").is_some();
        let mut stale = Vec::new();
        for (name, text) in generated() {
            let path = dir.join(&name);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
        assert!(
            stale.is_empty(),
            "stale TypeScript bindings {stale:?}: run `UPDATE_BINDINGS=1 cargo test --workspace bindings`"
        );
    }
}
