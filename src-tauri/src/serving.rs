//! The built-in firmware server the app runs for its whole life: controllers download the
//! files of deployments (and their retries) from it. Its settings (on or off, bind address,
//! port, advertised host) are the operator's, saved in the config folder
//! (`storefleet::firmware::ServerSettings`); `STOREFLEET_SERVE` and `STOREFLEET_ADVERTISE`
//! win over them for one run. The demo's own server always listens on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use storefleet::engine::DeploymentState;
use storefleet::firmware::server_settings::reach;
use storefleet::firmware::{
    Deployable, DownloadSink, FirmwareServer, Library, ServerConfig, ServerReach, ServerSettings,
};
use storefleet::history::{Artifact, DownloadWriter, History};
use ts_rs::TS;

use crate::connection::{Histories, HistoryKind};
use crate::error::{BoundaryError, ErrorCode};

/// How long a reconfiguration waits for downloads in progress on the old server.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What the Firmware view shows of the real library's server.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ServerStatus {
    /// The operator's saved settings.
    pub settings: ServerSettings,
    /// This run's settings differ: `STOREFLEET_SERVE` / `STOREFLEET_ADVERTISE` are set.
    pub from_environment: bool,
    pub running: bool,
    /// `http://HOST:PORT`, what firmware URLs start with; `None` when not running.
    pub base_url: Option<String>,
    /// The address actually listened on (`0.0.0.0:7380`).
    pub listening: Option<String>,
    pub reach: ServerReach,
    /// Why it is not running, when it should be.
    pub error: Option<String>,
}

