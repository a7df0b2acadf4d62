//! The built-in firmware server the app runs for its whole life: controllers download the
//! files of deployments (and their retries) from it. Bind address from `STOREFLEET_SERVE`
//! (`127.0.0.1:0` in demo tests), advertised host from `STOREFLEET_ADVERTISE`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use storefleet::firmware::{
    DEFAULT_BIND, Deployable, DownloadSink, FirmwareServer, Library, ServerConfig,
};
use storefleet::history::{Artifact, DownloadWriter};

use crate::connection::{Histories, HistoryKind};
use crate::error::BoundaryError;

/// Bind address and advertised host from `STOREFLEET_SERVE` and `STOREFLEET_ADVERTISE`.
pub fn settings_from_env() -> (Option<SocketAddr>, Option<String>) {
    let bind = std::env::var("STOREFLEET_SERVE").ok().and_then(|text| {
        text.parse()
            .map_err(|e| tracing::warn!(error = %e, "STOREFLEET_SERVE is not ADDR:PORT; using the default"))
            .ok()
    });
    (bind, std::env::var("STOREFLEET_ADVERTISE").ok())
}

/// The app's firmware servers: one for the real library, on the store network, and one for
/// the demo's own library, on loopback only (the demo fleet runs on this machine). Every call
/// goes to the server of the history in use.
pub struct Serving {
    real: LibraryServer,
    demo: Option<LibraryServer>,
    kind: tokio::sync::watch::Receiver<HistoryKind>,
}

impl Serving {
    /// One server for one library.
    #[cfg(test)]
    pub async fn start(
        history: &Path,
        configured: Option<SocketAddr>,
        advertise: Option<String>,
    ) -> Self {
        let (_, kind) = tokio::sync::watch::channel(HistoryKind::Real);
        Self {
            real: LibraryServer::start(history, configured, advertise).await,
            demo: None,
            kind,
        }
    }

    /// The real library's server (`configured`, `advertise`) and the demo's on loopback.
    pub async fn start_both(
        histories: &Histories,
        configured: Option<SocketAddr>,
        advertise: Option<String>,
        kind: tokio::sync::watch::Receiver<HistoryKind>,
    ) -> Self {
        let real = LibraryServer::start(&histories.real, configured, advertise).await;
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let demo = LibraryServer::start(&histories.demo, Some(loopback), None).await;
        Self {
            real,
            demo: Some(demo),
            kind,
        }
    }

    fn current(&self) -> &LibraryServer {
        match (*self.kind.borrow(), &self.demo) {
            (HistoryKind::Demo, Some(demo)) => demo,
            _ => &self.real,
        }
    }

    /// The URL controllers will use for this artifact (empty when the server is down).
    pub fn url_for(&self, artifact: &Artifact) -> String {
        self.current().url_for(artifact)
    }

    /// Serves the file from now on; returns its URL.
    pub fn publish(&self, deployable: &Deployable) -> Result<String, BoundaryError> {
        self.current().publish(deployable)
    }

    pub fn unpublish(&self, artifact_id: i64) {
        self.current().unpublish(artifact_id);
    }
}

/// One library's running server, or why it is not running.
struct LibraryServer {
    server: Result<FirmwareServer, String>,
    _downloads: Option<Arc<DownloadWriter>>,
}

impl LibraryServer {
    /// Starts serving and publishes every artifact whose file is unchanged, so that the URLs
    /// of earlier deployments answer again (same port, same token) for retries.
    /// `bind`: `None` for the default address (or any free port if it is taken).
    async fn start(
        history: &Path,
        configured: Option<SocketAddr>,
        advertise: Option<String>,
    ) -> Self {
        let bind = configured.unwrap_or(DEFAULT_BIND);
        let downloads = match DownloadWriter::start(history) {
            Ok(w) => Arc::new(w),
            Err(e) => {
                return Self {
                    server: Err(format!("cannot record downloads: {e}")),
                    _downloads: None,
                };
            }
        };
        let sink: Arc<dyn DownloadSink> = downloads.clone();
        let mut server = FirmwareServer::start(
            ServerConfig {
                bind,
                advertise: advertise.clone(),
            },
            Arc::clone(&sink),
        )
        .await;
        if server.is_err() && configured.is_none() {
            // The default port is taken (a CLI deploy serving, say): any free port will do.
            let any = SocketAddr::new(bind.ip(), 0);
            tracing::warn!(%bind, "firmware server port taken; using a free one");
            server = FirmwareServer::start(
                ServerConfig {
                    bind: any,
                    advertise,
                },
                sink,
            )
            .await;
        }
        let server = server.map_err(|e| e.to_string());
        match &server {
            Ok(s) => {
                tracing::info!(url = s.base_url(), "firmware server running");
                if let Ok(library) = Library::open(history)
                    && let Ok(all) = library.list()
                {
                    for a in all {
                        if let Ok(d) = library.ensure_deployable(a.artifact.id) {
                            s.publish(&d);
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "the built-in firmware server is not running"),
        }
        Self {
            server,
            _downloads: Some(downloads),
        }
    }

    fn server(&self) -> Result<&FirmwareServer, BoundaryError> {
        self.server.as_ref().map_err(|e| {
            BoundaryError::unavailable(format!("the built-in firmware server is not running: {e}"))
        })
    }

    fn url_for(&self, artifact: &Artifact) -> String {
        self.server
            .as_ref()
            .map(|s| s.url_for(artifact))
            .unwrap_or_default()
    }

    fn publish(&self, deployable: &Deployable) -> Result<String, BoundaryError> {
        Ok(self.server()?.publish(deployable))
    }

    fn unpublish(&self, artifact_id: i64) {
        if let Ok(s) = &self.server {
            s.unpublish(artifact_id);
        }
    }
}
