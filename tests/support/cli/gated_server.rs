//! Test support: a gated HTTP server.

use super::*;

#[derive(Default)]
struct Gate {
    bytes: Vec<u8>,
    /// Simulated downloads served at once; later ones wait for the gate.
    free: usize,
    sim_requests: AtomicUsize,
    other_requests: AtomicUsize,
}

/// Serves one firmware file at `http://127.0.0.1:PORT/fw/NAME`. Requests from the preflight
/// (any user agent but the simulator's) are answered at once; of the simulated controllers'
/// downloads the first `free` are answered at once and the rest wait until [`Self::open`]
/// (or 60 s), so those controllers stay in their cancellable download phase.
pub struct GatedServer {
    pub url: String,
    state: Arc<Gate>,
    open: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GatedServer {
    pub async fn start(name: &str, bytes: Vec<u8>, free: usize) -> Self {
        let state = Arc::new(Gate {
            bytes,
            free,
            ..Gate::default()
        });
        let (open, open_rx) = watch::channel(false);
        let app = axum::Router::new()
            .route(&format!("/fw/{name}"), axum::routing::get(gated))
            .with_state((state.clone(), open_rx));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/fw/{name}"),
            state,
            open,
            task,
        }
    }

    pub fn open(&self) {
        let _ = self.open.send(true);
    }

    pub fn sim_requests(&self) -> usize {
        self.state.sim_requests.load(Ordering::SeqCst)
    }

    pub fn other_requests(&self) -> usize {
        self.state.other_requests.load(Ordering::SeqCst)
    }
}

impl Drop for GatedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn gated(
    axum::extract::State((gate, mut open)): axum::extract::State<(
        Arc<Gate>,
        watch::Receiver<bool>,
    )>,
    headers: axum::http::HeaderMap,
) -> (axum::http::StatusCode, Vec<u8>) {
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if agent.starts_with("storefleet-sim") {
        let n = gate.sim_requests.fetch_add(1, Ordering::SeqCst);
        if n >= gate.free {
            let _ = tokio::time::timeout(Duration::from_secs(60), open.wait_for(|o| *o)).await;
        }
    } else {
        gate.other_requests.fetch_add(1, Ordering::SeqCst);
    }
    (axum::http::StatusCode::OK, gate.bytes.clone())
}
