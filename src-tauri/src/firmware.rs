//! The firmware library as the window shows it: each artifact with its file's state and the
//! URL the built-in server gives it.

use std::time::{Duration, Instant};

use serde::Serialize;
use storefleet::firmware::library::check_state;
use storefleet::firmware::{ArtifactState, HashProgress as CoreProgress};
use storefleet::history::Artifact;
use tauri::ipc::Channel;
use ts_rs::TS;

use crate::serving::Serving;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ArtifactView {
    #[serde(flatten)]
    #[ts(flatten)]
    pub artifact: Artifact,
    /// Changed since it was hashed, or missing: not deployable until hashed again.
    pub stale: bool,
    pub stale_reason: Option<String>,
    /// What controllers download with the built-in server.
    pub served_url: String,
}

impl ArtifactView {
    pub fn of(artifact: Artifact, serving: &Serving) -> Self {
        let stale_reason = match check_state(&artifact) {
            ArtifactState::Ready => None,
            ArtifactState::Stale => {
                Some("the file changed after it was hashed: rehash it".to_owned())
            }
            ArtifactState::Missing => Some("the file is missing".to_owned()),
        };
        Self {
            served_url: serving.url_for(&artifact),
            stale: stale_reason.is_some(),
            stale_reason,
            artifact,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct HashProgress {
    pub bytes_done: u64,
    pub bytes_total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PreflightReport {
    pub url: String,
    pub size: u64,
    pub md5: String,
    pub ok: bool,
    pub problem: Option<String>,
}

/// Forwards hashing progress at most every 100 ms (and always the last one).
pub fn progress_sender(channel: Channel<HashProgress>) -> impl FnMut(CoreProgress) {
    let mut last: Option<Instant> = None;
    move |p: CoreProgress| {
        let total = p.total.unwrap_or(p.done);
        let done = p.done >= total;
        if done || last.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
            last = Some(Instant::now());
            let _ = channel.send(HashProgress {
                bytes_done: p.done,
                bytes_total: total,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use storefleet::firmware::Library;

    use super::*;

    #[tokio::test]
    async fn changed_and_missing_files_are_flagged_and_ready_ones_get_a_url() {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history.sqlite");
        let file = dir.path().join("fw.bin");
        std::fs::write(&file, b"firmware bytes").unwrap();
        let artifact = Library::open(&history)
            .unwrap()
            .add(&file, "1.0.0", None, &mut |_| {})
            .unwrap();
        let serving = Serving::start(&history, Some("127.0.0.1:0".parse().unwrap()), None).await;

        let ready = ArtifactView::of(artifact.clone(), &serving);
        assert!(!ready.stale);
        assert_eq!(ready.stale_reason, None);
        assert!(
            ready.served_url.starts_with("http://127.0.0.1:"),
            "{}",
            ready.served_url
        );
        assert!(
            ready.served_url.ends_with("/fw.bin"),
            "{}",
            ready.served_url
        );
        let json = serde_json::to_value(&ready).unwrap();
        assert_eq!(json["md5"], artifact.md5, "Artifact fields are flattened");
        assert!(
            json.get("token").is_none(),
            "the server token never crosses IPC"
        );

        std::fs::write(&file, b"firmware bytes, changed").unwrap();
        let changed = ArtifactView::of(artifact.clone(), &serving);
        assert!(changed.stale);
        assert!(changed.stale_reason.unwrap().contains("rehash"));

        std::fs::remove_file(&file).unwrap();
        let missing = ArtifactView::of(artifact, &serving);
        assert!(missing.stale);
        assert_eq!(missing.stale_reason.as_deref(), Some("the file is missing"));
    }
}
