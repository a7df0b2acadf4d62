//! The built-in firmware server: registered artifacts over HTTP, each at a secret path.
//!
//! Only `/fw/{token}/{file_name}` of a published artifact is served; everything else is 404
//! and no part of a request path ever reaches the file system (each artifact's file path is
//! fixed at publication). tower-http's `ServeFile` does the HTTP work: `Content-Length`,
//! `HEAD`, `Range` (206, 416). Every GET response body is recorded as a download once it
//! ends or is dropped, with the bytes actually handed to the connection.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Instant, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::address::{default_advertise_host, url_host};
use super::connections::{ServerLimits, serve};
use super::library::Deployable;
use super::metered::{Meter, MeteredBody};
use crate::history::{Artifact, DownloadRecord, DownloadWriter};

/// Where the server listens unless told otherwise: every interface, a fixed port so that
/// URLs stay valid across restarts.
pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7380);

/// Escaped in a URL path segment: everything but RFC 3986's unreserved characters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Read size for serving files: large enough for loopback and LAN speeds.
const SERVE_CHUNK: usize = 256 * 1024;

/// Receives a record of each download; called from the server's tasks.
pub trait DownloadSink: Send + Sync + 'static {
    fn record(&self, record: DownloadRecord);
}

impl DownloadSink for DownloadWriter {
    fn record(&self, record: DownloadRecord) {
        DownloadWriter::record(self, record);
    }
}

impl<F: Fn(DownloadRecord) + Send + Sync + 'static> DownloadSink for F {
    fn record(&self, record: DownloadRecord) {
        self(record)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address and port to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// Host name or IP put in URLs; by default the bind address if it is a specific one,
    /// else the machine's first non-loopback IPv4 address.
    pub advertise: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND,
            advertise: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "invalid advertised host {0:?}: give a host name or IP address the controllers can reach"
    )]
    InvalidAdvertise(String),
}

/// What the server knows about a published artifact.
#[derive(Debug)]
struct Published {
    artifact_id: i64,
    path: PathBuf,
    file_name: String,
    size: u64,
    mtime_ns: Option<i64>,
}

struct ServerState {
    by_token: RwLock<HashMap<String, Arc<Published>>>,
    sink: Arc<dyn DownloadSink>,
}

/// A running firmware server. Dropping it stops accepting connections; downloads in
/// progress are allowed to finish.
pub struct FirmwareServer {
    local_addr: SocketAddr,
    base_url: String,
    state: Arc<ServerState>,
    shutdown: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl FirmwareServer {
    /// Binds and starts serving (nothing is published yet), within the default limits.
    /// Needs a Tokio runtime.
    pub async fn start(
        config: ServerConfig,
        sink: Arc<dyn DownloadSink>,
    ) -> Result<Self, ServerError> {
        Self::start_with_limits(config, sink, ServerLimits::default()).await
    }

    /// [`FirmwareServer::start`] with other timeouts and connection caps.
    pub async fn start_with_limits(
        config: ServerConfig,
        sink: Arc<dyn DownloadSink>,
        limits: ServerLimits,
    ) -> Result<Self, ServerError> {
        let host = match &config.advertise {
            Some(h) => url_host(h)?,
            None => url_host(&default_advertise_host(config.bind.ip()))?,
        };
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.bind,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let state = Arc::new(ServerState {
            by_token: RwLock::new(HashMap::new()),
            sink,
        });
        let app = Router::new()
            .route("/fw/{token}/{file_name}", get(serve_artifact))
            .with_state(Arc::clone(&state));
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(serve(listener, app, limits, stop));
        Ok(Self {
            local_addr,
            base_url: format!("http://{host}:{}", local_addr.port()),
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://{advertised host}:{port}`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL an artifact is (or would be) served at.
    pub fn url_for(&self, artifact: &Artifact) -> String {
        let file_name = artifact.file_name();
        let name = percent_encoding::utf8_percent_encode(&file_name, PATH_SEGMENT);
        format!("{}/fw/{}/{}", self.base_url, artifact.token, name)
    }

    /// Starts serving an artifact whose file was checked; returns its URL.
    pub fn publish(&self, deployable: &Deployable) -> String {
        let a = deployable.artifact();
        let entry = Arc::new(Published {
            artifact_id: a.id,
            path: a.path.clone(),
            file_name: a.file_name(),
            size: a.size,
            mtime_ns: a.file_mtime_ns,
        });
        let mut map = self.write_map();
        map.retain(|_, p| p.artifact_id != a.id);
        map.insert(a.token.clone(), entry);
        drop(map);
        self.url_for(a)
    }

    /// Stops serving an artifact; true if it was published.
    pub fn unpublish(&self, artifact_id: i64) -> bool {
        let mut map = self.write_map();
        let before = map.len();
        map.retain(|_, p| p.artifact_id != artifact_id);
        map.len() != before
    }

    /// Ids of the published artifacts.
    pub fn published(&self) -> Vec<i64> {
        let map = self
            .state
            .by_token
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<i64> = map.values().map(|p| p.artifact_id).collect();
        ids.sort_unstable();
        ids
    }

    /// Stops accepting connections and waits until the downloads in progress end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Published>>> {
        self.state
            .by_token
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FirmwareServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// Whether the file on disk still has the size and time it had when it was hashed.
async fn unchanged(entry: &Published) -> bool {
    let Ok(meta) = tokio::fs::metadata(&entry.path).await else {
        return false;
    };
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok());
    meta.is_file() && meta.len() == entry.size && mtime == entry.mtime_ns
}

async fn serve_artifact(
    State(state): State<Arc<ServerState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    params: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Response {
    // Undecodable paths are just more paths that name nothing.
    let Ok(Path((token, file_name))) = params else {
        return not_found();
    };
    let entry = {
        let map = state.by_token.read().unwrap_or_else(|p| p.into_inner());
        map.get(&token).cloned()
    };
    let Some(entry) = entry.filter(|e| e.file_name == file_name) else {
        return not_found();
    };
    if !unchanged(&entry).await {
        // Serving it would hand out bytes that do not match the advertised checksum.
        tracing::warn!(artifact = entry.artifact_id, path = %entry.path.display(),
            "firmware file changed since it was hashed; not serving it");
        return not_found();
    }
    let is_get = req.method() == Method::GET;
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let started = Instant::now();
    let started_at = crate::history::now_timestamp();
    let response = match ServeFile::new(&entry.path)
        .with_buf_chunk_size(SERVE_CHUNK)
        .oneshot(req)
        .await
    {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let recorded = is_get && matches!(parts.status, StatusCode::OK | StatusCode::PARTIAL_CONTENT);
    if !recorded {
        return Response::from_parts(parts, Body::new(body));
    }
    let expected = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let sink = Arc::clone(&state.sink);
    let status = parts.status.as_u16();
    let artifact_id = entry.artifact_id;
    let meter = Meter::new(expected, move |bytes_sent, completed| {
        sink.record(DownloadRecord {
            artifact_id,
            client_addr: peer.to_string(),
            started_at,
            duration_ms: started.elapsed().as_millis() as u64,
            bytes_sent,
            status,
            range,
            completed,
        });
    });
    Response::from_parts(parts, Body::new(MeteredBody::new(Body::new(body), meter)))
}
