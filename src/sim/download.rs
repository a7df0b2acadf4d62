//! Firmware downloads: each controller really fetches `file_url` and checks its size and
//! MD5 while streaming, as a real controller would. A fleet-wide semaphore bounds how many
//! run at once, so 10,000 controllers neither open 10,000 sockets nor hold 10,000 files.

use std::sync::Arc;
use std::time::Duration;

use md5::{Digest, Md5};
use rustls_platform_verifier::BuilderVerifierExt;
use tokio::sync::Semaphore;

use crate::protocol::Md5Hex;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a download did not yield the announced firmware; the Display is the failure reason a
/// controller reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    #[error("download failed: {url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("download failed: {reason}")]
    Transport { reason: String },
    #[error("firmware size mismatch: expected {expected} bytes, downloaded {got}")]
    SizeMismatch { expected: u64, got: String },
    #[error("firmware checksum mismatch: expected MD5 {expected}, downloaded file has {got}")]
    ChecksumMismatch { expected: String, got: String },
}

/// The fleet's HTTP client and download slots.
#[derive(Clone)]
pub struct Downloader {
    client: reqwest::Client,
    slots: Arc<Semaphore>,
}

impl Downloader {
    /// `concurrency` downloads at most at once (at least 1).
    pub fn new(concurrency: usize) -> Result<Self, String> {
        // rustls over `ring` with the OS trust store, as the rest of Storefleet (no aws-lc-rs).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_platform_verifier()
            .map_err(|e| e.to_string())?
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("storefleet-sim/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
        })
    }

    /// Downloads `url` once and checks it against `size` and `checksum`; returns the bytes
    /// read. Waits for a free slot first.
    pub async fn fetch_and_verify(
        &self,
        url: &str,
        size: u64,
        checksum: &Md5Hex,
    ) -> Result<u64, DownloadError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| DownloadError::Transport {
                reason: "downloader closed".to_owned(),
            })?;
        let transport = |e: reqwest::Error| DownloadError::Transport {
            reason: crate::firmware::preflight::describe(&e),
        };
        let mut response = self.client.get(url).send().await.map_err(transport)?;
        if !response.status().is_success() {
            return Err(DownloadError::Status {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let mut hasher = Md5::new();
        let mut read: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            read += chunk.len() as u64;
            if read > size {
                // Stop early: a controller's flash partition is not endless either.
                return Err(DownloadError::SizeMismatch {
                    expected: size,
                    got: format!("more than {size}"),
                });
            }
            hasher.update(&chunk);
        }
        if read != size {
            return Err(DownloadError::SizeMismatch {
                expected: size,
                got: read.to_string(),
            });
        }
        let got = Md5Hex::from_digest(hasher.finalize().into());
        if &got != checksum {
            return Err(DownloadError::ChecksumMismatch {
                expected: checksum.as_str().to_owned(),
                got: got.as_str().to_owned(),
            });
        }
        Ok(read)
    }
}