/// The app's firmware servers: one for the real library, on the store network, and one for
/// the demo's own library, on loopback only (the demo fleet runs on this machine). Every call
/// goes to the server of the history in use.
pub struct Serving {
    /// Swapped whole when the operator changes the settings; held only for a lookup.
    real: Mutex<Arc<LibraryServer>>,
    demo: Option<LibraryServer>,
    kind: tokio::sync::watch::Receiver<HistoryKind>,
    real_history: PathBuf,
    /// Where settings are saved; `None` in tests.
    config_dir: Option<PathBuf>,
    from_environment: bool,
    /// One reconfiguration at a time.
    changing: tokio::sync::Mutex<()>,
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
        let mut settings = ServerSettings::default();
        if let Some(addr) = configured {
            settings.bind_address = addr.ip().to_string();
            settings.port = addr.port();
        }
        settings.advertise = advertise;
        Self {
            real: Mutex::new(Arc::new(
                LibraryServer::start(history, &settings, configured.is_some()).await,
            )),
            demo: None,
            kind,
            real_history: history.to_path_buf(),
            config_dir: None,
            from_environment: false,
            changing: tokio::sync::Mutex::new(()),
        }
    }

    /// The real library's server, with the settings saved in `config_dir` (or the
    /// environment's), and the demo's on loopback.
    pub async fn start_both(
        histories: &Histories,
        config_dir: &Path,
        kind: tokio::sync::watch::Receiver<HistoryKind>,
    ) -> Self {
        let saved = ServerSettings::load(config_dir).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "firmware server settings unreadable; using the defaults");
            ServerSettings::default()
        });
        let env = ServerSettings::from_env(&saved);
        let from_environment = env.is_some();
        let effective = env.unwrap_or(saved);
        // A port set by the operator or the environment is kept to; the default one may move.
        let exact = from_environment || effective != ServerSettings::default();
        let real = LibraryServer::start(&histories.real, &effective, exact).await;
        let loopback = ServerSettings {
            bind_address: "127.0.0.1".into(),
            port: 0,
            ..ServerSettings::default()
        };
        let demo = LibraryServer::start(&histories.demo, &loopback, true).await;
        Self {
            real: Mutex::new(Arc::new(real)),
            demo: Some(demo),
            kind,
            real_history: histories.real.clone(),
            config_dir: Some(config_dir.to_path_buf()),
            from_environment,
            changing: tokio::sync::Mutex::new(()),
        }
    }

    fn real(&self) -> Arc<LibraryServer> {
        Arc::clone(&self.real.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn with_current<T>(&self, f: impl FnOnce(&LibraryServer) -> T) -> T {
        match (*self.kind.borrow(), &self.demo) {
            (HistoryKind::Demo, Some(demo)) => f(demo),
            _ => f(&self.real()),
        }
    }

    /// The URL controllers will use for this artifact (empty when the server is down).
    pub fn url_for(&self, artifact: &Artifact) -> String {
        self.with_current(|s| s.url_for(artifact))
    }

    /// The URL controllers will use for this artifact; refused when the server is not running
    /// (off, or its port could not be had), so no deployment is made with no URL.
    pub fn served_url(&self, artifact: &Artifact) -> Result<String, BoundaryError> {
        self.with_current(|s| Ok(s.server()?.url_for(artifact)))
    }

    /// Serves the file from now on; returns its URL.
    pub fn publish(&self, deployable: &Deployable) -> Result<String, BoundaryError> {
        self.with_current(|s| s.publish(deployable))
    }

    pub fn unpublish(&self, artifact_id: i64) {
        self.with_current(|s| s.unpublish(artifact_id));
    }

    /// The real library's server as it runs now.
    pub fn status(&self) -> ServerStatus {
        self.real().status(self.from_environment)
    }

    /// Saves new settings and restarts the real library's server with them. Refused while an
    /// unfinished deployment downloads from the running server and the change would move it
    /// (its controllers would find nothing at the old address); if the new server cannot
    /// start, the old settings are started again and nothing is saved.
    pub async fn configure(&self, wanted: ServerSettings) -> Result<ServerStatus, BoundaryError> {
        let _one = self.changing.lock().await;
        let wanted = wanted
            .normalized()
            .map_err(|e| BoundaryError::invalid(e.to_string()))?;
        let old = self.real();
        if old.settings == wanted {
            self.save(&wanted)?;
            return Ok(old.status(false));
        }
        if let Some(base) = old.base_url() {
            let history = self.real_history.clone();
            let users = tokio::task::spawn_blocking(move || downloading_from(&history, &base))
                .await
                .map_err(|e| BoundaryError::internal(e.to_string()))??;
            if let Some(first) = users.first() {
                return Err(BoundaryError::new(
                    ErrorCode::Conflict,
                    format!(
                        "{} unfinished deployment(s) download from this server (first: {first}); finish or cancel them before moving or stopping it",
                        users.len()
                    ),
                ));
            }
        }
        let previous = old.settings.clone();
        drop(old);
        self.stop_real().await;
        let started = LibraryServer::start(&self.real_history, &wanted, true).await;
        if let Some(e) = started.failure() {
            let error = BoundaryError::invalid(format!("the firmware server cannot start: {e}"));
            let back = LibraryServer::start(&self.real_history, &previous, true).await;
            self.swap(back);
            return Err(error);
        }
        self.save(&wanted)?;
        self.swap(started);
        tracing::info!(?wanted, "firmware server settings changed");
        Ok(self.real().status(false))
    }

    fn save(&self, settings: &ServerSettings) -> Result<(), BoundaryError> {
        if let Some(dir) = &self.config_dir {
            settings
                .save(dir)
                .map_err(|e| BoundaryError::internal(e.to_string()))?;
        }
        Ok(())
    }

    fn swap(&self, server: LibraryServer) {
        *self.real.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(server);
    }

    /// Stops the real server so its port is free again.
    async fn stop_real(&self) {
        let stopped = Arc::new(LibraryServer::off(ServerSettings::default()));
        let old = std::mem::replace(
            &mut *self.real.lock().unwrap_or_else(|p| p.into_inner()),
            stopped,
        );
        if let Ok(server) = Arc::try_unwrap(old)
            && let Some(running) = server.into_running()
        {
            let _ = tokio::time::timeout(STOP_WAIT, running.shutdown()).await;
        }
    }
}

/// Unfinished deployments made here whose firmware URL starts with `base`.
fn downloading_from(history: &Path, base: &str) -> Result<Vec<String>, BoundaryError> {
    let prefix = format!("{base}/");
    Ok(History::open(history)?
        .deployments()?
        .into_iter()
        .filter(|d| {
            d.origin == "local"
                && matches!(d.state, DeploymentState::Running | DeploymentState::Paused)
                && d.file_url.starts_with(&prefix)
        })
        .map(|d| d.deployment_id)
        .collect())
}

/// One library's running server, or why it is not running.
struct LibraryServer {
    settings: ServerSettings,
    server: Result<FirmwareServer, String>,
    _downloads: Option<Arc<DownloadWriter>>,
}

/// Why a server that is off does not run.
const OFF: &str = "it is off (Firmware view, built-in server)";

impl LibraryServer {
    fn off(settings: ServerSettings) -> Self {
        Self {
            settings,
            server: Err(OFF.to_owned()),
            _downloads: None,
        }
    }

    /// Starts serving and publishes every artifact whose file is unchanged, so that the URLs
    /// of earlier deployments answer again (same port, same token) for retries. When `exact`
    /// is false and the port is taken (a CLI deploy serving, say), any free port will do.
    async fn start(history: &Path, settings: &ServerSettings, exact: bool) -> Self {
        let config = match settings.config() {
            Ok(Some(config)) => config,
            Ok(None) => return Self::off(settings.clone()),
            Err(e) => {
                return Self {
                    settings: settings.clone(),
                    server: Err(e.to_string()),
                    _downloads: None,
                };
            }
        };
        let downloads = match DownloadWriter::start(history) {
            Ok(w) => Arc::new(w),
            Err(e) => {
                return Self {
                    settings: settings.clone(),
                    server: Err(format!("cannot record downloads: {e}")),
                    _downloads: None,
                };
            }
        };
        let sink: Arc<dyn DownloadSink> = downloads.clone();
        let mut server = FirmwareServer::start(config.clone(), Arc::clone(&sink)).await;
        if server.is_err() && !exact {
            let any = SocketAddr::new(config.bind.ip(), 0);
            tracing::warn!(bind = %config.bind, "firmware server port taken; using a free one");
            server = FirmwareServer::start(
                ServerConfig {
                    bind: any,
                    advertise: config.advertise.clone(),
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
            settings: settings.clone(),
            server,
            _downloads: Some(downloads),
        }
    }

    /// Why it is not running although it should be.
    fn failure(&self) -> Option<&str> {
        match &self.server {
            Err(e) if self.settings.enabled => Some(e),
            _ => None,
        }
    }

    fn into_running(self) -> Option<FirmwareServer> {
        self.server.ok()
    }

    fn base_url(&self) -> Option<String> {
        self.server.as_ref().ok().map(|s| s.base_url().to_owned())
    }

    fn status(&self, from_environment: bool) -> ServerStatus {
        let running = self.server.as_ref().ok();
        let reach = match running {
            Some(s) => {
                let host = s
                    .base_url()
                    .trim_start_matches("http://")
                    .rsplit_once(':')
                    .map_or("", |(h, _)| h);
                reach(s.local_addr(), host)
            }
            _ => ServerReach::Off,
        };
        ServerStatus {
            settings: self.settings.clone(),
            from_environment,
            running: running.is_some(),
            base_url: running.map(|s| s.base_url().to_owned()),
            listening: running.map(|s| s.local_addr().to_string()),
            reach,
            error: match &self.server {
                Err(e) if self.settings.enabled => Some(e.clone()),
                _ => None,
            },
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
